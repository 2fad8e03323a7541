"""One writer per dataset: the writer lock, stale locks, leftovers of killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from measure import DatasetWriter
from measure._io import clean_stale
from measure.cli import main
from measure.dataset import check_dataset, verify_dataset, writer_lock
from measure.dataset._lock import is_locked, lock_file
from measure.errors import DatasetLockedError

HOLD = """
import sys, time
from measure.dataset import writer_lock
with writer_lock(sys.argv[1], action="test holder"):
    print("ready", flush=True)
    time.sleep(60)
"""


def _tiny(path: Path, n: int = 2) -> Path:
    with DatasetWriter(path, overwrite=True) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": list(range(1, n + 1)),
                                                "screen_name": ["sim_a"] * n}))
    return path


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A dataset and another process holding its writer lock."""
    ds = _tiny(tmp_path / "ds")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield ds, proc
    proc.kill()
    proc.wait()


def test_second_writer_fails_at_once_naming_dataset_and_pid(
        holder: tuple[Path, subprocess.Popen[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    ds, proc = holder
    assert is_locked(ds)
    assert main(["pin", str(ds)]) == 1
    err = capsys.readouterr().err
    assert f"dataset '{ds}'" in err and f"pid {proc.pid}" in err
    assert "test holder" in err
    with pytest.raises(DatasetLockedError, match=f"pid {proc.pid}"):
        _tiny(ds)
    assert main(["simulate", str(ds), "--seed", "1", "--preset", "small",
                 "--scale", "0.05", "--overwrite"]) == 1
    assert f"pid {proc.pid}" in capsys.readouterr().err
    ids = ds.parent / "ids.txt"
    ids.write_text("1\n")
    assert main(["purge", str(ds), "--ids", str(ids)]) == 1
    assert f"pid {proc.pid}" in capsys.readouterr().err
    # the dataset is untouched
    assert verify_dataset(ds).ok


def test_export_and_ingest_into_take_the_lock(
        holder: tuple[Path, subprocess.Popen[str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ds, proc = holder
    src = _tiny(tmp_path / "src")
    key = tmp_path / "key.txt"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    assert main(["export", str(src), "--pseudonymise", "--key-file", str(key),
                 "--out", str(ds), "--overwrite"]) == 1
    assert f"pid {proc.pid}" in capsys.readouterr().err
    from measure.ingest._into import locked

    with pytest.raises(DatasetLockedError, match=f"pid {proc.pid}"), locked(ds):
        pass


def test_stale_lock_of_a_killed_writer_does_not_block(
        holder: tuple[Path, subprocess.Popen[str]],
        capsys: pytest.CaptureFixture[str]) -> None:
    ds, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_file(ds).exists()  # the file stays; its flock died with the process
    assert not is_locked(ds)
    assert main(["pin", str(ds)]) == 0
    assert not lock_file(ds).exists()
    capsys.readouterr()


def test_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(
        tmp_path: Path) -> None:
    ds = _tiny(tmp_path / "ds")
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with writer_lock(ds):
                pass
        except DatasetLockedError as e:
            errors.append(e)

    with writer_lock(ds), writer_lock(ds):
        _tiny(ds, 3)  # DatasetWriter inside the held lock
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])
    with writer_lock(ds):  # released after the outer block
        pass


def test_next_writer_removes_leftovers_and_verify_ignores_temp_files(
        tmp_path: Path) -> None:
    ds = _tiny(tmp_path / "ds")
    sibling = tmp_path / ".ds.tmp-0123456789ab"
    sibling.mkdir()
    (sibling / "accounts.parquet").write_bytes(b"half written")
    inside = ds / ".manifest.json.tmp-0123456789ab"
    inside.write_text("{")
    assert verify_dataset(ds).ok and check_dataset(ds).ok
    _tiny(ds, 3)
    assert not sibling.exists() and not inside.exists()


def test_old_version_renamed_aside_is_restored(tmp_path: Path) -> None:
    # what a crash between the two renames of a swap without exchange leaves
    ds = _tiny(tmp_path / "ds")
    aside = tmp_path / ".ds.old-0123456789ab"
    os.rename(ds, aside)
    with writer_lock(ds):
        assert ds.is_dir() and not aside.exists()
    assert verify_dataset(ds).ok
    assert clean_stale(ds) == []


def test_in_place_update_of_a_pinned_dataset_pins_it_again(tmp_path: Path) -> None:
    from measure.dataset._lock import updating

    ds = _tiny(tmp_path / "ds")
    with updating(ds, action="test") as pin, updating(ds) as inner:
        assert is_locked(ds)
        pl.DataFrame({"account_id": [1], "label": ["supporter"]}).write_parquet(
            ds / "labels.parquet")
    assert inner["id"] is None  # the outer update pins, once
    assert pin["id"] is not None and pin["id"].split("@")[0] == "ds"
    rep = check_dataset(ds)
    assert rep.ok and f"sha256:{rep.expected}" in pin["id"]
    assert not is_locked(ds)


def test_in_place_update_does_not_bless_data_that_already_differed(
        tmp_path: Path) -> None:
    from measure.dataset._lock import updating

    ds = _tiny(tmp_path / "ds")
    (ds / "notes.txt").write_text("changed before the update\n")
    with updating(ds) as pin:
        pl.DataFrame({"account_id": [1], "label": ["supporter"]}).write_parquet(
            ds / "labels.parquet")
    assert pin["id"] is None
    kinds = {d["path"] for d in check_dataset(ds).differences}
    assert kinds == {"notes.txt", "labels.parquet"}
