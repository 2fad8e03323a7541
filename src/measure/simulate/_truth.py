"""Ground truth of a simulated world: ``truth.json`` and ``truth/*.parquet``.

Estimators never read these files; tests compare estimates with them. Every key is
documented in ``docs/simulation.md`` ("Truth").
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from measure.errors import DataContractError

if TYPE_CHECKING:  # pragma: no cover
    from measure.simulate._simulate import _World

#: Bumped whenever the same seed and parameters give a different world (stored in
#: truth.json; the demo simulates again when it differs). 2: free-text bios and
#: three-part display names; 3: edited bios and changed languages on return.
SIMULATOR_VERSION = 3
FOLLOWER_AGE_DAYS = 14.0
RETURN_WINDOW_DAYS = 30.0
#: How an account entered the data (``truth/accounts.seen_via``; "" = never).
SEEN_VIA = ("", "census", "detection", "discovery", "recrawl_list")
#: Exact definition of ``resurrection.rate_30d_observable`` (also in truth.json).
RATE_30D_OBSERVABLE_DEFINITION = (
    "Among supporter accounts with at least one 'suspended' look-up in "
    "observations whose last 'active' look-up (first_seen when there is none) lies "
    "at least 30 days before the last look-up in the data, the share whose actor's "
    "next account (the true successor) was created at most 30 days after the true "
    "suspension time AND is in the accounts table."
)
#: Exact definition of ``resurrection.rate_30d_in_data`` (also in truth.json).
#: Background accounts count as not returning, including the spam accounts that
#: return with ``resurrection.background_return_share`` (their successors are not
#: supporter returns).
RATE_30D_IN_DATA_DEFINITION = (
    "Among all accounts in the accounts table with at least one 'suspended' look-up "
    "in observations (supporters and background accounts; background accounts "
    "never return) whose last 'active' look-up (first_seen when there is none) "
    "lies at least 30 days before the last look-up in the data, the share whose "
    "actor's next account in the accounts table (which may skip accounts the data "
    "never show) was created at most 30 days after the true suspension time."
)
DAY_S = 86_400
LINK_COLUMNS = (
    "in_data",
    "seen_suspended",
    "last_active_at",
    "first_suspended_at",
    "followers_listed",
    "discovered_at",
    "seen_via",
    "suspended_at",
    "created_at",
)


@dataclass(frozen=True)
class Truth:
    """The truth of one simulated world.

    Attributes
    ----------
    json
        The parsed ``truth.json``.
    accounts
        One row per account in the world (observed or not), see
        ``docs/simulation.md``.
    actors
        One row per supporter actor: ``actor_id, arrived_at, n_accounts``.
    """

    json: dict[str, Any]
    accounts: pl.DataFrame
    actors: pl.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        """``truth.json["counts"]``."""
        return self.json["counts"]

    @property
    def alive_at_census(self) -> int:
        """True number of supporter accounts alive at the census date."""
        return int(self.json["counts"]["supporter_accounts_alive_at_census"])

    @property
    def capture_population(self) -> int:
        """True number of supporter accounts alive at the census date.

        ``truth.json["counts"]["capture_population"]``, equal to
        :attr:`alive_at_census`: the population of the capture-recapture
        estimand. With list windows (``capture.list_window_days``) or false
        detections (``capture.false_detection_share``) the detections also reach
        other accounts; ``truth.json["stress"]["capture"]`` records them
        (``population_ever_alive_in_windows``, ``n_false_detections``).
        """
        return int(self.json["counts"]["capture_population"])

    @property
    def in_frame(self) -> int:
        """True number of supporter accounts in the census frame."""
        return int(self.json["counts"]["supporter_accounts_in_frame"])

    @property
    def census_date(self) -> str:
        """The census date (ISO)."""
        return str(self.json["census_date"])

    @property
    def config(self) -> dict[str, Any]:
        """Every parameter of the world."""
        return self.json["config"]

    @property
    def coding(self) -> dict[str, Any]:
        """Coder sensitivity, specificity and the double-coded share."""
        return self.json["coding"]

    @property
    def resurrection(self) -> dict[str, Any]:
        """True return rate, delays and follower recovery."""
        return self.json["resurrection"]

    @property
    def survival(self) -> dict[str, Any]:
        """Latent time-to-suspension facts for supporter accounts."""
        return self.json["survival"]

    def supporters(self) -> pl.DataFrame:
        """Truth rows of supporter accounts only."""
        return self.accounts.filter(pl.col("is_supporter"))

    def links(self) -> pl.DataFrame:
        """Return the true resurrection links ``predecessor_id -> account_id``.

        Besides ``predecessor_id, account_id, actor_id, incarnation`` (and
        ``delay_days``, creation of the new account minus the true suspension of the
        previous one), worlds made since re-crawls exist carry what the data can
        show of each link (``docs/simulation.md``, "Truth"):
        ``previous_in_data, new_in_data`` (in the ``accounts`` table),
        ``previous_seen_suspended`` (a ``suspended`` look-up in ``observations``),
        ``previous_last_active_at, previous_first_suspended_at`` (look-up times),
        ``previous_followers_listed, new_followers_listed`` (a followers list was
        collected), ``new_first_seen`` (the new account's ``first_seen``),
        ``new_seen_via`` and ``observable`` = previous seen suspended and new in the
        data.
        """
        acc = self.accounts
        base = acc.filter(pl.col("predecessor_id").is_not_null())
        out = base.select("predecessor_id", "account_id", "actor_id", "incarnation")
        if "in_data" not in acc.columns:  # a world made before re-crawls existed
            return out
        prev = acc.select(
            pl.col("account_id").alias("predecessor_id"),
            pl.col("in_data").alias("previous_in_data"),
            pl.col("seen_suspended").alias("previous_seen_suspended"),
            pl.col("last_active_at").alias("previous_last_active_at"),
            pl.col("first_suspended_at").alias("previous_first_suspended_at"),
            pl.col("followers_listed").alias("previous_followers_listed"),
            pl.col("suspended_at").alias("_prev_susp"),
        )
        new = base.select(
            "account_id",
            pl.col("in_data").alias("new_in_data"),
            pl.col("followers_listed").alias("new_followers_listed"),
            pl.col("discovered_at").alias("new_first_seen"),
            pl.col("seen_via").alias("new_seen_via"),
            pl.col("created_at").alias("_new_created"),
        )
        return (
            out.join(prev, on="predecessor_id", how="left")
            .join(new, on="account_id", how="left")
            .with_columns(
                delay_days=(
                    pl.col("_new_created") - pl.col("_prev_susp")
                ).dt.total_seconds()
                / 86400.0,
                observable=pl.col("previous_seen_suspended") & pl.col("new_in_data"),
            )
            .drop("_prev_susp", "_new_created")
        )

    def _need_data_columns(self) -> None:
        if "in_data" not in self.accounts.columns:
            raise DataContractError(
                "this world was made before the truth recorded what the data show; "
                "simulate it again",
                table="truth/accounts",
            )

    def _chain_in_data(self) -> pl.DataFrame:
        """Supporter accounts in the data, each with its actor's next one there."""
        self._need_data_columns()
        sup = self.accounts.filter(pl.col("is_supporter") & pl.col("in_data")).sort(
            "actor_id", "incarnation"
        )
        return sup.with_columns(
            pl.col("account_id").shift(-1).over("actor_id").alias("next_id"),
            pl.col("created_at").shift(-1).over("actor_id").alias("next_created_at"),
        )

    def observable_links(self, window_days: float = 60.0) -> pl.DataFrame:
        """Return the resurrection links as the data can show them.

        For every supporter account in the ``accounts`` table that was seen
        suspended (a ``suspended`` look-up), the link to its actor's **next
        account in the data** (incarnation order). The new account may skip
        incarnations the collection never found (``a1 -> a3`` when ``a2`` is not
        in the data): the data cannot show ``a2`` and ``a3`` is the same actor's
        return. :meth:`links` ``.observable`` is the stricter set (true successor
        only); ``skipped > 0`` marks the difference.

        Parameters
        ----------
        window_days
            Search window of a linker: ``linkable`` is true when the new account
            was created at most ``window_days`` after the previous account's first
            ``suspended`` look-up.

        Returns
        -------
        polars.DataFrame
            ``previous_id, new_id, actor_id, previous_incarnation,
            new_incarnation, skipped`` (incarnations in between that the data never
            show), ``delay_days`` (new account's creation minus the previous
            account's true suspension), ``previous_last_active_at,
            previous_first_suspended_at, previous_followers_listed,
            new_created_at, new_first_seen, new_seen_via, new_looked_up,
            new_followers_listed``, ``lag_days`` (new account's creation minus the
            previous account's first ``suspended`` look-up) and ``linkable``.
            Sorted by ``actor_id, previous_incarnation``.
        """
        acc = self._chain_in_data()
        nxt = self.accounts.select(
            pl.col("account_id").alias("new_id"),
            pl.col("incarnation").alias("new_incarnation"),
            pl.col("created_at").alias("new_created_at"),
            pl.col("discovered_at").alias("new_first_seen"),
            pl.col("seen_via").alias("new_seen_via"),
            pl.col("looked_up").alias("new_looked_up"),
            pl.col("followers_listed").alias("new_followers_listed"),
        )
        links = acc.filter(pl.col("seen_suspended") & pl.col("next_id").is_not_null())
        days = pl.duration(days=window_days)
        return (
            links.select(
                pl.col("account_id").alias("previous_id"),
                pl.col("next_id").alias("new_id"),
                "actor_id",
                pl.col("incarnation").alias("previous_incarnation"),
                pl.col("suspended_at").alias("_susp"),
                pl.col("last_active_at").alias("previous_last_active_at"),
                pl.col("first_suspended_at").alias("previous_first_suspended_at"),
                pl.col("followers_listed").alias("previous_followers_listed"),
            )
            .join(nxt, on="new_id", how="left")
            .with_columns(
                skipped=pl.col("new_incarnation") - pl.col("previous_incarnation") - 1,
                delay_days=(
                    pl.col("new_created_at") - pl.col("_susp")
                ).dt.total_seconds()
                / DAY_S,
                lag_days=(
                    pl.col("new_created_at") - pl.col("previous_first_suspended_at")
                ).dt.total_seconds()
                / DAY_S,
                linkable=pl.col("new_created_at")
                <= pl.col("previous_first_suspended_at") + days,
            )
            .drop("_susp")
            .select(
                "previous_id",
                "new_id",
                "actor_id",
                "previous_incarnation",
                "new_incarnation",
                "skipped",
                "delay_days",
                "previous_last_active_at",
                "previous_first_suspended_at",
                "previous_followers_listed",
                "new_created_at",
                "new_first_seen",
                "new_seen_via",
                "new_looked_up",
                "new_followers_listed",
                "lag_days",
                "linkable",
            )
            .sort("actor_id", "previous_incarnation")
        )

    def suspended_in_data(self) -> pl.DataFrame:
        """Every account seen suspended, with what its return rate needs.

        Returns
        -------
        polars.DataFrame
            One row per account (supporter or background) with a ``suspended``
            look-up: ``account_id, is_supporter, known_alive_at`` (last ``active``
            look-up, else ``first_seen``), ``suspended_at`` (true suspension) and
            ``next_created_at`` (creation of the actor's next account in the data;
            null for background accounts and for actors that never show again).
        """
        chain = self._chain_in_data().select("account_id", "next_created_at")
        seen = self.accounts.filter(pl.col("seen_suspended"))
        return seen.select(
            "account_id",
            "is_supporter",
            pl.coalesce(
                "last_active_at",
                pl.min_horizontal("discovered_at", "first_suspended_at"),
            ).alias("known_alive_at"),
            "suspended_at",
        ).join(chain, on="account_id", how="left")

    def rate_in_data(
        self, days: float = 30.0, lag_days: float = 0.0
    ) -> tuple[float | None, int]:
        """Return the ``days``-day return rate the data can show, and its n.

        ``resurrection.rate_30d_in_data`` for other horizons: among the accounts
        seen suspended (:meth:`suspended_in_data`) known alive at least ``days +
        lag_days`` before the last look-up in the data
        (``resurrection.last_lookup_at``), the share whose actor's next account in
        the data was created at most ``days`` after the true suspension. ``None``
        when no account is eligible.
        """
        last = self.resurrection.get("last_lookup_at")
        if last is None:
            raise DataContractError(
                "truth.json has no resurrection.last_lookup_at; simulate it again",
                file="truth.json",
            )
        end = pl.lit(dt.datetime.fromisoformat(last)).cast(pl.Datetime("us", "UTC"))
        df = self.suspended_in_data().with_columns(
            ((end - pl.col("known_alive_at")).dt.total_seconds() / DAY_S).alias("fu"),
            (
                (pl.col("next_created_at") - pl.col("suspended_at")).dt.total_seconds()
                / DAY_S
            ).alias("d"),
        )
        el = df.filter(pl.col("fu") >= days + lag_days)
        ev = el.filter(pl.col("d").is_not_null() & (pl.col("d") <= days)).height
        return (ev / el.height if el.height else None), el.height


def _read(path: Path, name: str) -> pl.DataFrame:
    single, folder = path / "truth" / f"{name}.parquet", path / "truth" / name
    if single.is_file():
        return pl.read_parquet(single)
    if folder.is_dir():
        return pl.read_parquet(folder / "**" / "*.parquet")
    raise DataContractError(
        "truth table is missing; was this dataset made by `measure simulate`?",
        table=f"truth/{name}",
        file=str(single),
    )


def load_truth(path: str | os.PathLike[str]) -> Truth:
    """Read the truth of a simulated dataset (``truth.json`` and ``truth/``).

    Raises
    ------
    DataContractError
        The directory holds no simulation truth.
    """
    p = Path(path)
    tj = p / "truth.json"
    if not tj.is_file():
        raise DataContractError(
            "no truth.json: this is not a simulated dataset "
            "(make one with `measure simulate`)",
            file=str(tj),
        )
    return Truth(json.loads(tj.read_text()), _read(p, "accounts"), _read(p, "actors"))


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if len(x) else None


def _followers_listed(world: _World) -> np.ndarray:
    """Accounts with a collected followers list: census levels 0-1 or a re-crawl.

    Accounts with a sparse profile never have a list, at any level.
    """
    listed = (world.level == 0) | (world.level == 1)
    ident = getattr(world, "ident", None)
    if ident is not None and ident.sparse is not None:
        listed = listed & ~ident.sparse
    if hasattr(world, "listed"):
        listed = listed | world.listed
    return listed


def build_truth(world: _World) -> None:
    """Write ``truth/accounts``, ``truth/actors`` and ``truth.json`` for ``world``."""
    from measure.simulate._simulate import _nullable, _ts
    from measure.simulate._world import background_prominence, growth

    cfg, cal, c, w = world.cfg, world.cal, world.ctx, world.w
    sup, bg = c.sup, c.bg
    ns = sup.n
    net = cfg.network
    origin = cal.origin_us
    level = world.level
    disc = np.where(level >= 0, cal.census, np.nan)
    disc = np.where(np.isnan(disc), world.first_seen, disc)
    known = np.zeros(c.n, dtype=bool)
    known[world.known_all] = True
    disc = np.where(known, world.first_seen, np.nan)
    looked = np.zeros(c.n, dtype=bool)
    looked[world.obs_accounts] = True
    last_active = np.where(np.isfinite(world.last_active), world.last_active, np.nan)
    first_susp = np.where(
        np.isfinite(world.first_suspended), world.first_suspended, np.nan
    )
    listed = _followers_listed(world)
    via = np.full(c.n, SEEN_VIA.index(""), dtype=np.int64)
    via[world.listed_only] = SEEN_VIA.index("recrawl_list")
    via[np.isfinite(world.disc_t)] = SEEN_VIA.index("discovery")
    via[world.detected] = SEEN_VIA.index("detection")
    via[level >= 0] = SEEN_VIA.index("census")

    def followers(g: np.ndarray, t: np.ndarray) -> np.ndarray:
        return c.followers_at(g, t)

    def table(g: np.ndarray) -> pl.DataFrame:
        s = g < ns
        created = c.created[g]
        susp = c.by_group(g, sup.susp, bg.susp)
        dele = c.by_group(g, sup.dele, bg.dele)
        end = np.minimum(susp, dele)
        ended = end <= cal.end
        reason = np.where(susp <= dele, "suspended", "deleted")
        f_end = followers(g, np.minimum(end, cal.end))
        live14 = end > created + FOLLOWER_AGE_DAYS
        f14 = followers(g, created + FOLLOWER_AGE_DAYS)
        if s.all():
            actor = sup.actor[g] + 1
            inc = sup.inc[g]
            pred_l = sup.pred[g]
            pred = np.where(pred_l >= 0, c.ids[np.maximum(pred_l, 0)], 0)
            prom, act = sup.prom[g], sup.act[g]
            change = sup.handle_change[g]
            r_d = sup.reused["display_name"][g]
            r_a = sup.reused["profile_image_hash"][g]
            r_b = sup.reused["description"][g]
            has_pred = pred_l >= 0
        else:
            b = g - ns
            actor = np.zeros(len(g), np.int64)
            inc = np.zeros(len(g), np.int64)
            pred = np.zeros(len(g), np.int64)
            prom = background_prominence(bg.followers[b], net)
            act = bg.act[b]
            change = np.full(len(g), "", dtype=object)
            r_d = r_a = r_b = np.zeros(len(g), bool)
            has_pred = np.zeros(len(g), bool)
        is_s = bool(s.all())
        lv = level[g].astype(np.int64)
        vg = via[g]
        extra = {
            name: pl.Series(values[g], dtype=dtype)
            for name, (values, dtype) in world.extra_truth_columns.items()
        }
        return pl.DataFrame(
            {
                "account_id": pl.Series(c.ids[g], dtype=pl.Int64),
                "actor_id": _nullable(actor, np.full(len(g), is_s), pl.Int64),
                "is_supporter": pl.Series(np.full(len(g), is_s), dtype=pl.Boolean),
                "incarnation": _nullable(inc, np.full(len(g), is_s), pl.Int32),
                "predecessor_id": _nullable(pred, has_pred, pl.Int64),
                "created_at": _ts(created, origin),
                "suspended_at": _ts(susp, origin),
                "deleted_at": _ts(dele, origin),
                "end_at": _ts(np.where(ended, end, np.nan), origin),
                "end_reason": _nullable(reason, ended, pl.String),
                "in_frame": pl.Series(lv >= 0, dtype=pl.Boolean),
                "level": _nullable(lv, lv >= 0, pl.Int32),
                "discovered_at": _ts(disc[g], origin),
                "seen_via": _nullable(
                    np.asarray(SEEN_VIA, dtype=object)[vg], vg > 0, pl.String
                ),
                "in_data": pl.Series(known[g], dtype=pl.Boolean),
                "looked_up": pl.Series(looked[g], dtype=pl.Boolean),
                "seen_suspended": pl.Series(
                    np.isfinite(first_susp[g]), dtype=pl.Boolean
                ),
                "last_active_at": _ts(last_active[g], origin),
                "first_suspended_at": _ts(first_susp[g], origin),
                "followers_listed": pl.Series(listed[g], dtype=pl.Boolean),
                "followers_at_end": pl.Series(f_end, dtype=pl.Int64),
                "followers_at_14d": _nullable(f14, live14, pl.Int64),
                "prominence": pl.Series(prom, dtype=pl.Float64),
                "activity": pl.Series(act, dtype=pl.Float64),
                "handle_change": _nullable(change, change != "", pl.String),
                "reused_display_name": _nullable(r_d, has_pred, pl.Boolean),
                "reused_profile_image_hash": _nullable(r_a, has_pred, pl.Boolean),
                "reused_description": _nullable(r_b, has_pred, pl.Boolean),
                **extra,
            }
        )

    sup_tab = table(np.arange(ns))
    chunk = cfg.output.truth_chunk_rows
    if bg.n + ns <= chunk:
        w.write_table("truth/accounts", pl.concat([sup_tab, table(np.arange(ns, c.n))]))
    else:
        w.append("truth/accounts", sup_tab)
        for a in range(ns, c.n, chunk):
            w.append("truth/accounts", table(np.arange(a, min(a + chunk, c.n))))
    n_acc = np.bincount(sup.actor, minlength=sup.n_actors)
    actors = pl.DataFrame(
        {
            "actor_id": pl.Series(np.arange(sup.n_actors) + 1, dtype=pl.Int64),
            "arrived_at": _ts(sup.arrived, origin),
            "n_accounts": pl.Series(n_acc, dtype=pl.Int64),
        }
    )
    w.write_table("truth/actors", actors)
    tj = _truth_json(world, sup_tab)
    if world.cfg.mechanisms_on():
        on = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in world.cfg.mechanisms_on().items()
        }
        from measure.simulate._config import STRESS_VERSION

        tj["stress"] = {
            "version": STRESS_VERSION,
            "mechanisms": on,
            **world.extra_truth,
        }
    w.write_file("truth.json", json.dumps(tj, indent=2, sort_keys=True) + "\n")
    del growth


def _truth_json(world: _World, st: pl.DataFrame) -> dict[str, Any]:
    cfg, cal, c = world.cfg, world.cal, world.ctx
    sup = c.sup
    d = cfg.dates()
    tc, te = cal.census, cal.end
    created, end = sup.created, sup.end
    alive_c = (created <= tc) & (end > tc)
    active_w = (created < te) & (end > 0.0)
    frame = world.level >= 0
    # resurrection facts, from the chains
    susp_first = sup.susp <= sup.dele
    succ = np.flatnonzero(sup.pred >= 0)
    pred = sup.pred[succ]
    delay = created[succ] - sup.susp[pred]
    returned_30 = np.zeros(sup.n, dtype=bool)
    returned_30[pred[delay <= 30.0]] = True
    elig = susp_first & (sup.susp >= 0.0) & (sup.susp <= te - 30.0)
    # returns whose predecessor was suspended in the window, backups created
    # before the suspension (``p_backup``, negative delay) included
    in_win = (sup.susp[pred] >= 0.0) & (sup.susp[pred] < te)
    f14 = st["followers_at_14d"].to_numpy()
    f_end = st["followers_at_end"].to_numpy().astype(float)
    recov: dict[str, float | None] = {}
    recov_end: dict[str, float | None] = {}
    for k in range(2, int(sup.inc.max(initial=1)) + 1):
        m = sup.inc[succ] == k
        if m.sum() < 1:
            continue
        a, b = f14[succ[m]], f14[pred[m]]
        ok = ~np.isnan(a.astype(float)) & ~np.isnan(b.astype(float)) & (b > 0)
        recov[str(k)] = _median(a[ok].astype(float) / b[ok]) if ok.any() else None
        e_a, e_b = f_end[succ[m]], f_end[pred[m]]
        ok2 = e_b > 0
        recov_end[str(k)] = _median(e_a[ok2] / e_b[ok2]) if ok2.any() else None
    obs30 = _rate_30d_observable(world)
    # latent time to suspension of supporter accounts created in the window
    cw = (created >= 0.0) & (created < te)
    t_s = (sup.susp - created)[cw]
    crawls = world.crawls
    comp = crawls["complete"].to_numpy()
    under = crawls["_followers"].to_numpy() <= cfg.observation.crawl_cap
    lv = world.level
    return {
        "seed": world.seed,
        "preset": cfg.preset_name,
        "simulator_version": SIMULATOR_VERSION,
        "config": cfg.to_dict(),
        "window": {
            "start": d["start"].date().isoformat(),
            "end": d["end"].date().isoformat(),
            "history_start": d["history_start"].date().isoformat(),
        },
        "census_date": d["census_date"].date().isoformat(),
        "counts": {
            "supporter_accounts_alive_at_census": int(alive_c.sum()),
            "supporter_accounts_in_frame": int(frame[: sup.n].sum()),
            "frame_size": int(frame.sum()),
            "supporter_accounts_active_in_window": int(active_w.sum()),
            "capture_population": int(len(world.alive_sup)),
            "supporter_actors": int(sup.n_actors),
            "supporter_accounts_total": int(sup.n),
            "background_accounts": int(c.bg.n),
            "frame_by_level": {str(k): int((lv == k).sum()) for k in (0, 1, 2)},
            "supporters_by_level": {
                str(k): int((lv[: sup.n] == k).sum()) for k in (0, 1, 2)
            },
            "seeds": int(len(world.seeds)),
            "edges": int(world.w.rows.get("edges", 0)),
            "accounts_table_rows": int(world.accounts_rows),
            "observations_rows": int(world.observations_rows),
            "discovered_supporters": int(world.stats["discovered_supporters"]),
            "supporter_accounts_in_accounts_table": int((world.known < sup.n).sum()),
        },
        "coding": {
            "sensitivity": cfg.coding.sensitivity,
            "specificity": cfg.coding.specificity,
            "p_unclear": cfg.coding.p_unclear,
            "double_coded_share": cfg.coding.double_coded_share,
            "n_coded": int(len(world.coded)),
            "stratum_sizes": world.stratum_sizes,
        },
        "crawl": {
            "p_incomplete": cfg.observation.p_incomplete,
            "crawl_cap": cfg.observation.crawl_cap,
            "n_lists": int(crawls.height),
            "share_incomplete": float((~comp).mean()) if len(comp) else None,
            "share_incomplete_under_cap": float((~comp[under]).mean())
            if under.any()
            else None,
        },
        "recrawl": _recrawl_json(world),
        "capture": {
            "n_sources": cfg.capture.n_sources,
            "catch_probability_mean": world.stats["catch_probability_mean"],
        },
        "resurrection": {
            "p_return": cfg.resurrection.p_return,
            "rate_30d": float(returned_30[elig].mean()) if elig.any() else None,
            "n_suspended_eligible_30d": int(elig.sum()),
            "n_returns": int(len(succ)),
            "n_returns_after_suspension_in_window": int(in_win.sum()),
            "median_delay_days": _median(delay[in_win]),
            "mean_delay_days": float(delay[in_win].mean()) if in_win.any() else None,
            "follower_recovery_by_incarnation": recov,
            "follower_ratio_at_end_by_incarnation": recov_end,
            "max_incarnation": int(sup.inc.max(initial=0)),
            **obs30,
        },
        "survival": {
            "population": "supporter accounts created inside the window; latent "
            "time from creation to suspension (days), uncensored",
            "n": int(cw.sum()),
            "median_days": _median(t_s),
            "p_by_2d": float((t_s <= 2).mean()) if len(t_s) else None,
            "p_by_7d": float((t_s <= 7).mean()) if len(t_s) else None,
            "p_by_30d": float((t_s <= 30).mean()) if len(t_s) else None,
            "p_by_90d": float((t_s <= 90).mean()) if len(t_s) else None,
            "suspended_in_window": int(
                (susp_first & (sup.susp >= 0) & (sup.susp < te)).sum()
            ),
            "deleted_in_window": int(
                (~susp_first & (sup.dele >= 0) & (sup.dele < te)).sum()
            ),
        },
    }


def _recrawl_json(world: _World) -> dict[str, Any]:
    """Facts about the post-census re-crawls (``crawls.level`` = 99)."""
    o = world.cfg.observation
    st = world.stats.get("recrawl", {"lists": 0, "edges": 0, "incomplete": 0})
    n = int(st["lists"])
    return {
        "enabled": bool(o.recrawl_followers),
        "level": 99,
        "n_lists": n,
        "n_accounts": int(world.listed.sum()) if hasattr(world, "listed") else 0,
        "edges": int(st["edges"]),
        "share_incomplete": float(st["incomplete"]) / n if n else None,
        "n_capped": int(st.get("capped", 0)),
        "accounts_seen_only_in_recrawled_lists": int(len(world.listed_only)),
    }


def _rate_30d_observable(world: _World) -> dict[str, Any]:
    """Compute the 30-day return rate that the data can show (see the definition)."""
    c = world.ctx
    sup = c.sup
    ns = sup.n
    known = np.zeros(c.n, dtype=bool)
    known[world.known_all] = True
    fsus = world.first_suspended[:ns]
    seen = np.isfinite(fsus)
    la = world.last_active[:ns]
    lower = np.where(np.isfinite(la), la, world.first_seen[:ns])
    elig = seen & (world.data_end - lower >= RETURN_WINDOW_DAYS)
    succ = np.flatnonzero(sup.pred >= 0)
    pred = sup.pred[succ]
    ok = (sup.created[succ] - sup.susp[pred] <= RETURN_WINDOW_DAYS) & known[succ]
    ret = np.zeros(ns, dtype=bool)
    ret[pred[ok]] = True
    links_obs = seen[pred] & known[succ]
    listed = _followers_listed(world)
    return {
        **_rate_30d_in_data(world, known),
        "rate_30d_observable": float(ret[elig].mean()) if elig.any() else None,
        "n_eligible_30d_observable": int(elig.sum()),
        "n_returned_30d_observable": int((ret & elig).sum()),
        "rate_30d_observable_definition": RATE_30D_OBSERVABLE_DEFINITION,
        "n_suspended_seen": int(seen.sum()),
        "n_links_observable": int(links_obs.sum()),
        "n_links_observable_both_listed": int(
            (links_obs & listed[pred] & listed[succ]).sum()
        ),
        "n_links_both_in_data": int((known[pred] & known[succ]).sum()),
    }


def _rate_30d_in_data(world: _World, known: np.ndarray) -> dict[str, Any]:
    """Compute ``rate_30d_in_data`` and the observable-link counts (see definitions).

    Times are compared in whole seconds, as the dataset stores them, so the figures
    equal what :meth:`Truth.rate_in_data` and :meth:`Truth.observable_links` derive
    from the written tables.
    """
    from measure.simulate._simulate import _ts

    c, sup = world.ctx, world.ctx.sup
    ns = sup.n

    def sec(x: np.ndarray | float) -> np.ndarray:
        return np.round(np.asarray(x, dtype=np.float64) * 86400.0)

    fsus = world.first_suspended
    seen = np.isfinite(fsus)
    la = world.last_active
    lower = np.where(np.isfinite(la), la, np.minimum(world.first_seen, fsus))
    end = world.last_lookup
    elig = np.zeros(c.n, dtype=bool)
    if np.isfinite(end):
        elig[seen] = sec(end) - sec(lower[seen]) >= RETURN_WINDOW_DAYS * DAY_S
    # each supporter account in the data -> its actor's next account in the data
    ks = np.flatnonzero(known[:ns])
    ks = ks[np.lexsort((sup.inc[ks], sup.actor[ks]))]
    same = sup.actor[ks[1:]] == sup.actor[ks[:-1]]
    nxt = np.full(ns, -1, dtype=np.int64)
    nxt[ks[:-1][same]] = ks[1:][same]
    has = np.flatnonzero((nxt >= 0) & seen[:ns])
    ret = np.zeros(c.n, dtype=bool)
    ret[has] = (
        sec(sup.created[nxt[has]]) - sec(sup.susp[has]) <= RETURN_WINDOW_DAYS * DAY_S
    )
    skip = sup.pred[nxt[has]] != has
    last = (
        _ts(np.array([end]), world.cal.origin_us)[0].isoformat()
        if np.isfinite(end)
        else None
    )
    return {
        "rate_30d_in_data": float(ret[elig].mean()) if elig.any() else None,
        "n_eligible_30d_in_data": int(elig.sum()),
        "n_returned_30d_in_data": int((ret & elig).sum()),
        "rate_30d_in_data_definition": RATE_30D_IN_DATA_DEFINITION,
        "n_accounts_seen_suspended": int(seen.sum()),
        "n_links_in_data": int(len(has)),
        "n_links_in_data_skipping": int(skip.sum()),
        "last_lookup_at": last,
    }
