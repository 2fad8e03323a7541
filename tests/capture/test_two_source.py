"""Lincoln–Petersen and Chapman: formulas, 'does not apply', and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from measure.capture import analyze_counts, chapman, lincoln_petersen
from measure.capture._two_source import lognormal_interval

#: Closed forms evaluated in floating point: agreement to rounding error.
EXACT = 1e-12


def test_lincoln_petersen_and_chapman_closed_forms() -> None:
    """Seber (1982) eqs. 3.1-3.2 and Chapman (1951) with Seber's (1970) variance."""
    n1, n2, m = 100, 80, 20
    lp = lincoln_petersen(n1, n2, m)
    assert lp.estimate == pytest.approx(400.0, rel=EXACT)
    assert lp.std_error**2 == pytest.approx(100 * 80 * 80 * 60 / 20**3, rel=EXACT)
    ch = chapman(n1, n2, m)
    assert ch.estimate == pytest.approx(101 * 81 / 21 - 1, rel=EXACT)
    assert ch.std_error**2 == pytest.approx(
        101 * 81 * 80 * 60 / (21**2 * 22), rel=EXACT
    )
    for e in (lp, ch):
        lo, hi = e.ci
        assert n1 + n2 - m <= lo < e.estimate < hi


def test_no_recaptures_does_not_apply() -> None:
    lp = lincoln_petersen(30, 40, 0)
    ch = chapman(30, 40, 0)
    assert not lp.valid and "no recaptures" in lp.reason
    assert not ch.valid and "no recaptures" in ch.reason
    assert math.isnan(lp.estimate) and math.isnan(ch.ci[0])


def test_few_recaptures_warn() -> None:
    assert chapman(30, 40, 3).warnings
    assert not chapman(300, 400, 40).warnings


def test_invalid_counts_raise() -> None:
    with pytest.raises(ValueError, match="m <="):
        chapman(10, 5, 6)


def test_chapman_converges_to_lincoln_petersen() -> None:
    """Invariant: (Chapman - LP)/LP -> 0 as the samples grow (here like 1/c)."""
    gaps = []
    for c in (1, 10, 100, 1000, 10000):
        n1, n2, m = 50 * c, 40 * c, 10 * c
        lp, ch = lincoln_petersen(n1, n2, m), chapman(n1, n2, m)
        gaps.append(abs(ch.estimate - lp.estimate) / lp.estimate)
        assert ch.std_error / lp.std_error == pytest.approx(1.0, abs=2 / (10 * c))
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-4


def test_loglinear_independence_equals_lincoln_petersen() -> None:
    """Equivalence: with K = 2, model Mt is saturated and N = n + n10 n01 / n11."""
    n10, n01, n11 = 60.0, 45.0, 15.0
    res = analyze_counts(np.array([n10, n01, n11]), ["a", "b"], model="Mt")
    lp = lincoln_petersen(int(n10 + n11), int(n01 + n11), int(n11))
    assert res.estimate.estimate == pytest.approx(lp.estimate, rel=1e-9)
    # the profile interval brackets the estimate and stays above n
    lo, hi = res.estimate.ci
    assert res.n_observed <= lo < lp.estimate < hi
    assert res.model == "Mt"
    auto = analyze_counts(np.array([n10, n01, n11]), ["a", "b"])
    assert auto.model == "chapman"
    assert set(auto.two_source) == {"lincoln_petersen", "chapman"}


def test_lognormal_interval_degenerate_cases() -> None:
    assert lognormal_interval(10, 10.0, 0.0) == (10.0, 10.0)
    assert all(math.isnan(v) for v in lognormal_interval(10, math.inf, 1.0))
