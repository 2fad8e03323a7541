"""``measure ingest``: raw files -> a canonical dataset with a quarantine table."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from measure._cli_util import add_json_flag, emit

EPILOG = """\
examples:
  measure ingest data/raw/lookups/ --format twitter-v1 --out data/processed/lookups
  measure ingest data/raw/twarc2.jsonl --format twitter-v2 --out data/processed/v2
  measure ingest ../shared/reference-data/fifth-tribe/tweets.csv --format fifthtribe \\
      --out data/processed/fifthtribe
  measure ingest data/raw/checks.csv --format table --mapping data/raw/checks.toml \\
      --out data/processed/checks

Rows that cannot be read go to the dataset's 'quarantine' table; the command prints
rows read = rows written + rows quarantined + rows collapsed and fails if it does
not balance. Formats and mapping files are described in docs/ingest.md.
"""


def register(sub: Any) -> None:
    """Add the ``ingest`` subcommand."""
    from measure.ingest import FORMATS

    p = sub.add_parser(
        "ingest", help="turn raw files into a canonical dataset",
        description="Read SOURCE (a raw file or a directory of raw files, never "
        "modified) and write a dataset on the data contract to --out, with a "
        "manifest listing the raw files' SHA-256.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="raw file or directory (normally under data/raw/)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="input format")
    p.add_argument("--out", required=True,
                   help="dataset directory to write (e.g. data/processed/NAME)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping (required for --format table)")
    p.add_argument("--name", help="dataset name (default: the --out directory name)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing dataset at --out")
    p.add_argument("--observed-at", metavar="ISO",
                   help="collection time for Twitter records that carry none, e.g. "
                   "2024-05-01T12:00:00Z")
    p.add_argument("--strict", action="store_true",
                   help="fail on the first unreadable record instead of "
                   "quarantining it")
    add_json_flag(p)
    p.set_defaults(func=run_ingest)


def _argv(args: argparse.Namespace) -> list[str]:
    argv = ["measure", "ingest", str(args.source), "--format", args.format,
            "--out", str(args.out)]
    for flag, value in (("--mapping", args.mapping), ("--name", args.name),
                        ("--observed-at", args.observed_at)):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (("--overwrite", args.overwrite), ("--strict", args.strict)):
        if on:
            argv.append(flag)
    return argv


def run_ingest(args: argparse.Namespace) -> int:
    """Run an ingest and print its report."""
    from measure.ingest import ingest

    report = ingest(args.source, args.format, args.out, args.mapping,
                    name=args.name, overwrite=args.overwrite,
                    observed_at=args.observed_at, strict=args.strict,
                    command=shlex.join(_argv(args)))
    emit(args, report.to_dict(), report.summary())
    return 0 if report.balanced else 1
