"""Backups: successors created before the suspension of the old account.

An actor may open its next account while the old one is still alive (a backup),
so that it is present again at once when the old one is suspended. The search
window then opens ``backup_days`` before the first suspended look-up (never
before the suspended account's creation); such a link has the time-gap level
"created before the last active look-up" and counts as a return at delay 0.

The dataset is the tiny world (``conftest.tiny_tables``: actors A ``1 -> 2 -> 3``
and B ``4 -> 5``) plus actor C: ``sham_lion`` (8, created day 0, looked up weekly,
last active day 35, first suspended day 42) and its backup ``sham_lion2`` (9,
created day 32, ten days before the first suspended look-up, with the same
display name, avatar and bio).
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

import measure
from measure.cli import main
from measure.errors import ConfigError
from measure.resurrection import (
    LinkageSettings,
    Scores,
    analyze,
    assign,
    block,
    measure_returns,
    suspension_events,
)
from measure.resurrection import _fellegi_sunter as FS
from measure.resurrection._features import BACKUP_LEVEL, COMPARISONS, FEATURES
from tests.resurrection.conftest import TS, day, tiny_tables, write

NO_BACKUP = LinkageSettings(backup_days=0)


def backup_tables() -> dict[str, pl.DataFrame]:
    """The tiny world plus actor C with a backup account (see the module doc)."""
    t = tiny_tables()
    acc = pl.DataFrame({
        "account_id": [8, 9],
        "screen_name": ["sham_lion", "sham_lion2"],
        "display_name": ["Lion of Sham", "Lion of Sham"],
        "description": ["for the ummah, remaining and expanding"] * 2,
        "profile_image_hash": ["h8", "h8"],
        "created_at": [day(0), day(32)],
    }, schema_overrides={"created_at": TS}).with_columns(
        pl.col("created_at").alias("first_seen"))
    obs = []
    for a, first, susp in ((8, 0, 42), (9, 33, None)):
        for t_ in range(first, 113, 7):
            active = susp is None or t_ < susp
            obs.append((a, day(t_), "active" if active else "suspended",
                        100 * a + t_ if active else None))
    o = pl.DataFrame(obs, schema=t["observations"].schema, orient="row")
    t["accounts"] = pl.concat([t["accounts"], acc])
    t["observations"] = pl.concat([t["observations"], o])
    return t


@pytest.fixture(scope="module")
def backup_world(tmp_path_factory: pytest.TempPathFactory):
    """The backup dataset on disk."""
    return write(tmp_path_factory.mktemp("rs") / "backup", backup_tables())


def _pair_rows(frame: pl.DataFrame) -> dict[tuple[int, int], dict]:
    return {(r["previous"], r["new"]): r for r in frame.iter_rows(named=True)}


# -- the window ---------------------------------------------------------------------
def test_window_opens_backup_days_before_the_first_suspended_look_up(tiny) -> None:
    """Tiny world: 1 created day 0, last active 14, first suspended 21; 2 created
    23, 42, 49; 4 created 0, 21, 28. The window opens at the earlier of the last
    active look-up and the later of the creation and ``backup_days`` before the
    first suspended look-up; it always closes 60 days after that look-up."""
    with measure.open(tiny) as ds:
        lower = {bd: suspension_events(ds, settings=LinkageSettings(
            backup_days=bd)).suspended["lower_t"].to_list()
            for bd in (0, 7.5, 10, 60)}
        upper = suspension_events(ds).suspended["upper_t"].to_list()
    assert lower[0] == [day(14), day(42), day(21)]  # the last active look-ups
    # 10 days: 21 - 10 = 11, 49 - 10 = 39, 28 - 10 = 18 (all after the creation)
    assert lower[10] == [day(11), day(39), day(18)]
    # fractional days are bound as microseconds: 21 - 7.5 = 13.5 < 14
    assert lower[7.5] == [day(13.5), day(41.5), day(20.5)]
    # 60 days reach back past each account's creation: the creation bounds it
    assert lower[60] == [day(0), day(23), day(0)]
    assert upper == [day(81), day(109), day(88)]


def test_backup_is_a_candidate_only_when_the_window_reaches_back(
        backup_world) -> None:
    with measure.open(backup_world) as ds:
        ev = suspension_events(ds)
        cands = block(ds, ev, LinkageSettings())
        ev0 = suspension_events(ds, settings=NO_BACKUP)
        cands0 = block(ds, ev0, NO_BACKUP)
    assert ev.backup_days == 60.0 and ev0.backup_days == 0.0
    row8 = ev0.suspended.filter(pl.col("account_id") == 8).row(0, named=True)
    assert row8["lower_t"] == day(35)  # backup_days 0: the last active look-up
    pairs = _pair_rows(cands.pairs)
    assert (8, 9) in pairs
    assert (8, 9) not in _pair_rows(cands0.pairs)
    # found by its handle stem, display name, avatar and bio (bits 1, 2, 4, 8)
    assert pairs[(8, 9)]["keys"] & 15 == 15
    # created ten days before the first suspended look-up, three before the last
    # active one: the backup level of the time gap
    assert pairs[(8, 9)]["gap_days"] == pytest.approx(-10.0)
    assert pairs[(8, 9)]["bin_time_gap"] == BACKUP_LEVEL
    # the other pairs keep their levels: created after the last active look-up
    assert pairs[(1, 2)]["bin_time_gap"] == 4 and pairs[(2, 6)]["bin_time_gap"] == 0
    # the pairs both windows find have the same comparison levels
    both = set(_pair_rows(cands0.pairs))
    for key in both:
        for f in FEATURES:
            assert pairs[key][f"bin_{f}"] == _pair_rows(cands0.pairs)[key][f"bin_{f}"]


def test_block_refuses_settings_the_events_were_not_made_with(backup_world) -> None:
    with measure.open(backup_world) as ds:
        ev0 = suspension_events(ds, settings=NO_BACKUP)
        with pytest.raises(ConfigError, match="backup_days=0 but the settings say 60"):
            block(ds, ev0, LinkageSettings())
        # without settings, block takes the events' backup_days
        assert (8, 9) not in _pair_rows(block(ds, ev0).pairs)


# -- links and the rate -------------------------------------------------------------
def test_backup_is_linked_and_counts_as_a_return_at_delay_zero(backup_world) -> None:
    with measure.open(backup_world) as ds:
        res = analyze(ds, n_boot=20, n_imputations=4, seed=3)
        res0 = analyze(ds, backup_days=0, n_boot=20, n_imputations=4, seed=3)
    links = _pair_rows(res.links)
    assert (8, 9) in links
    assert links[(8, 9)]["backup"] is True
    assert links[(8, 9)]["delay_days"] == 0.0
    assert not any(r["backup"] for k, r in links.items() if k != (8, 9))
    assert res.n_backup == 1 and res.to_dict()["n_backup_links"] == 1
    assert "backups (successor created before the suspension, sought up to 60 " \
        "days before it): 1 of the links" in res.summary()
    # without the backup window 8 has no candidate, hence no link
    assert 8 not in res0.links["previous"].to_list()
    assert res0.n_backup == 0 and "not sought" in res0.summary()
    assert (8, 9) not in _pair_rows(res0.pairs)


def test_rate_counts_a_backup_within_every_horizon(backup_world) -> None:
    """Certain links 1 -> 2 (created day 23), 4 -> 5 (day 30) and the backup
    8 -> 9 (day 32, before 8's last active look-up on day 35); 2 has none.

    Suspension midpoints: 1 at 17.5, 4 at 24.5 (returns after 5.5 days); 8's
    successor predates its last active look-up, so the suspension is taken at
    that look-up and the delay is 0. All four suspended accounts (1, 2, 4, 8)
    have 30 days of follow-up (data end day 112). Within 1 day: 1 of 4 (the
    backup); within 30 days: 3 of 4; the curve is 1/4 at day 0.
    """
    with measure.open(backup_world) as ds:
        events = suspension_events(ds)
        pairs = pl.DataFrame({"previous": [1, 4, 8], "new": [2, 5, 9],
                              "probability": [1.0, 1.0, 1.0],
                              "created_new": [day(23), day(30), day(32)]},
                             schema_overrides={"created_new": TS})
        scores = Scores(pairs=pairs, model=None)
        links = assign(scores, events, threshold=0.5)
        out = measure_returns(ds, events, scores, links, horizons=(1, 30),
                              n_imputations=3, n_boot=20)
    assert dict(links.links.select("previous", "backup").iter_rows()) == {
        1: False, 4: False, 8: True}
    assert dict(links.links.select("previous", "delay_days").iter_rows()) == {
        1: pytest.approx(5.5), 4: pytest.approx(5.5), 8: 0.0}
    assert out.rates[1.0].n == 4 and out.rates[30.0].n == 4
    assert out.rates[1.0].estimate == pytest.approx(1 / 4, rel=1e-12)
    assert out.rates[30.0].estimate == pytest.approx(3 / 4, rel=1e-12)
    assert out.curve["rate"][0] == pytest.approx(1 / 4, rel=1e-12)


def test_cli_backup_days_option(backup_world, capsys) -> None:
    rc = main(["resurrection", str(backup_world), "--json", "--imputations", "2",
               "--backup-days", "0"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["backup_days"] == 0.0 and d["n_backup_links"] == 0


# -- the model's optional level -----------------------------------------------------
def _five_level_time_gap() -> tuple:
    """The comparisons with the time gap's backup level removed."""
    return tuple(c if c.name != "time_gap" else type(c)(
        c.name, c.levels[:BACKUP_LEVEL]) for c in COMPARISONS)


@pytest.mark.parametrize("grouped", [False, True, "window_u"])
def test_model_without_backups_is_the_model_without_the_level(monkeypatch,
                                                              grouped) -> None:
    """An optional level no pair takes is left out: the fit equals, to the last
    bit, a fit whose time gap has no such level (EM on 3,000 pairs drawn from
    fixed level probabilities, no pair at the backup level; ``window_u``: the
    grouped model with each window's own time-gap shares, windows of 40
    accounts none of which is at the backup level)."""
    rng = np.random.default_rng(11)
    n = 3000
    y = rng.random(n) < 0.3
    cols = []
    for c in COMPARISONS:
        L = len(c.levels) - (1 if c.name == "time_gap" else 0)
        p = np.linspace(1, 2, L) / np.linspace(1, 2, L).sum()
        x = np.where(y, rng.choice(L, n, p=p), rng.choice(L, n, p=p[::-1]))
        cols.append(x)
    bins = np.column_stack(cols).astype(np.int64)
    group = np.repeat(np.arange(n // 3), 3)

    counts = np.zeros((n // 3, 6))
    np.add.at(counts, (group, bins[:, FEATURES.index("time_gap")]), 1)
    counts[:, :BACKUP_LEVEL] += rng.integers(0, 7, (n // 3, BACKUP_LEVEL))
    counts[:, 0] += 40 - counts.sum(axis=1)  # at most 3 + 5 * 6 before: >= 7 added

    def fit():
        if grouped == "window_u":
            L = len(FS.COMPARISONS[FEATURES.index("time_gap")].levels)
            return FS.fit_em_grouped(bins, group, n_cand=np.full(n // 3, 40.0),
                                     window_counts={"time_gap": counts[:, :L]})
        if grouped:
            return FS.fit_em_grouped(bins, group)
        return FS.fit_em(bins)

    with_level = fit()
    monkeypatch.setattr(FS, "COMPARISONS", _five_level_time_gap())
    without = fit()
    assert with_level.lam == without.lam and with_level.n_iter == without.n_iter
    for name in FEATURES:
        a_m, b_m = with_level.m[name], without.m[name]
        a_u, b_u = with_level.u[name], without.u[name]
        assert np.array_equal(a_m[:b_m.size], b_m) and np.array_equal(
            a_u[:b_u.size], b_u), name
    # the left-out level: m = u = 0 and weight 0 (no evidence)
    assert with_level.m["time_gap"][BACKUP_LEVEL] == 0.0
    assert with_level.u["time_gap"][BACKUP_LEVEL] == 0.0
    monkeypatch.undo()
    w = with_level.weights().filter((pl.col("comparison") == "time_gap")
                                    & (pl.col("level") == BACKUP_LEVEL))
    assert w["weight"].to_list() == [0.0]


def test_em_learns_the_backup_level() -> None:
    """Pairwise EM on 20,000 pairs (lambda 0.25) whose time gap has the backup
    level with m = 0.15 among matches and u = 0.40 among non-matches recovers
    the time gap's level probabilities within 0.03 (about five binomial standard
    errors: 5,000 matches give 0.005, 15,000 non-matches 0.004; over seeds 0-4
    the largest errors were 0.011 for m, 0.006 for u and lambda). Avatar, bio
    and followers carry evidence too (a latent class model needs three or more
    indicators to be identified); the other comparisons are missing."""
    rng = np.random.default_rng(5)
    n = 20_000
    y = rng.random(n) < 0.25
    levels = {"time_gap": ([0.02, 0.05, 0.13, 0.25, 0.40, 0.15],
                           [0.25, 0.15, 0.08, 0.07, 0.05, 0.40]),
              "avatar": ([0.3, 0.7], [0.95, 0.05]),
              "bio": ([0.05, 0.10, 0.15, 0.30, 0.40], [0.70, 0.15, 0.10, 0.03, 0.02]),
              "followers": ([0.05, 0.05, 0.10, 0.15, 0.25, 0.40],
                            [0.50, 0.30, 0.10, 0.05, 0.03, 0.02])}
    bins = np.full((n, len(COMPARISONS)), -1, dtype=np.int64)
    for name, (m, u) in levels.items():
        k = FEATURES.index(name)
        bins[:, k] = np.where(y, rng.choice(len(m), n, p=m),
                              rng.choice(len(u), n, p=u))
    model = FS.fit_em(bins)
    assert model.converged
    assert abs(model.lam - 0.25) < 0.015
    m_t, u_t = levels["time_gap"]
    np.testing.assert_allclose(model.m["time_gap"], m_t, atol=0.03)
    np.testing.assert_allclose(model.u["time_gap"], u_t, atol=0.03)
    assert math.isclose(model.m["time_gap"].sum(), 1.0)
