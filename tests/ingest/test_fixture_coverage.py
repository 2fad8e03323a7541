"""The platform fixtures cover every status and every quarantine reason of a format.

For ``bluesky``, ``mastodon``, ``telegram`` and ``twarc2-follows`` the fixtures under
``tests/ingest/fixtures/`` (written from each platform's public schema, invented
accounts; see each folder's README) hold at least 30 records, every contract status
the format maps to and every quarantine reason its reader can give, and the ingest
balances: rows read = written + quarantined + collapsed. The statuses and reasons
below are read from the format's section of ``docs/ingest.md`` and its reader; the
per-line detail is asserted in each format's own test file.

One reason is left out on purpose: ``twarc2-follows`` can quarantine an error that
names a username it cannot resolve (``unresolved_handle``, shared with
``twitter-v2``), but GET /2/users/:id/followers and /following take the account id
in the path, so their errors name ids (Twitter API v2 reference); the reason is
covered by ``tests/ingest/test_twitter.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import measure
from measure.ingest import ingest

from ._helpers import FIXTURES

TWARC = FIXTURES / "twarc2_follows"
#: How each fixture is ingested: (source, level) pairs, one ingest each.
SOURCES: dict[str, list[tuple[Path, int | None]]] = {
    "bluesky": [(FIXTURES / "bluesky", 0)],
    "mastodon": [(FIXTURES / "mastodon", 0)],
    "telegram": [(FIXTURES / "telegram", None)],
    "twarc2-follows": [(TWARC / "level0", 0), (TWARC / "level1", 1),
                       (TWARC / "errors" / "pages.jsonl", 1)],
}
#: Contract statuses each format maps its sources onto (docs/ingest.md).
STATUSES = {
    "bluesky": {"active", "suspended", "not_found", "deactivated"},
    "mastodon": {"active", "suspended", "not_found", "deactivated"},
    "telegram": {"active", "suspended", "not_found", "unknown"},
    "twarc2-follows": {"active", "suspended", "not_found", "protected"},
}
#: Every line-level reason of the JSON-lines readers (iter_json, the value parsers).
#: ``bad_encoding`` is a field note (the bytes are replaced and the record kept),
#: as is a reason given for an optional field (its value is nulled); the test
#: counts quarantine reasons and field-note kinds together.
COMMON = {"bad_encoding", "bad_json", "bad_shape", "bad_type", "bad_timestamp",
          "naive_timestamp", "missing_id", "no_observed_at", "unknown_error"}
#: Quarantine reasons and field-note kinds each format's reader can give.
REASONS = {
    "bluesky": COMMON | {"bad_value", "unknown_kind", "unmapped_status",
                         "unresolved_handle"},
    "mastodon": COMMON | {"bad_value"},
    "telegram": COMMON | {"bad_value", "unknown_kind", "unresolved_handle"},
    "twarc2-follows": COMMON | {"flattened_user", "not_a_follow_list",
                                "not_about_a_user"},
}
#: Records per fixture, counted by hand in each format's test file (twarc2-follows:
#: level0 28 users, level1 7 + 5, errors/pages.jsonl 35).
RECORDS = {"bluesky": 118, "mastodon": 66, "telegram": 45,
           "twarc2-follows": 28 + 12 + 35}


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_fixture_covers_every_status_and_reason_and_balances(tmp_path, fmt):
    read = written = quarantined = collapsed = 0
    reasons: dict[str, int] = {}
    statuses: set[str] = set()
    for i, (src, level) in enumerate(SOURCES[fmt]):
        out = tmp_path / f"d{i}"
        rep = ingest(src, fmt, out, level=level)  # type: ignore[arg-type]
        obs = rep.tables["observations"]
        assert obs["read"] == obs["written"] + obs["quarantined"] + obs["collapsed"]
        assert rep.balanced
        read += obs["read"]
        written += obs["written"]
        quarantined += obs["quarantined"]
        collapsed += obs["collapsed"]
        for k, n in rep.reasons.items():
            reasons[k] = reasons.get(k, 0) + n
        with measure.open(out) as ds:
            statuses |= set(ds.sql("SELECT DISTINCT status FROM observations")
                            ["status"].to_list())
            if "field_notes" in rep.rows_written:
                for k in ds.sql("SELECT kind FROM field_notes")["kind"]:
                    reasons[k] = reasons.get(k, 0)
    print(f"\n{fmt}: read {read} = written {written} + quarantined {quarantined} "
          f"+ collapsed {collapsed}; {len(reasons)} reasons")
    assert read == RECORDS[fmt] >= 30
    assert read == written + quarantined + collapsed
    assert statuses == STATUSES[fmt]
    assert set(reasons) == REASONS[fmt]


#: Telethon errors of an entity look-up and their statuses, as docs/ingest.md
#: states them; each by its exception class name and by its RPC name (Telethon
#: ``telethon_generator/data/errors.csv``).
TELEGRAM_ERRORS = {
    "UsernameNotOccupiedError": "not_found", "USERNAME_NOT_OCCUPIED": "not_found",
    "ChannelPrivateError": "unknown", "CHANNEL_PRIVATE": "unknown",
    "ChannelInvalidError": "unknown", "CHANNEL_INVALID": "unknown",
    "ChannelPublicGroupNaError": "unknown", "CHANNEL_PUBLIC_GROUP_NA": "unknown",
    "UsernameInvalidError": "unknown", "USERNAME_INVALID": "unknown",
    "FloodWaitError": None, "CHANNELS_TOO_MUCH": None,  # quarantined
}


def test_every_documented_telegram_error_name_gives_its_status(tmp_path):
    raw = tmp_path / "raw" / "errors.jsonl"
    raw.parent.mkdir()
    lines = [json.dumps({"collected_at": "2024-03-15T12:00:00+00:00",
                         "query": -1001000000100 - i, "error": name,
                         "message": "as raised by Telethon"})
             for i, name in enumerate(TELEGRAM_ERRORS)]
    raw.write_text("\n".join(lines) + "\n")
    rep = ingest(raw, "telegram", tmp_path / "d")
    assert (rep.rows_read, rep.rows_quarantined) == (12, 2) and rep.balanced
    assert rep.reasons == {"unknown_error": 2}
    with measure.open(tmp_path / "d") as ds:
        got = dict(ds.sql("SELECT account_id, status FROM observations").rows())
    expected = {str(-1001000000100 - i): s
                for i, s in enumerate(TELEGRAM_ERRORS.values()) if s is not None}
    assert got == expected
