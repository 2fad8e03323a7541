"""The population an estimate refers to in time: spans, turnover, windows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure import ConfigError, DatasetWriter
from measure.capture import analyze
from measure.capture._windows import window_bounds

T0 = dt.datetime(2014, 9, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")
DAY = dt.timedelta(days=1)


def _open_world(path: Path, seed: int = 4) -> tuple[Path, int, int]:
    """Accounts living 30-90 days over a 120-day span; four lists collected in
    consecutive 40-day windows overlapping by half, each catching 35% of the
    accounts alive in its window. Returns the path, the accounts alive at some
    time in the windows and those alive on day 60."""
    rng = np.random.default_rng(seed)
    n = 3000
    born = rng.uniform(-60, 120, n)
    life = rng.uniform(30, 90, n)
    dies = born + life
    starts = [0, 20, 40, 60]
    rows = []
    for j, s in enumerate(starts):
        e = s + 40
        alive = (born < e) & (dies > s)
        for i in np.flatnonzero(alive & (rng.random(n) < 0.35)):
            t = rng.uniform(max(s, born[i]), min(e, dies[i]))
            rows.append((int(i), f"list{j}", T0 + t * DAY))
    ids = sorted({r[0] for r in rows})
    accounts = pl.DataFrame({
        "account_id": ids, "screen_name": [f"u{i}" for i in ids],
        "created_at": [T0 + born[i] * DAY for i in ids]},
        schema_overrides={"created_at": TS})
    obs = pl.DataFrame({
        "account_id": ids,
        "observed_at": [T0 + (dies[i] + 1) * DAY for i in ids],
        "status": ["suspended"] * len(ids)}, schema_overrides={"observed_at": TS})
    det = pl.DataFrame(rows, schema=["account_id", "source", "detected_at"],
                       orient="row").with_columns(pl.col("detected_at").cast(TS))
    with DatasetWriter(path) as w:
        w.write_table("accounts", accounts)
        w.write_table("observations", obs)
        w.write_table("detections", det)
    ever = int(np.sum((born < 100) & (dies > 0)))
    on_day_60 = int(np.sum((born < 60) & (dies > 60)))
    return path, ever, on_day_60


def test_open_lists_name_the_span_and_warn(tmp_path: Path) -> None:
    """Detections over 100 days: the result refers to the accounts alive at some
    time in the span, reports the turnover among detected accounts and warns
    that lists 0 and 2 (and 0 and 3, 1 and 3) never overlapped."""
    path, _ever, _day60 = _open_world(tmp_path / "w")
    res = analyze(measure.open(path), latent_class=False, graphical=False)
    pop = res.population
    assert "not on one date" in pop.refers_to
    assert 95 < pop.span_days <= 100
    assert pop.turnover_share > 0.5
    assert any("population is open" in w for w in res.warnings)
    apart = [w for w in res.warnings if "do not overlap" in w]
    assert len(apart) == 3 and any("'list0' and 'list2'" in w for w in apart)
    d = res.to_dict()["population"]
    assert d["span_days"] == pytest.approx(pop.span_days)
    assert set(d["sources"]) == {"list0", "list1", "list2", "list3"}


def test_a_window_restricts_the_lists_to_the_accounts_alive_then(
        tmp_path: Path) -> None:
    """A 10-day window on day 60 keeps only the lists collected then (list2,
    list3; list1 ends on day 60) and only their detections in the window."""
    path, _ever, _day60 = _open_world(tmp_path / "w")
    ds = measure.open(path)
    at = (T0 + 65 * DAY).isoformat()
    res = analyze(ds, at=at, window=10, latent_class=False, graphical=False)
    assert res.population.restricted
    assert res.sources == ("list2", "list3")
    assert any("left out" in w for w in res.warnings)
    n_in = ds.sql("SELECT count(DISTINCT account_id) AS n FROM detections "
                  "WHERE source IN ('list2', 'list3') AND detected_at BETWEEN $a "
                  "AND $b", {"a": T0 + 60 * DAY, "b": T0 + 70 * DAY})["n"][0]
    assert res.n_observed == n_in


def test_window_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="both"):
        window_bounds("2014-11-01", None)
    with pytest.raises(ConfigError, match="window"):
        window_bounds("2014-11-01", -3)
    with pytest.raises(ConfigError, match="ISO"):
        window_bounds("first of November", 7)
    lo, hi = window_bounds("2014-11-01", 4)
    assert lo.tzinfo is not None and (hi - lo) == 4 * DAY
