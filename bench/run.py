"""Run every benchmark in bench/ and assemble BENCHMARKS.md from bench/results/*.md.

Each ``bench/bench_<family>.py`` is a script that measures its target against a baseline
in the same run and writes ``bench/results/<family>.md``. Usage::

    python bench/run.py                 # run all, then assemble
    python bench/run.py --only churn    # run one
    python bench/run.py --assemble      # only rebuild BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = (
    "simulate",
    "simulate_stress",
    "census",
    "capture",
    "churn",
    "resurrection",
    "describe",
)

HEADER = """# Benchmarks

Every figure is measured on the project's reference machine (2 cores, 24 GiB) and is
stated as a ratio against a baseline measured **in the same run** (never a bare time).
Peak memory is the maximum resident set size of the process doing the work. Re-run with
`make bench` (or `python bench/run.py --only FAMILY`); each section says which command
produced it and when. Sizes that could not be run here are labelled as extrapolations.

"""


def assemble() -> Path:
    """Concatenate the per-family result files into BENCHMARKS.md."""
    parts = [HEADER, f"Python {platform.python_version()} on {platform.machine()}.\n"]
    results = HERE / "results"
    names = [n for n in ORDER if (results / f"{n}.md").is_file()]
    names += sorted(p.stem for p in results.glob("*.md") if p.stem not in ORDER)
    for n in names:
        parts.append("\n" + (results / f"{n}.md").read_text().strip() + "\n")
    missing = [n for n in ORDER if n not in names]
    if missing:
        parts.append("\n## Not yet measured\n\n" + "".join(
            f"- {n}: no results file (bench/bench_{n}.py has not been run)\n"
            for n in missing))
    out = ROOT / "BENCHMARKS.md"
    out.write_text("".join(parts))
    return out


def main() -> int:
    """Run the benchmarks and assemble the results."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="family to run (repeatable)")
    ap.add_argument("--assemble", action="store_true", help="only assemble")
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
    print(f"wrote {assemble()}")
    return status


if __name__ == "__main__":
    sys.exit(main())
