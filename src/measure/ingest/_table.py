"""Any CSV or Parquet files plus a small TOML mapping -> one or more contract tables.

A mapping for one table (see ``docs/ingest.md`` for the full reference)::

    table = "observations"        # the contract table to write
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

A mapping for several tables puts the per-table keys under ``[tables.<name>]``;
values that belong to a whole file (whose follower list it is, when it was
collected) come from the file's path (``[file] pattern``) or from per-file entries
(``[files."name.csv"]``), and a table with ``rows = "file"`` gets one row per file::

    [file]
    pattern = "followers_{owner}_{collected}.csv"
    timestamp_format = "%Y%m%d"

    [tables.edges]
    columns = { src = "follower_id" }
    from_file = { dst = "owner", observed_at = "collected" }

    [tables.crawls]
    rows = "file"
    from_file = { account_id = "owner", collected_at = "collected" }
    constants = { list = "followers", level = 1, complete = true }

Source columns that already carry a contract column's name are used as they are;
other source columns are not written (the report lists them). A source row is read
once for every record table of the mapping; when any of its values cannot be
converted, a required value is missing, or a value is not allowed, the row goes to
the ``quarantine`` table (with the source column named) and into none of the tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from measure.dataset._contract import BOOL, FLOAT, ID, INT, STR, TABLES
from measure.dataset._contract import TS as TS_KIND
from measure.errors import IngestError
from measure.ingest._common import (
    DEFAULT_KEYS,
    TS,
    WHOLE_RECORD,
    Parsed,
    Quarantine,
    RawFile,
    active_bounds,
    collapse,
    csv_text,
    is_empty,
    read_csv,
    short_repr,
)

SUFFIXES = (".csv", ".parquet")

#: Default collapse key per table (also the key used when appending ``--into``).
DEFAULT_UNIQUE: dict[str, tuple[str, ...]] = DEFAULT_KEYS
TABLE_KEYS = {"rows", "columns", "from_file", "constants", "values", "extra",
              "unique"}
KEYS = {"table", "id_type", "timestamps", "file", "files", "tables"} | TABLE_KEYS
FILE_KEYS = {"pattern", "timestamp_format", "defaults"}
TIMESTAMP_KEYS = {"format", "zone"}
ROWS = ("record", "file")
TRUE = {"true", "t", "1", "yes", "y"}
FALSE = {"false", "f", "0", "no", "n"}
_FIELD = re.compile(r"\{([^{}]*)\}")
#: A row check: (condition, quarantine kind, source column, reason, lenient). A
#: lenient check (an optional column) nulls the value and records a field note;
#: the others quarantine the row.
Check = tuple[pl.Expr, str, "str | None", str, bool]


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is filled from the source files.

    Attributes
    ----------
    table
        The contract table.
    rows
        ``"record"``: one row per source row; ``"file"``: one row per source file.
    columns
        Contract column -> source column.
    from_file
        Contract column -> file field (from ``[file]`` and ``[files]``).
    constants
        Contract column -> value (already converted to the contract type).
    values
        Contract column -> recoding of source values (``{"ok": "active"}``).
    extra
        Column outside the contract -> source column, written as it is.
    unique
        Collapse key: rows with the same values keep the last in file order.
    """

    table: str
    rows: str
    columns: dict[str, str]
    from_file: dict[str, str]
    constants: dict[str, Any]
    values: dict[str, dict[str, Any]]
    extra: dict[str, str]
    unique: tuple[str, ...]


class Mapping:
    """A parsed and checked TOML mapping (all problems are reported at once).

    Parameters
    ----------
    data
        The parsed TOML document.
    label
        The mapping file, as named in error messages.

    Raises
    ------
    IngestError
        Naming the mapping file and every offending key: an unknown key, table or
        column, a required column left unmapped, a constant outside the contract's
        allowed values, an unknown file field, a bad zone or pattern.
    """

    def __init__(self, data: dict[str, Any], label: str) -> None:  # noqa: C901
        problems: list[str] = []
        self.label = label
        unknown = sorted(set(data) - KEYS)
        if unknown:
            problems.append(f"unknown key(s) {unknown}; allowed: {sorted(KEYS)}")
        self.id_type = data.get("id_type", "int")
        if self.id_type not in ("int", "str"):
            problems.append(f"'id_type' must be 'int' or 'str', got {self.id_type!r}")
        ts = _section(data, "timestamps", problems)
        for k in sorted(set(ts) - TIMESTAMP_KEYS):
            problems.append(f"[timestamps] {k}: unknown key; allowed: "
                            f"{sorted(TIMESTAMP_KEYS)}")
        self.ts_format: str | None = ts.get("format")
        self.zone: str | None = ts.get("zone")
        if self.ts_format is not None and not isinstance(self.ts_format, str):
            problems.append(f"[timestamps] format: must be a strptime format string "
                            f"such as \"%Y-%m-%d %H:%M\", got {self.ts_format!r}")
            self.ts_format = None
        if self.zone is not None:
            try:
                if not isinstance(self.zone, str):
                    raise ValueError(self.zone)
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"[timestamps] zone: {self.zone!r} is not an IANA "
                                "time zone name (e.g. 'UTC', 'Europe/Berlin')")
                self.zone = None
        self._file_section(data, problems)
        self.tables: dict[str, TableMapping] = {}
        #: Whether the mapping uses [tables.<name>] sections (else the short form).
        self.sections = "tables" in data
        table_sections: dict[str, tuple[dict[str, Any], str]] = {}
        if "tables" in data:
            if "table" in data or set(data) & TABLE_KEYS:
                problems.append("use either 'table' with top-level [columns] etc. (one "
                                "table) or [tables.<name>] sections (several "
                                "tables), not both")
            for name, sec in _section(data, "tables", problems).items():
                if not isinstance(sec, dict):
                    problems.append(f"[tables] {name}: must be a table of settings")
                    continue
                table_sections[name] = (sec, f"tables.{name}.")
            if not table_sections:
                problems.append("[tables] names no table")
        else:
            name = data.get("table")
            if not isinstance(name, str) or name not in TABLES:
                problems.append(f"'table' must be one of {sorted(TABLES)}, got "
                                f"{name!r}")
            else:
                table_sections[name] = (
                    {k: v for k, v in data.items() if k in TABLE_KEYS}, "")
        for name, (sec, prefix) in table_sections.items():
            tm = self._table(name, sec, prefix, problems)
            if tm is not None:
                self.tables[name] = tm
        if problems:
            raise IngestError(f"mapping file '{label}': " + "; ".join(problems))

    # -- sections ------------------------------------------------------------------
    def _file_section(self, data: dict[str, Any], problems: list[str]) -> None:
        fs = _section(data, "file", problems)
        for k in sorted(set(fs) - FILE_KEYS):
            problems.append(f"[file] {k}: unknown key; allowed: {sorted(FILE_KEYS)}")
        self.pattern: str | None = fs.get("pattern")
        self.file_ts_format: str | None = fs.get("timestamp_format")
        self.file_defaults: dict[str, Any] = dict(
            _section(fs, "defaults", problems, "file.defaults"))
        self._regex: re.Pattern[str] | None = None
        self.pattern_fields: list[str] = []
        if self.pattern is not None:
            if not isinstance(self.pattern, str) or not self.pattern:
                problems.append("[file] pattern: must be a non-empty string such as "
                                "'followers_{owner}.csv'")
            else:
                try:
                    self._regex, self.pattern_fields = _compile_pattern(self.pattern)
                except ValueError as e:
                    problems.append(f"[file] pattern: {e}")
        if isinstance(self.pattern, str) and _escapes(self.pattern):
            problems.append(f"[file] pattern: {self.pattern!r} must be a path "
                            "relative to the source (no leading '/', no '..' part)")
        self.files: dict[str, dict[str, Any]] = {}
        for key, vals in _section(data, "files", problems).items():
            if _escapes(key):
                problems.append(f"[files] {key!r}: a file is named by its path "
                                "relative to the source; a path that is absolute or "
                                "has a '..' part would point outside it")
                continue
            if not isinstance(vals, dict):
                problems.append(f"[files] {key!r}: must be a table of field values, "
                                f"e.g. [files.\"{key}\"] complete = false")
                continue
            self.files[key] = dict(vals)
        self.fields = (set(self.pattern_fields) | set(self.file_defaults)
                       | {k for v in self.files.values() for k in v})

    def _table(self, name: str, sec: dict[str, Any], prefix: str,  # noqa: C901, PLR0912
               problems: list[str]) -> TableMapping | None:
        if name not in TABLES:
            problems.append(f"[tables.{name}]: '{name}' is not a contract table; "
                            f"tables: {sorted(TABLES)}")
            return None
        spec = TABLES[name]
        names = [c.name for c in spec.columns]
        for k in sorted(set(sec) - TABLE_KEYS):
            problems.append(f"{_scalar_key(prefix, k)}: unknown key; allowed: "
                            f"{sorted(TABLE_KEYS)}")
        rows = sec.get("rows", "record")
        if rows not in ROWS:
            problems.append(f"{_scalar_key(prefix, 'rows')}: must be 'record' (one "
                            f"row per source row) or 'file' (one row per file), got "
                            f"{rows!r}")
            rows = "record"
        sub = {k: dict(_section(sec, k, problems, _key(prefix, k)))
               for k in ("columns", "from_file", "constants", "values", "extra")}
        columns, from_file, constants = (sub["columns"], sub["from_file"],
                                         sub["constants"])
        extra = sub["extra"]
        values = {k: dict(v) if isinstance(v, dict) else v
                  for k, v in sub["values"].items()}
        seen: dict[str, str] = {}
        for part in ("columns", "from_file", "constants"):
            for col in sub[part]:
                where = f"[{_key(prefix, part)}] {col}"
                if col not in names:
                    hint = (f"; to keep a column outside the contract, put it under "
                            f"[{_key(prefix, 'extra')}]" if part == "columns" else "")
                    problems.append(f"{where}: '{col}' is not a column of table "
                                    f"'{name}' (columns: {names}){hint}")
                elif col in seen:
                    problems.append(f"{where}: '{col}' is also set in "
                                    f"[{_key(prefix, seen[col])}]; set it once")
                else:
                    seen[col] = part
        for col, src in list(columns.items()) + list(extra.items()):
            if not isinstance(src, str):
                part = "columns" if col in columns else "extra"
                problems.append(f"[{_key(prefix, part)}] {col}: must name a source "
                                f"column (a string), got {src!r}")
        for col in extra:
            if col in names:
                problems.append(f"[{_key(prefix, 'extra')}] {col}: '{col}' is a "
                                f"contract column; map it under "
                                f"[{_key(prefix, 'columns')}]")
        for col, field in from_file.items():
            if not isinstance(field, str) or field not in self.fields:
                known = sorted(self.fields) or ("none (add a [file] pattern, "
                                                "[file.defaults] or [files] entries)")
                problems.append(f"[{_key(prefix, 'from_file')}] {col}: unknown file "
                                f"field {field!r}; file fields: {known}")
        converted: dict[str, Any] = {}
        for col, value in constants.items():
            c = spec.column(col)
            if c is None:
                continue
            try:
                converted[col] = self.scalar(value, c.kind, ts_format=None)
            except ValueError as e:
                problems.append(f"[{_key(prefix, 'constants')}] {col}: {e}")
                continue
            if c.allowed is not None and converted[col] not in c.allowed:
                problems.append(f"[{_key(prefix, 'constants')}] {col}: {value!r} is "
                                f"not allowed; allowed values: {list(c.allowed)}")
        for col, recode in values.items():
            where = f"[{_key(prefix, 'values')}.{col}]"
            if not isinstance(recode, dict):
                problems.append(f"{where}: must map source values to contract values")
            elif col not in names and col not in extra:
                problems.append(f"{where}: '{col}' is not a column of table '{name}' "
                                f"(columns: {names})")
            elif col in from_file or col in constants:
                problems.append(f"{where}: recoding applies to source values, but "
                                f"'{col}' is set in [{_key(prefix, seen[col])}]")
        if rows == "file":
            for part in ("columns", "extra"):
                if sub[part]:
                    problems.append(f"[{_key(prefix, part)}]: a table with rows = "
                                    "'file' has one row per file and reads no source "
                                    "column; use from_file and constants")
            missing = [c.name for c in spec.columns
                       if c.required and c.name not in from_file
                       and c.name not in constants]
            if missing:
                where = f"[tables.{name}]" if prefix else "rows = 'file'"
                problems.append(f"{where}: table '{name}' needs column(s) {missing}; "
                                "set them in from_file or constants")
        unique = sec.get("unique", DEFAULT_UNIQUE.get(name, ()))
        if not isinstance(unique, list | tuple) or not all(
                isinstance(u, str) for u in unique):
            problems.append(f"{_scalar_key(prefix, 'unique')}: must be a list of "
                            f"column names, got {unique!r}")
            unique = ()
        bad = [u for u in unique if u not in names and u not in extra]
        if bad:
            problems.append(f"{_scalar_key(prefix, 'unique')}: names unknown "
                            f"column(s) {bad}")
        return TableMapping(table=name, rows=rows, columns=columns,
                            from_file=from_file, constants=converted, values=values,
                            extra=extra, unique=tuple(unique))

    # -- properties kept for one-table mappings --------------------------------------
    @property
    def table(self) -> str:
        """The first (for a one-table mapping: the only) target table."""
        return next(iter(self.tables))

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

    # -- values --------------------------------------------------------------------
    def scalar(self, value: Any, kind: str, *, ts_format: str | None) -> Any:  # noqa: C901
        """Convert one mapping or file value to the contract type ``kind``.

        Raises
        ------
        ValueError
            The value cannot be read as ``kind`` (the message says why).
        """
        if kind == ID:
            if self.id_type == "str":
                return str(value)
            if isinstance(value, bool):
                raise ValueError(f"expected an integer id, got {value!r}")
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value.strip())
            raise ValueError(f"expected an integer id, got {value!r} (set id_type = "
                             "\"str\" for text ids)")
        if kind == STR:
            return str(value)
        if kind == INT:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value.strip())
            raise ValueError(f"expected an integer, got {value!r}")
        if kind == FLOAT:
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError(f"expected a number, got {value!r}") from None
        if kind == BOOL:
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in TRUE | FALSE:
                return low in TRUE
            raise ValueError(f"expected true or false, got {value!r}")
        if kind == TS_KIND:
            return self._timestamp(value, ts_format)
        raise AssertionError(kind)

    def _timestamp(self, value: Any, ts_format: str | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            t = value
        elif isinstance(value, dt.date):
            t = dt.datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                t = (dt.datetime.strptime(value.strip(), ts_format) if ts_format
                     else dt.datetime.fromisoformat(value.strip()))
            except ValueError:
                how = f"in format {ts_format!r}" if ts_format else "as ISO 8601"
                raise ValueError(f"cannot read {value!r} as a timestamp {how}"
                                 ) from None
        else:
            raise ValueError(f"expected a timestamp, got {value!r}")
        if t.tzinfo is None:
            if self.zone is None:
                raise ValueError(f"timestamp {value!r} has no time zone; set "
                                 "[timestamps] zone = \"UTC\" (or the zone it was "
                                 "recorded in)")
            t = t.replace(tzinfo=ZoneInfo(self.zone))
        return t.astimezone(dt.UTC)

    def file_fields(self, f: RawFile) -> dict[str, Any]:
        """Return the field values of a file: defaults, its path, then ``[files]``.

        Raises
        ------
        IngestError
            The mapping reads a field from the path and the file does not match
            ``[file] pattern``.
        """
        vals = dict(self.file_defaults)
        path = Path(f.label).as_posix()
        if self._regex is not None:
            m = self._regex.search(path)
            if m is None:
                raise IngestError(
                    f"file '{f.label}' does not match the [file] pattern "
                    f"{self.pattern!r} of mapping file '{self.label}'; rename the "
                    f"file or give its values under [files.\"{Path(path).name}\"]")
            vals.update(m.groupdict())
        for key, override in self.files.items():
            if _path_ends_with(path, key):
                vals.update(override)
        return vals

    def unmatched_files(self, files: list[RawFile]) -> list[str]:
        """``[files]`` entries that match none of ``files``."""
        paths = [Path(f.label).as_posix() for f in files]
        return [k for k in self.files
                if not any(_path_ends_with(p, k) for p in paths)]


def _key(prefix: str, key: str) -> str:
    """Name of a sub-table of a table section (``tables.edges.columns``)."""
    return f"{prefix}{key}" if prefix else key


def _scalar_key(prefix: str, key: str) -> str:
    """Name of a plain key of a table section (``[tables.edges] rows``)."""
    return f"[{prefix.rstrip('.')}] {key}" if prefix else key


def _section(data: dict[str, Any], key: str, problems: list[str],
             where: str | None = None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{where or key}]: must be a table (key = value lines), got "
                        f"{value!r}")
        return {}
    return value


def _compile_pattern(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    """Regex of a file pattern: ``{field}`` captures part of one path segment."""
    fields: list[str] = []
    out = []
    pos = 0
    for m in _FIELD.finditer(pattern):
        out.append(_literal(pattern[pos:m.start()]))
        name = m.group(1)
        if not name.isidentifier():
            raise ValueError(f"field {{{name}}} must be a name such as {{owner}}")
        if name in fields:
            raise ValueError(f"field {{{name}}} appears twice")
        fields.append(name)
        out.append(f"(?P<{name}>[^/]+?)")
        pos = m.end()
    tail = pattern[pos:]
    if "{" in tail or "}" in tail:
        raise ValueError("unbalanced '{' or '}'")
    out.append(_literal(tail))
    return re.compile("(?:^|/)" + "".join(out) + "$"), fields


def _literal(text: str) -> str:
    """Escape literal pattern text; ``*`` matches any characters within a segment."""
    return "[^/]*".join(re.escape(p) for p in text.split("*"))


def _escapes(path: str) -> bool:
    """Whether a mapping path is absolute or climbs out of its base (``..``)."""
    p = path.replace("\\", "/")
    return (p.startswith("/") or re.match(r"^[A-Za-z]:", p) is not None
            or ".." in p.split("/") or "\x00" in p)


def _path_ends_with(path: str, key: str) -> bool:
    key = key.strip("/")
    return path == key or path.endswith("/" + key)


# -- reading -------------------------------------------------------------------------
def _read(f: RawFile, q: Quarantine) -> tuple[pl.DataFrame, list[str], bool]:
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
    df, notes = read_csv(f, q)
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


def _dtype(kind: str, id_type: str) -> Any:
    return {ID: pl.Int64 if id_type == "int" else pl.Utf8, STR: pl.Utf8,
            INT: pl.Int64, FLOAT: pl.Float64, BOOL: pl.Boolean, TS_KIND: TS}[kind]


def _convert(df: pl.DataFrame, kind: str, src: pl.Expr, m: Mapping, f: RawFile,
             src_name: str) -> pl.Expr:
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


def _file_values(m: Mapping, tm: TableMapping, f: RawFile,
                 fields: dict[str, Any]) -> dict[str, Any]:
    """Contract values of ``tm.from_file`` for file ``f`` (errors name the field)."""
    spec = TABLES[tm.table]
    out: dict[str, Any] = {}
    for col, field in tm.from_file.items():
        c = spec.column(col)
        assert c is not None
        if field not in fields:
            raise IngestError(
                f"file '{f.label}': no value for file field '{field}' (used for "
                f"{tm.table}.{col}) in mapping file '{m.label}'; add it to the "
                f"[file] pattern, [file.defaults] or [files.\"{Path(f.label).name}\"]")
        try:
            v = m.scalar(fields[field], c.kind, ts_format=m.file_ts_format)
        except ValueError as e:
            raise IngestError(f"file '{f.label}', file field '{field}' (for "
                              f"{tm.table}.{col}): {e}") from None
        if c.allowed is not None and v not in c.allowed:
            raise IngestError(f"file '{f.label}', file field '{field}' (for "
                              f"{tm.table}.{col}): {v!r} is not allowed; allowed "
                              f"values: {list(c.allowed)}")
        out[col] = v
    return out


def parse(files: list[RawFile], mapping: Mapping, mapping_file: RawFile) -> Parsed:  # noqa: C901
    """Map CSV/Parquet file(s) onto the mapping's contract tables."""
    record = [tm for tm in mapping.tables.values() if tm.rows == "record"]
    per_file = [tm for tm in mapping.tables.values() if tm.rows == "file"]
    multi = len(record) > 1
    q = Quarantine()
    frames: dict[str, list[pl.DataFrame]] = {tm.table: [] for tm in record}
    file_rows: dict[str, list[dict[str, Any]]] = {tm.table: [] for tm in per_file}
    notes: list[str] = []
    read = 0
    uses_fields = any(tm.from_file for tm in mapping.tables.values())
    for fi, f in enumerate(files):
        fields = mapping.file_fields(f) if uses_fields else {}
        for tm in per_file:
            row = {**_file_values(mapping, tm, f, fields), **tm.constants}
            file_rows[tm.table].append({**row, "_order": fi * (1 << 40)})
        if not record or is_empty(f):
            continue  # an empty file (allowed by allow_empty) holds no records
        df, n, is_csv = _read(f, q)
        notes += n
        source_cols = [c for c in df.columns if c not in ("_line", "_nf", "_raw")]
        width = len(source_cols)
        read += df.height
        for tm in record:
            for target, src in list(tm.columns.items()) + list(tm.extra.items()):
                if src not in source_cols:
                    sec = f"[tables.{tm.table}] " if mapping.sections else ""
                    raise IngestError(
                        f"file '{f.label}', line 1, column '{src}': the mapping "
                        f"'{mapping.label}' {sec}sends '{src}' to '{target}' but the "
                        f"file has no such column (columns: {source_cols})")
        checks: list[Check] = [
            (pl.col("_nf") != width, "ragged_row", None,
             f"row has the wrong number of fields (header has {width})", False)]
        conv: dict[str, list[pl.Expr]] = {}
        used: set[str] = set()
        for tm in record:
            conv[tm.table], used_t = _table_exprs(df, tm, mapping, f, fields,
                                                  source_cols, checks, multi)
            used |= used_t
        unused = [c for c in source_cols if c not in used]
        if unused and fi == 0:
            notes.append(f"source column(s) not written: {unused}")
        df = df.with_columns((pl.lit(fi, pl.Int64) * (1 << 40)
                              + pl.int_range(pl.len(), dtype=pl.Int64)).alias("_order"))
        bad = pl.lit(False)
        for cond, kind, col, reason, lenient in checks:
            if lenient:
                continue
            cond = cond.fill_null(False)
            hit = df.filter(cond & ~bad)
            for r in hit.iter_rows(named=True):
                val = f" (got {short_repr(r[col])})" if col in source_cols else ""
                raw = (r["_raw"] or csv_text([r[c] for c in source_cols]) if is_csv else
                       json.dumps({c: r[c] for c in source_cols}, default=str,
                                  ensure_ascii=False))
                q.add(f.label, r["_line"], kind, reason + val, raw, col)
            bad = bad | cond
        good = df.filter(~bad)
        for cond, kind, col, reason, lenient in checks:
            if not lenient:
                continue
            for r in good.filter(cond.fill_null(False)).iter_rows(named=True):
                val = f" (got {short_repr(r[col])})" if col in source_cols else ""
                q.note(f.label, r["_line"], col or WHOLE_RECORD, kind,
                       f"{reason}{val}; the field was left empty (null) and the "
                       "row kept")
        for tm in record:
            frames[tm.table].append(good.select(*conv[tm.table], "_order"))
    tables: dict[str, pl.DataFrame] = {}
    collapsed: dict[str, int] = {}
    keys: dict[str, tuple[str, ...] | None] = {}
    for tm in record:
        out = (pl.concat(frames[tm.table], how="diagonal_relaxed")
               if frames[tm.table] else _empty(tm, mapping))
        tables[tm.table], collapsed[tm.table], keys[tm.table] = _collapse(out, tm)
    for tm in per_file:
        spec = TABLES[tm.table]
        schema = {c.name: _dtype(c.kind, mapping.id_type) for c in spec.columns
                  if c.name in tm.from_file or c.name in tm.constants}
        out = pl.DataFrame(file_rows[tm.table], schema={**schema, "_order": pl.Int64},
                           orient="row")
        tables[tm.table], collapsed[tm.table], keys[tm.table] = _collapse(out, tm)
    for key in mapping.unmatched_files(files):
        notes.append(f"[files.\"{key}\"] in the mapping matches no file of this "
                     "ingest")
    assumptions = []
    if mapping.zone:
        assumptions.append(f"naive timestamps were read in zone {mapping.zone}")
    return Parsed(tables=tables, record_tables=tuple(tm.table for tm in record),
                  rows_read=read, collapsed=collapsed, quarantine=q,
                  assumptions=tuple(assumptions), notes=tuple(notes),
                  extra_inputs=(mapping_file,),
                  file_tables=tuple(tm.table for tm in per_file),
                  files_read=len(files) if per_file else 0, keys=keys)


def _empty(tm: TableMapping, m: Mapping) -> pl.DataFrame:
    """Return the typed, empty frame of a record table no file gave a row to."""
    spec = TABLES[tm.table]
    schema = {c.name: _dtype(c.kind, m.id_type) for c in spec.columns
              if c.name in tm.columns or c.name in tm.constants
              or c.name in tm.from_file}
    return pl.DataFrame(schema={**schema, **dict.fromkeys(tm.extra, pl.Utf8),
                                "_order": pl.Int64})


def _collapse(out: pl.DataFrame, tm: TableMapping
              ) -> tuple[pl.DataFrame, int, tuple[str, ...]]:
    keys = tuple(k for k in tm.unique if k in out.columns)
    n = 0
    if keys:
        out, n = collapse(out, keys, "_order")
    return out.sort("_order").drop("_order"), n, keys


def _table_exprs(df: pl.DataFrame, tm: TableMapping, m: Mapping, f: RawFile,  # noqa: C901
                 fields: dict[str, Any], source_cols: list[str],
                 checks: list[Check], multi: bool
                 ) -> tuple[list[pl.Expr], set[str]]:
    """Conversion expressions of one record table; adds its row checks to ``checks``.

    Returns the expressions and the source columns they read.
    """
    spec = TABLES[tm.table]
    fixed = {**_file_values(m, tm, f, fields), **tm.constants}
    exprs: dict[str, tuple[pl.Expr, str | None]] = {}
    for col in spec.columns:
        if col.name in tm.columns:
            exprs[col.name] = (pl.col(tm.columns[col.name]), tm.columns[col.name])
        elif col.name in fixed:
            exprs[col.name] = (pl.lit(fixed[col.name],
                                      _dtype(col.kind, m.id_type)), None)
        elif col.name in source_cols:
            exprs[col.name] = (pl.col(col.name), col.name)
    missing = [c.name for c in spec.columns if c.required and c.name not in exprs]
    if missing:
        raise IngestError(
            f"file '{f.label}': table '{tm.table}' needs column(s) {missing}; map "
            "them in [columns] (contract name = source column), set them in "
            f"[constants] or from_file (mapping file '{m.label}')")
    used = {s for _, s in exprs.values() if s} | set(tm.extra.values())
    conv: list[pl.Expr] = []
    label = (lambda n: f"{tm.table}.{n}") if multi else (lambda n: n)  # noqa: E731
    for name, (src, src_name) in exprs.items():
        colspec = spec.column(name)
        assert colspec is not None
        if src_name is None:  # a constant or file value, checked when read
            conv.append(src.alias(name))
            continue
        value = src
        if name in tm.values:
            value = value.cast(pl.Utf8).replace(
                {str(k): v for k, v in tm.values[name].items()})
        out = _convert(df, colspec.kind, value, m, f, src_name).alias(name)
        # An optional column's unreadable value is nulled (a field note), a
        # required column's sends the row to the quarantine.
        lenient = not colspec.required
        kind = "bad_timestamp" if colspec.kind == TS_KIND else "bad_type"
        what = _kind_word(colspec.kind, m.id_type)
        if colspec.kind == TS_KIND:
            what += (f" in format {m.ts_format!r}" if m.ts_format else " in ISO 8601")
            if m.zone:
                what += (f", zone {m.zone}; a local time in a daylight-saving gap or "
                         "fold cannot be read")
        checks.append((src.is_not_null() & out.is_null(), kind, src_name,
                       f"'{src_name}' cannot be read as {label(name)} ({what})",
                       lenient))
        bounds = active_bounds()
        if colspec.kind == TS_KIND and bounds is not None:
            lo, hi = bounds
            outside = out.is_not_null() & ~out.is_between(lo, hi)
            checks.append((outside, "bad_timestamp", src_name,
                           f"{label(name)} lies outside the plausible range "
                           f"{lo.date().isoformat()} to one day after the ingest",
                           lenient))
            out = pl.when(~outside.fill_null(False)).then(out).alias(name)
        if colspec.kind == INT and name.endswith("_count"):
            negative = out.is_not_null() & (out < 0)
            checks.append((negative, "bad_value", src_name,
                           f"{label(name)} is a negative count", lenient))
            out = pl.when(~negative.fill_null(False)).then(out).alias(name)
        conv.append(out)
        if colspec.not_null:
            checks.append((out.is_null(), "missing_value", src_name,
                           f"required value {label(name)} is missing", False))
        if colspec.allowed is not None:
            checks.append((out.is_not_null() & ~out.is_in(list(colspec.allowed)),
                           "bad_value", src_name,
                           f"{label(name)} must be one of {list(colspec.allowed)}",
                           False))
    for t, src_col in tm.extra.items():
        value = pl.col(src_col)
        if t in tm.values:
            value = value.cast(pl.Utf8).replace(
                {str(k): v for k, v in tm.values[t].items()})
        conv.append(value.alias(t))
    return conv, used


def _kind_word(kind: str, id_type: str) -> str:
    return {ID: "an integer id" if id_type == "int" else "a text id",
            STR: "text", INT: "an integer", FLOAT: "a number", BOOL: "true/false",
            TS_KIND: "a timestamp"}[kind]


def mapping_raw(path: str | os.PathLike[str]) -> RawFile:
    """Return the mapping file as a manifest input."""
    from measure.ingest._common import _raw

    return _raw(Path(path), str(path))
