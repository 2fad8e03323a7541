"""Pseudonymised exports of platform datasets: which numbers hold, nothing leaks.

The platform fixtures (``tests/ingest/fixtures/``: Bluesky DIDs, Mastodon
``user@domain`` and Telegram marked ids as text; twarc2 follower pages with integer
ids) are ingested and exported in each mode of ``measure export``
(:func:`measure.dataset.export_pseudonymised`). Compared with the original, with
tolerance 0 (every JSON field of ``measure churn --json`` / ``measure resurrection
--json`` but the dataset's id; every census term):

* churn is identical in every mode;
* resurrection is identical with ``--handles substitute --keep-text
  display_name,description`` and differs with hashed handles and no text, the
  default (linking compares handles letter by letter, and names and bios);
* the census headline is identical in every ordered mode; its model-assisted and
  classifier estimates, which read bio lengths, need the bios kept.

No original id, handle or avatar hash appears in any exported file (raw bytes and
every Parquet cell); with free text kept, handles appear only inside the kept
text, as ``docs/sharing.md`` says. The ingest's quarantine copies raw records,
ids and handles included: its ``raw``, ``reason`` and ``source_file`` are dropped
even with ``--keep-text``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import measure
from measure.cli import main
from measure.dataset import export_pseudonymised
from measure.ingest import ingest

from ._helpers import FIXTURES

KEY = b"measure-test-key-0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "ingest"
LINKAGE_TEXT = ("display_name", "description")
#: The export modes: keyword arguments of ``export_pseudonymised``.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "substitute": {"handle_mode": "substitute"},
    "linkage": {"handle_mode": "substitute", "keep_text": LINKAGE_TEXT},
    "hmac": {"id_mode": "hmac"},
    "all_text": {"handle_mode": "substitute", "keep_text": True},
}
#: Columns that hold text people wrote (kept as written with --keep-text).
PEOPLE_TEXT = {"display_name", "description", "location", "text"}


def _ingest_platforms(root: Path) -> dict[str, Path]:
    out = {"bluesky": root / "bluesky", "mastodon": root / "mastodon",
           "telegram": root / "telegram", "twarc2": root / "twarc2"}
    ingest(FIXTURES / "bluesky", "bluesky", out["bluesky"], level=0)
    ingest(FIXTURES / "mastodon", "mastodon", out["mastodon"], level=0)
    ingest(FIXTURES / "telegram", "telegram", out["telegram"])
    tw = out["twarc2"]
    ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml", into=tw)
    for level in (0, 1):
        ingest(FIXTURES / "twarc2_follows" / f"level{level}", "twarc2-follows",
               into=tw, level=level)
    ingest(EXAMPLES / "coded_sheet.csv", "table", mapping=EXAMPLES / "labels.toml",
           into=tw)
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """``(dataset, mode) -> path``; mode ``original`` is the ingested dataset."""
    root = tmp_path_factory.mktemp("platform-export")
    out: dict[tuple[str, str], Path] = {}
    for name, path in _ingest_platforms(root).items():
        out[(name, "original")] = path
        for mode, kw in MODES.items():
            dest = root / f"{name}-{mode}"
            export_pseudonymised(path, dest, key=KEY, **kw)
            out[(name, mode)] = dest
    return out


def _json(cmd: str, path: Path) -> dict[str, Any]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([cmd, "--json", str(path)]) == 0
    res = json.loads(buf.getvalue())
    res.pop("dataset", None)  # the export's own id
    res.pop("timings", None)  # seconds of this run
    return res


def _differ(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


# -- which numbers hold ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["bluesky", "mastodon", "telegram"])
def test_churn_is_identical_in_every_export_mode(exports, name):
    orig = _json("churn", exports[(name, "original")])
    assert orig["n_suspended"] >= 1  # a real comparison: suspensions were found
    for mode in MODES:
        assert _differ(orig, _json("churn", exports[(name, mode)])) == [], mode


@pytest.mark.parametrize(("name", "links"), [("bluesky", 2), ("mastodon", 3)])
def test_resurrection_needs_substituted_handles_and_linkage_text(exports, name,
                                                                 links):
    """Identical with ``--handles substitute --keep-text display_name,description``.

    With hashed handles and no text (the default) the linker loses the handle's
    letters, the display names and the bios; on these fixtures no link is left.
    """
    orig = _json("resurrection", exports[(name, "original")])
    assert orig["n_linked"] == links
    assert _differ(orig, _json("resurrection", exports[(name, "linkage")])) == []
    default = _json("resurrection", exports[(name, "default")])
    assert default["n_suspended"] == orig["n_suspended"]
    assert default["n_linked"] == 0


def test_census_from_twarc2_pages_holds_its_headline_in_every_ordered_mode(exports):
    """Headline identical in every ordered mode; the whole census with bios kept.

    ``model=True``: the model-assisted and classifier-corrected estimates read bio
    lengths, which the default export drops.
    """
    from measure import census

    def terms(mode: str) -> pl.DataFrame:
        with measure.open(exports[("twarc2", mode)]) as ds:
            return census.analyze(ds).to_polars()

    orig = terms("original")
    assert_frame_equal(orig, terms("linkage"), check_exact=True)
    default = terms("default")
    head = ["supporters_in_frame", "supporters_in_frame_uncorrected", "at_least",
            "at_most"]

    def pick(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("term").is_in(head))

    assert pick(orig).height == 4
    assert_frame_equal(pick(orig), pick(default), check_exact=True)
    est = dict(zip(orig["term"], orig["estimate"], strict=True))
    got = dict(zip(default["term"], default["estimate"], strict=True))
    assert est["supporters_in_frame_model_assisted"] != got[
        "supporters_in_frame_model_assisted"]


# -- nothing of the original leaks -----------------------------------------------------
def _needles(path: Path) -> dict[str, set[str]]:
    """Every id (text), handle and avatar hash of a dataset's tables."""
    ids: set[str] = set()
    handles: set[str] = set()
    avatars: set[str] = set()
    with measure.open(path) as ds:
        for t in ds.tables:
            df = ds.sql(f'SELECT * FROM "{t}"')
            for c in df.columns:
                vals = set(df[c].cast(pl.Utf8).drop_nulls().to_list())
                if c in ("account_id", "src", "dst", "successor_id", "tweet_id",
                         "chat_id"):
                    ids |= vals
                elif c == "screen_name":
                    handles |= vals
                elif c == "profile_image_hash":
                    avatars |= vals
    return {"ids": ids, "handles": handles, "avatars": avatars}


def _cells(export: Path) -> dict[str, set[str]]:
    """Every Parquet cell of an export as text, by ``table.column``."""
    out: dict[str, set[str]] = {}
    for f in sorted(export.rglob("*.parquet")):
        table = f.stem if f.parent == export else f.parent.name
        df = pl.read_parquet(f)
        for c in df.columns:
            out.setdefault(f"{table}.{c}", set()).update(
                df[c].cast(pl.Utf8).drop_nulls().to_list())
    return out


def _found(export: Path, needles: set[str], *, equal_only: bool = False
           ) -> dict[str, set[str]]:
    """Needles found in an export: ``file`` (raw bytes) or ``table.column``."""
    hits: dict[str, set[str]] = {}
    if not equal_only:
        for f in sorted(p for p in export.rglob("*") if p.is_file()):
            raw = f.read_bytes()
            got = {n for n in needles if n.encode() in raw}
            if got:
                hits[f.relative_to(export).as_posix()] = got
    for col, vals in _cells(export).items():
        got = (vals & needles if equal_only
               else {n for n in needles for v in vals if n in v})
        if got:
            hits[col] = got
    return hits


@pytest.mark.parametrize("name", ["bluesky", "mastodon", "telegram"])
def test_no_id_handle_or_avatar_of_a_text_id_dataset_appears_in_its_exports(
        exports, name):
    needles = _needles(exports[(name, "original")])
    every = needles["ids"] | needles["handles"] | needles["avatars"]
    assert len(needles["ids"]) >= 15 and len(needles["handles"]) >= 8
    # the search finds them where they are
    assert set(_found(exports[(name, "original")], every)) >= {
        "accounts.account_id", "accounts.screen_name"}
    for mode in ("default", "substitute", "hmac"):
        assert _found(exports[(name, mode)], every) == {}, mode
    for mode in ("linkage", "all_text"):
        # ids and avatar hashes nowhere; a handle only where people wrote it
        assert _found(exports[(name, mode)],
                      needles["ids"] | needles["avatars"]) == {}, mode
        where = _found(exports[(name, mode)], needles["handles"])
        cols = {k.split(".", 1)[1] for k in where if "." in k and not k.endswith(
            ".parquet")}
        assert cols <= PEOPLE_TEXT, (mode, where)


def test_no_integer_id_or_handle_of_the_twarc2_census_appears_in_its_exports(
        exports):
    """Integer ids are compared cell by cell (as text, ``2001`` is also a year)."""
    needles = _needles(exports[("twarc2", "original")])
    assert len(needles["ids"]) == 31 and len(needles["handles"]) == 31
    for mode in MODES:
        export = exports[("twarc2", mode)]
        assert _found(export, needles["ids"], equal_only=True) == {}, mode
        assert _found(export, needles["handles"]) == {}, mode


def test_quarantined_raw_records_are_dropped_even_with_all_text_kept(exports):
    q = pl.read_parquet(exports[("bluesky", "all_text")] / "quarantine.parquet")
    assert q.height == 23 and {"raw", "reason", "source_file"}.isdisjoint(q.columns)
    info = json.loads((exports[("bluesky", "all_text")] / "manifest.json")
                      .read_text())["pseudonymised"]
    assert {"quarantine.raw", "quarantine.reason", "quarantine.source_file"} <= set(
        info["dropped"])
    assert "accounts.description" in info["kept_text"]
    # the original's quarantine holds DIDs in those columns
    with measure.open(exports[("bluesky", "original")]) as ds:
        raw = ds.sql("SELECT raw FROM quarantine")["raw"]
    assert raw.str.contains("did:plc:").sum() > 10


def test_sharing_docs_say_which_mode_keeps_which_familys_numbers():
    text = (ROOT / "docs" / "sharing.md").read_text()
    sec = text[text.index("## What the analyses give on an export"):]
    rows = {}
    for line in sec.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] != "export":
            rows.setdefault(cells[0], cells[1:])  # the first table: the modes
    default = rows["default: `--id-mode ordered`, `--handles hash`, no text"]
    linkage = rows["`--handles substitute --keep-text display_name,description`"]
    assert default[0].startswith("headline, bounds and kappa identical")
    assert default[1] == "identical" and default[2].startswith("**differs**")
    assert linkage == ["**identical**"] * 3
    assert "Monte Carlo" in rows["`--id-mode hmac` (any handles and text)"][0]
    assert "`quarantine.raw`" in text
