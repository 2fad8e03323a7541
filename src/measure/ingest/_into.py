"""Add what a source yields to a dataset (``measure ingest ... --into DATASET``).

Each ingest writes a new complete version of the dataset: the tables it does not
touch are carried over byte for byte, the tables it adds rows to are written anew,
and the whole directory replaces the previous version atomically
(:class:`measure.DatasetWriter`: a temporary sibling directory, validated with
:func:`measure.open`, then renamed into place). A crash, a failed check or a contract
violation leaves the previous version as it was.

Rules
-----
* **Keys.** A row whose key (``DEFAULT_KEYS``, or the mapping's ``unique``) is
  already in the dataset is *collapsed* into it: the later ingest wins, as the last
  row in file order wins within one ingest. Columns this ingest does not have are
  kept from the earlier row; in ``accounts`` a null never erases a known value and
  ``first_seen`` is the earliest. Rows with a new key are *written* (appended).
  For every table ``read = written + quarantined + collapsed`` and
  ``rows after = rows before + written``.
* **Idempotence.** The manifest's ``ingests`` list records every ingest: format,
  command line, time, each input's SHA-256, the mapping's SHA-256, the per-table
  accounting and the version it was appended to. A raw file whose SHA-256 is already
  recorded for the same format, mapping and options is skipped; when every file is,
  nothing is written.
* **Pinning.** Every version gets a fresh manifest (it is re-pinned). The id of the
  previous version stays in its lock files, which then fail ``measure verify``
  (expected versus got) until the new version is pinned. A dataset whose files
  differ from its manifest is refused: it is not the version its id names.
* **Concurrency.** One writer per dataset: the ingest holds the dataset's writer
  lock (POSIX ``flock`` on ``.<name>.lock`` beside it) from reading the current
  version to writing the next; a second writer fails at once, naming the
  holder's pid.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from measure.dataset._contract import ID, TABLES
from measure.errors import IngestError
from measure.ingest._common import (
    DERIVED,
    IngestReport,
    Parsed,
    RawFile,
    check_parsed,
    ingest_entry,
    manifest_inputs,
    table_balanced,
    with_contract_columns,
)

#: Manifest keys a new version recomputes or rebuilds (the rest is carried over).
REBUILT = frozenset({"schema_version", "created_at", "measure_version", "files",
                     "digest", "name", "command", "inputs", "ingest", "ingests"})
QUARANTINE = "quarantine"
_PART = re.compile(r"^part-(\d+)\.parquet$")


@contextmanager
def locked(path: str | os.PathLike[str], *,
           action: str = "measure ingest --into") -> Iterator[None]:
    """Hold the writer lock of the dataset at ``path`` (fails at once if taken).

    See :func:`measure.dataset.writer_lock`: a second writer of the same dataset
    raises :class:`~measure.errors.DatasetLockedError` naming the holder's pid.
    ``action`` is what the lock file says the holder does.
    """
    from measure.dataset._lock import writer_lock

    with writer_lock(path, action=action):
        yield


def input_key(sha256: str, fmt: str, mapping_sha256: str | None,
              options: dict[str, Any] | None) -> tuple[str, str, str | None, str]:
    """Identity of one ingested raw file: content, format, mapping and options."""
    return (sha256, fmt, mapping_sha256,
            json.dumps(options or {}, sort_keys=True, default=str))


@dataclass
class Target:
    """The dataset an ``--into`` ingest adds to, as found before the ingest."""

    path: Path
    name: str
    manifest: dict[str, Any] | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)
    id_type: str | None = None

    @property
    def exists(self) -> bool:
        """Whether a dataset directory is there."""
        return self.path.is_dir()

    @property
    def previous_id(self) -> str | None:
        """``name@sha256:<digest>`` of the current version, if it has a manifest."""
        if self.manifest and self.manifest.get("digest"):
            return f"{self.manifest.get('name')}@sha256:{self.manifest['digest']}"
        return None

    @property
    def naive_utc(self) -> bool:
        """Whether the manifest declares naive timestamps as UTC."""
        return bool(self.manifest and self.manifest.get("timestamps") == "naive-utc")

    def ingests(self) -> list[dict[str, Any]]:
        """Return the manifest's ``ingests`` (a base entry for other datasets)."""
        m = self.manifest
        if not m:
            return []
        if "ingests" in m:
            return [dict(e) for e in m["ingests"]]
        base = {"format": (m.get("ingest") or {}).get("format"),
                "command": m.get("command"), "at": m.get("created_at"),
                "inputs": list(m.get("inputs") or []), "base": True,
                "digest": m.get("digest")}
        if m.get("ingest"):
            base["ingest"] = m["ingest"]
        return [base]

    def recorded(self) -> dict[tuple[str, str, str | None, str], tuple[int, str]]:
        """Identity of every raw file already ingested -> (ingest number, path)."""
        out: dict[tuple[str, str, str | None, str], tuple[int, str]] = {}
        for n, e in enumerate(self.ingests(), start=1):
            fmt = e.get("format")
            if not fmt:
                continue
            inputs = e.get("inputs") or []
            maps = [i["sha256"] for i in inputs if i.get("role") == "mapping"]
            msha = maps[0] if maps else None
            for i in inputs:
                if i.get("role") is None and i.get("sha256"):
                    key = input_key(i["sha256"], fmt, msha, e.get("options"))
                    out.setdefault(key, (n, i.get("path", "")))
        return out

    def split(self, files: Sequence[RawFile], fmt: str, mapping_sha256: str | None,
              options: dict[str, Any] | None
              ) -> tuple[list[RawFile], list[dict[str, Any]]]:
        """Split ``files`` into those to ingest and those already in the dataset."""
        rec = self.recorded()
        keep, skipped = [], []
        for f in files:
            hit = rec.get(input_key(f.sha256, fmt, mapping_sha256, options))
            if hit is None:
                keep.append(f)
            else:
                skipped.append({"path": f.label, "sha256": f.sha256,
                                "ingest": hit[0], "as": hit[1]})
        return keep, skipped


def read_target(path: str | os.PathLike[str], name: str | None) -> Target:
    """Find the dataset at ``path`` (absent is fine) and check it can be added to.

    Raises
    ------
    IngestError
        ``path`` is not a directory, its files differ from its manifest (it is not
        the version its id names), it breaks the data contract's schema, or
        ``name`` differs from the dataset's name.
    """
    from measure.dataset import Dataset, verify_dataset
    from measure.errors import DataContractError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise IngestError(f"--into '{path}' is a file, not a dataset directory")
    t = Target(path=p, name=name or p.name)
    if not p.is_dir():
        return t
    mpath = p / "manifest.json"
    if mpath.is_file():
        try:
            t.manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise IngestError(f"dataset '{path}': manifest.json is not valid JSON "
                              f"({e}); re-pin it with `measure pin {path}`") from e
        rep = verify_dataset(p)
        if not rep.ok:
            raise IngestError(
                f"dataset '{path}' differs from its manifest, so it is not the "
                f"version its id names; nothing was written.\n{rep.text()}\nIf the "
                f"change is intended, pin it first (measure pin {path}) and ingest "
                "again")
        recorded = t.manifest.get("name")
        if name is not None and recorded and name != recorded:
            raise IngestError(f"dataset '{path}' is named {recorded!r}, not "
                              f"{name!r}; drop --name when adding to it")
        t.name = recorded or t.name
    try:
        with Dataset(p, validate="schema", naive_timestamps_are_utc=t.naive_utc) as ds:
            t.files = dict(ds.files)
            t.id_type = ds.id_type
    except DataContractError as e:
        raise IngestError(f"dataset '{path}' breaks the data contract, so nothing "
                          f"was added to it: {e}") from e
    return t


def noop_report(target: Target, *, fmt: str, source: str,
                skipped: list[dict[str, Any]]) -> IngestReport:
    """Return the report of an ingest whose every input is already ingested."""
    m = target.manifest or {}
    return IngestReport(
        format=fmt, source=source, out=str(target.path),
        dataset_id=target.previous_id or str(target.path),
        digest=str(m.get("digest")), rows_read=0, rows_written={},
        record_tables=(), rows_quarantined=0, rows_collapsed={}, reasons={},
        changed=False, skipped=tuple(skipped))


# -- merging one table ---------------------------------------------------------------
@dataclass
class _Plan:
    """How one table of the new version is made."""

    table: str
    action: str  # "new", "keep", "append", "rewrite"
    relpath: str = ""
    frame: pl.DataFrame | pl.LazyFrame | None = None
    drop: tuple[str, ...] = ()  # files of the previous version not carried over
    before: int = 0
    written: int = 0
    collapsed: int = 0
    existing_duplicates: int = 0
    after: int = 0


def _id_class(dtype: Any) -> str | None:
    if dtype == pl.Utf8:
        return "str"
    if dtype.is_integer():
        return "int"
    return None


def _check_id_types(parsed: Parsed, target: Target) -> None:
    if target.id_type is None:
        return
    for t, df in parsed.tables.items():
        spec = TABLES.get(t)
        if spec is None:
            continue
        for c in spec.columns:
            if c.kind != ID or c.name not in df.columns:
                continue
            got = _id_class(df.schema[c.name])
            if got is not None and got != target.id_type:
                words = {"int": "integer", "str": "text"}
                raise IngestError(
                    f"table '{t}', column '{c.name}': this ingest has "
                    f"{words[got]} account ids but dataset '{target.path}' uses "
                    f"{words[target.id_type]} ids; one dataset uses one id type: "
                    f"set id_type = \"{target.id_type}\" in the mapping, or ingest "
                    "into a new dataset")


def _layout(target: Target, table: str) -> tuple[str, list[Path]]:
    """``'file'`` (``<t>.parquet``), ``'dir'`` (``<t>/part-*.parquet``) and files."""
    files = target.files.get(table, [])
    single = target.path / f"{table}.parquet"
    if files == [single]:
        return "file", files
    folder = target.path / table
    nested = [f for f in files if f.parent != folder]
    if nested:
        raise IngestError(
            f"table '{table}' of dataset '{target.path}' is stored in sub-folders "
            f"(e.g. '{nested[0]}'); --into adds to tables stored as "
            f"'{table}.parquet' or as part files directly in '{table}/'. Ingest into "
            "a new dataset instead")
    return "dir", files


def _rows(files: Sequence[Path]) -> int:
    return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)


def _scan(files: Sequence[Path]) -> pl.LazyFrame:
    return pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")


def _next_part(files: Sequence[Path]) -> int:
    nums = [int(m.group(1)) for f in files if (m := _PART.match(f.name))]
    return max(nums, default=len(files) - 1) + 1


def merge_rows(new: pl.DataFrame, old: pl.DataFrame, key: Sequence[str],
               table: str) -> pl.DataFrame:
    """Merge each row of ``new`` with the row of ``old`` that has its key.

    The row of ``new`` wins; a column it lacks is taken from ``old``. In
    ``accounts`` a null in ``new`` keeps the known value and ``first_seen`` is the
    earlier of the two. ``old`` must be unique by ``key``; rows of ``new`` without
    a match are returned unchanged. The result keeps the order of ``new``.
    """
    key = list(key)
    old_cols = [c for c in old.columns if c not in key]
    o = (old.select(key + old_cols)
         .with_columns(pl.col(k).cast(new.schema[k]) for k in key)
         .rename({c: f"{c}__old" for c in old_cols}))
    j = (new.with_row_index("__row")
         .join(o, on=key, how="left", nulls_equal=True).sort("__row"))
    exprs: list[pl.Expr] = []
    for c in new.columns:
        oc = f"{c}__old"
        if c in key or oc not in j.columns:
            exprs.append(pl.col(c))
        elif table == "accounts" and c == "first_seen":
            exprs.append(pl.min_horizontal(c, oc).alias(c))
        elif table == "accounts":
            exprs.append(pl.coalesce(c, oc).alias(c))
        else:
            exprs.append(pl.col(c))
    exprs += [pl.col(f"{c}__old").alias(c) for c in old_cols if c not in new.columns]
    return j.select(exprs)


def _unchanged(merged: pl.DataFrame, old: pl.DataFrame, key: Sequence[str]) -> bool:
    """Whether merging left the old rows exactly as they were."""
    extra = [c for c in merged.columns if c not in old.columns]
    if any(merged[c].null_count() < merged.height for c in extra):
        return False
    a = merged.select(old.columns).sort(list(key), nulls_last=True)
    b = old.sort(list(key), nulls_last=True)
    return a.schema == b.schema and a.equals(b)


def plan_table(target: Target, table: str, new: pl.DataFrame,
               key: tuple[str, ...] | None) -> _Plan:
    """Decide how ``table`` of the new version is made from the old one and ``new``.

    Raises
    ------
    IngestError
        The table cannot be merged (``key`` is None) and the dataset has it, or it
        is stored in sub-folders.
    """
    if table not in target.files:
        return _Plan(table, "new", f"{table}.parquet", new, written=new.height,
                     after=new.height)
    layout, files = _layout(target, table)
    before = _rows(files)
    if key is None:
        raise IngestError(
            f"table '{table}' of this ingest cannot be merged into the '{table}' "
            f"table already in dataset '{target.path}' (its rows summarise the whole "
            "ingest); ingest this source into a new dataset")
    if new.height == 0:
        return _Plan(table, "keep", before=before, after=before)
    old = _scan(files)
    old_schema = old.collect_schema()
    kcols = [k for k in key if k in new.columns and k in old_schema]
    hits = pl.DataFrame()
    if kcols:
        keys = new.select(kcols).unique()
        old = old.with_columns(pl.col(k).cast(keys.schema[k]) for k in kcols)
        hits = old.join(keys.lazy(), on=kcols, how="semi", nulls_equal=True).collect()
    rel_dir = Path(table).as_posix()
    drop = tuple(f.relative_to(target.path).as_posix() for f in files)
    if hits.height == 0:
        rest, collapsed, dup, merged_all = new, 0, 0, None
        unchanged = True
    else:
        hit_keys = hits.select(kcols).unique()
        new_hit = new.join(hit_keys, on=kcols, how="semi", nulls_equal=True)
        rest = new.join(hit_keys, on=kcols, how="anti", nulls_equal=True)
        old_u = hits.unique(subset=kcols, keep="last", maintain_order=True)
        dup = hits.height - old_u.height
        collapsed = new_hit.height
        unchanged = dup == 0 and _unchanged(
            merge_rows(new_hit, old_u, kcols, table), old_u, kcols)
        merged_all = merge_rows(new, old_u, kcols, table)
    written = rest.height
    if unchanged:
        if layout == "dir":
            rel = f"{rel_dir}/part-{_next_part(files):05d}.parquet"
            return _Plan(table, "append", rel, rest, before=before, written=written,
                         collapsed=collapsed, after=before + written)
        frame = pl.concat([old, rest.lazy()], how="diagonal_relaxed")
        return _Plan(table, "rewrite", f"{table}.parquet", frame, drop, before,
                     written, collapsed, 0, before + written)
    assert merged_all is not None
    old_rest = old.join(hits.select(kcols).unique().lazy(), on=kcols, how="anti",
                        nulls_equal=True)
    frame = pl.concat([old_rest, merged_all.lazy()], how="diagonal_relaxed")
    rel = (f"{rel_dir}/part-00000.parquet" if layout == "dir"
           else f"{table}.parquet")
    return _Plan(table, "rewrite", rel, frame, drop, before, written, collapsed, dup,
                 before + written - dup)


# -- writing the new version ---------------------------------------------------------
def write_into(parsed: Parsed, target: Target, *, fmt: str, sources: Sequence[str],
               files: Sequence[RawFile], command: str | None, strict: bool,
               options: dict[str, Any] | None,
               skipped: Sequence[dict[str, Any]] = ()) -> IngestReport:
    """Write the dataset's next version with the rows ``parsed`` adds.

    Raises
    ------
    IngestError
        The accounting does not balance, ``strict`` and a record was quarantined, a
        raw file changed, id types differ from the dataset's, a table cannot be
        merged, or the new version breaks the data contract. Nothing is written.
    """
    from measure import open as open_dataset
    from measure.dataset import DatasetWriter
    from measure.dataset._pin import NOT_DATA, dataset_files
    from measure.errors import DataContractError

    check_parsed(parsed, fmt=fmt, files=files, strict=strict)
    _check_id_types(parsed, target)
    base = parsed.accounting()
    new_tables = {**parsed.tables, QUARANTINE: parsed.quarantine.frame()}
    plans = {t: plan_table(target, t, df, () if t == QUARANTINE else parsed.key(t))
             for t, df in new_tables.items()}
    dropped = {rel for p in plans.values() for rel in p.drop}
    carried = [rel for rel in (dataset_files(target.path) if target.exists else [])
               if rel not in dropped]
    notes = list(parsed.notes)
    stale = [n for n in sorted(NOT_DATA - {"manifest.json"})
             if (target.path / n).is_file()]
    if stale:
        notes.append(f"{', '.join(stale)} described the previous version and "
                     "was not carried over; run `measure report` again")
    old = target.manifest or {}
    extra = {k: v for k, v in old.items() if k not in REBUILT}
    inputs = _union_inputs(old.get("inputs") or [], manifest_inputs(parsed, files))
    with DatasetWriter(target.path, name=target.name, command=command,
                       inputs=inputs, extra=extra, overwrite=True) as w:
        for rel in carried:
            w.copy_file(rel, target.path / rel)
        for t, p in plans.items():
            if p.action == "keep":
                continue
            assert p.frame is not None
            n = w.write_parquet(p.relpath, with_contract_columns(t, p.frame))
            if p.action == "append":
                p.after = p.before + n
            else:
                p.after = n
        tables = _accounting(base, plans)
        for t, d in tables.items():
            if not table_balanced(d):
                raise IngestError(
                    f"accounting does not balance for table '{t}' ({d}); nothing "
                    f"was written. This is a bug: please report it with the inputs")
        entry = ingest_entry(parsed, fmt=fmt, sources=sources, files=files,
                             command=command, options=options, tables=tables,
                             previous=target.previous_id, skipped=skipped)
        entry["notes"] = notes
        w.extra = {**extra, "ingests": target.ingests() + [entry]}
        try:
            open_dataset(w.tmp, validate="full",
                         naive_timestamps_are_utc=target.naive_utc).close()
        except DataContractError as e:
            raise IngestError(f"adding this ingest would break the data contract, so "
                              f"nothing was written: {e}") from e
    m = w.manifest or {}
    q = parsed.quarantine
    return IngestReport(
        format=fmt, source=" ".join(sources), out=str(target.path),
        dataset_id=f"{m.get('name')}@sha256:{m.get('digest')}",
        digest=str(m.get("digest")), rows_read=parsed.rows_read,
        rows_written={t: p.written for t, p in plans.items()},
        record_tables=parsed.record_tables, rows_quarantined=len(q),
        rows_collapsed={t: d["collapsed"] for t, d in tables.items()
                        if d["kind"] != DERIVED},
        reasons=q.counts(), inputs=tuple(manifest_inputs(parsed, files)),
        assumptions=parsed.assumptions, notes=tuple(notes), tables=tables,
        previous_id=target.previous_id, skipped=tuple(skipped))


def _accounting(base: dict[str, dict[str, Any]], plans: dict[str, _Plan]
                ) -> dict[str, dict[str, Any]]:
    """Return the per-table accounting, including the merge with the dataset."""
    out = {}
    for t, d in base.items():
        p = plans[t]
        out[t] = {**d, "written": p.written, "collapsed": d["collapsed"] + p.collapsed,
                  "before": p.before, "after": p.after}
        if p.existing_duplicates:
            out[t]["existing_duplicates"] = p.existing_duplicates
    return out


def _union_inputs(old: list[dict[str, Any]], new: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    seen = {(i.get("path"), i.get("sha256"), i.get("role")) for i in old}
    out = list(old)
    for i in new:
        k = (i.get("path"), i.get("sha256"), i.get("role"))
        if k not in seen:
            seen.add(k)
            out.append(i)
    return out
