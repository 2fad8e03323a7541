"""Interval machinery for descriptive statistics: Wilson shares, bootstrap summaries.

Everything here works on plain numpy arrays and returns :class:`measure.Estimate`
values (plus, for the comparison module, the bootstrap replicates behind them).

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. *JASA* 22, 209-212.
Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*, ch. 13
(percentile intervals).
Kish, L. (1965). *Survey Sampling* (effective sample size of a weighted sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from measure._results import Estimate

#: Quantiles reported for every numeric variable (name -> probability).
QUANTILES: dict[str, float] = {
    "p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90, "p99": 0.99,
}
#: Above this many distinct values a numeric variable is not bootstrapped over its
#: atoms; the interval falls back to order statistics (quantiles) and the normal
#: approximation (mean), both accurate at the sample sizes where this happens.
MAX_ATOMS = 200_000
#: Replicates drawn per chunk (bounds the memory of a (chunk x atoms) count matrix).
CHUNK_CELLS = 20_000_000

BOOT_ASSUMPTION = (
    "the cohort is a random sample (with replacement, weights = inverse inclusion "
    "probabilities) of the population it describes; with the whole population as "
    "cohort the interval describes a superpopulation, not the finite population"
)
WILSON_ASSUMPTION = (
    "binomial sampling of the cohort; weighted cohorts use Kish's effective sample "
    "size"
)


def wquantile(x: np.ndarray, w: np.ndarray | None, q: float) -> float:
    """Weighted quantile by inversion of the empirical CDF (Hyndman-Fan type 1).

    The smallest ``x`` whose cumulative weight share reaches ``q``; with equal
    weights this equals ``numpy.quantile(x, q, method="inverted_cdf")``.
    """
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    xs = x[order]
    if w is None:
        cw = np.arange(1, xs.size + 1, dtype=float) / xs.size
    else:
        ws = w[order]
        cw = np.cumsum(ws) / ws.sum()
    i = int(np.searchsorted(cw, q - 1e-12, side="left"))
    return float(xs[min(i, xs.size - 1)])


def wilson(k: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k / n`` (``n`` may be effective)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def share_estimate(term: str, y: np.ndarray, w: np.ndarray | None,
                   level: float = 0.95, method_note: str = "") -> Estimate:
    """Share of ``y`` (boolean) with a Wilson interval and the cohort size.

    Parameters
    ----------
    term
        Name of the share.
    y
        Boolean indicator per account (missing values already removed).
    w
        Weights (inverse inclusion probabilities) or ``None`` for equal weights.
    level
        Confidence level.
    method_note
        Appended to the method name.
    """
    n = int(y.size)
    if n == 0:
        return Estimate.invalid(term, "no accounts with this information in the "
                                "cohort", method="Wilson score interval", n=0,
                                level=level)
    if w is None:
        k, neff, p = float(y.sum()), float(n), float(y.mean())
    else:
        sw = float(w.sum())
        p = float((w * y).sum() / sw)
        neff = sw * sw / float((w * w).sum())
        k = p * neff
    lo, hi = wilson(k, neff, level)
    se = math.sqrt(p * (1 - p) / neff) if neff > 0 else float("nan")
    return Estimate(term=term, estimate=p, ci=(lo, hi), level=level, std_error=se,
                    method="Wilson score interval" + method_note, n=n,
                    assumptions=(WILSON_ASSUMPTION,),
                    extra={"count": int(y.sum()), "n_eff": neff})


@dataclass(frozen=True)
class NumericSummary:
    """Point values, intervals and bootstrap replicates of one numeric variable."""

    estimates: tuple[Estimate, ...]
    replicates: dict[str, np.ndarray]


def _boot_atoms(vals: np.ndarray, counts: np.ndarray, n: int, B: int,
                rng: np.random.Generator, probs: list[float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap the mean and quantiles through multinomial counts over atoms.

    Resampling ``n`` accounts with replacement is the same as drawing multinomial
    counts over the distinct values with probabilities ``counts / n``; this costs
    O(B x distinct values) instead of O(B x n).
    """
    k = vals.size
    means = np.empty(B)
    quants = np.empty((B, len(probs)))
    pr = counts / counts.sum()
    step = max(1, CHUNK_CELLS // max(k, 1))
    targets = np.array(probs) * n - 1e-9
    for s in range(0, B, step):
        e = min(B, s + step)
        R = rng.multinomial(n, pr, size=e - s)
        means[s:e] = R @ vals / n
        cum = np.cumsum(R, axis=1)
        for j, t in enumerate(targets):
            idx = (cum < t).sum(axis=1)
            quants[s:e, j] = vals[np.minimum(idx, k - 1)]
    return means, quants


def _boot_units(x: np.ndarray, w: np.ndarray, B: int, rng: np.random.Generator,
                probs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap weighted accounts by resampling accounts (with their weights)."""
    n = x.size
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    means = np.empty(B)
    quants = np.empty((B, len(probs)))
    step = max(1, CHUNK_CELLS // max(n, 1))
    for s in range(0, B, step):
        e = min(B, s + step)
        idx = np.sort(rng.integers(0, n, size=(e - s, n)), axis=1)
        W = ws[idx]
        X = xs[idx]
        sw = W.sum(axis=1)
        means[s:e] = (W * X).sum(axis=1) / sw
        cw = np.cumsum(W, axis=1) / sw[:, None]
        for j, p in enumerate(probs):
            pos = (cw < p - 1e-12).sum(axis=1)
            quants[s:e, j] = X[np.arange(e - s), np.minimum(pos, n - 1)]
    return means, quants


def _order_stat_ci(xs_sorted: np.ndarray, q: float, level: float
                   ) -> tuple[float, float]:
    """Distribution-free CI for a quantile from binomial order statistics."""
    n = xs_sorted.size
    a = (1 - level) / 2
    lo = int(stats.binom.ppf(a, n, q))
    hi = int(stats.binom.ppf(1 - a, n, q)) + 1
    return (float(xs_sorted[max(lo - 1, 0)]), float(xs_sorted[min(hi - 1, n - 1)]))


def numeric_summary(var: str, x: np.ndarray, w: np.ndarray | None, *,
                    level: float = 0.95, n_boot: int = 1000, seed: int = 0,
                    keep_replicates: bool = False) -> NumericSummary:
    """Mean, quantiles and maximum of ``x`` with seeded percentile-bootstrap CIs.

    Parameters
    ----------
    var
        Variable name; terms are ``<var>_mean``, ``<var>_median``, ``<var>_p10`` ...
    x
        Values (nan = missing, dropped and not counted in ``n``).
    w
        Weights or ``None``.
    level, n_boot, seed
        Confidence level, bootstrap replicates, seed of the generator.
    keep_replicates
        Return the replicate arrays (for group comparisons).

    Notes
    -----
    Percentile bootstrap (Efron & Tibshirani 1993, ch. 13) over accounts. Quantiles
    are type-1 (inverted CDF) so that point values are observed values. With more
    than ``MAX_ATOMS`` distinct values and equal weights the intervals are the
    normal interval (mean) and binomial order-statistic interval (quantiles).
    """
    x = np.asarray(x, dtype=float)
    keep = ~np.isnan(x)
    x = x[keep]
    if w is not None:
        w = np.asarray(w, dtype=float)[keep]
        if np.allclose(w, w[0] if w.size else 1.0):
            w = None
    n = int(x.size)
    names = ["mean", *QUANTILES]
    if n == 0:
        ests = tuple(
            Estimate.invalid(f"{var}_{s}", f"no account in the cohort has {var}",
                             n=0, level=level) for s in [*names, "max"])
        return NumericSummary(ests, {})
    probs = list(QUANTILES.values())
    if w is None:
        mean = float(x.mean())
    else:
        mean = float((w * x).sum() / w.sum())
    points = [mean] + [wquantile(x, w, p) for p in probs]
    rng = np.random.default_rng(seed)
    a = (1 - level) / 2
    reps: dict[str, np.ndarray] = {}
    method = f"percentile bootstrap ({n_boot} replicates, seed {seed})"
    if w is None:
        vals, counts = np.unique(x, return_counts=True)
        if vals.size <= MAX_ATOMS:
            bm, bq = _boot_atoms(vals, counts, n, n_boot, rng, probs)
        else:
            bm = bq = None
    else:
        bm, bq = _boot_units(x, w, n_boot, rng, probs)
    ests: list[Estimate] = []
    if bm is None:
        xs = np.sort(x)
        sd = float(x.std(ddof=1)) if n > 1 else float("nan")
        se = sd / math.sqrt(n)
        z = stats.norm.ppf(1 - a)
        ests.append(Estimate(f"{var}_mean", mean, (mean - z * se, mean + z * se),
                             level, se, "normal interval (CLT)", n))
        for name, p, pt in zip(QUANTILES, probs, points[1:], strict=True):
            ests.append(Estimate(f"{var}_{name}", pt, _order_stat_ci(xs, p, level),
                                 level, float("nan"),
                                 "binomial order-statistic interval", n))
    else:
        cols = [bm] + [bq[:, j] for j in range(len(probs))]
        for name, pt, r in zip(names, points, cols, strict=True):
            lo, hi = np.quantile(r, [a, 1 - a])
            ests.append(Estimate(f"{var}_{name}", pt, (float(lo), float(hi)), level,
                                 float(r.std(ddof=1)), method, n,
                                 assumptions=(BOOT_ASSUMPTION,)))
            if keep_replicates:
                reps[name] = r
    mx = float(x.max())
    ests.append(Estimate(f"{var}_max", mx, (mx, mx), level, 0.0,
                         "observed maximum (no sampling interval)", n))
    return NumericSummary(tuple(ests), reps)
