"""Engines that run measure's SQL: DuckDB (the default) and Spark.

The SQL of every family is written once, in DuckDB's dialect. An
:class:`Engine` runs it: :class:`DuckDBEngine` as written, :class:`SparkEngine`
after translation by :func:`to_spark` (sqlglot plus the project's rewrites; a
construct without a faithful Spark form raises :class:`UnsupportedOnSpark`).
"""

from measure.engine._dialect import SparkPlan, UnsupportedOnSpark, to_spark

__all__ = ["SparkPlan", "UnsupportedOnSpark", "to_spark"]
