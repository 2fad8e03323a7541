"""Adversarial inputs for the ingest readers, built by mutating valid fixture records.

Every format's fixture records (``tests/ingest/fixtures/``) are the starting point:
a Hypothesis strategy picks some of them and mutates each at the value level (a
field set to a wrong type, a huge or negative number, NaN, an impossible or oddly
zoned time, an id as a number or a string, a deeply nested value, a long string,
a deleted key, a duplicated key) or at the byte level (a truncated line, bytes
that are not UTF-8, a Latin-1 re-encoding, a byte order mark, CRLF line ends).
Because most mutations change one field of an otherwise valid record, most
examples reach the readers' deep code rather than failing at the JSON parser.

:func:`check_invariants` states what every reader must do with any input:
raise nothing but :class:`measure.errors.IngestError`, balance ``rows read =
written + quarantined + collapsed`` for every record table, name the file, line,
column and reason of every quarantined record and field note, and hand over
tables that keep the data contract's required columns filled and its times in
range.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st

from measure.dataset._contract import TABLES
from measure.dataset._contract import TS as TS_KIND
from measure.errors import IngestError
from measure.ingest import _list_files, _parse
from measure.ingest._common import FIELD_NOTES, Parsed

from ._helpers import FIXTURES

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)

# -- adversarial values --------------------------------------------------------------
DEEP = 3000  # deeper than Python's JSON parser recurses
LONG = "x" * 200_000
WEIRD_VALUES: list[Any] = [
    None, True, False, 0, -7, -1, 1.5, -0.0, 12.0, 2**63, 2**64 + 1, -(2**63) - 1,
    10**30, 10**400, float("nan"), float("inf"), float("-inf"), "", " ", "-7", "7",
    "0x10", "1e3", "NaN", "null", "١٢", "²", "9" * 30, "\x00", "a\x00b",
    "'; DROP TABLE accounts; --", '") OR 1=1 --', "\\", "\"'`", "\u202e\u200b",
    "\ud800", "\udfff", "é" * 3, "😀", LONG, [], {}, [[[]]], {"a": {"b": {}}},
    [None], [1, "2"], {"_": "unknown"},
]
WEIRD_TIMES: list[Any] = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z", "2005-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00", "2999-01-01T00:00:00+00:00",
    "2024-02-30T00:00:00Z", "2024-05-01T12:00:00", "2024-05-01T12:00:00+14:00",
    "2024-05-01T12:00:00-12:00", "2024-05-01T12:00:00+23:59",
    "2024-05-01 12:00:00.123456789Z", "2024-W18-3T12:00:00Z", "2024-05-01",
    "Wed Oct 10 20:19:24 +0000 2018", "Wed Oct 10 20:19:24 +9999 2018",
    "Fri Dec 31 23:59:59 -2359 9999", "Mon Jan 01 00:00:00 +1400 0001",
    "1/6/2015 21:07", "13/45/2015 99:99", 1e20, -1e20, 253402300800, -62135596801,
    1714564800000, 1714564800, 0, -1, float("nan"), float("inf"),
]
ID_VALUES: list[Any] = [
    "1180000000000000001", 1180000000000000001, "0", 0, -5, "-5", "1.5", 1.5,
    "9223372036854775808", 2**63, "", "abc", "did:plc:", "did:plc:sim\x00",
    "@", "@user@", "user@@host", "-1001000000100", -1001000000100,
]
MUTANT_BYTES = [b"\xff", b"\xfe\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80abc",
                b"\xe2\x82", b"\x00"]
BOM = b"\xef\xbb\xbf"


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every (container path, key) position of a JSON value."""
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    node = obj
    for k in path[:-1]:
        node = node[k]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    elif delete and isinstance(node, list) and path[-1] < len(node):
        node.pop(path[-1])
    else:
        node[path[-1]] = copy.deepcopy(value)  # never share the pool's objects


@st.composite
def json_line(draw: st.DrawFn, base: list[str]) -> bytes:
    """One mutated JSON line (bytes, without the line end)."""
    text = draw(st.sampled_from(base))
    obj = json.loads(text)
    n = draw(st.integers(0, 3))
    dup: tuple[str, Any] | None = None
    for _ in range(n):
        paths = _paths(obj)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["value", "time", "id", "delete", "dup", "deep"]))
        if op == "delete":
            _set(obj, path, None, delete=True)
        elif op == "dup" and isinstance(path[-1], str) and len(path) == 1:
            dup = (path[-1], draw(st.sampled_from(WEIRD_VALUES[:20])))
        elif op == "deep":
            _set(obj, path, json.loads(_deep(draw(st.integers(50, 400)))))
        else:
            pool = {"value": WEIRD_VALUES, "time": WEIRD_TIMES, "id": ID_VALUES,
                    "dup": WEIRD_VALUES}[op]
            _set(obj, path, draw(st.sampled_from(pool)))
    if not isinstance(obj, dict | list):
        obj = {"value": obj}
    line = json.dumps(obj, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if dup is not None and line.endswith("}"):
        line = line[:-1] + f", {json.dumps(dup[0])}: {json.dumps(dup[1])}}}"
    if draw(st.integers(0, 19)) == 0:
        line = _deep(DEEP)  # too deep for the parser
    raw = line.encode("utf-8", errors="surrogatepass")
    return draw(byte_mutation(raw))


@st.composite
def byte_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    """Perhaps truncate ``raw``, splice in undecodable bytes or re-encode it."""
    op = draw(st.sampled_from(["none"] * 6 + ["truncate", "bytes", "latin1",
                                              "nul"]))
    if op == "truncate" and raw:
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if op == "bytes" and raw:
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from(MUTANT_BYTES)) + raw[at:]
    if op == "latin1":
        text = raw.decode("utf-8", errors="replace").replace("\ufffd", "?")
        return (text + " café").encode("latin-1", errors="replace")
    if op == "nul" and raw:
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + b"\x00" + raw[at:]
    return raw


@st.composite
def jsonl_file(draw: st.DrawFn, base: list[str]) -> bytes:
    """A JSON-lines file of mutated records, blank lines, CRLF ends and a BOM."""
    lines = draw(st.lists(json_line(base), min_size=1, max_size=8))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), b"   ")
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = end.join(lines) + (end if draw(st.booleans()) else b"")
    return (BOM if draw(st.integers(0, 4)) == 0 else b"") + body


def _csv_bytes(rows: list[list[str]], end: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=end).writerows(rows)
    return buf.getvalue().encode("utf-8", errors="surrogatepass")


CSV_CELLS: list[str] = [
    "", " ", "-7", "-1", "0", "12.0", "1e3", "NaN", "inf", "9" * 30,
    "9223372036854775808", "-9223372036854775809", "1/6/2015 21:07",
    "13/45/2015 99:99", "1/1/1900 00:00", "12/31/9999 23:59", "1/1/2005 00:00",
    "2024-03-30 23:30", "2024-03-31 02:30", "2024-10-27 02:30", "1999-01-01 00:00",
    "2999-01-01 00:00", "0001-01-01 00:00", "ok", "gone", "404", "maybe",
    "'; DROP TABLE accounts; --", '") OR 1=1 --', "a\nb", 'quote " inside',
    "\\", "\x00", "é", "\ud800", LONG, "@sim_writer", "1380000000000000001",
]


@st.composite
def csv_file(draw: st.DrawFn, path: Path) -> bytes:
    """A CSV file: the fixture's header and mutated rows (ragged, bad cells, bytes)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out = [list(header)]
    for _ in range(draw(st.integers(1, 8))):
        row = list(draw(st.sampled_from(body)))
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["cell", "cell", "cell", "short", "long"]))
            if op == "cell":
                row[draw(st.integers(0, len(row) - 1))] = draw(
                    st.sampled_from(CSV_CELLS))
            elif op == "short" and len(row) > 1:
                row = row[:-1]
            elif op == "long":
                row = [*row, "extra"]
        out.append(row)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    raw = _csv_bytes(out, end)
    if draw(st.integers(0, 4)) == 0:
        raw = BOM + raw
    mutated = draw(byte_mutation(raw))
    # keep the header line whole: a broken header is a clear file-level error,
    # tested on its own
    head = _csv_bytes([header], end)
    if not mutated.startswith(head.lstrip(BOM)) and not mutated.startswith(head):
        mutated = raw
    return mutated


# -- formats -------------------------------------------------------------------------
def _lines(*paths: Path) -> list[str]:
    """The fixture lines that are JSON (the mutations start from valid records)."""
    out = []
    for p in paths:
        for ln in p.read_bytes().splitlines():
            try:
                json.loads(ln.decode("utf-8"))
            except ValueError:
                continue
            out.append(ln.decode("utf-8"))
    return out


@dataclass(frozen=True)
class Format:
    """How to fuzz one format: the file name, its content strategy and options."""

    name: str
    filename: str
    content: st.SearchStrategy[bytes]
    level: int | None = None
    observed_at: dt.datetime | None = None
    mapping: Path | None = None


TW = FIXTURES / "twarc2_follows"
FORMATS: dict[str, Format] = {
    "twitter-v1": Format("twitter-v1", "lookup.jsonl", jsonl_file(
        _lines(FIXTURES / "twitter_v1_lookup.jsonl")), observed_at=T0),
    "twitter-v2": Format("twitter-v2", "users.jsonl", jsonl_file(
        _lines(FIXTURES / "twitter_v2_users.jsonl")), observed_at=T0),
    "twarc2-follows": Format("twarc2-follows", "followers_1001.jsonl", jsonl_file(
        _lines(*sorted((TW / "level0").glob("*.jsonl")),
               TW / "errors" / "pages.jsonl")), level=0),
    "bluesky": Format("bluesky", "bluesky.jsonl", jsonl_file(
        _lines(FIXTURES / "bluesky" / "appview.jsonl",
               FIXTURES / "bluesky" / "jetstream.jsonl")), level=0),
    "mastodon": Format("mastodon", "mastodon.jsonl", jsonl_file(
        _lines(FIXTURES / "mastodon" / "lookups.jsonl")), level=0),
    "telegram": Format("telegram", "telegram.jsonl", jsonl_file(
        _lines(FIXTURES / "telegram" / "collection.jsonl"))),
    "fifthtribe": Format("fifthtribe", "tweets.csv", csv_file(
        FIXTURES / "fifthtribe_sample.csv")),
    "table": Format("table", "checks.csv", csv_file(FIXTURES / "table_checks.csv"),
                    mapping=FIXTURES / "table_checks.toml"),
}


# -- invariants ----------------------------------------------------------------------
@dataclass
class Tally:
    """What the examples of one format added up to."""

    examples: int = 0
    files_refused: int = 0  # a clear IngestError naming the file
    read: int = 0
    written: int = 0
    quarantined: int = 0
    collapsed: int = 0
    unaccounted: int = 0
    notes: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def line(self, fmt: str) -> str:
        """One summary line."""
        return (f"{fmt}: {self.examples} examples, 0 crashes, {self.files_refused} "
                f"refused with IngestError; records read {self.read} = written "
                f"{self.written} + quarantined {self.quarantined} + collapsed "
                f"{self.collapsed} (unaccounted {self.unaccounted}); field notes "
                f"{self.notes}")


TALLIES: dict[str, Tally] = {}


def run_example(fmt: Format, content: bytes) -> None:
    """Write ``content`` as a raw file, read it with the format's reader, check it."""
    tally = TALLIES.setdefault(fmt.name, Tally())
    tally.examples += 1
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw" / fmt.filename
        raw.parent.mkdir()
        raw.write_bytes(content)
        try:
            files = _list_files([raw], fmt.name, allow_empty=True)
            parsed = _parse(files, fmt.name, fmt.mapping, fmt.observed_at, fmt.level)
        except IngestError as e:
            # The documented clear error: it names the file it is about.
            assert str(raw) in str(e) or "mapping" in str(e), str(e)
            tally.files_refused += 1
            return
        check_invariants(parsed, str(raw), tally)


def check_invariants(parsed: Parsed, label: str, tally: Tally) -> None:
    """Assert the accounting, the quarantine's and notes' locations and the contract."""
    q = parsed.quarantine
    for t in parsed.record_tables:
        w, c = parsed.tables[t].height, parsed.collapsed.get(t, 0)
        gap = parsed.rows_read - (w + len(q) + c)
        tally.unaccounted += abs(gap)
        assert gap == 0, (f"{t}: read {parsed.rows_read} != written {w} + "
                          f"quarantined {len(q)} + collapsed {c}")
    for t in parsed.file_tables:
        assert parsed.files_read == (parsed.tables[t].height
                                     + parsed.collapsed.get(t, 0))
    main = parsed.record_tables[0] if parsed.record_tables else None
    tally.read += parsed.rows_read
    tally.quarantined += len(q)
    if main is not None:
        tally.written += parsed.tables[main].height
        tally.collapsed += parsed.collapsed.get(main, 0)
    for r in q.rows:
        assert r["source_file"] == label
        assert isinstance(r["line"], int) and r["line"] >= 1, r
        assert isinstance(r["column"], str) and r["column"], r
        assert isinstance(r["kind"], str) and r["kind"], r
        assert isinstance(r["reason"], str) and r["reason"], r
        tally.reasons[r["kind"]] += 1
    for r in q.notes:
        assert r["source_file"] == label
        assert isinstance(r["line"], int) and r["line"] >= 1, r
        assert r["column"] and r["kind"] and r["reason"], r
    tally.notes += len(q.notes)
    # Everything handed to the writer must be storable and keep the contract.
    q.frame().write_parquet(io.BytesIO())
    for t, df in parsed.tables.items():
        df.write_parquet(io.BytesIO())
        _check_contract(t, df)
    if q.notes:
        assert FIELD_NOTES in parsed.tables


def _check_contract(table: str, df: pl.DataFrame) -> None:
    spec = TABLES.get(table)
    if spec is None:
        return
    lo = dt.datetime(1970, 1, 1, tzinfo=UTC)
    hi = dt.datetime.now(UTC) + dt.timedelta(days=2)
    for c in spec.columns:
        if c.name not in df.columns:
            assert not c.required, f"{table}.{c.name} is missing"
            continue
        s = df[c.name]
        if c.not_null:
            assert s.null_count() == 0, f"{table}.{c.name} has nulls"
        if c.allowed is not None:
            bad = set(s.drop_nulls().to_list()) - set(c.allowed)
            assert not bad, f"{table}.{c.name} holds {bad}"
        if c.kind == TS_KIND and s.drop_nulls().len():
            assert s.min() >= lo and s.max() <= hi, (  # type: ignore[operator]
                f"{table}.{c.name} out of range: {s.min()} .. {s.max()}")
        if c.name.endswith("_count") and s.drop_nulls().len():
            assert s.min() >= 0, f"{table}.{c.name} negative"  # type: ignore[operator]
        if s.dtype == pl.Float64 and s.drop_nulls().len():
            assert all(math.isfinite(v) for v in s.drop_nulls().to_list())


# -- mappings ------------------------------------------------------------------------
MAPPING_FILES = (FIXTURES / "table_checks.toml",
                 Path(__file__).parents[2] / "docs" / "examples" / "ingest"
                 / "follows.toml")
TOML_VALUES: list[Any] = [
    "", "x", "../outside.csv", "/etc/passwd", "'; DROP TABLE accounts; --",
    "{owner}", "{", "%Y%m%d", "Nowhere/Zone", "UTC", 0, -1, 2**63 - 1, 1.5,
    float("nan"), True, False, [], ["a", 1], {}, {"a": {"b": 1}},
    dt.datetime(2024, 1, 1, tzinfo=UTC), dt.date(2024, 1, 1),
]


@st.composite
def mapping_data(draw: st.DrawFn) -> dict[str, Any]:
    """A parsed TOML mapping with some of its values replaced by odd ones."""
    import tomllib

    path = draw(st.sampled_from(MAPPING_FILES))
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if all(isinstance(k, str) for k in p)]
        target = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            _set(data, target, None, delete=True)
        else:
            _set(data, target, draw(st.sampled_from(TOML_VALUES)))
    return data
