"""``measure churn``: survival of accounts from a status panel."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import (
    add_allow_modified_flag,
    add_engine_flags,
    add_json_flag,
    add_validate_flag,
    emit,
    open_dataset_arg,
)

DESCRIPTION = """\
How fast accounts are suspended, from repeated look-ups (the observations table).

Kaplan-Meier with delayed entry (accounts enter at their first alive look-up),
Turnbull's interval-censored NPMLE beside the midpoint approximation, cumulative
incidence of suspension vs deletion, median and survival at 1/7/30/90 days with
confidence intervals, a Cox model with a proportional-hazards check, monthly
suspension rates (suspensions per account-day, exact Poisson CI) and a
stock-and-flow table.

The Kaplan-Meier figures draw each suspension inside its look-up interval from a
hazard fitted to all intervals (--imputation density, the default) or uniformly
(--imputation uniform). A day that the look-up schedule cannot resolve (e.g. day
7 when accounts are found a few days old and looked up weekly) is reported as a
range without a point estimate, with a warning.

For "what share of accounts is suspended within N days of creation", analyse a
complete-follow-up cohort (accounts created between the first look-up and 90 days
before the last, so the end of the panel censors none of them before day 90) with
the interval-censored estimator:
  measure churn DATA --cohort supporters.csv --complete-followup --estimator turnbull

Examples:
  measure churn data/processed/world
  measure churn data/processed/world --cohort supporters.csv --origin first_seen
  measure churn data/processed/world --where lang=ar --by lang --json
  measure churn s3a://bucket/world --engine spark --spark-conf spark.master=yarn
"""


def register(sub: Any) -> None:
    """Add the ``churn`` subcommand."""
    p = sub.add_parser("churn", help="Survival of accounts: time to suspension",
                       description=DESCRIPTION)
    p.add_argument("dataset", help="Dataset directory (accounts + observations)")
    p.add_argument("--cohort", metavar="FILE",
                   help="CSV or Parquet file with an account_id column: analyse only "
                   "these accounts")
    p.add_argument("--where", action="append", metavar="EXPR",
                   help="Filter on accounts columns: COL=VALUE, COL!=VALUE, "
                   "'COL in A,B', COL>VALUE ... (repeatable; values are bound, not "
                   "pasted into SQL)")
    p.add_argument("--by", metavar="COL", help="Accounts column to compare groups by")
    p.add_argument("--origin", choices=("created", "first_seen"), default="created",
                   help="Clock start: account creation (created) or first sighting "
                   "(first_seen) (default created)")
    p.add_argument("--deleted", choices=("censor", "compete"), default="censor",
                   help="Treat not_found (owner deletion) as censoring (censor) or "
                   "as a competing risk (compete) (default censor)")
    p.add_argument("--covariate", action="append", metavar="COL",
                   help="Cox covariate (accounts column, or followers_at_entry / "
                   "statuses_at_entry); repeatable")
    p.add_argument("--strata", metavar="COL", help="Cox baseline strata column")
    p.add_argument("--period", choices=("month", "week"), default="month",
                   help="Calendar period of the rates (default month)")
    p.add_argument("--level", type=float, default=0.95,
                   help="Confidence level (default 0.95)")
    p.add_argument("--min-at-risk", type=int, default=25, metavar="N",
                   help="Curves start at the youngest age with N accounts at risk "
                   "(conditional on surviving to it) (default 25)")
    p.add_argument("--complete-followup", action="store_true",
                   help="Only accounts created between the panel's first look-up "
                   "and 90 days before its last (each can be followed to day 90; "
                   "see docs/churn.md)")
    p.add_argument("--estimator", choices=("km", "turnbull"), default="km",
                   help="Headline survival and median: Kaplan-Meier over multiply "
                   "imputed suspension times (km) or Turnbull's interval-censored "
                   "NPMLE with a bootstrap band (turnbull) (default km)")
    p.add_argument("--imputation", choices=("density", "uniform"), default="density",
                   help="How the Kaplan-Meier imputations place each suspension "
                   "inside its look-up interval: drawn from a hazard fitted to all "
                   "intervals, with its parameter uncertainty (density), or "
                   "uniformly (uniform) (default density)")
    p.add_argument("--n-boot", "--bootstrap", type=int, metavar="B", dest="n_boot",
                   help="Bootstrap resamples for the Turnbull band; 0 for none "
                   "(default 200 with --estimator turnbull up to 20,000 accounts)")
    p.add_argument("--n-imputations", type=int, default=20, metavar="M",
                   help="Imputations of each suspension time inside its look-up "
                   "interval (default 20)")
    p.add_argument("--seed", type=int, default=0,
                   help="Seed of the imputations and the bootstrap (default 0)")
    p.add_argument("--no-turnbull", action="store_true",
                   help="Skip the Turnbull NPMLE (not with --estimator turnbull)")
    p.add_argument("--no-cox", action="store_true", help="Skip the Cox model")
    p.add_argument("--interval-ph", action="store_true",
                   help="Also fit the semiparametric PH model on the look-up "
                        "intervals (no midpoints; bootstrap standard errors)")
    p.add_argument("--cluster", metavar="COL",
                   help="Accounts column of presumed actors: standard errors of the "
                        "curves and the Cox model are clustered by it")
    p.add_argument("--actors", metavar="LINKS",
                   help="Presumed actors from resurrection links (the Parquet file "
                        "of `measure resurrection --links-out`, or a Parquet/CSV "
                        "table with account_id and actor): standard errors are "
                        "clustered by chains of links; not with --cluster")
    p.add_argument("--age-period", choices=("week", "month", "none"), default="week",
                   help="Calendar period of the age x period model of the "
                        "suspension rate; none skips it (default week)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="Write survival, cumulative incidence and rate plots")
    add_engine_flags(p)
    add_allow_modified_flag(p)
    add_validate_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run_churn)


def run_churn(args: argparse.Namespace) -> int:
    """Run ``measure churn``."""
    from measure.churn import analyze

    with open_dataset_arg(args, require=("churn",)) as ds:
        res = analyze(ds, cohort=args.cohort, where=args.where, by=args.by,
                      origin=args.origin, deleted=args.deleted,
                      covariates=args.covariate, strata=args.strata,
                      period=args.period, level=args.level,
                      min_at_risk=args.min_at_risk,
                      turnbull_fit=not args.no_turnbull, cox=not args.no_cox,
                      estimator=args.estimator, n_boot=args.n_boot,
                      n_imputations=args.n_imputations, seed=args.seed,
                      imputation=args.imputation,
                      complete_followup=args.complete_followup,
                      cluster=args.cluster, actors=args.actors,
                      interval_ph=args.interval_ph,
                      age_period=None if args.age_period == "none"
                      else args.age_period)
    if args.plot:
        from measure.churn._plot import save_figure

        save_figure(res, args.plot)
    emit(args, res.to_dict(), res.summary(), warnings=ds.warnings)
    return 0
