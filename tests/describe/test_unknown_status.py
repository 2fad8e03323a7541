"""``unknown`` look-ups are missing data: describe ignores them, as if never made.

The ``tiny`` panel (conftest.py) with ``unknown`` look-ups added on days that have no
other look-up (before the first, after the last) must give the same daily size
series, reference time and estimates as without them.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

import measure
from measure.describe import analyze

from .conftest import T0, UTC_DT

#: (account, time) of the added ``unknown`` look-ups: account 3 a week before the
#: panel (it would be 'new' that day), account 1 a week after its end (a sixth day
#: in the series and a later reference time).
UNKNOWN = [(3, T0 - timedelta(weeks=1)), (1, T0 + timedelta(weeks=5))]


def _with_unknown(tiny, out):
    with measure.open(tiny) as ds:
        tables = {t: ds.sql(f"SELECT * FROM {t}")
                  for t in ("accounts", "observations", "crawls", "edges")}
    extra = pl.DataFrame({"account_id": [a for a, _ in UNKNOWN],
                          "observed_at": [t for _, t in UNKNOWN],
                          "status": ["unknown"] * len(UNKNOWN)},
                         schema={"account_id": pl.Int64, "observed_at": UTC_DT,
                                 "status": pl.Utf8})
    obs = tables["observations"]
    tables["observations"] = pl.concat(
        [obs.with_columns(pl.col("observed_at").cast(UTC_DT)), extra],
        how="diagonal_relaxed")
    with measure.DatasetWriter(out) as w:
        for t, df in tables.items():
            w.write_table(t, df)
    return out


def test_unknown_lookups_leave_series_reference_time_and_estimates_unchanged(
        tiny, tmp_path):
    mixed = _with_unknown(tiny, tmp_path / "mixed")
    res = []
    for p in (tiny, mixed):
        with measure.open(p) as ds:
            res.append(analyze(ds, n_boot=200, seed=1))
    plain, got = res
    with measure.open(mixed) as ds:
        assert ds.sql("SELECT count(*) AS n FROM observations WHERE status = "
                      "'unknown'")["n"][0] == 2
    assert got.series.equals(plain.series)
    assert got.series["looked_up"].to_list() == [6] * 5  # no sixth day
    assert got.series["new_accounts"].to_list() == [6, 0, 0, 0, 0]
    assert got.reference_time == plain.reference_time == T0 + timedelta(weeks=4)
    assert got.to_polars().equals(plain.to_polars())
