"""Coder error estimated from the coded sample: a latent-class model of the labels.

Every coded account has an unobserved class ``Z`` (supporter or not). In stratum
``h`` the share of supporters is ``pi_h``; coder ``j`` gives label ``l`` (``supporter``,
``non_supporter``, ``unclear``) with probability ``theta_j[z, l]``, the same in every
stratum of an *error group* (one group by default), and the coders of one account
decide independently given ``Z``. With two coders and strata of different prevalence
this is Hui & Walter's (1980) model; with several coders and response categories it is
Dawid & Skene's (1979). It is fitted by EM. An adjudicated coder (``gold``) is taken
as always right, which anchors the error rates where the panel reviewed accounts.

Identification needs accounts coded more than once (or adjudicated) in strata whose
supporter shares differ; :func:`fit_coder_model` checks the curvature of the
log-likelihood and reports when the error rates are not identified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

#: Response categories, in the order of the columns of every confusion matrix.
LABELS = ("supporter", "non_supporter", "unclear")
#: Latent classes, in the order of the rows: 0 = not a supporter, 1 = supporter.
CLASSES = ("non_supporter", "supporter")
#: Coder value of an adjudicated label (docs/data-contract.md).
GOLD = "gold"
#: Fewest accounts with two or more readings before error rates are estimated.
MIN_MULTI_CODED = 20
#: Smallest eigenvalue of the observed information (per coded account) below which
#: a direction of the parameters is treated as not identified.
MIN_CURVATURE = 1e-4


@dataclass(frozen=True)
class CoderModel:
    """A fitted latent-class model of the coded labels.

    Attributes
    ----------
    strata
        Stratum names, in the order of ``prevalence``.
    prevalence
        Estimated share of supporters among the coded accounts of each stratum.
    coders
        Coder (or ``coder@group``) names, in the order of ``confusion``.
    confusion
        ``(n_coders, 2, 3)``: ``confusion[j, z, l]`` = P(label ``l`` | class ``z``),
        rows ``CLASSES``, columns ``LABELS``.
    loglik
        Log-likelihood at the estimate.
    n_iter, converged
        EM iterations and whether the tolerance was reached.
    n_accounts, n_multi
        Coded accounts, and accounts with two or more readings (gold included).
    identified
        Whether the error rates are identified by these data.
    reasons
        Why not, when ``identified`` is false (or warnings about the fit).
    posterior
        P(supporter | labels) of each coded account (``account_id``, ``stratum``,
        ``p``).
    """

    strata: tuple[str, ...]
    prevalence: np.ndarray
    coders: tuple[str, ...]
    confusion: np.ndarray
    loglik: float
    n_iter: int
    converged: bool
    n_accounts: int
    n_multi: int
    identified: bool
    reasons: tuple[str, ...] = ()
    posterior: pl.DataFrame = field(default_factory=pl.DataFrame, compare=False)

    def sensitivity(self, coder: str) -> float:
        """P(``supporter`` label | supporter) of ``coder``."""
        return float(self.confusion[self.coders.index(coder), 1, 0])

    def specificity(self, coder: str) -> float:
        """P(``non_supporter`` label | not a supporter) of ``coder``."""
        return float(self.confusion[self.coders.index(coder), 0, 1])

    def unclear(self, coder: str) -> tuple[float, float]:
        """P(``unclear``) of ``coder`` for non-supporters and supporters."""
        j = self.coders.index(coder)
        return float(self.confusion[j, 0, 2]), float(self.confusion[j, 1, 2])

    def total(self, sizes: Mapping[str, float]) -> float:
        """Supporters in the frame: ``sum_h N_h pi_h`` over the model's strata."""
        return float(sum(sizes[s] * p for s, p in zip(self.strata, self.prevalence,
                                                       strict=True)))


@dataclass(frozen=True)
class _Data:
    """Coded labels as integer arrays (one row per reading)."""

    acc: np.ndarray  # account index of each reading
    coder: np.ndarray  # coder (group) index of each reading; -1 = gold
    label: np.ndarray  # label index of each reading
    stratum: np.ndarray  # stratum index of each account
    accounts: np.ndarray  # account ids
    strata: tuple[str, ...]
    coders: tuple[str, ...]


def _prepare(codes: pl.DataFrame, groups: Mapping[str, str] | None,
             gold: str | None) -> _Data:
    need = {"account_id", "stratum", "coder", "label"}
    missing = need - set(codes.columns)
    if missing:
        raise ValueError(f"coded labels need columns {sorted(need)}; missing "
                         f"{sorted(missing)}")
    df = codes.select("account_id", "stratum", "coder", "label").filter(
        pl.col("label").is_in(LABELS))
    df = df.unique(subset=["account_id", "coder"], keep="first", maintain_order=True)
    accounts, acc = np.unique(df["account_id"].to_numpy(), return_inverse=True)
    strat_of = (df.group_by("account_id").agg(pl.col("stratum").first())
                .sort("account_id"))
    strata, s_idx = np.unique(strat_of["stratum"].to_numpy().astype(str),
                              return_inverse=True)
    coder = df["coder"].to_numpy().astype(str)
    is_gold = coder == gold if gold is not None else np.zeros(len(coder), bool)
    if groups:
        grp = np.asarray([groups.get(s, "all") for s in df["stratum"].to_list()])
        name = np.char.add(np.char.add(coder, "@"), grp.astype(str))
    else:
        name = coder
    names = tuple(sorted(set(name[~is_gold].tolist())))
    c_idx = np.full(len(name), -1, dtype=np.int64)
    lookup = {n: i for i, n in enumerate(names)}
    c_idx[~is_gold] = [lookup[x] for x in name[~is_gold]]
    lab = df["label"].replace_strict(
        {x: i for i, x in enumerate(LABELS)}, return_dtype=pl.Int64
    ).to_numpy()
    return _Data(acc.astype(np.int64), c_idx, lab.astype(np.int64),
                 s_idx.astype(np.int64), accounts, tuple(strata.tolist()), names)


def _loglik_terms(d: _Data, prev: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """``log P(Z = z) + sum_j log P(label_j | z)`` per account, shape (n, 2)."""
    n = len(d.accounts)
    ll = np.empty((n, 2))
    p = np.clip(prev[d.stratum], 1e-12, 1 - 1e-12)
    ll[:, 0] = np.log1p(-p)
    ll[:, 1] = np.log(p)
    coded = d.coder >= 0
    for z in (0, 1):
        lp = np.log(np.clip(conf[d.coder[coded], z, d.label[coded]], 1e-300, None))
        ll[:, z] += np.bincount(d.acc[coded], weights=lp, minlength=n)
    g = ~coded
    if g.any():
        # an adjudicated label is right: it rules out the other class
        sup = d.label[g] == 0
        non = d.label[g] == 1
        ll[d.acc[g][sup], 0] = -np.inf
        ll[d.acc[g][non], 1] = -np.inf
    return ll


def _loglik(d: _Data, prev: np.ndarray, conf: np.ndarray) -> float:
    ll = _loglik_terms(d, prev, conf)
    return float(np.logaddexp(ll[:, 0], ll[:, 1]).sum())


def _em(d: _Data, prev: np.ndarray, conf: np.ndarray, *, max_iter: int,
        tol: float) -> tuple[np.ndarray, np.ndarray, float, int, bool, np.ndarray]:
    n_s, n_c = len(d.strata), len(d.coders)
    old = -np.inf
    coded = d.coder >= 0
    ns = np.bincount(d.stratum, minlength=n_s).astype(float)
    for it in range(1, max_iter + 1):
        ll = _loglik_terms(d, prev, conf)
        norm = np.logaddexp(ll[:, 0], ll[:, 1])
        w1 = np.exp(ll[:, 1] - norm)
        total = float(norm.sum())
        prev = np.bincount(d.stratum, weights=w1, minlength=n_s) / ns
        w = np.stack([1 - w1, w1], axis=1)
        conf = np.empty((n_c, 2, len(LABELS)))
        for z in (0, 1):
            wz = w[d.acc[coded], z]
            key = d.coder[coded] * len(LABELS) + d.label[coded]
            num = np.bincount(key, weights=wz, minlength=n_c * len(LABELS))
            num = num.reshape(n_c, len(LABELS))
            den = num.sum(axis=1, keepdims=True)
            conf[:, z, :] = np.where(den > 0, num / np.where(den > 0, den, 1), 1 / 3)
        if abs(total - old) < tol * max(1.0, abs(total)):
            return prev, conf, _loglik(d, prev, conf), it, True, w1
        old = total
    return prev, conf, _loglik(d, prev, conf), max_iter, False, w1


def _pack(prev: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Free parameters on the logit / log-ratio scale."""
    eps = 1e-9
    p = np.clip(prev, eps, 1 - eps)
    c = np.clip(conf, eps, None)
    ratios = np.log(c[:, :, 1:] / c[:, :, :1])
    return np.concatenate([np.log(p / (1 - p)), ratios.ravel()])


def _unpack(theta: np.ndarray, n_s: int, n_c: int) -> tuple[np.ndarray, np.ndarray]:
    prev = 1 / (1 + np.exp(-theta[:n_s]))
    r = theta[n_s:].reshape(n_c, 2, len(LABELS) - 1)
    e = np.concatenate([np.zeros((n_c, 2, 1)), r], axis=2)
    e = np.exp(e - e.max(axis=2, keepdims=True))
    return prev, e / e.sum(axis=2, keepdims=True)


def _curvature(d: _Data, prev: np.ndarray, conf: np.ndarray) -> float:
    """Smallest eigenvalue of the observed information per account.

    Numerical second differences of the log-likelihood over the free parameters
    (logits of the prevalences, log-ratios of the confusion rows); parameters at a
    boundary (a share of 0 or 1) are held fixed.
    """
    n_s, n_c = len(d.strata), len(d.coders)
    theta = _pack(prev, conf)
    free = np.abs(theta) < 12
    idx = np.flatnonzero(free)
    k = len(idx)
    if k == 0:
        return float("inf")
    h = 1e-3
    f0 = _loglik(d, *_unpack(theta, n_s, n_c))
    hess = np.empty((k, k))

    def f(delta: dict[int, float]) -> float:
        t = theta.copy()
        for i, v in delta.items():
            t[i] += v
        return _loglik(d, *_unpack(t, n_s, n_c))

    for a in range(k):
        ia = idx[a]
        fp, fm = f({ia: h}), f({ia: -h})
        hess[a, a] = (fp - 2 * f0 + fm) / h**2
        for b in range(a):
            ib = idx[b]
            v = (f({ia: h, ib: h}) - f({ia: h, ib: -h}) - f({ia: -h, ib: h})
                 + f({ia: -h, ib: -h})) / (4 * h * h)
            hess[a, b] = hess[b, a] = v
    info = -hess / max(len(d.accounts), 1)
    return float(np.linalg.eigvalsh(info).min())


def fit_coder_model(codes: pl.DataFrame, *, groups: Mapping[str, str] | None = None,
                    gold: str | None = GOLD, max_iter: int = 2000,
                    tol: float = 1e-10, start: CoderModel | None = None,
                    check: bool = True) -> CoderModel:
    """Fit the latent-class model of the coded labels by EM.

    Parameters
    ----------
    codes
        One row per reading: ``account_id``, ``stratum``, ``coder``, ``label``.
        Labels outside ``supporter / non_supporter / unclear`` are ignored.
    groups
        Optional ``{stratum: group}``: error rates are estimated per coder and group
        (e.g. per snowball level) instead of per coder.
    gold
        Coder value of adjudicated labels (taken as correct); ``None`` treats every
        coder alike.
    max_iter, tol
        EM stopping rule (relative change of the log-likelihood).
    start
        A fit to start from (same strata and coders), e.g. in a bootstrap.
    check
        Compute the identification diagnostics (the observed information).

    Returns
    -------
    CoderModel

    Notes
    -----
    EM starts from sensitivity 0.8 and specificity 0.9 for every coder (so it finds
    the solution in which coders are better than chance, not its label-switched
    twin) and from the shares of ``supporter`` labels per stratum.
    """
    d = _prepare(codes, groups, gold)
    n_s, n_c = len(d.strata), len(d.coders)
    if start is not None and start.strata == d.strata and start.coders == d.coders:
        prev, conf = start.prevalence.copy(), start.confusion.copy()
    else:
        first = np.zeros(len(d.accounts))
        np.maximum.at(first, d.acc, (d.label == 0).astype(float))
        ns = np.bincount(d.stratum, minlength=n_s)
        prev = np.clip(np.bincount(d.stratum, weights=first, minlength=n_s)
                       / np.maximum(ns, 1), 0.02, 0.98)
        conf = np.empty((n_c, 2, len(LABELS)))
        conf[:, 1, :] = (0.8, 0.15, 0.05)
        conf[:, 0, :] = (0.08, 0.9, 0.02)
    prev, conf, ll, it, ok, w1 = _em(d, prev, conf, max_iter=max_iter, tol=tol)
    reasons: list[str] = []
    multi = np.bincount(d.acc, minlength=len(d.accounts)) >= 2
    n_multi = int(multi.sum())
    identified = True
    if not ok:
        reasons.append(f"EM did not converge in {max_iter} iterations")
    if n_multi < MIN_MULTI_CODED:
        identified = False
        reasons.append(f"only {n_multi} account(s) were coded twice or adjudicated "
                       f"(at least {MIN_MULTI_CODED} are needed to estimate coder "
                       "error)")
    for j, name in enumerate(d.coders):
        if conf[j, 1, 0] + conf[j, 0, 1] <= 1.0:
            identified = False
            reasons.append(f"coder {name} is estimated no better than chance "
                           "(sensitivity + specificity <= 1)")
    if check and identified:
        curv = _curvature(d, prev, conf)
        if not np.isfinite(curv) or curv < MIN_CURVATURE:
            identified = False
            reasons.append(
                "the log-likelihood is flat in some direction (smallest curvature "
                f"{curv:.2g} per account): error rates and supporter shares cannot "
                "be told apart, e.g. because strata of the multiply coded accounts "
                "have about the same supporter share")
    post = pl.DataFrame({
        "account_id": d.accounts,
        "stratum": np.asarray(d.strata, dtype=object)[d.stratum].astype(str),
        "p": w1,
    })
    return CoderModel(d.strata, prev, d.coders, conf, ll, it, ok, len(d.accounts),
                      n_multi, identified, tuple(reasons), post)


def bootstrap_totals(codes: pl.DataFrame, sizes: Mapping[str, float],
                     fit: CoderModel, *, reps: int, seed: int,
                     groups: Mapping[str, str] | None = None,
                     gold: str | None = GOLD,
                     full: Sequence[str] = ()) -> np.ndarray:
    """Totals ``sum_h N_h pi_h`` refitted on bootstrap samples of coded accounts.

    Accounts are resampled with replacement within their stratum (all readings of
    an account together) and the model is refitted from ``fit``; strata named in
    ``full`` were coded completely and are kept as they are (no sampling error).
    """
    rng = np.random.default_rng(seed)
    acc = codes.select("account_id", "stratum").unique(subset=["account_id"],
                                                       maintain_order=True)
    by = {s: g["account_id"].to_numpy()
          for (s,), g in acc.group_by("stratum", maintain_order=True)}
    rows = codes.sort("account_id")
    ids = rows["account_id"].to_numpy()
    starts = np.searchsorted(ids, np.unique(ids))
    first = dict(zip(np.unique(ids).tolist(), starts.tolist(), strict=True))
    counts = dict(zip(np.unique(ids).tolist(),
                      np.diff(np.append(starts, len(ids))).tolist(), strict=True))
    out = np.empty(reps)
    for r in range(reps):
        take: list[np.ndarray] = []
        new_ids: list[np.ndarray] = []
        k = 0
        for s, members in by.items():
            pick = members if s in full else rng.choice(members, len(members))
            for a in pick.tolist():
                i0, m = first[a], counts[a]
                take.append(np.arange(i0, i0 + m))
                new_ids.append(np.full(m, k))
                k += 1
        sel = rows[np.concatenate(take)].with_columns(
            account_id=pl.Series(np.concatenate(new_ids)))
        m = fit_coder_model(sel, groups=groups, gold=gold, start=fit, check=False,
                            tol=1e-8)
        out[r] = m.total(sizes)
    return out


@dataclass(frozen=True)
class Priors:
    """Prior distributions of the Bayesian latent-class model.

    Attributes
    ----------
    prevalence
        ``Beta(a, b)`` of each stratum's supporter share (Jeffreys by default).
    error
        ``Beta(a, b)`` of each coder's chance of a wrong clear label (a supporter
        read as ``non_supporter``, or the reverse), truncated to ``(0, 0.5)``: a
        coder is better than chance. The default, ``Beta(1, 5)``, weighs as much as
        six readings and has its mean near 17%.
    unclear
        ``Beta(a, b)`` of each coder's chance of an ``unclear`` label, per class.
    """

    prevalence: tuple[float, float] = (0.5, 0.5)
    error: tuple[float, float] = (1.0, 5.0)
    unclear: tuple[float, float] = (0.5, 0.5)


@dataclass(frozen=True)
class CoderPosterior:
    """Posterior draws of the latent-class model and of the frame total.

    Attributes
    ----------
    strata, coders
        Names, in the order of the draws' columns (``coders`` are ``coder`` or
        ``coder@group``; an adjudicated coder is not among them).
    sizes
        Accounts in each stratum (``N_h``).
    totals
        Draws of the number of supporters in the strata: coded accounts' classes
        plus a binomial draw for the accounts not coded (finite population).
    stratum_totals, prevalence
        Draws per stratum: supporters, and the supporter share.
    sensitivity, specificity
        Draws per coder: P(``supporter`` | supporter) and P(``non_supporter`` |
        not a supporter) (an ``unclear`` label is neither).
    unclear
        Draws per coder and class of P(``unclear``) (columns: not a supporter,
        supporter).
    n_accounts, n_multi, n_gold
        Coded accounts, accounts read two or more times (adjudication included),
        and adjudicated accounts.
    priors
        The priors used.
    """

    strata: tuple[str, ...]
    coders: tuple[str, ...]
    sizes: np.ndarray
    totals: np.ndarray
    stratum_totals: np.ndarray
    prevalence: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    unclear: np.ndarray
    n_accounts: int
    n_multi: int
    n_gold: int
    priors: Priors

    @property
    def false_positive(self) -> np.ndarray:
        """Draws per coder of P(``supporter`` | not a supporter).

        ``1 - specificity - unclear`` of the non-supporters: the rate at which a
        coder's supporter labels count accounts that are not supporters.
        """
        return 1.0 - self.specificity - self.unclear[:, :, 0]

    def interval(self, draws: np.ndarray, level: float = 0.95
                 ) -> tuple[float, float, float]:
        """Posterior median and equal-tailed ``level`` interval of ``draws``."""
        a = (1 - level) / 2
        lo, med, hi = np.quantile(draws, [a, 0.5, 1 - a], axis=0)
        return float(med), float(lo), float(hi)

    def total(self, level: float = 0.95) -> tuple[float, float, float]:
        """Median and interval of the number of supporters in the strata."""
        return self.interval(self.totals, level)


def _truncated_beta(rng: np.random.Generator, a: np.ndarray, b: np.ndarray,
                    upper: float) -> np.ndarray:
    """Draws of ``Beta(a, b)`` truncated to ``(0, upper)`` by inversion."""
    from scipy import stats

    top = stats.beta.cdf(upper, a, b)
    u = rng.random(np.shape(a)) * top
    x = stats.beta.ppf(np.maximum(u, 1e-300), a, b)
    return np.clip(np.nan_to_num(x, nan=upper / 2), 1e-9, upper - 1e-9)


def sample_posterior(codes: pl.DataFrame, sizes: Mapping[str, float], *,
                     groups: Mapping[str, str] | None = None,
                     gold: str | None = GOLD, draws: int = 2000, burn: int = 500,
                     seed: int = 0, priors: Priors | None = None) -> CoderPosterior:
    """Draw from the posterior of the latent-class model by Gibbs sampling.

    Parameters
    ----------
    codes
        One row per reading: ``account_id``, ``stratum``, ``coder``, ``label``.
    sizes
        ``{stratum: N_h}``: accounts in each stratum of the frame (every stratum of
        ``codes`` needs one).
    groups
        Optional ``{stratum: group}``: error rates per coder and group.
    gold
        Coder value of adjudicated labels (taken as correct).
    draws, burn
        Draws kept, and draws discarded first.
    seed
        Seed of the sampler.
    priors
        :class:`Priors` (defaults documented there).

    Returns
    -------
    CoderPosterior

    Notes
    -----
    The model is the one of :func:`fit_coder_model`, written per coder as
    P(``unclear`` | class) and, given a clear label, the chance of the wrong one;
    data augmentation of each account's class makes every update conjugate
    (Albert & Chib 1993 for the augmentation; Joseph, Gyorkos & Coupal 1995 for
    the Bayesian treatment of tests without a gold standard). The accounts of a
    stratum that were not coded enter through a binomial draw with the stratum's
    share, so a fully coded stratum contributes its coded classes only.
    """
    pri = priors or Priors()
    d = _prepare(codes, groups, gold)
    missing = [s for s in d.strata if s not in sizes]
    if missing:
        raise ValueError(f"no stratum size for {missing}")
    rng = np.random.default_rng(seed)
    n_s, n_c, n = len(d.strata), len(d.coders), len(d.accounts)
    big_n = np.array([float(sizes[s]) for s in d.strata])
    ns = np.bincount(d.stratum, minlength=n_s).astype(float)
    rest = np.maximum(np.round(big_n - ns), 0).astype(np.int64)
    coded = d.coder >= 0
    ra, rc, rl = d.acc[coded], d.coder[coded], d.label[coded]
    is_unc = rl == 2
    g = ~coded
    gold_sup = d.acc[g][d.label[g] == 0]
    gold_non = d.acc[g][d.label[g] == 1]
    n_gold = len(np.unique(d.acc[g]))
    # start: EM-like guesses (coders fairly good, shares of supporter labels)
    first = np.zeros(n)
    np.maximum.at(first, ra, (rl == 0).astype(float))
    prev = np.clip(np.bincount(d.stratum, weights=first, minlength=n_s)
                   / np.maximum(ns, 1), 0.02, 0.98)
    unc = np.full((n_c, 2), 0.03)
    err = np.full((n_c, 2), 0.1)  # [:, 0] false supporter, [:, 1] missed supporter
    keep = np.arange(burn, burn + draws)
    out_t = np.empty(draws)
    out_th = np.empty((draws, n_s))
    out_p = np.empty((draws, n_s))
    out_se = np.empty((draws, n_c))
    out_sp = np.empty((draws, n_c))
    out_u = np.empty((draws, n_c, 2))
    a_p, b_p = pri.prevalence
    a_e, b_e = pri.error
    a_u, b_u = pri.unclear
    for it in range(burn + draws):
        # P(label | class) per coder: columns supporter, non_supporter, unclear
        conf = np.empty((n_c, 2, 3))
        conf[:, :, 2] = unc
        conf[:, 1, 0] = (1 - unc[:, 1]) * (1 - err[:, 1])
        conf[:, 1, 1] = (1 - unc[:, 1]) * err[:, 1]
        conf[:, 0, 1] = (1 - unc[:, 0]) * (1 - err[:, 0])
        conf[:, 0, 0] = (1 - unc[:, 0]) * err[:, 0]
        lr = np.log(conf[rc, 1, rl]) - np.log(conf[rc, 0, rl])
        logit = (np.log(prev[d.stratum]) - np.log1p(-prev[d.stratum])
                 + np.bincount(ra, weights=lr, minlength=n))
        p1 = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        p1[gold_sup] = 1.0
        p1[gold_non] = 0.0
        z = rng.random(n) < p1
        k = np.bincount(d.stratum, weights=z, minlength=n_s)
        prev = np.clip(rng.beta(a_p + k, b_p + ns - k), 1e-12, 1 - 1e-12)
        zr = z[ra].astype(np.int64)
        cell = rc * 2 + zr
        k_all = np.bincount(cell, minlength=2 * n_c).reshape(n_c, 2)
        k_unc = np.bincount(cell[is_unc], minlength=2 * n_c).reshape(n_c, 2)
        unc = rng.beta(a_u + k_unc, b_u + k_all - k_unc)
        clear = ~is_unc
        wrong = clear & (rl == zr)  # label 0 is "supporter", class 1 is one
        k_clear = k_all - k_unc
        k_wrong = np.bincount(cell[wrong], minlength=2 * n_c).reshape(n_c, 2)
        err = _truncated_beta(rng, a_e + k_wrong, b_e + k_clear - k_wrong, 0.5)
        if it >= burn:
            i = it - burn
            th = k + rng.binomial(rest, prev)
            out_t[i] = th.sum()
            out_th[i] = th
            out_p[i] = prev
            out_se[i] = conf[:, 1, 0]
            out_sp[i] = conf[:, 0, 1]
            out_u[i] = unc
    del keep
    multi = np.bincount(d.acc, minlength=n) >= 2
    return CoderPosterior(d.strata, d.coders, big_n, out_t, out_th, out_p, out_se,
                          out_sp, out_u, n, int(multi.sum()), n_gold, pri)
