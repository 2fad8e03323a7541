"""``measure demo``: the main job on the embedded default."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from measure._cli_util import add_json_flag, emit

#: Where the demo world is written and its seed, as ``measure.demo.DEMO_PATH`` and
#: ``DEMO_SEED`` (a test checks that they agree); listed here so that building
#: the parser does not import the simulator.
DEMO_PATH = "data/processed/demo"
DEMO_SEED = 20141101


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo", help="Simulate the demo world and run every analysis on it",
        description="Simulate the embedded default world (the `demo` preset) into "
        "data/processed/demo, unless it is already there and intact, then run every "
        "analysis and write the HTML report.")
    p.add_argument("--path", default=DEMO_PATH,
                   help=f"Dataset directory (default {DEMO_PATH})")
    p.add_argument("--seed", type=int, default=DEMO_SEED,
                   help=f"Seed of the demo world (default {DEMO_SEED})")
    p.add_argument("--no-report", action="store_true", help="Skip the HTML report")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    from measure.demo._run import run_demo

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout)

    out = run_demo(args.path, seed=args.seed, report=not args.no_report, log=log)
    payload = {
        "dataset": out.dataset_id, "path": str(out.path), "reused": out.reused,
        "results": {k: v.to_dict() for k, v in out.results.items()},
        "skipped": out.skipped, "seconds": out.seconds,
        "report": str(out.report) if out.report else None,
    }
    if args.json:
        emit(args, payload, "")
    elif out.report:
        print(f"\nOpen the report: {out.report}")
    return 0
