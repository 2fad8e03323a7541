"""Analyses leave the user's DuckDB connection as they found it.

Each family's ``analyze`` runs on the ``small`` simulated world (seed 1) with its
fast options (as in ``tests/test_result_contract.py``); afterwards the dataset's
connection holds exactly the tables and views (``duckdb_tables()``,
``duckdb_views()``) and registered frames it held before. A frame the user built
with ``measure.census.build_frame`` is reused by ``analyze`` and kept.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import measure

#: Fast options per family (bootstrap and sampler sizes cut, side models off).
FAST: dict[str, dict[str, Any]] = {
    "census": {"model": False},
    "capture": {"latent_class": False, "graphical": False},
    "churn": {"turnbull_fit": False, "age_period": None},
    "resurrection": {"n_boot": 20, "n_imputations": 4, "decoys": False},
    "describe": {"n_boot": 50},
}


def objects(con: Any) -> set[tuple[str, str, str]]:
    """Every table and non-internal view on ``con``: (kind, schema, name)."""
    tables = con.execute("SELECT 'table', schema_name, table_name FROM "
                         "duckdb_tables()").fetchall()
    views = con.execute("SELECT 'view', schema_name, view_name FROM duckdb_views() "
                        "WHERE NOT internal").fetchall()
    return set(tables) | set(views)


@pytest.mark.parametrize("family", tuple(FAST))
def test_analyze_leaves_no_table_or_view_on_the_connection(
        small_world: Path, family: str) -> None:
    mod = importlib.import_module(f"measure.{family}")
    with measure.open(small_world) as ds:
        before = objects(ds.con)
        assert ("view", "main", "accounts") in before  # the dataset's own views
        res = mod.analyze(ds, **FAST[family])
        after = objects(ds.con)
    assert res.estimate is not None
    assert sorted(after - before) == []
    assert sorted(before - after) == []


def test_a_frame_built_by_the_user_is_reused_and_kept(small_world: Path) -> None:
    from measure.census import analyze, build_frame, frame_info

    with measure.open(small_world) as ds:
        name = build_frame(ds, ranks=False)
        before = objects(ds.con)
        assert ("table", "main", name) in before
        info = frame_info(ds)
        analyze(ds, model=False)
        assert objects(ds.con) == before
    with measure.open(small_world) as ds:  # a fresh connection builds it again
        assert frame_info(ds) == info
        assert not any(n.startswith("census_") for _, _, n in objects(ds.con))
