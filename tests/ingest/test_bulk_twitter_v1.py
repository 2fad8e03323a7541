"""twitter-v1: the bulk reader (DuckDB) and the line-by-line reader agree exactly.

``measure.ingest._twitter_v1.parse`` reads the lines of large blocks that hold
well-formed records in bulk with DuckDB (``bulk=None``, the default) and every
other line one record at a time. ``bulk=True`` hands every block to the bulk
reader and ``bulk=False`` none, so comparing the two on the same files checks that
the bulk reader takes only lines it reads exactly as Python does: the same
``accounts`` and ``observations`` rows, the same quarantine rows (file, line,
column, kind, reason, raw text, in order), the same field notes, the same counts
read and collapsed. The inputs are the fixture corpus, a file of edge cases aimed
at the bulk reader's checks (DuckDB's JSON parser is more lenient than Python's,
keeps the first of duplicated keys, and so on) and Hypothesis-mutated fixture
records.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

import measure.ingest._fastjson as fastjson
from measure.ingest import EmptyInputWarning, _list_files, _twitter_v1, image_url_hash
from measure.ingest._common import Parsed, bounded_times

from ._fuzz import FORMATS, jsonl_file
from ._helpers import FIXTURES

CORPUS = Path(__file__).parent / "fuzz_corpus"
UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)


def _parse(path: Path, bulk: bool, observed_at: dt.datetime | None = None,
           taken: list[int] | None = None) -> Parsed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyInputWarning)  # mutated files may be
        files = _list_files([path], "twitter-v1", allow_empty=True)  # empty
    with bounded_times("twitter"):
        if taken is None:
            return _twitter_v1.parse(files, observed_at=observed_at, bulk=bulk)
        finish = fastjson._finish

        def spy(*args):  # noqa: ANN002, ANN202 - the wrapped function's arguments
            n = finish(*args)
            taken.append(n)
            return n

        fastjson._finish = spy
        try:
            return _twitter_v1.parse(files, observed_at=observed_at, bulk=bulk)
        finally:
            fastjson._finish = finish


def _assert_same(path: Path, observed_at: dt.datetime | None = None) -> int:
    """Parse ``path`` both ways and assert equal results; return lines read in bulk."""
    taken: list[int] = []
    fast = _parse(path, True, observed_at, taken)
    slow = _parse(path, False, observed_at)
    assert fast.rows_read == slow.rows_read
    assert fast.collapsed == slow.collapsed
    assert set(fast.tables) == set(slow.tables)
    for name, frame in slow.tables.items():
        assert_frame_equal(fast.tables[name], frame)
    assert fast.quarantine.rows == slow.quarantine.rows
    assert fast.quarantine.notes == slow.quarantine.notes
    return sum(taken)


def test_bulk_reader_matches_line_by_line_reader_on_the_fixture_corpus():
    # read in bulk: lines 1, 2, 8 and 9 (wrapped users), 3 and 4 (look-up errors
    # by id) and 11 (a bare user with its __twarc time); line 12's array holds
    # users without every field (read in bulk only when all are present), the
    # others are cut short, quarantined, noted or blank
    for observed_at in (None, T0):
        taken = _assert_same(FIXTURES / "twitter_v1_lookup.jsonl", observed_at)
        assert taken == 7
    # the hand-made broken corpus: only line 1 (after the byte order mark) is whole
    assert _assert_same(CORPUS / "twitter_v1" / "lookup.jsonl") >= 1


def _user(uid: int, **changes: object) -> dict[str, object]:
    """A simulated v1.1 user object (public ``users/lookup`` shape)."""
    u: dict[str, object] = {
        "id": 1180000000000000000 + uid, "id_str": str(1180000000000000000 + uid),
        "name": f"Sim {uid}", "screen_name": f"sim_{uid}", "location": "Sim City",
        "description": "simulated", "url": None, "protected": False,
        "followers_count": 10 + uid, "friends_count": 5, "statuses_count": 100,
        "created_at": "Wed Oct 10 20:19:24 +0000 2018", "lang": "en",
        "entities": {"description": {"urls": []}},
        "profile_image_url": "http://pbs.twimg.com/profile_images/1/a_normal.jpg",
        "profile_image_url_https": "https://pbs.twimg.com/profile_images/1/"
                                   "a_normal.jpg",
        "status": {"id": 1, "text": "simulated", "user": {"id": 5, "name": "x"}},
    }
    for k, v in changes.items():
        if v is _DELETE:
            u.pop(k, None)
        else:
            u[k] = v
    return u


_DELETE = object()
WHEN = "2024-05-01T12:00:00Z"


def _wrap(u: object, when: object = WHEN) -> str:
    return json.dumps({"collected_at": when, "user": u})


URLS = [
    "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
    "https://pbs.twimg.com/profile_images/1/a_400x400.jpg",
    "HTTP://PBS.TWIMG.com/profile_images/1/a_bigger.png?x=1#frag",
    "https://pbs.twimg.com/profile_images/1/a_mini", "pbs.twimg.com/x/y_12x34.JPG",
    "https://pbs.twimg.com/profile_images/1/a_reasonably_small.jpeg",
    "https://pbs.twimg.com/a_normal_normal.jpg", "https://pbs.twimg.com/a_2x2x3.jpg",
    "https://pbs.twimg.com/a_normal.b_mini", "https://pbs.twimg.com",
    "https://pbs.twimg.com/", "http://", "https://", "#x", "?q", "/abs/path_normal",
    "https://h.example/p/_normal.", "ftp://h.example/a_mini.gif", "x", "",
    "https://h.example/a b_normal.jpg", "https://h.example/é_normal.jpg",
    " https://h.example/a_normal.jpg", "https://h.example/a_١x١.jpg",
]


def _edge_lines() -> list[str]:
    """One line per case the bulk reader must either read exactly or leave."""
    lines = [_wrap(_user(k)) for k in range(40)]  # clean records
    lines += [_wrap(_user(100 + k, profile_image_url_https=u))
              for k, u in enumerate(URLS)]
    lines += [_wrap(_user(200, profile_image_url_https="", profile_image_url=u))
              for u in ("http://h.example/b_normal.jpg", "", None)]
    lines += [_wrap(_user(210, profile_image_url_https=None, profile_image_url=5))]
    changes: list[dict[str, object]] = [
        {"id_str": "0"}, {"id_str": " 12"}, {"id_str": "0012"}, {"id_str": 12},
        {"id_str": None}, {"id_str": "9223372036854775808"}, {"id_str": "abc"},
        {"id_str": _DELETE, "id": "77"}, {"id_str": _DELETE, "id": 2**63},
        {"id_str": _DELETE, "id": _DELETE}, {"id_str": _DELETE, "id": True},
        {"protected": True}, {"protected": 0}, {"protected": "yes"},
        {"protected": None}, {"followers_count": "12"}, {"followers_count": " 12"},
        {"followers_count": 12.0}, {"followers_count": -1}, {"followers_count": 2**63},
        {"followers_count": True}, {"friends_count": None}, {"statuses_count": "x"},
        {"screen_name": 5}, {"screen_name": None}, {"name": 5}, {"lang": ["en"]},
        {"location": None}, {"description": "x\u0000y"}, {"description": "😀 é"},
        {"created_at": "Wed Feb 30 20:19:24 +0000 2018"},
        {"created_at": "Wed Oct 10 24:00:00 +0000 2018"},
        {"created_at": "Wed Oct 10 20:19:24 +0000 0000"},
        {"created_at": "Wed Oct 10 20:19:24 +0000 2005"},
        {"created_at": "Wed Oct 10 20:19:24 +0000 2999"},
        {"created_at": "Wed Oct 10 20:19:24 +0100 2018"},
        {"created_at": "Wed Oct  1 20:19:24 +0000 2018"},
        {"created_at": "Xyz Oct 10 20:19:24 +0000 2018"},
        {"created_at": "2018-10-10T20:19:24Z"}, {"created_at": None},
        {"created_at": 1539202764}, {"errors": [{"code": 63}]}, {"errors": None},
    ]
    lines += [_wrap(_user(300 + k, **c)) for k, c in enumerate(changes)]
    clean = _wrap(_user(400))
    lines += [
        clean[:-1] + ', "collected_at": "2024-05-08T12:00:00Z"}',  # duplicated keys
        clean[:-2] + ', "followers_count": 99}}',
        clean[:-2] + ', "id_str": "1180000000000000999"}}',
        clean[:-2] + ', "status": {"a": 1, "a": 2}}}',  # a nested duplicate: read
        clean[:-2] + ', "entities": [1, ]}}',  # a trailing comma
        clean[:-2] + ', "x": nan}}', clean[:-2] + ', "x": NaN}}',
        clean[:-2] + ', "x": -Infinity}}', clean[:-2] + ', "x": inf}}',
        clean[:-2] + ', "x": -NaN}}', clean[:-2] + ', "x": [Infinity]}}',
        clean[:-2] + ', "x": 123456789012345678901234567890}}',
        clean[:-2] + ', "x": 1e400}}', clean[:-2] + ', "x": "a \\ud800 b"}}',
        clean[:-2] + ', "x": "\\ud83d\\ude00 \\/"}}',
        clean.replace('"Sim 400"', '"Sim\\u00e9 \\u0041"'),
        clean + "   ", " " + clean, clean + "\r", clean.replace(": ", ":"),
        _wrap(_user(401), when="2024-05-01T12:00:00"),  # naive time
        _wrap(_user(402), when=None), _wrap(_user(403), when=1714564800),
        _wrap(_user(404), when="2024-05-01 12:00:00+02:00"), _wrap(_user(405), "x"),
        json.dumps({"observed_at": WHEN, "user": _user(406)}),
        json.dumps({"collected_at": None, "retrieved_at": WHEN, "user": _user(407)}),
        json.dumps({"__twarc": {"retrieved_at": WHEN}, "user": _user(408)}),
        f'{{"__twarc": {{"retrieved_at": "{WHEN}", "retrieved_at": '
        f'"2024-05-08T12:00:00Z"}}, "user": {json.dumps(_user(409))}}}',
        json.dumps({**_user(410), "__twarc": {"retrieved_at": WHEN}}),  # bare user
        json.dumps({**_user(411), "collected_at": WHEN, "__twarc": 5}),
        json.dumps(_user(412)),  # bare, no time: observed_at or quarantined
        json.dumps({"collected_at": WHEN, "user": "x", **_user(413)}),
        json.dumps({"collected_at": WHEN, "user": {}}),
        json.dumps({"collected_at": WHEN, "users": [_user(420), _user(421)]}),
        json.dumps({"collected_at": WHEN, "users": [_user(422)]}),
        json.dumps({"collected_at": WHEN, "users": []}),
        json.dumps({"collected_at": WHEN, "users": [_user(423), 5]}),
        json.dumps({"collected_at": WHEN, "users": [_user(424), _user(425, id=-1,
                                                                       id_str=None)]}),
        json.dumps({"collected_at": WHEN, "users": [
            _user(426), {"id": 1180000000000000427, "errors": [{"code": 63}]}]}),
        json.dumps({"collected_at": WHEN, "users": [_user(428)],
                    "user": None}),
        json.dumps({"collected_at": WHEN, "users": [_user(429)]})[:-3]
        + ', "id": 5, "id": 6}]}',
        json.dumps([_user(430), _user(431)]),  # a bare array
        json.dumps({"collected_at": WHEN, "user": _user(432), "users": 5}),
    ]
    errors: list[object] = [
        [{"code": 63, "message": "User has been suspended."}],
        [{"code": 50, "message": "User not found."}], [{"code": 17}],
        [{"code": 88, "message": "Rate limit exceeded"}], [{"code": "63"}],
        [{"code": 63.0}], [{"code": True}], [], None, [5, {"code": 50}],
        [{"code": 88}, {"code": 63}], [{"message": "m", "code": 63}],
        [{"code": 63, "message": 'with "quotes" and \\'}],
    ]
    for k, e in enumerate(errors):
        lines.append(json.dumps({"collected_at": WHEN,
                                 "id": 1180000000000000500 + k, "errors": e}))
    lines += [
        json.dumps({"collected_at": WHEN, "id_str": "1180000000000000520",
                    "errors": [{"code": 63}], "screen_name": "sim_520"}),
        json.dumps({"collected_at": WHEN, "screen_name": "sim_3",
                    "errors": [{"code": 63}]}),  # resolved by handle
        json.dumps({"collected_at": WHEN, "screen_name": "sim_nobody",
                    "errors": [{"code": 50}]}),
        f'{{"collected_at": "{WHEN}", "id": 1180000000000000521, '
        '"errors": [{"code": 88, "code": 63}]}',
        json.dumps({"collected_at": WHEN, "id": 1180000000000000522,
                    "errors": [{"code": 50}], "user": "x"}),
        json.dumps({"collected_at": WHEN, "id": 1180000000000000523,
                    "errors": [{"code": 63}], "name": "x", "followers_count": 5,
                    "created_at": "Wed Oct 10 20:19:24 +0000 2018"}),
        json.dumps({"collected_at": WHEN, "id": 1180000000000000524,
                    "errors": [{"code": 50}], "created_at": "yesterday",
                    "profile_image_url_https": "https://h.example/é.jpg"}),
        "[" * 300 + "]" * 300, "", "   ", "{}", "{", "5", '"x"', "null",
        _wrap(_user(600)).replace("Sim 600", "S" * 5000),
    ]
    return lines


@pytest.mark.parametrize("observed_at", [None, T0])
@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_bulk_reader_matches_line_by_line_reader_on_edge_cases(tmp_path, end,
                                                               observed_at):
    lines = _edge_lines()
    path = tmp_path / "edge.jsonl"
    raw = end.join(lines).encode("utf-8", errors="surrogatepass")
    path.write_bytes(b"\xef\xbb\xbf" + raw + b"\n\xff" + _wrap(_user(700)).encode())
    taken = _assert_same(path, observed_at)
    # the clean records and the harmless variants are read in bulk, the rest not
    assert 90 <= taken <= len(lines) - 60


def test_bulk_reader_matches_line_by_line_reader_across_block_ends(tmp_path,
                                                                   monkeypatch):
    lines = _edge_lines()
    path = tmp_path / "edge.jsonl"
    path.write_bytes("\n".join(lines * 3).encode("utf-8", errors="surrogatepass"))
    monkeypatch.setattr(fastjson, "BLOCK_BYTES", 4096)  # many blocks, lines cut
    assert _assert_same(path, T0) > 200


def test_default_reads_small_blocks_line_by_line_and_large_ones_in_bulk(tmp_path,
                                                                        monkeypatch):
    path = tmp_path / "clean.jsonl"
    path.write_text("\n".join(_wrap(_user(k)) for k in range(50)) + "\n")
    taken: list[int] = []
    files = _list_files([path], "twitter-v1")
    finish = fastjson._finish

    def spy(*args):  # noqa: ANN002, ANN202 - the wrapped function's arguments
        taken.append(finish(*args))
        return taken[-1]

    monkeypatch.setattr(fastjson, "_finish", spy)
    with bounded_times("twitter"):
        small = _twitter_v1.parse(files)
        assert sum(taken) == 0  # 50 lines < BULK_MIN_LINES: one by one
        monkeypatch.setattr(fastjson, "BULK_MIN_LINES", 10)
        big = _twitter_v1.parse(files)
    assert sum(taken) == 50
    assert_frame_equal(small.tables["observations"], big.tables["observations"])


def test_bulk_image_hash_equals_image_url_hash(tmp_path):
    path = tmp_path / "urls.jsonl"
    path.write_text("\n".join(_wrap(_user(k, profile_image_url_https=u))
                              for k, u in enumerate(URLS)) + "\n")
    fast = _parse(path, True)
    acc = fast.tables["accounts"].sort("account_id")
    # an empty https URL falls back to the http one, as user_record reads it
    http = _user(0)["profile_image_url"]
    want = [image_url_hash(u or http) for u in URLS]  # type: ignore[arg-type]
    got = acc["profile_image_hash"].to_list()
    assert len(got) == len(URLS)
    assert got == want
    assert got[0] == got[1]  # a_normal.jpg and a_400x400.jpg: one stored image


def _fuzz_settings(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    print_blob=False, suppress_health_check=list(HealthCheck))


def _check_mutated(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lookup.jsonl"
        path.write_bytes(content)
        _assert_same(path, T0)


#: Complete user objects, wrapped, in an array and bare: the records the bulk
#: reader's strict transform reads, for the mutations to start from.
FULL = [_wrap(_user(1)), _wrap(_user(2, status=_DELETE, location=None)),
        json.dumps({"collected_at": WHEN, "users": [_user(3), _user(4)]}),
        json.dumps({**_user(5), "__twarc": {"retrieved_at": WHEN}}),
        json.dumps({"collected_at": WHEN, "id": 1180000000000000006,
                    "errors": [{"code": 63, "message": "User has been suspended."}]})]


@_fuzz_settings(25)
@given(FORMATS["twitter-v1"].content)
def test_bulk_reader_matches_line_by_line_reader_on_mutated_fixture_records(content):
    _check_mutated(content)


@_fuzz_settings(25)
@given(jsonl_file(FULL))
def test_bulk_reader_matches_line_by_line_reader_on_mutated_full_records(content):
    _check_mutated(content)


@pytest.mark.slow
@_fuzz_settings(1000)
@given(FORMATS["twitter-v1"].content)
def test_bulk_reader_matches_line_by_line_reader_on_1000_mutated_fixture_files(
        content):
    _check_mutated(content)


@pytest.mark.slow
@_fuzz_settings(1000)
@given(jsonl_file(FULL))
def test_bulk_reader_matches_line_by_line_reader_on_1000_mutated_full_files(content):
    _check_mutated(content)


def test_file_changed_during_ingest_fails_and_writes_nothing(tmp_path, monkeypatch):
    # the re-hash runs while the tables are written: a change still fails the
    # ingest before the dataset is put in place
    from measure.errors import IngestError
    from measure.ingest import ingest

    raw = tmp_path / "raw" / "lookup.jsonl"
    raw.parent.mkdir()
    raw.write_text("\n".join(_wrap(_user(k)) for k in range(5)) + "\n")
    real = _twitter_v1.parse

    def parse_then_modify(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        parsed = real(*args, **kwargs)
        with open(raw, "a") as fh:
            fh.write(_wrap(_user(9)) + "\n")
        return parsed

    monkeypatch.setattr(_twitter_v1, "parse", parse_then_modify)
    out = tmp_path / "processed" / "v1"
    with pytest.raises(IngestError, match="changed while it was being ingested"):
        ingest(raw, "twitter-v1", out)
    assert not out.exists()
