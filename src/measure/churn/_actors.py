"""Presumed actors for clustered standard errors, from resurrection links.

Accounts that one person or group runs share their fate: they are suspended in the
same sweep and come back together. Standard errors that treat them as independent
are too small (Lin & Wei 1989; Williams 1995). The resurrection family links each
suspended account to the account that replaced it; the chains of those links are
the presumed actors. This module turns links (or a ready-made account-to-actor
table) into one cluster label per account; accounts in no link are clusters of
their own.

References
----------
Lin, D. Y. & Wei, L. J. (1989). The robust inference for the Cox proportional
hazards model. JASA 84, 1074-1078.
Williams, R. L. (1995). Product-limit survival functions with correlated survival
times. Lifetime Data Analysis 1, 171-186.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from measure.errors import ConfigError, DataContractError

#: Name of the cluster column the actors are joined under.
ACTOR_COLUMN = "presumed_actor"


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise ConfigError(f"actors file {str(path)!r} does not exist")
    if path.suffix.lower() == ".csv":
        return pl.read_csv(path, infer_schema_length=None)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pl.read_parquet(path)
    raise ConfigError(f"actors file {str(path)!r}: expected a .parquet or .csv file "
                      "(the links of `measure resurrection --links-out`, or a table "
                      "with account_id and actor)")


def _components(previous: list[Any], new: list[Any]) -> dict[Any, int]:
    """Return the connected component of every account in the link graph."""
    parent: dict[Any, Any] = {}

    def find(a: Any) -> Any:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    for a, b in zip(previous, new, strict=True):
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    roots: dict[Any, int] = {}
    return {a: roots.setdefault(find(a), len(roots)) for a in parent}


def actor_table(actors: Any) -> tuple[pl.DataFrame, str]:
    """Account-to-actor table from links or from a ready-made mapping.

    Parameters
    ----------
    actors
        A resurrection result (its ``links``), a links table with columns
        ``previous`` and ``new`` (as written by ``measure resurrection
        --links-out``; every connected chain of links is one actor), a table with
        ``account_id`` and ``actor``, or a path to a Parquet/CSV file holding
        either.

    Returns
    -------
    (polars.DataFrame, str)
        ``account_id``, ``presumed_actor`` (Int64) for every account named in a
        link or the mapping, and a sentence describing the clusters.
    """
    source, file = "table", None
    if isinstance(actors, (str, Path)):
        source, file = f"file {str(actors)!r}", str(actors)
        actors = _read(Path(actors))
    elif hasattr(actors, "links") and isinstance(actors.links, pl.DataFrame):
        source = "resurrection result"
        actors = actors.links
    if not isinstance(actors, pl.DataFrame):
        raise ConfigError("actors must be a resurrection result, a polars DataFrame "
                          "or a path to a links/actors file, got "
                          f"{type(actors).__name__}")
    cols = set(actors.columns)
    if {"previous", "new"} <= cols:
        for c in ("previous", "new"):
            n_null = actors[c].null_count()
            if n_null:
                row = int(actors[c].is_null().arg_max())
                raise DataContractError(
                    f"{n_null} link(s) with no {c!r} account (first at row {row})",
                    column=c, file=file)
        comp = _components(actors["previous"].to_list(), actors["new"].to_list())
        dtype = actors["previous"].dtype
        table = pl.DataFrame(
            {"account_id": pl.Series(list(comp), dtype=dtype),
             ACTOR_COLUMN: pl.Series(list(comp.values()), dtype=pl.Int64)})
        n_act = len(set(comp.values()))
        what = (f"{table.height} accounts in {n_act} chains of resurrection links "
                f"({actors.height} links, {source})")
    elif {"account_id", "actor"} <= cols:
        dup = actors["account_id"].is_duplicated()
        if dup.any():
            row = int(dup.arg_max())
            raise DataContractError(
                f"account {actors['account_id'][row]!r} is given more than one "
                f"actor (row {row})", column="account_id", file=file)
        codes = actors["actor"].cast(pl.Utf8).rank("dense").cast(pl.Int64)
        table = pl.DataFrame({"account_id": actors["account_id"],
                              ACTOR_COLUMN: codes})
        table = table.filter(pl.col(ACTOR_COLUMN).is_not_null())
        n_act = int(table[ACTOR_COLUMN].n_unique())
        what = f"{table.height} accounts in {n_act} actors ({source})"
    else:
        raise ConfigError(f"actors {source} has columns {actors.columns}; expected "
                          "'previous' and 'new' (resurrection links) or "
                          "'account_id' and 'actor'")
    return table, what


def join_actors(frame: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """Add the actor column to a lifetimes frame (null = a cluster of its own)."""
    want = frame.schema["account_id"]
    try:
        table = table.with_columns(pl.col("account_id").cast(want, strict=True))
    except pl.exceptions.InvalidOperationError as e:
        raise DataContractError(
            f"the actors name accounts as {table.schema['account_id']}, the panel as "
            f"{want}; they cannot be matched ({e})", column="account_id") from e
    return frame.join(table, on="account_id", how="left")
