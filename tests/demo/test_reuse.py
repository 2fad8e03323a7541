"""The demo reuses an existing world only when it is this simulator's demo world."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from measure import __version__
from measure.demo import _run
from measure.simulate import SimConfig
from measure.simulate._truth import SIMULATOR_VERSION


def _fake_world(
    path: Path, config: dict, simulator_version: int = SIMULATOR_VERSION
) -> Path:
    path.mkdir()
    (path / "manifest.json").write_text(json.dumps({"measure_version": __version__}))
    (path / "truth.json").write_text(
        json.dumps(
            {
                "preset": "demo",
                "seed": 7,
                "config": config,
                "simulator_version": simulator_version,
            }
        )
    )
    return path


@pytest.fixture
def files_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    # isolate the parameter check from the manifest check (tested in tests/dataset)
    monkeypatch.setattr(_run, "verify_dataset", lambda p: SimpleNamespace(ok=True))


def test_current_parameters_are_reused(tmp_path: Path, files_verify: None) -> None:
    config = json.loads(json.dumps(SimConfig.preset("demo").to_dict()))
    assert _run._is_current(_fake_world(tmp_path / "w", config), 7)


def test_world_from_other_parameters_is_simulated_again(
    tmp_path: Path, files_verify: None
) -> None:
    config = json.loads(json.dumps(SimConfig.preset("demo").to_dict()))
    config["observation"].pop("recrawl_followers")  # an older simulator
    assert not _run._is_current(_fake_world(tmp_path / "w", config), 7)


def test_world_from_an_older_simulator_version_is_simulated_again(
    tmp_path: Path, files_verify: None
) -> None:
    # same parameters, but profiles were generated differently (e.g. bios, session 3)
    config = json.loads(json.dumps(SimConfig.preset("demo").to_dict()))
    old = _fake_world(tmp_path / "w", config, simulator_version=SIMULATOR_VERSION - 1)
    assert not _run._is_current(old, 7)
