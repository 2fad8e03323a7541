"""The coder-error model reproduces Hui & Walter's (1980) tuberculin-test analysis.

With the two labels ``supporter`` (test positive) and ``non_supporter`` (test
negative), two coders (two diagnostic tests) and two strata (two populations),
:func:`measure.census._coders.fit_coder_model` is the model of Hui & Walter
(1980): one prevalence per population, one sensitivity and one specificity per
test, tests independent given the true state. Two populations give 2 x 3 = 6
degrees of freedom for 6 parameters, so the model is saturated and its maximum
likelihood estimate has a closed form, which Hui & Walter give; one population
gives 3 degrees of freedom for 5 parameters, and the error rates are not
identified.

Data: the Mantoux and Tine tuberculin tests applied to the same persons in two
populations (Hui & Walter 1980, Table 1). The counts below are those reproduced
in two independent public sources: K. Slote, ``kslote1/hui-walter`` on GitHub,
``MLE.ipynb`` ("Reproduction of the original hui-walter paper"), data
``(14, 4, 9, 528, 887, 31, 37, 367)``; and an R Gibbs sampler for "2 tests and 2
populations" in the public GitHub index (``observed1 <- matrix(c(14,4,9,528),
nrow=2, byrow=TRUE)``, rows = test 1 +/-, columns = test 2 +/-). Both list the
cells in the order (test 1 +, test 2 +), (+, -), (-, +), (-, -) with the
Mantoux test as test 1.

The estimates are checked against the closed-form maximum likelihood solution
computed here from the same counts, not against numbers copied from the paper.

References
----------
Hui, S. L., and Walter, S. D. (1980). Estimating the error rates of diagnostic
tests. *Biometrics* 36(1), 167-171.
Dawid, A. P., and Skene, A. M. (1979). Maximum likelihood estimation of observer
error-rates using the EM algorithm. *Applied Statistics* 28(1), 20-28.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from measure.census._coders import (
    LABELS,
    CoderModel,
    _Data,
    _loglik,
    _prepare,
    fit_coder_model,
)

#: Hui & Walter (1980), Table 1: persons by (Mantoux, Tine) result, cells in the
#: order (+, +), (+, -), (-, +), (-, -); population 1 has the low prevalence.
HW_COUNTS: dict[str, tuple[int, int, int, int]] = {
    "population_1": (14, 4, 9, 528),
    "population_2": (887, 31, 37, 367),
}
#: Test results of each cell: (Mantoux positive, Tine positive).
CELLS = ((True, True), (True, False), (False, True), (False, False))
TESTS = ("mantoux", "tine")

#: The EM estimate against the closed form. EM stops when the log-likelihood
#: (about -1208 here) changes by less than 1e-10 of itself; the parameters are
#: then within about 1e-6 of the maximum (measured: 6e-7). 1e-5 is ten times
#: that and five times finer than the fourth decimal of a published table.
TOL_ESTIMATE = 1e-5


def _codes(counts: dict[str, tuple[int, int, int, int]]) -> pl.DataFrame:
    """One row per reading: each person read once by each test."""
    rows: list[tuple[int, str, str, str]] = []
    k = 0
    for stratum, cell_counts in counts.items():
        for results, n in zip(CELLS, cell_counts, strict=True):
            for _ in range(n):
                for test, positive in zip(TESTS, results, strict=True):
                    label = "supporter" if positive else "non_supporter"
                    rows.append((k, stratum, test, label))
                k += 1
    return pl.DataFrame(rows, schema=["account_id", "stratum", "coder", "label"],
                        orient="row")


def _closed_form(counts: dict[str, tuple[int, int, int, int]]
                 ) -> dict[str, np.ndarray]:
    """Hui & Walter's (1980) closed-form maximum likelihood estimate.

    With ``x_k``, ``y_k`` the shares positive on tests 1 and 2 in population
    ``k`` and ``z_k`` the share positive on both, the model gives
    ``Se_2 (x_k - f_1) = z_k - f_1 y_k`` for ``k = 1, 2`` (``f`` = 1 - Sp). Equating
    the two values of ``Se_2`` is a quadratic in ``f_1`` whose two roots are the
    false-positive rate and the sensitivity of test 1 (the label-switched
    solution); the smaller root is the false-positive rate. The same with the
    tests swapped gives ``f_2``, then ``Se_1``, ``Se_2`` and the prevalences
    ``pi_k = (x_k - f_1) / (Se_1 - f_1)``.
    """
    shares = [np.asarray(counts[s], float) / sum(counts[s]) for s in counts]
    x = np.array([p[0] + p[1] for p in shares])
    y = np.array([p[0] + p[2] for p in shares])
    z = np.array([p[0] for p in shares])

    def roots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        a = v[0] - v[1]
        b = z[1] - z[0] + v[1] * u[0] - v[0] * u[1]
        c = z[0] * u[1] - z[1] * u[0]
        disc = b * b - 4 * a * c
        assert disc > 0, "no real solution: the data violate the model"
        return np.sort((-b + np.array([-1.0, 1.0]) * np.sqrt(disc)) / (2 * a))

    r1, r2 = roots(x, y), roots(y, x)
    f1, f2 = r1[0], r2[0]
    se1 = (z[0] - f2 * x[0]) / (y[0] - f2)
    se2 = (z[0] - f1 * y[0]) / (x[0] - f1)
    return {"se": np.array([se1, se2]), "sp": np.array([1 - f1, 1 - f2]),
            "prevalence": (x - f1) / (se1 - f1), "roots": np.array([r1, r2])}


def _confusion(se: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """Confusion matrices ``(n_tests, 2, 3)`` with no ``unclear`` labels."""
    conf = np.zeros((len(se), 2, len(LABELS)))
    conf[:, 1, 0], conf[:, 1, 1] = se, 1 - se
    conf[:, 0, 0], conf[:, 0, 1] = 1 - sp, sp
    return conf


def _vector(m: CoderModel) -> np.ndarray:
    """``(pi_1, pi_2, Se_mantoux, Se_tine, Sp_mantoux, Sp_tine)`` of a fit."""
    return np.concatenate([m.prevalence, [m.sensitivity(t) for t in TESTS],
                           [m.specificity(t) for t in TESTS]])


def _loglik_at(d: _Data, theta: np.ndarray) -> float:
    """Log-likelihood at ``(pi_1, pi_2, Se_1, Se_2, Sp_1, Sp_2)``."""
    return _loglik(d, theta[:2], _confusion(theta[2:4], theta[4:6]))


@pytest.fixture(scope="module")
def hw_fit() -> CoderModel:
    return fit_coder_model(_codes(HW_COUNTS), gold=None)


@pytest.mark.reference
def test_fit_reproduces_the_hui_walter_estimates_of_the_tuberculin_tests(
        hw_fit: CoderModel) -> None:
    m = hw_fit
    assert m.strata == ("population_1", "population_2")
    assert set(m.coders) == set(TESTS)
    assert m.n_accounts == m.n_multi == 555 + 1322
    assert m.converged and m.identified, m.reasons
    assert m.reasons == ()
    ref = _closed_form(HW_COUNTS)
    # the quadratic's other root is the sensitivity: the two solutions are the
    # model and its label-switched twin, and the fit is the one with Se > 1 - Sp
    assert ref["roots"][:, 1] == pytest.approx(ref["se"], abs=1e-12)
    for j, test in enumerate(TESTS):
        assert m.sensitivity(test) == pytest.approx(ref["se"][j], abs=TOL_ESTIMATE)
        assert m.specificity(test) == pytest.approx(ref["sp"][j], abs=TOL_ESTIMATE)
        # no reading was unclear, so the fitted share of unclear labels is nil
        assert m.unclear(test) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert m.prevalence == pytest.approx(ref["prevalence"], abs=TOL_ESTIMATE)
    # the closed form gives: Mantoux Se 0.9661, Sp 0.9933; Tine Se 0.9688,
    # Sp 0.9841; prevalences 0.0268 (population 1) and 0.7168 (population 2)


@pytest.mark.reference
def test_saturated_fit_reproduces_the_observed_cell_shares(
        hw_fit: CoderModel) -> None:
    """Six parameters for six degrees of freedom: the fit returns the data."""
    m = hw_fit
    se = np.array([m.sensitivity(t) for t in TESTS])
    sp = np.array([m.specificity(t) for t in TESTS])
    for stratum, counts in HW_COUNTS.items():
        pi = m.prevalence[m.strata.index(stratum)]
        fitted = []
        for results in CELLS:
            p_pos = np.prod([s if r else 1 - s for s, r in zip(se, results,
                                                              strict=True)])
            p_neg = np.prod([1 - c if r else c for c, r in zip(sp, results,
                                                              strict=True)])
            fitted.append(pi * p_pos + (1 - pi) * p_neg)
        # expected counts within 0.01 persons of the observed counts
        assert np.asarray(fitted) * sum(counts) == pytest.approx(
            np.asarray(counts, float), abs=0.01)


@pytest.mark.reference
def test_one_population_of_two_tests_is_reported_as_not_identified() -> None:
    """Pooling the populations leaves 3 degrees of freedom for 5 parameters."""
    pooled = {"pooled": tuple(a + b for a, b in zip(HW_COUNTS["population_1"],
                                                    HW_COUNTS["population_2"],
                                                    strict=True))}
    codes = _codes(pooled)
    m = fit_coder_model(codes, gold=None)
    assert not m.identified
    assert any("flat" in r for r in m.reasons), m.reasons
    # the fit reaches the saturated multinomial maximum ...
    n = np.asarray(pooled["pooled"], float)
    saturated = float((n * np.log(n / n.sum())).sum())
    assert m.loglik == pytest.approx(saturated, abs=1e-6)
    # ... and so does a different set of error rates: with pi = 0.5 and a
    # Mantoux false-positive rate of 0.002, the other three rates follow from
    # the three free cell shares (x = pi Se_1 + (1 - pi) f_1, y likewise, and
    # z - x y = pi (1 - pi) (Se_1 - f_1) (Se_2 - f_2))
    x, y, z = (n[0] + n[1]) / n.sum(), (n[0] + n[2]) / n.sum(), n[0] / n.sum()
    pi, f1 = 0.5, 0.002
    d1 = (x - f1) / pi
    d2 = (z - x * y) / (pi * (1 - pi) * d1)
    f2 = y - pi * d2
    ridge = np.array([pi, f1 + d1, f2 + d2, 1 - f1, 1 - f2])
    assert np.all((ridge > 0) & (ridge < 1))
    d = _prepare(codes, None, None)
    assert _loglik(d, ridge[:1], _confusion(ridge[1:3], ridge[3:5])) == (
        pytest.approx(saturated, abs=1e-6))
    # a ridge of equally likely solutions, not one estimate
    assert np.abs(ridge - _vector(m)).max() > 0.02


def test_em_estimate_is_a_local_maximum_of_the_likelihood(
        hw_fit: CoderModel) -> None:
    d = _prepare(_codes(HW_COUNTS), None, None)
    assert d.coders == TESTS
    theta = _vector(hw_fit)
    best = _loglik_at(d, theta)
    assert best == pytest.approx(hw_fit.loglik, abs=1e-9)
    step = 1e-3
    # along each parameter, both ways, and along random directions
    directions = [s * e for e in np.eye(6) for s in (1.0, -1.0)]
    rng = np.random.default_rng(20)
    directions += [u / np.linalg.norm(u) for u in rng.normal(size=(20, 6))]
    for u in directions:
        # a step of 1e-3 costs at least ~0.5 * 1e-6 * (information ~ 1e4)
        assert _loglik_at(d, theta + step * u) < best - 1e-4
    # moving probability to ``unclear`` labels that never occur costs too
    conf = hw_fit.confusion.copy()
    conf[:, :, 2] += step
    conf /= conf.sum(axis=2, keepdims=True)
    assert _loglik(d, hw_fit.prevalence, conf) < best - 1e-4


def _observed_se(d: _Data, theta: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Standard errors from the observed information (numerical Hessian)."""
    k = len(theta)
    hess = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            ea, eb = np.eye(k)[a] * h, np.eye(k)[b] * h
            hess[a, b] = hess[b, a] = (
                _loglik_at(d, theta + ea + eb) - _loglik_at(d, theta + ea - eb)
                - _loglik_at(d, theta - ea + eb) + _loglik_at(d, theta - ea - eb)
            ) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-hess)))


def _delta_se(counts: dict[str, tuple[int, int, int, int]],
              h: float = 1e-6) -> np.ndarray:
    """Delta-method standard errors of the closed form (multinomial cells)."""
    names = list(counts)

    def estimate(shares: list[np.ndarray]) -> np.ndarray:
        # the closed form reads shares, so feed it pseudo-counts summing to 1
        cf = _closed_form({s: tuple(p) for s, p in zip(names, shares,
                                                        strict=True)})
        return np.concatenate([cf["prevalence"], cf["se"], cf["sp"]])

    p = [np.asarray(counts[s], float) / sum(counts[s]) for s in names]
    var = np.zeros((6, 6))
    for i, s in enumerate(names):
        jac = np.empty((6, 4))
        for c in range(4):
            up = [q.copy() for q in p]
            dn = [q.copy() for q in p]
            up[i][c] += h
            dn[i][c] -= h
            up[i] /= up[i].sum()
            dn[i] /= dn[i].sum()
            jac[:, c] = (estimate(up) - estimate(dn)) / (2 * h)
        cov = (np.diag(p[i]) - np.outer(p[i], p[i])) / sum(counts[s])
        var += jac @ cov @ jac.T
    return np.sqrt(np.diag(var))


@pytest.mark.reference
def test_observed_information_standard_errors_match_the_delta_method(
        hw_fit: CoderModel) -> None:
    """The likelihood's curvature at the fit gives the closed form's sampling error.

    At a saturated maximum the observed information equals the expected
    information, whose inverse is the delta-method variance of the closed-form
    estimator under multinomial sampling of each population.
    """
    d = _prepare(_codes(HW_COUNTS), None, None)
    se_obs = _observed_se(d, _vector(hw_fit))
    se_delta = _delta_se(HW_COUNTS)
    # measured agreement 1e-4 (relative); 2e-3 allows for the finite-difference
    # steps of both computations and the EM stopping error
    assert se_obs == pytest.approx(se_delta, rel=2e-3)
    # standard errors of a few points or less: the data pin the rates down
    assert np.all(se_obs < 0.03)
