"""The world simulator: determinism, contract validity, truth consistency, config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure.cli import main
from measure.errors import ConfigError
from measure.simulate import PRESETS, SimConfig, load_truth, simulate

ALL_TABLES = {
    "accounts",
    "observations",
    "edges",
    "crawls",
    "seeds",
    "labels",
    "detections",
    "tweets",
}


def _digest(path: Path) -> str:
    return json.loads((path / "manifest.json").read_text())["digest"]


# -- determinism --
def test_same_seed_and_config_give_the_same_digest(
    small_world: Path, tmp_path: Path
) -> None:
    again = simulate(SimConfig.preset("small"), 1, tmp_path / "again")
    assert _digest(again) == _digest(small_world)
    assert (again / "truth.json").read_bytes() == (
        small_world / "truth.json"
    ).read_bytes()


def test_another_seed_gives_another_world(
    small_world: Path, small_world_factory
) -> None:
    other = small_world_factory(2)
    assert _digest(other) != _digest(small_world)


def test_manifest_command_is_deterministic(small_world: Path) -> None:
    m = json.loads((small_world / "manifest.json").read_text())
    assert m["command"].startswith("measure simulate --preset small --seed 1 ")
    assert "config sha256:" in m["command"]


# -- contract validity --
def test_small_world_is_valid_on_the_contract(small_world: Path) -> None:
    with measure.open(small_world, validate="full") as ds:
        assert set(ds.tables) == ALL_TABLES
        for analysis in (
            "census_estimate",
            "capture",
            "churn",
            "resurrection",
            "describe",
        ):
            ds.require(analysis)
        assert ds.id_type == "int"
        # truth is reserved: never exposed as a table
        assert not any(t.startswith("truth") for t in ds.tables)
        n = ds.sql(
            "SELECT count(*) AS n, count(DISTINCT account_id) AS d FROM accounts"
        )
        assert n["n"][0] == n["d"][0]


def test_every_id_in_every_table_is_in_accounts(small_world: Path) -> None:
    with measure.open(small_world) as ds:
        for table, col in (
            ("observations", "account_id"),
            ("edges", "src"),
            ("edges", "dst"),
            ("crawls", "account_id"),
            ("seeds", "account_id"),
            ("labels", "account_id"),
            ("detections", "account_id"),
            ("tweets", "account_id"),
        ):
            missing = ds.sql(
                f"SELECT count(*) AS n FROM {table} t ANTI JOIN "
                f"accounts a ON t.{col} = a.account_id"
            )["n"][0]
            assert missing == 0, (table, col)


def test_counts_are_null_unless_active(small_world: Path) -> None:
    with measure.open(small_world) as ds:
        bad = ds.sql(
            "SELECT count(*) AS n FROM observations WHERE status <> "
            "'active' AND (followers_count IS NOT NULL OR friends_count "
            "IS NOT NULL OR statuses_count IS NOT NULL)"
        )["n"][0]
        active_null = ds.sql(
            "SELECT count(*) AS n FROM observations WHERE status "
            "= 'active' AND followers_count IS NULL"
        )["n"][0]
    assert bad == 0
    assert active_null == 0


def test_edges_only_for_collected_lists(small_world: Path) -> None:
    with measure.open(small_world) as ds:
        n = ds.sql(
            "SELECT count(*) AS n FROM edges e ANTI JOIN crawls c "
            "ON e.dst = c.account_id"
        )["n"][0]
        seeds_level = ds.sql(
            "SELECT DISTINCT level FROM crawls c SEMI JOIN seeds s USING (account_id)"
        )["level"].to_list()
    assert n == 0
    assert seeds_level == [0]


def test_complete_lists_hold_every_follower(small_world: Path, small_truth) -> None:
    """A complete list has as many edges as the account's followers at the census."""
    with measure.open(small_world) as ds:
        df = ds.sql(
            "SELECT c.account_id, c.complete, o.followers_count AS f, "
            "count(e.src) AS n_edges "
            "FROM crawls c JOIN observations o ON o.account_id = c.account_id AND "
            "o.observed_at = ?::TIMESTAMPTZ LEFT JOIN edges e ON e.dst = c.account_id "
            "AND e.observed_at = c.collected_at WHERE c.level < 99 "
            "GROUP BY ALL",
            [small_truth.census_date + " 00:00:00+00"],
        )
    complete = df.filter(pl.col("complete"))
    assert complete.height > 0
    assert (complete["n_edges"] == complete["f"]).all()
    partial = df.filter(~pl.col("complete"))
    assert (partial["n_edges"] <= partial["f"]).all()


def test_reduced_demo_preset_is_valid(tmp_path: Path) -> None:
    cfg = SimConfig.preset("demo", scale=0.05)
    path = simulate(cfg, 3, tmp_path / "demo")
    with measure.open(path, validate="full") as ds:
        assert set(ds.tables) == ALL_TABLES
    assert load_truth(path).json["preset"] == "demo"


def test_large_preset_at_tiny_scale_streams_partitioned_edges(tmp_path: Path) -> None:
    cfg = SimConfig.preset("large", scale=0.0005).replace(
        edge_chunk_rows=20_000, truth_chunk_rows=2_000
    )
    path = simulate(cfg, 5, tmp_path / "large")
    parts = sorted((path / "edges").glob("part-*.parquet"))
    assert len(parts) > 1
    assert (path / "truth" / "accounts").is_dir()
    assert (path / "accounts").is_dir()  # written in parts too
    assert (path / "observations").is_dir()
    with measure.open(path, validate="full") as ds:
        assert ds.has("edges")
        n_edges = ds.sql("SELECT count(*) AS n FROM edges")["n"][0]
    truth = load_truth(path)
    assert truth.counts["edges"] == n_edges
    assert truth.accounts.height == (
        truth.counts["supporter_accounts_total"] + truth.counts["background_accounts"]
    )


# -- truth consistency --
def test_every_predecessor_was_suspended_before_its_successor(small_truth) -> None:
    acc = small_truth.accounts
    pairs = (
        small_truth.links()
        .join(
            acc.select(
                pl.col("account_id").alias("predecessor_id"),
                pl.col("suspended_at").alias("pred_susp"),
                pl.col("end_reason").alias("pred_reason"),
                pl.col("actor_id").alias("pred_actor"),
                pl.col("incarnation").alias("pred_inc"),
            ),
            on="predecessor_id",
            how="left",
        )
        .join(acc.select("account_id", "created_at"), on="account_id")
    )
    assert pairs.height > 0
    assert pairs["pred_susp"].null_count() == 0
    assert (pairs["pred_susp"] < pairs["created_at"]).all()
    assert (pairs["pred_reason"] == "suspended").all()
    assert (pairs["pred_actor"] == pairs["actor_id"]).all()
    assert (pairs["pred_inc"] + 1 == pairs["incarnation"]).all()


def test_truth_counts_equal_counts_from_truth_tables(small_truth) -> None:
    t = small_truth
    census = pl.lit(t.census_date).str.to_datetime().dt.replace_time_zone("UTC")
    sup = t.supporters()
    ends = pl.coalesce(pl.col("end_at"), pl.lit(None))
    alive = sup.filter(
        (pl.col("created_at") <= census) & (ends.is_null() | (ends > census))
    ).height
    start = (
        pl.lit(t.json["window"]["start"]).str.to_datetime().dt.replace_time_zone("UTC")
    )
    end = pl.lit(t.json["window"]["end"]).str.to_datetime().dt.replace_time_zone("UTC")
    active = sup.filter(
        (pl.col("created_at") < end) & (ends.is_null() | (ends > start))
    ).height
    c = t.counts
    assert c["supporter_accounts_alive_at_census"] == alive
    assert c["capture_population"] == alive
    assert c["supporter_accounts_in_frame"] == sup["in_frame"].sum()
    assert c["frame_size"] == t.accounts["in_frame"].sum()
    assert c["supporter_accounts_active_in_window"] == active
    assert c["supporter_accounts_total"] == sup.height
    assert c["supporter_actors"] == t.actors.height
    assert t.actors["n_accounts"].sum() == sup.height
    assert (
        sup["actor_id"].n_unique() == t.actors.filter(pl.col("n_accounts") > 0).height
    )
    assert (
        t.accounts.filter(~pl.col("is_supporter"))["actor_id"].null_count()
        == (c["background_accounts"])
    )


def test_truth_matches_the_dataset(small_world: Path, small_truth) -> None:
    t = small_truth
    with measure.open(small_world) as ds:
        n_edges = ds.sql("SELECT count(*) AS n FROM edges")["n"][0]
        frame = ds.sql(
            "SELECT count(*) AS n FROM (SELECT account_id FROM crawls WHERE level < 99 "
            "UNION SELECT src FROM edges e SEMI JOIN crawls c ON c.account_id = e.dst "
            "AND c.level < 99)"
        )["n"][0]
        acc = ds.sql("SELECT account_id FROM accounts")
    assert t.counts["edges"] == n_edges
    assert t.counts["frame_size"] == frame
    seen = t.accounts.filter(pl.col("discovered_at").is_not_null())
    assert seen.height == acc.height
    assert set(seen["account_id"].to_list()) == set(acc["account_id"].to_list())


def test_end_reason_and_latent_times_agree(small_truth) -> None:
    a = small_truth.accounts
    # null only when the latent time lies beyond the 100-year horizon
    assert a["suspended_at"].null_count() < 0.05 * a.height
    ended = a.filter(pl.col("end_at").is_not_null())
    susp = ended.filter(pl.col("end_reason") == "suspended")
    dele = ended.filter(pl.col("end_reason") == "deleted")
    assert (susp["end_at"] == susp["suspended_at"]).all()
    assert (dele["end_at"] == dele["deleted_at"]).all()
    assert susp.height + dele.height == ended.height
    assert (a["end_at"].is_null() == a["end_reason"].is_null()).all()


def test_survival_truth_is_computed_from_latent_times(small_truth) -> None:
    t = small_truth
    start = (
        pl.lit(t.json["window"]["start"]).str.to_datetime().dt.replace_time_zone("UTC")
    )
    end = pl.lit(t.json["window"]["end"]).str.to_datetime().dt.replace_time_zone("UTC")
    days = (
        t.supporters()
        .filter((pl.col("created_at") >= start) & (pl.col("created_at") < end))
        .select(
            ((pl.col("suspended_at") - pl.col("created_at")).dt.total_seconds() / 86400)
            .fill_null(float("inf"))
            .alias("d")
        )["d"]
        .to_numpy()
    )
    s = t.survival
    assert s["n"] == len(days)
    # timestamps are rounded to whole seconds: allow one second of rounding
    assert s["median_days"] == pytest.approx(np.median(days), abs=2 / 86400)
    assert s["p_by_2d"] == pytest.approx((days <= 2).mean(), abs=2 / len(days))
    assert s["p_by_90d"] == pytest.approx((days <= 90).mean(), abs=2 / len(days))


def test_inclusion_probabilities_are_n_h_over_N_h(
    small_world: Path, small_truth
) -> None:
    with measure.open(small_world) as ds:
        lab = ds.sql(
            "SELECT sample, count(*) AS n, min(inclusion_prob) AS lo, "
            "max(inclusion_prob) AS hi FROM labels WHERE coder = 'coder_a' "
            "GROUP BY sample"
        )
    sizes = small_truth.coding["stratum_sizes"]
    for row in lab.iter_rows(named=True):
        assert row["lo"] == row["hi"]
        assert row["lo"] == pytest.approx(row["n"] / sizes[row["sample"]])


# -- configuration --
def test_presets_are_documented_and_valid() -> None:
    assert PRESETS == {"small", "demo", "large", "stress"}
    for name in PRESETS:
        cfg = SimConfig.preset(name, seed=3)
        assert cfg.preset_name == name
        assert SimConfig.from_dict(cfg.to_dict()) == cfg


def test_stress_preset_draws_mechanisms_per_world() -> None:
    with pytest.raises(ConfigError, match="seed"):
        SimConfig.preset("stress")
    a, b = SimConfig.preset("stress", seed=1), SimConfig.preset("stress", seed=2)
    assert a.mechanisms_on() and b.mechanisms_on()
    assert a.mechanisms_on() != b.mechanisms_on()
    assert a == SimConfig.preset("stress", seed=1)
    small = SimConfig.preset("stress", seed=1, size="small")
    assert small.population == SimConfig.preset("small").population
    assert small.mechanisms_on() == a.mechanisms_on()


def test_replace_accepts_flat_dotted_and_section_names() -> None:
    cfg = SimConfig.preset("small")
    a = cfg.replace(p_return=0.8)
    b = cfg.replace(**{"resurrection.p_return": 0.8})
    c = cfg.replace(resurrection={"p_return": 0.8})
    assert a == b == c
    assert a.resurrection.p_return == 0.8
    assert cfg.resurrection.p_return != 0.8  # frozen: the original is unchanged


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"p_return": 1.5}, "resurrection.p_return"),
        ({"sensitivity": -0.1}, "coding.sensitivity"),
        ({"n_seeds": 0}, "observation.n_seeds"),
        ({"census_date": "2016-01-01"}, "window"),
        ({"census_date": "not a date"}, "window.census_date"),
        ({"p_suffix": 0.7, "p_edit": 0.5}, "resurrection.p_suffix"),
        ({"band_cuts": (3, 1)}, "coding.band_cuts"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_invalid_config_raises_config_error_naming_the_field(changes, field) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        SimConfig.preset("small").replace(**changes)


def test_unknown_preset_and_bad_scale() -> None:
    with pytest.raises(ConfigError, match="valid presets"):
        SimConfig.preset("huge")
    with pytest.raises(ConfigError, match="scale"):
        SimConfig.preset("small", scale=0)


def test_simulate_refuses_to_overwrite(small_world: Path) -> None:
    with pytest.raises(FileExistsError):
        simulate("small", 1, small_world)


# -- command line --
def test_cli_simulate_with_config_file(tmp_path: Path, capsys) -> None:
    conf = tmp_path / "over.toml"
    conf.write_text("[resurrection]\np_return = 0.9\n\n[observation]\nn_seeds = 5\n")
    out = tmp_path / "w"
    rc = main(
        [
            "simulate",
            str(out),
            "--seed",
            "4",
            "--preset",
            "small",
            "--scale",
            "0.5",
            "--config",
            str(conf),
            "--json",
        ]
    )
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["id"].startswith("w@sha256:")
    truth = load_truth(out)
    assert truth.config["resurrection"]["p_return"] == 0.9
    assert truth.counts["seeds"] == 5
    assert payload["counts"] == truth.counts


def test_cli_reports_bad_config_as_an_error(tmp_path: Path, capsys) -> None:
    conf = tmp_path / "bad.json"
    conf.write_text(json.dumps({"p_return": 2}))
    rc = main(
        [
            "simulate",
            str(tmp_path / "x"),
            "--seed",
            "1",
            "--preset",
            "small",
            "--config",
            str(conf),
        ]
    )
    assert rc == 1
    assert "resurrection.p_return" in capsys.readouterr().err


def test_load_truth_refuses_a_dataset_without_truth(tmp_path: Path) -> None:
    with measure.DatasetWriter(tmp_path / "plain") as w:
        w.write_table(
            "accounts", pl.DataFrame({"account_id": [1], "screen_name": ["a"]})
        )
    with pytest.raises(measure.DataContractError, match="truth.json"):
        load_truth(tmp_path / "plain")


def test_truth_convenience_attributes(small_truth) -> None:
    t = small_truth
    assert t.alive_at_census == t.counts["supporter_accounts_alive_at_census"]
    assert t.capture_population == t.counts["capture_population"]
    assert t.in_frame == t.counts["supporter_accounts_in_frame"]
    assert t.config["preset_name"] == "small"
    assert set(t.coding) >= {"sensitivity", "specificity", "double_coded_share"}
    assert set(t.resurrection) >= {
        "rate_30d",
        "median_delay_days",
        "follower_recovery_by_incarnation",
    }
    links = t.links()
    assert links.height == t.resurrection["n_returns"]
    assert (t.supporters()["is_supporter"]).all()
    assert 0 < t.resurrection["rate_30d"] < 1
    assert t.resurrection["follower_recovery_by_incarnation"]["2"] < 1


def test_every_parameter_is_documented() -> None:
    from measure.simulate._config import FIELD_SECTION

    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulation.md").read_text()
    missing = [f"{s}.{f}" for f, s in FIELD_SECTION.items() if f"`{s}.{f}`" not in doc]
    assert not missing
