"""Paths and hashing shared by the ingest tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
FIFTH_TRIBE = (Path(__file__).resolve().parents[3] / "shared" / "reference-data"
               / "fifth-tribe" / "tweets.csv")
if not FIFTH_TRIBE.is_file():  # the checkout may live elsewhere
    FIFTH_TRIBE = Path("/work/shared/reference-data/fifth-tribe/tweets.csv")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
