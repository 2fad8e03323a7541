"""Hand-built datasets for the resurrection tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from measure import DatasetWriter
from measure.resurrection._synthetic import make_synthetic, write_synthetic

T0 = dt.datetime(2014, 9, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")


def day(d: float) -> dt.datetime:
    """``T0`` plus ``d`` days."""
    return T0 + dt.timedelta(days=d)


def tiny_tables() -> dict[str, pl.DataFrame]:
    """Two actors and two unrelated accounts.

    Actor A: ``abu_x`` (1, suspended between day 14 and 21) -> ``abu_x2`` (2, created
    day 23, same name and avatar; suspended between day 42 and 49) -> ``Ａｂｕ_Ｘ3``
    (3, full-width handle, created day 52). Actor B: ``umm_y`` (4, suspended
    between day 21 and 28) -> ``totally_new`` (5, created day 30, same avatar and
    bio, shares followers). Unrelated: ``abu_x77`` (6, created day 100: outside the
    60-day window of 1) and ``zed`` (7, created day 25, nothing shared).
    """
    acc = pl.DataFrame({
        "account_id": [1, 2, 3, 4, 5, 6, 7],
        "screen_name": ["abu_x", "abu_x2", "Ａｂｕ_Ｘ3", "umm_y", "totally_new",
                        "abu_x77", "zed"],
        "display_name": ["Abu X", "Abu X", "أبو إكس", "Umm Y", "Someone",
                         "Abu X", "Zed"],
        "description": ["baqiya wa tatamadad in sham and iraq", None, None,
                        "sabr sabr sabr until the end of days", "sabr sabr sabr "
                        "until the end of days", None, "football and coffee"],
        "profile_image_hash": ["h1", "h1", "h3", "h4", "h4", "h6", "h7"],
        "created_at": [day(0), day(23), day(52), day(0), day(30), day(100), day(25)],
    }, schema_overrides={"created_at": TS}).with_columns(
        pl.col("created_at").alias("first_seen"))
    obs = []
    life = {1: (0, 14, 21), 2: (28, 42, 49), 3: (56, None, None), 4: (0, 21, 28),
            5: (35, None, None), 6: (105, None, None), 7: (28, None, None)}
    for a, (first, _last_act, susp) in life.items():
        t = first
        while t <= 112:
            if susp is not None and t >= susp:
                obs.append((a, day(t), "suspended", None))
            else:
                obs.append((a, day(t), "active", 100 * a + t))
            t += 7
    observations = pl.DataFrame(obs, schema=[("account_id", pl.Int64),
                                             ("observed_at", TS), ("status", pl.Utf8),
                                             ("followers_count", pl.Int64)],
                                orient="row")
    edges = pl.DataFrame({
        "src": [101, 102, 103, 104, 101, 102, 103, 201, 202],
        "dst": [4, 4, 4, 4, 5, 5, 5, 7, 7],
        "relation": ["follows"] * 9,
    })
    return {"accounts": acc, "observations": observations, "edges": edges}


def write(path: Path, tables: dict[str, pl.DataFrame]) -> Path:
    """Write tables as a dataset at ``path``."""
    with DatasetWriter(path, overwrite=True) as w:
        for k, v in tables.items():
            w.write_table(k, v)
    return path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny hand-built dataset."""
    return write(tmp_path_factory.mktemp("rs") / "tiny", tiny_tables())


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory):
    """A synthetic linkage dataset (400 suspended, 800 unrelated new) and truth."""
    syn = make_synthetic(400, 800, seed=3)
    path = write_synthetic(syn, tmp_path_factory.mktemp("rs") / "synth")
    return path, syn


@pytest.fixture(scope="session")
def synth_result(synth):
    """``analyze`` on the synthetic dataset (shared by several tests)."""
    import measure
    from measure.resurrection import analyze

    return analyze(measure.open(synth[0]), n_boot=50)
