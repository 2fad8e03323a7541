"""Resurrection reads the platform's ``successors`` table as labelled links.

The hand-made dataset is the tiny one of ``conftest.py`` (two actors, two
unrelated accounts) with a ``successors`` table whose rows agree and disagree
with given links in known ways, plus a moved (``deactivated``) account and a
labelled predecessor that was never looked up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

import measure
from measure.cli import main
from measure.errors import ConfigError
from measure.resurrection import analyze, block, score, suspension_events
from measure.resurrection._stages import Links
from measure.resurrection._successors import successor_agreement, successor_sheet
from measure.resurrection._synthetic import make_synthetic

from .conftest import TS, day, tiny_tables, write

#: Two-sided 95% normal quantile, Phi^-1(0.975).
Z95 = 1.959963984540054


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval, written out from the paper's formula."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


#: Labelled pairs: (1, 2) the linker's own link; (2, 3) and (4, 7) pairs the
#: given links miss (they link 2 -> 6 and 4 -> 5); (5, 3): 5 is never suspended
#: (active to the end); (8, 5): 8 was never looked up; (9, 7): 9 moved
#: (``deactivated``). (1, 2) appears twice, seen on two look-ups.
LABELLED = [(1, 2, 30.0), (1, 2, 37.0), (2, 3, 60.0), (4, 7, 30.0), (5, 3, 60.0),
            (8, 5, 40.0), (9, 7, 40.0)]


def labelled_tables() -> dict[str, pl.DataFrame]:
    """The tiny tables plus account 9 (moved on day 35) and ``successors``."""
    t = tiny_tables()
    moved = pl.DataFrame({
        "account_id": [9], "screen_name": ["birch_moss"],
        "display_name": ["Birch"], "description": ["ferns and moss"],
        "profile_image_hash": ["h9"], "created_at": [day(0)]},
        schema_overrides={"created_at": TS}).with_columns(
        pl.col("created_at").alias("first_seen"))
    obs9 = pl.DataFrame(
        [(9, day(d), "active" if d < 35 else "deactivated", None if d >= 35 else 10)
         for d in range(0, 113, 7)],
        schema=t["observations"].schema, orient="row")
    succ = pl.DataFrame(
        [(a, b, day(d), "moved") for a, b, d in LABELLED],
        schema=[("account_id", pl.Int64), ("successor_id", pl.Int64),
                ("observed_at", TS), ("source", pl.Utf8)], orient="row")
    return {"accounts": pl.concat([t["accounts"], moved], how="vertical_relaxed"),
            "observations": pl.concat([t["observations"], obs9]),
            "edges": t["edges"], "successors": succ}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("succ") / "labelled", labelled_tables())


def given_links(pairs: list[tuple[int, int]]) -> Links:
    """Accepted links fixed by hand (not by the model), as ``assign`` returns them."""
    links = pl.DataFrame({"new": [b for _, b in pairs],
                          "previous": [a for a, _ in pairs],
                          "probability": [0.9] * len(pairs)},
                         schema={"new": pl.Int64, "previous": pl.Int64,
                                 "probability": pl.Float64})
    lin = pl.DataFrame({"actor_id": [], "accounts": [], "n_accounts": []})
    return Links(links=links, lineages=lin, threshold=0.5, expected_precision=0.9)


def test_agreement_counts_precision_and_recall_of_known_disagreements(labelled):
    with measure.open(labelled) as ds:
        events = suspension_events(ds)
        scores = score(block(ds, events))
        cand = set(scores.pairs.select("previous", "new").iter_rows())
        # blocking proposes (1, 2) (name, avatar, stem) and (2, 3) (full-width
        # stem); 7 shares nothing with 4
        assert {(1, 2), (2, 3)} <= cand and (4, 7) not in cand
        links = given_links([(1, 2), (2, 6), (4, 5)])
        ag = successor_agreement(ds, events, scores, links)
    assert ag is not None
    assert (ag.n_pairs, ag.n_predecessors, ag.n_in_scope) == (6, 6, 3)
    assert ag.out_of_scope == {"not_observed": 1, "not_suspended:active": 1,
                               "not_suspended:deactivated": 1}
    # 2 (day 23), 3 (day 52) and 7 (day 25) fall in the windows of 1, 2 and 4
    assert (ag.n_in_window, ag.n_candidates) == (3, 2)
    # links from 1, 2, 4; only 1 -> 2 is labelled; of the 3 labelled pairs in
    # scope one is linked, of the 2 that blocking proposed one is linked
    assert (ag.n_links, ag.n_agree, ag.n_linked_pairs) == (3, 1, 1)
    assert ag.precision.estimate == pytest.approx(1 / 3, abs=1e-12)
    assert ag.recall.estimate == pytest.approx(1 / 3, abs=1e-12)
    assert ag.recall_among_candidates.estimate == pytest.approx(0.5, abs=1e-12)
    assert ag.precision.ci == pytest.approx(wilson(1, 3), abs=1e-12)
    assert ag.recall_among_candidates.ci == pytest.approx(wilson(1, 2), abs=1e-12)
    assert ag.expected_precision == pytest.approx(0.9, abs=1e-12)
    rows = {(r["previous"], r["new"]): r for r in ag.pairs.iter_rows(named=True)}
    assert rows[(1, 2)]["first_observed"] == day(30)  # earliest of two rows
    assert (rows[(2, 3)]["linked_to"], rows[(2, 3)]["agree"]) == (6, False)
    assert (rows[(9, 7)]["scope"], rows[(9, 7)]["agree"]) == (
        "not_suspended:deactivated", None)


def test_agreement_counts_suspended_predecessors_outside_the_cohort(labelled):
    with measure.open(labelled) as ds:
        events = suspension_events(ds, cohort=[1, 2])
        scores = score(block(ds, events))
        ag = successor_agreement(ds, events, scores,
                                 given_links([(1, 2), (2, 3)]))
    assert ag is not None
    assert ag.n_in_scope == 2 and ag.out_of_scope["not_in_cohort"] == 1
    assert (ag.n_links, ag.n_agree, ag.n_linked_pairs) == (2, 2, 2)
    assert ag.precision.estimate == ag.recall.estimate == 1.0
    assert ag.precision.ci == pytest.approx(wilson(2, 2), abs=1e-12)


def test_analyze_and_cli_report_agreement_with_the_links_they_made(labelled,
                                                                  capsys):
    rc = main(["resurrection", str(labelled), "--json", "--threshold", "0.5",
               "--imputations", "4"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    s = d["successors"]
    assert (s["n_pairs"], s["n_in_scope"], s["threshold"]) == (6, 3, 0.5)
    # recompute the agreement from the links the run accepted (set arithmetic)
    with measure.open(labelled) as ds:
        res = analyze(ds, threshold=0.5, n_imputations=4, n_boot=20)
    assert res.successors.to_dict()["n_links"] == s["n_links"]
    link = dict(zip(res.links["previous"].to_list(), res.links["new"].to_list(),
                    strict=True))
    in_scope = [(1, 2), (2, 3), (4, 7)]
    from_labelled = [a for a in {1, 2, 4} if a in link]
    agree = sum(link[a] in {b for p, b in in_scope if p == a}
                for a in from_labelled)
    linked = sum(link.get(a) == b for a, b in in_scope)
    assert (s["n_links"], s["n_agree"], s["n_linked_pairs"]) == (
        len(from_labelled), agree, linked)
    assert s["recall"] == pytest.approx(linked / 3, abs=1e-12)
    assert s["recall_ci"] == pytest.approx(list(wilson(linked, 3)), abs=1e-12)
    text = res.summary()
    assert "agreement with the platform's successors table" in text
    assert ("3 labelled pair(s) outside the suspension events (not_observed: 1, "
            "not_suspended:active: 1, not_suspended:deactivated: 1)") in text


def test_successors_ignore_and_datasets_without_the_table_report_nothing(
        labelled, tiny):
    with measure.open(labelled) as ds:
        res = analyze(ds, successors="ignore", n_imputations=2, n_boot=10)
    assert res.successors is None and res.to_dict()["successors"] is None
    with measure.open(tiny) as ds:
        res = analyze(ds, n_imputations=2, n_boot=10)
    assert res.successors is None
    assert "successors table" not in res.summary()


def test_successors_option_is_checked(labelled, tiny):
    with measure.open(labelled) as ds:
        with pytest.raises(ConfigError, match="one of report, audit, ignore"):
            analyze(ds, successors="yes")
        sheet = pl.DataFrame({"previous": ["1"], "new": ["2"], "stratum": ["linked"],
                              "N_h": [1], "n_h": [1], "match": [1.0]})
        with pytest.raises(ConfigError, match="not both"):
            analyze(ds, successors="audit", audit=sheet)
    with measure.open(tiny) as ds, pytest.raises(ConfigError, match="has none"):
        analyze(ds, successors="audit")


def test_successor_sheet_codes_every_candidate_of_a_labelled_predecessor(labelled):
    with measure.open(labelled) as ds:
        events = suspension_events(ds)
        scores = score(block(ds, events))
        links = given_links([(1, 2), (2, 6), (4, 5)])
        ag = successor_agreement(ds, events, scores, links)
        sheet = successor_sheet(ag, scores, links)
    cand = scores.pairs.filter(pl.col("previous").is_in([1, 2, 4]))
    assert sheet.height == cand.height
    coded = {(int(r["previous"]), int(r["new"])): r["match"]
             for r in sheet.iter_rows(named=True)}
    assert coded[(1, 2)] == 1.0 and coded[(2, 3)] == 1.0
    assert sum(coded.values()) == 2.0  # (4, 7) is no candidate
    # N_h counts the stratum's candidate pairs of every predecessor
    n_all = scores.pairs.height
    assert sheet.group_by("stratum").agg(pl.col("N_h").first())["N_h"].sum() <= n_all


@pytest.fixture(scope="module")
def synth_labelled(tmp_path_factory: pytest.TempPathFactory):
    """A synthetic world with the true pairs of a random half of the returns
    labelled in ``successors`` (labels missing completely at random).

    Successors mostly take new handles and rarely reuse the profile, so that the
    linker misses some returns (recall 0.933 over all 75 true pairs).
    """
    syn = make_synthetic(150, 300, seed=11, p_unrelated_name=0.8, p_reuse_name=0.2,
                         p_reuse_avatar=0.2, p_reuse_bio=0.1,
                         followers_per_account=5)
    true = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("predecessor_id").alias("account_id"),
        pl.col("account_id").alias("successor_id"))
    lab = true.sample(fraction=0.5, seed=7).sort("account_id")
    path = tmp_path_factory.mktemp("succ") / "synth"
    write(path, {"accounts": syn.accounts, "observations": syn.observations,
                 "edges": syn.edges, "successors": lab})
    return path, true, lab


def test_labelled_random_half_estimates_the_links_precision_and_recall(
        synth_labelled):
    path, true, lab = synth_labelled
    with measure.open(path) as ds:
        res = analyze(ds, n_imputations=4, n_boot=20)
    ag = res.successors
    assert ag.n_in_scope == lab.height and ag.out_of_scope == {}
    key = ["previous", "new"]
    t = true.rename({"account_id": "previous", "successor_id": "new"})
    tp = res.links.join(t, on=key).height
    prec_all, rec_all = tp / res.n_linked, tp / t.height
    print(f"\nsynthetic: {lab.height} labelled of {t.height} true pairs; "
          f"precision {ag.precision.estimate:.3f} {ag.precision.ci} (all links "
          f"{prec_all:.3f}); recall {ag.recall.estimate:.3f} {ag.recall.ci} (all "
          f"{rec_all:.3f})")
    # a random half of the true pairs: the Wilson intervals cover the figures of
    # all true pairs
    assert ag.precision.ci[0] <= prec_all <= ag.precision.ci[1]
    assert ag.recall.ci[0] <= rec_all <= ag.recall.ci[1]


def test_successors_audit_recalibrates_the_rates_on_the_labelled_pairs(
        synth_labelled):
    path, _, lab = synth_labelled
    with measure.open(path) as ds:
        res = analyze(ds, successors="audit", n_imputations=4, n_boot=20)
    assert res.successors.recalibrated
    assert "recalibrated on the successors table's labelled pairs" in res.method
    assert "recalibrated on them" in res.summary()
    coded = int(res.method.split("as an audit of ")[1].split(" pairs")[0])
    # every candidate pair of the labelled predecessors is coded
    assert coded == res.pairs.filter(
        pl.col("previous").is_in(lab["account_id"].to_list())).height

