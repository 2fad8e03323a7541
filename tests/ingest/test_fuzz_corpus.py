"""Hand-made broken inputs (``tests/ingest/fuzz_corpus/``) and input bounds.

Every corpus file is ingested end to end (written, opened with ``measure.open``).
For each, the counts, the quarantine reasons and the field notes are pinned line by
line against the corpus README: a problem in a required field (an id, a
collection time) quarantines the record, one in an optional field (a count, a
creation date, a profile text) nulls that field and records a note, bytes that are
not UTF-8 are replaced and noted. Empty inputs are an error naming the file unless
``allow_empty`` is given; impossible times are checked against the documented
per-platform bounds.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import pytest

import measure
from measure.errors import IngestError
from measure.ingest import EmptyInputWarning, ingest
from measure.ingest._cli import FORMATS
from measure.ingest._common import FUTURE_MARGIN, PLATFORM_EPOCH

from ._helpers import FIXTURES

CORPUS = Path(__file__).parent / "fuzz_corpus"
UTC = dt.UTC

#: (file, format, options) -> ((read, written, quarantined, collapsed), quarantine
#: (line, column, kind) rows, field-note (line, column, kind) rows), from the
#: README's line list. Mutated records share the valid record's key, so most
#: kept ones collapse into it.
CASES = {
    "twitter_v1/lookup.jsonl": (
        "twitter-v1", {}, (19, 14, 5, 0),
        [(7, "collected_at", "bad_timestamp"), (12, "id", "bad_type"),
         (13, "(record)", "bad_json"), (15, "(record)", "bad_json"),
         (17, "protected", "bad_type")],
        [(2, "followers_count", "bad_value"), (3, "friends_count", "bad_value"),
         (4, "statuses_count", "bad_type"), (5, "followers_count", "bad_type"),
         (6, "created_at", "bad_timestamp"), (14, "user.name", "bad_encoding"),
         (16, "name", "bad_type"), (18, "user.name", "bad_encoding")]),
    "twitter_v2/users.jsonl": (
        "twitter-v2", {}, (19, 1, 8, 10),
        [(9, "id", "bad_type"), (10, "__twarc.retrieved_at", "bad_timestamp"),
         (11, "__twarc.retrieved_at", "naive_timestamp"),
         (12, "__twarc.retrieved_at", "bad_timestamp"),
         (13, "__twarc.retrieved_at", "bad_timestamp"), (14, "(record)", "bad_json"),
         (17, "(record)", "bad_json"), (19, "(record)", "bad_json")],
        [(2, "public_metrics.followers_count", "bad_value"),
         (3, "public_metrics.following_count", "bad_value"),
         (4, "public_metrics.tweet_count", "bad_type"),
         (5, "created_at", "bad_timestamp"), (6, "created_at", "bad_timestamp"),
         (7, "public_metrics", "bad_type"), (15, "extra", "bad_encoding"),
         (16, "extra", "bad_encoding")]),
    "twarc2_follows/followers_1001.jsonl": (
        "twarc2-follows", {"level": 0}, (14, 1, 7, 6),
        [(5, "id", "missing_id"), (6, "__twarc.url", "not_a_follow_list"),
         (7, "__twarc.retrieved_at", "bad_timestamp"),
         (8, "meta.next_token", "bad_type"), (9, "(record)", "bad_json"),
         (12, "(record)", "bad_json"), (14, "(record)", "bad_json")],
        [(2, "public_metrics.followers_count", "bad_value"),
         (3, "public_metrics.tweet_count", "bad_type"),
         (4, "created_at", "bad_timestamp"), (10, "extra", "bad_encoding"),
         (11, "extra", "bad_encoding")]),
    "bluesky/appview.jsonl": (
        "bluesky", {"level": 0}, (17, 2, 8, 7),
        [(6, "response.did", "bad_type"), (7, "response.did", "bad_type"),
         (8, "collected_at", "bad_timestamp"), (9, "collected_at", "bad_timestamp"),
         (11, "collected_at", "bad_timestamp"), (12, "(record)", "bad_json"),
         (15, "(record)", "bad_json"), (17, "(record)", "bad_json")],
        [(2, "followersCount", "bad_value"), (3, "followsCount", "bad_type"),
         (4, "response.createdAt", "bad_timestamp"),
         (5, "response.avatar", "bad_type"), (13, "extra", "bad_encoding"),
         (14, "extra", "bad_encoding")]),
    "bluesky/jetstream.jsonl": (
        "bluesky", {"level": 0}, (13, 1, 8, 4),
        [(2, "time_us", "bad_timestamp"), (3, "time_us", "bad_timestamp"),
         (4, "time_us", "bad_timestamp"), (5, "time_us", "bad_timestamp"),
         (7, "kind", "unknown_kind"), (8, "(record)", "bad_json"),
         (11, "(record)", "bad_json"), (13, "(record)", "bad_json")],
        [(6, "commit.record.createdAt", "bad_timestamp"),
         (9, "extra", "bad_encoding"), (10, "extra", "bad_encoding")]),
    "mastodon/lookups.jsonl": (
        "mastodon", {"level": 0}, (18, 1, 8, 9),
        [(7, "account.acct", "bad_type"), (8, "account.suspended", "bad_type"),
         (9, "collected_at", "bad_timestamp"), (10, "collected_at", "bad_timestamp"),
         (12, "collected_at", "bad_timestamp"), (13, "(record)", "bad_json"),
         (16, "(record)", "bad_json"), (18, "(record)", "bad_json")],
        [(2, "account.followers_count", "bad_value"),
         (3, "account.statuses_count", "bad_type"),
         (4, "account.created_at", "bad_timestamp"),
         (5, "account.note", "bad_type"), (6, "account.avatar", "bad_value"),
         (14, "extra", "bad_encoding"), (15, "extra", "bad_encoding")]),
    "telegram/collection.jsonl": (
        "telegram", {}, (18, 1, 8, 9),
        [(7, "entity.id", "bad_type"), (8, "entity._", "unknown_kind"),
         (9, "collected_at", "bad_timestamp"), (10, "collected_at", "bad_timestamp"),
         (12, "collected_at", "bad_timestamp"), (13, "(record)", "bad_json"),
         (16, "(record)", "bad_json"), (18, "(record)", "bad_json")],
        [(2, "participants_count", "bad_value"), (3, "entity.date", "bad_timestamp"),
         (4, "entity.photo", "bad_type"), (5, "title", "bad_type"),
         (14, "extra", "bad_encoding"), (15, "extra", "bad_encoding")]),
    "fifthtribe/tweets.csv": (
        "fifthtribe", {}, (13, 3, 6, 4),
        [(10, "time", "bad_timestamp"), (12, "time", "bad_timestamp"),
         (14, "time", "bad_timestamp"), (16, "username", "missing_id"),
         (21, "(record)", "ragged_row"), (23, "(record)", "ragged_row")],
        [(4, "followers", "bad_value"), (6, "numberstatuses", "bad_type"),
         (8, "followers", "bad_type"), (24, "location", "bad_encoding")]),
    "table/checks.csv": (
        "table", {"mapping": CORPUS / "table" / "checks.toml"}, (9, 1, 4, 4),
        [(5, "checked", "bad_timestamp"), (6, "checked", "bad_timestamp"),
         (7, "user_id", "bad_type"), (10, "(record)", "ragged_row")],
        [(3, "followers", "bad_value"), (4, "followers", "bad_type"),
         (9, "handle", "bad_encoding")]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_file_is_accounted_for_line_by_line(tmp_path, name):
    fmt, opts, counts, quarantined, noted = CASES[name]
    src = CORPUS / name
    rep = ingest(src, fmt, tmp_path / "d", **opts)  # type: ignore[arg-type]
    t = rep.tables[rep.record_tables[0]]
    assert (t["read"], t["written"], t["quarantined"], t["collapsed"]) == counts
    assert rep.balanced and t["read"] == t["written"] + t["quarantined"] + t[
        "collapsed"]
    with measure.open(tmp_path / "d") as ds:
        q = ds.sql('SELECT source_file, line, "column", kind, reason FROM quarantine '
                   "ORDER BY line")
        n = ds.sql('SELECT source_file, line, "column", kind, reason FROM '
                   "field_notes ORDER BY line")
    assert q.select("line", "column", "kind").rows() == quarantined
    assert n.select("line", "column", "kind").rows() == noted
    for frame in (q, n):
        assert set(frame["source_file"]) == {str(src)}
        assert all(r and len(r) > 10 for r in frame["reason"])
    assert any("optional field value(s) were left empty" in x for x in rep.notes)


def test_an_optional_field_is_nulled_and_its_record_kept(tmp_path):
    """Line 2 of the Twitter v1 corpus: followers_count -7; friends 20 is kept."""
    ingest(CORPUS / "twitter_v1" / "lookup.jsonl", "twitter-v1", tmp_path / "d")
    with measure.open(tmp_path / "d") as ds:
        row = ds.sql("SELECT followers_count, friends_count, statuses_count FROM "
                     "observations WHERE account_id = 1190000000000000002").rows()
        reason = ds.sql("SELECT reason FROM field_notes WHERE line = 2")["reason"][0]
        created = ds.sql("SELECT created_at FROM accounts WHERE account_id = "
                         "1190000000000000006")["created_at"].to_list()
    assert row == [(None, 20, 30)]
    assert "negative count -7" in reason and "left empty (null)" in reason
    assert created == [None]  # 1990 is before Twitter (bound 2006-01-01)


def test_a_ten_megabyte_field_is_read_in_jsonl_and_csv(tmp_path):
    big = "x" * (10 * 1024 * 1024)
    raw = tmp_path / "raw"
    raw.mkdir()
    user = {"id_str": "1190000000000000100", "screen_name": "sim_big",
            "description": big, "followers_count": "ten"}
    (raw / "big.jsonl").write_text(json.dumps({"collected_at": "2024-05-01T12:00:00Z",
                                               "user": user}) + "\n")
    rep = ingest(raw / "big.jsonl", "twitter-v1", tmp_path / "j")
    assert (rep.rows_read, rep.rows_quarantined) == (1, 0)
    with measure.open(tmp_path / "j") as ds:
        desc = ds.sql("SELECT length(description) AS n FROM accounts")["n"][0]
    assert desc == len(big)
    csv_src = raw / "big.csv"
    csv_src.write_text("user_id,checked,state,followers,handle,note\n"
                       f"1,2024-03-30 23:30,ok,-1,sim_big,{big}\n")
    rep = ingest(csv_src, "table", tmp_path / "c",
                 FIXTURES / "table_checks.toml")
    assert (rep.rows_read, rep.rows_written["observations"]) == (1, 1)
    assert rep.rows_written["field_notes"] == 1  # the negative count


# -- empty inputs ----------------------------------------------------------------
EMPTY_FILES = {"twitter-v1": "x.jsonl", "twitter-v2": "x.jsonl",
               "twarc2-follows": "followers_1.jsonl", "bluesky": "x.jsonl",
               "mastodon": "x.jsonl", "telegram": "x.jsonl", "fifthtribe": "x.csv",
               "table": "x.csv"}
OPTS = {"twarc2-follows": {"level": 0}, "bluesky": {"level": 0},
        "mastodon": {"level": 0},
        "table": {"mapping": FIXTURES / "table_checks.toml"}}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("content", [b"", b"\n  \r\n\n", b"\xef\xbb\xbf\n"])
def test_an_empty_file_is_an_error_naming_it_or_a_warning_when_allowed(
        tmp_path, fmt, content):
    src = tmp_path / "raw" / EMPTY_FILES[fmt]
    src.parent.mkdir()
    src.write_bytes(content)
    with pytest.raises(IngestError, match=rf"file '{src}' is empty.*--allow-empty"):
        ingest(src, fmt, tmp_path / "d", **OPTS.get(fmt, {}))  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()
    with pytest.warns(EmptyInputWarning, match="is empty"):
        rep = ingest(src, fmt, tmp_path / "d", allow_empty=True,  # type: ignore[arg-type]
                     **OPTS.get(fmt, {}))
    assert rep.rows_read == 0 and rep.balanced
    assert any("is empty" in n for n in rep.notes)
    with measure.open(tmp_path / "d") as ds:
        assert ds.sql("SELECT count(*) AS n FROM quarantine")["n"][0] == 0


def test_a_directory_without_files_of_the_format_is_an_error_or_a_warning(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    (src / "notes.txt").write_text("not a lookup file\n")
    with pytest.raises(IngestError, match=r"holds no file ending in .jsonl.*"
                                          r"--allow-empty"):
        ingest(src, "twitter-v1", tmp_path / "d")
    with pytest.warns(EmptyInputWarning, match="holds no file"):
        rep = ingest(src, "twitter-v1", tmp_path / "d", allow_empty=True)
    assert rep.rows_read == 0 and rep.rows_written["observations"] == 0


def test_the_cli_refuses_an_empty_file_and_allow_empty_ingests_it(tmp_path, capsys):
    from measure.cli import main

    src = tmp_path / "raw" / "x.jsonl"
    src.parent.mkdir()
    src.write_bytes(b"\n\n")
    assert main(["ingest", str(src), "--format", "twitter-v1", "--out",
                 str(tmp_path / "d")]) == 1
    assert f"file '{src}' is empty" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyInputWarning)
        assert main(["ingest", str(src), "--format", "twitter-v1", "--out",
                     str(tmp_path / "d"), "--allow-empty"]) == 0
    out = capsys.readouterr().out
    assert "rows read 0 = rows written 0" in out and "is empty" in out
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["command"].endswith("--allow-empty")


# -- time bounds -----------------------------------------------------------------
#: Documented earliest plausible times (docs/ingest.md): Twitter opened in March
#: 2006, Telegram in August 2013, Mastodon's first release was in March 2016,
#: Bluesky opened in February 2023 (bound a year earlier); 1990 for other sources.
BOUNDS = {"twitter": "2006-01-01", "telegram": "2013-01-01", "mastodon": "2016-01-01",
          "bluesky": "2022-01-01", "other": "1990-01-01"}


def test_platform_time_bounds_are_the_documented_dates():
    assert {k: v.date().isoformat() for k, v in PLATFORM_EPOCH.items()} == BOUNDS
    assert FUTURE_MARGIN == dt.timedelta(days=1)


@pytest.mark.parametrize(("when", "kept"), [
    ("2005-12-31T23:59:59Z", False), ("2006-01-01T00:00:00Z", True),
    ("now", True), ("tomorrow+2h", False)])
def test_observation_times_outside_the_bounds_quarantine_the_record(
        tmp_path, when, kept):
    now = dt.datetime.now(UTC)
    t = {"now": now.isoformat(), "tomorrow+2h": (now + dt.timedelta(days=1, hours=2)
                                                  ).isoformat()}.get(when, when)
    raw = tmp_path / "raw" / "x.jsonl"
    raw.parent.mkdir()
    raw.write_text(json.dumps({"collected_at": t, "user": {
        "id_str": "1190000000000000200", "screen_name": "sim_when"}}) + "\n")
    rep = ingest(raw, "twitter-v1", tmp_path / "d")
    assert rep.rows_written["observations"] == (1 if kept else 0)
    assert rep.reasons == ({} if kept else {"bad_timestamp": 1})


def test_observed_at_outside_the_bounds_is_refused(tmp_path):
    raw = tmp_path / "raw" / "x.jsonl"
    raw.parent.mkdir()
    raw.write_text(json.dumps({"id_str": "5", "screen_name": "sim_x"}) + "\n")
    with pytest.raises(IngestError, match="--observed-at: .*before 2006-01-01"):
        ingest(raw, "twitter-v1", tmp_path / "d", observed_at="1999-01-01T00:00:00Z")
