"""Population profile of a cohort (methodology appendix E6).

One row per cohort account is assembled in DuckDB (:func:`account_table`); the
profile (:func:`profile`) summarises it in numpy/polars: distributions of followers,
friends, statuses (latest active observation), account age and tweets per day;
language and location shares; creation months; name tokens (*abu*, *umm*, ...);
share active in the last N days; in-network follower share.

References
----------
Berger, J. M. & Morgan, J. (2015). *The ISIS Twitter Census*. Brookings Analysis
Paper 20, sections 1-2 and Appendix B (the descriptive profile and control group).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from measure._results import Estimate
from measure.dataset import Dataset
from measure.describe import _sql
from measure.describe._cohort import Cohort
from measure.describe._result import HEADLINE_TERM
from measure.describe._scan import LookupScan, scan_observations, use_semi_join
from measure.describe._stats import (
    distinct_counts,
    numeric_summary,
    share_estimate,
    share_from_sums,
    wilson,
)

#: Numeric variables profiled (column of the account table -> description).
NUMERIC_VARS: dict[str, str] = {
    "followers": "followers (latest active look-up)",
    "friends": "friends (latest active look-up)",
    "statuses": "statuses (latest active look-up)",
    "age_days": "account age in days at the latest active look-up",
    "tweets_per_day": "tweets per day (tweets table, else look-up deltas)",
    "lifetime_tweets_per_day": "statuses / account age in days",
    "in_follower_share": "share of listed followers inside the network",
}

#: Name tokens counted in display names and handles (Latin and Arabic spellings).
NAME_TOKENS: dict[str, str] = {
    "abu": r"(?:^|[^a-z])ab[uo]u?|أبو|ابو",
    "umm": r"(?:^|[^a-z])umm?(?:[^a-z]|$)|(?:^|[^a-z])umm|(?:^|\s)[أا]م(?:\s|$)",
    "bint": r"(?:^|[^a-z])bint|بنت",
    "ibn": r"(?:^|[^a-z])ibn|ابن|إبن",
    "muhajir": r"muhaji?r|مهاجر",
}

#: Matches a name holding any of the tokens.
_ANY_TOKEN = "|".join(f"(?:{p})" for p in NAME_TOKENS.values())

#: Log-scale histogram edges: 0 then 1, 2, 5, 10, 20, 50, ... (1-2-5 series).
def log_edges(max_value: float) -> list[float]:
    """Histogram edges ``[0, 1, 2, 5, 10, ...]`` up to beyond ``max_value``."""
    edges = [0.0]
    k = 0
    while edges[-1] <= max_value:
        for m in (1, 2, 5):
            edges.append(m * 10.0**k)
        k += 1
    if max_value < 1:
        # fractional variables (shares, rates below one): decimal steps
        return [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    return edges


def normalise_location(raw: str | None) -> str | None:
    """Normalise free-text profile locations for counting.

    NFKC, case-folded, punctuation and symbols (emoji, flags) removed, whitespace
    collapsed; empty becomes ``None``. Diacritics are kept (Arabic text depends on
    them less than Latin place names do, and stripping them merges distinct names).
    """
    if raw is None:
        return None
    s = unicodedata.normalize("NFKC", raw).casefold()
    s = "".join(ch if unicodedata.category(ch)[0] not in "PS" else " " for ch in s)
    s = re.sub(r"\s+", " ", s).strip()
    return s or None


def _get_reference_time(ds: Dataset, first: str = "observations"
                        ) -> datetime | None:
    """Latest time in ``first`` (observations or tweets), else in the other."""
    order = [("observations", _sql.REFERENCE_TIME_OBS),
             ("tweets", _sql.REFERENCE_TIME_TWEETS)]
    if first == "tweets":
        order.reverse()
    for table, q in order:
        if ds.has(table):
            t = ds.sql(q)["t"][0]
            if t is not None:
                return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def utc(df: pl.DataFrame) -> pl.DataFrame:
    """Give every datetime column the time zone ``UTC`` (DuckDB says ``Etc/UTC``)."""
    fix = []
    for name, dt in df.schema.items():
        if isinstance(dt, pl.Datetime):
            c = pl.col(name)
            fix.append((c.dt.replace_time_zone("UTC") if dt.time_zone is None
                        else c.dt.convert_time_zone("UTC")).dt.cast_time_unit("us"))
    return df.with_columns(fix) if fix else df


def _days(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_seconds(fractional=True) / 86400.0


def _cohort_accounts(ds: Dataset, cohort: Cohort, semi: bool) -> pl.DataFrame:
    """Read the cohort's ``accounts`` rows (with weight), sorted by id.

    Ids missing from ``accounts`` get a row of nulls. Small cohorts are joined in
    SQL; for cohorts near the whole table the table is read and matched in memory.
    """
    acols = [c for c in _sql.ACCOUNT_COLUMNS if ds.has_column("accounts", c)]
    cols = "".join(f", a.{c}" for c in acols)
    if semi:
        return utc(ds.sql(_sql.COHORT_ACCOUNTS.format(cols=cols))).sort("account_id")
    acc = utc(ds.sql(_sql.ACCOUNT_ROWS.format(cols=cols)))
    if not acc["account_id"].is_sorted():
        acc = acc.sort("account_id")
    frame = cohort.frame.sort("account_id")
    acc = acc.with_columns(pl.col("account_id").cast(frame["account_id"].dtype))
    if acc.height == frame.height and acc["account_id"].equals(frame["account_id"]):
        return acc.insert_column(1, frame["weight"])
    return frame.join(acc, on="account_id", how="left").sort("account_id")


def _attach(df: pl.DataFrame, ids: pl.Series, cols: pl.DataFrame) -> pl.DataFrame:
    """Add ``cols`` (rows aligned with the sorted cohort ``ids``) to ``df``."""
    if df.height == ids.len():
        return df.hstack(cols.get_columns())
    # repeated ids in ``accounts``: match by id
    return df.join(cols.with_columns(ids), on="account_id", how="left",
                   maintain_order="left")


def account_table(ds: Dataset, cohort: Cohort, *, burst_hours: int = 24,
                  activity_source: str = "auto", scan: LookupScan | None = None
                  ) -> tuple[pl.DataFrame, dict]:
    """One row per cohort account with every profiled quantity.

    Parameters
    ----------
    ds
        Dataset; the cohort must already be registered (``_describe_cohort`` and,
        when the dataset has ``crawls`` and ``edges``, ``_describe_network``).
    cohort
        The cohort.
    burst_hours
        Window of the burst score (max tweets in any window of this length).
    activity_source
        ``"tweets"``, ``"lookups"`` or ``"auto"`` (tweets table when present).
    scan
        The cohort's look-ups reduced per account (:func:`scan_observations`);
        read here when not given.

    Returns
    -------
    table, info
        The account table (sorted by ``account_id``) and a dict with
        ``reference_time``, ``activity_source``.
    """
    semi = use_semi_join(ds, cohort.n)
    df = _cohort_accounts(ds, cohort, semi)
    for c in _sql.ACCOUNT_COLUMNS:
        if c not in df.columns:
            dtype = pl.Datetime("us", "UTC") if c in ("created_at", "first_seen") \
                else pl.Utf8
            df = df.with_columns(pl.lit(None, dtype=dtype).alias(c))
    info: dict = {"reference_time": _get_reference_time(ds)}
    ids = cohort.frame["account_id"].sort()
    if scan is None and ds.has("observations"):
        scan = scan_observations(ds, ids, semi=semi)
    if scan is not None:
        df = _attach(df, ids, scan.latest)
    else:
        df = df.with_columns(last_active_at=pl.lit(None, pl.Datetime("us", "UTC")),
                             followers=pl.lit(None, pl.Int64),
                             friends=pl.lit(None, pl.Int64),
                             statuses=pl.lit(None, pl.Int64))
    # age when the counts were taken (null without an active look-up)
    df = df.with_columns(
        age_days=_days(pl.col("last_active_at") - pl.col("created_at")))
    df = df.with_columns(
        lifetime_tweets_per_day=pl.col("statuses") / pl.max_horizontal(
            pl.col("age_days"), pl.lit(1.0)))
    # activity: tweets table, else status-count deltas between look-ups
    src = activity_source
    if src == "auto":
        src = "tweets" if ds.has("tweets") else (
            "lookups" if ds.has_column("observations", "statuses_count") else "none")
    info["activity_source"] = src
    # "now" for activity: the end of the activity record itself
    info["activity_reference_time"] = _get_reference_time(
        ds, "tweets" if src == "tweets" else "observations")
    act_cols = ["n_tweets", "first_tweet", "last_tweet", "span_days", "burst",
                "tweets_per_day", "last_activity"]
    rate = pl.col("n_tweets") / pl.max_horizontal(pl.col("span_days"), pl.lit(1.0))
    if src == "tweets":
        act = utc(ds.sql(_sql.TWEET_ACTIVITY, [burst_hours])).with_columns(
            span_days=_days(pl.col("last_tweet") - pl.col("first_tweet")),
            # a window shorter than a day counts as a day (rates per calendar day)
            burst=pl.col("burst").cast(pl.Float64))
        act = act.with_columns(tweets_per_day=rate, last_activity=pl.col("last_tweet"))
        act = act.with_columns(pl.col("account_id").cast(df["account_id"].dtype))
        df = df.join(act.select("account_id", *act_cols), on="account_id",
                     how="left", maintain_order="left")
        # the tweets table is the record: an account with none tweeted 0 times
        df = df.with_columns(pl.col("n_tweets").fill_null(0))
    elif src == "lookups" and scan is not None:
        act = scan.activity.with_columns(tweets_per_day=rate,
                                         last_activity=pl.col("last_tweet"))
        df = _attach(df, ids, act.select(act_cols))
    else:
        df = df.with_columns(
            n_tweets=pl.lit(None, pl.Int64), first_tweet=pl.lit(None),
            last_tweet=pl.lit(None), span_days=pl.lit(None, pl.Float64),
            burst=pl.lit(None, pl.Float64), tweets_per_day=pl.lit(None, pl.Float64),
            last_activity=pl.lit(None, pl.Datetime("us", "UTC")))
    # in-network followers from collected follower lists
    if ds.has("crawls") and ds.has("edges"):
        q = _sql.IN_NETWORK if ds.has_column("edges", "relation") \
            else _sql.IN_NETWORK_NO_RELATION
        net = ds.sql(q).with_columns(pl.col("account_id").cast(df["account_id"].dtype))
        df = df.join(net, on="account_id", how="left", maintain_order="left")
        denom = pl.when(pl.col("complete")).then(pl.col("listed_followers")).otherwise(
            pl.max_horizontal(pl.col("listed_followers"), pl.col("followers")))
        df = df.with_columns(
            in_follower_share=pl.when(denom > 0).then(
                pl.col("in_followers") / denom).otherwise(None))
    else:
        df = df.with_columns(in_followers=pl.lit(None, pl.Int64),
                             listed_followers=pl.lit(None, pl.Int64),
                             complete=pl.lit(None, pl.Boolean),
                             in_follower_share=pl.lit(None, pl.Float64))
    # normalise each distinct location once (few distinct values, many accounts)
    locs = df["location"].drop_nulls().unique()
    norm = pl.Series("location_norm", [normalise_location(v) for v in locs],
                     dtype=pl.Utf8)
    df = df.with_columns(norm.gather(df["location"].cast(pl.Enum(locs)).to_physical()))
    return df, info


def _arr(df: pl.DataFrame, col: str) -> np.ndarray:
    return df[col].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _histogram(var: str, x: np.ndarray, w: np.ndarray | None,
               distinct: tuple[np.ndarray, np.ndarray] | None = None
               ) -> pl.DataFrame:
    """Log-scale histogram of ``x`` (``distinct``: its distinct values and counts)."""
    if w is None and distinct is not None:
        vals, cnt = distinct
        edges = np.array(log_edges(float(vals[-1]) if vals.size else 1.0))
        # numpy.histogram's bins: [e_i, e_i+1), the last one closed
        cum = np.concatenate([[0], np.cumsum(cnt)])
        pos = np.concatenate([np.searchsorted(vals, edges[:-1], side="left"),
                              np.searchsorted(vals, edges[-1:], side="right")])
        counts = wsum = np.diff(cum[pos])
    else:
        x_ok = ~np.isnan(x)
        xv = x[x_ok]
        wv = None if w is None else w[x_ok]
        edges = np.array(log_edges(float(xv.max()) if xv.size else 1.0))
        counts, _ = np.histogram(xv, bins=edges)
        wsum = np.histogram(xv, bins=edges, weights=wv)[0] if wv is not None \
            else counts
    tot = float(wsum.sum()) or 1.0
    return pl.DataFrame({
        "variable": [var] * counts.size,
        "bin_low": edges[:-1], "bin_high": edges[1:],
        "count": counts.astype(np.int64),
        "share": wsum / tot,
    })


def _group_counts(values: pl.Series, w: np.ndarray | None,
                  extra: pl.Series | None = None) -> pl.DataFrame:
    """Accounts (``count``) and weights (``wsum``) per value, nulls as one value.

    ``extra``, a function of ``values``, is carried along (its first value).
    """
    cols = {"value": values.rename("value")}
    if w is not None:
        cols["w"] = pl.Series("w", w)
    if extra is not None:
        cols["extra"] = extra.rename("extra")
    agg = [pl.len().alias("count"),
           (pl.col("w").sum() if w is not None else pl.len().cast(pl.Float64))
           .alias("wsum")]
    if extra is not None:
        agg.append(pl.col("extra").first())
    return pl.DataFrame(cols).group_by("value").agg(agg)


def _category_rows(col: str, g: pl.DataFrame, n: int, sw: float, neff: float,
                   level: float, top: int | None = None) -> pl.DataFrame:
    """Build the category table from per-value ``count`` and ``wsum``.

    Rows by decreasing count (ties by value), shares of the weight with Wilson
    intervals at the effective size ``neff``.
    """
    g = g.sort(["count", "value"], descending=[True, False])
    if top is not None:
        g = g.head(top)
    shares = (g["wsum"] / sw).to_list() if n else []
    cis = [wilson(p * neff, neff, level) for p in shares]
    return g.drop("wsum").with_columns(
        pl.col("count").cast(pl.UInt32),
        share=pl.Series(shares, dtype=pl.Float64),
        ci_low=pl.Series([c[0] for c in cis], dtype=pl.Float64),
        ci_high=pl.Series([c[1] for c in cis], dtype=pl.Float64),
        n=pl.lit(n),
    ).rename({"value": col})


def _weight_sums(w: np.ndarray | None, n: int) -> tuple[float, float]:
    """Sum of the weights and Kish's effective size (``n`` for equal weights)."""
    if w is None:
        return float(n), float(n)
    sw = float(w.sum())
    return sw, (sw * sw / float((w * w).sum()) if n else 0.0)


def _languages(df: pl.DataFrame, w: np.ndarray | None, level: float
               ) -> tuple[pl.DataFrame, list[Estimate]]:
    """Language table (codes lower-cased) and the share of each language."""
    n = df.height
    # few distinct codes: count them as given, then merge their spellings
    g = _group_counts(df["lang"], w).with_columns(
        pl.col("value").str.to_lowercase()).group_by("value").agg(
        pl.col("count").sum(), pl.col("wsum").sum())
    sw, neff = _weight_sums(w, n)
    table = _category_rows("lang", g.select(
        pl.col("value").fill_null("(none)"), "count", "wsum"), n, sw, neff, level)
    known = g.filter(pl.col("value").is_not_null())
    n_has = int(known["count"].sum())
    ests = []
    by = {r["value"]: r for r in known.iter_rows(named=True)}
    for code in table["lang"].to_list():
        if code == "(none)" or code not in by:
            continue
        r = by[code]
        if w is None:
            ests.append(share_from_sums(f"lang_share[{code}]", n_has, r["count"],
                                        level=level))
        else:
            wh = w[df["lang"].is_not_null().to_numpy()]
            ests.append(share_from_sums(
                f"lang_share[{code}]", n_has, r["count"], float(wh.sum()),
                float((wh * wh).sum()), r["wsum"], level=level))
    return table, ests


def _locations(df: pl.DataFrame, w: np.ndarray | None, level: float
               ) -> tuple[pl.DataFrame, Estimate]:
    """Top-50 normalised locations (with a raw example) and the share giving one.

    The raw example is the most frequent raw spelling (ties: the first in sort
    order).
    """
    n = df.height
    raw = _group_counts(df["location"], w, extra=df["location_norm"])
    raw = raw.rename({"value": "raw", "extra": "norm"})
    example = raw.filter(pl.col("raw").is_not_null()).sort(
        ["count", "raw"], descending=[True, False]).group_by(
        "norm", maintain_order=True).agg(
        pl.col("raw").first().alias("raw_example"),
        pl.len().cast(pl.UInt32).alias("raw_variants"))
    g = raw.group_by("norm").agg(pl.col("count").sum(), pl.col("wsum").sum()).join(
        example, on="norm", how="left", nulls_equal=True).with_columns(
        pl.col("raw_variants").fill_null(0))
    sw, neff = _weight_sums(w, n)
    g = g.select(pl.col("norm").fill_null("(none)").alias("value"), "count",
                 "raw_example", "raw_variants", "wsum")
    table = _category_rows("location", g, n, sw, neff, level, top=50)
    given = raw.filter(pl.col("norm").is_not_null())
    if w is None:
        e = share_from_sums("location_given_share", n, int(given["count"].sum()),
                            level=level)
    else:
        e = share_from_sums("location_given_share", n, int(given["count"].sum()),
                            sw, float((w * w).sum()), float(given["wsum"].sum()),
                            level=level)
    return table, e


def _creation_months(df: pl.DataFrame, w: np.ndarray | None, level: float
                     ) -> pl.DataFrame:
    """Accounts per creation month (``YYYY-MM-01``, UTC) with shares."""
    c = df["created_at"]
    has = c.is_not_null()
    # count per day first (few distinct days), then name the months of those
    day = (c.cast(pl.Datetime("us", "UTC")).to_physical() // 86_400_000_000
           ).filter(has)
    wh = None if w is None else w[has.to_numpy()]
    d = _group_counts(day, wh).with_columns(
        pl.col("value").cast(pl.Int32).cast(pl.Date))
    g = d.group_by(pl.col("value").dt.strftime("%Y-%m-01")).agg(
        pl.col("count").sum(), pl.col("wsum").sum())
    sw, neff = _weight_sums(wh, day.len())
    return _category_rows("month", g, day.len(), sw, neff, level).sort("month")


def _token_hits(names: pl.Series) -> dict[str, np.ndarray]:
    """Whether each name (lower-cased) matches each of :data:`NAME_TOKENS`.

    Names that repeat (display names) are matched once per distinct name; other
    names are matched against all tokens at once first, and only the names that
    hold one against each token.
    """
    s = names.fill_null("")
    sample = s.head(50_000)
    if sample.len() and sample.n_unique() <= sample.len() // 10:
        uniq = s.unique()
        code = s.cast(pl.Enum(uniq)).to_physical().to_numpy()
        low = uniq.str.to_lowercase()
        return {tok: low.str.contains(pat).to_numpy()[code]
                for tok, pat in NAME_TOKENS.items()}
    low = s.str.to_lowercase()
    some = low.str.contains(_ANY_TOKEN).arg_true()
    sub = low.gather(some)
    at = some.to_numpy()
    out = {}
    for tok, pat in NAME_TOKENS.items():
        hit = np.zeros(s.len(), dtype=bool)
        hit[at] = sub.str.contains(pat).to_numpy()
        out[tok] = hit
    return out


def profile(df: pl.DataFrame, info: dict, cohort: Cohort, *, level: float = 0.95,
            n_boot: int = 1000, seed: int = 0, active_days: int = 30,
            keep_replicates: bool = False
            ) -> tuple[list[Estimate], dict[str, pl.DataFrame], dict]:
    """Summarise an account table (see :func:`account_table`).

    Parameters
    ----------
    df, info
        Output of :func:`account_table`.
    cohort
        The cohort (its weights are used when they differ).
    level, n_boot, seed
        Interval level, bootstrap replicates and seed (variable *i* uses
        ``seed + i``).
    active_days
        N of "share active in the last N days".
    keep_replicates
        Also return bootstrap replicates (for comparisons).

    Returns
    -------
    estimates, tables, replicates
        Scalar estimates (terms ``<var>_<stat>``, ``lang_share[xx]``,
        ``name_token_share[abu]``, ``active_<N>d_share``, ...), tables
        (``histograms``, ``languages``, ``locations``, ``creation_months``,
        ``name_tokens``) and replicates keyed by term.

    Notes
    -----
    Intervals describe sampling variability of the cohort as a random sample of the
    population it stands for (weighted by inverse inclusion probabilities when the
    cohort carries them). Shares use Wilson intervals; quantiles the
    distribution-free order-statistic interval (weighted cohorts: a seeded
    percentile bootstrap over accounts, or Woodruff's interval when there are too
    many to resample), means a bootstrap-t or normal interval (see
    :func:`measure.describe._stats.numeric_summary`). The quantiles of the
    headline variable (followers) keep what their interval is formed from
    (``extra["interval"]``, :class:`~measure.describe._stats.QuantileInterval`).
    """
    w_all = df["weight"].to_numpy() if cohort.weighted else None
    n = df.height
    ests: list[Estimate] = [
        Estimate("n_accounts", float(n), (float(n), float(n)), level, 0.0,
                 "count of cohort accounts", n),
    ]
    if info.get("activity_source") == "tweets":
        nt = float(df["n_tweets"].fill_null(0).sum())
        ests.append(Estimate("n_tweets", nt, (nt, nt), level, 0.0,
                             "count of the cohort's tweets in the tweets table", n))
    reps: dict[str, np.ndarray] = {}
    tables: dict[str, pl.DataFrame] = {}
    hists = []
    for i, var in enumerate(NUMERIC_VARS):
        x = _arr(df, var)
        xv = x[~np.isnan(x)]
        distinct = distinct_counts(xv) if w_all is None and xv.size else None
        summ = numeric_summary(var, x, w_all, level=level, n_boot=n_boot,
                               seed=seed + i, keep_replicates=keep_replicates,
                               distinct=distinct,
                               keep_intervals=f"{var}_median" == HEADLINE_TERM)
        ests.extend(summ.estimates)
        for k, r in summ.replicates.items():
            reps[f"{var}_{k}"] = r
        if xv.size:
            hists.append(_histogram(var, x, w_all, distinct))
    if hists:
        tables["histograms"] = pl.concat(hists)
    if df["lang"].null_count() < n:
        tables["languages"], lang_ests = _languages(df, w_all, level)
        ests.extend(lang_ests)
    # locations (normalised, raw kept)
    if df["location"].null_count() < n:
        tables["locations"], e = _locations(df, w_all, level)
        ests.append(e)
    if df["created_at"].null_count() < n:
        tables["creation_months"] = _creation_months(df, w_all, level)
    # name tokens
    rows = []
    in_dn = _token_hits(df["display_name"])
    in_sn = _token_hits(df["screen_name"])
    for tok in NAME_TOKENS:
        either = in_dn[tok] | in_sn[tok]
        e = share_estimate(f"name_token_share[{tok}]", either, w_all, level)
        ests.append(e)
        rows.append({"token": tok, "display_name": int(in_dn[tok].sum()),
                     "screen_name": int(in_sn[tok].sum()),
                     "either": int(either.sum()), "share": e.estimate,
                     "ci_low": e.ci[0], "ci_high": e.ci[1], "n": n})
    tables["name_tokens"] = pl.DataFrame(rows)
    # active in the last N days
    ref = info.get("activity_reference_time")
    src = info.get("activity_source")
    if ref is not None and src in ("tweets", "lookups"):
        cutoff = ref - timedelta(days=active_days)
        if src == "tweets":
            known = np.ones(n, dtype=bool)
        else:
            known = df["n_tweets"].is_not_null().to_numpy()
        y = (df["last_activity"] >= cutoff).fill_null(False).to_numpy()[known]
        ests.append(share_estimate(
            f"active_{active_days}d_share", y,
            None if w_all is None else w_all[known], level,
            method_note=f"; active = a tweet ({src}) after {cutoff:%Y-%m-%d}"))
    else:
        ests.append(Estimate.invalid(
            f"active_{active_days}d_share",
            "needs tweets or repeated look-ups with statuses_count", level=level))
    # incomplete lists
    info["incomplete_lists"] = int((df["complete"] == False).sum())  # noqa: E712
    return ests, tables, reps
