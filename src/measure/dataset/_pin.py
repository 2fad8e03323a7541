"""Pinning: manifests, dataset digests, lock files and verification.

The dataset digest is the SHA-256 of the sorted ``path  sha256`` lines of every file
in the dataset (``manifest.json`` excluded); ``name@sha256:<digest>`` identifies a
pinned version. Manifest paths are relative POSIX paths that never leave the dataset.

Each file's entry also records its size and modification time (``bytes``,
``mtime_ns``), which :func:`check_dataset` compares before opening a pinned dataset:
a file whose size and time match is taken as unchanged without reading it, any
other file is re-hashed. Sizes and times are not part of the digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from measure._io import atomic_write_text, is_tmp_name, sha256_file
from measure.dataset._contract import SCHEMA_VERSION
from measure.errors import PinMismatchError, UnsafePathError

MANIFEST = "manifest.json"
# Files in a dataset directory that are not data: the manifest itself and reports
# derived from the data (``measure report`` / ``make demo`` write them beside it).
NOT_DATA = frozenset({MANIFEST, "report.html", "report.pdf"})


def safe_relpath(root: Path, rel: str) -> Path:
    """Resolve manifest path ``rel`` inside ``root``, refusing any escape.

    Raises
    ------
    UnsafePathError
        ``rel`` is absolute, contains ``..``, a backslash or a drive, or resolves
        (through symbolic links) outside ``root``.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePathError(f"manifest path {rel!r} is empty or not a string")
    p = PurePosixPath(rel)
    if (
        p.is_absolute()
        or rel.startswith(("/", "\\"))
        or "\\" in rel
        or ":" in p.parts[0]
        or any(part in ("..", "") for part in p.parts)
    ):
        raise UnsafePathError(
            f"manifest path {rel!r} points outside the dataset '{root}'; manifest "
            "paths must be relative and must not contain '..'"
        )
    full = (root / p).resolve()
    if not full.is_relative_to(root.resolve()):
        raise UnsafePathError(
            f"manifest path {rel!r} resolves to '{full}', outside the dataset '{root}'"
        )
    return root / p


def dataset_files(root: Path) -> list[str]:
    """Relative POSIX paths of every data file.

    Not data: the manifest, reports (:data:`NOT_DATA`) and the temporary files of
    an unfinished atomic write (``.<name>.tmp-<hex>``, never read as data).
    """
    out = []
    for p in root.rglob("*"):
        if p.is_file():
            parts = p.relative_to(root).parts
            if any(is_tmp_name(part) for part in parts):
                continue
            rel = "/".join(parts)
            if rel not in NOT_DATA:
                out.append(rel)
    return sorted(out)


def digest_of(entries: list[tuple[str, str]]) -> str:
    """SHA-256 of the sorted ``path  sha256`` lines (one per file, newline-ended)."""
    lines = "".join(f"{p}  {h}\n" for p, h in sorted(entries))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _rows(path: Path) -> int | None:
    if path.suffix != ".parquet":
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def build_manifest(
    root: str | os.PathLike[str],
    *,
    name: str | None = None,
    command: str | None = None,
    inputs: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hash every file of a dataset and return its manifest (not written)."""
    from measure import __version__

    root = Path(root)
    files = []
    for rel in dataset_files(root):
        full = root / rel
        sha = sha256_file(full)
        st = full.stat()  # after hashing: the size and time of what was hashed
        files.append({"path": rel, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                      "sha256": sha, "rows": _rows(full)})
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name or root.name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "measure_version": __version__,
        "inputs": inputs or [],
        "files": files,
        "digest": digest_of([(f["path"], f["sha256"]) for f in files]),
    }
    if extra:
        manifest.update(extra)
    return manifest


def write_manifest(root: str | os.PathLike[str], *, lock: bool = True,
                   **kwargs: Any) -> dict[str, Any]:
    """Build and atomically write ``manifest.json``; keep earlier provenance fields.

    Keyword arguments are those of :func:`build_manifest`. When a manifest exists and
    ``command``/``inputs`` are not given, its provenance is kept. With ``lock`` (the
    default) the dataset's writer lock is held meanwhile
    (:func:`measure.dataset._lock.writer_lock`); a second writer fails at once.
    """
    if lock:
        from measure.dataset._lock import writer_lock

        with writer_lock(root, action="measure pin"):
            return write_manifest(root, lock=False, **kwargs)
    root = Path(root)
    old: dict[str, Any] = {}
    if (root / MANIFEST).is_file():
        old = json.loads((root / MANIFEST).read_text())
    for key in ("name", "command", "inputs"):
        if kwargs.get(key) is None and key in old:
            kwargs[key] = old[key]
    extra = dict(kwargs.pop("extra", None) or {})
    # Keep every provenance section an earlier writer added (ingest accounting,
    # timestamp declarations, ...): re-pinning must not lose it.
    recomputed = {"schema_version", "created_at", "measure_version", "files", "digest"}
    for key, value in old.items():
        if key not in recomputed and key not in extra and key not in kwargs:
            extra[key] = value
    manifest = build_manifest(root, extra=extra, **kwargs)
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


@dataclass
class VerifyReport:
    """Outcome of re-hashing one dataset against its manifest (and lock entry)."""

    path: str
    name: str | None
    digest: str | None
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.differences

    def text(self) -> str:
        """Human-readable report: one line per difference, expected versus got."""
        if self.ok:
            return f"OK  {self.name}@sha256:{self.digest}  ({self.path})"
        lines = [f"FAILED  {self.name}  ({self.path})"]
        for d in self.differences:
            lines.append(f"  {d['kind']:<11} {d.get('path', '')}: expected "
                         f"{d.get('expected')} but got {d.get('got')}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"path": self.path, "name": self.name, "digest": self.digest,
                "ok": self.ok, "differences": self.differences}


def verify_dataset(root: str | os.PathLike[str], expected_digest: str | None = None
                   ) -> VerifyReport:
    """Re-hash every file of a dataset and compare with its manifest.

    Reports each changed, missing or unexpected file, an edited manifest, and a
    digest differing from ``expected_digest`` (a lock file's entry). This is
    :func:`check_dataset` with ``full=True``, as a report of its own.
    """
    root = Path(root)
    if not (root / MANIFEST).is_file():
        return VerifyReport(str(root), None, None, [{
            "kind": "missing", "path": MANIFEST, "expected": "a manifest",
            "got": "no file (run `measure pin` first)"}])
    rep = check_dataset(root, full=True)
    report = VerifyReport(str(root), rep.name, rep.digest, list(rep.differences))
    if not rep.pinned:
        report.differences.append({"kind": "manifest", "path": MANIFEST,
                                   "expected": "a manifest with a digest",
                                   "got": "none (run `measure pin` first)"})
    if expected_digest and expected_digest != report.digest:
        report.differences.append({"kind": "digest", "path": "(dataset)",
                                   "expected": f"sha256:{expected_digest}",
                                   "got": f"sha256:{report.digest}"})
    return report


@dataclass
class IntegrityReport:
    """Whether a dataset's files are still those its manifest pinned.

    Attributes
    ----------
    path, name
        The dataset directory and its name.
    pinned
        Whether the dataset has a manifest with a digest (unpinned datasets are
        not checked: ``ok`` is true).
    expected
        The pinned digest (hex), from the manifest.
    digest
        The digest of the data as they are (hex): equal to ``expected`` when
        nothing differs; ``None`` when not computed (a file whose size already
        differs is not read by the fast check).
    method
        ``"fast"``: sizes and modification times compared with the manifest and
        only the files that differ (or carry no time) re-hashed; ``"full"``:
        every file re-hashed.
    hashed, files
        Files re-hashed, and files listed in the manifest.
    differences
        One dict per difference: ``kind`` (``changed``, ``missing``,
        ``unexpected``, ``manifest``), ``path``, ``expected``, ``got``.
    """

    path: str
    name: str | None
    pinned: bool
    expected: str | None = None
    digest: str | None = None
    method: str = "fast"
    hashed: int = 0
    files: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the files match the manifest (or the dataset is not pinned)."""
        return not self.differences

    @property
    def id(self) -> str | None:
        """The pinned id ``name@sha256:<digest>``."""
        return f"{self.name}@sha256:{self.expected}" if self.expected else None

    def _lines(self, limit: int = 10) -> list[str]:
        out = [f"  {d['kind']:<10} {d.get('path', '')}: expected {d.get('expected')} "
               f"but got {d.get('got')}" for d in self.differences[:limit]]
        if len(self.differences) > limit:
            out.append(f"  ... and {len(self.differences) - limit} more "
                       "(measure verify lists them all)")
        return out

    def refusal(self, *, allow_hint: bool = True) -> str:
        """Return the error message of a command refused on modified data.

        ``allow_hint`` adds how to analyse the data anyway (``--allow-modified``).
        """
        how = ("every file re-hashed" if self.method == "full" else
               "sizes and modification times compared, files that differ re-hashed")
        end = ("; to analyse them anyway, with a warning on every output, pass "
               "--allow-modified (Python: measure.open(path, allow_modified=True))."
               if allow_hint else ".")
        return "\n".join([
            f"dataset '{self.path}' is pinned as {self.id}, but its files differ "
            f"from the manifest ({how}):", *self._lines(),
            "The numbers would not describe the pinned data. If you changed the "
            f"data on purpose, pin them again (measure pin {self.path}); to list "
            f"every difference run `measure verify {self.path}`" + end])

    def warning(self) -> str:
        """One-line warning carried by every output computed from modified data."""
        what = "; ".join(f"{d['kind']} {d.get('path', '')}"
                         for d in self.differences[:3])
        if len(self.differences) > 3:
            what += f"; {len(self.differences) - 3} more"
        return (f"MODIFIED DATA: the files of dataset '{self.path}' differ from its "
                f"pinned version {self.id} ({what}); these results do not describe "
                "the pinned data (analysed with --allow-modified)")

    def text(self) -> str:
        """Human-readable status for ``measure info``."""
        if not self.pinned:
            return "data: not pinned (no manifest digest; run `measure pin`)"
        how = ("every file re-hashed" if self.method == "full" else
               f"fast check: sizes and times, {self.hashed} of {self.files} files "
               "re-hashed; --verify re-hashes all")
        if self.ok:
            return f"data: match the pinned digest ({how})"
        lines = [f"data: DIFFER from the pinned digest ({how})",
                 "digest of the data as they are: "
                 + (f"sha256:{self.digest}" if self.digest else "not computed")]
        return "\n".join(lines + self._lines())

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"path": self.path, "name": self.name, "pinned": self.pinned,
                "ok": self.ok, "method": self.method, "expected": self.expected,
                "digest": self.digest, "files": self.files, "hashed": self.hashed,
                "differences": self.differences}


def _fmt_bytes(n: object) -> str:
    return f"{n:,} bytes" if isinstance(n, int) else "an unknown size"


def check_dataset(  # noqa: C901
    root: str | os.PathLike[str],
    *,
    full: bool = False,
    hash_changed: bool = True,
    ignore: tuple[str, ...] | frozenset[str] = (),
) -> IntegrityReport:
    """Check that a pinned dataset's files are those its manifest lists.

    The fast check (the default) compares each file's size and modification time
    with the manifest's ``bytes`` and ``mtime_ns`` and re-hashes only the files
    that differ, carry no time (manifests written before times were recorded) or
    were modified in the same clock tick as the manifest was written (their time
    cannot tell a later change apart). Files added or removed are found by
    listing the directory. A change that keeps both size and time (a deliberate
    forgery of the time) needs ``full=True``.

    Parameters
    ----------
    root
        The dataset directory.
    full
        Re-hash every file.
    hash_changed
        Also hash a file whose size differs, and files not in the manifest, so
        that :attr:`IntegrityReport.digest` (the digest of the data as they are)
        is known; without it the size difference is reported as it is.
    ignore
        Relative paths that are not data (e.g. a report written into the
        directory).

    Returns
    -------
    IntegrityReport
        ``pinned`` is false (and nothing is checked) without a manifest digest.
    """
    root = Path(root)
    mpath = root / MANIFEST
    if not mpath.is_file():
        return IntegrityReport(str(root), root.name, pinned=False)
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        return IntegrityReport(str(root), root.name, pinned=True, differences=[{
            "kind": "manifest", "path": MANIFEST, "expected": "valid JSON",
            "got": f"unreadable JSON ({e})"}])
    if not isinstance(manifest, dict) or not manifest.get("digest") or not \
            isinstance(manifest.get("files"), list):
        return IntegrityReport(str(root), root.name, pinned=False)
    rep = IntegrityReport(str(root), manifest.get("name") or root.name, pinned=True,
                          expected=str(manifest["digest"]),
                          method="full" if full else "fast")
    written_ns = mpath.stat().st_mtime_ns
    listed: dict[str, dict[str, Any]] = {}
    for f in manifest["files"]:
        safe_relpath(root, f["path"])
        listed[f["path"]] = f
    rep.files = len(listed)
    present = set(dataset_files(root)) - set(ignore)
    entries: list[tuple[str, str]] = []
    complete = True
    for rel, f in sorted(listed.items()):
        if rel not in present:
            rep.differences.append({"kind": "missing", "path": rel,
                                    "expected": f"sha256:{f['sha256']} "
                                    f"({_fmt_bytes(f.get('bytes'))})",
                                    "got": "no file"})
            continue
        st = (root / rel).stat()
        size_ok = f.get("bytes") is None or st.st_size == f["bytes"]
        if not size_ok and not (full or hash_changed):
            complete = False
            rep.differences.append({"kind": "changed", "path": rel,
                                    "expected": _fmt_bytes(f["bytes"]),
                                    "got": _fmt_bytes(st.st_size)})
            continue
        if (not full and size_ok and f.get("mtime_ns") == st.st_mtime_ns
                and st.st_mtime_ns < written_ns):
            entries.append((rel, f["sha256"]))
            continue
        got = sha256_file(root / rel)
        rep.hashed += 1
        entries.append((rel, got))
        if got != f["sha256"]:
            rep.differences.append({
                "kind": "changed", "path": rel,
                "expected": f"sha256:{f['sha256']} ({_fmt_bytes(f.get('bytes'))})",
                "got": f"sha256:{got} ({_fmt_bytes(st.st_size)})"})
    for rel in sorted(present - set(listed)):
        if full or hash_changed:
            entries.append((rel, sha256_file(root / rel)))
            rep.hashed += 1
        else:
            complete = False
        rep.differences.append({"kind": "unexpected", "path": rel,
                                "expected": "no file",
                                "got": "a file not in the manifest "
                                f"({_fmt_bytes((root / rel).stat().st_size)})"})
    if rep.expected != digest_of([(p, f["sha256"]) for p, f in listed.items()]):
        rep.differences.append({"kind": "manifest", "path": MANIFEST,
                                "expected": f"sha256:{rep.expected}",
                                "got": "a file list that hashes differently "
                                "(the manifest was edited)"})
    rep.digest = digest_of(entries) if complete else None
    return rep


# -- lock files ----------------------------------------------------------------------
@dataclass(frozen=True)
class LockEntry:
    """One pinned dataset in a lock file."""

    name: str
    digest: str
    path: str

    @property
    def id(self) -> str:
        """``name@sha256:<digest>``."""
        return f"{self.name}@sha256:{self.digest}"


def parse_id(ident: str) -> tuple[str, str]:
    """Split ``name@sha256:<hex>`` into ``(name, hex)``."""
    name, _, rest = ident.partition("@")
    if not rest.startswith("sha256:") or len(rest) != 7 + 64:
        raise PinMismatchError(
            f"'{ident}' is not a dataset id; expected name@sha256:<64 hex digits>")
    return name, rest[7:]


def read_lock(path: str | os.PathLike[str]) -> list[LockEntry]:
    """Read a ``measure.lock`` TOML file."""
    data = tomllib.loads(Path(path).read_text())
    out = []
    for d in data.get("dataset", []):
        name, digest = parse_id(d["id"])
        out.append(LockEntry(name=name, digest=digest, path=d["path"]))
    return out


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid TOML basic string


def write_lock(path: str | os.PathLike[str], entries: list[LockEntry]) -> None:
    """Write a lock file atomically (sorted by name)."""
    lines = ["# measure lock file: the datasets this analysis uses, pinned by content.",
             "# Check with `measure verify measure.lock`.", ""]
    for e in sorted(entries, key=lambda e: e.name):
        lines += ["[[dataset]]", f"id = {_toml_str(e.id)}",
                  f"path = {_toml_str(e.path)}", ""]
    atomic_write_text(path, "\n".join(lines))


def lock_dataset(lock_path: str | os.PathLike[str], dataset: str | os.PathLike[str]
                 ) -> LockEntry:
    """Add or update a dataset's entry in a lock file (pins it first if needed)."""
    root = Path(dataset)
    if not (root / MANIFEST).is_file():
        write_manifest(root)
    manifest = json.loads((root / MANIFEST).read_text())
    lock_path = Path(lock_path)
    entries = read_lock(lock_path) if lock_path.is_file() else []
    rel = os.path.relpath(root.resolve(), lock_path.resolve().parent)
    entry = LockEntry(manifest["name"], manifest["digest"], Path(rel).as_posix())
    entries = [e for e in entries if e.name != entry.name] + [entry]
    write_lock(lock_path, entries)
    return entry


def verify(target: str | os.PathLike[str]) -> list[VerifyReport]:
    """Verify a lock file (every dataset it lists) or one dataset directory."""
    target = Path(target)
    if target.is_dir():
        return [verify_dataset(target)]
    if not target.is_file():
        raise PinMismatchError(f"'{target}' is neither a dataset directory nor a "
                               "lock file")
    reports = []
    for e in read_lock(target):
        root = (target.parent / e.path)
        if not root.is_dir():
            reports.append(VerifyReport(str(root), e.name, None, [{
                "kind": "missing", "path": str(root), "expected": e.id,
                "got": "no dataset directory"}]))
            continue
        r = verify_dataset(root, expected_digest=e.digest)
        r.name = e.name
        reports.append(r)
    return reports
