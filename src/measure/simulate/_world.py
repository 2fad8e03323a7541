"""The latent world: supporter actors and their account chains, background accounts.

All times are float days since the window start (``t = 0``); conversion to UTC
timestamps happens when tables are written. Generation is vectorised over accounts;
the only Python loop runs over incarnation rounds (at most ``max_incarnations``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from measure.simulate._config import SimConfig
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


def growth(age: np.ndarray, days: float) -> np.ndarray:
    """Share of its eventual audience an account has at ``age`` days."""
    return -np.expm1(-np.maximum(age, 0.0) / days)


@dataclass
class Supporters:
    """Supporter accounts (one row per account; arrays aligned)."""

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

    @property
    def n(self) -> int:
        return len(self.created)

    @property
    def end(self) -> np.ndarray:
        return np.minimum(self.susp, self.dele)


def make_supporters(
    cfg: SimConfig,
    cal: Calendar,
    rng: np.random.Generator,
    srng: np.random.Generator | None = None,
) -> Supporters:
    """Actors arrive (Poisson), hold one account at a time, return after suspension.

    ``rng`` is the world's stream; ``srng`` the stream of the stress mechanisms
    (drawn from only when one of them is on).
    """
    pop, sus, res, net = cfg.population, cfg.suspension, cfg.resurrection, cfg.network
    span = cal.end - cal.history_start
    n_act = int(rng.poisson(pop.actor_rate_per_day * span))
    arrived = np.sort(rng.uniform(cal.history_start, cal.end, n_act))
    r = pop.prominence_activity_corr
    a_prom = rng.standard_normal(n_act)
    a_act = r * a_prom + np.sqrt(1 - r * r) * rng.standard_normal(n_act)
    mu_f, sd_f = np.log(net.followers_median), net.followers_sigma

    rounds: list[dict[str, np.ndarray]] = []
    cur_actor = np.arange(n_act)
    cur_created = arrived
    cur_logf = mu_f + sd_f * a_prom
    cur_pred = np.full(n_act, -1)
    offset = 0
    k = 1
    while len(cur_actor) and k <= res.max_incarnations:
        n = len(cur_actor)
        prom = (cur_logf - mu_f) / sd_f
        act = 0.8 * a_act[cur_actor] + 0.6 * rng.standard_normal(n)
        theta = sus.frailty_variance
        z = rng.gamma(1.0 / theta, theta, n) if theta > 0 else np.ones(n)
        lam = (
            sus.baseline_scale
            * z
            * np.exp(sus.beta_prominence * prom + sus.beta_activity * act)
        )
        t_s = weibull_crackdown_times(
            rng.exponential(1.0, n),
            lam,
            sus.weibull_shape,
            cur_created,
            cal.crackdown_start,
            cal.crackdown_end,
            sus.crackdown_multiplier,
        )
        susp = np.where(t_s > HORIZON_DAYS, np.inf, cur_created + t_s)
        if sus.supporter_deletion_rate > 0:
            t_d = rng.exponential(1.0 / sus.supporter_deletion_rate, n)
            dele = np.where(t_d > HORIZON_DAYS, np.inf, cur_created + t_d)
        else:
            dele = np.full(n, np.inf)
        u_ret = rng.random(n)
        delay = rng.gamma(res.delay_shape, res.delay_mean_days / res.delay_shape, n)
        rec_noise = rng.normal(0.0, res.follower_recovery_sd, n)
        ret = (susp < dele) & (susp < cal.end) & (u_ret < res.p_return)
        new_created = susp + delay
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
            }
        )
        idx = np.flatnonzero(ret)
        cur_pred = offset + idx
        offset += n
        cur_actor = cur_actor[idx]
        cur_created = new_created[idx]
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
        )
    }
    n = len(cat["created"])
    conc, mean = net.in_network_share_concentration, net.in_network_share_mean
    in_share = rng.beta(mean * conc, (1 - mean) * conc, n)
    friends = np.exp(
        np.log(net.friends_median) + 0.8 * rng.standard_normal(n) + 0.3 * cat["act"]
    )
    status_rate = net.statuses_per_day_median * np.exp(0.8 * cat["act"])
    profiles, change, reused = _supporter_names(
        cfg, rng, cat["inc"].astype(int), cat["pred"].astype(int)
    )
    return Supporters(
        actor=cat["actor"].astype(np.int64),
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


def _supporter_names(
    cfg: SimConfig, rng: np.random.Generator, inc: np.ndarray, pred: np.ndarray
) -> tuple[pl.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Make fresh identities for first accounts; successors derive theirs."""
    res = cfg.resurrection
    n = len(inc)
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
    # session 3 (simulator version 3): bio edits and language changes on return
    u_bio_edit, u_lang, bio_op = rng.random(n), rng.random(n), rng.integers(0, 3, n)
    sura, aya = rng.integers(1, 115, n), rng.integers(1, 120, n)
    emojis = np.asarray([e for e in SUP_BIO_EMOJI if e], dtype=object)
    bio_emoji = emojis[rng.integers(0, len(emojis), n)]
    for k in range(2, int(inc.max(initial=1)) + 1):
        idx = np.flatnonzero(inc == k)
        if not len(idx):
            break
        p = pred[idx]
        mode = np.where(
            u_mode[idx] < res.p_suffix,
            "suffix",
            np.where(u_mode[idx] < res.p_suffix + res.p_edit, "edit", "new"),
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
        for col, u, prob in (
            ("display_name", u_disp, res.p_reuse_display),
            ("profile_image_hash", u_av, res.p_reuse_avatar),
            ("description", u_bio, res.p_reuse_bio),
        ):
            keep = u[idx] < prob
            cols[col][idx[keep]] = cols[col][p[keep]]
            reused[col][idx] = keep
        keep_loc = u_bio[idx] < res.p_reuse_bio
        cols["location"][idx[keep_loc]] = cols["location"][p[keep_loc]]
        # a copied bio is sometimes edited a little (emoji, verse, return prefix)
        ed = idx[keep_loc & (u_bio_edit[idx] < res.p_edit_bio)]
        cols["description"][ed] = [
            edit_bio(str(b), int(o), int(kk), f"{sa}:{aa}", str(em))
            for b, o, kk, sa, aa, em in zip(
                cols["description"][ed], bio_op[ed], inc[ed], sura[ed], aya[ed],
                bio_emoji[ed], strict=True,
            )
        ]
    profiles = pl.DataFrame({c: pl.Series(v, dtype=pl.String) for c, v in cols.items()})
    return profiles, change, reused


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
