"""Handles are unique at any moment: a platform refuses a handle an account holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure.simulate import load_truth
from measure.simulate._names import unique_handles

# Lifetimes of accounts still alive at the window end are open: any later date.
FOREVER = pl.datetime(9999, 1, 1, time_zone="UTC")


def _overlapping_same_handle(path: Path) -> tuple[pl.DataFrame, int]:
    truth = load_truth(path)
    with measure.open(path) as ds:
        acc = ds.sql("SELECT account_id, lower(screen_name) AS k FROM accounts")
    acc = acc.join(
        truth.accounts.select("account_id", "created_at", "end_at"), on="account_id"
    ).with_columns(pl.col("end_at").fill_null(FOREVER))
    pairs = acc.join(acc, on="k", suffix="_b").filter(
        pl.col("account_id") < pl.col("account_id_b")
    )
    clash = pairs.filter(
        (pl.col("created_at") <= pl.col("end_at_b"))
        & (pl.col("created_at_b") <= pl.col("end_at"))
    )
    return clash, pairs.height


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_two_live_accounts_share_a_handle(seed: int, small_world_factory) -> None:
    path = small_world_factory(seed)
    clash, shared = _overlapping_same_handle(path)
    assert clash.height == 0, clash.head()
    # handles are reused only after the earlier holder is gone, and renames happen
    counts = load_truth(path).counts
    assert shared > 0
    assert counts["supporter_handles_renamed"] > 0
    assert counts["background_handles_renamed"] > 0


def test_observation_handles_equal_accounts_handles(small_world: Path) -> None:
    with measure.open(small_world) as ds:
        bad = ds.sql(
            "SELECT count(*) AS n FROM observations o JOIN accounts a "
            "USING (account_id) WHERE o.screen_name IS DISTINCT FROM a.screen_name"
        )["n"][0]
    assert bad == 0


def test_unique_handles_takes_the_next_free_suffix() -> None:
    """Worked example: tier 0 fixed, later-created renamed, freed handles reused."""
    names = pl.Series(
        "h", ["abu_x", "Abu_x", "abu_x", "abu_x2", "tariq", "tariq", "tariq"]
    )
    start = np.array([0, 5, 20, 6, 0, 0, 100.0])
    end = np.array([10, 30, 40, np.inf, 50, 60, 200.0])
    tier = np.array([0, 1, 1, 1, 1, 1, 2])
    got = unique_handles(names, start, end, tier).to_list()
    # Abu_x clashes (case-folded) with the fixed abu_x; the third abu_x starts after
    # abu_x ended and Abu_x moved on, so it keeps its name; abu_x2 was taken by the
    # renamed Abu_x (created earlier) and moves to abu_x3; the second tariq clashes;
    # the tier-2 tariq starts after both ended.
    assert got == ["abu_x", "Abu_x2", "abu_x", "abu_x3", "tariq", "tariq2", "tariq"]


def test_unique_handles_pulls_in_accounts_a_rename_displaces() -> None:
    """A rename onto a unique handle displaces its later-created holder."""
    names = pl.Series("h", ["x", "x", "x2"])
    got = unique_handles(
        names, np.array([0.0, 1.0, 2.0]), np.full(3, np.inf), np.array([1, 1, 1])
    )
    assert got.to_list() == ["x", "x2", "x3"]
