"""Pseudonymised export: identical analyses, no original identifier left, keyed.

The acceptance on the ``small`` simulated world (seed 1): an export in linkage
mode (ids in their order, handles by letter substitution, display names and bios
kept) gives census, churn and resurrection results identical to the original's
(tolerance 0); the default export (handles hashed, every free text dropped) gives
identical churn and census headline numbers; neither holds any original id,
handle or avatar hash in any file, read as bytes or decoded cell by cell.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from rapidfuzz.distance import Levenshtein

import measure
from measure.cli import main
from measure.dataset import verify_dataset
from measure.dataset._contract import ID, STR, TABLES
from measure.dataset._export import (
    KEPT_TEXT_COLUMNS,
    ExportError,
    contract_roles,
    export_pseudonymised,
    handle_map,
    key_fingerprint,
    pseudonymise_ids,
    read_key,
)
from measure.errors import ConfigError

#: Test keys (a real key is random: ``secrets.token_hex(32)``).
KEY = b"measure-test-key-0123456789abcdef0123456789abcdef"
OTHER_KEY = b"measure-test-key-fedcba9876543210fedcba9876543210"
#: What successor linking and the census's bio features read of the free text.
LINKAGE_TEXT = ("display_name", "description")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("keys") / "export.key"
    p.write_bytes(KEY + b"\n")
    return p


@pytest.fixture(scope="module")
def linkage_export(small_world: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Path:
    out = tmp_path_factory.mktemp("linkage") / "export"
    export_pseudonymised(small_world, out, key=KEY, handle_mode="substitute",
                         keep_text=LINKAGE_TEXT)
    return out


@pytest.fixture(scope="module")
def default_export(small_world: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Path:
    out = tmp_path_factory.mktemp("default") / "export"
    export_pseudonymised(small_world, out, key=KEY)
    return out


def _results(path: Path, *, census_model: bool = False,
             families: tuple[str, ...] = ("census", "churn", "resurrection")
             ) -> dict[str, Any]:
    """Headline results of the families on a dataset (census model optional)."""
    from measure import census, churn, resurrection

    out: dict[str, Any] = {}
    with measure.open(path) as ds:
        if "census" in families:
            c = census.analyze(ds, model=census_model)
            out["census"] = c.to_polars()
            out["census_counts"] = (c.frame_size, c.n_coded)
        if "churn" in families:
            ch = churn.analyze(ds)
            o = ch.overall
            out["churn"] = ch.to_polars()
            out["churn_counts"] = (o.n_accounts, o.n_suspended, o.n_deleted,
                                   o.n_censored)
        if "resurrection" in families:
            r = resurrection.analyze(ds)
            out["resurrection"] = r.to_polars()
            out["resurrection_counts"] = (r.n_suspended, r.n_linked, r.n_pairs,
                                          r.threshold)
    return out


@pytest.fixture(scope="module")
def original(small_world: Path) -> dict[str, Any]:
    return _results(small_world, census_model=False)


@pytest.fixture(scope="module")
def needles(small_world: Path) -> dict[str, list[str]]:
    return _originals(small_world)


def _originals(world: Path) -> dict[str, list[str]]:
    """Every original account and tweet id (as text), handle and avatar hash."""
    with measure.open(world) as ds:
        ids = ds.sql("""
            SELECT DISTINCT CAST(v AS VARCHAR) AS v FROM (
                SELECT account_id AS v FROM accounts UNION ALL
                SELECT account_id FROM observations UNION ALL
                SELECT src FROM edges UNION ALL SELECT dst FROM edges UNION ALL
                SELECT account_id FROM crawls UNION ALL
                SELECT account_id FROM seeds UNION ALL
                SELECT account_id FROM labels UNION ALL
                SELECT account_id FROM detections UNION ALL
                SELECT account_id FROM tweets UNION ALL
                SELECT tweet_id FROM tweets)""")["v"].to_list()
        handles = ds.sql("""
            SELECT screen_name AS v FROM accounts WHERE v IS NOT NULL UNION
            SELECT screen_name FROM observations WHERE screen_name IS NOT NULL
            """)["v"].to_list()
        avatars = ds.sql("SELECT DISTINCT profile_image_hash AS v FROM accounts "
                         "WHERE v IS NOT NULL")["v"].to_list()
    return {"ids": ids, "handles": handles, "avatars": avatars}


def _found(export: Path, needles: dict[str, list[str]]) -> dict[str, list[str]]:
    """Original identifiers found in an export, by kind of search.

    ``bytes``: every file's raw bytes (Parquet, manifest) searched for every
    needle as a substring. ``cells``: every Parquet cell as text, equal to an
    id, or holding a handle or avatar hash as a substring (decoded, because
    compressed pages would hide a plain string from a byte search).
    """
    everything = needles["ids"] + needles["handles"] + needles["avatars"]
    files = sorted(p for p in export.rglob("*") if p.is_file())
    # bytes as latin-1 text: one character per byte; needles as their UTF-8 bytes
    raw = pl.Series([f.read_bytes().decode("latin-1") for f in files])
    as_bytes = [n.encode("utf-8").decode("latin-1") for n in everything]
    in_bytes = raw.str.extract_many(as_bytes, overlapping=True).explode(
        empty_as_null=True)
    cells = []
    for f in files:
        if f.suffix == ".parquet":
            df = pl.read_parquet(f)
            cells += [df[c].cast(pl.Utf8).drop_nulls().unique() for c in df.columns]
    values = pl.concat(cells).unique()
    equal = values.filter(values.is_in(everything))
    inside = values.str.extract_many(needles["handles"] + needles["avatars"],
                                     overlapping=True).explode(empty_as_null=True)
    return {"bytes": in_bytes.drop_nulls().unique().to_list(),
            "cells_equal": equal.to_list(),
            "cells_inside": inside.drop_nulls().unique().to_list()}


def _assert_same(a: dict[str, Any], b: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        if isinstance(a[k], pl.DataFrame):
            # tolerance 0: same terms, same floats bit for bit (NaN equals NaN)
            assert_frame_equal(a[k], b[k], check_exact=True), k
        else:
            assert a[k] == b[k], k


# -- the contract's columns ----------------------------------------------------------
def test_every_contract_column_has_a_role() -> None:
    roles = contract_roles()
    assert set(roles) == {(t.name, c.name) for t in TABLES.values() for c in t.columns}
    for t in TABLES.values():
        for c in t.columns:
            role = roles[(t.name, c.name)]
            if c.kind == ID:
                assert role == "id", (t.name, c.name)
            elif c.kind == STR:
                # a text column is an identifier, free text, or a kept category
                assert role in ("handle", "avatar", "text", "label") or (
                    role == "keep" and c.name in KEPT_TEXT_COLUMNS), (t.name, c.name)
            else:
                assert role == "keep", (t.name, c.name)
    assert roles[("edges", "src")] == roles[("edges", "dst")] == "id"
    assert roles[("tweets", "tweet_id")] == "id"
    assert roles[("accounts", "screen_name")] == "handle"
    assert roles[("observations", "screen_name")] == "handle"
    assert roles[("accounts", "profile_image_hash")] == "avatar"
    assert {c for (t, c), r in roles.items() if r == "text"} == {
        "display_name", "description", "location", "text"}


# -- the acceptance ------------------------------------------------------------------
def test_linkage_export_gives_identical_census_churn_and_resurrection(
        linkage_export: Path, original: dict[str, Any]) -> None:
    """Every estimate, interval and count is equal, with tolerance 0.

    Compared: census (without the model-assisted estimates, see the slow test
    below), churn and resurrection ``to_polars()`` (every term's estimate,
    std_error, ci_low, ci_high, level), census frame size and coded accounts,
    churn accounts / suspended / deleted / censored, resurrection suspended
    accounts, links, candidate pairs and threshold.
    """
    got = _results(linkage_export)
    _assert_same(original, got, tuple(original))
    assert original["resurrection_counts"][1] > 50  # links were made: a real test


@pytest.mark.slow
def test_linkage_export_gives_identical_model_assisted_census(
        small_world: Path, linkage_export: Path) -> None:
    """The census's model-assisted and classifier estimates too (bio lengths kept)."""
    a = _results(small_world, census_model=True, families=("census",))
    b = _results(linkage_export, census_model=True, families=("census",))
    assert "supporters_in_frame_model_assisted" in a["census"]["term"].to_list()
    _assert_same(a, b, ("census", "census_counts"))


@pytest.mark.slow
def test_default_export_gives_identical_churn_and_census_headline(
        default_export: Path, original: dict[str, Any]) -> None:
    """Without free text and with hashed handles, churn and the census headline hold.

    Compared as above for churn, and the census without its model (headline
    corrected for coder error, uncorrected, bounds, kappa). The census's
    model-assisted and classifier estimates use bio lengths, and linking uses
    handle similarity, names and bios: those differ (docs/sharing.md gives the
    numbers).
    """
    got = _results(default_export, families=("census", "churn"))
    _assert_same(original, got, ("census", "census_counts", "churn", "churn_counts"))
    est = dict(original["census"].select("term", "estimate").iter_rows())
    assert est["supporters_in_frame"] > 0  # a real headline was compared
    # without the working model its two estimates are "not computed" (NaN)
    assert est["supporters_in_frame_model_assisted"] != est[
        "supporters_in_frame_model_assisted"]


@pytest.mark.parametrize("mode", ["default", "linkage"])
def test_no_original_identifier_appears_in_any_exported_file(
        small_world: Path, needles: dict[str, list[str]],
        request: pytest.FixtureRequest, mode: str) -> None:
    export = request.getfixturevalue(f"{mode}_export")
    # 175,562 ids (45,690 accounts, 129,872 tweets), 25,538 handles, 45,596
    # avatar hashes in the small world, seed 1
    assert len(needles["ids"]) > 100_000
    assert len(needles["handles"]) > 20_000 and len(needles["avatars"]) > 40_000
    assert _found(export, needles) == {"bytes": [], "cells_equal": [],
                                       "cells_inside": []}
    # and the search finds them where they are: in the original
    found = _found(small_world, {k: v[:50] for k, v in needles.items()})
    assert len(found["cells_equal"]) == 150


def test_export_is_pinned_and_its_manifest_names_no_original_path(
        small_world: Path, linkage_export: Path) -> None:
    assert verify_dataset(linkage_export).ok
    m = json.loads((linkage_export / "manifest.json").read_text())
    info = m["pseudonymised"]
    assert info["key_fingerprint"] == key_fingerprint(KEY)
    assert info["key_fingerprint"] == hmac.new(
        KEY, b"measure pseudonymised export: key fingerprint v1",
        hashlib.sha256).hexdigest()[:16]
    assert info["id_mode"] == "ordered" and info["handle_mode"] == "substitute"
    assert info["kept_text"] == ["accounts.display_name", "accounts.description"]
    assert "tweets.text" in info["dropped"] and "accounts.location" in info["dropped"]
    assert set(info["not_exported"]) >= {"truth.json", "truth/accounts.parquet"}
    text = (linkage_export / "manifest.json").read_text()
    assert str(small_world) not in text and small_world.name not in m["command"]
    assert m["inputs"] == []
    for f in linkage_export.rglob("*"):
        if f.is_file():
            assert KEY not in f.read_bytes()
    assert not (linkage_export / "truth").exists()
    with measure.open(linkage_export) as ds:  # the contract still holds
        assert ds.id_type == "int"


def test_ids_are_mapped_consistently_across_tables(small_world: Path,
                                                   default_export: Path) -> None:
    """Joins survive: as many edges and observations meet an account as before."""
    q = ("SELECT (SELECT count(*) FROM edges e JOIN accounts a ON e.dst = "
         "a.account_id), (SELECT count(*) FROM observations o JOIN accounts a USING "
         "(account_id)), (SELECT count(*) FROM labels l JOIN accounts a USING "
         "(account_id))")
    with measure.open(small_world) as a, measure.open(default_export) as b:
        assert a.execute(q).fetchone() == b.execute(q).fetchone()
        ids = b.sql("SELECT account_id FROM accounts")["account_id"]
    assert ids.dtype == pl.Int64 and ids.n_unique() == ids.len()


def _tiny(path: Path) -> Path:
    with measure.DatasetWriter(path, name="tiny") as w:
        w.write_table("accounts", pl.DataFrame({
            "account_id": [11, 12, 13], "screen_name": ["abu_x", "abu_x2", "umm_y"],
            "profile_image_hash": ["aa11", "aa11", "bb22"]}))
        w.write_table("edges", pl.DataFrame({"src": [11, 12, 14],
                                             "dst": [12, 13, 11]}))
    return path


def test_wrong_key_gives_other_pseudonyms_and_same_key_same_bytes(
        tmp_path: Path) -> None:
    tiny = _tiny(tmp_path / "tiny")
    first = export_pseudonymised(tiny, tmp_path / "first", key=KEY)
    again = export_pseudonymised(tiny, tmp_path / "again", key=KEY)
    other = export_pseudonymised(tiny, tmp_path / "other", key=OTHER_KEY)
    assert again.id == first.id  # reproducible: same key, same bytes
    assert other.key_fingerprint != first.key_fingerprint
    a = pl.read_parquet(tmp_path / "first" / "accounts.parquet")
    b = pl.read_parquet(tmp_path / "other" / "accounts.parquet")
    for col in ("account_id", "screen_name", "profile_image_hash"):
        assert not set(a[col].to_list()) & set(b[col].to_list()), col
    # equal avatars stay equal, different ones different
    assert a["profile_image_hash"].n_unique() == 2
    # ordered ids: the pseudonyms keep the order of the ids (11 < 12 < 13 < 14)
    e = pl.read_parquet(tmp_path / "first" / "edges.parquet")
    ranked = sorted(set(e["src"].to_list()) | set(e["dst"].to_list()))
    assert a["account_id"].to_list() == ranked[:3]


# -- the pieces ----------------------------------------------------------------------
def test_hmac_ids_are_the_first_bytes_of_hmac_sha256() -> None:
    d = hmac.new(KEY, b"id\x00" + b"100000002", hashlib.sha256).digest()
    assert pseudonymise_ids([100000002], KEY, as_int=True) == [
        int.from_bytes(d[:8], "big", signed=True)]
    assert pseudonymise_ids(["100000002"], KEY, as_int=False) == [d.hex()[:32]]
    assert pseudonymise_ids([7], KEY, as_int=True) != pseudonymise_ids(
        [7], OTHER_KEY, as_int=True)


def test_handle_substitution_keeps_edit_distances_stems_and_suffixes() -> None:
    handles = ["abu_dawla434", "abu_dawla435", "AbuDawla", "umm.x2", "umm_x7",
               "أبو_دجانة", "أبو_دجانه1", "ｆｕｌｌ", "full", "1234", "x"]
    hm = handle_map(pl.Series(handles).str.normalize("NFKC").str.to_lowercase(),
                    KEY, "substitute")
    pseud = dict(zip(hm.original.to_list(), hm.pseudonym.to_list(), strict=True))
    assert len(pseud) == 10  # "ｆｕｌｌ" and "full" are one handle after NFKC
    orig = list(pseud)
    with_letters = [h for h in orig if h != "1234"]
    for a in with_letters:
        for b in with_letters:
            assert Levenshtein.distance(a, b) == Levenshtein.distance(
                pseud[a], pseud[b]), (a, b)
    letters = pl.Series(with_letters).str.replace_all(r"[^\p{L}]", "")
    p_letters = pl.Series([pseud[h] for h in with_letters]).str.replace_all(
        r"[^\p{L}]", "")
    assert letters.str.len_chars().to_list() == p_letters.str.len_chars().to_list()
    assert pseud["abu_dawla434"][-3:] == "434" and pseud["umm.x2"][-1] == "2"
    assert pseud["abu_dawla434"][:-3] == pseud["abu_dawla435"][:-3]
    assert not any(c.isascii() and c.isalpha() for p in pseud.values() for c in p)
    # a handle without letters cannot be disguised by letters: it is hashed
    assert hm.n_without_letters == 1 and not any(ch.isdigit() for ch in pseud["1234"])


def test_text_ids_become_hex_and_joins_survive(tmp_path: Path) -> None:
    dids = ["did:plc:aaa", "did:plc:bbb", "did:plc:ccc"]
    with measure.DatasetWriter(tmp_path / "bsky") as w:
        w.write_table("accounts", pl.DataFrame({"account_id": dids,
                                                "screen_name": ["a.bsky.social",
                                                                "b.bsky.social",
                                                                None]}))
        w.write_table("edges", pl.DataFrame({"src": dids[:2], "dst": dids[1:]}))
    rep = export_pseudonymised(tmp_path / "bsky", tmp_path / "out", key=KEY,
                               id_mode="hmac")
    acc = pl.read_parquet(tmp_path / "out" / "accounts.parquet")
    edges = pl.read_parquet(tmp_path / "out" / "edges.parquet")
    assert acc["account_id"].to_list() == pseudonymise_ids(dids, KEY, as_int=False)
    assert all(len(x) == 32 for x in acc["account_id"].to_list())
    assert edges.join(acc, left_on="src", right_on="account_id").height == 2
    assert acc["screen_name"].null_count() == 1 and rep.n_handles == 2


def test_export_refuses_unsafe_places_and_options(small_world: Path,
                                                  tmp_path: Path,
                                                  key_file: Path) -> None:
    with pytest.raises(ExportError, match="must not contain each other"):
        export_pseudonymised(small_world, small_world / "export", key=KEY)
    with pytest.raises(ExportError, match="outside the dataset"):
        export_pseudonymised(small_world, tmp_path / "x", key=KEY,
                             key_path=small_world / "secret.key")
    with pytest.raises(ConfigError, match="valid: description, display_name"):
        export_pseudonymised(small_world, tmp_path / "x", key=KEY,
                             keep_text=["bio"])
    with pytest.raises(ConfigError, match="ordered"):
        export_pseudonymised(small_world, tmp_path / "x", key=KEY,
                             id_mode="sorted")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 16"):
        export_pseudonymised(small_world, tmp_path / "x", key=b"secret")
    short = tmp_path / "short.key"
    short.write_text("secret")
    with pytest.raises(ConfigError, match="at least 16"):
        read_key(short)
    assert read_key(key_file) == KEY
    assert not (tmp_path / "x").exists()


def test_cli_export(small_world: Path, tmp_path: Path, key_file: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["export", str(small_world), "--key-file", str(key_file),
                 "--out", str(out)]) == 1
    assert "--pseudonymise" in capsys.readouterr().err
    assert main(["export", str(small_world), "--pseudonymise", "--key-file",
                 str(key_file), "--out", str(out), "--keep-text",
                 "display_name", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["kept_text"] == ["accounts.display_name"]
    assert payload["id_mode"] == "ordered" and payload["handle_mode"] == "hash"
    assert verify_dataset(out).ok
