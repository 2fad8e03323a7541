"""Datasets on the data contract: validation, DuckDB views and pinning.

Public names are imported on first use, so that opening a dataset loads what
opening needs (DuckDB, and the Parquet footer reader) and not the libraries of
the writers, the export and the purge.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from measure.dataset._contract import REQUIRED_FOR, SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    from measure.dataset._dataset import Dataset, open_dataset
    from measure.dataset._export import export_pseudonymised, read_key
    from measure.dataset._lock import writer_lock
    from measure.dataset._pin import (
        IntegrityReport,
        LockEntry,
        VerifyReport,
        build_manifest,
        check_dataset,
        lock_dataset,
        read_lock,
        safe_relpath,
        verify,
        verify_dataset,
        write_lock,
        write_manifest,
    )
    from measure.dataset._purge import purge, read_ids
    from measure.dataset._writer import DatasetWriter

#: Public names imported on first use: name -> module that defines it.
_LAZY: dict[str, str] = {
    "Dataset": "_dataset", "open_dataset": "_dataset",
    "export_pseudonymised": "_export", "read_key": "_export",
    "writer_lock": "_lock",
    "IntegrityReport": "_pin", "LockEntry": "_pin", "VerifyReport": "_pin",
    "build_manifest": "_pin", "check_dataset": "_pin", "lock_dataset": "_pin",
    "read_lock": "_pin", "safe_relpath": "_pin", "verify": "_pin",
    "verify_dataset": "_pin", "write_lock": "_pin", "write_manifest": "_pin",
    "purge": "_purge", "read_ids": "_purge",
    "DatasetWriter": "_writer",
}

__all__ = [
    "REQUIRED_FOR", "SCHEMA_VERSION", "TABLES", "Dataset", "DatasetWriter",
    "IntegrityReport", "LockEntry", "VerifyReport", "build_manifest",
    "check_dataset", "export_pseudonymised", "lock_dataset", "open_dataset",
    "purge", "read_ids", "read_key", "read_lock", "safe_relpath", "verify",
    "verify_dataset", "write_lock", "write_manifest", "writer_lock",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module the first time it is read."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'measure.dataset' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"measure.dataset.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
