"""Fellegi-Sunter EM recovers known parameters; the supervised model works."""

from __future__ import annotations

import numpy as np
import pytest

from measure.errors import EstimationError
from measure.resurrection._features import COMPARISONS
from measure.resurrection._fellegi_sunter import (
    _normalise,
    fit_em,
    fit_logit,
    predict_em,
    predict_logit,
)

# Sampling error of a proportion from ~5,000 matches / ~45,000 non-matches is below
# 0.01; EM adds some. 0.03 absolute is three to five standard errors.
PARAM_TOL = 0.03
LAMBDA_TOL = 0.01
# A comparison conditional on another (level groups) is estimated from the pairs in
# each group only, often a few hundred: there the tolerance is 4 binomial standard
# errors of the group's sample size when that is larger than PARAM_TOL.
Z_TOL = 4.0
P_MISSING = 0.2


def _simulate(n: int, lam: float, rng: np.random.Generator,
              p_missing: float = P_MISSING):
    """Pairs drawn from a Fellegi-Sunter model with known m, u (splink-style test)."""
    y = rng.random(n) < lam
    m, u, cols = {}, {}, []
    for c in COMPARISONS:
        L = len(c.levels)
        mk = np.linspace(1, 3, L) ** 3
        uk = mk[::-1].copy()
        mk, uk = mk / mk.sum(), uk / uk.sum()
        x = np.where(y, rng.choice(L, n, p=mk), rng.choice(L, n, p=uk))
        x[rng.random(n) < p_missing] = -1
        cols.append(x)
        # a comparison conditional on another (levels in groups) has level
        # probabilities within its group: P(level | group, class)
        m[c.name], u[c.name] = _normalise(c, mk), _normalise(c, uk)
    return np.column_stack(cols), y, m, u


def test_em_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(7)
    bins, y, m, u = _simulate(50_000, 0.1, rng)
    model = fit_em(bins)
    assert model.converged
    assert abs(model.lam - 0.1) < LAMBDA_TOL
    for k, c in enumerate(COMPARISONS):
        for est, want, cls in ((model.m, m, y), (model.u, u, ~y)):
            tol = PARAM_TOL
            if c.groups is not None:
                # conditional levels are estimated from the pairs in their group
                g = np.asarray(c.groups)
                x = bins[cls, k]
                n_g = np.bincount(g[x[x >= 0]], minlength=g.max() + 1)[g]
                se = np.sqrt(want[c.name] * (1 - want[c.name]) / np.maximum(n_g, 1))
                tol = np.maximum(PARAM_TOL, Z_TOL * se)
            assert np.all(np.abs(est[c.name] - want[c.name]) < tol), c.name
    p = predict_em(model, bins)
    # posterior probabilities are calibrated when the model is true
    assert abs(p.mean() - y.mean()) < LAMBDA_TOL
    w = model.weights()
    assert w.height == sum(len(c.levels) for c in COMPARISONS)


def test_em_needs_pairs() -> None:
    with pytest.raises(EstimationError, match="no candidate pairs"):
        fit_em(np.zeros((0, len(COMPARISONS)), dtype=np.int64))


def test_supervised_logit_separates_classes() -> None:
    rng = np.random.default_rng(8)
    bins, y, _, _ = _simulate(5_000, 0.2, rng)
    model = fit_logit(bins[:2000], y[:2000].astype(int))
    p = predict_logit(model, bins[2000:])
    yt = y[2000:]
    # the test half is classified far better than chance
    acc = np.mean((p > 0.5) == yt)
    assert acc > 0.95
    assert abs(p.mean() - yt.mean()) < 0.03
    with pytest.raises(EstimationError, match="both matches"):
        fit_logit(bins[:10], np.zeros(10, dtype=int))


# Random pairs from windows of N_A accounts hold the successor with probability
# RHO / N_A; on levels that non-matches rarely reach (u ~ 1e-3) that is a bias of
# a factor ~2 unless those pairs are weighted by their non-match probability.
# 200,000 random pairs put ~250 non-matches on such a level: 4 binomial standard
# errors are ~25%, so the weighted estimate must be within 30% of the truth.
U_REL_TOL = 0.30
RHO_TOL = 0.03


def test_grouped_em_with_random_pair_u_is_not_biased_by_matches() -> None:
    from measure.resurrection._fellegi_sunter import fit_em_grouped

    rng = np.random.default_rng(11)
    n_groups, n_a, k_cand, rho = 2000, 200, 10, 0.5
    m, u, u_want = {}, {}, {}
    for c in COMPARISONS:
        L = len(c.levels)
        mk = np.ones(L)
        mk[-1] = 3 * L  # matches mostly on the top level
        uk = np.ones(L) * 1e-3
        uk[0] = 1.0  # non-matches almost all on the bottom level
        m[c.name], u[c.name] = mk / mk.sum(), uk / uk.sum()
        u_want[c.name] = _normalise(c, u[c.name])  # within level groups

    def draw(probs: dict, n: int) -> np.ndarray:
        return np.column_stack([rng.choice(len(c.levels), n, p=probs[c.name])
                                for c in COMPARISONS])

    has = rng.random(n_groups) < rho
    # candidates: the successor (when there is one) first, then non-matches
    sizes = k_cand + has.astype(int)
    group = np.repeat(np.arange(n_groups), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    is_match = np.zeros(group.size, bool)
    is_match[first[has]] = True
    bins = np.where(is_match[:, None], draw(m, group.size), draw(u, group.size))
    # random pairs: a uniform account of a uniform window
    n_r = 200_000
    g_r = rng.integers(0, n_groups, n_r)
    slot = rng.integers(0, n_a, n_r)  # slot < sizes: one of the candidates
    idx = np.where(slot < sizes[g_r], first[g_r] + slot, -1)
    r_bins = np.where((idx >= 0)[:, None], bins[np.maximum(idx, 0)], draw(u, n_r))
    model = fit_em_grouped(bins, group, n_cand=np.full(n_groups, float(n_a)),
                           random_bins=r_bins, random_idx=idx)
    assert abs(model.lam - has.mean()) < RHO_TOL
    naive = fit_em_grouped(bins, group, n_cand=np.full(n_groups, float(n_a)),
                           random_bins=r_bins, random_idx=np.full(n_r, -1))
    for c in COMPARISONS:
        top = len(c.levels) - 1
        want = u_want[c.name][top]
        assert abs(model.u[c.name][top] / want - 1) < U_REL_TOL, c.name
        # ignoring that random pairs hold matches overstates u of the top level
        assert naive.u[c.name][top] > model.u[c.name][top]


# a rare agreement level (u = 1e-4 among non-matches) of 2 million window pairs:
# the candidates hold about 200 such pairs, 50,000 random pairs about 5
U_RARE = 1e-4
U_RARE_REL_TOL = 0.30  # census of ~200 pairs: relative sd ~7%


def test_grouped_em_u_counts_rare_levels_among_candidates() -> None:
    """u of a rare level comes from the candidates (a census of the window pairs
    that agree on something) when ``n_window_pairs`` is given; random pairs alone
    see a handful of them."""
    from measure.resurrection._fellegi_sunter import fit_em_grouped

    rng = np.random.default_rng(7)
    n_groups, n_a = 1000, 2000
    m, u = {}, {}
    for c in COMPARISONS:
        L = len(c.levels)
        uk = np.full(L, U_RARE)
        uk[0] = 1.0 - (L - 1) * U_RARE
        mk = np.ones(L)
        mk[-1] = 3 * L
        m[c.name], u[c.name] = mk / mk.sum(), uk
    u_want = {c.name: _normalise(c, u[c.name]) for c in COMPARISONS}
    n_pairs = n_groups * n_a
    bins = np.column_stack([rng.choice(len(c.levels), n_pairs, p=u[c.name])
                            for c in COMPARISONS]).astype(np.int8)
    group_all = np.repeat(np.arange(n_groups), n_a)
    # half the suspended accounts have their successor in slot 0 of the window
    has = rng.random(n_groups) < 0.5
    succ = np.arange(n_groups)[has] * n_a
    bins[succ] = np.column_stack([rng.choice(len(c.levels), succ.size,
                                             p=m[c.name]) for c in COMPARISONS])
    # blocking: the pairs that agree on something (any level above 0)
    cand = np.flatnonzero((bins > 0).any(axis=1))
    row_of = np.full(n_pairs, -1)
    row_of[cand] = np.arange(cand.size)
    r = rng.integers(0, n_pairs, 50_000)
    r_bins, r_idx = bins[r].astype(np.int64), row_of[r]
    c_bins = bins[cand].astype(np.int64)
    groups = np.unique(group_all[cand], return_inverse=True)[1]
    n_cand = np.full(groups.max() + 1, float(n_a))
    strat = fit_em_grouped(c_bins, groups, n_cand=n_cand, random_bins=r_bins,
                           random_idx=r_idx, n_window_pairs=float(n_pairs))
    rand = fit_em_grouped(c_bins, groups, n_cand=n_cand, random_bins=r_bins,
                          random_idx=r_idx)
    err_s, err_r = [], []
    for c in COMPARISONS:
        top = len(c.levels) - 1
        want = u_want[c.name][top]
        err_s.append(abs(strat.u[c.name][top] / want - 1))
        err_r.append(abs(rand.u[c.name][top] / want - 1))
        assert err_s[-1] < U_RARE_REL_TOL, c.name
    assert np.mean(err_s) < np.mean(err_r)
    assert "candidate and random window pairs" in strat.method
