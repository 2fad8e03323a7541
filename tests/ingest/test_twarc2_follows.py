"""twarc2-follows: twarc2 followers/following pages -> edges, crawls and look-ups.

Fixtures (``tests/ingest/fixtures/twarc2_follows/``, see its README) follow twarc
2.14.1 (``docs/twarc2_en_us.md``; ``Twarc2.followers``/``following``) and the Twitter
API v2 reference for GET /2/users/:id/followers and /following. The census test
pairs them with the worked example of ``docs/ingest.md``: the same follower lists as
twarc2 pages must give the same census as the CSV files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest

import measure
from measure.cli import main
from measure.errors import IngestError
from measure.ingest import ingest
from measure.ingest._twarc2_follows import CrawlChains, Page

from ._helpers import FIXTURES, sha256

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "ingest"
PAGES = FIXTURES / "twarc2_follows"
ERRORS = PAGES / "errors" / "pages.jsonl"

#: Records per line of ``errors/pages.jsonl``, counted by hand from the file: one per
#: element of ``data`` and ``errors``; a line that cannot be read as a page counts
#: as many records as it lists (at least one); the empty list (line 7) has none.
ERROR_RECORDS = [3, 2, 1, 1, 1, 1, 0, 1, 1, 2, 2, 1, 4, 2, 1, 1, 2, 1, 2, 1, 3, 2]


def _t(day: int, hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, day, hh, mm, ss, tzinfo=UTC)


def _tables(out: Path, *names: str) -> list:
    with measure.open(out) as ds:
        return [ds.sql(f'SELECT * FROM "{n}"') for n in names]


def test_level0_pages_give_one_edge_per_listed_user_and_a_crawl_per_list(tmp_path):
    src = PAGES / "level0"
    before = {p: sha256(p) for p in src.glob("*.jsonl")}
    rep = ingest(src, "twarc2-follows", tmp_path / "d", level=0)
    assert {p: sha256(p) for p in src.glob("*.jsonl")} == before
    # 12 + 8 + 8 users in 7 pages; the user whose id is "n/a" is quarantined
    assert (rep.rows_read, rep.rows_quarantined) == (28, 1)
    assert rep.rows_written["observations"] == 27 and rep.balanced
    assert rep.tables["observations"] == {"kind": "record", "read": 28, "written": 27,
                                          "quarantined": 1, "collapsed": 0}
    crawls, edges, obs, q = _tables(tmp_path / "d", "crawls", "edges", "observations",
                                    "quarantine")
    crawls = crawls.sort("account_id")
    assert crawls["account_id"].to_list() == [1001, 1002, 1003]
    assert crawls["pages"].to_list() == [3, 2, 2]
    assert crawls["complete"].to_list() == [True, True, True]
    assert crawls["level"].to_list() == [0, 0, 0]
    assert set(crawls["list"]) == {"followers"}
    # the crawl is dated by its first page; every edge carries that time
    assert crawls["collected_at"].to_list() == [_t(2, 9, 41), _t(2, 9, 42),
                                                _t(2, 9, 43)]
    pairs = edges.join(crawls, left_on=["dst", "observed_at"],
                       right_on=["account_id", "collected_at"], how="anti")
    assert pairs.height == 0 and edges.height == 27
    assert edges.filter(edges["dst"] == 1001).height == 12
    # each listed user is an active look-up at its page's retrieved_at, with counts
    u = obs.filter(obs["account_id"] == 2010).row(0, named=True)
    assert (u["status"], u["observed_at"]) == ("active", _t(2, 9, 41, 1))
    assert (u["followers_count"], u["friends_count"], u["statuses_count"]) == (
        2010 % 97 + 10, 2010 % 97 + 20, 2010 % 97 * 7 + 100)
    assert q.select("source_file", "line", "column", "kind").rows() == [
        (str(src / "followers_1003.jsonl"), 2, "id", "bad_type")]


def test_error_pages_statuses_crawl_completeness_and_quarantine(tmp_path):
    rep = ingest(ERRORS, "twarc2-follows", tmp_path / "e", level=1)
    # rows in = rows out + quarantined, against the hand count of the file
    assert rep.rows_read == sum(ERROR_RECORDS) == 35
    # line 13's two users with an unreadable optional field (public_metrics,
    # created_at) are kept with the field nulled (field notes); line 15's
    # undecodable byte is replaced and the page is then no follow list
    assert (rep.rows_written["observations"], rep.rows_quarantined,
            rep.rows_collapsed["observations"]) == (20, 15, 0)
    assert rep.balanced
    assert rep.reasons == {
        "bad_json": 1, "bad_shape": 3,
        "bad_type": 1, "flattened_user": 1, "missing_id": 1, "naive_timestamp": 1,
        "no_observed_at": 2, "not_a_follow_list": 3, "not_about_a_user": 1,
        "unknown_error": 1}
    crawls, edges, obs, acc, q = _tables(tmp_path / "e", "crawls", "edges",
                                         "observations", "accounts", "quarantine")
    status = {(r["account_id"], r["observed_at"]): r["status"]
              for r in obs.iter_rows(named=True)}
    assert status[(3001, _t(4, 10, 1))] == "suspended"      # "User has been suspended"
    assert status[(3002, _t(4, 10, 2))] == "not_found"      # Not Found Error
    assert status[(3003, _t(4, 10, 3))] == "protected"      # Authorization Error
    assert status[(4002, _t(4, 10, 0))] == "protected"      # "protected": true
    assert status[(4001, _t(4, 10, 0))] == "active"
    got = {(r["account_id"], r["list"], r["collected_at"]): (r["complete"], r["pages"])
           for r in crawls.iter_rows(named=True)}
    assert got == {
        (3004, "friends", _t(4, 10, 0)): (True, 2),      # two pages, then no token
        (3001, "followers", _t(4, 10, 1)): (False, 1),   # error pages
        (3002, "friends", _t(4, 10, 2)): (False, 1),
        (3003, "followers", _t(4, 10, 3)): (False, 1),
        (3005, "followers", _t(4, 10, 4)): (False, 1),
        (3006, "followers", _t(4, 10, 5)): (True, 1),    # an empty list
        (3008, "followers", _t(4, 10, 7)): (True, 1),    # fields nulled, id-less
        (3009, "followers", _t(4, 10, 8)): (False, 1),   # first page not read
        (3004, "friends", _t(5, 10, 0)): (False, 1),     # re-crawl that stopped
        (3011, "followers", _t(4, 10, 11)): (True, 1),
        (3012, "friends", _t(4, 10, 13)): (True, 1),     # URL without query
        (3013, "followers", _t(4, 10, 14)): (True, 1),   # a pinned-tweet error
    }
    # 4001 is listed on both pages of the first crawl of 3004: one edge
    first = [r["dst"] for r in edges.iter_rows(named=True)
             if r["src"] == 3004 and r["observed_at"] == _t(4, 10, 0)]
    assert sorted(first) == [4001, 4002, 4003, 4004]
    # and the two users of 3008's page kept with a field nulled (line 13)
    assert edges.height == 16
    assert sorted(r["src"] for r in edges.iter_rows(named=True)
                  if r["dst"] == 3008) == [4009, 4011, 4019]
    assert any("appeared twice in one crawl" in n for n in rep.notes)
    # crawled accounts never listed still get an accounts row
    owners = acc.filter(acc["account_id"] == 3006).row(0, named=True)
    assert owners["screen_name"] is None and owners["first_seen"] == _t(4, 10, 5)
    assert q.select("line", "column", "kind").rows() == [
        (6, "title", "unknown_error"), (8, "(record)", "bad_json"),
        (9, "(record)", "bad_shape"),
        (10, "__twarc.retrieved_at", "no_observed_at"),
        (10, "__twarc.retrieved_at", "no_observed_at"),
        (11, "__twarc.url", "not_a_follow_list"),
        (11, "__twarc.url", "not_a_follow_list"), (12, "(record)", "flattened_user"),
        (13, "id", "missing_id"), (15, "__twarc.url", "not_a_follow_list"),
        (16, "__twarc.retrieved_at", "naive_timestamp"), (18, "data", "bad_shape"),
        (19, "(record)", "bad_shape"), (20, "meta.next_token", "bad_type"),
        (22, "resource_type", "not_about_a_user")]
    assert set(q["source_file"]) == {str(ERRORS)}


def test_pages_into_census_dataset_give_the_csv_example_census(tmp_path):
    """Seeds + twarc2 pages + coded sheet -> the census of the CSV worked example.

    The pages hold the same lists as ``docs/examples/ingest/followers``. Every census
    figure must agree except the two that model profile features: only the pages
    carry follower/friend/post counts.
    """
    twarc, csv = tmp_path / "twarc2", tmp_path / "csv"
    for argv in (
        [str(EXAMPLES / "seeds.csv"), "--format", "table", "--mapping",
         str(EXAMPLES / "seeds.toml")],
        [str(PAGES / "level0"), "--format", "twarc2-follows", "--level", "0"],
        [str(PAGES / "level1"), "--format", "twarc2-follows", "--level", "1"],
        [str(EXAMPLES / "coded_sheet.csv"), "--format", "table", "--mapping",
         str(EXAMPLES / "labels.toml")],
    ):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["ingest", *argv, "--into", str(twarc)]) == 0
    for src, mapping in (("seeds.csv", "seeds.toml"), ("followers", "follows.toml"),
                         ("coded_sheet.csv", "labels.toml")):
        ingest(EXAMPLES / src, "table", mapping=EXAMPLES / mapping, into=csv)
    res = {}
    for d in (twarc, csv):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["census", "--json", str(d)]) == 0
        res[d] = json.loads(buf.getvalue())
    a, b = res[twarc], res[csv]
    assert a["frame_size"] == 31 and a["n_coded"] == 20
    assert 0 <= a["estimate"] <= 31 and a["ci"][0] <= a["estimate"] <= a["ci"][1]
    differ = sorted(k for k in a if a[k] != b[k]
                    and k not in ("dataset", "timings"))  # the run, not the numbers
    assert differ == ["classifier_corrected", "model_assisted"]
    with measure.open(twarc, require=("census_estimate",)) as ds:
        crawls = ds.sql("SELECT account_id, level, complete FROM crawls "
                        "ORDER BY account_id").rows()
    assert crawls == [(1001, 0, True), (1002, 0, True), (1003, 0, True),
                      (2001, 1, True), (2004, 1, False)]


def test_level_is_required_and_only_for_follow_lists(tmp_path):
    with pytest.raises(IngestError, match="--level N"):
        ingest(ERRORS, "twarc2-follows", tmp_path / "a")
    with pytest.raises(IngestError, match="only used with the follow-list formats"):
        ingest(FIXTURES / "twitter_v2_users.jsonl", "twitter-v2", tmp_path / "b",
               level=0)
    with pytest.raises(IngestError, match="whole number >= 0"):
        ingest(ERRORS, "twarc2-follows", tmp_path / "c", level=-1)
    assert not any((tmp_path / n).exists() for n in "abc")


def test_same_pages_again_are_skipped_unless_the_level_changes(tmp_path):
    into = tmp_path / "d"
    src = PAGES / "level1"
    ingest(src, "twarc2-follows", into=into, level=1)
    again = ingest(src, "twarc2-follows", into=into, level=1)
    assert not again.changed and len(again.skipped) == 2
    moved = ingest(src, "twarc2-follows", into=into, level=2)
    assert moved.changed
    # the crawls' key (account, list, collected_at) is unchanged: rows merge
    assert moved.tables["crawls"]["collapsed"] == 2
    (crawls,) = _tables(into, "crawls")
    assert crawls["level"].to_list() == [2, 2]


def _page(owner: int, first: bool | None, token: str | None,
          nxt: str | None, minute: int) -> Page:
    return Page(owner, "followers", _t(1, 0, minute), first, token, nxt)


def test_crawl_chains_follow_tokens_and_start_anew_on_a_gap():
    c = CrawlChains()
    assert c.add(_page(1, True, None, "a", 0)) == 0
    assert c.add(_page(1, False, "a", "b", 1)) == 0     # continues with token a
    assert c.add(_page(1, False, "x", None, 2)) == 1    # token x: a gap, new crawl
    assert c.add(_page(1, None, None, None, 3)) == 2    # crawl 1 ended: new crawl
    assert c.add(_page(2, None, None, "k", 4)) == 3     # position unknown
    assert c.add(_page(2, None, None, None, 5)) == 3    # continues: 3 expected more
    assert c.add(_page(1, True, None, None, 6)) == 4
    df = c.frame(0, pl.Int64)
    assert df["complete"].to_list() == [False, False, True, True, True]
    assert df["pages"].to_list() == [2, 1, 1, 2, 1]


def test_docs_three_line_example_gives_what_the_docs_say(tmp_path):
    text = (ROOT / "docs" / "ingest.md").read_text()
    m = re.search(r"<!-- format-example: twarc2-follows -->\n```json\n(.*?)\n```",
                  text, flags=re.S)
    assert m and len(m.group(1).splitlines()) == 3
    raw = tmp_path / "raw" / "pages.jsonl"
    raw.parent.mkdir()
    raw.write_text(m.group(1) + "\n")
    rep = ingest(raw, "twarc2-follows", tmp_path / "d", level=0)
    assert rep.rows_read == 3 and rep.rows_quarantined == 0
    obs, edges, crawls = _tables(tmp_path / "d", "observations", "edges", "crawls")
    assert sorted(obs.select("account_id", "status").rows()) == [
        (1004, "suspended"), (2001, "active"), (2002, "protected")]
    assert sorted(edges.select("src", "dst").rows()) == [(2001, 1001), (2002, 1001)]
    assert sorted(crawls.select("account_id", "list", "complete", "pages").rows()) == [
        (1001, "followers", True, 2), (1004, "friends", False, 1)]
