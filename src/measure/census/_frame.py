"""Build the census frame and its in-network sorting metrics with DuckDB.

The frame follows Berger & Morgan (2015), *The ISIS Twitter Census*, §3.4 (snowball
levels), §3.6 and App. A (in-network metrics computed from partial lists). All work
runs inside DuckDB on the dataset's connection (steps in :mod:`measure.census._sql`),
so edge lists far larger than memory are handled by DuckDB's out-of-core operators.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from measure._io import atomic_path
from measure.census import _sql
from measure.dataset import Dataset
from measure.errors import DataContractError

FRAME_TABLE = "census_frame"
RANKED_TABLE = "census_ranked"


def _exists(ds: Dataset, name: str) -> bool:
    row = ds.con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
        [name],
    ).fetchone()
    return bool(row and row[0])


def frame_steps(ds: Dataset) -> list[tuple[str, str]]:
    """Return the ordered ``(name, sql)`` steps that build the frame for ``ds``.

    The first steps pick the variant matching the optional columns present
    (``edges.relation``, ``crawls.complete``) and whether ``observations`` exists.
    """
    steps = [
        ("follows", _sql.FOLLOWS_WITH_RELATION if ds.has_column("edges", "relation")
         else _sql.FOLLOWS_NO_RELATION),
        ("crawls", _sql.CRAWLS_WITH_COMPLETE if ds.has_column("crawls", "complete")
         else _sql.CRAWLS_NO_COMPLETE),
    ]
    if ds.has("observations"):
        steps.append(("latest_active", _sql.LATEST_ACTIVE))
    else:
        id_type = "VARCHAR" if ds.id_type == "str" else "BIGINT"
        steps.append(("latest_active", _sql.LATEST_EMPTY.format(id_type=id_type)))
    steps.extend(_sql.FRAME_STEPS)
    return steps


def build_frame(ds: Dataset, *, ranks: bool = True, rebuild: bool = False) -> str:
    """Create the frame as a temporary table on ``ds.con`` and return its name.

    Parameters
    ----------
    ds
        A dataset with ``seeds``, ``crawls`` and ``edges`` (``observations``
        optional: without it the share metrics are null).
    ranks
        Also build ``census_ranked`` with ``rank_<metric>`` (1 = highest) and
        ``pct_<metric>`` (cumulative share of the frame at or below the value).
    rebuild
        Rebuild even when the tables already exist on this connection.

    Returns
    -------
    str
        ``"census_ranked"`` when ``ranks`` else ``"census_frame"``.

    Notes
    -----
    In-network counts use only collected lists; an uncollected list is unknown, not
    empty, so counts are lower bounds where the flags ``in_followers_lower_bound`` /
    ``in_friends_lower_bound`` say so (Berger & Morgan 2015, App. A).
    """
    ds.require("census")
    # Row order of the temporary tables is irrelevant (readers sort), and not
    # preserving it lets DuckDB stream large aggregations with less memory.
    keep = ds.execute("SELECT current_setting('preserve_insertion_order')"
                      ).fetchone()[0]
    ds.execute("SET preserve_insertion_order = false")
    try:
        if rebuild or not _exists(ds, FRAME_TABLE):
            for name, sql in frame_steps(ds):
                if name == "recip_outside" and not ds.execute(
                        _sql.HAS_OUTSIDE_FRIENDS).fetchone()[0]:
                    continue  # no friends list reaches outside N: nothing to probe
                ds.execute(sql)
            for tmp in ("census_out", "census_in", "census_from_core"):
                ds.execute(f"DROP TABLE IF EXISTS {tmp}")
        if ranks:
            if rebuild or not _exists(ds, RANKED_TABLE):
                ds.execute(_sql.RANKS)
            return RANKED_TABLE
        return FRAME_TABLE
    finally:
        ds.execute(f"SET preserve_insertion_order = {'true' if keep else 'false'}")


def frame(ds: Dataset, *, ranks: bool = True, profile: bool = False) -> pl.DataFrame:
    """Return the frame (one row per account) as a polars DataFrame.

    Parameters
    ----------
    ds
        The dataset.
    ranks
        Include ``rank_*``/``pct_*`` columns.
    profile
        Add ``screen_name``, ``display_name``, ``description``, ``lang`` from
        ``accounts``.
    """
    table = build_frame(ds, ranks=ranks)
    if profile:
        q = _sql.FRAME_PROFILE.replace("census_frame", table)
        return ds.sql(q).sort("account_id")
    return ds.sql(f"SELECT * FROM {table} ORDER BY account_id")


def frame_counts(ds: Dataset) -> pl.DataFrame:
    """Frame size by ``level`` and ``tier``."""
    build_frame(ds, ranks=False)
    return ds.sql(_sql.FRAME_COUNTS)


def write_frame(ds: Dataset, out: str | os.PathLike[str]) -> Path:
    """Write the ranked frame to ``out`` (Parquet), atomically.

    DuckDB streams the table to a temporary sibling file, which is then renamed into
    place, so a crash never leaves a half-written file.
    """
    out = Path(out)
    if out.suffix != ".parquet":
        raise DataContractError(
            f"the frame is written as Parquet; give a path ending in .parquet "
            f"(got '{out}')")
    build_frame(ds, ranks=True)
    with atomic_path(out) as tmp:
        quoted = "'" + str(tmp).replace("'", "''") + "'"
        ds.execute(_sql.COPY_RANKED.format(path=quoted))
    return out
