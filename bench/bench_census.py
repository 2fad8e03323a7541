"""Benchmark: census frame metrics over the simulator's large preset.

Data: ``measure simulate --preset large --scale S --seed 1`` (generated when absent,
not timed; the edges are the follower lists of seeds and level-1 accounts, with
``relation`` and ``observed_at``). Each measurement runs in a fresh subprocess; peak
memory is that process's maximum resident set size (``resource.getrusage``), CPU is
its user + system time. Compared in one run:

* ``duckdb GROUP BY dst`` - bare ``CREATE TEMP TABLE AS SELECT dst, count(*) ...
  GROUP BY dst`` over the same Parquet;
* ``duckdb GROUP BY src`` - the same with ``src`` (the grouping of the per-account
  metrics: one group per follower);
* ``duckdb GROUP BY src, build_frame's settings`` - the same ``GROUP BY src`` on the
  dataset's ``edges`` view with the DuckDB settings :func:`build_frame` uses
  (``perfect_ht_threshold``, ``preserve_insertion_order = false``): shows how much
  of measure's speed comes from those settings rather than from the plan;
* ``measure`` - :func:`measure.census.build_frame` (every in-network metric, levels,
  reached_via, lower-bound flags, reachability from the seeds; ranks as a separate
  row);
* ``pandas`` - a straightforward pandas implementation of the same metrics
  (``drop_duplicates`` of the edges, reachability by repeated ``isin``, ``groupby``
  and ``merge``), at the first size only; its frame size and metric totals are
  checked against measure's.

Usage::

    python bench/bench_census.py                           # 100M and 1B edges
    python bench/bench_census.py --scales 0.01 --no-write  # quick check

With ``--repeat R`` (default 3) every DuckDB and measure row at the first scale is
run R times, interleaved (dst, src, src tuned, measure, dst, ...), and the run with
the smallest wall time is shown (the least disturbed by other load on a shared
machine; peak RSS is the largest over the runs). Larger scales and pandas run once.
Writes ``bench/results/census.md``, the section of BENCHMARKS.md for this workload.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "census.md"
CHECK = ("in_friends", "in_followers", "seeds_followed", "seed_followers",
         "reciprocal_in", "n_lists_seen")


def generate(path: Path, scale: float) -> float:
    """Simulate the large preset at ``scale`` into ``path`` (skipped if present)."""
    t = time.perf_counter()
    # another process is generating it (a temporary sibling exists): wait for it
    while (not (path / "manifest.json").is_file()
           and any(path.parent.glob(f".{path.name}.tmp-*"))):
        time.sleep(10)
    if (path / "manifest.json").is_file():
        return 0.0
    # ``measure`` has no ``__main__``: call the console script's function
    subprocess.run([sys.executable, "-c",
                    "import sys; from measure.cli import main; sys.exit(main())",
                    "simulate", "--preset", "large", "--scale", str(scale),
                    "--seed", "1", "--overwrite", str(path)],
                   check=True, capture_output=True)
    return time.perf_counter() - t


# -- workers (each runs in its own process) ---------------------------------------
def _totals(df) -> dict:  # noqa: ANN001 - polars or pandas frame
    return {"rows": int(len(df)), **{c: int(df[c].sum()) for c in CHECK}}


def work_measure(path: str) -> dict:
    import measure
    from measure.census import _frame, build_frame
    from measure.census._frame import frame_info

    ds = measure.open(path, validate="none")
    t, c = time.perf_counter(), _cpu()
    table = build_frame(ds, ranks=False)
    secs, cpu = time.perf_counter() - t, _cpu() - c
    out = {"seconds": secs, "cpu": cpu,
           **_totals(ds.sql(f"SELECT {', '.join(CHECK)} FROM {table}"))}
    t2 = time.perf_counter()
    build_frame(ds, ranks=True)
    out["ranks_seconds"] = time.perf_counter() - t2
    out["info"] = frame_info(ds).to_dict()
    out["memory_limit"] = f"{_frame.MEMORY_FRACTION:.0%} of RAM"
    return out


def work_duckdb_tuned(path: str) -> dict:
    """``GROUP BY src`` on the dataset's view with build_frame's DuckDB settings."""
    import measure
    from measure.census import _frame

    ds = measure.open(path, validate="none")
    ds.execute("SET preserve_insertion_order = false")
    bits = _frame._perfect_ht_bits(ds)
    ds.execute(f"SET perfect_ht_threshold = {max(bits, 12)}")
    t, c = time.perf_counter(), _cpu()
    ds.execute("CREATE TEMP TABLE g AS SELECT src, count(*) AS n FROM edges "
               "GROUP BY src")
    secs, cpu = time.perf_counter() - t, _cpu() - c
    n = ds.execute("SELECT count(*) FROM g").fetchone()[0]
    return {"seconds": secs, "cpu": cpu, "rows": int(n), "bits": bits}


def work_duckdb(path: str, key: str) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    files = str(Path(path) / "edges" / "*.parquet")
    t, c = time.perf_counter(), _cpu()
    con.execute(f"CREATE TEMP TABLE g AS SELECT {key}, count(*) AS n "
                f"FROM read_parquet('{files}') GROUP BY {key}")
    secs, cpu = time.perf_counter() - t, _cpu() - c
    n = con.execute("SELECT count(*) FROM g").fetchone()[0]
    return {"seconds": secs, "cpu": cpu, "rows": int(n)}


def work_pandas(path: str) -> dict:
    """The same metrics in plain pandas (every distinct edge once, as exact mode)."""
    import numpy as np
    import pandas as pd

    t, c = time.perf_counter(), _cpu()
    p = Path(path)
    e = pd.read_parquet(p / "edges", columns=["src", "dst", "relation"])
    e = e.loc[(e.relation.isna() | (e.relation == "follows")) & (e.src != e.dst),
              ["src", "dst"]].drop_duplicates()
    crawls = pd.read_parquet(p / "crawls.parquet")
    seeds = set(pd.read_parquet(p / "seeds.parquet").account_id)
    lists = crawls.groupby("account_id")["list"].agg(set)
    fol = {a for a, s in lists.items() if "followers" in s}
    fri = {a for a, s in lists.items() if "friends" in s}
    snow = crawls[crawls["level"] < 99].groupby("account_id")["level"].min().to_dict()
    # reachability from the seeds through collected lists (breadth-first)
    level = dict.fromkeys(seeds, 0)
    frontier = set(seeds)
    crawled = set(lists.index)
    while frontier:
        held = pd.concat([e.src[e.dst.isin(frontier & fol)],
                          e.dst[e.src.isin(frontier & fri)]])
        new = (set(held.unique()) & crawled) - set(level)
        for a in new:
            level[a] = snow.get(a, np.nan)
        frontier = new
    core = pd.DataFrame({"account_id": list(level)})
    core["is_seed"] = core.account_id.isin(seeds)
    core["level"] = core.account_id.map(level)
    # accounts crawled only outside the snowball: 1 + level of the first reacher
    missing = core["level"].isna()
    if missing.any():
        known = core[~missing]
        reach = pd.concat([
            e[e.dst.isin(set(known.account_id) & fol)].rename(
                columns={"dst": "owner", "src": "member"}),
            e[e.src.isin(set(known.account_id) & fri)].rename(
                columns={"src": "owner", "dst": "member"})])
        reach = reach[reach.member.isin(set(core.account_id[missing]))]
        lv = reach.merge(known[["account_id", "level"]], left_on="owner",
                         right_on="account_id").groupby("member")["level"].min() + 1
        core.loc[missing, "level"] = core.account_id[missing].map(lv)
    core = core.sort_values(["is_seed", "level", "account_id"],
                            ascending=[False, True, True])
    core["rank"] = np.arange(1, len(core) + 1)
    rank = core.set_index("account_id")["rank"]
    in_core = set(core.account_id)
    ef = e[e.dst.isin(in_core & fol)]
    er = e[e.src.isin(in_core & fri)]
    known = pd.concat([ef, er]).drop_duplicates()
    kd = known[known.dst.isin(in_core)]
    ks = known[known.src.isin(in_core)]
    out = pd.DataFrame({
        "in_friends": kd.groupby("src").size(),
        "seeds_followed": kd[kd.dst.isin(seeds)].groupby("src").size(),
        "fl_seen": ef.groupby("src").size(),
        "f_via": ef.dst.map(rank).groupby(ef.src).min(),
    })
    inn = pd.DataFrame({
        "in_followers": ks.groupby("dst").size(),
        "seed_followers": ks[ks.src.isin(seeds)].groupby("dst").size(),
        "fr_seen": er.groupby("dst").size(),
        "r_via": er.src.map(rank).groupby(er.dst).min(),
    })
    back = ks.merge(known.rename(columns={"src": "dst", "dst": "src"}),
                    on=["src", "dst"])
    recip = back.groupby("dst").size()
    fr = out.join(inn, how="outer")
    fr = fr.reindex(fr.index.union(pd.Index(core.account_id)))
    fr["via"] = fr[["f_via", "r_via"]].min(axis=1)
    fr = fr[fr.index.isin(in_core) | fr.via.notna()].fillna(
        {c: 0 for c in ("in_friends", "seeds_followed", "fl_seen", "in_followers",
                        "seed_followers", "fr_seen")})
    fr["reciprocal_in"] = recip.reindex(fr.index, fill_value=0)
    fr["n_lists_seen"] = fr.fl_seen + fr.fr_seen
    by_rank = core.set_index("rank")
    lvl = core.set_index("account_id")["level"]
    fr["level"] = lvl.reindex(fr.index)
    out_core = fr["level"].isna()
    via = fr.via.fillna(0).astype("int64")  # rank 0: none (seeds)
    fr.loc[out_core, "level"] = (by_rank["level"].reindex(via[out_core]).to_numpy()
                                 + 1)
    fr["reached_via"] = by_rank.account_id.reindex(via).to_numpy()
    fr["tier"] = np.where(fr.index.isin(fol | fri) & fr.index.isin(in_core), 1, 2)
    obs = pd.read_parquet(p / "observations.parquet",
                          columns=["account_id", "observed_at", "status",
                                   "followers_count", "friends_count"])
    obs = obs[obs.status == "active"].sort_values("observed_at").groupby(
        "account_id").last()
    fr["in_follower_share"] = fr.in_followers / obs.followers_count.reindex(
        fr.index).replace(0, np.nan)
    fr["in_friend_share"] = fr.in_friends / obs.friends_count.reindex(
        fr.index).replace(0, np.nan)
    secs, cpu = time.perf_counter() - t, _cpu() - c
    return {"seconds": secs, "cpu": cpu, **_totals(fr)}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _worker(args: argparse.Namespace) -> None:
    task = args.worker
    if task == "measure":
        res = work_measure(args.data)
    elif task == "duckdb_src_tuned":
        res = work_duckdb_tuned(args.data)
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
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--worker", task, "--data",
                          str(data)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1] if out.stderr else "?"
        return {"error": f"exit {out.returncode}: {tail}"[:200]}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["load"] = (load + os.getloadavg()[0]) / 2
    print(task, data.name, json.dumps(res), file=sys.stderr, flush=True)
    return res


def best_of(tasks: list[str], data: Path, repeat: int) -> dict[str, dict]:
    """Run ``tasks`` ``repeat`` times interleaved; keep each one's fastest run."""
    runs: dict[str, list[dict]] = {t: [] for t in tasks}
    for _ in range(repeat):
        for t in tasks:
            runs[t].append(run(t, data))
    best = {}
    for t, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            best[t] = rs[0]
            continue
        b = dict(min(ok, key=lambda r: r["seconds"]))
        b["peak_rss_mib"] = max(r["peak_rss_mib"] for r in ok)
        b["load"] = sum(r["load"] for r in ok) / len(ok)
        b["runs"] = len(ok)
        b["all_seconds"] = [round(r["seconds"], 2) for r in ok]
        b["all_cpu"] = [round(r["cpu"], 2) for r in ok]
        best[t] = b
    return best


def _row(name: str, r: dict, bases: list[dict]) -> str:
    if "error" in r:
        return f"| {name} | failed: {r['error']} |" + " |" * (5 + 2 * len(bases))
    cells = [name, f"{r['seconds']:.1f}", f"{r['cpu']:.1f}"]
    for b in bases:
        cells.append(f"{r['seconds'] / b['seconds']:.2f}x"
                     if "error" not in b else "-")
    cells.append(f"{r['peak_rss_mib']:,.0f}")
    for b in bases:
        cells.append(f"{r['peak_rss_mib'] / b['peak_rss_mib']:.2f}x"
                     if "error" not in b else "-")
    cells.append(f"{r['load']:.1f}")
    return "| " + " | ".join(cells) + " |"


def _table(rows: list[tuple[str, dict]], bases: list[tuple[str, dict]]) -> list[str]:
    head = (["method", "seconds", "CPU s"] + [f"time vs {n}" for n, _ in bases]
            + ["peak RSS MiB"] + [f"memory vs {n}" for n, _ in bases] + ["load"])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += [_row(n, r, [b for _, b in bases]) for n, r in rows]
    return out


def main() -> int:
    """Generate data, run every measurement, print and write the markdown report."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.07, 1.0],
                    help="large-preset scales; pandas runs at the first only")
    ap.add_argument("--data-dir", default=os.environ.get("BENCH_DATA", "/tmp"))
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="interleaved runs of each DuckDB/measure row at the first "
                         "scale (fastest shown)")
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return 0
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    repeats = (
        f" At the first scale every DuckDB and measure row is run {args.repeat} "
        "times, interleaved, and the fastest run is shown (peak RSS is the largest "
        "over the runs); the other scales and pandas run once."
        if args.repeat > 1
        else " Every row runs once."
    )
    lines = [
        "## Census: frame metrics over the simulator's large preset "
        "(`bench/bench_census.py`)",
        "",
        "Data: `measure simulate --preset large --scale S --seed 1` (generation not "
        "timed). Each row is a fresh process (DuckDB default threads = cores); "
        "memory is its peak RSS, CPU its user + system time; `load` is the 1-minute "
        "load average during the row (wall times are inflated by about load/cores; "
        "the CPU column is less sensitive to that)." + repeats,
        "",
        "**Baselines**, in the same run:",
        "",
        "- bare DuckDB `GROUP BY dst`: `CREATE TEMP TABLE AS SELECT dst, count(*) "
        "... GROUP BY dst`",
        "  over the same Parquet;",
        "- bare DuckDB `GROUP BY src`: the same grouping as the per-account metrics "
        "(one",
        "  group per follower);",
        "- DuckDB `GROUP BY src` with the DuckDB settings `build_frame` uses",
        "  (`perfect_ht_threshold`, `preserve_insertion_order = false`): how much of",
        "  measure's speed comes from those settings rather than from the plan;",
    ]
    if not args.no_pandas:
        lines += [
            "- a straightforward pandas implementation of the same metrics",
            "  (`drop_duplicates` of the edges, reachability by repeated `isin`, "
            "`groupby`",
            "  and `merge`), at the first scale only; its frame size and metric "
            "totals are",
            "  checked against measure's.",
        ]
    lines.append("")
    run_at = len(lines)  # the run line goes here once the run has ended
    verdicts = []
    for i, scale in enumerate(args.scales):
        path = Path(args.data_dir) / f"large_{scale:g}"
        gen = generate(path, scale)
        best = best_of(["duckdb_dst", "duckdb_src", "duckdb_src_tuned", "measure"],
                       path, args.repeat if i == 0 else 1)
        r_dst, r_src = best["duckdb_dst"], best["duckdb_src"]
        r_tuned, r_m = best["duckdb_src_tuned"], best["measure"]
        r_mr = dict(r_m)
        if "ranks_seconds" in r_m:
            r_mr["seconds"] = r_m["seconds"] + r_m["ranks_seconds"]
        rows = [("bare DuckDB `GROUP BY dst`", r_dst),
                ("bare DuckDB `GROUP BY src`", r_src),
                ("DuckDB `GROUP BY src`, build_frame's settings", r_tuned),
                ("measure `build_frame` (all metrics)", r_m),
                ("measure `build_frame` + ranks/percentiles", r_mr)]
        r_pd: dict = {}
        if i == 0 and not args.no_pandas:
            r_pd = run("pandas", path)
            rows.append(("straightforward pandas (same metrics)", r_pd))
        info = r_m.get("info", {})
        n_edges = info.get("edges_read", 0)
        lines += [f"### scale {scale:g}: {n_edges:,} follow edges, frame "
                  f"{info.get('frame_size', 0):,} accounts, core "
                  f"{info.get('core_size', 0):,}"
                  + (f" (generated in {gen:.0f} s)" if gen else ""), ""]
        lines += _table(rows, [("GROUP BY dst", r_dst), ("GROUP BY src", r_src)])
        lines.append("")
        reps = [(n, r) for n, r in rows if r.get("runs", 1) > 1]
        if reps:
            lines.append(f"Every one of the {reps[0][1]['runs']} interleaved runs, "
                         "wall s / CPU s: " + "; ".join(
                             f"{n}: " + ", ".join(
                                 f"{w:.1f}/{c:.1f}" for w, c in zip(
                                     r["all_seconds"], r["all_cpu"], strict=True))
                             for n, r in reps[:4] if "error" not in r) + ".")
            lines.append("")
        if info:
            lines.append(f"measure: {info['mode']} mode, {info['passes']} passes over "
                         f"the edges, {info['edges_used']:,} edges used, "
                         f"{info['edges_left_out']:,} left out; "
                         f"{info['excluded_accounts']:,} crawled accounts "
                         f"unreachable from the seeds left out; DuckDB memory_limit "
                         f"{r_m.get('memory_limit')}.")
        if r_pd and "error" not in r_pd and "error" not in r_m:
            same = all(r_pd[k] == r_m[k] for k in ("rows", *CHECK))
            lines.append(f"pandas check: frame size and totals of {', '.join(CHECK)} "
                         f"{'equal' if same else 'DIFFER'} "
                         f"(pandas {r_pd['rows']:,} rows, measure {r_m['rows']:,}).")
            sp = r_pd["seconds"] / r_m["seconds"]
            mem = r_m["peak_rss_mib"] / r_pd["peak_rss_mib"]
            verdicts.append(
                f"- >= 5x faster than pandas with lower peak memory at "
                f"{n_edges / 1e6:,.0f}M edges: {sp:.1f}x faster (CPU "
                f"{r_pd['cpu'] / r_m['cpu']:.1f}x), {mem:.2f}x the memory "
                f"({'met' if sp >= 5 and mem < 1 else 'not met'}).")
        lines.append("")
        if "error" not in r_m:
            for name, b in (("GROUP BY dst", r_dst), ("GROUP BY src", r_src)):
                if "error" in b:
                    continue
                ratio = r_m["seconds"] / b["seconds"]
                verdicts.append(
                    f"- <= 1.5x a bare `{name}` at {n_edges / 1e6:,.0f}M edges: "
                    f"{ratio:.2f}x wall, {r_m['cpu'] / b['cpu']:.2f}x CPU "
                    f"({'met' if ratio <= 1.5 else 'not met'}).")
            if "error" not in r_tuned:
                verdicts.append(
                    f"- for reference (not the target), vs `GROUP BY src` with "
                    f"build_frame's DuckDB settings at {n_edges / 1e6:,.0f}M edges: "
                    f"{r_m['seconds'] / r_tuned['seconds']:.2f}x wall, "
                    f"{r_m['cpu'] / r_tuned['cpu']:.2f}x CPU.")
            if n_edges >= 5e8:
                gib = r_m["peak_rss_mib"] / 1024
                verdicts.append(f"- {n_edges / 1e6:,.0f}M edges within 16 GiB peak "
                                f"RSS: {gib:.1f} GiB "
                                f"({'met' if gib <= 16 else 'not met'}).")
    lines += ["### Targets", ""] + verdicts + [""] + NOTES
    from run import run_line

    lines[run_at:run_at] = [run_line(started, load_start), ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0


NOTES = [
    "### How the frame is computed, and why `GROUP BY dst` is not the right yardstick",
    "",
    "- `measure` reads the edges twice (collections mode). Pass 1 groups every",
    "  edge held by a followers list of the core N by follower (`GROUP BY src`",
    "  joined to `census_fl`, the used followers lists; one group per frame",
    "  account, DuckDB perfect-hash aggregation for this statement only) with two",
    "  aggregates only: the count and the first (lowest-rank) list. Pass 2",
    "  keeps the edges whose follower is in N (and, only in seeds' lists, the",
    "  followers outside N that pass 1 found there) as one packed key",
    "  `follower rank << b | followed rank` (a 4-byte INTEGER when N has fewer",
    "  than 2**15 accounts), collected in a materialized CTE before it is",
    "  written and run without DuckDB's statistics propagation. Then",
    "  `seeds_followed`, the per-followed-account counts, reciprocity (a",
    "  semi-join of the a<b half against the a>b half on those keys),",
    "  reachability from the seeds (first-reacher pointers, a full search only",
    "  when they do not settle it) and the frame run on those small tables. No",
    "  `SELECT DISTINCT src, dst` over all edges: each edge is attributed to the",
    "  one used collection of its list (re-crawls are told apart by `observed_at`",
    "  = `collected_at` only when a list of N was collected twice; otherwise that",
    "  column is not read).",
    "- In the large preset `dst` is always a crawled account (tens of thousands of",
    "  groups, and the Parquet files are written list by list, so a `GROUP BY dst`",
    "  streams through a tiny, cache-resident hash table), while the frame needs",
    "  one group per follower (hundreds of thousands to millions of groups). The",
    "  bare `GROUP BY src` is the same grouping as the per-account metrics and is",
    "  the fair floor; the 1.5x target is only approached against it.",
    "- Duplicates: within one collection an edge is assumed to appear once (a",
    "  list is a set; the simulator guarantees it) and this is not re-checked;",
    "  `build_frame(ds, exact=True)` deduplicates every edge instead (slower).",
    "",
]


if __name__ == "__main__":
    sys.exit(main())
