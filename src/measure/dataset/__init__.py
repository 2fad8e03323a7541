"""Datasets on the data contract: validation, DuckDB views and pinning."""

from measure.dataset._contract import REQUIRED_FOR, SCHEMA_VERSION, TABLES
from measure.dataset._dataset import Dataset, open_dataset
from measure.dataset._pin import (
    LockEntry,
    VerifyReport,
    build_manifest,
    lock_dataset,
    read_lock,
    safe_relpath,
    verify,
    verify_dataset,
    write_lock,
    write_manifest,
)
from measure.dataset._writer import DatasetWriter

__all__ = [
    "REQUIRED_FOR", "SCHEMA_VERSION", "TABLES", "Dataset", "DatasetWriter",
    "LockEntry", "VerifyReport", "build_manifest", "lock_dataset", "open_dataset",
    "read_lock", "safe_relpath", "verify", "verify_dataset", "write_lock",
    "write_manifest",
]
