"""Every SQL statement of the package, rendered as it runs.

:func:`catalogue` lists the statements of the families' ``_sql`` modules (census,
capture, churn, describe: module-level strings; resurrection: :class:`Step`
values, rendered by a :class:`~measure._steps.StepRunner` exactly as it runs
them) and the SQL written inline elsewhere in the package (found in the source
by its syntax tree). Templated statements are rendered with representative
values: each fragment a family fills in at run time appears in at least one
rendering. The transpilation check (``tests/engine/test_transpile.py``) runs
every entry through :func:`measure.engine._dialect.check_statement`.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure._steps import Step, StepRunner

#: Families whose SQL lives in an ``_sql`` module of module-level strings.
STRING_MODULES = ("capture", "census", "churn", "describe")
#: Families whose ``_sql`` module holds :class:`~measure._steps.Step` values.
STEP_MODULES = ("resurrection",)

#: How a statement starts (the package writes SQL keywords in upper case).
SQL_START = re.compile(r"^\s*(SELECT|WITH|CREATE|INSERT|DELETE|COPY|DROP|UPDATE)\s")


@dataclass(frozen=True)
class Statement:
    """One SQL statement as the package runs it.

    Attributes
    ----------
    name
        ``module.CONSTANT`` (with ``[variant]`` for a rendering of a template),
        ``module.STEP_NAME`` for a step, or ``module:function#i`` for inline SQL.
    origin
        The module that holds it (dotted name).
    sql
        The DuckDB SQL, templates filled in.
    """

    name: str
    origin: str
    sql: str


# -- representative renderings of the templated statements ----------------------
def _census_renderings(sql: Any) -> dict[str, dict[str, dict[str, str]]]:
    key15 = {"key_type": "INTEGER", "bits": "15", "mask": "32767"}
    return {
        "FOLLOWS": {
            "observed_at": {"observed_at": sql.OBSERVED_AT, "source": "edges",
                            "relation": sql.RELATION_FILTER},
            "no_observed_at": {"observed_at": sql.NO_OBSERVED_AT,
                               "source": "census_distinct", "relation": ""}},
        "EDGES_ALL": {
            "observed_at": {"observed_at": sql.OBSERVED_AT, "source": "edges",
                            "relation": sql.RELATION_WHERE},
            "no_observed_at": {"observed_at": sql.NO_OBSERVED_AT, "source": "edges",
                               "relation": ""}},
        "DISTINCT_EDGES": {"relation": {"relation": sql.RELATION_FILTER},
                           "plain": {"relation": ""}},
        "CRAWLS": {
            "columns": {"complete": sql.COMPLETE, "collected_at": sql.COLLECTED_AT},
            "no_columns": {"complete": sql.NO_COMPLETE,
                           "collected_at": sql.NO_COLLECTED_AT}},
        "OUT_AGG": {"attribution": {"attribution": sql.ATTRIBUTION},
                    "plain": {"attribution": ""}},
        "SEEDS_OUT": {"attribution": {"attribution": sql.ATTRIBUTION_AND},
                      "plain": {"attribution": ""}},
        "CORE_KEYS_FOLLOWERS": {
            "int15": {**key15, "where": ""},
            "bigint32_outside_attribution": {
                "key_type": "BIGINT", "bits": "32", "mask": "4294967295",
                "where": sql.OUTSIDE_ROWS + " " + sql.ATTRIBUTION_AND}},
        "SEEDS_FROM_KEYS": {"int15": key15},
        "DROP_SELF_LOOPS": {"int15": key15},
        "CORE_USED_FOLLOWERS": {"int15": {**key15, "id_type": "BIGINT"}},
        "IN_AGG_KEYS": {"int15": {**key15, "id_type": "BIGINT"}},
        "RECIP_KEYS": {"int15": key15},
        "LATEST_EMPTY": {"bigint": {"id_type": "BIGINT"}},
        "FRAME_PROFILE": {"profile": {"profile": ", ".join(
            f"a.{c}" for c in sql.PROFILE_COLUMNS)}},
        "COPY_RANKED": {"path": {"path": "'run/census_ranked.parquet'"}},
    }


def _churn_renderings(sql: Any) -> dict[str, dict[str, dict[str, str]]]:
    items = ",\n    ".join(sql.ENTRY_COUNT_ITEM.format(src=s, name=n)
                           for n, s in sql.ENTRY_COUNT_COLUMNS.items())
    return {
        "LOOKUP_SUMMARY": {"cohort": {"cohort": sql.COHORT_JOIN},
                           "all": {"cohort": ""}},
        "ENTRY_COUNTS": {"cohort": {"cohort": sql.COHORT_JOIN, "columns": items}},
        "ACCOUNT_ATTRIBUTES": {"columns": {
            "columns": ", a." + sql.quote_ident("lang"),
            "where": "a.account_id IN (SELECT account_id FROM _churn_cohort) "
                     "AND a.created_at >= ?"}},
    }


def _describe_renderings(sql: Any) -> dict[str, dict[str, dict[str, str]]]:
    acc = "".join(f", a.{c}" for c in sql.ACCOUNT_COLUMNS)
    latest = "".join(f", arg_max_null(o.{c}, o.observed_at) AS {c}"
                     for c in sql.COUNT_COLUMNS)
    counts = "".join(f", o.{c}" for c in sql.COUNT_COLUMNS)
    return {"COHORT_ACCOUNTS": {"columns": {"cols": acc}},
            "LATEST_ACTIVE": {"counts": {"cols": latest}},
            "BEFORE_SUSPENSION": {"counts": {"cols": latest}},
            "SCAN_OBSERVATIONS": {"counts": {"cols": counts}},
            "SCAN_COHORT_OBSERVATIONS": {"counts": {"cols": counts}},
            "ACCOUNT_ROWS": {"columns": {"cols": acc}}}


_RENDERINGS = {"census": _census_renderings, "churn": _churn_renderings,
               "describe": _describe_renderings}
_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def _string_statements(family: str) -> Iterator[Statement]:
    module = importlib.import_module(f"measure.{family}._sql")
    origin = module.__name__
    renderings = _RENDERINGS.get(family, lambda _: {})(module)
    for const, value in vars(module).items():
        if not (const.isupper() and isinstance(value, str) and SQL_START.match(value)):
            continue
        name = f"{family}._sql.{const}"
        if not _FIELD.search(value):
            yield Statement(name, origin, value)
            continue
        if const not in renderings:
            raise LookupError(f"{name} is a template without a representative "
                              "rendering; add one to measure.engine._catalogue")
        for variant, fields in renderings[const].items():
            yield Statement(f"{name}[{variant}]", origin, value.format(**fields))


def _step_statements(family: str) -> Iterator[Statement]:
    module = importlib.import_module(f"measure.{family}._sql")
    runner = StepRunner(None)
    runner.token = "cat"
    steps = [(const, v) for const, v in vars(module).items() if isinstance(v, Step)]
    if hasattr(module, "accounts_select"):
        steps += [("accounts_select[all_columns]",
                   module.accounts_select(set(module.ACCOUNT_COLUMNS))),
                  ("accounts_select[id_only]", module.accounts_select({"account_id"}))]
    for label, step in steps:
        yield Statement(f"{family}._sql.{label}", module.__name__,
                        runner._statement(step))


# -- inline SQL ------------------------------------------------------------------
#: Representative values for the expressions inline f-strings interpolate (by
#: their source text); any other expression renders as the identifier ``x``.
INLINE_VALUES = {"pred": "a.lang = ?", "where": "x IS NULL", "q": '"x"',
                 "cast": "VARCHAR", "sel": '"x"', "body": "SELECT 1 AS x",
                 "kind": "TABLE"}


def _render(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_render(v) for v in node.values)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.IfExp):
        return _render(node.value.body)
    if isinstance(node, ast.FormattedValue):
        return INLINE_VALUES.get(ast.unparse(node.value), "x")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _render(node.left) + _render(node.right)
    return "x"


def _sql_nodes(tree: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    """(enclosing function, outermost SQL string expression) pairs of a module."""
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant | ast.JoinedStr):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.JoinedStr | ast.Expr):
            continue  # a piece of an f-string, or a docstring
        top: ast.expr = node
        while isinstance(parents.get(top), ast.BinOp):
            top = parents[top]  # type: ignore[assignment]
        if top is not node and _leftmost(top) is not node:
            continue
        if not SQL_START.match(_render(top)):
            continue
        func = parent
        while func is not None and not isinstance(func, ast.FunctionDef
                                                  | ast.AsyncFunctionDef):
            func = parents.get(func)
        yield (func.name if func is not None else "<module>"), top


def _leftmost(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.BinOp):
        node = node.left
    return node


def package_root() -> Path:
    """Directory of the ``measure`` package sources."""
    return Path(importlib.import_module("measure").__file__).parent


def _is_sql_module(path: Path) -> bool:
    rel = path.relative_to(package_root()).parts
    return rel[-1] == "_sql.py" and rel[0] in STRING_MODULES + STEP_MODULES


def _inline_statements() -> Iterator[Statement]:
    root = package_root()
    for path in sorted(root.rglob("*.py")):
        if _is_sql_module(path) or path.parent.name == "engine":
            continue
        rel = path.relative_to(root).with_suffix("")
        module = "measure." + ".".join(rel.parts)
        counts: dict[str, int] = {}
        for func, node in _sql_nodes(ast.parse(path.read_text())):
            counts[func] = counts.get(func, 0) + 1
            yield Statement(f"{module}:{func}#{counts[func]}", module, _render(node))


def catalogue() -> tuple[Statement, ...]:
    """Every SQL statement of the package (see the module docstring).

    Raises
    ------
    LookupError
        When a templated statement has no representative rendering.
    """
    out: list[Statement] = []
    for family in STRING_MODULES:
        out.extend(_string_statements(family))
    for family in STEP_MODULES:
        out.extend(_step_statements(family))
    out.extend(_inline_statements())
    return tuple(out)


__all__ = ["INLINE_VALUES", "Statement", "catalogue", "package_root"]
