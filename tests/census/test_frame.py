"""Frame and in-network metrics on hand-built datasets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import measure
from measure.census import _sql, build_frame, frame, frame_counts, write_frame
from measure.census._frame import frame_info, frame_steps
from measure.errors import StatisticalWarning


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


# -- snowball reachability and collections ------------------------------------------
T = [dt.datetime(2014, 11, d, tzinfo=dt.UTC) for d in range(1, 8)]
#: (owner, list, level, collected_at, complete, members). Account 11 has a snowball
#: crawl but no collected list holds it; 50 and 20 were re-crawled after the census
#: (level 99): no list of the snowball holds 50, 10's list holds 20. 10's followers
#: list was collected twice; the later complete collection is used.
RECRAWL_WORLD = [
    (1, "followers", 0, T[0], True, [10, 2]),
    (10, "followers", 1, T[1], True, [1, 21]),
    (10, "followers", 1, T[3], True, [1, 22, 20]),
    (11, "followers", 1, T[1], True, [61]),
    (20, "followers", _sql.OUTSIDE_LEVEL, T[5], True, [70, 10]),
    (50, "followers", _sql.OUTSIDE_LEVEL, T[5], True, [60, 1]),
]


def crawl_world(spec: list[tuple], seeds: list[int], *,
                timestamps: bool = True) -> dict[str, pl.DataFrame]:
    """Tables from ``spec`` rows; a followers list's members follow its owner."""
    src, dst, obs = [], [], []
    for owner, lst, _lvl, ts, _c, members in spec:
        for m in members:
            a, b = (m, owner) if lst == "followers" else (owner, m)
            src.append(a)
            dst.append(b)
            obs.append(ts)
    edges = pl.DataFrame({"src": src, "dst": dst},
                         schema={"src": pl.Int64, "dst": pl.Int64})
    crawls = pl.DataFrame({
        "account_id": [r[0] for r in spec], "list": [r[1] for r in spec],
        "level": [r[2] for r in spec], "complete": [r[4] for r in spec]},
        schema_overrides={"account_id": pl.Int64, "level": pl.Int32})
    if timestamps:
        edges = edges.with_columns(observed_at=pl.Series(
            obs, dtype=pl.Datetime("us", "UTC")))
        crawls = crawls.with_columns(collected_at=pl.Series(
            [r[3] for r in spec], dtype=pl.Datetime("us", "UTC")))
    ids = sorted(set(src) | set(dst) | set(seeds))
    return {
        "accounts": pl.DataFrame({"account_id": ids,
                                  "screen_name": [f"u{i}" for i in ids]},
                                 schema_overrides={"account_id": pl.Int64}),
        "edges": edges, "crawls": crawls,
        "seeds": pl.DataFrame({"account_id": seeds}, schema={"account_id": pl.Int64}),
    }


def test_frame_is_the_snowball_reachable_from_seeds(tmp_path: Path,
                                                     census_helpers: dict) -> None:
    ds = measure.open(census_helpers["write_dataset"](
        tmp_path / "recrawl", crawl_world(RECRAWL_WORLD, [1])))
    with pytest.warns(StatisticalWarning, match="1 crawled account"):
        fr = frame(ds)
    levels = dict(zip(fr["account_id"].to_list(), fr["level"].to_list(),
                      strict=True))
    # 11, 50 unreachable; 21 only in a superseded collection; 60, 61 only in lists
    # of unreachable accounts; 20 reachable (in 10's list) though crawled at 99
    assert levels == {1: 0, 2: 1, 10: 1, 20: 2, 22: 2, 70: 3}
    assert row(fr, 20)["tier"] == 1 and row(fr, 20)["reached_via"] == 10
    assert row(fr, 70)["reached_via"] == 20
    r10 = row(fr, 10)
    assert (r10["in_friends"], r10["in_followers"], r10["reciprocal_in"]) == (2, 2, 2)
    assert (r10["seeds_followed"], r10["seed_followers"]) == (1, 1)
    r1 = row(fr, 1)  # 1 -> 50 is in 50's list only: 50 is not in N
    assert (r1["in_friends"], r1["in_followers"], r1["reciprocal_in"]) == (1, 1, 1)
    info = frame_info(ds)
    assert (info.excluded_accounts, info.excluded_crawls) == (2, 2)
    assert info.excluded_snowball_accounts == 1
    assert info.included_outside_accounts == 1
    assert info.superseded_collections == 1
    assert (info.edges_read, info.edges_used, info.edges_left_out) == (12, 7, 5)
    assert (info.core_size, info.frame_size, info.mode) == (3, 6, "collections")
    assert info.passes == 6  # two rebuilds of N: 11 dropped, then 20 added


def test_exact_mode_reachability_without_timestamps(tmp_path: Path,
                                                    census_helpers: dict) -> None:
    """Without collection times both collections of 10's list are used."""
    ds = measure.open(census_helpers["write_dataset"](
        tmp_path / "nots", crawl_world(RECRAWL_WORLD, [1], timestamps=False)))
    with pytest.warns(StatisticalWarning):
        fr = frame(ds)
    assert set(fr["account_id"].to_list()) == {1, 2, 10, 20, 21, 22, 70}
    info = frame_info(ds)
    assert info.mode == "exact"
    assert info.duplicate_rows == 1  # 1 -> 10 in both collections
    # 61->11, 60->50, 1->50 are in lists of unreachable accounts only
    assert (info.edges_read, info.edges_used, info.edges_left_out) == (12, 8, 3)


def _frames_both_modes(base: Path, tables: dict, census_helpers: dict) -> tuple:
    """Frame and FrameInfo of one dataset in collections mode and in exact mode."""
    out, infos = {}, {}
    for exact in (False, True):
        ds = measure.open(census_helpers["write_dataset"](
            base.with_name(f"{base.name}{exact}"), tables))
        build_frame(ds, exact=exact)
        out[exact] = frame(ds)
        infos[exact] = frame_info(ds)
    return out, infos


def test_collections_mode_equals_exact_with_overlapping_lists(
        tmp_path: Path, census_helpers: dict) -> None:
    """Friends and followers lists holding the same edges: counted once."""
    spec = [
        (1, "followers", 0, T[0], True, [10, 11, 3, 4]),
        (1, "friends", 0, T[0], True, [10, 4, 5]),
        (10, "followers", 1, T[1], True, [1, 11, 6]),
        (10, "friends", 1, T[1], False, [1, 11, 4]),
        (11, "followers", 1, T[2], True, [10, 7]),
        (4, "followers", _sql.OUTSIDE_LEVEL, T[4], True, [1, 8]),
    ]
    out, infos = _frames_both_modes(
        tmp_path / "ov", crawl_world(spec, [1]), census_helpers)
    for exact, info in infos.items():
        assert info.mode == ("exact" if exact else "collections")
        # 1->10, 10->1, 10->11 and 1->4 are each held by two lists
        assert info.duplicate_rows == 4
        assert (info.edges_read, info.edges_used, info.edges_left_out) == (17, 13, 0)
    assert out[False].equals(out[True])
    fr = out[False]
    # 4 is reachable (in lists of 1 and 10), so its own list counts: 8 is in
    assert row(fr, 8)["level"] == 2 and row(fr, 4)["tier"] == 1
    # reciprocal: 1 <-> 10, 10 <-> 11, 1 <-> 4 (4 -> 1 in 1's followers list)
    assert row(fr, 10)["reciprocal_in"] == 2
    assert row(fr, 1)["reciprocal_in"] == 2
    assert row(fr, 4)["reciprocal_in"] == 1
    assert row(fr, 5)["in_followers"] == 1 and row(fr, 5)["n_lists_seen"] == 1


def test_collections_mode_equals_exact_on_simulated_world(tmp_path: Path) -> None:
    """Equivalence of the two execution plans on the simulator's small preset."""
    from measure.simulate import SimConfig, simulate

    path = tmp_path / "sim"
    simulate(SimConfig.preset("small"), seed=3, out=path)
    res = {}
    for exact in (False, True):
        ds = measure.open(path)
        build_frame(ds, exact=exact)
        res[exact] = frame(ds)
        assert frame_info(ds).frame_size == res[exact].height
    assert res[False].height > 100
    assert res[False].equals(res[True])


def test_self_loops_are_not_counted(tmp_path: Path, census_helpers: dict) -> None:
    """Self-loops in used lists (the passes over every edge keep them, then drop
    them for the accounts of N): collections mode equals exact mode."""
    spec = [
        (1, "followers", 0, T[0], True, [1, 10, 11]),
        (10, "followers", 1, T[1], True, [10, 1, 5]),
        (11, "followers", 1, T[2], True, [10, 6]),
    ]
    out, infos = _frames_both_modes(
        tmp_path / "loop", crawl_world(spec, [1]), census_helpers)
    for info in infos.values():
        assert (info.edges_read, info.edges_used, info.edges_left_out) == (8, 6, 2)
    assert out[False].equals(out[True])
    fr = out[False]
    r1, r10 = row(fr, 1), row(fr, 10)
    assert (r1["in_friends"], r1["in_followers"], r1["seeds_followed"]) == (1, 2, 0)
    assert (r1["reciprocal_in"], r1["n_lists_seen"]) == (1, 1)
    assert (r10["in_friends"], r10["in_followers"], r10["seeds_followed"]) == (2, 1, 1)
    assert (r10["n_lists_seen"], r10["reached_via"]) == (2, 1)


#: Two seeds whose followers lists hold accounts outside N (30, 32, 33); 1's list
#: was collected twice (31 only in the superseded collection); 2 follows itself.
SEED_LISTS_WORLD = [
    (1, "followers", 0, T[0], True, [10, 30, 31]),
    (1, "followers", 0, T[2], True, [10, 30, 32]),
    (2, "followers", 0, T[1], True, [2, 30, 10, 33]),
    (10, "followers", 1, T[1], True, [1, 30, 34]),
]


def test_seeds_followed_outside_the_core(tmp_path: Path, census_helpers: dict) -> None:
    """Pass 2 counts seeds_followed of followers outside N (in seeds' lists) and of
    N; the superseded collection and the self-loop do not count."""
    ds = measure.open(census_helpers["write_dataset"](
        tmp_path / "seeds", crawl_world(SEED_LISTS_WORLD, [1, 2])))
    fr = frame(ds)
    got = {a: (r["seeds_followed"], r["in_friends"])
           for a, r in ((a, row(fr, a)) for a in fr["account_id"].to_list())}
    assert got == {1: (0, 1), 2: (0, 0), 10: (2, 2), 30: (2, 3), 32: (1, 1),
                   33: (1, 1), 34: (0, 1)}
    assert row(fr, 2)["seed_followers"] == 0  # its own self-loop
    assert row(fr, 10)["seed_followers"] == 1
    # left out: the 3 rows of 1's superseded collection and the self-loop 2->2
    assert frame_info(ds).edges_left_out == 4


def test_seed_lists_collections_mode_equals_exact(tmp_path: Path,
                                                  census_helpers: dict) -> None:
    """The same world with one collection per list: both plans agree."""
    spec = [r for r in SEED_LISTS_WORLD if r[3] != T[0]]
    out, _ = _frames_both_modes(tmp_path / "sl", crawl_world(spec, [1, 2]),
                                census_helpers)
    assert out[False].equals(out[True])
    assert row(out[False], 30)["seeds_followed"] == 2


@pytest.mark.parametrize("widths", [
    ((2**31 - 1, "BIGINT", 32),),                      # always 32-bit keys
    ((255, "INTEGER", 8), (2**31 - 1, "BIGINT", 32)),  # too narrow: 32-bit
    ((1023, "INTEGER", 10), (2**31 - 1, "BIGINT", 32)),  # 10-bit keys
])
def test_packed_key_width_does_not_change_the_frame(
        medium_world: tuple[Path, set[int]], monkeypatch: pytest.MonkeyPatch,
        widths: tuple) -> None:
    """Pass 2 packs (follower rank, followed rank) into one key whose width
    follows the core size; every width gives the same frame."""
    path, _ = medium_world
    ref = frame(measure.open(path))
    monkeypatch.setattr(_sql, "PACKED_KEYS", widths)
    assert frame(measure.open(path)).equals(ref)


def test_profile_of_accounts_without_optional_columns_is_null(
        tmp_path: Path, census_helpers: dict) -> None:
    """``display_name``, ``description`` and ``lang`` are optional in the contract:
    a dataset whose accounts lack them gives a profile with those columns null."""
    tables = census_helpers["tiny_tables"]()
    keep = [c for c in tables["accounts"].columns
            if c not in ("display_name", "description", "lang")]
    tables["accounts"] = tables["accounts"].select(keep)
    path = census_helpers["write_dataset"](tmp_path / "bare", tables)
    with measure.open(path) as ds:
        fr = frame(ds, profile=True)
    assert fr.height > 0
    for c in ("display_name", "description", "lang"):
        assert fr[c].null_count() == fr.height
    assert fr["screen_name"].null_count() < fr.height
