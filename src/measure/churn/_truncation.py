"""Checks of the truncation assumption and an age-by-calendar model of suspensions.

Two tools for lifetimes with delayed entry (see :mod:`measure.churn._lifetimes`):

* :func:`tsai_test` -- Tsai's (1990) test of *quasi-independence* of the entry age
  (the account's age when the collection first found it alive) and the suspension
  time. Kaplan--Meier, Turnbull and Cox with delayed entry all assume that discovery
  is unrelated to the hazard; when, say, accounts are discovered *because* they are
  in a campaign that is about to be suspended, that fails and the curves are biased.
* :func:`lexis_split` and :func:`age_period_model` -- every account's time at risk
  is cut into age bands x calendar periods (a Lexis diagram), events and
  account-days are counted per cell, and a Poisson model
  ``log(rate) = age effect + period effect`` with the log account-days as offset is
  fitted. A crackdown (a burst of suspensions in some weeks, whatever the accounts'
  ages) shows as a period effect: rate ratios above 1 for those weeks and a
  likelihood-ratio test of the period effect that rejects.

Tsai's test
-----------
With entry ages ``E``, observed times ``X`` (event or censoring) and event
indicators, a pair ``(i, j)`` is *comparable* when ``max(E_i, E_j) <=
min(X_i, X_j)`` and the smaller ``X`` is an event (with tied times an event is
taken to come before a censoring; two events at the same time are not ordered and
the pair is not counted). The statistic is::

    K = sum over comparable pairs of sign((E_i - E_j) (X_i - X_j)),

and the conditional Kendall's tau is ``tau_c = K / n_comparable`` (Martin &
Betensky 2005). Equivalently ``K = sum_x sum_{k fails at x} sum_{j in R(x)}
sign(E_j - E_k)`` with the risk set ``R(x) = {j : E_j <= x <= X_j}``. Under
quasi-independence (and censoring that does not depend on the suspension time) the
accounts failing at ``x`` are a random draw from ``R(x)`` whatever the entry ages,
so each time contributes a term with mean 0 and the terms are uncorrelated
(martingale differences). Tsai's variance is the sum over event times of the exact
conditional variance: with ``r`` at risk, ``d`` failing and the scores
``c_m = sum_{j in R} sign(E_j - E_m)``, ``var = d (r - d) / (r - 1) * sum_m c_m^2
/ r`` (sampling ``d`` of ``r`` without replacement); without ties in ``E`` and with
``d = 1`` this is Tsai's ``(r^2 - 1) / 3``, and with tie groups of sizes ``t_g``
in ``R``, ``sum_m c_m^2 = (r^3 - sum_g t_g^3) / 3``. ``z = K / sqrt(var)`` is
referred to the standard normal (two-sided).

*Interval censoring.* Suspension times are only known to lie between two look-ups;
the test uses the midpoint (the ``time`` column of the lifetimes). With look-ups a
week apart this dates each event within half a week; pairs whose intervals overlap
may be ordered wrongly, which adds noise and biases ``tau_c`` towards 0 but does not
create an association where there is none.

*Calendar effects.* A change of the hazard in calendar time (a crackdown) also
associates entry age with suspension age: accounts found older were created
earlier and meet the crackdown at other ages. A rejection can therefore mean a
period effect rather than selective discovery; the age-period model below tells
them apart.

*Competing events.* Only ``event == 1`` (suspended, or ``True``) counts as an event;
deletions (``2``) are treated as censoring, so the test concerns the cause-specific
hazard of suspension.

*Cost.* The sums are computed exactly in blocks of event times against the accounts
that can be in their risk sets, ``O(n_events x n)`` operations (about 1.3 s for
50,000 accounts that are all at risk together, less when risk sets are small); the
variance, ties included, takes ``O(n log n)``. Above ``max_n`` accounts (default
50,000) the test runs on a
uniform random subsample of ``max_n`` accounts drawn without replacement with a
fixed seed: a random subsample of independently truncated accounts is itself such a
sample, so the test keeps its level and loses some power (noted in ``warnings``).

Age-period model
----------------
Each account is at risk in calendar time from ``entry_at`` (its first alive
look-up) to ``exit_at`` (the midpoint of its last alive and first terminal look-up
for an event, the last alive look-up when censored: the midpoint dates each
interval-censored event). Its age at calendar time ``t`` is ``t - origin_at``. The
at-risk interval is cut at every calendar period boundary and at every age-band
boundary (both time scales advance together, so the cuts are the union of the two
sets of boundaries along the account's life line: Lexis splitting). An event is
counted in the cell of the account's last piece of time at risk (the cell whose
time ends at ``exit_at``). The Poisson likelihood of the cell counts with the
log account-days as offset is the likelihood of a hazard that is constant within
each age band x period cell (Holford 1980; Laird & Olivier 1981), so the model
``log(rate) = age band + period`` is the piecewise-exponential proportional-hazards
model with two time scales. It has no identification problem (there is no cohort
term). The likelihood-ratio test compares it with the age-only model; rate ratios
are relative to a reference period (by default the one with the most account-days)
with Wald intervals on the log scale.

Assumptions
-----------
* Accounts are independent and the hazard is constant within each cell; the
  Pearson dispersion (``chi2 / df``) is reported: values well above 1 mean
  heterogeneity the model does not capture (intervals then too narrow).
* Events are dated at the midpoint of their look-up interval, so with weekly
  look-ups an event can land in the neighbouring week or age band; a short
  crackdown is smeared over the adjacent periods and its rate ratio attenuated.
* Delayed entry is handled by counting time at risk only from ``entry_at``; this
  again assumes quasi-independent truncation (check it with :func:`tsai_test`).

References
----------
Tsai, W.-Y. (1990). Testing the assumption of independence of truncation time and
failure time. Biometrika 77, 169-177.
Martin, E. C. & Betensky, R. A. (2005). Testing quasi-independence of failure and
truncation times via conditional Kendall's tau. JASA 100, 484-492.
Clayton, D. & Schifflers, E. (1987). Models for temporal variation in cancer rates.
I: Age-period and age-cohort models. Statistics in Medicine 6, 449-467.
Carstensen, B. (2007). Age-period-cohort models for the Lexis diagram. Statistics
in Medicine 26, 3018-3045.
Holford, T. R. (1980). The analysis of rates and of survivorship using log-linear
models. Biometrics 36, 299-305.
Laird, N. & Olivier, D. (1981). Covariance analysis of censored survival data using
log-linear analysis techniques. JASA 76, 231-240.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from measure._results import Estimate

DAY_US = 86_400_000_000
#: Default age bands (lower edges in days; the last band is open-ended).
DEFAULT_AGE_BANDS: tuple[float, ...] = (0.0, 1.0, 7.0, 30.0, 90.0, 365.0)
#: Above this many accounts :func:`tsai_test` runs on a random subsample.
TSAI_MAX_N = 50_000
#: Event times processed together in :func:`tsai_test` (memory ~ block x n bytes).
_BLOCK = 256
#: Upper end of the open last age band, in microseconds (far beyond any lifetime,
#: small enough that origin + this does not overflow int64).
_AGE_INF_US = 2**62
_I64_SAFE = 9.0e18


# ----------------------------------------------------------------------------------
# Tsai's test of quasi-independent truncation
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruncationTest:
    """Tsai's conditional Kendall's tau test of quasi-independent left truncation.

    Attributes
    ----------
    statistic
        ``K``: concordant minus discordant comparable pairs of (entry, time).
    variance
        Tsai's conditional variance of ``K`` under quasi-independence.
    z
        ``K / sqrt(variance)``.
    p_value
        Two-sided normal p-value.
    tau_conditional
        ``K / n_comparable`` (Martin & Betensky's conditional Kendall's tau):
        positive when, among accounts at risk at the same age, those that entered
        older are suspended later (a lower hazard).
    n_comparable
        Number of comparable (ordered) pairs.
    n
        Accounts used (after subsampling).
    n_events
        Events (suspensions) among them.
    n_total
        Accounts given.
    warnings
        Notes such as subsampling or no comparable pairs.
    """

    statistic: float
    variance: float
    z: float
    p_value: float
    tau_conditional: float
    n_comparable: int
    n: int
    n_events: int
    n_total: int
    warnings: tuple[str, ...] = ()

    method = ("Tsai (1990) conditional Kendall's tau test of quasi-independent "
              "truncation")

    def estimate(self, level: float = 0.95) -> Estimate:
        """Return the conditional Kendall's tau as an :class:`Estimate`.

        Tsai's variance holds under the null hypothesis only, so no interval is
        given; ``extra`` carries ``K``, its variance, ``z`` and the p-value.
        """
        term = "truncation:conditional_kendall_tau"
        if not math.isfinite(self.tau_conditional):
            return Estimate.invalid(term, "no comparable pairs of accounts",
                                    method=self.method, level=level, n=self.n)
        nan = float("nan")
        return Estimate(
            term=term, estimate=self.tau_conditional, ci=(nan, nan), level=level,
            method=self.method, n=self.n,
            assumptions=("suspension times dated at the midpoint of their look-up "
                         "interval",
                         "censoring unrelated to the suspension hazard"),
            warnings=self.warnings,
            extra={"K": self.statistic, "variance": self.variance, "z": self.z,
                   "p_value": self.p_value, "n_comparable": self.n_comparable})

    def summary(self) -> str:
        """One-paragraph text summary."""
        lines = [f"{self.method}: tau_c = {self.tau_conditional:+.4f} "
                 f"(K = {self.statistic:.0f}, sd {math.sqrt(self.variance):.1f}, "
                 f"z = {self.z:+.2f}, p = {self.p_value:.3g}); n = {self.n}, "
                 f"events = {self.n_events}, comparable pairs = {self.n_comparable}"]
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def truncation_warning(test: TruncationTest, alpha: float = 0.05) -> str | None:
    """Warning text when Tsai's test rejects quasi-independence, else ``None``.

    Parameters
    ----------
    test
        Result of :func:`tsai_test`.
    alpha
        Significance level.

    Returns
    -------
    str or None
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not math.isfinite(test.p_value) or test.p_value >= alpha:
        return None
    direction = ("at the same age, accounts first found at an older age have the "
                 "lower suspension hazard" if test.tau_conditional > 0 else
                 "at the same age, accounts first found at an older age have the "
                 "higher suspension hazard")
    return (
        "the age at which accounts were first found alive is associated with their "
        f"suspension time ({direction}: conditional Kendall's tau = "
        f"{test.tau_conditional:+.3f}, z = {test.z:+.2f}, p = {test.p_value:.2g}, "
        f"Tsai 1990 test on {test.n} accounts). Kaplan-Meier, Turnbull and Cox "
        "with delayed entry assume discovery is unrelated to the suspension hazard "
        "(quasi-independent truncation); their survival curves may be biased. "
        "Compare curves across strata of the entry age, or state the estimand as "
        "survival after discovery (origin='first_seen').")


def _as_float(x: Any, name: str) -> np.ndarray:
    a = x.to_numpy() if isinstance(x, pl.Series) else np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    try:
        a = a.astype(float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric ({e})") from e
    return a


def _as_event(event: Any, n: int) -> np.ndarray:
    ev = event.to_numpy() if isinstance(event, pl.Series) else np.asarray(event)
    if ev.ndim != 1 or ev.size != n:
        raise ValueError(f"event must be one-dimensional with {n} values, got shape "
                         f"{ev.shape}")
    if ev.dtype == bool:
        return ev
    try:
        evf = ev.astype(float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"event must be boolean or the codes 0/1/2 ({e})") from e
    bad = ~np.isin(evf, (0.0, 1.0, 2.0))
    if bad.any():
        raise ValueError(f"event must be boolean or the codes 0 (censored), 1 "
                         f"(suspended), 2 (deleted); {int(bad.sum())} other values "
                         f"(e.g. {ev[bad][0]!r})")
    return evf == 1.0


def _tsai_core(entry: np.ndarray, time: np.ndarray, ev: np.ndarray
               ) -> tuple[int, float, int]:
    """``K``, its conditional variance and the number of comparable pairs."""
    ev_t = time[ev]
    ev_e = entry[ev]
    if ev_t.size == 0:
        return 0, 0.0, 0
    xs, d = np.unique(ev_t, return_counts=True)
    se, sx = np.sort(entry), np.sort(time)
    # entry <= time for everyone, so {E <= x} minus {X < x} is {E <= x <= X}
    r = (np.searchsorted(se, xs, "right") - np.searchsorted(sx, xs, "left")
         ).astype(np.int64)
    n_comp = int(np.sum(d * (r - d)))
    order = np.argsort(entry, kind="stable")
    e_s, x_s = entry[order], time[order]
    # K: for each event k, (# at risk with larger entry) - (# with smaller entry)
    o = np.argsort(ev_t, kind="stable")
    kt, ke = ev_t[o], ev_e[o]
    k_sum = 0
    for a in range(0, kt.size, _BLOCK):
        xb, eb = kt[a:a + _BLOCK, None], ke[a:a + _BLOCK, None]
        hi = int(np.searchsorted(e_s, xb[-1, 0], "right"))
        keep = x_s[:hi] >= xb[0, 0]
        ej, xj = e_s[:hi][keep], x_s[:hi][keep]
        m = (ej <= xb) & (xj >= xb)
        k_sum += int(np.count_nonzero(m & (ej > eb))) - int(
            np.count_nonzero(m & (ej < eb)))
    # sum over the tie groups of the entry ages in R(x) of t^3: with a group's
    # members ranked k = 1, 2, ... by decreasing time, t_g(x)^3 - t_g(x) =
    # sum_k 3 k (k - 1) [E_g <= x <= X_(k)], a weighted count of intervals
    # containing x
    _, inv, cnt = np.unique(entry, return_inverse=True, return_counts=True)
    tied = cnt[inv] > 1
    sum_t3 = r.astype(float)  # every member its own group
    if tied.any():
        g, et, xt = inv[tied], entry[tied], time[tied]
        og = np.lexsort((-xt, g))
        gs = g[og]
        first = np.r_[True, gs[1:] != gs[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(gs.size), 0))
        k = (np.arange(gs.size) - start + 1).astype(float)
        w = 3.0 * k * (k - 1.0)
        et, xt = et[og], xt[og]
        oe, ox = np.argsort(et, kind="stable"), np.argsort(xt, kind="stable")
        cw_e = np.r_[0.0, np.cumsum(w[oe])]
        cw_x = np.r_[0.0, np.cumsum(w[ox])]
        sum_t3 += (cw_e[np.searchsorted(et[oe], xs, "right")]
                   - cw_x[np.searchsorted(xt[ox], xs, "left")])
    rf = r.astype(float)
    df = d.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(r > 1, df * (rf - df) / (rf - 1) * (rf**3 - sum_t3) / (3 * rf),
                     0.0)
    return k_sum, float(v.sum()), n_comp


def tsai_test(entry: Any, time: Any, event: Any, *, max_n: int = TSAI_MAX_N,
              seed: int = 0) -> TruncationTest:
    """Tsai's (1990) test that entry age and suspension time are quasi-independent.

    Parameters
    ----------
    entry
        Age at entry (delayed entry, left truncation), e.g. the ``entry`` column of
        :class:`~measure.churn.Lifetimes` (days since origin).
    time
        Exit age: the event time (the midpoint of the look-up interval for
        interval-censored suspensions, the ``time`` column) or the censoring time.
        Must be ``>= entry``.
    event
        ``True``/``1`` for a suspension; ``False``/``0`` (censored) and ``2``
        (deleted, a competing event) are treated as censoring.
    max_n
        Above this many accounts the test runs on a uniform random subsample of
        ``max_n`` accounts (without replacement), noted in ``warnings``.
    seed
        Seed of the subsample.

    Returns
    -------
    TruncationTest
        ``K``, its variance, ``z``, the two-sided p-value, the conditional Kendall's
        tau and the number of comparable pairs (see the module docstring).
    """
    e = _as_float(entry, "entry")
    t = _as_float(time, "time")
    if e.size != t.size:
        raise ValueError(f"entry and time must have the same length, got {e.size} "
                         f"and {t.size}")
    ev = _as_event(event, e.size)
    if not (np.isfinite(e).all() and np.isfinite(t).all()):
        raise ValueError("entry and time must be finite (give the last alive "
                         "look-up, not inf, as the time of censored accounts)")
    late = e > t
    if late.any():
        raise ValueError(f"{int(late.sum())} accounts have entry after time; every "
                         "account must enter (be found alive) before it exits")
    if not (isinstance(max_n, int | np.integer) and max_n >= 2):
        raise ValueError(f"max_n must be an integer >= 2, got {max_n!r}")
    notes: list[str] = []
    n_total = e.size
    if n_total > max_n:
        keep = np.sort(np.random.default_rng(seed).choice(n_total, size=int(max_n),
                                                          replace=False))
        e, t, ev = e[keep], t[keep], ev[keep]
        notes.append(f"Tsai's test ran on a uniform random subsample of {max_n} of "
                     f"{n_total} accounts (seed {seed}); the level is kept, the "
                     "power is that of the subsample")
    k, var, n_comp = _tsai_core(e, t, ev)
    nan = float("nan")
    if n_comp == 0 or var <= 0:
        notes.append("no comparable pairs (no event while two accounts were at "
                     "risk); the test does not apply")
        return TruncationTest(statistic=float(k), variance=var, z=nan, p_value=nan,
                              tau_conditional=nan, n_comparable=n_comp, n=e.size,
                              n_events=int(ev.sum()), n_total=n_total,
                              warnings=tuple(notes))
    z = k / math.sqrt(var)
    return TruncationTest(statistic=float(k), variance=var, z=z,
                          p_value=float(2 * stats.norm.sf(abs(z))),
                          tau_conditional=k / n_comp, n_comparable=n_comp,
                          n=e.size, n_events=int(ev.sum()), n_total=n_total,
                          warnings=tuple(notes))


# ----------------------------------------------------------------------------------
# Lexis splitting
# ----------------------------------------------------------------------------------


def _to_us(x: Any, name: str) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (naive times read as UTC)."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.datetime64):
        a = x.astype("datetime64[us]")
        if np.isnat(a).any():
            raise ValueError(f"{name} has {int(np.isnat(a).sum())} missing times")
        return a.astype(np.int64)
    s = x if isinstance(x, pl.Series) else pl.Series(name, list(x))
    if s.dtype == pl.Date:
        s = s.cast(pl.Datetime("us"))
    if not isinstance(s.dtype, pl.Datetime):
        raise ValueError(f"{name} must hold timestamps (polars Datetime, numpy "
                         f"datetime64 or datetime objects), got {s.dtype}")
    if s.null_count():
        raise ValueError(f"{name} has {s.null_count()} missing times")
    return s.dt.epoch("us").to_numpy().astype(np.int64)


def _period_bounds(lo_us: int, hi_us: int, period: str | Sequence[Any]
                   ) -> tuple[np.ndarray, list[str]]:
    """Boundaries (int64 us) covering ``[lo, hi]`` and the label of each period."""
    if isinstance(period, str):
        lo = np.datetime64(int(lo_us), "us")
        hi = np.datetime64(int(hi_us), "us")
        if period == "month":
            m = np.arange(lo.astype("datetime64[M]"),
                          hi.astype("datetime64[M]") + np.timedelta64(2, "M"))
            b = m.astype("datetime64[us]").astype(np.int64)
            labels = [str(v) for v in m[:-1]]
        elif period in ("week", "day"):
            d0 = lo.astype("datetime64[D]").astype(np.int64)
            if period == "week":  # ISO weeks start on Monday; 1970-01-01 a Thursday
                d0 -= (d0 + 3) % 7
            step = 7 if period == "week" else 1
            hd = hi.astype("datetime64[D]").astype(np.int64)
            days = np.arange(d0, hd + step + 1, step)  # last boundary after hi
            b = days * DAY_US
            labels = [str(v) for v in days[:-1].astype("datetime64[D]")]
        else:
            raise ValueError(f"period must be 'day', 'week', 'month' or a sequence "
                             f"of boundary timestamps, got {period!r}")
        return b, labels
    b = _to_us(period if isinstance(period, np.ndarray | pl.Series) else
               list(period), "period boundaries")
    if b.size < 2 or np.any(np.diff(b) <= 0):
        raise ValueError("period boundaries must be at least two strictly "
                         "increasing timestamps")
    if b[0] > lo_us or b[-1] < hi_us:
        raise ValueError(
            "the period boundaries must cover all time at risk: from the earliest "
            f"entry ({np.datetime64(int(lo_us), 'us')}) to the latest exit "
            f"({np.datetime64(int(hi_us), 'us')}), got "
            f"{np.datetime64(int(b[0]), 'us')} to {np.datetime64(int(b[-1]), 'us')}")
    labels = [str(v) for v in b[:-1].astype("datetime64[us]")]
    return b, labels


def _age_edges(age_bands: Sequence[float]) -> tuple[np.ndarray, list[str]]:
    a = np.asarray(age_bands, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("age_bands must be a non-empty sequence of lower edges in "
                         "days, starting at 0")
    if a.size > 1 and np.isinf(a[-1]):
        a = a[:-1]  # an explicit open upper end
    if not np.isfinite(a).all() or a[0] != 0 or np.any(np.diff(a) <= 0):
        raise ValueError(f"age_bands must be strictly increasing finite lower edges "
                         f"in days starting at 0 (the last band is open-ended), got "
                         f"{list(age_bands)!r}")
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(a[:-1], a[1:], strict=True)]
    labels.append(f"{a[-1]:g}+")
    return a, labels


def lexis_split(entry_at: Any, exit_at: Any, origin_at: Any, event: Any, *,
                age_bands: Sequence[float] = DEFAULT_AGE_BANDS,
                period: str | Sequence[Any] = "week",
                aggregate: bool = True) -> pl.DataFrame:
    """Split every account's time at risk into age bands x calendar periods.

    Parameters
    ----------
    entry_at, exit_at, origin_at
        Calendar timestamps per account (polars Datetime, numpy datetime64 or
        ``datetime`` objects; naive ones are read as UTC): start and end of the time
        at risk and the origin of age (the ``entry_at``, ``exit_at`` and
        ``origin_at`` columns of :class:`~measure.churn.Lifetimes`, where
        ``exit_at`` is the midpoint of the look-up interval for events). An origin
        after the entry is moved to the entry (age 0 at entry), as the lifetimes'
        day counts are clipped at 0.
    event
        ``True``/``1`` for a suspension at ``exit_at``; ``False``/``0``
        (censored) and ``2`` (deleted) end the time at risk without an event.
    age_bands
        Lower edges of the age bands in days, starting at 0; the last band is
        open-ended. Default ``0-1, 1-7, 7-30, 30-90, 90-365, 365+`` days.
    period
        ``"week"`` (ISO weeks, Monday 00:00 UTC), ``"month"``, ``"day"``, or a
        sequence of boundary timestamps covering all time at risk.
    aggregate
        ``True``: one row per cell; ``False``: one row per piece of an account's
        time at risk.

    Returns
    -------
    polars.DataFrame
        With ``aggregate``: ``period, period_start, period_end, age_band,
        age_start, age_end`` (days; ``inf`` for the open band), ``events``,
        ``person_time_us`` (exact integer microseconds at risk), ``person_days``,
        sorted by period then age; only cells with time at risk or events appear.
        Without: ``account`` (row position in the input), ``period``,
        ``age_band``, ``start``, ``end``, ``person_time_us``, ``event`` (0/1; on
        the account's last piece).
    """
    ent = _to_us(entry_at, "entry_at")
    ext = _to_us(exit_at, "exit_at")
    org = _to_us(origin_at, "origin_at")
    n = ent.size
    if ext.size != n or org.size != n:
        raise ValueError(f"entry_at, exit_at and origin_at must have the same "
                         f"length, got {n}, {ext.size} and {org.size}")
    ev = _as_event(event, n)
    if n == 0:
        raise ValueError("no accounts to split")
    back = ext < ent
    if back.any():
        raise ValueError(f"{int(back.sum())} accounts exit before they enter; "
                         "exit_at must be >= entry_at")
    org = np.minimum(org, ent)
    a_days, a_labels = _age_edges(age_bands)
    a_us = np.round(a_days * DAY_US).astype(np.int64)
    a_ext = np.r_[a_us, _AGE_INF_US]
    b, p_labels = _period_bounds(int(ent.min()), int(ext.max()), period)
    # pieces: account x period
    k0 = np.searchsorted(b, ent, "right") - 1
    k1 = np.maximum(np.searchsorted(b, ext, "left") - 1, k0)
    n_p = k1 - k0 + 1
    acc = np.repeat(np.arange(n), n_p)
    pos = np.arange(acc.size) - np.repeat(np.cumsum(n_p) - n_p, n_p)
    pk = k0[acc] + pos
    s = np.maximum(ent[acc], b[pk])
    e = np.minimum(ext[acc], b[pk + 1])
    o = org[acc]
    # split each piece at the age-band boundaries
    j0 = np.searchsorted(a_us, s - o, "right") - 1
    j1 = np.maximum(np.searchsorted(a_us, e - o, "left") - 1, j0)
    n_a = j1 - j0 + 1
    piece = np.repeat(np.arange(acc.size), n_a)
    pos2 = np.arange(piece.size) - np.repeat(np.cumsum(n_a) - n_a, n_a)
    aj = j0[piece] + pos2
    seg_s = np.maximum(s[piece], o[piece] + a_ext[aj])
    seg_e = np.minimum(e[piece], o[piece] + a_ext[aj + 1])
    seg_acc = acc[piece]
    seg_k = pk[piece]
    dur = seg_e - seg_s
    # the last piece of each account carries its event
    last = np.cumsum(np.bincount(seg_acc, minlength=n)) - 1
    seg_ev = np.zeros(seg_acc.size, dtype=np.int64)
    seg_ev[last[ev]] = 1
    n_age = a_us.size
    if not aggregate:
        return pl.DataFrame({
            "account": seg_acc.astype(np.int64),
            "period": pl.Series(p_labels, dtype=pl.Utf8).gather(seg_k),
            "age_band": pl.Series(a_labels, dtype=pl.Utf8).gather(aj),
            "start": pl.Series(seg_s, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "end": pl.Series(seg_e, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "person_time_us": dur.astype(np.int64),
            "event": seg_ev,
        })
    cell = seg_k.astype(np.int64) * n_age + aj
    n_cell = (b.size - 1) * n_age
    approx = np.bincount(cell, weights=dur.astype(float), minlength=n_cell)
    if approx.max(initial=0.0) > _I64_SAFE:
        raise ValueError("more than 100 million account-days in one cell: exact "
                         "microsecond sums would overflow; use shorter periods")
    agg = (pl.DataFrame({"cell": cell, "dur": dur, "ev": seg_ev})
           .group_by("cell").agg(pl.col("dur").sum().alias("person_time_us"),
                                 pl.col("ev").sum().alias("events"))
           .sort("cell"))
    c = agg["cell"].to_numpy()
    kk, jj = c // n_age, c % n_age
    a_hi = np.r_[a_days[1:], np.inf]
    return pl.DataFrame({
        "period": pl.Series(p_labels, dtype=pl.Utf8).gather(kk),
        "period_start": pl.Series(b[kk], dtype=pl.Int64).cast(
            pl.Datetime("us", "UTC")),
        "period_end": pl.Series(b[kk + 1], dtype=pl.Int64).cast(
            pl.Datetime("us", "UTC")),
        "age_band": pl.Series(a_labels, dtype=pl.Utf8).gather(jj),
        "age_start": a_days[jj],
        "age_end": a_hi[jj],
        "events": agg["events"].cast(pl.Int64),
        "person_time_us": agg["person_time_us"].cast(pl.Int64),
        "person_days": agg["person_time_us"].to_numpy() / DAY_US,
    })


# ----------------------------------------------------------------------------------
# Age-period Poisson model
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgePeriodResult:
    """Poisson age-period model of the suspension rate.

    Attributes
    ----------
    rate_ratios
        Per period: ``period, period_start, events, person_days, rate_ratio,
        ci_low, ci_high, log_rr, std_error, reference``. Relative to the
        reference period, adjusted for age. A period without events has rate
        ratio 0, ``std_error`` ``nan`` and an exact Poisson upper limit computed
        with the other effects held at their estimates.
    age_rate_ratios
        The same per age band (adjusted for period).
    lr_statistic, lr_df, lr_p_value
        Likelihood-ratio test of the period effect (age + period vs age only).
    deviance, deviance_age_only
        Residual deviances of the two models.
    df_resid
        Residual degrees of freedom of the age + period model.
    dispersion
        Pearson chi-square / ``df_resid`` of the age + period model.
    fitted
        The cell table with ``fitted_events``, ``rate`` and ``fitted_rate`` (per
        account-day).
    reference_period, reference_age
        Labels of the reference levels.
    level
        Confidence level.
    warnings
        Notes (cells dropped, levels without events, a single period).
    """

    rate_ratios: pl.DataFrame
    age_rate_ratios: pl.DataFrame
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    deviance: float
    deviance_age_only: float
    df_resid: int
    dispersion: float
    fitted: pl.DataFrame
    reference_period: str
    reference_age: str
    level: float
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    method = ("Poisson age-period model, log account-days offset (Clayton & "
              "Schifflers 1987), Lexis-split exposure")

    def estimates(self) -> list[Estimate]:
        """One :class:`Estimate` per non-reference period rate ratio."""
        out = []
        for row in self.rate_ratios.filter(~pl.col("reference")).iter_rows(
                named=True):
            out.append(Estimate(
                term=f"period_rate_ratio:{row['period']}",
                estimate=float(row["rate_ratio"]),
                ci=(float(row["ci_low"]), float(row["ci_high"])), level=self.level,
                std_error=float(row["std_error"]), method=self.method,
                n=int(row["events"]),
                assumptions=("hazard constant within each age band x period cell",
                             "events dated at the midpoint of their look-up "
                             "interval"),
                warnings=self.warnings,
                extra={"reference_period": self.reference_period}))
        return out

    def summary(self) -> str:
        """Text table of the period rate ratios and the LR test."""
        lines = [f"{self.method}: LR test of the period effect {self.lr_statistic:.2f}"
                 f" on {self.lr_df} df, p = {self.lr_p_value:.3g}; deviance "
                 f"{self.deviance:.1f} on {self.df_resid} df (dispersion "
                 f"{self.dispersion:.2f}); reference period {self.reference_period}"]
        for row in self.rate_ratios.iter_rows(named=True):
            ref = "  (reference)" if row["reference"] else ""
            lines.append(f"  {row['period']:<20} events {row['events']:>7}  RR "
                         f"{row['rate_ratio']:.3f} [{row['ci_low']:.3f}, "
                         f"{row['ci_high']:.3f}]{ref}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


_TABLE_COLUMNS = ("period", "age_band", "events", "person_days")


def _dummies(codes: np.ndarray, n_levels: int, ref: int) -> np.ndarray:
    cols = [k for k in range(n_levels) if k != ref]
    return (codes[:, None] == np.asarray(cols)[None, :]).astype(float)


def _exp(x: float) -> float:
    """``exp(x)``, infinite past the largest float instead of raising."""
    return math.exp(x) if x < 709.0 else math.inf


def _effects(labels: list[str], events: np.ndarray, pdays: np.ndarray,
             coef: dict[int, tuple[float, float]], ref: int, upper0: np.ndarray,
             z: float) -> dict[str, Any]:
    lrr, se, rr, lo, hi = [], [], [], [], []
    for k in range(len(labels)):
        if k == ref:
            b, s = 0.0, 0.0
        elif k in coef:
            b, s = coef[k]
        else:  # no events: the estimate is 0, the upper limit exact Poisson
            lrr.append(-math.inf)
            se.append(math.nan)
            rr.append(0.0)
            lo.append(0.0)
            hi.append(float(upper0[k]))
            continue
        lrr.append(b)
        se.append(s)
        # a period with very few events can have a standard error of hundreds on
        # the log scale: its limits are then 0 and infinity, not an overflow
        rr.append(_exp(b))
        lo.append(_exp(b - z * s))
        hi.append(_exp(b + z * s))
    return {"events": events, "person_days": pdays, "rate_ratio": rr,
            "ci_low": lo, "ci_high": hi, "log_rr": lrr, "std_error": se,
            "reference": [k == ref for k in range(len(labels))]}


def age_period_model(table: pl.DataFrame, *, reference_period: str | None = None,  # noqa: C901
                     level: float = 0.95) -> AgePeriodResult:
    """Fit ``log(rate) = age band + period`` to a Lexis table by Poisson regression.

    Parameters
    ----------
    table
        Output of :func:`lexis_split` (or any table with ``period``, ``age_band``,
        ``events`` and ``person_days``, one row per cell).
    reference_period
        Period label the rate ratios are relative to; default the period with
        events that has the most account-days. With midpoint-dated events a
        crackdown leaks into the neighbouring periods (in a simulation with weekly
        look-ups the rate in the weeks next to a two-week crackdown rose by about
        a quarter), so choose a reference period away from a suspected crackdown.
    level
        Confidence level of the rate-ratio intervals.

    Returns
    -------
    AgePeriodResult
    """
    import statsmodels.api as sm

    if not isinstance(table, pl.DataFrame):
        raise ValueError("table must be a polars DataFrame from lexis_split")
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; give the output of "
                         "lexis_split")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    notes: list[str] = []
    tab = table
    y_all = tab["events"].cast(pl.Float64).to_numpy()
    pd_all = tab["person_days"].cast(pl.Float64).to_numpy()
    if (np.isnan(y_all).any() or np.isnan(pd_all).any() or (y_all < 0).any()
            or (pd_all < 0).any()):
        raise ValueError("events and person_days must be non-negative numbers")
    zero = pd_all <= 0
    if zero.any():
        lost = int(y_all[zero].sum())
        notes.append(f"{int(zero.sum())} cells without time at risk dropped"
                     + (f" (with {lost} events)" if lost else ""))
        tab = tab.filter(~pl.Series(zero))
    if tab.height == 0 or tab["events"].sum() == 0:
        raise ValueError("no events with time at risk; there is no rate to model")
    sort_cols = [c for c in ("period_start", "period") if c in tab.columns]
    per_order = (tab.group_by("period").agg(pl.col(sort_cols[0]).min().alias("_o"))
                 .sort("_o")["period"].to_list())
    age_sort = "age_start" if "age_start" in tab.columns else "age_band"
    age_order = (tab.group_by("age_band").agg(pl.col(age_sort).min().alias("_o"))
                 .sort("_o")["age_band"].to_list())
    pcode = tab["period"].replace_strict(per_order, list(range(len(per_order))),
                                         return_dtype=pl.Int64).to_numpy()
    acode = tab["age_band"].replace_strict(age_order, list(range(len(age_order))),
                                           return_dtype=pl.Int64).to_numpy()
    y = tab["events"].cast(pl.Float64).to_numpy()
    pdays = tab["person_days"].cast(pl.Float64).to_numpy()
    n_p, n_a = len(per_order), len(age_order)
    p_ev = np.bincount(pcode, weights=y, minlength=n_p)
    p_pd = np.bincount(pcode, weights=pdays, minlength=n_p)
    a_ev = np.bincount(acode, weights=y, minlength=n_a)
    a_pd = np.bincount(acode, weights=pdays, minlength=n_a)
    if reference_period is None:
        ref_p = int(np.argmax(np.where(p_ev > 0, p_pd, -1.0)))
    else:
        if reference_period not in per_order:
            raise ValueError(f"reference_period {reference_period!r} is not a "
                             f"period of the table; periods: {per_order}")
        ref_p = per_order.index(reference_period)
        if p_ev[ref_p] == 0:
            raise ValueError(f"the reference period {reference_period!r} has no "
                             "events; choose one with events")
    ref_a = int(np.argmax(np.where(a_ev > 0, a_pd, -1.0)))
    # levels without events have estimates at -inf: their cells are fitted exactly
    # (mean 0, deviance 0) and leave the other estimates unchanged, so they are
    # left out of the fits that contain their parameter
    a_ok = a_ev[acode] > 0
    p_ok = p_ev[pcode] > 0
    for name, lab, ev_ in (("age bands", age_order, a_ev), ("periods", per_order,
                                                            p_ev)):
        none = [lab[k] for k in range(len(lab)) if ev_[k] == 0]
        if none:
            notes.append(f"{name} without events (rate ratio 0): "
                         + ", ".join(map(str, none)))
    off = np.log(np.where(pdays > 0, pdays, 1.0))
    x_age = _dummies(acode, n_a, ref_a)
    x_per = _dummies(pcode, n_p, ref_p)
    keep_age_cols = [k for k in range(n_a) if k != ref_a and a_ev[k] > 0]
    keep_per_cols = [k for k in range(n_p) if k != ref_p and p_ev[k] > 0]
    ia = [i for i, k in enumerate(k for k in range(n_a) if k != ref_a)
          if k in keep_age_cols]
    ip = [i for i, k in enumerate(k for k in range(n_p) if k != ref_p)
          if k in keep_per_cols]
    ones = np.ones((y.size, 1))
    m0 = a_ok
    x0 = np.hstack([ones, x_age[:, ia]])[m0]
    fit0 = sm.GLM(y[m0], x0, family=sm.families.Poisson(), offset=off[m0]).fit()
    m1 = a_ok & p_ok
    x1 = np.hstack([ones, x_age[:, ia], x_per[:, ip]])[m1]
    fit1 = sm.GLM(y[m1], x1, family=sm.families.Poisson(), offset=off[m1]).fit()
    periods_in_null = np.unique(pcode[m0]).size
    lr_df = periods_in_null - 1
    lr = max(float(fit0.deviance - fit1.deviance), 0.0)
    if lr_df > 0:
        lr_p = float(stats.chi2.sf(lr, lr_df))
    else:
        lr_p = math.nan
        notes.append("a single period: no period effect to test")
    b1, s1 = np.asarray(fit1.params), np.asarray(fit1.bse)
    intercept = float(b1[0])
    age_coef = {k: (float(b1[1 + i]), float(s1[1 + i]))
                for i, k in enumerate(keep_age_cols)}
    per_coef = {k: (float(b1[1 + len(ia) + i]), float(s1[1 + len(ia) + i]))
                for i, k in enumerate(keep_per_cols)}
    a_eff = np.full(n_a, -np.inf)
    p_eff = np.full(n_p, -np.inf)
    a_eff[ref_a] = 0.0
    p_eff[ref_p] = 0.0
    for k, (b, _) in age_coef.items():
        a_eff[k] = b
    for k, (b, _) in per_coef.items():
        p_eff[k] = b
    with np.errstate(over="ignore"):
        mu = np.exp(intercept + a_eff[acode] + p_eff[pcode]) * pdays
    # expected events of a level without events if its rate ratio were 1
    q = -math.log((1 - level) / 2)  # exact Poisson upper limit for 0 events
    with np.errstate(divide="ignore"):
        e_p = np.bincount(pcode, weights=np.exp(intercept + a_eff[acode]) * pdays,
                          minlength=n_p)
        e_a = np.bincount(acode, weights=np.exp(intercept + p_eff[pcode]) * pdays,
                          minlength=n_a)
        up_p = np.where(e_p > 0, q / e_p, np.inf)
        up_a = np.where(e_a > 0, q / e_a, np.inf)
    z = float(stats.norm.ppf(0.5 + level / 2))
    starts = (tab.group_by("period").agg(pl.col("period_start").min())
              if "period_start" in tab.columns else None)
    rr = pl.DataFrame({"period": per_order,
                       **_effects(per_order, p_ev.astype(np.int64), p_pd, per_coef,
                                  ref_p, up_p, z)})
    if starts is not None:
        rr = rr.join(starts, on="period", how="left").select(
            "period", "period_start", *[c for c in rr.columns if c != "period"])
    arr = pl.DataFrame({"age_band": age_order,
                        **_effects(age_order, a_ev.astype(np.int64), a_pd, age_coef,
                                   ref_a, up_a, z)})
    with np.errstate(divide="ignore", invalid="ignore"):
        fitted = tab.with_columns(
            pl.Series("fitted_events", mu),
            pl.Series("rate", y / pdays),
            pl.Series("fitted_rate", mu / pdays))
    df_resid = int(fit1.df_resid)
    disp = float(fit1.pearson_chi2 / df_resid) if df_resid > 0 else math.nan
    return AgePeriodResult(
        rate_ratios=rr, age_rate_ratios=arr, lr_statistic=lr, lr_df=int(lr_df),
        lr_p_value=lr_p, deviance=float(fit1.deviance),
        deviance_age_only=float(fit0.deviance), df_resid=df_resid, dispersion=disp,
        fitted=fitted, reference_period=str(per_order[ref_p]),
        reference_age=str(age_order[ref_a]), level=level, warnings=tuple(notes),
        extra={"n_cells": int(tab.height), "events": int(y.sum()),
               "person_days": float(pdays.sum())})
