"""Decoy pairs: label-free false-link counts by band and rate bounds."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import measure
from measure.cli import main
from measure.resurrection import analyze, assign, block, score, suspension_events
from measure.resurrection._decoys import (
    DecoyDiagnostics,
    apply_model,
    band_table,
    decoy_diagnostics,
    decoy_events,
    decoy_set,
)
from measure.resurrection._measures import _days
from measure.resurrection._settings import LinkageSettings
from measure.simulate import load_truth


@pytest.fixture(scope="module")
def stages(small_world):
    """The real stages on the small world (seed 1) and one decoy set."""
    settings = LinkageSettings()
    with measure.open(small_world, validate="none") as ds:
        ev = suspension_events(ds, window=60, settings=settings)
        cands = block(ds, ev, settings)
        sc = score(cands, settings)
        links = assign(sc, ev)
        dset = decoy_set(ds, ev, sc, links, settings, seed=5)
    return ev, cands, sc, links, dset


@pytest.fixture(scope="module")
def decoy_result(small_world):
    """``analyze`` with two decoy sets on the small world."""
    with measure.open(small_world, validate="none") as ds:
        return analyze(ds, decoys=True, n_decoys=2, n_boot=20)


def _next_in_data(truth) -> dict[int, int]:
    """Each supporter account's actor's next account in the data (truth)."""
    acc = truth.accounts.filter(pl.col("is_supporter") & pl.col("in_data")).sort(
        "actor_id", "incarnation").with_columns(
        pl.col("account_id").shift(-1).over("actor_id").alias("next_id"))
    acc = acc.filter(pl.col("next_id").is_not_null())
    return dict(zip(acc["account_id"].to_list(), acc["next_id"].to_list(),
                    strict=True))


def test_decoy_candidates_never_hold_the_true_successor(stages, small_world) -> None:
    ev, _cands, _sc, _links, dset = stages
    nxt = _next_in_data(load_truth(small_world))
    pairs = dset.pairs
    assert pairs.height > 1000  # the small world gives about 5,000 decoy pairs
    hits = [a for a, b in zip(pairs["previous"].to_list(), pairs["new"].to_list(),
                              strict=True) if nxt.get(a) == b]
    # none at all here; by construction none inside the account's own window
    # (an actor's next account created after it can be a decoy elsewhere: 3
    # in 3 decoy sets of plain tuning worlds 2, 4 and 6)
    assert hits == []
    # and every true successor inside its account's own window is a real
    # candidate somewhere there, so the exclusion is not vacuous: the decoy
    # windows hold accounts of that time
    susp = ev.suspended.filter(pl.col("account_id").is_in(list(nxt)))
    assert susp.height > 100


def test_decoy_partners_take_another_accounts_timeline(stages) -> None:
    ev, _c, _s, _l, dset = stages
    part = dset.partners
    assert (part["account_id"] != part["partner_id"]).all()
    # 442 of the 453 get one; the others' windows all overlap their own
    # window or precede their creation
    assert part.height >= 0.95 * ev.n_suspended
    dec = dset.events.suspended.join(
        part.select("account_id", "partner_id"), on="account_id").join(
        ev.suspended.select(pl.col("account_id").alias("partner_id"),
                            pl.col("lower_t").alias("p_lower"),
                            pl.col("first_suspended").alias("p_fs")),
        on="partner_id")
    assert dec.height == part.height
    assert (dec["lower_t"] == dec["p_lower"]).all()
    assert (dec["first_suspended"] == dec["p_fs"]).all()


def test_apply_model_reproduces_the_fitted_probabilities(stages) -> None:
    _ev, cands, sc, _l, _d = stages
    # the fitted model applied to the candidates it was fitted on gives back
    # its own pair probabilities (no refit): the path the decoys are scored by
    p = apply_model(sc, cands)
    np.testing.assert_allclose(p, sc.pairs["p_pair"].to_numpy(), rtol=1e-6,
                               atol=1e-12)


def test_band_table_counts_are_exact_on_a_hand_made_case() -> None:
    prob = np.array([0.55, 0.6, 0.75, 0.95, 0.99, 1.0, 0.2])
    # two decoy sets; weights are the decoy pairs' stand-for counts
    dp = [np.array([0.6, 0.8, 0.99, 0.1]), np.array([0.65, 0.98])]
    dw = [np.array([2.0, 1.0, 1.0, 5.0]), np.array([1.0, 3.0])]
    t = band_table(prob, dp, dw, bands=((0.5, 0.7), (0.7, 0.9), (0.97, 1.0)))
    assert t["n_links"].to_list() == [2, 1, 2]
    np.testing.assert_allclose(t["expected_true"].to_numpy(), [1.15, 0.75, 1.99])
    np.testing.assert_allclose(t["model_false"].to_numpy(), [0.85, 0.25, 0.01])
    # [0.5, 0.7): set 1 has 2.0, set 2 has 1.0 -> mean 1.5
    # [0.7, 0.9): 1.0 and 0 -> 0.5;  [0.97, 1]: 1.0 and 3.0 -> 2.0
    np.testing.assert_allclose(t["decoy_false"].to_numpy(), [1.5, 0.5, 2.0])
    np.testing.assert_allclose(t["decoy_true"].to_numpy(), [0.5, 0.5, 0.0])
    # se^2 = (between-set variance + mean sum of squared weights) / 2
    se0 = math.sqrt((np.var([2.0, 1.0], ddof=1) + (4.0 + 1.0) / 2) / 2)
    assert t["decoy_false_se"][0] == pytest.approx(se0)
    # [0.97, 1]: |2.0 - 0.01| against 2 sqrt(se^2 + sum p(1-p))
    se2 = (np.var([1.0, 3.0], ddof=1) + (1.0 + 9.0) / 2) / 2
    var_model = 0.99 * 0.01
    assert t["disagree"][2] == (1.99 > 2 * math.sqrt(se2 + var_model))
    assert t["decoy_precision"][0] == pytest.approx(0.25)
    assert t["model_precision"][1] == pytest.approx(0.75)
    # windows with a successor: the decoy counts scale with the share without
    half = band_table(prob, dp, dw, no_successor=0.5,
                      bands=((0.5, 0.7), (0.7, 0.9), (0.97, 1.0)))
    np.testing.assert_allclose(half["decoy_false"].to_numpy(), [0.75, 0.25, 1.0])
    assert half["decoy_false_se"][0] == pytest.approx(0.5 * se0)


def test_rate_bounds_are_ordered_around_the_headline(decoy_result) -> None:
    d = decoy_result.diagnostics
    assert isinstance(d, DecoyDiagnostics)
    b = d.rate_bounds
    assert b["days"].to_list() == sorted(decoy_result.rates)
    for r in b.iter_rows(named=True):
        head = decoy_result.rates[r["days"]].estimate
        assert r["lower"] <= head + 1e-12
        assert head <= r["upper"] + 1e-12
        assert r["hidden"] >= 0
        assert r["upper"] == pytest.approx(head + r["hidden"] / r["n"])
    assert d.bands.height == 4
    assert d.bands["n_links"].sum() <= decoy_result.n_pairs


def test_decoy_output_in_dict_and_summary(decoy_result) -> None:
    out = decoy_result.to_dict()["decoys"]
    assert set(out) >= {"bands", "rate_bounds", "n_decoys"}
    assert out["n_decoys"] == 2
    assert len(out["bands"]) == 4
    text = decoy_result.summary()
    assert "decoy check" in text
    assert "rate_30d bounds" in text


def test_decoys_are_reproducible_with_the_seed(small_world, stages) -> None:
    ev, cands, sc, links, _d = stages
    with measure.open(small_world, validate="none") as ds:
        a = decoy_diagnostics(ds, ev, cands, sc, links, n_decoys=1, seed=3)
        b = decoy_diagnostics(ds, ev, cands, sc, links, n_decoys=1, seed=3)
    assert a.bands.equals(b.bands)
    assert a.rate_bounds.equals(b.rate_bounds)
    p3 = decoy_events(ev, seed=3)[1]
    p4 = decoy_events(ev, seed=4)[1]
    assert p3.equals(decoy_events(ev, seed=3)[1])
    assert not p3["partner_id"].equals(p4["partner_id"])


def test_decoy_zone_excludes_the_accounts_own_window(stages) -> None:
    _ev, _c, _s, _l, dset = stages
    pairs = dset.pairs.join(dset.partners.rename({"account_id": "previous"}),
                            on="previous").join(_created(dset), on="new")
    assert pairs.height == dset.pairs.height
    inside = pairs.filter((pl.col("created_new") > pl.col("zone_low"))
                          & (pl.col("created_new") <= pl.col("zone_high")))
    before_born = pairs.filter(pl.col("created_new") <= pl.col("born"))
    assert inside.height == 0
    assert before_born.height == 0


def _created(dset) -> pl.DataFrame:
    acc = dset.events.accounts.select(pl.col("account_id").alias("new"),
                                      pl.col("t_new").alias("created_new"))
    return acc


def test_cli_decoy_flags(small_world, capsys) -> None:
    import json

    assert main(["resurrection", str(small_world), "--json", "--no-decoys",
                 "--imputations", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decoys"] is None


def test_days_of_decoy_delays_use_the_partner_timeline(stages) -> None:
    _ev, _c, _s, _l, dset = stages
    tl = dset.events.suspended.select(pl.col("account_id").alias("previous"),
                                      "first_suspended")
    j = dset.pairs.join(tl, on="previous").join(_created(dset), on="new")
    gap = _days(j["created_new"]) - _days(j["first_suspended"])
    # delay is from the midpoint before the first suspended look-up: never
    # shorter than the gap to that look-up (both clipped at 0)
    assert (j["delay_days"].to_numpy() + 1e-9 >= np.maximum(gap, 0)).all()
