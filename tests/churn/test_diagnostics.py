"""Deletion bounds, the truncation test, the age-period model and clustering in
``analyze`` (the statistics themselves are tested in their own files)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import measure
from measure.churn import analyze


def test_deletion_bounds_bracket_the_curve_and_the_truth(panel_factory) -> None:
    """Suspension after Exp(60 d), deletion after Exp(100 d): at 7, 30 and 90 days
    the independent-censoring Kaplan-Meier survival (midpoint times, as the
    bounds) lies between the bound that counts deletions as suspensions and the
    one that never suspends them, and so does the true latent survival
    exp(-t / 60)."""
    path = panel_factory(n=3000, seed=3, mean_del=100.0)
    res = analyze(measure.open(path), cox=False, turnbull_fit=False, age_period=None)
    g = res.overall
    km = g.km.value(np.array([1.0, 7.0, 30.0, 90.0]))[0]
    for d, (lo, hi), s in zip((1, 7, 30, 90), g.deletion_bounds, km, strict=True):
        if d < g.conditional_age or math.isnan(lo):
            continue
        assert lo <= s <= hi
        if d >= 7:
            assert lo <= math.exp(-d / 60) <= hi
            assert hi - lo > 0.01
    rows = res.to_dict()["deletion_bounds"]
    assert [r["days"] for r in rows] == [1, 7, 30, 90]


def test_deletion_range_is_attached_and_flagged_where_it_matters(
        panel_factory) -> None:
    """Heavy deletion (Exp(100 d) against suspension Exp(60 d)) makes the bounds
    wider than the interval at 30 and 90 days: those rows warn and carry the
    range, which contains the point bounds and the true exp(-t / 60). With rare
    deletion (Exp(20,000 d)) no row is flagged."""
    heavy = analyze(measure.open(panel_factory(n=3000, seed=3, mean_del=100.0)),
                    cox=False, turnbull_fit=False, age_period=None)
    for e, d in zip(heavy.overall.survival, (1, 7, 30, 90), strict=True):
        if d < 30:
            continue
        assert e.extra["deletion_material"] is True
        assert any("deletion could move survival" in w for w in e.warnings)
        (blo, bhi), (rlo, rhi) = e.extra["deletion_bounds"], e.extra["deletion_range"]
        assert rlo < blo < bhi < rhi
        assert rlo <= math.exp(-d / 60) <= rhi
    note = [w for w in heavy.warnings if w.startswith("deletion could move")]
    assert len(note) == 1 and "30d" in note[0] and "90d" in note[0]
    rows = heavy.to_dict()["deletion_bounds"]
    assert rows[3]["material"] and rows[3]["range_low"] < rows[3]["low"]
    rare = analyze(measure.open(panel_factory(n=3000, seed=3, mean_del=20_000.0)),
                   cox=False, turnbull_fit=False, age_period=None)
    assert rare.overall.n_deleted > 0
    assert not any(e.extra.get("deletion_material") for e in rare.overall.survival)


def test_truncation_test_and_age_period_model_are_reported(panel_factory) -> None:
    """The JSON carries Tsai's test and the age x week model; the model's events
    are the suspensions at risk after the conditioning age."""
    path = panel_factory(n=2000, seed=5)
    res = analyze(measure.open(path), cox=False, turnbull_fit=False)
    d = res.to_dict()
    t = d["truncation_test"]
    assert t["n_comparable"] > 0 and math.isfinite(t["z"])
    assert 0 <= t["p_value"] <= 1
    ap = d["age_period"]
    assert ap["lr_df"] == len(ap["rate_ratios"]) - 1
    n_events = sum(r["events"] for r in ap["rate_ratios"])
    lt_events = res.overall.n_suspended
    assert n_events >= lt_events
    assert sum(r["reference"] for r in ap["rate_ratios"]) == 1


def test_clustered_errors_are_wired_and_named(panel_factory) -> None:
    """Clustering by a column with three levels: the Cox model says so and
    warns that three clusters are too few; the KM band changes."""
    path = panel_factory(n=2000, seed=7)
    ds = measure.open(path)
    plain = analyze(ds, turnbull_fit=False, age_period=None)
    clus = analyze(ds, turnbull_fit=False, age_period=None, cluster="lang")
    assert clus.cox.n_clusters == 3 and clus.to_dict()["cox"]["cluster"] == "lang"
    assert any("clustered by 'lang'" in w for w in clus.warnings)
    s0 = plain.overall.survival[2]
    s1 = clus.overall.survival[2]
    assert s0.estimate == pytest.approx(s1.estimate)
    assert not np.isclose(s0.ci[0], s1.ci[0])


def test_each_imputation_conditions_on_its_own_draws() -> None:
    """Suspension after Exp(60 d), look-ups every 7 days from age 0, curve
    conditional on surviving to a0 = 3.5 d (mid-interval). Conditioning each
    imputation on its own draws keeps half the events of (0, 7] and recovers
    S(7 | a0) = exp(-3.5 / 60) = 0.943 within 0.01; dropping accounts by the
    midpoint instead (all of (0, 7] sits on a0) loses those events and reports
    survival 1."""
    from measure.churn._km import km_imputed

    rng = np.random.default_rng(11)
    n = 20000
    t = rng.exponential(60.0, n)
    right = np.ceil(t / 7) * 7
    left = right - 7
    entry = np.zeros(n)
    ev = np.ones(n, dtype=bool)
    a0 = 3.5
    keep = right > a0
    s_new = km_imputed(entry[keep], left[keep], right[keep], ev[keep],
                       np.array([7.0, 30.0]), m=10, condition_at=a0).estimate
    assert s_new[0] == pytest.approx(math.exp(-3.5 / 60), abs=0.01)
    assert s_new[1] == pytest.approx(math.exp(-26.5 / 60), abs=0.015)
    mid = (left + right) / 2 > a0
    s_mid = km_imputed(np.maximum(entry[mid], a0), np.maximum(left[mid], a0),
                       right[mid], ev[mid], np.array([7.0]), m=10).estimate
    assert s_mid[0] == pytest.approx(1.0)


def test_interval_ph_fits_the_look_up_intervals(panel_factory) -> None:
    """With ``interval_ph=True`` the PH model on the intervals themselves is
    reported beside the midpoint Cox model, and the two coefficients of the
    follower count agree within two standard errors."""
    path = panel_factory(n=1500, seed=9)
    res = analyze(measure.open(path), turnbull_fit=False, age_period=None,
                  interval_ph=True, interval_ph_bootstrap=30)
    ip = res.interval_ph
    assert ip is not None and ip.converged
    term = "followers_at_entry"
    b_cox = res.cox.coef[res.cox.terms.index(term)]
    se = max(ip.se[term], res.cox.std_error[res.cox.terms.index(term)])
    assert abs(ip.coef[term] - b_cox) < 2 * se
    d = res.to_dict()["interval_ph"]
    assert d["terms"][0]["term"] == term and d["bootstrap"] == 30


def test_age_period_model_samples_large_selections(panel_factory, monkeypatch) -> None:
    """Above ``AGE_PERIOD_MAX_N`` accounts the age x period model runs on a random
    sample of that many, and the result says so."""
    import measure.churn._analyze as an

    monkeypatch.setattr(an, "AGE_PERIOD_MAX_N", 500)
    path = panel_factory(n=2000, seed=5)
    res = analyze(measure.open(path), cox=False, turnbull_fit=False)
    assert any("random sample of 500" in w for w in res.warnings)
    events = int(res.age_period.rate_ratios["events"].sum())
    assert 0 < events <= 500


def test_median_not_reached_is_a_one_sided_limit(panel_factory) -> None:
    """Suspension after Exp(400 d), complete follow-up to day 90: the curve
    never reaches 0.5, so the median has no point estimate and no upper limit;
    its lower limit lies below the true median 400 log 2 = 277 days and the text
    says "after"."""
    res = analyze(measure.open(panel_factory(n=2000, seed=4, mean_susp=400.0)),
                  cox=False, turnbull_fit=False, age_period=None,
                  complete_followup=True)
    m = res.median
    assert m.valid and math.isnan(m.estimate) and m.ci[1] == math.inf
    assert 0 < m.ci[0] <= 400 * math.log(2)
    assert any("median not reached" in w for w in m.warnings)
    assert "not reached; after" in res.summary()
    assert res.to_dict()["median_ci"][1] is None


def test_a_cox_model_that_cannot_be_fitted_is_reported_not_raised(
        panel_factory, monkeypatch) -> None:
    """A singular information matrix (too few accounts for the covariates) leaves
    the survival figures and says why there is no Cox model."""
    import measure.churn._cox as cox_mod

    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(cox_mod, "coxph_efron", singular)
    res = analyze(measure.open(panel_factory(n=800, seed=6)), turnbull_fit=False,
                  age_period=None)
    assert res.cox is None
    assert any("Cox model could not be fitted" in w for w in res.warnings)
    assert res.overall.survival[2].valid
