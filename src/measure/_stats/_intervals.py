"""Confidence limits for proportions and their combinations.

* :func:`normal_quantile`: the standard normal quantile of a two- or one-sided
  level.
* :func:`wilson_interval`: Wilson score limits of binomial proportions, with an
  optional finite-population correction.
* :func:`mover_sum`: limits of a weighted sum of independent estimates from the
  limits of each term (MOVER).
* :func:`mover_product`: the same for a product of positive independent
  estimates, on the log scale.

The functions work on plain numbers and numpy arrays and never look at a data
set, so every method family can use them.

References
----------
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
* Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a
  binomial proportion. *Statistical Science* 16, 101-133.
* Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
  measures: a general approach. *Statistics in Medicine* 27, 1693-1702 (MOVER:
  method of variance estimates recovery).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from measure.errors import EstimationError

ArrayLike = npt.ArrayLike


def normal_quantile(level: float, sides: int = 2) -> float:
    """Return the standard normal quantile ``z`` of a confidence level.

    Parameters
    ----------
    level
        Confidence level in ``(0, 1)``.
    sides
        2: ``z`` of a two-sided interval (``1 - (1 - level) / 2`` quantile); 1:
        of a one-sided bound (``level`` quantile).

    Returns
    -------
    float

    Raises
    ------
    EstimationError
        When ``level`` is not in ``(0, 1)``.
    """
    if not 0 < level < 1:
        raise EstimationError(f"confidence level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(1 - (1 - level) / sides))


def wilson_interval(x: ArrayLike, n: ArrayLike, *, N: ArrayLike | None = None,
                    level: float = 0.95, sides: int = 2
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits for binomial proportions, with finite-population correction.

    Parameters
    ----------
    x, n
        Successes and sample sizes (arrays or scalars). Non-integer values are
        allowed, e.g. a weighted share times Kish's effective sample size.
    N
        Population (stratum) sizes; when given, the variance ``p(1-p)/n`` is
        multiplied by ``1 - n/N`` (sampling without replacement), i.e. the score
        interval uses the effective size ``n / (1 - n/N)``; a full census of the
        stratum (``n = N``) gives a zero-width interval.
    level
        Confidence level; with ``sides=1`` each limit is a one-sided bound at
        ``level``.
    sides
        2 for a two-sided interval, 1 for one-sided bounds.

    Returns
    -------
    (low, high)
        Arrays of limits in ``[0, 1]`` (0-d arrays for scalar input). Where
        ``n = 0`` the limits are ``nan``.

    Notes
    -----
    With ``k = z^2 / n`` the limits are ``(p + k/2 -+ z sqrt(p(1-p)/n + k/(4n))) /
    (1 + k)`` (Wilson 1927). Unlike the Wald interval the score interval stays
    inside ``[0, 1]`` and keeps its coverage near ``p = 0`` or ``1`` (Brown, Cai &
    DasGupta 2001). The lower limit is exactly 0 at ``x = 0`` and the upper limit
    exactly 1 at ``x = n``.
    """
    x_ = np.asarray(x, dtype=float)
    n_ = np.asarray(n, dtype=float)
    z = normal_quantile(level, sides)
    p = np.divide(x_, n_, out=np.zeros_like(x_), where=n_ > 0)
    if N is None:
        neff = n_
    else:
        f = np.clip(n_ / np.asarray(N, dtype=float), 0.0, 1.0)
        with np.errstate(divide="ignore"):
            neff = np.where(f < 1, n_ / (1 - f), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = z * z / neff
        center = (p + k / 2) / (1 + k)
        half = z / (1 + k) * np.sqrt(p * (1 - p) / neff + k / (4 * neff))
    lo = np.where(np.isinf(neff), p, np.clip(center - half, 0.0, 1.0))
    hi = np.where(np.isinf(neff), p, np.clip(center + half, 0.0, 1.0))
    lo = np.minimum(lo, p)
    hi = np.maximum(hi, p)
    return lo, hi


def mover_sum(estimates: ArrayLike, lows: ArrayLike, highs: ArrayLike, *,
              weights: ArrayLike | None = None) -> tuple[float, float, float]:
    """Limits of ``sum_j w_j theta_j`` from the limits of independent ``theta_j``.

    Parameters
    ----------
    estimates, lows, highs
        Point estimate and confidence limits of each term (same level for all).
    weights
        Coefficients ``w_j`` (default 1). A negative weight swaps the roles of the
        term's limits.

    Returns
    -------
    (estimate, low, high)
        ``T = sum w_j theta_j``, ``T - sqrt(sum (w_j (theta_j - l_j))^2)`` and
        ``T + sqrt(sum (w_j (u_j - theta_j))^2)`` (for ``w_j >= 0``), not
        clipped to any range: clip them to the parameter space where needed.

    Notes
    -----
    MOVER (Zou & Donner 2008, eq. 4-5): each term's limits recover its variance
    separately below and above the estimate, so asymmetric score limits (Wilson
    near 0 or 1) carry their asymmetry into the sum. Infinite limits give
    infinite limits of the sum.
    """
    est = np.asarray(estimates, dtype=float)
    lo = np.asarray(lows, dtype=float)
    hi = np.asarray(highs, dtype=float)
    if weights is None:
        t = float(np.sum(est))
        down = float(np.sqrt(np.sum((est - lo) ** 2)))
        up = float(np.sqrt(np.sum((hi - est) ** 2)))
        return t, t - down, t + up
    w = np.asarray(weights, dtype=float)
    pos = w >= 0
    t = float(np.sum(w * est))
    down = float(np.sqrt(np.sum(np.where(pos, w * (est - lo), w * (est - hi)) ** 2)))
    up = float(np.sqrt(np.sum(np.where(pos, w * (hi - est), w * (lo - est)) ** 2)))
    return t, t - down, t + up


def _log(x: float) -> float:
    """``log x``, ``-inf`` at 0."""
    with np.errstate(divide="ignore"):
        return float(np.log(x)) if x > 0 else -math.inf


def mover_product(point: float, parts: Sequence[tuple[float, float, float]]
                  ) -> tuple[float, float]:
    """Limits of a product of positive independent estimates (MOVER, log scale).

    Parameters
    ----------
    point
        The product ``prod_j a_j`` (positive).
    parts
        ``(a_j, low_j, high_j)`` for each factor: its estimate and limits. A
        lower limit of 0 or an infinite upper limit is allowed.

    Returns
    -------
    (low, high)
        ``exp(log point -+ sqrt(sum (log a_j - log l_j)^2))`` below and
        ``... + sqrt(sum (log u_j - log a_j)^2)`` above (Zou & Donner 2008 on
        the log scale); 0 and ``inf`` where a factor's limit is.
    """
    lp = math.log(point)
    down = up = 0.0
    for a, lo, hi in parts:
        la = math.log(a)
        down += (la - _log(lo)) ** 2
        up += (_log(hi) - la) ** 2 if math.isfinite(hi) else math.inf
    low = math.exp(lp - math.sqrt(down)) if math.isfinite(down) else 0.0
    high = math.exp(lp + math.sqrt(up)) if math.isfinite(up) else math.inf
    return low, high
