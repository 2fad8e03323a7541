"""Stratified hand coding of frame accounts (the ``labels`` table).

Coder A codes every drawn account, coder B a share ``double_coded_share`` of them.
Each coder says ``unclear`` with probability ``p_unclear``, else codes correctly with
probability ``sensitivity`` (supporters) or ``specificity`` (non-supporters). The
stress mechanisms of :class:`measure.simulate.Coding` change the error rates per
coder (``coder_b_error_ratio``) and per in-network band (``stratum_error_ratio``),
let coder B repeat coder A's decision (``coder_correlation``) and add labels
adjudicated by an expert panel (``gold_share``, coder ``gold``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from measure.simulate._simulate import _const, _ts, o_days

if TYPE_CHECKING:
    from measure.simulate._config import Coding
    from measure.simulate._simulate import _World

#: Error rates a multiplier may not push beyond (unless configured higher).
ERROR_CAP = 0.5
#: An adjudicated label is recorded this many days (uniform) after coder B's time.
GOLD_DELAY_DAYS = (1.0, 14.0)


def coding_mechanisms_on(cod: Coding) -> bool:
    """Whether any stress mechanism of the coding stage is switched on."""
    return (
        cod.coder_b_error_ratio != 1.0
        or cod.stratum_error_ratio != 1.0
        or cod.coder_correlation != 0.0
        or cod.gold_share != 0.0
    )


def scale_error(err: np.ndarray | float, factor: np.ndarray | float) -> np.ndarray:
    """Multiply error rates by ``factor``, capped at 0.5.

    A rate configured above the cap is never raised but not lowered either: the
    cap limits what a multiplier does, not the configured rate.
    """
    e = np.asarray(err, dtype=np.float64)
    return np.minimum(e * factor, np.maximum(e, ERROR_CAP))


def stratum_multiplier(ratio: float, cuts: tuple[int, ...]) -> np.ndarray:
    """Error multiplier of each stratum code (``level * n_bands + band``).

    Within a level, ``ratio`` in the lowest band the level can hold, falling
    geometrically to 1 in the highest band: ``ratio ** ((K - b) / (K - b0))`` for
    band ``b`` of bands ``0..K``, ``b0`` the level's lowest band. Levels 0-1 start
    at band 0; a level-2 account appears in at least one collected list, so its
    in-network degree is at least 1 and its ladder starts at the band holding 1
    (``L2:1-2`` with the default cuts). A level with a single possible band gets 1.
    """
    k = len(cuts)
    b = np.arange(k + 1)
    out = []
    for b0 in (0, 0, int(np.searchsorted(np.asarray(cuts), 1, side="right"))):
        if b0 >= k:
            out.append(np.ones(k + 1))
        else:
            out.append(float(ratio) ** ((k - np.maximum(b, b0)) / (k - b0)))
    return np.concatenate(out)


def _label_of(
    truth_sup: np.ndarray, unclear: np.ndarray, correct: np.ndarray
) -> np.ndarray:
    lab = np.where(truth_sup == correct, "supporter", "non_supporter")
    return np.where(unclear, "unclear", lab).astype(object)


def label(world: _World) -> None:
    """Draw the coding sample and its labels (``world.labels``, ``world.coded``).

    With a coding stress mechanism on, also records ``world.extra_truth["coding"]``
    (see :func:`_coding_truth`).
    """
    cfg, cal, c = world.cfg, world.cal, world.ctx
    cod = cfg.coding
    rng = world.rng["coding"]
    frame = np.flatnonzero(world.level >= 0)
    lvl = world.level[frame].astype(np.int64)
    metric = np.where(lvl <= 1, world.in_core_fol[frame], world.in_friends[frame])
    cuts = np.asarray(cod.band_cuts)
    n_bands = len(cuts) + 1
    band = np.searchsorted(cuts, metric, side="right")
    names = []
    lo = 0
    for cut in cuts:
        names.append(f"{lo}" if cut - 1 == lo else f"{lo}-{cut - 1}")
        lo = cut
    names.append(f"{lo}+")
    stratum = lvl * n_bands + band
    u = rng.random(len(frame))
    order = np.lexsort((u, stratum))
    s_sorted = stratum[order]
    first = np.searchsorted(s_sorted, s_sorted, side="left")
    rank = np.arange(len(order)) - first
    n_h_all = np.bincount(stratum, minlength=3 * n_bands)
    n_take = np.minimum(n_h_all, cod.n_per_stratum)
    chosen = order[rank < n_take[s_sorted]]
    chosen = np.sort(chosen)
    g = frame[chosen]
    st = stratum[chosen]
    incl = n_take[st] / n_h_all[st]
    all_names = np.asarray(
        [f"L{s // n_bands}:{names[s % n_bands]}" for s in range(3 * n_bands)],
        dtype=object,
    )
    sname = all_names[st]
    truth_sup = g < c.n_s
    world.frame_metric = np.zeros(c.n, dtype=np.int32)
    world.frame_metric[frame] = metric
    world.stratum_sizes = {
        str(k): int(v)
        for k, v in zip(all_names[: len(n_h_all)], n_h_all, strict=True)
        if v
    }

    # every coder decision uses uniforms of the coding stream in a fixed order, so
    # the sample, the double-coded accounts and the times are the same whether or
    # not a coding mechanism is on (the mechanisms only move the thresholds)
    n = len(g)
    u_unclear_a = rng.random(n)
    u_correct_a = rng.random(n)
    double = rng.random(n) < cod.double_coded_share
    u_unclear_b = rng.random(n)
    u_correct_b = rng.random(n)
    t_a = cal.census + o_days(cfg) + rng.uniform(0, 30, n)
    t_b = t_a + rng.uniform(0, 7, n)
    base = np.where(truth_sup, cod.sensitivity, cod.specificity)
    unclear_a = u_unclear_a < cod.p_unclear
    unclear_b = u_unclear_b < cod.p_unclear
    gold = np.zeros(n, dtype=bool)
    t_gold = np.full(n, np.nan)
    if not coding_mechanisms_on(cod):
        lab_a = _label_of(truth_sup, unclear_a, u_correct_a < base)
        lab_b = _label_of(truth_sup, unclear_b, u_correct_b < base)
    else:
        srng = world.rng["stress_coding"]
        u_copy = srng.random(n)
        u_gold = srng.random(n)
        gold_delay = srng.uniform(*GOLD_DELAY_DAYS, n)
        err0 = 1.0 - base
        mult = stratum_multiplier(cod.stratum_error_ratio, cod.band_cuts)[st]
        err_a = scale_error(err0, mult)
        err_b = scale_error(err_a, cod.coder_b_error_ratio)
        # unscaled rates keep their configured value exactly
        p_a = np.where(err_a == err0, base, 1.0 - err_a)
        p_b = np.where(err_b == err0, base, 1.0 - err_b)
        lab_a = _label_of(truth_sup, unclear_a, u_correct_a < p_a)
        own_b = _label_of(truth_sup, unclear_b, u_correct_b < p_b)
        copied = u_copy < cod.coder_correlation
        lab_b = np.where(copied, lab_a, own_b)
        gold = u_gold < cod.gold_share
        t_gold = t_b + gold_delay
        world.extra_truth["coding"] = _coding_truth(
            cod,
            all_names,
            st,
            truth_sup,
            lab_a,
            lab_b,
            double,
            copied,
            gold,
        )

    def rows(
        sel: np.ndarray, lab: np.ndarray, coder: str, t: np.ndarray
    ) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "account_id": pl.Series(c.ids[g[sel]], dtype=pl.Int64),
                "label": pl.Series(lab[sel], dtype=pl.String),
                "coder": _const(coder, int(sel.sum())),
                "coded_at": _ts(t[sel], cal.origin_us),
                "sample": pl.Series(sname[sel], dtype=pl.String),
                "inclusion_prob": pl.Series(incl[sel], dtype=pl.Float64),
            }
        )

    parts = [
        rows(np.ones(n, dtype=bool), lab_a, "coder_a", t_a),
        rows(double, lab_b, "coder_b", t_b),
    ]
    if gold.any():
        truth_lab = np.where(truth_sup, "supporter", "non_supporter").astype(object)
        parts.append(rows(gold, truth_lab, "gold", t_gold))
    world.labels = pl.concat(parts).sort("account_id", "coder")
    world.coded = g


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _realised(lab: np.ndarray, sup: np.ndarray) -> dict[str, Any]:
    """Return the counts and rates of one coder's labels against the truth ``sup``."""
    unc = lab == "unclear"
    n_s, n_n = int(sup.sum()), int((~sup).sum())
    s_ok = int((sup & (lab == "supporter")).sum())
    n_ok = int((~sup & (lab == "non_supporter")).sum())
    s_unc = int((sup & unc).sum())
    n_unc = int((~sup & unc).sum())
    return {
        "n_supporters": n_s,
        "n_supporters_correct": s_ok,
        "n_supporters_unclear": s_unc,
        "n_non_supporters": n_n,
        "n_non_supporters_correct": n_ok,
        "n_non_supporters_unclear": n_unc,
        "sensitivity": _rate(s_ok, n_s - s_unc),
        "specificity": _rate(n_ok, n_n - n_unc),
        "sensitivity_effective": _rate(s_ok, n_s),
        "specificity_effective": _rate(n_ok + n_unc, n_n),
    }


def _configured(sens: float, spec: float, p_unclear: float) -> dict[str, float]:
    return {
        "sensitivity": sens,
        "specificity": spec,
        "sensitivity_effective": (1.0 - p_unclear) * sens,
        "specificity_effective": p_unclear + (1.0 - p_unclear) * spec,
    }


def _joint(
    lab_a: np.ndarray, lab_b: np.ndarray, sup: np.ndarray, copied: np.ndarray
) -> dict[str, int]:
    """Wrong decisions of both coders on double-coded accounts of one class."""
    wrong = np.where(sup, "non_supporter", "supporter")
    a_wrong = lab_a == wrong
    b_wrong = lab_b == wrong
    return {
        "n": len(sup),
        "n_coder_b_copied": int(copied.sum()),
        "n_coder_a_wrong": int(a_wrong.sum()),
        "n_coder_b_wrong": int(b_wrong.sum()),
        "n_both_wrong": int((a_wrong & b_wrong).sum()),
        "n_agree": int((lab_a == lab_b).sum()),
    }


def _coding_truth(
    cod: Coding,
    names: np.ndarray,
    st: np.ndarray,
    sup: np.ndarray,
    lab_a: np.ndarray,
    lab_b: np.ndarray,
    double: np.ndarray,
    copied: np.ndarray,
    gold: np.ndarray,
) -> dict[str, Any]:
    """Return the coder error model and its realisation on the coding sample.

    Per coder and stratum: ``configured`` sensitivity and specificity (given a
    clear label; coder B's include the copied decisions:
    ``coder_correlation * A + (1 - coder_correlation) * B's own``) and their
    ``_effective`` versions (``unclear`` counted as non-supporter), and
    ``realised`` counts and rates on the labels of the sample.
    """
    mult = stratum_multiplier(cod.stratum_error_ratio, cod.band_cuts)
    rho, cc, pu = cod.coder_b_error_ratio, cod.coder_correlation, cod.p_unclear
    e_s, e_n = 1.0 - cod.sensitivity, 1.0 - cod.specificity
    coder_a: dict[str, Any] = {}
    coder_b: dict[str, Any] = {}
    mult_by: dict[str, float] = {}
    for s in np.unique(st):
        name = str(names[s])
        m = float(mult[s])
        mult_by[name] = m
        ea_s, ea_n = (float(scale_error(e, m)) for e in (e_s, e_n))
        eb_s, eb_n = (float(scale_error(e, rho)) for e in (ea_s, ea_n))
        in_s = st == s
        both = in_s & double
        coder_a[name] = {
            "configured": _configured(1.0 - ea_s, 1.0 - ea_n, pu),
            "realised": _realised(lab_a[in_s], sup[in_s]),
        }
        sens_b = cc * (1.0 - ea_s) + (1.0 - cc) * (1.0 - eb_s)
        spec_b = cc * (1.0 - ea_n) + (1.0 - cc) * (1.0 - eb_n)
        coder_b[name] = {
            "configured": {
                **_configured(sens_b, spec_b, pu),
                "sensitivity_own": 1.0 - eb_s,
                "specificity_own": 1.0 - eb_n,
            },
            "realised": _realised(lab_b[both], sup[both]),
        }
    coder_a["all"] = {"realised": _realised(lab_a, sup)}
    coder_b["all"] = {"realised": _realised(lab_b[double], sup[double])}
    d_sup = double & sup
    d_non = double & ~sup
    return {
        "coder_b_error_ratio": rho,
        "stratum_error_ratio": cod.stratum_error_ratio,
        "coder_correlation": cc,
        "gold_share": cod.gold_share,
        "p_unclear": pu,
        "error_multiplier_by_stratum": mult_by,
        "n_coded": int(len(st)),
        "n_double_coded": int(double.sum()),
        "n_coder_b_copied": int((copied & double).sum()),
        "n_gold": int(gold.sum()),
        "coder_a": coder_a,
        "coder_b": coder_b,
        "double_coded": {
            "supporters": _joint(lab_a[d_sup], lab_b[d_sup], sup[d_sup], copied[d_sup]),
            "non_supporters": _joint(
                lab_a[d_non], lab_b[d_non], sup[d_non], copied[d_non]
            ),
        },
    }
