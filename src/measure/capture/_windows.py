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

When the lists span more than a day and the accounts' creation times are known,
the estimate counts the accounts **alive on a reference date** (``at``; by default
the middle of the detections' span): detected accounts created after it, or found
gone before it, are left out, and the remaining accounts keep every detection they
have. "Ever alive during the windows" is not estimated: it includes accounts that
lived hours inside the windows, whom no list could catch, so any figure for it
rests on extrapolation the lists cannot check. Accounts alive on a date are
length-biased towards long lives and exposed to most lists.

Whether a detected account was alive on the date is read from its creation time,
the last time it is known alive (its last detection or active look-up) and the
first look-up after that finding it gone. An account last known alive before the
date and not found gone by then is *uncertain*: it counts as alive when its end,
spread evenly between those two times, more likely falls after the date (or when
it was never found gone). The estimates with every uncertain account left out and
with every one kept are reported as the range this reading spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

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
    created_during, gone_during, turned_over
        Detected accounts created after the span began, first seen suspended,
        not found or deactivated before it ended, and either (``None`` without
        the tables).
    undated
        Detection rows without ``detected_at`` (left out when restricted).
    reference_date
        The date whose living accounts the estimate counts (``None``: the lists
        are taken to describe one date, or the accounts' creation times are
        unknown).
    n_alive, n_not_alive, n_uncertain
        Detected accounts counted as alive on ``reference_date``, left out
        (created after it or found gone before it), and uncertain (see the module
        notes; counted among ``n_alive`` when their end more likely falls after
        the date).
    alive_range
        Headline estimates with every uncertain account left out and with every
        one kept.
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
    reference_date: datetime | None = None
    n_alive: int | None = None
    n_not_alive: int | None = None
    n_uncertain: int | None = None
    alive_range: tuple[float, float] | None = None

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
            "reference_date": iso(self.reference_date),
            "n_alive": self.n_alive, "n_not_alive": self.n_not_alive,
            "n_uncertain": self.n_uncertain,
            "alive_range": None if self.alive_range is None
            else list(self.alive_range),
        }


def parse_date(at: datetime | str | None) -> datetime | None:
    """``at`` as a UTC datetime (``None`` stays ``None``).

    Raises
    ------
    ConfigError
        An unreadable date.
    """
    if at is None:
        return None
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError as exc:
            raise ConfigError(f"invalid value {at!r} for option 'at'; give an ISO "
                              "date such as 2014-11-01") from exc
    if not isinstance(at, datetime):
        raise ConfigError(f"invalid value {at!r} for option 'at'; give an ISO "
                          "date such as 2014-11-01")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def window_bounds(at: datetime | str | None, window: float | None
                  ) -> tuple[datetime | None, datetime | None]:
    """``[at - window/2, at + window/2]`` (UTC); no bounds without ``window``.

    Raises
    ------
    ConfigError
        ``window`` without ``at``, a non-positive window or an unreadable date.
    """
    at = parse_date(at)
    if window is None:
        return None, None
    if at is None:
        raise ConfigError("'window' needs 'at': give the date (at=) the window "
                          "of detections is centred on")
    if not (isinstance(window, int | float) and math.isfinite(window)
            and window > 0):
        raise ConfigError(f"invalid value {window!r} for option 'window'; give a "
                          "positive number of days, e.g. 14")
    half = timedelta(days=window / 2)
    return at - half, at + half


def describe_population(ds: Any, sources: list[str], start: datetime | None,  # noqa: C901
                        end: datetime | None, at: datetime | None = None
                        ) -> tuple[Population, list[str]]:
    """State the estimand of the kept detections and warn about an open population.

    Parameters
    ----------
    ds
        The dataset.
    sources
        Sources used.
    start, end
        Detections kept (``None``: all).
    at
        Reference date asked for. Without it, lists spanning more than a day
        get the middle of their span when ``accounts.created_at`` is present.

    Returns
    -------
    (Population, warnings)
        ``Population.reference_date`` is set when the estimate is to count the
        accounts alive on a date (the caller classifies the detected accounts).

    Raises
    ------
    ConfigError
        ``at`` without detection times or without ``accounts.created_at``.
    """
    params = {"sources": sources, "start": start, "end": end}
    if not ds.has_column("detections", "detected_at"):
        if start is not None or at is not None:
            raise ConfigError("detections has no detected_at column: the lists "
                              "cannot be restricted to a time window or a date")
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
    dated = ds.has("accounts") and ds.has_column("accounts", "created_at")
    if at is not None and not dated:
        raise ConfigError("counting the accounts alive on a date (at=) needs "
                          "accounts.created_at for the detected accounts")
    ref = at
    if ref is None and dated and days is not None and days > 1:
        ref = s0 + (s1 - s0) / 2
    if ref is not None:
        span = (f"detections from {s0:%Y-%m-%d} to {s1:%Y-%m-%d}"
                if s0 and s1 else "no dated detection")
        refers = (f"accounts alive on {ref:%Y-%m-%d %H:%M} UTC ({span}"
                  + ("; restricted to the window asked for" if restricted else "")
                  + ")")
    elif restricted:
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
                     turned, undated, reference_date=ref)
    share = pop.turnover_share
    if share is not None and share > MAX_TURNOVER and ref is not None:
        warns.append(
            f"the population is open: {share:.1%} of the detected accounts were "
            f"created or suspended during the {days:,.0f} days of detections; the "
            f"estimate counts the accounts alive on {ref:%Y-%m-%d} (detected "
            "accounts created after it or found gone before it are left out) and "
            "rests on catch models that take the lists' differing reach of "
            "short-lived accounts as heterogeneous catchability")
    elif share is not None and share > MAX_TURNOVER:
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


def alive_weights(evidence: pl.DataFrame, at: datetime
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each detected account was alive on ``at``.

    Parameters
    ----------
    evidence
        One row per detected account with ``created_at``, ``last_alive`` and
        ``first_gone`` (the ``ACCOUNT_EVIDENCE`` step).
    at
        The reference date.

    Returns
    -------
    (alive, uncertain, excluded)
        Boolean arrays: counted as alive on ``at``; of those and the others, the
        uncertain ones (last known alive before ``at`` and not found gone by
        then, or of unknown creation time); left out because created after
        ``at`` or found gone on or before it.
    """
    def secs(col: str) -> np.ndarray:
        s = evidence[col]
        if s.dtype == pl.Null:
            return np.full(evidence.height, np.nan)
        v = s.dt.epoch("us").cast(pl.Float64) / 1e6
        return v.fill_null(np.nan).to_numpy()

    t = at.timestamp()
    created, last, gone = secs("created_at"), secs("last_alive"), secs("first_gone")
    born_after = created > t
    known_alive = (created <= t) & (last >= t)
    gone_before = ~known_alive & (gone <= t)
    excluded = born_after | gone_before
    uncertain = ~excluded & ~known_alive
    # the end spread evenly between the last sign of life and the first look-up
    # finding the account gone: alive on `at` with chance (gone - at) / (gone - last)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(np.isnan(gone), 1.0, (gone - t) / (gone - last))
    later = np.where(np.isnan(last), True, share >= 0.5)
    alive = known_alive | (uncertain & later)
    return alive, uncertain, excluded
