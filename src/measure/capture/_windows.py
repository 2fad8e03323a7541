"""Which population a capture–recapture estimate refers to, in time.

Every estimator here assumes a closed population: the lists sample the same
accounts. Lists collected over windows that are long against account lifetimes
sample an open population: accounts are created and suspended while the lists are
collected. A closed model then estimates (at best) the accounts alive at some time
during the detections' span, not the accounts alive on a date, and lists whose
windows do not overlap look negatively dependent (an account can be on both only
if it lived through both; Pollock 1982, "A capture-recapture design robust to
unequal probability of capture", *J. Wildl. Manage.* 46, 752-757, on the closure
assumption; Schwarz & Arnason 1996, *Biometrics* 52, 860-873, for the
super-population of an open model).

This module states the estimand from ``detections.detected_at``, measures the
turnover among detected accounts during the span (``accounts.created_at`` and the
first suspended/not-found ``observations``), and restricts the detections to a
window around a date on request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from measure.capture import _sql
from measure.errors import ConfigError

#: Turnover share of detected accounts above which a closed model is warned about.
MAX_TURNOVER = 0.02


@dataclass(frozen=True)
class Population:
    """The population an estimate refers to.

    Attributes
    ----------
    refers_to
        Plain-language estimand.
    start, end
        First and last detection kept (``None`` when no detection is dated).
    restricted
        Detections were restricted to a window on request (``at``, ``window``).
    sources
        Per source: first and last detection and accounts detected.
    n_detected
        Distinct accounts detected (kept detections).
    created_during, gone_during
        Detected accounts created after the span began, and first seen suspended,
        not found or deactivated before it ended (``None`` without the tables).
    undated
        Detection rows without ``detected_at`` (left out when restricted).
    """

    refers_to: str
    start: datetime | None
    end: datetime | None
    restricted: bool
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_detected: int = 0
    created_during: int | None = None
    gone_during: int | None = None
    turned_over: int | None = None
    undated: int = 0

    @property
    def span_days(self) -> float | None:
        """Days from the first to the last detection kept."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds() / 86400

    @property
    def turnover_share(self) -> float | None:
        """Share of detected accounts created or gone during the span."""
        if self.turned_over is None or not self.n_detected:
            return None
        return self.turned_over / self.n_detected

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        share = self.turnover_share
        return {
            "refers_to": self.refers_to,
            "start": iso(self.start), "end": iso(self.end),
            "span_days": self.span_days, "restricted": self.restricted,
            "sources": {k: {"first": iso(v["first"]), "last": iso(v["last"]),
                            "n": v["n"]} for k, v in self.sources.items()},
            "n_detected": self.n_detected, "created_during": self.created_during,
            "gone_during": self.gone_during,
            "turnover_share": None if share is None or math.isnan(share) else share,
            "undated_detections": self.undated,
        }


def window_bounds(at: datetime | str | None, window: float | None
                  ) -> tuple[datetime | None, datetime | None]:
    """``[at - window/2, at + window/2]`` (UTC), or no bounds when ``at`` is None.

    Raises
    ------
    ConfigError
        ``window`` without ``at``, ``at`` without ``window``, a non-positive
        window or an unreadable date.
    """
    if at is None and window is None:
        return None, None
    if at is None or window is None:
        raise ConfigError("give both 'at' (a date) and 'window' (days around it) "
                          "to restrict the detections in time")
    if not (isinstance(window, int | float) and math.isfinite(window)
            and window > 0):
        raise ConfigError(f"invalid value {window!r} for option 'window'; give a "
                          "positive number of days, e.g. 14")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError as exc:
            raise ConfigError(f"invalid value {at!r} for option 'at'; give an ISO "
                              "date such as 2014-11-01") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    half = timedelta(days=window / 2)
    return at - half, at + half


def describe_population(ds: Any, sources: list[str], start: datetime | None,
                        end: datetime | None) -> tuple[Population, list[str]]:
    """State the estimand of the kept detections and warn about an open population.

    Returns
    -------
    (Population, warnings)
    """
    params = {"sources": sources, "start": start, "end": end}
    if not ds.has_column("detections", "detected_at"):
        if start is not None:
            raise ConfigError("detections has no detected_at column: the lists "
                              "cannot be restricted to a time window")
        return Population("the accounts the lists sample (no detection time "
                          "recorded: the lists are taken to describe one date)",
                          None, None, False), []
    span = ds.sql(_sql.DETECTION_SPAN, params)
    per = {r["source"]: {"first": r["first"], "last": r["last"], "n": int(r["n"])}
           for r in span.iter_rows(named=True)}
    undated = int(span["undated"].sum()) if span.height else 0
    firsts = [v["first"] for v in per.values() if v["first"] is not None]
    lasts = [v["last"] for v in per.values() if v["last"] is not None]
    s0 = min(firsts) if firsts else None
    s1 = max(lasts) if lasts else None
    restricted = start is not None
    warns: list[str] = []
    n_det = created = gone = turned = None
    if (s0 is not None and s1 is not None and ds.has("accounts")
            and ds.has_column("accounts", "created_at")):
        if ds.has("observations"):
            t = ds.sql(_sql.TURNOVER, params | {"span_start": s0, "span_end": s1})
            n_det, created, gone, turned = (int(t[c][0]) for c in (
                "n", "created_during", "gone_during", "turned_over"))
    days = (s1 - s0).total_seconds() / 86400 if s0 and s1 else None
    if restricted:
        refers = (f"accounts alive at some time between {start:%Y-%m-%d} "
                  f"and {end:%Y-%m-%d} (detections restricted to that window)")
    elif days is None:
        refers = ("the accounts the lists sample (no detection time recorded: "
                  "the lists are taken to describe one date)")
    elif days <= 1:
        refers = f"accounts alive on {s0:%Y-%m-%d} (every detection within a day)"
    else:
        refers = (f"accounts alive at some time between {s0:%Y-%m-%d} and "
                  f"{s1:%Y-%m-%d} ({days:,.0f} days of detections), not on one date")
    pop = Population(refers, s0, s1, restricted, per, n_det or 0, created, gone,
                     turned, undated)
    share = pop.turnover_share
    if share is not None and share > MAX_TURNOVER:
        warns.append(
            f"the population is open: {share:.1%} of the detected accounts were "
            f"created or suspended during the {days:,.0f} days of detections; a "
            "closed model estimates at best the accounts alive at some time in "
            "that span. Restrict the lists to a date with at=/window= (CLI --at, "
            "--window) for the accounts alive then")
    names = sorted(per)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pa, pb = per[a], per[b]
            if None in (pa["first"], pa["last"], pb["first"], pb["last"]):
                continue
            if pa["last"] < pb["first"] or pb["last"] < pa["first"]:
                warns.append(
                    f"lists '{a}' and '{b}' were collected in windows that do not "
                    "overlap: an account is on both only if it lived through both, "
                    "which a closed model reads as negative dependence")
    if restricted and undated:
        warns.append(f"{undated} detection row(s) without detected_at were left "
                     "out by the time window")
    return pop, warns
