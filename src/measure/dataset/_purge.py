"""Purge accounts from a dataset: every row that names them, then a new pinned version.

:func:`purge` serves deletion requests (the right to erasure, GDPR Art. 17;
platform terms that require deleting content of accounts that are gone): it
removes the given accounts and every row that names one of them in any column
holding account ids (``accounts``, ``observations``, ``edges`` on either side,
``crawls``, ``seeds``, ``labels``, ``detections``, ``tweets``; in tables outside
the contract, simulation truth included, the columns named in
:data:`measure.dataset._export.ACCOUNT_ID_NAMES` or ending in ``_account_id``),
writes the
result as a new version of the dataset atomically and pins it. The manifest
records the date and how many accounts and rows were removed, never which. A
second purge with the same list finds nothing and changes nothing.

The ingest's ``quarantine`` keeps each unreadable record as it was read (``raw``):
a quarantined row whose raw text names a purged account, by its id or by a handle
the dataset knows for it (``accounts.screen_name``, ``observations.screen_name``),
as a whole token, case-insensitively, is removed too.

Files that are not Parquet tables are kept as they are, except the reports that
``measure report`` writes into a dataset (``report.html``, ``report.pdf``), which
were computed from the removed rows and are deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from measure.errors import ConfigError, MeasureError, PinMismatchError

#: Manifest entries that every pin recomputes (not carried from the old version).
_RECOMPUTED = frozenset({"schema_version", "created_at", "measure_version", "files",
                         "digest", "name", "command", "inputs"})
#: Rows read at once when a file is filtered.
BATCH_ROWS = 1_000_000


class PurgeError(MeasureError):
    """A purge cannot be done as asked (says why and what to do)."""


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed.

    Attributes
    ----------
    path
        The dataset.
    id
        ``name@sha256:<digest>`` after the purge (unchanged when nothing was
        found).
    n_requested
        Distinct ids in the request.
    n_accounts_removed
        Of those, the ids that some row named (and no longer does).
    rows_removed
        Rows removed per table (folder tables by name, e.g. ``edges``).
    files_removed
        Files deleted: reports computed from the removed rows, and table files
        of a hive partition that named a removed account.
    changed
        Whether a new version was written.
    date
        The purge date recorded in the manifest (ISO).
    """

    path: Path
    id: str
    n_requested: int
    n_accounts_removed: int
    rows_removed: dict[str, int] = field(default_factory=dict)
    files_removed: tuple[str, ...] = ()
    changed: bool = False
    date: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON view (``--json``)."""
        return {"path": str(self.path), "id": self.id,
                "n_requested": self.n_requested,
                "n_accounts_removed": self.n_accounts_removed,
                "rows_removed": self.rows_removed,
                "files_removed": list(self.files_removed), "changed": self.changed,
                "date": self.date}

    def summary(self) -> str:
        """Return a plain-text account of the purge."""
        if not self.changed:
            return (f"nothing to purge: none of the {self.n_requested:,} ids is named "
                    f"in {self.path}; dataset unchanged ({self.id})")
        lines = [f"purged {self.n_accounts_removed:,} of {self.n_requested:,} "
                 f"requested accounts from {self.path} ({self.date})",
                 f"  new version {self.id}"]
        lines += [f"  {t:<14}{n:>14,} rows removed"
                  for t, n in self.rows_removed.items()]
        if self.files_removed:
            lines.append("  files removed: " + ", ".join(self.files_removed))
        return "\n".join(lines)


def read_ids(source: str | os.PathLike[str] | Iterable[Any]) -> list[Any]:
    """Read the ids of a purge request.

    Parameters
    ----------
    source
        A Parquet or CSV file with an ``account_id`` column, a text file with one
        id per line (blank lines and lines starting with ``#`` skipped), or ids.

    Raises
    ------
    ConfigError
        The file is missing or has no ``account_id`` column.
    """
    if not isinstance(source, str | os.PathLike):
        return list(dict.fromkeys(source))
    p = Path(source)
    if not p.is_file():
        raise ConfigError(f"ids file '{p}' does not exist; give a text file with one "
                          "account id per line, or a CSV/Parquet file with an "
                          "'account_id' column")
    if p.suffix in (".parquet", ".csv"):
        df = (pl.read_parquet(p) if p.suffix == ".parquet"
              else pl.read_csv(p, infer_schema=False))
        if "account_id" not in df.columns:
            raise ConfigError(f"ids file '{p}' has no 'account_id' column (columns: "
                              f"{', '.join(df.columns)}); rename it")
        return list(dict.fromkeys(df["account_id"].drop_nulls().to_list()))
    lines = (x.strip() for x in p.read_text().splitlines())
    return list(dict.fromkeys(x for x in lines if x and not x.startswith("#")))


def _account_columns(table: str, schema: pa.Schema) -> list[str]:
    """Return the columns of a Parquet file that hold account ids."""
    from measure.dataset._export import holds_account_ids

    return [f.name for f in schema if holds_account_ids(table, f.name)]


def _value_set(ids: list[Any], typ: pa.DataType) -> pa.Array | None:
    """Return the requested ids as an array of ``typ`` (those that fit it)."""
    if pa.types.is_integer(typ):
        bits = typ.bit_width
        lo, hi = ((0, 2**bits - 1) if pa.types.is_unsigned_integer(typ)
                  else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
        vals = []
        for v in ids:
            try:
                x = int(v)
            except (TypeError, ValueError):
                continue
            if lo <= x <= hi:
                vals.append(x)
        return pa.array(vals, type=typ) if vals else None
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return pa.array([str(v) for v in ids], type=typ)
    return None


def _table_of(rel: str) -> str:
    """Return the table of a data file.

    ``edges/part-1.parquet`` -> ``edges``; in a folder that holds tables
    (simulation truth), ``truth/accounts.parquet`` -> ``truth/accounts``.
    """
    from measure.dataset._dataset import RESERVED

    parts = rel.split("/")
    if parts[0] in RESERVED and len(parts) > 1:
        return f"{parts[0]}/{parts[1].removesuffix('.parquet')}"
    return parts[0].removesuffix(".parquet")


def _hive_hit(rel: str, table: str, idtext: set[str]) -> bool:
    """Whether a file sits in a hive partition whose account-id value is purged."""
    from measure.dataset._export import holds_account_ids

    for part in rel.split("/")[1:-1]:
        if "=" in part:
            k, v = part.split("=", 1)
            if holds_account_ids(table, k) and v in idtext:
                return True
    return False


#: Quarantine columns searched for the purged accounts' ids and handles.
RAW_COLUMNS = ("raw",)
#: Tokens per regular expression when searching raw text.
_TOKENS_PER_PATTERN = 500


def _mention_patterns(tokens: Iterable[str]) -> list[str]:
    """Case-insensitive RE2 patterns matching any token as a whole word."""
    import re

    toks = sorted({t for t in tokens if t})
    return ["(?i)(^|[^\\w])(" + "|".join(re.escape(t) for t in
                                         toks[i:i + _TOKENS_PER_PATTERN])
            + ")([^\\w]|$)" for i in range(0, len(toks), _TOKENS_PER_PATTERN)]


def _is_text(typ: pa.DataType) -> bool:
    """Whether an Arrow type holds strings."""
    return (pa.types.is_string(typ) or pa.types.is_large_string(typ)
            or pa.types.is_string_view(typ))


def _handles_of(root: Path, files: list[str], ids: list[Any]) -> set[str]:
    """Return the handles the dataset records for the purged accounts."""
    out: set[str] = set()
    for rel in files:
        t = _table_of(rel)
        if t not in ("accounts", "observations") or not rel.endswith(".parquet"):
            continue
        pf = pq.ParquetFile(root / rel)
        names = pf.schema_arrow.names
        if "screen_name" not in names or "account_id" not in names:
            continue
        vals = _value_set(ids, pf.schema_arrow.field("account_id").type)
        if vals is None:
            continue
        for batch in pf.iter_batches(batch_size=BATCH_ROWS,
                                     columns=["account_id", "screen_name"]):
            hit = pc.fill_null(pc.is_in(batch.column(0), value_set=vals), False)
            out.update(str(v) for v in
                       batch.column(1).filter(hit).to_pylist() if v)
    return out


def _filter_file(src: Path, dest: Path | None, table: str, ids: list[Any],
                 mentions: list[str] | None = None) -> int:
    """Count (and, with ``dest``, write) the rows of ``src`` that name no id.

    Parameters
    ----------
    mentions
        Patterns (:func:`_mention_patterns`) searched in the raw text of a
        ``quarantine`` table.

    Returns the number of rows removed; ``dest`` is written with the same schema
    only when some row is removed.
    """
    pf = pq.ParquetFile(src)
    cols = _account_columns(table, pf.schema_arrow)
    sets = {c: _value_set(ids, pf.schema_arrow.field(c).type) for c in cols}
    sets = {c: s for c, s in sets.items() if s is not None}
    raw = [c for c in RAW_COLUMNS if table == "quarantine" and mentions
           and c in pf.schema_arrow.names
           and _is_text(pf.schema_arrow.field(c).type)]
    if not sets and not raw:
        return 0
    removed = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            hit = None
            for c, s in sets.items():
                m = pc.fill_null(pc.is_in(batch.column(c), value_set=s), False)
                hit = m if hit is None else pc.or_(hit, m)
            for c in raw:
                for pat in mentions or ():
                    text = batch.column(c).cast(pa.large_string())
                    m = pc.fill_null(pc.match_substring_regex(text, pat), False)
                    hit = m if hit is None else pc.or_(hit, m)
            assert hit is not None
            n_hit = int(pc.sum(hit).as_py() or 0)
            removed += n_hit
            if dest is not None:
                if writer is None:
                    writer = pq.ParquetWriter(dest, pf.schema_arrow,
                                              compression="zstd")
                writer.write_table(pa.Table.from_batches(
                    [batch.filter(pc.invert(hit))], schema=pf.schema_arrow))
        if dest is not None and writer is None:  # a file without rows
            pq.write_table(pf.schema_arrow.empty_table(), dest, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    return removed


def purge(
    dataset: str | os.PathLike[str],
    ids: str | os.PathLike[str] | Iterable[Any],
    *,
    key: bytes | None = None,
    date: dt.date | None = None,
) -> PurgeReport:
    """Remove accounts and every row naming them; write and pin a new version.

    Parameters
    ----------
    dataset
        The dataset directory (replaced atomically by the purged version).
    ids
        The accounts to remove: a file (:func:`read_ids`) or the ids themselves.
    key
        For a pseudonymised export made with ``id_mode="hmac"``: the export's key;
        ``ids`` are then the original ids, turned into their pseudonyms first.
    date
        The purge date recorded in the manifest (default: today, UTC).

    Returns
    -------
    PurgeReport
        ``changed`` is false when no row named any of the ids: the dataset is
        then left exactly as it was (a purge is idempotent).

    Raises
    ------
    PurgeError
        ``key`` is given for a dataset that is not an export made with it, or
        for an export with ordered ids (purge the original and export again).
    measure.errors.PinMismatchError
        The dataset is pinned and its files differ from its manifest (pin or
        verify it first: a purge pins what it writes).
    measure.errors.DatasetLockedError
        Another process is writing the dataset.
    """
    from measure.dataset._lock import writer_lock
    from measure.dataset._pin import check_dataset

    with writer_lock(dataset, action="measure purge"):
        if Path(dataset).is_dir():
            integrity = check_dataset(dataset, hash_changed=False)
            if not integrity.ok:
                raise PinMismatchError(integrity.refusal(allow_hint=False),
                                       differences=integrity.differences)
        return _purge(dataset, ids, key=key, date=date)


def _purge(
    dataset: str | os.PathLike[str],
    ids: str | os.PathLike[str] | Iterable[Any],
    *,
    key: bytes | None,
    date: dt.date | None,
) -> PurgeReport:
    """Body of :func:`purge`, run while holding the dataset's writer lock."""
    from measure.dataset._export import (
        is_export,
        key_fingerprint,
        pseudonymise_ids,
    )
    from measure.dataset._pin import MANIFEST, NOT_DATA, dataset_files
    from measure.dataset._writer import DatasetWriter

    root = Path(dataset)
    if not root.is_dir():
        raise PurgeError(f"'{root}' is not a dataset directory")
    manifest: dict[str, Any] = {}
    if (root / MANIFEST).is_file():
        manifest = json.loads((root / MANIFEST).read_text())
    wanted = read_ids(ids)
    if key is not None:
        info = manifest.get("pseudonymised") if is_export(manifest) else None
        if info is None:
            raise PurgeError(f"--key-file is for pseudonymised exports, and '{root}' "
                             "is not one; give the dataset's own ids")
        if info.get("key_fingerprint") != key_fingerprint(key):
            raise PurgeError(f"the key's fingerprint {key_fingerprint(key)} differs "
                             f"from the export's {info.get('key_fingerprint')}; use "
                             "the key the export was made with")
        if info.get("id_mode") != "hmac":
            raise PurgeError(
                "this export assigns its pseudonyms in the order of all the original "
                "ids, so one id's pseudonym cannot be recomputed from the key; purge "
                "the original dataset and export it again")
        wanted = pseudonymise_ids(wanted, key,
                                  as_int=info.get("id_type") == "int64")
    idtext = {str(v) for v in wanted}
    files = dataset_files(root)
    mentions = _mention_patterns(idtext | _handles_of(root, files, wanted))
    when = (date or dt.datetime.now(dt.UTC).date()).isoformat()
    # first pass: count what would go (nothing written)
    rows: dict[str, int] = {}
    hive_drop: list[str] = []
    affected: set[str] = set()
    for rel in files:
        if not rel.endswith(".parquet"):
            continue
        t = _table_of(rel)
        if _hive_hit(rel, t, idtext):
            hive_drop.append(rel)
            rows[t] = rows.get(t, 0) + pq.ParquetFile(root / rel).metadata.num_rows
            continue
        n = _filter_file(root / rel, None, t, wanted, mentions)
        if n:
            affected.add(rel)
            rows[t] = rows.get(t, 0) + n
    name = manifest.get("name") or root.name
    if not rows:
        ident = (f"{name}@sha256:{manifest['digest']}" if manifest.get("digest")
                 else f"{name} (not pinned)")
        return PurgeReport(root, ident, len(wanted), 0, {}, (), False, when)
    found = _named(root, files, wanted, hive_drop)
    reports = [r for r in NOT_DATA - {MANIFEST} if (root / r).is_file()]
    record = {"date": when, "accounts_requested": len(wanted),
              "accounts_removed": found,
              "rows_removed": dict(sorted(rows.items()))}
    extra = {k: v for k, v in manifest.items() if k not in _RECOMPUTED}
    extra["purges"] = [*manifest.get("purges", []), record]
    with DatasetWriter(root, name=name, command=manifest.get("command"),
                       inputs=manifest.get("inputs"), extra=extra,
                       overwrite=True) as w:
        for rel in files:
            if rel in hive_drop:
                continue
            if rel in affected:
                dest = w.tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                _filter_file(root / rel, dest, _table_of(rel), wanted, mentions)
            else:
                w.copy_file(rel, root / rel)
    m = w.manifest or {}
    return PurgeReport(root, f"{m.get('name')}@sha256:{m.get('digest')}", len(wanted),
                       found, dict(sorted(rows.items())),
                       tuple(sorted(hive_drop + reports)), True, when)


def _named(root: Path, files: list[str], wanted: list[Any],
           hive_drop: list[str]) -> int:
    """How many of the requested ids some row (or partition) names."""
    found: set[str] = set()
    idtext = {str(v) for v in wanted}
    for rel in files:
        if not rel.endswith(".parquet"):
            continue
        t = _table_of(rel)
        if rel in hive_drop:
            for part in rel.split("/")[1:-1]:
                if "=" in part and part.split("=", 1)[1] in idtext:
                    found.add(part.split("=", 1)[1])
            continue
        pf = pq.ParquetFile(root / rel)
        for c in _account_columns(t, pf.schema_arrow):
            s = _value_set(wanted, pf.schema_arrow.field(c).type)
            if s is None:
                continue
            col = pq.read_table(root / rel, columns=[c]).column(c)
            hits = pc.filter(s, pc.is_in(s, value_set=pc.unique(col)))
            found.update(str(v) for v in hits.to_pylist())
    return len(found)
