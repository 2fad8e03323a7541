"""The simulator's configuration: one frozen, validated dataclass of every parameter.

Every parameter is documented (with the study that motivates its default) in
``docs/simulation.md``. Sections are nested frozen dataclasses; ``SimConfig.replace``
accepts flat field names (``p_return=0.8``), dotted names
(``**{"resurrection.p_return": 0.8}``) or whole sections as dicts
(``resurrection={"p_return": 0.8}``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from measure.errors import ConfigError

PRESETS = frozenset({"small", "demo", "large", "stress"})
#: Sizes a stress world can take (the plain preset whose sizes it keeps).
STRESS_SIZES = ("small", "demo")
COMPRESSIONS = ("zstd", "lz4", "snappy", "uncompressed")


def mechanism(
    default: Any,
    stress: tuple[Any, ...] | str,
    doc: str,
    *,
    parent: str | None = None,
    stronger: str = "higher",
) -> Any:
    """Declare a stress-mechanism field whose ``default`` switches it off.

    ``stress`` is the range the ``stress`` preset draws from per world: ``(lo, hi)``
    for a uniform draw, ``(p_off, lo, hi)`` for "off with probability ``p_off``,
    else uniform", or a sentence for draws that are not a plain range (documented
    in ``docs/simulation.md``). ``doc`` says what the option does. ``parent`` names
    the option a helper field acts through (it does nothing while the parent is
    off); ``stronger`` says which end of the range is the harsher world.
    """
    return field(
        default=default,
        metadata={
            "mechanism": True,
            "stress": stress,
            "doc": doc,
            "parent": parent,
            "stronger": stronger,
        },
    )


def _date(name: str, value: str) -> dt.datetime:
    try:
        d = dt.date.fromisoformat(str(value))
    except ValueError as e:
        raise ConfigError(
            f"config field '{name}': {value!r} is not an ISO date (YYYY-MM-DD)"
        ) from e
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Window:
    """Calendar of the simulated world (ISO dates, UTC midnight).

    Attributes
    ----------
    history_start
        Supporter actors start arriving here (before the window, so that the window
        opens on a population in rough steady state).
    start, end
        The observation window; the world ends at ``end``.
    census_date
        Date of the snowball census (seeds, crawls, capture sources), inside the
        window.
    """

    history_start: str = "2013-06-01"
    start: str = "2014-06-01"
    end: str = "2015-03-01"
    census_date: str = "2014-11-01"


@dataclass(frozen=True)
class Population:
    """Who exists on the platform.

    Attributes
    ----------
    actor_rate_per_day
        Poisson rate of new supporter actors (people) per day.
    n_background
        Number of background (non-supporter) accounts on the platform.
    watcher_share
        Share of background accounts that are journalists/researchers who follow
        supporters.
    background_age_years
        Background accounts are created uniformly over this many years before the
        window end.
    prominence_activity_corr
        Correlation of the standard-normal prominence and activity scores.
    """

    actor_rate_per_day: float = 40.0
    n_background: int = 1_000_000
    watcher_share: float = 0.01
    background_age_years: float = 6.0
    prominence_activity_corr: float = 0.3


@dataclass(frozen=True)
class Suspension:
    """Latent suspension and deletion times.

    Supporter hazard at age ``a`` and calendar time ``t``:
    ``h = Z * scale * shape * a**(shape-1) * exp(beta_prominence*prom +
    beta_activity*act) * m(t)``, with ``Z ~ Gamma(mean 1, variance
    frailty_variance)`` per account and ``m(t) = crackdown_multiplier`` during
    ``[crackdown_start, crackdown_end)``, else 1. The stress options share the
    frailty within an actor (``frailty_actor_share``), add a first-day hazard
    (``early_spike``) and short sweeps (``sweep_dates``), and let accounts delete
    themselves ahead of a coming suspension (``p_delete_before_suspension``).
    """

    weibull_shape: float = 0.4
    baseline_scale: float = 0.25
    frailty_variance: float = 1.0
    beta_prominence: float = 0.3
    beta_activity: float = 0.3
    crackdown_start: str = "2015-01-15"
    crackdown_end: str = "2015-02-15"
    crackdown_multiplier: float = 3.0
    supporter_deletion_rate: float = 0.002
    background_suspension_rate: float = 0.0002
    background_deletion_rate: float = 0.0003
    frailty_actor_share: float = mechanism(
        0.0,
        (0.5, 1.0),
        "Weight of a frailty shared by all accounts of one actor: log Z = "
        "w log Z_actor + (1 - w) log Z_account, rescaled to mean 1 (0 = per account, "
        "1 = per actor).",
    )
    early_spike: float = mechanism(
        0.0,
        (0.0, 0.6),
        "Extra cumulative hazard in the first day of an account's life (times its "
        "frailty and covariate factor, not by crackdowns or sweeps): a spike of "
        "suspensions on days 0-1 that no Weibull shape produces.",
    )
    sweep_dates: tuple[str, ...] = mechanism(
        (),
        "0-3 dates uniform between the census and the window end",
        "Start dates (ISO) of short crackdown sweeps: the hazard is multiplied by "
        "sweep_multiplier for sweep_days from each date (on top of the crackdown; "
        "overlapping sweeps multiply).",
    )
    sweep_days: float = mechanism(
        2.0, (1.0, 4.0), "Length of each sweep in days (used with sweep_dates).",
        parent="suspension.sweep_dates",
    )
    sweep_multiplier: float = mechanism(
        8.0, (3.0, 15.0), "Hazard multiplier during a sweep (used with sweep_dates).",
        parent="suspension.sweep_dates",
    )
    p_delete_before_suspension: float = mechanism(
        0.0,
        (0.0, 0.3),
        "Probability that a supporter account deletes itself in the anticipation_days"
        " before its coming suspension (deletion informative about suspension).",
    )
    anticipation_days: float = mechanism(
        3.0,
        (1.0, 7.0),
        "Window before the suspension in which an anticipating deletion falls.",
        parent="suspension.p_delete_before_suspension",
    )


@dataclass(frozen=True)
class Resurrection:
    """Return after suspension and naming behaviour of the new account.

    ``p_suffix + p_edit <= 1``; the rest of returning accounts take an unrelated
    new handle. ``returning_follower_share`` is the expected share of a returning
    account's followers who followed the actor's previous account (only visible in
    re-crawled follower lists, see ``Observation.recrawl_followers``).
    A reused bio is copied verbatim except with probability ``p_edit_bio``, when it
    gets one small edit (an emoji dropped or added, the verse changed, or a prefix
    such as "Back again | "); the account language is kept with probability
    ``p_keep_lang`` (else drawn afresh: a new device or client setting).
    """

    p_return: float = 0.6
    delay_mean_days: float = 6.0
    delay_shape: float = 1.5
    p_suffix: float = 0.45
    p_edit: float = 0.30
    p_reuse_display: float = 0.7
    p_reuse_avatar: float = 0.5
    p_reuse_bio: float = 0.6
    p_edit_bio: float = 0.25
    p_keep_lang: float = 0.95
    follower_recovery: float = 0.45
    follower_recovery_sd: float = 0.5
    background_stem_share: float = 0.15
    max_incarnations: int = 40
    returning_follower_share: float = 0.7
    p_backup: float = mechanism(
        0.0,
        (0.0, 0.4),
        "Probability that a returning actor's next account is a backup created "
        "before the suspension (up to backup_lead_days earlier, never before the "
        "previous account), so two accounts of one actor live at once.",
    )
    backup_lead_days: float = mechanism(
        30.0, (5.0, 60.0), "How long before the suspension a backup may be created.",
        parent="resurrection.p_backup",
    )
    evasion_sd: float = mechanism(
        0.0,
        (0.0, 2.0),
        "SD of an actor-level evasion propensity e ~ N(0, sd) subtracted from the "
        "logit of every reuse probability (display name, avatar, bio) and of keeping "
        "a related handle, after offsets that keep each marginal share as "
        "configured: evasive actors change everything at once (Fellegi-Sunter's "
        "conditional independence fails).",
    )
    p_rename: float = mechanism(
        0.0,
        (0.0, 0.15),
        "Probability that an account changes its handle once during its life (at a "
        "uniform time); look-ups after the change show the new handle and "
        "accounts.screen_name holds the handle as last seen.",
    )
    background_return_share: float = mechanism(
        0.0,
        (0.0, 0.3),
        "Share of suspended background (spam) accounts whose owner returns with a "
        "new account (suffix-incremented handle, same avatar) within the window.",
    )
    sparse_profile_share: float = mechanism(
        0.0,
        (0.0, 0.5),
        "Share of accounts that carry only a handle, a creation time, an avatar and "
        "a language: "
        "no display name, bio or location, and no follower list is ever collected "
        "(a trait of the actor; seeds are never sparse).",
    )
    default_handle_share: float = mechanism(
        0.0,
        (0.0, 0.3),
        "Share of fresh identities (supporters and background) whose handle is a "
        "platform default: a common first name plus 4-8 digits, so unrelated "
        "accounts share a stem by accident.",
    )


@dataclass(frozen=True)
class Network:
    """Follower counts and who follows whom.

    Supporter audiences are lognormal (``followers_median``, ``followers_sigma``)
    and grow as ``1 - exp(-age / growth_days)``; a share (Beta with mean
    ``in_network_share_mean``) of a supporter's followers are other live supporters,
    drawn with weight ``growth(age) * exp(activity_follow_weight * activity)``
    (``isolated_share`` of supporter accounts follow no other supporter), so
    prominent accounts collect the in-network follows (preferential attachment);
    the rest are background, ``watcher_follower_share`` of them watchers.
    """

    followers_median: float = 350.0
    followers_sigma: float = 1.3
    growth_days: float = 15.0
    in_network_share_mean: float = 0.5
    in_network_share_concentration: float = 4.0
    activity_follow_weight: float = 1.0
    isolated_share: float = 0.2
    watcher_follower_share: float = 0.3
    background_follow_sigma: float = 1.5
    background_followers_median: float = 120.0
    background_followers_sigma: float = 1.3
    watcher_followers_median: float = 2000.0
    friends_median: float = 250.0
    statuses_per_day_median: float = 8.0


@dataclass(frozen=True)
class Observation:
    """How the researchers observe the world: census, crawls, look-ups, discovery.

    With ``recrawl_followers`` every account discovered after the census has its
    followers list collected ``U(0, recrawl_delay_days)`` days after discovery and
    again ``recrawl_second_after_days`` later (0 = no second crawl), each only while
    the account is alive (``crawls.level`` = 99: outside the snowball).
    """

    n_seeds: int = 20
    seed_selectivity: float = 1.0
    crawl_cap: int = 500
    p_incomplete: float = 0.08
    crawl_days: float = 10.0
    lookup_interval_days: float = 7.0
    observe_level2: bool = False
    p_discover_return: float = 0.7
    p_discover_new: float = 0.4
    discover_delay_mean_days: float = 10.0
    recrawl_background_per_supporter: float = 1.0
    recrawl_followers: bool = True
    recrawl_delay_days: float = 1.0
    recrawl_second_after_days: float = 14.0
    discover_prominence_slope: float = mechanism(
        0.0,
        (0.0, 1.5),
        "Slope of the logit of post-census discovery on prominence (which also "
        "raises the suspension hazard): discovery depends on the hazard.",
    )
    lookup_skip_share: float = mechanism(
        0.0,
        (0.0, 0.5),
        "Probability that a scheduled look-up other than an account's first is "
        "missed (irregular schedules).",
    )
    lookup_jitter_days: float = mechanism(
        0.0,
        (0.0, 3.0),
        "Each look-up happens up to this many days after its scheduled time "
        "(uniform; never after the window end).",
    )
    lookup_informative: float = mechanism(
        0.0,
        (0.0, 1.5),
        "Slope of the logit of keeping a look-up on the account's prominence: "
        "prominent accounts (higher hazard) are checked more often (acts only when "
        "lookup_skip_share > 0).",
    )


@dataclass(frozen=True)
class Coding:
    """Stratified hand-coding sample of frame accounts.

    Strata: snowball level x in-network band (cut points ``band_cuts`` on the
    in-network degree); ``n_per_stratum`` accounts per stratum (all when fewer).
    """

    band_cuts: tuple[int, ...] = (1, 3, 10)
    n_per_stratum: int = 60
    sensitivity: float = 0.9
    specificity: float = 0.95
    p_unclear: float = 0.03
    double_coded_share: float = 0.2
    coder_b_error_ratio: float = mechanism(
        1.0,
        (0.5, 2.5),
        "Coder B's error rates (1 - sensitivity, 1 - specificity) are coder A's "
        "times this ratio (capped at 0.5).",
    )
    stratum_error_ratio: float = mechanism(
        1.0,
        (1.0, 3.0),
        "Error rates in the lowest in-network band of each level are multiplied by "
        "this ratio, falling geometrically to 1 in the highest band (level 2 starts "
        "at its band holding 1): ambiguous accounts are coded worse.",
    )
    coder_correlation: float = mechanism(
        0.0,
        (0.0, 0.6),
        "Probability that coder B repeats coder A's decision on a double-coded "
        "account (correct or not, an `unclear` included) instead of deciding "
        "independently: correlated errors.",
    )
    gold_share: float = mechanism(
        0.0,
        (0.5, 0.05, 0.2),
        "Share of coded accounts also adjudicated by an expert panel (coder 'gold', "
        "label = the truth, coded after both coders).",
    )


@dataclass(frozen=True)
class Capture:
    """K detection sources over supporter accounts alive at the census.

    ``logit p_ik = catch_base + source_spread*(k offset) + catch_prominence_slope *
    prominence_i + eta_i`` with ``eta_i ~ N(0, catch_heterogeneity_sd)``. The stress
    options add a hard-to-catch class, heavy tails, an activity slope, pairwise
    list dependence, list windows over an open population and false detections.
    """

    n_sources: int = 4
    catch_base: float = -1.4
    source_spread: float = 0.5
    catch_prominence_slope: float = 0.6
    catch_heterogeneity_sd: float = 0.5
    mixture_share: float = mechanism(
        0.0,
        (0.0, 0.5),
        "Share of supporters in a hard-to-catch class whose logit catchability is "
        "shifted by mixture_shift on every list (two-class mixture).",
    )
    mixture_shift: float = mechanism(
        -2.5, (-3.5, -1.0), "Logit shift of the hard-to-catch class.",
        parent="capture.mixture_share",
        stronger="lower",
    )
    catch_tail_df: float = mechanism(
        0.0,
        (0.5, 1.5, 6.0),
        "Degrees of freedom of a Student-t individual effect (scale "
        "catch_heterogeneity_sd) replacing the normal one (heavy tails; 0 = normal).",
    )
    catch_activity_slope: float = mechanism(
        0.0,
        (0.0, 1.0),
        "Slope of the logit catchability on activity (besides prominence).",
    )
    dependence_positive: float = mechanism(
        0.0,
        (0.0, 2.0),
        "Log odds ratio added to list 2's logit for accounts caught by list 1 (a "
        "sequential draw: positive pairwise dependence).",
    )
    dependence_negative: float = mechanism(
        0.0,
        (0.0, 2.0),
        "Log odds ratio subtracted from the last list's logit for accounts caught by "
        "the list before it (negative pairwise dependence; needs 3+ lists).",
    )
    list_window_days: float = mechanism(
        0.0,
        (0.5, 14.0, 60.0),
        "Each list is collected over a window of this many days from supporter "
        "accounts alive during it, instead of on the census day (consecutive windows "
        "overlap by half, the span centred on the census): an open population.",
    )
    false_detection_share: float = mechanism(
        0.0,
        (0.0, 0.05),
        "Expected share of each list's detections that are non-supporters "
        "(background accounts of the frame).",
    )


@dataclass(frozen=True)
class Tweets:
    """Optional tweets of frame supporters around the census date."""

    enabled: bool = True
    window_days: float = 30.0
    rate_median_per_day: float = 1.0
    rate_sigma: float = 1.5
    background_share: float = 0.1


@dataclass(frozen=True)
class Output:
    """Writing options (do not change the world, only how it is written)."""

    edge_chunk_rows: int = 5_000_000
    truth_chunk_rows: int = 2_000_000
    compression: str = "zstd"


SECTIONS: dict[str, type] = {
    "window": Window,
    "population": Population,
    "suspension": Suspension,
    "resurrection": Resurrection,
    "network": Network,
    "observation": Observation,
    "coding": Coding,
    "capture": Capture,
    "tweets": Tweets,
    "output": Output,
}
FIELD_SECTION: dict[str, str] = {
    f.name: sec for sec, cls in SECTIONS.items() for f in fields(cls)
}
assert len(FIELD_SECTION) == sum(len(fields(c)) for c in SECTIONS.values())

_PROBS = {
    "watcher_share",
    "p_return",
    "p_suffix",
    "p_edit",
    "p_reuse_display",
    "p_reuse_avatar",
    "p_reuse_bio",
    "p_edit_bio",
    "p_keep_lang",
    "background_stem_share",
    "in_network_share_mean",
    "watcher_follower_share",
    "isolated_share",
    "p_incomplete",
    "p_discover_return",
    "p_discover_new",
    "returning_follower_share",
    "sensitivity",
    "specificity",
    "p_unclear",
    "double_coded_share",
    "background_share",
    "p_delete_before_suspension",
    "p_backup",
    "p_rename",
    "background_return_share",
    "sparse_profile_share",
    "default_handle_share",
    "lookup_skip_share",
    "coder_correlation",
    "gold_share",
    "mixture_share",
    "false_detection_share",
    "frailty_actor_share",
}
_NONNEG = {
    "actor_rate_per_day",
    "frailty_variance",
    "crackdown_multiplier",
    "supporter_deletion_rate",
    "background_suspension_rate",
    "background_deletion_rate",
    "follower_recovery_sd",
    "followers_sigma",
    "background_followers_sigma",
    "recrawl_background_per_supporter",
    "recrawl_delay_days",
    "recrawl_second_after_days",
    "rate_sigma",
    "catch_heterogeneity_sd",
    "n_background",
    "source_spread",
    "seed_selectivity",
    "activity_follow_weight",
    "crawl_days",
    "background_follow_sigma",
    "early_spike",
    "evasion_sd",
    "lookup_jitter_days",
    "lookup_informative",
    "discover_prominence_slope",
    "catch_tail_df",
    "dependence_positive",
    "dependence_negative",
    "list_window_days",
    "anticipation_days",
    "backup_lead_days",
}
_POS = {
    "weibull_shape",
    "baseline_scale",
    "delay_mean_days",
    "delay_shape",
    "follower_recovery",
    "followers_median",
    "growth_days",
    "in_network_share_concentration",
    "background_followers_median",
    "watcher_followers_median",
    "friends_median",
    "statuses_per_day_median",
    "n_seeds",
    "crawl_cap",
    "lookup_interval_days",
    "discover_delay_mean_days",
    "n_per_stratum",
    "n_sources",
    "window_days",
    "rate_median_per_day",
    "background_age_years",
    "max_incarnations",
    "edge_chunk_rows",
    "truth_chunk_rows",
    "sweep_days",
    "sweep_multiplier",
    "coder_b_error_ratio",
    "stratum_error_ratio",
}
_FINITE = {"mixture_shift", "catch_activity_slope"}


@dataclass(frozen=True)
class SimConfig:
    """Every parameter of the world simulator (see ``docs/simulation.md``).

    Build one with ``SimConfig.preset("small" | "demo" | "large", scale=...)``,
    ``SimConfig.preset("stress", seed=N)`` or ``SimConfig()`` (the demo world);
    change it with :meth:`replace`. Validation
    runs on construction and raises :class:`measure.errors.ConfigError` naming every
    invalid field.
    """

    window: Window = field(default_factory=Window)
    population: Population = field(default_factory=Population)
    suspension: Suspension = field(default_factory=Suspension)
    resurrection: Resurrection = field(default_factory=Resurrection)
    network: Network = field(default_factory=Network)
    observation: Observation = field(default_factory=Observation)
    coding: Coding = field(default_factory=Coding)
    capture: Capture = field(default_factory=Capture)
    tweets: Tweets = field(default_factory=Tweets)
    output: Output = field(default_factory=Output)
    preset_name: str = "custom"

    def __post_init__(self) -> None:
        errors = self._errors()
        if errors:
            raise ConfigError("invalid simulation config: " + "; ".join(errors))

    # -- validation --------------------------------------------------------------
    def _errors(self) -> list[str]:  # noqa: C901
        errs: list[str] = []
        for sec, cls in SECTIONS.items():
            obj = getattr(self, sec)
            if not isinstance(obj, cls):
                errs.append(f"section '{sec}' must be a {cls.__name__}")
                continue
            for f in fields(cls):
                v = getattr(obj, f.name)
                where = f"'{sec}.{f.name}' = {v!r}"
                if isinstance(v, bool) or f.type in ("bool",):
                    if not isinstance(v, bool):
                        errs.append(f"{where} must be true or false")
                    continue
                if f.name in _PROBS | _NONNEG | _POS | _FINITE:
                    if not isinstance(v, int | float) or not math.isfinite(v):
                        errs.append(f"{where} must be a finite number")
                        continue
                if f.name in _PROBS and not 0.0 <= v <= 1.0:
                    errs.append(f"{where} must be a probability in [0, 1]")
                if f.name in _NONNEG and v < 0:
                    errs.append(f"{where} must be >= 0")
                if f.name in _POS and v <= 0:
                    errs.append(f"{where} must be > 0")
        if errs:
            return errs
        w = self.window
        try:
            hs, s, e, c = (
                _date(f"window.{k}", getattr(w, k))
                for k in ("history_start", "start", "end", "census_date")
            )
            cs = _date("suspension.crackdown_start", self.suspension.crackdown_start)
            ce = _date("suspension.crackdown_end", self.suspension.crackdown_end)
        except ConfigError as exc:
            return [str(exc)]
        if not hs <= s < c < e:
            errs.append(
                "'window' dates must satisfy history_start <= start < "
                f"census_date < end (got {hs.date()}, {s.date()}, {c.date()}, "
                f"{e.date()})"
            )
        if ce < cs:
            errs.append("'suspension.crackdown_end' must not be before crackdown_start")
        sw = self.suspension.sweep_dates
        if not isinstance(sw, tuple) or not all(isinstance(x, str) for x in sw):
            errs.append(
                f"'suspension.sweep_dates' = {sw!r} must be a list of ISO dates"
            )
        else:
            for x in sw:
                try:
                    _date("suspension.sweep_dates", x)
                except ConfigError as exc:
                    errs.append(str(exc))
        r = self.resurrection
        if r.p_suffix + r.p_edit > 1.0:
            errs.append(
                f"'resurrection.p_suffix' + 'resurrection.p_edit' = "
                f"{r.p_suffix + r.p_edit} must be <= 1"
            )
        cuts = self.coding.band_cuts
        if (
            not cuts
            or any(not isinstance(x, int) or x < 1 for x in cuts)
            or list(cuts) != sorted(set(cuts))
        ):
            errs.append(
                f"'coding.band_cuts' = {cuts!r} must be increasing integers >= 1"
            )
        if self.network.in_network_share_mean in (0.0, 1.0):
            errs.append(
                "'network.in_network_share_mean' must be strictly inside (0, 1)"
            )
        if self.output.compression not in COMPRESSIONS:
            errs.append(
                f"'output.compression' = {self.output.compression!r} must be "
                "one of " + ", ".join(COMPRESSIONS)
            )
        if self.capture.false_detection_share >= 1.0:
            errs.append("'capture.false_detection_share' must be < 1")
        if self.capture.n_sources < 2:
            errs.append("'capture.n_sources' must be >= 2")
        return errs

    # -- convenience ---------------------------------------------------------------
    def dates(self) -> dict[str, dt.datetime]:
        """Return the calendar as UTC datetimes."""
        w, s = self.window, self.suspension
        return {
            "history_start": _date("history_start", w.history_start),
            "start": _date("start", w.start),
            "end": _date("end", w.end),
            "census_date": _date("census_date", w.census_date),
            "crackdown_start": _date("crackdown_start", s.crackdown_start),
            "crackdown_end": _date("crackdown_end", s.crackdown_end),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML friendly) of every parameter.

        Mechanism fields (:func:`mechanisms`) are left out while they hold their
        *off* value, so the recorded parameters (and so the files and digest) of a
        world without stress mechanisms do not depend on which mechanisms exist.
        """
        out: dict[str, Any] = {"preset_name": self.preset_name}
        for sec, cls in SECTIONS.items():
            obj = getattr(self, sec)
            d: dict[str, Any] = {}
            for f in fields(cls):
                v = getattr(obj, f.name)
                if f.metadata.get("mechanism") and v == f.default:
                    continue
                d[f.name] = list(v) if isinstance(v, tuple) else v
            out[sec] = d
        return out

    def mechanisms_on(self) -> dict[str, Any]:
        """Return the stress mechanisms switched away from their off value."""
        return {
            f"{sec}.{f.name}": getattr(getattr(self, sec), f.name)
            for sec, cls in SECTIONS.items()
            for f in fields(cls)
            if f.metadata.get("mechanism")
            and getattr(getattr(self, sec), f.name) != f.default
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: SimConfig | None = None) -> SimConfig:
        """Build from a (possibly partial) dict of sections or flat field names."""
        base = base or cls()
        return base.replace(**d)

    def replace(self, **changes: Any) -> SimConfig:
        """Return a copy with ``changes`` applied (flat, dotted or section dicts).

        Raises
        ------
        ConfigError
            An unknown field or section (every bad name is listed), or an invalid
            value.
        """
        per: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in changes.items():
            if key == "preset_name":
                top[key] = value
            elif key in SECTIONS:
                if isinstance(value, SECTIONS[key]):
                    top[key] = value
                elif isinstance(value, dict):
                    for k, v in value.items():
                        if FIELD_SECTION.get(k) != key:
                            unknown.append(f"{key}.{k}")
                        else:
                            per.setdefault(key, {})[k] = v
                else:
                    unknown.append(key)
            elif "." in key:
                sec, _, k = key.partition(".")
                if FIELD_SECTION.get(k) != sec:
                    unknown.append(key)
                else:
                    per.setdefault(sec, {})[k] = value
            elif key in FIELD_SECTION:
                per.setdefault(FIELD_SECTION[key], {})[key] = value
            else:
                unknown.append(key)
        if unknown:
            raise ConfigError(
                "unknown simulation config field(s): "
                + ", ".join(sorted(unknown))
                + "; valid sections: "
                + ", ".join(SECTIONS)
                + " (see docs/simulation.md for every field)"
            )
        for sec, ch in per.items():
            for tup in ("band_cuts", "sweep_dates"):
                if tup in ch and isinstance(ch[tup], list):
                    ch[tup] = tuple(ch[tup])
            top[sec] = dataclasses.replace(top.get(sec, getattr(self, sec)), **ch)
        return dataclasses.replace(self, **top)

    @classmethod
    def preset(
        cls,
        name: str,
        scale: float = 1.0,
        *,
        seed: int | None = None,
        size: str = "demo",
    ) -> SimConfig:
        """Return a documented preset: ``small``, ``demo``, ``large`` or ``stress``.

        ``small`` is for tests (< 5 s), ``demo`` the embedded default (< 30 s),
        ``large`` 10 million accounts and ~1 billion edges at ``scale=1``.
        ``stress`` keeps the sizes of ``size`` (``"demo"`` or ``"small"``) and
        switches on every stress mechanism with values drawn per world from their
        documented ranges (see :func:`stress_draws`); it needs the world's ``seed``.

        ``scale`` multiplies the sizes (actor arrival rate, background population,
        seeds, crawl cap is kept); probabilities and rates are unchanged.
        """
        if name == "stress":
            if seed is None:
                raise ConfigError(
                    "the 'stress' preset draws its mechanisms per world: give the "
                    "world's seed (SimConfig.preset('stress', seed=N))"
                )
            if size not in STRESS_SIZES:
                raise ConfigError(
                    f"stress size {size!r} is not one of " + ", ".join(STRESS_SIZES)
                )
            base = cls.preset(size, scale=scale)
            return base.replace(preset_name="stress", **stress_draws(base, seed))
        if name not in PRESETS:
            raise ConfigError(
                f"unknown preset {name!r}; valid presets are: "
                + ", ".join(repr(p) for p in sorted(PRESETS))
            )
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
            raise ConfigError(f"scale must be a positive number (got {scale!r})")
        base = cls(preset_name=name)
        if name == "small":
            cfg = base.replace(
                actor_rate_per_day=8.0,
                n_background=100_000,
                watcher_share=0.005,
                n_seeds=10,
                crawl_cap=400,
                background_followers_median=60.0,
                n_per_stratum=40,
            )
        elif name == "demo":
            cfg = base
        else:
            cfg = base.replace(
                actor_rate_per_day=400.0,
                n_background=10_000_000,
                watcher_share=0.005,
                n_seeds=300,
                crawl_cap=20_000,
                background_followers_median=2400.0,
                background_followers_sigma=1.2,
                n_per_stratum=200,
                compression="lz4",
            )
        if scale != 1.0:
            p, o = cfg.population, cfg.observation
            cfg = cfg.replace(
                actor_rate_per_day=p.actor_rate_per_day * scale,
                n_background=max(1000, round(p.n_background * scale)),
                n_seeds=max(3, round(o.n_seeds * scale)),
            )
        return cfg


def load_overrides(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML or JSON file of config overrides (sections or flat names)."""
    p = Path(path)
    try:
        text = p.read_bytes()
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"cannot read config file '{p}': {e}; give a TOML or JSON file of overrides"
        ) from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a table/object of overrides")
    return data


def mechanisms() -> dict[str, dataclasses.Field[Any]]:
    """Every stress-mechanism field, by dotted name (``section.field``)."""
    return {
        f"{sec}.{f.name}": f
        for sec, cls in SECTIONS.items()
        for f in fields(cls)
        if f.metadata.get("mechanism")
    }


#: Stream tag that separates the stress draws from the world's own streams.
_STRESS_TAG = 0x57E55
#: Version of the stress mechanisms: raised whenever a mechanism's behaviour or its
#: draws change, so that stress worlds (and calibration records) say which
#: mechanisms made them.
STRESS_VERSION = 1


def stress_draws(base: SimConfig, seed: int) -> dict[str, Any]:
    """Draw every mechanism's value for the ``stress`` world of ``seed``.

    Each field's documented range (``metadata["stress"]``) is sampled with a
    generator of its own, seeded by the world's seed and the field's name (so
    adding a mechanism never changes the draws of the others), independent of the
    world's random streams: ``(lo, hi)`` is uniform, ``(p_off, lo, hi)`` is the off
    value with probability ``p_off`` and uniform otherwise. Sweep dates are 0-3
    dates uniform between the census and the window end.
    """
    import zlib

    import numpy as np

    out: dict[str, Any] = {}
    for name, f in mechanisms().items():
        key = zlib.crc32(name.encode())
        rng_f = np.random.default_rng(
            np.random.SeedSequence([int(seed), _STRESS_TAG, key])
        )
        r = f.metadata["stress"]
        if name == "suspension.sweep_dates":
            d = base.dates()
            span = (d["end"] - d["census_date"]).days
            k = int(rng_f.integers(0, 4))
            days = np.sort(rng_f.integers(0, max(span - 1, 1), k))
            out[name] = tuple(
                (d["census_date"] + dt.timedelta(days=int(x))).date().isoformat()
                for x in days
            )
            continue
        if len(r) == 3:
            off = rng_f.random() < r[0]
            v = f.default if off else float(rng_f.uniform(r[1], r[2]))
        else:
            v = float(rng_f.uniform(r[0], r[1]))
        out[name] = round(v, 4) if isinstance(v, float) else v
    return out


def _range_text(f: dataclasses.Field[Any]) -> str:
    r = f.metadata["stress"]
    if isinstance(r, str):
        return r
    if len(r) == 3:
        return f"off with probability {r[0]:g}, else uniform {r[1]:g} to {r[2]:g}"
    return f"uniform {r[0]:g} to {r[1]:g}"


def mechanism_table() -> str:
    """Return the Markdown table of every stress mechanism (``docs/simulation.md``).

    One row per field: its dotted name, off value, the range the ``stress`` preset
    draws from, and what it does. ``tests/simulate`` checks that the documentation
    holds this table verbatim, so a new mechanism cannot go undocumented.
    """
    rows = [
        "| field | off | stress range | what it does |",
        "|---|---|---|---|",
    ]
    for name, f in mechanisms().items():
        off = list(f.default) if isinstance(f.default, tuple) else f.default
        rows.append(
            f"| `{name}` | `{off}` | {_range_text(f)} | {f.metadata['doc']} |"
        )
    return "\n".join(rows)
