"""Benchmark: start-up time of the ``measure`` command line.

Times, each in a fresh subprocess and repeated (best and median of ``--repeat``):

* ``python -c pass``: the **baseline**, the interpreter's own start-up in the same
  run;
* ``measure --help``: the top-level parser with every command (target < 0.5 s);
* ``measure census --help``: one command's parser;
* ``python -c "import measure"``: the package alone.

It also lists which heavy libraries (numpy, polars, duckdb, pyarrow, scipy,
matplotlib, pandas) are imported once the full parser is built. Writes
``bench/results/cli.md``, the section of BENCHMARKS.md for this workload.

    python bench/bench_cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_S = 0.5
HEAVY = ("numpy", "polars", "duckdb", "pyarrow", "scipy", "matplotlib", "pandas")


def measure_command() -> list[str]:
    """The ``measure`` console script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).parent / "measure"
    if script.is_file():
        return [str(script)]
    found = shutil.which("measure")
    return [found] if found else [sys.executable, "-m", "measure"]


def time_command(argv: list[str], repeat: int) -> dict[str, float]:
    """Wall and CPU seconds (user + system) of ``argv`` over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime
                    - before.ru_stime)
    return {"best": min(walls), "median": statistics.median(walls),
            "cpu_best": min(cpus)}


def heavy_after_parser() -> list[str]:
    """Heavy libraries in ``sys.modules`` after building the full parser."""
    code = ("import sys; from measure.cli import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True).stdout.strip()
    return [m for m in out.split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs of each command (default 5)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "cli.md",
                    help="results file (default bench/results/cli.md)")
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    cli = measure_command()
    runs = [
        ("`python -c pass` (baseline)", [sys.executable, "-c", "pass"]),
        ("`measure --help`", [*cli, "--help"]),
        ("`measure census --help`", [*cli, "census", "--help"]),
        ('`python -c "import measure"`', [sys.executable, "-c", "import measure"]),
    ]
    res = {}
    for name, argv in runs:
        res[name] = time_command(argv, args.repeat)
        print(f"{name}: best {res[name]['best']:.3f} s", flush=True)
    heavy = heavy_after_parser()
    base = res[runs[0][0]]["best"]
    from run import run_line

    lines = [
        "## CLI start-up (`bench/bench_cli.py`)",
        "",
        f"Wall time of the `measure` command line printing help, each run in a "
        f"fresh subprocess, best and median of {args.repeat} runs. **Baseline:** "
        "the interpreter's own start-up (`python -c pass`) in the same run; the "
        "ratio is best time / best baseline time. The parser declares every "
        "command's options without importing the libraries that do the work; a "
        "command imports its method family when it runs.",
        "",
        run_line(started, load_start),
        "",
        "| command | best wall (s) | median wall (s) | best CPU (s) | ratio to "
        "baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, _ in runs:
        r = res[name]
        lines.append(f"| {name} | {r['best']:.3f} | {r['median']:.3f} | "
                     f"{r['cpu_best']:.3f} | {r['best'] / base:.1f} |")
    shown = ", ".join(heavy) if heavy else "none"
    best = res[runs[1][0]]["best"]
    lines += [
        "",
        f"Heavy libraries ({', '.join(HEAVY)}) imported after building the full "
        f"parser: {shown}.",
        "",
        f"Target (`measure --help` under {TARGET_S} s, best of {args.repeat}): "
        f"{'met' if best < TARGET_S else 'not met'} ({best:.3f} s).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
