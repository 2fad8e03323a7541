"""Shared ingest machinery: raw inputs, quarantine, duplicate collapse, accounting.

Every ingest adapter turns raw files into *records*. Each record read either becomes
one row of the adapter's record tables (``observations`` for the Twitter formats,
``tweets`` and ``observations`` for Fifth Tribe, the target table for ``table``), or is
written to the ``quarantine`` table with its file, line, column and reason, or is
*collapsed* into a later duplicate of the same key. The identity

    rows read = rows written + rows quarantined + rows collapsed

is checked for every record table before anything is written; a difference raises
:class:`measure.errors.IngestError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import gzip
import hashlib
import html
import io
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from measure._io import sha256_file
from measure.errors import IngestError

UTC = dt.UTC
TS = pl.Datetime("us", "UTC")

QUARANTINE_SCHEMA: dict[str, Any] = {
    "source_file": pl.Utf8,
    "line": pl.Int64,
    "column": pl.Utf8,
    "kind": pl.Utf8,
    "reason": pl.Utf8,
    "raw": pl.Utf8,
}

#: The ``field_notes`` table: one row per optional field value an ingest nulled (or
#: whose undecodable bytes it replaced), naming the file, line, column and reason.
FIELD_NOTES = "field_notes"
FIELD_NOTES_SCHEMA: dict[str, Any] = {
    "source_file": pl.Utf8,
    "line": pl.Int64,
    "column": pl.Utf8,
    "kind": pl.Utf8,
    "reason": pl.Utf8,
}

#: The ``column`` of a quarantined record whose whole record (not one field) failed.
WHOLE_RECORD = "(record)"

ACCOUNTS_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "platform": pl.Utf8,
    "screen_name": pl.Utf8,
    "display_name": pl.Utf8,
    "description": pl.Utf8,
    "created_at": TS,
    "lang": pl.Utf8,
    "location": pl.Utf8,
    "profile_image_hash": pl.Utf8,
    "first_seen": TS,
}

OBSERVATIONS_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "observed_at": TS,
    "status": pl.Utf8,
    "followers_count": pl.Int64,
    "friends_count": pl.Int64,
    "statuses_count": pl.Int64,
    "screen_name": pl.Utf8,
}

# Profile fields carried by a user object (absent from error records).
PROFILE_FIELDS = ("display_name", "description", "created_at", "lang", "location",
                  "profile_image_hash")


# -- raw inputs ----------------------------------------------------------------------
@dataclass(frozen=True)
class RawFile:
    """One raw input file: where it is, how it is named in reports, and its hash."""

    path: Path
    label: str
    sha256: str
    bytes: int

    def to_input(self) -> dict[str, Any]:
        """Return the manifest ``inputs`` entry of this file."""
        return {"path": self.label, "sha256": self.sha256, "bytes": self.bytes}


class EmptyInputWarning(UserWarning):
    """An empty input was ingested as zero records (``allow_empty=True``)."""


def list_raw_files(source: str | os.PathLike[str],
                   suffixes: Sequence[str], *,
                   allow_empty: bool = False) -> list[RawFile]:
    """Return the raw files of ``source`` (a file, or a directory searched recursively).

    Files are ordered by their path relative to ``source`` (this order is the "file
    order" used by the duplicate rule). Hidden files and folders are skipped.

    Raises
    ------
    IngestError
        ``source`` does not exist or (unless ``allow_empty``, which warns with
        :class:`EmptyInputWarning` instead) holds no file with one of ``suffixes``.
    """
    import warnings

    src = Path(source)
    if src.is_file():
        return [_raw(src, str(source))]
    if not src.is_dir():
        raise IngestError(f"source '{source}' does not exist; give a raw file or a "
                          "directory of raw files (normally under data/raw/)")
    files = sorted(
        p for p in src.rglob("*")
        if p.is_file() and p.name.lower().endswith(tuple(suffixes))
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
    )
    if not files:
        msg = (f"source directory '{source}' holds no file ending in "
               f"{', '.join(suffixes)}")
        if not allow_empty:
            raise IngestError(f"{msg}; check --format and the path (or pass "
                              "--allow-empty to ingest it as zero records)")
        warnings.warn(f"{msg}; ingested as zero records (--allow-empty)",
                      EmptyInputWarning, stacklevel=3)
    return [_raw(p, str(Path(source) / p.relative_to(src))) for p in files]


def is_empty(f: RawFile) -> bool:
    """Whether ``f`` holds no record: no bytes, or only white space (blank lines).

    A ``.gz`` file is judged by its decompressed text; a Parquet file is never
    empty here (a Parquet file with no rows is a valid table).
    """
    name = f.path.name.lower()
    if name.endswith(".parquet"):
        return False
    if f.bytes == 0:
        return True
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(f.path, "rb") as fh:  # type: ignore[operator]
            while chunk := fh.read(1 << 16):
                if chunk.lstrip(b"\xef\xbb\xbf").strip():
                    return False
    except (OSError, EOFError, zlib.error):
        return False  # unreadable: the reader says why
    return True


def check_not_empty(f: RawFile, *, allow_empty: bool = False) -> None:
    """Raise (or, with ``allow_empty``, warn) when ``f`` holds no record.

    Raises
    ------
    IngestError
        ``f`` is empty (no bytes, or only blank lines) and not ``allow_empty``.
    """
    import warnings

    if not is_empty(f):
        return
    what = "has no bytes" if f.bytes == 0 else "holds only blank lines"
    if not allow_empty:
        raise IngestError(
            f"file '{f.label}' is empty (it {what}): there is nothing to ingest. "
            "Check the path and that the collection wrote its output, or pass "
            "--allow-empty (allow_empty=True) to ingest it as zero records")
    warnings.warn(f"file '{f.label}' is empty (it {what}); ingested as zero "
                  "records (--allow-empty)", EmptyInputWarning, stacklevel=3)


def with_field_notes(parsed: Parsed, files: Sequence[RawFile]) -> Parsed:
    """Add the ``field_notes`` table and report notes on nulled fields and empty files.

    The table is added only when a field was nulled or repaired; it has no key,
    so an ``--into`` ingest appends its rows.
    """
    notes = list(parsed.notes)
    for f in files:
        if is_empty(f):
            notes.append(f"file '{f.label}' is empty; ingested as zero records "
                         "(--allow-empty)")
    q = parsed.quarantine
    if q.notes:
        counts = ", ".join(f"{k} {v:,}" for k, v in q.note_counts().items())
        notes.append(f"{len(q.notes):,} optional field value(s) were left empty "
                     f"(null) or repaired and their records kept: {counts} (see the "
                     f"'{FIELD_NOTES}' table)")
        parsed.tables[FIELD_NOTES] = q.notes_frame()
        parsed.keys[FIELD_NOTES] = ()
    parsed.notes = tuple(notes)
    return parsed


def _raw(path: Path, label: str) -> RawFile:
    return RawFile(path=path, label=label, sha256=sha256_file(path),
                   bytes=path.stat().st_size)


def check_unchanged(files: Sequence[RawFile]) -> None:
    """Re-hash the raw files and raise if any changed while it was being read."""
    for f in files:
        _compare(f, sha256_file(f.path))


def _compare(f: RawFile, got: str) -> None:
    if got != f.sha256:
        raise IngestError(
            f"file '{f.label}' changed while it was being ingested (expected "
            f"sha256 {f.sha256}, got {got}); raw files must not be modified; "
            "copy it to data/raw/ and ingest the copy")


def check_unchanged_later(files: Sequence[RawFile]) -> Callable[[], None]:
    """Start :func:`check_unchanged` of ``files`` in a thread.

    The files are re-read from now on while the caller goes on (hashing releases
    the GIL); the returned function waits for the hashes and raises as
    :func:`check_unchanged` does.
    """
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    job = pool.submit(lambda: [sha256_file(f.path) for f in files])
    pool.shutdown(wait=False)

    def wait() -> None:
        for f, got in zip(files, job.result(), strict=True):
            _compare(f, got)

    return wait


def check_out_outside(source: str | os.PathLike[str],
                      out: str | os.PathLike[str]) -> None:
    """Refuse an output directory inside the raw source (raw data is immutable)."""
    src = Path(source).resolve()
    dst = Path(out).resolve()
    if src.is_dir() and (dst == src or src in dst.parents):
        raise IngestError(
            f"output '{out}' lies inside the raw source '{source}'; raw folders are "
            "never modified: write the dataset under data/processed/ instead")
    if dst == src:
        raise IngestError(f"output '{out}' is the raw source file itself")


def iter_lines(f: RawFile) -> Iterator[tuple[int, str, bool]]:
    """Yield ``(line_number, text, utf8_ok)`` for each non-blank line.

    Lines are numbered from 1; gzip files (``.gz``) are read transparently and a
    UTF-8 byte order mark at the start of the file is skipped. A line that is not
    valid UTF-8 is yielded with each undecodable byte as a lone surrogate
    (``surrogateescape``) and ``utf8_ok`` false: see :func:`repair_text`.
    """
    opener = gzip.open if f.path.name.lower().endswith(".gz") else open
    try:
        with opener(f.path, "rb") as fh:  # type: ignore[operator]
            for i, raw in enumerate(fh, start=1):
                got = decode_line(i, raw)
                if got is not None:
                    yield i, got[0], got[1]
    except (OSError, EOFError, zlib.error) as e:
        raise unreadable(f, e) from e


def unreadable(f: RawFile, e: BaseException) -> IngestError:
    """Return the error of a raw file that cannot be read to its end."""
    return IngestError(f"file '{f.label}' cannot be read ({e}); check that it is a "
                       "complete, uncorrupted file")


#: The UTF-8 byte order mark, skipped at the start of a file.
BOM = b"\xef\xbb\xbf"


def decode_line(i: int, raw: bytes) -> tuple[str, bool] | None:
    """Decode line ``i`` (numbered from 1) of a file as :func:`iter_lines` does.

    Returns ``(text, utf8_ok)`` without the line end, or ``None`` for a blank
    line. A byte order mark is skipped on line 1; a line that is not valid UTF-8
    keeps each undecodable byte as a lone surrogate and has ``utf8_ok`` false.
    """
    if i == 1 and raw.startswith(BOM):
        raw = raw[3:]
    try:
        text, ok = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, ok = raw.decode("utf-8", errors="surrogateescape"), False
    if not text.strip():
        return None
    return text.rstrip("\r\n"), ok


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate (an undecodable byte) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def repair_text(obj: Any) -> tuple[Any, list[str]]:
    """Replace lone surrogates in the strings of a JSON value by U+FFFD.

    A lone surrogate comes from a byte that is not UTF-8 (read with
    ``surrogateescape``) or from an unpaired surrogate escape in JSON text;
    neither is text. Returns the repaired value and the path of every repaired
    string (``user.description``, ``data[2].name``).
    """
    paths: list[str] = []
    if isinstance(obj, str):
        fixed = clean_text(obj)
        return fixed, ([] if fixed is obj else ["(value)"])
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        node, path = stack.pop()
        slots: list[tuple[Any, str]] = []
        if isinstance(node, dict):
            for k in list(node):
                key = clean_text(k)
                sub = f"{path}.{key}" if path else key
                if key is not k:
                    node[key] = node.pop(k)
                    paths.append(sub)
                slots.append((key, sub))
        elif isinstance(node, list):
            slots = [(i, f"{path}[{i}]") for i in range(len(node))]
        for slot, sub in slots:
            v = node[slot]
            if isinstance(v, str):
                fv = clean_text(v)
                if fv is not v:
                    node[slot] = fv
                    paths.append(sub)
            elif isinstance(v, dict | list):
                stack.append((v, sub))
    return obj, sorted(set(paths))


# -- quarantine ----------------------------------------------------------------------
class Quarantine:
    """Collects records that could not be read, with file, line, column and reason.

    ``kind`` is a short code counted in the report (``bad_json``, ``missing_id``,
    ``bad_timestamp``, ``bad_type``, ...); ``reason`` is the full sentence. A record
    that fails as a whole (not JSON, a ragged row) names the column ``(record)``.

    It also collects *field notes*: optional field values that were nulled (a
    negative count, an impossible date, a wrong type) or whose undecodable bytes
    were replaced, while the record itself was kept (see :meth:`fields`).
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []

    def add(self, source_file: str, line: int | None, kind: str, reason: str,
            raw: str | None, column: str | None = None) -> None:
        """Record one unreadable record."""
        self.rows.append({"source_file": source_file, "line": line,
                          "column": column or WHOLE_RECORD,
                          "kind": kind, "reason": reason, "raw": raw})

    def note(self, source_file: str, line: int | None, column: str, kind: str,
             reason: str) -> None:
        """Record one optional field value that was nulled or repaired."""
        self.notes.append({"source_file": source_file, "line": line,
                           "column": column, "kind": kind, "reason": reason})

    @contextlib.contextmanager
    def fields(self, source_file: str, line: int | None) -> Iterator[None]:
        """Read one record's optional fields leniently (see :func:`soft`).

        Within the block, a :func:`soft` read that fails nulls the field; when the
        block ends without an exception (the record was kept), each such field is
        recorded as a note naming ``source_file``, ``line`` and the column. When
        the record fails (an exception leaves the block), the notes are dropped:
        the quarantine row says why.
        """
        sink: list[BadValue] = []
        token = _SOFT.set(sink)
        try:
            yield
        finally:
            _SOFT.reset(token)
        for e in sink:
            self.note(source_file, line, e.column, e.kind, f"{e.column}: {e}; the "
                      "field was left empty (null) and the record kept")

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Count quarantined records per ``kind`` (sorted by kind)."""
        return dict(sorted(Counter(r["kind"] for r in self.rows).items()))

    def note_counts(self) -> dict[str, int]:
        """Count field notes per ``kind`` (sorted by kind)."""
        return dict(sorted(Counter(r["kind"] for r in self.notes).items()))

    def frame(self) -> pl.DataFrame:
        """Return the quarantine table (ordered by file and line)."""
        df = pl.DataFrame(self.rows, schema=QUARANTINE_SCHEMA)
        return df.sort(["source_file", "line"], nulls_last=True, maintain_order=True)

    def notes_frame(self) -> pl.DataFrame:
        """Return the ``field_notes`` table (ordered by file and line)."""
        df = pl.DataFrame(self.notes, schema=FIELD_NOTES_SCHEMA)
        return df.sort(["source_file", "line"], nulls_last=True, maintain_order=True)

    def first(self) -> dict[str, Any] | None:
        """Return the first quarantined record, or ``None``."""
        return self.frame().row(0, named=True) if self.rows else None


def where(file: str, line: int | None, column: str | None = None) -> str:
    """Format a location as ``file 'x', line n, column 'c'``."""
    s = f"file '{file}'"
    if line is not None:
        s += f", line {line}"
    if column is not None:
        s += f", column '{column}'"
    return s


# -- values --------------------------------------------------------------------------
class BadValue(ValueError):
    """A field cannot be read; carries the column and the quarantine kind."""

    def __init__(self, column: str, kind: str, message: str) -> None:
        self.column = column
        self.kind = kind
        super().__init__(message)


_SOFT: contextvars.ContextVar[list[BadValue] | None] = contextvars.ContextVar(
    "measure_ingest_soft_fields", default=None)


def soft(read: Callable[..., Any], *args: Any) -> Any:
    """Read an *optional* field with ``read(*args)``; null it if it cannot be read.

    Inside :meth:`Quarantine.fields` a :class:`BadValue` from ``read`` is
    recorded (the caller's record is kept, the field is ``None``); outside it the
    error propagates, so that the whole record is quarantined.
    """
    try:
        return read(*args)
    except BadValue as e:
        sink = _SOFT.get()
        if sink is None:
            raise
        sink.append(e)
        return None


#: The earliest plausible time per platform: a date before it is impossible for a
#: record of that platform (a placeholder, a unit mix-up or a corrupt value).
#: Twitter opened in March 2006, Telegram in August 2013, Mastodon's first release
#: was in March 2016 and Bluesky's network opened to the public in February 2023
#: (the bound leaves a year's margin for its developers' first accounts). Other
#: sources (``table``) use 1990-01-01, before any social platform.
PLATFORM_EPOCH: dict[str, dt.datetime] = {
    "twitter": dt.datetime(2006, 1, 1, tzinfo=UTC),
    "telegram": dt.datetime(2013, 1, 1, tzinfo=UTC),
    "mastodon": dt.datetime(2016, 1, 1, tzinfo=UTC),
    "bluesky": dt.datetime(2022, 1, 1, tzinfo=UTC),
    "other": dt.datetime(1990, 1, 1, tzinfo=UTC),
}
#: How far past the time of the ingest a timestamp may lie (clock skew).
FUTURE_MARGIN = dt.timedelta(days=1)

_BOUNDS: contextvars.ContextVar[tuple[dt.datetime, dt.datetime, str] | None] = (
    contextvars.ContextVar("measure_ingest_time_bounds", default=None))


def time_bounds(platform: str) -> tuple[dt.datetime, dt.datetime]:
    """Return ``(earliest, latest)`` plausible times of ``platform``'s records.

    ``earliest`` is :data:`PLATFORM_EPOCH` (``"other"`` for an unknown
    platform); ``latest`` is now plus :data:`FUTURE_MARGIN`.
    """
    lo = PLATFORM_EPOCH.get(platform, PLATFORM_EPOCH["other"])
    return lo, dt.datetime.now(UTC) + FUTURE_MARGIN


@contextlib.contextmanager
def bounded_times(platform: str) -> Iterator[None]:
    """Within the block, timestamps outside :func:`time_bounds` are unreadable."""
    lo, hi = time_bounds(platform)
    token = _BOUNDS.set((lo, hi, platform))
    try:
        yield
    finally:
        _BOUNDS.reset(token)


def active_bounds() -> tuple[dt.datetime, dt.datetime] | None:
    """Return the ``(earliest, latest)`` of the enclosing :func:`bounded_times`."""
    b = _BOUNDS.get()
    return None if b is None else (b[0], b[1])


def check_time(t: dt.datetime, column: str) -> dt.datetime:
    """Return ``t``, or raise ``BadValue`` when it lies outside the active bounds."""
    b = _BOUNDS.get()
    if b is None:
        return t
    lo, hi, platform = b
    if t < lo:
        name = platform if platform in PLATFORM_EPOCH and platform != "other" else (
            "any social platform")
        raise BadValue(column, "bad_timestamp",
                       f"{t.isoformat()} is before {lo.date().isoformat()}, earlier "
                       f"than {name} records can be")
    if t > hi:
        raise BadValue(column, "bad_timestamp",
                       f"{t.isoformat()} lies in the future (after the ingest time "
                       "plus one day)")
    return t


def stable_id(namespace: str, key: str) -> int:
    """Return a stable positive 63-bit id from ``sha256(namespace + ':' + key)``.

    Used for synthetic ids (Fifth Tribe accounts and tweets): the same key always gives
    the same id, on any machine and in any run. The first 8 bytes of the digest are
    read big-endian and the top bit cleared, so ids fit a signed BIGINT. Collisions
    have probability about n^2 / 2^64 (negligible below billions of keys) and are
    checked by the adapters.
    """
    digest = hashlib.sha256(f"{namespace}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


_SIZE_SUFFIX = re.compile(
    r"_(normal|bigger|mini|reasonably_small|\d+x\d+)(?=(\.[A-Za-z0-9]+)?$)")


@functools.lru_cache(maxsize=1 << 16)
def image_url_hash(url: str | None) -> str | None:
    """SHA-256 of a profile image URL with the size suffix normalised.

    This hashes the *URL*, not the image's pixels: two accounts get the same hash when
    they point at the same stored image file (Twitter keeps one URL per uploaded
    image), including the shared default avatars. Normalisation: scheme ``http`` ->
    ``https``, host lower-cased, query and fragment removed, and the size suffix of
    the file name (``_normal``, ``_bigger``, ``_mini``, ``_200x200``, ``_400x400``,
    ...) removed, so ``abc_normal.jpg`` and ``abc_400x400.jpg`` hash alike.
    """
    if url is None or not isinstance(url, str) or not url.strip():
        return None
    u = url.strip().split("#", 1)[0].split("?", 1)[0]
    m = re.match(r"^(?:https?://)?([^/]+)(/.*)?$", u, flags=re.IGNORECASE)
    if m:
        host, path = m.group(1).lower(), m.group(2) or ""
        head, _, name = path.rpartition("/")
        name = _SIZE_SUFFIX.sub("", name)
        u = f"https://{host}{head}/{name}" if path else f"https://{host}"
    return hashlib.sha256(u.encode()).hexdigest()


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
     "Dec"), start=1)}
_DAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))


@functools.lru_cache(maxsize=1 << 16)
def _twitter_time(value: str) -> dt.datetime | None:
    """Fast path for ``Wed Oct 10 20:19:24 +0000 2018`` (``strptime`` is slow)."""
    p = value.split()
    if (len(p) != 6 or p[0] not in _DAYS or p[1] not in _MONTHS or len(p[4]) != 5
            or p[4][0] not in "+-" or p[3].count(":") != 2):
        return None
    try:
        hh, mm, ss = (int(x) for x in p[3].split(":"))
        off = dt.timedelta(hours=int(p[4][1:3]), minutes=int(p[4][3:5]))
        t = dt.datetime(int(p[5]), _MONTHS[p[1]], int(p[2]), hh, mm, ss,
                        tzinfo=dt.timezone(off if p[4][0] == "+" else -off))
        return t.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_twitter_time(value: Any, column: str) -> dt.datetime:
    """Parse Twitter v1.1's ``Wed Oct 10 20:19:24 +0000 2018`` into UTC."""
    if not isinstance(value, str):
        raise BadValue(column, "bad_timestamp",
                       f"expected a Twitter date string, got {short_repr(value)}")
    fast = _twitter_time(value.strip())
    if fast is not None:
        return check_time(fast, column)
    try:
        t = dt.datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %z %Y")
        t = t.astimezone(UTC)
    except (ValueError, OverflowError):
        # Some exports already hold ISO 8601 here.
        try:
            return parse_iso(value, column)
        except BadValue as e:
            if "cannot parse" not in str(e):
                raise
            raise BadValue(column, "bad_timestamp",
                           f"cannot parse {short_repr(value)} as a Twitter date like "
                           "'Wed Oct 10 20:19:24 +0000 2018' or ISO 8601") from None
    return check_time(t, column)


def short_repr(value: Any, n: int = 80) -> str:
    """``repr(value)`` cut to ``n`` characters (for reasons quoting a huge value)."""
    r = repr(value)
    return r if len(r) <= n else r[:n] + f"... ({len(r):,} characters)"


def parse_iso(value: Any, column: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp that carries its zone (``Z`` or ``+hh:mm``).

    Numbers are read as epoch seconds (or milliseconds when too large to be
    seconds). Inside :func:`bounded_times`, a time outside the platform's
    plausible range is unreadable too (``bad_timestamp``).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            secs = value / 1000 if abs(value) > 1e11 else value
            t = dt.datetime.fromtimestamp(secs, UTC)
        except (ValueError, OverflowError, OSError):
            raise BadValue(column, "bad_timestamp",
                           f"epoch time {short_repr(value)} is not a representable "
                           "time") from None
        return check_time(t, column)
    if not isinstance(value, str):
        raise BadValue(column, "bad_timestamp",
                       f"expected a timestamp, got {short_repr(value)}")
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadValue(column, "bad_timestamp",
                       f"cannot parse {short_repr(value)} as an ISO 8601 timestamp"
                       ) from None
    if t.tzinfo is None:
        raise BadValue(column, "naive_timestamp",
                       f"timestamp {short_repr(value)} has no time zone; write it with "
                       "'Z' or an offset (a naive time of unknown zone is not guessed)")
    try:
        t = t.astimezone(UTC)
    except OverflowError:
        raise BadValue(column, "bad_timestamp",
                       f"timestamp {short_repr(value)} is outside the representable "
                       "range") from None
    return check_time(t, column)


#: The largest count an ``Int64`` column holds.
MAX_COUNT = (1 << 63) - 1


def as_count(value: Any, column: str) -> int | None:
    """Read an optional non-negative integer count (``None`` stays ``None``).

    Raises ``BadValue``: ``bad_type`` for a value that is not a whole number,
    ``bad_value`` for a negative count or one too large for a 64-bit integer.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_COUNT:
        value = int(value)  # 12.0 as written by some JSON encoders
    if isinstance(value, bool) or not isinstance(value, int):
        v = value.strip() if isinstance(value, str) else None
        if v and v.isascii() and v.isdigit() and len(v) <= 19:
            value = int(v)
        else:
            raise BadValue(column, "bad_type",
                           f"expected an integer count, got {short_repr(value)}")
    if value < 0:
        raise BadValue(column, "bad_value", f"negative count {value!r}")
    if value > MAX_COUNT:
        raise BadValue(column, "bad_value",
                       f"count {short_repr(value)} is too large for a 64-bit integer")
    return value


def as_twitter_id(obj: dict[str, Any], column_str: str = "id_str",
                  column_int: str = "id") -> int:
    """Read a Twitter numeric id from ``id_str`` (preferred) or ``id``."""
    for col in (column_str, column_int):
        v = obj.get(col)
        if v is None:
            continue
        if isinstance(v, bool):
            raise BadValue(col, "bad_type", f"expected a numeric id, got {v!r}")
        if isinstance(v, int):
            ok = 0 < v < 2**63
        elif (isinstance(v, str) and v.strip().isascii() and v.strip().isdigit()
              and len(v.strip()) <= 19):
            v = int(v.strip())
            ok = 0 < v < 2**63
        else:
            ok = False
        if not ok:
            raise BadValue(col, "bad_type",
                           f"expected a positive numeric id, got {short_repr(v)}")
        return int(v)
    names = (f"'{column_int}'" if column_str == column_int
             else f"'{column_str}' or '{column_int}'")
    raise BadValue(column_int, "missing_id", f"record has no {names}")


def opt_str(obj: dict[str, Any], key: str) -> str | None:
    """Read an optional string field (wrong types raise ``BadValue``)."""
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadValue(key, "bad_type", f"expected a string, got {short_repr(v)}")
    return v


def raw_json(obj: Any) -> str:
    """Compact JSON text of ``obj`` (for the quarantine's ``raw`` column)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# -- tables --------------------------------------------------------------------------
def collapse(df: pl.DataFrame, keys: Sequence[str], order: str
             ) -> tuple[pl.DataFrame, int]:
    """Keep the last row (by ``order``) of each group of equal ``keys``.

    Returns the collapsed frame (in ``order``) and the number of rows removed.
    """
    if df.height == 0:
        return df, 0
    out = df.sort(order).unique(subset=list(keys), keep="last", maintain_order=True)
    return out, df.height - out.height


TWITTER_SCHEMA: dict[str, Any] = {
    **OBSERVATIONS_SCHEMA, **{k: ACCOUNTS_SCHEMA[k] for k in PROFILE_FIELDS},
    "_order": pl.Int64, "_profile": pl.Boolean}


class RecordBuffer:
    """Collect parsed records as dicts and turn them into polars chunks as they come.

    Keeping millions of Python dicts costs about 1 KB a record; a polars chunk costs
    a fraction of that, so records are converted every ``chunk`` records.
    """

    def __init__(self, schema: dict[str, Any], chunk: int = 20_000) -> None:
        self.schema = schema
        self.chunk = chunk
        self.rows: list[dict[str, Any]] = []
        self.frames: list[pl.DataFrame] = []

    def append(self, rec: dict[str, Any]) -> None:
        """Add one record."""
        self.rows.append(rec)
        if len(self.rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        """Convert the pending records into a polars chunk."""
        if self.rows:
            self.frames.append(pl.DataFrame(self.rows, schema=self.schema))
            self.rows = []

    def frame(self) -> pl.DataFrame:
        """Return every record as one frame."""
        self.flush()
        if not self.frames:
            return pl.DataFrame(schema=self.schema)
        return pl.concat(self.frames, rechunk=False)


def resolve_by_name(df: pl.DataFrame,
                    pending: list[tuple[dict[str, Any], str, int, str]],
                    q: Quarantine) -> pl.DataFrame:
    """Give error records looked up by handle the id of a user object with that handle.

    The handle -> id map comes from the user objects of the same ingest: for each
    handle (compared case-insensitively) the account of its latest observation (by
    ``observed_at``, then file order). An error record whose handle never appears in
    a user object is quarantined (``unresolved_handle``): its account id is unknown.
    Returns ``df`` with the resolved records added.
    """
    if not pending:
        return df
    latest = dict(
        df.filter(pl.col("_profile") & pl.col("screen_name").is_not_null())
        .sort(["observed_at", "_order"])
        .group_by(pl.col("screen_name").str.to_lowercase().alias("h"),
                  maintain_order=True)
        .agg(pl.col("account_id").last())
        .iter_rows())
    resolved = []
    for rec, label, line, raw in pending:
        aid = latest.get(str(rec["screen_name"]).lower())
        if aid is None:
            q.add(label, line, "unresolved_handle",
                  f"error record names screen_name {rec['screen_name']!r} but no id, "
                  "and no user object in this ingest has that handle", raw, "id")
            continue
        resolved.append({**rec, "account_id": aid})
    if not resolved:
        return df
    return pl.concat([df, pl.DataFrame(resolved, schema=df.schema)])


def twitter_tables(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Build ``accounts`` and ``observations`` from parsed Twitter records.

    Each row of ``df`` (schema ``TWITTER_SCHEMA``) is one observation record
    (``account_id``, ``observed_at``, ``status``, counts, ``screen_name``, profile
    fields, ``_order`` = file order, ``_profile`` = whether it came from a user
    object).

    Rules
    -----
    * Observations of the same ``account_id`` and ``observed_at`` are collapsed to the
      last one in file order (files sorted by path, then line, then position in a
      page); the number removed is returned.
    * Counts are kept only for ``active`` observations (the contract: null unless
      active).
    * ``accounts`` holds one row per account: profile fields from its latest user
      object (by ``observed_at``, then file order), ``screen_name`` the latest seen
      handle, ``first_seen`` its earliest observation.
    """
    df, n_collapsed = collapse(df, ["account_id", "observed_at"], "_order")
    df = df.sort(["account_id", "observed_at", "_order"])
    active = pl.col("status") == "active"
    obs = df.select(
        "account_id", "observed_at", "status",
        *[pl.when(active).then(pl.col(c)).alias(c)
          for c in ("followers_count", "friends_count", "statuses_count")],
        "screen_name",
    )
    base = df.group_by("account_id", maintain_order=True).agg(
        pl.col("screen_name").drop_nulls().last().alias("screen_name"),
        pl.col("observed_at").min().alias("first_seen"),
    )
    prof = (df.filter(pl.col("_profile"))
            .group_by("account_id", maintain_order=True)
            .agg([pl.col(c).last() for c in PROFILE_FIELDS]))
    acc = (base.join(prof, on="account_id", how="left")
           .with_columns(pl.lit("twitter").alias("platform"))
           .select(list(ACCOUNTS_SCHEMA))
           .cast(ACCOUNTS_SCHEMA)  # type: ignore[arg-type]
           .sort("account_id"))
    return acc, obs.cast(OBSERVATIONS_SCHEMA), n_collapsed  # type: ignore[arg-type]


# -- report --------------------------------------------------------------------------
#: How a table's rows relate to what was read: one row per record read, one row per
#: raw file, or derived from the records (accounts, mentions edges, ...).
RECORD, PER_FILE, DERIVED = "record", "file", "derived"


def table_balanced(d: dict[str, Any]) -> bool:
    """Whether one table's accounting holds.

    ``read = written + quarantined + collapsed``, and for an append to an existing
    dataset also ``after = before + written - existing_duplicates``.
    """
    ok = d["read"] == d["written"] + d["quarantined"] + d["collapsed"]
    if "before" in d:
        ok = ok and d["after"] == (d["before"] + d["written"]
                                   - d.get("existing_duplicates", 0))
    return bool(ok)


@dataclass(frozen=True)
class IngestReport:
    """What an ingest read, wrote, quarantined and collapsed.

    The accounting identity, checked for each table ``t`` before writing::

        read[t] = written[t] + quarantined[t] + collapsed[t]

    ``read`` counts records for a record table, raw files for a table with one row
    per file, and the rows the ingest derived for a derived table (which has no
    quarantine). ``collapsed`` counts rows that share the table's key with a later
    row of the same ingest or with a row already in the dataset (``--into``).
    Appending to a dataset also checks ``after = before + written``.

    Attributes
    ----------
    format, source, out
        The input format, raw source(s) and the dataset written.
    dataset_id
        ``name@sha256:<digest>`` of the written dataset.
    rows_read
        Records read from the raw files (non-blank lines or records; see
        ``docs/ingest.md`` for each format's unit).
    rows_written
        Rows added per table (record tables, derived tables and ``quarantine``).
    record_tables
        The tables that hold one row per record read.
    rows_quarantined
        Records written to the ``quarantine`` table.
    rows_collapsed
        Rows collapsed per record table and per-file table.
    reasons
        Quarantined records per reason code.
    inputs
        The raw files with their SHA-256 (as in the manifest).
    assumptions
        Assumptions the ingest made (also written to the manifest).
    notes
        Remarks that need no action (unused source columns, replaced bytes, ...).
    tables
        Per table: ``kind`` (``record``, ``file`` or ``derived``), ``read``,
        ``written``, ``quarantined``, ``collapsed`` and, when appending, ``before``
        and ``after`` (the table's rows in the previous and the new version).
    previous_id
        The dataset version an ``--into`` ingest appended to, if any.
    changed
        False when nothing was written (every input was already in the dataset).
    skipped
        Raw files left out because the dataset already holds them (same SHA-256,
        format and mapping).
    """

    format: str
    source: str
    out: str
    dataset_id: str
    digest: str
    rows_read: int
    rows_written: dict[str, int]
    record_tables: tuple[str, ...]
    rows_quarantined: int
    rows_collapsed: dict[str, int]
    reasons: dict[str, int]
    inputs: tuple[dict[str, Any], ...] = ()
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    previous_id: str | None = None
    changed: bool = True
    skipped: tuple[dict[str, Any], ...] = ()

    @property
    def balanced(self) -> bool:
        """Whether the accounting identity holds for every table."""
        return all(
            self.rows_read == self.rows_written.get(t, 0) + self.rows_quarantined
            + self.rows_collapsed.get(t, 0)
            for t in self.record_tables if t not in self.tables
        ) and all(table_balanced(d) for d in self.tables.values())

    def identity_lines(self) -> list[str]:
        """Return ``read = written + quarantined + collapsed`` per table."""
        out = []
        for t in self.record_tables:
            if t in self.tables:
                continue
            w, c = self.rows_written.get(t, 0), self.rows_collapsed.get(t, 0)
            ok = self.rows_read == w + self.rows_quarantined + c
            out.append(
                f"{t}: rows read {self.rows_read:,} = rows written {w:,} + rows "
                f"quarantined {self.rows_quarantined:,} + rows collapsed {c:,}"
                + ("" if ok else "  <-- DOES NOT BALANCE"))
        for t, d in self.tables.items():
            if d["kind"] == DERIVED and "before" not in d:
                continue  # a new derived table: all its rows are written
            head = {RECORD: f"{t}: rows read", PER_FILE: f"{t} (one row per file): "
                    "files read", DERIVED: f"{t} (derived): rows derived"}[d["kind"]]
            line = (f"{head} {d['read']:,} = rows written {d['written']:,} + rows "
                    f"quarantined {d['quarantined']:,} + rows collapsed "
                    f"{d['collapsed']:,}")
            if "before" in d:
                line += f"; table rows {d['before']:,} -> {d['after']:,}"
                if d.get("existing_duplicates"):
                    line += (f" ({d['existing_duplicates']:,} earlier duplicate row(s) "
                             "of the dataset merged)")
            out.append(line + ("" if table_balanced(d) else "  <-- DOES NOT BALANCE"))
        return out

    def summary(self) -> str:
        """Return a plain-text summary."""
        lines = [f"ingest {self.format}: {self.source} -> {self.out}"]
        if not self.changed:
            lines += ["  nothing to ingest: every input is already in the dataset "
                      "(same SHA-256, format and mapping); the dataset is unchanged",
                      f"  dataset {self.dataset_id}"]
            lines += [f"  skipped {s['path']} (in ingest {s['ingest']})"
                      for s in self.skipped]
            return "\n".join(lines)
        lines.append(f"  dataset {self.dataset_id}")
        if self.previous_id:
            lines.append(f"  appended to {self.previous_id}; lock files that pin that "
                         "id fail `measure verify` until you pin the new version "
                         "(measure pin DATASET --lock LOCKFILE)")
        lines += [f"  {s}" for s in self.identity_lines()]
        lines.append("  tables: " + ", ".join(f"{t} {n:,}"
                                              for t, n in self.rows_written.items()))
        if self.reasons:
            lines.append("  quarantined by reason: " + ", ".join(
                f"{k} {v:,}" for k, v in self.reasons.items())
                + " (see the 'quarantine' table)")
        for s in self.skipped:
            lines.append(f"  skipped {s['path']}: already in the dataset (ingest "
                         f"{s['ingest']})")
        for a in self.assumptions:
            lines.append(f"  assumption: {a}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``--json`` output as a dict."""
        return {
            "format": self.format, "source": self.source, "out": self.out,
            "dataset_id": self.dataset_id, "digest": self.digest,
            "rows_read": self.rows_read, "rows_written": dict(self.rows_written),
            "record_tables": list(self.record_tables),
            "rows_quarantined": self.rows_quarantined,
            "rows_collapsed": dict(self.rows_collapsed),
            "reasons": dict(self.reasons), "balanced": self.balanced,
            "inputs": [dict(i) for i in self.inputs],
            "assumptions": list(self.assumptions), "notes": list(self.notes),
            "tables": {t: dict(d) for t, d in self.tables.items()},
            "previous_id": self.previous_id, "changed": self.changed,
            "skipped": [dict(s) for s in self.skipped],
        }

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        return (f"IngestReport({self.format}: read {self.rows_read}, written "
                f"{self.rows_written}, quarantined {self.rows_quarantined}, collapsed "
                f"{self.rows_collapsed}, {self.dataset_id})")


@dataclass
class Parsed:
    """What an adapter hands to :func:`write_ingest` (or an ``--into`` append).

    Attributes
    ----------
    tables
        The tables the source yields, by name (contract tables and extra ones).
    record_tables
        Tables with one row per record read (after quarantine and collapse).
    rows_read
        Records read.
    collapsed
        Rows collapsed within this ingest, per record table and per-file table.
    quarantine
        The unreadable records.
    file_tables
        Tables with one row per raw file (e.g. a ``crawls`` row per follower list).
    files_read
        Raw files read (the ``read`` count of the per-file tables).
    keys
        Per table, the key that identifies a row when the table is appended to an
        existing dataset (rows with a key already present are merged, the later one
        winning); ``()`` appends every row; ``None`` marks a table that cannot be
        merged into an existing one. Tables not listed use :data:`DEFAULT_KEYS`.
    """

    tables: dict[str, pl.DataFrame]
    record_tables: tuple[str, ...]
    rows_read: int
    collapsed: dict[str, int]
    quarantine: Quarantine
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra_inputs: tuple[RawFile, ...] = ()
    file_tables: tuple[str, ...] = ()
    files_read: int = 0
    keys: dict[str, tuple[str, ...] | None] = field(default_factory=dict)

    def kind(self, table: str) -> str:
        """``record``, ``file`` or ``derived``."""
        if table in self.record_tables:
            return RECORD
        return PER_FILE if table in self.file_tables else DERIVED

    def key(self, table: str) -> tuple[str, ...] | None:
        """Return the key of ``table`` (see ``keys``)."""
        if table in self.keys:
            return self.keys[table]
        return DEFAULT_KEYS.get(table, ())

    def accounting(self) -> dict[str, dict[str, Any]]:
        """Per table ``kind, read, written, quarantined, collapsed`` of this ingest."""
        out: dict[str, dict[str, Any]] = {}
        for t, df in self.tables.items():
            kind = self.kind(t)
            c = self.collapsed.get(t, 0) if kind != DERIVED else 0
            read = {RECORD: self.rows_read, PER_FILE: self.files_read,
                    DERIVED: df.height}[kind]
            out[t] = {"kind": kind, "read": read, "written": df.height,
                      "quarantined": len(self.quarantine) if kind == RECORD else 0,
                      "collapsed": c}
        return out


#: Rows with the same key are one row: the later one wins (within an ingest: last in
#: file order; across ``--into`` ingests: the later ingest).
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",),
    "observations": ("account_id", "observed_at"),
    "tweets": ("tweet_id",),
    "seeds": ("account_id",),
    "crawls": ("account_id", "list", "collected_at"),
    "detections": ("account_id", "source", "detected_at"),
    "labels": ("account_id", "coder", "sample"),
    "edges": ("src", "dst", "relation", "observed_at"),
}


_KIND_DTYPE: dict[str, Any] = {"str": pl.Utf8, "int": pl.Int64, "float": pl.Float64,
                               "bool": pl.Boolean, "timestamp": TS}


def with_contract_columns(table: str, frame: pl.DataFrame | pl.LazyFrame
                          ) -> pl.DataFrame | pl.LazyFrame:
    """Add the contract's optional columns a table lacks, as typed nulls.

    Analyses may select any contract column of a table; a column the source does not
    have is written as all-null rather than left out. Tables outside the contract
    and required columns are left as they are.
    """
    from measure.dataset._contract import TABLES

    spec = TABLES.get(table)
    if spec is None:
        return frame
    have = (frame.collect_schema().names() if isinstance(frame, pl.LazyFrame)
            else frame.columns)
    add = [pl.lit(None, _KIND_DTYPE[c.kind]).alias(c.name) for c in spec.columns
           if c.name not in have and not c.required and c.kind in _KIND_DTYPE]
    return frame.with_columns(add) if add else frame


def check_parsed(parsed: Parsed, *, fmt: str, files: Sequence[RawFile],
                 strict: bool, rehash: bool = True) -> None:
    """Check the accounting, ``strict`` and (``rehash``) that no raw file changed.

    Raises
    ------
    IngestError
        The identity does not balance (nothing is written), ``strict`` and a record
        was quarantined, or a raw file changed during the ingest.
    """
    q = parsed.quarantine
    for t in parsed.record_tables + parsed.file_tables:
        w = parsed.tables[t].height
        c = parsed.collapsed.get(t, 0)
        read, nq, what = ((parsed.rows_read, len(q), "rows read")
                          if t in parsed.record_tables
                          else (parsed.files_read, 0, "files read"))
        if read != w + nq + c:
            raise IngestError(
                f"accounting does not balance for table '{t}': {what} "
                f"{read} != rows written {w} + rows quarantined {nq} "
                f"+ rows collapsed {c}; nothing was written. This is a bug in the "
                f"'{fmt}' adapter: please report it with the input file")
    if strict and len(q):
        r = q.first()
        assert r is not None
        raise IngestError(
            f"{where(r['source_file'], r['line'], r['column'])}: {r['reason']} "
            f"({len(q)} record(s) could not be read; without --strict they go to the "
            "'quarantine' table)")
    if rehash:
        check_unchanged(files)
        check_unchanged(parsed.extra_inputs)


def manifest_inputs(parsed: Parsed, files: Sequence[RawFile]) -> list[dict[str, Any]]:
    """Return the manifest ``inputs`` of one ingest (raw files, then the mapping)."""
    return [f.to_input() for f in files] + [
        {**f.to_input(), "role": "mapping"} for f in parsed.extra_inputs]


def ingest_entry(parsed: Parsed, *, fmt: str, sources: Sequence[str],
                 files: Sequence[RawFile], command: str | None,
                 options: dict[str, Any] | None,
                 tables: dict[str, dict[str, Any]], previous: str | None,
                 skipped: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One element of the manifest's ``ingests`` list."""
    return {
        "format": fmt, "command": command,
        "at": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": list(sources), "inputs": manifest_inputs(parsed, files),
        "options": dict(options or {}), "previous": previous,
        "rows_read": parsed.rows_read, "rows_quarantined": len(parsed.quarantine),
        "reasons": parsed.quarantine.counts(),
        "tables": {t: dict(d) for t, d in tables.items()},
        "assumptions": list(parsed.assumptions), "notes": list(parsed.notes),
        "skipped": [dict(s) for s in skipped],
    }


def write_ingest(parsed: Parsed, *, fmt: str, source: str | os.PathLike[str],
                 files: Sequence[RawFile], out: str | os.PathLike[str],
                 name: str | None, command: str | None, overwrite: bool,
                 strict: bool = False, sources: Sequence[str] | None = None,
                 options: dict[str, Any] | None = None) -> IngestReport:
    """Check the accounting, write a new dataset atomically, validate it, report.

    Raises
    ------
    IngestError
        The identity does not balance, ``strict`` and a record was quarantined, a raw
        file changed during the ingest, or the output breaks the data contract.
    """
    from measure import open as open_dataset
    from measure.dataset import DatasetWriter
    from measure.errors import DataContractError

    check_parsed(parsed, fmt=fmt, files=files, strict=strict, rehash=False)
    # The raw files are re-hashed while the tables are written; a change fails
    # the ingest before the dataset is put in place.
    unchanged = check_unchanged_later([*files, *parsed.extra_inputs])
    q = parsed.quarantine
    inputs = manifest_inputs(parsed, files)
    qdf = q.frame()
    tables = parsed.accounting()
    entry = ingest_entry(parsed, fmt=fmt, sources=sources or [str(source)],
                         files=files, command=command, options=options,
                         tables=tables, previous=None)
    extra = {"ingest": {
        "format": fmt, "rows_read": parsed.rows_read,
        "rows_quarantined": len(q), "rows_collapsed": dict(parsed.collapsed),
        "record_tables": list(parsed.record_tables),
        "assumptions": list(parsed.assumptions),
    }, "ingests": [entry]}
    with DatasetWriter(out, name=name, command=command, inputs=inputs, extra=extra,
                       overwrite=overwrite) as w:
        for t, df in parsed.tables.items():
            w.write_table(t, with_contract_columns(t, df))  # type: ignore[arg-type]
        w.write_table("quarantine", qdf)
        unchanged()
        try:
            open_dataset(w.tmp, validate="full").close()
        except DataContractError as e:
            raise IngestError(f"the ingested dataset breaks the data contract, so "
                              f"nothing was written: {e}") from e
    m = w.manifest or {}
    written = dict(w.rows)
    return IngestReport(
        format=fmt, source=str(source), out=str(out),
        dataset_id=f"{m.get('name')}@sha256:{m.get('digest')}",
        digest=str(m.get("digest")), rows_read=parsed.rows_read,
        rows_written=written, record_tables=parsed.record_tables,
        rows_quarantined=len(q), rows_collapsed=dict(parsed.collapsed),
        reasons=q.counts(), inputs=tuple(inputs),
        assumptions=parsed.assumptions, notes=parsed.notes, tables=tables,
    )


def _csv_pass(path: Path) -> tuple[list[str], list[int], list[int], dict[int, str],
                                   list[tuple[int, int]]]:
    """Header, start line, field count, ragged raw text and undecodable fields.

    Read with Python's ``csv`` module; a UTF-8 byte order mark is skipped and a
    byte that is not UTF-8 is kept as a lone surrogate, so that the fields it
    stands in are found: ``(record index, field index)`` pairs.
    """
    import csv
    import sys

    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 1 << 31)))
    header: list[str] = []
    starts: list[int] = []
    nfields: list[int] = []
    ragged: dict[int, str] = {}
    undecodable: list[tuple[int, int]] = []
    with open(path, newline="", encoding="utf-8-sig",
              errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        prev = 0
        width = 0
        for i, rec in enumerate(reader):
            if i == 0:
                header = [clean_text(c) for c in rec]
                width = len(rec)
            else:
                if rec and len(rec) != width:
                    ragged[i - 1] = clean_text(csv_text(rec))
                starts.append(prev + 1)
                nfields.append(len(rec))
                undecodable += [(i - 1, j) for j, v in enumerate(rec)
                                if _SURROGATE.search(v)]
            prev = reader.line_num
    return header, starts, nfields, ragged, undecodable


def read_csv(f: RawFile, q: Quarantine | None = None
             ) -> tuple[pl.DataFrame, list[str]]:
    """Read a CSV file as strings, with each record's line and field count.

    The values come from ``pl.read_csv`` (which handles quoted line breaks; ``wc -l``
    does not). A second pass with Python's ``csv`` module finds each record's physical
    start line (``_line``) and number of fields (``_nf``), so that short or long
    (ragged) rows can be quarantined instead of padded, and quarantined rows point at
    their line; it also gives the header (with doubled quotes read as one). Bytes
    that are not UTF-8 are replaced by U+FFFD; each field they stood in gets a
    ``bad_encoding`` note in ``q`` (the row is kept). Returns the frame and notes.

    Raises
    ------
    IngestError
        The file cannot be parsed as CSV at all.
    """
    import csv

    notes: list[str] = []
    try:
        header, starts, nfields, ragged, undecodable = _csv_pass(f.path)
    except csv.Error as e:
        raise IngestError(f"file '{f.label}' is not a readable CSV file ({e})") from e
    if not starts and not f.bytes:
        raise IngestError(f"file '{f.label}' is empty; a CSV file needs a header line")
    try:
        df: pl.DataFrame | None = pl.read_csv(
            f.path, infer_schema=False, encoding="utf8-lossy",
            truncate_ragged_lines=True)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
        df = None  # e.g. an unclosed quote: fall back to the csv module below
    if df is not None and df.width == len(header) and df.columns != header and len(
            set(header)) == len(header):
        df.columns = header  # polars keeps a quoted header's doubled quotes
    if df is None or df.height != len(starts) or df.width != len(header):
        # The two parsers disagree on record boundaries: trust the csv module.
        with open(f.path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            rows = list(csv.reader(fh))
        body = rows[1:]
        width = len(header)
        cols = header if len(set(header)) == width else [
            f"{c}_{i}" if header.count(c) > 1 else c for i, c in enumerate(header)]
        df = pl.DataFrame([(r + [None] * width)[:width] for r in body],
                          schema={c: pl.Utf8 for c in cols}, orient="row")
        df = df.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c)
                             for c in cols)  # empty field -> null, as polars does
        notes.append(f"file '{f.label}' was parsed with Python's csv module (polars "
                     "could not parse it; check for an unclosed quote)")
    if undecodable:
        notes.append(f"file '{f.label}' is not valid UTF-8; undecodable bytes were "
                     "replaced by U+FFFD (see the 'field_notes' table)")
        if q is not None:
            for rec, j in undecodable:
                col = header[j] if j < len(header) else f"(field {j + 1})"
                q.note(f.label, starts[rec], col, "bad_encoding",
                       f"{col}: not valid UTF-8 text; the undecodable bytes were "
                       "replaced by U+FFFD and the row kept")
    raw = [ragged.get(i) for i in range(len(starts))] if ragged else None
    df = df.with_columns(pl.Series("_line", starts, dtype=pl.Int64),
                         pl.Series("_nf", nfields, dtype=pl.Int64),
                         pl.Series("_raw", raw, dtype=pl.Utf8) if raw else
                         pl.lit(None, pl.Utf8).alias("_raw"))
    return df.filter(pl.col("_nf") > 0), notes


def csv_text(values: Sequence[Any]) -> str:
    """Re-serialise one CSV record (for the quarantine's ``raw`` column)."""
    import csv

    buf = io.StringIO()
    row = ["" if v is None else v for v in values]
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()


# -- JSON lines ----------------------------------------------------------------------
TIME_KEYS = ("collected_at", "observed_at", "retrieved_at")


class LineState:
    """What the lines of one JSON-lines ingest add up to.

    The quarantine, the count of records read (a one-element list, as
    :func:`iter_json` takes it) and the record buffer, each record stamped with
    its reading order (``_order``). A format subclasses it with its own tables.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.q = Quarantine()
        self.read = [0]
        self.order = 0
        self.records = RecordBuffer(schema)

    def next(self) -> int:
        """Return the next reading-order number."""
        self.order += 1
        return self.order

    def bad(self, f: RawFile, line: int, e: BadValue, raw: str, n: int = 1) -> None:
        """Count ``n`` records of ``line`` as read and quarantine them for ``e``."""
        self.read[0] += n
        for _ in range(n):
            self.q.add(f.label, line, e.kind, f"{e.column}: {e}", raw, e.column)

    def stamp(self, rec: dict[str, Any]) -> int:
        """Give ``rec`` the next order number, buffer it and return the number."""
        rec["_order"] = self.next()
        self.records.append(rec)
        return self.order

    def objects(self, files: Sequence[RawFile]
                ) -> Iterator[tuple[RawFile, int, dict[str, Any], str]]:
        """Yield ``(file, line, object, text)`` for each JSON-object line.

        A line that is JSON but not an object is counted as read and quarantined
        (``bad_shape``); unreadable lines are handled by :func:`iter_json`.
        """
        for f, line, obj, text in iter_json(files, self.q, self.read):
            if isinstance(obj, dict):
                yield f, line, obj, text
            else:
                self.bad(f, line, BadValue(
                    "(line)", "bad_shape",
                    f"expected a JSON object, got {text[:40]!r}"), text)


def page_records(st: LineState, f: RawFile, line: int, text: str,
                 items: Sequence[tuple[Any, bool]], t: dt.datetime | None,
                 make: Callable[[dict[str, Any], bool, dt.datetime],
                                dict[str, Any]],
                 pending: list[tuple[dict[str, Any], str, int, str]], *,
                 refuse: Callable[[dict[str, Any], bool],
                                  tuple[str, str, str] | None] | None = None,
                 ) -> list[tuple[dict[str, Any], bool]]:
    """Read the items of one Twitter API v2 page (users and errors) into records.

    Each item counts as one record read and takes the next reading-order number.
    An item that is not an object, or that ``t`` (the page's time) is missing
    for, or that ``make(item, is_error, t)`` refuses with :class:`BadValue`, is
    quarantined with the page's line, as is an item for which
    ``refuse(item, is_error)`` returns ``(kind, reason, column)``. A record
    without ``account_id`` (an error about a user name) goes to ``pending`` with
    its file, line and raw text, to be resolved by :func:`resolve_by_name`; the
    others are buffered in ``st.records``.

    Returns
    -------
    list
        ``(record, is_error)`` for each buffered record, in reading order.
    """
    taken: list[tuple[dict[str, Any], bool]] = []
    one = len(items) == 1
    for item, is_error in items:
        st.read[0] += 1
        order = st.next()
        if not isinstance(item, dict):
            raw = text if one else raw_json(item)
            st.q.add(f.label, line, "bad_shape",
                     f"expected an object, got {raw[:40]!r}", raw)
            continue
        why = None if refuse is None else refuse(item, is_error)
        if why is not None:
            st.q.add(f.label, line, why[0], why[1], text if one else raw_json(item),
                     why[2])
            continue
        if t is None:
            st.q.add(f.label, line, "no_observed_at", no_time_reason(),
                     text if one else raw_json(item))
            continue
        try:
            with st.q.fields(f.label, line):
                rec = make(item, is_error, t)
        except BadValue as e:
            st.q.add(f.label, line, e.kind, f"{e.column}: {e}",
                     text if one else raw_json(item), e.column)
            continue
        rec["_order"] = order
        if rec["account_id"] is None:
            pending.append((rec, f.label, line, text if one else raw_json(item)))
            continue
        st.records.append(rec)
        taken.append((rec, is_error))
    return taken


def iter_json(files: Sequence[RawFile], q: Quarantine, counter: list[int]
              ) -> Iterator[tuple[RawFile, int, Any, str]]:
    """Yield ``(file, line, object, text)`` for each JSON line of ``files``.

    Lines that are not valid JSON (or nest deeper than Python's parser goes) are
    quarantined (``bad_json``) and counted as one record read in ``counter[0]``.
    Bytes that are not UTF-8, and unpaired surrogate escapes in JSON text, are
    replaced by U+FFFD in the strings they stand in; each string so repaired
    gets a ``bad_encoding`` note naming its path (the record is kept).
    """
    from measure._cli_util import progress

    for f in files:
        doc = _whole_document(f, q)
        if doc is not None:
            yield f, 1, doc[0], doc[1]
            continue
        for line, text, ok in progress(iter_lines(f), desc=f.path.name, unit="lines"):
            got = json_line(f, line, text, ok, q, counter)
            if got is not None:
                yield f, line, got[0], got[1]


def json_line(f: RawFile, line: int, text: str, ok: bool, q: Quarantine,
              counter: list[int]) -> tuple[Any, str] | None:
    """Parse one decoded line as :func:`iter_json` does: ``(object, text)`` or ``None``.

    ``None`` means the line was quarantined (``bad_json``) and counted as one
    record read in ``counter[0]``. Undecodable bytes and unpaired surrogate
    escapes are replaced by U+FFFD, with a ``bad_encoding`` note per string.
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        counter[0] += 1
        q.add(f.label, line, "bad_json",
              f"not valid JSON ({e.msg} at character {e.pos + 1})", clean_text(text))
        return None
    except (RecursionError, ValueError) as e:
        counter[0] += 1
        why = ("it nests deeper than the JSON reader allows"
               if isinstance(e, RecursionError) else str(e))
        q.add(f.label, line, "bad_json", f"not readable JSON ({why})",
              clean_text(text))
        return None
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(obj):
        counter[0] += 1
        q.add(f.label, line, "bad_json", f"not readable JSON (it nests deeper "
              f"than {MAX_DEPTH} levels)", clean_text(text))
        return None
    if not ok or "\\ud" in text or "\\uD" in text:
        obj, paths = repair_text(obj)
        text = clean_text(text)
        for p in paths:
            q.note(f.label, line, p, "bad_encoding",
                   f"{p}: not valid UTF-8 text; the undecodable bytes were "
                   "replaced by U+FFFD and the record kept")
    return obj, text


#: The deepest nesting of a JSON record the readers accept (API responses nest a
#: handful of levels; a deeper value would overflow the stack of whoever prints it).
MAX_DEPTH = 200


def _too_deep(obj: Any) -> bool:
    """Whether a JSON value nests deeper than :data:`MAX_DEPTH` (iteratively)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if d > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values()
                         if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, dict | list))
    return False


def _whole_document(f: RawFile, q: Quarantine | None = None) -> tuple[Any, str] | None:
    """Read a ``.json`` file holding one multi-line JSON document, else ``None``.

    A saved, pretty-printed API response is read as one record line (line 1).
    """
    name = f.path.name.lower()
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        return None
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(f.path, "rb") as fh:  # type: ignore[operator]
            text = fh.read().decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        return None  # the line reader reports the problem line by line
    if sum(1 for ln in text.splitlines() if ln.strip()) < 2:
        return None
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        return None
    if _too_deep(obj):
        return None  # the line reader quarantines it
    if "\\ud" in text or "\\uD" in text:
        obj, paths = repair_text(obj)
        for p in paths:
            if q is not None:
                q.note(f.label, 1, p, "bad_encoding",
                       f"{p}: not valid UTF-8 text; the unpaired surrogate was "
                       "replaced by U+FFFD and the record kept")
    return obj, text


def wrapper_time(obj: dict[str, Any], default: dt.datetime | None
                 ) -> tuple[dt.datetime | None, str | None]:
    """Return the collection time of a wrapped line and the key it came from.

    Looks at ``collected_at``, ``observed_at``, ``retrieved_at`` and
    ``__twarc.retrieved_at``; falls back to ``default``. Raises ``BadValue`` when the
    key is present but unreadable.
    """
    for k in TIME_KEYS:
        if obj.get(k) is not None:
            return parse_iso(obj[k], k), k
    tw = obj.get("__twarc")
    if isinstance(tw, dict) and tw.get("retrieved_at") is not None:
        return parse_iso(tw["retrieved_at"], "__twarc.retrieved_at"), "__twarc"
    return default, None


def no_time_reason() -> str:
    """Quarantine reason for a record without a collection time."""
    return ("record has no collection time: wrap the line as {\"collected_at\": "
            "\"2024-05-01T12:00:00Z\", ...} or pass observed_at= (--observed-at)")
