"""The profile on the real Fifth Tribe file ("How ISIS Uses Twitter", Kaggle, CC0).

Reference values come straight from the file (``shared/reference-data/fifth-tribe/
SOURCE.md``: 112 accounts, 17,410 tweets, maxima 34,692 followers and 33,091
statuses, also reported by khushal728/Analyzing-ISIS-Twitter-Networks); the activity
figures are recomputed here from the raw timestamps with numpy, independently of
the package's SQL.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import measure
from measure.describe import analyze

pytestmark = pytest.mark.reference

# Timestamps are whole minutes in the file and in the dataset: rates agree exactly
# up to floating-point rounding.
RATE_TOL = 1e-9


@pytest.fixture(scope="module")
def raw(fifth_tribe_csv):
    return pl.read_csv(fifth_tribe_csv).with_columns(
        t=pl.col("time").str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M"))


@pytest.fixture(scope="module")
def res(fifth_tribe):
    with measure.open(fifth_tribe) as ds:
        return analyze(ds, n_boot=500, seed=0)


def test_counts_and_maxima_match_the_file(res, raw):
    assert res.n_accounts == 112 == raw["username"].n_unique()
    assert res.estimate("n_tweets").estimate == 17_410 == raw.height
    assert res.estimate("followers_max").estimate == 34_692
    assert res.estimate("statuses_max").estimate == 33_091
    assert res.estimate("followers_mean").n == 112


def test_tweets_per_day_and_burst_from_real_timestamps(res, raw):
    hyp = res.hyperactive
    assert hyp.source == "tweets"
    got = {r["screen_name"]: r for r in hyp.accounts.iter_rows(named=True)}
    for user, g in raw.group_by("username"):
        t = np.sort(g["t"].to_numpy().astype("datetime64[m]").astype(np.int64))
        span_days = (t[-1] - t[0]) / 1440.0
        rate = t.size / max(span_days, 1.0)
        # most tweets in [t_i, t_i + 24 h]
        burst = int((np.searchsorted(t, t + 1440, side="right")
                     - np.arange(t.size)).max())
        row = got[user[0]]
        assert row["n_tweets"] == t.size
        assert row["tweets_per_day"] == pytest.approx(rate, rel=RATE_TOL)
        assert row["burst"] == burst
    vol = raw.group_by("username").len()["len"].to_numpy()
    v = np.sort(vol)[::-1]
    k = int(np.argmax(np.cumsum(v) >= v.sum() / 2) + 1)
    assert hyp.estimate("half_volume_accounts").estimate == k


def test_profile_report(res, capsys):
    """Print the profile (shown with ``pytest -s``) and check its structure."""
    print(res.summary())
    assert res.estimate("followers_median").ci[0] <= res.estimate(
        "followers_median").estimate
    assert "locations" in res.tables and "name_tokens" in res.tables
    assert res.estimate("active_30d_share").valid
