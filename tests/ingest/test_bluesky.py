"""bluesky: Jetstream events and wrapped AppView responses -> a text-id dataset.

Fixtures (``tests/ingest/fixtures/bluesky/``, see its README) follow the atproto
lexicons (``com.atproto.sync.subscribeRepos`` ``#account``/``#identity``,
``app.bsky.actor.profile``, ``app.bsky.graph.follow``, ``app.bsky.actor.defs``
``profileView``/``profileViewDetailed``, ``getProfile(s)``, ``getFollowers``,
``getFollows``) and the Jetstream documentation (``docs/README.md``, "Legacy v1 JSON
Payload"). Accounts are invented (``did:plc:sim...``, handles under ``.example``).
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
from measure.cli import main
from measure.errors import IngestError
from measure.ingest import ingest
from measure.ingest._bluesky import avatar_cid, blob_cid

from ._helpers import FIXTURES, sha256

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
SRC = FIXTURES / "bluesky"
JET, APP = SRC / "jetstream.jsonl", SRC / "appview.jsonl"

#: Records per line of ``appview.jsonl``, counted by hand: a profile response is
#: one, ``getProfiles`` one per profile, a follow page its subject plus each listed
#: account, an error one; an unreadable line one.
APPVIEW_RECORDS = [1, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1]
#: ``jetstream.jsonl``: 103 lines, of which 15 are readable identity events (not
#: look-ups, so not records of ``observations``).
JET_LINES, IDENTITY_EVENTS = 103, 15
#: The avatar CIDs of amber's and birch's profile records (``avatar.ref.$link``).
AMBER_CID = "bafkreihiiksijjltjkkmukllnvlmmowmnnpxnooqyopprzpqqs2qrrt3rs"
BIRCH_CID = "bafkreiomy4mpnz5nqo26orp37psq4aqtr5brus6csvt7dtwuaeuxvbfvyw"


def did(name: str) -> str:
    return "did:plc:" + (name + "a" * 24)[:24]


def _t(month: int, day: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hh, mm, ss, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("bsky") / "d"
    before = sha256(JET), sha256(APP)
    rep = ingest(SRC, "bluesky", out, level=0)
    assert (sha256(JET), sha256(APP)) == before
    return out, rep


def _sql(out: Path, query: str):
    with measure.open(out) as ds:
        return ds.sql(query)


def test_every_record_is_written_quarantined_or_collapsed(dataset):
    out, rep = dataset
    assert sum(1 for ln in JET.read_bytes().splitlines() if ln.strip()) == JET_LINES
    assert len(APP.read_text().splitlines()) == len(APPVIEW_RECORDS)
    # lines read = rows read + identity events (which are not look-ups)
    assert rep.rows_read == JET_LINES - IDENTITY_EVENTS + sum(APPVIEW_RECORDS) == 118
    # two commits delivered twice (the same DID and time_us) collapse; an
    # unreadable optional field (a follower's createdAt, line 16; an avatar that
    # is not a blob, line 101) is nulled with a field note and the record kept
    assert (rep.rows_written["observations"], rep.rows_quarantined,
            rep.rows_collapsed["observations"]) == (93, 23, 2)
    assert rep.balanced
    assert rep.rows_written["identity_events"] == IDENTITY_EVENTS
    # line 103's undecodable byte is replaced (a field note on 'note'); what is
    # left is no event of a known shape
    assert rep.reasons == {
        "bad_json": 1, "bad_shape": 4, "bad_timestamp": 2,
        "bad_type": 2, "bad_value": 1, "missing_id": 4, "naive_timestamp": 1,
        "no_observed_at": 1, "unknown_error": 1, "unknown_kind": 1,
        "unmapped_status": 4, "unresolved_handle": 1}
    notes = _sql(out, 'SELECT line, "column", kind FROM field_notes')
    assert notes.rows() == [(16, "followers[].createdAt", "bad_timestamp"),
                            (101, "commit.record.avatar", "bad_type"),
                            (103, "note", "bad_encoding")]
    q = _sql(out, 'SELECT source_file, line, "column", kind, reason FROM quarantine')
    a, j = str(APP), str(JET)
    assert q.select("source_file", "line", "column", "kind").rows() == [
        (a, 10, "error", "unknown_error"), (a, 11, "actor", "unresolved_handle"),
        (a, 12, "collected_at", "no_observed_at"), (a, 13, "actor", "missing_id"),
        (a, 15, "profiles[].did", "missing_id"),
        (a, 17, "response", "bad_shape"), (a, 18, "collected_at", "naive_timestamp"),
        (j, 69, "account.status", "unmapped_status"),
        (j, 70, "account.status", "unmapped_status"),
        (j, 71, "account.status", "unmapped_status"),
        (j, 72, "account.status", "unmapped_status"),
        (j, 91, "(record)", "bad_json"), (j, 92, "(line)", "bad_shape"),
        (j, 93, "(line)", "bad_shape"), (j, 94, "did", "missing_id"),
        (j, 95, "did", "bad_type"), (j, 96, "time_us", "bad_timestamp"),
        (j, 97, "kind", "unknown_kind"), (j, 98, "account.active", "bad_type"),
        (j, 99, "commit.operation", "bad_value"),
        (j, 100, "commit.record.subject", "missing_id"),
        (j, 102, "identity.time", "bad_timestamp"), (j, 103, "(line)", "bad_shape")]
    reasons = q.filter(q["kind"] == "unmapped_status")["reason"].to_list()
    assert "'throttled'" in reasons[0] and "'desynchronized'" in reasons[1]
    assert "without a status" in reasons[2] and "'banished'" in reasons[3]


def test_statuses_map_onto_the_contract_at_the_documented_times(dataset):
    out, _ = dataset
    obs = _sql(out, "SELECT account_id, observed_at, status FROM observations "
                    "WHERE status <> 'active' ORDER BY account_id, observed_at")
    assert obs.rows() == [
        (did("simamber"), _t(4, 10, 8), "suspended"),     # #account takendown
        (did("simamber"), _t(4, 15, 12), "suspended"),    # AccountTakedown
        (did("simbirch"), _t(4, 20, 8), "suspended"),     # #account suspended
        (did("simcedar"), _t(5, 5, 8), "not_found"),      # #account deleted
        (did("simcedar"), _t(5, 6, 12), "not_found"),     # "Profile not found"
        (did("simdune"), _t(4, 2, 8), "deactivated"),     # #account deactivated
        (did("simdune"), _t(4, 15, 12, 0, 2), "deactivated"),  # AccountDeactivated
        (did("simfern"), _t(5, 20, 8), "suspended"),
        (did("simjuniper"), _t(4, 15, 12, 0, 1), "suspended"),  # actor by handle
    ]
    # the #account events are dated by account.time, not by time_us (40 ms later);
    # a commit by its time_us; dune's reactivation is an active look-up again
    dune = _sql(out, f"SELECT observed_at, status FROM observations WHERE "
                     f"account_id = '{did('simdune')}' AND observed_at >= "
                     "TIMESTAMPTZ '2024-04-20' ORDER BY 1").rows()
    assert dune == [(_t(4, 20, 8), "active"), (_t(4, 21, 12), "active")]
    counts = _sql(out, "SELECT followers_count, friends_count, statuses_count FROM "
                       f"observations WHERE account_id = '{did('simamber')}' AND "
                       "observed_at = TIMESTAMPTZ '2024-03-15 12:00:00+00'").rows()
    assert counts == [(120, 80, 42)]  # followersCount, followsCount, postsCount
    # elm's four inactive events are quarantined, so elm is only ever active
    elm = _sql(out, "SELECT DISTINCT status FROM observations WHERE "
                    f"account_id = '{did('simelm')}'")
    assert elm["status"].to_list() == ["active"]


def test_accounts_take_handles_profiles_and_avatar_cids(dataset):
    out, _ = dataset
    acc = {r["account_id"]: r for r in _sql(out, "SELECT * FROM accounts")
           .iter_rows(named=True)}
    assert len(acc) == 15 and {r["platform"] for r in acc.values()} == {"bluesky"}
    amber, back = acc[did("simamber")], acc[did("simamberback")]
    # the blob CID of the profile record and the CID in the AppView avatar URL agree
    assert amber["profile_image_hash"] == back["profile_image_hash"] == AMBER_CID
    assert acc[did("simbirchback")]["profile_image_hash"] == BIRCH_CID
    assert (back["screen_name"], back["display_name"]) == ("amber2.example", "Amber")
    assert back["created_at"] == _t(4, 12, 7)
    # 'handle.invalid' and a handle-less identity event keep the known handle
    assert acc[did("simgale")]["screen_name"] == "gale.example"
    assert acc[did("simheath")]["screen_name"] == "heath.example"
    # fern's update wins over the create; elm deleted its profile
    assert acc[did("simfern")]["display_name"] == "Fern (new)"
    elm = acc[did("simelm")]
    assert elm["display_name"] is None and elm["profile_image_hash"] is None
    assert elm["created_at"] == dt.datetime(2023, 10, 10, 9, tzinfo=UTC)
    assert amber["first_seen"] == _t(3, 1, 10)
    ident = _sql(out, "SELECT count(*) AS n, count(screen_name) AS named "
                      "FROM identity_events").row(0)
    assert ident == (15, 13)


def test_follow_events_are_not_edges_and_pages_are_crawls(dataset):
    out, rep = dataset
    fe = _sql(out, "SELECT src, dst, action, rkey FROM follow_events")
    assert fe.rows() == [
        (did("simgale"), did("simheath"), "create", "3kfollow1"),
        (did("simiris"), did("simheath"), "create", "3kfollow2"),
        (did("simamber"), did("simbirch"), "create", "3kfollow3"),  # delivered twice
        (did("simgale"), did("simheath"), "delete", "3kfollow1"),   # resolved by rkey
        (did("simiris"), None, "delete", "3kfollow0"),              # created earlier
    ]
    assert any("1 follow delete(s)" in n for n in rep.notes)
    crawls = _sql(out, "SELECT account_id, list, collected_at, complete, pages, level "
                       "FROM crawls ORDER BY collected_at")
    assert crawls.rows() == [
        (did("simheath"), "followers", _t(4, 1, 9), True, 2, 0),
        (did("simiris"), "friends", _t(4, 1, 9, 5), False, 1, 0),   # ends with cursor
        (did("simgale"), "followers", _t(5, 10, 12, 0, 2), True, 1, 0),
    ]
    edges = _sql(out, "SELECT src, dst, observed_at FROM edges")
    # six followers of heath over two pages, two follows of iris (one of them
    # heath) and gale's only follower (kept, its bad createdAt nulled); no
    # Jetstream follow is an edge
    assert edges.height == 9
    assert sorted(edges.filter(edges["dst"] == did("simheath"))["src"]) == sorted(
        did(n) for n in ("simgale", "simiris", "simamber", "simmoss", "simnettle",
                         "simbirch", "simiris"))
    assert (did("simamber"), did("simbirch")) not in {
        (r[0], r[1]) for r in edges.rows()}


def test_bluesky_dataset_runs_through_churn_and_resurrection(dataset):
    """``measure churn`` and ``measure resurrection`` on the fixture (exit 0).

    Churn: 15 accounts; moss, nettle and oak have one look-up each (no follow-up),
    leaving 12 at risk. Suspended: amber, birch, juniper (April), fern (May);
    the competing event (first gone look-up) for cedar (deleted) and dune
    (deactivated). Resurrection: amberback and birchback take their predecessor's
    display name and avatar CID. The suspension is put at the midpoint of (last
    active, first suspended]: amber (Apr 8 12:00, Apr 10 08:00] -> Apr 9 10:00, and
    amberback was created Apr 12 07:00: 2.875 days; birch (Apr 18 12:00, Apr 20
    08:00] -> Apr 19 10:00, birchback created Apr 25 07:00: 5.875 days.
    """
    out, _ = dataset
    res = {}
    for cmd in ("churn", "resurrection"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main([cmd, "--json", str(out)]) == 0
        res[cmd] = json.loads(buf.getvalue())
    churn = res["churn"]
    assert (churn["n_accounts"], churn["n_suspended"], churn["n_deleted"],
            churn["n_censored"]) == (12, 4, 2, 6)
    assert churn["excluded"] == {"no_follow_up": 3}
    assert [(r["period"], r["suspensions"]) for r in churn["rates"]] == [
        ("2024-03", 0), ("2024-04", 3), ("2024-05", 1)]
    rz = res["resurrection"]
    assert (rz["n_suspended"], rz["n_linked"], rz["n_backup_links"]) == (4, 2, 0)
    with measure.open(out) as ds:
        links = measure.resurrection.analyze(ds).links
    got = {(r["previous"], r["new"]): r["delay_days"]
           for r in links.iter_rows(named=True)}
    assert got == pytest.approx({(did("simamber"), did("simamberback")): 2.875,
                                 (did("simbirch"), did("simbirchback")): 5.875},
                                abs=1e-9)


def test_follow_pages_need_a_level_but_events_do_not(tmp_path):
    with pytest.raises(IngestError, match=r"appview\.jsonl', line 3 .*--level N"):
        ingest(APP, "bluesky", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    rep = ingest(JET, "bluesky", tmp_path / "b")
    assert rep.balanced and "crawls" not in rep.rows_written
    assert "edges" not in rep.rows_written


def test_text_ids_are_refused_into_a_dataset_with_integer_ids(tmp_path):
    into = tmp_path / "d"
    ingest(FIXTURES / "twitter_v2_users.jsonl", "twitter-v2", into=into)
    with pytest.raises(IngestError, match="text account ids"):
        ingest(JET, "bluesky", into=into)


def test_avatar_hash_is_the_blob_cid_in_every_documented_shape():
    cid = "bafkreiabcdefghijklmnopqrstuvwxyz234567abcdefghijklmnop"
    assert blob_cid({"$type": "blob", "ref": {"$link": cid},
                     "mimeType": "image/jpeg", "size": 1}, "avatar") == cid
    assert blob_cid({"cid": cid, "mimeType": "image/png"}, "avatar") == cid  # legacy
    url = f"https://cdn.bsky.app/img/avatar/plain/{did('simx')}/{cid}@jpeg"
    assert avatar_cid(url) == cid
    assert avatar_cid("https://example.invalid/avatar.png") is None
    assert avatar_cid(None) is None and blob_cid(None, "avatar") is None


def test_docs_three_line_example_gives_what_the_docs_say(tmp_path):
    text = (ROOT / "docs" / "ingest.md").read_text()
    m = re.search(r"<!-- format-example: bluesky -->\n```json\n(.*?)\n```", text,
                  flags=re.S)
    assert m and len(m.group(1).splitlines()) == 3
    raw = tmp_path / "raw" / "events.jsonl"
    raw.parent.mkdir()
    raw.write_text(m.group(1) + "\n")
    rep = ingest(raw, "bluesky", tmp_path / "d")
    assert rep.rows_read == 3 and rep.rows_quarantined == 0
    obs = _sql(tmp_path / "d", "SELECT account_id, observed_at, status FROM "
                               "observations ORDER BY 1, 2")
    assert obs.rows() == [(did("simamber"), _t(4, 10, 8), "suspended"),
                          (did("simamber"), _t(4, 15, 12), "suspended"),
                          (did("simgale"), _t(3, 20, 10), "active")]
    fe = _sql(tmp_path / "d", "SELECT src, dst, action FROM follow_events")
    assert fe.rows() == [(did("simgale"), did("simheath"), "create")]
    assert {"edges", "crawls"}.isdisjoint(rep.rows_written)
