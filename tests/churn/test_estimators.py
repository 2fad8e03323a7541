"""Invariants of the estimators and of ``analyze`` on hand-built panels."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import measure
from measure.churn import (
    analyze,
    calendar_rates,
    cumulative_incidence,
    kaplan_meier,
    poisson_ci,
    turnbull,
)
from measure.churn._lifetimes import SUSPENDED, build_lifetimes
from measure.cli import main

#: Floating-point agreement for identities that hold exactly.
EXACT = 1e-10


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 5, n)
    t = entry + rng.exponential(10, n)
    c = entry + rng.uniform(0, 30, n)
    return entry, np.minimum(t, c), t <= c


def test_turnbull_with_narrow_intervals_is_km_with_entry() -> None:
    """Turnbull (1976): with exact event times (intervals (t - eps, t]) and left
    truncation, the NPMLE is the Kaplan-Meier estimator with delayed entry."""
    entry, time, event = _sample(150, 7)
    km = kaplan_meier(entry, time, event)
    eps = 1e-7
    fit = turnbull(np.where(event, time - eps, time),
                   np.where(event, time, np.inf), entry=entry, tol=1e-13)
    low, high = fit.survival(km.time)
    np.testing.assert_allclose(high, km.estimate, atol=1e-9)


def test_turnbull_truncation_matters() -> None:
    """Ignoring truncation (entry=None) gives a different, lower-likelihood fit."""
    entry, time, event = _sample(150, 8)
    left = np.where(event, time - 1, time)
    right = np.where(event, time, np.inf)
    with_e = turnbull(left, right, entry=np.minimum(entry, left), tol=1e-12)
    without = turnbull(left, right, tol=1e-12)
    assert not np.allclose(with_e.survival(10.0)[1], without.survival(10.0)[1])


def test_cif_sum_is_one_minus_all_cause_km() -> None:
    """Aalen-Johansen: F_suspended + F_deleted = 1 - KM of either event."""
    entry, time, event = _sample(300, 9)
    rng = np.random.default_rng(90)
    cause = np.where(event, rng.choice([1, 2], size=time.size), 0)
    f1 = cumulative_incidence(entry, time, cause, 1)
    f2 = cumulative_incidence(entry, time, cause, 2)
    km = kaplan_meier(entry, time, cause > 0)
    np.testing.assert_allclose(f1.estimate + f2.estimate, 1 - km.estimate,
                               atol=EXACT)
    assert np.all(f1.ci_low <= f1.estimate + EXACT)
    assert np.all(f1.ci_high >= f1.estimate - EXACT)


def test_poisson_ci_garwood_values() -> None:
    """Exact Poisson limits (Garwood 1936), e.g. Ulm (1990) table: k=0 -> (0,
    3.689), k=10 -> (4.795, 18.39) at 95%."""
    lo, hi = poisson_ci(np.array([0, 10]))
    assert lo[0] == 0 and hi[0] == pytest.approx(3.6889, abs=1e-4)
    assert lo[1] == pytest.approx(4.7954, abs=1e-4)
    assert hi[1] == pytest.approx(18.3904, abs=1e-4)


def test_rates_exposure_and_stock_flow_identities(panel_factory) -> None:
    """Account-days add up to total time at risk; suspensions add up to the events;
    alive_end = alive_start + new - suspended - deleted - censored each month and
    the next month starts where this one ended."""
    with measure.open(panel_factory(n=800, seed=3)) as ds:
        fr = build_lifetimes(ds).frame
    fr = fr.filter(pl.col("exit_at") > pl.col("entry_at"))
    r = calendar_rates(fr)
    total = ((fr["exit_at"] - fr["entry_at"]).dt.total_microseconds() / 86_400e6).sum()
    assert r["account_days"].sum() == pytest.approx(total, rel=1e-9)
    assert r["suspensions"].sum() == int((fr["event"] == SUSPENDED).sum())
    flow = (r["alive_start"] + r["new"] - r["suspended"] - r["deleted"]
            - r["censored"])
    assert (flow == r["alive_end"]).all()
    assert (r["alive_start"][1:] == r["alive_end"][:-1]).all()
    assert (r["ci_low"] <= r["rate"]).all() and (r["rate"] <= r["ci_high"]).all()


#: Known truth of the synthetic panel: exponential latent suspension, mean 60 days.
MEAN_SUSP = 60.0


def test_analyze_recovers_exponential_panel(panel_factory) -> None:
    """On a panel with S(t) = exp(-t/60), delayed entry and weekly look-ups, the
    95% band covers S(30)/S(a0) and S(90)/S(a0), and the Turnbull NPMLE agrees with
    the midpoint curve within the look-up spacing's effect (0.03)."""
    with measure.open(panel_factory(n=3000, seed=5)) as ds:
        res = analyze(ds)
    a0 = res.overall.conditional_age
    for e, d in zip(res.overall.survival, (1, 7, 30, 90), strict=True):
        if d < 30:
            continue
        true = np.exp(-(d - a0) / MEAN_SUSP)
        assert e.ci[0] <= true <= e.ci[1], (d, e, true)
        tb_low, tb_high = res.overall.turnbull_at[(1, 7, 30, 90).index(d)]
        assert abs(tb_low - e.estimate) < 0.03
    assert res.overall.median.ci[0] <= MEAN_SUSP * np.log(2) + a0 <= (
        res.overall.median.ci[1])


def test_analyze_groups_compete_and_outputs(panel_factory, tmp_path) -> None:
    """--by gives one curve per group and a log-rank test; --deleted compete
    reports 1 - CIF; to_polars has the fixed columns; plot returns Axes."""
    import matplotlib

    matplotlib.use("Agg")
    with measure.open(panel_factory(n=800, seed=6)) as ds:
        res = analyze(ds, by="lang")
        comp = analyze(ds, deleted="compete", cox=False, turnbull_fit=False)
    assert set(res.groups) == {"ar", "en", "fr"}
    # each group is conditioned on its own youngest adequately-watched age
    assert sum(g.n_accounts + g.n_exited_before for g in res.groups.values()) == (
        res.overall.n_accounts + res.overall.n_exited_before)
    assert res.logrank is not None and 0 <= res.logrank.extra["p_value"] <= 1
    assert res.cox is not None and "lang[en]" in res.cox.terms
    # with deletion as a competing risk, fewer are 'suspended by t' than 1 - KM says
    km90 = res.overall.survival[3].estimate
    assert comp.overall.survival[3].estimate >= km90 - EXACT
    tab = res.to_polars()
    assert tab.columns == ["term", "estimate", "std_error", "ci_low", "ci_high",
                           "level"]
    assert "median_days" in tab["term"].to_list()
    for kind in ("survival", "cif", "rates"):
        assert res.plot(kind=kind) is not None
    assert "median time to suspension" in res.summary()
    assert "ChurnResult" in repr(res)


def test_cli_json_fields(panel_factory, capsys) -> None:
    """`measure churn DATASET --json` prints the headline fields, rates and curves."""
    path = panel_factory(n=800, seed=6)
    assert main(["churn", str(path), "--json", "--by", "lang"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("n_accounts", "n_suspended", "n_deleted", "median_days",
                "median_ci", "survival", "rates", "method"):
        assert key in out, key
    assert [r["day"] for r in out["survival"]] == [1, 7, 30, 90]
    assert set(out["survival"][0]) >= {"day", "survival", "ci_low", "ci_high",
                                       "at_risk"}
    assert set(out["rates"][0]) == {"period", "suspensions", "account_days", "rate",
                                    "ci_low", "ci_high"}
    assert main(["churn", str(path), "--where", "nope=1"]) == 1
    assert "nope" in capsys.readouterr().err
