"""The stages of successor linking, each a public function with a frozen output.

``analyze`` is the composition::

    events = suspension_events(ds, window=60, cohort=None, settings=settings)
    candidates = block(ds, events, settings, seed=0)
    scores = score(candidates, settings, labels=None)
    links = assign(scores, events, threshold=None, target_precision=0.95)
    returns = measure_returns(ds, events, scores, links, ...)

Each stage runs its SQL steps (:mod:`measure.resurrection._sql`) with its own
:class:`~measure._steps.StepRunner` and drops every table it made before it
returns: nothing is left on the dataset's connection between stages, and the
outputs (polars frames, numpy arrays, the fitted model) are all a later stage
reads. Each output carries the :class:`~measure._steps.StepLog` (time and rows
per SQL step) and the stage's wall time.

Methods: Fellegi, I. P. & Sunter, A. B. (1969). A theory for record linkage.
*JASA* 64, 1183-1210 (model); Kaplan, E. L. & Meier, P. (1958). *JASA* 53,
457-481 and Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in
Surveys* (rates under linkage uncertainty); Berger, J. M. & Perez, H. (2016).
*The Islamic State's Diminishing Returns on Twitter* (follower recovery).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._cohort import resolve_cohort
from measure._results import Estimate
from measure._steps import StepLog, StepRunner
from measure.errors import ConfigError, EstimationError
from measure.resurrection import _blocking as B
from measure.resurrection import _sql as Q
from measure.resurrection._assign import (
    LinkSampler,
    exclusive_probability,
    exclusive_probability_codes,
    incarnation_numbers,
    lineages,
    threshold_for_precision,
)
from measure.resurrection._assign import assign as greedy_links
from measure.resurrection._features import (
    COMPARISONS,
    FEATURES,
    account_keys,
    compare,
    stem_stratum,
    window_key_holders,
    window_time_gap_counts,
)
from measure.resurrection._fellegi_sunter import (
    FSModel,
    GroupedEM,
    fit_em,
    fit_logit,
    predict_em,
    predict_logit,
    u_from_random_pairs,
)
from measure.resurrection._measures import (
    DAY,
    _days,
    blocking_recall,
    conditional_median,
    horizon_times,
    kaplan_meier,
    key_system_codes,
    ratio_by_incarnation,
    recovery_ratios,
    return_times_np,
    rubin_rate,
    unseen_probability,
)
from measure.resurrection._settings import KEY_BITS, LinkageSettings

# comparisons whose non-match distribution comes from random pairs (the time gap
# and follower overlap of random pairs say nothing about blocked non-matches)
RANDOM_U = ("handle", "display_name", "bio", "avatar", "lang")

# columns of ``Candidates.window_sizes``: accounts of the window at each time-gap
# level
TIME_GAP_COLUMNS = tuple(
    f"n_time_gap_{lvl}"
    for lvl in range(len(COMPARISONS[FEATURES.index("time_gap")].levels)))

# column of ``Candidates.window_sizes``: accounts other than the suspended one
# holding its handle stem (the handle's term-frequency adjustment)
TF_HANDLE_COLUMN = "n_stem_others"

# EM iterations of each bootstrap refit (warm-started from the fit on the data)
REFIT_MAX_ITER = 20
# Above this many candidate pairs the bootstrap refits are skipped unless asked
# for: each costs seconds, and the parameter part of the variance is then small
# against the within-imputation part (1M suspended accounts, 14.4M pairs: the
# 30-day interval was (0.4877, 0.4898) with and without refits)
REFIT_MAX_PAIRS = 5_000_000
# the returns whose successor shares no key are drawn from their own random
# stream (seeded with this and the seed), so that the link draws are the same
# with and without them
UNSEEN_STREAM = 7817

# added to the rate's assumptions when the link probabilities are the EM model's
# own (no audit, no labels); the figures it refers to are in docs/calibration.md
UNAUDITED = (
    "the link probabilities are not audited: returns that left little trace (an "
    "incarnation the collection never found, no shared key) are undercounted, so "
    "the rate tends to be low; on simulated worlds its interval covered the "
    "observable rate close to its level where the linkage model fits and too "
    "rarely where actors evade linking (the stress worlds; coverage in "
    "docs/calibration.md); draw an audit sheet (draw_audit, --audit-out), code it "
    "and pass it back (audit=, --audit) to recalibrate them"
)

RATE_ASSUMPTIONS = (
    "the d-day rate is the share of the suspended accounts observed for at least "
    "d days (plus the discovery lag) after their last active look-up whose actor "
    "returned within d days; the curve over all accounts assumes the end of "
    "observation (censoring) is independent of when actors return",
    "suspension happened at the midpoint between the last time the account was "
    "known alive (last active look-up, else first seen) and the first suspended "
    "look-up; a successor created before the suspension (a backup, made at or "
    "before the last active look-up) returns at delay 0",
    "only returns whose new account the collection discovered are counted "
    "(rate of observable returns)",
    "links are correct with their model probability (Fellegi-Sunter conditional "
    "independence, or the supervised model's calibration)",
)


# -- outputs --------------------------------------------------------------------
@dataclass(frozen=True)
class SuspensionEvents:
    """Output of :func:`suspension_events`.

    Attributes
    ----------
    suspended
        One row per suspended account of the cohort, sorted by id:
        ``account_id, last_active, first_suspended, followers_at_suspension,
        created, first_seen`` and the successor search window ``lower_t,
        upper_t`` (times UTC), opened ``backup_days`` back for backups.
    accounts
        Every account's blocking keys and comparison strings
        (:func:`~measure.resurrection._features.account_keys`) with ``kx``, its
        row number: the pool of candidate successors.
    data_end, data_start
        Last and first look-up.
    window
        Days after the first suspended look-up within which a successor is
        sought.
    backup_days
        Days before the first suspended look-up from which a successor is
        sought (``LinkageSettings.backup_days``; 0: from the last active
        look-up).
    """

    suspended: pl.DataFrame = field(repr=False)
    accounts: pl.DataFrame = field(repr=False)
    data_end: Any
    data_start: Any
    window: float
    backup_days: float = 0.0
    warnings: tuple[str, ...] = ()
    log: StepLog = field(default_factory=StepLog, repr=False, compare=False)
    seconds: float = field(default=0.0, compare=False)

    @property
    def n_suspended(self) -> int:
        """Suspended accounts in the cohort."""
        return self.suspended.height


@dataclass(frozen=True)
class Candidates:
    """Output of :func:`block`: candidate pairs with their comparison levels.

    Attributes
    ----------
    pairs
        One row per candidate (previous, new) pair, sorted by ``previous, new``:
        ``keys`` (bit mask of the blocking keys shared, see
        :data:`~measure.resurrection._settings.KEY_BITS`), the raw and binned
        comparisons of :func:`~measure.resurrection._features.compare`,
        ``created_new`` and ``first_suspended``.
    random_pairs
        The same comparisons for random (suspended, account created in its
        window) pairs, sorted by ``previous, new`` (``None`` when
        ``u_random_pairs`` is 0 or no account is suspended).
    window_sizes
        ``previous, n_window``: accounts created in each suspended account's
        search window, and ``n_time_gap_0`` ... ``n_time_gap_5``: how many of
        them are at each time-gap level (their pair with the suspended account
        would get that level); the grouped model's per-window time-gap ``u``;
        ``n_stem_others``: accounts of the dataset holding the suspended
        account's handle stem, other than itself and those created in its
        window (0 without a stem): the stratum of the handle's ``u``
        (term-frequency adjustment).
    n_window_pairs
        Sum of ``n_window``: the population the random pairs are drawn from.
    pairs_by_key
        Candidate rows contributed by each key kind (before pairs are merged).
    timings
        Seconds spent on ``blocking`` (SQL and pair tables) and on ``features``
        (comparisons of the candidate and the random pairs).
    """

    pairs: pl.DataFrame = field(repr=False)
    random_pairs: pl.DataFrame | None = field(repr=False)
    window_sizes: pl.DataFrame = field(repr=False)
    n_window_pairs: float
    pairs_by_key: dict[str, int]
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    log: StepLog = field(default_factory=StepLog, repr=False, compare=False)

    @property
    def n_pairs(self) -> int:
        """Number of candidate pairs."""
        return self.pairs.height


@dataclass(frozen=True)
class Scores:
    """Output of :func:`score`: match probabilities of the candidate pairs.

    Attributes
    ----------
    pairs
        The candidate pairs with ``p_pair`` (the model's probability) and
        ``probability`` (one-to-one: normalised among rival candidates).
    model
        The fitted ``FSModel`` (EM) or ``LogitModel`` (labels); ``None`` when
        there was no candidate pair.
    supervised
        Whether labelled pairs (a logistic model) replaced EM.
    refit
        Refits of the EM model on bootstrap resamples of the suspended accounts
        (:class:`EMRefit`; ``None`` for the supervised model or without
        pairs): :func:`measure_returns` draws each imputation's links from one.
    """

    pairs: pl.DataFrame = field(repr=False)
    model: Any = field(repr=False)
    supervised: bool = False
    warnings: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)
    refit: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Links:
    """Output of :func:`assign`: accepted one-to-one links and lineages.

    Attributes
    ----------
    links
        ``new, previous, probability, delay_days, created_new, backup`` (delay
        from the midpoint suspension time; ``backup``: the successor was created
        at or before the predecessor's last active look-up, so before the
        suspension; its delay is 0).
    lineages
        ``actor_id, accounts`` (in time order), ``n_accounts``; every suspended
        account is in exactly one.
    threshold
        The probability threshold used.
    expected_precision
        Mean probability of the accepted links (nan with none).
    """

    links: pl.DataFrame = field(repr=False)
    lineages: pl.DataFrame = field(repr=False)
    threshold: float
    expected_precision: float
    seconds: float = field(default=0.0, compare=False)

    @property
    def n_linked(self) -> int:
        """Number of accepted links."""
        return self.links.height

    @property
    def n_backup(self) -> int:
        """Accepted links to a successor created before the suspension."""
        if "backup" not in self.links.columns:
            return 0
        return int(self.links["backup"].sum())


@dataclass(frozen=True)
class ReturnMeasures:
    """Output of :func:`measure_returns`.

    Attributes
    ----------
    rates
        Return rate within ``d`` days (an ``Estimate`` per horizon).
    rate_days
        The headline horizon.
    curve
        ``day, rate, ci_low, ci_high``: the time-to-return curve (all accounts).
    median_delay
        Median return delay among returns within the window.
    follower_recovery
        Follower ratio by incarnation number of the new account.
    incarnations
        Number of presumed actors by count of accounts in their lineage.
    method
        How the rates were computed (model, draws, recalibration).
    unseen
        With ``unseen_returns``: ``blocking_recall`` (mean over the draws of
        the estimated share of successors that share a blocking key),
        ``unseen_probability`` (mean probability that an account without a
        drawn link has a successor outside its candidates) and
        ``unseen_per_draw`` (mean number of such returns drawn); empty
        otherwise.
    """

    rates: dict[float, Estimate]
    rate_days: float
    curve: pl.DataFrame = field(repr=False)
    median_delay: Estimate
    follower_recovery: dict[int, Estimate]
    incarnations: dict[int, int]
    method: str
    seconds: float = field(default=0.0, compare=False)
    log: StepLog = field(default_factory=StepLog, repr=False, compare=False)
    unseen: dict[str, float] = field(default_factory=dict)


# -- stage 1 --------------------------------------------------------------------
def suspension_events(ds: Any, *, window: float = 60, cohort: Any = None,
                      where: Any = None, settings: LinkageSettings | None = None
                      ) -> SuspensionEvents:
    """Suspended accounts, their suspension intervals and successor windows.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset` with ``accounts`` and ``observations``.
    window
        Days after the first ``suspended`` look-up within which a successor
        must be created.
    cohort
        Restrict the suspended accounts studied (any form
        :func:`measure._cohort.resolve_cohort` reads: a Parquet/CSV file with
        ``account_id`` or a text file of ids, a polars or pandas frame with
        ``account_id``, or a sequence of ids).
    where
        Restrict the suspended accounts studied by their ``accounts`` columns
        (:func:`measure._cohort.parse_where`: ``"lang=ar"``, a list of such
        parts or a mapping; values bound as data). Successors are still sought
        among all accounts.
    settings
        Linkage settings; their ``backup_days`` opens the windows (defaults
        when ``None``). Give :func:`block` the same settings.

    Returns
    -------
    SuspensionEvents

    Notes
    -----
    The suspension lies between the last ``active`` look-up and the first
    ``suspended`` one (interval censoring). A successor is sought among the
    accounts created at most ``window`` days after the first suspended look-up
    and after the window opens: at the last time the account was known alive
    (its last active look-up, else its creation), or earlier, at the later of
    its creation (first sighting when the creation is unknown) and
    ``settings.backup_days`` before the first suspended look-up. The earlier
    opening admits *backups*, accounts an actor creates before the old one is
    suspended, so that it is present again at once.
    """
    if not window > 0:
        raise ConfigError(f"option 'window' must be positive days, got {window!r}")
    settings = settings or LinkageSettings()
    ds.require("resurrection")
    t0 = time.perf_counter()
    warnings: list[str] = []
    with StepRunner(ds.con) as run:
        data_end, data_start = run.run(Q.DATA_END, fetch="rows")[0]
        if data_end is None:
            raise EstimationError("table 'observations' is empty: no look-ups, no "
                                  "suspensions to study")
        run.run(Q.EVENTS)
        acc = B.accounts_frame(ds, run)
        if not ds.has_column("accounts", "lang"):
            warnings.append("no 'lang' column: language comparison not used")
        id_dtype = acc.schema["account_id"]
        keys = account_keys(acc).with_row_index("kx")
        del acc
        run.register("accounts", keys.select("account_id", "t_new", "first_seen"))
        coh = resolve_cohort(ds, cohort, where=where)
        cdf = (B.cast_ids(coh.ids, id_dtype) if coh is not None
               else pl.DataFrame({"account_id": pl.Series([], dtype=id_dtype)}))
        run.register("cohort", cdf)
        susp = B.utc(run.run(Q.SUSPENDED, {
            "window": int(math.ceil(window)), "use_cohort": coh is not None,
            "backup_days": float(settings.backup_days)}))
    return SuspensionEvents(suspended=susp, accounts=keys, data_end=data_end,
                            data_start=data_start, window=float(window),
                            backup_days=float(settings.backup_days),
                            warnings=tuple(warnings), log=run.log,
                            seconds=time.perf_counter() - t0)


# -- stage 2 --------------------------------------------------------------------
def block(ds: Any, events: SuspensionEvents, settings: LinkageSettings | None = None,
          *, seed: int = 0) -> Candidates:
    """Candidate successors of the suspended accounts, with comparison levels.

    Parameters
    ----------
    ds
        The dataset of ``events`` (``edges`` adds the follower block and the
        follower-overlap comparison).
    events
        Output of :func:`suspension_events`.
    settings
        Blocking knobs (:class:`LinkageSettings`; when ``None``, the defaults
        with the ``backup_days`` of ``events``).
    seed
        The random pairs are drawn with ``seed + 7919``.

    Returns
    -------
    Candidates

    Notes
    -----
    A candidate is created in the suspended account's window and shares a key
    with it (handle stem, one-edit handle keys, display name, avatar, bio,
    bio letters, shared followers), among the ``per_key`` nearest per key kind;
    see :mod:`measure.resurrection._sql`. Blocking bounds recall: a successor
    that shares no key is never scored. The window is that of ``events``
    (opened ``backup_days`` before the first suspended look-up): every block,
    the random pairs and the window sizes use it.

    Raises
    ------
    ConfigError
        When ``settings.backup_days`` is not the value ``events`` were made
        with (the windows are drawn by :func:`suspension_events`).
    """
    if settings is None:
        settings = LinkageSettings(backup_days=events.backup_days)
    elif float(settings.backup_days) != events.backup_days:
        raise ConfigError(
            f"the suspension events were made with backup_days="
            f"{events.backup_days:g} but the settings say "
            f"{settings.backup_days:g}; give suspension_events and block the "
            "same settings")
    t1 = time.perf_counter()
    keys, susp = events.accounts, events.suspended
    warnings: list[str] = []
    with StepRunner(ds.con) as run:
        run.register("keys_df", B.key_codes(keys))
        run.run(Q.KEYS_TABLE, {"bucket": B.PERIOD_S})
        run.drop("keys_df")
        run.register("suspended_df", susp.select(
            "account_id", "last_active", "first_suspended", "lower_t", "upper_t"))
        run.run(Q.SUSP_TABLE)
        run.drop("suspended_df")
        run.run(Q.BLOCKS_TABLE)
        for kind, step in Q.KEY_BLOCKS:
            run.run(step, {"per_key": settings.cap(kind), "bucket": B.PERIOD_S,
                           "max_key_freq": settings.max_key_freq})
        if settings.fuzzy_handles:
            # before the follows table exists: the one-deletion keys are the
            # largest table of blocking, and the two need not be held together
            B.edit_block(run, keys, susp, settings.cap("handle_edit"),
                         settings.max_key_freq)
        if ds.has("edges"):
            run.run(Q.FOLLOWS_WITH_RELATION if ds.has_column("edges", "relation")
                    else Q.FOLLOWS_NO_RELATION)
        else:
            run.run(Q.FOLLOWS_EMPTY)
            warnings.append("no 'edges' table: follower overlap is not used")
        if settings.time_candidates:
            run.run(Q.BLOCK_TIME, {"per_key": settings.time_candidates})
        run.run(Q.BLOCK_FOLLOWERS, {
            "per_key": settings.cap("followers"), "bucket": B.PERIOD_S,
            "min_shared": settings.min_shared_followers, "max_hub": settings.max_hub})
        n_by_bit = dict(run.run(Q.BLOCK_COUNTS, fetch="rows"))
        by_key = {k: int(n_by_bit.get(bit, 0)) for k, bit in KEY_BITS.items()}
        win, acc, lo, hi = B.windows(susp, keys)
        # random pairs (suspended x window account) for the non-match u; the same
        # pair steps compute their fields
        rand = None
        t_rand = 0.0  # comparing the random pairs counts as features
        if settings.u_random_pairs and susp.height:
            run.register("random_df", B.random_pairs(
                win, acc, lo, hi, settings.u_random_pairs,
                seed + B.RANDOM_PAIRS_SEED_OFFSET))
            run.run(Q.RANDOM_PAIRS)
            run.run(Q.FOLLOWER_COUNTS)
            run.run(Q.SHARED_FOLLOWERS)
            frame = B.utc(B.gather_frame(keys, run.run(Q.PAIR_FRAME)))
            t_rand = time.perf_counter()
            rand = compare(frame).sort("previous", "new")
            t_rand = time.perf_counter() - t_rand
            del frame
            run.drop("random_df", "pairs", "nfol", "shared")
        run.run(Q.PAIRS)
        run.run(Q.FOLLOWER_COUNTS)
        run.run(Q.SHARED_FOLLOWERS)
        run.drop("blocks", "follows")  # give DuckDB's memory to the features
        t2 = time.perf_counter()
        feats = _features(run, keys)
    sizes = pl.DataFrame({"previous": win["account_id"],
                          "n_window": (hi - lo).astype(np.float64)})
    if win.height:
        counts = window_time_gap_counts(
            acc["t_new"].dt.epoch("us").to_numpy(), lo, hi,
            win["first_suspended"].dt.epoch("us").to_numpy(),
            win["last_active"].dt.epoch("us").cast(pl.Float64).to_numpy())
    else:
        counts = np.zeros((0, len(TIME_GAP_COLUMNS)), dtype=np.int64)
    sizes = sizes.with_columns(pl.Series(c, counts[:, lvl], dtype=pl.Int64)
                               for lvl, c in enumerate(TIME_GAP_COLUMNS))
    sizes = sizes.with_columns(pl.Series(TF_HANDLE_COLUMN,
                                         _stem_others(keys, win), dtype=pl.Float64))
    return Candidates(pairs=feats, random_pairs=rand, window_sizes=sizes,
                      n_window_pairs=float((hi - lo).sum()), pairs_by_key=by_key,
                      warnings=tuple(warnings), log=run.log,
                      timings={"blocking": t2 - t1 - t_rand,
                               "features": time.perf_counter() - t2 + t_rand})


def _stem_others(keys: pl.DataFrame, win: pl.DataFrame) -> np.ndarray:
    """Per window (``win`` rows), the other holders of its account's stem.

    The accounts of the dataset other than the suspended one that hold its
    handle stem, less those created in its own window (its successor, when it
    kept the stem, is one of them: counted, it would make the stratum say
    whether the account returned with its stem). 0 without a stem.
    """
    if win.height == 0:
        return np.zeros(0)
    own = win.select(pl.col("account_id").cast(keys.schema["account_id"])).join(
        keys.select("account_id", pl.col("stem").hash(0).alias("h"), "stem_n"),
        on="account_id", how="left", maintain_order="left")
    h = pl.when(keys["stem"].is_not_null()).then(keys["stem"].hash(0))
    inside = window_key_holders(
        keys["t_new"].dt.epoch("us"), pl.select(h).to_series(),
        win["lower_t"].dt.epoch("us").to_numpy(),
        win["upper_t"].dt.epoch("us").to_numpy(), own["h"])
    n_own = own["stem_n"].fill_null(1).to_numpy().astype(np.float64) - 1.0
    return np.maximum(n_own - inside, 0.0)


def _features(run: StepRunner, keys: pl.DataFrame) -> pl.DataFrame:
    """Comparison features of the ``pairs`` table, batch by batch.

    Only ids, numbers and levels are kept, never the strings of millions of
    pairs at once; sorted by ``previous, new`` (DuckDB's parallel joins do not
    fix row order, and the candidates of a suspended account must be runs).
    """
    parts = []
    for batch in run.stream(Q.PAIR_FRAME, batch_size=B.FEATURE_BATCH):
        fr = B.utc(B.gather_frame(keys, batch))
        parts.append(compare(fr).with_columns(fr["created_new"],
                                              fr["first_suspended"]))
    if not parts:
        fr = B.utc(B.gather_frame(keys, run.run(Q.PAIR_FRAME_EMPTY)))
        parts.append(compare(fr).with_columns(fr["created_new"], fr["first_suspended"]))
    return _sorted_by_pair(pl.concat(parts, rechunk=False))


def _sorted_by_pair(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by ``previous, new``, one column at a time.

    A frame sort copies every column at once; gathering column by column and
    dropping each source column as it goes keeps the peak at the frame plus one
    column (tens of millions of pairs carry a dozen numeric columns).
    """
    order = frame.select(pl.arg_sort_by("previous", "new")).to_series()
    cols = frame.get_columns()
    del frame
    out = []
    while cols:
        out.append(cols.pop(0).gather(order))
    return pl.DataFrame(out)


# -- stage 3 --------------------------------------------------------------------
def score(candidates: Candidates, settings: LinkageSettings | None = None, *,
          labels: pl.DataFrame | None = None) -> Scores:
    """Match probabilities of the candidate pairs.

    Parameters
    ----------
    candidates
        Output of :func:`block`.
    settings
        Model knobs (``grouped``; ``u_random_pairs`` acts through the random
        pairs of ``candidates``).
    labels
        Optional labelled pairs ``previous, new, match``: a supervised logistic
        model replaces EM.

    Returns
    -------
    Scores

    Notes
    -----
    Fellegi-Sunter by EM assumes the comparisons independent given match
    status; the grouped model (default) allows at most one successor per
    suspended account, with ``u`` from the candidates and the random window
    pairs (two strata), except the time gap's: the level shares of each
    suspended account's own window (``candidates.window_sizes``). See
    :mod:`measure.resurrection._fellegi_sunter`.
    """
    settings = settings or LinkageSettings()
    t0 = time.perf_counter()
    feats = candidates.pairs
    warnings: list[str] = []
    # the levels as stored (int8): a copy as int64 would take 8 bytes per level
    # of every pair
    bins = feats.select([f"bin_{f}" for f in FEATURES]).to_numpy()
    if not np.issubdtype(bins.dtype, np.integer):
        bins = bins.astype(np.int64)
    model: Any
    if labels is not None:
        id_dtype = feats.schema["previous"]
        lab = labels.select("previous", "new", pl.col("match").cast(pl.Int8))
        lab = lab.with_columns(pl.col("previous").cast(id_dtype),
                               pl.col("new").cast(id_dtype))
        joined = feats.select("previous", "new").with_row_index("_i").join(
            lab, on=["previous", "new"], how="inner")
        n_missing = lab.height - joined.height
        if n_missing:
            warnings.append(f"{n_missing} labelled pair(s) are not among the "
                            "candidate pairs (blocking missed them or they fall "
                            "outside the window)")
        idx = joined["_i"].to_numpy()
        bins = bins.astype(np.int64)
        model = fit_logit(bins[idx], joined["match"].to_numpy())
        p_pair = predict_logit(model, bins)
    elif feats.height:
        model, p_pair, refit = _fit_em(feats, bins, candidates, settings.grouped)
        if not model.converged:
            warnings.append(f"EM did not converge in {model.n_iter} iterations")
    else:
        model = None
        p_pair = np.zeros(0)
    scored = feats.with_columns(pl.Series("p_pair", p_pair, dtype=pl.Float64))
    scored = scored.with_columns(pl.Series("probability", exclusive_probability(
        scored, rows=not (settings.grouped and labels is None)), dtype=pl.Float64))
    return Scores(pairs=scored, model=model, supervised=labels is not None,
                  warnings=tuple(warnings), seconds=time.perf_counter() - t0,
                  refit=refit if labels is None and feats.height else None)


class EMRefit:
    """Refits of the EM model on bootstrap resamples of the suspended accounts.

    One refit draws a nonparametric bootstrap resample of the suspended
    accounts (each with its candidate pairs and its random window pairs; as
    multinomial counts), refits the model on it starting from the fit on the
    data, for at most ``max_iter`` iterations, and returns the one-to-one link
    probabilities of *all* candidate pairs under the refitted parameters. Link
    sets drawn from them carry the uncertainty of the model's parameters as
    well as that of the links given the parameters: a proper multiple
    imputation (Rubin 1987, ch. 4; Little & Rubin 2019, sec. 10.2.3, the
    bootstrap for drawing the parameters).

    Parameters
    ----------
    model
        The fit on the data (the warm start).
    unit_of_group, unit_of_random
        Bootstrap unit (suspended account, ``0 .. n_units - 1``) of each
        suspended account with candidates (``0 .. G - 1``) and of each random
        pair.
    group
        ``0 .. G - 1``: each pair's suspended account.
    unit_window
        Accounts in each unit's window (for the resample's window pairs).
    em
        Prepared grouped EM (the grouped model), else ``None``.
    bins, random_bins
        Levels of the pairs and of the random pairs (the pairwise model).
    new_code
        Dense codes of the pairs' new accounts (the exclusivity among rival
        predecessors).
    """

    def __init__(self, model: FSModel, *, unit_of_group: np.ndarray,
                 group: np.ndarray,
                 unit_of_random: np.ndarray | None, unit_window: np.ndarray | None,
                 n_units: int, new_code: np.ndarray, em: GroupedEM | None = None,
                 bins: np.ndarray | None = None,
                 random_bins: np.ndarray | None = None) -> None:
        self.model = model
        self.unit_of_group = unit_of_group
        self.group = group
        self.unit_of_random = unit_of_random
        self.unit_window = unit_window
        self.n_units = n_units
        self.new_code = new_code
        self.em = em
        self.bins = bins
        self.random_bins = random_bins
        self.n_iter: list[int] = []

    def probabilities(self, rng: np.random.Generator,
                      max_iter: int = REFIT_MAX_ITER) -> np.ndarray:
        """One bootstrap refit: the one-to-one probability of every pair."""
        w = rng.multinomial(self.n_units, np.full(self.n_units, 1.0 / self.n_units)
                            ).astype(np.float64)
        w_rand = (None if self.unit_of_random is None
                  else w[self.unit_of_random])
        if self.em is not None:
            group_w = w[self.unit_of_group]
            nwp = (None if self.unit_window is None
                   else float(np.sum(w * self.unit_window)))
            fit = self.em.fit(weights=group_w, random_weights=w_rand,
                              n_window_pairs=nwp, init=self.model, max_iter=max_iter)
            self.n_iter.append(fit.n_iter)
            return exclusive_probability_codes(self.em.predict(fit), self.em.group,
                                               self.new_code, rows=False)
        assert self.bins is not None
        fixed_u = None
        if self.random_bins is not None:
            u_all = u_from_random_pairs(self.random_bins, w_rand)
            fixed_u = {k: u_all[k] for k in RANDOM_U}
        fit = fit_em(self.bins, fixed_u=fixed_u,
                     weights=w[self.unit_of_group][self.group], init=self.model,
                     max_iter=max_iter)
        self.n_iter.append(fit.n_iter)
        return exclusive_probability_codes(predict_em(fit, self.bins), self.group,
                                           self.new_code, rows=True)


def _fit_em(feats: pl.DataFrame, bins: np.ndarray, candidates: Candidates,
            grouped: bool) -> tuple[Any, np.ndarray, EMRefit]:
    """Fit the Fellegi-Sunter model by EM.

    Returns the model, the pair probabilities, and the bootstrap refits.
    """
    fixed_u = None
    rand_bins = rand_idx = None
    cu = candidates.random_pairs
    if cu is not None and cu.height:
        rand_bins = cu.select([f"bin_{f}" for f in FEATURES]).to_numpy().astype(
            np.int64)
        u_all = u_from_random_pairs(rand_bins)
        fixed_u = {k: u_all[k] for k in RANDOM_U}
        # random pairs that are also candidates: their row in feats
        rand_idx = cu.select("previous", "new").join(
            feats.select("previous", "new").with_row_index("_i").filter(
                pl.col("previous").is_in(cu["previous"].unique().implode())),
            on=["previous", "new"], how="left", maintain_order="left")[
            "_i"].fill_null(-1).to_numpy().astype(np.int64)
    # feats is sorted by previous: group codes are the runs (a dense rank)
    starts = B.run_starts(feats["previous"])
    group = B.run_codes(starts, feats.height)
    # bootstrap units: the suspended accounts (with candidates, random pairs,
    # or a window)
    first = feats.select("previous")[starts]
    parts = [first]
    if cu is not None and cu.height:
        parts.append(cu.select("previous"))
    parts.append(candidates.window_sizes.select(
        pl.col("previous").cast(first.schema["previous"])))
    units = pl.concat(parts).unique(maintain_order=True).with_row_index("_u")
    unit_of_group = first.join(units, on="previous", how="left",
                               maintain_order="left")["_u"].to_numpy().astype(np.int64)
    unit_of_random = (None if rand_bins is None else
                      cu.select("previous").join(units, on="previous", how="left",
                                                 maintain_order="left")[
                          "_u"].to_numpy().astype(np.int64))
    unit_window = units.join(candidates.window_sizes.select(
        pl.col("previous").cast(first.schema["previous"]), "n_window"),
        on="previous", how="left", maintain_order="left")[
        "n_window"].fill_null(0.0).to_numpy().astype(np.float64)
    new_code = feats["new"].rank("dense").to_numpy().astype(np.int64) - 1
    if not grouped:
        bins = bins.astype(np.int64)
        model = fit_em(bins, fixed_u=fixed_u)
        refit = EMRefit(model, unit_of_group=unit_of_group, group=group,
                        unit_of_random=unit_of_random, unit_window=None,
                        n_units=units.height, new_code=new_code, bins=bins,
                        random_bins=rand_bins)
        return model, predict_em(model, bins), refit
    n_cand = n_window_pairs = window_counts = None
    if rand_bins is not None:
        # with u from all pairs, the prior of each pair is 1 over all accounts
        # in the window, not over the blocked candidates
        win = first.join(candidates.window_sizes, on="previous", how="left",
                         maintain_order="left")
        n_cand = win["n_window"].fill_null(1.0).to_numpy()
        n_window_pairs = candidates.n_window_pairs
        if set(TIME_GAP_COLUMNS) <= set(win.columns):
            # the time gap's u: each suspended account's own window (all its
            # accounts, at the level their pair with it would get)
            window_counts = {"time_gap": win.select(TIME_GAP_COLUMNS).fill_null(0)
                             .to_numpy().astype(np.float64)}
    em = GroupedEM(bins, group, n_cand=n_cand, random_bins=rand_bins,
                   random_idx=rand_idx, n_window_pairs=n_window_pairs,
                   window_counts=window_counts,
                   u_strata=_stem_strata(first, candidates.window_sizes, cu))
    model = em.fit()
    refit = EMRefit(model, unit_of_group=unit_of_group, group=group,
                    unit_of_random=unit_of_random,
                    unit_window=unit_window if n_window_pairs is not None else None,
                    n_units=units.height, new_code=new_code, em=em)
    return model, em.predict(model), refit


def _stem_strata(first: pl.DataFrame, window_sizes: pl.DataFrame,
                 random_pairs: pl.DataFrame | None
                 ) -> dict[str, tuple[np.ndarray, np.ndarray | None]] | None:
    """Term-frequency strata of the handle's ``u`` (``GroupedEM(u_strata=...)``).

    ``first``: the ``previous`` of each group; the stratum of a suspended
    account is :func:`~measure.resurrection._features.stem_stratum` of its
    ``n_stem_others`` (``window_sizes``), that of a random pair its suspended
    account's. ``None`` when the window sizes lack the counts.
    """
    if TF_HANDLE_COLUMN not in window_sizes.columns:
        return None
    ws = window_sizes.select(pl.col("previous").cast(first.schema["previous"]),
                             TF_HANDLE_COLUMN)

    def of(prev: pl.DataFrame) -> np.ndarray:
        n = prev.join(ws, on="previous", how="left", maintain_order="left")[
            TF_HANDLE_COLUMN].fill_null(0.0).to_numpy()
        return stem_stratum(n)

    rand = (None if random_pairs is None or random_pairs.height == 0
            else of(random_pairs.select("previous")))
    return {"handle": (of(first), rand)}


# -- stage 4 --------------------------------------------------------------------
def assign(scores: Scores, events: SuspensionEvents, *,
           threshold: float | None = None, target_precision: float = 0.95) -> Links:
    """One-to-one links above a threshold, their delays, and lineages.

    Parameters
    ----------
    scores
        Output of :func:`score`.
    events
        Output of :func:`suspension_events` (suspension intervals, cohort).
    threshold
        Keep links with one-to-one probability at or above this; ``None`` picks
        the lowest threshold (>= 0.5) whose kept links have mean probability
        (expected precision) ``target_precision``.
    target_precision
        See ``threshold``.

    Returns
    -------
    Links

    Notes
    -----
    Links are taken greedily, highest probability first, each account used at
    most once on each side (:func:`measure.resurrection._assign.assign`). A
    link whose successor was created at or before the predecessor's last
    active look-up is a *backup* (``backup`` column): the actor opened it
    before the suspension; its delay is 0 (a return at the suspension), as in
    the rate.
    """
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigError(f"option 'threshold' must be a probability in [0, 1], got "
                          f"{threshold!r}")
    if not 0 < target_precision < 1:
        raise ConfigError("option 'target_precision' must be in (0, 1)")
    t0 = time.perf_counter()
    scored, susp = scores.pairs, events.suspended
    thr = (threshold if threshold is not None
           else threshold_for_precision(scored["probability"].to_numpy(),
                                        target_precision))
    accepted = greedy_links(scored, thr)
    expected_precision = (float(accepted["probability"].mean())
                          if accepted.height else float("nan"))
    # delay from the midpoint suspension time (as in the rate)
    mid = susp.select(
        pl.col("account_id").alias("previous"), "last_active", "first_suspended")
    links = accepted.select("previous", "new", "probability", "created_new").join(
        mid, on="previous", how="left")
    upper = pl.min_horizontal("first_suspended", "created_new")
    upper = pl.max_horizontal(upper, pl.col("last_active").fill_null(upper))
    lower = pl.col("last_active").fill_null(upper)
    links = links.with_columns(
        ((pl.col("created_new") - (lower + (upper - lower) / 2))
         .dt.total_seconds() / DAY).clip(lower_bound=0.0).alias("delay_days"),
        (pl.col("created_new") <= pl.col("last_active")).fill_null(False)
        .alias("backup"),
    ).select("new", "previous", "probability", "delay_days", "created_new",
             "backup")
    lin = lineages(links, susp["account_id"])
    return Links(links=links, lineages=lin, threshold=float(thr),
                 expected_precision=expected_precision,
                 seconds=time.perf_counter() - t0)


# -- stage 5 --------------------------------------------------------------------
def measure_returns(ds: Any, events: SuspensionEvents, scores: Scores, links: Links,  # noqa: PLR0913
                    *, audit: Any = None, horizons: tuple[float, ...] = (7, 30, 60),
                    rate_days: float = 30, discovery_lag_days: float = 0.0,
                    n_imputations: int = 20, n_boot: int = 200, level: float = 0.95,
                    follower_age_days: float = 14, follower_age_tol_days: float = 7,
                    seed: int = 0, refit_em: bool | None = None,
                    refit_max_iter: int = REFIT_MAX_ITER,
                    unseen_returns: bool = True) -> ReturnMeasures:
    """Return rates, curve, median delay and follower recovery.

    Parameters
    ----------
    ds
        The dataset (follower counts of the new accounts from ``observations``).
    events, scores, links
        Outputs of :func:`suspension_events`, :func:`score` and :func:`assign`.
    audit
        Optional coded audit sheet: the link draws use probabilities
        recalibrated on it.
    horizons, rate_days, discovery_lag_days, n_imputations, n_boot, level,
    follower_age_days, follower_age_tol_days, seed
        As in :func:`measure.resurrection.analyze`.
    refit_em
        Draw each imputation's links from EM parameters refitted on a bootstrap
        resample of the suspended accounts (``scores.refit``; proper multiple
        imputation). ``False``: every imputation uses the fit on the data.
        ``None`` (default): refit when there are at most
        :data:`REFIT_MAX_PAIRS` candidate pairs. No effect with the supervised
        model.
    refit_max_iter
        EM iterations of each refit (warm-started from the fit on the data).
    unseen_returns
        Also draw returns whose successor shares no blocking key (never a
        candidate): each link set adds, to every suspended account without a
        drawn link, a successor with the probability of
        :func:`~measure.resurrection._measures.unseen_probability` given the
        blocking recall of :func:`~measure.resurrection._measures.blocking_recall`
        (both from that draw's link probabilities), created at the offset from
        the first suspended look-up of a link drawn at random from the same set
        (kept inside the account's search window). Needs the candidates'
        ``keys``; ignored without them. ``False``: only candidates return.

    Returns
    -------
    ReturnMeasures

    Notes
    -----
    The ``d``-day rate is a Kaplan-Meier estimate over the suspended accounts
    with ``d`` + lag days of follow-up, pooled over ``n_imputations`` link sets
    drawn from the one-to-one probabilities by Rubin's rules; the suspension is
    at the midpoint of its look-up interval (see
    :mod:`measure.resurrection._measures`). With ``refit_em`` each link set
    comes from its own bootstrap refit of the EM model (:class:`EMRefit`), so
    that the between-imputation variance carries the uncertainty of the
    model's ``m``, ``u`` and prior, not only that of the links given them
    (Rubin 1987, "proper" imputation). The median delay's bootstrap draws its
    links from the fit on the data.
    """
    if not rate_days > 0:
        raise ConfigError(f"option 'rate_days' must be positive days, got "
                          f"{rate_days!r}")
    if not 0 < level < 1:
        raise ConfigError("option 'level' must be in (0, 1)")
    if n_imputations < 2:
        raise ConfigError("option 'n_imputations' must be at least 2")
    if refit_max_iter < 1:
        raise ConfigError("option 'refit_max_iter' must be at least 1")
    t0 = time.perf_counter()
    susp, scored, window = events.suspended, scores.pairs, events.window
    rng = np.random.default_rng(seed)
    auto_skip = refit_em is None and scored.height > REFIT_MAX_PAIRS
    if refit_em is None:
        refit_em = not auto_skip
    refit = scores.refit if refit_em else None
    draws = _LinkDraws(events, scored, audit, discovery_lag_days, refit=refit,
                       refit_max_iter=refit_max_iter, unseen=unseen_returns,
                       seed=seed)
    created = [draws.created(rng, refit=True) for _ in range(n_imputations)]
    unseen = draws.unseen_summary()
    kms = [kaplan_meier(*draws.times(c)) for c in created]
    model = scores.model
    method = ("Kaplan-Meier of return delay over the suspended accounts with "
              "d + lag days of follow-up after their last active look-up; "
              f"Greenwood log-log CI pooled over {n_imputations} link draws "
              "(Rubin's rules)")
    if refit is not None:
        method += (f", each from EM refitted (warm start, at most {refit_max_iter} "
                   "iterations) on a bootstrap resample of the suspended accounts "
                   "(proper multiple imputation)")
    elif auto_skip and scores.refit is not None:
        method += (f"; EM not refitted per draw ({scored.height:,} candidate "
                   f"pairs, above {REFIT_MAX_PAIRS:,}: the parameters' share of "
                   "the variance is small at this size)")
    if model is not None:
        method = f"{model.method} links; " + method
    rate_assumptions = RATE_ASSUMPTIONS
    if unseen:
        method += (f"; returns whose successor shares no blocking key drawn with "
                   f"probability {unseen['unseen_probability']:.4f} per account "
                   f"without a link (blocking recall "
                   f"{unseen['blocking_recall']:.4f}, multiple-systems estimate "
                   "from the key lists the links share)")
    recal = draws.recal
    if recal is None and not scores.supervised:
        rate_assumptions = RATE_ASSUMPTIONS + (UNAUDITED,)
    if unseen:
        rate_assumptions = rate_assumptions + (
            "a successor shares each kind of blocking key independently of the "
            "others (the blocking recall's multiple-systems estimate), and one "
            "that shares none returns with the delays of the linked returns",)
    if recal is not None:
        method += (f"; link probabilities recalibrated on a hand audit of "
                   f"{recal.n_coded} pairs (logit p' = {recal.a:.3f} + "
                   f"{recal.b:.3f} logit p, refitted on a stratified bootstrap "
                   "of the audit in each draw)")
        rate_assumptions = rate_assumptions + (
            "the audit's recalibration of the link probabilities holds for all "
            "candidate pairs, including those below the audit's floor",)
    days = sorted({float(d) for d in horizons} | {float(rate_days)})
    rates = {d: _rate(draws, created, kms, d, level, method, rate_assumptions)
             for d in days}
    curve = pl.DataFrame(
        [(float(d), p.estimate, p.ci[0], p.ci[1]) for d in
         np.arange(0, int(window) + 1, dtype=np.float64)
         for p in (rubin_rate(kms, float(d), level),)],
        schema=["day", "rate", "ci_low", "ci_high"], orient="row")
    median = _median_delay(draws, kms, rng, window, n_boot, level, links.n_linked)
    with StepRunner(ds.con) as run:
        run.register("age_ids", links.links.select(
            pl.col("new").alias("account_id"), pl.col("created_new").alias("t_new")))
        fa = run.run(Q.FOLLOWERS_AT_AGE, {"age_days": follower_age_days,
                                          "tol_days": follower_age_tol_days})
    f_susp = dict(zip(susp["account_id"].to_list(),
                      susp["followers_at_suspension"].to_list(), strict=True))
    f_age = dict(zip(fa["account_id"].to_list(), fa["followers_at_age"].to_list(),
                     strict=True))
    recovery = _follower_recovery(links.links, f_susp, f_age, rng, n_boot, level,
                                  follower_age_days)
    incarnations = {int(k): int(v) for k, v in links.lineages.group_by(
        "n_accounts").len().sort("n_accounts").iter_rows()}
    return ReturnMeasures(rates=rates, rate_days=float(rate_days), curve=curve,
                   median_delay=median, follower_recovery=recovery,
                   incarnations=incarnations, method=method, log=run.log,
                   seconds=time.perf_counter() - t0, unseen=unseen)


class _LinkDraws:
    """Draws of one-to-one link sets and the return times they imply (numpy)."""

    def __init__(self, events: SuspensionEvents, scored: pl.DataFrame, audit: Any,
                 lag_days: float, *, refit: EMRefit | None = None,
                 refit_max_iter: int = REFIT_MAX_ITER, unseen: bool = False,
                 seed: int = 0) -> None:
        susp = events.suspended
        self.refit = refit
        self.refit_max_iter = refit_max_iter
        self.n = susp.height
        self.lag = lag_days
        if scored["previous"].dtype.is_integer():
            # suspended is sorted by account id and holds every previous
            self.prow = np.searchsorted(susp["account_id"].to_numpy(),
                                        scored["previous"].to_numpy()).astype(np.int64)
        else:
            row_of = susp.select(pl.col("account_id").alias("previous")
                                 ).with_row_index("_row")
            self.prow = scored.select("previous").join(
                row_of, on="previous", how="left", maintain_order="left")[
                "_row"].to_numpy().astype(np.int64)
        # codes of the new accounts (only their equality matters to the draws)
        new_codes = (scored["new"].to_numpy().astype(np.int64)
                     if scored["new"].dtype.is_integer()
                     else scored["new"].rank("dense").to_numpy().astype(np.int64))
        self.prob = scored["probability"].to_numpy()
        self.sampler = LinkSampler(self.prow, new_codes, self.prob)
        self.recal = None
        if audit is not None:
            from measure.resurrection._audit import recalibration

            self.recal = recalibration(audit, scored)
        self.cnew = _days(scored["created_new"])
        self.fs = _days(susp["first_suspended"])
        # last time known alive: the last active look-up, else first seen (or
        # created) when that was before the first suspended look-up
        seen = _days(susp["first_seen"])
        seen = np.where(seen < self.fs, seen, np.nan)
        la = _days(susp["last_active"])
        self.la = np.where(np.isnan(la), seen, la)
        self.end = _days(pl.Series([events.data_end]).cast(
            pl.Datetime("us", "UTC")))[0]
        # key lists each pair shares (blocking recall of the unseen returns)
        self.key_codes = (key_system_codes(scored["keys"].to_numpy(), KEY_BITS)
                          if unseen and "keys" in scored.columns else None)
        self._unseen_log: list[tuple[float, float, int]] = []
        self._recall: float | None = None
        self.unseen_rng = np.random.default_rng([UNSEEN_STREAM, abs(int(seed))])
        self.lower = _days(susp["lower_t"]) if "lower_t" in susp.columns else None
        self.upper = _days(susp["upper_t"]) if "upper_t" in susp.columns else None
        if self.lower is None or self.upper is None:
            self.lower = np.full(self.n, -np.inf)
            self.upper = np.full(self.n, np.inf)

    def created(self, rng: np.random.Generator, refit: bool = False) -> np.ndarray:
        """Creation day of each suspended account's drawn successor (nan: none).

        With ``refit`` (and a refit object), the links are drawn from the
        probabilities of one bootstrap refit of the model.
        """
        prob = self.prob
        if refit and self.refit is not None:
            prob = self.refit.probabilities(rng, self.refit_max_iter)
            if prob.size != self.prob.size:
                raise ValueError("the scores' refit is for other pairs than "
                                 "scores.pairs")
        if self.recal is not None:
            prob = self.recal.draw(rng, prob, self.prow)
        sampler = self.sampler if prob is self.prob else self.sampler.reweighted(prob)
        chosen = sampler.draw(rng)
        created = np.full(self.n, np.nan)
        created[self.prow[chosen]] = self.cnew[chosen]
        if self.key_codes is not None:
            self._add_unseen(prob, chosen, created)
        return created

    def _add_unseen(self, prob: np.ndarray, chosen: np.ndarray,
                    created: np.ndarray) -> None:
        """Draw returns whose successor shares no key (in place on ``created``).

        Drawn from ``unseen_rng``, a stream of their own: the link draws do not
        depend on whether these are drawn.

        ``rho_c``, the share of suspended accounts with a successor among their
        candidates, is the sum of the draw's link probabilities over the
        suspended accounts; the recall weighs each pair's key lists by its
        probability.
        """
        assert self.key_codes is not None
        if prob is self.prob:  # the fit on the data: computed once
            if self._recall is None:
                self._recall = blocking_recall(self.key_codes, prob)
            recall = self._recall
        else:
            recall = blocking_recall(self.key_codes, prob)
        q = unseen_probability(float(prob.sum()) / max(self.n, 1), recall)
        n_hit = 0
        if q > 0 and chosen.size:
            rng = self.unseen_rng
            hit = np.isnan(created) & (rng.random(self.n) < q)
            n_hit = int(hit.sum())
            offsets = self.cnew[chosen] - self.fs[self.prow[chosen]]
            created[hit] = np.clip(self.fs[hit] + rng.choice(offsets, n_hit),
                                   self.lower[hit], self.upper[hit])
        self._unseen_log.append((recall, q, n_hit))

    def unseen_summary(self) -> dict[str, float]:
        """Mean recall, unseen probability and unseen returns over the draws."""
        if not self._unseen_log:
            return {}
        arr = np.asarray(self._unseen_log, dtype=np.float64)
        return {"blocking_recall": float(arr[:, 0].mean()),
                "unseen_probability": float(arr[:, 1].mean()),
                "unseen_per_draw": float(arr[:, 2].mean())}

    def times(self, created: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return time and event per suspended account (censored at the end)."""
        return return_times_np(self.la, self.fs, created, self.end, self.lag)

    def horizon(self, created: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
        """Return times of the accounts with ``d`` + lag days of follow-up."""
        return horizon_times(self.la, self.fs, created, self.end, d, self.lag)


def _rate(draws: _LinkDraws, created: list[np.ndarray], kms: list[Any], d: float,
          level: float, method: str, assumptions: tuple[str, ...]) -> Estimate:
    """Pool the ``d``-day rate over the link draws (Rubin's rules)."""
    kms_d = [kaplan_meier(*draws.horizon(c, d)) for c in created]
    pooled = rubin_rate(kms_d, d, level)
    km_all = rubin_rate(kms, d, level)
    n_d = kms_d[0].n
    w = () if n_d else (f"no suspended account is followed up for {d:g} days "
                        f"(+ {draws.lag:g} days discovery lag)",)
    return Estimate(
        term=f"rate_{d:g}d", estimate=pooled.estimate if n_d else math.nan,
        ci=pooled.ci if n_d else (math.nan, math.nan),
        level=level, std_error=pooled.std_error, method=method, n=n_d,
        assumptions=assumptions, warnings=w,
        extra={"within_var": pooled.within, "between_var": pooled.between,
               "df": pooled.df, "m": pooled.m,
               "proper_imputation": draws.refit is not None,
               "km_all_accounts": km_all.estimate,
               "km_all_accounts_ci": km_all.ci})


def _median_delay(draws: _LinkDraws, kms: list[Any], rng: np.random.Generator,
                  window: float, n_boot: int, level: float, n_links: int
                  ) -> Estimate:
    """Median delay among returns within the window; bootstrap with link draws."""
    meds = [conditional_median(k, window) for k in kms]
    meds = [v for v in meds if math.isfinite(v)]
    med_pt = float(np.median(meds)) if meds else math.nan
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, draws.n, draws.n)
        t, e = draws.times(draws.created(rng))
        boots.append(conditional_median(kaplan_meier(t[idx], e[idx]), window))
    boots_a = np.asarray(boots)
    boots_a = boots_a[np.isfinite(boots_a)]
    a = (1 - level) / 2
    if math.isfinite(med_pt) and boots_a.size > 10:
        return Estimate(
            term="median_delay_days", estimate=med_pt,
            ci=(float(np.quantile(boots_a, a)), float(np.quantile(boots_a, 1 - a))),
            level=level, std_error=float(boots_a.std(ddof=1)),
            method=(f"median of the Kaplan-Meier return-delay distribution "
                    f"among returns within {window:g} days; percentile "
                    f"bootstrap ({n_boot}) with a link draw per replicate"),
            n=n_links, assumptions=RATE_ASSUMPTIONS)
    return Estimate.invalid(
        "median_delay_days",
        "no returns were linked" if not math.isfinite(med_pt) else
        f"too few bootstrap replicates for a CI (n_boot={n_boot})", level=level)


def _follower_recovery(links: pl.DataFrame, f_susp: dict, f_age: dict,
                       rng: np.random.Generator, n_boot: int, level: float,
                       age_days: float) -> dict[int, Estimate]:
    """Follower ratio by incarnation on accepted links; bootstrap over links."""
    rr = recovery_ratios(links, incarnation_numbers(links), f_susp, f_age)
    point = ratio_by_incarnation(rr)
    out: dict[int, Estimate] = {}
    if not rr.height:
        return out
    a = (1 - level) / 2
    bs: dict[int, list[float]] = {k: [] for k in point}
    for _ in range(n_boot):
        sample = rr[rng.integers(0, rr.height, rr.height)]
        for k, (v, _n) in ratio_by_incarnation(sample).items():
            if k in bs:
                bs[k].append(v)
    for k, (v, n) in point.items():
        arr = np.asarray(bs[k])
        ci = ((float(np.quantile(arr, a)), float(np.quantile(arr, 1 - a)))
              if arr.size > 10 else (float("nan"), float("nan")))
        out[k] = Estimate(
            term=f"follower_recovery_{k}", estimate=v, ci=ci, level=level,
            std_error=float(arr.std(ddof=1)) if arr.size > 2 else math.nan,
            method=(f"sum of followers of incarnation {k} accounts "
                    f"{age_days:g} days after creation over their "
                    "predecessors' at suspension; percentile bootstrap over "
                    "links"),
            n=n,
            assumptions=("links are correct", "the look-up nearest to "
                         f"{age_days:g} days of age stands for it"))
    return out


__all__ = ["Candidates", "Links", "ReturnMeasures", "Scores", "SuspensionEvents",
           "assign", "block", "measure_returns", "score", "suspension_events"]
