"""Helpers of the blocking stage: accounts, key codes, cells, random pairs.

The SQL of blocking is in :mod:`measure.resurrection._sql`; this module holds what
runs in polars and numpy between those steps: reading the accounts, casting the
cohort's ids (the cohort is read by :mod:`measure._cohort`) to the accounts' id
type, the 64-bit codes DuckDB joins on, the counts of common one-deletion cells,
the nearest-candidates cap of the one-deletion block, the random window pairs from
which the non-match probabilities are estimated, and the gathering of comparison
strings for a batch of pairs.

References: Garbe, W. (2012), symmetric deletion (SymSpell) for the one-edit
handle keys; splink's ``estimate_u_using_random_sampling`` (Linacre et al. 2022,
*IJPDS* 7(3)) for the random pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from measure.errors import ConfigError
from measure.resurrection import _sql as Q

FEATURE_BATCH = 500_000  # pairs per batch when computing comparison features
DKEY_CHUNK = 250_000  # accounts per batch of one-deletion handle keys
EDIT_SLICE = 250_000  # suspended accounts per slice of the one-deletion key join
KEY_SEED = 0  # seed of the 64-bit hashes that stand for blocking keys in DuckDB
# Blocking counts how common a key is per period of account creation of this
# many days (``max_key_freq`` applies per key and period), and the follower block
# pairs accounts through shared followers within such periods
KEY_PERIOD_DAYS = 30
PERIOD_S = KEY_PERIOD_DAYS * 86400
# added to a period number before it enters a cell code, so that the code's
# period part is positive for any date after the year -75000 (SQL casts it to
# UBIGINT)
PERIOD_OFFSET = 1_000_000
# offset of the random pairs' seed from the analysis seed (the link draws use
# the seed itself)
RANDOM_PAIRS_SEED_OFFSET = 7919


def period(t: pl.Expr) -> pl.Expr:
    """Period number of a time (``bk`` in SQL: ``floor(epoch(t) / bucket)``)."""
    return t.dt.epoch("s") // PERIOD_S


def accounts_frame(ds: Any, run: Any = None) -> pl.DataFrame:
    """Read the accounts columns linking needs, times as UTC (absent ones null).

    ``run`` is a :class:`~measure._steps.StepRunner` to record the step in
    (else the query runs on ``ds`` directly).
    """
    step = Q.accounts_select(set(ds.columns("accounts")))
    df = run.run(step) if run is not None else ds.sql(step.sql)
    for c in ("created_at", "first_seen"):
        if df[c].dtype == pl.Datetime("us") or (
                isinstance(df[c].dtype, pl.Datetime) and df[c].dtype.time_zone is None):
            df = df.with_columns(pl.col(c).dt.replace_time_zone("UTC"))
        df = df.with_columns(pl.col(c).cast(pl.Datetime("us", "UTC")))
    return df


class AllocatorPurging:
    """Context manager: DuckDB's allocator returns freed memory while linking runs.

    On Linux DuckDB allocates with jemalloc, which keeps the pages of freed
    memory for reuse until its arenas are purged; without background threads
    that waits for later allocations in the same arena. Between the SQL steps of
    linking, the memory DuckDB freed is then still resident while polars and
    numpy (other allocators) build the pair features and fit the model, and the
    two add up (at 1M x 2M accounts, 1.3 GiB more resident after blocking).
    Inside the context
    ``allocator_background_threads`` is on (jemalloc's background threads
    purge freed pages as they age); on exit the setting is restored. A
    connection without the setting is left as it is.

    Parameters
    ----------
    con
        The dataset's DuckDB connection.
    """

    def __init__(self, con: Any) -> None:
        self.con = con
        self.changed = False

    def __enter__(self) -> AllocatorPurging:
        try:
            on = self.con.execute(
                "SELECT current_setting('allocator_background_threads')"
            ).fetchone()[0]
        except Exception:  # noqa: BLE001 - an engine without the setting
            return self
        if str(on).lower() not in ("true", "1"):
            self.con.execute("SET allocator_background_threads = true")
            self.changed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.changed:
            self.con.execute("SET allocator_background_threads = false")
            self.changed = False


def cast_ids(df: pl.DataFrame, dtype: pl.DataType) -> pl.DataFrame:
    """Cast a cohort's ids to the dataset's id type (a clear error if impossible)."""
    try:
        return df.with_columns(pl.col("account_id").cast(dtype))
    except pl.exceptions.InvalidOperationError as e:
        raise ConfigError(f"cohort account ids cannot be read as the dataset's id "
                          f"type {dtype}: {e}") from e


def utc(df: pl.DataFrame) -> pl.DataFrame:
    """Every datetime column as ``Datetime("us", "UTC")`` (naive read as UTC)."""
    out = []
    for c, t in df.schema.items():
        if isinstance(t, pl.Datetime):
            e = pl.col(c)
            if t.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
            out.append(e.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC")))
    return df.with_columns(out) if out else df


# columns of the keys frame gathered for each side of a pair (PAIR_FRAME names)
_SIDE = (("handle", "handle"), ("stem", "stem"), ("suffix", "suffix"),
         ("name_norm", "name"), ("name_key", "name_key"), ("bio_norm", "bio"),
         ("bio_fp", "bio_fp"), ("bio_lfp", "bio_lfp"), ("bio_l_n", "bio_l_n"),
         ("bio_letters", "bio_letters"),
         ("avatar", "avatar"), ("lang", "lang"))
_NEW_ONLY = ("stem_n", "name_n", "avatar_n", "bio_n")


def gather_frame(keys: pl.DataFrame, num: pl.DataFrame) -> pl.DataFrame:
    """Comparison fields of pairs: a ``PAIR_FRAME`` batch plus gathered strings."""
    a = keys.select([pl.col(c).alias(f"{n}_prev") for c, n in _SIDE]).gather(
        num["kx_prev"])
    b = keys.select([pl.col(c).alias(f"{n}_new") for c, n in _SIDE]
                    + list(_NEW_ONLY)).gather(num["kx_new"])
    return num.drop("kx_prev", "kx_new").hstack(a.get_columns() + b.get_columns())


# blocking keys that DuckDB joins on (exact integer codes of the strings)
_CODED = ("stem", "name_key", "avatar", "bio_fp", "bio_lfp")


def key_codes(keys: pl.DataFrame) -> pl.DataFrame:
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


def cell_codes(dkey: np.ndarray, bk: np.ndarray) -> np.ndarray:
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


def common_cells(codes: list[np.ndarray], max_key_freq: int) -> pl.DataFrame:
    """Codes (:func:`cell_codes`) of cells held by more than ``max_key_freq``.

    Counted on the sorted codes (a hash aggregate over the tens of millions of
    one-deletion keys at 1M x 2M accounts is slower).
    """
    srt = (np.concatenate(codes) if codes else np.zeros(0, dtype=np.uint64))
    srt.sort()
    cut = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1], True])
    big = srt[cut[:-1]][np.diff(cut) > max_key_freq] if srt.size else srt
    return pl.DataFrame({"code": pl.Series(big, dtype=pl.UInt64)})


def nearest_distinct(j: pl.DataFrame, per_key: int, *,
                     presorted: bool = False) -> pl.DataFrame:
    """Candidates of the one-deletion block from its join rows.

    ``j`` has one row per shared key (``previous, new, dist``, dist = time from
    the suspension). The result is what ``row_number() OVER (PARTITION BY
    previous ORDER BY dist, new) <= per_key`` followed by ``DISTINCT ON
    (previous, new)`` gives in SQL: a pair is kept when its first row is among
    the ``per_key`` first rows of its suspended account. ``presorted``: ``j``
    is already sorted by ``previous, dist, new`` (the join's ``ORDER BY``; a
    DuckDB window over tens of millions of join rows is slower, and a polars
    sort holds a second copy of them).
    """
    if not presorted:
        j = j.sort("previous", "dist", "new")
    keep = run_positions(j["previous"]) < per_key
    return j.select("previous", "new").filter(pl.Series(keep)).unique()


def run_positions(x: pl.Series) -> np.ndarray:
    """Position (0, 1, ...) of each row within its run of a sorted series.

    int32 when the series has fewer than 2**31 rows: tens of millions of join
    rows need a quarter of the memory of int64 positions.
    """
    n = x.len()
    dtype = np.int32 if n < 2**31 else np.int64
    if n == 0:
        return np.zeros(0, dtype=dtype)
    starts = run_starts(x)
    pos = np.arange(n, dtype=dtype)
    pos -= np.repeat(starts.astype(dtype), np.diff(np.r_[starts, n]))
    return pos


def run_starts(x: pl.Series) -> np.ndarray:
    """Row positions where a new value starts in a sorted (grouped) series."""
    if x.len() == 0:
        return np.zeros(0, dtype=np.int64)
    change = (x.slice(1) != x.slice(0, x.len() - 1)).to_numpy()
    return np.flatnonzero(np.r_[True, change])


def run_codes(starts: np.ndarray, n: int) -> np.ndarray:
    """Run number (0, 1, ...) of each of ``n`` rows, given the runs' ``starts``."""
    first = np.zeros(n, dtype=np.int64)
    first[starts] = 1
    return np.cumsum(first) - 1


def windows(suspended: pl.DataFrame, keys: pl.DataFrame
            ) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray]:
    """Suspended accounts' windows and the accounts (by ``t_new``) inside each.

    Returns ``(win, acc, lo, hi)``: the windows ``account_id, lower_t, upper_t``
    (with ``first_suspended, last_active`` when ``suspended`` has them; sorted
    by id), the accounts ``account_id, t_new`` sorted by time, and per window
    the slice ``acc[lo:hi]`` of accounts created in ``(lower_t, upper_t]``.
    """
    extra = [c for c in ("first_suspended", "last_active") if c in suspended.columns]
    win = suspended.select("account_id", "lower_t", "upper_t", *extra).drop_nulls(
        ["lower_t", "upper_t"]).sort("account_id")
    acc = keys.select("account_id", "t_new").drop_nulls().sort("t_new")
    t_acc = acc["t_new"].dt.epoch("us").to_numpy()
    lo = np.searchsorted(t_acc, win["lower_t"].dt.epoch("us").to_numpy(), "right")
    hi = np.searchsorted(t_acc, win["upper_t"].dt.epoch("us").to_numpy(), "right")
    return win, acc, lo, hi


def random_pairs(win: pl.DataFrame, acc: pl.DataFrame, lo: np.ndarray,
                 hi: np.ndarray, n: int, seed: int) -> pl.DataFrame:
    """``n`` random (suspended, account created in its search window) pairs.

    Almost all are non-matches; their comparison levels estimate the non-match
    probabilities ``u`` free of the blocking (splink's random sampling, restricted
    to the window so that the time gap is comparable). ``win, acc, lo, hi`` as
    from :func:`windows`.
    """
    rng = np.random.default_rng(seed)
    size = (hi - lo).astype(np.float64)
    ok = np.flatnonzero(size > 0)
    if ok.size == 0:
        return pl.DataFrame({"previous": acc["account_id"].clear(),
                             "new": acc["account_id"].clear(),
                             "keys": pl.Series([], dtype=pl.Int32)})
    # suspended accounts in proportion to their window's size: uniform over pairs
    a = rng.choice(ok, size=n, p=size[ok] / size[ok].sum())
    b = lo[a] + np.floor(rng.random(n) * size[a]).astype(np.int64)
    return pl.DataFrame({
        "previous": win["account_id"].gather(a.tolist()),
        "new": acc["account_id"].gather(b.tolist()),
        "keys": pl.Series(np.zeros(n, dtype=np.int32)),
    }).filter(pl.col("previous") != pl.col("new")).unique(["previous", "new"])


def edit_block(run: Any, keys: pl.DataFrame, suspended: pl.DataFrame,
               per_key: int, max_key_freq: int) -> None:
    """Append the one-deletion handle block (bit 32) to the ``blocks`` table.

    Keys are made for the suspended accounts and the accounts created from the
    period in which the earliest window opens (only those can pair), in chunks
    of :data:`DKEY_CHUNK` accounts; the join runs per slice of
    :data:`EDIT_SLICE` suspended accounts (the nearest-candidates cap is per
    suspended account, so slices give the same candidates) and only one slice's
    rows are held at once.

    Parameters
    ----------
    run
        The :class:`~measure._steps.StepRunner` holding ``keys``, ``susp`` and
        ``blocks``.
    keys
        The keys frame of every account (``account_keys``, with ``kx``).
    suspended
        The suspended accounts with ``account_id, lower_t``.
    per_key, max_key_freq
        The block's cap per suspended account and the common-cell threshold.
    """
    from measure.resurrection._features import deletion_keys

    lo = suspended["lower_t"].min()
    sids = suspended["account_id"]
    lo_t = pl.lit(lo).cast(pl.Datetime("us", "UTC")) if lo is not None else None
    need = keys.filter(pl.col("account_id").is_in(sids.implode())
                       | ((period(pl.col("t_new")) >= period(lo_t))
                          if lo_t is not None else pl.lit(False)))
    # in chunks of accounts (a key is distinct within its account, so chunks by
    # account give the same table), to bound the memory
    all_keys = []
    for off in range(0, max(need.height, 1), DKEY_CHUNK):
        dk = deletion_keys(need.slice(off, DKEY_CHUNK)).with_columns(
            period(pl.col("t_new")).alias("bk"))
        run.register("dkeys_df", dk)
        run.run(Q.DKEYS_TABLE if off == 0 else Q.DKEYS_INSERT)
        run.drop("dkeys_df")
        timed = dk.filter(pl.col("bk").is_not_null())
        all_keys.append(cell_codes(timed["dkey"].to_numpy(), timed["bk"].to_numpy()))
        del timed, dk
    del need
    run.register("bigd_df", common_cells(all_keys, max_key_freq))
    del all_keys
    run.run(Q.BIG_DKEYS)
    run.drop("bigd_df")
    n_slices = max(1, -(-sids.len() // EDIT_SLICE))
    for i in range(n_slices):
        join_rows = run.run(Q.EDIT_JOIN, {"bucket": PERIOD_S, "n_slices": n_slices,
                                          "slice": i, "offset": PERIOD_OFFSET})
        edit = nearest_distinct(join_rows, per_key, presorted=True)
        del join_rows
        run.register("edit_df", edit)
        run.run(Q.BLOCK_EDIT_INSERT)
        run.drop("edit_df")
    run.drop("dkeys", "bigdkeys")  # 60M+ keys at 1M x 2M
