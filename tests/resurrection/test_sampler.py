"""One-to-one link draws: losers of a conflict redraw among their free candidates.

The expected frequencies below are computed by hand from the sampler's rules
(:class:`measure.resurrection._assign.LinkSampler`): each suspended account
draws "a successor or none" once; a new account drawn by several is kept by one
chosen with probability proportional to its pair's probability; the others
redraw among their candidates not yet taken. Tolerances are four binomial
standard errors of the number of draws.
"""

from __future__ import annotations

import math

import numpy as np

from measure.resurrection._assign import LinkSampler

N_DRAWS = 10_000


def _se4(p: float, n: int = N_DRAWS) -> float:
    """Four binomial standard errors of a frequency ``p`` over ``n`` draws."""
    return 4 * math.sqrt(p * (1 - p) / n)


def _frequencies(sampler: LinkSampler, prev: np.ndarray, new: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, how often it is drawn; per draw, the number of links."""
    rng = np.random.default_rng(seed)
    hits = np.zeros(prev.size)
    n_links = np.zeros(N_DRAWS)
    for i in range(N_DRAWS):
        c = sampler.draw(rng)
        assert np.unique(new[c]).size == c.size  # no new account drawn twice
        assert np.unique(prev[c]).size == c.size  # one successor at most
        hits[c] += 1
        n_links[i] = c.size
    return hits / N_DRAWS, n_links


def test_rival_predecessors_are_linked_at_their_marginal_probability() -> None:
    # a1 and a2 both put the most mass on new account 10; each has a second
    # candidate of its own (11, 12)
    prev = np.array([1, 1, 2, 2])
    new = np.array([10, 11, 10, 12])
    p = np.array([0.6, 0.3, 0.5, 0.3])
    freq, n_links = _frequencies(LinkSampler(prev, new, p), prev, new, seed=3)
    # each account is linked with its row sum: 0.9 and 0.8
    for a, want in ((1, 0.9), (2, 0.8)):
        got = freq[prev == a].sum()
        assert abs(got - want) < _se4(want), (a, got)
    # pair by pair: both draw 10 with 0.6 * 0.5 = 0.3; a1 keeps it with
    # 0.6 / 1.1, a2 with 0.5 / 1.1, and the loser takes its other candidate
    want_pairs = [0.6 * 0.5 + 0.3 * 0.6 / 1.1,   # a1 -> 10: 0.4636
                  0.3 + 0.3 * 0.5 / 1.1,         # a1 -> 11: 0.4364
                  0.5 * 0.4 + 0.3 * 0.5 / 1.1,   # a2 -> 10: 0.3364
                  0.3 + 0.3 * 0.6 / 1.1]         # a2 -> 12: 0.4636
    for got, want in zip(freq, want_pairs, strict=True):
        assert abs(got - want) < _se4(want)
    # conflicts do not lower the number of links below the probabilities' sum
    # (1.7); the standard deviation of the count is at most 0.7
    assert abs(n_links.mean() - p.sum()) < 4 * 0.7 / math.sqrt(N_DRAWS)


def test_without_redraw_conflicts_lose_links() -> None:
    prev = np.array([1, 1, 2, 2])
    new = np.array([10, 11, 10, 12])
    p = np.array([0.6, 0.3, 0.5, 0.3])
    _, n_links = _frequencies(LinkSampler(prev, new, p, redraw=False), prev, new,
                              seed=3)
    # the loser of a conflict (probability 0.6 * 0.5) goes without: 1.7 - 0.3
    assert abs(n_links.mean() - 1.4) < 4 * 0.7 / math.sqrt(N_DRAWS)


def test_losers_redraw_over_several_rounds() -> None:
    # three accounts share the same three candidates (0.3 each): up to three
    # rounds are needed, and every account that draws a successor finds one
    prev = np.repeat([1, 2, 3], 3)
    new = np.tile([10, 11, 12], 3)
    p = np.full(9, 0.3)
    freq, n_links = _frequencies(LinkSampler(prev, new, p), prev, new, seed=5)
    for a in (1, 2, 3):
        assert abs(freq[prev == a].sum() - 0.9) < _se4(0.9)
    for b in (10, 11, 12):  # by symmetry each new account is used 2.7 / 3
        assert abs(freq[new == b].sum() - 0.9) < _se4(0.9)
    assert n_links.max() <= 3


def test_loser_without_a_free_candidate_is_left_unlinked() -> None:
    # one new account for two accounts: a1 claims it with 0.9, a2 with 0.3;
    # when both do (0.27), a1 keeps it with 0.9 / 1.2 = 0.75
    prev = np.array([1, 2])
    new = np.array([10, 10])
    p = np.array([0.9, 0.3])
    freq, n_links = _frequencies(LinkSampler(prev, new, p), prev, new, seed=7)
    want1 = 0.9 * 0.7 + 0.27 * 0.75
    want2 = 0.3 * 0.1 + 0.27 * 0.25
    assert abs(freq[0] - want1) < _se4(want1)
    assert abs(freq[1] - want2) < _se4(want2)
    assert n_links.max() <= 1


def test_sparse_ids_draw_the_same_links_as_compact_ids() -> None:
    # ids far apart (snowflake-like) take the dense-rank path; only the
    # equality of ids matters, so the draws are the same
    rng = np.random.default_rng(2)
    prev = rng.integers(0, 300, 3000)
    new = rng.integers(0, 500, 3000)
    o = rng.random(3000) ** 4 * 5
    p = o / (1 + np.bincount(prev, weights=o, minlength=300)[prev])
    compact = LinkSampler(prev, new, p)
    sparse = LinkSampler(prev * 10**9 + 10**15, new * 10**9 + 2 * 10**15, p)
    for seed in range(5):
        a = compact.draw(np.random.default_rng(seed))
        b = sparse.draw(np.random.default_rng(seed))
        assert np.array_equal(a, b)
        assert a.size > 100


def test_reweighted_sampler_uses_the_new_probabilities() -> None:
    prev = np.array([1, 1, 2])
    new = np.array([10, 11, 12])
    sampler = LinkSampler(prev, new, np.array([0.5, 0.3, 0.8]))
    other = sampler.reweighted(np.array([0.0, 1.0, 0.0]))
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert other.draw(rng).tolist() == [1]
