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


def exclusive_probability_codes(p_pair: np.ndarray, previous: np.ndarray,
                                new: np.ndarray, rows: bool = True) -> np.ndarray:
    """:func:`exclusive_probability` on integer codes (numpy).

    Parameters
    ----------
    p_pair
        Pairwise (or, with ``rows=False``, already row-exclusive) probability.
    previous, new
        Non-negative integer codes of the pair's accounts (dense is best: the
        sums are ``bincount`` over them).
    rows
        As in :func:`exclusive_probability`.
    """
    if p_pair.size == 0:
        return np.zeros(0)
    if rows:
        o = _odds(p_pair)
        q = o / (1 + np.bincount(previous, weights=o)[previous])
    else:
        q = p_pair
    o2 = _odds(q)
    return o2 / (1 + np.bincount(new, weights=o2)[new])


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

    Each suspended account ``a`` first draws whether it has a successor (with
    probability ``r_a``, the sum of its candidates' probabilities; the rest is
    its "no successor" mass) and which candidate, from the candidates'
    probabilities. When several accounts draw the same new account, one keeps
    it, chosen with probability proportional to its pair's probability (a race
    of exponential clocks, Efraimidis & Spirakis 2006); each of the others
    redraws among its candidates that are not yet taken, with their
    probabilities renormalised over those candidates. Its "no successor" mass
    is not renormalised into the redraw: the account stays linked, so that
    conflicts do not lower the number of links below the sum of the
    probabilities. Rounds repeat until no two accounts hold the same new
    account; an account whose candidates are all taken is left without a link
    (the only way a conflict removes a link). Every round shrinks the losers'
    candidate sets, so the rounds end.

    With ``redraw=False`` a loser gets no link (one draw per account; the
    keeper is chosen as above).

    Used for multiple imputation of the linkage and for the bootstrap.

    Parameters
    ----------
    previous, new
        Integer codes of the pair's accounts (any integers; only equality
        matters).
    probability
        Exclusive link probability per pair (row sums at most 1).
    redraw
        Whether losers of a conflict redraw (default) or go without a link.

    References
    ----------
    Efraimidis, P. S. & Spirakis, P. G. (2006). Weighted random sampling with
    a reservoir. *Information Processing Letters* 97(5), 181-185.
    """

    def __init__(self, previous: np.ndarray, new: np.ndarray,
                 probability: np.ndarray, *, redraw: bool = True) -> None:
        previous = np.asarray(previous)
        order = np.argsort(previous, kind="stable")
        self.order = order
        prev = previous[order]
        # codes of the new accounts in 0 .. n_new - 1 for the taken mask: the
        # ids less their minimum when they are compact, else a dense rank
        new = np.asarray(new)[order].astype(np.int64)
        lo = int(new.min()) if new.size else 0
        if new.size and int(new.max()) - lo < 8 * new.size:
            self.new = new - lo
            self.n_new = int(self.new.max()) + 1
        elif new.size:
            uniq, code = np.unique(new, return_inverse=True)
            self.new = code.reshape(-1).astype(np.int64)
            self.n_new = int(uniq.size)
        else:
            self.new = new
            self.n_new = 0
        starts = (np.flatnonzero(np.r_[True, prev[1:] != prev[:-1]]) if prev.size
                  else np.zeros(0, dtype=np.int64))
        self.starts = starts.astype(np.int64)
        self.ends = np.r_[starts[1:], prev.size].astype(np.int64)
        self.redraw = redraw
        self._set_probability(probability)

    def _set_probability(self, probability: np.ndarray) -> None:
        p = np.clip(np.asarray(probability)[self.order].astype(np.float64), 0, 1)
        self.p = p
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
        grp = np.flatnonzero(ok)
        pos = pos[ok]
        taken = np.zeros(self.n_new, dtype=bool)
        chosen = []
        while pos.size:
            win, lose = self._resolve(pos, rng)
            chosen.append(pos[win])
            taken[self.new[pos[win]]] = True
            if lose.size == 0 or not self.redraw:
                break
            grp, pos = self._redraw(grp[lose], taken, rng)
        out = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
        return self.order[np.sort(out)]

    def _resolve(self, pos: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Split claims ``pos`` into keepers (one per new account) and losers.

        The keeper of a new account is the claim with the smallest
        ``E / p`` (``E`` standard exponential): chosen with probability
        proportional to its pair's probability.
        """
        nc = self.new[pos]
        key = rng.standard_exponential(pos.size) / np.maximum(self.p[pos], EPS)
        o = np.lexsort((key, nc))
        first = np.r_[True, nc[o][1:] != nc[o][:-1]]
        return o[first], o[~first]

    def _redraw(self, grp: np.ndarray, taken: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw new claims of the accounts ``grp`` among their free candidates.

        Returns the accounts that found a free candidate and their claims.
        """
        lo, hi = self.starts[grp], self.ends[grp]
        lens = hi - lo
        seg_end = np.cumsum(lens)
        seg_start = seg_end - lens
        rows = np.repeat(lo - seg_start, lens) + np.arange(int(seg_end[-1]))
        w = np.where(taken[self.new[rows]], 0.0, self.p[rows])
        cw = np.cumsum(w)
        before = np.where(seg_start > 0, cw[seg_start - 1], 0.0)
        total = cw[seg_end - 1] - before
        has = total > EPS
        target = before + rng.random(grp.size) * total
        j = np.minimum(np.searchsorted(cw, target, side="right"), seg_end - 1)
        # rounding can land on a taken (zero-weight) candidate at a segment's
        # end: take the segment's last free candidate instead
        for i in np.flatnonzero(has & (w[j] == 0)):
            free = np.flatnonzero(w[seg_start[i]:seg_end[i]] > 0)
            j[i] = seg_start[i] + free[-1]
        return grp[has], rows[j[has]]


def sample_links(pairs: pl.DataFrame, rng: np.random.Generator,
                 col: str = "probability") -> pl.DataFrame:
    """Draw one set of one-to-one links (see :class:`LinkSampler`)."""
    if pairs.height == 0:
        return pairs
    prev_codes = pairs["previous"].rank("dense").to_numpy().astype(np.int64)
    new_codes = pairs["new"].rank("dense").to_numpy().astype(np.int64)
    sampler = LinkSampler(prev_codes, new_codes, pairs[col].to_numpy())
    return pairs[sampler.draw(rng).tolist()]
