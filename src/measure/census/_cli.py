"""``measure census``: estimate, draw a coding sample, import codes, write the frame.

One ``census`` command with five forms; the first word after ``census`` picks the
form (``sample``, ``import-codes``, ``frame``, ``plan``), anything else is the dataset
path::

    measure census DATASET [--metric M] [--json]        # the estimate
    measure census sample DATASET --strata METRIC --n N --out SHEET.csv
    measure census import-codes DATASET SHEET.csv [--coder NAME]
    measure census frame DATASET --out FRAME.parquet
    measure census plan DATASET --target-halfwidth X
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from measure._cli_util import (
    add_allow_modified_flag,
    add_engine_flags,
    add_json_flag,
    add_validate_flag,
    emit,
    open_dataset_arg,
)
from measure.cli import Parser

SUBCOMMANDS = ("sample", "import-codes", "frame", "plan")
#: The frame's metrics, as ``measure.census.METRICS`` (a test checks that they
#: agree); listed here so that building the parser does not import the census.
METRICS: tuple[str, ...] = ("in_friends", "in_followers", "seeds_followed",
                            "seed_followers", "reciprocal_in", "n_lists_seen",
                            "in_follower_share", "in_friend_share")

DESCRIPTION = """\
Count the supporter accounts in a snowball census frame (Berger & Morgan 2015),
with a confidence interval, Brookings-style bounds and diagnostics.

Forms (the word after `census` picks one; otherwise it is the dataset path):

  measure census DATASET [--metric M] [--engine spark] [--json]
      the estimate: stratified total with CI, at-least/at-most bounds, strata,
      model-assisted estimate, coder agreement, misclassification grid
  measure census sample DATASET --strata METRIC --n N --out SHEET.csv
                        [--allocation proportional|equal|neyman] [--seed S]
      draw a stratified coding sample (level x METRIC band), write the coding
      sheet and record the design in the dataset (a pinned dataset is re-pinned)
  measure census import-codes DATASET SHEET.csv [--coder NAME]
      read a coded sheet back into the dataset's labels (and re-pin it)
  measure census frame DATASET [--out FRAME.parquet]
      build the frame with every in-network metric, ranks and percentiles
  measure census plan DATASET --target-halfwidth X [--level L] [--seed S]
      how many accounts to code per stratum, and how many to double-code, for
      a target half-width of the interval, from the frame and the pilot codes

Run `measure census sample --help` (etc.) for each form's options.
""" + textwrap.fill("Metrics: " + ", ".join(METRICS) + ".", 79)


def register(sub: Any) -> None:
    """Add the ``census`` command (``sample``/``import-codes``/``frame``/``plan``)."""
    p = sub.add_parser(
        "census", help="Number of supporter accounts in the frame (and coding "
        "samples)", description=DESCRIPTION,
        usage="measure census {DATASET | sample | import-codes | frame | plan} ...")
    add_json_flag(p)
    add_allow_modified_flag(p)
    add_validate_flag(p)
    p.add_argument("target", metavar="DATASET|sample|import-codes|frame|plan",
                   help="Dataset directory, or one of: " + ", ".join(SUBCOMMANDS))
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run_census)


def _form_parser(prog: str, description: str,
                 dataset_help: str = "Dataset directory") -> argparse.ArgumentParser:
    """Parser of one ``census`` form: its name, description and the dataset."""
    p = Parser(prog=prog, description=description)
    p.add_argument("dataset", help=dataset_help)
    add_allow_modified_flag(p)
    add_validate_flag(p)
    return p


def _estimate_parser() -> argparse.ArgumentParser:
    p = _form_parser("measure census DATASET", "Estimate the number of supporter "
                     "accounts in the frame.", "Dataset directory (with labels)")
    p.add_argument("--metric", default="in_friends", choices=METRICS,
                   help="Sorting metric for the precision table (default "
                   "in_friends)")
    p.add_argument("--level", type=float, default=0.95,
                   help="Confidence level (default 0.95)")
    p.add_argument("--high-precision", type=float, default=0.5,
                   help="Strata with coded precision >= this enter the 'at least' "
                   "bound (default 0.5)")
    p.add_argument("--sensitivity", type=float,
                   help="Coder sensitivity, for a Rogan-Gladen corrected estimate")
    p.add_argument("--specificity", type=float,
                   help="Coder specificity, for a Rogan-Gladen corrected estimate")
    p.add_argument("--no-model", action="store_true",
                   help="Skip the logistic model (model-assisted estimate, "
                   "classifier, population table)")
    p.add_argument("--write-population", action="store_true",
                   help="Write population.parquet (classifier over the frame) into "
                   "the dataset (a pinned dataset is re-pinned)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="Save the precision-by-metric figure")
    add_engine_flags(p)
    add_json_flag(p)
    return p


def _sample_parser() -> argparse.ArgumentParser:
    p = _form_parser(
        "measure census sample",
        "Draw a stratified random coding sample (strata = level x "
        "quantile band of METRIC), write the coding sheet (CSV: account_id, handle, "
        "name, bio, counts, link, empty label/coder/notes) and record the design "
        "(tables design and design_sample) in the dataset. The dataset changes: a "
        "pinned dataset that matched its manifest is pinned again (a new id).")
    p.add_argument("--strata", required=True, choices=METRICS, metavar="METRIC",
                   help="Metric whose bands define strata: " + ", ".join(METRICS))
    p.add_argument("--n", type=int, required=True, help="Accounts to code")
    p.add_argument("--allocation", default="proportional",
                   choices=["proportional", "equal", "neyman"],
                   help="How n is split over strata; neyman uses existing labels "
                   "for stratum SDs (default proportional)")
    p.add_argument("--seed", type=int, default=20141101,
                   help="Seed of the draw, recorded in the design (default "
                   "20141101)")
    p.add_argument("--bands", type=int, default=3,
                   help="Metric bands per level (default 3)")
    p.add_argument("--out", required=True, metavar="SHEET.csv",
                   help="Where to write the coding sheet")
    add_json_flag(p)
    return p


def _import_parser() -> argparse.ArgumentParser:
    p = _form_parser(
        "measure census import-codes",
        "Read a coded sheet (account_id, label in supporter / "
        "non_supporter / unclear, optional coder) into the dataset's labels, with "
        "each account's stratum and inclusion probability from the design. The "
        "dataset changes: a pinned dataset that matched its manifest is pinned "
        "again (a new id).")
    p.add_argument("sheet", help="Coded CSV sheet")
    p.add_argument("--coder", help="Coder name for rows without one (default the "
                   "sheet's file name)")
    add_json_flag(p)
    return p


def _frame_parser() -> argparse.ArgumentParser:
    p = _form_parser(
        "measure census frame",
        "Build the census frame (level, tier, reached_via, in-network "
        "metrics, lower-bound flags, ranks and percentiles).")
    p.add_argument("--out", metavar="FRAME.parquet",
                   help="Write the ranked frame to this Parquet file")
    add_engine_flags(p)
    add_json_flag(p)
    return p


def _plan_parser() -> argparse.ArgumentParser:
    p = _form_parser(
        "measure census plan",
        "Plan the coding sample: accounts to code and to double-code per "
        "stratum so that the interval of the number of supporters in the frame "
        "reaches a target half-width, by pre-posterior simulation from the "
        "pilot codes (the dataset's labels). Code the first batch, import it, "
        "and run plan again before coding the rest.",
        "Dataset directory (with pilot labels)")
    p.add_argument("--target-halfwidth", type=float, required=True, metavar="X",
                   help="Wanted half-width (high - low) / 2 of the interval")
    p.add_argument("--level", type=float, default=0.95,
                   help="Level of the interval (default 0.95)")
    p.add_argument("--seed", type=int, default=0,
                   help="Seed of the simulation (default 0)")
    p.add_argument("--replicates", type=int, default=12,
                   help="Simulated samples per candidate design (default 12)")
    add_json_flag(p)
    return p


def form_parsers() -> dict[str, argparse.ArgumentParser]:
    """Build each ``census`` form's parser, by form (``estimate``: the estimate)."""
    return {"estimate": _estimate_parser(), "sample": _sample_parser(),
            "import-codes": _import_parser(), "frame": _frame_parser(),
            "plan": _plan_parser()}


def run_census(args: argparse.Namespace) -> int:
    """Dispatch ``measure census`` to one of its forms."""
    forms = {"sample": (_sample_parser, _run_sample),
             "import-codes": (_import_parser, _run_import),
             "frame": (_frame_parser, _run_frame),
             "plan": (_plan_parser, _run_plan)}
    rest = list(args.rest)
    if args.target in forms:
        make, run = forms[args.target]
    else:
        make, run = _estimate_parser, _run_estimate
        rest = [args.target, *rest]
    a = make().parse_args(rest)
    a.json = a.json or args.json
    a.allow_modified = a.allow_modified or args.allow_modified
    # --validate given before the form (measure census --validate full sample ...)
    if not any(r.split("=")[0] == "--validate" for r in rest):
        a.validate = args.validate
    return run(a)


def _repin_note(args: argparse.Namespace, pin: dict[str, str | None]) -> str:
    """Say that the dataset changed and whether it was pinned again."""
    if pin["id"]:
        return f"the dataset changed and is pinned again as {pin['id']}"
    return f"the dataset changed: pin it (measure pin {args.dataset})"


def _run_estimate(args: argparse.Namespace) -> int:
    from measure.census import analyze, write_population

    ds = open_dataset_arg(args, require=("census_estimate",))
    res = analyze(ds, metric=args.metric, level=args.level,
                  high_precision=args.high_precision,
                  sensitivity=args.sensitivity, specificity=args.specificity,
                  model=not args.no_model)
    payload = res.to_dict()
    text = res.summary()
    if args.write_population:
        from measure.dataset._lock import updating

        with updating(args.dataset, action="measure census") as pin:
            path = write_population(ds, res)
        payload["population_path"] = str(path)
        payload["dataset_id"] = pin["id"]
        text += f"\n\npopulation table written to {path}; " + _repin_note(args, pin)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = res.plot()
        ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
        payload["plot"] = args.plot
    emit(args, payload, text, warnings=ds.warnings)
    return 0


def _run_sample(args: argparse.Namespace) -> int:
    from measure.census import draw_sample, record_design, write_sheet
    from measure.dataset._lock import updating

    ds = open_dataset_arg(args, require=("census",))
    draw = draw_sample(ds, metric=args.strata, n=args.n, allocation=args.allocation,
                       seed=args.seed, bands=args.bands)

    sheet = write_sheet(draw.sheet, args.out)
    with updating(args.dataset, action="measure census sample") as pin:
        written = record_design(ds, draw)
    payload = {"design_id": draw.design_id, "seed": draw.seed,
               "allocation": draw.allocation, "sheet": str(sheet),
               "n": int(draw.design["n"].sum()),
               "strata": draw.design.select("stratum", "N", "n", "inclusion_prob",
                                            "lower", "upper").to_dicts(),
               "written": [str(p) for p in written],
               "repin_required": pin["id"] is None, "dataset_id": pin["id"]}
    lines = [f"drew {payload['n']} accounts (design {draw.design_id}, seed "
             f"{draw.seed}, {draw.allocation} allocation)",
             f"  coding sheet: {sheet}"]
    for r in payload["strata"]:
        lines.append(f"  {r['stratum']:<34} N={r['N']:>9,} n={r['n']:>5} "
                     f"pi={r['inclusion_prob']:.4f}")
    lines.append(f"  design recorded in {', '.join(payload['written'])}")
    lines.append("  " + _repin_note(args, pin))
    emit(args, payload, "\n".join(lines), warnings=ds.warnings)
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from measure.census import import_codes
    from measure.dataset._lock import updating

    ds = open_dataset_arg(args)
    with updating(args.dataset, action="measure census import-codes") as pin:
        rep = import_codes(ds, args.sheet, coder=args.coder)
    payload = {"imported": rep.n_imported, "blank": rep.n_blank,
               "coders": list(rep.coders), "labels_total": rep.n_labels_total,
               "design_id": rep.design_id, "path": str(rep.path),
               "repin_required": pin["id"] is None, "dataset_id": pin["id"]}
    text = (f"imported {rep.n_imported} labels ({rep.n_blank} blank rows skipped) "
            f"by {', '.join(rep.coders)} into {rep.path}; labels now hold "
            f"{rep.n_labels_total} rows\n  " + _repin_note(args, pin))
    if rep.design_id is None:
        text += ("\n  warning: no design in the dataset; these labels have no "
                 "inclusion_prob and will be treated as a simple random sample")
    emit(args, payload, text, warnings=ds.warnings)
    return 0


def _run_frame(args: argparse.Namespace) -> int:
    from measure.census import frame_counts, frame_info, write_frame

    ds = open_dataset_arg(args, require=("census",))
    counts = frame_counts(ds)
    info = frame_info(ds)
    payload: dict[str, Any] = {"frame_size": int(counts["n"].sum()),
                               "levels": counts.to_dicts(),
                               "frame_info": info.to_dict()}
    lines = [f"frame: {payload['frame_size']:,} accounts"]
    for r in payload["levels"]:
        lines.append(f"  level {r['level']} tier {r['tier']}: {r['n']:,}")
    lines.append(info.summary())
    if args.out:
        out = write_frame(ds, args.out)
        payload["path"] = str(out)
        lines.append(f"ranked frame written to {out}")
    emit(args, payload, "\n".join(lines), warnings=ds.warnings)
    return 0


def _run_plan(args: argparse.Namespace) -> int:
    from measure.census._plan import plan

    ds = open_dataset_arg(args, require=("census_estimate",))
    res = plan(ds, target_halfwidth=args.target_halfwidth, level=args.level,
               seed=args.seed, replicates=args.replicates)
    emit(args, res.to_dict(), res.summary(), warnings=ds.warnings)
    return 0
