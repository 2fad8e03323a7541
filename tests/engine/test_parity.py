"""The same analyses on DuckDB and on Spark (``local[2]``) give the same numbers.

Each test runs one body on both engines and compares: frames row for row (counts
exactly, shares and percentiles to 1e-9 relative), estimates to 1e-9 relative.
The Spark datasets cannot reach their DuckDB connection (``Dataset.con`` raises),
so the Spark numbers are Spark's. Without Java 17 or pyspark these tests skip
(fail with ``CI=true``): see ``tests/engine/conftest.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import measure
from measure.census import _frame
from measure.census import analyze as census_analyze
from measure.census._sql import OUTSIDE_LEVEL
from measure.churn import analyze as churn_analyze
from measure.churn._lifetimes import build_lifetimes
from measure.engine import UnsupportedOnSpark
from tests.engine.conftest import BASE_CONF

REL = 1e-9


def assert_numbers_equal(a: Any, b: Any, path: str = "$",
                         skip: frozenset[str] = frozenset({"timings"})) -> int:
    """Assert two JSON-like results are equal, floats to ``REL`` relative.

    Returns the number of numbers compared (so a test can require that it
    compared something).
    """
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        return sum(assert_numbers_equal(a[k], b[k], f"{path}.{k}", skip)
                   for k in a if k not in skip)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        return sum(assert_numbers_equal(x, y, f"{path}[{i}]", skip)
                   for i, (x, y) in enumerate(zip(a, b, strict=True)))
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            assert math.isnan(fa) and math.isnan(fb), (path, a, b)
        else:
            assert fa == pytest.approx(fb, rel=REL, abs=0.0), (path, a, b)
        return 1
    assert a == b, (path, a, b)
    return int(isinstance(a, int) and not isinstance(a, bool))


def both(path: Path, spark: Any, body: Callable[[measure.Dataset], Any]
         ) -> tuple[Any, Any]:
    """Run ``body`` on the dataset at ``path`` opened on DuckDB, then on Spark."""
    with measure.open(path) as duck:
        assert duck.engine.name == "duckdb"
        on_duckdb = body(duck)
    with measure.open(path, engine=spark) as ds:
        assert ds.engine.name == "spark"
        with pytest.raises(UnsupportedOnSpark, match="engine='spark'"):
            _ = ds.con
        on_spark = body(ds)
    return on_duckdb, on_spark


def census_body(ds: measure.Dataset) -> tuple[pl.DataFrame, dict, dict]:
    """Ranked frame, what it used, and the estimate (one frame build per engine)."""
    _frame.build_frame(ds, ranks=True)
    fr = _frame.frame(ds, ranks=True)
    info = _frame.frame_info(ds).to_dict()
    res = census_analyze(ds, model=False, seed=7)
    return fr, info, res.to_dict()


def test_census_frame_and_estimates_are_the_same_on_spark(small_world: Path,
                                                          spark: Any) -> None:
    (f_d, i_d, r_d), (f_s, i_s, r_s) = both(small_world, spark, census_body)
    # the small world's snowball: seeds, level 1 and the accounts their lists hold
    assert f_d.height == i_d["frame_size"] > 30_000
    assert_frame_equal(f_d, f_s, check_dtypes=True, check_exact=False, rel_tol=REL,
                       abs_tol=0.0)
    assert i_d == i_s
    assert r_d["estimate"] > 0
    assert assert_numbers_equal(r_d, r_s) > 100


def churn_body(ds: measure.Dataset) -> tuple[pl.DataFrame, dict, pl.DataFrame,
                                              dict, dict]:
    """Lifetimes (plain; and of a cohort filtered by language, by language, with
    an entry covariate) and the churn headline (all accounts; complete
    follow-up)."""
    plain = build_lifetimes(ds)
    ids = pl.read_parquet(ds.path / "accounts.parquet")["account_id"].head(3000)
    filt = build_lifetimes(ds, cohort=ids, where="lang=ar", by="lang",
                           covariates=("followers_at_entry",))
    lite = {"seed": 3, "cox": False, "turnbull_fit": False, "age_period": None}
    res = churn_analyze(ds, **lite)
    followup = churn_analyze(ds, complete_followup=True, **lite)
    return (plain.frame, plain.excluded, filt.frame, res.to_dict(),
            followup.to_dict())


def test_churn_lifetimes_and_headline_are_the_same_on_spark(small_world: Path,
                                                            spark: Any) -> None:
    (p_d, x_d, f_d, r_d, c_d), (p_s, x_s, f_s, r_s, c_s) = both(
        small_world, spark, churn_body)
    assert p_d.height > 1000 and 0 < f_d.height < p_d.height
    assert_frame_equal(p_d, p_s, check_dtypes=True, check_exact=True)
    assert_frame_equal(f_d, f_s, check_dtypes=True, check_exact=True)
    assert x_d == x_s
    assert r_d["n_accounts"] > c_d["n_accounts"] > 0
    assert assert_numbers_equal(r_d, r_s) > 20
    assert assert_numbers_equal(c_d, c_s) > 20


def test_families_without_a_spark_form_raise_naming_the_family(small_world: Path,
                                                               spark: Any) -> None:
    from measure.describe import analyze as describe_analyze
    from measure.resurrection import analyze as resurrection_analyze

    with measure.open(small_world, engine=spark) as ds:
        with pytest.raises(UnsupportedOnSpark, match="resurrection") as err:
            resurrection_analyze(ds)
        assert "engine='duckdb'" in str(err.value)
        with pytest.raises(UnsupportedOnSpark, match="describe"):
            describe_analyze(ds)
        # a user's own query runs on Spark
        n = ds.sql("SELECT count(*) AS n FROM seeds")["n"][0]
    assert n == pl.read_parquet(small_world / "seeds.parquet").height


def test_one_open_dataset_per_spark_session(small_world: Path, spark: Any) -> None:
    from measure.errors import ConfigError

    with measure.open(small_world, engine=spark, validate="schema"):
        with pytest.raises(ConfigError, match="newSession"):
            measure.open(small_world, engine=spark, validate="schema")
        other = spark.newSession()
        with measure.open(small_world, engine=other, validate="schema") as ds:
            assert ds.sql("SELECT count(*) AS n FROM seeds")["n"][0] > 0
    with measure.open(small_world, engine=spark, validate="schema") as ds:
        assert ds.engine.spark is spark


def test_a_file_uri_dataset_is_listed_and_read_by_spark(small_world: Path,
                                                        spark: Any) -> None:
    uri = small_world.resolve().as_uri()
    assert uri.startswith("file:///")
    with pytest.raises(UnsupportedOnSpark, match="validate='schema'"):
        measure.open(uri, engine=spark, validate="full")
    with measure.open(uri, engine=spark, validate="schema") as ds:
        assert ds.location.remote and ds.engine.name == "spark"
        assert {"accounts", "crawls", "edges", "observations", "seeds"} <= set(
            ds.tables)
        assert "truth" not in ds.tables
        assert ds.id_type == "int"
        assert "created_at" in ds.columns("accounts")
        assert any("pin of a remote dataset is not checked" in w
                   for w in ds.warnings)
        n = ds.sql("SELECT count(*) AS n FROM edges")["n"][0]
    assert n == pl.scan_parquet(small_world / "edges").select(pl.len()).collect()[
        0, 0]


# -- slow: branches of the frame on hand-built worlds, and the command line ----------
def _hand_built_worlds(base: Path) -> dict[str, Path]:
    from tests.census.conftest import write_dataset
    from tests.census.test_frame import (
        RECRAWL_WORLD,
        SEED_LISTS_WORLD,
        T,
        crawl_world,
    )

    overlapping = [
        (1, "followers", 0, T[0], True, [10, 11, 3, 4]),
        (1, "friends", 0, T[0], True, [10, 4, 5]),
        (10, "followers", 1, T[1], True, [1, 11, 6]),
        (10, "friends", 1, T[1], False, [1, 11, 4]),
        (11, "followers", 1, T[2], True, [10, 7]),
        (4, "followers", OUTSIDE_LEVEL, T[4], True, [1, 8]),
    ]
    loops = [(1, "followers", 0, T[0], True, [1, 10, 11]),
             (10, "followers", 1, T[1], True, [10, 1, 5]),
             (11, "followers", 1, T[2], True, [10, 6])]
    worlds = {"recrawl": crawl_world(RECRAWL_WORLD, [1]),
              "recrawl_exact": crawl_world(RECRAWL_WORLD, [1], timestamps=False),
              "friends": crawl_world(overlapping, [1]),
              "self_loops": crawl_world(loops, [1]),
              "seed_lists": crawl_world(SEED_LISTS_WORLD, [1, 2])}
    return {k: write_dataset(base / k, v) for k, v in worlds.items()}


@pytest.mark.slow
def test_frame_branches_are_the_same_on_spark(tmp_path: Path, spark: Any) -> None:
    """Friends lists, unreachable crawls (the search over every used list),
    self-loops, followers outside N and exact mode, on both engines."""
    import warnings

    def body(ds: measure.Dataset) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _frame.build_frame(ds, ranks=True)
            out = _frame.write_frame(ds, tmp_path / f"{ds.engine.name}.parquet")
        return (_frame.frame(ds, ranks=True), _frame.frame_info(ds).to_dict(),
                pl.read_parquet(out).sort("account_id"))

    for name, path in _hand_built_worlds(tmp_path).items():
        (f_d, i_d, w_d), (f_s, i_s, w_s) = both(path, spark, body)
        assert f_d.height > 2, name
        assert_frame_equal(f_d, f_s, check_exact=False, rel_tol=REL, abs_tol=0.0)
        assert_frame_equal(w_d, w_s, check_exact=False, rel_tol=REL, abs_tol=0.0)
        assert i_d == i_s, name


def _cli_json(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "measure", *args],
                         capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout)


SPARK_FLAGS = ["--engine", "spark", *(x for k, v in BASE_CONF.items()
                                      for x in ("--spark-conf", f"{k}={v}"))]


@pytest.mark.slow
@pytest.mark.parametrize("world", ["demo", "stress"])
def test_cli_census_and_churn_json_are_the_same_on_spark(
        world: str, tmp_path: Path, spark: Any) -> None:
    """``measure census|churn DATASET --engine spark --json`` prints DuckDB's
    numbers on the demo world and on a stress world."""
    from measure.simulate import SimConfig, simulate

    cfg = (SimConfig.preset("demo") if world == "demo"
           else SimConfig.preset("stress", seed=11, size="small"))
    path = tmp_path / world
    simulate(cfg, 11, path, overwrite=True)
    for family in ("census", "churn"):
        duck = _cli_json([family, str(path), "--json"])
        on_spark = _cli_json([family, str(path), "--json", *SPARK_FLAGS])
        assert assert_numbers_equal(duck, on_spark) > 50, family
