"""Estimator functions on stratum summaries: peer values, invariants, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from measure.census import estimators as est
from measure.errors import EstimationError

#: Floating-point agreement with statsmodels (same closed-form formulas).
PEER_RTOL = 1e-10


@pytest.mark.reference
@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 10), (10, 10), (678, 20_000)])
def test_wilson_matches_statsmodels(x: int, n: int) -> None:
    """statsmodels: proportion_confint(x, n, alpha=0.05, method="wilson")."""
    lo, hi = est.wilson_interval(x, n)
    ref = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert float(lo) == pytest.approx(ref[0], rel=PEER_RTOL, abs=1e-12)
    assert float(hi) == pytest.approx(ref[1], rel=PEER_RTOL, abs=1e-12)


def test_wilson_fpc_narrows_and_census_is_exact() -> None:
    lo1, hi1 = est.wilson_interval(5, 20)
    lo2, hi2 = est.wilson_interval(5, 20, N=40)
    assert hi2 - lo2 < hi1 - lo1
    lo3, hi3 = est.wilson_interval(5, 20, N=20)
    assert float(lo3) == float(hi3) == 0.25


def test_stratified_total_formula_by_hand() -> None:
    """T = sum N_h p_h; Var = sum N_h^2 (1 - f_h) p_h (1 - p_h) / (n_h - 1)."""
    N, n, x = [1000, 5000], [50, 100], [40, 5]
    r = est.stratified_total(N, n, x)
    assert r.estimate == pytest.approx(1000 * 0.8 + 5000 * 0.05)
    var = (1000**2 * (1 - 50 / 1000) * 0.8 * 0.2 / 49
           + 5000**2 * (1 - 100 / 5000) * 0.05 * 0.95 / 99)
    assert r.std_error == pytest.approx(np.sqrt(var))
    assert r.ci[0] < r.estimate < r.ci[1]


def test_interval_does_not_collapse_at_zero() -> None:
    """A stratum with no coded supporters still widens the upper limit."""
    r = est.stratified_total([100, 50_000], [20, 50], [20, 0])
    assert r.std_error == 0.0
    assert r.ci[1] > r.estimate + 1000
    assert r.ci[0] <= r.estimate


def test_one_sided_bounds_bracket_estimate() -> None:
    N, n, x = [1000, 5000], [50, 100], [40, 5]
    t = est.stratified_total(N, n, x).estimate
    lo = est.one_sided_total(N, n, x, side="lower")
    hi = est.one_sided_total(N, n, x, side="upper")
    lo_high = est.one_sided_total(N, n, x, side="lower", mask=[True, False])
    assert lo_high < lo < t < hi


def test_corrected_total_is_unbiased_where_truncation_would_bias() -> None:
    """Expected corrected total over the binomial law of the coded count equals the
    truth when strata are not truncated (exact sum over x = 0..n)."""
    from scipy import stats

    se, sp, n, N, p_true = 0.9, 0.95, 40, 10_000, 0.002
    apparent = p_true * se + (1 - p_true) * (1 - sp)
    xs = np.arange(n + 1)
    w = stats.binom.pmf(xs, n, apparent)
    raw = [float(np.sum(N * est.rogan_gladen(x / n, se, sp, clip=False)))
           for x in xs]
    clipped = [float(np.sum(N * est.rogan_gladen(x / n, se, sp))) for x in xs]
    assert np.dot(w, raw) == pytest.approx(N * p_true, rel=1e-9)
    assert np.dot(w, clipped) > 5 * N * p_true


def test_rogan_gladen_identity_and_inverse() -> None:
    assert est.rogan_gladen(0.3, 1.0, 1.0) == pytest.approx(0.3)
    # apparent prevalence of true 0.2 under se=0.9, sp=0.95
    apparent = 0.2 * 0.9 + 0.8 * 0.05
    assert est.rogan_gladen(apparent, 0.9, 0.95) == pytest.approx(0.2)
    with pytest.raises(EstimationError):
        est.rogan_gladen(0.3, 0.5, 0.5)


def test_corrected_total_equals_plain_with_perfect_coders() -> None:
    N, n, x = [1000, 5000], [50, 100], [40, 5]
    a = est.stratified_total(N, n, x)
    b = est.corrected_stratified_total(N, n, x, sensitivity=1, specificity=1)
    assert b.estimate == pytest.approx(a.estimate)
    # no FPC under misclassification (coding noise remains in a full census)
    assert b.ci[0] <= a.ci[0] + 1e-9 and b.ci[1] >= a.ci[1] - 1e-9
    assert b.ci == pytest.approx(
        est.stratified_total(np.array(N) * 1e9, n, x).ci / np.array(1e9), rel=1e-6)
    grid = est.misclassification_grid(N, n, x)
    assert len(grid) == 25
    assert {"sensitivity", "specificity", "estimate", "ci_low", "ci_high"} <= set(
        grid[0])


@pytest.mark.reference
def test_kappa_matches_statsmodels() -> None:
    """statsmodels: cohens_kappa(confusion_table).kappa."""
    rng = np.random.default_rng(3)
    a = rng.choice(["supporter", "non_supporter", "unclear"], 200, p=[.3, .6, .1])
    b = np.where(rng.random(200) < 0.8, a, rng.choice(
        ["supporter", "non_supporter", "unclear"], 200))
    k = est.cohen_kappa(a, b)
    cats = ["non_supporter", "supporter", "unclear"]
    table = np.array([[np.sum((a == i) & (b == j)) for j in cats] for i in cats])
    assert k.kappa == pytest.approx(cohens_kappa(table).kappa, rel=PEER_RTOL)


@pytest.mark.parametrize("allocation", ["proportional", "equal", "neyman"])
def test_allocation_sums_and_caps(allocation: str) -> None:
    N = np.array([5, 200, 3000, 40])
    n_h = est.allocate(N, 300, allocation=allocation, S_h=[0.5, 0.4, 0.1, 0.5])
    assert n_h.sum() == 300
    assert np.all(n_h <= N)
    assert np.all(n_h >= 2)


def test_proportional_allocation_is_proportional() -> None:
    n_h = est.allocate([1000, 3000], 100)
    assert n_h.tolist() == [25, 75]


def test_difference_estimator_with_perfect_model_has_zero_variance() -> None:
    y = np.array([1, 0, 1, 0])
    d = est.difference_total(10.0, y, y.astype(float), ["a", "a", "b", "b"],
                             {"a": 10, "b": 10})
    assert d.estimate == pytest.approx(10.0)
    assert d.std_error == 0.0


def test_bad_inputs_raise() -> None:
    with pytest.raises(EstimationError):
        est.stratified_total([10], [0], [0])
    with pytest.raises(EstimationError):
        est.stratified_total([10], [5], [6])
    with pytest.raises(EstimationError):
        est.stratified_total([3], [5], [1])


def test_jeffreys_interval_matches_beta_quantiles() -> None:
    """Brown, Cai & DasGupta (2001), §4.1.2: Beta(x + 1/2, n - x + 1/2) quantiles;
    the lower limit is 0 at x = 0 and the upper limit 1 at x = n."""
    from scipy import stats

    lo, hi = est.jeffreys_interval([0, 3, 40], [40, 40, 40])
    assert lo[0] == 0.0 and hi[2] == 1.0
    assert hi[0] == pytest.approx(stats.beta.ppf(0.975, 0.5, 40.5))
    assert lo[1] == pytest.approx(stats.beta.ppf(0.025, 3.5, 37.5))
    # FPC shrinks the half-widths by sqrt(1 - n/N); a full census has none
    lo_f, hi_f = est.jeffreys_interval(0, 40, N=160)
    assert hi_f == pytest.approx(hi[0] * np.sqrt(0.75))
    lo_c, hi_c = est.jeffreys_interval(3, 40, N=40)
    assert lo_c == hi_c == pytest.approx(3 / 40)


def test_difference_interval_keeps_width_in_strata_without_supporters() -> None:
    """A large stratum whose 40 coded accounts are all non-supporters: the model's
    small predictions give a near-zero residual variance, but the interval keeps
    the design's Jeffreys upper limit for that stratum (N_h x upper bound)."""
    from scipy import stats

    y = np.zeros(40)
    m = np.full(40, 0.01)
    d = est.difference_total(30.0, y, m, ["big"] * 40, {"big": 3000})
    assert d.degenerate_strata == ("big",)
    assert d.std_error < 1e-9
    upper = 3000 * stats.beta.ppf(0.975, 0.5, 40.5) * np.sqrt(1 - 40 / 3000)
    assert d.ci[1] - d.estimate == pytest.approx(upper)
    assert d.ci[0] == pytest.approx(d.estimate)  # nothing below a zero proportion
    # a stratum with both classes keeps the normal, residual-based half-width
    y2 = np.array([1, 0, 1, 0, 0, 0])
    m2 = np.array([0.8, 0.1, 0.7, 0.2, 0.1, 0.1])
    d2 = est.difference_total(5.0, y2, m2, ["a"] * 6, {"a": 60})
    assert d2.degenerate_strata == ()
    z = stats.norm.ppf(0.975)
    assert d2.ci[1] - d2.estimate == pytest.approx(z * d2.std_error)
