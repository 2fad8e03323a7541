"""Semiparametric proportional hazards for interval-censored, left-truncated times.

The suspension time ``T`` of an account with covariates ``x`` follows the
proportional hazards model ``S(t | x) = S0(t) ** exp(x'beta)`` with the baseline
``S0`` left unspecified (Finkelstein 1986). Each account says only that ``T`` lies
in ``(left, right]`` (``right = inf``: right-censored; ``left = 0``: left-censored;
``left == right``: observed exactly, a point mass) and, under delayed entry, that
``T > entry`` (left truncation). The likelihood

    ``prod_i [S(L_i | x_i) - S(R_i | x_i)] / S(E_i | x_i)``

is maximised jointly over ``beta`` and a step-function baseline, as R's icenReg
``ic_sp(model = "ph")`` does (Anderson-Bergman 2017).

Support of the baseline
-----------------------
The baseline puts mass only on the innermost ("Turnbull") intervals: the maximal
intersections of the observation sets ``(L_i, R_i]`` (an exact time is the point
``{t}``) together, under truncation, with the sets ``(E_min, E_i]`` (Frydman 1994;
Alioum & Commenges 1996 for the PH model). Mass below the earliest entry ``E_min``
cancels from the truncated likelihood, so the baseline is reported conditional on
``T > E_min`` (it is the unconditional ``S0`` when some account is watched from 0).
Just after ``E_min`` only the few accounts that entered that early are at risk, and
the NPMLE there is erratic (as Kaplan--Meier is with delayed entry): it can put
much of the mass on an interval with one account at risk. Read the baseline from an
age with enough accounts at risk (``baseline["at_risk"]``) with
``ICPHResult.survival(x, given=t0)``; ``beta`` is not affected.

Algorithm
---------
The baseline is written as a cumulative hazard with jumps ``lambda_j >= 0`` at the
innermost intervals, ``S0 = exp(-Lambda0)``; the last interval takes the remaining
mass (``S0 = 0`` after it), as in the NPMLE. For fixed ``beta`` the log-likelihood
is concave in the jumps, and in the cumulative hazards ``Lambda_j`` each account
touches at most three of them, so the Hessian is a sparse graph Laplacian (one edge
per event interval) bordered by ``p`` dense rows for ``beta``. The fit is a damped
Newton method on ``(Lambda, beta)`` jointly, with an active set for the jumps that
are zero (they merge neighbouring ``Lambda`` into blocks), a sparse LU solve per
step, and a line search that projects onto the monotone cone by weighted isotonic
regression (weights = curvature, the projection of the iterative convex minorant
algorithm of Groeneboom & Wellner 1992 and Pan 1999). Where no Newton step gains,
one EM step of Zeng, Mao & Lin (2016) (latent Poisson counts; closed-form jumps,
one Newton step for ``beta``) is taken, so the likelihood never falls. It stops
when the Newton decrement (the gain the quadratic model still promises) is below
``tol`` with every zero jump's gradient pointing down (the Karush-Kuhn-Tucker
conditions). A few to a few dozen iterations suffice even with tens of thousands
of innermost intervals. icenReg alternates a conditional Newton step for ``beta``
with convex-minorant steps for the baseline (Pan 1999); both maximise the same
likelihood, and the tests reproduce icenReg's published fit.

Standard errors come from the bootstrap, as in icenReg: the information matrix of
``beta`` in this semiparametric model is not available from the Hessian of the
joint likelihood. Accounts are resampled with replacement, or whole clusters
(e.g. all accounts of one actor) with ``clusters``; every replicate is refitted from
the full-sample estimate on the full-sample support (each innermost interval of a
resample contains one of the full sample, so nothing is lost). The curvature of
the profile likelihood (Murphy & van der Vaart 2000) is offered as a cheaper
alternative for independent accounts.

Exact times
-----------
With every time exact and no ties, the baseline can be profiled out in closed form:
the jump at the event time of account ``i`` with risk set ``R`` maximises
``log(1 - exp(-r_i lambda)) - lambda A`` (``A = sum_{k in R, k != i} r_k``), giving

    ``l_p(beta) = sum_i [log(r_i / sum_R r) + (A / r_i) log(A / sum_R r)]``.

The first term is Cox's partial likelihood; the second does not vanish (it is close
to ``-1`` for each event when ``A >> r_i``, and depends on ``beta`` mostly through
the late events with small risk sets), so ``beta`` is close to, but not equal to,
the Cox estimate. This is the grouped-time likelihood of Prentice & Gloeckler
(1978), which the point-mass treatment of exact times implies.

Assumptions
-----------
* Proportional hazards; the look-up process, censoring and entry are
  non-informative given the covariates (independent inspection, quasi-independent
  truncation).
* Inference for ``beta`` rests on its root-n normality (Huang 1996, for
  interval-censored data without truncation) with the bootstrap (or profile
  likelihood) estimating its variance, as in icenReg. No interval is given for the
  baseline.

References
----------
Alioum, A. & Commenges, D. (1996). A proportional hazards model for arbitrarily
censored and truncated data. Biometrics 52, 512-524.
Anderson-Bergman, C. (2017). icenReg: regression models for interval censored data
in R. Journal of Statistical Software 81(12), 1-23.
Finkelstein, D. M. (1986). A proportional hazards model for interval-censored
failure time data. Biometrics 42, 845-854.
Frydman, H. (1994). A note on nonparametric estimation of the distribution function
from interval-censored and truncated observations. JRSS B 56, 71-74.
Groeneboom, P. & Wellner, J. A. (1992). Information Bounds and Nonparametric
Maximum Likelihood Estimation. Birkhauser.
Huang, J. (1996). Efficient estimation for the proportional hazards model with
interval censoring. Annals of Statistics 24, 540-568.
Murphy, S. A. & van der Vaart, A. W. (2000). On profile likelihood. JASA 95,
449-465.
Pan, W. (1999). Extending the iterative convex minorant algorithm to the Cox model
for interval-censored data. JCGS 8, 109-120.
Prentice, R. L. & Gloeckler, L. A. (1978). Regression analysis of grouped survival
data with application to breast cancer data. Biometrics 34, 57-67.
Zeng, D., Mao, L. & Lin, D. Y. (2016). Maximum likelihood estimation for
semiparametric transformation models with interval-censored data. Biometrika 103,
253-271.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats

from measure._results import Estimate
from measure.errors import EstimationError


@dataclass(frozen=True)
class ICPHResult:
    """Fitted semiparametric PH model for interval-censored data.

    Attributes
    ----------
    coef
        Log hazard ratio of each covariate (name -> value).
    se
        Standard error of each coefficient (bootstrap, or profile likelihood;
        ``nan`` when none was asked for).
    ci
        Interval of each coefficient at ``level`` (see ``ci_method``).
    level
        Confidence level.
    loglik
        Log-likelihood at the estimate (``sum_i w_i log P(L_i < T <= R_i | T > E_i,
        x_i)``, exact times as point masses; comparable with icenReg's
        ``final llk``).
    baseline
        Innermost intervals ``time_left, time_right`` (equal for a point mass), the
        baseline ``mass`` on each, ``survival`` ``S0`` just after it and its
        cumulative hazard ``cumhaz`` (``inf`` after the last interval), for
        ``x = 0`` (conditional on ``T > E_min`` under truncation), and ``at_risk``,
        the (weighted) number of accounts under observation there (entered before
        it and not yet seen to fail or leave).
    n
        Number of accounts (sum of weights).
    iterations
        Newton iterations of the full-sample fit.
    converged
        Whether the full-sample fit met its tolerance.
    notes
        Warnings and remarks (truncation, bootstrap failures, ...).
    bootstrap
        Bootstrap replicates used.
    se_method
        ``"bootstrap"`` or ``"profile"``.
    ci_method
        ``"normal"`` (estimate +- z * bootstrap SE, as icenReg reports) or
        ``"percentile"``.
    boot_coef
        Coefficients of every replicate (``bootstrap x p``).
    """

    coef: dict[str, float]
    se: dict[str, float]
    ci: dict[str, tuple[float, float]]
    level: float
    loglik: float
    baseline: pl.DataFrame
    n: float
    iterations: int
    converged: bool
    notes: tuple[str, ...] = ()
    bootstrap: int = 0
    se_method: str = "bootstrap"
    ci_method: str = "normal"
    boot_coef: np.ndarray = field(default_factory=lambda: np.empty((0, 0)),
                                  repr=False)

    @property
    def names(self) -> list[str]:
        """Covariate names in model order."""
        return list(self.coef)

    def survival(self, x: Sequence[float] | np.ndarray | dict[str, float], *,
                 given: float | None = None) -> pl.DataFrame:
        """Survival ``S(t | x) = S0(t) ** exp(x'beta)`` on the innermost intervals.

        Parameters
        ----------
        x
            Covariate values, in model order or as a ``name -> value`` mapping.
        given
            Condition on ``T > given``: only intervals ending after ``given`` are
            kept and the survival is divided by ``S(given | x)``. Under delayed
            entry the baseline is fixed only relative to the earliest entry, and
            just after it few accounts are at risk (see ``baseline["at_risk"]``),
            so survival from a later age is the stable quantity.

        Returns
        -------
        polars.DataFrame
            ``time_left, time_right, survival``: the survival just after each
            innermost interval (constant between intervals; where inside an
            interval the drop happens is not identified).
        """
        if isinstance(x, dict):
            missing = [k for k in self.coef if k not in x]
            if missing:
                raise ValueError(f"survival(x): no value for {missing}")
            xv = np.array([float(x[k]) for k in self.coef])
        else:
            xv = np.asarray(x, dtype=float).ravel()
        if xv.size != len(self.coef):
            raise ValueError(f"survival(x): x has {xv.size} values, the model has "
                             f"{len(self.coef)} covariates {self.names}")
        r = float(np.exp(xv @ np.array(list(self.coef.values()), dtype=float)))
        base = self.baseline
        h0 = 0.0
        if given is not None:
            done = base.filter(pl.col("time_right") <= given)
            h0 = float(done["cumhaz"][-1]) if done.height else 0.0
            if not np.isfinite(h0):
                raise ValueError(f"survival(given={given}): S(given | x) is 0")
            base = base.filter(pl.col("time_right") > given)
        return base.select("time_left", "time_right",
                           (-(pl.col("cumhaz") - h0) * r).exp().alias("survival"))

    def to_polars(self) -> pl.DataFrame:
        """Coefficient table: term, estimate, std_error, ci_low, ci_high, level, hr."""
        names = self.names
        return pl.DataFrame({
            "term": names,
            "estimate": [self.coef[k] for k in names],
            "std_error": [self.se[k] for k in names],
            "ci_low": [self.ci[k][0] for k in names],
            "ci_high": [self.ci[k][1] for k in names],
            "level": [self.level] * len(names),
            "hazard_ratio": [float(np.exp(self.coef[k])) for k in names],
        })

    def estimates(self) -> list[Estimate]:
        """Return one :class:`~measure._results.Estimate` per log hazard ratio."""
        se = (f"{self.bootstrap} bootstrap replicates" if self.se_method ==
              "bootstrap" else "profile-likelihood SE")
        method = ("semiparametric PH for interval-censored data (Finkelstein 1986; "
                  f"icenReg ic_sp), {se}")
        return [Estimate(term=f"icph:{k}", estimate=self.coef[k], ci=self.ci[k],
                         level=self.level, std_error=self.se[k], method=method,
                         n=int(round(self.n)), warnings=self.notes,
                         assumptions=("proportional hazards",
                                      "non-informative inspection and entry"))
                for k in self.names]


# --------------------------------------------------------------------------- data


def _as_1d(name: str, v: object, n: int | None) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} values, left has {n}")
    if np.isnan(a).any():
        i = int(np.flatnonzero(np.isnan(a))[0])
        raise ValueError(f"{name} contains NaN (first at position {i}); drop or "
                         "impute those accounts first")
    return a


def _validate(left: object, right: object, X: object, names: Sequence[str],
              entry: object, weights: object, clusters: object
              ) -> tuple[np.ndarray, ...]:
    left_a = _as_1d("left", left, None)
    n = left_a.size
    if n == 0:
        raise ValueError("no observations (left is empty)")
    right_a = _as_1d("right", right, n)
    x = np.asarray(X, dtype=float)
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"X must be a 2-D array with one row per account "
                         f"({n} rows), got shape {x.shape}")
    if np.isnan(x).any() or np.isinf(x).any():
        i = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"X contains NaN or inf (first in row {i})")
    names = list(names)
    if len(names) != x.shape[1]:
        raise ValueError(f"names has {len(names)} entries, X has {x.shape[1]} "
                         "columns")
    if len(set(names)) != len(names):
        raise ValueError(f"names are not unique: {names}")
    if not np.isfinite(left_a).all():
        raise ValueError("left must be finite (use left=0 for left-censored)")
    if (left_a < 0).any():
        i = int(np.flatnonzero(left_a < 0)[0])
        raise ValueError(f"negative time: left[{i}] = {left_a[i]}")
    if (right_a < left_a).any():
        i = int(np.flatnonzero(right_a < left_a)[0])
        raise ValueError(f"left > right at position {i} ({left_a[i]} > "
                         f"{right_a[i]}); the event lies in (left, right]")
    e = np.zeros(n) if entry is None else _as_1d("entry", entry, n)
    if (e < 0).any():
        i = int(np.flatnonzero(e < 0)[0])
        raise ValueError(f"negative time: entry[{i}] = {e[i]}")
    exact = left_a == right_a
    bad = (e > left_a) | (exact & (e >= left_a))
    if entry is not None and bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"entry after the event interval at position {i} (entry "
                         f"{e[i]}, left {left_a[i]}, right {right_a[i]}); an account "
                         "enters before it can be seen to fail")
    w = np.ones(n) if weights is None else _as_1d("weights", weights, n)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and >= 0")
    if clusters is not None:
        cl = np.asarray(clusters)
        if cl.ndim != 1 or cl.size != n:
            raise ValueError(f"clusters must have one label per account ({n}), got "
                             f"shape {cl.shape}")
    return left_a, right_a, x, e, w, exact


@dataclass(frozen=True)
class _Design:
    """Index form of the data on the innermost intervals."""

    a: np.ndarray  # first innermost interval inside the observation set
    b: np.ndarray  # last one
    c: np.ndarray  # first one after entry
    event: np.ndarray  # b < m - 1 (otherwise the set reaches the last interval)
    finite: np.ndarray  # right < inf
    m: int
    t_left: np.ndarray
    t_right: np.ndarray


def _design(left: np.ndarray, right: np.ndarray, entry: np.ndarray | None,
            exact: np.ndarray) -> _Design:
    """Innermost intervals and the index ranges of every account.

    Each distinct time ``t_k`` gives two cells of the line: the open gap before it
    (position ``2k``) and the point ``{t_k}`` (``2k + 1``); ``2K`` is the gap after the
    last time. ``(L, R]`` covers cells ``2 idx(L) + 2 .. 2 idx(R) + 1`` and an exact
    time only its point, so every set is a range of integer positions and the
    innermost intervals are ranges ``[l, r]`` where a left end is followed directly
    by a right end (left ends first at ties, the ranges being closed).
    """
    fin = np.isfinite(right)
    parts = [left, right[fin]] + ([] if entry is None else [entry])
    vals = np.unique(np.concatenate(parts))
    k = vals.size
    il = np.searchsorted(vals, left)
    lo = np.where(exact, 2 * il + 1, 2 * il + 2)
    ir = np.searchsorted(vals, np.where(fin, right, vals[0]))
    hi = np.where(fin, 2 * ir + 1, 2 * k)
    # first position an account can fail at: after its entry (0: no truncation)
    elo = (np.zeros(left.size, np.int64) if entry is None
           else 2 * np.searchsorted(vals, entry) + 2)
    lows, highs = [lo], [hi]
    emin = elo.min()
    trunc = elo > emin
    if trunc.any():  # complements of the truncation sets, beyond E_min
        lows.append(np.full(int(trunc.sum()), emin))
        highs.append(elo[trunc] - 1)
    lv = np.unique(np.concatenate(lows))
    rv = np.unique(np.concatenate(highs))
    v = np.concatenate([lv, rv])
    kind = np.concatenate([np.zeros(lv.size, np.int8), np.ones(rv.size, np.int8)])
    order = np.lexsort((kind, v))
    v, kind = v[order], kind[order]
    pick = np.flatnonzero((kind[:-1] == 0) & (kind[1:] == 1))
    q, p = v[pick], v[pick + 1]
    m = q.size
    a = np.searchsorted(q, lo, side="left")
    b = np.searchsorted(p, hi, side="right") - 1
    c = np.searchsorted(q, elo, side="left")
    vals_ext = np.concatenate([vals, [np.inf]])
    # position 2k is the gap (t_{k-1}, t_k); 2k + 1 is the point t_k
    t_left = np.where(q % 2 == 1, vals_ext[q // 2],
                      np.where(q // 2 > 0, vals_ext[np.maximum(q // 2 - 1, 0)],
                               -np.inf))
    t_right = vals_ext[p // 2]
    return _Design(a=a, b=b, c=c, event=b < m - 1, finite=fin, m=m,
                   t_left=t_left, t_right=t_right)


def _at_risk(d: _Design, w: np.ndarray) -> np.ndarray:
    """Weighted accounts under observation in each innermost interval.

    An account counts from the first interval after its entry up to the last
    interval inside its observation set (failed ones) or the last one before it
    (right-censored ones).
    """
    stop = np.where(d.finite, d.b, d.a - 1)
    ok = stop >= d.c
    diff = (np.bincount(d.c[ok], w[ok], minlength=d.m + 1)
            - np.bincount(stop[ok] + 1, w[ok], minlength=d.m + 1))
    return np.cumsum(diff)[:d.m]


# ---------------------------------------------------------------------- the model


class _Model:
    """Log-likelihood, derivatives and EM map for one set of weights.

    ``offset`` is added to ``x'beta`` (profile fits with ``beta`` held fixed).
    """

    def __init__(self, d: _Design, x: np.ndarray, w: np.ndarray,
                 offset: np.ndarray | None = None) -> None:
        keep = w > 0
        self.x = x[keep]
        self.offset = np.zeros(int(keep.sum())) if offset is None else offset[keep]
        self.w = w[keep]
        self.a, self.b, self.c = d.a[keep], d.b[keep], d.c[keep]
        ev = d.event[keep]
        self.ev = ev
        self.k = d.m - 1  # number of free jumps (the last interval takes the rest)
        # risk ranges [c, stop]: events up to b, censored up to a - 1
        self.stop = np.where(ev, self.b, self.a - 1)
        self.ia, self.ib = self.a[ev], self.b[ev]
        # jumps some event can charge (others stay at zero)
        cover = self._range(self.ia, self.ib, self.w[ev])
        self.active = cover > 0
        p = x.shape[1]
        self.pairs = [(i, j) for i in range(p) for j in range(i, p)]

    def start(self) -> np.ndarray:
        """Return starting jumps: Nelson--Aalen, each event at its interval's end."""
        ev = self.ev
        d = np.bincount(self.ib, self.w[ev], minlength=self.k)
        y = self._range(self.c, self.stop, self.w)
        return np.where(d > 0, d / np.where(y > 0, y, 1.0), 0.0)

    def _range(self, start: np.ndarray, stop: np.ndarray, v: np.ndarray
               ) -> np.ndarray:
        """``out[k] = sum of v_i over i with start_i <= k <= stop_i``."""
        k = self.k
        ok = stop >= start
        d = (np.bincount(start[ok], v[ok], minlength=k + 1)
             - np.bincount(stop[ok] + 1, v[ok], minlength=k + 1))
        return np.cumsum(d)[:k]

    def _parts(self, lam: np.ndarray, beta: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = np.exp(self.x @ beta + self.offset)
        cum = np.concatenate([[0.0], np.cumsum(lam)])
        s_in = cum[self.a] - cum[self.c]
        dd = cum[self.ib + 1] - cum[self.ia]
        return r, s_in, dd

    def loglik(self, lam: np.ndarray, beta: np.ndarray) -> float:
        """Observed log-likelihood (``-inf`` when an event has no mass)."""
        r, s_in, dd = self._parts(lam, beta)
        with np.errstate(divide="ignore"):
            ev = np.log(-np.expm1(-r[self.ev] * dd))
        return float(-(self.w * r * s_in).sum() + (self.w[self.ev] * ev).sum())

    def derivs(self, lam: np.ndarray, beta: np.ndarray) -> tuple:
        """Log-likelihood, gradient and Hessian pieces in ``(Lambda, beta)``.

        Returns ``ll, g_node, g_beta, (edge_a, edge_b, h), cross, n_bb`` where
        ``g_node[j]`` is the derivative by ``Lambda_j`` (node 0 included, it is
        fixed), the negative Hessian of the ``Lambda`` block is the Laplacian of
        the edges ``(edge_a, edge_b)`` with weights ``h``, ``cross`` (nodes x p) is
        the negative mixed Hessian and ``n_bb`` the negative ``beta`` Hessian.
        """
        x, w, ev = self.x, self.w, self.ev
        r, s_in, dd = self._parts(lam, beta)
        re, we, xe = r[ev], w[ev], x[ev]
        u = re * dd
        f1 = 1.0 / np.expm1(u)  # phi'(u) for phi(u) = log(1 - exp(-u))
        f2 = -f1 - f1 * f1  # phi''(u)
        ll = float(-(w * r * s_in).sum() + (we * np.log(-np.expm1(-u))).sum())
        nodes = self.k + 1
        wr = w * r
        g_node = (np.bincount(self.c, wr, minlength=nodes)
                  - np.bincount(self.a, wr, minlength=nodes)
                  + np.bincount(self.ib + 1, we * re * f1, minlength=nodes)
                  - np.bincount(self.ia, we * re * f1, minlength=nodes))
        g_beta = -(wr * s_in) @ x + (we * u * f1) @ xe
        h = -we * re * re * f2
        c1 = we * re * (f1 + u * f2)
        cross = np.column_stack([
            np.bincount(self.a, wr * x[:, j], minlength=nodes)
            - np.bincount(self.c, wr * x[:, j], minlength=nodes)
            - np.bincount(self.ib + 1, c1 * xe[:, j], minlength=nodes)
            + np.bincount(self.ia, c1 * xe[:, j], minlength=nodes)
            for j in range(x.shape[1])]) if x.shape[1] else np.zeros((nodes, 0))
        cbb = wr * s_in
        n_bb = (x * cbb[:, None]).T @ x - (xe * (we * (u * f1 + u * u * f2))[:, None]
                                           ).T @ xe
        return ll, g_node, g_beta, (self.ia, self.ib + 1, h), cross, n_bb

    def em(self, lam: np.ndarray, beta: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
        """One EM step (Zeng, Mao & Lin 2016): closed-form jumps, Newton for beta."""
        r, _, dd = self._parts(lam, beta)
        ev = self.ev
        rd = r[ev] * np.maximum(dd, 1e-300)
        g = self.w[ev] * r[ev] / -np.expm1(-rd)  # E[W_ik] = lambda_k * g_i
        num = lam * self._range(self.ia, self.ib, g)
        ecount = self.w[ev] * rd / -np.expm1(-rd)  # expected events of each account
        xe = (ecount[:, None] * self.x[ev]).sum(0)
        tot = num.sum()

        def risk(bt: np.ndarray, need_hess: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            wr = self.w * np.exp(self.x @ bt + self.offset)
            s0 = self._range(self.c, self.stop, wr)
            s1 = np.zeros((self.k, 0))
            s2 = np.zeros((self.k, 0))
            if self.x.shape[1]:
                s1 = np.column_stack([self._range(self.c, self.stop,
                                                  wr * self.x[:, j])
                                      for j in range(self.x.shape[1])])
            if need_hess and self.pairs:
                s2 = np.column_stack([self._range(self.c, self.stop,
                                                  wr * self.x[:, i] * self.x[:, j])
                                      for i, j in self.pairs])
            return s0, s1, s2

        def q(bt: np.ndarray, s0: np.ndarray) -> float:
            pos = num > 0
            return float(xe @ bt - (num[pos] * np.log(s0[pos])).sum())

        s0, s1, s2 = risk(beta, True)
        pos = num > 0
        sp = np.where(pos, s0, 1.0)
        mean = s1 / sp[:, None]
        grad = xe - (num[:, None] * mean).sum(0)
        p = beta.size
        h = np.zeros((p, p))
        for col, (i, j) in enumerate(self.pairs):
            v = (num * (s2[:, col] / sp - mean[:, i] * mean[:, j])).sum()
            h[i, j] = h[j, i] = v
        try:
            step = np.linalg.solve(h, grad) if tot > 0 and p else np.zeros(p)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, grad, rcond=None)[0]
        q0 = q(beta, s0)
        new = beta + step
        s0n = risk(new, False)[0]
        halvings = 0
        while q(new, s0n) < q0 - 1e-12 * abs(q0) and halvings < 30:
            step = step / 2
            new = beta + step
            s0n = risk(new, False)[0]
            halvings += 1
        lam_new = np.where(self.active & (s0n > 0),
                           num / np.where(s0n > 0, s0n, 1.0), 0.0)
        return lam_new, new


def _newton(model: _Model, lam: np.ndarray, beta: np.ndarray, tol: float,
            max_iter: int) -> tuple[np.ndarray, np.ndarray, float, int, bool]:
    """Projected Newton on ``(Lambda, beta)`` with EM as the fall-back step.

    See :func:`_newton_loop`; floating-point warnings of rejected trial steps are
    silenced (such steps are discarded by the line search).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _newton_loop(model, lam, beta, tol, max_iter)


def _newton_loop(model: _Model, lam: np.ndarray, beta: np.ndarray, tol: float,
                 max_iter: int) -> tuple[np.ndarray, np.ndarray, float, int, bool]:
    """Maximise the log-likelihood over ``beta`` and the jumps ``lambda >= 0``.

    In the cumulative-hazard coordinates ``Lambda_j`` (``Lambda_0 = 0``) every
    account touches at most three of them, so the Hessian of the log-likelihood is
    a sparse graph Laplacian (one edge per event interval) bordered by ``p`` dense
    rows for ``beta``. Each iteration

    1. keeps at zero the jumps that are zero, except those whose gradient asks for
       mass (the largest first, a bounded number per iteration), merging the
       cumulative hazards that the fixed jumps separate into blocks;
    2. solves the damped Newton system of the blocks and ``beta`` (sparse LU),
       fixing further zero jumps that the step would push below zero and solving
       again (a primal active-set method);
    3. searches along the step, projecting the blocks back onto the monotone cone
       by weighted isotonic regression (weights = curvature, as in the iterative
       convex minorant algorithm, Groeneboom & Wellner 1992, Pan 1999);
    4. falls back to one EM step when no step length improves the likelihood.

    Converged: every zero jump with a rising gradient was free in the last solve,
    no curvature-free block is left with a gradient and the Newton decrement is
    below ``tol``.
    """
    from scipy.optimize import isotonic_regression

    act = model.active
    lam = np.where(act, np.maximum(lam, 0.0), 0.0)
    cur = model.loglik(lam, beta)
    if not np.isfinite(cur):  # some event without mass: restart
        lam = model.start()
        cur = model.loglik(lam, beta)
    mu = 1e-6
    converged = False
    stalled = 0
    it = 0
    while it < max_iter:
        it += 1
        ll, g_node, g_beta, edges, cross, nbb = model.derivs(lam, beta)
        g_lam = np.cumsum(g_node[::-1])[::-1][1:]  # d ll / d lambda_k
        at_zero = lam <= 1e-12 * max(1.0, float(lam.sum()))
        free = act & ~at_zero
        # release zero jumps whose gradient asks for mass, the strongest first and
        # at most max(1024, twice the free count), so early iterations stay cheap
        ask = np.flatnonzero(act & at_zero & (g_lam > 0))
        cap = max(1024, 2 * int(free.sum()))
        all_released = ask.size <= cap or not (g_lam[ask] > tol).any()
        if ask.size > cap:
            ask = ask[np.argsort(-g_lam[ask])[:cap]]
        free[ask] = True
        step = None
        span = 10.0 * (float(lam.sum()) + 1.0)
        for _ in range(12):
            # jumps at zero that the Newton step would push below zero join the
            # active set and the step is recomputed (a primal active-set method)
            sol = _newton_direction(free, edges, g_node, g_beta, cross, nbb, mu,
                                    span)
            if sol is None:
                mu = max(mu * 10.0, 1e-4)
                continue
            step, blk, nb, diag, scale, dec, flat_left = sol
            dnode = np.concatenate([[0.0], step[:nb]])[blk]
            bad = free & at_zero & (np.diff(dnode) < 0)
            if not bad.any():
                break
            free = free & ~bad
        if all_released and step is not None and not flat_left and dec < tol:
            converged = True  # Newton decrement: the model promises < tol more
            break
        accepted = False
        if step is not None:
            bl = np.concatenate([[0.0], np.cumsum(lam)])  # Lambda at nodes
            base = bl[np.searchsorted(blk, np.arange(1, nb + 1))]  # first node
            wts = np.concatenate([[1e30], diag + 1e-8 * scale])
            t = 1.0
            for _ in range(30):
                y = np.concatenate([[0.0], base + t * step[:nb]])
                z = np.maximum(isotonic_regression(y, weights=wts).x, 0.0)
                z[0] = 0.0
                new_cum = z[blk]
                lam_new = np.where(act, np.diff(new_cum), 0.0)
                beta_new = beta + t * step[nb:]
                ll_new = model.loglik(lam_new, beta_new)
                if np.isfinite(ll_new) and ll_new > ll:
                    accepted = True
                    break
                t /= 2.0
            mu = mu / 10.0 if (accepted and t == 1.0) else min(mu * 10.0, 1e6)
        else:
            mu = min(mu * 10.0, 1e6)
        if not accepted:
            lam_new, beta_new = model.em(lam, beta)
            ll_new = model.loglik(lam_new, beta_new)
            if not (np.isfinite(ll_new) and ll_new >= ll):
                lam_new, beta_new, ll_new = lam, beta, ll
            stalled = stalled + 1 if ll_new - ll < tol else 0
        else:
            stalled = 0
        lam, beta, cur = lam_new, beta_new, ll_new
        if stalled >= 25:  # neither Newton nor EM makes progress: give up
            break
    return lam, beta, cur, it, converged


def _newton_direction(free: np.ndarray, edges: tuple, g_node: np.ndarray,
                      g_beta: np.ndarray, cross: np.ndarray, nbb: np.ndarray,
                      mu: float, span: float) -> tuple | None:
    """Damped Newton step for the blocks of ``Lambda`` joined by fixed jumps.

    Blocks that no event interval touches have no curvature: the likelihood is
    linear in them, so their optimum is at a neighbour. They are left out of the
    linear system and given a step of ``span`` towards the side their gradient
    points to, which the isotonic projection (where they weigh nothing) turns
    into a merge with that neighbour. The rest is solved with Marquardt damping
    ``mu * diag``.

    Returns ``(step, blk, nb, diag, scale, decrement, flat_left)``: the step
    (``nb`` block values, then ``beta``), the block of every node (0 = the block
    pinned at ``Lambda = 0``), the curvature of the blocks and its mean, the
    Newton decrement of the curved part and whether a flat block still has a
    gradient; ``None`` when the system is singular or not an ascent direction.
    """
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    ea, eb, h = edges
    p = g_beta.size
    blk = np.concatenate([[0], np.cumsum(free)])
    nb = int(free.sum())
    gb = np.bincount(blk, g_node, minlength=nb + 1)[1:]
    ba, bb = blk[ea], blk[eb]
    keep = ba != bb
    ba, bb, hh = ba[keep] - 1, bb[keep] - 1, h[keep]
    off = ba >= 0
    diag = (np.bincount(bb, hh, minlength=nb)
            + np.bincount(ba[off], hh[off], minlength=nb))
    cb = (np.column_stack([np.bincount(blk, cross[:, j], minlength=nb + 1)[1:]
                           for j in range(p)]) if p else np.zeros((nb, 0)))
    scale = float(np.mean(diag[diag > 0])) if (diag > 0).any() else 1.0
    flat = diag <= 1e-12 * scale
    # compact index of the curved blocks (-1 for flat ones)
    idx = np.full(nb, -1)
    idx[~flat] = np.arange(int((~flat).sum()))
    nc = int((~flat).sum())
    eok = off & ~flat[bb] & ~flat[np.maximum(ba, 0)]
    ia, ib = idx[ba[eok]], idx[bb[eok]]
    diag_c = diag[~flat]
    ar, ap = np.arange(nc), np.arange(p) + nc
    rows = np.concatenate([ar, ia, ib, np.repeat(ar, p), np.tile(ap, nc),
                           np.repeat(ap, p)])
    cols = np.concatenate([ar, ib, ia, np.tile(ap, nc), np.repeat(ar, p),
                           np.tile(ap, p)])
    nbd = nbb + mu * np.diag(np.diag(nbb)) + 1e-12 * np.eye(p)
    vals = np.concatenate([diag_c * (1.0 + mu), -hh[eok], -hh[eok],
                           cb[~flat].ravel(), cb[~flat].ravel(), nbd.ravel()])
    grad = np.concatenate([gb[~flat], g_beta])
    mat = sparse.csc_matrix((vals, (rows, cols)), shape=(nc + p, nc + p))
    try:
        sol = spsolve(mat, grad) if nc + p else np.zeros(0)
    except RuntimeError:
        return None
    sol = np.atleast_1d(sol)
    dec = float(sol @ grad)
    if not (np.isfinite(sol).all() and dec > 0) and np.abs(grad).max() > 0:
        return None
    step = np.empty(nb + p)
    step[:nb][~flat] = sol[:nc]
    step[:nb][flat] = np.sign(gb[flat]) * span
    step[nb:] = sol[nc:]
    flat_left = bool((np.abs(gb[flat]) > 0).any())
    return step, blk, nb, diag, scale, dec, flat_left


# ------------------------------------------------------------------------ fitting


def fit_ic_ph(left: Sequence[float] | np.ndarray, right: Sequence[float] | np.ndarray,  # noqa: C901, PLR0913
              X: np.ndarray, names: Sequence[str], *,
              entry: Sequence[float] | np.ndarray | None = None,
              weights: Sequence[float] | np.ndarray | None = None,
              level: float = 0.95, bootstrap: int = 200,
              clusters: Sequence[object] | np.ndarray | None = None,
              seed: int = 0, tol: float = 1e-8, max_iter: int = 500,
              se_method: str = "bootstrap", ci_method: str = "normal"
              ) -> ICPHResult:
    """Fit the semiparametric PH model to interval-censored, left-truncated data.

    Parameters
    ----------
    left, right
        The event lies in ``(left, right]``; ``right = inf`` when right-censored,
        ``left = 0`` when left-censored, ``left == right`` when observed exactly.
    X
        Covariates, shape ``(n, p)`` (``p = 0`` gives the NPMLE of ``S``).
    names
        Names of the ``p`` covariates.
    entry
        Delayed-entry (left-truncation) times: the account is in the data only
        because ``T > entry`` (``entry <= left``, and ``entry < left`` for exact
        times). ``None``: no truncation.
    weights
        Frequency weights (a weight of 2 counts the row twice); the bootstrap
        resamples the weighted units.
    level
        Confidence level of the intervals.
    bootstrap
        Bootstrap replicates (``se_method="bootstrap"``; ``0``: no standard
        errors, ``nan``).
    clusters
        Label per row; when given, the bootstrap resamples whole clusters (e.g.
        actors) with replacement instead of single accounts.
    seed
        Seed of the bootstrap.
    tol
        Convergence tolerance on the Newton decrement (the log-likelihood gain the
        quadratic model still promises); the bootstrap refits use ``max(tol,
        1e-6)``.
    max_iter
        Cap on Newton iterations per fit.
    se_method
        ``"bootstrap"`` (as icenReg) or ``"profile"``: the curvature of the
        profile log-likelihood of ``beta`` by central differences (Murphy & van
        der Vaart 2000), a cheap alternative for very large panels (it assumes
        independent accounts: ``clusters`` is then ignored, with a note).
    ci_method
        ``"normal"``: estimate +- z * SE (as icenReg reports); ``"percentile"``:
        quantiles of the bootstrap replicates.

    Returns
    -------
    ICPHResult

    Raises
    ------
    ValueError
        Malformed input (shapes, NaN, negative times, ``left > right``, entry after
        the interval, unknown options).
    measure.errors.EstimationError
        The data cannot identify the model (no events, a constant covariate).

    References
    ----------
    Murphy, S. A. & van der Vaart, A. W. (2000). On profile likelihood. JASA 95,
    449-465.
    """
    left_a, right_a, x, e, w, exact = _validate(left, right, X, names, entry,
                                                weights, clusters)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if se_method not in ("bootstrap", "profile"):
        raise ValueError(f"se_method must be 'bootstrap' or 'profile', got "
                         f"{se_method!r}")
    if ci_method not in ("normal", "percentile"):
        raise ValueError(f"ci_method must be 'normal' or 'percentile', got "
                         f"{ci_method!r}")
    if ci_method == "percentile" and se_method != "bootstrap":
        raise ValueError("ci_method='percentile' needs se_method='bootstrap'")
    names = list(names)
    p = x.shape[1]
    notes: list[str] = []
    wsum = float(w.sum())
    if wsum <= 0:
        raise EstimationError("all weights are zero; nothing to fit")
    xbar = (w[:, None] * x).sum(0) / wsum
    xc = x - xbar  # centred for stable exp(x'beta); beta is unchanged
    sd = np.sqrt((w[:, None] * xc**2).sum(0) / wsum)
    const = sd <= 1e-12 * np.maximum(1.0, np.abs(xbar))
    if const.any():
        bad = [k for k, c in zip(names, const, strict=True) if c]
        raise EstimationError(f"constant covariate(s) {bad}: their hazard ratio is "
                              "not identified; drop them")
    if p > 1 and np.linalg.matrix_rank(xc * np.sqrt(w)[:, None]) < p:
        raise EstimationError(f"covariates {names} are linearly dependent; drop "
                              "one of each dependent set")
    d = _design(left_a, right_a, None if entry is None else e, exact)
    model = _Model(d, xc, w)
    if not model.ev.any() or not model.active.any():
        raise EstimationError("no account has a finite event interval before the "
                              "last innermost interval (all right-censored): the "
                              "model is not identified")
    if entry is not None and np.ptp(e) > 0:
        notes.append(f"left truncation: baseline is conditional on T > "
                     f"{float(e.min()):g} (the earliest entry) and unstable where "
                     "few accounts are at risk; read survival(x, given=t0) from an "
                     "age t0 with enough at risk (baseline column at_risk)")
    lam, beta, ll, iters, conv = _newton(model, model.start(), np.zeros(p), tol,
                                         max_iter)
    if not conv:
        notes.append(f"Newton iterations stopped before the tolerance {tol} "
                     f"({iters} iterations); a coefficient may be running off to "
                     "infinity (a covariate level without events?)")
    # baseline for x = 0: the fit is for centred x, Lambda0 = Lambda_c e^{-xbar'b}
    cum = np.concatenate([np.cumsum(lam) * float(np.exp(-xbar @ beta)), [np.inf]])
    surv = np.exp(-cum)
    mass = np.concatenate([[1.0], surv[:-1]]) - surv
    baseline = pl.DataFrame({"time_left": d.t_left, "time_right": d.t_right,
                             "mass": mass, "survival": surv, "cumhaz": cum,
                             "at_risk": _at_risk(d, w)})

    boot = np.empty((0, p))
    z = float(stats.norm.ppf(0.5 + level / 2))
    se_vec = np.full(p, np.nan)
    if p and se_method == "bootstrap" and bootstrap > 0:
        boot, failed, degenerate = _bootstrap(d, xc, w, lam, beta, bootstrap,
                                              clusters, seed, max(tol, 1e-6),
                                              max_iter)
        if failed:
            notes.append(f"{failed} of {bootstrap} bootstrap refits did not reach "
                         "their tolerance (kept)")
        if degenerate:
            notes.append(f"{degenerate} of {bootstrap} bootstrap resamples left "
                         "out: no event or a covariate without variation (a few "
                         "large clusters?)")
        if boot.shape[0] > 1:
            se_vec = np.std(boot, axis=0, ddof=1)
    elif p and se_method == "profile":
        if clusters is not None:
            notes.append("se_method='profile' treats accounts as independent; "
                         "clusters ignored (use the bootstrap for clustered data)")
        cov = _profile_cov(d, xc, w, lam, beta, ll)
        se_vec = np.sqrt(np.diag(cov)) if cov is not None else se_vec
        if cov is None:
            notes.append("profile likelihood is not curved at the estimate; no SE")
    coef, se, ci = {}, {}, {}
    for j, k in enumerate(names):
        coef[k] = float(beta[j])
        se[k] = float(se_vec[j])
        if ci_method == "percentile" and boot.shape[0] > 1:
            lo_, hi_ = np.quantile(boot[:, j], [0.5 - level / 2, 0.5 + level / 2])
            ci[k] = (float(lo_), float(hi_))
        else:
            ci[k] = (coef[k] - z * se[k], coef[k] + z * se[k])
    return ICPHResult(coef=coef, se=se, ci=ci, level=level, loglik=ll,
                      baseline=baseline, n=wsum, iterations=iters, converged=conv,
                      notes=tuple(notes), bootstrap=int(boot.shape[0]),
                      se_method=se_method, ci_method=ci_method, boot_coef=boot)


def _bootstrap(d: _Design, xc: np.ndarray, w: np.ndarray, lam: np.ndarray,
               beta: np.ndarray, reps: int, clusters: object, seed: int,
               tol: float, max_iter: int) -> tuple[np.ndarray, int, int]:
    """Refit on resampled accounts (or clusters), warm-started at the estimate.

    A resample is a vector of frequency weights on the original rows, so it keeps
    the full-sample innermost intervals as candidate support (each innermost
    interval of the resample contains one of them, so its maximum is unchanged).
    Returns the finite replicate coefficients, the count of refits that did not
    reach their tolerance (kept) and of resamples left out because they had no
    event or a covariate without variation (its coefficient is not identified).
    """
    rng = np.random.default_rng(seed)
    n = w.size
    gid = np.zeros(n, dtype=np.int64)
    g = 0
    if clusters is not None:
        _, gid = np.unique(np.asarray(clusters), return_inverse=True)
        g = int(gid.max()) + 1
    unit = bool(np.all(w == 1.0))
    total = float(w.sum())
    out = np.full((reps, beta.size), np.nan)
    failed = degenerate = 0
    for rep in range(reps):
        if clusters is not None:
            wb = w * np.bincount(rng.integers(0, g, g), minlength=g)[gid]
        elif unit:
            wb = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        else:  # resample the weighted units
            wb = rng.multinomial(int(round(total)), w / total).astype(float)
        m = _Model(d, xc, wb)
        if not m.ev.any() or not m.active.any() or (np.ptp(m.x, axis=0) == 0).any():
            degenerate += 1  # no event, or a covariate without variation
            continue
        _, b, _, _, conv = _newton(m, lam, beta, tol, max_iter)
        out[rep] = b
        failed += int(not conv)
    return out[np.isfinite(out).all(axis=1)], failed, degenerate


def _profile_cov(d: _Design, xc: np.ndarray, w: np.ndarray, lam: np.ndarray,
                 beta: np.ndarray, ll: float) -> np.ndarray | None:
    """Inverse negative Hessian of the profile log-likelihood of ``beta``.

    ``l_p(b) = max over the baseline of l(b, baseline)`` is evaluated at
    ``beta +- h_j e_j +- h_k e_k`` (each a baseline-only fit with offset
    ``x'b``, warm-started at the estimate) and differenced; ``h_j =
    1 / sqrt(n var(x_j))``, of the order of a standard error.
    """
    p = beta.size
    n = float(w.sum())
    sd = np.sqrt((w[:, None] * xc**2).sum(0) / n)
    hstep = 1.0 / (np.sqrt(n) * sd)
    none = np.zeros((xc.shape[0], 0))

    def prof(b: np.ndarray) -> float:
        m = _Model(d, none, w, offset=xc @ b)
        return _newton(m, lam, np.zeros(0), 1e-10, 500)[2]

    hess = np.zeros((p, p))
    for j in range(p):
        ej = np.zeros(p)
        ej[j] = hstep[j]
        hess[j, j] = (prof(beta + ej) - 2 * ll + prof(beta - ej)) / hstep[j] ** 2
        for k in range(j):
            ek = np.zeros(p)
            ek[k] = hstep[k]
            v = (prof(beta + ej + ek) - prof(beta + ej - ek)
                 - prof(beta - ej + ek) + prof(beta - ej - ek))
            hess[j, k] = hess[k, j] = v / (4 * hstep[j] * hstep[k])
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0)):
        return None
    return cov
