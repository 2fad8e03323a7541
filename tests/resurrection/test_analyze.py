"""End to end: synthetic linkage data, simulated worlds, CLI."""

from __future__ import annotations

import json

import polars as pl
import pytest

import measure
from measure.cli import main
from measure.resurrection import analyze
from measure.simulate import load_truth
from tests.resurrection._links import precision_recall, true_links

# Targets of the linker (link precision and recall on the simulator's worlds).
MIN_PRECISION = 0.95
MIN_RECALL = 0.90
# On the simulator's worlds the linker reaches precision 0.91-0.99 and recall
# 0.77-0.89 per world (an oracle on the true labels 0.75-0.88 at precision 0.95:
# the data limit, see docs/resurrection.md); the default-run test guards the
# precision.
SIM_MIN_PRECISION_NOW = 0.90
# Regression guard on the synthetic linkage data (seed 3), where the linker finds
# all 188 true links and no other (precision and recall 1.000); this is a guard
# against regressions, not the target (the targets are measured on the
# simulator's worlds, see test_calibration.py).
SYNTH_MIN_PRECISION = 0.93


def test_synthetic_links_precision_recall(synth, synth_result) -> None:
    path, syn = synth
    res = synth_result
    true = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("account_id").alias("new"), pl.col("predecessor_id").alias("previous"))
    tp = res.links.join(true, on=["new", "previous"]).height
    assert tp / res.n_linked >= SYNTH_MIN_PRECISION
    assert tp / true.height >= MIN_RECALL
    # links are one-to-one and lineages cover every suspended account once
    assert res.links["new"].is_unique().all()
    assert res.links["previous"].is_unique().all()
    flat = [a for chain in res.lineages["accounts"].to_list() for a in chain]
    assert len(flat) == len(set(flat))
    assert res.pairs_per_suspended < 20  # blocking keeps pair counts near-linear
    d = res.to_dict()
    for k in ("n_suspended", "n_linked", "rate_30d", "rate_30d_ci",
              "median_delay_days", "follower_recovery", "incarnations", "method"):
        assert k in d
    lo, hi = d["rate_30d_ci"]
    assert lo <= d["rate_30d"] <= hi
    tbl = res.to_polars()
    assert tbl.columns == ["term", "estimate", "std_error", "ci_low", "ci_high",
                           "level"]
    assert "rate_30d" in res.summary()


def test_simulated_world_runs_and_links_precisely(small_world) -> None:
    ds = measure.open(small_world)
    res = analyze(ds, n_boot=50)
    prec, rec = precision_recall(res.links, true_links(small_world))
    rate, n = load_truth(small_world).rate_in_data(30)
    print(f"\nsmall world: precision {prec:.3f} recall {rec:.3f}; rate_30d "
          f"{res.rate_30d.estimate:.3f} {res.rate_30d.ci} true observable {rate:.3f}")
    assert prec >= SIM_MIN_PRECISION_NOW
    assert res.n_suspended > 0 and res.n_linked > 0


def test_supervised_labels(synth, synth_result) -> None:
    path, syn = synth
    ds = measure.open(path)
    first = synth_result
    true = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("account_id").alias("new"), pl.col("predecessor_id").alias("previous"))
    lab = first.pairs.select("previous", "new").sample(400, seed=1).join(
        true.with_columns(pl.lit(True).alias("match")), on=["previous", "new"],
        how="left").with_columns(pl.col("match").fill_null(False))
    res = analyze(ds, labels=lab, n_boot=20, n_imputations=4)
    assert "supervised" in res.method
    tp = res.links.join(true, on=["new", "previous"]).height
    print(f"\nsupervised: precision {tp / res.n_linked:.3f} recall "
          f"{tp / true.height:.3f}")
    assert tp / res.n_linked >= SYNTH_MIN_PRECISION


def test_cli_json_and_links_out(tiny, tmp_path, capsys) -> None:
    out = tmp_path / "links.parquet"
    rc = main(["resurrection", str(tiny), "--json", "--links-out", str(out),
               "--threshold", "0.5", "--imputations", "4"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_suspended"] == 3
    assert set(d) >= {"n_linked", "rate_30d", "rate_30d_ci", "median_delay_days",
                      "follower_recovery", "incarnations", "method"}
    links = pl.read_parquet(out)
    assert links.columns[:4] == ["new", "previous", "probability", "delay_days"]
    assert links.height == d["n_linked"]
    assert not list(tmp_path.glob(".links.parquet.tmp-*"))


def test_cli_errors_are_clean(tiny, capsys) -> None:
    rc = main(["resurrection", str(tiny), "--threshold", "2"])
    assert rc == 1
    assert "threshold" in capsys.readouterr().err


def test_plot(synth_result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    ax = synth_result.plot()
    assert ax.get_xlabel() == "days since suspension"


@pytest.mark.parametrize("window", [0, -1])
def test_invalid_window(tiny, window) -> None:
    with pytest.raises(measure.ConfigError, match="window"):
        analyze(measure.open(tiny), window=window)
