"""``measure ingest``: raw files -> a canonical dataset with a quarantine table."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from measure._cli_util import add_json_flag, emit

#: The input formats, as ``measure.ingest.FORMATS`` (a test checks that they
#: agree); listed here so that building the parser does not import the readers.
FORMATS: tuple[str, ...] = ("twitter-v1", "twitter-v2", "twarc2-follows", "bluesky",
                            "mastodon", "telegram", "fifthtribe", "table")

EPILOG = """\
examples:
  measure ingest data/raw/lookups/ --format twitter-v1 --out data/processed/lookups
  measure ingest data/raw/twarc2.jsonl --format twitter-v2 --out data/processed/v2
  measure ingest data/raw/followers/level0/ --format twarc2-follows --level 0 \\
      --into data/processed/census
  measure ingest data/raw/jetstream/ data/raw/appview/ --format bluesky --level 0 \\
      --out data/processed/bluesky
  measure ingest data/raw/mastodon/ --format mastodon --level 0 \\
      --out data/processed/mastodon
  measure ingest data/raw/telethon/ --format telegram --out data/processed/telegram
  measure ingest ../shared/reference-data/fifth-tribe/tweets.csv --format fifthtribe \\
      --out data/processed/fifthtribe
  measure ingest data/raw/checks.csv --format table --mapping data/raw/checks.toml \\
      --out data/processed/checks

one dataset from several sources (created when absent, one new version per ingest):
  measure ingest data/raw/seeds.csv --format table --mapping seeds.toml \\
      --into data/processed/census
  measure ingest data/raw/followers/ --format table --mapping follows.toml \\
      --into data/processed/census

Rows that cannot be read go to the dataset's 'quarantine' table; the command prints
rows read = rows written + rows quarantined + rows collapsed for every table and
fails if it does not balance. Files already ingested into the --into dataset (same
SHA-256, format and mapping) are skipped. Formats and mapping files are described
in docs/ingest.md.
"""


def register(sub: Any) -> None:
    """Add the ``ingest`` subcommand."""
    p = sub.add_parser(
        "ingest", help="Turn raw files into a canonical dataset",
        description="Read SOURCE (raw files or directories of raw files, never "
        "modified) and write a dataset on the data contract to --out, or add the "
        "tables they yield to the dataset --into, with a manifest listing the raw "
        "files' SHA-256.",
        epilog=EPILOG)
    p.add_argument("source", nargs="+",
                   help="Raw file(s) or directories (normally under data/raw/)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="Input format")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="New dataset directory to write (e.g. "
                      "data/processed/NAME)")
    dest.add_argument("--into", metavar="DATASET",
                      help="Dataset to add the source's tables to (created when "
                      "absent; each ingest writes a new version atomically)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="Column mapping (required for --format table)")
    p.add_argument("--name", help="Dataset name (default the directory name)")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace an existing dataset at --out")
    p.add_argument("--observed-at", metavar="ISO",
                   help="Collection time for Twitter records that carry none, e.g. "
                   "2024-05-01T12:00:00Z")
    p.add_argument("--level", type=int, metavar="N",
                   help="Snowball level of the follow lists read (twarc2-follows, "
                   "bluesky getFollowers/getFollows pages, mastodon followers/"
                   "following pages): 0 for the seeds' lists, 1 for lists of "
                   "accounts found in them, and so on")
    p.add_argument("--strict", action="store_true",
                   help="Fail on the first unreadable record instead of "
                   "quarantining it")
    p.add_argument("--allow-empty", action="store_true",
                   help="Ingest empty inputs (an empty file, a file of blank lines, "
                   "a directory without files of the format) as zero records with a "
                   "warning instead of failing")
    add_json_flag(p)
    p.set_defaults(func=run_ingest)


def _argv(args: argparse.Namespace) -> list[str]:
    argv = ["measure", "ingest", *[str(s) for s in args.source], "--format",
            args.format]
    argv += ["--out", str(args.out)] if args.out is not None else [
        "--into", str(args.into)]
    for flag, value in (("--mapping", args.mapping), ("--name", args.name),
                        ("--observed-at", args.observed_at),
                        ("--level", args.level)):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (("--overwrite", args.overwrite), ("--strict", args.strict),
                     ("--allow-empty", args.allow_empty)):
        if on:
            argv.append(flag)
    return argv


def run_ingest(args: argparse.Namespace) -> int:
    """Run an ingest and print its report."""
    from measure.ingest import ingest

    source = args.source[0] if len(args.source) == 1 else args.source
    report = ingest(source, args.format, args.out, args.mapping, into=args.into,
                    name=args.name, overwrite=args.overwrite,
                    observed_at=args.observed_at, strict=args.strict,
                    command=shlex.join(_argv(args)), level=args.level,
                    allow_empty=args.allow_empty)
    emit(args, report.to_dict(), report.summary())
    return 0 if report.balanced else 1
