"""``measure capture DATASET [--model M] [--criterion aic|bic] [--json]``."""

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
from measure.options import CAPTURE_MODELS


def register(sub: Any) -> None:
    """Add the ``capture`` subcommand."""
    p = sub.add_parser(
        "capture",
        help="Capture-recapture estimate of the population size from "
        "the detections table",
        description="Estimate how many accounts the detection sources sample from: "
        "Lincoln-Petersen and Chapman for two sources; log-linear models (Mt, "
        "heterogeneity models Mh/Mth, two-list interactions) for three or more, "
        "with existence checks, goodness of fit, profile-likelihood intervals, an "
        "AIC/BIC-weighted model average as the headline, a Bayesian latent-class "
        "model (LCMCR), graphical-model averaging (3-5 lists) and Chao's lower "
        "bound.",
    )
    p.add_argument("dataset", help="Dataset directory with a detections table")
    p.add_argument(
        "--model",
        default=None,
        help="Model to report: auto, the model average, or one of "
        + ", ".join(CAPTURE_MODELS) + " (default auto)",
    )
    p.add_argument(
        "--criterion",
        default="aic",
        choices=("aic", "bic"),
        help="Model-choice criterion (default aic)",
    )
    p.add_argument(
        "--sources", default=None, help="Comma-separated sources to use (default all)"
    )
    p.add_argument(
        "--level", type=float, default=0.95, help="Confidence level (default 0.95)"
    )
    p.add_argument(
        "--ci",
        default="profile",
        choices=("profile", "lognormal"),
        help="Interval for the log-linear models (default profile)",
    )
    p.add_argument(
        "--at",
        default=None,
        metavar="DATE",
        help="Count the accounts alive on this date, ISO, UTC (default the "
        "middle of the detections' span when it is longer than a day)",
    )
    p.add_argument(
        "--window", type=float, default=None, metavar="DAYS",
        help="Also keep only the detections within this many days centred on --at",
    )
    p.add_argument(
        "--no-latent-class",
        action="store_true",
        help="Skip the Bayesian latent-class model (its sampler takes seconds)",
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="Also write the model comparison figure to this file",
    )
    add_allow_modified_flag(p)
    add_validate_flag(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the analysis and print it."""
    from measure.capture import analyze

    sources = [s.strip() for s in args.sources.split(",")] if args.sources else None
    ds = open_dataset_arg(args, require=("capture",))
    res = analyze(
        ds,
        model=args.model,
        criterion=args.criterion,
        level=args.level,
        sources=sources,
        ci=args.ci,
        latent_class=not args.no_latent_class,
        at=args.at,
        window=args.window,
    )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = res.plot()
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=120)
    emit(args, res.to_dict(), res.summary(), warnings=ds.warnings)
    return 0
