"""The exact quantile bootstrap equals its definition as one array per value.

The bootstrap CDF of a type-1 quantile at distinct value ``v_j`` is
``P(Binomial(n, F_j) >= ceil(q n))``, set to 0 below ``F = q - h`` and to 1 above
``F = q + h`` with ``h = 12 sqrt(max(q (1 - q), 1 / n) / n) + 1 / n``.
``_exact_quantile_boot`` keeps only the values between (no array as long as the
distinct values); the reference builds the whole array. Intervals, standard
errors and replicates drawn with the same generator must be identical.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from measure.describe._stats import _exact_quantile_boot, distinct_counts


def _full_cdf(vals, counts, q, level, B, rng):
    n = int(counts.sum())
    m = max(1, math.ceil(q * n - 1e-9))
    F = np.minimum(np.cumsum(counts) / n, 1.0)
    h = 12 * math.sqrt(max(q * (1 - q), 1.0 / n) / n) + 1.0 / n
    cdf = np.where(F < q - h, 0.0, np.where(F > q + h, 1.0,
                                             stats.binom.sf(m - 1, n, F)))
    cdf[-1] = 1.0
    a = (1 - level) / 2
    k = vals.size
    lo = vals[min(int(np.searchsorted(cdf, a, side="left")), k - 1)]
    hi = vals[min(int(np.searchsorted(cdf, 1 - a, side="left")), k - 1)]
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    mu = float((pmf * vals).sum())
    se = math.sqrt(max(float((pmf * (vals - mu) ** 2).sum()), 0.0))
    reps = vals[np.minimum(np.searchsorted(cdf, rng.random(B), side="left"), k - 1)]
    return (float(lo), float(hi)), se, reps


@pytest.mark.parametrize(("n", "kind"), [(1, "int"), (7, "int"), (40, "cont"),
                                         (2_000, "int"), (2_000, "cont"),
                                         (50_000, "int"), (3, "const")])
def test_windowed_bootstrap_cdf_equals_the_full_cdf(n, kind):
    rng = np.random.default_rng(n)
    x = {"int": np.floor(rng.lognormal(3, 1.5, n)), "cont": rng.gamma(1.2, 3, n),
         "const": np.full(n, 4.0)}[kind]
    vals, counts = distinct_counts(x)
    assert np.array_equal(vals, np.unique(x))
    for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        ci, se, reps = _exact_quantile_boot(vals, counts, q, 0.95, 300,
                                            np.random.default_rng(1))
        ci0, se0, reps0 = _full_cdf(vals, counts, q, 0.95, 300,
                                    np.random.default_rng(1))
        assert ci == ci0
        # the full sum adds terms of zero probability: equal to rounding
        assert se == pytest.approx(se0, rel=1e-12, abs=1e-15)
        assert np.array_equal(reps, reps0)
