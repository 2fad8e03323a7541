"""Proper multiple imputation: link sets from EM refitted on bootstrap resamples.

A bootstrap resample given as integer weights must fit exactly as the
resample itself (copies of a suspended account have the same E-step), and the
refits must add the parameters' uncertainty to the between-imputation
variance of Rubin's rules (Rubin 1987, *Multiple Imputation for Nonresponse in
Surveys*, ch. 4, "proper" imputation).
"""

from __future__ import annotations

import numpy as np
import pytest

import measure
from measure.errors import ConfigError
from measure.resurrection import (
    assign,
    block,
    measure_returns,
    score,
    suspension_events,
)
from measure.resurrection._features import COMPARISONS
from measure.resurrection._fellegi_sunter import (
    GroupedEM,
    fit_em,
    fit_em_grouped,
)

# the weighted and the duplicated fit run the same iterations; only the order
# of floating-point sums differs
EXACT = 1e-9


def _grouped_data(rng: np.random.Generator, n_groups: int = 80, k: int = 6):
    """Candidate pairs (a successor in half the groups), random pairs, windows."""
    def draw(top: bool, n: int) -> np.ndarray:
        cols = []
        for c in COMPARISONS:
            L = len(c.levels)
            w = np.ones(L)
            w[-1 if top else 0] = 3 * L
            cols.append(rng.choice(L, n, p=w / w.sum()))
        return np.column_stack(cols)

    group = np.repeat(np.arange(n_groups), k)
    bins = draw(False, group.size)
    has = np.flatnonzero(rng.random(n_groups) < 0.5)
    bins[has * k] = draw(True, has.size)
    n_window = rng.integers(k + 20, k + 60, n_groups).astype(float)
    n_r = 400
    r_grp = rng.integers(0, n_groups, n_r)
    r_bins = draw(False, n_r)
    r_idx = np.where(rng.random(n_r) < 0.1, r_grp * k + 1, -1)
    r_bins[r_idx >= 0] = bins[r_idx[r_idx >= 0]]
    tg = [c.name for c in COMPARISONS].index("time_gap")
    L = len(COMPARISONS[tg].levels)
    counts = np.zeros((n_groups, L))
    np.add.at(counts, (group, bins[:, tg]), 1.0)
    counts[:, 0] += n_window - k
    return dict(bins=bins, group=group, n_window=n_window, r_bins=r_bins,
                r_grp=r_grp, r_idx=r_idx, counts=counts, k=k)


def test_weighted_grouped_fit_equals_the_fit_on_the_resample() -> None:
    rng = np.random.default_rng(4)
    d = _grouped_data(rng)
    G, k = d["n_window"].size, d["k"]
    w = rng.multinomial(G, np.full(G, 1 / G))
    em = GroupedEM(d["bins"], d["group"], n_cand=d["n_window"],
                   random_bins=d["r_bins"], random_idx=d["r_idx"],
                   n_window_pairs=float(d["n_window"].sum()),
                   window_counts={"time_gap": d["counts"]})
    weighted = em.fit(weights=w.astype(float),
                      random_weights=w[d["r_grp"]].astype(float),
                      n_window_pairs=float(np.sum(w * d["n_window"])))
    # the resample itself: each group copied w times, with its random pairs
    sel = np.repeat(np.arange(G), w)
    rows = (sel[:, None] * k + np.arange(k)).reshape(-1)
    new_group = np.repeat(np.arange(sel.size), k)
    r_rows, r_idx = [], []
    for i, g in enumerate(sel):
        for j in np.flatnonzero(d["r_grp"] == g):
            r_rows.append(j)
            old = d["r_idx"][j]
            r_idx.append(-1 if old < 0 else i * k + (old - g * k))
    dup = fit_em_grouped(d["bins"][rows], new_group, n_cand=d["n_window"][sel],
                         random_bins=d["r_bins"][r_rows], random_idx=np.array(r_idx),
                         n_window_pairs=float(d["n_window"][sel].sum()),
                         window_counts={"time_gap": d["counts"][sel]})
    assert weighted.n_iter == dup.n_iter
    assert weighted.lam == pytest.approx(dup.lam, abs=EXACT)
    for c in COMPARISONS:
        np.testing.assert_allclose(weighted.m[c.name], dup.m[c.name], atol=EXACT)
        if c.name != "time_gap":  # the pooled window u is reported, not fitted
            np.testing.assert_allclose(weighted.u[c.name], dup.u[c.name], atol=EXACT)


def test_weighted_pairwise_fit_equals_the_fit_on_the_resample() -> None:
    rng = np.random.default_rng(6)
    d = _grouped_data(rng)
    w = rng.integers(0, 3, d["bins"].shape[0])
    weighted = fit_em(d["bins"], weights=w.astype(float))
    dup = fit_em(np.repeat(d["bins"], w, axis=0))
    assert weighted.lam == pytest.approx(dup.lam, abs=EXACT)
    for c in COMPARISONS:
        np.testing.assert_allclose(weighted.m[c.name], dup.m[c.name], atol=EXACT)
        np.testing.assert_allclose(weighted.u[c.name], dup.u[c.name], atol=EXACT)


def test_warm_start_at_the_fit_stays_there() -> None:
    rng = np.random.default_rng(8)
    d = _grouped_data(rng)
    em = GroupedEM(d["bins"], d["group"], n_cand=d["n_window"],
                   random_bins=d["r_bins"], random_idx=d["r_idx"],
                   n_window_pairs=float(d["n_window"].sum()))
    fit = em.fit()
    again = em.fit(init=fit, max_iter=3)
    # one EM step from the converged fit moves the probabilities by no more
    # than the tolerance allows (rho changed by < 1e-7 at the last step)
    assert np.abs(em.predict(again) - em.predict(fit)).max() < 1e-4


@pytest.fixture(scope="module")
def stages(small_world):
    with measure.open(small_world) as ds:
        ev = suspension_events(ds, window=60)
        cands = block(ds, ev)
        sc = score(cands)
        ln = assign(sc, ev)
        yield ds, ev, sc, ln


def _rate(stages, **kw):
    ds, ev, sc, ln = stages
    ret = measure_returns(ds, ev, sc, ln, n_boot=0, **kw)
    return ret.rates[30.0], ret.method


# Rubin's between variance from m imputations has a relative standard error
# of about sqrt(2 / (m - 1)): 12% at m = 150. On the small world (seeds 1-5)
# refitting raised it 1.35- to 2.3-fold, so the comparison is about three
# standard errors of the log ratio from failing.
M_IMPUTATIONS = 150


def test_refitting_em_widens_the_between_imputation_variance(stages) -> None:
    fixed, _ = _rate(stages, n_imputations=M_IMPUTATIONS, seed=1, refit_em=False)
    proper, method = _rate(stages, n_imputations=M_IMPUTATIONS, seed=1)
    assert "proper multiple imputation" in method
    assert proper.extra["proper_imputation"] and not fixed.extra["proper_imputation"]
    b_fixed, b_proper = fixed.extra["between_var"], proper.extra["between_var"]
    # the parameters' uncertainty adds to the links' own
    assert b_proper >= b_fixed
    assert proper.std_error >= fixed.std_error
    assert (proper.ci[1] - proper.ci[0]) >= (fixed.ci[1] - fixed.ci[0])


def test_refit_imputations_are_reproducible_with_the_seed(stages) -> None:
    a, _ = _rate(stages, n_imputations=5, seed=3)
    b, _ = _rate(stages, n_imputations=5, seed=3)
    c, _ = _rate(stages, n_imputations=5, seed=4)
    assert (a.estimate, *a.ci) == (b.estimate, *b.ci)
    assert (a.estimate, *a.ci) != (c.estimate, *c.ci)


def test_refit_needs_at_least_one_iteration(stages) -> None:
    with pytest.raises(ConfigError, match="refit_max_iter"):
        _rate(stages, n_imputations=2, refit_max_iter=0)
