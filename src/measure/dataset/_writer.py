"""Write a dataset atomically: tables, extra files, then the manifest, then rename.

The writer holds the dataset's writer lock (:func:`measure.dataset.writer_lock`)
from ``__enter__`` to ``__exit__``: a second writer of the same dataset fails at
once.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from measure._io import atomic_write_bytes, new_tmp_dir, replace_dir
from measure.dataset._lock import writer_lock
from measure.dataset._pin import safe_relpath, write_manifest


class DatasetWriter:
    """Build a dataset in a temporary directory and move it into place on success.

    Examples
    --------
    >>> with DatasetWriter("data/processed/x", name="x", command="measure ...") as w:
    ...     w.write_table("accounts", accounts_df)
    ...     for chunk in chunks:
    ...         w.append("edges", chunk)          # edges/part-00000.parquet, ...
    ...     w.write_file("truth.json", b"{...}")

    A crash (any exception inside the block) removes the temporary directory and
    leaves an existing dataset at the destination untouched; a process killed
    inside the block leaves a temporary sibling ``.<name>.tmp-<hex>`` that the next
    writer removes. The new version replaces the old one in one step
    (:func:`measure._io.replace_dir`). The dataset's writer lock is held
    meanwhile: another writer of the same path raises
    :class:`~measure.errors.DatasetLockedError` at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        command: str | None = None,
        inputs: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        overwrite: bool = False,
        compression: str = "zstd",
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.command = command
        self.inputs = inputs
        self.extra = extra
        self.overwrite = overwrite
        self.compression = compression
        self._parts: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.manifest: dict[str, Any] | None = None

    def __enter__(self) -> DatasetWriter:
        self._lock = writer_lock(self.path, action=self.command or "write")
        self._lock.__enter__()
        try:
            self.tmp = new_tmp_dir(self.path, overwrite=self.overwrite)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def _write(self, table: pl.DataFrame | pa.Table, dest: Path) -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(table, pl.DataFrame):
            table.write_parquet(dest, compression=self.compression, statistics=True)
            return table.height
        pq.write_table(table, dest, compression=self.compression)
        return table.num_rows

    def write_table(self, name: str, table: pl.DataFrame | pa.Table) -> None:
        """Write a whole table as ``<name>.parquet``."""
        n = self._write(table, self.tmp / f"{name}.parquet")
        self.rows[name] = n

    def append(self, name: str, chunk: pl.DataFrame | pa.Table,
               partition: str | None = None) -> None:
        """Append a chunk as ``<name>/[partition/]part-NNNNN.parquet``."""
        i = self._parts.get(name, 0)
        self._parts[name] = i + 1
        folder = self.tmp / name / partition if partition else self.tmp / name
        n = self._write(chunk, folder / f"part-{i:05d}.parquet")
        self.rows[name] = self.rows.get(name, 0) + n

    def write_parquet(self, relpath: str,
                      table: pl.DataFrame | pl.LazyFrame | pa.Table) -> int:
        """Write one Parquet file at ``relpath`` inside the dataset; return its rows.

        ``relpath`` names the file (``edges.parquet``, ``edges/part-00003.parquet``);
        a :class:`polars.LazyFrame` is streamed to disk without being collected.
        """
        dest = safe_relpath(self.tmp, relpath)
        if isinstance(table, pl.LazyFrame):
            dest.parent.mkdir(parents=True, exist_ok=True)
            table.sink_parquet(dest, compression=self.compression, statistics=True)
            return int(pq.ParquetFile(dest).metadata.num_rows)
        return self._write(table, dest)

    def copy_file(self, relpath: str, src: str | os.PathLike[str]) -> None:
        """Put an existing file at ``relpath`` inside the dataset, byte for byte.

        The file is hard-linked when the file system allows it (no data is copied;
        datasets never modify a file in place) and copied otherwise.
        """
        dest = safe_relpath(self.tmp, relpath)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)

    def write_file(self, relpath: str, data: bytes | str) -> None:
        """Write an extra file (e.g. ``truth.json``) inside the dataset."""
        dest = safe_relpath(self.tmp, relpath)
        atomic_write_bytes(dest, data.encode() if isinstance(data, str) else data)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            try:
                self.manifest = write_manifest(self.tmp, lock=False, name=self.name,
                                               command=self.command,
                                               inputs=self.inputs, extra=self.extra)
                replace_dir(self.tmp, self.path)
            except BaseException:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise
        finally:
            self._lock.__exit__(None, None, None)
