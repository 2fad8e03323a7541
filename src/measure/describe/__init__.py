"""Describing the population: who the accounts are and how they behave.

:func:`analyze` profiles a cohort (the census's predicted supporters, the labelled
supporters, every account, or a list of ids): distributions of followers, friends,
statuses, account age and tweets per day; language and location shares; creation
months; *abu*/*umm*/*bint* name tokens; share active in the last N days; in-network
follower share; hyperactive accounts; a control-group comparison; activity before
suspension; and the network size per look-up day. Methodology appendix E6, E7,
E10, E11.

Examples
--------
>>> import measure
>>> from measure.describe import analyze
>>> res = analyze(measure.open("data/processed/world"))      # doctest: +SKIP
>>> res.estimate("followers_median")                          # doctest: +SKIP
>>> res.table("languages")                                    # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from measure._contract import dataset_id
from measure.dataset import Dataset, open_dataset
from measure.describe import _sql
from measure.describe._cohort import (
    COHORT_SOURCES,
    Cohort,
    read_cohort_file,
    register,
    registered,
    resolve_cohort,
    where_label,
)
from measure.describe._compare import (
    ComparisonResult,
    activity_before_suspension,
    before_suspension_table,
    compare_estimates,
)
from measure.describe._hyperactive import (
    HYPERACTIVE_COLUMNS,
    HYPERACTIVE_PER_DAY,
    THRESHOLDS,
    HyperactiveResult,
    half_volume_k,
    hyperactive,
)
from measure.describe._profile import (
    NAME_TOKENS,
    NUMERIC_VARS,
    account_table,
    normalise_location,
    profile,
)
from measure.describe._result import DescribeResult
from measure.describe._scan import scan_observations, use_semi_join
from measure.describe._series import size_series
from measure.errors import ConfigError

ACTIVITY_SOURCES = ("auto", "tweets", "lookups")


def _is_dataset_dir(x: Any) -> bool:
    if isinstance(x, Dataset):
        return True
    if isinstance(x, str | os.PathLike):
        p = Path(x)
        return p.is_dir()
    return False


def _known(ds: Dataset, cohort: Cohort, warnings: list[str]) -> Cohort:
    """Drop cohort ids that the accounts table lacks (with a warning)."""
    register(ds, cohort)
    known = ds.sql(_sql.KNOWN_IDS)
    if known.height < cohort.n:
        warnings.append(f"{cohort.n - known.height} of {cohort.n} ids of cohort "
                        f"'{cohort.name}' are not in the accounts table; left out")
        return Cohort(cohort.name, known.select("account_id", "weight"))
    return cohort


def _profile_one(ds: Dataset, cohort: Cohort, network: Any, *, level: float,
                 n_boot: int, seed: int, active_days: int, burst_hours: int,
                 activity_source: str, keep_replicates: bool):
    register(ds, cohort)
    net = cohort if network is None else resolve_cohort(ds, network)
    if ds.has("crawls") and ds.has("edges"):  # the in-network share needs it
        register(ds, net, network=True)
    scan = None
    if ds.has("observations"):
        scan = scan_observations(ds, cohort.frame["account_id"],
                                 semi=use_semi_join(ds, cohort.n))
    df, info = account_table(ds, cohort, burst_hours=burst_hours,
                             activity_source=activity_source, scan=scan)
    if scan is not None:  # the account table holds these columns now
        scan = replace(scan, latest=scan.latest.clear(),
                       activity=scan.activity.clear())
    ests, tables, reps = profile(df, info, cohort, level=level, n_boot=n_boot,
                                 seed=seed, active_days=active_days,
                                 keep_replicates=keep_replicates)
    return df, info, ests, tables, reps, scan


def analyze(  # noqa: C901, PLR0913
    ds: Dataset | str | os.PathLike[str],
    cohort: Any = None,
    control: Any = None,
    *,
    where: Any = None,
    network: Any = None,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    active_days: int = 30,
    burst_hours: int = 24,
    hyperactive_per_day: float = HYPERACTIVE_PER_DAY,
    activity_source: str = "auto",
    series: bool = True,
) -> DescribeResult:
    """Profile a cohort of accounts, optionally against a control group.

    Parameters
    ----------
    ds
        An open dataset or its directory.
    cohort
        ``None`` (the census ``population`` table if present, else labelled
        supporters, else every account), ``"population"``, ``"labelled"``,
        ``"all"``, a cohort file (Parquet/CSV with ``account_id`` and optional
        ``weight``, or one id per line), a polars DataFrame or a list of ids.
    control
        A second cohort in the same dataset (any form ``cohort`` accepts), or a
        second dataset (directory or :class:`~measure.Dataset`) whose accounts are
        all the control group (census Appendix B).
    where
        Keep only the cohort's accounts whose ``accounts`` row satisfies this
        filter: ``"lang=ar"``, ``"followers>100 and lang in ar,fr"``, a list of
        such parts or a mapping ``{"lang": "ar"}`` (values bound as data, never
        pasted into SQL). The control group is not filtered.
    network
        Accounts counted as "in network" for the in-network follower share (any
        cohort form); default the cohort itself.
    level
        Confidence level of every interval.
    n_boot, seed
        Bootstrap replicates and seed (results are reproducible for a seed).
    active_days
        N of "share active in the last N days", counted back from the end of the
        activity record (the last tweet in ``tweets``, else the latest look-up).
    burst_hours
        Window of the burst score.
    hyperactive_per_day
        Tweets per day above which an account is hyperactive (census: 50).
    activity_source
        ``"auto"`` (tweets table when present, else look-up deltas), ``"tweets"``
        or ``"lookups"``.
    series
        Also compute the network-size series per look-up day.

    Returns
    -------
    DescribeResult

    Notes
    -----
    Counts come from each account's latest ``active`` look-up. Intervals treat the
    cohort as a random sample of the population it describes (weighted by inverse
    inclusion probabilities when the cohort carries them, as labelled supporters do
    when ``labels.inclusion_prob`` is present): Wilson intervals for shares,
    seeded percentile bootstrap for means, distribution-free order-statistic
    intervals for quantiles. When the cohort *is* the
    whole population, the intervals describe a superpopulation. In-network shares
    from incomplete follower lists are lower bounds. Activity before suspension
    compares the cohort with the control (latest active look-up before any
    suspension) or, without a control, the cohort's later-suspended accounts with
    those never seen suspended.

    References
    ----------
    Berger & Morgan (2015), *The ISIS Twitter Census* (sections 1-2, Appendix B);
    Conway et al. (2017), *Disrupting Daesh*; Berger & Perez (2016), *The Islamic
    State's Diminishing Returns on Twitter*.
    """
    if activity_source not in ACTIVITY_SOURCES:
        raise ConfigError(f"invalid value {activity_source!r} for option "
                          f"'activity_source'; valid values are: "
                          + ", ".join(repr(v) for v in ACTIVITY_SOURCES))
    if not 0 < level < 1:
        raise ConfigError(f"level must lie in (0, 1); got {level}")
    own = not isinstance(ds, Dataset)
    if own:
        ds = open_dataset(ds)
    ds.require("describe")
    opts = dict(level=level, n_boot=n_boot, seed=seed, active_days=active_days,
                burst_hours=burst_hours, activity_source=activity_source)
    with registered(ds):
        warnings: list[str] = []
        coh = resolve_cohort(ds, cohort, where=where)
        if coh.name != "all accounts":  # ids read from accounts need no check
            coh = _known(ds, coh, warnings)
        if coh.n == 0:
            raise ConfigError(f"the cohort '{coh.name}' is empty; give a cohort with "
                              "accounts (--cohort FILE) or check the labels")
        df, info, ests, tables, reps, scan = _profile_one(
            ds, coh, network, keep_replicates=control is not None, **opts)
        if info.get("incomplete_lists"):
            warnings.append(f"{info['incomplete_lists']} follower list(s) incomplete: "
                            "in-network follower shares are lower bounds")
        missing_obs = int(df["last_active_at"].null_count())
        if missing_obs:
            warnings.append(f"{missing_obs} of {coh.n} cohort accounts have no active "
                            "look-up: their counts are missing, not zero")
        src = info["activity_source"]
        # the rest needs only these columns: let the others go
        df = df.select(HYPERACTIVE_COLUMNS)
        hyp = None
        if src in ("tweets", "lookups"):
            hyp = hyperactive(df, src, burst_hours=burst_hours, level=level,
                              n_boot=n_boot, seed=seed,
                              hyperactive_per_day=hyperactive_per_day)
        ser = size_series(ds, level=level, scan=scan) if series else None
        # before-suspension table of the cohort (needs observations)
        before_a = before_suspension_table(ds, scan) if scan is not None else None
        comp = before = None
        if control is not None:
            if _is_dataset_dir(control) and not (
                    isinstance(control, str | os.PathLike) and Path(control).is_file()):
                cds = control if isinstance(control, Dataset) else open_dataset(control)
                ccoh = resolve_cohort(cds, "all", name=f"control dataset {cds.name}")
            else:
                cds = ds
                ccoh = _known(ds, resolve_cohort(ds, control, name="control"), warnings)
            with registered(cds):  # a control dataset's tables too
                if ccoh.n == 0:
                    raise ConfigError("the control group is empty")
                _, _, cests, _, creps, cscan = _profile_one(
                    cds, ccoh, None, keep_replicates=True,
                    **{**opts, "seed": seed + 1})
                comp = compare_estimates(
                    "profile against control", (coh.name, ccoh.name), ests, reps,
                    cests, creps, level=level, n_boot=n_boot, seed=seed)
                if before_a is not None and cscan is not None:
                    before_b = before_suspension_table(cds, cscan)
                    before = activity_before_suspension(
                        {coh.name: (before_a, coh), ccoh.name: (before_b, ccoh)},
                        suspended_only=False, level=level, n_boot=n_boot, seed=seed)
            if cds is not ds and not isinstance(control, Dataset):
                cds.close()
            register(ds, coh)
        elif before_a is not None and before_a["suspended"].any() and not (
                before_a["suspended"].all()):
            before = activity_before_suspension(
                {"suspended later": (before_a.filter("suspended"), coh),
                 "not suspended": (before_a.filter(~pl.col("suspended")), coh)},
                suspended_only=False, level=level, n_boot=n_boot, seed=seed)
        res = DescribeResult(
            cohort=coh.name, n_accounts=coh.n, estimates=tuple(ests), tables=tables,
            hyperactive=hyp, comparison=comp, before_suspension=before, series=ser,
            reference_time=info.get("reference_time"), activity_source=src,
            warnings=tuple(warnings),
            options={**opts, "hyperactive_per_day": hyperactive_per_day,
                     "weighted": coh.weighted,
                     "where": None if where is None else where_label(where)},
            dataset=dataset_id(ds))
    if own:
        ds.close()
    return res


__all__ = [
    "ACTIVITY_SOURCES", "COHORT_SOURCES", "HYPERACTIVE_PER_DAY", "NAME_TOKENS",
    "NUMERIC_VARS", "THRESHOLDS", "Cohort", "ComparisonResult", "DescribeResult",
    "HyperactiveResult", "account_table", "activity_before_suspension", "analyze",
    "before_suspension_table", "compare_estimates", "half_volume_k", "hyperactive",
    "normalise_location", "profile", "read_cohort_file", "resolve_cohort",
    "size_series",
]
