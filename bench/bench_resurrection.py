"""Benchmark: link 1 million suspended accounts against 2 million new accounts.

Generates synthetic linkage data (``measure.resurrection._synthetic``: suspended
accounts, their successors and unrelated new accounts, with colliding handle stems,
Arabic display names, avatars, bios, follower edges and look-ups), writes it under
``/tmp`` (outside the repository), then times ``measure.resurrection.analyze`` in a
subprocess. Peak memory is the child's ``ru_maxrss`` and, independently, the peak
of the child's RSS sampled by the parent (psutil, every 0.5 s), which also gives a
figure when the child is stopped at ``--timeout``. The baseline is all-pairs
rapidfuzz (``process.cdist`` of suspended handles against every new handle) on a
subset of suspended accounts, extrapolated per suspended account to the full size,
measured in the same run.

``--profile`` runs the child under ``cProfile`` and reports, per pipeline step, the
seconds and the peak RSS reached during the step (sampled), plus the functions
with the largest cumulative and own time.

Writes ``bench/results/resurrection.md`` (or ``--results``), the section of
BENCHMARKS.md for this workload. Usage::

    python bench/bench_resurrection.py [--suspended 1000000] [--new 2000000]
        [--profile] [--timeout 1200] [--results bench/results/resurrection.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, threading, time
import psutil
import measure
from measure.resurrection import analyze
profile = sys.argv[2] == "1"
proc = psutil.Process()
samples = []
stop = False
def sampler():
    while not stop:
        samples.append((time.perf_counter(), proc.memory_info().rss))
        time.sleep(0.25)
th = threading.Thread(target=sampler, daemon=True)
th.start()
t = time.perf_counter()
ds = measure.open(sys.argv[1], validate="schema", memory_limit="6GB")
ds.con.execute("SET enable_progress_bar = false")
sql_times = []
trace = open(sys.argv[4], "w") if len(sys.argv) > 4 and sys.argv[4] else None
if profile or trace:
    class _Con:
        # times each SQL statement (first words name it) for the profile
        def __init__(self, con):
            self._con = con
        def execute(self, q, *a, **k):
            t_q = time.perf_counter()
            name = " ".join(q.split()[:8])[:70]
            if trace:  # where the run is, should it be stopped
                rss = proc.memory_info().rss / 2**30
                trace.write(f"{t_q - t:8.1f} s  rss {rss:5.2f} GiB  start {name}\n")
                trace.flush()
            out = self._con.execute(q, *a, **k)
            sql_times.append((name, time.perf_counter() - t_q))
            return out
        def __getattr__(self, n):
            return getattr(self._con, n)
    class _DS:
        def __init__(self, ds):
            self._ds = ds
            self.con = _Con(ds.con)
        def __getattr__(self, n):
            return getattr(self._ds, n)
    ds = _DS(ds)
t_an = time.perf_counter()
if profile:
    import cProfile, pstats, io
    pr = cProfile.Profile()
    pr.enable()
opts = json.loads(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else {}
r = analyze(ds, n_imputations=10, n_boot=50, **opts)
if profile:
    pr.disable()
el = time.perf_counter() - t
stop = True
th.join()
# peak RSS per step from the samples (steps follow each other from t_an)
steps = {}
edge = t_an
for k, v in r.timings.items():
    if k == "total":
        continue
    lo, hi = edge, edge + v
    inside = [m for (s, m) in samples if lo <= s <= hi]
    steps[k] = max(inside) if inside else None
    edge = hi
prof = None
if profile:
    out = {}
    for key in ("cumulative", "tottime"):
        s = io.StringIO()
        pstats.Stats(pr, stream=s).strip_dirs().sort_stats(key).print_stats(25)
        out[key] = s.getvalue()
    prof = out
import resource
links = r.links.select("previous", "new")
links.write_parquet(sys.argv[3])
print(json.dumps({"seconds": el, "n_suspended": r.n_suspended, "n_pairs": r.n_pairs,
                  "pairs_by_key": r.pairs_by_key,
                  "n_linked": r.n_linked, "timings": r.timings,
                  "step_peak_rss": steps, "profile": prof, "sql_times": sql_times,
                  "rate_30d": r.rate_30d.estimate, "rate_30d_ci": r.rate_30d.ci,
                  "cpu_s": sum(os.times()[:2]),
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _short(n: int) -> str:
    """``1000000`` -> ``1M``, ``200000`` -> ``200k`` (for the section heading)."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return str(n)


LOADS: list[float] = []  # 1-minute load averages sampled while the linker runs


def run_child(path: str, profile: bool, timeout: float, links_out: str,
              max_rss: float = float("inf"), trace: str = "",
              opts: str = "") -> tuple[dict | None, float, float, str, float]:
    """Run ``analyze`` in a child.

    Returns (result or None, wall seconds, peak RSS bytes, why it was stopped,
    CPU seconds of the child: user + system, all its threads).
    """
    import psutil

    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([sys.executable, "-c", CHILD, path,
                              "1" if profile else "0", links_out, trace, opts],
                             stdout=out, stderr=err, text=True)
        ps = psutil.Process(p.pid)
        peak = 0
        LOADS.clear()
        cpu = 0.0
        while p.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
                ct = ps.cpu_times()
                cpu = ct.user + ct.system
                LOADS.append(os.getloadavg()[0])
            except psutil.Error:
                pass
            over_t = time.perf_counter() - t > timeout
            if over_t or peak > max_rss:
                p.kill()
                p.wait()
                why = (f"time limit {timeout:.0f} s" if over_t else
                       f"memory guard {max_rss / 2**30:.0f} GiB (shared machine)")
                return None, time.perf_counter() - t, peak, why, cpu
            time.sleep(0.5)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.stderr.write(err.read()[-4000:])
            raise SystemExit(f"analyze failed with exit code {p.returncode}")
        res = json.loads(out.read().strip().splitlines()[-1])
        return res, wall, peak, "", max(cpu, res.get("cpu_s", 0.0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suspended", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=2_000_000,
                    help="new accounts (successors plus unrelated)")
    ap.add_argument("--out", default="/tmp/measure_bench_resurrection")
    ap.add_argument("--baseline-suspended", type=int, default=2000)
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the child; per-step peak RSS")
    ap.add_argument("--timeout", type=float, default=1200,
                    help="stop the linker after this many seconds")
    ap.add_argument("--max-rss-gib", type=float, default=14,
                    help="stop the linker when its RSS passes this (shared host)")
    ap.add_argument("--note", default="", help="added to the header line")
    ap.add_argument("--analyze-opts", default="",
                    help='JSON options for analyze, e.g. \'{"per_key_by": {}}\'')
    ap.add_argument("--reuse", action="store_true",
                    help="reuse data already written at --out (same sizes)")
    ap.add_argument("--results", default=None,
                    help="markdown file to write (default bench/results/"
                         "resurrection.md; '-' prints only)")
    args = ap.parse_args()
    import numpy as np
    import polars as pl
    from rapidfuzz import fuzz, process

    from measure.resurrection._synthetic import make_synthetic, write_synthetic

    started, load0 = dt.datetime.now(dt.UTC), os.getloadavg()
    t = time.perf_counter()
    p_return = 0.5
    n_bg = max(0, args.new - int(p_return * args.suspended * 0.97))
    syn = make_synthetic(args.suspended, n_bg, seed=1, p_return=p_return,
                         followers_per_account=10, weekly=False,
                         follower_pool=20 * (args.suspended + args.new))
    if not (args.reuse and Path(args.out, "manifest.json").exists()):
        write_synthetic(syn, args.out)
    gen_s = time.perf_counter() - t
    n_new = syn.accounts.height - args.suspended
    n_edges = syn.edges.height
    acc = syn.accounts.select("screen_name")
    truth = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("predecessor_id").alias("previous"), pl.col("account_id").alias("new"))
    del syn

    tag = f"{os.getpid()}"
    links_out = os.path.join(tempfile.gettempdir(), f"rs_bench_links_{tag}.parquet")
    trace = os.path.join(tempfile.gettempdir(), f"rs_bench_trace_{tag}.txt")
    res, wall, peak, why, cpu = run_child(args.out, args.profile, args.timeout,
                                          links_out, args.max_rss_gib * 2**30, trace,
                                          args.analyze_opts)
    load1 = os.getloadavg()
    load_run = (f"; load average (1 min) while the linker ran: min "
                f"{min(LOADS):.1f}, mean {sum(LOADS) / len(LOADS):.1f}, max "
                f"{max(LOADS):.1f}" if LOADS else "")

    prec = rec = float("nan")
    if res is not None:
        links = pl.read_parquet(links_out).cast(truth.schema)
        tp = links.join(truth, on=["previous", "new"]).height
        prec = tp / max(links.height, 1)
        rec = tp / max(truth.height, 1)

    # baseline: all-pairs rapidfuzz on a subset of suspended accounts, against
    # every new account (the blocking-free approach), extrapolated
    sus = acc.head(args.suspended)["screen_name"].to_list()[: args.baseline_suspended]
    new = acc.tail(n_new)["screen_name"].to_list()
    t = time.perf_counter()
    c0 = sum(os.times()[:2])
    for i in range(0, len(sus), 250):
        m = process.cdist(sus[i:i + 250], new, scorer=fuzz.ratio, workers=-1,
                          dtype=np.uint8)
        del m
    base_sub = time.perf_counter() - t
    base_cpu = sum(os.times()[:2]) - c0
    base_full = base_sub * args.suspended / len(sus)
    load2 = os.getloadavg()

    gib = 2**30
    from run import run_line

    opts = f"{', ' + args.analyze_opts if args.analyze_opts else ''}"
    lines = [
        f"## Resurrection linking: {_short(args.suspended)} suspended x "
        f"{_short(args.new)} new accounts (`bench/bench_resurrection.py`)",
        "",
        "Synthetic linkage data (`measure.resurrection._synthetic`, seed 1): "
        "suspended accounts, their successors (half of the suspended accounts "
        "return) and unrelated new accounts, with colliding handle stems, Arabic "
        "display names, avatars, bios, follower edges and look-ups, written under "
        f"`/tmp`. The script runs `measure.resurrection.analyze(ds, "
        f"n_imputations=10, n_boot=50{opts})` (dataset opened with "
        '`memory_limit="6GB"`) in a child process. '
        "Peak memory is the child's "
        "`ru_maxrss` and, independently, the peak of its RSS sampled by the parent "
        "every 0.5 s; the per-step peak comes from samples taken inside the child. "
        "Precision and recall are counted against the generator's true "
        "predecessors.",
        "",
        "**Baseline:** all-pairs rapidfuzz (`process.cdist` of suspended handles "
        "against every new handle, handles only) on a subset of the suspended "
        "accounts, measured in the same run and extrapolated per suspended account "
        "to the full size.",
        "",
        "**Targets:** under 300 s and under 8 GiB peak RSS at 1M x 2M.",
        "",
        run_line(started, load0[0])
        + (" The child ran under cProfile (adds overhead)." if args.profile else "")
        + (f" {args.note}." if args.note else ""),
        "",
        f"Synthetic data: {args.suspended:,} suspended accounts, {n_new:,} new "
        f"accounts, {n_edges:,} follower edges (generated in {gen_s:.0f} s). "
        f"Load average (1, 5, 15 min) before {load0[0]:.1f}/{load0[1]:.1f}/"
        f"{load0[2]:.1f}, after the linker {load1[0]:.1f}/{load1[1]:.1f}/"
        f"{load1[2]:.1f}, after the baseline {load2[0]:.1f}/{load2[1]:.1f}/"
        f"{load2[2]:.1f}{load_run}.",
        "",
    ]
    if res is None:
        tr = Path(trace).read_text().strip().splitlines() if Path(trace).exists() \
            else []
        lines += [
            f"**The linker was stopped after {wall:.0f} s** ({why}); peak RSS "
            f"sampled until then: {peak / gib:.2f} GiB. Last SQL steps started "
            "(seconds since start, RSS then):",
            "",
            "```",
            *tr[-8:],
            "```",
            "",
        ]
        secs = None
    else:
        secs = res["seconds"]
        lines += ["| step | seconds | peak RSS during step (GiB) |", "|---|---|---|"]
        for k, v in res["timings"].items():
            r = res["step_peak_rss"].get(k)
            lines.append(f"| {k} | {v:.1f} | "
                         f"{'-' if r is None else f'{r / gib:.2f}'} |")
        rss = max(res["maxrss_kib"] * 1024, peak)
        lines += [
            "",
            f"Candidate pairs by key: {res['pairs_by_key']}. Links "
            f"{res['n_linked']:,}; precision {prec:.3f}, recall {rec:.3f} against "
            f"the generator's true predecessors ({truth.height:,}); 30-day "
            f"return rate {res['rate_30d']:.4f} "
            f"({res['rate_30d_ci'][0]:.4f}-{res['rate_30d_ci'][1]:.4f}).",
            "",
        ]
    lines += [
        "| method | suspended x new | seconds | CPU seconds | peak RSS (GiB) | "
        "candidate pairs |",
        "|---|---|---|---|---|---|",
    ]
    if res is not None:
        lines.append(
            f"| measure.resurrection.analyze (blocking + EM + assignment + MI) | "
            f"{args.suspended:,} x {n_new:,} | {secs:.1f} | {cpu:.0f} | "
            f"{rss / gib:.2f} | "
            f"{res['n_pairs']:,} "
            f"({res['n_pairs'] / max(res['n_suspended'], 1):.2f} per suspended) |")
    else:
        lines.append(
            f"| measure.resurrection.analyze (stopped: {why}) | {args.suspended:,} x "
            f"{n_new:,} | > {wall:.0f} | > {cpu:.0f} | >= {peak / gib:.2f} | - |")
    lines += [
        f"| all-pairs rapidfuzz `cdist` (handles only), measured | "
        f"{len(sus):,} x {n_new:,} | {base_sub:.1f} | {base_cpu:.0f} | - | "
        f"{len(sus) * n_new:,} |",
        f"| all-pairs rapidfuzz, extrapolated | {args.suspended:,} x {n_new:,} | "
        f"{base_full:.0f} | {base_cpu * args.suspended / len(sus):.0f} | - | "
        f"{args.suspended * n_new:,} |",
        "",
    ]
    if secs is not None:
        lines.append(f"Ratio (all-pairs extrapolated / measure): "
                     f"**{base_full / secs:.1f}x** in wall time, "
                     f"{base_cpu * args.suspended / len(sus) / max(cpu, 1e-9):.1f}x "
                     "in CPU time.")
        if args.suspended >= 1_000_000 and args.new >= 2_000_000:
            met = [secs < 300, rss / gib < 8]
            verdict = ("both met" if all(met) else "neither met" if not any(met)
                       else "wall time met" if met[0] else "memory met")
            lines += ["", f"**Targets:** {secs:.1f} s wall and {rss / gib:.2f} GiB "
                      f"peak RSS: {verdict}."]
    else:
        lines.append(f"Ratio (all-pairs extrapolated / measure): less than "
                     f"{base_full / wall:.1f}x (measure stopped).")
    if res is not None and res.get("sql_times"):
        agg: dict[str, list[float]] = {}
        for name, s in res["sql_times"]:
            agg.setdefault(name, []).append(s)
        top = sorted(agg.items(), key=lambda kv: -sum(kv[1]))[:15]
        lines += ["", "### SQL statements by time (top 15)", "",
                  "The statement column gives the first words of each statement as "
                  "the run logged them, with the pipeline's tables named "
                  "`_rs_<name>`; the step executor (`measure._steps`) names them "
                  "`_ms_<token>_<name>`.", "",
                  "| statement (first words) | calls | seconds |", "|---|---|---|"]
        lines += [f"| `{k}` | {len(v)} | {sum(v):.2f} |" for k, v in top]
    if res is not None and res.get("profile"):
        lines += ["", "### cProfile (cumulative, top 25)", "", "```",
                  res["profile"]["cumulative"].strip(), "```", "",
                  "### cProfile (own time, top 25)", "", "```",
                  res["profile"]["tottime"].strip(), "```"]
    lines += REPRODUCE
    for f in (links_out, trace):  # scratch files of the child
        Path(f).unlink(missing_ok=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results != "-":
        out = Path(args.results) if args.results else (
            Path(__file__).parent / "results" / "resurrection.md")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


REPRODUCE = [
    "",
    "### Reproduce",
    "",
    "```",
    "python bench/bench_resurrection.py                                     "
    "# 1M x 2M, data under /tmp/measure_bench_resurrection",
    "python bench/bench_resurrection.py --out /tmp/rsperf_1m --reuse        "
    "# reuse the data written at --out",
    "python bench/bench_resurrection.py --suspended 200000 --new 400000 --profile   "
    "# smaller; cProfile and per-step peak RSS",
    "```",
    "",
    "`--baseline-suspended` sets the size of the all-pairs subset (default 2,000),",
    "`--analyze-opts` passes JSON options to `analyze`, and `--timeout` /",
    "`--max-rss-gib` stop the linker at a time or memory limit (defaults 1,200 s and",
    "14 GiB).",
]


if __name__ == "__main__":
    main()
