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


def make_world(seed: int = 0, n_sup: int = 300, n_bg: int = 3000,
               n_seeds: int = 5) -> tuple[dict[str, pl.DataFrame], set[int]]:
    """A followers-only snowball over a random network with known supporters.

    Supporters (ids 1..n_sup) follow each other with probability decreasing in id
    (low ids are prominent); background accounts follow a few random accounts.
    Seeds are the most prominent supporters; the followers lists of seeds (level 0)
    and of every level-1 account are collected; 10% of level-1 lists are truncated.
    Returns the tables and the set of supporter ids.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sup = np.arange(1, n_sup + 1)
    bg = np.arange(100_001, 100_001 + n_bg)
    prom = 1.0 / np.sqrt(sup)
    src, dst = [], []
    for s in sup:
        k = rng.poisson(12)
        tgt = rng.choice(sup, size=min(k, n_sup - 1), replace=False,
                         p=prom / prom.sum())
        src += [s] * len(tgt)
        dst += tgt.tolist()
    for b in bg:
        k = rng.poisson(1.5)
        pool = np.concatenate([sup, rng.choice(bg, size=30)])
        tgt = rng.choice(pool, size=k, replace=False)
        src += [b] * len(tgt)
        dst += tgt.tolist()
    e = pl.DataFrame({"src": src, "dst": dst}, schema={"src": pl.Int64,
                                                       "dst": pl.Int64})
    e = e.filter(pl.col("src") != pl.col("dst")).unique().sort("src", "dst")
    seeds = sup[:n_seeds].tolist()
    lvl1 = (e.filter(pl.col("dst").is_in(seeds))["src"].unique()
            .filter(~pl.Series(e.filter(pl.col("dst").is_in(seeds))["src"]
                               .unique()).is_in(seeds)).to_list())
    crawled0 = seeds
    crawled1 = sorted(set(lvl1))
    trunc = set(rng.choice(crawled1, size=len(crawled1) // 10,
                           replace=False).tolist()) if crawled1 else set()
    owners = crawled0 + crawled1
    kept = e.filter(pl.col("dst").is_in(owners))
    # truncated lists lose half of their followers
    keep_mask = [not (d in trunc and rng.random() < 0.5)
                 for d in kept["dst"].to_list()]
    kept = kept.filter(pl.Series(keep_mask))
    crawls = pl.DataFrame({
        "account_id": owners,
        "list": ["followers"] * len(owners),
        "level": [0] * len(crawled0) + [1] * len(crawled1),
        "complete": [a not in trunc for a in owners],
    }, schema_overrides={"account_id": pl.Int64, "level": pl.Int32})
    ids = sorted(set(kept["src"].to_list()) | set(kept["dst"].to_list())
                 | set(seeds))
    langs = np.where(np.isin(ids, sup), rng.choice(["ar", "en", "fr"], len(ids),
                                                   p=[.7, .2, .1]),
                     rng.choice(["ar", "en", "fr"], len(ids), p=[.2, .7, .1]))
    accounts = pl.DataFrame({
        "account_id": ids, "screen_name": [f"u{i}" for i in ids],
        "display_name": [f"U {i}" for i in ids],
        "description": ["" if rng.random() < 0.3 else f"bio {i}" for i in ids],
        "lang": langs.tolist(),
    }, schema_overrides={"account_id": pl.Int64})
    obs = pl.DataFrame({
        "account_id": ids, "observed_at": [T0] * len(ids),
        "status": ["active"] * len(ids),
        "followers_count": rng.poisson(200, len(ids)).tolist(),
        "friends_count": rng.poisson(150, len(ids)).tolist(),
        "statuses_count": rng.poisson(1000, len(ids)).tolist(),
    }, schema_overrides={"account_id": pl.Int64,
                         "observed_at": pl.Datetime("us", "UTC")})
    tables = {"accounts": accounts, "observations": obs, "edges": kept,
              "crawls": crawls,
              "seeds": pl.DataFrame({"account_id": seeds},
                                    schema={"account_id": pl.Int64})}
    return tables, set(sup.tolist())


@pytest.fixture
def medium_world(tmp_path: Path) -> tuple[Path, set[int]]:
    """A ~1,000-account snowball world with known supporters (no labels)."""
    tables, sup = make_world(0)
    return write_dataset(tmp_path / "medium", tables), sup


@pytest.fixture
def census_helpers() -> dict:
    """The builders above (``tiny_tables``, ``make_world``, ``write_dataset``)."""
    return {"tiny_tables": tiny_tables, "make_world": make_world,
            "write_dataset": write_dataset}
