"""Atomic file and dataset writes, and content hashing.

A crash never leaves a half-written file or dataset: everything is written to a
temporary sibling path first and moved into place with ``os.replace``/``rename``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")


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


def replace_dir(tmp: Path, path: str | os.PathLike[str]) -> None:
    """Move the finished directory ``tmp`` to ``path``, replacing what was there.

    The old directory is renamed aside first and removed only after the new one is in
    place, so at every instant ``path`` is either the old or the new dataset.
    """
    path = Path(path)
    old = None
    if path.exists():
        old = _tmp_sibling(path)
        os.rename(path, old)
    os.rename(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
