"""Fixtures for the describe tests: hand-built datasets and the Fifth Tribe file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import measure

FIFTH_TRIBE = Path(__file__).resolve().parents[3] / "shared" / "reference-data" / \
    "fifth-tribe" / "tweets.csv"
if not FIFTH_TRIBE.is_file():  # the checkout may live elsewhere
    FIFTH_TRIBE = Path("/work/shared/reference-data/fifth-tribe/tweets.csv")

UTC_DT = pl.Datetime("us", "UTC")


def load_fifth_tribe_local(csv: Path, out: Path) -> Path:
    """A minimal loader used until ``measure.ingest`` (format ``fifthtribe``) lands.

    One account per username (ids by sorted username), one tweet per row, one
    ``active`` observation per distinct (account, time) with the row's follower and
    status counts; times are naive UTC minutes ``M/D/YYYY H:MM``.
    """
    df = pl.read_csv(csv).with_columns(
        created_at=pl.col("time").str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M")
        .dt.replace_time_zone("UTC"))
    names = sorted(df["username"].unique().to_list())
    ids = pl.DataFrame({"username": names, "account_id": range(1, len(names) + 1)},
                       schema={"username": pl.Utf8, "account_id": pl.Int64})
    df = df.join(ids, on="username").with_row_index("tweet_id", offset=1)
    last = df.sort("created_at").group_by("account_id").agg(
        pl.col("username").last().alias("screen_name"),
        pl.col("name").last().alias("display_name"),
        pl.col("description").last(), pl.col("location").last(),
        pl.col("created_at").min().alias("first_seen"))
    accounts = last.sort("account_id")
    obs = df.group_by("account_id", "created_at").agg(
        pl.col("followers").last(), pl.col("numberstatuses").last()).select(
        "account_id", pl.col("created_at").alias("observed_at"),
        pl.lit("active").alias("status"),
        pl.col("followers").cast(pl.Int64).alias("followers_count"),
        pl.col("numberstatuses").cast(pl.Int64).alias("statuses_count"))
    tweets = df.select(pl.col("tweet_id").cast(pl.Int64), "account_id", "created_at",
                       pl.col("tweets").alias("text"))
    with measure.DatasetWriter(out, name="fifthtribe-local") as w:
        w.write_table("accounts", accounts)
        w.write_table("observations", obs.sort("account_id", "observed_at"))
        w.write_table("tweets", tweets)
    return out


@pytest.fixture(scope="session")
def fifth_tribe_csv() -> Path:
    """Path of the Fifth Tribe CSV (skips when absent)."""
    if not FIFTH_TRIBE.is_file():
        pytest.skip(f"reference file {FIFTH_TRIBE} is absent (shared/reference-data "
                    "is not part of the checkout)")
    return FIFTH_TRIBE


@pytest.fixture(scope="session")
def fifth_tribe(tmp_path_factory) -> Path:
    """The Fifth Tribe dataset (via measure.ingest when it exists)."""
    if not FIFTH_TRIBE.is_file():
        pytest.skip(f"reference file {FIFTH_TRIBE} is absent (shared/reference-data "
                    "is not part of the checkout)")
    out = tmp_path_factory.mktemp("fifth") / "ds"
    try:
        from measure.ingest import ingest
    except ImportError:
        return load_fifth_tribe_local(FIFTH_TRIBE, out)
    ingest(FIFTH_TRIBE, "fifthtribe", out)
    return out


T0 = datetime(2014, 9, 1, tzinfo=UTC)


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Six accounts, weekly look-ups, two suspended, follower lists of three."""
    acc = pl.DataFrame({
        "account_id": [1, 2, 3, 4, 5, 6],
        "screen_name": ["abu_omar", "umm_x", "john", "AbuBakr22", "news", "bint_s"],
        "display_name": ["Abu Omar", "أم خالد", "John", "ابو بكر", "News", "Bint S"],
        "created_at": [T0 - timedelta(days=d) for d in (10, 100, 1000, 40, 400, 5)],
        "lang": ["ar", "ar", "en", "ar", "fr", None],
        "location": ["Raqqa!", "raqqa", "  London ", None, "London", "Dabiq"],
    }).with_columns(pl.col("created_at").cast(UTC_DT))
    rows = []
    # (id, followers, friends, statuses at week 0, statuses per week, suspended week)
    spec = [(1, 100, 50, 10, 70, None), (2, 1000, 10, 500, 7, 2),
            (3, 5, 300, 2000, 0, None), (4, 20, 20, 0, 14, 3),
            (5, 40000, 5, 9000, 700, None), (6, 1, 1, 1, 0, None)]
    for aid, fo, fr, st, per, susp in spec:
        for wk in range(5):
            at = T0 + timedelta(weeks=wk)
            if susp is not None and wk >= susp:
                rows.append((aid, at, "suspended", None, None, None))
            else:
                rows.append((aid, at, "active", fo + wk, fr, st + per * wk))
    obs = pl.DataFrame(rows, orient="row", schema={
        "account_id": pl.Int64, "observed_at": UTC_DT, "status": pl.Utf8,
        "followers_count": pl.Int64, "friends_count": pl.Int64,
        "statuses_count": pl.Int64})
    crawls = pl.DataFrame({"account_id": [1, 2, 5], "list": ["followers"] * 3,
                           "level": [0, 0, 1], "complete": [True, True, False]})
    edges = pl.DataFrame({"src": [2, 3, 4, 9, 1, 4, 6, 10],
                          "dst": [1, 1, 1, 1, 2, 5, 5, 5]},
                         schema={"src": pl.Int64, "dst": pl.Int64})
    out = tmp_path / "tiny"
    with measure.DatasetWriter(out) as w:
        w.write_table("accounts", acc)
        w.write_table("observations", obs)
        w.write_table("crawls", crawls)
        w.write_table("edges", edges)
    return out
