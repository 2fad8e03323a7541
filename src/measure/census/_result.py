"""The frozen result of a census estimate."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._contract import ResultMixin, fmt_ci, fmt_num
from measure._results import Estimate, _fmt, estimates_to_polars


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def _count(v: Any) -> Any:
    """Return a count as an ``int`` when it is a whole number (``10``, not ``10.0``).

    A count carried through floating-point arithmetic (``391.99999999999994``) is
    rounded when within ``1e-9`` (relative) of a whole number.
    """
    v = _clean(v)
    if isinstance(v, float) and abs(v - round(v)) <= 1e-9 * max(1.0, abs(v)):
        return int(round(v))
    return v


@dataclass(frozen=True, eq=False)
class HeadlineBasis:
    """What :meth:`CensusResult.conf_int` needs to recompute the headline interval.

    Attributes
    ----------
    N, n, x
        Per stratum: accounts, coded accounts and coded supporters.
    draws
        Posterior draws of the headline total (coder-error model and sampling).
    sensitivity, specificity
        Known coder error rates, when given (the headline is then the
        Rogan–Gladen corrected total).
    identified
        Whether the coder model's error rates are identified by the coded data
        (if not, the interval is widened to the misclassification grid's).
    """

    N: np.ndarray
    n: np.ndarray
    x: np.ndarray
    draws: np.ndarray
    sensitivity: float | None = None
    specificity: float | None = None
    identified: bool = True


@dataclass(frozen=True, eq=False)
class CensusResult(ResultMixin):
    """Number of supporter accounts in a census frame, with bounds and diagnostics.

    Satisfies the result contract (:class:`measure._contract.Result`); the
    headline interval is recomputed at another level by ``conf_int(level)``: from
    the kept posterior draws of the headline total (equal-tailed), widened to the
    misclassification grid's intervals at that level when the coder error rates are
    not identified, or, with known coder error rates, by the same Wilson–MOVER
    interval through the Rogan–Gladen correction.

    Attributes
    ----------
    estimate
        The headline: supporter accounts in the frame, corrected for coder error
        estimated from the coded data (latent-class model, posterior median and
        interval); with coder sensitivity and specificity given, the Rogan-Gladen
        corrected total instead. When the coded data do not identify coder error,
        the interval is widened to bounds and a warning says so.
    uncorrected
        Stratified estimate taking every label as correct (``unclear`` counted as
        non-supporter), interval from per-stratum Wilson limits combined by MOVER.
    lower_bound, upper_bound
        Brookings-style bounds: ``at least`` = sum over high-precision strata of
        ``N_h`` x one-sided lower Wilson bound of ``p_h``; ``at most`` = sum over all
        strata of ``N_h`` x one-sided upper bound with ``unclear`` counted as
        supporter. Reported beside the interval, never instead of it.
    lower_bound_all
        The "at least" sum taken over every stratum.
    model_assisted
        Difference (GREG-type) estimate with a logistic working model.
    corrected
        Stratified estimate corrected for coder misclassification (Rogan-Gladen)
        when sensitivity and specificity were given, else ``None``.
    classifier_corrected
        Frame classifier's predicted positives corrected with the classifier's
        out-of-fold sensitivity and specificity (methodology E5).
    kappa
        Cohen's kappa on double-coded accounts.
    strata
        One row per stratum: ``name, level, N, n, supporters, unclear, p_hat,
        ci_low, ci_high, mean_metric, high``.
    frame_size, frame_levels, n_coded, metric, design
        Frame size (and by level and tier), coded accounts, sorting metric, and how
        the design was read.
    sensitivity_grid
        Corrected totals over a grid of coder sensitivity and specificity.
    precision
        Weighted precision of coded accounts by band of ``metric`` (for the plot).
    population
        ``account_id, level, p_supporter, predicted, label`` for every frame
        account (the classifier applied to the whole frame), or ``None``.
    coder_error
        Coder error estimated from the coded data (plain JSON: sensitivity,
        specificity and ``unclear`` rates per coder with intervals, whether they are
        identified and why not, counts of multiply coded and adjudicated accounts).
    frame_coverage
        Dual-system estimate of the supporters the frame misses, from the
        ``detections`` lists (:class:`measure.census.FrameCoverage`), or ``None``.
    posterior
        Posterior draws of the latent-class model (``CoderPosterior``), or ``None``.
    frame_info
        What the frame used and left out (``measure.census.FrameInfo.to_dict()``:
        edges read/used/left out, crawled accounts unreachable from the seeds,
        superseded collections), or ``None``.
    dataset
        Id of the dataset analysed (``name@sha256:<digest>`` once pinned), when the
        analysis records it.
    options
        The options asked for (at least ``level`` and ``metric``).
    timings
        Seconds per stage, where measured.
    """

    family = "census"
    unit = "accounts"

    estimate: Estimate
    lower_bound: Estimate
    upper_bound: Estimate
    lower_bound_all: float
    model_assisted: Estimate
    corrected: Estimate | None
    classifier_corrected: Estimate
    kappa: Estimate
    strata: pl.DataFrame
    frame_size: int
    frame_levels: pl.DataFrame
    n_coded: int
    metric: str
    design: str
    sensitivity_grid: pl.DataFrame
    precision: pl.DataFrame
    population: pl.DataFrame | None = None
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    frame_info: dict[str, Any] | None = None
    uncorrected: Estimate | None = None
    coder_error: dict[str, Any] | None = None
    frame_coverage: Any = None
    posterior: Any = field(default=None, repr=False)
    headline_basis: HeadlineBasis | None = field(default=None, repr=False)
    dataset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        recorded = {"level": self.estimate.level, "metric": self.metric}
        object.__setattr__(self, "options", recorded | dict(self.options))
        super().__post_init__()

    # -- accessors reading the same numbers as the table ----------------------------
    @property
    def ci(self) -> tuple[float, float]:
        """Interval of the headline estimate."""
        return self.estimate.ci

    @property
    def method(self) -> str:
        """Method of the headline estimate."""
        return self.estimate.method

    def headline_sentence(self) -> str:
        """Return the report's headline: the estimate, its interval, the bounds."""
        return (
            f"An estimated {fmt_ci(self.estimate)} supporter accounts in a frame of "
            f"{self.frame_size:,} accounts. Bounds in the census's sense: at least "
            f"{fmt_num(self.lower_bound.estimate)} (high-precision strata only), at "
            f"most {fmt_num(self.upper_bound.estimate)} (every stratum, 'unclear' "
            "counted as supporter)."
        )

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Headline interval at ``level`` from :attr:`headline_basis`."""
        b = self.headline_basis
        if b is None:
            return super()._recompute_ci(level)
        from measure.census import _estimate as est
        from measure.census._analyze import GRID

        if b.sensitivity is not None and b.specificity is not None:
            c = est.corrected_stratified_total(
                b.N, b.n, b.x, sensitivity=b.sensitivity,
                specificity=b.specificity, level=level)
            return (float(c.ci[0]), float(c.ci[1]))
        a = (1 - level) / 2
        lo, hi = (float(v) for v in np.quantile(b.draws, [a, 1 - a]))
        if not b.identified:
            grid = est.misclassification_grid(
                b.N, b.n, b.x, sensitivities=GRID[0], specificities=GRID[1],
                level=level)
            lo = min(lo, min(r["ci_low"] for r in grid))
            hi = max(hi, max(r["ci_high"] for r in grid))
        return (lo, hi)

    def _no_recompute_reason(self) -> str:
        return "the result holds no posterior draws of the headline"

    def estimates(self) -> list[Estimate]:
        """Every estimate held, headline first."""
        out = [self.estimate]
        if self.uncorrected is not None:
            out.append(self.uncorrected)
        out += [self.lower_bound, self.upper_bound, self.model_assisted]
        if self.corrected is not None:
            out.append(self.corrected)
        out += [self.classifier_corrected, self.kappa]
        return out

    def to_polars(self) -> pl.DataFrame:
        """Tidy table (``term, estimate, std_error, ci_low, ci_high, level``)."""
        return estimates_to_polars(self.estimates())

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view; exactly what ``measure census DATASET --json`` prints."""
        strata = [
            {"name": r["name"], "level": r["level"], "N": _count(r["N"]),
             "n": r["n"], "supporters": r["supporters"], "unclear": r["unclear"],
             "p_hat": _clean(r["p_hat"]), "ci": [_clean(r["ci_low"]),
                                                 _clean(r["ci_high"])],
             "high": r["high"],
             "supporters_corrected": _clean(r.get("supporters_corrected")),
             "supporters_corrected_ci": [_clean(r.get("corrected_low")),
                                         _clean(r.get("corrected_high"))]}
            for r in self.strata.iter_rows(named=True)
        ]
        e = self.estimate
        return {
            "headline": self.headline_dict(),
            "dataset": self.dataset,
            "options": dict(self.options),
            "timings": dict(self.timings),
            "estimate": _clean(e.estimate),
            "ci": [_clean(e.ci[0]), _clean(e.ci[1])],
            "level": e.level,
            "std_error": _clean(e.std_error),
            "lower_bound": _clean(self.lower_bound.estimate),
            "upper_bound": _clean(self.upper_bound.estimate),
            "lower_bound_all_strata": _clean(self.lower_bound_all),
            "frame_size": self.frame_size,
            "frame_levels": self.frame_levels.to_dicts(),
            "n_coded": self.n_coded,
            "strata": strata,
            "method": e.method,
            "metric": self.metric,
            "design": self.design,
            "model_assisted": self.model_assisted.to_dict(),
            "corrected": None if self.corrected is None else self.corrected.to_dict(),
            "classifier_corrected": self.classifier_corrected.to_dict(),
            "kappa": self.kappa.to_dict(),
            "sensitivity_grid": self.sensitivity_grid.to_dicts(),
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
            "frame": self.frame_info,
            "uncorrected": (None if self.uncorrected is None
                            else self.uncorrected.to_dict()),
            "coder_error": self.coder_error,
            "frame_coverage": (None if self.frame_coverage is None
                               else self.frame_coverage.to_dict()),
        }

    def summary(self) -> str:
        """Text summary: headline, bounds, strata, alternatives, assumptions."""
        e = self.estimate
        lines = [
            self.headline_sentence(),
            f"Census of supporter accounts in the frame ({self.design})",
            f"  frame: {self.frame_size:,} accounts; coded: {self.n_coded:,}; "
            f"metric: {self.metric}",
            f"  estimate: {_fmt(e.estimate)} ({e.level:.0%} CI {_fmt(e.ci[0])} to "
            f"{_fmt(e.ci[1])}; SE {_fmt(e.std_error)})",
            *self._uncorrected_lines(),
            f"  at least: {_fmt(self.lower_bound.estimate)} (high-precision strata); "
            f"at most: {_fmt(self.upper_bound.estimate)} (all strata, unclear as "
            "supporter)",
            f"  method: {e.method}",
            "",
            f"  {'stratum':<32} {'N':>9} {'n':>5} {'sup':>5} {'p_hat':>6} "
            f"{'CI':>15}",
        ]
        for r in self.strata.iter_rows(named=True):
            mark = "*" if r["high"] else " "
            lines.append(
                f" {mark}{r['name'][:32]:<32} {r['N']:>9,.0f} {r['n']:>5} "
                f"{r['supporters']:>5} {r['p_hat']:>6.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        lines.append("  (* = counted in the 'at least' bound)")
        lines.append("")
        lines += self._coder_lines()
        lines += self._grid_lines()
        if self.frame_coverage is not None:
            lines.append("  " + self.frame_coverage.summary().replace("\n", "\n  "))
            lines.append("")
        for est in (self.model_assisted, self.corrected, self.classifier_corrected,
                    self.kappa):
            if est is not None:
                lines.append("  " + est.summary().replace("\n", "\n  "))
        for a in self.assumptions:
            lines.append(f"  assumes: {a}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def _uncorrected_lines(self) -> list[str]:
        u = self.uncorrected
        if u is None:
            return []
        return [f"  uncorrected (every label taken as right): {_fmt(u.estimate)} "
                f"({u.level:.0%} CI {_fmt(u.ci[0])} to {_fmt(u.ci[1])})"]

    def _coder_lines(self) -> list[str]:
        ce = self.coder_error
        if not ce:
            return []
        state = "identified" if ce["identified"] else "NOT identified"
        out = [f"  coder error estimated from the coded data ({state}; "
               f"{ce['n_multiply_coded']} accounts read twice or more, "
               f"{ce['n_adjudicated']} adjudicated):"]
        for c in ce["coders"]:
            se, sp = c["sensitivity"], c["specificity"]
            out.append(
                f"    {c['coder']:<20} sensitivity {se['estimate']:.3f} "
                f"[{se['ci'][0]:.3f}, {se['ci'][1]:.3f}]  specificity "
                f"{sp['estimate']:.3f} [{sp['ci'][0]:.3f}, {sp['ci'][1]:.3f}]")
        out.append("")
        return out

    def _grid_lines(self) -> list[str]:
        g = self.sensitivity_grid
        if g.height == 0:
            return []
        sens = sorted(set(g["sensitivity"].to_list()))
        specs = sorted(set(g["specificity"].to_list()))
        val = {(r["sensitivity"], r["specificity"]): r["estimate"]
               for r in g.iter_rows(named=True)}
        out = ["  misclassification grid: corrected total if coders had this "
               "sensitivity (rows) and specificity (columns)",
               "    " + f"{'':>6}" + "".join(f"{sp:>10.2f}" for sp in specs)]
        for se in sens:
            out.append("    " + f"{se:>6.2f}" + "".join(
                f"{_fmt(val[(se, sp)]):>10}" if (se, sp) in val else f"{'':>10}"
                for sp in specs))
        out.append("")
        return out

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        e = self.estimate
        return (f"<CensusResult supporters={_fmt(e.estimate)} "
                f"[{_fmt(e.ci[0])}, {_fmt(e.ci[1])}] bounds "
                f"[{_fmt(self.lower_bound.estimate)}, "
                f"{_fmt(self.upper_bound.estimate)}] frame={self.frame_size}>")

    def plot(self, ax: Any = None) -> Any:
        """Precision of coded accounts by band of the sorting metric (Wilson CIs)."""
        from measure.census._plot import plot_precision

        return plot_precision(self, ax=ax)
