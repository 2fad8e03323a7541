"""False detections: the sensitivity table and screening by supporter probability."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure import DatasetWriter
from measure.capture import analyze, analyze_counts
from measure.capture._false_detections import screened_estimate, sensitivity_table

T0 = dt.datetime(2014, 11, 1, tzinfo=dt.UTC)


def _lists(seed: int, n: int = 2000, false: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Masks of detected accounts: ``n`` supporters on three independent lists
    (catch 0.3, 0.35, 0.25), then ``false`` non-supporters each on one list."""
    rng = np.random.default_rng(seed)
    hit = rng.random((n, 3)) < np.array([0.3, 0.35, 0.25])
    masks = (hit * np.array([1, 2, 4])).sum(axis=1)
    masks = masks[masks > 0]
    fake = 1 << rng.integers(0, 3, size=false)
    return masks, fake


def _mt(z: np.ndarray):
    return analyze_counts(z, ["a", "b", "c"], model="Mt", latent_class=False,
                          graphical=False, false_detection_shares=None).estimate


def test_sensitivity_removes_the_share_from_each_lists_singletons() -> None:
    """2% of lists of 500, 300 and 200 detections: 10, 6 and 4 singletons go, and
    the estimate falls as the assumed share rises."""
    y = np.array([300.0, 150, 40, 100, 20, 30, 10])
    sizes = (int(y[0] + y[2] + y[4] + y[6]), int(y[1] + y[2] + y[5] + y[6]),
             int(y[3] + y[4] + y[5] + y[6]))
    table = sensitivity_table(y, sizes, _mt, shares=(0.0, 0.02, 0.05))
    assert table["removed"].to_list() == [
        0, round(0.02 * sizes[0]) + round(0.02 * sizes[1]) + round(0.02 * sizes[2]),
        round(0.05 * sizes[0]) + round(0.05 * sizes[1]) + round(0.05 * sizes[2])]
    est = table["estimate"].to_list()
    assert est[0] == pytest.approx(_mt(y).estimate)
    assert est[0] > est[1] > est[2]


def test_certain_supporters_leave_the_headline_unchanged() -> None:
    """With every probability 1 each imputation is the full data: same estimate."""
    masks, _ = _lists(1, false=0)
    y = np.bincount(masks, minlength=8)[1:].astype(float)
    e = screened_estimate(masks, np.ones(len(masks)), 3, _mt, imputations=4)
    assert e.estimate == pytest.approx(_mt(y).estimate)
    assert e.extra["between_variance"] == pytest.approx(0.0, abs=1e-12)


def test_screening_removes_the_bias_of_false_singletons() -> None:
    """300 false detections (p = 0.05) among ~1,300 detected supporters (p =
    0.97): unscreened, the independence estimate overshoots N = 2,000 by a
    third in every one of five seeds; screened, it covers 2,000 in at least four
    of five."""
    covered = 0
    for seed in range(5):
        masks, fake = _lists(seed)
        all_masks = np.r_[masks, fake]
        p = np.r_[np.full(len(masks), 0.97), np.full(len(fake), 0.05)]
        y = np.bincount(all_masks, minlength=8)[1:].astype(float)
        assert _mt(y).estimate > 2000 * 1.3
        e = screened_estimate(all_masks, p, 3, _mt, seed=seed)
        covered += e.ci[0] <= 2000 <= e.ci[1]
    assert covered >= 4


def test_a_population_table_screens_the_detections(tmp_path: Path) -> None:
    """The census's ``population`` table gives the probabilities; accounts
    outside it count as supporters and are reported."""
    masks, fake = _lists(7, n=800, false=120)
    rows = []
    for i, m in enumerate(np.r_[masks, fake]):
        for j, s in enumerate(("a", "b", "c")):
            if m >> j & 1:
                rows.append((i, s))
    n_sup = len(masks)
    det = pl.DataFrame(rows, schema=["account_id", "source"], orient="row"
                       ).with_columns(pl.lit(T0).alias("detected_at"))
    ids = list(range(n_sup + len(fake)))
    pop = pl.DataFrame({"account_id": ids[:-10],
                        "p_supporter": [0.97] * n_sup + [0.05] * (len(fake) - 10)})
    with DatasetWriter(tmp_path / "d") as w:
        w.write_table("accounts", pl.DataFrame(
            {"account_id": ids, "screen_name": [f"u{i}" for i in ids]}))
        w.write_table("detections", det)
        w.write_table("population", pop)
    res = analyze(measure.open(tmp_path / "d"), latent_class=False,
                  graphical=False)
    fd = res.false_detections
    assert fd.screened is not None and fd.screened.valid
    assert fd.n_unclassified == 10
    assert fd.n_screened_out == pytest.approx(0.03 * n_sup + 0.95 * 110)
    assert fd.screened.estimate < res.estimate.estimate
    assert res.to_dict()["false_detections"]["screened"]["estimate"] == \
        pytest.approx(fd.screened.estimate)


def test_detection_raises_the_supporter_odds_by_the_coded_accounts_ratio(
        tmp_path: Path) -> None:
    """Coded supporters are detected 3 of 5, other coded accounts 1 of 9: with
    half a detection of smoothing the ratio is (3.5/6) / (1.5/10) = 3.89, and an
    unlabelled detected account's p_supporter of 0.5 becomes 3.89 / 4.89."""
    from measure.capture._false_detections import (
        detection_likelihood_ratio,
        supporter_probabilities,
    )
    from measure.census import resolve_labels

    ids = list(range(20))
    sup, other = [0, 1, 2, 10, 11], [3, *range(12, 20)]
    lab = pl.DataFrame({"account_id": sup + other, "coder": "a",
                        "label": ["supporter"] * 5 + ["non_supporter"] * 9})
    with DatasetWriter(tmp_path / "d") as w:
        w.write_table("accounts", pl.DataFrame(
            {"account_id": ids, "screen_name": [f"u{i}" for i in ids]}))
        w.write_table("detections", pl.DataFrame(
            {"account_id": list(range(6)), "source": "a", "detected_at": T0}))
        w.write_table("population", pl.DataFrame(
            {"account_id": ids, "p_supporter": [0.5] * 20}))
        w.write_table("labels", lab)
    with measure.open(tmp_path / "d") as ds:
        per, _ = resolve_labels(ds.sql("SELECT account_id, coder, label FROM labels"))
        ratio, parts = detection_likelihood_ratio(ds, per)
        p, missing = supporter_probabilities(
            ds, pl.DataFrame({"account_id": [0, 3, 4, 5]}))
    assert parts["q_supporter"] == pytest.approx(3.5 / 6)
    assert parts["q_other"] == pytest.approx(1.5 / 10)
    assert ratio == pytest.approx((3.5 / 6) / 0.15)
    assert missing == 0
    assert p == pytest.approx([1.0, 0.0, ratio / (ratio + 1), ratio / (ratio + 1)])
