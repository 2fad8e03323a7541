"""Coder disagreement on double-coded accounts warns that the total is biased."""

from __future__ import annotations

import measure
from measure.census import analyze


def test_disagreeing_coders_warn_on_uncorrected_total(small_world) -> None:
    res = analyze(measure.open(small_world))
    if not (res.kappa.valid and res.kappa.ci[1] < 1):
        raise AssertionError(
            "the small world's simulated coders are imperfect, so double coding "
            f"should show disagreement; got {res.kappa!r}")
    assert any("coder error" in w for w in res.estimate.warnings)
    assert any("coder error" in w for w in res.warnings)


def test_no_warning_once_error_rates_are_supplied(small_world) -> None:
    res = analyze(measure.open(small_world), sensitivity=0.9, specificity=0.95)
    assert res.corrected is not None
    assert not any("coder error" in w for w in res.estimate.warnings)
