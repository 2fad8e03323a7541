"""Run the benchmarks in bench/ and assemble BENCHMARKS.md from bench/results/*.md.

Each ``bench/bench_<workload>.py`` is a script that measures its workload against a
baseline in the same run and writes ``bench/results/<workload>.md``, the section of
BENCHMARKS.md for that workload. Usage::

    python bench/run.py                       # run all, then assemble
    python bench/run.py --only churn          # run one (repeatable), then assemble
    python bench/run.py --assemble            # only rebuild BENCHMARKS.md
    python bench/run.py --assemble --out F    # write the assembled file to F instead
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
#: Workloads in the order of their sections in BENCHMARKS.md; ``python bench/run.py``
#: runs them in this order.
ORDER = (
    "simulate",
    "simulate_stress",
    "open",
    "census",
    "spark",
    "capture",
    "capture_latent_class",
    "churn",
    "resurrection",
    "resurrection_splink",
    "resurrection_splink_scale",
    "describe",
    "ingest",
    "cli",
)

HEADER = """# Benchmarks

This file records how fast `measure` runs on large inputs and how much memory it
needs. Each section covers one workload and shows the **latest run of that
workload**: the data and their sizes, the command, the measured table, and the
comparison with a **baseline measured in the same run** (same machine, same data,
minutes apart). Figures are read as ratios against that baseline, never as bare
times. Where a workload has a target, the section says whether the run meets it.
Sizes that were not run are labelled as extrapolations.

**Machine.** 2 CPU cores, 24 GiB RAM, x86_64, Python 3.11.7. The machine is
shared with other jobs, so wall seconds depend on its load (each section gives
the 1-minute load average where it was recorded); CPU seconds (user + system,
all threads) are the steadier figure.

**Peak memory** is the maximum resident set size (RSS) of the process doing the
work. Every measured step runs in a fresh subprocess, so its peak is its own.

**Reproducing.** Each workload has a script `bench/bench_<name>.py` that runs
the workload and its baseline and writes `bench/results/<name>.md`; the command
of each run is given in its section, and `python bench/bench_<name>.py --help`
lists the options. `python bench/run.py --only <name>` runs one script with its
default options; `python bench/run.py` (or `make bench`) runs every script in
the order of the sections below, and `python bench/run.py --assemble` rebuilds
this file from `bench/results/*.md` (`--out FILE` writes it elsewhere).
Generated data are written under `/tmp` or `data/bench/` (ignored by git) and \
reused where the script allows.

"""


def package_version() -> str:
    """Version of the installed ``measure`` package (``measure.__version__``)."""
    try:
        import measure
    except ImportError:
        return "not installed"
    return str(measure.__version__)


def run_line(started: dt.datetime, load_start: float) -> str:
    """The sentence of a results section that says when, where and how it ran.

    Parameters
    ----------
    started : datetime
        Start of the run (UTC).
    load_start : float
        1-minute load average at the start of the run; the one at the end is read
        when this is called.

    Returns
    -------
    str
        Date, machine (architecture, cores, RAM), Python and ``measure`` versions,
        load averages and the command line of the running script.
    """
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    command = shlex.join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    return (
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({os.cpu_count()} CPU cores, {ram:.0f} GiB RAM), Python "
        f"{platform.python_version()}, measure {package_version()}; 1-minute load "
        f"average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
        f"end: `{command}`."
    )


def assemble(out: Path | None = None, results: Path = RESULTS) -> Path:
    """Write BENCHMARKS.md: the header, then one section per results file.

    Parameters
    ----------
    out : Path, optional
        File to write; ``BENCHMARKS.md`` at the repository root by default.
    results : Path
        Folder holding the ``<workload>.md`` sections.

    Returns
    -------
    Path
        The file written. Sections follow ``ORDER``; results files of other
        workloads follow in alphabetical order, and workloads of ``ORDER``
        without a results file are listed at the end.
    """
    names = [n for n in ORDER if (results / f"{n}.md").is_file()]
    names += sorted(p.stem for p in results.glob("*.md") if p.stem not in ORDER)
    parts = [HEADER.rstrip("\n") + "\n"]
    parts += ["\n" + (results / f"{n}.md").read_text().strip() + "\n" for n in names]
    missing = [n for n in ORDER if n not in names]
    if missing:
        parts.append(
            "\n## Not measured\n\n"
            + "".join(
                f"- {n}: no results file; run `python bench/run.py --only {n}`\n"
                for n in missing
            )
        )
    target = Path(out) if out is not None else ROOT / "BENCHMARKS.md"
    target.write_text("".join(parts))
    return target


def main() -> int:
    """Run the benchmarks and assemble the results."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only", action="append", choices=ORDER, help="workload to run (repeatable)"
    )
    ap.add_argument("--assemble", action="store_true", help="only assemble")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write the assembled benchmarks to (default: BENCHMARKS.md)",
    )
    args = ap.parse_args()
    status = 0
    if not args.assemble:
        for n in args.only or ORDER:
            script = HERE / f"bench_{n}.py"
            if not script.is_file():
                print(f"skip {n}: {script.name} missing")
                continue
            print(f"== {script.name}", flush=True)
            status |= subprocess.call([sys.executable, str(script)], cwd=ROOT)
    print(f"wrote {assemble(args.out)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
