"""Capture-recapture stress mechanisms: their effect on the ``detections`` table.

Every test compares a ``small`` world (``scale`` 3, seed 1) with one capture
mechanism switched on against the same seed with it off. With a mechanism on, all
capture draws come from another random stream, so the two worlds' detections differ
by chance as well; tolerances are stated with each assertion (standard errors of
the statistic, or margins well outside the seed-to-seed spread measured on seeds
1-3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import measure
from measure.capture import analyze
from measure.simulate import load_truth
from measure.simulate._capture import source_names

SEED = 1
SCALE = 3.0
K = 4
NAMES = source_names(K)
Z = 4.0


@pytest.fixture(scope="module")
def world(small_world_factory: Callable[..., Path]) -> Callable[..., Path]:
    """``world(**mechanisms)``: the small world (scale 3, seed 1) with them on."""

    def make(scale: float = SCALE, **mech: Any) -> Path:
        return small_world_factory(SEED, scale=scale, **mech)

    return make


@cache
def _truth(path: Path) -> Any:
    """``load_truth(path)``, read once."""
    return load_truth(path)


@cache
def _detections(path: Path) -> pl.DataFrame:
    """The ``detections`` table (opened with full validation), times in UTC."""
    with measure.open(path) as ds:
        det = ds.sql("SELECT account_id, source, detected_at FROM detections")
    return det.with_columns(pl.col("detected_at").dt.convert_time_zone("UTC"))


@cache
def _histories(path: Path) -> pl.DataFrame:
    """One row per detected account: list bit mask, number of lists and truth.

    Bit ``j`` of ``mask`` is list ``NAMES[j]``; ``first_at`` is the account's
    first ``detected_at``. The dataset is opened with full validation.
    """
    truth = _truth(path)
    det = _detections(path)
    code = {n: 2**j for j, n in enumerate(NAMES)}
    h = det.group_by("account_id").agg(
        pl.col("source").replace_strict(code, return_dtype=pl.Int64).sum().alias(
            "mask"
        ),
        pl.len().alias("n_lists"),
        pl.col("detected_at").min().alias("first_at"),
    )
    cols = ["account_id", "is_supporter", "in_frame", "activity", "created_at",
            "end_at"]
    if "catch_class" in truth.accounts.columns:
        cols.append("catch_class")
    return h.join(truth.accounts.select(cols), on="account_id", how="left")


def _freq(h: pl.DataFrame) -> np.ndarray:
    """``f_1..f_K``: supporter accounts detected by exactly k lists."""
    n = h.filter(pl.col("is_supporter"))["n_lists"].to_numpy()
    return np.bincount(n, minlength=K + 1)[1:]


def _on(h: pl.DataFrame, j: int) -> np.ndarray:
    return ((h["mask"].to_numpy() >> j) & 1).astype(bool)


def _log_or(path: Path, i: int, j: int) -> tuple[float, float]:
    """Log odds ratio of lists ``i``, ``j`` over the capture population, and its SE.

    The cell of accounts on neither list is the true population size
    (``counts.capture_population``) minus the accounts on either list.
    """
    h = _histories(path).filter(pl.col("is_supporter"))
    a, b = _on(h, i), _on(h, j)
    n11, n10, n01 = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    n00 = _truth(path).capture_population - n11 - n10 - n01
    cells = (n11, n10, n01, n00)
    return (
        math.log(n11 * n00 / (n10 * n01)),
        math.sqrt(sum(1.0 / x for x in cells)),
    )


def _singleton_excess(f: np.ndarray) -> float:
    """Observed share of singletons over that of a fitted zero-truncated binomial.

    The binomial ``(K, p)`` truncated at zero is fitted by its mean (the MLE);
    catchability that varies between accounts makes the ratio exceed 1.
    """
    k = np.arange(1, K + 1)
    n = f.sum()
    mean = float((k * f).sum() / n)
    lo, hi = 1e-9, 1.0 - 1e-9
    for _ in range(100):
        p = (lo + hi) / 2
        if K * p / (1 - (1 - p) ** K) < mean:
            lo = p
        else:
            hi = p
    f1 = K * p * (1 - p) ** (K - 1) / (1 - (1 - p) ** K)
    return float(f[0] / n / f1)


def _census(truth: Any) -> Any:
    """The census date as a UTC datetime."""
    return pl.Series([truth.census_date]).str.to_datetime(time_zone="UTC").item()


def _share_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# -- every mechanism at once --------------------------------------------------------
ALL_ON: dict[str, Any] = {
    "mixture_share": 0.3,
    "mixture_shift": -2.0,
    "catch_tail_df": 3.0,
    "catch_activity_slope": 0.5,
    "dependence_positive": 1.0,
    "dependence_negative": 1.0,
    "list_window_days": 30.0,
    "false_detection_share": 0.03,
}


def test_stress_capture_world_is_valid_and_records_its_truth(
    world: Callable[..., Path],
) -> None:
    path = world(**ALL_ON)
    with measure.open(path) as ds:  # full validation
        res = analyze(ds)
    assert res.estimate.estimate > 0
    truth = _truth(path)
    cap = truth.json["stress"]["capture"]
    # capture_population keeps its meaning: supporters alive at the census
    assert truth.capture_population == cap["population_alive_at_census"]
    assert cap["population_ever_alive_in_windows"] > cap["population_alive_at_census"]
    assert set(cap["windows"]) == set(NAMES)
    h = _histories(path)
    sup = h.filter(pl.col("is_supporter"))
    assert cap["n_supporters_detected"] == sup.height
    assert cap["n_false_detection_accounts"] == h.height - sup.height
    assert 0.0 < cap["share_hard_class"] < 1.0
    # catch_class: 0/1 over the capture population, -1 elsewhere (background too)
    acc = truth.accounts
    assert acc["catch_class"].dtype == pl.Int8
    assert set(acc["catch_class"].unique().to_list()) == {-1, 0, 1}
    assert (acc.filter(~pl.col("is_supporter"))["catch_class"] == -1).all()
    assert (sup["catch_class"] >= 0).all()
    # first_seen of a detected account outside the frame: its first detection, or
    # its discovery when that came first (discoveries start at the census)
    with measure.open(path) as ds:
        seen = ds.sql("SELECT account_id, first_seen FROM accounts")
    seen = seen.with_columns(pl.col("first_seen").dt.convert_time_zone("UTC"))
    out = h.filter(~pl.col("in_frame")).join(seen, on="account_id")
    assert (out["first_seen"] <= out["first_at"]).all()
    early = out.filter(pl.col("first_at") < _census(truth))
    assert early.height > 0
    assert (early["first_seen"] == early["first_at"]).all()


def test_mixture_shift_alone_changes_nothing(world: Callable[..., Path]) -> None:
    on, off = world(scale=0.3, mixture_shift=-1.0), world(scale=0.3)
    assert _detections(on).equals(_detections(off))
    assert "capture" not in _truth(on).json["stress"]


def test_negative_dependence_needs_three_lists(world: Callable[..., Path]) -> None:
    path = world(scale=0.3, n_sources=2, dependence_negative=1.0)
    cap = _truth(path).json["stress"]["capture"]
    assert cap["dependence"] == {"positive": None, "negative": None}


# -- heterogeneity --------------------------------------------------------------------
def test_mixture_adds_singletons_and_hides_the_hard_class(
    world: Callable[..., Path],
) -> None:
    share, shift = 0.5, -1.5
    on, off = world(mixture_share=share, mixture_shift=shift), world()
    f_on, f_off = _freq(_histories(on)), _freq(_histories(off))
    n_on, n_off = int(f_on.sum()), int(f_off.sum())
    s_on, s_off = f_on[0] / n_on, f_off[0] / n_off
    # more singletons among detected supporters (measured 0.654 -> 0.726; +0.05 to
    # +0.07 on seeds 1-3)
    assert s_on - s_off > 0.035, (s_on, s_off)
    # the hard class is mostly missed: far fewer of the population are detected
    # (measured 0.51 -> 0.33)
    pop = _truth(off).capture_population
    assert n_on / pop < n_off / pop - 0.1, (n_on, n_off, pop)
    # truth: the realised class share, and the hard class sits in the singletons
    truth = _truth(on)
    got = truth.json["stress"]["capture"]["share_hard_class_alive_at_census"]
    assert abs(got - share) < Z * _share_se(share, pop)
    h = _histories(on).filter(pl.col("is_supporter"))
    hard = h.filter(pl.col("catch_class") == 1)
    ordinary = h.filter(pl.col("catch_class") == 0)
    assert (hard["n_lists"] == 1).mean() > 0.8  # measured 0.88
    assert (ordinary["n_lists"] == 1).mean() < 0.75  # measured 0.67


def test_heavy_tailed_catchability_fills_both_ends_of_the_histogram(
    world: Callable[..., Path],
) -> None:
    on, off = world(catch_tail_df=1.5), world()
    f_on, f_off = _freq(_histories(on)), _freq(_histories(off))
    n_on, n_off = f_on.sum(), f_off.sum()
    # about as many accounts detected (the effect keeps its centre and scale;
    # measured 0.97 times as many)
    assert abs(n_on / n_off - 1) < 0.1, (n_on, n_off)
    # many more accounts on every list (measured 0.9% -> 5.9%)
    all_on, all_off = f_on[-1] / n_on, f_off[-1] / n_off
    assert all_on > 3 * all_off, (all_on, all_off)
    # more singletons than a binomial with the same mean capture count allows
    # (measured 1.02 -> 1.16; 1.02-1.03 off and 1.14-1.16 on over seeds 1-3)
    ex_on, ex_off = _singleton_excess(f_on), _singleton_excess(f_off)
    assert ex_on - ex_off > 0.07, (ex_on, ex_off)


def test_activity_slope_favours_active_accounts(world: Callable[..., Path]) -> None:
    slope = 1.0
    on, off = world(catch_activity_slope=slope), world()

    def log_rate(path: Path) -> float:
        """Mean log statuses per day of detected supporters at their first look-up."""
        h = _histories(path).filter(pl.col("is_supporter")).select("account_id")
        with measure.open(path) as ds:
            obs = ds.sql(
                "SELECT o.account_id, min_by(o.statuses_count, o.observed_at) AS st, "
                "min(o.observed_at) AS at, any_value(a.created_at) AS created "
                "FROM observations o JOIN accounts a USING (account_id) "
                "WHERE o.status = 'active' GROUP BY 1"
            )
        d = h.join(obs, on="account_id").with_columns(
            age=(pl.col("at") - pl.col("created")).dt.total_seconds() / 86400.0
        ).filter((pl.col("age") >= 2) & (pl.col("st") > 0))
        return float((d["st"] / d["age"]).log().mean())

    # the data show it: detected supporters tweet faster (statuses per day grow as
    # exp(0.8 activity)); measured +0.34 on seed 1
    assert log_rate(on) - log_rate(off) > 0.2
    act_on = _histories(on).filter(pl.col("is_supporter"))["activity"]
    act_off = _histories(off).filter(pl.col("is_supporter"))["activity"]
    assert act_on.mean() - act_off.mean() > 0.25  # measured -0.14 -> 0.31


# -- list dependence ------------------------------------------------------------------
def test_positive_dependence_raises_the_odds_ratio_of_lists_1_and_2(
    world: Callable[..., Path],
) -> None:
    dep = 1.5
    on, off = world(dependence_positive=dep), world()
    (lor_on, _), (lor_off, _) = _log_or(on, 0, 1), _log_or(off, 0, 1)
    # about exp(dep) times the odds ratio of the world without dependence (the
    # catchability heterogeneity makes the shift not exactly additive; measured
    # 0.50 -> 1.89, a rise of 1.2-1.4 on seeds 1-3)
    assert abs(lor_on - lor_off - dep) < 0.5, (lor_on, lor_off)
    # the pair of lists 3 and 4 is left alone
    (l34_on, s34_on), (l34_off, s34_off) = _log_or(on, 2, 3), _log_or(off, 2, 3)
    assert abs(l34_on - l34_off) < Z * math.hypot(s34_on, s34_off)


def test_negative_dependence_lowers_the_odds_ratio_of_the_last_pair(
    world: Callable[..., Path],
) -> None:
    dep = 1.5
    on, off = world(dependence_negative=dep), world()
    (lor_on, _), (lor_off, _) = _log_or(on, 2, 3), _log_or(off, 2, 3)
    # measured 0.55 -> -0.85, a fall of 1.39-1.40 on seeds 1-3
    assert abs(lor_on - lor_off + dep) < 0.6, (lor_on, lor_off)
    assert lor_on < 0
    (l12_on, s12_on), (l12_off, s12_off) = _log_or(on, 0, 1), _log_or(off, 0, 1)
    assert abs(l12_on - l12_off) < Z * math.hypot(s12_on, s12_off)


# -- open population ------------------------------------------------------------------
def test_list_windows_open_the_population(world: Callable[..., Path]) -> None:
    days = 60.0
    on, off = world(list_window_days=days), world()
    h = _histories(on)
    cap = _truth(on).json["stress"]["capture"]
    det = _detections(on).join(
        h.select("account_id", "created_at", "end_at"), on="account_id"
    )
    # each list's detections fall inside its window, the lists span 2.5 windows
    span = det["detected_at"].max() - det["detected_at"].min()
    assert span.total_seconds() / 86400.0 > 2.4 * days
    for name, w in cap["windows"].items():
        t = det.filter(pl.col("source") == name)["detected_at"]
        assert t.min() >= pl.Series([w["start"]]).str.to_datetime().item()
        assert t.max() <= pl.Series([w["end"]]).str.to_datetime().item()
    # every detected account is alive when detected
    alive = (pl.col("created_at") <= pl.col("detected_at")) & (
        pl.col("end_at").is_null() | (pl.col("detected_at") < pl.col("end_at"))
    )
    assert det.select(alive.all()).item()
    # some detected supporters were not alive at the census
    census = _census(_truth(on))
    sup = h.filter(pl.col("is_supporter"))
    dead_or_unborn = (pl.col("created_at") > census) | (pl.col("end_at") <= census)
    n_not = sup.filter(dead_or_unborn).height
    assert n_not == cap["n_supporters_detected_not_alive_at_census"]
    assert n_not / sup.height > 0.05, (n_not, sup.height)
    assert _histories(off).filter(dead_or_unborn).height == 0

    # the first and the last list refer to different times: a share of the first
    # list's accounts had ended before the last list's window opened ...
    last_start = pl.Series([cap["windows"][NAMES[-1]]["start"]]).str.to_datetime()
    first = sup.filter(pl.Series(_on(sup, 0)))
    gone = float((first["end_at"] <= last_start.item()).mean())
    assert gone > 0.3, gone  # measured 0.50

    # ... so the two lists share fewer accounts than independent lists over the
    # detected accounts would (observed / expected overlap; measured 0.68 -> 0.55,
    # 0.68-0.78 without and 0.55-0.60 with windows on seeds 1-4)
    def overlap(path: Path) -> float:
        s = _histories(path).filter(pl.col("is_supporter"))
        a, b = _on(s, 0), _on(s, K - 1)
        return float((a & b).sum() * s.height / (a.sum() * b.sum()))

    assert overlap(on) < 0.9 * overlap(off), (overlap(on), overlap(off))


# -- false detections -----------------------------------------------------------------
def test_false_detections_are_non_supporters_on_singleton_patterns(
    world: Callable[..., Path],
) -> None:
    share = 0.05
    path = world(false_detection_share=share)
    cap = _truth(path).json["stress"]["capture"]
    h = _histories(path)
    det = _detections(path).join(
        h.select("account_id", "is_supporter", "in_frame", "created_at", "end_at"),
        on="account_id",
    )
    false = det.filter(~pl.col("is_supporter"))
    assert false.height == cap["n_false_detections"]["total"]
    # each list holds about `share` non-supporters (measured 0.047-0.066)
    for name in NAMES:
        rows = det.filter(pl.col("source") == name)
        got = float((~rows["is_supporter"]).mean())
        assert abs(got - share) < Z * _share_se(share, rows.height), (name, got)
    # they are background accounts of the census frame, alive when detected
    assert false["in_frame"].all()
    assert (
        (false["created_at"] <= false["detected_at"])
        & (false["end_at"].is_null() | (false["detected_at"] < false["end_at"]))
    ).all()
    # and sit in singleton patterns (each list draws its own)
    f_false = h.filter(~pl.col("is_supporter"))["n_lists"]
    f_sup = h.filter(pl.col("is_supporter"))["n_lists"]
    assert (f_false == 1).mean() > 0.9  # measured 1.0
    assert (f_sup == 1).mean() < 0.75  # measured 0.67
