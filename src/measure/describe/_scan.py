"""One pass over a cohort's look-ups for every per-account quantity of describe.

The ``observations`` rows of the cohort are read once (one SQL statement), sorted
by account and time (a stable sort by account when the rows are already in time
order), and reduced with vectorised row operations (flags from neighbouring rows,
cumulative sums, forward and backward fills) and segment reductions into:

* the latest ``active`` look-up per account (time and counts, nulls included);
* status-count deltas between consecutive active look-ups with a count (tweets
  sent, first and last look-up, highest per-day rate, days covered);
* the latest active look-up before the first ``suspended`` one;
* the per-day network-size counts (appendix E11).

Each account's values depend only on its own look-ups, so the result equals that
of one grouped SQL query per quantity; reading once avoids scanning (and joining)
the table four times. ``unknown`` look-ups are left out, as if never made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from measure.describe import _sql

#: Cohorts smaller than this share of the ``accounts`` table are joined in SQL;
#: larger ones are matched in memory (the join would cost more than reading the
#: few extra rows).
SEMI_JOIN_SHARE = 0.5
#: Column names of the counts in the account table (observation column -> name).
SHORT = {"followers_count": "followers", "friends_count": "friends",
         "statuses_count": "statuses"}
UTC_US = pl.Datetime("us", "UTC")
_US_PER_DAY = 86_400_000_000.0


@dataclass(frozen=True)
class LookupScan:
    """Per-account results of one pass over a cohort's look-ups.

    Attributes
    ----------
    ids
        The cohort's account ids, sorted (the row order of ``latest`` and
        ``activity``).
    latest
        Aligned with ``ids``: ``last_active_at`` and the counts
        (``followers``, ``friends``, ``statuses``) of the latest active look-up;
        null without one.
    activity
        Aligned with ``ids``: ``n_tweets`` (sum of positive status-count
        increases between consecutive active look-ups with a count),
        ``first_tweet`` (first of those look-ups), ``last_tweet`` (last look-up
        with an increase), ``burst`` (highest increase per day, gaps under a day
        counting as a day), ``span_days``; null for accounts with fewer than two
        such look-ups.
    before_suspension
        One row per account with an active look-up before its first suspended
        one (or never suspended), sorted by id: ``last_active_at``,
        ``suspended_at``, ``suspended`` and the counts of that look-up.
    series
        Per look-up day: ``looked_up``, ``alive``, ``mean_followers``,
        ``sd_followers``, ``n_followers``, ``at_risk``, ``newly_suspended``,
        ``new_accounts`` (see :func:`measure.describe.size_series`).
    counts
        The count columns the ``observations`` table has.
    """

    ids: pl.Series
    latest: pl.DataFrame
    activity: pl.DataFrame
    before_suspension: pl.DataFrame
    series: pl.DataFrame
    counts: tuple[str, ...]


def use_semi_join(ds: Any, n_cohort: int) -> bool:
    """Whether to restrict tables to the cohort in SQL rather than in memory."""
    if not ds.has("accounts"):
        return True
    n_acc = int(ds.sql(_sql.N_ACCOUNTS)["n"][0])
    return n_cohort < SEMI_JOIN_SHARE * n_acc


def match_sorted(ids: pl.Series, keys: pl.Series) -> np.ndarray:
    """Position of each of ``keys`` in the sorted ``ids``, -1 where absent."""
    if ids.len() == 0 or keys.len() == 0:
        return np.full(keys.len(), -1, dtype=np.int64)
    keys = keys.cast(ids.dtype)
    pos = ids.search_sorted(keys, side="left").cast(pl.Int64).to_numpy()
    inside = pos < ids.len()
    found = np.zeros(pos.size, dtype=bool)
    found[inside] = (ids.gather(pos[inside]) == keys.filter(
        pl.Series(inside))).fill_null(False).to_numpy()
    return np.where(found, pos, -1)


def _aligned(n: int, out: pl.DataFrame, pos: np.ndarray | None) -> pl.DataFrame:
    """Rows of ``out`` placed at their accounts' places among the cohort's ids.

    ``out["g"]`` numbers the accounts of the look-ups in id order; ``pos`` maps
    them to the cohort's sorted ids (``None``: the same accounts).
    """
    g = out["g"].to_numpy()
    out = out.drop("g", *(["account_id"] if "account_id" in out.columns else []))
    if out.height == n:
        return out
    at = pl.Series(g if pos is None else pos[g])
    cols = []
    for c in out.columns:
        full = pl.Series(c, [None], dtype=out[c].dtype).extend_constant(None, n - 1)
        cols.append(full.scatter(at, out[c]) if out.height else full)
    return pl.DataFrame(cols)


def _read(ds: Any, counts: tuple[str, ...], semi: bool) -> pl.DataFrame:
    cols = "".join(f", o.{c}" if c in counts else f", NULL::BIGINT AS {c}"
                   for c in _sql.COUNT_COLUMNS)
    q = _sql.SCAN_COHORT_OBSERVATIONS if semi else _sql.SCAN_OBSERVATIONS
    return ds.sql(q.format(cols=cols))


def scan_observations(ds: Any, ids: pl.Series, *, semi: bool | None = None
                      ) -> LookupScan:
    """Read the cohort's look-ups once and reduce them per account.

    Parameters
    ----------
    ds
        Dataset with ``observations``; the cohort is registered as
        ``_describe_cohort`` when ``semi`` is true.
    ids
        The cohort's account ids (unique).
    semi
        Restrict the look-ups to the cohort in SQL (default: when the cohort is
        less than half the ``accounts`` table).

    Returns
    -------
    LookupScan
    """
    ids = ids.sort().rename("account_id")
    if semi is None:
        semi = use_semi_join(ds, ids.len())
    counts = tuple(c for c in _sql.COUNT_COLUMNS if ds.has_column("observations", c))
    o = _read(ds, counts, semi).with_columns(pl.col("account_id").cast(ids.dtype))
    o = o.rename({c: SHORT[c] for c in _sql.COUNT_COLUMNS})
    # by account, keeping the order of the rows; by time too unless they had it
    o = _sorted(o, ["account_id"])
    if o.select((~_starts("account_id") & (pl.col("ts") < pl.col("ts").shift(1)))
                .any()).item():
        o = _sorted(o, ["account_id", "ts"])
    # the accounts of the look-ups and their places among the cohort's ids
    seen = o.select(pl.col("account_id").filter(_starts("account_id"))).to_series()
    pos = None
    if not seen.equals(ids):
        pos = match_sorted(ids, seen)
        if bool((pos < 0).any()):  # leave out look-ups of other accounts
            o = o.filter(pl.col("account_id").is_in(ids.implode()))
            seen, pos = seen.filter(pl.Series(pos >= 0)), pos[pos >= 0]
    # g numbers the accounts (rows of one account are adjacent)
    flags = o.lazy().select(
        pl.col("account_id").rle_id().alias("g"),
        *[c for c in o.columns if c not in ("account_id", "code")],
        (pl.col("code") == 0).alias("active"),
        (pl.col("code") == 1).alias("susp"),
    ).with_columns(start=_starts()).with_columns(
        # no suspended look-up of the account before this row
        clean=_within(pl.col("susp"), pl.col("start")) == 0,
    ).collect()
    del o
    n = ids.len()
    # each step drops the columns no later step reads (their memory is reused)
    series = _series(flags)
    flags = flags.drop("day", "start")
    before = _before(flags).collect()
    before = before.select(seen.gather(before["g"]), pl.exclude("g"))
    flags = flags.drop("susp", "clean")
    latest = _aligned(n, _latest(flags).collect(), pos)
    flags = flags.drop("followers", "friends")
    activity = _aligned(n, _activity(flags), pos)
    return LookupScan(ids, latest, activity, before, series, counts)


def _sorted(o: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Sort ``o`` by ``by``, keeping the order of rows with equal keys."""
    return o.sort(by, maintain_order=True)


def _starts(col: str = "g") -> pl.Expr:
    """Flag the first row of each account (rows sorted by account)."""
    return pl.col(col).ne_missing(pl.col(col).shift(1))


def _ends(col: str = "g") -> pl.Expr:
    """Flag the last row of each account (rows sorted by account)."""
    return pl.col(col).ne_missing(pl.col(col).shift(-1))


def _within(flag: pl.Expr, start: pl.Expr) -> pl.Expr:
    """Rows with ``flag`` before this one since the last ``start`` row."""
    f = flag.cast(pl.Int64)
    before = f.cum_sum() - f
    return before - pl.when(start).then(before).forward_fill()


def _latest(flags: pl.DataFrame) -> pl.LazyFrame:
    return flags.lazy().filter("active").filter(_ends()).select(
        "g", pl.col("ts").alias("last_active_at"), *SHORT.values()
    ).with_columns(pl.col("last_active_at").cast(UTC_US))


def _activity(flags: pl.DataFrame) -> pl.DataFrame:
    """Status-count deltas between consecutive active look-ups with a count."""
    same = pl.col("g") == pl.col("g").shift(1)
    pairs = flags.lazy().filter(pl.col("active") & pl.col("statuses").is_not_null()
                                ).with_columns(
        prev_ts=pl.col("ts").shift(1),
        inc=pl.max_horizontal(pl.col("statuses") - pl.col("statuses").shift(1),
                              pl.lit(0, pl.Int64)),
    ).filter(same.fill_null(False)).with_columns(
        gap=(pl.col("ts") - pl.col("prev_ts")) / _US_PER_DAY,
    ).select(
        "g", "ts", "prev_ts", "inc", "gap",
        rate=pl.col("inc") / pl.max_horizontal(pl.col("gap"), pl.lit(1.0)),
        single=_starts() & _ends(),
    ).collect()
    # accounts with one pair of look-ups need no grouping
    one = pairs.lazy().filter("single").select(
        "g", n_tweets="inc", first_tweet="prev_ts",
        last_tweet=pl.when(pl.col("inc") > 0).then(pl.col("ts")),
        burst="rate", span_days="gap")
    many = pairs.lazy().filter(~pl.col("single")).group_by("g").agg(
        pl.col("inc").sum().alias("n_tweets"),
        pl.col("prev_ts").min().alias("first_tweet"),
        pl.col("ts").filter(pl.col("inc") > 0).max().alias("last_tweet"),
        pl.col("rate").max().alias("burst"),
        pl.col("gap").sum().alias("span_days"),
    ).sort("g")
    one, many = pl.collect_all([one, many])
    return one.merge_sorted(many, key="g").with_columns(
        pl.col("first_tweet").cast(UTC_US), pl.col("last_tweet").cast(UTC_US))


def _before(flags: pl.DataFrame) -> pl.LazyFrame:
    """Select the latest active look-up before the first suspended one, per account."""
    # the next suspended look-up from this row on: the first one of the account
    # when no suspended look-up came before
    t_next = pl.when("susp").then(pl.col("ts")).backward_fill()
    g_next = pl.when("susp").then(pl.col("g")).backward_fill()
    lf = flags.lazy().with_columns(
        susp_at=pl.when(pl.col("clean") & (g_next == pl.col("g"))).then(t_next))
    keep = pl.col("active") & pl.col("clean") & (
        pl.col("susp_at").is_null() | (pl.col("ts") < pl.col("susp_at")))
    return lf.filter(keep).filter(_ends()).select(
        "g", pl.col("ts").cast(UTC_US).alias("last_active_at"),
        pl.col("susp_at").cast(UTC_US).alias("suspended_at"),
        pl.col("susp_at").is_not_null().alias("suspended"),
        "statuses", "friends", "followers")


def _series(flags: pl.DataFrame) -> pl.DataFrame:
    """Per-day counts of the size series from the sorted look-ups."""
    lf = flags.lazy().with_columns(
        pair=pl.col("start") | pl.col("day").ne_missing(pl.col("day").shift(1)))
    lf = lf.with_columns(
        pair_id=pl.col("pair").cast(pl.Int64).cum_sum(),
        first_active=pl.col("active") & (_within(pl.col("active"), pl.col("pair"))
                                         == 0),
        first_susp=pl.col("susp") & pl.col("clean"))
    counts = lf.group_by("day").agg(
        pl.col("pair").sum().cast(pl.Int64).alias("looked_up"),
        pl.col("first_active").sum().cast(pl.Int64).alias("alive"),
        (pl.col("pair") & pl.col("clean")).sum().cast(pl.Int64).alias("at_risk"),
        pl.col("first_susp").sum().cast(pl.Int64).alias("newly_suspended"),
        pl.col("start").sum().cast(pl.Int64).alias("new_accounts"),
    )
    # followers of an alive account on a day: the largest of its active look-ups
    # (accounts looked up once that day need no grouping)
    fol = lf.filter(pl.col("active") & pl.col("followers").is_not_null()).select(
        "day", "followers", "pair_id",
        single=_starts("pair_id") & _ends("pair_id")).collect()
    fol = pl.concat([
        fol.lazy().filter("single").select("day", "followers"),
        fol.lazy().filter(~pl.col("single")).group_by("pair_id").agg(
            pl.col("day").first(), pl.col("followers").max()).select(
            "day", "followers")])
    stats = fol.group_by("day").agg(
        # exact integer sum, divided once (as SQL's avg of integers)
        (pl.col("followers").sum().cast(pl.Float64) / pl.len()).alias(
            "mean_followers"),
        pl.col("followers").cast(pl.Float64).std(ddof=1).alias("sd_followers"),
        pl.len().cast(pl.Int64).alias("n_followers"))
    out = counts.join(stats, on="day", how="left").with_columns(
        pl.col("n_followers").fill_null(0)).sort("day").collect()
    return out.select(
        pl.col("day").cast(UTC_US), "looked_up", "alive", "mean_followers",
        "sd_followers", "n_followers", "at_risk", "newly_suspended",
        "new_accounts")
