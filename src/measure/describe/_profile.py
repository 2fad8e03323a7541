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
from measure.describe._stats import numeric_summary, share_estimate, wilson

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


def account_table(ds: Dataset, cohort: Cohort, *, burst_hours: int = 24,
                  activity_source: str = "auto") -> tuple[pl.DataFrame, dict]:
    """One row per cohort account with every profiled quantity.

    Parameters
    ----------
    ds
        Dataset; the cohort must already be registered (``_describe_cohort`` and
        ``_describe_network``).
    cohort
        The cohort.
    burst_hours
        Window of the burst score (max tweets in any window of this length).
    activity_source
        ``"tweets"``, ``"lookups"`` or ``"auto"`` (tweets table when present).

    Returns
    -------
    table, info
        The account table and a dict with ``reference_time``, ``activity_source``.
    """
    acols = [c for c in _sql.ACCOUNT_COLUMNS if ds.has_column("accounts", c)]
    q = _sql.COHORT_ACCOUNTS.format(cols="".join(f", a.{c}" for c in acols))
    df = utc(ds.sql(q))
    for c in _sql.ACCOUNT_COLUMNS:
        if c not in df.columns:
            dtype = pl.Datetime("us", "UTC") if c in ("created_at", "first_seen") \
                else pl.Utf8
            df = df.with_columns(pl.lit(None, dtype=dtype).alias(c))
    info: dict = {"reference_time": _get_reference_time(ds)}
    short = {"followers_count": "followers", "friends_count": "friends",
             "statuses_count": "statuses"}
    if ds.has("observations"):
        ocols = [c for c in _sql.COUNT_COLUMNS if ds.has_column("observations", c)]
        obs = utc(ds.sql(_sql.LATEST_ACTIVE.format(
            cols="".join(f", arg_max_null(o.{c}, o.observed_at) AS {short[c]}"
                     for c in ocols))))
        df = df.join(obs, on="account_id", how="left")
    for c in short.values():
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias(c))
    if "last_active_at" not in df.columns:
        df = df.with_columns(last_active_at=pl.lit(None, pl.Datetime("us", "UTC")))
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
    if src == "tweets":
        act = utc(ds.sql(_sql.TWEET_ACTIVITY, [burst_hours])).with_columns(
            span_days=_days(pl.col("last_tweet") - pl.col("first_tweet")))
        # a window shorter than a day counts as a day (rates per calendar day)
        act = act.with_columns(burst=pl.col("burst").cast(pl.Float64))
    elif src == "lookups":
        act = utc(ds.sql(_sql.LOOKUP_ACTIVITY))
    else:
        act = None
    if act is not None:
        act = act.with_columns(
            tweets_per_day=pl.col("n_tweets") / pl.max_horizontal(
                pl.col("span_days"), pl.lit(1.0)),
            last_activity=pl.col("last_tweet"))
        df = df.join(act.select("account_id", "n_tweets", "first_tweet",
                                "last_tweet", "span_days", "burst", "tweets_per_day",
                                "last_activity"), on="account_id", how="left")
        if src == "tweets":
            # the tweets table is the record: an account with none tweeted 0 times
            df = df.with_columns(pl.col("n_tweets").fill_null(0))
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
        net = ds.sql(q)
        df = df.join(net, on="account_id", how="left")
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
    locs = df.select(pl.col("location").drop_nulls().unique())["location"]
    lut = pl.DataFrame({"location": locs,
                        "location_norm": [normalise_location(v) for v in locs]},
                       schema={"location": pl.Utf8, "location_norm": pl.Utf8})
    df = df.join(lut, on="location", how="left")
    # a fixed row order keeps bootstrap draws reproducible whatever the joins did
    return df.sort("account_id"), info


def _arr(df: pl.DataFrame, col: str) -> np.ndarray:
    return df[col].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _histogram(var: str, x: np.ndarray, w: np.ndarray | None) -> pl.DataFrame:
    x_ok = ~np.isnan(x)
    xv = x[x_ok]
    wv = None if w is None else w[x_ok]
    edges = np.array(log_edges(float(xv.max()) if xv.size else 1.0))
    counts, _ = np.histogram(xv, bins=edges)
    wsum = np.histogram(xv, bins=edges, weights=wv)[0] if wv is not None else counts
    tot = float(wsum.sum()) or 1.0
    return pl.DataFrame({
        "variable": [var] * counts.size,
        "bin_low": edges[:-1], "bin_high": edges[1:],
        "count": counts.astype(np.int64),
        "share": wsum / tot,
    })


def _category_table(col: str, values: pl.Series, w: np.ndarray | None,
                    level: float, raw: pl.Series | None = None,
                    top: int | None = None) -> pl.DataFrame:
    """Count a categorical column, with shares and Wilson intervals."""
    wts = pl.Series("w", np.ones(values.len()) if w is None else w)
    df = pl.DataFrame({"value": values.fill_null("(none)"), "w": wts})
    if raw is not None:
        df = df.with_columns(raw=raw)
    n = df.height
    sw = float(df["w"].sum())
    neff = sw * sw / float((df["w"] ** 2).sum()) if n else 0.0
    agg = [pl.len().alias("count"), pl.col("w").sum().alias("wsum")]
    if raw is not None:
        agg.append(pl.col("raw").drop_nulls().mode().first().alias("raw_example"))
        agg.append(pl.col("raw").drop_nulls().n_unique().alias("raw_variants"))
    g = df.group_by("value").agg(agg).sort(["count", "value"], descending=[True, False])
    if top is not None:
        g = g.head(top)
    shares = (g["wsum"] / sw).to_list() if n else []
    cis = [wilson(p * neff, neff, level) for p in shares]
    return g.drop("wsum").with_columns(
        share=pl.Series(shares, dtype=pl.Float64),
        ci_low=pl.Series([c[0] for c in cis], dtype=pl.Float64),
        ci_high=pl.Series([c[1] for c in cis], dtype=pl.Float64),
        n=pl.lit(n),
    ).rename({"value": col})


def _token_flags(names: pl.Series, pattern: str) -> np.ndarray:
    """Match ``pattern`` in already lower-cased names."""
    return names.str.contains(pattern).to_numpy()


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
    cohort carries them). Shares use Wilson intervals, numeric summaries a seeded
    percentile bootstrap (see :mod:`measure.describe._stats`).
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
        summ = numeric_summary(var, x, w_all, level=level, n_boot=n_boot,
                               seed=seed + i, keep_replicates=keep_replicates)
        ests.extend(summ.estimates)
        for k, r in summ.replicates.items():
            reps[f"{var}_{k}"] = r
        if np.any(~np.isnan(x)):
            hists.append(_histogram(var, x, w_all))
    if hists:
        tables["histograms"] = pl.concat(hists)
    # languages
    if df["lang"].null_count() < n:
        lang = df["lang"].str.to_lowercase()
        tables["languages"] = _category_table("lang", lang, w_all, level)
        has = lang.is_not_null().to_numpy()
        for code in tables["languages"]["lang"].to_list():
            if code == "(none)":
                continue
            y = (lang == code).fill_null(False).to_numpy()[has]
            ests.append(share_estimate(f"lang_share[{code}]", y,
                                       None if w_all is None else w_all[has], level))
    # locations (normalised, raw kept)
    if df["location"].null_count() < n:
        tables["locations"] = _category_table(
            "location", df["location_norm"], w_all, level, raw=df["location"], top=50)
        y = df["location_norm"].is_not_null().to_numpy()
        ests.append(share_estimate("location_given_share", y, w_all, level))
    # creation months
    if df["created_at"].null_count() < n:
        m = df["created_at"].dt.truncate("1mo").dt.date().cast(pl.Utf8)
        cm = _category_table("month", m.filter(m.is_not_null()),
                             None if w_all is None else
                             w_all[m.is_not_null().to_numpy()], level)
        tables["creation_months"] = cm.sort("month")
    # name tokens
    rows = []
    dn = df["display_name"].fill_null("").str.to_lowercase()
    sn = df["screen_name"].fill_null("").str.to_lowercase()
    for j, (tok, pat) in enumerate(NAME_TOKENS.items()):
        in_dn = _token_flags(dn, pat)
        in_sn = _token_flags(sn, pat)
        either = in_dn | in_sn
        e = share_estimate(f"name_token_share[{tok}]", either, w_all, level)
        ests.append(e)
        rows.append({"token": tok, "display_name": int(in_dn.sum()),
                     "screen_name": int(in_sn.sum()), "either": int(either.sum()),
                     "share": e.estimate, "ci_low": e.ci[0], "ci_high": e.ci[1],
                     "n": n})
        del j
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
