"""The project's DuckDB -> Spark SQL translation (sqlglot plus a few rewrites).

measure keeps every SQL statement in DuckDB's dialect. :func:`to_spark` turns one
statement into a :class:`SparkPlan`: the Spark SQL of its query and what to do
with the rows (return them, store them as a named intermediate table, append them,
write them to Parquet). sqlglot does most of the work; the rewrites below fix the
places where its output parses in Spark but means something else, and
:class:`UnsupportedOnSpark` names the statement and the construct where no
faithful rewrite exists.

Rewrites (DuckDB construct -> Spark construct, and why):

* ``hash(x) % n = k`` (a slice filter) -> ``pmod(hash(x), n) = k``: Spark's
  ``hash`` is a signed 32-bit value, so ``%`` is negative for half the rows and
  those rows fall in no slice. Any other use of ``hash`` is refused: the two
  engines' hash values differ.
* ``epoch(t)`` -> ``CAST(unix_micros(t) AS DOUBLE) / 1000000``;
  ``to_timestamp(s)`` -> ``timestamp_micros(CAST(round(s * 1000000) AS BIGINT))``:
  Spark's ``unix_timestamp``/``from_unixtime`` drop the sub-second part.
* ``to_days(n)``, ``to_hours(n)``, ``to_microseconds(n)`` -> ``n * INTERVAL ...``
  (sqlglot passes ``TO_DAYS`` through; Spark has no such function).
* ``arg_max(x, y)``/``arg_min`` -> ``max_by(x, CASE WHEN x IS NOT NULL THEN y
  END)``: DuckDB skips rows whose ``x`` is NULL, Spark's ``max_by`` does not;
  ``arg_max_null`` -> plain ``max_by``.
* ``list_position`` -> ``array_position`` (used only on values known to be in
  the list: Spark answers 0 where DuckDB answers NULL).
* ``row_number() OVER ()`` -> ordered by the first column of the same
  ``SELECT`` (Spark requires an order; DuckDB's order is arbitrary anyway).
* ``unnest(range(a, b))`` -> ``explode`` of ``sequence(a, b - 1)`` guarded to be
  empty when ``a >= b`` (Spark's ``sequence(5, 4)`` counts down: ``[5, 4]``).
* ``SELECT EXISTS (q)`` -> ``SELECT count(*) > 0 FROM (q LIMIT 1)`` (Spark takes
  ``EXISTS`` in filters only); ``ORDER BY ALL`` -> column positions;
  ``AS MATERIALIZED`` CTE hints are dropped.
* ``CREATE OR REPLACE TEMP TABLE t AS q`` -> plan ``table`` (sqlglot makes it a
  non-replacing view, which re-runs ``q`` on every read); ``INSERT INTO t q`` ->
  plan ``append``; ``DELETE FROM t WHERE c`` -> plan ``table`` of ``SELECT * FROM
  t WHERE NOT coalesce(c, FALSE)``; ``COPY t TO 'p'`` -> plan ``parquet``.

Refused (:class:`UnsupportedOnSpark`): ``?::TYPE`` (sqlglot cannot parse a cast
of a placeholder; write ``CAST(? AS TYPE)``), recursive CTEs joined with
``UNION`` (Spark accepts ``UNION ALL`` only, which loops forever on a cyclic
graph), ``UBIGINT``/``UINTEGER`` (no unsigned types in Spark), DuckDB catalogue
functions and settings (``duckdb_tables()``, ``current_setting``, ``SET``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from measure.engine._errors import UnsupportedOnSpark

PlanKind = Literal["query", "table", "view", "append", "parquet", "drop"]


@dataclass(frozen=True)
class SparkPlan:
    """One DuckDB statement as Spark work.

    Attributes
    ----------
    kind
        ``"query"`` (return the rows), ``"table"`` (store the rows as the named
        intermediate table, replacing it), ``"view"`` (a temporary view),
        ``"append"`` (add the rows to ``target``), ``"parquet"`` (write the
        rows of ``sql`` to the Parquet path ``target``), ``"drop"``.
    sql
        Spark SQL of the query part (empty for ``"drop"``).
    target
        The table (or Parquet path) written, ``None`` for a query.
    rewrites
        Names of the project rewrites applied (empty when sqlglot alone sufficed).
    """

    kind: PlanKind
    sql: str
    target: str | None = None
    rewrites: tuple[str, ...] = ()


#: Functions Spark 3.5 and 4.x provide (names as sqlglot's spark dialect writes
#: them). Source: the Spark SQL built-in function reference
#: (https://spark.apache.org/docs/3.5.0/api/sql/index.html).
SPARK_FUNCTIONS: frozenset[str] = frozenset({
    "ABS", "ANY_VALUE", "ARRAY", "ARRAY_CONTAINS", "ARRAY_POSITION", "AVG",
    "BIT_AND", "BIT_OR", "BIT_XOR", "BOOL_AND", "BOOL_OR", "CAST", "COALESCE",
    "COUNT", "CUME_DIST", "DATE_TRUNC", "EXISTS", "EXPLODE", "FLOOR", "GREATEST",
    "LAG", "LEAD", "LEAST", "MAX", "MAX_BY", "MIN", "MIN_BY", "MODE",
    "MONOTONICALLY_INCREASING_ID", "NULLIF", "PMOD", "RANK", "ROUND", "ROW_NUMBER",
    "SEQUENCE", "SHIFTLEFT", "SHIFTRIGHT", "STDDEV_SAMP", "SUM", "TIMESTAMP_MICROS",
    "TRIM", "UNIX_MICROS", "IF", "HASH", "ISNAN", "DENSE_RANK", "UPPER", "LOWER",
    "LENGTH", "CONCAT", "STDDEV", "VARIANCE", "VAR_SAMP", "FIRST", "LAST",
})

#: Spark functions whose presence in the output is a known trap, with the reason.
TRAP_FUNCTIONS: dict[str, str] = {
    "UNIX_TIMESTAMP": "whole seconds only: the sub-second part is lost",
    "FROM_UNIXTIME": "whole seconds only: the sub-second part is lost",
    "TO_UNIX_TIMESTAMP": "whole seconds only: the sub-second part is lost",
    "TO_DAYS": "no such function in Spark",
}

_PLACEHOLDER_CAST = re.compile(r"\?\s*::")
_FUNC_NAME = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*\(")
_UNSIGNED = {exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT,
             exp.DataType.Type.USMALLINT, exp.DataType.Type.UTINYINT,
             exp.DataType.Type.UINT128, exp.DataType.Type.UINT256}
_DUCKDB_ONLY = ("DUCKDB_TABLES", "DUCKDB_VIEWS", "DUCKDB_COLUMNS", "CURRENT_SETTING",
                "PARQUET_METADATA", "PARQUET_SCHEMA", "READ_PARQUET")
_INTERVAL_UNITS = {"TO_DAYS": ("1", "DAY"), "TO_HOURS": ("1", "HOUR"),
                   "TO_MICROSECONDS": ("0.000001", "SECOND")}


def _fname(node: exp.Expression) -> str:
    """Upper-case function name of ``node`` as DuckDB wrote it."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return node.sql_name().upper() if isinstance(node, exp.Func) else ""


class _Rewriter:
    """Apply the project rewrites to one parsed DuckDB statement."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.applied: list[str] = []

    def refuse(self, construct: str, reason: str) -> UnsupportedOnSpark:
        return UnsupportedOnSpark(self.name, construct, reason)

    def note(self, rewrite: str) -> None:
        if rewrite not in self.applied:
            self.applied.append(rewrite)

    def check_refused(self, tree: exp.Expression) -> None:
        for dt in tree.find_all(exp.DataType):
            if dt.this in _UNSIGNED:
                raise self.refuse(dt.sql("duckdb"), "Spark has no unsigned integer "
                                  "types")
        for fn in tree.find_all(exp.Func):
            if _fname(fn) in _DUCKDB_ONLY:
                raise self.refuse(f"{_fname(fn).lower()}()", "a DuckDB catalogue or "
                                  "setting function; use the Engine's methods")
        for w in tree.find_all(exp.With):
            if w.args.get("recursive"):
                for cte in w.expressions:
                    body = cte.this
                    if isinstance(body, exp.Union) and body.args.get("distinct"):
                        raise self.refuse(
                            f"WITH RECURSIVE {cte.alias} ... UNION",
                            "Spark's recursive CTEs take UNION ALL only, which does "
                            "not stop on a cyclic graph; run the search as a loop "
                            "of joins")

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        self.check_refused(tree)
        for node in list(tree.walk()):
            self._rewrite_hash(node)
        return tree.transform(self._node).transform(self._arg_max)

    def _rewrite_hash(self, node: exp.Expression) -> None:
        if not (isinstance(node, exp.Anonymous) and _fname(node) == "HASH"):
            return
        mod = node.parent
        while isinstance(mod, exp.Paren):
            mod = mod.parent
        if (isinstance(mod, exp.Mod) and isinstance(mod.parent, exp.EQ)
                and mod.find_ancestor(exp.Where, exp.Select) is not None
                and isinstance(mod.find_ancestor(exp.Where, exp.Select), exp.Where)):
            mod.replace(exp.Anonymous(this="PMOD", expressions=[
                mod.this.copy(), mod.expression.copy()]))
            self.note("hash slice -> pmod")
            return
        raise self.refuse(f"{node.sql('duckdb')}"
                          + (" % n" if isinstance(mod, exp.Mod) else ""),
                          "Spark's hash is signed and differs from DuckDB's; only "
                          "the slice filter `hash(x) % n = k` has a portable form")

    def _node(self, node: exp.Expression) -> exp.Expression:  # noqa: C901
        name = _fname(node)
        if isinstance(node, exp.TimeToUnix):
            self.note("epoch -> unix_micros")
            micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.this])
            return exp.Div(this=exp.cast(micros, "DOUBLE"),
                           expression=exp.Literal.number(1000000))
        if isinstance(node, exp.UnixToTime):
            self.note("to_timestamp -> timestamp_micros")
            scaled = exp.Round(this=exp.Mul(this=exp.Paren(this=node.this),
                                            expression=exp.Literal.number(1000000)))
            return exp.Anonymous(this="TIMESTAMP_MICROS",
                                 expressions=[exp.cast(scaled, "BIGINT")])
        if name in _INTERVAL_UNITS:
            self.note(f"{name.lower()} -> interval")
            amount, unit = _INTERVAL_UNITS[name]
            arg = node.this if isinstance(node, exp.ToDays) else node.expressions[0]
            return exp.Mul(this=exp.Paren(this=arg), expression=exp.Interval(
                this=exp.Literal.string(amount), unit=exp.var(unit)))
        if name in ("ARG_MAX_NULL", "ARG_MIN_NULL"):
            self.note("arg_max_null -> max_by")
            cls = exp.ArgMax if name == "ARG_MAX_NULL" else exp.ArgMin
            out = cls(this=node.expressions[0], expression=node.expressions[1])
            out.meta["keep_nulls"] = True
            return out
        if name == "LIST_POSITION":
            self.note("list_position -> array_position")
            return exp.Anonymous(this="ARRAY_POSITION", expressions=node.expressions)
        if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber):
            return self._order_row_number(node)
        if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
            self.note("drop MATERIALIZED")
            node.set("materialized", None)
            return node
        if isinstance(node, exp.Select):
            return self._select(node)
        return node

    def _arg_max(self, node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.ArgMax | exp.ArgMin) or node.meta.get(
                "keep_nulls"):
            return node
        self.note("arg_max/arg_min skip NULL values")
        guarded = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(
            this=node.this.copy(), expression=exp.Null())),
            true=node.expression.copy())])
        return node.__class__(this=node.this.copy(), expression=guarded)

    def _order_row_number(self, node: exp.Window) -> exp.Expression:
        if node.args.get("order") is not None:
            return node
        select = node.find_ancestor(exp.Select)
        first = next((e for e in (select.expressions if select else [])
                      if isinstance(e.unalias(), exp.Column)), None)
        if first is None:
            raise self.refuse("row_number() OVER ()", "Spark needs an order and the "
                              "SELECT has no plain column to order by")
        self.note("row_number() OVER () -> ordered")
        node.set("order", exp.Order(expressions=[exp.Ordered(
            this=first.unalias().copy())]))
        return node

    def _select(self, node: exp.Select) -> exp.Expression:
        order = node.args.get("order")
        if (order is not None and len(order.expressions) == 1
                and isinstance(order.expressions[0].this, exp.Column)
                and order.expressions[0].this.name.upper() == "ALL"
                and not order.expressions[0].this.table):
            if any(isinstance(e, exp.Star) for e in node.expressions):
                raise self.refuse("ORDER BY ALL", "with SELECT * the columns are "
                                  "not known to the translation")
            self.note("ORDER BY ALL -> positions")
            node.set("order", exp.Order(expressions=[
                exp.Ordered(this=exp.Literal.number(i + 1))
                for i in range(len(node.expressions))]))
        if (len(node.expressions) == 1 and isinstance(node.expressions[0].unalias(),
                                                       exp.Exists)
                and node.args.get("from") is None):
            self.note("EXISTS in SELECT -> count")
            inner = node.expressions[0].unalias().this.copy()
            inner = inner.limit(1) if isinstance(inner, exp.Select) else inner
            return exp.select(exp.GT(this=exp.Count(this=exp.Star()),
                                     expression=exp.Literal.number(0))).from_(
                exp.Subquery(this=inner, alias=exp.TableAlias(
                    this=exp.to_identifier("_exists"))))
        return node


def _guard_sequences(tree: exp.Expression, applied: list[str]) -> exp.Expression:
    """Make ``explode(sequence(a, b))`` empty when ``a > b`` (Spark counts down)."""
    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Explode) and isinstance(node.this,
                                                        exp.GenerateSeries):
            seq = node.this
            if seq.args.get("step") is None:
                if "range -> guarded sequence" not in applied:
                    applied.append("range -> guarded sequence")
                cond = exp.LTE(this=seq.args["start"].copy(),
                               expression=seq.args["end"].copy())
                empty = exp.Array(expressions=[])
                node.set("this", exp.Case(ifs=[exp.If(this=cond, true=seq.copy())],
                                          default=empty))
        return node
    return tree.transform(fix)


def _to_spark_sql(tree: exp.Expression, applied: list[str]) -> str:
    out = tree.sql(dialect="spark")
    back = sqlglot.parse_one(out, read="spark")
    return _guard_sequences(back, applied).sql(dialect="spark")


def to_spark(sql: str, name: str = "statement") -> SparkPlan:
    """Translate one DuckDB statement into a :class:`SparkPlan`.

    Parameters
    ----------
    sql
        One statement in DuckDB's dialect, parameters as ``?`` or ``$name``.
    name
        The statement's name, used in errors.

    Returns
    -------
    SparkPlan
        The Spark SQL and what to do with its rows.

    Raises
    ------
    UnsupportedOnSpark
        When the statement uses a construct without a faithful Spark form, or
        cannot be parsed.
    """
    if _PLACEHOLDER_CAST.search(sql):
        raise UnsupportedOnSpark(name, "?::TYPE", "sqlglot cannot parse a cast of a "
                                 "placeholder; write CAST(? AS TYPE)")
    try:
        trees = sqlglot.parse(sql, read="duckdb")
    except SqlglotError as e:
        raise UnsupportedOnSpark(name, "the statement", f"sqlglot cannot parse it "
                                 f"as DuckDB SQL ({str(e).splitlines()[0]})") from e
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise UnsupportedOnSpark(name, "the text", f"holds {len(trees)} statements; "
                                 "translate one at a time")
    tree = trees[0]
    rw = _Rewriter(name)
    if isinstance(tree, exp.Set | exp.Pragma) or (
            isinstance(tree, exp.Command) and str(tree.this).upper() in ("SET",
                                                                         "PRAGMA")):
        raise rw.refuse("SET/PRAGMA", "DuckDB settings; use Engine.settings")
    kind: PlanKind = "query"
    target: str | None = None
    if isinstance(tree, exp.Create):
        target = tree.this.name if isinstance(tree.this, exp.Table) else None
        create_kind = str(tree.args.get("kind", "")).upper()
        if target is None or tree.expression is None or create_kind not in (
                "TABLE", "VIEW"):
            raise rw.refuse("CREATE", "only CREATE TABLE/VIEW ... AS SELECT")
        kind = "table" if create_kind == "TABLE" else "view"
        if kind == "table":
            rw.note("CREATE TEMP TABLE -> stored table")
        query = tree.expression
    elif isinstance(tree, exp.Insert):
        target = tree.this.name
        kind, query = "append", tree.expression
        rw.note("INSERT -> append")
    elif isinstance(tree, exp.Delete):
        target = tree.this.name
        where = tree.args.get("where")
        cond = where.this if where is not None else exp.true()
        query = exp.select("*").from_(target).where(exp.Not(this=exp.Paren(
            this=exp.Coalesce(this=cond.copy(), expressions=[exp.false()]))))
        kind = "table"
        rw.note("DELETE -> stored table without the rows")
    elif isinstance(tree, exp.Copy):
        files = tree.args.get("files") or []
        target = files[0].name if files else None
        source = tree.this
        query = (source.this if isinstance(source, exp.Subquery)
                 else exp.select("*").from_(source.copy()))
        kind = "parquet"
        rw.note("COPY -> write Parquet")
    elif isinstance(tree, exp.Drop):
        tables = tree.args.get("tables") or [tree.this]
        if len(tables) != 1 or not isinstance(tables[0], exp.Table):
            raise rw.refuse("DROP", "only DROP TABLE/VIEW of one named table")
        return SparkPlan("drop", "", tables[0].name, ("DROP -> drop",))
    elif isinstance(tree, exp.Query):
        query = tree
    else:
        raise rw.refuse(type(tree).__name__.upper(), "not a query, CREATE ... AS, "
                        "INSERT, DELETE, COPY or DROP")
    query = rw.rewrite(query.copy())
    spark = _to_spark_sql(query, rw.applied)
    if kind == "view":
        spark = f"CREATE OR REPLACE TEMPORARY VIEW {target} AS\n{spark}"
    return SparkPlan(kind, spark, target, tuple(rw.applied))


def functions_used(spark_sql: str) -> set[str]:
    """Names of the functions called in ``spark_sql`` (upper case)."""
    names = set()
    for fn in sqlglot.parse_one(spark_sql, read="spark").find_all(exp.Func):
        if isinstance(fn, exp.Binary | exp.Unary | exp.Connector):
            continue  # operators (AND, OR, ...) that sqlglot also types as Func
        m = _FUNC_NAME.match(fn.sql(dialect="spark"))
        if m:
            names.add(m.group(1))
    return names


def find_traps(spark_sql: str) -> list[str]:
    """Known DuckDB -> Spark traps left in ``spark_sql`` (empty when none).

    Looks for a modulo of a hash (signed in Spark: rows fall out of every slice),
    whole-second time conversions, functions Spark lacks (``TO_DAYS``), recursive
    CTEs joined with ``UNION``, ``row_number()`` without an order, and temporary
    views that do not replace.
    """
    tree = sqlglot.parse_one(spark_sql, read="spark")
    traps = []
    for mod in tree.find_all(exp.Mod):
        if any(_fname(f) in ("HASH", "XXHASH64") for f in mod.this.find_all(
                exp.Func)):
            traps.append(f"signed hash modulo: {mod.sql(dialect='spark')}")
    for fn in tree.find_all(exp.Func):
        m = _FUNC_NAME.match(fn.sql(dialect="spark"))
        if m and m.group(1) in TRAP_FUNCTIONS:
            traps.append(f"{m.group(1)}: {TRAP_FUNCTIONS[m.group(1)]}")
    for w in tree.find_all(exp.With):
        if w.args.get("recursive") and any(
                isinstance(c.this, exp.Union) and c.this.args.get("distinct")
                for c in w.expressions):
            traps.append("recursive CTE with UNION")
    for win in tree.find_all(exp.Window):
        if isinstance(win.this, exp.RowNumber) and win.args.get("order") is None:
            traps.append("row_number() without ORDER BY")
    if isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() in (
            "VIEW", "TABLE") and not tree.args.get("replace"):
        traps.append("CREATE without OR REPLACE does not replace an existing table")
    return traps


def check_statement(sql: str, name: str = "statement") -> list[str]:
    """Problems of ``sql`` on Spark (empty list: it translates cleanly).

    Translates with :func:`to_spark`, parses the result back with sqlglot's
    Spark dialect, and reports traps (:func:`find_traps`) and functions outside
    :data:`SPARK_FUNCTIONS`.
    """
    try:
        plan = to_spark(sql, name)
    except UnsupportedOnSpark as e:
        return [str(e)]
    return check_spark_sql(plan.sql, name) if plan.sql else []


def check_spark_sql(spark_sql: str, name: str = "statement") -> list[str]:
    """Problems of a translated Spark statement (see :func:`check_statement`)."""
    try:
        traps = find_traps(spark_sql)
        unknown = functions_used(spark_sql) - SPARK_FUNCTIONS
    except SqlglotError as e:
        return [f"{name}: Spark cannot parse the translation: "
                f"{str(e).splitlines()[0]}"]
    problems = [f"{name}: {t}" for t in traps]
    problems += [f"{name}: function {f} is not in the Spark allowlist"
                 for f in sorted(unknown - set(TRAP_FUNCTIONS))]
    return problems


__all__ = ["SPARK_FUNCTIONS", "SparkPlan", "UnsupportedOnSpark", "check_spark_sql",
           "check_statement", "find_traps", "functions_used", "to_spark"]
