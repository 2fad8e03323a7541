"""Turnbull's nonparametric MLE for interval-censored, left-truncated event times.

Each account's event time ``T`` lies in ``(L, R]`` (``R = inf`` when right-censored)
and the account is observed only because ``T > E`` (its entry, left truncation).
The likelihood is ``prod_i P(L_i < T <= R_i) / P(T > E_i)``. Its maximiser puts mass
only on the innermost ("Turnbull") intervals ``(q_j, p_j]`` formed by consecutive
left and right endpoints; the masses are found by Turnbull's self-consistency (EM)
algorithm, in which truncated subjects add "ghost" counts below their entry,
accelerated with SQUAREM.

Assumptions
-----------
* The look-up times, censoring and entry are non-informative about ``T``
  (independent inspection process; quasi-independent truncation).
* The NPMLE fixes how much mass lies in each innermost interval, not where inside it;
  survival inside an innermost interval is reported as a range.
* Only the distribution of ``T`` beyond the earliest entry is identified (masses are
  placed at or after the smallest left endpoint), as for Kaplan--Meier with delayed
  entry.

References
----------
Turnbull, B. W. (1976). The empirical distribution function with arbitrarily
grouped, censored and truncated data. JRSS B 38, 290-295. Frydman, H. (1994). A note
on nonparametric estimation of the distribution function from interval-censored and
truncated observations. JRSS B 56, 71-74. Varadhan, R. & Roland, C. (2008). Simple
and globally convergent methods for accelerating the convergence of any EM
algorithm. Scand. J. Statist. 35, 335-353.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from measure.errors import StatisticalWarning


@dataclass(frozen=True)
class TurnbullFit:
    """Masses of the NPMLE on its innermost intervals.

    Attributes
    ----------
    left, right
        Innermost intervals ``(left_j, right_j]``.
    mass
        Probability of each interval (sums to 1, conditional on ``T`` beyond the
        earliest entry).
    iterations
        EM (SQUAREM) iterations used.
    converged
        Whether the tolerance was reached.
    loglik
        Log-likelihood at the solution.
    n
        Number of observations (sum of weights).
    """

    left: np.ndarray
    right: np.ndarray
    mass: np.ndarray
    iterations: int
    converged: bool
    loglik: float
    n: float

    def survival(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Range ``(low, high)`` of ``S(t) = P(T > t)`` consistent with the NPMLE.

        ``high`` counts only intervals lying entirely at or before ``t``; ``low``
        also counts the interval that contains ``t``. They are equal unless ``t``
        falls inside an innermost interval.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        cm = np.concatenate([[0.0], np.cumsum(self.mass)])
        done = np.searchsorted(self.right, t, side="right")  # right_j <= t
        started = np.searchsorted(self.left, t, side="left")  # left_j < t
        return 1.0 - cm[started], 1.0 - cm[done]

    def to_polars(self) -> pl.DataFrame:
        """Table of innermost intervals, masses and survival after each."""
        return pl.DataFrame({"left": self.left, "right": self.right,
                             "mass": self.mass,
                             "survival": 1.0 - np.cumsum(self.mass)})


def innermost_intervals(left: np.ndarray, right: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Innermost intervals ``(q, p]`` of half-open observation intervals ``(L, R]``.

    A left endpoint immediately followed (in sorted order) by a right endpoint
    forms one; at ties a right endpoint sorts first, because ``(a, t]`` and
    ``(t, b]`` do not overlap.
    """
    lv = np.unique(left)
    rv = np.unique(right)
    vals = np.concatenate([lv, rv])
    kind = np.concatenate([np.ones(lv.size, np.int8), np.zeros(rv.size, np.int8)])
    order = np.lexsort((kind, vals))  # by value, then R (0) before L (1)
    vals, kind = vals[order], kind[order]
    pick = np.flatnonzero((kind[:-1] == 1) & (kind[1:] == 0))
    return vals[pick], vals[pick + 1]


def turnbull(left: np.ndarray, right: np.ndarray, entry: np.ndarray | None = None,
             weights: np.ndarray | None = None, *, tol: float = 1e-10,
             max_iter: int = 100_000, start: np.ndarray | None = None
             ) -> TurnbullFit:
    """Fit the Turnbull NPMLE (see the module docstring).

    Parameters
    ----------
    left, right
        The event lies in ``(left, right]``; ``right = inf`` for right-censored.
    entry
        Left-truncation times (``T > entry`` is known for every observation);
        ``None`` for no truncation.
    weights
        Frequency weights (e.g. after collapsing identical rows).
    tol
        Stop when the largest change of any mass is below ``tol``.
    max_iter
        Iteration cap (a ``StatisticalWarning`` is issued if reached).
    start
        Optional starting distribution: ``(times, masses)`` of a discrete
        distribution (e.g. the midpoint Kaplan--Meier jumps), mapped onto the
        innermost intervals and mixed 9:1 with the uniform start (no interval may
        start at zero, or EM could never give it mass). A good start saves most of
        the slow EM iterations; the maximiser does not depend on it.
    """
    left = np.asarray(left, dtype=float)
    right = np.asarray(right, dtype=float)
    if np.any(right <= left):
        raise ValueError("every interval needs left < right")
    entry = np.full_like(left, -np.inf) if entry is None else np.asarray(entry, float)
    if np.any(entry > left):
        raise ValueError("entry (truncation) time after the left endpoint")
    w = np.ones_like(left) if weights is None else np.asarray(weights, dtype=float)
    q, p = innermost_intervals(left, right)
    m = q.size
    # index ranges: A_i = [a_i, b_i] (intervals inside (L_i, R_i]); B_i = [c_i, m)
    a = np.searchsorted(q, left, side="left")  # first q_j >= L_i
    b = np.searchsorted(p, right, side="right") - 1  # last p_j <= R_i
    c = np.searchsorted(q, entry, side="left")  # first q_j >= E_i
    truncated = bool(np.any(c > 0))

    def loglik(x: np.ndarray) -> float:
        cx = np.concatenate([[0.0], np.cumsum(x)])
        num = cx[b + 1] - cx[a]
        den = 1.0 - cx[c]
        with np.errstate(divide="ignore"):
            return float(np.sum(w * (np.log(num) - np.log(den))))

    def step(x: np.ndarray) -> np.ndarray:
        cx = np.concatenate([[0.0], np.cumsum(x)])
        sa = cx[b + 1] - cx[a]
        ua = np.where(sa > 0, w / np.where(sa > 0, sa, 1.0), 0.0)
        diff = np.bincount(a, weights=ua, minlength=m + 1)
        diff -= np.bincount(b + 1, weights=ua, minlength=m + 1)
        mu = np.cumsum(diff)[:m]
        out = x * mu
        if truncated:
            sb = 1.0 - cx[c]
            ub = w / np.where(sb > 0, sb, 1.0)
            # ghost counts: intervals j < c_i get p_j * w_i / S_B,i
            ghost = np.bincount(c, weights=ub, minlength=m + 1)
            # sum over i with c_i > j  ->  reverse cumulative sum from j+1
            tail = np.cumsum(ghost[::-1])[::-1]  # sum_{k >= j} ghost[k]
            out = out + x * tail[1:m + 1]
        s = out.sum()
        return out / s if s > 0 else x

    x = np.full(m, 1.0 / m)
    if start is not None and m > 1:
        st, sm = np.asarray(start[0], float), np.asarray(start[1], float)
        j = np.clip(np.searchsorted(p, st, side="left"), 0, m - 1)
        x0 = np.bincount(j, weights=sm, minlength=m)
        if x0.sum() > 0:
            x = 0.9 * x0 / x0.sum() + 0.1 * x
    ll = loglik(x)
    converged = False
    it = 0
    while it < max_iter:
        x1 = step(x)
        x2 = step(x1)
        it += 2
        r = x1 - x
        v = x2 - x1 - r
        nv = np.sqrt(np.sum(v * v))
        if nv > 0:
            alpha = -np.sqrt(np.sum(r * r)) / nv
            alpha = min(alpha, -1.0)
            xs = np.clip(x - 2 * alpha * r + alpha * alpha * v, 0.0, None)
            xs = step(xs / xs.sum()) if xs.sum() > 0 else x2
            it += 1
            lls = loglik(xs)
            ll2 = loglik(x2)
            xn, lln = (xs, lls) if lls >= ll2 else (x2, ll2)
        else:
            xn, lln = x2, loglik(x2)
        delta = np.max(np.abs(xn - x))
        x, ll = xn, lln
        if delta < tol:
            converged = True
            break
    if not converged:
        warnings.warn(f"Turnbull EM stopped after {it} iterations without reaching "
                      f"tol={tol}; masses may be inaccurate", StatisticalWarning,
                      stacklevel=2)
    return TurnbullFit(left=q, right=p, mass=x, iterations=it, converged=converged,
                       loglik=ll, n=float(w.sum()))


def collapse(entry: np.ndarray, left: np.ndarray, right: np.ndarray,
             resolution: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical ``(entry, left, right)`` rows into frequency weights.

    With ``resolution`` (days), ``entry`` and ``left`` are rounded down and ``right``
    up to the grid first, which only widens each interval (the event time stays
    inside it) and weakens each truncation condition slightly; it bounds the number
    of distinct intervals for very large panels.
    """
    df = pl.DataFrame({"e": entry, "l": left, "r": right})
    if resolution:
        df = df.with_columns(
            (pl.col("e") / resolution).floor() * resolution,
            (pl.col("l") / resolution).floor() * resolution,
            pl.when(pl.col("r").is_infinite()).then(pl.col("r"))
            .otherwise((pl.col("r") / resolution).ceil() * resolution),
        )
    g = df.group_by("e", "l", "r").agg(pl.len().alias("w")).sort("e", "l", "r")
    return (g["e"].to_numpy(), g["l"].to_numpy(), g["r"].to_numpy(),
            g["w"].to_numpy().astype(float))
