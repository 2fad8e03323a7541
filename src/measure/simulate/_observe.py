"""Discovery after the census and periodic status look-ups (``observations``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from measure.simulate._simulate import _choice, _nullable, _ts
from measure.simulate._world import growth

if TYPE_CHECKING:
    from measure.simulate._simulate import _World


def discover(world: _World) -> None:
    """Draw post-census discovery times (``world.disc_t``)."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    o = cfg.observation
    rng = world.rng["discover"]
    world.disc_t = np.full(c.n, np.nan)
    ns = c.n_s
    sup_start = np.maximum(c.created[:ns], cal.census)
    sup_stop = np.minimum(c.end[:ns], cal.end)
    p = np.where(c.sup.inc > 1, o.p_discover_return, o.p_discover_new)
    t = sup_start + rng.exponential(o.discover_delay_mean_days, ns)
    u = rng.random(ns)
    ok = (world.level[:ns] < 0) & (sup_stop > sup_start) & (u < p) & (t < sup_stop)
    world.disc_t[:ns][ok] = t[ok]
    n_bg = int(round(o.recrawl_background_per_supporter * ok.sum()))
    bstart = np.maximum(c.created[ns:], cal.census)
    bstop = np.minimum(c.end[ns:], cal.end)
    cand = np.flatnonzero((world.level[ns:] < 0) & (bstop > bstart))
    if n_bg and len(cand):
        pick = np.sort(rng.choice(cand, size=min(n_bg, len(cand)), replace=False))
        tb = bstart[pick] + rng.random(len(pick)) * (bstop[pick] - bstart[pick])
        world.disc_t[ns + pick] = tb
    world.stats["discovered_supporters"] = int(ok.sum())


def observations(world: _World) -> None:
    """Write ``observations``: every ``lookup_interval_days`` from first sight."""
    cfg, cal = world.cfg, world.cal
    step = cfg.observation.lookup_interval_days
    n_w = int(math.floor((cal.end - cal.census) / step)) + 1
    per = max(1, cfg.output.truth_chunk_rows // n_w)
    g_all, nm_all = world.obs_accounts, world.obs_names
    world.last_active = np.full(world.ctx.n, -np.inf)
    world.first_suspended = np.full(world.ctx.n, np.inf)
    world.data_end = cal.census + (n_w - 1) * step
    world.last_lookup = -np.inf  # the last look-up actually in `observations`
    many = len(g_all) > per
    world.observations_rows = 0
    for a in range(0, max(len(g_all), 1), per):
        df = lookups(world, g_all[a : a + per], nm_all[a : a + per], n_w, step)
        world.observations_rows += df.height
        if many:
            world.w.append("observations", df)
        else:
            world.w.write_table("observations", df)


def lookups(
    world: _World, g: np.ndarray, nm: pl.Series, n_w: int, step: float
) -> pl.DataFrame:
    cfg, cal, c = world.cfg, world.cal, world.ctx
    fs = world.first_seen[g]
    w0 = np.ceil((fs - cal.census) / step - 1e-9).astype(np.int64)
    w0 = np.clip(w0, 0, n_w)
    cnt = n_w - w0
    row_acc = np.repeat(np.arange(len(g)), cnt)
    starts = np.cumsum(cnt) - cnt
    wk = w0[row_acc] + (np.arange(len(row_acc)) - starts[row_acc])
    t = cal.census + wk * step
    gg = g[row_acc]
    is_s = gg < c.n_s
    si = np.minimum(gg, max(c.n_s - 1, 0))
    bi = np.maximum(gg - c.n_s, 0)
    if len(gg):
        susp = np.where(is_s, c.sup.susp[si], c.bg.susp[bi])
        dele = np.where(is_s, c.sup.dele[si], c.bg.dele[bi])
        fr0 = np.where(is_s, c.sup.friends[si], c.bg.friends[bi])
        rate = np.where(is_s, c.sup.status_rate[si], c.bg.status_rate[bi])
    else:
        susp = dele = fr0 = rate = np.empty(0)
    active = (t >= c.created[gg]) & (t < np.minimum(susp, dele))
    code = np.where(active, 0, np.where(susp <= dele, 1, 2))
    age = t - c.created[gg]
    fol = c.followers_at(gg, t)
    gsn = growth(age, cfg.network.growth_days)
    fr = np.where(is_s, fr0 * gsn, fr0)
    stc = rate * np.maximum(age, 0)
    np.maximum.at(world.last_active, gg[code == 0], t[code == 0])
    if len(t):
        world.last_lookup = max(world.last_lookup, float(t.max()))
    np.minimum.at(world.first_suspended, gg[code == 1], t[code == 1])
    return pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[gg], dtype=pl.Int64),
            "observed_at": _ts(t, cal.origin_us),
            "status": _choice(("active", "suspended", "not_found"), code),
            "followers_count": _nullable(fol, active, pl.Int64),
            "friends_count": _nullable(np.round(fr), active, pl.Int64),
            "statuses_count": _nullable(np.round(stc), active, pl.Int64),
            "screen_name": nm.gather(row_acc) if len(row_acc) else nm.clear(),
        }
    ).sort("account_id", "observed_at")
