"""table ingest: CSV/Parquet plus a TOML mapping onto one contract table."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

import measure
from measure.errors import IngestError
from measure.ingest import ingest

from ._helpers import sha256

UTC = dt.UTC


def test_csv_mapping_fixture(raw_copy, tmp_path):
    src = raw_copy("table_checks.csv")
    mp = raw_copy("table_checks.toml")
    before = (sha256(src), sha256(mp))
    out = tmp_path / "tab"
    rep = ingest(src, "table", out, mp)
    assert (sha256(src), sha256(mp)) == before
    assert rep.rows_read == 11
    # line 11's optional count 'many' is nulled (a field note), the row kept
    assert rep.rows_quarantined == 5 and rep.rows_collapsed == {"observations": 1}
    assert rep.rows_written["observations"] == 5
    assert rep.balanced
    assert rep.reasons == {"bad_timestamp": 2, "bad_type": 1, "bad_value": 1,
                           "missing_value": 1}
    with measure.open(out) as ds:
        obs = ds.sql("SELECT * FROM observations ORDER BY account_id, observed_at")
        q = ds.sql("SELECT * FROM quarantine ORDER BY line")
    # Berlin local 23:30 on 30 March 2024 is 22:30 UTC (CET); 03:30 on 31 March
    # is after the switch to CEST: 01:30 UTC
    one = obs.filter(obs["account_id"] == 1380000000000000001)
    assert one["observed_at"].to_list() == [
        dt.datetime(2024, 3, 30, 22, 30, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC)]
    st = dict(zip(obs["account_id"], obs["status"], strict=True))
    assert st[1380000000000000002] == "suspended" and st[1380000000000000003] == \
        "not_found"
    assert q["line"].to_list() == [7, 8, 9, 10, 12]
    assert q["column"].to_list() == ["user_id", "checked", "state", "checked",
                                     "user_id"]
    with measure.open(out) as ds:
        notes = ds.sql("SELECT line, \"column\", kind FROM field_notes")
        seven = ds.sql("SELECT followers_count FROM observations "
                       "WHERE account_id = 1380000000000000007")
    assert notes.rows() == [(11, "followers", "bad_type")]
    assert seven["followers_count"].to_list() == [None]
    m = json.loads((out / "manifest.json").read_text())
    assert [i.get("role") for i in m["inputs"]] == [None, "mapping"]
    assert m["inputs"][0]["sha256"] == before[0]


def test_parquet_accounts_with_constants_and_string_ids(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    pl.DataFrame({
        "did": ["did:plc:sim1", "did:plc:sim2", "did:plc:sim1", None],
        "handle": ["sim1.example", "sim2.example", "sim1b.example", "sim3.example"],
        "since": [dt.datetime(2023, 1, 1, tzinfo=UTC)] * 4,
    }).write_parquet(raw / "accounts.parquet")
    (raw / "accounts.toml").write_text(
        'table = "accounts"\nid_type = "str"\n[columns]\naccount_id = "did"\n'
        'screen_name = "handle"\nfirst_seen = "since"\n[constants]\n'
        'platform = "bluesky"\n')
    rep = ingest(raw / "accounts.parquet", "table", tmp_path / "o",
                 raw / "accounts.toml")
    assert rep.rows_read == 4 and rep.rows_quarantined == 1
    assert rep.rows_collapsed == {"accounts": 1} and rep.balanced
    with measure.open(tmp_path / "o") as ds:
        acc = ds.sql("SELECT * FROM accounts ORDER BY account_id")
        q = ds.sql("SELECT * FROM quarantine")
    assert acc["account_id"].to_list() == ["did:plc:sim1", "did:plc:sim2"]
    assert acc["screen_name"].to_list() == ["sim1b.example", "sim2.example"]
    assert set(acc["platform"]) == {"bluesky"}
    assert q["line"].to_list() == [4] and q["column"].to_list() == ["did"]


def test_naive_times_without_zone_fail_with_location(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text("id,when,src\n5,2024-01-01 10:00,snowball\n")
    (raw / "d.toml").write_text('table = "detections"\n[columns]\naccount_id = "id"\n'
                                'detected_at = "when"\nsource = "src"\n')
    with pytest.raises(IngestError, match=r"line 2, column 'when'.*zone"):
        ingest(raw / "d.csv", "table", tmp_path / "o", raw / "d.toml")
    # ISO times with an offset need no zone
    (raw / "d.csv").write_text("id,when,src\n5,2024-01-01T10:00:00+02:00,snowball\n")
    ingest(raw / "d.csv", "table", tmp_path / "o", raw / "d.toml")
    with measure.open(tmp_path / "o") as ds:
        t = ds.sql("SELECT detected_at FROM detections").item()
    assert t == dt.datetime(2024, 1, 1, 8, tzinfo=UTC)


def test_mapping_errors_are_collected(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "x.csv").write_text("a\n1\n")
    (raw / "x.toml").write_text('table = "nope"\nid_type = "uuid"\nfoo = 1\n')
    with pytest.raises(IngestError) as e:
        ingest(raw / "x.csv", "table", tmp_path / "o", raw / "x.toml")
    msg = str(e.value)
    assert "'table' must be one of" in msg and "id_type" in msg and "foo" in msg


def test_unknown_source_column_and_missing_required(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "x.csv").write_text("a,b\n1,2\n")
    (raw / "x.toml").write_text('table = "seeds"\n[columns]\naccount_id = "zzz"\n')
    with pytest.raises(IngestError, match=r"column 'zzz'"):
        ingest(raw / "x.csv", "table", tmp_path / "o", raw / "x.toml")
    (raw / "y.toml").write_text('table = "edges"\n[columns]\nsrc = "a"\n')
    with pytest.raises(IngestError, match=r"needs column\(s\) \['dst'\]"):
        ingest(raw / "x.csv", "table", tmp_path / "o", raw / "y.toml")


def test_table_needs_mapping(raw_copy, tmp_path):
    src = raw_copy("table_checks.csv")
    with pytest.raises(IngestError, match="--mapping"):
        ingest(src, "table", tmp_path / "o")


def test_unclosed_quote_falls_back_to_csv_module(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "s.csv").write_text('id,list\n1,followers\n2,"friends\n3,friends\n')
    (raw / "s.toml").write_text('table = "crawls"\n[constants]\nlevel = 0\n'
                                '[columns]\naccount_id = "id"\n')
    rep = ingest(raw / "s.csv", "table", tmp_path / "o", raw / "s.toml")
    # the csv module reads record 2 to the end of the file: its `list` value is
    # not allowed, so it is quarantined at its starting line
    assert rep.rows_read == 2 and rep.rows_written["crawls"] == 1
    assert rep.reasons == {"bad_value": 1} and rep.balanced
    assert any("csv module" in n for n in rep.notes)
    with measure.open(tmp_path / "o") as ds:
        assert ds.sql("SELECT line FROM quarantine").item() == 3


def test_invalid_utf8_is_reported(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "u.csv").write_bytes(b"id,seed_list\n1,\xff\xfe\n2,ok\n")
    (raw / "u.toml").write_text('table = "seeds"\n[columns]\naccount_id = "id"\n')
    rep = ingest(raw / "u.csv", "table", tmp_path / "o", raw / "u.toml")
    assert rep.rows_written["seeds"] == 2
    assert any("not valid UTF-8" in n for n in rep.notes)


def test_unknown_target_column_is_an_error_and_extra_columns_are_kept(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text("id,src,note\n5,snowball,first\n")
    (raw / "typo.toml").write_text('table = "detections"\n[columns]\n'
                                   'account_id = "id"\nsorce = "src"\n')
    with pytest.raises(IngestError, match=r"typo\.toml'.*\[columns\] sorce: 'sorce' "
                       r"is not a column of table 'detections'.*\[extra\]"):
        ingest(raw / "d.csv", "table", tmp_path / "o", raw / "typo.toml")
    (raw / "ok.toml").write_text('table = "detections"\n[columns]\n'
                                 'account_id = "id"\nsource = "src"\n'
                                 '[extra]\nremark = "note"\n')
    ingest(raw / "d.csv", "table", tmp_path / "o", raw / "ok.toml")
    with measure.open(tmp_path / "o") as ds:
        row = ds.sql("SELECT account_id, source, remark FROM detections").row(0)
    assert row == (5, "snowball", "first")
