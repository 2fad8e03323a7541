"""The engine layer: DuckDB runs the SQL as written; Spark says what it needs."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from measure.dataset import Dataset
from measure.engine._engine import DuckDBEngine, Engine, EngineUnavailable, open_engine
from measure.engine._location import parse_location
from measure.errors import ConfigError, DataContractError
from tests.engine.conftest import java_major, unavailable


def test_duckdb_engine_keeps_appends_and_deletes_intermediate_rows() -> None:
    eng = DuckDBEngine()
    assert isinstance(eng, Engine)
    eng.register("frame", pl.DataFrame({"k": [1, 2, 3, 4]}))
    eng.create_table("t", "SELECT k FROM frame WHERE k > ?", [1])
    eng.insert("t", "SELECT k + $add AS k FROM frame", {"add": 10})
    eng.delete("t", "k >= ?", [13])
    assert eng.sql("SELECT k FROM t ORDER BY k")["k"].to_list() == [2, 3, 4, 11, 12]
    eng.create_table("t", "SELECT 7 AS k")  # replaces
    assert eng.sql("SELECT count(*) AS n FROM t")["n"][0] == 1
    eng.drop("t")
    eng.drop("frame")
    with pytest.raises(Exception, match="t"):
        eng.sql("SELECT * FROM t")


def test_duckdb_engine_writes_parquet(tmp_path) -> None:
    eng = open_engine("duckdb")
    eng.write_parquet("SELECT range AS x FROM range(5)", tmp_path / "x.parquet")
    assert pl.read_parquet(tmp_path / "x.parquet")["x"].sum() == 10


def test_spark_engine_without_pyspark_names_the_extra_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a None entry in sys.modules makes `import pyspark` raise ImportError
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(EngineUnavailable, match=r"pip install measure\[spark\]"):
        open_engine("spark")


@pytest.mark.parametrize(("path", "scheme"), [
    ("s3a://bucket/worlds/w1", "s3a"),
    ("abfss://data@account.dfs.core.windows.net/worlds/w1", "abfss"),
    ("hdfs://namenode:8020/data/world/", "hdfs"),
    ("file:///tmp/world", "file"),
    ("/tmp/world", ""),
    ("relative/world", ""),
])
def test_dataset_locations_tell_spark_uris_from_local_paths(path: str,
                                                            scheme: str) -> None:
    loc = parse_location(path)
    assert (loc.scheme, loc.remote) == (scheme, bool(scheme))
    assert loc.uri == path
    assert loc.child("edges") == path.rstrip("/") + "/edges"
    assert loc.name in ("w1", "world")


@pytest.mark.parametrize("bad", ["ftp://host/world", "s3a://bucket", "s3a://bucket/"])
def test_unknown_schemes_and_bare_buckets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown dataset location|names no directory"):
        parse_location(bad)


def test_a_uri_dataset_needs_the_spark_engine() -> None:
    with pytest.raises(DataContractError, match="engine='spark'"):
        Dataset("s3a://bucket/world")


def test_an_unknown_engine_name_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown engine 'sparkk'"):
        Dataset(tmp_path, engine="sparkk")


def test_engine_flags_become_open_options() -> None:
    from argparse import Namespace

    from measure._cli_util import engine_options

    assert engine_options(Namespace(engine="duckdb", spark_conf=None,
                                    checkpoint_dir=None)) == {}
    opts = engine_options(Namespace(
        engine="spark", spark_conf=["spark.master=local[2]", "a.b=x=y"],
        checkpoint_dir="hdfs://nn/tmp/ck"))
    assert opts == {"engine": "spark", "checkpoint_dir": "hdfs://nn/tmp/ck",
                    "spark_conf": {"spark.master": "local[2]", "a.b": "x=y"}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        engine_options(Namespace(engine="spark", spark_conf=["novalue"],
                                 checkpoint_dir=None))
    with pytest.raises(ConfigError, match="need --engine spark"):
        engine_options(Namespace(engine="duckdb", spark_conf=["a=b"],
                                 checkpoint_dir=None))


def test_java_version_text_is_read_for_old_and_new_numbering() -> None:
    assert java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major('java version "1.8.0_392"') == 8
    assert java_major("no java here") is None


def test_missing_spark_skips_but_fails_under_ci() -> None:
    action, msg = unavailable("pyspark is not installed", {})
    assert action == "skip"
    assert "install Java 17 and `pip install measure[spark]`" in msg
    assert unavailable("no Java found", {"CI": "true"})[0] == "fail"
    assert unavailable("no Java found", {"CI": "false"})[0] == "skip"
