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
    assert f[(1, 2)]["suffix_increment"] and f[(1, 2)]["bin_handle"] == 7
    # abu_x -> Ａｂｕ_Ｘ3: same stem after NFKC, a jump of 2 (an account skipped)
    assert not f[(1, 3)]["suffix_increment"] and f[(1, 3)]["bin_handle"] == 4
    assert f[(2, 6)]["bin_handle"] == 2  # same stem, unrelated number
    assert f[(2, 6)]["suffix_increment"] is False  # 2 -> 77 is not an increment
    # equal rare display name, in the "handles alike" half of the joint levels
    assert f[(1, 2)]["bin_display_name"] == 4 + 3 and f[(1, 2)]["avatar_equal"]
    assert f[(4, 5)]["bin_display_name"] < 4  # handles differ
    assert np.isclose(f[(4, 5)]["overlap"], 3 / 3)  # all of 5's followers follow 4
    assert f[(1, 2)]["bin_bio"] == -1  # bio missing on one side: uninformative
    assert f[(1, 2)]["bin_followers"] == -1  # no collected follower list
    assert np.isclose(f[(4, 5)]["jaccard"], 3 / 4)
    assert f[(4, 5)]["bin_bio"] == 4  # the same rare bio: the top level
    assert np.isclose(f[(1, 2)]["gap_days"], 2.0)
    assert f[(1, 2)]["bin_time_gap"] == 4 and f[(2, 6)]["bin_time_gap"] == 0


def _pairs(accounts: dict[str, list], pairs: list[tuple[int, int]]):
    """Comparison features of ``pairs`` (row indices) of a small accounts frame."""
    import datetime as dt

    import polars as pl

    from measure.resurrection._blocking import gather_frame
    from measure.resurrection._features import account_keys, compare

    t0 = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    n = len(accounts["screen_name"])
    acc = pl.DataFrame({"account_id": list(range(n)), **accounts,
                        "created_at": [t0 + dt.timedelta(days=i) for i in range(n)],
                        "first_seen": [t0] * n})
    keys = account_keys(acc).with_row_index("kx")
    num = pl.DataFrame({
        "previous": [a for a, _ in pairs], "new": [b for _, b in pairs],
        "keys": [1] * len(pairs),
        "kx_prev": pl.Series([a for a, _ in pairs], dtype=pl.UInt32),
        "kx_new": pl.Series([b for _, b in pairs], dtype=pl.UInt32),
        "last_active": [t0] * len(pairs), "first_suspended": [t0] * len(pairs),
        "created_new": [t0 + dt.timedelta(days=b) for _, b in pairs],
        "n_followers_prev": [0] * len(pairs), "n_followers_new": [0] * len(pairs),
        "n_shared": [0] * len(pairs)})
    return keys, compare(gather_frame(keys, num))


def _by_pair(f, col: str) -> dict[tuple[int, int], int]:
    return dict(zip(zip(f["previous"], f["new"], strict=True), f[col], strict=True))


def test_bio_fingerprint_keeps_numbers_and_emoji_and_lang_levels() -> None:
    keys, f = _pairs({
        "screen_name": ["abu_x", "abu_x2", "umm_y", "ibn_z", "abu_x3", "zed"],
        "display_name": ["أبو محمد", "أبو محمد", "Umm Y", "Ibn Z", "أبو محمد", "Zed"],
        "description": ["Remaining and expanding (2:15) 🏴",
                        "remaining  and expanding (2:15) 🏴",
                        "Remaining and expanding (9:111) ☝", "Remaining and expanding",
                        "Back again | Remaining and expanding (2:15)",
                        "football and coffee every day"],
        "profile_image_hash": ["a1", "b2", "c3", "d4", "e5", "f6"],
        "lang": ["ar", "ar", "ar", None, "en", "en-GB"],
    }, [(0, 1), (0, 2), (0, 3), (2, 1), (0, 4), (0, 5), (4, 5)])
    fp = keys["bio_fp"].to_list()
    # case and white space do not matter; the verse and the emoji do
    assert fp[0] == fp[1] and fp[0] != fp[2] and fp[0] != fp[3]
    # ... but not for the letters-only fingerprint (the second blocking key)
    lfp = keys["bio_lfp"].to_list()
    assert lfp[0] == lfp[1] == lfp[2] == lfp[3] and lfp[4] != lfp[0]
    b = _by_pair(f, "bin_bio")
    assert b[(0, 1)] == 4  # the same whole bio, rare (2 accounts)
    # same letters, emoji or verse changed (letters held by 4 <= COMMON_KEY)
    assert b[(0, 2)] == 3 and b[(2, 1)] == 3 and b[(0, 3)] == 3
    assert b[(0, 4)] == 3  # a return prefix: the old letters inside the new bio
    assert b[(0, 5)] < 2 and b[(4, 5)] < 2  # unrelated bios
    lang = _by_pair(f, "bin_lang")
    # equal language, equal display names: the "names alike" group (levels 2, 3)
    assert lang[(0, 1)] == 3
    assert lang[(0, 2)] == 1 and lang[(2, 1)] == 1  # equal language, names differ
    assert lang[(0, 3)] == -1  # language unknown on one side: uninformative
    assert lang[(0, 4)] == 2  # names alike, language different
    assert lang[(0, 5)] == 0  # names differ, language different
    assert lang[(4, 5)] == 1  # en and en-GB: the primary tag is compared


def test_bio_fingerprint_ignores_marks_and_lang_tags() -> None:
    keys, f = _pairs({
        "screen_name": ["abu_a", "abu_b", "abu_c", "abu_d"],
        "display_name": ["A", "B", "C", "D"],
        # harakat, a zero-width joiner and a tatweel are optional in writing
        "description": ["الدولة الإسلامية باقية وتتمدد",
                        "الدَّولة الإسلاميـة\u200d باقية   وتتمدد",
                        "الدولة الإسلامية باقية وتتمدد ☝", "short bio"],
        "profile_image_hash": ["p1", "p2", "p3", "p4"],
        "lang": ["EN-gb", " en ", "und", ""],
    }, [(0, 1), (0, 2)])
    fp, lfp = keys["bio_fp"].to_list(), keys["bio_lfp"].to_list()
    assert fp[0] == fp[1] and fp[0] != fp[2] and lfp[0] == lfp[2]
    assert fp[3] is None and lfp[3] is None  # fewer than MIN_BIO letters
    assert keys["lang"].to_list() == ["en", "en", None, None]
    assert _by_pair(f, "bin_bio")[(0, 1)] == 4
    assert _by_pair(f, "bin_lang")[(0, 2)] == -1  # "und": unknown


def test_no_lang_column_warns_and_leaves_language_out(tiny, tmp_path) -> None:
    import polars as pl

    from tests.resurrection.conftest import tiny_tables, write

    res = analyze(measure.open(tiny), n_boot=2, n_imputations=2)
    msg = "no 'lang' column: language comparison not used"
    assert msg in res.warnings
    assert (res.pairs["bin_lang"] == -1).all()
    tables = tiny_tables()
    tables["accounts"] = tables["accounts"].with_columns(
        pl.Series("lang", ["ar", "ar", "ar", "en", "en", "ar", "en"]))
    res2 = analyze(measure.open(write(tmp_path / "lang", tables)), n_boot=2,
                   n_imputations=2)
    assert msg not in res2.warnings
    assert (res2.pairs["bin_lang"] >= 0).all()
