"""Fixtures of the capture–recapture tests: the shared reference data sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

REFERENCE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference-data"
    / "capture-recapture"
)


@pytest.fixture(scope="session")
def ref_csv() -> Callable[[str], pl.DataFrame]:
    """Read ``<reference>/<rel>`` as polars; skip when the data are absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not present at {REFERENCE}")

    def read(rel: str) -> pl.DataFrame:
        return pl.read_csv(REFERENCE / rel)

    return read
