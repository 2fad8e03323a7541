"""The frozen result of :func:`measure.describe.analyze`."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from measure._results import Estimate, _fmt, estimates_to_polars
from measure.describe._compare import ComparisonResult
from measure.describe._hyperactive import HyperactiveResult

#: Terms shown in the short text summary (per numeric variable).
SUMMARY_STATS = ("mean", "median", "p90", "max")


@dataclass(frozen=True)
class DescribeResult:
    """Profile of a cohort, with its hyperactive accounts, comparisons and series.

    Attributes
    ----------
    cohort
        Where the cohort came from.
    n_accounts
        Cohort size.
    estimates
        Every scalar statistic (see :func:`measure.describe._profile.profile` for
        the terms), each with an interval and the number of accounts it rests on.
    tables
        ``histograms`` (log-scale bins), ``languages``, ``locations`` (normalised,
        with a raw example), ``creation_months``, ``name_tokens``.
    hyperactive
        Activity concentration, or ``None`` without activity data.
    comparison
        Profile against the control group, or ``None``.
    before_suspension
        Activity before suspension between two groups, or ``None``.
    series
        Network size per look-up day (may be empty).
    reference_time
        "Now" of the dataset (latest look-up, else latest tweet).
    activity_source
        ``"tweets"``, ``"lookups"`` or ``"none"``.
    warnings
        Diagnostics.
    """

    cohort: str
    n_accounts: int
    estimates: tuple[Estimate, ...]
    tables: dict[str, pl.DataFrame] = field(compare=False)
    hyperactive: HyperactiveResult | None = None
    comparison: ComparisonResult | None = None
    before_suspension: ComparisonResult | None = None
    series: pl.DataFrame | None = field(default=None, compare=False)
    reference_time: datetime | None = None
    activity_source: str = "none"
    warnings: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def estimate(self, term: str) -> Estimate:
        """Return the estimate named ``term`` (e.g. ``"followers_median"``)."""
        for e in self.estimates:
            if e.term == term:
                return e
        raise KeyError(f"no estimate {term!r}; terms: "
                       + ", ".join(e.term for e in self.estimates))

    def table(self, name: str) -> pl.DataFrame:
        """One of :attr:`tables` (or ``"series"``)."""
        if name == "series" and self.series is not None:
            return self.series
        return self.tables[name]

    def to_polars(self) -> pl.DataFrame:
        """Tidy table (``term, estimate, std_error, ci_low, ci_high, level``)."""
        parts = [estimates_to_polars(list(self.estimates))]
        for sub in (self.hyperactive, self.comparison, self.before_suspension):
            if sub is not None:
                parts.append(sub.to_polars())
        return pl.concat(parts, how="vertical")

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON (what ``measure describe --json`` prints)."""
        return {
            "cohort": self.cohort,
            "n_accounts": self.n_accounts,
            "reference_time": self.reference_time,
            "activity_source": self.activity_source,
            "estimates": [e.to_dict() for e in self.estimates],
            "tables": {k: v.to_dicts() for k, v in self.tables.items()},
            "hyperactive": self.hyperactive.to_dict() if self.hyperactive else None,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "before_suspension": (self.before_suspension.to_dict()
                                  if self.before_suspension else None),
            "series": self.series.to_dicts() if self.series is not None else [],
            "warnings": list(self.warnings),
            "options": self.options,
        }

    def summary(self) -> str:
        """Text summary of the main figures."""
        lines = [f"Population profile: {self.cohort} ({self.n_accounts:,} accounts; "
                 f"activity from {self.activity_source})"]
        by = {e.term: e for e in self.estimates}
        if "n_tweets" in by:
            lines.append(f"  tweets: {by['n_tweets'].estimate:,.0f}")
        for var in ("followers", "friends", "statuses", "age_days",
                    "tweets_per_day", "in_follower_share"):
            parts = []
            for s in SUMMARY_STATS:
                e = by.get(f"{var}_{s}")
                if e is None or not e.valid:
                    continue
                ci = "" if s == "max" else f" [{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]"
                parts.append(f"{s} {_fmt(e.estimate)}{ci}")
            if parts:
                n = by[f"{var}_mean"].n
                lines.append(f"  {var} (n={n}): " + "; ".join(parts))
        shares = [e for e in self.estimates if e.valid and "share" in e.term
                  and not e.term.startswith("in_follower")]
        for e in shares:
            lines.append(f"  {e.term}: {_fmt(e.estimate)} [{_fmt(e.ci[0])}, "
                         f"{_fmt(e.ci[1])}] (n={e.n})")
        if "locations" in self.tables:
            top = self.tables["locations"].filter(
                pl.col("location") != "(none)").head(5)
            lines.append("  top locations: " + ", ".join(
                f"{r['location']} ({r['count']})" for r in top.iter_rows(named=True)))
        if "creation_months" in self.tables:
            cm = self.tables["creation_months"].sort("count", descending=True).head(3)
            lines.append("  busiest creation months: " + ", ".join(
                f"{r['month'][:7]} ({r['count']})" for r in cm.iter_rows(named=True)))
        for sub in (self.hyperactive, self.comparison, self.before_suspension):
            if sub is not None:
                lines.append(sub.summary())
        if self.series is not None and self.series.height:
            s = self.series
            lines.append(f"  size series: {s.height} look-up days, alive "
                         f"{s['alive'].min()}..{s['alive'].max()}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        return (f"<DescribeResult {self.cohort}: {self.n_accounts} accounts, "
                f"{len(self.estimates)} estimates>")

    def plot(self, ax: Any = None, kind: str = "followers") -> Any:
        """Draw one figure panel and return its Axes.

        Parameters
        ----------
        ax
            Matplotlib Axes (a new figure when ``None``).
        kind
            A numeric variable (log-scale histogram: ``followers``, ``friends``,
            ``statuses``, ``age_days``, ``tweets_per_day``, ...), ``"creation_months"``,
            ``"languages"`` or ``"series"``.
        """
        from measure.describe._plot import plot_result

        return plot_result(self, ax=ax, kind=kind)

    def plot_all(self) -> Any:
        """Draw a grid of every available panel and return the Figure."""
        from measure.describe._plot import plot_all

        return plot_all(self)
