"""The dataset the example notebooks analyse."""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Environment variable naming the dataset the notebooks use (the tests set it).
ENV_VAR = "MEASURE_DATASET"


def _repo_root(start: Path) -> Path:
    """Find the nearest folder above ``start`` with ``pyproject.toml``."""
    for p in (start, *start.parents):
        if (p / "pyproject.toml").is_file():
            return p
    return start


def repo_root() -> Path:
    """Return the checkout's root folder (above the working directory).

    The notebooks run from ``notebooks/``; paths such as ``data/processed`` or
    ``tests/ingest/fixtures`` are relative to this folder.
    """
    return _repo_root(Path.cwd().resolve())


def notebook_dataset(*, log: bool = True) -> Path:
    """Return the path of the dataset the notebooks analyse.

    ``$MEASURE_DATASET`` when set (the notebook tests point it at a small simulated
    world); otherwise the ``demo`` preset world in ``data/processed/demo`` of the
    checkout, simulated first (same seed as ``measure demo``) unless it is already
    there.

    Parameters
    ----------
    log
        Print which dataset is used.

    Raises
    ------
    measure.errors.DataContractError
        ``$MEASURE_DATASET`` names something that is not a directory.
    """
    from measure.errors import DataContractError

    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise DataContractError(
                f"${ENV_VAR} names '{path}', which is not a dataset directory; unset "
                "it to use the demo world or point it at a dataset",
                file=str(path),
            )
        if log:
            print(f"dataset: {path} (from ${ENV_VAR})")
        return path
    from measure.demo._run import DEMO_PATH, DEMO_SEED

    path = repo_root() / DEMO_PATH
    truth = path / "truth.json"
    current = (
        (path / "manifest.json").is_file()
        and truth.is_file()
        and (
            json.loads(truth.read_text()).get("preset") == "demo"
            and json.loads(truth.read_text()).get("seed") == DEMO_SEED
        )
    )
    if not current:
        from measure.simulate import SimConfig, simulate

        if log:
            print(f"simulating the demo world (seed {DEMO_SEED}) into {path} ...")
        simulate(SimConfig.preset("demo"), DEMO_SEED, path, overwrite=True)
    if log:
        print(f"dataset: {path}")
    return path


def notebook_truth(path: str | os.PathLike[str]) -> object | None:
    """Return the simulation truth of a simulated dataset, else ``None``.

    Only for checking estimates against known values in the example notebooks;
    estimators never read it.
    """
    if not (Path(path) / "truth.json").is_file():
        return None
    from measure.simulate import load_truth

    return load_truth(path)
