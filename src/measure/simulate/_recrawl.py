"""Post-census re-crawls: follower lists of accounts discovered after the census.

A study that keeps watching a network after its census re-crawls what it discovers.
For every account discovered after the census (returning supporters, new supporters
and the background accounts that re-crawls also pick up, see ``_World._discover``),
except sparse-profile accounts (``sparse_profile_share``: their lists are never
collected), the followers list is collected ``U(0, recrawl_delay_days)`` days after
discovery and once more ``recrawl_second_after_days`` later, each time only if the
account is still alive (a suspended or deleted account's list cannot be
collected). Lists are written as ``crawls`` rows (``level`` = :data:`RECRAWL_LEVEL`,
outside the snowball) and ``edges`` rows (follower -> account, ``observed_at`` =
collection time).

Audience model
--------------
Each account ``g`` that needs followers gets one ordered follower sequence ``S_g``
(the order in which its followers followed it); its list at time ``t`` is the first
``n(g, t)`` entries (``n`` = the latent follower count, the same one the look-ups
report) minus followers no longer alive at ``t``. A returning account (incarnation
``k > 1``) draws about ``returning_follower_share`` of its followers from its
predecessor's audience at suspension: the predecessor's collected census list when
there is one (followers outside the collected part of an incomplete list are
unknown, so their share is replaced by fresh draws), else the predecessor's own
sequence (generated here, recursively, even when it was never crawled). The other
followers are drawn as at the census: a Beta share of live supporters (weighted by
activity and age), watchers, and general background users. The sizes follow the
latent audiences, so the new account's list is consistent with the follower-recovery
truth (``F*_k = F*_{k-1} * follower_recovery``).

Crawl cap and ``p_incomplete`` apply as for census lists; the platform returns the
most recent followers first, so a capped or stopped list holds the newest followers.

All draws use the world's ``recrawl`` random stream, so switching re-crawls on or off
leaves every other table unchanged except ``accounts``, which gains the followers
seen only in re-crawled lists (``first_seen`` = the first such list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from measure.simulate._world import growth

if TYPE_CHECKING:  # pragma: no cover
    from measure.simulate._simulate import _World

#: ``crawls.level`` of a list collected outside the snowball (post-census re-crawl).
RECRAWL_LEVEL = 99
#: In-network followers are drawn from supporters alive in the same 7-day bucket.
BUCKET_DAYS = 7.0


class _Audiences:
    """Follower sources of predecessors: census lists and generated sequences."""

    def __init__(self, census: dict[int, tuple[np.ndarray, int]]) -> None:
        # census list of g: (collected followers, true follower count at census)
        self.census = census
        self.generated: dict[int, np.ndarray] = {}

    def take(self, g: int, true_at_end: int) -> tuple[np.ndarray, int]:
        """Return (known followers, true size) of ``g``'s audience at its end."""
        if g in self.generated:
            a = self.generated.pop(g)
            return a, len(a)
        src, n_census = self.census.pop(g)
        return src, max(int(n_census), int(true_at_end), len(src))


def recrawl(world: _World) -> None:
    """Collect post-census follower lists; sets ``world.list_t``, ``world.listed``."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    o = cfg.observation
    rng = world.rng["recrawl"]
    n, ns = c.n, c.n_s
    world.list_t = np.full(n, np.inf)
    world.listed = np.zeros(n, dtype=bool)
    world.recrawl_rows = []
    world.stats["recrawl"] = {"lists": 0, "edges": 0, "incomplete": 0}
    disc = np.isfinite(world.disc_t)
    if world.ident is not None and world.ident.sparse is not None:
        disc &= ~world.ident.sparse  # sparse profiles: no list is ever collected
    tgt = np.flatnonzero(disc)
    t1 = world.disc_t[tgt] + rng.uniform(0.0, o.recrawl_delay_days, len(tgt))
    t2 = t1 + o.recrawl_second_after_days
    end_t = c.end[tgt]
    ok1 = (t1 < end_t) & (t1 <= cal.end)
    ok2 = (o.recrawl_second_after_days > 0) & (t2 < end_t) & (t2 <= cal.end)
    ev_g = np.concatenate([tgt[ok1], tgt[ok2]])
    ev_t = np.concatenate([t1[ok1], t2[ok2]])
    order = np.lexsort((ev_t, ev_g))
    ev_g, ev_t = ev_g[order], ev_t[order]
    if not len(ev_g):
        return
    # accounts needing a follower sequence: crawled ones and their uncrawled
    # predecessors (up to one with a census list or a first incarnation)
    pred = np.full(n, -1, dtype=np.int64)
    pred[:ns] = c.sup.pred
    inc = np.zeros(n, dtype=np.int64)
    inc[:ns] = c.sup.inc
    has_census = np.zeros(n, dtype=bool)
    if world.census_lists:
        has_census[np.fromiter(world.census_lists, dtype=np.int64)] = True
    need = np.zeros(n, dtype=bool)
    need[ev_g] = True
    horizon = np.full(n, -np.inf)
    np.maximum.at(horizon, ev_g, ev_t)
    ref = np.full(n, np.nan)
    first = np.r_[True, ev_g[1:] != ev_g[:-1]]
    ref[ev_g[first]] = ev_t[first]
    source = np.zeros(n, dtype=bool)  # audience at end is used by a successor
    front = np.unique(ev_g)
    front = front[pred[front] >= 0]
    while len(front):
        p = pred[front]
        source[p] = True
        horizon[p] = np.maximum(horizon[p], c.end[p])
        latent = p[~has_census[p] & ~need[p]]
        need[latent] = True
        ref[latent] = c.end[latent]
        front = latent[pred[latent] >= 0]
    aud = _Audiences({g: v for g, v in world.census_lists.items() if source[g]})
    world.census_lists = {}
    pools = _Pools(world)
    ev_start = np.searchsorted(ev_g, np.arange(n + 1))
    budget = cfg.output.edge_chunk_rows
    for k in range(int(inc.max(initial=0)) + 1):
        r = np.flatnonzero(need & (inc == k))
        if not len(r):
            continue
        size = np.maximum(c.followers_at(r, horizon[r]), 0).astype(np.int64)
        cum = np.cumsum(size)
        cuts = np.searchsorted(cum, np.arange(budget, cum[-1], budget), side="right")
        bounds = np.unique(np.concatenate([[0], cuts, [len(r)]])).astype(np.int64)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            _chunk(
                world,
                r[a:b],
                size[a:b],
                pred,
                ref,
                source,
                aud,
                pools,
                rng,
                ev_g,
                ev_t,
                ev_start,
            )


class _Pools:
    """Follower pools: live supporters per time bucket, watchers, background."""

    def __init__(self, world: _World) -> None:
        self.w = world
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def supporters(self, bucket: int) -> tuple[np.ndarray, np.ndarray]:
        if bucket not in self.cache:
            c, net = self.w.ctx, self.w.cfg.network
            tb = (bucket + 0.5) * BUCKET_DAYS
            ns = c.n_s
            alive = np.flatnonzero(
                (c.created[:ns] <= tb) & (c.end[:ns] > tb) & ~self.w.iso
            )
            wts = np.exp(net.activity_follow_weight * c.sup.act[alive]) * growth(
                tb - c.created[alive], net.growth_days
            )
            tot = wts.sum()
            cum = np.cumsum(wts) / tot if tot > 0 else np.empty(0)
            if tot <= 0:
                alive = np.empty(0, np.int64)
            self.cache[bucket] = (alive, cum)
        return self.cache[bucket]


def _chunk(
    world: _World,
    r: np.ndarray,
    size: np.ndarray,
    pred: np.ndarray,
    ref: np.ndarray,
    source: np.ndarray,
    aud: _Audiences,
    pools: _Pools,
    rng: np.random.Generator,
    ev_g: np.ndarray,
    ev_t: np.ndarray,
    ev_start: np.ndarray,
) -> None:
    """Generate the follower sequences of accounts ``r``; write their lists."""
    from measure.simulate._simulate import _draw, _unique

    cfg, c = world.cfg, world.ctx
    o, net, res = cfg.observation, cfg.network, cfg.resurrection
    n, ns = c.n, c.n_s
    m = len(r)
    # -- returning followers from the predecessor's audience --
    has_p = pred[r] >= 0
    k_ret = np.zeros(m, dtype=np.int64)
    k_ret[has_p] = rng.binomial(size[has_p], res.returning_follower_share)
    ret_pos: list[np.ndarray] = []
    ret_src: list[np.ndarray] = []
    k_known = np.zeros(m, dtype=np.int64)
    idx_p = np.flatnonzero(has_p)
    p_all = pred[r[idx_p]]
    p_end = np.maximum(c.followers_at(p_all, c.end[p_all]), 0).astype(np.int64)
    for i, p, end_size in zip(idx_p, p_all.tolist(), p_end.tolist(), strict=True):
        known, true = aud.take(p, end_size)
        k = min(int(k_ret[i]), true)
        if k <= 0 or not len(known):
            continue
        kk = int(rng.hypergeometric(len(known), max(true - len(known), 0), k))
        if kk:
            ret_src.append(rng.choice(known, kk, replace=False).astype(np.int64))
            ret_pos.append(np.full(kk, i, dtype=np.int64))
            k_known[i] = kk
    # -- fresh followers (as at the census) --
    fresh = size - k_known
    is_sup = r < ns
    share = np.zeros(m)
    share[is_sup] = c.sup.in_share[r[is_sup]]
    n_in = rng.binomial(fresh, share)
    rest = fresh - n_in
    w_share = np.where(is_sup, net.watcher_follower_share, 0.0)
    n_w = rng.binomial(rest, w_share) if len(world.pool_w) else np.zeros_like(rest)
    n_o = rest - n_w
    bucket = np.floor(ref[r] / BUCKET_DAYS).astype(np.int64)
    pos_in = np.repeat(np.arange(m), n_in)
    src_in = np.empty(len(pos_in), dtype=np.int64)
    b_in = bucket[pos_in]
    keep_in = np.ones(len(pos_in), dtype=bool)
    for b in np.unique(b_in):
        sel = np.flatnonzero(b_in == b)
        alive, cum = pools.supporters(int(b))
        if not len(alive):
            keep_in[sel] = False
            src_in[sel] = 0
            continue
        src_in[sel] = alive[_draw(rng, cum, len(sel))]
    pos_w = np.repeat(np.arange(m), n_w)
    src_w = (
        world.pool_w[rng.integers(0, len(world.pool_w), len(pos_w))]
        if len(pos_w)
        else np.empty(0, np.int64)
    )
    pos_o = np.repeat(np.arange(m), n_o)
    src_o = (
        world.pool_o[_draw(rng, world.pool_o_cum, len(pos_o))]
        if len(world.pool_o)
        else np.empty(0, np.int64)
    )
    pos = np.concatenate([*ret_pos, pos_in[keep_in], pos_w, pos_o]).astype(np.int64)
    src = np.concatenate([*ret_src, src_in[keep_in], src_w, src_o]).astype(np.int64)
    # -- one sequence per account: no self-follows, no repeats, random order --
    ok = src != r[pos]
    code = _unique(pos[ok] * n + src[ok])
    pos, src = code // n, code % n
    key = (pos << 32) | rng.integers(0, 1 << 32, len(pos), dtype=np.int64)
    order = np.argsort(key)
    pos, src = pos[order], src[order]
    start = np.searchsorted(pos, np.arange(m + 1))
    # audiences that a later successor draws from (prefix up to its end)
    idx_s = np.flatnonzero(source[r])
    g_s = r[idx_s]
    k_s = np.maximum(c.followers_at(g_s, c.end[g_s]), 0).astype(np.int64)
    for i, g, k in zip(idx_s.tolist(), g_s.tolist(), k_s.tolist(), strict=True):
        seg = src[start[i] : start[i + 1]]
        aud.generated[g] = seg[: min(k, len(seg))].astype(np.int32)
    # -- the collected lists of crawled accounts in this chunk --
    e_idx = _ranges(ev_start[r], ev_start[r + 1] - ev_start[r])
    if not len(e_idx):
        return
    eg, et = ev_g[e_idx], ev_t[e_idx]
    loc = np.searchsorted(r, eg)
    n_at = np.maximum(c.followers_at(eg, et), 0).astype(np.int64)
    seq_len = start[loc + 1] - start[loc]
    take = np.minimum(n_at, seq_len)
    e_of = np.repeat(np.arange(len(eg)), take)
    f = src[_ranges(start[loc], take)]
    t_of = et[e_of]
    alive = (c.created[f] <= t_of) & (c.end[f] > t_of)
    e_of, f = e_of[alive], f[alive]
    n_true = np.bincount(e_of, minlength=len(eg))
    stopped = rng.random(len(eg)) < o.p_incomplete
    frac = rng.uniform(0.05, 0.95, len(eg))
    n_keep = np.where(stopped, np.floor(frac * n_true), n_true).astype(np.int64)
    capped = n_true > o.crawl_cap
    n_keep = np.minimum(n_keep, o.crawl_cap)
    complete = ~(stopped | capped)
    # most recent followers first: keep the last n_keep entries of each list
    from_end = np.repeat(np.cumsum(n_true), n_true) - np.arange(len(e_of)) - 1
    sel = from_end < n_keep[e_of]
    e_of, f = e_of[sel], f[sel]
    np.minimum.at(world.list_t, f, et[e_of])
    world.listed[eg] = True
    _write(world, eg, et, complete, n_true, e_of, f)
    st = world.stats["recrawl"]
    st["lists"] += len(eg)
    st["edges"] += len(f)
    st["incomplete"] += int((~complete).sum())
    st.setdefault("capped", 0)
    st["capped"] += int(capped.sum())


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + k)`` for each start ``s`` and count ``k``."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    off = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + off


def _write(
    world: _World,
    eg: np.ndarray,
    et: np.ndarray,
    complete: np.ndarray,
    n_true: np.ndarray,
    e_of: np.ndarray,
    f: np.ndarray,
) -> None:
    from measure.simulate._simulate import _ts, append_lists

    ts = _ts(et, world.cal.origin_us)
    append_lists(
        world, world.recrawl_rows, eg, RECRAWL_LEVEL, ts, complete, n_true, f, e_of
    )
