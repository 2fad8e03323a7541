"""fifthtribe ingest: a hand-written sample, and the real Kaggle file when present."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import measure
from measure.ingest import handle_id, ingest

from ._helpers import FIFTH_TRIBE, sha256

UTC = dt.UTC


def test_sample_tables(raw_copy, tmp_path):
    src = raw_copy("fifthtribe_sample.csv")
    before = sha256(src)
    out = tmp_path / "ft"
    rep = ingest(src, "fifthtribe", out)
    assert sha256(src) == before
    assert rep.rows_read == 10           # records, not physical lines (16)
    # line 13's optional count 'ten' is nulled (a field note), the row kept
    assert rep.rows_quarantined == 3
    assert rep.reasons == {"bad_timestamp": 1, "missing_id": 1, "ragged_row": 1}
    # one identical row collapses in tweets; two same-minute rows in observations
    assert rep.rows_collapsed == {"tweets": 1, "observations": 2}
    assert rep.rows_written["tweets"] == 6 and rep.rows_written["observations"] == 5
    assert rep.rows_written["field_notes"] == 1
    assert rep.balanced
    assert any("UTC" in a for a in rep.assumptions)
    m = json.loads((out / "manifest.json").read_text())
    assert any("UTC" in a for a in m["ingest"]["assumptions"])
    with measure.open(out) as ds:
        acc = ds.sql("SELECT * FROM accounts ORDER BY screen_name")
        obs = ds.sql("SELECT * FROM observations ORDER BY account_id, observed_at")
        edges = ds.sql("SELECT * FROM edges")
        handles = ds.sql("SELECT * FROM handles")
        q = ds.sql("SELECT * FROM quarantine ORDER BY line")
        tweets = ds.sql("SELECT * FROM tweets")
    assert acc["screen_name"].to_list() == ["Sim_Reader", "sim_bad", "sim_echo",
                                            "sim_writer"]
    bad = obs.filter(obs["screen_name"] == "sim_bad")
    assert bad["followers_count"].to_list() == [None]
    assert bad["statuses_count"].to_list() == [10]
    writer = acc.filter(acc["screen_name"] == "sim_writer").row(0, named=True)
    assert writer["account_id"] == handle_id("SIM_WRITER")
    assert writer["description"] == "simulated profile v2"   # latest row's profile
    assert writer["first_seen"] == dt.datetime(2015, 1, 6, 21, 7, tzinfo=UTC)
    w = obs.filter(obs["account_id"] == writer["account_id"])
    # same-minute rows: the last in file order (101 followers) is kept
    assert w["followers_count"].to_list() == [101, 105]
    assert set(obs["status"]) == {"active"}
    # a tweet spanning two physical lines keeps its line break
    assert any("\n" in t for t in tweets["text"])
    # mentions: RT counts as a mention, case-insensitive, deduplicated per tweet,
    # e-mail addresses are not mentions
    assert edges.height == 5 and set(edges["relation"]) == {"mentions"}
    assert edges.filter(edges["dst"] == handle_id("sim_outsider")).height == 1
    assert set(edges["src"]) <= set(acc["account_id"])
    assert set(edges["dst"]) <= set(handles["account_id"])
    outsider = handles.filter(~handles["is_author"])
    assert outsider["screen_name"].to_list() == ["sim_outsider"]
    assert handle_id("sim_outsider") not in set(acc["account_id"])
    # quarantine points at physical lines (line 2 and 4 hold two-line records)
    assert q["line"].to_list() == [11, 12, 14]
    assert q["column"].to_list() == ["time", "username", "(record)"]
    assert q["raw"][2].endswith("too,many,fields")


@pytest.mark.reference
@pytest.mark.skipif(not FIFTH_TRIBE.is_file(),
                    reason=f"Fifth Tribe tweets.csv not found at {FIFTH_TRIBE} "
                    "(see shared/reference-data/fifth-tribe/SOURCE.md)")
def test_fifth_tribe_kaggle_file(tmp_path):
    """Counts from SOURCE.md: 17,410 rows, 112 usernames, max followers 34,692 and
    max numberstatuses 33,091 (also reported by khushal728's README)."""
    before = sha256(FIFTH_TRIBE)
    out = tmp_path / "fifthtribe"
    rep = ingest(FIFTH_TRIBE, "fifthtribe", out)
    assert sha256(FIFTH_TRIBE) == before
    assert rep.rows_read == 17_410
    assert rep.rows_quarantined == 0
    assert rep.rows_written["accounts"] == 112
    assert rep.rows_written["tweets"] == 17_410
    assert rep.balanced
    with measure.open(out) as ds:
        mx = ds.sql("SELECT max(followers_count) f, max(statuses_count) s, "
                    "min(observed_at) t0, max(observed_at) t1 FROM observations"
                    ).row(0, named=True)
        n_users = ds.sql("SELECT count(DISTINCT account_id) FROM tweets").item()
    assert mx["f"] == 34_692 and mx["s"] == 33_091
    assert mx["t0"] == dt.datetime(2015, 1, 6, 21, 7, tzinfo=UTC)
    assert mx["t1"] == dt.datetime(2016, 5, 13, 16, 10, tzinfo=UTC)
    assert n_users == 112
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"][0]["sha256"] == (
        "389f359694d078eb8e4ebad2078d2c80faad7d4ac36d70b12252cde97138af70")
