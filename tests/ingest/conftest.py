from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FIFTH_TRIBE = (Path(__file__).resolve().parents[3] / "shared" / "reference-data"
               / "fifth-tribe" / "tweets.csv")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
