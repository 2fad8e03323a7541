"""Kaplan-Meier, Rubin's rules, censoring at the end of observation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from measure.resurrection._measures import (
    conditional_median,
    kaplan_meier,
    return_times,
    rubin_rate,
)

KM_TOL = 1e-10  # same arithmetic as lifelines: agreement to rounding


def test_kaplan_meier_matches_lifelines() -> None:
    """Peer values from lifelines::

        from lifelines import KaplanMeierFitter
        kmf = KaplanMeierFitter().fit(t, e)
        kmf.survival_function_at_times(d)
        # Greenwood: kmf.confidence_interval_ uses the same sum (log-log)
    """
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(1)
    t = np.round(rng.exponential(20, 300), 1)
    e = rng.random(300) < 0.6
    km = kaplan_meier(t, e)
    kmf = lifelines.KaplanMeierFitter().fit(t, e)
    for d in (0.5, 5, 10, 30, 60):
        want = float(kmf.survival_function_at_times(d).iloc[0])
        assert abs(km.at(d)[0] - want) < KM_TOL


def test_greenwood_by_hand() -> None:
    # times 1,2,3,4 with events at 1 and 3 (2 and 4 censored)
    km = kaplan_meier(np.array([1.0, 2, 3, 4]), np.array([1, 0, 1, 0]))
    s, gw, _ = km.at(3.5)
    assert s == pytest.approx(0.75 * 0.5)
    assert gw == pytest.approx(1 / (4 * 3) + 1 / (2 * 1))


def test_rubin_rules_by_hand() -> None:
    """With identical imputations the between variance is 0 and the CI is the
    Greenwood log-log interval; with different ones it widens."""
    t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    e1 = np.array([1, 0, 1, 0, 1, 0, 0, 0], bool)
    e2 = np.array([1, 1, 1, 0, 1, 0, 0, 0], bool)
    km1, km2 = kaplan_meier(t, e1), kaplan_meier(t, e2)
    same = rubin_rate([km1, km1], 5.5, 0.95)
    assert same.between == 0
    s, gw, _ = km1.at(5.5)
    theta = np.log(-np.log(s))
    se = np.sqrt(gw) / abs(np.log(s))
    lo = 1 - np.exp(-np.exp(theta - 1.959963984540054 * se))
    assert same.ci[0] == pytest.approx(lo)
    assert same.estimate == pytest.approx(1 - s)
    mixed = rubin_rate([km1, km2], 5.5, 0.95)
    assert mixed.between > 0
    assert mixed.ci[1] - mixed.ci[0] > same.ci[1] - same.ci[0]
    assert mixed.estimate == pytest.approx(1 - (km1.at(5.5)[0] + km2.at(5.5)[0]) / 2)


def test_no_events_gives_zero_with_upper_bound() -> None:
    km = kaplan_meier(np.full(100, 40.0), np.zeros(100, bool))
    p = rubin_rate([km, km], 30, 0.95)
    assert p.estimate == 0 and 0 < p.ci[1] < 0.05


def test_late_suspension_is_censored_before_30_days() -> None:
    """An account suspended a week before the data end cannot show a 30-day return."""
    t0 = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    end = t0 + dt.timedelta(days=100)
    susp = pl.DataFrame({
        "account_id": [1, 2, 3],
        "last_active": [t0, t0 + dt.timedelta(days=92), t0],
        "first_suspended": [t0 + dt.timedelta(days=2), t0 + dt.timedelta(days=94),
                            t0 + dt.timedelta(days=2)],
    }, schema_overrides={"last_active": pl.Datetime("us", "UTC"),
                         "first_suspended": pl.Datetime("us", "UTC")})
    links = pl.DataFrame({"previous": [1], "created_new": [t0 + dt.timedelta(days=11)]},
                         schema_overrides={"created_new": pl.Datetime("us", "UTC")})
    t, e = return_times(susp, links, end, lag_days=0)
    assert e.tolist() == [True, False, False]
    assert t[0] == pytest.approx(10.0)  # from the midpoint of (last active, suspended)
    assert t[1] == pytest.approx(7.0)  # censored after 7 days of follow-up
    assert t[2] == pytest.approx(99.0)
    # a lag allowance shortens every follow-up
    t2, _ = return_times(susp, links, end, lag_days=5)
    assert t2[1] == pytest.approx(2.0)
    km = kaplan_meier(t, e)
    assert km.at(30)[0] == pytest.approx(0.5)  # 1 of 2 at risk at day 10 returned


def test_conditional_median() -> None:
    t = np.array([1.0, 2, 3, 4, 100, 100])
    e = np.array([1, 1, 1, 1, 0, 0], bool)
    km = kaplan_meier(t, e)
    # F(60) = 4/6; half of it (1/3) is reached at day 2
    assert conditional_median(km, 60) == 2.0
