"""LinkageSettings: defaults of analyze, round trips, validation in one error."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

import measure
from measure.errors import ConfigError
from measure.resurrection import LinkageSettings, analyze
from measure.resurrection._settings import KEY_KINDS


def test_defaults_are_those_of_analyze() -> None:
    sig = inspect.signature(analyze).parameters
    s = LinkageSettings()
    for f in dataclasses.fields(LinkageSettings):
        want = sig[f.name].default
        got = dict(s.per_key_by) if f.name == "per_key_by" else getattr(s, f.name)
        assert got == want, f.name
    assert s.cap("display_name") == 5 and s.cap("stem") == 20


def test_round_trip_through_dict_and_json() -> None:
    s = LinkageSettings(per_key=7, per_key_by={"followers": 3, "stem": 9},
                        max_key_freq=12, u_random_pairs=0, grouped=False,
                        fuzzy_handles=False, time_candidates=4, backup_days=12.5)
    assert LinkageSettings.from_dict(s.to_dict()) == s
    assert LinkageSettings.from_json(s.to_json()) == s
    d = json.loads(s.to_json())
    assert d["backup_days"] == 12.5
    assert LinkageSettings.from_json(LinkageSettings(backup_days=0).to_json()
                                     ).backup_days == 0
    assert LinkageSettings().backup_days == 60
    assert d["per_key_by"] == {"followers": 3, "stem": 9}
    assert s.cap("followers") == 3 and s.cap("avatar") == 7
    # hashable and frozen
    assert hash(s) == hash(LinkageSettings.from_dict(d))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.per_key = 1  # type: ignore[misc]


def test_every_invalid_value_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigError) as e:
        LinkageSettings(per_key=0, per_key_by={"nick": 3, "stem": -1},
                        u_random_pairs=-5, grouped="yes")  # type: ignore[arg-type]
    msg = str(e.value)
    assert "'per_key' must be an integer >= 1, got 0" in msg
    assert "unknown key kind(s) ['nick']" in msg
    assert ", ".join(KEY_KINDS) in msg  # the valid kinds are listed
    assert "cap of 'stem' must be a positive integer, got -1" in msg
    assert "'u_random_pairs' must be an integer >= 0, got -5" in msg
    assert "'grouped' must be true or false, got 'yes'" in msg


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "60"])
def test_backup_days_must_be_a_finite_number_of_days(bad) -> None:
    with pytest.raises(ConfigError, match="'backup_days' must be a number of days "
                                          ">= 0"):
        LinkageSettings(backup_days=bad)


def test_unknown_setting_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown linkage setting.*'windw'.*per_key"):
        LinkageSettings.from_dict({"windw": 3})
    with pytest.raises(ConfigError, match="not valid JSON"):
        LinkageSettings.from_json("{per_key: 3")


def test_analyze_takes_settings_or_keywords_not_both(tiny) -> None:
    with measure.open(tiny) as ds:
        a = analyze(ds, per_key=1, n_boot=0, n_imputations=2)
        b = analyze(ds, settings=LinkageSettings(per_key=1), n_boot=0,
                    n_imputations=2)
        assert a.pairs.equals(b.pairs) and a.links.equals(b.links)
        with pytest.raises(ConfigError, match="not both.*per_key"):
            analyze(ds, per_key=2, settings=LinkageSettings(per_key=1))
        with pytest.raises(ConfigError, match="unknown key kind"):
            analyze(ds, per_key_by={"nick": 3})
