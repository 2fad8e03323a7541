"""Linker targets on simulated worlds (``make calibrate-tests``; prints figures).

Targets, per world variant (:data:`tests.resurrection._variants.VARIANTS`: the
default ``small`` world; more unrelated-name returns; more stem collisions from
default-style first-name handles and supporter-style background handles), pooled
over :data:`LINK_SEEDS` (held-out worlds: no design choice looked at them):

* link precision >= 0.95 at the threshold the linker reports (the lowest with
  expected precision 0.95), against the observable true predecessors (the
  simulator's ``Truth.observable_links``: the actor's next account in the data);
* recall >= 0.90 over the *direct* links among them (the new account is the
  actor's next incarnation). A *skip*, whose intermediate account the
  collection never found, shares less with its predecessor; its recall and the
  recall over all observable links are printed beside.

The observable 30-day rate (``Truth.rate_in_data(30)`` over every account seen
suspended) must lie inside the 95% CI in >= 90% of 100 small worlds.

The comparison levels were chosen looking at seeds 1-3 of each variant.

Next to the linker, ``test_link_precision_recall`` fits an *oracle*: a logistic
regression on the true labels of the same candidate pairs and comparison levels,
in-sample, with the one-to-one assignment, and reports the best recall it reaches
at precision >= 0.95 over thresholds chosen with the truth. When the oracle cannot
reach the targets, the data (not the unsupervised model) is the limit; the figures
are reported in ``docs/resurrection.md``. It also trains the
tool's supervised model (``fit_logit``) on the true links of three *other* worlds
(seeds 1-3) and scores the held-out worlds with it (threshold chosen with the
truth): what hand-labelled links would buy. EM must stay within
``MAX_RECALL_GAP_TO_SUPERVISED`` of it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import polars as pl
import pytest

import measure
from measure.resurrection import analyze
from measure.resurrection._assign import assign, exclusive_probability
from measure.resurrection._features import FEATURES
from measure.resurrection._fellegi_sunter import fit_logit, predict_logit
from measure.simulate import SimConfig, load_truth, simulate
from tests.resurrection._links import precision_recall, true_links
from tests.resurrection._variants import VARIANTS

MIN_PRECISION = 0.95
MIN_DIRECT_RECALL = 0.90  # recall over the direct (non-skip) observable links
MIN_COVERAGE = 0.90  # nominal 0.95; the target is >= 0.90 over 100 worlds
N_WORLDS = int(os.environ.get("MEASURE_RS_WORLDS", "100"))
THRESHOLDS = np.arange(0.05, 1.0, 0.05)
# held-out worlds of every variant: seeds drawn for this test, which no choice of
# comparison levels, blocking caps or model looked at (those used seeds 1-3)
LINK_SEEDS = tuple(range(41_001, 41_010))
TRAIN_SEEDS = (1, 2, 3)  # labelled worlds for the supervised comparison
# EM (no labels) may trail the supervised model trained on TRAIN_SEEDS' true links
# (threshold chosen with the truth) by at most this much mean recall: the
# unsupervised model is then not what limits the recall (measured 0.018-0.033)
MAX_RECALL_GAP_TO_SUPERVISED = 0.05
BINS = [f"bin_{f}" for f in FEATURES]


def _labelled(pairs: pl.DataFrame, links: pl.DataFrame) -> np.ndarray:
    """1 for candidate pairs that are observable true links, else 0."""
    return pairs.select("previous", "new").join(
        links.select("previous", "new").with_columns(pl.lit(1).alias("y")),
        on=["previous", "new"], how="left", maintain_order="left")[
        "y"].fill_null(0).to_numpy()


def _best_recall(scored: pl.DataFrame, links: pl.DataFrame) -> tuple[float, float]:
    """Best recall at precision >= MIN_PRECISION over thresholds (truth-chosen)."""
    best = (float("nan"), 0.0)
    for t in THRESHOLDS:
        pr, rc = precision_recall(assign(scored, float(t)), links)
        if pr >= MIN_PRECISION and rc > best[1]:
            best = (pr, rc)
    return best


def _counts(found: pl.DataFrame, links: pl.DataFrame) -> tuple[int, int, int, int]:
    """``(right, accepted, direct found, direct linkable)`` of one world's links."""
    key = ["previous", "new"]
    direct = links.filter(pl.col("linkable") & (pl.col("skipped") == 0))
    return (found.join(links, on=key).height, found.height,
            direct.join(found, on=key).height, direct.height)


@pytest.mark.slow
@pytest.mark.calibration
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_link_precision_recall(variant, tmp_path) -> None:
    cfg = SimConfig.preset("small").replace(**VARIANTS[variant])
    counts, recs, skips, oracle, held, thresholds = [], [], [], [], [], []
    for seed in LINK_SEEDS:
        p = simulate(cfg, seed, tmp_path / f"w{seed}")
        ds = measure.open(p)
        # the links do not depend on the link draws behind the rates
        res = analyze(ds, n_boot=0, n_imputations=2)
        links = true_links(p)
        thresholds.append(res.threshold)
        counts.append(_counts(res.links, links))
        recs.append(precision_recall(res.links, links)[1])
        skips.append(precision_recall(res.links, links.filter(
            pl.col("skipped") > 0))[1])
        held.append((res.pairs, links))
        lab = res.pairs.select("previous", "new").join(
            links.select("previous", "new").with_columns(pl.lit(True).alias("match")),
            on=["previous", "new"], how="left").with_columns(
            pl.col("match").fill_null(False))
        ores = analyze(ds, labels=lab, n_boot=0, n_imputations=2)
        oracle.append(_best_recall(ores.pairs, links)[1])
        ds.close()
    # the tool's supervised model trained on the true links of other worlds
    # (TRAIN_SEEDS), scored on the held-out worlds' candidate pairs
    xs, ys = [], []
    for seed in TRAIN_SEEDS:
        p = simulate(cfg, seed, tmp_path / f"t{seed}")
        with measure.open(p) as ds:
            pairs = analyze(ds, n_boot=0, n_imputations=2).pairs
        xs.append(pairs.select(BINS).to_numpy().astype(np.int64))
        ys.append(_labelled(pairs, true_links(p)))
    model = fit_logit(np.concatenate(xs), np.concatenate(ys))
    supervised = []
    for pairs, links in held:
        scored = pairs.select("previous", "new", "created_new").with_columns(
            pl.Series("p_pair", predict_logit(
                model, pairs.select(BINS).to_numpy().astype(np.int64))))
        scored = scored.with_columns(
            pl.Series("probability", exclusive_probability(scored)))
        supervised.append(_best_recall(scored, links)[1])
    c = np.array(counts, dtype=float)
    right, accepted, found, direct = c.sum(axis=0)
    precision, direct_recall = right / accepted, found / direct
    prec_w, rec_w = c[:, 0] / c[:, 1], c[:, 2] / c[:, 3]
    wp, wr = int(np.argmin(prec_w)), int(np.argmin(rec_w))
    print(f"\n{variant} over {len(LINK_SEEDS)} held-out worlds (seeds "
          f"{LINK_SEEDS[0]}-{LINK_SEEDS[-1]}): precision {precision:.3f} (+- "
          f"{math.sqrt(precision * (1 - precision) / accepted):.3f}; "
          f"{right:.0f} of {accepted:.0f} links), direct-link recall "
          f"{direct_recall:.3f} (+- "
          f"{math.sqrt(direct_recall * (1 - direct_recall) / direct):.3f}; "
          f"{found:.0f} of {direct:.0f}); per world: precision "
          f"{np.round(prec_w, 3)}, direct-link recall {np.round(rec_w, 3)}; "
          f"worst world: precision {prec_w[wp]:.3f} (seed {LINK_SEEDS[wp]}), "
          f"direct-link recall {rec_w[wr]:.3f} (seed {LINK_SEEDS[wr]}); threshold "
          f"{min(thresholds):.3f}-{max(thresholds):.3f}; recall over all "
          f"observable links: mean {np.mean(recs):.3f}, on skips "
          f"{np.min(skips):.3f}-{np.max(skips):.3f}; oracle recall at precision "
          f">= {MIN_PRECISION}: mean {np.mean(oracle):.3f}; supervised on seeds "
          f"{TRAIN_SEEDS}: mean {np.mean(supervised):.3f}")
    assert np.mean(recs) >= np.mean(supervised) - MAX_RECALL_GAP_TO_SUPERVISED
    # the targets, on the links pooled over the variant's worlds (the worst world
    # is printed next to them)
    assert precision >= MIN_PRECISION
    assert direct_recall >= MIN_DIRECT_RECALL


@pytest.mark.calibration
def test_rate_30d_coverage(tmp_path) -> None:
    cfg = SimConfig.preset("small")
    hits, est, tru = [], [], []
    for seed in range(1, N_WORLDS + 1):
        p = simulate(cfg, 1000 + seed, tmp_path / "w", overwrite=True)
        ds = measure.open(p)
        res = analyze(ds, n_boot=0, n_imputations=10, seed=seed)
        t, _ = load_truth(p).rate_in_data(30)
        lo, hi = res.rate_30d.ci
        hits.append(lo <= t <= hi)
        est.append(res.rate_30d.estimate)
        tru.append(t)
        ds.close()
    cov = float(np.mean(hits))
    bias = float(np.mean(np.array(est) - np.array(tru)))
    err = np.array(est) - np.array(tru)
    w = int(np.argmax(np.abs(err)))
    print(f"\nrate_30d over {N_WORLDS} worlds: coverage {cov:.2f}, mean estimate "
          f"{np.mean(est):.3f}, mean observable truth {np.mean(tru):.3f}, bias "
          f"{bias:+.3f}; worst world: seed {1001 + w}, estimate {est[w]:.3f} "
          f"against {tru[w]:.3f}")
    assert cov >= MIN_COVERAGE
