"""Bayesian latent-class multiple-systems estimation (the model of R's LCMCR).

Units belong to latent classes; within a class the ``K`` lists capture a unit
independently, list ``j`` with probability ``lambda[j, k]`` in class ``k``. Mixing
over classes lets catchability vary between units and makes lists dependent in the
population, which biases the log-linear independence model (Manrique-Vallier 2016).

The model (Manrique-Vallier 2016):

* class weights ``pi`` from a stick-breaking (Dirichlet process) prior truncated at
  ``K*`` classes: ``V_k ~ Beta(1, alpha)``, ``V_K* = 1``,
  ``pi_k = V_k prod_{l<k} (1 - V_l)``; concentration ``alpha ~ Gamma(a, b)``
  (shape ``a``, rate ``b``; ``a = b = 0.25`` are the defaults of ``lcmCR`` in
  LCMCR 0.4.14);
* ``lambda[j, k] ~ Beta(1, 1)``;
* the improper prior ``p(N) ∝ 1/N``.

The Gibbs sampler uses the paper's data augmentation: the class labels of the
observed units, the number ``n0`` of unobserved units (given the probability
``p0 = sum_k pi_k prod_j (1 - lambda[j, k])`` of being missed by every list,
``n0 ~ NegativeBinomial(n, 1 - p0)``), the classes of the unobserved units, then
conjugate updates of ``lambda``, the sticks and ``alpha`` (Escobar & West 1995).
Units with the same capture pattern are exchangeable, so the labels are drawn per
*pattern*: the units of pattern ``x`` are split over the classes by one multinomial
draw of its count. One iteration costs ``O(2**K K*)`` whatever the number of units.

Chains start from independent draws of the prior, seeded by
:class:`numpy.random.SeedSequence` children of ``seed``. Convergence of ``N`` is
checked with the rank-normalised split R-hat (the larger of the bulk and
folded-tail values) and the bulk effective sample size of Vehtari, Gelman, Simpson,
Carpenter & Bürkner (2021); their recommendations are used as thresholds: R-hat at
most 1.01 and a bulk ESS of at least 400. Both are computed on ranks, so they are
the same for ``N`` and ``log N``.

The sampler mixes slowly: class allocations and capture probabilities are nearly
determined by each other, so autocorrelation times of ``N`` of hundreds of
iterations are common (Kosovo, 4 lists: about 400) and grow with the number of
units. LCMCR's own examples thin by 100 after 10,000 burn-in iterations. The
defaults here (4 chains of 2,000 + 1,000 x 10 iterations) suit a first look;
read ``converged`` and ``warnings`` and lengthen the run when they say so.

References
----------
Manrique-Vallier, D. (2016). Bayesian population size estimation using Dirichlet
process mixtures. *Biometrics* 72, 1246-1254.
Ishwaran, H. & James, L. F. (2001). Gibbs sampling methods for stick-breaking priors.
*J. Amer. Statist. Assoc.* 96, 161-173.
Escobar, M. D. & West, M. (1995). Bayesian density estimation and inference using
mixtures. *J. Amer. Statist. Assoc.* 90, 577-588.
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC. *Bayesian Analysis* 16, 667-718.
Geyer, C. J. (1992). Practical Markov chain Monte Carlo. *Statist. Sci.* 7, 473-483.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
from scipy.stats import norm, rankdata

from measure._results import Estimate
from measure.capture._loglinear import cell_matrix
from measure.errors import ConfigError, EstimationError

#: Vehtari et al. (2021): R-hat above this means the chains disagree.
RHAT_MAX = 1.01
#: Vehtari et al. (2021): at least this bulk ESS (for four chains) before trusting
#: posterior quantiles.
ESS_MIN = 400.0
#: Lists supported: ``2**K - 1`` observable patterns.
MAX_LISTS = 16
#: Above this many unobserved units a draw is capped (the data do not bound N).
N0_CAP = 1e15

TERM = "N_latent_class"
METHOD = (
    "Bayesian non-parametric latent-class model (Manrique-Vallier 2016, "
    "Biometrics 72:1246-1254; the model of R's LCMCR): truncated "
    "stick-breaking mixture of independent-list classes, p(N) ∝ 1/N; "
    "posterior median and equal-tailed credible interval"
)
ASSUMPTIONS = (
    "closed population: the lists refer to the same population at the same time",
    "units are matched across lists without error",
    "within a latent class the lists capture units independently "
    "(local independence); all dependence between lists comes from "
    "heterogeneous catchability across classes",
    "the unobserved cell is an extrapolation from the fitted mixture and the "
    "priors (p(N) ∝ 1/N, lambda ~ Beta(1, 1), alpha ~ Gamma(a, b))",
)


@dataclass(frozen=True)
class LatentClassSettings:
    """Settings of the Gibbs sampler.

    Attributes
    ----------
    classes
        Truncation level ``K*`` of the stick-breaking prior (LCMCR's ``K``: its
        examples use 10, the ``lcmCR`` default is 5).
    draws
        Draws of ``N`` kept per chain (after thinning).
    burn
        Iterations discarded at the start of each chain.
    thin
        Keep one iteration in ``thin``.
    chains
        Independent chains (at least 2 for R-hat to compare chains).
    alpha_prior
        Shape and rate ``(a, b)`` of the Gamma prior on the concentration
        ``alpha`` (LCMCR's ``a_alpha``, ``b_alpha``; defaults 0.25, 0.25).
    seed
        Seed of the chains' :class:`numpy.random.SeedSequence`.
    workers
        Processes running chains in parallel (1: in this process). The draws do
        not depend on it: each chain has its own seed.
    """

    classes: int = 10
    draws: int = 1000
    burn: int = 2000
    thin: int = 10
    chains: int = 4
    alpha_prior: tuple[float, float] = (0.25, 0.25)
    seed: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        for name, low in (("classes", 1), ("draws", 1), ("thin", 1), ("chains", 1),
                          ("burn", 0), ("workers", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
                raise ConfigError(
                    f"invalid value {v!r} for setting '{name}'; give an integer "
                    f">= {low}"
                )
        a = tuple(self.alpha_prior)
        if len(a) != 2 or not all(
            isinstance(x, int | float) and math.isfinite(x) and x > 0 for x in a
        ):
            raise ConfigError(
                f"invalid value {self.alpha_prior!r} for setting 'alpha_prior'; give "
                "(shape, rate) of the Gamma prior, both positive, e.g. (0.25, 0.25)"
            )
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ConfigError(
                f"invalid value {self.seed!r} for setting 'seed'; give a "
                "non-negative integer"
            )


@dataclass(frozen=True)
class LatentClassFit:
    """Posterior of ``N`` under the latent-class model, with diagnostics.

    Attributes
    ----------
    estimate
        Posterior median of ``N``.
    ci
        Equal-tailed credible interval at ``level``.
    level
        Credible level of ``ci``.
    draws_N
        Draws of ``N``, shape ``(chains, draws)``.
    rhat
        Rank-normalised split R-hat of ``N`` (larger of bulk and folded tail;
        Vehtari et al. 2021); ``nan`` with fewer than 4 draws per chain.
    ess
        Bulk effective sample size of ``N`` (Vehtari et al. 2021).
    converged
        ``rhat <= 1.01`` and ``ess >= 400``.
    warnings
        Convergence and other diagnostics, as sentences.
    settings
        The sampler settings used.
    n
        Units observed.
    """

    estimate: float
    ci: tuple[float, float]
    level: float
    draws_N: np.ndarray = field(repr=False, compare=False)
    rhat: float
    ess: float
    converged: bool
    warnings: tuple[str, ...]
    settings: LatentClassSettings
    n: int = 0

    @property
    def std(self) -> float:
        """Posterior standard deviation of ``N``."""
        if self.draws_N.size < 2:
            return math.nan
        return float(np.std(self.draws_N, ddof=1))

    @property
    def mcse_median(self) -> float:
        """Monte Carlo standard error of the posterior median (normal approximation).

        ``sqrt(pi / 2) * sd / sqrt(ess)``: the large-sample variance of a sample
        median of a normal posterior, with ``ess`` in place of the number of draws.
        """
        if not self.ess > 0:
            return math.nan
        return math.sqrt(math.pi / 2) * self.std / math.sqrt(self.ess)


# ------------------------------------------------------------------- validation
def _check_counts(y: Sequence[float] | np.ndarray, k_lists: int | None) -> np.ndarray:
    """Return ``y`` as int64 after checking shape and values."""
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1 or arr.size < 3:
        raise EstimationError(
            f"pattern counts must be a 1-D array of 2**K - 1 counts (K >= 2 lists) "
            f"in mask order; got shape {arr.shape}"
        )
    if k_lists is None:
        k = int(round(math.log2(arr.size + 1)))
        if 2**k - 1 != arr.size:
            raise EstimationError(
                f"{arr.size} pattern counts is not 2**K - 1 for any number of lists "
                "K; give one count per observable pattern in mask order"
            )
    else:
        k = k_lists
        if arr.size != 2**k - 1:
            raise EstimationError(
                f"pattern counts must be {2**k - 1} numbers for {k} sources; got "
                f"{arr.size}"
            )
    if k > MAX_LISTS:
        raise EstimationError(
            f"{k} lists give {2**k - 1} capture patterns; at most {MAX_LISTS} lists "
            "are supported: merge similar lists"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise EstimationError(
            "pattern counts must be finite and non-negative; got "
            f"{arr[~np.isfinite(arr) | (arr < 0)][:3].tolist()}"
        )
    if np.any(arr != np.round(arr)):
        raise EstimationError(
            "pattern counts must be whole numbers of units; got "
            f"{arr[arr != np.round(arr)][:3].tolist()}"
        )
    if arr.sum() == 0:
        raise EstimationError("no unit was detected by any list; nothing to estimate")
    return arr.astype(np.int64)


def _check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise ConfigError(
            f"invalid value {level!r} for option 'level'; give a credible level "
            "between 0 and 1, e.g. 0.95"
        )


# ---------------------------------------------------------------------- sampler
def _log_gamma_draw(rng: np.random.Generator, shape: np.ndarray) -> np.ndarray:
    """``log`` of Gamma(shape, 1) draws, accurate for shapes near zero.

    ``G(a) = G(a + 1) U**(1/a)`` in distribution, so ``log G(a)`` never underflows
    to ``-inf`` the way a direct draw with a tiny shape does.
    """
    shape = np.asarray(shape, dtype=float)
    u = 1.0 - rng.random(shape.shape)  # in (0, 1]
    return np.log(rng.gamma(shape + 1.0)) + np.log(u) / shape


def _run_chain(
    w: np.ndarray,
    y: np.ndarray,
    settings: LatentClassSettings,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Run one chain; return the kept draws of ``N`` and the number of capped draws.

    ``w`` is the 0/1 matrix of the observed patterns with a non-zero count and
    ``y`` their counts.
    """
    k_lists = w.shape[1]
    n_cls = settings.classes
    kc = k_lists * n_cls
    a_alpha, b_alpha = (float(v) for v in settings.alpha_prior)
    n = int(y.sum())
    wt = np.ascontiguousarray(w.T.astype(np.int64))
    # Gamma shapes of one iteration, drawn in one call: captures + 1 and misses + 1
    # per list and class (lambda), then 1 + n_k and alpha + sum_{l>k} n_l + 1 for
    # the first K* - 1 sticks (the second with the small-shape trick of
    # ``_log_gamma_draw``).
    shapes = np.empty(2 * kc + 2 * (n_cls - 1))
    sticks = slice(2 * kc, 2 * kc + n_cls - 1)
    sticks_b = slice(2 * kc + n_cls - 1, None)

    # Start from the prior: lambda ~ Beta(1, 1), sticks ~ Beta(1, alpha).
    alpha = float(rng.gamma(a_alpha, 1.0 / b_alpha))
    g = rng.standard_gamma(np.ones(2 * kc)).reshape(2, k_lists, n_cls)
    lg = np.log(g[0] + g[1])
    log_lam = np.log(g[0]) - lg
    log_1mlam = np.log(g[1]) - lg
    log_pi = _stick_log_weights(rng, np.zeros(n_cls), alpha)[0]

    total = settings.burn + settings.draws * settings.thin
    out = np.empty(settings.draws, dtype=float)
    kept = 0
    capped = 0
    for it in range(total):
        # 1. classes of the observed units, one multinomial per pattern
        miss = log_1mlam.sum(axis=0)  # log P(missed by every list | class)
        logits = w @ (log_lam - log_1mlam) + (miss + log_pi)
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        counts = rng.multinomial(y, prob)  # (patterns, classes)

        # 2. number of unobserved units: NegBin(n, 1 - p0) as a Gamma-Poisson mix
        log_q = log_pi + miss
        top = log_q.max()
        q = np.exp(log_q - top)
        sq = q.sum()
        log_p0 = float(top + math.log(sq))
        p_seen = -math.expm1(log_p0)
        lam = math.inf
        if p_seen > 0:
            lam = rng.standard_gamma(n) * math.exp(log_p0) / p_seen
        if lam < 1e12:
            n0 = int(rng.poisson(lam))
        elif lam < N0_CAP:
            n0 = int(round(lam + math.sqrt(lam) * rng.standard_normal()))
        else:
            n0 = int(N0_CAP)
            capped += 1

        # 3. classes of the unobserved units
        c0 = rng.multinomial(n0, q / sq)
        n_k = counts.sum(axis=0) + c0
        s = wt @ counts  # captures per list and class (unobserved units add none)

        # 4.-5. capture probabilities (Beta(1 + captures, 1 + misses) per list and
        # class) and sticks (Beta(1 + n_k, alpha + sum_{l>k} n_l); Ishwaran &
        # James 2001), as ratios of Gamma draws on the log scale
        shapes[:kc] = 1.0 + s.ravel()
        shapes[kc:2 * kc] = (1.0 + (n_k - s)).ravel()
        if n_cls > 1:
            shapes[sticks] = 1.0 + n_k[:-1]
            shapes[sticks_b] = 1.0 + alpha + np.cumsum(n_k[:0:-1])[::-1]
        g = rng.standard_gamma(shapes)
        lg1 = np.log(g[:kc])
        lg2 = np.log(g[kc:2 * kc])
        lsum = np.logaddexp(lg1, lg2)
        log_lam = (lg1 - lsum).reshape(k_lists, n_cls)
        log_1mlam = (lg2 - lsum).reshape(k_lists, n_cls)
        if n_cls > 1:
            la = np.log(g[sticks])
            lb = np.log(g[sticks_b]) + np.log(1.0 - rng.random(n_cls - 1)) / (
                shapes[sticks_b] - 1.0
            )
            lse = np.logaddexp(la, lb)
            log_1mv = lb - lse
            log_pi = np.empty(n_cls)
            log_pi[:-1] = la - lse
            log_pi[-1] = 0.0
            log_pi[1:] += np.cumsum(log_1mv)
            # 6. concentration (Escobar & West 1995)
            alpha = float(
                rng.gamma(a_alpha + n_cls - 1, 1.0 / (b_alpha - log_1mv.sum()))
            )

        if it >= settings.burn and (it - settings.burn) % settings.thin == 0:
            out[kept] = n + n0
            kept += 1
    return out, capped


def _seeded_chain(
    w: np.ndarray,
    y: np.ndarray,
    settings: LatentClassSettings,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, int]:
    """Run one chain from its own seed (module-level, so worker processes can)."""
    return _run_chain(w, y, settings, np.random.default_rng(seed))


def _stick_log_weights(
    rng: np.random.Generator, n_k: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Draw the sticks given class sizes; return ``log pi`` and ``sum log(1 - V)``.

    ``V_k ~ Beta(1 + n_k, alpha + sum_{l>k} n_l)`` for ``k < K*``, ``V_K* = 1``
    (Ishwaran & James 2001), drawn as ratios of Gamma draws on the log scale.
    """
    n_cls = len(n_k)
    if n_cls == 1:
        return np.zeros(1), 0.0
    n_k = np.asarray(n_k, dtype=float)
    rest = np.cumsum(n_k[::-1])[::-1][1:]  # sum_{l>k} n_l, k = 0..K*-2
    la = _log_gamma_draw(rng, 1.0 + n_k[:-1])
    lb = _log_gamma_draw(rng, alpha + rest)
    lse = np.logaddexp(la, lb)
    log_v = la - lse
    log_1mv = lb - lse
    log_pi = np.empty(n_cls)
    log_pi[:-1] = log_v
    log_pi[-1] = 0.0
    log_pi[1:] += np.cumsum(log_1mv)
    return log_pi, float(log_1mv.sum())


# ------------------------------------------------------------------ diagnostics
def _split_chains(x: np.ndarray) -> np.ndarray:
    """Halve each chain (dropping the middle draw of an odd length)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    """Return normal scores of the pooled ranks (offset 3/8; Vehtari et al. 2021)."""
    r = rankdata(x, method="average").reshape(x.shape)
    return norm.ppf((r - 0.375) / (x.size + 0.25))


def _rhat_basic(x: np.ndarray) -> float:
    """Gelman-Rubin R-hat of chains in the rows of ``x``."""
    m, n = x.shape
    within = float(np.mean(np.var(x, axis=1, ddof=1)))
    between = n * float(np.var(np.mean(x, axis=1), ddof=1))
    if within <= 0:
        return math.nan
    var_plus = (n - 1) / n * within + between / n
    return math.sqrt(var_plus / within)


def _split_or_none(x: np.ndarray) -> np.ndarray | None:
    """Split chains of ``x`` (chains, draws); ``None`` if too short or constant."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] < 4:
        return None
    s = _split_chains(x)
    return None if np.ptp(s) == 0 else s


def split_rhat(x: np.ndarray) -> float:
    """Rank-normalised split R-hat: the larger of the bulk and folded-tail values.

    Parameters
    ----------
    x
        Draws, shape ``(chains, draws)``.

    Returns
    -------
    float
        ``nan`` with fewer than 4 draws per chain or constant draws.
    """
    s = _split_or_none(x)
    if s is None:
        return math.nan
    bulk = _rhat_basic(_rank_normalise(s))
    folded = np.abs(s - np.median(s))
    tail = _rhat_basic(_rank_normalise(folded)) if np.ptp(folded) > 0 else bulk
    return max(bulk, tail)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariances (divisor ``n``) of each row, by FFT."""
    n = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(xc, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def _ess_chains(x: np.ndarray) -> float:
    """Effective sample size of chains in the rows of ``x`` (Geyer 1992 truncation).

    Autocorrelations combine the within-chain autocovariances with the between-chain
    variance (Vehtari et al. 2021, eqs. 10-11); the sum of autocorrelation pairs is
    truncated at the first negative pair and made monotone (Geyer's initial monotone
    sequence).
    """
    m, n = x.shape
    acov = _autocovariance(x)
    chain_var = acov[:, 0] * n / (n - 1)
    mean_var = float(chain_var.mean())
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += float(np.var(x.mean(axis=1), ddof=1))
    if var_plus <= 0:
        return math.nan
    acov_mean = acov.mean(axis=0)
    rho = np.zeros(n)
    rho[0] = 1.0
    rho_even = 1.0
    rho_odd = 1.0 - (mean_var - acov_mean[1]) / var_plus
    rho[1] = rho_odd
    t = 1
    while t < n - 4 and rho_even + rho_odd > 0:
        rho_even = 1.0 - (mean_var - acov_mean[t + 1]) / var_plus
        rho_odd = 1.0 - (mean_var - acov_mean[t + 2]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    for t in range(1, max_t - 2, 2):
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2
            rho[t + 2] = rho[t + 1]
    total = m * n
    tau = -1.0 + 2.0 * float(rho[:max_t].sum()) + float(rho[max_t + 1])
    tau = max(tau, 1.0 / math.log10(total))
    return total / tau


def bulk_ess(x: np.ndarray) -> float:
    """Bulk effective sample size: ESS of the rank-normalised split chains.

    Parameters
    ----------
    x
        Draws, shape ``(chains, draws)``.

    Returns
    -------
    float
        ``nan`` with fewer than 4 draws per chain or constant draws.
    """
    s = _split_or_none(x)
    if s is None:
        return math.nan
    return _ess_chains(_rank_normalise(s))


def _diagnose(draws: np.ndarray, capped: int) -> tuple[float, float, bool, list[str]]:
    rhat = split_rhat(draws)
    ess = bulk_ess(draws)
    notes: list[str] = []
    if math.isnan(rhat) or math.isnan(ess):
        notes.append(
            "too few draws to check convergence (need at least 4 per chain); "
            "increase settings.draws"
        )
    else:
        if rhat > RHAT_MAX:
            notes.append(
                f"chains have not converged: split R-hat of N is {rhat:.3f} > "
                f"{RHAT_MAX} (Vehtari et al. 2021); increase settings.burn and "
                "settings.draws (or settings.thin)"
            )
        if ess < ESS_MIN:
            notes.append(
                f"bulk effective sample size of N is {ess:.0f} < {ESS_MIN:.0f} "
                "(Vehtari et al. 2021): quantiles are imprecise; increase "
                "settings.draws or settings.thin"
            )
    if draws.shape[0] < 2:
        notes.append(
            "a single chain cannot show disagreement between chains; use "
            "settings.chains >= 2"
        )
    if capped:
        notes.append(
            f"{capped} iterations drew more than {N0_CAP:.0e} unobserved units and "
            "were capped: the data do not bound N under this model"
        )
    converged = (
        not math.isnan(rhat) and not math.isnan(ess) and rhat <= RHAT_MAX
        and ess >= ESS_MIN and draws.shape[0] >= 2 and not capped
    )
    return rhat, ess, converged, notes


# --------------------------------------------------------------------- public API
def fit_latent_class(
    y: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
    settings: LatentClassSettings = LatentClassSettings(),  # noqa: B008
) -> LatentClassFit:
    """Sample the posterior of ``N`` under the latent-class model.

    Parameters
    ----------
    y
        The ``2**K - 1`` observable pattern counts in mask order: entry ``m - 1``
        counts the units whose set of lists has bit mask ``m`` (bit ``j`` = list
        ``j``; see :func:`measure.capture.cell_matrix`).
    level
        Credible level of the equal-tailed interval.
    settings
        Sampler settings.

    Returns
    -------
    LatentClassFit

    Raises
    ------
    EstimationError
        When ``y`` is not ``2**K - 1`` finite, non-negative whole numbers with a
        positive total.
    ConfigError
        When ``level`` is not in ``(0, 1)``.

    Examples
    --------
    >>> s = LatentClassSettings(seed=1, workers=2)
    >>> fit = fit_latent_class(y, settings=s)       # doctest: +SKIP
    >>> fit.estimate, fit.ci, fit.converged         # doctest: +SKIP
    """
    _check_level(level)
    if not isinstance(settings, LatentClassSettings):
        raise ConfigError(
            f"settings must be a LatentClassSettings; got {type(settings).__name__}"
        )
    counts = _check_counts(y, None)
    k_lists = int(round(math.log2(counts.size + 1)))
    w_all = cell_matrix(k_lists)
    keep = counts > 0
    w, yk = w_all[keep], counts[keep]
    children = np.random.SeedSequence(int(settings.seed)).spawn(settings.chains)
    workers = min(settings.workers, settings.chains)
    if workers > 1:
        # "spawn": a forked child could inherit locks held by other threads.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            runs = list(pool.map(_seeded_chain, repeat(w), repeat(yk),
                                 repeat(settings), children))
    else:
        runs = [_seeded_chain(w, yk, settings, c) for c in children]
    draws = np.vstack([r[0] for r in runs])
    capped = sum(r[1] for r in runs)
    rhat, ess, converged, notes = _diagnose(draws, capped)
    tail = (1.0 - level) / 2.0
    lo, med, hi = np.quantile(draws, [tail, 0.5, 1.0 - tail])
    return LatentClassFit(
        estimate=float(med),
        ci=(float(lo), float(hi)),
        level=float(level),
        draws_N=draws,
        rhat=float(rhat),
        ess=float(ess),
        converged=bool(converged),
        warnings=tuple(notes),
        settings=settings,
        n=int(counts.sum()),
    )


def latent_class_estimate(
    y: Sequence[float] | np.ndarray,
    sources: Sequence[str],
    *,
    level: float = 0.95,
    settings: LatentClassSettings = LatentClassSettings(),  # noqa: B008
) -> Estimate:
    """Latent-class estimate of ``N`` as an :class:`~measure._results.Estimate`.

    Parameters
    ----------
    y
        ``2**K - 1`` pattern counts in mask order (bit ``j`` = ``sources[j]``).
    sources
        List names (``K`` of them, at least 2).
    level
        Credible level.
    settings
        Sampler settings.

    Returns
    -------
    Estimate
        Term ``"N_latent_class"``: posterior median, equal-tailed credible interval,
        posterior standard deviation as ``std_error``; convergence problems in
        ``warnings``; ``extra`` holds ``rhat``, ``ess``, ``converged``,
        ``mcse_median`` and ``settings``.
    """
    _check_level(level)
    sources = tuple(str(s) for s in sources)
    if len(sources) < 2:
        raise EstimationError(
            f"capture-recapture needs at least two sources; got {len(sources)}"
        )
    _check_counts(y, len(sources))
    fit = fit_latent_class(y, level=level, settings=settings)
    return Estimate(
        term=TERM,
        estimate=fit.estimate,
        ci=fit.ci,
        level=fit.level,
        std_error=fit.std,
        method=METHOD,
        n=fit.n,
        assumptions=ASSUMPTIONS,
        warnings=fit.warnings,
        extra={
            "rhat": fit.rhat,
            "ess": fit.ess,
            "converged": fit.converged,
            "mcse_median": fit.mcse_median,
            "settings": settings,
            "sources": sources,
        },
    )
