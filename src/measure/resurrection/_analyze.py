"""The resurrection analysis: settings -> stages -> result.

:func:`analyze` checks its options, gathers the blocking and model knobs into a
:class:`~measure.resurrection._settings.LinkageSettings` and composes the stages
of :mod:`measure.resurrection._stages`: suspension events, blocking, scoring,
assignment and measures. References: Fellegi & Sunter (1969), *JASA* 64,
1183-1210; Kaplan & Meier (1958), *JASA* 53, 457-481; Rubin (1987), *Multiple
Imputation for Nonresponse in Surveys*.
"""

from __future__ import annotations

import os
import time
from typing import Any

import polars as pl

from measure._cohort import Cohort, parse_where
from measure._contract import dataset_id
from measure.errors import ConfigError, EstimationError
from measure.resurrection._blocking import AllocatorPurging
from measure.resurrection._result import ResurrectionResult
from measure.resurrection._settings import PER_KEY_BY, LinkageSettings
from measure.resurrection._stages import (
    assign,
    block,
    measure_returns,
    score,
    suspension_events,
)
from measure.resurrection._successors import (
    check_mode,
    successor_agreement,
    successor_sheet,
)


def where_label(where: Any) -> str | None:
    """Text of a ``where`` filter as recorded in ``options`` (``lang = ar and ...``).

    Parameters
    ----------
    where
        A filter in any form :func:`measure._cohort.parse_where` reads, or ``None``.

    Returns
    -------
    str or None
        The parts as ``column operator value[,value...]`` joined with ``" and "``;
        ``None`` when there is no filter.
    """
    parts = parse_where(where)
    if not parts:
        return None
    return " and ".join(f"{col} {op} {','.join(vals)}" for col, op, vals in parts)


def _source_label(x: Any, what: str) -> str | None:
    """Short text of a cohort, labels or audit argument for ``options``."""
    if x is None:
        return None
    if isinstance(x, str | os.PathLike):
        return str(x)
    if isinstance(x, Cohort):
        return x.name
    try:
        n = len(x)
    except TypeError:
        return f"given {what}"
    return f"{n:,} given {what}"


def analyze(  # noqa: PLR0913
    ds: Any,
    *,
    window: float = 60,
    threshold: float | None = None,
    target_precision: float = 0.95,
    cohort: Any = None,
    where: Any = None,
    labels: pl.DataFrame | None = None,
    audit: Any = None,
    successors: str | None = "report",
    horizons: tuple[float, ...] = (7, 30, 60),
    rate_days: float = 30,
    discovery_lag_days: float = 0.0,
    n_imputations: int = 20,
    n_boot: int = 200,
    level: float = 0.95,
    follower_age_days: float = 14,
    follower_age_tol_days: float = 7,
    per_key: int = 20,
    per_key_by: dict[str, int] | None = PER_KEY_BY,
    max_key_freq: int = 30,
    min_shared_followers: int = 2,
    max_hub: int = 1000,
    u_random_pairs: int = 50_000,
    time_candidates: int = 0,
    grouped: bool = True,
    fuzzy_handles: bool = True,
    backup_days: float = 60,
    seed: int = 0,
    settings: LinkageSettings | None = None,
    decoys: bool = False,
    n_decoys: int = 3,
) -> ResurrectionResult:
    """Link returning accounts to suspended ones and measure resurrection.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset` with ``accounts`` and ``observations`` (``edges``
        adds the follower-overlap comparison).
    window
        Days after the first ``suspended`` look-up within which a successor must be
        created (or first seen when ``created_at`` is absent). The window opens
        at the last ``active`` look-up, or ``backup_days`` earlier (see there).
    threshold
        Keep links with one-to-one probability at or above this; ``None`` picks the
        lowest threshold (>= 0.5) whose kept links have expected precision
        ``target_precision``.
    target_precision
        See ``threshold``.
    cohort
        Restrict the suspended accounts studied (path, ids, or frame with
        ``account_id``); successors may be any account.
    where
        Restrict the suspended accounts studied by their ``accounts`` columns
        (``"lang=ar"``, a list of such parts or a mapping; values bound as data).
    labels
        Optional labelled pairs ``previous, new, match`` (bool); when given, a
        supervised logistic model replaces EM.
    audit
        Optional coded audit sheet (path or frame; drawn with
        ``result.draw_audit`` / ``--audit-out`` from an analysis with the same
        options). The link draws behind the measures then use probabilities
        recalibrated on it (``logit p' = a + b logit p``, design-weighted, refitted
        on a stratified bootstrap of the audit in each draw); the accepted links
        are unchanged.
    successors
        What to do with the dataset's optional ``successors`` table (links the
        platform itself reported, such as Mastodon's ``moved``): ``"report"``
        (default) scores the accepted links against its labelled pairs
        (``result.successors``: precision, recall and the labelled pairs outside
        the suspension events, counted by reason); ``"audit"`` also uses the
        labelled predecessors' candidate pairs as a coded audit sample to
        recalibrate the link probabilities behind the measures, as ``audit=``
        does with a hand audit (give one or the other); ``"ignore"`` (or
        ``None``) skips the table. The estimand stays about suspensions: an
        account that moved (``deactivated``) is not a suspension event, so its
        pair is counted as outside the linker's scope. ``"audit"`` is valid only
        when carrying a platform label is unrelated to whether a candidate pair
        matches, given the model's probability (the audit's missing-at-random
        assumption); announced moves usually leave stronger traces than covert
        returns, which makes recalibration on them alone optimistic (see
        :mod:`measure.resurrection._successors`).
    horizons
        Days at which the return rate is reported (``rate_days`` is always added).
    rate_days
        The headline horizon (30: ``rate_30d``).
    discovery_lag_days
        Allowance for the time the collection needs to find a new account: the
        ``d``-day rate is computed over the accounts known alive at least ``d`` +
        this many days before the data end, and the curve's follow-up ends this
        many days before the data end. 0 (default) measures the returns the data
        show (as the simulator's ``rate_30d_observable``); about the collection's
        discovery delay (the simulator's has mean 10 days) counts only accounts
        whose returns had time to be found, which is closer to the latent rate.
    n_imputations
        Link draws for multiple imputation (Rubin's rules).
    n_boot
        Bootstrap replicates (each with its own link draw) for the median delay
        and the follower recovery ratios.
    level
        Confidence level.
    follower_age_days, follower_age_tol_days
        Followers of a new account are read at the look-up nearest to this age
        (within the tolerance).
    per_key, max_key_freq, min_shared_followers, max_hub
        Blocking caps: candidates per suspended account and key kind (nearest in
        time kept; for shared followers the largest Jaccard overlap of the
        follower sets, hubs left out); a key value held by more than
        ``max_key_freq`` accounts created in one 30-day
        period is not used to block in that period (common there: weak
        evidence, costly joins; the default 30 is about 100 over the 60 days
        after a suspension, which touch 3 or 4 periods (a window opened 60
        backup days earlier touches 4 or 5), and kept the 1M x 2M benchmark
        under 8 GiB with ``backup_days=0``); minimum shared
        followers for the follower-overlap block; followers of more than
        ``max_hub`` accounts are ignored when blocking.
    per_key_by
        Caps for some key kinds instead of ``per_key`` (kinds: ``stem``,
        ``display_name``, ``avatar``, ``bio``, ``bio_letters``, ``followers``,
        ``handle_edit``);
        default :data:`PER_KEY_BY` (5 for display names); ``{}`` uses
        ``per_key`` for every kind.
    u_random_pairs
        Random (suspended, account created in its window) pairs from which the
        non-match level probabilities ``u`` of every comparison are estimated
        (splink's random sampling); the prior of a pair is then one over the
        accounts in the window, and EM estimates only ``m`` and the share of
        suspended accounts with a successor. 0 estimates ``u`` by EM on the
        blocked candidates (biased by the blocking: a blocked non-match agrees on
        a key by construction).
    time_candidates
        Also make the accounts created nearest in time to each suspension
        candidates (this many), whatever they share: returns that left no trace in
        the profile or the followers then still carry probability (few per pair,
        many together). Off (0) by default: on the small world 100 of them
        raise the pairs sevenfold (6,615 to 47,374) and the 30-day rate by about
        0.01 only, because EM cannot tell how many returns left no trace.
    fuzzy_handles
        Also block on handles one edit apart (one-deletion neighbourhood of the
        stem); costs about ``len(stem)`` keys per account.
    grouped
        Fit EM with at most one successor per suspended account (default); else
        the classic pairwise Fellegi-Sunter mixture.
    backup_days
        Also seek successors created up to this many days before the first
        ``suspended`` look-up (never before the suspended account itself):
        *backups* an actor opens while the old account is still alive. Such a
        link counts as a return at delay 0, and the time-gap comparison has a
        level of its own for "created before the last active look-up". 0 opens
        the window at the last active look-up (no backups).
    seed
        Seed of the link draws, the random pairs and the bootstrap.
    settings
        The blocking and model knobs (``per_key`` ... ``backup_days``) as one
        :class:`LinkageSettings`; give either this or the keywords (a keyword
        left at its default is ignored when ``settings`` is given).
    decoys
        Also run the decoy check (:mod:`measure.resurrection._decoys`): each
        suspended account is blocked and scored against another suspended
        account's window, with the model fitted on the data, to estimate the
        false links per probability band without labels and an upper bound
        for the rates (``result.diagnostics``). Each decoy set costs about
        one more blocking of the data, hence off by default.
    n_decoys
        Decoy sets (independent draws of partner windows) when ``decoys``.

    Returns
    -------
    ResurrectionResult
        Its ``options`` record every option above: the numbers and flags as
        given, the ``where`` filter as text (:func:`where_label`), ``cohort``,
        ``labels`` and ``audit`` as a file path or a count of the rows given,
        and the linkage knobs under ``settings``
        (:meth:`LinkageSettings.to_dict`).

    Notes
    -----
    ``analyze`` is the composition of the public stages
    :func:`suspension_events`, :func:`block`, :func:`score`, :func:`assign` and
    :func:`measure_returns` (see :mod:`measure.resurrection._stages`). The rate
    is a Kaplan-Meier estimate of the time to return with censoring at the end
    of observation (see :mod:`measure.resurrection._measures` for the
    assumptions); linkage uncertainty is carried through by multiple imputation.
    References: Fellegi & Sunter (1969); Kaplan & Meier (1958); Rubin (1987);
    Wright et al. (2016), "Resurgent insurgents"; Berger & Perez (2016).
    """
    for name, v in (("window", window), ("rate_days", rate_days)):
        if not v > 0:
            raise ConfigError(f"option '{name}' must be positive days, got {v!r}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigError(f"option 'threshold' must be a probability in [0, 1], got "
                          f"{threshold!r}")
    if not 0 < target_precision < 1:
        raise ConfigError("option 'target_precision' must be in (0, 1)")
    if not 0 < level < 1:
        raise ConfigError("option 'level' must be in (0, 1)")
    if n_imputations < 2:
        raise ConfigError("option 'n_imputations' must be at least 2")
    if decoys and n_decoys < 1:
        raise ConfigError("option 'n_decoys' must be at least 1")
    mode = check_mode(successors, audit)
    where_text = where_label(where)
    knobs = LinkageSettings(
        per_key=per_key, per_key_by=per_key_by, max_key_freq=max_key_freq,
        min_shared_followers=min_shared_followers, max_hub=max_hub,
        u_random_pairs=u_random_pairs, time_candidates=time_candidates,
        grouped=grouped, fuzzy_handles=fuzzy_handles, backup_days=backup_days)
    if settings is None:
        settings = knobs
    elif knobs != LinkageSettings():
        given = [k for k, v in knobs.to_dict().items()
                 if v != LinkageSettings().to_dict()[k]]
        raise ConfigError(f"give the linkage knobs either as settings= or as "
                          f"keywords, not both (keywords given: {', '.join(given)})")
    options = {
        "window": float(window), "threshold": threshold,
        "target_precision": target_precision,
        "cohort": _source_label(cohort, "accounts"), "where": where_text,
        "labels": _source_label(labels, "labelled pairs"),
        "audit": _source_label(audit, "coded pairs"), "successors": mode,
        "horizons": list(horizons), "rate_days": float(rate_days),
        "discovery_lag_days": discovery_lag_days,
        "n_imputations": n_imputations, "n_boot": n_boot, "level": level,
        "follower_age_days": follower_age_days,
        "follower_age_tol_days": follower_age_tol_days, "seed": seed,
        "decoys": bool(decoys), "n_decoys": n_decoys,
        "settings": settings.to_dict()}
    # freed DuckDB memory goes back to the system between the stages
    with AllocatorPurging(ds.con):
        t0 = time.perf_counter()
        events = suspension_events(ds, window=window, cohort=cohort, where=where,
                                   settings=settings)
        if events.n_suspended == 0:
            raise EstimationError(
                "no account in the cohort was ever seen 'suspended' in "
                "'observations'; nothing to link (check the cohort ids)")
        cands = block(ds, events, settings, seed=seed)
        scores = score(cands, settings, labels=labels)
        links = assign(scores, events, threshold=threshold,
                       target_precision=target_precision)
        agreement = (None if mode == "ignore" else successor_agreement(
            ds, events, scores, links, level=level, recalibrated=mode == "audit"))
        if mode == "audit":
            if agreement is None:
                raise ConfigError("successors='audit' needs a 'successors' table; the "
                                  "dataset has none")
            audit = successor_sheet(agreement, scores, links)
        returns = measure_returns(
            ds, events, scores, links, audit=audit, horizons=horizons,
            rate_days=rate_days, discovery_lag_days=discovery_lag_days,
            n_imputations=n_imputations, n_boot=n_boot, level=level,
            follower_age_days=follower_age_days,
            follower_age_tol_days=follower_age_tol_days, seed=seed)
        diagnostics = None
        t_dec = 0.0
        if decoys and cands.n_pairs:
            from measure.resurrection._decoys import decoy_diagnostics

            diagnostics = decoy_diagnostics(
                ds, events, cands, scores, links, settings, rates=returns.rates,
                n_decoys=n_decoys, discovery_lag_days=discovery_lag_days, seed=seed)
            t_dec = diagnostics.seconds
        warnings = [*events.warnings, *cands.warnings, *scores.warnings]
        if cands.n_pairs == 0:
            warnings.append("no candidate successors were found for any suspended "
                            "account")
        timings = {"events_keys": events.seconds, **cands.timings,
                   "model": scores.seconds, "assign": links.seconds,
                   "measures": returns.seconds, "decoys": t_dec,
                   "total": time.perf_counter() - t0}
        return ResurrectionResult(
            n_suspended=events.n_suspended, n_pairs=cands.n_pairs,
            pairs_by_key=cands.pairs_by_key, n_linked=links.n_linked,
            n_backup=links.n_backup, backup_days=events.backup_days,
            threshold=links.threshold, expected_precision=links.expected_precision,
            rates=returns.rates, rate_days=returns.rate_days,
            median_delay=returns.median_delay,
            follower_recovery=returns.follower_recovery,
            incarnations=returns.incarnations,
            method=(returns.method.replace(
                "a hand audit of", "the successors table's labelled pairs, as an "
                "audit of") if mode == "audit" else returns.method),
            links=links.links, lineages=links.lineages, pairs=scores.pairs,
            model=scores.model, curve=returns.curve, window=float(window),
            data_end=events.data_end, level=level, warnings=tuple(warnings),
            dataset=dataset_id(ds),
            successors=agreement, diagnostics=diagnostics, timings=timings,
            options=options)
