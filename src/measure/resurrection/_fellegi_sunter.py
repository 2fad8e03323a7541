"""Match probabilities for candidate pairs: Fellegi-Sunter by EM, or supervised logit.

Fellegi-Sunter model
--------------------
Each candidate pair is a match (``M``) with probability ``lambda`` or a non-match
(``U``). Given the class, the binned comparisons are independent (conditional
independence) with level probabilities ``m_k(l) = P(level l on comparison k | M)`` and
``u_k(l) = P(level l | U)``. A missing comparison (level ``-1``) carries no
information. ``lambda``, ``m`` and ``u`` are estimated by EM without labels (Winkler
1988; Jaro 1989); the pair's match probability is the posterior
``lambda L / (lambda L + 1 - lambda)`` with ``L = prod_k m_k / u_k``.

Because the comparisons are not exactly independent (a reused display name often
comes with a reused avatar), the posterior tends to be over-confident; the one-to-one
assignment step re-normalises it among competing candidates.

EM runs on the distinct comparison patterns weighted by their counts, so its cost
does not grow with the number of pairs beyond one ``np.unique``.

Every level gets a pseudo-count of ``PSEUDO / L`` (``L`` levels) in each class.
An *optional* level (``Comparison.optional``: the time gap's "created before
the last active look-up", which only a window opened before that look-up can
produce) that no pair takes is left out: ``m = u = 0``, no pseudo-count, and
its likelihood ratio is 1 (as missing), so the fitted model is exactly the one
without that level.

Per-window u of the time gap
----------------------------
In the grouped model (:func:`fit_em_grouped`) the prior of each account ``j``
of suspended account ``a``'s window is ``P(Z_a = j) = rho / k_a``, ``k_a`` the
window size: a priori the successor is any one of the window's accounts. The
time gap of a window account is fixed by its creation time, so what the time gap
says about ``j`` depends on how many of *that* window's accounts share its
level. Say the successor's level ``l`` is drawn from ``m`` and the successor is
then one of the ``n_a(l)`` window accounts at that level, each as likely: then
``P(Z_a = j | Z_a != none) = m(l_j) / n_a(l_j) = (1/k_a) m(l_j) / u_a(l_j)``
with ``u_a(l) = n_a(l) / k_a``, the share of *all* the window's accounts (not
only the blocked candidates) at level ``l``. So with the prior ``rho / k_a``
the time gap's likelihood ratio is ``m(l) / u_a(l)`` and the window size
cancels (``rho m(l) / n_a(l)``): a non-successor of the window, uniform over
its accounts, has the window's level distribution ``u_a``. ``n_a(l)`` counts
the successor too, so at a level its window holds only ``n`` accounts of, the
successor's odds are ``(n - 1) / n`` of what a count of the other accounts
would give; with windows of hundreds of accounts this is small, and it keeps
``u_a`` of a candidate's level above 0 (a count of the others alone would let
EM make a candidate alone at its level certain). One ``u`` pooled over the
windows is right only when all windows have the same level shares: a window
opened long before the suspension holds mostly accounts at the backup level,
one opened at a recent creation none, and with a pooled ``u`` the candidates of
the second kind gain odds they do not have. ``window_counts`` gives ``n_a(l)``
(counted by :func:`measure.resurrection._features.window_time_gap_counts` from
the sorted creation times); the other comparisons keep the two-stratum ``u``
(their levels are not a function of the window). This is a record-specific
``u``, as in frequency-based matching (Winkler 1989), where agreeing on a name
has the ``u`` of that name's frequency, and in Splink's term-frequency
adjustments (Linacre et al. 2022), which set ``u`` of an exact match to the
frequency of the value. ``predict_grouped`` uses the same ``u_a``, so the
link probabilities, the assignment and the rate's link draws do too. The
pairwise model (:func:`fit_em`) has no window prior and keeps one ``u``.

Term-frequency adjustment
-------------------------
Agreeing on a handle stem that dozens of accounts hold (a common kunya, the
first name of a platform's default handles) is weak evidence; agreeing on one
that only the two accounts hold is strong. In the grouped model the handle's
``u`` can be estimated per stratum of suspended accounts (``u_strata``): the
strata are bands of how many other accounts of the dataset, not created in
its search window, hold the suspended account's stem
(:func:`measure.resurrection._features.stem_stratum`; the window's holders
include a successor that kept the stem, which would tie the stratum to the
match), and
``u(l | stratum)`` is estimated like the pooled ``u`` (the two strata of
candidates and random window pairs), from the stratum's suspended accounts
only, while ``m`` stays one per level. Given the suspended account its stratum
is fixed, so this is a record-specific ``u``: frequency-based matching
(Winkler 1989) and Splink's term-frequency adjustments (Linacre et al. 2022)
in frequency bands, which also lets the number relation of an equal stem
depend on the kind of stem (default handles' random digits agree as "same
stem, other number"). It assumes that whether a successor keeps its stem
does not depend on how common the stem is (one ``m``).

Supervised model
----------------
With labelled pairs (``previous, new, match``), a logistic regression of ``match`` on
the one-hot binned comparisons (missing as its own level) replaces EM
(Newton-Raphson, ridge-penalised so that a level seen only among matches does not
diverge). Its probabilities are calibrated for the population
the labelled pairs were drawn from: label a random sample of candidate pairs.

References
----------
Fellegi, I. P. & Sunter, A. B. (1969). A theory for record linkage. *JASA* 64,
1183-1210. Winkler, W. E. (1988). Using the EM algorithm for weight computation in
the Fellegi-Sunter model of record linkage. *Proc. Section on Survey Research
Methods, ASA*, 667-671. Winkler, W. E. (1989). Frequency-based matching in
Fellegi-Sunter model of record linkage. *Proc. Section on Survey Research
Methods, ASA*, 778-783. Linacre, R., Lindsay, S., Manassis, T., Slade, Z.,
Hepworth, T., Kennedy, R. & Bond, A. (2022). Splink: Free software for
probabilistic record linkage at scale. *International Journal of Population
Data Science* 7(3) (term-frequency adjustments).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from measure.errors import EstimationError
from measure.resurrection._features import BACKUP_LEVEL, COMPARISONS

PSEUDO = 0.5  # pseudo-count per level (Jeffreys-like) keeps m, u off 0 and 1
MAX_ITER = 500
TOL = 1e-8
WINDOW_CHUNK = 1_000_000  # pairs per chunk of the per-window u's pair arrays


@dataclass(frozen=True)
class FSModel:
    """Fitted Fellegi-Sunter parameters.

    Attributes
    ----------
    lam
        Estimated share of candidate pairs that are matches.
    m, u
        Per comparison, level probabilities among matches / non-matches.
    n_iter
        EM iterations used; ``converged`` whether the tolerance was reached.
    loglik
        Observed-data log-likelihood at the estimate.
    """

    lam: float
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    n_iter: int
    converged: bool
    loglik: float
    method: str = "Fellegi-Sunter EM"
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def weights(self) -> pl.DataFrame:
        """Table of ``comparison, level, label, m, u, weight`` (log2 m/u).

        A level left out of the model (an optional level no pair took) has
        ``m = u = 0`` and weight 0. A comparison with a per-window ``u``
        (``extra["window_u"]``, the grouped model's time gap) is shown with its
        ``u`` pooled over all window pairs; each window's own weight differs.
        """
        rows = []
        for c in COMPARISONS:
            for lvl, lab in enumerate(c.levels):
                m = float(self.m[c.name][lvl])
                u = float(self.u[c.name][lvl])
                # a level left out of the model (no pair took it) weighs 0
                w = float(np.log2(m / u)) if m > 0 and u > 0 else 0.0
                rows.append((c.name, lvl, lab, m, u, w))
        return pl.DataFrame(rows, schema=["comparison", "level", "label", "m", "u",
                                          "weight"], orient="row")


def _levels_in_model(*bins: np.ndarray | None) -> list[np.ndarray]:
    """Per comparison, which levels the model has (bool mask).

    Every level, except an optional level (``Comparison.optional``) that no row
    of any of ``bins`` takes.
    """
    out = []
    for k, c in enumerate(COMPARISONS):
        mask = np.ones(len(c.levels), dtype=bool)
        for lvl in getattr(c, "optional", ()):
            mask[lvl] = any(b is not None and bool(np.any(b[:, k] == lvl))
                            for b in bins)
        out.append(mask)
    return out


def _pseudo(mask: np.ndarray) -> np.ndarray:
    """Pseudo-counts ``PSEUDO / L`` on the ``L`` levels in the model, 0 elsewhere."""
    return np.where(mask, PSEUDO / mask.sum(), 0.0)


def _start(c: object, mask: np.ndarray, sign: float) -> np.ndarray:
    """Start level probabilities at ``2**(sign * level)`` over the levels in use."""
    return _normalise(c, np.where(mask, 2.0 ** (sign * np.arange(mask.size)), 0.0))


def _normalise(c: object, x: np.ndarray) -> np.ndarray:
    """Level probabilities from weighted counts, within each group of levels."""
    groups = getattr(c, "groups", None)
    if groups is None:
        return x / x.sum()
    g = np.asarray(groups)
    tot = np.bincount(g, weights=x)
    return x / tot[g]


def _patterns(bins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pats, inverse, counts = np.unique(bins, axis=0, return_inverse=True,
                                      return_counts=True)
    return pats, inverse.reshape(-1), counts.astype(np.float64)


def _pattern_codes(bins: np.ndarray, extra: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``bins`` (levels >= -1), each row's pattern, and counts.

    Rows are encoded as one integer (mixed radix), so ``np.unique`` sorts a vector
    rather than rows (``np.unique(axis=0)`` is slow on millions of rows). The code
    is built one column at a time, so ``bins`` may be of any integer type (int8
    levels cost an eighth of int64) and is never copied whole.

    Parameters
    ----------
    bins
        ``(n, K)`` levels.
    extra
        Optional ``(n,)`` integers (>= -1) taken as a last column of ``bins``
        (a stratum), without stacking the two.

    Returns
    -------
    tuple
        The distinct rows (int64, ``K`` columns, or ``K + 1`` with ``extra``)
        in the order of their codes, each row's pattern number and the number
        of rows of each pattern.
    """
    cols = [bins[:, kk] for kk in range(bins.shape[1])]
    if extra is not None:
        cols.append(np.asarray(extra))
    code = np.zeros(bins.shape[0], dtype=np.int64)
    for col in cols:
        c = col.astype(np.int64) + 1
        radix = int(c.max()) + 1 if c.size else 1
        code *= radix
        code += c
        del c
    _, first, inv, counts = np.unique(code, return_index=True, return_inverse=True,
                                      return_counts=True)
    del code
    pats = np.empty((first.size, len(cols)), dtype=np.int64)
    for kk, col in enumerate(cols):
        pats[:, kk] = col[first]
    return pats, inv.reshape(-1), counts.astype(np.float64)


def _log_lr(pats: np.ndarray, m: list[np.ndarray], u: list[np.ndarray]) -> np.ndarray:
    """Log likelihood ratio of each row; a level left out of the model adds 0."""
    out = np.zeros(pats.shape[0])
    for k in range(pats.shape[1]):
        lvl = pats[:, k]
        ok = lvl >= 0
        used = (m[k] > 0) & (u[k] > 0)
        lr = np.zeros(m[k].size)
        lr[used] = np.log(m[k][used]) - np.log(u[k][used])
        out[ok] += lr[lvl[ok]]
    return out


def u_from_random_pairs(bins: np.ndarray, weights: np.ndarray | None = None
                        ) -> dict[str, np.ndarray]:
    """Non-match level probabilities from random pairs (almost all non-matches).

    As in splink's ``estimate_u_using_random_sampling``: among candidate pairs every
    non-match agrees on at least one blocking key, so ``u`` estimated there by EM
    is confounded with the blocking; random pairs are not. ``weights``: each
    pair's count (a bootstrap resample), 1 when ``None``.
    """
    out = {}
    used = _levels_in_model(bins)
    w = np.ones(bins.shape[0]) if weights is None else np.asarray(weights, float)
    for k, c in enumerate(COMPARISONS):
        ok = bins[:, k] >= 0
        L = len(c.levels)
        cnt = (np.bincount(bins[ok, k], weights=w[ok], minlength=L)
               + _pseudo(used[k]))
        out[c.name] = _normalise(c, cnt)
    return out


def fit_em(bins: np.ndarray, *, lam0: float = 0.1, max_iter: int = MAX_ITER,
           tol: float = TOL, fixed_u: dict[str, np.ndarray] | None = None,
           weights: np.ndarray | None = None, init: FSModel | None = None
           ) -> FSModel:
    """Estimate ``lambda, m, u`` by EM on binned comparisons.

    Parameters
    ----------
    bins
        ``(n_pairs, n_comparisons)`` int array of levels (``-1`` = missing), columns
        in the order of :data:`~measure.resurrection._features.COMPARISONS`.
    lam0
        Starting share of matches.
    fixed_u
        ``u`` of some comparisons held fixed (e.g. from random pairs); the others
        are estimated.
    weights
        Each pair's count (a bootstrap resample); 1 when ``None``.
    init
        Start from these parameters (a warm start) instead of the default start.

    Returns
    -------
    FSModel

    Notes
    -----
    Starting values put matches on the high (similar) levels: ``m`` proportional to
    ``2**level``, ``u`` to ``2**-level``; the labels of the two classes are
    therefore fixed by the ordering of the levels (no label switching).
    """
    if bins.shape[0] == 0:
        raise EstimationError("no candidate pairs to fit the linkage model on; widen "
                              "the window or check the accounts table")
    nlev = [len(c.levels) for c in COMPARISONS]
    pats, inv, counts = _patterns(bins)
    if weights is not None:
        counts = np.bincount(inv, weights=np.asarray(weights, dtype=np.float64),
                             minlength=pats.shape[0])
    used = _levels_in_model(bins)
    pseudo = [_pseudo(x) for x in used]
    m = [_start(c, used[k], 1.0) for k, c in enumerate(COMPARISONS)]
    u = [_start(c, used[k], -1.0) for k, c in enumerate(COMPARISONS)]
    fixed_u = fixed_u or {}
    fixed = [c.name in fixed_u for c in COMPARISONS]
    for k, c in enumerate(COMPARISONS):
        if fixed[k]:
            u[k] = np.asarray(fixed_u[c.name], dtype=np.float64)
    lam = lam0
    if init is not None:
        m = [np.array(init.m[c.name], dtype=np.float64) for c in COMPARISONS]
        u = [u[k] if fixed[k] else np.array(init.u[c.name], dtype=np.float64)
             for k, c in enumerate(COMPARISONS)]
        lam = float(init.lam)
    prev = -np.inf
    converged = False
    it = 0
    ll = -np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 - used after the loop
        llr = _log_lr(pats, m, u)
        a = np.log(lam) + llr
        b = np.log1p(-lam)
        mx = np.maximum(a, b)
        denom = mx + np.log(np.exp(a - mx) + np.exp(b - mx))
        g = np.exp(a - denom)
        # observed-data log-likelihood up to the product of u's (constant in class)
        ll = float(np.sum(counts * denom))
        gm = g * counts
        gu = (1.0 - g) * counts
        lam = float(np.clip(gm.sum() / counts.sum(), 1e-9, 1 - 1e-9))
        for k, L in enumerate(nlev):
            lvl = pats[:, k]
            ok = lvl >= 0
            mk = np.bincount(lvl[ok], weights=gm[ok], minlength=L) + pseudo[k]
            uk = np.bincount(lvl[ok], weights=gu[ok], minlength=L) + pseudo[k]
            m[k] = _normalise(COMPARISONS[k], mk)
            if not fixed[k]:
                u[k] = _normalise(COMPARISONS[k], uk)
        if abs(ll - prev) < tol * max(1.0, abs(ll)):
            converged = True
            break
        prev = ll
    names = [c.name for c in COMPARISONS]
    method = "Fellegi-Sunter EM" + (
        " (u of " + ", ".join(sorted(fixed_u)) + " from random pairs)"
        if fixed_u else "")
    return FSModel(lam=lam, m=dict(zip(names, m, strict=True)),
                   u=dict(zip(names, u, strict=True)), n_iter=it,
                   converged=converged, loglik=ll, method=method)


def predict_em(model: FSModel, bins: np.ndarray) -> np.ndarray:
    """Posterior match probability of each pair under ``model``."""
    names = [c.name for c in COMPARISONS]
    m = [model.m[n] for n in names]
    u = [model.u[n] for n in names]
    llr = _log_lr(bins, m, u)
    logit = np.log(model.lam) - np.log1p(-model.lam) + llr
    return 1.0 / (1.0 + np.exp(-logit))


def _design(bins: np.ndarray) -> np.ndarray:
    cols = [np.ones(bins.shape[0])]
    for k, c in enumerate(COMPARISONS):
        # level 0 is the reference; missing gets its own indicator
        for lvl in range(1, len(c.levels)):
            cols.append((bins[:, k] == lvl).astype(np.float64))
        cols.append((bins[:, k] < 0).astype(np.float64))
    return np.column_stack(cols)


@dataclass(frozen=True)
class LogitModel:
    """Supervised match model: logistic regression on one-hot binned comparisons."""

    params: np.ndarray
    n_labelled: int
    n_matches: int
    method: str = "supervised logistic regression (ridge 1 on the log-likelihood)"


RIDGE = 1.0  # L2 penalty on the summed log-likelihood: a level seen only among
# matches (or non-matches) gets a large but finite weight


def _ridge_logit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
                 ridge: float = RIDGE, max_iter: int = 100) -> np.ndarray:
    """Penalised maximum likelihood (Newton-Raphson); the intercept is free."""
    n, k = x.shape
    w = np.ones(n) if w is None else w
    pen = np.full(k, ridge)
    pen[0] = 0.0
    beta = np.zeros(k)
    ybar = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    beta[0] = np.log(ybar / (1 - ybar))

    def objective(b: np.ndarray) -> float:
        eta = x @ b
        ll = np.sum(w * (y * eta - np.logaddexp(0.0, eta)))
        return float(ll - 0.5 * np.sum(pen * b * b))

    cur = objective(beta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -35, 35)))
        grad = x.T @ (w * (y - p)) - pen * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(pen + 1e-6)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6:  # step halving keeps every Newton step an ascent
            new = objective(beta + t * step)
            if new >= cur - 1e-12:
                break
            t /= 2
        beta = beta + t * step
        done = abs(new - cur) < 1e-10 * max(1.0, abs(cur))
        cur = new
        if done:
            break
    return beta


def fit_logit(bins: np.ndarray, y: np.ndarray) -> LogitModel:
    """Fit the supervised model on labelled pairs (``y`` = 1 for a true link)."""
    if y.size == 0 or y.min() == y.max():
        raise EstimationError(
            "labelled pairs must include both matches and non-matches among the "
            "candidate pairs; label more pairs or leave labels out to use EM")
    x = _design(bins)
    keep = x[:, 1:].sum(axis=0) > 0
    keep = np.concatenate([[True], keep])
    params = np.zeros(x.shape[1])
    params[keep] = _ridge_logit(x[:, keep], y.astype(np.float64))
    return LogitModel(params=params, n_labelled=int(y.size), n_matches=int(y.sum()))


def predict_logit(model: LogitModel, bins: np.ndarray) -> np.ndarray:
    """Match probability of each pair under the supervised model."""
    eta = _design(bins) @ model.params
    return 1.0 / (1.0 + np.exp(-eta))


def _group_posterior(llr: np.ndarray, group: np.ndarray, k: np.ndarray,
                     rho: float, starts: np.ndarray | None = None) -> np.ndarray:
    """``P(Z_a = j | data)`` for each pair ``j`` of suspended account ``a``.

    ``starts``: where each account's run begins when ``group`` is sorted (its
    maximum is then a ``reduceat``, much faster than ``maximum.at``).
    """
    # log of (rho / k_a) * LR_j, and of (1 - rho) for "no successor"
    a = np.log(rho) - np.log(k[group]) + llr
    gmax = np.full(k.size, np.log1p(-rho))
    if starts is not None and starts.size:
        runs = group[starts]
        gmax[runs] = np.maximum(gmax[runs], np.maximum.reduceat(a, starts))
    else:
        np.maximum.at(gmax, group, a)
    ea = np.exp(a - gmax[group])
    denom = np.exp(np.log1p(-rho) - gmax) + np.bincount(group, weights=ea,
                                                         minlength=k.size)
    return ea / denom[group]


def _window_u(counts: dict[str, np.ndarray] | None, bins: np.ndarray,
              group: np.ndarray, G: int, used: list[np.ndarray]
              ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per suspended account level probabilities ``u_a`` of window comparisons.

    ``counts[name]`` is ``(G, L)``: the accounts of each window at each level.
    A candidate is one of its window's accounts, so each count is raised to at
    least the candidates at that level (it is already, when the counts and the
    levels come from the same window). When the time gap's backup level is left
    out of the model (no pair takes it), the window accounts created before the
    last active look-up count at "<=2 d", the level their pairs have without
    it. Returns ``{comparison index: (G, L) u_a}`` and ``{comparison index:
    pooled u}`` (``sum_a counts[a] / sum_a k_a``).
    """
    per: dict[int, np.ndarray] = {}
    pooled: dict[int, np.ndarray] = {}
    names = [c.name for c in COMPARISONS]
    for name, raw in (counts or {}).items():
        kk = names.index(name)
        c = COMPARISONS[kk]
        L = len(c.levels)
        if getattr(c, "groups", None) is not None:
            raise ValueError(f"a per-window u of the conditional comparison "
                             f"'{name}' is not supported")
        cnt = np.array(raw, dtype=np.float64)
        if cnt.shape != (G, L):
            raise ValueError(f"window level counts of '{name}' must be "
                             f"({G}, {L}), got {cnt.shape}")
        if name == "time_gap" and L > BACKUP_LEVEL and not used[kk][BACKUP_LEVEL]:
            cnt[:, BACKUP_LEVEL - 1] += cnt[:, BACKUP_LEVEL]
            cnt[:, BACKUP_LEVEL] = 0.0
        cand = np.zeros(G * L)
        for a in range(0, bins.shape[0], WINDOW_CHUNK):
            lvl = bins[a:a + WINDOW_CHUNK, kk]
            ok = lvl >= 0
            cand += np.bincount(group[a:a + WINDOW_CHUNK][ok] * L + lvl[ok],
                                minlength=G * L)
        cnt = np.maximum(cnt, cand.reshape(G, L)) * used[kk]
        tot = cnt.sum(axis=1, keepdims=True)
        per[kk] = np.divide(cnt, tot, out=np.zeros_like(cnt), where=tot > 0)
        all_ = cnt.sum(axis=0)
        pooled[kk] = all_ / all_.sum() if all_.sum() > 0 else all_
    return per, pooled


def _window_offset(bins: np.ndarray, group: np.ndarray,
                   wu: dict[int, np.ndarray]) -> np.ndarray:
    """Per pair: ``-sum_k log u_{a,k}(l)`` over the window comparisons ``wu``.

    Fixed during EM (the ``u_a`` are not re-estimated), so it is computed once;
    the ``log m_k(l)`` part depends on the comparison pattern only and is added
    with the other comparisons (:func:`_log_lr` with ``u = 1``). A missing
    level, or a level left out of the model (``u_a = 0`` and ``m = 0``), adds 0.
    Kept as float32 (4 bytes a pair, computed in chunks of
    :data:`WINDOW_CHUNK` pairs): the log of a share of a window's accounts to
    seven digits.
    """
    out = np.zeros(bins.shape[0], dtype=np.float32)
    logs = {kk: np.log(np.where(ua > 0, ua, 1.0)) for kk, ua in wu.items()}
    for a in range(0, bins.shape[0], WINDOW_CHUNK):
        b = min(a + WINDOW_CHUNK, bins.shape[0])
        grp = group[a:b]
        acc = np.zeros(b - a)
        for kk, lu in logs.items():
            lvl = bins[a:b, kk]
            ok = lvl >= 0
            acc[ok] -= lu[grp[ok], lvl[ok]]
        out[a:b] = acc
    return out


def _log_u_strata(lvl: np.ndarray, stratum: np.ndarray, u: np.ndarray,
                  m: np.ndarray) -> np.ndarray:
    """Per row ``log u[stratum, level]`` (0 where missing or left out)."""
    out = np.zeros(lvl.shape[0])
    ok = lvl >= 0
    ok[ok] = (m[lvl[ok]] > 0) & (u[stratum[ok], lvl[ok]] > 0)
    out[ok] = np.log(u[stratum[ok], lvl[ok]])
    return out


def _with_unit_u(u: list[np.ndarray], wu: dict[int, np.ndarray]) -> list[np.ndarray]:
    """``u`` with the window comparisons' set to 1.

    Their ``u_a`` enters through the pair offset (:func:`_window_offset`).
    """
    return [np.ones_like(x) if kk in wu else x for kk, x in enumerate(u)]


def fit_em_grouped(bins: np.ndarray, group: np.ndarray, *, rho0: float = 0.3,  # noqa: PLR0913
                   max_iter: int = MAX_ITER, tol: float = 1e-7,
                   fixed_u: dict[str, np.ndarray] | None = None,
                   n_cand: np.ndarray | None = None,
                   random_bins: np.ndarray | None = None,
                   random_idx: np.ndarray | None = None,
                   n_window_pairs: float | None = None,
                   window_counts: dict[str, np.ndarray] | None = None,
                   u_strata: dict[str, tuple[np.ndarray, np.ndarray | None]] | None
                   = None) -> FSModel:
    """Fellegi-Sunter EM with at most one successor per suspended account.

    Each suspended account ``a`` (``group``) has candidates ``j = 1..k_a`` and a
    latent choice ``Z_a`` in ``{none, 1..k_a}`` with ``P(none) = 1 - rho`` and
    ``P(Z_a = j) = rho / k_a``; the chosen pair's comparisons follow ``m``, every
    other pair's follow ``u`` (conditional independence). The E-step gives
    ``P(Z_a = j | data) = (rho/k_a) L_j / ((1 - rho) + (rho/k_a) sum_i L_i)``; the
    M-step re-estimates ``m``, ``u`` and ``rho`` (the share of suspended accounts
    with a successor among their candidates). Building the one-to-one constraint
    into the likelihood stops EM from calling a whole block of look-alikes (a
    shared common bio) matches, which the pairwise model does when blocking makes
    every candidate agree on something.

    Parameters
    ----------
    bins
        ``(n_pairs, n_comparisons)`` levels (``-1`` missing).
    group
        ``0..G-1`` index of each pair's suspended account.
    random_bins, random_idx
        Levels of random (suspended, window account) pairs, uniform over all
        window pairs, and each one's row among the candidate pairs (``-1`` when
        it is not a candidate). ``u`` is then the non-match distribution over
        the window pairs (see ``n_window_pairs``), not over the blocked pairs.
    n_window_pairs
        Number of (suspended, window account) pairs in all. When given with the
        random pairs, ``u`` is a two-stratum estimate: the candidate pairs are a
        census of their stratum (each counted with its non-match posterior
        ``1 - g``) and the random pairs that are not candidates a uniform sample
        of the rest, each standing for ``(n_window_pairs - n_candidates) /
        n_random_outside`` pairs. Blocking puts nearly every pair that agrees on
        a rare level among the candidates, so those levels' ``u`` are counted
        rather than sampled: with random pairs alone a level seen in none of
        50,000 of them gets ``u`` from the pseudo-count, and the weight of an
        exact display-name or handle-skip agreement moved by 7 bits between
        two random-pair seeds on the demo world (links 585-698, precision
        0.92-1.00). Without it, ``u`` comes from the random pairs alone (those
        that are candidates weighted by ``1 - g``).
    window_counts
        ``{comparison: (G, L) counts}``: for each suspended account, how many
        accounts of its window are at each level of that comparison (all of
        them, not only the candidates; ``n_cand`` must then be the window
        sizes). That comparison's ``u`` is then the account's own
        ``u_a(l) = counts[a, l] / sum_l counts[a, l]`` (the window size
        ``k_a``) instead of one ``u`` for all windows (see the module notes,
        "Per-window u of the time gap"); ``model.u`` reports the pooled
        ``sum_a counts[a] / sum_a k_a`` and ``model.extra["window_u"]`` holds
        the ``u_a``.
    u_strata
        ``{comparison: (stratum of each suspended account, stratum of each
        random pair)}``: that comparison's ``u`` is estimated per stratum of
        suspended accounts (``P(level | stratum, non-match)``), its ``m`` stays
        one per level (see the module notes, "Term-frequency adjustment");
        ``model.u`` reports the strata's ``u`` weighted by their window pairs
        and ``model.extra["u_strata"]`` holds the ``(S, L)`` array.

    See Also
    --------
    GroupedEM : the same fit on prepared inputs, also on bootstrap weights.
    """
    em = GroupedEM(bins, group, fixed_u=fixed_u, n_cand=n_cand,
                   random_bins=random_bins, random_idx=random_idx,
                   n_window_pairs=n_window_pairs, window_counts=window_counts,
                   u_strata=u_strata)
    return em.fit(rho0=rho0, max_iter=max_iter, tol=tol)


class GroupedEM:
    """Prepared inputs of the grouped EM (:func:`fit_em_grouped`).

    Holds what every EM iteration reads (the distinct comparison patterns and
    each pair's pattern, the per-window ``u`` offset, the random pairs), so that
    the model can be refitted many times without redoing that work: on the data
    (:meth:`fit`) and on bootstrap resamples of the suspended accounts, given
    as integer weights (a suspended account drawn twice counts twice; its
    pairs' E-step is the same in both copies, so weighting the M-step is the
    same as fitting on the resample). The posterior of every pair under any
    fitted parameters is :meth:`predict`.

    Parameters
    ----------
    bins, group, fixed_u, n_cand, random_bins, random_idx, n_window_pairs, \
window_counts, u_strata
        As in :func:`fit_em_grouped`.
    """

    def __init__(self, bins: np.ndarray, group: np.ndarray, *,
                 fixed_u: dict[str, np.ndarray] | None = None,
                 n_cand: np.ndarray | None = None,
                 random_bins: np.ndarray | None = None,
                 random_idx: np.ndarray | None = None,
                 n_window_pairs: float | None = None,
                 window_counts: dict[str, np.ndarray] | None = None,
                 u_strata: dict[str, tuple[np.ndarray, np.ndarray | None]] | None
                 = None) -> None:
        if bins.shape[0] == 0:
            raise EstimationError("no candidate pairs to fit the linkage model on; "
                                  "widen the window or check the accounts table")
        group = np.asarray(group, dtype=np.int64)
        self.group = group
        self.G = G = int(group.max()) + 1
        self.n_pairs = int(bins.shape[0])
        counts = np.bincount(group, minlength=G)
        self.has_pairs = counts > 0
        k = counts.astype(np.float64)
        if n_cand is not None:
            k = np.maximum(np.asarray(n_cand, dtype=np.float64), k)
        k[k == 0] = 1.0
        self.k = k
        # runs of a sorted group vector make the per-account maximum a reduceat
        self.starts = (np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
                       if bool(np.all(group[1:] >= group[:-1])) else None)
        if random_bins is not None:
            random_bins = np.asarray(random_bins, dtype=np.int64)
        self.used = used = _levels_in_model(bins, random_bins)
        self.pseudo = [_pseudo(x) for x in used]
        self.random_bins = random_bins
        self.fixed_u = dict(fixed_u or {})
        if random_bins is not None:
            self.random_idx = (np.full(random_bins.shape[0], -1, dtype=np.int64)
                               if random_idx is None
                               else np.asarray(random_idx, np.int64))
            self.fixed_u = {c.name: used[kk].astype(np.float64)
                            for kk, c in enumerate(COMPARISONS)}
        self.fixed = [c.name in self.fixed_u for c in COMPARISONS]
        self.wu, self.pooled_wu = _window_u(window_counts, bins, group, G, used)
        self.offset = _window_offset(bins, group, self.wu) if self.wu else None
        self.sk, self.S, s_pair = self._strata(u_strata, group, random_bins)
        # comparison patterns: likelihood ratios and M-step counts per distinct
        # pattern (a few thousand) instead of per pair (millions); with a
        # stratified u the stratum is part of the pattern
        pats, inv, self.n_pat = _pattern_codes(bins, s_pair)
        self.pats = pats[:, :len(COMPARISONS)]
        self.pat_s = None if s_pair is None else pats[:, -1]
        del s_pair
        self.inv = inv.astype(np.int32 if self.pats.shape[0] < 2**31 else np.int64)
        self.n_window_pairs = n_window_pairs
        self.two_strata = random_bins is not None and n_window_pairs is not None
        if self.two_strata:
            assert random_bins is not None
            self.outside = self.random_idx < 0
            if not self.outside.any():
                raise EstimationError(
                    "no random pair fell outside the candidate pairs: cannot "
                    "estimate the non-match levels of the window pairs; raise "
                    "u_random_pairs")

    def _strata(self, u_strata: dict[str, tuple[np.ndarray, np.ndarray | None]]
                | None, group: np.ndarray, random_bins: np.ndarray | None
                ) -> tuple[int | None, int, np.ndarray | None]:
        """Check the stratified ``u`` (see :func:`fit_em_grouped`).

        Returns the comparison's index (``None`` without strata), the number
        of strata and each pair's stratum; sets ``s_group`` and ``s_rand``.
        """
        self.s_group = self.s_rand = None
        if not u_strata:
            return None, 1, None
        if len(u_strata) != 1:
            raise ValueError("a stratified u is supported for one comparison")
        ((name, (s_group, s_rand)),) = u_strata.items()
        kk = [c.name for c in COMPARISONS].index(name)
        if kk in self.wu or getattr(COMPARISONS[kk], "groups", None) is not None:
            raise ValueError(f"'{name}' cannot have a stratified u (it has a "
                             "per-window u or conditional levels)")
        sg = np.asarray(s_group, dtype=np.int64)
        if sg.shape != (self.G,) or (sg.size and sg.min() < 0):
            raise ValueError(f"the strata of '{name}' must be one stratum >= 0 "
                             f"per suspended account ({self.G})")
        if random_bins is not None:
            sr = (np.zeros(random_bins.shape[0], dtype=np.int64) if s_rand is None
                  else np.asarray(s_rand, dtype=np.int64))
            if sr.shape != (random_bins.shape[0],):
                raise ValueError(f"the strata of '{name}' must give one stratum "
                                 "per random pair")
            self.s_rand = sr
        self.s_group = sg
        n = int(max(sg.max(initial=0), 0 if self.s_rand is None
                    else self.s_rand.max(initial=0))) + 1
        return kk, n, sg[group]

    def _count(self, kk: int, lvl: np.ndarray, w: np.ndarray,
               stratum: np.ndarray | None) -> np.ndarray:
        """Weighted level counts of comparison ``kk`` (``(S, L)`` if stratified)."""
        L = len(COMPARISONS[kk].levels)
        ok = lvl >= 0
        if kk != self.sk or stratum is None:
            return np.bincount(lvl[ok], weights=w[ok], minlength=L).astype(float)
        return np.bincount(stratum[ok] * L + lvl[ok], weights=w[ok],
                           minlength=self.S * L).reshape(self.S, L).astype(float)

    def _norm_u(self, kk: int, x: np.ndarray) -> np.ndarray:
        """Level probabilities from counts, with the pseudo-counts.

        Per stratum for the stratified comparison (``x`` is ``(S, L)``): its
        pseudo-count ``PSEUDO`` is spread over the levels as the strata pooled
        are, so that a stratum with few (or, in a bootstrap resample, no)
        suspended accounts gets about the pooled ``u``, not a flat one.
        """
        if x.ndim == 2:
            pooled = x.sum(axis=0) + self.pseudo[kk]
            x = x + PSEUDO * pooled / pooled.sum()
            return x / x.sum(axis=1, keepdims=True)
        return _normalise(COMPARISONS[kk], x + self.pseudo[kk])

    def _strata_u(self, nonmatch: np.ndarray, outside_w: float,
                  outside_counts: list[np.ndarray]) -> list[np.ndarray]:
        """Estimate u over the window pairs from both strata.

        The candidates count with ``nonmatch`` (weight per pattern), the random
        pairs outside them weighted up to the other window pairs.
        """
        out = []
        for kk in range(len(COMPARISONS)):
            cnt = self._count(kk, self.pats[:, kk], nonmatch, self.pat_s)
            out.append(self._norm_u(kk, cnt + outside_w * outside_counts[kk]))
        return out

    def _llr(self, m: list[np.ndarray], u: list[np.ndarray]) -> np.ndarray:
        """Log likelihood ratio of every pair (with the per-window offset)."""
        uu = _with_unit_u(u, self.wu)
        if self.sk is not None:
            uu[self.sk] = np.ones(len(COMPARISONS[self.sk].levels))
        lp = _log_lr(self.pats, m, uu)
        if self.sk is not None:
            lp -= _log_u_strata(self.pats[:, self.sk], self.pat_s, u[self.sk],
                                m[self.sk])
        llr = lp[self.inv]
        if self.offset is not None:
            llr += self.offset
        return llr

    def fit(self, *, rho0: float = 0.3, max_iter: int = MAX_ITER, tol: float = 1e-7,  # noqa: C901
            weights: np.ndarray | None = None,
            random_weights: np.ndarray | None = None,
            n_window_pairs: float | None = None,
            init: FSModel | None = None) -> FSModel:
        """Fit ``rho, m, u`` by EM.

        Parameters
        ----------
        rho0, max_iter, tol
            Start of ``rho``, iteration cap, and tolerance on the change of
            ``rho``.
        weights
            Per suspended account (``G``), its count in a bootstrap resample
            (``None``: 1 each).
        random_weights
            Per random pair, the count of its suspended account in the resample.
        n_window_pairs
            Window pairs of the resample (``None``: those of the data).
        init
            Start from these parameters (a fit on the data: a warm start)
            instead of the default start.

        Returns
        -------
        FSModel
        """
        G, nlev = self.G, [len(c.levels) for c in COMPARISONS]
        used, pseudo, fixed, wu = self.used, self.pseudo, self.fixed, self.wu
        names = [c.name for c in COMPARISONS]
        w_pair = None if weights is None else np.asarray(weights, np.float64)[
            self.group]
        n_pat = (self.n_pat if w_pair is None else
                 np.bincount(self.inv, weights=w_pair, minlength=self.pats.shape[0]))
        w_grp = (np.ones(G) if weights is None
                 else np.asarray(weights, dtype=np.float64)) * self.has_pairs
        m = [_start(c, used[kk], 1.0) for kk, c in enumerate(COMPARISONS)]
        u = [_start(c, used[kk], -1.0) for kk, c in enumerate(COMPARISONS)]
        for kk, c in enumerate(COMPARISONS):
            if fixed[kk]:
                u[kk] = _normalise(c, np.asarray(self.fixed_u[c.name],
                                                 dtype=np.float64))
        if self.sk is not None:
            u[self.sk] = np.tile(u[self.sk], (self.S, 1))
        rho = rho0
        rb = self.random_bins
        r_w = (None if rb is None else np.ones(rb.shape[0]) if random_weights is None
               else np.asarray(random_weights, dtype=np.float64))
        if self.two_strata:
            assert rb is not None and r_w is not None
            nwp = float(self.n_window_pairs if n_window_pairs is None
                        else n_window_pairs)
            out_lv, out_w = rb[self.outside], r_w[self.outside]
            n_out = float(out_w.sum())
            n_cand_pairs = float(self.n_pairs if w_pair is None else w_pair.sum())
            outside_w = max(nwp - n_cand_pairs, 0.0) / max(n_out, 1e-300)
            out_s = None if self.s_rand is None else self.s_rand[self.outside]
            outside_counts = [self._count(kk, out_lv[:, kk], out_w, out_s)
                              for kk in range(len(nlev))]
            u = self._strata_u(n_pat, outside_w, outside_counts)
        elif rb is not None:
            for kk in range(len(COMPARISONS)):
                u[kk] = self._norm_u(kk, self._count(kk, rb[:, kk], r_w,
                                                     self.s_rand))
        if init is not None:
            m = [np.array(init.m[n], dtype=np.float64) for n in names]
            u = [u[kk] if (kk in wu or (fixed[kk] and rb is None))
                 else np.array(init.u[names[kk]], dtype=np.float64)
                 for kk in range(len(names))]
            if self.sk is not None:
                u[self.sk] = self._model_u_strata(init, u[self.sk])
            rho = float(init.lam)
        prev = np.inf
        converged = False
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007 - used after the loop
            g = _group_posterior(self._llr(m, u), self.group, self.k, rho,
                                 self.starts)
            g_pat = np.bincount(self.inv, weights=g if w_pair is None else g * w_pair,
                                minlength=self.pats.shape[0])
            for kk, L in enumerate(nlev):
                lvl = self.pats[:, kk]
                ok = lvl >= 0
                mk = np.bincount(lvl[ok], weights=g_pat[ok], minlength=L) + pseudo[kk]
                m[kk] = _normalise(COMPARISONS[kk], mk)
                if not fixed[kk]:
                    u[kk] = self._norm_u(kk, self._count(kk, lvl, n_pat - g_pat,
                                                         self.pat_s))
            ret = np.bincount(self.group, weights=g, minlength=G)
            rho = float(np.clip(np.sum(w_grp * ret) / max(w_grp.sum(), 1e-300),
                                1e-6, 1 - 1e-6))
            if self.two_strata:
                # candidates counted with their non-match posterior
                u = self._strata_u(n_pat - g_pat, outside_w, outside_counts)
            elif rb is not None:
                # u from random pairs, each weighted by its probability of being
                # a non-match: a random pair that is also a candidate pair gets
                # its current posterior (a window of a few hundred accounts
                # holds the successor often enough to bias u otherwise)
                assert r_w is not None
                w_r = r_w.copy()
                hit = self.random_idx >= 0
                w_r[hit] *= 1.0 - g[self.random_idx[hit]]
                for kk in range(len(COMPARISONS)):
                    u[kk] = self._norm_u(kk, self._count(kk, rb[:, kk], w_r,
                                                         self.s_rand))
            change = abs(rho - prev)
            if change < tol:
                converged = True
                break
            prev = rho
        for kk, pu in self.pooled_wu.items():
            u[kk] = pu
        strata = {}
        if self.sk is not None:
            # reported u: the strata's, weighted by their window pairs
            strata[names[self.sk]] = u[self.sk]
            w_s = np.bincount(self.s_group, weights=self.k, minlength=self.S)
            u[self.sk] = (w_s @ u[self.sk]) / max(w_s.sum(), 1e-300)
        method = ("Fellegi-Sunter EM, one successor per suspended account"
                  + (" (u from candidate and random window pairs)" if self.two_strata
                     else " (u from random pairs)" if self.fixed_u else ""))
        if wu:
            method += "; " + ", ".join(names[kk] for kk in wu) + " u of each window"
        return FSModel(lam=rho, m=dict(zip(names, m, strict=True)),
                       u=dict(zip(names, u, strict=True)), n_iter=it,
                       converged=converged, loglik=float("nan"), method=method,
                       extra={"k": self.k,
                              "window_u": {names[kk]: v for kk, v in wu.items()},
                              "u_strata": strata})

    def predict(self, model: FSModel) -> np.ndarray:
        """``P(pair is the suspended account's successor)`` of every pair.

        The same as :func:`predict_grouped` on the prepared pairs (the per-window
        ``u`` are the prepared ones).
        """
        names = [c.name for c in COMPARISONS]
        u = [model.u[n] for n in names]
        if self.sk is not None:
            u[self.sk] = self._model_u_strata(model, u[self.sk])
        llr = self._llr([model.m[n] for n in names], u)
        return _group_posterior(llr, self.group, self.k, model.lam, self.starts)

    def _model_u_strata(self, model: FSModel, pooled: np.ndarray) -> np.ndarray:
        """Return the stratified comparison's ``(S, L)`` u of ``model``.

        A model without strata for it, or with fewer strata, gives its pooled
        ``u`` to the strata it lacks.
        """
        assert self.sk is not None
        name = COMPARISONS[self.sk].name
        got = (model.extra.get("u_strata") or {}).get(name)
        base = np.asarray(pooled if pooled.ndim == 1 else model.u[name], float)
        out = np.tile(base, (self.S, 1))
        if got is not None:
            got = np.asarray(got, dtype=np.float64)
            n = min(self.S, got.shape[0])
            out[:n] = got[:n]
        return out


def predict_grouped(model: FSModel, bins: np.ndarray, group: np.ndarray,
                    strata: np.ndarray | None = None) -> np.ndarray:
    """``P(pair is the suspended account's successor)`` under the grouped model.

    ``strata``: each suspended account's stratum, for a model with a stratified
    ``u`` (``extra["u_strata"]``); without it the pooled ``u`` is used.
    """
    names = [c.name for c in COMPARISONS]
    group = np.asarray(group, dtype=np.int64)
    G = int(group.max(initial=-1)) + 1
    window_u = model.extra.get("window_u") or {}
    wu = {names.index(n): np.asarray(v) for n, v in window_u.items()}
    if any(v.shape[0] != G for v in wu.values()):
        raise ValueError("the model's per-window u is for another set of "
                         "suspended accounts than 'group'")
    pats, inv, _ = _pattern_codes(bins)
    m = [model.m[n] for n in names]
    u = _with_unit_u([model.u[n] for n in names], wu)
    us = {names.index(n): np.asarray(v, dtype=np.float64)
          for n, v in (model.extra.get("u_strata") or {}).items()}
    if strata is None:
        us = {}
    for kk in us:
        u[kk] = np.ones_like(u[kk])
    llr = _log_lr(pats, m, u)[inv]
    for kk, v in us.items():
        s_pair = np.minimum(np.asarray(strata, dtype=np.int64)[group], v.shape[0] - 1)
        llr -= _log_u_strata(np.asarray(bins, dtype=np.int64)[:, kk], s_pair, v, m[kk])
    if wu:
        llr += _window_offset(np.asarray(bins, dtype=np.int64), group, wu)
    k = model.extra.get("k")
    if k is None or len(k) != G:
        k = np.bincount(group).astype(np.float64)
        k[k == 0] = 1.0
    return _group_posterior(llr, group, np.asarray(k), model.lam)
