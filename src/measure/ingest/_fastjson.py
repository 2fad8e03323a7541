"""Reading JSON lines in blocks, the common records parsed in bulk by DuckDB.

A reader that keeps to :func:`measure.ingest._common.iter_json` line by line spends
most of its time in Python's JSON parser. :func:`scan` reads a file in blocks of
whole lines instead and hands each block to a *bulk reader* (a DuckDB query over
the block's lines, see :func:`measure.ingest._twitter_v1.bulk_reader`). The bulk
reader takes only lines it can read exactly as the line-by-line reader would:
well-formed records, each giving its row, with nothing quarantined and no field
nulled. Every other line (a blank line, bytes that are not UTF-8, JSON that
DuckDB's parser reads more leniently than Python's, a record with a problem) goes
through the line-by-line reader, in file order, with the same line number and
reading-order number it would have had. Both ways give the same rows, the same
quarantine and the same field notes.

DuckDB's JSON parser accepts a few things Python's refuses (a trailing comma
before ``]`` or ``}``; ``nan``, ``inf`` and ``infinity`` in any case) and keeps the
*first* of duplicated keys where Python keeps the last. :data:`LENIENT` finds
the first two in a line's text (also inside strings, which only sends such a line
the slow way); for the third, a bulk reader reads values with DuckDB's strict
transform (which fails on a duplicated key) or compares an object's keys with
their distinct set. DuckDB's ``MAP`` type is no check: it keeps duplicated keys.
"""

from __future__ import annotations

import gzip
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from measure.ingest._common import (
    MAX_DEPTH,
    LineState,
    RawFile,
    _whole_document,
    decode_line,
    json_line,
    unreadable,
)

#: Bytes read at a time (the block then ends at its last line end).
BLOCK_BYTES = 1 << 25
#: Fewest candidate lines in a block for the bulk reader to be used on it when
#: :func:`scan` chooses (``force=None``): below it, starting a query costs more
#: than reading the lines one by one.
BULK_MIN_LINES = 2000

#: Regular expressions (RE2, DuckDB's ``regexp_matches``) for text that DuckDB's
#: JSON parser reads but Python's refuses: a trailing comma, and NaN or infinity
#: spelled in another case than ``NaN``/``Infinity``. Each starts with a literal
#: character, which RE2 scans for quickly; exact ``NaN``/``Infinity`` match too.
LENIENT = (
    r",[ \t\r\n]*(?:[\]}]|-?(?:[Ii][Nn][Ff]|[Nn][Aa][Nn]))",
    r":[ \t\r\n]*-?(?:[Ii][Nn][Ff]|[Nn][Aa][Nn])",
    r"\[[ \t\r\n]*-?(?:[Ii][Nn][Ff]|[Nn][Aa][Nn])",
)


def strict_sql(column: str) -> str:
    """Return the SQL condition that ``column`` holds no :data:`LENIENT` pattern."""
    return " AND ".join(f"NOT regexp_matches({column}, '{p}')" for p in LENIENT)


@dataclass
class Block:
    """Whole lines of a raw file: the bytes, each line's span and its number."""

    data: memoryview
    starts: np.ndarray
    ends: np.ndarray
    first: int

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, k: int) -> bytes:
        r"""Return line ``k`` of the block (counted from 0), without its ``\n``."""
        return bytes(self.data[self.starts[k]:self.ends[k]])


def blocks(f: RawFile, size: int = BLOCK_BYTES, ring: int = 0) -> Iterator[Block]:
    r"""Yield the lines of ``f`` (gzip read transparently) in blocks of whole lines.

    Lines end at ``\n`` as when iterating a binary file; the last line may lack
    one. Lines are numbered from 1. With ``ring`` > 0 the blocks' bytes live in
    ``ring`` buffers used in turn (fewer page faults than a new buffer per block):
    a block's bytes are overwritten when block ``ring`` places later is read, so
    the caller must be done with it by then.

    Raises
    ------
    IngestError
        The file cannot be read to its end (as :func:`iter_lines` raises).
    """
    opener = gzip.open if f.path.name.lower().endswith(".gz") else open
    first = 1
    carry = b""
    pool: list[bytearray] = []
    turn = 0
    newline = np.zeros(0, bool)
    try:
        with opener(f.path, "rb") as fh:  # type: ignore[operator]
            while True:
                need = len(carry) + size
                if not ring:
                    buf = bytearray(need)
                else:
                    if len(pool) < ring:
                        pool.append(bytearray(need))
                    if len(pool[turn]) < need:
                        pool[turn] = bytearray(need)
                    buf = pool[turn]
                    turn = (turn + 1) % ring
                view = memoryview(buf)
                view[:len(carry)] = carry
                got = fh.readinto(view[len(carry):need])
                if not got:
                    break
                end = len(carry) + got
                cut = buf.rfind(b"\n", 0, end)
                if cut < 0:
                    carry = bytes(view[:end])
                    continue
                carry = bytes(view[cut + 1:end])
                body = view[:cut + 1]
                data = np.frombuffer(body, dtype=np.uint8)
                if len(newline) < len(data):
                    newline = np.empty(len(data), bool)
                np.equal(data, 10, out=newline[:len(data)])
                ends = np.flatnonzero(newline[:len(data)])
                starts = np.empty_like(ends)
                starts[0] = 0
                starts[1:] = ends[:-1] + 1
                yield Block(body, starts, ends, first)
                first += len(ends)
    except (OSError, EOFError, zlib.error) as e:
        raise unreadable(f, e) from e
    if carry:
        yield Block(memoryview(carry), np.zeros(1, np.int64),
                    np.array([len(carry)], np.int64), first)


def candidates(b: Block) -> np.ndarray:
    r"""Return the lines that may be an object: ``{`` first, ``}`` last (or ``}\r``)."""
    buf = np.frombuffer(b.data, dtype=np.uint8)
    n = len(b)
    ok = b.ends - b.starts >= 2
    first = np.zeros(n, np.uint8)
    last = np.zeros(n, np.uint8)
    before = np.zeros(n, np.uint8)
    first[ok] = buf[b.starts[ok]]
    last[ok] = buf[b.ends[ok] - 1]
    long = b.ends - b.starts >= 3
    before[long] = buf[b.ends[long] - 2]
    closed = (last == ord("}")) | ((last == ord("\r")) & (before == ord("}")))
    return ok & (first == ord("{")) & closed


def line_table(b: Block, cand: np.ndarray) -> Any:
    """Return the lines as a pyarrow table ``(i, use, t)`` for a bulk reader.

    ``i`` is the line's index in the block; ``t`` its text with the line end (JSON
    allows white space after a value); ``use`` whether the bulk reader may read
    it: a candidate (``cand``) nesting brackets at most :data:`MAX_DEPTH` times
    (the line-by-line reader checks deeper ones). Lines that are not UTF-8 are
    left out.
    """
    import pyarrow as pa

    n = len(b)
    offsets = np.append(b.starts, len(b.data)).astype(np.int64)
    whole = pa.Array.from_buffers(pa.large_binary(), n,
                                  [None, pa.py_buffer(offsets), pa.py_buffer(b.data)])
    try:
        text = whole.cast(pa.large_string())
    except pa.ArrowInvalid:  # a line that is not UTF-8: leave it out
        cand = cand.copy()
        for k in np.flatnonzero(cand).tolist():
            cand[k] = _utf8(b.data[b.starts[k]:b.ends[k]])
        keep = np.flatnonzero(cand)
        text = whole.take(pa.array(keep)).cast(pa.large_string())
        idx = keep
    else:
        idx = np.arange(n, dtype=np.int64)
        keep = idx
    depth = pl.from_arrow(text).str.count_matches(r"[\[{]").to_numpy()
    use = cand[keep] & (depth <= MAX_DEPTH)
    table = pa.table({"i": pa.array(idx, pa.int64()), "use": pa.array(use),
                      "t": text})
    return pa.Table.from_batches(table.to_batches(max_chunksize=2048),
                                 schema=table.schema)


def _utf8(raw: bytes | memoryview) -> bool:
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: A bulk reader: ``(file, block, table of lines)`` -> the records of the lines
#: it read, each with its line's index in the block ``i`` and its position in
#: the line ``pos`` (from 1), and the record's columns (without ``_order``).
BulkReader = Callable[[RawFile, Block, Any], pl.DataFrame]
#: What the line-by-line reader does with one parsed line.
LineHandler = Callable[[RawFile, int, Any, str], None]


def scan(files: Sequence[RawFile], st: LineState, handle: LineHandler,
         bulk: BulkReader | None, *, force: bool | None = None) -> int:
    """Read JSON-lines ``files`` into ``st``: in bulk where ``bulk`` can, else by line.

    Lines are read in file order. ``handle(file, line, object, text)`` reads each
    line the bulk reader leaves, stamping its records with ``st.next()``; records
    read in bulk get the reading-order numbers they would have had and are added
    to ``st.records`` as a frame. Without ``bulk`` (or with ``force=False``, or
    for a ``.json`` file holding one document) every line is read by ``handle``.
    ``force=True`` hands every block to ``bulk``; by default only blocks with at
    least :data:`BULK_MIN_LINES` candidate lines.

    Returns
    -------
    int
        The number of lines read in bulk.
    """
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from measure._cli_util import progress

    taken_total = 0
    # The bulk reader runs (in DuckDB, without the GIL) on the next blocks, one
    # per worker, while this thread reads the blocks and the lines they left.
    workers = 2
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in files:
            doc = _whole_document(f, st.q)
            if doc is not None:
                handle(f, 1, doc[0], doc[1])
                continue
            total = None if f.path.name.lower().endswith(".gz") else (
                -(-f.bytes // BLOCK_BYTES))
            waiting: deque[tuple[Block, Future[Any] | None]] = deque()
            # A block's buffer is reused once this loop, holding at most
            # workers + 1 blocks, has moved on from it.
            for b in progress(blocks(f, BLOCK_BYTES, ring=workers + 3), total=total,
                              desc=f.path.name, unit="blocks"):
                job = None
                if bulk is not None and force is not False:
                    cand = candidates(b)
                    if cand.sum() >= (1 if force else BULK_MIN_LINES):
                        job = pool.submit(contextvars.copy_context().run, bulk, f, b,
                                          line_table(b, cand))
                waiting.append((b, job))
                if len(waiting) > workers:
                    taken_total += _finish(f, *waiting.popleft(), st, handle)
            while waiting:
                taken_total += _finish(f, *waiting.popleft(), st, handle)
    return taken_total


def _finish(f: RawFile, b: Block, job: Future[Any] | None, st: LineState,
            handle: LineHandler) -> int:
    """Read one block: the bulk reader's records, then the other lines in order."""
    n = len(b)
    frame = job.result() if job is not None else None
    items = np.zeros(n, np.int64)  # records of each line
    if frame is not None and frame.height:
        lines = frame["i"].to_numpy()
        items += np.bincount(lines, minlength=n)
    taken = items > 0
    bulk_before = np.cumsum(items) - items  # bulk records before each line
    base = st.order
    done = 0  # records of the lines read one by one so far
    for k in np.flatnonzero(~taken).tolist():
        line = b.first + k
        got = decode_line(line, b.raw(k))
        if got is None:
            continue
        parsed = json_line(f, line, got[0], got[1], st.q, st.read)
        if parsed is None:
            continue
        start = base + int(bulk_before[k]) + done
        st.order = start
        handle(f, line, parsed[0], parsed[1])
        items[k] = st.order - start
        done += int(items[k])
    st.order = base + int(items.sum())
    if frame is None or not frame.height:
        return 0
    first = base + np.cumsum(items) - items  # reading-order number before each line
    order = first[frame["i"].to_numpy()] + frame["pos"].to_numpy()
    st.records.flush()
    st.records.frames.append(frame.with_columns(
        pl.Series("_order", order, dtype=pl.Int64)).select(list(st.records.schema)))
    st.read[0] += frame.height
    return int(taken.sum())
