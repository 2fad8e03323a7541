"""SQL steps as data, run by one executor that leaves no trace on the connection.

A :class:`Step` is a named query: the pipeline tables it reads (``inputs``,
written ``{name}`` in its SQL), the table it makes (``output``) and the names of
its bound parameters (``$name`` in its SQL). Steps are plain values: print one to
read its SQL, build the same pipeline on a hand-made input to test it.

A :class:`StepRunner` runs steps on a DuckDB connection. It

* binds parameters (values never enter the SQL text);
* gives every pipeline table a temporary name unique to the runner
  (``_ms_<token>_<name>``), so two analyses on one connection never collide;
* times each step and counts the rows it made or returned (:class:`StepLog`);
* drops every table and view it created, and unregisters every frame it
  registered, when it closes (``with StepRunner(con) as run: ...``), also when a
  step fails: the connection is left as it was found.

:func:`run_steps` runs a list of steps in one go and returns their log, with the
results of the query steps (``output=None``) as polars frames.

Example
-------
>>> import duckdb
>>> from measure._steps import Step, run_steps
>>> steps = [
...     Step("big", "SELECT range AS x FROM range(10) WHERE range >= $low",
...          output="big", params=("low",)),
...     Step("count", "SELECT count(*) AS n FROM {big}", inputs=("big",)),
... ]
>>> log = run_steps(duckdb.connect(), steps, {"low": 4})
>>> log.frames["count"]["n"][0]
6

References
----------
The design follows splink's pipeline of named, printable SQL steps (Linacre, R.,
Lindsay, S., Manassis, T., Slade, Z., Hepworth, T., Kennedy, R. & Bond, A.
(2022). Splink: free software for probabilistic record linkage at scale.
*International Journal of Population Data Science* 7(3)).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import polars as pl

from measure.errors import ConfigError

StepKind = Literal["table", "view", "append", "query"]
STEP_KINDS: tuple[str, ...] = ("table", "view", "append", "query")
Fetch = Literal["polars", "rows"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PARAM_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
PREFIX = "_ms"  # physical names: _ms_<8 hex>_<logical name>


def _table_refs(sql: str) -> set[str]:
    return set(_TABLE_REF.findall(sql))


def _param_refs(sql: str) -> set[str]:
    return set(_PARAM_REF.findall(sql))


@dataclass(frozen=True)
class Step:
    """One named SQL step.

    Parameters
    ----------
    name
        Name of the step (in logs and errors).
    sql
        A query (``SELECT ...``). Pipeline tables are written ``{name}``; every
        such name must be in ``inputs``. Bound parameters are written ``$name``;
        every such name must be in ``params``. Tables of the dataset (views on
        the connection, such as ``observations``) are written plainly.
    inputs
        Pipeline tables (step outputs or registered frames) the query reads.
    output
        The table the step makes (``None`` for a query whose rows are returned).
    params
        Names of the parameters the query binds.
    kind
        ``"table"`` (``CREATE TEMP TABLE output AS sql``, the default with an
        output), ``"view"`` (a temporary view), ``"append"`` (``INSERT INTO
        output sql``: ``output`` must exist), or ``"query"`` (the default
        without an output: rows are returned).

    Raises
    ------
    ConfigError
        When names are not identifiers, the SQL refers to a table or parameter
        not declared (or a declared one is unused), or ``kind`` and ``output``
        disagree; every problem is listed.
    """

    name: str
    sql: str
    inputs: tuple[str, ...] = ()
    output: str | None = None
    params: tuple[str, ...] = ()
    kind: StepKind | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", tuple(self.params))
        kind = self.kind or ("query" if self.output is None else "table")
        object.__setattr__(self, "kind", kind)
        errors = []
        names = [("name", self.name), ("output", self.output),
                 *(("input", n) for n in self.inputs),
                 *(("param", n) for n in self.params)]
        for what, n in names:
            if n is not None and not _IDENT.match(n):
                errors.append(f"{what} {n!r} is not an identifier (letters, digits, "
                              "underscores)")
        if kind not in STEP_KINDS:
            errors.append(f"kind {kind!r} is not one of {', '.join(STEP_KINDS)}")
        elif (kind == "query") != (self.output is None):
            errors.append("a 'query' step has no output; every other kind needs one")
        refs = _table_refs(self.sql)
        if refs - set(self.inputs):
            errors.append(f"SQL reads undeclared table(s) "
                          f"{sorted(refs - set(self.inputs))}; add them to inputs")
        if set(self.inputs) - refs:
            errors.append(f"input(s) {sorted(set(self.inputs) - refs)} are not read by "
                          "the SQL (write them as {name})")
        prefs = _param_refs(self.sql)
        if prefs != set(self.params):
            errors.append(f"SQL parameters {sorted(prefs)} differ from params "
                          f"{sorted(self.params)}")
        if errors:
            raise ConfigError(f"step {self.name!r}: " + "; ".join(errors))

    def renamed(self, **names: str) -> Step:
        """Return the same step reading or making other pipeline tables.

        ``step.renamed(pairs="random_pairs")`` reads ``{random_pairs}`` where the
        step read ``{pairs}`` (and makes ``random_pairs`` if it made ``pairs``).
        """
        def sub(m: re.Match[str]) -> str:
            return "{" + names.get(m.group(1), m.group(1)) + "}"

        out = self.output
        return replace(self, sql=_TABLE_REF.sub(sub, self.sql),
                       inputs=tuple(names.get(n, n) for n in self.inputs),
                       output=names.get(out, out) if out is not None else None)

    def __str__(self) -> str:
        head = f"-- step {self.name}: {self.kind}"
        if self.inputs:
            head += f" from {', '.join(self.inputs)}"
        if self.output:
            head += f" -> {self.output}"
        if self.params:
            head += f" (params: {', '.join('$' + p for p in self.params)})"
        return head + "\n" + self.sql.strip() + "\n"


@dataclass(frozen=True)
class StepRecord:
    """What one run of a step did: its name, kind, output, wall time and rows.

    ``rows`` is the number of rows the step wrote (``table``, ``append``),
    returned (``query``) or registered (``register``); ``None`` for a view.
    """

    name: str
    kind: str
    output: str | None
    seconds: float
    rows: int | None


@dataclass(frozen=True)
class StepLog:
    """The record of a pipeline run.

    Attributes
    ----------
    records
        One :class:`StepRecord` per step run (and per frame registered), in order.
    frames
        Results of the query steps run by :func:`run_steps`, by step name.
    """

    records: tuple[StepRecord, ...] = ()
    frames: Mapping[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def seconds(self) -> float:
        """Total wall time of the steps."""
        return float(sum(r.seconds for r in self.records))

    def to_polars(self) -> pl.DataFrame:
        """Table ``step, kind, output, seconds, rows`` (one row per record)."""
        return pl.DataFrame(
            [(r.name, r.kind, r.output, r.seconds, r.rows) for r in self.records],
            schema=[("step", pl.Utf8), ("kind", pl.Utf8), ("output", pl.Utf8),
                    ("seconds", pl.Float64), ("rows", pl.Int64)], orient="row")

    def __add__(self, other: StepLog) -> StepLog:
        return StepLog(self.records + other.records, {**self.frames, **other.frames})

    def __str__(self) -> str:
        lines = [f"{len(self.records)} steps in {self.seconds:.3f} s"]
        for r in self.records:
            rows = "" if r.rows is None else f"{r.rows} rows"
            lines.append(f"  {r.name:<28} {r.kind:<8} {r.seconds:8.3f} s  {rows}")
        return "\n".join(lines)


class StepRunner:
    """Run :class:`Step` s on a DuckDB connection and clean up after them.

    Use as a context manager; on exit (normal or by an exception) every table
    and view the runner created is dropped and every frame it registered is
    unregistered.

    Parameters
    ----------
    con
        A DuckDB connection (not closed by the runner).

    Notes
    -----
    Tables are temporary (``CREATE TEMP TABLE``) and named
    ``_ms_<token>_<name>`` with a random token per runner. Only those names,
    built from identifiers, are put into SQL text; values are always bound.
    """

    def __init__(self, con: Any) -> None:
        self.con = con
        self.token = secrets.token_hex(4)
        self._names: dict[str, str] = {}
        # physical name -> "table" / "view" / "frame", in order of creation
        self._made: dict[str, str] = {}
        self._records: list[StepRecord] = []

    # -- names -------------------------------------------------------------------
    def name(self, logical: str) -> str:
        """Physical name of pipeline table ``logical`` in this runner."""
        if not _IDENT.match(logical):
            raise ConfigError(f"table name {logical!r} is not an identifier")
        return self._names.setdefault(logical, f"{PREFIX}_{self.token}_{logical}")

    def exists(self, logical: str) -> bool:
        """Whether pipeline table ``logical`` exists now (made or registered)."""
        return logical in self._names and self._names[logical] in self._made

    def sql(self, step: Step) -> str:
        """Return the SQL of ``step`` with this runner's table names put in."""
        return _TABLE_REF.sub(lambda m: self.name(m.group(1)), step.sql)

    def explain(self, step: Step, params: Mapping[str, Any] | None = None) -> str:
        """Return the statement ``step`` runs here, bound values in a comment."""
        head = str(step).splitlines()[0]
        bound = self._params(step, params or {}, strict=False)
        if bound:
            head += "\n-- bound: " + ", ".join(f"${k} = {v!r}" for k, v in
                                               bound.items())
        return head + "\n" + self._statement(step) + "\n"

    def _statement(self, step: Step) -> str:
        body = self.sql(step).strip()
        if step.kind == "table":
            return f"CREATE TEMP TABLE {self.name(step.output)} AS\n{body}"
        if step.kind == "view":
            return f"CREATE TEMP VIEW {self.name(step.output)} AS\n{body}"
        if step.kind == "append":
            return f"INSERT INTO {self.name(step.output)}\n{body}"
        return body

    def _params(self, step: Step, params: Mapping[str, Any],
                strict: bool = True) -> dict[str, Any]:
        missing = [p for p in step.params if p not in params]
        if missing and strict:
            raise ConfigError(f"step {step.name!r} needs parameter(s) "
                              f"{', '.join(missing)}; pass them in params")
        return {p: params[p] for p in step.params if p in params}

    # -- running -----------------------------------------------------------------
    def register(self, name: str, frame: Any) -> str:
        """Register a polars frame (or Arrow table) as pipeline table ``name``.

        A frame already registered under ``name`` is replaced.
        """
        t0 = time.perf_counter()
        phys = self.name(name)
        if self._made.get(phys) not in (None, "frame"):
            raise ConfigError(f"pipeline table {name!r} already exists as a "
                              f"{self._made[phys]}; register frames under new names")
        data = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        if phys in self._made:
            self.con.unregister(phys)
            del self._made[phys]
        self._made[phys] = "frame"
        self.con.register(phys, data)
        self._records.append(StepRecord(name, "register", name,
                                        time.perf_counter() - t0, int(data.num_rows)))
        return phys

    def run(self, step: Step, params: Mapping[str, Any] | None = None, *,
            fetch: Fetch = "polars") -> Any:
        """Run ``step`` with ``params`` (only the step's own names are bound).

        Returns
        -------
        polars.DataFrame, list of tuples or None
            The rows of a ``query`` step (as a polars frame, or tuples with
            ``fetch="rows"``); ``None`` for the other kinds.
        """
        bound = self._params(step, params or {})
        self._check_inputs(step)
        t0 = time.perf_counter()
        if step.kind in ("table", "view"):
            phys = self.name(step.output)
            if phys in self._made:
                raise ConfigError(f"step {step.name!r}: table {step.output!r} "
                                  "already exists in this run; drop it first")
            self._made[phys] = step.kind
        try:
            cur = self.con.execute(self._statement(step), bound)
            out = rows = None
            if step.kind == "query":
                out = cur.pl() if fetch == "polars" else cur.fetchall()
                rows = out.height if fetch == "polars" else len(out)
            elif step.kind in ("table", "append"):
                got = cur.fetchone()
                rows = int(got[0]) if got and got[0] is not None else None
        except Exception as e:
            e.add_note(f"in SQL step {step.name!r}:\n{self._statement(step)}")
            raise
        self._records.append(StepRecord(step.name, str(step.kind), step.output,
                                        time.perf_counter() - t0, rows))
        return out

    def stream(self, step: Step, params: Mapping[str, Any] | None = None, *,
               batch_size: int = 1_000_000) -> Iterator[pl.DataFrame]:
        """Rows of a ``query`` step in polars batches of up to ``batch_size``.

        The step is recorded (with its rows and the time spent in DuckDB) when
        the batches are exhausted.
        """
        if step.kind != "query":
            raise ConfigError(f"step {step.name!r} is a {step.kind} step; only "
                              "query steps can be streamed")
        bound = self._params(step, params or {})
        self._check_inputs(step)
        t0 = time.perf_counter()
        reader = self.con.execute(self._statement(step), bound).to_arrow_reader(
            batch_size)
        spent = time.perf_counter() - t0
        rows = 0
        while True:
            t1 = time.perf_counter()
            try:
                rb = reader.read_next_batch()
            except StopIteration:
                spent += time.perf_counter() - t1
                break
            spent += time.perf_counter() - t1
            rows += rb.num_rows
            yield pl.from_arrow(rb)
        self._records.append(StepRecord(step.name, "query", None, spent, rows))

    def _check_inputs(self, step: Step) -> None:
        missing = [n for n in step.inputs if not self.exists(n)]
        if missing:
            raise ConfigError(f"step {step.name!r} reads {', '.join(missing)}, which "
                              "no earlier step made or registered")
        if step.kind == "append" and not self.exists(step.output):
            raise ConfigError(f"step {step.name!r} appends to {step.output!r}, which "
                              "does not exist yet; create it first")

    def drop(self, *names: str) -> None:
        """Drop pipeline tables (or unregister frames) before the runner closes."""
        for n in names:
            phys = self._names.get(n)
            if phys is not None and phys in self._made:
                self._release(phys, self._made.pop(phys))

    def _release(self, phys: str, kind: str) -> None:
        if kind == "frame":
            self.con.unregister(phys)
        elif kind == "view":
            self.con.execute(f"DROP VIEW IF EXISTS {phys}")
        else:
            self.con.execute(f"DROP TABLE IF EXISTS {phys}")

    def close(self) -> None:
        """Drop every table and view made, unregister every frame (newest first).

        Every object is attempted even when one fails; the first failure is
        raised afterwards.
        """
        first: Exception | None = None
        for phys, kind in reversed(list(self._made.items())):
            try:
                self._release(phys, kind)
            except Exception as e:  # noqa: BLE001 - keep releasing the others
                first = first or e
        self._made.clear()
        if first is not None:
            raise first

    @property
    def log(self) -> StepLog:
        """The steps run so far (a frozen :class:`StepLog`)."""
        return StepLog(tuple(self._records))

    def __enter__(self) -> StepRunner:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the step's own error is the one to see
            pass


def run_steps(con: Any, steps: Sequence[Step], params: Mapping[str, Any] | None = None,
              *, frames: Mapping[str, Any] | None = None) -> StepLog:
    """Run ``steps`` in order on ``con`` and drop everything they made.

    Parameters
    ----------
    con
        A DuckDB connection; left with the tables and views it had.
    steps
        The steps; query steps (``output=None``) return their rows.
    params
        Parameter values by name; each step binds the ones it declares.
    frames
        Polars frames (or Arrow tables) registered first as pipeline tables.

    Returns
    -------
    StepLog
        Timings and row counts per step, and ``frames``: the rows of each query
        step by step name.
    """
    out: dict[str, pl.DataFrame] = {}
    with StepRunner(con) as run:
        for name, frame in (frames or {}).items():
            run.register(name, frame)
        for s in steps:
            res = run.run(s, params)
            if s.kind == "query":
                out[s.name] = res
        log = run.log
    return StepLog(log.records, out)


def explain(steps: Sequence[Step]) -> str:
    """Return the SQL of ``steps``, each under a comment naming its tables."""
    return "\n".join(str(s) for s in steps)


__all__ = ["STEP_KINDS", "Step", "StepLog", "StepRecord", "StepRunner", "explain",
           "run_steps"]
