"""A generated dataset that exercises every branch of ``measure.describe``.

:func:`write_world` writes, from one seed, accounts with Latin and Arabic names,
languages in mixed case, free-text locations; irregular look-ups with sub-second
times (several on one day, ``unknown`` and ``not_found`` ones, suspensions,
reactivations after a suspension, active look-ups without counts, falling status
counts); look-ups of accounts missing from ``accounts``; follower lists (complete,
incomplete and of unknown completeness) with follow and mention edges; optionally a
``tweets`` table. Ids are BIGINT, or zero-padded VARCHAR that sort in the same order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

import measure

UTC_DT = pl.Datetime("us", "UTC")
T0 = datetime(2015, 2, 1, tzinfo=UTC)
NAMES = ["Abu Omar", "Umm Khalid", "John", "Bint Islam", "ابو بكر", "أم محمد",
         "News 24", "Ibn Sina", "Muhajir", "Ahmed", "Sara", "Ali", None, "abo_x"]
HANDLES = ["abu", "umm_", "bint", "ibn", "muhajr", "news", "x", "al", "ab0"]
PLACES = ["Raqqa", "raqqa!", " Mosul", "London", "london, uk", "Dawla", "الرقة",
          "Syria 🇸🇾", "earth", "", None, None]
LANGS = ["ar", "AR", "en", "fr", "de", "tr", None]
STATUSES = ("active", "suspended", "not_found", "unknown")


def _ids(ids: np.ndarray, text: bool) -> pl.Series:
    s = pl.Series("account_id", ids, dtype=pl.Int64)
    return s.cast(pl.Utf8).str.pad_start(6, "0") if text else s


def _observations(rng: np.random.Generator, ids: np.ndarray) -> list[tuple]:
    rows: list[tuple] = []
    for aid in ids:
        k = int(rng.integers(0, 7))
        # sub-second look-up times over eight weeks; some on the same day
        secs = np.sort(rng.integers(0, 56 * 86400, size=k))
        us = rng.integers(0, 1_000_000, size=k)
        fol = int(rng.lognormal(4.5, 1.8))
        fri = int(rng.lognormal(4.0, 1.2))
        st = int(rng.lognormal(5.0, 2.0))
        rate = float(rng.lognormal(0.5, 1.5))
        susp_at = int(rng.integers(1, k + 1)) if k and rng.random() < 0.25 else None
        back = rng.random() < 0.2  # reactivated after the suspension
        prev = 0
        for j in range(k):
            at = T0.timestamp() * 1e6 + secs[j] * 1e6 + us[j]
            st += int(rng.poisson(rate * max(secs[j] - prev, 0) / 86400))
            if rng.random() < 0.05:
                st -= int(rng.integers(1, 20))  # deleted tweets
            prev = secs[j]
            u = rng.random()
            if susp_at is not None and j >= susp_at and not (back and j == k - 1):
                status = "suspended"
            elif u < 0.06:
                status = "unknown"
            elif u < 0.09:
                status = "not_found"
            else:
                status = "active"
            if status == "active":
                f = None if rng.random() < 0.04 else fol + j
                s = None if rng.random() < 0.08 else max(st, 0)
                rows.append((int(aid), int(at), status, f, fri, s))
            else:
                rows.append((int(aid), int(at), status, None, None, None))
    return rows


def write_world(path: Path, *, seed: int = 7, n: int = 1500, text_ids: bool = False,
                tweets: bool = False) -> Path:
    """Write the dataset of ``n`` accounts (plus 25 look-up-only accounts) at ``path``.

    Parameters
    ----------
    path
        Output directory (overwritten).
    seed
        Seed of every draw; the same seed gives the same data.
    n
        Accounts in ``accounts``.
    text_ids
        Write ids as zero-padded VARCHAR instead of BIGINT.
    tweets
        Also write a ``tweets`` table.
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    order = rng.permutation(n)  # the tables are not sorted by id
    age = rng.gamma(1.1, 400, size=n)
    created = [None if rng.random() < 0.02 else
               int(T0.timestamp() * 1e6 - a * 86400e6) for a in age]
    acc = pl.DataFrame({
        "account_id": _ids(ids[order], text_ids),
        "screen_name": [f"{HANDLES[rng.integers(len(HANDLES))]}{i}" for i in order],
        "display_name": [NAMES[rng.integers(len(NAMES))] for _ in order],
        "created_at": pl.Series([created[i] for i in order], dtype=pl.Int64),
        "lang": [LANGS[rng.integers(len(LANGS))] for _ in order],
        "location": [PLACES[rng.integers(len(PLACES))] for _ in order],
    }).with_columns(pl.col("created_at").cast(UTC_DT))
    extra = np.arange(n + 1, n + 26)  # look-ups of accounts not in `accounts`
    obs_rows = _observations(rng, np.concatenate([ids[order], extra]))
    obs = pl.DataFrame(obs_rows, orient="row", schema={
        "account_id": pl.Int64, "observed_at": pl.Int64, "status": pl.Utf8,
        "followers_count": pl.Int64, "friends_count": pl.Int64,
        "statuses_count": pl.Int64}).with_columns(pl.col("observed_at").cast(UTC_DT))
    if text_ids:
        obs = obs.with_columns(pl.col("account_id").cast(pl.Utf8).str.pad_start(6, "0"))
    listed = rng.choice(ids, size=n // 6, replace=False)
    crawls = pl.DataFrame({
        "account_id": _ids(listed, text_ids), "list": ["followers"] * listed.size,
        "level": rng.integers(0, 3, size=listed.size),
        "complete": pl.Series([[True, False, None][rng.integers(3)]
                               for _ in listed], dtype=pl.Boolean)})
    m = 6 * n
    edges = pl.DataFrame({
        "src": _ids(rng.integers(1, n + 400, size=m), text_ids),
        "dst": _ids(rng.choice(listed, size=m), text_ids),
        "relation": [["follows", "follows", "follows", "mentions"][rng.integers(4)]
                     for _ in range(m)]})
    with measure.DatasetWriter(path, name="describe-fixed", overwrite=True) as w:
        w.write_table("accounts", acc)
        half = obs.height // 2  # two parts, as a collector appends them
        w.append("observations", obs.slice(0, half))
        w.append("observations", obs.slice(half))
        w.write_table("crawls", crawls)
        w.write_table("edges", edges)
        if tweets:
            who = rng.choice(ids, size=n // 4, replace=False)
            cnt = rng.geometric(0.05, size=who.size)
            tid = np.repeat(who, cnt)
            at = rng.integers(0, 40 * 86400, size=tid.size)
            # bursts: a few accounts tweet many times within hours
            at[: tid.size // 10] = at[: tid.size // 10] % 20_000
            tw = pl.DataFrame({
                "tweet_id": np.arange(1, tid.size + 1),
                "account_id": _ids(tid, text_ids),
                "created_at": pl.Series(
                    (T0.timestamp() + at.astype(float)) * 1e6).cast(pl.Int64)
                .cast(UTC_DT),
                "text": ["t"] * tid.size})
            w.write_table("tweets", tw)
    return path
