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


def median_range(fit: TurnbullFit, p: float = 0.5) -> tuple[float, float]:
    """Range ``(low, high)`` of the ``p`` quantile of the NPMLE.

    The cumulative mass first reaches ``p`` in one innermost interval
    ``(left_j, right_j]``; the NPMLE does not say where inside it, so the quantile
    is anywhere in ``[left_j, right_j]``. ``(nan, nan)`` when it never does.
    """
    cm = np.cumsum(fit.mass)
    j = np.flatnonzero(cm >= p - 1e-12)
    if not j.size:
        return float("nan"), float("nan")
    return float(fit.left[j[0]]), float(fit.right[j[0]])


@dataclass(frozen=True)
class TurnbullBand:
    """Turnbull survival at fixed days and the median, with bootstrap intervals.

    Attributes
    ----------
    days
        Times at which survival is reported.
    estimate
        Middle of the NPMLE range of ``S`` at each day.
    low, high
        The NPMLE range of ``S`` at each day (equal unless the day falls inside an
        innermost interval).
    ci_low, ci_high
        Percentile bootstrap interval: the ``(1 - level) / 2`` quantile of the
        replicates' ``low`` and the ``(1 + level) / 2`` quantile of their ``high``.
    median, median_range, median_ci
        Middle of the median's NPMLE range, the range, and its percentile
        bootstrap interval (same rule: quantiles of the range ends).
    replicates, seed, level
        Bootstrap resamples used, the seed, the confidence level.
    n_failed
        Replicates whose EM did not reach its tolerance (kept).
    median_reps
        ``(replicates, 2)``: each replicate's median NPMLE range (``inf`` when
        the replicate never reaches it), behind ``median_ci`` at any level
        (:meth:`median_interval`); ``None`` without a bootstrap.
    """

    days: np.ndarray
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    median: float
    median_range: tuple[float, float]
    median_ci: tuple[float, float]
    replicates: int
    seed: int
    level: float
    n_failed: int = 0
    median_reps: np.ndarray | None = None

    def median_interval(self, level: float) -> tuple[float, float]:
        """Percentile bootstrap interval of the median at ``level``.

        The ``(1 - level) / 2`` order statistic of the replicates' lower range
        ends and the ``(1 + level) / 2`` one of their upper ends (no
        interpolation: some replicates may never reach the median); an end
        beyond every replicate's reach is ``nan``, as is the interval without
        a bootstrap.
        """
        if self.median_reps is None:
            return (np.nan, np.nan)
        return _median_ci(self.median_reps[:, 0], self.median_reps[:, 1], level)


def _median_ci(mlo: np.ndarray, mhi: np.ndarray, level: float
               ) -> tuple[float, float]:
    q = (1 - level) / 2
    mci = [float(np.quantile(mlo, q, method="lower")),
           float(np.quantile(mhi, 1 - q, method="higher"))]
    return (mci[0] if np.isfinite(mci[0]) else np.nan,
            mci[1] if np.isfinite(mci[1]) else np.nan)


def turnbull_band(left: np.ndarray, right: np.ndarray, entry: np.ndarray,
                  weights: np.ndarray, days: np.ndarray, *, replicates: int = 200,
                  seed: int = 0, level: float = 0.95, tol: float = 1e-6,
                  max_iter: int = 5_000, fit: TurnbullFit | None = None
                  ) -> TurnbullBand:
    """Turnbull NPMLE at ``days`` and its median, with a bootstrap over accounts.

    Each replicate draws as many accounts as the data hold, with replacement (a
    multinomial draw over the collapsed rows with probabilities ``weights /
    sum(weights)``, which is the same thing), refits the NPMLE with delayed entry
    (started from the full-sample masses) and records the NPMLE range of ``S`` at
    each day and of the median. The interval takes the lower quantile of the
    replicates' lower range ends and the upper quantile of their upper ends, so the
    non-uniqueness of the NPMLE inside innermost intervals widens the band rather
    than being hidden by an arbitrary choice (the point estimate is the middle of
    the full-sample range).

    The nonparametric bootstrap of the interval-censored NPMLE at a fixed time is
    consistent when the inspection gaps are bounded away from zero (weekly
    look-ups), where the NPMLE converges at the usual root-n rate (Groeneboom &
    Wellner 1992, part II; Huang 1996); with continuous ages of look-up across
    accounts, ``S`` is identified at every age beyond the earliest entry.

    Parameters
    ----------
    left, right, entry, weights
        Collapsed rows as returned by :func:`collapse` (``right = inf`` when
        right-censored), ``left >= entry`` and ``right > left``.
    days
        Times at which to report survival.
    replicates
        Bootstrap resamples (``0``: no interval, ``nan`` bounds).
    seed
        Seed of the resampling (results are reproducible).
    level
        Confidence level.
    tol, max_iter
        EM stopping rule of the bootstrap refits (the full-sample fit, when not
        given, uses ``min(tol, 1e-8)``).
    fit
        The full-sample fit, if already computed.

    References
    ----------
    Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13.
    Groeneboom, P. & Wellner, J. A. (1992). Information Bounds and Nonparametric
    Maximum Likelihood Estimation. Birkhauser. Huang, J. (1996). Efficient
    estimation for the proportional hazards model with interval censoring. Ann.
    Statist. 24, 540-568.
    """
    days = np.asarray(days, dtype=float)
    w = np.asarray(weights, dtype=float)
    left = np.asarray(left, dtype=float)
    right = np.asarray(right, dtype=float)
    entry = np.asarray(entry, dtype=float)
    if fit is None:
        if np.any(np.isfinite(right)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                fit = turnbull(left, right, entry, w, tol=min(tol, 1e-8),
                               max_iter=max_iter)
        else:  # no event: S = 1 throughout
            fit = TurnbullFit(left=np.empty(0), right=np.empty(0), mass=np.empty(0),
                              iterations=0, converged=True, loglik=0.0,
                              n=float(w.sum()))
    lo0, hi0 = fit.survival(days)
    med0 = median_range(fit)
    nan = np.full(days.size, np.nan)
    if replicates <= 0 or w.sum() <= 0 or fit.mass.size == 0:
        return TurnbullBand(days=days, estimate=(lo0 + hi0) / 2, low=lo0, high=hi0,
                            ci_low=nan, ci_high=nan, median=float(np.mean(med0)),
                            median_range=med0, median_ci=(np.nan, np.nan),
                            replicates=0, seed=seed, level=level)
    rng = np.random.default_rng(seed)
    n = int(round(w.sum()))
    counts = rng.multinomial(n, w / w.sum(), size=replicates).astype(float)
    lows = np.empty((replicates, days.size))
    highs = np.empty((replicates, days.size))
    mlo = np.empty(replicates)
    mhi = np.empty(replicates)
    failed = 0
    for a in range(0, replicates, BOOTSTRAP_CHUNK):
        cw = counts[a:a + BOOTSTRAP_CHUNK]
        fits, ok = _turnbull_many(left, right, entry, cw, fit, tol=tol,
                                  max_iter=max_iter)
        failed += int((~ok).sum())
        for r, f in enumerate(fits):
            lows[a + r], highs[a + r] = f.survival(days)
            mlo[a + r], mhi[a + r] = median_range(f)
    q = (1 - level) / 2
    # a median never reached in a replicate is beyond the data: +inf for the quantile
    mlo = np.where(np.isnan(mlo), np.inf, mlo)
    mhi = np.where(np.isnan(mhi), np.inf, mhi)
    return TurnbullBand(
        days=days, estimate=(lo0 + hi0) / 2, low=lo0, high=hi0,
        ci_low=np.quantile(lows, q, axis=0), ci_high=np.quantile(highs, 1 - q,
                                                                    axis=0),
        median=float(np.mean(med0)), median_range=med0,
        median_ci=_median_ci(mlo, mhi, level), replicates=replicates, seed=seed,
        level=level, n_failed=failed, median_reps=np.column_stack([mlo, mhi]))


#: Replicates fitted at once by :func:`_turnbull_many` (memory: chunk x rows).
BOOTSTRAP_CHUNK = 50


def _turnbull_many(left: np.ndarray, right: np.ndarray, entry: np.ndarray,
                   counts: np.ndarray, fit: TurnbullFit, *, tol: float,
                   max_iter: int) -> tuple[list[TurnbullFit], np.ndarray]:
    """Fit the NPMLE for many frequency-weight vectors at once (rows of ``counts``).

    The same self-consistency (EM) step as :func:`turnbull`, vectorised over the
    replicates (each on its own innermost intervals, padded to a common length
    with intervals no observation covers, which keep mass zero) and accelerated
    by SQUAREM per replicate; each starts from the full-sample masses mapped onto
    its intervals and mixed 9:1 with the uniform distribution, as
    :func:`turnbull` does with ``start``. Returns the fits and whether each
    reached ``tol``.
    """
    nrep, nrow = counts.shape
    sup = [innermost_intervals(left[wr > 0], right[wr > 0]) for wr in counts]
    sizes = np.array([q.size for q, _ in sup])
    mm = int(sizes.max())
    a = np.empty((nrep, nrow), np.int64)
    b = np.empty((nrep, nrow), np.int64)
    c = np.empty((nrep, nrow), np.int64)
    x = np.zeros((nrep, mm))
    for r, (q, p) in enumerate(sup):
        a[r] = np.searchsorted(q, left, side="left")
        b[r] = np.searchsorted(p, right, side="right") - 1
        c[r] = np.searchsorted(q, entry, side="left")
        j = np.clip(np.searchsorted(p, fit.right, side="left"), 0, q.size - 1)
        x0 = np.bincount(j, weights=fit.mass, minlength=q.size)
        x0 = x0 / x0.sum() if x0.sum() > 0 else np.full(q.size, 1.0 / q.size)
        x[r, :q.size] = 0.9 * x0 + 0.1 / q.size
    w = counts
    truncated = bool(np.any(c > 0))
    # per-replicate bincounts as one flat bincount (no BLAS: its threads stall
    # on busy machines for such small products)
    base = (np.arange(nrep) * (mm + 1))[:, None]
    fa, fb, fc = (base + a).ravel(), (base + b + 1).ravel(), (base + c).ravel()
    rows = np.arange(nrep)[:, None]

    def scatter(idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=vals.ravel(),
                           minlength=nrep * (mm + 1)).reshape(nrep, mm + 1)

    def cums(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)],
                              axis=1)

    def loglik(x: np.ndarray) -> np.ndarray:
        cx = cums(x)
        num = cx[rows, b + 1] - cx[rows, a]
        den = 1.0 - cx[rows, c]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(w > 0, w * (np.log(num) - np.log(den)), 0.0)
        return t.sum(axis=1)

    def step(x: np.ndarray) -> np.ndarray:
        cx = cums(x)
        sa = cx[rows, b + 1] - cx[rows, a]
        ua = np.where((sa > 0) & (w > 0), w / np.where(sa > 0, sa, 1.0), 0.0)
        diff = scatter(fa, ua) - scatter(fb, ua)
        out = x * np.cumsum(diff, axis=1)[:, :mm]
        if truncated:
            sb = 1.0 - cx[rows, c]
            ub = np.where((sb > 0) & (w > 0), w / np.where(sb > 0, sb, 1.0), 0.0)
            ghost = scatter(fc, ub)
            tail = np.cumsum(ghost[:, ::-1], axis=1)[:, ::-1]
            out = out + x * tail[:, 1:mm + 1]
        tot = out.sum(axis=1, keepdims=True)
        return np.where(tot > 0, out / np.where(tot > 0, tot, 1.0), x)

    done = np.zeros(nrep, dtype=bool)
    it = 0
    while it < max_iter and not done.all():
        x1 = step(x)
        x2 = step(x1)
        r_ = x1 - x
        v = x2 - x1 - r_
        nr = np.sqrt((r_ * r_).sum(axis=1, keepdims=True))
        nv = np.sqrt((v * v).sum(axis=1, keepdims=True))
        alpha = np.minimum(-nr / np.where(nv > 0, nv, 1.0), -1.0)
        xs = np.clip(x - 2 * alpha * r_ + alpha * alpha * v, 0.0, None)
        xs = step(xs / np.maximum(xs.sum(axis=1, keepdims=True), 1e-300))
        use_s = (nv[:, 0] > 0) & (loglik(xs) >= loglik(x2))
        xn = np.where(use_s[:, None], xs, x2)
        delta = np.abs(xn - x).max(axis=1)
        x = np.where(done[:, None], x, xn)
        done |= delta < tol
        it += 3
    fits = [TurnbullFit(left=q, right=p, mass=x[r, :q.size], iterations=it,
                        converged=bool(done[r]), loglik=float("nan"),
                        n=float(counts[r].sum()))
            for r, (q, p) in enumerate(sup)]
    return fits, done
