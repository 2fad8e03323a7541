"""Peer comparison: measure's successor linking against Splink on the same pairs.

For each simulated world (``measure.simulate`` presets ``small`` and ``demo``):

1. ``measure.resurrection.analyze`` runs once (blocking, comparison features,
   grouped Fellegi-Sunter EM, one-to-one assignment); its candidate pairs
   (``result.pairs``) are the pairs both methods score.
2. Splink 5 (DuckDB backend, ``link_only``) gets the suspended accounts (left) and
   every account of the dataset (right) with the same normalised fields
   (``measure.resurrection._features.account_keys``) and comparisons mirroring
   measure's: handle (numeric-suffix increment, stem Levenshtein levels, handle
   Jaro-Winkler), display name (exact key with term-frequency adjustment,
   Jaro-Winkler), bio (exact fingerprint with term frequencies, token Jaccard),
   avatar (exact, term frequencies), follower overlap (shared followers) and the
   time gap between suspension and creation. ``u`` comes from random sampling,
   ``m`` from EM on window-restricted blocks (stem, display name, avatar: the
   standard Splink recipe), the prior from deterministic rules. Prediction is on
   exactly measure's candidate pairs (an exploding blocking rule on pair ids).
3. Both sets of pairwise probabilities go through the same threshold rule
   (``exclusive_probability`` -> ``threshold_for_precision(0.95)`` -> one-to-one
   ``assign``), and links are scored against the simulator's truth (observable
   predecessors, as in the calibration tests).

It also measures how often DuckDB's byte-based string functions (which Splink
uses) put a pair in another level than character-based ones (rapidfuzz) would.

Usage: ``python bench/bench_resurrection_splink.py [--presets small demo]``
(writes ``bench/results/resurrection_splink.md``, the section of BENCHMARKS.md for
this workload).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the truth helpers of the calibration tests
    sys.path.insert(0, str(ROOT))

TARGET_PRECISION = 0.95
WINDOW_DAYS = 60
U_MAX_PAIRS = 5e6
EM_MAX_PAIRS = 2e6
# Assumed recall of the deterministic rules used for Splink's prior (Splink's
# estimate_probability_two_random_records_match needs one; not tuned on truth).
DETERMINISTIC_RECALL = 0.6
TS = pl.Datetime("us")  # naive UTC for Splink's time comparison
FOLLOWERS_DROPPED = ("dropped (no candidate pair has follower lists on both "
                     "sides)")


def _window_sql(cond: str) -> str:
    return f"{cond} AND r.t_new > l.lower_t AND r.t_new <= l.upper_t"


def splink_settings(use_followers: bool = True, blocking_rules: list | None = None):
    """Splink settings mirroring measure's comparisons (see the module docstring).

    ``use_followers=False`` drops the follower comparison (when no candidate pair
    has follower lists on both sides it carries no information, and array
    intersections dominate the cost of Splink's random sampling of ``u``).
    ``blocking_rules``: Splink's own rules for predictions (default: exactly
    measure's candidate pairs, an exploding rule on pair ids).
    """
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    # DuckDB's levenshtein / jaro_winkler_similarity count bytes (see the report)
    lev = "levenshtein(stem_l, stem_r)"
    step = "(suffix_r - coalesce(suffix_l, 1))"
    same_num = "suffix_l IS NOT DISTINCT FROM suffix_r"
    handle = cl.CustomComparison(
        output_column_name="handle",
        comparison_levels=[
            cll.NullLevel("handle"),
            cll.CustomLevel(f"{lev} <= 1 AND {step} = 1",
                            "stems <= 1 edit, number + 1"),
            cll.CustomLevel(f"stem_l = stem_r AND {same_num}",
                            "same stem, same number"),
            cll.CustomLevel(f"{lev} = 1 AND {same_num}", "stems 1 edit, same number"),
            cll.CustomLevel(f"{lev} <= 1 AND {step} BETWEEN 2 AND 5",
                            "stems <= 1 edit, number + 2..5"),
            cll.CustomLevel(f"{lev} <= 1", "stems <= 1 edit, other number"),
            cll.JaroWinklerLevel("handle", 0.9),
            cll.CustomLevel(f"{lev} <= 2", "stems 2 edits apart"),
            cll.ElseLevel(),
        ])
    name = cl.CustomComparison(
        output_column_name="display_name",
        comparison_levels=[
            cll.NullLevel("name_norm"),
            cll.ExactMatchLevel("name_key", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("name_norm", 0.9),
            cll.JaroWinklerLevel("name_norm", 0.7),
            cll.ElseLevel(),
        ])
    jac = ("len(list_intersect(bio_tokens_l, bio_tokens_r)) / "
           "len(list_distinct(list_concat(bio_tokens_l, bio_tokens_r)))")
    bio = cl.CustomComparison(
        output_column_name="bio",
        comparison_levels=[
            cll.NullLevel("bio_norm"),
            cll.ExactMatchLevel("bio_fp", term_frequency_adjustments=True),
            cll.CustomLevel(f"{jac} >= 0.8", "token jaccard >= 0.8"),
            cll.CustomLevel(f"{jac} >= 0.5", "token jaccard >= 0.5"),
            cll.ElseLevel(),
        ])
    avatar = cl.CustomComparison(
        output_column_name="avatar",
        comparison_levels=[
            cll.NullLevel("avatar"),
            cll.ExactMatchLevel("avatar", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ])
    followers = cl.CustomComparison(
        output_column_name="followers",
        comparison_levels=[
            cll.NullLevel("followers"),
            cll.ArrayIntersectLevel("followers", 5),
            cll.ArrayIntersectLevel("followers", 2),
            cll.ArrayIntersectLevel("followers", 1),
            cll.ElseLevel(),
        ])
    gap = cl.AbsoluteTimeDifferenceAtThresholds(
        "t", input_is_string=False, metrics=["day"] * 4, thresholds=[2, 7, 14, 30])
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="account_id",
        comparisons=([handle, name, bio, avatar, followers, gap] if use_followers
                     else [handle, name, bio, avatar, gap]),
        blocking_rules_to_generate_predictions=(
            blocking_rules if blocking_rules is not None
            else [block_on("pair_ids", arrays_to_explode=["pair_ids"])]),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def splink_inputs(ds, pairs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Left (suspended) and right (every account) records for Splink."""
    from measure.resurrection._stages import suspension_events

    # every suspended account (no cohort) and every account's normalised fields
    # (``account_keys`` of the accounts table), as measure's own stage reads them
    events = suspension_events(ds, window=WINDOW_DAYS)
    keys = events.accounts.drop("kx").with_columns(
        pl.col("t_new").dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        .cast(TS))
    keys = keys.with_columns(
        pl.col("bio_norm").str.split(" ").list.unique().alias("bio_tokens"))
    ev = events.suspended.select("account_id", "last_active", "first_suspended")
    ev = ev.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(TS)
        for c in ("last_active", "first_suspended"))
    if ds.has("edges"):
        rel = ("WHERE relation IS NULL OR relation = 'follows'"
               if ds.has_column("edges", "relation") else "")
        fol = ds.sql("SELECT dst AS account_id, list(DISTINCT src) AS followers "
                     f"FROM edges {rel} GROUP BY dst")
        fol = fol.with_columns(pl.col("account_id").cast(keys["account_id"].dtype))
        keys = keys.join(fol, on="account_id", how="left")
    else:
        keys = keys.with_columns(pl.lit(None, dtype=pl.List(pl.Int64))
                                 .alias("followers"))
    pid = pairs.select("previous", "new").with_row_index("pair_id").with_columns(
        pl.col("pair_id").cast(pl.Int64))
    lp = pid.group_by("previous").agg(pl.col("pair_id").alias("pair_ids"))
    rp = pid.group_by("new").agg(pl.col("pair_id").alias("pair_ids"))
    cols = ["account_id", "handle", "stem", "suffix", "name_norm", "name_key",
            "bio_norm", "bio_fp", "bio_tokens", "avatar", "followers", "t_new"]
    left = ev.join(keys.select(cols), on="account_id", how="left").with_columns(
        pl.coalesce("last_active", "t_new",
                    pl.col("first_suspended") - pl.duration(days=7)).alias("lower_t"),
        (pl.col("first_suspended") + pl.duration(days=WINDOW_DAYS)).alias("upper_t"),
        pl.col("first_suspended").alias("t"),
    ).join(lp.rename({"previous": "account_id"}), on="account_id", how="left")
    right = keys.select(cols).with_columns(
        pl.lit(None, dtype=TS).alias("lower_t"),
        pl.lit(None, dtype=TS).alias("upper_t"),
        pl.col("t_new").alias("t"),
    ).join(rp.rename({"new": "account_id"}), on="account_id", how="left")
    order = cols + ["lower_t", "upper_t", "t", "pair_ids"]
    return left.select(order), right.select(order)


def run_splink(left: pl.DataFrame, right: pl.DataFrame, seed: int,
               use_followers: bool) -> tuple[
        pl.DataFrame, dict[str, float], dict[str, object]]:
    """Train and predict with Splink; returns scored pairs, step times, model info."""
    from splink import DuckDBAPI, Linker

    times: dict[str, float] = {}
    t = time.perf_counter()
    db = DuckDBAPI()
    lt = db.register(left.to_arrow(), dataset_display_name="a_suspended")
    rt = db.register(right.to_arrow(), dataset_display_name="b_accounts")
    linker = Linker([lt, rt], splink_settings(use_followers))
    times["setup"] = time.perf_counter() - t
    t = time.perf_counter()
    det = [_window_sql("l.stem = r.stem AND l.avatar = r.avatar"),
           _window_sql("l.name_key = r.name_key AND l.avatar = r.avatar")]
    linker.training.estimate_probability_two_random_records_match(
        det, recall=DETERMINISTIC_RECALL)
    times["prior"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
    times["u (random sampling)"] = time.perf_counter() - t
    t = time.perf_counter()
    for cond in ("l.stem = r.stem", "l.name_key = r.name_key", "l.avatar = r.avatar"):
        linker.training.estimate_parameters_using_expectation_maximisation(
            _window_sql(cond), max_pairs=EM_MAX_PAIRS)
    times["m (EM, 3 blocks)"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = linker.inference.predict().as_duckdbpyrelation().pl()
    times["predict"] = time.perf_counter() - t
    lam = linker._settings_obj._probability_two_random_records_match
    info = {"lambda": lam, "n_left": left.height, "n_right": right.height}
    out = pred.select(pl.col("account_id_l").alias("previous"),
                      pl.col("account_id_r").alias("new"),
                      pl.col("match_probability").alias("p_splink"))
    return out, times, info


def one_to_one(scored: pl.DataFrame, col: str) -> tuple[pl.DataFrame, float]:
    """measure's rule: exclusive probability, precision-target threshold, assign."""
    from measure.resurrection._assign import (
        assign,
        exclusive_probability,
        threshold_for_precision,
    )

    df = scored.select("previous", "new", "created_new", pl.col(col).alias("p_pair"))
    df = df.with_columns(pl.Series("probability", exclusive_probability(df)))
    thr = threshold_for_precision(df["probability"].to_numpy(), TARGET_PRECISION)
    return assign(df, thr), thr


def byte_vs_char(frame: pl.DataFrame, truth_keys: pl.DataFrame) -> list[str]:
    """Level disagreements between DuckDB (bytes) and rapidfuzz (characters)."""
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler, Levenshtein

    con = duckdb.connect()
    con.register("f", frame.select("previous", "new", "stem_prev", "stem_new",
                                   "handle_prev", "handle_new", "name_prev",
                                   "name_new").to_arrow())
    d = con.execute("""
        SELECT levenshtein(stem_prev, stem_new) AS lev_b,
               jaro_winkler_similarity(handle_prev, handle_new) AS jwh_b,
               jaro_winkler_similarity(name_prev, name_new) AS jwn_b
        FROM f""").pl()
    con.close()

    def rf(a: str, b: str, scorer) -> np.ndarray:
        x = frame[a].fill_null("").to_list()
        y = frame[b].fill_null("").to_list()
        r = np.asarray(process.cpdist(x, y, scorer=scorer, workers=-1),
                       dtype=np.float64)
        r[(frame[a].is_null() | frame[b].is_null()).to_numpy()] = np.nan
        return r

    lev_c = rf("stem_prev", "stem_new", Levenshtein.distance)
    jwh_c = rf("handle_prev", "handle_new", JaroWinkler.similarity)
    jwn_c = rf("name_prev", "name_new", JaroWinkler.similarity)
    lev_b = d["lev_b"].to_numpy().astype(np.float64)
    jwh_b = d["jwh_b"].to_numpy().astype(np.float64)
    jwn_b = d["jwn_b"].to_numpy().astype(np.float64)
    is_true = frame.select("previous", "new").with_row_index("_i").join(
        truth_keys, on=["previous", "new"])["_i"].to_numpy()
    tmask = np.zeros(frame.height, dtype=bool)
    tmask[is_true] = True

    def non_ascii(a: str, b: str) -> np.ndarray:
        pat = r"[^\x00-\x7F]"
        return (frame[a].str.contains(pat).fill_null(False)
                | frame[b].str.contains(pat).fill_null(False)).to_numpy()

    rows = []
    for what, nb, b, c, cuts, na in (
            ("stem Levenshtein (levels <=1, <=2)", None, lev_b, lev_c, [1.5, 2.5],
             non_ascii("stem_prev", "stem_new")),
            ("handle Jaro-Winkler (level >= 0.9)", None, jwh_b, jwh_c, [0.9],
             non_ascii("handle_prev", "handle_new")),
            ("display-name Jaro-Winkler (levels 0.7, 0.9)", None, jwn_b, jwn_c,
             [0.7, 0.9], non_ascii("name_prev", "name_new"))):
        del nb
        ok = ~np.isnan(b) & ~np.isnan(c)
        lb = np.searchsorted(cuts, b[ok], side="right")
        lc = np.searchsorted(cuts, c[ok], side="right")
        diff = lb != lc
        rows.append(
            f"| {what} | {int(na[ok].sum()):,} of {int(ok.sum()):,} | "
            f"{int(diff.sum()):,} ({int((diff & ~na[ok]).sum()):,} ASCII-only) | "
            f"{int((diff & tmask[ok]).sum()):,} of {int(tmask[ok].sum()):,} |")
    return rows


def micro_examples() -> list[str]:
    """DuckDB vs rapidfuzz on a few Arabic / emoji handles (fixed examples)."""
    from rapidfuzz.distance import JaroWinkler, Levenshtein

    ex = [("abu_x", "abu_xم"), ("abu_x", "abu_x😀"), ("سامي", "ساعي"),
          ("أبو_عمر", "ابو_عمر"), ("😀abc", "abc")]
    con = duckdb.connect()
    out = []
    for a, b in ex:
        lb, jb = con.execute("SELECT levenshtein(?, ?), jaro_winkler_similarity(?, ?)",
                             [a, b, a, b]).fetchone()
        out.append(f"| `{a}` vs `{b}` | {lb} | {Levenshtein.distance(a, b)} | "
                   f"{jb:.3f} | {JaroWinkler.similarity(a, b):.3f} |")
    con.close()
    return out


def run_world(preset: str, seed: int, out: Path) -> dict[str, object]:
    from tests.resurrection._links import precision_recall
    from tests.resurrection._links import true_links as observable_links

    import measure
    from measure.resurrection import analyze
    from measure.simulate import simulate

    t = time.perf_counter()
    path = simulate(preset, seed, out / f"{preset}_{seed}", overwrite=True)
    sim_s = time.perf_counter() - t
    ds = measure.open(path)
    n_acc = ds.sql("SELECT count(*) AS n FROM accounts")["n"][0]

    t = time.perf_counter()
    res = analyze(ds, n_boot=50, n_imputations=10, seed=seed)
    m_total = time.perf_counter() - t
    m_score = sum(res.timings.get(k, 0.0) for k in ("features", "model", "assign"))
    pairs = res.pairs
    true_links = observable_links(path, WINDOW_DAYS)
    tkeys = true_links.select("previous", "new").with_columns(
        pl.lit(True).alias("label"))
    lab = pairs.select("previous", "new").join(tkeys, on=["previous", "new"],
                                               how="left")
    n_true_in_pairs = int(lab["label"].fill_null(False).sum())
    n_linkable = true_links.filter(pl.col("linkable")).height
    pm, rm = precision_recall(res.links, true_links)

    # Splink on the same pairs
    t = time.perf_counter()
    left, right = splink_inputs(ds, pairs)
    prep_s = time.perf_counter() - t
    use_followers = bool((pairs["bin_followers"] >= 0).any())
    sp, sp_times, info = run_splink(left, right, seed, use_followers)
    info["followers"] = use_followers
    sp_total = prep_s + sum(sp_times.values())
    scored = pairs.select("previous", "new", "created_new", "p_pair").join(
        sp, on=["previous", "new"], how="left")
    n_missing = int(scored["p_splink"].is_null().sum())
    scored = scored.with_columns(pl.col("p_splink").fill_null(0.0))
    s_links, s_thr = one_to_one(scored, "p_splink")
    ps, rs = precision_recall(s_links, true_links)
    raw = scored.filter(pl.col("p_splink") >= 0.5)
    pr_raw, rr_raw = precision_recall(raw, true_links)

    # byte vs character levels on the candidate pairs
    from measure.resurrection._blocking import accounts_frame
    from measure.resurrection._features import account_keys
    keys = account_keys(accounts_frame(ds)).select(
        "account_id", "stem", "handle", "name_norm")
    fr = pairs.select("previous", "new").join(
        keys.rename({"account_id": "previous", "stem": "stem_prev",
                     "handle": "handle_prev", "name_norm": "name_prev"}),
        on="previous", how="left").join(
        keys.rename({"account_id": "new", "stem": "stem_new",
                     "handle": "handle_new", "name_norm": "name_new"}),
        on="new", how="left")
    bvc = byte_vs_char(fr, tkeys.drop("label"))
    ds.close()
    return {
        "preset": preset, "seed": seed, "sim_s": sim_s, "n_accounts": n_acc,
        "n_suspended": res.n_suspended, "n_pairs": pairs.height,
        "n_true_in_pairs": n_true_in_pairs, "n_linkable": n_linkable,
        "measure": {"precision": pm, "recall": rm, "links": res.links.height,
                    "threshold": res.threshold, "total_s": m_total,
                    "score_s": m_score, "timings": res.timings,
                    "method": res.model.method if res.model is not None else "-"},
        "splink": {"precision": ps, "recall": rs, "links": s_links.height,
                   "threshold": s_thr, "total_s": sp_total, "prep_s": prep_s,
                   "times": sp_times, "missing": n_missing,
                   "raw_precision": pr_raw, "raw_recall": rr_raw,
                   "raw_links": raw.height, **info},
        "byte_vs_char": bvc,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["small", "demo"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/measure_bench_rs_splink")
    ap.add_argument("--note", default="", help="added to the header line")
    ap.add_argument("--results", default=None,
                    help="markdown output (default bench/results/"
                         "resurrection_splink.md; '-' prints only)")
    args = ap.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    import splink

    started, load0 = dt.datetime.now(dt.UTC), os.getloadavg()
    worlds = [run_world(p, args.seed, Path(args.out)) for p in args.presets]
    load1 = os.getloadavg()
    from run import run_line

    presets = " and ".join(f"`{p}`" for p in args.presets)
    lines = [
        "## Resurrection linking: measure vs Splink on the same candidate pairs "
        "(`bench/bench_resurrection_splink.py`)",
        "",
        f"Simulated worlds (`measure.simulate` presets {presets}, seed "
        f"{args.seed}); truth: the observable true predecessors "
        "(`Truth.observable_links` via `tests/resurrection/_links.py`, as in the "
        f"calibration tests); recall over true links created within the "
        f"{WINDOW_DAYS}-day window. `measure.resurrection.analyze` runs once and its "
        "candidate pairs are the pairs both methods score. **Baseline:** Splink "
        "(DuckDB backend, `link_only`) with comparisons mirroring measure's "
        "(handle, display name, bio, avatar, follower overlap, time gap), `u` from "
        "random sampling, `m` from EM on window-restricted blocks, the prior from "
        "deterministic rules, predicting exactly measure's candidate pairs. Both "
        "methods use the same threshold rule (one-to-one probability, lowest "
        f"threshold >= 0.5 with expected precision >= {TARGET_PRECISION}, greedy "
        "one-to-one assignment).",
        "",
        run_line(started, load0[0])
        + f" Versions: splink {splink.__version__}, duckdb {duckdb.__version__}; "
        f"load average 1/5/15 min before {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f}, "
        f"after {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}"
        + (f"; {args.note}" if args.note else "")
        + ".",
        "",
        "| world | accounts | suspended | candidate pairs | true links in pairs / "
        "linkable | method | links | threshold | precision | recall | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in worlds:
        m, s = w["measure"], w["splink"]
        head = (f"| {w['preset']} | {w['n_accounts']:,} | {w['n_suspended']:,} | "
                f"{w['n_pairs']:,} | {w['n_true_in_pairs']:,} / {w['n_linkable']:,} |")
        lines.append(
            f"{head} measure ({m['method']}) | {m['links']:,} | {m['threshold']:.3f} "
            f"| {m['precision']:.3f} | {m['recall']:.3f} | {m['score_s']:.1f} "
            f"scoring ({m['total_s']:.1f} with blocking and measures) |")
        lines.append(
            f"{head} Splink FS (u random, m EM), same rule | {s['links']:,} | "
            f"{s['threshold']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | "
            f"{s['total_s']:.1f} (inputs {s['prep_s']:.1f}) |")
        lines.append(
            f"{head} Splink, pairwise p >= 0.5 (no one-to-one) | {s['raw_links']:,} "
            f"| 0.500 | {s['raw_precision']:.3f} | {s['raw_recall']:.3f} | - |")
    lines += ["", "Splink step times (seconds) and model:", ""]
    for w in worlds:
        s = w["splink"]
        st = ", ".join(f"{k} {v:.1f}" for k, v in s["times"].items())
        lines.append(
            f"- {w['preset']}: {st}; prior (probability two random records match) "
            f"{s['lambda']:.3g} from deterministic rules with assumed recall "
            f"{DETERMINISTIC_RECALL} ({s['n_left']:,} left x {s['n_right']:,} right "
            f"records); follower comparison "
            f"{'used' if s['followers'] else FOLLOWERS_DROPPED}"
            f"; pairs Splink did not score: {s['missing']}. measure steps: "
            + ", ".join(f"{k} {v:.1f}" for k, v in w["measure"]["timings"].items()))
    lines += [
        "",
        "### Byte-based (DuckDB, used by Splink) vs character-based (rapidfuzz) "
        "string levels",
        "",
        "Examples:",
        "",
        "| strings | DuckDB levenshtein | rapidfuzz | DuckDB jaro_winkler | "
        "rapidfuzz |",
        "|---|---|---|---|---|",
        *micro_examples(),
        "",
        "On the candidate pairs (pairs whose Splink level would change if the "
        "distance counted characters):",
        "",
    ]
    for w in worlds:
        lines += [
            f"{w['preset']}:",
            "",
            "| comparison | pairs with non-ASCII text | pairs in another level | "
            "true links in another level |",
            "|---|---|---|---|",
            *w["byte_vs_char"],
            "",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.results != "-":
        outp = Path(args.results) if args.results else (
            Path(__file__).parent / "results" / "resurrection_splink.md")
        outp.write_text(text)


if __name__ == "__main__":
    main()
