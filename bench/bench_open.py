"""Benchmark: opening a dataset (``measure.open``) at each validation level.

A pinned synthetic dataset of N accounts with two weekly look-ups each (the
generator of ``bench/bench_describe.py``, written under ``data/bench/open_<N>``
and reused when present) is opened in fresh subprocesses, several times each:

* ``measure.open(path, validate=LEVEL)`` for ``schema`` (the default: Parquet
  footers only), ``full`` (every row as well) and ``none``, timed after the
  libraries it needs are imported (their import time is reported beside it), and
  the pin check alone (``check_dataset``: sizes and modification times against
  the manifest), which every open of a pinned dataset includes;
* a cold start, ``import measure`` and ``measure.open(path)`` in one timing: what
  a script pays on its first open;
* two baselines that read the same files' footers and nothing else: DuckDB
  binding ``read_parquet`` over each table (its column types) and pyarrow's
  ``ParquetDataset`` schema and row count of each table.

Every run must see the same tables and row counts. The median over the runs is
reported. Writes ``bench/results/open.md``, the section of BENCHMARKS.md for this
workload::

    python bench/bench_open.py [--accounts 2000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The target of the default level, seconds (libraries imported).
TARGET_S = 0.2
LEVELS = ("schema", "full", "none")

WORKER = r"""
import json, sys, time
mode, path, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
if mode.startswith("measure:"):
    level = mode.split(":")[1]
    t = time.perf_counter()
    import duckdb, pandas, pyarrow.parquet
    import measure
    import measure.dataset._dataset, measure.dataset._pin
    out["import"] = time.perf_counter() - t
    t = time.perf_counter()
    ds = measure.open(path, validate=level)
    out["open"] = time.perf_counter() - t
    out["rows"] = {n: ds.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
                   for n in ds.tables}
    ds.close()
    from measure.dataset import check_dataset
    t = time.perf_counter()
    assert check_dataset(path).ok
    out["check"] = time.perf_counter() - t
elif mode.startswith("cold:"):
    t = time.perf_counter()
    import measure
    ds = measure.open(path, validate=mode.split(":")[1])
    out["open"] = time.perf_counter() - t
    out["rows"] = {n: ds.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
                   for n in ds.tables}
    ds.close()
elif mode == "duckdb":
    t = time.perf_counter()
    import duckdb
    out["import"] = time.perf_counter() - t
    t = time.perf_counter()
    con = duckdb.connect()
    rels = {n: con.read_parquet(f, union_by_name=len(f) > 1) for n, f in files.items()}
    types = {n: [str(x) for x in r.types] for n, r in rels.items()}
    out["open"] = time.perf_counter() - t
    out["rows"] = {n: r.aggregate("count(*)").fetchone()[0] for n, r in rels.items()}
else:
    t = time.perf_counter()
    import pyarrow.dataset, pyarrow.parquet as pq
    out["import"] = time.perf_counter() - t
    t = time.perf_counter()
    schemas, rows = {}, {}
    for n, f in files.items():
        d = pq.ParquetDataset(f)
        schemas[n] = d.schema
        rows[n] = sum(frag.metadata.num_rows for frag in d.fragments)
    out["open"] = time.perf_counter() - t
    out["rows"] = rows
print(json.dumps(out))
"""


def run(mode: str, path: Path, files: dict[str, list[str]]) -> dict:
    """One fresh subprocess of the worker; its JSON output."""
    res = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(path), json.dumps(files)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def med(runs: list[dict], key: str) -> float:
    """Median of ``key`` over the runs."""
    return statistics.median(r[key] for r in runs)


def main() -> int:  # noqa: PLR0915
    """Generate (or reuse) the data, run every mode ``--runs`` times, write results."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=7,
                    help="fresh processes per mode (default 7)")
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    sys.path.insert(0, str(HERE))
    from bench_describe import generate
    from measure.dataset._dataset import TABLES, table_files

    path = ROOT / "data" / "bench" / f"open_{args.accounts}"
    t = time.perf_counter()
    if args.regenerate or not (path / "manifest.json").is_file():
        generate(path, args.accounts)
        gen = f"generated in {time.perf_counter() - t:.0f} s"
    else:
        gen = "an existing copy reused"
    files = {n: [str(f) for f in fs] for n in TABLES
             if (fs := table_files(path, n))}
    size_mb = sum(Path(f).stat().st_size for fs in files.values() for f in fs) / 2**20
    import pyarrow.parquet as pq

    groups = sum(pq.read_metadata(f).num_row_groups
                 for fs in files.values() for f in fs)
    modes = [*(f"measure:{lv}" for lv in LEVELS), "cold:schema", "cold:full",
             "duckdb", "pyarrow"]
    res: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.runs):  # interleaved, so that load changes hit every mode
        for m in modes:
            res[m].append(run(m, path, files))
    rows = {json.dumps(r["rows"], sort_keys=True) for rs in res.values() for r in rs}
    assert len(rows) == 1, f"runs saw different tables or row counts: {rows}"
    counts = json.loads(rows.pop())
    from run import run_line

    schema = med(res["measure:schema"], "open")
    lines = [
        "## Opening a dataset: validation levels (`bench/bench_open.py`)",
        "",
        f"A pinned synthetic dataset under `data/bench/open_<N>` (the generator of "
        f"`bench/bench_describe.py`): {args.accounts:,} accounts and "
        f"{counts.get('observations', 0):,} look-ups in {sum(map(len, files.values()))}"
        f" Parquet files, {groups} row groups, {size_mb:,.0f} MiB ({gen}). Each "
        f"row is the median of {args.runs} fresh subprocesses (the modes "
        "interleaved); every run saw the same tables and row counts.",
        "",
        "`measure.open(path, validate=...)` is timed after the libraries it "
        "needs and measure are imported: DuckDB, pyarrow's Parquet reader, and "
        "pandas, which DuckDB imports on the first statement with a bound "
        "parameter (full validation has such statements, as does any analysis). "
        "Their import time is the next column, paid once per process and the "
        "same for a dataset of any size. The time includes the pin check of the "
        "pinned dataset (sizes and modification times against the manifest, "
        "re-hashing only files that differ), also timed alone below. The cold "
        "start times `import measure` and the first `measure.open(path)` "
        "together. **Baselines**, in the same run: DuckDB binding `read_parquet` "
        "over each table (reads every footer for the column types) and pyarrow's "
        "`ParquetDataset` schema and row count of each table (`pyarrow.dataset` "
        "imported beforehand); neither checks anything.",
        "",
        run_line(started, load_start),
        "",
        "| run | open s (median) | min-max s | imports s | checks |",
        "|---|---:|---:|---:|---|",
    ]
    what = {
        "measure:schema": "`measure.open(path)` (default `validate=\"schema\"`)",
        "measure:full": "`measure.open(path, validate=\"full\")`",
        "measure:none": "`measure.open(path, validate=\"none\")`",
        "duckdb": "baseline: DuckDB `read_parquet` bind",
        "pyarrow": "baseline: pyarrow `ParquetDataset` schema",
    }
    checks = {
        "measure:schema": "columns, types, id type; nulls, allowed values and "
        "infinite timestamps from the footers' statistics; pin",
        "measure:full": "the same and every row: nulls, allowed values, finite "
        "timestamps, unique ids; pin",
        "measure:none": "pin only",
        "duckdb": "none", "pyarrow": "none",
    }
    for m, label in what.items():
        rs = res[m]
        lo, hi = min(r["open"] for r in rs), max(r["open"] for r in rs)
        lines.append(f"| {label} | {med(rs, 'open'):.3f} | {lo:.3f}-{hi:.3f} | "
                     f"{med(rs, 'import'):.2f} | {checks[m]} |")
    check = med(res["measure:schema"], "check")
    lines += [
        "",
        f"Pin check alone (`check_dataset`, included above): {check * 1000:.1f} ms. "
        f"Cold start (`import measure` + first `measure.open(path)`): "
        f"{med(res['cold:schema'], 'open'):.2f} s with the default level, "
        f"{med(res['cold:full'], 'open'):.2f} s with `validate=\"full\"`.",
        "",
        f"**Target:** the default open of a {args.accounts:,}-account dataset in "
        f"at most {TARGET_S} s (libraries imported): "
        f"{'met' if schema <= TARGET_S else 'not met'} ({schema:.3f} s; "
        f"{med(res['measure:full'], 'open') / schema:.0f} times faster than "
        f"`validate=\"full\"`, {schema / med(res['duckdb'], 'open'):.1f} times "
        "the DuckDB bind alone).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "open.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
