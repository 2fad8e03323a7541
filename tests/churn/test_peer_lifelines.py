"""Peer values: measure.churn against lifelines 0.30 (and statsmodels) on identical
inputs, and the published Cox fit of the Rossi recidivism data.

lifelines is a dev dependency, used here only as the peer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from measure.churn import (
    cumulative_incidence,
    kaplan_meier,
    nelson_aalen,
    quantile,
    turnbull,
)
from measure.churn._cox import coxph_efron, ph_test

lifelines = pytest.importorskip("lifelines")

pytestmark = pytest.mark.reference

#: Agreement asked of the peer comparisons. Both sides are exact
#: closed-form computations on identical inputs, so only floating point separates
#: them (KM, Nelson-Aalen, CIF) or the peer's convergence tolerance (Cox: lifelines
#: is run with LIFELINES_NEWTON, tighter than its default; Turnbull: see below).
PEER_RTOL = 1e-6
#: lifelines' default Newton stopping rule (precision 1e-7 on the decrement) leaves
#: ~1e-6 relative error in the coefficients; tightened so the comparison tests our
#: code, not its stopping rule.
LIFELINES_NEWTON = {"precision": 1e-12, "r_precision": 1e-14}


def _truncated_sample(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Tie-free left-truncated, right-censored sample with two covariates."""
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 5, n)
    x = rng.normal(size=(n, 2))
    t = entry + rng.exponential(10 * np.exp(-x @ np.array([0.5, -0.3])))
    c = entry + rng.uniform(0, 30, n)
    time = np.minimum(t, c)
    event = t <= c
    return entry, time, event, x


def test_km_delayed_entry_matches_lifelines() -> None:
    """KaplanMeierFitter().fit(time, event, entry=entry) (lifelines 0.30):
    survival_function_, confidence_interval_ (log-log Greenwood) and
    median_survival_time_ agree to PEER_RTOL."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    entry, time, event, _ = _truncated_sample(400, 1)
    ours = kaplan_meier(entry, time, event)
    kmf = KaplanMeierFitter().fit(time, event, entry=entry)
    sf = kmf.survival_function_.iloc[:, 0].loc[ours.time].to_numpy()
    ci = kmf.confidence_interval_.loc[ours.time]
    np.testing.assert_allclose(ours.estimate, sf, rtol=PEER_RTOL)
    np.testing.assert_allclose(ours.ci_low, ci.iloc[:, 0].to_numpy(), rtol=PEER_RTOL)
    np.testing.assert_allclose(ours.ci_high, ci.iloc[:, 1].to_numpy(), rtol=PEER_RTOL)
    at_risk = kmf.event_table.loc[ours.time, "at_risk"].to_numpy()
    np.testing.assert_array_equal(ours.at_risk, at_risk)
    med, lo, hi = quantile(ours)
    assert med == pytest.approx(kmf.median_survival_time_, rel=PEER_RTOL)
    mci = median_survival_times(kmf.confidence_interval_).to_numpy().ravel()
    assert (lo, hi) == pytest.approx(tuple(mci), rel=PEER_RTOL)


def test_nelson_aalen_matches_lifelines() -> None:
    """NelsonAalenFitter(nelson_aalen_smoothing=False).fit(time, event, entry=entry):
    cumulative_hazard_ agrees to PEER_RTOL (lifelines' variance differs: it uses the
    Greenwood-type sum d/(n(n-d)) there, so only the estimate is compared)."""
    from lifelines import NelsonAalenFitter

    entry, time, event, _ = _truncated_sample(300, 2)
    ours = nelson_aalen(entry, time, event)
    naf = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(time, event, entry=entry)
    ch = naf.cumulative_hazard_.iloc[:, 0].loc[ours.time].to_numpy()
    np.testing.assert_allclose(ours.estimate, ch, rtol=PEER_RTOL)


def test_aalen_johansen_matches_lifelines() -> None:
    """AalenJohansenFitter(jitter_level=0).fit(time, cause, event_of_interest=1,
    entry=entry): cumulative_density_ agrees to PEER_RTOL for both causes."""
    from lifelines import AalenJohansenFitter

    entry, time, event, _ = _truncated_sample(300, 3)
    rng = np.random.default_rng(30)
    cause = np.where(event, rng.choice([1, 2], size=event.size, p=[0.7, 0.3]), 0)
    for k in (1, 2):
        ours = cumulative_incidence(entry, time, cause, k)
        ajf = AalenJohansenFitter(jitter_level=0, calculate_variance=False).fit(
            time, cause, event_of_interest=k, entry=entry)
        ref = ajf.cumulative_density_.iloc[:, 0].loc[ours.time].to_numpy()
        np.testing.assert_allclose(ours.estimate, ref, rtol=PEER_RTOL, atol=1e-12)


def test_cox_with_entry_matches_lifelines_and_statsmodels() -> None:
    """CoxPHFitter().fit(df, "T", "E", entry_col="entry") (Efron ties) and
    statsmodels PHReg(T, X, status=E, entry=entry, ties="efron"): coefficients and
    standard errors agree to PEER_RTOL."""
    from lifelines import CoxPHFitter
    from statsmodels.duration.hazard_regression import PHReg

    entry, time, event, x = _truncated_sample(400, 4)
    time = np.round(time, 1)  # create ties so that Efron's correction matters
    time = np.maximum(time, entry + 0.01)
    ours = coxph_efron(entry, time, event, x)
    df = pd.DataFrame({"entry": entry, "T": time, "E": event.astype(int),
                       "a": x[:, 0], "b": x[:, 1]})
    cph = CoxPHFitter().fit(df, "T", "E", entry_col="entry",
                           fit_options=LIFELINES_NEWTON)
    np.testing.assert_allclose(ours["params"], cph.params_.to_numpy(), rtol=PEER_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(ours["cov"])),
                               cph.standard_errors_.to_numpy(), rtol=PEER_RTOL)
    sm = PHReg(time, x, status=event.astype(float), entry=entry, ties="efron").fit()
    np.testing.assert_allclose(ours["params"], sm.params, rtol=PEER_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(ours["cov"])), sm.bse, rtol=PEER_RTOL)


def test_cox_strata_matches_statsmodels() -> None:
    """statsmodels PHReg(T, X, status=E, entry=entry, strata=s, ties="efron")."""
    from statsmodels.duration.hazard_regression import PHReg

    entry, time, event, x = _truncated_sample(400, 5)
    strata = np.random.default_rng(50).choice(["a", "b", "c"], size=time.size)
    ours = coxph_efron(entry, time, event, x, strata)
    sm = PHReg(time, x, status=event.astype(float), entry=entry, strata=strata,
               ties="efron").fit()
    np.testing.assert_allclose(ours["params"], sm.params, rtol=PEER_RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(ours["cov"])), sm.bse, rtol=PEER_RTOL)


#: Published Cox fit of the Rossi et al. (1980) recidivism data, as printed (3
#: decimals) in Fox, J. & Weisberg, S. (2019), "Cox Proportional-Hazards Regression
#: for Survival Data in R", appendix to An R Companion to Applied Regression, 3rd ed.,
#: from R ``coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio,
#: data = Rossi)`` (Efron ties), and reproduced in the lifelines documentation
#: ("Survival regression", CoxPHFitter on ``load_rossi()``).
ROSSI_COEF = {"fin": -0.379, "age": -0.057, "race": 0.314, "wexp": -0.150,
              "mar": -0.434, "paro": -0.085, "prio": 0.091}
ROSSI_SE = {"fin": 0.191, "age": 0.022, "race": 0.308, "wexp": 0.212, "mar": 0.382,
            "paro": 0.196, "prio": 0.029}
#: Published values are rounded to 3 decimals: agreement to half a unit in the last.
PUBLISHED_ATOL = 0.0005


def test_cox_rossi_fox_weisberg() -> None:
    """Rossi recidivism data (lifelines.datasets.load_rossi, 432 released prisoners,
    weeks to re-arrest). R: ``coxph(Surv(week, arrest) ~ fin + age + race + wexp +
    mar + paro + prio, data = Rossi)``; Fox & Weisberg (2019), and the lifelines docs
    ``CoxPHFitter().fit(load_rossi(), "week", "arrest")``. Our fit matches the
    published 3-decimal values and lifelines to PEER_RTOL."""
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    terms = list(ROSSI_COEF)
    x = rossi[terms].to_numpy(dtype=float)
    time = rossi["week"].to_numpy(dtype=float)
    event = rossi["arrest"].to_numpy() == 1
    ours = coxph_efron(np.zeros(time.size), time, event, x)
    se = np.sqrt(np.diag(ours["cov"]))
    for i, t in enumerate(terms):
        assert abs(ours["params"][i] - ROSSI_COEF[t]) <= PUBLISHED_ATOL, t
        assert abs(se[i] - ROSSI_SE[t]) <= PUBLISHED_ATOL, t
    cph = CoxPHFitter().fit(rossi, "week", "arrest", fit_options=LIFELINES_NEWTON)
    np.testing.assert_allclose(ours["params"], cph.params_[terms].to_numpy(),
                               rtol=PEER_RTOL)
    np.testing.assert_allclose(se, cph.standard_errors_[terms].to_numpy(),
                               rtol=PEER_RTOL)




def test_ph_test_rossi_matches_lifelines() -> None:
    """lifelines.statistics.proportional_hazard_test(cph, rossi,
    time_transform="rank"): Grambsch-Therneau statistics agree (age and wexp
    violate PH, as Fox & Weisberg report with cox.zph)."""
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi
    from lifelines.statistics import proportional_hazard_test

    rossi = load_rossi()
    terms = list(ROSSI_COEF)
    x = rossi[terms].to_numpy(dtype=float)
    time = rossi["week"].to_numpy(dtype=float)
    ours = coxph_efron(np.zeros(time.size), time, rossi["arrest"].to_numpy() == 1, x)
    stat = ph_test(ours["schoenfeld"], ours["cov"], time[ours["events"]])
    cph = CoxPHFitter().fit(rossi, "week", "arrest", fit_options=LIFELINES_NEWTON)
    ref = proportional_hazard_test(cph, rossi, time_transform="rank").summary
    np.testing.assert_allclose(stat, ref.loc[terms, "test_statistic"].to_numpy(),
                               rtol=PEER_RTOL)


def _interval_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Interval-censored times from random inspection schedules (distinct ends)."""
    rng = np.random.default_rng(seed)
    t = rng.exponential(10, n)
    looks = np.sort(rng.uniform(0, 30, (n, 5)), axis=1)
    left = np.zeros(n)
    right = np.full(n, np.inf)
    for i in range(n):
        before, after = looks[i][looks[i] < t[i]], looks[i][looks[i] >= t[i]]
        left[i] = before.max() if before.size else rng.uniform(0, 0.01)
        right[i] = after.min() if after.size else np.inf
    return left, right


#: lifelines' EM (npmle) stops on a log-likelihood change, not on the masses. On
#: the 30-subject sample it reaches the maximiser (agreement ~1e-12); on larger
#: samples it stops early (errors of 1e-6 to 4e-6 relative at n = 40-60 with
#: tol=1e-14), so there we only require our likelihood to be at least as high and
#: agreement to LIFELINES_EM_RTOL.
LIFELINES_EM_RTOL = 1e-4
#: Survival values below this are not compared relatively (a tiny tail value
#: amplifies any absolute difference).
TB_SURV_FLOOR = 0.05


def test_turnbull_matches_lifelines_npmle() -> None:
    """lifelines.fitters.npmle.npmle(left, right, tol=1e-14, max_iter=1e6) -- the
    engine of KaplanMeierFitter().fit_interval_censoring(left, right): same
    innermost intervals, survival after each to PEER_RTOL."""
    from lifelines.fitters.npmle import npmle

    left, right = _interval_sample(30, 11)
    ours = turnbull(left, right, tol=1e-13)
    p, intervals = npmle(left, right, tol=1e-14, max_iter=1e6)
    intervals = np.asarray(intervals)
    np.testing.assert_allclose(ours.left, intervals[:, 0])
    np.testing.assert_allclose(ours.right, intervals[:, 1])
    s_ours = 1 - np.cumsum(ours.mass)
    s_ref = 1 - np.cumsum(p)
    keep = s_ref > TB_SURV_FLOOR
    np.testing.assert_allclose(s_ours[keep], s_ref[keep], rtol=PEER_RTOL)
    a = np.searchsorted(ours.left, left)
    b = np.searchsorted(ours.right, right, side="right") - 1

    def loglik(m: np.ndarray) -> float:
        c = np.concatenate([[0.0], np.cumsum(m)])
        return float(np.sum(np.log(c[b + 1] - c[a])))

    assert loglik(ours.mass) >= loglik(np.asarray(p)) - 1e-12


@pytest.mark.parametrize("n,seed", [(40, 11), (60, 13)])
def test_turnbull_likelihood_at_least_lifelines(n: int, seed: int) -> None:
    """npmle(left, right, tol=1e-14, max_iter=1e6) stops early on these samples; our
    NPMLE has a likelihood at least as high and agrees to LIFELINES_EM_RTOL."""
    from lifelines.fitters.npmle import npmle

    left, right = _interval_sample(n, seed)
    ours = turnbull(left, right, tol=1e-13)
    p, _ = npmle(left, right, tol=1e-14, max_iter=1e6)
    s_ref = 1 - np.cumsum(p)
    keep = s_ref > TB_SURV_FLOOR
    np.testing.assert_allclose((1 - np.cumsum(ours.mass))[keep], s_ref[keep],
                               rtol=LIFELINES_EM_RTOL)
    a = np.searchsorted(ours.left, left)
    b = np.searchsorted(ours.right, right, side="right") - 1

    def loglik(m: np.ndarray) -> float:
        c = np.concatenate([[0.0], np.cumsum(m)])
        return float(np.sum(np.log(c[b + 1] - c[a])))

    assert loglik(ours.mass) >= loglik(np.asarray(p)) - 1e-12
