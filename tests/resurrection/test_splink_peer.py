"""Peer check against Splink (the optional ``splink`` extra) on the same pairs.

The Splink model is the one of ``bench/bench_resurrection_splink.py`` (splink 5.0,
DuckDB backend); in short::

    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    db = DuckDBAPI()
    linker = Linker([db.register(suspended), db.register(accounts)],
                    SettingsCreator(link_type="link_only",
                                    unique_id_column_name="account_id",
                                    comparisons=[handle, display_name, bio, avatar,
                                                 followers, time_gap],
                                    blocking_rules_to_generate_predictions=[
                                        block_on("pair_ids",
                                                 arrays_to_explode=["pair_ids"])]))
    linker.training.estimate_probability_two_random_records_match(rules, recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=0)
    for rule in ("l.stem = r.stem", "l.name_key = r.name_key", "l.avatar = r.avatar"):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule + window)
    linker.inference.predict()

The exploding blocking rule on pair ids makes Splink score exactly measure's
candidate pairs; both sets of probabilities then go through measure's one-to-one
threshold rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("splink")

ROOT = Path(__file__).resolve().parents[2]

# The synthetic fixture is easy (successors keep handle stems, names, avatars and
# followers): the targets apply to both methods there.
MIN_PRECISION = 0.95
MIN_RECALL = 0.90


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_resurrection_splink as b
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return b


def _pr(links: pl.DataFrame, truth: pl.DataFrame) -> tuple[float, float]:
    tp = links.select("previous", "new").join(truth, on=["previous", "new"]).height
    return tp / max(links.height, 1), tp / max(truth.height, 1)


@pytest.mark.slow  # Splink's many SQL steps: ~20 s CPU, about a minute when shared
def test_splink_scores_the_same_pairs_and_reaches_targets(bench, synth,
                                                           synth_result) -> None:
    import measure

    path, syn = synth
    ds = measure.open(path)
    pairs = synth_result.pairs
    left, right = bench.splink_inputs(ds, pairs)
    ds.close()
    use_followers = bool((pairs["bin_followers"] >= 0).any())
    sp, _times, info = bench.run_splink(left, right, 0, use_followers)
    # exactly the candidate pairs, each once
    assert sp.height == pairs.height
    assert sp.select("previous", "new").unique().height == pairs.height
    assert sp.join(pairs.select("previous", "new"), on=["previous", "new"]).height \
        == pairs.height
    assert 0 < info["lambda"] < 1

    scored = pairs.select("previous", "new", "created_new").join(
        sp, on=["previous", "new"])
    links, thr = bench.one_to_one(scored, "p_splink")
    assert thr >= 0.5
    # one-to-one
    assert links["previous"].n_unique() == links.height
    assert links["new"].n_unique() == links.height

    truth = syn.truth.filter(pl.col("predecessor_id").is_not_null()).select(
        pl.col("predecessor_id").alias("previous"), pl.col("account_id").alias("new"))
    truth = truth.with_columns(pl.all().cast(pairs["previous"].dtype))
    p_s, r_s = _pr(links, truth)
    p_m, r_m = _pr(synth_result.links, truth)
    print(f"\nsplink precision {p_s:.3f} recall {r_s:.3f}; "
          f"measure precision {p_m:.3f} recall {r_m:.3f}")
    assert p_s >= MIN_PRECISION and r_s >= MIN_RECALL
    assert p_m >= MIN_PRECISION and r_m >= MIN_RECALL


def test_duckdb_string_distances_count_bytes(bench) -> None:
    """DuckDB (hence Splink) edit distances count UTF-8 bytes, rapidfuzz characters.

    This is why measure computes handle similarity with rapidfuzz: one Arabic
    letter or emoji added to a handle is one edit, not two or four.
    """
    import duckdb
    from rapidfuzz.distance import Levenshtein

    con = duckdb.connect()
    for a, b, n_bytes in (("abu_x", "abu_xم", 2), ("abu_x", "abu_x😀", 4)):
        assert Levenshtein.distance(a, b) == 1
        assert con.execute("SELECT levenshtein(?, ?)", [a, b]).fetchone()[0] == n_bytes
    con.close()
    rows = bench.micro_examples()
    assert len(rows) == 5 and all(r.startswith("| `") for r in rows)
