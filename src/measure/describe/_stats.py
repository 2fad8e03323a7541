"""Interval machinery for descriptive statistics: Wilson shares, bootstrap summaries.

Everything here works on plain numpy arrays and returns :class:`measure.Estimate`
values (plus, for the comparison module, the bootstrap replicates behind them).
The Wilson score interval is the shared one of :mod:`measure._stats`.

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
from measure._stats import wilson_interval

#: Quantiles reported for every numeric variable (name -> probability).
QUANTILES: dict[str, float] = {
    "p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90, "p99": 0.99,
}
#: Above this many accounts the mean is not bootstrapped; it gets the normal (CLT)
#: interval, which the bootstrap approaches at such sizes.
MAX_BOOT_N = 20_000
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
    """Wilson score interval for a proportion ``k / n`` (``n`` may be effective).

    The shared :func:`measure._stats.wilson_interval` for one proportion, as
    floats; ``(nan, nan)`` when ``n <= 0``.
    """
    if n <= 0:
        return (float("nan"), float("nan"))
    lo, hi = wilson_interval(k, n, level=level)
    return float(lo), float(hi)


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
    if w is None:
        return share_from_sums(term, int(y.size), int(y.sum()), level=level,
                               method_note=method_note)
    return share_from_sums(term, int(y.size), int(y.sum()), float(w.sum()),
                           float((w * w).sum()), float((w * y).sum()), level=level,
                           method_note=method_note)


def share_from_sums(term: str, n: int, count: int, sw: float | None = None,
                    sw2: float | None = None, swy: float | None = None, *,
                    level: float = 0.95, method_note: str = "") -> Estimate:
    """:func:`share_estimate` from counts and weight sums.

    Parameters
    ----------
    term
        Name of the share.
    n, count
        Accounts, and accounts with the property.
    sw, sw2, swy
        Sum of the weights, of their squares, and of the weights of the accounts
        with the property; ``None`` for equal weights.
    level
        Confidence level.
    method_note
        Appended to the method name.
    """
    if n == 0:
        return Estimate.invalid(term, "no accounts with this information in the "
                                "cohort", method="Wilson score interval", n=0,
                                level=level)
    if sw is None or sw2 is None or swy is None:
        k, neff = float(count), float(n)
        p = k / neff
    else:
        p = swy / sw
        neff = sw * sw / sw2
        k = p * neff
    lo, hi = wilson(k, neff, level)
    se = math.sqrt(p * (1 - p) / neff) if neff > 0 else float("nan")
    return Estimate(term=term, estimate=p, ci=(lo, hi), level=level, std_error=se,
                    method="Wilson score interval" + method_note, n=n,
                    assumptions=(WILSON_ASSUMPTION,),
                    extra={"count": int(count), "n_eff": neff})


@dataclass(frozen=True, eq=False)
class QuantileInterval:
    """What the interval of one quantile is formed from, to form it at any level.

    Kept (under ``Estimate.extra["interval"]``) for the quantiles of the
    variables :func:`numeric_summary` is asked to keep them for: a compact form
    of the data, not the accounts' column.

    Attributes
    ----------
    kind
        ``"order_statistic"`` (equal weights: :func:`order_stat_interval`),
        ``"percentile_bootstrap"`` (weighted accounts resampled) or
        ``"woodruff"`` (weighted, too many accounts to resample).
    q
        Probability of the quantile.
    values
        The distinct values (sorted), or the bootstrap replicates of the quantile
        with ``kind="percentile_bootstrap"``.
    counts
        Accounts at each distinct value (``"order_statistic"``), else ``None``.
    cdf
        Share of the weight at or below each distinct value (``"woodruff"``),
        else ``None``.
    n_eff
        Kish's effective sample size (``"woodruff"``), else ``None``.
    """

    kind: str
    q: float
    values: np.ndarray
    counts: np.ndarray | None = None
    cdf: np.ndarray | None = None
    n_eff: float | None = None

    def ci(self, level: float) -> tuple[float, float]:
        """Interval of the quantile at ``level``, as :func:`numeric_summary` forms it.

        Raises
        ------
        ValueError
            ``kind`` is not one of the three above.
        """
        a = (1 - level) / 2
        if self.kind == "order_statistic" and self.counts is not None:
            return order_stat_interval(self.values, self.counts, self.q, level,
                                       cum=np.cumsum(self.counts))
        if self.kind == "percentile_bootstrap":
            lo, hi = np.quantile(self.values, [a, 1 - a])
            return (float(lo), float(hi))
        if self.kind == "woodruff" and self.cdf is not None and self.n_eff:
            z = stats.norm.ppf(1 - a)
            h = z * math.sqrt(self.q * (1 - self.q) / self.n_eff)
            return (cdf_quantile(self.values, self.cdf, max(self.q - h, 0.0)),
                    cdf_quantile(self.values, self.cdf, min(self.q + h, 1.0)))
        raise ValueError(f"unknown quantile interval {self.kind!r}")


def cdf_quantile(values: np.ndarray, cdf: np.ndarray, q: float) -> float:
    """:func:`wquantile` read from :func:`weighted_cdf` (the same value)."""
    i = int(np.searchsorted(cdf, q - 1e-12, side="left"))
    return float(values[min(i, values.size - 1)])


def weighted_cdf(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``x`` and the share of the weight at or below each.

    The shares are those :func:`wquantile` searches, taken at the last account of
    each distinct value, so the type-1 quantile read from them is the same.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = w[order]
    cw = np.cumsum(ws) / ws.sum()
    last = np.flatnonzero(np.concatenate([xs[1:] != xs[:-1], [True]]))
    return xs[last], cw[last]


@dataclass(frozen=True)
class NumericSummary:
    """Point values, intervals and bootstrap replicates of one numeric variable."""

    estimates: tuple[Estimate, ...]
    replicates: dict[str, np.ndarray]


def _boot_mean(x: np.ndarray, B: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of the mean and of its standard error (resampling)."""
    n = x.size
    out = np.empty(B)
    ses = np.empty(B)
    step = max(1, CHUNK_CELLS // max(n, 1))
    for s in range(0, B, step):
        e = min(B, s + step)
        X = x[rng.integers(0, n, size=(e - s, n))]
        out[s:e] = X.mean(axis=1)
        ses[s:e] = X.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else 0.0
    return out, ses


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


def _exact_quantile_boot(vals: np.ndarray, counts: np.ndarray, q: float,
                        level: float, B: int, rng: np.random.Generator | None,
                        F: np.ndarray | None = None
                        ) -> tuple[tuple[float, float], float, np.ndarray | None]:
    """Percentile-bootstrap interval of a type-1 quantile with infinitely many draws.

    With ``F_j`` the empirical CDF at distinct value ``v_j``, the bootstrap quantile
    is at most ``v_j`` exactly when at least ``m = ceil(q n)`` of the ``n`` resampled
    accounts lie at or below ``v_j``: ``P = P(Binomial(n, F_j) >= m)``. Inverting this
    CDF gives the percentile interval without Monte Carlo error; replicates (for
    comparisons) are drawn from it by inversion. ``F`` (``min(cumsum(counts) / n,
    1)``) may be given when several quantiles of one variable are computed.
    """
    n = int(counts.sum())
    m = max(1, math.ceil(q * n - 1e-9))
    if F is None:
        F = np.minimum(np.cumsum(counts) / n, 1.0)
    k = vals.size
    # outside F = q +- 12 sd the binomial probability is 0 or 1 to double precision:
    # the bootstrap CDF is 0 before i0, 1 from i1 (and at the last value)
    h = 12 * math.sqrt(max(q * (1 - q), 1.0 / n) / n) + 1.0 / n
    i0 = int(np.searchsorted(F, q - h, side="left"))
    i1 = int(np.searchsorted(F, q + h, side="right"))
    win = stats.binom.sf(m - 1, n, F[i0:i1])
    if i1 == k:
        win[-1] = 1.0

    def search(t: np.ndarray | float) -> np.ndarray:
        """``searchsorted(cdf, t, side="left")`` of the whole bootstrap CDF."""
        j = i0 + np.searchsorted(win, t, side="left")
        return np.where(np.asarray(t) <= 0, 0, np.minimum(j, i1))

    a = (1 - level) / 2
    lo = vals[min(int(search(a)), k - 1)]
    hi = vals[min(int(search(1 - a)), k - 1)]
    j0, j1 = max(i0 - 1, 0), min(i1 + 1, k)
    part = np.concatenate([[0.0] * (i0 - j0), win, [1.0] * (j1 - i1)])
    pmf = np.diff(np.concatenate([[0.0], part]))
    mu = float((pmf * vals[j0:j1]).sum())
    se = float(math.sqrt(max((pmf * (vals[j0:j1] - mu) ** 2).sum(), 0.0)))
    reps = None
    if rng is not None:
        reps = vals[np.minimum(search(rng.random(B)), k - 1)]
    return (float(lo), float(hi)), se, reps


def order_stat_interval(vals: np.ndarray, counts: np.ndarray, q: float,
                        level: float, cum: np.ndarray | None = None
                        ) -> tuple[float, float]:
    """Distribution-free interval for the ``q`` quantile from order statistics.

    ``[x_(r), x_(s)]`` with ``r`` and ``s`` from Binomial(n, q) quantiles, so that
    ``P(x_(r) <= xi_q <= x_(s)) >= level`` for any continuous distribution (and at
    least that for discrete ones). When ``n`` is too small for a bound
    (``q**n`` or ``(1 - q)**n`` exceeds half the error rate) that side is
    infinite: the data cannot bound it without assuming a distribution.

    References
    ----------
    Hahn, G. J. & Meeker, W. Q. (1991). *Statistical Intervals*, section 5.2.
    ``cum`` (``cumsum(counts)``) may be given when several quantiles of one
    variable are computed.
    """
    n = int(counts.sum())
    a = (1 - level) / 2
    r = int(stats.binom.ppf(a, n, q))
    s = int(stats.binom.ppf(1 - a, n, q)) + 1
    if cum is None:
        cum = np.cumsum(counts)
    lo = float(vals[int(np.searchsorted(cum, r, side="left"))]) if r >= 1 \
        else -math.inf
    hi = float(vals[int(np.searchsorted(cum, s, side="left"))]) if s <= n \
        else math.inf
    return (lo, hi)


def min_n_for_quantile(q: float, level: float) -> int:
    """Smallest sample size with a distribution-free interval for quantile ``q``."""
    a = (1 - level) / 2
    p = max(q, 1 - q)
    return int(math.ceil(math.log(a) / math.log(p)))


def distinct_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``x`` (no nan) and how often each occurs.

    The same as ``numpy.unique(x, return_counts=True)``.
    """
    return run_lengths(np.sort(x))


def run_lengths(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the runs of equal neighbours in ``v`` and the length of each.

    For a sorted ``v`` (either direction) these are its distinct values, in the
    order of ``v``, and how often each occurs.
    """
    if v.size == 0:
        return v, np.zeros(0, dtype=np.int64)
    new = np.empty(v.size, dtype=bool)
    new[0] = True
    np.not_equal(v[1:], v[:-1], out=new[1:])
    idx = np.flatnonzero(new)
    counts = np.empty(idx.size, dtype=np.int64)
    np.subtract(idx[1:], idx[:-1], out=counts[:-1])
    counts[-1] = v.size - idx[-1]
    return v[idx], counts


def numeric_summary(var: str, x: np.ndarray, w: np.ndarray | None, *,  # noqa: C901
                    level: float = 0.95, n_boot: int = 1000, seed: int = 0,
                    keep_replicates: bool = False,
                    distinct: tuple[np.ndarray, np.ndarray] | None = None,
                    keep_intervals: bool = False) -> NumericSummary:
    """Mean, quantiles and maximum of ``x`` with their intervals (see Notes).

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
    distinct
        ``distinct_counts`` of the non-missing ``x``, when already computed (used
        for equal weights only).
    keep_intervals
        Keep with each quantile, under ``Estimate.extra["interval"]``, what its
        interval is formed from (:class:`QuantileInterval`), so that it can be
        formed at another level.

    Notes
    -----
    Percentile bootstrap over accounts (Efron & Tibshirani 1993, ch. 13).
    Quantiles are type-1 (inverted CDF), so point values are observed values.
    Equal weights: quantiles get the distribution-free order-statistic interval
    (:func:`order_stat_interval`; one side is infinite, with a warning, when the
    cohort is too small to bound it, e.g. fewer than 367 accounts for the 99th
    percentile at 95%), and bootstrap replicates for comparisons are drawn from
    the exact bootstrap distribution (:func:`_exact_quantile_boot`); the mean gets
    a studentised bootstrap (bootstrap-t) interval from ``n_boot`` resamples up to
    ``MAX_BOOT_N`` accounts (better than the percentile interval for the skewed
    counts profiled here), above which it gets the normal (CLT) interval. Weighted
    cohorts use percentile intervals: accounts are
    resampled with their weights when ``n * n_boot`` is small, else the mean gets a
    linearised normal interval and quantiles Woodruff intervals at Kish's
    effective sample size.
    """
    x = np.asarray(x, dtype=float)
    keep = ~np.isnan(x)
    x = x[keep]
    if w is not None:
        w = np.asarray(w, dtype=float)[keep]
        if w.size == 0 or np.allclose(w, w[0]):
            w = None
    n = int(x.size)
    names = ["mean", *QUANTILES]
    if n == 0:
        ests = tuple(
            Estimate.invalid(f"{var}_{s}", f"no account in the cohort has {var}",
                             n=0, level=level) for s in [*names, "max"])
        return NumericSummary(ests, {})
    probs = list(QUANTILES.values())
    mean = float(x.mean()) if w is None else float((w * x).sum() / w.sum())
    if w is None:
        vals, counts = distinct if distinct is not None else distinct_counts(x)
        cum = np.cumsum(counts)
        F = np.minimum(cum / n, 1.0)
        points = [mean] + [
            float(vals[min(int(np.searchsorted(cum, p * n - 1e-9, side="left")),
                           vals.size - 1)]) for p in probs]
    else:
        points = [mean] + [wquantile(x, w, p) for p in probs]
    rng = np.random.default_rng(seed)
    a = (1 - level) / 2
    z = stats.norm.ppf(1 - a)
    boot = f"percentile bootstrap ({n_boot} replicates, seed {seed})"
    ests: list[Estimate] = []
    reps: dict[str, np.ndarray] = {}
    assum = (BOOT_ASSUMPTION,)

    def add(name: str, pt: float, ci: tuple[float, float], se: float, method: str,
            r: np.ndarray | None, kept: QuantileInterval | None = None) -> None:
        ests.append(Estimate(f"{var}_{name}", pt, ci, level, se, method, n,
                             assumptions=assum,
                             extra={} if kept is None else {"interval": kept}))
        if keep_replicates and r is not None:
            reps[name] = r

    if w is None:
        if n <= MAX_BOOT_N:
            bm, bse = _boot_mean(x, n_boot, rng)
            se = float(x.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (bm - mean) / bse
            t = t[np.isfinite(t)]
            if n >= 3 and se > 0 and t.size >= 0.9 * n_boot:
                tlo, thi = np.quantile(t, [a, 1 - a])
                ci = (mean - float(thi) * se, mean - float(tlo) * se)
            else:  # too few or (almost) constant values: nothing to studentise
                ci = tuple(float(v) for v in np.quantile(bm, [a, 1 - a]))
            add("mean", mean, ci, se, f"bootstrap-t ({n_boot} replicates, seed "
                f"{seed}; Efron & Tibshirani 1993, ch. 12)", bm)
        else:
            se = float(x.std(ddof=1)) / math.sqrt(n)
            add("mean", mean, (mean - z * se, mean + z * se), se,
                "normal interval (CLT)", rng.normal(mean, se, n_boot))
        qrng = rng if keep_replicates else None
        for name, p, pt in zip(QUANTILES, probs, points[1:], strict=True):
            kept = (QuantileInterval("order_statistic", p, vals, counts)
                    if keep_intervals else None)
            ci = order_stat_interval(vals, counts, p, level, cum=cum)
            warn: tuple[str, ...] = ()
            if not all(map(math.isfinite, ci)):
                warn = (f"{n} accounts are too few to bound the {p:g} quantile on "
                        f"both sides at {level:.0%} without assuming a "
                        f"distribution (needs {min_n_for_quantile(p, level)}); the "
                        "open side of the interval is infinite",)
            # bootstrap replicates (exact binomial form) serve group comparisons
            _, se, r = _exact_quantile_boot(vals, counts, p, level, n_boot, qrng,
                                            F=F)
            ests.append(Estimate(f"{var}_{name}", pt, ci, level, se,
                                 "distribution-free order-statistic interval "
                                 "(Hahn & Meeker 1991)", n, warnings=warn,
                                 extra={} if kept is None else {"interval": kept}))
            if keep_replicates and r is not None:
                reps[name] = r
    elif n * n_boot <= CHUNK_CELLS * 5:
        bm, bq = _boot_units(x, w, n_boot, rng, probs)
        cols = [bm] + [bq[:, j] for j in range(len(probs))]
        for name, pt, r in zip(names, points, cols, strict=True):
            lo, hi = np.quantile(r, [a, 1 - a])
            kept = (QuantileInterval("percentile_bootstrap", QUANTILES[name], r)
                    if keep_intervals and name in QUANTILES else None)
            add(name, pt, (float(lo), float(hi)), float(r.std(ddof=1)), boot, r,
                kept)
    else:
        sw = w.sum()
        neff = sw * sw / float((w * w).sum())
        se = math.sqrt(float((w * w * (x - mean) ** 2).sum())) / sw
        add("mean", mean, (mean - z * se, mean + z * se), se,
            "linearised normal interval (weighted)", rng.normal(mean, se, n_boot))
        cdf = weighted_cdf(x, w) if keep_intervals else None
        for name, p, pt in zip(QUANTILES, probs, points[1:], strict=True):
            h = z * math.sqrt(p * (1 - p) / neff)
            ci = (wquantile(x, w, max(p - h, 0.0)), wquantile(x, w, min(p + h, 1.0)))
            kept = (None if cdf is None else
                    QuantileInterval("woodruff", p, cdf[0], cdf=cdf[1], n_eff=neff))
            add(name, pt, ci, float("nan"), "Woodruff interval (Kish n_eff)", None,
                kept)
    mx = float(x.max())
    ests.append(Estimate(f"{var}_max", mx, (mx, mx), level, 0.0,
                         "observed maximum (no sampling interval)", n))
    return NumericSummary(tuple(ests), reps)
