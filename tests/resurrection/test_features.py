"""Comparison features: characters not bytes, suffix increments, bins."""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz

import measure
from measure.resurrection import analyze


def test_similarity_counts_characters_not_bytes() -> None:
    # one Arabic letter differs out of 8 characters (16 UTF-8 bytes each)
    a, b = "ابومحمد1", "ابومحمد2"
    assert len(a.encode()) > len(a)
    assert fuzz.ratio(a, b) / 100 == 1 - 2 / 16  # Indel on characters


def test_feature_values_tiny(tiny) -> None:
    res = analyze(measure.open(tiny), n_boot=20, n_imputations=4)
    f = {(r["previous"], r["new"]): r for r in res.pairs.iter_rows(named=True)}
    assert f[(1, 2)]["suffix_increment"] and f[(1, 2)]["bin_handle"] == 6
    # abu_x -> Ａｂｕ_Ｘ3: same stem after NFKC, a jump of 2 (an account skipped)
    assert not f[(1, 3)]["suffix_increment"] and f[(1, 3)]["bin_handle"] == 3
    assert f[(2, 6)]["bin_handle"] == 2  # same stem, unrelated number
    assert f[(2, 6)]["suffix_increment"] is False  # 2 -> 77 is not an increment
    # equal rare display name, in the "handles alike" half of the joint levels
    assert f[(1, 2)]["bin_display_name"] == 4 + 3 and f[(1, 2)]["avatar_equal"]
    assert f[(4, 5)]["bin_display_name"] < 4  # handles differ
    assert np.isclose(f[(4, 5)]["overlap"], 3 / 3)  # all of 5's followers follow 4
    assert f[(1, 2)]["bin_bio"] == -1  # bio missing on one side: uninformative
    assert f[(1, 2)]["bin_followers"] == -1  # no collected follower list
    assert np.isclose(f[(4, 5)]["jaccard"], 3 / 4)
    assert f[(4, 5)]["bin_bio"] == 3
    assert np.isclose(f[(1, 2)]["gap_days"], 2.0)
    assert f[(1, 2)]["bin_time_gap"] == 4 and f[(2, 6)]["bin_time_gap"] == 0
