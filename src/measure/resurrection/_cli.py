"""``measure resurrection DATASET``: link returning accounts and measure returns."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import (
    add_allow_modified_flag,
    add_json_flag,
    add_validate_flag,
    emit,
    open_dataset_arg,
)


def register(sub: Any) -> None:
    """Add the ``resurrection`` subcommand."""
    p = sub.add_parser(
        "resurrection",
        help="Link new accounts to suspended ones; return rate, delay, followers",
        description=(
            "Find candidate successors of every suspended account (blocking on "
            "handle stem, display name, avatar, bio and follower overlap), score "
            "them with a Fellegi-Sunter model fitted by EM, link one-to-one in time "
            "order, and estimate the return rate (Kaplan-Meier, censored at the end "
            "of observation, linkage uncertainty by multiple imputation)."),
    )
    p.add_argument("dataset", help="Dataset directory")
    p.add_argument("--window", type=float, default=60.0,
                   help="Days after suspension within which a successor is sought "
                        "(default 60)")
    p.add_argument("--backup-days", type=float, default=60.0,
                   help="Also seek successors created up to this many days before "
                        "the suspension (backups); 0 for none (default 60)")
    p.add_argument("--threshold", type=float, default=None,
                   help="Link probability threshold (default chosen for expected "
                        "precision --target-precision)")
    p.add_argument("--target-precision", type=float, default=0.95,
                   help="Expected precision that picks the threshold (default "
                        "0.95)")
    p.add_argument("--cohort", default=None,
                   help="File of suspended account ids to study (Parquet/CSV with "
                        "account_id, or one id per line)")
    p.add_argument("--where", action="append", metavar="EXPR",
                   help="Filter the suspended accounts studied on accounts columns: "
                   "COL=VALUE, COL!=VALUE, 'COL in A,B', COL>VALUE ... (repeatable; "
                   "values are bound, not pasted into SQL)")
    p.add_argument("--links-out", default=None,
                   help="Write the links table (new, previous, probability, "
                        "delay_days, created_new, backup) to this Parquet file")
    p.add_argument("--n-imputations", "--imputations", type=int, default=20,
                   dest="n_imputations", metavar="M",
                   help="Link draws for multiple imputation (default 20)")
    p.add_argument("--seed", type=int, default=0,
                   help="Seed of the link draws (default 0)")
    p.add_argument("--audit-out", default=None,
                   help="Write a coding sheet (CSV) of a stratified random sample "
                        "of candidate pairs for a hand audit of the links")
    p.add_argument("--audit-n", type=int, default=200,
                   help="Pairs in the audit sample, split equally over the accepted "
                        "links and bands of model probability (default 200)")
    p.add_argument("--audit-seed", type=int, default=0,
                   help="Seed of the audit sample (default 0)")
    p.add_argument("--audit", default=None,
                   help="A coded audit sheet (from --audit-out with the same "
                        "options, 'match' filled in with 1/0): estimate link "
                        "precision and recall among candidate pairs, and "
                        "recalibrate the link probabilities behind the rates")
    p.add_argument("--successors", choices=("report", "audit", "ignore"),
                   default="report",
                   help="What to do with the dataset's 'successors' table (links "
                        "the platform reported, e.g. Mastodon's moved): report the "
                        "links' precision and recall against it, also use it as an "
                        "audit to recalibrate the link probabilities (valid only "
                        "when labelled accounts are like the others), or ignore it "
                        "(default report)")
    p.add_argument("--decoys", dest="decoys", action="store_true", default=False,
                   help="Check the link probabilities against decoy pairs (each "
                        "suspended account against another one's window): false "
                        "links by probability band and bounds for the rates; "
                        "costs about one more blocking per decoy set")
    p.add_argument("--no-decoys", dest="decoys", action="store_false",
                   help="Skip the decoy check (default)")
    p.add_argument("--n-decoys", type=int, default=3,
                   help="Decoy sets for --decoys (default 3)")
    add_allow_modified_flag(p)
    add_validate_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the analysis and print text or JSON."""
    from measure.resurrection import analyze
    from measure.resurrection._blocking import accounts_frame

    # the coded sheet is read (and checked, errors naming its file and row) once,
    # for the recalibration and for the audit report
    coded = None
    if args.audit:
        from measure.resurrection._audit import read_audit_sheet

        coded = read_audit_sheet(args.audit)
    with open_dataset_arg(args, require=("resurrection",)) as ds:
        res = analyze(ds, window=args.window, threshold=args.threshold,
                      target_precision=args.target_precision, cohort=args.cohort,
                      where=args.where,
                      n_imputations=args.n_imputations, seed=args.seed,
                      backup_days=args.backup_days,
                      audit=coded, successors=args.successors,
                      decoys=args.decoys, n_decoys=args.n_decoys)
        accounts = accounts_frame(ds) if args.audit_out else None
    payload = res.to_dict()
    text = res.summary()
    if args.audit_out:
        from measure.resurrection._audit import write_audit_sheet

        sheet = res.draw_audit(args.audit_n, accounts=accounts, seed=args.audit_seed)
        path = write_audit_sheet(sheet, args.audit_out)
        payload["audit_out"] = str(path)
        text += (f"\naudit sheet of {sheet.height} pairs written to {path}: fill "
                 "in 'match' (1 = same user, 0 = not) and pass it back with --audit")
    if coded is not None:
        audit = res.audit(coded)
        payload["link_audit"] = audit.to_dict()
        text += "\n" + audit.summary()
    if args.links_out:
        path = res.write_links(args.links_out)
        payload["links_out"] = str(path)
        text += f"\nlinks written to {path}"
    emit(args, payload, text, warnings=ds.warnings)
    return 0
