"""``measure describe DATASET [--cohort FILE] [--where EXPR] [--json]``."""

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
    """Add the ``describe`` subcommand."""
    p = sub.add_parser(
        "describe", help="Profile a cohort of accounts (followers, languages, "
        "hyperactive users, control comparison, size series)",
        description="Profile a cohort: distributions of followers, friends, "
        "statuses, account age and tweets per day; language and location shares; "
        "creation months; name tokens; share active in the last N days; in-network "
        "follower share; hyperactive accounts; comparison with a control group; "
        "network size per look-up day. Every statistic has an interval and its "
        "cohort size.")
    p.add_argument("dataset", help="Dataset directory")
    p.add_argument("--cohort", default=None,
                   help="Cohort: population, labelled, all, or a file of account "
                   "ids (Parquet/CSV with account_id, or one id per line) (default "
                   "the census population table, else labelled supporters, else "
                   "all)")
    p.add_argument("--where", action="append", metavar="EXPR",
                   help="Filter the cohort on accounts columns: COL=VALUE, "
                   "COL!=VALUE, 'COL in A,B', COL>VALUE ... (repeatable; values are "
                   "bound, not pasted into SQL)")
    p.add_argument("--control", default=None,
                   help="Control group: a second dataset directory (all its accounts) "
                   "or a file of account ids in this dataset")
    p.add_argument("--network", default=None,
                   help="Accounts counted as in-network for the in-network follower "
                   "share, in the same forms as --cohort (default the cohort)")
    p.add_argument("--active-days", type=int, default=30,
                   help="N of 'share active in the last N days' (default 30)")
    p.add_argument("--burst-hours", type=int, default=24,
                   help="Window of the burst score in hours (default 24)")
    p.add_argument("--hyperactive", type=float, default=50.0,
                   help="Tweets per day above which an account is hyperactive "
                   "(default 50)")
    p.add_argument("--level", type=float, default=0.95,
                   help="Confidence level (default 0.95)")
    p.add_argument("--n-boot", type=int, default=1000,
                   help="Bootstrap replicates (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="Bootstrap seed (default 0)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="Also write a figure with every panel to this file")
    add_allow_modified_flag(p)
    add_validate_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the profile and print it."""
    from measure.describe import analyze

    with open_dataset_arg(args) as ds:
        res = analyze(ds, cohort=args.cohort, where=args.where,
                      control=args.control,
                      network=args.network, level=args.level, n_boot=args.n_boot,
                      seed=args.seed, active_days=args.active_days,
                      burst_hours=args.burst_hours,
                      hyperactive_per_day=args.hyperactive)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        res.plot_all().savefig(args.plot, dpi=120)
    emit(args, res.to_dict(), res.summary(), warnings=ds.warnings)
    return 0
