"""Accounting, stable ids and the report object."""

from __future__ import annotations

import polars as pl
import pytest

from measure.errors import IngestError
from measure.ingest import handle_id, stable_id
from measure.ingest._common import (
    OBSERVATIONS_SCHEMA,
    Parsed,
    Quarantine,
    list_raw_files,
    write_ingest,
)


def _obs(n: int) -> pl.DataFrame:
    import datetime as dt

    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return pl.DataFrame({"account_id": list(range(1, n + 1)), "observed_at": [t] * n,
                         "status": ["active"] * n}).cast(
        {k: v for k, v in OBSERVATIONS_SCHEMA.items()
         if k in ("account_id", "observed_at", "status")})


def test_unbalanced_accounting_fails_and_writes_nothing(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text("{}\n")
    files = list_raw_files(raw, (".jsonl",))
    q = Quarantine()
    q.add(str(raw), 1, "bad_json", "test", "{")
    parsed = Parsed(tables={"observations": _obs(3),
                            "accounts": pl.DataFrame({"account_id": [1, 2, 3],
                                                      "screen_name": ["a", "b", "c"]})},
                    record_tables=("observations",), rows_read=5,
                    collapsed={"observations": 0}, quarantine=q)
    with pytest.raises(IngestError, match=r"rows read 5 != rows written 3 \+ rows "
                       r"quarantined 1 \+ rows collapsed 0"):
        write_ingest(parsed, fmt="twitter-v1", source=raw, files=files,
                     out=tmp_path / "o", name=None, command=None, overwrite=False)
    assert not (tmp_path / "o").exists()
    # balanced: 5 = 3 + 1 + 1
    parsed.collapsed["observations"] = 1
    rep = write_ingest(parsed, fmt="twitter-v1", source=raw, files=files,
                       out=tmp_path / "o", name=None, command=None, overwrite=False)
    assert rep.balanced and rep.rows_written["quarantine"] == 1
    d = rep.to_dict()
    assert d["rows_read"] == 5 and d["reasons"] == {"bad_json": 1}
    assert "rows read 5 = rows written 3 + rows quarantined 1 + rows collapsed 1" \
        in rep.summary()
    assert "<pre>" in rep._repr_html_()


def test_raw_file_changed_during_ingest_is_caught(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text("{}\n")
    files = list_raw_files(raw, (".jsonl",))
    raw.write_text("{} \n")  # modified after hashing
    parsed = Parsed(tables={}, record_tables=(), rows_read=0, collapsed={},
                    quarantine=Quarantine())
    with pytest.raises(IngestError, match="changed while it was being ingested"):
        write_ingest(parsed, fmt="twitter-v1", source=raw, files=files,
                     out=tmp_path / "o", name=None, command=None, overwrite=False)


def test_stable_ids_are_fixed_values():
    # The ids are part of the data: changing the function breaks joins between
    # datasets, so pin two values (first 8 bytes of sha256, top bit cleared).
    import hashlib

    want = int.from_bytes(hashlib.sha256(b"twitter-handle:sim_writer").digest()[:8],
                          "big") & (2**63 - 1)
    assert handle_id("Sim_Writer") == handle_id("sim_writer") == want
    assert 0 <= stable_id("x", "y") < 2**63
    assert stable_id("x", "y") != stable_id("x", "z")


def test_source_directory_listing(tmp_path):
    (tmp_path / "b.jsonl").write_text("{}\n")
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / ".hidden.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("x")
    files = list_raw_files(tmp_path, (".jsonl",))
    assert [f.path.name for f in files] == ["a.jsonl", "b.jsonl"]
    with pytest.raises(IngestError, match="holds no file ending in"):
        list_raw_files(tmp_path, (".csv",))
    with pytest.raises(IngestError, match="does not exist"):
        list_raw_files(tmp_path / "nope", (".csv",))
