"""Mastodon and Bluesky datasets through ``measure churn`` and ``measure
resurrection``, with the resurrection's agreement with the ``successors`` table.

Fixtures: ``tests/ingest/fixtures/mastodon/`` and ``tests/ingest/fixtures/bluesky/``
(see their READMEs). In the Mastodon fixture ``dune`` moves to
``dune@other.example`` (``moved``): ``deactivated`` at its old id, a voluntary move,
not a suspension. A second Mastodon source adds one look-up in which the server
later suspends the moved account (the suspended Account of the fixture's line 3,
with ``dune``'s id): the labelled pair then enters the linker's scope.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

import measure
from measure.cli import main
from measure.errors import EstimationError
from measure.ingest import ingest

from ._helpers import FIXTURES

MASTODON = FIXTURES / "mastodon"
BLUESKY = FIXTURES / "bluesky"
DUNE = ("dune@social.example", "dune@other.example")


def _run(cmd: str, path: Path, *extra: str) -> tuple[dict, str]:
    """``measure CMD --json PATH`` and the text output."""
    out = {}
    for flag in ("--json", None):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main([cmd, *([flag] if flag else []), str(path), *extra]) == 0
        out[flag] = buf.getvalue()
    return json.loads(out["--json"]), out[None]


@pytest.fixture(scope="module")
def mastodon(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "masto"
    ingest(MASTODON, "mastodon", out, level=0)
    return out


@pytest.fixture(scope="module")
def mastodon_moved_then_suspended(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    raw = root / "raw"
    raw.mkdir()
    lines = (MASTODON / "lookups.jsonl").read_bytes().splitlines(keepends=True)
    rec = json.loads(lines[2])  # amber's suspended Account (blank profile)
    assert rec["account"]["suspended"] is True
    rec["collected_at"] = "2024-03-29T12:00:00Z"
    rec["account"].update(id="100004", username="dune", acct="dune",
                          created_at="2021-11-11T00:00:00.000Z",
                          url="https://social.example/@dune")
    # only the look-up lines, not the follow pages (they need --level)
    body = b"".join(lines[:41]) + (json.dumps(rec) + "\n").encode()
    (raw / "lookups.jsonl").write_bytes(body)
    out = root / "masto2"
    ingest(raw, "mastodon", out)
    return out


def test_mastodon_moved_account_is_reported_outside_the_suspension_events(mastodon):
    churn, _ = _run("churn", mastodon)
    # dune's first gone look-up (deactivated) is the competing event, as cedar's
    assert (churn["n_suspended"], churn["n_deleted"]) == (3, 2)
    rz, text = _run("resurrection", mastodon)
    s = rz["successors"]
    assert (s["n_pairs"], s["n_in_scope"], s["out_of_scope"]) == (
        1, 0, {"not_suspended:deactivated": 1})
    assert (s["n_links"], s["n_linked_pairs"]) == (0, 0)
    assert s["precision"] is None and s["recall"] is None
    assert s["detail"]["successor_recall"]["reason"] == "no labelled pair in scope"
    assert ("1 labelled pair(s) outside the suspension events "
            "(not_suspended:deactivated: 1); not scored") in text
    # the linker's own links are those of the suspended accounts
    assert (rz["n_suspended"], rz["n_linked"]) == (3, 3)


def test_mastodon_successors_audit_without_labelled_suspensions_says_why(mastodon):
    with measure.open(mastodon) as ds, pytest.raises(
            EstimationError, match="none of the 0 labelled pair"):
        measure.resurrection.analyze(ds, successors="audit")
    assert main(["resurrection", str(mastodon), "--successors", "audit"]) == 1


def test_mastodon_moved_then_suspended_account_is_scored(
        mastodon_moved_then_suspended):
    path = mastodon_moved_then_suspended
    churn, _ = _run("churn", path)
    assert churn["n_suspended"] == 3  # dune's first gone look-up stays the move
    rz, text = _run("resurrection", path)
    assert rz["n_suspended"] == 4
    s = rz["successors"]
    # dune was last active on 8 March, first suspended on 29 March: the window
    # (backups sought 60 days before) holds dune@other.example (created 10 March)
    assert (s["n_pairs"], s["n_in_scope"], s["out_of_scope"], s["n_in_window"],
            s["n_candidates"]) == (1, 1, {}, 1, 1)
    with measure.open(path) as ds:
        res = measure.resurrection.analyze(ds)
    pair = res.successors.pairs.row(0, named=True)
    assert (pair["previous"], pair["new"], pair["scope"]) == (*DUNE, "in_scope")
    linked = DUNE in set(res.links.select("previous", "new").iter_rows())
    print(f"\nmoved then suspended: probability of the labelled pair "
          f"{pair['probability']:.4f}, linked {linked}")
    assert s["n_linked_pairs"] == int(linked)
    assert s["recall"] == float(linked)
    assert "agreement with the platform's successors table" in text
    assert "every labelled predecessor is a suspension event" in text


def test_bluesky_dataset_runs_through_churn_and_resurrection_without_successors(
        tmp_path):
    out = tmp_path / "bsky"
    ingest(BLUESKY, "bluesky", out, level=0)
    with measure.open(out) as ds:
        assert not ds.has("successors")
    churn, _ = _run("churn", out)
    assert (churn["n_accounts"], churn["n_suspended"], churn["n_deleted"],
            churn["n_censored"]) == (12, 4, 2, 6)
    rz, text = _run("resurrection", out)
    assert (rz["n_suspended"], rz["n_linked"]) == (4, 2)
    assert rz["successors"] is None
    assert "successors table" not in text
