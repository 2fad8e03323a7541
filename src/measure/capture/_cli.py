"""``measure capture DATASET [--model M] [--criterion aic|bic] [--json]``."""

from __future__ import annotations

import argparse
from typing import Any

from measure._cli_util import add_json_flag, emit


def register(sub: Any) -> None:
    """Add the ``capture`` subcommand."""
    from measure.capture import MODEL_NAMES

    p = sub.add_parser(
        "capture",
        help="capture-recapture estimate of the population size from "
        "the detections table",
        description="Estimate how many accounts the detection sources sample from: "
        "Lincoln-Petersen and Chapman for two sources; log-linear models (Mt, "
        "heterogeneity models Mh/Mth, two-list interactions) for three or more, "
        "with existence checks, goodness of fit, profile-likelihood intervals, an "
        "AIC/BIC-weighted model average as the headline, a Bayesian latent-class "
        "model (LCMCR), graphical-model averaging (3-5 lists) and Chao's lower "
        "bound.",
    )
    p.add_argument("dataset", help="dataset directory with a detections table")
    p.add_argument(
        "--model",
        default=None,
        help="model to report: auto (default: the model average), independence, "
        "two_way, "
        "heterogeneity, or one of " + ", ".join(MODEL_NAMES),
    )
    p.add_argument(
        "--criterion",
        default="aic",
        choices=("aic", "bic"),
        help="model-choice criterion (default aic)",
    )
    p.add_argument(
        "--sources", default=None, help="comma-separated sources to use (default all)"
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level")
    p.add_argument(
        "--ci",
        default="profile",
        choices=("profile", "lognormal"),
        help="interval for the log-linear models (default profile)",
    )
    p.add_argument(
        "--at",
        default=None,
        metavar="DATE",
        help="keep only detections within --window days centred on this date "
        "(ISO, UTC): the estimate then refers to the accounts alive then",
    )
    p.add_argument(
        "--window", type=float, default=None, metavar="DAYS",
        help="width of the window around --at, in days",
    )
    p.add_argument(
        "--no-latent-class",
        action="store_true",
        help="skip the Bayesian latent-class model (its sampler takes seconds)",
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="also write the model comparison figure to this file",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the analysis and print it."""
    from measure.capture import analyze
    from measure.dataset import open_dataset

    sources = [s.strip() for s in args.sources.split(",")] if args.sources else None
    ds = open_dataset(args.dataset, require=("capture",))
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
    emit(args, res.to_dict(), res.summary())
    return 0
