"""No module-level import cycle in ``src/measure``.

The imports each module runs when it is loaded (statements at module level,
inside ``if``/``try`` blocks too, but not under ``if TYPE_CHECKING`` and not inside
functions) are read with :mod:`ast`; ``from package import name`` counts as an
import of the submodule when ``name`` is one. Strongly connected components of
that graph (Tarjan, R. (1972). Depth-first search and linear graph algorithms.
*SIAM Journal on Computing* 1(2)) with more than one module are the cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import measure

SRC = Path(measure.__file__).resolve().parent


def module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) under ``root``."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def _absolute(module: str, name: str | None, level: int, is_pkg: bool) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _top_level(nodes: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import: the body and nested ``if``/``try`` blocks."""
    out: list[ast.stmt] = []
    for n in nodes:
        if isinstance(n, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(n.test):
                out += _top_level(n.body)
            out += _top_level(n.orelse)
        elif isinstance(n, ast.Try):
            out += _top_level(n.body) + _top_level(n.orelse) + _top_level(
                n.finalbody)
            for h in n.handlers:
                out += _top_level(h.body)
        else:
            out.append(n)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> modules of the package it imports at module level."""
    mods = module_names(root)
    graph: dict[str, set[str]] = {}
    for m, (f, is_pkg) in mods.items():
        deps: set[str] = set()
        for n in _top_level(ast.parse(f.read_text()).body):
            if isinstance(n, ast.Import):
                deps.update(a.name for a in n.names)
            elif isinstance(n, ast.ImportFrom):
                base = _absolute(m, n.module, n.level, is_pkg)
                for a in n.names:
                    sub = f"{base}.{a.name}"
                    deps.add(sub if sub in mods else base)
        # importing a.b.c runs a.b (and a) first, unless the importer is inside it
        for d in list(deps):
            while "." in d:
                d = d.rsplit(".", 1)[0]
                if not m.startswith(d + ".") and d != m:
                    deps.add(d)
        graph[m] = {d for d in deps if d in mods and d != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_detector_finds_a_cycle_and_ignores_lazy_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "fam").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "fam" / "__init__.py").write_text("from pkg.fam._result import R\n")
    (pkg / "fam" / "_result.py").write_text(
        "from . import _plot\nR = 1\n")
    (pkg / "fam" / "_plot.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.fam._lazy import L\n"
        "try:\n    from pkg.fam._result import R\nexcept ImportError:\n    R = 0\n")
    (pkg / "fam" / "_lazy.py").write_text(
        "def f():\n    from pkg.fam import _result\n    return _result\n")
    g = import_graph(pkg)
    assert g["pkg.fam._result"] == {"pkg.fam._plot"}
    assert g["pkg.fam._plot"] == {"pkg.fam._result"}  # not _lazy (TYPE_CHECKING)
    assert g["pkg.fam._lazy"] == set()  # the import inside a function is lazy
    assert cycles(g) == [["pkg.fam._plot", "pkg.fam._result"]]


def test_no_module_level_import_cycle_in_measure() -> None:
    g = import_graph(SRC)
    assert len(g) > 100  # every module of the package was read
    assert g["measure.churn._lifetimes"] >= {"measure._cohort", "measure.dataset"}
    assert cycles(g) == []
