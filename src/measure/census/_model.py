"""Logistic working model for the model-assisted estimator and the frame classifier.

Features are the in-network sorting metrics (log scale), level, tier, the public
counts and a few profile fields (language, bio present, bio length); the model is a
ridge-penalised logistic regression fitted by Newton's method (the penalty keeps the
fit finite under separation, which small coded samples often show; the objective is
the one of statsmodels' ``GLM.fit_regularized`` with ``L1_wt=0``). Labels may be
probabilities (an account's chance of being a supporter given its readings), so the
model can be fitted to labels corrected for coder error. Berger & Morgan
(2015, §3.8) trained a classifier on coded Level-1 accounts and applied it to
Level 2; here the same model also drives the difference (GREG-type) estimator.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Ridge penalty (per observation, on standardised features); weak shrinkage that
#: only matters when the coded sample separates the classes.
RIDGE_ALPHA = 0.01
#: Newton iterations and relative tolerance on the objective.
NEWTON_MAX_ITER = 100
NEWTON_TOL = 1e-12

#: A feature missing for more than this share of the frame is not used: coded
#: accounts are often looked up (profile counts known) while most of the frame is
#: not (Brookings' "partial data" Level 2), so such a feature would separate coded
#: from uncoded accounts rather than supporters from others, and predictions for
#: the uncoded frame would be extrapolations.
MAX_MISSING = 0.05

_LOG_FEATURES = ("in_friends", "in_followers", "seeds_followed", "seed_followers",
                 "reciprocal_in", "n_lists_seen", "followers_count",
                 "friends_count", "statuses_count")
_SHARE_FEATURES = ("in_follower_share", "in_friend_share")


def features(fr: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Design matrix (without intercept) for every frame row, and column names."""
    cols: dict[str, np.ndarray] = {}
    for c in _LOG_FEATURES + _SHARE_FEATURES:
        if c not in fr.columns:
            continue
        v = fr[c].cast(pl.Float64).to_numpy()
        if np.isnan(v).mean() > MAX_MISSING:
            continue
        if c in _SHARE_FEATURES:
            cols[c] = np.clip(np.nan_to_num(v), 0, 1)
        else:
            cols[f"log1p_{c}"] = np.log1p(np.nan_to_num(np.clip(v, 0, None)))
    lv = fr["level"].to_numpy()
    for k in sorted(set(lv.tolist()))[1:]:
        cols[f"level_{k}"] = (lv == k).astype(float)
    if "tier" in fr.columns:
        cols["tier2"] = (fr["tier"].to_numpy() == 2).astype(float)
    if "lang" in fr.columns:
        lang = fr["lang"].fill_null("").to_numpy()
        for code in ("ar", "en", "fr"):
            cols[f"lang_{code}"] = (lang == code).astype(float)
    if "description" in fr.columns:
        d = fr["description"].fill_null("").str.len_chars().to_numpy()
        cols["has_bio"] = (d > 0).astype(float)
        cols["log1p_bio_len"] = np.log1p(d.astype(float))
    names = list(cols)
    X = np.column_stack([cols[k] for k in names]) if names else np.zeros(
        (fr.height, 0))
    return X, names


class LogisticModel:
    """Ridge-penalised logistic regression on standardised features.

    Parameters
    ----------
    alpha
        Ridge penalty (statsmodels ``GLM.fit_regularized`` with ``L1_wt=0``; the
        intercept is not penalised).
    """

    def __init__(self, alpha: float = RIDGE_ALPHA) -> None:
        self.alpha = alpha
        self.keep: np.ndarray | None = None
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self.params: np.ndarray | None = None

    def _design(self, X: np.ndarray) -> np.ndarray:
        Z = (X[:, self.keep] - self.mu) / self.sd
        return np.column_stack([np.ones(len(X)), Z])

    def fit(self, X: np.ndarray, y: np.ndarray,
            weights: np.ndarray | None = None) -> LogisticModel:
        """Fit on coded accounts.

        Parameters
        ----------
        X
            Features of the coded accounts.
        y
            1 for supporters, 0 otherwise, or the probability of being one.
        weights
            Case weights (e.g. bootstrap multiplicities); default 1.

        Notes
        -----
        Minimises ``-sum_i w_i l_i / sum_i w_i + alpha / 2 * |beta|^2`` (the
        intercept not penalised) by Newton's method with step halving, ``l_i`` the
        Bernoulli log-likelihood of ``y_i``.
        """
        w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
        mu = np.average(X, axis=0, weights=w) if len(y) else X.mean(axis=0)
        sd = np.sqrt(np.average((X - mu) ** 2, axis=0, weights=w))
        self.keep = sd > 1e-12
        self.mu = mu[self.keep]
        self.sd = sd[self.keep]
        D = self._design(X)
        y = np.asarray(y, dtype=float)
        pen = np.full(D.shape[1], self.alpha)
        pen[0] = 0.0
        w = w / w.sum()

        def objective(b: np.ndarray) -> float:
            eta = D @ b
            ll = y * eta - np.logaddexp(0.0, eta)
            return float(-(w @ ll) + 0.5 * pen @ (b * b))

        b = np.zeros(D.shape[1])
        f = objective(b)
        for _ in range(NEWTON_MAX_ITER):
            p = 1.0 / (1.0 + np.exp(-np.clip(D @ b, -35, 35)))
            grad = -D.T @ (w * (y - p)) + pen * b
            hess = (D * (w * p * (1 - p))[:, None]).T @ D + np.diag(pen)
            hess[0, 0] += 1e-12
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while True:
                f_new = objective(b - t * step)
                if f_new <= f + 1e-15 or t < 1e-8:
                    break
                t /= 2
            b = b - t * step
            done = f - f_new < NEWTON_TOL * (1 + abs(f))
            f = f_new
            if done:
                break
        self.params = b
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted probability of being a supporter."""
        eta = self._design(X) @ self.params
        return 1.0 / (1.0 + np.exp(-np.clip(eta, -35, 35)))


def out_of_fold(X: np.ndarray, y: np.ndarray, *, folds: int = 5,
                seed: int = 0, y_fit: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold predictions (K-fold, folds balanced on ``y``) for coded accounts.

    ``y`` holds the 0/1 classes that balance the folds; the model is fitted to
    ``y_fit`` (e.g. probabilities of being a supporter) when given, else to ``y``.
    """
    target = np.asarray(y if y_fit is None else y_fit, dtype=float)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % folds
    out = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        train = ~test
        if test.sum() == 0:
            continue
        if len(np.unique(y[train])) < 2:
            out[test] = target[train].mean()
            continue
        out[test] = LogisticModel().fit(X[train], target[train]).predict(X[test])
    return out
