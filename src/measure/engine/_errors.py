"""The error of a statement or family that has no Spark form (no heavy imports)."""

from __future__ import annotations

from measure.errors import MeasureError


class UnsupportedOnSpark(MeasureError):
    """A statement (or a construct in it) that the Spark engine cannot run.

    Parameters
    ----------
    statement
        Name of the statement (its constant or step name).
    construct
        The DuckDB construct that has no faithful Spark form.
    reason
        Why, and what to write instead when there is a portable form.
    """

    def __init__(self, statement: str, construct: str, reason: str) -> None:
        self.statement = statement
        self.construct = construct
        self.reason = reason
        super().__init__(f"{statement}: {construct} is not supported on Spark: "
                         f"{reason}")


__all__ = ["UnsupportedOnSpark"]
