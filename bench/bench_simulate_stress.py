"""Benchmark: a demo-size ``stress`` world against the plain demo world.

Each world is simulated in a fresh subprocess (wall time, CPU time, peak RSS). The
baseline, measured in the same run on the same seed, is the plain ``demo`` world:
the ratio says what the stress mechanisms cost. Target: a demo-size stress world in
under 60 s on the 2-core reference machine. Writes
``bench/results/simulate_stress.md``, the section of BENCHMARKS.md for this workload.

    python bench/bench_simulate_stress.py [--seeds 1,2,3] [--out FILE.md]
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
import json, resource, sys, time
preset, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from measure.simulate import SimConfig, load_truth, simulate
cfg = SimConfig.preset(preset, seed=seed)
t0, c0 = time.perf_counter(), time.process_time()
simulate(cfg, seed, out)
res = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
       "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "accounts": load_truth(out).counts["accounts_table_rows"],
       "mechanisms": len(cfg.mechanisms_on())}
print(json.dumps(res))
"""


def run(preset: str, seed: int, tmp: str) -> dict:
    out = os.path.join(tmp, f"{preset}-{seed}")
    cmd = [sys.executable, "-c", WORKER, preset, str(seed), out]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    subprocess.run(["rm", "-rf", out], check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--out", default=str(HERE / "results" / "simulate_stress.md"))
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            base = run("demo", seed, tmp)
            stress = run("stress", seed, tmp)
            rows.append((seed, stress, base))
            print(f"seed {seed}: stress {stress['wall_s']:.1f} s, plain "
                  f"{base['wall_s']:.1f} s", file=sys.stderr)
    worst = max(s["wall_s"] for _, s, _ in rows)
    from run import run_line

    lines = [
        "## Simulator: stress worlds (`bench/bench_simulate_stress.py`)",
        "",
        "A demo-size `stress` world (every mechanism drawn for the seed) against the "
        "plain `demo` world of the same seed, each in a fresh process. **Baseline:** "
        "the plain `demo` world; ratio = stress wall / plain wall (what the stress "
        "mechanisms cost).",
        "",
        run_line(started, load_start),
        "",
        "| seed | mechanisms on | stress wall s | stress CPU s | stress peak MB "
        "| plain wall s | plain peak MB | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for seed, s, b in rows:
        lines.append(
            f"| {seed} | {s['mechanisms']} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | "
            f"{s['peak_mb']:.0f} | {b['wall_s']:.1f} | {b['peak_mb']:.0f} | "
            f"{s['wall_s'] / max(b['wall_s'], 1e-9):.2f} |"
        )
    lines += [
        "",
        "**Target:** a demo-size stress world in under 60 s: "
        f"{'met' if worst < 60 else 'not met'} (slowest {worst:.1f} s).",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
