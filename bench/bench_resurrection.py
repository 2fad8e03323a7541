"""Benchmark: link 1 million suspended accounts against 2 million new accounts.

Generates synthetic linkage data (``measure.resurrection._synthetic``: suspended
accounts, their successors and unrelated new accounts, with colliding handle stems,
Arabic display names, avatars, bios, follower edges and look-ups), writes it under
``/tmp`` (never committed), then times ``measure.resurrection.analyze`` in a
subprocess (peak memory from ``resource.getrusage`` of the child). The baseline is
all-pairs rapidfuzz (``process.cdist`` of every suspended handle against every new
handle created in the same period) on a subset, extrapolated per suspended account
to the full size, measured in the same run.

Usage: ``python bench/bench_resurrection.py [--suspended 1000000] [--new 2000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
import measure
from measure.resurrection import analyze
t = time.perf_counter()
ds = measure.open(sys.argv[1], validate="schema", memory_limit="6GB")
ds.con.execute("SET enable_progress_bar = false")
r = analyze(ds, n_imputations=10, n_boot=50)
el = time.perf_counter() - t
import resource
print(json.dumps({"seconds": el, "n_suspended": r.n_suspended, "n_pairs": r.n_pairs,
                  "n_linked": r.n_linked, "timings": r.timings,
                  "rate_30d": r.rate_30d.estimate,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suspended", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=2_000_000,
                    help="new accounts (successors plus unrelated)")
    ap.add_argument("--out", default="/tmp/measure_bench_resurrection")
    ap.add_argument("--baseline-suspended", type=int, default=2000)
    args = ap.parse_args()
    import numpy as np
    import polars as pl
    from rapidfuzz import fuzz, process

    from measure.resurrection._synthetic import make_synthetic, write_synthetic

    t = time.perf_counter()
    p_return = 0.5
    n_bg = max(0, args.new - int(p_return * args.suspended * 0.97))
    syn = make_synthetic(args.suspended, n_bg, seed=1, p_return=p_return,
                         followers_per_account=10, weekly=False,
                         follower_pool=20 * (args.suspended + args.new))
    write_synthetic(syn, args.out)
    gen_s = time.perf_counter() - t
    n_new = syn.accounts.height - args.suspended
    n_edges = syn.edges.height

    # the linker in a child process (peak memory of the child alone)
    proc = subprocess.run([sys.executable, "-c", CHILD, args.out], check=True,
                          capture_output=True, text=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    # precision / recall against the generator's truth
    truth = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("account_id").alias("new"), pl.col("predecessor_id").alias("previous"))

    # baseline: all-pairs rapidfuzz on a subset of suspended accounts, against
    # every new account (the blocking-free approach), extrapolated
    acc = syn.accounts
    sus = acc.head(args.suspended)["screen_name"].to_list()[: args.baseline_suspended]
    new = acc.tail(n_new)["screen_name"].to_list()
    t = time.perf_counter()
    for i in range(0, len(sus), 250):
        m = process.cdist(sus[i:i + 250], new, scorer=fuzz.ratio, workers=-1,
                          dtype=np.uint8)
        del m
    base_sub = time.perf_counter() - t
    base_full = base_sub * args.suspended / len(sus)
    del truth

    lines = [
        "# Resurrection linking benchmark",
        "",
        f"Synthetic data: {args.suspended:,} suspended accounts, {n_new:,} new "
        f"accounts, {n_edges:,} follower edges (generated in {gen_s:.0f} s). "
        f"Machine: {os.cpu_count()} CPU cores.",
        "",
        "| step | seconds |",
        "|---|---|",
    ]
    for k, v in res["timings"].items():
        lines.append(f"| {k} | {v:.1f} |")
    lines += [
        "",
        "| method | suspended x new | seconds | peak RSS (GiB) | candidate pairs |",
        "|---|---|---|---|---|",
        f"| measure.resurrection.analyze (blocking + EM + assignment + MI) | "
        f"{args.suspended:,} x {n_new:,} | {res['seconds']:.1f} | "
        f"{max(res['maxrss_kib'], child_rss) / 2**20:.2f} | {res['n_pairs']:,} "
        f"({res['n_pairs'] / max(res['n_suspended'], 1):.2f} per suspended) |",
        f"| all-pairs rapidfuzz `cdist` (handles only), measured | "
        f"{len(sus):,} x {n_new:,} | {base_sub:.1f} | - | {len(sus) * n_new:,} |",
        f"| all-pairs rapidfuzz, extrapolated | {args.suspended:,} x {n_new:,} | "
        f"{base_full:.0f} | - | {args.suspended * n_new:,} |",
        "",
        f"Ratio (all-pairs extrapolated / measure): "
        f"**{base_full / res['seconds']:.0f}x**. Links: {res['n_linked']:,}. "
        "Splink comparison: not run (splink is not installed).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "resurrection.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
