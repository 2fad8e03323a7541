"""The memory-lean paths of linking give the values of the plain ones.

At 1M suspended x 2M new accounts the linker holds tens of millions of candidate
pairs; it keeps their comparison levels as int8, builds the pattern codes one
column at a time, lets DuckDB sort the one-deletion join rows, and has DuckDB's
allocator return freed memory while it runs. These tests check each against the
straightforward computation (exact equality: the same arithmetic on the same
integers) and that the connection's allocator setting is left as found.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import measure
from measure.resurrection import _analyze as A
from measure.resurrection import analyze
from measure.resurrection._blocking import (
    AllocatorPurging,
    nearest_distinct,
    run_positions,
)
from measure.resurrection._features import COMPARISONS
from measure.resurrection._fellegi_sunter import GroupedEM, _pattern_codes


def _levels(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random levels (-1 = missing) of every comparison, as int8."""
    return np.column_stack([rng.integers(-1, len(c.levels), n)
                            for c in COMPARISONS]).astype(np.int8)


def test_pattern_codes_with_a_stratum_column_are_the_distinct_stacked_rows() -> None:
    rng = np.random.default_rng(5)
    bins = _levels(rng, 20_000)
    stratum = rng.integers(0, 6, bins.shape[0])
    stacked = np.column_stack([bins.astype(np.int64), stratum])
    pats, inv, counts = _pattern_codes(bins, stratum)
    # the distinct rows in lexicographic order (np.unique on rows), each row's
    # pattern and the rows per pattern
    want, want_inv, want_counts = np.unique(stacked, axis=0, return_inverse=True,
                                            return_counts=True)
    assert pats.dtype == np.int64
    assert np.array_equal(pats, want)
    assert np.array_equal(inv, want_inv.reshape(-1))
    assert np.array_equal(counts, want_counts.astype(np.float64))
    assert np.array_equal(pats[inv], stacked)
    # int64 levels and the stacked array give the same codes
    for other in (_pattern_codes(bins.astype(np.int64), stratum),
                  _pattern_codes(stacked)):
        assert all(np.array_equal(a, b) for a, b in zip(other, (pats, inv, counts),
                                                        strict=True))


def test_grouped_em_fits_int8_levels_exactly_as_int64_levels() -> None:
    rng = np.random.default_rng(8)
    n_groups = 3000
    sizes = rng.integers(1, 12, n_groups)
    group = np.repeat(np.arange(n_groups), sizes)
    bins = _levels(rng, group.size)
    bins[rng.random(group.size) < 0.1, 0] = len(COMPARISONS[0].levels) - 1
    r_bins = _levels(rng, 20_000)
    strata = rng.integers(0, 6, n_groups)
    r_strata = strata[rng.integers(0, n_groups, r_bins.shape[0])]
    fits = []
    for b in (bins, bins.astype(np.int64)):
        em = GroupedEM(b, group, n_cand=sizes * 20.0, random_bins=r_bins,
                       n_window_pairs=float(sizes.sum() * 20),
                       u_strata={"handle": (strata, r_strata)})
        model = em.fit()
        fits.append((model, em.predict(model)))
    (m8, p8), (m64, p64) = fits
    assert m8.lam == m64.lam and m8.n_iter == m64.n_iter
    for name in m8.m:
        assert np.array_equal(m8.m[name], m64.m[name])
        assert np.array_equal(m8.u[name], m64.u[name])
    assert np.array_equal(p8, p64)


def _nearest_reference(rows: list[tuple[int, int, float]], per_key: int
                       ) -> set[tuple[int, int]]:
    """``row_number() OVER (PARTITION BY previous ORDER BY dist, new) <= per_key``
    then the distinct pairs, row by row."""
    out, seen = set(), {}
    for prev, new, _dist in sorted(rows, key=lambda r: (r[0], r[2], r[1])):
        seen[prev] = seen.get(prev, 0) + 1
        if seen[prev] <= per_key:
            out.add((prev, new))
    return out


def test_nearest_distinct_of_presorted_rows_keeps_the_pairs_of_the_sql_rule() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    prev = rng.integers(0, 60, n)
    new = rng.integers(1000, 1400, n)
    # a pair's distance is fixed (the new account's creation time): a pair
    # sharing several keys repeats with the same distance
    dist = (new * 7919 % 997).astype(np.float64)
    j = pl.DataFrame({"previous": prev, "new": new, "dist": dist})
    want = _nearest_reference(list(j.iter_rows()), 5)
    shuffled = nearest_distinct(j, 5)
    presorted = nearest_distinct(j.sort("previous", "dist", "new"), 5,
                                 presorted=True)
    assert set(shuffled.iter_rows()) == want
    assert set(presorted.iter_rows()) == want
    assert presorted.height == len(want)


def test_run_positions_count_rows_within_each_run() -> None:
    pos = run_positions(pl.Series([4, 4, 4, 7, 9, 9]))
    assert pos.dtype == np.int32
    assert pos.tolist() == [0, 1, 2, 0, 0, 1]
    assert run_positions(pl.Series([], dtype=pl.Int64)).size == 0


def _background_threads(con) -> bool:
    v = con.execute("SELECT current_setting('allocator_background_threads')"
                    ).fetchone()[0]
    return str(v).lower() in ("true", "1")


@pytest.mark.parametrize("before", [False, True])
def test_analyze_purges_freed_memory_and_restores_the_setting(tiny, monkeypatch,
                                                              before) -> None:
    seen = []
    score = A.score

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(_background_threads(ds.con))
        return score(*args, **kwargs)

    monkeypatch.setattr(A, "score", spy)
    with measure.open(tiny) as ds:
        ds.con.execute(f"SET allocator_background_threads = {str(before).lower()}")
        analyze(ds, n_boot=5, n_imputations=2)
        assert seen == [True]  # on while the stages ran
        assert _background_threads(ds.con) is before
        ds.con.execute("SET allocator_background_threads = false")


def test_allocator_purging_restores_the_setting_after_an_error(tiny) -> None:
    with measure.open(tiny) as ds:
        ds.con.execute("SET allocator_background_threads = false")
        with pytest.raises(RuntimeError, match="inside"), AllocatorPurging(ds.con):
            assert _background_threads(ds.con)
            raise RuntimeError("inside")
        assert not _background_threads(ds.con)
