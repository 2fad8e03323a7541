"""The coding-sample planner: designs from a pilot that reach a target half-width.

Frames are the stratum sizes ``N_h`` and true supporter counts ``T_h`` of the
census frames of ``SimConfig.preset("small")`` worlds (seeds 3000-3011; strata =
snowball level x in-network band as the simulator's coding stage draws them), and
coders err as the simulator's plain coders do (sensitivity 0.9, specificity 0.95,
``unclear`` 3%, given the class, independently).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from measure.census._analyze import headline_draws
from measure.census._coders import sample_posterior
from measure.census._plan import (
    MAX_BATCH_GROWTH,
    TOLERANCE,
    CodingPlan,
    _Pilot,
    plan_codes,
)
from measure.cli import main

#: (N_h, T_h) per stratum of small-preset worlds, seeds 3000-3011.
FRAMES: dict[int, dict[str, tuple[int, int]]] = {
    3000: {"L0:10+": (10, 10), "L1:0": (72, 4), "L1:1-2": (184, 12),
           "L1:10+": (1397, 650), "L1:3-9": (442, 47), "L2:1-2": (18180, 10),
           "L2:10+": (6397, 374), "L2:3-9": (14886, 97)},
    3001: {"L0:10+": (10, 10), "L1:0": (64, 3), "L1:1-2": (197, 16),
           "L1:10+": (1416, 657), "L1:3-9": (452, 35), "L2:1-2": (18295, 19),
           "L2:10+": (6276, 414), "L2:3-9": (14519, 126)},
    3002: {"L0:10+": (10, 10), "L1:0": (79, 5), "L1:1-2": (165, 14),
           "L1:10+": (1175, 649), "L1:3-9": (306, 55), "L2:1-2": (18547, 21),
           "L2:10+": (5136, 413), "L2:3-9": (13499, 117)},
    3003: {"L0:10+": (10, 10), "L1:0": (74, 5), "L1:1-2": (178, 6),
           "L1:10+": (1398, 614), "L1:3-9": (473, 46), "L2:1-2": (18167, 17),
           "L2:10+": (6467, 455), "L2:3-9": (14881, 133)},
    3004: {"L0:10+": (10, 10), "L1:0": (59, 0), "L1:1-2": (181, 13),
           "L1:10+": (1403, 660), "L1:3-9": (392, 41), "L2:1-2": (18117, 10),
           "L2:10+": (6195, 369), "L2:3-9": (14809, 115)},
    3005: {"L0:10+": (10, 10), "L1:0": (64, 2), "L1:1-2": (189, 12),
           "L1:10+": (1367, 557), "L1:3-9": (462, 44), "L2:1-2": (17956, 31),
           "L2:10+": (6324, 491), "L2:3-9": (14804, 128)},
    3006: {"L0:10+": (10, 10), "L1:0": (70, 5), "L1:1-2": (219, 12),
           "L1:10+": (1616, 654), "L1:3-9": (525, 46), "L2:1-2": (17687, 15),
           "L2:10+": (6868, 417), "L2:3-9": (15151, 119)},
    3007: {"L0:10+": (10, 10), "L1:0": (80, 5), "L1:1-2": (171, 16),
           "L1:10+": (1592, 540), "L1:3-9": (492, 32), "L2:1-2": (17744, 20),
           "L2:10+": (7032, 468), "L2:3-9": (15367, 145)},
    3008: {"L0:10+": (10, 10), "L1:0": (78, 4), "L1:1-2": (216, 11),
           "L1:10+": (1460, 605), "L1:3-9": (457, 36), "L2:1-2": (18024, 20),
           "L2:10+": (6592, 403), "L2:3-9": (15267, 101)},
    3009: {"L0:10+": (10, 10), "L1:0": (71, 3), "L1:1-2": (199, 8),
           "L1:10+": (1473, 644), "L1:3-9": (469, 41), "L2:1-2": (18232, 16),
           "L2:10+": (6580, 466), "L2:3-9": (14877, 118)},
    3010: {"L0:10+": (10, 10), "L1:0": (73, 4), "L1:1-2": (195, 11),
           "L1:10+": (1517, 578), "L1:3-9": (529, 40), "L2:1-2": (17753, 23),
           "L2:10+": (6999, 467), "L2:3-9": (15255, 156)},
    3011: {"L0:10+": (10, 10), "L1:0": (71, 3), "L1:1-2": (212, 13),
           "L1:10+": (1261, 588), "L1:3-9": (409, 41), "L2:1-2": (18139, 15),
           "L2:10+": (5933, 433), "L2:3-9": (14505, 124)},
}
#: The simulator's plain coders (``measure.simulate.Coding`` defaults).
SENSITIVITY, SPECIFICITY, P_UNCLEAR = 0.9, 0.95, 0.03
#: Pilot: accounts coded per stratum (the small preset), and double-coded among them.
PILOT_N, PILOT_D = 40, 8
#: Gibbs draws of the headline (``measure.census._analyze.POSTERIOR_DRAWS``/``BURN``).
HEADLINE_DRAWS, HEADLINE_BURN = 4000, 1000


class CodingRoom:
    """A frame with known classes, coded on request by two error-prone coders."""

    def __init__(self, frame: Mapping[str, tuple[int, int]], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.strata = sorted(frame)
        self.sizes = {s: float(frame[s][0]) for s in self.strata}
        self.truth = sum(t for _, t in frame.values())
        # accounts of each stratum in a random order: the order they are drawn in
        self.cls = {s: self.rng.permutation(np.arange(frame[s][0]) < frame[s][1])
                    for s in self.strata}
        self.n = dict.fromkeys(self.strata, 0)
        self.second = {s: np.zeros(frame[s][0], bool) for s in self.strata}
        self.rows: list[pl.DataFrame] = []

    def _read(self, s: str, idx: np.ndarray, coder: str) -> None:
        z = self.cls[s][idx]
        u, c = self.rng.random(len(idx)), self.rng.random(len(idx))
        right = c < np.where(z, SENSITIVITY, SPECIFICITY)
        lab = np.where(z == right, "supporter", "non_supporter")
        lab = np.where(u < P_UNCLEAR, "unclear", lab)
        self.rows.append(pl.DataFrame({
            "account_id": [f"{s}#{i}" for i in idx], "stratum": s,
            "coder": coder, "label": lab.astype(str)}))

    def code(self, n: Mapping[str, int], d: Mapping[str, int]) -> None:
        """Code the next accounts up to ``n[s]``; second readings up to ``d[s]``."""
        for s in self.strata:
            new = np.arange(self.n[s], min(max(self.n[s], int(n[s])),
                                           len(self.cls[s])))
            if len(new):
                self._read(s, new, "coder_a")
                self.n[s] = int(new[-1]) + 1
            single = np.flatnonzero(~self.second[s][: self.n[s]])
            k = min(int(d[s]) - int(self.second[s].sum()), len(single))
            if k > 0:
                pick = self.rng.choice(single, size=k, replace=False)
                self.second[s][pick] = True
                self._read(s, pick, "coder_b")

    def codes(self) -> pl.DataFrame:
        return pl.concat(self.rows)

    def halfwidth(self, seed: int) -> float:
        """Half-width of the headline's 95% interval from the codes so far."""
        codes = self.codes()
        post = sample_posterior(codes, self.sizes, draws=HEADLINE_DRAWS,
                                burn=HEADLINE_BURN, seed=seed)
        lo, hi = np.quantile(headline_draws(post, codes, seed=seed), [0.025, 0.975])
        return float(hi - lo) / 2


def _pilot(frame_seed: int, seed: int | None = None) -> CodingRoom:
    room = CodingRoom(FRAMES[frame_seed], frame_seed if seed is None else seed)
    room.code(dict.fromkeys(room.strata, PILOT_N), dict.fromkeys(room.strata, PILOT_D))
    return room


def _code_table(room: CodingRoom, plan: CodingPlan, first: bool) -> None:
    t = plan.table
    n, d = ("n_first", "d_first") if first else ("n_plan", "d_plan")
    room.code(dict(zip(t["stratum"], t[n], strict=True)),
              dict(zip(t["stratum"], t[d], strict=True)))


def test_simulated_samples_follow_the_design_and_the_pilot_error_rates() -> None:
    room = _pilot(3000)
    pilot = _Pilot(room.codes(), room.sizes, groups=None, gold="gold", priors=None,
                   level=0.95, seed=1, replicates=2, draws=100, burn=50)
    n = pilot.n_pilot.copy()
    d = pilot.d_pilot.copy()
    big = pilot.strata.index("L2:1-2")
    n[big], d[big] = 4040, 4040
    codes = pilot.simulate(0, n, d)
    per = codes.group_by("account_id").agg(pl.col("stratum").first(),
                                           pl.len().alias("k"))
    got = per.group_by("stratum").agg(pl.len().alias("n"),
                                      (pl.col("k") >= 2).sum().alias("d"))
    got = dict(zip(got["stratum"], zip(got["n"], got["d"], strict=True),
                   strict=True))
    assert got == {s: (int(n[i]), int(d[i])) for i, s in enumerate(pilot.strata)}
    # the pilot's readings are kept as they are
    assert codes.head(room.codes().height)["label"].to_list() == \
        room.codes()["label"].to_list()
    # 4,000 new accounts read twice: their agreement is the model's, at the
    # posterior draw of the replicate (binomial SD about 0.005; 4 SD allowed)
    k = int(pilot.pick[0])
    conf = pilot.conf[k]
    prev = pilot.post.prevalence[k, big]
    a, b = pilot.cidx["coder_a"][big], pilot.cidx["coder_b"][big]
    agree = sum(w * float(conf[a, z] @ conf[b, z])
                for z, w in ((0, 1 - prev), (1, prev)))
    new = (codes.slice(room.codes().height).filter(pl.col("stratum") == "L2:1-2")
           .group_by("account_id")
           .agg(pl.col("label").n_unique().alias("u"), pl.len().alias("k"))
           .filter(pl.col("k") == 2))
    assert new.height == 4000
    seen = float((new["u"] == 1).mean())
    sd = np.sqrt(agree * (1 - agree) / new.height)
    assert abs(seen - agree) < 4 * sd + 1e-3


def test_plan_puts_new_accounts_in_the_large_uncertain_strata() -> None:
    room = _pilot(3000)
    hw0 = room.halfwidth(seed=5)
    plan = plan_codes(room.codes(), room.sizes, target_halfwidth=hw0 / 2, seed=3,
                      replicates=4, draws=250, burn=100)
    t = plan.table
    assert plan.reachable
    assert plan.halfwidth <= plan.target_halfwidth * (1 + TOLERANCE)
    assert (t["n_plan"] >= t["n_pilot"]).all() and (t["d_plan"] <= t["n_plan"]).all()
    assert (t["n_first"] <= t["n_plan"]).all() and (t["d_first"] <= t["d_plan"]).all()
    pilot_reads = int(t["n_pilot"].sum() + t["d_pilot"].sum())
    assert 0 < plan.first_readings <= pilot_reads * MAX_BATCH_GROWTH + 1
    # level 2 holds 97% of the frame and nearly all of the uncertainty
    l2 = t.filter(pl.col("stratum").str.starts_with("L2"))
    assert l2["extra"].sum() >= 0.8 * t["extra"].sum() > 0
    assert plan.extra_readings == int(t["extra"].sum() + t["extra_double"].sum())
    d = plan.to_dict()
    json.dumps(d)
    assert d["strata"][0]["stratum"] == "L0:10+"
    assert "first batch" in plan.summary()


def test_pilot_that_meets_the_target_needs_no_more_codes() -> None:
    room = _pilot(3001)
    plan = plan_codes(room.codes(), room.sizes, target_halfwidth=1e6, seed=0,
                      replicates=2)
    t = plan.table
    assert plan.reachable and plan.extra_readings == 0
    assert (t["n_plan"] == t["n_pilot"]).all() and (t["extra"] == 0).all()
    assert any("already meets" in w for w in plan.warnings)


def test_unreachable_target_reports_the_smallest_halfwidth() -> None:
    # two small strata: coding every account twice still leaves the classes of
    # accounts whose readings disagree uncertain, a half-width of several accounts
    frame = {"a": (60, 30), "b": (80, 4)}
    room = CodingRoom(frame, seed=11)
    room.code({"a": 40, "b": 40}, {"a": 8, "b": 8})
    plan = plan_codes(room.codes(), room.sizes, target_halfwidth=0.5, seed=0,
                      replicates=4)
    t = plan.table
    assert not plan.reachable
    assert t["n_plan"].to_list() == [60, 80] and t["d_plan"].to_list() == [60, 80]
    assert plan.halfwidth > 0.5
    assert any("even when every account is coded twice" in w
               for w in plan.warnings)
    assert "cannot be reached" in plan.summary()


def test_plan_rejects_invalid_arguments() -> None:
    room = _pilot(3002)
    with pytest.raises(ValueError, match="target_halfwidth"):
        plan_codes(room.codes(), room.sizes, target_halfwidth=0.0)
    with pytest.raises(ValueError, match="level"):
        plan_codes(room.codes(), room.sizes, target_halfwidth=10.0, level=1.5)


def test_cli_plan_prints_the_plan_as_json(small_world_factory,
                                          capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    path: Path = small_world_factory(7)
    assert main(["census", "plan", str(path), "--target-halfwidth", "800",
                 "--replicates", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    strata = out["strata"]
    assert {r["stratum"] for r in strata} >= {"L2:1-2", "L2:3-9", "L2:10+"}
    assert all(r["n_plan"] >= r["n_pilot"] and r["d_plan"] <= r["n_plan"]
               for r in strata)
    assert out["target_halfwidth"] == 800 and out["level"] == 0.95
    assert out["extra_accounts"] == sum(r["extra"] for r in strata)
    with pytest.raises(SystemExit):
        main(["census", "--help"])
    assert "measure census plan DATASET" in capsys.readouterr().out


@pytest.mark.calibration
def test_plan_reaches_the_target_halfwidth_in_simulated_frames() -> None:
    """Coding batch by batch as planned reaches the target (±15%) in most frames.

    Protocol, per frame: a pilot of 40 accounts per stratum (8 read twice); target
    = half the pilot's half-width; then up to eight rounds of: plan, code the first
    batch (``n_first``, ``d_first``) with coders erring as above; stop when the
    plan adds nothing (the interval meets the target within the planner's 4%).
    The achieved half-width is the headline's (4,000 Gibbs draws).

    Measured with the planner's defaults (frames 3000-3009, pilot seed = frame
    seed): 10/10 frames within ±15%, achieved / target 0.972 to 1.055, 1 to 6
    rounds, about 7 minutes on a loaded 2-core machine. On all 12 frames with two
    pilots each (pilot seeds frame and frame + 100): 24/24, 0.932 to 1.140, 1 to 7
    rounds. Coding the whole first plan at once instead (no re-planning; 12
    frames, pilot seed = frame seed) reaches the target within ±15% in only 4/12
    frames (0.74 to 1.17, median 0.85): the plan predicts the average over the
    pilot's wide posterior, and in most of these frames the interval narrows
    faster than that average.
    """
    ratios = []
    for fs in list(FRAMES)[:10]:
        room = _pilot(fs)
        target = room.halfwidth(seed=fs) / 2
        for k in range(8):
            plan = plan_codes(room.codes(), room.sizes, target_halfwidth=target,
                              seed=fs + k)
            if plan.extra_readings == 0:
                break
            _code_table(room, plan, first=True)
        ratios.append(room.halfwidth(seed=fs + 1) / target)
    within = np.mean(np.abs(np.array(ratios) - 1) <= 0.15)
    assert within >= 0.8, np.round(ratios, 3)
