"""One cohort resolver (``measure._cohort``) for every family.

Every form a family accepts (cohort files in three formats, polars and pandas
frames, a Series, a list of ids, describe's named cohorts) resolves to the same
accounts; a ``where`` filter selects what the same predicate in plain SQL selects
and binds its values; errors name the file and the column. The families read
cohorts through it: churn's lifetimes, resurrection's suspension events and
describe's profile restricted by a file hold exactly the accounts restricted by
the same ids given as a list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import measure
from measure._cohort import (
    Cohort,
    parse_where,
    read_cohort_file,
    resolve_cohort,
    where_sql,
)
from measure.errors import ConfigError, DataContractError


@pytest.fixture(scope="module")
def ds(small_world: Path) -> Any:
    """The small world (seed 1), open for the module."""
    with measure.open(small_world) as d:
        yield d


@pytest.fixture(scope="module")
def ids(ds: Any) -> list[int]:
    """300 account ids of the small world, with a repeat and in a fixed order."""
    got = ds.sql("SELECT account_id FROM accounts ORDER BY account_id LIMIT 300")
    out = got["account_id"].to_list()
    return out + out[:5]  # repeated ids are kept once


def _files(tmp: Path, ids: list[int]) -> dict[str, Path]:
    frame = pl.DataFrame({"account_id": ids, "note": ["x"] * len(ids)})
    out = {"csv": tmp / "c.csv", "parquet": tmp / "c.parquet", "txt": tmp / "c.txt"}
    frame.write_csv(out["csv"])
    frame.write_parquet(out["parquet"])
    out["txt"].write_text("\n".join(str(i) for i in ids) + "\n")
    return out


def test_every_cohort_form_resolves_to_the_same_unique_ids(
        ds: Any, ids: list[int], tmp_path: Path) -> None:
    want = list(dict.fromkeys(ids))  # first occurrences, in order
    forms: dict[str, Any] = {
        **_files(tmp_path, ids),
        "polars": pl.DataFrame({"account_id": ids}),
        "pandas": pl.DataFrame({"account_id": ids}).to_pandas(),
        "series": pl.Series("x", ids),
        "list": ids,
        "tuple": tuple(ids),
    }
    for kind, form in forms.items():
        c = resolve_cohort(ds, form)
        assert isinstance(c, Cohort), kind
        assert c.frame["account_id"].dtype == pl.Int64, kind
        assert c.frame["account_id"].to_list() == want, kind
        assert c.frame["weight"].to_list() == [1.0] * len(want), kind
    assert resolve_cohort(ds, None) is None


def test_weights_are_kept_and_non_positive_weights_are_refused(
        ds: Any, tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    pl.DataFrame({"account_id": [1, 2], "weight": [2.5, 4.0]}).write_csv(p)
    c = resolve_cohort(ds, p)
    assert c.frame["weight"].to_list() == [2.5, 4.0]
    assert c.weighted
    with pytest.raises(ConfigError, match="non-positive weights"):
        resolve_cohort(ds, pl.DataFrame({"account_id": [1], "weight": [0.0]}))


def test_errors_name_the_file_and_the_column(ds: Any, tmp_path: Path) -> None:
    bad = tmp_path / "ids.csv"
    pl.DataFrame({"user_id": [1, 2], "x": [3, 4]}).write_csv(bad)
    with pytest.raises(DataContractError) as e:
        read_cohort_file(bad)
    assert str(bad) in str(e.value) and "account_id" in str(e.value)
    assert "user_id" in str(e.value)  # lists the columns the file has
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_cohort(ds, tmp_path / "missing.parquet")
    with pytest.raises(DataContractError, match="account_id") as e2:
        resolve_cohort(ds, ["12", "abc"])
    assert "'abc'" in str(e2.value)  # the offending value
    with pytest.raises(ConfigError, match="account_id"):
        resolve_cohort(ds, pl.DataFrame({"id": [1]}))
    with pytest.raises(ConfigError, match="got int"):
        resolve_cohort(ds, 5)
    with pytest.raises(ConfigError, match="'population', 'labelled'"):
        resolve_cohort(ds, "populaton", named={"population": lambda d: None,
                                               "labelled": lambda d: None})


def test_where_selects_what_plain_sql_selects(ds: Any, ids: list[int]) -> None:
    n_ar = ds.sql("SELECT count(*) AS n FROM accounts WHERE lang = 'ar'")["n"][0]
    assert n_ar > 0
    assert resolve_cohort(ds, where="lang=ar").n == n_ar
    assert resolve_cohort(ds, where={"lang": "ar"}).n == n_ar
    n_two = ds.sql("SELECT count(*) AS n FROM accounts WHERE lang IN ('ar', 'fr') "
                   "AND created_at >= TIMESTAMP '2014-06-01'")["n"][0]
    got = resolve_cohort(ds, where="lang in ar,fr and created_at>=2014-06-01")
    assert got.n == n_two
    # with a cohort: the intersection
    mine = set(dict.fromkeys(ids))
    ar = set(ds.sql("SELECT account_id FROM accounts WHERE lang = 'ar'")
             ["account_id"].to_list())
    both = resolve_cohort(ds, ids, where="lang=ar")
    assert set(both.frame["account_id"].to_list()) == mine & ar


def test_where_values_are_bound_and_columns_checked(ds: Any) -> None:
    pred, params = where_sql(ds, "lang=ar' OR '1'='1")
    assert "OR" not in pred and params == ["ar' OR '1'='1"]
    assert resolve_cohort(ds, where="lang=ar' OR '1'='1").n == 0
    with pytest.raises(ConfigError, match="cannot read the filter"):
        resolve_cohort(ds, where="lang; DROP TABLE x=1")
    with pytest.raises(ConfigError, match="not a column of table 'accounts'"):
        resolve_cohort(ds, where={"lang; DROP TABLE accounts; --": "1"})
    with pytest.raises(ConfigError, match="not a column of table 'accounts'"):
        resolve_cohort(ds, where="followers=3")
    assert parse_where("lang not in en,fr") == [("lang", "not in", ["en", "fr"])]


def test_churn_lifetimes_read_every_form_alike(ds: Any, ids: list[int],
                                               tmp_path: Path) -> None:
    from measure.churn import build_lifetimes

    files = _files(tmp_path, ids)
    base = build_lifetimes(ds, origin="first_seen", cohort=ids)
    assert 0 < base.n <= 300
    for form in (files["csv"], files["txt"], pl.Series(ids)):
        lt = build_lifetimes(ds, origin="first_seen", cohort=form)
        assert lt.frame.sort("account_id").equals(base.frame.sort("account_id"))
        assert lt.excluded == base.excluded


def test_resurrection_events_restricted_by_a_file_equal_a_list(
        ds: Any, tmp_path: Path) -> None:
    from measure.resurrection._stages import suspension_events

    susp = ds.sql("SELECT DISTINCT account_id FROM observations "
                  "WHERE status = 'suspended' ORDER BY account_id LIMIT 40")
    ids = susp["account_id"].to_list()
    files = _files(tmp_path, ids)
    a = suspension_events(ds, cohort=ids).suspended
    b = suspension_events(ds, cohort=files["txt"]).suspended
    assert a.height == 40
    assert set(a["account_id"].to_list()) == set(ids)
    assert a.sort("account_id").equals(b.sort("account_id"))


def test_describe_named_cohorts_and_files_resolve_alike(
        ds: Any, ids: list[int], tmp_path: Path) -> None:
    from measure.describe import resolve_cohort as describe_cohort

    n_acc = ds.sql("SELECT count(*) AS n FROM accounts")["n"][0]
    assert describe_cohort(ds, "all").n == n_acc
    files = _files(tmp_path, ids)
    a = describe_cohort(ds, files["parquet"])
    b = describe_cohort(ds, ids)
    assert a.frame.equals(b.frame) and a.name == "file c.parquet"
    with pytest.raises(ConfigError, match="'population', 'labelled', 'all'"):
        describe_cohort(ds, "labeled")
