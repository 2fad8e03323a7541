"""World variants of the linker's calibration tests, and what makes them hard.

``VARIANTS`` are overrides of the simulator's ``small`` preset:

* ``default``: the preset as it is;
* ``unrelated_names``: more returns under an unrelated handle (``p_suffix=0.2,
  p_edit=0.15``, so 65% of new accounts share no handle with their predecessor);
* ``stem_collisions``: unrelated accounts share handle stems: default-style handles
  (a common first name plus digits) for 30% of fresh identities
  (``default_handle_share=0.3``, the top of the ``stress`` preset's range) and
  supporter-style stems for 60% of background handles
  (``background_stem_share=0.6``). Background accounts are created over six years,
  so the background stems alone add few same-stem accounts inside the successor
  windows; the first names add them where linking meets them.

:func:`stem_collisions` measures the collisions a linker faces: for each
suspended account, the accounts *created in its successor window* that hold its
handle stem and belong to another actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import measure
from measure.resurrection import suspension_events
from measure.resurrection._features import STEM_FREQ_EDGES, stem_stratum
from measure.resurrection._stages import _stem_others
from measure.simulate import load_truth

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "unrelated_names": {"p_suffix": 0.2, "p_edit": 0.15},
    "stem_collisions": {"default_handle_share": 0.3, "background_stem_share": 0.6},
}


@dataclass(frozen=True)
class StemCollisions:
    """Stem collisions met by the suspended accounts of one world.

    Attributes
    ----------
    n_suspended
        Suspended accounts (the linker's suspension events, default window).
    share
        Share of them with at least one unrelated account holding their stem
        created in their successor window.
    share_5
        Share with at least five such accounts.
    per_suspended
        Such accounts per suspended account.
    top_stratum
        Share of suspended accounts in the handle's top term-frequency stratum
        (at least ``STEM_FREQ_EDGES[-1]`` other holders of the stem outside the
        window).
    """

    n_suspended: int
    share: float
    share_5: float
    per_suspended: float
    top_stratum: float


def stem_collisions(path: str | Path) -> StemCollisions:
    """Measure the stem collisions of the simulated world at ``path``.

    Unrelated: another actor's account, or a background account (without an
    actor). The windows and stems are the linker's (:func:`suspension_events`
    with its defaults; stems as :func:`~measure.resurrection._features.account_keys`
    makes them).
    """
    actors = load_truth(path).accounts.select("account_id", "actor_id")
    with measure.open(path) as ds:
        ev = suspension_events(ds)
    acc = ev.accounts.select("account_id", "t_new", "stem").join(
        actors, on="account_id", how="left")
    sus = ev.suspended.select("account_id", "lower_t", "upper_t").join(
        acc.select("account_id", "stem", pl.col("actor_id").alias("actor")),
        on="account_id")
    hits = sus.join(acc.rename({"account_id": "other"}), on="stem").filter(
        (pl.col("other") != pl.col("account_id"))
        & pl.col("t_new").is_between(pl.col("lower_t"), pl.col("upper_t"))
        & (pl.col("actor_id").is_null() | pl.col("actor").is_null()
           | (pl.col("actor_id") != pl.col("actor"))))
    per = hits.group_by("account_id").len()
    n = sus.height
    strata = stem_stratum(_stem_others(ev.accounts, ev.suspended))
    return StemCollisions(
        n_suspended=n, share=per.height / n,
        share_5=per.filter(pl.col("len") >= 5).height / n,
        per_suspended=hits.height / n,
        top_stratum=float(np.mean(strata == len(STEM_FREQ_EDGES))))


__all__ = ["VARIANTS", "StemCollisions", "stem_collisions"]
