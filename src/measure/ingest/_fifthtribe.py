"""The Kaggle "How ISIS Uses Twitter" CSV (Fifth Tribe) -> a canonical dataset.

Tables written: accounts, observations, tweets, mentions edges, handles.

Columns: ``name, username, description, location, followers, numberstatuses, time,
tweets``; one row per tweet, with the author's profile and counts as recorded with
that tweet. ``time`` is ``M/D/YYYY H:MM`` with no zone.

Decisions (also written to the manifest under ``ingest.assumptions``):

* ``time`` is read as UTC (the file gives no zone).
* ``account_id`` is synthetic: :func:`handle_id` of the lower-cased username (the
  first 8 bytes of ``sha256("twitter-handle:" + handle)``, top bit cleared). It is not
  Twitter's numeric id, so it does not join with ``twitter-v1``/``twitter-v2`` data.
* ``tweet_id`` is synthetic: ``stable_id("fifthtribe-tweet", username, time, text)``;
  identical rows get the same id and are collapsed (keep the last in file order).
* Each row gives an ``active`` observation of its author at the tweet's time with
  ``followers`` and ``numberstatuses`` as ``followers_count``/``statuses_count``.
  Rows of one account in the same minute are collapsed to the last in file order.
* ``edges`` (relation ``mentions``): one edge per distinct ``@handle`` in a tweet,
  from the author to :func:`handle_id` of the handle, at the tweet's time, with the
  ``tweet_id`` as an extra column. Retweets (``RT @x:``) count as mentions of ``x``.
  Mentioned handles that are not authors in the file are *not* added to
  ``accounts`` (their profiles are unknown); every handle seen, with its id, is
  listed in the extra table ``handles`` (``account_id, screen_name, is_author,
  n_mentions``) so that every edge end can be resolved.
"""

from __future__ import annotations

import re

import polars as pl

from measure.errors import IngestError
from measure.ingest._common import (
    ACCOUNTS_SCHEMA,
    OBSERVATIONS_SCHEMA,
    TS,
    Parsed,
    Quarantine,
    RawFile,
    active_bounds,
    collapse,
    csv_text,
    is_empty,
    read_csv,
    short_repr,
    stable_id,
    time_bounds,
)

SUFFIXES = (".csv",)
COLUMNS = ("name", "username", "description", "location", "followers",
           "numberstatuses", "time", "tweets")
TIME_FORMAT = "%m/%d/%Y %H:%M"
MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])")

ASSUMPTIONS = (
    "times in column 'time' (M/D/YYYY H:MM) carry no zone and are read as UTC",
    "account_id is synthetic: first 8 bytes of sha256('twitter-handle:' + lower-case "
    "username) with the top bit cleared; it is not Twitter's id",
    "tweet_id is synthetic: hash of (username, time, text); identical rows collapse",
    "each tweet row is an 'active' observation of its author at the tweet time, with "
    "the followers/numberstatuses recorded with that row",
    "mentions edges point at the synthetic id of the mentioned handle; handles that "
    "are not authors in the file are listed in table 'handles', not in 'accounts'",
)


def handle_id(handle: str) -> int:
    """Synthetic account id of a Twitter handle (case-insensitive, stable)."""
    return stable_id("twitter-handle", handle.lower())


def parse(files: list[RawFile]) -> Parsed:
    """Parse Fifth Tribe CSV file(s)."""
    q = Quarantine()
    frames = []
    notes: list[str] = []
    read = 0
    for fi, f in enumerate(files):
        if is_empty(f):
            continue  # allowed by allow_empty: no records
        df, n = read_csv(f, q)
        notes += n
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise IngestError(
                f"file '{f.label}', line 1: column(s) {missing} missing from the "
                f"header (found {[c for c in df.columns if not c.startswith('_')]}); "
                "is this the Fifth Tribe tweets.csv? Use --format table for other CSVs")
        read += df.height
        width = len([c for c in df.columns if c not in ("_line", "_nf", "_raw")])
        df = df.with_columns(
            pl.lit(f.label).alias("_file"),
            (pl.lit(fi, pl.Int64) * (1 << 40) + pl.int_range(pl.len(), dtype=pl.Int64))
            .alias("_order"),
            pl.col("time").str.strip_chars()
            .str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False)
            .dt.replace_time_zone("UTC").alias("_t"),
            pl.col("followers").str.strip_chars().cast(pl.Int64, strict=False)
            .alias("_followers"),
            pl.col("numberstatuses").str.strip_chars().cast(pl.Int64, strict=False)
            .alias("_statuses"),
        )
        lo, hi = active_bounds() or time_bounds("twitter")
        checks = [
            (pl.col("_nf") != width, "ragged_row", None,
             f"row has the wrong number of fields (header has {width})"),
            (pl.col("username").str.strip_chars().fill_null("") == "",
             "missing_id", "username", "username is empty"),
            (pl.col("_t").is_null(), "bad_timestamp", "time",
             "time is empty or not M/D/YYYY H:MM"),
            (~pl.col("_t").is_between(lo, hi), "bad_timestamp", "time",
             f"time lies outside the plausible range {lo.date().isoformat()} to "
             "one day after the ingest"),
        ]
        bad = pl.lit(False)
        for cond, kind, col, reason in checks:
            hit = df.filter(cond.fill_null(False) & ~bad)
            for r in hit.iter_rows(named=True):
                value = r.get(col) if col else None
                q.add(f.label, r["_line"], kind,
                      reason + (f" (got {short_repr(value)})" if col else ""),
                      r["_raw"] or csv_text([r[c] for c in COLUMNS]), col)
            bad = bad | cond.fill_null(False)
        df = df.filter(~bad)
        # The counts are optional: an unreadable or negative one is left empty
        # (a field note) and the row kept.
        for col, parsed in (("followers", "_followers"),
                            ("numberstatuses", "_statuses")):
            wrong = pl.col(col).is_not_null() & pl.col(parsed).is_null()
            negative = pl.col(parsed) < 0
            for r in df.filter(wrong.fill_null(False)).iter_rows(named=True):
                q.note(f.label, r["_line"], col, "bad_type",
                       f"{col} is not an integer (got {short_repr(r[col])}); the "
                       "field was left empty (null) and the row kept")
            for r in df.filter(negative.fill_null(False)).iter_rows(named=True):
                q.note(f.label, r["_line"], col, "bad_value",
                       f"{col} is a negative count (got {short_repr(r[col])}); the "
                       "field was left empty (null) and the row kept")
            df = df.with_columns(pl.when(~negative.fill_null(False))
                                 .then(pl.col(parsed)).alias(parsed))
        frames.append(df)
    good = pl.concat(frames) if frames else pl.DataFrame(schema={
        **{c: pl.Utf8 for c in COLUMNS}, "_line": pl.Int64, "_nf": pl.Int64,
        "_raw": pl.Utf8, "_file": pl.Utf8, "_order": pl.Int64, "_t": TS,
        "_followers": pl.Int64, "_statuses": pl.Int64})
    good = good.with_columns(
        pl.col("username").map_elements(handle_id, return_dtype=pl.Int64)
        .alias("account_id"),
        pl.struct("username", "time", "tweets").map_elements(
            lambda s: stable_id("fifthtribe-tweet", "\x1f".join(
                [s["username"].lower(), s["time"].strip(), s["tweets"] or ""])),
            return_dtype=pl.Int64).alias("tweet_id"),
    )
    tweets, n_tw = collapse(good, ["tweet_id"], "_order")
    tweets_out = tweets.select(
        "tweet_id", "account_id", pl.col("_t").alias("created_at"),
        pl.col("tweets").alias("text")).sort(["account_id", "created_at", "tweet_id"])
    obs, n_obs = collapse(good, ["account_id", "_t"], "_order")
    obs_out = obs.select(
        "account_id", pl.col("_t").alias("observed_at"),
        pl.lit("active").alias("status"),
        pl.col("_followers").alias("followers_count"),
        pl.lit(None, pl.Int64).alias("friends_count"),
        pl.col("_statuses").alias("statuses_count"),
        pl.col("username").alias("screen_name"),
    ).cast(OBSERVATIONS_SCHEMA).sort(["account_id", "observed_at"])  # type: ignore[arg-type]
    accounts = (
        good.sort(["_t", "_order"])
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("username").last().alias("screen_name"),
             pl.col("name").last().alias("display_name"),
             pl.col("description").last(), pl.col("location").last(),
             pl.col("_t").min().alias("first_seen"))
        .with_columns(pl.lit("twitter").alias("platform"),
                      pl.lit(None, TS).alias("created_at"),
                      pl.lit(None, pl.Utf8).alias("lang"),
                      pl.lit(None, pl.Utf8).alias("profile_image_hash"))
        .select(list(ACCOUNTS_SCHEMA)).cast(ACCOUNTS_SCHEMA)  # type: ignore[arg-type]
        .sort("account_id")
    )
    if accounts["screen_name"].str.to_lowercase().n_unique() != accounts.height:
        raise IngestError("two usernames hash to the same synthetic account id; "
                          "please report this (sha256 collision)")
    edges, handles = _mentions(tweets, accounts)
    return Parsed(
        tables={"accounts": accounts, "observations": obs_out, "tweets": tweets_out,
                "edges": edges, "handles": handles},
        record_tables=("tweets", "observations"), rows_read=read,
        collapsed={"tweets": n_tw, "observations": n_obs}, quarantine=q,
        assumptions=ASSUMPTIONS, notes=tuple(notes),
        # one mentions edge per tweet and mentioned account; `handles` counts
        # mentions over the whole ingest and cannot be merged row by row
        keys={"edges": ("tweet_id", "dst"), "handles": None})


def _mentions(tweets: pl.DataFrame, accounts: pl.DataFrame
              ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``edges`` (mentions) and the ``handles`` table from tweet texts."""
    rows = []
    for tid, src, t, text in tweets.select("tweet_id", "account_id", "_t",
                                           "tweets").iter_rows():
        seen: dict[str, str] = {}
        for h in MENTION.findall(text or ""):
            seen.setdefault(h.lower(), h)
        for low, h in seen.items():
            rows.append((src, handle_id(low), t, tid, h))
    m = pl.DataFrame(rows, schema={"src": pl.Int64, "dst": pl.Int64, "observed_at": TS,
                                   "tweet_id": pl.Int64, "_handle": pl.Utf8},
                     orient="row")
    edges = (m.with_columns(pl.lit("mentions").alias("relation"))
             .select("src", "dst", "relation", "observed_at", "tweet_id")
             .sort(["src", "observed_at", "tweet_id", "dst"]))
    authors = accounts.select("account_id", "screen_name",
                              pl.lit(True).alias("is_author"))
    counts = m.group_by(pl.col("dst").alias("account_id")).agg(
        pl.col("_handle").mode().sort().first().alias("_mentioned_as"),
        pl.len().cast(pl.Int64).alias("n_mentions"))
    handles = (
        authors.join(counts, on="account_id", how="full", coalesce=True)
        .with_columns(pl.coalesce("screen_name", "_mentioned_as").alias("screen_name"),
                      pl.col("is_author").fill_null(False),
                      pl.col("n_mentions").fill_null(0))
        .select("account_id", "screen_name", "is_author", "n_mentions")
        .sort("account_id")
    )
    return edges, handles
