"""``DescribeResult.conf_int(level)`` is the interval of a run at that level.

The headline (median followers) keeps what its interval is formed from: the
distinct follower counts with their numbers of accounts (order-statistic
interval, equal weights), the bootstrap replicates of the median (weighted
cohort, accounts resampled) or the distinct counts with their weight shares
(Woodruff's interval, weighted cohort too large to resample). The interval
formed again at another level must equal the one a run at that level gives,
for every kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import measure
from measure.describe import analyze
from measure.describe._stats import (
    CHUNK_CELLS,
    QUANTILES,
    QuantileInterval,
    cdf_quantile,
    numeric_summary,
    weighted_cdf,
    wquantile,
)

LEVELS = (0.5, 0.9, 0.99)


@pytest.mark.parametrize(("cohort", "kind"), [(None, "percentile_bootstrap"),
                                              ("all", "order_statistic")])
def test_conf_int_equals_a_run_at_that_level(small_world: Path, cohort: str | None,
                                             kind: str) -> None:
    # the small world's labelled cohort carries inclusion weights; "all" does not
    opts = {"n_boot": 50, "series": False}
    with measure.open(small_world) as ds:
        res = analyze(ds, cohort, **opts)
        again = {lev: analyze(ds, cohort, level=lev, **opts) for lev in LEVELS}
    kept = res.estimate.extra["interval"]
    assert isinstance(kept, QuantileInterval) and kept.kind == kind
    assert res.options["weighted"] is (kind == "percentile_bootstrap")
    for lev, other in again.items():
        assert other.estimate.estimate == res.estimate.estimate
        assert res.conf_int(lev) == other.estimate.ci
    lo50, hi50 = res.conf_int(0.5)
    lo99, hi99 = res.conf_int(0.99)
    assert lo99 <= res.estimate.ci[0] <= lo50 <= res.estimate.estimate <= hi50 \
        <= res.estimate.ci[1] <= hi99


def test_kept_data_is_compact_and_only_for_the_headline_variable(
        small_world: Path) -> None:
    with measure.open(small_world) as ds:
        res = analyze(ds, "all", n_boot=50, series=False)
    kept = res.estimate.extra["interval"]
    n = res.estimate.n
    # distinct values (sorted) and their counts, not the column
    assert kept.values.size == kept.counts.size < n
    assert np.all(np.diff(kept.values) > 0) and np.all(kept.counts > 0)
    assert int(kept.counts.sum()) == n
    with_data = {e.term for e in res.estimates() if "interval" in e.extra}
    assert with_data == {f"followers_{q}" for q in QUANTILES}


def _heavy_tailed(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.floor(rng.lognormal(4.0, 1.5, n))  # integer counts with many ties
    w = rng.choice([1.0, 2.5, 10.0], n)  # inverse inclusion probabilities
    return x, w


@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_intervals_recomputed_for_every_quantile(weighted: bool) -> None:
    # Woodruff (weighted, n * n_boot above the resampling limit) and the
    # order-statistic interval, for every reported quantile
    x, w = _heavy_tailed(30_000, 3)
    n_boot = CHUNK_CELLS * 5 // x.size + 1 if weighted else 200
    wt = w if weighted else None
    kind = "woodruff" if weighted else "order_statistic"
    base = numeric_summary("followers", x, wt, level=0.95, n_boot=n_boot,
                           keep_intervals=True)
    for lev in LEVELS:
        other = numeric_summary("followers", x, wt, level=lev, n_boot=n_boot)
        got = {e.term: e for e in other.estimates}
        for e in base.estimates:
            kept = e.extra.get("interval")
            if not e.term.endswith(tuple(QUANTILES)):
                assert kept is None
                continue
            assert kept.kind == kind
            assert kept.ci(lev) == got[e.term].ci, (e.term, lev)


def test_weighted_bootstrap_replicates_give_the_percentile_interval() -> None:
    x, w = _heavy_tailed(400, 5)
    base = numeric_summary("followers", x, w, level=0.95, n_boot=300,
                           keep_intervals=True)
    other = numeric_summary("followers", x, w, level=0.8, n_boot=300)
    for e, o in zip(base.estimates, other.estimates, strict=True):
        kept = e.extra.get("interval")
        if kept is not None:
            assert kept.kind == "percentile_bootstrap" and kept.values.size == 300
            assert kept.ci(0.8) == o.ci


def test_weighted_cdf_reads_the_same_quantiles_as_wquantile() -> None:
    x, w = _heavy_tailed(5_000, 7)
    vals, cdf = weighted_cdf(x, w)
    assert np.all(np.diff(vals) > 0) and cdf[-1] == pytest.approx(1.0)
    # every level, and exactly at the shares where a tie of values ends
    for q in np.concatenate([np.linspace(0, 1, 401), cdf[:50]]):
        assert cdf_quantile(vals, cdf, float(q)) == wquantile(x, w, float(q))
