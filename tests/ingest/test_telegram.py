"""telegram: Telethon entities, errors and messages -> a dataset with marked ids.

Fixtures (``tests/ingest/fixtures/telegram/``, see its README) follow Telethon's TL
schema (``telethon_generator/data/api.tl``, layer 190), its error list
(``errors.csv``) and its documentation of marked ids and ``to_dict()``. Users and
channels are invented (``sim_*``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

import measure
from measure.churn import build_lifetimes
from measure.cli import main
from measure.ingest import ingest
from measure.ingest._common import BadValue
from measure.ingest._telegram import marked_id, peer_id, query_target, utf16_slice

from ._helpers import FIXTURES, sha256

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
SRC = FIXTURES / "telegram"
LINES = SRC / "collection.jsonl"
NEWS, BACKUP, IOS, PRIV, INVALID, CHAT = (f"-100100000000{i}" for i in
                                          (1, 2, 3, 4, 5, 6))
ALICE, BOB, EMPTY, CAROL, DAVE = (str(1000000 + i) for i in range(1, 6))


def _t(day: int, hh: int = 12, mm: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hh, mm, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("tg") / "d"
    before = sha256(LINES)
    rep = ingest(SRC, "telegram", out)
    assert sha256(LINES) == before
    return out, rep


def _sql(out: Path, query: str):
    with measure.open(out) as ds:
        return ds.sql(query)


def test_every_record_is_written_quarantined_or_collapsed(dataset):
    out, rep = dataset
    # one record per line; line 29 repeats the post of line 24 (same author, date)
    assert len(LINES.read_bytes().splitlines()) == rep.rows_read == 45
    assert (rep.rows_written["observations"], rep.rows_quarantined,
            rep.rows_collapsed["observations"]) == (27, 17, 1)
    assert rep.balanced
    # line 45's undecodable byte is replaced (a field note) and the repaired
    # text is no entity object
    assert rep.reasons == {
        "bad_json": 1, "bad_shape": 3, "bad_timestamp": 1,
        "bad_type": 3, "bad_value": 1, "missing_id": 2, "naive_timestamp": 1,
        "no_observed_at": 1, "unknown_error": 1, "unknown_kind": 2,
        "unresolved_handle": 1}
    q = _sql(out, 'SELECT source_file, line, "column", kind FROM quarantine')
    f = str(LINES)
    assert q.rows() == [
        (f, 22, "error", "unknown_error"), (f, 23, "query", "unresolved_handle"),
        (f, 31, "message._", "unknown_kind"), (f, 32, "message.date", "bad_timestamp"),
        (f, 33, "message.entities[].offset", "bad_value"),
        (f, 34, "message.peer_id.channel_id", "bad_type"),
        (f, 35, "(record)", "bad_json"), (f, 36, "(line)", "bad_shape"),
        (f, 37, "collected_at", "no_observed_at"),
        (f, 38, "collected_at", "naive_timestamp"), (f, 39, "entity._", "unknown_kind"),
        (f, 40, "entity.id", "bad_type"), (f, 41, "entity.id", "missing_id"),
        (f, 42, "query", "missing_id"), (f, 43, "entity.restricted", "bad_type"),
        (f, 44, "(line)", "bad_shape"), (f, 45, "entity", "bad_shape")]
    notes = _sql(out, 'SELECT line, "column", kind FROM field_notes')
    assert notes.rows() == [(45, "entity", "bad_encoding")]
    reason = _sql(out, "SELECT reason FROM quarantine WHERE line = 22")["reason"][0]
    assert "FloodWaitError" in reason


def test_statuses_map_onto_the_contract(dataset):
    out, _ = dataset
    obs = _sql(out, "SELECT account_id, observed_at, status FROM observations "
                    "WHERE status <> 'active' ORDER BY account_id, observed_at")
    assert obs.rows() == [
        (NEWS, _t(22), "suspended"), (NEWS, _t(29), "suspended"),  # reason 'terms'
        (PRIV, _t(8), "unknown"),                 # ChannelForbidden
        (PRIV, _t(15, 12, 1), "unknown"),         # ChannelPrivateError (PeerChannel)
        (PRIV, _t(22, 12, 4), "unknown"),         # CHANNEL_PRIVATE ("-100...4")
        (INVALID, _t(15, 12, 4), "unknown"),      # ChannelInvalidError (integer)
        (ALICE, _t(15), "not_found"),             # deleted: true
        (EMPTY, _t(8), "not_found"),              # UserEmpty
        (CAROL, _t(15, 12, 2), "not_found"),      # UsernameNotOccupied, @sim_carol
        (DAVE, _t(15, 12, 3), "unknown"),         # USERNAME_INVALID, t.me/sim_dave
    ]
    # restricted on iOS only: still visible elsewhere
    ios = _sql(out, f"SELECT status, followers_count FROM observations WHERE "
                    f"account_id = '{IOS}'")
    assert ios.rows() == [("active", 100)]
    news = _sql(out, f"SELECT observed_at, followers_count FROM observations WHERE "
                     f"account_id = '{NEWS}' AND status = 'active' ORDER BY 1")
    # three look-ups with participants_count, two posts (at their dates, no count)
    assert news.rows() == [(_t(1), 1200), (_t(5, 9), None), (_t(6, 9), None),
                           (_t(8), 1250), (_t(15), 1300)]


def test_accounts_take_usernames_titles_and_creation_dates(dataset):
    out, _ = dataset
    acc = {r["account_id"]: r for r in _sql(out, "SELECT * FROM accounts")
           .iter_rows(named=True)}
    assert set(acc) == {NEWS, BACKUP, IOS, PRIV, INVALID, ALICE, BOB, EMPTY, CAROL,
                        DAVE}
    assert {r["platform"] for r in acc.values()} == {"telegram"}
    news, backup = acc[NEWS], acc[BACKUP]
    assert (news["screen_name"], news["display_name"]) == ("sim_news", "Sim News 📰")
    assert backup["display_name"] == news["display_name"]
    # the collector is not a member (left: true), so 'date' is the creation date
    assert backup["created_at"] == dt.datetime(2024, 3, 24, 8, tzinfo=UTC)
    assert news["profile_image_hash"] == str(1000000001 * 7)  # ChatPhoto.photo_id
    assert acc[BOB]["screen_name"] == "sim_bob"  # from 'usernames'
    # alice's deleted look-up carries no name: the earlier profile stays
    assert (acc[ALICE]["screen_name"], acc[ALICE]["display_name"]) == (
        "sim_alice", "Alice Sim")


def test_forwards_and_mentions_become_edges_with_their_relation(dataset):
    out, rep = dataset
    edges = _sql(out, "SELECT src, dst, relation, observed_at, tweet_id FROM edges "
                      "ORDER BY observed_at")
    assert edges.rows() == [
        (NEWS, BACKUP, "mentions", _t(5, 9), f"{NEWS}/11"),      # @sim_news_backup
        (NEWS, PRIV, "forwards", _t(6, 9), f"{NEWS}/12"),        # fwd_from PeerChannel
        (BOB, ALICE, "mentions", _t(7, 20, 15), f"{CHAT}/301"),  # MentionName
        (BOB, CAROL, "mentions", _t(7, 20, 17), f"{CHAT}/303"),  # @sim_carol
        (BACKUP, NEWS, "forwards", _t(25, 10), f"{BACKUP}/1"),
    ]
    tweets = _sql(out, "SELECT tweet_id, account_id, chat_id, text FROM tweets "
                       "ORDER BY tweet_id")
    assert tweets.height == 6  # the post read twice is one row
    assert tweets.filter(tweets["tweet_id"] == f"{CHAT}/302").row(0)[1:3] == (
        ALICE, CHAT)
    assert any("1 forward(s) hide the original sender" in n for n in rep.notes)
    assert any("1 @username mention(s) name no entity" in n for n in rep.notes)


def test_unknown_observations_are_written_and_ignored_by_churn(dataset):
    """sim_private (``PRIV``) was active on 1 March and then only ``unknown``.

    Churn reads it as looked up alive once (no follow-up), not as gone; dave's
    ``unknown`` answer does not end his follow-up either, and the channel known
    only from a ChannelInvalidError (``INVALID``) is not in the panel at all. The
    one account excluded as terminal at its first look-up is the UserEmpty
    (``EMPTY``, ``not_found``). At risk with follow-up (origin first_seen): news
    (suspended in (14, 21]), alice and carol (gone), backup and bob (censored).
    """
    out, _ = dataset
    n = _sql(out, "SELECT count(*) AS n FROM observations WHERE status = 'unknown'")
    assert n["n"][0] == 5
    with measure.open(out) as ds:
        lt = build_lifetimes(ds, origin="first_seen")
    rows = {r["account_id"]: r for r in lt.frame.to_dicts()}
    assert set(rows) == {NEWS, BACKUP, IOS, PRIV, ALICE, BOB, CAROL, DAVE}
    assert lt.excluded == {"terminal_at_first_look": 1}
    assert (rows[PRIV]["event"], rows[PRIV]["left"]) == (0, 0.0)
    assert (rows[DAVE]["event"], rows[DAVE]["left"]) == (0, 0.0)
    assert (rows[NEWS]["left"], rows[NEWS]["right"], rows[NEWS]["event"]) == (
        14.0, 21.0, 1)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["churn", "--json", "--origin", "first_seen", "--no-cox",
                     str(out)]) == 0
    churn = json.loads(buf.getvalue())
    assert (churn["n_accounts"], churn["n_suspended"], churn["n_deleted"],
            churn["n_censored"]) == (5, 1, 2, 2)
    assert churn["excluded"] == {"terminal_at_first_look": 1, "no_follow_up": 3}


def test_marked_ids_follow_telethon():
    """Telethon ``readthedocs/concepts/chats-vs-channels.rst``:
    ``utils.get_peer_id(types.PeerChannel(456))`` prints ``-1000000000456``."""
    assert marked_id("Channel", 456) == "-1000000000456"
    assert peer_id({"_": "PeerChannel", "channel_id": 456}, "p") == "-1000000000456"
    assert peer_id({"_": "PeerUser", "user_id": 456}, "p") == "456"
    assert peer_id({"_": "PeerChat", "chat_id": 456}, "p") == "-456"
    assert query_target(-1000000000456) == ("-1000000000456", None)
    assert query_target("@Sim_News") == (None, "Sim_News")
    assert query_target("https://t.me/sim_news") == (None, "sim_news")
    with pytest.raises(BadValue):
        query_target("two words")


def test_mention_offsets_count_utf16_code_units():
    # U+1F44B U+1F3FD (waving hand, skin tone) take two UTF-16 units each
    text = "Hi 👋🏽 @sim_news!"
    assert utf16_slice(text, 3 + 4 + 1, 9) == "@sim_news"
    assert text[8:17] != "@sim_news"  # code points would be off by two


def test_docs_three_line_example_gives_what_the_docs_say(tmp_path):
    text = (ROOT / "docs" / "ingest.md").read_text()
    m = re.search(r"<!-- format-example: telegram -->\n```json\n(.*?)\n```", text,
                  flags=re.S)
    assert m and len(m.group(1).splitlines()) == 3
    raw = tmp_path / "raw" / "lines.jsonl"
    raw.parent.mkdir()
    raw.write_text(m.group(1) + "\n")
    rep = ingest(raw, "telegram", tmp_path / "d")
    assert rep.rows_read == 3 and rep.rows_quarantined == 0
    out = tmp_path / "d"
    assert _sql(out, "SELECT account_id, observed_at, status FROM observations "
                     "ORDER BY 1, 2").rows() == [
        (NEWS, _t(6, 9), "active"), (NEWS, _t(22), "suspended"),
        (PRIV, _t(15, 12, 1), "unknown")]
    assert _sql(out, "SELECT tweet_id FROM tweets").rows() == [(f"{NEWS}/12",)]
    assert _sql(out, "SELECT src, dst, relation FROM edges").rows() == [
        (NEWS, PRIV, "forwards")]
