"""Cox proportional hazards for time to suspension, with delayed entry and strata.

Fitted with statsmodels ``PHReg`` (Efron's tie correction, entry times as left
truncation, optional strata), on the midpoint-imputed event times. A
Grambsch--Therneau check of proportional hazards correlates the scaled Schoenfeld
residuals of each covariate with the rank of the event time (one-degree-of-freedom
chi-square per covariate, the statistic lifelines' ``proportional_hazard_test``
reports with ``time_transform="rank"``).

Assumptions
-----------
* Hazards proportional over age (checked, not assumed away: see ``ph_test``).
* Independent censoring and quasi-independent truncation given the covariates.
* Midpoint imputation of interval-censored times; with look-ups a week apart the
  coefficients change little (compare the Turnbull curve with the midpoint one).

References
----------
Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
Efron, B. (1977). The efficiency of Cox's likelihood function for censored data.
JASA 72, 557-565. Grambsch, P. M. & Therneau, T. M. (1994). Proportional hazards
tests and diagnostics based on weighted residuals. Biometrika 81, 515-526.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats

from measure._results import Estimate


@dataclass(frozen=True)
class CoxResult:
    """Cox model coefficients (log hazard ratios), standard errors and PH check.

    Attributes
    ----------
    terms
        Covariate names.
    coef, std_error
        Log hazard ratios and their standard errors (observed information).
    level
        Confidence level of the intervals.
    n, n_events
        Subjects and events used.
    ph_test
        Table ``term, statistic, p_value`` of the Grambsch--Therneau check.
    loglik
        Partial log-likelihood at the estimate.
    warnings
        Notes such as subsampling.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    std_error: np.ndarray
    level: float
    n: int
    n_events: int
    ph_test: pl.DataFrame
    loglik: float
    strata: str | None = None
    warnings: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)

    def estimates(self) -> list[Estimate]:
        """One :class:`Estimate` per coefficient (log hazard ratio)."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        return [Estimate(term=f"cox:{t}", estimate=float(b), std_error=float(s),
                         ci=(float(b - z * s), float(b + z * s)), level=self.level,
                         method="Cox PH (statsmodels PHReg, Efron ties, delayed "
                         "entry)", n=self.n, warnings=self.warnings)
                for t, b, s in zip(self.terms, self.coef, self.std_error, strict=True)]

    def to_polars(self) -> pl.DataFrame:
        """Coefficient table with the fixed result columns plus the PH p-value."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        return pl.DataFrame({
            "term": list(self.terms), "estimate": self.coef,
            "std_error": self.std_error, "ci_low": self.coef - z * self.std_error,
            "ci_high": self.coef + z * self.std_error,
            "level": [self.level] * len(self.terms),
        })

    def summary(self) -> str:
        """Text table of hazard ratios and the PH check."""
        lines = [f"Cox PH (Efron ties, delayed entry): n={self.n}, "
                 f"events={self.n_events}" + (f", strata={self.strata}"
                                              if self.strata else "")]
        ph = dict(zip(self.ph_test["term"], self.ph_test["p_value"], strict=True))
        for t, b, s in zip(self.terms, self.coef, self.std_error, strict=True):
            lines.append(f"  {t:<24} coef {b:+.4f} (se {s:.4f})  HR {math.exp(b):.3f}"
                         f"  PH p={ph.get(t, float('nan')):.3g}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def design(frame: pl.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix: numbers as is, text/boolean as 0/1 dummies (first level
    dropped, levels sorted)."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        s = frame[c]
        if s.dtype.is_numeric():
            cols.append(s.cast(pl.Float64).to_numpy())
            names.append(c)
        else:
            s = s.cast(pl.Utf8).fill_null("(missing)")
            levels = sorted(s.unique().to_list())
            for lev in levels[1:]:
                cols.append((s == lev).cast(pl.Float64).to_numpy())
                names.append(f"{c}[{lev}]")
    if not cols:
        return np.empty((frame.height, 0)), []
    return np.column_stack(cols), names


def ph_test(result: object, time: np.ndarray, event: np.ndarray) -> pl.DataFrame:
    """Grambsch--Therneau test with rank-transformed event times.

    ``T_k = (sum_i g_i r*_ik)^2 / (d V_kk sum_i g_i^2)`` where ``r*`` are the scaled
    Schoenfeld residuals ``d V r_i``, ``g`` the centred ranks of the event times and
    ``V`` the covariance of the coefficients; ``T_k`` is compared with chi-square(1).
    """
    ev = np.asarray(event, dtype=bool)
    res = np.asarray(result.schoenfeld_residuals)[ev]  # type: ignore[attr-defined]
    v = np.asarray(result.cov_params())  # type: ignore[attr-defined]
    d = int(ev.sum())
    ok = np.all(np.isfinite(res), axis=1)
    res = res[ok]
    g = stats.rankdata(time, method="min")[ev][ok].astype(float)
    g -= g.mean()
    scaled = d * res @ v
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (g[:, None] * scaled).sum(0) ** 2 / (d * np.diag(v) * (g**2).sum())
    return t


def fit_cox(frame: pl.DataFrame, covariates: list[str], *, strata: str | None = None,
            level: float = 0.95, max_n: int | None = 500_000, seed: int = 0
            ) -> CoxResult | None:
    """Fit the Cox model on a lifetimes frame (``entry``, ``time``, ``event`` == 1).

    Parameters
    ----------
    frame
        Lifetimes (see :mod:`measure.churn._lifetimes`).
    covariates
        Columns of ``frame`` used as covariates.
    strata
        Column whose levels get separate baseline hazards.
    level
        Confidence level.
    max_n
        Fit on a simple random sample of this many accounts when there are more
        (statsmodels holds several dense copies of the data); the standard errors
        then describe the sample, and a warning says so. ``None`` for all.
    seed
        Seed of that sample.
    """
    from statsmodels.duration.hazard_regression import PHReg

    notes: list[str] = []
    keep = frame.drop_nulls([c for c in covariates if frame[c].dtype.is_numeric()])
    if keep.height < frame.height:
        notes.append(f"{frame.height - keep.height} accounts with missing covariates "
                     "left out of the Cox model")
    if max_n is not None and keep.height > max_n:
        keep = keep.sample(n=max_n, seed=seed).sort("account_id")
        notes.append(f"fitted on a random sample of {max_n} accounts of "
                     f"{frame.height}; standard errors describe that sample")
    x, names = design(keep, covariates)
    if not names:
        return None
    # drop constant columns
    const = np.ptp(x, axis=0) == 0
    if np.any(const):
        notes.append("constant covariates dropped: "
                     + ", ".join(n for n, c in zip(names, const, strict=True) if c))
        x = x[:, ~const]
        names = [n for n, c in zip(names, const, strict=True) if not c]
    if not names:
        return None
    time = keep["time"].to_numpy()
    event = (keep["event"].to_numpy() == 1).astype(float)
    if event.sum() == 0:
        return None
    entry = keep["entry"].to_numpy()
    st = keep[strata].cast(pl.Utf8).fill_null("(missing)").to_numpy() if strata else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = PHReg(time, x, status=event, entry=entry, strata=st, ties="efron")
        res = model.fit()
    tstat = ph_test(res, time, event)
    ph = pl.DataFrame({"term": names, "statistic": tstat,
                       "p_value": stats.chi2.sf(tstat, 1)})
    return CoxResult(terms=tuple(names), coef=np.asarray(res.params),
                     std_error=np.asarray(res.bse), level=level, n=keep.height,
                     n_events=int(event.sum()), ph_test=ph, loglik=float(res.llf),
                     strata=strata, warnings=tuple(notes))
