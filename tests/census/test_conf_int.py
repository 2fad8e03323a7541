"""The census headline interval recomputed at another level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import measure
from measure.census import analyze


def test_known_error_rates_recompute_the_corrected_interval(small_world: Path):
    with measure.open(small_world) as ds:
        res = analyze(ds, model=False, sensitivity=0.9, specificity=0.95)
        at90 = analyze(ds, model=False, sensitivity=0.9, specificity=0.95,
                       level=0.9)
    # the same Wilson-MOVER interval as an analysis run at that level
    assert res.conf_int(0.9) == pytest.approx(at90.estimate.ci, rel=1e-12)
    assert res._recompute_ci(0.95) == pytest.approx(res.estimate.ci, rel=1e-12)


def test_posterior_interval_is_the_quantiles_of_the_kept_draws(small_world: Path):
    with measure.open(small_world) as ds:
        res = analyze(ds, model=False)
    draws = res.headline_basis.draws
    lo, hi = res.conf_int(0.8)
    if res.headline_basis.identified:
        assert (lo, hi) == pytest.approx(tuple(np.quantile(draws, [0.1, 0.9])))
    else:  # widened to the misclassification grid: never narrower than the draws
        q = np.quantile(draws, [0.1, 0.9])
        assert lo <= q[0] and hi >= q[1]
    assert res.conf_int(0.5)[0] >= lo and res.conf_int(0.5)[1] <= hi
