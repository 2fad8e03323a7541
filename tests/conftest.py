"""Shared fixtures: simulated worlds with known truth (``measure.simulate``).

``small_world`` is the path of a ``small`` preset world (seed 1); use
``small_world_factory(seed, **overrides)`` for other seeds or parameters (flat
field names such as ``p_return=0.8``, dotted names or section dicts, see
``SimConfig.replace``). Worlds are built once per test session and cached per
arguments. Read the truth with ``measure.simulate.load_truth(path)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def small_world_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Path]:
    """Return ``make(seed=1, scale=1.0, **overrides) -> Path`` (cached small worlds)."""
    from measure.simulate import SimConfig, simulate

    cache: dict[tuple[Any, ...], Path] = {}

    def make(seed: int = 1, scale: float = 1.0, **overrides: Any) -> Path:
        key = (seed, scale, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in cache:
            cfg = SimConfig.preset("small", scale=scale)
            if overrides:
                cfg = cfg.replace(**overrides)
            out = tmp_path_factory.mktemp(f"small_world_seed{seed}") / "world"
            simulate(cfg, seed, out)
            cache[key] = out
        return cache[key]

    return make


@pytest.fixture(scope="session")
def small_world(small_world_factory: Callable[..., Path]) -> Path:
    """Path of the ``small`` preset world, seed 1 (dataset + truth.json + truth/)."""
    return small_world_factory(1)


@pytest.fixture(scope="session")
def small_truth(small_world: Path) -> Any:
    """``measure.simulate.load_truth(small_world)``."""
    from measure.simulate import load_truth

    return load_truth(small_world)
