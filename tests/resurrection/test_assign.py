"""One-to-one assignment, exclusivity, lineages, link draws."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from measure.resurrection._assign import (
    LinkSampler,
    assign,
    exclusive_probability,
    incarnation_numbers,
    lineages,
    sample_links,
    threshold_for_precision,
)

T = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)


def _pairs(rows):
    return pl.DataFrame(rows, schema=["previous", "new", "p_pair"], orient="row")


def test_exclusive_probability_splits_between_rivals() -> None:
    df = _pairs([(1, 10, 0.9), (1, 11, 0.9), (2, 12, 0.9)])
    p = exclusive_probability(df)
    # odds 9 each: 9 / (1 + 18) for the two rivals, 9 / 10 for the lone candidate
    assert p[0] == pytest.approx(p[1])
    assert p[0] < 0.5 < p[2]
    assert p[0] + p[1] < 1


def test_assign_one_to_one_and_chains() -> None:
    df = pl.DataFrame({
        "previous": [1, 1, 2, 3, 2],
        "new": [2, 5, 3, 5, 6],
        "probability": [0.99, 0.6, 0.97, 0.9, 0.4],
        "created_new": [T] * 5,
    })
    links = assign(df, 0.5)
    got = set(links.select("previous", "new").iter_rows())
    assert got == {(1, 2), (2, 3), (3, 5)}  # 5 goes to 3 (0.9 > 0.6); 6 below
    lin = lineages(links.select("previous", "new"), pl.Series([1, 2, 3, 9]))
    chains = sorted(lin["accounts"].to_list())
    assert chains == [[1, 2, 3, 5], [9]]
    inc = incarnation_numbers(links)
    assert inc == {1: 1, 2: 2, 3: 3, 5: 4}


def test_threshold_for_precision() -> None:
    p = np.array([0.99, 0.98, 0.97, 0.6, 0.55, 0.2])
    t = threshold_for_precision(p, 0.95)
    # top 3 average 0.98; adding 0.6 gives 0.885 < 0.95
    assert t == pytest.approx(0.97)
    assert threshold_for_precision(np.array([0.99, 0.9, 0.8, 0.7]), 0.5) == 0.7
    assert threshold_for_precision(np.array([0.3, 0.2]), 0.95) == 0.5


def test_sample_links_frequencies() -> None:
    df = pl.DataFrame({"previous": [1, 1, 2], "new": [10, 11, 12],
                       "probability": [0.5, 0.3, 0.8], "created_new": [T] * 3})
    rng = np.random.default_rng(0)
    s = sample_links(df, rng)
    assert s["previous"].is_unique().all() and s["new"].is_unique().all()
    sampler = LinkSampler(np.array([1, 1, 2]), np.array([10, 11, 12]),
                          np.array([0.5, 0.3, 0.8]))
    n = 4000
    c = {10: 0, 11: 0, 12: 0}
    for _ in range(n):
        for i in sampler.draw(rng):
            c[[10, 11, 12][i]] += 1
    # three binomial standard errors at n = 4000 are below 0.025
    assert abs(c[10] / n - 0.5) < 0.025
    assert abs(c[11] / n - 0.3) < 0.025
    assert abs(c[12] / n - 0.8) < 0.025


def test_sampler_conflict_keeps_one() -> None:
    sampler = LinkSampler(np.array([1, 2]), np.array([10, 10]), np.array([1.0, 1.0]))
    rng = np.random.default_rng(1)
    kept = [int(sampler.draw(rng)[0]) for _ in range(400)]
    assert all(len(sampler.draw(rng)) == 1 for _ in range(10))
    assert 0.35 < np.mean(kept) < 0.65  # either rival keeps it, at random
