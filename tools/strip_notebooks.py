"""Strip outputs and execution counts from notebooks before they are committed.

Usage::

    python tools/strip_notebooks.py            # every notebooks/*.ipynb, in place
    python tools/strip_notebooks.py A.ipynb B.ipynb
    python tools/strip_notebooks.py --check    # exit 1 if any notebook has outputs

Also drops per-cell ``execution`` metadata and kernel-session widgets state, so that
a committed notebook changes only when its code or text changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: Cell metadata keys written by Jupyter or nbclient at run time.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
#: Notebook metadata keys written at run time.
VOLATILE_NB_METADATA = ("widgets", "varInspector", "toc")


def is_dirty(nb: nbformat.NotebookNode) -> bool:
    """Whether any code cell carries outputs or an execution count."""
    return any(
        c.cell_type == "code"
        and (c.get("outputs") or c.get("execution_count") is not None)
        for c in nb.cells
    )


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and run-time metadata (in place)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    for key in VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    return nb


def main(argv: list[str] | None = None) -> int:
    """Strip (or with ``--check`` only inspect) the given or all notebooks."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument(
        "--check",
        action="store_true",
        help="report notebooks with outputs and exit 1; change nothing",
    )
    args = ap.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        if not is_dirty(nb) and not args.check:
            before = p.read_text(encoding="utf-8")
            after = nbformat.writes(strip(nb)) + "\n"
            if before != after:
                p.write_text(after, encoding="utf-8")
            continue
        if is_dirty(nb):
            dirty.append(p)
            if not args.check:
                p.write_text(nbformat.writes(strip(nb)) + "\n", encoding="utf-8")
                print(f"stripped {p}")
    if args.check and dirty:
        for p in dirty:
            print(
                f"{p}: has outputs; run python tools/strip_notebooks.py",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
