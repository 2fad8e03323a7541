"""Model averaging (Buckland et al. 1997; MATA, Turek & Fletcher 2012) and fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2, norm

from measure._results import Estimate
from measure.capture import (
    ModelSpec,
    analyze_counts,
    cell_matrix,
    fit_model,
    goodness_of_fit,
    model_average,
)
from measure.capture._averaging import fit_warnings
from measure.capture._loglinear import LoglinearFit


def _fit(name: str, n: float, lo: float, hi: float, aic: float) -> LoglinearFit:
    e = Estimate("population", n, (lo, hi), 0.95, (hi - lo) / 3.92)
    return LoglinearFit(name=name, estimate=e, aic=aic, bic=aic)


def _mixture_tail(fits: list[LoglinearFit], w: np.ndarray, x: float) -> float:
    """P(N <= x) of the weighted two-piece log-normal mixture, computed directly."""
    z = norm.ppf(0.975)
    out = 0.0
    for wi, f in zip(w, fits, strict=True):
        c = math.log(f.estimate.estimate)
        lo, hi = f.estimate.ci
        s = (c - math.log(lo)) / z if math.log(x) <= c else (math.log(hi) - c) / z
        out += wi * norm.cdf((math.log(x) - c) / s)
    return out


def test_akaike_weights_follow_the_aic_differences() -> None:
    """Δ AIC = 2 gives weights 1 / (1 + e^-1) and e^-1 / (1 + e^-1)."""
    fits = [_fit("a", 1000, 900, 1120, 100.0), _fit("b", 1300, 1150, 1480, 102.0)]
    avg = model_average(fits)
    assert avg.weights["a"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert avg.weights["b"] == pytest.approx(math.exp(-1) / (1 + math.exp(-1)))
    w = np.array([avg.weights["a"], avg.weights["b"]])
    assert avg.estimate.estimate == pytest.approx(
        math.exp(w @ np.log([1000.0, 1300.0])))


def test_one_model_keeps_its_own_interval() -> None:
    """With one model the MATA limits are that model's limits."""
    avg = model_average([_fit("a", 1000, 870, 1210, 50.0)])
    assert avg.estimate.estimate == pytest.approx(1000)
    assert avg.estimate.ci == pytest.approx((870, 1210), rel=1e-9)


def test_interval_holds_the_tail_areas_of_the_weighted_models() -> None:
    """Each limit leaves 2.5% of the weighted mixture beyond it, and the interval
    covers both models' point estimates when two equally supported models
    disagree (the chosen model's interval would not)."""
    fits = [_fit("a", 1000, 900, 1120, 10.0), _fit("b", 1500, 1300, 1750, 10.0)]
    avg = model_average(fits)
    lo, hi = avg.estimate.ci
    w = np.array([0.5, 0.5])
    assert _mixture_tail(fits, w, lo) == pytest.approx(0.025, abs=1e-9)
    assert 1 - _mixture_tail(fits, w, hi) == pytest.approx(0.025, abs=1e-9)
    assert lo < 1000 and hi > 1500
    assert hi < 1750 and lo > 900


def test_an_unbounded_model_with_weight_makes_the_upper_limit_infinite() -> None:
    fits = [_fit("a", 1000, 900, 1120, 10.0), _fit("b", 1500, 1300, math.inf, 10.5)]
    assert math.isinf(model_average(fits).estimate.ci[1])


def test_goodness_of_fit_matches_the_model_deviance_and_pearson_by_hand() -> None:
    """G^2 equals the fit's deviance; X^2 and both p-values by the textbook
    formulas (Agresti 2013, §9.8) on independent three-list counts."""
    rng = np.random.default_rng(5)
    w = cell_matrix(3)
    p = np.array([0.3, 0.4, 0.5])
    cell = np.prod(np.where(w == 1, p, 1 - p), axis=1)
    y = rng.poisson(2000 * cell).astype(float)
    fit = fit_model(ModelSpec("Mt"), y, ["a", "b", "c"])
    g = goodness_of_fit(fit, y)
    mu = np.asarray(fit.fitted)
    assert g.deviance == pytest.approx(fit.deviance, rel=1e-8)
    assert g.pearson == pytest.approx(float(np.sum((y - mu) ** 2 / mu)), rel=1e-12)
    assert g.df == 3
    assert g.p_pearson == pytest.approx(chi2.sf(g.pearson, 3))
    assert not g.poor


def test_dependent_lists_fail_the_independence_models_and_warn() -> None:
    """Strongly dependent lists: the independence-type models fit poorly, and a
    pool of only such models is warned about."""
    rng = np.random.default_rng(8)
    n = 3000
    a = rng.random(n) < 0.3
    b = rng.random(n) < np.where(a, 0.8, 0.1)  # b follows a
    c = rng.random(n) < 0.35
    d = rng.random(n) < 0.3
    mask = a * 1 + b * 2 + c * 4 + d * 8
    y = np.bincount(mask, minlength=16)[1:].astype(float)
    res = analyze_counts(y, ["a", "b", "c", "d"], latent_class=False,
                         graphical=False)
    gof = {g.model: g for g in res.goodness_of_fit}
    assert gof["Mt"].poor and gof["M0"].poor
    assert not gof["two_way"].poor
    assert res.averaged is not None and res.estimate.estimate == pytest.approx(
        res.averaged.estimate.estimate)
    pool = [res.fit("Mt"), res.fit("M0")]
    warns = fit_warnings([gof["Mt"], gof["M0"]], pool,
                         model_average(pool).weights)
    assert any("fits the pattern counts poorly" in w for w in warns)
