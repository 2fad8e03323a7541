"""Label-free checks of the link probabilities from decoy pairs, and rate bounds.

Decoy events
------------
A *decoy event* keeps a suspended account's identity (handle, names, bio,
avatar, followers) and gives it the timeline of another suspended account, its
*partner*: the partner's last active and first suspended look-ups and its
successor search window. Blocking, comparison and scoring then run exactly as
on the real events, with the model fitted on the real data (no refit), so every
decoy candidate is a pair the linker could have proposed, at the score it would
have had.

A decoy candidate is kept only when the new account was created outside the
account's *exclusion zone*: before the account itself was created (its
actor's earlier accounts) and its own search window (its successor, as the
linker defines it), extended by ``extend_days`` after it (default 0: a
collection of a few months has no window far enough from most others); and
when the new account is not in the account's own lineage (the presumed
actor's linked accounts, which hold its later accounts when they were
linked). The
partner is drawn at random (with replacement) among the suspended accounts
whose window lies at least half outside the zone (the one with most outside
when none does). The kept part of the partner's window is not the whole
window, so the time gap, which the model compares, takes its levels in other
shares than among the window's accounts; each kept decoy pair is weighted by
``F(l) / K(l)``: the accounts of the *real* windows at its time-gap level
``l`` over the kept decoy window accounts at that level, both summed over the
suspended accounts concerned (a ratio estimator per level: false candidates
per window account, times the real window accounts; Horvitz & Thompson 1952).
The weighted decoy candidates then stand for the false candidates of the real
windows had they held no successor. A window that holds its account's
successor gives it the probability its look-alikes would otherwise take (the
grouped posterior and the one-to-one normalisation), so the decoy count of a
band is multiplied by the share of accounts without a successor among their
candidates, ``1 - sum p / n`` (``n`` suspended accounts).

What the decoys estimate
------------------------
Assumption (A): decoy pairs represent the non-matches among the real
candidates: an account's look-alikes (accounts sharing a common name, avatar
or follower set with it, but of other actors) are as frequent in another
account's window as in its own, at each time-gap level. Under (A), the
weighted decoy pairs in a probability band estimate the false links the band
holds among the accounts without a successor. The bands table sets this
beside the model's own claim, ``n - sum p`` (Fellegi & Sunter 1969: the
posterior is the probability of a match); ``disagree`` flags a band where the
two differ by more than two standard errors (the decoy estimate's spread over
``n_decoys`` independent sets of partners, its Poisson count error, and the
binomial spread ``sum p (1 - p)`` of the real false count). This is the
target-decoy check of proteomics (Elias & Gygi 2007) applied to record
linkage: decoys estimate the false discovery count without labels.

Rate bounds
-----------
The lower bound is the rate's estimate (the link probabilities' imputation
rate). The upper bound adds *hidden* returns: among the suspended accounts of
the ``d``-day cohort whose candidates within ``d`` days carry less than 1/2 of
link probability in all (the accounts the model says did not return), the
candidate pairs scored in ``[low, 1/2)`` that exceed the decoy count in the
same range, minus the probability the model already gives them::

    hidden_d = max(0, N_real - N_decoy - sum_real p)

``N_decoy`` is the weighted count of the same accounts' decoy pairs (delays
from the partner's timeline; weights from those accounts' windows), averaged
over the decoy sets. Under (A) the excess
``N_real - N_decoy`` estimates the true links rated low; the part the model
does not already count is returns it misses. The upper bound is
``rate + hidden_d / n_d`` (``n_d`` the cohort). Returns whose successor is no
candidate at all (no shared key, never found by the collection) are outside
both bounds.

References
----------
Fellegi, I. P. & Sunter, A. B. (1969). A theory for record linkage. *JASA* 64,
1183-1210. Elias, J. E. & Gygi, S. P. (2007). Target-decoy search strategy for
increased confidence in large-scale protein identifications by mass
spectrometry. *Nature Methods* 4, 207-214. Horvitz, D. G. & Thompson, D. J.
(1952). A generalization of sampling without replacement from a finite
universe. *JASA* 47, 663-685.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure.resurrection import _blocking as B
from measure.resurrection._features import (
    COMPARISONS,
    FEATURES,
    stem_stratum,
    window_time_gap_counts,
)
from measure.resurrection._fellegi_sunter import (
    GroupedEM,
    predict_em,
    predict_logit,
)
from measure.resurrection._measures import _days, suspension_time
from measure.resurrection._settings import LinkageSettings
from measure.resurrection._stages import (
    TF_HANDLE_COLUMN,
    TIME_GAP_COLUMNS,
    Candidates,
    Links,
    Scores,
    SuspensionEvents,
    block,
)

#: probability bands of the calibration table (the last includes 1)
BANDS: tuple[tuple[float, float], ...] = ((0.5, 0.7), (0.7, 0.9), (0.9, 0.97),
                                          (0.97, 1.0))
#: lower end of the scores searched for hidden returns (below 1/2)
HIDDEN_LOW = 0.01
#: partners sampled per account when looking for one mostly outside its zone
PARTNER_TRIES = 32
#: days the exclusion zone reaches past the account's own window
EXTEND_DAYS = 0.0
_EPS = 1e-12
_GAP = FEATURES.index("time_gap")


# -- output ---------------------------------------------------------------------
@dataclass(frozen=True)
class DecoyDiagnostics:
    """Calibration by probability band from decoy pairs, and rate bounds.

    Attributes
    ----------
    bands
        One row per probability band: ``band`` (label), ``p_low, p_high``,
        ``n_links`` (candidate pairs in the band), ``expected_true`` (sum of
        their probabilities: the model's count of true links),
        ``model_false`` (``n_links - expected_true``), ``decoy_false`` (the
        decoy estimate of false links), ``decoy_false_se``, ``decoy_true``
        (``n_links - decoy_false``), ``model_precision``,
        ``decoy_precision``, ``disagree`` (the two false counts differ by more
        than two standard errors).
    rate_bounds
        One row per horizon: ``days, lower, estimate, upper, hidden, n``
        (``hidden``: hidden returns added for the upper bound; ``n``: the
        cohort).
    n_decoys
        Decoy sets (independent draws of partners).
    n_decoy_pairs
        Kept decoy pairs per set (mean).
    coverage
        Share of the suspended accounts with a partner.
    warnings
        Notes (a time-gap level no decoy covers, accounts without a partner).
    seconds
        Wall time of the decoy blocking and scoring.
    """

    bands: pl.DataFrame = field(repr=False)
    rate_bounds: pl.DataFrame = field(repr=False)
    n_decoys: int
    n_decoy_pairs: float
    coverage: float
    warnings: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``bands`` and ``rate_bounds`` as lists of rows)."""
        def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in r.items()} for r in df.iter_rows(named=True)]

        return {"bands": rows(self.bands), "rate_bounds": rows(self.rate_bounds),
                "n_decoys": self.n_decoys, "n_decoy_pairs": self.n_decoy_pairs,
                "coverage": self.coverage, "warnings": list(self.warnings)}

    def summary_lines(self) -> list[str]:
        """Lines for the result's text summary."""
        out = [f"decoy check ({self.n_decoys} decoy sets, "
               f"{self.n_decoy_pairs:.0f} decoy pairs each): false links by "
               "probability band, model vs decoys"]
        for r in self.bands.iter_rows(named=True):
            flag = "  DISAGREE" if r["disagree"] else ""
            out.append(
                f"  {r['band']}: {r['n_links']} links, model false "
                f"{r['model_false']:.1f}, decoy false {r['decoy_false']:.1f} "
                f"(se {r['decoy_false_se']:.1f}); precision model "
                f"{_fmt(r['model_precision'])}, decoys "
                f"{_fmt(r['decoy_precision'])}{flag}")
        for r in self.rate_bounds.iter_rows(named=True):
            out.append(f"rate_{r['days']:g}d bounds: [{_fmt(r['lower'])}, "
                       f"{_fmt(r['upper'])}] (+{r['hidden']:.1f} hidden returns "
                       f"of {r['n']} accounts)")
        out.extend(f"decoy warning: {w}" for w in self.warnings)
        return out


def _fmt(x: float) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.3f}"


# -- decoy events ---------------------------------------------------------------
def decoy_events(events: SuspensionEvents, *, seed: int = 0,
                 tries: int = PARTNER_TRIES, extend_days: float | None = None
                 ) -> tuple[SuspensionEvents, pl.DataFrame]:
    """Decoy events: each suspended account with another one's timeline.

    Parameters
    ----------
    events
        The real events (:func:`~measure.resurrection.suspension_events`).
    seed
        Seed of the partner draw.
    tries
        Random partners tried per account; the first whose window lies at
        least half outside the account's exclusion zone is taken, else the
        one with most outside (none when nothing is outside).
    extend_days
        Days the exclusion zone reaches past the account's own window
        (default :data:`EXTEND_DAYS`).

    Returns
    -------
    decoys
        :class:`SuspensionEvents` whose ``suspended`` rows (accounts with a
        partner) carry the partner's ``last_active, first_suspended, lower_t,
        upper_t``.
    partners
        ``account_id, partner_id, born, zone_low, zone_high``: the exclusion
        zone is up to ``born`` (the account's creation, else first sighting)
        and ``(zone_low, zone_high]`` (its own window, extended by
        ``events.window`` days after it).
    """
    susp = events.suspended
    n = susp.height
    rng = np.random.default_rng(seed)
    lo = _days(susp["lower_t"])
    hi = _days(susp["upper_t"])
    born = _days(susp.select(pl.coalesce("created", "first_seen")).to_series())
    born = np.where(np.isnan(born), -np.inf, born)
    ext = EXTEND_DAYS if extend_days is None else float(extend_days)
    zl, zh = lo, hi + ext
    ok_win = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    pool = np.flatnonzero(ok_win)
    partner = np.full(n, -1, dtype=np.int64)
    if n > 1 and pool.size > 1:
        cand = pool[rng.integers(0, pool.size, size=(n, tries))]
        length = (hi[cand] - lo[cand])
        overlap = (np.clip(np.minimum(hi[cand], zh[:, None])
                           - np.maximum(lo[cand], zl[:, None]), 0.0, None)
                   + np.clip(np.minimum(hi[cand], born[:, None]) - lo[cand], 0.0,
                             None))
        frac = np.where(cand == np.arange(n)[:, None], -1.0,
                        (length - overlap) / np.maximum(length, 1e-12))
        good = frac >= 0.5
        first = np.argmax(good, axis=1)
        best = np.argmax(frac, axis=1)
        pick = np.where(good.any(axis=1), first, best)
        chosen = cand[np.arange(n), pick]
        keep = ok_win & (frac[np.arange(n), pick] > 1e-9)
        partner[keep] = chosen[keep]
    has = partner >= 0
    rows = np.flatnonzero(has)
    timeline = ("last_active", "first_suspended", "lower_t", "upper_t")
    own = susp[rows]
    other = susp[partner[rows]]
    dec = own.with_columns(other[c] for c in timeline)
    shift = pl.duration(microseconds=int(round(ext * 86400e6)))
    pairs = pl.DataFrame({
        "account_id": own["account_id"], "partner_id": other["account_id"],
        "born": own.select(pl.coalesce("created", "first_seen")).to_series(),
        "zone_low": own["lower_t"], "zone_high": own["upper_t"],
    }).with_columns(pl.col("zone_high") + shift)
    dec_events = dataclasses.replace(events, suspended=dec, warnings=(),
                                     seconds=0.0)
    return dec_events, pairs


# -- scoring with the fitted model ----------------------------------------------
def _bins(frame: pl.DataFrame) -> np.ndarray:
    return frame.select([f"bin_{f}" for f in FEATURES]).to_numpy().astype(np.int64)


def _marker_rows(real_bins: np.ndarray) -> np.ndarray:
    """One real row per optional level the real pairs take (keeps it in the model)."""
    rows = []
    for k, c in enumerate(COMPARISONS):
        for lvl in getattr(c, "optional", ()):
            hit = np.flatnonzero(real_bins[:, k] == lvl)
            if hit.size:
                rows.append(real_bins[hit[0]])
    return (np.vstack(rows) if rows
            else np.zeros((0, real_bins.shape[1]), dtype=np.int64))


def _odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - 1e-9)
    return p / (1 - p)


def _row_exclusive(p: np.ndarray, prev: pl.Series) -> np.ndarray:
    """Normalise pairwise probabilities among each suspended account's pairs."""
    o = _odds(p)
    tot = pl.DataFrame({"g": prev, "o": o}).select(
        pl.col("o").sum().over("g"))["o"].to_numpy()
    return o / (1 + tot)


def apply_model(scores: Scores, candidates: Candidates,
                settings: LinkageSettings | None = None) -> np.ndarray:
    """Pair probabilities of other candidates under the fitted model (no refit).

    Parameters
    ----------
    scores
        The real scores (their ``model`` is applied unchanged).
    candidates
        Candidates to score (:func:`~measure.resurrection.block` on other
        events), sorted by ``previous, new``.
    settings
        ``grouped`` says whether the model is the grouped EM (default True).

    Returns
    -------
    numpy.ndarray
        Per candidate, the probability that it is its suspended account's
        successor (grouped EM: given the account's other candidates and its
        window; pairwise and supervised models: normalised among the
        account's candidates), before the exclusivity among rival
        predecessors.
    """
    settings = settings or LinkageSettings()
    pairs = candidates.pairs
    if pairs.height == 0 or scores.model is None:
        return np.zeros(pairs.height)
    bins = _bins(pairs)
    if scores.supervised:
        return _row_exclusive(predict_logit(scores.model, bins), pairs["previous"])
    if not settings.grouped:
        return _row_exclusive(predict_em(scores.model, bins), pairs["previous"])
    starts = B.run_starts(pairs["previous"])
    group = B.run_codes(starts, pairs.height)
    first = pairs.select("previous")[starts]
    win = first.join(candidates.window_sizes.with_columns(
        pl.col("previous").cast(first.schema["previous"])), on="previous",
        how="left", maintain_order="left")
    k = win["n_window"].fill_null(1.0).to_numpy()
    wc = None
    if scores.model.extra.get("window_u"):
        wc = {"time_gap": win.select(TIME_GAP_COLUMNS).fill_null(0).to_numpy()
              .astype(np.float64)}
    marker = _marker_rows(_bins(scores.pairs))
    strata = None
    if scores.model.extra.get("u_strata") and TF_HANDLE_COLUMN in win.columns:
        strata = {"handle": (stem_stratum(win[TF_HANDLE_COLUMN].fill_null(0.0)
                                          .to_numpy()), None)}
    em = GroupedEM(bins, group, n_cand=k, window_counts=wc,
                   random_bins=marker if marker.shape[0] else None,
                   u_strata=strata)
    return em.predict(scores.model)


def _rival_exclusive(q: np.ndarray, new: pl.Series, scores: Scores,
                     grouped: bool) -> np.ndarray:
    """Each decoy pair among the real claims on its new account.

    ``p = o / (1 + S_j + o)`` with ``o`` the decoy pair's odds and ``S_j`` the
    odds of the real pairs on the same new account (as the exclusivity among
    rival predecessors does for a real pair).
    """
    real = scores.pairs
    rq = (real["p_pair"].to_numpy() if grouped and not scores.supervised
          else _row_exclusive(real["p_pair"].to_numpy(), real["previous"]))
    claims = pl.DataFrame({"new": real["new"], "o": _odds(rq)}).group_by(
        "new").agg(pl.col("o").sum())
    s = pl.DataFrame({"new": new.cast(real.schema["new"])}).join(
        claims, on="new", how="left", maintain_order="left")["o"].fill_null(
        0.0).to_numpy()
    o = _odds(q)
    return o / (1 + s + o)


# -- one decoy set --------------------------------------------------------------
@dataclass(frozen=True)
class DecoySet:
    """Scored decoy pairs of one draw of partners.

    Attributes
    ----------
    pairs
        Kept decoy pairs: ``previous, new, probability, level`` (time-gap
        level), ``delay_days`` (from the partner's timeline), ``partner_id``.
    events
        The decoy events (partner timelines).
    partners
        As from :func:`decoy_events`.
    kept
        ``account_id`` and, per time-gap level, the partner window's accounts
        outside the exclusion zone (``n_time_gap_0`` ...): the accounts the
        kept decoy pairs were drawn from.
    """

    pairs: pl.DataFrame = field(repr=False)
    events: SuspensionEvents = field(repr=False)
    partners: pl.DataFrame = field(repr=False)
    kept: pl.DataFrame = field(repr=False)


def decoy_set(ds: Any, events: SuspensionEvents, scores: Scores, links: Links,
              settings: LinkageSettings | None = None, *, seed: int = 0) -> DecoySet:
    """Block, compare and score one set of decoy events with the fitted model.

    Parameters
    ----------
    ds
        The dataset of ``events``.
    events, scores, links
        The real stages' outputs (``links.lineages`` for the lineage
        exclusion).
    settings
        The settings the real candidates were blocked with (random pairs are
        not drawn for decoys).
    seed
        Seed of the partner draw.

    Returns
    -------
    DecoySet
    """
    settings = settings or LinkageSettings(backup_days=events.backup_days)
    dev, partners = decoy_events(events, seed=seed)
    dsett = dataclasses.replace(settings, u_random_pairs=0)
    cands = block(ds, dev, dsett, seed=seed)
    q = apply_model(scores, cands, settings)
    pairs = cands.pairs.select("previous", "new", "created_new", "bin_time_gap")
    pairs = pairs.with_columns(pl.Series("q", q, dtype=pl.Float64))
    # exclusion zone and lineage
    pairs = pairs.join(partners.rename({"account_id": "previous"}), on="previous",
                       how="left")
    lin = links.lineages.select("accounts").with_row_index("_actor").explode(
        "accounts", empty_as_null=True)
    id_dtype = pairs.schema["previous"]
    lin = lin.with_columns(pl.col("accounts").cast(id_dtype))
    pairs = pairs.join(lin.rename({"accounts": "previous", "_actor": "_ap"}),
                       on="previous", how="left").join(
        lin.rename({"accounts": "new", "_actor": "_an"}), on="new", how="left")
    keep = (((pl.col("created_new") <= pl.col("zone_low"))
             | (pl.col("created_new") > pl.col("zone_high")))
            & (pl.col("created_new") > pl.col("born")).fill_null(True)) & ~(
        pl.col("_ap").is_not_null() & (pl.col("_ap") == pl.col("_an"))).fill_null(
        False)
    pairs = pairs.filter(keep)
    prob = _rival_exclusive(pairs["q"].to_numpy(), pairs["new"], scores,
                            settings.grouped)
    pairs = pairs.with_columns(pl.Series("probability", prob, dtype=pl.Float64))
    # delays from the partner's timeline (as the rate measures them)
    tl = dev.suspended.select(pl.col("account_id").alias("previous"),
                              "last_active", "first_suspended", "first_seen")
    pairs = pairs.join(tl, on="previous", how="left", maintain_order="left")
    la, fs = _known_alive(pairs)
    cn = _days(pairs["created_new"])
    delay = np.maximum(cn - suspension_time(la, fs, cn), 0.0)
    pairs = pairs.select(
        "previous", "new", "probability", pl.col("bin_time_gap").cast(pl.Int64)
        .alias("level"), "partner_id").with_columns(
        pl.Series("delay_days", delay, dtype=pl.Float64))
    return DecoySet(pairs=pairs, events=dev, partners=partners,
                    kept=_kept_counts(events, dev, partners))


def _known_alive(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Last time known alive and first suspended look-up (days), as the rate."""
    fs = _days(frame["first_suspended"])
    seen = _days(frame["first_seen"])
    seen = np.where(seen < fs, seen, np.nan)
    la = _days(frame["last_active"])
    return np.where(np.isnan(la), seen, la), fs


def _kept_counts(events: SuspensionEvents, dev: SuspensionEvents,
                 partners: pl.DataFrame) -> pl.DataFrame:
    """Per decoy event and time-gap level: partner window accounts outside the zone."""
    nlev = len(TIME_GAP_COLUMNS)
    if dev.suspended.height == 0:
        return pl.DataFrame({"account_id": dev.suspended["account_id"]}).with_columns(
            pl.lit(0, dtype=pl.Int64).alias(c) for c in TIME_GAP_COLUMNS)
    win, acc, lo, hi = B.windows(dev.suspended, events.accounts)
    t = acc["t_new"].dt.epoch("us").to_numpy()
    zone = win.select(pl.col("account_id")).join(
        partners, on="account_id", how="left", maintain_order="left")
    fs = win["first_suspended"].dt.epoch("us").to_numpy()
    la = win["last_active"].dt.epoch("us").cast(pl.Float64).to_numpy()
    full = window_time_gap_counts(t, lo, hi, fs, la)
    inside = np.zeros_like(full)
    lowest = np.iinfo(np.int64).min
    for a_col, b_col in (("born", None), ("zone_low", "zone_high")):
        za = (np.zeros(lo.size, dtype=np.int64) if b_col is None else
              np.searchsorted(t, zone[a_col].dt.epoch("us").fill_null(lowest)
                              .to_numpy(), "right"))
        bcol = zone[a_col if b_col is None else b_col]
        zb = np.searchsorted(t, bcol.dt.epoch("us").fill_null(lowest).to_numpy(),
                             "right")
        ilo, ihi = np.maximum(lo, za), np.minimum(hi, zb)
        inside += window_time_gap_counts(t, ilo, np.maximum(ihi, ilo), fs, la)
    kept = np.maximum(full - inside, 0)
    return pl.DataFrame({"account_id": win["account_id"]}).with_columns(
        pl.Series(c, kept[:, lvl], dtype=pl.Int64)
        for lvl, c in enumerate(TIME_GAP_COLUMNS[:nlev]))


def _level_rates(kept: pl.DataFrame, window_sizes: pl.DataFrame,
                 rows: pl.Series | None = None) -> np.ndarray:
    """Weight of a decoy pair at each time-gap level.

    ``F(l) / K(l)``: the real windows' accounts at level ``l`` over the kept
    decoy window accounts at that level, both over the suspended accounts
    ``rows`` (all when ``None``). 0 where no decoy account is kept.
    """
    real = window_sizes.rename({"previous": "account_id"})
    if rows is not None:
        ids = pl.DataFrame({"account_id": rows})
        real = real.join(ids.with_columns(pl.col("account_id").cast(
            real.schema["account_id"])), on="account_id", how="semi")
        kept = kept.join(ids.with_columns(pl.col("account_id").cast(
            kept.schema["account_id"])), on="account_id", how="semi")
    f = real.select(TIME_GAP_COLUMNS).sum().to_numpy().reshape(-1).astype(float)
    k = kept.select(TIME_GAP_COLUMNS).sum().to_numpy().reshape(-1).astype(float)
    return np.where(k > 0, f / np.maximum(k, 1.0), 0.0)


def _pair_weights(pairs: pl.DataFrame, rates: np.ndarray) -> np.ndarray:
    lvl = pairs["level"].to_numpy().astype(np.int64)
    return np.where(lvl >= 0, rates[np.clip(lvl, 0, rates.size - 1)], 0.0)


# -- diagnostics ----------------------------------------------------------------
def decoy_diagnostics(ds: Any, events: SuspensionEvents, candidates: Candidates,
                      scores: Scores, links: Links,
                      settings: LinkageSettings | None = None, *,
                      rates: dict[float, Any] | None = None, n_decoys: int = 3,
                      bands: tuple[tuple[float, float], ...] = BANDS,
                      hidden_low: float = HIDDEN_LOW,
                      discovery_lag_days: float = 0.0,
                      seed: int = 0) -> DecoyDiagnostics:
    """Calibration by probability band and rate bounds from decoy pairs.

    Parameters
    ----------
    ds
        The dataset.
    events, candidates, scores, links
        The real stages' outputs (``candidates.window_sizes``: the real
        windows' accounts by time-gap level).
    settings
        The settings of the real blocking.
    rates
        The rate estimates by horizon (``ReturnMeasures.rates``); their
        ``estimate`` and ``n`` give the lower bound and the cohort size.
    n_decoys
        Independent decoy sets (draws of partners); their spread is the
        Monte-Carlo error of the decoy estimates.
    bands
        Probability bands ``[low, high)`` (the last one closed when it ends
        at 1).
    hidden_low
        Lowest score counted for hidden returns (see the module notes).
    discovery_lag_days
        As in :func:`~measure.resurrection.analyze` (the cohorts).
    seed
        Seed of the first decoy set (set ``i`` uses ``seed + 1000 i``).

    Returns
    -------
    DecoyDiagnostics

    Notes
    -----
    See the module notes for the estimators and assumption (A): decoy pairs
    represent the non-matches among the real candidates.
    """
    if n_decoys < 1:
        raise ValueError("n_decoys must be at least 1")
    t0 = time.perf_counter()
    sets = [decoy_set(ds, events, scores, links, settings, seed=seed + 1000 * i)
            for i in range(n_decoys)]
    warnings: list[str] = []
    sizes = candidates.window_sizes
    all_rates = [_level_rates(s.kept, sizes) for s in sets]
    real_levels = sizes.select(TIME_GAP_COLUMNS).sum().to_numpy().reshape(-1)
    if any(((r == 0) & (real_levels > 0)).any() for r in all_rates):
        warnings.append("a time-gap level has no decoy account outside the "
                        "exclusion zones in some decoy set; false links at "
                        "that level are not counted there")
    n = events.n_suspended
    cov = float(np.mean([s.partners.height / max(n, 1) for s in sets]))
    if cov < 0.95:
        warnings.append(f"{1 - cov:.0%} of the suspended accounts have no decoy "
                        "partner (every window overlaps their exclusion zone)")
    prob = scores.pairs["probability"].to_numpy()
    no_succ = float(np.clip(1.0 - prob.sum() / max(n, 1), 0.0, 1.0))
    table = band_table(prob, [s.pairs["probability"].to_numpy() for s in sets],
                       [_pair_weights(s.pairs, r) for s, r in
                        zip(sets, all_rates, strict=True)],
                       no_successor=no_succ, bands=bands)
    bounds = _rate_bounds(events, scores, sets, sizes, rates or {}, hidden_low,
                          discovery_lag_days)
    return DecoyDiagnostics(
        bands=table, rate_bounds=bounds, n_decoys=n_decoys,
        n_decoy_pairs=float(np.mean([s.pairs.height for s in sets])),
        coverage=cov, warnings=tuple(warnings),
        seconds=time.perf_counter() - t0)


def band_table(prob: np.ndarray, decoy_prob: list[np.ndarray],
               decoy_weight: list[np.ndarray], *, no_successor: float = 1.0,
               bands: tuple[tuple[float, float], ...] = BANDS) -> pl.DataFrame:
    """Tabulate the model's and the decoys' false links per probability band.

    Parameters
    ----------
    prob
        The real candidates' one-to-one probabilities.
    decoy_prob, decoy_weight
        Per decoy set, its pairs' probabilities and weights (each pair
        stands for ``weight`` real non-match candidates).
    no_successor
        Share of the suspended accounts without a successor among their
        candidates; the decoy counts (which stand for windows without a
        successor) are multiplied by it.
    bands
        ``[low, high)`` bands (closed at 1).

    Returns
    -------
    polars.DataFrame
        See :attr:`DecoyDiagnostics.bands`. ``decoy_false`` is the mean over
        the decoy sets of their weighted counts; its variance is the
        between-set variance over the sets plus the mean within-set count
        variance (sum of squared weights, Poisson), both divided by the
        number of sets; ``disagree`` adds the model's binomial variance
        ``sum p (1 - p)`` and tests at two standard errors.
    """
    rows = []
    for lo, hi in bands:
        def inb(p: np.ndarray, lo: float = lo, hi: float = hi) -> np.ndarray:
            return (p >= lo) & ((p < hi) | (hi >= 1.0))

        m = inb(prob)
        nl = int(m.sum())
        sp = float(prob[m].sum())
        f = no_successor
        per = np.array([f * float(w[inb(p)].sum()) for p, w in
                        zip(decoy_prob, decoy_weight, strict=True)])
        cnt = np.array([f * f * float((w[inb(p)] ** 2).sum()) for p, w in
                        zip(decoy_prob, decoy_weight, strict=True)])
        r = per.size
        df = float(per.mean()) if r else math.nan
        var = ((float(per.var(ddof=1)) if r > 1 else 0.0) + float(cnt.mean())) / r
        var_model = float((prob[m] * (1 - prob[m])).sum())
        model_false = nl - sp
        disagree = abs(df - model_false) > 2 * math.sqrt(var + var_model)
        rows.append((f"[{lo:g}, {hi:g}{']' if hi >= 1.0 else ')'}", lo, hi, nl, sp,
                     model_false, df, math.sqrt(var), nl - df,
                     sp / nl if nl else math.nan,
                     (nl - df) / nl if nl else math.nan, bool(disagree and nl > 0)))
    return pl.DataFrame(rows, schema=[
        ("band", pl.Utf8), ("p_low", pl.Float64), ("p_high", pl.Float64),
        ("n_links", pl.Int64), ("expected_true", pl.Float64),
        ("model_false", pl.Float64), ("decoy_false", pl.Float64),
        ("decoy_false_se", pl.Float64), ("decoy_true", pl.Float64),
        ("model_precision", pl.Float64), ("decoy_precision", pl.Float64),
        ("disagree", pl.Boolean)], orient="row")


def _rate_bounds(events: SuspensionEvents, scores: Scores, sets: list[DecoySet],
                 window_sizes: pl.DataFrame, rates: dict[float, Any], low: float,
                 lag: float) -> pl.DataFrame:
    """Lower (the rate) and upper (plus hidden returns) bound per horizon."""
    susp = events.suspended
    end = _days(pl.Series([events.data_end]).cast(pl.Datetime("us", "UTC")))[0]
    la, fs = _known_alive(susp)
    known = np.where(np.isnan(la), fs, la)
    real = scores.pairs.select("previous", "probability", "created_new").join(
        susp.select(pl.col("account_id").alias("previous")).with_row_index("_r"),
        on="previous", how="left", maintain_order="left")
    prow = real["_r"].to_numpy().astype(np.int64)
    p = real["probability"].to_numpy()
    cn = _days(real["created_new"])
    delay = np.maximum(cn - suspension_time(la[prow], fs[prow], cn), 0.0)
    ids = susp["account_id"]
    out = []
    for d in sorted(rates):
        est = rates[d]
        elig = (end - known) >= d + lag
        within = elig[prow] & (delay <= d)
        mass = np.bincount(prow[within], weights=p[within], minlength=susp.height)
        low_rows = elig & (mass < 0.5)
        sel = within & low_rows[prow] & (p >= low) & (p < 0.5)
        n_real, sp = float(sel.sum()), float(p[sel].sum())
        use = ids.filter(pl.Series(low_rows))
        dec = []
        for s in sets:
            dp = s.pairs.join(pl.DataFrame({"previous": use}), on="previous",
                              how="semi")
            pp = dp["probability"].to_numpy()
            w = _pair_weights(dp, _level_rates(s.kept, window_sizes, use))
            m = (dp["delay_days"].to_numpy() <= d) & (pp >= low) & (pp < 0.5)
            dec.append(float(w[m].sum()))
        n_dec = float(np.mean(dec)) if dec else 0.0
        hidden = max(0.0, n_real - n_dec - sp)
        n_d = int(getattr(est, "n", 0) or 0)
        lower = float(getattr(est, "estimate", math.nan))
        upper = lower + hidden / n_d if n_d else math.nan
        out.append((float(d), lower, lower, upper, hidden, n_d, n_real, n_dec, sp))
    return pl.DataFrame(out, schema=[
        ("days", pl.Float64), ("lower", pl.Float64), ("estimate", pl.Float64),
        ("upper", pl.Float64), ("hidden", pl.Float64), ("n", pl.Int64),
        ("low_pairs", pl.Float64), ("low_decoy_pairs", pl.Float64),
        ("low_sum_p", pl.Float64)], orient="row")


__all__ = ["BANDS", "DecoyDiagnostics", "DecoySet", "apply_model", "band_table",
           "decoy_diagnostics", "decoy_events", "decoy_set"]
