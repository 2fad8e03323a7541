"""``where`` restricts the suspended accounts studied by their accounts' columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import measure
from measure.resurrection import suspension_events


def test_where_keeps_the_suspended_accounts_matching_the_filter(small_world: Path):
    with measure.open(small_world) as ds:
        every = suspension_events(ds)
        langs = ds.sql("SELECT account_id, lang FROM accounts")
        sus = every.suspended.select("account_id").join(langs, on="account_id")
        lang = sus.group_by("lang").len().sort(["len", "lang"], descending=True)[
            "lang"][0]
        some = suspension_events(ds, where={"lang": lang})
        none = suspension_events(ds, where="lang=no such language' OR 1=1 --")
    expect = set(sus.filter(pl.col("lang") == lang)["account_id"].to_list())
    assert set(some.suspended["account_id"].to_list()) == expect
    assert 0 < len(expect) < every.suspended.height
    assert none.suspended.height == 0  # the value is bound, never pasted into SQL
    # successors are still sought among every account
    assert some.accounts.height == every.accounts.height
