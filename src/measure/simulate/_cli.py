"""``measure simulate OUT --seed N [--preset P] [--scale F] [--config FILE]``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from measure._cli_util import add_json_flag, emit


def register(sub: Any) -> None:
    """Add the ``simulate`` subcommand."""
    p = sub.add_parser(
        "simulate",
        help="Simulate a world with known truth (dataset + truth.json)",
        description="Simulate a platform with a hidden supporter network and the "
        "way researchers observe it; writes a dataset on the data contract plus "
        "truth.json and truth/ (see docs/simulation.md).",
    )
    p.add_argument("out", help="Output dataset directory")
    p.add_argument("--seed", type=int, required=True, help="Random seed")
    p.add_argument(
        "--preset",
        default="demo",
        choices=["small", "demo", "large", "stress"],
        help="Preset world; 'stress' switches every stress mechanism on with "
        "values drawn for the seed, see docs/simulation.md (default demo)",
    )
    p.add_argument(
        "--stress-size",
        default="demo",
        choices=["small", "demo"],
        help="Sizes of a stress world (default demo)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="Multiply the preset's sizes, e.g. --preset large --scale 0.01 "
        "(default 1)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML or JSON file of parameter overrides (sections or field names)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="Replace an existing dataset at OUT"
    )
    add_json_flag(p)
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``measure simulate``."""
    from measure.simulate import SimConfig, load_overrides, load_truth, simulate

    cfg = SimConfig.preset(
        args.preset, scale=args.scale, seed=args.seed, size=args.stress_size
    )
    if args.config:
        cfg = cfg.replace(**load_overrides(args.config))
    t0 = time.perf_counter()
    tty = sys.stderr.isatty() and not args.json

    def log(msg: str) -> None:
        if tty:
            print(f"  {msg} ...", file=sys.stderr)

    path = simulate(cfg, args.seed, args.out, overwrite=args.overwrite, log=log)
    secs = time.perf_counter() - t0
    import json

    manifest = json.loads((path / "manifest.json").read_text())
    counts = load_truth(path).counts
    payload = {
        "path": str(path),
        "id": f"{manifest['name']}@sha256:{manifest['digest']}",
        "preset": cfg.preset_name,
        "seed": args.seed,
        "seconds": round(secs, 2),
        "counts": counts,
    }
    if cfg.mechanisms_on():
        payload["mechanisms"] = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in cfg.mechanisms_on().items()
        }
    text = (
        f"simulated {cfg.preset_name} world (seed {args.seed}) in {secs:.1f} s "
        f"-> {path}\n  id {payload['id']}\n"
        f"  supporter accounts alive at census: "
        f"{counts['supporter_accounts_alive_at_census']:,}; in frame: "
        f"{counts['supporter_accounts_in_frame']:,}; frame size: "
        f"{counts['frame_size']:,}; edges: {counts['edges']:,}"
    )
    emit(args, payload, text)
    return 0
