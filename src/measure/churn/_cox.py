"""Cox proportional hazards for time to suspension, with delayed entry and strata.

Fitted by Newton--Raphson on Efron's partial likelihood with entry times as left
truncation and optional strata, on the midpoint-imputed event times. The risk-set
sums are cumulative sums over sorted entry and exit times, so the cost grows as
``n log n`` (statsmodels ``PHReg`` gives the same estimates -- the tests check it --
but loops over event times in Python, which is too slow for millions of accounts). A
Grambsch--Therneau check of proportional hazards correlates the scaled Schoenfeld
residuals of each covariate with the rank of the event time (one-degree-of-freedom
chi-square per covariate, the statistic lifelines' ``proportional_hazard_test``
reports with ``time_transform="rank"``).

Accounts run by one actor share their fate (a person's accounts are suspended
together and come back together), so they are not independent. With ``cluster``
(a column naming the actor or any other group of possibly dependent accounts) the
standard errors are the robust sandwich of Lin & Wei (1989): ``V = I^-1 (sum_c
U_c U_c') I^-1`` with ``I`` the observed information and ``U_c`` the sum over the
accounts of cluster ``c`` of their score residuals (Efron-weighted within tied
events, with the delayed-entry risk sets of the fit). This is the "working
independence" variance of R ``coxph(..., cluster=)`` and of lifelines'
``CoxPHFitter.fit(..., cluster_col=)``, without a small-sample factor; it needs many
clusters (hundreds) to be trusted. The model-based standard errors stay in the
result (``se_model``) so both can be reported.

Assumptions
-----------
* Hazards proportional over age (checked, not assumed away: see ``ph_test``).
* Independent censoring and quasi-independent truncation given the covariates.
* Accounts independent of each other (model-based standard errors), or independent
  between clusters and arbitrarily dependent within them (``cluster``); in the
  clustered case the coefficients describe the marginal (population-averaged)
  hazard of an account, not an actor-conditional one.
* Midpoint imputation of interval-censored times; with look-ups a week apart the
  coefficients change little (compare the Turnbull curve with the midpoint one).

References
----------
Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
Efron, B. (1977). The efficiency of Cox's likelihood function for censored data.
JASA 72, 557-565. Grambsch, P. M. & Therneau, T. M. (1994). Proportional hazards
tests and diagnostics based on weighted residuals. Biometrika 81, 515-526.
Lin, D. Y. & Wei, L. J. (1989). The robust inference for the Cox proportional
hazards model. JASA 84, 1074-1078. Therneau, T. M. & Grambsch, P. M. (2000).
Modeling Survival Data: Extending the Cox Model, sec. 4.6 and 8.2 (score residuals
with Efron ties, grouped jackknife).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats

from measure._results import Estimate
from measure.churn._km import cluster_codes


@dataclass(frozen=True)
class CoxResult:
    """Cox model coefficients (log hazard ratios), standard errors and PH check.

    Attributes
    ----------
    terms
        Covariate names.
    coef
        Log hazard ratios.
    std_error
        Standard errors used for the intervals and p-values: the cluster-robust
        sandwich (Lin & Wei 1989) when ``cluster`` is set, else the model-based ones.
    level
        Confidence level of the intervals.
    n, n_events
        Subjects and events used.
    ph_test
        Table ``term, statistic, p_value`` of the Grambsch--Therneau check (with
        the model-based covariance, as Grambsch & Therneau derive it).
    loglik
        Partial log-likelihood at the estimate.
    strata
        Column whose levels have separate baseline hazards, or ``None``.
    warnings
        Notes such as subsampling.
    extra
        Further numbers (free form).
    se_model
        Model-based standard errors (inverse observed information), reported
        beside ``std_error`` whatever the variance used.
    cluster
        Column whose values group possibly dependent accounts, or ``None``.
    n_clusters
        Number of clusters (accounts with no cluster value count alone).
    assumptions
        What a reader must accept for the intervals, including which variance they
        use.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    std_error: np.ndarray
    level: float
    n: int
    n_events: int
    ph_test: pl.DataFrame
    loglik: float
    strata: str | None = None
    warnings: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
    se_model: np.ndarray | None = None
    cluster: str | None = None
    n_clusters: int | None = None
    assumptions: tuple[str, ...] = ()

    @property
    def variance(self) -> str:
        """``"cluster-robust"`` or ``"model-based"``: what ``std_error`` is."""
        return "model-based" if self.cluster is None else "cluster-robust"

    @property
    def p_value(self) -> np.ndarray:
        """Two-sided Wald p-values of ``coef / std_error`` (normal reference)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * stats.norm.sf(np.abs(self.coef / self.std_error))

    def _method(self) -> str:
        m = "Cox PH (Efron ties, delayed entry)"
        if self.cluster is not None:
            m += (f"; cluster-robust SE (Lin & Wei 1989) over {self.n_clusters} "
                  f"clusters of {self.cluster!r}")
        return m

    def estimates(self) -> list[Estimate]:
        """One :class:`Estimate` per coefficient (log hazard ratio).

        ``extra`` carries ``p_value`` (Wald, with ``std_error``), ``std_error_model``
        and ``variance`` (``"cluster-robust"`` or ``"model-based"``).
        """
        z = stats.norm.ppf(0.5 + self.level / 2)
        se_model = self.std_error if self.se_model is None else self.se_model
        return [Estimate(term=f"cox:{t}", estimate=float(b), std_error=float(s),
                         ci=(float(b - z * s), float(b + z * s)), level=self.level,
                         method=self._method(), n=self.n,
                         assumptions=self.assumptions, warnings=self.warnings,
                         extra={"p_value": float(p), "std_error_model": float(sm),
                                "variance": self.variance})
                for t, b, s, p, sm in zip(self.terms, self.coef, self.std_error,
                                          self.p_value, se_model, strict=True)]

    def to_polars(self) -> pl.DataFrame:
        """Coefficient table with the fixed result columns."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        return pl.DataFrame({
            "term": list(self.terms), "estimate": self.coef,
            "std_error": self.std_error, "ci_low": self.coef - z * self.std_error,
            "ci_high": self.coef + z * self.std_error,
            "level": [self.level] * len(self.terms),
        })

    def summary(self) -> str:
        """Text table of hazard ratios, both standard errors and the PH check."""
        lines = [f"Cox PH (Efron ties, delayed entry): n={self.n}, "
                 f"events={self.n_events}" + (f", strata={self.strata}"
                                              if self.strata else "")
                 + (f", clusters={self.n_clusters} ({self.cluster})"
                    if self.cluster is not None else "")]
        ph = dict(zip(self.ph_test["term"], self.ph_test["p_value"], strict=True))
        se_model = self.std_error if self.se_model is None else self.se_model
        for t, b, s, sm, p in zip(self.terms, self.coef, self.std_error, se_model,
                                  self.p_value, strict=True):
            se_txt = (f"(robust se {s:.4f}, model se {sm:.4f})"
                      if self.cluster is not None else f"(se {s:.4f})")
            lines.append(f"  {t:<24} coef {b:+.4f} {se_txt}  HR {math.exp(b):.3f}"
                         f"  p={p:.3g}  PH p={ph.get(t, float('nan')):.3g}")
        lines.extend(f"  assumes: {a}" for a in self.assumptions)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


#: Levels of a categorical covariate with fewer accounts are pooled as "(other)".
MIN_LEVEL_N = 30


def design(frame: pl.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Build the numeric design matrix.

    Numbers enter as they are; text and booleans as 0/1 dummies (levels sorted,
    the first dropped; levels with fewer than ``MIN_LEVEL_N`` accounts pooled as
    ``(other)``).
    """
    cols: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        s = frame[c]
        if s.dtype.is_numeric():
            cols.append(s.cast(pl.Float64).to_numpy())
            names.append(c)
        else:
            s = s.cast(pl.Utf8).fill_null("(missing)")
            # rare levels (fewer than MIN_LEVEL_N accounts) are pooled, or their
            # coefficients run off to infinity (no events) and swamp the table
            counts = s.value_counts()
            rare = counts.filter(pl.col("count") < MIN_LEVEL_N)[s.name].to_list()
            if rare and len(rare) < counts.height:
                s = s.replace(rare, ["(other)"] * len(rare))
            levels = sorted(s.unique().to_list())
            for lev in levels[1:]:
                cols.append((s == lev).cast(pl.Float64).to_numpy())
                names.append(f"{c}[{lev}]")
    if not cols:
        return np.empty((frame.height, 0)), []
    return np.column_stack(cols), names


def _stratum_terms(entry: np.ndarray, time: np.ndarray, event: np.ndarray,
                   x: np.ndarray, beta: np.ndarray, *, need_hess: bool = True
                   ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Efron partial log-likelihood, score and Hessian of one stratum.

    Risk sets ``entry < t <= time`` are sums over sorted cumulative sums, so the cost
    is ``O(n log n + n p^2)`` with no loop over event times.

    Returns ``(loglik, score, hessian, event_index, event_mean)`` where
    ``event_mean`` is the Efron-averaged risk-set mean of ``x`` at each event (for
    Schoenfeld residuals ``x_j - event_mean_j``).
    """
    n, p = x.shape
    eta = x @ beta
    r = np.exp(eta - eta.max())
    ev = np.flatnonzero(event)
    if ev.size == 0:
        return 0.0, np.zeros(p), np.zeros((p, p)), ev, np.zeros((0, p))
    tau, grp, d = np.unique(time[ev], return_inverse=True, return_counts=True)
    oe = np.argsort(entry, kind="stable")
    ot = np.argsort(time, kind="stable")
    ie = np.searchsorted(entry[oe], tau, side="left")  # entry < tau
    it = np.searchsorted(time[ot], tau, side="left")  # time < tau

    def risk(v: np.ndarray) -> np.ndarray:
        """Sum over the risk set at each tau of v (n,) or (n, k)."""
        ce = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v[oe], 0)])
        ct = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v[ot], 0)])
        return ce[ie] - ct[it]

    def tied(v: np.ndarray) -> np.ndarray:
        out = np.zeros((tau.size,) + v.shape[1:])
        np.add.at(out, grp, v[ev])
        return out

    rx = r[:, None] * x
    s0, s1 = risk(r), risk(rx)
    d0, d1 = tied(r), tied(rx)
    frac = _tie_fraction(grp, d)
    s0l = s0[grp] - frac * d0[grp]
    s1l = s1[grp] - frac[:, None] * d1[grp]
    mean_l = s1l / s0l[:, None]
    ll = float(eta[ev].sum() - (np.log(s0l) + eta.max()).sum())
    score = x[ev].sum(0) - mean_l.sum(0)
    hess = np.zeros((p, p))
    if need_hess:
        for a in range(p):
            for b in range(a, p):
                v = rx[:, a] * x[:, b]
                s2 = risk(v)[grp] - frac * tied(v)[grp]
                h = (s2 / s0l - mean_l[:, a] * mean_l[:, b]).sum()
                hess[a, b] = hess[b, a] = -h
    # Efron-averaged mean per tie group, repeated for its events
    gmean = np.zeros((tau.size, p))
    np.add.at(gmean, grp, mean_l)
    gmean /= d[:, None]
    return ll, score, hess, ev, gmean[grp]


def _stratum_score_residuals(entry: np.ndarray, time: np.ndarray,
                             event: np.ndarray, x: np.ndarray, beta: np.ndarray
                             ) -> np.ndarray:
    """Score residuals of one stratum (Efron ties, delayed entry), shape ``(n, p)``.

    Subject ``i`` contributes ``U_i = delta_i (x_i - xbar_i) - r_i sum_l w_il (x_i -
    xbar_l) / S0_l``, the sum running over the Efron sub-steps ``l`` of the event
    times in ``(entry_i, time_i]``: ``S0_l`` and ``xbar_l`` are the Efron-reduced
    risk-set sum and mean, ``xbar_i`` their average over the tie group of ``i``'s
    event, and ``w_il`` is 1, except ``1 - l/d`` for the ``d`` subjects tied at
    that time (Therneau & Grambsch 2000, sec. 4.6). Without ties this is the
    residual of Lin & Wei (1989); the residuals sum to the score, which is 0 at
    the estimate. Cost ``O(n log n + n p)``: cumulative sums over event groups.
    """
    n, p = x.shape
    out = np.zeros((n, p))
    ev = np.flatnonzero(event)
    if ev.size == 0:
        return out
    eta = x @ beta
    r = np.exp(eta - eta.max())
    tau, grp, d = np.unique(time[ev], return_inverse=True, return_counts=True)
    oe = np.argsort(entry, kind="stable")
    ot = np.argsort(time, kind="stable")
    ie = np.searchsorted(entry[oe], tau, side="left")
    it = np.searchsorted(time[ot], tau, side="left")

    def risk(v: np.ndarray) -> np.ndarray:
        ce = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v[oe], 0)])
        ct = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v[ot], 0)])
        return ce[ie] - ct[it]

    def per_group(v: np.ndarray) -> np.ndarray:
        """Sum over each tie group of per-event values v (n_events,) or (., k)."""
        return _group_sum(grp, v, tau.size)

    rx = r[:, None] * x
    s0, s1 = risk(r), risk(rx)
    d0, d1 = per_group(r[ev]), per_group(rx[ev])
    frac = _tie_fraction(grp, d)
    s0l = s0[grp] - frac * d0[grp]
    mean_l = (s1[grp] - frac[:, None] * d1[grp]) / s0l[:, None]
    inv = 1.0 / s0l
    # per tie group: sums over its Efron sub-steps of 1/S0_l and xbar_l/S0_l, and
    # the same weighted by l/d (the part the tied subjects are not at risk for)
    h, hx = per_group(inv), per_group(mean_l * inv[:, None])
    hf, hxf = per_group(frac * inv), per_group((frac * inv)[:, None] * mean_l)
    gmean = per_group(mean_l) / d[:, None]
    ch = np.concatenate([[0.0], np.cumsum(h)])
    chx = np.concatenate([np.zeros((1, p)), np.cumsum(hx, 0)])
    lo = np.searchsorted(tau, entry, side="right")  # first event time > entry
    hi = np.searchsorted(tau, time, side="right")  # event times <= time
    a = ch[hi] - ch[lo]
    b = chx[hi] - chx[lo]
    out = -r[:, None] * (x * a[:, None] - b)
    # tied subjects: remove the l/d share of their own event time, add the event
    k = grp
    out[ev] += r[ev, None] * (x[ev] * hf[k, None] - hxf[k])
    out[ev] += x[ev] - gmean[k]
    return out


def score_residuals(entry: np.ndarray, time: np.ndarray, event: np.ndarray,
                    x: np.ndarray, beta: np.ndarray,
                    strata: np.ndarray | None = None) -> np.ndarray:
    """Score residuals ``U_i`` (n x p) of the Cox model at ``beta``.

    Same risk sets as :func:`coxph_efron` (``entry < t <= time``, Efron ties,
    separate strata); see :func:`_stratum_score_residuals`. Subjects of a stratum
    without events get 0.
    """
    x = np.asarray(x, dtype=float)
    entry = np.asarray(entry, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    n, p = x.shape
    out = np.zeros((n, p))
    groups = ([np.arange(n)] if strata is None else
              [np.flatnonzero(strata == s) for s in np.unique(strata)])
    for g in groups:
        out[g] = _stratum_score_residuals(entry[g], time[g], event[g], x[g], beta)
    return out


def robust_covariance(resid: np.ndarray, cov: np.ndarray, clusters: np.ndarray
                      ) -> np.ndarray:
    """Lin--Wei sandwich ``cov (sum_c U_c U_c') cov`` with cluster-summed residuals.

    Parameters
    ----------
    resid
        Score residuals (n x p), from :func:`score_residuals`.
    cov
        Model-based covariance (inverse observed information).
    clusters
        Cluster label of each subject (see :func:`measure.churn._km.cluster_codes`
        for missing labels); one subject per cluster gives the ordinary robust
        variance.
    """
    codes = cluster_codes(clusters)
    uc = _group_sum(codes, resid, int(codes.max()) + 1 if codes.size else 0)
    dfb = uc @ cov
    return dfb.T @ dfb


def _group_sum(codes: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
    """Sum the rows of ``v`` (1-d or 2-d) within integer ``codes``."""
    if v.ndim == 1:
        return np.bincount(codes, weights=v, minlength=size)
    return np.column_stack([np.bincount(codes, weights=v[:, j], minlength=size)
                            for j in range(v.shape[1])]).reshape(size, v.shape[1])


def _tie_fraction(grp: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Return Efron's ``l / d`` for each event.

    ``l`` (0..d-1) is the event's position inside its group of ``d`` tied events
    (``grp`` = each event's tie group).
    """
    order = np.argsort(grp, kind="stable")
    first = np.concatenate([[0], np.cumsum(d)[:-1]])
    pos = np.empty(grp.size, dtype=float)
    pos[order] = np.arange(grp.size) - np.repeat(first, d)
    return pos / d[grp]


def coxph_efron(entry: np.ndarray, time: np.ndarray, event: np.ndarray,
                x: np.ndarray, strata: np.ndarray | None = None, *,
                clusters: np.ndarray | None = None,
                tol: float = 1e-10, max_iter: int = 50) -> dict[str, np.ndarray]:
    """Newton--Raphson fit of the Cox model with Efron ties, delayed entry, strata.

    Returns ``params``, ``cov`` (inverse observed information), ``loglik``,
    ``schoenfeld`` (n_events x p, NaN-free, in the order of ``events``) and
    ``events`` (row indices of the events), ``iterations``. With ``clusters`` (a
    label per subject) also ``cov_robust``, the Lin--Wei sandwich with score
    residuals summed within clusters (:func:`robust_covariance`), and
    ``n_clusters``.
    """
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    event = np.asarray(event, dtype=bool)
    groups = ([np.arange(n)] if strata is None else
              [np.flatnonzero(strata == s) for s in np.unique(strata)])

    def total(beta: np.ndarray, need_hess: bool = True):
        ll, sc, h = 0.0, np.zeros(p), np.zeros((p, p))
        parts = []
        for g in groups:
            a, b, c, ev, m = _stratum_terms(entry[g], time[g], event[g], x[g], beta,
                                            need_hess=need_hess)
            ll += a
            sc += b
            h += c
            parts.append((g[ev], m))
        return ll, sc, h, parts

    beta = np.zeros(p)
    ll, sc, h, parts = total(beta)
    it = 0
    while it < max_iter:
        it += 1
        step = np.linalg.solve(-h, sc)
        new = beta + step
        ll_new, sc_new, h_new, parts_new = total(new)
        halvings = 0
        while ll_new < ll - 1e-12 * abs(ll) and halvings < 30:
            step /= 2
            new = beta + step
            ll_new, sc_new, h_new, parts_new = total(new)
            halvings += 1
        done = bool(np.max(np.abs(new - beta)) < tol)
        beta, ll, sc, h, parts = new, ll_new, sc_new, h_new, parts_new
        if done:
            break
    cov = np.linalg.inv(-h)
    idx = np.concatenate([q[0] for q in parts])
    means = np.concatenate([q[1] for q in parts])
    out = {"params": beta, "cov": cov, "loglik": ll, "events": idx,
           "schoenfeld": x[idx] - means, "iterations": it}
    if clusters is not None:
        resid = score_residuals(entry, time, event, x, beta, strata)
        codes = cluster_codes(clusters)
        out["cov_robust"] = robust_covariance(resid, cov, codes)
        out["n_clusters"] = int(codes.max()) + 1 if codes.size else 0
    return out


def ph_test(schoenfeld: np.ndarray, cov: np.ndarray, event_time: np.ndarray
            ) -> np.ndarray:
    """Grambsch--Therneau statistics with rank-transformed event times.

    ``T_k = (sum_j g_j r*_jk)^2 / (d V_kk sum_j g_j^2)`` where ``r* = d V r_j`` are the
    scaled Schoenfeld residuals, ``g`` the centred ranks (1..d) of the event times,
    ``V`` the covariance of the coefficients and ``d`` the number of events; each
    ``T_k`` is compared with chi-square(1) (lifelines' ``proportional_hazard_test``
    with ``time_transform="rank"``).
    """
    d = schoenfeld.shape[0]
    order = np.argsort(event_time, kind="stable")
    g = np.empty(d)
    g[order] = np.arange(1, d + 1)
    g -= g.mean()
    scaled = d * schoenfeld @ cov
    with np.errstate(divide="ignore", invalid="ignore"):
        return (g[:, None] * scaled).sum(0) ** 2 / (d * np.diag(cov) * (g**2).sum())


def fit_cox(frame: pl.DataFrame, covariates: list[str], *, strata: str | None = None,
            cluster: str | None = None, level: float = 0.95,
            max_n: int | None = 500_000, seed: int = 0) -> CoxResult | None:
    """Fit the Cox model on a lifetimes frame (``entry``, ``time``, ``event`` == 1).

    Parameters
    ----------
    frame
        Lifetimes (see :mod:`measure.churn._lifetimes`).
    covariates
        Columns of ``frame`` used as covariates.
    strata
        Column whose levels get separate baseline hazards.
    cluster
        Column grouping accounts that may share their fate (e.g. the actor running
        them). Standard errors, intervals and p-values then use the Lin--Wei
        sandwich with score residuals summed within its values; the model-based
        standard errors stay in ``se_model``. Accounts with a missing value count
        as clusters of one.
    level
        Confidence level.
    max_n
        Fit on a simple random sample of this many accounts when there are more
        (memory grows as ``n p^2``); the standard errors
        then describe the sample, and a warning says so. ``None`` for all. The
        sample is of accounts, so a cluster keeps those of its accounts drawn.
    seed
        Seed of that sample.
    """
    notes: list[str] = []
    keep = frame.drop_nulls([c for c in covariates if frame[c].dtype.is_numeric()])
    if keep.height < frame.height:
        notes.append(f"{frame.height - keep.height} accounts with missing covariates "
                     "left out of the Cox model")
    if max_n is not None and keep.height > max_n:
        keep = keep.sample(n=max_n, seed=seed).sort("account_id")
        notes.append(f"fitted on a random sample of {max_n} accounts of "
                     f"{frame.height}; standard errors describe that sample")
    x, names = design(keep, covariates)
    if not names:
        return None
    # drop constant columns
    const = np.ptp(x, axis=0) == 0
    if np.any(const):
        notes.append("constant covariates dropped: "
                     + ", ".join(n for n, c in zip(names, const, strict=True) if c))
        x = x[:, ~const]
        names = [n for n, c in zip(names, const, strict=True) if not c]
    if not names:
        return None
    time = keep["time"].to_numpy()
    event = (keep["event"].to_numpy() == 1).astype(float)
    if event.sum() == 0:
        return None
    entry = keep["entry"].to_numpy()
    st = (keep[strata].cast(pl.Utf8).fill_null("(missing)").to_numpy() if strata
          else None)
    # dense ranks as labels (fast for text ids); missing values stay NaN and then
    # count as clusters of one
    cl = (keep[cluster].rank("dense").to_numpy() if cluster is not None else None)
    res = coxph_efron(entry, time, event, x, st, clusters=cl)
    tstat = ph_test(res["schoenfeld"], res["cov"], time[res["events"]])
    ph = pl.DataFrame({"term": names, "statistic": tstat,
                       "p_value": stats.chi2.sf(tstat, 1)})
    se_model = np.sqrt(np.diag(res["cov"]))
    if cluster is None:
        se = se_model
        n_cl = None
        assume = ("accounts independent given the covariates (model-based standard "
                  "errors, inverse observed information)",)
    else:
        se = np.sqrt(np.diag(res["cov_robust"]))
        n_cl = res["n_clusters"]
        assume = (f"accounts with the same {cluster!r} may share their fate; "
                  "clusters independent (cluster-robust sandwich standard errors, "
                  f"Lin & Wei 1989, over {n_cl} clusters; model-based ones in "
                  "se_model)",)
        if n_cl < 50:
            notes.append(f"only {n_cl} clusters: the cluster-robust standard errors "
                         "are unreliable with few clusters")
    return CoxResult(terms=tuple(names), coef=res["params"], std_error=se,
                     level=level, n=keep.height, n_events=int(event.sum()),
                     ph_test=ph, loglik=float(res["loglik"]), strata=strata,
                     warnings=tuple(notes), se_model=se_model, cluster=cluster,
                     n_clusters=n_cl, assumptions=assume)
