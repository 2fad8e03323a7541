"""Ingest raw collections into canonical datasets on the data contract.

``measure.ingest.ingest(source, format, out)`` reads raw files (never modifying them),
writes a dataset with :class:`measure.DatasetWriter` whose manifest lists each raw
file's SHA-256, validates it with :func:`measure.open`, and returns an
:class:`IngestReport`. ``ingest(source, format, into=dataset)`` adds the tables a
source yields to a dataset instead, writing a new complete version atomically and
skipping raw files it already holds. Formats: ``twitter-v1``, ``twitter-v2``,
``twarc2-follows``, ``bluesky``, ``mastodon``, ``telegram``, ``fifthtribe``,
``table`` (see ``docs/ingest.md``).

Records that cannot be read go to the dataset's ``quarantine`` table (file, line,
column, reason, raw text); rows with the same key are collapsed to the last in file
order (and to the later ingest). For every table::

    rows read = rows written + rows quarantined + rows collapsed

and a difference raises :class:`measure.errors.IngestError` before anything is written.

A format plugs in as a ``parse(files, ...) -> Parsed`` function: ``Parsed.tables``
holds every table the source yields (several contract tables from one source are
fine), ``record_tables`` / ``file_tables`` say which hold one row per record or per
file, and ``keys`` says how each table merges into an existing dataset.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

from measure.errors import IngestError
from measure.ingest._common import (
    EmptyInputWarning,
    IngestReport,
    Parsed,
    RawFile,
    image_url_hash,
    parse_iso,
    stable_id,
)
from measure.ingest._fifthtribe import handle_id
from measure.options import validate_option

Format = Literal["twitter-v1", "twitter-v2", "twarc2-follows", "bluesky",
                 "mastodon", "telegram", "fifthtribe", "table"]
FORMATS: tuple[str, ...] = get_args(Format)


def ingest(  # noqa: C901
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    format: Format,  # noqa: A002 - the documented argument name
    out: str | os.PathLike[str] | None = None,
    mapping: str | os.PathLike[str] | None = None,
    *,
    into: str | os.PathLike[str] | None = None,
    name: str | None = None,
    overwrite: bool = False,
    observed_at: str | dt.datetime | None = None,
    strict: bool = False,
    command: str | None = None,
    level: int | None = None,
    allow_empty: bool = False,
) -> IngestReport:
    """Ingest raw files into a new dataset (``out``) or add them to one (``into``).

    Parameters
    ----------
    source
        A raw file, a directory searched recursively for files of the format
        (``.jsonl``/``.json``/``.ndjson`` and their ``.gz``; ``.csv``; ``.parquet``),
        or a list of them. Files are read in the order given, a directory's files in
        sorted path order; they are never modified.
    format
        ``"twitter-v1"``, ``"twitter-v2"``, ``"twarc2-follows"``, ``"bluesky"``,
        ``"mastodon"``, ``"telegram"``, ``"fifthtribe"`` or ``"table"``.
    out
        The dataset directory to write (normally under ``data/processed/``). It must
        not lie inside ``source``. Give ``out`` or ``into``, not both.
    mapping
        TOML mapping file; required for ``format="table"`` only.
    into
        A dataset to add the source's tables to, created when absent. Each call
        writes a new complete version atomically; rows whose key is already in the
        dataset are collapsed into it (the later ingest wins) and raw files already
        ingested with the same format, mapping and options are skipped (see
        ``docs/ingest.md``).
    name
        Dataset name in the manifest (default: the directory name).
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
    level
        Snowball level of the follow lists in the source (``crawls.level``: 0 for
        the seeds' lists, 1 for lists of accounts found in them, ...). Required for
        ``twarc2-follows``, for ``bluesky`` sources holding getFollowers or
        getFollows pages and for ``mastodon`` sources holding followers/following
        pages; not used by other formats.

    Returns
    -------
    IngestReport
        Per table: rows read, written, quarantined (per reason) and collapsed; the
        dataset id (and, with ``into``, the version it was appended to) and the raw
        inputs' hashes. ``changed`` is false when every input was already ingested.

    Raises
    ------
    IngestError
        Unreadable source or mapping, an empty input (unless ``allow_empty``), a
        raw file changed during the ingest, the accounting identity fails,
        (``strict``) a record is unreadable, or (``into``) the dataset differs
        from its manifest or the addition would break the data contract; the
        message names the file, line and column. Nothing is written.
    """
    from measure.ingest import _common, _into

    validate_option("format", format, Format)
    sources = ([source] if isinstance(source, str | os.PathLike) else list(source))
    if not sources:
        raise IngestError("no source given; name a raw file or directory")
    if (out is None) == (into is None):
        raise IngestError("give either out= (--out, write a new dataset) or into= "
                          "(--into, add to a dataset), not both or neither")
    if into is not None and overwrite:
        raise IngestError("--overwrite applies to --out only; --into adds to the "
                          "dataset (drop --overwrite)")
    dest = out if out is not None else into
    assert dest is not None
    for s in sources:
        _common.check_out_outside(s, dest)
    if command is None:
        src = repr(str(sources[0])) if len(sources) == 1 else repr(
            [str(s) for s in sources])
        args = [src, repr(format)]
        args.append(repr(str(out)) if out is not None else f"into={str(into)!r}")
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
    if level is not None and format not in ("twarc2-follows", "bluesky",
                                            "mastodon"):
        raise IngestError(f"--level is only used with the follow-list formats "
                          f"(twarc2-follows, bluesky, mastodon), not {format!r}; "
                          "drop it")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)
                              or level < 0):
        raise IngestError(f"--level must be a whole number >= 0 (0 for the seeds' "
                          f"lists), got {level!r}")
    if format == "twarc2-follows" and level is None:
        raise IngestError("format 'twarc2-follows' needs the snowball level of the "
                          "lists it reads: pass --level N (level=N), 0 for the seeds' "
                          "lists, 1 for lists of accounts found in them, ...")
    if format != "table" and mapping is not None:
        raise IngestError(f"a mapping file is only used with format 'table', not "
                          f"{format!r}; drop --mapping")
    if format == "table" and mapping is None:
        raise IngestError("format 'table' needs a mapping file (--mapping "
                          "FILE.toml) naming the target tables and columns; see "
                          "docs/ingest.md")
    options: dict[str, object] = {}
    if t0 is not None:
        options["observed_at"] = t0.isoformat()
    if level is not None:
        options["level"] = level
    labels = [str(s) for s in sources]
    if t0 is not None:
        _check_observed_at(t0, format)
    if into is None:
        assert out is not None
        with _into.locked(out, action="measure ingest --out"):
            files = _list_files(sources, format, allow_empty)
            parsed = _parse(files, format, mapping, t0, level)
            return _common.write_ingest(
                parsed, fmt=format, source=" ".join(labels), files=files, out=out,
                name=name, command=command, overwrite=overwrite, strict=strict,
                sources=labels, options=options)
    with _into.locked(into):
        target = _into.read_target(into, name)
        files = _list_files(sources, format, allow_empty)
        msha = None
        if mapping is not None:
            from measure.ingest._table import Mapping, mapping_raw

            Mapping.load(mapping)  # a broken mapping fails before anything else
            msha = mapping_raw(mapping).sha256
        todo, skipped = target.split(files, format, msha, options)
        if not todo:
            return _into.noop_report(target, fmt=format, source=" ".join(labels),
                                     skipped=skipped)
        parsed = _parse(todo, format, mapping, t0, level)
        return _into.write_into(parsed, target, fmt=format, sources=labels,
                                files=todo, command=command, strict=strict,
                                options=options, skipped=skipped)


def _list_files(sources: Sequence[str | os.PathLike[str]],
                format: str, allow_empty: bool = False  # noqa: A002
                ) -> list[RawFile]:
    from measure.ingest import (
        _bluesky,
        _common,
        _fifthtribe,
        _mastodon,
        _table,
        _telegram,
        _twarc2_follows,
        _twitter_v1,
        _twitter_v2,
    )

    suffixes = {"twitter-v1": _twitter_v1.SUFFIXES, "twitter-v2": _twitter_v2.SUFFIXES,
                "twarc2-follows": _twarc2_follows.SUFFIXES,
                "bluesky": _bluesky.SUFFIXES, "mastodon": _mastodon.SUFFIXES,
                "telegram": _telegram.SUFFIXES,
                "fifthtribe": _fifthtribe.SUFFIXES, "table": _table.SUFFIXES}[format]
    files: list[RawFile] = []
    seen: set[Path] = set()
    for s in sources:
        for f in _common.list_raw_files(s, suffixes, allow_empty=allow_empty):
            if f.path.resolve() not in seen:
                seen.add(f.path.resolve())
                files.append(f)
    for f in files:
        _common.check_not_empty(f, allow_empty=allow_empty)
    return files


def _parse(files: list[RawFile], format: str,  # noqa: A002
           mapping: str | os.PathLike[str] | None,
           t0: dt.datetime | None, level: int | None = None) -> Parsed:
    """Read ``files`` with the format's reader, times checked against its bounds.

    Optional field values the reader nulled (or repaired) become the
    ``field_notes`` table; empty files allowed by ``allow_empty`` are noted.
    """
    from measure.ingest import _common

    with _common.bounded_times(PLATFORMS.get(format, "other")):
        parsed = _read_format(files, format, mapping, t0, level)
    return _common.with_field_notes(parsed, files)


def _read_format(files: list[RawFile], format: str,  # noqa: A002
                 mapping: str | os.PathLike[str] | None,
                 t0: dt.datetime | None, level: int | None) -> Parsed:
    from measure.ingest import (
        _bluesky,
        _fifthtribe,
        _mastodon,
        _table,
        _telegram,
        _twarc2_follows,
        _twitter_v1,
        _twitter_v2,
    )

    if format == "twarc2-follows":
        assert level is not None
        return _twarc2_follows.parse(files, level=level)
    if format == "bluesky":
        return _bluesky.parse(files, level=level)
    if format == "mastodon":
        return _mastodon.parse(files, level=level)
    if format == "telegram":
        return _telegram.parse(files)
    if format == "twitter-v1":
        return _twitter_v1.parse(files, observed_at=t0)
    if format == "twitter-v2":
        return _twitter_v2.parse(files, observed_at=t0)
    if format == "fifthtribe":
        return _fifthtribe.parse(files)
    assert mapping is not None
    m = _table.Mapping.load(mapping)
    return _table.parse(files, m, _table.mapping_raw(mapping))


#: The platform whose time bounds (``_common.PLATFORM_EPOCH``) each format's
#: records are checked against.
PLATFORMS = {"twitter-v1": "twitter", "twitter-v2": "twitter",
             "twarc2-follows": "twitter", "fifthtribe": "twitter",
             "bluesky": "bluesky", "mastodon": "mastodon", "telegram": "telegram",
             "table": "other"}


def _check_observed_at(t0: dt.datetime, format: str) -> None:  # noqa: A002
    from measure.ingest._common import BadValue, bounded_times, check_time

    with bounded_times(PLATFORMS.get(format, "other")):
        try:
            check_time(t0, "observed_at")
        except BadValue as e:
            raise IngestError(f"--observed-at: {e}") from e


def _parse_observed_at(value: str) -> dt.datetime:
    from measure.ingest._common import BadValue

    try:
        return parse_iso(value, "observed_at")
    except BadValue as e:
        raise IngestError(f"--observed-at: {e}") from e


def command_line(argv: list[str]) -> str:
    """Quote a command line for the manifest."""
    return shlex.join(argv)


__all__ = ["FORMATS", "EmptyInputWarning", "Format", "IngestReport", "handle_id",
           "image_url_hash", "ingest", "stable_id"]
