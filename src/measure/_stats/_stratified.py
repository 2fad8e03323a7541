"""Stratified random sampling: totals of proportions, their variance, allocation.

A stratified simple random sample without replacement codes ``n_h`` of the
``N_h`` units of each stratum ``h`` and finds ``x_h`` positives. The total
``T = sum_h N_h x_h / n_h`` gets Cochran's standard error and an interval from the
per-stratum Wilson limits (with finite-population correction) combined by MOVER.
The census family uses these for supporters in a frame, the resurrection family
for true links among audited pairs.

References
----------
* Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., ch. 5 (stratified random
  sampling, finite-population correction, §5.5 and §5.9 allocation).
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
* Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
  measures: a general approach. *Statistics in Medicine* 27, 1693-1702.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from measure._stats._intervals import mover_sum, wilson_interval
from measure.errors import EstimationError

ArrayLike = npt.ArrayLike


def check_strata(N: ArrayLike, n: ArrayLike, x: ArrayLike
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate per-stratum sizes, sample sizes and positives; return float arrays.

    Raises
    ------
    EstimationError
        When the arrays differ in length, a stratum has no coded unit, a count of
        positives is outside ``[0, n_h]`` or ``n_h > N_h``.
    """
    N_ = np.atleast_1d(np.asarray(N, dtype=float))
    n_ = np.atleast_1d(np.asarray(n, dtype=float))
    x_ = np.atleast_1d(np.asarray(x, dtype=float))
    if not (N_.shape == n_.shape == x_.shape):
        raise EstimationError(
            f"stratum arrays differ in length: N {N_.shape}, n {n_.shape}, x "
            f"{x_.shape}; give one value per stratum in each")
    if np.any(n_ < 1):
        raise EstimationError(
            "every stratum needs at least one coded account (n_h >= 1); merge empty "
            "strata into a neighbour or code more accounts")
    if np.any(x_ < 0) or np.any(x_ > n_):
        raise EstimationError("supporter counts must lie between 0 and n_h")
    if np.any(N_ < n_ - 1e-9):
        raise EstimationError(
            "a stratum has more coded accounts than accounts (n_h > N_h); check the "
            "design's stratum sizes or the labels' inclusion_prob")
    return N_, n_, x_


@dataclass(frozen=True)
class TotalEstimate:
    """A stratified total with its design standard error and MOVER-Wilson interval.

    Attributes
    ----------
    estimate, std_error, ci
        ``T = sum N_h p_h``, the Cochran standard error, and the interval.
    level
        Confidence level of the interval.
    p_hat, p_low, p_high
        Per-stratum proportions and their Wilson (FPC) limits.
    """

    estimate: float
    std_error: float
    ci: tuple[float, float]
    level: float
    p_hat: np.ndarray
    p_low: np.ndarray
    p_high: np.ndarray


def stratified_variance(N: ArrayLike, n: ArrayLike, p: ArrayLike) -> float:
    """Cochran's variance of ``sum N_h p_h``: ``sum N_h^2 (1-f_h) p_h(1-p_h)/(n_h-1)``.

    Strata with one coded account contribute nothing (their variance is not
    estimable); merge such strata when that matters.
    """
    N_ = np.asarray(N, dtype=float)
    n_ = np.asarray(n, dtype=float)
    p_ = np.asarray(p, dtype=float)
    f = np.clip(n_ / N_, 0, 1)
    denom = np.where(n_ > 1, n_ - 1, np.inf)
    return float(np.sum(N_**2 * (1 - f) * p_ * (1 - p_) / denom))


def stratified_total(N: ArrayLike, n: ArrayLike, x: ArrayLike, *,
                     level: float = 0.95) -> TotalEstimate:
    """Stratified estimate of a number of positives, ``T = sum_h N_h x_h / n_h``.

    Parameters
    ----------
    N, n, x
        Per stratum: units in the population, coded units, coded positives.
    level
        Confidence level of the interval.

    Returns
    -------
    TotalEstimate
        Point estimate; the standard error from Cochran (1977, eq. 5.7 with the
        finite-population correction); the interval from per-stratum Wilson score
        limits (with FPC) combined by MOVER (Zou & Donner 2008):
        ``T - sqrt(sum N_h^2 (p_h - l_h)^2)``, ``T + sqrt(sum N_h^2 (u_h - p_h)^2)``,
        clipped to ``[0, sum N_h]``.

    Notes
    -----
    Assumes a stratified simple random sample without replacement within each
    stratum and correct labels. Because each stratum keeps a non-zero score
    half-width even when ``x_h = 0`` or ``x_h = n_h``, the interval does not
    collapse in strata where coders found no (or only) positives, which the
    Wald interval ``T +- z SE`` does.
    """
    N_, n_, x_ = check_strata(N, n, x)
    p = x_ / n_
    lo, hi = wilson_interval(x_, n_, N=N_, level=level)
    t, low, high = mover_sum(p, lo, hi, weights=N_)
    se = float(np.sqrt(stratified_variance(N_, n_, p)))
    return TotalEstimate(t, se, (max(low, 0.0), min(high, float(np.sum(N_)))),
                         level, p, lo, hi)


def allocate(N_h: ArrayLike, n: int, *, allocation: str = "proportional",
             S_h: ArrayLike | None = None, minimum: int = 2) -> np.ndarray:
    """Split ``n`` coded units over strata (Cochran 1977, §5.5, §5.9).

    Parameters
    ----------
    N_h
        Stratum sizes.
    n
        Total sample size.
    allocation
        ``"proportional"`` (``n_h`` proportional to ``N_h``), ``"equal"`` or
        ``"neyman"`` (proportional to ``N_h S_h``).
    S_h
        Anticipated standard deviations for Neyman allocation (e.g.
        ``sqrt(p_h (1 - p_h))`` from a pilot); required for ``"neyman"``.
    minimum
        Each stratum gets at least ``min(minimum, N_h)`` units so that its
        variance can be estimated.

    Returns
    -------
    numpy.ndarray
        Integer ``n_h`` (largest-remainder rounding) summing to ``min(n, sum N_h)``.
    """
    N_ = np.asarray(N_h, dtype=float)
    total = int(min(n, N_.sum()))
    if allocation == "proportional":
        w = N_.copy()
    elif allocation == "equal":
        w = (N_ > 0).astype(float)
    elif allocation == "neyman":
        if S_h is None:
            raise EstimationError("Neyman allocation needs anticipated S_h")
        w = N_ * np.asarray(S_h, dtype=float)
        if w.sum() <= 0:
            w = N_.copy()
    else:
        raise EstimationError(f"unknown allocation {allocation!r}")
    m = np.minimum(minimum, N_).astype(float)
    if m.sum() > total:  # too few to give every stratum its minimum
        m = np.zeros_like(N_)
    w = np.where(N_ > 0, w, 0.0)
    alloc = np.zeros_like(N_)
    fixed = np.zeros(len(N_), dtype=bool)
    for _ in range(len(N_) + 1):
        free = ~fixed
        rem = total - alloc[fixed].sum()
        ww = w[free]
        if ww.sum() <= 0:
            ww = np.where(N_[free] > 0, 1.0, 0.0)
        alloc[free] = rem * ww / max(ww.sum(), 1e-300)
        over = free & (alloc > N_)
        under = free & (alloc < m)
        if not (over.any() or under.any()):
            break
        alloc[over] = N_[over]
        alloc[under] = m[under]
        fixed |= over | under
    base = np.floor(alloc + 1e-9).astype(int)
    left = total - base.sum()
    if left > 0:
        frac = np.where(base < N_, alloc - base, -1.0)
        order = np.argsort(-frac, kind="stable")
        for i in order[:left]:
            base[i] += 1
    return base
