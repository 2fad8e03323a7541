"""Benchmark: capture-pattern counts from a large ``detections`` table.

``measure.capture.pattern_counts`` (one DuckDB aggregation over the Parquet) against
a straightforward pandas implementation (read, drop duplicates, pivot to 0/1 columns,
mask, count), both in fresh subprocesses (peak memory = their max RSS), plus the
time of the log-linear model fits on the resulting counts (independent of the data
size). Writes ``bench/results/capture.md``, the section of BENCHMARKS.md for this
workload.

    python bench/bench_capture.py [--accounts 2000000] [--sources 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, resource, sys, time
import numpy as np
mode, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
t_open = 0.0
if mode == "measure":
    import measure
    from measure.capture import pattern_counts
    ds = measure.open(path, validate="schema")
    t_open = time.perf_counter() - t
    sources, y, sizes = pattern_counts(ds)
else:
    import pandas as pd
    det = pd.read_parquet(path + "/detections.parquet",
                          columns=["account_id", "source"])
    det = det.drop_duplicates()
    det["v"] = 1
    wide = det.pivot_table(index="account_id", columns="source", values="v",
                           fill_value=0, aggfunc="max")
    sources = sorted(wide.columns)
    mask = np.zeros(len(wide), dtype=np.int64)
    for j, s in enumerate(sources):
        mask += wide[s].to_numpy().astype(np.int64) << j
    y = np.bincount(mask, minlength=2 ** len(sources))[1:]
sec = time.perf_counter() - t
print(json.dumps({"seconds": sec, "open": t_open, "n": int(np.sum(y)),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "y": [int(v) for v in y]}))
"""


def make_data(path: Path, n_accounts: int, k: int, seed: int = 1) -> int:
    """Write accounts + detections (heterogeneous catchability) with DatasetWriter."""
    import numpy as np
    import polars as pl

    from measure import DatasetWriter

    rng = np.random.default_rng(seed)
    offs = np.linspace(-0.5, 0.5, k)
    with DatasetWriter(path, overwrite=True) as w:
        ids = np.arange(n_accounts, dtype=np.int64) + 10**8
        w.write_table(
            "accounts",
            pl.DataFrame(
                {"account_id": ids, "screen_name": pl.Series(ids.astype(str))}
            ),
        )
        rows = 0
        for start in range(0, n_accounts, 1_000_000):
            sl = ids[start : start + 1_000_000]
            eta = rng.normal(-1.4, 0.8, len(sl))
            hit = rng.random((len(sl), k)) < 1 / (1 + np.exp(-(eta[:, None] + offs)))
            r, c = np.nonzero(hit)
            w.append(
                "detections",
                pl.DataFrame(
                    {
                        "account_id": sl[r],
                        "source": np.array(
                            [f"source_{j}" for j in range(k)], dtype=object
                        )[c],
                    }
                ),
            )
            rows += len(r)
    # one Parquet file for the pandas reader
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{path}/detections/*.parquet')) "
        f"TO '{path}/detections.parquet' (FORMAT parquet)"
    )
    import shutil

    shutil.rmtree(path / "detections")
    from measure import write_manifest

    write_manifest(path)
    return rows


def run(mode: str, path: Path, k: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(path), str(k)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--accounts", type=int, default=2_000_000)
    ap.add_argument("--sources", type=int, default=6)
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    import numpy as np

    from measure.capture import analyze_counts

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = Path(tmp) / "capture_bench"
        t = time.perf_counter()
        rows = make_data(path, args.accounts, args.sources)
        gen = time.perf_counter() - t
        res = {m: run(m, path, args.sources) for m in ("measure", "pandas")}
    assert res["measure"]["y"] == res["pandas"]["y"], "pattern counts differ"
    y = np.array(res["measure"]["y"], dtype=float)
    t = time.perf_counter()
    fit = analyze_counts(y, [f"source_{j}" for j in range(args.sources)])
    fit_s = time.perf_counter() - t
    base = res["pandas"]["seconds"]
    from run import run_line

    lines = [
        "## Capture: pattern counts from detections (`bench/bench_capture.py`)",
        "",
        f"{args.accounts:,} accounts, {rows:,} detection rows over {args.sources} "
        f"sources (data generated in {gen:.0f} s). "
        "`measure.capture.pattern_counts` (one DuckDB aggregation over the Parquet) "
        "against the **baseline**, a straightforward pandas implementation (read, "
        "drop duplicates, pivot to 0/1 columns, mask, count); each in a fresh "
        "subprocess (peak memory = its max RSS).",
        "",
        run_line(started, load_start),
        "",
        "| run | seconds | of which opening the dataset | ratio to pandas "
        "| peak memory (MiB) | units observed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, key in (
        ("measure.capture.pattern_counts (DuckDB)", "measure"),
        ("pandas baseline (drop_duplicates + pivot)", "pandas"),
    ):
        r = res[key]
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['open']:.2f} | "
            f"{r['seconds'] / base:.2f} | "
            f"{r['peak_mib']:.0f} | {r['n']:,} |"
        )
    lines += [
        "",
        f"All {len(fit.models)} models (log-linear and Mth_normal) on the "
        f"{2**args.sources - 1} pattern counts, with profile-likelihood intervals "
        f"and both stepwise searches: {fit_s:.1f} s (does not grow with the number "
        f"of accounts; load average {os.getloadavg()[0]:.1f}). "
        f"Chosen model {fit.model}: N = {fit.estimate.estimate:,.0f} "
        f"(truth {args.accounts:,}), {fit.level:.0%} CI "
        f"{fit.estimate.ci[0]:,.0f} to {fit.estimate.ci[1]:,.0f}.",
        "",
        "| model | N | CI | AIC |",
        "|---|---:|---|---:|",
    ]
    for m in fit.models:
        if m.valid and m.name.startswith(("Mth_darroch", "Mth_normal", "two_way")):
            e = m.estimate
            lines.append(
                f"| {m.name} | {e.estimate:,.0f} | {e.ci[0]:,.0f} to "
                f"{e.ci[1]:,.0f} | {m.aic:,.1f} |"
            )
    lines += [
        "",
        "The simulated catchability is logit-normal (s.d. 0.8): `Mth_normal` is "
        "the correctly specified model; the log-linear heterogeneity models carry "
        "a bias of a few percent that the intervals of 2 million units no longer "
        "hide.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "capture.md").write_text(text)
    print(
        f"peak memory of this driver: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
