"""Resurrection truth "as the data can show it" equals an independent derivation.

``tests/simulate/_truth_from_data.py`` derives the observable links and the
observable 30-day rate from the dataset's own tables (look-ups, accounts) plus the
truth's actor chains; the simulator writes the same quantities from its internal
bookkeeping (``Truth.observable_links``,
``Truth.rate_in_data``, ``truth.json`` ``resurrection.rate_30d_in_data``). Both
must agree exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import measure
from measure.simulate import load_truth
from measure.simulate._truth import RATE_30D_IN_DATA_DEFINITION
from tests.simulate._truth_from_data import observable_truth, skip_links, true_rate

WINDOW_DAYS = 60.0  # the resurrection linker's default search window


@pytest.mark.parametrize("seed", [1, 2])
def test_truth_in_data_equals_the_resurrection_tests_truth(
    seed: int, small_world_factory
) -> None:
    path: Path = small_world_factory(seed)
    truth = load_truth(path)
    with measure.open(path) as ds:
        links, susp, end = observable_truth(ds, path, window=WINDOW_DAYS)
    mine = truth.observable_links(WINDOW_DAYS)
    key = ["previous", "new"]
    got = mine.select(
        pl.col("previous_id").alias("previous"),
        pl.col("new_id").alias("new"),
        pl.col("new_created_at").alias("created_new"),
        pl.col("previous_first_suspended_at").alias("first_suspended"),
        "linkable",
    ).sort(key)
    assert links.height > 50
    assert got.equals(links.select(got.columns).sort(key))
    r = truth.resurrection
    assert r["n_links_in_data"] == links.height
    assert r["n_links_in_data_skipping"] == skip_links(links, path) > 0
    assert (mine["skipped"] > 0).sum() == r["n_links_in_data_skipping"]
    # a skipping link's new account is never the true successor
    strict = truth.links().filter(pl.col("observable"))
    assert strict.height == mine.filter(pl.col("skipped") == 0).height
    # the 30-day rate over every account seen suspended
    want, n = true_rate(susp, end, 30)
    assert r["rate_30d_in_data_definition"] == RATE_30D_IN_DATA_DEFINITION
    assert r["n_eligible_30d_in_data"] == n > 0
    assert r["rate_30d_in_data"] == want
    assert r["n_returned_30d_in_data"] == round(want * n)
    assert r["n_accounts_seen_suspended"] == susp.height
    assert r["last_lookup_at"] == end.astimezone(dt.UTC).isoformat()
    # other horizons and lags from the truth tables
    for days, lag in ((30.0, 0.0), (30.0, 7.0), (14.0, 0.0), (60.0, 3.0)):
        assert truth.rate_in_data(days, lag) == true_rate(susp, end, days, lag)
    # background accounts count in the denominator and never return
    bg = truth.suspended_in_data().filter(~pl.col("is_supporter"))
    assert bg.height > 0
    assert bg["next_created_at"].null_count() == bg.height
