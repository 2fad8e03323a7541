"""The latent-class model of coder error recovers known error rates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from measure.census._coders import bootstrap_totals, fit_coder_model


def _codes(prev: dict[str, float], n_per: int, se: dict[str, float],
           sp: dict[str, float], *, double: float = 1.0, seed: int = 0,
           p_unclear: float = 0.0) -> tuple[pl.DataFrame, int]:
    """Labels drawn from the model itself; returns them and the true supporters."""
    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    n_sup = 0
    for s, p in prev.items():
        z = rng.random(n_per) < p
        n_sup += int(z.sum())
        for i in range(n_per):
            for coder in se:
                if coder != "coder_a" and rng.random() >= double:
                    continue
                if rng.random() < p_unclear:
                    lab = "unclear"
                else:
                    right = rng.random() < (se[coder] if z[i] else sp[coder])
                    lab = "supporter" if z[i] == right else "non_supporter"
                rows.append((k + i, s, coder, lab))
        k += n_per
    df = pl.DataFrame(rows, schema=["account_id", "stratum", "coder", "label"],
                      orient="row")
    return df, n_sup


def test_two_coders_across_strata_of_different_prevalence_are_identified() -> None:
    se = {"coder_a": 0.85, "coder_b": 0.75}
    sp = {"coder_a": 0.95, "coder_b": 0.90}
    prev = {"low": 0.1, "mid": 0.5, "high": 0.9}
    codes, n_sup = _codes(prev, 2000, se, sp, p_unclear=0.03)
    m = fit_coder_model(codes)
    assert m.converged and m.identified, m.reasons
    for c in se:
        # 6,000 accounts: standard errors of about 0.01
        assert m.sensitivity(c) == pytest.approx(se[c], abs=0.03)
        assert m.specificity(c) == pytest.approx(sp[c] * 0.97, abs=0.03)
    assert np.allclose(m.prevalence, [prev[s] for s in m.strata], atol=0.04)
    sizes = {s: 2000.0 for s in prev}
    assert m.total(sizes) == pytest.approx(n_sup, rel=0.04)


def test_equal_prevalence_leaves_error_rates_unidentified() -> None:
    se = {"coder_a": 0.85, "coder_b": 0.8}
    sp = {"coder_a": 0.95, "coder_b": 0.9}
    codes, _ = _codes({"a": 0.3, "b": 0.3}, 1500, se, sp, seed=1)
    m = fit_coder_model(codes)
    assert not m.identified
    assert any("flat" in r for r in m.reasons)


def test_too_few_double_coded_accounts_are_reported() -> None:
    se = {"coder_a": 0.85, "coder_b": 0.8}
    sp = {"coder_a": 0.95, "coder_b": 0.9}
    codes, _ = _codes({"a": 0.1, "b": 0.8}, 200, se, sp, double=0.02, seed=2)
    m = fit_coder_model(codes)
    assert not m.identified
    assert any("coded twice" in r for r in m.reasons)


def test_gold_labels_anchor_a_single_coder() -> None:
    """One coder plus an adjudicated subsample identifies that coder's errors."""
    se, sp = 0.8, 0.9
    # the panel reads every account right; keep its label on a random 20%
    codes, _ = _codes({"a": 0.2, "b": 0.6}, 3000, {"coder_a": se, "gold": 1.0},
                      {"coder_a": sp, "gold": 1.0}, seed=3)
    rng = np.random.default_rng(3)
    keep = pl.Series(rng.random(codes.height) < 0.2)
    gold = codes.filter((pl.col("coder") == "gold") & keep)
    m = fit_coder_model(pl.concat([codes.filter(pl.col("coder") == "coder_a"), gold]))
    assert m.identified, m.reasons
    assert m.coders == ("coder_a",)
    assert m.sensitivity("coder_a") == pytest.approx(se, abs=0.04)
    assert m.specificity("coder_a") == pytest.approx(sp, abs=0.03)
    without = fit_coder_model(codes.filter(pl.col("coder") == "coder_a"))
    assert not without.identified


def test_bootstrap_totals_spread_around_the_estimate() -> None:
    se = {"coder_a": 0.85, "coder_b": 0.75}
    sp = {"coder_a": 0.95, "coder_b": 0.90}
    codes, n_sup = _codes({"low": 0.1, "high": 0.8}, 400, se, sp, seed=4)
    m = fit_coder_model(codes)
    sizes = {"low": 400.0, "high": 400.0}
    boot = bootstrap_totals(codes, sizes, m, reps=60, seed=0)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert lo < m.total(sizes) < hi
    assert lo < n_sup < hi
    full = bootstrap_totals(codes, sizes, m, reps=5, seed=0, full=("low", "high"))
    assert np.allclose(full, m.total(sizes), rtol=1e-4)
