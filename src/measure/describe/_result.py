"""The frozen result of :func:`measure.describe.analyze`."""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import polars as pl

from measure._contract import ResultMixin, deprecated, fmt_ci
from measure._results import Estimate, _fmt, estimates_to_polars
from measure.describe._compare import ComparisonResult
from measure.describe._hyperactive import HyperactiveResult

#: Terms shown in the short text summary (per numeric variable).
SUMMARY_STATS = ("mean", "median", "p90", "max")
#: Term of the headline estimate.
HEADLINE_TERM = "followers_median"


class EstimateTuple(tuple):
    """The estimates of a :class:`DescribeResult`; call it for a list.

    ``res.estimates()`` is the spelling of the result contract. Using the tuple
    itself (iterating, indexing) still works and warns with a
    ``PendingDeprecationWarning``: it will be deprecated.
    """

    def __call__(self) -> list[Estimate]:
        """Return the estimates as a list."""
        return list(tuple.__iter__(self))

    def __iter__(self) -> Iterator[Estimate]:
        _tuple_use()
        return tuple.__iter__(self)

    def __getitem__(self, i: Any) -> Any:
        _tuple_use()
        return tuple.__getitem__(self, i)


def _tuple_use() -> None:
    warnings.warn("using DescribeResult.estimates as a tuple will be deprecated; "
                  "call it: res.estimates()", PendingDeprecationWarning,
                  stacklevel=3)


@dataclass(frozen=True, repr=False, eq=False)
class HeadlineEstimate(Estimate):
    """The headline :class:`~measure.Estimate` of a :class:`DescribeResult`.

    Calling it with a term (``res.estimate("followers_mean")``), the former
    spelling of :meth:`DescribeResult.by_term`, still works for one release and
    warns with a ``DeprecationWarning``.
    """

    lookup: Callable[[str], Estimate] | None = field(default=None, compare=False,
                                                     repr=False)

    def __call__(self, term: str) -> Estimate:
        """Return the estimate named ``term`` (deprecated: use ``by_term``)."""
        deprecated("DescribeResult.estimate(term)", "DescribeResult.by_term(term)")
        if self.lookup is None:
            raise KeyError(term)
        return self.lookup(term)

    def plain(self) -> Estimate:
        """Return the same values as a plain :class:`~measure.Estimate`."""
        return Estimate(**{f.name: getattr(self, f.name) for f in fields(Estimate)})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HeadlineEstimate):
            other = other.plain()
        return self.plain() == other

    def __hash__(self) -> int:
        return hash(self.plain())


@dataclass(frozen=True)
class DescribeResult(ResultMixin):
    """Profile of a cohort, with its hyperactive accounts, comparisons and series.

    Satisfies the result contract (:class:`measure._contract.Result`); the
    headline ``estimate`` is the median number of followers. Its interval is
    the distribution-free order-statistic interval (Hahn & Meeker 1991, sec.
    5.2): the order statistics whose ranks are Binomial(n, 1/2) quantiles, with
    an infinite side when the cohort is too small to bound it. For a weighted
    cohort it is a percentile bootstrap over accounts resampled with their
    weights, or, when there are too many to resample, Woodruff's interval at
    Kish's effective sample size. The headline keeps what its interval is formed
    from (the distinct follower counts with their numbers of accounts or weight
    shares, or the bootstrap replicates of the median), so ``conf_int(level)``
    gives the interval of ``analyze(..., level=level)`` with the same seed.

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
    options
        The options asked for.
    dataset
        Id of the dataset analysed (``name@sha256:<digest>`` once pinned), when the
        analysis records it.
    timings
        Seconds per stage, where measured.
    """

    family = "describe"
    unit = "followers"

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
    dataset: str | None = None
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.estimates, EstimateTuple):
            object.__setattr__(self, "estimates",
                               EstimateTuple(tuple(self.estimates)))
        super().__post_init__()

    # -- the result contract ---------------------------------------------------
    @property
    def estimate(self) -> HeadlineEstimate:
        """The headline: median number of followers of the cohort.

        Calling it with a term, ``res.estimate("followers_mean")``, is the former
        spelling of :meth:`by_term` (deprecated).
        """
        ests = self.estimates()
        e = next((x for x in ests if x.term == HEADLINE_TERM), None)
        if e is None:
            e = Estimate.invalid(HEADLINE_TERM, "the cohort has no follower counts")
        values = {f.name: getattr(e, f.name) for f in fields(Estimate)}
        return HeadlineEstimate(**values, lookup=self.by_term)

    @property
    def method(self) -> str:
        """Method of the headline estimate."""
        return self.estimate.method

    @property
    def assumptions(self) -> tuple[str, ...]:
        """What the estimates rest on (each once, in order)."""
        return tuple(dict.fromkeys(a for e in self.estimates()
                                   for a in e.assumptions))

    def headline_sentence(self) -> str:
        """Return the report's headline: the cohort and its median followers."""
        head = [f"Cohort: {self.cohort} ({self.n_accounts:,} accounts; activity "
                f"measured from {self.activity_source})."]
        med = next((e for e in self.estimates() if e.term == HEADLINE_TERM), None)
        if med is not None and med.valid:
            head.append(f"Median followers {fmt_ci(med)}.")
        return " ".join(head)

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Median interval at ``level`` from what the headline keeps."""
        kept = self.estimate.extra.get("interval")
        if kept is None:
            return super()._recompute_ci(level)
        return kept.ci(level)

    def _no_recompute_reason(self) -> str:
        return "the headline does not keep what its interval is formed from"

    def table(self, name: str) -> pl.DataFrame:
        """One of :attr:`tables` (or ``"series"``)."""
        if name == "series" and self.series is not None:
            return self.series
        return self.tables[name]

    def to_polars(self) -> pl.DataFrame:
        """Tidy table (``term, estimate, std_error, ci_low, ci_high, level``)."""
        parts = [estimates_to_polars(self.estimates())]
        for sub in (self.hyperactive, self.comparison, self.before_suspension):
            if sub is not None:
                parts.append(sub.to_polars())
        return pl.concat(parts, how="vertical")

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON (what ``measure describe --json`` prints)."""
        return {
            "headline": self.headline_dict(),
            "dataset": self.dataset,
            "timings": dict(self.timings),
            "cohort": self.cohort,
            "n_accounts": self.n_accounts,
            "reference_time": self.reference_time,
            "activity_source": self.activity_source,
            "estimates": [e.to_dict() for e in self.estimates()],
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
        lines = [self.headline_sentence(),
                 f"Population profile: {self.cohort} ({self.n_accounts:,} accounts; "
                 f"activity from {self.activity_source})"]
        ests = self.estimates()
        by = {e.term: e for e in ests}
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
        shares = [e for e in ests if e.valid and "share" in e.term
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
                f"{len(self.estimates())} estimates>")

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
