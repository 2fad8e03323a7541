"""Every family's result satisfies one contract (``measure._contract.Result``).

Each family runs once on a pinned copy of the ``small`` simulated world (seed 1)
whose ``observations.parquet`` differs from its manifest by one byte of the
writer's name in the Parquet footer (the same rows), opened with
``allow_modified=True``, with its fast options; the tests check the members and
their types, that the dataset's warning comes first in the result's
``warnings`` and ``to_dict()``, the ``headline`` object of ``to_dict()`` (the
``--json`` output), the fixed ``to_polars()`` columns, and ``conf_int(level)``,
recomputed from the result by the method that made the stored interval in every
family, with a clear error naming the family when a result does not keep what
that needs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pickle
import shutil
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from measure._contract import HEADLINE_KEYS, Result, dataset_id
from measure._results import RESULT_COLUMNS, Estimate
from measure.errors import EstimationError, ModifiedDatasetWarning

#: Fast options per family (bootstrap and sampler sizes cut, side models off).
FAST: dict[str, dict[str, Any]] = {
    "census": {"model": False},
    "capture": {"latent_class": False, "graphical": False},
    "churn": {"turnbull_fit": False, "age_period": None},
    "resurrection": {"n_boot": 20, "n_imputations": 4, "decoys": False},
    "describe": {"n_boot": 50},
}
FAMILIES = tuple(FAST)
#: Families whose headline interval is recomputed at another level.
RECOMPUTE = FAMILIES


@pytest.fixture(scope="module")
def modified_world(small_world: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Path:
    """The small world with one byte of a Parquet footer's writer name changed."""
    root = tmp_path_factory.mktemp("contract") / "world"
    shutil.copytree(small_world, root, copy_function=shutil.copy2)
    path = root / "observations.parquet"
    data = bytearray(path.read_bytes())
    i = data.rfind(b"Polars")
    assert i > 0, "the footer names its writer"
    data[i + 1] ^= 1  # 'o' -> 'n': another byte, the same readable rows
    path.write_bytes(bytes(data))
    return root


@pytest.fixture(scope="module")
def opened_warnings(modified_world: Path) -> list[str]:
    """``Dataset.warnings`` of the modified world opened with allow_modified."""
    import measure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModifiedDatasetWarning)
        with measure.open(modified_world, allow_modified=True) as ds:
            return list(ds.warnings)


@pytest.fixture(scope="module")
def results(modified_world: Path) -> dict[str, Any]:
    """Each family's ``analyze`` on the modified small world."""
    import measure

    out = {}
    for fam in FAMILIES:
        mod = importlib.import_module(f"measure.{fam}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModifiedDatasetWarning)
            with measure.open(modified_world, allow_modified=True) as ds:
                out[fam] = mod.analyze(ds, **FAST[fam])
    return out


def _is_str_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(s, str) for s in x)


@pytest.mark.parametrize("family", FAMILIES)
def test_result_has_every_member_of_the_contract_with_its_type(
        results: dict[str, Any], family: str) -> None:
    res = results[family]
    assert isinstance(res, Result)
    assert isinstance(res.estimate, Estimate)
    ests = res.estimates()
    assert isinstance(ests, list) and ests
    assert all(isinstance(e, Estimate) for e in ests)
    assert res.estimate.term in [e.term for e in ests]
    assert isinstance(res.method, str) and res.method
    assert res.method == res.estimate.method or family == "churn"
    assert _is_str_tuple(res.assumptions)
    assert _is_str_tuple(res.warnings)
    assert isinstance(res.dataset, str) and res.dataset
    assert isinstance(res.options, dict) and "level" in res.options
    assert res.options["level"] == res.estimate.level
    assert isinstance(res.timings, dict)
    assert all(isinstance(v, float) for v in res.timings.values())
    assert isinstance(res._repr_html_(), str)
    assert res._repr_html_().startswith("<pre>")


@pytest.mark.parametrize("family", FAMILIES)
def test_to_dict_has_a_headline_matching_the_estimate(
        results: dict[str, Any], family: str) -> None:
    res = results[family]
    d = res.to_dict()
    text = json.dumps(d, default=str)  # plain JSON apart from timestamps
    assert '"headline"' in text
    h = d["headline"]
    assert tuple(h) == HEADLINE_KEYS
    e = res.estimate
    assert h["estimate"] == pytest.approx(e.estimate, rel=1e-12)
    assert h["ci"] == [pytest.approx(c, rel=1e-12) for c in e.ci]
    assert h["level"] == e.level == 0.95
    assert isinstance(h["unit"], str) and h["unit"]
    assert isinstance(h["sentence"], str) and "95% CI" in h["sentence"]
    # the text output starts with the same sentence
    assert res.summary().splitlines()[0] == h["sentence"]
    assert d["options"] == res.options and d["timings"] == res.timings


@pytest.mark.parametrize("family", FAMILIES)
def test_to_polars_has_the_fixed_columns_one_row_per_estimate(
        results: dict[str, Any], family: str) -> None:
    res = results[family]
    tab = res.to_polars()
    assert tuple(tab.columns) == RESULT_COLUMNS
    if family != "describe":  # describe adds its hyperactive/comparison rows
        assert tab.height == len(res.estimates())
    assert res.estimate.term in tab["term"].to_list()


@pytest.mark.parametrize("family", FAMILIES)
def test_plot_draws_on_a_given_axes(results: dict[str, Any], family: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert results[family].plot(ax=ax) is ax


@pytest.mark.parametrize("family", FAMILIES)
def test_conf_int_without_level_is_the_stored_interval(
        results: dict[str, Any], family: str) -> None:
    res = results[family]
    assert res.conf_int() == res.estimate.ci
    assert res.conf_int(res.estimate.level) == res.estimate.ci


@pytest.mark.parametrize("family", RECOMPUTE)
def test_conf_int_recomputed_at_the_stored_level_reproduces_the_stored_interval(
        results: dict[str, Any], family: str) -> None:
    # the recomputation is the method that made the stored interval, not another
    res = results[family]
    lo, hi = res._recompute_ci(res.estimate.level)
    assert lo == pytest.approx(res.estimate.ci[0], rel=1e-9)
    assert hi == pytest.approx(res.estimate.ci[1], rel=1e-9)


@pytest.mark.parametrize("family", RECOMPUTE)
def test_conf_int_at_lower_level_is_nested_inside_the_higher_one(
        results: dict[str, Any], family: str) -> None:
    res = results[family]
    lo90, hi90 = res.conf_int(0.9)
    lo95, hi95 = res.conf_int(0.95)
    lo99, hi99 = res.conf_int(0.99)
    # a limit held at a natural bound (a census total of 0) stays there
    assert lo99 <= lo95 <= lo90 < hi90 <= hi95 <= hi99
    assert (lo99, hi99) != (lo90, hi90)
    assert lo90 <= res.estimate.estimate <= hi90


def _without_kept_data(res: Any) -> Any:
    """The result with what its headline interval is formed from dropped."""
    from measure.churn._result import ChurnResult
    from measure.describe._result import HEADLINE_TERM, DescribeResult

    if isinstance(res, ChurnResult):
        curve = dataclasses.replace(res.overall.curve, scale=None, pooled=None)
        return dataclasses.replace(
            res, overall=dataclasses.replace(res.overall, curve=curve))
    assert isinstance(res, DescribeResult)
    ests = tuple(dataclasses.replace(e, extra={}) if e.term == HEADLINE_TERM else e
                 for e in res.estimates())
    return dataclasses.replace(res, estimates=ests)


@pytest.mark.parametrize("family", ["churn", "describe"])
def test_conf_int_at_another_level_raises_naming_the_family_without_kept_data(
        results: dict[str, Any], family: str) -> None:
    res = _without_kept_data(results[family])
    assert res.conf_int() == results[family].conf_int()
    with pytest.raises(EstimationError, match=rf"^{family}: .*level=0\.9\)"):
        res.conf_int(0.9)


@pytest.mark.parametrize("family", FAMILIES)
def test_dataset_warnings_lead_the_result_warnings_and_its_json(
        results: dict[str, Any], opened_warnings: list[str], family: str) -> None:
    # a notebook user sees the modified-data warning on the result itself
    assert opened_warnings and opened_warnings[0].startswith("MODIFIED DATA")
    res = results[family]
    n = len(opened_warnings)
    assert list(res.warnings[:n]) == opened_warnings
    assert res.warnings.count(opened_warnings[0]) == 1
    assert res.to_dict()["warnings"][:n] == opened_warnings
    assert opened_warnings[0] in res.summary()
    # the id still reads, compares and pickles as the plain string
    assert res.dataset == str(res.dataset)
    back = pickle.loads(pickle.dumps(res.dataset))
    assert back == res.dataset and back.warnings == tuple(opened_warnings)
    # building the result again keeps one copy of each warning
    again = dataclasses.replace(res)
    assert again.warnings == res.warnings


def test_capture_single_model_intervals_recompute_at_another_level(
        small_world: Path) -> None:
    # a named model: profile likelihood refitted; log-normal (Chao 1987) from SE
    import measure
    from measure.capture import analyze

    with measure.open(small_world) as ds:
        prof = analyze(ds, model="Mth_darroch", **FAST["capture"])
        logn = analyze(ds, model="Mt", ci="lognormal", **FAST["capture"])
    for res in (prof, logn):
        assert res._recompute_ci(0.95) == pytest.approx(res.estimate.ci, rel=1e-9)
        lo, hi = res.conf_int(0.9)
        assert res.estimate.ci[0] < lo < res.estimate.estimate < hi < \
            res.estimate.ci[1]


def test_describe_old_spellings_still_work_and_warn(
        results: dict[str, Any]) -> None:
    res = results["describe"]
    with pytest.warns(DeprecationWarning, match="by_term"):
        old = res.estimate("followers_mean")
    assert old == res.by_term("followers_mean")
    with pytest.warns(PendingDeprecationWarning, match=r"estimates\(\)"):
        as_tuple = list(res.estimates)
    assert as_tuple == res.estimates()
    assert res.estimate == res.by_term("followers_median")


def test_by_term_names_the_terms_when_missing(results: dict[str, Any]) -> None:
    with pytest.raises(KeyError, match="median_days"):
        results["churn"].by_term("no_such_term")


def test_counts_in_json_are_integers(results: dict[str, Any]) -> None:
    def walk(o: Any) -> Any:
        if isinstance(o, dict):
            for k, v in o.items():
                if (k in ("n", "N") or k.startswith("n_")) and v is not None \
                        and not isinstance(v, dict | list):
                    yield k, v
                yield from walk(v)
        elif isinstance(o, list):
            for v in o:
                yield from walk(v)

    for fam, res in results.items():
        for key, value in walk(res.to_dict()):
            assert isinstance(value, int), (fam, key, value)


def test_dataset_id_is_name_and_digest_once_pinned(small_world: Path) -> None:
    import measure

    with measure.open(small_world) as ds:
        assert ds.digest
        assert dataset_id(ds) == f"{ds.name}@sha256:{ds.digest}"
    assert dataset_id(types.SimpleNamespace(name="panel", digest=None)) == "panel"


@pytest.mark.parametrize("argv", [["churn", "--no-turnbull", "--age-period", "none"],
                                  ["describe", "--n-boot", "50"]])
def test_cli_json_has_headline_and_text_starts_with_its_sentence(
        small_world: Path, capsys: pytest.CaptureFixture[str],
        argv: list[str]) -> None:
    from measure.cli import main

    assert main([*argv, str(small_world), "--json"]) == 0
    h = json.loads(capsys.readouterr().out)["headline"]
    assert tuple(h) == HEADLINE_KEYS
    assert math.isfinite(h["estimate"]) and h["ci"][0] < h["estimate"] < h["ci"][1]
    assert main([*argv, str(small_world)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == h["sentence"]
