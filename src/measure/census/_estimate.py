"""Estimators of the number of supporter accounts in a census frame.

All functions here work on plain arrays of stratum summaries (``N_h``, ``n_h``,
``x_h``), so they can be checked by hand and reused on published figures (see
``tests/census/test_brookings.py``). The Wilson interval, the stratified total
with its MOVER-Wilson interval, Cochran's variance and the allocation of a sample
over strata are shared with other families and live in :mod:`measure._stats`;
they are importable from here as well.

References
----------
* Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (stratified random
  sampling, finite-population correction).
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
* Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
  measures: a general approach. *Statistics in Medicine* 27, 1693-1702 (MOVER:
  combining per-stratum score limits into limits for a linear combination).
* Rogan, W. J. & Gladen, B. (1978). Estimating prevalence from the results of a
  screening test. *Am. J. Epidemiology* 107, 71-76.
* Särndal, C.-E., Swensson, B. & Wretman, J. (1992). *Model Assisted Survey
  Sampling*, §6.3-6.5 (difference and GREG estimators).
* Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a
  binomial proportion. *Statistical Science* 16, 101-133 (Jeffreys interval).
* Korn, E. L. & Graubard, B. I. (1998). Confidence intervals for proportions with
  small expected number of positive counts estimated from survey data. *Survey
  Methodology* 24, 193-201.
* Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educational and
  Psychological Measurement* 20, 37-46.
* Berger, J. M. & Morgan, J. (2015). *The ISIS Twitter Census*. Brookings Analysis
  Paper 20, §1.1, §3.7, §3.8 (bounds, precision along metrics, Level-2 classifier).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from measure._stats import (
    TotalEstimate,
    allocate,
    check_strata,
    mover_sum,
    normal_quantile,
    stratified_total,
    stratified_variance,
    wilson_interval,
)
from measure.errors import EstimationError

ArrayLike = npt.ArrayLike

__all__ = [
    "DifferenceEstimate",
    "Kappa",
    "TotalEstimate",
    "allocate",
    "cohen_kappa",
    "corrected_stratified_total",
    "corrected_total_draws",
    "difference_total",
    "jeffreys_interval",
    "misclassification_grid",
    "one_sided_total",
    "proportion",
    "rogan_gladen",
    "rogan_gladen_total",
    "stratified_total",
    "stratified_variance",
    "wilson_interval",
]


def one_sided_total(N: ArrayLike, n: ArrayLike, x: ArrayLike, *, side: str,
                    level: float = 0.95, mask: ArrayLike | None = None) -> float:
    """``sum_h N_h B_h`` over the strata in ``mask``, with ``B_h`` a one-sided bound.

    Parameters
    ----------
    N, n, x
        Stratum sizes, coded accounts, coded positives.
    side
        ``"lower"`` (each ``B_h`` is the one-sided Wilson lower bound of ``p_h``) or
        ``"upper"``.
    level
        One-sided level of each stratum's bound.
    mask
        Boolean array: strata to include (default all).

    Notes
    -----
    This is the Brookings construction ("at least" / "at most", Berger & Morgan
    2015 §1.1): a sum of per-stratum bounds. It is conservative: it holds with at
    least ``level`` confidence when each stratum's bound does, but is not a joint
    interval; it is reported beside the confidence interval, never instead of it.
    """
    N_, n_, x_ = check_strata(N, n, x)
    lo, hi = wilson_interval(x_, n_, N=N_, level=level, sides=1)
    b = lo if side == "lower" else hi
    if side not in ("lower", "upper"):
        raise EstimationError(f"side must be 'lower' or 'upper', got {side!r}")
    m = np.ones_like(N_, dtype=bool) if mask is None else np.asarray(mask, bool)
    return float(np.sum(N_[m] * b[m]))


def rogan_gladen(p: ArrayLike, sensitivity: float, specificity: float, *,
                 clip: bool = True) -> np.ndarray:
    """Rogan-Gladen corrected proportion ``(p + sp - 1) / (se + sp - 1)``.

    With ``clip`` (default) the result is truncated to ``[0, 1]``; without, it is
    the unbiased linear correction (``E[result] = p_true`` when ``p`` is unbiased
    for the apparent proportion), which may fall outside ``[0, 1]``.

    Raises
    ------
    EstimationError
        When ``se + sp <= 1`` (a coder no better than chance cannot be corrected).
    """
    j = sensitivity + specificity - 1
    if not (0 <= sensitivity <= 1 and 0 <= specificity <= 1) or j <= 0:
        raise EstimationError(
            f"sensitivity {sensitivity} and specificity {specificity} must lie in "
            "[0, 1] with sensitivity + specificity > 1 (better than chance)")
    out = (np.asarray(p, dtype=float) + specificity - 1) / j
    return np.clip(out, 0.0, 1.0) if clip else out


def rogan_gladen_total(N: float, n_pos: float, sensitivity: float,
                       specificity: float) -> float:
    """Rogan-Gladen total ``N (n_pos/N + sp - 1) / (se + sp - 1)`` (methodology E5).

    ``n_pos`` is the number of accounts a classifier (or a coder) calls supporters
    out of ``N``; the result is the number of true supporters implied when the
    classifier has the given sensitivity and specificity (Rogan & Gladen 1978).
    """
    return float(N * rogan_gladen(n_pos / N, sensitivity, specificity))


def corrected_stratified_total(N: ArrayLike, n: ArrayLike, x: ArrayLike, *,
                               sensitivity: float, specificity: float,
                               level: float = 0.95) -> TotalEstimate:
    """Stratified total corrected for coder misclassification (Rogan-Gladen).

    Each stratum's proportion and its Wilson limits are mapped through the
    (monotone, linear) Rogan-Gladen correction *without* truncation, combined by
    MOVER as in :func:`stratified_total`, and only the total and its limits are
    truncated to ``[0, sum N_h]``. Truncating each stratum at 0 would bias the
    total upwards wherever large strata hold few supporters (their apparent
    share then hovers around the false-positive rate ``1 - sp``).

    The Wilson limits use no finite-population correction here: coder errors are
    a random process even when every account of a stratum is coded, so a fully
    coded stratum still carries misclassification noise.

    Sensitivity and specificity are taken as known (for example from an audit
    against expert codes); their own uncertainty is not in the interval, which the
    sensitivity grid (:func:`misclassification_grid`) shows.
    """
    N_, n_, x_ = check_strata(N, n, x)
    p = x_ / n_
    lo, hi = wilson_interval(x_, n_, level=level)
    pc = rogan_gladen(p, sensitivity, specificity, clip=False)
    lc = rogan_gladen(lo, sensitivity, specificity, clip=False)
    hc = rogan_gladen(hi, sensitivity, specificity, clip=False)
    t, low, high = mover_sum(pc, lc, hc, weights=N_)
    top = float(np.sum(N_))
    j = sensitivity + specificity - 1
    se = float(np.sqrt(stratified_variance(N_, n_, p))) / j
    return TotalEstimate(min(max(t, 0.0), top), se,
                         (min(max(low, 0.0), top), min(max(high, 0.0), top)),
                         level, pc, lc, hc)


def misclassification_grid(N: ArrayLike, n: ArrayLike, x: ArrayLike, *,
                           sensitivities: ArrayLike = (0.8, 0.85, 0.9, 0.95, 1.0),
                           specificities: ArrayLike = (0.9, 0.95, 0.98, 0.99, 1.0),
                           level: float = 0.95) -> list[dict[str, float]]:
    """Corrected total over a grid of coder sensitivity and specificity.

    Returns one dict per grid point with ``sensitivity, specificity, estimate,
    ci_low, ci_high`` (points where ``se + sp <= 1`` are skipped).
    """
    rows = []
    for se in np.atleast_1d(np.asarray(sensitivities, dtype=float)):
        for sp in np.atleast_1d(np.asarray(specificities, dtype=float)):
            if se + sp <= 1:
                continue
            r = corrected_stratified_total(N, n, x, sensitivity=float(se),
                                           specificity=float(sp), level=level)
            rows.append({"sensitivity": float(se), "specificity": float(sp),
                         "estimate": r.estimate, "ci_low": r.ci[0],
                         "ci_high": r.ci[1]})
    return rows


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa with its large-sample standard error and Wald interval."""

    kappa: float
    std_error: float
    ci: tuple[float, float]
    n: int
    observed_agreement: float
    expected_agreement: float


def cohen_kappa(a: ArrayLike, b: ArrayLike, *, level: float = 0.95) -> Kappa:
    """Cohen's kappa between two codings of the same accounts (Cohen 1960).

    The standard error is the simple large-sample one,
    ``sqrt(p_o (1 - p_o) / (n (1 - p_e)^2))`` (Cohen 1960, eq. 9).
    """
    a_ = np.asarray(a, dtype=object)
    b_ = np.asarray(b, dtype=object)
    n = len(a_)
    if n == 0 or len(b_) != n:
        raise EstimationError("kappa needs two codings of the same, non-empty set")
    cats = sorted(set(a_.tolist()) | set(b_.tolist()))
    po = float(np.mean(a_ == b_))
    pe = float(sum(np.mean(a_ == c) * np.mean(b_ == c) for c in cats))
    if pe >= 1:
        k, se = float("nan"), float("nan")
    else:
        k = (po - pe) / (1 - pe)
        se = float(np.sqrt(po * (1 - po) / (n * (1 - pe) ** 2)))
    z = normal_quantile(level)
    return Kappa(k, se, (k - z * se, k + z * se), n, po, pe)


def jeffreys_interval(x: ArrayLike, n: ArrayLike, *, N: ArrayLike | None = None,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys limits for binomial proportions, with finite-population correction.

    The equal-tailed ``Beta(x + 1/2, n - x + 1/2)`` quantiles, with the lower limit
    0 at ``x = 0`` and the upper limit 1 at ``x = n`` (Brown, Cai & DasGupta 2001,
    §4.1.2); with ``N`` the half-widths are multiplied by ``sqrt(1 - n/N)``.

    Returns
    -------
    (low, high)
        Arrays of limits in ``[0, 1]``.
    """
    x_ = np.asarray(x, dtype=float)
    n_ = np.asarray(n, dtype=float)
    a = (1 - level) / 2
    p = np.divide(x_, n_, out=np.zeros_like(x_), where=n_ > 0)
    lo = np.where(x_ > 0, stats.beta.ppf(a, x_ + 0.5, n_ - x_ + 0.5), 0.0)
    hi = np.where(x_ < n_, stats.beta.ppf(1 - a, x_ + 0.5, n_ - x_ + 0.5), 1.0)
    if N is not None:
        fpc = np.sqrt(1 - np.clip(n_ / np.asarray(N, dtype=float), 0.0, 1.0))
        lo, hi = p - (p - lo) * fpc, p + (hi - p) * fpc
    return np.minimum(lo, p), np.maximum(hi, p)


@dataclass(frozen=True)
class DifferenceEstimate:
    """Model-assisted (difference) total with its stratified variance."""

    estimate: float
    std_error: float
    ci: tuple[float, float]
    level: float
    predicted_total: float
    #: Strata whose interval part came from the Jeffreys limits of ``x_h / n_h``
    #: (no coded supporter, or only supporters: the residual variance is then
    #: not informative).
    degenerate_strata: tuple[str, ...] = ()


def difference_total(pred_total: float, y: ArrayLike, m: ArrayLike,
                     strata: ArrayLike, N_h: dict, *, level: float = 0.95,
                     frame_size: float | None = None,
                     m_var: ArrayLike | None = None) -> DifferenceEstimate:
    """Difference estimator ``sum_U m_i + sum_h N_h mean_{s_h}(y_i - m_i)``.

    Parameters
    ----------
    pred_total
        Sum of model predictions ``m_i`` over every frame account (covered by the
        design's strata).
    y, m, strata
        For each coded account: label (1 = supporter), prediction, stratum name.
    N_h
        Stratum sizes by stratum name.
    level
        Confidence level (interval clipped to ``[0, frame_size]``).
    frame_size
        Upper clip of the interval.
    m_var
        Predictions used for the variance only (e.g. out-of-fold predictions, whose
        residuals are not shrunk by fitting the model on the same accounts);
        default ``m``.

    Notes
    -----
    Design-unbiased for any fixed working model; with the model fitted on the same
    sample it is the GREG-type estimator, approximately unbiased (Särndal et al.
    1992, §6.5). Standard error: ``sqrt(sum_h N_h^2 (1 - f_h) s^2_{e,h} / n_h)`` of
    the residuals ``e = y - m``.

    Interval: per-stratum limits combined by MOVER (Zou & Donner 2008), as for the
    stratified total. A stratum with both classes coded contributes the normal
    half-width ``z N_h sqrt((1 - f_h) s^2_{e,h} / n_h)`` on both sides. A stratum
    where every coded account has the same label (typically none of 40 coded
    accounts of a large, low-precision stratum is a supporter) says nothing about
    its residual variance: ``s^2_e`` is then the spread of the model's small
    predictions and the normal interval collapses although the stratum may hold
    dozens of supporters (on simulated worlds such an interval covered the truth in
    only 84% of worlds). Such a stratum contributes the half-widths of the Jeffreys
    limits of ``x_h / n_h`` (with FPC) instead: what the design alone says about
    its proportion, as a stratified estimate would (Korn & Graubard 1998 likewise
    fall back on the plain binomial size when a survey proportion is 0).
    """
    y_ = np.asarray(y, dtype=float)
    m_ = np.asarray(m, dtype=float)
    s_ = np.asarray(strata, dtype=object)
    e = y_ - m_
    ev = e if m_var is None else y_ - np.asarray(m_var, dtype=float)
    z = normal_quantile(level)
    corr = var = down2 = up2 = 0.0
    degenerate: list[str] = []
    for h in np.unique(s_):
        sel = s_ == h
        nh = int(sel.sum())
        Nh = float(N_h[h])
        corr += Nh * float(e[sel].mean())
        f = min(nh / Nh, 1.0)
        if nh < 2 or f >= 1:
            continue
        v = Nh**2 * (1 - f) * float(ev[sel].var(ddof=1)) / nh
        var += v
        xh = float(y_[sel].sum())
        if 0 < xh < nh:
            down2 += z * z * v
            up2 += z * z * v
            continue
        degenerate.append(str(h))
        lo, hi = jeffreys_interval(xh, nh, N=Nh, level=level)
        p = xh / nh
        down2 += (Nh * (p - float(lo))) ** 2
        up2 += (Nh * (float(hi) - p)) ** 2
    t = pred_total + corr
    se = float(np.sqrt(var))
    hi = t + float(np.sqrt(up2))
    if frame_size is not None:
        hi = min(hi, frame_size)
    lo = max(t - float(np.sqrt(down2)), 0.0)
    return DifferenceEstimate(t, se, (lo, max(hi, lo)), level, pred_total,
                              tuple(degenerate))


def proportion(x: float, n: float, *, level: float = 0.95
               ) -> tuple[float, float, float]:
    """Proportion ``x/n`` with its Wilson score interval: ``(p, low, high)``."""
    lo, hi = wilson_interval(x, n, level=level)
    return float(x / n), float(lo), float(hi)


def corrected_total_draws(N: ArrayLike, n: ArrayLike, x: ArrayLike,
                          sensitivity: ArrayLike, false_positive: ArrayLike, *,
                          rng: np.random.Generator) -> np.ndarray:
    """Draws of the misclassification-corrected stratified total.

    For each draw ``d`` of a coder's sensitivity ``se_d`` and false-positive rate
    ``fp_d`` (P(``supporter`` label | not a supporter)), the Rogan-Gladen total
    ``sum_h N_h (p_h - fp_d) / (se_d - fp_d)`` (Rogan & Gladen 1978), not truncated
    per stratum, plus a normal draw of its sampling error with variance
    ``sum_h N_h^2 a_h (1 - a_h) / n_h / (se_d - fp_d)^2``, ``a_h = max(p_h, fp_d)``
    (the apparent share cannot be below the false-positive rate, so a stratum
    where no account was coded a supporter keeps the binomial noise of its false
    positives).

    Parameters
    ----------
    N, n, x
        Per stratum: accounts, coded accounts, accounts coded supporters.
    sensitivity, false_positive
        Draws (same length) of the coder's error rates, e.g. from the posterior of
        :func:`measure.census._coders.sample_posterior`.
    rng
        Random generator of the sampling-error draws.

    Returns
    -------
    numpy.ndarray
        One total per draw, truncated to ``[0, sum N_h]``; draws where
        ``se_d <= fp_d`` are dropped.

    Notes
    -----
    Truncating each stratum's corrected share at 0 would bias the total upward
    where large strata hold few supporters (their apparent share scatters around
    ``fp``); only the total is truncated. No finite-population correction is
    applied: coder error is random even in a fully coded stratum.
    """
    N_, n_, x_ = check_strata(N, n, x)
    se = np.asarray(sensitivity, dtype=float)
    fp = np.asarray(false_positive, dtype=float)
    ok = se > fp
    se, fp = se[ok], fp[ok]
    p = x_ / n_
    j = se - fp
    centre = (N_[None, :] * (p[None, :] - fp[:, None])).sum(axis=1)
    a = np.maximum(p[None, :], fp[:, None])
    var = (N_[None, :] ** 2 * a * (1 - a) / n_[None, :]).sum(axis=1)
    t = (centre + rng.standard_normal(len(se)) * np.sqrt(var)) / j
    return np.clip(t, 0.0, float(N_.sum()))
