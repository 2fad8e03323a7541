"""Logistic working model for the model-assisted estimator and the frame classifier.

Features are the in-network sorting metrics (log scale), level, tier, the public
counts and a few profile fields (language, bio present, bio length); the model is a
ridge-penalised logistic regression fitted with statsmodels (penalty keeps the fit
finite under separation, which small coded samples often show). Berger & Morgan
(2015, §3.8) trained a classifier on coded Level-1 accounts and applied it to
Level 2; here the same model also drives the difference (GREG-type) estimator.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import statsmodels.api as sm

#: Ridge penalty (per observation, on standardised features); weak shrinkage that
#: only matters when the coded sample separates the classes.
RIDGE_ALPHA = 0.01

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

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticModel:
        """Fit on coded accounts (``y`` = 1 for supporters)."""
        sd = X.std(axis=0)
        self.keep = sd > 1e-12
        self.mu = X[:, self.keep].mean(axis=0)
        self.sd = sd[self.keep]
        D = self._design(X)
        alpha = np.full(D.shape[1], self.alpha)
        alpha[0] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(y, D, family=sm.families.Binomial()).fit_regularized(
                alpha=alpha, L1_wt=0.0, maxiter=200)
        self.params = np.asarray(res.params)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted probability of being a supporter."""
        eta = self._design(X) @ self.params
        return 1.0 / (1.0 + np.exp(-np.clip(eta, -35, 35)))


def out_of_fold(X: np.ndarray, y: np.ndarray, *, folds: int = 5,
                seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions (K-fold, folds balanced on ``y``) for coded accounts."""
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
            out[test] = y[train].mean()
            continue
        out[test] = LogisticModel().fit(X[train], y[train]).predict(X[test])
    return out
