"""Frozen result objects of the churn family."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._contract import ResultMixin, fmt_ci
from measure._results import Estimate, estimates_to_polars
from measure.churn._cox import CoxResult
from measure.churn._icph import ICPHResult
from measure.churn._km import SurvivalCurve
from measure.churn._truncation import AgePeriodResult, TruncationTest
from measure.churn._turnbull import TurnbullBand, TurnbullFit

#: Days at which survival is reported.
DAYS = (1, 7, 30, 90)


def _num(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, np.integer):
        return int(x)
    return x


@dataclass(frozen=True)
class GroupResult:
    """Survival figures for one group of accounts (``"all"`` for everyone).

    Attributes
    ----------
    group
        Group label.
    n_accounts, n_suspended, n_deleted, n_censored
        Accounts at risk and how their follow-up ended.
    km
        Kaplan--Meier of time to suspension, deletion censored (midpoint times).
    nelson_aalen
        Cumulative hazard of suspension (deletion censored).
    cif_suspended, cif_deleted
        Aalen--Johansen cumulative incidences of the two competing events.
    turnbull
        Interval-censored NPMLE of time to suspension (deletion censored), or
        ``None`` when not computed.
    median
        Median time to suspension in days.
    survival
        Probability of not being suspended by each of :data:`DAYS`.
    at_risk
        Number at risk at each of :data:`DAYS`.
    turnbull_at
        ``(low, high)`` Turnbull survival range at each of :data:`DAYS`.
    deleted
        ``"censor"`` or ``"compete"``: how ``survival`` and ``median`` treat deletion.
    conditional_age
        Every curve is conditional on surviving to this age (days): the youngest
        age with enough accounts at risk.
    n_exited_before
        Accounts whose follow-up ended before ``conditional_age`` (left out).
    turnbull_band
        Turnbull survival at :data:`DAYS` and median with bootstrap intervals, or
        ``None``.
    estimator
        ``"km"`` or ``"turnbull"``: which estimator fills ``survival`` and
        ``median``.
    curve
        The Kaplan--Meier curve behind ``survival`` and ``median`` (over multiply
        imputed event times where those were used, else ``km``); ``None`` with
        ``deleted="compete"``. Plots draw this curve, so figure and headline agree.
    deletion_bounds
        ``(low, high)`` Kaplan--Meier survival (midpoint times) at each of
        :data:`DAYS` counting every deletion as a suspension, and keeping deleted
        accounts at risk as never suspended: bounds whatever deletion anticipates
        (``nan`` without deletions).
    horizon
        With a complete-follow-up cohort, the last day up to which the median is
        searched; else ``None``.
    """

    group: str
    n_accounts: int
    n_suspended: int
    n_deleted: int
    n_censored: int
    km: SurvivalCurve
    nelson_aalen: SurvivalCurve
    cif_suspended: SurvivalCurve
    cif_deleted: SurvivalCurve
    turnbull: TurnbullFit | None
    median: Estimate
    survival: tuple[Estimate, ...]
    at_risk: tuple[int, ...]
    turnbull_at: tuple[tuple[float, float], ...]
    deleted: str
    conditional_age: float = 0.0
    n_exited_before: int = 0
    turnbull_band: TurnbullBand | None = None
    estimator: str = "km"
    curve: SurvivalCurve | None = None
    deletion_bounds: tuple[tuple[float, float], ...] = ()
    horizon: float | None = None

    def survival_rows(self) -> list[dict[str, Any]]:
        """Rows ``{day, survival, ci_low, ci_high, at_risk, turnbull_low/high}``."""
        b = self.turnbull_band
        nan = (math.nan,) * len(DAYS)
        blo = nan if b is None else tuple(b.ci_low)
        bhi = nan if b is None else tuple(b.ci_high)
        return [{"day": d, "survival": _num(e.estimate), "ci_low": _num(e.ci[0]),
                 "ci_high": _num(e.ci[1]), "at_risk": int(n),
                 "turnbull_low": _num(tb[0]), "turnbull_high": _num(tb[1]),
                 "turnbull_ci_low": _num(lo) if not math.isnan(tb[0]) else None,
                 "turnbull_ci_high": _num(hi) if not math.isnan(tb[0]) else None}
                for d, e, n, tb, lo, hi in zip(DAYS, self.survival, self.at_risk,
                                               self.turnbull_at, blo, bhi,
                                               strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """Headline figures as plain JSON."""
        return {
            "n_accounts": self.n_accounts, "n_suspended": self.n_suspended,
            "n_deleted": self.n_deleted, "n_censored": self.n_censored,
            "median_days": _num(self.median.estimate),
            "median_ci": [_num(self.median.ci[0]), _num(self.median.ci[1])],
            "survival": self.survival_rows(),
            "conditional_on_age_days": _num(self.conditional_age),
            "estimator": self.estimator,
            "deletion_bounds": [
                {"days": d, "low": _num(lo), "high": _num(hi),
                 "range_low": _num(e.extra.get("deletion_range", (math.nan,))[0]),
                 "range_high": _num(e.extra.get("deletion_range",
                                                (math.nan, math.nan))[1]),
                 "material": bool(e.extra.get("deletion_material", False))}
                for d, (lo, hi), e in zip(DAYS, self.deletion_bounds, self.survival,
                                          strict=False)],
        }


@dataclass(frozen=True)
class ChurnResult(ResultMixin):
    """Everything ``measure.churn.analyze`` estimates.

    Satisfies the result contract (:class:`measure._contract.Result`); the
    headline ``estimate`` is the median time to suspension of all accounts. Its
    interval inverts the pointwise band of the curve behind it (Brookmeyer &
    Crowley 1982): a band pooled over imputations by Rubin's rules, the log-log
    band of the midpoint Kaplan--Meier curve, or that of the cumulative incidence
    with ``deleted="compete"``; with ``estimator="turnbull"`` it is a percentile
    bootstrap. The result keeps what each band is formed from (per-time pooled
    cumulative hazard, within- and between-imputation variances and degrees of
    freedom; the variances; the bootstrap medians), so ``conf_int(level)`` gives
    the interval of ``analyze(..., level=level)`` with the same seed.

    Attributes
    ----------
    dataset
        Name (or id, ``name@sha256:<digest>``) of the dataset.
    origin, deleted, level, by
        Options used.
    overall
        :class:`GroupResult` for all accounts in the selection.
    groups
        One :class:`GroupResult` per level of ``by`` (empty without ``by``).
    logrank
        Log-rank test between the groups (``Estimate`` of the chi-square statistic,
        p-value in ``extra``), or ``None``.
    cox
        Cox model, or ``None`` when no covariate applies.
    rates
        Per-period suspension rates and the stock-and-flow table.
    excluded
        Accounts left out, by reason.
    assumptions, warnings
        What the figures rest on; diagnostics.
    truncation
        Tsai's (1990) test that the age at discovery and the time to suspension
        are quasi-independent (delayed entry assumes they are).
    age_period
        Poisson age x calendar-period model of the suspension rate over every
        account's exposure (a crackdown shows as a period effect), or ``None``.
    cluster
        Column the standard errors are clustered by, or ``None``.
    interval_ph
        Semiparametric proportional-hazards fit on the look-up intervals
        (Finkelstein 1986; ``interval_ph=True``), or ``None``.
    options
        The options asked for (at least ``origin``, ``deleted``, ``level``,
        ``by``, ``cluster`` and ``estimator``).
    """

    family = "churn"
    unit = "days"

    dataset: str
    origin: str
    deleted: str
    level: float
    by: str | None
    overall: GroupResult
    groups: dict[str, GroupResult]
    logrank: Estimate | None
    cox: CoxResult | None
    rates: pl.DataFrame
    excluded: dict[str, int]
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    truncation: TruncationTest | None = field(default=None, compare=False)
    age_period: AgePeriodResult | None = field(default=None, compare=False)
    cluster: str | None = None
    interval_ph: ICPHResult | None = field(default=None, compare=False)
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        recorded = {"origin": self.origin, "deleted": self.deleted,
                    "level": self.level, "by": self.by, "cluster": self.cluster,
                    "estimator": self.overall.estimator}
        object.__setattr__(self, "options", recorded | dict(self.options))
        super().__post_init__()

    # -- accessors ---------------------------------------------------------------
    @property
    def median(self) -> Estimate:
        """Median time to suspension (days), all accounts."""
        return self.overall.median

    @property
    def estimate(self) -> Estimate:
        """The headline: median time to suspension (days), all accounts."""
        return self.overall.median

    def headline_sentence(self) -> str:
        """Return the report's headline: follow-up, median and survival."""
        o = self.overall
        parts = [
            f"{o.n_accounts:,} accounts followed: {o.n_suspended:,} suspended, "
            f"{o.n_deleted:,} deleted, {o.n_censored:,} alive at their last "
            f"look-up. Median time to suspension: {fmt_ci(o.median)} days."
        ]
        for d, est in zip(DAYS, o.survival, strict=False):
            if d in (30, 90) and est.valid:
                parts.append(f"Not suspended by day {d}: {fmt_ci(est, pct=True)}.")
        return " ".join(parts)

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Median interval at ``level`` (``churn._analyze.median_interval``)."""
        from measure.churn._analyze import median_interval

        try:
            return median_interval(self.overall, level)
        except ValueError as e:
            raise self._cannot_recompute(level, str(e)) from e

    @property
    def method(self) -> str:
        """Short description of the estimators (that of the headline survival)."""
        o = self.overall
        used = [e.method for e in (*o.survival, o.median) if e.valid and e.method]
        if used:
            extra = ("" if o.estimator == "turnbull" or o.turnbull is None else
                     "; Turnbull NPMLE for the interval-censored times beside it")
            if o.estimator == "turnbull":
                extra = "; Kaplan-Meier over imputed times beside it"
            return f"{used[0]}{extra}; origin={self.origin}"
        head = ("Kaplan-Meier with delayed entry (deletion censored)"
                if self.deleted == "censor" else
                "Aalen-Johansen cumulative incidence (deletion competing)")
        return f"{head}; origin={self.origin}"

    def estimates(self) -> list[Estimate]:
        """Every single quantity as an :class:`Estimate`."""
        out: list[Estimate] = []
        for g in [self.overall, *self.groups.values()]:
            pre = "" if g is self.overall else f"{self.by}={g.group}:"
            m = g.median
            out.append(_rename(m, pre + m.term))
            out.extend(_rename(e, pre + e.term) for e in g.survival)
        if self.logrank is not None:
            out.append(self.logrank)
        if self.cox is not None:
            out.extend(self.cox.estimates())
        return out

    def to_polars(self) -> pl.DataFrame:
        """Tidy table (``term, estimate, std_error, ci_low, ci_high, level``)."""
        return estimates_to_polars(self.estimates())

    def rates_rows(self) -> list[dict[str, Any]]:
        """Per-period rates as JSON rows."""
        cols = ["period", "suspensions", "account_days", "rate", "ci_low", "ci_high"]
        if self.rates.height == 0:
            return []
        return [{k: _num(v) for k, v in r.items()}
                for r in self.rates.select(cols).to_dicts()]

    def stock_flow_rows(self) -> list[dict[str, Any]]:
        """Stock-and-flow table as JSON rows."""
        cols = ["period", "alive_start", "new", "suspended", "deleted", "censored",
                "returned", "alive_end"]
        if self.rates.height == 0:
            return []
        return self.rates.select(cols).to_dicts()

    def to_dict(self) -> dict[str, Any]:
        """Exactly what ``measure churn --json`` prints."""
        d: dict[str, Any] = {
            "headline": self.headline_dict(), "options": dict(self.options),
            "timings": dict(self.timings),
            "dataset": self.dataset, "method": self.method, "origin": self.origin,
            "deleted": self.deleted, "level": self.level, "by": self.by,
        }
        d.update(self.overall.to_dict())
        d["rates"] = self.rates_rows()
        d["stock_flow"] = self.stock_flow_rows()
        d["cumulative_incidence"] = {
            "suspended": _curve_rows(self.overall.cif_suspended),
            "deleted": _curve_rows(self.overall.cif_deleted),
        }
        d["excluded"] = dict(self.excluded)
        d["groups"] = {k: g.to_dict() for k, g in self.groups.items()}
        d["logrank"] = (None if self.logrank is None else {
            "statistic": _num(self.logrank.estimate),
            "df": self.logrank.extra.get("df"),
            "p_value": _num(self.logrank.extra.get("p_value"))})
        d["cox"] = None if self.cox is None else {
            "terms": [{"term": t, "coef": _num(b), "std_error": _num(s),
                       "hazard_ratio": _num(math.exp(b)), "ph_p_value": _num(p)}
                      for t, b, s, p in zip(self.cox.terms, self.cox.coef,
                                            self.cox.std_error,
                                            self.cox.ph_test["p_value"], strict=True)],
            "n": self.cox.n, "n_events": self.cox.n_events, "strata": self.cox.strata,
            "cluster": self.cox.cluster, "n_clusters": self.cox.n_clusters,
            "std_error_model": [_num(v) for v in self.cox.se_model],
            "warnings": list(self.cox.warnings)}
        t = self.truncation
        d["truncation_test"] = None if t is None else {
            "statistic": _num(t.statistic), "z": _num(t.z),
            "p_value": _num(t.p_value), "tau_conditional": _num(t.tau_conditional),
            "n_comparable": t.n_comparable}
        ap = self.age_period
        d["age_period"] = None if ap is None else {
            "lr_statistic": _num(ap.lr_statistic), "lr_df": ap.lr_df,
            "lr_p_value": _num(ap.lr_p_value),
            "rate_ratios": [{k: (_num(v) if isinstance(v, float) else
                                 v.isoformat() if hasattr(v, "isoformat") else v)
                             for k, v in r.items()}
                            for r in ap.rate_ratios.to_dicts()]}
        d["cluster"] = self.cluster
        ip = self.interval_ph
        d["interval_ph"] = None if ip is None else {
            "terms": [{"term": k, "coef": _num(ip.coef[k]), "std_error": _num(ip.se[k]),
                       "ci": [_num(ip.ci[k][0]), _num(ip.ci[k][1])],
                       "hazard_ratio": _num(math.exp(ip.coef[k]))} for k in ip.coef],
            "n": ip.n, "loglik": _num(ip.loglik), "bootstrap": ip.bootstrap,
            "converged": ip.converged, "notes": list(ip.notes)}
        d["assumptions"] = list(self.assumptions)
        d["warnings"] = list(self.warnings)
        return d

    # -- display -----------------------------------------------------------------
    def summary(self) -> str:
        """Text summary."""
        o = self.overall
        lines = [self.headline_sentence(),
                 f"Churn of {self.dataset}: {o.n_accounts} accounts at risk, "
                 f"{o.n_suspended} suspended, {o.n_deleted} deleted, "
                 f"{o.n_censored} still alive at their last look-up",
                 f"  method: {self.method}"]
        if self.excluded:
            lines.append("  left out: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in self.excluded.items() if v))
        lines += _group_lines(o, self.level)
        for g in self.groups.values():
            lines.append(f"  -- {self.by} = {g.group}: n={g.n_accounts}, "
                         f"suspended={g.n_suspended}")
            lines += ["  " + s for s in _group_lines(g, self.level)]
        if self.logrank is not None:
            lr = self.logrank
            lines.append(f"  log-rank test between groups: chi2={lr.estimate:.3f}, "
                         f"df={lr.extra.get('df')}, p={lr.extra.get('p_value'):.3g}")
        b = [(d, lo, hi) for d, (lo, hi) in zip(DAYS, o.deletion_bounds, strict=False)
             if not math.isnan(lo)]
        if b:
            lines.append("  survival if deletions were suspensions / never "
                         "suspended: " + ", ".join(
                             f"{d} d {lo:.3f} to {hi:.3f}" for d, lo, hi in b))
        if self.cox is not None:
            lines.append("  " + self.cox.summary().replace("\n", "\n  "))
        t = self.truncation
        if t is not None and math.isfinite(t.z):
            lines.append(f"  Tsai's test of independent discovery: z={t.z:.2f}, "
                         f"p={t.p_value:.3g} ({t.n_comparable} comparable pairs)")
        ap = self.age_period
        if ap is not None and math.isfinite(ap.lr_statistic):
            lines.append(f"  period effect on the suspension rate (age x "
                         f"period Poisson model): LR={ap.lr_statistic:.1f}, "
                         f"df={ap.lr_df}, p={ap.lr_p_value:.3g}")
        if self.rates.height:
            lines.append("  period     susp   account-days   rate/1000d (CI)"
                         "            alive start -> end")
            for r in self.rates.iter_rows(named=True):
                rate = r["rate"]
                txt = ("NA" if rate is None or math.isnan(rate) else
                       f"{1000 * rate:.3f} ({1000 * r['ci_low']:.3f}-"
                       f"{1000 * r['ci_high']:.3f})")
                lines.append(f"  {r['period']:<9} {r['suspensions']:>6} "
                             f"{r['account_days']:>14,.0f}   {txt:<26} "
                             f"{r['alive_start']:>7} -> {r['alive_end']}")
        for a in self.assumptions:
            lines.append(f"  assumes: {a}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        m = self.overall.median
        med = "NA" if not m.valid else f"{m.estimate:.4g}"
        return (f"<ChurnResult {self.dataset}: n={self.overall.n_accounts}, "
                f"suspended={self.overall.n_suspended}, median={med} d>")

    def plot(self, ax: Any = None, kind: str = "survival") -> Any:
        """Plot one panel and return the Axes.

        ``kind``: ``"survival"`` (KM with band, Turnbull, at-risk counts), ``"cif"``
        (cumulative incidence of suspension and deletion) or ``"rates"``.
        """
        from measure.churn._plot import plot

        return plot(self, ax=ax, kind=kind)


def _rename(e: Estimate, term: str) -> Estimate:
    from dataclasses import replace

    return replace(e, term=term)


def _curve_rows(c: SurvivalCurve) -> list[dict[str, Any]]:
    est, lo, hi = c.value(np.asarray(DAYS, dtype=float))
    return [{"day": d, "estimate": _num(a), "ci_low": _num(b), "ci_high": _num(h)}
            for d, a, b, h in zip(DAYS, est, lo, hi, strict=True)]


def _group_lines(g: GroupResult, level: float) -> list[str]:
    m = g.median
    if not m.valid:
        med = f"not reached ({m.reason})"
    elif math.isnan(m.estimate):
        med = (f"not reached; after {_f(m.ci[0])} days ({level:.0%} lower "
               "confidence limit, no upper limit)")
    else:
        hi = "no upper limit" if math.isinf(m.ci[1]) else f"to {_f(m.ci[1])}"
        med = f"{m.estimate:.1f} days ({level:.0%} CI {_f(m.ci[0])} {hi})"
    out = [f"  median time to suspension: {med}"]
    if g.conditional_age > 0:
        out.append(f"  (conditional on surviving to age {g.conditional_age:.2f} days, "
                   "the youngest age with enough accounts at risk)")
    for row in g.survival_rows():
        tb = ""
        if row["turnbull_low"] is not None:
            lo, hi = row["turnbull_low"], row["turnbull_high"]
            tb = (f"   Turnbull {lo:.3f}" if abs(hi - lo) < 5e-4 else
                  f"   Turnbull {lo:.3f}-{hi:.3f}")
        out.append(f"  not suspended by day {row['day']:>3}: {_f(row['survival'])} "
                   f"({_f(row['ci_low'])}-{_f(row['ci_high'])}), "
                   f"at risk {row['at_risk']}{tb}")
    return out


def _f(x: float | None) -> str:
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"
