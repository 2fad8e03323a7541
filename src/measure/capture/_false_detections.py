"""Detections of accounts that are not supporters: screening and sensitivity.

A list that also picks up accounts outside the population (a hashtag used by
critics, user reports of ordinary accounts) adds units that other lists rarely
find: they inflate the singleton patterns, and every model reads many singletons
as many units never caught. Two remedies:

* **Screening** (when the census has classified the frame: the ``population``
  table of :func:`measure.census.write_population`). Each detected account gets a
  probability of being a supporter: 1 or 0 from its coded label (``unclear``
  counts as not), else the census model's ``p_supporter``, else 1 (outside the
  frame: kept, and counted in the result). Multiple imputation
  (Rubin 1987, *Multiple Imputation for Nonresponse in Surveys*): each of ``M``
  imputations keeps every account with its probability, the headline estimator is
  refitted to the kept accounts' pattern counts, and the estimates are combined on
  the log scale (within-imputation variance from each interval, between-imputation
  variance from their spread, Rubin's 1987 degrees of freedom).
* **Sensitivity** (always): the headline refitted after removing a share ``f`` of
  each list's detections from that list's singleton pattern, for a few ``f``; the
  table shows how far ``N`` moves if that share of detections were false.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from measure._results import Estimate
from measure._stats import rubin_pool

#: False-detection shares of the sensitivity table.
SHARES = (0.0, 0.01, 0.02, 0.05)
#: Imputations of the screened estimate.
IMPUTATIONS = 10


@dataclass(frozen=True)
class FalseDetections:
    """Screened estimate and false-detection sensitivity table.

    Attributes
    ----------
    sensitivity
        One row per assumed share: ``share``, ``removed`` (singletons removed),
        ``estimate``, ``ci_low``, ``ci_high``.
    screened
        Estimate from detections weighted by their supporter probability
        (``None`` without a classification of the detected accounts).
    n_screened_out
        Expected detected accounts that are not supporters (sum of ``1 - p``).
    n_unclassified
        Detected accounts with no label and no model probability (kept as
        supporters).
    """

    sensitivity: pl.DataFrame = field(compare=False)
    screened: Estimate | None = None
    n_screened_out: float | None = None
    n_unclassified: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "sensitivity": self.sensitivity.to_dicts(),
            "screened": self.screened.to_dict() if self.screened else None,
            "n_screened_out": self.n_screened_out,
            "n_unclassified": self.n_unclassified,
        }


HeadlineFn = Callable[[np.ndarray], Estimate]


def sensitivity_table(y: np.ndarray, source_sizes: Sequence[int],
                      headline: HeadlineFn, *,
                      shares: Sequence[float] = SHARES) -> pl.DataFrame:
    """Refit ``headline`` after removing ``share`` of each list's detections.

    The removed detections are taken from the list's singleton pattern (false
    detections are rarely found by a second list), never more than it holds.
    """
    k = len(source_sizes)
    rows = []
    for f in shares:
        z = np.asarray(y, dtype=float).copy()
        removed = 0.0
        for j in range(k):
            cell = (1 << j) - 1
            take = min(z[cell], round(f * source_sizes[j]))
            z[cell] -= take
            removed += take
        e = headline(z) if z.sum() > 0 else None
        ok = e is not None and e.valid
        rows.append({"share": float(f), "removed": int(removed),
                     "estimate": e.estimate if ok else None,
                     "ci_low": e.ci[0] if ok else None,
                     "ci_high": e.ci[1] if ok else None})
    return pl.DataFrame(rows, schema={"share": pl.Float64, "removed": pl.Int64,
                                      "estimate": pl.Float64,
                                      "ci_low": pl.Float64, "ci_high": pl.Float64})


def can_screen(ds: Any) -> bool:
    """Whether the census has classified the frame (a ``population`` table)."""
    return ds.has("population") and ds.has_column("population", "p_supporter")


def detection_likelihood_ratio(ds: Any, labels: pl.DataFrame
                               ) -> tuple[float, dict[str, float]]:
    """How much more often supporters are detected than other accounts.

    From the coded accounts: ``q_S`` is the share of coded supporters on at least
    one list, ``q_N`` that of the other coded accounts (``unclear`` among them),
    each weighted by the inverse inclusion probability when the labels carry
    ``inclusion_prob`` and smoothed by half a detection (``(x + 0.5) / (n + 1)``).
    Being detected multiplies the odds of being a supporter by ``q_S / q_N``
    (Bayes' rule), which the census model's ``p_supporter`` — fitted on the frame,
    blind to the lists — does not include.

    Parameters
    ----------
    ds
        The dataset (``detections`` and ``labels``).
    labels
        One resolved label per coded account (``account_id``, ``label``).

    Returns
    -------
    tuple
        The ratio and its parts (``q_supporter``, ``q_other``, ``n_supporter``,
        ``n_other``).
    """
    det = ds.sql("SELECT DISTINCT account_id FROM detections")["account_id"]
    lab = labels.select("account_id", "label")
    if ds.has_column("labels", "inclusion_prob"):
        w = ds.sql("SELECT account_id, min(inclusion_prob) AS pi FROM labels "
                   "GROUP BY account_id")
        lab = lab.join(w, on="account_id", how="left").with_columns(
            (1.0 / pl.col("pi")).fill_null(1.0).alias("w"))
    else:
        lab = lab.with_columns(pl.lit(1.0).alias("w"))
    lab = lab.with_columns(pl.col("account_id").is_in(det.implode()).alias("det"))
    parts: dict[str, float] = {}
    for key, is_sup in (("supporter", True), ("other", False)):
        g = lab.filter((pl.col("label") == "supporter") == is_sup)
        n = float(g["w"].sum()) if g.height else 0.0
        x = float(g.filter(pl.col("det"))["w"].sum()) if g.height else 0.0
        scale = g.height / n if n > 0 else 1.0  # smoothing on the count scale
        parts[f"q_{key}"] = (x * scale + 0.5) / (n * scale + 1.0)
        parts[f"n_{key}"] = float(g.height)
    return parts["q_supporter"] / parts["q_other"], parts


def supporter_probabilities(ds: Any, accounts: pl.DataFrame
                            ) -> tuple[np.ndarray, int] | None:
    """Probability that each of ``accounts`` (column ``account_id``) is a supporter.

    Detected accounts with a coded label get 1 (``supporter``) or 0. The others
    get the census model's ``p_supporter`` (from the ``population`` table)
    updated by their detection: odds times :func:`detection_likelihood_ratio`
    (without labels, the model's probability as it is). ``None`` without a
    ``population`` table. Returns the probabilities and how many accounts had no
    classification (given 1).
    """
    if not can_screen(ds):
        return None
    has_lab = ds.has("labels")
    df = accounts.select("account_id")
    ratio = 1.0
    if has_lab:
        lab = ds.sql("SELECT account_id, coder, label FROM labels")
        from measure.census import resolve_labels

        per, _ = resolve_labels(lab)
        df = df.join(per.select("account_id", "label"), on="account_id",
                     how="left")
        ratio, _ = detection_likelihood_ratio(ds, per)
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("label"))
    pop = ds.sql("SELECT account_id, p_supporter FROM population")
    df = df.join(pop, on="account_id", how="left")
    odds = pl.col("p_supporter") * ratio
    p = df.select(
        pl.when(pl.col("label").is_not_null())
        .then((pl.col("label") == "supporter").cast(pl.Float64))
        .otherwise(odds / (odds + 1.0 - pl.col("p_supporter"))).alias("p"))["p"]
    missing = int(p.is_null().sum())
    return p.fill_null(1.0).to_numpy().astype(float), missing


def screened_estimate(masks: np.ndarray, p: np.ndarray, k_lists: int,
                      headline: HeadlineFn, *, imputations: int = IMPUTATIONS,
                      seed: int = 0, level: float = 0.95) -> Estimate:
    """Multiple-imputation estimate from accounts kept with probability ``p``.

    Parameters
    ----------
    masks
        Capture pattern (bit mask) of each detected account.
    p
        Probability that each detected account is a supporter.
    k_lists
        Number of lists.
    headline
        Estimator of ``N`` from pattern counts.
    imputations, seed, level
        Imputations, their seed, and the interval's level.
    """
    rng = np.random.default_rng(seed)
    zq = float(norm.ppf(0.5 + level / 2))
    q, u = [], []
    for _ in range(imputations):
        keep = rng.random(len(p)) < p
        y = np.bincount(masks[keep], minlength=2**k_lists)[1:].astype(float)
        if y.sum() == 0:
            continue
        e = headline(y)
        lo, hi = e.ci
        if not (e.valid and lo > 0 and math.isfinite(hi)):
            continue
        q.append(math.log(e.estimate))
        u.append(((math.log(hi) - math.log(lo)) / (2 * zq)) ** 2)
    m = len(q)
    if m < max(2, imputations // 2):
        return Estimate.invalid("population_screened", "the headline estimator "
                                "gave no bounded interval in most imputations",
                                level=level)
    pooled = rubin_pool(q, u)
    qbar, w, b = float(pooled.estimate), float(pooled.within), float(pooled.between)
    total = float(pooled.total)
    half = float(pooled.quantile(level)) * math.sqrt(total)
    est = math.exp(qbar)
    return Estimate(
        "population_screened", est, (math.exp(qbar - half), math.exp(qbar + half)),
        level, est * math.sqrt(total),
        f"headline estimator refitted in {m} imputations that keep each detected "
        "account with its probability of being a supporter; combined on the log "
        "scale by Rubin's rules (Rubin 1987, with his degrees of freedom)",
        int(round(float(p.sum()))),
        ("supporter probabilities from coded labels and the census model are "
         "taken as right (the model's own uncertainty is not carried)",
         "detected accounts the census did not classify are supporters"),
        extra={"imputations": m, "between_variance": b, "within_variance": w})
