"""The ``measure`` command line: a thin layer that parses, calls the library, prints.

Each method family adds its subcommands in ``measure/<family>/_cli.py`` through a
``register(subparsers)`` function; each subcommand sets ``func=run`` where
``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from measure import __version__
from measure.errors import MeasureError

FAMILIES = ("dataset", "ingest", "simulate", "census", "capture", "churn",
            "resurrection", "describe", "report", "demo")

DESCRIPTION = """\
measure: count hidden online supporter networks, with honest uncertainty.

Typical session:
  measure simulate data/processed/world --seed 1 --preset small
  measure census data/processed/world          # population size with bounds
  measure churn data/processed/world --json    # suspension survival
  measure pin data/processed/world             # write manifest.json
  measure verify measure.lock                  # re-hash pinned datasets

Run `measure COMMAND --help` for each command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available family's subcommands."""
    parser = argparse.ArgumentParser(
        prog="measure", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"measure {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in FAMILIES:
        try:
            mod = importlib.import_module(f"measure.{family}._cli")
        except ModuleNotFoundError as e:
            if e.name == f"measure.{family}._cli" or e.name == f"measure.{family}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``measure`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MeasureError as e:
        if args.debug:
            traceback.print_exc()
        print(f"measure {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        if args.debug:
            traceback.print_exc()
        print(f"measure {args.command}: error: {e} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
