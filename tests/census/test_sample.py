"""Coding samples: strata, the recorded design, the sheet, import and estimation."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import measure
from measure.census import (
    analyze,
    draw_sample,
    frame,
    import_codes,
    record_design,
    write_population,
    write_sheet,
)
from measure.errors import ConfigError, DataContractError


def code_sheet(sheet: pl.DataFrame, supporters: set[int], coder: str = "c1"
               ) -> pl.DataFrame:
    """Perfect coder: label every sheet row from the known supporter set."""
    return sheet.with_columns(
        pl.when(pl.col("account_id").is_in(list(supporters)))
        .then(pl.lit("supporter")).otherwise(pl.lit("non_supporter")).alias("label"),
        pl.lit(coder).alias("coder"))


def test_draw_is_deterministic_and_documented(medium_world) -> None:
    path, _ = medium_world
    ds = measure.open(path)
    a = draw_sample(ds, metric="in_friends", n=100, seed=7)
    b = draw_sample(ds, metric="in_friends", n=100, seed=7)
    c = draw_sample(ds, metric="in_friends", n=100, seed=8)
    assert a.sample.equals(b.sample)
    assert not a.sample.equals(c.sample)
    d = a.design
    assert d["n"].sum() == 100
    assert (d["inclusion_prob"] - d["n"] / d["N"]).abs().max() < 1e-12
    assert d["N"].sum() == frame(ds).height
    assert set(d["seed"].to_list()) == {7}
    assert list(a.sheet.columns[:4]) == ["account_id", "screen_name",
                                         "display_name", "description"]
    assert a.sheet["link"].str.starts_with("https://").all()


def test_strata_bounds_partition_each_level(medium_world) -> None:
    path, _ = medium_world
    ds = measure.open(path)
    d = draw_sample(ds, metric="in_friends", n=60).design
    for _, g in d.group_by("level"):
        g = g.sort("lower", nulls_last=False)
        assert g["lower"][0] is None and g["upper"][-1] is None
        assert g["upper"][:-1].to_list() == g["lower"][1:].to_list()


def test_round_trip_estimate_covers_truth(medium_world, tmp_path: Path) -> None:
    path, sup = medium_world
    ds = measure.open(path)
    truth = frame(ds).filter(pl.col("account_id").is_in(list(sup))).height
    draw = draw_sample(ds, metric="in_friends", n=200, allocation="neyman")
    record_design(ds, draw)
    sheet = write_sheet(code_sheet(draw.sheet, sup), tmp_path / "coded.csv")
    ds = measure.open(path)
    rep = import_codes(ds, sheet)
    assert rep.n_imported == 200 and rep.design_id == draw.design_id
    ds = measure.open(path)
    labels = ds.sql("SELECT * FROM labels")
    assert labels["inclusion_prob"].null_count() == 0
    res = analyze(ds)
    assert res.design.startswith("design table")
    assert res.n_coded == 200
    assert res.ci[0] <= truth <= res.ci[1]
    assert res.lower_bound.estimate <= res.estimate.estimate
    assert res.upper_bound.estimate >= res.estimate.estimate
    assert res.model_assisted.valid
    assert res.population is not None
    assert res.population.height == res.frame_size
    assert set(res.population.columns) >= {"account_id", "p_supporter", "predicted"}
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot()
    assert ax.get_title() == "Precision by sorting metric"
    assert len(ax.lines) >= 1
    assert "CensusResult" in repr(res) and "<pre>" in res._repr_html_()
    out = write_population(ds, res)
    assert measure.open(path).has("population") and out.name == "population.parquet"
    d = res.to_dict()
    for key in ("estimate", "ci", "lower_bound", "upper_bound", "frame_size",
                "n_coded", "strata", "method"):
        assert key in d
    assert {"name", "N", "n", "supporters", "p_hat"} <= set(d["strata"][0])
    assert res.to_polars().columns == ["term", "estimate", "std_error", "ci_low",
                                       "ci_high", "level"]


def test_double_coding_gives_kappa_and_reimport_replaces(medium_world,
                                                         tmp_path: Path) -> None:
    path, sup = medium_world
    ds = measure.open(path)
    draw = draw_sample(ds, metric="in_followers", n=80)
    record_design(ds, draw)
    first = code_sheet(draw.sheet, sup, "alice")
    write_sheet(first, tmp_path / "a.csv")
    second = code_sheet(draw.sheet.head(30), sup, "bob")
    # bob disagrees on five accounts
    flip = {"supporter": "non_supporter", "non_supporter": "supporter"}
    second = second.with_columns(
        pl.when(pl.int_range(pl.len()) < 5)
        .then(pl.col("label").replace_strict(flip)).otherwise(pl.col("label"))
        .alias("label"))
    write_sheet(second, tmp_path / "b.csv")
    import_codes(measure.open(path), tmp_path / "a.csv")
    import_codes(measure.open(path), tmp_path / "b.csv")
    import_codes(measure.open(path), tmp_path / "b.csv")  # again: replaces
    ds = measure.open(path)
    assert ds.sql("SELECT count(*) AS n FROM labels")["n"][0] == 110
    res = analyze(ds, model=False)
    assert res.kappa.valid and res.kappa.n == 30
    assert 0 < res.kappa.estimate < 1
    # alice coded most accounts, so her labels are the ones estimated from
    assert res.n_coded == 80
    assert not res.model_assisted.valid


def test_import_rejects_bad_labels_and_foreign_accounts(medium_world,
                                                        tmp_path: Path) -> None:
    path, _ = medium_world
    ds = measure.open(path)
    draw = draw_sample(ds, metric="in_friends", n=20)
    record_design(ds, draw)
    bad = draw.sheet.with_columns(pl.lit("bot").alias("label"))
    write_sheet(bad, tmp_path / "bad.csv")
    with pytest.raises(DataContractError, match="not one of"):
        import_codes(measure.open(path), tmp_path / "bad.csv")
    foreign = pl.DataFrame({"account_id": ["999999999"], "label": ["supporter"]})
    foreign.write_csv(tmp_path / "foreign.csv")
    with pytest.raises(DataContractError, match="not in the drawn sample"):
        import_codes(measure.open(path), tmp_path / "foreign.csv")
    with pytest.raises(ConfigError, match="valid values"):
        draw_sample(ds, metric="pagerank", n=5)


def test_srs_labels_without_inclusion_prob(medium_world,
                                           census_helpers: dict) -> None:
    make_world = census_helpers["make_world"]
    write_dataset = census_helpers["write_dataset"]
    path, sup = medium_world
    fr = frame(measure.open(path))
    ids = fr.sample(150, seed=2)["account_id"]
    labels = pl.DataFrame({
        "account_id": ids,
        "label": ["supporter" if i in sup else "non_supporter" for i in ids],
    })
    tables, _ = make_world(0)
    tables["labels"] = labels
    ds = measure.open(write_dataset(path.parent / "srs", tables))
    res = analyze(ds, model=False)
    assert res.design.startswith("simple random sample")
    assert any("simple random sample" in a for a in res.assumptions)
    assert res.strata.height == 1 and res.strata["N"][0] == fr.height


def test_model_assisted_warns_when_design_misses_part_of_frame(medium_world) -> None:
    """Labels whose inclusion probabilities describe only half the frame: the
    model-assisted total runs over the whole frame and must say so."""
    path, sup = medium_world
    ds = measure.open(path)
    fr = frame(ds)
    coded = fr.sample(n=80, seed=3, shuffle=True)
    labels = coded.select(
        "account_id",
        pl.when(pl.col("account_id").is_in(list(sup))).then(pl.lit("supporter"))
        .otherwise(pl.lit("non_supporter")).alias("label"),
        pl.lit("all").alias("sample"),
        pl.lit(80 / (fr.height / 2)).alias("inclusion_prob"),
    )
    res = analyze(ds, labels=labels)
    assert res.model_assisted.valid
    assert any("not comparable with the stratified" in w
               for w in res.model_assisted.warnings)
    full = labels.with_columns(pl.lit(80 / fr.height).alias("inclusion_prob"))
    res = analyze(ds, labels=full)
    assert not any("not comparable" in w for w in res.model_assisted.warnings)
