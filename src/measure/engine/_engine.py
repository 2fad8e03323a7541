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

import functools
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl
import pyarrow as pa

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

    def row(self, query: str, params: Params = None) -> tuple[Any, ...]:
        """Run a query and return its first row (a tuple of Python values)."""
        ...

    def scalar(self, query: str, params: Params = None) -> Any:
        """Run a query and return the first value of its first row."""
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

    def exists(self, name: str) -> bool:
        """Whether the intermediate table or view ``name`` exists."""
        ...

    def temporary(self, prefix: str) -> dict[str, str]:
        """Intermediate tables and views whose name starts with ``prefix``.

        Returns name -> ``"TABLE"`` or ``"VIEW"``.
        """
        ...

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:
        """Make an Arrow table (or polars frame) readable as ``name``."""
        ...

    def register_parquet(self, name: str, files: Sequence[Path | str]) -> None:
        """Make Parquet files readable as table ``name``."""
        ...

    def set(self, setting: str, value: Any) -> None:
        """Apply an engine setting."""
        ...

    def write_parquet(self, query: str, path: Path, params: Params = None) -> None:
        """Write the rows of ``query`` to the Parquet file or directory ``path``."""
        ...

    def close(self) -> None:
        """Release what the engine made (intermediate tables, its run directory)."""
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

    def row(self, query: str, params: Params = None) -> tuple[Any, ...]:  # noqa: D102
        return self.con.execute(query, params or []).fetchone()

    def scalar(self, query: str, params: Params = None) -> Any:  # noqa: D102
        return self.con.execute(query, params or []).fetchone()[0]

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
            "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? AND temporary "
            "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ? "
            "AND temporary", [name, name]).fetchall()
        if kind:
            self.con.execute(f"DROP {kind[0][0]} IF EXISTS {_quote(name)}")
        else:
            self.con.unregister(name)

    def exists(self, name: str) -> bool:  # noqa: D102
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
            [name]).fetchone()
        return bool(row and row[0])

    def temporary(self, prefix: str) -> dict[str, str]:  # noqa: D102
        rows = self.con.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary "
            "AND starts_with(table_name, ?) UNION ALL "
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE temporary "
            "AND starts_with(view_name, ?)", [prefix, prefix]).fetchall()
        return {str(n): str(k) for n, k in rows}

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:  # noqa: D102
        data = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        self.con.register(name, data)

    def register_parquet(self, name: str,  # noqa: D102
                         files: Sequence[Path | str]) -> None:
        self.con.read_parquet([str(f) for f in files]).create_view(name, replace=True)

    def set(self, setting: str, value: Any) -> None:  # noqa: D102
        self.con.execute(f"SET {setting} = ?", [value])

    def setting(self, setting: str) -> Any:
        """Return the current value of the DuckDB setting ``setting`` (a fixed name)."""
        return self.con.execute(f"SELECT current_setting('{setting}')").fetchone()[0]

    def write_parquet(self, query: str, path: Path,  # noqa: D102
                      params: Params = None) -> None:
        self.con.execute(query, params or []).pl().write_parquet(path)

    def close(self) -> None:
        """Nothing to release: the connection belongs to its owner."""


@functools.lru_cache(maxsize=512)
def _plan(sql: str, name: str) -> SparkPlan:
    return to_spark(sql, name)


def _join(base: str, *parts: str) -> str:
    """``base/part/...`` for a local directory or a URI (``hdfs://``, ``s3a://``)."""
    return "/".join([base.rstrip("/"), *parts])


class SparkEngine:
    """Run measure's SQL on Spark after translation (:func:`to_spark`).

    Parameters
    ----------
    session
        A ``pyspark.sql.SparkSession``; one from :func:`spark_session` when
        ``None``.
    run_dir
        Directory (or URI readable by every executor: ``hdfs://``, ``s3a://``, ...)
        for intermediate tables, one sub-directory per table and version; a
        local temporary directory, deleted on :meth:`close`, when ``None``.

    Raises
    ------
    EngineUnavailable
        When pyspark is not installed.
    UnsupportedOnSpark
        From any method, when a statement has no faithful Spark form.

    time_zone
        Time zone of the timestamps returned (by default DuckDB's, the
        system's): results read the same as from a DuckDB connection, whatever
        the session's time zone.
    """

    name = "spark"

    def __init__(self, session: Any = None, run_dir: str | Path | None = None,
                 time_zone: str | None = None) -> None:
        if session is None:
            session = spark_session()
        self.spark = session
        self.time_zone = time_zone or duckdb_time_zone()
        self._own_dir = run_dir is None
        base = tempfile.mkdtemp(prefix="measure-spark-") if run_dir is None else \
            str(run_dir)
        if "://" not in base:
            Path(base).mkdir(parents=True, exist_ok=True)
        #: Where this engine's intermediate tables live (one run per engine).
        self.run_dir = _join(base, f"run-{secrets.token_hex(4)}") if not \
            self._own_dir else base
        if "://" not in self.run_dir:  # also when the engine is never closed
            weakref.finalize(self, shutil.rmtree, self.run_dir, ignore_errors=True)
        self._version: dict[str, int] = {}
        #: Parquet directories of each stored table (a version and its appends).
        self._paths: dict[str, list[str]] = {}
        self._views: set[str] = set()

    # -- helpers -------------------------------------------------------------------
    def _frame(self, spark_sql: str, params: Params) -> Any:
        if isinstance(params, Mapping):
            args: Any = dict(params)
        else:
            args = [_spark_value(v) for v in (params or [])]
        return self.spark.sql(spark_sql, args=args or None)

    def _store(self, name: str, df: Any, mode: str = "overwrite") -> None:
        """Write ``df`` as table ``name`` (a new version), or append its rows.

        Every write goes to a new directory (appended rows to their own), so a
        statement may read the table it replaces or appends to.
        """
        self._version[name] = self._version.get(name, 0) + 1
        path = _join(self.run_dir, name, f"v{self._version[name]}")
        df.write.mode("overwrite").parquet(path)
        if mode == "append" and name in self._paths:
            self._paths[name].append(path)
        else:
            self._paths[name] = [path]
        self.spark.read.parquet(*self._paths[name]).createOrReplaceTempView(name)
        self._views.add(name)

    def _collect(self, df: Any) -> pl.DataFrame:
        out = pl.from_arrow(df.toArrow())
        assert isinstance(out, pl.DataFrame)
        fix = [pl.col(c).dt.convert_time_zone(self.time_zone)
               for c, t in out.schema.items()
               if isinstance(t, pl.Datetime) and t.time_zone not in (
                   None, self.time_zone)]
        return out.with_columns(fix) if fix else out

    def _run(self, plan: SparkPlan, params: Params) -> pl.DataFrame | None:
        if plan.kind == "drop":
            self.drop(str(plan.target))
            return None
        if plan.kind == "view":
            self._frame(plan.sql, params)
            self._views.add(str(plan.target))
            self._paths.pop(str(plan.target), None)
            return None
        df = self._frame(plan.sql, params)
        if plan.kind == "query":
            return self._collect(df)
        if plan.kind == "parquet":
            df.write.mode("overwrite").parquet(str(plan.target))
            return None
        self._store(str(plan.target), df,
                    "append" if plan.kind == "append" else "overwrite")
        return None

    # -- Engine ----------------------------------------------------------------------
    def sql(self, query: str, params: Params = None) -> pl.DataFrame:  # noqa: D102
        out = self._run(_plan(query, "query"), params)
        if out is None:
            raise MeasureError("Engine.sql needs a query; use execute for statements")
        return out

    def row(self, query: str, params: Params = None) -> tuple[Any, ...]:  # noqa: D102
        return self.sql(query, params).row(0)

    def scalar(self, query: str, params: Params = None) -> Any:  # noqa: D102
        return self.row(query, params)[0]

    def execute(self, statement: str, params: Params = None) -> None:  # noqa: D102
        self._run(_plan(statement, "statement"), params)

    def create_table(self, name: str, query: str,  # noqa: D102
                     params: Params = None) -> None:
        self._store(name, self._frame(_plan(query, name).sql, params))

    def insert(self, name: str, query: str, params: Params = None) -> None:  # noqa: D102
        self._store(name, self._frame(_plan(query, name).sql, params), "append")

    def delete(self, name: str, where: str, params: Params = None) -> None:  # noqa: D102
        self.execute(f"DELETE FROM {_quote(name)} WHERE {where}", params)

    def drop(self, name: str) -> None:  # noqa: D102
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)
        self._paths.pop(name, None)

    def exists(self, name: str) -> bool:  # noqa: D102
        return bool(self.spark.catalog.tableExists(name))

    def temporary(self, prefix: str) -> dict[str, str]:
        """Temporary views this engine made whose name starts with ``prefix``.

        Returns name -> ``"TABLE"`` (stored rows) or ``"VIEW"``; views made
        outside the engine on the same session are not listed.
        """
        return {n: ("TABLE" if n in self._paths else "VIEW")
                for n in sorted(self._views) if n.startswith(prefix)}

    def register(self, name: str, frame: pa.Table | pl.DataFrame) -> None:  # noqa: D102
        data = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        self.spark.createDataFrame(data).createOrReplaceTempView(name)
        self._views.add(name)

    def register_parquet(self, name: str,  # noqa: D102
                         files: Sequence[Path | str]) -> None:
        self.spark.read.parquet(*[str(f) for f in files]).createOrReplaceTempView(name)
        self._views.add(name)

    def set(self, setting: str, value: Any) -> None:  # noqa: D102
        self.spark.conf.set(setting, value)

    def write_parquet(self, query: str, path: Path,  # noqa: D102
                      params: Params = None) -> None:
        self._frame(_plan(query, "write_parquet").sql, params).write.mode(
            "overwrite").parquet(str(path))

    def close(self) -> None:
        """Drop this engine's temporary views and delete its local run directory.

        A run directory on a URI (``hdfs://``, ``s3a://``) is left in place.
        """
        for name in list(self._views):
            self.drop(name)
        if "://" not in self.run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def duckdb_time_zone(con: Any = None) -> str:
    """Return the time zone DuckDB returns timestamps in (``con``'s, or a new one's)."""
    import duckdb

    query = "SELECT current_setting('TimeZone')"
    if con is not None:
        return str(con.execute(query).fetchone()[0])
    with duckdb.connect() as fresh:
        return str(fresh.execute(query).fetchone()[0])


def _spark_value(value: Any) -> Any:
    """Return a bound value as Spark takes it (lists as arrays; others unchanged)."""
    if isinstance(value, tuple):
        return list(value)
    return value


#: Settings of a session that :func:`spark_session` creates, unless given: no
#: progress bars on the console (they would mix with the command's output).
SESSION_DEFAULTS = {"spark.ui.showConsoleProgress": "false"}


def spark_session(conf: Mapping[str, str] | None = None, *,
                  app_name: str = "measure") -> Any:
    """Return the active Spark session, or build one with ``conf``.

    Parameters
    ----------
    conf
        Spark settings (``{"spark.master": "local[2]", ...}``). Without
        ``spark.master`` the session runs where ``spark-submit`` (or
        ``PYSPARK_SUBMIT_ARGS``) says, else on all local cores. They are applied
        to an active session too (runtime settings only).
    app_name
        The application name of a new session.

    Raises
    ------
    EngineUnavailable
        When pyspark (or Java) is missing.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise EngineUnavailable(
            "the Spark engine needs pyspark (and Java 17+): "
            "pip install measure[spark]") from e
    conf = dict(conf or {})
    active = SparkSession.getActiveSession()
    if active is not None:
        for k, v in conf.items():
            if not k.startswith(("spark.master", "spark.driver.", "spark.executor.")):
                active.conf.set(k, v)
        return active
    builder = SparkSession.builder.appName(app_name)
    for k, v in {**SESSION_DEFAULTS, **conf}.items():
        builder = builder.config(k, v)
    if not shutil.which("java") and not _java_home():
        raise EngineUnavailable("the Spark engine needs Java 17+ (no `java` on the "
                                "PATH and no JAVA_HOME): install a JDK 17")
    return builder.getOrCreate()


def _java_home() -> str | None:
    import os

    return os.environ.get("JAVA_HOME") or None


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
        session = options.get("session")
        if session is None:
            session = spark_session(options.get("conf"))
        return SparkEngine(session, options.get("run_dir"))
    raise MeasureError(f"unknown engine {engine!r}; use 'duckdb' or 'spark'")


__all__ = ["SESSION_DEFAULTS", "DuckDBEngine", "Engine", "EngineUnavailable",
           "SparkEngine", "open_engine", "spark_session"]
