"""Atomic file and dataset writes, and content hashing.

A crash never leaves a half-written file or dataset: everything is written to a
temporary sibling path first and moved into place with ``os.replace``/``rename``.
A dataset directory that already exists is exchanged with the new one in a single
step (Linux ``renameat2(RENAME_EXCHANGE)``), so at every instant the path holds
either the complete old version or the complete new one. Where the exchange is not
available the old version is first renamed aside to ``.<name>.old-<hex>``; if the
process dies before the new version is in place, :func:`recover_dir` (run by the
next writer) puts it back.

Temporary names are ``.<name>.tmp-<12 hex digits>`` (:data:`TMP_RE`); a process
killed while writing leaves such a sibling behind, which is never read as data and
is removed by the next writer of the same path (:func:`clean_stale`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20
#: Names of temporary files and directories (``.<name>.tmp-<hex>``).
TMP_RE = re.compile(r"^\..+\.tmp-[0-9a-f]{12}$")
#: Names of an old dataset version renamed aside during a swap without exchange.
OLD_RE = re.compile(r"^\..+\.old-[0-9a-f]{12}$")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def is_tmp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file or directory name of measure's writers."""
    return bool(TMP_RE.match(name))


def _tmp_sibling(path: Path, kind: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{kind}-{uuid.uuid4().hex[:12]}")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk (a no-op where that is not possible)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """Flush every file and directory under ``root`` to disk."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` that replaces ``path`` on success.

    Whatever the block writes to the yielded path (a file by any writer: polars,
    DuckDB ``COPY``, matplotlib) is moved into place with ``os.replace`` only when the
    block finishes; on an exception the temporary file is removed and ``path`` is
    untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def new_tmp_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Create and return an empty temporary sibling directory of ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"'{path}' already exists; choose another output or pass overwrite=True "
            "(--overwrite on the command line)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.mkdir()
    return tmp


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the paths ``a`` and ``b`` (Linux); False when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - glibc < 2.28, musl
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
                   rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False  # pragma: no cover - file systems without the exchange
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: Path, path: str | os.PathLike[str], *, fsync: bool = True
                ) -> None:
    """Move the finished directory ``tmp`` to ``path``, replacing what was there.

    The new tree is flushed to disk first (``fsync``). An existing directory is
    exchanged with the new one in one step where the platform allows it; otherwise
    it is renamed aside to ``.<name>.old-<hex>`` and removed once the new one is in
    place (:func:`recover_dir` restores it after a crash in between).
    """
    path = Path(path)
    if fsync:
        fsync_tree(tmp)
    if path.exists():
        if _exchange(tmp, path):
            fsync_dir(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = _tmp_sibling(path, "old")
        os.rename(path, old)
        os.rename(tmp, path)
        fsync_dir(path.parent)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.rename(tmp, path)
    fsync_dir(path.parent)


def recover_dir(path: str | os.PathLike[str]) -> Path | None:
    """Restore a dataset left renamed aside by a crash during :func:`replace_dir`.

    Call only while holding the path's writer lock. When ``path`` is absent and an
    old version ``.<name>.old-<hex>`` exists beside it, the newest such version is
    renamed back to ``path`` and returned.
    """
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return None
    prefix = f".{path.name}.old-"
    olds = [p for p in path.parent.iterdir()
            if p.name.startswith(prefix) and OLD_RE.match(p.name) and p.is_dir()]
    if not olds:
        return None
    newest = max(olds, key=lambda p: p.stat().st_mtime_ns)
    os.rename(newest, path)
    fsync_dir(path.parent)
    return path


def clean_stale(path: str | os.PathLike[str]) -> list[Path]:
    """Remove what killed writers of ``path`` left behind; return what was removed.

    Removes the temporary siblings ``.<name>.tmp-<hex>`` and old versions
    ``.<name>.old-<hex>`` of ``path`` (after :func:`recover_dir`), and a temporary
    manifest ``.manifest.json.tmp-<hex>`` inside the directory ``path``. Call only
    while holding the path's writer lock: then no live writer owns them. Other
    temporary files inside a dataset are left alone (another program may be
    writing one, such as a report); they are never read as data.
    """
    path = Path(path)
    recover_dir(path)
    removed: list[Path] = []
    places = [(path.parent, f".{path.name}.tmp-"), (path.parent, f".{path.name}.old-"),
              (path, ".manifest.json.tmp-")]
    for folder, prefix in places:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(prefix) and len(p.name) == len(prefix) + 12:
                _remove(p)
                removed.append(p)
    return removed


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
