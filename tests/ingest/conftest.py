from __future__ import annotations

from pathlib import Path

import pytest

from ._helpers import FIXTURES


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_writes_outside_the_repository(tmp_path_factory):
    """Keep Hypothesis's storage (its cache of constants) in a temporary folder.

    The fuzz tests keep no example database (``database=None``); Hypothesis would
    still create ``.hypothesis/`` in the working directory for other caches.
    """
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def raw_copy(tmp_path: Path):
    """Copy a fixture into tmp_path/raw/ and return its path."""

    def copy(name: str, dest: str | None = None) -> Path:
        src = FIXTURES / name
        out = tmp_path / "raw" / (dest or name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(src.read_bytes())
        return out

    return copy
