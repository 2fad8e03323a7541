"""Lifetimes from a hand-built status panel, filters, cohorts and exclusions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import measure
from measure import DatasetWriter
from measure.churn import build_lifetimes, parse_where
from measure.errors import ConfigError, DataContractError

T0 = datetime(2014, 11, 1, tzinfo=UTC)


def _ts(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five accounts, each a case:

    1  created day -10, active 0, 7, suspended 14      -> event (7, 14], entry 10
    2  created day 0,   active 0, 7, 14 (end)          -> censored at 14
    3  created day -5,  suspended at first look 0      -> excluded (never at risk)
    4  created day -2,  active 0, not_found 7          -> deleted (0, 7]
    5  created day -1,  active 0, suspended 7, active 14 (reinstated) -> event (0, 7]
    6  no created_at,   active 0, 7                     -> excluded under 'created'
    """
    acc = pl.DataFrame({
        "account_id": [1, 2, 3, 4, 5, 6],
        "screen_name": ["a", "b", "c", "d", "e", "f"],
        "created_at": pl.Series([_ts(-10), _ts(0), _ts(-5), _ts(-2), _ts(-1), None],
                                dtype=pl.Datetime("us", "UTC")),
        "first_seen": pl.Series([_ts(0)] * 6, dtype=pl.Datetime("us", "UTC")),
        "lang": ["ar", "en", "ar", "fr", "ar'; DROP TABLE accounts; --", "en"],
    })
    rows = [(1, 0, "active"), (1, 7, "active"), (1, 14, "suspended"),
            (2, 0, "active"), (2, 7, "active"), (2, 14, "active"),
            (3, 0, "suspended"), (3, 7, "suspended"),
            (4, 0, "active"), (4, 7, "not_found"),
            (5, 0, "active"), (5, 7, "suspended"), (5, 14, "active"),
            (6, 0, "active"), (6, 7, "active")]
    obs = pl.DataFrame({
        "account_id": [r[0] for r in rows],
        "observed_at": pl.Series([_ts(r[1]) for r in rows],
                                 dtype=pl.Datetime("us", "UTC")),
        "status": [r[2] for r in rows],
        "followers_count": pl.Series([10 if r[2] == "active" else None for r in rows],
                                     dtype=pl.Int64),
    })
    path = tmp_path_factory.mktemp("tiny") / "tiny"
    with DatasetWriter(path, name="tiny", command="tests/churn tiny") as w:
        w.write_table("accounts", acc)
        w.write_table("observations", obs)
    return path


def _rows(path: Path, **kw: object) -> dict[int, dict]:
    with measure.open(path) as ds:
        lt = build_lifetimes(ds, **kw)
    return {r["account_id"]: r for r in lt.frame.to_dicts()}, lt


def test_intervals_entry_and_events(tiny: Path) -> None:
    """Each hand-built case gives the interval, entry and event it should."""
    rows, lt = _rows(tiny)
    assert set(rows) == {1, 2, 4, 5}
    assert lt.excluded == {"no_origin_time": 1, "terminal_at_first_look": 1}
    r1 = rows[1]
    assert (r1["entry"], r1["left"], r1["right"], r1["event"]) == (10, 17, 24, 1)
    assert r1["time"] == pytest.approx(20.5)
    r2 = rows[2]
    assert (r2["entry"], r2["left"], r2["event"]) == (0, 14, 0)
    assert math.isinf(r2["right"]) and r2["time"] == 14
    r4 = rows[4]
    assert (r4["entry"], r4["left"], r4["right"], r4["event"]) == (2, 2, 9, 2)
    r5 = rows[5]  # reinstated after suspension: the first suspension ends it
    assert (r5["entry"], r5["left"], r5["right"], r5["event"]) == (1, 1, 8, 1)
    assert r5["returned_at"] == _ts(14)


def test_origin_first_seen(tiny: Path) -> None:
    """With origin first_seen the clock starts at the first sighting (day 0)."""
    rows, lt = _rows(tiny, origin="first_seen")
    assert set(rows) == {1, 2, 4, 5, 6}
    assert (rows[1]["entry"], rows[1]["left"], rows[1]["right"]) == (0, 7, 14)


def test_where_binds_values(tiny: Path) -> None:
    """A filter value that looks like SQL is a value, compared as such."""
    rows, lt = _rows(tiny, where="lang=ar'; DROP TABLE accounts; --")
    assert set(rows) == {5}
    rows, _ = _rows(tiny, where=["lang in ar,fr", "created_at<2014-10-31"])
    assert set(rows) == {1, 4}
    rows, _ = _rows(tiny, where={"lang": ["en"]})
    assert set(rows) == {2}
    with measure.open(tiny) as ds:
        assert ds.sql("SELECT count(*) AS n FROM accounts")["n"][0] == 6


def test_where_rejects_unknown_column_and_syntax(tiny: Path) -> None:
    """Unknown columns and unreadable filters raise ConfigError naming them."""
    with measure.open(tiny) as ds, pytest.raises(ConfigError, match="nope"):
        build_lifetimes(ds, where="nope=1")
    with pytest.raises(ConfigError, match="cannot read"):
        parse_where("lang ~ ar")
    with measure.open(tiny) as ds, pytest.raises(ConfigError, match="lang\\)"):
        build_lifetimes(ds, where='"lang) OR 1=1 --"=x')


def test_cohort_file_and_by(tiny: Path, tmp_path: Path) -> None:
    """A cohort CSV restricts the accounts; --by labels each with its group."""
    f = tmp_path / "cohort.csv"
    f.write_text("account_id\n1\n2\n99\n")
    rows, lt = _rows(tiny, cohort=str(f), by="lang")
    assert set(rows) == {1, 2}
    assert rows[1]["group"] == "ar" and rows[2]["group"] == "en"
    assert lt.excluded["cohort_not_looked_up"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("id\n1\n")
    with measure.open(tiny) as ds, pytest.raises(DataContractError,
                                                 match="account_id"):
        build_lifetimes(ds, cohort=str(bad))


def test_followers_at_entry_covariate(tiny: Path) -> None:
    """followers_at_entry is log1p of the count at the first active look-up."""
    rows, lt = _rows(tiny, covariates=["followers_at_entry"])
    assert rows[1]["followers_at_entry"] == pytest.approx(math.log1p(10))
