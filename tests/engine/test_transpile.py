"""Every SQL statement of the package translates to Spark SQL without known traps.

Fast (no Java, no pyspark): the statements are rendered by
:func:`measure.engine._catalogue.catalogue`, translated by the project dialect
(:func:`measure.engine._dialect.to_spark`), parsed back with sqlglot's Spark
dialect and checked for the known DuckDB -> Spark traps and for functions
outside the Spark allowlist.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
import sqlglot

from measure.engine._catalogue import Statement, catalogue, package_root
from measure.engine._dialect import (
    SPARK_FUNCTIONS,
    SparkPlan,
    UnsupportedOnSpark,
    check_spark_sql,
    check_statement,
    functions_used,
    to_spark,
)

#: Statements the Spark engine cannot run, with the construct that stops them (the
#: families that hold them run on DuckDB only; the dataset's contract checks run
#: on the DuckDB connection of a local dataset).
NOT_YET_SUPPORTED = {
    # 64-bit unsigned hash keys: Spark has no unsigned types
    "resurrection._sql.EDIT_JOIN": "UBIGINT",
    # DuckDB catalogue reads (describe's clean-up) and the contract checks
    "measure.describe._cohort:registered#2": "duckdb_tables()",
    "measure.dataset._dataset:_validate#2": "?::TYPE",
    "measure.dataset._dataset:_check_finite#2": "ISFINITE",
    # families that run on DuckDB only: the bulk JSON reader of the ingest,
    # describe's one-pass scans and the linker's memory-limit read
    "measure.ingest._twitter_v1:_sql#1": "JSON_TRANSFORM_STRICT",
    "describe._sql.SCAN_OBSERVATIONS[counts]": "EPOCH_US",
    "describe._sql.SCAN_COHORT_OBSERVATIONS[counts]": "EPOCH_US",
    "measure.resurrection._blocking:__enter__#1": "current_setting()",
}

#: Number of statements in the catalogue (templates count once per rendering).
#: A new statement changes it: add it here once it passes the check (or is
#: listed in NOT_YET_SUPPORTED).
N_STATEMENTS = 181

# An SQL statement opening a string literal in the source (independent of the
# catalogue's syntax-tree search): quote, optional blank, upper-case keyword.
_LITERAL = re.compile(r"""(?<![A-Za-z0-9_])[rRfF]{0,2}("{3}|'{3}|"|')\s*"""
                      r"""((?:SELECT|WITH|CREATE|INSERT|DELETE|COPY|DROP|UPDATE)\s"""
                      r"""[^{}@"'\\]{0,40})""")

#: SQL literals in docstrings (examples, not statements the package runs).
DOC_EXAMPLES = {"measure._steps": 2}


@cache
def _catalogue() -> tuple[Statement, ...]:
    return catalogue()


@cache
def _plans() -> dict[str, SparkPlan | UnsupportedOnSpark]:
    out: dict[str, SparkPlan | UnsupportedOnSpark] = {}
    for s in _catalogue():
        try:
            out[s.name] = to_spark(s.sql, s.name)
        except UnsupportedOnSpark as e:
            out[s.name] = e
    return out


@cache
def _problems() -> dict[str, list[str]]:
    return {name: ([str(p)] if isinstance(p, UnsupportedOnSpark)
                   else check_spark_sql(p.sql, name) if p.sql else [])
            for name, p in _plans().items()}


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_catalogue_holds_every_sql_literal_of_the_package_source() -> None:
    by_module: dict[str, str] = {}
    for s in _catalogue():
        by_module[s.origin] = by_module.get(s.origin, "") + "\n" + _squash(s.sql)
    root = package_root()
    found, missing, examples = 0, [], dict.fromkeys(DOC_EXAMPLES, 0)
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "engine":
            continue
        module = "measure." + ".".join(path.relative_to(root).with_suffix("").parts)
        for m in _LITERAL.finditer(path.read_text()):
            found += 1
            head = _squash(m.group(2))
            if module in examples and head not in by_module.get(module, ""):
                examples[module] += 1
            elif head not in by_module.get(module, ""):
                missing.append(f"{module}: {head!r}")
    assert not missing, "SQL in the source but not in the catalogue:\n" + "\n".join(
        missing)
    # 169 literals open an SQL statement; templates rendered more than once and
    # derived constants (IN_NETWORK_NO_RELATION, PAIR_FRAME_EMPTY, the five key
    # blocks made from one literal) make the catalogue larger.
    assert examples == DOC_EXAMPLES
    assert found == 169
    assert len(_catalogue()) == N_STATEMENTS
    assert len({s.name for s in _catalogue()}) == N_STATEMENTS


def test_every_statement_translates_to_spark_or_is_listed_as_unsupported() -> None:
    failing = {name: p for name, p in _problems().items() if p}
    assert set(failing) == set(NOT_YET_SUPPORTED), (
        "unexpected: " + repr({n: failing[n] for n in set(failing)
                               - set(NOT_YET_SUPPORTED)})
        + "; now passing: " + repr(set(NOT_YET_SUPPORTED) - set(failing)))
    for name, construct in NOT_YET_SUPPORTED.items():
        assert construct in " ".join(failing[name]), (name, failing[name])


def test_translated_statements_parse_in_spark_and_use_allowlisted_functions() -> None:
    translated = drops = 0
    for name, plan in _plans().items():
        if name in NOT_YET_SUPPORTED:
            continue
        assert isinstance(plan, SparkPlan)
        if plan.kind == "drop":
            drops += 1
            continue
        tree = sqlglot.parse_one(plan.sql, read="spark")
        assert tree is not None
        assert functions_used(plan.sql) <= SPARK_FUNCTIONS, name
        translated += 1
    # DROP statements (clean-up) need no SQL on Spark: Engine.drop
    assert drops == 5
    assert translated == N_STATEMENTS - len(NOT_YET_SUPPORTED) - drops


def test_rewrite_counts_of_the_catalogue() -> None:
    plans = [p for n, p in _plans().items() if n not in NOT_YET_SUPPORTED]
    semantic = [p for p in plans if any(
        not r.startswith(("CREATE TEMP", "INSERT", "DELETE", "COPY", "DROP"))
        for r in p.rewrites)]
    # measured on this package: 26 statements need a rewrite beyond the
    # statement kind (epoch, arg_max, to_days, MATERIALIZED, ...)
    assert len(semantic) == 26
    assert sum("epoch -> unix_micros" in p.rewrites for p in plans) >= 9


def _stock(sql: str) -> str:
    """sqlglot's own translation, without the project rewrites."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def _statement(name: str) -> Statement:
    return next(s for s in _catalogue() if s.name == name)


def test_check_fails_on_a_planted_hash_modulo() -> None:
    base = _statement("churn._sql.PANEL_SPAN").sql
    planted = base.replace("SELECT min(o.observed_at)",
                           "SELECT hash(o.account_id) % 4 AS bucket, "
                           "min(o.observed_at)")
    assert planted != base
    assert check_statement(base, "PANEL_SPAN") == []
    problems = check_statement(planted, "PANEL_SPAN")
    assert len(problems) == 1 and "hash(o.account_id) % n" in problems[0].lower()
    # without the project dialect the trap reaches the Spark SQL, and the trap
    # scan of the output names it
    stock = check_spark_sql(_stock(planted), "PANEL_SPAN")
    assert any("signed hash modulo" in p for p in stock)


def test_hash_slice_filter_is_rewritten_to_pmod() -> None:
    sql = "SELECT account_id FROM accounts WHERE hash(account_id) % $n = $k"
    plan = to_spark(sql, "slice")
    assert "PMOD(HASH(account_id), :n) = :k" in plan.sql
    assert check_spark_sql(plan.sql) == []
    assert any("signed hash modulo" in p for p in check_spark_sql(_stock(sql)))


def test_check_fails_on_a_planted_placeholder_cast() -> None:
    base = _statement("churn._sql.ACCOUNT_ATTRIBUTES[columns]").sql
    planted = base.replace("a.created_at >= ?", "a.created_at >= ?::INTEGER")
    assert planted != base
    assert check_statement(base, "ACCOUNT_ATTRIBUTES") == []
    problems = check_statement(planted, "ACCOUNT_ATTRIBUTES")
    assert len(problems) == 1 and "?::TYPE" in problems[0]
    with pytest.raises(sqlglot.errors.ParseError):
        _stock(planted)
    with pytest.raises(UnsupportedOnSpark, match="CAST"):
        to_spark(planted, "ACCOUNT_ATTRIBUTES")


@pytest.mark.parametrize(("sql", "trap", "fixed"), [
    ("SELECT epoch(observed_at) AS t FROM observations", "UNIX_TIMESTAMP",
     "UNIX_MICROS(observed_at)"),
    ("SELECT to_timestamp(x) AS t FROM v", "FROM_UNIXTIME",
     "TIMESTAMP_MICROS(CAST(ROUND((x) * 1000000) AS BIGINT))"),
    ("SELECT t + to_days(CAST($w AS INTEGER)) AS u FROM v", "TO_DAYS",
     "(CAST(:w AS INT)) * INTERVAL '1' DAY"),
    ("SELECT account_id, row_number() OVER () AS r FROM accounts",
     "row_number() without ORDER BY", "ROW_NUMBER() OVER (ORDER BY account_id"),
])
def test_known_traps_are_found_in_stock_output_and_rewritten(sql: str, trap: str,
                                                             fixed: str) -> None:
    assert any(trap in p for p in check_spark_sql(_stock(sql)))
    plan = to_spark(sql)
    assert fixed in plan.sql
    assert check_spark_sql(plan.sql) == []


def test_temp_table_becomes_a_stored_table_not_a_non_replacing_view() -> None:
    sql = "CREATE OR REPLACE TEMP TABLE census_x AS SELECT 1 AS a"
    assert any("OR REPLACE" in p for p in check_spark_sql(_stock(sql)))
    plan = to_spark(sql)
    assert (plan.kind, plan.target, plan.sql) == ("table", "census_x", "SELECT 1 AS a")


#: A graph search as a recursive CTE joined with UNION (DuckDB stops on a cycle).
RECURSIVE_SEARCH = """
WITH RECURSIVE r(core_rank) AS (
    SELECT core_rank FROM census_core_via WHERE is_seed
    UNION
    SELECT v.core_rank FROM census_core_via v JOIN r ON v.via = r.core_rank
)
SELECT count(*) FROM r
"""


def test_recursive_union_is_refused_with_the_statement_and_construct() -> None:
    with pytest.raises(UnsupportedOnSpark) as err:
        to_spark(RECURSIVE_SEARCH, "search")
    assert err.value.statement == "search"
    assert "UNION ALL" in err.value.reason


def test_census_reachability_runs_as_appends_and_counts_on_spark() -> None:
    kinds = {name: to_spark(_statement(f"census._sql.{name}").sql, name).kind
             for name in ("REACH_VIA_SEEDS", "REACH_VIA_STEP", "REACH_ADDED",
                          "REACH_LINKS", "REACH_SEEDS", "REACH_LINKS_STEP",
                          "REACHED_FULL")}
    assert kinds == {"REACH_VIA_SEEDS": "table", "REACH_VIA_STEP": "append",
                     "REACH_ADDED": "query", "REACH_LINKS": "table",
                     "REACH_SEEDS": "table", "REACH_LINKS_STEP": "append",
                     "REACHED_FULL": "table"}
    assert not any("RECURSIVE" in s.sql.upper() for s in _catalogue()
                   if s.origin == "measure.census._sql")


def test_arg_max_keeps_duckdb_null_skipping() -> None:
    plan = to_spark("SELECT arg_max(x, t) AS v FROM o")
    assert "MAX_BY(x, CASE WHEN NOT x IS NULL THEN t END)" in plan.sql
    assert "MAX_BY(x, t)" in to_spark("SELECT arg_max_null(x, t) AS v FROM o").sql


def test_delete_becomes_a_table_without_the_rows() -> None:
    plan = to_spark("DELETE FROM census_cc WHERE k >= ?")
    assert plan.kind == "table" and plan.target == "census_cc"
    assert plan.sql == "SELECT * FROM census_cc WHERE NOT (COALESCE(k >= ?, FALSE))"
