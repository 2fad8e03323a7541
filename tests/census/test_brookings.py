"""Rebuild the Brookings census arithmetic (Berger & Morgan 2015) with our functions.

Figures from ``shared/docs/methodology.md`` (secondary sources where marked there):
Level 1 about 50,000 accounts of which about 30,000 supporters; Level 2 about 1.9
million accounts with about 16,000 predicted supporters; 30,000 + 16,000 = 46,000
("most conservative" minimum); a demographics set of almost 20,000 accounts; 678
suspensions among 20,000 accounts = 3.4% (Conway et al. citing the census).
"""

from __future__ import annotations

import pytest

from measure.census import estimators as est

LEVEL1_N = 50_000
LEVEL1_SUPPORTERS = 30_000
LEVEL2_N = 1_900_000
LEVEL2_PREDICTED = 16_000
MINIMUM = 46_000
DEMOGRAPHICS_N = 20_000
SUSPENDED = 678
#: The published share is rounded to one decimal of a percent.
PUBLISHED_ROUNDING = 0.0005


@pytest.mark.reference
def test_brookings_46000_minimum_from_levels() -> None:
    """E4 on Level 1 (precision 0.6 implied by 30k/50k) + E5 on Level 2 = 46,000."""
    n_coded = 500  # any coded sample with the implied precision gives the same total
    level1 = est.stratified_total([LEVEL1_N], [n_coded],
                                  [n_coded * LEVEL1_SUPPORTERS / LEVEL1_N])
    assert level1.estimate == pytest.approx(LEVEL1_SUPPORTERS)
    # E5 with a perfect classifier: the Rogan-Gladen total is the raw positives
    level2 = est.rogan_gladen_total(LEVEL2_N, LEVEL2_PREDICTED, 1.0, 1.0)
    assert level2 == pytest.approx(LEVEL2_PREDICTED)
    assert level1.estimate + level2 == pytest.approx(MINIMUM)
    # the interval around the Level-1 figure is narrow but not zero
    assert level1.ci[0] < LEVEL1_SUPPORTERS < level1.ci[1]


@pytest.mark.reference
def test_level2_figure_is_fragile_to_specificity() -> None:
    """E5 formula N (n+/N + sp - 1)/(se + sp - 1): with 1.9 million Level-2 accounts a
    classifier with 99% specificity alone produces 19,000 false positives, more
    than the 16,000 predicted, so the corrected total falls to zero."""
    fp = LEVEL2_N * (1 - 0.99)
    assert fp == pytest.approx(19_000)
    assert est.rogan_gladen_total(LEVEL2_N, LEVEL2_PREDICTED, 0.9, 0.99) == 0.0
    # at 99.9% specificity: 1.9e6 * (16000/1.9e6 + 0.999 - 1) / (0.9 + 0.999 - 1)
    want = LEVEL2_N * (LEVEL2_PREDICTED / LEVEL2_N + 0.999 - 1) / (0.9 + 0.999 - 1)
    got = est.rogan_gladen_total(LEVEL2_N, LEVEL2_PREDICTED, 0.9, 0.999)
    assert got == pytest.approx(want)
    assert got == pytest.approx(15_684.09, abs=0.01)


@pytest.mark.reference
def test_suspension_share_678_of_20000() -> None:
    p, lo, hi = est.proportion(SUSPENDED, DEMOGRAPHICS_N)
    assert p == pytest.approx(0.034, abs=PUBLISHED_ROUNDING)
    assert lo < 0.034 < hi


@pytest.mark.reference
def test_demographics_set_with_7_percent_error() -> None:
    """'almost 20,000' confirmed supporters with an (unverified) ~7% error rate:
    a specificity-only correction of the set keeps 93% of it."""
    kept = est.rogan_gladen_total(DEMOGRAPHICS_N, DEMOGRAPHICS_N * 0.93 + 0, 1.0, 1.0)
    assert kept == pytest.approx(18_600)
