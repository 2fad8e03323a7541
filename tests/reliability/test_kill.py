"""A killed writer never leaves a half-written dataset (SIGKILL at chosen points).

The default tests kill one write at two fixed points: after the new tables are
written but before the swap (the previous version must remain, byte for byte),
and right after the swap, before the old version is removed (the new version must
be complete). The slow test runs :mod:`tests.reliability.kill_harness`: at least
100 random kills of each writer command.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from measure import DatasetWriter
from measure.dataset import verify_dataset
from tests.reliability.kill_harness import COMMANDS, classify, run_harness, tree_digest

WRITE = """
import os, signal, sys
import polars as pl
import measure._io
from measure import DatasetWriter

target, point = sys.argv[1], sys.argv[2]

def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "after-swap":
    measure._io.shutil.rmtree = die  # the old version is removed after the swap
with DatasetWriter(target, overwrite=True) as w:
    w.write_table("accounts", pl.DataFrame({"account_id": [1, 2, 3],
                                            "screen_name": ["sim_a"] * 3}))
    if point == "before-swap":
        die()
"""


def _previous(path: Path) -> Path:
    with DatasetWriter(path) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [1],
                                                "screen_name": ["sim_a"]}))
    return path


def _kill_at(target: Path, point: str) -> int:
    proc = subprocess.run([sys.executable, "-c", WRITE, str(target), point],
                          capture_output=True, text=True, check=False)
    return proc.returncode


def test_kill_before_swap_leaves_previous_version_and_next_write_succeeds(
        tmp_path: Path) -> None:
    target = _previous(tmp_path / "ds")
    before = tree_digest(target)
    assert _kill_at(target, "before-swap") == -signal.SIGKILL
    assert classify(target, before) == "previous"
    assert tree_digest(target) == before
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "ds")
    assert [n for n in left if n.startswith(".ds.tmp-")], left  # the unfinished copy
    assert ".ds.lock" in left  # its flock died with the process
    # the next writer is not blocked by the stale lock and removes the leftovers
    with DatasetWriter(target, overwrite=True) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [7],
                                                "screen_name": ["sim_b"]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert verify_dataset(target).ok


def test_kill_right_after_swap_leaves_complete_new_version(tmp_path: Path) -> None:
    target = _previous(tmp_path / "ds")
    before = tree_digest(target)
    assert _kill_at(target, "after-swap") == -signal.SIGKILL
    assert classify(target, before) == "complete"
    assert pl.read_parquet(target / "accounts.parquet").height == 3


def test_kill_before_first_version_leaves_no_dataset(tmp_path: Path) -> None:
    target = tmp_path / "ds"
    assert _kill_at(target, "before-swap") == -signal.SIGKILL
    assert classify(target, None) == "absent"


@pytest.mark.slow
def test_random_kills_of_every_writer_never_leave_a_corrupt_dataset(
        tmp_path: Path) -> None:
    tallies = run_harness(tmp_path, kills=100, seed=0)
    assert [t.command for t in tallies] == list(COMMANDS)
    for t in tallies:
        assert t.kills >= 100
        assert t.outcomes["corrupt"] == 0, t.to_dict()
        assert t.leftovers_after_clean_run == 0, t.to_dict()
        assert sum(t.outcomes.values()) == t.kills
        # the kills landed before the new version (absent/previous) as well as
        # after it was in place
        assert t.outcomes["absent"] + t.outcomes["previous"] > 0
