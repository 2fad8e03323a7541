"""Bayesian model averaging over decomposable graphical models (Madigan & York).

Multiple-systems estimation for K = 2 to 5 lists. Every decomposable (chordal)
graph on the K lists is a log-linear model of the full ``2**K`` table in which a
missing edge means the two lists are independent given the others. Each graph gets
the hyper-Dirichlet conjugate prior of Dawid & Lauritzen (1993), induced by a
Dirichlet with ``delta`` per cell of the full table, so the marginal likelihood of a
complete table is closed-form: a product of Dirichlet-multinomial terms over the
graph's cliques divided by those over its separators. For each candidate number of
never-listed units ``m`` the unobserved cell is set to ``m``; with a prior on the
population size ``N = n + m`` and a prior over graphs (uniform by default) this gives
the joint posterior over (graph, ``m``), the posterior model probabilities and the
model-averaged posterior of ``N`` (Madigan & York 1997). Everything is computed in
log space.

Defaults follow R's ``dga`` package (Johndrow, Lum & Ball; version 2.0.2,
``man/bma.cr.Rd``): ``delta = 2**-K`` and a prior on ``m`` proportional to ``1/m``
(``m >= 1``). The grid of ``m`` is chosen automatically: it is extended until the
estimated posterior mass beyond it is below ``tail_tol`` (1e-6), with a cap and a
warning when the cap is hit; an explicit grid may be passed instead.

Pattern counts are in the *mask order* used throughout :mod:`measure.capture`:
entry ``mask - 1`` counts the units whose set of lists has bit mask ``mask`` (bit
``j`` set = on list ``j``). ``dga`` takes an R array of dimension ``c(2, ..., 2)``
whose dimension ``j`` is list ``j``; R stores arrays column-major, so position ``i``
of the vector given to ``array()`` (counting from 0) is the cell whose list
indicators are the binary digits of ``i``, with list 1 as the lowest bit. That vector
is therefore the unobserved cell followed by the mask-ordered counts; see
:func:`from_dga_vector`.

Caveats. The saturated graph (all lists joined) does not identify ``N``: under it
the likelihood of ``m`` decays only like ``m**(-(2**K - 1) * delta)``, so with a flat
prior on ``N`` and the default ``delta`` the posterior is improper, and with the
``1/m`` prior it is proper but heavy-tailed (its posterior mean is infinite). The
estimate reported is therefore the posterior median with an equal-tailed interval;
the mean is that of the (truncated) grid.

References
----------
Madigan, D. & York, J. C. (1997). Bayesian methods for estimation of the size of a
closed population. *Biometrika* 84(1), 19-31.
York, J. C. & Madigan, D. (1992). Bayesian methods for estimating the size of a
closed population. Technical Report 234, Department of Statistics, University of
Washington.
Dawid, A. P. & Lauritzen, S. L. (1993). Hyper Markov laws in the statistical analysis
of decomposable graphical models. *Annals of Statistics* 21(3), 1272-1317.
Rissanen, J. (1983). A universal prior for integers and estimation by minimum
description length. *Annals of Statistics* 11(2), 416-431.
Johndrow, J., Lum, K. & Ball, P. (2015). dga: Capture-recapture estimation using
Bayesian model averaging. R package (CRAN; version 2.0.2, 2025).
OEIS A058862: number of labelled chordal graphs on n nodes (1, 2, 8, 61, 822, ...).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from scipy.special import gammaln, logsumexp

from measure._results import Estimate
from measure.errors import ConfigError, EstimationError, StatisticalWarning

#: Largest number of lists supported (822 decomposable graphs on 5 nodes).
MAX_LISTS = 5

#: Priors on the population size accepted by name.
PRIORS_N = ("inverse_missing", "inverse", "uniform", "rissanen")

#: Elements of one (graphs x grid) block evaluated at once.
_BLOCK = 2_000_000

#: Far end of the continuous tail quadrature, and points used for it.
_M_FAR = 1e12
_TAIL_POINTS = 1500
#: Smallest automatic grid; the continuous tail estimate starts above it.
_M_EXACT = 1000

ASSUMPTIONS = (
    "closed population: the lists refer to the same population at the same time",
    "units are matched across lists without error",
    "list dependence is described by some decomposable graphical model; the "
    "posterior averages over all of them (heterogeneous catchability that no such "
    "model captures biases N downward)",
    "the priors (on N, on the cell probabilities through delta, and uniform over "
    "graphs) matter when lists overlap little",
)


# ------------------------------------------------------------------------- graphs
@dataclass(frozen=True)
class DecomposableGraph:
    """One decomposable graph on lists ``0..k-1``.

    Attributes
    ----------
    k
        Number of nodes (lists).
    edges
        Edges as sorted pairs ``(a, b)``, ``a < b``.
    cliques
        Maximal cliques (isolated nodes are singleton cliques), sorted.
    separators
        Non-empty separators of a junction tree of the cliques (with repeats; the
        multiset does not depend on which junction tree). Empty separators, between
        connected components, contribute nothing to the marginal likelihood and are
        omitted.
    """

    k: int
    edges: tuple[tuple[int, int], ...]
    cliques: tuple[frozenset[int], ...]
    separators: tuple[frozenset[int], ...]

    def label(self, names: Sequence[str] | None = None) -> str:
        """Clique notation, e.g. ``"[A,B][C]"`` (``"[0,1][2]"`` without names)."""
        names = [str(i) for i in range(self.k)] if names is None else list(names)
        return "".join(
            "[" + ",".join(names[i] for i in sorted(c)) + "]" for c in self.cliques
        )

    def has_edge(self, a: int, b: int) -> bool:
        """Whether lists ``a`` and ``b`` are joined."""
        return (min(a, b), max(a, b)) in self.edges


def _is_chordal(adj: list[int], k: int) -> bool:
    """Chordality by repeatedly removing simplicial vertices (bit-mask adjacency)."""
    remaining = (1 << k) - 1
    while remaining:
        for v in range(k):
            if not remaining >> v & 1:
                continue
            nb = adj[v] & remaining
            if all((adj[u] & nb) | (1 << u) == nb | (1 << u) for u in _bits(nb)):
                remaining &= ~(1 << v)
                break
        else:
            return False
    return True


def _bits(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def _maximal_cliques(adj: list[int], k: int) -> list[int]:
    """Maximal cliques as bit masks, by checking every vertex subset (k <= 5)."""
    cliques = []
    for s in range(1, 1 << k):
        vs = _bits(s)
        if all(adj[u] >> v & 1 for u, v in combinations(vs, 2)):
            cliques.append(s)
    is_clique = set(cliques)
    return [
        s
        for s in cliques
        if not any((s | 1 << v) in is_clique for v in range(k) if not s >> v & 1)
    ]


def _separators(cliques: list[int]) -> list[int]:
    """Separators of a junction tree: maximum-weight spanning tree (Prim)."""
    if len(cliques) <= 1:
        return []
    in_tree = [cliques[0]]
    rest = list(cliques[1:])
    seps = []
    while rest:
        best = max(
            (
                (bin(a & b).count("1"), i, a & b)
                for i, b in enumerate(rest)
                for a in in_tree
            ),
            key=lambda t: t[0],
        )
        _, i, sep = best
        in_tree.append(rest.pop(i))
        if sep:
            seps.append(sep)
    return seps


def _as_set(mask: int) -> frozenset[int]:
    return frozenset(_bits(mask))


@cache
def _graphs(k: int) -> tuple[DecomposableGraph, ...]:
    pairs = list(combinations(range(k), 2))
    out = []
    for e_mask in range(1 << len(pairs)):
        edges = tuple(p for i, p in enumerate(pairs) if e_mask >> i & 1)
        adj = [0] * k
        for a, b in edges:
            adj[a] |= 1 << b
            adj[b] |= 1 << a
        if not _is_chordal(adj, k):
            continue
        cl = sorted(_maximal_cliques(adj, k), key=lambda s: (-bin(s).count("1"), s))
        seps = _separators(cl)
        cl_sets = tuple(
            sorted((_as_set(c) for c in cl), key=lambda c: (-len(c), sorted(c)))
        )
        out.append(
            DecomposableGraph(
                k=k,
                edges=edges,
                cliques=cl_sets,
                separators=tuple(
                    sorted((_as_set(s) for s in seps), key=lambda c: sorted(c))
                ),
            )
        )
    out.sort(key=lambda g: (len(g.edges), g.edges))
    return tuple(out)


def decomposable_graphs(k: int) -> list[DecomposableGraph]:
    """All labelled decomposable (chordal) graphs on ``k`` nodes, ``1 <= k <= 5``.

    There are 1, 2, 8, 61 and 822 of them for ``k = 1..5`` (OEIS A058862). They are
    ordered by number of edges, then by edge list; the position in this list is the
    ``graph_id`` used by :class:`GraphicalBMA`.

    Parameters
    ----------
    k
        Number of nodes (lists).

    Returns
    -------
    list of DecomposableGraph
        Each with its edges, maximal cliques and junction-tree separators.
    """
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_LISTS:
        raise EstimationError(
            f"decomposable graphs are enumerated for 1 to {MAX_LISTS} lists; got {k!r}"
        )
    return list(_graphs(int(k)))


def _design(graphs: Sequence[DecomposableGraph], k: int) -> np.ndarray:
    """Matrix (graphs x 2**k subsets): +1 per clique, -1 per separator."""
    d = np.zeros((len(graphs), 2**k))
    for i, g in enumerate(graphs):
        for c in g.cliques:
            d[i, sum(1 << j for j in c)] += 1
        for s in g.separators:
            d[i, sum(1 << j for j in s)] -= 1
    return d


# ------------------------------------------------------------- marginal likelihood
def from_dga_vector(values: ArrayLike) -> np.ndarray:
    """Mask-ordered pattern counts from the vector R's ``dga`` turns into ``Y``.

    ``dga::bma.cr`` takes ``Y = array(v, dim = rep(2, K))`` with dimension ``j`` for
    list ``j``. R fills arrays column-major (first index fastest), so ``v[i]``
    (0-based) is the cell whose list indicators are the binary digits of ``i`` with
    list 1 as the lowest bit: ``v[0]`` is the unobserved cell and ``v[1:]`` is the
    mask order used here.

    Parameters
    ----------
    values
        The ``2**K`` numbers given to ``array()``.

    Returns
    -------
    numpy.ndarray
        The ``2**K - 1`` observable counts in mask order.
    """
    v = np.asarray(values, dtype=float).ravel()
    k = int(round(math.log2(v.size))) if v.size > 1 else 0
    if v.size < 4 or 2**k != v.size:
        raise EstimationError(
            f"a dga count vector has 2**K entries for K >= 2 lists; got {v.size}"
        )
    return v[1:].copy()


def _subset_tables(
    full: np.ndarray, k: int, delta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per subset of lists: constant, prior weight and count of its 'none' cell.

    For subset ``s`` the marginal table's log Dirichlet-multinomial marginal
    likelihood with ``m`` extra units in the all-absent cell is
    ``const[s] + gammaln(a[s] + n0[s] + m) - gammaln(alpha + n + m)``, where
    ``a[s] = delta * 2**(k - |s|)`` and ``alpha = delta * 2**k``.
    """
    masks = np.arange(2**k)
    size = np.array([bin(int(s)).count("1") for s in masks])
    a = delta * 2.0 ** (k - size)
    alpha = delta * 2.0**k
    const = np.zeros(2**k)
    n0 = np.zeros(2**k)
    for s in range(1, 2**k):
        marg = np.bincount(masks & s, weights=full, minlength=2**k)
        cells = np.array([c for c in range(1, 2**k) if c & s == c])
        const[s] = (
            gammaln(alpha)
            - gammaln(a[s])
            + float(np.sum(gammaln(a[s] + marg[cells]) - gammaln(a[s])))
        )
        n0[s] = marg[0]
    return const, a, n0


def log_marginal_likelihood(
    table: ArrayLike, graph: DecomposableGraph, delta: float
) -> float:
    """Log marginal likelihood of a complete ``2**K`` table under one graph.

    The probability of the *ordered* sample (no multinomial coefficient) under the
    hyper-Dirichlet prior induced by a Dirichlet with ``delta`` per cell: the product
    over cliques of Dirichlet-multinomial terms of the clique margins divided by the
    same over separators (Dawid & Lauritzen 1993).

    Parameters
    ----------
    table
        ``2**K`` counts in mask order *including* the all-absent cell at index 0.
    graph
        A graph from :func:`decomposable_graphs` with ``graph.k == K``.
    delta
        Dirichlet hyperparameter per cell of the full table.

    Returns
    -------
    float
    """
    t = np.asarray(table, dtype=float)
    k = graph.k
    if t.shape != (2**k,):
        raise EstimationError(f"a complete table on {k} lists has {2**k} cells")
    const, a, n0 = _subset_tables(t, k, delta)
    n = t.sum()
    alpha = delta * 2.0**k
    curve = const + gammaln(a + n0) - gammaln(alpha + n)
    curve[0] = 0.0
    return float(_design([graph], k)[0] @ curve)


# -------------------------------------------------------------------- priors on N
def _log_star2(x: np.ndarray) -> np.ndarray:
    """Rissanen's ``log*``: ``log2 x + log2 log2 x + ...`` over positive terms."""
    out = np.zeros_like(x, dtype=float)
    t = np.log2(np.maximum(x, 1.0))
    while np.any(t > 0):
        pos = t > 0
        out[pos] += t[pos]
        t = np.where(pos, np.log2(np.where(pos, t, 1.0)), 0.0)
    return out


def _log_prior_n(
    prior: str | Callable[[np.ndarray], ArrayLike], n: int, m: np.ndarray
) -> np.ndarray:
    big_n = n + m
    if callable(prior):
        lp = np.asarray(prior(big_n.copy()), dtype=float)
        if lp.shape != m.shape:
            raise ConfigError(
                "prior_n as a function must return one log prior value per N"
            )
        if np.any(np.isnan(lp)) or np.any(lp == np.inf):
            raise ConfigError("prior_n returned NaN or +inf")
        return lp
    if prior == "inverse_missing":
        with np.errstate(divide="ignore"):
            return -np.log(m)
    if prior == "inverse":
        return -np.log(big_n)
    if prior == "uniform":
        return np.zeros_like(m, dtype=float)
    if prior == "rissanen":
        return -_log_star2(big_n) * math.log(2.0)
    raise ConfigError(
        f"invalid value {prior!r} for option 'prior_n'; valid values are: "
        + ", ".join(repr(p) for p in PRIORS_N)
        + ", or a function of N returning log prior values"
    )


# ------------------------------------------------------------------------ engine
class _Posterior:
    """Unnormalised log joint posterior over (graph, m), evaluated by blocks."""

    def __init__(
        self,
        y: np.ndarray,
        k: int,
        delta: float,
        prior: str | Callable[[np.ndarray], ArrayLike],
        log_model_prior: np.ndarray,
        graphs: Sequence[DecomposableGraph],
    ) -> None:
        self.k = k
        self.n = int(y.sum())
        full = np.concatenate([[0.0], y])
        self.const, self.a, self.n0 = _subset_tables(full, k, delta)
        self.alpha = delta * 2.0**k
        self.prior = prior
        self.design = _design(graphs, k)[:, 1:]
        self.log_model_prior = log_model_prior

    def curves(self, m: np.ndarray) -> np.ndarray:
        """Subset log marginal likelihoods, shape (2**k - 1, len(m))."""
        mm = np.asarray(m, dtype=float)
        return (
            self.const[1:, None]
            + gammaln(self.a[1:, None] + self.n0[1:, None] + mm[None, :])
            - gammaln(self.alpha + self.n + mm)[None, :]
        )

    def base(self, m: np.ndarray) -> np.ndarray:
        """Log prior of N plus the multinomial coefficient ``N! / m!``."""
        mm = np.asarray(m, dtype=float)
        return (
            _log_prior_n(self.prior, self.n, mm)
            + gammaln(self.n + mm + 1.0)
            - gammaln(mm + 1.0)
        )

    def blocks(self, m: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, log_joint_block)`` over blocks of graphs."""
        # prior terms ride along in the product: a row of ones times the graph's
        # log prior, and the base term (prior on N, N!/m!) with coefficient one
        cur = np.vstack([self.curves(m), self.base(m), np.ones(np.size(m))])
        design = np.hstack(
            [
                self.design,
                np.ones((self.design.shape[0], 1)),
                self.log_model_prior[:, None],
            ]
        )
        step = max(1, _BLOCK // max(1, m.size))
        for start in range(0, design.shape[0], step):
            rows = slice(start, min(start + step, design.shape[0]))
            yield rows, design[rows] @ cur

    def log_total(self, m: np.ndarray) -> np.ndarray:
        """Log of the model-summed unnormalised posterior at each ``m``."""
        out = np.full(m.size, -np.inf)
        for _, block in self.blocks(m):
            mx = block.max(axis=0)
            safe = np.where(np.isfinite(mx), mx, 0.0)
            with np.errstate(divide="ignore"):
                part = safe + np.log(np.exp(block - safe).sum(axis=0))
            out = np.logaddexp(out, part)
        return out

    def asymptotic_slope(self) -> np.ndarray:
        """Per graph, ``d log f / d log m`` as ``m -> inf`` without the prior."""
        e = self.a[1:] + self.n0[1:] - self.alpha - self.n
        return self.n + self.design @ e

    def prior_slope(self) -> float:
        """``d log prior / d log m`` far out (numerically; ``-inf`` if zero there)."""
        m = np.array([_M_FAR / 10.0, _M_FAR])
        lp = _log_prior_n(self.prior, self.n, m)
        if not np.all(np.isfinite(lp)):
            return -math.inf
        return float((lp[1] - lp[0]) / math.log(m[1] / m[0]))

    def log_tail(self, starts: np.ndarray) -> np.ndarray:
        """Log of the posterior mass (unnormalised) above each start value.

        The sum over integers ``m > start`` is approximated by the integral from
        ``start + 1/2`` to ``_M_FAR`` (trapezoid rule in ``log m``) plus the power-law
        tail beyond ``_M_FAR``.
        """
        slopes = self.asymptotic_slope() + self.prior_slope()
        active = self.log_model_prior > -np.inf
        if np.any(slopes[active] >= -1.0):
            bad = int(np.argmax(np.where(active, slopes, -np.inf)))
            raise _Improper(bad, float(slopes[bad]))
        lo = max(float(np.min(starts)) + 0.5, 0.5)
        u = np.linspace(math.log(lo), math.log(_M_FAR), _TAIL_POINTS)
        m = np.exp(u)
        g = self.log_total(m) + u  # log of f(m) * dm/du
        # beyond _M_FAR: each graph's f decays like m**slope
        far = np.full(1, _M_FAR)
        far_terms = []
        for rows, block in self.blocks(far):
            s = slopes[rows]
            far_terms.append(block[:, 0] + math.log(_M_FAR) - np.log(-(s + 1.0)))
        beyond = float(logsumexp(np.concatenate(far_terms)))
        # cumulative trapezoid from the right, in log space
        du = u[1] - u[0]
        pair = np.logaddexp(g[:-1], g[1:]) + math.log(du / 2.0)
        rev = np.logaddexp.accumulate(np.concatenate([[beyond], pair[::-1]]))
        right = rev[::-1]  # right[i] = log mass above m[i]
        pos = np.log(np.asarray(starts, dtype=float) + 0.5)
        return np.interp(pos, u, right)


class _Improper(Exception):
    def __init__(self, graph: int, slope: float) -> None:
        self.graph = graph
        self.slope = slope


# ------------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class GraphicalBMA:
    """Model-averaged posterior of the population size over decomposable graphs.

    Attributes
    ----------
    estimate
        Posterior median of ``N``.
    mean
        Posterior mean of ``N`` over the grid.
    ci
        Equal-tailed posterior interval at ``level``.
    level
        Probability content of ``ci``.
    std_error
        Posterior standard deviation of ``N`` over the grid.
    n_observed
        Units seen on at least one list.
    posterior_N
        Table ``N, n_missing, probability`` (model-averaged posterior on the grid).
    models
        One row per graph, most probable first: ``graph_id`` (position in
        :func:`decomposable_graphs`), ``graph`` (clique notation), ``edges``,
        ``prior``, ``posterior``, ``median``, ``mean``, ``ci_low``, ``ci_high`` (the
        posterior of ``N`` under that graph alone).
    graphs
        The graphs, in ``graph_id`` order.
    sources
        List names.
    delta
        Dirichlet hyperparameter per cell of the full table.
    prior_n
        Name of the prior on ``N`` (``"custom"`` for a function).
    tail_mass
        Estimated posterior mass above the grid (as a share of the whole), ``nan``
        when it cannot be estimated (improper posterior beyond an explicit grid).
    warnings
        Diagnostics (grid cap hit, mass left above an explicit grid).
    """

    estimate: float
    mean: float
    ci: tuple[float, float]
    level: float
    std_error: float
    n_observed: int
    posterior_N: pl.DataFrame
    models: pl.DataFrame
    graphs: tuple[DecomposableGraph, ...]
    sources: tuple[str, ...]
    delta: float
    prior_n: str
    tail_mass: float
    warnings: tuple[str, ...] = ()
    _engine: Any = field(default=None, repr=False)
    _log_norm: float = field(default=math.nan, repr=False)

    @property
    def n_missing(self) -> np.ndarray:
        """Grid of numbers of never-listed units."""
        return self.posterior_N["n_missing"].to_numpy()

    @property
    def probabilities(self) -> np.ndarray:
        """Model-averaged posterior probabilities on the grid."""
        return self.posterior_N["probability"].to_numpy()

    def model_probabilities(self) -> np.ndarray:
        """Posterior probability of each graph, in ``graph_id`` order."""
        p = np.zeros(len(self.graphs))
        p[self.models["graph_id"].to_numpy()] = self.models["posterior"].to_numpy()
        return p

    def edge_probabilities(self) -> pl.DataFrame:
        """Posterior probability that each pair of lists is joined by an edge."""
        p = self.model_probabilities()
        rows = []
        for a, b in combinations(range(len(self.sources)), 2):
            mass = sum(
                pi for pi, g in zip(p, self.graphs, strict=True) if g.has_edge(a, b)
            )
            rows.append((self.sources[a], self.sources[b], float(mass)))
        return pl.DataFrame(
            rows, schema=["list_a", "list_b", "posterior"], orient="row"
        )

    def joint(self) -> np.ndarray:
        """Joint posterior over (graph, grid value), shape ``(graphs, grid)``.

        Rows follow ``graph_id``; the array sums to 1. It has
        ``len(graphs) * len(grid)`` entries, so it can be large for five lists.
        """
        m = self.n_missing.astype(float)
        out = np.empty((len(self.graphs), m.size))
        for rows, block in self._engine.blocks(m):
            out[rows] = np.exp(block - self._log_norm)
        return out

    def __repr__(self) -> str:
        return (
            f"<GraphicalBMA N={self.estimate:,.0f} [{self.ci[0]:,.0f}, "
            f"{self.ci[1]:,.0f}] over {len(self.graphs)} graphs>"
        )

    def summary(self, top: int = 5) -> str:
        """Human-readable summary with the most probable graphs."""
        lines = [
            f"N (posterior median): {self.estimate:,.0f} "
            f"({self.level:.0%} interval {self.ci[0]:,.0f} to {self.ci[1]:,.0f}); "
            f"mean {self.mean:,.1f}, sd {self.std_error:,.1f}; "
            f"{self.n_observed:,} observed",
            f"  {len(self.graphs)} decomposable graphs, delta = {self.delta:g}, "
            f"prior on N: {self.prior_n}",
        ]
        for r in self.models.head(top).iter_rows(named=True):
            lines.append(
                f"  {r['posterior']:.3f}  {r['graph']}  median {r['median']:,.0f} "
                f"[{r['ci_low']:,.0f}, {r['ci_high']:,.0f}]"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_estimate(self, term: str = "N_bma_graphical") -> Estimate:
        """Return the posterior median and interval as an :class:`Estimate`."""
        return Estimate(
            term=term,
            estimate=self.estimate,
            ci=self.ci,
            level=self.level,
            std_error=self.std_error,
            method=(
                "Bayesian model averaging over decomposable graphical models "
                f"(Madigan & York 1997; delta = {self.delta:g}, prior on N: "
                f"{self.prior_n}); posterior median and equal-tailed interval"
            ),
            n=self.n_observed,
            assumptions=ASSUMPTIONS,
            warnings=self.warnings,
            extra={"bma": self, "mean": self.mean, "tail_mass": self.tail_mass},
        )


def _quantile(values: np.ndarray, cdf: np.ndarray, q: float) -> float:
    i = int(np.searchsorted(cdf, q * cdf[-1] * (1 - 1e-12), side="left"))
    return float(values[min(i, values.size - 1)])


def _validate_counts(y: ArrayLike) -> tuple[np.ndarray, int]:
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1:
        raise EstimationError(
            f"pattern counts must be a one-dimensional array; got shape {arr.shape}"
        )
    k = int(round(math.log2(arr.size + 1))) if arr.size > 0 else 0
    if arr.size < 3 or 2**k - 1 != arr.size:
        raise EstimationError(
            f"pattern counts for K lists have 2**K - 1 entries (3, 7, 15 or 31 for "
            f"K = 2..5); got {arr.size}"
        )
    if k > MAX_LISTS:
        raise EstimationError(
            f"{k} lists: Bayesian model averaging over decomposable graphs is "
            f"available for at most {MAX_LISTS} lists (822 graphs); merge similar "
            "lists or pass fewer sources"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise EstimationError("pattern counts must be finite and non-negative")
    if np.any(arr != np.round(arr)):
        raise EstimationError("pattern counts must be whole numbers of units")
    if arr.sum() == 0:
        raise EstimationError("no unit was detected by any list; nothing to estimate")
    return arr, k


def bma_graphical(  # noqa: C901, PLR0915
    y: ArrayLike,
    *,
    sources: Sequence[str] | None = None,
    level: float = 0.95,
    delta: float | None = None,
    prior_n: str | Callable[[np.ndarray], ArrayLike] = "inverse_missing",
    n_missing: ArrayLike | None = None,
    max_missing: int = 1_000_000,
    tail_tol: float = 1e-6,
    log_model_prior: ArrayLike | None = None,
) -> GraphicalBMA:
    """Average over all decomposable graphical models (Madigan & York 1997).

    Parameters
    ----------
    y
        ``2**K - 1`` pattern counts in mask order, ``2 <= K <= 5``.
    sources
        List names (default ``"0", "1", ...``), used in graph labels.
    level
        Probability content of the equal-tailed interval.
    delta
        Dirichlet hyperparameter per cell of the full ``2**K`` table; default
        ``2**-K`` as suggested by R's ``dga``.
    prior_n
        Prior on the population size:

        - ``"inverse_missing"`` (default, R ``dga``'s default): proportional to
          ``1/m`` for ``m >= 1`` never-listed units (``m = 0`` is excluded);
        - ``"inverse"``: proportional to ``1/N``;
        - ``"uniform"``: flat in ``N`` (improper; the posterior is proper only when
          every graph's likelihood decays fast enough, which fails for the
          saturated graph when ``delta <= 1 / (2**K - 1)``);
        - ``"rissanen"``: Rissanen's (1983) universal prior for integers,
          proportional to ``2**(-log*(N))``;
        - a function taking the array of ``N`` values and returning log prior values
          (up to a constant), e.g. a negative binomial.
    n_missing
        Explicit grid of numbers of never-listed units (non-negative integers); the
        posterior is restricted to it. Default: ``0..M`` (``1..M`` for
        ``"inverse_missing"``) with ``M`` chosen so that the estimated posterior mass
        above ``M`` is below ``tail_tol``.
    max_missing
        Cap on ``M`` for the automatic grid; a warning is issued when it is hit.
    tail_tol
        Posterior mass allowed above the automatic grid.
    log_model_prior
        Log prior weights of the graphs in :func:`decomposable_graphs` order
        (default uniform).

    Returns
    -------
    GraphicalBMA

    Raises
    ------
    EstimationError
        Counts of the wrong length, negative or fractional, more than five lists,
        no unit observed, or an improper posterior with the automatic grid.
    ConfigError
        Invalid ``level``, ``delta``, ``prior_n``, grid or model prior.

    Notes
    -----
    The work grows with (number of graphs) x (grid length): five lists with a heavy
    tail (grids of a few hundred thousand values) take several seconds.
    """
    arr, k = _validate_counts(y)
    n = int(arr.sum())
    if sources is None:
        sources = tuple(str(i) for i in range(k))
    sources = tuple(str(s) for s in sources)
    if len(sources) != k:
        raise EstimationError(
            f"{len(sources)} source names for {arr.size} pattern counts ({k} lists)"
        )
    if not 0 < level < 1:
        raise ConfigError(
            f"invalid value {level!r} for option 'level'; give a probability "
            "between 0 and 1, e.g. 0.95"
        )
    delta = 2.0**-k if delta is None else float(delta)
    if not (delta > 0 and math.isfinite(delta)):
        raise ConfigError(f"delta must be a positive number; got {delta!r}")
    if not (max_missing >= _M_EXACT and 0 < tail_tol < 1):
        raise ConfigError(
            f"max_missing must be at least {_M_EXACT} and tail_tol in (0, 1); got "
            f"{max_missing!r} and {tail_tol!r}"
        )
    if not callable(prior_n) and prior_n not in PRIORS_N:
        raise ConfigError(
            f"invalid value {prior_n!r} for option 'prior_n'; valid values are: "
            + ", ".join(repr(p) for p in PRIORS_N)
            + ", or a function of N returning log prior values"
        )
    graphs = _graphs(k)
    if log_model_prior is None:
        lmp = np.full(len(graphs), -math.log(len(graphs)))
    else:
        lmp = np.asarray(log_model_prior, dtype=float)
        if (
            lmp.shape != (len(graphs),)
            or np.any(np.isnan(lmp))
            or np.all(lmp == -np.inf)
        ):
            raise ConfigError(
                f"log_model_prior needs {len(graphs)} log weights (one per graph, "
                "some finite)"
            )
        lmp = lmp - logsumexp(lmp)
    engine = _Posterior(arr, k, delta, prior_n, lmp, graphs)
    first = 1 if prior_n == "inverse_missing" else 0
    notes: list[str] = []
    capped = False

    if n_missing is not None:
        grid = np.asarray(n_missing, dtype=float).ravel()
        if (
            grid.size == 0
            or np.any(grid != np.round(grid))
            or np.any(grid < 0)
            or np.any(np.diff(grid) <= 0)
        ):
            raise ConfigError(
                "n_missing must be an increasing grid of non-negative integers"
            )
        if first and grid[0] < 1:
            raise ConfigError(
                "prior_n='inverse_missing' is proportional to 1/m and undefined at "
                "m = 0; start the n_missing grid at 1"
            )
    else:
        grid = np.arange(first, _M_EXACT + 1, dtype=float)
        try:
            head = float(logsumexp(engine.log_total(grid)))
            starts = np.exp(np.linspace(math.log(_M_EXACT), math.log(_M_FAR), 400))
            tails = engine.log_tail(starts)
            total = np.logaddexp(head, tails[0])
            ok = np.nonzero(tails - total < math.log(tail_tol / 2.0))[0]
            m_top = float(starts[ok[0]]) if ok.size else math.inf
        except _Improper as exc:
            g = graphs[exc.graph]
            raise EstimationError(
                f"the posterior of N is improper: under graph {g.label(sources)} "
                f"the posterior decays like m**{exc.slope:.3f} (not summable) with "
                f"prior_n={prior_n!r} and delta={delta:g}; use a prior that "
                "decreases in N (e.g. 'inverse_missing' or 'rissanen'), a larger "
                "delta, or pass an explicit n_missing grid"
            ) from None
        capped = m_top > max_missing
        m_top = min(m_top, max_missing)
        top = int(max(_M_EXACT, math.ceil(m_top)))
        grid = np.arange(first, top + 1, dtype=float)

    # one pass over blocks of graphs: evidences, per-graph summaries, and the
    # model-averaged posterior accumulated with a running log-scale shift
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    big_n = n + grid
    lse = np.full(len(graphs), -np.inf)
    stats = np.full((len(graphs), 4), math.nan)  # median, mean, low, high
    acc = np.zeros(grid.size)
    shift = -np.inf
    for rows, block in engine.blocks(grid):
        ids = np.arange(rows.start, rows.stop)
        mx = block.max(axis=1)
        keep = np.isfinite(mx)
        if not np.any(keep):
            continue
        if not np.all(keep):
            ids, mx, block = ids[keep], mx[keep], block[keep]
        block -= mx[:, None]
        p = np.exp(block, out=block)
        tot = p.sum(axis=1)
        lse[ids] = mx + np.log(tot)
        stats[ids, 1] = (p @ big_n) / tot
        top = float(lse[ids].max())
        if top > shift:
            acc *= math.exp(shift - top) if np.isfinite(shift) else 0.0
            shift = top
        acc += np.exp(mx - shift) @ p
        np.cumsum(p, axis=1, out=p)  # rows end at tot; _quantile scales by it
        for j, i in enumerate(ids):
            stats[i, 0] = _quantile(big_n, p[j], 0.5)
            stats[i, 2] = _quantile(big_n, p[j], lo_q)
            stats[i, 3] = _quantile(big_n, p[j], hi_q)
    if not np.isfinite(shift):
        raise EstimationError(
            "the prior gives zero probability to every value of the n_missing grid"
        )
    log_norm = shift + math.log(acc.sum())
    post_model = np.exp(lse - log_norm)
    avg = acc / acc.sum()
    med, mean, lo, hi = stats.T
    cdf = np.cumsum(avg)
    e_n = float(avg @ big_n)
    sd = float(math.sqrt(max(avg @ (big_n - e_n) ** 2, 0.0)))

    # posterior mass above the grid
    try:
        t = engine.log_tail(np.array([grid[-1]]))
        tail = float(np.exp(t[0] - np.logaddexp(log_norm, t[0])))
    except _Improper:
        tail = math.nan
    if capped and tail > tail_tol:
        notes.append(
            f"the grid of never-listed units was capped at {max_missing:,} with an "
            f"estimated posterior mass of {tail:.2g} above it; the tail is heavy "
            "(often from the saturated graph with small delta), so the upper "
            "limit and the mean are truncated"
        )
    if n_missing is not None and (math.isnan(tail) or tail > 1e-3):
        notes.append(
            "posterior mass above the n_missing grid: "
            + ("unbounded (improper tail)" if math.isnan(tail) else f"{tail:.2g}")
            + "; results are conditional on N lying in the grid"
        )
    for w in notes:
        warnings.warn(w, StatisticalWarning, stacklevel=2)

    order = np.argsort(-post_model, kind="stable")
    names = list(sources)
    models = pl.DataFrame(
        {
            "graph_id": order.astype(np.int64),
            "graph": [graphs[i].label(names) for i in order],
            "edges": [
                " ".join(f"{names[a]}-{names[b]}" for a, b in graphs[i].edges)
                for i in order
            ],
            "prior": np.exp(lmp[order]),
            "posterior": post_model[order],
            "median": med[order],
            "mean": mean[order],
            "ci_low": lo[order],
            "ci_high": hi[order],
        }
    )
    posterior_n = pl.DataFrame(
        {
            "N": big_n.astype(np.int64),
            "n_missing": grid.astype(np.int64),
            "probability": avg,
        }
    )
    return GraphicalBMA(
        estimate=_quantile(big_n, cdf, 0.5),
        mean=e_n,
        ci=(_quantile(big_n, cdf, lo_q), _quantile(big_n, cdf, hi_q)),
        level=level,
        std_error=sd,
        n_observed=n,
        posterior_N=posterior_n,
        models=models,
        graphs=graphs,
        sources=sources,
        delta=delta,
        prior_n=prior_n if isinstance(prior_n, str) else "custom",
        tail_mass=tail,
        warnings=tuple(notes),
        _engine=engine,
        _log_norm=log_norm,
    )


def bma_estimate(
    y: ArrayLike,
    sources: Sequence[str],
    *,
    level: float = 0.95,
    **kwargs: Any,
) -> Estimate:
    """Model-averaged population size as an :class:`~measure._results.Estimate`.

    Term ``"N_bma_graphical"``: the posterior median of ``N`` with its equal-tailed
    interval and posterior standard deviation; ``extra["bma"]`` holds the full
    :class:`GraphicalBMA`. Keyword arguments go to :func:`bma_graphical`.

    Parameters
    ----------
    y
        ``2**K - 1`` pattern counts in mask order.
    sources
        The ``K`` list names.
    level
        Probability content of the interval.
    **kwargs
        ``delta``, ``prior_n``, ``n_missing``, ``max_missing``, ``tail_tol``,
        ``log_model_prior``.

    Returns
    -------
    Estimate
    """
    return bma_graphical(y, sources=sources, level=level, **kwargs).to_estimate()
