"""The public stages on small hand-made inputs, and the composed analysis.

Stages: ``suspension_events`` -> ``block`` -> ``score`` -> ``assign`` ->
``measure_returns``; ``analyze`` composes them. The tiny dataset
(``conftest.tiny_tables``) has two actors: A ``1 -> 2 -> 3`` and B ``4 -> 5``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
import polars as pl
import pytest

import measure
from measure.resurrection import (
    Candidates,
    LinkageSettings,
    Links,
    Scores,
    analyze,
    assign,
    block,
    measure_returns,
    score,
    suspension_events,
)
from measure.resurrection import _blocking as B
from measure.resurrection._features import FEATURES
from tests.resurrection.conftest import TS, day


def _catalog(con) -> tuple[list, list]:
    tables = con.execute("SELECT database_name, schema_name, table_name FROM "
                         "duckdb_tables() ORDER BY ALL").fetchall()
    views = con.execute("SELECT database_name, schema_name, view_name FROM "
                        "duckdb_views() WHERE NOT internal ORDER BY ALL").fetchall()
    return tables, views


# -- suspension events and blocking ---------------------------------------------
def test_block_finds_the_known_successors_of_the_tiny_world(tiny) -> None:
    """Recall of the known pairs: 1 -> 2, 2 -> 3 (actor A), 4 -> 5 (actor B).

    1 -> 3 shares A's stem (a later incarnation); 2 -> 6 (``abu_x77``, created
    day 100) shares the stem and name inside 2's window (day 49 + 60) but not
    1's (day 21 + 60); 7 shares nothing.
    """
    with measure.open(tiny) as ds:
        events = suspension_events(ds)
        cands = block(ds, events, LinkageSettings())
    pairs = set(cands.pairs.select("previous", "new").iter_rows())
    known = {(1, 2), (2, 3), (4, 5)}
    assert known <= pairs  # recall 1
    assert pairs == known | {(1, 3), (2, 6)}
    assert cands.pairs["previous"].is_sorted()
    assert cands.pairs_by_key["followers"] == 1 and cands.pairs_by_key["time"] == 0
    # every candidate has its comparison levels
    assert set(f"bin_{f}" for f in FEATURES) <= set(cands.pairs.columns)
    # the window sizes: accounts created in (lower_t, upper_t]; each window opens
    # at the later of the account's creation and 60 days (backup_days) before
    # its first suspended look-up, here its creation: 1 (day 0, 81]: 2, 3, 5, 7;
    # 2 (23, 109]: 3, 5, 6, 7; 4 (0, 88]: 2, 3, 5, 7
    sizes = dict(cands.window_sizes.select("previous", "n_window").iter_rows())
    assert sizes == {1: 4.0, 2: 4.0, 4: 4.0}
    assert cands.n_window_pairs == 12.0


def test_block_respects_per_key_settings(tiny) -> None:
    with measure.open(tiny) as ds:
        events = suspension_events(ds)
        cands = block(ds, events, LinkageSettings(per_key=1, u_random_pairs=0))
    assert cands.random_pairs is None
    # one candidate per key kind: on the stem 1 keeps 2 (nearest) and drops 3
    assert set(cands.pairs.select("previous", "new").iter_rows()) == {
        (1, 2), (2, 3), (2, 6), (4, 5)}


def test_suspension_events_cohort_and_window(tiny) -> None:
    with measure.open(tiny) as ds:
        ev = suspension_events(ds, window=30, cohort=[4, 99])
    assert ev.n_suspended == 1 and ev.window == 30.0
    row = ev.suspended.row(0, named=True)
    assert row["account_id"] == 4
    assert row["upper_t"] == day(28 + 30)
    assert ev.accounts.height == 7  # every account is a possible successor


# -- scoring ------------------------------------------------------------------------
# A known two-component mixture on four comparisons (the other three missing,
# hence uninformative): level probabilities among matches (M) and non-matches (U).
MIX_M = {"bio": [0.05, 0.10, 0.15, 0.30, 0.40], "avatar": [0.3, 0.7],
         "followers": [0.05, 0.05, 0.10, 0.15, 0.25, 0.40],
         "time_gap": [0.05, 0.10, 0.15, 0.30, 0.40]}
MIX_U = {"bio": [0.70, 0.15, 0.10, 0.03, 0.02], "avatar": [0.95, 0.05],
         "followers": [0.50, 0.30, 0.10, 0.05, 0.03, 0.02],
         "time_gap": [0.40, 0.25, 0.15, 0.12, 0.08]}
# About five standard errors of the estimates with these sample sizes (20,000
# pairs, 20% matches: a level probability of m is known to about 0.008, of u to
# about 0.004, lambda to 0.003; the grouped design: rho to 0.007). Over seeds
# 0-4 the largest errors were 0.018 (m), 0.011 (u), 0.005 (lambda) and 0.007
# (rho).
TOL_M, TOL_U, TOL_LAM = 0.04, 0.02, 0.015


def _mixture_candidates(z: np.ndarray, previous: np.ndarray, seed: int
                        ) -> Candidates:
    rng = np.random.default_rng(seed)
    n = z.size
    cols = {}
    for f in FEATURES:
        if f in MIX_M:
            lm = rng.choice(len(MIX_M[f]), n, p=MIX_M[f])
            lu = rng.choice(len(MIX_U[f]), n, p=MIX_U[f])
            cols[f"bin_{f}"] = np.where(z, lm, lu).astype(np.int8)
        else:
            cols[f"bin_{f}"] = np.full(n, -1, dtype=np.int8)
    pairs = pl.DataFrame({"previous": previous, "new": np.arange(n) + n, **cols})
    return Candidates(pairs=pairs, random_pairs=None,
                      window_sizes=pl.DataFrame({"previous": [], "n_window": []}),
                      n_window_pairs=0.0, pairs_by_key={})


def _assert_recovers(model) -> None:
    for f in MIX_M:
        L = len(MIX_M[f])
        np.testing.assert_allclose(model.m[f][:L], MIX_M[f], atol=TOL_M, err_msg=f)
        np.testing.assert_allclose(model.u[f][:L], MIX_U[f], atol=TOL_U, err_msg=f)
        # the time gap's backup level (no pair takes it here) is left out
        assert not model.m[f][L:].any() and not model.u[f][L:].any()


def test_score_em_recovers_a_known_mixture() -> None:
    """Pairwise Fellegi-Sunter EM (Winkler 1988) on 20,000 pairs, lambda = 0.2."""
    rng = np.random.default_rng(0)
    n = 20_000
    z = rng.random(n) < 0.2
    cands = _mixture_candidates(z, np.arange(n), seed=1)
    s = score(cands, LinkageSettings(grouped=False, u_random_pairs=0))
    assert s.model.converged
    assert abs(s.model.lam - 0.2) < TOL_LAM
    _assert_recovers(s.model)
    # the posterior separates the classes
    p = s.pairs["p_pair"].to_numpy()
    assert p[z].mean() > 0.85 and p[~z].mean() < 0.05


def test_score_grouped_em_recovers_share_with_a_successor() -> None:
    """One successor at most per suspended account: 5,000 accounts with 4
    candidates each, 60% of them with the successor among the candidates."""
    rng = np.random.default_rng(2)
    g, k = 5000, 4
    previous = np.repeat(np.arange(g), k)
    has = rng.random(g) < 0.6
    which = rng.integers(0, k, g)
    z = has[previous] & (np.tile(np.arange(k), g) == which[previous])
    s = score(_mixture_candidates(z, previous, seed=3),
              LinkageSettings(u_random_pairs=0))
    assert s.model.converged
    assert abs(s.model.lam - 0.6) < 0.03  # rho: about 4 standard errors
    _assert_recovers(s.model)
    # exclusive probabilities: each suspended account's candidates sum to <= 1
    tot = s.pairs.group_by("previous").agg(pl.col("probability").sum())
    assert tot["probability"].max() <= 1 + 1e-12


# -- assignment ---------------------------------------------------------------------
def _events(rows: list[tuple[int, float | None, float]]) -> object:
    """Suspension events by hand: (account, last active day, first suspended day)."""
    susp = pl.DataFrame(
        {"account_id": [r[0] for r in rows],
         "last_active": [day(r[1]) if r[1] is not None else None for r in rows],
         "first_suspended": [day(r[2]) for r in rows]},
        schema_overrides={"last_active": TS, "first_suspended": TS})
    return dataclasses.replace(_EMPTY_EVENTS, suspended=susp)


_EMPTY_EVENTS = measure.resurrection.SuspensionEvents(
    suspended=pl.DataFrame(), accounts=pl.DataFrame(), data_end=day(100),
    data_start=day(0), window=60.0)


def _scores(rows: list[tuple[int, int, float, float]]) -> Scores:
    """Scored pairs by hand: (previous, new, probability, created day)."""
    pairs = pl.DataFrame({"previous": [r[0] for r in rows], "new": [r[1] for r in rows],
                          "probability": [r[2] for r in rows],
                          "created_new": [day(r[3]) for r in rows]},
                         schema_overrides={"created_new": TS})
    return Scores(pairs=pairs, model=None)


def test_assign_gives_a_contested_successor_to_the_likelier_predecessor() -> None:
    """Two rival predecessors (10 and 11) for one successor (20): 20 goes to 10
    (0.9 > 0.8); 11 keeps its other candidate 21 (0.7); 12's only candidate is
    below the threshold."""
    events = _events([(10, 10, 14), (11, 12, 16), (12, None, 18)])
    scores = _scores([(10, 20, 0.9, 20), (11, 20, 0.8, 20), (11, 21, 0.7, 25),
                      (12, 22, 0.4, 19)])
    out = assign(scores, events, threshold=0.5)
    got = {(a, b): p for a, b, p in out.links.select(
        "previous", "new", "probability").iter_rows()}
    assert got == {(10, 20): 0.9, (11, 21): 0.7}
    assert out.threshold == 0.5
    assert out.expected_precision == pytest.approx((0.9 + 0.7) / 2, rel=1e-12)
    # delay from the midpoint of (last active, first suspended): 20 - 12 = 8 days
    # for 10; 25 - 14 = 11 days for 11
    delay = dict(out.links.select("previous", "delay_days").iter_rows())
    assert delay == {10: pytest.approx(8.0), 11: pytest.approx(11.0)}
    # lineages: 10 -> 20, 11 -> 21, 12 alone
    chains = sorted(out.lineages["accounts"].to_list())
    assert chains == [[10, 20], [11, 21], [12]]
    # without a threshold: the lowest >= 0.5 with mean probability >= 0.95 is
    # 0.9 (only the first link)
    assert assign(scores, events).links["new"].to_list() == [20]


def test_stage_outputs_are_frozen() -> None:
    out = Links(links=pl.DataFrame(), lineages=pl.DataFrame(), threshold=0.5,
                expected_precision=math.nan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.threshold = 0.6  # type: ignore[misc]


# -- measures -----------------------------------------------------------------------
def test_measure_returns_rate_on_hand_made_links(tiny) -> None:
    """Links 1 -> 2 (created day 23) and 4 -> 5 (day 30), both certain, on the tiny
    world (data end day 112).

    Suspension midpoints: 1 at (14 + 21) / 2 = 17.5, 4 at (21 + 28) / 2 = 24.5:
    both return after 5.5 days; 2 does not return. All three have 30 days of
    follow-up, so the 30-day rate is 2/3 (Kaplan-Meier: one step of 2 events
    among 3 at risk). Greenwood: d / (n (n - d)) = 2/3; the log-log interval
    is theta +- 1.96 se with theta = log(-log S), se^2 = (2/3) / log(S)^2.
    Followers 14 days after creation (look-up nearest within 7 days): account 2
    has 235 (day 35), account 5 542 (day 42); predecessors 114 and 421 at
    suspension: recovery (235 + 542) / (114 + 421).
    """
    with measure.open(tiny) as ds:
        events = suspension_events(ds)
        scores = _scores([(1, 2, 1.0, 23), (4, 5, 1.0, 30)])
        links = assign(scores, events, threshold=0.5)
        out = measure_returns(ds, events, scores, links, horizons=(5, 30),
                              n_imputations=3, n_boot=20, level=0.95)
        assert _catalog(ds.con)[0] == []  # no table left
    r30 = out.rates[30.0]
    assert r30.n == 3
    assert r30.estimate == pytest.approx(2 / 3, rel=1e-12)
    ls = math.log(1 / 3)
    theta, se = math.log(-ls), math.sqrt((2 / 3) / ls**2)
    z = 1.959963984540054
    want = (1 - math.exp(-math.exp(theta - z * se)),
            1 - math.exp(-math.exp(theta + z * se)))
    assert r30.ci == pytest.approx(want, rel=1e-9)
    assert out.rates[5.0].estimate == 0.0  # nobody returns within 5 days
    assert out.median_delay.estimate == pytest.approx(5.5)
    assert out.follower_recovery[2].estimate == pytest.approx(777 / 535, rel=1e-12)
    assert out.incarnations == {2: 2}  # two actors: 1 -> 2 and 4 -> 5
    assert out.curve["rate"][0] == 0.0 and out.curve["rate"][6] == pytest.approx(2 / 3)


# -- composition and the connection -------------------------------------------------
def test_analyze_is_the_composition_of_the_stages(tiny) -> None:
    with measure.open(tiny) as ds:
        res = analyze(ds, n_boot=20, n_imputations=4, seed=5)
        ev = suspension_events(ds)
        sc = score(block(ds, ev, seed=5))
        ln = assign(sc, ev)
        ret = measure_returns(ds, ev, sc, ln, n_boot=20, n_imputations=4, seed=5)
    assert res.pairs.equals(sc.pairs)
    assert res.links.equals(ln.links)
    assert res.rate_30d.estimate == ret.rates[30.0].estimate
    assert res.median_delay.ci == ret.median_delay.ci


def test_analyze_leaves_the_connection_as_found(tiny) -> None:
    with measure.open(tiny) as ds:
        before = _catalog(ds.con)
        assert before[1]  # the dataset's own views (accounts, observations, ...)
        analyze(ds, n_boot=5, n_imputations=2)
        assert _catalog(ds.con) == before


@pytest.mark.parametrize("where", ["nearest_distinct", "gather_frame"])
def test_failing_stage_leaves_the_connection_as_found(tiny, monkeypatch,
                                                      where) -> None:
    """A failure in the middle of blocking (after the keys, windows and blocks
    tables are made) still drops every table and frame."""
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(B, where, boom)
    with measure.open(tiny) as ds:
        before = _catalog(ds.con)
        with pytest.raises(RuntimeError, match="injected"):
            analyze(ds, n_boot=5, n_imputations=2)
        assert _catalog(ds.con) == before


def test_stage_logs_time_and_count_the_sql_steps(tiny) -> None:
    with measure.open(tiny) as ds:
        ev = suspension_events(ds)
        cands = block(ds, ev)
    rows = {r.name: r.rows for r in ev.log.records}
    assert rows["suspended"] == 3 and rows["suspension_events"] == 3
    steps = cands.log.to_polars()
    assert {"keys", "susp", "block_stem", "pairs", "pair_frame"} <= set(
        steps["step"].to_list())
    assert steps.filter(pl.col("step") == "pairs")["rows"].to_list() == [5]
    assert (steps["seconds"] >= 0).all()


# -- regression: pinned outputs -----------------------------------------------------
def _links_digest(links: pl.DataFrame) -> str:
    lines = "\n".join(f"{a},{b}" for a, b in sorted(
        links.select("previous", "new").iter_rows()))
    return hashlib.sha256(lines.encode()).hexdigest()


REL = 1e-9  # relative tolerance of the pinned floats (float rounding only)

# Outputs of this pipeline (`analyze`) on the small simulated world, seed 1
# (conftest `small_world`), pinned: a change in blocking, model, assignment or
# measures shows here. `links_sha256` is the SHA-256 of the sorted
# "previous,new" lines. The world has no backup accounts (the simulator's
# p_backup is 0 in the small preset): the default window, opened 60 days before
# the first suspended look-up, adds earlier candidates (none linked). In the
# grouped model (default, cohort) the time gap's non-match distribution is each
# suspended account's own window's level shares (`_fellegi_sunter`, "Per-window
# u of the time gap"), and the handle's is per stratum of how many accounts
# hold the suspended account's stem ("Term-frequency adjustment"); the pairwise
# model (grouped=False) has one for all.
# The rates and the median delay include the returns whose successor shares no
# blocking key (`measure_returns(unseen_returns=True)`, the default), drawn from
# their own random stream: every rate is at least what the link draws alone give
# (estimated blocking recall about 0.98 on this world).
PINNED = {
    "default": dict(
        options=dict(n_boot=50),
        n_suspended=453, n_pairs=8231, n_linked=149, threshold=0.5,
        pairs_by_key={"stem": 533, "display_name": 299, "avatar": 69, "bio": 242,
                      "followers": 6317, "handle_edit": 555, "time": 0,
                      "bio_letters": 1174},
        expected_precision=0.9590834166831695,
        rates={7.0: (0.20652654867256576, 0.17000500687174236, 0.24943886720948438,
                     452),
               30.0: (0.36834862385321177, 0.312953511266825, 0.42978702424197557,
                     327),
               60.0: (0.40123152709359566, 0.33263769535416077, 0.47787232310838734,
                     203)},
        median=(5.584751157406572, 4.380900173610644, 6.421561921296324),
        recovery={2: 0.34124947996117044, 3: 0.5044052863436124,
                  4: 0.21428571428571427},
        incarnations={1: 281, 2: 130, 3: 8, 4: 1},
        lam=0.34149771926686817, n_iter=23,
        links_sha256="895502e5d9db231115459f5131f03127fc74b2e79cdc4c3a09d3536bfa3f996b",
        sum_link_p=142.90342908579225, sum_pair_p=149.85680232973192,
        sum_delay=1005.006412037037, n_backup=0),
    "pairwise": dict(
        options=dict(grouped=False, u_random_pairs=0, n_boot=20, n_imputations=5,
                     seed=4),
        n_suspended=453, n_pairs=8231, n_linked=148, threshold=0.5429936494046411,
        pairs_by_key={"stem": 533, "display_name": 299, "avatar": 69, "bio": 242,
                      "followers": 6317, "handle_edit": 555, "time": 0,
                      "bio_letters": 1174},
        expected_precision=0.9526549169070508,
        rates={7.0: (0.23893805309734467, 0.19226435805896624, 0.2941046378296651,
                     452),
               30.0: (0.434250764525995, 0.3319798941288842, 0.5509841457522184,
                     327),
               60.0: (0.5024630541871916, 0.2976853396025706, 0.7446459179845382,
                     203)},
        median=(5.939074074074597, 4.905815682869798, 7.98709129050985),
        recovery={2: 0.2996720499969061, 3: 0.49786324786324787,
                  4: 0.21428571428571427},
        incarnations={1: 283, 2: 129, 3: 8, 4: 1},
        lam=0.02568236832059857, n_iter=169,
        links_sha256="f2465c0590e4a0626664aa6d03d94e6c24ebbfb4acd549d1b5a347179f9e6007",
        sum_link_p=140.99292770224352, sum_pair_p=165.0097726347591,
        sum_delay=1058.5073726851851, n_backup=0),
    "cohort": dict(
        options=dict(time_candidates=10, fuzzy_handles=False, per_key_by={},
                     n_boot=20, n_imputations=4, threshold=0.6,
                     discovery_lag_days=5, horizons=(3, 14), rate_days=14,
                     level=0.9, seed=11),
        n_suspended=60, n_pairs=1655, n_linked=15, threshold=0.6,
        pairs_by_key={"stem": 70, "display_name": 38, "avatar": 6, "bio": 21,
                      "followers": 869, "handle_edit": 0, "time": 600,
                      "bio_letters": 121},
        expected_precision=0.9990205213689844,
        rates={3.0: (0.08928571428571441, 0.043818279128644555, 0.17734345467905255,
                     56),
               14.0: (0.24509803921568654, 0.1529511387184539, 0.3766091503142447,
                     51)},
        median=(5.009467592590227, 3.087698784721942, 5.870920717591801),
        recovery={2: 0.22384665367121506},
        incarnations={1: 45, 2: 15},
        lam=0.2512898657994134, n_iter=13,
        links_sha256="7befcc6eb6391220ee495e4476f111d91c981a274aa35d979ec10bdc81e319bb",
        sum_link_p=14.985307820534766, sum_pair_p=15.077233261868907,
        sum_delay=93.0286574074074, n_backup=0),
}

# The same three configurations with backup_days=0: the window opens at the
# last active look-up, no pair takes the time gap's backup level and the model
# leaves it out (the pairwise fit is then, to the last bit, the fit of a time
# gap without that level: test_backup.py); the per-window shares of the grouped
# model then cover the five other levels.
PINNED_NO_BACKUP = {
    "default": dict(
        options=dict(n_boot=50),
        n_suspended=453, n_pairs=6979, n_linked=137, threshold=0.5,
        pairs_by_key={"stem": 318, "display_name": 205, "avatar": 69, "bio": 165,
                      "followers": 5907, "handle_edit": 400, "time": 0,
                      "bio_letters": 677},
        expected_precision=0.9847275655710183,
        rates={7.0: (0.19966814159291973, 0.1638587068433187, 0.24191506974330113,
                     452),
               30.0: (0.354892966360857, 0.30283349491011735, 0.41277724284686235,
                     327),
               60.0: (0.3884236453201967, 0.3221088549809421, 0.46287925358941984,
                     203)},
        median=(5.565173611110367, 3.9128281249991237, 6.521527777778829),
        recovery={2: 0.34627680591975285, 3: 0.5238372093023256,
                  4: 0.21428571428571427},
        incarnations={1: 294, 2: 122, 3: 6, 4: 1},
        lam=0.3389745530990935, n_iter=19,
        links_sha256="74e2fe589688f9a6d9b02730da827cf882f93c8bc0e6a2b9c13df9e67c967f61",
        sum_link_p=134.9076764832295, sum_pair_p=143.7005254980982,
        sum_delay=880.7599537037038),
    "pairwise": dict(
        options=dict(grouped=False, u_random_pairs=0, n_boot=20, n_imputations=5,
                     seed=4),
        n_suspended=453, n_pairs=6979, n_linked=145, threshold=0.5270112786408541,
        pairs_by_key={"stem": 318, "display_name": 205, "avatar": 69, "bio": 165,
                      "followers": 5907, "handle_edit": 400, "time": 0,
                      "bio_letters": 677},
        expected_precision=0.9525732894505081,
        rates={7.0: (0.2022123893805304, 0.1640400880074916, 0.24758086853890848,
                     452),
               30.0: (0.37003058103975617, 0.3040907525370381, 0.4444695503982503,
                     327),
               60.0: (0.4157635467980292, 0.3159584388881219, 0.5311574896812342,
                     203)},
        median=(5.817291666666279, 4.724834490739431, 7.448354745370307),
        recovery={2: 0.300148588410104, 3: 0.5066595631326585, 4: 0.21428571428571427},
        incarnations={1: 284, 2: 126, 3: 8, 4: 1},
        lam=0.027947070265692143, n_iter=291,
        links_sha256="0bde4eaec48d0c9b5fbca3da9a6e4485fae8d166ab3ddc8c5e0c57759765bd86",
        sum_link_p=138.12312697032368, sum_pair_p=157.23071772284376,
        sum_delay=1071.78125),
    "cohort": dict(
        options=dict(time_candidates=10, fuzzy_handles=False, per_key_by={},
                     n_boot=20, n_imputations=4, threshold=0.6,
                     discovery_lag_days=5, horizons=(3, 14), rate_days=14,
                     level=0.9, seed=11),
        n_suspended=60, n_pairs=1474, n_linked=15, threshold=0.6,
        pairs_by_key={"stem": 41, "display_name": 22, "avatar": 6, "bio": 15,
                      "followers": 828, "handle_edit": 0, "time": 600,
                      "bio_letters": 57},
        expected_precision=0.9987131091371808,
        rates={3.0: (0.08928571428571441, 0.043818279128644555, 0.17734345467905255,
                     56),
               14.0: (0.24509803921568657, 0.15992655578845616, 0.36425040305921796,
                     51)},
        median=(5.009467592590227, 3.117777777777519, 5.870920717591801),
        recovery={2: 0.22384665367121506},
        incarnations={1: 45, 2: 15},
        lam=0.25067085678354506, n_iter=10,
        links_sha256="7befcc6eb6391220ee495e4476f111d91c981a274aa35d979ec10bdc81e319bb",
        sum_link_p=14.980696637057711, sum_pair_p=15.040106721415556,
        sum_delay=93.02865740740741),
}
for _case, _want in PINNED_NO_BACKUP.items():
    PINNED[f"{_case}_no_backup"] = dict(
        _want, options=dict(_want["options"], backup_days=0))


@pytest.mark.parametrize("case", sorted(PINNED))
def test_analyze_reproduces_pinned_outputs_on_small_world(small_world, case) -> None:
    want = PINNED[case]
    opts = dict(want["options"])
    with measure.open(small_world) as ds:
        if case.startswith("cohort"):  # the 60 smallest ids of accounts seen suspended
            opts["cohort"] = ds.sql(
                "SELECT DISTINCT account_id FROM observations WHERE status = "
                "'suspended' ORDER BY account_id LIMIT 60")["account_id"].to_list()
        res = analyze(ds, **opts)
    assert (res.n_suspended, res.n_pairs, res.n_linked) == (
        want["n_suspended"], want["n_pairs"], want["n_linked"])
    assert res.pairs_by_key == want["pairs_by_key"]
    assert res.threshold == want["threshold"]
    assert _links_digest(res.links) == want["links_sha256"]
    assert res.expected_precision == pytest.approx(want["expected_precision"], rel=REL)
    assert set(res.rates) == set(want["rates"])
    for d, (est, lo, hi, n) in want["rates"].items():
        r = res.rates[d]
        assert r.n == n
        assert (r.estimate, *r.ci) == pytest.approx((est, lo, hi), rel=REL)
    m = res.median_delay
    assert (m.estimate, *m.ci) == pytest.approx(want["median"], rel=REL)
    assert {k: v.estimate for k, v in res.follower_recovery.items()} == pytest.approx(
        want["recovery"], rel=REL)
    assert res.incarnations == want["incarnations"]
    assert res.model.lam == pytest.approx(want["lam"], rel=REL)
    assert res.model.n_iter == want["n_iter"]
    assert res.links["probability"].sum() == pytest.approx(want["sum_link_p"], rel=REL)
    assert res.pairs["probability"].sum() == pytest.approx(want["sum_pair_p"], rel=REL)
    assert res.links["delay_days"].sum() == pytest.approx(want["sum_delay"], rel=REL)
    assert res.n_backup == want.get("n_backup", 0)


def test_stages_on_an_empty_cohort_give_empty_outputs(tiny) -> None:
    with measure.open(tiny) as ds:
        ev = suspension_events(ds, cohort=[999])
        cands = block(ds, ev)
        assert _catalog(ds.con)[0] == []
    sc = score(cands)
    out = assign(sc, ev)
    assert (ev.n_suspended, cands.n_pairs, out.n_linked) == (0, 0, 0)
    assert cands.random_pairs is None and sc.model is None
    assert set(cands.pairs_by_key.values()) == {0}


def test_unknown_look_ups_do_not_extend_the_data(tmp_path) -> None:
    """A look-up with status ``unknown`` (the platform said nothing usable) after
    every other one leaves the data's end, and so the follow-up, unchanged: the
    end stays the last informative look-up (day 112 of the tiny world)."""
    from measure.resurrection._stages import suspension_events
    from tests.resurrection.conftest import tiny_tables, write

    tables = tiny_tables()
    base = suspension_events(measure.open(write(tmp_path / "a", tables)))
    late = pl.DataFrame({"account_id": [7], "observed_at": [day(400)],
                         "status": ["unknown"], "followers_count": [None]},
                        schema=tables["observations"].schema)
    tables["observations"] = pl.concat([tables["observations"], late])
    more = suspension_events(measure.open(write(tmp_path / "b", tables)))
    assert more.data_end == base.data_end
    assert more.data_end.timestamp() == day(112).timestamp()
