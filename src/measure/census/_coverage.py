"""Coverage of the census frame: a dual-system estimate of supporters it missed.

The census counts supporter accounts *in the snowball frame*. An independent list
of supporter accounts (the ``detections`` table: hashtag users, user reports,
media mentions, ...) tells how much of the population the frame holds: among the
``n2`` distinct detected accounts, ``m`` are in the frame, so the frame's coverage
of supporters is estimated by ``C = m / n2`` and the number of supporter accounts
on the platform by the dual-system estimate (DSE)

    N = T_frame / C = T_frame * n2 / m,

with ``T_frame`` the census estimate of supporters in the frame (system 1 = the
frame, system 2 = the detections; Sekar & Deming 1949, Wolter 1986). Supporters
the frame missed: ``N - T_frame = T_frame * (n2 - m) / m``.

Interval
--------
``log N = log T_frame - log C``. The census interval of ``T_frame`` and the Wilson
score interval of ``C`` (``m`` successes in ``n2`` trials) are combined on the log
scale by MOVER (Zou & Donner 2008)::

    low  = exp(log N - sqrt((log T - log T_low)^2 + (log C_high - log C)^2))
    high = exp(log N + sqrt((log T_high - log T)^2 + (log C - log C_low)^2))

so with a census total taken as exact the interval of ``N`` is ``T / (Wilson
limits of C)``. The Wilson interval carries the finite-population correction
``1 - n2 / N``, estimated by ``1 - m s / T_frame`` (the share of frame supporters
detected; ``s`` is the coded supporter share among detected accounts in the frame,
1 without labels). Given the frame, the detected accounts are drawn from the
``N`` supporters, so ``m`` is hypergeometric given ``n2``; with the correction,
the delta-method variance is Wolter's (1986) ``N (1 - p1)(1 - p2) / (p1 p2)``,
where ``p1`` is the frame's coverage and ``p2`` the detection probability.
Without it the interval is too wide whenever the lists catch a large share of
supporters (on simulated ``small`` worlds, where they catch about half, it covered
the truth in 40 of 40 worlds, against 38 of 40 with it). The missed count
``log M = log T + log((1 - C) / C)`` uses the Wilson limits of the odds
``(1 - C) / C`` in the same way. Standard errors are the delta-method ones.

False detections
----------------
Detected accounts may be non-supporters. Coded labels of detected accounts *in
the frame* estimate the supporter share ``s_in`` among them; detected accounts
outside the frame are never coded, so their share ``s_out`` is not identified.

* With ``s_out = s_in`` (the same false-detection share inside and outside the
  frame) the correction cancels exactly: ``C = m s / (n2 s) = m / n2``. This is the
  headline estimate, with or without labels.
* With ``s_out = 1`` (every false detection is a frame account, every detected
  account outside the frame a supporter) ``C_b = m s_in / (m s_in + n2 - m)``: the
  lowest coverage, hence the largest number on the platform, the coded share
  allows (``s_out = 0`` gives the trivial ``N = T_frame``). It is reported as
  :attr:`FrameCoverage.false_detection_bound`. ``logit C_b = logit C + log s_in``;
  its interval combines the Wilson limits of ``C`` (logit scale) and of ``s_in``
  (log scale, Kish effective size of the ``1 / inclusion_prob`` weights) by MOVER.

Correlation bias
----------------
The DSE assumes that, among supporters, being in the frame and being detected are
independent. When they are positively correlated (prominent or active accounts are
both crawled and detected), detected accounts are more often in the frame than
supporters at large, ``C`` is too high and ``N`` too low: the estimate is then a
lower bound for the number on the platform (Wolter 1986, §3). Negative correlation
biases it upward. Heterogeneous detection alone (some supporters easier to detect)
does no harm as long as it is unrelated to frame membership.

References
----------
* Sekar, C. C. & Deming, W. E. (1949). On a method of estimating birth and death
  rates and the extent of registration. *JASA* 44, 101-115.
* Wolter, K. M. (1986). Some coverage error models for census data. *JASA* 81,
  338-346.
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
* Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
  measures: a general approach. *Statistics in Medicine* 27, 1693-1702.
* Kish, L. (1965). *Survey Sampling*, §11.7 (effective sample size of weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate, _fmt
from measure._stats import mover_product, mover_sum, normal_quantile, wilson_interval

TERM_ON_PLATFORM = "supporters_on_platform"
TERM_MISSED = "supporters_missed_by_frame"
TERM_COVERAGE = "frame_coverage"
TERM_BOUND = "supporters_on_platform_false_detections_in_frame"
TERM_SHARE = "supporter_share_of_detected_in_frame"

METHOD = ("dual-system estimate T_frame * n2 / m (Sekar & Deming 1949; Wolter "
          "1986); CI: census interval of T_frame and Wilson (FPC) interval of "
          "m / n2 combined on the log scale by MOVER (Zou & Donner 2008)")
METHOD_COVERAGE = ("share of distinct detected accounts that are in the frame, "
                   "m / n2; Wilson score interval with finite-population "
                   "correction 1 - m s / T_frame (s: coded supporter share among "
                   "detected accounts in the frame, 1 without labels)")
METHOD_MISSED = ("T_frame * (n2 - m) / m; CI: census interval of T_frame and "
                 "Wilson (FPC) limits of the odds (n2 - m) / m combined on the "
                 "log scale by MOVER")
METHOD_BOUND = ("T_frame / C_b with C_b = m s / (m s + n2 - m), s the coded "
                "supporter share among detected accounts in the frame; CI: MOVER "
                "of the Wilson limits of m / n2 (logit) and of s (log, Kish "
                "effective size), then of T_frame (log)")

ASSUMPTIONS = (
    "frame membership and detection are independent among supporters (no "
    "correlation bias); if accounts in the frame are more likely to be detected "
    "(prominent or active accounts are both crawled and detected) the coverage is "
    "too high and supporters_on_platform too low (a lower bound in that sense)",
    "the detections and the frame refer to the same population at the same time "
    "(closed population: detected accounts were alive at the census)",
    "detected accounts are matched to frame accounts without error (same "
    "account_id)",
    "detections are supporters, or non-supporters make up the same share of the "
    "detected accounts inside and outside the frame (then the share cancels)",
)

#: Source names that denote the snowball itself, which is not independent of it.
_FRAME_SOURCES = ("snowball", "census", "frame")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def _estimate_dict(e: Estimate) -> dict[str, Any]:
    """``Estimate.to_dict`` with infinite limits as ``None`` (plain JSON)."""
    d = e.to_dict()
    d["ci"] = [_clean(v) for v in d["ci"]]
    d["std_error"] = _clean(d["std_error"])
    return d


@dataclass(frozen=True)
class FrameCoverage:
    """Dual-system estimate of the census frame's coverage of supporter accounts.

    Attributes
    ----------
    on_platform
        Supporter accounts on the platform, ``T_frame * n2 / m``.
    missed
        Supporter accounts the frame missed, ``T_frame * (n2 - m) / m``.
    coverage
        Share of detected supporters that the frame holds, ``m / n2``.
    n_detected, n_detected_in_frame
        ``n2`` (distinct detected accounts over the sources used) and ``m``.
    sources
        The detection sources used (their union is system 2).
    assumptions, warnings
        What the estimate assumes, and diagnostics.
    false_detection_bound
        Supporters on the platform if every detected account outside the frame is
        a supporter while detected accounts in the frame are supporters at the
        coded share: the largest value the coded labels allow. "Does not apply"
        without coded detected accounts in the frame.
    detected_supporter_share
        Weighted share of supporters among coded detected accounts in the frame.
    by_source
        One row per source, each used alone as system 2: ``source, n_detected,
        n_in_frame, coverage, coverage_low, coverage_high, on_platform, ci_low,
        ci_high``. Sources that disagree beyond their intervals point to
        heterogeneous detection related to frame membership.
    level
        Confidence level of every interval.
    """

    on_platform: Estimate
    missed: Estimate
    coverage: Estimate
    n_detected: int
    n_detected_in_frame: int
    sources: tuple[str, ...]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    false_detection_bound: Estimate = field(
        default_factory=lambda: Estimate.invalid(TERM_BOUND, "no labels given"))
    detected_supporter_share: Estimate = field(
        default_factory=lambda: Estimate.invalid(TERM_SHARE, "no labels given"))
    by_source: pl.DataFrame | None = field(default=None, compare=False)
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (nan and infinity become ``None``)."""
        rows = []
        if self.by_source is not None:
            rows = [{k: _clean(v) for k, v in r.items()}
                    for r in self.by_source.to_dicts()]
        return {
            "on_platform": _estimate_dict(self.on_platform),
            "missed": _estimate_dict(self.missed),
            "coverage": _estimate_dict(self.coverage),
            "false_detection_bound": _estimate_dict(self.false_detection_bound),
            "detected_supporter_share": _estimate_dict(
                self.detected_supporter_share),
            "n_detected": self.n_detected,
            "n_detected_in_frame": self.n_detected_in_frame,
            "sources": list(self.sources),
            "by_source": rows,
            "level": self.level,
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Return a few lines for the text output."""

        def line(e: Estimate, label: str) -> str:
            if not e.valid:
                return f"  {label}: not available ({e.reason})"
            return (f"  {label}: {_fmt(e.estimate)} ({e.level:.0%} CI "
                    f"{_fmt(e.ci[0])} to {_fmt(e.ci[1])})")

        out = [
            f"Frame coverage (dual-system estimate; {self.n_detected:,} detected "
            f"accounts from {len(self.sources)} source(s), "
            f"{self.n_detected_in_frame:,} in the frame):",
            line(self.coverage, "coverage of supporters by the frame"),
            line(self.on_platform, "supporters on the platform"),
            line(self.missed, "supporters missed by the frame"),
        ]
        if self.false_detection_bound.valid:
            out.append(line(self.false_detection_bound,
                            "on the platform if false detections are all in "
                            "the frame"))
        out.append("  assumes: frame membership and detection independent among "
                   "supporters (otherwise, if positively correlated, the number "
                   "on the platform is too low)")
        out.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(out)


# -- small helpers ---------------------------------------------------------------


def _log(x: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(x)) if x > 0 else -math.inf


def _census_parts(t: Estimate, level: float) -> tuple[float, float, float, float, str]:
    """``(T, T_low, T_high, se(log T), note)`` of the census total.

    A census total without an interval is treated as exact (``note`` says so).
    """
    est = float(t.estimate)
    lo, hi = (float(t.ci[0]), float(t.ci[1]))
    se = float(t.std_error)
    note = ""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        if math.isfinite(se):
            z = normal_quantile(level)
            lo, hi = max(est - z * se, 0.0), est + z * se
        else:
            lo = hi = est
            se = 0.0
            note = ("the census total carries no interval: the intervals cover "
                    "the detection sampling only")
    lo, hi = min(lo, est), max(hi, est)
    if not math.isfinite(se):
        se = (hi - lo) / (2 * normal_quantile(level))
    return est, lo, hi, (se / est if est > 0 else math.nan), note


@dataclass(frozen=True)
class _Dse:
    coverage: float
    c_low: float
    c_high: float
    c_se: float
    on_platform: float
    n_low: float
    n_high: float
    n_se: float
    missed: float
    m_low: float
    m_high: float
    m_se: float
    fpc: float


def _dse(t: float, t_lo: float, t_hi: float, rse_t: float, n2: int, m: int,
         level: float, finite_population: bool, share: float = 1.0) -> _Dse:
    """Point estimates, intervals and delta-method SEs of ``C``, ``N`` and ``M``.

    ``share`` is the supporter share among detected accounts in the frame; the
    finite-population fraction is ``m * share / t`` (detected supporters in the
    frame over supporters in the frame).
    """
    c = m / n2
    n_hat = t / c
    f = m * share / t if finite_population and 0 < m * share < t else 0.0
    big_n = n2 / f if f > 0 else None
    lo, hi = wilson_interval(m, n2, N=big_n, level=level)
    c_lo, c_hi = float(lo), float(hi)
    c_se = math.sqrt(c * (1 - c) * (1 - f) / n2)
    n_lo, n_hi = mover_product(n_hat, [(t, t_lo, t_hi), (1 / c, 1 / c_hi,
                                                         1 / c_lo if c_lo > 0
                                                         else math.inf)])
    n_se = n_hat * math.sqrt(rse_t**2 + (1 - c) * (1 - f) / m)
    u = n2 - m
    miss = t * u / m
    if u > 0:
        odds = u / m
        o_lo = (1 - c_hi) / c_hi
        o_hi = (1 - c_lo) / c_lo if c_lo > 0 else math.inf
        m_lo, m_hi = mover_product(miss, [(t, t_lo, t_hi), (odds, o_lo, o_hi)])
        m_se = miss * math.sqrt(rse_t**2 + (1 - f) * (1 / u + 1 / m))
    else:
        # nothing detected outside the frame: 0 missed, upper limit from the
        # upper limits of both parts (conservative)
        m_lo = 0.0
        m_hi = t_hi * (1 - c_lo) / c_lo if c_lo > 0 else math.inf
        m_se = math.nan
    return _Dse(c, c_lo, c_hi, c_se, n_hat, n_lo, n_hi, n_se, miss, m_lo, m_hi,
                m_se, f)


def _supporter_share(labels: pl.DataFrame, in_frame_ids: pl.Series, level: float
                     ) -> tuple[float, float, float, int, int] | None:
    """Weighted supporter share among coded detected accounts in the frame.

    Returns ``(s, low, high, n_coded, n_supporters)`` or ``None`` when no detected
    account in the frame is coded. ``unclear`` counts as non-supporter (as in the
    census estimate); weights are ``1 / inclusion_prob`` (1 when missing) and the
    Wilson interval uses the Kish effective sample size.
    """
    from measure.census._analyze import resolve_labels

    per, _pairs = resolve_labels(labels)
    per = per.with_columns(pl.col("account_id").cast(in_frame_ids.dtype,
                                                     strict=False))
    coded = per.filter(pl.col("account_id").is_in(in_frame_ids.implode()))
    if coded.height == 0:
        return None
    y = (coded["label"] == "supporter").cast(pl.Float64).to_numpy()
    ip = coded["inclusion_prob"].cast(pl.Float64).fill_null(1.0).to_numpy()
    w = 1.0 / np.clip(ip, 1e-12, 1.0)
    s = float(np.sum(w * y) / np.sum(w))
    neff = float(np.sum(w) ** 2 / np.sum(w**2))
    lo, hi = wilson_interval(s * neff, neff, level=level)
    return s, float(lo), float(hi), int(coded.height), int(y.sum())


def _bound(t: float, t_lo: float, t_hi: float, rse_t: float, d: _Dse, n2: int,
           m: int, share: tuple[float, float, float, int, int], level: float
           ) -> Estimate:
    """Supporters on the platform if false detections are all frame accounts."""
    s, s_lo, s_hi, n_coded, _x = share
    u = n2 - m
    if s <= 0:
        return Estimate.invalid(
            TERM_BOUND, f"none of the {n_coded} coded detected account(s) in the "
            "frame is a supporter: the bound is infinite", method=METHOD_BOUND,
            level=level, n=n_coded)
    if u == 0:
        # no detected account outside the frame: C_b = 1, the bound is T_frame
        return Estimate(TERM_BOUND, t, (t_lo, t_hi), level, rse_t * t, METHOD_BOUND,
                        n_coded)
    lc = math.log(d.coverage / (1 - d.coverage))
    lc_lo = math.log(d.c_low / (1 - d.c_low)) if d.c_low > 0 else -math.inf
    lc_hi = math.log(d.c_high / (1 - d.c_high)) if d.c_high < 1 else math.inf
    ls = math.log(s)
    lb, lb_lo, lb_hi = mover_sum([lc, ls], [lc_lo, _log(s_lo)], [lc_hi, _log(s_hi)])

    def expit(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if math.isfinite(x) else float(x > 0)

    cb, cb_lo, cb_hi = expit(lb), expit(lb_lo), expit(lb_hi)
    nb = t / cb
    lo, hi = mover_product(nb, [(t, t_lo, t_hi),
                                (1 / cb, 1 / cb_hi, 1 / cb_lo if cb_lo > 0
                                 else math.inf)])
    # delta method: var(logit C) = (1 - f)(1/m + 1/u); var(log s) from its interval
    rse_s = ((math.log(s_hi) - math.log(s_lo)) / (2 * normal_quantile(level))
             if s_lo > 0 else math.nan)
    var_lcb = (1 - d.fpc) * (1 / m + 1 / u) + rse_s**2
    se = nb * math.sqrt(rse_t**2 + (1 - cb) ** 2 * var_lcb)
    return Estimate(
        TERM_BOUND, nb, (lo, hi), level, se, METHOD_BOUND, n_coded,
        ("every detected account outside the frame is a supporter and the detected "
         "accounts in the frame are supporters at the coded share: the largest "
         "number on the platform the coded labels allow",
         "coded detected accounts in the frame are a random sample of them "
         "(weights 1 / inclusion_prob) and their labels are correct"),
        extra={"coverage": cb, "coverage_ci": (cb_lo, cb_hi)})


def _by_source(det: pl.DataFrame, frame_ids: pl.Series, t: float, t_lo: float,
               t_hi: float, rse_t: float, level: float, finite_population: bool,
               share: float) -> pl.DataFrame:
    """Coverage and DSE with each source alone as system 2."""
    rows = []
    for src in sorted(det["source"].unique().to_list()):
        ids = det.filter(pl.col("source") == src)["account_id"].unique()
        n2 = ids.len()
        m = int(ids.is_in(frame_ids.implode()).sum())
        row: dict[str, Any] = {"source": src, "n_detected": n2, "n_in_frame": m}
        if m > 0 and t > 0:
            d = _dse(t, t_lo, t_hi, rse_t, n2, m, level, finite_population,
                     share)
            row |= {"coverage": d.coverage, "coverage_low": d.c_low,
                    "coverage_high": d.c_high, "on_platform": d.on_platform,
                    "ci_low": d.n_low, "ci_high": d.n_high}
        else:
            lo, hi = wilson_interval(m, n2, level=level)
            row |= {"coverage": m / n2, "coverage_low": float(lo),
                    "coverage_high": float(hi), "on_platform": math.nan,
                    "ci_low": math.nan, "ci_high": math.nan}
        rows.append(row)
    schema = {"source": pl.Utf8, "n_detected": pl.Int64, "n_in_frame": pl.Int64,
              "coverage": pl.Float64, "coverage_low": pl.Float64,
              "coverage_high": pl.Float64, "on_platform": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


# -- the estimator ------------------------------------------------------------------


def frame_coverage(detections: pl.DataFrame, frame_ids: pl.Series,
                   in_frame: Estimate, *, labels: pl.DataFrame | None = None,
                   level: float = 0.95, sources: Sequence[str] | None = None,
                   finite_population: bool = True) -> FrameCoverage | None:
    """Dual-system estimate of supporters on the platform and missed by the frame.

    Parameters
    ----------
    detections
        The ``detections`` table (``account_id, source``; ``docs/data-contract.md``):
        independent lists of supporter accounts.
    frame_ids
        ``account_id`` of every account in the census frame.
    in_frame
        The census estimate of supporter accounts in the frame (``estimate``,
        ``ci``, ``std_error``), e.g. ``measure.census.analyze(ds).estimate``.
    labels
        The ``labels`` table (optional). Coded detected accounts in the frame give
        the supporter share among detections, the diagnostic
        :attr:`FrameCoverage.detected_supporter_share` and the bound
        :attr:`FrameCoverage.false_detection_bound`; they do not change the
        headline point estimate (see Notes), only its finite-population
        correction.
    level
        Confidence level of every interval.
    sources
        Detection sources to use (their union is system 2); default all. A source
        that is itself the snowball is not independent of the frame: leave it out.
    finite_population
        Apply the finite-population correction ``1 - m s / T_frame`` to the
        binomial variance of the coverage (the detected accounts are a sample
        without replacement of the supporters; ``s`` is the coded supporter share
        among detected accounts in the frame, 1 without labels).

    Returns
    -------
    FrameCoverage or None
        ``None`` when there are no detections (no table, no rows, or none from the
        requested sources): there is nothing to estimate coverage from. When no
        detected account is in the frame (``m = 0``) the coverage is 0 (with its
        interval) and ``on_platform`` and ``missed`` are "does not apply" (the
        estimate is infinite); they are also "does not apply" when the census
        estimate is.

    Notes
    -----
    ``N = T_frame * n2 / m`` with ``n2`` the distinct detected accounts and ``m``
    those in the frame; interval from the census interval of ``T_frame`` and the
    Wilson interval (with finite-population correction) of ``m / n2``, combined on
    the log scale by MOVER (module docstring). The estimate assumes frame
    membership and detection independent among supporters; positive correlation
    (accounts in the frame easier to detect) makes it too low.

    With non-supporters among the detections, the headline assumes they make up the
    same share of detected accounts inside and outside the frame, in which case
    the share cancels from ``m / n2``. Only detected accounts in the frame can be
    coded, so that assumption cannot be checked; the bound with every detected
    account outside the frame a supporter is reported beside it.
    """
    if detections is None or detections.height == 0:
        return None
    det = detections.select("account_id", pl.col("source").cast(pl.Utf8))
    if sources is not None:
        det = det.filter(pl.col("source").is_in(list(sources)))
        if det.height == 0:
            return None
    warns: list[str] = []
    fids = frame_ids.unique()
    if fids.dtype != det["account_id"].dtype:
        fids = fids.cast(pl.Utf8)
        det = det.with_columns(pl.col("account_id").cast(pl.Utf8))
    used = tuple(sorted(det["source"].unique().to_list()))
    named = [s for s in used if s.lower().split(":")[0] in _FRAME_SOURCES]
    if named:
        warns.append("source(s) " + ", ".join(named) + " look like the snowball "
                     "itself, which is not independent of the frame and biases the "
                     "coverage upward; pass sources=... without them")
    ids = det["account_id"].unique()
    n2 = int(ids.len())
    in_ids = ids.filter(ids.is_in(fids.implode()))
    m = int(in_ids.len())
    assumptions = ASSUMPTIONS

    # coverage is defined whatever the census says
    t_valid = in_frame.valid and math.isfinite(float(in_frame.estimate))
    t = float(in_frame.estimate) if t_valid else math.nan
    if t_valid:
        t, t_lo, t_hi, rse_t, note = _census_parts(in_frame, level)
        if note:
            warns.append(note)
        if t < m:
            warns.append(
                f"the census estimate of supporters in the frame ({_fmt(t)}) is "
                f"below the {m:,} detected accounts in the frame: the detections "
                "hold non-supporters or the census total is too low; no "
                "finite-population correction is applied")
    extra = {"n2": n2, "m": m, "n_outside_frame": n2 - m}

    # supporter share among coded detected accounts in the frame
    share = None
    share_est = Estimate.invalid(TERM_SHARE, "no labels given", level=level)
    if labels is not None and labels.height and m > 0:
        share = _supporter_share(labels, in_ids, level)
        if share is None:
            share_est = Estimate.invalid(
                TERM_SHARE, "no detected account in the frame is coded: the share "
                "of false detections is not estimable", level=level)
        else:
            s, s_lo, s_hi, nc, xs = share
            share_est = Estimate(
                TERM_SHARE, s, (s_lo, s_hi), level,
                method="weighted (1 / inclusion_prob) share of supporters among "
                "coded detected accounts in the frame; Wilson interval with Kish "
                "effective size", n=nc, extra={"n_supporters": xs})
            if xs < nc:
                warns.append(
                    f"{nc - xs} of {nc} coded detected account(s) in the frame are "
                    f"coded non-supporters (weighted supporter share {s:.2f}): "
                    "either the detections hold non-supporters or the coders miss "
                    "supporters; the estimate assumes that detected accounts "
                    "outside the frame hold the same share (see "
                    "false_detection_bound for the case where all false detections "
                    "are in the frame)")

    if m == 0:
        lo, hi = wilson_interval(0, n2, level=level)
        cov = Estimate(TERM_COVERAGE, 0.0, (0.0, float(hi)), level, 0.0,
                       METHOD_COVERAGE, n2, assumptions, extra=extra)
        reason = (f"none of the {n2:,} detected accounts is in the frame (m = 0): "
                  "the dual-system estimate is infinite")
        return FrameCoverage(
            Estimate.invalid(TERM_ON_PLATFORM, reason, method=METHOD, level=level,
                             n=n2),
            Estimate.invalid(TERM_MISSED, reason, method=METHOD_MISSED, level=level,
                             n=n2),
            cov, n2, 0, used, assumptions, tuple(warns + [reason]),
            Estimate.invalid(TERM_BOUND, reason, level=level),
            share_est, None, level)

    if not t_valid or t <= 0:
        reason = ("the census estimate of supporters in the frame is not available"
                  + (f" ({in_frame.reason})" if in_frame.reason else "")
                  if not t_valid else
                  "the census estimate of supporters in the frame is 0")
        c = m / n2
        lo, hi = wilson_interval(m, n2, level=level)
        cov = Estimate(TERM_COVERAGE, c, (float(lo), float(hi)), level,
                       math.sqrt(c * (1 - c) / n2), METHOD_COVERAGE, n2,
                       assumptions, extra=extra)
        return FrameCoverage(
            Estimate.invalid(TERM_ON_PLATFORM, reason, method=METHOD, level=level,
                             n=n2),
            Estimate.invalid(TERM_MISSED, reason, method=METHOD_MISSED, level=level,
                             n=n2),
            cov, n2, m, used, assumptions, tuple(warns),
            Estimate.invalid(TERM_BOUND, reason, level=level), share_est, None,
            level)

    s_fpc = share[0] if share is not None and share[0] > 0 else 1.0
    d = _dse(t, t_lo, t_hi, rse_t, n2, m, level, finite_population, s_fpc)
    extra = extra | {"finite_population_fraction": d.fpc, "T_frame": t}
    ew = tuple(warns)
    coverage = Estimate(TERM_COVERAGE, d.coverage, (d.c_low, d.c_high), level,
                        d.c_se, METHOD_COVERAGE, n2, assumptions, ew, extra=extra)
    on_platform = Estimate(TERM_ON_PLATFORM, d.on_platform, (d.n_low, d.n_high),
                           level, d.n_se, METHOD, n2, assumptions, ew, extra=extra)
    missed = Estimate(TERM_MISSED, d.missed, (d.m_low, d.m_high), level, d.m_se,
                      METHOD_MISSED, n2, assumptions, ew, extra=extra)
    if share is not None:
        bound = _bound(t, t_lo, t_hi, rse_t, d, n2, m, share, level)
    else:
        bound = Estimate.invalid(TERM_BOUND, share_est.reason or "no labels given",
                                 method=METHOD_BOUND, level=level)
    by_src = _by_source(det, fids, t, t_lo, t_hi, rse_t, level, finite_population,
                        s_fpc)
    return FrameCoverage(on_platform, missed, coverage, n2, m, used, assumptions,
                         ew, bound, share_est, by_src, level)
