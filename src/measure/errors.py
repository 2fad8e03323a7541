"""One exception tree for measure.

Every error names what was wrong (file, table, column, value) and ends with what to
do next. ``StatisticalWarning`` flags an estimate that rests on a weak assumption.
"""

from __future__ import annotations


class MeasureError(Exception):
    """Base class of every error raised by measure."""


class DataContractError(MeasureError):
    """A dataset does not follow the data contract.

    Parameters
    ----------
    message
        What is wrong and what to do next.
    table, column
        Where the violation is.
    example
        One offending row (as a dict) or value, when there is one.
    file
        The file or directory the table was read from.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        example: object | None = None,
        file: str | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.example = example
        self.file = file
        where = []
        if table is not None:
            where.append(f"table '{table}'")
        if column is not None:
            where.append(f"column '{column}'")
        if file is not None:
            where.append(f"file '{file}'")
        text = f"{', '.join(where)}: {message}" if where else message
        if example is not None:
            text += f" Example offending row: {example!r}."
        super().__init__(text)


class PinMismatchError(MeasureError):
    """A dataset's content differs from its pinned digest or manifest."""

    def __init__(self, message: str, *, differences: list[dict] | None = None) -> None:
        self.differences = differences or []
        super().__init__(message)


class DatasetLockedError(MeasureError):
    """Another process is writing the dataset (names the dataset and its pid)."""


class UnsafePathError(MeasureError):
    """A manifest path points outside its dataset (absolute, or containing ``..``)."""


class IngestError(MeasureError):
    """Raw input could not be ingested (names file, line and column)."""


class EstimationError(MeasureError):
    """An estimator cannot run on the data given (says why and what to do next)."""


class ConfigError(MeasureError):
    """An invalid option or configuration value; lists the valid ones."""


class ModifiedDatasetWarning(UserWarning):
    """A pinned dataset's files differ from its manifest and were analysed anyway.

    Raised (as a warning) by ``measure.open(path, allow_modified=True)``; every
    number computed from such a dataset describes data that are not the pinned
    version.
    """


class StatisticalWarning(UserWarning):
    """An estimate rests on a weak or untestable assumption; read before citing it."""
