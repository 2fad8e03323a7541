"""The one-pass look-up scan equals a direct account-by-account computation.

The reference below walks each account's look-ups in time order in plain Python,
following the definitions of the profile (latest active look-up; status-count
increases between consecutive active look-ups with a count; latest active look-up
before the first suspended one; per-day series of appendix E11). The generated
dataset (``_fixed_data.write_world``, 400 accounts plus look-up-only accounts) has
look-ups at the same microsecond for some accounts, so ties are exercised too.
Both ways of restricting the look-ups to the cohort (in SQL, in memory) and text
ids are compared.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import measure
from measure.describe._scan import scan_observations

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fixed_data import write_world  # noqa: E402

US_PER_DAY = 86_400_000_000


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _reference(obs: pl.DataFrame, ids: list) -> dict:
    """Every per-account quantity and the daily series, row by row."""
    cohort = set(ids)
    by: dict = defaultdict(list)
    for r in obs.iter_rows(named=True):
        if r["status"] != "unknown" and r["account_id"] in cohort:
            by[r["account_id"]].append(r)
    latest, activity, before = {}, {}, {}
    pairs: dict = defaultdict(list)  # day -> (account, active, followers)
    first_day, susp_day = {}, {}
    for a, rows in by.items():
        rows.sort(key=lambda r: r["observed_at"])
        act = [r for r in rows if r["status"] == "active"]
        if act:
            r = act[-1]
            latest[a] = (r["observed_at"], r["followers_count"], r["friends_count"],
                         r["statuses_count"])
        cnt = [r for r in act if r["statuses_count"] is not None]
        if len(cnt) >= 2:
            incs = [max(b["statuses_count"] - p["statuses_count"], 0)
                    for p, b in zip(cnt, cnt[1:], strict=False)]
            gaps = [(_us(b["observed_at"]) - _us(p["observed_at"])) / US_PER_DAY
                    for p, b in zip(cnt, cnt[1:], strict=False)]
            ups = [b["observed_at"] for b, i in zip(cnt[1:], incs, strict=True) if i]
            activity[a] = (sum(incs), cnt[0]["observed_at"], max(ups, default=None),
                           max(i / max(g, 1.0) for i, g in zip(incs, gaps,
                                                               strict=True)),
                           sum(gaps))
        susp = [r["observed_at"] for r in rows if r["status"] == "suspended"]
        s_at = min(susp) if susp else None
        ok = [r for r in act if s_at is None or r["observed_at"] < s_at]
        if ok:
            r = ok[-1]
            before[a] = (r["observed_at"], s_at, s_at is not None,
                         r["statuses_count"], r["friends_count"],
                         r["followers_count"])
        days: dict = defaultdict(list)
        for r in rows:
            days[r["observed_at"].replace(hour=0, minute=0, second=0,
                                          microsecond=0)].append(r)
        first_day[a] = min(days)
        susp_day[a] = min((d for d, rs in days.items()
                           if any(r["status"] == "suspended" for r in rs)),
                          default=None)
        for d, rs in days.items():
            fol = [r["followers_count"] for r in rs if r["status"] == "active"
                   and r["followers_count"] is not None]
            pairs[d].append((a, any(r["status"] == "active" for r in rs),
                             max(fol) if fol else None))
    series = {}
    for d, ps in pairs.items():
        fol = [f for _, _, f in ps if f is not None]
        m = sum(fol) / len(fol) if fol else None
        sd = (math.sqrt(sum((f - m) ** 2 for f in fol) / (len(fol) - 1))
              if len(fol) > 1 else None)
        series[d] = (len(ps), sum(a for _, a, _ in ps), m, sd, len(fol),
                     sum(susp_day[a] is None or susp_day[a] >= d for a, _, _ in ps),
                     sum(susp_day[a] == d for a, _, _ in ps),
                     sum(first_day[a] == d for a, _, _ in ps))
    return {"latest": latest, "activity": activity, "before": before,
            "series": series}


def _close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12)
    return a == b


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    path = write_world(tmp_path_factory.mktemp("scan") / "w", n=400, seed=11)
    # ties: copy some look-ups to another row at the same microsecond
    obs = pl.read_parquet(path / "observations")
    acc = pl.read_parquet(path / "accounts.parquet")
    act = obs.filter((pl.col("status") == "active") & (pl.col("account_id") % 3 == 2))
    tie = act.head(30).with_columns(
        status=pl.lit("suspended"), followers_count=None, friends_count=None,
        statuses_count=None)
    same = act.slice(30, 30).with_columns(
        followers_count=pl.col("followers_count") + 5)
    with measure.DatasetWriter(path, name="scan", overwrite=True) as w:
        w.write_table("accounts", acc)
        w.write_table("observations", pl.concat([obs, tie, same]))
    return path


@pytest.mark.parametrize("semi", [True, False])
def test_scan_equals_the_account_by_account_reference(world, semi):
    with measure.open(world) as ds:
        obs = ds.sql("SELECT * FROM observations")
        ids = list(range(2, 420, 3))  # some are look-up-only accounts
        ds.con.register("_ids", pl.DataFrame({"account_id": ids}).to_arrow())
        ds.execute("CREATE TEMP TABLE _describe_cohort AS SELECT account_id, "
                   "1.0 AS weight FROM _ids")
        scan = scan_observations(ds, pl.Series(ids), semi=semi)
    ref = _reference(obs, ids)
    # two active look-ups at one time: either one is the latest
    act_obs = obs.filter(pl.col("status") == "active")
    tied = set(act_obs.filter(act_obs.select("account_id", "observed_at")
                              .is_duplicated())["account_id"].to_list())
    assert len(tied & set(ids)) >= 10
    assert scan.ids.to_list() == sorted(ids)
    lat = scan.latest.with_columns(account_id=scan.ids)
    for r in lat.iter_rows(named=True):
        want = ref["latest"].get(r["account_id"])
        got = (r["last_active_at"], r["followers"], r["friends"], r["statuses"])
        if want is None:
            assert got == (None, None, None, None)
        elif r["account_id"] in tied:
            assert got[0] == want[0]
        else:
            assert got == want, (r["account_id"], got, want)
    act = scan.activity.with_columns(account_id=scan.ids)
    for r in act.iter_rows(named=True):
        want = ref["activity"].get(r["account_id"])
        got = (r["n_tweets"], r["first_tweet"], r["last_tweet"], r["burst"],
               r["span_days"])
        if want is None:
            assert got == (None,) * 5
        else:
            assert all(_close(x, y) for x, y in zip(got, want, strict=True)), (
                r["account_id"], got, want)
    bef = scan.before_suspension
    assert bef["account_id"].to_list() == sorted(ref["before"])
    for r in bef.iter_rows(named=True):
        want = ref["before"][r["account_id"]]
        got = (r["last_active_at"], r["suspended_at"], r["suspended"],
               r["statuses"], r["friends"], r["followers"])
        n = 3 if r["account_id"] in tied else 6
        assert got[:n] == want[:n], (r["account_id"], got, want)
    ser = {r["day"]: r for r in scan.series.iter_rows(named=True)}
    assert set(ser) == set(ref["series"])
    for d, want in ref["series"].items():
        r = ser[d]
        got = (r["looked_up"], r["alive"], r["mean_followers"], r["sd_followers"],
               r["n_followers"], r["at_risk"], r["newly_suspended"],
               r["new_accounts"])
        assert all(_close(x, y) for x, y in zip(got, want, strict=True)), (d, got,
                                                                          want)


def test_text_ids_scan_like_integer_ids(tmp_path):
    a = write_world(tmp_path / "int", n=300, seed=12)
    b = write_world(tmp_path / "text", n=300, seed=12, text_ids=True)
    out = []
    for path, ids in ((a, pl.Series(range(1, 301))),
                      (b, pl.Series([f"{i:06d}" for i in range(1, 301)]))):
        with measure.open(path) as ds:
            out.append(scan_observations(ds, ids, semi=False))
    # floats to 1e-12: the daily means may add the accounts in another order
    for name in ("latest", "activity", "series"):
        assert_frame_equal(getattr(out[0], name), getattr(out[1], name),
                           check_exact=False, rel_tol=1e-12)
    assert_frame_equal(out[0].before_suspension.drop("account_id"),
                       out[1].before_suspension.drop("account_id"))
