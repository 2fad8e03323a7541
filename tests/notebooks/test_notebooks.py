"""Execute every example notebook against a small simulated world.

Each notebook in ``notebooks/`` runs top to bottom in a fresh ``python3`` kernel (the
one of the interpreter running the tests) with ``MEASURE_DATASET`` pointing at the
``small_world`` fixture; an error in any cell fails the test. Committed notebooks must
carry no outputs (``python tools/strip_notebooks.py`` strips them).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Seconds one notebook may take on the small world (a cell that hangs fails the
#: test instead of blocking CI); the notebooks take a few seconds each.
CELL_TIMEOUT = 300
#: Every notebook must run in under a minute on the demo world; on the small world
#: (5x smaller) on a loaded 2-core machine, allow twice that.
NOTEBOOK_BUDGET_S = 120

sys.path.insert(0, str(ROOT / "tools"))
from strip_notebooks import is_dirty  # noqa: E402

EXPECTED = (
    "01-census",
    "02-capture-recapture",
    "03-churn",
    "04-resurrection",
    "05-reproduce-a-paper",
    "06-bring-your-own-data",
)


def test_every_topic_has_a_notebook() -> None:
    assert [p.stem for p in NOTEBOOKS] == list(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert not is_dirty(nb), (
        f"{path.name} has outputs or execution counts; run "
        "python tools/strip_notebooks.py before committing"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, small_world: Path, monkeypatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("MEASURE_DATASET", str(small_world))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the failing cell
    seconds = time.perf_counter() - t0
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert seconds < NOTEBOOK_BUDGET_S, f"{path.name} took {seconds:.0f} s"
