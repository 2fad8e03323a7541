"""Hand audit of links: stratified sample, coded sheet, precision and recall."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from measure.census._estimate import wilson_interval
from measure.cli import main
from measure.errors import DataContractError, EstimationError
from measure.resurrection._audit import (
    AUDIT_FLOOR,
    LINKED,
    audit_links,
    draw_audit,
    read_audit_sheet,
    strata_of,
    write_audit_sheet,
)


def _truth_pairs(syn) -> pl.DataFrame:
    return syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("predecessor_id").alias("previous"), pl.col("account_id").alias("new"))


def _code(sheet: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """A perfect coder: 'yes' for true links, 'no' otherwise."""
    return sheet.drop("match").join(
        truth.with_columns(pl.lit("yes").alias("match")), on=["previous", "new"],
        how="left", maintain_order="left").with_columns(
        pl.col("match").fill_null("no"))


def test_strata_and_design(synth_result) -> None:
    res = synth_result
    st = strata_of(res.pairs, res.links)
    assert st.height == res.pairs.height
    assert st.filter(pl.col("stratum") == LINKED).height == res.n_linked
    other = st.filter(pl.col("stratum") != LINKED)
    low = other.filter(pl.col("stratum") == "p <= 0.001")
    assert (low["probability"] <= 0.001).all()
    sheet = draw_audit(res, 60, seed=5)
    sizes = st.group_by("stratum").len()
    # every non-empty stratum above the floor is sampled, n_h / N_h recorded in
    # each row; the pairs at or below the floor are not
    assert set(sheet["stratum"]) == set(sizes["stratum"]) - {"p <= 0.001"}
    assert (sheet["probability"] > AUDIT_FLOOR).all()
    full = draw_audit(res, 60, seed=5, floor=0.0)
    assert set(full["stratum"]) == set(sizes["stratum"])
    chk = sheet.group_by("stratum").agg(pl.len().alias("k"), pl.col("n_h").first(),
                                        pl.col("N_h").first(),
                                        pl.col("inclusion_prob").first())
    chk = chk.join(sizes, on="stratum")
    assert (chk["k"] == chk["n_h"]).all() and (chk["N_h"] == chk["len"]).all()
    assert np.allclose(chk["inclusion_prob"], chk["n_h"] / chk["N_h"])
    assert sheet.height == min(60, res.pairs.height)
    assert sheet["match"].null_count() == sheet.height
    assert not sheet.select("previous", "new").is_duplicated().any()
    # the same seed draws the same pairs, another seed other pairs
    again = draw_audit(res, 60, seed=5)
    assert again.select("previous", "new").equals(sheet.select("previous", "new"))
    other_draw = draw_audit(res, 60, seed=6)
    assert not other_draw.select("previous", "new").equals(
        sheet.select("previous", "new"))


def test_estimates_by_hand() -> None:
    # two strata: 100 accepted links (20 coded, 18 true) and 1,000 other pairs
    # (40 coded, 2 true), one blank row
    rows = ([("a", f"l{i}", LINKED, 100, 21, 1.0 if i < 18 else 0.0) for i in range(20)]
            + [("a", "lx", LINKED, 100, 21, float("nan"))]
            + [("b", f"o{i}", "p <= 0.2", 1000, 40, 1.0 if i < 2 else 0.0)
               for i in range(40)])
    df = pl.DataFrame(rows, schema=["previous", "new", "stratum", "N_h", "n_h",
                                    "match"], orient="row")
    a = audit_links(df)
    assert a.n_coded == 60 and a.n_uncoded == 1
    assert a.precision.estimate == pytest.approx(18 / 20)
    lo, hi = wilson_interval(18, 20, N=100)
    assert a.precision.ci == pytest.approx((float(lo), float(hi)))
    # Wilson score interval with FPC, by its formula (z = 1.959964)
    z, n_eff, p = 1.959964, 20 / (1 - 20 / 100), 0.9
    k = z * z / n_eff
    half = z / (1 + k) * math.sqrt(p * (1 - p) / n_eff + k / (4 * n_eff))
    assert a.precision.ci[0] == pytest.approx((p + k / 2) / (1 + k) - half, abs=1e-5)
    total = 100 * 18 / 20 + 1000 * 2 / 40
    assert a.true_links.estimate == pytest.approx(total)
    se = math.sqrt(100**2 * (1 - 0.2) * 0.9 * 0.1 / 19
                   + 1000**2 * (1 - 0.04) * 0.05 * 0.95 / 39)
    assert a.true_links.std_error == pytest.approx(se)
    assert a.recall.estimate == pytest.approx(90 / total)
    lo_r, hi_r = a.recall.ci
    assert lo_r < 90 / total < hi_r
    assert a.strata["stratum"].to_list() == [LINKED, "p <= 0.2"]
    assert any("blank" in w for w in a.warnings)


def test_audit_recovers_synthetic_truth(synth, synth_result, tmp_path) -> None:
    _path, syn = synth
    res = synth_result
    truth = _truth_pairs(syn)
    sheet = draw_audit(res, 150, seed=2)
    coded = _code(sheet, truth.with_columns(pl.col("previous").cast(
        sheet["previous"].dtype), pl.col("new").cast(sheet["new"].dtype)))
    f = write_audit_sheet(coded, tmp_path / "coded.csv")
    a = res.audit(f)
    tp = res.links.join(truth, on=["previous", "new"]).height
    true_prec = tp / res.n_linked
    cand_true = res.pairs.join(truth, on=["previous", "new"]).height
    print(f"\naudit: precision {a.precision.estimate:.3f} {a.precision.ci} (true "
          f"{true_prec:.3f}); true links {a.true_links.estimate:.1f} "
          f"{a.true_links.ci} (true {cand_true}); recall {a.recall.estimate:.3f} "
          f"{a.recall.ci} (true {tp / cand_true:.3f})")
    assert a.precision.ci[0] <= true_prec <= a.precision.ci[1]
    assert a.true_links.ci[0] <= cand_true <= a.true_links.ci[1]
    assert a.recall.ci[0] <= tp / cand_true <= a.recall.ci[1]
    # the sheet was drawn from this result: strata sizes agree, no warning; the
    # stratum below the floor is listed as not audited, with the model's count
    assert not a.warnings
    low = a.strata.filter(~pl.col("audited"))
    assert low["stratum"].to_list() == ["p <= 0.001"]
    assert low["N"][0] == res.pairs.filter(
        pl.col("probability") <= 0.001).join(res.links, on=["previous", "new"],
                                              how="anti").height
    assert any("not audited" in x for x in a.recall.assumptions)


def test_audit_of_sheet_with_other_cuts(synth, synth_result) -> None:
    """A sheet drawn with other cut points is matched to the result by its own
    bands: every band is audited, only the one below the floor is not."""
    res = synth_result
    truth = _truth_pairs(synth[1])
    # (the synthetic world is clean: few non-links above 1e-6)
    sheet = draw_audit(res, 120, cuts=(1e-6, 0.001), floor=1e-6, seed=4)
    coded = _code(sheet, truth.with_columns(pl.col("previous").cast(
        sheet["previous"].dtype), pl.col("new").cast(sheet["new"].dtype)))
    a = res.audit(coded)
    assert not a.warnings
    assert set(a.strata.filter(pl.col("audited"))["stratum"]) == {
        "linked", "1e-06 < p <= 0.001", "0.001 < p <= 1"}
    assert a.strata.filter(~pl.col("audited"))["stratum"].to_list() == [
        "p <= 1e-06"]


def test_audit_of_sheet_with_one_band_or_odd_cuts(synth, synth_result) -> None:
    """A sheet with a single band (``cuts=()``) is matched as that band, not as
    the default cuts; an unknown band is warned about; odd cut points read back
    exactly from the band names."""
    res = synth_result
    truth = _truth_pairs(synth[1])

    def coded(sheet: pl.DataFrame) -> pl.DataFrame:
        return _code(sheet, truth.with_columns(pl.col("previous").cast(
            sheet["previous"].dtype), pl.col("new").cast(sheet["new"].dtype)))

    one = coded(draw_audit(res, 60, cuts=(), floor=0, seed=1))
    a = res.audit(one)
    assert not a.warnings
    assert a.strata["stratum"].to_list() == ["linked", "p <= 1"]
    assert a.strata["model_expected"].null_count() == 0
    odd = (1.2345678e-7, 0.0012345678)
    st = strata_of(res.pairs, res.links, odd)
    assert "1.2345678e-07 < p <= 0.0012345678" in set(st["stratum"])
    a = res.audit(coded(draw_audit(res, 120, cuts=odd, floor=0, seed=2)))
    assert not a.warnings
    renamed = one.with_columns(pl.col("stratum").str.replace("p <= 1", "low"))
    a = res.audit(renamed)
    assert any("not a band of the result" in w for w in a.warnings)


def test_sheet_errors_name_file_row_column(synth_result, tmp_path) -> None:
    sheet = draw_audit(synth_result, 20, seed=0)
    bad = sheet.with_columns(pl.lit("yes").alias("match"))
    bad = bad.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("maybe"))
                           .otherwise(pl.col("match")).alias("match"))
    f = write_audit_sheet(bad, tmp_path / "bad.csv")
    with pytest.raises(DataContractError, match=r"bad\.csv, row 2, column 'match'"):
        read_audit_sheet(f)
    f2 = write_audit_sheet(sheet.drop("N_h"), tmp_path / "nocol.csv")
    with pytest.raises(DataContractError, match="N_h"):
        read_audit_sheet(f2)
    # a stratum with nothing coded cannot be estimated
    f3 = write_audit_sheet(sheet, tmp_path / "blank.csv")
    with pytest.raises(EstimationError, match="without a coded pair"):
        audit_links(f3)


def test_cli_audit_round_trip(synth, tmp_path, capsys) -> None:
    path, syn = synth
    out = tmp_path / "sheet.csv"
    rc = main(["resurrection", str(path), "--json", "--imputations", "2",
               "--audit-out", str(out), "--audit-n", "40"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["audit_out"] == str(out)
    sheet = pl.read_csv(out)
    assert sheet.height == 40
    assert {"screen_name_previous", "screen_name_new", "description_new"} <= set(
        sheet.columns)
    coded = _code(sheet, _truth_pairs(syn))
    coded.write_csv(tmp_path / "coded.csv")
    rc = main(["resurrection", str(path), "--json", "--imputations", "2",
               "--audit", str(tmp_path / "coded.csv")])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    la = d["link_audit"]
    assert set(la) >= {"link_precision", "true_links_among_candidates",
                       "recall_among_candidates", "strata"}
    assert 0 <= la["link_precision"]["estimate"] <= 1
    assert la["n_coded"] == 40


# Over many worlds the audit's 95% intervals must cover the truth of the same
# world (perfect coders) at least this often (nominal 0.95; the Wilson/MOVER and
# Jeffreys intervals are approximate with 40 coded pairs per stratum).
MIN_AUDIT_COVERAGE = 0.90
N_AUDIT_WORLDS = 40


@pytest.mark.calibration
def test_audit_coverage_on_simulated_worlds(tmp_path) -> None:
    import measure
    from measure.resurrection import analyze
    from measure.simulate import SimConfig, simulate
    from tests.resurrection._links import true_links

    hits = {"precision": [], "true_links": [], "recall": []}
    est = {"precision": [], "true_links": [], "recall": []}
    truth_v = {"precision": [], "true_links": [], "recall": []}
    width = {"precision": [], "true_links": [], "recall": []}
    for seed in range(2001, 2001 + N_AUDIT_WORLDS):
        p = simulate(SimConfig.preset("small"), seed, tmp_path / "w", overwrite=True)
        with measure.open(p) as ds:
            res = analyze(ds, n_boot=0, n_imputations=2)
        links = true_links(p).select("previous", "new")
        a = res.audit(_code(res.draw_audit(200, seed=seed), links))
        tp = res.links.join(links, on=["previous", "new"]).height
        cand = res.pairs.join(links, on=["previous", "new"]).height
        t = {"precision": tp / res.n_linked, "true_links": cand, "recall": tp / cand}
        for k, e in (("precision", a.precision), ("true_links", a.true_links),
                     ("recall", a.recall)):
            hits[k].append(e.ci[0] <= t[k] <= e.ci[1])
            width[k].append(e.ci[1] - e.ci[0])
            est[k].append(e.estimate)
            truth_v[k].append(t[k])
    cov = {k: float(np.mean(v)) for k, v in hits.items()}
    bias = {k: float(np.mean(np.array(est[k]) - np.array(truth_v[k]))) for k in est}
    print(f"\naudit over {N_AUDIT_WORLDS} worlds (200 coded pairs each): coverage "
          f"{cov}; bias {bias}; mean width "
          f"{ {k: round(float(np.mean(v)), 3) for k, v in width.items()} }; mean truth "
          f"{ {k: round(float(np.mean(v)), 3) for k, v in truth_v.items()} }")
    for k in cov:
        assert cov[k] >= MIN_AUDIT_COVERAGE, k


# target: the true 30-day rate inside the 95% CI in >= 90% of 100 small worlds
MIN_RATE_COVERAGE = 0.90
N_RATE_WORLDS = 100
AUDIT_N = 200  # coded pairs per world


@pytest.mark.calibration
def test_rate_30d_coverage_with_audit(tmp_path) -> None:
    """The 30-day rate with link probabilities recalibrated on a 200-pair audit.

    Same worlds as ``test_calibration.test_rate_30d_coverage`` (seeds
    1001-1100); a perfect coder codes the audit sample from the simulator's
    truth. The model-only rate of the same worlds is printed next to it.
    """
    import measure
    from measure.resurrection import analyze
    from measure.simulate import SimConfig, load_truth, simulate
    from tests.resurrection._links import true_links

    rows = []
    for seed in range(1, N_RATE_WORLDS + 1):
        p = simulate(SimConfig.preset("small"), 1000 + seed, tmp_path / "w",
                     overwrite=True)
        with measure.open(p) as ds:
            res = analyze(ds, n_boot=0, n_imputations=10, seed=seed)
            sheet = _code(res.draw_audit(AUDIT_N, seed=seed),
                          true_links(p).select("previous", "new"))
            cal = analyze(ds, n_boot=0, n_imputations=10, seed=seed, audit=sheet)
        t, _ = load_truth(p).rate_in_data(30)
        rows.append((t, res.rate_30d.estimate, *res.rate_30d.ci,
                     cal.rate_30d.estimate, *cal.rate_30d.ci))
    a = np.array(rows)
    tru = a[:, 0]
    cov_model = float(np.mean((a[:, 2] <= tru) & (tru <= a[:, 3])))
    cov_audit = float(np.mean((a[:, 5] <= tru) & (tru <= a[:, 6])))
    print(f"\nrate_30d over {N_RATE_WORLDS} worlds: model only coverage "
          f"{cov_model:.2f}, bias {np.mean(a[:, 1] - tru):+.4f}, mean width "
          f"{np.mean(a[:, 3] - a[:, 2]):.3f}; with a {AUDIT_N}-pair audit coverage "
          f"{cov_audit:.2f}, bias {np.mean(a[:, 4] - tru):+.4f}, mean width "
          f"{np.mean(a[:, 6] - a[:, 5]):.3f}; mean truth {np.mean(tru):.3f}")
    assert cov_audit >= MIN_RATE_COVERAGE


def test_recalibration_matches_statsmodels_logit() -> None:
    """Equal design weights: the fit is the logistic MLE of y on logit(p).

    Peer: ``statsmodels.api.Logit(y, sm.add_constant(logit(p))).fit()``; the
    slope's ridge (1e-3 on the summed log-likelihood) moves it by < 1e-3 here.
    """
    import statsmodels.api as sm

    from measure.resurrection._audit import _logit, recalibration

    rng = np.random.default_rng(4)
    n = 2000
    p = rng.uniform(0.0005, 0.999, n)
    eta = 0.5 + 0.7 * _logit(p)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    ids = [str(i) for i in range(n)]
    pairs = pl.DataFrame({"previous": ids, "new": ids, "probability": p})
    sheet = pl.DataFrame({"previous": ids, "new": ids, "stratum": ["s"] * n,
                          "N_h": [n] * n, "n_h": [n] * n, "match": y})
    rec = recalibration(sheet, pairs)
    ref = sm.Logit(y, sm.add_constant(_logit(p))).fit(disp=0).params
    assert rec.a == pytest.approx(ref[0], abs=1e-3)
    assert rec.b == pytest.approx(ref[1], abs=1e-3)
    # recovers the generating relation within about two standard errors
    assert abs(rec.a - 0.5) < 0.2 and abs(rec.b - 0.7) < 0.1
    # each suspended account's recalibrated candidates sum to at most 1
    prev = np.array([0, 0, 0, 1])
    q = rec.apply(np.array([0.6, 0.3, 0.09, 0.2]), prev, a=3.0, b=1.0)
    assert q[:3].sum() == pytest.approx(1.0)
    assert q[3] == pytest.approx(1 / (1 + np.exp(-(3.0 + _logit(np.array([0.2]))[0]))))


def test_analyze_with_audit(synth, synth_result) -> None:
    import measure
    from measure.resurrection import analyze

    path, syn = synth
    truth = _truth_pairs(syn)
    sheet = _code(synth_result.draw_audit(120, seed=3), truth.with_columns(
        pl.col("previous").cast(pl.Int64), pl.col("new").cast(pl.Int64)))
    with measure.open(path) as ds:
        res = analyze(ds, n_boot=10, n_imputations=4, audit=sheet)
        assert "recalibrated on a hand audit" in res.rate_30d.method
        assert any("recalibration" in x for x in res.rate_30d.assumptions)
        # the unaudited model's rate says so; the audited one does not
        assert not any("not audited" in x for x in res.rate_30d.assumptions)
        assert any("not audited" in x for x in synth_result.rate_30d.assumptions)
        # the accepted links do not depend on the audit
        assert res.links.select("previous", "new").sort("previous").equals(
            synth_result.links.select("previous", "new").sort("previous"))
        wrong = sheet.with_columns((pl.col("previous") + 10**9).alias("previous"))
        with pytest.raises(EstimationError, match="among the candidate pairs"):
            analyze(ds, n_boot=0, n_imputations=2, audit=wrong)
