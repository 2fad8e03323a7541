"""Coding-sample planner: how many accounts to code, and to double-code, per stratum.

The census headline is the Rogan-Gladen total over the posterior of a latent-class
model of the coded labels (:func:`measure.census._coders.sample_posterior`,
:func:`measure.census._analyze.headline_draws`). Its width depends on how
many accounts are coded in each stratum and how many of them a second coder reads:
in large strata with few supporters, most ``supporter`` labels are coder false
positives, and only accounts read twice tell them apart from supporters.

The planner sizes the sample by pre-posterior simulation, the simulation-based
Bayesian sample-size determination of Wang & Gelfand (2002, "A simulation-based
approach to Bayesian sample size determination for performance under a given model
and for separating models", *Statistical Science* 17:193-208): the model is fitted
to the pilot sample; for a candidate design, parameters are drawn from the pilot
posterior, the classes and labels of the accounts the design adds are simulated
from them (the pilot's labels are kept as they are), the model is fitted to the
simulated data, and the half-widths of the resulting intervals are averaged (their
"average length criterion", Joseph, Wolfson & du Berger 1995, "Sample size
calculations for binomial proportions via highest posterior density intervals",
*The Statistician* 44:143-154). Every candidate uses the same parameter draws and
random numbers (common random numbers), so candidates compare without simulation
noise between them.

Candidate designs scale a Neyman-type allocation (Neyman 1934; Cochran 1977,
*Sampling Techniques*, §5.5) of the headline's sampling variance: stratum ``h``
gets ``n_h`` proportional to ``N_h sqrt(a_h (1 - a_h))``, with ``a_h`` the primary
coder's share of ``supporter`` labels in the pilot (at least the coder's
false-positive rate); this favours large strata with apparent supporters. Second
readings, which pin down the coders' error rates, go to the same strata: a share
of the accounts allocated there, chosen among a few values by comparing them at
equal cost (one reading = one unit); then the allocation is scaled until the
expected half-width reaches the target.

The pilot's posterior is wide, and where in it the frame lies decides how fast the
interval narrows, so one plan from the pilot misses the target by much in some
frames. The plan therefore also gives a first batch, the design that reaches the
target in the most favourable simulated sample, at most as many readings again as
those already made; coding it and planning again from the larger sample, until a
plan adds nothing, lands near the target (an internal pilot, Wittes & Brittain
1990, "The role of internal pilot studies in increasing the efficiency of clinical
trials", *Statistics in Medicine* 9:65-72). The replicates are posterior draws at
evenly spaced quantiles of the pilot's total (systematic sampling); the
Monte-Carlo error of their mean is the successive-difference estimate (Wolter
2007, *Introduction to Variance Estimation*, 2nd ed., ch. 8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from measure.census import _frame
from measure.census._analyze import _readings, coded_sample, headline_draws
from measure.census._coders import GOLD, LABELS, Priors, sample_posterior
from measure.dataset import Dataset
from measure.errors import EstimationError

#: Shares of each stratum's coded accounts read by a second coder, tried in turn.
DOUBLE_SHARES = (0.5, 1.0)
#: Pre-posterior replicates (simulated future samples) per candidate design.
REPLICATES = 12
#: Gibbs draws (and burn-in) of the model fitted to each simulated sample.
SIM_DRAWS, SIM_BURN = 400, 150
#: Gibbs draws (and burn-in) of the model fitted to the pilot sample.
PILOT_DRAWS, PILOT_BURN = 2000, 500
#: Relative distance to the target at which the search stops.
TOLERANCE = 0.04
#: Candidate designs evaluated while scaling the allocation (after the share).
MAX_STEPS = 6
#: Largest factor by which one search step may change the added readings.
MAX_STRETCH = 4.0
#: Simulated samples for the design that codes every account twice (they differ
#: little, and each is the size of the frame).
FULL_REPLICATES = 4
#: Quantile of the simulated half-widths that the first batch brings to the target.
FIRST_QUANTILE = 0.0
#: Largest first batch, as a share of the readings already made.
MAX_BATCH_GROWTH = 1.0
#: Smallest first batch, as a share of the readings the plan adds.
MIN_BATCH = 0.25
#: Monte-Carlo error of the prediction (share of it) above which a warning is given.
MAX_MC_ERROR = 0.1
#: Name of the second coder when the pilot has a single coder.
SECOND_CODER = "second_coder"


@dataclass(frozen=True)
class CodingPlan:
    """Accounts to code and to double-code per stratum for a target interval width.

    Attributes
    ----------
    table
        One row per stratum: ``stratum, N, n_pilot, d_pilot, n_first, d_first,
        n_plan, d_plan, extra, extra_double``. ``n``: accounts coded (pilot
        included); ``d``: accounts read by two coders; ``*_first``: the batch to
        code before planning again; ``*_plan``: the sample that reaches the target
        as the pilot's posterior predicts; ``extra = n_plan - n_pilot`` new
        accounts; ``extra_double = d_plan - d_pilot`` second readings, on coded
        accounts (pilot or new) that have one reading.
    target_halfwidth, level
        Requested half-width of the ``level`` interval of the frame total.
    halfwidth
        Predicted (expected) half-width with the planned sample.
    halfwidth_se
        Monte-Carlo standard error of ``halfwidth``.
    halfwidth_range
        10th and 90th percentiles of the half-widths of the simulated samples.
    pilot_total
        Median, lower and upper limit of the frame total from the pilot.
    pilot_halfwidth
        Half-width of the pilot's interval.
    reachable
        Whether the target is reached; when not, ``table`` is the design with the
        smallest predicted half-width (every account coded twice when the search
        got there) and ``halfwidth`` that half-width.
    double_share
        Share of the planned accounts read twice where accounts are added (0 when
        the pilot meets the target).
    extra_readings, first_readings
        Readings the plan, and the first batch, add: new accounts plus second
        readings.
    replicates
        Simulated samples behind ``halfwidth``.
    trace
        Candidate designs evaluated: ``double_share, extra_readings, halfwidth,
        halfwidth_se``.
    method, assumptions, warnings
        How the plan was made, what it assumes, and what to watch.

    Notes
    -----
    Code the first batch, add it to the pilot and plan again; repeat until the
    plan adds nothing. The pilot's posterior is wide, and the half-width a sample
    reaches depends on where in it the frame lies; each plan from a larger sample
    is closer to the mark. The first batch is the design that reaches the target
    in the most favourable simulated sample, at most ``MAX_BATCH_GROWTH`` times
    the readings made so far, so that a batch rarely takes the interval far below
    the target (an internal pilot, Wittes & Brittain 1990).
    """

    table: pl.DataFrame
    target_halfwidth: float
    level: float
    halfwidth: float
    halfwidth_se: float
    halfwidth_range: tuple[float, float]
    pilot_total: tuple[float, float, float]
    pilot_halfwidth: float
    reachable: bool
    double_share: float
    extra_readings: int
    first_readings: int
    replicates: int
    trace: pl.DataFrame
    method: str
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the plan."""
        t = self.table
        return {
            "target_halfwidth": self.target_halfwidth, "level": self.level,
            "halfwidth": self.halfwidth, "halfwidth_se": self.halfwidth_se,
            "halfwidth_range": list(self.halfwidth_range),
            "pilot_total": dict(zip(("median", "low", "high"), self.pilot_total,
                                    strict=True)),
            "pilot_halfwidth": self.pilot_halfwidth, "reachable": self.reachable,
            "double_share": self.double_share,
            "extra_accounts": int(t["extra"].sum()),
            "extra_readings": self.extra_readings,
            "first_accounts": int((t["n_first"] - t["n_pilot"]).sum()),
            "first_readings": self.first_readings,
            "replicates": self.replicates,
            "strata": t.to_dicts(), "trace": self.trace.to_dicts(),
            "method": self.method, "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Text summary: target, prediction, and the plan per stratum."""
        med, lo, hi = self.pilot_total
        t = self.table
        lines = [
            f"Coding plan for a {self.level:.0%} interval of half-width "
            f"{self.target_halfwidth:,.0f}",
            f"  pilot: {int(t['n_pilot'].sum()):,} accounts coded "
            f"({int(t['d_pilot'].sum()):,} twice); total {med:,.0f} "
            f"({lo:,.0f} to {hi:,.0f}), half-width {self.pilot_halfwidth:,.0f}",
        ]
        if not self.reachable:
            lines.append(
                f"  the target cannot be reached: the smallest half-width found is "
                f"{self.halfwidth:,.0f} (the design below)")
        elif self.extra_readings == 0:
            lines.append("  the pilot meets the target: nothing more to code")
        if self.extra_readings:
            lines += [
                f"  plan: code {int(t['extra'].sum()):,} more accounts and add "
                f"{int(t['extra_double'].sum()):,} second readings "
                f"({self.extra_readings:,} readings; second readings on "
                f"{self.double_share:.0%} of the accounts where accounts are added)",
                f"  first batch: code {int((t['n_first'] - t['n_pilot']).sum()):,} "
                f"accounts and add {int((t['d_first'] - t['d_pilot']).sum()):,} "
                f"second readings ({self.first_readings:,} readings), then plan "
                "again with the new codes",
            ]
        lines += [
            f"  predicted half-width: {self.halfwidth:,.0f} (Monte-Carlo SE "
            f"{self.halfwidth_se:,.0f}; 80% of simulated samples between "
            f"{self.halfwidth_range[0]:,.0f} and {self.halfwidth_range[1]:,.0f})",
            "",
            f"  {'stratum':<20} {'N':>9} {'n_pilot':>8} {'d_pilot':>8} "
            f"{'n_first':>8} {'d_first':>8} {'n_plan':>8} {'d_plan':>8}",
        ]
        for r in t.iter_rows(named=True):
            lines.append(
                f"  {str(r['stratum'])[:20]:<20} {r['N']:>9,.0f} {r['n_pilot']:>8} "
                f"{r['d_pilot']:>8} {r['n_first']:>8} {r['d_first']:>8} "
                f"{r['n_plan']:>8} {r['d_plan']:>8}")
        lines += ["", f"  method: {self.method}"]
        lines += [f"  assumes: {a}" for a in self.assumptions]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _halfwidth(totals: np.ndarray, level: float) -> float:
    a = (1 - level) / 2
    lo, hi = np.quantile(totals, [a, 1 - a])
    return float(hi - lo) / 2


class _Pilot:
    """The pilot's readings as arrays, and simulation of designs that extend it."""

    def __init__(self, codes: pl.DataFrame, sizes: Mapping[str, float], *,
                 groups: Mapping[str, str] | None, gold: str | None,
                 priors: Priors | None, level: float, seed: int,
                 replicates: int, draws: int, burn: int) -> None:
        df = codes.select("account_id", "stratum", "coder", "label").filter(
            pl.col("label").is_in(LABELS)).with_columns(
            pl.col("coder").cast(pl.Utf8), pl.col("stratum").cast(pl.Utf8))
        df = df.unique(subset=["account_id", "coder"], keep="first",
                       maintain_order=True)
        if df.height == 0:
            raise ValueError("the pilot sample has no readings with a label in "
                             f"{LABELS}")
        self.groups, self.gold, self.priors = groups, gold, priors
        self.level, self.seed, self.draws, self.burn = level, seed, draws, burn
        post = sample_posterior(df, sizes, groups=groups, gold=gold,
                                draws=PILOT_DRAWS, burn=PILOT_BURN, seed=seed,
                                priors=priors)
        self.post = post
        self.strata = post.strata
        s_pos = {s: i for i, s in enumerate(self.strata)}
        accounts, acc = np.unique(df["account_id"].to_numpy(), return_inverse=True)
        n_acc = len(accounts)
        first = (df.with_columns(pl.Series("_a", acc))
                 .group_by("_a").agg(pl.col("stratum").first()).sort("_a"))
        self.acc_stratum = np.array([s_pos[s] for s in first["stratum"].to_list()])
        coder = df["coder"].to_numpy().astype(str)
        is_gold = coder == gold if gold is not None else np.zeros(len(coder), bool)
        counts = pl.DataFrame({"c": coder[~is_gold]}).group_by("c").len().sort(
            ["len", "c"], descending=[True, False])
        main = counts["c"].to_list()
        if not main:
            raise ValueError("the pilot sample has no coder's readings (only "
                             "adjudicated labels)")
        self.primary = main[0]
        self.second = main[1] if len(main) > 1 else SECOND_CODER
        lab = np.array([LABELS.index(x) for x in df["label"].to_list()])
        self.read_acc, self.read_coder, self.read_label = acc, coder, lab
        self.read_gold = is_gold
        # accounts read by two different coders (adjudication not counted)
        n_read = np.bincount(acc[~is_gold], minlength=n_acc)
        self.double = n_read >= 2
        self.single = n_read == 1
        # coder who has not read a single-read account: the one to read it next
        reader = np.full(n_acc, self.primary, dtype=object)
        reader[acc[~is_gold]] = coder[~is_gold]
        self.next_coder = np.where(reader == self.primary, self.second,
                                   self.primary).astype(object)
        n_s = len(self.strata)
        self.N = np.array([float(sizes[s]) for s in self.strata])
        self.n_pilot = np.bincount(self.acc_stratum, minlength=n_s)
        self.N = np.maximum(self.N, self.n_pilot)
        self.d_pilot = np.bincount(self.acc_stratum, weights=self.double,
                                   minlength=n_s).astype(np.int64)
        self.cap = np.round(self.N).astype(np.int64) - self.n_pilot
        self.n_acc = n_acc
        self.pilot_codes = pl.DataFrame({
            "account_id": acc.astype(np.int64),
            "stratum": pl.Series(np.asarray(self.strata, dtype=object)[
                self.acc_stratum[acc]], dtype=pl.Utf8),
            "coder": pl.Series(coder, dtype=pl.Utf8),
            "label": df["label"]})
        self.sizes = dict(zip(self.strata, self.N.tolist(), strict=True))
        # confusion matrices of the posterior draws: (draws, coders, class, label)
        d = post.sensitivity.shape[0]
        conf = np.empty((d, len(post.coders), 2, 3))
        conf[:, :, 1, 0] = post.sensitivity
        conf[:, :, 1, 2] = post.unclear[:, :, 1]
        conf[:, :, 1, 1] = 1 - post.sensitivity - post.unclear[:, :, 1]
        conf[:, :, 0, 1] = post.specificity
        conf[:, :, 0, 2] = post.unclear[:, :, 0]
        conf[:, :, 0, 0] = post.false_positive
        self.conf = np.clip(conf, 1e-12, 1.0)
        # posterior draws at evenly spaced quantiles of the pilot's total: the
        # replicates spread over the plausible totals (stratified sampling)
        order = np.argsort(post.totals, kind="stable")
        q = ((np.arange(replicates) + 0.5) / replicates * d).astype(np.int64)
        self.pick = order[np.minimum(q, d - 1)]
        self.replicates = replicates
        # coder index in the posterior for a (raw coder, stratum) pair
        c_pos = {c: i for i, c in enumerate(post.coders)}

        def index(c: str, s: str) -> int:
            for name in (c, self.primary):
                if self.cname(name, s) in c_pos:
                    return c_pos[self.cname(name, s)]
            return 0

        self.cidx = {c: np.array([index(c, s) for s in self.strata])
                     for c in {self.primary, self.second, *main}}
        r_c = np.array([self.cidx[c][self.acc_stratum[a]] if not g else -1
                        for c, a, g in zip(coder, acc, is_gold, strict=True)])
        self.read_cidx = r_c
        # common random numbers: per replicate, uniforms of the pilot accounts, a
        # seed of the refit, and (see _new) streams of the accounts to add
        self.streams = []
        for r in range(replicates):
            rng = np.random.default_rng([seed, 7919, r])
            pil = {"z": rng.random(n_acc), "b": rng.random(n_acc),
                   "prio": rng.random(n_acc)}
            self.streams.append((pil, int(rng.integers(2**31))))

    def cname(self, coder: str, stratum: str) -> str:
        """Name of ``coder`` in the posterior for ``stratum`` (with its group)."""
        if self.groups:
            return f"{coder}@{self.groups.get(stratum, 'all')}"
        return coder

    def _new(self, r: int, h: int, m: int) -> dict[str, np.ndarray]:
        """Uniforms of the first ``m`` added accounts of stratum ``h``, replicate ``r``.

        One generator per stream, so the first ``m`` values are the same whatever
        the design: designs differ only in how far they read the streams.
        """
        return {key: np.random.default_rng([self.seed, 7919, r, h, j]).random(m)
                for j, key in enumerate(("z", "a", "b", "prio"))}

    @staticmethod
    def _labels(conf: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Label index from rows ``conf`` (m, 3) of P(label) and uniforms ``u``."""
        c0 = conf[:, 0]
        return np.where(u < c0, 0, np.where(u < c0 + conf[:, 1], 1, 2))

    def _pilot_classes(self, k: int, u: np.ndarray) -> np.ndarray:
        """Classes of the pilot accounts drawn given posterior draw ``k``."""
        prev = np.clip(self.post.prevalence[k], 1e-12, 1 - 1e-12)
        logit = np.log(prev[self.acc_stratum]) - np.log1p(-prev[self.acc_stratum])
        m = ~self.read_gold
        c = self.read_cidx[m]
        lab = self.read_label[m]
        lr = np.log(self.conf[k, c, 1, lab]) - np.log(self.conf[k, c, 0, lab])
        logit = logit + np.bincount(self.read_acc[m], weights=lr,
                                    minlength=self.n_acc)
        p1 = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        g = self.read_gold
        p1[self.read_acc[g][self.read_label[g] == 0]] = 1.0
        p1[self.read_acc[g][self.read_label[g] == 1]] = 0.0
        return u < p1

    def simulate(self, r: int, n: np.ndarray, d: np.ndarray) -> pl.DataFrame:
        """Simulate the readings of replicate ``r`` of a design (``n``, ``d``)."""
        pil, _ = self.streams[r]
        k = int(self.pick[r])
        conf = self.conf[k]
        z_pilot = self._pilot_classes(k, pil["z"])
        ids, strata, coders, labels = [], [], [], []
        next_id = self.n_acc
        for h, s in enumerate(self.strata):
            m = int(n[h] - self.n_pilot[h])
            st = self._new(r, h, m)
            zn = st["z"][:m] < self.post.prevalence[k, h]
            ia = self.cidx[self.primary][h]
            la = self._labels(conf[ia, zn.astype(np.int64)], st["a"][:m])
            new_ids = np.arange(next_id, next_id + m)
            next_id += m
            ids.append(new_ids)
            coders.append(np.full(m, self.primary, dtype=object))
            labels.append(la)
            strata.append(np.full(m, s, dtype=object))
            need = int(d[h] - self.d_pilot[h])
            if need <= 0:
                continue
            # second readings: the single-read accounts of lowest priority
            ps = np.flatnonzero(self.single & (self.acc_stratum == h))
            prio = np.concatenate([pil["prio"][ps], st["prio"][:m]])
            who = np.argsort(prio, kind="stable")[:need]
            from_pilot = who < len(ps)
            pa = ps[who[from_pilot]]
            na = who[~from_pilot] - len(ps)
            ib = self.cidx[self.second][h]
            for acc_ids, z, u, nxt in (
                    (pa, z_pilot[pa], pil["b"][pa], self.next_coder[pa]),
                    (new_ids[na], zn[na], st["b"][na],
                     np.full(len(na), self.second, dtype=object))):
                if len(acc_ids) == 0:
                    continue
                ci = np.array([self.cidx[c][h] if c in self.cidx else ib
                               for c in nxt])
                lb = self._labels(conf[ci, z.astype(np.int64)], u)
                ids.append(acc_ids)
                coders.append(nxt)
                labels.append(lb)
                strata.append(np.full(len(acc_ids), s, dtype=object))
        if not ids or sum(len(x) for x in ids) == 0:
            return self.pilot_codes
        add = pl.DataFrame({
            "account_id": pl.Series(np.concatenate(ids).astype(np.int64)),
            "stratum": pl.Series(np.concatenate(strata), dtype=pl.Utf8),
            "coder": pl.Series(np.concatenate(coders), dtype=pl.Utf8),
            "label": pl.Series(np.asarray(LABELS, dtype=object)[
                np.concatenate(labels)], dtype=pl.Utf8)})
        return pl.concat([self.pilot_codes, add])

    def halfwidths(self, n: np.ndarray, d: np.ndarray,
                   replicates: int | None = None) -> np.ndarray:
        """Half-widths of the interval in each simulated sample of the design."""
        reps = self.replicates if replicates is None else replicates
        # a subset spreads over the replicates (ordered by the pilot's total)
        which = np.unique(np.linspace(0, self.replicates - 1, reps).round()
                          .astype(np.int64))
        out = np.empty(len(which))
        for i, r in enumerate(which):
            codes = self.simulate(r, n, d)
            p = sample_posterior(codes, self.sizes, groups=self.groups,
                                 gold=self.gold, draws=self.draws, burn=self.burn,
                                 seed=self.streams[r][1], priors=self.priors)
            out[i] = _halfwidth(
                headline_draws(p, codes, seed=self.streams[r][1]), self.level)
        return out


class _Design:
    """The family of designs: a scaled Neyman-type allocation and a double share."""

    def __init__(self, pilot: _Pilot) -> None:
        self.p = pilot
        # Neyman weights of the headline's sampling variance: N_h sqrt(a_h (1 - a_h))
        # with a_h the primary coder's share of supporter labels, at least the
        # coder's false-positive rate (measure.census.estimators
        # .corrected_total_draws)
        j = pilot.cidx[pilot.primary]
        fp = np.mean(pilot.post.false_positive[:, j], axis=0)
        mine = ~pilot.read_gold & (pilot.read_coder == pilot.primary)
        s_of = pilot.acc_stratum[pilot.read_acc[mine]]
        n = np.bincount(s_of, minlength=len(pilot.strata)).astype(float)
        x = np.bincount(s_of, weights=pilot.read_label[mine] == 0,
                        minlength=len(pilot.strata))
        a = np.maximum(x / np.maximum(n, 1.0), fp)
        open_ = pilot.cap > 0
        self.w = np.where(open_, pilot.N * np.sqrt(a * (1 - a)), 0.0)

    def __call__(self, t: float, share: float) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        n = np.clip(np.round(t * self.w), p.n_pilot, np.round(p.N)).astype(np.int64)
        d = np.clip(np.round(share * t * self.w), p.d_pilot, n)
        return n, d.astype(np.int64)

    def cost(self, n: np.ndarray, d: np.ndarray) -> int:
        """Count the readings a design adds: new accounts plus second readings."""
        return int((n - self.p.n_pilot).sum() + (d - self.p.d_pilot).sum())

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """Every account of every stratum coded, and read twice."""
        n = np.round(self.p.N).astype(np.int64)
        return n, n.copy()

    def scale_for(self, readings: float, share: float) -> float:
        """Smallest scale whose design adds at least ``readings`` readings."""
        if self.w.max() <= 0:
            return 0.0
        lo, hi = 0.0, 1.0
        while self.cost(*self(hi, share)) < readings and hi < 1e12:
            hi *= 2
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.cost(*self(mid, share)) < readings:
                lo = mid
            else:
                hi = mid
        return hi


def plan_codes(codes: pl.DataFrame, sizes: Mapping[str, float], *,
               target_halfwidth: float, level: float = 0.95, seed: int = 0,
               groups: Mapping[str, str] | None = None, gold: str | None = GOLD,
               priors: Priors | None = None, replicates: int = REPLICATES,
               draws: int = SIM_DRAWS, burn: int = SIM_BURN,
               double_shares: Sequence[float] = DOUBLE_SHARES) -> CodingPlan:
    """Plan the coding sample from a pilot's readings and the stratum sizes.

    Parameters
    ----------
    codes
        The pilot's readings: ``account_id, stratum, coder, label`` (one row per
        reading; coder ``gold`` = adjudicated, taken as correct).
    sizes
        ``{stratum: N_h}`` for every stratum of ``codes``.
    target_halfwidth
        Wanted half-width (``(high - low) / 2``) of the ``level`` interval of the
        frame total.
    level
        Level of the interval.
    seed
        Seed of the pilot fit and the simulation.
    groups, gold, priors
        As in :func:`measure.census._coders.sample_posterior`.
    replicates
        Simulated samples per candidate design (more: smaller Monte-Carlo error,
        longer run).
    draws, burn
        Gibbs draws and burn-in of the fit to each simulated sample.
    double_shares
        Shares of each stratum's coded accounts read twice, among which the plan
        chooses.

    Returns
    -------
    CodingPlan

    Notes
    -----
    Code the first batch (``n_first``, ``d_first`` of the table), add its codes
    to the pilot and plan again; repeat until the plan adds nothing (see
    :class:`CodingPlan`).
    """
    if not target_halfwidth > 0:
        raise ValueError("target_halfwidth must be positive")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    if replicates < 2:
        raise ValueError("replicates must be at least 2")
    pilot = _Pilot(codes, sizes, groups=groups, gold=gold, priors=priors,
                   level=level, seed=seed, replicates=replicates, draws=draws,
                   burn=burn)
    design = _Design(pilot)
    h0 = headline_draws(pilot.post, pilot.pilot_codes, seed=seed)
    hw0 = _halfwidth(h0, level)
    a = (1 - level) / 2
    q = np.quantile(h0, [0.5, a, 1 - a])
    pilot_total = (float(q[0]), float(q[1]), float(q[2]))
    search = _Search(pilot, design, target_halfwidth, hw0)
    warns: list[str] = []
    met = hw0 <= target_halfwidth * (1 + TOLERANCE)
    if met:
        # nothing to add: the prediction is the pilot's own half-width
        best = _Point(pilot.n_pilot, pilot.d_pilot, 0.0, search.pilot_reads,
                      np.full(2, hw0))
        first = best
        warns.append(f"the pilot's interval already meets the target (within "
                     f"{TOLERANCE:.0%}); no more accounts are needed")
    else:
        best = search.run(hw0, sorted(set(double_shares)))
        first = search.first_batch(best)
        if not best.reachable:
            warns.append(
                "the target half-width is not reached "
                + ("even when every account is coded twice" if best.full else
                   f"within {MAX_STEPS} search steps")
                + f"; the smallest predicted half-width is {best.mean:,.0f}")
    n, d = best.n, best.d
    n1, d1 = np.minimum(first.n, n), np.minimum(first.d, d)
    table = pl.DataFrame({
        "stratum": list(pilot.strata), "N": pilot.N,
        "n_pilot": pilot.n_pilot.astype(np.int64),
        "d_pilot": pilot.d_pilot.astype(np.int64),
        "n_first": n1.astype(np.int64), "d_first": d1.astype(np.int64),
        "n_plan": n.astype(np.int64), "d_plan": d.astype(np.int64),
        "extra": (n - pilot.n_pilot).astype(np.int64),
        "extra_double": (d - pilot.d_pilot).astype(np.int64)})
    missing = sorted(set(sizes) - set(pilot.strata))
    if missing:
        warns.append(f"strata without pilot codes are not in the total: "
                     f"{', '.join(map(str, missing))}; code some accounts there "
                     "first")
    if best.se > MAX_MC_ERROR * best.mean:
        warns.append(f"the Monte-Carlo error of the prediction is "
                     f"{best.se / best.mean:.0%} of it; use more replicates")
    method = (
        "pre-posterior simulation (Wang & Gelfand 2002): parameters drawn from the "
        "pilot posterior of the latent-class model, the added accounts' classes and "
        f"labels simulated, the model refitted ({replicates} simulated samples per "
        "design, common random numbers); expected half-width of the "
        f"{level:.0%} interval; Neyman-type allocation on the headline's "
        "sampling variance per stratum, scaled to the target")
    assumptions = (
        "the accounts to add are drawn at random from the stratum's accounts not "
        "yet coded; second readings go to random coded accounts with one reading",
        f"the primary coder ({pilot.primary}) codes the new accounts and "
        f"{pilot.second} gives the second readings, with the error rates the pilot "
        "shows (the primary coder's when the second has no pilot readings)",
        "the latent-class model behind the headline holds (coders independent given "
        "an account's class, error rates the same across strata)",
    )
    hw = best.halfwidths
    n_sim = 0 if met else len(hw)
    return CodingPlan(
        table=table, target_halfwidth=float(target_halfwidth), level=level,
        halfwidth=best.mean, halfwidth_se=best.se,
        halfwidth_range=(float(np.quantile(hw, 0.1)), float(np.quantile(hw, 0.9))),
        pilot_total=pilot_total, pilot_halfwidth=hw0,
        reachable=best.reachable, double_share=best.share,
        extra_readings=design.cost(n, d), first_readings=design.cost(n1, d1),
        replicates=n_sim, trace=pl.DataFrame(search.trace), method=method,
        assumptions=assumptions, warnings=tuple(warns))


@dataclass(frozen=True)
class _Point:
    """One evaluated design."""

    n: np.ndarray
    d: np.ndarray
    share: float
    readings: float  # pilot readings plus the design's added readings
    halfwidths: np.ndarray  # per replicate, in the order of the pilot's totals
    reachable: bool = True
    full: bool = False

    @property
    def mean(self) -> float:
        return float(self.halfwidths.mean())

    @property
    def se(self) -> float:
        """Monte-Carlo SE of the mean: successive differences (Wolter 2007, ch. 8)."""
        h = self.halfwidths
        r = len(h)
        return float(np.sqrt(np.sum(np.diff(h) ** 2) / (2 * r * (r - 1))))


class _Search:
    """Search of the design family for the expected half-width ``target``."""

    def __init__(self, pilot: _Pilot, design: _Design, target: float,
                 hw0: float) -> None:
        self.p, self.design, self.target, self.hw0 = pilot, design, target, hw0
        self.pilot_reads = float(pilot.n_pilot.sum() + pilot.d_pilot.sum())
        self.trace: list[dict[str, float]] = []
        self.points: list[_Point] = []

    def evaluate(self, n: np.ndarray, d: np.ndarray, share: float) -> _Point:
        n, d = np.asarray(n, np.int64), np.asarray(d, np.int64)
        for q in self.points:
            if np.array_equal(q.n, n) and np.array_equal(q.d, d):
                return q
        full_n, full_d = self.design.full()
        full = bool(np.array_equal(n, full_n) and np.array_equal(d, full_d))
        reps = min(FULL_REPLICATES, self.p.replicates) if full else None
        pt = _Point(n, d, share, self.pilot_reads + self.design.cost(n, d),
                    self.p.halfwidths(n, d, reps), full=full)
        self.points.append(pt)
        self.trace.append({"double_share": share,
                           "extra_readings": self.design.cost(n, d),
                           "halfwidth": pt.mean, "halfwidth_se": pt.se})
        return pt

    def at(self, readings: float, share: float) -> tuple[np.ndarray, np.ndarray]:
        """Design of the family adding about ``readings - pilot readings``."""
        full_n, full_d = self.design.full()
        if readings >= self.pilot_reads + self.design.cost(full_n, full_d):
            return full_n, full_d
        t = self.design.scale_for(readings - self.pilot_reads, share)
        return self.design(t, share)

    def _next(self, series: list[_Point]) -> float:
        """Find the readings at which the expected half-width reaches the target.

        Log-log interpolation between the closest designs on either side of the
        target (the pilot itself is the first point above it), else extrapolation
        from the design nearest the target with the slope of a least-squares line
        through all of them, at most a factor ``MAX_STRETCH`` of added readings.
        """
        pts = sorted([(self.pilot_reads, self.hw0)]
                     + [(q.readings, q.mean) for q in series])
        above = [p for p in pts if p[1] > self.target]
        below = [p for p in pts if p[1] <= self.target]
        if above and below:
            x0, y0 = max(above, key=lambda p: p[0])
            x1, y1 = min(below, key=lambda p: p[0])
            if x1 > x0 and y1 < y0:
                b = np.log(y1 / y0) / np.log(x1 / x0)
                return float(np.exp(np.log(x0) + np.log(self.target / y0) / b))
        lx = np.log([p[0] for p in pts])
        ly = np.log([p[1] for p in pts])
        slope = -0.5
        if len(pts) >= 2 and np.ptp(lx) > 0.05:
            b = np.polyfit(lx, ly, 1)[0]
            if np.isfinite(b):
                slope = float(np.clip(b, -1.5, -0.25))
        x0, y0 = min(pts, key=lambda p: abs(np.log(p[1] / self.target)))
        reads = float(np.exp(np.log(x0) + np.log(self.target / y0) / slope))
        lo = self.pilot_reads + (x0 - self.pilot_reads) / MAX_STRETCH
        hi = self.pilot_reads + (x0 - self.pilot_reads) * MAX_STRETCH
        return float(np.clip(reads, lo, hi))

    def run(self, hw0: float, shares: Sequence[float]) -> _Point:
        """Pick the double share at equal cost, then scale to the target."""
        budget = self.pilot_reads * max((hw0 / self.target) ** 2, 1.05)
        tried = [self.evaluate(*self.at(budget, sh), sh) for sh in shares]
        pt = min(tried, key=lambda q: q.mean)
        share = pt.share
        series = [pt]
        for _ in range(MAX_STEPS):
            if abs(pt.mean / self.target - 1) <= TOLERANCE or (
                    pt.full and pt.mean > self.target):
                break
            n, d = self.at(self._next(series), share)
            if any(np.array_equal(n, q.n) and np.array_equal(d, q.d)
                   for q in series):
                break
            pt = self.evaluate(n, d, share)
            series.append(pt)
        self.series = series
        ok = [q for q in series if q.mean <= self.target * (1 + TOLERANCE)]
        if ok:
            return min(ok, key=lambda q: q.readings)
        q = min(series, key=lambda q: q.mean)
        return _Point(q.n, q.d, q.share, q.readings, q.halfwidths, reachable=False,
                      full=q.full)

    def first_batch(self, best: _Point) -> _Point:
        """Find the design that reaches the target if the frame is favourable.

        The readings at which the ``FIRST_QUANTILE`` quantile of the simulated
        half-widths (by default the smallest) reaches the target, interpolated
        over the evaluated designs of the chosen share, at least ``MIN_BATCH`` of
        the plan's added readings but never more than ``MAX_BATCH_GROWTH`` times
        the readings made so far; coding this batch first and planning again
        from it overshoots the target only when the frame is more favourable than
        every simulated sample.
        """
        series = sorted((q for q in self.series if q.share == best.share),
                        key=lambda q: q.readings)
        # (readings, low quantile) from the pilot (its own half-width) upwards
        low = [(self.pilot_reads, self.hw0)] + [
            (q.readings, float(np.quantile(q.halfwidths, FIRST_QUANTILE)))
            for q in series if q.readings > self.pilot_reads]
        reads = best.readings
        for (x0, y0), (x1, y1) in zip(low, low[1:], strict=False):
            if y0 > self.target >= y1 and x1 > x0:
                b = np.log(y1 / y0) / np.log(x1 / x0)
                reads = float(np.exp(np.log(x0) + np.log(self.target / y0) / b))
                break
        cap = self.pilot_reads * (1 + MAX_BATCH_GROWTH)
        floor = self.pilot_reads + MIN_BATCH * (best.readings - self.pilot_reads)
        reads = min(max(reads, floor), cap, best.readings)
        if reads <= self.pilot_reads:
            n, d = self.p.n_pilot, self.p.d_pilot
        else:
            n, d = self.at(reads, best.share)
        return _Point(np.minimum(n, best.n), np.minimum(d, best.d), best.share,
                      reads, best.halfwidths)


def plan(ds: Dataset, *, target_halfwidth: float, level: float = 0.95,
         seed: int = 0, replicates: int = REPLICATES,
         labels: pl.DataFrame | None = None, priors: Priors | None = None,
         double_shares: Sequence[float] = DOUBLE_SHARES) -> CodingPlan:
    """Plan the coding sample of a dataset for a target interval half-width.

    The pilot is the dataset's coded sample, read as the census estimate reads it
    (:func:`measure.census.analyze`): strata and their sizes ``N_h`` from the
    recorded design (``design``/``design_sample``), else from the labels'
    ``sample`` and ``inclusion_prob``; coded accounts outside the frame are left
    out.

    Parameters
    ----------
    ds
        Dataset with ``accounts``, ``edges``, ``seeds``, ``crawls`` and ``labels``.
    target_halfwidth
        Wanted half-width of the ``level`` interval of the number of supporters in
        the frame (the census headline).
    level
        Level of the interval.
    seed
        Seed of the pilot fit and the simulation.
    replicates
        Simulated samples per candidate design.
    labels
        Use these labels (columns of the ``labels`` table) instead of the
        dataset's.
    priors
        :class:`measure.census._coders.Priors` of the latent-class model.
    double_shares
        Shares of each stratum's coded accounts read twice, among which the plan
        chooses.

    Returns
    -------
    CodingPlan

    Notes
    -----
    Code the first batch (``n_first``, ``d_first``), import its codes, and plan
    again; repeat until the plan adds nothing (see :class:`CodingPlan`).
    """
    ds.require("census" if labels is not None else "census_estimate")
    fr = _frame.frame(ds, ranks=False)
    labels, _pairs, coded, sizes, _desc, _assume, warns = coded_sample(
        ds, labels, fr)
    readings = _readings(labels, coded)
    size_of = {str(s): float(n) for s, n in sizes.iter_rows()}
    missing = sorted({str(s) for s in coded["stratum"].to_list()} - set(size_of))
    if missing:
        raise EstimationError(f"strata {missing} of the coded accounts have no "
                              "recorded size in the design")
    try:
        out = plan_codes(readings, size_of, target_halfwidth=target_halfwidth,
                         level=level, seed=seed, priors=priors,
                         replicates=replicates, double_shares=double_shares)
    except ValueError as e:
        raise EstimationError(str(e)) from e
    if warns:
        out = replace(out, warnings=out.warnings + tuple(warns))
    return out
