from __future__ import annotations

from pathlib import Path

import pytest

from ._helpers import FIXTURES


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
