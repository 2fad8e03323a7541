"""``analyze``: from a dataset to a :class:`CensusResult`."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import polars as pl

from measure._contract import dataset_id
from measure._results import Estimate
from measure.census import _estimate as est
from measure.census import _frame
from measure.census._assisted import assisted_totals
from measure.census._coders import (
    GOLD,
    CoderPosterior,
    fit_coder_model,
    sample_posterior,
)
from measure.census._coverage import frame_coverage
from measure.census._result import CensusResult, HeadlineBasis
from measure.census._sample import _check_metric
from measure.dataset import Dataset
from measure.errors import EstimationError

#: Strata whose coded precision reaches this count in the "at least" bound.
HIGH_PRECISION = 0.5
#: Posterior draws (after burn-in) of the latent-class headline.
POSTERIOR_DRAWS = 4000
POSTERIOR_BURN = 1000
TERM = "supporters_in_frame"
#: Coder (sensitivities, specificities) over which bounds are taken when error
#: rates are not identified (the misclassification grid).
GRID = ((0.8, 0.85, 0.9, 0.95, 1.0), (0.9, 0.95, 0.98, 0.99, 1.0))


def coded_sample(ds: Dataset, labels: pl.DataFrame | None, fr: pl.DataFrame
                 ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame,
                            str, list[str], list[str]]:
    """Return the coded accounts of the frame and the design they were drawn under.

    Reads the ``labels`` table unless ``labels`` are given, resolves one label per
    account (:func:`resolve_labels`) and the design (strata, sizes, weights).
    Coded accounts outside the frame are left out with a warning.

    Returns
    -------
    (labels, pairs, coded, sizes, design, assumptions, warnings)

    Raises
    ------
    EstimationError
        When no account is coded, or none of the coded accounts is in the frame.
    """
    if labels is None:
        labels = ds.sql("SELECT * FROM labels")
    if labels.height == 0:
        raise EstimationError("the labels table is empty; code a sample first "
                              "(`measure census sample`, then `import-codes`)")
    per, pairs = resolve_labels(labels)
    coded, sizes, desc, assumptions, warns = _design(ds, per, fr.height)
    in_frame = coded.join(fr.select("account_id"), on="account_id", how="semi")
    if in_frame.height < coded.height:
        warns.append(f"{coded.height - in_frame.height} coded account(s) are not in "
                     "the frame and were left out")
    if in_frame.height == 0:
        raise EstimationError("no coded account is in the frame; check that labels "
                              "refer to the dataset's account ids")
    return labels, pairs, in_frame, sizes, desc, list(assumptions), warns


def resolve_labels(labels: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One label per coded account, and the pairs of double-coded accounts.

    The label used for estimation is the one from the account's highest-ranked
    coder, coders ranked by how many accounts they coded (ties by name): the
    primary coder's reading wherever it exists. ``sample`` and ``inclusion_prob``
    are the first non-null values of the account's rows.

    An adjudicated label (coder ``gold``, ``docs/data-contract.md``) is not a coder:
    it ranks after every coder, so it gives the estimation label only to an account
    that no coder read, and it never enters a double-coded pair (Cohen's kappa
    measures agreement between coders; agreement with ``gold`` is accuracy).

    Returns
    -------
    (per_account, pairs)
        ``account_id, label, sample, inclusion_prob, n_coders`` (``n_coders``
        excludes ``gold``) and ``account_id, first, second`` (labels of the two
        highest-ranked coders of accounts read by at least two coders).
    """
    lab = labels
    if "coder" not in lab.columns:
        lab = lab.with_columns(pl.lit("coder").alias("coder"))
    lab = lab.with_columns(pl.col("coder").fill_null("coder"))
    for c, t in (("sample", pl.Utf8), ("inclusion_prob", pl.Float64)):
        if c not in lab.columns:
            lab = lab.with_columns(pl.lit(None, t).alias(c))
    is_gold = pl.col("coder") == GOLD
    rank = (lab.group_by("coder").agg(pl.len().alias("k"))
            .with_columns(is_gold.alias("is_gold"))
            .sort(["is_gold", "k", "coder"], descending=[False, True, False])
            .with_row_index("coder_rank"))
    lab = (lab.join(rank.select("coder", "coder_rank"), on="coder")
           .sort(["account_id", "coder_rank"]))
    lab = lab.unique(subset=["account_id", "coder"], keep="first",
                     maintain_order=True)
    per = lab.group_by("account_id", maintain_order=True).agg(
        pl.col("label").first(),
        pl.col("sample").drop_nulls().first(),
        pl.col("inclusion_prob").drop_nulls().first(),
        (~is_gold).sum().alias("n_coders"),
    )
    dbl = lab.filter(~is_gold).group_by("account_id", maintain_order=True).agg(
        pl.col("label").head(2).alias("labs")).filter(pl.col("labs").list.len() >= 2)
    pairs = dbl.select("account_id", pl.col("labs").list.get(0).alias("first"),
                       pl.col("labs").list.get(1).alias("second"))
    return per, pairs


def _design(ds: Dataset, per: pl.DataFrame, frame_size: int
            ) -> tuple[pl.DataFrame, pl.DataFrame, str, list[str], list[str]]:
    """Stratum of each coded account and stratum sizes N_h.

    Returns ``(coded, sizes, description, assumptions, warnings)`` with ``coded``:
    ``account_id, label, stratum`` and ``sizes``: ``stratum, N``.
    """
    assumptions: list[str] = []
    warns: list[str] = []
    if ds.has("design") and ds.has("design_sample"):
        d = ds.sql("SELECT stratum, N, design_id FROM design")
        smp = ds.sql("SELECT account_id, stratum FROM design_sample")
        coded = per.join(smp, on="account_id", how="inner")
        dropped = per.height - coded.height
        if dropped:
            warns.append(f"{dropped} coded account(s) are not in the recorded design "
                         "sample and were left out of the design-based estimates")
        sizes = d.select("stratum", pl.col("N").cast(pl.Float64))
        desc = f"design table {d['design_id'][0]}"
        assumptions.append("stratified simple random sample without replacement "
                           "as recorded in the dataset's design table; drawn "
                           "accounts that were not coded are missing at random "
                           "within their stratum")
        return coded.select("account_id", "label", "stratum"), sizes, desc, \
            assumptions, warns
    if per["inclusion_prob"].null_count() < per.height:
        if per["inclusion_prob"].null_count():
            warns.append(f"{per['inclusion_prob'].null_count()} coded account(s) "
                         "lack inclusion_prob and were left out")
        coded = per.filter(pl.col("inclusion_prob").is_not_null()).with_columns(
            pl.col("sample").fill_null("all").alias("stratum"))
        if (coded["inclusion_prob"] <= 0).any() or (coded["inclusion_prob"] > 1).any():
            raise EstimationError(
                "labels.inclusion_prob must lie in (0, 1]; fix the labels table")
        sizes = coded.group_by("stratum").agg(
            (1.0 / pl.col("inclusion_prob")).sum().alias("N"))
        desc = "labels' sample and inclusion_prob"
        assumptions.append(
            "the labels' 'sample' column names the strata of a stratified simple "
            "random sample; N_h = sum of 1/inclusion_prob over the coded accounts "
            "of the stratum (exact when every drawn account was coded)")
        return coded.select("account_id", "label", "stratum"), sizes, desc, \
            assumptions, warns
    coded = per.with_columns(pl.lit("all").alias("stratum"))
    sizes = pl.DataFrame({"stratum": ["all"], "N": [float(frame_size)]})
    assumptions.append("labels carry no inclusion_prob: the coded accounts are "
                       "treated as a simple random sample of the whole frame")
    return coded.select("account_id", "label", "stratum"), sizes, \
        "simple random sample (no inclusion_prob)", assumptions, warns


def _precision_bands(coded: pl.DataFrame, metric: str, level: float,
                     bands: int = 5) -> pl.DataFrame:
    """Weighted precision of coded accounts by quantile band of ``metric``."""
    from measure.census._sample import band_edges

    d = coded.filter(pl.col(metric).is_not_null())
    schema = {"band": pl.Utf8, "lower": pl.Float64, "upper": pl.Float64,
              "n": pl.Int64, "p_hat": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64}
    if d.height == 0:
        return pl.DataFrame(schema=schema)
    v = d[metric].cast(pl.Float64).to_numpy()
    y = d["y"].to_numpy()
    w = d["w"].to_numpy()
    cuts = band_edges(v, bands)
    bounds = [-np.inf, *cuts, np.inf]
    rows = []
    for j in range(len(bounds) - 1):
        sel = (v >= bounds[j]) & (v < bounds[j + 1])
        n = int(sel.sum())
        if n == 0:
            continue
        p = float(np.sum(w[sel] * y[sel]) / np.sum(w[sel]))
        # Kish effective sample size for the weighted proportion
        neff = float(np.sum(w[sel]) ** 2 / np.sum(w[sel] ** 2))
        lo, hi = est.wilson_interval(p * neff, neff, level=level)
        rows.append({"band": f"[{bounds[j]:g}, {bounds[j + 1]:g})",
                     "lower": bounds[j], "upper": bounds[j + 1], "n": n,
                     "p_hat": p, "ci_low": float(lo), "ci_high": float(hi)})
    return pl.DataFrame(rows, schema=schema)


def analyze(ds: Dataset, *, metric: str = "in_friends", level: float = 0.95,
            high_precision: float = HIGH_PRECISION,
            sensitivity: float | None = None, specificity: float | None = None,
            model: bool = True, seed: int = 0,
            labels: pl.DataFrame | None = None) -> CensusResult:
    """Estimate the number of supporter accounts in the census frame.

    Parameters
    ----------
    ds
        Dataset with ``seeds``, ``crawls``, ``edges``, ``accounts`` and ``labels``
        (``observations`` optional; a ``design``/``design_sample`` pair written by
        :func:`measure.census.draw_sample` is used when present).
    metric
        Sorting metric used for the precision-by-metric table and plot (one of
        ``in_friends, in_followers, seeds_followed, seed_followers, reciprocal_in,
        n_lists_seen, in_follower_share, in_friend_share``).
    level
        Confidence level of every interval (and one-sided level of the bounds).
    high_precision
        A stratum enters the "at least" bound when its coded precision reaches this.
    sensitivity, specificity
        Coder sensitivity and specificity (e.g. from an expert audit); when both are
        given, a Rogan-Gladen corrected estimate is added.
    model
        Fit the logistic working model (model-assisted estimate, classifier,
        ``population`` table).
    seed
        Seed of the cross-validation folds and the bootstrap.
    labels
        Use these labels (same columns as the ``labels`` table) instead of the
        dataset's, e.g. to re-estimate under another coder's reading.

    Returns
    -------
    CensusResult

    Notes
    -----
    Assumptions: the frame is the snowball of collected lists (estimates refer to
    supporters *in the frame*, not on the platform); coded accounts are a
    stratified random sample (weighted by ``1/inclusion_prob``) or, without
    inclusion probabilities, a simple random sample; coders are correct unless
    sensitivity/specificity are given. ``unclear`` counts as non-supporter in the
    estimate and as supporter in the upper bound (Berger & Morgan 2015, §1.1, §3.7).
    """
    t_start = time.perf_counter()
    _check_metric(metric)
    ds.require("census" if labels is not None else "census_estimate")
    fr = _frame.frame(ds, ranks=False, profile=True)
    frame_size = fr.height
    info = _frame.frame_info(ds)
    levels = fr.group_by("level", "tier").agg(pl.len().alias("n")).sort(
        "level", "tier")
    labels, pairs, coded, sizes, desc, assumptions, warns = coded_sample(
        ds, labels, fr)
    if info.excluded_snowball_accounts:
        warns.append(f"{info.excluded_snowball_accounts} account(s) crawled at a "
                     "snowball level are unreachable from the seeds through the "
                     "collected lists and were left out of the frame (check the "
                     "seeds and crawls tables)")
    coded = coded.with_columns(
        (pl.col("label") == "supporter").cast(pl.Int64).alias("y"),
        (pl.col("label") == "unclear").cast(pl.Int64).alias("u"))
    st = (coded.group_by("stratum").agg(
        pl.len().alias("n"), pl.col("y").sum().alias("supporters"),
        pl.col("u").sum().alias("unclear"))
        .join(sizes, on="stratum", how="left"))
    if st["N"].null_count():
        raise EstimationError("a stratum of the coded accounts has no recorded size "
                              "in the design; re-draw the sample or fix the design")
    metric_means = coded.join(fr.select("account_id", "level", metric),
                              on="account_id").group_by("stratum").agg(
        pl.col(metric).cast(pl.Float64).mean().alias("mean_metric"),
        pl.col("level").min().alias("level"))
    st = st.join(metric_means, on="stratum", how="left").sort(
        ["level", "mean_metric"], descending=[False, True], nulls_last=True)
    N = np.maximum(st["N"].to_numpy(), st["n"].to_numpy())
    n = st["n"].to_numpy().astype(float)
    x = st["supporters"].to_numpy().astype(float)
    xu = x + st["unclear"].to_numpy()
    total = est.stratified_total(N, n, x, level=level)
    p_hat = x / n
    high = p_hat >= high_precision
    strata = pl.DataFrame({
        "name": st["stratum"], "level": st["level"], "N": N,
        "n": st["n"], "supporters": st["supporters"], "unclear": st["unclear"],
        "p_hat": p_hat, "ci_low": total.p_low, "ci_high": total.p_high,
        "mean_metric": st["mean_metric"], "high": high,
    })
    design_N = float(N.sum())
    if abs(design_N - frame_size) > max(0.01 * frame_size, 1.0):
        warns.append(f"the design's strata hold {design_N:,.0f} accounts but the "
                     f"frame has {frame_size:,}; estimates refer to the design's "
                     "population")
    method = ("stratified estimator sum N_h p_h (Cochran 1977 ch. 5, FPC); CI: "
              "per-stratum Wilson score limits combined by MOVER (Zou & Donner 2008)")
    base_assumptions = tuple(assumptions) + (
        "labels are correct (see the misclassification grid otherwise)",
        "'unclear' counts as non-supporter",
    )
    if (n < 2).any():
        warns.append("a stratum has a single coded account; its variance is not "
                     "estimable (SE omits it; the Wilson limits still count it)")
    uncorrected = Estimate(f"{TERM}_uncorrected", total.estimate, total.ci, level,
                           total.std_error, method, int(n.sum()), base_assumptions)
    lower = est.one_sided_total(N, n, x, side="lower", level=level, mask=high)
    lower_all = est.one_sided_total(N, n, x, side="lower", level=level)
    upper = est.one_sided_total(N, n, xu, side="upper", level=level)
    lower_bound = Estimate(
        "at_least", lower, (lower, float("nan")), level,
        method=f"sum over strata with p_hat >= {high_precision:g} of N_h x "
               f"one-sided {level:.0%} Wilson lower bound (Brookings 'at least')",
        n=int(n[high].sum()))
    upper_bound = Estimate(
        "at_most", upper, (float("nan"), upper), level,
        method=f"sum over all strata of N_h x one-sided {level:.0%} Wilson upper "
               "bound, unclear counted as supporter (Brookings 'at most')",
        n=int(n.sum()))
    corrected = None
    if sensitivity is not None and specificity is not None:
        c = est.corrected_stratified_total(N, n, x, sensitivity=sensitivity,
                                           specificity=specificity, level=level)
        corrected = Estimate(
            f"{TERM}_corrected", c.estimate, c.ci, level, c.std_error,
            "Rogan-Gladen correction per stratum (Rogan & Gladen 1978), Wilson "
            "limits mapped through it and combined by MOVER",
            int(n.sum()), tuple(assumptions) + (
                f"coder sensitivity {sensitivity:g} and specificity "
                f"{specificity:g}, known and the same in every stratum",),
        )
    grid = pl.DataFrame(est.misclassification_grid(
        N, n, x, sensitivities=GRID[0], specificities=GRID[1], level=level))
    if pairs.height:
        k = est.cohen_kappa(pairs["first"].to_numpy(), pairs["second"].to_numpy(),
                            level=level)
        kappa = Estimate("cohen_kappa", k.kappa, k.ci, level, k.std_error,
                         "Cohen's kappa (Cohen 1960), large-sample SE", k.n,
                         ("the two codings of each account are by the account's "
                          "two highest-ranked coders",))
    else:
        kappa = Estimate.invalid("cohen_kappa", "no account was coded twice",
                                 method="Cohen's kappa")
    readings = _readings(labels, coded)
    sizes_h = dict(zip(st["stratum"].to_list(), N.tolist(), strict=True))
    latent, coder_error, posterior, draws = _latent_class(
        readings, sizes_h, N, n, x, level=level, seed=seed,
        assumptions=tuple(assumptions), grid=grid)
    if corrected is not None:
        estimate = replace(corrected, term=TERM, warnings=tuple(warns))
    else:
        estimate = replace(latent, warnings=latent.warnings + tuple(warns))
    warns = list(estimate.warnings)
    med = np.median(posterior.stratum_totals, axis=0)
    lo_q, hi_q = np.quantile(posterior.stratum_totals, [(1 - level) / 2,
                                                       (1 + level) / 2], axis=0)
    pos = {s_: i for i, s_ in enumerate(posterior.strata)}
    order = [pos[s_] for s_ in st["stratum"].to_list()]
    strata = strata.with_columns(
        pl.Series("supporters_corrected", med[order]),
        pl.Series("corrected_low", lo_q[order]),
        pl.Series("corrected_high", hi_q[order]))
    # weights and metric values for the precision table
    w_map = dict(zip(st["stratum"].to_list(), (N / n).tolist(), strict=True))
    coded = coded.join(fr, on="account_id", how="left").with_columns(
        pl.col("stratum").replace_strict(w_map, return_dtype=pl.Float64).alias("w"))
    precision = _precision_bands(coded, metric, level)
    rates, rates_note, bounds = _coder_rates(posterior, coder_error, sensitivity,
                                             specificity)
    model_est, clf_est, population = assisted_totals(
        fr, coded, sizes_h, rates=rates, rates_note=rates_note,
        grid=GRID if bounds else None, level=level, seed=seed,
        frame_size=frame_size, enabled=model)
    coverage = None
    if ds.has("detections"):
        det = ds.sql("SELECT account_id, source FROM detections")
        coverage = frame_coverage(det, fr["account_id"], estimate, labels=labels,
                                  level=level)
    return CensusResult(
        estimate=estimate, lower_bound=lower_bound, upper_bound=upper_bound,
        lower_bound_all=lower_all, model_assisted=model_est, corrected=corrected,
        classifier_corrected=clf_est, kappa=kappa, strata=strata,
        frame_size=frame_size, frame_levels=levels, n_coded=int(n.sum()),
        metric=metric, design=desc, sensitivity_grid=grid, precision=precision,
        population=population, assumptions=estimate.assumptions,
        warnings=tuple(warns), frame_info=info.to_dict(), uncorrected=uncorrected,
        coder_error=coder_error, frame_coverage=coverage, posterior=posterior,
        headline_basis=HeadlineBasis(
            N=N, n=n, x=x, draws=draws, sensitivity=sensitivity,
            specificity=specificity,
            identified=bool(coder_error.get("identified", False))),
        dataset=dataset_id(ds),
        options={"metric": metric, "level": level, "high_precision": high_precision,
                 "sensitivity": sensitivity, "specificity": specificity,
                 "model": model, "seed": seed},
        timings={"total": time.perf_counter() - t_start},
    )


def headline_draws(post: CoderPosterior, readings: pl.DataFrame, *, seed: int,
                   N: np.ndarray | None = None, n: np.ndarray | None = None,
                   x: np.ndarray | None = None) -> np.ndarray:
    """Draws of the headline total from the posterior of the coder-error model.

    The primary coder's stratified total (``N, n, x`` per stratum; by default
    counted from that coder's readings, in the order of ``post.strata``) corrected
    by Rogan-Gladen for each posterior draw of the coder's sensitivity and
    false-positive rate, with the sampling error added
    (:func:`measure.census.estimators.corrected_total_draws`).
    """
    primary = _primary_coder(readings, post.coders)
    if n is None or x is None or N is None:
        mine = readings.filter(pl.col("coder") == post.coders[primary])
        cnt = mine.group_by("stratum").agg(
            pl.len().alias("n"), (pl.col("label") == "supporter").sum().alias("x"))
        by = {r["stratum"]: (r["n"], r["x"]) for r in cnt.iter_rows(named=True)}
        keep = [i for i, s_ in enumerate(post.strata) if s_ in by]
        N = post.sizes[keep]
        n = np.array([by[post.strata[i]][0] for i in keep], dtype=float)
        x = np.array([by[post.strata[i]][1] for i in keep], dtype=float)
    se = post.sensitivity[:, primary]
    fp = post.false_positive[:, primary]
    return est.corrected_total_draws(N, n, x, se, fp,
                                     rng=np.random.default_rng(seed + 1))


def _primary_coder(readings: pl.DataFrame, coders: tuple[str, ...]) -> int:
    """Index of the coder whose labels are estimated (most readings, then name)."""
    k = (readings.filter(pl.col("coder").is_in(list(coders)))
         .group_by("coder").agg(pl.len().alias("k"))
         .sort(["k", "coder"], descending=[True, False]))
    return coders.index(k["coder"][0])


def _readings(labels: pl.DataFrame, coded: pl.DataFrame) -> pl.DataFrame:
    """Every reading of the coded accounts in the design.

    Columns ``account_id, coder, label, stratum``.
    """
    lab = labels
    if "coder" not in lab.columns:
        lab = lab.with_columns(pl.lit("coder").alias("coder"))
    lab = lab.with_columns(pl.col("coder").fill_null("coder"))
    return lab.select("account_id", "coder", "label").join(
        coded.select("account_id", "stratum"), on="account_id", how="inner")


def _latent_class(readings: pl.DataFrame, sizes: dict[str, float], N: np.ndarray,
                  n: np.ndarray, x: np.ndarray, *, level: float, seed: int,
                  assumptions: tuple[str, ...], grid: pl.DataFrame
                  ) -> tuple[Estimate, dict, CoderPosterior, np.ndarray]:
    """Headline total corrected for coder error estimated from the coded data.

    The primary coder's error rates are drawn from the posterior of the
    latent-class model; each draw corrects the stratified total of that coder's
    labels (``N, n, x`` per stratum) by Rogan-Gladen without truncating strata,
    with the sampling error added (:func:`corrected_total_draws`). Returns the
    estimate, the ``coder_error`` summary (plain JSON), the posterior of the coder
    model and the draws of the headline total.
    """
    fit = fit_coder_model(readings)
    post = sample_posterior(readings, sizes, draws=POSTERIOR_DRAWS,
                            burn=POSTERIOR_BURN, seed=seed)
    primary = _primary_coder(readings, post.coders)
    draws = headline_draws(post, readings, N=N, n=n, x=x, seed=seed)
    a = (1 - level) / 2
    lo, med, hi = (float(v) for v in np.quantile(draws, [a, 0.5, 1 - a]))
    n_coded = int(post.n_accounts)
    method = ("stratified total of the primary coder's labels corrected by "
              "Rogan-Gladen (Rogan & Gladen 1978) with coder error estimated from "
              "the coded data by a latent-class model (Hui & Walter 1980; Dawid & "
              "Skene 1979; Gibbs sampling); median and equal-tailed interval over "
              "the posterior of the error rates and the sampling error")
    assume = assumptions + (
        "coders decide independently given an account's true class",
        "each coder's error rates are the same in every stratum",
        "a coder is better than chance (wrong clear label below 50%)",
        "priors of the error model: Jeffreys Beta(0.5, 0.5) per stratum share, "
        "Beta(1, 5) per error rate",
        "'unclear' counts as non-supporter",
    )
    warns: list[str] = []
    if not fit.identified:
        g_lo = float(grid["ci_low"].min()) if grid.height else 0.0
        g_hi = float(grid["ci_high"].max()) if grid.height else float(
            sum(sizes.values()))
        lo, hi = min(lo, g_lo), max(hi, g_hi)
        warns.append(
            "coder error rates are not identified by the coded data ("
            + "; ".join(fit.reasons) + "): the interval is widened to the bounds "
            "over coder sensitivity 0.8-1 and specificity 0.9-1 (the "
            "misclassification grid); double-code or adjudicate more accounts in "
            "strata of different supporter shares (`measure census plan`)")
        method += "; error rates not identified: interval = bounds"
    e = Estimate(TERM, med, (lo, hi), level, float(np.std(draws, ddof=1)),
                 method, n_coded, assume, tuple(warns))
    coders = []
    for j, name in enumerate(post.coders):
        row: dict = {"coder": name}
        for key, arr in (("sensitivity", post.sensitivity[:, j]),
                         ("specificity", post.specificity[:, j]),
                         ("unclear_non_supporters", post.unclear[:, j, 0]),
                         ("unclear_supporters", post.unclear[:, j, 1])):
            q = np.quantile(arr, [a, 0.5, 1 - a])
            row[key] = {"estimate": float(q[1]), "ci": [float(q[0]), float(q[2])]}
        coders.append(row)
    coder_error = {
        "method": "latent-class model of the coded labels (Hui & Walter 1980; "
                  "Dawid & Skene 1979), Gibbs sampling; posterior medians and "
                  "equal-tailed intervals",
        "primary_coder": post.coders[primary],
        "identified": bool(fit.identified),
        "reasons": list(fit.reasons),
        "coders": coders,
        "n_coded": n_coded,
        "n_multiply_coded": int(post.n_multi),
        "n_adjudicated": int(post.n_gold),
        "level": level,
        "priors": {"prevalence": list(post.priors.prevalence),
                   "error": list(post.priors.error),
                   "unclear": list(post.priors.unclear)},
    }
    return e, coder_error, post, draws


def _coder_rates(post: CoderPosterior, coder_error: dict,
                 sensitivity: float | None, specificity: float | None
                 ) -> tuple[tuple[np.ndarray, np.ndarray] | None, str, bool]:
    """Return the primary coder's error rates for the model-based totals.

    Returns ``(rates, note, bounds)``: the given rates when both are passed;
    else posterior draws of the coder model when accounts were read twice or
    adjudicated (``bounds`` true when its error rates are not identified); else
    none, labels taken as right, with ``bounds`` true.
    """
    if sensitivity is not None and specificity is not None:
        return (np.array([sensitivity]), np.array([1.0 - specificity])), (
            f"coder sensitivity {sensitivity:g} and specificity {specificity:g}, "
            "known and the same in every stratum"), False
    if post.n_multi > 0:
        j = post.coders.index(coder_error["primary_coder"])
        return (post.sensitivity[:, j], post.false_positive[:, j]), (
            "coder error rates from the posterior of the latent-class coder model "
            "(coders independent given the class, error rates the same across "
            "strata)"), not coder_error.get("identified", False)
    return None, ("coder labels taken as right within the bounds of the "
                  "misclassification grid (no account was read twice)"), True
