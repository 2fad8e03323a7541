"""The `measure census` command line: estimate, sample, import-codes, frame."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from measure.cli import main


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_sample_import_estimate(medium_world, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path, sup = medium_world
    sheet = tmp_path / "sheet.csv"
    out = run_json(capsys, ["census", "sample", str(path), "--strata", "in_friends",
                            "--n", "120", "--allocation", "equal", "--seed", "3",
                            "--out", str(sheet), "--json"])
    assert out["n"] == 120 and out["repin_required"] is False  # pinned again
    assert (path / "design.parquet").is_file()
    df = pl.read_csv(sheet)
    assert "link" in df.columns and df.height == 120
    df = df.with_columns(
        pl.when(pl.col("account_id").is_in(list(sup))).then(pl.lit("supporter"))
        .otherwise(pl.lit("non_supporter")).alias("label"))
    df.write_csv(sheet)
    imp = run_json(capsys, ["census", "import-codes", str(path), str(sheet),
                            "--coder", "ann", "--json"])
    assert imp["imported"] == 120 and imp["coders"] == ["ann"]
    res = run_json(capsys, ["census", "--json", str(path), "--metric",
                            "in_followers", "--sensitivity", "0.95",
                            "--specificity", "0.99"])
    for key in ("estimate", "ci", "lower_bound", "upper_bound", "frame_size",
                "n_coded", "strata", "method"):
        assert key in res
    assert res["n_coded"] == 120
    assert res["metric"] == "in_followers"
    assert res["corrected"]["estimate"] is not None
    # given error rates override: the headline is the corrected total
    assert res["estimate"] == res["corrected"]["estimate"]
    assert res["uncorrected"]["estimate"] is not None
    # one coder ("ann") cannot identify coder error: said so, with reasons
    assert res["coder_error"]["identified"] is False
    assert res["coder_error"]["reasons"]
    assert "frame_coverage" in res
    assert main(["census", str(path), "--no-model"]) == 0
    text = capsys.readouterr().out
    assert "at least" in text and "stratum" in text
    assert "misclassification grid" in text and "uncorrected" in text


def test_cli_frame_and_help(tiny_world: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["census", "frame", str(tiny_world), "--out",
                            str(tmp_path / "f.parquet"), "--json"])
    assert out["frame_size"] == 9
    assert pl.read_parquet(tmp_path / "f.parquet").height == 9
    with pytest.raises(SystemExit):
        main(["census", "--help"])
    helptext = capsys.readouterr().out
    assert "measure census sample DATASET" in helptext
    assert "import-codes" in helptext


def test_cli_errors_are_one_paragraph(tiny_world: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["census", str(tiny_world)]) == 1
    err = capsys.readouterr().err
    assert "labels" in err
