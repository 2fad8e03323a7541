"""``describe.analyze(where=...)`` restricts the cohort by its accounts' columns."""

from __future__ import annotations

from pathlib import Path

import pytest

import measure
from measure.describe import analyze
from measure.errors import ConfigError


def test_where_keeps_the_cohort_accounts_matching_the_filter(small_world: Path):
    with measure.open(small_world) as ds:
        top = ds.sql("SELECT lang, count(*) AS n FROM accounts WHERE lang IS "
                     "NOT NULL GROUP BY lang ORDER BY n DESC, lang LIMIT 2").rows()
        (lang, n), (lang2, n2) = top
        res = analyze(ds, "all", where={"lang": lang}, n_boot=20, series=False)
        both = analyze(ds, "all", where=f"lang in {lang},{lang2}", n_boot=20,
                       series=False)
        neither = analyze(ds, "all", where=[f"lang!={lang}", f"lang!={lang2}"],
                          n_boot=20, series=False)
        n_other = ds.sql("SELECT count(*) FROM accounts WHERE lang NOT IN (?, ?)",
                         [lang, lang2]).item()
    assert res.n_accounts == n
    assert both.n_accounts == n + n2
    assert neither.n_accounts == n_other
    assert res.options["where"] == f"lang = {lang}"
    assert res.cohort == f"all accounts matching lang = {lang}"


def test_where_values_are_bound_not_pasted_into_sql(small_world: Path):
    with measure.open(small_world) as ds, pytest.raises(ConfigError, match="empty"):
        analyze(ds, "all", where={"lang": "ar' OR 1=1 --"}, n_boot=20,
                series=False)


def test_cli_where_filters_the_cohort(small_world: Path, capsys):
    import json

    from measure.cli import main

    with measure.open(small_world) as ds:
        lang, n = ds.sql("SELECT lang, count(*) AS n FROM accounts WHERE lang IS "
                         "NOT NULL GROUP BY lang ORDER BY n DESC, lang LIMIT 1").row(0)
    rc = main(["describe", str(small_world), "--cohort", "all", "--where",
               f"lang={lang}", "--n-boot", "20", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_accounts"] == n
