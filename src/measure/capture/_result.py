"""The frozen result of a capture–recapture analysis."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._contract import ResultMixin, fmt_ci
from measure._results import Estimate, _fmt, estimates_to_polars
from measure.capture._averaging import GoodnessOfFit, ModelAverage
from measure.capture._false_detections import FalseDetections
from measure.capture._interaction import INTERACTION_RATIOS, interaction_bounds
from measure.capture._loglinear import LoglinearFit
from measure.capture._windows import Population
from measure.errors import EstimationError


def _clean(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _two_source_row(name: str, e: Estimate) -> dict[str, Any]:
    d = e.to_dict()
    return {
        "name": name,
        "estimate": d["estimate"],
        "ci": d["ci"],
        "std_error": d["std_error"],
        "aic": None,
        "bic": None,
        "deviance": None,
        "df": None,
        "lower_bound": False,
        "reason": e.reason,
        "warnings": list(e.warnings),
    }


@dataclass(frozen=True)
class CaptureResult(ResultMixin):
    """Capture–recapture estimates of the population size from K lists.

    Satisfies the result contract (:class:`measure._contract.Result`).
    ``conf_int(level)`` recomputes the headline interval at another level: a
    model-averaged headline by the model-averaged tail-area interval (Turek &
    Fletcher 2012) over the same two-piece log-normal summary of each model's
    interval; a single model's by Chao's (1987) log-normal interval from its
    standard error, or by refitting its profile-likelihood interval (Cormack 1992).

    Attributes
    ----------
    estimate
        The headline population size (term ``population``): with three or more
        lists and no model named, the model-averaged estimate.
    model
        What the headline is: ``"averaged"`` or the name of the model reported.
    criterion
        ``"aic"`` or ``"bic"``: how models were weighed (when not given).
    n_observed
        Distinct units on at least one list.
    sources, source_sizes
        The lists used, in order, and how many units each holds.
    patterns
        Capture-pattern counts: one 0/1 column per source and ``count`` (observed
        patterns only).
    models
        Every log-linear model fitted (including those whose MLE does not exist,
        with the reason).
    two_source
        Lincoln–Petersen and Chapman when there are exactly two lists.
    lower_bounds
        Chao's (1987) lower bound and its bias-corrected form.
    warnings
        Diagnostics about the data or the choice.
    level
        Confidence level of every interval.
    best_model
        The single model with the lowest criterion (or the one named).
    averaged
        The model average over the identifiable heterogeneity models, with the
        weights (three or more lists).
    latent_class
        The Bayesian latent-class estimate (Manrique-Vallier 2016) with its
        convergence diagnostics in ``extra`` (``None`` when not fitted).
    graphical
        The average over decomposable graphical models (Madigan & York 1997; 3 to
        5 lists; ``None`` when not fitted).
    goodness_of_fit
        Deviance and Pearson statistics of each log-linear model.
    population
        Which accounts, in time, the estimate refers to (from a dataset's
        detection times; ``None`` for counts given directly).
    false_detections
        The headline if a share of each list's detections were false (removed
        from its singletons), and, when the census has classified the frame, the
        estimate from detections screened by their supporter probability.
    dataset
        Id of the dataset analysed (``name@sha256:<digest>`` once pinned), when the
        analysis records it.
    options
        The options asked for (at least ``level``, ``criterion`` and ``sources``).
    timings
        Seconds per stage, where measured.
    """

    family = "capture"
    unit = "accounts"

    estimate: Estimate
    model: str
    criterion: str
    n_observed: int
    sources: tuple[str, ...]
    source_sizes: tuple[int, ...]
    patterns: pl.DataFrame = field(compare=False, repr=False)
    models: tuple[LoglinearFit, ...] = ()
    two_source: dict[str, Estimate] = field(default_factory=dict, compare=False)
    lower_bounds: dict[str, Estimate] = field(default_factory=dict, compare=False)
    warnings: tuple[str, ...] = ()
    level: float = 0.95
    best_model: str = ""
    averaged: ModelAverage | None = field(default=None, compare=False)
    latent_class: Estimate | None = field(default=None, compare=False)
    graphical: Estimate | None = field(default=None, compare=False)
    goodness_of_fit: tuple[GoodnessOfFit, ...] = field(default=(), compare=False)
    population: Population | None = field(default=None, compare=False)
    false_detections: FalseDetections | None = field(default=None, compare=False)
    dataset: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    timings: dict[str, float] = field(default_factory=dict, compare=False,
                                      repr=False)

    def __post_init__(self) -> None:
        recorded = {"level": self.level, "criterion": self.criterion,
                    "sources": list(self.sources)}
        object.__setattr__(self, "options", recorded | dict(self.options))
        super().__post_init__()

    # -- the result contract ---------------------------------------------------
    @property
    def method(self) -> str:
        """Method of the headline estimate."""
        return self.estimate.method

    @property
    def assumptions(self) -> tuple[str, ...]:
        """What the headline estimate rests on."""
        return self.estimate.assumptions

    def headline_sentence(self) -> str:
        """Return the report's headline: the population size and its interval."""
        return (
            f"Population size from {len(self.sources)} lists: {fmt_ci(self.estimate)}; "
            f"{self.n_observed:,} distinct accounts were on at least one list. Model "
            f"{self.model}, chosen by {self.criterion.upper()}."
        )

    def estimates(self) -> list[Estimate]:
        """Every estimate held, headline first.

        Terms are ``population`` (the headline), ``population[<model>]`` for every
        model (two-source estimators included), Chao's lower bounds, and the
        latent-class and graphical-model estimates when fitted.
        """
        ests = [self.estimate]
        for m in self.models:
            ests.append(_renamed(m.estimate, f"population[{m.name}]"))
        for k, e in self.two_source.items():
            ests.append(_renamed(e, f"population[{k}]"))
        ests += list(self.lower_bounds.values())
        ests += [e for e in (self.latent_class, self.graphical) if e is not None]
        return ests

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Headline interval at ``level`` (see the class docstring)."""
        from scipy.stats import norm

        if self.model == "averaged" and self.averaged is not None:
            from measure.capture._averaging import model_average

            z_old = float(norm.ppf(0.5 + self.level / 2))
            z_new = float(norm.ppf(0.5 + level / 2))
            pool = [_rescaled(m, z_old, z_new, level) for m in self.models
                    if m.name in self.averaged.weights]
            avg = model_average(pool, criterion=self.averaged.criterion,
                                level=level, n_observed=self.n_observed)
            return avg.estimate.ci
        fit = next((m for m in self.models if m.name == self.model), None)
        e = self.estimate
        if fit is not None and "interval: log-normal (Chao 1987)" in e.method:
            from measure.capture._two_source import lognormal_interval

            return lognormal_interval(self.n_observed, e.estimate,
                                      e.std_error ** 2, level)
        if fit is not None and "interval: profile likelihood" in e.method:
            from measure.capture._loglinear import fit_model, standard_models

            spec = next((s for s in standard_models(len(self.sources))
                         if s.name == self.model), None)
            if spec is not None:
                refit = fit_model(spec, self._counts(), self.sources, level=level,
                                  ci="profile")
                return refit.estimate.ci
        raise EstimationError(
            f"capture: the interval of the {self.model!r} headline cannot be "
            f"recomputed at level {level:g} from the result; run "
            f"measure.capture.analyze(..., level={level:g})")

    def _counts(self) -> np.ndarray:
        """Pattern counts ``y`` indexed by capture pattern (bit j: list j) - 1."""
        k = len(self.sources)
        y = np.zeros(2 ** k - 1)
        for row in self.patterns.iter_rows(named=True):
            mask = sum(int(row[s]) << j for j, s in enumerate(self.sources))
            y[mask - 1] = row["count"]
        return y

    # -- accessors -----------------------------------------------------------------
    def fit(self, name: str) -> LoglinearFit:
        """Return the fitted log-linear model called ``name``."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(
            f"no model '{name}'; fitted: " + ", ".join(m.name for m in self.models)
        )

    def heterogeneity_range(self) -> dict[str, Any] | None:
        """Spread of ``N`` across the ``Mth`` heterogeneity models that exist.

        Poisson2, Darroch, Gamma3.5 and normal heterogeneity usually fit K lists about
        equally well yet extrapolate to different ``N`` (Link 2003): the spread is
        a reminder of how much the answer rests on the assumed shape of the
        catchability distribution. ``None`` with fewer than two such models.

        Returns
        -------
        dict or None
            ``models``, ``estimates`` ``[min, max]`` and ``interval_union``
            ``[min low, max high]``.
        """
        names = ("Mth_poisson2", "Mth_darroch", "Mth_gamma3.5", "Mth_normal")
        fits = [m for m in self.models if m.name in names and m.valid]
        if len(fits) < 2:
            return None
        est = [m.estimate.estimate for m in fits]
        return {
            "models": [m.name for m in fits],
            "estimates": [min(est), max(est)],
            "interval_union": [
                min(m.estimate.ci[0] for m in fits),
                max(m.estimate.ci[1] for m in fits),
            ],
        }

    def interaction_bounds(self, ratios: tuple[float, ...] = INTERACTION_RATIOS
                           ) -> pl.DataFrame:
        """Headline range if the lists' highest-order interaction is not zero.

        Every model assumes the ``K``-way interaction is zero, which the observed
        patterns cannot check; if its odds ratio lies in ``[1/r, r]`` the
        unobserved count scales by up to ``r`` either way (Fienberg 1972;
        Gerritse, van der Heijden & Bakker 2015). A sensitivity analysis, not an
        estimate: see :mod:`measure.capture._interaction`.

        Parameters
        ----------
        ratios
            Odds ratios ``r >= 1``.

        Returns
        -------
        polars.DataFrame
            ``ratio, estimate_low, estimate_high, ci_low, ci_high``.
        """
        return interaction_bounds(self.estimate, self.n_observed, ratios)

    def model_table(self) -> pl.DataFrame:
        """One row per model: estimate, std_error, ci, AIC, BIC, deviance, df."""
        rows = [m.to_dict() for m in self.models]
        rows += [_two_source_row(k, e) for k, e in self.two_source.items()]
        return pl.DataFrame(
            {
                "model": [r["name"] for r in rows],
                "estimate": [r["estimate"] for r in rows],
                "std_error": [r["std_error"] for r in rows],
                "ci_low": [r["ci"][0] for r in rows],
                "ci_high": [r["ci"][1] for r in rows],
                "aic": [r["aic"] for r in rows],
                "bic": [r["bic"] for r in rows],
                "deviance": [r["deviance"] for r in rows],
                "df": [r["df"] for r in rows],
                "lower_bound": [r["lower_bound"] for r in rows],
                "reason": [r["reason"] for r in rows],
            },
            schema_overrides={
                k: pl.Float64
                for k in (
                    "estimate",
                    "std_error",
                    "ci_low",
                    "ci_high",
                    "aic",
                    "bic",
                    "deviance",
                )
            }
            | {"df": pl.Int64},
        )

    def to_polars(self) -> pl.DataFrame:
        """Tidy table: the chosen estimate, every model's, and the lower bounds.

        Columns ``term, estimate, std_error, ci_low, ci_high, level``; one row per
        :meth:`estimates`.
        """
        return estimates_to_polars(self.estimates())

    def to_dict(self) -> dict[str, Any]:
        """Return what ``measure capture --json`` prints (plain JSON types)."""
        e = self.estimate.to_dict()
        models = [m.to_dict() for m in self.models]
        models += [_two_source_row(k, v) for k, v in self.two_source.items()]
        return {
            "headline": self.headline_dict(),
            "dataset": self.dataset,
            "options": dict(self.options),
            "timings": dict(self.timings),
            "estimate": e["estimate"],
            "ci": e["ci"],
            "std_error": e["std_error"],
            "level": self.level,
            "n_observed": self.n_observed,
            "model": self.model,
            "criterion": self.criterion,
            "method": self.estimate.method,
            "sources": [
                {"name": s, "n": n}
                for s, n in zip(self.sources, self.source_sizes, strict=True)
            ],
            "models": models,
            "best_model": self.best_model,
            "averaged": self.averaged.to_dict() if self.averaged else None,
            "latent_class": _latent_dict(self.latent_class),
            "graphical": _graphical_dict(self.graphical),
            "goodness_of_fit": [g.to_dict() for g in self.goodness_of_fit],
            "population": self.population.to_dict() if self.population else None,
            "false_detections": (self.false_detections.to_dict()
                                 if self.false_detections else None),
            "lower_bounds": {k: v.to_dict() for k, v in self.lower_bounds.items()},
            "heterogeneity_range": self.heterogeneity_range(),
            "interaction_sensitivity": self.interaction_bounds().to_dicts(),
            "patterns": self.patterns.to_dicts(),
            "assumptions": list(self.estimate.assumptions),
            "warnings": list(self.warnings) + list(self.estimate.warnings),
        }

    # -- display ---------------------------------------------------------------
    def summary(self) -> str:
        """Text summary: the chosen estimate, then every model."""
        lines = [
            self.headline_sentence(),
            f"Capture-recapture over {len(self.sources)} lists "
            f"({', '.join(f'{s}: {n}' for s, n in zip(self.sources, self.source_sizes, strict=True))}); "  # noqa: E501
            f"{self.n_observed} distinct units observed",
            (f"headline: {self.criterion.upper()}-weighted model average "
             f"(lowest {self.criterion.upper()} among the automatic choice's "
             f"models: {self.best_model})"
             if self.model == "averaged" else
             f"chosen model: {self.model}"
             + (
                 f" (by {self.criterion.upper()})"
                 if any(w.startswith("model chosen by") for w in self.warnings)
                 else ""
             )),
            self.estimate.summary(),
            *([f"  refers to: {self.population.refers_to}"]
              if self.population is not None else []),
            "",
            f"{'model':<22}{'N':>10}{'s.e.':>9}   {self.level:.0%} CI"
            f"{'':<21}{'AIC':>9}{'BIC':>9}",
        ]
        for m in self.models:
            e = m.estimate
            if not e.valid:
                lines.append(f"{m.name:<22}{'NA':>10}   ({e.reason})")
                continue
            tag = "  (lower bound)" if m.lower_bound else ""
            lines.append(
                f"{m.name:<22}{_fmt(e.estimate):>10}{_fmt(e.std_error, 3):>9}   "
                f"[{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]".ljust(66)
                + f"{m.aic:>9.1f}{m.bic:>9.1f}{tag}"
            )
        for k, e in {**self.two_source, **self.lower_bounds}.items():
            if e.valid:
                lines.append(
                    f"{k:<22}{_fmt(e.estimate):>10}{_fmt(e.std_error, 3):>9}"
                    f"   [{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]"
                )
            else:
                lines.append(f"{k:<22}{'NA':>10}   ({e.reason})")
        for label, e in (("model average", self.averaged.estimate
                          if self.averaged else None),
                         ("latent class (LCMCR)", self.latent_class),
                         ("graphical models", self.graphical)):
            if e is None:
                continue
            if e.valid:
                lines.append(f"{label:<22}{_fmt(e.estimate):>10}"
                             f"{_fmt(e.std_error, 3):>9}   "
                             f"[{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]")
            else:
                lines.append(f"{label:<22}{'NA':>10}   ({e.reason})")
        if self.averaged is not None and self.averaged.weights:
            top = sorted(self.averaged.weights.items(), key=lambda kv: -kv[1])
            lines.append("model weights: " + ", ".join(
                f"{k} {v:.2f}" for k, v in top if v >= 0.005))
        fd = self.false_detections
        if fd is not None and fd.sensitivity.height > 1:
            parts = [f"{r['share']:.0%}: {_fmt(r['estimate'])}"
                     for r in fd.sensitivity.iter_rows(named=True)
                     if r["estimate"] is not None]
            lines.append("if this share of each list's detections were false: "
                         + ", ".join(parts))
        if fd is not None and fd.screened is not None:
            e = fd.screened
            lines.append(
                f"{'screened (census)':<22}{_fmt(e.estimate):>10}"
                f"{_fmt(e.std_error, 3):>9}   [{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]"
                if e.valid else f"{'screened (census)':<22}{'NA':>10}   ({e.reason})")
        for row in self.interaction_bounds().iter_rows(named=True):
            lines.append(
                f"if the lists' {len(self.sources)}-way interaction had an odds "
                f"ratio between 1/{row['ratio']:g} and {row['ratio']:g}: N "
                f"{_fmt(row['estimate_low'])} to {_fmt(row['estimate_high'])} "
                f"(interval {_fmt(row['ci_low'])} to {_fmt(row['ci_high'])}); no "
                "model can check this assumption")
        poor = [g.model for g in self.goodness_of_fit if g.poor]
        if poor:
            lines.append("poor fit (deviance and Pearson p < 0.05): "
                         + ", ".join(poor))
        hr = self.heterogeneity_range()
        if hr is not None:
            lines.append(
                f"heterogeneity models ({', '.join(hr['models'])}) put N between "
                f"{_fmt(hr['estimates'][0])} and {_fmt(hr['estimates'][1])} "
                f"(intervals span {_fmt(hr['interval_union'][0])} to "
                f"{_fmt(hr['interval_union'][1])}); K lists cannot tell these "
                "shapes of heterogeneity apart (Link 2003)"
            )
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def __repr__(self) -> str:
        e = self.estimate
        return (
            f"<CaptureResult N={_fmt(e.estimate)} [{_fmt(e.ci[0])}, "
            f"{_fmt(e.ci[1])}] model={self.model} n_observed={self.n_observed}>"
        )

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of every model's estimate and interval (see ``_plot``)."""
        from measure.capture._plot import plot_models

        return plot_models(self, ax=ax)


def _latent_dict(e: Estimate | None) -> dict[str, Any] | None:
    """Return the latent-class estimate with its convergence diagnostics."""
    if e is None:
        return None
    d = e.to_dict()
    x = e.extra
    d["diagnostics"] = {
        "rhat": _clean(x.get("rhat")), "ess": _clean(x.get("ess")),
        "converged": bool(x.get("converged", False)),
        "mcse_median": _clean(x.get("mcse_median")),
        "chains": getattr(x.get("settings"), "chains", None),
        "draws": getattr(x.get("settings"), "draws", None),
    }
    return d


def _graphical_dict(e: Estimate | None) -> dict[str, Any] | None:
    """Return the graphical-model average with its most probable graphs."""
    if e is None:
        return None
    d = e.to_dict()
    bma = e.extra.get("bma")
    if bma is not None:
        top = bma.models.head(5)
        d["models"] = [{k: (_clean(v) if isinstance(v, float) else v)
                        for k, v in r.items()} for r in top.to_dicts()]
    return d


def _rescaled(fit: LoglinearFit, z_old: float, z_new: float,
              level: float) -> LoglinearFit:
    """Return ``fit`` with its two-piece log-normal interval taken to ``z_new``.

    The log-scale half-widths ``(log N - log low) / z_old`` and ``(log high -
    log N) / z_old`` are kept, so the model average at the new level mixes the same
    two-piece distributions as at the level analysed.
    """
    from dataclasses import replace

    e = fit.estimate
    if not (e.valid and e.estimate > 0):
        return fit
    c = math.log(e.estimate)
    lo, hi = e.ci
    new_lo = (math.exp(c - (c - math.log(lo)) * z_new / z_old)
              if lo and lo > 0 and math.isfinite(lo) else lo)
    new_hi = (math.exp(c + (math.log(hi) - c) * z_new / z_old)
              if math.isfinite(hi) and hi > 0 else hi)
    return replace(fit, estimate=replace(e, ci=(new_lo, new_hi), level=level))


def _renamed(e: Estimate, term: str) -> Estimate:
    from dataclasses import replace

    return replace(e, term=term)
