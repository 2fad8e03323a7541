"""The time gap's non-match distribution of each suspended account's own window.

In the grouped Fellegi-Sunter model the prior of each account of suspended
account ``a``'s window is ``rho / k_a``; the time gap's ``u`` is then the share
of the window's accounts at each level, ``u_a(l) = n_a(l) / k_a``, not one
``u`` pooled over all windows (see ``measure.resurrection._fellegi_sunter``,
"Per-window u of the time gap"; Winkler 1989, frequency-based matching).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import measure
from measure.resurrection import LinkageSettings, block, score, suspension_events
from measure.resurrection import _fellegi_sunter as FS
from measure.resurrection._features import (
    BACKUP_LEVEL,
    COMPARISONS,
    FEATURES,
    time_gap_levels,
    window_time_gap_counts,
)
from measure.resurrection._stages import TIME_GAP_COLUMNS

TG = FEATURES.index("time_gap")
US = 1_000_000
DAY_US = 86_400 * US
T0_US = int(dt.datetime(2015, 1, 1, tzinfo=dt.UTC).timestamp()) * US


def _d(days: float, plus_us: int = 0) -> int:
    return T0_US + round(days * DAY_US) + plus_us


# -- counting the window ------------------------------------------------------------
# Two hand-made windows over one sorted list of creation times. Window A: last
# active look-up day 95, first suspended day 100, window (day 70, day 160].
# Window B: no active look-up, first suspended day 100, window (day 99, day 110].
CREATED = sorted([
    _d(60),          # before both windows
    _d(70),          # A's opening itself: not inside (the window is open there)
    _d(80),          # A: before the last active look-up -> backup level 5
    _d(95),          # A: exactly at the last active look-up -> level 5
    _d(95, 1),       # A: one microsecond later -> "<= 2 d" (level 4)
    _d(102),         # A, B: exactly 2 days after the first suspended -> level 4
    _d(102, 1),      # A, B: one microsecond later -> "2-7 d" (level 3)
    _d(107),         # A, B: 7 days -> level 3
    _d(114),         # A: 14 days -> level 2
    _d(130),         # A: 30 days -> level 1
    _d(130, 1),      # A: later -> "> 30 d" (level 0)
    _d(160),         # A: the window's closing is inside -> level 0
    _d(160, 1),      # after A
])
LOWER = np.array([_d(70), _d(99)])
UPPER = np.array([_d(160), _d(110)])
FIRST_SUSPENDED = np.array([_d(100), _d(100)])
LAST_ACTIVE = np.array([float(_d(95)), np.nan])
# by hand from the comments above, levels 0 (> 30 d) ... 5 (backup)
HAND_COUNTS = np.array([[2, 1, 1, 2, 2, 2],
                        [0, 0, 0, 2, 1, 0]])


def test_window_counts_match_a_hand_count_at_the_level_boundaries() -> None:
    t = np.asarray(CREATED, dtype=np.int64)
    lo = np.searchsorted(t, LOWER, side="right")
    hi = np.searchsorted(t, UPPER, side="right")
    got = window_time_gap_counts(t, lo, hi, FIRST_SUSPENDED, LAST_ACTIVE)
    np.testing.assert_array_equal(got, HAND_COUNTS)
    # each account is counted at the level its pair gets (the comparison step's
    # own function): the two agree at every boundary
    for a in range(2):
        inside = t[lo[a]:hi[a]]
        lv = time_gap_levels(inside, np.full(inside.size, FIRST_SUSPENDED[a]),
                             np.full(inside.size, LAST_ACTIVE[a]))
        np.testing.assert_array_equal(np.bincount(lv, minlength=6), HAND_COUNTS[a])


def _hand_model_bins() -> tuple[np.ndarray, np.ndarray]:
    """Three candidates of window A (levels 5, 4, 0) and two of B (levels 4, 3);
    the avatar is the only other comparison observed (equal for the first
    candidate of each window)."""
    bins = np.full((5, len(COMPARISONS)), -1, dtype=np.int64)
    bins[:, TG] = [BACKUP_LEVEL, 4, 0, 4, 3]
    bins[:, FEATURES.index("avatar")] = [1, 0, 0, 1, 0]
    return bins, np.array([0, 0, 0, 1, 1])


def test_fit_uses_the_hand_computed_share_of_each_window() -> None:
    """``u_a`` is the window's count over its size: A [2, 1, 1, 2, 2, 2] / 10,
    B [0, 0, 0, 2, 1, 0] / 3; ``model.u`` reports the pooled share over the
    13 window pairs."""
    bins, group = _hand_model_bins()
    model = FS.fit_em_grouped(bins, group, n_cand=np.array([10.0, 3.0]),
                              window_counts={"time_gap": HAND_COUNTS})
    wu = model.extra["window_u"]["time_gap"]
    np.testing.assert_allclose(wu[0], [0.2, 0.1, 0.1, 0.2, 0.2, 0.2], rtol=1e-15)
    np.testing.assert_allclose(wu[1], [0, 0, 0, 2 / 3, 1 / 3, 0], rtol=1e-15)
    np.testing.assert_allclose(model.u["time_gap"],
                               np.array([2, 1, 1, 4, 3, 2]) / 13, rtol=1e-15)


def test_predict_grouped_posterior_by_hand() -> None:
    """With ``m``, ``u``, ``rho`` and the windows fixed, the posterior of each
    candidate is ``(rho/k_a) L_j / ((1 - rho) + (rho/k_a) sum_i L_i)`` with the
    time gap's ``L = m(l) / u_a(l)``, computed here by hand."""
    bins, group = _hand_model_bins()
    m_t = np.array([0.05, 0.05, 0.1, 0.2, 0.4, 0.2])
    m_av, u_av = np.array([0.3, 0.7]), np.array([0.9, 0.1])
    names = [c.name for c in COMPARISONS]
    m = {n: np.full(len(c.levels), 1 / len(c.levels)) for n, c in zip(
        names, COMPARISONS, strict=True)}
    u = {n: v.copy() for n, v in m.items()}
    m["time_gap"], m["avatar"], u["avatar"] = m_t, m_av, u_av
    u["time_gap"] = np.full(6, 1 / 6)  # pooled: not used for the time gap
    ua = HAND_COUNTS / HAND_COUNTS.sum(axis=1, keepdims=True)
    rho, k = 0.4, np.array([10.0, 3.0])
    model = FS.FSModel(lam=rho, m=m, u=u, n_iter=0, converged=True, loglik=0.0,
                       extra={"k": k, "window_u": {"time_gap": ua}})
    got = FS.predict_grouped(model, bins, group)
    # by hand: A's candidates (levels 5, 4, 0; avatar equal, different, different)
    la = [(0.2 / 0.2) * (0.7 / 0.1), (0.4 / 0.2) * (0.3 / 0.9),
          (0.05 / 0.2) * (0.3 / 0.9)]
    lb = [(0.4 / (1 / 3)) * (0.7 / 0.1), (0.2 / (2 / 3)) * (0.3 / 0.9)]
    want = [rho / 10 * x / ((1 - rho) + rho / 10 * sum(la)) for x in la] + [
        rho / 3 * x / ((1 - rho) + rho / 3 * sum(lb)) for x in lb]
    # log u_a is kept per pair in float32 (7 significant digits): measured
    # relative difference 2.5e-8
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the same model with one pooled u gives other probabilities
    pooled = FS.FSModel(lam=rho, m=m, u=u, n_iter=0, converged=True, loglik=0.0,
                        extra={"k": k})
    assert not np.allclose(FS.predict_grouped(pooled, bins, group), want)


def test_unused_backup_level_counts_as_two_days_or_less() -> None:
    """When no pair takes the backup level it is left out of the model; the
    window accounts created before the last active look-up then count at
    "<= 2 d", the level their pairs have without it: A becomes
    [2, 1, 1, 2, 4, 0] / 10."""
    bins, group = _hand_model_bins()
    bins[0, TG] = 4
    model = FS.fit_em_grouped(bins, group, n_cand=np.array([10.0, 3.0]),
                              window_counts={"time_gap": HAND_COUNTS})
    np.testing.assert_allclose(model.extra["window_u"]["time_gap"][0],
                               [0.2, 0.1, 0.1, 0.2, 0.4, 0.0], rtol=1e-15)
    assert model.m["time_gap"][BACKUP_LEVEL] == 0.0


def test_block_counts_the_tiny_world_windows_by_hand(tiny) -> None:
    """Tiny world (``conftest.tiny_tables``), default window (60 backup days):
    1 (last active day 14, first suspended 21, window (0, 81]): 2 (day 23, gap
    2 d), 7 (25: 4 d), 5 (30: 9 d), 3 (52: 31 d); 2 (42, 49, (23, 109]): 7 (25)
    and 5 (30) before day 42 (backup level), 3 (52: 3 d), 6 (100: 51 d);
    4 (21, 28, (0, 88]): 2, 7, 5 (days 23-30, <= 2 d), 3 (52: 24 d)."""
    with measure.open(tiny) as ds:
        ev = suspension_events(ds)
        cands = block(ds, ev, LinkageSettings())
        sc = score(cands)
    w = cands.window_sizes.sort("previous")
    counts = w.select(TIME_GAP_COLUMNS).to_numpy()
    np.testing.assert_array_equal(counts, [[1, 0, 1, 1, 1, 0], [1, 0, 0, 1, 0, 2],
                                           [0, 1, 0, 0, 3, 0]])
    assert (counts.sum(axis=1) == w["n_window"].to_numpy()).all()
    # every candidate's level is one its window holds
    j = cands.pairs.select("previous", "bin_time_gap").join(w, on="previous")
    lv = j["bin_time_gap"].to_numpy()
    assert (j.select(TIME_GAP_COLUMNS).to_numpy()[np.arange(lv.size), lv] > 0).all()
    # the fitted model carries each window's own shares (suspended 1, 2, 4)
    np.testing.assert_allclose(sc.model.extra["window_u"]["time_gap"],
                               counts / counts.sum(axis=1, keepdims=True))
    assert "time_gap u of each window" in sc.model.method


# -- EM on a mixture where the pooled u is wrong ------------------------------------
# Suspended accounts with a successor in their window (share RHO) among K_SMALL
# or K_LARGE window accounts, all of them candidates. The non-successors' time
# gap follows the window's own level shares: half of a small window's accounts
# are created within two days of the suspension, 4% of a large one's (opened
# long before: 45% at the backup level). Successors follow M_TIME. Avatar, bio,
# followers and handle carry evidence too (conditionally independent).
G, RHO, K_SMALL, K_LARGE, LARGE_SHARE = 2000, 0.6, 60, 240, 0.5
M_TIME = np.array([0.05, 0.10, 0.20, 0.30, 0.10, 0.25])
W_SMALL = np.array([0.12, 0.12, 0.12, 0.14, 0.50, 0.0])
W_LARGE = np.array([0.25, 0.15, 0.06, 0.05, 0.04, 0.45])
EVIDENCE = {
    "avatar": ([0.3, 0.7], [0.95, 0.05]),
    "bio": ([0.2, 0.1, 0.1, 0.2, 0.4], [0.8, 0.12, 0.05, 0.02, 0.01]),
    "followers": ([0.1, 0.1, 0.1, 0.2, 0.2, 0.3],
                  [0.5, 0.35, 0.08, 0.04, 0.02, 0.01]),
    "handle": ([0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2],
               [0.9, 0.05, 0.03, 0.01, 0.005, 0.003, 0.002]),
}


def _window_mixture(seed: int) -> tuple[np.ndarray, ...]:
    """``bins, group, z`` (successor), window sizes, window level counts, and
    whether each window is large."""
    rng = np.random.default_rng(seed)
    large = rng.random(G) < LARGE_SHARE
    k = np.where(large, K_LARGE, K_SMALL)
    group = np.repeat(np.arange(G), k)
    first = np.r_[0, np.cumsum(k)[:-1]]
    z = np.zeros(group.size, dtype=bool)
    z[first[rng.random(G) < RHO]] = True
    shares = np.where(large[group][:, None], W_LARGE, W_SMALL)
    lv = (rng.random(group.size)[:, None] > np.cumsum(shares, axis=1)).sum(axis=1)
    lv = np.minimum(lv, 5)
    lv[z] = rng.choice(6, z.sum(), p=M_TIME)
    counts = np.zeros((G, 6))
    np.add.at(counts, (group, lv), 1)
    bins = np.full((group.size, len(COMPARISONS)), -1, dtype=np.int64)
    bins[:, TG] = lv
    for name, (m, u) in EVIDENCE.items():
        kk = FEATURES.index(name)
        bins[:, kk] = np.where(z, rng.choice(len(m), z.size, p=m),
                               rng.choice(len(u), z.size, p=u))
    return bins, group, z, k.astype(np.float64), counts, large


# Tolerances from seeds 0-11 of this design: per-window u, largest error of the
# time gap's m over the levels 0.011-0.039, rho 0.019-0.050 low (the grouped EM
# with this weak evidence gives a low rho with the true u_a as well), expected
# successors 0.90-0.99 of the true count in either kind of window; pooled u,
# m("<= 2 d") 0.046-0.100 too high, rho 0.09-0.23 too high, expected
# successors in small windows 1.18-1.42 times the true count.
TOL_M, TOL_RHO, TOL_SUCCESSORS = 0.045, 0.06, 0.12


def test_em_with_window_u_recovers_the_time_gap_where_a_pooled_u_fails() -> None:
    """Per-window ``u`` (seed 0): the time gap's ``m`` within TOL_M at every
    level, ``rho`` within TOL_RHO and the successors expected in small and in
    large windows (sums of posteriors) within TOL_SUCCESSORS of the true
    counts. One ``u`` pooled over the window pairs (the true pooled shares,
    fixed) makes the small windows' many "<= 2 d" accounts look rare: their
    candidates gain odds, so ``m("<= 2 d")`` comes out more than TOL_M too high
    (seed 0: +0.066), ``rho`` too high and the small windows' expected
    successors more than 15% too many."""
    bins, group, z, k, counts, large = _window_mixture(0)
    rho_true = z.sum() / G
    per = FS.fit_em_grouped(bins, group, n_cand=k, window_counts={"time_gap": counts})
    pooled = FS.fit_em_grouped(bins, group, n_cand=k,
                               fixed_u={"time_gap": counts.sum(axis=0) / counts.sum()})
    assert per.converged and pooled.converged
    np.testing.assert_allclose(per.m["time_gap"], M_TIME, atol=TOL_M)
    assert abs(per.lam - rho_true) < TOL_RHO
    p = FS.predict_grouped(per, bins, group)
    gl = large[group]
    for sel in (gl, ~gl):
        assert p[sel].sum() == pytest.approx(z[sel].sum(), rel=TOL_SUCCESSORS)
    assert pooled.m["time_gap"][4] - M_TIME[4] > TOL_M
    assert pooled.lam - rho_true > TOL_RHO
    p0 = FS.predict_grouped(pooled, bins, group)
    assert p0[~gl].sum() > 1.15 * z[~gl].sum()


def test_score_passes_the_window_counts_only_with_window_priors() -> None:
    """Without the window sizes (no random pairs: the prior is one over the
    candidates) the time gap keeps one ``u`` estimated by EM."""
    rng = np.random.default_rng(1)
    n = 3000
    bins = {f"bin_{f}": np.full(n, -1, dtype=np.int8) for f in FEATURES}
    bins["bin_time_gap"] = rng.integers(0, 5, n).astype(np.int8)
    bins["bin_avatar"] = rng.integers(0, 2, n).astype(np.int8)
    pairs = pl.DataFrame({"previous": np.repeat(np.arange(n // 3), 3),
                          "new": np.arange(n) + n, **bins})
    cands = measure.resurrection.Candidates(
        pairs=pairs, random_pairs=None,
        window_sizes=pl.DataFrame({"previous": [], "n_window": []}),
        n_window_pairs=0.0, pairs_by_key={})
    sc = score(cands, LinkageSettings(u_random_pairs=0))
    assert sc.model.extra["window_u"] == {}
    assert "each window" not in sc.model.method
