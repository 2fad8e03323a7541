"""Frozen result objects shared by every estimator.

Each estimator returns a small immutable dataclass deriving from :class:`Estimate`
(one quantity) or holding several of them. ``to_polars()`` gives one tidy table with
fixed column names ``term, estimate, std_error, ci_low, ci_high, level``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

RESULT_COLUMNS = ("term", "estimate", "std_error", "ci_low", "ci_high", "level")


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


@dataclass(frozen=True)
class Estimate:
    """One estimated quantity with its interval, method and assumptions.

    Attributes
    ----------
    term
        What is estimated (e.g. ``"supporters_in_frame"``).
    estimate
        Point estimate; ``nan`` when the statistic does not apply (see ``reason``).
    ci
        ``(low, high)`` interval at ``level``.
    level
        Confidence level of ``ci``.
    std_error
        Standard error when defined, else ``nan``.
    method
        Short name of the method, with a reference.
    n
        Sample size the estimate rests on.
    assumptions
        What a reader must accept for the interval to mean what it says.
    warnings
        Diagnostics raised while estimating.
    reason
        Why the statistic does not apply, when ``estimate`` is ``nan``.
    """

    term: str
    estimate: float
    ci: tuple[float, float]
    level: float = 0.95
    std_error: float = float("nan")
    method: str = ""
    n: int | None = None
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def valid(self) -> bool:
        """Whether the statistic applies (``reason`` is ``None``)."""
        return self.reason is None

    @classmethod
    def invalid(cls, term: str, reason: str, *, method: str = "", level: float = 0.95,
                n: int | None = None) -> Estimate:
        """Build a 'does not apply' value carrying its reason."""
        nan = float("nan")
        return cls(term=term, estimate=nan, ci=(nan, nan), level=level,
                   method=method, n=n, reason=reason)

    def conf_int(self) -> tuple[float, float]:
        """Return the ``(low, high)`` interval."""
        return self.ci

    def to_polars(self) -> pl.DataFrame:
        """One-row tidy table with the fixed result columns."""
        return pl.DataFrame(
            {
                "term": [self.term],
                "estimate": [float(self.estimate)],
                "std_error": [float(self.std_error)],
                "ci_low": [float(self.ci[0])],
                "ci_high": [float(self.ci[1])],
                "level": [float(self.level)],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (nan becomes ``None``)."""

        def clean(v: float) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        return {
            "term": self.term,
            "estimate": clean(float(self.estimate)),
            "std_error": clean(float(self.std_error)),
            "ci": [clean(float(self.ci[0])), clean(float(self.ci[1]))],
            "level": self.level,
            "method": self.method,
            "n": self.n,
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
            "reason": self.reason,
        }

    def summary(self) -> str:
        """Human-readable summary with method and assumptions."""
        if not self.valid:
            return f"{self.term}: not available ({self.reason})"
        lines = [
            f"{self.term}: {_fmt(self.estimate)} "
            f"({self.level:.0%} CI {_fmt(self.ci[0])} to {_fmt(self.ci[1])})",
            f"  method: {self.method}",
        ]
        if self.n is not None:
            lines.append(f"  n: {self.n}")
        for a in self.assumptions:
            lines.append(f"  assumes: {a}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        if not self.valid:
            return f"<Estimate {self.term}: NA ({self.reason})>"
        return (
            f"<Estimate {self.term}={_fmt(self.estimate)} "
            f"[{_fmt(self.ci[0])}, {_fmt(self.ci[1])}] {self.method}>"
        )


def estimates_to_polars(estimates: list[Estimate]) -> pl.DataFrame:
    """Stack several estimates into one tidy table with the fixed columns."""
    if not estimates:
        return pl.DataFrame(
            schema={c: (pl.Utf8 if c == "term" else pl.Float64) for c in RESULT_COLUMNS}
        )
    return pl.concat([e.to_polars() for e in estimates], how="vertical")
