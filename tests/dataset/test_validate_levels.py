"""Validation levels: what the Parquet footers show, what needs the rows, who asks.

The default level (``"schema"``) reads the footers only: it must name the file,
column and row group of a violation their statistics show, and must not flag data
the statistics do not describe (a partition column taken from a folder name).
Violations the footers cannot show open by default and fail with
``validate="full"``, which ingest and ``measure pin`` always use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import get_args

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import measure
from measure import DataContractError, DatasetWriter
from measure._cli_util import VALIDATE_LEVELS
from measure.cli import main
from measure.dataset import _dataset
from measure.errors import ConfigError, IngestError
from measure.ingest import ingest

T0 = dt.datetime(2014, 10, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ingest"


def _accounts(ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"account_id": ids,
                         "screen_name": [f"sim_user{i}" for i in ids]})


def _observations(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"account_id": list(range(n)),
         "observed_at": [T0 + dt.timedelta(hours=i) for i in range(n)],
         "status": ["active"] * n},
        schema_overrides={"observed_at": TS})


def _dataset_with(path: Path, **tables: pl.DataFrame) -> Path:
    """An unpinned dataset (the tests rewrite its files in place)."""
    with DatasetWriter(path) as w:
        w.write_table("accounts", tables.pop("accounts", _accounts([0, 1, 2])))
        for name, df in tables.items():
            w.write_table(name, df)
    (path / "manifest.json").unlink()
    return path


def test_levels_are_one_option_everywhere() -> None:
    assert VALIDATE_LEVELS == get_args(_dataset.Validate)
    assert VALIDATE_LEVELS[0] == _dataset.DEFAULT_VALIDATE == "schema"


def test_an_unknown_level_lists_the_valid_ones(tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d")
    with pytest.raises(ConfigError, match="'schema', 'full', 'none'"):
        measure.open(path, validate="footers")


def test_null_in_a_later_row_group_names_file_column_and_row_group(
        tmp_path: Path) -> None:
    obs = _observations(30).with_columns(
        pl.when(pl.col("account_id") == 25).then(None)
        .otherwise(pl.col("observed_at")).alias("observed_at"))
    path = _dataset_with(tmp_path / "d")
    obs.write_parquet(path / "observations.parquet", row_group_size=10)
    assert pq.read_metadata(path / "observations.parquet").num_row_groups == 3
    with pytest.raises(DataContractError) as err:
        measure.open(path)
    assert (err.value.table, err.value.column) == ("observations", "observed_at")
    assert err.value.file == str(path / "observations.parquet")
    assert "row group 2 has 1 row(s) with a null value" in str(err.value)
    with pytest.raises(DataContractError) as err:
        measure.open(path, validate="full")
    assert err.value.column == "observed_at"
    assert err.value.example["row"] == 25


def test_file_of_a_table_lacking_a_required_column_is_named(tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d")
    (path / "detections").mkdir()
    pl.DataFrame({"account_id": [0, 1], "source": ["a", "b"]}).write_parquet(
        path / "detections" / "part-00000.parquet")
    pl.DataFrame({"account_id": [2]}).write_parquet(
        path / "detections" / "part-00001.parquet")
    with pytest.raises(DataContractError) as err:
        measure.open(path)
    assert (err.value.table, err.value.column) == ("detections", "source")
    assert err.value.file == str(path / "detections" / "part-00001.parquet")
    assert "has no such column, so its 1 row(s) have a null value" in str(err.value)
    with pytest.raises(DataContractError) as err:
        measure.open(path, validate="full")
    assert err.value.column == "source"
    assert err.value.file == str(path / "detections" / "part-00001.parquet")


def test_partition_column_from_folder_names_is_not_missing(tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d")
    for source, ids in (("snowball", [0, 1]), ("user_reports", [1, 2])):
        folder = path / "detections" / f"source={source}"
        folder.mkdir(parents=True)
        pl.DataFrame({"account_id": ids}).write_parquet(folder / "part.parquet")
    for level in ("schema", "full"):
        with measure.open(path, validate=level) as ds:
            got = ds.sql("SELECT source, count(*) AS n FROM detections "
                         "GROUP BY 1 ORDER BY 1")
        assert got.rows() == [("snowball", 2), ("user_reports", 2)]


def test_without_statistics_only_full_validation_finds_nulls_and_values(
        tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d")
    table = pa.table({
        "account_id": pa.array([0, 1], pa.int64()),
        "observed_at": pa.array([T0, None], pa.timestamp("us", "UTC")),
        "status": ["banned", "banned"]})
    pq.write_table(table, path / "observations.parquet", write_statistics=False)
    measure.open(path).close()
    with pytest.raises(DataContractError) as err:
        measure.open(path, validate="full")
    assert err.value.column == "observed_at"
    assert "1 row(s) have a null value" in str(err.value)
    pq.write_table(table.set_column(1, "observed_at",
                                    pa.array([T0, T0], pa.timestamp("us", "UTC"))),
                   path / "observations.parquet", write_statistics=False)
    measure.open(path).close()
    with pytest.raises(DataContractError, match="'banned'"):
        measure.open(path, validate="full")


def test_duplicate_ids_need_full_validation(tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d", accounts=_accounts([0, 1, 1]))
    for level in ("none", "schema"):
        measure.open(path, validate=level).close()
    with pytest.raises(DataContractError, match="unique") as err:
        measure.open(path, validate="full")
    assert (err.value.table, err.value.column) == ("accounts", "account_id")


def test_cli_validate_flag(tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = str(_dataset_with(tmp_path / "d", accounts=_accounts([0, 1, 1])))
    assert main(["info", path]) == 0
    capsys.readouterr()
    assert main(["info", path, "--validate", "full"]) == 1
    assert "values must be unique" in capsys.readouterr().err
    assert main(["describe", path, "--validate", "full"]) == 1
    assert "values must be unique" in capsys.readouterr().err
    # before or after the census form; without it the missing tables are reported
    for argv in (["census", "--validate", "full", "frame", path],
                 ["census", "frame", path, "--validate=full"]):
        assert main(argv) == 1
        assert "values must be unique" in capsys.readouterr().err
    assert main(["census", "frame", path]) == 1
    assert "required table(s) missing" in capsys.readouterr().err


def test_pin_validates_every_row(tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _dataset_with(tmp_path / "d", accounts=_accounts([0, 1, 1]))
    assert main(["pin", str(path)]) == 1
    assert "values must be unique" in capsys.readouterr().err
    assert not (path / "manifest.json").exists()
    _accounts([0, 1, 2]).write_parquet(path / "accounts.parquet")
    assert main(["pin", str(path)]) == 0
    assert (path / "manifest.json").is_file()


def test_python_pin_validates_every_row(tmp_path: Path) -> None:
    path = _dataset_with(tmp_path / "d", accounts=_accounts([0, 1, 1]))
    with pytest.raises(DataContractError, match="values must be unique"):
        measure.pin(str(path))
    assert not (path / "manifest.json").exists()
    _accounts([0, 1, 2]).write_parquet(path / "accounts.parquet")
    assert measure.pin(str(path)).startswith("d@sha256:")


def test_ingest_into_a_dataset_validates_every_row(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "ds", name="ds") as w:
        w.write_table("accounts", _accounts([5, 5]))
    measure.open(tmp_path / "ds").close()  # the footers cannot show a duplicate
    with pytest.raises(IngestError, match="values must be unique"):
        ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml",
               into=tmp_path / "ds")


def test_new_ingest_validates_its_output_fully(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    levels: list[tuple[str, bool]] = []
    real = _dataset.Dataset._validate

    def spy(self: _dataset.Dataset, *, full: bool) -> None:
        levels.append((self.path.name, full))
        real(self, full=full)

    monkeypatch.setattr(_dataset.Dataset, "_validate", spy)
    ingest(EXAMPLES / "seeds.csv", "table", mapping=EXAMPLES / "seeds.toml",
           out=tmp_path / "new")
    assert levels and all(full for _, full in levels)
    assert any(name.startswith(".new.tmp-") for name, _ in levels)
