"""The calibration protocol: seeds, scores and the report."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from measure.simulate import calibrate as cal


def test_the_test_suite_cannot_simulate_a_reporting_world() -> None:
    seed = cal.reporting_seeds("stress", 1)[0]
    assert cal.is_reporting_seed("stress", seed)
    assert not cal.is_reporting_seed("stress", cal.tuning_seeds("stress", 1)[0])
    with pytest.raises(ValueError, match="reporting seed"):
        cal.run_world("stress", seed)


def test_reporting_seeds_never_overlap_the_tuning_seeds() -> None:
    for preset in ("plain", "stress"):
        seeds = cal.reporting_seeds(preset, 1000)
        assert len(set(seeds)) == 1000
        assert not set(seeds) & set(cal.TUNING_SEEDS[preset])
        assert set(cal.tuning_seeds(preset, 1000)) <= set(cal.TUNING_SEEDS[preset])
        nxt = cal.reporting_seeds(preset, 1000, block=cal.CURRENT_BLOCK + 1)
        assert not set(seeds) & set(nxt)
    assert not set(cal.reporting_seeds("plain", 100)) & set(
        cal.reporting_seeds("stress", 100)
    )
    with pytest.raises(ValueError, match="at most"):
        cal.reporting_seeds("plain", cal.BLOCK + 1)


def test_interval_score_matches_gneiting_raftery() -> None:
    lo, hi = np.array([1.0, 1.0, 1.0]), np.array([3.0, 3.0, 3.0])
    x = np.array([2.0, 0.5, 4.0])
    # inside: the width; below: width + 2/alpha * (lo - x); above likewise
    assert cal.interval_score(lo, hi, x, level=0.95).tolist() == pytest.approx(
        [2.0, 2.0 + 40 * 0.5, 2.0 + 40 * 1.0]
    )
    assert cal.interval_score(lo, hi, x, level=0.8)[2] == pytest.approx(2 + 10 * 1.0)


def _recs(rows: list[tuple]) -> pl.DataFrame:
    cols = ("preset", "seed", "family", "estimator", "estimand", "unit", "truth",
            "estimate", "lo", "hi", "reason", "error", "target")
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                        infer_schema_length=None)


def test_summary_scores_counts_relative_to_the_truth_and_failures_as_misses() -> None:
    nan = math.nan
    recs = _recs([
        ("plain", 1, "capture", "headline", "N", "count", 100.0, 110.0, 90.0, 130.0,
         None, None, True),
        ("plain", 2, "capture", "headline", "N", "count", 200.0, 260.0, 240.0, 280.0,
         None, None, True),
        ("plain", 3, "capture", "headline", "(failed)", "count", nan, nan, nan, nan,
         None, "ValueError: boom", True),
        ("plain", 1, "churn", "headline", "S", "share", 0.5, 0.45, 0.40, 0.55, None,
         None, True),
        ("plain", 2, "churn", "headline", "S", "share", 0.5, nan, nan, nan,
         "does not apply", None, True),
        ("plain", 3, "churn", "headline", "S", "share", nan, nan, nan, nan,
         "no truth", None, True),
    ])
    s = cal.summarise(recs)
    cap = s.filter(pl.col("family") == "capture").row(0, named=True)
    assert cap["n"] == 2 and cap["n_failed"] == 1 and cap["n_scored"] == 3
    # one of two intervals covers; the failed world counts as a miss
    assert cap["coverage"] == pytest.approx(1 / 3)
    assert cap["mc_se"] == pytest.approx(math.sqrt(1 / 3 * 2 / 3 / 3))
    assert cap["bias"] == pytest.approx((0.10 + 0.30) / 2)
    assert cap["rmse"] == pytest.approx(math.sqrt((0.01 + 0.09) / 2))
    assert cap["width"] == pytest.approx((0.4 + 0.2) / 2)
    # world 2 misses by 0.2 (relative): 0.2 + 40 * 0.2
    assert cap["interval_score"] == pytest.approx((0.4 + 0.2 + 40 * 0.2) / 2)
    ch = s.filter(pl.col("family") == "churn").row(0, named=True)
    assert ch["n_no_interval"] == 1 and ch["n_no_truth"] == 1
    assert ch["n_scored"] == 1 and ch["coverage"] == 1.0
    assert ch["bias"] == pytest.approx(-0.05)
    assert ch["mc_se"] == 0.0


def test_one_world_is_scored_for_every_family() -> None:
    out = cal.run_world("stress", cal.tuning_seeds("stress", 1)[0])
    recs = pl.DataFrame(out["scores"])
    assert set(recs["family"]) == set(cal.FAMILIES)
    assert recs["error"].is_null().all(), recs.filter(pl.col("error").is_not_null())
    assert out["mechanisms"]
    assert (recs["truth"].is_finite()).all()


@pytest.mark.calibration
def test_every_family_runs_on_plain_and_stress_tuning_worlds() -> None:
    """Every family's headline on tuning worlds of both presets; prints the table.

    The coverage targets of each family are asserted by that family's calibration
    tests; this one asserts that every estimator runs on every world of both
    presets and yields an interval or a stated reason, never an error.
    """
    import os

    n = int(os.environ.get("MEASURE_CAL_WORLDS", "20"))
    recs, draws = cal.run(n, ("plain", "stress"), tuning=True)
    s = cal.summarise(recs)
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200):
        print(s.select("preset", "family", "estimand", "n", "coverage", "mc_se",
                       "bias", "width", "interval_score", "n_failed"))
    assert draws.height == 2 * n
    for preset in ("plain", "stress"):
        fams = set(recs.filter(pl.col("preset") == preset)["family"])
        assert fams == set(cal.FAMILIES)
    assert recs["error"].is_null().all(), recs.filter(pl.col("error").is_not_null())


def test_cli_simulates_a_stress_world_and_lists_its_mechanisms(
    tmp_path, capsys
) -> None:
    import json

    from measure.cli import main

    rc = main(["simulate", str(tmp_path / "w"), "--seed", "4", "--preset", "stress",
               "--stress-size", "small", "--scale", "0.3", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == "stress"
    assert out["mechanisms"] == {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in cal.SimConfig.preset("stress", seed=4, size="small")
        .mechanisms_on().items()
    }
    truth = json.loads((tmp_path / "w" / "truth.json").read_text())
    assert truth["stress"]["mechanisms"] == out["mechanisms"]


def test_per_mechanism_split_flags_a_mechanism_that_breaks_an_interval() -> None:
    from measure.simulate._config import mechanisms

    rng = np.random.default_rng(0)
    n = 80
    draws = {name: np.full(n, cal._off_value(f)) for name, f in mechanisms().items()}
    draws["capture.mixture_share"] = rng.uniform(0, 0.5, n)
    draws["capture.mixture_shift"] = rng.uniform(-3.5, -1.0, n)
    mech = pl.DataFrame({"preset": ["stress"] * n, "seed": np.arange(n), **draws})
    # the interval covers only where the mixture is weak
    hit = draws["capture.mixture_share"] < 0.25
    recs = pl.DataFrame({
        "preset": ["stress"] * n, "seed": np.arange(n), "family": ["capture"] * n,
        "estimator": ["headline"] * n, "estimand": ["N"] * n, "unit": ["count"] * n,
        "truth": [100.0] * n, "estimate": [100.0] * n,
        "lo": np.where(hit, 90.0, 110.0), "hi": np.where(hit, 110.0, 120.0),
        "target": [True] * n,
    })
    m = cal.by_mechanism(recs, mech)
    row = m.filter(pl.col("mechanism") == "capture.mixture_share").row(0, named=True)
    assert row["coverage_high"] == 0.0 and row["coverage_low"] == 1.0
    assert row["notable"]
    # a helper field is split only where its parent is on, "strong" = more negative
    shift = m.filter(pl.col("mechanism") == "capture.mixture_shift").row(0, named=True)
    assert shift["n_high"] + shift["n_low"] == n
    strong = (draws["capture.mixture_shift"] < -2.25).sum()
    assert shift["n_high"] == strong
    sweep = m.filter(pl.col("mechanism") == "suspension.sweep_days").row(0, named=True)
    assert sweep["n_high"] + sweep["n_low"] == 0  # no sweeps drawn: nothing to split
    text = cal.render(cal.summarise(recs), m, n, cal.CURRENT_BLOCK, 60.0,
                      mech.with_columns(sim_seconds=pl.lit(1.0),
                                        sim_error=pl.lit(None, pl.String)))
    assert "**0.00 / 1.00**" in text


def _fake_world(preset: str, seed: int, families: tuple[str, ...] = ()) -> dict:
    return {"preset": preset, "seed": seed, "mechanisms": {}, "sim_seconds": 1.0,
            "sim_error": None,
            "scores": [{"family": f, "estimator": "headline", "estimand": "N",
                        "unit": "count", "truth": 100.0, "estimate": 100.0 + seed % 7,
                        "lo": 90.0, "hi": math.nan, "target": True,
                        "seconds": 0.5} for f in families]}


def test_a_stopped_run_resumes_from_its_shards(monkeypatch, tmp_path) -> None:
    calls: list[int] = []

    def world(preset, seed, families=()):
        calls.append(seed)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run stops after two worlds
        return _fake_world(preset, seed, tuple(families))

    monkeypatch.setattr(cal, "run_world", world)
    with pytest.raises(KeyboardInterrupt):
        cal.run(4, ("plain",), ("capture",), tuning=True, workers=1,
                shards=tmp_path)
    assert len(list(tmp_path.glob("plain-*.json"))) == 2
    calls.clear()
    recs, draws = cal.run(4, ("plain",), ("capture",), tuning=True, workers=1,
                          shards=tmp_path)
    seeds = cal.tuning_seeds("plain", 4)
    assert calls == seeds[2:]  # the two finished worlds are read, not run again
    assert sorted(draws["seed"]) == seeds
    assert sorted(recs["seed"]) == seeds
    # NaN survives the round trip through the shard files
    assert recs["hi"].is_nan().all()
    with pytest.raises(ValueError, match="other families"):
        cal.run(4, ("plain",), ("census",), tuning=True, workers=1, shards=tmp_path)


def test_report_names_each_familys_block_when_blocks_differ() -> None:
    from measure.simulate._config import mechanisms

    rows, draws = [], []
    for fam, block in (("census", 6), ("capture", 7)):
        for preset in ("plain", "stress"):
            for s in cal.reporting_seeds(preset, 3, block):
                w = _fake_world(preset, s, (fam,))
                rows += [r | {"preset": preset, "seed": s} for r in w["scores"]]
                draws.append({"preset": preset, "seed": s, "sim_seconds": 1.0,
                              "sim_error": None}
                             | {k: cal._off_value(f) for k, f in mechanisms().items()})
    recs = pl.DataFrame(rows).drop("seconds")
    mech = pl.DataFrame(draws)
    text = cal.render(cal.summarise(recs), cal.by_mechanism(recs, mech), 3, 7, 1.0,
                      mech, family_blocks={"census": 6, "capture": 7})
    line = next(x for x in text.splitlines() if x.startswith("* **Seeds.**"))
    assert ("blocks 7 (capture): `plain` 1070000–1070002, "
            "`stress` 2070000–2070002") in line
    assert "6 (census): `plain` 1060000–1060002, `stress` 2060000–2060002" in line
    assert "Up to 3 `plain` worlds" in text
