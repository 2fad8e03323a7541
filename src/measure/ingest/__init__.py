"""Ingest raw collections into canonical datasets on the data contract.

``measure.ingest.ingest(source, format, out)`` reads raw files (never modifying them),
writes a dataset with :class:`measure.DatasetWriter` whose manifest lists each raw
file's SHA-256, validates it with :func:`measure.open`, and returns an
:class:`IngestReport`. Formats: ``twitter-v1``, ``twitter-v2``, ``fifthtribe``,
``table`` (see ``docs/ingest.md``).

Records that cannot be read go to the dataset's ``quarantine`` table (file, line,
column, reason, raw text); duplicates of the same key are collapsed to the last in
file order. For every record table::

    rows read = rows written + rows quarantined + rows collapsed

and a difference raises :class:`measure.errors.IngestError` before anything is written.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from typing import Literal, get_args

from measure.errors import IngestError
from measure.ingest._common import IngestReport, image_url_hash, parse_iso, stable_id
from measure.ingest._fifthtribe import handle_id
from measure.options import validate_option

Format = Literal["twitter-v1", "twitter-v2", "fifthtribe", "table"]
FORMATS: tuple[str, ...] = get_args(Format)


def ingest(
    source: str | os.PathLike[str],
    format: Format,  # noqa: A002 - the documented argument name
    out: str | os.PathLike[str],
    mapping: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    overwrite: bool = False,
    observed_at: str | dt.datetime | None = None,
    strict: bool = False,
    command: str | None = None,
) -> IngestReport:
    """Ingest raw files into a canonical dataset.

    Parameters
    ----------
    source
        A raw file, or a directory searched recursively for files of the format
        (``.jsonl``/``.json``/``.ndjson`` and their ``.gz``; ``.csv``; ``.parquet``).
        Files are read in sorted path order; they are never modified.
    format
        ``"twitter-v1"``, ``"twitter-v2"``, ``"fifthtribe"`` or ``"table"``.
    out
        The dataset directory to write (normally under ``data/processed/``). It must
        not lie inside ``source``.
    mapping
        TOML mapping file; required for ``format="table"`` only.
    name
        Dataset name in the manifest (default: the directory name of ``out``).
    overwrite
        Replace an existing dataset at ``out`` (atomically).
    observed_at
        Collection time for Twitter records that carry none (ISO 8601 with zone).
    strict
        Raise :class:`IngestError` on the first unreadable record instead of
        quarantining it.
    command
        The producing command recorded in the manifest (the CLI passes its command
        line; by default a Python call is recorded).

    Returns
    -------
    IngestReport
        Rows read, written per table, quarantined (per reason) and collapsed, the
        dataset id and the raw inputs' hashes.

    Raises
    ------
    IngestError
        Unreadable source or mapping, a raw file changed during the ingest, the
        accounting identity fails, or (``strict``) a record is unreadable; the
        message names the file, line and column.
    """
    from measure.ingest import _common, _fifthtribe, _table, _twitter_v1, _twitter_v2

    validate_option("format", format, Format)
    _common.check_out_outside(source, out)
    if command is None:
        args = [repr(str(source)), repr(format), repr(str(out))]
        if mapping is not None:
            args.append(f"mapping={str(mapping)!r}")
        command = f"measure.ingest.ingest({', '.join(args)})"
    t0 = None
    if observed_at is not None:
        t0 = (observed_at.astimezone(dt.UTC) if isinstance(observed_at, dt.datetime)
              else _parse_observed_at(observed_at))
    if t0 is not None and format not in ("twitter-v1", "twitter-v2"):
        raise IngestError(f"--observed-at is only used with the Twitter formats, not "
                          f"{format!r}; drop it")
    if format != "table" and mapping is not None:
        raise IngestError(f"a mapping file is only used with format 'table', not "
                          f"{format!r}; drop --mapping")
    if format == "twitter-v1":
        files = _common.list_raw_files(source, _twitter_v1.SUFFIXES)
        parsed = _twitter_v1.parse(files, observed_at=t0)
    elif format == "twitter-v2":
        files = _common.list_raw_files(source, _twitter_v2.SUFFIXES)
        parsed = _twitter_v2.parse(files, observed_at=t0)
    elif format == "fifthtribe":
        files = _common.list_raw_files(source, _fifthtribe.SUFFIXES)
        parsed = _fifthtribe.parse(files)
    else:
        if mapping is None:
            raise IngestError("format 'table' needs a mapping file (--mapping "
                              "FILE.toml) naming the target table and columns; see "
                              "docs/ingest.md")
        m = _table.Mapping.load(mapping)
        files = _common.list_raw_files(source, _table.SUFFIXES)
        parsed = _table.parse(files, m, _table.mapping_raw(mapping))
    return _common.write_ingest(parsed, fmt=format, source=source, files=files,
                                out=out, name=name, command=command,
                                overwrite=overwrite, strict=strict)


def _parse_observed_at(value: str) -> dt.datetime:
    from measure.ingest._common import BadValue

    try:
        return parse_iso(value, "observed_at")
    except BadValue as e:
        raise IngestError(f"--observed-at: {e}") from e


def command_line(argv: list[str]) -> str:
    """Quote a command line for the manifest."""
    return shlex.join(argv)


__all__ = ["FORMATS", "Format", "IngestReport", "handle_id", "image_url_hash",
           "ingest", "stable_id"]
