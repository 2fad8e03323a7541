"""Synthetic linkage data at any scale (tests and the benchmark; not a world model).

A vectorised generator of suspended accounts, their successors and unrelated new
accounts, with handles drawn from a small vocabulary of common stems (so that stems
collide), display names partly in Arabic script, avatar hashes, bios, follower
edges and look-ups. It exists to test and time the linker; the simulator
(:mod:`measure.simulate`) is the model of the phenomenon.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

T0 = dt.datetime(2014, 6, 1, tzinfo=dt.UTC)
TS = pl.Datetime("us", "UTC")
PREFIXES = ("abu", "umm", "ibn", "bint", "al", "abo", "akhi", "ukhti", "muhajir",
            "ansar", "")
NAMES = ("muhammad", "ahmad", "omar", "khalid", "yusuf", "ibrahim", "hamza", "ali",
         "hasan", "bilal", "zayd", "salman", "anas", "talha", "musa", "isa", "harun",
         "idris", "yahya", "zakariya", "aisha", "fatima", "maryam", "khadija",
         "sumayya", "asma", "hafsa", "zaynab", "ruqayya", "safiyya", "qaqa", "dujana",
         "hudhayfa", "muadh", "ubayda", "suhayb", "khubayb", "jarrah", "walid",
         "rashid", "tariq", "jafar", "mansur", "nasir", "shami", "iraqi", "maghribi",
         "tunisi", "libi", "britani", "almani", "faransi", "somali", "yemeni")
ARABIC = ("أبو", "أم", "محمد", "أحمد", "عمر", "خالد", "يوسف", "إبراهيم", "حمزة",
          "علي", "الشامي", "العراقي", "المهاجر", "الأنصاري", "عائشة", "فاطمة")
WORDS = ("baqiya", "khilafah", "dawla", "sham", "iraq", "news", "media", "love",
         "allah", "islam", "ummah", "jihad", "sabr", "tawheed", "haqq", "nasheed",
         "football", "music", "travel", "coffee", "student", "engineer", "poetry")


@dataclass(frozen=True)
class Synthetic:
    """Tables on the data contract plus the true predecessor of each account."""

    accounts: pl.DataFrame
    observations: pl.DataFrame
    edges: pl.DataFrame
    truth: pl.DataFrame  # account_id, predecessor_id (null when none), suspended_at
    data_end: dt.datetime


def _pick(rng: np.random.Generator, vocab: tuple[str, ...], n: int) -> pl.Series:
    return pl.Series(np.asarray(vocab, dtype=object)[rng.integers(0, len(vocab), n)],
                     dtype=pl.Utf8)


def _handles(rng: np.random.Generator, n: int) -> pl.Series:
    pre = _pick(rng, PREFIXES, n)
    name = _pick(rng, NAMES, n)
    sep = _pick(rng, ("_", "", "_", "."), n)
    # a personal tag (two syllables) on most handles keeps stems from being shared
    # by thousands of accounts at large n
    syl = ("ka", "ri", "mo", "za", "lu", "fi", "da", "ne", "sa", "to", "bu", "ha",
           "qi", "ya", "wa", "je", "ro", "mi", "ta", "su")
    tag = pl.DataFrame({"a": _pick(rng, syl, n), "b": _pick(rng, syl, n)}).select(
        pl.concat_str("a", "b"))["a"]
    name = pl.Series(np.where(rng.random(n) < 0.7,
                              (name + tag).to_numpy(), name.to_numpy()),
                     dtype=pl.Utf8)
    digits = rng.integers(0, 1000, n)
    use_d = rng.random(n) < 0.5
    suffix = pl.Series(np.where(use_d, digits.astype(str), ""), dtype=pl.Utf8)
    return pl.DataFrame({"p": pre, "s": sep, "n": name, "d": suffix}).select(
        pl.concat_str("p", "s", "n", "d").str.strip_chars("_."))["p"]


def _display(rng: np.random.Generator, n: int) -> pl.Series:
    arabic = rng.random(n) < 0.4
    lat = pl.DataFrame({"a": _pick(rng, PREFIXES[:-1], n), "b": _pick(rng, NAMES, n),
                        "c": _pick(rng, NAMES, n)}).select(
        pl.concat_str("a", "b", "c", separator=" ").str.to_titlecase())["a"]
    ara = pl.DataFrame({"a": _pick(rng, ARABIC, n), "b": _pick(rng, ARABIC, n),
                        "c": _pick(rng, ARABIC, n)}).select(
        pl.concat_str("a", "b", "c", separator=" "))["a"]
    return pl.Series(np.where(arabic, ara.to_numpy(), lat.to_numpy()), dtype=pl.Utf8)


def _bios(rng: np.random.Generator, n: int) -> pl.Series:
    cols = {f"w{i}": _pick(rng, WORDS, n) for i in range(6)}
    return pl.DataFrame(cols).select(
        pl.concat_str(list(cols), separator=" "))["w0"]


def _hex(rng: np.random.Generator, n: int) -> pl.Series:
    return pl.Series(rng.integers(0, 2**62, n).astype(np.int64)).cast(pl.Utf8)


def _edit(rng: np.random.Generator, handles: pl.Series) -> pl.Series:
    """Small edit: double a letter, swap separator or append a letter."""
    n = handles.len()
    kind = rng.integers(0, 3, n)
    letter = _pick(rng, tuple("abcdefghijklmnopqrstuvwxyz"), n)
    df = pl.DataFrame({"h": handles, "k": kind, "l": letter})
    return df.select(
        pl.when(pl.col("k") == 0).then(pl.concat_str("h", "l"))
        .when(pl.col("k") == 1).then(pl.concat_str(pl.lit("_"), "h"))
        .otherwise(pl.concat_str("l", "h")))["h"]


def make_synthetic(  # noqa: PLR0913
    n_suspended: int = 400,
    n_background_new: int = 800,
    *,
    seed: int = 0,
    p_return: float = 0.5,
    p_unrelated_name: float = 0.2,
    p_reuse_name: float = 0.6,
    p_reuse_avatar: float = 0.5,
    p_reuse_bio: float = 0.5,
    mean_delay_days: float = 8.0,
    followers_per_account: int = 30,
    follower_pool: int | None = None,
    weekly: bool = True,
    span_days: int = 270,
) -> Synthetic:
    """Generate suspended accounts, their successors and unrelated new accounts.

    Parameters
    ----------
    n_suspended
        Accounts suspended during the span (each seen active, then suspended).
    n_background_new
        Unrelated accounts created during the span (candidates that are not
        successors).
    p_return
        Probability a suspended account's actor returns (delay ~ exponential with
        mean ``mean_delay_days``).
    p_unrelated_name
        Share of returns under an unrelated handle (the rest: numeric-suffix
        increment or a small edit, half each).
    p_reuse_name, p_reuse_avatar, p_reuse_bio
        Probabilities that a successor reuses each profile field.
    followers_per_account
        Followers collected per account (edges ``src`` follows ``dst``); a
        successor regains about half of its predecessor's followers.
    weekly
        Weekly look-ups of every account (else only the look-ups the linker needs:
        last active, first suspended, and one at ~14 days of age).
    """
    rng = np.random.default_rng(seed)
    ns, nb = n_suspended, n_background_new
    span = float(span_days)
    # suspended accounts: created in the first part of the span, suspended later
    created_s = rng.uniform(0, span * 0.7, ns)
    susp_at = np.minimum(created_s + rng.exponential(30, ns) + 7, span - 1)
    returns = rng.random(ns) < p_return
    delay = rng.exponential(mean_delay_days, ns)
    created_r = susp_at + delay
    returns &= created_r < span - 1
    nr = int(returns.sum())
    created_b = rng.uniform(0, span - 1, nb)
    ids_s = np.arange(1, ns + 1, dtype=np.int64)
    ids_r = np.arange(ns + 1, ns + nr + 1, dtype=np.int64)
    ids_b = np.arange(ns + nr + 1, ns + nr + nb + 1, dtype=np.int64)

    h_s = _handles(rng, ns)
    name_s = _display(rng, ns)
    bio_s = _bios(rng, ns)
    av_s = _hex(rng, ns)
    # successors
    idx = np.nonzero(returns)[0]
    base = h_s.gather(idx)
    mode = rng.random(nr)
    unrelated = mode < p_unrelated_name
    incr = (~unrelated) & (mode < p_unrelated_name + (1 - p_unrelated_name) / 2)
    num = base.str.extract(r"([0-9]+)$", 1).cast(pl.Int64, strict=False)
    stemmed = base.str.replace(r"[0-9]+$", "")
    inc_h = pl.DataFrame({"s": stemmed, "n": (num.fill_null(1) + 1).cast(pl.Utf8)}
                         ).select(pl.concat_str("s", "n"))["s"]
    h_r = pl.Series(np.where(incr, inc_h.to_numpy(),
                             np.where(unrelated, _handles(rng, nr).to_numpy(),
                                      _edit(rng, base).to_numpy())), dtype=pl.Utf8)
    name_r = pl.Series(np.where(rng.random(nr) < p_reuse_name,
                                name_s.gather(idx).to_numpy(),
                                _display(rng, nr).to_numpy()), dtype=pl.Utf8)
    bio_r = pl.Series(np.where(rng.random(nr) < p_reuse_bio,
                               bio_s.gather(idx).to_numpy(),
                               _bios(rng, nr).to_numpy()), dtype=pl.Utf8)
    av_r = pl.Series(np.where(rng.random(nr) < p_reuse_avatar,
                              av_s.gather(idx).to_numpy(),
                              _hex(rng, nr).to_numpy()), dtype=pl.Utf8)

    ids = np.concatenate([ids_s, ids_r, ids_b])
    created = np.concatenate([created_s, created_r[idx], created_b])

    accounts = pl.DataFrame({
        "account_id": ids,
        "screen_name": pl.concat([h_s, h_r, _handles(rng, nb)]),
        "display_name": pl.concat([name_s, name_r, _display(rng, nb)]),
        "description": pl.concat([bio_s, bio_r, _bios(rng, nb)]),
        "profile_image_hash": pl.concat([av_s, av_r, _hex(rng, nb)]),
        "_c": created,
    }).with_columns(
        (pl.lit(T0).cast(TS) + pl.duration(
            microseconds=(pl.col("_c") * 86400e6).cast(pl.Int64))).alias("created_at"),
    ).with_columns(pl.col("created_at").alias("first_seen")).drop("_c")

    # followers: a pool of follower ids (never accounts themselves)
    pool = follower_pool or max(1000, 3 * (ns + nr + nb))
    k = followers_per_account
    f_s = rng.integers(0, pool, (ns, k)) + 10**9
    keep = rng.random((nr, k)) < 0.5
    f_r = np.where(keep, f_s[idx], rng.integers(0, pool, (nr, k)) + 10**9)
    f_b = rng.integers(0, pool, (nb, k)) + 10**9
    dst = np.concatenate([np.repeat(ids_s, k), np.repeat(ids_r, k),
                          np.repeat(ids_b, k)])
    src = np.concatenate([f_s.ravel(), f_r.ravel(), f_b.ravel()])
    edges = pl.DataFrame({"src": src.astype(np.int64), "dst": dst.astype(np.int64)})

    fol_s = rng.poisson(300, ns)
    end_time = span
    if weekly:
        grid = np.arange(0, span + 1e-9, 7.0)
        rows_id, rows_t, rows_st, rows_f = [], [], [], []
        acc_end = np.concatenate([susp_at, np.full(nr + nb, np.inf)])
        fol = np.concatenate([fol_s, rng.poisson(120, nr + nb)])
        for g in grid:
            alive = created <= g
            sel = np.nonzero(alive)[0]
            st = np.where(acc_end[sel] <= g, "suspended", "active")
            rows_id.append(ids[sel])
            rows_t.append(np.full(sel.size, g))
            rows_st.append(st)
            age = np.clip((g - created[sel]) / 14.0, 0.2, 3.0)
            rows_f.append(np.where(st == "active", (fol[sel] * age).astype(np.int64),
                                   -1))
        obs = pl.DataFrame({
            "account_id": np.concatenate(rows_id),
            "_t": np.concatenate(rows_t),
            "status": np.concatenate(rows_st),
            "followers_count": np.concatenate(rows_f),
        })
        end_time = float(grid[-1])
    else:
        la = np.floor(susp_at / 7) * 7
        la = np.maximum(la, created_s)
        fs = la + 7
        age14 = created[ns:] + 14 + rng.uniform(-3, 3, nr + nb)
        obs = pl.DataFrame({
            "account_id": np.concatenate([ids_s, ids_s, ids[ns:]]),
            "_t": np.concatenate([la, fs, np.minimum(age14, span)]),
            "status": np.concatenate([np.full(ns, "active"), np.full(ns, "suspended"),
                                      np.full(nr + nb, "active")]),
            "followers_count": np.concatenate([fol_s, np.full(ns, -1),
                                               rng.poisson(120, nr + nb)]),
        })
    obs = obs.with_columns(
        (pl.lit(T0).cast(TS) + pl.duration(
            microseconds=(pl.col("_t") * 86400e6).cast(pl.Int64))).alias("observed_at"),
        pl.when(pl.col("followers_count") >= 0).then(pl.col("followers_count"))
        .otherwise(None).alias("followers_count"),
    ).drop("_t").select("account_id", "observed_at", "status", "followers_count")

    pred = np.full(ns + nr + nb, -1, dtype=np.int64)
    pred[ns:ns + nr] = ids_s[idx]
    truth = pl.DataFrame({
        "account_id": ids,
        "predecessor_id": pred,
        "suspended_at": np.concatenate([susp_at, np.full(nr + nb, np.nan)]),
        "created_day": created,
    }).with_columns(pl.when(pl.col("predecessor_id") >= 0)
                    .then(pl.col("predecessor_id")).alias("predecessor_id"))
    return Synthetic(accounts, obs, edges, truth,
                     T0 + dt.timedelta(days=end_time))


def write_synthetic(syn: Synthetic, path: object, **kw: object) -> object:
    """Write a :class:`Synthetic`'s tables as a dataset (truth stays in memory)."""
    from measure.dataset import DatasetWriter

    with DatasetWriter(path, overwrite=True, **kw) as w:
        w.write_table("accounts", syn.accounts)
        w.write_table("observations", syn.observations)
        w.write_table("edges", syn.edges)
    return path
