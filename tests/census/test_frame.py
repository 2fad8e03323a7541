"""Frame and in-network metrics on hand-built datasets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import measure
from measure.census import _sql, frame, frame_counts, write_frame
from measure.census._frame import frame_steps


def row(fr: pl.DataFrame, account: int) -> dict:
    return fr.filter(pl.col("account_id") == account).row(0, named=True)


def test_tiny_frame_levels_and_tiers(tiny_world: Path) -> None:
    fr = frame(measure.open(tiny_world))
    levels = dict(zip(fr["account_id"].to_list(), fr["level"].to_list(),
                      strict=True))
    assert levels == {1: 0, 2: 0, 10: 1, 11: 1, 12: 1, 13: 1, 20: 2, 21: 2, 22: 2}
    tiers = dict(zip(fr["account_id"].to_list(), fr["tier"].to_list(), strict=True))
    assert [a for a, t in tiers.items() if t == 1] == [1, 2, 10, 11]
    assert row(fr, 13)["reached_via"] == 2
    assert row(fr, 22)["reached_via"] == 11
    assert row(fr, 1)["reached_via"] is None


def test_tiny_frame_metrics_by_hand(tiny_world: Path) -> None:
    """Account 10 follows 1, 2, 11; is followed by 11 and 1 (both in N)."""
    fr = frame(measure.open(tiny_world))
    r = row(fr, 10)
    assert (r["in_friends"], r["in_followers"], r["reciprocal_in"]) == (3, 2, 2)
    assert (r["seeds_followed"], r["seed_followers"], r["n_lists_seen"]) == (2, 1, 3)
    # latest active look-up (day 7) gives followers 4, friends 6
    assert r["followers_count"] == 4
    assert r["in_follower_share"] == pytest.approx(2 / 4)
    assert r["in_friend_share"] == pytest.approx(3 / 6)
    # the duplicated edge 10->1 is counted once; the mention 12->1 is ignored
    assert row(fr, 1)["in_followers"] == 3
    assert row(fr, 12)["in_friends"] == 1


def test_incomplete_lists_are_flagged(tiny_world: Path) -> None:
    fr = frame(measure.open(tiny_world))
    assert row(fr, 11)["in_followers_lower_bound"] is True
    assert row(fr, 10)["in_followers_lower_bound"] is False
    # one collected followers list is incomplete, so friend counts of accounts
    # without their own friends list are lower bounds
    assert fr["in_friends_lower_bound"].all()


def test_ranks_and_percentiles(tiny_world: Path) -> None:
    fr = frame(measure.open(tiny_world))
    top = fr.filter(pl.col("rank_in_friends") == 1)
    assert top["account_id"].to_list() == [10]
    assert fr["pct_in_friends"].max() == pytest.approx(1.0)


def test_frame_matches_plain_python(medium_world: tuple[Path, set[int]]) -> None:
    """Equivalence: the SQL chain equals a direct set computation."""
    path, _ = medium_world
    ds = measure.open(path)
    fr = frame(ds)
    e = ds.sql("SELECT DISTINCT src, dst FROM edges")
    core = set(ds.sql("SELECT account_id FROM crawls")["account_id"].to_list()) | set(
        ds.sql("SELECT account_id FROM seeds")["account_id"].to_list())
    out: dict[int, set[int]] = {}
    inn: dict[int, set[int]] = {}
    for s, d in e.iter_rows():
        out.setdefault(s, set()).add(d)
        inn.setdefault(d, set()).add(s)
    for r in fr.sample(200, seed=1).iter_rows(named=True):
        a = r["account_id"]
        friends = out.get(a, set()) & core
        followers = inn.get(a, set()) & core
        recip = {y for y in friends if a in out.get(y, set())}
        assert r["in_friends"] == len(friends)
        assert r["in_followers"] == len(followers)
        assert r["reciprocal_in"] == len(recip)
    assert fr.height == len(core | set(e["src"].to_list()))


def test_write_frame_and_counts(tiny_world: Path, tmp_path: Path) -> None:
    ds = measure.open(tiny_world)
    out = write_frame(ds, tmp_path / "frame.parquet")
    df = pl.read_parquet(out)
    assert df.height == 9
    assert set(_sql.METRICS) <= set(df.columns)
    counts = frame_counts(ds)
    assert counts["n"].sum() == 9


def test_variant_steps_without_optional_columns(tmp_path: Path,
                                                census_helpers: dict) -> None:
    tiny_tables = census_helpers["tiny_tables"]
    write_dataset = census_helpers["write_dataset"]
    t = tiny_tables()
    t["edges"] = t["edges"].filter(pl.col("relation") == "follows").drop("relation")
    t["crawls"] = t["crawls"].drop("complete")
    del t["observations"]
    ds = measure.open(write_dataset(tmp_path / "bare", t))
    names = [n for n, _ in frame_steps(ds)]
    # no observed_at / collected_at: every edge is deduplicated first
    assert names[:4] == ["distinct", "follows", "crawls", "latest_active"]
    fr = frame(ds)
    assert row(fr, 10)["in_friends"] == 3
    assert fr["followers_count"].null_count() == fr.height
    assert row(fr, 11)["in_followers_lower_bound"] is False
