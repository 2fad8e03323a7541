"""Which accounts a profile describes.

The census population, labelled supporters, every account, or a list given by the
user.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from measure.dataset import Dataset
from measure.describe import _sql
from measure.errors import ConfigError, DataContractError

#: Cohort keywords accepted by ``analyze(..., cohort=...)``.
COHORT_SOURCES = ("auto", "population", "labelled", "all")
#: Boolean columns of a ``population`` table that mark predicted supporters.
POPULATION_FLAGS = ("is_supporter", "predicted_supporter", "supporter", "predicted")


@dataclass(frozen=True)
class Cohort:
    """A set of accounts with design weights.

    Attributes
    ----------
    name
        Short description of where the accounts came from.
    frame
        ``account_id`` and ``weight`` (inverse inclusion probability, 1 if none).
    weighted
        Whether the weights differ between accounts.
    """

    name: str
    frame: pl.DataFrame

    @property
    def n(self) -> int:
        """Number of accounts."""
        return self.frame.height

    @property
    def weighted(self) -> bool:
        """Whether the weights differ between accounts."""
        w = self.frame["weight"]
        return self.n > 0 and float(w.min()) != float(w.max())


def _cast_ids(ds: Dataset, ids: pl.Series) -> pl.Series:
    kind = ds.id_type
    if kind == "int":
        try:
            return ids.cast(pl.Int64, strict=True)
        except Exception as e:  # polars raises several error types
            raise DataContractError(
                f"cohort ids are not integers but the dataset's account ids are "
                f"BIGINT ({e}); give the numeric account_id values",
                column="account_id") from e
    if kind == "str":
        return ids.cast(pl.Utf8)
    return ids


def _finish(ds: Dataset, name: str, df: pl.DataFrame) -> Cohort:
    if "account_id" not in df.columns:
        raise ConfigError(
            f"cohort '{name}' has no account_id column (columns: {df.columns}); "
            "name the id column account_id")
    if "weight" not in df.columns:
        df = df.with_columns(weight=pl.lit(1.0))
    df = df.select(
        _cast_ids(ds, df["account_id"]).alias("account_id"),
        pl.col("weight").cast(pl.Float64),
    ).filter(pl.col("account_id").is_not_null())
    df = df.unique("account_id", keep="first", maintain_order=True)
    if df.filter(pl.col("weight").is_null() | (pl.col("weight") <= 0)).height:
        raise ConfigError(f"cohort '{name}' has missing or non-positive weights; "
                          "weights are inverse inclusion probabilities (> 0)")
    return Cohort(name, df)


def read_cohort_file(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a cohort file: Parquet or CSV with ``account_id``, or one id per line.

    A ``weight`` column, when present, is kept.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"cohort file '{p}' does not exist; give a Parquet/CSV file "
                          "with an account_id column or a text file of ids")
    if p.suffix == ".parquet":
        return pl.read_parquet(p)
    first = p.read_text().lstrip().splitlines()[:1]
    if first and "account_id" in first[0].split(","):
        return pl.read_csv(p, infer_schema_length=0).with_columns(
            *([pl.col("weight").cast(pl.Float64)] if "weight" in
              first[0].split(",") else []))
    lines = [x.strip() for x in p.read_text().splitlines()]
    return pl.DataFrame({"account_id": [x for x in lines if x]})


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


def resolve_cohort(ds: Dataset, cohort: Any = None, *, name: str | None = None
                   ) -> Cohort:
    """Turn a cohort specification into a :class:`Cohort`.

    Parameters
    ----------
    ds
        The dataset.
    cohort
        ``None``/``"auto"`` (``population`` table if present, else labelled
        supporters if ``labels`` exists, else every account), ``"population"``,
        ``"labelled"``, ``"all"``, a path to a cohort file, a polars DataFrame with
        ``account_id`` (and optional ``weight``), a :class:`Cohort`, or an iterable
        of account ids.
    name
        Label for the cohort (defaults to its source).
    """
    if isinstance(cohort, Cohort):
        return cohort
    if cohort is None or (isinstance(cohort, str) and cohort == "auto"):
        if ds.has("population"):
            cohort = "population"
        elif ds.has("labels"):
            cohort = "labelled"
        else:
            cohort = "all"
    if isinstance(cohort, str) and cohort in COHORT_SOURCES:
        if cohort == "population":
            ds.require("population")
            c = population_cohort(ds)
        elif cohort == "labelled":
            ds.require("labels")
            c = labelled_cohort(ds)
            if c.n == 0:
                c = Cohort("labelled supporters", c.frame)
        else:
            ds.require("accounts")
            c = _finish(ds, "all accounts", ds.sql(_sql.ALL_ACCOUNTS))
    elif isinstance(cohort, str | os.PathLike):
        c = _finish(ds, f"file {Path(cohort).name}", read_cohort_file(cohort))
    elif isinstance(cohort, pl.DataFrame):
        c = _finish(ds, "given accounts", cohort)
    elif isinstance(cohort, Iterable):
        c = _finish(ds, "given accounts", pl.DataFrame({"account_id": list(cohort)}))
    else:
        raise ConfigError(
            f"cohort must be one of {COHORT_SOURCES}, a file path, a DataFrame with "
            f"account_id or a list of ids; got {type(cohort).__name__}")
    if name:
        c = Cohort(name, c.frame)
    return c


def register(ds: Dataset, cohort: Cohort, *, network: bool = False) -> None:
    """Load the cohort into SQL as ``_describe_cohort(account_id, weight)``.

    With ``network=True`` it becomes ``_describe_network`` (the accounts counted as
    in-network) instead.
    """
    ds.con.register("_arrow", cohort.frame.to_arrow())
    ds.execute(_sql.LOAD_NETWORK if network else _sql.LOAD_COHORT)
    ds.con.unregister("_arrow")
