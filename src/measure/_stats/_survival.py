"""Kaplan-Meier estimator with optional delayed entry and Greenwood's variance.

Risk sets follow the counting-process convention: a subject is at risk at time
``t`` when ``entry < t <= time`` (R ``survival::Surv(entry, time, event)``);
without delayed entry every subject is at risk from the origin, so events at a
time are counted before censorings at the same time. The estimate is
``S(t) = prod_{t_k <= t} (1 - d_k / n_k)`` (Kaplan & Meier 1958); with delayed
entry it is the survival conditional on surviving to the earliest entry (Klein &
Moeschberger 2003, sec. 4.6). Greenwood's formula gives the variance of
``log S(t)`` as ``sum_{t_k <= t} d_k / (n_k (n_k - d_k))`` (Greenwood 1926).

References
----------
* Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete
  observations. *JASA* 53, 457-481.
* Greenwood, M. (1926). *The Natural Duration of Cancer*. Reports on Public Health
  and Medical Subjects 33, HMSO.
* Klein, J. P. & Moeschberger, M. L. (2003). *Survival Analysis*, 2nd ed., sec. 4.6
  (left truncation).
* Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure
  Time Data*, 2nd ed., sec. 1.4 (log-log interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

#: What Greenwood's term is at a time where every subject at risk has the event
#: (``n_k = d_k``, where ``d / (n (n - d))`` divides by zero).
Exhausted = Literal["skip", "infinite"]


def risk_table(entry: np.ndarray | None, time: np.ndarray, event: np.ndarray,
               weights: np.ndarray | None = None, *,
               presorted: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct event times, events and number at risk (counting-process risk sets).

    Parameters
    ----------
    entry
        Time each subject enters the risk set, or ``None``: every subject is at
        risk from the origin (no delayed entry).
    time
        Exit time (event or censoring).
    event
        True where the exit is the event.
    weights
        Case weights (default 1).
    presorted
        ``(sorted(entry), sorted(time))`` already computed for the same subjects
        (saves two sorts when several curves share them); ``entry`` must be given.

    Returns
    -------
    (t, d, n, sorted_entry, sorted_exit)
        Event times, (weighted) events and number at risk at each, and the sorted
        entry and exit times (``sorted_entry`` is empty without delayed entry).

    Raises
    ------
    ValueError
        When a subject enters after it exits.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    w = np.ones_like(time) if weights is None else np.asarray(weights, dtype=float)
    t_ev, inv = np.unique(time[event], return_inverse=True)
    d = np.bincount(inv, weights=w[event], minlength=t_ev.size)
    if entry is None:
        sx = np.sort(time)
        if weights is None:
            n = time.size - np.searchsorted(sx, t_ev, side="left").astype(float)
        else:
            cx = np.concatenate([[0.0], np.cumsum(w[np.argsort(time)])])
            n = cx[-1] - cx[np.searchsorted(sx, t_ev, side="left")]
        return t_ev, d, n, np.zeros(0), sx
    entry = np.asarray(entry, dtype=float)
    if presorted is None and np.any(entry > time):
        raise ValueError("entry time after exit time for some subjects")
    se, sx = presorted if presorted is not None else (np.sort(entry), np.sort(time))
    if weights is None:
        n = (np.searchsorted(se, t_ev, side="left")
             - np.searchsorted(sx, t_ev, side="left")).astype(float)
    else:
        oe, ox = np.argsort(entry), np.argsort(time)
        ce = np.concatenate([[0.0], np.cumsum(w[oe])])
        cx = np.concatenate([[0.0], np.cumsum(w[ox])])
        n = ce[np.searchsorted(se, t_ev, side="left")] - cx[
            np.searchsorted(sx, t_ev, side="left")]
    return t_ev, d, n, se, sx


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve with Greenwood's variance components.

    Attributes
    ----------
    time
        Distinct event times (sorted).
    survival
        ``S`` just after each time.
    at_risk, events
        Number at risk and number of events at each time.
    greenwood
        Greenwood's cumulative sum ``sum d / (n (n - d))``: the variance of
        ``log S`` just after each time.
    n
        Number of subjects.
    entry, exit
        Sorted entry times (empty without delayed entry) and exit times.
    """

    time: np.ndarray
    survival: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    greenwood: np.ndarray
    n: int
    entry: np.ndarray
    exit: np.ndarray

    def index(self, t: float | np.ndarray) -> np.ndarray:
        """Index of the last event time ``<= t`` (``-1`` before the first)."""
        return np.searchsorted(self.time, np.asarray(t, dtype=float), side="right") - 1

    def at(self, t: float) -> tuple[float, float, float]:
        """``(S(t), Greenwood sum at t, number still at risk after the last event)``.

        Before the first event time: ``(1, 0, n)``. The third value is
        ``n_k - d_k`` at the last event time ``t_k <= t``.
        """
        i = int(self.index(t))
        if i < 0:
            return 1.0, 0.0, float(self.n)
        return (float(self.survival[i]), float(self.greenwood[i]),
                float(self.at_risk[i] - self.events[i]))

    def loglog_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise log-log limits of ``S`` just after each event time.

        See :func:`loglog_interval`.
        """
        return loglog_interval(self.survival, self.greenwood, level)


def kaplan_meier(time: np.ndarray, event: np.ndarray, *,
                 entry: np.ndarray | None = None,
                 weights: np.ndarray | None = None,
                 presorted: tuple[np.ndarray, np.ndarray] | None = None,
                 exhausted: Exhausted = "skip") -> KaplanMeier:
    """Kaplan-Meier survival with optional delayed entry and Greenwood's sum.

    Parameters
    ----------
    time
        Exit time of each subject (event or censoring).
    event
        True where the exit is the event.
    entry
        Delayed entry (left truncation): time each subject enters the risk set;
        ``None`` when every subject is watched from the origin.
    weights
        Case weights (default 1).
    presorted
        See :func:`risk_table`.
    exhausted
        Greenwood's term at a time where every subject at risk has the event
        (``n = d``): ``"skip"`` adds nothing (the variance of ``log S`` stays
        finite, as R ``survfit`` reports it up to such a time); ``"infinite"``
        makes the variance infinite from that time on (``log S = -inf``).

    Returns
    -------
    KaplanMeier
    """
    if exhausted not in ("skip", "infinite"):
        raise ValueError(f"invalid value {exhausted!r} for option 'exhausted'; "
                         "valid values are: 'skip', 'infinite'")
    t, d, n, se, sx = risk_table(entry, time, event, weights, presorted=presorted)
    fill = 0.0 if exhausted == "skip" else np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 0, 1.0 - d / n, 1.0)
        s = np.cumprod(factor)
        g = np.cumsum(np.where(n > d, d / (n * (n - d)), fill))
    return KaplanMeier(time=t, survival=s, at_risk=n, events=d, greenwood=g,
                       n=int(np.asarray(time).size), entry=se, exit=sx)


def loglog_interval(survival: np.ndarray, var_log: np.ndarray, level: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval of ``S`` on the complementary log-log scale.

    ``S ** exp(+-z sqrt(V) / |log S|)`` with ``V`` the variance of ``log S``
    (Kalbfleisch & Prentice 2002, sec. 1.4; the default of lifelines and of R
    ``survfit(conf.type="log-log")``). The limits stay inside ``[0, 1]``; where
    ``S = 0`` they are ``[0, 0]`` and where ``S = 1`` (no event yet) ``[1, 1]``.

    Parameters
    ----------
    survival
        Survival estimates.
    var_log
        Variance of ``log S`` at each (Greenwood's sum or a robust variance).
    level
        Confidence level.

    Returns
    -------
    (low, high)
    """
    s = np.asarray(survival, dtype=float)
    g = np.asarray(var_log, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = stats.norm.ppf(0.5 + level / 2)
        logs = np.log(s)
        sd = np.sqrt(g) / np.abs(logs)
        lo = np.where(s > 0, s ** np.exp(z * sd), 0.0)
        hi = np.where(s > 0, s ** np.exp(-z * sd), 0.0)
        lo = np.where(s >= 1.0, 1.0, lo)
        hi = np.where(s >= 1.0, 1.0, hi)
    return lo, hi
