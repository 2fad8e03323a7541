"""analyze() on hand-built datasets, the CLI, options and errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import measure
from measure import ConfigError, DataContractError, DatasetWriter, EstimationError
from measure.capture import analyze, analyze_counts, chapman, pattern_counts
from measure.cli import main

T0 = dt.datetime(2014, 11, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")


def _write(path: Path, detections: dict[str, list[int]]) -> Path:
    """Dataset whose ``detections`` has one row per (account, source)."""
    rows = [(a, s) for s, ids in detections.items() for a in ids]
    ids = sorted({a for a, _ in rows})
    accounts = pl.DataFrame(
        {"account_id": ids, "screen_name": [f"user{i}" for i in ids]}
    )
    det = pl.DataFrame(
        {
            "account_id": [a for a, _ in rows],
            "source": [s for _, s in rows],
            "detected_at": [T0] * len(rows),
        },
        schema_overrides={"detected_at": TS},
    )
    with DatasetWriter(path) as w:
        w.write_table("accounts", accounts)
        w.write_table("detections", det)
    return path


@pytest.fixture
def three_lists(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 400
    p = np.array([0.3, 0.4, 0.25])
    hit = rng.random((n, 3)) < p
    names = ["hashtag:#x", "reports", "snowball"]
    det = {s: [int(i) for i in np.flatnonzero(hit[:, j])] for j, s in enumerate(names)}
    # one duplicate row: counted once
    det["reports"].append(det["reports"][0])
    return _write(tmp_path / "three", det)


def test_pattern_counts_from_sql_match_python(three_lists: Path) -> None:
    ds = measure.open(three_lists)
    sources, y, sizes = pattern_counts(ds)
    det = ds.sql("SELECT DISTINCT account_id, source FROM detections").to_pandas()
    wide = det.assign(v=1).pivot_table(
        index="account_id", columns="source", values="v", fill_value=0
    )
    mask = sum(wide[s].to_numpy().astype(np.int64) << j for j, s in enumerate(sources))
    expected = np.bincount(mask, minlength=2 ** len(sources))[1:]
    assert np.array_equal(y, expected)
    assert sizes == tuple(int(wide[s].sum()) for s in sources)
    assert sources == ("hashtag:#x", "reports", "snowball")


def test_analyze_independent_lists(three_lists: Path) -> None:
    res = analyze(measure.open(three_lists))
    assert res.model == "averaged"
    assert res.best_model in measure.capture.AUTO_POOL
    assert set(res.averaged.weights) <= set(measure.capture.AVERAGE_POOL)
    assert sum(res.averaged.weights.values()) == pytest.approx(1.0)
    assert res.n_observed == int(res.patterns["count"].sum())
    lo, hi = res.estimate.ci
    assert res.n_observed <= lo < res.estimate.estimate < hi
    # independent lists: Mt is the right model; its interval covers the truth
    mt = res.fit("Mt").estimate
    assert mt.ci[0] <= 400 <= mt.ci[1]
    tab = res.to_polars()
    assert tab.columns == [
        "term",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "level",
    ]
    assert tab["term"][0] == "population"
    assert "Mt" in res.summary() and "<pre>" in res._repr_html_()
    assert res.model_table().height == len(res.models)
    hr = res.heterogeneity_range()
    assert hr is not None and hr["estimates"][0] <= hr["estimates"][1]
    assert hr["interval_union"][0] <= hr["estimates"][0]
    assert res.to_dict()["heterogeneity_range"] == hr


def test_two_sources_give_chapman(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "two", {"a": list(range(0, 60)), "b": list(range(40, 100))}
    )
    res = analyze(measure.open(path))
    assert res.model == "chapman"
    assert res.estimate.estimate == pytest.approx(chapman(60, 60, 20).estimate)
    assert res.two_source["lincoln_petersen"].estimate == pytest.approx(180.0)


def test_sources_option_and_errors(three_lists: Path, tmp_path: Path) -> None:
    ds = measure.open(three_lists)
    res = analyze(ds, sources=["reports", "snowball"])
    assert res.sources == ("reports", "snowball")
    with pytest.raises(DataContractError, match="nope"):
        analyze(ds, sources=["reports", "nope"])
    with pytest.raises(EstimationError, match="at least two sources"):
        analyze(ds, sources=["reports"])
    with pytest.raises(ConfigError, match="'Mth_darroch'"):
        analyze(ds, model="bogus")
    with pytest.raises(ConfigError, match="criterion"):
        analyze(ds, criterion="dic")
    no_det = tmp_path / "nodet"
    with DatasetWriter(no_det) as w:
        w.write_table(
            "accounts", pl.DataFrame({"account_id": [1], "screen_name": ["a"]})
        )
    with pytest.raises(DataContractError, match="detections"):
        analyze(measure.open(no_det))


def test_model_option_families(three_lists: Path) -> None:
    ds = measure.open(three_lists)
    assert analyze(ds, model="independence", ci="lognormal").model == "Mt"
    assert analyze(ds, model="two_way", ci="none").model == "two_way"
    het = analyze(ds, model="heterogeneity", ci="none")
    assert het.model.startswith(("Mh_", "Mth_"))


def test_no_overlap_gives_reasons_not_crash() -> None:
    """Three lists that never overlap: no model can estimate N."""
    y = np.zeros(7)
    y[[0, 1, 3]] = [30, 20, 10]  # masks 1, 2, 4: each list alone
    res = analyze_counts(y, ["a", "b", "c"])
    assert not res.estimate.valid
    assert all(not m.valid for m in res.models if not m.lower_bound)
    assert res.to_dict()["estimate"] is None


def test_cli_json(
    three_lists: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    png = tmp_path / "models.png"
    assert (
        main(
            [
                "capture",
                str(three_lists),
                "--json",
                "--criterion",
                "bic",
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in ("estimate", "ci", "n_observed", "model", "models", "averaged",
                "latent_class", "goodness_of_fit", "graphical"):
        assert key in out
    assert out["criterion"] == "bic"
    assert out["model"] == "averaged"
    assert out["estimate"] == pytest.approx(out["averaged"]["estimate"])
    assert sum(out["averaged"]["weights"].values()) == pytest.approx(1.0)
    diag = out["latent_class"]["diagnostics"]
    assert {"rhat", "ess", "converged", "chains"} <= set(diag)
    gof = {g["model"]: g for g in out["goodness_of_fit"]}
    assert {"deviance", "pearson", "df", "p_deviance", "p_pearson"} <= set(gof["Mt"])
    assert {"name", "estimate", "ci", "aic"} <= set(out["models"][0])
    assert png.stat().st_size > 0
    assert main(["capture", str(three_lists), "--model", "Mt"]) == 0
    assert "chosen model: Mt" in capsys.readouterr().out
    assert main(["capture", str(three_lists), "--model", "bogus"]) == 1


def test_plot_returns_axes(three_lists: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    ax = analyze(measure.open(three_lists), ci="none").plot()
    assert ax.get_title().startswith("Capture-recapture")


def test_varchar_account_ids(tmp_path: Path) -> None:
    """account_id may be VARCHAR (Mastodon handles, Bluesky DIDs)."""
    rows = {
        "a": ["@x@m.social", "did:plc:1", "did:plc:2"],
        "b": ["did:plc:2", "@y@m.social"],
        "c": ["did:plc:1", "did:plc:2", "@z@m.social"],
    }
    det = pl.DataFrame(
        {
            "account_id": [a for v in rows.values() for a in v],
            "source": [s for s, v in rows.items() for _ in v],
        }
    )
    ids = sorted(set(det["account_id"]))
    path = tmp_path / "varchar"
    with DatasetWriter(path) as w:
        w.write_table("accounts", pl.DataFrame({"account_id": ids, "screen_name": ids}))
        w.write_table("detections", det)
    sources, y, sizes = pattern_counts(measure.open(path))
    assert sizes == (3, 2, 3)
    assert y[0b111 - 1] == 1  # did:plc:2 on all three
    assert y[0b101 - 1] == 1  # did:plc:1 on a and c
    assert y.sum() == 5
