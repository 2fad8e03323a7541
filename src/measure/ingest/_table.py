"""Any CSV or Parquet file plus a small TOML mapping -> one contract table.

The mapping (see ``docs/ingest.md``)::

    table = "observations"        # the contract table to write (required)
    id_type = "int"               # account ids as "int" (BIGINT, default) or "str"
    unique = ["account_id", "observed_at"]  # collapse key (default: per table)

    [columns]                     # contract column = source column
    account_id = "user_id"
    observed_at = "checked"

    [timestamps]
    format = "%Y-%m-%d %H:%M"     # strptime format; omit for ISO 8601
    zone = "UTC"                  # IANA zone of naive times (required if naive)

    [constants]                   # the same value on every row
    status = "active"

    [values.status]               # optional recoding of a column's values
    ok = "active"

Source columns that already carry a contract column's name are used as they are;
other source columns are not written (the report lists them). A row whose value
cannot be converted, whose required value is missing, or whose value is not allowed
goes to the ``quarantine`` table with the source column named.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from measure.dataset._contract import BOOL, FLOAT, ID, INT, STR, TABLES
from measure.dataset._contract import TS as TS_KIND
from measure.errors import IngestError
from measure.ingest._common import (
    TS,
    Parsed,
    Quarantine,
    RawFile,
    collapse,
    csv_text,
    read_csv,
)

SUFFIXES = (".csv", ".parquet")

DEFAULT_UNIQUE: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",),
    "observations": ("account_id", "observed_at"),
    "tweets": ("tweet_id",),
    "seeds": ("account_id",),
    "crawls": ("account_id", "list"),
    "detections": ("account_id", "source", "detected_at"),
    "labels": ("account_id", "coder", "sample"),
    "edges": ("src", "dst", "relation", "observed_at"),
}
KEYS = {"table", "id_type", "unique", "columns", "timestamps", "constants", "values"}
TRUE = {"true", "t", "1", "yes", "y"}
FALSE = {"false", "f", "0", "no", "n"}


class Mapping:
    """A parsed and checked TOML mapping (all problems are reported at once)."""

    def __init__(self, data: dict[str, Any], label: str) -> None:
        problems: list[str] = []
        self.label = label
        unknown = sorted(set(data) - KEYS)
        if unknown:
            problems.append(f"unknown key(s) {unknown}; allowed: {sorted(KEYS)}")
        self.table = data.get("table")
        if self.table not in TABLES:
            problems.append(f"'table' must be one of {sorted(TABLES)}, got "
                            f"{self.table!r}")
        self.id_type = data.get("id_type", "int")
        if self.id_type not in ("int", "str"):
            problems.append(f"'id_type' must be 'int' or 'str', got {self.id_type!r}")
        self.columns: dict[str, str] = dict(data.get("columns", {}))
        self.constants: dict[str, Any] = dict(data.get("constants", {}))
        self.values: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in dict(data.get("values", {})).items()}
        ts = dict(data.get("timestamps", {}))
        self.ts_format: str | None = ts.get("format")
        self.zone: str | None = ts.get("zone")
        if self.zone is not None:
            try:
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"[timestamps] zone {self.zone!r} is not an IANA time "
                                "zone name (e.g. 'UTC', 'Europe/Berlin')")
        for k, v in self.columns.items():
            if not isinstance(v, str):
                problems.append(f"[columns] {k} must name a source column (a string)")
        if self.table in TABLES:
            spec = TABLES[self.table]
            names = {c.name for c in spec.columns}
            for k in list(self.constants) + list(self.values):
                if k not in names and k not in self.columns:
                    problems.append(f"'{k}' is not a column of table '{self.table}' "
                                    f"(columns: {sorted(names)})")
            unique = data.get("unique", DEFAULT_UNIQUE.get(self.table, ()))
            self.unique = tuple(unique)
            bad = [u for u in self.unique if u not in names and u not in self.columns]
            if bad:
                problems.append(f"'unique' names unknown column(s) {bad}")
        if problems:
            raise IngestError(f"mapping file '{label}': " + "; ".join(problems))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Mapping:
        """Read a TOML mapping file."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise IngestError(f"mapping file '{path}' is not valid TOML ({e})") from e
        except OSError as e:
            raise IngestError(f"mapping file '{path}' cannot be read ({e})") from e
        return cls(data, str(path))


def _read(f: RawFile) -> tuple[pl.DataFrame, list[str], bool]:
    if f.path.name.lower().endswith(".parquet"):
        try:
            df = pl.read_parquet(f.path)
        except Exception as e:  # noqa: BLE001 - any reader failure names the file
            raise IngestError(f"file '{f.label}' is not a readable Parquet file ({e})"
                              ) from e
        return (df.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
                                .alias("_line"),
                                pl.lit(len(df.columns), pl.Int64).alias("_nf"),
                                pl.lit(None, pl.Utf8).alias("_raw")),
                [], False)
    df, notes = read_csv(f)
    return df, notes, True


def _parse_ts_values(values: list[str], zone: str | None
                     ) -> dict[str, dt.datetime | None]:
    out: dict[str, dt.datetime | None] = {}
    tz = ZoneInfo(zone) if zone else None
    for v in values:
        try:
            t = dt.datetime.fromisoformat(v.strip())
        except ValueError:
            out[v] = None
            continue
        if t.tzinfo is None:
            if tz is None:
                raise _Naive(v)
            t = t.replace(tzinfo=tz)
        out[v] = t.astimezone(dt.UTC)
    return out


class _Naive(Exception):
    def __init__(self, value: str) -> None:
        self.value = value


def _convert(df: pl.DataFrame, target: str, kind: str, src: pl.Expr, m: Mapping,
             f: RawFile, src_name: str) -> pl.Expr:
    """Return an expression casting source values to the contract type (null: error)."""
    dtype = df.select(src).dtypes[0]
    is_str = dtype == pl.Utf8
    s = src.str.strip_chars() if is_str else src
    if kind == ID:
        return s.cast(pl.Int64, strict=False) if m.id_type == "int" else s.cast(pl.Utf8)
    if kind == STR:
        return s.cast(pl.Utf8)
    if kind == INT:
        return s.cast(pl.Int64, strict=False)
    if kind == FLOAT:
        return s.cast(pl.Float64, strict=False)
    if kind == BOOL:
        if is_str:
            low = s.str.to_lowercase()
            return (pl.when(low.is_in(list(TRUE))).then(True)
                    .when(low.is_in(list(FALSE))).then(False))
        return s.cast(pl.Boolean, strict=False)
    if kind == TS_KIND:
        return _convert_ts(df, s, dtype, m, f, src_name)
    raise AssertionError(kind)


def _convert_ts(df: pl.DataFrame, s: pl.Expr, dtype: Any, m: Mapping, f: RawFile,
                src_name: str) -> pl.Expr:
    def need_zone(example: str, line: int | None) -> IngestError:
        return IngestError(
            f"file '{f.label}'" + (f", line {line}" if line else "") + f", column "
            f"'{src_name}': timestamp {example!r} has no time zone; set [timestamps] "
            "zone = \"UTC\" (or the zone the times were recorded in) in the mapping")

    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return s.dt.convert_time_zone("UTC").cast(TS)
        if m.zone is None:
            first = df.select(s.drop_nulls().first(), pl.col("_line")
                              .filter(s.is_not_null()).first()).row(0)
            raise need_zone(str(first[0]), first[1])
        return (s.dt.replace_time_zone(m.zone, ambiguous="null", non_existent="null")
                .dt.convert_time_zone("UTC").cast(TS))
    if dtype == pl.Date:
        if m.zone is None:
            raise need_zone("a date", None)
        return (s.cast(pl.Datetime("us")).dt.replace_time_zone(m.zone)
                .dt.convert_time_zone("UTC").cast(TS))
    if dtype != pl.Utf8:
        return pl.lit(None, TS)  # wrong type: every non-null value is quarantined
    if m.ts_format:
        parsed = s.str.strptime(pl.Datetime("us"), m.ts_format, strict=False)
        if "%z" in m.ts_format or "%Z" in m.ts_format:
            return parsed.dt.convert_time_zone("UTC").cast(TS)
        if m.zone is None:
            first = df.select(s.drop_nulls().first(), pl.col("_line")
                              .filter(s.is_not_null()).first()).row(0)
            raise need_zone(str(first[0]), first[1])
        return (parsed.dt.replace_time_zone(m.zone, ambiguous="null",
                                            non_existent="null")
                .dt.convert_time_zone("UTC").cast(TS))
    values = df.select(s.drop_nulls().unique()).to_series().to_list()
    try:
        lookup = _parse_ts_values(values, m.zone)
    except _Naive as e:
        line = df.filter(s == e.value).select("_line").to_series()
        raise need_zone(e.value, line[0] if line.len() else None) from None
    return s.replace_strict(lookup, default=None, return_dtype=TS)


def parse(files: list[RawFile], mapping: Mapping, mapping_file: RawFile) -> Parsed:
    """Map CSV/Parquet file(s) onto one contract table."""
    spec = TABLES[mapping.table]
    q = Quarantine()
    frames: list[pl.DataFrame] = []
    notes: list[str] = []
    read = 0
    for fi, f in enumerate(files):
        df, n, is_csv = _read(f)
        notes += n
        source_cols = [c for c in df.columns if c not in ("_line", "_nf", "_raw")]
        width = len(source_cols)
        read += df.height
        for target, src in mapping.columns.items():
            if src not in source_cols:
                raise IngestError(
                    f"file '{f.label}', line 1, column '{src}': the mapping sends "
                    f"'{src}' to '{target}' but the file has no such column (columns: "
                    f"{source_cols})")
        exprs: dict[str, tuple[pl.Expr, str | None]] = {}
        for col in spec.columns:
            if col.name in mapping.columns:
                exprs[col.name] = (pl.col(mapping.columns[col.name]),
                                   mapping.columns[col.name])
            elif col.name in mapping.constants:
                exprs[col.name] = (pl.lit(mapping.constants[col.name]), None)
            elif col.name in source_cols:
                exprs[col.name] = (pl.col(col.name), col.name)
        extra_targets = [t for t in mapping.columns if spec.column(t) is None]
        missing = [c.name for c in spec.columns if c.required and c.name not in exprs]
        if missing:
            raise IngestError(
                f"file '{f.label}': table '{mapping.table}' needs column(s) {missing}; "
                "map them in [columns] (contract name = source column) or set them "
                "in [constants]")
        used = {s for _, s in exprs.values() if s} | {
            mapping.columns[t] for t in extra_targets}
        unused = [c for c in source_cols if c not in used]
        if unused and fi == 0:
            notes.append(f"source column(s) not written: {unused}")
        conv: list[pl.Expr] = []
        checks: list[tuple[pl.Expr, str, str | None, str]] = [
            (pl.col("_nf") != width, "ragged_row", None,
             f"row has the wrong number of fields (header has {width})")]
        for name, (src, src_name) in exprs.items():
            colspec = spec.column(name)
            assert colspec is not None
            value = src
            if name in mapping.values:
                value = value.cast(pl.Utf8).replace(
                    {str(k): v for k, v in mapping.values[name].items()})
            out = _convert(df, name, colspec.kind, value, mapping, f,
                           src_name or name).alias(name)
            conv.append(out)
            where_col = src_name or name
            kind = "bad_timestamp" if colspec.kind == TS_KIND else "bad_type"
            what = _kind_word(colspec.kind, mapping.id_type)
            if colspec.kind == TS_KIND:
                what += (f" in format {mapping.ts_format!r}" if mapping.ts_format
                         else " in ISO 8601")
                if mapping.zone:
                    what += (f", zone {mapping.zone}; a local time in a daylight-"
                             "saving gap or fold cannot be read")
            checks.append((src.is_not_null() & out.is_null(), kind, where_col,
                           f"'{where_col}' cannot be read as {name} ({what})"))
            if colspec.not_null:
                checks.append((out.is_null(), "missing_value", where_col,
                               f"required value {name} is missing"))
            if colspec.allowed is not None:
                checks.append((out.is_not_null() & ~out.is_in(list(colspec.allowed)),
                               "bad_value", where_col,
                               f"{name} must be one of {list(colspec.allowed)}"))
        for t in extra_targets:
            conv.append(pl.col(mapping.columns[t]).alias(t))
        df = df.with_columns((pl.lit(fi, pl.Int64) * (1 << 40)
                              + pl.int_range(pl.len(), dtype=pl.Int64)).alias("_order"))
        bad = pl.lit(False)
        for cond, kind, col, reason in checks:
            cond = cond.fill_null(False)
            hit = df.filter(cond & ~bad)
            for r in hit.iter_rows(named=True):
                val = f" (got {r[col]!r})" if col in source_cols else ""
                raw = (r["_raw"] or csv_text([r[c] for c in source_cols]) if is_csv else
                       json.dumps({c: r[c] for c in source_cols}, default=str,
                                  ensure_ascii=False))
                q.add(f.label, r["_line"], kind, reason + val, raw, col)
            bad = bad | cond
        good = df.filter(~bad).select(*conv, "_order")
        frames.append(good)
    out = pl.concat(frames, how="diagonal_relaxed")
    keys = [k for k in mapping.unique if k in out.columns]
    n_coll = 0
    if keys:
        out, n_coll = collapse(out, keys, "_order")
    out = out.sort("_order").drop("_order")
    assumptions = []
    if mapping.zone:
        assumptions.append(f"naive timestamps were read in zone {mapping.zone}")
    return Parsed(tables={mapping.table: out}, record_tables=(mapping.table,),
                  rows_read=read, collapsed={mapping.table: n_coll}, quarantine=q,
                  assumptions=tuple(assumptions), notes=tuple(notes),
                  extra_inputs=(mapping_file,))


def _kind_word(kind: str, id_type: str) -> str:
    return {ID: "an integer id" if id_type == "int" else "a text id",
            STR: "text", INT: "an integer", FLOAT: "a number", BOOL: "true/false",
            TS_KIND: "a timestamp"}[kind]


def mapping_raw(path: str | os.PathLike[str]) -> RawFile:
    """Return the mapping file as a manifest input."""
    from measure.ingest._common import _raw

    return _raw(Path(path), str(path))
