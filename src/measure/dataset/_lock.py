"""One writer per dataset: an advisory ``flock`` on a lock file beside the dataset.

Every command that writes a dataset (``measure ingest`` with ``--out`` or
``--into``, ``pin``, ``simulate``, ``export``, ``purge``) holds an exclusive lock
on ``.<name>.lock`` in the dataset's parent directory while it reads and writes.
A second writer of the same dataset fails at once with
:class:`~measure.errors.DatasetLockedError`, naming the dataset and the process
that holds the lock.

Why ``fcntl.flock`` on a file beside the dataset:

* the kernel releases a ``flock`` when its process ends, however it ends (a
  ``kill -9``, a crash, a power cut), so a lock left by a killed writer never
  blocks the next one; a lock file made with ``O_CREAT | O_EXCL`` would stay
  behind and need guessing whether its owner still runs;
* the dataset directory itself is replaced by a new version on every write, so
  a lock file inside it would move with the old version.

The lock file holds the holder's process id and command (for the message); it is
removed when the lock is released. The lock is advisory: it keeps measure's
writers apart, not other programs. A process may take the lock of a dataset again
while it holds it (the inner hold is a no-op). Where ``fcntl`` is missing
(Windows) writers are not serialised.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from measure._io import clean_stale
from measure.errors import DatasetLockedError

_HELD: dict[tuple[str, int], int] = {}  # (lock file, thread) -> depth
_UPDATING: set[tuple[str, int]] = set()  # (dataset, thread) inside `updating`
_GUARD = threading.Lock()


def target_path(path: str | os.PathLike[str]) -> Path:
    """Absolute path of a dataset (its parent resolved, its own name kept)."""
    p = Path(path)
    return p.absolute().parent.resolve() / p.name


def lock_file(path: str | os.PathLike[str]) -> Path:
    """Return the lock file of the dataset at ``path`` (``.<name>.lock`` beside it)."""
    t = target_path(path)
    return t.parent / f".{t.name}.lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:  # pragma: no cover - unreadable lock file
        text = ""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        return "a process that is starting (pid not yet written)"
    pid = lines[0].strip()
    cmd = lines[1].strip() if len(lines) > 1 else ""
    return f"pid {pid}" + (f", {cmd}" if cmd else "")


@contextmanager
def writer_lock(path: str | os.PathLike[str], *, action: str = "write"
                ) -> Iterator[Path]:
    """Hold the writer lock of the dataset at ``path`` for the ``with`` block.

    On entry, what killed writers of ``path`` left behind (temporary siblings, an
    old version renamed aside) is cleaned up or restored.

    Parameters
    ----------
    path
        The dataset directory (it need not exist yet).
    action
        What the holder does, written into the lock file for other writers'
        messages (e.g. ``"measure pin"``).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    DatasetLockedError
        Another process (or another thread of this one) holds the lock.
    """
    target = target_path(path)
    lf = lock_file(target)
    key = (str(lf), threading.get_ident())
    with _GUARD:
        depth = _HELD.get(key, 0)
        if depth:
            _HELD[key] = depth + 1
    if depth:
        try:
            yield lf
        finally:
            with _GUARD:
                _HELD[key] -= 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: writers not serialised
        yield lf
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lf, target, fcntl)
    with _GUARD:
        _HELD[key] = 1
    try:
        os.ftruncate(fd, 0)
        cmd = " ".join(os.path.basename(a) if i == 0 else a
                       for i, a in enumerate(sys.argv[:4]))
        os.pwrite(fd, f"{os.getpid()}\n{action} ({cmd})\n".encode(), 0)
        clean_stale(target)
        yield lf
    finally:
        with _GUARD:
            _HELD.pop(key, None)
        try:
            os.unlink(lf)
        except FileNotFoundError:  # pragma: no cover - removed by hand
            pass
        os.close(fd)  # releases the flock


def _acquire(lf: Path, target: Path, fcntl: object) -> int:
    """Open ``lf`` and take its exclusive flock without waiting; return the fd."""
    while True:
        fd = os.open(lf, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[attr-defined]
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DatasetLockedError(
                f"dataset '{target}' is being written by another process "
                f"({holder}; lock file '{lf}'); wait until it finishes and retry. "
                "The lock is released when that process ends, even if it is "
                "killed.") from None
        except BaseException:
            os.close(fd)
            raise
        # The holder removes the lock file on release: if the file we locked is
        # no longer the one at the path, another writer may hold a new one.
        try:
            same = os.stat(lf).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def is_locked(path: str | os.PathLike[str]) -> bool:
    """Whether some process holds the writer lock of the dataset at ``path``."""
    lf = lock_file(path)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fd = os.open(lf, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def updating(path: str | os.PathLike[str], *, action: str = "update"
             ) -> Iterator[dict[str, str | None]]:
    """Hold the writer lock while files of a dataset are changed in place; re-pin.

    For writers that add or replace files inside an existing dataset (a coding
    sample's design, imported codes, a population table) rather than writing a
    new version. When the dataset was pinned and matched its manifest before the
    block, it is pinned again after it (a new id; sizes and times recorded), so
    it stays openable; data that already differed from the manifest are not
    pinned (that would hide the earlier change). Nested in another update of the
    same dataset (same thread), it does nothing: the outer one pins.

    Yields
    ------
    dict
        Filled after the block: ``"id"``, the new ``name@sha256:<digest>`` when
        the dataset was pinned again, else ``None``.
    """
    from measure.dataset._pin import check_dataset, write_manifest

    out: dict[str, str | None] = {"id": None}
    key = (str(target_path(path)), threading.get_ident())
    if key in _UPDATING:  # an outer update of the same dataset pins at its end
        yield out
        return
    with writer_lock(path, action=action):
        before = check_dataset(path, hash_changed=False)
        _UPDATING.add(key)
        try:
            yield out
        finally:
            _UPDATING.discard(key)
        if before.pinned and before.ok:
            m = write_manifest(path, lock=False)
            out["id"] = f"{m['name']}@sha256:{m['digest']}"
