"""Recovery of simulated truth: capture–recapture on the simulator's own output.

The simulator draws detections as ``logit p_ik = catch_base + offset_k +
catch_prominence_slope * prominence_i + eta_i``, ``eta_i ~ N(0, sd)`` over the
supporter accounts alive at the census (``truth.json`` counts.capture_population):
catchability is heterogeneous by default (``Capture.catch_heterogeneity_sd`` > 0
and the prominence slope), so models assuming equal catchability underestimate.

The calibration run simulates every world in full (``simulate``, ``small`` preset
at scale 1, one seed per world): nothing is redrawn or shared between worlds.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import measure
from measure.capture import analyze

#: One world: the chosen estimate must be within 50% of the truth (a loose check
#: of the pipeline; coverage is what the calibration run measures).
ONE_WORLD_REL_TOL = 0.5
#: Target: the chosen model's interval covers the truth in >= 85% of
#: worlds with heterogeneous catchability.
MIN_COVERAGE = 0.85
#: Independently simulated worlds (override with CAPTURE_CAL_WORLDS for a quick
#: look; the acceptance run uses 200).
N_WORLDS = int(os.environ.get("CAPTURE_CAL_WORLDS", "200"))
#: Seeds of the calibration worlds (disjoint from the default-run world, seed 1).
FIRST_SEED = 7000
#: Scale of the ``small`` preset: the full preset (~1,600 supporters alive at the
#: census, ~800 detected by 4 sources) takes about 1 s per world to simulate.
SCALE = 1.0


def test_small_world_recovery(small_world: Path, small_truth: Any) -> None:
    """Default run on the simulator's output (small preset, seed 1)."""
    res = analyze(measure.open(small_world))
    truth_n = small_truth.capture_population
    cap = small_truth.json["config"]["capture"]
    assert cap["catch_heterogeneity_sd"] > 0
    assert res.n_observed <= truth_n
    assert len(res.sources) == cap["n_sources"]
    assert abs(res.estimate.estimate / truth_n - 1) < ONE_WORLD_REL_TOL
    # Chao's lower bound sits below the chosen estimate under heterogeneity
    assert res.lower_bounds["chao_lower_bound"].estimate < res.estimate.estimate


def _world_rows(w: int, truth_n: int, res: Any) -> list[dict[str, Any]]:
    ests = [(m.name, m.estimate) for m in res.models]
    ests += list(res.lower_bounds.items())
    ests.append(("CHOSEN", res.estimate))
    return [
        {
            "world": w,
            "model": name,
            "truth": truth_n,
            "n_observed": res.n_observed,
            "chosen": res.model if name == "CHOSEN" else None,
            "est": e.estimate,
            "lo": e.ci[0],
            "hi": e.ci[1],
        }
        for name, e in ests
    ]


def summarise(df: pl.DataFrame) -> pl.DataFrame:
    """Per model: worlds, no-MLE count, mean relative bias, coverage, mean widths."""
    df = df.with_columns(
        cover=(pl.col("lo") <= pl.col("truth")) & (pl.col("hi") >= pl.col("truth")),
        rel=pl.col("est") / pl.col("truth") - 1,
        width=pl.col("hi") - pl.col("lo"),
    )
    ok = pl.col("rel").is_not_nan()
    return (
        df.group_by("model")
        .agg(
            pl.len().alias("worlds"),
            pl.col("est").is_nan().sum().alias("no_mle"),
            pl.col("rel").filter(ok).mean().alias("rel_bias"),
            (pl.col("est") - pl.col("truth")).filter(ok).mean().alias("bias"),
            pl.col("cover").mean().alias("coverage"),
            pl.col("width").filter(ok).mean().alias("mean_width"),
            (pl.col("width") / pl.col("truth")).filter(ok).mean().alias("rel_width"),
        )
        .sort("model")
    )


@pytest.mark.calibration
def test_coverage_over_simulated_worlds(tmp_path: Path) -> None:
    """200 independently simulated ``small`` worlds (heterogeneous catchability):
    the chosen model's interval covers ``capture_population`` in >= 85% of them.
    Prints, per model, bias, coverage and mean interval width."""
    from measure.simulate import SimConfig, load_truth, simulate

    cfg = SimConfig.preset("small", scale=SCALE)
    assert cfg.capture.catch_heterogeneity_sd > 0
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for w in range(N_WORLDS):
        path = simulate(cfg, FIRST_SEED + w, tmp_path / f"w{w}")
        truth_n = load_truth(path).capture_population
        ds = measure.open(path, validate="none")
        rows += _world_rows(w, truth_n, analyze(ds))
        ds.close()
        shutil.rmtree(path)
    secs = time.perf_counter() - t0
    df = pl.DataFrame(rows, infer_schema_length=None)
    table = summarise(df)
    chosen = df.filter(pl.col("model") == "CHOSEN")
    with pl.Config(tbl_rows=40, tbl_cols=-1, tbl_width_chars=200, float_precision=3):
        print(
            f"\ncapture-recapture over {N_WORLDS} simulated worlds (small preset, "
            f"scale {SCALE}, seeds {FIRST_SEED}..{FIRST_SEED + N_WORLDS - 1}) in "
            f"{secs:.0f} s; mean N = {chosen['truth'].mean():.0f}, mean n observed "
            f"= {chosen['n_observed'].mean():.0f}"
        )
        print(table)
        print(chosen["chosen"].value_counts().sort("chosen"))
    cov = table.filter(pl.col("model") == "CHOSEN")["coverage"][0]
    assert np.isfinite(cov) and cov >= MIN_COVERAGE
