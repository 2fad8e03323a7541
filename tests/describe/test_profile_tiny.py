"""Profile statistics on a hand-built dataset whose values are worked out by hand.

The ``tiny`` fixture (conftest.py): six accounts, five weekly look-ups from
2014-09-01, account 2 suspended from week 2 and account 4 from week 3, follower
lists of accounts 1, 2 (complete) and 5 (incomplete).
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

import measure
from measure.describe import analyze, normalise_location
from measure.describe._stats import wilson, wquantile

# Wilson bounds from two implementations agree to rounding error only.
WILSON_TOL = 1e-10


@pytest.fixture
def res(tiny):
    with measure.open(tiny) as ds:
        return analyze(ds, n_boot=200, seed=1)


def test_latest_active_lookup_values(res):
    # latest active look-ups: followers 104, 1001 (week 1), 9, 22 (week 2), 40004, 5
    assert res.n_accounts == 6
    assert res.estimate("followers_max").estimate == 40004
    assert res.estimate("followers_median").estimate == 22  # type-1 median of 6
    assert res.estimate("followers_mean").estimate == pytest.approx(
        (104 + 1001 + 9 + 22 + 40004 + 5) / 6)
    assert res.estimate("statuses_max").estimate == 9000 + 700 * 4
    p90 = res.estimate("friends_p90")
    assert p90.estimate == 300
    # six accounts cannot bound a 90th percentile from above distribution-free
    assert p90.ci[1] == math.inf and p90.warnings


def test_intervals_contain_estimates_and_are_reproducible(res, tiny):
    for e in res.estimates:
        if e.valid:
            assert e.ci[0] <= e.estimate + 1e-12 <= e.ci[1] + 2e-12, e.term
            assert e.n is not None
    with measure.open(tiny) as ds:
        again = analyze(ds, n_boot=200, seed=1)
    assert again.to_polars().equals(res.to_polars())


def test_wilson_matches_statsmodels(res):
    """statsmodels: proportion_confint(3, 5, alpha=0.05, method="wilson")."""
    e = res.estimate("lang_share[ar]")
    assert e.estimate == pytest.approx(0.6) and e.n == 5
    lo, hi = proportion_confint(3, 5, alpha=0.05, method="wilson")
    assert e.ci == pytest.approx((lo, hi), abs=WILSON_TOL)
    assert wilson(0, 10) == pytest.approx(
        proportion_confint(0, 10, method="wilson"), abs=WILSON_TOL)


def test_locations_normalised_with_raw_kept(res):
    loc = res.table("locations")
    counts = dict(zip(loc["location"], loc["count"], strict=True))
    assert counts == {"raqqa": 2, "london": 2, "dabiq": 1, "(none)": 1}
    raw = dict(zip(loc["location"], loc["raw_variants"], strict=True))
    assert raw["raqqa"] == 2 and raw["london"] == 2
    assert normalise_location("  Ar-Raqqah ,  SYRIA 🇸🇾 ") == "ar raqqah syria"
    assert normalise_location("   ") is None


def test_name_tokens(res):
    t = {r["token"]: r for r in res.table("name_tokens").iter_rows(named=True)}
    assert t["abu"]["either"] == 2  # abu_omar; AbuBakr22 / ابو بكر
    assert t["abu"]["display_name"] == 2 and t["abu"]["screen_name"] == 2
    assert t["umm"]["either"] == 1  # umm_x / أم خالد
    assert t["bint"]["either"] == 1
    assert t["ibn"]["either"] == 0


def test_activity_from_lookups(res):
    assert res.activity_source == "lookups"
    # increases within 30 days of the last look-up: accounts 1, 2, 4, 5
    e = res.estimate("active_30d_share")
    assert e.estimate == pytest.approx(4 / 6) and e.n == 6
    hyp = res.hyperactive
    rates = dict(zip(hyp.accounts["account_id"], hyp.accounts["tweets_per_day"],
                     strict=True))
    assert rates[1] == pytest.approx(280 / 28) and rates[5] == pytest.approx(100)
    assert rates[4] == pytest.approx(28 / 14) and rates[3] == 0
    assert hyp.estimate("half_volume_accounts").estimate == 1
    assert hyp.estimate("hyperactive_accounts").estimate == 1
    assert hyp.estimate("burst_max").estimate == pytest.approx(100)
    th = {r["threshold"]: r for r in hyp.thresholds.iter_rows(named=True)}
    assert th[10.0]["accounts"] == 2
    assert th[10.0]["volume_share"] == pytest.approx((280 + 2800) / 3115)


def test_in_network_share_from_collected_lists(res, tiny):
    with measure.open(tiny) as ds:
        from measure.describe import account_table, resolve_cohort
        from measure.describe._cohort import register

        c = resolve_cohort(ds, "all")
        register(ds, c)
        register(ds, c, network=True)
        df, _ = account_table(ds, c)
    s = dict(zip(df["account_id"], df["in_follower_share"], strict=True))
    assert s[1] == pytest.approx(3 / 4)  # followers 2, 3, 4 in cohort; 9 is not
    assert s[2] == pytest.approx(1.0)
    assert s[5] == pytest.approx(2 / 40004)  # incomplete list: followers_count
    assert s[3] is None
    assert res.estimate("in_follower_share_median").n == 3
    assert any("incomplete" in w for w in res.warnings)


def test_before_suspension_groups(res):
    b = res.before_suspension
    assert b.groups == ("suspended later", "not suspended")
    row = b.table.filter(pl.col("term") == "statuses_mean").row(0, named=True)
    assert row["estimate_a"] == pytest.approx((507 + 28) / 2)
    assert row["estimate_b"] == pytest.approx((290 + 2000 + 11800 + 1) / 4)
    assert row["ratio"] == pytest.approx(row["estimate_a"] / row["estimate_b"])
    assert row["ratio_low"] <= row["ratio"] <= row["ratio_high"]


def test_size_series(res):
    s = res.series
    assert s["looked_up"].to_list() == [6] * 5
    assert s["alive"].to_list() == [6, 6, 5, 4, 4]
    assert s["newly_suspended"].to_list() == [0, 0, 1, 1, 0]
    assert s["at_risk"].to_list() == [6, 6, 6, 5, 4]
    assert s["new_accounts"].to_list() == [6, 0, 0, 0, 0]
    assert s["mean_followers"][0] == pytest.approx((100 + 1000 + 5 + 20 + 40000 + 1)
                                                   / 6)
    assert s["suspended_share"][3] == pytest.approx(1 / 5)


def test_control_comparison_and_cohort_file(tiny, tmp_path):
    f = tmp_path / "cohort.txt"
    f.write_text("1\n2\n3\n")
    ctl = tmp_path / "control.csv"
    ctl.write_text("account_id\n4\n5\n6\n")
    with measure.open(tiny) as ds:
        r = analyze(ds, cohort=str(f), control=str(ctl), n_boot=200)
    assert r.n_accounts == 3
    c = r.comparison
    row = c.table.filter(pl.col("term") == "followers_max").row(0, named=True)
    assert row["estimate_a"] == 1001 and row["estimate_b"] == 40004
    e = c.estimate("ratio[followers_mean]")
    assert e.estimate == pytest.approx(((104 + 1001 + 9) / 3) / ((22 + 40004 + 5) / 3))
    assert e.ci[0] <= e.estimate <= e.ci[1]


def _describe_cli(argv):
    """Run ``measure describe`` through this family's parser only (other families'
    CLI modules may be mid-edit in a shared checkout)."""
    import argparse

    from measure.describe._cli import register

    p = argparse.ArgumentParser(prog="measure")
    register(p.add_subparsers(dest="command"))
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_json(tiny, capsys):
    assert _describe_cli(["describe", str(tiny), "--json", "--n-boot", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_accounts"] == 6
    terms = {e["term"] for e in out["estimates"]}
    assert {"followers_median", "lang_share[ar]", "active_30d_share"} <= terms


def test_plot(res):
    import matplotlib

    matplotlib.use("Agg")
    ax = res.plot(kind="followers")
    assert ax.get_xscale() == "log"
    assert res.plot(kind="series").get_title().startswith("Network size")
    fig = res.plot_all()
    assert len([a for a in fig.axes if a.get_visible()]) >= 4


def test_weighted_quantile_equals_numpy_inverted_cdf():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 50, size=101).astype(float)
    for q in (0.1, 0.25, 0.5, 0.9, 0.99):
        assert wquantile(x, None, q) == np.quantile(x, q, method="inverted_cdf")
        # integer weights = repeating values
        w = rng.integers(1, 4, size=x.size)
        assert wquantile(x, w.astype(float), q) == np.quantile(
            np.repeat(x, w), q, method="inverted_cdf")


def test_empty_cohort_and_bad_option(tiny):
    with measure.open(tiny) as ds:
        with pytest.raises(measure.ConfigError):
            analyze(ds, cohort=[999])
        with pytest.raises(measure.ConfigError, match="activity_source"):
            analyze(ds, activity_source="nope")


def test_missing_counts_are_invalid_not_crash(tmp_path):
    acc = pl.DataFrame({"account_id": [1, 2], "screen_name": ["a", "b"]})
    with measure.DatasetWriter(tmp_path / "d") as w:
        w.write_table("accounts", acc)
    r = analyze(tmp_path / "d", n_boot=20)
    e = r.estimate("followers_median")
    assert not e.valid and math.isnan(e.estimate)
    assert not r.estimate("active_30d_share").valid
    assert r.hyperactive is None


def test_control_dataset_against_itself(tiny):
    """Invariant: a dataset compared with itself gives ratio 1 inside each interval."""
    with measure.open(tiny) as ds:
        r = analyze(ds, cohort="all", control=str(tiny), n_boot=300)
    c = r.comparison
    assert c.groups[1].startswith("control dataset")
    for term in ("followers_mean", "statuses_median", "lang_share[ar]"):
        e = c.estimate(f"ratio[{term}]")
        assert e.estimate == pytest.approx(1.0)
        assert e.ci[0] <= 1.0 <= e.ci[1], term
    assert r.before_suspension is not None


def test_weighted_cohort_uses_inverse_inclusion_weights(tiny):
    w = pl.DataFrame({"account_id": [1, 2, 3, 4, 5, 6],
                      "weight": [1.0, 3.0, 1.0, 2.0, 1.0, 1.0]})
    with measure.open(tiny) as ds:
        r = analyze(ds, cohort=w, n_boot=200)
    fol = np.array([104, 1001, 9, 22, 40004, 5], dtype=float)
    wt = w["weight"].to_numpy()
    assert r.estimate("followers_mean").estimate == pytest.approx(
        (wt * fol).sum() / wt.sum())
    assert r.estimate("followers_median").estimate == np.quantile(
        np.repeat(fol, wt.astype(int)), 0.5, method="inverted_cdf")
    # lang known for 1..5: ar = 1, 2, 4 -> (1 + 3 + 2) / (1 + 3 + 1 + 2 + 1)
    assert r.estimate("lang_share[ar]").estimate == pytest.approx(6 / 8)
    assert r.options["weighted"] is True
