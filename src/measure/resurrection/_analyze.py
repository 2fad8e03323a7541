"""The resurrection pipeline: events -> candidates -> scores -> links -> measures."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate
from measure.errors import ConfigError, EstimationError
from measure.resurrection import _sql as Q
from measure.resurrection._assign import (
    LinkSampler,
    assign,
    exclusive_probability,
    incarnation_numbers,
    lineages,
    threshold_for_precision,
)
from measure.resurrection._features import (
    FEATURES,
    account_keys,
    compare,
    deletion_keys,
)
from measure.resurrection._fellegi_sunter import (
    fit_em,
    fit_em_grouped,
    fit_logit,
    predict_em,
    predict_grouped,
    predict_logit,
    u_from_random_pairs,
)
from measure.resurrection._measures import (
    DAY,
    _days,
    conditional_median,
    horizon_times,
    kaplan_meier,
    ratio_by_incarnation,
    recovery_ratios,
    return_times_np,
    rubin_rate,
)
from measure.resurrection._result import ResurrectionResult

FEATURE_BATCH = 500_000  # pairs per batch when computing comparison features
DKEY_CHUNK = 250_000  # accounts per batch of one-deletion handle keys
EDIT_SLICE = 250_000  # suspended accounts per slice of the one-deletion key join
KEY_SEED = 0  # seed of the 64-bit hashes that stand for blocking keys in DuckDB
# Blocking counts how common a key is per period of account creation of this
# many days (``max_key_freq`` applies per key and period), and the follower block
# pairs accounts through shared followers within such periods
KEY_PERIOD_DAYS = 30
_PERIOD_S = KEY_PERIOD_DAYS * 86400


def _period(t: pl.Expr) -> pl.Expr:
    """Period number of a time (``bk`` in SQL: ``floor(epoch(t) / bucket)``)."""
    return t.dt.epoch("s") // _PERIOD_S

# Smaller caps for some key kinds (see ``per_key_by``). A display name is shared
# by many unrelated accounts (common names), and its candidates are the
# nearest in time: the 5 nearest keep every true link the 20 nearest keep on the
# simulator's small worlds (default and both harder variants, seeds 1-3), and
# halve the candidate pairs of the 1M x 2M benchmark.
PER_KEY_BY: dict[str, int] = {"display_name": 5}

# comparisons whose non-match distribution comes from random pairs (the time gap
# and follower overlap of random pairs say nothing about blocked non-matches)
RANDOM_U = ("handle", "display_name", "bio", "avatar", "lang")

# added to the rate's assumptions when the link probabilities are the EM model's
# own (no audit, no labels); figures in docs/resurrection.md
UNAUDITED = (
    "the link probabilities are not audited: returns that left little trace (an "
    "incarnation the collection never found, no shared key) are undercounted, so "
    "the rate tends to be low and its interval too narrow (on simulated worlds it "
    "covered the observable rate in about 3 of 4; with a 200-pair audit in all but "
    "a few); draw an audit sheet (draw_audit, --audit-out), code it and pass it "
    "back (audit=, --audit) to recalibrate them"
)

RATE_ASSUMPTIONS = (
    "the d-day rate is the share of the suspended accounts observed for at least "
    "d days (plus the discovery lag) after their last active look-up whose actor "
    "returned within d days; the curve over all accounts assumes the end of "
    "observation (censoring) is independent of when actors return",
    "suspension happened at the midpoint between the last time the account was "
    "known alive (last active look-up, else first seen) and the first suspended "
    "look-up",
    "only returns whose new account the collection discovered are counted "
    "(rate of observable returns)",
    "links are correct with their model probability (Fellegi-Sunter conditional "
    "independence, or the supervised model's calibration)",
)


def _read_cohort(cohort: Any) -> pl.DataFrame | None:
    if cohort is None:
        return None
    if isinstance(cohort, str | os.PathLike):
        p = Path(cohort)
        if not p.is_file():
            raise ConfigError(f"cohort file '{p}' does not exist; give a Parquet or "
                              "CSV file with an 'account_id' column, or a text file "
                              "with one account id per line")
        if p.suffix == ".parquet":
            df = pl.read_parquet(p)
        elif p.suffix == ".csv":
            df = pl.read_csv(p)
        else:
            ids = [x.strip() for x in p.read_text().splitlines() if x.strip()]
            df = pl.DataFrame({"account_id": ids})
        if "account_id" not in df.columns:
            raise ConfigError(f"cohort file '{p}' has no 'account_id' column "
                              f"(columns: {', '.join(df.columns)}); rename it")
        return df.select("account_id")
    if isinstance(cohort, pl.DataFrame):
        if "account_id" not in cohort.columns:
            raise ConfigError("cohort DataFrame needs an 'account_id' column")
        return cohort.select("account_id")
    if isinstance(cohort, pl.Series):
        return pl.DataFrame({"account_id": cohort})
    if isinstance(cohort, Iterable):
        return pl.DataFrame({"account_id": list(cohort)})
    raise ConfigError("cohort must be a path, a polars DataFrame/Series with account "
                      "ids, or an iterable of account ids")


def _accounts_frame(ds: Any) -> pl.DataFrame:
    df = ds.sql(Q.accounts_select(set(ds.columns("accounts"))))
    for c in ("created_at", "first_seen"):
        if df[c].dtype == pl.Datetime("us") or (
                isinstance(df[c].dtype, pl.Datetime) and df[c].dtype.time_zone is None):
            df = df.with_columns(pl.col(c).dt.replace_time_zone("UTC"))
        df = df.with_columns(pl.col(c).cast(pl.Datetime("us", "UTC")))
    return df


def _cast_ids(df: pl.DataFrame, dtype: pl.DataType) -> pl.DataFrame:
    try:
        return df.with_columns(pl.col("account_id").cast(dtype))
    except pl.exceptions.InvalidOperationError as e:
        raise ConfigError(f"cohort account ids cannot be read as the dataset's id "
                          f"type {dtype}: {e}") from e


# columns of the keys frame gathered for each side of a pair (PAIR_FRAME names)
_SIDE = (("handle", "handle"), ("stem", "stem"), ("suffix", "suffix"),
         ("name_norm", "name"), ("name_key", "name_key"), ("bio_norm", "bio"),
         ("bio_fp", "bio_fp"), ("bio_lfp", "bio_lfp"), ("bio_l_n", "bio_l_n"),
         ("bio_letters", "bio_letters"),
         ("avatar", "avatar"), ("lang", "lang"))
_NEW_ONLY = ("stem_n", "name_n", "avatar_n", "bio_n")


def _gather_frame(keys: pl.DataFrame, num: pl.DataFrame) -> pl.DataFrame:
    """Comparison fields of pairs: a ``PAIR_FRAME`` batch plus gathered strings."""
    a = keys.select([pl.col(c).alias(f"{n}_prev") for c, n in _SIDE]).gather(
        num["kx_prev"])
    b = keys.select([pl.col(c).alias(f"{n}_new") for c, n in _SIDE]
                    + list(_NEW_ONLY)).gather(num["kx_new"])
    return num.drop("kx_prev", "kx_new").hstack(a.get_columns() + b.get_columns())


# blocking keys that DuckDB joins on (exact integer codes of the strings)
_CODED = ("stem", "name_key", "avatar", "bio_fp", "bio_lfp")


def _key_codes(keys: pl.DataFrame) -> pl.DataFrame:
    """Select what the SQL steps read of the keys frame, keys as integer codes.

    Each key column becomes a 64-bit hash of its string (``UInt64``; nulls stay
    null): joins and counts on integers cost a fraction of those on strings.
    Two different key values share a code with probability ``2**-64`` per pair
    of values (about 1e-7 that any two of 3 million collide); a collision would
    join two unrelated keys (extra candidates, or a key counted as common).
    """
    return keys.select("account_id", "kx", "t_new", "first_seen",
                       *[pl.when(pl.col(c).is_not_null())
                         .then(pl.col(c).hash(KEY_SEED)).alias(c) for c in _CODED])


# added to a period number before it enters a cell code, so that the code's
# period part is positive for any date after the year -75000 (SQL casts it to
# UBIGINT)
PERIOD_OFFSET = 1_000_000


def _cell_codes(dkey: np.ndarray, bk: np.ndarray) -> np.ndarray:
    """One 64-bit code per (one-deletion key, period): ``dkey XOR (period + offset)``.

    The same code is computed in SQL (``EDIT_JOIN``, with ``$offset`` =
    :data:`PERIOD_OFFSET`). Two cells share a code when their keys (splitmix64
    hashes) differ by the XOR of their periods: ``2**-64`` per pair of cells,
    with a few hundred periods about ``2**-48`` per pair of keys; they would
    then count together and a rare cell could be taken for a common one (it is
    then not used to block, nothing else). ``bk`` must not be null: rows without
    a time never block and are left out before.
    """
    return dkey.astype(np.uint64) ^ (bk.astype(np.int64) + PERIOD_OFFSET).astype(
        np.uint64)


def _common_cells(codes: list[np.ndarray], max_key_freq: int) -> pl.DataFrame:
    """Codes (:func:`_cell_codes`) of cells held by more than ``max_key_freq``.

    Counted on the sorted codes (a hash aggregate over the tens of millions of
    one-deletion keys at 1M x 2M accounts is slower).
    """
    srt = (np.concatenate(codes) if codes else np.zeros(0, dtype=np.uint64))
    srt.sort()
    cut = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1], True])
    big = srt[cut[:-1]][np.diff(cut) > max_key_freq] if srt.size else srt
    return pl.DataFrame({"code": pl.Series(big, dtype=pl.UInt64)})


def _nearest_distinct(j: pl.DataFrame, per_key: int) -> pl.DataFrame:
    """Candidates of the one-deletion block from its join rows.

    ``j`` has one row per shared key (``previous, new, dist``, dist = time from
    the suspension). The result is what ``row_number() OVER (PARTITION BY
    previous ORDER BY dist, new) <= per_key`` followed by ``DISTINCT ON
    (previous, new)`` gives in SQL: a pair is kept when its first row is among
    the ``per_key`` first rows of its suspended account. Done by a polars sort
    (a DuckDB window over tens of millions of join rows is slower).
    """
    j = j.sort("previous", "dist", "new")
    starts = _run_starts(j["previous"])
    pos = np.arange(j.height) - starts[_run_codes(starts, j.height)]
    return j.filter(pl.Series(pos < per_key)).select("previous", "new").unique()


def _run_starts(x: pl.Series) -> np.ndarray:
    """Row positions where a new value starts in a sorted (grouped) series."""
    if x.len() == 0:
        return np.zeros(0, dtype=np.int64)
    change = (x.slice(1) != x.slice(0, x.len() - 1)).to_numpy()
    return np.flatnonzero(np.r_[True, change])


def _run_codes(starts: np.ndarray, n: int) -> np.ndarray:
    """Run number (0, 1, ...) of each of ``n`` rows, given the runs' ``starts``."""
    first = np.zeros(n, dtype=np.int64)
    first[starts] = 1
    return np.cumsum(first) - 1


def _drop(con: Any, *tables: str) -> None:
    """Drop this step's temporary tables (fixed names) when they exist."""
    for t in tables:
        con.execute(Q.DROP_TABLE.format(t))


def _utc(df: pl.DataFrame) -> pl.DataFrame:
    out = []
    for c, t in df.schema.items():
        if isinstance(t, pl.Datetime):
            e = pl.col(c)
            if t.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
            out.append(e.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC")))
    return df.with_columns(out) if out else df


def _windows(con: Any, keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame,
                                                    np.ndarray, np.ndarray]:
    """Suspended accounts' windows and the accounts (by ``t_new``) inside each."""
    win = con.execute(Q.SUSPENDED_WINDOWS).pl()
    acc = keys.select("account_id", "t_new").drop_nulls().sort("t_new")
    t_acc = acc["t_new"].dt.epoch("us").to_numpy()
    lo = np.searchsorted(t_acc, win["lower_t"].dt.epoch("us").to_numpy(), "right")
    hi = np.searchsorted(t_acc, win["upper_t"].dt.epoch("us").to_numpy(), "right")
    return win, acc, lo, hi


def _random_pairs(con: Any, keys: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """``n`` random (suspended, account created in its search window) pairs.

    Almost all are non-matches; their comparison levels estimate the non-match
    probabilities ``u`` free of the blocking (splink's random sampling, restricted
    to the window so that the time gap is comparable).
    """
    rng = np.random.default_rng(seed)
    win, acc, lo, hi = _windows(con, keys)
    size = (hi - lo).astype(np.float64)
    ok = np.flatnonzero(size > 0)
    if ok.size == 0:
        return pl.DataFrame({"previous": keys["account_id"].clear(),
                             "new": keys["account_id"].clear(),
                             "keys": pl.Series([], dtype=pl.Int32)})
    # suspended accounts in proportion to their window's size: uniform over pairs
    a = rng.choice(ok, size=n, p=size[ok] / size[ok].sum())
    b = lo[a] + np.floor(rng.random(n) * size[a]).astype(np.int64)
    return pl.DataFrame({
        "previous": win["account_id"].gather(a.tolist()),
        "new": acc["account_id"].gather(b.tolist()),
        "keys": pl.Series(np.zeros(n, dtype=np.int32)),
    }).filter(pl.col("previous") != pl.col("new")).unique(["previous", "new"])


def analyze(
    ds: Any,
    *,
    window: float = 60,
    threshold: float | None = None,
    target_precision: float = 0.95,
    cohort: Any = None,
    labels: pl.DataFrame | None = None,
    audit: Any = None,
    horizons: tuple[float, ...] = (7, 30, 60),
    rate_days: float = 30,
    discovery_lag_days: float = 0.0,
    n_imputations: int = 20,
    n_boot: int = 200,
    level: float = 0.95,
    follower_age_days: float = 14,
    follower_age_tol_days: float = 7,
    per_key: int = 20,
    per_key_by: dict[str, int] | None = PER_KEY_BY,
    max_key_freq: int = 30,
    min_shared_followers: int = 2,
    max_hub: int = 1000,
    u_random_pairs: int = 50_000,
    time_candidates: int = 0,
    grouped: bool = True,
    fuzzy_handles: bool = True,
    seed: int = 0,
) -> ResurrectionResult:
    """Link returning accounts to suspended ones and measure resurrection.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset` with ``accounts`` and ``observations`` (``edges``
        adds the follower-overlap comparison).
    window
        Days after the first ``suspended`` look-up within which a successor must be
        created (or first seen when ``created_at`` is absent).
    threshold
        Keep links with one-to-one probability at or above this; ``None`` picks the
        lowest threshold (>= 0.5) whose kept links have expected precision
        ``target_precision``.
    target_precision
        See ``threshold``.
    cohort
        Restrict the suspended accounts studied (path, ids, or frame with
        ``account_id``); successors may be any account.
    labels
        Optional labelled pairs ``previous, new, match`` (bool); when given, a
        supervised logistic model replaces EM.
    audit
        Optional coded audit sheet (path or frame; drawn with
        ``result.draw_audit`` / ``--audit-out`` from an analysis with the same
        options). The link draws behind the measures then use probabilities
        recalibrated on it (``logit p' = a + b logit p``, design-weighted, refitted
        on a stratified bootstrap of the audit in each draw); the accepted links
        are unchanged.
    horizons
        Days at which the return rate is reported (``rate_days`` is always added).
    rate_days
        The headline horizon (30: ``rate_30d``).
    discovery_lag_days
        Allowance for the time the collection needs to find a new account: the
        ``d``-day rate is computed over the accounts known alive at least ``d`` +
        this many days before the data end, and the curve's follow-up ends this
        many days before the data end. 0 (default) measures the returns the data
        show (as the simulator's ``rate_30d_observable``); about the collection's
        discovery delay (the simulator's has mean 10 days) counts only accounts
        whose returns had time to be found, which is closer to the latent rate.
    n_imputations
        Link draws for multiple imputation (Rubin's rules).
    n_boot
        Bootstrap replicates (each with its own link draw) for the median delay
        and the follower recovery ratios.
    level
        Confidence level.
    follower_age_days, follower_age_tol_days
        Followers of a new account are read at the look-up nearest to this age
        (within the tolerance).
    per_key, max_key_freq, min_shared_followers, max_hub
        Blocking caps: candidates per suspended account and key kind (nearest in
        time kept; for shared followers the largest Jaccard overlap of the
        follower sets, hubs left out); a key value held by more than
        ``max_key_freq`` accounts created in one :data:`KEY_PERIOD_DAYS`-day
        period is not used to block in that period (common there: weak
        evidence, costly joins; the default 30 is about 100 over a search
        window, which touches 3 or 4 periods, and keeps the 1M x 2M benchmark
        under 8 GiB); minimum shared
        followers for the follower-overlap block; followers of more than
        ``max_hub`` accounts are ignored when blocking.
    per_key_by
        Caps for some key kinds instead of ``per_key`` (kinds: ``stem``,
        ``display_name``, ``avatar``, ``bio``, ``bio_letters``, ``followers``,
        ``handle_edit``);
        default :data:`PER_KEY_BY` (5 for display names); ``{}`` uses
        ``per_key`` for every kind.
    u_random_pairs
        Random (suspended, account created in its window) pairs from which the
        non-match level probabilities ``u`` of every comparison are estimated
        (splink's random sampling); the prior of a pair is then one over the
        accounts in the window, and EM estimates only ``m`` and the share of
        suspended accounts with a successor. 0 estimates ``u`` by EM on the
        blocked candidates (biased by the blocking: a blocked non-match agrees on
        a key by construction).
    time_candidates
        Also make the accounts created nearest in time to each suspension
        candidates (this many), whatever they share: returns that left no trace in
        the profile or the followers then still carry probability (few per pair,
        many together). Off (0) by default: on the small world 100 of them
        raise the pairs sevenfold (6,615 to 47,374) and the 30-day rate by about
        0.01 only, because EM cannot tell how many returns left no trace.
    fuzzy_handles
        Also block on handles one edit apart (one-deletion neighbourhood of the
        stem); costs about ``len(stem)`` keys per account.
    grouped
        Fit EM with at most one successor per suspended account (default); else
        the classic pairwise Fellegi-Sunter mixture.
    seed
        Seed of the link draws, the random pairs and the bootstrap.

    Returns
    -------
    ResurrectionResult

    Notes
    -----
    The rate is a Kaplan-Meier estimate of the time to return with censoring at
    the end of observation (see :mod:`measure.resurrection._measures` for the
    assumptions); linkage uncertainty is carried through by multiple imputation.
    References: Fellegi & Sunter (1969); Kaplan & Meier (1958); Rubin (1987);
    Wright et al. (2016), "Resurgent insurgents"; Berger & Perez (2016).
    """
    for name, v in (("window", window), ("rate_days", rate_days)):
        if not v > 0:
            raise ConfigError(f"option '{name}' must be positive days, got {v!r}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigError(f"option 'threshold' must be a probability in [0, 1], got "
                          f"{threshold!r}")
    if not 0 < target_precision < 1:
        raise ConfigError("option 'target_precision' must be in (0, 1)")
    if not 0 < level < 1:
        raise ConfigError("option 'level' must be in (0, 1)")
    if n_imputations < 2:
        raise ConfigError("option 'n_imputations' must be at least 2")
    caps = dict(per_key_by or {})
    kinds = ("stem", "display_name", "avatar", "bio", "bio_letters", "followers",
             "handle_edit")
    bad = sorted(set(caps) - set(kinds))
    if bad:
        raise ConfigError(f"option 'per_key_by' has unknown key kind(s) {bad}; "
                          f"use {', '.join(kinds)}")

    def cap(kind: str) -> int:
        return int(caps.get(kind, per_key))

    ds.require("resurrection")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    con = ds.con
    warnings: list[str] = []
    try:
        end_row = con.execute(Q.DATA_END).fetchone()
        data_end = end_row[0]
        if data_end is None:
            raise EstimationError("table 'observations' is empty: no look-ups, no "
                                  "suspensions to study")
        con.execute(Q.SUSPENSION_EVENTS)
        acc = _accounts_frame(ds)
        if not ds.has_column("accounts", "lang"):
            warnings.append("no 'lang' column: language comparison not used")
        id_dtype = acc.schema["account_id"]
        keys = account_keys(acc).with_row_index("kx")
        del acc
        # DuckDB gets the blocking keys only, as integer codes; comparison
        # strings stay in polars
        con.register("_rs_keys_df", _key_codes(keys).to_arrow())
        con.execute(Q.KEYS_TABLE, {"bucket": _PERIOD_S})
        con.unregister("_rs_keys_df")
        cdf = _read_cohort(cohort)
        if cdf is not None:
            cdf = _cast_ids(cdf, id_dtype)
        else:
            cdf = pl.DataFrame({"account_id": pl.Series([], dtype=id_dtype)})
        con.register("_rs_cohort_df", cdf.to_arrow())
        con.execute(Q.COHORT_TABLE)
        con.unregister("_rs_cohort_df")
        con.execute(Q.SUSPENDED, {"window": int(math.ceil(window)),
                                  "use_cohort": cohort is not None})
        timings["events_keys"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        con.execute(Q.BLOCKS_TABLE)
        by_key: dict[str, int] = {}
        for kname, q in (("stem", Q.BLOCK_STEM), ("display_name", Q.BLOCK_NAME),
                         ("avatar", Q.BLOCK_AVATAR), ("bio", Q.BLOCK_BIO),
                         ("bio_letters", Q.BLOCK_BIO_LETTERS)):
            con.execute("INSERT INTO _rs_blocks " + q,
                        {"per_key": cap(kname), "max_key_freq": max_key_freq,
                         "bucket": _PERIOD_S})
        if ds.has("edges"):
            con.execute(Q.FOLLOWS_WITH_RELATION if ds.has_column("edges", "relation")
                        else Q.FOLLOWS_NO_RELATION)
        else:
            con.execute(Q.FOLLOWS_EMPTY)
            warnings.append("no 'edges' table: follower overlap is not used")
        if fuzzy_handles:
            # only suspended accounts and accounts new enough to succeed one
            lo_row = con.execute(Q.SUSPENDED_MIN_LOWER).fetchone()
            sids = con.execute(Q.SUSPENDED_IDS).pl()["account_id"]
            lo_t = (pl.lit(lo_row[0]).cast(pl.Datetime("us", "UTC"))
                    if lo_row[0] is not None else None)
            need = keys.filter(pl.col("account_id").is_in(sids.implode())
                               | ((_period(pl.col("t_new")) >= _period(lo_t))
                                  if lo_t is not None
                                  else pl.lit(False)))
            # in chunks of accounts (a key is distinct within its account, so
            # chunks by account give the same table), to bound the memory
            all_keys = []
            for off in range(0, max(need.height, 1), DKEY_CHUNK):
                dk = deletion_keys(need.slice(off, DKEY_CHUNK)).with_columns(
                    _period(pl.col("t_new")).alias("bk"))
                con.register("_rs_dkeys_df", dk.to_arrow())
                con.execute(Q.DKEYS_TABLE if off == 0 else Q.DKEYS_INSERT)
                con.unregister("_rs_dkeys_df")
                timed = dk.filter(pl.col("bk").is_not_null())
                all_keys.append(_cell_codes(timed["dkey"].to_numpy(),
                                            timed["bk"].to_numpy()))
                del timed
                del dk
            del need
            big = _common_cells(all_keys, max_key_freq)
            del all_keys
            con.register("_rs_bigd_df", big.to_arrow())
            con.execute(Q.BIG_DKEYS)
            con.unregister("_rs_bigd_df")
            # the join rows of a slice of the suspended accounts at a time: the
            # nearest-candidates cap is per suspended account, so slices give
            # the same candidates, and only one slice's rows are held at once
            n_slices = max(1, math.ceil(sids.len() / EDIT_SLICE))
            for i in range(n_slices):
                join_rows = con.execute(Q.EDIT_JOIN, {
                    "bucket": _PERIOD_S, "n_slices": n_slices, "slice": i,
                    "offset": PERIOD_OFFSET}).pl()
                edit = _nearest_distinct(join_rows, cap("handle_edit"))
                del join_rows
                con.register("_rs_edit_df", edit.to_arrow())
                con.execute(Q.BLOCK_EDIT_INSERT)
                con.unregister("_rs_edit_df")
                del edit
            _drop(con, "_rs_dkeys", "_rs_bigdkeys")  # 60M+ keys at 1M x 2M
        if time_candidates:
            con.execute("INSERT INTO _rs_blocks " + Q.BLOCK_TIME,
                        {"per_key": int(time_candidates)})
        con.execute("INSERT INTO _rs_blocks " + Q.BLOCK_FOLLOWERS,
                    {"per_key": cap("followers"), "min_shared": min_shared_followers,
                     "max_hub": max_hub, "bucket": _PERIOD_S})
        n_by_bit = dict(con.execute(Q.BLOCK_COUNTS).fetchall())
        for kname, bit in (("stem", 1), ("display_name", 2), ("avatar", 4),
                           ("bio", 8), ("followers", 16), ("handle_edit", 32),
                           ("time", 64), ("bio_letters", 128)):
            by_key[kname] = int(n_by_bit.get(bit, 0))
        susp = _utc(con.execute(Q.SUSPENDED_FRAME).pl())
        # random pairs (suspended x any account) for the non-match u of profile
        # comparisons; the same PAIR_FRAME step computes their fields
        frame_u = None
        if u_random_pairs and susp.height:
            rp = _random_pairs(con, keys, int(u_random_pairs), seed + 7919)
            con.register("_rs_rand_df", rp.to_arrow())
            con.execute(Q.RANDOM_PAIRS_TABLE)
            con.unregister("_rs_rand_df")
            con.execute(Q.FOLLOWER_COUNTS)
            con.execute(Q.SHARED_FOLLOWERS)
            frame_u = _utc(_gather_frame(keys, con.execute(Q.PAIR_FRAME).pl()))
        con.execute(Q.PAIRS)
        con.execute(Q.FOLLOWER_COUNTS)
        con.execute(Q.SHARED_FOLLOWERS)
        # not read again: give DuckDB's memory to the feature step
        _drop(con, "_rs_blocks", "_rs_follows")
        timings["blocking"] = time.perf_counter() - t1
        # comparison features batch by batch: only ids, numbers and bins are kept,
        # never the strings of millions of pairs at once
        t2 = time.perf_counter()
        parts = []
        # streamed in record batches: no materialised frame, no OFFSET rescans
        reader = con.execute(Q.PAIR_FRAME).to_arrow_reader(FEATURE_BATCH)
        for rb in reader:
            fr = _utc(_gather_frame(keys, pl.from_arrow(rb)))
            parts.append(compare(fr).with_columns(fr["created_new"],
                                                  fr["first_suspended"]))
        del reader
        if not parts:
            fr = _utc(_gather_frame(
                keys, con.execute(Q.PAIR_FRAME + " LIMIT 0").pl()))
            parts.append(compare(fr).with_columns(fr["created_new"],
                                                  fr["first_suspended"]))
        # DuckDB's parallel joins do not fix row order: sort for reproducible draws
        # (and the groups of a suspended account are runs); sorting here costs
        # less than an ORDER BY of the wide pair frame in DuckDB
        feats = pl.concat(parts)
        del parts
        feats = feats.sort("previous", "new")
        # not read again
        _drop(con, "_rs_pairs", "_rs_nfol", "_rs_shared")
        timings["features"] = time.perf_counter() - t2
        n_susp = susp.height
        if n_susp == 0:
            raise EstimationError(
                "no account in the cohort was ever seen 'suspended' in "
                "'observations'; nothing to link (check the cohort ids)")


        t3 = time.perf_counter()
        bins = feats.select([f"bin_{f}" for f in FEATURES]).to_numpy().astype(np.int64)
        model: Any
        if labels is not None:
            lab = labels.select("previous", "new", pl.col("match").cast(pl.Int8))
            lab = lab.with_columns(pl.col("previous").cast(id_dtype),
                                   pl.col("new").cast(id_dtype))
            joined = feats.select("previous", "new").with_row_index("_i").join(
                lab, on=["previous", "new"], how="inner")
            n_missing = lab.height - joined.height
            if n_missing:
                warnings.append(f"{n_missing} labelled pair(s) are not among the "
                                "candidate pairs (blocking missed them or they fall "
                                "outside the window)")
            idx = joined["_i"].to_numpy()
            model = fit_logit(bins[idx], joined["match"].to_numpy())
            p_pair = predict_logit(model, bins)
        elif feats.height:
            fixed_u = None
            rand_bins = rand_idx = None
            if frame_u is not None and frame_u.height:
                cu = compare(frame_u)
                rand_bins = cu.select(
                    [f"bin_{f}" for f in FEATURES]).to_numpy().astype(np.int64)
                u_all = u_from_random_pairs(rand_bins)
                fixed_u = {k: u_all[k] for k in RANDOM_U}
                # random pairs that are also candidates: their row in feats
                rand_idx = cu.select("previous", "new").join(
                    feats.select("previous", "new").with_row_index("_i").filter(
                        pl.col("previous").is_in(cu["previous"].unique().implode())),
                    on=["previous", "new"], how="left", maintain_order="left")[
                    "_i"].fill_null(-1).to_numpy().astype(np.int64)
            if grouped:
                # feats is sorted by previous: group codes are the runs (the
                # same codes as a dense rank)
                starts = _run_starts(feats["previous"])
                group = _run_codes(starts, feats.height)
                n_cand = None
                n_window_pairs = None
                if rand_bins is not None:
                    # with u from all pairs, the prior of each pair is 1 over all
                    # accounts in the window, not over the blocked candidates
                    win, _acc, lo, hi = _windows(con, keys)
                    sizes = pl.DataFrame({"previous": win["account_id"],
                                          "_n": (hi - lo).astype(np.float64)})
                    first = feats.select("previous")[starts]
                    n_cand = first.join(sizes, on="previous", how="left")[
                        "_n"].fill_null(1.0).to_numpy()
                    # the population the random pairs were drawn from
                    n_window_pairs = float((hi - lo).sum())
                model = fit_em_grouped(bins, group, n_cand=n_cand,
                                       random_bins=rand_bins, random_idx=rand_idx,
                                       n_window_pairs=n_window_pairs)
                p_pair = predict_grouped(model, bins, group)
            else:
                model = fit_em(bins, fixed_u=fixed_u)
                p_pair = predict_em(model, bins)
            if not model.converged:
                warnings.append(f"EM did not converge in {model.n_iter} iterations")
        else:
            model = None
            p_pair = np.zeros(0)
        scored = feats.with_columns(
            pl.Series("p_pair", p_pair, dtype=pl.Float64),
        )
        scored = scored.with_columns(
            pl.Series("probability", exclusive_probability(
                scored, rows=not (grouped and labels is None)), dtype=pl.Float64))
        timings["model"] = time.perf_counter() - t3

        t4 = time.perf_counter()
        thr = (threshold if threshold is not None
               else threshold_for_precision(scored["probability"].to_numpy(),
                                            target_precision))
        accepted = assign(scored, thr)
        expected_precision = (float(accepted["probability"].mean())
                              if accepted.height else float("nan"))
        # delay from the midpoint suspension time (as in the rate)
        mid = susp.select(
            pl.col("account_id").alias("previous"), "last_active", "first_suspended")
        links = accepted.select("previous", "new", "probability", "created_new").join(
            mid, on="previous", how="left")
        upper = pl.min_horizontal("first_suspended", "created_new")
        upper = pl.max_horizontal(upper, pl.col("last_active").fill_null(upper))
        lower = pl.col("last_active").fill_null(upper)
        links = links.with_columns(
            ((pl.col("created_new") - (lower + (upper - lower) / 2))
             .dt.total_seconds() / DAY).clip(lower_bound=0.0).alias("delay_days"),
        ).select("new", "previous", "probability", "delay_days", "created_new")
        lin = lineages(links, susp["account_id"])
        timings["assign"] = time.perf_counter() - t4

        # -- measures ---------------------------------------------------------
        t5 = time.perf_counter()
        rng = np.random.default_rng(seed)
        days = sorted({float(d) for d in horizons} | {float(rate_days)})
        # numpy views for the link draws: suspended row of each pair, times in days
        row_of = susp.select(pl.col("account_id").alias("previous")).with_row_index(
            "_row")
        if scored["previous"].dtype.is_integer():
            # susp is sorted by account id and holds every previous
            prow_np = np.searchsorted(susp["account_id"].to_numpy(),
                                      scored["previous"].to_numpy()).astype(np.int64)
        else:
            prow = scored.select("previous").join(row_of, on="previous", how="left",
                                                  maintain_order="left")["_row"]
            prow_np = prow.to_numpy().astype(np.int64)
        # codes of the new accounts (only their equality matters to the draws)
        new_codes = (scored["new"].to_numpy().astype(np.int64)
                     if scored["new"].dtype.is_integer()
                     else scored["new"].rank("dense").to_numpy().astype(np.int64))
        prob_np = scored["probability"].to_numpy()
        sampler = LinkSampler(prow_np, new_codes, prob_np)
        recal = None
        if audit is not None:
            from measure.resurrection._audit import recalibration

            recal = recalibration(audit, scored)
        cnew = _days(scored["created_new"])
        fs = _days(susp["first_suspended"])
        # last time known alive: the last active look-up, else first seen (or
        # created) when that was before the first suspended look-up
        seen = _days(susp["first_seen"])
        seen = np.where(seen < fs, seen, np.nan)
        la = _days(susp["last_active"])
        la = np.where(np.isnan(la), seen, la)
        end_d = _days(pl.Series([data_end]).cast(pl.Datetime("us", "UTC")))[0]

        def draw_created() -> np.ndarray:
            if recal is None:
                chosen = sampler.draw(rng)
            else:
                chosen = sampler.reweighted(
                    recal.draw(rng, prob_np, prow_np)).draw(rng)
            created = np.full(susp.height, np.nan)
            created[prow_np[chosen]] = cnew[chosen]
            return created

        def draw_times(idx: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
            t, e = return_times_np(la, fs, draw_created(), end_d, discovery_lag_days)
            return (t, e) if idx is None else (t[idx], e[idx])

        draws = [draw_created() for _ in range(n_imputations)]
        kms = [kaplan_meier(*return_times_np(la, fs, c, end_d, discovery_lag_days))
               for c in draws]
        method = ("Kaplan-Meier of return delay over the suspended accounts with "
                  "d + lag days of follow-up after their last active look-up; "
                  f"Greenwood log-log CI pooled over {n_imputations} link draws "
                  "(Rubin's rules)")
        if model is not None:
            method = f"{model.method} links; " + method
        rate_assumptions = RATE_ASSUMPTIONS
        if recal is None and labels is None:
            rate_assumptions = RATE_ASSUMPTIONS + (UNAUDITED,)
        if recal is not None:
            method += (f"; link probabilities recalibrated on a hand audit of "
                       f"{recal.n_coded} pairs (logit p' = {recal.a:.3f} + "
                       f"{recal.b:.3f} logit p, refitted on a stratified bootstrap "
                       "of the audit in each draw)")
            rate_assumptions = RATE_ASSUMPTIONS + (
                "the audit's recalibration of the link probabilities holds for all "
                "candidate pairs, including those below the audit's floor",)
        rates: dict[float, Estimate] = {}
        for d in days:
            kms_d = [kaplan_meier(*horizon_times(la, fs, c, end_d, d,
                                                 discovery_lag_days))
                     for c in draws]
            pooled = rubin_rate(kms_d, d, level)
            km_all = rubin_rate(kms, d, level)
            w = []
            n_d = kms_d[0].n
            if not n_d:
                w.append(f"no suspended account is followed up for {d:g} days "
                         f"(+ {discovery_lag_days:g} days discovery lag)")
            rates[d] = Estimate(
                term=f"rate_{d:g}d", estimate=pooled.estimate if n_d else math.nan,
                ci=pooled.ci if n_d else (math.nan, math.nan),
                level=level, std_error=pooled.std_error, method=method, n=n_d,
                assumptions=rate_assumptions, warnings=tuple(w),
                extra={"within_var": pooled.within, "between_var": pooled.between,
                       "df": pooled.df, "m": pooled.m,
                       "km_all_accounts": km_all.estimate,
                       "km_all_accounts_ci": km_all.ci})
        grid = np.arange(0, int(window) + 1, dtype=np.float64)
        curve_rows = []
        for d in grid:
            pooled = rubin_rate(kms, float(d), level)
            curve_rows.append((float(d), pooled.estimate, pooled.ci[0], pooled.ci[1]))
        curve = pl.DataFrame(curve_rows, schema=["day", "rate", "ci_low", "ci_high"],
                             orient="row")

        # median delay among returns within the window, bootstrap with draws
        meds = [conditional_median(k, window) for k in kms]
        meds = [v for v in meds if math.isfinite(v)]
        med_pt = float(np.median(meds)) if meds else math.nan
        n_s = susp.height
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, n_s, n_s)
            boots.append(conditional_median(kaplan_meier(*draw_times(idx)), window))
        boots_a = np.asarray(boots)
        boots_a = boots_a[np.isfinite(boots_a)]
        a = (1 - level) / 2
        if math.isfinite(med_pt) and boots_a.size > 10:
            median_delay = Estimate(
                term="median_delay_days", estimate=med_pt,
                ci=(float(np.quantile(boots_a, a)), float(np.quantile(boots_a, 1 - a))),
                level=level, std_error=float(boots_a.std(ddof=1)),
                method=(f"median of the Kaplan-Meier return-delay distribution "
                        f"among returns within {window:g} days; percentile "
                        f"bootstrap ({n_boot}) with a link draw per replicate"),
                n=links.height,
                assumptions=RATE_ASSUMPTIONS)
        else:
            median_delay = Estimate.invalid(
                "median_delay_days",
                "no returns were linked" if not math.isfinite(med_pt) else
                f"too few bootstrap replicates for a CI (n_boot={n_boot})",
                level=level)

        # follower recovery by incarnation on accepted links
        f_susp = dict(zip(susp["account_id"].to_list(),
                          susp["followers_at_suspension"].to_list(), strict=True))
        new_ids = pl.DataFrame({"account_id": links["new"]})
        con.register("_rs_age_ids_df", new_ids.to_arrow())
        con.execute(Q.AGE_IDS)
        con.unregister("_rs_age_ids_df")
        fa = con.execute(Q.FOLLOWERS_AT_AGE, {"age_days": follower_age_days,
                                              "tol_days": follower_age_tol_days}).pl()
        f_age = dict(zip(fa["account_id"].to_list(), fa["followers_at_age"].to_list(),
                         strict=True))
        inc = incarnation_numbers(links)
        rr = recovery_ratios(links, inc, f_susp, f_age)
        point = ratio_by_incarnation(rr)
        follower_recovery: dict[int, Estimate] = {}
        if rr.height:
            bs: dict[int, list[float]] = {k: [] for k in point}
            for _ in range(n_boot):
                sample = rr[rng.integers(0, rr.height, rr.height)]
                for k, (v, _n) in ratio_by_incarnation(sample).items():
                    if k in bs:
                        bs[k].append(v)
            for k, (v, n) in point.items():
                arr = np.asarray(bs[k])
                ci = ((float(np.quantile(arr, a)), float(np.quantile(arr, 1 - a)))
                      if arr.size > 10 else (float("nan"), float("nan")))
                follower_recovery[k] = Estimate(
                    term=f"follower_recovery_{k}", estimate=v, ci=ci, level=level,
                    std_error=float(arr.std(ddof=1)) if arr.size > 2 else math.nan,
                    method=(f"sum of followers of incarnation {k} accounts "
                            f"{follower_age_days:g} days after creation over their "
                            "predecessors' at suspension; percentile bootstrap over "
                            "links"),
                    n=n,
                    assumptions=("links are correct", "the look-up nearest to "
                                 f"{follower_age_days:g} days of age stands for it"))
        incarnations = {int(k): int(v) for k, v in
                        lin.group_by("n_accounts").len().sort("n_accounts").iter_rows()}
        timings["measures"] = time.perf_counter() - t5
        timings["total"] = time.perf_counter() - t0
        if feats.height == 0:
            warnings.append("no candidate successors were found for any suspended "
                            "account")
        return ResurrectionResult(
            n_suspended=n_susp,
            n_pairs=feats.height,
            pairs_by_key=by_key,
            n_linked=links.height,
            threshold=float(thr),
            expected_precision=expected_precision,
            rates=rates,
            rate_days=float(rate_days),
            median_delay=median_delay,
            follower_recovery=follower_recovery,
            incarnations=incarnations,
            method=method,
            links=links,
            lineages=lin,
            pairs=scored,
            model=model,
            curve=curve,
            window=float(window),
            data_end=data_end,
            level=level,
            warnings=tuple(warnings),
            timings=timings,
        )
    finally:
        _drop(con, *Q.CLEANUP)
