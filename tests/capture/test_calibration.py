"""Recovery of simulated truth: one real simulator world, and many in-memory worlds.

The simulator draws detections as ``logit p_ik = catch_base + offset_k +
catch_prominence_slope * prominence_i + eta_i``, ``eta_i ~ N(0, sd)`` over the
supporter accounts alive at the census (``truth.json`` counts.capture_population).
Running the whole simulator 200 times is too slow for the calibration budget, so the
many-world run redraws only the detections from that same rule, with the
prominence of the simulated world's alive supporters (resampled) and its capture
parameters from ``truth.json``; the default run checks, on the simulator's own
output, that this redraw matches it (share of the population detected).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import measure
from measure.capture import analyze, analyze_counts

#: One world: the chosen estimate must be within 50% of the truth (a loose check
#: of the pipeline; coverage is what the calibration run measures).
ONE_WORLD_REL_TOL = 0.5
#: The in-memory redraw and the simulator must detect the same share of the
#: population up to sampling noise (n ~ 800 of 1,600: s.d. of the share ~ 0.013).
SHARE_TOL = 0.04
#: Acceptance (issue 4): the chosen model's interval covers the truth in >= 85% of
#: worlds with heterogeneous catchability.
MIN_COVERAGE = 0.85
N_WORLDS = 200


def _alive_prominence(truth: Any) -> np.ndarray:
    acc = truth.accounts
    cen = pl.lit(truth.json["census_date"]).str.to_datetime(time_zone="UTC")
    alive = acc.filter(
        pl.col("is_supporter")
        & (pl.col("created_at") <= cen)
        & (pl.col("end_at").is_null() | (pl.col("end_at") > cen))
    )
    return alive["prominence"].to_numpy()


def _draw(
    rng: np.random.Generator, prom_pool: np.ndarray, n: int, cap: dict[str, Any]
) -> np.ndarray:
    """Pattern counts (mask order) of one in-memory detection draw."""
    k = int(cap["n_sources"])
    offs = np.linspace(-0.5, 0.5, k) * cap["source_spread"] * 2
    prom = rng.choice(prom_pool, n)
    eta = rng.normal(0.0, cap["catch_heterogeneity_sd"], n)
    lin = (
        cap["catch_base"]
        + offs[None, :]
        + cap["catch_prominence_slope"] * prom[:, None]
        + eta[:, None]
    )
    hit = rng.random(lin.shape) < 1.0 / (1.0 + np.exp(-lin))
    mask = (hit * (1 << np.arange(k))).sum(axis=1)
    return np.bincount(mask, minlength=2**k)[1:].astype(float)


def test_small_world_recovery(small_world: Path, small_truth: Any) -> None:
    """Default run on the simulator's output (small preset, seed 1)."""
    res = analyze(measure.open(small_world))
    truth_n = small_truth.capture_population
    prom = _alive_prominence(small_truth)
    assert len(prom) == truth_n
    assert res.n_observed <= truth_n
    assert len(res.sources) == small_truth.json["config"]["capture"]["n_sources"]
    assert abs(res.estimate.estimate / truth_n - 1) < ONE_WORLD_REL_TOL
    # Chao's lower bound sits below the chosen estimate under heterogeneity
    assert res.lower_bounds["chao_lower_bound"].estimate < res.estimate.estimate
    # the in-memory redraw used by the calibration run detects the same share
    cap = small_truth.json["config"]["capture"]
    rng = np.random.default_rng(0)
    shares = [_draw(rng, prom, truth_n, cap).sum() / truth_n for _ in range(20)]
    assert res.n_observed / truth_n == pytest.approx(np.mean(shares), abs=SHARE_TOL)


@pytest.mark.calibration
def test_coverage_heterogeneous_catchability(
    small_world: Path, small_truth: Any
) -> None:
    """200 worlds: population size uniform on 0.5-1.5 x the small world's, catch
    probabilities heterogeneous (prominence and a normal frailty, as the
    simulator). Prints coverage, bias and median width of every model."""
    prom = _alive_prominence(small_truth)
    cap = small_truth.json["config"]["capture"]
    base_n = small_truth.capture_population
    rng = np.random.default_rng(20141101)
    rows = []
    for w in range(N_WORLDS):
        n = int(round(base_n * rng.uniform(0.5, 1.5)))
        y = _draw(rng, prom, n, cap)
        res = analyze_counts(y, [f"s{j}" for j in range(len(y).bit_length())])
        ests = [(m.name, m.estimate) for m in res.models]
        ests += list(res.lower_bounds.items())
        ests.append(("CHOSEN", res.estimate))
        for name, e in ests:
            rows.append(
                {
                    "world": w,
                    "model": name,
                    "truth": n,
                    "chosen": res.model if name == "CHOSEN" else None,
                    "est": e.estimate,
                    "lo": e.ci[0],
                    "hi": e.ci[1],
                }
            )
    df = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        cover=(pl.col("lo") <= pl.col("truth")) & (pl.col("hi") >= pl.col("truth")),
        rel=pl.col("est") / pl.col("truth") - 1,
    )
    table = (
        df.group_by("model")
        .agg(
            pl.len().alias("worlds"),
            pl.col("est").is_nan().sum().alias("no_mle"),
            pl.col("rel").filter(pl.col("rel").is_not_nan()).mean().alias("rel_bias"),
            pl.col("cover").mean().alias("coverage"),
            ((pl.col("hi") - pl.col("lo")) / pl.col("truth"))
            .median()
            .alias("rel_width"),
        )
        .sort("model")
    )
    with pl.Config(tbl_rows=40, tbl_cols=10, float_precision=3):
        print("\ncapture-recapture recovery over", N_WORLDS, "worlds")
        print(table)
        print(df.filter(pl.col("model") == "CHOSEN")["chosen"].value_counts())
    chosen = table.filter(pl.col("model") == "CHOSEN")
    assert chosen["coverage"][0] >= MIN_COVERAGE


#: Real simulator worlds (seeds 2..9; seed 1 is the default-run world): about
#: 12 s each here, so only a few. With coverage near the 94% of the in-memory run,
#: 6 or more of 8 covered has probability ~0.98; below that the redraw and the
#: simulator disagree.
REAL_SEEDS = tuple(range(2, 10))
MIN_REAL_COVERED = 6


@pytest.mark.calibration
def test_coverage_on_real_simulator_worlds(small_world_factory: Any) -> None:
    """The chosen model's interval on the simulator's own output, a few worlds."""
    from measure.simulate import load_truth

    covered = 0
    for seed in REAL_SEEDS:
        path = small_world_factory(seed)
        truth_n = load_truth(path).capture_population
        res = analyze(measure.open(path))
        lo, hi = res.estimate.ci
        covered += lo <= truth_n <= hi
        print(
            f"seed {seed}: N = {truth_n}, n = {res.n_observed}, {res.model} "
            f"{res.estimate.estimate:.0f} [{lo:.0f}, {hi:.0f}]"
        )
    print(f"covered {covered} of {len(REAL_SEEDS)} real simulator worlds")
    assert covered >= MIN_REAL_COVERED
