"""DatasetWriter: files carried over from another dataset and streamed part files."""

from __future__ import annotations

import json

import polars as pl
import pytest

from measure.dataset import DatasetWriter, verify_dataset


def test_copied_files_and_streamed_parts_are_pinned(tmp_path):
    src = tmp_path / "a"
    with DatasetWriter(src, name="a", command="tests") as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [1, 2],
                                                "screen_name": ["x", "y"]}))
    a = {f["path"]: f for f in w.manifest["files"]}
    dst = tmp_path / "b"
    lazy = pl.LazyFrame({"src": [1, 2, 2], "dst": [2, 1, 1]}).unique()
    with DatasetWriter(dst, name="b", command="tests") as w:
        w.copy_file("accounts.parquet", src / "accounts.parquet")
        n = w.write_parquet("edges/part-00007.parquet", lazy)
    assert n == 2 and w.rows == {}
    b = {f["path"]: f for f in json.loads((dst / "manifest.json").read_text())
         ["files"]}
    assert b["accounts.parquet"]["sha256"] == a["accounts.parquet"]["sha256"]
    assert b["edges/part-00007.parquet"]["rows"] == 2
    assert verify_dataset(dst).ok
    # replacing the source later does not touch the copy (files are never
    # modified in place; a replaced file is a new file)
    with DatasetWriter(src, name="a", command="tests", overwrite=True) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [3],
                                                "screen_name": ["z"]}))
    assert verify_dataset(dst).ok
    assert pl.read_parquet(dst / "accounts.parquet")["account_id"].to_list() == [1, 2]


def test_write_parquet_refuses_paths_outside_the_dataset(tmp_path):
    from measure.errors import UnsafePathError

    with pytest.raises(UnsafePathError), DatasetWriter(tmp_path / "c") as w:
        w.write_parquet("../escape.parquet", pl.DataFrame({"a": [1]}))
    assert not (tmp_path / "escape.parquet").exists()
    assert not (tmp_path / "c").exists()
