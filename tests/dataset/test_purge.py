"""Purge: accounts and every row naming them removed, re-pinned, idempotent."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import measure
from measure._io import sha256_file
from measure.cli import main
from measure.dataset import verify_dataset
from measure.dataset._export import export_pseudonymised, read_key
from measure.dataset._purge import PurgeError, purge, read_ids

KEY = b"measure-test-key-0123456789abcdef0123456789abcdef"
#: Account-id columns of the contract tables (what "names an account" means).
ACCOUNT_COLUMNS = {"accounts": ("account_id",), "observations": ("account_id",),
                   "edges": ("src", "dst"), "crawls": ("account_id",),
                   "seeds": ("account_id",), "labels": ("account_id",),
                   "detections": ("account_id",), "tweets": ("account_id",)}


@pytest.fixture
def world(small_world: Path, tmp_path: Path) -> Path:
    """A private copy of the small world (the purge replaces it)."""
    return Path(shutil.copytree(small_world, tmp_path / "world"))


def _naming(ds: measure.Dataset, ids: list[int]) -> dict[str, int]:
    """Rows per table that name one of ``ids`` (counted with DuckDB)."""
    out = {}
    for t, cols in ACCOUNT_COLUMNS.items():
        where = " OR ".join(f"{c} IN (SELECT unnest(?::BIGINT[]))" for c in cols)
        n = ds.execute(f"SELECT count(*) FROM {t} WHERE {where}",
                       [ids] * len(cols)).fetchone()[0]
        if n:
            out[t] = n
    return out


def _chosen(world: Path) -> list[int]:
    """Five accounts that appear in many tables: seeds, coded, crawled."""
    with measure.open(world) as ds:
        return ds.sql("""
            SELECT account_id FROM labels
            WHERE account_id IN (SELECT account_id FROM crawls)
              AND account_id IN (SELECT account_id FROM observations)
            GROUP BY account_id ORDER BY account_id LIMIT 5""")["account_id"].to_list()


def test_purge_removes_accounts_and_every_row_naming_them(world: Path) -> None:
    ids = _chosen(world)
    assert len(ids) == 5
    with measure.open(world) as ds:
        before = _naming(ds, ids)
        sizes = {t: ds.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ACCOUNT_COLUMNS}
    assert {"accounts", "observations", "edges", "crawls", "labels"} <= set(before)
    rep = purge(world, ids + [1], date=date(2026, 3, 1))  # 1 names no account
    assert rep.changed and rep.n_requested == 6 and rep.n_accounts_removed == 5
    assert {t: n for t, n in rep.rows_removed.items() if t in before} == before
    with measure.open(world) as ds:  # opens: the contract still holds
        assert _naming(ds, ids) == {}
        for t, n in sizes.items():
            got = ds.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            assert got == n - before.get(t, 0), t
    # simulation truth is purged too (its rows name the accounts)
    truth = pl.read_parquet(world / "truth" / "accounts.parquet")
    assert not truth["account_id"].is_in(ids).any()
    assert verify_dataset(world).ok
    m = json.loads((world / "manifest.json").read_text())
    (record,) = m["purges"]
    assert record == {"date": "2026-03-01", "accounts_requested": 6,
                      "accounts_removed": 5, "rows_removed": rep.rows_removed}
    assert rep.id == f"{m['name']}@sha256:{m['digest']}"
    text = (world / "manifest.json").read_text()
    assert not any(str(i) in text for i in ids)  # counts, never the ids
    # the simulator's provenance survives the new version
    assert m["command"].startswith("measure simulate")


def test_purge_again_is_a_no_op(world: Path) -> None:
    ids = _chosen(world)[:2]
    purge(world, ids)
    manifest = (world / "manifest.json").read_bytes()
    files = {p: sha256_file(p) for p in world.rglob("*") if p.is_file()}
    rep = purge(world, ids)
    assert not rep.changed and rep.n_accounts_removed == 0 and rep.rows_removed == {}
    assert (world / "manifest.json").read_bytes() == manifest
    assert {p: sha256_file(p) for p in world.rglob("*") if p.is_file()} == files


def test_purge_keeps_files_that_name_nobody_byte_for_byte(world: Path) -> None:
    ids = _chosen(world)[:1]
    with measure.open(world) as ds:
        assert "seeds" not in _naming(ds, ids)
    seeds, truth_json = sha256_file(world / "seeds.parquet"), sha256_file(
        world / "truth.json")
    purge(world, ids)
    assert sha256_file(world / "seeds.parquet") == seeds
    assert sha256_file(world / "truth.json") == truth_json


def _tiny(path: Path) -> Path:
    with measure.DatasetWriter(path, name="tiny") as w:
        w.write_table("accounts", pl.DataFrame({
            "account_id": [11, 12, 13], "screen_name": ["abu_x", "abu_x2", "umm"]}))
        w.write_table("edges", pl.DataFrame({"src": [11, 12, 13],
                                             "dst": [12, 13, 11]}))
    return path


def test_purge_of_an_hmac_export_with_the_key(tmp_path: Path) -> None:
    tiny = _tiny(tmp_path / "tiny")
    export_pseudonymised(tiny, tmp_path / "hmac", key=KEY, id_mode="hmac")
    rep = purge(tmp_path / "hmac", [12], key=KEY)  # the original id
    assert rep.changed and rep.n_accounts_removed == 1
    assert rep.rows_removed == {"accounts": 1, "edges": 2}
    assert pl.read_parquet(tmp_path / "hmac" / "edges.parquet").height == 1
    assert verify_dataset(tmp_path / "hmac").ok
    with pytest.raises(PurgeError, match="fingerprint"):
        purge(tmp_path / "hmac", [11], key=b"another key of at least 16 bytes")
    export_pseudonymised(tiny, tmp_path / "ordered", key=KEY)
    with pytest.raises(PurgeError, match="purge the original dataset"):
        purge(tmp_path / "ordered", [11], key=KEY)
    with pytest.raises(PurgeError, match="not one"):
        purge(tiny, [11], key=KEY)


def test_purge_drops_a_partition_that_names_an_account(tmp_path: Path) -> None:
    tiny = _tiny(tmp_path / "tiny")
    for acc in (11, 12):
        part = tiny / "detections" / f"account_id={acc}"
        part.mkdir(parents=True)
        pq.write_table(pl.DataFrame({"source": ["a", "b"]}).to_arrow(),
                       part / "part-0.parquet")
    measure.pin(str(tiny))
    rep = purge(tiny, [12])
    assert rep.rows_removed == {"accounts": 1, "detections": 2, "edges": 2}
    assert "detections/account_id=12/part-0.parquet" in rep.files_removed
    assert not (tiny / "detections" / "account_id=12").exists()
    assert verify_dataset(tiny).ok


def test_read_ids_from_text_csv_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("# deletion requests, March\n11\n\n12\n11\n")
    pl.DataFrame({"account_id": [13, 11]}).write_csv(tmp_path / "ids.csv")
    pl.DataFrame({"account_id": [13]}).write_parquet(tmp_path / "ids.parquet")
    assert read_ids(tmp_path / "ids.txt") == ["11", "12"]
    assert read_ids(tmp_path / "ids.csv") == ["13", "11"]
    assert read_ids(tmp_path / "ids.parquet") == [13]
    pl.DataFrame({"id": [1]}).write_csv(tmp_path / "bad.csv")
    with pytest.raises(measure.ConfigError, match="no 'account_id' column"):
        read_ids(tmp_path / "bad.csv")


def test_cli_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = _tiny(tmp_path / "tiny")
    (tmp_path / "ids.txt").write_text("13\n")
    assert main(["purge", str(tiny), "--ids", str(tmp_path / "ids.txt"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] and out["rows_removed"] == {"accounts": 1, "edges": 2}
    assert main(["purge", str(tiny), "--ids", str(tmp_path / "ids.txt")]) == 0
    assert "nothing to purge" in capsys.readouterr().out
    key = tmp_path / "k"
    key.write_bytes(KEY)
    assert read_key(key) == KEY


def test_purge_removes_quarantined_records_that_name_the_account(
        tmp_path: Path) -> None:
    """Unreadable records kept in the quarantine go when their raw text names a
    purged account by id or by its handle, as a whole token; records naming
    other accounts (an id or handle that merely contains it) stay."""
    tiny = _tiny(tmp_path / "tiny")
    raw = ['{"id": 12, "followers_count": "x"}',   # the id
           '{"id_str": "12", "name": null',         # the id as text, truncated
           "user ABU_X2 not found",                 # the handle, other case
           '{"id": 112}',                           # another id containing 12
           "abu_x2_fan posted",                     # another handle containing it
           '{"id": 13}']
    with measure.DatasetWriter(tiny, name="tiny", overwrite=True) as w:
        w.copy_file("accounts.parquet", tiny / "accounts.parquet")
        w.copy_file("edges.parquet", tiny / "edges.parquet")
        w.write_table("quarantine", pl.DataFrame({
            "source_file": ["in.jsonl"] * len(raw), "line": list(range(1, 7)),
            "reason": ["bad"] * len(raw), "raw": raw}))
    rep = purge(tiny, [12])
    assert rep.rows_removed == {"accounts": 1, "edges": 2, "quarantine": 3}
    kept = pl.read_parquet(tiny / "quarantine.parquet")["raw"].to_list()
    assert kept == raw[3:]
    assert verify_dataset(tiny).ok
