"""Network size over time for a listed frame (methodology appendix E11).

Per look-up day: accounts looked up, accounts alive (an ``active`` look-up), mean
followers of the alive accounts (normal interval), accounts first seen suspended
that day as a share of those still at risk (Wilson interval), and accounts first
looked up that day ("new").

References
----------
Berger, J. M. & Perez, H. (2016). *The Islamic State's Diminishing Returns on
Twitter*. GWU Program on Extremism (network under 1,000 accounts; 300-400
followers on average; under 2% suspended on an average day).
"""

from __future__ import annotations

import math

import polars as pl
from scipy import stats

from measure.dataset import Dataset
from measure.describe import _sql
from measure.describe._scan import LookupScan, scan_observations
from measure.describe._stats import wilson


def size_series(ds: Dataset, *, level: float = 0.95, scan: LookupScan | None = None
                ) -> pl.DataFrame:
    """Per-day network size series of the registered cohort.

    Parameters
    ----------
    ds
        Dataset with ``observations``; the cohort is registered as
        ``_describe_cohort``.
    level
        Interval level.
    scan
        The cohort's look-ups reduced per account
        (:func:`measure.describe._scan.scan_observations`); read here when not
        given.

    Returns
    -------
    polars.DataFrame
        ``day, looked_up, alive, mean_followers, mean_followers_low,
        mean_followers_high, at_risk, newly_suspended, suspended_share,
        suspended_share_low, suspended_share_high, new_accounts``.

    Notes
    -----
    "At risk" on a day counts accounts looked up that day and not seen suspended on
    an earlier day. A suspension is dated by the look-up that first shows it, so
    with weekly look-ups the daily share is a weekly share dated at the look-up.
    """
    if not ds.has("observations"):
        return pl.DataFrame()
    if scan is None:
        scan = scan_observations(ds, ds.sql(_sql.COHORT_IDS)["account_id"],
                                 semi=True)
    s = scan.series
    if s.height == 0:
        return s
    z = stats.norm.ppf(0.5 + level / 2)
    lows, highs, sl, sh, sh_ = [], [], [], [], []
    for r in s.iter_rows(named=True):
        m, sd, n = r["mean_followers"], r["sd_followers"], r["n_followers"]
        if m is not None and sd is not None and n and n > 1:
            half = z * sd / math.sqrt(n)
            lows.append(m - half)
            highs.append(m + half)
        else:
            lows.append(None)
            highs.append(None)
        k, at = r["newly_suspended"], r["at_risk"]
        if at:
            lo, hi = wilson(k, at, level)
            sh_.append(k / at)
            sl.append(lo)
            sh.append(hi)
        else:
            sh_.append(None)
            sl.append(None)
            sh.append(None)
    return s.with_columns(
        mean_followers_low=pl.Series(lows, dtype=pl.Float64),
        mean_followers_high=pl.Series(highs, dtype=pl.Float64),
        suspended_share=pl.Series(sh_, dtype=pl.Float64),
        suspended_share_low=pl.Series(sl, dtype=pl.Float64),
        suspended_share_high=pl.Series(sh, dtype=pl.Float64),
    ).select("day", "looked_up", "alive", "mean_followers", "mean_followers_low",
             "mean_followers_high", "at_risk", "newly_suspended", "suspended_share",
             "suspended_share_low", "suspended_share_high", "new_accounts")
