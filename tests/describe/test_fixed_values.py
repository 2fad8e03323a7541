"""``analyze`` keeps its values on a generated dataset that exercises every branch.

The dataset (``_fixed_data.write_world``, seed 7, 1,500 accounts) has irregular
sub-second look-ups, ``unknown`` and ``not_found`` look-ups, suspensions and
reactivations, active look-ups without counts, falling status counts, look-ups of
accounts missing from ``accounts``, follower lists and, in one variant, a tweets
table. Three analyses (every account with activity from look-ups; a weighted cohort
against a control group with its own network; activity from tweets) are compared
with reference values recorded in ``data/fixed_values.json`` from this code on
this dataset. Floats agree to a relative 1e-9 (sums taken in a different order
differ in the last bits; any change of method moves values far more); everything
else (counts, terms, methods, table rows) must be equal.

To record the reference values again after a deliberate change of values::

    python tests/describe/test_fixed_values.py --record
"""

from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

import measure
from measure.describe import analyze

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fixed_data import write_world  # noqa: E402

REFERENCE = Path(__file__).resolve().parent / "data" / "fixed_values.json"
#: Relative tolerance of float values (summation order only).
REL_TOL = 1e-9
#: Absolute tolerance for floats that should be zero.
ABS_TOL = 1e-12
#: Estimate fields compared (the assumption texts are prose, not values).
EST_FIELDS = ("term", "estimate", "ci", "std_error", "level", "method", "n",
              "warnings", "reason")
N_BOOT = 200


def _cohorts() -> dict[str, Any]:
    import polars as pl

    ids = list(range(1, 1501))
    cohort = pl.DataFrame({"account_id": ids[:600],
                           "weight": [1.0 + (i % 4) for i in range(600)]})
    return {"cohort": cohort, "control": ids[600:1100], "network": ids[200:800]}


def _run(path: Path, case: str) -> dict[str, Any]:
    with measure.open(path) as ds:
        if case == "weighted_control":
            res = analyze(ds, n_boot=N_BOOT, seed=5, **_cohorts())
        else:
            res = analyze(ds, cohort="all", n_boot=N_BOOT, seed=3)
    return _plain(res)


def _plain(res: Any) -> dict[str, Any]:
    """The result's values as JSON-ready data (estimates without prose)."""
    d = res.to_dict()
    d.pop("dataset")
    d.pop("timings")
    d.pop("headline")

    def est(e: dict) -> dict:
        return {k: e[k] for k in EST_FIELDS}

    d["estimates"] = [est(e) for e in d["estimates"]]
    for key in ("hyperactive", "comparison", "before_suspension"):
        if d[key] is not None:
            d[key]["estimates"] = [est(e) for e in d[key]["estimates"]]
    return json.loads(json.dumps(d, default=_default))


def _default(x: Any) -> Any:
    if isinstance(x, datetime | date):
        return x.isoformat()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(type(x))


def _diff(a: Any, b: Any, where: str = "") -> list[str]:
    """Differences between ``a`` (now) and ``b`` (reference), as paths."""
    if isinstance(b, float) or isinstance(a, float):
        if a is None or b is None:
            return [] if a is b else [f"{where}: {a!r} != {b!r}"]
        fa, fb = float(a), float(b)
        if math.isnan(fb):
            return [] if math.isnan(fa) else [f"{where}: {fa!r} != nan"]
        if math.isclose(fa, fb, rel_tol=REL_TOL, abs_tol=ABS_TOL) or fa == fb:
            return []
        return [f"{where}: {fa!r} != {fb!r}"]
    if isinstance(b, dict):
        if not isinstance(a, dict) or set(a) != set(b):
            return [f"{where}: keys {sorted(a) if isinstance(a, dict) else a!r} != "
                    f"{sorted(b)}"]
        return [d for k in b for d in _diff(a[k], b[k], f"{where}.{k}")]
    if isinstance(b, list):
        if not isinstance(a, list) or len(a) != len(b):
            return [f"{where}: length {len(a) if isinstance(a, list) else a!r} != "
                    f"{len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _diff(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fixed")
    return {"lookups": write_world(root / "lookups"),
            "tweets": write_world(root / "tweets", tweets=True),
            "text_ids": write_world(root / "text", text_ids=True)}


CASES = {"all_lookups": ("lookups", "all"),
         "weighted_control": ("lookups", "weighted_control"),
         "all_tweets": ("tweets", "all")}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_analyze_values_match_the_recorded_reference(worlds, reference, case):
    world, kind = CASES[case]
    now = _run(worlds[world], kind)
    diffs = _diff(now, reference[case], case)
    assert not diffs, f"{len(diffs)} values differ, first: " + "; ".join(diffs[:8])


def test_text_ids_give_the_same_values_as_integer_ids(worlds):
    # zero-padded text ids sort like the integers, so every draw is the same
    a = _run(worlds["lookups"], "all")
    b = _run(worlds["text_ids"], "all")
    for d in (a, b):
        d["hyperactive"]["top_accounts"] = [
            {**r, "account_id": int(r["account_id"])}
            for r in d["hyperactive"]["top_accounts"]]
    diffs = _diff(b, a, "text")
    assert not diffs, "; ".join(diffs[:8])


def _record() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {"lookups": write_world(root / "lookups"),
                 "tweets": write_world(root / "tweets", tweets=True)}
        out = {case: _run(paths[world], kind)
               for case, (world, kind) in CASES.items()}
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(out, indent=None, separators=(",", ":"),
                                    sort_keys=True) + "\n")
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if "--record" in sys.argv:
        _record()
