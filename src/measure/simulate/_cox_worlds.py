"""Clustered status panels with a known marginal Cox model.

The stress worlds give accounts a frailty (shared within an actor by
``frailty_actor_share``); conditional on a frailty the hazard is proportional,
but the hazard of the population is not, so no Cox coefficient is "the truth"
there. These panels are built so that one is: accounts of an actor are joined by
a Clayton copula (the gamma-frailty construction of Oakes 1989), whose margins
are exactly Weibull proportional hazards,

    S(t | x) = exp(-(t / scale) ** shape * exp(x @ beta)),

so the marginal (population-averaged) coefficient is ``beta`` whatever the
dependence (Kendall's tau = theta / (theta + 2)). Accounts are then looked up on
a weekly schedule with jitter, as a churn panel is, and followed for a random
time: the churn Cox model sees the event only inside a look-up interval.

References
----------
Oakes, D. (1989). Bivariate survival models induced by frailties. JASA 84,
487-493.
Lin, D. Y. & Wei, L. J. (1989). The robust inference for the Cox proportional
hazards model. JASA 84, 1074-1078.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: Marginal coefficients: an actor-level 0/1 covariate (shared by all accounts
#: of an actor) and an account-level standard normal one.
BETA = (0.5, -0.5)
COVARIATES = ("actor_level", "account_level")


@dataclass(frozen=True)
class CoxWorld:
    """One clustered panel: lifetimes frame and the copula's dependence.

    Attributes
    ----------
    frame
        ``account_id``, ``entry`` (0), ``left``, ``right``, ``time`` (midpoint of
        the look-up interval for suspensions, last look-up when censored),
        ``event`` (1 suspended, 0 censored), ``actor``, the covariates, and
        ``latent`` (the true time to suspension, for checks).
    theta
        Clayton dependence parameter of this world.
    """

    frame: pl.DataFrame
    theta: float


def cox_world(seed: int, *, n_actors: int = 250, shape: float = 0.6,
              scale: float = 60.0, look_every: float = 7.0) -> CoxWorld:
    """Draw a clustered panel (see the module docstring).

    Actors run 1-5 accounts (uniform); theta is drawn uniform in [0.5, 4]
    (Kendall's tau 0.2-0.67); each account is followed for a uniform 30-180 days
    and looked up every ``look_every`` days with +-1 day of jitter.
    """
    rng = np.random.default_rng(seed)
    theta = float(rng.uniform(0.5, 4.0))
    size = rng.integers(1, 6, n_actors)
    actor = np.repeat(np.arange(n_actors), size)
    n = actor.size
    w = rng.gamma(1 / theta, 1.0, n_actors)[actor]
    u = (1 + rng.exponential(size=n) / w) ** (-1 / theta)  # uniform margins
    x = np.column_stack([rng.binomial(1, 0.5, n_actors)[actor].astype(float),
                         rng.normal(size=n)])
    t = scale * (-np.log(u) * np.exp(-x @ np.asarray(BETA))) ** (1 / shape)
    follow = rng.uniform(30.0, 180.0, n)
    k = int(np.ceil(180.0 / look_every)) + 1
    looks = (np.arange(1, k + 1)[None, :] * look_every
             + rng.uniform(-1.0, 1.0, (n, k)))
    looks = np.where(looks <= follow[:, None], looks, np.inf)
    last_look = np.max(np.where(np.isfinite(looks), looks, 0.0), axis=1)
    # first look-up at or after the event, and the one before it
    after = np.where(looks >= t[:, None], looks, np.inf).min(axis=1)
    before = np.where(looks < t[:, None], looks, 0.0).max(axis=1)
    event = np.isfinite(after)
    left = np.where(event, before, last_look)
    right = np.where(event, after, np.inf)
    time = np.where(event, (left + right) / 2, last_look)
    keep = time > 0  # an account never looked up carries no information
    frame = pl.DataFrame({
        "account_id": np.arange(n)[keep], "entry": np.zeros(int(keep.sum())),
        "left": left[keep], "right": right[keep], "time": time[keep],
        "event": event[keep].astype(np.int64), "actor": actor[keep],
        COVARIATES[0]: x[keep, 0], COVARIATES[1]: x[keep, 1], "latent": t[keep]})
    return CoxWorld(frame=frame, theta=theta)
