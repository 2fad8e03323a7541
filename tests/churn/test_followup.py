"""Complete-follow-up cohort, imputation Kaplan--Meier and the Turnbull bootstrap."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure.churn import analyze, kaplan_meier
from measure.churn._km import km_imputed
from measure.churn._turnbull import (
    _turnbull_many,
    collapse,
    median_range,
    turnbull,
    turnbull_band,
)
from measure.errors import ConfigError, StatisticalWarning

#: Known truth of the synthetic panel (conftest): exponential, mean 60 days.
MEAN_SUSP = 60.0
#: Vectorised bootstrap refits vs one-at-a-time fits, both run to tol 1e-12:
#: the NPMLE's survival is unique, so they agree to the EM's own precision.
REFIT_TOL = 1e-6


def _interval_data(n: int = 300, seed: int = 3, gap: float = 7.0
                   ) -> tuple[np.ndarray, ...]:
    """Exponential(60) event times seen by look-ups every ``gap`` days from a
    random entry age; censoring at a random number of look-ups."""
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 20, n)
    t = entry + rng.exponential(MEAN_SUSP, n)
    k_max = rng.integers(2, 20, n)
    k = np.ceil((t - entry) / gap)
    event = k <= k_max
    left = np.where(event, entry + (k - 1) * gap, entry + k_max * gap)
    right = np.where(event, entry + k * gap, np.inf)
    return entry, left, right, event


def test_km_imputed_with_exact_times_is_kaplan_meier() -> None:
    """With intervals of width ~0 every imputation is the same data set: the
    combined curve is the Kaplan--Meier curve and the between variance is 0."""
    entry, left, right, event = _interval_data()
    exact = np.where(event, right, left)
    days = np.array([7.0, 30.0, 90.0])
    mi = km_imputed(entry, np.where(event, exact - 1e-9, exact),
                    np.where(event, exact, np.inf), event, days, m=5)
    km = kaplan_meier(entry, exact, event)
    np.testing.assert_allclose(mi.estimate, km.value(days)[0], rtol=1e-6)
    np.testing.assert_allclose(mi.between, 0.0, atol=1e-12)


def test_km_imputed_band_and_zero_event_bound() -> None:
    """The band holds the estimate, widens with the look-up gap, and where no
    event can precede t the exact zero-failure bound applies (upper end 1)."""
    entry, left, right, event = _interval_data(gap=7.0)
    days = np.array([0.5, 30.0, 90.0])
    mi = km_imputed(entry, left, right, event, days, m=20, seed=1)
    assert np.all(mi.ci_low <= mi.estimate) and np.all(mi.estimate <= mi.ci_high)
    # nothing can be imputed before the first left end: S = 1, exact bound
    first = left[event].min()
    z = km_imputed(entry, left, right, event, np.array([first]), m=5)
    assert z.estimate[0] == 1.0 and z.ci_high[0] == 1.0
    assert 0 < z.ci_low[0] < 1
    wide = km_imputed(entry, left, right, event, days, m=20, seed=1).between
    e2, l2, r2, ev2 = _interval_data(gap=1.0)
    narrow = km_imputed(e2, l2, r2, ev2, days, m=20, seed=1).between
    assert wide[1] > narrow[1]


def test_turnbull_many_matches_single_fits() -> None:
    """The vectorised bootstrap refits equal one-at-a-time ``turnbull`` fits on
    the same resamples (survival at fixed days and the median's range)."""
    entry, left, right, event = _interval_data(n=200)
    e, lft, rgt, w = collapse(entry, left, right)
    lft = np.maximum(lft, e)
    fit = turnbull(lft, rgt, e, w, tol=1e-12, max_iter=200_000)
    rng = np.random.default_rng(0)
    counts = rng.multinomial(int(w.sum()), w / w.sum(), size=4).astype(float)
    fits, ok = _turnbull_many(lft, rgt, e, counts, fit, tol=1e-12,
                              max_iter=200_000)
    assert ok.all()
    days = np.array([7.0, 30.0, 90.0])
    for r, f in enumerate(fits):
        k = counts[r] > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            one = turnbull(lft[k], rgt[k], e[k], counts[r][k], tol=1e-12,
                           max_iter=200_000)
        for a, b in zip(f.survival(days), one.survival(days), strict=True):
            np.testing.assert_allclose(a, b, atol=REFIT_TOL)
        np.testing.assert_allclose(median_range(f), median_range(one),
                                   atol=REFIT_TOL)


def test_turnbull_band_seeded_and_contains_estimate() -> None:
    """Same seed, same band; the band holds the point estimate and the truth."""
    entry, left, right, event = _interval_data(n=150, seed=8)
    e, lft, rgt, w = collapse(entry, left, right)
    lft = np.maximum(lft, e)
    days = np.array([30.0, 60.0])
    a = turnbull_band(lft, rgt, e, w, days, replicates=40, seed=4)
    b = turnbull_band(lft, rgt, e, w, days, replicates=40, seed=4, fit=a_fit(
        lft, rgt, e, w))
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    assert np.all(a.ci_low <= a.estimate) and np.all(a.estimate <= a.ci_high)
    assert a.median_ci[0] <= a.median <= a.median_ci[1]
    # S(t) given survival to the earliest entry (0 to 20 d; exponential)
    true = np.exp(-(days - e.min()) / MEAN_SUSP)
    assert np.all((a.ci_low <= true + 0.05) & (true - 0.05 <= a.ci_high))


def a_fit(lft: np.ndarray, rgt: np.ndarray, e: np.ndarray, w: np.ndarray
          ) -> object:
    """The full-sample fit ``turnbull_band`` makes when not given one."""
    return turnbull(lft, rgt, e, w, tol=1e-8, max_iter=5_000)


def test_complete_followup_restricts_creation_window(panel_factory) -> None:
    """Only accounts created in [first look-up, last look-up - 90 d] are kept,
    the rest are counted, the assumptions say so, and on the exponential panel
    the band still covers the truth."""
    path = panel_factory(n=3000, seed=5)
    with measure.open(path) as ds:
        res = analyze(ds, complete_followup=True, cox=False, turnbull_fit=False)
        span = ds.sql("SELECT min(observed_at) a, max(observed_at) b "
                      "FROM observations")
        acc = ds.sql("SELECT account_id, created_at FROM accounts")
    stop = span["b"][0] - timedelta(days=90)
    inside = acc.filter((pl.col("created_at") >= span["a"][0])
                        & (pl.col("created_at") <= stop))
    assert res.overall.n_accounts <= inside.height
    assert res.excluded["outside_complete_followup"] > 0
    assert any("complete follow-up cohort" in a for a in res.assumptions)
    assert not any("depends on account age, not on calendar" in a
                   for a in res.assumptions)
    a0 = res.overall.conditional_age
    for e, d in zip(res.overall.survival, (1, 7, 30, 90), strict=True):
        if d < max(a0, 7):
            continue
        true = np.exp(-(d - a0) / MEAN_SUSP)
        assert e.ci[0] <= true <= e.ci[1], (d, e, true)


def test_complete_followup_too_short_panel(panel_factory) -> None:
    """A panel shorter than 90 days has no complete-follow-up cohort."""
    path = panel_factory(n=200, seed=2, study_days=60.0)
    with measure.open(path) as ds, pytest.raises(measure.errors.EstimationError,
                                                 match="complete-follow-up"):
        analyze(ds, complete_followup=True, cox=False)


def test_turnbull_estimator_options_and_cli(panel_factory, capsys) -> None:
    """``estimator="turnbull"`` fills survival and median from the NPMLE with a
    bootstrap band; it refuses deletion as a competing risk; the CLI passes
    --complete-followup, --estimator and --bootstrap through to --json."""
    from measure.cli import main

    path = panel_factory(n=300, seed=9)
    with measure.open(path) as ds:
        res = analyze(ds, estimator="turnbull", n_boot=10, cox=False)
        with pytest.raises(ConfigError, match="turnbull"):
            analyze(ds, estimator="turnbull", deleted="compete")
        with pytest.raises(ConfigError, match="estimator"):
            analyze(ds, estimator="nope")  # type: ignore[arg-type]
    s30 = res.overall.survival[2]
    assert "Turnbull" in s30.method and "10 resamples" in s30.method
    assert s30.ci[0] <= s30.estimate <= s30.ci[1]
    assert res.overall.turnbull_band is not None
    assert main(["churn", str(path), "--json", "--complete-followup",
                 "--estimator", "turnbull", "--bootstrap", "10", "--no-cox"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimator"] == "turnbull"
    assert "Turnbull" in out["method"]
    assert out["excluded"]["outside_complete_followup"] > 0
    row = out["survival"][2]
    assert row["turnbull_ci_low"] <= row["survival"] <= row["turnbull_ci_high"]


def test_former_option_names_warn_and_give_the_same_result(small_world: Path) -> None:
    """imputations= and bootstrap= still work, with a DeprecationWarning, and give
    what n_imputations= and n_boot= give."""
    with measure.open(small_world) as ds:
        new = analyze(ds, n_imputations=3, n_boot=0, cox=False, age_period=None)
        with pytest.warns(DeprecationWarning, match="n_imputations"):
            old = analyze(ds, imputations=3, cox=False, age_period=None, n_boot=0)
    assert [e.term for e in old.estimates()] == [e.term for e in new.estimates()]
    np.testing.assert_array_equal(  # NaN where a day is not estimable, in both
        [(e.estimate, *e.ci) for e in old.estimates()],
        [(e.estimate, *e.ci) for e in new.estimates()])
