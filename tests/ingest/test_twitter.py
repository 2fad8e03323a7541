"""twitter-v1 and twitter-v2 ingest on hand-written, real-shaped fixtures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import measure
from measure.errors import IngestError
from measure.ingest import image_url_hash, ingest

from ._helpers import FIXTURES, sha256

UTC = dt.UTC
ALPHA, BETA = 1180000000000000001, 1180000000000000002


def _quarantine(out: Path):
    with measure.open(out) as ds:
        return ds.sql('SELECT * FROM quarantine ORDER BY line')


def test_v1_fixture_tables_and_quarantine(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    before = sha256(src)
    out = tmp_path / "processed" / "v1"
    rep = ingest(src, "twitter-v1", out)
    assert sha256(src) == before  # raw file unchanged
    # 15 non-blank lines (line 10 is blank), one holding a two-user array
    assert rep.rows_read == 16
    # an unreadable optional field (created_at "yesterday" on line 7, followers
    # "many" on line 13) is nulled with a field note; the look-up is kept
    assert rep.rows_quarantined == 4
    assert rep.rows_collapsed == {"observations": 1}
    assert rep.rows_written["observations"] == 11
    assert rep.rows_written["field_notes"] == 2
    assert rep.balanced
    assert rep.reasons == {"bad_json": 1, "missing_id": 1, "naive_timestamp": 1,
                           "unknown_error": 1}
    with measure.open(out) as ds:
        obs = ds.sql("SELECT * FROM observations ORDER BY account_id, observed_at")
        acc = ds.sql("SELECT * FROM accounts ORDER BY account_id")
    statuses = dict(zip(obs["account_id"], obs["status"], strict=True))
    assert statuses[1180000000000000003] == "suspended"   # code 63
    assert statuses[1180000000000000004] == "not_found"   # code 50
    assert statuses[1180000000000000009] == "protected"
    # error record by screen_name resolved to sim_beta's id
    beta = obs.filter(obs["account_id"] == BETA)
    assert beta["status"].to_list() == ["active", "suspended"]
    assert beta["followers_count"].to_list() == [9, None]
    # the duplicate (alpha, 2024-05-08) keeps the last line in file order
    alpha = obs.filter(obs["account_id"] == ALPHA)
    assert alpha["followers_count"].to_list() == [120, 131]
    assert alpha["screen_name"].to_list() == ["sim_alpha", "sim_alpha_renamed"]
    a = acc.filter(acc["account_id"] == ALPHA).row(0, named=True)
    assert a["screen_name"] == "sim_alpha_renamed"
    assert a["description"] == "renamed again"
    assert a["created_at"] == dt.datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert a["first_seen"] == dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert a["platform"] == "twitter"
    # twarc1-style __twarc.retrieved_at is read as the observation time
    g = obs.filter(obs["account_id"] == 1180000000000000007).row(0, named=True)
    assert g["observed_at"] == dt.datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    q = _quarantine(out)
    assert q["line"].to_list() == [5, 6, 15, 16]
    assert q["column"].to_list() == ["(record)", "id", "errors", "collected_at"]
    with measure.open(out) as ds:
        notes = ds.sql("SELECT line, \"column\", kind FROM field_notes ORDER BY line")
        kept = ds.sql("SELECT account_id, followers_count FROM observations "
                      "WHERE account_id IN (1180000000000000006, 1180000000000000010) "
                      "ORDER BY 1")
        created = ds.sql("SELECT created_at FROM accounts "
                         "WHERE account_id = 1180000000000000006")["created_at"]
    assert notes.rows() == [(7, "created_at", "bad_timestamp"),
                            (13, "followers_count", "bad_type")]
    assert kept.rows() == [(1180000000000000006, 1), (1180000000000000010, None)]
    assert created.to_list() == [None]
    assert q["source_file"].unique().to_list() == [str(src)]
    assert q["raw"][0].startswith('{"collected_at": "2024-05-01T12:00:00Z", "user"')


def test_v1_manifest_lists_raw_hashes(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    out = tmp_path / "v1"
    rep = ingest(src, "twitter-v1", out)
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"] == [{"path": str(src), "sha256": sha256(src),
                            "bytes": src.stat().st_size}]
    assert m["command"].startswith("measure.ingest.ingest(")
    assert rep.dataset_id == f"v1@sha256:{m['digest']}"
    assert "quarantine.parquet" in {f["path"] for f in m["files"]}
    assert measure.verify_dataset(out).ok


def test_profile_image_hash_normalises_size_suffix():
    a = image_url_hash("https://pbs.twimg.com/profile_images/111/avatarA_normal.jpg")
    b = image_url_hash("http://PBS.twimg.com/profile_images/111/avatarA_400x400.jpg")
    c = image_url_hash("https://pbs.twimg.com/profile_images/111/avatarA.jpg?x=1")
    d = image_url_hash("https://pbs.twimg.com/profile_images/112/avatarA_normal.jpg")
    assert a == b == c
    assert a != d
    assert image_url_hash(None) is None


def test_v1_same_image_same_hash_across_accounts(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    ingest(src, "twitter-v1", tmp_path / "v1")
    with measure.open(tmp_path / "v1") as ds:
        h = ds.sql("SELECT account_id, profile_image_hash FROM accounts "
                   "WHERE account_id IN (?, ?) ORDER BY 1", [ALPHA, BETA])
    # alpha uses _normal, beta _400x400 of the same stored image
    assert h["profile_image_hash"][0] == h["profile_image_hash"][1] is not None


def test_v1_observed_at_default_for_bare_objects(tmp_path):
    raw = tmp_path / "raw" / "bare.jsonl"
    raw.parent.mkdir()
    user = {"id_str": "1190000000000000001", "screen_name": "sim_bare",
            "followers_count": 3, "friends_count": 4, "statuses_count": 5}
    raw.write_text(json.dumps(user) + "\n")
    rep = ingest(raw, "twitter-v1", tmp_path / "a")
    assert rep.reasons == {"no_observed_at": 1}
    assert rep.rows_written["observations"] == 0
    rep = ingest(raw, "twitter-v1", tmp_path / "b", observed_at="2024-01-02T03:04:05Z")
    assert rep.rows_quarantined == 0
    with measure.open(tmp_path / "b") as ds:
        t = ds.sql("SELECT observed_at FROM observations")["observed_at"][0]
    assert t == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_v2_fixture(raw_copy, tmp_path):
    src = raw_copy("twitter_v2_users.jsonl")
    before = sha256(src)
    out = tmp_path / "v2"
    rep = ingest(src, "twitter-v2", out)
    assert sha256(src) == before
    # page 1: 2 users + 2 errors; page 2: 4 users + 1 error; page 3: 2 errors;
    # line 4: bad JSON; line 5: one flattened user; line 6: one user
    assert rep.rows_read == 4 + 5 + 2 + 1 + 1 + 1
    # two bad optional fields are nulled (field notes), not quarantined
    assert rep.rows_quarantined == 4
    assert rep.rows_collapsed["observations"] == 1
    assert rep.rows_written == {"accounts": 7, "observations": 9, "field_notes": 2,
                                "quarantine": 4}
    assert rep.balanced
    with measure.open(out) as ds:
        obs = ds.sql("SELECT * FROM observations ORDER BY account_id, observed_at")
        acc = ds.sql("SELECT * FROM accounts ORDER BY account_id")
    one = obs.filter(obs["account_id"] == 1280000000000000001)
    assert one["status"].to_list() == ["active", "active", "suspended"]
    assert one["followers_count"].to_list() == [10, 12, None]  # dup: last kept
    assert one["friends_count"].to_list() == [20, 20, None]    # following_count
    st = dict(zip(obs["account_id"], obs["status"], strict=False))
    assert st[1280000000000000002] == "protected"
    assert st[1280000000000000003] == "suspended"   # detail "User has been suspended"
    assert st[1280000000000000004] == "not_found"   # title "Not Found Error"
    seven = acc.filter(acc["account_id"] == 1280000000000000007).row(0, named=True)
    assert seven["created_at"] == dt.datetime(2021, 2, 2, 2, 2, 2, tzinfo=UTC)
    q = _quarantine(out)
    assert sorted(q["kind"].to_list()) == sorted(
        ["missing_id", "unknown_error", "unresolved_handle", "bad_json"])
    assert q.filter(q["kind"] == "bad_json")["line"].to_list() == [4]


def test_dedup_is_deterministic(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    r1 = ingest(src, "twitter-v1", tmp_path / "a", name="same")
    r2 = ingest(src, "twitter-v1", tmp_path / "b", name="same")
    assert r1.digest == r2.digest


def test_dedup_rule_keeps_last_in_file_order(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    t = "2024-05-01T00:00:00Z"

    def line(n: int) -> str:
        return json.dumps({"collected_at": t, "user": {
            "id_str": "1190000000000000002", "screen_name": "sim_dup",
            "followers_count": n, "friends_count": 0, "statuses_count": 0}})

    # files are read in sorted path order: a.jsonl, then b/c.jsonl
    (raw / "a.jsonl").write_text(line(1) + "\n" + line(2) + "\n")
    (raw / "b").mkdir()
    (raw / "b" / "c.jsonl").write_text(line(3) + "\n")
    rep = ingest(raw, "twitter-v1", tmp_path / "out")
    assert rep.rows_read == 3 and rep.rows_collapsed["observations"] == 2
    assert [i["path"] for i in rep.inputs] == [str(raw / "a.jsonl"),
                                              str(raw / "b" / "c.jsonl")]
    with measure.open(tmp_path / "out") as ds:
        assert ds.sql("SELECT followers_count FROM observations").item() == 3


def test_out_inside_source_is_refused(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    with pytest.raises(IngestError, match="inside the raw source"):
        ingest(src.parent, "twitter-v1", src.parent / "processed")


def test_strict_names_file_line_column(raw_copy, tmp_path):
    src = raw_copy("twitter_v1_lookup.jsonl")
    with pytest.raises(IngestError, match=r"line 5") as e:
        ingest(src, "twitter-v1", tmp_path / "s", strict=True)
    assert str(src) in str(e.value)
    assert not (tmp_path / "s").exists()


def test_existing_output_needs_overwrite(raw_copy, tmp_path):
    src = raw_copy("twitter_v2_users.jsonl")
    ingest(src, "twitter-v2", tmp_path / "o")
    with pytest.raises(FileExistsError):
        ingest(src, "twitter-v2", tmp_path / "o")
    rep = ingest(src, "twitter-v2", tmp_path / "o", overwrite=True)
    assert rep.balanced


def test_gzip_and_bad_utf8(tmp_path):
    import gzip

    raw = tmp_path / "raw"
    raw.mkdir()
    good = json.dumps({"collected_at": "2024-05-01T00:00:00Z", "id": 5,
                       "errors": [{"code": 63}]}).encode()
    with gzip.open(raw / "x.jsonl.gz", "wb") as fh:
        fh.write(good + b"\n" + b'{"collected_at": "2024-05-01T00:00:00Z", "id": 6, '
                 b'"screen_name": "sim_\xff"}\n'
                 b'{"collected_at": "2024-05-01T00:00:00Z", "id": "\xff"}\n')
    rep = ingest(raw, "twitter-v1", tmp_path / "o")
    # the undecodable byte becomes U+FFFD and the record is kept with a note;
    # in an id the repaired text is no id, so that record is quarantined
    assert rep.rows_read == 3 and rep.rows_written["observations"] == 2
    assert rep.reasons == {"bad_type": 1}
    with measure.open(tmp_path / "o") as ds:
        name = ds.sql("SELECT screen_name FROM accounts WHERE account_id = 6")
        notes = ds.sql("SELECT line, \"column\", kind FROM field_notes ORDER BY 1")
    assert name["screen_name"].to_list() == ["sim_\ufffd"]
    assert notes.rows() == [(2, "screen_name", "bad_encoding"),
                            (3, "id", "bad_encoding")]


def test_fixtures_are_simulated_accounts_only():
    """Fixtures use only invented handles (sim_...), never real people."""
    for name in ("twitter_v1_lookup.jsonl", "twitter_v2_users.jsonl"):
        for line in (FIXTURES / name).read_text().splitlines():
            for key in ('"screen_name": "', '"username": "'):
                for part in line.split(key)[1:]:
                    assert part.lower().startswith("sim_"), part[:30]


def test_v1_pretty_printed_json_document(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    doc = {"collected_at": "2024-05-01T00:00:00Z", "users": [
        {"id_str": "1190000000000000003", "screen_name": "sim_doc1",
         "followers_count": 1, "friends_count": 1, "statuses_count": 1},
        {"id_str": "1190000000000000004", "screen_name": "sim_doc2",
         "followers_count": "x"}]}
    (raw / "response.json").write_text(json.dumps(doc, indent=2))
    rep = ingest(raw, "twitter-v1", tmp_path / "o")
    # the unreadable optional count is nulled: both users are kept
    assert rep.rows_read == 2 and rep.rows_written["observations"] == 2
    assert rep.reasons == {} and rep.rows_written["field_notes"] == 1
