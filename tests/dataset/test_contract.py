"""Every contract violation class raises DataContractError naming table and column.

Each violation is found by full validation (every row); those the Parquet
footers' statistics show are found by the default, footer-only validation too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

import measure
from measure import DataContractError, DatasetWriter

T0 = dt.datetime(2014, 10, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")


def _accounts(ids=(1, 2, 3)) -> pl.DataFrame:
    return pl.DataFrame(
        {"account_id": list(ids), "screen_name": [f"sim_user{i}" for i in ids],
         "created_at": [T0] * len(ids)},
        schema_overrides={"created_at": TS},
    )


def _observations() -> pl.DataFrame:
    return pl.DataFrame(
        {"account_id": [1, 1, 2], "observed_at": [T0, T0 + dt.timedelta(days=7), T0],
         "status": ["active", "suspended", "active"],
         "followers_count": [10, None, 5]},
        schema_overrides={"observed_at": TS},
    )


def _write(path: Path, **tables: pl.DataFrame) -> Path:
    with DatasetWriter(path) as w:
        for name, df in tables.items():
            w.write_table(name, df)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = _write(tmp_path / "good", accounts=_accounts(), observations=_observations(),
                  edges=pl.DataFrame({"src": [1, 2], "dst": [2, 3],
                                      "relation": ["follows", "mentions"]}))
    # unpinned: these tests rewrite tables in place, which a pinned dataset refuses
    (path / "manifest.json").unlink()
    return path


def test_valid_dataset_opens_with_views(good: Path) -> None:
    ds = measure.open(good)
    assert set(ds.tables) == {"accounts", "observations", "edges"}
    assert ds.sql("SELECT count(*) AS n FROM edges WHERE src = ?", [1])["n"][0] == 1
    assert ds.table("observations").aggregate("count(*)").fetchone()[0] == 3
    assert ds.id_type == "int"


def _replace(path: Path, name: str, df: pl.DataFrame) -> None:
    df.write_parquet(path / f"{name}.parquet")


@pytest.mark.parametrize(
    ("table", "column", "df", "fragment", "footers_show_it"),
    [
        ("accounts", "screen_name", _accounts().drop("screen_name"), "missing", True),
        ("accounts", "created_at",
         _accounts().with_columns(pl.col("created_at").dt.replace_time_zone(None)),
         "no time zone", True),
        ("accounts", "created_at",
         _accounts().with_columns(pl.col("created_at").cast(pl.Utf8)), "type", True),
        # a duplicate needs the rows
        ("accounts", "account_id", pl.concat([_accounts(), _accounts((1,))]),
         "unique", False),
        ("observations", "status",
         _observations().with_columns(pl.lit("banned").alias("status")),
         "not allowed", True),
        ("observations", "observed_at",
         _observations().with_columns(
             pl.when(pl.col("account_id") == 2).then(None)
             .otherwise(pl.col("observed_at")).alias("observed_at")),
         "null", True),
        ("observations", "followers_count",
         _observations().with_columns(pl.col("followers_count").cast(pl.Utf8)),
         "type", True),
        ("edges", "relation",
         pl.DataFrame({"src": [1], "dst": [2], "relation": ["likes"]}), "not allowed",
         True),
        ("edges", "src",
         pl.DataFrame({"src": ["1"], "dst": ["2"]}), "account id type", True),
    ],
)
def test_violation_names_table_and_column(good: Path, table: str, column: str,
                                          df: pl.DataFrame, fragment: str,
                                          footers_show_it: bool) -> None:
    _replace(good, table, df)
    with pytest.raises(DataContractError) as err:
        measure.open(good, validate="full")
    assert err.value.table == table
    assert err.value.column == column
    assert fragment in str(err.value)
    if not footers_show_it:
        measure.open(good).close()  # the default reads the footers only
        return
    for level in ("schema", None):  # None: the default
        with pytest.raises(DataContractError) as err:
            measure.open(good, **({"validate": level} if level else {}))
        assert (err.value.table, err.value.column) == (table, column)
        assert fragment in str(err.value)
        assert err.value.file is not None


def test_disallowed_value_reports_example_row_and_file(good: Path) -> None:
    _replace(good, "observations",
             _observations().with_columns(
                 pl.when(pl.col("account_id") == 2).then(pl.lit("gone"))
                 .otherwise(pl.col("status")).alias("status")))
    # 'gone' sorts between 'active' and 'suspended', the smallest and largest
    # values of the file's statistics: only the rows show it
    measure.open(good).close()
    with pytest.raises(DataContractError) as err:
        measure.open(good, validate="full")
    assert err.value.example["account_id"] == 2
    assert err.value.example["row"] == 2
    assert err.value.file.endswith("observations.parquet")


@pytest.mark.parametrize(
    ("table", "column", "sql", "row", "value"),
    [
        ("accounts", "created_at",
         "SELECT * FROM (VALUES (1::BIGINT, 'sim_user1', '2014-10-01'::TIMESTAMPTZ),"
         " (2, 'sim_user2', '-infinity'::TIMESTAMPTZ)) t(account_id, screen_name,"
         " created_at)", 1, "-infinity"),
        ("observations", "observed_at",
         "SELECT * FROM (VALUES (1::BIGINT, '2014-10-01'::TIMESTAMPTZ, 'active'),"
         " (2, '2014-10-02'::TIMESTAMPTZ, 'active'), (2, 'infinity'::TIMESTAMPTZ,"
         " 'suspended')) t(account_id, observed_at, status)", 2, "infinity"),
    ],
)
def test_infinite_timestamp_reports_file_row_column(
        good: Path, table: str, column: str, sql: str, row: int, value: str) -> None:
    # only DuckDB writes infinite timestamps (polars cannot hold them)
    con = duckdb.connect()
    con.execute(f"COPY ({sql}) TO ? (FORMAT parquet)", [str(good / f"{table}.parquet")])
    con.close()
    with pytest.raises(DataContractError) as err:
        measure.open(good, validate="full")
    assert (err.value.table, err.value.column) == (table, column)
    assert f"infinite timestamp (such as '{value}')" in str(err.value)
    assert err.value.file.endswith(f"{table}.parquet")
    assert err.value.example["row"] == row
    # the default validation finds it in the Parquet statistics
    for level in ("schema", None):  # None: the default
        with pytest.raises(DataContractError) as err:
            measure.open(good, **({"validate": level} if level else {}))
        assert (err.value.table, err.value.column) == (table, column)
        assert f"row group 0 holds an infinite timestamp ('{value}'" in str(err.value)
        assert err.value.file.endswith(f"{table}.parquet")


@pytest.mark.parametrize(
    ("table", "df"),
    [
        ("labels", pl.DataFrame({"account_id": [1], "label": ["maybe"]})),
        ("crawls", pl.DataFrame({"account_id": [1], "list": ["likes"], "level": [0]})),
    ],
)
def test_label_and_list_values_checked(good: Path, table: str, df: pl.DataFrame
                                       ) -> None:
    _replace(good, table, df)
    for level in ("schema", "full"):
        with pytest.raises(DataContractError) as err:
            measure.open(good, validate=level)
        assert err.value.table == table


def test_missing_required_table_for_analysis(good: Path) -> None:
    with pytest.raises(DataContractError) as err:
        measure.open(good, require=["census"])
    assert err.value.table in {"seeds", "crawls"}
    assert "required table" in str(err.value)


def test_naive_timestamps_accepted_when_declared_utc(good: Path) -> None:
    _replace(good, "accounts",
             _accounts().with_columns(pl.col("created_at").dt.replace_time_zone(None)))
    ds = measure.open(good, naive_timestamps_are_utc=True)
    assert ds.has("accounts")


def test_partitioned_table_directory(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "p") as w:
        w.write_table("accounts", _accounts())
        w.append("edges", pl.DataFrame({"src": [1], "dst": [2]}), partition="day=1")
        w.append("edges", pl.DataFrame({"src": [2], "dst": [3]}), partition="day=2")
    ds = measure.open(tmp_path / "p")
    got = ds.sql("SELECT day, count(*) AS n FROM edges GROUP BY day ORDER BY day")
    assert got["n"].to_list() == [1, 1]


def test_truth_folder_is_not_a_table(good: Path) -> None:
    (good / "truth").mkdir()
    _accounts().write_parquet(good / "truth" / "accounts.parquet")
    assert "truth" not in measure.open(good).tables
