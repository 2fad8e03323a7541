"""Benchmark: world generation time and peak memory per preset and scale.

Each world is simulated in a fresh subprocess (wall time, CPU time and peak RSS of that
process). The baseline, measured in the same run, is the I/O floor: writing the same
number of random ``(src, dst, relation, observed_at)`` edge rows with the same Parquet
codec and part size, without any modelling. The ratio says how much the model costs
on top of writing its largest table. ``large`` at scale 1 (10 M accounts, ~1 B edges)
is extrapolated linearly from the measured scales and labelled as such, or measured
with ``--full`` (no baseline at that size). Writes ``bench/results/simulate.md``, the
section of BENCHMARKS.md for this workload.

    python bench/bench_simulate.py [--scales 0.001,0.01] [--full] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, os, resource, sys, time
mode, preset, scale, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
from measure.simulate import SimConfig
cfg = SimConfig.preset(preset, scale=scale)
t0, c0 = time.perf_counter(), time.process_time()
res = {}
if mode == "simulate":
    from measure.simulate import load_truth, simulate
    simulate(cfg, 1, out)
    counts = load_truth(out).counts
    res = {k: counts[k] for k in ("edges", "accounts_table_rows", "frame_size",
                                  "observations_rows",
                                  "supporter_accounts_alive_at_census")}
    res["world_accounts"] = (counts["supporter_accounts_total"]
                             + counts["background_accounts"])
else:
    import numpy as np
    import polars as pl
    n = int(sys.argv[5])
    rng = np.random.default_rng(0)
    chunk = cfg.output.edge_chunk_rows
    os.makedirs(out, exist_ok=True)
    i = 0
    for a in range(0, n, chunk):
        m = min(chunk, n - a)
        pl.DataFrame({
            "src": rng.integers(10**8, 2 * 10**8, m),
            "dst": np.repeat(rng.integers(10**8, 2 * 10**8, m // 100 + 1), 100)[:m],
            "relation": pl.repeat("follows", m, eager=True),
            "observed_at": pl.Series(np.repeat(rng.integers(
                1_414_800_000_000_000, 1_415_700_000_000_000, m // 100 + 1), 100)[:m]
            ).cast(pl.Datetime("us", "UTC")),
        }).write_parquet(f"{out}/part-{i:05d}.parquet",
                         compression=cfg.output.compression, statistics=True)
        i += 1
res["wall_s"] = time.perf_counter() - t0
res["cpu_s"] = time.process_time() - c0
res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = 0
for root, _, files in os.walk(out):
    size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
res["disk_mb"] = size / 2**20
print(json.dumps(res))
"""


def run(mode: str, preset: str, scale: float, tmp: str, n: int = 0) -> dict:
    out = os.path.join(tmp, f"{mode}-{preset}-{scale}")
    cmd = [sys.executable, "-c", WORKER, mode, preset, str(scale), out, str(n)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    subprocess.run(["rm", "-rf", out], check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scales",
        default="0.001,0.01",
        help="comma-separated scales of the large preset",
    )
    ap.add_argument("--skip-presets", action="store_true", help="only the large preset")
    ap.add_argument(
        "--full",
        action="store_true",
        help="also simulate the large preset at scale 1 (~1 B edges, "
        "~6 GB on disk, minutes; no baseline)",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "simulate.md"))
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    cases = [] if args.skip_presets else [("small", 1.0), ("demo", 1.0)]
    cases += [("large", float(s)) for s in args.scales.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for preset, scale in cases:
            sim = run("simulate", preset, scale, tmp)
            base = run("baseline", preset, scale, tmp, sim["edges"])
            rows.append((preset, scale, sim, base))
            print(
                f"{preset} x{scale}: {sim['wall_s']:.1f} s wall, "
                f"{sim['cpu_s']:.1f} s CPU, {sim['peak_mb']:.0f} MB, "
                f"{sim['edges']:,} edges; baseline {base['wall_s']:.1f} s",
                file=sys.stderr,
            )
        full = run("simulate", "large", 1.0, tmp) if args.full else None
    from measure.simulate._truth import SIMULATOR_VERSION
    from run import run_line

    scales = ", ".join(f"{float(x):g}" for x in args.scales.split(",") if x)
    lines = [
        "## Simulator: world generation (`bench/bench_simulate.py`)",
        "",
        "Worlds of "
        + ("" if args.skip_presets else "the `small` and `demo` presets and of ")
        + f"the `large` preset at scales {scales}, seed 1, each simulated in a "
        f"fresh process (simulator version {SIMULATOR_VERSION}).",
        "",
        "**Baseline:** writing the same number of random `(src, dst, relation, "
        "observed_at)` edge rows with the same Parquet codec and part size, without "
        "any modelling (the I/O floor). Ratio = simulate wall / baseline wall: how "
        "much the model costs on top of writing its largest table.",
        "",
        run_line(started, load_start),
        "",
        "| preset | scale | world accounts | accounts rows | edges | wall s | CPU s "
        "| peak MB | disk MB | baseline wall s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, scale, s, b in rows:
        lines.append(
            f"| {preset} | {scale:g} | {s['world_accounts']:,} | "
            f"{s['accounts_table_rows']:,} | {s['edges']:,} | {s['wall_s']:.1f} | "
            f"{s['cpu_s']:.1f} | {s['peak_mb']:.0f} | {s['disk_mb']:.0f} | "
            f"{b['wall_s']:.1f} | {s['wall_s'] / max(b['wall_s'], 1e-9):.1f} |"
        )
    large = [(sc, s) for p, sc, s, _ in rows if p == "large"]
    if large and full is None:
        sc, s = max(large, key=lambda x: x[0])
        f = 1.0 / sc
        # memory: a fixed part plus a part proportional to the world; fit on two
        # scales when available, else proportional (an upper-bound style estimate)
        if len(large) >= 2:
            (s1, a), (s2, b) = sorted(large, key=lambda x: x[0])[-2:]
            slope = (b["peak_mb"] - a["peak_mb"]) / (s2 - s1)
            mem = b["peak_mb"] + slope * (1.0 - s2)
            cpu_slope = (b["cpu_s"] - a["cpu_s"]) / (s2 - s1)
            cpu = b["cpu_s"] + cpu_slope * (1.0 - s2)
        else:
            mem, cpu = s["peak_mb"] * f, s["cpu_s"] * f
        lines += [
            "",
            "**Extrapolated, not measured** — `large` at scale 1 (linear in scale "
            "from the largest measured scales): "
            f"~{s['world_accounts'] * f / 1e6:.1f} M accounts in the world, "
            f"~{s['edges'] * f / 1e9:.2f} B edges, "
            f"~{cpu / 60:.0f} CPU minutes, peak memory ~{mem / 1024:.1f} GB, "
            f"~{s['disk_mb'] * f / 1024:.0f} GB on disk. Edges are generated and "
            f"written one part of `edge_chunk_rows` rows at a time, so memory grows "
            f"with the number of accounts (per-account arrays), not with the edges.",
        ]
    if full is not None:
        lines += [
            "",
            "`large` at scale 1 (`--full`, no baseline at this size): "
            f"{full['world_accounts']:,} accounts in the world, "
            f"{full['accounts_table_rows']:,} in `accounts`, {full['edges']:,} edges, "
            f"{full['wall_s']:.0f} s wall, {full['cpu_s']:.0f} s CPU, peak "
            f"{full['peak_mb'] / 1024:.1f} GB, "
            f"{full['disk_mb'] / 1024:.1f} GB on disk. Edges are generated and "
            "written one part of `edge_chunk_rows` rows at a time, so memory grows "
            "with the number of accounts (per-account arrays), not with the edges.",
        ]
    demo = [s for p, _, s, _ in rows if p == "demo"]
    if demo:
        wall = demo[0]["wall_s"]
        lines += [
            "",
            f"**Target:** a `demo` world in under 30 s: "
            f"{'met' if wall < 30 else 'not met'} ({wall:.1f} s wall).",
        ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
