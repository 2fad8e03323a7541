"""Stratified hand coding of frame accounts (the ``labels`` table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from measure.simulate._simulate import _const, _ts, o_days

if TYPE_CHECKING:
    from measure.simulate._simulate import _World


def label(world: _World) -> None:
    """Draw the coding sample and its labels (``world.labels``, ``world.coded``)."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    cod = cfg.coding
    rng = world.rng["coding"]
    frame = np.flatnonzero(world.level >= 0)
    lvl = world.level[frame].astype(np.int64)
    metric = np.where(lvl <= 1, world.in_core_fol[frame], world.in_friends[frame])
    cuts = np.asarray(cod.band_cuts)
    band = np.searchsorted(cuts, metric, side="right")
    names = []
    lo = 0
    for cut in cuts:
        names.append(f"{lo}" if cut - 1 == lo else f"{lo}-{cut - 1}")
        lo = cut
    names.append(f"{lo}+")
    stratum = lvl * (len(cuts) + 1) + band
    u = rng.random(len(frame))
    order = np.lexsort((u, stratum))
    s_sorted = stratum[order]
    first = np.searchsorted(s_sorted, s_sorted, side="left")
    rank = np.arange(len(order)) - first
    n_h_all = np.bincount(stratum, minlength=3 * (len(cuts) + 1))
    n_take = np.minimum(n_h_all, cod.n_per_stratum)
    chosen = order[rank < n_take[s_sorted]]
    chosen = np.sort(chosen)
    g = frame[chosen]
    st = stratum[chosen]
    incl = n_take[st] / n_h_all[st]
    sname = np.asarray(
        [
            f"L{s // (len(cuts) + 1)}:{names[s % (len(cuts) + 1)]}"
            for s in range(3 * (len(cuts) + 1))
        ],
        dtype=object,
    )[st]
    truth_sup = g < c.n_s
    world.frame_metric = np.zeros(c.n, dtype=np.int32)
    world.frame_metric[frame] = metric
    world.stratum_sizes = {
        str(k): int(v)
        for k, v in zip(
            [
                f"L{s // (len(cuts) + 1)}:{names[s % (len(cuts) + 1)]}"
                for s in range(len(n_h_all))
            ],
            n_h_all,
            strict=True,
        )
        if v
    }

    def code(n: int) -> np.ndarray:
        unclear = rng.random(n) < cod.p_unclear
        correct = rng.random(n) < np.where(truth_sup, cod.sensitivity, cod.specificity)
        lab = np.where(truth_sup == correct, "supporter", "non_supporter")
        return np.where(unclear, "unclear", lab).astype(object)

    lab_a = code(len(g))
    double = rng.random(len(g)) < cod.double_coded_share
    lab_b = code(len(g))
    t_a = cal.census + o_days(cfg) + rng.uniform(0, 30, len(g))
    t_b = t_a + rng.uniform(0, 7, len(g))
    a = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[g], dtype=pl.Int64),
            "label": pl.Series(lab_a, dtype=pl.String),
            "coder": _const("coder_a", len(g)),
            "coded_at": _ts(t_a, cal.origin_us),
            "sample": pl.Series(sname, dtype=pl.String),
            "inclusion_prob": pl.Series(incl, dtype=pl.Float64),
        }
    )
    b = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[g[double]], dtype=pl.Int64),
            "label": pl.Series(lab_b[double], dtype=pl.String),
            "coder": _const("coder_b", int(double.sum())),
            "coded_at": _ts(t_b[double], cal.origin_us),
            "sample": pl.Series(sname[double], dtype=pl.String),
            "inclusion_prob": pl.Series(incl[double], dtype=pl.Float64),
        }
    )
    world.labels = pl.concat([a, b]).sort("account_id", "coder")
    world.coded = g
