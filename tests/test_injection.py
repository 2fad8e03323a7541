"""User input never becomes SQL text, and mapping paths stay inside their source.

Injection strings travel every route from a user to a DuckDB query: cohort files
and id lists, ``where`` filters (values and column names), TOML mappings (source
and target column names, values) and dataset names. Each is either bound as a
query parameter or quoted as an identifier: the data come back unchanged, the
query answers as for the literal string, and the ``accounts`` table is intact.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import measure
from measure._cohort import resolve_cohort, where_ids
from measure.errors import ConfigError, DataContractError, IngestError
from measure.ingest import ingest

INJECTIONS = [
    "'; DROP TABLE accounts; --",
    '") OR 1=1 --',
    "' OR '1'='1",
    'quote " and \' both',
    "back\\slash\\",
    "nul\x00byte",
    "semi; colon",
]


def _accounts_dataset(tmp_path: Path) -> Path:
    """A dataset whose text ids and handles are the injection strings themselves."""
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [(f"id-{i}", s, "ar" if i % 2 else "en") for i, s in enumerate(INJECTIONS)]
    rows += [(s, f"plain_{i}", "fr") for i, s in enumerate(INJECTIONS)]
    with open(raw / "accounts.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "handle", "lang", 'odd "col"; DROP TABLE x; --'])
        for r in rows:
            w.writerow([*r, "'; DELETE FROM accounts; --"])
    (raw / "accounts.toml").write_text(
        'table = "accounts"\nid_type = "str"\n[columns]\naccount_id = "id"\n'
        'screen_name = "handle"\nlang = "lang"\n[extra]\n'
        '"x\\"; DROP TABLE accounts; --" = \'odd "col"; DROP TABLE x; --\'\n',
        encoding="utf-8")
    out = tmp_path / "d"
    ingest(raw / "accounts.csv", "table", out, raw / "accounts.toml",
           name="'; DROP TABLE accounts; --")
    return out


@pytest.fixture
def ds(tmp_path: Path) -> Any:
    with measure.open(_accounts_dataset(tmp_path)) as d:
        yield d


def _n_accounts(ds: Any) -> int:
    return int(ds.sql("SELECT count(*) AS n FROM accounts")["n"][0])


def test_injection_strings_round_trip_through_a_table_mapping_unchanged(ds):
    acc = ds.sql("SELECT * FROM accounts ORDER BY account_id")
    n = 2 * len(INJECTIONS)
    assert acc.height == n == _n_accounts(ds)
    assert sorted(acc["account_id"].to_list()) == sorted(
        [f"id-{i}" for i in range(len(INJECTIONS))] + INJECTIONS)
    assert set(INJECTIONS) <= set(acc["screen_name"].to_list())
    # the extra column keeps its odd name and its value, both literal
    col = 'x"; DROP TABLE accounts; --'
    assert col in acc.columns
    assert set(acc[col].to_list()) == {"'; DELETE FROM accounts; --"}
    assert ds.manifest["name"] == "'; DROP TABLE accounts; --"


def test_cohort_ids_with_injection_strings_are_bound_as_literals(ds, tmp_path):
    # a list of ids, and the same ids in a CSV and a text cohort file
    f_csv = tmp_path / "cohort.csv"
    pl.DataFrame({"account_id": INJECTIONS}).write_csv(f_csv)
    f_txt = tmp_path / "cohort.txt"
    f_txt.write_text("\n".join(s for s in INJECTIONS if "\x00" not in s) + "\n",
                     encoding="utf-8")
    for cohort, expect in ((INJECTIONS, set(INJECTIONS)),
                           (f_csv, set(INJECTIONS)),
                           (f_txt, {s for s in INJECTIONS if "\x00" not in s})):
        c = resolve_cohort(ds, cohort)
        assert c is not None
        got = set(c.frame["account_id"].to_list())
        assert got == expect, cohort
        # exactly these accounts exist, looked up with bound parameters
        hit = ds.sql("SELECT count(*) AS n FROM accounts WHERE account_id IN "
                     f"({', '.join('?' * len(got))})", sorted(got))
        assert hit["n"][0] == len(got)
    assert _n_accounts(ds) == 2 * len(INJECTIONS)


def test_where_values_with_injection_strings_match_only_the_literal(ds):
    for s in INJECTIONS:
        ids = where_ids(ds, {"screen_name": s})["account_id"].to_list()
        assert ids == [f"id-{INJECTIONS.index(s)}"], s
        none = where_ids(ds, {"screen_name": s + " "})
        assert none.height == 0
    # a string form: the value after '=' is one literal (quotes stripped)
    assert where_ids(ds, "screen_name=' OR '1'='1").height == 0
    both = where_ids(ds, "lang in ar,fr")
    assert both.height == len(INJECTIONS) + len(INJECTIONS) // 2
    assert _n_accounts(ds) == 2 * len(INJECTIONS)


@pytest.mark.parametrize("column", ['lang" OR 1=1 --', "lang; DROP TABLE accounts",
                                    "screen_name'", "a.b"])
def test_where_columns_outside_accounts_are_refused_before_any_query(ds, column):
    with pytest.raises(ConfigError, match="not a column of table 'accounts'"):
        where_ids(ds, {column: "x"})
    assert _n_accounts(ds) == 2 * len(INJECTIONS)


def test_integer_id_cohorts_refuse_injection_strings_naming_the_column(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("id,handle\n1,one\n2,two\n", encoding="utf-8")
    (raw / "a.toml").write_text('table = "accounts"\n[columns]\naccount_id = "id"\n'
                                'screen_name = "handle"\n', encoding="utf-8")
    ingest(raw / "a.csv", "table", tmp_path / "d", raw / "a.toml")
    with measure.open(tmp_path / "d") as d:
        with pytest.raises(DataContractError, match="account_id"):
            resolve_cohort(d, ["1", "1 OR 1=1"])
        assert resolve_cohort(d, [2]).frame["account_id"].to_list() == [2]
        assert _n_accounts(d) == 2


@pytest.mark.parametrize("key", ["../outside.csv", "/etc/passwd", "a/../../b.csv",
                                 "C:/data/x.csv", "..\\\\x.csv"])
def test_mapping_file_entries_cannot_point_outside_the_source(tmp_path, key):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("id,handle\n1,one\n", encoding="utf-8")
    (raw / "a.toml").write_text(
        'table = "accounts"\n[columns]\naccount_id = "id"\nscreen_name = "handle"\n'
        f'[files."{key}"]\nx = 1\n', encoding="utf-8")
    with pytest.raises(IngestError, match="outside"):
        ingest(raw / "a.csv", "table", tmp_path / "d", raw / "a.toml")
    assert not (tmp_path / "d").exists()


def test_mapping_file_pattern_cannot_climb_out_of_the_source(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "f_1.csv").write_text("id,handle\n1,one\n", encoding="utf-8")
    (raw / "a.toml").write_text(
        '[file]\npattern = "../f_{owner}.csv"\n[tables.accounts]\n'
        'columns = { account_id = "id", screen_name = "handle" }\n', encoding="utf-8")
    with pytest.raises(IngestError, match=r"\[file\] pattern.*relative"):
        ingest(raw / "f_1.csv", "table", tmp_path / "d", raw / "a.toml")
