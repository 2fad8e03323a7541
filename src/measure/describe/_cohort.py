"""Which accounts a profile describes.

The census population, labelled supporters, every account, or a list given by the
user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

import polars as pl

from measure._cohort import Cohort, finish_cohort
from measure._cohort import read_cohort_file as read_cohort_file  # re-exported
from measure._cohort import resolve_cohort as _resolve
from measure.dataset import Dataset
from measure.describe import _sql

#: Cohort keywords accepted by ``analyze(..., cohort=...)``.
COHORT_SOURCES = ("auto", "population", "labelled", "all")
#: Boolean columns of a ``population`` table that mark predicted supporters.
POPULATION_FLAGS = ("is_supporter", "predicted_supporter", "supporter", "predicted")
#: The temporary tables :func:`register` makes on the dataset's connection.
TABLES = ("_describe_cohort", "_describe_network")


def _finish(ds: Dataset, name: str, df: pl.DataFrame) -> Cohort:
    return finish_cohort(ds, name, df)


def population_cohort(ds: Dataset) -> Cohort:
    """Predicted supporters from the census's ``population`` table."""
    df = ds.sql(_sql.POPULATION)
    for flag in POPULATION_FLAGS:
        if flag in df.columns and df[flag].dtype == pl.Boolean:
            df = df.filter(pl.col(flag))
            break
    else:
        if "label" in df.columns:
            df = df.filter(pl.col("label") == "supporter")
    return _finish(ds, "population (census predicted supporters)", df)


def labelled_cohort(ds: Dataset) -> Cohort:
    """Accounts hand-coded as supporters (majority of codes; ties are not).

    When ``labels.inclusion_prob`` is present the weight is its inverse, so that the
    profile describes the frame's supporters rather than the coding sample.
    """
    if ds.has_column("labels", "inclusion_prob"):
        df = ds.sql(_sql.LABELLED_PROB).with_columns(
            weight=1.0 / pl.col("inclusion_prob"))
    else:
        df = ds.sql(_sql.LABELLED)
    df = df.filter(pl.col("supporter_share") > 0.5)
    return _finish(ds, "labelled supporters", df)


def all_cohort(ds: Dataset) -> Cohort:
    """Every account of the ``accounts`` table (sorted by id)."""
    ds.require("accounts")
    ids = ds.sql(_sql.ALL_ACCOUNTS)["account_id"].drop_nulls().sort()
    if ids.len() > 1 and bool((ids.slice(1) == ids.slice(0, ids.len() - 1)).any()):
        # repeated ids: the general path keeps each once
        return _finish(ds, "all accounts", ids.to_frame())
    return Cohort("all accounts", pl.DataFrame(
        [ids, pl.Series("weight", [1.0], dtype=pl.Float64).extend_constant(
            1.0, ids.len() - 1)] if ids.len() else
        {"account_id": ids, "weight": pl.Series([], dtype=pl.Float64)}))


def _population(ds: Dataset) -> Cohort:
    ds.require("population")
    return population_cohort(ds)


def _labelled(ds: Dataset) -> Cohort:
    ds.require("labels")
    return labelled_cohort(ds)


#: The named cohorts of ``describe`` (``"auto"`` picks one of them).
NAMED = {"population": _population, "labelled": _labelled, "all": all_cohort}


def resolve_cohort(ds: Dataset, cohort: Any = None, *, where: Any = None,
                   name: str | None = None) -> Cohort:
    """Turn a cohort specification into a :class:`Cohort`.

    Parameters
    ----------
    ds
        The dataset.
    cohort
        ``None``/``"auto"`` (``population`` table if present, else labelled
        supporters if ``labels`` exists, else every account), ``"population"``,
        ``"labelled"``, ``"all"``, or any form :func:`measure._cohort.resolve_cohort`
        reads: a path to a cohort file, a polars or pandas DataFrame with
        ``account_id`` (and optional ``weight``), a :class:`Cohort`, or a sequence
        of account ids.
    where
        Keep only the cohort's accounts whose ``accounts`` row satisfies this
        filter (any form :func:`measure._cohort.parse_where` reads, bound as data).
    name
        Label for the cohort (defaults to its source).
    """
    if cohort is None or (isinstance(cohort, str) and cohort == "auto"):
        if ds.has("population"):
            cohort = "population"
        elif ds.has("labels"):
            cohort = "labelled"
        else:
            cohort = "all"
    c = cast(Cohort, _resolve(ds, cohort, where=where, named=NAMED, name=name))
    if where is not None and name is None:
        c = Cohort(f"{c.name} matching {where_label(where)}", c.frame)
    return c


def where_label(where: Any) -> str:
    """Short text of a filter for cohort names (``lang = 'ar' and ...``)."""
    from measure._cohort import parse_where

    return " and ".join(f"{col} {op} {','.join(vals)}"
                        for col, op, vals in parse_where(where))


def register(ds: Dataset, cohort: Cohort, *, network: bool = False) -> None:
    """Load the cohort into SQL as ``_describe_cohort(account_id, weight)``.

    With ``network=True`` it becomes ``_describe_network`` (the accounts counted as
    in-network) instead.
    """
    ds.con.register("_arrow", cohort.frame.to_arrow())
    ds.execute(_sql.LOAD_NETWORK if network else _sql.LOAD_COHORT)
    ds.con.unregister("_arrow")


def release(ds: Dataset) -> None:
    """Drop the tables :func:`register` made on ``ds``'s connection (if any)."""
    for t in TABLES:
        ds.execute(f"DROP TABLE IF EXISTS {t}")


@contextlib.contextmanager
def registered(ds: Dataset) -> Iterator[None]:
    """Drop the cohort tables made inside the block, also when it fails.

    Tables of :data:`TABLES` that existed before the block are left alone.
    """
    before = set(ds.sql("SELECT table_name FROM duckdb_tables() WHERE temporary")
                 ["table_name"].to_list())
    try:
        yield
    finally:
        for t in TABLES:
            if t not in before:
                ds.execute(f"DROP TABLE IF EXISTS {t}")
