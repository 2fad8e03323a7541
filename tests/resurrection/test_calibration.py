"""Acceptance of issue 6 on simulated worlds (``make calibrate``; prints figures).

Targets (issue 6): link precision >= 0.95 and recall >= 0.90 against the
observable true predecessors on the default ``small`` world and two harder
variants (more unrelated-name returns: ``p_suffix=0.2, p_edit=0.15``; more stem
collisions: ``background_stem_share=0.6``); the observable 30-day rate (see
``_truth_eval.true_rate``) inside the 95% CI in >= 90% of 100 small worlds.

Measured at commit time (these tests FAIL; see the final report of issue 6):
precision 0.92-1.00 (default), 0.77-0.96 (unrelated names), 0.97-0.98 (stem
collisions); recall 0.50-0.75, 0.51-0.67, 0.63-0.81; 30-day rate coverage 0.25
over 20 worlds (mean estimate 0.249 vs observable truth 0.315). An oracle logistic
model fitted on the true labels of the same candidate pairs reaches only recall
0.76-0.85 at precision 0.93-0.95: the simulated profiles do not carry enough
signal for the targets (no follower lists of new accounts; display names and bios
from small pools).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import measure
from measure.resurrection import analyze
from measure.simulate import SimConfig, simulate
from tests.resurrection._truth_eval import (
    observable_truth,
    precision_recall,
    true_rate,
)

MIN_PRECISION = 0.95
MIN_RECALL = 0.90
MIN_COVERAGE = 0.90  # nominal 0.95; issue 6 asks for >= 0.90 over 100 worlds
# Follow-up ends this long before the data end in the estimator, and the truth
# counts suspensions with at least 30 + LAG_DAYS days of follow-up, so that a
# 30-day return has had time to be discovered in both.
LAG_DAYS = 14.0
N_WORLDS = int(os.environ.get("MEASURE_RS_WORLDS", "100"))
VARIANTS = {
    "default": {},
    "unrelated_names": {"p_suffix": 0.2, "p_edit": 0.15},
    "stem_collisions": {"background_stem_share": 0.6},
}


@pytest.mark.calibration
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_link_precision_recall(variant, tmp_path) -> None:
    cfg = SimConfig.preset("small").replace(**VARIANTS[variant])
    precs, recs = [], []
    for seed in (1, 2, 3):
        p = simulate(cfg, seed, tmp_path / f"w{seed}")
        ds = measure.open(p)
        res = analyze(ds, n_boot=20, n_imputations=10)
        links, _, _ = observable_truth(ds, p)
        pr, rc = precision_recall(res.links, links)
        precs.append(pr)
        recs.append(rc)
    print(f"\n{variant}: precision {np.round(precs, 3)} recall {np.round(recs, 3)}")
    assert np.mean(precs) >= MIN_PRECISION
    assert np.mean(recs) >= MIN_RECALL


@pytest.mark.calibration
def test_rate_30d_coverage(tmp_path) -> None:
    cfg = SimConfig.preset("small")
    hits, est, tru = [], [], []
    for seed in range(1, N_WORLDS + 1):
        p = simulate(cfg, 1000 + seed, tmp_path / "w", overwrite=True)
        ds = measure.open(p)
        res = analyze(ds, n_boot=20, n_imputations=10, seed=seed,
                      discovery_lag_days=LAG_DAYS)
        _, truth_s, end = observable_truth(ds, p)
        t, _ = true_rate(truth_s, end, 30, LAG_DAYS)
        lo, hi = res.rate_30d.ci
        hits.append(lo <= t <= hi)
        est.append(res.rate_30d.estimate)
        tru.append(t)
        ds.close()
    cov = float(np.mean(hits))
    bias = float(np.mean(np.array(est) - np.array(tru)))
    print(f"\nrate_30d over {N_WORLDS} worlds: coverage {cov:.2f}, mean estimate "
          f"{np.mean(est):.3f}, mean observable truth {np.mean(tru):.3f}, bias "
          f"{bias:+.3f}")
    assert cov >= MIN_COVERAGE
