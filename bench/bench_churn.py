"""Benchmark: ``measure churn`` on a large status panel, against lifelines.

Generates (once, cached under ``data/bench/``) a synthetic panel on the data
contract: N accounts, each looked up 25 times a week apart (25 N observation rows,
Parquet, written in parts), with exponential latent suspension (mean 200 days) and
deletion (mean 1,000 days) times and accounts created before and during the panel.
Then, each in a fresh subprocess (peak memory = that process's max RSS):

1. the whole command ``measure churn DATA --json`` (lifetimes from the Parquet panel
   in DuckDB, Kaplan--Meier, Turnbull, Nelson--Aalen, cumulative incidence, Cox on
   up to 2 M accounts, monthly rates);
2. the lifetimes only (``build_lifetimes``), written to a Parquet file of
   ``entry, time, event``;
3. Kaplan--Meier with delayed entry on those lifetimes: ``measure.churn.kaplan_meier``
   and the baseline ``lifelines.KaplanMeierFitter().fit(time, event, entry=entry)``.

Writes ``bench/results/churn.md``, the section of BENCHMARKS.md for this workload.

Usage::

    python bench/bench_churn.py                 # 10 M accounts x 25 look-ups
    python bench/bench_churn.py --accounts 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOOKS = 25
CHUNK = 400_000  # accounts per Parquet part
T0_US = int(datetime(2014, 11, 1, tzinfo=UTC).timestamp() * 1e6)
DAY_US = 86_400_000_000


def generate(path: Path, n: int, seed: int = 0) -> Path:
    """Write the synthetic panel (accounts + observations) to ``path``."""
    import pyarrow as pa

    from measure import DatasetWriter

    rng = np.random.default_rng(seed)
    statuses = pa.array(["active", "suspended", "not_found"])
    ts_type = pa.timestamp("us", tz="UTC")
    with DatasetWriter(path, name=path.name, command=f"bench_churn generate {n}",
                       overwrite=True, compression="zstd") as w:
        for a in range(0, n, CHUNK):
            m = min(CHUNK, n - a)
            ids = np.arange(a + 1, a + m + 1, dtype=np.int64)
            created = rng.uniform(-400, 170, m)  # days since T0
            first = np.maximum(created, 0) + rng.uniform(0, 7, m)
            t_s = rng.exponential(200, m)
            t_d = rng.exponential(1000, m)
            looks = first[:, None] + 7.0 * np.arange(LOOKS)[None, :]
            age = looks - created[:, None]
            end = np.minimum(t_s, t_d)[:, None]
            code = np.where(age < end, 0, np.where((t_s <= t_d)[:, None], 1, 2))
            code = code.astype(np.int8).ravel()
            fol = rng.integers(0, 5000, m * LOOKS)
            obs = pa.table({
                "account_id": pa.array(np.repeat(ids, LOOKS)),
                "observed_at": pa.array(
                    (T0_US + looks.ravel() * DAY_US).astype(np.int64), ts_type),
                "status": pa.DictionaryArray.from_arrays(pa.array(code), statuses),
                "followers_count": pa.array(fol, mask=code != 0),
            })
            w.append("observations", obs)
            acc = pa.table({
                "account_id": pa.array(ids),
                "screen_name": pa.array([f"u{i}" for i in ids]),
                "created_at": pa.array((T0_US + created * DAY_US).astype(np.int64),
                                       ts_type),
                "first_seen": pa.array((T0_US + first * DAY_US).astype(np.int64),
                                       ts_type),
            })
            w.append("accounts", acc)
    return path


CHILD = r"""
import io, json, resource, sys, time
from contextlib import redirect_stdout
job, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
info = {}
if job == "command":
    from measure.cli import main
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["churn", data, "--json"])
    res = json.loads(buf.getvalue())
    info = {"rc": rc, "n_accounts": res["n_accounts"], "median": res["median_days"]}
elif job == "lifetimes":
    import measure
    from measure.churn import build_lifetimes
    with measure.open(data, validate="schema") as ds:
        lt = build_lifetimes(ds)
    fr = lt.frame.filter(lt.frame["time"] > lt.frame["entry"])
    fr.select("entry", "time", (fr["event"] == 1).alias("event")).write_parquet(out)
    info = {"n": fr.height}
elif job in ("km_measure", "km_lifelines"):
    import polars as pl
    df = pl.read_parquet(out)
    e, t, d = (df[c].to_numpy() for c in ("entry", "time", "event"))
    t1 = time.perf_counter()
    if job == "km_measure":
        from measure.churn import kaplan_meier, quantile
        km = kaplan_meier(e, t, d)
        info = {"median": quantile(km)[0], "s30": float(km.value(30.0)[0][0])}
    else:
        from lifelines import KaplanMeierFitter
        kmf = KaplanMeierFitter().fit(t, d, entry=e)
        info = {"median": float(kmf.median_survival_time_),
                "s30": float(kmf.survival_function_at_times(30.0).iloc[0])}
    info["fit_seconds"] = time.perf_counter() - t1
info["seconds"] = time.perf_counter() - t0
info["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(info))
"""


def run_child(job: str, data: Path, out: Path, timeout: float) -> dict:
    """Run one job in a fresh interpreter; return its JSON report."""
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, job, str(data), str(out)],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed",
                "seconds": time.perf_counter() - t}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    """Generate (if needed), measure, print and write the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10_000_000)
    ap.add_argument("--data", default=str(ROOT / "data" / "bench"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--no-lifelines", action="store_true")
    args = ap.parse_args()
    started = datetime.now(UTC)
    n = args.accounts
    data = Path(args.data) / f"churn_{n}"
    t = time.perf_counter()
    made = False
    if not (data / "manifest.json").is_file():
        generate(data, n)
        made = True
    gen_s = time.perf_counter() - t
    load0 = os.getloadavg()[0]
    life = Path(args.data) / f"churn_{n}_lifetimes.parquet"
    res = {"command": run_child("command", data, life, args.timeout),
           "lifetimes": run_child("lifetimes", data, life, args.timeout),
           "km_measure": run_child("km_measure", data, life, args.timeout)}
    if not args.no_lifelines:
        res["km_lifelines"] = run_child("km_lifelines", data, life, args.timeout)
    size = sum(f.stat().st_size for f in data.rglob("*.parquet")) / 2**30
    rows = [
        ("`measure churn DATA --json` (whole command)", res["command"]),
        ("lifetimes only (DuckDB over the Parquet panel)", res["lifetimes"]),
        ("Kaplan-Meier, measure (same lifetimes)", res["km_measure"]),
    ]
    if "km_lifelines" in res:
        try:
            lifelines = f"lifelines {version('lifelines')}"
        except PackageNotFoundError:
            lifelines = "lifelines"
        rows.append((f"Kaplan-Meier, {lifelines} (same lifetimes)",
                     res["km_lifelines"]))

    def cell(r: dict, k: str, fmt: str) -> str:
        return format(r[k], fmt) if k in r else r.get("error", "n/a")

    from run import run_line

    lines = [
        "## churn",
        "",
        f"Synthetic panel: {n:,} accounts x {LOOKS} weekly look-ups = "
        f"{n * LOOKS:,} observation rows ({size:.2f} GiB of Parquet, zstd)"
        + (f", generated in {gen_s:.0f} s" if made else ", reused from an existing "
           "copy") + ". Each step runs in a fresh subprocess (peak RSS = its own); "
        "**baseline:** lifelines' Kaplan-Meier with delayed entry on the same "
        "lifetimes.",
        "",
        run_line(started, load0),
        "",
        "| step | wall time (s) | fit only (s) | peak RSS (GiB) |",
        "|---|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {cell(r, 'seconds', '.1f')} | "
                     f"{cell(r, 'fit_seconds', '.2f') if 'fit_seconds' in r else ''}"
                     f" | {cell(r, 'peak_rss_gib', '.2f')} |")
    km_m, km_l = res["km_measure"], res.get("km_lifelines", {})
    if "fit_seconds" in km_m and "fit_seconds" in km_l:
        lines += ["", f"Kaplan-Meier fit time ratio lifelines / measure: "
                  f"{km_l['fit_seconds'] / km_m['fit_seconds']:.1f}x; peak memory "
                  f"ratio {km_l['peak_rss_gib'] / km_m['peak_rss_gib']:.1f}x "
                  f"(same {km_m.get('s30', float('nan')):.6f} vs "
                  f"{km_l.get('s30', float('nan')):.6f} survival at 30 days)."]
    cmd = res["command"]
    if "seconds" in cmd and "peak_rss_gib" in cmd:
        ok = cmd["seconds"] < 120 and cmd["peak_rss_gib"] < 8
        lines += ["", f"Target (whole command < 2 min and < 8 GiB): "
                  f"{'met' if ok else 'NOT met'} at this size."]
    text = "\n".join(lines) + "\n"
    print(text)
    print(json.dumps(res, indent=1), file=sys.stderr)
    out = HERE / "results" / "churn.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
