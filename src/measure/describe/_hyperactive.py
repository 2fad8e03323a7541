"""Hyperactive accounts (methodology appendix E7).

Per account: tweets per day and a burst score (most tweets in any sliding window),
from the ``tweets`` table or, without it, from status-count deltas between
look-ups. Cohort level: the smallest set of accounts that produces half of the
volume, and a threshold table (accounts at or above k tweets per day and the share
of volume they produce).

References
----------
Berger, J. M. & Morgan, J. (2015). *The ISIS Twitter Census*, section 2.1
(500-2,000 "hyperactive" accounts producing much of the volume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate, _fmt
from measure.describe._stats import run_lengths, share_estimate

#: Tweets-per-day thresholds of the threshold table (50/day is the census's line).
THRESHOLDS = (1, 5, 10, 20, 50, 100, 150)
#: The census's hyperactive line (tweets per day).
HYPERACTIVE_PER_DAY = 50.0
#: Columns of the account table the section reads (and keeps, per account).
HYPERACTIVE_COLUMNS = ("account_id", "screen_name", "n_tweets", "span_days",
                       "tweets_per_day", "burst")


def half_volume_k(volume: np.ndarray, share: float = 0.5) -> int:
    """Smallest number of accounts whose volumes add up to ``share`` of the total."""
    v = np.sort(volume)[::-1]
    tot = v.sum()
    if tot <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(v), share * tot - 1e-9) + 1)


def _boot_half_volume(vol: np.ndarray, B: int, rng: np.random.Generator,
                      descending: bool = False) -> np.ndarray:
    """Bootstrap replicates of :func:`half_volume_k` via multinomial atom counts.

    Resampling accounts equals drawing multinomial counts over the distinct
    volumes; within the atom that crosses half the volume, accounts are added one by
    one, so the result equals :func:`half_volume_k` on the resampled accounts.
    ``descending``: ``vol`` is already sorted in decreasing order.
    """
    if descending:
        vals, counts = run_lengths(vol)  # vol sorted in decreasing order
    else:
        vals, counts = np.unique(vol, return_counts=True)
        vals, counts = vals[::-1], counts[::-1]
    n = int(counts.sum())
    out = np.empty(B)
    step = max(1, 20_000_000 // max(vals.size, 1))
    for s in range(0, B, step):
        e = min(B, s + step)
        R = rng.multinomial(n, counts / n, size=e - s)
        cv = np.cumsum(R * vals, axis=1)
        cn = np.cumsum(R, axis=1)
        target = 0.5 * cv[:, -1] - 1e-9
        j = (cv < target[:, None]).sum(axis=1)
        rows = np.arange(e - s)
        prev_v = np.where(j > 0, cv[rows, np.maximum(j - 1, 0)], 0.0)
        prev_n = np.where(j > 0, cn[rows, np.maximum(j - 1, 0)], 0)
        v_j = vals[np.minimum(j, vals.size - 1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.where(v_j > 0, np.ceil((target - prev_v) / v_j), 0)
        out[s:e] = np.where(cv[:, -1] > 0, prev_n + np.maximum(need, 1), 0)
    return out


@dataclass(frozen=True)
class HyperactiveResult:
    """Activity concentration of a cohort.

    Attributes
    ----------
    source
        ``"tweets"`` (real timestamps) or ``"lookups"`` (status-count deltas).
    accounts
        Per account: ``account_id, screen_name, n_tweets, span_days,
        tweets_per_day, burst`` sorted by volume.
    thresholds
        Per threshold k: accounts with ``tweets_per_day >= k``, their share of
        accounts (Wilson CI) and of the volume.
    estimates
        ``half_volume_accounts``, ``half_volume_account_share`` (bootstrap CI),
        ``hyperactive_share`` (>= 50/day, Wilson CI), ``burst_max``.
    burst_hours
        Window of the burst score.
    """

    source: str
    accounts: pl.DataFrame
    thresholds: pl.DataFrame
    estimates: tuple[Estimate, ...]
    burst_hours: int
    warnings: tuple[str, ...] = field(default=())

    def estimate(self, term: str) -> Estimate:
        """Return the estimate named ``term``."""
        for e in self.estimates:
            if e.term == term:
                return e
        raise KeyError(term)

    def summary(self) -> str:
        """Text summary."""
        lines = [f"Hyperactive accounts (activity from {self.source}; burst window "
                 f"{self.burst_hours} h)"]
        lines += ["  " + e.summary().splitlines()[0] for e in self.estimates]
        lines.append("  threshold table (tweets/day >= k):")
        for r in self.thresholds.iter_rows(named=True):
            lines.append(f"    k={r['threshold']:>4}: {r['accounts']:>6} accounts "
                         f"({_fmt(r['account_share'])}), "
                         f"{_fmt(r['volume_share'])} of volume")
        top = self.accounts.head(5)
        lines.append("  most tweets: " + ", ".join(
            f"{r['screen_name'] or r['account_id']} ({_fmt(r['tweets_per_day'])}/day)"
            for r in top.iter_rows(named=True)))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_polars(self) -> pl.DataFrame:
        """Tidy table of the estimates."""
        from measure._results import estimates_to_polars

        return estimates_to_polars(list(self.estimates))

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "source": self.source, "burst_hours": self.burst_hours,
            "estimates": [e.to_dict() for e in self.estimates],
            "thresholds": self.thresholds.to_dicts(),
            "top_accounts": self.accounts.head(20).to_dicts(),
            "warnings": list(self.warnings),
        }


def hyperactive(df: pl.DataFrame, source: str, *, burst_hours: int = 24,
                level: float = 0.95, n_boot: int = 1000, seed: int = 0,
                thresholds: tuple[float, ...] = THRESHOLDS,
                hyperactive_per_day: float = HYPERACTIVE_PER_DAY
                ) -> HyperactiveResult:
    """Concentration of activity in a cohort's account table.

    Parameters
    ----------
    df
        Account table from :func:`measure.describe._profile.account_table` (columns
        ``n_tweets``, ``span_days``, ``tweets_per_day``, ``burst``).
    source
        Where activity came from (``"tweets"`` or ``"lookups"``).
    burst_hours, level, n_boot, seed
        Burst window (for the label), interval level, bootstrap replicates, seed.
    thresholds
        Tweets-per-day cut-offs of the threshold table.
    hyperactive_per_day
        The line above which an account counts as hyperactive.

    Notes
    -----
    Tweets per day is the account's tweet count over its observed span (first to
    last tweet, at least one day); with look-ups it is the sum of positive
    status-count increases over the time between the first and last look-up. The
    half-volume share's interval is a percentile bootstrap over accounts (seeded);
    it assumes accounts are sampled independently, which ignores that the set of
    accounts the collection could see is itself shaped by activity. Design weights
    are not used: the section describes the cohort's own accounts.
    """
    # accounts with a rate, by volume (ties in table order); one gather
    has = pl.col("tweets_per_day").is_not_null()
    order = df.select(pl.arg_sort_by(
        pl.when(has).then(pl.col("n_tweets")), descending=True, nulls_last=True,
        maintain_order=True).head(pl.len() - pl.col("tweets_per_day").null_count()
                                  )).to_series()
    acc = df.select(pl.col(HYPERACTIVE_COLUMNS).gather(order))
    warnings: list[str] = []
    n = acc.height
    if n == 0:
        inv = Estimate.invalid("half_volume_accounts", "no activity measured (needs "
                               "tweets or look-ups with statuses_count)")
        return HyperactiveResult(source, acc, pl.DataFrame(), (inv,), burst_hours)
    vol = acc["n_tweets"].cast(pl.Float64).to_numpy()
    rate = acc["tweets_per_day"].to_numpy()
    tot = float(vol.sum())
    # the accounts are sorted by volume: the smallest set is the first k
    k = int(np.searchsorted(np.cumsum(vol), 0.5 * tot - 1e-9) + 1) if tot > 0 else 0
    reps = _boot_half_volume(vol, n_boot, np.random.default_rng(seed),
                             descending=True) / n
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    method = f"percentile bootstrap over accounts ({n_boot} replicates, seed {seed})"
    ests = [
        Estimate("half_volume_accounts", float(k), (float(lo * n), float(hi * n)),
                 level, float(reps.std(ddof=1) * n), method, n,
                 extra={"volume": tot}),
        Estimate("half_volume_account_share", k / n, (float(lo), float(hi)), level,
                 float(reps.std(ddof=1)), method, n),
    ]
    hyper = rate >= hyperactive_per_day
    e = share_estimate("hyperactive_share", hyper, None, level,
                       method_note=f"; hyperactive = >= {hyperactive_per_day:g} "
                       "tweets/day")
    ests.append(e)
    ests.append(Estimate("hyperactive_accounts", float(hyper.sum()),
                         (e.ci[0] * n, e.ci[1] * n), level, e.std_error * n,
                         e.method, n))
    burst = acc["burst"].cast(pl.Float64).to_numpy()
    bmax = float(np.nanmax(burst)) if np.any(~np.isnan(burst)) else math.nan
    ests.append(Estimate("burst_max", bmax, (bmax, bmax), level, 0.0,
                         f"most tweets in a {burst_hours} h window (observed)", n))
    rows = []
    for t in thresholds:
        sel = rate >= t
        lo_t, hi_t = share_estimate("x", sel, None, level).ci
        rows.append({"threshold": float(t), "accounts": int(sel.sum()),
                     "account_share": float(sel.mean()), "ci_low": lo_t,
                     "ci_high": hi_t,
                     "volume_share": float(vol[sel].sum() / tot) if tot else 0.0,
                     "n": n})
    if source == "lookups":
        warnings.append("activity from status-count deltas between look-ups: "
                        "deleted tweets and gaps between look-ups make these lower "
                        "bounds; the burst score is the highest per-day rate between "
                        "two consecutive look-ups")
    return HyperactiveResult(source, acc, pl.DataFrame(rows), tuple(ests),
                             burst_hours, tuple(warnings))
