"""Each configured probability is recovered from generated data within sampling error.

Every check compares an observed count with its expectation under the configured
model and fails when they differ by more than ``Z_TOL`` standard errors. The default
run checks the shared ``small_world``; ``make calibrate-tests`` repeats the checks over
several seeds and non-default configurations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rapidfuzz.distance import Levenshtein
from scipy import stats

import measure
from measure.simulate import SimConfig, load_truth
from measure.simulate._names import suffix_increment

# Two-sided 4-sigma band: with ~15 checks per world a false alarm has probability
# about 15 * 6e-5 = 1e-3 per world, while a wrong parameter (e.g. 0.6 vs 0.5 on
# hundreds of trials) is many standard errors away.
Z_TOL = 4.0
DAY = 86_400.0


# When set (calibration), every check appends (what, z) here.
_ZS: list[tuple[str, float]] | None = None


def _close(observed: float, expected: float, se: float, what: str) -> None:
    assert se > 0, what
    z = (observed - expected) / se
    if _ZS is not None:
        _ZS.append((what, z))
    assert abs(z) <= Z_TOL, (
        f"{what}: observed {observed:.4g}, expected {expected:.4g} (z = {z:.2f})"
    )


def _binom(hits: int, n: int, p: float, what: str) -> None:
    assert n > 0, what
    _close(hits / n, p, float(np.sqrt(p * (1 - p) / n)) or 1 / n, what)


def _pairs(path: Path) -> pl.DataFrame:
    """Observed successor/predecessor profile pairs (both in ``accounts``)."""
    truth = load_truth(path)
    with measure.open(path) as ds:
        acc = ds.sql(
            "SELECT account_id, screen_name, display_name, description, "
            "profile_image_hash FROM accounts"
        )
    links = truth.links()
    pre = acc.rename({c: f"pre_{c}" for c in acc.columns if c != "account_id"}).rename(
        {"account_id": "predecessor_id"}
    )
    return links.join(acc, on="account_id").join(pre, on="predecessor_id")


# -- the checks (each takes a world path) --
def check_return_probability(path: Path) -> None:
    t = load_truth(path)
    cfg = SimConfig.from_dict(t.config)
    r = cfg.resurrection
    sup = t.supporters()
    end = pl.lit(t.json["window"]["end"]).str.to_datetime().dt.replace_time_zone("UTC")
    start = (
        pl.lit(t.json["window"]["start"]).str.to_datetime().dt.replace_time_zone("UTC")
    )
    susp = sup.filter(
        (pl.col("end_reason") == "suspended") & (pl.col("suspended_at") >= start)
    )
    left = susp.select(
        ((end - pl.col("suspended_at")).dt.total_seconds() / DAY).alias("d")
    )["d"].to_numpy()
    p_i = r.p_return * stats.gamma.cdf(
        left, r.delay_shape, scale=r.delay_mean_days / r.delay_shape
    )
    returned = susp["account_id"].is_in(t.links()["predecessor_id"].implode())
    _close(
        float(returned.sum()),
        float(p_i.sum()),
        float(np.sqrt((p_i * (1 - p_i)).sum())),
        "returns after suspension",
    )


def check_return_delay(path: Path) -> None:
    t = load_truth(path)
    r = SimConfig.from_dict(t.config).resurrection
    acc = t.accounts
    end = pl.lit(t.json["window"]["end"]).str.to_datetime().dt.replace_time_zone("UTC")
    pairs = (
        t.links()
        .join(acc.select("account_id", "created_at"), on="account_id")
        .join(
            acc.select(pl.col("account_id").alias("predecessor_id"), "suspended_at"),
            on="predecessor_id",
        )
    )
    # suspensions at least 60 days before the end: P(delay > 60) is negligible
    d = (
        pairs.filter((end - pl.col("suspended_at")).dt.total_seconds() > 60 * DAY)
        .select(
            (
                (pl.col("created_at") - pl.col("suspended_at")).dt.total_seconds() / DAY
            ).alias("d")
        )["d"]
        .to_numpy()
    )
    sd = r.delay_mean_days / np.sqrt(r.delay_shape)
    _close(float(d.mean()), r.delay_mean_days, sd / np.sqrt(len(d)), "mean delay")


def check_handle_changes(path: Path) -> None:
    r = SimConfig.from_dict(load_truth(path).config).resurrection
    pairs = _pairs(path)
    old, new = pairs["pre_screen_name"].to_list(), pairs["screen_name"].to_list()
    suffix = sum(n == suffix_increment(o) for o, n in zip(old, new, strict=True))
    edit = sum(
        n != suffix_increment(o) and Levenshtein.distance(o, n) <= 2
        for o, n in zip(old, new, strict=True)
    )
    _binom(suffix, len(old), r.p_suffix, "numeric-suffix handles")
    _binom(edit, len(old), r.p_edit, "small-edit handles")


def check_profile_reuse(path: Path) -> None:
    """Reuse shares, allowing for chance equality between unrelated profiles."""
    r = SimConfig.from_dict(load_truth(path).config).resurrection
    pairs = _pairs(path)
    rng = np.random.default_rng(0)
    # a reused non-empty bio is edited a little (always changed, bar a verse
    # reference redrawn equal) with p_edit_bio; an empty one stays empty
    pre_bio = pairs["pre_description"].fill_null("")
    nonempty = float((pre_bio.str.len_chars() > 0).mean())
    p_bio_equal = r.p_reuse_bio * (1 - r.p_edit_bio * nonempty)
    for col, p in (
        ("display_name", r.p_reuse_display),
        ("profile_image_hash", r.p_reuse_avatar),
        ("description", p_bio_equal),
    ):
        a = pairs[f"pre_{col}"].to_numpy()
        b = pairs[col].to_numpy()
        # chance that two unrelated supporter profiles agree (shuffled pairs)
        q = float(np.mean(a == rng.permutation(b)))
        expected = p + (1 - p) * q
        _binom(int((a == b).sum()), len(a), expected, f"reused {col}")


def check_coders(path: Path) -> None:
    t = load_truth(path)
    c = t.coding
    with measure.open(path) as ds:
        lab = ds.sql("SELECT account_id, label, coder FROM labels")
    lab = lab.join(t.accounts.select("account_id", "is_supporter"), on="account_id")
    _binom(
        int((lab["label"] == "unclear").sum()),
        lab.height,
        c["p_unclear"],
        "unclear share",
    )
    clear = lab.filter(pl.col("label") != "unclear")
    sup = clear.filter(pl.col("is_supporter"))
    non = clear.filter(~pl.col("is_supporter"))
    _binom(
        int((sup["label"] == "supporter").sum()),
        sup.height,
        c["sensitivity"],
        "coder sensitivity",
    )
    _binom(
        int((non["label"] == "non_supporter").sum()),
        non.height,
        c["specificity"],
        "coder specificity",
    )
    n_a = int((lab["coder"] == "coder_a").sum())
    n_b = int((lab["coder"] == "coder_b").sum())
    _binom(n_b, n_a, c["double_coded_share"], "double-coded share")


def check_incomplete_crawls(path: Path) -> None:
    t = load_truth(path)
    cap = t.json["crawl"]["crawl_cap"]
    with measure.open(path) as ds:
        lists = ds.sql(
            "SELECT c.complete, o.followers_count FROM crawls c JOIN observations o "
            "ON o.account_id = c.account_id AND o.observed_at = ?::TIMESTAMPTZ "
            "WHERE c.level < 99",
            [t.census_date + " 00:00:00+00"],
        )
    n_crawls = t.json["crawl"]["n_lists"]
    assert lists.height == n_crawls
    under = lists.filter(pl.col("followers_count") <= cap)
    _binom(
        int((~under["complete"]).sum()),
        under.height,
        t.json["crawl"]["p_incomplete"],
        "incomplete crawls below the cap",
    )
    over = lists.filter(pl.col("followers_count") > cap)
    assert not over["complete"].any()


def check_recrawl_incomplete(path: Path) -> None:
    """Re-crawled lists under the cap stop early with probability p_incomplete."""
    t = load_truth(path)
    r = t.json["recrawl"]
    with measure.open(path) as ds:
        n = ds.sql("SELECT count(*) AS n, count(*) FILTER (WHERE NOT complete) AS i "
                   "FROM crawls WHERE level = 99")
    assert n["n"][0] == r["n_lists"] > 0
    assert n["i"][0] == round(r["share_incomplete"] * r["n_lists"])
    under = r["n_lists"] - r["n_capped"]  # every capped list is incomplete
    _binom(
        int(n["i"][0]) - r["n_capped"],
        under,
        t.json["crawl"]["p_incomplete"],
        "incomplete re-crawls below the cap",
    )


def check_detections(path: Path) -> None:
    t = load_truth(path)
    n = t.capture_population
    census = pl.lit(t.census_date).str.to_datetime().dt.replace_time_zone("UTC")
    alive = t.supporters().filter(
        (pl.col("created_at") <= census)
        & (pl.col("end_at").is_null() | (pl.col("end_at") > census))
    )
    assert alive.height == n
    with measure.open(path) as ds:
        per = ds.sql("SELECT source, count(*) AS n FROM detections GROUP BY source")
        ids = ds.sql("SELECT DISTINCT account_id FROM detections")["account_id"]
    # detections sample the capture population only
    assert ids.is_in(alive["account_id"].implode()).all()
    for row in per.iter_rows(named=True):
        p = t.json["capture"]["catch_probability_mean"][row["source"]]
        _binom(int(row["n"]), n, p, f"detections by {row['source']}")


def check_suspension_hazard(path: Path) -> None:
    """P(latent suspension <= t) against the Weibull-gamma-frailty formula.

    For gamma frailty with variance theta, S_i(t) = (1 + theta * lam_i * t**k) **
    (-1 / theta) with lam_i = scale * exp(b_p * prominence + b_a * activity);
    accounts created more than ``t`` days before the crackdown only.
    """
    t = load_truth(path)
    s = SimConfig.from_dict(t.config).suspension
    cd = pl.lit(s.crackdown_start).str.to_datetime().dt.replace_time_zone("UTC")
    start = (
        pl.lit(t.json["window"]["start"]).str.to_datetime().dt.replace_time_zone("UTC")
    )
    for days in (2.0, 30.0):
        a = t.supporters().filter(
            (pl.col("created_at") >= start)
            & ((cd - pl.col("created_at")).dt.total_seconds() > days * DAY)
        )
        lam = s.baseline_scale * np.exp(
            s.beta_prominence * a["prominence"].to_numpy()
            + s.beta_activity * a["activity"].to_numpy()
        )
        th = s.frailty_variance
        p_i = 1 - (1 + th * lam * days**s.weibull_shape) ** (-1 / th)
        t_s = a.select(
            ((pl.col("suspended_at") - pl.col("created_at")).dt.total_seconds() / DAY)
            .fill_null(np.inf)
            .alias("d")
        )["d"].to_numpy()
        _close(
            float((t_s <= days).sum()),
            float(p_i.sum()),
            float(np.sqrt((p_i * (1 - p_i)).sum())),
            f"suspended within {days:g} days",
        )


def check_deletion_rate(path: Path) -> None:
    t = load_truth(path)
    rate = SimConfig.from_dict(t.config).suspension.supporter_deletion_rate
    d = t.supporters().select(
        ((pl.col("deleted_at") - pl.col("created_at")).dt.total_seconds() / DAY).alias(
            "d"
        )
    )["d"]
    d = d.drop_nulls().to_numpy()
    # exponential: mean 1/rate, sd 1/rate (the 100-year horizon cuts exp(-73) of it)
    _close(
        float(d.mean()),
        1 / rate,
        (1 / rate) / np.sqrt(len(d)),
        "mean latent deletion time",
    )


def check_discovery(path: Path) -> None:
    """Supporter accounts outside the frame are found after the census.

    An account alive in (census, stop) is discovered with probability ``p`` after an
    exponential delay, if the delay ends before ``stop``: p * (1 - exp(-L / mean)).
    """
    t = load_truth(path)
    o = SimConfig.from_dict(t.config).observation
    census = pl.lit(t.census_date).str.to_datetime().dt.replace_time_zone("UTC")
    end = pl.lit(t.json["window"]["end"]).str.to_datetime().dt.replace_time_zone("UTC")
    a = (
        t.supporters()
        .filter(~pl.col("in_frame"))
        .with_columns(
            start=pl.max_horizontal("created_at", census),
            stop=pl.min_horizontal(pl.coalesce("end_at", end), end),
        )
        .filter(pl.col("stop") > pl.col("start"))
    )
    length = ((a["stop"] - a["start"]).dt.total_seconds() / DAY).to_numpy()
    p = np.where(a["incarnation"].to_numpy() > 1, o.p_discover_return, o.p_discover_new)
    p_i = p * -np.expm1(-length / o.discover_delay_mean_days)
    # accounts detected by a capture source are seen at the census: their later
    # discovery cannot be observed, so they are left out (as are accounts seen
    # only as followers in re-crawled lists: they are not "discovered")
    via = a["seen_via"].fill_null("")
    seen_at_census = (via == "detection").to_numpy()
    later = (via == "discovery").to_numpy()
    keep = ~seen_at_census
    found = int(later[keep].sum())
    p_k = p_i[keep]
    expected = p_k.sum()
    se = np.sqrt((p_k * (1 - p_k)).sum())
    _close(float(found), float(expected), float(se), "accounts discovered later")


CHECKS: list[Callable[[Path], None]] = [
    check_return_probability,
    check_return_delay,
    check_handle_changes,
    check_profile_reuse,
    check_coders,
    check_incomplete_crawls,
    check_recrawl_incomplete,
    check_detections,
    check_suspension_hazard,
    check_deletion_rate,
    check_discovery,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_small_world_recovers_configured_values(check, small_world: Path) -> None:
    check(small_world)


CALIBRATION_CONFIGS = {
    "default": {},
    "shifted": {
        "p_return": 0.3,
        "delay_mean_days": 12.0,
        "p_suffix": 0.2,
        "p_edit": 0.5,
        "p_reuse_display": 0.3,
        "p_reuse_avatar": 0.8,
        "sensitivity": 0.8,
        "specificity": 0.85,
        "p_incomplete": 0.2,
        "double_coded_share": 0.5,
        "weibull_shape": 0.7,
        "frailty_variance": 0.5,
        "supporter_deletion_rate": 0.005,
    },
}


CALIBRATION_SEEDS = range(11, 21)


@pytest.mark.calibration
@pytest.mark.parametrize("name", sorted(CALIBRATION_CONFIGS))
def test_recovery_over_seeds_and_configs(
    name: str, small_world_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check passes in every world, and z-scores average to zero.

    The mean of n independent standard-normal z-scores has sd 1/sqrt(n); a systematic
    bias in the simulator (or in a check's expectation) shows as |mean z| * sqrt(n)
    beyond ``Z_TOL`` even when each world passes on its own.
    """
    zs: list[tuple[str, float]] = []
    monkeypatch.setattr(f"{__name__}._ZS", zs)
    for seed in CALIBRATION_SEEDS:
        path = small_world_factory(seed, **CALIBRATION_CONFIGS[name])
        for check in CHECKS:
            check(path)
    by: dict[str, list[float]] = {}
    for what, z in zs:
        by.setdefault(what, []).append(z)
    report = {w: (float(np.mean(v)), len(v)) for w, v in by.items()}
    print(f"\n{name}: mean z per check over {len(CALIBRATION_SEEDS)} worlds")
    for w, (m, n) in sorted(report.items()):
        print(f"  {w:<40} mean z {m:+.2f}  (n={n})")
    for w, (m, n) in report.items():
        assert abs(m) * np.sqrt(n) <= Z_TOL, f"{name}: {w} biased (mean z {m:+.2f})"
