"""The :class:`Engine` interface and its DuckDB and Spark implementations.

An engine runs measure's SQL (always written in DuckDB's dialect) with bound
parameters, keeps named intermediate tables, registers Arrow frames and
Parquet tables, applies settings and writes Parquet. :class:`DuckDBEngine`
runs the SQL as written on a DuckDB connection. :class:`SparkEngine` translates
each statement with :func:`measure.engine._dialect.to_spark` and stores every
intermediate table as Parquet under a run directory, read back as a temporary
view (Spark's temporary views are queries, re-run on every read).
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from measure.engine._dialect import SparkPlan, to_spark
from measure.errors import MeasureError

Params = Sequence[Any] | Mapping[str, Any] | None


class EngineUnavailable(MeasureError):
    """The requested engine's software is not installed."""


@runtime_checkable
class Engine(Protocol):
    """What measure needs from a SQL engine (statements in DuckDB's dialect)."""

    name: str

    def sql(self, query: str, params: Params = None) -> pl.DataFrame:
        """Run a query with bound ``params`` and return its rows."""
        ...

    def execute(self, statement: str, params: Params = None) -> None:
        """Run a statement (``CREATE ... AS``, ``INSERT``, ``DELETE``, ...)."""
        ...

    def create_table(self, name: str, query: str, params: Params = None) -> None:
        """Store the rows of ``query`` as intermediate table ``name`` (replacing)."""
        ...

    def insert(self, name: str, query: str, params: Params = None) -> None:
        """Append the rows of ``query`` to intermediate table ``name``."""
        ...

    def delete(self, name: str, where: str, params: Params = None) -> None:
        """Remove the rows of table ``name`` for which ``where`` is true."""
        ...

    def drop(self, name: str) -> None:
        """Drop table, view or registered frame ``name`` if it exists."""
        ...

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:
        """Make an Arrow table (or polars frame) readable as ``name``."""
        ...

    def register_parquet(self, name: str, files: Sequence[Path]) -> None:
        """Make Parquet files readable as table ``name``."""
        ...

    def set(self, setting: str, value: Any) -> None:
        """Apply an engine setting."""
        ...

    def write_parquet(self, query: str, path: Path, params: Params = None) -> None:
        """Write the rows of ``query`` to the Parquet file or directory ``path``."""
        ...


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBEngine:
    """Run measure's SQL on a DuckDB connection, exactly as written.

    Parameters
    ----------
    con
        A DuckDB connection (a new in-memory one when ``None``).
    """

    name = "duckdb"

    def __init__(self, con: Any = None) -> None:
        import duckdb

        self.con = con if con is not None else duckdb.connect()

    def sql(self, query: str, params: Params = None) -> pl.DataFrame:  # noqa: D102
        return self.con.execute(query, params or []).pl()

    def execute(self, statement: str, params: Params = None) -> None:  # noqa: D102
        self.con.execute(statement, params or [])

    def create_table(self, name: str, query: str,  # noqa: D102
                     params: Params = None) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_quote(name)} AS\n{query}",
                         params or [])

    def insert(self, name: str, query: str, params: Params = None) -> None:  # noqa: D102
        self.con.execute(f"INSERT INTO {_quote(name)}\n{query}", params or [])

    def delete(self, name: str, where: str, params: Params = None) -> None:  # noqa: D102
        self.con.execute(f"DELETE FROM {_quote(name)} WHERE {where}", params or [])

    def drop(self, name: str) -> None:  # noqa: D102
        kind = self.con.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? UNION ALL "
            "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ?",
            [name, name]).fetchall()
        if kind:
            self.con.execute(f"DROP {kind[0][0]} IF EXISTS {_quote(name)}")
        else:
            self.con.unregister(name)

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:  # noqa: D102
        data = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        self.con.register(name, data)

    def register_parquet(self, name: str, files: Sequence[Path]) -> None:  # noqa: D102
        self.con.read_parquet([str(f) for f in files]).create_view(name, replace=True)

    def set(self, setting: str, value: Any) -> None:  # noqa: D102
        self.con.execute(f"SET {setting} = ?", [value])

    def write_parquet(self, query: str, path: Path,  # noqa: D102
                      params: Params = None) -> None:
        self.con.execute(query, params or []).pl().write_parquet(path)


class SparkEngine:
    """Run measure's SQL on Spark after translation (:func:`to_spark`).

    Parameters
    ----------
    session
        A ``pyspark.sql.SparkSession``; a local one (``local[2]``) when ``None``.
    run_dir
        Directory for intermediate tables (Parquet, one sub-directory per table
        and version); a temporary directory when ``None``.

    Raises
    ------
    EngineUnavailable
        When pyspark is not installed.
    UnsupportedOnSpark
        From any method, when a statement has no faithful Spark form.
    """

    name = "spark"

    def __init__(self, session: Any = None, run_dir: Path | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as e:
            raise EngineUnavailable(
                "the Spark engine needs pyspark (and Java 17+): "
                "pip install measure[spark]") from e
        self.spark = session or (SparkSession.builder.master("local[2]")
                                 .appName("measure").getOrCreate())
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="measure-spark-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._version: dict[str, int] = {}

    # -- helpers -------------------------------------------------------------------
    def _frame(self, spark_sql: str, params: Params) -> Any:
        args = dict(params) if isinstance(params, Mapping) else list(params or [])
        return self.spark.sql(spark_sql, args=args or None)

    def _store(self, name: str, df: Any, mode: str = "overwrite") -> None:
        if mode == "append" and name in self._version:
            path = self.run_dir / name / f"v{self._version[name]}"
        else:
            self._version[name] = self._version.get(name, 0) + 1
            path = self.run_dir / name / f"v{self._version[name]}"
        df.write.mode(mode).parquet(str(path))
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def _run(self, plan: SparkPlan, params: Params) -> pl.DataFrame | None:
        if plan.kind == "drop":
            self.spark.catalog.dropTempView(plan.target)
            return None
        if plan.kind == "view":
            self._frame(plan.sql, params)
            return None
        df = self._frame(plan.sql, params)
        if plan.kind == "query":
            if hasattr(df, "toArrow"):
                return pl.from_arrow(df.toArrow())
            return pl.from_pandas(df.toPandas())
        if plan.kind == "parquet":
            df.write.mode("overwrite").parquet(str(plan.target))
            return None
        self._store(str(plan.target), df,
                    "append" if plan.kind == "append" else "overwrite")
        return None

    # -- Engine ----------------------------------------------------------------------
    def sql(self, query: str, params: Params = None) -> pl.DataFrame:  # noqa: D102
        out = self._run(to_spark(query, "query"), params)
        if out is None:
            raise MeasureError("Engine.sql needs a query; use execute for statements")
        return out

    def execute(self, statement: str, params: Params = None) -> None:  # noqa: D102
        self._run(to_spark(statement, "statement"), params)

    def create_table(self, name: str, query: str,  # noqa: D102
                     params: Params = None) -> None:
        self._store(name, self._frame(to_spark(query, name).sql, params))

    def insert(self, name: str, query: str, params: Params = None) -> None:  # noqa: D102
        self._store(name, self._frame(to_spark(query, name).sql, params), "append")

    def delete(self, name: str, where: str, params: Params = None) -> None:  # noqa: D102
        self.execute(f"DELETE FROM {_quote(name)} WHERE {where}", params)

    def drop(self, name: str) -> None:  # noqa: D102
        self.spark.catalog.dropTempView(name)

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:  # noqa: D102
        data = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        path = self.run_dir / "_frames" / f"{name}-{secrets.token_hex(4)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path)
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def register_parquet(self, name: str, files: Sequence[Path]) -> None:  # noqa: D102
        self.spark.read.parquet(*[str(f) for f in files]).createOrReplaceTempView(name)

    def set(self, setting: str, value: Any) -> None:  # noqa: D102
        self.spark.conf.set(setting, value)

    def write_parquet(self, query: str, path: Path,  # noqa: D102
                      params: Params = None) -> None:
        self._frame(to_spark(query, "write_parquet").sql, params).write.mode(
            "overwrite").parquet(str(path))


def open_engine(engine: str = "duckdb", **options: Any) -> Engine:
    """Return an engine by name (``"duckdb"`` or ``"spark"``).

    Raises
    ------
    MeasureError
        For an unknown name.
    EngineUnavailable
        For ``"spark"`` without pyspark.
    """
    if engine == "duckdb":
        return DuckDBEngine(options.get("con"))
    if engine == "spark":
        return SparkEngine(options.get("session"), options.get("run_dir"))
    raise MeasureError(f"unknown engine {engine!r}; use 'duckdb' or 'spark'")


__all__ = ["DuckDBEngine", "Engine", "EngineUnavailable", "SparkEngine",
           "open_engine"]
