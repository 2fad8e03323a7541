"""Hand-coding stress mechanisms: their effect on the ``labels`` table.

Every test compares a ``small`` world with one coding mechanism switched on against
the same seed with it off. The coding sample is enlarged (``n_per_stratum`` 3000,
every account double-coded) for precision; the sample, the double-coded accounts and
each coder's random draws are the same in both worlds, so the same accounts' labels
can be compared directly. Tolerances are 4 standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import measure
from measure.simulate import load_truth

#: A large, fully double-coded sample (the same in every world of this file).
BIG_SAMPLE: dict[str, Any] = {"n_per_stratum": 3000, "double_coded_share": 1.0}
Z = 4.0


def _labels(path: Path) -> pl.DataFrame:
    """Labels with the truth's ``is_supporter`` and a ``wrong`` flag.

    ``wrong`` = a clear label of the opposite class (``unclear`` is not wrong).
    """
    t = load_truth(path)
    with measure.open(path) as ds:
        lab = ds.sql("SELECT * FROM labels")
    lab = lab.join(
        t.accounts.select("account_id", "is_supporter"), on="account_id", how="left"
    )
    return lab.with_columns(
        wrong=pl.when(pl.col("is_supporter"))
        .then(pl.col("label") == "non_supporter")
        .otherwise(pl.col("label") == "supporter")
    )


def _coder(lab: pl.DataFrame, coder: str) -> pl.DataFrame:
    return lab.filter(pl.col("coder") == coder).sort("account_id")


@pytest.fixture(scope="module")
def world(small_world_factory: Callable[..., Path]) -> Callable[..., Path]:
    """``world(**mechanisms)``: the big-sample small world (seed 1) with them on."""

    def make(**mech: Any) -> Path:
        return small_world_factory(1, **BIG_SAMPLE, **mech)

    return make


def test_coder_b_errs_ratio_times_as_often_as_coder_a(
    world: Callable[..., Path],
) -> None:
    ratio = 2.5
    on, off = _labels(world(coder_b_error_ratio=ratio)), _labels(world())
    a_on, b_on = _coder(on, "coder_a"), _coder(on, "coder_b")
    a_off, b_off = _coder(off, "coder_a"), _coder(off, "coder_b")
    # coder A and the sample are untouched
    key = ["account_id", "label"]
    assert a_on.select(key).equals(a_off.select(key))
    assert b_on["account_id"].equals(a_on["account_id"])  # everyone double-coded
    # coder B's wrong labels with the mechanism off stay wrong (same draws, higher
    # error rates), and about `ratio` times as many appear
    assert not (b_off["wrong"] & ~b_on["wrong"]).any()
    n_a, n_b = int(a_on["wrong"].sum()), int(b_on["wrong"].sum())
    se = math.sqrt(1 / n_a + 1 / n_b)  # SE of the log ratio (Poisson counts)
    assert abs(math.log(n_b / n_a) - math.log(ratio)) < Z * se, (n_a, n_b)
    n_b_off = int(b_off["wrong"].sum())
    se_off = math.sqrt(1 / n_a + 1 / n_b_off)
    assert abs(math.log(n_b_off / n_a)) < Z * se_off, (n_a, n_b_off)
    # the truth records B's configured rates as A's error times the ratio
    tr = load_truth(world(coder_b_error_ratio=ratio)).json["stress"]["coding"]
    cfg_b = tr["coder_b"]["L2:1-2"]["configured"]
    assert cfg_b["specificity"] == pytest.approx(1 - ratio * 0.05)
    assert cfg_b["sensitivity"] == pytest.approx(1 - ratio * 0.10)


def test_coder_error_differs_by_stratum_as_configured(
    world: Callable[..., Path],
) -> None:
    ratio = 3.0
    on = _coder(_labels(world(stratum_error_ratio=ratio)), "coder_a")
    off = _coder(_labels(world()), "coder_a")
    non_on = on.filter(~pl.col("is_supporter"))
    non_off = off.filter(~pl.col("is_supporter"))
    p_u, e_non = 0.03, 0.05  # small preset: p_unclear, 1 - specificity

    def wrong_share(df: pl.DataFrame, stratum: str) -> tuple[float, int]:
        d = df.filter(pl.col("sample") == stratum)
        return float(d["wrong"].mean()), d.height

    # level 2's lowest band (1-2 lists) gets the full ratio, its highest (10+) none
    for stratum, mult in (("L2:1-2", ratio), ("L2:10+", 1.0)):
        for df, m in ((non_on, mult), (non_off, 1.0)):
            p, n = wrong_share(df, stratum)
            expected = (1 - p_u) * e_non * m
            tol = Z * math.sqrt(expected * (1 - expected) / n)
            assert n > 1000
            assert abs(p - expected) < tol, (stratum, m, p)
    low_on, _ = wrong_share(non_on, "L2:1-2")
    high_on, _ = wrong_share(non_on, "L2:10+")
    assert low_on > 2 * high_on
    # the highest band keeps the configured rates: its labels are unchanged
    top = pl.col("sample").str.ends_with("10+")
    assert on.filter(top)["label"].equals(off.filter(top)["label"])
    # and the truth records the ladder: ratio, its square root, 1
    tr = load_truth(world(stratum_error_ratio=ratio)).json["stress"]["coding"]
    mult_by = tr["error_multiplier_by_stratum"]
    assert mult_by["L2:1-2"] == pytest.approx(ratio)
    assert mult_by["L2:3-9"] == pytest.approx(math.sqrt(ratio))
    assert mult_by["L1:0"] == pytest.approx(ratio)
    assert mult_by["L1:10+"] == 1.0


def _both_wrong(lab: pl.DataFrame) -> tuple[int, float, float]:
    """Observed and expected-if-independent counts of accounts both coders got wrong.

    Per truth class: n * P(A wrong) * P(B wrong), summed over classes. Also returns
    the count expected under copying with probability 0.6.
    """
    a, b = _coder(lab, "coder_a"), _coder(lab, "coder_b")
    j = a.join(b.select("account_id", wrong_b="wrong"), on="account_id")
    obs, indep, copied = 0, 0.0, 0.0
    for sup in (True, False):
        d = j.filter(pl.col("is_supporter") == sup)
        n = d.height
        pa, pb = float(d["wrong"].mean()), float(d["wrong_b"].mean())
        obs += int((d["wrong"] & d["wrong_b"]).sum())
        indep += n * pa * pb
        copied += n * (0.6 * pa + 0.4 * pa * pb)
    return obs, indep, copied


def test_correlated_coders_agree_more_often_on_wrong_labels(
    world: Callable[..., Path],
) -> None:
    on = _labels(world(coder_correlation=0.6))
    off = _labels(world())
    obs_on, indep_on, copied_on = _both_wrong(on)
    obs_off, indep_off, _ = _both_wrong(off)
    # independent coders: both wrong about as often as the product of marginals
    assert abs(obs_off - indep_off) < Z * math.sqrt(indep_off) + 1, (obs_off, indep_off)
    # correlated coders: far more shared errors, as many as copying predicts
    assert obs_on > 5 * indep_on, (obs_on, indep_on)
    assert abs(obs_on - copied_on) < Z * math.sqrt(copied_on), (obs_on, copied_on)
    # coder B keeps its marginal error rate (it copies a coder with the same rates)
    a, b = _coder(on, "coder_a"), _coder(on, "coder_b")
    n_a, n_b = int(a["wrong"].sum()), int(b["wrong"].sum())
    assert abs(math.log(n_b / n_a)) < Z * math.sqrt(2 / n_a)
    # the truth counts the copied decisions and the shared errors on the labels
    tr = load_truth(world(coder_correlation=0.6)).json["stress"]["coding"]
    n_dbl = tr["n_double_coded"]
    assert abs(tr["n_coder_b_copied"] / n_dbl - 0.6) < Z * math.sqrt(0.24 / n_dbl)
    dc = tr["double_coded"]
    both = dc["supporters"]["n_both_wrong"] + dc["non_supporters"]["n_both_wrong"]
    assert both == obs_on


def test_gold_labels_equal_the_truth_on_a_share_of_coded_accounts(
    world: Callable[..., Path],
) -> None:
    share = 0.2
    on, off = _labels(world(gold_share=share)), _labels(world())
    gold = _coder(on, "gold")
    a = _coder(on, "coder_a")
    assert _coder(off, "gold").height == 0
    # the coders' rows are those of the world without gold labels
    coders = pl.col("coder") != "gold"
    cols = ["account_id", "coder", "label", "coded_at", "sample", "inclusion_prob"]
    assert on.filter(coders).select(cols).equals(off.select(cols))
    # every gold label is the truth, never unclear
    truth = np.where(gold["is_supporter"].to_numpy(), "supporter", "non_supporter")
    assert (gold["label"].to_numpy() == truth).all()
    # on about `share` of the coded accounts
    n = a.height
    assert abs(gold.height / n - share) < Z * math.sqrt(share * (1 - share) / n)
    # after both coders, with the coder A row's sample and inclusion probability
    j = gold.join(
        on.filter(coders)
        .group_by("account_id")
        .agg(pl.col("coded_at").max().alias("last"))
        .join(a.select("account_id", "sample", "inclusion_prob"), on="account_id"),
        on="account_id",
        how="left",
    )
    assert j.height == gold.height
    assert (j["coded_at"] > j["last"]).all()
    assert j["sample"].equals(j["sample_right"])
    assert j["inclusion_prob"].equals(j["inclusion_prob_right"])
    tr = load_truth(world(gold_share=share)).json["stress"]["coding"]
    assert tr["n_gold"] == gold.height


def test_coding_truth_counts_match_the_labels_table(
    world: Callable[..., Path],
) -> None:
    mech = {
        "coder_b_error_ratio": 2.0,
        "stratum_error_ratio": 2.5,
        "coder_correlation": 0.3,
        "gold_share": 0.1,
    }
    path = world(**mech)
    with measure.open(path) as ds:  # full validation
        ds.require("census_estimate")
    lab = _labels(path)
    tr = load_truth(path).json["stress"]["coding"]
    assert set(load_truth(path).json["stress"]["mechanisms"]) == {
        f"coding.{k}" for k in mech
    }
    for coder in ("coder_a", "coder_b"):
        d = lab.filter(pl.col("coder") == coder)
        per = d.group_by("sample", "is_supporter").agg(
            n=pl.len(),
            ok=pl.when(pl.col("is_supporter"))
            .then(pl.col("label") == "supporter")
            .otherwise(pl.col("label") == "non_supporter")
            .sum(),
            unc=(pl.col("label") == "unclear").sum(),
        )
        for row in per.iter_rows(named=True):
            r = tr[coder][row["sample"]]["realised"]
            cls = "supporters" if row["is_supporter"] else "non_supporters"
            assert r[f"n_{cls}"] == row["n"]
            assert r[f"n_{cls}_correct"] == row["ok"]
            assert r[f"n_{cls}_unclear"] == row["unc"]
        pooled = tr[coder]["all"]["realised"]
        assert pooled["n_supporters"] + pooled["n_non_supporters"] == d.height
    # configured rates: A's error times the stratum multiplier, B's times the ratio
    # mixed with A's by the copy probability; effective rates count unclear as "no"
    m = tr["error_multiplier_by_stratum"]["L2:1-2"]
    ca = tr["coder_a"]["L2:1-2"]["configured"]
    cb = tr["coder_b"]["L2:1-2"]["configured"]
    assert ca["specificity"] == pytest.approx(1 - 0.05 * m)
    assert cb["specificity_own"] == pytest.approx(1 - 0.05 * m * 2.0)
    assert cb["specificity"] == pytest.approx(
        0.3 * ca["specificity"] + 0.7 * cb["specificity_own"]
    )
    assert ca["sensitivity_effective"] == pytest.approx(0.97 * ca["sensitivity"])
    assert ca["specificity_effective"] == pytest.approx(0.03 + 0.97 * ca["specificity"])
