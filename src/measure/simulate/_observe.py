"""Discovery after the census and periodic status look-ups (``observations``).

Stress mechanisms of the observation stage (``Observation``):

* ``discover_prominence_slope``: the logit of a supporter account's post-census
  discovery probability gets ``+ slope * prominence``;
* ``lookup_skip_share`` and ``lookup_informative``: each scheduled look-up is kept
  with probability ``expit(logit(1 - skip) + informative * prominence)``, except
  an account's first look-up, which is always kept (background accounts use the
  prominence proxy of ``truth/accounts``);
* ``lookup_jitter_days``: a look-up happens ``U(0, jitter)`` days after its
  scheduled time, never after the window end;
* renames (``Resurrection.p_rename``): a look-up shows the handle at its time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from measure.simulate._simulate import _choice, _nullable, _ts
from measure.simulate._world import background_prominence, growth

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
    if o.discover_prominence_slope != 0.0:
        p = _expit(_logit(p) + o.discover_prominence_slope * c.sup.prom)
    t = sup_start + rng.exponential(o.discover_delay_mean_days, ns)
    u = rng.random(ns)
    ok = (world.level[:ns] < 0) & (sup_stop > sup_start) & (u < p) & (t < sup_stop)
    world.disc_t[:ns][ok] = t[ok]
    if o.discover_prominence_slope != 0.0:
        elig = (world.level[:ns] < 0) & (sup_stop > sup_start)
        _observe_truth(world)["discovery"] = _discovery_facts(
            c.sup.prom, elig, ok, o.discover_prominence_slope
        )
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
    """Write ``observations``: every ``lookup_interval_days`` from first sight.

    Also fills the bookkeeping the truth needs from the realised look-ups:
    ``world.last_active``, ``world.first_suspended``, ``world.last_lookup`` and
    ``world.data_end``.
    """
    cfg, cal = world.cfg, world.cal
    o = cfg.observation
    step = o.lookup_interval_days
    n_w = int(math.floor((cal.end - cal.census) / step)) + 1
    per = max(1, cfg.output.truth_chunk_rows // n_w)
    g_all, nm_all = world.obs_accounts, world.obs_names
    n = world.ctx.n
    world.last_active = np.full(n, -np.inf)
    world.first_suspended = np.full(n, np.inf)
    world.data_end = cal.census + (n_w - 1) * step
    world.last_lookup = -np.inf  # the last look-up actually in `observations`
    irregular = (
        o.lookup_skip_share != 0.0
        or o.lookup_jitter_days != 0.0
        or o.lookup_informative != 0.0
    )
    if irregular:
        r_skip, r_jit = world.rng["stress_observe"].spawn(2)
        world.lookup_state = {
            "skip": r_skip,
            "jitter": r_jit,
            "scheduled": 0,
            "count": np.zeros(n, dtype=np.int32),
        }
    after = getattr(world, "obs_after", None) if world.accounts_pending else None
    if after is not None:
        world.look_first = np.full(n, np.inf)
        world.look_last = np.full(n, -np.inf)
    many = len(g_all) > per
    world.observations_rows = 0
    for a in range(0, max(len(g_all), 1), per):
        df = lookups(
            world,
            g_all[a : a + per],
            nm_all[a : a + per],
            n_w,
            step,
            None if after is None else after[a : a + per],
        )
        world.observations_rows += df.height
        if many:
            world.w.append("observations", df)
        else:
            world.w.write_table("observations", df)
    if irregular:
        if np.isfinite(world.last_lookup):
            world.data_end = world.last_lookup
        _observe_truth(world)["lookups"] = _lookup_facts(world, g_all)


def lookups(
    world: _World,
    g: np.ndarray,
    nm: pl.Series,
    n_w: int,
    step: float,
    after: pl.Series | None = None,
) -> pl.DataFrame:
    """Look-ups of accounts ``g`` (handles ``nm``; ``after`` a rename, if any)."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    o = cfg.observation
    fs = world.first_seen[g]
    w0 = np.ceil((fs - cal.census) / step - 1e-9).astype(np.int64)
    w0 = np.clip(w0, 0, n_w)
    cnt = n_w - w0
    row_acc = np.repeat(np.arange(len(g)), cnt)
    starts = np.cumsum(cnt) - cnt
    wk = w0[row_acc] + (np.arange(len(row_acc)) - starts[row_acc])
    t = cal.census + wk * step
    if hasattr(world, "lookup_state"):
        row_acc, t = _irregular(world, g, row_acc, t, starts[cnt > 0])
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
    names = nm.gather(row_acc) if len(row_acc) else nm.clear()
    if after is not None and world.ident is not None:
        assert world.ident.renamed_at is not None
        np.minimum.at(world.look_first, gg, t)
        np.maximum.at(world.look_last, gg, t)
        if len(row_acc):
            renamed = pl.Series(t >= world.ident.renamed_at[gg])
            names = after.gather(row_acc).zip_with(renamed, names)
    df = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[gg], dtype=pl.Int64),
            "observed_at": _ts(t, cal.origin_us),
            "status": _choice(("active", "suspended", "not_found"), code),
            "followers_count": _nullable(fol, active, pl.Int64),
            "friends_count": _nullable(np.round(fr), active, pl.Int64),
            "statuses_count": _nullable(np.round(stc), active, pl.Int64),
            "screen_name": names,
        }
    ).sort("account_id", "observed_at")
    if o.lookup_jitter_days >= step:
        # look-ups pushed to the window end may coincide
        df = df.unique(["account_id", "observed_at"], keep="first", maintain_order=True)
    return df


def _irregular(
    world: _World,
    g: np.ndarray,
    row_acc: np.ndarray,
    t: np.ndarray,
    first_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Skip and delay scheduled look-ups (rows ``row_acc`` at times ``t``).

    Skips and delays come from streams of their own, drawn for every scheduled
    look-up, so switching one on leaves the other's draws unchanged.
    """
    o, cal = world.cfg.observation, world.cal
    st = world.lookup_state
    n = len(t)
    st["scheduled"] += n
    keep = np.ones(n, dtype=bool)
    if o.lookup_skip_share != 0.0:
        lin = _logit(np.full(n, 1.0 - o.lookup_skip_share))
        if o.lookup_informative != 0.0:
            lin = lin + o.lookup_informative * prominence(world, g)[row_acc]
        keep = st["skip"].random(n) < _expit(lin)
        keep[first_rows] = True  # an account's first look-up always happens
    if o.lookup_jitter_days != 0.0:
        delay = st["jitter"].uniform(0.0, o.lookup_jitter_days, n)
        t = np.minimum(t + delay, cal.end)
    row_acc, t = row_acc[keep], t[keep]
    np.add.at(st["count"], g[row_acc], 1)
    return row_acc, t


def prominence(world: _World, g: np.ndarray) -> np.ndarray:
    """Prominence of global accounts ``g``, as in ``truth/accounts``.

    Supporters: their standard-normal score; background accounts: the proxy
    ``(log followers - log background_followers_median) /
    background_followers_sigma``.
    """
    c, net = world.ctx, world.cfg.network
    s = g < c.n_s
    out = np.empty(len(g), dtype=np.float64)
    out[s] = c.sup.prom[g[s]]
    out[~s] = background_prominence(c.bg.followers[g[~s] - c.n_s], net)
    return out


def last_seen_handles(world: _World) -> pl.DataFrame:
    """``account_id, screen_name`` of renamed accounts in the data, as last seen.

    The last sight of an account is its last look-up, or its first sight when it
    has none; the handle then is the new one when the rename came first.
    """
    ident, c = world.ident, world.ctx
    assert ident is not None and ident.renamed_at is not None
    assert ident.after is not None
    g = world.known_all[np.isfinite(ident.renamed_at[world.known_all])]
    last = np.maximum(world.first_seen[g], world.look_last[g])
    g = g[last >= ident.renamed_at[g]]
    return pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[g], dtype=pl.Int64),
            "screen_name": pl.Series(ident.after[g], dtype=pl.String),
        }
    )


def _observe_truth(world: _World) -> dict[str, Any]:
    return world.extra_truth.setdefault("observe", {})


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _terciles(x: np.ndarray) -> np.ndarray:
    """Tercile (0, 1, 2) of each value of ``x`` within ``x``."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    cuts = np.quantile(x, [1 / 3, 2 / 3])
    return np.searchsorted(cuts, x, side="right")


def _discovery_facts(
    prom: np.ndarray, elig: np.ndarray, found: np.ndarray, slope: float
) -> dict[str, Any]:
    """Discovery share of eligible supporter accounts by prominence tercile."""
    x, f = prom[elig], found[elig]
    ter = _terciles(x)
    n = np.bincount(ter, minlength=3)
    k = np.bincount(ter, weights=f, minlength=3)
    return {
        "prominence_slope": float(slope),
        "population": "supporter accounts outside the census frame alive after the "
        "census in the window",
        "n_eligible": int(elig.sum()),
        "n_discovered": int(f.sum()),
        "eligible_by_prominence_tercile": [int(v) for v in n],
        "discovered_share_by_prominence_tercile": [
            float(k[i] / n[i]) if n[i] else None for i in range(3)
        ],
        "mean_prominence_discovered": float(x[f].mean()) if f.any() else None,
        "mean_prominence_not_discovered": float(x[~f].mean()) if (~f).any() else None,
    }


def _lookup_facts(world: _World, g: np.ndarray) -> dict[str, Any]:
    """Realised look-ups: counts per account, skipped share, by prominence."""
    o = world.cfg.observation
    st = world.lookup_state
    cnt = st["count"][g].astype(np.float64)
    sched = int(st["scheduled"])
    real = int(cnt.sum())
    ter = _terciles(prominence(world, g))
    by = [float(cnt[ter == i].mean()) if (ter == i).any() else None for i in range(3)]
    q = np.quantile(cnt, [0.1, 0.5, 0.9]) if len(cnt) else [np.nan] * 3
    return {
        "skip_share": o.lookup_skip_share,
        "informative": o.lookup_informative,
        "jitter_days": o.lookup_jitter_days,
        "first_lookup_always_kept": True,
        "n_accounts_looked_up": int(len(g)),
        "n_scheduled": sched,
        "n_realised": real,
        "skipped_share": float(1.0 - real / sched) if sched else None,
        "lookups_per_account": {
            "mean": float(cnt.mean()) if len(cnt) else None,
            "p10": float(q[0]),
            "median": float(q[1]),
            "p90": float(q[2]),
            "max": int(cnt.max()) if len(cnt) else None,
        },
        "mean_lookups_by_prominence_tercile": by,
    }
