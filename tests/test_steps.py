"""The SQL step executor: bound parameters, unique names, logs, clean-up."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from measure._steps import Step, StepRunner, explain, run_steps
from measure.errors import ConfigError


def _catalog(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    """Every user table and view on the connection (temporary ones included)."""
    tables = con.execute(
        "SELECT database_name, schema_name, table_name, temporary FROM duckdb_tables() "
        "ORDER BY ALL").fetchall()
    views = con.execute(
        "SELECT database_name, schema_name, view_name, temporary FROM duckdb_views() "
        "WHERE NOT internal ORDER BY ALL").fetchall()
    return tables, views


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A connection that already holds a user table, a temp table and a view."""
    c = duckdb.connect()
    c.execute("CREATE TABLE people AS SELECT range AS id, range % 3 AS grp "
              "FROM range(30)")
    c.execute("CREATE TEMP TABLE mine AS SELECT 1 AS x")
    c.execute("CREATE VIEW grp0 AS SELECT * FROM people WHERE grp = 0")
    yield c
    c.close()


GROUPS = Step("groups", "SELECT grp, count(*) AS n FROM people WHERE id >= $low "
              "GROUP BY grp", output="groups", params=("low",))
BIG = Step("big", "SELECT grp FROM {groups} WHERE n > $min_n", inputs=("groups",),
           output="big", params=("min_n",))
MORE = Step("more", "SELECT grp + 10 AS grp FROM {groups}", inputs=("groups",),
            output="big", kind="append")
COUNT = Step("count", "SELECT count(*) AS n FROM {big}", inputs=("big",))


def test_step_lists_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as e:
        Step("bad name", "SELECT * FROM {a} WHERE x = $p", inputs=("b",),
             output="out", kind="query")
    msg = str(e.value)
    for part in ("'bad name' is not an identifier", "undeclared table(s) ['a']",
                 "['b'] are not read", "parameters ['p'] differ from params []",
                 "a 'query' step has no output"):
        assert part in msg


def test_step_prints_its_sql_and_renames_tables() -> None:
    text = str(BIG)
    assert text.startswith("-- step big: table from groups -> big (params: $min_n)")
    assert "SELECT grp FROM {groups} WHERE n > $min_n" in text
    other = BIG.renamed(groups="teams", big="large")
    assert other.inputs == ("teams",) and other.output == "large"
    assert "{teams}" in other.sql and "{groups}" not in other.sql
    assert explain([GROUPS, BIG]).count("-- step") == 2


def test_run_steps_binds_parameters_and_returns_query_rows(con) -> None:
    log = run_steps(con, [GROUPS, BIG, MORE, COUNT], {"low": 6, "min_n": 7,
                                                      "unused": 1})
    # ids 6..29: 8 per group, all three groups > 7, plus 3 appended
    assert log.frames["count"]["n"].to_list() == [6]
    rows = {r.name: r.rows for r in log.records}
    assert rows == {"groups": 3, "big": 3, "more": 3, "count": 1}
    assert all(r.seconds >= 0 for r in log.records)
    assert log.to_polars().columns == ["step", "kind", "output", "seconds", "rows"]
    assert "4 steps" in str(log)


def test_values_are_bound_never_put_into_sql(con) -> None:
    evil = "x'); DROP TABLE people; --"
    step = Step("echo", "SELECT $v AS v", params=("v",))
    with StepRunner(con) as run:
        got = run.run(step, {"v": evil})
        text = run.explain(step, {"v": evil})
    assert got["v"].to_list() == [evil]
    assert "SELECT $v AS v" in text  # the statement keeps the placeholder
    assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 30


def test_missing_parameter_and_unmade_input_are_clear_errors(con) -> None:
    with StepRunner(con) as run:
        with pytest.raises(ConfigError, match="needs parameter"):
            run.run(GROUPS, {})
        with pytest.raises(ConfigError, match="no earlier step made or registered"):
            run.run(BIG, {"min_n": 1})
        run.run(GROUPS, {"low": 0})
        with pytest.raises(ConfigError, match="already exists"):
            run.run(GROUPS, {"low": 0})


def test_two_runners_on_one_connection_do_not_collide(con) -> None:
    with StepRunner(con) as a, StepRunner(con) as b:
        a.run(GROUPS, {"low": 0})
        b.run(GROUPS, {"low": 27})  # ids 27..29: one per group
        assert a.name("groups") != b.name("groups")
        got_a = a.run(Step("n", "SELECT sum(n) AS s FROM {groups}",
                           inputs=("groups",)))["s"][0]
        got_b = b.run(Step("n", "SELECT sum(n) AS s FROM {groups}",
                           inputs=("groups",)))["s"][0]
    assert (got_a, got_b) == (30, 3)


def test_runner_leaves_the_connection_as_found(con) -> None:
    before = _catalog(con)
    with StepRunner(con) as run:
        run.register("ids", pl.DataFrame({"id": [1, 2, 3]}))
        run.run(GROUPS, {"low": 0})
        run.run(Step("v", "SELECT * FROM {groups}", inputs=("groups",), output="v",
                     kind="view"))
        run.run(Step("join", "SELECT p.* FROM people p JOIN {ids} USING (id)",
                     inputs=("ids",), output="joined"))
        during = _catalog(con)
        assert len(during[0]) == len(before[0]) + 2  # groups, joined
        assert len(during[1]) == len(before[1]) + 2  # view v, frame ids
    assert _catalog(con) == before


def test_failing_step_still_drops_everything(con) -> None:
    before = _catalog(con)
    broken = Step("broken", "SELECT no_such_column FROM {groups}", inputs=("groups",),
                  output="never")
    with pytest.raises(duckdb.BinderException) as e:
        run_steps(con, [GROUPS, BIG, broken], {"low": 0, "min_n": 1},
                  frames={"ids": pl.DataFrame({"id": [1]})})
    assert any("in SQL step 'broken'" in n for n in e.value.__notes__)
    assert _catalog(con) == before


def test_python_error_between_steps_still_drops_everything(con) -> None:
    before = _catalog(con)
    with pytest.raises(RuntimeError, match="between steps"), StepRunner(con) as run:
        run.register("ids", pl.DataFrame({"id": [1]}))
        run.run(GROUPS, {"low": 0})
        raise RuntimeError("between steps")
    assert _catalog(con) == before


def test_stream_yields_batches_and_records_rows(con) -> None:
    step = Step("all", "SELECT * FROM people ORDER BY id")
    with StepRunner(con) as run:
        batches = list(run.stream(step, batch_size=8))
        rec = run.log.records[-1]
    assert sum(b.height for b in batches) == 30
    assert pl.concat(batches)["id"].to_list() == list(range(30))
    assert (rec.name, rec.rows) == ("all", 30)


def test_drop_releases_a_table_before_the_end(con) -> None:
    with StepRunner(con) as run:
        run.run(GROUPS, {"low": 0})
        phys = run.name("groups")
        run.drop("groups")
        assert not run.exists("groups")
        names = [t[0] for t in con.execute(
            "SELECT table_name FROM duckdb_tables()").fetchall()]
        assert phys not in names
        run.run(GROUPS, {"low": 0})  # the name can be made again
        assert run.exists("groups")
