"""The account table does not depend on how the cohort is matched to the tables.

Cohorts much smaller than ``accounts`` are joined in SQL; larger ones are matched
in memory (``measure.describe._scan.SEMI_JOIN_SHARE`` decides). Both must give the
same table, also for cohort ids missing from ``accounts`` and for look-up-only
accounts. The generated dataset is ``_fixed_data.write_world`` (400 accounts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import measure
from measure.describe import _scan, account_table, analyze, resolve_cohort
from measure.describe._cohort import register

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fixed_data import write_world  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("acc") / "w", n=400, seed=21,
                       tweets=True)


@pytest.mark.parametrize("activity", ["lookups", "tweets"])
def test_cohort_matched_in_sql_or_in_memory_gives_the_same_table(
        world, monkeypatch, activity):
    # ids 401-425 have look-ups but no account row; 427 and 429 have neither
    ids = list(range(3, 430, 2))
    tables = []
    for share in (0.0, 10.0):  # never / always join in SQL
        monkeypatch.setattr(_scan, "SEMI_JOIN_SHARE", share)
        with measure.open(world) as ds:
            coh = resolve_cohort(ds, ids)
            register(ds, coh)
            register(ds, coh, network=True)
            df, _ = account_table(ds, coh, activity_source=activity)
        tables.append(df)
    assert tables[0].height == len(ids)
    assert tables[0]["account_id"].to_list() == ids
    # ids without an account row keep a row of nulls
    missing = tables[0].filter(pl.col("account_id") > 400)
    assert missing.height == 15 and missing["screen_name"].null_count() == 15
    assert missing["last_active_at"].null_count() < 15  # some were looked up
    assert_frame_equal(tables[0], tables[1])


def test_repeated_account_rows_count_once_in_the_all_cohort(tmp_path):
    path = write_world(tmp_path / "w", n=50, seed=22)
    acc = pl.read_parquet(path / "accounts.parquet")
    obs = pl.read_parquet(path / "observations")
    with measure.DatasetWriter(path, overwrite=True) as w:
        w.write_table("accounts", pl.concat([acc, acc.head(5)]))
        w.write_table("observations", obs)
    with measure.open(path, validate="schema") as ds:
        coh = resolve_cohort(ds, "all")
        res = analyze(ds, cohort="all", n_boot=50)
    assert coh.n == 50 and coh.frame["account_id"].is_unique().all()
    assert res.n_accounts == 50


def test_location_example_is_the_most_frequent_spelling_ties_first_sorted(tiny):
    # tiny: "Raqqa!" and "raqqa" once each, "  London " and "London" once each
    with measure.open(tiny) as ds:
        loc = analyze(ds, n_boot=50).table("locations")
    ex = dict(zip(loc["location"], loc["raw_example"], strict=True))
    assert ex["raqqa"] == "Raqqa!"
    assert ex["london"] == "  London "
    assert ex["(none)"] is None
