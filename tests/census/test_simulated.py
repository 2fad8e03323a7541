"""One simulated world (the shared ``small_world``): frame and estimates vs truth."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import measure
from measure.census import analyze, frame


def test_frame_equals_simulated_frame(small_world: Path, small_truth) -> None:
    ds = measure.open(small_world)
    fr = frame(ds, ranks=False)
    counts = small_truth.json["counts"]
    assert fr.height == counts["frame_size"]
    by_level = fr.group_by("level").len()
    got = {str(k): v for k, v in by_level.iter_rows()}
    assert got == {k: v for k, v in counts["frame_by_level"].items() if v}
    acc = small_truth.accounts.filter(pl.col("in_frame"))
    assert set(fr["account_id"].to_list()) == set(acc["account_id"].to_list())
    sup = fr.join(acc.filter(pl.col("is_supporter")), on="account_id", how="semi")
    assert sup.height == counts["supporter_accounts_in_frame"]


def test_estimates_cover_truth_in_one_world(small_world: Path, small_truth) -> None:
    ds = measure.open(small_world)
    target = small_truth.json["counts"]["supporter_accounts_in_frame"]
    coding = small_truth.json["coding"]
    u = coding["p_unclear"]
    se = coding["sensitivity"] * (1 - u)
    sp = 1 - (1 - coding["specificity"]) * (1 - u)
    res = analyze(ds, sensitivity=se, specificity=sp)
    assert res.design == "labels' sample and inclusion_prob"
    assert res.corrected.ci[0] <= target <= res.corrected.ci[1]
    assert res.kappa.valid
    lab = ds.sql("SELECT * FROM labels WHERE coder = 'coder_a'")
    truth = small_truth.accounts.select("account_id", "is_supporter")
    perfect = lab.join(truth, on="account_id").with_columns(
        pl.when(pl.col("is_supporter")).then(pl.lit("supporter"))
        .otherwise(pl.lit("non_supporter")).alias("label")).drop("is_supporter")
    r = analyze(ds, labels=perfect)
    assert r.ci[0] <= target <= r.ci[1]
    assert r.lower_bound.estimate <= target <= r.upper_bound.estimate
    # estimating never writes into the dataset: its pin stays valid
    assert measure.verify_dataset(small_world).ok
