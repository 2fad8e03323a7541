"""The engine layer: DuckDB runs the SQL as written; Spark says what it needs."""

from __future__ import annotations

import importlib.util

import polars as pl
import pytest

from measure.engine._engine import DuckDBEngine, Engine, EngineUnavailable, open_engine


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


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is not None,
                    reason="pyspark is installed")
def test_spark_engine_without_pyspark_names_the_extra_to_install() -> None:
    with pytest.raises(EngineUnavailable, match=r"pip install measure\[spark\]"):
        open_engine("spark")
