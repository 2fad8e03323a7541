"""Datasets on the data contract: validation, DuckDB views and pinning."""

from measure.dataset._contract import REQUIRED_FOR, SCHEMA_VERSION, TABLES
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

__all__ = [
    "REQUIRED_FOR", "SCHEMA_VERSION", "TABLES", "Dataset", "DatasetWriter",
    "IntegrityReport", "LockEntry", "VerifyReport", "build_manifest",
    "check_dataset", "export_pseudonymised", "lock_dataset", "open_dataset",
    "purge", "read_ids", "read_key", "read_lock", "safe_relpath", "verify",
    "verify_dataset", "write_lock", "write_manifest", "writer_lock",
]
