"""Named SQL steps and blocking keys on the tiny hand-built dataset."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

import measure
from measure._steps import Step, StepRunner
from measure.resurrection import LinkageSettings, analyze, suspension_events
from measure.resurrection import _sql as Q
from measure.resurrection._blocking import utc
from measure.resurrection._features import account_keys
from tests.resurrection.conftest import TS, day, tiny_tables, write


def test_suspension_events_interval(tiny) -> None:
    ds = measure.open(tiny)
    ev = suspension_events(ds).suspended
    assert ev["account_id"].to_list() == [1, 2, 4]
    assert ev["last_active"].to_list() == [day(14), day(42), day(21)]
    assert ev["first_suspended"].to_list() == [day(21), day(49), day(28)]
    # follower count at the last active look-up: 100 * id + day
    assert ev["followers_at_suspension"].to_list() == [114, 242, 421]
    # the search window closes 60 days after the first suspended look-up; it
    # opens at the later of the account's creation and 60 days (backup_days)
    # before that look-up, here the creation (see test_backup.py), and at the
    # last active look-up with backup_days 0
    assert ev["lower_t"].to_list() == [day(0), day(23), day(0)]
    assert ev["upper_t"].to_list() == [day(81), day(109), day(88)]
    ev0 = suspension_events(ds, settings=LinkageSettings(backup_days=0)).suspended
    assert ev0["lower_t"].to_list() == [day(14), day(42), day(21)]


def test_events_step_alone_gives_the_stage_events(tiny) -> None:
    """The ``EVENTS`` step run by itself on a ``StepRunner`` gives the events of
    the ``suspension_events`` stage (no cohort), and its table is dropped when
    the runner closes."""
    with measure.open(tiny) as ds:
        with StepRunner(ds.con) as run:
            run.run(Q.EVENTS)
            ev = utc(run.run(Step("read_events",
                                  "SELECT * FROM {events} ORDER BY account_id",
                                  inputs=("events",))))
        left = ds.sql("SELECT count(*) AS n FROM duckdb_tables() WHERE temporary")
        want = suspension_events(ds).suspended
    assert ev["account_id"].to_list() == want["account_id"].to_list()
    assert ev["last_active"].to_list() == want["last_active"].to_list()
    assert ev["first_suspended"].to_list() == want["first_suspended"].to_list()
    assert ev["followers_at_suspension"].to_list() == want[
        "followers_at_suspension"].to_list()
    assert left["n"][0] == 0


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


def test_follower_block_ranks_by_jaccard(tmp_path) -> None:
    """The follower block keeps the candidates whose follower sets overlap most.

    Account 4's three of four followers follow its successor 5 (Jaccard 3/4);
    a popular account 8, created in the same window, has those four and 500
    others (4 shared, Jaccard 4/504). With one follower candidate per suspended
    account, 5 is kept (by raw shared counts it would have been 8, which shares
    nothing else with 4).
    """
    t = tiny_tables()
    pop = pl.DataFrame({
        "account_id": [8], "screen_name": ["popular_news"],
        "display_name": ["Popular"], "description": [None],
        "profile_image_hash": ["h8"], "created_at": [day(31)],
    }, schema_overrides={"created_at": TS, "description": pl.Utf8}).with_columns(
        pl.col("created_at").alias("first_seen"))
    t["accounts"] = pl.concat([t["accounts"], pop])
    src = [101, 102, 103, 104, *range(1000, 1500)]
    t["edges"] = pl.concat([t["edges"], pl.DataFrame({
        "src": src, "dst": [8] * len(src), "relation": ["follows"] * len(src)})])
    ds = measure.open(write(tmp_path / "pop", t))
    res = analyze(ds, per_key_by={"followers": 1}, n_boot=0, n_imputations=2)
    ds.close()
    keys = {(a, b): k for a, b, k in res.pairs.select(
        "previous", "new", "keys").iter_rows()}
    assert not keys.get((4, 8), 0) & 16
    assert keys[(4, 5)] & 16  # the followers bit
    assert res.pairs_by_key["followers"] == 1


def test_follower_block_jaccard_leaves_hubs_out() -> None:
    """Hubs are left out of the follower-set sizes as of the shared counts.

    Suspended account 1 has 80 hub followers (they follow more than ``max_hub``
    accounts) and 20 others; its successor 2 has all 100, account 3 twelve of
    the 20. Over non-hub followers 2 scores 20/20 and 3 12/20; had the hubs
    stayed in the sizes only, 2 would score 20/180 and lose to 3 (12/100).
    """
    from measure._steps import StepRunner
    from measure.resurrection._blocking import PERIOD_S

    d = 86400
    susp = pl.DataFrame({"account_id": [1], "lower_t": [100 * d],
                         "upper_t": [130 * d], "first_suspended": [100 * d]}
                        ).with_columns(pl.from_epoch(c, "s").dt.replace_time_zone("UTC")
                                       for c in ("lower_t", "upper_t",
                                                 "first_suspended"))
    created = {1: 50, 2: 101, 3: 102, 4: 103, 5: 104}
    keys = pl.DataFrame({"account_id": list(created),
                         "t": [v * d for v in created.values()]}).select(
        "account_id", pl.from_epoch("t", "s").dt.replace_time_zone("UTC")
        .alias("t_new"), (pl.col("t") // PERIOD_S).alias("bk"))
    rows = [(h, a) for h in range(100, 180) for a in (1, 2, 4, 5)]
    rows += [(f, a) for f in range(200, 220) for a in (1, 2)]
    rows += [(f, 3) for f in range(200, 212)]
    follows = pl.DataFrame(rows, schema=["src", "dst"], orient="row")
    con = duckdb.connect()
    with StepRunner(con) as run:
        for name, frame in (("susp", susp), ("keys", keys), ("follows", follows)):
            run.register(name, frame)
        run.run(Q.BLOCKS_TABLE)
        run.run(Q.BLOCK_FOLLOWERS, {"per_key": 1, "min_shared": 2, "max_hub": 2,
                                    "bucket": PERIOD_S})
        got = con.execute(f"SELECT * FROM {run.name('blocks')}").fetchall()
    con.close()
    assert got == [(1, 2, 16)]


def _with_fillers(created_days: list[float]) -> dict[str, pl.DataFrame]:
    """The tiny tables plus unrelated accounts with the stem ``abux`` of actor A."""
    t = tiny_tables()
    n = len(created_days)
    ids = list(range(100, 100 + n))
    fill = pl.DataFrame({
        "account_id": ids,
        "screen_name": [f"abux{900 + i}" for i in range(n)],
        "display_name": [f"Filler {chr(65 + i % 26)}{i}" for i in range(n)],
        "description": [None] * n,
        "profile_image_hash": [f"f{i}" for i in range(n)],
        "created_at": [day(d) for d in created_days],
    }, schema_overrides={"created_at": TS, "description": pl.Utf8}).with_columns(
        pl.col("created_at").alias("first_seen"))
    t["accounts"] = pl.concat([t["accounts"], fill])
    return t


def test_common_key_is_counted_per_period(tmp_path) -> None:
    """``max_key_freq`` applies per key and 30-day period of creation.

    Twelve unrelated accounts share actor A's stem ``abux``, one per 40 days a
    year and more before: over the whole dataset the stem is held by 15 accounts
    (more than ``max_key_freq=5``), but by at most 3 in any period that A's
    search windows touch, so the stem still blocks ``1 -> 3`` (they share nothing
    else). Six more created on day 52, next to account 3, make the stem common
    in that period: there it no longer blocks, and none of the six becomes a
    candidate.
    """
    spread = [-500.0 + 40 * i for i in range(12)]
    ds = measure.open(write(tmp_path / "spread", _with_fillers(spread)))
    pairs = set(analyze(ds, max_key_freq=5, n_boot=0, n_imputations=2)
                .pairs.select("previous", "new").iter_rows())
    ds.close()
    assert (1, 3) in pairs
    assert not any(b >= 100 for _, b in pairs)
    ds = measure.open(write(tmp_path / "packed", _with_fillers(spread + [52.0] * 6)))
    res = analyze(ds, max_key_freq=5, n_boot=0, n_imputations=2)
    pairs = set(res.pairs.select("previous", "new").iter_rows())
    ds.close()
    assert (1, 3) not in pairs
    assert not any(b >= 100 for _, b in pairs)
    # with the default cap the six are candidates of both suspended A accounts
    ds = measure.open(write(tmp_path / "packed2", _with_fillers(spread + [52.0] * 6)))
    pairs = set(analyze(ds, n_boot=0, n_imputations=2)
                .pairs.select("previous", "new").iter_rows())
    ds.close()
    assert (1, 3) in pairs
    assert sum(b >= 112 for _, b in pairs) == 12


def test_edit_join_in_slices_gives_the_same_pairs(synth, synth_result,
                                                  monkeypatch) -> None:
    """The one-deletion join run per slice of suspended accounts (to bound its
    memory) keeps the same candidates as one pass: the cap is per account."""
    from measure.resurrection import _blocking

    monkeypatch.setattr(_blocking, "EDIT_SLICE", 60)  # 400 suspended: 7 slices
    with measure.open(synth[0]) as ds:
        res = analyze(ds, n_boot=50)
    key = ["previous", "new", "keys"]
    assert res.pairs_by_key["handle_edit"] > 0
    assert res.pairs.select(key).sort(key).equals(
        synth_result.pairs.select(key).sort(key))


@pytest.mark.parametrize("max_key_freq", [30, 5])
def test_periods_before_1970(tmp_path, max_key_freq) -> None:
    """Periods are numbered from the Unix epoch: windows that start before it
    (negative period numbers) block as any other, with and without common cells
    (six accounts sharing A's stem next to account 3 make one common at 5)."""
    import datetime as dt

    t = _with_fillers([52.0] * 6)
    shift = dt.datetime(1969, 12, 1, tzinfo=dt.UTC) - day(0)
    moved = {name: df.with_columns(pl.col(c) + shift for c, typ in df.schema.items()
                                   if isinstance(typ, pl.Datetime))
             for name, df in t.items()}
    opts = {"max_key_freq": max_key_freq, "n_boot": 0, "n_imputations": 2}
    with measure.open(write(tmp_path / "moved", moved)) as ds:
        got = analyze(ds, **opts).pairs
    with measure.open(write(tmp_path / "now", t)) as ds:
        want = analyze(ds, **opts).pairs
    key = ["previous", "new", "keys"]
    assert got.select(key).sort(key).equals(want.select(key).sort(key))
    assert ((1, 3) in set(got.select("previous", "new").iter_rows())) == (
        max_key_freq == 30)


def _dawla_tables(days: list[float], before_epoch: bool) -> dict[str, pl.DataFrame]:
    """Actor A renamed ``abudawla*`` (a stem long enough for one-deletion keys),
    plus fillers sharing that stem created on ``days``."""
    import datetime as dt

    t = _with_fillers(days)
    t["accounts"] = t["accounts"].with_columns(
        pl.col("screen_name").str.replace("^abu_?x", "abudawla"))
    if before_epoch:
        shift = dt.datetime(1969, 12, 1, tzinfo=dt.UTC) - day(0)
        t = {n: df.with_columns(pl.col(c) + shift for c, typ in df.schema.items()
                                if isinstance(typ, pl.Datetime)) for n, df in t.items()}
    return t


@pytest.mark.parametrize("before_epoch", [False, True])
@pytest.mark.parametrize(("days", "edit_blocks"), [
    ([], True),
    ([15.0, 16, 17, 18, 19, 20], False),  # after the earliest window opens (day 14)
    ([7.0, 8, 9, 10, 11, 12], False),  # same period, before it opens
])
def test_common_one_deletion_cell_per_period(tmp_path, days, edit_blocks,
                                             before_epoch) -> None:
    """The one-deletion block drops a (key, period) cell held by more than
    ``max_key_freq`` accounts, counted over every account of the period (also
    those created before the earliest window opens), as the exact-key blocks do.
    (The Python and SQL cell codes must agree for it.)"""
    with measure.open(write(tmp_path / "w", _dawla_tables(days, before_epoch))) as ds:
        pairs = analyze(ds, max_key_freq=5, n_boot=0, n_imputations=2).pairs
    k = pairs.filter((pl.col("previous") == 1) & (pl.col("new") == 2))["keys"]
    assert k.len() == 1
    assert bool(k[0] & 32) == edit_blocks
    assert bool(k[0] & 1) == edit_blocks  # the exact stem block agrees


def test_cell_codes_agree_with_sql() -> None:
    import numpy as np

    from measure.resurrection._blocking import PERIOD_OFFSET, cell_codes

    dkeys = np.array([0, 1, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15], dtype=np.uint64)
    periods = np.array([-1_000_000, -5, -1, 0, 700], dtype=np.int64)
    dk, bk = (x.ravel() for x in np.meshgrid(dkeys, periods))
    want = cell_codes(dk, bk)
    con = duckdb.connect()
    con.register("c", pl.DataFrame({"dkey": pl.Series(dk, dtype=pl.UInt64),
                                    "bk": bk}).to_arrow())
    got = con.execute("SELECT xor(dkey, CAST(bk + $offset AS UBIGINT)) FROM c",
                      {"offset": PERIOD_OFFSET}).fetchnumpy()
    assert np.array_equal(next(iter(got.values())).astype(np.uint64), want)
