"""Benchmark: measure against Splink 5 at scale, each with its own blocking.

The data are those of ``bench/bench_resurrection.py`` (``make_synthetic``, seed 1:
suspended accounts, their successors and unrelated new accounts, with colliding
handle stems, Arabic display names, avatars, bios and follower edges), written
under ``/tmp``. At each size, in the same run:

1. ``measure.resurrection.analyze(ds, n_imputations=10, n_boot=50)`` runs in a
   child process (dataset opened with ``memory_limit="6GB"``), exactly as in
   ``bench_resurrection.py``.
2. Splink 5 (DuckDB backend, ``link_only``) runs in another child process on the
   same data: the suspended accounts (left) against every account (right), with
   measure's normalised fields (``account_keys``) and suspension windows
   (``suspension_events``; computing them counts in Splink's time). Its own
   blocking rules mirror measure's keys as far as Splink expresses them: equal
   handle stem, display-name key, avatar, whole bio and bio letters, a shared
   one-deletion handle key (measure's ``deletion_keys``, as an exploded array:
   SymSpell blocking), and a shared follower (exploded array; followers of more
   than ``max_hub`` accounts left out), each restricted to the suspended account's
   search window. As in measure, a key value held by more than ``max_key_freq``
   (30) accounts created in one 30-day period does not block in that period (the
   right-hand column is nulled there). Splink has no counterpart of measure's cap
   on candidates per suspended account and key (``per_key``). Comparisons are
   those of ``bench_resurrection_splink.py`` (handle, display name, bio, avatar,
   follower overlap, time gap); ``u`` from random sampling, ``m`` from EM on
   three window-restricted blocks (stem, display name, avatar), the prior from
   deterministic rules; then ``predict`` and measure's one-to-one rule
   (``exclusive_probability``, lowest threshold >= 0.5 with expected precision
   0.95, greedy one-to-one assignment).
3. Both link sets are scored against the generator's true predecessors.

Splink runs under a time limit (default 30 min) and a memory limit (default 16
GiB, sampled RSS; its DuckDB connection gets ``memory_limit`` 12 GB and spills
to disk). If it does not finish at a size, the next (smaller) size of
``--sizes`` is tried, and measure runs there too, so that the ratio is on equal
data. Peak memory is each child's ``ru_maxrss`` and the peak of its RSS sampled
by the parent every 0.5 s.

Writes ``bench/results/resurrection_splink_scale.md`` (or ``--results``), the
section of BENCHMARKS.md for this workload. Usage::

    python bench/bench_resurrection_splink_scale.py
        [--sizes 1000000x2000000 250000x500000 100000x200000] [--reuse]
        [--splink-timeout 1800] [--splink-max-rss-gib 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

WINDOW_DAYS = 60
BACKUP_DAYS = 60
MAX_KEY_FREQ = 30  # measure's default max_key_freq
MAX_HUB = 1000  # measure's default max_hub
U_MAX_PAIRS = 5e6  # as in bench_resurrection_splink.py
EM_MAX_PAIRS = 2e6
TARGET_PRECISION = 0.95
DEFAULT_SIZES = ("1000000x2000000", "250000x500000", "100000x200000")
GIB = 2**30


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return str(n)


# -- data ----------------------------------------------------------------------
def data_for(n_sus: int, n_new: int, out: str, reuse: bool):
    """Write (or reuse) the synthetic data of ``bench_resurrection.py``.

    Returns the data path, the true (previous, new) pairs, the number of new
    accounts, of follower edges, and the seconds spent generating.
    """
    import polars as pl
    import pyarrow.parquet as pq

    from measure.resurrection._synthetic import make_synthetic, write_synthetic

    t = time.perf_counter()
    p_return = 0.5
    n_bg = max(0, n_new - int(p_return * n_sus * 0.97))
    syn = make_synthetic(n_sus, n_bg, seed=1, p_return=p_return,
                         followers_per_account=10, weekly=False,
                         follower_pool=20 * (n_sus + n_new))
    acc_file = Path(out, "accounts.parquet")
    same = (reuse and Path(out, "manifest.json").exists() and acc_file.exists()
            and pq.read_metadata(acc_file).num_rows == syn.accounts.height)
    if not same:
        write_synthetic(syn, out)
    n_accounts = syn.accounts.height
    n_edges = syn.edges.height
    truth = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("predecessor_id").alias("previous"), pl.col("account_id").alias("new"))
    del syn
    return out, truth, n_accounts - n_sus, n_edges, time.perf_counter() - t


def score_links(links_path: str, truth) -> tuple[int, float, float]:
    """Links, precision and recall of a links file against the true pairs."""
    import polars as pl

    links = pl.read_parquet(links_path).select("previous", "new").cast(truth.schema)
    tp = links.join(truth, on=["previous", "new"]).height
    return links.height, tp / max(links.height, 1), tp / max(truth.height, 1)


# -- children ------------------------------------------------------------------
def run_monitored(cmd: list[str], timeout: float, max_rss: float
                  ) -> tuple[dict | None, float, float, str, float]:
    """Run ``cmd``; sample its RSS; stop it at ``timeout`` s or ``max_rss`` bytes.

    Returns (the JSON of its last stdout line or None, wall seconds, peak RSS
    sampled, why it was stopped or failed, CPU seconds of the child).
    """
    import psutil

    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        ps = psutil.Process(p.pid)
        peak, cpu = 0, 0.0
        while p.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
                ct = ps.cpu_times()
                cpu = ct.user + ct.system
            except psutil.Error:
                pass
            over_t = time.perf_counter() - t > timeout
            if over_t or peak > max_rss:
                p.kill()
                p.wait()
                why = (f"time limit {timeout / 60:.0f} min" if over_t else
                       f"memory limit {max_rss / GIB:.0f} GiB")
                return None, time.perf_counter() - t, peak, why, cpu
            time.sleep(0.5)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            tail = err.read()[-3000:]
            sys.stderr.write(tail)
            last = [ln for ln in tail.strip().splitlines() if ln.strip()]
            return (None, wall, peak, f"failed (exit {p.returncode}: "
                    f"{last[-1][:200] if last else ''})", cpu)
        res = json.loads(out.read().strip().splitlines()[-1])
        return res, wall, peak, "", max(cpu, res.get("cpu_s", 0.0))


def run_measure(path: str, timeout: float, max_rss: float):
    """measure's linker in a child (``bench_resurrection.CHILD``)."""
    from bench_resurrection import CHILD

    links = os.path.join(tempfile.gettempdir(),
                         f"rs_scale_measure_{os.getpid()}.parquet")
    res, wall, peak, why, cpu = run_monitored(
        [sys.executable, "-c", CHILD, path, "0", links, "", ""], timeout, max_rss)
    return res, wall, peak, why, cpu, links


def run_splink(path: str, timeout: float, max_rss: float, memory_limit: str,
               truth_path: str):
    """Splink in a child (this script with ``--child``); its spill files removed."""
    import shutil

    links = os.path.join(tempfile.gettempdir(),
                         f"rs_scale_splink_{os.getpid()}.parquet")
    spill = tempfile.mkdtemp(prefix="rs_splink_spill_")
    try:
        res, wall, peak, why, cpu = run_monitored(
            [sys.executable, __file__, "--child", path, links, memory_limit,
             truth_path, spill], timeout, max_rss)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return res, wall, peak, why, cpu, links


def _window(cond: str) -> str:
    return (f"{cond} AND r.t_new > l.lower_t AND r.t_new <= l.upper_t "
            "AND l.account_id <> r.account_id")


# the blocking keys that are nulled on the right where their (value, period) cell
# is common
_BLOCK_KEYS = ("stem", "name_key", "avatar", "bio_fp", "bio_lfp")


def build_inputs(con, path: str) -> dict[str, int]:
    """Create Splink's input tables ``a_suspended`` and ``b_accounts`` in ``con``.

    Fields are measure's (``account_keys``), the windows its suspension events'
    (``backup_days`` 60, ``window`` 60). Returns the row counts.
    """
    import polars as pl

    import measure
    from measure.resurrection._blocking import PERIOD_S
    from measure.resurrection._features import deletion_keys
    from measure.resurrection._settings import LinkageSettings
    from measure.resurrection._stages import suspension_events

    ds = measure.open(path, validate="schema")
    events = suspension_events(ds, window=WINDOW_DAYS,
                               settings=LinkageSettings(backup_days=BACKUP_DAYS))
    has_rel = ds.has_column("edges", "relation")
    edges_sql = ("SELECT src, dst FROM edges"
                 + (" WHERE relation IS NULL OR relation = 'follows'" if has_rel
                    else ""))
    fol = ds.sql(f"""
        WITH e AS ({edges_sql}), hub AS (
            SELECT src FROM e GROUP BY src HAVING count(DISTINCT dst) > {MAX_HUB})
        SELECT dst AS account_id, list(DISTINCT src) AS followers,
               list(DISTINCT src) FILTER (WHERE src NOT IN (SELECT src FROM hub))
                   AS followers_b
        FROM e GROUP BY dst""")
    ds.close()

    def naive(c: str) -> pl.Expr:
        return pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)

    keys = events.accounts.select(
        "account_id", naive("t_new"), "handle", "stem", "hkey", "suffix", "name_norm",
        "name_key", "bio_norm", "bio_fp", "bio_lfp", "avatar")
    dk = deletion_keys(events.accounts.select("account_id", "t_new", "stem", "hkey"))
    dk = dk.select("account_id", "dkey", naive("t_new"))
    susp = events.suspended.select("account_id", naive("first_suspended"),
                                   naive("lower_t"), naive("upper_t"))
    del events
    fol = fol.with_columns(pl.col("account_id").cast(keys.schema["account_id"]))
    for name, frame in (("keys_in", keys), ("dk_in", dk), ("susp_in", susp),
                        ("fol_in", fol)):
        con.register("frame_in", frame)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM frame_in")
        con.unregister("frame_in")
    del keys, dk, susp, fol, frame
    bk = f"CAST(floor(epoch(t_new) / {PERIOD_S}) AS BIGINT)"
    nulled = ",\n".join(
        f"CASE WHEN count(*) OVER (PARTITION BY {c}, {bk}) <= {MAX_KEY_FREQ} "
        f"THEN {c} END AS {c}_b" for c in _BLOCK_KEYS)
    con.execute(f"CREATE TEMP TABLE kb AS SELECT account_id, {nulled} FROM keys_in")
    con.execute(f"""
        CREATE TEMP TABLE dl AS
        WITH c AS (
            SELECT account_id, dkey,
                   count(*) OVER (PARTITION BY dkey, {bk}) AS n
            FROM dk_in)
        SELECT account_id, list(dkey) AS dkeys,
               list(dkey) FILTER (WHERE n <= {MAX_KEY_FREQ}) AS dkeys_b
        FROM c GROUP BY account_id""")
    con.execute("DROP TABLE dk_in")
    common = """k.account_id, k.handle, k.stem, k.suffix, k.name_norm, k.name_key,
        k.bio_norm, k.bio_fp, list_distinct(string_split(k.bio_norm, ' '))
            AS bio_tokens,
        k.avatar, f.followers, k.t_new"""
    con.execute(f"""
        CREATE TABLE a_suspended AS
        SELECT {common}, s.lower_t, s.upper_t, s.first_suspended AS t,
               k.stem AS stem_b, k.name_key AS name_key_b, k.avatar AS avatar_b,
               k.bio_fp AS bio_fp_b, k.bio_lfp AS bio_lfp_b,
               d.dkeys AS dkeys, f.followers_b
        FROM susp_in s JOIN keys_in k USING (account_id)
        LEFT JOIN fol_in f USING (account_id) LEFT JOIN dl d USING (account_id)""")
    con.execute(f"""
        CREATE TABLE b_accounts AS
        SELECT {common}, CAST(NULL AS TIMESTAMP) AS lower_t,
               CAST(NULL AS TIMESTAMP) AS upper_t, k.t_new AS t,
               b.stem_b, b.name_key_b, b.avatar_b, b.bio_fp_b, b.bio_lfp_b,
               d.dkeys_b AS dkeys, f.followers_b
        FROM keys_in k JOIN kb b USING (account_id)
        LEFT JOIN fol_in f USING (account_id) LEFT JOIN dl d USING (account_id)""")
    con.execute("DROP TABLE kb; DROP TABLE dl; DROP TABLE fol_in; "
                "DROP TABLE susp_in; DROP TABLE keys_in")
    n_left = con.execute("SELECT count(*) FROM a_suspended").fetchone()[0]
    n_right = con.execute("SELECT count(*) FROM b_accounts").fetchone()[0]
    return {"n_left": int(n_left), "n_right": int(n_right)}


def prediction_rules() -> list:
    """Splink's blocking rules for predictions (see the module docstring)."""
    from splink.blocking_rule_library import CustomRule

    rules: list = [_window(f"l.{c}_b = r.{c}_b") for c in _BLOCK_KEYS]
    rules.append(CustomRule(_window("l.dkeys = r.dkeys"), arrays_to_explode=["dkeys"]))
    rules.append(CustomRule(_window("l.followers_b = r.followers_b"),
                            arrays_to_explode=["followers_b"]))
    return rules


RULE_NAMES = ("stem", "display_name", "avatar", "bio", "bio_letters",
              "handle_edit", "followers")


def splink_child(path: str, links_out: str, memory_limit: str,
                 truth_path: str, spill: str) -> None:
    """Splink end to end on the dataset at ``path``; prints a JSON line."""
    import duckdb
    import polars as pl
    from splink import DuckDBAPI, Linker

    from bench_resurrection_splink import (
        DETERMINISTIC_RECALL,
        one_to_one,
        splink_settings,
    )

    logging.getLogger("splink").setLevel(logging.ERROR)
    times: dict[str, float] = {}
    t0 = t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET enable_progress_bar = false")
    info: dict = build_inputs(con, path)
    times["inputs"] = time.perf_counter() - t

    t = time.perf_counter()
    db = DuckDBAPI(con)
    lt = db.register("a_suspended")
    rt = db.register("b_accounts")
    linker = Linker([lt, rt], splink_settings(True, prediction_rules()))
    det = [_window("l.stem = r.stem AND l.avatar = r.avatar"),
           _window("l.name_key = r.name_key AND l.avatar = r.avatar")]
    linker.training.estimate_probability_two_random_records_match(
        det, recall=DETERMINISTIC_RECALL)
    times["prior"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=1)
    times["u (random sampling)"] = time.perf_counter() - t
    t = time.perf_counter()
    for c in ("stem", "name_key", "avatar"):
        linker.training.estimate_parameters_using_expectation_maximisation(
            _window(f"l.{c}_b = r.{c}_b"), max_pairs=EM_MAX_PAIRS)
    times["m (EM, 3 blocks)"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = linker.inference.predict()
    rel = pred.as_duckdbpyrelation()
    cols = rel.columns
    by_rule = {}
    if "match_key" in cols:
        by_rule = {RULE_NAMES[int(k)] if int(k) < len(RULE_NAMES) else str(k): int(n)
                   for k, n in con.execute(
                       f"SELECT match_key, count(*) FROM {pred.physical_name} "
                       "GROUP BY ALL ORDER BY 1").fetchall()}
    scored = con.execute(f"""
        SELECT p.account_id_l AS previous, p.account_id_r AS new,
               p.match_probability AS p_splink, b.t_new AS created_new
        FROM {pred.physical_name} p JOIN b_accounts b
          ON b.account_id = p.account_id_r""").pl()
    times["predict"] = time.perf_counter() - t
    t = time.perf_counter()
    truth = pl.read_parquet(truth_path).cast({"previous": scored["previous"].dtype,
                                              "new": scored["new"].dtype})
    n_true_in_pairs = scored.join(truth, on=["previous", "new"]).height
    links, thr = one_to_one(scored, "p_splink")
    links.select("previous", "new").write_parquet(links_out)
    times["one-to-one"] = time.perf_counter() - t
    info.update({
        "seconds": time.perf_counter() - t0, "times": times,
        "n_pairs": scored.height, "pairs_by_rule": by_rule,
        "n_true_in_pairs": n_true_in_pairs, "threshold": thr,
        "lambda": linker._settings_obj._probability_two_random_records_match,
        "cpu_s": sum(os.times()[:2]),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    con.close()
    print(json.dumps(info))


# -- report --------------------------------------------------------------------
def _row(method: str, size: str, res: dict | None, wall: float, peak: float,
         why: str, cpu: float, scored: tuple[int, float, float] | None) -> str:
    if res is None:
        return (f"| {method} (stopped: {why}) | {size} | > {wall:.0f} | > {cpu:.0f} "
                f"| >= {peak / GIB:.2f} | - | - | - | - |")
    rss = max(res["maxrss_kib"] * 1024, peak)
    n, prec, rec = scored or (0, float("nan"), float("nan"))
    return (f"| {method} | {size} | {res['seconds']:.1f} | {cpu:.0f} | "
            f"{rss / GIB:.2f} | {res['n_pairs']:,} | {n:,} | {prec:.3f} | "
            f"{rec:.3f} |")


def main() -> None:  # noqa: C901, PLR0915
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=5,
                    metavar=("DATA", "LINKS", "MEM", "TRUTH", "SPILL"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES),
                    help="SUSPENDEDxNEW sizes, largest first; the next is tried when "
                         "Splink does not finish")
    ap.add_argument("--out", default="/tmp/measure_bench_resurrection",
                    help="data folder of the largest size (smaller ones get a "
                         "suffix)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse data already written (same sizes)")
    ap.add_argument("--splink-timeout", type=float, default=1800)
    ap.add_argument("--splink-max-rss-gib", type=float, default=16)
    ap.add_argument("--splink-memory-limit", default="12GB",
                    help="DuckDB memory_limit of Splink's connection")
    ap.add_argument("--measure-timeout", type=float, default=1200)
    ap.add_argument("--measure-max-rss-gib", type=float, default=14)
    ap.add_argument("--note", default="", help="added to the header line")
    ap.add_argument("--results", default=None,
                    help="markdown output (default bench/results/"
                         "resurrection_splink_scale.md; '-' prints only)")
    args = ap.parse_args()
    if args.child:
        splink_child(*args.child)
        return
    import duckdb
    import splink

    from run import run_line

    started, load0 = dt.datetime.now(dt.UTC), os.getloadavg()
    rows, notes, done = [], [], None
    for i, size in enumerate(args.sizes):
        n_sus, n_new = (int(x) for x in size.lower().split("x"))
        out = args.out if i == 0 else f"{args.out}_{_short(n_sus)}x{_short(n_new)}"
        path, truth, n_new_real, n_edges, gen_s = data_for(n_sus, n_new, out,
                                                           args.reuse)
        label = f"{n_sus:,} x {n_new_real:,}"
        truth_path = os.path.join(tempfile.gettempdir(),
                                  f"rs_scale_truth_{os.getpid()}.parquet")
        truth.write_parquet(truth_path)
        print(f"== {label}: measure", flush=True)
        m = run_measure(path, args.measure_timeout, args.measure_max_rss_gib * GIB)
        m_scored = score_links(m[5], truth) if m[0] is not None else None
        print(f"== {label}: Splink", flush=True)
        s = run_splink(path, args.splink_timeout, args.splink_max_rss_gib * GIB,
                       args.splink_memory_limit, truth_path)
        s_scored = score_links(s[5], truth) if s[0] is not None else None
        rows.append(_row("measure.resurrection.analyze", label, *m[:5], m_scored))
        rows.append(_row("Splink 5 (DuckDB), own blocking, same one-to-one rule",
                         label, *s[:5], s_scored))
        notes.append((label, n_edges, gen_s, truth.height, m, s, m_scored,
                      s_scored))
        for f in (truth_path, m[5], s[5]):
            Path(f).unlink(missing_ok=True)
        if s[0] is not None:
            done = (label, m, s, m_scored, s_scored)
            break
    load1 = os.getloadavg()

    lines = [
        "## Resurrection linking at scale: measure vs Splink 5, each with its own "
        "blocking (`bench/bench_resurrection_splink_scale.py`)",
        "",
        "The synthetic data of `bench/bench_resurrection.py` (seed 1). **measure**: "
        "`measure.resurrection.analyze(ds, n_imputations=10, n_boot=50)` in a "
        'child process (dataset opened with `memory_limit="6GB"`): blocking, '
        "comparisons, grouped EM, one-to-one assignment and the return measures. "
        "**Baseline: Splink** 5 (DuckDB backend, `link_only`, suspended accounts "
        "against every account) in another child process, with measure's "
        "normalised fields and search windows as inputs (computing them counts in "
        "Splink's time) and its own blocking rules mirroring measure's keys: equal "
        "handle stem, display-name key, avatar, whole bio and bio letters, a shared "
        "one-deletion handle key (exploded array) and a shared follower (exploded "
        "array), each inside the suspended account's window; a key value held by "
        f"more than {MAX_KEY_FREQ} accounts created in one 30-day period does not "
        "block there (as in measure); Splink has no cap on candidates per "
        "suspended account and key. Comparisons as in "
        "`bench_resurrection_splink.py` (handle, display name, bio, avatar, "
        "follower overlap, time gap); `u` by random sampling "
        f"({U_MAX_PAIRS:.0e} pairs), `m` by EM on three window-restricted blocks "
        f"(stem, display name, avatar; {EM_MAX_PAIRS:.0e} pairs each), the prior "
        "from deterministic rules; then `predict` and measure's one-to-one rule "
        "(lowest threshold >= 0.5 with expected precision "
        f"{TARGET_PRECISION}, greedy assignment). Splink's DuckDB gets "
        f"`memory_limit` {args.splink_memory_limit} and spills to disk; it is "
        f"stopped after {args.splink_timeout / 60:.0f} min or at "
        f"{args.splink_max_rss_gib:.0f} GiB RSS, and then the next smaller size is "
        "run, measure included. Precision and recall against the generator's true "
        "predecessors; seconds from opening the data to the links (imports "
        "excluded); peak RSS is the child's `ru_maxrss` or the parent's 0.5 s "
        "samples, whichever is larger.",
        "",
        run_line(started, load0[0])
        + f" Versions: splink {splink.__version__}, duckdb {duckdb.__version__}; "
        f"load average 1/5/15 min before {load0[0]:.1f}/{load0[1]:.1f}/"
        f"{load0[2]:.1f}, after {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}"
        + (f"; {args.note}" if args.note else "") + ".",
        "",
        "| method | suspended x new | seconds | CPU seconds | peak RSS (GiB) | "
        "candidate pairs | links | precision | recall |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for label, n_edges, gen_s, n_true, m, s, _ms, _ss in notes:
        lines.append(f"- {label} ({n_edges:,} follower edges, data generated in "
                     f"{gen_s:.0f} s, {n_true:,} true predecessors):")
        if m[0] is not None:
            lines.append("  measure steps (s): " + ", ".join(
                f"{k} {v:.1f}" for k, v in m[0]["timings"].items())
                + f"; candidate pairs by key: {m[0]['pairs_by_key']}.")
        if s[0] is not None:
            r = s[0]
            lines.append(
                "  Splink steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                   r["times"].items())
                + f"; {r['n_left']:,} left x {r['n_right']:,} right records; "
                f"candidate pairs by the first rule that found them: "
                f"{r['pairs_by_rule']}; true links among "
                f"its candidates {r['n_true_in_pairs']:,} of {n_true:,}; threshold "
                f"{r['threshold']:.3f}; prior (probability two random records "
                f"match) {r['lambda']:.3g}.")
        else:
            lines.append(f"  Splink stopped after {s[1]:.0f} s: {s[3]}; peak RSS "
                         f"sampled {s[2] / GIB:.2f} GiB.")
    lines.append("")
    if done is not None:
        label, m, s, ms, ss = done
        if m[0] is not None:
            ratio = s[0]["seconds"] / m[0]["seconds"]
            cpu_ratio = s[4] / max(m[4], 1e-9)
            lines.append(
                f"**Largest size Splink completed within the limits: {label}.** "
                f"There measure took {m[0]['seconds']:.1f} s and Splink "
                f"{s[0]['seconds']:.1f} s: measure is **{ratio:.1f}x** faster in "
                f"wall time ({cpu_ratio:.1f}x in CPU time), at precision "
                f"{ms[1]:.3f} vs {ss[1]:.3f} and recall {ms[2]:.3f} vs {ss[2]:.3f}. "
                "Target: at least 3x faster at equal or better precision and "
                "recall: " + ("met." if ratio >= 3 and ms[1] >= ss[1] and
                              ms[2] >= ss[2] else "not met."))
    else:
        lines.append("**Splink did not complete at any size tried.**")
    lines += [
        "",
        "### Reproduce",
        "",
        "```",
        "python bench/bench_resurrection_splink_scale.py --reuse   "
        "# 1M x 2M first, then smaller sizes if Splink does not finish",
        "python bench/bench_resurrection_splink_scale.py --sizes 100000x200000 "
        "--out /tmp/rs_splink_100k",
        "```",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results != "-":
        outp = Path(args.results) if args.results else (
            HERE / "results" / "resurrection_splink_scale.md")
        outp.write_text(text)


if __name__ == "__main__":
    main()
