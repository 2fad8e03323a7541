"""``where`` restricts the suspended accounts studied by their accounts' columns."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import polars as pl

import measure
from measure.cli import main
from measure.resurrection import LinkageSettings, analyze, suspension_events
from measure.resurrection._analyze import where_label


def test_where_keeps_the_suspended_accounts_matching_the_filter(small_world: Path):
    with measure.open(small_world) as ds:
        every = suspension_events(ds)
        langs = ds.sql("SELECT account_id, lang FROM accounts")
        sus = every.suspended.select("account_id").join(langs, on="account_id")
        lang = sus.group_by("lang").len().sort(["len", "lang"], descending=True)[
            "lang"][0]
        some = suspension_events(ds, where={"lang": lang})
        none = suspension_events(ds, where="lang=no such language' OR 1=1 --")
    expect = set(sus.filter(pl.col("lang") == lang)["account_id"].to_list())
    assert set(some.suspended["account_id"].to_list()) == expect
    assert 0 < len(expect) < every.suspended.height
    assert none.suspended.height == 0  # the value is bound, never pasted into SQL
    # successors are still sought among every account
    assert some.accounts.height == every.accounts.height


def test_where_and_every_option_are_recorded_in_the_result(tiny: Path):
    where = "screen_name in abu_x,umm_y"
    with measure.open(tiny) as ds:
        res = analyze(ds, where=where, threshold=0.5, n_imputations=4, n_boot=5,
                      horizons=(7, 14), seed=3)
        plain = analyze(ds, threshold=0.5, n_imputations=4, n_boot=5)
    assert res.n_suspended == 2 and plain.n_suspended == 3
    opts = res.options
    assert opts["where"] == "screen_name in abu_x,umm_y"
    assert plain.options["where"] is None and plain.options["cohort"] is None
    assert (opts["threshold"], opts["seed"], opts["n_imputations"],
            opts["n_boot"], opts["horizons"]) == (0.5, 3, 4, 5, [7, 14])
    assert opts["settings"] == LinkageSettings().to_dict()
    # every keyword of analyze is recorded, the linkage knobs under "settings"
    knobs = set(LinkageSettings().to_dict())
    asked = set(inspect.signature(analyze).parameters) - {"ds"} - knobs
    assert set(opts) >= asked
    assert res.to_dict()["options"] == opts
    assert json.loads(json.dumps(opts)) == opts  # plain JSON values


def test_where_is_recorded_in_the_json_output(tiny: Path, capsys):
    rc = main(["resurrection", str(tiny), "--json", "--threshold", "0.5",
               "--imputations", "4", "--where", "screen_name=abu_x",
               "--where", "display_name!=Zed"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_suspended"] == 1
    assert d["options"]["where"] == "screen_name = abu_x and display_name != Zed"


def test_where_label_reads_every_form():
    assert where_label(None) is None
    assert where_label({"lang": "ar", "country": ["iq", "sy"]}) == (
        "lang = ar and country in iq,sy")
    assert where_label(["followers>100", "lang not in en"]) == (
        "followers > 100 and lang not in en")
