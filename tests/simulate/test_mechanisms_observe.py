"""Observation and identity stress mechanisms: their effect on the dataset tables.

Every test compares a ``small`` world (seed 1) with one mechanism switched on
against the same seed with it off (or, for ``lookup_informative``, which acts only
through skipped look-ups, with the skip share alone). Look-up mechanisms leave the
latent world and every other table unchanged, so their comparisons are paired:
the same accounts with the same schedules. Tolerances are stated with each
assertion (binomial standard errors, or margins well outside the differences
measured on the off world).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import measure
from measure import census
from measure.simulate import SimConfig, load_truth, simulate
from measure.simulate._names import DEFAULT_FIRST_NAMES, suffix_increment
from measure.simulate._truth import RATE_30D_IN_DATA_DEFINITION
from tests.simulate._truth_from_data import observable_truth, true_rate

SEED = 1
Z = 4.0
WEEK_S = 7 * 86_400
DEFAULT_RE = r"^[a-z]+\d{4,8}$"


@pytest.fixture(scope="module")
def world(small_world_factory: Callable[..., Path]) -> Callable[..., Path]:
    """``world(**mechanisms)``: the small world (seed 1) with them on."""

    def make(**mech: Any) -> Path:
        return small_world_factory(SEED, **mech)

    return make


def _sql(path: Path, query: str) -> pl.DataFrame:
    """Run ``query`` on the dataset (opened with full validation); times in UTC."""
    with measure.open(path) as ds:
        df = ds.sql(query)
    return df.with_columns(pl.col(pl.Datetime).dt.convert_time_zone("UTC"))


def _lookups(path: Path) -> pl.DataFrame:
    return _sql(
        path,
        "SELECT account_id, observed_at, status, screen_name FROM observations "
        "ORDER BY account_id, observed_at",
    )


def _gaps(obs: pl.DataFrame) -> np.ndarray:
    """Seconds between consecutive look-ups of each account."""
    g = obs.with_columns(
        (pl.col("observed_at") - pl.col("observed_at").shift(1))
        .over("account_id")
        .dt.total_seconds()
        .alias("gap")
    )
    return g["gap"].drop_nulls().to_numpy()


def _census(path: Path) -> dt.datetime:
    d = dt.date.fromisoformat(load_truth(path).census_date)
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def _window_end(path: Path) -> dt.datetime:
    d = dt.date.fromisoformat(load_truth(path).json["window"]["end"])
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def test_skipped_lookups_thin_the_weekly_schedule(world: Callable[..., Path]) -> None:
    """About the skip share of look-ups is missing; gaps are no longer all 7 days."""
    skip = 0.3
    off, on = _lookups(world()), _lookups(world(lookup_skip_share=skip))
    n_off = off.group_by("account_id").len()
    n_on = on.group_by("account_id").len()
    # the same accounts are looked up, each at least once (its first look-up)
    assert n_on["account_id"].sort().equals(n_off["account_id"].sort())
    assert (
        off.group_by("account_id")
        .agg(pl.col("observed_at").min())
        .sort("account_id")
        .equals(
            on.group_by("account_id")
            .agg(pl.col("observed_at").min())
            .sort("account_id")
        )
    )
    # first look-up kept, every later one with probability 1 - skip
    later = int((n_off["len"] - 1).sum())
    expect = n_off.height + (1 - skip) * later
    se = math.sqrt(later * skip * (1 - skip))
    print(
        f"look-ups off {off.height}, on {on.height}, expected {expect:.0f} "
        f"(se {se:.0f}); ratio {on.height / off.height:.3f}"
    )
    assert abs(on.height - expect) < Z * se
    assert on.height / off.height < 0.8
    g_off, g_on = _gaps(off), _gaps(on)
    assert (g_off == WEEK_S).all()
    share_long = float((g_on > WEEK_S).mean())
    print(f"gaps longer than a week: {share_long:.3f} (expected about {skip:.2f})")
    assert (g_on % WEEK_S == 0).all() and abs(share_long - skip) < 0.05


def test_jittered_lookups_leave_the_weekly_grid(world: Callable[..., Path]) -> None:
    """Look-ups fall up to ``jitter`` days after the grid, never after the end."""
    jitter = 2.0
    path = world(lookup_jitter_days=jitter)
    off, on = _lookups(world()), _lookups(path)
    census, end = _census(path), _window_end(path)

    def offset_s(df: pl.DataFrame) -> np.ndarray:
        s = (df["observed_at"] - census).dt.total_seconds().to_numpy()
        return s % WEEK_S

    assert (offset_s(off) == 0).all()
    assert on.height == off.height
    # paired rows: the same account's k-th look-up, delayed by U(0, jitter) days
    # but not beyond the window end (room r): E[min(U, r)] = r - r^2 / (2 jitter)
    delay = (on["observed_at"] - off["observed_at"]).dt.total_seconds().to_numpy()
    delay = delay / 86_400
    room = (end - off["observed_at"]).dt.total_seconds().to_numpy() / 86_400
    r = np.minimum(room, jitter)
    expect = float((r - r * r / (2 * jitter)).mean())
    on_grid = float((offset_s(on) == 0).mean())
    print(
        f"on-grid share {on_grid:.4f}; delay mean {delay.mean():.3f} d "
        f"(expected {expect:.3f}), max {delay.max():.3f}"
    )
    assert on_grid < 0.01
    assert delay.min() >= 0 and delay.max() <= jitter + 1e-6
    assert (delay <= room + 1e-6).all()
    assert abs(delay.mean() - expect) < Z * jitter / math.sqrt(12 * len(delay))
    assert on["observed_at"].max() <= end
    assert (_gaps(on) > 0).all()  # still strictly ordered per account


def _counts_by_tercile(path: Path) -> list[float]:
    """Mean look-ups per account by tercile of truth prominence."""
    obs = _lookups(path).group_by("account_id").len()
    tr = load_truth(path).accounts.select("account_id", "prominence")
    df = obs.join(tr, on="account_id")
    cuts = np.quantile(df["prominence"].to_numpy(), [1 / 3, 2 / 3])
    ter = np.searchsorted(cuts, df["prominence"].to_numpy(), side="right")
    n = df["len"].to_numpy()
    return [float(n[ter == k].mean()) for k in range(3)]


def test_informative_lookups_check_prominent_accounts_more(
    world: Callable[..., Path],
) -> None:
    """With informative skipping, prominent accounts keep more of their look-ups."""
    flat = _counts_by_tercile(world(lookup_skip_share=0.3))
    info = _counts_by_tercile(world(lookup_skip_share=0.3, lookup_informative=1.5))
    print(f"mean look-ups by prominence tercile: flat {flat}, informative {info}")
    # the same accounts and schedules: only the keep probabilities differ
    assert info[2] / info[0] > 1.5 * flat[2] / flat[0]
    assert info[2] > info[1] > info[0]


def _discovery_gap(path: Path) -> tuple[float, float, int]:
    """Mean prominence of discovered minus undiscovered eligible supporters."""
    tr = load_truth(path)
    census = _census(path)
    acc = _sql(path, "SELECT account_id, first_seen FROM accounts")
    disc = acc.filter(pl.col("first_seen") > census)
    sup = tr.supporters().filter(
        ~pl.col("in_frame") & (pl.col("end_at").is_null() | (pl.col("end_at") > census))
    )
    found = sup["account_id"].is_in(disc["account_id"].implode()) & (
        sup["seen_via"] == "discovery"
    )
    p = sup["prominence"].to_numpy()
    f = found.to_numpy()
    se = math.sqrt(p[f].var() / f.sum() + p[~f].var() / (~f).sum())
    return float(p[f].mean() - p[~f].mean()), se, int(f.sum())


def test_discovery_slope_finds_prominent_supporters_first(
    world: Callable[..., Path],
) -> None:
    """Discovered supporters are more prominent than undiscovered ones."""
    d_off, se_off, n_off = _discovery_gap(world())
    d_on, se_on, n_on = _discovery_gap(world(discover_prominence_slope=1.5))
    print(
        f"prominence gap discovered - not: off {d_off:.3f} (se {se_off:.3f}, "
        f"n {n_off}), on {d_on:.3f} (se {se_on:.3f}, n {n_on})"
    )
    assert d_on > 0.3 and d_on - d_off > Z * math.hypot(se_on, se_off)


def test_renamed_accounts_switch_handles_once(world: Callable[..., Path]) -> None:
    """Some accounts show two handles in observations, switching once, at the rename."""
    path = world(p_rename=0.15)
    assert (
        _lookups(world())
        .group_by("account_id")
        .agg(pl.col("screen_name").n_unique())["screen_name"]
        .max()
        == 1
    )
    obs = _lookups(path)
    switch = obs.with_columns(
        (pl.col("screen_name") != pl.col("screen_name").shift(1).over("account_id"))
        .fill_null(False)
        .alias("sw")
    )
    per = switch.group_by("account_id").agg(
        pl.col("screen_name").n_unique().alias("names"),
        pl.col("sw").sum().alias("switches"),
        pl.col("observed_at").filter(pl.col("sw")).first().alias("first_new"),
        pl.col("screen_name").last().alias("last_name"),
    )
    two = per.filter(pl.col("names") == 2)
    print(f"accounts with two handles: {two.height} of {per.height}")
    assert two.height > 100
    assert per["names"].max() == 2 and (two["switches"] == 1).all()
    tr = load_truth(path).accounts.select(
        "account_id", "renamed_at", "handle_after_rename"
    )
    two = two.join(tr, on="account_id")
    # the first look-up with the new handle is the first one after the rename
    prev = (
        switch.with_columns(
            pl.col("observed_at").shift(1).over("account_id").alias("prev_t")
        )
        .filter(pl.col("sw"))
        .select("account_id", "prev_t")
    )
    two = two.join(prev, on="account_id")
    assert (two["first_new"] >= two["renamed_at"]).all()
    assert (two["prev_t"] < two["renamed_at"]).all()
    assert (two["last_name"] == two["handle_after_rename"]).all()
    # accounts.screen_name is the handle as last seen
    acc = _sql(path, "SELECT account_id, screen_name FROM accounts")
    j = per.join(acc, on="account_id")
    assert (j["screen_name"] == j["last_name"]).all()


def test_sparse_profiles_have_no_text_and_no_follower_lists(
    world: Callable[..., Path],
) -> None:
    """About the share of accounts carry no display name or bio, and no crawl."""
    share = 0.3
    q = (
        "SELECT account_id, display_name, description, location, "
        "profile_image_hash, created_at FROM accounts"
    )
    off = _sql(world(), q)
    assert off["display_name"].null_count() == 0
    path = world(sparse_profile_share=share)
    acc = _sql(path, q)
    empty = acc.filter(
        pl.col("display_name").is_null()
        & pl.col("description").is_null()
        & pl.col("location").is_null()
    )
    got = empty.height / acc.height
    se = math.sqrt(share * (1 - share) / acc.height)
    print(
        f"sparse accounts: {empty.height} of {acc.height} = {got:.3f} "
        f"(share {share}, binomial se {se:.4f})"
    )
    # background owners are drawn one by one; supporters are a few % of the rows
    assert abs(got - share) < Z * se + 0.01
    assert empty["profile_image_hash"].null_count() == 0
    assert empty["created_at"].null_count() == 0
    crawled = _sql(path, "SELECT DISTINCT account_id FROM crawls")
    assert empty.join(crawled, on="account_id", how="semi").height == 0
    tr = load_truth(path).accounts
    sparse = tr.filter(pl.col("sparse_profile") & pl.col("in_data"))
    assert sparse["account_id"].sort().equals(empty["account_id"].sort())
    # sparse level-1 accounts stay in the frame without a list
    lvl1 = sparse.filter(pl.col("level") == 1)
    print(f"sparse level-1 accounts without a list: {lvl1.height}")
    assert lvl1.height > 10 and not lvl1["followers_listed"].any()
    has_list = tr["account_id"].is_in(crawled["account_id"].implode())
    assert tr["followers_listed"].equals(has_list.alias("followers_listed"))
    seeds = _sql(path, "SELECT account_id FROM seeds")
    assert seeds.join(sparse, on="account_id", how="semi").height == 0


def test_default_handles_share_first_name_stems(world: Callable[..., Path]) -> None:
    """About the share of handles are a first name plus digits; stems repeat."""
    share = 0.3
    q = "SELECT account_id, screen_name FROM accounts"
    off = _sql(world(), q)
    path = world(default_handle_share=share)
    acc = _sql(path, q)
    m_off = off["screen_name"].str.contains(DEFAULT_RE).mean()
    hit = acc.filter(pl.col("screen_name").str.contains(DEFAULT_RE))
    got = hit.height / acc.height
    se = math.sqrt(share * (1 - share) / acc.height)
    print(f"default-looking handles: off {m_off:.4f}, on {got:.3f} (se {se:.4f})")
    assert m_off < 0.001
    # fresh identities take defaults; successors keep deriving theirs
    assert abs(got - share) < Z * se + 0.01
    # unrelated accounts share first-name stems (a small edit of a successor's
    # handle may make a stem of its own)
    stem = hit["screen_name"].str.extract(r"^([a-z]+)", 1)
    listed = stem.is_in(list(DEFAULT_FIRST_NAMES))
    counts = stem.filter(listed).value_counts()
    print(
        f"stems from the name list: {float(listed.mean()):.3f} of the hits; "
        f"{counts.height} names, each shared by {counts['count'].min()} to "
        f"{counts['count'].max()} accounts"
    )
    assert listed.mean() > 0.95
    assert counts.height == len(DEFAULT_FIRST_NAMES) and counts["count"].min() >= 10
    assert hit["screen_name"].n_unique() > 0.99 * hit.height
    # returning supporters increment the digits of a default handle
    tr = load_truth(path).accounts
    sup = tr.filter(pl.col("is_supporter")).join(acc, on="account_id")
    pairs = sup.join(
        sup.select(
            pl.col("account_id").alias("predecessor_id"),
            pl.col("screen_name").alias("prev_name"),
            pl.col("default_handle").alias("prev_default"),
        ),
        on="predecessor_id",
    ).filter(pl.col("prev_default") & (pl.col("handle_change") == "suffix"))
    print(f"suffix successors of default handles in the data: {pairs.height}")
    assert pairs.height > 5
    assert all(
        suffix_increment(p) == n
        for p, n in zip(pairs["prev_name"], pairs["screen_name"], strict=True)
    )


def test_returning_spam_accounts_keep_handle_stem_and_avatar(
    world: Callable[..., Path],
) -> None:
    """Background successors: the predecessor's handle incremented, same avatar."""
    q = "SELECT account_id, screen_name, profile_image_hash FROM accounts"

    def avatar_pairs(path: Path) -> pl.DataFrame:
        acc = _sql(path, q)
        bg = load_truth(path).accounts.filter(~pl.col("is_supporter"))
        acc = acc.join(bg.select("account_id"), on="account_id", how="semi")
        return acc.join(acc, on="profile_image_hash", suffix="_2").filter(
            pl.col("account_id") != pl.col("account_id_2")
        )

    assert avatar_pairs(world()).height == 0
    path = world(background_return_share=1.0)
    pairs = avatar_pairs(path)
    inc = pairs.filter(
        pl.struct("screen_name", "screen_name_2").map_elements(
            lambda r: suffix_increment(r["screen_name"]) == r["screen_name_2"],
            return_dtype=pl.Boolean,
        )
    )
    tr = load_truth(path).accounts
    links = tr.filter(pl.col("spam_predecessor_id").is_not_null()).select(
        pl.col("spam_predecessor_id").alias("account_id"),
        pl.col("account_id").alias("account_id_2"),
    )
    facts = load_truth(path).json["stress"]["observe"]["spam_returns"]
    print(
        f"background pairs sharing an avatar: {pairs.height // 2}, with an "
        f"incremented handle: {inc.height}; truth links both in data "
        f"{facts['n_links_both_in_data']}, successors {facts['n_returns']}"
    )
    assert inc.height >= 10
    # every such pair is a true spam return, and every true one in the data shows
    assert (
        inc.select("account_id", "account_id_2")
        .sort("account_id")
        .equals(
            links.join(inc, on=["account_id", "account_id_2"], how="semi").sort(
                "account_id"
            )
        )
    )
    assert inc.height == facts["n_links_both_in_data"]
    # spam returns are not supporter returns
    assert (
        load_truth(path).resurrection["n_returns"]
        == load_truth(world()).resurrection["n_returns"]
    )


def test_truth_follows_the_realised_lookups(world: Callable[..., Path]) -> None:
    """With irregular look-ups and renames the observable truth equals the data's."""
    path = world(lookup_skip_share=0.3, lookup_jitter_days=2.0, p_rename=0.1)
    truth = load_truth(path)
    with measure.open(path) as ds:
        links, susp, end = observable_truth(ds, path, window=60.0)
    mine = (
        truth.observable_links(60.0)
        .select(
            pl.col("previous_id").alias("previous"),
            pl.col("new_id").alias("new"),
            pl.col("new_created_at").alias("created_new"),
            pl.col("previous_first_suspended_at").alias("first_suspended"),
            "linkable",
        )
        .sort("previous", "new")
    )
    assert links.height > 50
    assert mine.equals(links.select(mine.columns).sort("previous", "new"))
    r = truth.resurrection
    want, n = true_rate(susp, end, 30)
    assert r["rate_30d_in_data_definition"] == RATE_30D_IN_DATA_DEFINITION
    assert r["n_eligible_30d_in_data"] == n > 0 and r["rate_30d_in_data"] == want
    assert r["last_lookup_at"] == end.astimezone(dt.UTC).isoformat()
    tj = json.loads((path / "truth.json").read_text())["stress"]["observe"]
    obs = _lookups(path)
    assert tj["lookups"]["n_realised"] == obs.height
    assert tj["renames"]["n_seen_with_both_handles"] == (
        obs.group_by("account_id")
        .agg(pl.col("screen_name").n_unique())
        .filter(pl.col("screen_name") == 2)
        .height
    )


def test_identity_mechanisms_are_deterministic(tmp_path: Path) -> None:
    """The same seed gives the same files with every identity mechanism on."""
    cfg = SimConfig.preset("small", scale=0.3).replace(
        p_rename=0.15,
        sparse_profile_share=0.3,
        default_handle_share=0.3,
        background_return_share=0.3,
        lookup_skip_share=0.3,
        lookup_jitter_days=2.0,
        lookup_informative=1.0,
        discover_prominence_slope=1.0,
    )
    digests = [
        json.loads(
            (simulate(cfg, 3, tmp_path / f"w{i}") / "manifest.json").read_text()
        )["digest"]
        for i in range(2)
    ]
    assert digests[0] == digests[1]
    assert re.fullmatch(r"[0-9a-f]{64}", digests[0])


def _band_names(cuts: tuple[int, ...]) -> list[str]:
    """Names of the in-network bands of ``cuts`` as ``labels.sample`` spells them."""
    names, lo = [], 0
    for cut in cuts:
        names.append(f"{lo}" if cut - 1 == lo else f"{lo}-{cut - 1}")
        lo = cut
    return [*names, f"{lo}+"]


def _frame_strata(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stratum of every frame account as the census frame computes it from the data.

    Level x band of the in-network degree (``in_followers`` at levels 0-1,
    ``in_friends`` at level 2) on ``coding.band_cuts``. Returns the frame strata
    (``account_id, stratum``) and the coded accounts (``account_id, sample``).
    """
    cuts = SimConfig.preset("small").coding.band_cuts
    with measure.open(path) as ds:
        fr = census.frame(ds, ranks=False)
        coded = ds.sql("SELECT DISTINCT account_id, sample FROM labels")
    metric = pl.when(pl.col("level") <= 1).then("in_followers").otherwise("in_friends")
    fr = fr.select("account_id", "level", metric.alias("metric"))
    assert fr["metric"].null_count() == 0
    band = np.searchsorted(np.asarray(cuts), fr["metric"].to_numpy(), side="right")
    name = pl.Series(np.asarray(_band_names(cuts))[band])
    strata = fr.select(
        "account_id",
        stratum=pl.format("L{}:{}", pl.col("level"), name),
    )
    return strata, coded


def test_coding_strata_are_the_census_frame_strata_with_sparse_profiles(
    world: Callable[..., Path],
) -> None:
    """``labels.sample`` is the stratum the data show, also with sparse level-1 lists.

    A sparse level-1 account's follower list is never collected, so it is not in
    the data's network core: its follows of core accounts are in the data (in the
    seeds' and level-1 lists) but are not in-network follows.
    """
    for mech in ({}, {"sparse_profile_share": 0.5}):
        path = world(**mech)
        strata, coded = _frame_strata(path)
        assert coded["account_id"].n_unique() == coded.height
        j = coded.join(strata, on="account_id", how="left")
        assert j["stratum"].null_count() == 0  # every coded account is in the frame
        wrong = j.filter(pl.col("sample") != pl.col("stratum"))
        sizes = dict(strata.group_by("stratum").len().iter_rows())
        truth_sizes = load_truth(path).json["coding"]["stratum_sizes"]
        print(
            f"{mech or 'off'}: {wrong.height} of {coded.height} coded accounts "
            f"in another stratum than the data's; frame strata {sizes}"
        )
        assert wrong.height == 0
        # the whole frame, not only the sample: the design's stratum sizes
        assert sizes == truth_sizes
    # the sparse world has follows by uncrawled level-1 accounts in the data
    tr = load_truth(path).accounts
    sparse1 = tr.filter(pl.col("sparse_profile") & (pl.col("level") == 1))
    with measure.open(path) as ds:
        src = ds.sql("SELECT src AS account_id FROM edges")
    n_follows = src.join(sparse1.select("account_id"), on="account_id").height
    print(
        f"sparse level-1 accounts {sparse1.height}, their follows in the data "
        f"{n_follows}"
    )
    assert sparse1.height > 100 and n_follows > sparse1.height


def _actors_with(tr: pl.DataFrame, flag: pl.Expr) -> pl.Series:
    """Actors (supporters) with at least one account where ``flag`` holds."""
    return tr.filter(flag & pl.col("is_supporter"))["actor_id"].unique()


def test_default_handles_leave_the_renames_of_other_accounts_unchanged(
    world: Callable[..., Path],
) -> None:
    """Adding default handles to renames changes only what default handles touch.

    Renames draw from streams of their own: the rename times are the same, and
    the handle after the rename changes only for default-handle accounts and for
    supporter successors whose handle derives from one.
    """
    a = world(p_rename=0.15)
    b = world(p_rename=0.15, default_handle_share=0.3)
    ta, tb = load_truth(a).accounts, load_truth(b).accounts
    j = ta.select("account_id", "renamed_at", h_a="handle_after_rename").join(
        tb.select(
            "account_id",
            "is_supporter",
            "actor_id",
            "in_data",
            "default_handle",
            "handle_change",
            "renamed_at",
            h_b="handle_after_rename",
        ),
        on="account_id",
    )
    assert j.height == ta.height == tb.height
    assert j["renamed_at"].equals(j["renamed_at_right"], null_equal=True)
    ren = j.filter(pl.col("renamed_at").is_not_null() & pl.col("in_data"))
    other = ren.filter(~pl.col("default_handle"))
    changed = other.filter(pl.col("h_a") != pl.col("h_b"))
    bg = other.filter(~pl.col("is_supporter"))
    print(
        f"renamed non-default accounts in the data: {other.height} "
        f"({bg.height} background); handle after rename changed: "
        f"{changed.height}, of them supporters {changed['is_supporter'].sum()}"
    )
    assert bg.height > 500 and other["h_b"].null_count() == 0
    # only supporter successors of an actor with a default handle can change
    derived = _actors_with(tb, pl.col("default_handle"))
    assert changed["is_supporter"].all()
    assert changed["handle_change"].is_in(["suffix", "edit"]).all()
    assert changed["actor_id"].is_in(derived.implode()).all()
    # in the data: look-ups of every other account show the same handles
    oa, ob = _lookups(a), _lookups(b)
    assert oa.select("account_id", "observed_at").equals(
        ob.select("account_id", "observed_at")
    )
    touched = tb.filter(
        pl.col("default_handle") | pl.col("actor_id").is_in(derived.implode())
    )["account_id"]
    keep = ~oa["account_id"].is_in(touched.implode())
    assert keep.sum() > 0.5 * oa.height
    assert oa.filter(keep)["screen_name"].equals(ob.filter(keep)["screen_name"])


@pytest.mark.parametrize(
    ("mech", "flag"),
    [
        ({"default_handle_share": 0.3}, pl.col("default_handle")),
        ({"p_rename": 0.15}, pl.col("renamed_at").is_not_null()),
    ],
    ids=["default_handles", "renames"],
)
def test_identity_mechanisms_keep_the_plain_text_of_a_chunked_world(
    world: Callable[..., Path], mech: dict[str, float], flag: pl.Expr
) -> None:
    """With ``accounts`` written in parts, one mechanism changes only its handles.

    Every column but ``screen_name`` equals the off world's for every account; a
    handle differs only for an account the mechanism touches, or for a supporter
    successor deriving its handle from one (same actor).
    """
    chunk = 4000
    off = world(truth_chunk_rows=chunk)
    on = world(truth_chunk_rows=chunk, **mech)
    q = "SELECT * FROM accounts ORDER BY account_id"
    a_off, a_on = _sql(off, q), _sql(on, q)
    assert a_off.height > 5 * chunk  # written in more than five parts
    assert a_off["account_id"].equals(a_on["account_id"])
    rest = [c for c in a_off.columns if c != "screen_name"]
    assert a_off.select(rest).equals(a_on.select(rest))
    tr = load_truth(on).accounts
    hit = tr.filter(flag)["account_id"]
    actors = _actors_with(tr, flag)
    changed = a_off.filter(a_off["screen_name"] != a_on["screen_name"]).join(
        tr, on="account_id"
    )
    direct = changed["account_id"].is_in(hit.implode())
    print(
        f"{mech}: {changed.height} of {a_off.height} handles changed, "
        f"{int(direct.sum())} of the touched accounts, "
        f"{int((~direct).sum())} supporter successors of their actors"
    )
    assert direct.sum() > 1000
    derived = changed.filter(~direct)
    assert derived["is_supporter"].all()
    assert derived["actor_id"].is_in(actors.implode()).all()
