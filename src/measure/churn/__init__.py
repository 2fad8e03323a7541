"""Churn: how fast accounts are suspended, from status panels (``observations``).

``analyze(ds, ...)`` turns repeated look-ups of accounts into survival figures:
Kaplan--Meier with delayed entry (left truncation at the first alive look-up),
Turnbull's NPMLE for the interval-censored suspension times beside the midpoint
approximation, Nelson--Aalen cumulative hazard, Aalen--Johansen cumulative incidence
of suspension vs deletion, median and survival at 1/7/30/90 days with intervals, a
Cox model with a proportional-hazards check, calendar suspension rates with exact
Poisson intervals and a stock-and-flow table; bounds for deletion that anticipates
suspension, Tsai's test of the delayed-entry assumption, an age x calendar-period
model of the suspension rate, and standard errors clustered by presumed actor.
"""

from measure.churn._analyze import analyze
from measure.churn._cif import cumulative_incidence
from measure.churn._cox import CoxResult, fit_cox
from measure.churn._icph import ICPHResult, fit_ic_ph
from measure.churn._km import SurvivalCurve, kaplan_meier, quantile
from measure.churn._lifetimes import Lifetimes, build_lifetimes, parse_where
from measure.churn._nelson_aalen import nelson_aalen
from measure.churn._rates import calendar_rates, poisson_ci
from measure.churn._result import ChurnResult, GroupResult
from measure.churn._truncation import (
    AgePeriodResult,
    TruncationTest,
    age_period_model,
    lexis_split,
    truncation_warning,
    tsai_test,
)
from measure.churn._turnbull import TurnbullFit, turnbull

__all__ = [
    "AgePeriodResult", "ChurnResult", "CoxResult", "GroupResult", "ICPHResult",
    "Lifetimes", "fit_ic_ph",
    "SurvivalCurve", "TruncationTest", "TurnbullFit", "age_period_model", "analyze",
    "build_lifetimes", "calendar_rates", "cumulative_incidence", "fit_cox",
    "kaplan_meier", "lexis_split", "nelson_aalen", "parse_where", "poisson_ci",
    "quantile", "truncation_warning", "tsai_test", "turnbull",
]
