"""Pinning: manifests, digests, verify, lock files, unsafe paths, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import measure
from measure import DatasetWriter, PinMismatchError, UnsafePathError
from measure.cli import main
from measure.dataset import lock_dataset, read_lock, verify, verify_dataset


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    with DatasetWriter(tmp_path / "ds", name="tiny", command="test") as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [1, 2],
                                                "screen_name": ["sim_a", "sim_b"]}))
        w.append("edges", pl.DataFrame({"src": [1], "dst": [2]}))
        w.write_file("truth.json", "{}")
    return tmp_path / "ds"


def test_manifest_fields(ds: Path) -> None:
    m = json.loads((ds / "manifest.json").read_text())
    for key in ("schema_version", "name", "created_at", "command", "measure_version",
                "inputs", "files", "digest"):
        assert key in m
    paths = {f["path"]: f for f in m["files"]}
    assert paths["accounts.parquet"]["rows"] == 2
    assert paths["edges/part-00000.parquet"]["rows"] == 1
    assert paths["truth.json"]["rows"] is None
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in m["files"])


def test_digest_is_sha256_of_sorted_lines(ds: Path) -> None:
    import hashlib

    m = json.loads((ds / "manifest.json").read_text())
    lines = "".join(f"{f['path']}  {f['sha256']}\n"
                    for f in sorted(m["files"], key=lambda f: f["path"]))
    assert m["digest"] == hashlib.sha256(lines.encode()).hexdigest()


def test_verify_clean(ds: Path) -> None:
    assert verify_dataset(ds).ok


def test_one_byte_change_is_caught(ds: Path) -> None:
    p = ds / "truth.json"
    p.write_text("{ }")
    r = verify_dataset(ds)
    assert not r.ok
    (d,) = r.differences
    assert d["kind"] == "changed" and d["path"] == "truth.json"
    assert "expected sha256:" in r.text() and "but got sha256:" in r.text()


def test_removed_file_is_caught(ds: Path) -> None:
    (ds / "edges" / "part-00000.parquet").unlink()
    kinds = {d["kind"] for d in verify_dataset(ds).differences}
    assert "missing" in kinds


def test_added_file_is_caught(ds: Path) -> None:
    (ds / "notes.txt").write_text("extra")
    (d,) = verify_dataset(ds).differences
    assert d["kind"] == "unexpected" and d["path"] == "notes.txt"


@pytest.mark.parametrize("bad", ["../outside.parquet", "/etc/passwd",
                                 "edges/../../x.parquet", "C:\\x.parquet"])
def test_manifest_path_escaping_is_refused(ds: Path, bad: str) -> None:
    m = json.loads((ds / "manifest.json").read_text())
    m["files"].append({"path": bad, "bytes": 1, "sha256": "0" * 64, "rows": None})
    (ds / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UnsafePathError):
        verify_dataset(ds)


def test_symlink_escape_is_refused(ds: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    (ds / "link").symlink_to(tmp_path / "secret")
    m = json.loads((ds / "manifest.json").read_text())
    m["files"].append({"path": "link", "bytes": 1, "sha256": "0" * 64, "rows": None})
    (ds / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UnsafePathError):
        verify_dataset(ds)


def test_lock_file_roundtrip_and_verify(ds: Path, tmp_path: Path) -> None:
    lock = tmp_path / "measure.lock"
    entry = lock_dataset(lock, ds)
    assert read_lock(lock) == [entry]
    assert entry.id.startswith("tiny@sha256:")
    assert all(r.ok for r in verify(lock))
    assert main(["verify", str(lock)]) == 0
    (ds / "truth.json").write_text("{ }")
    reports = verify(lock)
    assert not reports[0].ok
    kinds = {d["kind"] for d in reports[0].differences}
    assert {"changed", "digest"} <= kinds
    assert main(["verify", str(lock)]) == 1


def test_open_with_digest(ds: Path) -> None:
    digest = json.loads((ds / "manifest.json").read_text())["digest"]
    assert measure.open(ds, digest=f"tiny@sha256:{digest}").has("accounts")
    with pytest.raises(PinMismatchError, match="expected digest"):
        measure.open(ds, digest="0" * 64)


def test_writer_crash_leaves_nothing(tmp_path: Path, ds: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError), DatasetWriter(ds, overwrite=True) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [9],
                                                "screen_name": ["sim_z"]}))
        raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert verify_dataset(ds).ok  # the existing dataset is untouched


def test_same_content_same_digest(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        with DatasetWriter(tmp_path / name, name="same") as w:
            w.write_table("accounts", pl.DataFrame({"account_id": [1],
                                                    "screen_name": ["sim_a"]}))
        digests.append(json.loads((tmp_path / name / "manifest.json").read_text())
                       ["digest"])
    assert digests[0] == digests[1]


def test_cli_pin_json(ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pin", str(ds), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"].startswith("tiny@sha256:")


def test_cli_error_is_one_paragraph(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_repin_keeps_provenance_sections(ds: Path) -> None:
    from measure.dataset import write_manifest

    m = json.loads((ds / "manifest.json").read_text())
    m["ingest"] = {"rows_read": 3}
    (ds / "manifest.json").write_text(json.dumps(m))
    again = write_manifest(ds)
    assert again["ingest"] == {"rows_read": 3}
    assert again["command"] == "test"


def test_report_beside_the_data_is_not_data(ds: Path) -> None:
    (ds / "report.html").write_text("<html></html>")
    assert verify_dataset(ds).ok


def test_atomic_path_crash_keeps_old_file(tmp_path: Path) -> None:
    from measure._io import atomic_path

    dest = tmp_path / "links.parquet"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["links.parquet"]
    with atomic_path(dest) as tmp:
        tmp.write_text("new")
    assert dest.read_text() == "new"


def test_verify_reports_a_broken_or_digestless_manifest(ds: Path) -> None:
    m = ds / "manifest.json"
    manifest = json.loads(m.read_text())
    m.write_text("{ not json")
    r = verify_dataset(ds)
    assert not r.ok and r.differences[0]["kind"] == "manifest"
    assert "unreadable JSON" in r.differences[0]["got"]
    del manifest["digest"]
    m.write_text(json.dumps(manifest))
    r = verify_dataset(ds)
    assert [d["kind"] for d in r.differences] == ["manifest"]
    assert "measure pin" in r.text()
