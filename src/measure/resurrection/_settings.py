"""Settings of successor linking: the blocking and model knobs, frozen.

:class:`LinkageSettings` holds every knob that tunes how candidate successors are
found (blocking) and how they are scored (the Fellegi-Sunter model); what is
estimated (window, horizons, level, imputations, ...) stays in
:func:`measure.resurrection.analyze`. Settings are validated when built (every
problem is listed in one :class:`~measure.errors.ConfigError`) and round-trip
through a plain dict or JSON, so a run's settings can be stored beside its
results.

The defaults are those of ``analyze``; see ``docs/resurrection.md`` for what was
measured with them. References: Fellegi, I. P. & Sunter, A. B. (1969). A theory
for record linkage. *JASA* 64, 1183-1210; the settings object follows splink's
(Linacre et al. 2022, *IJPDS* 7(3)).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from measure.errors import ConfigError

#: Kinds of blocking key (the bit each sets in a pair's ``keys`` mask).
KeyKind = Literal["stem", "display_name", "avatar", "bio", "bio_letters",
                  "followers", "handle_edit"]
KEY_KINDS: tuple[str, ...] = get_args(KeyKind)
KEY_BITS: dict[str, int] = {"stem": 1, "display_name": 2, "avatar": 4, "bio": 8,
                            "followers": 16, "handle_edit": 32, "time": 64,
                            "bio_letters": 128}

# Smaller caps for some key kinds (see ``per_key_by``). A display name is shared
# by many unrelated accounts (common names), and its candidates are the
# nearest in time: the 5 nearest keep every true link the 20 nearest keep on the
# simulator's small worlds (default and both harder variants, seeds 1-3), and
# cut the display-name candidate pairs of the 1M x 2M benchmark to a third
# (bench/results/resurrection.md).
PER_KEY_BY: dict[str, int] = {"display_name": 5}


def _pairs(value: Any) -> tuple[tuple[str, int], ...] | None:
    """``per_key_by`` as sorted ``(kind, cap)`` pairs; ``None`` if not readable."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        try:
            items = [tuple(x) for x in value]
        except TypeError:
            return None
        if any(len(x) != 2 for x in items):
            return None
    else:
        return None
    return tuple(sorted((str(k), v) for k, v in items))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class LinkageSettings:
    """Blocking and model knobs of successor linking (frozen, JSON-serialisable).

    Parameters
    ----------
    per_key
        Candidates kept per suspended account and key kind: the accounts created
        nearest in time (for shared followers, the largest Jaccard overlap of
        the follower sets, hubs left out).
    per_key_by
        Caps for some key kinds instead of ``per_key`` (kinds: ``stem``,
        ``display_name``, ``avatar``, ``bio``, ``bio_letters``, ``followers``,
        ``handle_edit``); a mapping, stored as sorted ``(kind, cap)`` pairs.
        Default: 5 for display names. ``{}`` or ``None`` uses ``per_key`` for
        every kind.
    max_key_freq
        A key value held by more than this many accounts created in one 30-day
        period does not block in that period (common there: weak evidence,
        costly joins).
    min_shared_followers
        Shared followers needed for the follower-overlap block.
    max_hub
        Followers of more than this many suspended or new accounts (hubs) are
        ignored when blocking.
    u_random_pairs
        Random (suspended, account created in its window) pairs from which the
        non-match level probabilities ``u`` are estimated; 0 estimates ``u`` by
        EM on the blocked candidates.
    time_candidates
        Also make this many accounts created nearest in time to each suspension
        candidates, whatever they share (0: off).
    grouped
        Fit EM with at most one successor per suspended account; else the
        classic pairwise Fellegi-Sunter mixture.
    fuzzy_handles
        Also block on handles one edit apart (one-deletion keys of the stem).
    backup_days
        How many days before its first ``suspended`` look-up a suspended
        account's successor may have been created (a *backup*: an account the
        actor opened while the old one was still alive). The search window
        opens at the earlier of the last time the account was known alive (its
        last ``active`` look-up) and the later of its creation (first sighting
        when the creation is unknown) and ``backup_days`` before the first
        suspended look-up. 0 opens the window at the last active look-up: no
        account created before the suspension can be a candidate. Read by
        :func:`~measure.resurrection.suspension_events`, which draws the
        windows; :func:`~measure.resurrection.block` checks that it was given
        the same value.

    Raises
    ------
    ConfigError
        Listing every invalid value (and the valid key kinds).

    Examples
    --------
    >>> s = LinkageSettings(per_key=10, per_key_by={"followers": 5})
    >>> LinkageSettings.from_json(s.to_json()) == s
    True
    """

    per_key: int = 20
    per_key_by: Mapping[str, int] | tuple[tuple[str, int], ...] | None = (
        tuple(sorted(PER_KEY_BY.items())))
    max_key_freq: int = 30
    min_shared_followers: int = 2
    max_hub: int = 1000
    u_random_pairs: int = 50_000
    time_candidates: int = 0
    grouped: bool = True
    fuzzy_handles: bool = True
    backup_days: float = 60

    def __post_init__(self) -> None:
        errors: list[str] = []
        pairs = _pairs(self.per_key_by)
        if pairs is None:
            errors.append("'per_key_by' must map key kinds to caps, e.g. "
                          "{'display_name': 5}")
            pairs = ()
        else:
            bad = sorted(k for k, _ in pairs if k not in KEY_KINDS)
            if bad:
                errors.append(f"'per_key_by' has unknown key kind(s) {bad}; use "
                              f"{', '.join(KEY_KINDS)}")
            if len({k for k, _ in pairs}) != len(pairs):
                errors.append("'per_key_by' names a key kind twice")
            for k, v in pairs:
                if not _is_int(v) or v < 1:
                    errors.append(f"'per_key_by' cap of {k!r} must be a positive "
                                  f"integer, got {v!r}")
        object.__setattr__(self, "per_key_by", pairs)
        for name, low in (("per_key", 1), ("max_key_freq", 1),
                          ("min_shared_followers", 1), ("max_hub", 1),
                          ("u_random_pairs", 0), ("time_candidates", 0)):
            v = getattr(self, name)
            if not _is_int(v) or v < low:
                errors.append(f"'{name}' must be an integer >= {low}, got {v!r}")
        b = self.backup_days
        if (isinstance(b, bool) or not isinstance(b, int | float)
                or not math.isfinite(b) or b < 0):
            errors.append(f"'backup_days' must be a number of days >= 0, got {b!r}")
        for name in ("grouped", "fuzzy_handles"):
            v = getattr(self, name)
            if not isinstance(v, bool):
                errors.append(f"'{name}' must be true or false, got {v!r}")
        if errors:
            raise ConfigError("invalid linkage settings: " + "; ".join(errors))

    def cap(self, kind: str) -> int:
        """Candidates kept per suspended account for key ``kind``."""
        return int(dict(self.per_key_by).get(kind, self.per_key))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``per_key_by`` as a dict), as :meth:`from_dict` reads it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["per_key_by"] = dict(self.per_key_by)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinkageSettings:
        """Build settings from a dict (missing keys take their defaults).

        Raises
        ------
        ConfigError
            When a key is not a setting (the valid names are listed) or a value
            is invalid.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(f"unknown linkage setting(s) {unknown}; valid: "
                              f"{', '.join(names)}")
        return cls(**dict(d))

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict` (keyword arguments go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> LinkageSettings:
        """Build settings from :meth:`to_json` text."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"linkage settings are not valid JSON ({e})") from e
        if not isinstance(d, dict):
            raise ConfigError("linkage settings JSON must be an object of settings")
        return cls.from_dict(d)


__all__ = ["KEY_BITS", "KEY_KINDS", "PER_KEY_BY", "KeyKind", "LinkageSettings"]
