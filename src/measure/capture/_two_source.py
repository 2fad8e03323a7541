"""Two-source capture–recapture: Lincoln–Petersen and Chapman.

Both rest on the classical closed-population assumptions: the population does not
change between the two lists, every unit has the same chance of being on each list
(or, at least, the chance of being on list 2 does not depend on being on list 1), and
the lists are matched without error. Positive dependence between lists (units easy to
find are easy to find twice, as with prominence-driven detection) biases both
estimators downward.

References
----------
Seber, G. A. F. (1982). *The Estimation of Animal Abundance*, 2nd ed., sections 3.1.1
(Petersen, variance) and 3.1.2 (Chapman's modification and its variance).
Chapman, D. G. (1951). Some properties of the hypergeometric distribution with
applications to zoological sample censuses. *Univ. Calif. Publ. Stat.* 1, 131-160.
Chao, A. (1987). Estimating the population size for capture-recapture data with
unequal catchability. *Biometrics* 43, 783-791 (log-normal interval, section 3).
"""

from __future__ import annotations

import math

from scipy.stats import norm

from measure._results import Estimate

#: Robson & Regier (1964): Chapman is close to unbiased when m > 7 recaptures.
MIN_RECAPTURES = 7

_ASSUMPTIONS = (
    "closed population: nobody enters or leaves between the two lists",
    "the lists are independent: being on one list does not change the chance of "
    "being on the other (heterogeneous catchability violates this and biases N "
    "downward)",
    "matching across lists is error-free",
)


def lognormal_interval(
    n_observed: float, estimate: float, variance: float, level: float = 0.95
) -> tuple[float, float]:
    """Log-normal interval for a population size (Chao 1987, section 3).

    The number never seen, ``f0 = N - n_observed``, is taken as log-normal, so the
    interval is ``(n + f0 / C, n + f0 * C)`` with
    ``C = exp(z * sqrt(log(1 + var / f0**2)))``; it never falls below the number
    actually observed.

    Parameters
    ----------
    n_observed
        Distinct units seen on at least one list.
    estimate
        Point estimate of the population size.
    variance
        Estimated variance of ``estimate``.
    level
        Confidence level.

    Returns
    -------
    tuple of float
        ``(low, high)``.
    """
    f0 = estimate - n_observed
    if not (math.isfinite(f0) and math.isfinite(variance)):
        return (math.nan, math.nan)
    if f0 <= 0 or variance <= 0:
        return (float(n_observed), float(max(estimate, n_observed)))
    z = float(norm.ppf(0.5 + level / 2))
    c = math.exp(z * math.sqrt(math.log1p(variance / f0**2)))
    return (n_observed + f0 / c, n_observed + f0 * c)


def _check_counts(n1: int, n2: int, m: int) -> None:
    if min(n1, n2, m) < 0 or m > min(n1, n2):
        raise ValueError(
            f"invalid two-list counts n1={n1}, n2={n2}, m={m}: need 0 <= m <= "
            "min(n1, n2); m is the number of units on both lists"
        )


def _two_list_estimate(
    n1: int,
    n2: int,
    m: int,
    est: float,
    var: float,
    *,
    level: float,
    method: str,
    no_recapture: str,
    few_recaptures: str,
) -> Estimate:
    """Build the ``population`` Estimate of a two-list estimator (log-normal CI).

    "Does not apply" (reason ``no_recapture``) when ``m == 0``; a warning
    (``few_recaptures``) when ``m <= MIN_RECAPTURES``.
    """
    r = n1 + n2 - m
    if m == 0:
        return Estimate.invalid(
            "population",
            f"no recaptures (no unit is on both lists): {no_recapture}",
            method=method,
            level=level,
            n=r,
        )
    return Estimate(
        term="population",
        estimate=est,
        ci=lognormal_interval(r, est, var, level),
        level=level,
        std_error=math.sqrt(var),
        method=method,
        n=r,
        assumptions=_ASSUMPTIONS,
        warnings=(few_recaptures,) if m <= MIN_RECAPTURES else (),
        extra={"n1": n1, "n2": n2, "m": m},
    )


def lincoln_petersen(n1: int, n2: int, m: int, *, level: float = 0.95) -> Estimate:
    """Lincoln–Petersen estimate ``N = n1 * n2 / m`` with its variance.

    Parameters
    ----------
    n1, n2
        Units on list 1 and on list 2.
    m
        Units on both lists (recaptures).
    level
        Confidence level of the log-normal interval.

    Returns
    -------
    Estimate
        ``population`` with variance ``n1 n2 (n1 - m)(n2 - m) / m**3`` (Seber 1982,
        eq. 3.2) and Chao's (1987) log-normal interval; "does not apply" when
        ``m == 0`` (no recaptures: the estimate is infinite).

    Notes
    -----
    The estimator is the MLE under independent lists (hypergeometric model) and
    is biased upward in small samples; prefer :func:`chapman` unless samples are
    large.
    """
    _check_counts(n1, n2, m)
    est = var = math.nan
    if m > 0:
        est = n1 * n2 / m
        var = n1 * n2 * (n1 - m) * (n2 - m) / m**3
    return _two_list_estimate(
        n1,
        n2,
        m,
        est,
        var,
        level=level,
        method="Lincoln-Petersen (Seber 1982, 3.1.1)",
        no_recapture="the Lincoln-Petersen estimate is infinite",
        few_recaptures=f"only {m} recaptures: Lincoln-Petersen is badly biased; "
        "use Chapman",
    )


def chapman(n1: int, n2: int, m: int, *, level: float = 0.95) -> Estimate:
    """Chapman's nearly unbiased estimate ``(n1 + 1)(n2 + 1)/(m + 1) - 1``.

    Parameters
    ----------
    n1, n2
        Units on list 1 and on list 2.
    m
        Units on both lists.
    level
        Confidence level of the log-normal interval.

    Returns
    -------
    Estimate
        ``population`` with Seber's (1970) variance
        ``(n1+1)(n2+1)(n1-m)(n2-m) / ((m+1)**2 (m+2))`` and Chao's (1987) log-normal
        interval. With ``m == 0`` the value is defined but meaningless as a
        population size, so it is returned as "does not apply".

    Notes
    -----
    Exactly unbiased when ``n1 + n2 >= N`` under the hypergeometric model; as
    ``m`` grows it converges to :func:`lincoln_petersen`.
    """
    _check_counts(n1, n2, m)
    est = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    var = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    return _two_list_estimate(
        n1,
        n2,
        m,
        est,
        var,
        level=level,
        method="Chapman (1951), variance Seber (1970)",
        no_recapture="the lists carry no information on the population size",
        few_recaptures=f"only {m} recaptures (Robson & Regier 1964 ask for more "
        f"than {MIN_RECAPTURES}): the estimate is unstable",
    )
