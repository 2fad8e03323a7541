"""Linker targets on simulated worlds (``make calibrate-tests``; prints figures).

Targets: link precision >= 0.95 at the threshold the linker reports (the lowest
with expected precision 0.95) against the observable true predecessors (the
simulator's ``Truth.observable_links``: the actor's next account in the data),
and recall >= 0.90 over the *direct* links among them (the new account is the
actor's next incarnation; a *skip*, whose intermediate account the collection
never found, shares less with its predecessor and is reported beside, as is the
recall over all observable links), on the default ``small`` world and two harder
variants (more unrelated-name returns: ``p_suffix=0.2, p_edit=0.15``; more stem
collisions: ``background_stem_share=0.6``); the observable 30-day rate
(``Truth.rate_in_data(30)`` over every account seen suspended) inside the 95% CI
in >= 90% of 100 small worlds.

The comparison levels were chosen looking at seeds 1-3 of each variant; the link
figures are reported on seeds 11-13 (``LINK_SEEDS``), which were not used for it.

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

MIN_PRECISION = 0.95
MIN_DIRECT_RECALL = 0.90  # recall over the direct (non-skip) observable links
MIN_COVERAGE = 0.90  # nominal 0.95; the target is >= 0.90 over 100 worlds
N_WORLDS = int(os.environ.get("MEASURE_RS_WORLDS", "100"))
VARIANTS = {
    "default": {},
    "unrelated_names": {"p_suffix": 0.2, "p_edit": 0.15},
    "stem_collisions": {"background_stem_share": 0.6},
}
THRESHOLDS = np.arange(0.05, 1.0, 0.05)
LINK_SEEDS = (11, 12, 13)  # held out: seeds 1-3 were used to choose the levels
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


@pytest.mark.calibration
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_link_precision_recall(variant, tmp_path) -> None:
    cfg = SimConfig.preset("small").replace(**VARIANTS[variant])
    precs, recs, oracle, held, by_kind, thresholds = [], [], [], [], [], []
    for seed in LINK_SEEDS:
        p = simulate(cfg, seed, tmp_path / f"w{seed}")
        ds = measure.open(p)
        res = analyze(ds, n_boot=20, n_imputations=10)
        links = true_links(p)
        pr, rc = precision_recall(res.links, links)
        thresholds.append(res.threshold)
        precs.append(pr)
        recs.append(rc)
        # recall on direct links (the true successor) and on skips (a1 -> a3:
        # the collection never found a2), reported next to the target
        by_kind.append([precision_recall(res.links, links.filter(
            (pl.col("skipped") > 0) == skip))[1] for skip in (False, True)])
        held.append((res.pairs, links))
        lab = res.pairs.select("previous", "new").join(
            links.select("previous", "new").with_columns(pl.lit(True).alias("match")),
            on=["previous", "new"], how="left").with_columns(
            pl.col("match").fill_null(False))
        ores = analyze(ds, labels=lab, n_boot=2, n_imputations=2)
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
    direct = [d for d, _ in by_kind]
    wp, wr = int(np.argmin(precs)), int(np.argmin(direct))
    print(f"\n{variant}: threshold {np.round(thresholds, 3)}; precision "
          f"{np.round(precs, 3)} recall {np.round(recs, 3)}; "
          f"oracle recall at precision >= {MIN_PRECISION}: {np.round(oracle, 3)}; "
          f"supervised on seeds {TRAIN_SEEDS}: {np.round(supervised, 3)} (mean "
          f"{np.mean(supervised):.3f}); "
          f"mean {np.mean(precs):.3f} / {np.mean(recs):.3f}; recall on direct links "
          f"{np.round(direct, 3)} (mean {np.mean(direct):.3f}), on skips "
          f"{np.round([k for _, k in by_kind], 3)}; worst world: precision "
          f"{precs[wp]:.3f} (seed {LINK_SEEDS[wp]}), direct-link recall "
          f"{direct[wr]:.3f} (seed {LINK_SEEDS[wr]})")
    assert np.mean(recs) >= np.mean(supervised) - MAX_RECALL_GAP_TO_SUPERVISED
    # the targets are asserted on the mean over the seeds (the worst world is
    # printed next to it)
    assert np.mean(precs) >= MIN_PRECISION
    assert np.mean(direct) >= MIN_DIRECT_RECALL


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
