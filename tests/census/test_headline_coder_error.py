"""The headline corrects for coder error estimated from the coded data."""

from __future__ import annotations

import polars as pl

import measure
from measure.census import analyze


def test_headline_corrects_coder_error_and_keeps_the_uncorrected_total(
        small_world, small_truth) -> None:
    target = small_truth.json["counts"]["supporter_accounts_in_frame"]
    res = analyze(measure.open(small_world))
    assert res.coder_error is not None and res.coder_error["identified"]
    assert res.uncorrected is not None
    assert res.uncorrected.term == "supporters_in_frame_uncorrected"
    assert res.estimate.term == "supporters_in_frame"
    # the simulated coders call ~5% of the large, supporter-poor level-2 strata
    # supporters: taken at face value the labels overstate the total and the
    # uncorrected interval misses the truth in this world; the corrected one holds
    assert res.uncorrected.ci[0] > target
    assert res.estimate.ci[0] <= target <= res.estimate.ci[1]
    assert res.estimate.estimate < res.uncorrected.estimate
    a = res.coder_error["coders"][0]
    assert 0.5 < a["sensitivity"]["estimate"] <= 1
    assert a["specificity"]["ci"][0] < a["specificity"]["ci"][1]
    d = res.to_dict()
    assert {"coder_error", "uncorrected", "frame_coverage"} <= set(d)


def test_single_coder_leaves_error_unidentified_and_reports_bounds(
        small_world) -> None:
    ds = measure.open(small_world)
    one = ds.sql("SELECT * FROM labels WHERE coder = 'coder_a'")
    res = analyze(ds, labels=one)
    assert not res.coder_error["identified"]
    assert any("not identified" in w for w in res.estimate.warnings)
    grid = res.sensitivity_grid
    assert res.estimate.ci[0] <= float(grid["ci_low"].min())
    assert res.estimate.ci[1] >= float(grid["ci_high"].max())
    assert "bounds" in res.estimate.method


def test_supplied_error_rates_override_the_estimated_ones(small_world) -> None:
    res = analyze(measure.open(small_world), sensitivity=0.9, specificity=0.95)
    assert res.corrected is not None
    assert res.estimate.estimate == res.corrected.estimate
    assert res.estimate.ci == res.corrected.ci
    assert "Rogan-Gladen" in res.estimate.method
    assert not any("not identified" in w for w in res.estimate.warnings)


def test_adjudicated_labels_anchor_the_error_rates(small_world) -> None:
    ds = measure.open(small_world)
    lab = ds.sql("SELECT * FROM labels")
    truth = pl.read_parquet(small_world / "truth" / "accounts.parquet").select(
        "account_id", "is_supporter")
    gold = (lab.filter(pl.col("coder") == "coder_a").head(200)
            .join(truth, on="account_id")
            .with_columns(coder=pl.lit("gold"), label=pl.when(pl.col("is_supporter"))
                          .then(pl.lit("supporter")).otherwise(pl.lit("non_supporter")))
            .drop("is_supporter"))
    plain = analyze(ds, labels=lab)
    anchored = analyze(ds, labels=pl.concat([lab, gold.select(lab.columns)]))
    assert anchored.coder_error["n_adjudicated"] == 200
    w0 = plain.coder_error["coders"][0]["specificity"]["ci"]
    w1 = anchored.coder_error["coders"][0]["specificity"]["ci"]
    assert (w1[1] - w1[0]) < (w0[1] - w0[0])
