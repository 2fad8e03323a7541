"""Suspension rates per calendar period and the stock-and-flow table.

Each account is at risk in calendar time from its first alive look-up (entry) to its
exit: the midpoint between its last alive and first terminal look-up, or its last
alive look-up when censored. Per period (calendar month by default):

* ``rate = suspensions / account-days at risk`` with an exact (Garwood) Poisson
  interval for the count divided by the exposure;
* stock and flow: ``alive_start`` (at risk at the period's start), ``new`` (entered
  during it), ``suspended``, ``deleted``, ``censored`` (last look-up, still alive),
  ``alive_end``; ``alive_end = alive_start + new - suspended - deleted - censored``.
  ``returned`` counts accounts seen alive again after a terminal look-up (reinstated
  or a handle reused), informational only: their lifetime ends at the first
  terminal look-up.

Assumptions
-----------
Events are dated at the midpoint of their look-up interval (with weekly look-ups, an
event near a period boundary can fall in the neighbouring period). The Poisson
interval treats suspensions in a period as a Poisson count given the exposure, i.e.
a piecewise-constant hazard within the period and independent accounts.

References
----------
Garwood, F. (1936). Fiducial limits for the Poisson distribution. Biometrika 28,
437-442. Breslow, N. E. & Day, N. E. (1987). Statistical Methods in Cancer Research
II, ch. 2 (person-time rates).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from scipy import stats

from measure.churn._lifetimes import CENSORED, DELETED, SUSPENDED

DAY_US = 86_400_000_000


def poisson_ci(k: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for a Poisson mean given counts ``k``."""
    k = np.asarray(k, dtype=float)
    a = 1 - level
    lo = np.where(k > 0, stats.chi2.ppf(a / 2, 2 * k) / 2, 0.0)
    hi = stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2
    return lo, hi


def _boundaries(lo_us: int, hi_us: int, period: str) -> list[datetime]:
    start = datetime.fromtimestamp(lo_us / 1e6, tz=UTC)
    end = datetime.fromtimestamp(hi_us / 1e6, tz=UTC)
    if period == "month":
        cur = datetime(start.year, start.month, 1, tzinfo=UTC)
        out = [cur]
        while out[-1] <= end:
            y, m = out[-1].year, out[-1].month
            out.append(datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC))
        return out
    if period == "week":  # ISO weeks starting on Monday
        cur = datetime(start.year, start.month, start.day, tzinfo=UTC)
        cur = cur.fromordinal(cur.toordinal() - cur.weekday()).replace(tzinfo=UTC)
        out = [cur]
        while out[-1] <= end:
            out.append(datetime.fromordinal(out[-1].toordinal() + 7).replace(
                tzinfo=UTC))
        return out
    raise ValueError(f"period must be 'month' or 'week', got {period!r}")


def calendar_rates(frame: pl.DataFrame, *, period: str = "month",
                   level: float = 0.95) -> pl.DataFrame:
    """Per-period suspensions, exposure, rate with Poisson CI, and stock and flow.

    Parameters
    ----------
    frame
        Lifetimes with ``entry_at``, ``exit_at``, ``event`` and ``returned_at``.
    period
        ``"month"`` or ``"week"``.
    level
        Confidence level.

    Returns
    -------
    polars.DataFrame
        ``period, start, end, suspensions, deleted, account_days, rate, ci_low,
        ci_high, alive_start, new, suspended, censored, alive_end, returned``.
    """
    ent = frame["entry_at"].dt.epoch("us").to_numpy()
    ext = frame["exit_at"].dt.epoch("us").to_numpy()
    ev = frame["event"].to_numpy()
    if ent.size == 0:
        return pl.DataFrame()
    bounds = _boundaries(int(ent.min()), int(ext.max()), period)
    b_us = np.array([int(b.timestamp() * 1e6) for b in bounds], dtype=np.int64)
    ret = frame["returned_at"].drop_nulls().dt.epoch("us").to_numpy()
    rows = []
    # exit period index: [b_k, b_{k+1})
    exit_k = np.searchsorted(b_us, ext, side="right") - 1
    entry_k = np.searchsorted(b_us, ent, side="right") - 1
    ret_k = np.searchsorted(b_us, ret.astype(np.int64), side="right") - 1
    n_per = len(bounds) - 1
    susp = np.bincount(exit_k[ev == SUSPENDED], minlength=n_per)
    dele = np.bincount(exit_k[ev == DELETED], minlength=n_per)
    cens = np.bincount(exit_k[ev == CENSORED], minlength=n_per)
    new = np.bincount(entry_k, minlength=n_per)
    retn = np.bincount(ret_k[(ret_k >= 0) & (ret_k < n_per)], minlength=n_per)
    se, sx = np.sort(ent), np.sort(ext)
    for k in range(n_per):
        a, b = b_us[k], b_us[k + 1]
        expo = np.clip(np.minimum(ext, b) - np.maximum(ent, a), 0, None).sum()
        # at risk at a: entry < a <= exit
        alive_a = np.searchsorted(se, a, "left") - np.searchsorted(sx, a, "left")
        alive_b = np.searchsorted(se, b, "left") - np.searchsorted(sx, b, "left")
        rows.append((bounds[k].strftime("%Y-%m" if period == "month" else "%Y-%m-%d"),
                     bounds[k], bounds[k + 1], int(susp[k]), int(dele[k]),
                     float(expo) / DAY_US, int(alive_a), int(new[k]), int(cens[k]),
                     int(alive_b), int(retn[k])))
    df = pl.DataFrame(rows, schema={
        "period": pl.Utf8, "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"), "suspensions": pl.Int64,
        "deleted": pl.Int64, "account_days": pl.Float64, "alive_start": pl.Int64,
        "new": pl.Int64, "censored": pl.Int64, "alive_end": pl.Int64,
        "returned": pl.Int64}, orient="row")
    lo, hi = poisson_ci(df["suspensions"].to_numpy(), level)
    days = df["account_days"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(days > 0, df["suspensions"].to_numpy() / days, np.nan)
        lo = np.where(days > 0, lo / days, np.nan)
        hi = np.where(days > 0, hi / days, np.nan)
    return df.with_columns(pl.Series("rate", rate), pl.Series("ci_low", lo),
                           pl.Series("ci_high", hi),
                           pl.col("suspensions").alias("suspended"),
                           pl.lit(level).alias("level"))
