"""mastodon: wrapped Account look-ups, errors and follow-list pages -> a dataset.

Fixtures (``tests/ingest/fixtures/mastodon/``, see its README) follow the Mastodon
documentation (mastodon/documentation ``content/en/entities/Account.md`` and
``content/en/methods/accounts.md``). Accounts are invented (``*.example`` servers).
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
from measure.ingest._common import BadValue
from measure.ingest._mastodon import account_id, avatar_hash, html_text

from ._helpers import FIXTURES, sha256

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
SRC = FIXTURES / "mastodon"
LOOKUPS = SRC / "lookups.jsonl"

#: Records per line of ``lookups.jsonl``, counted by hand: an Account line or an
#: error line is one; a follow-list page one per listed Account (the empty list of
#: line 45 none); an unreadable page as many as it lists (at least one).
RECORDS = [1] * 41 + [3, 2, 2, 0, 1] + [1] * 9 + [2, 1] + [1] * 5


def _t(day: int, hh: int = 12, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hh, mm, ss, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("masto") / "d"
    before = sha256(LOOKUPS)
    rep = ingest(SRC, "mastodon", out, level=0)
    assert sha256(LOOKUPS) == before
    return out, rep


def _sql(out: Path, query: str):
    with measure.open(out) as ds:
        return ds.sql(query)


def test_every_record_is_written_quarantined_or_collapsed(dataset):
    out, rep = dataset
    assert len(LOOKUPS.read_bytes().splitlines()) == len(RECORDS) == 62
    assert rep.rows_read == sum(RECORDS) == 66
    # line 25 repeats line 24's look-up of elm (same account and time)
    # an unreadable optional field (moss's followers_count, line 44; nova's
    # created_at, line 58) is nulled with a field note and the look-up kept
    assert (rep.rows_written["observations"], rep.rows_quarantined,
            rep.rows_collapsed["observations"]) == (49, 16, 1)
    assert rep.balanced
    assert rep.tables["observations"] == {"kind": "record", "read": 66,
                                          "written": 49, "quarantined": 16,
                                          "collapsed": 1}
    assert rep.reasons == {
        "bad_json": 1, "bad_shape": 4, "bad_type": 3, "bad_value": 2,
        "missing_id": 2, "naive_timestamp": 1, "no_observed_at": 1,
        "unknown_error": 2}
    notes = _sql(out, 'SELECT line, "column", kind FROM field_notes')
    # line 62's undecodable byte is replaced; what is left is no known line shape
    assert notes.rows() == [(44, "accounts[].followers_count", "bad_type"),
                            (58, "account.created_at", "bad_timestamp"),
                            (62, "x", "bad_encoding")]
    q = _sql(out, 'SELECT source_file, line, "column", kind FROM quarantine')
    f = str(SRC / "lookups.jsonl")
    assert q.rows() == [
        (f, 47, "status_code", "unknown_error"),
        (f, 48, "status_code", "unknown_error"),
        (f, 49, "(record)", "bad_json"), (f, 50, "(line)", "bad_shape"),
        (f, 51, "collected_at", "no_observed_at"),
        (f, 52, "collected_at", "naive_timestamp"),
        (f, 53, "account.acct", "missing_id"), (f, 54, "account.acct", "missing_id"),
        (f, 55, "status_code", "bad_type"), (f, 56, "relation", "bad_value"),
        (f, 56, "relation", "bad_value"), (f, 57, "accounts", "bad_shape"),
        (f, 59, "account.suspended", "bad_type"), (f, 60, "account.moved", "bad_type"),
        (f, 61, "(line)", "bad_shape"), (f, 62, "(line)", "bad_shape")]
    reason = _sql(out, "SELECT reason FROM quarantine WHERE line = 53")["reason"][0]
    assert "is local (no domain)" in reason and "instance" in reason
    assert "HTTP 429" in _sql(out, "SELECT reason FROM quarantine WHERE line = 47"
                              )["reason"][0]


def test_statuses_map_onto_the_contract(dataset):
    out, _ = dataset
    obs = _sql(out, "SELECT account_id, observed_at, status FROM observations "
                    "WHERE status <> 'active' ORDER BY account_id, observed_at")
    assert obs.rows() == [
        ("amber@social.example", _t(15), "suspended"),     # suspended: true
        ("amber@social.example", _t(22), "suspended"),
        ("birch@mastodon.example", _t(15), "suspended"),   # HTTP 410
        ("cedar@social.example", _t(15), "not_found"),     # HTTP 404
        ("cove@social.example", _t(15), "suspended"),
        ("dune@social.example", _t(15), "deactivated"),    # moved
        ("dune@social.example", _t(22), "deactivated"),
    ]
    # locked (elm), limited (fern), memorial (gale) and bot (heath) accounts exist
    active = _sql(out, "SELECT DISTINCT account_id FROM observations WHERE "
                       "account_id IN ('elm@social.example', 'fern@mastodon.example',"
                       " 'gale@social.example', 'heath@social.example') AND "
                       "status = 'active'")
    assert active.height == 4
    counts = _sql(out, "SELECT followers_count, friends_count, statuses_count FROM "
                       "observations WHERE account_id = 'amber@social.example' "
                       "AND observed_at = TIMESTAMPTZ '2024-03-08 12:00:00+00'")
    assert counts.rows() == [(42, 20, 30)]  # following_count is friends_count
    nulls = _sql(out, "SELECT count(*) AS n FROM observations WHERE status <> "
                      "'active' AND followers_count IS NOT NULL")
    assert nulls["n"][0] == 0


def test_a_moved_account_yields_a_successors_row_and_its_new_account(dataset):
    out, rep = dataset
    succ = _sql(out, "SELECT * FROM successors ORDER BY observed_at")
    assert succ.rows() == [
        ("dune@social.example", "dune@other.example", _t(15), "moved"),
        ("dune@social.example", "dune@other.example", _t(22), "moved")]
    new = _sql(out, "SELECT display_name, description, created_at, first_seen "
                    "FROM accounts WHERE account_id = 'dune@other.example'").row(0)
    # its own look-up (line 19) gives the profile; the moved entity first saw it
    assert new == ("Dune", "New home. Moved from social.example",
                   dt.datetime(2024, 3, 10, tzinfo=UTC), _t(15))
    assert rep.tables["successors"]["kind"] == "derived"
    assert any("successor link" in n for n in rep.notes)


def test_accounts_keep_the_profile_a_suspension_blanks(dataset):
    out, _ = dataset
    acc = {r["account_id"]: r for r in _sql(out, "SELECT * FROM accounts")
           .iter_rows(named=True)}
    # 23 accounts and two whose look-up kept with a field nulled (moss, nova)
    assert len(acc) == 25 and {r["platform"] for r in acc.values()} == {"mastodon"}
    amber = acc["amber@social.example"]
    # the suspended look-ups show "" and missing.png; the earlier profile stays
    assert amber["display_name"] == "Amber ✿"
    assert amber["description"] == ("Knitting & tea. Patterns on #knitting\n"
                                    "Posts daily.\n\n🧶 https://amber.example/")
    assert amber["profile_image_hash"] is not None
    assert amber["created_at"] == dt.datetime(2023, 6, 1, tzinfo=UTC)
    assert amber["first_seen"] == _t(1)
    assert acc["amber_2@other.example"]["description"] == amber["description"]
    assert acc["fern@mastodon.example"]["description"] is None  # note: null


def test_follow_pages_give_edges_and_crawls(dataset):
    out, rep = dataset
    crawls = _sql(out, "SELECT account_id, list, collected_at, complete, pages, level "
                       "FROM crawls ORDER BY collected_at")
    assert crawls.rows() == [
        ("elm@social.example", "followers", _t(2, 9), True, 2, 0),
        ("fern@mastodon.example", "friends", _t(2, 9, 5), True, 1, 0),
        ("gale@social.example", "followers", _t(2, 9, 10), None, 1, 0),  # hidden
        ("heath@social.example", "followers", _t(2, 9, 15), None, 1, 0),  # no next
    ]
    edges = _sql(out, "SELECT src, dst, relation, observed_at FROM edges")
    assert sorted(edges.rows()) == sorted([
        ("amber@social.example", "elm@social.example", "follows", _t(2, 9)),
        ("fern@mastodon.example", "elm@social.example", "follows", _t(2, 9)),
        ("iris@other.example", "elm@social.example", "follows", _t(2, 9)),
        ("jade@social.example", "elm@social.example", "follows", _t(2, 9)),
        ("kelp@mastodon.example", "elm@social.example", "follows", _t(2, 9)),
        # fern follows elm and moss (its unreadable count nulled)
        ("fern@mastodon.example", "elm@social.example", "follows", _t(2, 9, 5)),
        ("fern@mastodon.example", "moss@other.example", "follows", _t(2, 9, 5)),
        ("lark@social.example", "heath@social.example", "follows", _t(2, 9, 15)),
    ])
    assert any("hide their network" in n for n in rep.notes)


def test_mastodon_dataset_runs_through_churn_and_resurrection(dataset):
    """``measure churn`` and ``measure resurrection`` on the fixture (exit 0).

    Churn: 25 accounts, 14 looked up alive only once (no follow-up) and nova with
    no creation time (its unreadable created_at nulled); of the other
    10, amber, birch (HTTP 410) and cove are suspended, cedar (404) and dune (moved)
    end in the competing event, elm, fern, gale, amber_2 and birch2 are censored.
    Resurrection: amber, birch and cove were last active on 8 March 12:00 and first
    seen suspended on 15 March 12:00, so each suspension is put at the midpoint,
    12 March 00:00; amber_2, cove1 and birch2 were created on 17, 18 and 19 March
    (midnight: Mastodon dates accounts by day), 5, 6 and 7 days later.
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
            churn["n_censored"]) == (10, 3, 2, 5)
    assert churn["excluded"] == {"no_follow_up": 14, "no_origin_time": 1}
    assert [(r["period"], r["suspensions"]) for r in churn["rates"]] == [
        ("2024-03", 3)]
    rz = res["resurrection"]
    assert (rz["n_suspended"], rz["n_linked"], rz["n_backup_links"]) == (3, 3, 0)
    assert rz["median_delay_days"] == pytest.approx(6.0, abs=1e-9)
    with measure.open(out) as ds:
        links = measure.resurrection.analyze(ds).links
    got = {(r["previous"], r["new"]): r["delay_days"]
           for r in links.iter_rows(named=True)}
    assert got == pytest.approx({
        ("amber@social.example", "amber_2@other.example"): 5.0,
        ("birch@mastodon.example", "birch2@mastodon.example"): 7.0,
        ("cove@social.example", "cove1@other.example"): 6.0}, abs=1e-9)


def test_follow_pages_need_a_level_but_lookups_do_not(tmp_path):
    with pytest.raises(IngestError, match=r"lookups\.jsonl', line 42 .*--level N"):
        ingest(LOOKUPS, "mastodon", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    raw = tmp_path / "raw" / "lookups.jsonl"
    raw.parent.mkdir()
    raw.write_text("".join(ln + "\n" for ln in LOOKUPS.read_text(
        errors="replace").splitlines()[:41]))
    rep = ingest(raw, "mastodon", tmp_path / "b")
    assert rep.balanced and rep.rows_read == 41
    assert {"crawls", "edges"}.isdisjoint(rep.rows_written)


def test_a_second_ingest_of_the_same_file_changes_nothing(tmp_path):
    into = tmp_path / "d"
    first = ingest(LOOKUPS, "mastodon", into=into, level=0)
    again = ingest(LOOKUPS, "mastodon", into=into, level=0)
    assert first.changed and not again.changed
    assert again.dataset_id == first.dataset_id


def test_bio_html_is_reduced_to_text():
    assert html_text("<p>One &amp; two<br>three</p><p>four</p>") == (
        "One & two\nthree\n\nfour")
    link = ('<p><a href="https://x.example/a"><span class="invisible">https://'
            '</span><span class="ellipsis">x.example/a</span></a></p>')
    assert html_text(link) == "https://x.example/a"
    assert html_text("") is None and html_text("<p></p>") is None
    assert html_text(None) is None
    with pytest.raises(BadValue):
        html_text(3)


def test_account_ids_are_lower_case_user_at_domain():
    assert account_id("Amber", "Social.Example") == ("amber@social.example", "Amber")
    assert account_id("@amber@other.example", None) == ("amber@other.example",
                                                         "amber")
    with pytest.raises(BadValue, match="local"):
        account_id("amber", None)
    with pytest.raises(BadValue):
        account_id("am ber@x.example", None)
    missing = "https://social.example/avatars/original/missing.png"
    assert avatar_hash(missing) is None
    a = "https://files.social.example/accounts/avatars/000/001/original/ab.png"
    assert avatar_hash(a) is not None and avatar_hash(a) != avatar_hash(a + "x")


def test_docs_three_line_example_gives_what_the_docs_say(tmp_path):
    text = (ROOT / "docs" / "ingest.md").read_text()
    m = re.search(r"<!-- format-example: mastodon -->\n```json\n(.*?)\n```", text,
                  flags=re.S)
    assert m and len(m.group(1).splitlines()) == 3
    raw = tmp_path / "raw" / "lines.jsonl"
    raw.parent.mkdir()
    raw.write_text(m.group(1) + "\n")
    rep = ingest(raw, "mastodon", tmp_path / "d")
    assert rep.rows_read == 3 and rep.rows_quarantined == 0
    out = tmp_path / "d"
    obs = _sql(out, "SELECT account_id, status, followers_count, friends_count, "
                    "statuses_count FROM observations ORDER BY 1")
    assert obs.rows() == [("amber@social.example", "active", 42, 20, 30),
                          ("cedar@social.example", "not_found", None, None, None),
                          ("dune@social.example", "deactivated", None, None, None)]
    assert _sql(out, "SELECT account_id, successor_id, source FROM successors"
                ).rows() == [("dune@social.example", "dune@other.example", "moved")]
    acc = _sql(out, "SELECT account_id, description FROM accounts ORDER BY 1")
    assert acc.rows() == [("amber@social.example", "Knitting & tea.\nPosts daily."),
                          ("cedar@social.example", None),
                          ("dune@other.example", None),
                          ("dune@social.example", None)]
