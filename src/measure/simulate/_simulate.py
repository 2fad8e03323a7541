"""Simulate a world and write it as a dataset on the data contract plus its truth.

Pipeline (every step vectorised with numpy/polars):

1. latent world (:mod:`measure.simulate._world`): supporter actors and their account
   chains (suspension, deletion, return with a new account), background accounts;
2. census at ``census_date``: seeds, follower lists of seeds (level 0) and of their
   followers (level 1) as ``crawls`` and ``edges`` (streamed in chunks);
3. later discovery, capture-recapture ``detections``, periodic status look-ups
   (``observations``), stratified hand coding (``labels``), ``tweets``;
4. ``truth.json`` and ``truth/accounts.parquet``, ``truth/actors.parquet``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from measure.dataset import DatasetWriter
from measure.errors import ConfigError
from measure.simulate._config import SimConfig
from measure.simulate._names import Identities, background_text
from measure.simulate._spam import identity_truth, setup_identities
from measure.simulate._world import (
    Background,
    Calendar,
    Supporters,
    growth,
    make_background,
    make_supporters,
)

TS = pl.Datetime("us", "UTC")
#: Random streams of the stress mechanisms, one per stage that has mechanisms.
STRESS_STREAMS = (
    "stress_world",
    "stress_names",
    "stress_observe",
    "stress_coding",
    "stress_capture",
)
DAY_US = 86_400_000_000
ID_BASE = 100_000_000
TWITTER_EPOCH_MS = 1_288_834_974_657
SOURCE_NAMES = (
    "hashtag:#baqiya",
    "user_reports",
    "shoutout_lists",
    "media_mentions",
    "researcher_list",
    "bot_detector",
    "telegram_links",
    "news_reports",
)
TWEET_TEXTS = (
    "#الدولة_الإسلامية باقية",
    "New account, please share #baqiya",
    "Breaking from Wilayat Raqqa",
    "Shoutout: follow @{h}",
    "اللهم انصر",
    "RT to spread",
    "#Khilafah news",
    "Dawlah update",
    "Photo report",
    "Back after suspension, follow @{h}",
)


def _ts(days: np.ndarray, origin_us: int) -> pl.Series:
    """Convert days since the window start to UTC timestamps (whole seconds).

    NaN and inf become null.
    """
    d = np.asarray(days, dtype=np.float64)
    ok = np.isfinite(d)
    us = np.zeros(len(d), dtype=np.int64)
    us[ok] = origin_us + np.round(d[ok] * 86400.0).astype(np.int64) * 1_000_000
    s = pl.Series(us).cast(TS)
    return s.set(pl.Series(~ok), None) if (~ok).any() else s


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted unique values (sort-based: faster than hashing for int64 codes)."""
    a = np.sort(a, kind="stable") if len(a) else a
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _draw(rng: np.random.Generator, cum: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` indices with probabilities given by the normalised cumsum ``cum``.

    Sorted uniforms (normalised exponential spacings) make ``searchsorted`` fast;
    a random permutation then restores independent order.
    """
    if n == 0:
        return np.empty(0, dtype=np.int64)
    e = np.cumsum(rng.standard_exponential(n + 1))
    idx = np.searchsorted(cum, e[:-1] / e[-1])
    return rng.permutation(np.minimum(idx, len(cum) - 1))


def _choice(options: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    """Return ``options[codes]`` as a string column (no Python objects)."""
    return pl.Series(options, dtype=pl.String).gather(np.asarray(codes, np.int64))


def _const(value: str, n: int) -> pl.Series:
    """Return a string column holding ``value`` ``n`` times."""
    return pl.repeat(value, int(n), eager=True, dtype=pl.String)


def _nullable(x: np.ndarray, ok: np.ndarray, dtype: pl.DataType) -> pl.Series:
    s = pl.Series(x).cast(dtype)
    return s.set(pl.Series(~ok), None) if (~ok).any() else s


@dataclass
class _Ctx:
    """Arrays over the global account index (supporters first, then background)."""

    cfg: SimConfig
    cal: Calendar
    sup: Supporters
    bg: Background
    ids: np.ndarray
    created: np.ndarray
    end: np.ndarray

    @property
    def n_s(self) -> int:
        return self.sup.n

    @property
    def n(self) -> int:
        return len(self.created)

    def alive(self, t: float) -> np.ndarray:
        return (self.created <= t) & (self.end > t)

    def by_group(
        self, g: np.ndarray, sup_values: np.ndarray, bg_values: np.ndarray
    ) -> np.ndarray:
        """Values of global accounts ``g`` from a supporter and a background array."""
        s = g < self.n_s
        out = np.empty(len(g), dtype=np.result_type(sup_values, bg_values))
        out[s] = sup_values[g[s]]
        out[~s] = bg_values[g[~s] - self.n_s]
        return out

    def followers_at(self, g: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Follower count of global accounts ``g`` at times ``t``."""
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), g.shape)
        out = np.empty(len(g), dtype=np.float64)
        s = g < self.n_s
        gs = g[s]
        out[s] = np.exp(self.sup.log_f[gs]) * growth(
            t[s] - self.created[gs], self.cfg.network.growth_days
        )
        out[~s] = self.bg.followers[g[~s] - self.n_s]
        return np.round(out)


def append_lists(
    world: Any,
    rows: list[pl.DataFrame],
    owners: np.ndarray,
    level: int,
    collected_ts: pl.Series,
    complete: np.ndarray,
    n_followers: np.ndarray,
    src: np.ndarray,
    pos: np.ndarray,
) -> None:
    """Record collected followers lists: crawl rows and their ``edges``.

    ``owners`` are global accounts whose lists were collected at ``collected_ts``;
    list ``i`` holds followers ``src[pos == i]``; ``n_followers`` is each owner's
    follower count (kept in the private ``_followers`` column).
    """
    c = world.ctx
    n_own = len(owners)
    rows.append(
        pl.DataFrame(
            {
                "account_id": pl.Series(c.ids[owners], dtype=pl.Int64),
                "list": _const("followers", n_own),
                "level": pl.Series(np.full(n_own, level), dtype=pl.Int32),
                "collected_at": collected_ts,
                "complete": pl.Series(complete, dtype=pl.Boolean),
                "_followers": pl.Series(n_followers, dtype=pl.Int64),
            }
        )
    )
    if len(src):
        world.w.append(
            "edges",
            pl.DataFrame(
                {
                    "src": pl.Series(c.ids[src], dtype=pl.Int64),
                    "dst": pl.Series(c.ids[owners[pos]], dtype=pl.Int64),
                    "relation": _const("follows", len(src)),
                    "observed_at": collected_ts.gather(pos),
                }
            ),
        )


def simulate(
    config: SimConfig | str,
    seed: int,
    out: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Simulate a world and write it (dataset on the contract + truth) to ``out``.

    Parameters
    ----------
    config
        A :class:`SimConfig` or a preset name (``"small"``, ``"demo"``, ``"large"``,
        ``"stress"``: demo sizes with every stress mechanism drawn for ``seed``).
    seed
        Random seed; the same seed and config give byte-identical files (same
        manifest digest).
    out
        Destination directory (written atomically through ``DatasetWriter``).
    overwrite
        Replace an existing dataset at ``out``.
    log
        Optional progress callback.

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    The generative model and the study motivating each assumption are documented in
    ``docs/simulation.md``: Weibull-gamma-frailty suspension hazards (Conway et al.
    2017), return after suspension with edited handles (Wright et al. 2016), decaying
    follower recovery (Berger & Perez 2016), and a two-level snowball census with
    stratified hand coding (Berger & Morgan 2015).
    """
    if isinstance(config, str):
        cfg = (
            SimConfig.preset("stress", seed=int(seed))
            if config == "stress"
            else SimConfig.preset(config)
        )
    else:
        cfg = config
    if not isinstance(cfg, SimConfig):
        raise ConfigError(
            f"config must be a SimConfig or a preset name, not {type(config).__name__}"
        )
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer (got {seed!r})")
    say = log or (lambda _msg: None)
    out = Path(out)
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    cfg_digest = hashlib.sha256(cfg_json.encode()).hexdigest()[:12]
    command = (
        f"measure simulate --preset {cfg.preset_name} --seed {int(seed)} "
        f"(config sha256:{cfg_digest})"
    )
    with DatasetWriter(
        out,
        name=out.name,
        command=command,
        overwrite=overwrite,
        compression=cfg.output.compression,
    ) as w:
        _World(cfg, int(seed), w, say).run()
    return out


class _World:
    def __init__(
        self, cfg: SimConfig, seed: int, w: DatasetWriter, say: Callable[[str], None]
    ) -> None:
        self.cfg, self.seed, self.w, self.say = cfg, seed, w, say
        ss = np.random.SeedSequence(seed)
        names = (
            "world",
            "background",
            "census",
            "lists",
            "discover",
            "capture",
            "observe",
            "coding",
            "tweets",
            "text",
            "ids",
            "recrawl",
            "recrawl_text",
            # streams of the stress mechanisms: spawned after the streams above,
            # so the streams above are the same whichever mechanisms are on
            *STRESS_STREAMS,
        )
        self.rng = {
            k: np.random.default_rng(s)
            for k, s in zip(names, ss.spawn(len(names)), strict=True)
        }
        self.cal = Calendar.from_config(cfg)
        self.stats: dict[str, Any] = {}
        # truth of the stress mechanisms, written only when a mechanism is on:
        # truth.json sections and extra truth/accounts columns (global index)
        self.extra_truth: dict[str, Any] = {}
        # (a polars Series holds a nullable integer column)
        self.extra_truth_columns: dict[
            str, tuple[np.ndarray | pl.Series, pl.DataType]
        ] = {}
        # identity traits of the stress mechanisms (None while they are off)
        self.ident: Identities | None = None

    # -- main --
    def run(self) -> None:
        cfg, cal = self.cfg, self.cal
        self.say("latent world")
        sup = make_supporters(cfg, cal, self.rng["world"], self.rng["stress_world"])
        bg = make_background(cfg, cal, self.rng["background"])
        # identity stress mechanisms: returning spam accounts, default handles,
        # renames, sparse profiles (nothing is drawn while they are off)
        bg, self.ident = setup_identities(self, sup, bg)
        # truth of the latent-world mechanisms (frailty, hazards, returns)
        if sup.stress_truth:
            self.extra_truth_columns.update(sup.stress_truth_columns(bg.n))
        if sup.stress_facts:
            self.extra_truth["world"] = sup.stress_facts
        n = sup.n + bg.n
        perm = self.rng["ids"].permutation(n).astype(np.int64)
        self.ctx = c = _Ctx(
            cfg,
            cal,
            sup,
            bg,
            ID_BASE + perm,
            np.concatenate([sup.created, bg.created]),
            np.concatenate([sup.end, bg.end]),
        )
        # census follower lists of supporters with a successor (re-crawls draw a
        # returning account's followers from its predecessor's audience)
        self.keep_lists: np.ndarray | None = None
        self.census_lists: dict[int, tuple[np.ndarray, int]] = {}
        if cfg.observation.recrawl_followers and sup.n:
            self.keep_lists = np.zeros(n, dtype=bool)
            self.keep_lists[sup.pred[sup.pred >= 0]] = True
        self.say("census crawl")
        self._census()
        self.say("discovery and detections")
        self._discover()
        self._detect()
        known = self.level >= 0
        known |= np.isfinite(self.disc_t)
        known |= self.detected
        self.known = np.flatnonzero(known)
        # frame accounts are first seen on the census day, or earlier when a list
        # window caught them before it (detected_first_t is the census day unless
        # list windows are on)
        self.first_seen = np.where(
            self.level >= 0,
            np.where(
                self.detected,
                np.minimum(cal.census, self.detected_first_t),
                cal.census,
            ),
            np.where(self.detected, self.detected_first_t, self.disc_t),
        )
        # accounts seen only as followers in post-census re-crawled lists
        self.listed_only = np.empty(0, dtype=np.int64)
        self.recrawl_rows: list[pl.DataFrame] = []
        if cfg.observation.recrawl_followers:
            from measure.simulate._recrawl import recrawl

            self.say("re-crawls of discovered accounts")
            recrawl(self)
            extra = np.isfinite(self.list_t) & ~known
            self.listed_only = np.flatnonzero(extra)
            self.first_seen[extra] = self.list_t[extra]
        self.say("coding sample")
        self._labels()
        self.say("accounts and observations")
        self._accounts()
        self._observations()
        if self.accounts_pending:
            self._write_accounts()
        if cfg.tweets.enabled:
            self.say("tweets")
            self._tweets()
        self.say("truth")
        if self.ident is not None:
            identity_truth(self)
        self._truth()
        del c

    # -- census --
    def _census(self) -> None:
        cfg, cal, c = self.cfg, self.cal, self.ctx
        o, net = cfg.observation, cfg.network
        rng = self.rng["census"]
        tc = cal.census
        alive = c.alive(tc)
        alive_sup = np.flatnonzero(alive[: c.n_s])
        alive_bg = np.flatnonzero(alive[c.n_s :]) + c.n_s
        watch = c.bg.watcher[alive_bg - c.n_s]
        self.alive_sup = alive_sup
        self.pool_w = alive_bg[watch]
        self.pool_o = alive_bg
        # heavy-tailed follow propensity: a few background users follow very many
        # accounts, most follow few (so most level-2 accounts follow 1-2 lists)
        zf = np.exp(net.background_follow_sigma * rng.standard_normal(len(alive_bg)))
        self.pool_o_cum = np.cumsum(zf) / zf.sum() if len(zf) else zf
        iso = self.rng["census"].random(c.n_s) < net.isolated_share
        self.iso = iso
        wts = (
            np.exp(net.activity_follow_weight * c.sup.act[alive_sup])
            * growth(tc - c.created[alive_sup], net.growth_days)
            * ~iso[alive_sup]
        )
        if wts.sum() <= 0:
            wts = np.ones(len(alive_sup))
        self.sup_cum = np.cumsum(wts) / wts.sum()
        # true follower count at the census (before de-duplication)
        self.level = np.full(c.n, -1, dtype=np.int8)
        self.in_core_fol = np.zeros(c.n, dtype=np.int32)
        self.in_friends = np.zeros(c.n, dtype=np.int32)
        self.crawl_rows: list[pl.DataFrame] = []
        # seeds: prominent live supporters
        f_c = c.followers_at(alive_sup, tc)
        ok = f_c > 0
        if self.ident is not None and self.ident.sparse is not None:
            # a census starts from accounts whose follower lists it can read
            ok &= ~self.ident.sparse[alive_sup]
        cand = alive_sup[ok]
        wt = f_c[ok] ** o.seed_selectivity
        k = min(o.n_seeds, len(cand))
        if k == 0:
            raise ConfigError(
                "no live supporter account with followers at the census "
                "date; raise 'population.actor_rate_per_day'"
            )
        seeds = np.sort(rng.choice(cand, size=k, replace=False, p=wt / wt.sum()))
        self.seeds = seeds
        self.level[seeds] = 0
        core = np.zeros(c.n, dtype=bool)
        core[seeds] = True
        src, dst = self._crawl(seeds, 0, core, rng)
        lvl1 = np.setdiff1d(_unique(src), seeds, assume_unique=True)
        lvl1 = lvl1[alive[lvl1]]
        self.level[lvl1] = 1
        core[lvl1] = True
        # level-1 lists, streamed in chunks of about edge_chunk_rows edges; a
        # sparse-profile account stays at level 1 but its list is never collected
        own1 = lvl1
        # the in-network core N of the data: seeds and the accounts whose list was
        # collected (an uncollected list is unknown, so a follow by a sparse
        # level-1 account is not an in-network follow)
        crawled = core
        if self.ident is not None and self.ident.sparse is not None:
            own1 = lvl1[~self.ident.sparse[lvl1]]
            crawled = core & ~self.ident.sparse
        # in-core counts of the seed lists need the final core set
        self._count_core(src, dst, crawled)
        self.core = core
        n_true = np.maximum(c.followers_at(own1, tc), 0)
        budget = cfg.output.edge_chunk_rows
        cum = np.cumsum(n_true)
        cuts = (
            np.searchsorted(cum, np.arange(budget, cum[-1], budget), side="right")
            if len(cum)
            else np.empty(0, np.int64)
        )
        bounds = np.unique(np.concatenate([[0], cuts, [len(own1)]])).astype(np.int64)
        if not hasattr(self, "seen"):
            self.seen = np.zeros(c.n, dtype=bool)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            s_, d_ = self._crawl(own1[a:b], 1, core, rng)
            self._count_core(s_, d_, crawled)
        lvl2 = self.seen & ~core
        self.level[lvl2] = 2
        self.crawls = pl.concat(self.crawl_rows)
        self.stats["edges"] = self.w.rows.get("edges", 0)

    def _count_core(self, src: np.ndarray, dst: np.ndarray, core: np.ndarray) -> None:
        """Add the collected edges ``src -> dst`` to the in-network counts.

        ``core`` marks the accounts of the network core N whose follows count as
        in-network follows (the seeds and the level-1 accounts whose list was
        collected); ``in_friends`` counts the collected lists holding an account.
        """
        n = self.ctx.n
        self.in_core_fol += np.bincount(dst[core[src]], minlength=n).astype(np.int32)
        self.in_friends += np.bincount(src, minlength=n).astype(np.int32)
        if not hasattr(self, "seen"):
            self.seen = np.zeros(n, dtype=bool)
        self.seen[src] = True

    def _crawl(
        self, owners: np.ndarray, level: int, core: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Collect the follower lists of ``owners``; write crawls and edges."""
        cfg, c, cal = self.cfg, self.ctx, self.cal
        o, net = cfg.observation, cfg.network
        rl = self.rng["lists"]
        n_own = len(owners)
        is_sup = owners < c.n_s
        n_true = c.followers_at(owners, cal.census).astype(np.int64)
        # crawl completeness: the cap, and rate-limit stops (p_incomplete). Only
        # the collected part of a list is generated (large lists are never built).
        keep_frac = np.ones(n_own)
        stopped = rng.random(n_own) < o.p_incomplete
        frac = rng.uniform(0.05, 0.95, n_own)
        capped = n_true > o.crawl_cap
        keep_frac[stopped] = frac[stopped]
        keep_frac[capped] = np.minimum(
            keep_frac[capped], o.crawl_cap / np.maximum(n_true[capped], 1)
        )
        complete = ~(stopped | capped)
        n_gen = np.where(complete, n_true, rl.binomial(n_true, keep_frac))
        share = np.zeros(n_own)
        share[is_sup] = c.sup.in_share[owners[is_sup]]
        n_in = rl.binomial(n_gen, share)
        n_in = np.minimum(n_in, max(len(self.alive_sup) - 1, 0))
        rest = n_gen - n_in
        w_share = np.where(is_sup, net.watcher_follower_share, 0.0)
        n_w = rl.binomial(rest, w_share) if len(self.pool_w) else np.zeros_like(rest)
        n_o = rest - n_w
        pos_in = np.repeat(np.arange(n_own), n_in)
        pos_w = np.repeat(np.arange(n_own), n_w)
        pos_o = np.repeat(np.arange(n_own), n_o)
        src_in = self.alive_sup[_draw(rl, self.sup_cum, len(pos_in))]
        src_w = (
            self.pool_w[rl.integers(0, len(self.pool_w), len(pos_w))]
            if len(pos_w)
            else np.empty(0, np.int64)
        )
        src_o = self.pool_o[_draw(rl, self.pool_o_cum, len(pos_o))]
        pos = np.concatenate([pos_in, pos_w, pos_o]).astype(np.int64)
        src = np.concatenate([src_in, src_w, src_o]).astype(np.int64)
        keep = src != owners[pos]
        code = _unique(pos[keep] * c.n + src[keep])
        pos, src = code // c.n, code % c.n
        # a complete list is the account's true follower set at the census
        realized = np.where(complete, np.bincount(pos, minlength=n_own), n_true)
        self._set_census_followers(owners[complete], realized[complete])
        if self.keep_lists is not None and self.keep_lists[owners].any():
            starts = np.searchsorted(pos, np.arange(n_own + 1))
            for i in np.flatnonzero(self.keep_lists[owners]):
                self.census_lists[int(owners[i])] = (
                    src[starts[i] : starts[i + 1]].astype(np.int32),
                    int(realized[i]),
                )
        dst = owners[pos]
        span = 1.0 if level == 0 else max(o.crawl_days, 1e-3)
        collected = cal.census + rng.uniform(0.0, span, n_own)
        append_lists(
            self,
            self.crawl_rows,
            owners,
            level,
            _ts(collected, cal.origin_us),
            complete,
            realized,
            src,
            pos,
        )
        return src, dst

    def _set_census_followers(self, owners: np.ndarray, realized: np.ndarray) -> None:
        c = self.ctx
        s = owners < c.n_s
        gs = owners[s]
        g = growth(self.cal.census - c.created[gs], self.cfg.network.growth_days)
        ok = (realized[s] > 0) & (g > 0)
        c.sup.log_f[gs[ok]] = np.log(realized[s][ok] / g[ok])
        b = owners[~s] - c.n_s
        c.bg.followers[b] = realized[~s].astype(np.float32)

    # -- stages that live in their own modules --
    def _discover(self) -> None:
        from measure.simulate._observe import discover

        discover(self)

    def _detect(self) -> None:
        from measure.simulate._capture import detect

        detect(self)

    def _labels(self) -> None:
        from measure.simulate._coding import label

        label(self)

    def _observations(self) -> None:
        from measure.simulate._observe import observations

        observations(self)

    # -- accounts --
    def _accounts(self) -> None:
        """Write ``accounts`` (in parts when large); keep handles of looked-up ones.

        With renames on, the table is held back until the look-ups are known
        (:meth:`_write_accounts`).
        """
        cfg, cal, c = self.cfg, self.cal, self.ctx
        o = cfg.observation
        order = self.known
        if o.observe_level2:
            sel = np.ones(len(order), dtype=bool)
        else:
            lv = self.level[order]
            sel = (
                (lv == 0)
                | (lv == 1)
                | np.isin(order, self.coded)
                | (np.isfinite(self.disc_t[order]))
                | self.detected[order]
            )
        chunk = cfg.output.truth_chunk_rows
        extra = self.listed_only
        many = len(order) + len(extra) > chunk
        names: list[pl.Series] = []
        parts: list[pl.DataFrame] = []
        # accounts the study looks up first (their text stream is the same with or
        # without re-crawls), then those seen only in re-crawled follower lists
        jobs = [
            (order[a : a + chunk], sel[a : a + chunk], self.rng["text"])
            for a in range(0, max(len(order), 1), chunk)
        ] + [
            (
                extra[a : a + chunk],
                np.zeros(len(extra[a : a + chunk]), dtype=bool),
                self.rng["recrawl_text"],
            )
            for a in range(0, len(extra), chunk)
        ]
        # with renames, `accounts` is written after the look-ups: its screen_name
        # is the handle as last seen (see _write_accounts)
        ident = self.ident
        self.accounts_pending = ident is not None and ident.renamed_at is not None
        for part, psel0, trng in jobs:
            s = part < c.n_s
            txt = pl.concat(
                [
                    c.sup.profiles[part[s]],
                    background_text(cfg, trng, c.bg, part[~s] - c.n_s, ident).select(
                        c.sup.profiles.columns
                    ),
                ]
            )
            part = np.concatenate([part[s], part[~s]])
            psel = np.concatenate([psel0[s], psel0[~s]])
            acc = pl.DataFrame(
                {
                    "account_id": pl.Series(c.ids[part], dtype=pl.Int64),
                    "platform": _const("twitter", len(part)),
                }
            ).hstack(txt.select("screen_name", "display_name", "description"))
            acc = acc.with_columns(created_at=_ts(c.created[part], cal.origin_us))
            acc = acc.hstack(txt.select("lang", "location", "profile_image_hash"))
            acc = acc.with_columns(
                first_seen=_ts(self.first_seen[part], cal.origin_us)
            ).sort("account_id")
            if many and not self.accounts_pending:
                self.w.append("accounts", acc)
            else:
                parts.append(acc)
            names.append(
                pl.DataFrame(
                    {
                        "g": part[psel],
                        "screen_name": txt["screen_name"].filter(pl.Series(psel)),
                    }
                )
            )
        looked = pl.concat(names).sort("g")
        self.obs_accounts = looked["g"].to_numpy()
        self.obs_names = looked["screen_name"]
        if self.accounts_pending:
            assert ident is not None and ident.after is not None
            self.accounts_parts, self.accounts_many = parts, many
            after = ident.after[self.obs_accounts]
            before = self.obs_names.to_numpy().astype(object)
            self.obs_after = pl.Series(
                np.where(after == None, before, after).tolist(),  # noqa: E711
                dtype=pl.String,
            )
        elif not many:
            self.w.write_table("accounts", pl.concat(parts).sort("account_id"))
        self.accounts_rows = len(order) + len(extra)
        self.known_all = np.sort(np.concatenate([order, extra]))

    def _write_accounts(self) -> None:
        """Write ``accounts`` held back for the look-ups (renames on).

        A renamed account's ``screen_name`` is its handle as last seen: the new
        handle when its last look-up (or its first sight) came at or after the
        rename, else the old one.
        """
        from measure.simulate._observe import last_seen_handles

        patch = last_seen_handles(self)
        parts = [p.update(patch, on="account_id") for p in self.accounts_parts]
        if self.accounts_many:
            for p in parts:
                self.w.append("accounts", p)
        else:
            self.w.write_table("accounts", pl.concat(parts).sort("account_id"))
        self.accounts_parts = []

    # -- tweets --
    def _tweets(self) -> None:
        cfg, cal, c = self.cfg, self.cal, self.ctx
        tw = cfg.tweets
        rng = self.rng["tweets"]
        core = np.flatnonzero((self.level == 0) | (self.level == 1))
        sup = core[core < c.n_s]
        bgc = core[core >= c.n_s]
        bgc = bgc[rng.random(len(bgc)) < tw.background_share]
        acc = np.concatenate([sup, bgc])
        lo = np.maximum(c.created[acc], cal.census - tw.window_days)
        hi = np.minimum(np.minimum(c.end[acc], cal.census + tw.window_days), cal.end)
        dur = np.maximum(hi - lo, 0)
        rate = tw.rate_median_per_day * np.exp(
            tw.rate_sigma * rng.standard_normal(len(acc))
        )
        rate = np.minimum(rate, 400.0)
        # diurnal thinning: draw 1/mean(intensity) more candidates, keep ∝ intensity
        n = rng.poisson(rate * dur * 1.8)
        pos = np.repeat(np.arange(len(acc)), n)
        t = lo[pos] + rng.random(len(pos)) * dur[pos]
        hour = (t % 1.0) * 24.0
        inten = (1 + 0.8 * np.cos(2 * np.pi * (hour - 19.0) / 24.0)) / 1.8
        keep = rng.random(len(pos)) < inten
        pos, t = pos[keep], t[keep]
        order = np.argsort(t, kind="stable")
        pos, t = pos[order], t[order]
        ms = (
            cal.origin_us // 1000
            + np.round(t * 86400000.0).astype(np.int64)
            - TWITTER_EPOCH_MS
        )
        tid = (ms << 22) + (np.arange(len(t)) & 0x3FFFFF)
        texts = tuple(x.replace("{h}", "baqiya_shoutout") for x in TWEET_TEXTS)
        txt = _choice(texts, rng.integers(0, len(texts), len(t)))
        self.tweets = pl.DataFrame(
            {
                "tweet_id": pl.Series(tid, dtype=pl.Int64),
                "account_id": pl.Series(c.ids[acc[pos]], dtype=pl.Int64),
                "created_at": _ts(t, cal.origin_us),
                "text": txt,
            }
        )

    # -- write tables and truth --
    def _truth(self) -> None:
        from measure.simulate._truth import build_truth

        w = self.w
        w.write_table(
            "seeds",
            pl.DataFrame(
                {
                    "account_id": pl.Series(self.ctx.ids[self.seeds], dtype=pl.Int64),
                    "seed_list": pl.Series(
                        ["prominent_supporters"] * len(self.seeds), dtype=pl.String
                    ),
                }
            ).sort("account_id"),
        )
        crawls = self.crawls
        if self.recrawl_rows:
            re = pl.concat(self.recrawl_rows).sort("account_id", "collected_at")
            crawls = pl.concat([crawls, re])
        w.write_table("crawls", crawls.drop("_followers"))
        w.write_table("labels", self.labels)
        w.write_table("detections", self.detections)
        if self.cfg.tweets.enabled:
            w.write_table("tweets", self.tweets)
        build_truth(self)


def o_days(cfg: SimConfig) -> float:
    """Days after the census when hand coding starts (after the crawl)."""
    return float(cfg.observation.crawl_days)
