"""The frozen result of :func:`measure.resurrection.analyze`."""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from measure._contract import ResultMixin, fmt_ci
from measure._results import Estimate, estimates_to_polars
from measure._stats import t_quantile
from measure.errors import EstimationError


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


@dataclass(frozen=True)
class ResurrectionResult(ResultMixin):
    """Successor links, lineages and resurrection measures.

    Satisfies the result contract (:class:`measure._contract.Result`); the
    headline ``estimate`` is the return rate within ``rate_days``.
    ``conf_int(level)`` recomputes its interval on the complementary log-log
    scale with Rubin's (1987) total variance and degrees of freedom, as pooled
    over the link draws.

    Attributes
    ----------
    n_suspended
        Suspended accounts studied (the cohort's accounts seen ``suspended``).
    n_pairs, pairs_by_key
        Candidate pairs after blocking, and rows contributed per blocking key.
    n_linked, threshold, expected_precision
        Accepted one-to-one links, the probability threshold used and the mean
        link probability of the accepted links.
    n_backup
        Accepted links whose successor was created before the suspension (at
        or before the predecessor's last active look-up): backups, counted as
        returns at delay 0.
    rates
        Return rate within ``d`` days (``Estimate`` per horizon).
    median_delay
        Median return delay among returns within the window.
    follower_recovery
        Follower ratio (new account at ~14 days over predecessor at suspension)
        by incarnation number of the new account.
    incarnations
        Number of presumed actors by count of accounts in their lineage.
    links
        ``new, previous, probability, delay_days, created_new, backup``.
    lineages
        ``actor_id, accounts (ordered), n_accounts``.
    pairs
        Every scored candidate pair with its features and probabilities.
    curve
        ``day, rate, ci_low, ci_high``: the time-to-return curve.
    window, backup_days
        The successor search window: from ``backup_days`` before to ``window``
        days after the first suspended look-up.
    successors
        Agreement of the links with the platform's ``successors`` table (a
        :class:`~measure.resurrection._successors.SuccessorAgreement`), or
        ``None`` when the dataset has none or ``successors="ignore"``.
    diagnostics
        Label-free checks from decoy pairs (a
        :class:`~measure.resurrection._decoys.DecoyDiagnostics`: ``bands``,
        the model's and the decoys' false links by probability band, and
        ``rate_bounds``, lower and upper bounds of the rates), or ``None``
        when run with ``decoys=False``.
    dataset
        Id of the dataset analysed (``name@sha256:<digest>`` once pinned), when the
        analysis records it.
    options
        The options asked for (at least ``window``, ``backup_days``, ``level``
        and ``rate_days``; from :func:`~measure.resurrection.analyze`, every
        option it takes, the ``where`` filter as text and the linkage knobs
        under ``settings``).
    timings
        Seconds per stage.
    """

    family = "resurrection"
    unit = "proportion"

    n_suspended: int
    n_pairs: int
    pairs_by_key: dict[str, int]
    n_linked: int
    threshold: float
    expected_precision: float
    rates: dict[float, Estimate]
    rate_days: float
    median_delay: Estimate
    follower_recovery: dict[int, Estimate]
    incarnations: dict[int, int]
    method: str
    links: pl.DataFrame = field(repr=False)
    lineages: pl.DataFrame = field(repr=False)
    pairs: pl.DataFrame = field(repr=False)
    model: Any = field(repr=False)
    curve: pl.DataFrame = field(repr=False)
    window: float = 60.0
    n_backup: int = 0
    backup_days: float = 0.0
    data_end: Any = None
    level: float = 0.95
    warnings: tuple[str, ...] = ()
    successors: Any = field(default=None, repr=False)
    diagnostics: Any = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    dataset: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        recorded = {"window": self.window, "backup_days": self.backup_days,
                    "level": self.level, "rate_days": self.rate_days}
        object.__setattr__(self, "options", recorded | dict(self.options))
        super().__post_init__()

    # -- the result contract ---------------------------------------------------
    @property
    def estimate(self) -> Estimate:
        """The headline: return rate within ``rate_days`` (as :attr:`rate`)."""
        return self.rate

    @property
    def assumptions(self) -> tuple[str, ...]:
        """What the headline rate rests on."""
        return self.rate.assumptions

    def headline_sentence(self) -> str:
        """Return the report's headline: the return rate and the median delay."""
        return (
            f"Of {self.n_suspended:,} suspended accounts, an estimated "
            f"{fmt_ci(self.rate, pct=True)} came back under a new account within "
            f"{self.rate_days:g} days; median delay {fmt_ci(self.median_delay)} "
            "days."
        )

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Rate interval at ``level``: ``cloglog(F) -+ t_df sqrt(T)`` (Rubin 1987).

        The pooled ``cloglog`` point is the midpoint of the stored interval on that
        scale; ``T = W + (1 + 1/m) B`` and the degrees of freedom are those stored
        with the rate.
        """
        e = self.rate
        x = e.extra
        keys = ("within_var", "between_var", "df", "m")
        lo, hi = e.ci
        if (not all(k in x for k in keys) or not (0 < lo < hi < 1)
                or not x["within_var"] > 0):
            raise EstimationError(
                f"resurrection: the interval of {e.term} is not a pooled "
                "complementary log-log interval (no return within the horizon, or "
                f"no variance); run measure.resurrection.analyze(..., "
                f"level={level:g})")
        m = int(x["m"])
        total = float(x["within_var"]) + (1 + 1 / m) * float(x["between_var"])
        q_lo = math.log(-math.log(1 - lo))
        q_hi = math.log(-math.log(1 - hi))
        centre = (q_lo + q_hi) / 2
        half = float(t_quantile(level, x["df"])) * math.sqrt(total)
        return (1 - math.exp(-math.exp(centre - half)),
                1 - math.exp(-math.exp(centre + half)))

    @property
    def rate(self) -> Estimate:
        """The headline return rate (within ``rate_days``, default 30)."""
        return self.rates[self.rate_days]

    @property
    def rate_30d(self) -> Estimate:
        """Return rate within 30 days (alias of :attr:`rate` at the default)."""
        return self.rates.get(30.0, self.rate)

    @property
    def pairs_per_suspended(self) -> float:
        """Candidate pairs per suspended account (blocking load)."""
        return self.n_pairs / self.n_suspended if self.n_suspended else float("nan")

    def estimates(self) -> list[Estimate]:
        """Every reported quantity as an ``Estimate``."""
        out = [self.rates[d] for d in sorted(self.rates)]
        out.append(self.median_delay)
        out.extend(self.follower_recovery[k] for k in sorted(self.follower_recovery))
        return out

    def to_polars(self) -> pl.DataFrame:
        """Tidy table ``term, estimate, std_error, ci_low, ci_high, level``."""
        return estimates_to_polars(self.estimates())

    def to_dict(self) -> dict[str, Any]:
        """Return the ``--json`` output as a plain dict."""
        r = self.rate_30d
        return {
            "headline": self.headline_dict(),
            "dataset": self.dataset,
            "options": dict(self.options),
            "timings": dict(self.timings),
            "n_suspended": self.n_suspended,
            "n_candidate_pairs": self.n_pairs,
            "pairs_per_suspended": _num(self.pairs_per_suspended),
            "pairs_by_key": self.pairs_by_key,
            "n_linked": self.n_linked,
            "n_backup_links": self.n_backup,
            "threshold": self.threshold,
            "expected_precision": _num(self.expected_precision),
            "rate_30d": _num(r.estimate),
            "rate_30d_ci": [_num(r.ci[0]), _num(r.ci[1])],
            "rates": {f"{d:g}": self.rates[d].to_dict() for d in sorted(self.rates)},
            "median_delay_days": _num(self.median_delay.estimate),
            "median_delay_days_ci": [_num(self.median_delay.ci[0]),
                                     _num(self.median_delay.ci[1])],
            "follower_recovery": {str(k): _num(v.estimate) for k, v in
                                  sorted(self.follower_recovery.items())},
            "follower_recovery_detail": {str(k): v.to_dict() for k, v in
                                         sorted(self.follower_recovery.items())},
            "incarnations": {str(k): v for k, v in sorted(self.incarnations.items())},
            "window_days": self.window,
            "backup_days": self.backup_days,
            "level": self.level,
            "data_end": self.data_end,
            "method": self.method,
            "successors": (None if self.successors is None
                           else self.successors.to_dict()),
            "decoys": (None if self.diagnostics is None
                       else self.diagnostics.to_dict()),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Text summary."""
        lines = [
            self.headline_sentence(),
            "Resurrection: successor linking and return rates",
            f"  suspended accounts: {self.n_suspended}; candidate pairs: "
            f"{self.n_pairs} ({self.pairs_per_suspended:.2f} per suspended)",
            f"  links: {self.n_linked} at threshold {self.threshold:.3g} "
            f"(expected precision {self.expected_precision:.3f})",
            (f"  backups (successor created before the suspension, sought up to "
             f"{self.backup_days:g} days before it): {self.n_backup} of the links"
             if self.backup_days > 0 else
             "  backups (successors created before the suspension): not sought "
             "(backup_days 0)"),
        ]
        for e in self.estimates():
            lines.extend("  " + x for x in e.summary().splitlines()
                         if not x.strip().startswith("assumes"))
        inc = ", ".join(f"{k}: {v}" for k, v in sorted(self.incarnations.items()))
        lines.append(f"  accounts per presumed actor: {inc}")
        if self.successors is not None:
            lines.extend("  " + x for x in self.successors.summary_lines())
        if self.diagnostics is not None:
            lines.extend("  " + x for x in self.diagnostics.summary_lines())
        if self.rate.assumptions:
            lines.append("  the rate assumes:")
            lines.extend(f"    - {a}" for a in self.rate.assumptions)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        r = self.rate
        return (f"<ResurrectionResult n_suspended={self.n_suspended} "
                f"n_linked={self.n_linked} {r.term}={r.estimate:.3f} "
                f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]>")

    def write_links(self, path: str | os.PathLike[str]) -> Path:
        """Write the links table as Parquet atomically (temporary file, then rename)."""
        from measure._io import atomic_path

        dest = Path(path)
        with atomic_path(dest) as tmp:
            self.links.write_parquet(tmp)
        return dest

    def draw_audit(self, n: int, **kwargs: Any) -> pl.DataFrame:
        """Stratified sample of candidate pairs to code by hand.

        See :func:`measure.resurrection._audit.draw_audit` (``accounts``,
        ``cuts``, ``allocation``, ``seed``).
        """
        from measure.resurrection._audit import draw_audit

        return draw_audit(self, n, **kwargs)

    def audit(self, sheet: Any, **kwargs: Any) -> Any:
        """Link precision and recall from a coded audit sheet (a ``LinkAudit``)."""
        from measure.resurrection._audit import audit_links

        return audit_links(sheet, result=self, level=kwargs.pop("level", self.level),
                           **kwargs)

    def plot(self, ax: Any = None) -> Any:
        """Time-to-return curve with its pointwise CI band (matplotlib Axes)."""
        from measure.resurrection._plot import plot_curve

        return plot_curve(self, ax=ax)
