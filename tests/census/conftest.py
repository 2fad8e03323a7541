"""Hand-built census datasets for the census tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from measure import DatasetWriter

UTC = dt.UTC
T0 = dt.datetime(2014, 11, 1, tzinfo=UTC)

# followers lists collected: owner -> followers (src follows owner)
FOLLOWERS = {
    1: [10, 11, 12, 2],
    2: [10, 13],
    10: [11, 20, 21, 1],
    11: [10, 22],
}
SEEDS = [1, 2]
CRAWLS = [(1, "followers", 0, True), (2, "followers", 0, True),
          (10, "followers", 1, True), (11, "followers", 1, False)]


def tiny_tables() -> dict[str, pl.DataFrame]:
    """The tiny census world: 2 seeds, 2 crawled level-1 accounts, 9 accounts."""
    edges = [(f, owner) for owner, fs in FOLLOWERS.items() for f in fs]
    # a duplicated edge (re-crawl) and a mention that must be ignored
    edges_df = pl.DataFrame(
        {
            "src": [e[0] for e in edges] + [10, 12],
            "dst": [e[1] for e in edges] + [1, 1],
            "relation": ["follows"] * len(edges) + ["follows", "mentions"],
        },
        schema={"src": pl.Int64, "dst": pl.Int64, "relation": pl.Utf8},
    )
    ids = sorted({i for e in edges for i in e})
    accounts = pl.DataFrame(
        {
            "account_id": ids,
            "screen_name": [f"user{i}" for i in ids],
            "display_name": [f"User {i}" for i in ids],
            "description": [f"bio of {i}" for i in ids],
            "lang": ["ar" if i % 2 else "en" for i in ids],
        },
        schema_overrides={"account_id": pl.Int64},
    )
    obs = pl.DataFrame(
        {
            "account_id": ids + [10],
            "observed_at": [T0] * len(ids) + [T0 + dt.timedelta(days=7)],
            "status": ["active"] * len(ids) + ["active"],
            "followers_count": [100] * len(ids) + [4],
            "friends_count": [50] * len(ids) + [6],
            "statuses_count": [10] * len(ids) + [11],
        },
        schema_overrides={"account_id": pl.Int64,
                          "observed_at": pl.Datetime("us", "UTC")},
    )
    crawls = pl.DataFrame(
        {
            "account_id": [c[0] for c in CRAWLS],
            "list": [c[1] for c in CRAWLS],
            "level": [c[2] for c in CRAWLS],
            "complete": [c[3] for c in CRAWLS],
        },
        schema_overrides={"account_id": pl.Int64, "level": pl.Int32},
    )
    seeds = pl.DataFrame({"account_id": SEEDS}, schema={"account_id": pl.Int64})
    return {"accounts": accounts, "observations": obs, "edges": edges_df,
            "crawls": crawls, "seeds": seeds}


def write_dataset(path: Path, tables: dict[str, pl.DataFrame]) -> Path:
    """Write ``tables`` as a dataset at ``path`` with the DatasetWriter."""
    with DatasetWriter(path, name=path.name, command="tests", overwrite=True) as w:
        for name, df in tables.items():
            w.write_table(name, df)
    return path


@pytest.fixture
def tiny_world(tmp_path: Path) -> Path:
    """Path of the tiny census world (no labels)."""
    return write_dataset(tmp_path / "tiny", tiny_tables())
