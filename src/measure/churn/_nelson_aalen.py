"""Nelson--Aalen cumulative hazard with delayed entry.

Assumptions
-----------
Counting-process risk sets (``entry < t <= time``), independent censoring and
truncation. ``H(t) = sum_{t_i <= t} d_i / n_i`` with variance ``sum d_i / n_i**2``
(the Poisson-type estimator; Aalen, Borgan & Gjessing 2008, sec. 3.1.5), interval on
the log scale: ``H exp(+-z se / H)``.

References
----------
Nelson, W. (1972). Theory and applications of hazard plotting for censored failure
data. Technometrics 14, 945-966. Aalen, O. (1978). Nonparametric inference for a
family of counting processes. Ann. Statist. 6, 701-726.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from measure.churn._km import SurvivalCurve, risk_table


def nelson_aalen(entry: np.ndarray, time: np.ndarray, event: np.ndarray, *,
                 level: float = 0.95,
                 presorted: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> SurvivalCurve:
    """Nelson--Aalen cumulative hazard (``start`` = 0) with log-scale intervals."""
    t, d, n, se, sx = risk_table(entry, time, event, presorted=presorted)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.cumsum(np.where(n > 0, d / n, 0.0))
        v = np.cumsum(np.where(n > 0, d / n**2, 0.0))
    lo, hi = cumhaz_interval(h, v, level)
    return SurvivalCurve(time=t, estimate=h, ci_low=lo, ci_high=hi, at_risk=n,
                         events=d, var=v, level=level, entry=se, exit=sx,
                         method="Nelson-Aalen (delayed entry), log-scale CI",
                         start=0.0, scale="log")


def cumhaz_interval(h: np.ndarray, var: np.ndarray, level: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log-scale interval ``H exp(+-z sqrt(var) / H)`` of a cumulative hazard.

    Parameters
    ----------
    h
        Cumulative hazard at each time.
    var
        Its variance.
    level
        Confidence level.

    Returns
    -------
    (low, high)
        ``(h, h)`` where ``h`` is 0.
    """
    h = np.asarray(h, dtype=float)
    var = np.asarray(var, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = stats.norm.ppf(0.5 + level / 2)
        f = np.where(h > 0, np.exp(z * np.sqrt(var) / h), 1.0)
    return h / f, h * f
