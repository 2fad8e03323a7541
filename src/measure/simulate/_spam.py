"""Identity stress mechanisms: spam accounts that return, and their wiring.

``background_return_share``: a share of the background (spam) accounts suspended
inside the window have an owner who returns with a new background account, created
a gamma delay after the suspension (the supporters' ``delay_mean_days`` and
``delay_shape``) when that is before the window end. The new account's handle is
the predecessor's (at the new account's creation) with its numeric suffix
incremented, its avatar is the predecessor's, everything else is fresh. A
successor can itself be suspended and return (chains). These returns are not
supporter returns: ``truth.json["resurrection"]`` keeps its supporter definitions;
``truth/accounts.spam_predecessor_id`` links them.

:func:`setup_identities` builds the spam successors and every identity trait
(:class:`measure.simulate._names.Identities`); :func:`identity_truth` records
their truth.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from measure.simulate._names import (
    NAME_STREAMS,
    Identities,
    background_profiles,
    chain_roots,
    identities_on,
    make_identities,
    suffix_increment,
)
from measure.simulate._world import HORIZON_DAYS, Background

if TYPE_CHECKING:  # pragma: no cover
    from measure.simulate._config import SimConfig
    from measure.simulate._simulate import _World
    from measure.simulate._world import Calendar, Supporters


def setup_identities(
    world: _World, sup: Supporters, bg: Background
) -> tuple[Background, Identities | None]:
    """Add returning spam accounts to ``bg`` and draw the identity traits.

    Draws only from child streams of ``world.rng["stress_names"]`` and nothing at
    all when every identity mechanism is off (then ``bg`` is returned unchanged
    with ``None``).
    """
    cfg, cal = world.cfg, world.cal
    if not identities_on(cfg):
        return bg, None
    rngs = dict(
        zip(
            NAME_STREAMS,
            world.rng["stress_names"].spawn(len(NAME_STREAMS)),
            strict=True,
        )
    )
    if cfg.resurrection.background_return_share != 0.0:
        bg, world.spam_facts = spam_returns(cfg, cal, bg, rngs["spam"])
    ident = make_identities(cfg, cal, sup, bg, rngs)
    if bg.pred is not None:
        spam_chain_text(cfg, bg, ident, rngs["spam"])
    return bg, ident


def spam_returns(
    cfg: SimConfig, cal: Calendar, bg: Background, rng: np.random.Generator
) -> tuple[Background, dict[str, Any]]:
    """Append the successors of suspended spam accounts to ``bg``.

    Eligible: non-watcher background accounts suspended (before any deletion)
    inside the window. Each returns with probability ``background_return_share``
    after a gamma delay; returns created after the window end do not exist. The
    successor's latent suspension and deletion times, audience, friends and
    activity are drawn as for background accounts; fields of ``Background`` this
    module does not know are copied from the chain's first account.

    Returns
    -------
    tuple
        The extended background (``pred`` set: local index of the predecessor,
        -1 = none) and facts for the truth.
    """
    res, sus, net = cfg.resurrection, cfg.suspension, cfg.network
    share = res.background_return_share
    n0 = bg.n
    susp_all, dele_all, watch_all = bg.susp, bg.dele, bg.watcher
    elig = (susp_all < dele_all) & (susp_all >= 0.0) & (susp_all < cal.end)
    elig &= ~watch_all
    n_elig = int(elig.sum())
    cur = np.flatnonzero(elig & (rng.random(n0) < share))
    rounds: list[dict[str, np.ndarray]] = []
    offset = n0
    k = 1
    while len(cur) and k < res.max_incarnations:
        scale = res.delay_mean_days / res.delay_shape
        delay = rng.gamma(res.delay_shape, scale, len(cur))
        created = susp_all[cur] + delay
        ok = created < cal.end
        cur, created = cur[ok], created[ok]
        m = len(cur)
        if not m:
            break
        susp = _latent(rng, sus.background_suspension_rate, created)
        dele = _latent(rng, sus.background_deletion_rate, created)
        followers = np.exp(
            np.log(net.background_followers_median)
            + net.background_followers_sigma * rng.standard_normal(m)
        )
        act = rng.standard_normal(m)
        friends = np.exp(np.log(net.friends_median) + 0.9 * rng.standard_normal(m))
        rounds.append(
            {
                "pred": cur,
                "created": created,
                "susp": susp,
                "dele": dele,
                "watcher": np.zeros(m, dtype=bool),
                "followers": followers,
                "friends": friends,
                "status_rate": 2.0 * np.exp(0.9 * act),
                "act": act,
            }
        )
        susp_all = np.concatenate([susp_all, susp])
        dele_all = np.concatenate([dele_all, dele])
        again = (susp < dele) & (susp < cal.end) & (rng.random(m) < share)
        cur = offset + np.flatnonzero(again)
        offset += m
        k += 1
    facts: dict[str, Any] = {
        "n_eligible_suspended": n_elig,
        "n_returns": int(sum(len(r["pred"]) for r in rounds)),
        "n_returns_by_round": [int(len(r["pred"])) for r in rounds],
    }
    if not rounds:
        return dataclasses.replace(bg, pred=np.full(n0, -1, dtype=np.int64)), facts
    new = {key: np.concatenate([r[key] for r in rounds]) for key in rounds[0]}
    pred = np.concatenate([np.full(n0, -1, dtype=np.int64), new["pred"]])
    tail_root = chain_roots(pred)[n0:]
    changes: dict[str, Any] = {"pred": pred}
    for f in dataclasses.fields(bg):
        v = getattr(bg, f.name)
        if f.name == "pred" or not isinstance(v, np.ndarray) or len(v) != n0:
            continue
        add = new[f.name].astype(v.dtype) if f.name in new else v[tail_root]
        changes[f.name] = np.concatenate([v, add])
    return dataclasses.replace(bg, **changes), facts


def _latent(rng: np.random.Generator, rate: float, created: np.ndarray) -> np.ndarray:
    """Latent event times of constant ``rate`` after ``created`` (inf = never)."""
    if rate <= 0:
        return np.full(len(created), np.inf)
    t = rng.exponential(1.0 / rate, len(created))
    return np.where(t > HORIZON_DAYS, np.inf, created + t)


def spam_chain_text(
    cfg: SimConfig, bg: Background, ident: Identities, rng: np.random.Generator
) -> None:
    """Make the text of every account in a spam chain (``ident.chain``).

    Chains are made whole, in order, whether or not their accounts are ever in
    the data: a successor's handle is the suffix-incremented handle of its
    predecessor at the successor's creation (after the predecessor's rename when
    that came first; a default handle's digits are incremented), its avatar the
    predecessor's; the other fields are fresh (drawn from ``rng``). Default handles
    and renames are the accounts' own draws (``ident.bg_default``,
    ``ident.bg_rename``), so the chains' text drawn from ``rng`` is the same
    whichever other identity mechanisms are on.
    """
    assert bg.pred is not None
    pred = bg.pred
    succ = np.flatnonzero(pred >= 0)
    members = np.unique(np.concatenate([succ, pred[succ]]))
    pos = np.full(bg.n, -1, dtype=np.int64)
    pos[members] = np.arange(len(members))
    ident.chain_pos = pos
    df = background_profiles(
        rng, len(members), cfg.resurrection.background_stem_share, bg.watcher[members]
    )
    g = members + ident.n_s
    h0 = df["screen_name"].to_numpy().astype(object)
    if ident.default is not None and ident.bg_default is not None:
        d = np.flatnonzero(ident.default[g])
        h0[d] = ident.bg_default[members[d]]
    ren = (
        ident.renamed_at[g]
        if ident.renamed_at is not None
        else np.full(len(members), np.inf)
    )
    renamed = np.isfinite(ren)
    depth = np.zeros(len(members), dtype=np.int64)
    has = pred[members] >= 0
    rows_p = pos[pred[members[has]]]
    while True:
        d_new = depth.copy()
        d_new[has] = depth[rows_p] + 1
        if np.array_equal(d_new, depth):
            break
        depth = d_new
    avatar = df["profile_image_hash"].to_numpy().astype(object)
    h1 = h0.copy()
    created = bg.created[members]
    for d in range(int(depth.max(initial=0)) + 1):
        rows = np.flatnonzero(depth == d)
        if d > 0:
            pr = pos[pred[members[rows]]]
            hp = np.where(ren[pr] <= created[rows], h1[pr], h0[pr])
            h0[rows] = [suffix_increment(str(h)) for h in hp]
            avatar[rows] = avatar[pr]
            h1[rows] = h0[rows]
        rr = rows[renamed[rows]]
        if ident.bg_rename is not None and len(rr):
            h1[rr] = ident.bg_rename.take(members[rr]).apply(h0[rr])
    if ident.after is not None:
        ident.after[g[renamed]] = h1[renamed]
    ident.chain = df.with_columns(
        screen_name=pl.Series(h0.tolist(), dtype=pl.String),
        profile_image_hash=pl.Series(avatar.tolist(), dtype=pl.String),
        _after=pl.Series(np.where(renamed, h1, None).tolist(), dtype=pl.String),
    )


def identity_truth(world: _World) -> None:
    """Record the truth of the identity mechanisms that are on.

    Columns of ``truth/accounts``: ``sparse_profile``, ``default_handle``,
    ``renamed_at`` and ``handle_after_rename`` (null for a background account the
    data never show, unless it is in a spam chain: its text is never made),
    ``spam_predecessor_id``; facts in
    ``truth.json["stress"]["observe"]``.
    """
    ident, c = world.ident, world.ctx
    assert ident is not None
    cols = world.extra_truth_columns
    facts = world.extra_truth.setdefault("observe", {})
    ns, n = c.n_s, c.n
    known = np.zeros(n, dtype=bool)
    known[world.known_all] = True
    frame01 = (world.level == 0) | (world.level == 1)

    def split(mask: np.ndarray) -> dict[str, int]:
        return {
            "n_supporters": int(mask[:ns].sum()),
            "n_background": int(mask[ns:].sum()),
            "n_in_data": int((mask & known).sum()),
        }

    if ident.sparse is not None:
        sp = ident.sparse
        cols["sparse_profile"] = (sp, pl.Boolean())
        facts["sparse_profiles"] = {
            "share": world.cfg.resurrection.sparse_profile_share,
            "unit": "actor (supporters), chain owner (background)",
            **split(sp),
            "n_in_frame_levels_0_1_without_list": int((sp & frame01).sum()),
        }
    if ident.default is not None:
        cols["default_handle"] = (ident.default, pl.Boolean())
        facts["default_handles"] = {
            "share": world.cfg.resurrection.default_handle_share,
            **split(ident.default),
        }
    if ident.renamed_at is not None:
        ren = np.isfinite(ident.renamed_at)
        us = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        days = ident.renamed_at[ren]
        us[ren] = (
            world.cal.origin_us + np.round(days * 86400.0).astype(np.int64) * 1_000_000
        ).astype("datetime64[us]")
        cols["renamed_at"] = (us, pl.Datetime("us", "UTC"))
        cols["handle_after_rename"] = (
            pl.Series(ident.after.tolist(), dtype=pl.String),
            pl.String(),
        )
        looked = getattr(world, "look_first", np.full(n, np.inf))
        last = getattr(world, "look_last", np.full(n, -np.inf))
        both = ren & (looked < ident.renamed_at) & (last >= ident.renamed_at)
        facts["renames"] = {
            "p_rename": world.cfg.resurrection.p_rename,
            "n_renamed": int(ren.sum()),
            **split(ren),
            "n_seen_with_both_handles": int(both.sum()),
        }
    pred = c.bg.pred
    if pred is not None:
        has = np.flatnonzero(pred >= 0)
        col = np.zeros(n, dtype=np.int64)
        col[ns + has] = c.ids[ns + pred[has]]
        valid = np.zeros(n, dtype=bool)
        valid[ns + has] = True
        ser = pl.Series(col, dtype=pl.Int64)
        cols["spam_predecessor_id"] = (
            ser.set(pl.Series(~valid), None) if (~valid).any() else ser,
            pl.Int64(),
        )
        facts["spam_returns"] = {
            "share": world.cfg.resurrection.background_return_share,
            **getattr(world, "spam_facts", {}),
            "n_successors_in_data": int(known[ns + has].sum()),
            "n_links_both_in_data": int(
                (known[ns + has] & known[ns + pred[has]]).sum()
            ),
        }
