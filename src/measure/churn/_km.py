"""Kaplan--Meier estimator with delayed entry (left truncation).

Assumptions
-----------
* Counting-process risk sets: a subject is at risk at time ``t`` when
  ``entry < t <= time`` (as in R ``survival::Surv(entry, time, event)``). An account
  that entered the panel at age ``e`` says nothing about hazards before ``e``.
* Censoring and truncation are independent of the event time (quasi-independence of
  truncation). With delayed entry the estimate is ``S(t) / S(s0)``, the survival
  conditional on surviving to the earliest entry ``s0``; it equals ``S(t)`` only when
  some accounts are watched from age 0.
* Pointwise intervals use Greenwood's variance on the complementary log-log scale
  (Kalbfleisch & Prentice 2002, sec. 1.4; the default of lifelines and of R
  ``survfit(conf.type="log-log")``).
* Greenwood's variance takes the accounts as independent. Accounts of one actor
  share their fate; with ``clusters`` (a label per account) the variance of
  ``log S(t)`` is instead the cluster-robust one of Williams (1995): the
  linearised (influence) values of the accounts, summed within clusters, squared
  and summed over clusters -- the infinitesimal-jackknife variance of R
  ``survfit(..., id=, cluster=, robust=TRUE)``. The influence of account ``i`` on
  ``log S(t)`` is ``-sum_{t_k <= t} (dN_i(t_k) - Y_i(t_k) d_k / n_k) / (n_k - d_k)``
  with ``Y_i(t_k) = 1`` when ``entry_i < t_k <= time_i``. Williams' survey form
  centres the cluster totals (here they already sum to zero) and multiplies by
  ``G / (G - 1)`` for ``G`` clusters; that factor is left out, as in R, and matters
  little with many clusters. With one account per cluster and no delayed entry
  this variance equals Greenwood's exactly; with delayed entry the two differ by a
  term of mean zero. The interval keeps the log-log form with this variance.

The product-limit estimate, the risk table, Greenwood's sum, the log-log interval
and Rubin's rules are the shared ones of :mod:`measure._stats`; this module adds
the cluster-robust variance and the multiple imputation of interval-censored
event times.

References
----------
Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete
observations. JASA 53, 457-481. Klein, J. P. & Moeschberger, M. L. (2003).
Survival Analysis, sec. 4.6 (left truncation). Williams, R. L. (1995).
Product-limit survival functions with correlated survival times. Lifetime Data
Analysis 1, 171-186.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import polars as pl

from measure._stats import kaplan_meier as _km_core
from measure._stats import loglog_interval, risk_table, rubin_pool, t_quantile
from measure.churn._imputation import (
    Imputation,
    PiecewiseHazard,
    interval_sampler,
)

#: Cap on Rubin's degrees of freedom for the ``t`` quantile of
#: :func:`km_imputed`; the quantile is a ``t`` one also where the between-imputation
#: variance is 0 (``nu`` infinite), at this cap.
MAX_DF = 1e6

#: How a curve's pointwise band is formed from what the curve keeps (see
#: :meth:`SurvivalCurve.interval`): ``"loglog"`` from the variance of ``log S``
#: (Kaplan--Meier), ``"loglog_incidence"`` from the variance of a cumulative
#: incidence ``F`` on the ``log(-log F)`` scale, ``"log"`` from the variance of a
#: cumulative hazard on the log scale (Nelson--Aalen), ``"pooled"`` from Rubin's
#: rules over imputations (:class:`PooledBand`).
BandScale = Literal["loglog", "loglog_incidence", "log", "pooled"]

__all__ = [
    "BandScale",
    "ImputedSurvival",
    "PooledBand",
    "SurvivalCurve",
    "cluster_codes",
    "clustered_log_variance",
    "imputation_variance",
    "kaplan_meier",
    "km_imputed",
    "quantile",
    "risk_table",
]


@dataclass(frozen=True)
class PooledBand:
    """Pointwise band of survival pooled over imputations, at any level.

    What :func:`km_imputed` combines by Rubin's rules on the cumulative-hazard
    scale at each time, so that the band can be formed again at another level
    without redrawing the imputations.

    Attributes
    ----------
    cumhaz
        ``Hbar``, the mean over imputations of ``-log S``.
    within, between
        ``W`` (mean within-imputation variance of ``log S``) and ``B``
        (between-imputation variance of ``-log S``).
    df
        Rubin's degrees of freedom of ``T = W + (1 + 1/m) B``.
    m
        Number of imputations.
    n_zero
        Where no imputation has an event by the time (``Hbar = 0``): the smallest
        number at risk on the way there, behind the exact one-sided bound for
        zero failures; ``0`` elsewhere.
    """

    cumhaz: np.ndarray
    within: np.ndarray
    between: np.ndarray
    df: np.ndarray
    m: int
    n_zero: np.ndarray

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval of ``S`` at ``level``.

        ``exp(-(Hbar +- t_nu sqrt(T)))`` with the upper end capped at 1 (the
        ``t`` quantile at ``min(nu, MAX_DF)``); where ``Hbar = 0`` the exact
        one-sided bound for zero failures ``[((1 - level) / 2) ** (1 / n), 1]``
        (``n`` from :attr:`n_zero`); ``[0, 0]`` where ``Hbar`` is infinite.
        """
        hbar = self.cumhaz
        tot = self.within + (1 + 1 / self.m) * self.between
        # t quantile at min(nu, MAX_DF) also where nu is infinite (no between spread)
        q = t_quantile(level, self.df, max_df=MAX_DF)
        sd = np.sqrt(tot)
        with np.errstate(invalid="ignore"):  # hbar = inf (S = 0): band [0, 0]
            lo = np.exp(-(hbar + q * sd))
            hi = np.where(np.isinf(hbar), 0.0,
                          np.minimum(1.0, np.exp(-(hbar - q * sd))))
        # no event imputed by t in any imputation: exact one-sided bound for zero
        # failures among the smallest risk set on the way (Clopper-Pearson)
        zero = hbar == 0
        if np.any(zero):
            n_min = self.n_zero[zero]
            lo[zero] = np.where(n_min > 0, ((1 - level) / 2) ** (1 / np.maximum(
                n_min, 1)), 0.0)
            hi[zero] = 1.0
        return lo, hi

    def take(self, index: slice | np.ndarray) -> PooledBand:
        """Return the band at a subset of its times."""
        return PooledBand(cumhaz=self.cumhaz[index], within=self.within[index],
                          between=self.between[index], df=self.df[index],
                          m=self.m, n_zero=self.n_zero[index])


@dataclass(frozen=True)
class SurvivalCurve:
    """A right-continuous step function with pointwise intervals.

    Attributes
    ----------
    time
        Distinct event times (sorted).
    estimate, ci_low, ci_high
        Value just after each time, and its pointwise interval.
    at_risk, events
        Number at risk and number of events at each time.
    var
        Variance of ``log S`` behind the interval (KM: Greenwood's sum ``sum d /
        (n (n - d))``, or the cluster-robust variance when the curve was fitted
        with clusters) or the variance (other curves).
    level
        Confidence level.
    entry, exit
        The sorted entry and exit times used (to count the risk set at any ``t``).
    method
        Name of the estimator.
    start
        Value before the first time (1 for survival, 0 for cumulative quantities).
    var_model
        Greenwood's sum when ``var`` is the cluster-robust variance (so both can be
        reported), else ``None``.
    n_clusters
        Number of clusters behind a cluster-robust ``var``, else ``None``.
    scale
        How the band is formed from ``var`` (:data:`BandScale`), so that
        :meth:`interval` gives it at another level; ``None`` when not known.
    pooled
        With ``scale="pooled"``, the pooled quantities behind the band.
    """

    time: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    var: np.ndarray
    level: float
    entry: np.ndarray
    exit: np.ndarray
    method: str
    start: float = 1.0
    var_model: np.ndarray | None = None
    n_clusters: int | None = None
    scale: BandScale | None = None
    pooled: PooledBand | None = None

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval at each of :attr:`time` at ``level``.

        Formed again from what the curve keeps (its :attr:`scale`), the same way
        as the stored ``ci_low`` and ``ci_high``: at :attr:`level` it gives them
        back exactly.

        Raises
        ------
        ValueError
            The curve does not say how its band was formed (``scale`` is
            ``None``).
        """
        if self.scale == "pooled" and self.pooled is not None:
            return self.pooled.interval(level)
        if self.scale == "loglog":
            return loglog_interval(self.estimate, self.var, level)
        if self.scale == "loglog_incidence":
            from measure.churn._cif import incidence_interval

            return incidence_interval(self.estimate, self.var, level)
        if self.scale == "log":
            from measure.churn._nelson_aalen import cumhaz_interval

            return cumhaz_interval(self.estimate, self.var, level)
        raise ValueError(f"the band of this curve ({self.method}) cannot be formed "
                         "at another level: it does not say how it was formed")

    def at_level(self, level: float) -> SurvivalCurve:
        """Return the curve with its pointwise band at ``level`` (:meth:`interval`)."""
        lo, hi = self.interval(level)
        return replace(self, ci_low=lo, ci_high=hi, level=level)

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Index into the step function at ``t`` (value at the last time <= t)."""
        return np.searchsorted(self.time, np.asarray(t, dtype=float), side="right") - 1

    def value(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimate and interval at time(s) ``t``."""
        i = np.atleast_1d(self.at(t))
        ok = i >= 0
        j = np.where(ok, i, 0)
        s = np.where(ok, self.estimate[j] if self.time.size else self.start,
                     self.start)
        lo = np.where(ok, self.ci_low[j] if self.time.size else self.start, self.start)
        hi = np.where(ok, self.ci_high[j] if self.time.size else self.start,
                      self.start)
        return s, lo, hi

    def n_at_risk(self, t: float | np.ndarray) -> np.ndarray:
        """Count the subjects at risk at ``t`` (``entry < t <= exit``)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return (np.searchsorted(self.entry, t, side="left")
                - np.searchsorted(self.exit, t, side="left"))

    def to_polars(self) -> pl.DataFrame:
        """Return the curve as a table (time, estimate, CI, at_risk, events)."""
        return pl.DataFrame({
            "time": self.time, "estimate": self.estimate, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "at_risk": self.at_risk, "events": self.events,
        })


def cluster_codes(clusters: np.ndarray) -> np.ndarray:
    """Integer codes ``0..G-1`` of cluster labels; missing labels count alone.

    ``None`` and ``NaN`` each get a cluster of their own (an account with no known
    actor is treated as independent of all others).
    """
    arr = np.asarray(clusters)
    if arr.ndim != 1:
        raise ValueError("clusters must be one label per subject")
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
    elif arr.dtype.kind == "O":
        missing = np.fromiter((v is None or (isinstance(v, float) and v != v)
                               for v in arr), dtype=bool, count=arr.size)
    else:
        missing = np.zeros(arr.size, dtype=bool)
    codes = np.empty(arr.size, dtype=np.int64)
    present = ~missing
    if np.any(present):
        _, inv = np.unique(arr[present], return_inverse=True)
        codes[present] = inv
        start = int(inv.max()) + 1 if inv.size else 0
    else:
        start = 0
    codes[missing] = start + np.arange(int(missing.sum()))
    return codes


def clustered_log_variance(entry: np.ndarray, time: np.ndarray, event: np.ndarray,
                           clusters: np.ndarray,
                           table: tuple[np.ndarray, np.ndarray, np.ndarray]
                           | None = None) -> np.ndarray:
    """Cluster-robust variance of ``log S`` at each event time (Williams 1995).

    ``V(t) = sum_c (sum_{i in c} u_i(t))^2`` with the influence values ``u_i(t)``
    of the module docstring. Each ``u_i`` is ``0`` before entry, ``G(t) -
    G(entry_i)`` while at risk and a constant after exit (``G`` the cumulative sum
    of ``d / (n (n - d))``), so a cluster total is ``A_c + B_c G(t)`` with ``A_c,
    B_c`` changing only at its members' entries and exits; ``V(t) = sum A_c^2 + 2
    G(t) sum A_c B_c + G(t)^2 sum B_c^2`` is then built from the changes of the
    three sums at those ``2 n`` points: ``O(n log n)``, no ``n x times`` matrix.
    Event times where everyone at risk fails (``n = d``) add nothing, as in
    Greenwood's sum.

    Parameters
    ----------
    entry, time, event
        As for :func:`kaplan_meier`.
    clusters
        A label per subject (see :func:`cluster_codes`).
    table
        ``(t, d, n)`` from :func:`risk_table` for the same subjects, if computed.
    """
    entry = np.asarray(entry, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    t, d, n = table if table is not None else risk_table(entry, time, event)[:3]
    k = t.size
    if k == 0:
        return np.zeros(0)
    m = n - d
    ok = m > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(ok, d / (n * m), 0.0)
        jump = np.where(ok, 1.0 / m, 0.0)
    gc = np.concatenate([[0.0], np.cumsum(g)])  # gc[j]: sum over the first j times
    a = np.searchsorted(t, entry, side="right")  # first event time > entry
    b = np.searchsorted(t, time, side="left")  # first event time >= exit
    at_b = np.zeros(time.size, dtype=bool)  # exit is itself an event time
    inside = b < k
    at_b[inside] = t[b[inside]] == time[inside]
    g_entry = gc[a]
    g_exit = gc[b + at_b]  # sum over event times <= exit
    own = np.where(event, jump[np.minimum(b, k - 1)], 0.0)
    codes = cluster_codes(clusters)
    nn = time.size
    # rows: entry (A -= G(entry), B += 1) and exit (A += G(exit) - jump, B -= 1)
    idx = np.concatenate([a, b])
    cl = np.concatenate([codes, codes])
    da = np.concatenate([-g_entry, g_exit - own])
    db = np.concatenate([np.ones(nn), -np.ones(nn)])
    o = np.argsort(cl * np.int64(k + 1) + idx, kind="stable")  # by cluster, time
    idx, cl, da, db = idx[o], cl[o], da[o], db[o]
    new = np.concatenate([[True], cl[1:] != cl[:-1]])
    seg = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ca, cb = np.cumsum(da), np.cumsum(db)
    base_a = np.concatenate([[0.0], ca])[starts][seg]
    base_b = np.concatenate([[0.0], cb])[starts][seg]
    av, bv = ca - base_a, cb - base_b  # cluster totals after each row
    pa = np.where(new, 0.0, np.concatenate([[0.0], av[:-1]]))
    pb = np.where(new, 0.0, np.concatenate([[0.0], bv[:-1]]))
    s_aa = np.cumsum(np.bincount(idx, av * av - pa * pa, minlength=k + 1))[:k]
    s_ab = np.cumsum(np.bincount(idx, av * bv - pa * pb, minlength=k + 1))[:k]
    s_bb = np.cumsum(np.bincount(idx, bv * bv - pb * pb, minlength=k + 1))[:k]
    gt = gc[1:]
    return np.maximum(s_aa + 2 * gt * s_ab + gt * gt * s_bb, 0.0)


def kaplan_meier(entry: np.ndarray, time: np.ndarray, event: np.ndarray, *,
                 level: float = 0.95,
                 presorted: tuple[np.ndarray, np.ndarray] | None = None,
                 clusters: np.ndarray | None = None) -> SurvivalCurve:
    """Kaplan--Meier survival with delayed entry and log-log Greenwood intervals.

    Parameters
    ----------
    entry
        Time each subject enters the risk set (0 if watched from the origin).
    time
        Exit time (event or censoring).
    event
        True where the exit is the event.
    level
        Confidence level of the pointwise intervals.
    presorted
        See :func:`risk_table`.
    clusters
        A label per subject (e.g. the actor running the account); the interval
        then uses the cluster-robust variance of ``log S``
        (:func:`clustered_log_variance`, Williams 1995) instead of Greenwood's,
        which stays in ``var_model``. Missing labels count as clusters of one.
    """
    km = _km_core(time, event, entry=entry, presorted=presorted)
    t, d, n, s, g = km.time, km.events, km.at_risk, km.survival, km.greenwood
    greenwood = None
    n_clusters = None
    method = "Kaplan-Meier (delayed entry), log-log Greenwood CI"
    if clusters is not None:
        if len(clusters) != len(time):
            raise ValueError("clusters must have one label per subject")
        greenwood = g
        g = clustered_log_variance(entry, time, event, clusters, (t, d, n))
        n_clusters = int(cluster_codes(clusters).max()) + 1 if len(time) else 0
        method = ("Kaplan-Meier (delayed entry), log-log CI with the cluster-robust "
                  f"variance (Williams 1995) over {n_clusters} clusters")
    lo, hi = loglog_interval(s, g, level)
    return SurvivalCurve(time=t, estimate=s, ci_low=lo, ci_high=hi, at_risk=n,
                         events=d, var=g, level=level, entry=km.entry, exit=km.exit,
                         method=method, var_model=greenwood, n_clusters=n_clusters,
                         scale="loglog")


def quantile(curve: SurvivalCurve, p: float = 0.5) -> tuple[float, float, float]:
    """Time at which survival first drops to ``1 - p`` or below, with its interval.

    The interval inverts the pointwise bands (Brookmeyer & Crowley 1982, with the
    log-log transform): low = first time the lower band is <= 1 - p, high = first
    time the upper band is <= 1 - p (``nan`` when it never is).
    """
    target = 1.0 - p

    def first(arr: np.ndarray) -> float:
        idx = np.flatnonzero(arr <= target + 1e-12)
        return float(curve.time[idx[0]]) if idx.size else float("nan")

    return first(curve.estimate), first(curve.ci_low), first(curve.ci_high)


def imputation_variance(entry: np.ndarray, left: np.ndarray, right: np.ndarray,
                        event: np.ndarray, times: np.ndarray, *, m: int = 10,
                        seed: int = 0, max_n: int = 200_000,
                        imputation: Imputation = "uniform") -> np.ndarray:
    """Between-imputation variance of ``log(-log S(t))`` from the look-up spacing.

    The midpoint puts each event at the centre of its look-up interval
    ``(left, right]``; the exact time could be anywhere inside it. Drawing the
    exit time uniformly inside each interval ``m`` times (rows with ``right =
    inf`` keep ``left``) and refitting gives the spread of the curve that comes
    from the spacing alone; adding ``(1 + 1/m)`` times that spread to Greenwood's
    variance is Rubin's rule for multiple imputation (Pan 2000 uses the same idea
    for interval-censored Cox models). The point estimate stays the midpoint
    curve (the mean of the uniform draws).

    Above ``max_n`` subjects the spread is computed on a simple random subsample
    of ``max_n`` and scaled by ``max_n / n`` (the variance of a product-limit
    estimate scales as ``1 / n``).

    With ``imputation="density"`` the times are drawn instead from the hazard
    fitted to the (subsampled) intervals, with a parameter draw per imputation
    (as in :func:`km_imputed`).

    Returns the variance at each of ``times`` (0 where ``S`` is 0 or 1).

    References
    ----------
    Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
    Pan, W. (2000). A multiple imputation approach to Cox regression with
    interval-censored data. Biometrics 56, 199-203.
    """
    rng = np.random.default_rng(seed)
    scale = 1.0
    if entry.size > max_n:
        pick = rng.choice(entry.size, size=max_n, replace=False)
        scale = max_n / entry.size
        entry, left, right, event = entry[pick], left[pick], right[pick], event[pick]
    finite = np.isfinite(right)
    draw, _ = interval_sampler(entry, left, right, event, finite,
                               imputation=imputation)
    vals = np.empty((m, times.size))
    t = left.copy()
    for k in range(m):
        t[finite] = draw(rng)
        t = np.maximum(t, np.nextafter(entry, np.inf))
        c = kaplan_meier(entry, t, event)
        s = c.value(times)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            vals[k] = np.where((s > 0) & (s < 1), np.log(-np.log(s)), np.nan)
    with warnings.catch_warnings():  # all-NaN columns where S is 0 or 1
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.nanvar(vals, axis=0, ddof=1) if m > 1 else np.zeros(times.size)
    return np.nan_to_num(var) * scale


@dataclass(frozen=True)
class ImputedSurvival:
    """Kaplan--Meier combined over imputations of interval-censored event times.

    Attributes
    ----------
    times
        Times at which survival is reported.
    estimate, ci_low, ci_high
        Combined survival ``exp(-Hbar)`` and its pointwise interval.
    cumhaz, within, between
        ``Hbar`` (mean over imputations of ``-log S``), the mean Greenwood
        variance of ``log S`` and the between-imputation variance of ``-log S``.
    df
        Rubin's degrees of freedom of the total variance at each time.
    m
        Number of imputations.
    imputation
        ``"density"`` or ``"uniform"``: how the event times were drawn.
    closed_share
        Share of the imputed suspensions in ``(start, t]`` (``start`` the
        conditioning age, else the earliest entry) whose look-up interval closes
        by ``t``: the share the look-ups themselves place before ``t``. The rest
        lie in intervals that straddle ``t`` and are counted before ``t`` only
        by the imputation model. ``1`` where nothing is imputed by ``t``.
    early, late
        Survival with every suspension placed at the start (just after
        ``max(left, entry)``) or at the end (``right``) of its interval: the
        range that the intervals allow without any assumption on where inside
        them the events fall.
    hazard
        The fitted hazard behind density draws (else ``None``).
    band
        What the pointwise interval is formed from (:class:`PooledBand`), to
        form it at another level.
    """

    times: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    cumhaz: np.ndarray
    within: np.ndarray
    between: np.ndarray
    df: np.ndarray
    m: int
    imputation: str = "uniform"
    closed_share: np.ndarray | None = None
    early: np.ndarray | None = None
    late: np.ndarray | None = None
    hazard: PiecewiseHazard | None = None
    band: PooledBand | None = None


def km_imputed(entry: np.ndarray, left: np.ndarray, right: np.ndarray,
               event: np.ndarray, times: np.ndarray, *, m: int = 20, seed: int = 0,
               level: float = 0.95, clusters: np.ndarray | None = None,
               condition_at: float | None = None,
               imputation: Imputation = "density",
               hazard: PiecewiseHazard | None = None) -> ImputedSurvival:
    """Kaplan--Meier with event times multiply imputed inside look-up intervals.

    Each suspension is known only to lie in ``(left, right]`` (the last alive and
    the first suspended look-up). Each of ``m`` imputations draws every event time
    inside its interval, refits the Kaplan--Meier curve with delayed entry, and
    the fits are combined by Rubin's rules on the cumulative-hazard scale ``H =
    -log S``: the point estimate is the mean ``Hbar``, the total variance ``T = W
    + (1 + 1/m) B`` (``W`` the mean
    Greenwood variance, ``B`` the between-imputation variance), and the interval
    is formed on that scale, ``S = exp(-(Hbar +- t_nu sqrt(T)))`` (upper end
    capped at 1; the "log" interval, R ``survfit``'s default), with Rubin's
    degrees of freedom ``nu = (m - 1) (1 + W / ((1 + 1/m) B))**2``. The log-log
    interval is not used here: just past the earliest entries the cumulative
    hazard is small and poorly determined (a few imputed events), and on the
    log-log scale its interval then spans nearly ``[0, 1]``. Where no imputation
    has an event by ``t``, the interval is the exact one-sided bound for zero
    failures, ``[((1 - level) / 2) ** (1 / n), 1]``, with ``n`` the smallest
    number at risk on the way to ``t``.

    Unlike the midpoint curve with a band widened around it, the imputed curves
    put some events before a reported day whenever an interval straddles it, so
    survival just after the earliest entries is not set to exactly 1 with a
    zero-width band when no midpoint falls there.

    How the times are drawn (``imputation``):

    * ``"density"`` (default): from a piecewise-constant hazard fitted to all
      intervals with delayed entry, restricted to ``(max(left, entry), right]``;
      each imputation first draws the hazard's parameters from the normal
      approximation of their posterior, so that the imputation is proper (Pan
      2000; see :mod:`measure.churn._imputation`). ``hazard`` passes a fit
      already made on the same subjects.
    * ``"uniform"``: uniformly inside each interval (a locally constant event
      density between two look-ups).

    Rows with ``right = inf`` (right-censored) keep ``left`` as their exit. An
    imputed exit is kept just after ``entry``.

    With ``clusters`` (a label per subject) the within-imputation variance ``W``
    is the mean cluster-robust variance (:func:`clustered_log_variance`) instead
    of Greenwood's.

    With ``condition_at = a0`` every imputed data set is conditioned on its own
    draws: a subject whose imputed event falls at or before ``a0`` has left before
    the curve starts and is dropped from that imputation, the others enter at
    ``max(entry, a0)``. Pass every subject whose interval reaches past ``a0``
    (``right > a0`` for events, exit ``> a0`` when censored) with its full
    interval, so that the share of an interval before ``a0`` is drawn, not
    assumed away.

    References
    ----------
    Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
    Pan, W. (2000). A multiple imputation approach to Cox regression with
    interval-censored data. Biometrics 56, 199-203. Williams, R. L. (1995).
    Product-limit survival functions with correlated survival times. Lifetime
    Data Analysis 1, 171-186. Law, C. G. & Brookmeyer, R.
    (1992). Effects of mid-point imputation on the analysis of doubly censored
    data. Statistics in Medicine 11, 1569-1578.
    """
    if imputation not in ("density", "uniform"):
        raise ValueError(f"invalid value {imputation!r} for option 'imputation'; "
                         "valid values are: 'density', 'uniform'")
    rng = np.random.default_rng(seed)
    times = np.asarray(times, dtype=float)
    entry = np.asarray(entry, dtype=float)
    left = np.asarray(left, dtype=float)
    right = np.asarray(right, dtype=float)
    event = np.asarray(event, dtype=bool)
    finite = np.isfinite(right) & event
    draw, fit = interval_sampler(entry, left, right, event, finite,
                                 imputation=imputation, hazard=hazard)
    lo_d = np.maximum(left[finite], entry[finite])
    r_fin = right[finite]
    h = np.empty((m, times.size))
    g = np.empty((m, times.size))
    n_all = np.zeros(times.size)
    n_closed = np.zeros(times.size)
    t = left.astype(float).copy()
    after = np.nextafter(entry, np.inf)
    if condition_at is not None:
        entry = np.maximum(entry, condition_at)
        after = np.nextafter(entry, np.inf)

    def refit(tt: np.ndarray) -> SurvivalCurve:
        if condition_at is None:
            return kaplan_meier(entry, np.maximum(tt, after), event,
                                clusters=clusters)
        keep = tt > condition_at
        return kaplan_meier(entry[keep], np.maximum(tt[keep], after[keep]),
                            event[keep],
                            clusters=None if clusters is None else clusters[keep])

    start = -np.inf if condition_at is None else condition_at
    for k in range(m):
        t[finite] = draw(rng)
        c = refit(t)
        s = c.value(times)[0]
        i = c.at(times)
        with np.errstate(divide="ignore"):
            h[k] = -np.log(s)
        g[k] = np.where(i >= 0, c.var[np.maximum(i, 0)] if c.time.size else 0.0,
                        0.0)
        kept = t[finite] > start
        n_all += np.searchsorted(np.sort(t[finite][kept]), times, side="right")
        n_closed += np.searchsorted(np.sort(r_fin[kept]), times, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        closed = np.where(n_all > 0, n_closed / n_all, 1.0)
    t_early, t_late = left.astype(float).copy(), left.astype(float).copy()
    t_early[finite] = np.nextafter(lo_d, np.inf)
    t_late[finite] = r_fin
    early = refit(t_early).value(times)[0]
    late = refit(t_late).value(times)[0]
    pooled = rubin_pool(h, g)
    hbar, w, b, nu = (np.asarray(pooled.estimate), np.asarray(pooled.within),
                      np.asarray(pooled.between), np.asarray(pooled.df))
    est = np.exp(-hbar)
    zero = hbar == 0
    n_zero = np.zeros(times.size, dtype=np.int64)
    if np.any(zero):
        n_zero[zero] = _min_at_risk(entry, np.where(finite, right, left), times[zero])
    band = PooledBand(cumhaz=hbar, within=w, between=b, df=nu, m=m, n_zero=n_zero)
    lo_, hi_ = band.interval(level)
    return ImputedSurvival(times=times, estimate=est, ci_low=lo_, ci_high=hi_,
                           cumhaz=hbar, within=w, between=b, df=nu, m=m,
                           imputation="uniform" if fit is None else "density",
                           closed_share=closed, early=early, late=late, hazard=fit,
                           band=band)


def _min_at_risk(entry: np.ndarray, exit_: np.ndarray, times: np.ndarray
                 ) -> np.ndarray:
    """Smallest number at risk (``entry < u <= exit``) over ``(min entry, t]``."""
    se, sx = np.sort(entry), np.sort(exit_)
    pts = np.unique(np.concatenate([se, sx]))
    u = np.nextafter(pts, np.inf)  # just after each change point
    n = (np.searchsorted(se, u, side="left") - np.searchsorted(sx, u, side="left"))
    out = np.empty(times.size, dtype=np.int64)
    for j, t in enumerate(times):
        k = (u > se[0]) & (u <= t) if se.size else np.zeros(0, bool)
        out[j] = int(n[k].min()) if np.any(k) else 0
    return out
