"""Log-linear models for K-list capture–recapture (multiple systems estimation).

The ``2**K - 1`` observable capture-pattern counts are modelled as independent
Poisson counts with ``log E[n_w] = mu + sum_j alpha_j w_j + (terms)``; the pattern
never observed (``w = 0``) has expected count ``exp(mu)``, so ``N = n + exp(mu)``
(Fienberg 1972; Cormack 1989). The terms available are

* ``M0``: one capture-probability term for the number of lists ``k = sum_j w_j``;
* ``Mt`` (``independence``): one main effect per list;
* heterogeneity (Rivest & Baillargeon 2007; Rcapture's ``closedp``): a column
  ``f(k)`` of the number of captures, ``Poisson2: 2**k - 1``, ``Darroch: k**2/2``,
  ``Gamma3.5: -log(3.5 + k) + log(3.5)``; Chao's lower-bound model uses the
  ``K - 2`` hinge columns ``max(k - j + 1, 0)``, ``j = 3..K`` whose parameters must be
  non-negative (negative ones are removed one at a time, as in Rcapture with
  ``neg=TRUE``); ``Mh_*`` models pair them with ``M0``, ``Mth_*`` with ``Mt``;
* normal heterogeneity (``Mth_normal``; Rivest 2011, Rcapture's ``h="Normal"``):
  logit-normal catchability, ``log E[n_w] = x_w'beta + phi_sigma(k_w)`` with
  ``phi`` a Gauss–Hermite integral over the unit's random effect, ``sigma`` its
  standard deviation; not log-linear, fitted by quasi-Newton on the Poisson
  deviance (Coull & Agresti 1999 fit the same mixed logit model);
* two-list interactions ``w_a w_b`` (all of them: ``two_way``, or a subset chosen
  by forward selection on AIC/BIC: ``stepwise``).

Before fitting, the existence and identifiability of the MLE are checked (Fienberg &
Rinaldo 2012; Chan, Silverman & Vincent 2019): a parameter whose cells are all empty
goes to minus infinity and its cells are fitted as zero; the remaining design must
have full column rank; a linear programme finds the cells the likelihood sends to
zero (the "facial set"); the estimate of the unobserved cell must be a function of
the cells that remain, and if an unbounded direction raises it the MLE of ``N`` does
not exist. Such models come back as "does not apply" values with the reason.

Intervals are multinomial profile-likelihood intervals for ``N`` (Cormack 1992):
for each candidate ``N`` the unobserved cell is given the count ``N - n`` and the
model is refitted to the complete table.

References
----------
Fienberg, S. E. (1972). The multiple recapture census for closed populations and
incomplete 2^k contingency tables. *Biometrika* 59, 591-603.
Cormack, R. M. (1989). Log-linear models for capture-recapture. *Biometrics* 45,
395-413. Cormack, R. M. (1992). Interval estimation for mark-recapture studies of
closed populations. *Biometrics* 48, 567-576.
Rivest, L.-P. & Baillargeon, S. (2007). Applications and extensions of Chao's
moment estimator for the size of a closed population. *Biometrics* 63, 999-1006.
Baillargeon, S. & Rivest, L.-P. (2007). Rcapture: loglinear models for
capture-recapture in R. *J. Stat. Softw.* 19(5).
Fienberg, S. E. & Rinaldo, A. (2012). Maximum likelihood estimation in log-linear
models. *Ann. Statist.* 40, 996-1023.
Rivest, L.-P. (2011). A lower bound model for multiple record systems estimation
with heterogeneous catchability. *Int. J. Biostatistics* 7(1), art. 23.
Coull, B. A. & Agresti, A. (1999). The use of mixed logit models to reflect
heterogeneity in capture-recapture studies. *Biometrics* 55, 294-301.
Chan, L., Silverman, B. W. & Vincent, K. (2019). Multiple systems estimation for
sparse capture data: inferential challenges when there are non-overlapping lists.
arXiv:1902.05156 (JASA 2021).
"""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq, linprog, minimize, minimize_scalar
from scipy.special import gammaln
from scipy.stats import chi2

from measure._results import Estimate
from measure.capture._two_source import lognormal_interval

#: Relative tolerance for "this LP optimum is zero" and for matrix ranks.
LP_TOL = 1e-7
RANK_TOL = 1e-8
#: The profile search gives up (upper limit = inf) beyond this many times the
#: observed count: the likelihood is then flat and the data bound nothing.
PROFILE_MAX_FACTOR = 1e4

HETEROGENEITY = {
    "poisson2": lambda k: 2.0**k - 1.0,
    "darroch": lambda k: k**2 / 2.0,
    "gamma3.5": lambda k: -np.log(3.5 + k) + np.log(3.5),
}

ASSUMPTIONS = (
    "closed population: the lists refer to the same population at the same time",
    "units are matched across lists without error",
    "the model's interaction and heterogeneity terms capture all dependence "
    "between lists (the unobserved cell is an extrapolation from the model)",
)


# --------------------------------------------------------------------------- design
def cell_matrix(k: int) -> np.ndarray:
    """0/1 matrix of the ``2**k - 1`` observable patterns (row ``r`` is mask ``r+1``).

    Column ``j`` is list ``j``; mask bit ``j`` set means "on list ``j``".
    """
    masks = np.arange(1, 2**k)
    return ((masks[:, None] >> np.arange(k)[None, :]) & 1).astype(float)


@dataclass(frozen=True)
class ModelSpec:
    """A log-linear capture–recapture model by its terms.

    Attributes
    ----------
    name
        Model name (``"Mt"``, ``"Mth_darroch"``, ...).
    main
        One main effect per list (``Mt``); otherwise one ``k`` column (``M0``).
    heterogeneity
        ``None``, ``"poisson2"``, ``"darroch"``, ``"gamma3.5"``, ``"chao"`` or
        ``"normal"`` (no design column: a non-linear ``sigma`` parameter).
    pairs
        Two-list interactions as index pairs ``(a, b)``, ``a < b``.
    extra
        Further named columns, one value per observable pattern (mask order).
    lower_bound
        The model estimates a lower bound (Chao), not ``N``.
    """

    name: str
    main: bool = True
    heterogeneity: str | None = None
    pairs: tuple[tuple[int, int], ...] = ()
    extra: tuple[tuple[str, tuple[float, ...]], ...] = ()
    lower_bound: bool = False

    def design(self, sources: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Design matrix over the observable patterns and its column names.

        The first column is the intercept; every other column is zero on the
        unobserved pattern, so the intercept is the log expected unobserved count.
        """
        k_lists = len(sources)
        w = cell_matrix(k_lists)
        k = w.sum(axis=1)
        cols: list[np.ndarray] = [np.ones(len(w))]
        names = ["(intercept)"]
        if self.main:
            cols += [w[:, j] for j in range(k_lists)]
            names += list(sources)
        else:
            cols.append(k)
            names.append("k")
        h = self.heterogeneity
        if h == "chao":
            for j in range(3, k_lists + 1):
                cols.append(np.maximum(k - j + 1, 0.0))
                names.append(f"eta{j}")
        elif h is not None and h != "normal":
            cols.append(HETEROGENEITY[h](k))
            names.append(h)
        for a, b in self.pairs:
            cols.append(w[:, a] * w[:, b])
            names.append(f"{sources[a]}:{sources[b]}")
        for nm, values in self.extra:
            v = np.asarray(values, dtype=float)
            if v.shape != (len(w),):
                raise ValueError(
                    f"extra column '{nm}' needs {len(w)} values, one per "
                    "observable pattern in mask order"
                )
            cols.append(v)
            names.append(nm)
        return np.column_stack(cols), names


def standard_models(k_lists: int) -> list[ModelSpec]:
    """Return the models fitted for ``k_lists`` lists (Rcapture's ``closedp`` set).

    Besides ``closedp``'s log-linear models: ``Mth_normal`` (Rcapture's
    ``closedpCI.t(m="Mth", h="Normal")``) and ``two_way``. Models Mb and Mbh
    (behavioural response) are not log-linear in the pattern counts of unordered
    lists and are not fitted.
    """
    models = [ModelSpec("M0", main=False), ModelSpec("Mt")]
    if k_lists < 3:
        return models
    for h in ("chao", "poisson2", "darroch", "gamma3.5"):
        models.append(
            ModelSpec(f"Mh_{h}", main=False, heterogeneity=h, lower_bound=h == "chao")
        )
    for h in ("chao", "poisson2", "darroch", "gamma3.5"):
        models.append(ModelSpec(f"Mth_{h}", heterogeneity=h, lower_bound=h == "chao"))
    models.append(ModelSpec("Mth_normal", heterogeneity="normal"))
    pairs = tuple((a, b) for a in range(k_lists) for b in range(a + 1, k_lists))
    models.append(ModelSpec("two_way", pairs=pairs))
    return models


# --------------------------------------------------------------- existence checks
def _rank(a: np.ndarray) -> int:
    if a.size == 0:
        return 0
    return int(np.linalg.matrix_rank(a, tol=RANK_TOL * max(1.0, np.abs(a).max())))


def _nonfacial(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of the zero cells whose fitted value the MLE sends to zero.

    Solves ``max sum t`` subject to ``X_P d = 0``, ``X_Z d + t <= 0``,
    ``0 <= t <= 1`` (Fienberg & Rinaldo 2012): cell ``i`` is off the facial set
    when some direction of recession makes its linear predictor strictly negative.
    """
    zero = y == 0
    out = np.zeros(len(y), dtype=bool)
    if not zero.any():
        return out
    p = x.shape[1]
    xp, xz = x[~zero], x[zero]
    nz = xz.shape[0]
    c = np.concatenate([np.zeros(p), -np.ones(nz)])
    a_ub = np.hstack([xz, np.eye(nz)])
    a_eq = np.hstack([xp, np.zeros((xp.shape[0], nz))]) if xp.shape[0] else None
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=np.zeros(nz),
        A_eq=a_eq,
        b_eq=np.zeros(xp.shape[0]) if a_eq is not None else None,
        bounds=[(None, None)] * p + [(0, 1)] * nz,
        method="highs",
    )
    if res.status != 0:  # pragma: no cover - the LP is always feasible (d=0, t=0)
        return out
    out[np.flatnonzero(zero)] = res.x[p:] > 0.5
    return out


def _unobserved_unbounded(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether a direction of recession raises the unobserved cell (``N`` infinite).

    ``max d_0`` subject to ``X_P d = 0``, ``X_Z d <= 0``, ``-1 <= d <= 1``, where
    ``d_0`` is the intercept (the unobserved cell's linear predictor).
    """
    zero = y == 0
    p = x.shape[1]
    c = np.zeros(p)
    c[0] = -1.0
    xp, xz = x[~zero], x[zero]
    res = linprog(
        c,
        A_ub=xz if len(xz) else None,
        b_ub=np.zeros(len(xz)) if len(xz) else None,
        A_eq=xp if len(xp) else None,
        b_eq=np.zeros(len(xp)) if len(xp) else None,
        bounds=[(-1, 1)] * p,
        method="highs",
    )
    return bool(res.status == 0 and -res.fun > LP_TOL)


@dataclass
class _Prepared:
    """Cells and columns left after the existence checks."""

    cells: np.ndarray  # indices of observable cells kept (facial set)
    cols: np.ndarray  # indices of model columns forming a basis there
    notes: list[str] = field(default_factory=list)
    reason: str | None = None


def check_existence(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> _Prepared:
    """Check that the MLE of ``N`` exists and is identifiable; reduce the design.

    Parameters
    ----------
    x
        Design over the observable cells, intercept first.
    y
        Observed counts, one per observable cell.
    names
        Column names (for the notes).

    Returns
    -------
    _Prepared
        The facial cells and a column basis on them, notes on what was set to the
        boundary, and ``reason`` when the estimate does not exist or is not
        identifiable.
    """
    n_cells, p = x.shape
    cells = np.ones(n_cells, dtype=bool)
    cols = np.ones(p, dtype=bool)
    notes: list[str] = []
    positive = y > 0
    # 1. parameters whose cells are all empty go to -inf; their cells are zero.
    changed = True
    while changed:
        changed = False
        for j in range(1, p):
            if not cols[j]:
                continue
            col = x[cells, j]
            if np.all(col == 0):
                cols[j] = False  # no cell left depends on it: aliased
                changed = True
                continue
            if np.all(col >= 0) and not np.any((x[:, j] != 0) & cells & positive):
                cols[j] = False
                notes.append(
                    f"'{names[j]}' has no observed case: its cells are "
                    "fitted as empty (parameter at -infinity)"
                )
                cells &= x[:, j] == 0
                changed = True
    xr = x[np.ix_(cells, cols)]
    yr = y[cells]
    col_idx = np.flatnonzero(cols)
    cell_idx = np.flatnonzero(cells)
    if _rank(xr) < xr.shape[1]:
        return _Prepared(
            cell_idx,
            col_idx,
            notes,
            reason="not identifiable: the cells with observed cases do "
            "not determine every parameter (too few overlapping lists "
            "for this model; Chan, Silverman & Vincent 2019)",
        )
    # 2. facial set
    off = _nonfacial(xr, yr)
    if off.any():
        notes.append(
            f"{int(off.sum())} empty pattern(s) are fitted as zero (the MLE "
            "lies on the boundary)"
        )
    xf = xr[~off]
    x0 = np.zeros(xr.shape[1])
    x0[0] = 1.0
    rank_f = _rank(xf)
    if _rank(np.vstack([xf, x0])) > rank_f:
        if _unobserved_unbounded(xr, yr):
            why = (
                "the MLE of N does not exist: the likelihood keeps increasing as "
                "the unobserved count grows (lists do not overlap enough for "
                "this model; Fienberg & Rinaldo 2012)"
            )
        else:
            why = (
                "not identifiable: the unobserved count is not determined by the "
                "patterns the model can fit"
            )
        return _Prepared(cell_idx[~off], col_idx, notes, reason=why)
    # 3. a column basis on the facial cells (intercept first)
    basis: list[int] = []
    for j in range(xf.shape[1]):
        if _rank(xf[:, [*basis, j]]) > len(basis):
            basis.append(j)
        if len(basis) == rank_f:
            break
    return _Prepared(cell_idx[~off], col_idx[basis], notes)


# ------------------------------------------------------------------------ fitting
def _poisson_newton(
    x: np.ndarray, y: np.ndarray, beta: np.ndarray, maxit: int = 100, tol: float = 1e-10
) -> tuple[np.ndarray, float]:
    """Poisson log-linear MLE by damped Newton (used inside the profile search)."""

    def ll(b: np.ndarray) -> float:
        eta = x @ b
        with np.errstate(over="ignore", invalid="ignore"):
            v = float(np.sum(y * eta - np.exp(eta)))
        return v if math.isfinite(v) else -math.inf

    cur = ll(beta)
    for _ in range(maxit):
        mu = np.exp(x @ beta)
        g = x.T @ (y - mu)
        h = x.T @ (x * mu[:, None])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, g, rcond=None)[0]
        s = 1.0
        while True:
            nb = beta + s * step
            new = ll(nb)
            if new >= cur - 1e-12 or s < 1e-8:
                break
            s /= 2
        beta, old, cur = nb, cur, new
        if np.max(np.abs(s * step)) < tol or abs(cur - old) < tol * (1 + abs(cur)):
            break
    return beta, cur


def _glm_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fit a statsmodels GLM Poisson model; return params, covariance, warnings."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            res = sm.GLM(y, x, family=sm.families.Poisson()).fit()
        except PerfectSeparationError as exc:
            raise ValueError(str(exc)) from exc
    msgs = [
        str(w.message).splitlines()[0]
        for w in caught
        if issubclass(w.category, ConvergenceWarning | PerfectSeparationWarning)
    ]
    return np.asarray(res.params), np.asarray(res.cov_params()), msgs


def _poisson_loglik(y: np.ndarray, mu: np.ndarray) -> float:
    pos = mu > 0
    return float(np.sum(y[pos] * np.log(mu[pos]) - mu[pos] - gammaln(y[pos] + 1)))


def profile_interval(
    xf: np.ndarray, yf: np.ndarray, beta: np.ndarray, n: float, level: float = 0.95
) -> tuple[float, float, float]:
    """Multinomial profile-likelihood interval for ``N`` (Cormack 1992).

    Parameters
    ----------
    xf, yf
        Reduced design (intercept first) and counts over the fitted cells.
    beta
        MLE of the Poisson model on the observed cells (starting values).
    n
        Number of distinct units observed.
    level
        Confidence level.

    Returns
    -------
    tuple of float
        ``(low, high, N_max)``: the interval and the maximiser of the profile.

    Notes
    -----
    For a trial ``N`` the unobserved cell gets the count ``N - n`` and the model is
    refitted to the complete table; the multinomial log-likelihood is the Poisson one
    plus ``log N! - N log N + N``. The interval is ``{N : 2 (l(N_max) - l(N)) <=
    chi2_1(level)}``; its upper end is ``inf`` when the likelihood never drops enough.
    """
    x0 = np.zeros((1, xf.shape[1]))
    x0[0, 0] = 1.0
    xc = np.vstack([xf, x0])
    const = float(np.sum(gammaln(yf + 1)))
    state = {"beta": beta.copy()}

    def prof(big_n: float) -> float:
        y0 = big_n - n
        yc = np.append(yf, y0)
        b, ll = _poisson_newton(xc, yc, state["beta"])
        state["beta"] = b
        return (
            ll
            - const
            - float(gammaln(y0 + 1))
            + float(gammaln(big_n + 1) - big_n * math.log(big_n) + big_n)
        )

    f0 = math.exp(beta[0])
    n_hat = n + f0
    crit = float(chi2.ppf(level, 1)) / 2
    hi_scan = n + max(1.0, f0) * 4
    opt = minimize_scalar(
        lambda v: -prof(v),
        bounds=(n, hi_scan + f0 * 4),
        method="bounded",
        options={"xatol": 1e-6 * max(1, n_hat)},
    )
    n_max = float(opt.x)
    l_max = -float(opt.fun)
    if prof(n_hat) > l_max:
        n_max, l_max = n_hat, prof(n_hat)

    def g(v: float) -> float:
        return prof(v) - (l_max - crit)

    if g(n) >= 0:
        low = float(n)
    else:
        low = float(brentq(g, n, n_max, xtol=1e-6 * max(1.0, n)))
    state["beta"] = beta.copy()
    step = max(1.0, n_max - n)
    hi = n_max + step
    limit = n + PROFILE_MAX_FACTOR * max(n, 1.0)
    while g(hi) > 0:
        if hi > limit:
            return low, math.inf, n_max
        step *= 2
        hi = n_max + step
    high = float(brentq(g, n_max, hi, xtol=1e-6 * max(1.0, n)))
    return low, high, n_max


@dataclass(frozen=True)
class LoglinearFit:
    """One fitted log-linear model.

    Attributes
    ----------
    name
        Model name.
    estimate
        ``population`` estimate (``n + exp(mu)``), its standard error
        ``sqrt(f0 + f0**2 var(mu))`` (Rivest & Baillargeon 2007, as in Rcapture) and
        interval (profile likelihood by default); "does not apply" with a reason when
        the MLE does not exist.
    aic, bic
        ``-2 loglik + 2 p`` and ``-2 loglik + log(n) p``, Poisson log-likelihood of
        the observable counts with the ``log n_w!`` terms (as R's ``glm``); ``p``
        counts every model parameter, including any sent to the boundary.
    deviance, df
        Deviance against the saturated model on the ``2**K - 1`` cells and its
        degrees of freedom.
    params
        Parameter estimates by column name (``-inf`` for boundary parameters).
    lower_bound
        The model estimates a lower bound (Chao), not ``N``.
    """

    name: str
    estimate: Estimate
    aic: float = math.nan
    bic: float = math.nan
    deviance: float = math.nan
    df: int | None = None
    npar: int | None = None
    params: dict[str, float] = field(default_factory=dict, compare=False)
    fitted: tuple[float, ...] = ()
    lower_bound: bool = False

    @property
    def valid(self) -> bool:
        """Whether the model's estimate exists."""
        return self.estimate.valid

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON row: name, estimate, ci, aic, bic, std_error, deviance, df."""
        e = self.estimate.to_dict()
        return {
            "name": self.name,
            "estimate": e["estimate"],
            "ci": e["ci"],
            "std_error": e["std_error"],
            "aic": _clean(self.aic),
            "bic": _clean(self.bic),
            "deviance": _clean(self.deviance),
            "df": self.df,
            "lower_bound": self.lower_bound,
            "reason": self.estimate.reason,
            "warnings": list(self.estimate.warnings),
        }


def _clean(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _invalid_fit(
    spec: ModelSpec, reason: str, method: str, level: float, n: float
) -> LoglinearFit:
    """Return a fit whose estimate of ``N`` does not exist, with the reason."""
    return LoglinearFit(
        name=spec.name,
        lower_bound=spec.lower_bound,
        estimate=Estimate.invalid(
            "population", reason, method=method, level=level, n=int(n)
        ),
    )


def fit_model(
    spec: ModelSpec,
    y: np.ndarray,
    sources: Sequence[str],
    *,
    level: float = 0.95,
    ci: str = "profile",
) -> LoglinearFit:
    """Fit one log-linear model to the observable pattern counts.

    Parameters
    ----------
    spec
        The model.
    y
        Counts of the ``2**K - 1`` observable patterns in mask order (bit ``j`` of
        the mask = on list ``j``; see :func:`cell_matrix`).
    sources
        List names (``K`` of them).
    level
        Confidence level.
    ci
        ``"profile"`` (multinomial profile likelihood, Cormack 1992),
        ``"lognormal"`` (Chao 1987 log-normal interval from the standard error) or
        ``"none"``.

    Returns
    -------
    LoglinearFit
    """
    y = np.asarray(y, dtype=float)
    if spec.heterogeneity == "normal":
        return fit_normal_model(spec, y, sources, level=level, ci=ci)
    x, names = spec.design(sources)
    n = float(y.sum())
    method = (
        f"log-linear Poisson model {spec.name} (Cormack 1989; Rivest & "
        "Baillargeon 2007)"
    )
    removed: list[str] = []
    while True:
        prep = check_existence(x, y, names)
        if prep.reason is not None:
            return _invalid_fit(spec, prep.reason, method, level, n)
        xf = x[np.ix_(prep.cells, prep.cols)]
        yf = y[prep.cells]
        try:
            beta, cov, warn = _glm_fit(xf, yf)
        except (ValueError, np.linalg.LinAlgError) as exc:
            beta, cov, warn = np.array([math.nan]), np.array([[math.nan]]), [str(exc)]
        if not np.all(np.isfinite(beta)) or not np.all(np.isfinite(cov)):
            return _invalid_fit(
                spec,
                "the Poisson fit did not converge to finite "
                f"values ({'; '.join(warn) or 'non-finite estimates'})",
                method,
                level,
                n,
            )
        if spec.heterogeneity == "chao":
            neg = [
                i
                for i, c in enumerate(prep.cols)
                if names[c].startswith("eta") and beta[i] < 0
            ]
            if neg:
                drop = int(prep.cols[neg[0]])
                removed.append(names[drop])
                x = np.delete(x, drop, axis=1)
                names = [nm for i, nm in enumerate(names) if i != drop]
                continue
        break
    notes = list(prep.notes) + warn
    if removed:
        notes.append(
            "negative Chao eta parameter(s) set to zero: " + ", ".join(removed)
        )
    f0 = math.exp(beta[0])
    est = n + f0
    var = f0 + f0**2 * float(cov[0, 0])
    se = math.sqrt(var) if var >= 0 else math.nan
    mu_all = np.zeros(len(y))
    mu_all[prep.cells] = np.exp(xf @ beta)
    loglik = _poisson_loglik(y, mu_all)
    npar = _rank(x)
    pos = y > 0
    deviance = float(
        2 * (np.sum(y[pos] * np.log(y[pos] / mu_all[pos])) - np.sum(y - mu_all))
    )
    aic = -2 * loglik + 2 * npar
    bic = -2 * loglik + math.log(max(n, 1.0)) * npar
    params = dict.fromkeys(names, -math.inf)
    for i, c in enumerate(prep.cols):
        params[names[c]] = float(beta[i])
    if ci == "profile":
        try:
            lo, hi, _ = profile_interval(xf, yf, beta, n, level)
            ci_method = "profile likelihood (Cormack 1992)"
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            lo, hi = lognormal_interval(n, est, var, level)
            ci_method = "log-normal (Chao 1987)"
            notes.append(
                f"profile likelihood search failed ({exc}); log-normal interval instead"
            )
    elif ci == "lognormal":
        lo, hi = lognormal_interval(n, est, var, level)
        ci_method = "log-normal (Chao 1987)"
    else:
        lo, hi, ci_method = math.nan, math.nan, "none"
    if spec.lower_bound:
        notes.append("Chao's model estimates a lower bound for N, not N")
    estimate = Estimate(
        term="population",
        estimate=est,
        ci=(lo, hi),
        level=level,
        std_error=se,
        method=f"{method}; interval: {ci_method}",
        n=int(n),
        assumptions=ASSUMPTIONS,
        warnings=tuple(notes),
        extra={"model": spec.name, "unobserved": f0},
    )
    return LoglinearFit(
        name=spec.name,
        estimate=estimate,
        aic=aic,
        bic=bic,
        deviance=deviance,
        df=len(y) - npar,
        npar=npar,
        params=params,
        fitted=tuple(float(v) for v in mu_all),
        lower_bound=spec.lower_bound,
    )


# ------------------------------------------------------- normal heterogeneity
#: Gauss–Hermite nodes and weights for the normal random effect (Rcapture uses
#: the same 20-point rule, Abramowitz & Stegun 1972, p. 924).
GH_NODES, GH_WEIGHTS = np.polynomial.hermite.hermgauss(20)
#: Starting value of sigma (Rcapture's default ``initsig``).
NORMAL_SIGMA_START = 0.2
#: Relative step of the numerical Hessian of the log-likelihood.
HESSIAN_STEP = 1e-4


def normal_means(params: np.ndarray, x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Compute the normal heterogeneity model's expected counts (Rivest 2011, eq. 3).

    Parameters
    ----------
    params
        Log-linear coefficients (intercept first, one per column of ``x``) then
        ``sigma``.
    x
        Design over the observable patterns (intercept first).
    k
        Number of lists of each pattern.

    Returns
    -------
    numpy.ndarray
        ``exp(x'beta + phi(k))`` with ``phi(j) = log(sum_i w_i exp(j a_i) C_i /
        sum_i w_i C_i)``, ``a_i = sqrt(2) sigma z_i`` the Gauss–Hermite nodes and
        ``C_i`` the probability of no capture given ``a_i``; ``phi(0) = 0``, so the
        unobserved pattern's expected count is ``exp(intercept)``.
    """
    beta, sigma = params[:-1], params[-1]
    a = math.sqrt(2.0) * sigma * GH_NODES
    lin = x @ beta
    with np.errstate(over="ignore"):
        s = np.exp(lin[:, None] + k[:, None] * a[None, :]).sum(axis=0)
        c = 1.0 / (1.0 + s * math.exp(-beta[0]))
        kmax = int(k.max())
        j = np.arange(1, kmax + 1)[:, None]
        phi = np.log((GH_WEIGHTS * np.exp(j * a) * c).sum(axis=1)) - math.log(
            float(np.sum(GH_WEIGHTS * c))
        )
        return np.exp(lin + phi[k.astype(int) - 1])


def _normal_negloglik(
    params: np.ndarray, y: np.ndarray, x: np.ndarray, k: np.ndarray
) -> float:
    mu = normal_means(params, x, k)
    if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
        return math.inf
    return float(np.sum(mu - y * np.log(mu)))


def _numerical_hessian(f: Any, p: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``p``."""
    h = HESSIAN_STEP * np.maximum(1.0, np.abs(p))
    d = len(p)
    out = np.empty((d, d))
    for i in range(d):
        for j in range(i, d):
            ei = np.zeros(d)
            ej = np.zeros(d)
            ei[i] = h[i]
            ej[j] = h[j]
            v = (f(p + ei + ej) - f(p + ei - ej) - f(p - ei + ej) + f(p - ei - ej)) / (
                4 * h[i] * h[j]
            )
            out[i, j] = out[j, i] = v
    return out


def fit_normal_model(
    spec: ModelSpec,
    y: np.ndarray,
    sources: Sequence[str],
    *,
    level: float = 0.95,
    ci: str = "profile",
) -> LoglinearFit:
    """Fit the normal heterogeneity model (Rivest 2011; Rcapture ``h="Normal"``).

    Capture probabilities are logit-normal: ``logit p_ij = alpha_j + sigma u_i``,
    ``u_i ~ N(0, 1)`` (the mixed logit model of Coull & Agresti 1999), plus any
    two-list interactions in ``spec``. The expected pattern counts are
    :func:`normal_means`; parameters minimise the Poisson deviance (BFGS from the
    Darroch model's coefficients and ``sigma = 0.2``, as Rcapture).

    Returns
    -------
    LoglinearFit
        ``N = n + exp(intercept)``; standard error ``sqrt(f0 + f0**2 var(mu))`` with
        ``var(mu)`` from the inverse observed information (the Hessian of the
        negative log-likelihood). Rcapture inverts the Hessian of the *deviance*,
        twice the information, and so prints a smaller s.e. (``extra``
        ``std_error_rcapture`` keeps that value for comparison). The interval is
        Chao's log-normal one (as Rcapture does for this model; the profile over
        a non-linear model is not computed), whatever ``ci`` asks.

    Notes
    -----
    The model is checked for the existence of its MLE through its log-linear
    neighbour with Darroch's ``k**2/2`` column in place of ``sigma``: when that
    model has a boundary or non-existent MLE, so is this one treated.
    """
    n = float(y.sum())
    method = f"normal heterogeneity model {spec.name} (Rivest 2011)"
    x, names = ModelSpec(spec.name, main=spec.main, pairs=spec.pairs).design(sources)
    k = cell_matrix(len(sources)).sum(axis=1)
    xd = np.column_stack([x, HETEROGENEITY["darroch"](k)])
    names_d = [*names, "darroch"]
    prep = check_existence(xd, y, names_d)
    if prep.reason is None and (
        len(prep.cells) < len(y) or len(prep.cols) < xd.shape[1]
    ):
        prep.reason = (
            "not fitted: the Darroch-type log-linear neighbour has a boundary MLE "
            "(empty patterns fitted as zero), where the normal model's likelihood "
            "has no interior maximum to search from"
        )
    if prep.reason is not None:
        return _invalid_fit(spec, prep.reason, method, level, n)
    try:
        beta0, _, _ = _glm_fit(xd, y)
    except (ValueError, np.linalg.LinAlgError):
        beta0 = np.zeros(xd.shape[1])
    start = np.append(beta0[:-1], NORMAL_SIGMA_START)

    def f(p: np.ndarray) -> float:
        return _normal_negloglik(p, y, x, k)

    res = minimize(f, start, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    params = res.x.copy()
    params[-1] = abs(params[-1])
    notes: list[str] = []
    with np.errstate(all="ignore"):
        hess = _numerical_hessian(f, params)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full(hess.shape, math.nan)
    mu = normal_means(params, x, k)
    if not (np.all(np.isfinite(mu)) and math.isfinite(cov[0, 0]) and cov[0, 0] > 0):
        return _invalid_fit(
            spec,
            "the normal heterogeneity fit did not reach a finite maximum "
            f"({res.message})",
            method,
            level,
            n,
        )
    if params[-1] < 1e-3:
        notes.append(
            "sigma is near 0: the data show no heterogeneous catchability "
            "(the model reduces to Mt)"
        )
    f0 = math.exp(params[0])
    var = f0 + f0**2 * float(cov[0, 0])
    loglik = _poisson_loglik(y, mu)
    npar = x.shape[1] + 1
    pos = y > 0
    deviance = float(2 * (np.sum(y[pos] * np.log(y[pos] / mu[pos])) - np.sum(y - mu)))
    if ci == "none":
        lo, hi, ci_method = math.nan, math.nan, "none"
    else:
        lo, hi = lognormal_interval(n, n + f0, var, level)
        ci_method = "log-normal (Chao 1987)"
    estimate = Estimate(
        term="population",
        estimate=n + f0,
        ci=(lo, hi),
        level=level,
        std_error=math.sqrt(var),
        method=f"{method}; interval: {ci_method}",
        n=int(n),
        assumptions=(
            *ASSUMPTIONS,
            "catchability is logit-normal across units (Rivest 2011)",
        ),
        warnings=tuple(notes),
        extra={
            "model": spec.name,
            "unobserved": f0,
            "sigma": float(params[-1]),
            "std_error_rcapture": math.sqrt(f0 + f0**2 * float(cov[0, 0]) / 2),
        },
    )
    return LoglinearFit(
        name=spec.name,
        estimate=estimate,
        aic=-2 * loglik + 2 * npar,
        bic=-2 * loglik + math.log(max(n, 1.0)) * npar,
        deviance=deviance,
        df=len(y) - npar,
        npar=npar,
        params={
            **dict(zip(names, map(float, params[:-1]), strict=True)),
            "sigma": float(params[-1]),
        },
        fitted=tuple(float(v) for v in mu),
    )


def criterion_value(fit: LoglinearFit, criterion: str) -> float:
    """AIC or BIC of ``fit`` (``inf`` when the model's estimate does not exist)."""
    if not fit.valid:
        return math.inf
    return fit.aic if criterion == "aic" else fit.bic


def stepwise_pairs(
    y: np.ndarray,
    sources: Sequence[str],
    *,
    criterion: str = "aic",
    base: ModelSpec | None = None,
    name: str = "stepwise",
) -> ModelSpec:
    """Forward selection of two-list interactions on AIC or BIC.

    Starting from ``base`` (default ``Mt``, main effects only), add at each step the
    two-list interaction that lowers the criterion most, among those whose model
    passes the existence checks; stop when none lowers it. The search is the one of
    Silverman's (2014) UK analysis, with the criterion in place of his p-value
    threshold.

    Returns
    -------
    ModelSpec
        The selected model, named ``name``.
    """
    k_lists = len(sources)
    base = base or ModelSpec("Mt")
    current = ModelSpec(
        name, main=base.main, heterogeneity=base.heterogeneity, pairs=base.pairs
    )
    best = criterion_value(fit_model(current, y, sources, ci="none"), criterion)
    candidates = [
        (a, b)
        for a in range(k_lists)
        for b in range(a + 1, k_lists)
        if (a, b) not in current.pairs
    ]
    while candidates:
        scores = []
        for pair in candidates:
            trial = ModelSpec(
                name,
                main=current.main,
                heterogeneity=current.heterogeneity,
                pairs=(*current.pairs, pair),
            )
            scores.append(
                criterion_value(fit_model(trial, y, sources, ci="none"), criterion)
            )
        i = int(np.argmin(scores))
        if not scores[i] < best - 1e-9:
            break
        best = scores[i]
        current = ModelSpec(
            name,
            main=current.main,
            heterogeneity=current.heterogeneity,
            pairs=tuple(sorted((*current.pairs, candidates[i]))),
        )
        candidates.pop(i)
    return current
