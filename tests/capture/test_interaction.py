"""Bounds on N when the lists' highest-order interaction is not zero."""

from __future__ import annotations

import math

import numpy as np
import pytest

from measure._results import Estimate
from measure.capture import analyze_counts, cell_matrix, interaction_bounds


def _mixture_cells(n_total: float, share_hard: float, logit_easy: np.ndarray,
                   shift: float) -> np.ndarray:
    """Exact expected counts of all 2**K patterns (unobserved first) of a
    two-class catchability mixture with list effects ``logit_easy``."""
    k = len(logit_easy)
    w = np.vstack([np.zeros(k), cell_matrix(k)])
    out = np.zeros(len(w))
    for share, shift_c in ((1 - share_hard, 0.0), (share_hard, shift)):
        p = 1 / (1 + np.exp(-(logit_easy + shift_c)))
        out += share * np.prod(np.where(w == 1, p, 1 - p), axis=1)
    return n_total * out


def test_bounds_scale_the_unobserved_part_of_estimate_and_interval():
    est = Estimate("population", 1000.0, (800.0, 1300.0), 0.95, 100.0, "m", 500)
    b = interaction_bounds(est, 500, ratios=(1.5, 2.0)).to_dicts()
    # n + f0 / r and n + f0 r, f0 = 500; interval limits 800 and 1300 likewise
    assert b[0] == pytest.approx({"ratio": 1.5, "estimate_low": 500 + 500 / 1.5,
                                  "estimate_high": 1250.0,
                                  "ci_low": 500 + 300 / 1.5, "ci_high": 1700.0})
    assert b[1] == pytest.approx({"ratio": 2.0, "estimate_low": 750.0,
                                  "estimate_high": 1500.0, "ci_low": 650.0,
                                  "ci_high": 2100.0})


def test_bounds_at_the_true_interaction_reach_the_true_population():
    """Three lists, a hard-to-catch class: the model with every two-list
    interaction fits the seven observed patterns exactly, yet misses N because
    the mixture has a three-way interaction. Its odds ratio, computed from the
    true cells (unobserved one included, Fienberg 1972), is exactly the factor
    by which the fitted unobserved count is off."""
    n_total = 10_000.0
    cells = _mixture_cells(n_total, 0.4, np.array([-0.5, -0.2, 0.1]), -2.5)
    w = np.vstack([np.zeros(3), cell_matrix(3)])
    k_on = w.sum(axis=1)
    log_psi = float(np.sum((-1.0) ** (3 - k_on) * np.log(cells)))
    psi = math.exp(abs(log_psi))
    assert psi > 1.2  # the mixture interacts: the no-interaction model is wrong
    res = analyze_counts(cells[1:], ["a", "b", "c"], model="two_way",
                         latent_class=False, graphical=False,
                         false_detection_shares=None)
    fit = res.fit("two_way")
    assert fit.deviance == pytest.approx(0.0, abs=1e-6)  # saturated on the data
    n_obs = cells[1:].sum()
    assert abs(res.estimate.estimate - n_total) > 0.05 * n_total
    ratio = (n_total - n_obs) / (res.estimate.estimate - n_obs)
    assert ratio == pytest.approx(psi, rel=1e-6) or ratio == pytest.approx(
        1 / psi, rel=1e-6)
    b = interaction_bounds(res.estimate, int(round(n_obs)), ratios=(psi, psi * 0.95))
    lo, hi = b["estimate_low"].to_list(), b["estimate_high"].to_list()
    assert lo[0] - 1e-6 * n_total <= n_total <= hi[0] + 1e-6 * n_total
    assert not (lo[1] <= n_total <= hi[1])


def test_result_reports_bounds_in_json_and_summary():
    y = np.array([60, 50, 20, 40, 15, 12, 8], dtype=float)
    res = analyze_counts(y, ["a", "b", "c"], latent_class=False, graphical=False)
    d = res.to_dict()["interaction_sensitivity"]
    assert [r["ratio"] for r in d] == [1.5, 2.0]
    e = res.estimate
    assert d[0]["estimate_low"] < e.estimate < d[0]["estimate_high"]
    assert d[1]["ci_low"] < d[0]["ci_low"] <= e.ci[0]
    assert "3-way interaction had an odds ratio between 1/1.5 and 1.5" in res.summary()


def test_ratio_below_one_is_refused():
    est = Estimate("population", 1000.0, (800.0, 1300.0), 0.95, 100.0, "m", 500)
    with pytest.raises(ValueError, match=">= 1"):
        interaction_bounds(est, 500, ratios=(0.5,))
