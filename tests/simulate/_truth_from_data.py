"""An independent derivation of the resurrection truth the data can show.

Used only by ``test_truth_in_data.py`` to check the simulator's own bookkeeping
(``Truth.observable_links``, ``Truth.rate_in_data``); the resurrection tests
score against the simulator's methods (``tests/resurrection/_links.py``).

Definitions (the estimator's population and clock; ``docs/resurrection.md``):

*Observable links*: an actor's accounts that are in the ``accounts`` table, in
incarnation order; each consecutive pair ``(a, b)`` where ``a`` was seen suspended
(a ``suspended`` look-up) is a link the data can show. ``b`` may skip an account
the collection never found (``a1 -> a3`` when ``a2`` is not in the data): the data
cannot show ``a2``, and ``a3`` is the same actor's return. The simulator's own
``Truth.links().observable`` is stricter (true predecessor only); the difference is
reported by ``skip_links``. Recall counts links whose ``b`` was created within the
search window after ``a``'s first ``suspended`` look-up.

*Observable d-day rate*: among the accounts seen suspended whose last ``active``
look-up (their ``first_seen`` when there is none) lies at least ``d + lag`` days
before the last look-up in the data, the share whose actor's next account in the
data was created at most ``d`` days after the true suspension. This is the
simulator's ``rate_30d_observable`` (``docs/simulation.md``) with two
differences that make it the quantity the estimator can see: every account seen
suspended counts (the simulator's counts supporters only; the data cannot tell a
suspended background account from a supporter who never returns), and the actor's
next account *in the data* counts (as for links).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from measure.simulate import load_truth

_SEEN = """
SELECT o.account_id,
       min(o.observed_at) FILTER (WHERE o.status = 'suspended') AS first_suspended,
       max(o.observed_at) FILTER (WHERE o.status = 'active') AS last_active
FROM observations o
GROUP BY o.account_id
HAVING bool_or(o.status = 'suspended')
"""


def observable_truth(ds, path, window: float = 60.0):
    """Observable links and per-suspended-account truth.

    Returns
    -------
    links
        ``previous, new, created_new, first_suspended, linkable`` (linkable: the
        new account was created within ``window`` days of the first suspended
        look-up).
    susp
        ``account_id, suspended_at, next_created, known_alive`` for every account
        seen suspended (``known_alive``: last active look-up, else first seen).
    data_end
        Last look-up time.
    """
    tr = load_truth(path).accounts
    acc = ds.sql("SELECT account_id, first_seen FROM accounts")
    acc = acc.with_columns(pl.col("first_seen").dt.convert_time_zone("UTC"))
    fs = ds.sql(_SEEN).with_columns(
        pl.col("first_suspended").dt.convert_time_zone("UTC"),
        pl.col("last_active").dt.convert_time_zone("UTC"))
    data_end = ds.sql("SELECT max(observed_at) AS e FROM observations")["e"][0]
    sup = tr.filter(pl.col("actor_id").is_not_null()
                    & pl.col("account_id").is_in(acc["account_id"].implode()))
    sup = sup.sort("actor_id", "incarnation").with_columns(
        pl.col("account_id").shift(-1).over("actor_id").alias("next_id"),
        pl.col("created_at").shift(-1).over("actor_id").alias("next_created"))
    links = sup.join(fs.select("account_id", "first_suspended"), on="account_id")
    links = links.filter(pl.col("next_id").is_not_null()).select(
        pl.col("account_id").alias("previous"), pl.col("next_id").alias("new"),
        pl.col("next_created").alias("created_new"), "first_suspended")
    links = links.with_columns(
        (pl.col("created_new") <= pl.col("first_suspended")
         + pl.duration(days=window)).alias("linkable"))
    susp = fs.join(acc, on="account_id", how="left").with_columns(
        pl.coalesce(
            "last_active",
            pl.when(pl.col("first_seen") < pl.col("first_suspended"))
            .then(pl.col("first_seen")), "first_suspended").alias("known_alive"))
    susp = susp.select("account_id", "known_alive").join(
        tr.select("account_id", "suspended_at"), on="account_id", how="left").join(
        sup.select("account_id", "next_created"), on="account_id", how="left")
    return links, susp, data_end


def skip_links(links: pl.DataFrame, path) -> int:
    """How many observable links skip an account the data never show."""
    strict = load_truth(path).links().select(
        pl.col("predecessor_id").alias("previous"), pl.col("account_id").alias("new"))
    return links.join(strict, on=["previous", "new"], how="anti").height


def true_rate(susp: pl.DataFrame, data_end: dt.datetime, days: float = 30.0,
              lag_days: float = 0.0) -> tuple[float, int]:
    """Observable ``days``-day return rate (see the module docstring).

    Eligible: known alive at least ``days + lag_days`` before the data end.
    Event: the actor's next account in the data was created within ``days`` of
    the true suspension.
    """
    end = pl.lit(data_end).cast(pl.Datetime("us", "UTC"))
    df = susp.with_columns(
        ((end - pl.col("known_alive")).dt.total_seconds() / 86400).alias("fu"),
        ((pl.col("next_created") - pl.col("suspended_at")).dt.total_seconds()
         / 86400).alias("d"))
    el = df.filter(pl.col("fu") >= days + lag_days)
    ev = el.filter(pl.col("d").is_not_null() & (pl.col("d") <= days)).height
    return (ev / el.height if el.height else float("nan")), el.height


__all__ = ["observable_truth", "skip_links", "true_rate"]
