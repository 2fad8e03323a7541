"""Benchmark: census frame metrics over large follow-edge sets.

Generates a synthetic followers-only snowball as a dataset (numpy chunks written with
``measure.DatasetWriter``): 50 seeds (level 0), ``--core`` crawled level-1 accounts,
``--edges`` follow edges whose followed account is a crawled account (Zipf-like
popularity) and whose follower is drawn from ``--accounts`` ids (so most followers
are level-2 accounts seen only inside lists); 5% duplicated edges (re-crawls).

Each measurement runs in a fresh subprocess; peak memory is that process's maximum
resident set size (``resource.getrusage``). Compared in one run:

* ``measure`` - :func:`measure.census.build_frame` (every in-network metric, levels,
  reached_via, lower-bound flags; ranks as a separate row);
* ``duckdb GROUP BY dst`` - bare ``CREATE TABLE AS SELECT dst, count(*) ... GROUP BY
  dst`` over the same Parquet (the issue's baseline);
* ``duckdb GROUP BY src`` - the same with ``src`` (context: the frame needs a per-
  follower aggregation, which has as many groups as the frame has accounts);
* ``pandas`` - a straightforward pandas implementation of the same metrics, at a
  size pandas can hold (``--pandas-edges``), against ``measure`` at that size.

Usage::

    python bench/bench_census.py                      # 100M edges, pandas at 20M
    python bench/bench_census.py --edges 1e7 --pandas-edges 2e6   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "census.md"
CHUNK = 10_000_000
N_SEEDS = 50


def generate(path: Path, n_edges: int, n_core: int, n_accounts: int,
             seed: int = 0) -> Path:
    """Write the synthetic snowball dataset at ``path`` (skipped if present)."""
    import polars as pl

    from measure import DatasetWriter

    if (path / "manifest.json").is_file():
        return path
    rng = np.random.default_rng(seed)
    core = np.arange(1, n_core + 1, dtype=np.int64)
    with DatasetWriter(path, name=path.name, command="bench_census generate",
                       overwrite=True) as w:
        w.write_table("seeds", pl.DataFrame({"account_id": core[:N_SEEDS]}))
        w.write_table("crawls", pl.DataFrame({
            "account_id": core, "list": ["followers"] * n_core,
            "level": np.where(core <= N_SEEDS, 0, 1).astype(np.int32),
            "complete": rng.random(n_core) > 0.1}))
        w.write_table("accounts", pl.DataFrame({
            "account_id": core, "screen_name": [f"u{i}" for i in core]}))
        done = 0
        while done < n_edges:
            k = min(CHUNK, n_edges - done)
            # followed: Zipf-like over the core (low ids popular)
            dst = (np.floor(rng.random(k) ** 3 * n_core) + 1).astype(np.int64)
            # followers: 2% from the core, the rest from the whole platform
            src = rng.integers(1, n_accounts + 1, k, dtype=np.int64)
            from_core = rng.random(k) < 0.02
            src[from_core] = rng.integers(1, n_core + 1, int(from_core.sum()))
            dup = rng.random(k) < 0.05
            src[dup] = np.roll(src, 1)[dup]
            dst[dup] = np.roll(dst, 1)[dup]
            w.append("edges", pl.DataFrame({"src": src, "dst": dst}))
            done += k
    return path


# -- workers (each runs in its own process) ---------------------------------------
def work_measure(path: str, ranks: bool) -> dict:
    import measure
    from measure.census import build_frame

    ds = measure.open(path, validate="none")
    t = time.perf_counter()
    table = build_frame(ds, ranks=False)
    n = ds.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    out = {"seconds": time.perf_counter() - t, "rows": int(n)}
    if ranks:
        t2 = time.perf_counter()
        build_frame(ds, ranks=True)
        out["ranks_seconds"] = time.perf_counter() - t2
    return out


def work_duckdb(path: str, key: str) -> dict:
    import duckdb

    con = duckdb.connect()
    files = str(Path(path) / "edges" / "*.parquet")
    t = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE g AS SELECT {key}, count(*) AS n "
                f"FROM read_parquet('{files}') GROUP BY {key}")
    n = con.execute("SELECT count(*) FROM g").fetchone()[0]
    return {"seconds": time.perf_counter() - t, "rows": int(n)}


def work_pandas(path: str) -> dict:
    """The same metrics in plain pandas (dedupe, merges, groupbys)."""
    import pandas as pd

    t = time.perf_counter()
    p = Path(path)
    e = pd.concat([pd.read_parquet(f) for f in sorted((p / "edges").glob("*.parquet"))],
                  ignore_index=True)
    crawls = pd.read_parquet(p / "crawls.parquet")
    seeds = pd.read_parquet(p / "seeds.parquet")
    e = e[e.src != e.dst].drop_duplicates()
    core = crawls.groupby("account_id").agg(
        level=("level", "min"),
        followers_list=("list", lambda s: (s == "followers").any()))
    core.loc[core.index.isin(seeds.account_id), "level"] = 0
    core["is_seed"] = core.index.isin(seeds.account_id)
    d = e.join(core, on="dst")
    in_friends = d.groupby("src").size()
    seeds_followed = d[d.is_seed.fillna(False).astype(bool)].groupby("src").size()
    fl = d[d.followers_list.fillna(False).astype(bool)]
    lists_seen = fl.groupby("src").size()
    via = fl.sort_values(["level", "dst"]).groupby("src").first()
    fc = e[e.src.isin(core.index)]
    in_followers = fc.groupby("dst").size()
    seed_followers = fc[fc.src.isin(seeds.account_id)].groupby("dst").size()
    rev = fc.rename(columns={"src": "dst", "dst": "src"})
    recip = e.merge(rev, on=["src", "dst"]).groupby("src").size()
    ids = pd.Index(core.index).union(via.index)
    out = pd.DataFrame(index=ids)
    out["in_friends"] = in_friends.reindex(ids, fill_value=0)
    out["seeds_followed"] = seeds_followed.reindex(ids, fill_value=0)
    out["n_lists_seen"] = lists_seen.reindex(ids, fill_value=0)
    out["in_followers"] = in_followers.reindex(ids, fill_value=0)
    out["seed_followers"] = seed_followers.reindex(ids, fill_value=0)
    out["reciprocal_in"] = recip.reindex(ids, fill_value=0)
    out["level"] = core["level"].reindex(ids)
    miss = out["level"].isna()
    out.loc[miss, "level"] = via["level"].reindex(ids[miss]).to_numpy() + 1
    out["reached_via"] = via["dst"].reindex(ids)
    return {"seconds": time.perf_counter() - t, "rows": int(len(out))}


def _worker(args: argparse.Namespace) -> None:
    task = args.worker
    if task == "measure":
        res = work_measure(args.data, ranks=False)
    elif task == "measure_ranks":
        res = work_measure(args.data, ranks=True)
    elif task in ("duckdb_dst", "duckdb_src"):
        res = work_duckdb(args.data, task.split("_")[1])
    elif task == "pandas":
        res = work_pandas(args.data)
    else:
        raise SystemExit(f"unknown worker {task}")
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def run(task: str, data: Path) -> dict:
    """Run one worker in a fresh process and return its JSON report."""
    out = subprocess.run([sys.executable, __file__, "--worker", task, "--data",
                          str(data)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "?"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, r: dict, base: dict | None) -> str:
    if "error" in r:
        return f"| {name} | failed: {r['error']} | | | |"
    ratio = f"{r['seconds'] / base['seconds']:.2f}x" if base else "1.00x (baseline)"
    mem = (f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f}x" if base
           else "1.00x")
    return (f"| {name} | {r['seconds']:.1f} | {ratio} | {r['peak_rss_mib']:,.0f} | "
            f"{mem} |")


def main() -> int:
    """Generate data, run every measurement, print and write the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edges", type=float, default=1e8)
    ap.add_argument("--pandas-edges", type=float, default=2e7)
    ap.add_argument("--core", type=int, default=50_000)
    ap.add_argument("--accounts", type=int, default=20_000_000)
    ap.add_argument("--data-dir", default=os.environ.get("BENCH_DATA", "/tmp/bench"))
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return 0
    root = Path(args.data_dir)
    n_big, n_small = int(args.edges), int(args.pandas_edges)
    t = time.perf_counter()
    big = generate(root / f"census_edges_{n_big}", n_big, args.core, args.accounts)
    small = generate(root / f"census_edges_{n_small}", n_small, args.core,
                     args.accounts)
    gen = time.perf_counter() - t
    r_dst = run("duckdb_dst", big)
    r_src = run("duckdb_src", big)
    r_m = run("measure_ranks", big)
    r_mr = dict(r_m)
    if "ranks_seconds" in r_m:
        r_mr["seconds"] = r_m["seconds"] + r_m["ranks_seconds"]
    r_pd = run("pandas", small)
    r_ms = run("measure", small)
    lines = [
        "## census: frame metrics over large edge sets",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores), `python bench/bench_census.py --edges {n_big:.0e}"
        f" --pandas-edges {n_small:.0e}`; synthetic followers-only snowball "
        f"({N_SEEDS} seeds, {args.core:,} crawled accounts, followers drawn from "
        f"{args.accounts:,} ids, 5% duplicate edges; data generated in {gen:.0f} s, "
        "not timed). Each row is a fresh process; memory is its peak RSS.",
        "",
        f"### {n_big:,} edges (frame: {r_m.get('rows', 0):,} accounts)",
        "",
        "| method | seconds | time vs baseline | peak RSS MiB | memory vs baseline |",
        "|---|---|---|---|---|",
        _row("bare DuckDB `GROUP BY dst` (baseline)", r_dst, None),
        _row("bare DuckDB `GROUP BY src` (context)", r_src, r_dst),
        _row("measure `build_frame` (all metrics)", r_m, r_dst),
        _row("measure `build_frame` + ranks/percentiles (same process)", r_mr,
             r_dst),
        "",
        f"### {n_small:,} edges: measure vs pandas",
        "",
        "| method | seconds | time vs baseline | peak RSS MiB | memory vs baseline |",
        "|---|---|---|---|---|",
        _row("straightforward pandas (baseline)", r_pd, None),
        _row("measure `build_frame` (all metrics)", r_ms, r_pd),
        "",
    ]
    if "error" not in r_m and "error" not in r_dst:
        ratio = r_m["seconds"] / r_dst["seconds"]
        lines.append(f"Target <= 1.5x the bare `GROUP BY dst`: measured {ratio:.1f}x "
                     f"({'met' if ratio <= 1.5 else 'not met'}).")
    if "error" not in r_ms and "error" not in r_pd:
        sp = r_pd["seconds"] / r_ms["seconds"]
        mem = r_ms["peak_rss_mib"] / r_pd["peak_rss_mib"]
        lines.append(f"Target >= 5x faster than pandas with lower peak memory: "
                     f"{sp:.1f}x faster, {mem:.2f}x the memory "
                     f"({'met' if sp >= 5 and mem < 1 else 'not met'}).")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
