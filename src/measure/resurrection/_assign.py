"""One-to-one assignment of successors, lineages, and link draws for imputation.

Pairwise match probabilities ignore that a suspended account has at most one
successor and a new account at most one predecessor. :func:`exclusive_probability`
re-normalises them: among the candidates of one suspended account ``a`` the chance
that ``b`` is *the* successor is ``o_ab / (1 + sum_b' o_ab')`` with ``o`` the pair
odds (the posterior when at most one candidate can match and each is a priori
equally likely), then the same among the predecessors competing for ``b``.

:func:`assign` then links greedily by that probability (highest first; ties broken
by time, earlier successor first), each account used at most once on each side, and
keeps links at or above the threshold. Because a successor is always created after
its predecessor (the search window never opens before the suspended account's
creation, also when it reaches back for backups), the links form chains
``a1 -> a2 -> a3`` (lineages) and never cycles.
"""

from __future__ import annotations

import copy

import numpy as np
import polars as pl

EPS = 1e-12


def _odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - 1e-9)
    return p / (1 - p)


def exclusive_probability(pairs: pl.DataFrame, col: str = "p_pair",
                          rows: bool = True) -> np.ndarray:
    """Probability that each pair is *the* link, given one-to-one exclusivity.

    Parameters
    ----------
    pairs
        Columns ``previous, new`` and ``col`` (pairwise match probability).
    rows
        Normalise among the candidates of each suspended account (skip when
        ``col`` already is exclusive per suspended account, as from the grouped
        EM); the normalisation among rival predecessors is always applied.
    """
    if pairs.height == 0:
        return np.zeros(0)
    o = _odds(pairs[col].to_numpy())
    df = pairs.select("previous", "new").with_columns(pl.Series("o", o))
    if rows:
        df = df.with_columns(
            (pl.col("o") / (1 + pl.col("o").sum().over("previous"))).alias("q"))
    else:
        df = df.with_columns(pl.Series("q", pairs[col].to_numpy()))
    o2 = _odds(df["q"].to_numpy())
    df = df.with_columns(pl.Series("o2", o2))
    df = df.with_columns(
        (pl.col("o2") / (1 + pl.col("o2").sum().over("new"))).alias("p"))
    return df["p"].to_numpy()


def threshold_for_precision(p: np.ndarray, target: float) -> float:
    """Lowest threshold whose accepted links have expected precision >= ``target``.

    Expected precision of the links kept at threshold ``t`` is the mean probability
    of those links (each is correct with its probability). The threshold is never
    below 0.5: a link that is more likely wrong than right is not kept.
    """
    if p.size == 0:
        return 0.5
    s = np.sort(p)[::-1]
    prec = np.cumsum(s) / np.arange(1, s.size + 1)
    ok = np.nonzero(prec >= target)[0]
    if ok.size == 0:
        return float(max(0.5, s[0]))
    return float(max(0.5, s[ok[-1]]))


def assign(pairs: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Greedy one-to-one links from scored pairs.

    Parameters
    ----------
    pairs
        Columns ``previous, new, probability, created_new``.
    threshold
        Keep links with ``probability >= threshold``.

    Returns
    -------
    polars.DataFrame
        The accepted pairs (same columns), one per ``new`` and per ``previous``.
    """
    cand = pairs.filter(pl.col("probability") >= threshold).sort(
        ["probability", "created_new", "previous", "new"],
        descending=[True, False, False, False])
    if cand.height == 0:
        return cand
    prev = cand["previous"].to_list()
    new = cand["new"].to_list()
    used_p: set = set()
    used_n: set = set()
    keep = np.zeros(cand.height, dtype=bool)
    for i, (a, b) in enumerate(zip(prev, new, strict=True)):
        if a in used_p or b in used_n:
            continue
        used_p.add(a)
        used_n.add(b)
        keep[i] = True
    return cand.filter(pl.Series(keep))


def lineages(links: pl.DataFrame, suspended: pl.Series) -> pl.DataFrame:
    """Chains of accounts (one per presumed actor) from links.

    Parameters
    ----------
    links
        Columns ``previous, new`` (one-to-one).
    suspended
        Every suspended account in the cohort: each is in exactly one lineage
        (alone when it has neither predecessor nor successor).

    Returns
    -------
    polars.DataFrame
        ``actor_id`` (0, 1, ... in order of the first account), ``accounts`` (list,
        in time order), ``n_accounts``.
    """
    succ = dict(zip(links["previous"].to_list(), links["new"].to_list(), strict=True))
    has_pred = set(links["new"].to_list())
    starts = [a for a in dict.fromkeys(suspended.to_list() + list(succ))
              if a not in has_pred]
    chains = []
    for a in starts:
        chain = [a]
        while chain[-1] in succ and len(chain) < 10_000:
            chain.append(succ[chain[-1]])
        chains.append(chain)
    sizes = np.array([len(c) for c in chains], dtype=np.int64)
    flat = pl.Series("accounts", [a for c in chains for a in c],
                     dtype=suspended.dtype)
    long = pl.DataFrame({"actor_id": np.repeat(np.arange(len(chains)), sizes),
                         "accounts": flat})
    out = long.group_by("actor_id", maintain_order=True).agg(pl.col("accounts"))
    return out.with_columns(pl.Series("n_accounts", sizes)).with_columns(
        pl.col("actor_id").cast(pl.Int64))


def incarnation_numbers(links: pl.DataFrame) -> dict:
    """Position (1, 2, ...) of every linked account in its chain."""
    succ = dict(zip(links["previous"].to_list(), links["new"].to_list(), strict=True))
    has_pred = set(links["new"].to_list())
    out: dict = {}
    for a in succ:
        if a in has_pred:
            continue
        k, cur = 1, a
        out[cur] = k
        while cur in succ:
            cur = succ[cur]
            k += 1
            out[cur] = k
    return out


class LinkSampler:
    """Draw one-to-one link sets from exclusive link probabilities (numpy, fast).

    Each suspended account draws its successor (or none) from its candidates'
    probabilities (the remaining mass is "no successor"); when two accounts draw the
    same successor, one of them, chosen at random, keeps it. Used for multiple
    imputation of the linkage and for the bootstrap.

    Parameters
    ----------
    previous, new
        Integer codes of the pair's accounts (any hashable ids mapped to ints).
    probability
        Exclusive link probability per pair (row sums at most 1).
    """

    def __init__(self, previous: np.ndarray, new: np.ndarray,
                 probability: np.ndarray) -> None:
        order = np.argsort(previous, kind="stable")
        self.order = order
        prev = previous[order]
        self.new = new[order]
        starts = np.flatnonzero(np.r_[True, prev[1:] != prev[:-1]]) if prev.size else \
            np.zeros(0, dtype=np.int64)
        self.starts = starts
        self.ends = np.r_[starts[1:], prev.size].astype(np.int64)
        self._set_probability(probability)

    def _set_probability(self, probability: np.ndarray) -> None:
        p = np.clip(probability[self.order].astype(np.float64), 0, 1)
        self.cum = np.cumsum(p)
        self.base = (np.where(self.starts > 0, self.cum[self.starts - 1], 0.0)
                     if self.starts.size else np.zeros(0))

    def reweighted(self, probability: np.ndarray) -> LinkSampler:
        """Return a sampler of the same pairs with other probabilities.

        The grouping by suspended account (a sort) is not redone.
        """
        out = copy.copy(self)
        out._set_probability(probability)
        return out

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Return the indices (original pair order) of one drawn set of links."""
        if self.starts.size == 0:
            return np.zeros(0, dtype=np.int64)
        u = rng.random(self.starts.size)
        pos = np.searchsorted(self.cum, self.base + u, side="right")
        ok = pos < self.ends
        pos = pos[ok]
        # resolve two previous accounts drawing the same new one: random keeper
        perm = rng.permutation(pos.size)
        pos = pos[perm]
        _, first = np.unique(self.new[pos], return_index=True)
        return self.order[np.sort(pos[first])]


def sample_links(pairs: pl.DataFrame, rng: np.random.Generator,
                 col: str = "probability") -> pl.DataFrame:
    """Draw one set of one-to-one links (see :class:`LinkSampler`)."""
    if pairs.height == 0:
        return pairs
    prev_codes = pairs["previous"].rank("dense").to_numpy().astype(np.int64)
    new_codes = pairs["new"].rank("dense").to_numpy().astype(np.int64)
    sampler = LinkSampler(prev_codes, new_codes, pairs[col].to_numpy())
    return pairs[sampler.draw(rng).tolist()]
