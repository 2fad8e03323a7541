"""Capture-recapture sources: which supporter accounts each list detects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from measure.simulate._simulate import SOURCE_NAMES, _choice, _ts

if TYPE_CHECKING:
    from measure.simulate._simulate import _World


def detect(world: _World) -> None:
    """Draw the ``detections`` table (``world.detections``, ``world.detected``)."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    cap = cfg.capture
    rng = world.rng["capture"]
    pop = world.alive_sup
    k = cap.n_sources
    offs = np.linspace(-0.5, 0.5, k) * cap.source_spread * 2 if k > 1 else [0.0]
    eta = rng.normal(0.0, cap.catch_heterogeneity_sd, len(pop))
    lin = (
        cap.catch_base
        + np.asarray(offs)[None, :]
        + cap.catch_prominence_slope * c.sup.prom[pop][:, None]
        + eta[:, None]
    )
    p = 1.0 / (1.0 + np.exp(-lin))
    hit = rng.random(p.shape) < p
    names = [
        SOURCE_NAMES[i] if i < len(SOURCE_NAMES) else f"source_{i + 1}"
        for i in range(k)
    ]
    rows, cols = np.nonzero(hit)
    world.detected = np.zeros(c.n, dtype=bool)
    # first sight of a detected account (its first_seen): the census day
    world.detected_first_t = np.full(c.n, cal.census)
    world.detected[pop[rows]] = True
    det_t = cal.census + rng.uniform(0.0, 1.0, len(rows))
    world.detections = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[pop[rows]], dtype=pl.Int64),
            "source": _choice(tuple(names), cols),
            "detected_at": _ts(det_t, cal.origin_us),
        }
    ).sort("source", "account_id")
    world.stats["catch_probability_mean"] = {
        n: float(p[:, i].mean()) if len(pop) else None for i, n in enumerate(names)
    }
