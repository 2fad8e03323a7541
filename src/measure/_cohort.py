"""Which accounts an analysis covers: one cohort resolver for every family.

Every family's ``analyze`` takes ``cohort`` and reads it here, so the forms it
accepts and the errors it raises are the same everywhere:

* a path to a cohort file: Parquet or CSV with an ``account_id`` column (and an
  optional ``weight`` column, kept), or a text file with one account id per line;
* a polars or pandas DataFrame with ``account_id`` (optional ``weight``);
* a polars Series or any other sequence of account ids;
* a name, where a family defines named cohorts (``describe``: ``"population"``,
  ``"labelled"``, ``"all"``); a string that is not a name is read as a path.

``where`` restricts the accounts by their ``accounts`` columns with a restricted
filter (``"lang=ar"``, ``"lang in ar,fr"``, ``"followers_count>100"``, joined with
``" and "``, or a mapping ``{"lang": "ar"}``; see :func:`parse_where`). Columns are
checked against the ``accounts`` table and quoted; values are always bound as
query parameters, never pasted into SQL text.

Ids are cast to the dataset's id type (an error names the column when they cannot
be), missing ids are dropped, and repeated ids are kept once (the first, with its
weight).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from measure.errors import ConfigError, DataContractError

#: The id column every cohort form must carry.
ID_COLUMN = "account_id"
#: Optional design-weight column of a cohort (inverse inclusion probability).
WEIGHT_COLUMN = "weight"

_WHERE_RE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|=|!=|<>|>=|<=|>|<|\s+in\s+|\s+not\s+in\s+)"
    r"\s*(.*?)\s*$",
    re.IGNORECASE,
)
_FORMS = ("a Parquet/CSV file with an 'account_id' column or a text file with one "
          "id per line, a polars or pandas DataFrame with 'account_id', or a "
          "sequence of account ids")


@dataclass(frozen=True)
class Cohort:
    """A set of accounts with design weights.

    Attributes
    ----------
    name
        Short description of where the accounts came from.
    frame
        ``account_id`` (the dataset's id type, unique, no nulls) and ``weight``
        (inverse inclusion probability; 1 when the cohort gives none).
    """

    name: str
    frame: pl.DataFrame

    @property
    def n(self) -> int:
        """Number of accounts."""
        return self.frame.height

    @property
    def ids(self) -> pl.DataFrame:
        """The ``account_id`` column alone."""
        return self.frame.select(ID_COLUMN)

    @property
    def weighted(self) -> bool:
        """Whether the weights differ between accounts."""
        w = self.frame[WEIGHT_COLUMN]
        return self.n > 0 and float(w.min()) != float(w.max())


def read_cohort_file(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a cohort file.

    Parameters
    ----------
    path
        ``.parquet``: Parquet with ``account_id``. Otherwise CSV when the first
        line is a header naming ``account_id`` (read as text, so ids keep leading
        zeros; ``weight`` is read as a number), else one account id per line.

    Returns
    -------
    polars.DataFrame
        The file's columns (at least ``account_id``).

    Raises
    ------
    ConfigError
        When the file does not exist.
    DataContractError
        When a Parquet or CSV file has no ``account_id`` column (names the file and
        lists its columns).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"cohort file '{p}' does not exist; give {_FORMS}")
    if p.suffix.lower() == ".parquet":
        df = pl.read_parquet(p)
    else:
        text = p.read_text()
        lines = text.lstrip().splitlines()
        header = [c.strip().strip('"') for c in lines[0].split(",")] if lines else []
        if ID_COLUMN in header or p.suffix.lower() == ".csv" and len(header) > 1:
            df = pl.read_csv(p, infer_schema_length=0)
            if WEIGHT_COLUMN in df.columns:
                df = df.with_columns(pl.col(WEIGHT_COLUMN).cast(pl.Float64))
        else:
            ids = [x.strip() for x in text.splitlines() if x.strip()]
            df = pl.DataFrame({ID_COLUMN: ids}, schema={ID_COLUMN: pl.Utf8})
    if ID_COLUMN not in df.columns:
        raise DataContractError(
            f"has columns {df.columns}; a cohort file needs an 'account_id' column "
            "(rename the id column)", file=str(p), column=ID_COLUMN)
    return df


def _is_pandas(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "columns")


def cohort_frame(cohort: Any) -> pl.DataFrame:
    """Read any cohort form but a name into a frame with ``account_id``.

    Parameters
    ----------
    cohort
        A path (see :func:`read_cohort_file`), a polars or pandas DataFrame with
        ``account_id``, a polars Series or another iterable of ids.

    Returns
    -------
    polars.DataFrame
        ``account_id`` and, when given, ``weight`` (ids not yet cast).

    Raises
    ------
    ConfigError
        When a frame lacks ``account_id`` or the object is none of the forms.
    """
    if isinstance(cohort, str | os.PathLike):
        df = read_cohort_file(cohort)
    elif isinstance(cohort, pl.DataFrame) or _is_pandas(cohort):
        df = cohort if isinstance(cohort, pl.DataFrame) else pl.from_pandas(cohort)
        if ID_COLUMN not in df.columns:
            raise ConfigError(f"the cohort DataFrame has no 'account_id' column "
                              f"(columns: {df.columns}); name the id column "
                              "account_id")
    elif isinstance(cohort, pl.Series):
        df = pl.DataFrame({ID_COLUMN: cohort})
    elif isinstance(cohort, Iterable) and not isinstance(cohort, bytes | Mapping):
        df = pl.DataFrame({ID_COLUMN: list(cohort)})
    else:
        raise ConfigError(f"cohort must be {_FORMS}; got {type(cohort).__name__}")
    return df.select(ID_COLUMN, *([WEIGHT_COLUMN] if WEIGHT_COLUMN in df.columns
                                  else []))


def cast_ids(ds: Any, ids: pl.Series) -> pl.Series:
    """Cast cohort ids to the dataset's id type (``ds.id_type``).

    Raises
    ------
    DataContractError
        When the dataset's ids are integers and a cohort id is not (names the
        column and the first offending value).
    """
    kind = ds.id_type
    if kind == "int":
        try:
            return ids.cast(pl.Int64, strict=True)
        except Exception as e:  # polars raises several error types
            bad = ids.cast(pl.Int64, strict=False).is_null() & ids.is_not_null()
            example = ids.filter(bad).head(1).to_list()
            raise DataContractError(
                "cohort ids are not integers but the dataset's account ids are; "
                "give the numeric account_id values", column=ID_COLUMN,
                example=example[0] if example else None) from e
    if kind == "str":
        return ids.cast(pl.Utf8)
    return ids


def finish_cohort(ds: Any, name: str, df: pl.DataFrame) -> Cohort:
    """Cast, drop missing and repeated ids, add and check weights.

    Raises
    ------
    ConfigError
        When ``account_id`` is missing, or a weight is missing or not positive.
    """
    if ID_COLUMN not in df.columns:
        raise ConfigError(
            f"cohort '{name}' has no account_id column (columns: {df.columns}); "
            "name the id column account_id")
    if WEIGHT_COLUMN not in df.columns:
        df = df.with_columns(pl.lit(1.0).alias(WEIGHT_COLUMN))
    df = df.select(
        cast_ids(ds, df[ID_COLUMN]).alias(ID_COLUMN),
        pl.col(WEIGHT_COLUMN).cast(pl.Float64),
    ).filter(pl.col(ID_COLUMN).is_not_null())
    df = df.unique(ID_COLUMN, keep="first", maintain_order=True)
    if df.filter(pl.col(WEIGHT_COLUMN).is_null() | (pl.col(WEIGHT_COLUMN) <= 0)
                 ).height:
        raise ConfigError(f"cohort '{name}' has missing or non-positive weights; "
                          "weights are inverse inclusion probabilities (> 0)")
    return Cohort(name, df)


def parse_where(expr: str | Mapping[str, Any] | Sequence[str] | None
                ) -> list[tuple[str, str, list[str]]]:
    """Parse a restricted filter into ``(column, operator, values)`` triples.

    Accepted forms: ``"lang=ar"``, ``"lang!=ar"``, ``"lang in ar,fr"``,
    ``"lang not in en"``, ``"followers>100"`` (``> >= < <=``), several joined with
    ``" and "`` or given as a list, or a mapping ``{"lang": "ar"}``. Values are
    bound as query parameters, never pasted into SQL.

    Raises
    ------
    ConfigError
        When a part is none of these forms.
    """
    if expr is None:
        return []
    if isinstance(expr, Mapping):
        out = []
        for k, v in expr.items():
            if isinstance(v, list | tuple | set):
                out.append((str(k), "in", [str(x) for x in v]))
            else:
                out.append((str(k), "=", [str(v)]))
        return out
    parts: list[str] = []
    for e in [expr] if isinstance(expr, str) else list(expr):
        parts.extend(p for p in re.split(r"\s+and\s+", e, flags=re.IGNORECASE) if p)
    out = []
    for p in parts:
        m = _WHERE_RE.match(p)
        if not m or not m.group(3):
            raise ConfigError(
                f"cannot read the filter {p!r}; write COLUMN=VALUE, COLUMN!=VALUE, "
                "COLUMN in V1,V2, COLUMN not in V1,V2 or COLUMN>VALUE (> >= < <=), "
                "several joined with ' and '")
        col, op, val = m.group(1), m.group(2).strip().lower(), m.group(3)
        op = {"==": "=", "<>": "!="}.get(op, op)
        op = "not in" if op.replace(" ", "") == "notin" else op
        vals = [v.strip().strip("'\"") for v in val.split(",")] if "in" in op else [
            val.strip("'\"")]
        out.append((col, op, vals))
    return out


def quote_ident(name: str) -> str:
    """Quote a (checked) identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def where_sql(ds: Any, where: Any, *, alias: str = "a") -> tuple[str, list[Any]]:
    """Build the SQL predicate on ``accounts`` (as ``alias``) for a filter.

    Parameters
    ----------
    ds
        The dataset (its ``accounts`` columns are the ones allowed).
    where
        A filter in any form :func:`parse_where` reads, or ``None`` (``TRUE``).
    alias
        The table alias the predicate qualifies columns with.

    Returns
    -------
    tuple of str and list
        The predicate (``?`` placeholders) and the values to bind, in order.

    Raises
    ------
    ConfigError
        When a filter column is not a column of ``accounts`` (lists them).
    """
    conds = parse_where(where)
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if not conds:
        return "TRUE", params
    rel = ds.table("accounts")
    types = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
    for col, op, vals in conds:
        if col not in types:
            raise ConfigError(
                f"filter column {col!r} is not a column of table 'accounts'; "
                f"columns are: {', '.join(rel.columns)}")
        q = f"{alias}." + quote_ident(col)
        # the type string comes from DuckDB's own schema, not from user text
        cast = f"CAST(? AS {types[col]})"
        if op in ("in", "not in"):
            inner = ", ".join([cast] * len(vals))
            clauses.append(f"{q} {'NOT IN' if op == 'not in' else 'IN'} ({inner})")
        else:
            clauses.append(f"{q} {op} {cast}")
        params.extend(vals)
    return " AND ".join(clauses), params


def where_ids(ds: Any, where: Any) -> pl.DataFrame:
    """``account_id`` of the accounts that satisfy a filter (see :func:`where_sql`)."""
    ds.require("accounts")
    pred, params = where_sql(ds, where)
    return ds.sql(f"SELECT a.account_id FROM accounts AS a WHERE {pred}", params)


NamedCohorts = Mapping[str, Callable[[Any], Cohort]]


def resolve_cohort(ds: Any, cohort: Any = None, *, where: Any = None,
                   named: NamedCohorts | None = None, name: str | None = None
                   ) -> Cohort | None:
    """Turn a cohort specification (and a filter) into a :class:`Cohort`.

    Parameters
    ----------
    ds
        The dataset (:class:`~measure.Dataset`).
    cohort
        ``None`` (no restriction), a :class:`Cohort`, a name in ``named``, or any
        form :func:`cohort_frame` reads.
    where
        Keep only the accounts whose ``accounts`` row satisfies this filter
        (:func:`parse_where`); with ``cohort=None`` the cohort is those accounts.
    named
        The family's named cohorts: name -> function of the dataset.
    name
        Label of the cohort (defaults to its source).

    Returns
    -------
    Cohort or None
        ``None`` when neither ``cohort`` nor ``where`` restricts the accounts.

    Raises
    ------
    ConfigError
        For a form not understood, a missing file or a bad filter (the message
        lists the accepted forms and, where the family has them, the names).
    DataContractError
        For a file without ``account_id`` or ids of the wrong type.
    """
    named = named or {}
    if cohort is None and where is None:
        return None
    if isinstance(cohort, Cohort):
        c = cohort
    elif cohort is None:
        c = finish_cohort(ds, "accounts matching the filter", where_ids(ds, where))
        where = None
    elif isinstance(cohort, str) and cohort in named:
        c = named[cohort](ds)
    elif isinstance(cohort, str) and named and not Path(cohort).exists():
        raise ConfigError(
            f"cohort {cohort!r} is neither one of the named cohorts "
            f"({', '.join(repr(k) for k in named)}) nor an existing file; give a "
            f"name or {_FORMS}")
    else:
        label = (f"file {Path(cohort).name}" if isinstance(cohort, str | os.PathLike)
                 else "given accounts")
        c = finish_cohort(ds, label, cohort_frame(cohort))
    if where is not None:
        keep = where_ids(ds, where)[ID_COLUMN].cast(c.frame.schema[ID_COLUMN])
        c = Cohort(c.name, c.frame.filter(pl.col(ID_COLUMN).is_in(keep.implode())))
    if name:
        c = Cohort(name, c.frame)
    return c


__all__ = ["ID_COLUMN", "WEIGHT_COLUMN", "Cohort", "NamedCohorts", "cast_ids",
           "cohort_frame", "finish_cohort", "parse_where", "quote_ident",
           "read_cohort_file", "resolve_cohort", "where_ids", "where_sql"]
