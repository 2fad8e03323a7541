"""Tamper means stop: a pinned dataset whose files differ from its manifest.

Every analysis command refuses a pinned dataset with a flipped byte, a truncated
file, an added file or a removed file (exit status 1, the file named, expected
versus got); ``--allow-modified`` runs and carries the warning in text, JSON and
HTML; ``measure info`` shows the pinned digest, whether the data match it and the
digest of the data as they are. Worlds are simulated (``small`` preset, scale 0.05).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest

import measure
from measure import DatasetWriter, PinMismatchError
from measure.cli import main
from measure.dataset import build_manifest, check_dataset
from measure.errors import ModifiedDatasetWarning

TAMPERS = ("flipped", "truncated", "added", "removed")
#: the file each tamper touches (the refusal must name it)
TOUCHED = {"flipped": "observations.parquet", "truncated": "accounts.parquet",
           "added": "notes.parquet", "removed": "labels.parquet"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from measure.simulate import SimConfig, simulate

    out = tmp_path_factory.mktemp("integrity") / "world"
    simulate(SimConfig.preset("small", scale=0.05), 11, out)
    return out


def _copy(src: Path, dest: Path) -> Path:
    # copy2 keeps modification times, as `cp -p` and `rsync -a` do
    shutil.copytree(src, dest, copy_function=shutil.copy2)
    return dest


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Flip the lowest bit of one byte (the middle one by default), in place."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 1
    with open(path, "r+b") as f:
        f.write(data)


def flip_created_by(path: Path) -> None:
    """Flip one byte of the writer's name in a Parquet footer (still readable)."""
    data = path.read_bytes()
    i = data.rfind(b"Polars")
    assert i > 0, "the footer names its writer"
    flip_byte(path, i + 1)  # 'o' -> 'n': a different byte, the same valid file


def tamper(root: Path, kind: str) -> None:
    """Change a pinned dataset in one of the four ways of :data:`TAMPERS`."""
    target = root / TOUCHED[kind]
    if kind == "flipped":
        flip_byte(target)
    elif kind == "truncated":
        size = target.stat().st_size
        with open(target, "r+b") as f:
            f.truncate(size // 2)
    elif kind == "added":
        pl.DataFrame({"account_id": [1], "note": ["added later"]}).write_parquet(
            target)
    else:
        target.unlink()


@pytest.fixture(scope="module", params=TAMPERS)
def tampered(request: pytest.FixtureRequest, world: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = _copy(world, tmp_path_factory.mktemp(f"tampered_{request.param}") / "ds")
    tamper(root, request.param)
    return request.param, root


def _commands(ds: Path, out: Path) -> dict[str, list[str]]:
    d = str(ds)
    return {
        "census": ["census", d],
        "census sample": ["census", "sample", d, "--strata", "in_friends", "--n",
                          "5", "--out", str(out / "sheet.csv")],
        "census import-codes": ["census", "import-codes", d, str(out / "x.csv")],
        "census frame": ["census", "frame", d],
        "census plan": ["census", "plan", d, "--target-halfwidth", "10"],
        "capture": ["capture", d],
        "churn": ["churn", d],
        "resurrection": ["resurrection", d],
        "describe": ["describe", d],
        "report": ["report", d, "--out", str(out / "report.html")],
    }


COMMANDS = tuple(_commands(Path("x"), Path("y")))


@pytest.mark.parametrize("command", COMMANDS)
def test_analysis_refuses_tampered_pinned_dataset_naming_the_file(
        tampered: tuple[str, Path], command: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    kind, root = tampered
    rc = main(_commands(root, tmp_path)[command])
    err = capsys.readouterr().err
    assert rc == 1
    assert TOUCHED[kind] in err
    assert "expected" in err and "but got" in err
    assert "--allow-modified" in err
    assert not (tmp_path / "report.html").exists()
    assert not (tmp_path / "sheet.csv").exists()


def test_refusal_says_expected_and_got_sizes_of_a_truncated_file(
        world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    size = (root / "accounts.parquet").stat().st_size
    tamper(root, "truncated")
    with pytest.raises(PinMismatchError) as err:
        measure.open(root)
    # the fast check stops at the size: no hash needed
    assert f"accounts.parquet: expected {size:,} bytes but got {size // 2:,} bytes" \
        in str(err.value)
    assert err.value.differences[0]["kind"] == "changed"


def test_flipped_byte_refusal_gives_both_sha256(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    pinned = {f["path"]: f["sha256"] for f in
              json.loads((root / "manifest.json").read_text())["files"]}
    tamper(root, "flipped")
    from measure._io import sha256_file

    with pytest.raises(PinMismatchError) as err:
        measure.open(root)
    got = sha256_file(root / "observations.parquet")
    assert f"expected sha256:{pinned['observations.parquet']}" in str(err.value)
    assert f"but got sha256:{got}" in str(err.value)


@pytest.fixture(scope="module")
def modified(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pinned world with one byte flipped in a Parquet footer (still readable)."""
    root = _copy(world, tmp_path_factory.mktemp("modified") / "ds")
    flip_created_by(root / "observations.parquet")
    return root


CHURN = ["--no-cox", "--no-turnbull", "--n-imputations", "2", "--age-period", "none"]


def test_allow_modified_runs_and_warns_in_text(
        modified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["churn", str(modified), *CHURN]) == 1
    capsys.readouterr()
    assert main(["churn", str(modified), *CHURN, "--allow-modified"]) == 0
    out = capsys.readouterr().out
    first, last = out.strip().splitlines()[0], out.strip().splitlines()[-1]
    for line in (first, last):
        assert line.startswith("warning: MODIFIED DATA")
        assert "changed observations.parquet" in line
    assert "accounts followed" in out  # the analysis ran


def test_allow_modified_warning_leads_the_json_warnings(
        modified: Path, world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["churn", str(world), *CHURN, "--json"]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert main(["churn", str(modified), *CHURN, "--allow-modified", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["warnings"][0].startswith("MODIFIED DATA")
    assert "observations.parquet" in got["warnings"][0]
    # the result's own warnings follow it, and the numbers are the same (only a
    # footer byte differs)
    assert got["warnings"][1:] == clean["warnings"]
    assert got["headline"] == clean["headline"]
    # the census form parser takes the flag before the dataset too
    assert main(["census", "--allow-modified", str(modified), "--json",
                 "--no-model"]) == 0
    census = json.loads(capsys.readouterr().out)
    assert census["warnings"][0].startswith("MODIFIED DATA")
    assert "headline" in census


def test_allow_modified_report_shows_the_warning_at_the_top(
        world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # accounts and observations only: the report's other sections say "not
    # available" at once
    mini = tmp_path / "mini"
    with DatasetWriter(mini) as w:
        for t in ("accounts", "observations"):
            w.write_table(t, pl.read_parquet(world / f"{t}.parquet"))
    flip_created_by(mini / "observations.parquet")
    out = tmp_path / "report.html"
    assert main(["report", str(mini), "--out", str(out), "--json"]) == 1
    assert not out.exists()
    capsys.readouterr()
    assert main(["report", str(mini), "--out", str(out), "--json",
                 "--allow-modified"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["warnings"][0].startswith("MODIFIED DATA")
    html = out.read_text()
    banner = html.index("class='warning banner'")
    assert banner < html.index("<nav>") < html.index("<section")
    assert "changed observations.parquet" in html[banner:banner + 1000]
    assert "<strong>FAILED</strong>" in html


def test_python_open_raises_or_warns(modified: Path) -> None:
    with pytest.raises(PinMismatchError, match="observations.parquet"):
        measure.open(modified)
    with pytest.warns(ModifiedDatasetWarning, match="observations.parquet"):
        ds = measure.open(modified, allow_modified=True)
    with ds:
        assert ds.warnings and "observations.parquet" in ds.warnings[0]
        assert not ds.integrity.ok
        assert ds.has("observations")


def test_unpinned_dataset_is_not_checked(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    (root / "manifest.json").unlink()
    flip_created_by(root / "observations.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with measure.open(root) as ds:
            assert ds.warnings == []
            assert not ds.integrity.pinned


def test_fast_check_trusts_size_and_time_and_verify_rehashes(
        world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    f = root / "observations.parquet"
    st = f.stat()
    flip_created_by(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # a forged modification time
    fast = check_dataset(root)
    assert fast.ok and fast.method == "fast"  # documented: size and time agree
    full = check_dataset(root, full=True)
    assert not full.ok and full.hashed == full.files
    assert full.differences[0]["path"] == "observations.parquet"
    with pytest.raises(PinMismatchError):
        measure.open(root, verify=True)


def test_manifest_without_times_falls_back_to_hashing(
        world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    mpath = root / "manifest.json"
    m = json.loads(mpath.read_text())
    for entry in m["files"]:
        entry.pop("mtime_ns")
    mpath.write_text(json.dumps(m))
    rep = check_dataset(root)
    assert rep.ok and rep.hashed == rep.files
    f = root / "observations.parquet"
    st = f.stat()
    flip_created_by(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not check_dataset(root).ok


def test_file_changed_in_the_tick_the_manifest_was_written_is_rehashed(
        world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    mpath = root / "manifest.json"
    f = root / "observations.parquet"
    m = json.loads(mpath.read_text())
    flip_created_by(f)
    tick = mpath.stat().st_mtime_ns + 10**9
    for entry in m["files"]:
        if entry["path"] == f.name:
            entry["mtime_ns"] = tick
    mpath.write_text(json.dumps(m))
    # the file's time equals the manifest's: it cannot prove it came before
    os.utime(mpath, ns=(tick, tick))
    os.utime(f, ns=(tick, tick))
    rep = check_dataset(root)
    assert not rep.ok and rep.hashed == 1


def test_info_before_and_after_tampering(
        world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(world, tmp_path / "ds")
    pinned = json.loads((root / "manifest.json").read_text())["digest"]
    assert main(["info", str(root), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["digest"] == pinned and before["data_match"] is True
    assert before["data_digest"] == pinned
    assert before["check"]["method"] == "fast"
    assert before["check"]["hashed"] < before["check"]["files"]
    assert main(["info", str(root), "--verify", "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["check"]["method"] == "full"
    assert full["check"]["hashed"] == full["check"]["files"]
    assert full["data_digest"] == pinned

    tamper(root, "flipped")
    tamper(root, "added")
    as_is = build_manifest(root)["digest"]  # what `measure pin` would record
    for extra in ([], ["--verify"]):
        assert main(["info", str(root), "--json", *extra]) == 1
        after = json.loads(capsys.readouterr().out)
        assert after["digest"] == pinned and after["data_match"] is False
        assert after["data_digest"] == as_is != pinned
        kinds = {(d["kind"], d["path"]) for d in after["check"]["differences"]}
        assert kinds == {("changed", "observations.parquet"),
                         ("unexpected", "notes.parquet")}
    assert main(["info", str(root)]) == 1
    text = capsys.readouterr().out
    assert f"pinned digest: sha256:{pinned}" in text
    assert "data: DIFFER from the pinned digest" in text
    assert f"digest of the data as they are: sha256:{as_is}" in text


def test_info_reports_a_truncated_file_it_cannot_open(
        world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(world, tmp_path / "ds")
    tamper(root, "truncated")
    assert main(["info", str(root)]) == 1
    text = capsys.readouterr().out
    assert "changed    accounts.parquet" in text
    assert "cannot be opened" in text


def test_purge_and_export_refuse_modified_data(
        world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(world, tmp_path / "ds")
    tamper(root, "removed")
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n")
    assert main(["purge", str(root), "--ids", str(ids)]) == 1
    assert "labels.parquet" in capsys.readouterr().err
    key = tmp_path / "key.txt"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    assert main(["export", str(root), "--pseudonymise", "--key-file", str(key),
                 "--out", str(tmp_path / "export")]) == 1
    assert "labels.parquet" in capsys.readouterr().err
    assert not (tmp_path / "export").exists()


def test_report_ignores_its_own_output_inside_the_dataset(
        world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path / "ds")
    (root / "my-report.html").write_text("<html></html>")
    rep = check_dataset(root, ignore=("my-report.html",))
    assert rep.ok
    assert not check_dataset(root).ok


def test_census_sample_and_import_codes_pin_the_changed_dataset_again(
        world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(world, tmp_path / "ds")
    sheet = tmp_path / "sheet.csv"
    assert main(["census", "sample", str(root), "--strata", "in_friends", "--n",
                 "12", "--out", str(sheet), "--json"]) == 0
    sample = json.loads(capsys.readouterr().out)
    assert sample["repin_required"] is False
    assert check_dataset(root).ok  # design tables are in the new manifest
    coded = pl.read_csv(sheet).with_columns(label=pl.lit("supporter"))
    coded.write_csv(sheet)
    assert main(["census", "import-codes", str(root), str(sheet), "--coder", "ann",
                 "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["imported"] == 12
    pinned = json.loads((root / "manifest.json").read_text())
    assert imported["dataset_id"] == f"{pinned['name']}@sha256:{pinned['digest']}"
    assert imported["dataset_id"] != sample["dataset_id"]
    assert check_dataset(root, full=True).ok
