"""Open a dataset directory, validate it against the contract, expose DuckDB views.

Tables are read in place (``read_parquet`` views on one DuckDB connection); nothing is
copied into memory until a query asks for it. With ``engine="spark"`` the tables are
also registered with a Spark session (temporary views of the same names), and the
families that run on Spark query them there (see docs/spark.md).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

from measure.dataset._contract import (
    BOOL,
    FLOAT,
    ID,
    INT,
    REQUIRED_FOR,
    STR,
    TABLES,
    TS,
    Column,
    type_class,
)
from measure.engine._location import Location, check_family, parse_location
from measure.errors import ConfigError, DataContractError, PinMismatchError
from measure.options import validate_option

if TYPE_CHECKING:
    import polars as pl

#: How much of the contract :class:`Dataset` checks on opening (default first).
Validate = Literal["schema", "full", "none"]
#: The level :func:`measure.open` and the command line use unless told otherwise.
DEFAULT_VALIDATE: Validate = "schema"
#: The open dataset whose tables each SparkSession holds (by the session's id).
_SPARK_OWNERS: dict[int, weakref.ref[Dataset]] = {}
# Folders in a dataset that are never tables: simulation truth is for tests only.
RESERVED = frozenset({"truth"})
MANIFEST = "manifest.json"


def table_files(root: Path, name: str) -> list[Path] | None:
    """Return the Parquet files of table ``name`` in ``root`` (sorted), or ``None``."""
    single = root / f"{name}.parquet"
    folder = root / name
    if single.is_file():
        return [single]
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
        if not files:
            raise DataContractError(
                "the table directory holds no .parquet files; remove the empty "
                "directory or write the table into it",
                table=name,
                file=str(folder),
            )
        return files
    return None


class Dataset:
    """A dataset on the data contract, queried with DuckDB (or Spark).

    Use :func:`measure.open` rather than building this directly.

    Parameters
    ----------
    path
        The dataset directory.
    validate
        ``"schema"`` (default) reads the Parquet footers only: required columns,
        types, one account-id type, and what the footers' statistics show (nulls
        in required columns, values outside the allowed ones, infinite
        timestamps; the error names the file, column and row group).
        ``"full"`` also scans every row: nulls, allowed values and finite
        timestamps row by row (the error names the file, row and column), and
        unique keys. ``"none"`` skips the checks.
    require
        Tables (or an analysis name from ``REQUIRED_FOR``) that must be present.
    memory_limit, threads
        Passed to DuckDB (``None`` keeps DuckDB's defaults).
    naive_timestamps_are_utc
        Accept timestamps without a time zone as UTC (default: as the manifest
        says).
    engine
        ``"duckdb"`` (default), ``"spark"`` (a session from
        :func:`measure.engine.spark_session` with ``spark_conf``) or a
        ``pyspark.sql.SparkSession``. With Spark, the census and churn families
        run their SQL on Spark; the others raise
        :class:`~measure.engine.UnsupportedOnSpark`. A URI path (``s3a://``,
        ``abfss://``, ``hdfs://``, ``file://``) needs Spark.
    spark_conf
        Settings of the Spark session measure builds (``engine="spark"``).
    checkpoint_dir
        Where Spark stores intermediate tables (a directory or URI every executor
        reaches); a local temporary directory by default.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        validate: Validate = DEFAULT_VALIDATE,
        require: Iterable[str] = (),
        memory_limit: str | None = None,
        threads: int | None = None,
        naive_timestamps_are_utc: bool | None = None,
        engine: Any = "duckdb",
        spark_conf: Mapping[str, str] | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        validate_option("validate", validate, Validate)
        self.location: Location = parse_location(path)
        self.path = Path(path)
        #: The integrity check of a pinned dataset (set by :func:`open_dataset`).
        self.integrity: Any = None
        #: Warnings every result computed from this dataset must carry (e.g. data
        #: that differ from their pinned version, opened with ``allow_modified``).
        self.warnings: list[str] = []
        self._engine: Any = None
        self._spark = _spark_engine_wanted(engine)
        if self.location.remote:
            self._open_remote(engine, spark_conf, checkpoint_dir, validate,
                              naive_timestamps_are_utc)
            self.require(*require)
            return
        if not self.path.is_dir():
            raise DataContractError(
                "is not a directory; a dataset is a directory of Parquet tables "
                "(see docs/data-contract.md)",
                file=str(self.path),
            )
        self.manifest: dict[str, Any] | None = _read_manifest(self.path / MANIFEST)
        if naive_timestamps_are_utc is None:
            naive_timestamps_are_utc = bool(
                self.manifest and self.manifest.get("timestamps") == "naive-utc"
            )
        self._naive_utc = naive_timestamps_are_utc
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        self._con = duckdb.connect(config=config)
        # No progress-bar widgets in notebooks or logs; our own bars live in the CLI.
        self._con.execute("SET enable_progress_bar = false")
        self.files: dict[str, list[Path]] = {}
        for name in TABLES:
            files = table_files(self.path, name)
            if files is not None:
                self.files[name] = files
        # Extra (non-contract) parquet tables are exposed too: frame, population, ...
        for p in sorted(self.path.iterdir()):
            stem = p.name.removesuffix(".parquet")
            if stem in self.files or stem in RESERVED or stem.startswith((".", "_")):
                continue
            if (p.is_file() and p.suffix == ".parquet") or (
                p.is_dir() and any(p.rglob("*.parquet"))
            ):
                files = table_files(self.path, stem)
                if files:
                    self.files[stem] = files
        for name, files in self.files.items():
            self._relation(name, files).create_view(name, replace=True)
        if validate != "none":
            self._validate(full=validate == "full")
        self.require(*require)
        self._attach_engine(engine, spark_conf, checkpoint_dir)

    # -- engines -----------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (only with the DuckDB engine).

        Raises
        ------
        UnsupportedOnSpark
            On a dataset opened with ``engine="spark"``: a family that reads the
            connection runs on DuckDB only.
        """
        if self._spark:
            from measure.engine._errors import UnsupportedOnSpark

            check_family("Dataset.con")
            raise UnsupportedOnSpark("Dataset.con", "the DuckDB connection",
                                     "the dataset was opened with engine='spark'; "
                                     "query it with Dataset.sql or Dataset.engine")
        return self._con

    @property
    def engine(self) -> Any:
        """The engine the families that run on this dataset query (``ds.engine.name``).

        A ``DuckDBEngine`` on :attr:`con` (made on first use), or the Spark engine
        holding the tables with ``engine="spark"`` (``None`` once that is closed).
        """
        if self._engine is None and not self._spark and self._con is not None:
            from measure.engine._engine import DuckDBEngine

            self._engine = DuckDBEngine(self._con)
        return self._engine

    @engine.setter
    def engine(self, value: Any) -> None:
        self._engine = value

    def _attach_engine(self, engine: Any, conf: Mapping[str, str] | None,
                       checkpoint_dir: str | os.PathLike[str] | None) -> None:
        """Start Spark with the tables; the DuckDB engine is made on first use."""
        if not self._spark:
            return
        self._start_spark(engine, conf, checkpoint_dir)
        for name, files in self.files.items():
            self._register_spark(name, [str(f) for f in files])

    def _start_spark(self, engine: Any, conf: Mapping[str, str] | None,
                     checkpoint_dir: str | os.PathLike[str] | None) -> None:
        from measure.engine._engine import SparkEngine, duckdb_time_zone, spark_session

        session = spark_session(conf) if isinstance(engine, str) else engine
        owner = _SPARK_OWNERS.get(id(session))
        other = owner() if owner is not None else None
        if other is not None and other.engine is not None and other is not self:
            raise ConfigError(
                f"the SparkSession already holds the tables of the open dataset "
                f"'{other.location.uri}' (temporary views are per SparkSession); "
                "close it first, or open this one with engine=spark.newSession()")
        # results in the time zone the DuckDB connection would return them in
        self.engine = SparkEngine(session, checkpoint_dir,
                                  time_zone=duckdb_time_zone(self._con))
        _SPARK_OWNERS[id(session)] = weakref.ref(self)

    def _register_spark(self, name: str, files: list[str]) -> None:
        """Register table ``name`` (its Parquet files) as a Spark temporary view."""
        reader = self.engine.spark.read
        if len(files) > 1:
            reader = reader.option("mergeSchema", "true")
        base = self.location.child(name) if self.location.remote else str(
            self.path / name)
        if any("=" in part for f in files for part in f[len(base):].split("/")[:-1]):
            reader = reader.option("basePath", base)
        reader.parquet(*files).createOrReplaceTempView(name)
        self.engine._views.add(name)

    def _open_remote(self, engine: Any, conf: Mapping[str, str] | None,
                     checkpoint_dir: str | os.PathLike[str] | None,
                     validate: Validate, naive_utc: bool | None) -> None:
        """Open a dataset at a URI: tables listed and read by Spark only."""
        from measure.engine._errors import UnsupportedOnSpark
        from measure.engine._location import list_tables, path_exists

        if not self._spark:
            raise DataContractError(
                f"'{self.location.uri}' is a {self.location.scheme}:// location, "
                "which only Spark reads; open it with engine='spark'")
        if validate == "full":
            raise UnsupportedOnSpark(
                "Dataset", "validate='full' on a remote dataset",
                "the full contract checks scan the tables with DuckDB; open "
                f"'{self.location.uri}' with validate='schema' (or validate a "
                "local copy once)")
        self.manifest = None
        self._naive_utc = bool(naive_utc)
        self._con = None
        self._start_spark(engine, conf, checkpoint_dir)
        tables = list_tables(self.engine.spark, self.location)
        if path_exists(self.engine.spark, self.location.child(MANIFEST)):
            self.warnings.append(
                f"'{self.location.uri}' holds a manifest, but the pin of a remote "
                "dataset is not checked; verify a local copy with `measure verify`")
        self.files = {n: [u] for n, u in tables.items()}  # type: ignore[misc]
        for name, uri in tables.items():
            self.engine.spark.read.parquet(uri).createOrReplaceTempView(name)
            self.engine._views.add(name)
        if validate != "none":
            self._validate(full=False)

    # -- reading -----------------------------------------------------------------
    def _relation(
        self, name: str, files: Sequence[Path], *, locate: bool = False
    ) -> duckdb.DuckDBPyRelation:
        hive = any(f.parent != self.path and "=" in f.parent.name for f in files)
        return self._con.read_parquet(
            [str(f) for f in files],
            hive_partitioning=hive,
            union_by_name=len(files) > 1,
            filename=locate,
            file_row_number=locate,
        )

    @property
    def tables(self) -> list[str]:
        """Names of the tables present."""
        return list(self.files)

    def has(self, name: str) -> bool:
        """Whether table ``name`` is present."""
        return name in self.files

    def columns(self, name: str) -> list[str]:
        """Column names of table ``name``."""
        return self.table(name).columns

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` exists and has ``column``."""
        return self.has(table) and column in self.columns(table)

    def table(self, name: str) -> Any:
        """Lazy DuckDB relation over table ``name``.

        On a dataset opened with ``engine="spark"``: its schema only
        (:class:`TableSchema`, ``columns`` and DuckDB ``types``).
        """
        if name not in self.files:
            raise DataContractError(
                f"table is missing from the dataset at '{self.path}'; present: "
                f"{', '.join(self.tables) or 'none'}",
                table=name,
            )
        if self._spark:
            return self._schema(name)
        return self._con.table(name)

    def _schema(self, name: str) -> TableSchema:
        if self._con is not None:
            rel = self._con.table(name)
            return TableSchema(list(rel.columns), [str(t) for t in rel.types])
        fields = self.engine.spark.table(name).schema.fields
        return TableSchema([f.name for f in fields],
                           [spark_type_name(f.dataType) for f in fields])

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None
            ) -> pl.DataFrame:
        """Run ``query`` (with bound ``params``) and return a polars DataFrame.

        With ``engine="spark"`` the query (DuckDB's dialect) is translated and
        run on Spark.
        """
        if self._spark:
            check_family("Dataset.sql")
            return self.engine.sql(query, params)
        return self._con.execute(query, params or []).pl()

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None
                ) -> duckdb.DuckDBPyConnection:
        """Run ``query`` with bound ``params`` and return the cursor.

        Raises
        ------
        UnsupportedOnSpark
            With ``engine="spark"`` (use :meth:`sql` or ``Dataset.engine``).
        """
        if self._spark:
            from measure.engine._errors import UnsupportedOnSpark

            check_family("Dataset.execute")
            raise UnsupportedOnSpark("Dataset.execute", "a DuckDB cursor",
                                     "the dataset was opened with engine='spark'; "
                                     "use Dataset.sql or Dataset.engine")
        return self._con.execute(query, params or [])

    def require(self, *names: str) -> None:
        """Raise ``DataContractError`` unless every named table (or analysis) exists."""
        needed: list[str] = []
        for n in names:
            needed.extend(REQUIRED_FOR.get(n, (n,)))
        missing = [n for n in dict.fromkeys(needed) if n not in self.files]
        if missing:
            raise DataContractError(
                f"required table(s) missing: {', '.join(missing)} (dataset "
                f"'{self.path}' has {', '.join(self.tables) or 'no tables'}); add "
                f"them as <name>.parquet or <name>/ folders (see the data contract)",
                table=missing[0],
            )

    @property
    def id_type(self) -> str | None:
        """``'int'`` or ``'str'``: the dataset's ``account_id`` type class."""
        for name in ("accounts", "observations", "edges", "detections"):
            if name in self.files:
                col = "src" if name == "edges" else "account_id"
                rel = self.table(name)
                return type_class(str(rel.types[rel.columns.index(col)]))
        return None

    @property
    def digest(self) -> str | None:
        """The pinned digest recorded in the manifest, if any."""
        return self.manifest.get("digest") if self.manifest else None

    @property
    def name(self) -> str:
        """The dataset name (manifest, else directory name)."""
        if self.manifest and self.manifest.get("name"):
            return str(self.manifest["name"])
        return self.path.name

    def close(self) -> None:
        """Close the DuckDB connection (and release the Spark engine's tables)."""
        if self._spark and self.engine is not None:
            self.engine.close()
            _SPARK_OWNERS.pop(id(self.engine.spark), None)
            self.engine = None
        if self._con is not None:
            self._con.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Dataset {self.name} at {self.path}: {', '.join(self.tables)}>"

    # -- validation --------------------------------------------------------------
    def _example(self, name: str, where: str, params: list[Any]) -> dict[str, Any]:
        rel = self._relation(name, self.files[name], locate=True)
        rel.create_view("__check", replace=True)
        row = self._con.execute(
            f"SELECT * FROM __check WHERE {where} LIMIT 1", params
        ).fetchone()
        cols = [d[0] for d in self._con.description]
        self._con.execute("DROP VIEW IF EXISTS __check")
        out = dict(zip(cols, row, strict=True)) if row else {}
        if "file_row_number" in out:
            out["row"] = out.pop("file_row_number")
        return out

    def _fail(self, name: str, col: str, msg: str, where: str | None = None,
              params: list[Any] | None = None) -> None:
        example = self._example(name, where, params or []) if where else None
        file = None
        if example and "filename" in example:
            file = example.pop("filename")
        elif len(self.files[name]) == 1:
            file = str(self.files[name][0])
        raise DataContractError(msg, table=name, column=col, example=example,
                                file=file)

    def _validate(self, *, full: bool) -> None:  # noqa: C901
        id_types: dict[str, tuple[str, str]] = {}
        for name, spec in TABLES.items():
            if name not in self.files:
                continue
            rel = self.table(name)
            types = {c: str(t).upper() for c, t in zip(rel.columns, rel.types,
                                                        strict=True)}
            for col in spec.columns:
                if col.name not in types:
                    if col.required:
                        raise DataContractError(
                            f"required column is missing (columns present: "
                            f"{', '.join(rel.columns)}); rename or add it",
                            table=name, column=col.name,
                            file=str(self.files[name][0]),
                        )
                    continue
                got = type_class(types[col.name])
                ok = {
                    ID: got in (INT, STR),
                    STR: got == STR,
                    INT: got == INT,
                    FLOAT: got in (FLOAT, INT),
                    BOOL: got == BOOL,
                    TS: got == TS or (got == "timestamp_naive" and self._naive_utc),
                }[col.kind]
                if not ok:
                    if col.kind == TS and got == "timestamp_naive":
                        msg = (
                            "timestamp has no time zone; write it as UTC-aware "
                            "(TIMESTAMP WITH TIME ZONE) or declare naive timestamps "
                            "as UTC with \"timestamps\": \"naive-utc\" in the manifest"
                        )
                    else:
                        msg = (f"has type {types[col.name]}, expected "
                               f"{_expected(col.kind)}; cast it when writing the table")
                    raise DataContractError(msg, table=name, column=col.name,
                                            file=str(self.files[name][0]))
                if col.kind == ID:
                    id_types[f"{name}.{col.name}"] = (got, types[col.name])
        classes = {v[0] for v in id_types.values()}
        if len(classes) > 1:
            first = next(iter(id_types.items()))
            other = next(k for k, v in id_types.items() if v[0] != first[1][0])
            t, c = other.split(".")
            raise DataContractError(
                f"account id type {id_types[other][1]} differs from "
                f"{first[0]} ({first[1][1]}); use one type (BIGINT or VARCHAR) for "
                "account ids in every table",
                table=t, column=c, file=str(self.files[t][0]),
            )
        if not full:
            if self._con is not None:  # a remote dataset's footers are not read
                self._check_footers()
            return
        for name, spec in TABLES.items():
            if name not in self.files:
                continue
            present = set(self.columns(name))
            for col in spec.columns:
                if col.name not in present:
                    continue
                q = f'"{col.name}"'
                if col.not_null:
                    n = self._con.execute(
                        f"SELECT count(*) FROM {name} WHERE {q} IS NULL").fetchone()[0]
                    if n:
                        self._fail(name, col.name,
                                   f"{n} row(s) have a null value in a required "
                                   "column; fill or drop them before analysis",
                                   f"{q} IS NULL")
                if col.allowed is not None:
                    allowed = list(col.allowed)
                    bad = self._con.execute(
                        f"SELECT {q}, count(*) FROM {name} WHERE {q} IS NOT NULL AND "
                        f"NOT list_contains(?::VARCHAR[], {q}) GROUP BY 1 "
                        f"ORDER BY 2 DESC LIMIT 5",
                        [allowed],
                    ).fetchall()
                    if bad:
                        self._fail(
                            name, col.name,
                            f"value(s) {[b[0] for b in bad]} not allowed; allowed "
                            f"values are {allowed}",
                            f"{q} IS NOT NULL AND NOT list_contains(?::VARCHAR[], {q})",
                            [allowed],
                        )
            self._check_finite(name, [c for c in spec.columns
                                      if c.kind == TS and c.name in present])
            for ucol in spec.unique:
                dup = self._con.execute(
                    f'SELECT "{ucol}" FROM {name} GROUP BY 1 HAVING count(*) > 1 '
                    "LIMIT 1"
                ).fetchone()
                if dup:
                    self._fail(name, ucol,
                               f"values must be unique; {dup[0]!r} appears more than "
                               "once (collapse duplicate records first)",
                               f'"{ucol}" = ?', [dup[0]])

    def _check_finite(self, name: str, cols: list[Column]) -> None:
        """Reject infinite timestamps (one scan of the table for all its columns).

        DuckDB reads ``infinity`` / ``-infinity`` timestamps from Parquet; they are
        no time anything was seen, make an account never fall in a window, and
        polars cannot hold them.
        """
        if not cols:
            return
        counts = self._con.execute(
            "SELECT " + ", ".join(
                f'count(*) FILTER (WHERE NOT isfinite("{c.name}"))' for c in cols)
            + f" FROM {name}").fetchone()
        for col, n in zip(cols, counts, strict=True):
            if not n:
                continue
            q = f'"{col.name}"'
            value = self._con.execute(
                f"SELECT CAST({q} AS VARCHAR) FROM {name} WHERE NOT isfinite({q}) "
                "LIMIT 1").fetchone()[0]
            fix = ("write the real time" if col.not_null
                   else "write the real time, or null where it is unknown")
            self._fail(name, col.name,
                       f"{n} row(s) have an infinite timestamp (such as "
                       f"{value!r}); {fix}", f"NOT isfinite({q})")

    def _check_footers(self) -> None:
        """Check what the Parquet footers of the contract tables prove (no scan).

        For every row group, the statistics give the number of nulls and the
        smallest and largest value of each column: a null in a required column,
        a smallest or largest value outside the allowed ones, or an infinite
        timestamp is a violation without reading a row. A file of a table held in
        several files that lacks a required column has nulls there. Files or
        columns written without statistics are not checked here, nor is a
        violation the statistics cannot show (a disallowed value between two
        allowed ones, a duplicate key): full validation scans the rows.
        """
        for name, spec in TABLES.items():
            if name not in self.files:
                continue
            present = set(self.columns(name))
            cols = [c for c in spec.columns if c.name in present
                    and (c.not_null or c.allowed is not None or c.kind == TS)]
            if cols:
                for file in self.files[name]:
                    _check_file_footer(name, file, cols, self.path / name)


def _check_file_footer(table: str, file: Path, cols: list[Column],
                       folder: Path) -> None:
    """Check one Parquet file's footer for the contract columns ``cols``."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(file)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    # columns a hive-partitioned table takes from its folder names, not the file
    keys = {part.split("=", 1)[0] for part in file.relative_to(folder).parts[:-1]
            if "=" in part} if file.is_relative_to(folder) else set()
    for col in cols:
        i = index.get(col.name)
        if i is None:
            if col.not_null and col.name not in keys and meta.num_rows:
                raise DataContractError(
                    f"the file has no such column, so its {meta.num_rows} row(s) "
                    "have a null value in a required column; write the column in "
                    "every file of the table",
                    table=table, column=col.name, file=str(file))
            continue
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(i).statistics
            if stats is None:
                continue
            problem = _footer_problem(col, stats)
            if problem:
                raise DataContractError(f"row group {group} {problem}", table=table,
                                        column=col.name, file=str(file))


#: Raw Parquet values of DuckDB's ``infinity`` and ``-infinity`` timestamps.
_INFINITE_RAW = {2**63 - 1: "infinity", -(2**63 - 1): "-infinity"}


def _footer_problem(col: Column, stats: Any) -> str | None:
    """Return what one row group's statistics of ``col`` prove wrong, or ``None``."""
    if col.not_null and stats.has_null_count and stats.null_count:
        return (f"has {stats.null_count} row(s) with a null value in a required "
                "column (from the file's statistics); fill or drop them before "
                "analysis")
    if not stats.has_min_max:
        return None
    if col.kind == TS:
        for raw in (stats.min_raw, stats.max_raw):
            if isinstance(raw, int) and raw in _INFINITE_RAW:
                return (f"holds an infinite timestamp ({_INFINITE_RAW[raw]!r}, "
                        "from the file's statistics); write the real time (full "
                        "validation, measure.open(path, validate='full'), names "
                        "the row)")
    if col.allowed is not None:
        try:
            values = (stats.min, stats.max)
        except ValueError:  # statistics pyarrow cannot decode prove nothing
            return None
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and value not in col.allowed:
                return (f"holds the value {value!r}, which is not allowed (from "
                        f"the file's statistics); allowed values are "
                        f"{list(col.allowed)}")
    return None


def _read_manifest(mpath: Path) -> dict[str, Any] | None:
    if not mpath.is_file():
        return None
    try:
        return json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise DataContractError(
            f"manifest is not valid JSON ({e}); re-run `measure pin`",
            file=str(mpath),
        ) from e


class TableSchema:
    """Column names and DuckDB type names of a table (no data access).

    Parameters
    ----------
    columns, types
        Names and types, in order.
    """

    def __init__(self, columns: list[str], types: list[str]) -> None:
        self.columns = columns
        self.types = types


#: DuckDB names of Spark's types (``pyspark.sql.types`` class names).
_SPARK_TYPES = {"LongType": "BIGINT", "IntegerType": "INTEGER", "ShortType":
                "SMALLINT", "ByteType": "TINYINT", "StringType": "VARCHAR",
                "DoubleType": "DOUBLE", "FloatType": "FLOAT", "BooleanType":
                "BOOLEAN", "TimestampType": "TIMESTAMP WITH TIME ZONE",
                "TimestampNTZType": "TIMESTAMP", "DateType": "DATE",
                "BinaryType": "BLOB"}


def spark_type_name(dtype: Any) -> str:
    """DuckDB's name of a Spark data type (``DECIMAL(p,s)``; others upper case)."""
    cls = type(dtype).__name__
    if cls == "DecimalType":
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    return _SPARK_TYPES.get(cls, dtype.simpleString().upper())


def _spark_engine_wanted(engine: Any) -> bool:
    if engine == "duckdb" or engine is None:
        return False
    if engine == "spark" or not isinstance(engine, str):
        return True
    raise ConfigError(f"unknown engine {engine!r}; use 'duckdb', 'spark' or a "
                      "SparkSession")


def _expected(kind: str) -> str:
    return {
        ID: "BIGINT or VARCHAR",
        STR: "VARCHAR",
        INT: "an integer type",
        FLOAT: "DOUBLE",
        BOOL: "BOOLEAN",
        TS: "TIMESTAMP WITH TIME ZONE (UTC)",
    }[kind]


def open_dataset(  # noqa: PLR0913
    path: str | os.PathLike[str],
    *,
    digest: str | None = None,
    validate: Validate = DEFAULT_VALIDATE,
    require: Iterable[str] = (),
    allow_modified: bool = False,
    verify: bool = False,
    ignore: Iterable[str] = (),
    **kwargs: Any,
) -> Dataset:
    """Open and validate a dataset; a pinned one must still match its manifest.

    A pinned dataset (one with a ``manifest.json`` digest) is checked before it
    is opened: by default quickly, comparing each file's size and modification
    time with the manifest and re-hashing only the files that differ
    (:func:`measure.dataset.check_dataset`); with ``verify=True`` by re-hashing
    every file. Files changed, truncated, added or removed refuse the open,
    naming each file with expected versus got, unless ``allow_modified=True``.
    Unpinned datasets are not checked.

    Parameters
    ----------
    path
        The dataset directory.
    digest
        ``sha256:<hex>``, ``<hex>`` or ``name@sha256:<hex>``. When given, every file is
        re-hashed and must match both the manifest and this digest.
    validate, require
        See :class:`Dataset`.
    allow_modified
        Open a pinned dataset whose files differ from its manifest anyway: a
        :class:`~measure.errors.ModifiedDatasetWarning` is issued and the warning
        is kept in ``Dataset.warnings`` (the command line prints it with every
        result and the report shows it at the top).
    verify
        Re-hash every file instead of the fast check.
    ignore
        Relative paths inside the dataset that are not data (a report written
        into the directory); not counted as unexpected files.
    **kwargs
        Passed to :class:`Dataset`: ``engine="spark"`` (or a SparkSession),
        ``spark_conf``, ``checkpoint_dir``, ``memory_limit``, ``threads``, ...
        A ``path`` that is a URI (``s3a://``, ``abfss://``, ``hdfs://``) is
        opened with Spark only, unpinned (``digest``/``verify`` are refused).

    Raises
    ------
    DataContractError
        The dataset breaks the contract.
    PinMismatchError
        The content differs from ``digest``, or from the manifest of a pinned
        dataset and ``allow_modified`` is false (says expected versus got).
    """
    from measure.dataset._pin import check_dataset

    if parse_location(path).remote:
        return _open_remote(path, digest=digest, verify=verify, validate=validate,
                            require=require, **kwargs)
    if digest is not None:
        from measure.dataset._pin import verify_dataset

        report = verify_dataset(path)
        want = digest.split("sha256:")[-1]
        if not report.ok:
            raise PinMismatchError(report.text(), differences=report.differences)
        if report.digest != want:
            raise PinMismatchError(
                f"dataset '{path}': expected digest sha256:{want} but got "
                f"sha256:{report.digest}; you are not reading the pinned data",
                differences=[{"kind": "digest", "expected": want,
                              "got": report.digest}],
            )
    integrity = check_dataset(path, full=verify, hash_changed=False,
                              ignore=frozenset(ignore))
    notes: list[str] = []
    if not integrity.ok:
        if not allow_modified:
            raise PinMismatchError(integrity.refusal(),
                                   differences=integrity.differences)
        import warnings

        from measure.errors import ModifiedDatasetWarning

        notes.append(integrity.warning())
        warnings.warn(notes[0], ModifiedDatasetWarning, stacklevel=2)
    try:
        ds = Dataset(path, validate=validate, require=require, **kwargs)
    except (duckdb.Error, OSError) as e:
        if integrity.ok:
            raise
        raise PinMismatchError(
            f"{integrity.warning()}; and the modified data cannot be read: {e}",
            differences=integrity.differences) from e
    ds.integrity = integrity
    ds.warnings = notes
    return ds


def _open_remote(path: str | os.PathLike[str], *, digest: str | None, verify: bool,
                 validate: Validate, require: Iterable[str], **kwargs: Any
                 ) -> Dataset:
    """Open a dataset at a URI (Spark only; its pin is not checked)."""
    if digest is not None or verify:
        from measure.engine._errors import UnsupportedOnSpark

        raise UnsupportedOnSpark(
            "open", "digest=/verify= on a remote dataset",
            "pins are checked on local files; verify a local copy "
            "(`measure verify`) and open the remote one without them")
    return Dataset(path, validate=validate, require=require, **kwargs)
