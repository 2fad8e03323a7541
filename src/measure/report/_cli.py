"""``measure report DATASET --out report.html [--pdf]``."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import add_allow_modified_flag, add_json_flag, emit


def register(sub: Any) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="Write a self-contained HTML report of every analysis",
        description="Run every available analysis on DATASET and write one "
        "self-contained HTML file (figures embedded, no network): dataset name and "
        "digest, population estimate with bounds, precision by metric, survival "
        "curves, suspension rates, returns after suspension, profile, "
        "capture-recapture and a list of assumptions and caveats. Sections whose "
        "inputs are missing say so.",
    )
    p.add_argument("dataset", help="Dataset directory")
    p.add_argument(
        "--out", default="report.html", help="HTML file to write (default report.html)"
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="Also write the figures and headline numbers to a PDF "
        "next to --out (matplotlib; no browser needed)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="Do not re-hash every file of a pinned dataset: compare sizes and "
        "modification times with the manifest and re-hash only the files that "
        "differ",
    )
    p.add_argument(
        "--min-cell",
        type=int,
        default=None,
        metavar="N",
        help="Show counts below N in the report's tables as <N; 0 turns it off "
        "(default 5 for a pseudonymised export, no suppression otherwise)",
    )
    add_allow_modified_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print its path."""
    from measure.report import _write_report

    out, report = _write_report(
        args.dataset,
        args.out,
        pdf=args.pdf,
        results=None,
        verify=not args.no_verify,
        strict=False,
        min_cell=args.min_cell,
        allow_modified=args.allow_modified,
    )
    payload = {
        "report": str(out),
        "pdf": str(out.with_suffix(".pdf")) if args.pdf else None,
    }
    text = f"report written to {out}"
    if args.pdf:
        text += f"\nPDF written to {out.with_suffix('.pdf')}"
    emit(args, payload, text, warnings=report.warnings)
    return 0
