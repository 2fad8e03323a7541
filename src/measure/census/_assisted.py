"""Model-assisted and classifier-corrected totals, refitted in every replicate.

Both estimators fit the logistic working model of :mod:`measure.census._model` to
the coded accounts and apply it to the whole frame:

* **model-assisted** (difference, GREG-type; Särndal, Swensson & Wretman 1992,
  *Model Assisted Survey Sampling*, §6.5): ``sum_U m_i + sum_h N_h mean_h(y_i - m_i)``
  over the frame's predictions ``m_i`` and the coded accounts' residuals;
* **classifier-corrected** (Berger & Morgan 2015, §3.8): the frame's accounts the
  model classifies as supporters, corrected by Rogan-Gladen (Rogan & Gladen 1978)
  with the classifier's out-of-fold sensitivity and specificity.

Both count the primary coder's *supporter labels*, false positives included. Each
is then corrected for coder error as the headline is: by Rogan-Gladen with the
coder's sensitivity ``se`` and false-positive rate ``fp``, ``(T - N fp) / (se -
fp)`` over the frame's ``N`` accounts, with the rates drawn from the posterior of
the latent-class coder model (:func:`measure.census.sample_posterior`) or given.
The correction is linear and applied to the total only, never truncated per
stratum or per account, so the many large strata whose apparent share scatters
around ``fp`` do not bias the total upward.

Intervals come from a stratified bootstrap of the coded accounts (Rao & Wu 1988,
"Resampling inference with complex survey data", JASA 83, 231-241): each replicate
resamples the coded accounts within strata, **refits the model** (and, for the
classifier, its out-of-fold error rates), recomputes the label total and corrects
it with one draw of the coder's error rates; the interval is the percentile
interval of the replicates. Model fitting and coder error therefore enter the
width. A
stratum whose coded accounts all carry the same label (typically none of 40 coded
accounts of a large, low-precision stratum is a supporter) has no spread to
resample, although it may hold dozens of supporters: each replicate adds to its
part ``N_h sqrt(1 - f_h) (p* - x_h / n_h)``, with ``p*`` drawn from the Jeffreys
posterior ``Beta(x_h + 1/2, n_h - x_h + 1/2)``, the design's own uncertainty about
its share (Korn & Graubard 1998 likewise fall back on a binomial interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from measure._results import Estimate
from measure.census import _estimate as est
from measure.census._model import LogisticModel, features, out_of_fold

#: Fewest coded accounts (with both classes present) for the model's fit.
MIN_CODED_FOR_MODEL = 20
#: Bootstrap replicates of both intervals.
BOOTSTRAP_REPS = 200
#: Folds of the out-of-fold error rates of the classifier.
FOLDS = 5
#: Threshold on the predicted probability for "classified as a supporter".
THRESHOLD = 0.5

#: Grid of coder (sensitivities, specificities) for bounds.
Grid = tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class _Coded:
    """The coded accounts as arrays (positions into the frame's feature matrix)."""

    frame_pos: np.ndarray
    stratum: np.ndarray  # stratum index of each coded account
    names: tuple[str, ...]  # stratum names
    N: np.ndarray  # accounts per stratum
    y: np.ndarray  # primary coder's label: 1 = supporter


def _coded_arrays(fr: pl.DataFrame, coded: pl.DataFrame,
                  N_h: dict[str, float]) -> _Coded:
    pos = dict(zip(fr["account_id"].to_list(), range(fr.height), strict=True))
    frame_pos = np.array([pos[a] for a in coded["account_id"].to_list()],
                         dtype=np.int64)
    names, s_idx = np.unique(coded["stratum"].to_numpy().astype(str),
                             return_inverse=True)
    return _Coded(frame_pos, s_idx.astype(np.int64), tuple(names.tolist()),
                  np.array([float(N_h[s]) for s in names]),
                  coded["y"].to_numpy().astype(float))


def _corrected(total: float, population: float, sens: np.ndarray,
               false_pos: np.ndarray) -> np.ndarray:
    """Rogan-Gladen: supporters behind ``total`` supporter labels, per rate draw.

    ``(total - population fp) / (se - fp)``; NaN where ``se <= fp``.
    """
    j = sens - false_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(j > 0, (total - population * false_pos) / j, np.nan)


def _difference(pred_total: float, resid: np.ndarray, c: _Coded,
                sel: np.ndarray) -> float:
    """``pred_total + sum_h N_h mean_{sel in h}(resid)``."""
    k = len(c.names)
    s = c.stratum[sel]
    n = np.bincount(s, minlength=k)
    r = np.bincount(s, weights=resid[sel], minlength=k)
    return pred_total + float(np.sum(c.N * r / np.maximum(n, 1)))


def _rates(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted sensitivity and specificity of ``pred`` against labels ``y``."""
    sens = np.sum(w * y * pred) / max(np.sum(w * y), 1e-12)
    spec = np.sum(w * (1 - y) * (1 - pred)) / max(np.sum(w * (1 - y)), 1e-12)
    return float(sens), float(spec)


def _rogan_gladen(n_pos: float, frame_size: int, sens: float, spec: float) -> float:
    if sens + spec <= 1:
        return float("nan")
    return est.rogan_gladen_total(frame_size, n_pos, sens, spec)


def _widened(q: np.ndarray, bounds: tuple[float, float] | None,
             frame_size: int) -> tuple[float, float]:
    """Percentile limits, widened to ``bounds`` if given, clipped to the frame."""
    lo, hi = float(q[0]), float(q[1])
    if bounds is not None:
        lo, hi = min(lo, bounds[0]), max(hi, bounds[1])
    return max(lo, 0.0), min(hi, float(frame_size))


def _percentile_estimate(term: str, point: float, reps: np.ndarray,
                         bounds: tuple[float, float] | None, *, level: float,
                         frame_size: int, invalid: str, method: str, n: int,
                         assumptions: tuple[str, ...],
                         warnings: tuple[str, ...] = ()) -> Estimate:
    """Point estimate with the percentile interval of its bootstrap replicates.

    Invalid (with ``invalid`` as the reason) when the point is not finite or
    fewer than half the replicates are.
    """
    ok = reps[np.isfinite(reps)]
    if not np.isfinite(point) or len(ok) < len(reps) // 2:
        return Estimate.invalid(term, invalid)
    a = (1 - level) / 2
    lo, hi = _widened(np.quantile(ok, [a, 1 - a]), bounds, frame_size)
    return Estimate(term, min(max(point, 0.0), float(frame_size)), (lo, hi), level,
                    float(ok.std(ddof=1)), method, int(n), assumptions, warnings)


def _oof_on(X: np.ndarray, y: np.ndarray, mult: np.ndarray, y_cls: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Out-of-fold predictions of the accounts with ``mult > 0``.

    Folds are drawn over distinct accounts (balanced on ``y_cls``), so the copies
    of an account that a bootstrap sample repeats never sit on both sides.
    """
    out = np.full(len(y), np.nan)
    idx = np.flatnonzero(mult > 0)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):
        g = idx[y_cls[idx] == cls]
        rng.shuffle(g)
        fold[g] = np.arange(len(g)) % FOLDS
    for k in range(FOLDS):
        test = idx[fold[idx] == k]
        train = idx[fold[idx] != k]
        if len(test) == 0:
            continue
        if len(np.unique(y_cls[train])) < 2:
            out[test] = np.average(y[train], weights=mult[train])
            continue
        mdl = LogisticModel().fit(X[train], y[train], weights=mult[train])
        out[test] = mdl.predict(X[test])
    return out


def assisted_totals(fr: pl.DataFrame, coded: pl.DataFrame, N_h: dict[str, float],
                    *, rates: tuple[np.ndarray, np.ndarray] | None = None,
                    rates_note: str = "", grid: Grid | None = None,
                    level: float, seed: int, frame_size: int, enabled: bool,
                    reps: int = BOOTSTRAP_REPS
                    ) -> tuple[Estimate, Estimate, pl.DataFrame | None]:
    """Model-assisted and classifier-corrected totals with bootstrap intervals.

    Parameters
    ----------
    fr
        The frame (:func:`measure.census._frame.frame` with profile fields).
    coded
        Coded accounts in the frame: ``account_id, stratum, y`` (primary coder's
        label, 1 = supporter), ``w`` (stratum weight ``N_h / n_h``), ``label``.
    N_h
        Accounts per stratum.
    rates
        Draws (equal-length arrays) of the primary coder's sensitivity and
        false-positive rate (P(``supporter`` label | not a supporter)), e.g. from
        the posterior of the coder model, or one known pair. Both totals count
        supporter *labels*; each is corrected by Rogan-Gladen with these rates,
        replicate ``b`` of the bootstrap with draw ``b``. Default: labels taken as
        right.
    rates_note
        Assumption stated for the rates used.
    grid
        ``(sensitivities, specificities)``: when the rates are not identified,
        each interval is widened to the bounds of the corrected total over this
        grid (lower: the smallest correction of the replicates' lower label
        quantile, upper: the largest of the upper), as the headline is.
    level, seed
        Confidence level; seed of the folds and the bootstrap.
    frame_size
        Accounts in the frame (upper clip; the classifier's population).
    enabled
        ``False`` returns both estimates as invalid with the reason.
    reps
        Bootstrap replicates.

    Returns
    -------
    (model_assisted, classifier_corrected, population)
        ``population`` has one row per frame account with the model's
        ``p_supporter``, its 0.5-threshold class and the coded label.
    """
    from measure.census._analyze import TERM

    term_ma = f"{TERM}_model_assisted"
    term_clf = f"{TERM}_classifier_corrected"
    y = coded["y"].to_numpy().astype(float)
    if not enabled:
        r = "model disabled (model=False)"
        return Estimate.invalid(term_ma, r), Estimate.invalid(term_clf, r), None
    if len(y) < MIN_CODED_FOR_MODEL or y.min() == y.max():
        r = (f"needs at least {MIN_CODED_FOR_MODEL} coded accounts with both "
             f"supporters and non-supporters (have {len(y)}, {int(y.sum())} "
             "supporters)")
        return Estimate.invalid(term_ma, r), Estimate.invalid(term_clf, r), None
    X_all, _names = features(fr)
    c = _coded_arrays(fr, coded, N_h)
    Xs = X_all[c.frame_pos]
    n_acc = len(c.y)
    y_cls = c.y.astype(np.int64)
    w = coded["w"].to_numpy().astype(float)
    if rates is None:
        sens, false_pos = np.ones(1), np.zeros(1)
    else:
        sens, false_pos = (np.atleast_1d(np.asarray(r, dtype=float)) for r in rates)

    # supporter labels in the frame: model-assisted, and classifier-corrected
    mdl = LogisticModel().fit(Xs, c.y)
    m_all = mdl.predict(X_all)
    lab_ma = _difference(float(m_all.sum()), c.y - m_all[c.frame_pos], c,
                         np.arange(n_acc))
    oof = out_of_fold(Xs, y_cls, folds=FOLDS, seed=seed)
    n_pos = float((m_all >= THRESHOLD).sum())
    lab_clf = _rogan_gladen(n_pos, frame_size,
                            *_rates(c.y, (oof >= THRESHOLD).astype(float), w))
    t_ma = float(np.nanmedian(_corrected(lab_ma, frame_size, sens, false_pos)))
    t_clf = (float(np.nanmedian(_corrected(lab_clf, frame_size, sens, false_pos)))
             if np.isfinite(lab_clf) else float("nan"))

    # stratified bootstrap, model refitted per replicate, one rate draw each
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(c.stratum == h) for h in range(len(c.names))]
    n_h = np.array([len(g) for g in groups], dtype=float)
    x_h = np.bincount(c.stratum, weights=c.y, minlength=len(c.names))
    flat = (x_h == 0) | (x_h == n_h)
    fpc = np.sqrt(np.clip(1 - n_h / c.N, 0.0, 1.0))
    pick = rng.choice(len(sens), size=reps, replace=len(sens) < reps)
    rep_ma = np.full(reps, np.nan)
    rep_clf = np.full(reps, np.nan)
    lab_reps = np.full((2, reps), np.nan)
    for b in range(reps):
        sel = np.concatenate([rng.choice(g, size=len(g), replace=True)
                              for g in groups])
        mult = np.bincount(sel, minlength=n_acc).astype(float)
        used = mult > 0
        if len(np.unique(y_cls[used])) < 2:
            continue
        mb = LogisticModel().fit(Xs[used], c.y[used], weights=mult[used])
        m_b = mb.predict(X_all)
        t = _difference(float(m_b.sum()), c.y - m_b[c.frame_pos], c, sel)
        if flat.any():
            p_star = rng.beta(x_h[flat] + 0.5, n_h[flat] - x_h[flat] + 0.5)
            t += float(np.sum(c.N[flat] * fpc[flat]
                              * (p_star - x_h[flat] / n_h[flat])))
        d = pick[b]
        lab_reps[0, b] = t
        rep_ma[b] = _corrected(t, frame_size, sens[d], false_pos[d])
        oof_b = _oof_on(Xs, c.y, mult, y_cls, rng)
        pred_b = (oof_b[used] >= THRESHOLD).astype(float)
        lab = _rogan_gladen(float((m_b >= THRESHOLD).sum()), frame_size,
                            *_rates(c.y[used], pred_b, (w * mult)[used]))
        lab_reps[1, b] = lab
        rep_clf[b] = _corrected(lab, frame_size, sens[d], false_pos[d])

    a = (1 - level) / 2
    notes: tuple[str, ...] = ()
    if flat.any():
        notes = (f"{int(flat.sum())} stratum/strata with a single coded class ("
                 + ", ".join(np.asarray(c.names)[flat].tolist()) + "): their part "
                 "of the interval is the design's Jeffreys limits, not the model's "
                 "residual spread",)
    design_N = float(c.N.sum())
    if abs(design_N - frame_size) > max(0.01 * frame_size, 1.0):
        notes += (f"the frame holds {frame_size:,} accounts but the design's "
                  f"strata {design_N:,.0f}: the predicted total runs over the "
                  "whole frame, so this estimate is not comparable with the "
                  "stratified one and is biased for the design's population",)
    rates_note = rates_note or "coder labels taken as right"
    boot = (f"stratified bootstrap ({reps} replicates, the model refitted in each"
            + (", one draw of the coder's error rates per replicate"
               if len(sens) > 1 else "") + "), percentile")
    fix = (" corrected by Rogan-Gladen for coder error" if rates is not None
           else "")
    if grid is not None:
        ses = np.asarray(grid[0], dtype=float)[:, None]
        fps = 1 - np.asarray(grid[1], dtype=float)[None, :]
        ses, fps = np.broadcast_arrays(ses, fps)
        ses, fps = ses.ravel(), fps.ravel()
    bounds = []
    for k in range(2):
        ok = lab_reps[k][np.isfinite(lab_reps[k])]
        if grid is None or len(ok) == 0:
            bounds.append(None)
            continue
        q_lo, q_hi = np.quantile(ok, [a, 1 - a])
        bounds.append((float(np.nanmin(_corrected(q_lo, frame_size, ses, fps))),
                       float(np.nanmax(_corrected(q_hi, frame_size, ses, fps)))))
    if grid is not None:
        boot += ("; coder error rates not identified: interval widened to the "
                 "bounds over the misclassification grid")
    ma = _percentile_estimate(
        term_ma, t_ma, rep_ma, bounds[0], level=level, frame_size=frame_size,
        invalid="the model could not be refitted in most bootstrap replicates (one "
                "class only), or the coder's error rates leave no signal",
        method="difference (GREG-type) estimator of the supporter labels with a "
               "ridge logistic working model on in-network metrics and profile "
               f"features (Särndal et al. 1992, §6.5){fix}; interval: {boot}",
        n=n_acc,
        assumptions=("the working model is fitted on the same coded sample "
                     "(approximately design-unbiased)", rates_note,
                     "the frame's predicted total covers the design's population "
                     "(the frame and the design's strata hold the same accounts)"),
        warnings=notes)
    clf = _percentile_estimate(
        term_clf, t_clf, rep_clf, bounds[1], level=level, frame_size=frame_size,
        invalid="classifier no better than chance on held-out coded accounts "
                "(sensitivity + specificity <= 1)",
        method="frame classifier positives corrected by Rogan-Gladen with "
               f"{FOLDS}-fold out-of-fold sensitivity/specificity against the coded "
               f"labels{fix}; interval: {boot} (the classifier's error rates "
               "refitted too; Berger & Morgan 2015 §3.8)",
        n=n_acc,
        assumptions=("the frame count of predicted positives is a census of the "
                     "classifier's output; its uncertainty comes from the refitted "
                     "model", rates_note))
    pred = m_all >= THRESHOLD
    population = pl.DataFrame({
        "account_id": fr["account_id"], "level": fr["level"],
        "p_supporter": m_all, "predicted": pred,
    }).join(coded.select("account_id", "label"), on="account_id", how="left")
    return ma, clf, population
