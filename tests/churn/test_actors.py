"""Presumed actors from resurrection links as clusters of the standard errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import measure
from measure.churn import analyze
from measure.churn._actors import ACTOR_COLUMN, actor_table
from measure.errors import ConfigError, DataContractError


def _lang_links(path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The accounts of the panel, and links chaining the accounts of each language
    one after the other (so every language is one chain of links)."""
    with measure.open(path) as ds:
        acc = ds.sql("SELECT account_id, lang FROM accounts ORDER BY account_id")
    links = (acc.with_columns(pl.col("account_id").shift(-1).over("lang")
                              .alias("new"))
             .drop_nulls("new")
             .select(pl.col("account_id").alias("previous"), "new"))
    return acc, links


def test_chains_of_links_are_connected_components() -> None:
    """a -> b -> c and d -> e are two actors; links given out of order or as a
    branching graph still join every connected account."""
    links = pl.DataFrame({"previous": ["b", "d", "a", "x"],
                          "new": ["c", "e", "b", "c"]})
    table, what = actor_table(links)
    got = dict(zip(table["account_id"], table[ACTOR_COLUMN], strict=True))
    assert got["a"] == got["b"] == got["c"] == got["x"]
    assert got["d"] == got["e"] != got["a"]
    assert table.height == 6 and "2 chains" in what and "4 links" in what


def test_actors_from_links_equal_clustering_by_the_column(panel_factory,
                                                          tmp_path) -> None:
    """Links chaining the accounts of each language, an account-to-actor table
    and the Parquet file of those links all give the standard errors of
    ``cluster="lang"`` (three clusters) to floating-point precision."""
    path = panel_factory(n=2000, seed=7)
    acc, links = _lang_links(path)
    kw = dict(turnbull_fit=False, age_period=None)
    with measure.open(path) as ds:
        by_col = analyze(ds, cluster="lang", **kw)
        by_links = analyze(ds, actors=links, **kw)
        by_table = analyze(ds, actors=acc.rename({"lang": "actor"}), **kw)
        links.write_parquet(tmp_path / "links.parquet")
        by_file = analyze(ds, actors=tmp_path / "links.parquet", **kw)
    for other in (by_links, by_table, by_file):
        assert other.cox.n_clusters == by_col.cox.n_clusters == 3
        np.testing.assert_allclose(other.cox.std_error, by_col.cox.std_error,
                                   rtol=1e-10)
        for a, b in zip(other.overall.survival, by_col.overall.survival,
                        strict=True):
            if a.valid:
                np.testing.assert_allclose(a.ci, b.ci, rtol=1e-10)
    assert any("presumed actors" in w and "chains of resurrection links" in w
               for w in by_links.warnings)


def test_accounts_in_no_link_are_their_own_clusters(panel_factory) -> None:
    """With links between two accounts only, the Cox model counts every other
    account as a cluster of one."""
    path = panel_factory(n=2000, seed=7)
    acc, _ = _lang_links(path)
    ids = acc["account_id"]
    links = pl.DataFrame({"previous": [ids[0]], "new": [ids[1]]})
    with measure.open(path) as ds:
        res = analyze(ds, actors=links, turnbull_fit=False, age_period=None)
    assert res.cox.n_clusters == res.cox.n - 1


def test_actors_are_checked() -> None:
    """Actors and a cluster column together, unknown columns, and an account given
    two actors are refused with a message naming the problem."""
    with pytest.raises(ConfigError, match="'previous' and 'new'"):
        actor_table(pl.DataFrame({"a": [1], "b": [2]}))
    with pytest.raises(DataContractError, match="more than one actor"):
        actor_table(pl.DataFrame({"account_id": [1, 1], "actor": [1, 2]}))
    with pytest.raises(DataContractError, match="no 'new' account"):
        actor_table(pl.DataFrame({"previous": [1, 2], "new": [3, None]}))
    with pytest.raises(ConfigError, match="does not exist"):
        actor_table("/nonexistent/links.parquet")


def test_actors_and_cluster_together_are_refused(panel_factory) -> None:
    path = panel_factory(n=2000, seed=7)
    with measure.open(path) as ds, pytest.raises(ConfigError, match="not both"):
        analyze(ds, cluster="lang", actors=pl.DataFrame({"previous": [1],
                                                         "new": [2]}))


def test_cli_clusters_by_the_links_file(panel_factory, tmp_path, capsys) -> None:
    """``measure churn DATASET --actors LINKS.parquet --json`` names the clusters
    in the Cox block and gives the same survival band as ``--cluster lang``."""
    import json

    from measure.cli import main

    path = panel_factory(n=2000, seed=7)
    _, links = _lang_links(path)
    links.write_parquet(tmp_path / "links.parquet")
    common = ["churn", str(path), "--json", "--no-turnbull", "--age-period", "none"]
    assert main([*common, "--actors", str(tmp_path / "links.parquet")]) == 0
    by_links = json.loads(capsys.readouterr().out)
    assert main([*common, "--cluster", "lang"]) == 0
    by_col = json.loads(capsys.readouterr().out)
    assert by_links["cox"]["n_clusters"] == 3
    assert by_links["cox"]["cluster"] == ACTOR_COLUMN
    for a, b in zip(by_links["survival"], by_col["survival"], strict=True):
        assert a["ci_low"] == pytest.approx(b["ci_low"], rel=1e-10, nan_ok=True)
