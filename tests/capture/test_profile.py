"""Profile-likelihood intervals and Chao's lower bounds against direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize_scalar
from scipy.special import gammaln
from scipy.stats import chi2

from measure.capture import (
    ModelSpec,
    analyze_counts,
    chao_lower_bounds,
    fit_model,
    lincoln_petersen,
)

#: Interval ends are found by root-finding to ~1e-6 N; the log-likelihood drop at
#: an end must equal chi2_1(0.95)/2 up to that accuracy.
DROP_TOL = 1e-3


def _multinomial_profile(x: np.ndarray, y: np.ndarray, n: float, big_n: float) -> float:
    """Cormack's (1992) profile log-likelihood at N, by a statsmodels fit of the
    complete table (unobserved cell = N - n), written out independently."""
    xc = np.vstack([x, np.eye(1, x.shape[1])])
    yc = np.append(y, big_n - n)
    res = sm.GLM(yc, xc, family=sm.families.Poisson()).fit()
    mu = res.fittedvalues
    ll = float(np.sum(yc * np.log(mu) - mu - gammaln(yc + 1)))
    return ll + float(gammaln(big_n + 1) - big_n * math.log(big_n) + big_n)


def test_profile_interval_ends_drop_by_chi2_half() -> None:
    rng = np.random.default_rng(7)
    hit = rng.random((600, 4)) < np.array([0.2, 0.3, 0.25, 0.35])
    mask = (hit * (1 << np.arange(4))).sum(axis=1)
    y = np.bincount(mask, minlength=16)[1:].astype(float)
    sources = list("abcd")
    fit = fit_model(ModelSpec("Mt"), y, sources)
    x, _ = ModelSpec("Mt").design(sources)
    n = y.sum()
    lo, hi = fit.estimate.ci
    opt = minimize_scalar(
        lambda v: -_multinomial_profile(x, y, n, v),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-8},
    )
    lmax = -opt.fun
    crit = chi2.ppf(0.95, 1) / 2
    for end in (lo, hi):
        assert lmax - _multinomial_profile(x, y, n, end) == pytest.approx(
            crit, abs=DROP_TOL
        )
    assert lo < fit.estimate.estimate < hi
    assert lo <= 600 <= hi


def test_profile_close_to_lognormal_in_large_samples() -> None:
    """Two lists, large counts: profile, log-normal and Wald intervals agree."""
    n1, n2, m = 40_000, 30_000, 12_000
    y = np.array([n1 - m, n2 - m, m], dtype=float)
    prof = analyze_counts(y, ["a", "b"], model="Mt").estimate
    lp = lincoln_petersen(n1, n2, m)
    assert prof.estimate == pytest.approx(lp.estimate, rel=1e-9)
    # relative agreement of interval ends within 0.5% of N (asymptotics)
    for a, b in zip(prof.ci, lp.ci, strict=True):
        assert a == pytest.approx(b, rel=5e-3)


def test_chao_lower_bounds_by_hand() -> None:
    """Chao (1987) with a = (K-1)/K; bias-corrected form of Chao (2005)."""
    y = np.zeros(7)
    y[[0, 1, 3]] = [20, 15, 10]  # f1 = 45
    y[[2, 4, 5]] = [5, 4, 3]  # f2 = 12
    y[6] = 2  # f3 = 2
    lb = chao_lower_bounds(y, 3)
    a = 2 / 3
    assert lb["chao_lower_bound"].estimate == pytest.approx(59 + a * 45**2 / 24)
    assert lb["chao_lower_bound_bc"].estimate == pytest.approx(
        59 + a * 45 * 44 / (2 * 13)
    )
    r = 45 / 12
    var = 12 * (a / 2 * r**2 + a**2 * r**3 + a**2 / 4 * r**4)
    assert lb["chao_lower_bound"].std_error == pytest.approx(math.sqrt(var))
    y2 = y.copy()
    y2[[2, 4, 5]] = 0
    lb2 = chao_lower_bounds(y2, 3)
    assert not lb2["chao_lower_bound"].valid
    assert lb2["chao_lower_bound_bc"].valid


def test_boundary_fit_reports_zero_cells() -> None:
    """A pair never seen together: its interaction goes to -inf, N stays finite and
    equals the fit of the model without the empty cells."""
    rng = np.random.default_rng(11)
    hit = rng.random((500, 3)) < np.array([0.3, 0.3, 0.3])
    hit[hit[:, 0] & hit[:, 2], 2] = False  # lists a and c never overlap
    mask = (hit * (1 << np.arange(3))).sum(axis=1)
    y = np.bincount(mask, minlength=8)[1:].astype(float)
    fit = fit_model(ModelSpec("ac", pairs=((0, 2),)), y, list("abc"))
    assert fit.valid
    assert fit.params["a:c"] == -math.inf
    assert any("no observed case" in w for w in fit.estimate.warnings)
    # cells with a and c both set are fitted as zero
    assert fit.fitted[4] == 0 and fit.fitted[6] == 0
