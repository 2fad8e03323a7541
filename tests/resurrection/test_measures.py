"""Kaplan-Meier, Rubin's rules, censoring at the end of observation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from measure.resurrection._measures import (
    _days,
    conditional_median,
    horizon_times,
    kaplan_meier,
    return_times,
    rubin_rate,
)

KM_TOL = 1e-10  # same arithmetic as lifelines: agreement to rounding
# Midpoint of a 7-day look-up interval vs the true suspension time moves a few
# returns across the 30-day line: 0.0055 at most over 15 small worlds, so 0.02.
RATE_CLOCK_TOL = 0.02


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


def test_horizon_cohort_needs_full_follow_up() -> None:
    """The d-day rate counts only accounts known alive d (+ lag) days before the end.

    Days: end = 100. Account 0 (last active 0, suspended by 2) returns on day 11;
    account 1 (last active 92) cannot show a 30-day return and is left out;
    account 2 (last active 0) never returns; account 3 (no active look-up, first
    seen on day 60, first suspended 62) returns on day 100 (38 days later: no).
    """
    nan = np.nan
    la = np.array([0.0, 92.0, 0.0, 60.0])
    fs = np.array([2.0, 94.0, 2.0, 62.0])
    created = np.array([11.0, 95.0, nan, 100.0])
    t, e = horizon_times(la, fs, created, 100.0, 30, 0)
    assert e.tolist() == [True, False, False]
    assert t.tolist() == [10.0, 30.0, 30.0]
    km = kaplan_meier(t, e)
    assert 1 - km.at(30)[0] == pytest.approx(1 / 3)
    # a lag of 11 days also drops account 3 (known alive 40 < 30 + 11 days before
    # the end)
    t, e = horizon_times(la, fs, created, 100.0, 30, 11)
    assert e.tolist() == [True, False]


def test_rate_with_true_links_matches_the_truth(small_world) -> None:
    """With the true links the d-day estimate reproduces the observable truth; only
    the clock differs (midpoint of the look-up interval vs the true suspension).

    Measured over 15 small worlds: largest difference 0.0055.
    """
    import measure
    from measure.simulate import load_truth
    from tests.resurrection._links import true_links

    ds = measure.open(small_world)
    links = true_links(small_world)
    end = ds.sql("SELECT max(observed_at) AS e FROM observations")["e"][0]
    fs = ds.sql(
        "SELECT o.account_id, max(o.observed_at) FILTER (WHERE status = 'active') "
        "AS la, min(o.observed_at) FILTER (WHERE status = 'suspended') AS fs, "
        "any_value(a.first_seen) AS seen FROM observations o JOIN accounts a "
        "USING (account_id) GROUP BY 1 HAVING bool_or(status = 'suspended')")
    df = fs.join(links.select(pl.col("previous").alias("account_id"), "created_new"),
                 on="account_id", how="left")
    end_d = _days(pl.Series([end]).cast(pl.Datetime("us", "UTC")))[0]
    f = _days(df["fs"])
    seen = _days(df["seen"])
    la = _days(df["la"])
    la = np.where(np.isnan(la), np.where(seen < f, seen, np.nan), la)
    km = kaplan_meier(*horizon_times(la, f, _days(df["created_new"]), end_d, 30, 0))
    want, n = load_truth(small_world).rate_in_data(30)
    assert km.n == n
    assert abs((1 - km.at(30)[0]) - want) < RATE_CLOCK_TOL
