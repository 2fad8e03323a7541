"""Lifetimes of accounts from a status panel (``observations``).

For every account looked up at least once, the panel gives:

* ``origin``: the time the clock starts -- ``accounts.created_at`` (``origin=
  "created"``) or the first time the collection saw the account (``"first_seen"``:
  ``accounts.first_seen``, else the first look-up);
* ``entry``: the first look-up that found the account alive. The account is in the
  data only because it was still alive then, so it enters the risk set late (left
  truncation, "delayed entry"); it was not watched from its birth;
* ``left``: the last look-up that found it alive (before its first terminal look-up);
* ``right``: the first look-up that found it ``suspended`` (event) or ``not_found``/
  ``deactivated`` (competing event: owner deletion or rename), or ``inf`` when the
  account was alive at its last look-up (right-censored at ``left``).

The event time lies in ``(left, right]`` (interval censoring). The midpoint
approximation puts it at ``(left + right) / 2``. All times are in days since origin.

Accounts whose first look-up already found them suspended or gone were never observed
at risk: under left truncation they carry no information about the survival of the
population and are excluded (and counted). Accounts without the origin timestamp are
excluded (and counted) too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl

from measure._cohort import parse_where as parse_where  # re-exported
from measure._cohort import resolve_cohort, where_sql
from measure.churn import _sql
from measure.dataset import Dataset
from measure.errors import ConfigError, DataContractError, EstimationError

DAY_US = 86_400_000_000
#: Event codes of the ``event`` column.
CENSORED, SUSPENDED, DELETED = 0, 1, 2

@dataclass(frozen=True)
class Lifetimes:
    """Per-account lifetimes (one row per account at risk) and exclusion counts.

    Attributes
    ----------
    frame
        polars DataFrame: ``account_id``, ``group`` (the ``by`` value, or ``"all"``),
        ``entry``, ``left``, ``right`` (days since origin, ``inf`` if censored),
        ``time`` (midpoint for events, ``left`` when censored), ``event`` (0 censored,
        1 suspended, 2 deleted), the calendar timestamps ``origin_at``, ``entry_at``,
        ``exit_at`` (midpoint or last alive look-up), ``returned_at`` (first alive
        look-up after a terminal one, when any), and any covariate columns.
    origin
        ``"created"`` or ``"first_seen"``.
    excluded
        Counts of accounts left out, by reason.
    by
        The stratifying column, if any.
    """

    frame: pl.DataFrame
    origin: str
    excluded: dict[str, int] = field(default_factory=dict)
    by: str | None = None
    covariates: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of accounts at risk at some time."""
        return self.frame.height

    def arrays(self) -> dict[str, np.ndarray]:
        """``entry, left, right, time, event`` as numpy arrays."""
        return {c: self.frame[c].to_numpy() for c in
                ("entry", "left", "right", "time", "event")}


def read_cohort(ds: Dataset,
                cohort: str | os.PathLike[str] | Iterable[Any] | pl.DataFrame
                ) -> pl.DataFrame:
    """Read a cohort's ids in any form :func:`measure._cohort.resolve_cohort` reads."""
    c = resolve_cohort(ds, cohort)
    if c is None:
        raise ConfigError("no cohort given")
    return c.ids


def build_lifetimes(  # noqa: C901, PLR0912
    ds: Dataset,
    *,
    origin: str = "created",
    cohort: Any = None,
    where: Any = None,
    by: str | None = None,
    covariates: Sequence[str] = (),
) -> Lifetimes:
    """Build per-account lifetimes from ``observations`` (see the module docstring).

    Parameters
    ----------
    ds
        Dataset with ``observations`` (and ``accounts`` for origin/filters).
    origin
        ``"created"`` (``accounts.created_at``) or ``"first_seen"``.
    cohort
        Restrict to these accounts (file path, DataFrame with ``account_id`` or ids).
    where
        Restricted filter on ``accounts`` columns (see :func:`parse_where`).
    by
        An ``accounts`` column to stratify by.
    covariates
        ``accounts`` columns, or ``followers_at_entry``/``statuses_at_entry``
        (``log1p`` of the counts at the first active look-up), kept for Cox models.

    Returns
    -------
    Lifetimes
    """
    ds.require("observations")
    eng = ds.engine
    if eng.name == "duckdb":
        # DuckDB's progress bar writes to stdout, which would corrupt `--json` output
        try:
            eng.execute("SET enable_progress_bar = false")
        except duckdb.Error:  # already fixed by the connection's configuration
            pass
    cohort_sql = ""
    if cohort is not None:
        ids = read_cohort(ds, cohort)
        eng.register("_churn_cohort", ids.to_arrow())
        cohort_sql = _sql.COHORT_JOIN
    try:
        looks = eng.sql(_sql.LOOKUP_SUMMARY.format(cohort=cohort_sql))
        entry_counts = None
        want = [c for c in covariates if c in _sql.ENTRY_COUNT_COLUMNS
                and ds.has_column("observations", _sql.ENTRY_COUNT_COLUMNS[c])]
        if want:
            items = ",\n    ".join(_sql.ENTRY_COUNT_ITEM.format(
                src=_sql.ENTRY_COUNT_COLUMNS[c], name=c) for c in want)
            entry_counts = eng.sql(_sql.ENTRY_COUNTS.format(cohort=cohort_sql,
                                                            columns=items))
    finally:
        if cohort is not None:
            eng.drop("_churn_cohort")
    excluded: dict[str, int] = {}
    if cohort is not None:
        excluded["cohort_not_looked_up"] = int(ids.height - looks.height)
    looks = looks.with_columns(
        pl.min_horizontal("first_suspended", "first_gone").alias("first_terminal"))
    # accounts seen alive again after their first terminal look-up
    fix = looks.filter(pl.col("first_terminal").is_not_null()
                       & (pl.col("last_alive_any") > pl.col("first_terminal")))
    looks = looks.with_columns(pl.col("last_alive_any").alias("last_alive"),
                               pl.lit(None, pl.Datetime("us", "UTC"))
                               .alias("returned_at"))
    if fix.height:
        eng.register("_churn_fix", fix.select("account_id", "first_terminal")
                     .to_arrow())
        try:
            before = eng.sql(_sql.LAST_ALIVE_BEFORE)
            returned = eng.sql(_sql.RETURNED)
        finally:
            eng.drop("_churn_fix")
        looks = (looks.join(before.rename({"last_alive": "_la"}), on="account_id",
                            how="left")
                 .join(returned.rename({"returned_at": "_ra"}), on="account_id",
                       how="left")
                 .with_columns(
                     pl.when(pl.col("account_id").is_in(fix["account_id"].implode()))
                     .then(pl.col("_la")).otherwise(pl.col("last_alive"))
                     .alias("last_alive"),
                     pl.col("_ra").alias("returned_at"))
                 .drop("_la", "_ra"))
    # attributes
    acc_cols: list[str] = []
    need_accounts = origin == "created" or where is not None or by is not None or any(
        c not in _sql.ENTRY_COUNT_COLUMNS for c in covariates)
    if origin == "created":
        acc_cols.append("created_at")
    elif ds.has_column("accounts", "first_seen"):
        acc_cols.append("first_seen")
    if by is not None and by not in acc_cols:
        acc_cols.append(by)
    for c in covariates:
        if c not in _sql.ENTRY_COUNT_COLUMNS and c not in acc_cols:
            acc_cols.append(c)
    if need_accounts or acc_cols:
        if not ds.has("accounts"):
            raise DataContractError(
                "is missing; it is needed for the origin (created_at), --where, --by "
                "and covariates; use origin='first_seen' without filters",
                table="accounts")
        for c in acc_cols:
            if not ds.has_column("accounts", c):
                what = ("the time origin; use origin='first_seen'" if c ==
                        "created_at" else "a requested column")
                raise DataContractError(
                    f"column is missing but needed as {what} (columns present: "
                    f"{', '.join(ds.columns('accounts'))})",
                    table="accounts", column=c)
        pred, params = where_sql(ds, where, alias="a")
        cols_sql = "".join(", a." + _sql.quote_ident(c) for c in acc_cols)
        attrs = eng.sql(_sql.ACCOUNT_ATTRIBUTES.format(columns=cols_sql,
                                                       where=pred), params)
        how = "inner" if where is not None else "left"
        n0 = looks.height
        looks = looks.join(attrs, on="account_id", how=how)
        if where is not None:
            excluded["filtered_out_by_where"] = n0 - looks.height
    if entry_counts is not None:
        looks = looks.join(entry_counts, on="account_id", how="left")
    # origin
    if origin == "created":
        looks = looks.with_columns(pl.col("created_at").alias("origin_at"))
    else:
        fs = pl.col("first_look")
        if "first_seen" in looks.columns:
            fs = pl.min_horizontal(pl.col("first_seen"), pl.col("first_look"))
        looks = looks.with_columns(fs.alias("origin_at"))
    n_no_origin = looks.filter(pl.col("origin_at").is_null()).height
    if n_no_origin:
        excluded["no_origin_time"] = n_no_origin
    looks = looks.filter(pl.col("origin_at").is_not_null())
    never_alive = (pl.col("first_alive").is_null()
                   | (pl.col("first_terminal").is_not_null()
                      & (pl.col("first_alive") > pl.col("first_terminal"))))
    n_never = looks.filter(never_alive).height
    if n_never:
        excluded["terminal_at_first_look"] = n_never
    looks = looks.filter(~never_alive)
    susp = pl.col("first_suspended")
    gone = pl.col("first_gone")
    event = (pl.when(pl.col("first_terminal").is_null()).then(CENSORED)
             .when(susp.is_not_null() & (gone.is_null() | (susp <= gone)))
             .then(SUSPENDED).otherwise(DELETED).cast(pl.Int8))

    def days(col: pl.Expr) -> pl.Expr:
        return ((col - pl.col("origin_at")).dt.total_microseconds()
                / DAY_US).clip(lower_bound=0.0)

    out = looks.with_columns(event.alias("event")).with_columns(
        days(pl.col("first_alive")).alias("entry"),
        days(pl.col("last_alive")).alias("left"),
        pl.when(pl.col("event") == CENSORED).then(math.inf)
        .otherwise(days(pl.col("first_terminal"))).alias("right"),
    )
    out = out.with_columns(
        pl.when(pl.col("event") == CENSORED).then(pl.col("left"))
        .otherwise((pl.col("left") + pl.col("right")) / 2).alias("time"),
        pl.when(pl.col("event") == CENSORED).then(pl.col("last_alive"))
        .otherwise(pl.col("last_alive")
                   + (pl.col("first_terminal") - pl.col("last_alive")) / 2)
        .alias("exit_at"),
        pl.col("first_alive").alias("entry_at"),
    )
    group = (pl.col(by).cast(pl.Utf8).fill_null("(missing)") if by is not None
             else pl.lit("all"))
    covs = []
    for c in covariates:
        if c in _sql.ENTRY_COUNT_COLUMNS:
            if c not in out.columns:
                raise DataContractError(
                    f"has no column {_sql.ENTRY_COUNT_COLUMNS[c]!r}, needed for the "
                    f"covariate {c!r}; drop that covariate",
                    table="observations", column=_sql.ENTRY_COUNT_COLUMNS[c])
            out = out.with_columns(pl.col(c).cast(pl.Float64).log1p().alias(c))
        covs.append(c)
    keep = ["account_id", "group", "entry", "left", "right", "time", "event",
            "origin_at", "entry_at", "exit_at", "returned_at", *covs]
    out = out.with_columns(group.alias("group")).select(keep).sort("account_id")
    if out.height == 0:
        raise EstimationError(
            "no account was ever looked up alive in the selection (check the cohort, "
            "--where filter and origin); nothing to estimate")
    return Lifetimes(frame=out, origin=origin, excluded=excluded, by=by,
                     covariates=tuple(covs))
