"""Tests of the notebook helpers and of the notebook stripper."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from measure.errors import DataContractError
from measure.report import notebook_dataset, repo_root

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import strip_notebooks  # noqa: E402


def test_env_var_names_the_dataset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEASURE_DATASET", str(tmp_path))
    assert notebook_dataset(log=False) == tmp_path


def test_env_var_must_be_a_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEASURE_DATASET", str(tmp_path / "missing"))
    with pytest.raises(DataContractError, match="MEASURE_DATASET"):
        notebook_dataset(log=False)


def test_fallback_simulates_the_demo_world_once(tmp_path: Path, monkeypatch) -> None:
    """Without the variable, the demo world is simulated into the checkout once."""
    import measure.simulate as sim
    from measure.demo._run import DEMO_SEED

    calls = []

    def fake_simulate(config, seed, out, overwrite=False):
        calls.append((seed, Path(out)))
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "manifest.json").write_text("{}")
        (out / "truth.json").write_text(json.dumps({"preset": "demo", "seed": seed}))
        return out

    monkeypatch.delenv("MEASURE_DATASET", raising=False)
    monkeypatch.setattr(sim, "simulate", fake_simulate)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert repo_root() == tmp_path
    first = notebook_dataset(log=False)
    assert first == tmp_path / "data" / "processed" / "demo"
    assert notebook_dataset(log=False) == first
    assert calls == [(DEMO_SEED, first)]


def test_strip_removes_outputs_and_counts(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell("print(1)")])
    nb.cells[0].outputs = [new_output("stream", name="stdout", text="1\n")]
    nb.cells[0].execution_count = 3
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2024"}
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert strip_notebooks.main(["--check", str(path)]) == 1
    assert strip_notebooks.main([str(path)]) == 0
    cleaned = nbformat.read(path, as_version=4)
    assert not strip_notebooks.is_dirty(cleaned)
    assert "execution" not in cleaned.cells[0].metadata
    assert cleaned.cells[0].source == "print(1)"
    assert strip_notebooks.main(["--check", str(path)]) == 0
