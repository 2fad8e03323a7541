"""Run the main job on the embedded default (the simulator's ``demo`` preset)."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure.dataset import open_dataset, verify_dataset

DEMO_PATH = Path("data/processed/demo")
DEMO_SEED = 20141101
REPORT_NAME = "report.html"
ANALYSES = ("census", "capture", "churn", "resurrection", "describe")


@dataclass
class DemoOutcome:
    """What the demo did: the dataset id, each result, or why an analysis is absent."""

    path: Path
    dataset_id: str
    reused: bool
    results: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    report: Path | None = None


def _is_current(path: Path, seed: int) -> bool:
    """Tell whether ``path`` holds this version's intact demo world for ``seed``.

    Same preset, seed, measure version, simulator version and parameters, and the files
    verify against the manifest; anything else is simulated again.
    """
    from measure import __version__

    mpath, tpath = path / "manifest.json", path / "truth.json"
    if not (mpath.is_file() and tpath.is_file()):
        return False
    truth = json.loads(tpath.read_text())
    version = json.loads(mpath.read_text()).get("measure_version")
    if truth.get("preset") != "demo" or truth.get("seed") != seed or (
            version != __version__):
        return False
    # a world made by an older simulator (other parameters) is not this demo
    from measure.simulate import SimConfig
    from measure.simulate._truth import SIMULATOR_VERSION

    current = json.loads(json.dumps(SimConfig.preset("demo").to_dict()))
    if truth.get("config") != current or (
            truth.get("simulator_version") != SIMULATOR_VERSION):
        return False
    return verify_dataset(path).ok


def run_demo(path: str | Path = DEMO_PATH, *, seed: int = DEMO_SEED,
             report: bool = True,
             log: Callable[[str], None] = print) -> DemoOutcome:
    """Simulate the ``demo`` world (unless already present and intact) and analyse it.

    Parameters
    ----------
    path
        Where the demo dataset lives (default ``data/processed/demo``).
    seed
        Simulation seed.
    report
        Also write ``report.html`` into the dataset directory when the report module
        is available.
    log
        Where progress lines go.
    """
    from measure.simulate import SimConfig, simulate

    path = Path(path)
    t0 = time.perf_counter()
    reused = _is_current(path, seed)
    if reused:
        log(f"demo world already present and verified at {path}")
    else:
        log(f"simulating the demo world (seed {seed}) into {path} ...")
        simulate(SimConfig.preset("demo"), seed, path, overwrite=True)
    manifest = json.loads((path / "manifest.json").read_text())
    outcome = DemoOutcome(path=path, reused=reused,
                          dataset_id=f"{manifest['name']}@sha256:{manifest['digest']}")
    outcome.seconds["simulate"] = time.perf_counter() - t0
    log(f"dataset {outcome.dataset_id}")
    with open_dataset(path) as ds:
        for name in ANALYSES:
            try:
                mod = importlib.import_module(f"measure.{name}")
                analyze = mod.analyze
            except (ModuleNotFoundError, AttributeError):
                outcome.skipped[name] = "not available in this version"
                continue
            t = time.perf_counter()
            res = analyze(ds)
            outcome.seconds[name] = time.perf_counter() - t
            outcome.results[name] = res
            log(f"\n== {name} ({outcome.seconds[name]:.1f} s) ==\n{res.summary()}")
    if report:
        try:
            from measure.report import write_report
        except (ModuleNotFoundError, ImportError):
            outcome.skipped["report"] = "report module not available"
        else:
            out = path / REPORT_NAME
            write_report(path, out, results=outcome.results)
            outcome.report = out
            log(f"\nreport written to {out}")
    return outcome
