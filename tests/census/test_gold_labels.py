"""Adjudicated (``gold``) labels are not one more coder of the census estimate."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import measure
from measure.census import analyze, resolve_labels

SCHEMA = {
    "account_id": pl.Int64,
    "label": pl.Utf8,
    "coder": pl.Utf8,
    "sample": pl.Utf8,
    "inclusion_prob": pl.Float64,
}


def _rows(coder: str, ids: range, label: str) -> pl.DataFrame:
    """Rows of one coder giving ``label`` to every account of ``ids``."""
    return pl.DataFrame(
        {
            "account_id": list(ids),
            "label": [label] * len(ids),
            "coder": [coder] * len(ids),
            "sample": ["s"] * len(ids),
            "inclusion_prob": [0.5] * len(ids),
        },
        schema=SCHEMA,
    )


def _coders_only() -> pl.DataFrame:
    """Coder ``a`` reads 0-59 as supporters, ``b`` reads 40-99 otherwise."""
    return pl.concat(
        [
            _rows("a", range(60), "supporter"),
            _rows("b", range(40, 100), "non_supporter"),
        ]
    )


def test_gold_rows_change_neither_labels_nor_kappa_pairs() -> None:
    # gold reviews every account, more than any coder: ranked as a coder it would
    # give every estimation label and pair with a or b on all 100 accounts.
    base = _coders_only()
    with_gold = pl.concat([base, _rows("gold", range(100), "non_supporter")])
    per0, pairs0 = resolve_labels(base)
    per1, pairs1 = resolve_labels(with_gold)
    assert_frame_equal(per1, per0)
    assert_frame_equal(pairs1, pairs0)
    assert per1["label"].to_list() == ["supporter"] * 60 + ["non_supporter"] * 40
    assert per1["n_coders"].to_list() == [1] * 40 + [2] * 20 + [1] * 40
    assert pairs1["account_id"].to_list() == list(range(40, 60))
    assert (pairs1["first"] == "supporter").all()
    assert (pairs1["second"] == "non_supporter").all()


def test_gold_labels_an_account_no_coder_read() -> None:
    labels = pl.concat([_coders_only(), _rows("gold", range(100, 103), "supporter")])
    per, pairs = resolve_labels(labels)
    only_gold = per.filter(pl.col("account_id") >= 100)
    assert only_gold["label"].to_list() == ["supporter"] * 3
    assert only_gold["n_coders"].to_list() == [0] * 3
    assert pairs.height == 20


def test_gold_rows_leave_the_uncorrected_estimate_and_kappa_unchanged(
    small_world: Path,
) -> None:
    ds = measure.open(small_world)
    labels = ds.sql("SELECT * FROM labels")
    assert not (labels["coder"] == "gold").any()
    # a gold reading of every coded account, opposite to its first label
    gold = labels.unique(
        subset="account_id", keep="first", maintain_order=True
    ).with_columns(
        pl.when(pl.col("label") == "supporter")
        .then(pl.lit("non_supporter"))
        .otherwise(pl.lit("supporter"))
        .alias("label"),
        pl.lit("gold").alias("coder"),
    )
    base = analyze(ds, labels=labels, model=False)
    with_gold = analyze(ds, labels=pl.concat([labels, gold]), model=False)
    assert with_gold.uncorrected.estimate == base.uncorrected.estimate
    assert with_gold.uncorrected.ci == base.uncorrected.ci
    # the headline's error model reads them: adjudication that contradicts every
    # coder leaves coders no better than chance, so error rates are not identified
    assert with_gold.coder_error["n_adjudicated"] == gold.height
    assert not with_gold.coder_error["identified"]
    assert with_gold.kappa.n == base.kappa.n > 0
    assert with_gold.kappa.estimate == base.kappa.estimate
