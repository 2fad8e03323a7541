"""The latent world: supporter actors and their account chains, background accounts.

All times are float days since the window start (``t = 0``); conversion to UTC
timestamps happens when tables are written. Generation is vectorised over accounts;
the only Python loop runs over incarnation rounds (at most ``max_incarnations``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure.simulate._config import Network, SimConfig, _date
from measure.simulate._names import (
    SUP_BIO_EMOJI,
    edit_bio,
    small_edit,
    suffix_increment,
    supporter_profiles,
)

# Latent times further than this after creation are "never" (inf; null in truth).
HORIZON_DAYS = 36_525.0
SUP_LANG_P = (0.73, 0.18, 0.06, 0.03)  # ar / en / fr / other, Berger & Morgan 2015


@dataclass(frozen=True)
class Calendar:
    """Key dates as days since the window start."""

    history_start: float
    end: float
    census: float
    crackdown_start: float
    crackdown_end: float
    origin_us: int  # window start, microseconds since the Unix epoch

    @classmethod
    def from_config(cls, cfg: SimConfig) -> Calendar:
        d = cfg.dates()
        s = d["start"]

        def days(x: object) -> float:
            return (x - s).total_seconds() / 86400.0  # type: ignore[operator]

        return cls(
            days(d["history_start"]),
            days(d["end"]),
            days(d["census_date"]),
            days(d["crackdown_start"]),
            days(d["crackdown_end"]),
            int(s.timestamp()) * 1_000_000,
        )


def weibull_crackdown_times(
    e: np.ndarray,
    lam: np.ndarray,
    k: float,
    created: np.ndarray,
    cs: float,
    ce: float,
    m: float,
) -> np.ndarray:
    """Invert the cumulative hazard ``lam * sum_j m_j (a_hi**k - a_lo**k)``.

    The hazard is Weibull in account age ``a`` times a calendar multiplier ``m`` on
    ``[cs, ce)``; ``e`` are unit-exponential draws. Returns the latent time to
    suspension (age in days).
    """
    u = e / lam
    b1 = np.maximum(cs - created, 0.0)
    b2 = np.maximum(ce - created, 0.0)
    g1, g2 = b1**k, b2**k
    c1 = g1
    c2 = m * (g2 - g1)
    a = np.empty_like(u)
    p1 = u <= c1
    a[p1] = u[p1] ** (1.0 / k)
    p2 = ~p1 & (u <= c1 + c2)
    a[p2] = (g1[p2] + (u[p2] - c1[p2]) / m) ** (1.0 / k)
    p3 = ~(p1 | p2)
    a[p3] = (g2[p3] + (u[p3] - c1[p3] - c2[p3])) ** (1.0 / k)
    return a


def weibull_piecewise_times(
    e: np.ndarray,
    lam: np.ndarray,
    k: float,
    created: np.ndarray,
    breaks: np.ndarray,
    mults: np.ndarray,
) -> np.ndarray:
    """Invert a Weibull cumulative hazard under a piecewise-constant calendar factor.

    The hazard at age ``a`` of an account created at ``c`` is
    ``lam * k * a**(k-1) * m(c + a)`` with ``m = mults[j]`` on the calendar segment
    ``[breaks[j-1], breaks[j])`` (``breaks`` sorted; ``mults`` has one more entry
    than ``breaks``: the first and last segments are open-ended). ``e`` are
    unit-exponential draws. Returns the latent time to suspension (age in days).
    """
    u = e / lam
    out = np.full(len(u), np.inf)
    todo = np.ones(len(u), dtype=bool)
    cum = np.zeros(len(u))
    g_lo = np.zeros(len(u))
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, m in enumerate(mults):
            if j < len(breaks):
                g_hi = np.maximum(breaks[j] - created, 0.0) ** k
            else:
                g_hi = np.full(len(u), np.inf)
            if m > 0:
                seg = m * (g_hi - g_lo)
                hit = todo & (u <= cum + seg)
                out[hit] = (g_lo[hit] + (u[hit] - cum[hit]) / m) ** (1.0 / k)
                todo &= ~hit
                cum = cum + seg
            g_lo = g_hi
    return out


def sweep_windows(cfg: SimConfig) -> list[tuple[float, float]]:
    """Crackdown sweeps ``[start, end)`` as days since the window start."""
    sus = cfg.suspension
    s = cfg.dates()["start"]
    out = []
    for d in sus.sweep_dates:
        a = (_date("suspension.sweep_dates", d) - s).total_seconds() / 86400.0
        out.append((a, a + float(sus.sweep_days)))
    return out


def calendar_factor(
    cal: Calendar, crackdown: float, sweeps: list[tuple[float, float]], mult: float
) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints and segment multipliers of the crackdown times the sweeps.

    Overlapping sweeps multiply (``mult**2`` where two overlap).
    """
    pts = [cal.crackdown_start, cal.crackdown_end]
    for a, b in sweeps:
        pts += [a, b]
    breaks = np.unique(np.asarray(pts, dtype=np.float64))
    mids = np.concatenate(
        [[breaks[0] - 1.0], (breaks[:-1] + breaks[1:]) / 2.0, [breaks[-1] + 1.0]]
    )
    m = np.where(
        (mids >= cal.crackdown_start) & (mids < cal.crackdown_end), crackdown, 1.0
    )
    for a, b in sweeps:
        m = m * np.where((mids >= a) & (mids < b), mult, 1.0)
    return breaks, m


def gamma_power_mean(theta: float, s: float) -> float:
    """``E[G**s]`` for ``G ~ Gamma(mean 1, variance theta)``."""
    if theta <= 0 or s == 0:
        return 1.0
    a = 1.0 / theta
    return math.exp(s * math.log(theta) + math.lgamma(a + s) - math.lgamma(a))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def evasion_offset(p: float, sd: float) -> float:
    """Logit offset ``c`` with ``E[expit(logit(p) + c - e)] = p`` for ``e ~ N(0, sd)``.

    Keeps the marginal share of a reuse probability ``p`` at its configured value
    when every actor's logit is shifted by its evasion ``-e`` (Gauss-Hermite
    quadrature, bisection). ``0`` for ``p`` in ``{0, 1}`` or ``sd = 0``.
    """
    if sd <= 0 or not 0.0 < p < 1.0 or p == 0.5:
        return 0.0
    x, w = np.polynomial.hermite.hermgauss(80)
    e = math.sqrt(2.0) * sd * x
    w = w / math.sqrt(math.pi)
    lo, hi, base = -60.0, 60.0, _logit(p)
    for _ in range(100):
        c = 0.5 * (lo + hi)
        if float(w @ _expit(base + c - e)) < p:
            lo = c
        else:
            hi = c
    return 0.5 * (lo + hi)


def evasive_probability(p: float, sd: float, e: np.ndarray) -> np.ndarray:
    """Per-account probability ``expit(logit(p) + evasion_offset(p, sd) - e)``."""
    if not 0.0 < p < 1.0:
        return np.full(len(e), p)
    return _expit(_logit(p) + evasion_offset(p, sd) - e)


def growth(age: np.ndarray, days: float) -> np.ndarray:
    """Share of its eventual audience an account has at ``age`` days."""
    return -np.expm1(-np.maximum(age, 0.0) / days)


@dataclass
class Supporters:
    """Supporter accounts (one row per account; arrays aligned).

    ``stress_truth`` holds per-account truth of the stress mechanisms that are
    switched on (name -> values, valid mask, polars dtype; invalid = null) and
    ``stress_facts`` their realised facts (``truth.json["stress"]["world"]``);
    both are empty when every mechanism of the latent world is off.
    """

    actor: np.ndarray
    arrived: np.ndarray  # per actor
    n_actors: int
    created: np.ndarray
    susp: np.ndarray
    dele: np.ndarray
    inc: np.ndarray
    pred: np.ndarray  # local index of predecessor, -1 when none
    log_f: np.ndarray  # log eventual audience
    prom: np.ndarray
    act: np.ndarray
    in_share: np.ndarray
    friends: np.ndarray
    status_rate: np.ndarray
    profiles: pl.DataFrame  # screen_name, display_name, lang, description, ...
    handle_change: np.ndarray  # "", suffix, edit, new
    reused: dict[str, np.ndarray]
    stress_truth: dict[str, tuple[np.ndarray, np.ndarray, pl.DataType]] = field(
        default_factory=dict
    )
    stress_facts: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.created)

    @property
    def end(self) -> np.ndarray:
        return np.minimum(self.susp, self.dele)

    def stress_truth_columns(
        self, n_background: int
    ) -> dict[str, tuple[pl.Series, pl.DataType]]:
        """Per-account stress truth over the global account index.

        Supporters come first, then ``n_background`` background accounts (null).
        Each column is a polars Series (nulls included) that takes a numpy index:
        ``pl.Series(values[g], dtype=dtype)`` gives the rows of accounts ``g``.
        """
        out: dict[str, tuple[pl.Series, pl.DataType]] = {}
        for name, (values, valid, dtype) in self.stress_truth.items():
            col = pl.Series(name, values, dtype=dtype)
            if not valid.all():
                col = col.set(pl.Series(~valid), None)
            pad = pl.repeat(None, int(n_background), dtype=dtype, eager=True)
            out[name] = (pl.concat([col, pad.alias(name)]), dtype)
        return out


#: Hazard mechanisms of the latent world (their truth includes the frailty).
_HAZARD_FIELDS = (
    "frailty_actor_share",
    "early_spike",
    "sweep_dates",
    "p_delete_before_suspension",
)


def make_supporters(
    cfg: SimConfig,
    cal: Calendar,
    rng: np.random.Generator,
    srng: np.random.Generator | None = None,
) -> Supporters:
    """Actors arrive (Poisson), hold one account at a time, return after suspension.

    With ``p_backup`` a returning actor's next account may be a backup created
    before the suspension, so two of its accounts live at once for a while.

    ``rng`` is the world's stream; ``srng`` the stream of the stress mechanisms
    (drawn from only when one of them is on): an actor-level share of the frailty
    (``frailty_actor_share``), a suspension spike on the first day
    (``early_spike``), crackdown sweeps (``sweep_dates``), deletion in anticipation
    of a suspension (``p_delete_before_suspension``), backup accounts created
    before the suspension (``p_backup``) and an actor-level evasion propensity
    (``evasion_sd``).
    """
    pop, sus, res, net = cfg.population, cfg.suspension, cfg.resurrection, cfg.network
    span = cal.end - cal.history_start
    n_act = int(rng.poisson(pop.actor_rate_per_day * span))
    arrived = np.sort(rng.uniform(cal.history_start, cal.end, n_act))
    r = pop.prominence_activity_corr
    a_prom = rng.standard_normal(n_act)
    a_act = r * a_prom + np.sqrt(1 - r * r) * rng.standard_normal(n_act)
    mu_f, sd_f = np.log(net.followers_median), net.followers_sigma
    theta = sus.frailty_variance
    # -- stress mechanisms: actor-level draws and the calendar of sweeps --
    w_act = float(sus.frailty_actor_share)
    z_actor: np.ndarray | None = None
    log_norm = 0.0
    if w_act != 0.0:
        z_actor = np.ones(n_act)
        if theta > 0:
            z_actor = _srng(srng).gamma(1.0 / theta, theta, n_act)
        # E[G1**w * G2**(1 - w)] for independent gammas of mean 1
        log_norm = math.log(gamma_power_mean(theta, w_act)) + math.log(
            gamma_power_mean(theta, 1.0 - w_act)
        )
    evasion: np.ndarray | None = None
    if res.evasion_sd != 0.0:
        evasion = _srng(srng).normal(0.0, res.evasion_sd, n_act)
    sweeps = sweep_windows(cfg) if sus.sweep_dates else []
    breaks, mults = calendar_factor(
        cal, sus.crackdown_multiplier, sweeps, sus.sweep_multiplier
    )

    rounds: list[dict[str, np.ndarray]] = []
    cur_actor = np.arange(n_act)
    cur_created = arrived
    cur_logf = mu_f + sd_f * a_prom
    cur_pred = np.full(n_act, -1)
    cur_backup = np.zeros(n_act, dtype=bool)
    offset = 0
    k = 1
    while len(cur_actor) and k <= res.max_incarnations:
        n = len(cur_actor)
        prom = (cur_logf - mu_f) / sd_f
        act = 0.8 * a_act[cur_actor] + 0.6 * rng.standard_normal(n)
        z = rng.gamma(1.0 / theta, theta, n) if theta > 0 else np.ones(n)
        if z_actor is not None:
            z = _mix_frailty(z_actor[cur_actor], z, w_act, log_norm)
        lam = (
            sus.baseline_scale
            * z
            * np.exp(sus.beta_prominence * prom + sus.beta_activity * act)
        )
        if sweeps:
            t_s = weibull_piecewise_times(
                rng.exponential(1.0, n),
                lam,
                sus.weibull_shape,
                cur_created,
                breaks,
                mults,
            )
        else:
            t_s = weibull_crackdown_times(
                rng.exponential(1.0, n),
                lam,
                sus.weibull_shape,
                cur_created,
                cal.crackdown_start,
                cal.crackdown_end,
                sus.crackdown_multiplier,
            )
        spike = np.zeros(n, dtype=bool)
        if sus.early_spike != 0.0:
            # competing hazard early_spike * Z * exp(beta x) on ages [0, 1)
            rate = sus.early_spike * lam / sus.baseline_scale
            with np.errstate(divide="ignore"):
                t_sp = _srng(srng).exponential(1.0, n) / rate
            spike = t_sp < np.minimum(t_s, 1.0)
            t_s = np.where(spike, t_sp, t_s)
        susp = np.where(t_s > HORIZON_DAYS, np.inf, cur_created + t_s)
        if sus.supporter_deletion_rate > 0:
            t_d = rng.exponential(1.0 / sus.supporter_deletion_rate, n)
            dele = np.where(t_d > HORIZON_DAYS, np.inf, cur_created + t_d)
        else:
            dele = np.full(n, np.inf)
        anticipated = np.zeros(n, dtype=bool)
        if sus.p_delete_before_suspension != 0.0:
            s_ = _srng(srng)
            u_a, u_t = s_.random(n), s_.random(n)
            i = np.flatnonzero(
                np.isfinite(susp)
                & (susp < dele)
                & (u_a < sus.p_delete_before_suspension)
            )
            lo = np.maximum(cur_created[i], susp[i] - sus.anticipation_days)
            dele[i] = lo + u_t[i] * (susp[i] - lo)
            anticipated[i] = dele[i] < susp[i]
        u_ret = rng.random(n)
        delay = rng.gamma(res.delay_shape, res.delay_mean_days / res.delay_shape, n)
        rec_noise = rng.normal(0.0, res.follower_recovery_sd, n)
        ret = (susp < dele) & (susp < cal.end) & (u_ret < res.p_return)
        new_created = susp + delay
        backup = np.zeros(n, dtype=bool)
        if res.p_backup != 0.0:
            s_ = _srng(srng)
            u_b, u_l = s_.random(n), s_.random(n)
            i = np.flatnonzero(ret & (u_b < res.p_backup))
            lo = np.maximum(cur_created[i], susp[i] - res.backup_lead_days)
            new_created[i] = lo + u_l[i] * (susp[i] - lo)
            backup[i] = True
        ret &= new_created < cal.end
        rounds.append(
            {
                "actor": cur_actor,
                "created": cur_created,
                "susp": susp,
                "dele": dele,
                "inc": np.full(n, k),
                "pred": cur_pred,
                "log_f": cur_logf,
                "prom": prom,
                "act": act,
                "z": z,
                "spike": spike,
                "anticipated": anticipated,
                "backup": cur_backup,
            }
        )
        idx = np.flatnonzero(ret)
        cur_pred = offset + idx
        offset += n
        cur_actor = cur_actor[idx]
        cur_created = new_created[idx]
        cur_backup = backup[idx]
        sd = res.follower_recovery_sd
        cur_logf = (
            cur_logf[idx] + np.log(res.follower_recovery) + rec_noise[idx] - sd * sd / 2
        )
        k += 1
    cat = {
        key: np.concatenate([r_[key] for r_ in rounds]) if rounds else np.empty(0)
        for key in (
            "actor",
            "created",
            "susp",
            "dele",
            "inc",
            "pred",
            "log_f",
            "prom",
            "act",
            "z",
            "spike",
            "anticipated",
            "backup",
        )
    }
    n = len(cat["created"])
    conc, mean = net.in_network_share_concentration, net.in_network_share_mean
    in_share = rng.beta(mean * conc, (1 - mean) * conc, n)
    friends = np.exp(
        np.log(net.friends_median) + 0.8 * rng.standard_normal(n) + 0.3 * cat["act"]
    )
    status_rate = net.statuses_per_day_median * np.exp(0.8 * cat["act"])
    actor = cat["actor"].astype(np.int64)
    ev_acc = evasion[actor] if evasion is not None else None
    profiles, change, reused = _supporter_names(
        cfg, rng, cat["inc"].astype(int), cat["pred"].astype(int), ev_acc
    )
    sup = Supporters(
        actor=actor,
        arrived=arrived,
        n_actors=n_act,
        created=cat["created"],
        susp=cat["susp"],
        dele=cat["dele"],
        inc=cat["inc"].astype(np.int64),
        pred=cat["pred"].astype(np.int64),
        log_f=cat["log_f"],
        prom=cat["prom"],
        act=cat["act"],
        in_share=in_share,
        friends=friends,
        status_rate=status_rate,
        profiles=profiles,
        handle_change=change,
        reused=reused,
    )
    _stress_truth(
        cfg,
        cal,
        sup,
        cat,
        z_actor[actor] if z_actor is not None else None,
        ev_acc,
        sweeps,
    )
    return sup


def _srng(srng: np.random.Generator | None) -> np.random.Generator:
    if srng is None:
        raise ValueError(
            "a stress mechanism of the latent world is on: make_supporters needs "
            "the stress_world random stream (srng)"
        )
    return srng


def _mix_frailty(
    z_actor: np.ndarray, z_account: np.ndarray, w: float, log_norm: float
) -> np.ndarray:
    """``exp(w log Z_actor + (1 - w) log Z_account) / E[...]`` (mean 1)."""
    with np.errstate(divide="ignore"):
        log_z = -log_norm + (w * np.log(z_actor) if w != 0.0 else 0.0)
        if w != 1.0:
            log_z = log_z + (1.0 - w) * np.log(z_account)
    return np.exp(log_z)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation, ``None`` when undefined."""
    if len(a) < 3:
        return None
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _stress_truth(
    cfg: SimConfig,
    cal: Calendar,
    sup: Supporters,
    cat: dict[str, np.ndarray],
    z_actor: np.ndarray | None,
    evasion: np.ndarray | None,
    sweeps: list[tuple[float, float]],
) -> None:
    """Fill ``sup.stress_truth`` and ``sup.stress_facts`` for mechanisms that are on."""
    sus, res = cfg.suspension, cfg.resurrection
    on = cfg.mechanisms_on()
    n = sup.n
    every = np.ones(n, dtype=bool)
    has_pred = sup.pred >= 0
    truth, facts = sup.stress_truth, sup.stress_facts
    created, susp, dele, te = sup.created, sup.susp, sup.dele, cal.end
    in_win = (created >= 0.0) & (created < te)
    hazard_on = any(f"suspension.{f}" in on for f in _HAZARD_FIELDS)
    if hazard_on:
        truth["frailty"] = (cat["z"], every, pl.Float64())
    if z_actor is not None:
        truth["actor_frailty"] = (z_actor, every, pl.Float64())
        lz = np.log(np.maximum(cat["z"], 1e-300))
        theta, w = sus.frailty_variance, sus.frailty_actor_share
        m2 = gamma_power_mean(theta, 2 * w) * gamma_power_mean(theta, 2 * (1 - w))
        m1 = gamma_power_mean(theta, w) * gamma_power_mean(theta, 1 - w)
        facts["frailty"] = {
            "actor_share": float(w),
            "variance_configured": float(theta),
            "variance_model": float(m2 / (m1 * m1) - 1.0),
            "variance_realised": float(cat["z"].var()) if n else None,
            "mean_realised": float(cat["z"].mean()) if n else None,
            "mean_realised_first_accounts": float(cat["z"][sup.inc == 1].mean())
            if n
            else None,
            "log_frailty_corr_consecutive": _corr(lz[has_pred], lz[sup.pred[has_pred]]),
            "n_actors": int(sup.n_actors),
        }
    if sus.early_spike != 0.0:
        truth["spike_suspension"] = (cat["spike"].astype(bool), every, pl.Boolean())
        t_s = (susp - created)[in_win]
        facts["early_spike"] = {
            "extra_cumulative_hazard": float(sus.early_spike),
            "population": "supporter accounts created inside the window",
            "n": int(in_win.sum()),
            "share_suspended_within_1d": float((t_s <= 1.0).mean())
            if len(t_s)
            else None,
            "n_spike_suspensions": int(cat["spike"][in_win].sum()),
            "share_spike_suspensions": float(cat["spike"][in_win].mean())
            if len(t_s)
            else None,
        }
    if sweeps:
        ended_s = np.isfinite(susp) & (susp <= dele)

        def rate(lo: float, hi: float) -> float:
            hit = ended_s & (susp >= lo) & (susp < hi)
            return float(hit.sum()) / (hi - lo)

        out = []
        for d, (a, b) in zip(sus.sweep_dates, sweeps, strict=True):
            k = int((ended_s & (susp >= a) & (susp < b)).sum())
            out.append(
                {
                    "date": d,
                    "days": float(sus.sweep_days),
                    "multiplier": float(sus.sweep_multiplier),
                    "suspensions": k,
                    "suspensions_per_day": k / (b - a),
                    "suspensions_per_day_7d_before": rate(a - 7.0, a),
                    "suspensions_per_day_7d_after": rate(b, b + 7.0),
                }
            )
        facts["sweeps"] = out
    if sus.p_delete_before_suspension != 0.0:
        ant = cat["anticipated"].astype(bool)
        truth["anticipated_deletion"] = (ant, every, pl.Boolean())
        elig = np.isfinite(susp) & ((susp < dele) | ant)
        ant_w = ant & (dele >= 0.0) & (dele < te)
        facts["anticipating_deletion"] = {
            "probability": float(sus.p_delete_before_suspension),
            "anticipation_days": float(sus.anticipation_days),
            "n_deletions": int(ant.sum()),
            "n_deletions_in_window": int(ant_w.sum()),
            "share_of_coming_suspensions": float(ant[elig].mean())
            if elig.any()
            else None,
            "mean_lead_days": float((susp - dele)[ant].mean()) if ant.any() else None,
        }
    if res.p_backup != 0.0:
        bk = cat["backup"].astype(bool)
        truth["backup"] = (bk, has_pred, pl.Boolean())
        lead = susp[sup.pred[bk]] - created[bk]
        tc = cal.census
        alive_c = (created <= tc) & (susp > tc) & (dele > tc)
        per_actor = np.bincount(sup.actor[alive_c], minlength=sup.n_actors)
        facts["backup"] = {
            "probability": float(res.p_backup),
            "lead_days_max": float(res.backup_lead_days),
            "n_successors": int(has_pred.sum()),
            "n_backup_successors": int(bk.sum()),
            "share_of_successors": float(bk[has_pred].mean())
            if has_pred.any()
            else None,
            "mean_lead_days": float(lead.mean()) if len(lead) else None,
            "actors_with_two_live_accounts_at_census": int((per_actor >= 2).sum()),
        }
    if evasion is not None:
        truth["evasion"] = (evasion, every, pl.Float64())
        sd = float(res.evasion_sd)
        ind = {
            "display_name": sup.reused["display_name"][has_pred],
            "profile_image_hash": sup.reused["profile_image_hash"][has_pred],
            "description": sup.reused["description"][has_pred],
            "related_handle": np.isin(sup.handle_change[has_pred], ("suffix", "edit")),
        }
        keys = list(ind)
        corr = {
            f"{a}~{b}": _corr(ind[a], ind[b])
            for i, a in enumerate(keys)
            for b in keys[i + 1 :]
        }
        conf = {
            "display_name": res.p_reuse_display,
            "profile_image_hash": res.p_reuse_avatar,
            "description": res.p_reuse_bio,
            "related_handle": res.p_suffix + res.p_edit,
        }
        facts["evasion"] = {
            "sd": sd,
            "logit_offset": {k: evasion_offset(p, sd) for k, p in conf.items()},
            "share_configured": {k: float(p) for k, p in conf.items()},
            "share_realised": {
                k: float(v.mean()) if len(v) else None for k, v in ind.items()
            },
            "reuse_correlation": corr,
            "n_successors": int(has_pred.sum()),
        }


def _supporter_names(
    cfg: SimConfig,
    rng: np.random.Generator,
    inc: np.ndarray,
    pred: np.ndarray,
    evasion: np.ndarray | None = None,
) -> tuple[pl.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Make fresh identities for first accounts; successors derive theirs.

    ``evasion`` (per account, its actor's propensity ``e``) shifts the logit of
    every reuse probability and of keeping a related handle by ``-e`` (after an
    offset that keeps each marginal share as configured, :func:`evasion_offset`).
    """
    res = cfg.resurrection
    n = len(inc)
    p_rel = res.p_suffix + res.p_edit
    probs: dict[str, float | np.ndarray] = {
        "display_name": res.p_reuse_display,
        "profile_image_hash": res.p_reuse_avatar,
        "description": res.p_reuse_bio,
    }
    p_suf: float | np.ndarray = res.p_suffix
    p_related: float | np.ndarray = p_rel
    if evasion is not None:
        sd = res.evasion_sd
        probs = {k: evasive_probability(p, sd, evasion) for k, p in probs.items()}
        p_related = evasive_probability(p_rel, sd, evasion)
        p_suf = p_related * (res.p_suffix / p_rel) if p_rel > 0 else p_related * 0.0
    fresh = supporter_profiles(rng, n, SUP_LANG_P)
    cols = {c: fresh[c].to_numpy().astype(object) for c in fresh.columns}
    change = np.full(n, "", dtype=object)
    reused = {
        "display_name": np.zeros(n, bool),
        "profile_image_hash": np.zeros(n, bool),
        "description": np.zeros(n, bool),
    }
    u_mode = rng.random(n)
    u_disp, u_av, u_bio = rng.random(n), rng.random(n), rng.random(n)
    ops, pos, let = rng.integers(0, 4, n), rng.random(n), rng.integers(0, 26, n)
    # bio edits and language changes on return
    u_bio_edit, u_lang, bio_op = rng.random(n), rng.random(n), rng.integers(0, 3, n)
    sura, aya = rng.integers(1, 115, n), rng.integers(1, 120, n)
    emojis = np.asarray([e for e in SUP_BIO_EMOJI if e], dtype=object)
    bio_emoji = emojis[rng.integers(0, len(emojis), n)]
    for k in range(2, int(inc.max(initial=1)) + 1):
        idx = np.flatnonzero(inc == k)
        if not len(idx):
            break
        p = pred[idx]
        if evasion is None:
            mode = np.where(
                u_mode[idx] < res.p_suffix,
                "suffix",
                np.where(u_mode[idx] < res.p_suffix + res.p_edit, "edit", "new"),
            )
        else:
            mode = np.where(
                u_mode[idx] < np.asarray(p_suf)[idx],
                "suffix",
                np.where(u_mode[idx] < np.asarray(p_related)[idx], "edit", "new"),
            )
        change[idx] = mode
        old = cols["screen_name"][p]
        new = cols["screen_name"][idx]
        cols["screen_name"][idx] = [
            suffix_increment(o)
            if m == "suffix"
            else small_edit(o, int(op), float(ps), int(lt))
            if m == "edit"
            else nw
            for o, nw, m, op, ps, lt in zip(
                old, new, mode, ops[idx], pos[idx], let[idx], strict=True
            )
        ]
        keep_lang = u_lang[idx] < res.p_keep_lang
        cols["lang"][idx[keep_lang]] = cols["lang"][p[keep_lang]]
        for col, u in (
            ("display_name", u_disp),
            ("profile_image_hash", u_av),
            ("description", u_bio),
        ):
            prob = probs[col]
            keep = u[idx] < (prob if np.ndim(prob) == 0 else np.asarray(prob)[idx])
            cols[col][idx[keep]] = cols[col][p[keep]]
            reused[col][idx] = keep
        keep_loc = reused["description"][idx]
        cols["location"][idx[keep_loc]] = cols["location"][p[keep_loc]]
        # a copied bio is sometimes edited a little (emoji, verse, return prefix)
        ed = idx[keep_loc & (u_bio_edit[idx] < res.p_edit_bio)]
        cols["description"][ed] = [
            edit_bio(str(b), int(o), int(kk), f"{sa}:{aa}", str(em))
            for b, o, kk, sa, aa, em in zip(
                cols["description"][ed],
                bio_op[ed],
                inc[ed],
                sura[ed],
                aya[ed],
                bio_emoji[ed],
                strict=True,
            )
        ]
    profiles = pl.DataFrame({c: pl.Series(v, dtype=pl.String) for c, v in cols.items()})
    return profiles, change, reused


def background_prominence(followers: np.ndarray, net: Network) -> np.ndarray:
    """Prominence proxy of background accounts from their follower counts.

    ``(log followers - log background_followers_median) /
    background_followers_sigma``: the standard-normal score that drew the count
    (counts below 1 are taken as 0.5).
    """
    return (
        np.log(np.maximum(followers, 0.5)) - np.log(net.background_followers_median)
    ) / net.background_followers_sigma


@dataclass
class Background:
    """Background accounts (arrays over the whole platform; text made on demand)."""

    created: np.ndarray
    susp: np.ndarray
    dele: np.ndarray
    watcher: np.ndarray
    followers: np.ndarray
    friends: np.ndarray
    status_rate: np.ndarray
    act: np.ndarray
    # local index of the background account this one succeeds (-1 = none); only
    # set when suspended spam accounts return (``background_return_share``)
    pred: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.created)

    @property
    def end(self) -> np.ndarray:
        return np.minimum(self.susp, self.dele)


def make_background(
    cfg: SimConfig, cal: Calendar, rng: np.random.Generator
) -> Background:
    """Most of the platform: spam suspension and owner deletion are rare events."""
    pop, sus, net = cfg.population, cfg.suspension, cfg.network
    n = int(pop.n_background)
    created = rng.uniform(cal.end - pop.background_age_years * 365.25, cal.end, n)

    def latent(rate: float) -> np.ndarray:
        if rate <= 0:
            return np.full(n, np.inf)
        t = rng.exponential(1.0 / rate, n)
        return np.where(t > HORIZON_DAYS, np.inf, created + t)

    susp = latent(sus.background_suspension_rate)
    dele = latent(sus.background_deletion_rate)
    watcher = rng.random(n) < pop.watcher_share
    med = np.where(
        watcher, net.watcher_followers_median, net.background_followers_median
    )
    followers = np.exp(
        np.log(med) + net.background_followers_sigma * rng.standard_normal(n)
    )
    act = rng.standard_normal(n)
    friends = np.exp(np.log(net.friends_median) + 0.9 * rng.standard_normal(n))
    status_rate = 2.0 * np.exp(0.9 * act)
    return Background(
        created,
        susp,
        dele,
        watcher,
        followers.astype(np.float32),
        friends.astype(np.float32),
        status_rate.astype(np.float32),
        act.astype(np.float32),
    )
