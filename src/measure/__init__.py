"""measure: count hidden online supporter networks with honest uncertainty.

Open a dataset on the data contract with :func:`measure.open`, pin it with
:func:`measure.pin`, and run the estimators of each method family:
``measure.census``, ``measure.capture``, ``measure.churn``, ``measure.resurrection``,
``measure.describe``; ``measure.simulate`` builds worlds with known truth.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("measure")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from measure._results import Estimate, estimates_to_polars
from measure.dataset import (
    Dataset,
    DatasetWriter,
    lock_dataset,
    verify,
    verify_dataset,
    write_manifest,
)
from measure.dataset import open_dataset as open  # noqa: A001 - the public name
from measure.errors import (
    ConfigError,
    DataContractError,
    EstimationError,
    IngestError,
    MeasureError,
    PinMismatchError,
    StatisticalWarning,
    UnsafePathError,
)


def pin(path: str, *, name: str | None = None, command: str | None = None) -> str:
    """Write the dataset's manifest and return its id ``name@sha256:<digest>``."""
    m = write_manifest(path, name=name, command=command)
    return f"{m['name']}@sha256:{m['digest']}"


_FAMILIES = frozenset({"census", "capture", "churn", "resurrection", "describe",
                       "simulate", "ingest", "report", "demo"})


def __getattr__(name: str) -> object:
    """Import method families lazily (``measure.churn`` after ``import measure``)."""
    if name in _FAMILIES:
        import importlib

        return importlib.import_module(f"measure.{name}")
    raise AttributeError(f"module 'measure' has no attribute {name!r}")


__all__ = [
    "ConfigError", "DataContractError", "Dataset", "DatasetWriter", "Estimate",
    "EstimationError", "IngestError", "MeasureError", "PinMismatchError",
    "StatisticalWarning", "UnsafePathError", "__version__", "estimates_to_polars",
    "lock_dataset", "open", "pin", "verify", "verify_dataset", "write_manifest",
]
