"""Bayesian model averaging over decomposable graphical models (Madigan & York 1997).

Published values: Madigan & York (1997, Biometrika 84, 19-31), three-list spina
bifida example, as asserted by R's dga 2.0.2 in ``tests/testthat/test-BMAfunctions.R``
(test "3 lists example against Madigan and York"; github.com/cran/dga, commit
ef1a128). Independent checks: chordality by brute force, and the clique/separator
marginal likelihood against a sequential conditional-Dirichlet factorisation and a
Monte Carlo integral.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations, permutations

import numpy as np
import pytest
from scipy.special import gammaln

from measure._results import Estimate
from measure.capture._graphical import (
    GraphicalBMA,
    bma_estimate,
    bma_graphical,
    decomposable_graphs,
    from_dga_vector,
    log_marginal_likelihood,
)
from measure.errors import ConfigError, EstimationError


# ------------------------------------------------------------------ enumeration
def _has_chordless_cycle(k: int, edges: set[tuple[int, int]]) -> bool:
    """Brute force: some vertex subset of size >= 4 induces a cycle."""
    for size in range(4, k + 1):
        for vs in combinations(range(k), size):
            sub = [(a, b) for a, b in combinations(vs, 2) if (a, b) in edges]
            deg = {v: 0 for v in vs}
            for a, b in sub:
                deg[a] += 1
                deg[b] += 1
            if len(sub) != size or any(d != 2 for d in deg.values()):
                continue
            seen, stack = {vs[0]}, [vs[0]]  # connected 2-regular graph = a cycle
            while stack:
                v = stack.pop()
                for a, b in sub:
                    for w in (b,) if a == v else (a,) if b == v else ():
                        if w not in seen:
                            seen.add(w)
                            stack.append(w)
            if len(seen) == size:
                return True
    return False


@pytest.mark.parametrize(("k", "count"), [(1, 1), (2, 2), (3, 8), (4, 61), (5, 822)])
def test_decomposable_graph_counts_match_oeis_a058862(k, count):
    """1, 2, 8, 61, 822 labelled chordal graphs (OEIS A058862); same set as brute force.

    Every returned graph has no chordless cycle of length >= 4, every graph on ``k``
    nodes without one is returned, cliques are maximal and cover the edges, and the
    junction-tree identity ``sum |C| - sum |S| = k`` holds.
    """
    graphs = decomposable_graphs(k)
    assert len(graphs) == count
    pairs = list(combinations(range(k), 2))
    chordal = set()
    for e_mask in range(1 << len(pairs)):
        edges = {p for i, p in enumerate(pairs) if e_mask >> i & 1}
        if not _has_chordless_cycle(k, edges):
            chordal.add(frozenset(edges))
    assert {frozenset(g.edges) for g in graphs} == chordal
    for g in graphs:
        edges = set(g.edges)
        covered = set()
        for c in g.cliques:
            assert all(p in edges for p in combinations(sorted(c), 2))
            covered |= set(combinations(sorted(c), 2))
            assert not any(
                all((min(v, u), max(v, u)) in edges for u in c)
                for v in set(range(k)) - c
            ), "clique is not maximal"
        assert covered == edges
        assert sum(map(len, g.cliques)) - sum(map(len, g.separators)) == k


# ------------------------------------------------------------ marginal likelihood
def _log_dm(counts: np.ndarray, a: float) -> float:
    """Log Dirichlet-multinomial probability of an ordered sample, equal weights."""
    counts = np.asarray(counts, dtype=float)
    return float(
        gammaln(a * counts.size)
        - gammaln(a * counts.size + counts.sum())
        + np.sum(gammaln(a + counts) - gammaln(a))
    )


def _perfect_order(cliques):
    """A clique order with the running-intersection property (by search)."""
    for order in permutations(cliques):
        ok = True
        for j in range(1, len(order)):
            sep = order[j] & frozenset().union(*order[:j])
            if not any(sep <= order[i] for i in range(j)):
                ok = False
                break
        if ok:
            return order
    raise AssertionError("no perfect ordering: not decomposable")


def _sequential_log_ml(table: np.ndarray, k: int, cliques, delta: float) -> float:
    """``p = p(C1) prod_j p(C_j - S_j | S_j)`` with independent Dirichlets.

    Hyper-Dirichlet of Dawid & Lauritzen (1993): the first clique's margin and each
    conditional table of a later clique given its separator are independent
    Dirichlets with weight ``delta * 2**(k - |C|)`` per clique cell.
    """
    masks = np.arange(2**k)
    order = _perfect_order(cliques)
    total = 0.0
    union: frozenset[int] = frozenset()
    for c in order:
        sep = c & union
        c_mask = sum(1 << j for j in c)
        s_mask = sum(1 << j for j in sep)
        marg = np.bincount(masks & c_mask, weights=table, minlength=2**k)
        a = delta * 2.0 ** (k - len(c))
        cells = [x for x in range(2**k) if x & c_mask == x]
        for s_val in {x & s_mask for x in cells}:
            total += _log_dm(marg[[x for x in cells if x & s_mask == s_val]], a)
        union = union | c
    return total


@pytest.mark.parametrize("k", [3, 4, 5])
def test_clique_separator_formula_equals_sequential_conditional_dirichlets(k):
    """Both factorisations of the hyper-Dirichlet marginal likelihood agree to 1e-9."""
    rng = np.random.default_rng(2024 + k)
    table = rng.integers(0, 40, size=2**k).astype(float)
    for delta in (2.0**-k, 0.7):
        for g in decomposable_graphs(k):
            ours = log_marginal_likelihood(table, g, delta)
            ref = _sequential_log_ml(table, k, g.cliques, delta)
            assert ours == pytest.approx(ref, abs=1e-9), g.label()


def test_marginal_likelihood_matches_monte_carlo_integral():
    """Chain ``[0,1][1,2]``: the closed form equals the prior mean of the likelihood.

    ``p(x0, x1) ~ Dir(2 delta, ...)`` and ``p(x2 | x1) ~ Dir(2 delta, 2 delta)``
    (delta = 1), 400,000 draws; agreement within 4 Monte Carlo standard errors.
    """
    k, delta = 3, 1.0
    table = np.array([2, 1, 0, 3, 1, 0, 2, 1], dtype=float)  # mask order, cell 0 first
    chain = next(g for g in decomposable_graphs(k) if g.edges == ((0, 1), (1, 2)))
    rng = np.random.default_rng(7)
    draws = 400_000
    p01 = rng.dirichlet([2 * delta] * 4, size=draws)  # index x0 + 2 x1
    p2 = rng.dirichlet([2 * delta] * 2, size=(draws, 2))  # [x1, x2]
    loglik = np.zeros(draws)
    for mask in range(8):
        x0, x1, x2 = mask & 1, mask >> 1 & 1, mask >> 2 & 1
        loglik += table[mask] * (np.log(p01[:, x0 + 2 * x1]) + np.log(p2[:, x1, x2]))
    lik = np.exp(loglik)
    mc, se = lik.mean(), lik.std() / math.sqrt(draws)
    exact = math.exp(log_marginal_likelihood(table, chain, delta))
    assert abs(mc - exact) < 4 * se
    assert se / exact < 0.05  # the check has teeth


def test_saturated_graph_is_the_plain_dirichlet_multinomial():
    """One clique of all lists: ``log B(delta + n) - log B(delta)`` (direct formula)."""
    table = np.array([5, 3, 0, 7, 2, 9, 1, 4, 6, 0, 2, 3, 1, 1, 0, 8], dtype=float)
    saturated = decomposable_graphs(4)[-1]
    assert saturated.cliques == (frozenset(range(4)),)
    d = 1 / 16
    direct = (
        np.sum(gammaln(d + table))
        - gammaln(d * 16 + table.sum())
        - (16 * gammaln(d) - gammaln(d * 16))
    )
    assert log_marginal_likelihood(table, saturated, d) == pytest.approx(
        direct, abs=1e-10
    )


# ------------------------------------------------------------------- dga layout
def test_dga_vector_follows_r_column_major_array_layout():
    """``array(v, dim = c(2, 2, 2))`` in R: list j is dimension j, first fastest.

    numpy's ``reshape(order="F")`` fills like R; the cell at indicators
    ``(i1, ..., iK)`` must be the mask-order count of mask ``sum i_j 2**j``.
    """
    for k in (3, 4, 5):
        v = np.arange(2**k, dtype=float) * 3 + 1
        arr = v.reshape((2,) * k, order="F")
        y = from_dga_vector(v)
        for mask in range(1, 2**k):
            idx = tuple(mask >> j & 1 for j in range(k))
            assert y[mask - 1] == arr[idx]
    # M & Y's spina bifida table: list totals read from the R array's margins
    v = np.array([0, 60, 49, 4, 247, 112, 142, 12], dtype=float)
    arr = v.reshape((2, 2, 2), order="F")
    y = from_dga_vector(v)
    for j in range(3):
        on_j = sum(y[m - 1] for m in range(1, 8) if m >> j & 1)
        assert on_j == arr.take(1, axis=j).sum()
    with pytest.raises(EstimationError, match="2\\*\\*K"):
        from_dga_vector([1, 2, 3])


# --------------------------------------------------------- published M & Y values
#: Madigan & York (1997), spina bifida (3 lists), delta = 1, negative-binomial prior
#: on N with a = 13.14, b = 55.17, Nmissing = 1..300 -- as asserted in dga 2.0.2's
#: tests/testthat/test-BMAfunctions.R ("3 lists example against Madigan and York"):
#: top model posterior probability rounds to 0.37; its Bayes estimate under relative
#: squared-error loss, E[1/N] / E[1/N^2], rounds to 731 and its posterior mode is
#: 729; model-averaged: Bayes estimate 731, mode 728.
MY_SPINA_BIFIDA = {
    "top_prob": 0.37,
    "top_bayes": 731,
    "top_mode": 729,
    "avg_bayes": 731,
    "avg_mode": 728,
}


@pytest.mark.reference
def test_madigan_york_spina_bifida_reproduces_published_summaries():
    """Rounded to the printed precision (2 decimals; whole persons)."""
    y = from_dga_vector([0, 60, 49, 4, 247, 112, 142, 12])
    a, b = 13.14, 55.17

    def neg_binomial(n_total: np.ndarray) -> np.ndarray:
        return (
            n_total * np.log(b)
            - (n_total + a) * np.log(1 + b)
            + gammaln(n_total + a)
            - gammaln(n_total + 1)
            - gammaln(a)
        )

    res = bma_graphical(y, delta=1.0, prior_n=neg_binomial, n_missing=range(1, 301))
    joint = res.joint()
    big_n = res.posterior_N["N"].to_numpy().astype(float)
    top = joint[res.models["graph_id"][0]]
    avg = joint.sum(axis=0)

    def bayes(w: np.ndarray) -> float:
        return float((w / big_n).sum() / (w / big_n**2).sum())

    assert round(top.sum(), 2) == MY_SPINA_BIFIDA["top_prob"]
    assert round(bayes(top)) == MY_SPINA_BIFIDA["top_bayes"]
    assert big_n[top.argmax()] == MY_SPINA_BIFIDA["top_mode"]
    assert round(bayes(avg)) == MY_SPINA_BIFIDA["avg_bayes"]
    assert big_n[avg.argmax()] == MY_SPINA_BIFIDA["avg_mode"]
    # the joint posterior is consistent with the reported margins
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(avg, res.probabilities, atol=1e-14)
    np.testing.assert_allclose(joint.sum(axis=1), res.model_probabilities(), atol=1e-14)


# ------------------------------------------------------------------- simulations
def _simulate(seed: int, k: int, n_total: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Independent lists except one dependent pair (capture-probability jump)."""
    rng = np.random.default_rng(seed)
    on = np.zeros((n_total, k), dtype=int)
    if k == 3:
        on[:, 0] = rng.random(n_total) < 0.3
        on[:, 1] = rng.random(n_total) < np.where(on[:, 0] == 1, 0.5, 0.15)
        on[:, 2] = rng.random(n_total) < 0.3
        pair = (0, 1)
    else:
        on[:, 0] = rng.random(n_total) < 0.25
        on[:, 1] = rng.random(n_total) < 0.2
        on[:, 2] = rng.random(n_total) < 0.3
        on[:, 3] = rng.random(n_total) < np.where(on[:, 2] == 1, 0.45, 0.15)
        pair = (2, 3)
    masks = on @ (1 << np.arange(k))
    return np.bincount(masks, minlength=2**k)[1:].astype(float), pair


@pytest.mark.parametrize(("k", "n_total"), [(3, 2000), (4, 1500)])
def test_recovers_population_and_the_dependent_pair(k, n_total):
    """Seeds 1-8: the 95% interval covers N in at least 7 of 8 runs, and the graphs
    joining the dependent pair carry > 0.99 posterior probability in every run.

    (Over seeds 1-100 the coverage was 99/100 for K = 3 and 96/100 for K = 4; the
    pair's edge probability was above 0.99999999 in all 200 runs.)
    """
    covered = 0
    for seed in range(1, 9):
        y, pair = _simulate(seed, k, n_total)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no grid cap is hit
            res = bma_graphical(y)
        covered += res.ci[0] <= n_total <= res.ci[1]
        edges = res.edge_probabilities()
        mass = edges.filter(
            (edges["list_a"] == str(pair[0])) & (edges["list_b"] == str(pair[1]))
        )["posterior"].item()
        assert mass > 0.99
        assert res.n_observed <= res.ci[0] <= res.estimate <= res.ci[1]
    assert covered >= 7


def test_automatic_grid_leaves_less_than_tail_tol_above_it():
    """Summing an explicit grid four times longer: mass above the automatic grid's
    end agrees with the estimated ``tail_mass`` (within 20%) and is below 1e-6.

    Seed 2 of the three-list simulation has a heavy tail (the saturated graph holds
    about 7% of the posterior), so the grid runs to about 5e5.
    """
    y, _ = _simulate(2, 3, 2000)
    auto = bma_graphical(y)
    top = int(auto.n_missing[-1])
    assert top > 100_000
    long = bma_graphical(y, n_missing=np.arange(1, 4 * top + 1))
    p_long = long.probabilities * (1 - long.tail_mass)  # share of the whole
    beyond = p_long[top:].sum() + long.tail_mass
    assert beyond < 1e-6
    assert beyond == pytest.approx(auto.tail_mass, rel=0.2)
    assert auto.estimate == long.estimate
    assert auto.ci == long.ci


def test_bma_estimate_returns_the_posterior_median_as_estimate():
    """Term ``N_bma_graphical``; estimate, interval and sd from the posterior."""
    y, _ = _simulate(3, 4, 1500)
    est = bma_estimate(y, ["a", "b", "c", "d"], level=0.9)
    res = est.extra["bma"]
    assert isinstance(est, Estimate) and isinstance(res, GraphicalBMA)
    assert est.term == "N_bma_graphical" and est.level == 0.9
    assert est.estimate == res.estimate and est.ci == res.ci
    p = res.probabilities
    big_n = res.posterior_N["N"].to_numpy()
    cdf = np.cumsum(p)
    assert cdf[big_n < est.estimate][-1] < 0.5 <= cdf[big_n == est.estimate][0]
    assert cdf[big_n < est.ci[0]][-1] < 0.05 <= cdf[big_n == est.ci[0]][0]
    assert est.std_error == pytest.approx(
        math.sqrt(p @ (big_n - p @ big_n) ** 2), rel=1e-9
    )
    assert res.models["posterior"].sum() == pytest.approx(1.0, abs=1e-12)
    assert res.models["graph"][0].startswith("[")
    assert est.to_polars()["term"].item() == "N_bma_graphical"


# -------------------------------------------------------------------- validation
def test_invalid_inputs_raise_clear_errors():
    """Wrong length, negative or fractional counts, K > 5, bad options."""
    with pytest.raises(EstimationError, match="2\\*\\*K - 1 entries"):
        bma_graphical([1, 2, 3, 4, 5, 6])
    with pytest.raises(EstimationError, match="non-negative"):
        bma_graphical([10, 5, -1])
    with pytest.raises(EstimationError, match="whole numbers"):
        bma_graphical([10, 5, 1.5])
    with pytest.raises(EstimationError, match="at most 5 lists"):
        bma_graphical(np.ones(63))
    with pytest.raises(EstimationError, match="nothing to estimate"):
        bma_graphical(np.zeros(7))
    with pytest.raises(EstimationError, match="3 source names"):
        bma_estimate(np.ones(15), ["a", "b", "c"])
    with pytest.raises(EstimationError, match="1 to 5 lists"):
        decomposable_graphs(6)
    y = np.array([60, 49, 4, 247, 112, 142, 12], dtype=float)
    with pytest.raises(ConfigError, match="prior_n"):
        bma_graphical(y, prior_n="jeffreys")
    with pytest.raises(ConfigError, match="start the n_missing grid at 1"):
        bma_graphical(y, n_missing=range(0, 100))
    with pytest.raises(ConfigError, match="increasing grid"):
        bma_graphical(y, n_missing=[5, 3, 9])
    with pytest.raises(ConfigError, match="delta"):
        bma_graphical(y, delta=0.0)
    with pytest.raises(ConfigError, match="level"):
        bma_graphical(y, level=1.5)
    # flat prior on N + default delta: the saturated graph's posterior is improper
    with pytest.raises(EstimationError, match="improper"):
        bma_graphical(y, prior_n="uniform")
