"""Compare resurrection results with simulation truth (what the data can show).

*Observable* links: an actor's accounts that appear in the dataset, in incarnation
order; each consecutive pair ``(a, b)`` where ``a`` was seen suspended is a link the
data can show (``b`` may skip accounts the collection never found). Recall counts
those whose ``b`` was created within the search window of ``a``. The observable
30-day return of a suspended account: its actor's next account in the dataset was
created within 30 days of the latent suspension time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from measure.simulate import load_truth


def observable_truth(ds, path, window: float = 60.0):
    """Observable links and per-suspended-account truth.

    Returns
    -------
    links
        ``previous, new, created_new, linkable`` (linkable: within the window).
    susp
        ``account_id, suspended_at, next_created`` for accounts seen suspended.
    data_end
        Last look-up time.
    """
    tr = load_truth(path).accounts
    in_data = ds.sql("SELECT account_id FROM accounts")["account_id"]
    fs = ds.sql("SELECT account_id, min(observed_at) AS first_suspended, "
                "max(observed_at) FILTER (WHERE status = 'active') AS last_active "
                "FROM observations GROUP BY 1 HAVING bool_or(status = 'suspended')")
    fs = fs.with_columns(pl.col("first_suspended").dt.convert_time_zone("UTC"))
    data_end = ds.sql("SELECT max(observed_at) AS e FROM observations")["e"][0]
    sup = tr.filter(pl.col("actor_id").is_not_null()
                    & pl.col("account_id").is_in(in_data.implode()))
    sup = sup.sort("actor_id", "incarnation").with_columns(
        pl.col("account_id").shift(-1).over("actor_id").alias("next_id"),
        pl.col("created_at").shift(-1).over("actor_id").alias("next_created"))
    susp_ids = fs["account_id"].implode()
    links = sup.filter(pl.col("account_id").is_in(susp_ids)
                       & pl.col("next_id").is_not_null()).select(
        pl.col("account_id").alias("previous"), pl.col("next_id").alias("new"),
        pl.col("next_created").alias("created_new"))
    links = links.join(fs.rename({"account_id": "previous"}), on="previous")
    links = links.with_columns(
        (pl.col("created_new") <= pl.col("first_suspended")
         + pl.duration(days=window)).alias("linkable")).drop("last_active")
    truth_s = fs.select("account_id").join(
        tr.select("account_id", "suspended_at"), on="account_id", how="left").join(
        sup.select("account_id", "next_created"), on="account_id", how="left")
    return links, truth_s, data_end


def precision_recall(links: pl.DataFrame, true_links: pl.DataFrame) -> tuple[float,
                                                                              float]:
    """Link precision (against observable links) and recall over linkable ones."""
    key = ["previous", "new"]
    tp = links.join(true_links, on=key).height
    lk = true_links.filter(pl.col("linkable"))
    found = lk.join(links, on=key).height
    prec = tp / links.height if links.height else float("nan")
    rec = found / lk.height if lk.height else float("nan")
    return prec, rec


def true_rate(truth_s: pl.DataFrame, data_end: dt.datetime, days: float = 30.0,
              lag_days: float = 0.0) -> tuple[float, int]:
    """Observable d-day return rate among suspended accounts with full follow-up.

    Eligible: latent suspension at least ``days + lag_days`` before the data end.
    Event: the actor's next account in the data was created within ``days``.
    """
    end = pl.lit(data_end).cast(pl.Datetime("us", "UTC"))
    df = truth_s.filter(pl.col("suspended_at").is_not_null()).with_columns(
        ((end - pl.col("suspended_at")).dt.total_seconds() / 86400).alias("fu"),
        ((pl.col("next_created") - pl.col("suspended_at")).dt.total_seconds()
         / 86400).alias("d"))
    el = df.filter(pl.col("fu") >= days + lag_days)
    ev = el.filter(pl.col("d").is_not_null() & (pl.col("d") <= days)).height
    return (ev / el.height if el.height else float("nan")), el.height


__all__ = ["np", "observable_truth", "precision_recall", "true_rate"]
