"""Term-frequency adjustment of the handle: u per stratum of the stem's holders.

Agreeing on a stem few accounts hold is strong evidence, on one that many hold
weak (Winkler 1989, frequency-based matching; Splink's term-frequency
adjustments, Linacre et al. 2022, *IJPDS* 7(3)). The grouped model estimates the
handle's non-match level probabilities per stratum of how many other accounts of
the dataset hold the suspended account's stem (``_features.stem_stratum``) and
keeps one ``m`` per level (``_fellegi_sunter``, "Term-frequency adjustment").
"""

from __future__ import annotations

import numpy as np
import polars as pl

import measure
from measure.resurrection import LinkageSettings, block, score, suspension_events
from measure.resurrection import _fellegi_sunter as FS
from measure.resurrection._features import (
    COMPARISONS,
    FEATURES,
    stem_stratum,
    window_key_holders,
)
from measure.resurrection._stages import TF_HANDLE_COLUMN

H = FEATURES.index("handle")
SAME_STEM_OTHER_NUMBER = 2
L_H = len(COMPARISONS[H].levels)


def test_stem_stratum_bins_the_other_holders_at_the_documented_edges() -> None:
    n = np.array([0, 1, 2, 3, 9, 10, 29, 30, 99, 100, 5000, np.nan])
    np.testing.assert_array_equal(stem_stratum(n),
                                  [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0])


def test_handle_levels_split_equal_stems_from_stems_one_edit_apart() -> None:
    from tests.resurrection.test_features import _by_pair, _pairs

    _, f = _pairs({
        "screen_name": ["john1234", "john5678", "jon5678", "john1235", "john1234"],
        "display_name": ["J"] * 5, "description": [""] * 5,
        "profile_image_hash": ["a", "b", "c", "d", "e"]},
        [(0, 1), (0, 2), (0, 3), (2, 4)])
    h = _by_pair(f, "bin_handle")
    labels = COMPARISONS[H].levels
    assert labels[h[(0, 1)]] == "same stem, other number"
    assert labels[h[(0, 2)]] == "stems 1 edit apart, other number"
    assert labels[h[(0, 3)]] == "stems <= 1 edit, number + 1"
    assert labels[h[(2, 4)]] == "stems 1 edit apart, other number"


def _hand_model(strata: bool) -> tuple[np.ndarray, FS.FSModel]:
    """Two suspended accounts, each with one candidate sharing its stem with
    another number; account 0's stem is rare (stratum 0), account 1's common
    (stratum 1). 500 random window pairs per stratum: 1 of stratum 0's and 50
    of stratum 1's agree on the stem with another number; the other
    comparisons are missing."""
    bins = np.full((2, len(FEATURES)), -1, dtype=np.int64)
    bins[:, H] = SAME_STEM_OTHER_NUMBER
    rb = np.full((1000, len(FEATURES)), -1, dtype=np.int64)
    rb[:, H] = 0
    rb[0, H] = SAME_STEM_OTHER_NUMBER
    rb[500:550, H] = SAME_STEM_OTHER_NUMBER
    s_rand = np.repeat([0, 1], 500)
    us = {"handle": (np.array([0, 1]), s_rand)} if strata else None
    em = FS.GroupedEM(bins, np.array([0, 1]), n_cand=np.array([100.0, 100.0]),
                      random_bins=rb, u_strata=us)
    model = em.fit()
    return em.predict(model), model


def test_rare_shared_stem_outweighs_a_common_one_by_the_hand_computed_u() -> None:
    p, model = _hand_model(strata=True)
    # u per stratum from the random pairs alone: 1 and 50 of 500, plus the
    # pseudo-count 0.5 spread as the pooled strata are, (51 + 0.5 / 8) / 1000.5
    # at this level (the pooled counts have 0.5 / 8 on each of the 8 levels)
    pooled = (51 + FS.PSEUDO / L_H) / (1000 + FS.PSEUDO)
    u = model.extra["u_strata"]["handle"]
    np.testing.assert_allclose(u[:, SAME_STEM_OTHER_NUMBER],
                               [(1 + 0.5 * pooled) / 500.5,
                                (50 + 0.5 * pooled) / 500.5], rtol=1e-12)
    np.testing.assert_allclose(u.sum(axis=1), 1.0, rtol=1e-12)
    # one candidate each and equal windows: the posterior odds differ by the
    # likelihood ratios only, whose ratio is that of the two strata's u
    odds = p / (1 - p)
    assert p[0] > p[1]
    np.testing.assert_allclose(odds[0] / odds[1],
                               (50 + 0.5 * pooled) / (1 + 0.5 * pooled), rtol=1e-9)
    # the reported u is the strata's weighted by their window pairs (100 each)
    np.testing.assert_allclose(model.u["handle"], u.mean(axis=0), rtol=1e-12)
    # predict_grouped with the strata gives the same posteriors
    bins = np.full((2, len(FEATURES)), -1, dtype=np.int64)
    bins[:, H] = SAME_STEM_OTHER_NUMBER
    np.testing.assert_allclose(FS.predict_grouped(model, bins, np.array([0, 1]),
                                                  strata=np.array([0, 1])), p,
                               rtol=1e-9)


def test_without_strata_the_rare_and_the_common_stem_weigh_the_same() -> None:
    p, model = _hand_model(strata=False)
    assert p[0] == p[1]
    assert model.extra["u_strata"] == {}


def test_window_key_holders_counts_a_hand_example() -> None:
    t = np.array([10, 20, 20, 30, 40, 50, 60])
    code = np.array([0, 1, 0, 0, -1, 0, 1])
    # code 0 in (10, 50]: times 20, 30, 50; code 1 in (0, 60]: 20, 60; code 0 in
    # (20, 30]: 30; in (19, 20]: 20; in (100, 200]: none; no code: 0
    keys = pl.Series([None if c < 0 else f"k{c}" for c in code], dtype=pl.Utf8)
    own = pl.Series(["k0", "k1", "k0", "k0", "k0", None], dtype=pl.Utf8)
    got = window_key_holders(pl.Series(t), keys,
                             np.array([10, 0, 20, 19, 100, 0]),
                             np.array([50, 60, 30, 20, 200, 100]), own)
    np.testing.assert_array_equal(got, [3, 2, 1, 1, 0, 0])


def test_block_counts_the_other_holders_of_each_stem_by_hand(tiny) -> None:
    """Tiny world (``conftest.tiny_tables``): the stem ``abux`` is held by
    accounts 1 (day 0), 2 (23), 3 (52, ``Ａｂｕ_Ｘ3`` after NFKC) and 6 (100).
    Suspended 1 (window days (0, 81]) holds it with 2 and 3 in its window and
    6 outside: 1 other holder outside the window (stratum 1); suspended 2
    (window (23, 109]) with 3 and 6 inside and 1 outside: 1; ``ummy`` (4): 0."""
    with measure.open(tiny) as ds:
        ev = suspension_events(ds)
        cands = block(ds, ev, LinkageSettings())
        sc = score(cands)
    w = cands.window_sizes.sort("previous")
    assert w["previous"].to_list() == [1, 2, 4]
    assert w[TF_HANDLE_COLUMN].to_list() == [1.0, 1.0, 0.0]
    u = sc.model.extra["u_strata"]["handle"]
    assert u.shape == (2, L_H)  # strata 0 and 1
    np.testing.assert_allclose(u.sum(axis=1), 1.0, rtol=1e-12)


def test_a_stratum_left_empty_by_a_resample_gets_the_pooled_u() -> None:
    """A bootstrap resample without stratum 1's suspended account: stratum 1's
    u is the pooled one, stratum 0's counts (499 at level 0, 1 at the "same
    stem, other number" level) plus 0.5 / 8 on each level, over 500.5."""
    bins = np.full((2, len(FEATURES)), -1, dtype=np.int64)
    bins[:, H] = SAME_STEM_OTHER_NUMBER
    rb = np.full((1000, len(FEATURES)), -1, dtype=np.int64)
    rb[:, H] = 0
    rb[0, H] = SAME_STEM_OTHER_NUMBER
    rb[500:550, H] = SAME_STEM_OTHER_NUMBER
    s_rand = np.repeat([0, 1], 500)
    em = FS.GroupedEM(bins, np.array([0, 1]), n_cand=np.array([100.0, 100.0]),
                      random_bins=rb, u_strata={"handle": (np.array([0, 1]), s_rand)})
    fit = em.fit(weights=np.array([1.0, 0.0]),
                 random_weights=(s_rand == 0).astype(float))
    u = fit.extra["u_strata"]["handle"]
    pooled = np.full(L_H, FS.PSEUDO / L_H)
    pooled[0] += 499
    pooled[SAME_STEM_OTHER_NUMBER] += 1
    pooled /= 500 + FS.PSEUDO
    np.testing.assert_allclose(u[1], pooled, rtol=1e-12)
