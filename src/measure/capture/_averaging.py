"""Model-averaged population size and goodness of fit of the log-linear models.

**Model averaging.** Each identifiable model ``i`` gets the Akaike weight
``w_i = exp(-Δ_i / 2) / sum_j exp(-Δ_j / 2)``, ``Δ_i`` its AIC (or BIC) minus the
smallest (Buckland, Burnham & Augustin 1997, "Model selection: an integral part of
inference", *Biometrics* 53, 603-618; Burnham & Anderson 2002, §4.2). The averaged
estimate is ``exp(sum_i w_i log N_i)`` (averaged on the log scale, where the
sampling distributions of ``N`` are close to symmetric). The interval is the
model-averaged tail-area (MATA) interval (Turek & Fletcher 2012, "Model-averaged
Wald confidence intervals", *Comput. Stat. Data Anal.* 56, 2809-2815): its limits
solve ``sum_i w_i P_i(N <= L) = α/2`` and ``sum_i w_i P_i(N >= U) = α/2``, where
``P_i`` is model ``i``'s sampling distribution on the log scale: normal halves
with different scales on either side of ``log N_i``, so that its tails reproduce
the model's own (profile) interval (Fletcher & Turek 2012, "Model-averaged profile
likelihood intervals", *J. Agric. Biol. Environ. Stat.* 17, 38-51). Unlike the chosen
model's interval it widens when well-supported models disagree; a model whose
interval has no upper limit makes the averaged upper limit infinite once its
weight exceeds ``α``.

**Goodness of fit.** Deviance ``G^2 = 2 sum y log(y / μ)`` and Pearson
``X^2 = sum (y - μ)^2 / μ`` over the ``2^K - 1`` observable cells, each against
``χ^2`` with the model's residual degrees of freedom (Agresti 2013, *Categorical
Data Analysis*, §9.8; small expected counts make both p-values approximate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2, norm

from measure._results import Estimate
from measure.capture._loglinear import LoglinearFit, criterion_value

#: A model fits poorly when both goodness-of-fit p-values are below this.
POOR_FIT_P = 0.05
#: Well-fitting models "disagree widely" when their largest estimate exceeds the
#: smallest by this factor.
DISAGREEMENT_RATIO = 1.5
#: Models below this Akaike weight are left out of the disagreement check.
MIN_WEIGHT = 0.01


@dataclass(frozen=True)
class GoodnessOfFit:
    """Deviance and Pearson statistics of one model against the saturated one."""

    model: str
    deviance: float
    pearson: float
    df: int | None
    p_deviance: float
    p_pearson: float

    @property
    def poor(self) -> bool:
        """Both p-values below :data:`POOR_FIT_P`."""
        return (self.p_deviance < POOR_FIT_P) and (self.p_pearson < POOR_FIT_P)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON row."""
        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {"model": self.model, "deviance": clean(self.deviance),
                "pearson": clean(self.pearson), "df": self.df,
                "p_deviance": clean(self.p_deviance),
                "p_pearson": clean(self.p_pearson), "poor_fit": self.poor}


def goodness_of_fit(fit: LoglinearFit, y: Sequence[float]) -> GoodnessOfFit:
    """Deviance and Pearson goodness of fit of ``fit`` to the counts ``y``."""
    y_ = np.asarray(y, dtype=float)
    nan = math.nan
    if not fit.valid or not fit.fitted or fit.df is None:
        return GoodnessOfFit(fit.name, nan, nan, fit.df, nan, nan)
    mu = np.asarray(fit.fitted, dtype=float)
    pos = mu > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(y_ > 0, y_ * np.log(y_ / mu), 0.0)
    dev = float(2 * np.sum(g[pos] - (y_[pos] - mu[pos])))
    x2 = float(np.sum((y_[pos] - mu[pos]) ** 2 / mu[pos]))
    df = int(fit.df)
    if df <= 0:
        return GoodnessOfFit(fit.name, dev, x2, df, nan, nan)
    return GoodnessOfFit(fit.name, dev, x2, df, float(chi2.sf(dev, df)),
                         float(chi2.sf(x2, df)))


@dataclass(frozen=True)
class ModelAverage:
    """Model-averaged population size.

    Attributes
    ----------
    estimate
        The averaged :class:`~measure._results.Estimate` (term
        ``population_averaged``).
    weights
        Akaike (or Schwarz) weight of each averaged model.
    criterion
        ``"aic"`` or ``"bic"``.
    """

    estimate: Estimate
    weights: dict[str, float] = field(default_factory=dict)
    criterion: str = "aic"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: the estimate and the weights."""
        return {**self.estimate.to_dict(), "criterion": self.criterion,
                "weights": dict(self.weights)}


def _two_piece_cdf(x: float, centre: float, s_lo: float, s_hi: float) -> float:
    """``Φ((x - centre) / s)`` with ``s = s_lo`` below ``centre`` and ``s_hi`` above.

    Continuous (0.5 at the centre) and monotone; its ``α/2`` and ``1 - α/2``
    quantiles are the model's own interval limits on the log scale.
    """
    s = s_lo if x <= centre else s_hi
    if not math.isfinite(s):
        return 0.5
    return float(norm.cdf((x - centre) / s))


def _halves(fit: LoglinearFit, z: float) -> tuple[float, float, float]:
    """``(log N, lower scale, upper scale)`` of a fit from its interval."""
    e = fit.estimate
    c = math.log(e.estimate)
    lo, hi = e.ci
    s_lo = (c - math.log(lo)) / z if lo and lo > 0 and math.isfinite(lo) else math.nan
    s_hi = (math.log(hi) - c) / z if math.isfinite(hi) and hi > 0 else math.inf
    if not math.isfinite(s_lo) or s_lo <= 0:
        s_lo = e.std_error / e.estimate if e.std_error else 1e-9
    return c, max(s_lo, 1e-12), max(s_hi, 1e-12)


def model_average(fits: Sequence[LoglinearFit], *, criterion: str = "aic",
                  level: float = 0.95, n_observed: int | None = None
                  ) -> ModelAverage:
    """Average the valid models of ``fits`` by their Akaike (or Schwarz) weights.

    Parameters
    ----------
    fits
        Candidate fits; invalid ones and lower-bound models are left out, and a
        fit identical to an earlier one (same criterion and estimate, e.g. a
        stepwise search that added no term) is counted once.
    criterion
        ``"aic"`` or ``"bic"``.
    level
        Confidence level of the MATA interval.
    n_observed
        Units observed (the interval's lower limit is never below it).

    Returns
    -------
    ModelAverage
    """
    pool: list[LoglinearFit] = []
    for f in fits:
        if not (f.valid and not f.lower_bound and f.estimate.estimate > 0
                and math.isfinite(criterion_value(f, criterion))):
            continue
        # a stepwise search that added nothing is its starting model: count once
        if any(math.isclose(f.aic, g.aic, rel_tol=0, abs_tol=1e-8)
               and math.isclose(f.estimate.estimate, g.estimate.estimate,
                                rel_tol=1e-10) for g in pool):
            continue
        pool.append(f)
    if not pool:
        return ModelAverage(Estimate.invalid(
            "population_averaged", "no model has an MLE for N", level=level),
            criterion=criterion)
    ic = np.array([criterion_value(f, criterion) for f in pool])
    w = np.exp(-(ic - ic.min()) / 2)
    w /= w.sum()
    z = float(norm.ppf(0.5 + level / 2))
    parts = [_halves(f, z) for f in pool]
    centre = float(np.sum(w * np.array([c for c, _, _ in parts])))
    alpha = 1 - level

    def mix(x: float) -> float:
        return float(sum(wi * _two_piece_cdf(x, c, a, b)
                         for wi, (c, a, b) in zip(w, parts, strict=True)))

    span = max(max(a for _, a, _ in parts),
               max((b for _, _, b in parts if math.isfinite(b)), default=0.0))
    lo_x = min(c for c, _, _ in parts) - 12 * span - 1
    hi_x = max(c for c, _, _ in parts) + 12 * span + 1
    lower = math.exp(brentq(lambda x: mix(x) - alpha / 2, lo_x, hi_x))
    if mix(hi_x) < 1 - alpha / 2:
        upper = math.inf
    else:
        upper = math.exp(brentq(lambda x: mix(x) - (1 - alpha / 2), lo_x, hi_x))
    if n_observed is not None:
        lower = max(lower, float(n_observed))
    est = math.exp(centre)
    var = sum(wi * (f.estimate.std_error ** 2 + (f.estimate.estimate - est) ** 2)
              for wi, f in zip(w, pool, strict=True))
    weights = {f.name: float(wi) for f, wi in zip(pool, w, strict=True)}
    top = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
    e = Estimate(
        "population_averaged", est, (lower, upper), level, float(math.sqrt(var)),
        f"{criterion.upper()}-weighted average of {len(pool)} log-linear models on "
        "the log scale (Buckland, Burnham & Augustin 1997); model-averaged "
        "tail-area interval (Turek & Fletcher 2012) over each model's interval",
        n_observed or 0,
        ("closed population; error-free matching",
         "the truth lies among (or between) the averaged models"),
        extra={"weights": weights,
               "top_models": ", ".join(f"{k} {v:.2f}" for k, v in top)},
    )
    return ModelAverage(e, weights, criterion)


def fit_warnings(gof: Sequence[GoodnessOfFit], fits: Sequence[LoglinearFit],
                 weights: dict[str, float]) -> list[str]:
    """Warnings when every model fits poorly or well-fitting models disagree."""
    out: list[str] = []
    tested = [g for g in gof if math.isfinite(g.p_deviance)]
    if tested and all(g.poor for g in tested):
        out.append(
            "every model with residual degrees of freedom fits the pattern counts "
            f"poorly (deviance and Pearson p < {POOR_FIT_P} for all "
            f"{len(tested)}): the lists may be dependent in ways no model here "
            "allows for, or the population is not closed")
    poor = {g.model for g in gof if g.poor}
    est = {f.name: f.estimate.estimate for f in fits
           if f.valid and f.name not in poor and weights.get(f.name, 0) >= MIN_WEIGHT}
    if len(est) >= 2:
        lo_m, hi_m = min(est, key=est.get), max(est, key=est.get)
        if est[hi_m] > DISAGREEMENT_RATIO * est[lo_m]:
            out.append(
                f"models that fit well disagree widely: {lo_m} gives "
                f"{est[lo_m]:,.0f} and {hi_m} {est[hi_m]:,.0f}; the data cannot "
                "tell them apart, and the averaged interval carries that spread")
    return out
