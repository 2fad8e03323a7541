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
