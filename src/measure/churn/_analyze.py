"""``measure.churn.analyze``: lifetimes from the panel, then every estimator."""

from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from measure._contract import dataset_id
from measure._results import Estimate
from measure.churn import _sql
from measure.churn._actors import ACTOR_COLUMN, actor_table, join_actors
from measure.churn._cif import cumulative_incidence
from measure.churn._cox import fit_cox
from measure.churn._icph import ICPHResult, fit_ic_ph
from measure.churn._imputation import Imputation
from measure.churn._km import (
    SurvivalCurve,
    imputation_variance,
    kaplan_meier,
    km_imputed,
    quantile,
)
from measure.churn._lifetimes import (
    CENSORED,
    DELETED,
    SUSPENDED,
    Lifetimes,
    build_lifetimes,
)
from measure.churn._nelson_aalen import nelson_aalen
from measure.churn._rates import calendar_rates
from measure.churn._result import DAYS, ChurnResult, GroupResult
from measure.churn._truncation import (
    age_period_model,
    lexis_split,
    truncation_warning,
    tsai_test,
)
from measure.churn._turnbull import TurnbullBand, collapse, turnbull, turnbull_band
from measure.dataset import Dataset
from measure.errors import ConfigError, EstimationError, StatisticalWarning
from measure.options import DeletedAs, Origin, validate_option

#: Estimator of the headline survival and median: Kaplan--Meier on midpoint times
#: (band widened for the look-up spacing) or Turnbull's interval-censored NPMLE
#: (bootstrap band).
Estimator = Literal["km", "turnbull"]

ASSUMPTIONS = (
    "suspension happened between the last 'active' and the first 'suspended' "
    "look-up (interval censoring); the Kaplan-Meier figures draw it inside that "
    "interval in each of several imputations, from a smooth (piecewise-constant, "
    "penalised) hazard fitted to all intervals, or uniformly with "
    "imputation='uniform' (the midpoint above 200,000 accounts per group); the "
    "Turnbull NPMLE uses only the interval; a day the look-ups do not resolve is "
    "reported as a range",
    "accounts enter the risk set at their first alive look-up (left truncation): "
    "the panel says nothing about accounts suspended before the collection found "
    "them, and the curve is conditional on surviving to the earliest entry age",
    "look-up times, entry, deletion and the end of follow-up are unrelated to "
    "the suspension hazard (independent censoring, quasi-independent "
    "truncation); the deletion bounds (deletions counted as suspensions, or as "
    "never suspended) hold without the assumption about deletion",
    "the hazard depends on account age, not on calendar time: with crackdowns or a "
    "changing mix of accounts, accounts created late in the panel are censored "
    "young and the pooled curve is biased at older ages; --complete-followup "
    "restricts to accounts that can all be followed to day 90",
)
#: Above this many accounts Turnbull endpoints are coarsened (see ``collapse``).
TURNBULL_EXACT_MAX = 20_000
#: Grid (days) for coarsened Turnbull endpoints above ``TURNBULL_EXACT_MAX``: one
#: day. Rounding widens each look-up interval by at most two days (the event stays
#: inside it) and bounds the distinct intervals to tens of thousands, so that the
#: EM runs in seconds on millions of accounts; it is a conservative widening, and
#: the midpoint curve beside it shows how much interval width matters.
TURNBULL_RESOLUTION = 1.0
#: A Turnbull range wider than this at a headline day makes that day a range.
RANGE_TOL = 0.01
#: A headline day is reported as a range when fewer than this share of the
#: suspensions imputed between the conditioning age and the day lie in look-up
#: intervals that close by the day (see ``_identified``).
IDENTIFIED_SHARE = 0.5
#: Above this many accounts the age x period model is fitted on a random sample
#: of them: splitting every account's exposure into age x week cells costs about
#: 8 s per million accounts on the reference machine, and the rate ratios need
#: far fewer.
AGE_PERIOD_MAX_N = 1_000_000
#: EM stopping rule inside ``analyze`` (largest change of a mass) and cap; the
#: result records whether it converged.
TURNBULL_TOL = 1e-8
TURNBULL_MAX_ITER = 5_000
#: Bootstrap resamples for the Turnbull intervals (default up to
#: ``TURNBULL_EXACT_MAX`` accounts per group; above it none unless asked): 200
#: percentile replicates put the 2.5% and 97.5% points on the 5th and 195th order
#: statistics (Efron & Tibshirani 1993, ch. 13, suggest >= 200 for percentile
#: intervals at this level only as a minimum; the Monte Carlo error of the bounds is
#: small against their sampling error at the sizes where the bootstrap runs).
BOOTSTRAP_REPLICATES = 200
#: EM stopping rule of the bootstrap refits: survival at the reported days moves
#: by about 2e-5 between this and 1e-11 on the small simulated worlds (measured),
#: far below the width of any band, at a third of the run time of 1e-8.
BOOTSTRAP_TOL = 1e-6
#: Seed of the bootstrap resampling (results are reproducible).
BOOTSTRAP_SEED = 20141101
#: Up to this many accounts per group the headline Kaplan--Meier combines full
#: multiple imputations by Rubin's rules (:func:`km_imputed`); above it the
#: midpoint curve's band is widened by a subsample's between-imputation variance
#: (:func:`imputation_variance`), which keeps 10-million-account panels fast.
IMPUTE_EXACT_MAX = 200_000
#: Seed of the imputations (results are reproducible).
IMPUTE_SEED = 0
#: Horizon of ``complete_followup``: the longest reported day.
FOLLOWUP_HORIZON_DAYS = 90.0
COMPLETE_FOLLOWUP_ASSUMPTION = (
    "complete follow-up cohort: only accounts created between the panel's first "
    "look-up and {h:g} days before its last one, so each can be followed to age "
    "{h:g} days inside the panel and the end of the panel censors none of them "
    "earlier (calendar-time changes of the hazard then do not bias the curve up to "
    "day {h:g}); the figures describe that creation cohort")


def _median(curve: SurvivalCurve, *, cumulative: bool, n: int, level: float,
            method: str, horizon: float | None = None) -> Estimate:
    if horizon is not None and curve.time.size and curve.time[-1] > horizon:
        # complete follow-up cohort: the curve is only guaranteed up to horizon
        keep = curve.time <= horizon
        curve = SurvivalCurve(
            time=curve.time[keep], estimate=curve.estimate[keep],
            ci_low=curve.ci_low[keep], ci_high=curve.ci_high[keep],
            at_risk=curve.at_risk[keep], events=curve.events[keep],
            var=curve.var[keep], level=level, entry=curve.entry, exit=curve.exit,
            method=curve.method)
        method += (f"; median and its interval searched up to day {horizon:g} "
                   "(the complete follow-up)")
    if cumulative:  # median of the CIF: first time F >= 0.5
        flipped = SurvivalCurve(
            time=curve.time, estimate=1 - curve.estimate, ci_low=1 - curve.ci_high,
            ci_high=1 - curve.ci_low, at_risk=curve.at_risk, events=curve.events,
            var=curve.var, level=level, entry=curve.entry, exit=curve.exit,
            method=curve.method)
        est, lo, hi = quantile(flipped, 0.5)
    else:
        est, lo, hi = quantile(curve, 0.5)
    if np.isnan(est):
        reached = (1 - curve.estimate[-1] if cumulative else curve.estimate[-1]
                   ) if curve.time.size else 1.0
        end = float(curve.time[-1]) if curve.time.size else 0.0
        if not curve.time.size or reached >= 1.0:
            return Estimate.invalid(
                "median_days",
                f"median not reached: the curve ends at {reached:.3f} after "
                f"{end:.1f} days", method=method, level=level, n=n)
        # not reached: still a one-sided statement -- the median is after the
        # first time the lower band reaches 0.5, or after the end of the curve
        low = lo if np.isfinite(lo) else end
        return Estimate(
            term="median_days", estimate=math.nan, ci=(low, math.inf), level=level,
            method=method + "; CI by inverting the pointwise band (Brookmeyer & "
            "Crowley 1982)", n=n,
            warnings=(f"median not reached: the curve ends at {reached:.3f} after "
                      f"{end:.1f} days; the data place the median after "
                      f"{low:.1f} days (no upper limit)",),
            extra={"reached": False})
    return Estimate(term="median_days", estimate=est, ci=(lo, hi if np.isfinite(hi)
                                                          else math.inf),
                    level=level, method=method + "; CI by inverting the pointwise "
                    "band (Brookmeyer & Crowley 1982)", n=n)


def conditioning_age(entry: np.ndarray, time: np.ndarray, min_at_risk: int
                     ) -> float:
    """Youngest age from which at least ``min_at_risk`` accounts are at risk.

    With delayed entry, the product-limit estimate over ages at which only a
    handful of accounts had been found is conditional on surviving to the
    earliest entry in name only: a hazard estimated from 2 or 3 accounts is mostly
    zero, its Greenwood variance is zero, and the curve and band are too high
    (Klein & Moeschberger 2003, sec. 4.6, recommend conditioning on survival to an
    age with an adequate risk set). Returns the smallest entry age ``a`` with
    ``#(entry <= a < time) >= min_at_risk`` (the smallest entry when none).
    """
    if entry.size == 0:
        return 0.0
    se = np.sort(entry)
    sx = np.sort(time)
    n_after = (np.searchsorted(se, se, side="right")
               - np.searchsorted(sx, se, side="right"))
    ok = np.flatnonzero(n_after >= min_at_risk)
    return float(se[ok[0]] if ok.size else np.inf)


def _group(name: str, fr: pl.DataFrame, *, deleted: str, level: float,  # noqa: C901, PLR0913, PLR0915
           do_turnbull: bool, resolution: float | None,
           min_at_risk: int, imputations: int, estimator: str = "km",
           bootstrap: int | None = None, horizon: float | None = None,
           cluster: str | None = None,
           imputation: Imputation = "density", seed: int = 0) -> GroupResult:
    a0 = conditioning_age(fr["entry"].to_numpy(), fr["time"].to_numpy(),
                          min_at_risk)
    too_few = not np.isfinite(a0)
    if too_few:  # never min_at_risk at once: curves from the earliest entry, flagged
        a0 = float(fr["entry"].min()) if fr.height else 0.0
    n_before = int((fr["time"] <= a0).sum())
    unconditioned = fr
    fr = fr.filter(pl.col("time") > a0).with_columns(
        pl.max_horizontal("entry", pl.lit(a0)).alias("entry"),
        pl.max_horizontal("left", pl.lit(a0)).alias("left"))
    entry = fr["entry"].to_numpy()
    tm = fr["time"].to_numpy()
    ev = fr["event"].to_numpy()
    if np.any(entry > tm):
        raise EstimationError("an account's entry is after its exit; the lifetimes "
                              "are inconsistent (report this as a bug)")
    ps = (np.sort(entry), np.sort(tm))
    cl = fr[cluster].to_numpy() if cluster else None
    km = kaplan_meier(entry, tm, ev == SUSPENDED, level=level, presorted=ps,
                      clusters=cl)
    na = nelson_aalen(entry, tm, ev == SUSPENDED, level=level, presorted=ps)
    cif_s = cumulative_incidence(entry, tm, ev, SUSPENDED, level=level, presorted=ps)
    cif_d = cumulative_incidence(entry, tm, ev, DELETED, level=level, presorted=ps)
    days = np.asarray(DAYS, dtype=float)
    at_risk = tuple(int(x) for x in km.n_at_risk(days))
    closed: np.ndarray | None = None
    sched: np.ndarray | None = None
    se = np.full(days.size, np.nan)
    if deleted == "censor":
        s, lo, hi = km.value(days)
        meth = km.method
        median_curve = km
        if imputations > 1 and km.time.size and fr.height <= IMPUTE_EXACT_MAX:
            # Rubin's rules over imputations inside each look-up interval:
            # every account whose look-up interval reaches past a0, interval
            # unclipped: each imputation draws its event and conditions on
            # surviving to a0 itself
            reach = unconditioned.filter(
                pl.when(pl.col("event") == SUSPENDED).then(pl.col("right") > a0)
                .otherwise(pl.col("time") > a0))
            r_ev = reach["event"].to_numpy()
            right = np.where(r_ev == SUSPENDED, reach["right"].to_numpy(), np.inf)
            grid = km.time if km.time.size <= 4000 else np.quantile(
                km.time, np.linspace(0, 1, 4000))
            both = np.concatenate([days, grid])
            mi = km_imputed(reach["entry"].to_numpy(), reach["left"].to_numpy(),
                            right, r_ev == SUSPENDED, both, m=imputations,
                            seed=IMPUTE_SEED + seed, level=level,
                            clusters=reach[cluster].to_numpy() if cluster else None,
                            condition_at=a0, imputation=imputation)
            k = days.size
            s, lo, hi = mi.estimate[:k], mi.ci_low[:k], mi.ci_high[:k]
            # delta method: se(S) = S sd(H), Rubin's total variance of H
            se = s * np.sqrt(mi.within[:k] + (1 + 1 / mi.m) * mi.between[:k])
            closed = mi.closed_share[:k] if mi.closed_share is not None else None
            if mi.early is not None and mi.late is not None:
                sched = np.column_stack([mi.early[:k], mi.late[:k]])
            median_curve = SurvivalCurve(
                time=grid, estimate=mi.estimate[k:], ci_low=mi.ci_low[k:],
                ci_high=mi.ci_high[k:], at_risk=km.n_at_risk(grid),
                events=np.zeros(grid.size), var=mi.within[k:], level=level,
                entry=km.entry, exit=km.exit, method=km.method, scale="pooled",
                pooled=None if mi.band is None else mi.band.take(slice(k, None)))
            meth = ("Kaplan-Meier (delayed entry) over multiply imputed event times "
                    f"({imputations} {_draws(mi.imputation)}, Rubin's rules on the "
                    "cumulative-hazard scale, log CI with Rubin's t)")
        elif imputations > 1 and km.time.size:
            # widen the midpoint band by the look-up spacing (multiple imputation
            # on a subsample, see imputation_variance)
            right = np.where(ev == CENSORED, np.inf, fr["right"].to_numpy())
            b = imputation_variance(entry, fr["left"].to_numpy(), right,
                                    ev == SUSPENDED, days, m=imputations,
                                    seed=IMPUTE_SEED + seed, imputation=imputation)
            idx = km.at(days)
            g = np.where(idx >= 0, km.var[np.maximum(idx, 0)], 0.0)
            z = stats.norm.ppf(0.5 + level / 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                sd = np.sqrt(g / np.log(s) ** 2 + (1 + 1 / imputations) * b)
                inside = (s > 0) & (s < 1)
                lo = np.where(inside, s ** np.exp(z * sd), lo)
                hi = np.where(inside, s ** np.exp(-z * sd), hi)
            meth += (f"; band widened for the look-up spacing ({imputations} "
                     f"imputations, {_draws(imputation)}, on a subsample, "
                     "Rubin's rule)")
        median = _median(median_curve, cumulative=False, n=fr.height, level=level,
                         method=meth, horizon=horizon)
        headline_curve: SurvivalCurve | None = median_curve
    else:
        headline_curve = None
        f, flo, fhi = cif_s.value(days)
        s, lo, hi = 1 - f, 1 - fhi, 1 - flo
        meth = "1 - " + cif_s.method
        median = _median(cif_s, cumulative=True, n=fr.height, level=level,
                         method=meth, horizon=horizon)
    if a0 > 0:
        meth += f"; conditional on surviving to age {a0:.2f} days"
    surv = tuple(
        Estimate(term=f"survival_{d}d", estimate=float(a), ci=(float(b), float(c)),
                 level=level, method=meth, n=int(r), std_error=float(sd_))
        if d >= a0 else
        Estimate.invalid(f"survival_{d}d", f"age {d} d is below the conditioning "
                         f"age {a0:.2f} d: fewer than {min_at_risk} accounts were "
                         "watched that young", method=meth, level=level, n=int(r))
        for d, a, b, c, r, sd_ in zip(DAYS, s, lo, hi, at_risk, se, strict=True))
    if too_few:
        why = (f"never {min_at_risk} accounts at risk at the same age in this group "
               f"({fr.height} accounts): too few for a survival estimate")
        surv = tuple(Estimate.invalid(e.term, why, method=meth, level=level, n=e.n)
                     for e in surv)
    tb = None
    band: TurnbullBand | None = None
    tb_at: tuple[tuple[float, float], ...] = tuple((np.nan, np.nan) for _ in DAYS)
    if do_turnbull:
        left = fr["left"].to_numpy()
        right = np.where(ev == SUSPENDED, fr["right"].to_numpy(), np.inf)
        res = resolution if (resolution is not None or fr.height <=
                             TURNBULL_EXACT_MAX) else TURNBULL_RESOLUTION
        e, lft, rgt, w = collapse(entry, left, right, res)
        lft = np.maximum(lft, e)
        ok = rgt > lft
        if np.any(ok & np.isfinite(rgt)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                tb = turnbull(lft[ok], rgt[ok], e[ok], w[ok], tol=TURNBULL_TOL,
                              max_iter=TURNBULL_MAX_ITER)
            low, high = tb.survival(days)
            b = (bootstrap if bootstrap is not None else BOOTSTRAP_REPLICATES
                 if estimator == "turnbull" and fr.height <= TURNBULL_EXACT_MAX
                 else 0)
            band = turnbull_band(lft[ok], rgt[ok], e[ok], w[ok], days,
                                 replicates=b, seed=BOOTSTRAP_SEED + seed,
                                 level=level,
                                 tol=BOOTSTRAP_TOL, max_iter=TURNBULL_MAX_ITER,
                                 fit=tb)
        else:  # no suspension observed: nothing for the NPMLE to place
            low = high = np.ones(days.size)
        low = np.where(days >= a0, low, np.nan)
        high = np.where(days >= a0, high, np.nan)
        tb_at = tuple((float(a), float(b)) for a, b in zip(low, high, strict=True))
    if estimator == "turnbull":
        surv, median = _turnbull_estimates(band, a0=a0, at_risk=at_risk,
                                           level=level, min_at_risk=min_at_risk,
                                           n=fr.height, horizon=horizon)
        meth = surv[-1].method if surv else meth
        if too_few:
            surv = tuple(Estimate.invalid(e.term, why, method=e.method, level=level,
                                          n=e.n) for e in surv)
    if estimator == "km" and deleted == "censor":
        surv = tuple(
            _identified(e, d, lo_t, hi_t,
                        closed_share=None if closed is None else float(closed[j]),
                        schedule=None if sched is None else (
                            float(sched[j, 0]), float(sched[j, 1])))
            for j, (e, d, (lo_t, hi_t)) in enumerate(zip(surv, DAYS, tb_at,
                                                         strict=True)))
    if too_few:
        median = Estimate.invalid("median_days", f"never {min_at_risk} accounts at "
                                  "risk at the same age in this group",
                                  method=meth, level=level, n=fr.height)
    n_s = int((ev == SUSPENDED).sum())
    n_d = int((ev == DELETED).sum())
    bounds, widened = _deletion_bounds(entry, fr["left"].to_numpy(),
                                       fr["right"].to_numpy(), tm, ev, days, a0,
                                       level=level)
    if deleted == "censor":
        surv = tuple(_deletion_range(e, d, b, w, n_d) for e, d, b, w in
                     zip(surv, DAYS, bounds, widened, strict=True))
    return GroupResult(group=name, n_accounts=fr.height, n_suspended=n_s,
                       n_deleted=n_d, n_censored=fr.height - n_s - n_d, km=km,
                       nelson_aalen=na, cif_suspended=cif_s, cif_deleted=cif_d,
                       turnbull=tb, median=median, survival=surv, at_risk=at_risk,
                       turnbull_at=tb_at, deleted=deleted, conditional_age=a0,
                       n_exited_before=n_before, turnbull_band=band,
                       estimator=estimator, curve=headline_curve,
                       deletion_bounds=bounds, horizon=horizon)


def _interval_ph(fr: pl.DataFrame, covs: list[str], *, cluster: str | None,
                 level: float, bootstrap: int, notes: list[str]) -> ICPHResult | None:
    """Semiparametric PH on the look-up intervals themselves (no midpoints).

    Numeric covariates only (others are named in a note); deletion censors at the
    last alive look-up; delayed entry at the first.
    """
    num = [c for c in covs if fr[c].dtype.is_numeric()]
    skipped = [c for c in covs if c not in num]
    if skipped:
        notes.append("interval-censored PH: non-numeric covariate(s) "
                     + ", ".join(skipped) + " left out")
    if not num:
        return None
    sub = fr.drop_nulls(num)
    ev = sub["event"].to_numpy()
    right = np.where(ev == SUSPENDED, sub["right"].to_numpy(), np.inf)
    X = sub.select(num).to_numpy().astype(float)
    clusters = sub[cluster].to_numpy() if cluster else None
    try:
        return fit_ic_ph(sub["left"].to_numpy(), right, X, num,
                         entry=sub["entry"].to_numpy(), level=level,
                         bootstrap=bootstrap, clusters=clusters)
    except EstimationError as exc:
        notes.append(f"interval-censored PH not fitted: {exc}")
        return None


def _draws(imputation: str) -> str:
    """How the imputed times were drawn, for the method text."""
    if imputation == "density":
        return ("draws from a piecewise-constant hazard fitted to the look-up "
                "intervals, with a parameter draw per imputation (Pan 2000)")
    return "uniform draws inside each look-up interval"


def _identified(e: Estimate, day: float, low: float, high: float, *,
                closed_share: float | None = None,
                schedule: tuple[float, float] | None = None) -> Estimate:
    """Report a range instead of a number where the look-ups leave ``day`` open.

    Two signs that the look-up schedule does not identify survival at ``day``:

    * fewer than :data:`IDENTIFIED_SHARE` of the suspensions the imputations
      place between the conditioning age and ``day`` lie in look-up intervals
      that close by ``day`` (``closed_share``): the rest straddle the day, and
      only the imputation model decides on which side they fall -- e.g. when
      accounts are found at ages of a few days and looked up weekly, no
      interval closes before day 7;
    * Turnbull's NPMLE is not unique at ``day`` by more than :data:`RANGE_TOL`
      (its mass sits in an innermost interval that contains the day).

    Then the estimate is ``nan`` (no number is presented), the interval is the
    union of the imputation interval and the Turnbull range ``[low, high]``, a
    warning says why, and ``extra`` keeps the imputation estimate
    (``model_estimate``) and interval. ``extra`` always carries
    ``closed_share``, the Turnbull range and the ``schedule_range`` (survival
    with every suspension at the start or at the end of its interval).
    """
    if not e.valid:
        return e
    extra = dict(e.extra)
    if closed_share is not None:
        extra["closed_share"] = closed_share
    if schedule is not None:
        extra["schedule_range"] = (min(schedule), max(schedule))
    has_tb = bool(np.isfinite(low) and np.isfinite(high))
    if has_tb:
        extra["turnbull_range"] = (low, high)
    tb_open = has_tb and high - low > RANGE_TOL
    sched_open = closed_share is not None and closed_share < IDENTIFIED_SHARE
    if not (tb_open or sched_open):
        return replace(e, extra=extra)
    lo, hi = e.ci
    if has_tb:
        lo, hi = min(lo, low), max(hi, high)
    why = []
    if sched_open:
        why.append(f"only {closed_share:.0%} of the suspensions counted by day "
                   f"{day} were seen to happen by then (the others lie in look-up "
                   "intervals that straddle the day)")
    if tb_open:
        why.append(f"the interval-censored NPMLE (Turnbull) allows anything in "
                   f"[{low:.3f}, {high:.3f}]")
    msg = (f"the look-ups do not identify survival at {day} d: " + "; ".join(why)
           + f". Reported as a range [{lo:.3f}, {hi:.3f}] without a point "
           f"estimate (the imputation model alone would say {e.estimate:.3f})")
    extra.update(identified=False, model_estimate=e.estimate, imputed_ci=e.ci)
    return replace(e, estimate=math.nan, ci=(lo, hi),
                   warnings=e.warnings + (msg,), extra=extra)


def _deletion_bounds(entry: np.ndarray, left: np.ndarray, right: np.ndarray,
                     tm: np.ndarray, ev: np.ndarray, days: np.ndarray, a0: float,
                     *, level: float
                     ) -> tuple[tuple[tuple[float, float], ...],
                                tuple[tuple[float, float], ...]]:
    """Survival at ``days`` with deletions as suspensions and as never suspended.

    The independent-censoring curve assumes a deleted account would have been
    suspended like the accounts still watched. Counting every deletion as a
    suspension gives the lowest survival the data allow, keeping deleted accounts
    at risk for ever (never suspended) the highest: together, bounds that hold
    whatever deletion anticipates (Peterson 1976, "Bounds for a joint
    distribution function with fixed sub-distribution functions", PNAS 73,
    11-13). ``(nan, nan)`` below the conditioning age.

    Returns
    -------
    (bounds, range)
        ``bounds``: the two curves at ``days`` with events at the midpoints of
        their look-up intervals (what deletion alone can move); ``range``: the
        same two curves with every event at the start of its interval (lower)
        and every suspension at its end (upper), and their lower and upper
        confidence limits at ``level`` -- a confidence region for survival that
        assumes nothing about deletion nor about where in its interval an event
        happened.
    """
    nan2 = tuple((math.nan, math.nan) for _ in days)
    if not np.any(ev == DELETED):
        return nan2, nan2
    ended = ev != CENSORED
    keep = np.where(ev == DELETED, np.inf, tm)
    low = kaplan_meier(entry, tm, ended, level=level).value(days)[0]
    high = kaplan_meier(entry, keep, ev == SUSPENDED, level=level).value(days)[0]
    # earliest: just after the last alive look-up (and after entry); latest: the
    # first look-up that found the account suspended
    early = np.where(ended, np.nextafter(np.maximum(left, entry), np.inf), tm)
    low_lo = kaplan_meier(entry, early, ended, level=level).value(days)[1]
    late = np.where(ev == SUSPENDED, np.maximum(right, tm), keep)
    high_hi = kaplan_meier(entry, late, ev == SUSPENDED, level=level).value(days)[2]
    ok = days >= a0
    bounds = tuple((float(lo), float(hi)) if k else (math.nan, math.nan)
                   for k, lo, hi in zip(ok, low, high, strict=True))
    widened = tuple((float(lo), float(hi)) if k else (math.nan, math.nan)
                    for k, lo, hi in zip(ok, low_lo, high_hi, strict=True))
    return bounds, widened


def _deletion_range(e: Estimate, day: float, bounds: tuple[float, float],
                    widened: tuple[float, float], n_deleted: int) -> Estimate:
    """Attach the deletion bounds to a survival row; warn where they matter.

    ``extra`` gets ``deletion_bounds`` and ``deletion_range`` (see
    :func:`_deletion_bounds`). When the bounds are wider than the
    row's confidence interval, how deletion relates to suspension moves survival
    at ``day`` by more than sampling error does, and the data alone identify only
    the range: a warning says so and ``deletion_material`` is set.
    """
    if not e.valid or not all(np.isfinite(bounds)):
        return e
    extra = dict(e.extra, deletion_bounds=bounds, deletion_range=widened)
    width = bounds[1] - bounds[0]
    lo, hi = e.ci
    material = bool(np.isfinite(lo) and np.isfinite(hi) and width > hi - lo)
    extra["deletion_material"] = material
    if not material:
        return replace(e, extra=extra)
    msg = (f"deletion could move survival at {day} d by more than its interval: "
           f"counting the {n_deleted} deleted accounts as suspended, or as never "
           f"suspended, gives [{bounds[0]:.3f}, {bounds[1]:.3f}]; with no "
           "assumption about deletion nor about where in its look-up interval an "
           f"event happened, and with sampling error, [{widened[0]:.3f}, "
           f"{widened[1]:.3f}]. The estimate assumes deletion is unrelated to "
           "suspension")
    return replace(e, warnings=e.warnings + (msg,), extra=extra)


def _turnbull_estimates(band: TurnbullBand | None, *, a0: float,
                        at_risk: tuple[int, ...], level: float, min_at_risk: int,
                        n: int, horizon: float | None = None
                        ) -> tuple[tuple[Estimate, ...], Estimate]:
    """Survival at :data:`DAYS` and the median from the Turnbull band."""
    meth = "Turnbull NPMLE with delayed entry (deletion censored)"
    if band is None:  # no suspension seen: S = 1 up to the last look-up
        surv = tuple(
            Estimate(term=f"survival_{d}d", estimate=1.0, ci=(np.nan, np.nan),
                     level=level, method=meth, n=int(r),
                     warnings=("no suspension observed",)) if d >= a0 else
            Estimate.invalid(f"survival_{d}d", f"age {d} d is below the "
                             f"conditioning age {a0:.2f} d", method=meth,
                             level=level, n=int(r))
            for d, r in zip(DAYS, at_risk, strict=True))
        return surv, Estimate.invalid("median_days", "no suspension observed",
                                      method=meth, level=level, n=n)
    if band.replicates:
        meth += (f"; percentile bootstrap over accounts ({band.replicates} "
                 f"resamples, seed {band.seed}) taking the NPMLE range's ends")
    else:
        meth += "; no bootstrap (too many accounts; pass n_boot=B to force one)"
    if a0 > 0:
        meth += f"; conditional on surviving to age {a0:.2f} days"
    surv = []
    for j, (d, r) in enumerate(zip(DAYS, at_risk, strict=True)):
        if d < a0:
            surv.append(Estimate.invalid(
                f"survival_{d}d", f"age {d} d is below the conditioning age "
                f"{a0:.2f} d: fewer than {min_at_risk} accounts were watched that "
                "young", method=meth, level=level, n=int(r)))
            continue
        surv.append(Estimate(
            term=f"survival_{d}d", estimate=float(band.estimate[j]),
            ci=(float(band.ci_low[j]), float(band.ci_high[j])), level=level,
            method=meth, n=int(r),
            extra={"npmle_low": float(band.low[j]),
                   "npmle_high": float(band.high[j])}))
    h = np.inf if horizon is None else horizon
    if np.isnan(band.median) or band.median > h:
        where = "the data" if horizon is None else f"day {h:g}"
        median = Estimate.invalid("median_days", "median not reached: the NPMLE "
                                  f"keeps more than half of its mass beyond {where}",
                                  method=meth, level=level, n=n)
    else:
        ci = _capped(band.median_ci, horizon)
        median = Estimate(term="median_days", estimate=band.median,
                          ci=ci, level=level, method=meth, n=n,
                          extra={"npmle_low": band.median_range[0],
                                 "npmle_high": band.median_range[1]})
    return tuple(surv), median


def _capped(ci: tuple[float, float], horizon: float | None
            ) -> tuple[float, float]:
    """Open the upper end of a Turnbull median interval lying beyond ``horizon``."""
    h = np.inf if horizon is None else horizon
    return (ci[0], ci[1] if ci[1] <= h else np.nan)


def median_interval(g: GroupResult, level: float) -> tuple[float, float]:
    """Interval of a group's median at another ``level``, from the fitted curves.

    The same interval as ``analyze(..., level=level)`` with the same seed: the
    median and every imputation and bootstrap resample do not depend on the
    level, only the band around them does. The band of the curve behind the
    median is formed again at ``level`` (:meth:`SurvivalCurve.interval`: Rubin's
    rules over the kept pooled quantities, or the log-log band from the kept
    variance) and inverted (Brookmeyer & Crowley 1982); with
    ``estimator="turnbull"`` the kept bootstrap medians give the percentile
    interval at ``level``.

    Raises
    ------
    ValueError
        The group's curve does not keep what its band is formed from.
    """
    if g.estimator == "turnbull":
        if g.turnbull_band is None:
            raise ValueError("no Turnbull band: no suspension observed")
        return _capped(g.turnbull_band.median_interval(level), g.horizon)
    if g.deleted == "compete":
        m = _median(g.cif_suspended.at_level(level), cumulative=True,
                    n=g.n_accounts, level=level, method="", horizon=g.horizon)
    else:
        if g.curve is None:
            raise ValueError("no curve behind the median")
        m = _median(g.curve.at_level(level), cumulative=False, n=g.n_accounts,
                    level=level, method="", horizon=g.horizon)
    return m.ci


def _logrank(fr: pl.DataFrame, level: float) -> Estimate | None:
    from statsmodels.duration.survfunc import survdiff

    if fr["group"].n_unique() < 2:
        return None
    ev = (fr["event"].to_numpy() == SUSPENDED).astype(float)
    if ev.sum() == 0:
        return None
    stat, p = survdiff(fr["time"].to_numpy(), ev, fr["group"].to_numpy(),
                       entry=fr["entry"].to_numpy())
    df = fr["group"].n_unique() - 1
    return Estimate(term="logrank_chi2", estimate=float(stat), ci=(np.nan, np.nan),
                    level=level, method="log-rank test with delayed entry "
                    "(statsmodels survdiff; Mantel 1966)", n=fr.height,
                    extra={"df": df, "p_value": float(p)})


def analyze(  # noqa: C901, PLR0912, PLR0913, PLR0915
    ds: Dataset,
    *,
    cohort: Any = None,
    where: Any = None,
    by: str | None = None,
    origin: Origin = "created",
    deleted: DeletedAs = "censor",
    covariates: Sequence[str] | None = None,
    strata: str | None = None,
    period: str = "month",
    level: float = 0.95,
    min_at_risk: int = 25,
    n_imputations: int = 20,
    imputation: Imputation = "density",
    turnbull_fit: bool = True,
    turnbull_resolution: float | None = None,
    estimator: Estimator = "km",
    n_boot: int | None = None,
    seed: int = 0,
    complete_followup: bool = False,
    cox: bool = True,
    cox_max_n: int | None = 2_000_000,
    cluster: str | None = None,
    actors: Any = None,
    age_period: str | None = "week",
    interval_ph: bool = False,
    interval_ph_bootstrap: int = 200,
    imputations: int | None = None,
    bootstrap: int | None = None,
) -> ChurnResult:
    """Survival of accounts from a status panel: how fast they are suspended.

    Builds per-account lifetimes from ``observations`` (interval-censored
    suspension, right censoring at the last look-up, delayed entry at the first
    alive look-up; see :mod:`measure.churn._lifetimes`) and estimates the
    Kaplan--Meier curve (over multiply imputed event times, or midpoint times for
    very large groups), the Turnbull NPMLE (interval-censored),
    Nelson--Aalen cumulative hazard, Aalen--Johansen cumulative incidence of
    suspension and deletion, the median and survival at 1, 7, 30 and 90 days with
    intervals, a Cox model with a proportional-hazards check, monthly suspension
    rates with exact Poisson intervals and the stock-and-flow table.

    Parameters
    ----------
    ds
        Dataset with ``observations`` (and ``accounts``).
    cohort
        Restrict to these accounts: a CSV/Parquet file with ``account_id``, a polars
        DataFrame or an iterable of ids. Default: every account in ``observations``.
    where
        Restricted filter on ``accounts`` columns, e.g. ``"lang=ar"`` or
        ``{"lang": "ar"}`` (values are bound, never pasted into SQL).
    by
        ``accounts`` column to stratify by (curves per group, log-rank test, group
        dummies in the Cox model).
    origin
        ``"created"`` (age since ``accounts.created_at``) or ``"first_seen"``.
    deleted
        ``"censor"``: deletion (``not_found``) censors the suspension time, and the
        curve estimates latent time to suspension, assuming deletion is independent
        of it. ``"compete"``: survival = 1 - cumulative incidence of suspension, the
        share not suspended (deleted accounts can no longer be).
    covariates
        Cox covariates (``accounts`` columns or ``followers_at_entry``,
        ``statuses_at_entry``). Default: counts at entry when the panel has them,
        plus ``by``.
    strata
        Column for a stratified Cox baseline.
    period
        ``"month"`` or ``"week"`` for the calendar rates.
    level
        Confidence level.
    min_at_risk
        Curves start at the youngest age with at least this many accounts at risk
        and are conditional on surviving to it (see :func:`conditioning_age`);
        survival at younger ages is reported as not estimable. ``1`` conditions on
        the earliest entry only.
    n_imputations
        Imputations of the event time inside each look-up interval. Up to
        200,000 accounts per group the headline Kaplan--Meier survival, band and
        median combine the imputed fits by Rubin's rules (see
        :func:`measure.churn._km.km_imputed`); above that the midpoint curve's band
        is widened by a subsample's between-imputation variance
        (:func:`measure.churn._km.imputation_variance`). ``0`` or ``1``: the plain
        midpoint curve with its Greenwood band.
    imputation
        How each imputation draws the event time inside its look-up interval:
        ``"density"`` (default) from a piecewise-constant hazard fitted by
        maximum (penalised) likelihood to all intervals with delayed entry,
        drawing the hazard's parameters anew for each imputation (proper
        multiple imputation, Pan 2000; :mod:`measure.churn._imputation`), or
        ``"uniform"`` (a flat event density between two look-ups). Headline
        days that the look-up schedule does not identify (see ``docs/churn.md``)
        are reported as a range with no point estimate and a warning.
    turnbull_fit, turnbull_resolution
        Fit the Turnbull NPMLE; grid in days for its endpoints (default: exact up
        to 20,000 accounts per group, else one day).
    estimator
        Which estimator gives the headline ``survival`` and ``median``: ``"km"``
        (Kaplan--Meier on midpoint times, band widened for the look-up spacing) or
        ``"turnbull"`` (Turnbull's NPMLE for the interval-censored times, with a
        percentile bootstrap band over accounts; needs ``deleted="censor"``). With
        weekly look-ups and a hazard that falls steeply in the first days the
        midpoint puts events too late; the NPMLE uses only the intervals.
    n_boot
        Bootstrap resamples for the Turnbull intervals (default 200 for groups of
        up to 20,000 accounts, else 0; ``0`` for none).
    seed
        Seed of the imputations, the bootstrap and the age x period sample (the
        same seed gives the same result).
    complete_followup
        Restrict to the accounts created between the panel's first look-up and
        90 days before its last one (origin at the first sighting with
        ``origin="first_seen"``). Each of them can be followed to age 90 days, so
        the end of the panel censors none of them before day 90, and calendar-time
        changes of the hazard (crackdowns) do not bias survival up to day 90 --
        the estimand to pick for "share suspended within N days of creation"
        (see ``docs/churn.md``).
    cox, cox_max_n
        Fit the Cox model; subsample size cap (``None``: all accounts).
    cluster
        ``accounts`` column of presumed actors: the standard errors of the curves
        (Williams 1995) and of the Cox model (Lin & Wei 1989) are clustered by it.
        Accounts with no value are clusters of their own.
    actors
        Presumed actors from resurrection links instead of a column: a
        resurrection result, its links table (``previous``, ``new``; a chain of
        links is one actor), a table with ``account_id`` and ``actor``, or a path
        to a Parquet/CSV file of either (``measure resurrection --links-out``).
        Accounts in no link are clusters of their own. Not with ``cluster``.

    imputations, bootstrap
        Former names of ``n_imputations`` and ``n_boot`` (deprecated; they warn).

    Returns
    -------
    ChurnResult

    Which population the survival figures describe: with a hazard that changes
    with calendar time (a crackdown), the age-scale curve of accounts created over
    a long span is not identified at ages beyond the follow-up of the latest
    cohorts. ``complete_followup=True`` restricts to the accounts every one of
    which can be followed to day 90 inside the panel, the estimand the
    calibration on simulated worlds checks (``docs/churn.md``).

    References
    ----------
    Klein, J. P. & Moeschberger, M. L. (2003). Survival Analysis: Techniques for
    Censored and Truncated Data, 2nd ed., Springer (ch. 4, 5, 8). Rubin, D. B.
    (1987). Multiple Imputation for Nonresponse in Surveys, Wiley. Turnbull, B. W.
    (1976). JRSS B 38, 290-295.
    """
    validate_option("origin", origin, Origin)
    validate_option("deleted", deleted, DeletedAs)
    if period not in ("month", "week"):
        raise ConfigError(f"invalid value {period!r} for option 'period'; valid "
                          "values are: 'month', 'week'")
    if not 0 < level < 1:
        raise ConfigError(f"level must be between 0 and 1, got {level!r}")
    validate_option("estimator", estimator, Estimator)
    validate_option("imputation", imputation, Imputation)
    if estimator == "turnbull":
        if deleted != "censor":
            raise ConfigError(
                "estimator='turnbull' estimates the latent time to suspension with "
                "deletion censored; use deleted='censor', or estimator='km' for the "
                "cumulative incidence with deletion as a competing risk")
        turnbull_fit = True
    if imputations is not None:
        warnings.warn("churn.analyze(imputations=) is now n_imputations=",
                      DeprecationWarning, stacklevel=2)
        n_imputations = imputations
    if bootstrap is not None:
        warnings.warn("churn.analyze(bootstrap=) is now n_boot=",
                      DeprecationWarning, stacklevel=2)
        n_boot = bootstrap
    imputations, bootstrap = n_imputations, n_boot
    if bootstrap is not None and bootstrap < 0:
        raise ConfigError(f"n_boot must be >= 0 resamples, got {bootstrap!r}")
    timings: dict[str, float] = {}
    t0 = _time.perf_counter()
    has_counts = ds.has_column("observations", "followers_count")
    if covariates is None:
        covariates = ["followers_at_entry"] if has_counts and cox else []
    covs = list(covariates)
    extra_cols = list(covs)
    if strata and strata not in extra_cols:
        extra_cols.append(strata)
    if cluster and actors is not None:
        raise ConfigError("give presumed actors either as a column (cluster) or as "
                          "resurrection links (actors), not both")
    if cluster and cluster not in extra_cols:
        extra_cols.append(cluster)
    lt: Lifetimes = build_lifetimes(ds, origin=origin, cohort=cohort, where=where,
                                    by=by, covariates=extra_cols)
    timings["lifetimes"] = _time.perf_counter() - t0
    fr = lt.frame
    actors_note = None
    if actors is not None:
        table, actors_note = actor_table(actors)
        fr = join_actors(fr, table)
        cluster = ACTOR_COLUMN
    # an account looked up alive only once and never again has no follow-up
    no_follow = (fr["event"] == 0) & (fr["time"] <= fr["entry"])
    excluded = dict(lt.excluded)
    n_nf = int(no_follow.sum())
    if n_nf:
        excluded["no_follow_up"] = n_nf
        fr = fr.filter(~no_follow)
    notes: list[str] = []
    assumptions = ASSUMPTIONS
    horizon = FOLLOWUP_HORIZON_DAYS if complete_followup else None
    if complete_followup:
        span = ds.sql(_sql.PANEL_SPAN)
        p0, p1 = span["first_look"][0], span["last_look"][0]
        stop = p1 - timedelta(days=FOLLOWUP_HORIZON_DAYS)
        us = pl.col("origin_at").dt.epoch("us")  # time-zone names may differ
        inside = ((us >= round(p0.timestamp() * 1e6))
                  & (us <= round(stop.timestamp() * 1e6)))
        n_out = fr.height - fr.filter(inside).height
        excluded["outside_complete_followup"] = n_out
        fr = fr.filter(inside)
        if fr.height == 0:
            raise EstimationError(
                f"no account in the selection was created between the panel's first "
                f"look-up ({p0}) and {FOLLOWUP_HORIZON_DAYS:g} days before its last "
                f"({stop}): the panel is too short for a complete-follow-up cohort; "
                "drop complete_followup (--complete-followup)")
        assumptions = (*ASSUMPTIONS[:3], COMPLETE_FOLLOWUP_ASSUMPTION.format(
            h=FOLLOWUP_HORIZON_DAYS))
        notes.append(f"complete-follow-up cohort: accounts with origin in "
                     f"[{p0:%Y-%m-%d %H:%M}, {stop:%Y-%m-%d %H:%M}] UTC "
                     f"({fr.height} accounts; {n_out} outside left out)")
    t1 = _time.perf_counter()
    overall = _group("all", fr, deleted=deleted, level=level,
                     do_turnbull=turnbull_fit, resolution=turnbull_resolution,
                     min_at_risk=min_at_risk, imputations=imputations,
                     estimator=estimator, bootstrap=bootstrap, horizon=horizon,
                     cluster=cluster, imputation=imputation, seed=seed)
    groups: dict[str, GroupResult] = {}
    logrank = None
    if by is not None:
        for key, sub in sorted(fr.partition_by("group", as_dict=True).items()):
            groups[str(key[0])] = _group(str(key[0]), sub, deleted=deleted,
                                         level=level, do_turnbull=turnbull_fit,
                                         resolution=turnbull_resolution,
                                         min_at_risk=min_at_risk,
                                         imputations=imputations,
                                         estimator=estimator, bootstrap=bootstrap,
                                         horizon=horizon, cluster=cluster,
                                         imputation=imputation, seed=seed)
        logrank = _logrank(fr, level)
    timings["curves"] = _time.perf_counter() - t1
    t2 = _time.perf_counter()
    cox_res = None
    if cox:
        cox_fr = fr
        cox_covs = list(covs)
        if by is not None and by not in cox_covs and strata != by:
            if by not in fr.columns:
                cox_fr = fr.with_columns(pl.col("group").alias(by))
            cox_covs.append(by)
        if cox_covs:
            try:
                cox_res = fit_cox(cox_fr, cox_covs, strata=strata, cluster=cluster,
                                  level=level, max_n=cox_max_n)
            except np.linalg.LinAlgError as e:
                # e.g. a handful of accounts, or covariates that do not vary among
                # the suspended: the survival figures stand without the model
                notes.append(f"the Cox model could not be fitted ({e}: too few "
                             "accounts or events for its covariates "
                             f"{', '.join(cox_covs)}); no hazard ratios reported")
    icph = None
    if interval_ph and covs:
        icph = _interval_ph(fr, covs, cluster=cluster, level=level,
                            bootstrap=interval_ph_bootstrap, notes=notes)
    timings["cox"] = _time.perf_counter() - t2
    t3 = _time.perf_counter()
    rates = calendar_rates(fr, period=period, level=level)
    timings["rates"] = _time.perf_counter() - t3
    t4 = _time.perf_counter()
    truncation = None
    if fr.height >= 2:
        truncation = tsai_test(fr["entry"].to_numpy(), fr["time"].to_numpy(),
                               fr["event"].to_numpy())
        w = truncation_warning(truncation)
        if w:
            notes.append(w)
    ap = None
    if age_period is not None and int((fr["event"] == SUSPENDED).sum()) > 0:
        lex = fr
        if fr.height > AGE_PERIOD_MAX_N:
            lex = fr.sample(n=AGE_PERIOD_MAX_N, seed=IMPUTE_SEED + seed)
            notes.append(f"the age x period model is fitted on a random sample of "
                         f"{AGE_PERIOD_MAX_N:,} of the {fr.height:,} accounts (rate "
                         "ratios keep their meaning; their intervals describe the "
                         "sample)")
        table = lexis_split(lex["entry_at"], lex["exit_at"], lex["origin_at"],
                            lex["event"], period=age_period)
        ap = age_period_model(table, level=level)
    timings["truncation_and_periods"] = _time.perf_counter() - t4
    if cluster:
        by_what = (f"presumed actors: {actors_note}" if actors_note
                   else repr(cluster))
        notes.append(f"standard errors of the curves and the Cox model are "
                     f"clustered by {by_what} (accounts of one cluster may share "
                     "their fate; Lin & Wei 1989, Williams 1995)")
    for g in [overall, *groups.values()]:
        if g.turnbull is not None and not g.turnbull.converged:
            notes.append(f"Turnbull EM for group {g.group!r} stopped after "
                         f"{g.turnbull.iterations} iterations before reaching its "
                         "tolerance: read its column as approximate")
    for g in [overall, *groups.values()]:
        days_open = [e.term.split("_")[1] for e in g.survival
                     if e.valid and e.extra.get("identified") is False]
        if days_open:
            where = "" if g is overall else f" in group {g.group!r}"
            notes.append(
                f"survival at {', '.join(days_open)}{where} is not identified by "
                "the look-up schedule (no or too few look-up intervals close "
                "between the conditioning age and that day): reported as a range "
                "without a point estimate (see the survival rows' warnings)")
    for g in [overall, *groups.values()]:
        days_del = [e.term.split("_")[1] for e in g.survival
                    if e.valid and e.extra.get("deletion_material")]
        if days_del:
            where = "" if g is overall else f" in group {g.group!r}"
            notes.append(
                f"deletion could move survival at {', '.join(days_del)}{where} by "
                "more than its interval; if deleted accounts were about to be "
                "suspended (or never would be), the data allow only the deletion "
                "bounds (see the survival rows' warnings and deletion_bounds)")
    if overall.conditional_age > 0:
        notes.append(
            f"accounts were found at age {overall.conditional_age:.2f} days or "
            f"later (fewer than {min_at_risk} at risk before): every curve is "
            "conditional on surviving to that age; suspensions before it are not "
            "seen by this panel")
    return ChurnResult(dataset=dataset_id(ds), origin=origin, deleted=deleted,
                       level=level, by=by, overall=overall, groups=groups,
                       logrank=logrank,
                       cox=cox_res, rates=rates, excluded=excluded,
                       assumptions=assumptions, warnings=tuple(notes),
                       timings=timings, truncation=truncation, age_period=ap,
                       cluster=cluster, interval_ph=icph)
