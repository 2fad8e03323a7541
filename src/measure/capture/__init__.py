"""Capture–recapture (multiple systems) estimates of a hidden population's size.

Each source in ``detections`` (a list, a method, a hashtag sample, user reports) is a
"capture occasion"; an account's capture pattern says which sources found it. With
two sources, Lincoln–Petersen and Chapman apply; with K >= 3, log-linear models of
the ``2**K - 1`` observed pattern counts (Fienberg 1972; Cormack 1989) allow for
dependence between lists (two-list interactions) and for heterogeneous catchability
(Rivest & Baillargeon 2007, the models of R's Rcapture), are checked for the
existence of their MLE before fitting (Fienberg & Rinaldo 2012; Chan, Silverman &
Vincent 2019), compared by AIC or BIC, and given profile-likelihood intervals
(Cormack 1992). Chao's (1987) lower bound is always reported.

Every estimate assumes a closed population (the lists describe the same accounts at
the same time: for the simulator, supporter accounts alive at the census) and
error-free matching. Heterogeneity that the chosen model does not capture biases
``N`` downward; the interval does not include model-selection uncertainty.

Examples
--------
>>> import measure
>>> from measure.capture import analyze, analyze_histories
>>> res = analyze(measure.open("data/processed/world"))      # doctest: +SKIP
>>> res.estimate, res.model                                   # doctest: +SKIP
>>> analyze_histories(df, count="freq").summary()             # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from measure._contract import dataset_id
from measure._results import Estimate
from measure.capture import _sql
from measure.capture._averaging import (
    GoodnessOfFit,
    ModelAverage,
    fit_warnings,
    goodness_of_fit,
    model_average,
)
from measure.capture._false_detections import SHARES as FALSE_SHARES
from measure.capture._false_detections import (
    FalseDetections,
    can_screen,
    screened_estimate,
    sensitivity_table,
    supporter_probabilities,
)
from measure.capture._graphical import bma_estimate, bma_graphical
from measure.capture._interaction import INTERACTION_RATIOS, interaction_bounds
from measure.capture._latent_class import (
    LatentClassSettings,
    fit_latent_class,
    latent_class_estimate,
)
from measure.capture._loglinear import (
    LoglinearFit,
    ModelSpec,
    cell_matrix,
    check_existence,
    criterion_value,
    fit_model,
    profile_interval,
    standard_models,
    stepwise_pairs,
)
from measure.capture._result import CaptureResult
from measure.capture._two_source import chapman, lincoln_petersen, lognormal_interval
from measure.capture._windows import (
    Population,
    alive_weights,
    describe_population,
    parse_date,
    window_bounds,
)
from measure.errors import ConfigError, DataContractError, EstimationError
from measure.options import CAPTURE_MODELS, CaptureModel, Criterion, validate_option

#: 2**K - 1 cells: beyond this many sources the pattern table gets unwieldy.
MAX_SOURCES = 12

#: Families of models: "independence" = Mt, "two_way", and "heterogeneity" = the
#: best heterogeneity model by the criterion.
_FAMILIES = ("independence", "two_way", "heterogeneity")
#: Every named model :func:`analyze` accepts (``measure.options.CaptureModel``
#: lists these and the families; one list, validated in one place).
MODEL_NAMES = tuple(
    m for m in CAPTURE_MODELS if m not in ("independence", "heterogeneity")
)
#: Models among which ``model=None`` chooses when K >= 3: models that always allow
#: for heterogeneous catchability. Darroch's quadratic term ``k**2/2`` equals main
#: effects plus *equal* two-list interactions (Darroch et al. 1993), so
#: ``Mth_darroch`` < ``Mth_darroch_stepwise`` < ``two_way`` are nested log-linear
#: models (a Darroch coefficient of zero is model ``Mt``); ``Mth_normal`` is the
#: logit-normal catchability model (Rivest 2011; Coull & Agresti 1999), of which
#: Darroch's term is the quadratic approximation, with as many parameters.
#: Heterogeneity biases ``N`` downward and small samples cannot detect it (Link
#: 2003), so a model assuming equal catchability is never chosen automatically.
#: Left out (reported, chosen only on request): ``Mt``; Chao's lower bounds;
#: ``M0``/``Mh_*`` (equal catchability across lists, unlike real sources);
#: ``Mth_poisson2``/``Mth_gamma3.5`` (their higher-order terms extrapolate an
#: assumed shape of the heterogeneity that K lists cannot check, Link 2003); and
#: ``stepwise`` from ``Mt`` (a few pairs cannot absorb the dependence that
#: heterogeneity spreads over all pairs). The calibration run
#: (tests/capture/test_calibration.py) measures the coverage this choice gives.
AUTO_POOL = ("Mth_darroch", "Mth_darroch_stepwise", "two_way", "Mth_normal")
#: Models the headline averages over (K >= 3): every model that allows list
#: effects and heterogeneous catchability. Besides :data:`AUTO_POOL`, the Poisson2
#: and Gamma3.5 shapes: K lists fit them about as well and cannot tell the
#: shapes apart (Link 2003), which is a reason to let their disagreement widen
#: the interval rather than to pick one. On tuning worlds (50 plain, 88 stress
#: without list windows) adding them raised the averaged interval's coverage on
#: plain worlds from 0.90 to 0.94 and its median relative width from 0.42 to 0.58;
#: stress coverage stayed 0.84.
AVERAGE_POOL = AUTO_POOL + ("Mth_poisson2", "Mth_gamma3.5")
CI_METHODS = ("profile", "lognormal", "none")

__all__ = [
    "AUTO_POOL",
    "AVERAGE_POOL",
    "CaptureResult",
    "INTERACTION_RATIOS",
    "GoodnessOfFit",
    "LatentClassSettings",
    "LoglinearFit",
    "MODEL_NAMES",
    "ModelAverage",
    "ModelSpec",
    "Population",
    "analyze",
    "analyze_counts",
    "analyze_histories",
    "bma_estimate",
    "bma_graphical",
    "fit_latent_class",
    "interaction_bounds",
    "goodness_of_fit",
    "latent_class_estimate",
    "model_average",
    "cell_matrix",
    "chao_lower_bounds",
    "chapman",
    "check_existence",
    "fit_model",
    "histories_to_counts",
    "lincoln_petersen",
    "pattern_counts",
    "profile_interval",
    "standard_models",
    "stepwise_pairs",
]


# ---------------------------------------------------------------- Chao lower bound
def chao_lower_bounds(
    y: np.ndarray, k_lists: int, *, level: float = 0.95
) -> dict[str, Estimate]:
    """Chao's (1987) lower bound for ``N`` and its bias-corrected form.

    ``N_LB = n + a f1**2 / (2 f2)`` and ``N_BC = n + a f1 (f1 - 1) / (2 (f2 + 1))``
    with ``a = (K - 1)/K``, where ``f1``, ``f2`` are the numbers of units on exactly
    one and exactly two lists. Under heterogeneous catchability these are lower
    bounds (Chao 1987, 1989); the first equals Rcapture's ``Mh Chao (LB)`` model when
    no eta parameter is negative. Variances are Chao's (1987) delta-method ones and
    the intervals log-normal.

    Parameters
    ----------
    y
        Pattern counts in mask order (see :func:`cell_matrix`).
    k_lists
        Number of lists ``K``.
    level
        Confidence level.

    Returns
    -------
    dict
        ``{"chao_lower_bound": Estimate, "chao_lower_bound_bc": Estimate}``.
    """
    k = cell_matrix(k_lists).sum(axis=1)
    y = np.asarray(y, dtype=float)
    n = float(y.sum())
    f1, f2 = float(y[k == 1].sum()), float(y[k == 2].sum())
    a = (k_lists - 1) / k_lists
    assumptions = (
        "closed population; lists are exchangeable draws whose catch "
        "probabilities vary between units (model Mh); the estimate is a "
        "lower bound when they do",
    )
    out: dict[str, Estimate] = {}
    method = "Chao (1987) lower bound, log-normal interval"
    if f2 > 0:
        r = f1 / f2
        f0 = a * f1**2 / (2 * f2)
        var = f2 * (a / 2 * r**2 + a**2 * r**3 + a**2 / 4 * r**4)
        out["chao_lower_bound"] = Estimate(
            term="chao_lower_bound",
            estimate=n + f0,
            ci=lognormal_interval(n, n + f0, var, level),
            level=level,
            std_error=math.sqrt(var),
            method=method,
            n=int(n),
            assumptions=assumptions,
        )
    else:
        out["chao_lower_bound"] = Estimate.invalid(
            "chao_lower_bound",
            "no unit is on exactly two lists (f2 = 0); use the bias-corrected form",
            method=method,
            level=level,
            n=int(n),
        )
    f0 = a * f1 * (f1 - 1) / (2 * (f2 + 1))
    var = (
        a * f1 * (f1 - 1) / (2 * (f2 + 1))
        + a**2 * f1 * (2 * f1 - 1) ** 2 / (4 * (f2 + 1) ** 2)
        + a**2 * f1**2 * f2 * (f1 - 1) ** 2 / (4 * (f2 + 1) ** 4)
    )
    out["chao_lower_bound_bc"] = Estimate(
        term="chao_lower_bound_bc",
        estimate=n + f0,
        ci=lognormal_interval(n, n + f0, var, level),
        level=level,
        std_error=math.sqrt(var),
        method="Chao bias-corrected lower bound (Chao 1987; Chao 2005), log-normal "
        "interval",
        n=int(n),
        assumptions=assumptions,
    )
    return out


# ------------------------------------------------------------------- entry points
def _resolve_model(model: str | None) -> str | None:
    if model is None or model == "auto":
        return None
    return validate_option("model", model, CaptureModel)


def _choose(
    fits: list[LoglinearFit],
    two: dict[str, Estimate],
    model: str | None,
    criterion: str,
    k_lists: int,
    level: float = 0.95,
) -> tuple[str, Estimate, list[str]]:
    """Pick the reported model; return its name, estimate and notes."""
    notes: list[str] = []
    by_name = {f.name: f for f in fits}
    if model in two:
        return model, two[model], notes
    if model == "independence":
        model = "Mt"
    if model is not None and model != "heterogeneity":
        if model not in by_name:
            raise ConfigError(
                f"model {model!r} needs at least 3 sources (this analysis has "
                f"{k_lists}); valid here: "
                + ", ".join(repr(v) for v in (*by_name, *two))
            )
        return model, by_name[model].estimate, notes
    if model is None and k_lists == 2:
        return "chapman", two["chapman"], notes
    valid = [f for f in fits if not f.lower_bound and f.valid]
    if model == "heterogeneity":
        pool = [f for f in valid if f.name.startswith(("Mh_", "Mth_"))]
    else:
        pool = [f for f in valid if f.name in AUTO_POOL]
        if not pool and valid:
            notes.append(
                "no heterogeneity model of the automatic set has an MLE; "
                "chose among the remaining models, which may assume equal "
                "catchability (N is then likely underestimated)"
            )
            pool = valid
    if not pool:
        return (
            "none",
            Estimate.invalid(
                "population",
                "no candidate model has an MLE for N (see each model's "
                "reason); the lists overlap too little",
                level=level,
            ),
            notes,
        )
    best = min(pool, key=lambda f: criterion_value(f, criterion))
    notes.append(
        f"model chosen by {criterion.upper()} among {len(pool)} models; the "
        "interval does not include model-selection uncertainty"
    )
    return best.name, best.estimate, notes


def _headline_of(sources: Sequence[str], **options: Any
                 ) -> Callable[[np.ndarray], Estimate]:
    """Return the headline estimator of :func:`analyze_counts` for other counts.

    The same lists and options, without the latent-class, graphical and
    false-detection extras.
    """
    def headline(z: np.ndarray) -> Estimate:
        return analyze_counts(z, sources, latent_class=False, graphical=False,
                              false_detection_shares=None, **options).estimate

    return headline


def analyze_counts(  # noqa: C901
    y: Sequence[float] | np.ndarray,
    sources: Sequence[str],
    *,
    model: str | None = None,
    criterion: Criterion = "aic",
    level: float = 0.95,
    ci: str = "profile",
    stepwise: bool = True,
    source_sizes: Sequence[int] | None = None,
    latent_class: bool | LatentClassSettings = True,
    graphical: bool = True,
    false_detection_shares: Sequence[float] | None = FALSE_SHARES,
) -> CaptureResult:
    """Estimate ``N`` from the observable pattern counts of ``K`` lists.

    Parameters
    ----------
    y
        ``2**K - 1`` counts in mask order: entry ``m - 1`` counts the units whose
        set of lists has bit mask ``m`` (bit ``j`` = list ``sources[j]``).
    sources
        List names.
    model
        ``None``/``"auto"`` (K = 2: Chapman; K >= 3: the average of the models of
        :data:`AVERAGE_POOL` whose MLE exists, weighted by the criterion, with the
        model-averaged interval), a family (``"independence"``, ``"two_way"``,
        ``"heterogeneity"``) or one of :data:`MODEL_NAMES` (that model is
        reported).
    criterion
        ``"aic"`` or ``"bic"``.
    level
        Confidence level.
    ci
        ``"profile"`` (default), ``"lognormal"`` or ``"none"`` for the log-linear
        models.
    stepwise
        Also fit the ``stepwise`` model (forward selection of two-list
        interactions on ``criterion``; K >= 3).
    source_sizes
        Units per list (computed from ``y`` when omitted).
    latent_class
        Also fit the Bayesian latent-class model (Manrique-Vallier 2016;
        ``True``: default :class:`LatentClassSettings`, or the settings to use).
    graphical
        Also average over decomposable graphical models (Madigan & York 1997;
        3 to 5 lists).
    false_detection_shares
        Shares of each list's detections assumed false for the sensitivity table
        (``CaptureResult.false_detections``; ``None`` skips it).

    Returns
    -------
    CaptureResult
    """
    validate_option("criterion", criterion, Criterion)
    model = _resolve_model(model)
    if ci not in CI_METHODS:
        raise ConfigError(
            f"invalid value {ci!r} for option 'ci'; valid values are: "
            + ", ".join(repr(v) for v in CI_METHODS)
        )
    if not 0 < level < 1:
        raise ConfigError(
            f"invalid value {level!r} for option 'level'; give a "
            "confidence level between 0 and 1, e.g. 0.95"
        )
    sources = tuple(str(s) for s in sources)
    k_lists = len(sources)
    if k_lists < 2:
        raise EstimationError(
            f"capture-recapture needs at least two sources; got {k_lists} "
            f"({', '.join(sources) or 'none'}); add detections from another source"
        )
    if k_lists > MAX_SOURCES:
        raise EstimationError(
            f"{k_lists} sources give {2**k_lists - 1} capture patterns; at most "
            f"{MAX_SOURCES} are supported: merge similar sources or pass sources="
        )
    y = np.asarray(y, dtype=float)
    if y.shape != (2**k_lists - 1,) or np.any(y < 0) or not np.all(np.isfinite(y)):
        raise EstimationError(
            f"pattern counts must be {2**k_lists - 1} non-negative numbers for "
            f"{k_lists} sources; got shape {y.shape}"
        )
    n = int(round(y.sum()))
    if n == 0:
        raise EstimationError("no unit was detected by any source; nothing to estimate")
    w = cell_matrix(k_lists)
    sizes = tuple(
        int(s)
        for s in (
            source_sizes if source_sizes is not None else (w * y[:, None]).sum(axis=0)
        )
    )
    warnings: list[str] = []
    for s, size in zip(sources, sizes, strict=True):
        if size == 0:
            warnings.append(f"source '{s}' detected nobody")
    specs = standard_models(k_lists)
    if stepwise and k_lists >= 3:
        specs.append(stepwise_pairs(y, sources, criterion=criterion))
        specs.append(
            stepwise_pairs(
                y,
                sources,
                criterion=criterion,
                name="Mth_darroch_stepwise",
                base=ModelSpec("Mth_darroch", heterogeneity="darroch"),
            )
        )
    fits = [fit_model(s, y, sources, level=level, ci=ci) for s in specs]
    two: dict[str, Estimate] = {}
    if k_lists == 2:
        n1, n2, m = int(y[0] + y[2]), int(y[1] + y[2]), int(y[2])
        two = {
            "lincoln_petersen": lincoln_petersen(n1, n2, m, level=level),
            "chapman": chapman(n1, n2, m, level=level),
        }
    name, est, notes = _choose(fits, two, model, criterion, k_lists, level)
    best = name
    gof = tuple(goodness_of_fit(f, y) for f in fits)
    averaged = None
    if k_lists >= 3:
        valid = [f for f in fits if f.valid and not f.lower_bound]
        pool = [f for f in valid if f.name in AVERAGE_POOL]
        if not pool and valid:
            pool = valid
            warnings.append(
                "no model with heterogeneous catchability has an MLE; the average "
                "is over the remaining models, which may assume equal catchability "
                "(N is then likely underestimated)")
        averaged = model_average(pool, criterion=criterion, level=level,
                                 n_observed=n)
        warnings += fit_warnings(gof, pool, averaged.weights)
    if model is None and averaged is not None and averaged.estimate.valid:
        name, est = "averaged", replace(averaged.estimate, term="population")
        top = max(averaged.weights, key=averaged.weights.get)
        notes = [n for n in notes if not n.startswith("model chosen by")] + [
                 f"headline: {criterion.upper()}-weighted average of "
                 f"{len(averaged.weights)} models (largest weight: {top}, "
                 f"{averaged.weights[top]:.2f}); the interval includes "
                 "model-selection uncertainty"]
    warnings += notes
    chosen = replace(est, method=f"{name}: {est.method}" if est.method else name)
    lc = None
    if latent_class is not False and k_lists >= 3:
        settings = (latent_class if isinstance(latent_class, LatentClassSettings)
                    else LatentClassSettings())
        lc = latent_class_estimate(y, sources, level=level, settings=settings)
    fd = None
    if false_detection_shares is not None:
        headline = _headline_of(sources, model=model, criterion=criterion,
                                level=level, ci=ci, stepwise=stepwise)
        table = sensitivity_table(y, sizes, headline,
                                  shares=[f for f in false_detection_shares if f])
        first = pl.DataFrame([{"share": 0.0, "removed": 0,
                               "estimate": chosen.estimate if chosen.valid else None,
                               "ci_low": chosen.ci[0] if chosen.valid else None,
                               "ci_high": chosen.ci[1] if chosen.valid else None}],
                             schema=table.schema)
        fd = FalseDetections(pl.concat([first, table]))
    gr = None
    if graphical and 3 <= k_lists <= 5:
        try:
            gr = bma_estimate(y, sources, level=level)
        except EstimationError as exc:
            gr = Estimate.invalid("N_bma_graphical", str(exc), level=level)
    masks = np.flatnonzero(y > 0) + 1
    patterns = pl.DataFrame(
        {s: ((masks >> j) & 1).astype(np.int8) for j, s in enumerate(sources)}
        | {"count": y[masks - 1].astype(np.int64)}
    )
    return CaptureResult(
        estimate=chosen,
        model=name,
        criterion=criterion,
        n_observed=n,
        sources=sources,
        source_sizes=sizes,
        patterns=patterns,
        models=tuple(fits),
        two_source=two,
        lower_bounds=chao_lower_bounds(y, k_lists, level=level),
        warnings=tuple(warnings),
        level=level,
        best_model=best,
        averaged=averaged,
        latent_class=lc,
        graphical=gr,
        goodness_of_fit=gof,
        false_detections=fd,
    )


def histories_to_counts(
    table: Any, *, count: str | None = None, sources: Sequence[str] | None = None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Turn a capture-history table into pattern counts.

    Parameters
    ----------
    table
        polars or pandas DataFrame: one 0/1 column per list and, when ``count`` is
        given, a frequency column (one row per pattern, as R's Rcapture/SparseMSE
        data with ``dfreq=TRUE``); without ``count`` one row per unit.
    count
        Name of the frequency column.
    sources
        List columns to use (default: every column but ``count``).

    Returns
    -------
    tuple
        ``(sources, y)`` with ``y`` in mask order.
    """
    df = table if isinstance(table, pl.DataFrame) else pl.from_pandas(table)
    if count is not None and count not in df.columns:
        raise DataContractError(
            f"count column '{count}' not found; columns are {', '.join(df.columns)}",
            column=count,
        )
    cols = (
        list(sources) if sources is not None else [c for c in df.columns if c != count]
    )
    for c in cols:
        if c not in df.columns:
            raise DataContractError(
                f"list column '{c}' not found; columns are {', '.join(df.columns)}",
                column=c,
            )
        bad = df.filter(~pl.col(c).is_in([0, 1]) | pl.col(c).is_null())
        if bad.height:
            raise DataContractError(
                "capture-history columns must hold 0 or 1; pass count= for the "
                "frequency column",
                column=c,
                example=bad.row(0, named=True),
            )
    k_lists = len(cols)
    mask = np.zeros(df.height, dtype=np.int64)
    for j, c in enumerate(cols):
        mask += df[c].cast(pl.Int64).to_numpy() << j
    freq = (
        df[count].cast(pl.Float64).to_numpy()
        if count is not None
        else np.ones(df.height)
    )
    if np.any(freq < 0):
        raise DataContractError("frequencies must be non-negative", column=count)
    if np.any((mask == 0) & (freq > 0)):
        raise DataContractError(
            "a row with no list marked has a positive count: units on no list "
            "cannot be observed; drop that row",
            column=count,
        )
    y = np.bincount(mask, weights=freq, minlength=2**k_lists)[1:]
    return tuple(cols), y


def analyze_histories(
    table: Any,
    *,
    count: str | None = None,
    sources: Sequence[str] | None = None,
    **options: Any,
) -> CaptureResult:
    """Analyse a capture-history table directly (no Dataset needed).

    Parameters
    ----------
    table
        See :func:`histories_to_counts`.
    count
        Frequency column, if any.
    sources
        List columns to use.
    **options
        Passed to :func:`analyze_counts` (``model``, ``criterion``, ``level``,
        ``ci``, ``stepwise``).

    Returns
    -------
    CaptureResult
    """
    cols, y = histories_to_counts(table, count=count, sources=sources)
    return analyze_counts(y, cols, **options)


def pattern_counts(
    ds: Any,
    sources: Sequence[str] | None = None,
    *,
    start: Any = None,
    end: Any = None,
) -> tuple[tuple[str, ...], np.ndarray, tuple[int, ...]]:
    """Pattern counts from a dataset's ``detections`` (SQL in DuckDB).

    ``start``/``end`` (UTC datetimes) keep only detections made between them.

    Returns
    -------
    tuple
        ``(sources, y, source_sizes)``, ``y`` in mask order.
    """
    ds.require("capture")
    sizes = ds.sql(_sql.SOURCE_SIZES)
    present = sizes["source"].to_list()
    if sources is None:
        sources = present
    missing = [s for s in sources if s not in present]
    if missing:
        raise DataContractError(
            f"source(s) {', '.join(map(repr, missing))} have no detections; present: "
            f"{', '.join(map(repr, present))}",
            table="detections",
            column="source",
        )
    sources = list(dict.fromkeys(sources))
    if len(sources) > MAX_SOURCES:
        raise EstimationError(
            f"detections hold {len(sources)} sources; at most {MAX_SOURCES} are "
            "supported: pass sources= with the ones to use, or merge similar ones"
        )
    if start is None and end is None:
        counts = ds.sql(_sql.PATTERN_COUNTS, {"sources": sources})
    else:
        counts = ds.sql(_sql.WINDOW_PATTERN_COUNTS,
                        {"sources": sources, "start": start, "end": end})
    y = np.zeros(2 ** len(sources) - 1)
    y[counts["mask"].to_numpy() - 1] = counts["n"].to_numpy()
    if start is None and end is None:
        size_of = dict(zip(present, sizes["n"].to_list(), strict=True))
        return tuple(sources), y, tuple(int(size_of[s]) for s in sources)
    w = cell_matrix(len(sources))
    return tuple(sources), y, tuple(int(v) for v in (w * y[:, None]).sum(axis=0))


def _evidence(ds: Any, sources: Sequence[str], start: Any, end: Any
              ) -> pl.DataFrame:
    """Per detected account: pattern, creation, last sign of life, first gone."""
    step = (_sql.ACCOUNT_EVIDENCE if ds.has("observations")
            else _sql.ACCOUNT_EVIDENCE_NO_LOOKUPS)
    return ds.sql(step, {"sources": list(sources), "start": start, "end": end})


def _alive_on_date(ds: Any, sources: tuple[str, ...], start: Any, end: Any,
                   pop: Population
                   ) -> tuple[tuple[str, ...], pl.Series, np.ndarray, np.ndarray,
                              np.ndarray, Population, list[str]]:
    """Classify the detected accounts as alive on ``pop.reference_date`` or not.

    Returns the sources kept, the detected accounts' ids, their capture masks
    over the kept sources, the alive and uncertain flags, the population and
    warnings. Sources that detected none of the accounts alive then are left out
    (their bits are removed from the masks).
    """
    ev = _evidence(ds, sources, start, end)
    alive, uncertain, excluded = alive_weights(ev, pop.reference_date)
    masks = ev["mask"].to_numpy().astype(np.int64)
    warns: list[str] = []
    keep = [j for j in range(len(sources)) if ((masks[alive] >> j) & 1).any()]
    if len(keep) < len(sources):
        gone = [sources[j] for j in range(len(sources)) if j not in keep]
        warns.append("source(s) " + ", ".join(repr(s) for s in gone) + " detected "
                     "none of the accounts alive on the reference date and were "
                     "left out")
        masks = sum(((masks >> j) & 1) << i for i, j in enumerate(keep))
        masks = np.asarray(masks, dtype=np.int64)
        sources = tuple(sources[j] for j in keep)
        alive = alive & (masks > 0)
    pop = replace(pop, n_alive=int(alive.sum()), n_not_alive=int(excluded.sum()),
                  n_uncertain=int(uncertain.sum()))
    return sources, ev["account_id"], masks, alive, uncertain, pop, warns


def _alive_range(pop: Population, masks: np.ndarray, alive: np.ndarray,
                 uncertain: np.ndarray, sources: tuple[str, ...],
                 headline: Estimate, options: dict[str, Any]
                 ) -> tuple[Population, Estimate, list[str]]:
    """Headline with every uncertain account left out and with every one kept.

    When either lies outside the headline's interval, the interval is widened
    to the union of the three intervals (the model's own is kept in
    ``extra["model_ci"]``): the data do not say which reading is right.
    """
    if not uncertain.any() or len(sources) < 2 or not headline.valid:
        return pop, headline, []
    fn = _headline_of(sources, **options)
    k = 2 ** len(sources)
    ends: list[Estimate | None] = []
    for keep in (alive & ~uncertain, (alive | uncertain) & (masks > 0)):
        y = np.bincount(masks[keep], minlength=k)[1:].astype(float)
        e = fn(y) if y.sum() else None
        ends.append(e if e is not None and e.valid else None)
    lo, hi = (e.estimate if e is not None else math.nan for e in ends)
    pop = replace(pop, alive_range=(lo, hi))
    a, b = headline.ci
    if not (lo < a or hi > b):
        return pop, headline, []
    lims = [a, b] + [x for e in ends if e is not None for x in e.ci]
    ci = (min(lims), max(lims))
    n_unc = int(uncertain.sum())
    widened = replace(
        headline, ci=ci,
        method=f"{headline.method}; interval widened to the estimates with the "
        f"{n_unc} uncertain account(s) all left out and all kept",
        assumptions=headline.assumptions + (
            "accounts whose state on the reference date is uncertain are "
            "bounded, not modelled",),
        extra=dict(headline.extra or {}) | {"model_ci": (a, b)})
    warn = (f"{n_unc} detected account(s) were last known alive before "
            f"{pop.reference_date:%Y-%m-%d} and not found gone by then; leaving "
            f"them all out or keeping them all gives {lo:,.0f} to {hi:,.0f}, "
            f"beyond the model's interval ({a:,.0f}-{b:,.0f}): the interval is "
            f"widened to {ci[0]:,.0f}-{ci[1]:,.0f}. Look-ups of the detected "
            "accounts near that date narrow it")
    return pop, widened, [warn]


def analyze(
    ds: Any,
    *,
    model: str | None = None,
    criterion: Criterion = "aic",
    level: float = 0.95,
    sources: Sequence[str] | None = None,
    ci: str = "profile",
    stepwise: bool = True,
    latent_class: bool | LatentClassSettings = True,
    graphical: bool = True,
    at: Any = None,
    window: float | None = None,
) -> CaptureResult:
    """Capture–recapture estimate of the population the ``detections`` sample.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset` with a ``detections`` table.
    model, criterion, level, ci, stepwise, latent_class, graphical
        See :func:`analyze_counts`.
    sources
        Sources to use (default: all, in name order).
    at
        Count the accounts alive on this date (ISO string or datetime, UTC).
        Default: when the detections span more than a day and
        ``accounts.created_at`` is present, the middle of their span. Detected
        accounts created after the date or found gone before it are left out;
        see :mod:`measure.capture._windows` for the rule and the range reported
        for accounts whose state on the date is uncertain.
    window
        Also keep only the detections within ``window`` days centred on ``at``.
        Default: every detection.

    Returns
    -------
    CaptureResult
        The headline estimate, every model's fit, the model average, the
        latent-class and graphical-model estimates, Chao's lower bounds,
        Lincoln–Petersen/Chapman when there are two sources, and
        ``population``: which accounts, in time, the estimate refers to.
    """
    t_start = time.perf_counter()
    ds.require("capture")
    ref = parse_date(at)
    start, end = window_bounds(ref, window)
    present = ds.sql(_sql.SOURCE_SIZES)["source"].to_list() if sources is None \
        else list(dict.fromkeys(sources))
    pop, pop_warnings = describe_population(ds, present, start, end, ref)
    if start is not None:
        empty = [s for s in present if not pop.sources.get(s, {}).get("n")]
        if empty:
            pop_warnings.append(
                "source(s) " + ", ".join(repr(s) for s in empty) + " detected "
                "nobody in the window and were left out")
            sources = [s for s in present if s not in empty]
    options = {"model": model, "criterion": criterion, "level": level, "ci": ci,
               "stepwise": stepwise}
    alive = uncertain = ids = None
    if pop.reference_date is None:
        srcs, y, sizes = pattern_counts(ds, sources, start=start, end=end)
        masks = None
    else:
        srcs = tuple(sources) if sources is not None else tuple(present)
        srcs, ids, masks, alive, uncertain, pop, more = _alive_on_date(
            ds, srcs, start, end, pop)
        pop_warnings += more
        y = np.bincount(masks[alive], minlength=2 ** len(srcs))[1:].astype(float)
        sizes = tuple(int(((masks[alive] >> j) & 1).sum()) for j in range(len(srcs)))
    res = analyze_counts(
        y,
        srcs,
        latent_class=latent_class,
        graphical=graphical,
        source_sizes=sizes,
        **options,
    )
    if alive is not None and masks is not None and uncertain is not None:
        pop, headline, more = _alive_range(pop, masks, alive, uncertain, srcs,
                                           res.estimate, options)
        res = replace(res, estimate=headline)
        pop_warnings += more
    fd = res.false_detections
    if fd is not None and len(srcs) >= 2 and can_screen(ds):
        if ids is None:
            kept = ds.sql(_sql.ACCOUNT_MASKS, {"sources": list(srcs),
                                               "start": start, "end": end})
        else:  # the accounts alive on the reference date, masks as fitted
            kept = pl.DataFrame({"account_id": ids, "mask": masks}).filter(
                pl.Series(alive))
        p, missing = supporter_probabilities(ds, kept)
        headline = _headline_of(srcs, **options)
        screened = screened_estimate(kept["mask"].to_numpy(), p, len(srcs),
                                     headline, level=level)
        fd = replace(fd, screened=screened, n_screened_out=float(np.sum(1 - p)),
                     n_unclassified=missing)
    return replace(res, population=pop, false_detections=fd,
                   warnings=tuple(pop_warnings) + res.warnings,
                   dataset=dataset_id(ds),
                   options=dict(res.options) | {
                       "model": model, "ci": ci, "stepwise": stepwise,
                       "at": None if ref is None else ref.isoformat(),
                       "window": window},
                   timings={"total": time.perf_counter() - t_start})
