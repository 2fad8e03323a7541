"""Side-by-side comparisons of two cohorts (methodology appendix E6, E10).

The profile of a cohort against a control group (ordinary users; census Appendix B),
and activity before suspension between groups (Conway et al. 2017: one group sent
6x the tweets and gained 13x the followers of another). Differences and ratios get
percentile-bootstrap intervals from independent replicates of the two groups.

References
----------
Conway, M. et al. (2017). *Disrupting Daesh*. VOX-Pol.
Efron, B. & Tibshirani, R. (1993). *An Introduction to the Bootstrap*, ch. 13.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate, _fmt, estimates_to_polars
from measure.dataset import Dataset
from measure.describe import _sql
from measure.describe._cohort import Cohort
from measure.describe._scan import LookupScan, scan_observations
from measure.describe._stats import numeric_summary

COMPARE_ASSUMPTION = (
    "the two groups are independent random samples of their populations; the "
    "interval is the percentile interval of independent bootstrap replicates"
)


@dataclass(frozen=True)
class ComparisonResult:
    """Two groups side by side.

    Attributes
    ----------
    title
        What is compared.
    groups
        ``(first, second)`` group names; differences are first - second and ratios
        first / second.
    table
        One row per statistic: ``term``, each group's estimate and interval, the
        difference and ratio with intervals, and group sizes.
    estimates
        ``diff[term]`` and ``ratio[term]`` as :class:`measure.Estimate`.
    """

    title: str
    groups: tuple[str, str]
    table: pl.DataFrame
    estimates: tuple[Estimate, ...]

    def estimate(self, term: str) -> Estimate:
        """Return the estimate named ``term`` (e.g. ``"ratio[followers_mean]"``)."""
        for e in self.estimates:
            if e.term == term:
                return e
        raise KeyError(term)

    def to_polars(self) -> pl.DataFrame:
        """Tidy table of the difference and ratio estimates."""
        return estimates_to_polars(list(self.estimates))

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"title": self.title, "groups": list(self.groups),
                "table": self.table.to_dicts(),
                "estimates": [e.to_dict() for e in self.estimates]}

    def summary(self) -> str:
        """Text table: term, both groups, ratio with interval."""
        a, b = self.groups
        lines = [f"{self.title}: {a} vs {b}",
                 f"  {'term':<32}{a[:16]:>16}{b[:16]:>16}   ratio [CI]"]
        for r in self.table.iter_rows(named=True):
            lines.append(
                f"  {r['term']:<32}{_fmt(r['estimate_a']):>16}"
                f"{_fmt(r['estimate_b']):>16}   {_fmt(r['ratio'])} "
                f"[{_fmt(r['ratio_low'])}, {_fmt(r['ratio_high'])}]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.summary()) + "</pre>"


def _share_reps(e: Estimate, B: int, rng: np.random.Generator) -> np.ndarray:
    neff = e.extra.get("n_eff", e.n or 0)
    if not neff:
        return np.full(B, np.nan)
    m = max(1, int(round(neff)))
    return rng.binomial(m, e.estimate, size=B) / m


def compare_estimates(title: str, names: tuple[str, str],
                      ests_a: list[Estimate], reps_a: dict[str, np.ndarray],
                      ests_b: list[Estimate], reps_b: dict[str, np.ndarray], *,
                      level: float = 0.95, n_boot: int = 1000, seed: int = 0
                      ) -> ComparisonResult:
    """Pair two profiles term by term and compute differences and ratios.

    Numeric terms use the profiles' own bootstrap replicates; shares (Wilson
    estimates, no replicates) use parametric binomial replicates at their effective
    sample size. Counts and maxima (no sampling interval) are shown without
    intervals for their difference.
    """
    rng = np.random.default_rng(seed + 7919)
    by_b = {e.term: e for e in ests_b}
    a = (1 - level) / 2
    rows: list[dict[str, Any]] = []
    out: list[Estimate] = []
    for ea in ests_a:
        eb = by_b.get(ea.term)
        if eb is None or not (ea.valid and eb.valid):
            continue
        t = ea.term
        ra, rb = reps_a.get(t), reps_b.get(t)
        if ra is None and "share" in t and "Wilson" in ea.method:
            ra = _share_reps(ea, n_boot, rng)
            rb = _share_reps(eb, n_boot, rng)
        diff = ea.estimate - eb.estimate
        ratio = ea.estimate / eb.estimate if eb.estimate != 0 else math.nan
        if (ra is not None and rb is not None and len(ra) == len(rb)
                and np.isfinite(ra).any() and np.isfinite(rb).any()):
            d = ra - rb
            with np.errstate(divide="ignore", invalid="ignore"):
                q = ra / rb
            dlo, dhi = (float(v) for v in np.nanquantile(d, [a, 1 - a]))
            q = q[np.isfinite(q)]
            if q.size >= 0.9 * len(ra) and math.isfinite(ratio):
                qlo, qhi = (float(v) for v in np.quantile(q, [a, 1 - a]))
                qse = float(q.std(ddof=1))
            else:
                qlo = qhi = qse = math.nan
            dse = float(np.nanstd(d, ddof=1)) if np.isfinite(d).sum() > 1 \
                else math.nan
            method = "independent percentile bootstrap"
        else:
            dlo = dhi = qlo = qhi = dse = qse = math.nan
            method = "no sampling interval"
        rows.append({"term": t, "estimate_a": ea.estimate, "ci_low_a": ea.ci[0],
                     "ci_high_a": ea.ci[1], "n_a": ea.n, "estimate_b": eb.estimate,
                     "ci_low_b": eb.ci[0], "ci_high_b": eb.ci[1], "n_b": eb.n,
                     "difference": diff, "diff_low": dlo, "diff_high": dhi,
                     "ratio": ratio, "ratio_low": qlo, "ratio_high": qhi})
        assum = (COMPARE_ASSUMPTION,)
        out.append(Estimate(f"diff[{t}]", diff, (dlo, dhi), level, dse, method,
                            (ea.n or 0) + (eb.n or 0), assum))
        if math.isfinite(ratio):
            out.append(Estimate(f"ratio[{t}]", ratio, (qlo, qhi), level, qse, method,
                                (ea.n or 0) + (eb.n or 0), assum))
    return ComparisonResult(title, names, pl.DataFrame(rows), tuple(out))


#: Variables compared before suspension (column -> observations column).
BEFORE_VARS = {"statuses": "statuses_count", "friends": "friends_count",
               "followers": "followers_count"}


def before_suspension_table(ds: Dataset, scan: LookupScan | None = None
                            ) -> pl.DataFrame:
    """Latest active look-up before the first suspended one, per cohort account.

    Parameters
    ----------
    ds
        The dataset; the cohort must be registered (``_describe_cohort``).
    scan
        The cohort's look-ups reduced per account
        (:func:`measure.describe._scan.scan_observations`); read here when not
        given.

    Returns
    -------
    polars.DataFrame
        ``account_id, last_active_at, suspended_at, suspended, statuses,
        friends, followers``, sorted by ``account_id`` (a fixed row order keeps
        bootstrap draws reproducible).
    """
    if scan is None:
        scan = scan_observations(ds, ds.sql(_sql.COHORT_IDS)["account_id"],
                                 semi=True)
    return scan.before_suspension


def _summaries(df: pl.DataFrame, w: np.ndarray | None, *, level: float,
               n_boot: int, seed: int) -> tuple[list[Estimate], dict]:
    ests: list[Estimate] = []
    reps: dict[str, np.ndarray] = {}
    for i, var in enumerate(BEFORE_VARS):
        x = df[var].cast(pl.Float64).fill_null(np.nan).to_numpy()
        s = numeric_summary(var, x, w, level=level, n_boot=n_boot, seed=seed + i,
                            keep_replicates=True)
        for e in s.estimates:
            if e.term.endswith(("_mean", "_median")):
                ests.append(e)
        reps.update({f"{var}_{k}": r for k, r in s.replicates.items()})
    return ests, reps


def activity_before_suspension(groups: dict[str, tuple[pl.DataFrame, Cohort]], *,
                               suspended_only: bool = True, level: float = 0.95,
                               n_boot: int = 1000, seed: int = 0
                               ) -> ComparisonResult:
    """Compare statuses, friends and followers before suspension between two groups.

    Parameters
    ----------
    groups
        Two entries ``name -> (before-suspension table, cohort)`` (tables from
        :func:`before_suspension_table`).
    suspended_only
        Keep only accounts later seen suspended (Conway et al. compare accounts at
        their last look-up before removal); when ``False`` accounts never
        suspended enter with their latest active look-up.
    level, n_boot, seed
        Interval level, bootstrap replicates, seed.

    Notes
    -----
    Ratios of means and medians of the first group to the second, each with a
    percentile-bootstrap interval from independent resamples of the groups.
    Counts are lower bounds of the activity at suspension: the last active look-up
    precedes the suspension by up to one look-up interval.
    """
    if len(groups) != 2:
        raise ValueError("activity_before_suspension compares exactly two groups")
    parts = []
    for i, (name, (df, cohort)) in enumerate(groups.items()):
        if suspended_only:
            df = df.filter(pl.col("suspended"))
        w = None
        if cohort.weighted:
            w = df.join(cohort.frame, on="account_id", how="left")[
                "weight"].to_numpy()
        ests, reps = _summaries(df, w, level=level, n_boot=n_boot, seed=seed + 10 * i)
        parts.append((name, ests, reps))
    (na, ea, ra), (nb, eb, rb) = parts
    return compare_estimates("activity before suspension", (na, nb), ea, ra, eb, rb,
                             level=level, n_boot=n_boot, seed=seed)
