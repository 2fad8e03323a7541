"""Recovery of simulated truth over many small worlds (``make calibrate-tests``).

Each world is a ``small`` preset world at reduced ``scale`` (see ``SCALE``: the full
``small`` preset takes ~8 s per world here, too slow for 200 worlds within the
10-minute calibration budget; the reduced worlds keep every mechanism: seeds, two
crawl levels, truncated lists, the simulator's own stratified coding design). Per
world, the simulator's coding sample (strata, inclusion probabilities, accounts) is
re-labelled twice:

* **perfect coders**: labels from ``truth/accounts.parquet`` ``is_supporter``;
  checked: the stratified and model-assisted intervals cover
  ``counts.supporter_accounts_in_frame``; reported: bias, coverage and width of
  the stratified, model-assisted and classifier-corrected estimators (a coverage
  of 100% with a wide interval is as much a defect as a low one);
* **imperfect coders**: the simulator's own labels (sensitivity, specificity and
  ``unclear`` share from ``truth.json``); checked: the Rogan-Gladen corrected
  interval, given the coders' effective error rates, covers the truth; reported:
  the uncorrected stratified estimator (it inherits the coders' false positives)
  and the model-assisted and classifier-corrected estimators fitted to labels
  corrected with the same rates.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure.census import analyze

#: Worlds simulated (override with CENSUS_CAL_WORLDS for a quick look).
N_WORLDS = int(os.environ.get("CENSUS_CAL_WORLDS", "200"))
#: Scale of the small preset (about 13,000 frame accounts, 350 supporters in it).
SCALE = 0.2
#: Nominal 95% intervals must cover in at least 90% of worlds.
MIN_COVERAGE = 0.90


def _effective_rates(coding: dict) -> tuple[float, float]:
    """Coder rates for the supporter/not split when ``unclear`` counts as not."""
    u = coding.get("p_unclear", 0.0)
    se = coding["sensitivity"] * (1 - u)
    sp = 1 - (1 - coding["specificity"]) * (1 - u)
    return se, sp


@pytest.mark.calibration
def test_census_interval_coverage_over_worlds(tmp_path: Path) -> None:
    from measure.simulate import SimConfig, load_truth, simulate

    cfg = SimConfig.preset("small", scale=SCALE)
    rows = []
    t0 = time.perf_counter()
    for i in range(N_WORLDS):
        path = simulate(cfg, 5000 + i, tmp_path / f"w{i}")
        truth = load_truth(path)
        target = truth.json["counts"]["supporter_accounts_in_frame"]
        se, sp = _effective_rates(truth.json["coding"])
        ds = measure.open(path, validate="none")
        lab = ds.sql("SELECT * FROM labels")
        sup = truth.accounts.select("account_id", "is_supporter")
        perfect = (lab.filter(pl.col("coder") == "coder_a")
                   .join(sup, on="account_id", how="left")
                   .with_columns(pl.when(pl.col("is_supporter"))
                                 .then(pl.lit("supporter"))
                                 .otherwise(pl.lit("non_supporter")).alias("label"))
                   .drop("is_supporter"))
        r = analyze(ds, labels=perfect, sensitivity=1.0, specificity=1.0, seed=i)
        c = analyze(ds, sensitivity=se, specificity=sp, seed=i)
        row = {"truth": target, "lb": r.lower_bound.estimate,
               "ub": r.upper_bound.estimate}
        for key, e in (("st", r.uncorrected), ("ma", r.model_assisted),
                       ("clf", r.classifier_corrected), ("raw", c.uncorrected),
                       ("ma_imp", c.model_assisted),
                       ("clf_imp", c.classifier_corrected), ("co", c.corrected)):
            row |= {key: e.estimate, f"{key}_lo": e.ci[0], f"{key}_hi": e.ci[1]}
        rows.append(row)
        ds.close()
        shutil.rmtree(path)
    df = pl.DataFrame(rows)
    secs = time.perf_counter() - t0
    summary = []
    for key, name in (("st", "stratified, perfect coders"),
                      ("ma", "model-assisted, perfect coders"),
                      ("clf", "classifier-corrected, perfect coders"),
                      ("raw", "stratified, imperfect coders, uncorrected"),
                      ("ma_imp", "model-assisted, imperfect coders, known rates"),
                      ("clf_imp", "classifier-corrected, imperfect coders, "
                                  "known rates"),
                      ("co", "Rogan-Gladen corrected, imperfect coders")):
        est, lo, hi, t = (df[key].to_numpy(), df[f"{key}_lo"].to_numpy(),
                          df[f"{key}_hi"].to_numpy(), df["truth"].to_numpy())
        ok = np.isfinite(est)
        cover = float(np.mean((lo[ok] <= t[ok]) & (t[ok] <= hi[ok])))
        summary.append({
            "estimator": name, "worlds": int(ok.sum()), "coverage": cover,
            "mean_truth": float(t[ok].mean()),
            "bias": float(np.mean(est[ok] - t[ok])),
            "rel_bias": float(np.mean((est[ok] - t[ok]) / t[ok])),
            "rmse": float(np.sqrt(np.mean((est[ok] - t[ok]) ** 2))),
            "mean_width": float(np.mean(hi[ok] - lo[ok])),
            "median_width": float(np.median(hi[ok] - lo[ok])),
        })
    s = pl.DataFrame(summary)
    bounds = float(((df["lb"] <= df["truth"]) & (df["truth"] <= df["ub"])).mean())
    with pl.Config(tbl_cols=-1, tbl_width_chars=250, float_precision=3,
                   fmt_str_lengths=60):
        print(f"\ncensus calibration: {N_WORLDS} worlds (small preset, scale "
              f"{SCALE}) in {secs:.0f} s")
        print(s)
        print(f"Brookings bounds [at least, at most] bracket the truth in "
              f"{bounds:.1%} of worlds")
    cov = dict(zip(s["estimator"], s["coverage"], strict=True))
    assert cov["stratified, perfect coders"] >= MIN_COVERAGE
    assert cov["model-assisted, perfect coders"] >= MIN_COVERAGE
    assert cov["Rogan-Gladen corrected, imperfect coders"] >= MIN_COVERAGE
