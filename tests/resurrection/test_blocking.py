"""Named SQL steps and blocking keys on the tiny hand-built dataset."""

from __future__ import annotations

import polars as pl

import measure
from measure.resurrection import _sql as Q
from measure.resurrection import analyze
from measure.resurrection._features import account_keys
from tests.resurrection.conftest import day


def test_suspension_events_interval(tiny) -> None:
    ds = measure.open(tiny)
    ds.con.execute(Q.SUSPENSION_EVENTS)
    ev = ds.sql("SELECT * FROM _rs_events ORDER BY account_id")
    assert ev["account_id"].to_list() == [1, 2, 4]
    assert ev["last_active"].to_list() == [day(14), day(42), day(21)]
    assert ev["first_suspended"].to_list() == [day(21), day(49), day(28)]
    # follower count at the last active look-up: 100 * id + day
    assert ev["followers_at_suspension"].to_list() == [114, 242, 421]


def test_keys_nfkc_casefold_and_stem() -> None:
    df = pl.DataFrame({
        "account_id": [1, 2, 3, 4],
        "screen_name": ["Abu_X2", "Ａｂｕ＿Ｘ３", "ab_1", "أبو_محمد٣"],
        "display_name": ["Abu X 🌙", None, "", "أبو محمد"],
        "description": ["short", "a long enough bio about sham", None, None],
        "profile_image_hash": ["h", " ", None, "h"],
        "created_at": [day(0)] * 4, "first_seen": [None] * 4,
    }, schema_overrides={"first_seen": pl.Datetime("us", "UTC")})
    k = account_keys(df)
    # full-width forms fold to ASCII; digits and separators are stripped
    assert k["stem"].to_list() == ["abux", "abux", None, "أبومحمد"]
    assert k["handle"].to_list()[:2] == ["abu_x2", "abu_x3"]
    assert k["suffix"].to_list() == [2, 3, 1, None]
    assert k["name_key"].to_list() == ["abux", None, None, "أبومحمد"]
    assert k["avatar"].to_list() == ["h", None, None, "h"]
    assert k["bio_fp"][0] is None and k["bio_fp"][1] is not None


def test_candidate_pairs_window_and_keys(tiny) -> None:
    ds = measure.open(tiny)
    res = analyze(ds, n_boot=20, n_imputations=4)
    pairs = {(a, b): k for a, b, k in res.pairs.select(
        "previous", "new", "keys").iter_rows()}
    # 6 ('abu_x77', created day 100) is outside the 60-day window of 1 (susp. day 21)
    # but inside that of 2 (day 49); 7 shares nothing with anyone.
    assert set(pairs) == {(1, 2), (1, 3), (2, 3), (2, 6), (4, 5)}
    assert pairs[(1, 2)] == 1 | 2 | 4  # stem, display name, avatar
    assert pairs[(1, 3)] == 1  # full-width handle still shares the stem
    # avatar, whole bio, bio letters (implied by the whole bio), followers
    assert pairs[(4, 5)] == 4 | 8 | 16 | 128
    assert res.n_suspended == 3
    assert res.pairs_by_key["followers"] == 1
    # temporary tables are dropped afterwards
    left = ds.sql("SELECT table_name FROM duckdb_tables() WHERE table_name "
                  "LIKE '_rs_%'")
    assert left.height == 0


def test_cohort_restricts_suspended(tiny) -> None:
    ds = measure.open(tiny)
    res = analyze(ds, cohort=[4], n_boot=20, n_imputations=4)
    assert res.n_suspended == 1
    assert set(res.pairs["previous"].to_list()) == {4}


def test_per_key_cap_keeps_nearest(tiny) -> None:
    ds = measure.open(tiny)
    res = analyze(ds, per_key=1, n_boot=20, n_imputations=4)
    got = set(res.pairs.select("previous", "new").iter_rows())
    # one candidate per key kind: on the stem, 1 keeps 2 (nearest in time) and
    # drops 3; 2 keeps 3 on the stem and 6 on the display name
    assert got == {(1, 2), (2, 3), (2, 6), (4, 5)}
