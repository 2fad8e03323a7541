"""Kill harness: SIGKILL measure's dataset writers at random points.

Each writer command (``measure simulate``, ``measure ingest --out``, ``measure
ingest --into``, ``measure pin``, ``measure export``) is run as a subprocess and
killed with ``SIGKILL`` after a random delay drawn uniformly between zero and the
command's running time (the median over three runs made first and every later run
that ended before its kill, so that it follows the machine's load). After each
kill the target directory must be in one of three states:

``absent``
    There was no dataset before and there is none now.
``previous``
    Byte for byte the version that was there before the run (the SHA-256 of every
    file, manifest included, is unchanged).
``complete``
    A new version that opens (full contract validation) and verifies (every file
    re-hashed against its manifest).

Anything else is ``corrupt``. Temporary files and directories that a killed writer
leaves behind (``.<name>.tmp-<hex>`` beside or inside the dataset, an old version
``.<name>.old-<hex>``, the lock file ``.<name>.lock``) are counted as
``leftovers``: they are never read as data, and the next writer of the same
dataset removes them (checked at the end of each command's series with one run
that is not killed). A run that ends before its kill is counted as ``finished``,
must exit with status 0 and is not counted as a kill; every kill also checks that
the lock of the killed writer did not block the next one.

Runs are small (the ``small`` preset at scale 0.05, 300-line ingest files) so that
500 kills take some minutes. Run it from the repository root::

    nice -n 19 .venv/bin/python tests/reliability/kill_harness.py --kills 100

or through ``pytest -m slow tests/reliability/test_kill.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMANDS = ("simulate", "ingest", "into", "pin", "export")
OUTCOMES = ("absent", "previous", "complete", "corrupt")


def measure_argv() -> list[str]:
    """The command that runs ``measure`` with this interpreter."""
    return [sys.executable, "-m", "measure"]


def tree_digest(root: Path) -> str | None:
    """SHA-256 over every file under ``root`` (path and content); None if absent.

    Temporary files of an unfinished atomic write (``.<name>.tmp-<hex>``) are left
    out: they are never read as data.
    """
    from measure._io import is_tmp_name, sha256_file

    if not root.exists():
        return None
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(is_tmp_name(part) for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}  {sha256_file(p)}\n".encode())
    return h.hexdigest()


def leftovers(target: Path) -> list[Path]:
    """Temporary entries and lock files a killed writer of ``target`` left behind."""
    from measure._io import is_tmp_name

    out = [p for p in target.parent.iterdir()
           if p.name.startswith(f".{target.name}.")]
    if target.is_dir():
        out += [p for p in target.rglob("*") if is_tmp_name(p.name)]
    return out


def classify(target: Path, previous: str | None) -> str:
    """One of :data:`OUTCOMES` for the state of ``target`` after a kill."""
    from measure.dataset import Dataset, verify_dataset

    now = tree_digest(target)
    if now is None:
        return "absent" if previous is None else "corrupt"
    if now == previous:
        return "previous"
    try:
        if not (target / "manifest.json").is_file() or not verify_dataset(target).ok:
            return "corrupt"
        Dataset(target, validate="full").close()
    except Exception:  # noqa: BLE001 - anything that does not open is corrupt
        return "corrupt"
    return "complete"


@dataclass
class Scenario:
    """One writer command: how to set up the state before a run, and its argv."""

    name: str
    target: Path
    argv: list[str]
    #: prepare(i) sets the target's state before run i (absent or a version)
    prepare: Callable[[int], None]


@dataclass
class Tally:
    """Outcomes of one command's series of kills."""

    command: str
    duration: float = 0.0
    kills: int = 0
    finished: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    leftovers_seen: int = 0
    leftovers_after_clean_run: int = 0
    seconds: float = 0.0
    corrupt_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"command": self.command, "duration_s": round(self.duration, 3),
                "kills": self.kills, "finished": self.finished, **self.outcomes,
                "leftovers_seen": self.leftovers_seen,
                "leftovers_after_clean_run": self.leftovers_after_clean_run,
                "seconds": round(self.seconds, 1),
                "corrupt_examples": self.corrupt_examples}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _copy(src: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, copy_function=shutil.copy2)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def _twitter_lines(n: int, offset: int) -> str:
    lines = []
    for i in range(offset, offset + n):
        uid = 1180000000000000001 + i
        lines.append(json.dumps({
            "collected_at": f"2024-05-0{1 + i % 5}T12:00:00Z",
            "user": {"id": uid, "id_str": str(uid), "screen_name": f"sim_u{i}",
                     "name": f"Sim {i}", "description": "simulated account",
                     "created_at": "Wed Oct 10 20:19:24 +0000 2018",
                     "followers_count": i, "friends_count": 80,
                     "statuses_count": 1500, "lang": "en", "protected": False}}))
    return "\n".join(lines) + "\n"


def _into_scenario(folder: Path, prev: Path, argv: list[str]) -> Scenario:
    """``measure ingest --into``: every run adds the same file to a fresh copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "ds"

    def prepare(i: int) -> None:
        _remove(target)
        _copy(prev, target)

    return Scenario("into", target, [*argv, str(target)], prepare)


def _pin_scenario(folder: Path, unpinned: Path, stale: Path, argv: list[str]
                  ) -> Scenario:
    """``measure pin``: even runs pin an unpinned dataset, odd runs a changed one."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "ds"

    def prepare(i: int) -> None:
        _remove(target)
        _copy(stale if i % 2 else unpinned, target)

    return Scenario("pin", target, [*argv, str(target)], prepare)


def _versioned(name: str, work: Path, base: Path, argv_prev: list[str],
               argv: list[str]) -> Scenario:
    """A command writing a whole dataset: even runs start without one, odd runs
    replace a previous version (made by ``argv_prev``)."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "ds"
    prev = base / f"{name}-previous"
    if not prev.exists():
        _check(_run(argv_prev, work), f"{name} (previous version)")

    def prepare(i: int) -> None:
        _remove(target)
        if i % 2:
            _copy(prev, target)

    return Scenario(name, target, argv, prepare)


def build_scenarios(work: Path, commands: tuple[str, ...]) -> list[Scenario]:
    """Build the inputs and previous versions each command's runs start from."""
    m = measure_argv()
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base"
    base.mkdir(exist_ok=True)
    sim = ["--preset", "small", "--scale", "0.05"]
    world = base / "world"
    if not world.exists():
        _check(_run([*m, "simulate", str(world), "--seed", "11", *sim], work),
               "simulate (base world)")
    a, b = base / "a.jsonl", base / "b.jsonl"
    a.write_text(_twitter_lines(300, 0))
    b.write_text(_twitter_lines(300, 200))  # overlaps a: collapsed and new rows
    key = base / "key.txt"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    out: list[Scenario] = []

    if "simulate" in commands:
        t = work / "simulate" / "ds"
        out.append(_versioned(
            "simulate", work, base,
            [*m, "simulate", str(base / "simulate-previous"), "--seed", "12", *sim],
            [*m, "simulate", str(t), "--seed", "13", *sim, "--overwrite"]))
    if "ingest" in commands:
        t = work / "ingest" / "ds"
        out.append(_versioned(
            "ingest", work, base,
            [*m, "ingest", str(b), "--format", "twitter-v1", "--out",
             str(base / "ingest-previous")],
            [*m, "ingest", str(a), "--format", "twitter-v1", "--out", str(t),
             "--overwrite"]))
    if "export" in commands:
        t = work / "export" / "ds"
        out.append(_versioned(
            "export", work, base,
            [*m, "export", str(world), "--pseudonymise", "--key-file", str(key),
             "--out", str(base / "export-previous"), "--id-mode", "hmac"],
            [*m, "export", str(world), "--pseudonymise", "--key-file", str(key),
             "--out", str(t), "--overwrite"]))
    if "into" in commands:
        into_prev = base / "into-previous"
        if not into_prev.exists():
            _check(_run([*m, "ingest", str(a), "--format", "twitter-v1", "--out",
                         str(into_prev)], work), "ingest (into base)")
        out.append(_into_scenario(work / "into", into_prev,
                                  [*m, "ingest", str(b), "--format", "twitter-v1",
                                   "--into"]))
    if "pin" in commands:
        unpinned = base / "pin-unpinned"
        stale = base / "pin-stale"
        if not unpinned.exists():
            _copy(world, unpinned)
            (unpinned / "manifest.json").unlink()
            _copy(world, stale)
            (stale / "notes.txt").write_text("a file added after pinning\n")
        out.append(_pin_scenario(work / "pin", unpinned, stale, [*m, "pin"]))
    order = {c: i for i, c in enumerate(COMMANDS)}
    return sorted(out, key=lambda s: order[s.name])


def run_series(sc: Scenario, kills: int, rng: random.Random, work: Path,
               log: Callable[[str], None] = lambda _m: None) -> Tally:
    """Kill ``sc``'s command ``kills`` times at random points; tally the outcomes."""
    tally = Tally(sc.name)
    t0 = time.perf_counter()
    times = []
    for i in range(3):  # the command's duration, from runs that are not killed
        sc.prepare(i)
        s = time.perf_counter()
        _check(_run(sc.argv, work), f"{sc.name} (timing run)")
        times.append(time.perf_counter() - s)
    i = 0
    while tally.kills < kills:
        i += 1
        if i > 10 * kills:
            raise RuntimeError(f"{sc.name}: only {tally.kills} kills in {i} runs")
        # the median running time of the runs that were not killed: it follows
        # the machine's load
        tally.duration = sorted(times)[len(times) // 2]
        sc.prepare(i)
        before = tree_digest(sc.target)
        delay = rng.uniform(0.0, tally.duration)
        start = time.perf_counter()
        proc = subprocess.Popen(sc.argv, cwd=work, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            tally.kills += 1
            outcome = classify(sc.target, before)
            tally.outcomes[outcome] += 1
            tally.leftovers_seen += len(leftovers(sc.target))
            if outcome == "corrupt" and len(tally.corrupt_examples) < 5:
                tally.corrupt_examples.append(f"run {i}, delay {delay:.3f}s")
            if tally.kills % 25 == 0:
                log(f"  {sc.name}: {tally.kills} kills")
            continue
        finally:
            if proc.stderr is not None:
                err = proc.stderr.read().decode(errors="replace")
                proc.stderr.close()
        tally.finished += 1
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:  # e.g. a lock left by a killed writer blocked it
            raise RuntimeError(f"{sc.name}: run {i} failed ({proc.returncode}): "
                               f"{err[-2000:]}")
        got = classify(sc.target, before)
        if got != "complete":
            raise RuntimeError(f"{sc.name}: run {i} finished (after less than "
                               f"{delay:.2f} s) but left the target {got}: {err}")
    # one run that is not killed removes whatever the killed ones left
    sc.prepare(1)
    _check(_run(sc.argv, work), f"{sc.name} (clean-up run)")
    tally.leftovers_after_clean_run = len(leftovers(sc.target))
    tally.seconds = time.perf_counter() - t0
    return tally


def run_harness(work: Path, *, kills: int = 100, seed: int = 0,
                commands: tuple[str, ...] = COMMANDS,
                log: Callable[[str], None] = lambda _m: None) -> list[Tally]:
    """Run every command's series of kills in ``work``; return the tallies."""
    rng = random.Random(seed)
    tallies = []
    for sc in build_scenarios(work, commands):
        log(f"{sc.name}: {' '.join(sc.argv[2:])}")
        tallies.append(run_series(sc, kills, rng, work, log))
        log("  " + json.dumps(tallies[-1].to_dict()))
    return tallies


def table(tallies: list[Tally]) -> str:
    """The tallies as a Markdown table."""
    head = ("| command | run (s) | kills | finished | absent | previous | complete | "
            "corrupt | leftovers seen | after clean run |")
    rows = [head, "|" + "---|" * 10]
    for t in tallies:
        o = t.outcomes
        rows.append(f"| {t.command} | {t.duration:.2f} | {t.kills} | {t.finished} | "
                    f"{o['absent']} | {o['previous']} | {o['complete']} | "
                    f"{o['corrupt']} | {t.leftovers_seen} | "
                    f"{t.leftovers_after_clean_run} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the harness and print a table (exit 1 on any corrupt)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=100, help="Kills per command")
    p.add_argument("--seed", type=int, default=0, help="Seed of the kill delays")
    p.add_argument("--commands", default=",".join(COMMANDS),
                   help="Comma-separated subset of " + ", ".join(COMMANDS))
    p.add_argument("--workdir", type=Path, default=None,
                   help="Working directory (default a new temporary one, removed)")
    p.add_argument("--json", action="store_true", help="Print JSON")
    a = p.parse_args(argv)
    import tempfile

    commands = tuple(c.strip() for c in a.commands.split(",") if c.strip())
    tmp = None
    work = a.workdir
    if work is None:
        tmp = tempfile.mkdtemp(prefix="measure-kill-")
        work = Path(tmp)
    try:
        tallies = run_harness(work, kills=a.kills, seed=a.seed, commands=commands,
                              log=lambda m: print(m, file=sys.stderr))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps([t.to_dict() for t in tallies], indent=2))
    else:
        print(table(tallies))
    return 1 if any(t.outcomes["corrupt"] for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
