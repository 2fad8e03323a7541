"""Cumulative incidence of competing events (Aalen--Johansen) with delayed entry.

Suspension and owner deletion (``not_found``) compete: an account deleted first can
no longer be suspended. The cumulative incidence of cause ``k`` is
``F_k(t) = sum_{t_i <= t} S(t_i-) d_{k,i} / n_i`` with ``S`` the Kaplan--Meier
survival from *all* causes. Unlike ``1 - KM`` with the other cause censored, it
does not assume the competing event is independent of (or would not preclude)
suspension; it describes what was observed to happen.

Variance: the delta-method (Greenwood-type) estimator of Gray / Marubini & Valsecchi
(1995, eq. 10.10); pointwise interval on the log(-log F) scale, which keeps it inside
(0, 1).

References
----------
Aalen, O. O. & Johansen, S. (1978). An empirical transition matrix for
non-homogeneous Markov chains based on censored observations. Scand. J. Statist. 5,
141-150. Marubini, E. & Valsecchi, M. G. (1995). Analysing Survival Data from
Clinical Trials and Observational Studies, ch. 10.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from measure.churn._km import SurvivalCurve, risk_table


def cumulative_incidence(entry: np.ndarray, time: np.ndarray, cause: np.ndarray,
                         of_interest: int, *, level: float = 0.95,
                         presorted: tuple[np.ndarray, np.ndarray] | None = None
                         ) -> SurvivalCurve:
    """Aalen--Johansen cumulative incidence of ``of_interest`` (``cause`` 0 = censored).

    Parameters
    ----------
    entry, time
        Entry and exit times (delayed entry allowed).
    cause
        0 for censored, otherwise the cause code of the exit.
    of_interest
        The cause whose incidence is estimated.
    level
        Confidence level.
    presorted
        ``(sorted(entry), sorted(time))`` when already computed.
    """
    cause = np.asarray(cause)
    t, d, n, se, sx = risk_table(entry, time, cause != 0, presorted=presorted)
    mine = cause == of_interest
    tk, inv = np.unique(np.asarray(time, dtype=float)[mine], return_inverse=True)
    dk_raw = np.bincount(inv, minlength=tk.size).astype(float)
    dk = np.zeros_like(d)
    dk[np.searchsorted(t, tk)] = dk_raw
    with np.errstate(divide="ignore", invalid="ignore"):
        haz = np.where(n > 0, d / n, 0.0)
        hk = np.where(n > 0, dk / n, 0.0)
        s = np.cumprod(1.0 - haz)
        s_prev = np.concatenate([[1.0], s[:-1]])
        f = np.cumsum(s_prev * hk)
        # Marubini & Valsecchi delta-method variance
        gw = np.where(n > d, d / (n * (n - d)), 0.0)
        # sum_j [ (F(t)-F(t_j))^2 d_j/(n_j(n_j-d_j)) + S(t_j-)^2 dk_j (n_j-dk_j)/n_j^3
        #         - 2 (F(t)-F(t_j)) S(t_j-) dk_j / n_j^2 ]
        a = gw
        b = np.where(n > 0, s_prev**2 * dk * (n - dk) / n**3, 0.0)
        c = np.where(n > 0, s_prev * dk / n**2, 0.0)
        # expand (F - Fj)^2 = F^2 - 2 F Fj + Fj^2 to get cumulative sums
        ca, caf, caf2 = np.cumsum(a), np.cumsum(a * f), np.cumsum(a * f**2)
        cc, ccf = np.cumsum(c), np.cumsum(c * f)
        var = (f**2 * ca - 2 * f * caf + caf2 + np.cumsum(b)
               - 2 * (f * cc - ccf))
        var = np.maximum(var, 0.0)
    lo, hi = incidence_interval(f, var, level)
    return SurvivalCurve(time=t, estimate=f, ci_low=lo, ci_high=hi, at_risk=n,
                         events=dk, var=var, level=level, entry=se, exit=sx,
                         method="Aalen-Johansen cumulative incidence (delayed entry)",
                         start=0.0, scale="loglog_incidence")


def incidence_interval(f: np.ndarray, var: np.ndarray, level: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval of a cumulative incidence on the ``log(-log F)`` scale.

    ``F ** exp(+-z sd)`` with ``sd = sqrt(var) / (F |log F|)`` (delta method from
    the variance of ``F``); the limits stay inside ``(0, 1)``, and equal ``F``
    where ``F`` is 0 or 1.

    Parameters
    ----------
    f
        Cumulative incidence at each time.
    var
        Its variance (Marubini & Valsecchi 1995, eq. 10.10).
    level
        Confidence level.

    Returns
    -------
    (low, high)
    """
    f = np.asarray(f, dtype=float)
    var = np.asarray(var, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = stats.norm.ppf(0.5 + level / 2)
        lf = np.log(f)
        sd = np.sqrt(var) / (f * np.abs(lf))
        lo = np.where((f > 0) & (f < 1), f ** np.exp(z * sd), f)
        hi = np.where((f > 0) & (f < 1), f ** np.exp(-z * sd), f)
    return lo, hi
