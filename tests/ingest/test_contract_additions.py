"""The contract's additions for Mastodon and Telegram: ``unknown``, ``forwards`` and
the optional ``successors`` table, checked by :func:`measure.open` like the rest."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import measure
from measure import DatasetWriter
from measure.dataset._contract import EDGE_RELATIONS, OBSERVATION_STATUSES, TABLES
from measure.errors import DataContractError
from measure.ingest import ingest
from measure.options import RELATIONS, STATUSES

TS = pl.Datetime("us", "UTC")
T = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def _write(path, **tables):
    with DatasetWriter(path, name=path.name) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": ["a@x.example"],
                                                "screen_name": ["a"]}))
        for name, df in tables.items():
            w.write_table(name, df)
    return path


def _obs(status: str) -> pl.DataFrame:
    return pl.DataFrame({"account_id": ["a@x.example"], "observed_at": [T],
                         "status": [status]}, schema_overrides={"observed_at": TS})


def test_additions_extend_the_option_values_without_removing_any():
    assert OBSERVATION_STATUSES == (*STATUSES, "unknown")
    assert EDGE_RELATIONS == (*RELATIONS, "forwards")
    cols = {c.name: (c.kind, c.required) for c in TABLES["successors"].columns}
    assert cols == {"account_id": ("id", True), "successor_id": ("id", True),
                    "observed_at": ("timestamp", False), "source": ("str", False)}


def test_unknown_status_and_forwards_relation_validate(tmp_path):
    edges = pl.DataFrame({"src": ["a@x.example"], "dst": ["b@x.example"],
                          "relation": ["forwards"]})
    _write(tmp_path / "ok", observations=_obs("unknown"), edges=edges)
    measure.open(tmp_path / "ok").close()
    with pytest.raises(DataContractError, match="'unknown'") as e:
        measure.open(_write(tmp_path / "bad", observations=_obs("private"))).close()
    assert "private" in str(e.value)


def test_successors_table_is_checked_like_any_contract_table(tmp_path):
    good = pl.DataFrame({"account_id": ["a@x.example"],
                         "successor_id": ["a@y.example"], "observed_at": [T],
                         "source": ["moved"]}, schema_overrides={"observed_at": TS})
    measure.open(_write(tmp_path / "ok", successors=good)).close()
    with pytest.raises(DataContractError, match="successor_id"):
        measure.open(_write(tmp_path / "missing",
                            successors=good.drop("successor_id"))).close()
    with pytest.raises(DataContractError, match="account id type"):
        measure.open(_write(tmp_path / "ints", successors=good.with_columns(
            pl.lit(1, pl.Int64).alias("successor_id")))).close()
    with pytest.raises(DataContractError, match="null"):
        measure.open(_write(tmp_path / "null", successors=good.with_columns(
            pl.lit(None, pl.Utf8).alias("successor_id")))).close()


def test_table_mappings_may_write_the_unknown_status(tmp_path):
    csv = tmp_path / "raw" / "checks.csv"
    csv.parent.mkdir()
    csv.write_text("user,checked,state\n1,2024-03-01T00:00:00Z,ok\n"
                   "1,2024-03-08T00:00:00Z,private\n1,2024-03-15T00:00:00Z,weird\n")
    toml = tmp_path / "checks.toml"
    toml.write_text('table = "observations"\n[columns]\naccount_id = "user"\n'
                    'observed_at = "checked"\nstatus = "state"\n'
                    '[values.status]\nok = "active"\nprivate = "unknown"\n')
    rep = ingest(csv, "table", tmp_path / "d", mapping=toml)
    assert (rep.rows_read, rep.rows_quarantined) == (3, 1)  # 'weird' is refused
    with measure.open(tmp_path / "d") as ds:
        assert ds.sql("SELECT status FROM observations ORDER BY observed_at"
                      )["status"].to_list() == ["active", "unknown"]
