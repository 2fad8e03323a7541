"""Shared statistics (measure._stats) against published, peer and hand values.

Sources of the literal values:

* Newcombe, R. G. (1998a). Two-sided confidence intervals for the single
  proportion: comparison of seven methods. *Statistics in Medicine* 17, 857-872,
  Table I, method 3 (Wilson score interval without continuity correction), four
  decimals.
* Newcombe, R. G. (1998b). Interval estimation for the difference between
  independent proportions: comparison of eleven methods. *Statistics in
  Medicine* 17, 873-890, Table II, method 10 (score limits combined as in MOVER),
  four decimals.
* lifelines 0.30 ``KaplanMeierFitter`` (installed dev dependency) as the peer of
  Kaplan-Meier with delayed entry.
* Student t quantiles: any printed table, e.g. Abramowitz & Stegun (1964), Table
  26.10: ``t_{0.975}`` is 2.0518 at 27 and 2.0484 at 28 degrees of freedom.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from measure import _stats
from measure._stats import (
    kaplan_meier,
    loglog_interval,
    mover_product,
    mover_sum,
    normal_quantile,
    rubin_df,
    rubin_pool,
    stratified_total,
    t_quantile,
    wilson_interval,
)
from measure.errors import EstimationError

#: Published limits are printed to four decimals: half a unit of the last digit.
PRINTED_4DP = 5e-5
#: Both sides compute the same closed form on identical inputs: floating point only.
PEER_RTOL = 1e-9
#: Hand-computed values here are exact decimal arithmetic: floating point only.
HAND_RTOL = 1e-12

SRC = Path(__file__).resolve().parents[1] / "src" / "measure"
FAMILIES = ("capture", "census", "churn", "describe", "resurrection")


# -- Wilson and MOVER ----------------------------------------------------------------


@pytest.mark.parametrize(("x", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0000),
])
def test_wilson_matches_newcombe_table(x: int, n: int, low: float, high: float
                                       ) -> None:
    """Newcombe (1998a), Table I, method 3, at 95%."""
    lo, hi = wilson_interval(x, n, level=0.95)
    assert (float(lo), float(hi)) == pytest.approx((low, high), abs=PRINTED_4DP)


def test_wilson_limits_are_exact_at_zero_and_all() -> None:
    lo0, _ = wilson_interval(0, 20)
    _, hi_all = wilson_interval(29, 29)
    assert float(lo0) == 0.0 and float(hi_all) == 1.0


def test_wilson_finite_population_uses_effective_size() -> None:
    """With N the score interval is the one of n / (1 - n/N) trials (by hand).

    x = 5 of n = 20 sampled from N = 40: f = 0.5, so the limits are those of a
    proportion 0.25 from 40 effective trials; a full census (n = N) has width 0.
    """
    lo, hi = wilson_interval(5, 20, N=40)
    z = normal_quantile(0.95)
    p, m = 0.25, 40.0
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z / (1 + z * z / m) * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    assert (float(lo), float(hi)) == pytest.approx((centre - half, centre + half),
                                                   rel=HAND_RTOL)
    lo_c, hi_c = wilson_interval(5, 20, N=20)
    assert float(lo_c) == float(hi_c) == 0.25


def test_wilson_one_sided_bound_uses_one_sided_quantile() -> None:
    """A one-sided 95% bound is the 90% two-sided limit (same z = 1.6449)."""
    one = wilson_interval(7, 30, level=0.95, sides=1)
    two = wilson_interval(7, 30, level=0.90)
    assert np.allclose(one, two, rtol=HAND_RTOL)


def test_normal_quantile_rejects_levels_outside_unit_interval() -> None:
    assert normal_quantile(0.95) == pytest.approx(1.959963984540054, rel=HAND_RTOL)
    with pytest.raises(EstimationError):
        normal_quantile(1.0)


@pytest.mark.parametrize(("a", "b", "low", "high"), [
    ((56, 70), (48, 80), 0.0524, 0.3339),
    ((9, 10), (3, 10), 0.1705, 0.8090),
])
def test_mover_difference_matches_newcombe_method_10(a: tuple[int, int],
                                                     b: tuple[int, int],
                                                     low: float, high: float) -> None:
    """Newcombe (1998b), Table II, method 10: Wilson limits of each proportion
    combined for ``p1 - p2`` (MOVER with weights 1 and -1), at 95%."""
    p1, p2 = a[0] / a[1], b[0] / b[1]
    l1, u1 = wilson_interval(*a)
    l2, u2 = wilson_interval(*b)
    est, lo, hi = mover_sum([p1, p2], [l1, l2], [u1, u2], weights=[1, -1])
    assert est == pytest.approx(p1 - p2, rel=HAND_RTOL)
    assert (lo, hi) == pytest.approx((low, high), abs=PRINTED_4DP)


def test_mover_sum_with_symmetric_limits_is_the_wald_sum() -> None:
    """Symmetric limits +-0.1 and +-0.05 with weights 2 and 3: half-width
    sqrt((2 * 0.1)^2 + (3 * 0.05)^2) = 0.25 (by hand)."""
    est, lo, hi = mover_sum([0.3, 0.2], [0.2, 0.15], [0.4, 0.25], weights=[2, 3])
    assert (est, lo, hi) == pytest.approx((1.2, 0.95, 1.45), rel=HAND_RTOL)


def test_mover_product_combines_factors_on_log_scale() -> None:
    """2 in (1, 4) and 3 in (1.5, 6): each factor's log half-width is log 2, so
    the product 6 has limits 6 exp(-+ sqrt(2) log 2) (by hand); a factor with
    lower limit 0 or upper limit inf opens that side."""
    lo, hi = mover_product(6.0, [(2.0, 1.0, 4.0), (3.0, 1.5, 6.0)])
    h = math.sqrt(2) * math.log(2)
    assert (lo, hi) == pytest.approx((6 * math.exp(-h), 6 * math.exp(h)),
                                     rel=HAND_RTOL)
    assert mover_product(6.0, [(2.0, 0.0, 4.0), (3.0, 1.5, math.inf)]) == (
        0.0, math.inf)


def test_stratified_total_by_hand() -> None:
    """N = (100, 50), n = (10, 5), x = (2, 1): T = 30; Cochran's variance
    100^2 * 0.9 * 0.16 / 9 + 50^2 * 0.9 * 0.16 / 4 = 160 + 90 = 250; interval
    from the Wilson (FPC) limits by MOVER."""
    res = stratified_total([100, 50], [10, 5], [2, 1])
    assert res.estimate == pytest.approx(30.0, rel=HAND_RTOL)
    assert res.std_error == pytest.approx(math.sqrt(250.0), rel=HAND_RTOL)
    lo, hi = wilson_interval([2, 1], [10, 5], N=[100, 50])
    down = math.hypot(100 * (0.2 - lo[0]), 50 * (0.2 - lo[1]))
    up = math.hypot(100 * (hi[0] - 0.2), 50 * (hi[1] - 0.2))
    assert res.ci == pytest.approx((30 - down, 30 + up), rel=HAND_RTOL)


# -- Kaplan-Meier --------------------------------------------------------------------


def _truncated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie-free left-truncated, right-censored sample."""
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 5, n)
    t = entry + rng.exponential(10, n)
    c = entry + rng.uniform(0, 30, n)
    return entry, np.minimum(t, c), t <= c


@pytest.mark.reference
def test_kaplan_meier_delayed_entry_matches_lifelines() -> None:
    """lifelines 0.30: ``KaplanMeierFitter().fit(time, event, entry=entry)``;
    survival, number at risk and the log-log Greenwood limits agree to
    PEER_RTOL."""
    lifelines = pytest.importorskip("lifelines")
    entry, time, event = _truncated_sample(300, 7)
    km = kaplan_meier(time, event, entry=entry)
    kmf = lifelines.KaplanMeierFitter().fit(time, event, entry=entry)
    sf = kmf.survival_function_.iloc[:, 0].loc[km.time].to_numpy()
    np.testing.assert_allclose(km.survival, sf, rtol=PEER_RTOL)
    at_risk = kmf.event_table.loc[km.time, "at_risk"].to_numpy()
    np.testing.assert_array_equal(km.at_risk, at_risk)
    lo, hi = km.loglog_interval(0.95)
    ci = kmf.confidence_interval_.loc[km.time]
    np.testing.assert_allclose(lo, ci.iloc[:, 0].to_numpy(), rtol=PEER_RTOL)
    np.testing.assert_allclose(hi, ci.iloc[:, 1].to_numpy(), rtol=PEER_RTOL)


def test_kaplan_meier_and_greenwood_by_hand() -> None:
    """Times 1, 2, 3, 4 with events at 1 and 3: S(3) = 3/4 * 1/2 and Greenwood's
    sum 1/(4*3) + 1/(2*1); before the first event (1, 0, n)."""
    km = kaplan_meier(np.array([1.0, 2, 3, 4]), np.array([1, 0, 1, 0], bool))
    s, gw, left = km.at(3.5)
    assert (s, gw, left) == pytest.approx((0.375, 1 / 12 + 1 / 2, 1.0),
                                          rel=HAND_RTOL)
    assert km.at(0.5) == (1.0, 0.0, 4.0)


def test_events_come_before_censorings_at_the_same_time() -> None:
    """At t = 2 one event and one censoring: both are at risk (n = 3), so
    S(2) = 2/3 rather than 1/2."""
    km = kaplan_meier(np.array([1.0, 2, 2, 3]), np.array([0, 1, 0, 1], bool))
    assert km.at_risk.tolist() == [3.0, 1.0]
    assert km.at(2)[0] == pytest.approx(2 / 3, rel=HAND_RTOL)


def test_no_delayed_entry_equals_entry_before_every_time() -> None:
    rng = np.random.default_rng(3)
    time = np.round(rng.exponential(5, 200), 1)
    event = rng.random(200) < 0.7
    plain = kaplan_meier(time, event)
    early = kaplan_meier(time, event, entry=np.full(200, -1.0))
    for f in ("time", "survival", "at_risk", "events", "greenwood"):
        np.testing.assert_array_equal(getattr(plain, f), getattr(early, f))


def test_exhausted_risk_set_option_keeps_both_greenwood_rules() -> None:
    """At t = 3 both subjects still at risk fail (n = d = 2): "skip" adds nothing
    to Greenwood's sum (1/(4*3) stays), "infinite" makes it infinite."""
    time = np.array([1.0, 2, 3, 3])
    event = np.array([1, 0, 1, 1], bool)
    skip = kaplan_meier(time, event)
    inf = kaplan_meier(time, event, exhausted="infinite")
    assert skip.survival[-1] == inf.survival[-1] == 0.0
    assert skip.greenwood[-1] == pytest.approx(1 / 12, rel=HAND_RTOL)
    assert math.isinf(inf.greenwood[-1])
    with pytest.raises(ValueError, match="exhausted"):
        kaplan_meier(time, event, exhausted="nan")  # type: ignore[arg-type]


def test_loglog_interval_degenerates_at_zero_and_one() -> None:
    lo, hi = loglog_interval(np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.04, 0.1]))
    assert (lo[0], hi[0]) == (1.0, 1.0) and (lo[2], hi[2]) == (0.0, 0.0)
    # S = 0.5, var(log S) = 0.04: S ** exp(+-z 0.2 / log 2) (by hand)
    z = normal_quantile(0.95)
    c = math.exp(z * 0.2 / math.log(2))
    assert (lo[1], hi[1]) == pytest.approx((0.5**c, 0.5 ** (1 / c)), rel=HAND_RTOL)


# -- Rubin's rules -------------------------------------------------------------------


def test_rubin_pooling_by_hand() -> None:
    """q = (1.0, 1.2, 0.9, 1.1, 1.3), u = (0.04, 0.05, 0.045, 0.05, 0.055):
    qbar = 1.1, W = 0.048, B = 0.1 / 4 = 0.025, T = 0.048 + 1.2 * 0.025 = 0.078,
    r = 0.03 / 0.048 = 0.625, nu = 4 (1 + 1.6)^2 = 27.04 (Rubin 1987, eq. 3.1.6);
    the 95% t quantile at 27.04 lies between the tabled 2.0484 (28) and 2.0518
    (27)."""
    p = rubin_pool([1.0, 1.2, 0.9, 1.1, 1.3], [0.04, 0.05, 0.045, 0.05, 0.055])
    assert (p.estimate, p.within, p.between, p.total, p.df) == pytest.approx(
        (1.1, 0.048, 0.025, 0.078, 27.04), rel=HAND_RTOL)
    assert p.m == 5 and p.std_error == pytest.approx(math.sqrt(0.078), rel=HAND_RTOL)
    crit = p.quantile(0.95)
    assert 2.0484 < crit < 2.0518
    lo, hi = p.interval(0.95)
    assert (lo, hi) == pytest.approx((1.1 - crit * math.sqrt(0.078),
                                      1.1 + crit * math.sqrt(0.078)), rel=HAND_RTOL)


def test_rubin_degrees_of_freedom_edge_cases() -> None:
    """B = 0: infinite (normal quantile); W = 0: m - 1; W = inf: infinite."""
    assert math.isinf(rubin_df(5, 0.1, 0.0))
    assert rubin_df(5, 0.0, 0.2) == 4.0
    assert math.isinf(rubin_df(5, math.inf, 0.2))
    same = rubin_pool([2.0, 2.0, 2.0], [0.1, 0.1, 0.1])
    assert same.between == 0.0 and math.isinf(same.df)
    assert same.quantile(0.95) == pytest.approx(1.959963984540054, rel=HAND_RTOL)
    one = rubin_pool([2.0], [0.1])
    assert one.between == 0.0 and one.total == pytest.approx(0.1, rel=HAND_RTOL)


def test_t_quantile_cap_keeps_the_t_form() -> None:
    """With max_df the t quantile is used even for infinite df (at the cap)."""
    capped = float(t_quantile(0.95, math.inf, max_df=1e6))
    assert capped == pytest.approx(float(stats.t.ppf(0.975, 1e6)), rel=HAND_RTOL)
    assert capped > float(t_quantile(0.95, math.inf))
    assert float(t_quantile(0.95, 27.04, max_df=1e6)) == float(t_quantile(0.95, 27.04))


def test_rubin_pooling_of_a_curve_pools_each_column() -> None:
    rng = np.random.default_rng(5)
    q = rng.normal(size=(6, 4))
    u = rng.uniform(0.1, 1, size=(6, 4))
    curve = rubin_pool(q, u)
    for j in range(4):
        col = rubin_pool(q[:, j], u[:, j])
        assert (curve.estimate[j], curve.total[j], curve.df[j]) == pytest.approx(
            (col.estimate, col.total, col.df), rel=HAND_RTOL)


def test_an_infinite_imputation_makes_the_between_variance_infinite() -> None:
    p = rubin_pool(np.array([[1.0, 0.5], [math.inf, 0.7]]),
                   np.array([[0.1, 0.1], [0.1, 0.1]]))
    assert math.isinf(p.between[0]) and math.isfinite(p.between[1])


# -- one implementation, no private imports across families --------------------------


def test_families_use_the_shared_implementations() -> None:
    """The names each family exposes are the shared objects, not copies."""
    from measure.census import estimators
    from measure.churn import _km
    from measure.describe import _stats as describe_stats
    from measure.resurrection import _measures, _successors

    assert estimators.wilson_interval is _stats.wilson_interval
    assert estimators.stratified_total is _stats.stratified_total
    assert estimators.allocate is _stats.allocate
    assert _km.risk_table is _stats.risk_table
    assert _successors.wilson_interval is _stats.wilson_interval
    assert isinstance(_measures.kaplan_meier(np.array([1.0]), np.array([True])),
                      _stats.KaplanMeier)
    assert describe_stats.wilson(81, 263) == tuple(
        float(v) for v in wilson_interval(81, 263))


def _private_imports(path: Path, own: str | None) -> set[tuple[str, str]]:
    """``(module, name)`` of imports from another family's private modules or names.

    ``own`` is the family the file belongs to (``None``: any family counts).
    """
    out: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "measure" or len(parts) < 2 or parts[1] not in FAMILIES:
                continue
            if parts[1] == own:
                continue
            for alias in node.names:
                if (len(parts) > 2 and parts[2].startswith("_")) or \
                        alias.name.startswith("_"):
                    out.add((node.module, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if (parts[0] == "measure" and len(parts) > 2 and parts[1] in FAMILIES
                        and parts[1] != own and parts[2].startswith("_")):
                    out.add((alias.name, ""))
    return out


#: Imports of another family's private module that remain in files this module
#: does not govern, with what would remove each: the coded-label resolution of
#: the census (``resolve_labels``) is not a statistic; the resurrection audit's
#: names are all in :mod:`measure._stats` and its import can point there.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def test_no_family_imports_another_familys_private_names() -> None:
    """Walk every module of every method family with ``ast``: no import of
    ``measure.<other family>._<module>`` or of a ``_name``, beyond the known
    list (which must shrink, never grow: a stale entry fails too)."""
    found = set()
    for fam in FAMILIES:
        for path in sorted((SRC / fam).rglob("*.py")):
            rel = path.relative_to(SRC).as_posix()
            found |= {(rel, mod, name) for mod, name in _private_imports(path, fam)}
    assert found == KNOWN_PRIVATE_IMPORTS


def test_shared_statistics_import_no_family() -> None:
    """measure._stats imports no method family, so it cannot close an import
    cycle with any of them."""
    for path in sorted((SRC / "_stats").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mods = {n.module for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}
        bad = {m for m in mods if m.split(".")[0] == "measure"
               and len(m.split(".")) > 1 and m.split(".")[1] in FAMILIES}
        assert not bad, (path.name, bad)
