"""Rubin's rules: combining estimates over multiple imputations.

With ``m`` completed-data estimates ``q_i`` and their variances ``u_i`` (on a
scale where the estimate is close to normal), the pooled estimate is ``qbar =
mean q_i``, the within-imputation variance ``W = mean u_i``, the
between-imputation variance ``B = var(q_i)`` (divisor ``m - 1``) and the total
variance ``T = W + (1 + 1/m) B``. Intervals use Student's ``t`` with Rubin's
(1987, eq. 3.1.6) degrees of freedom ``nu = (m - 1) (1 + 1/r)^2``, where ``r =
(1 + 1/m) B / W`` is the relative increase in variance due to nonresponse
(Rubin 1987, sec. 3.3; Little & Rubin 2019, sec. 10.2.3).

Edge cases follow from the formula: ``B = 0`` (identical imputations, or a
single one) gives ``nu = inf`` (the normal quantile); ``W = 0`` with ``B > 0``
gives ``nu = m - 1``; ``W = inf`` gives ``nu = inf`` (and an infinite ``T``); a
non-finite ``B`` (an imputation with an infinite estimate) is taken as infinite.

References
----------
* Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley,
  ch. 3-4.
* Little, R. J. A. & Rubin, D. B. (2019). *Statistical Analysis with Missing Data*,
  3rd ed. Wiley, sec. 10.2.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

ArrayLike = npt.ArrayLike


def rubin_df(m: int, within: ArrayLike, between: ArrayLike) -> np.ndarray:
    """Rubin's (1987) degrees of freedom ``(m - 1) (1 + 1/r)^2``.

    Parameters
    ----------
    m
        Number of imputations.
    within, between
        Within- and between-imputation variances ``W`` and ``B``.

    Returns
    -------
    numpy.ndarray
        ``nu`` (``inf`` where ``B = 0``), with ``r = (1 + 1/m) B / W``.
    """
    w = np.asarray(within, dtype=float)
    b = np.asarray(between, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1 + 1 / m) * b / w
        return np.where(b > 0, (m - 1) * (1 + 1 / r) ** 2, np.inf)


def t_quantile(level: float, df: ArrayLike, *, max_df: float | None = None
               ) -> np.ndarray:
    """Two-sided ``t`` quantile ``t_{df}(0.5 + level / 2)``.

    Parameters
    ----------
    level
        Confidence level.
    df
        Degrees of freedom (``inf`` allowed).
    max_df
        ``None``: the normal quantile where ``df`` is infinite. A number: ``df``
        is capped there and the ``t`` quantile is always used (so an infinite
        ``df`` gives the ``t`` quantile at ``max_df``).

    Returns
    -------
    numpy.ndarray
    """
    p = 0.5 + level / 2
    d = np.asarray(df, dtype=float)
    if max_df is not None:
        return np.asarray(stats.t.ppf(p, np.minimum(d, max_df)))
    finite = np.isfinite(d)
    out = np.full(d.shape, float(stats.norm.ppf(p)))
    if np.any(finite):
        out[finite] = stats.t.ppf(p, d[finite])
    return out


@dataclass(frozen=True)
class RubinPooled:
    """Estimates combined over imputations by Rubin's rules.

    Scalars when the estimates were pooled to a single value, arrays otherwise.

    Attributes
    ----------
    estimate
        ``qbar``, the mean of the completed-data estimates.
    within, between, total
        ``W``, ``B`` and ``T = W + (1 + 1/m) B``.
    df
        Rubin's (1987) degrees of freedom.
    m
        Number of imputations.
    """

    estimate: np.ndarray | float
    within: np.ndarray | float
    between: np.ndarray | float
    total: np.ndarray | float
    df: np.ndarray | float
    m: int

    @property
    def std_error(self) -> np.ndarray | float:
        """``sqrt(T)``."""
        return _out(np.sqrt(self.total))

    def quantile(self, level: float, *, max_df: float | None = None
                 ) -> np.ndarray | float:
        """Critical value of the interval (see :func:`t_quantile`)."""
        return _out(t_quantile(level, self.df, max_df=max_df))

    def interval(self, level: float, *, max_df: float | None = None
                 ) -> tuple[np.ndarray | float, np.ndarray | float]:
        """``qbar -+ t_nu sqrt(T)`` on the pooling scale."""
        half = np.asarray(self.quantile(level, max_df=max_df)) * np.sqrt(self.total)
        with np.errstate(invalid="ignore"):
            return _out(self.estimate - half), _out(self.estimate + half)


def _out(a: np.ndarray | float) -> np.ndarray | float:
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a


def rubin_pool(estimates: ArrayLike, variances: ArrayLike) -> RubinPooled:
    """Pool completed-data estimates and variances by Rubin's rules.

    Parameters
    ----------
    estimates, variances
        One row per imputation (``axis 0``): a vector of ``m`` values, or an
        ``m x k`` array for ``k`` quantities pooled separately (e.g. a curve at
        ``k`` times).

    Returns
    -------
    RubinPooled
        ``estimate``, ``within``, ``between``, ``total``, ``df`` and ``m``; with
        ``m = 1`` the between variance is 0.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.shape != u.shape or q.ndim == 0 or q.shape[0] == 0:
        raise ValueError("estimates and variances need the same shape, one row per "
                         f"imputation; got {q.shape} and {u.shape}")
    m = int(q.shape[0])
    qbar = q.mean(axis=0)
    w = u.mean(axis=0)
    if m > 1:
        with np.errstate(invalid="ignore"):  # an infinite estimate: B = inf
            b = q.var(axis=0, ddof=1)
    else:
        b = np.zeros(q.shape[1:])
    b = np.where(np.isfinite(b), b, np.inf)
    total = w + (1 + 1 / m) * b
    df = rubin_df(m, w, b)
    return RubinPooled(_out(qbar), _out(w), _out(b), _out(total), _out(df), m)
