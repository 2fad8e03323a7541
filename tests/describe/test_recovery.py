"""Recovery of simulated truth: the profile of a cohort drawn from the true supporters.

What "true value" means here: the finite-population value of each statistic over
the accounts the data can see as supporters -- every true supporter in the frame
(``truth/accounts.parquet``: ``is_supporter & in_frame``), each measured the way the
data records it (latest active look-up, tweets table, collected follower lists).
The cohort handed to ``analyze`` is a simple random sample of those accounts (as a
list of ids, the ``--cohort FILE`` route), and the in-network set is all of them.
The truth is computed below with plain polars/numpy, independently of the package's
SQL and bootstrap code; the name-token patterns and the location normaliser are
definitions and are shared.

Last calibration run (100 small worlds, ``n_background=20000``, samples of 150,
2026-11-23): every one of the 60 statistics covered in 91-100% of worlds (lowest:
friends_mean 0.91, tweets_per_day_mean 0.93, friends_p90 0.93; shares 0.94-0.99).
The 99th percentiles cover trivially: 150 accounts cannot bound them from above
without a distributional assumption, so their upper limit is infinite (with a
warning). Before the mean moved from the percentile bootstrap to bootstrap-t,
tweets_per_day_mean covered in only 84%.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

import measure
from measure.describe import NAME_TOKENS, analyze, normalise_location

#: Accounts in the cohort sample (about 12% of a small world's frame supporters).
SAMPLE_N = 150
#: Worlds in the calibration run and the coverage the issue asks for.
N_WORLDS = 100
MIN_COVERAGE = 0.90
#: Smaller background than the ``small`` preset: background accounts do not enter
#: a supporter profile, and this keeps 100 worlds within the time budget.
WORLD = {"n_background": 20_000}
QS = {"p10": 0.10, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.90,
      "p99": 0.99}
#: Estimates that are exact counts or observed maxima carry no sampling interval.
NO_INTERVAL = ("n_accounts", "n_tweets")


def _stats(var: str, x: np.ndarray) -> dict[str, float]:
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {}
    out = {f"{var}_mean": float(x.mean())}
    for k, q in QS.items():
        out[f"{var}_{k}"] = float(np.quantile(x, q, method="inverted_cdf"))
    return out


def population_truth(path, ids: list[int], active_days: int = 30
                     ) -> dict[str, float]:
    """Every profile statistic over the accounts ``ids``, from the data tables."""
    with measure.open(path, validate="none") as ds:
        acc = ds.table("accounts").pl().filter(pl.col("account_id").is_in(ids))
        obs = ds.table("observations").pl()
        tw = ds.table("tweets").pl().filter(pl.col("account_id").is_in(ids))
        crawls = ds.table("crawls").pl()
        edges = ds.table("edges").pl()
        ds_last_tweet = ds.table("tweets").pl()["created_at"].max()
    last = (obs.filter((pl.col("status") == "active")
                       & pl.col("account_id").is_in(ids))
            .sort("observed_at").group_by("account_id").last())
    d = acc.join(last, on="account_id", how="left")
    age = ((d["observed_at"] - d["created_at"]).dt.total_seconds() / 86400)
    d = d.with_columns(age_days=age)
    truth: dict[str, float] = {}
    f = lambda c: d[c].cast(pl.Float64).fill_null(np.nan).to_numpy()  # noqa: E731
    truth |= _stats("followers", f("followers_count"))
    truth |= _stats("friends", f("friends_count"))
    truth |= _stats("statuses", f("statuses_count"))
    truth |= _stats("age_days", f("age_days"))
    life = f("statuses_count") / np.maximum(f("age_days"), 1.0)
    truth |= _stats("lifetime_tweets_per_day", life)
    g = tw.group_by("account_id").agg(pl.len().alias("n"),
                                      (pl.col("created_at").max()
                                       - pl.col("created_at").min()).alias("span"),
                                      pl.col("created_at").max().alias("last"))
    rate = g["n"].to_numpy() / np.maximum(
        g["span"].dt.total_seconds().to_numpy() / 86400, 1.0)
    truth |= _stats("tweets_per_day", rate.astype(float))
    # in-network share: followers lists collected for these accounts
    lists = crawls.filter((pl.col("list") == "followers")
                          & pl.col("account_id").is_in(ids))
    lists = lists.group_by("account_id").agg(
        pl.col("complete").fill_null(True).all())
    e = edges.filter(pl.col("relation").fill_null("follows") == "follows").select(
        "src", "dst").unique()
    shares = []
    fol = dict(zip(d["account_id"], d["followers_count"], strict=True))
    for aid, complete in lists.iter_rows():
        srcs = e.filter(pl.col("dst") == aid)["src"]
        listed = srcs.len()
        inside = int(srcs.is_in(ids).sum())
        den = listed if complete else max(listed, fol.get(aid) or 0)
        if den > 0:
            shares.append(inside / den)
    truth |= _stats("in_follower_share", np.array(shares, dtype=float))
    # shares
    lang = acc["lang"].drop_nulls().str.to_lowercase()
    for code in lang.unique().to_list():
        truth[f"lang_share[{code}]"] = float((lang == code).mean())
    locs = [normalise_location(v) for v in acc["location"].to_list()]
    truth["location_given_share"] = float(np.mean([v is not None for v in locs]))
    names = (acc["display_name"].fill_null("").str.to_lowercase(),
             acc["screen_name"].fill_null("").str.to_lowercase())
    for tok, pat in NAME_TOKENS.items():
        hit = names[0].str.contains(pat) | names[1].str.contains(pat)
        truth[f"name_token_share[{tok}]"] = float(hit.mean())
    # activity is dated by the tweets table, so "now" is its last tweet
    cutoff = ds_last_tweet - timedelta(days=active_days)
    active = g.filter(pl.col("last") >= cutoff).height
    truth[f"active_{active_days}d_share"] = active / len(ids)
    return truth


def frame_supporters(path) -> list[int]:
    tr = measure.simulate.load_truth(path)
    return sorted(tr.accounts.filter(pl.col("is_supporter") & pl.col("in_frame"))
                  ["account_id"].to_list())


def covered(path, seed: int, *, n_boot: int = 300) -> dict[str, bool]:
    """Draw a cohort sample, profile it, and say which intervals cover the truth."""
    pop = frame_supporters(path)
    rng = np.random.default_rng(seed)
    sample = rng.choice(pop, size=min(SAMPLE_N, len(pop)), replace=False).tolist()
    truth = population_truth(path, pop)
    res = analyze(path, cohort=sample, network=pop, n_boot=n_boot, seed=seed,
                  series=False)
    out = {}
    for e in res.estimates:
        if e.term in NO_INTERVAL or e.term.endswith("_max") or not e.valid:
            continue
        if e.term not in truth:
            continue
        out[e.term] = bool(e.ci[0] <= truth[e.term] <= e.ci[1])
    return out


def test_whole_population_cohort_reproduces_truth_exactly(small_world_factory):
    """With the cohort = every visible supporter, point values equal the truth."""
    path = small_world_factory(1, **WORLD)
    pop = frame_supporters(path)
    truth = population_truth(path, pop)
    res = analyze(path, cohort=pop, n_boot=50, series=False)
    checked = 0
    for e in res.estimates:
        if e.term in truth:
            assert e.estimate == pytest.approx(truth[e.term], rel=1e-9, abs=1e-12), \
                e.term
            checked += 1
    assert checked >= 40


def test_sample_cohort_intervals_cover_in_one_world(small_world_factory):
    """One world, one sample: most intervals cover (the 100-world run is below)."""
    cov = covered(small_world_factory(2, **WORLD), seed=2)
    assert len(cov) >= 40
    # with ~50 correlated 95% intervals, fewer than 75% covering would be a bug
    assert np.mean(list(cov.values())) >= 0.75, cov


@pytest.mark.calibration
def test_coverage_over_100_small_worlds(small_world_factory):
    """Each statistic's interval covers its true value in >= 90% of 100 worlds."""
    from collections import defaultdict

    hits: dict[str, list[bool]] = defaultdict(list)
    for seed in range(1, N_WORLDS + 1):
        path = small_world_factory(seed, **WORLD)
        for term, ok in covered(path, seed).items():
            hits[term].append(ok)
        import shutil

        shutil.rmtree(path.parent, ignore_errors=True)
    rows = sorted((t, float(np.mean(v)), len(v)) for t, v in hits.items())
    print("\nterm | coverage | worlds")
    for t, c, n in rows:
        print(f"{t} | {c:.2f} | {n}")
    judged = [(t, c) for t, c, n in rows if n >= N_WORLDS // 2]
    bad = [(t, c) for t, c in judged if c < MIN_COVERAGE]
    assert not bad, bad
