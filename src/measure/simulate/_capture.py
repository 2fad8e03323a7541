"""Capture-recapture sources: which accounts each list detects.

``n_sources`` lists (``SOURCE_NAMES``) sample the supporter accounts alive at the
census, with ``logit p_ik = catch_base + offset_k + catch_prominence_slope *
prominence_i + eta_i``, ``eta_i ~ N(0, catch_heterogeneity_sd)``.

The stress mechanisms of :class:`measure.simulate._config.Capture` break the
textbook assumptions of capture-recapture estimators (see ``docs/simulation.md``):

* ``mixture_share``, ``mixture_shift``: a hard-to-catch class whose logit is
  shifted on every list (a two-class mixture of catchabilities);
* ``catch_tail_df``: ``eta_i = catch_heterogeneity_sd * t_df`` (Student-t, heavy
  tails) instead of the normal effect;
* ``catch_activity_slope``: the logit also rises with the account's activity;
* ``dependence_positive``, ``dependence_negative``: lists are drawn in order and
  the logit of list 2 (of the last list) is shifted up (down) for accounts caught
  by list 1 (by the list before the last): pairwise list dependence;
* ``list_window_days``: each list is collected over a window of days, windows
  staggered across lists, from supporter accounts alive during it (an open
  population);
* ``false_detection_share``: background accounts of the census frame appear on
  the lists (false positives).

A world with every capture mechanism off draws only from the ``capture`` stream
(the logit-normal model above); any mechanism switches every capture draw to the
``stress_capture`` stream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from measure.errors import ConfigError
from measure.simulate._config import Capture
from measure.simulate._simulate import SOURCE_NAMES, _choice, _ts

if TYPE_CHECKING:
    from measure.simulate._simulate import _World

#: Capture mechanisms that change the model when away from their off value
#: (``mixture_shift`` only acts through ``mixture_share``).
STRESS_FIELDS = (
    "mixture_share",
    "catch_tail_df",
    "catch_activity_slope",
    "dependence_positive",
    "dependence_negative",
    "list_window_days",
    "false_detection_share",
)
#: One second in days: detections fall strictly before the account's end.
_SECOND = 1.0 / 86400.0
#: Logits are clipped to this range (heavy-tailed effects can be huge).
_LOGIT_CLIP = 40.0


def detect(world: _World) -> None:
    """Draw the ``detections`` table (``world.detections``, ``world.detected``).

    Also sets ``world.detected_first_t`` (first sight of each detected account,
    its ``first_seen`` unless it is in the census frame) and
    ``world.stats["catch_probability_mean"]``; with a capture stress mechanism on,
    the truth section ``world.extra_truth["capture"]`` (and the truth column
    ``catch_class`` when the mixture is on).
    """
    if stress_on(world.cfg.capture):
        _detect_stress(world)
    else:
        _detect_plain(world)


def stress_on(cap: Capture) -> bool:
    """Whether any capture stress mechanism of ``cap`` is away from its off value."""
    off = {f.name: f.default for f in fields(Capture)}
    return any(getattr(cap, name) != off[name] for name in STRESS_FIELDS)


def source_names(k: int) -> list[str]:
    """Names of the ``k`` lists (``SOURCE_NAMES``, then ``source_<i>``)."""
    return [
        SOURCE_NAMES[i] if i < len(SOURCE_NAMES) else f"source_{i + 1}"
        for i in range(k)
    ]


def _offsets(cap: Capture) -> np.ndarray:
    k = cap.n_sources
    if k > 1:
        return np.linspace(-0.5, 0.5, k) * cap.source_spread * 2
    return np.zeros(1)


def _detect_plain(world: _World) -> None:
    """Draw lists over supporter accounts alive at the census (no stress mechanism)."""
    cfg, cal, c = world.cfg, world.cal, world.ctx
    cap = cfg.capture
    rng = world.rng["capture"]
    pop = world.alive_sup
    k = cap.n_sources
    offs = _offsets(cap)
    eta = rng.normal(0.0, cap.catch_heterogeneity_sd, len(pop))
    lin = (
        cap.catch_base
        + offs[None, :]
        + cap.catch_prominence_slope * c.sup.prom[pop][:, None]
        + eta[:, None]
    )
    p = 1.0 / (1.0 + np.exp(-lin))
    hit = rng.random(p.shape) < p
    names = source_names(k)
    rows, cols = np.nonzero(hit)
    world.detected = np.zeros(c.n, dtype=bool)
    # first sight of a detected account (its first_seen): the census day
    world.detected_first_t = np.full(c.n, cal.census)
    world.detected[pop[rows]] = True
    det_t = cal.census + rng.uniform(0.0, 1.0, len(rows))
    world.detections = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[pop[rows]], dtype=pl.Int64),
            "source": _choice(tuple(names), cols),
            "detected_at": _ts(det_t, cal.origin_us),
        }
    ).sort("source", "account_id")
    world.stats["catch_probability_mean"] = {
        n: float(p[:, i].mean()) if len(pop) else None for i, n in enumerate(names)
    }


def list_windows(world: _World) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (days) of each list's collection window.

    Without ``list_window_days`` every list is collected on the census day
    ``[census, census + 1)``. With it, list ``k`` (0-based) covers ``[a_k, a_k +
    W)``, ``a_k = a_0 + k W / 2`` (consecutive windows overlap by half), the whole
    span centred on the census and moved (then compressed) to fit inside the
    observation window.
    """
    cal = world.cal
    cap = world.cfg.capture
    k = cap.n_sources
    w = float(cap.list_window_days)
    if w <= 0:
        a = np.full(k, cal.census)
        return a, a + 1.0
    avail = cal.end  # the observation window is [0, end)
    w = min(w, avail)
    step = w / 2.0
    if k > 1 and w + (k - 1) * step > avail:
        step = (avail - w) / (k - 1)
    span = w + (k - 1) * step
    lo = min(max(cal.census - span / 2.0, 0.0), avail - span)
    a = lo + step * np.arange(k)
    return a, a + w


def _exposure(
    created: np.ndarray, end: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Start of life inside each window and the days alive there (n x k)."""
    s = np.maximum(created[:, None], a[None, :])
    d = np.minimum(end[:, None], b[None, :]) - s
    return s, np.maximum(d, 0.0)


def _last(d: np.ndarray) -> np.ndarray:
    """Latest offset into an exposure of ``d`` days: one second before its end."""
    return np.maximum(d - _SECOND, 0.0)


def _detect_stress(world: _World) -> None:
    """Draw lists with the capture stress mechanisms (from ``stress_capture``).

    The lists are drawn in order. List ``k``'s probability for account ``i`` is
    ``p_ik = logistic(catch_base + offset_k + catch_prominence_slope * prominence_i
    + catch_activity_slope * activity_i + eta_i + mixture_shift * hard_i +
    dependence)``, where ``dependence`` is ``+dependence_positive`` on list 2 for
    accounts on list 1 and ``-dependence_negative`` on the last list for accounts on
    the list before it (3+ lists). With list windows, ``p_ik`` is the probability
    of being caught by a window the account lives through entirely; catches are a
    Poisson process of constant rate ``-log(1 - p_ik) / W`` while it is alive in
    the window, so an account alive ``d`` days of it is caught with probability
    ``1 - (1 - p_ik)**(d / W)``, at the time of its first catch.
    """
    cfg, cal, c = world.cfg, world.cal, world.ctx
    cap = cfg.capture
    rng = world.rng["stress_capture"]
    k = cap.n_sources
    names = source_names(k)
    offs = _offsets(cap)
    a, b = list_windows(world)
    windowed = cap.list_window_days > 0
    w_eff = float(b[0] - a[0])
    ns = c.n_s
    if windowed:
        s_all, d_all = _exposure(c.created[:ns], c.end[:ns], a, b)
        pop = np.flatnonzero((d_all > 0).any(axis=1))
        start, expo = s_all[pop], d_all[pop]
        del s_all, d_all
    else:
        pop = world.alive_sup
        start = np.full((len(pop), k), cal.census)
        expo = np.repeat(np.minimum(c.end[pop] - cal.census, 1.0)[:, None], k, 1)
    n = len(pop)

    # one sub-stream per component: switching one mechanism on or off leaves the
    # draws of the others unchanged
    r_eta, r_tail, r_cls, r_lists, r_false = rng.spawn(5)

    # individual catchability: effect (normal, or Student-t = normal / sqrt(chi2 /
    # df) from the same normal draws), class, covariates
    sd = cap.catch_heterogeneity_sd
    eta = sd * r_eta.standard_normal(n)
    if cap.catch_tail_df > 0:
        eta = eta / np.sqrt(r_tail.chisquare(cap.catch_tail_df, n) / cap.catch_tail_df)
    hard = np.zeros(n, dtype=bool)
    if cap.mixture_share > 0:
        hard = r_cls.random(n) < cap.mixture_share
    lin = cap.catch_base + cap.catch_prominence_slope * c.sup.prom[pop] + eta
    if cap.catch_activity_slope != 0:
        lin = lin + cap.catch_activity_slope * c.sup.act[pop]
    if cap.mixture_share > 0:
        lin = lin + cap.mixture_shift * hard
    neg_on = cap.dependence_negative != 0 and k >= 3

    # lists in order (dependence shifts the logit of a later list)
    hit = np.zeros((n, k), dtype=bool)
    q = np.zeros((n, k))
    t = np.full((n, k), np.nan)
    for j in range(k):
        lj = lin + offs[j]
        if j == 1 and cap.dependence_positive != 0:
            lj = lj + cap.dependence_positive * hit[:, 0]
        if neg_on and j == k - 1:
            lj = lj - cap.dependence_negative * hit[:, k - 2]
        p = 1.0 / (1.0 + np.exp(-np.clip(lj, -_LOGIT_CLIP, _LOGIT_CLIP)))
        u_hit, u_t = r_lists.random(n), r_lists.random(n)
        if windowed:
            # catch rate per day (p = chance of a catch over a whole window)
            rate = -np.log1p(-np.minimum(p, 1.0 - 1e-12)) / w_eff
            qj = -np.expm1(-rate * expo[:, j])
            small = rate * expo[:, j] < 1e-9
            x = np.where(
                small,
                u_t * expo[:, j],
                -np.log1p(-u_t * qj) / np.where(small, 1.0, rate),
            )
        else:
            qj = p
            x = u_t * expo[:, j]
        hj = u_hit < qj
        hit[:, j], q[:, j] = hj, qj
        t[hj, j] = start[hj, j] + np.clip(x[hj], 0.0, _last(expo[hj, j]))
    rows, cols = np.nonzero(hit)
    g_sup, t_sup = pop[rows], t[rows, cols]

    # false detections: background accounts of the census frame
    fd_g, fd_k, fd_t, n_false = _false_detections(world, r_false, hit.sum(axis=0), a, b)
    g_all = np.concatenate([g_sup, fd_g]).astype(np.int64)
    k_all = np.concatenate([cols, fd_k]).astype(np.int64)
    t_all = np.concatenate([t_sup, fd_t])

    world.detected = np.zeros(c.n, dtype=bool)
    world.detected[g_all] = True
    world.detected_first_t = np.full(c.n, cal.census)
    if windowed:
        # first sight: the first detection (or an earlier post-census discovery)
        first = np.full(c.n, np.inf)
        np.minimum.at(first, g_all, t_all)
        first = np.fmin(first, world.disc_t)
        world.detected_first_t[world.detected] = first[world.detected]
    world.detections = pl.DataFrame(
        {
            "account_id": pl.Series(c.ids[g_all], dtype=pl.Int64),
            "source": _choice(tuple(names), k_all),
            "detected_at": _ts(t_all, cal.origin_us),
        }
    ).sort("source", "account_id")

    # truth
    q_sup = np.zeros((ns, k))
    q_sup[pop] = q
    q_census = q_sup[world.alive_sup]
    del q_sup
    world.stats["catch_probability_mean"] = {
        nm: float(q_census[:, j].mean()) if len(q_census) else None
        for j, nm in enumerate(names)
    }
    if cap.mixture_share > 0:
        cls = np.full(c.n, -1, dtype=np.int8)
        cls[pop] = hard.astype(np.int8)
        world.extra_truth_columns["catch_class"] = (cls, pl.Int8)
    at_census = np.zeros(ns, dtype=bool)
    at_census[world.alive_sup] = True
    world.extra_truth["capture"] = _truth(
        world,
        names,
        (a, b),
        pop,
        expo,
        hit,
        q,
        hard,
        at_census,
        q_census,
        np.unique(fd_g),
        n_false,
        neg_on,
    )


def _false_detections(
    world: _World,
    rng: np.random.Generator,
    n_sup: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw background accounts onto the lists (``false_detection_share``).

    List ``k`` gets ``Poisson(share / (1 - share) * n_sup[k])`` distinct background
    accounts of the census frame (levels 0-2) alive during its window, each at a
    uniform time while alive there (all background accounts alive in the window
    when the frame has too few). Returns global indices, list indices, times and
    the count per list.
    """
    c = world.ctx
    ns = c.n_s
    k = len(n_sup)
    share = world.cfg.capture.false_detection_share
    if share >= 1.0:
        raise ConfigError(
            "'capture.false_detection_share' must be below 1 (a list cannot consist "
            "of false detections only)"
        )
    g_out: list[np.ndarray] = [np.empty(0, np.int64)]
    k_out: list[np.ndarray] = [np.empty(0, np.int64)]
    t_out: list[np.ndarray] = [np.empty(0)]
    n_false = np.zeros(k, dtype=np.int64)
    if share <= 0:
        return g_out[0], k_out[0], t_out[0], n_false
    frame_bg = np.flatnonzero(world.level[ns:] >= 0) + ns
    s_f, d_f = _exposure(c.created[frame_bg], c.end[frame_bg], a, b)
    other: np.ndarray | None = None
    for j in range(k):
        m = int(rng.poisson(share / (1.0 - share) * n_sup[j]))
        ok = d_f[:, j] > 0
        cand, cs, cd = frame_bg[ok], s_f[ok, j], d_f[ok, j]
        if len(cand) < m:
            # too few frame accounts: any background account alive in the window
            if other is None:
                other = np.setdiff1d(np.arange(ns, c.n), frame_bg, assume_unique=True)
            s_o, d_o = _exposure(
                c.created[other], c.end[other], a[j : j + 1], b[j : j + 1]
            )
            ok_o = d_o[:, 0] > 0
            cand = np.concatenate([cand, other[ok_o]])
            cs = np.concatenate([cs, s_o[ok_o, 0]])
            cd = np.concatenate([cd, d_o[ok_o, 0]])
        m = min(m, len(cand))
        pick = np.sort(rng.choice(len(cand), size=m, replace=False))
        g_out.append(cand[pick])
        k_out.append(np.full(m, j, dtype=np.int64))
        t_out.append(cs[pick] + np.clip(rng.random(m) * cd[pick], 0.0, _last(cd[pick])))
        n_false[j] = m
    return np.concatenate(g_out), np.concatenate(k_out), np.concatenate(t_out), n_false


def _iso(days: float, origin_us: int) -> str:
    us = origin_us + round(days * 86400.0) * 1_000_000
    return (
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    ).isoformat()


def _truth(  # noqa: PLR0913
    world: _World,
    names: list[str],
    windows: tuple[np.ndarray, np.ndarray],
    pop: np.ndarray,
    expo: np.ndarray,
    hit: np.ndarray,
    q: np.ndarray,
    hard: np.ndarray,
    at_census: np.ndarray,
    q_census: np.ndarray,
    false_acc: np.ndarray,
    n_false: np.ndarray,
    neg_on: bool,
) -> dict[str, Any]:
    """Return the ``stress.capture`` section of ``truth.json`` (see ``detect``)."""
    cap, cal = world.cfg.capture, world.cal
    k = len(names)
    a, b = windows
    caught = np.zeros(len(at_census), dtype=bool)
    caught[pop[hit.any(axis=1)]] = True
    sup_det = np.flatnonzero(caught)
    in_c = at_census[pop]
    mix = cap.mixture_share > 0
    return {
        "population_alive_at_census": int(len(world.alive_sup)),
        "population_ever_alive_in_windows": int(len(pop)),
        "population_alive_in_window": {
            nm: int((expo[:, j] > 0).sum()) for j, nm in enumerate(names)
        },
        "list_window_days": round(float(b[0] - a[0]), 6)
        if cap.list_window_days > 0
        else 0.0,
        "windows": {
            nm: {"start": _iso(a[j], cal.origin_us), "end": _iso(b[j], cal.origin_us)}
            for j, nm in enumerate(names)
        },
        "n_supporters_detected": int(len(sup_det)),
        "n_supporters_detected_by_source": {
            nm: int(hit[:, j].sum()) for j, nm in enumerate(names)
        },
        "n_supporters_detected_not_alive_at_census": int(
            (~at_census[sup_det]).sum()
        ),
        "n_false_detections": {
            "total": int(n_false.sum()),
            "by_source": {nm: int(n_false[j]) for j, nm in enumerate(names)},
        },
        "n_false_detection_accounts": int(len(false_acc)),
        "share_hard_class": float(hard.mean()) if mix and len(hard) else None,
        "share_hard_class_alive_at_census": float(hard[in_c].mean())
        if mix and in_c.any()
        else None,
        "catch_probability_mean": {
            nm: float(q[:, j].mean()) if len(q) else None
            for j, nm in enumerate(names)
        },
        "catch_probability_mean_alive_at_census": {
            nm: float(q_census[:, j].mean()) if len(q_census) else None
            for j, nm in enumerate(names)
        },
        "dependence": {
            "positive": {
                "lists": [names[0], names[1]],
                "log_odds_ratio": float(cap.dependence_positive),
            }
            if cap.dependence_positive != 0
            else None,
            "negative": {
                "lists": [names[k - 2], names[k - 1]],
                "log_odds_ratio": -float(cap.dependence_negative),
            }
            if neg_on
            else None,
        },
    }
