"""``unknown`` look-ups are missing data: churn ignores them, as if never made.

The data contract's status ``unknown`` (e.g. Telegram's ``ChannelPrivateError``)
says nothing about whether an account is alive, suspended or gone. A panel with
``unknown`` rows added before, between and after an account's informative look-ups
(and an account looked up only with ``unknown`` answers) must give exactly the
lifetimes, exclusions, panel span and estimates of the same panel without them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import measure
from measure import DatasetWriter
from measure.churn import _sql, analyze, build_lifetimes

T0 = datetime(2014, 11, 1, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")

#: (account, day, status) of the informative look-ups: 1 suspended in (7, 14],
#: 2 censored at 21, 3 deleted in (0, 7], 4 censored at 14.
ROWS = [(1, 0, "active"), (1, 7, "active"), (1, 14, "suspended"),
        (2, 0, "active"), (2, 7, "active"), (2, 14, "active"), (2, 21, "active"),
        (3, 0, "active"), (3, 7, "not_found"),
        (4, 3, "active"), (4, 10, "active"), (4, 14, "active")]
#: ``unknown`` look-ups: before account 1's first look-up (it would move the
#: first-seen origin to day -3), between its alive and suspended look-ups, after
#: the panel's last look-up (it would stretch the panel span to day 30), and the
#: only look-ups of account 5 (which would be excluded as never alive).
UNKNOWN = [(1, -3, "unknown"), (1, 10, "unknown"), (2, 30, "unknown"),
           (5, 2, "unknown"), (5, 9, "unknown")]


def _write(path: Path, rows: list[tuple[int, float, str]]) -> Path:
    acc = pl.DataFrame({
        "account_id": [1, 2, 3, 4, 5],
        "screen_name": ["a", "b", "c", "d", "e"],
        "created_at": pl.Series([T0 - timedelta(days=d) for d in (20, 5, 2, 1, 3)],
                                dtype=TS),
    })
    obs = pl.DataFrame({
        "account_id": [r[0] for r in rows],
        "observed_at": pl.Series([T0 + timedelta(days=r[1]) for r in rows],
                                 dtype=TS),
        "status": [r[2] for r in rows],
        "followers_count": pl.Series([10 if r[2] == "active" else None
                                      for r in rows], dtype=pl.Int64),
    })
    with DatasetWriter(path, name=path.name) as w:
        w.write_table("accounts", acc)
        w.write_table("observations", obs)
    return path


@pytest.fixture(scope="module")
def panels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("unknown")
    return _write(d / "plain", ROWS), _write(d / "with_unknown", ROWS + UNKNOWN)


@pytest.mark.parametrize("origin", ["created", "first_seen"])
def test_unknown_lookups_leave_lifetimes_and_exclusions_unchanged(panels, origin):
    plain, mixed = panels
    with measure.open(plain) as ds:
        want = build_lifetimes(ds, origin=origin)
    with measure.open(mixed) as ds:
        got = build_lifetimes(ds, origin=origin)
        first = ds.sql("SELECT min(observed_at) AS t FROM observations "
                       "WHERE account_id = 1")["t"][0]
    assert first == T0 - timedelta(days=3)  # the unknown row is in the data
    assert got.frame.equals(want.frame)
    assert got.excluded == want.excluded
    # account 5 (unknown answers only) is not counted as 'terminal at first look'
    assert "terminal_at_first_look" not in got.excluded
    rows = {r["account_id"]: r for r in got.frame.to_dicts()}
    assert set(rows) == {1, 2, 3, 4}
    assert (rows[1]["left"], rows[1]["event"]) == (
        want.frame.filter(pl.col("account_id") == 1)["left"][0], 1)
    if origin == "first_seen":
        assert rows[1]["origin_at"] == T0  # not day -3
        assert (rows[1]["entry"], rows[1]["left"], rows[1]["right"]) == (0, 7, 14)


def test_unknown_lookups_do_not_stretch_the_panel_span(panels):
    plain, mixed = panels
    with measure.open(mixed) as ds:
        span = ds.sql(_sql.PANEL_SPAN).row(0)
    assert span == (T0, T0 + timedelta(days=21))  # not day -3 .. day 30
    with measure.open(plain) as ds:
        assert ds.sql(_sql.PANEL_SPAN).row(0) == span


def test_unknown_lookups_leave_the_estimates_unchanged(panels):
    plain, mixed = panels
    res = []
    for p in (plain, mixed):
        with measure.open(p) as ds:
            res.append(analyze(ds, cox=False, turnbull_fit=False))
    a, b = (r.to_dict() for r in res)
    keys = ("n_accounts", "n_suspended", "n_deleted", "n_censored", "excluded",
            "rates")
    assert {k: b[k] for k in keys} == {k: a[k] for k in keys}
    assert (b["n_accounts"], b["n_suspended"], b["n_deleted"]) == (4, 1, 1)
    assert res[1].to_polars().equals(res[0].to_polars())
