"""Engines that run measure's SQL: DuckDB (the default) and Spark.

The SQL of every family is written once, in DuckDB's dialect. An
:class:`Engine` runs it: :class:`DuckDBEngine` as written, :class:`SparkEngine`
after translation by :func:`to_spark` (sqlglot plus the project's rewrites; a
construct without a faithful Spark form raises :class:`UnsupportedOnSpark`).
Names other than :class:`UnsupportedOnSpark` load on first use (sqlglot and
pyspark are not imported with :mod:`measure`).
"""

from __future__ import annotations

from typing import Any

from measure.engine._errors import UnsupportedOnSpark

_LAZY = {"SparkPlan": "measure.engine._dialect", "to_spark": "measure.engine._dialect",
         "Engine": "measure.engine._engine", "DuckDBEngine": "measure.engine._engine",
         "SparkEngine": "measure.engine._engine",
         "EngineUnavailable": "measure.engine._engine",
         "open_engine": "measure.engine._engine",
         "spark_session": "measure.engine._engine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'measure.engine' has no attribute {name!r}")


__all__ = ["DuckDBEngine", "Engine", "EngineUnavailable", "SparkEngine", "SparkPlan",
           "UnsupportedOnSpark", "open_engine", "spark_session", "to_spark"]
