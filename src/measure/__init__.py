"""measure: count hidden online supporter networks with honest uncertainty.

Open a dataset on the data contract with :func:`measure.open`, pin it with
:func:`measure.pin`, and run the estimators of each method family:
``measure.census``, ``measure.capture``, ``measure.churn``, ``measure.resurrection``,
``measure.describe``; ``measure.simulate`` builds worlds with known truth.

``import measure`` is cheap: the names that need numpy, polars or DuckDB
(:func:`measure.open`, :class:`measure.Dataset`, :class:`measure.Estimate`, ...),
the method families and ``__version__`` are imported on first use (PEP 562 module
``__getattr__``), so the command line starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from measure.errors import (
    ConfigError,
    DataContractError,
    DatasetLockedError,
    EstimationError,
    IngestError,
    MeasureError,
    ModifiedDatasetWarning,
    PinMismatchError,
    StatisticalWarning,
    UnsafePathError,
)

if TYPE_CHECKING:
    __version__: str

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


#: Public names imported on first use: name -> (module, attribute in it).
_LAZY: dict[str, tuple[str, str]] = {
    "Estimate": ("measure._results", "Estimate"),
    "estimates_to_polars": ("measure._results", "estimates_to_polars"),
    "Dataset": ("measure.dataset", "Dataset"),
    "DatasetWriter": ("measure.dataset", "DatasetWriter"),
    "lock_dataset": ("measure.dataset", "lock_dataset"),
    "open": ("measure.dataset", "open_dataset"),
    "verify": ("measure.dataset", "verify"),
    "verify_dataset": ("measure.dataset", "verify_dataset"),
    "write_manifest": ("measure.dataset", "write_manifest"),
}

#: Subpackages and modules reachable as attributes after ``import measure``.
_SUBMODULES = frozenset({"census", "capture", "churn", "resurrection", "describe",
                         "simulate", "ingest", "report", "demo", "dataset",
                         "options"})


def pin(path: str, *, name: str | None = None, command: str | None = None) -> str:
    """Validate a dataset row by row, write its manifest, return its id.

    The dataset is checked against the data contract in full (every row, as
    ``measure.open(path, validate="full")``) before the manifest is written, so
    a dataset that breaks the contract is never pinned.

    Parameters
    ----------
    path
        Dataset directory.
    name
        Dataset name (default: the directory name).
    command
        Command line recorded in the manifest.

    Returns
    -------
    str
        The dataset id ``name@sha256:<digest>``.

    Raises
    ------
    DataContractError
        The dataset breaks the contract (nothing is written).
    """
    from measure.dataset import Dataset, write_manifest

    Dataset(path, validate="full").close()
    m = write_manifest(path, name=name, command=command)
    return f"{m['name']}@sha256:{m['digest']}"


def __getattr__(name: str) -> object:
    """Import public names and method families on first use.

    ``measure.open`` imports :mod:`measure.dataset` (DuckDB) the first
    time it is read; ``measure.churn`` imports the churn family. The value is then
    kept in the module, so later reads cost nothing.
    """
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"measure.{name}")
    else:
        raise AttributeError(f"module 'measure' has no attribute {name!r}")
    globals()[name] = value
    return value


def _version() -> str:
    """Read the installed package's version (``importlib.metadata`` is slow to load)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("measure")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


def __dir__() -> list[str]:
    """List the module's attributes, including the names imported on first use."""
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES | {"__version__"})


__all__ = [
    "ConfigError", "DataContractError", "Dataset", "DatasetLockedError",
    "DatasetWriter", "Estimate", "EstimationError", "IngestError", "MeasureError",
    "ModifiedDatasetWarning", "PinMismatchError",
    "StatisticalWarning", "UnsafePathError", "__version__", "estimates_to_polars",
    "lock_dataset", "open", "pin", "verify", "verify_dataset", "write_manifest",
]
