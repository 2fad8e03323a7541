"""``ChurnResult.conf_int(level)`` is the interval of a run at that level.

The median and every imputation and bootstrap resample do not depend on the
level; only the band around them does. So the interval formed again from what
the result keeps (per-time pooled cumulative hazard, within- and
between-imputation variances and degrees of freedom; the variances of the
Kaplan--Meier and cumulative-incidence curves; the bootstrap medians) must equal,
to the last bit, the one of ``analyze(..., level=level)`` with the same seed, on
every path the headline median can take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import measure
from measure.churn import _analyze, analyze
from measure.churn._km import SurvivalCurve

#: Options that leave the headline alone and save time.
FAST: dict[str, Any] = {"cox": False, "turnbull_fit": False, "age_period": None}
LEVELS = (0.9, 0.99)

#: Paths of the headline median on the small world: Rubin's rules over
#: imputations, the midpoint curve without imputations, deletion as a competing
#: risk (cumulative incidence), a complete-follow-up cohort (median searched up to
#: day 90, open upper limit), cluster-robust within-imputation variance.
PATHS: dict[str, dict[str, Any]] = {
    "imputed": {},
    "no_imputations": {"n_imputations": 1},
    "compete": {"deleted": "compete"},
    "complete_followup": {"complete_followup": True},
    "clustered": {"cluster": "lang"},
}


def _same(a: tuple[float, float], b: tuple[float, float]) -> None:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # nan == nan


@pytest.mark.parametrize("path", PATHS)
def test_conf_int_equals_a_run_at_that_level(small_world: Path, path: str) -> None:
    opts = {**FAST, **PATHS[path]}
    with measure.open(small_world) as ds:
        res = analyze(ds, **opts)
        again = {lev: analyze(ds, level=lev, **opts) for lev in LEVELS}
    assert res.estimate.valid
    for lev, other in again.items():
        assert other.estimate.estimate == res.estimate.estimate or (
            np.isnan(other.estimate.estimate) and np.isnan(res.estimate.estimate))
        _same(res.conf_int(lev), other.estimate.ci)
    lo90, hi90 = res.conf_int(0.9)
    lo99, hi99 = res.conf_int(0.99)
    assert lo99 <= res.estimate.ci[0] <= lo90 and hi90 <= res.estimate.ci[1] <= hi99
    assert (lo99, hi99) != (lo90, hi90)


def test_imputed_band_at_another_level_is_that_of_a_run_at_it(
        small_world: Path) -> None:
    # the whole pooled band behind the median, not only where it crosses 1/2
    with measure.open(small_world) as ds:
        res = analyze(ds, **FAST)
        other = analyze(ds, level=0.8, **FAST)
    curve = res.overall.curve
    assert curve is not None and curve.scale == "pooled"
    moved = curve.at_level(0.8)
    assert moved.level == 0.8
    np.testing.assert_array_equal(moved.ci_low, other.overall.curve.ci_low)
    np.testing.assert_array_equal(moved.ci_high, other.overall.curve.ci_high)
    assert np.all(moved.ci_low >= curve.ci_low) and np.all(
        moved.ci_high <= curve.ci_high)


def test_subsample_widened_path_recomputes_the_midpoint_band(
        small_world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # above IMPUTE_EXACT_MAX accounts the median inverts the midpoint curve's
    # Greenwood band (the days' bands are widened by a subsample's imputations)
    monkeypatch.setattr(_analyze, "IMPUTE_EXACT_MAX", 100)
    with measure.open(small_world) as ds:
        res = analyze(ds, n_imputations=3, **FAST)
        other = analyze(ds, n_imputations=3, level=0.9, **FAST)
    assert res.overall.n_accounts > 100
    assert res.overall.curve is res.overall.km
    assert "widened for the look-up spacing" in res.overall.survival[2].method
    _same(res.conf_int(0.9), other.estimate.ci)


def test_turnbull_median_interval_from_the_kept_bootstrap_medians(
        panel_factory: Any) -> None:
    path = panel_factory(n=300, seed=9)
    opts = {"estimator": "turnbull", "n_boot": 20, "cox": False, "age_period": None}
    with measure.open(path) as ds:
        res = analyze(ds, **opts)
        again = {lev: analyze(ds, level=lev, **opts) for lev in LEVELS}
    band = res.overall.turnbull_band
    assert band is not None and band.median_reps is not None
    assert band.median_reps.shape == (20, 2)
    assert res.estimate.valid and "percentile bootstrap" in res.estimate.method
    for lev, other in again.items():
        _same(res.conf_int(lev), other.estimate.ci)


def test_every_curve_gives_its_stored_band_back_at_its_level(
        small_world: Path) -> None:
    with measure.open(small_world) as ds:
        res = analyze(ds, **FAST)
    o = res.overall
    curves = {"km": o.km, "nelson_aalen": o.nelson_aalen,
              "cif_suspended": o.cif_suspended, "cif_deleted": o.cif_deleted,
              "imputed": o.curve}
    for name, c in curves.items():
        assert c is not None and c.scale is not None, name
        lo, hi = c.interval(c.level)
        np.testing.assert_array_equal(lo, c.ci_low, err_msg=name)
        np.testing.assert_array_equal(hi, c.ci_high, err_msg=name)


def test_curve_that_does_not_say_how_its_band_was_formed_refuses() -> None:
    c = SurvivalCurve(time=np.array([1.0]), estimate=np.array([0.5]),
                      ci_low=np.array([0.3]), ci_high=np.array([0.7]),
                      at_risk=np.array([4.0]), events=np.array([2.0]),
                      var=np.array([0.1]), level=0.95, entry=np.zeros(4),
                      exit=np.ones(4), method="hand-made")
    with pytest.raises(ValueError, match="hand-made"):
        c.at_level(0.9)
