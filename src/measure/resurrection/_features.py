"""Blocking keys and comparison features for successor linking.

Keys are computed in polars: Unicode NFKC normalisation, then lower-casing, so that
full-width, ligature and compatibility forms of a handle compare equal. String
similarities are computed with rapidfuzz on *characters* (DuckDB's edit distances
count bytes and break on Arabic or emoji handles).

Each comparison is binned into ordered levels (0 = least similar) with ``-1`` for
"missing" (a null or empty field on either side, or no collected follower list); the
Fellegi-Sunter model treats a missing comparison as uninformative.

Reference: Fellegi, I. P. & Sunter, A. B. (1969). A theory for record linkage.
*JASA* 64(328), 1183-1210; Wright et al. (2016), "Resurgent insurgents",
*Journal of Terrorism Research* 7(2) (handle, profile and follower similarity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

MIN_STEM = 3  # shorter stems ("ab", "x") block everything with everything
MIN_NAME = 3
MIN_BIO = 12  # bios shorter than this (letters only) are too generic to fingerprint
SMALL_LIST = 10  # followers lists shorter than this say little by sharing none
HANDLE_ALIKE = 1  # handle levels from here on ("stems 2 edits apart" or closer)
MAX_SUFFIX_STEP = 20  # a numeric suffix that jumps further is not an "increment"
# A key value held by more accounts than this is "common": agreeing on it is weak
# evidence (term-frequency adjustment, as in splink's tf levels).
COMMON_KEY = 5
#: term-frequency strata of the handle comparison: lower ends of the number of
#: *other* accounts of the dataset holding the suspended account's stem (0: no
#: other account, or no stem; then 1-2, 3-9, 10-29, 30-99, 100 or more)
STEM_FREQ_EDGES = (1, 3, 10, 30, 100)
# combining marks (Arabic harakat, accents), format characters (zero-width joiners,
# direction marks) and the Arabic tatweel: optional in writing, so a copied bio
# may gain or lose them; removed before a bio is fingerprinted
_BIO_NOISE = r"[\p{Mn}\p{Cf}\x{0640}]+"
#: language tags that say nothing ("und" = undetermined)
NO_LANG = ("", "und")


def stem_stratum(n_others: np.ndarray) -> np.ndarray:
    """Term-frequency stratum of suspended accounts from their stem counts.

    Parameters
    ----------
    n_others
        Per suspended account, the accounts of the dataset other than itself
        holding its handle stem (0 without a stem; nan counts as 0).

    Returns
    -------
    numpy.ndarray
        int64 stratum ``0 .. len(STEM_FREQ_EDGES)``: 0 for a stem no other
        account holds, then one per interval of :data:`STEM_FREQ_EDGES`.
    """
    n = np.nan_to_num(np.asarray(n_others, dtype=np.float64), nan=0.0)
    return np.searchsorted(np.asarray(STEM_FREQ_EDGES, dtype=np.float64), n,
                           side="right").astype(np.int64)


def _norm(expr: pl.Expr) -> pl.Expr:
    return expr.str.normalize("NFKC").str.to_lowercase().str.strip_chars()


def _only_letters(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[^\p{L}]+", "")


def _letters(expr: pl.Expr) -> pl.Expr:
    return _only_letters(_norm(expr))


def _null_short(expr: pl.Expr, n: int) -> pl.Expr:
    return pl.when(expr.str.len_chars() >= n).then(expr).otherwise(None)


def _lang_primary(expr: pl.Expr) -> pl.Expr:
    """Primary language subtag, lower case (``en-GB`` -> ``en``); null if unknown."""
    e = expr.str.strip_chars().str.to_lowercase().str.replace(r"[-_].*$", "")
    return pl.when(e.is_in(NO_LANG)).then(None).otherwise(e)


def account_keys(accounts: pl.DataFrame) -> pl.DataFrame:
    """Normalised blocking keys and comparison strings per account.

    Parameters
    ----------
    accounts
        Columns ``account_id, screen_name, display_name, description,
        profile_image_hash, created_at, first_seen`` (nulls allowed) and optionally
        ``lang`` (the account's language setting; treated as unknown when absent).

    Returns
    -------
    polars.DataFrame
        ``account_id, t_new`` (created, else first seen), ``first_seen``,
        ``handle`` (NFKC, lower case), ``stem`` (handle letters only: digits,
        separators, punctuation and symbols stripped; null if shorter than 3),
        ``hkey`` (letters and digits of the handle), ``suffix`` (trailing ASCII
        number of the handle), ``name_norm``, ``name_key`` (display-name letters
        only), ``bio_norm``, ``bio_fp`` (hash of the whole bio after NFKC, lower
        case, combining marks, format characters and tatweel removed and white
        space collapsed: digits, punctuation and emoji kept), ``bio_lfp`` (hash of
        the bio's letters only: a bio whose emoji or verse number changed keeps
        it), both null when the bio has fewer than 12 letters, ``bio_letters``
        (those letters, for the containment comparison), ``avatar``,
        ``lang`` (primary language subtag, ``en-GB`` -> ``en``; null for
        ``und``, empty or absent) and the key frequencies ``stem_n, name_n,
        avatar_n, bio_n, bio_l_n`` (accounts holding the same key value).
    """
    if "lang" not in accounts.columns:
        accounts = accounts.with_columns(pl.lit(None, dtype=pl.Utf8).alias("lang"))
    # each text is normalised once (NFKC is the costly part), then derived from
    df = accounts.lazy().with_columns(
        _norm(pl.col("screen_name")).alias("_h"),
        _norm(pl.col("display_name")).alias("_n"),
        _norm(pl.col("description")).alias("_b"),
    ).with_columns(
        pl.col("_b").str.replace_all(_BIO_NOISE, "").str.replace_all(r"\s+", " ")
        .str.strip_chars().alias("_bio_ws"),
    ).select(
        pl.col("account_id"),
        pl.coalesce("created_at", "first_seen").alias("t_new"),
        pl.col("first_seen"),
        pl.col("_h").alias("handle"),
        _null_short(_only_letters(pl.col("_h")), MIN_STEM).alias("stem"),
        _null_short(pl.col("_h").str.replace_all(r"[^\p{L}\p{N}]+", ""),
                    MIN_STEM).alias("hkey"),
        pl.col("_h").str.extract(r"([0-9]+)$", 1)
        .str.slice(0, 9).cast(pl.Int64, strict=False).alias("suffix"),
        _null_short(pl.col("_n"), 1).alias("name_norm"),
        _null_short(_only_letters(pl.col("_n")), MIN_NAME).alias("name_key"),
        _null_short(pl.col("_b"), 1).alias("bio_norm"),
        _null_short(_only_letters(pl.col("_bio_ws")), MIN_BIO).alias("_bio_letters"),
        pl.col("_bio_ws"),
        _null_short(pl.col("profile_image_hash").str.strip_chars(), 1).alias("avatar"),
        _lang_primary(pl.col("lang")).alias("lang"),
    ).with_columns(
        pl.when(pl.col("_bio_letters").is_not_null())
        .then(pl.col("_bio_ws").hash(seed=0).cast(pl.Utf8))
        .otherwise(None).alias("bio_fp"),
        pl.when(pl.col("_bio_letters").is_not_null())
        .then(pl.col("_bio_letters").hash(seed=0).cast(pl.Utf8))
        .otherwise(None).alias("bio_lfp"),
    ).drop("_bio_ws").rename({"_bio_letters": "bio_letters"}).with_columns(
        pl.len().over(c).cast(pl.Int64).alias(f"{n}_n")
        for c, n in (("stem", "stem"), ("name_key", "name"), ("avatar", "avatar"),
                     ("bio_fp", "bio"), ("bio_lfp", "bio_l")))
    return df.collect()


MIN_DEL_STEM = 5  # shorter stems give too many one-deletion collisions
MAX_DEL_STEM = 24

# 64-bit polynomial string hash (odd base, arithmetic mod 2**64) finished by the
# splitmix64 mixer; the base's inverse lets prefix sums give the hash of any
# substring, so every one-deletion key of a string costs a few vector operations
_B = 0x9E3779B97F4A7C15 | 1
_B_INV = _B
for _ in range(6):  # Newton iteration for the inverse mod 2**64
    _B_INV = (_B_INV * (2 - _B * _B_INV)) % 2**64
_LEN_MUL = np.uint64(0xD6E8FEB86659FD93)


def _mix64(x: np.ndarray) -> np.ndarray:
    """Splitmix64 finaliser (uint64 in, uint64 out; wraps mod 2**64)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _powers(base: int, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.multiply.accumulate(out)


def _deletion_hashes(strings: list[str]) -> tuple[np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Hashes of each string and of its distinct one-deletion variants.

    Returns ``(string index, hash, is_whole)`` per key. A deletion at position
    ``d`` is kept only when character ``d`` starts a run of equal characters:
    deleting any character of a run gives the same string, and strings from
    different runs (or of different lengths) differ.
    """
    n = len(strings)
    lens = np.fromiter(map(len, strings), dtype=np.int64, count=n)
    cp = np.frombuffer("".join(strings).encode("utf-32-le"),
                       dtype=np.uint32).astype(np.uint64)
    total = cp.size
    starts = np.cumsum(lens) - lens
    pw = _powers(_B, total + 1)
    # gx[p + 1] = sum_{q <= p} c_q * B**-q, so that
    # sum_{q=a}^{b} c_q B**(b-q) = B**b * (gx[b + 1] - gx[a])
    gx = np.zeros(total + 1, dtype=np.uint64)
    np.cumsum(cp * _powers(_B_INV, total), out=gx[1:])
    sid = np.repeat(np.arange(n, dtype=np.int64), lens)
    o = starts[sid]
    end = o + lens[sid]
    p = np.arange(total, dtype=np.int64)
    h_del = (pw[end - 2] * (gx[p] - gx[o]) + pw[end - 1] * (gx[end] - gx[p + 1]))
    h_del = _mix64(h_del + (lens[sid] - 1).astype(np.uint64) * _LEN_MUL)
    first_of_run = np.ones(total, dtype=bool)
    first_of_run[1:] = cp[1:] != cp[:-1]
    first_of_run[starts] = True
    e = starts + lens
    h_all = _mix64(pw[e - 1] * (gx[e] - gx[starts]) + lens.astype(np.uint64)
                   * _LEN_MUL)
    idx = np.concatenate([np.arange(n, dtype=np.int64), sid[first_of_run]])
    hashes = np.concatenate([h_all, h_del[first_of_run]])
    whole = np.zeros(idx.size, dtype=bool)
    whole[:n] = True
    return idx, hashes, whole


def deletion_keys(keys: pl.DataFrame) -> pl.DataFrame:
    """One-deletion neighbourhood of each stem and handle: ``account_id, dkey``.

    Two strings within one edit (insertion, deletion or substitution) share at least
    one key (the string itself or the string with one character removed), so a
    join on ``dkey`` finds handles that a small edit changed (SymSpell style
    symmetric deletion; Garbe 2012). Keys come from the stem (letters only:
    ``abu_x`` and ``abu_y2``) and from the handle's letters and digits
    (``abudawla434`` and ``abudawla435``, ``abux`` and ``abux2``): the latter
    still finds increments when the stem itself is too common to block on.

    Each key is a 64-bit hash of the key string (``UInt64``: a polynomial hash
    of the characters, mod 2**64, with the splitmix64 finaliser), so that tens
    of millions of keys are joined as integers, not strings, and no key string
    is ever built. Two different key strings share a hash with probability
    about ``2**-60`` per pair of strings (about 1e-3 that any two of the 60
    million keys at 1M x 2M accounts collide); a collision would join two
    unrelated keys (extra candidates, or a key counted as common).

    Returns
    -------
    polars.DataFrame
        ``account_id, dkey`` (UInt64), ``t_new``; one row per distinct key of an
        account.
    """
    n = keys.height
    rows, hashes = [], []
    stem_whole = np.zeros(n, dtype=np.uint64)
    has_stem = np.zeros(n, dtype=bool)
    for col in ("stem", "hkey"):
        ok = pl.col(col).str.len_chars().is_between(MIN_DEL_STEM, MAX_DEL_STEM)
        if col == "hkey":
            # a handle without digits has hkey == stem: the same keys again
            ok = ok & (pl.col("hkey") != pl.col("stem")).fill_null(True)
        sub = keys.select(pl.arg_where(ok.fill_null(False)).alias("r"),
                          pl.col(col).filter(ok.fill_null(False)).alias("s"))
        if sub.height == 0:
            continue
        idx, h, whole = _deletion_hashes(sub["s"].to_list())
        r = sub["r"].to_numpy().astype(np.int64)[idx]
        if col == "stem":
            stem_whole[r[whole]] = h[whole]
            has_stem[r[whole]] = True
        else:
            # hkey is the stem plus the handle's numerals: with one numeral,
            # deleting it gives the stem itself, a key the stem already gave
            dup = has_stem[r] & (h == stem_whole[r])
            r, h = r[~dup], h[~dup]
        rows.append(r)
        hashes.append(h)
    if not rows:
        return pl.DataFrame({"account_id": keys["account_id"].clear(),
                             "dkey": pl.Series([], dtype=pl.UInt64),
                             "t_new": keys["t_new"].clear()})
    r = np.concatenate(rows)
    return pl.DataFrame({
        "account_id": keys["account_id"].gather(r),
        "dkey": pl.Series(np.concatenate(hashes), dtype=pl.UInt64),
        "t_new": keys["t_new"].gather(r),
    })


@dataclass(frozen=True)
class Comparison:
    """One binned comparison: its name, level labels (ordered) and the bin column."""

    name: str
    levels: tuple[str, ...]
    # group of each level when the comparison is conditional on another one: the
    # level probabilities sum to 1 within each group (P(level | group, class))
    groups: tuple[int, ...] | None = None
    # levels that only some analyses can produce (a backup level needs a window
    # opened before the last active look-up): the model leaves such a level out
    # when no pair takes it, so that it is then the model without the level
    optional: tuple[int, ...] = ()


COMPARISONS: tuple[Comparison, ...] = (
    # "other number" is split by whether the stems are equal: an equal stem is
    # the agreement a common stem makes by accident (the model's u of the
    # handle is per stratum of how many accounts hold the suspended account's
    # stem), one edit apart the change a returning user makes
    Comparison("handle", ("stems > 2 edits apart", "stems 2 edits apart",
                          "same stem, other number",
                          "stems 1 edit apart, other number",
                          "stems <= 1 edit, number + 2..5",
                          "stems 1 edit apart, same number",
                          "same stem, same number (separators differ)",
                          "stems <= 1 edit, number + 1")),
    # display names are compared jointly with the handle: look-alike handles of
    # different people often come with look-alike names ("abu_x12" "Abu X",
    # "abu_x2" "Abu X"), so agreement on both is not two independent pieces of
    # evidence (the Fellegi-Sunter conditional independence would be violated)
    Comparison("display_name", tuple(
        f"{h}: {lvl}" for h in ("handles differ", "handles alike")
        for lvl in ("sim<0.6", "sim 0.6-0.85", "sim>=0.85 or equal common",
                    "equal rare")), groups=(0, 0, 0, 0, 1, 1, 1, 1)),
    # a returning user may drop or add an emoji, change a verse number or put
    # "Back again | " in front of the copied bio: the same letters, or one bio's
    # letters inside the other's, is a level of its own below the whole-bio match
    Comparison("bio", ("sim<0.5", "sim 0.5-0.8", "sim>=0.8 or equal common",
                       "same letters or contained, rare", "equal rare")),
    Comparison("avatar", ("different", "equal")),
    Comparison("followers", ("none shared, smaller list >= 10",
                             "none shared, smaller list < 10", "overlap<0.2",
                             "overlap 0.2-0.4", "overlap 0.4-0.6", "overlap>=0.6")),
    # the time from the first suspended look-up to the new account's creation;
    # an account created at or before the last active look-up (a backup, made
    # while the old account was known alive) has a level of its own, so that EM
    # learns how often true successors and look-alikes are created before the
    # suspension. The boundary is the last active look-up, not the first
    # suspended one: only then is "before the suspension" a fact. An account
    # created between the two may be a quick return after the suspension (the
    # suspension lies somewhere in between) and stays in "<=2 d" with the other
    # returns within days; and with the window opened at the last active
    # look-up (``backup_days=0``) no pair takes the level, so the model is the
    # one without it (an optional level)
    Comparison("time_gap", (">30 d", "14-30 d", "7-14 d", "2-7 d", "<=2 d",
                            "created before the last active look-up"),
               optional=(5,)),
    # the account's language setting: kept by a returning user (same device and
    # client settings); weak when equal (a few languages), strong when not. It is
    # compared jointly with the display name: a name in Arabic script mostly comes
    # with the Arabic setting, so equal names and equal languages are not two
    # independent pieces of evidence
    Comparison("lang", tuple(
        f"{d}: {lvl}" for d in ("names differ", "names alike")
        for lvl in ("different", "equal")), groups=(0, 0, 1, 1)),
)
FEATURES = tuple(c.name for c in COMPARISONS)
#: time-gap level of a successor created at or before the last active look-up
BACKUP_LEVEL = 5
#: upper ends (days after the first suspended look-up, inclusive) of the time-gap
#: levels 4 ("<=2 d"), 3, 2 and 1; later creations are level 0 (">30 d")
TIME_GAP_DAYS = (2, 7, 14, 30)
_DAY_US = 86_400_000_000
_GAP_EDGES_US = np.array([d * _DAY_US for d in TIME_GAP_DAYS], dtype=np.int64)


def time_gap_levels(created_us: np.ndarray, first_suspended_us: np.ndarray,
                    last_active_us: np.ndarray | None = None) -> np.ndarray:
    """Time-gap level of accounts created at ``created_us``.

    Parameters
    ----------
    created_us, first_suspended_us
        Creation time of the new account and first suspended look-up of the
        suspended one, microseconds since the epoch (int64).
    last_active_us
        Last active look-up of the suspended account (float, nan when there
        is none); an account created at or before it is at
        :data:`BACKUP_LEVEL`.

    Returns
    -------
    numpy.ndarray
        int8 levels: 4 when created at most 2 days after the first suspended
        look-up (or before it), 3 up to 7 days, 2 up to 14, 1 up to 30, 0 later.
        The same integer arithmetic as :func:`window_time_gap_counts`, so that
        every window account is counted at the level its pair gets.
    """
    gap = np.asarray(created_us, dtype=np.int64) - np.asarray(first_suspended_us,
                                                                dtype=np.int64)
    g = (4 - np.searchsorted(_GAP_EDGES_US, gap, side="left")).astype(np.int8)
    if last_active_us is not None:
        la = np.asarray(last_active_us, dtype=np.float64)
        before = ~np.isnan(la) & (np.asarray(created_us, dtype=np.float64) <= la)
        g = np.where(before, BACKUP_LEVEL, g).astype(np.int8)
    return g


def window_time_gap_counts(t_sorted_us: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                           first_suspended_us: np.ndarray,
                           last_active_us: np.ndarray) -> np.ndarray:
    """Accounts of each search window at each time-gap level.

    Parameters
    ----------
    t_sorted_us
        Creation times of all accounts, sorted, microseconds since the epoch.
    lo, hi
        Per window, the slice ``t_sorted_us[lo:hi]`` of the accounts created in
        it (as from :func:`measure.resurrection._blocking.windows`).
    first_suspended_us
        Per window, the suspended account's first suspended look-up (int64 us).
    last_active_us
        Per window, its last active look-up (float us, nan when none).

    Returns
    -------
    numpy.ndarray
        ``(n_windows, 6)`` counts; row ``a`` sums to ``hi[a] - lo[a]`` and
        column ``l`` is the number of window accounts whose pair with ``a``
        gets time-gap level ``l`` (:func:`time_gap_levels`). Computed from the
        sorted creation times by binary search at the level boundaries, in
        ``O(n_windows log n_accounts)``.
    """
    t = np.asarray(t_sorted_us, dtype=np.int64)
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    fs = np.asarray(first_suspended_us, dtype=np.int64)
    la = np.asarray(last_active_us, dtype=np.float64)

    def upto(x: np.ndarray) -> np.ndarray:
        """Window accounts created at or before ``x``."""
        return np.clip(np.searchsorted(t, x, side="right"), lo, hi) - lo

    # the backup level: created in the window at or before the last active
    # look-up (the largest whole microsecond <= it; times are whole microseconds)
    n_before = np.zeros(lo.size, dtype=np.int64)
    has_la = ~np.isnan(la)
    if has_la.any():
        x = np.floor(la[has_la]).astype(np.int64)
        n_before[has_la] = (np.clip(np.searchsorted(t, x, side="right"),
                                    lo[has_la], hi[has_la]) - lo[has_la])
    cum = [n_before] + [np.maximum(upto(fs + e), n_before) for e in _GAP_EDGES_US]
    cum.append(hi - lo)
    out = np.zeros((lo.size, len(COMPARISONS[FEATURES.index("time_gap")].levels)),
                   dtype=np.int64)
    out[:, BACKUP_LEVEL] = n_before
    # cum[1] - cum[0]: "<=2 d" (level 4), ..., cum[5] - cum[4]: ">30 d" (level 0)
    for i in range(5):
        out[:, 4 - i] = cum[i + 1] - cum[i]
    return out


def window_key_holders(t_us: pl.Series, keys: pl.Series, lo_us: np.ndarray,
                       hi_us: np.ndarray, own: pl.Series) -> np.ndarray:
    """Accounts created in each window that hold a given key value.

    Parameters
    ----------
    t_us, keys
        Creation time (microseconds since the epoch) and key value of every
        account, in any order (nulls: not counted).
    lo_us, hi_us
        Per window, its bounds ``(lo, hi]`` (int64 microseconds).
    own
        Per window, the key value counted (null: count 0), of the dtype of
        ``keys``.

    Returns
    -------
    numpy.ndarray
        int64 counts: per window, the accounts holding the value at or before
        ``hi`` less those at or before ``lo``, each read by an as-of join on the
        accounts sorted by time and numbered within their key value.
    """
    acc = pl.DataFrame({"k": keys, "t": pl.Series(t_us, dtype=pl.Int64)}).drop_nulls()
    acc = acc.sort("t").with_columns((pl.int_range(pl.len()).over("k") + 1)
                                     .alias("c"))
    q = pl.DataFrame({"k": own}).with_row_index("i")
    out = []
    for bound in (lo_us, hi_us):
        j = q.with_columns(pl.Series("t", np.asarray(bound, dtype=np.int64))).sort(
            "t").join_asof(acc, on="t", by="k", strategy="backward",
                           check_sortedness=False).sort("i")
        out.append(j["c"].fill_null(0).to_numpy().astype(np.int64))
    return np.where(own.is_null().to_numpy(), 0, out[1] - out[0])


def _todo(a: pl.Series, b: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Null rows, rows with equal strings that hold a letter or digit, the rest.

    Equal strings with a letter or digit (hence at least one token) score 100
    with every rapidfuzz scorer used here and have edit distance 0: only the
    other rows are sent to rapidfuzz (and converted to Python strings).
    """
    null = (a.is_null() | b.is_null()).to_numpy()
    eq = (a == b).fill_null(False).to_numpy()
    same = np.zeros(a.len(), dtype=bool)
    ie = np.flatnonzero(eq)
    if ie.size:
        same[ie] = a.gather(ie).str.contains(r"[\p{L}\p{N}]").fill_null(
            False).to_numpy()
    return null, same, np.flatnonzero(~(null | same))


def _pairwise(a: pl.Series, b: pl.Series, scorer: object, equal: float,
              null_value: float, dtype: type,
              cutoff: int | None = None) -> np.ndarray:
    """Score ``scorer(a_i, b_i)`` of each row pair.

    Equal strings get ``equal`` without a rapidfuzz call (see :func:`_todo`);
    rows where either side is null get ``null_value``. ``cutoff`` is rapidfuzz's
    ``score_cutoff`` (for a distance: larger distances come back as
    ``cutoff + 1``, and are found sooner).
    """
    if a.len() == 0:
        return np.zeros(0)
    null, _same, todo = _todo(a, b)
    out = np.full(a.len(), equal, dtype=np.float64)
    if todo.size:
        r = process.cpdist(a.gather(todo).fill_null("").to_list(),
                           b.gather(todo).fill_null("").to_list(), scorer=scorer,
                           score_cutoff=cutoff, workers=-1, dtype=dtype)
        out[todo] = np.asarray(r, dtype=np.float64)
    out[null] = null_value
    return out


def _sim(a: pl.Series, b: pl.Series, scorer: object) -> np.ndarray:
    """Elementwise similarity in [0, 1]; nan where either side is null."""
    return _pairwise(a, b, scorer, 100.0, np.nan, np.float32) / 100.0


def _lev(a: pl.Series, b: pl.Series, cutoff: int | None = None) -> np.ndarray:
    """Levenshtein distance on characters (large where either side is null).

    With ``cutoff``, distances above it are reported as ``cutoff + 1``.
    """
    return _pairwise(a, b, Levenshtein.distance, 0.0, 1e9, np.int32, cutoff)


def _bin(x: np.ndarray, edges: list[float]) -> np.ndarray:
    """Ordered level of ``x`` for ascending cut points ``edges``; -1 where nan."""
    out = np.searchsorted(np.asarray(edges), np.nan_to_num(x, nan=0.0), side="right")
    out = out.astype(np.int8)
    out[np.isnan(x)] = -1
    return out


def _bio_letters_level(frame: pl.DataFrame, rare: Any,
                       similar: np.ndarray) -> np.ndarray:
    """Pairs whose bios agree in their letters but not as a whole.

    True where the letters-only fingerprints are equal and held by at most
    :data:`COMMON_KEY` accounts, or, among the ``similar`` pairs (bio similarity
    >= 0.5: a small edit, not a bio three times longer), where the letters of one
    bio (at least :data:`MIN_BIO` of them, a rare letters fingerprint) occur
    inside the other's: an emoji or verse number changed, or a return prefix
    added. A common bio ("Remaining and expanding") inside a longer one is not
    counted.
    """
    if "bio_lfp_prev" not in frame.columns:
        return np.zeros(frame.height, dtype=bool)
    same = (frame["bio_lfp_prev"] == frame["bio_lfp_new"]).fill_null(False)
    same = same.to_numpy() & rare("bio_l_n_new")
    if "bio_letters_prev" not in frame.columns:
        return same
    # letters of each bio (null below MIN_BIO letters), computed once per account;
    # the substring test only where it can matter
    rp, rn = rare("bio_l_n_prev"), rare("bio_l_n_new")
    todo = np.flatnonzero(similar & ~same & (rp | rn))
    if not todo.size:
        return same
    sub = frame.select("bio_letters_prev", "bio_letters_new")[todo]
    lp, ln = pl.col("bio_letters_prev"), pl.col("bio_letters_new")
    inside = sub.select(
        (lp.is_not_null() & ln.str.contains(lp, literal=True)).fill_null(False)
        .alias("p_in_n"),
        (ln.is_not_null() & lp.str.contains(ln, literal=True)).fill_null(False)
        .alias("n_in_p"))
    out = same.copy()
    out[todo] = ((inside["p_in_n"].to_numpy() & rp[todo])
                 | (inside["n_in_p"].to_numpy() & rn[todo]))
    return out


def compare(frame: pl.DataFrame) -> pl.DataFrame:
    """Comparison features (raw and binned) for candidate pairs.

    Parameters
    ----------
    frame
        One row per pair, as returned by the ``PAIR_FRAME`` step.

    Returns
    -------
    polars.DataFrame
        ``previous, new, keys``; raw values ``handle_sim, suffix_increment,
        name_sim, bio_sim, avatar_equal, jaccard, overlap`` (shared followers over
        the smaller list), ``n_shared, gap_days``; binned
        ``bin_<feature>`` (int8, -1 = missing) for each of :data:`FEATURES`.

    Notes
    -----
    ``gap_days`` is the time from the first suspended look-up to the new
    account's creation (negative when it was created before); the time-gap
    level (:func:`time_gap_levels`, in whole microseconds) is
    :data:`BACKUP_LEVEL` when ``frame`` has ``last_active`` and the new account
    was created at or before it, missing (``-1``) when a time is null.
    """
    handle_sim = _sim(frame["handle_prev"], frame["handle_new"], fuzz.ratio)
    name_sim = _sim(frame["name_prev"], frame["name_new"], fuzz.token_sort_ratio)
    bio_sim = _sim(frame["bio_prev"], frame["bio_new"], fuzz.ratio)
    same_stem = (frame["stem_prev"] == frame["stem_new"]).fill_null(False).to_numpy()
    # only stem distances 0, 1 and 2 make a difference to the levels
    stem_ed = _lev(frame["stem_prev"], frame["stem_new"], cutoff=2)
    # numeric suffix relation; a handle without one counts as number 1 when the
    # other has one (abu_x -> abu_x2), as "same" when neither has
    sp_null = frame["suffix_prev"].is_null().to_numpy()
    sn_null = frame["suffix_new"].is_null().to_numpy()
    sp = frame["suffix_prev"].fill_null(1).to_numpy().astype(np.float64)
    sn = frame["suffix_new"].fill_null(-10**9).to_numpy().astype(np.float64)
    step = np.where(sn_null, np.nan, sn - sp)
    same_num = (sp_null & sn_null) | (~sp_null & ~sn_null & (step == 0))
    increment = (stem_ed <= 1) & (step == 1)
    skip = (stem_ed <= 1) & (step >= 2) & (step <= 5)

    h = np.where(stem_ed <= 2, 1, 0)
    h = np.where(stem_ed <= 1, 3, h)
    h = np.where(same_stem, 2, h)
    h = np.where(skip, 4, h)
    h = np.where((stem_ed == 1) & same_num, 5, h)
    h = np.where(same_stem & same_num, 6, h)
    h = np.where(increment, 7, h)
    h = np.where(np.isnan(handle_sim), -1, h).astype(np.int8)
    lev = _lev(frame["handle_prev"], frame["handle_new"])

    def rare(col: str) -> np.ndarray:
        if col not in frame.columns:
            return np.ones(frame.height, dtype=bool)
        return (frame[col].fill_null(0) <= COMMON_KEY).to_numpy()

    n = _bin(name_sim, [0.6, 0.85])
    name_eq = (frame["name_key_prev"] == frame["name_key_new"]).fill_null(False)
    name_eq = name_eq.to_numpy() & (n >= 0)
    n = np.where(name_eq, np.where(rare("name_n"), 3, np.maximum(n, 2)), n)
    n = np.where(n >= 0, n + 4 * (h >= HANDLE_ALIKE), n).astype(np.int8)

    b = _bin(bio_sim, [0.5, 0.8])
    bio_eq = (frame["bio_fp_prev"] == frame["bio_fp_new"]).fill_null(False)
    bio_eq = bio_eq.to_numpy() & (b >= 0)
    bio_l = _bio_letters_level(frame, rare, b >= 1) & (b >= 0) & ~bio_eq
    # similarity bins are 0-2; "same letters or contained" is 3, equal rare 4
    b = np.where(bio_eq, np.where(rare("bio_n"), 4, np.maximum(b, 2)), b)
    b = np.where(bio_l, 3, b).astype(np.int8)

    # a shared default/common avatar is no evidence: treated as missing
    av_missing = (frame["avatar_prev"].is_null() | frame["avatar_new"].is_null())
    av_eq = (frame["avatar_prev"] == frame["avatar_new"]).fill_null(False).to_numpy()
    av_missing = av_missing.to_numpy() | (av_eq & ~rare("avatar_n"))
    a = np.where(av_missing, -1, av_eq.astype(np.int8)).astype(np.int8)

    nf_p = frame["n_followers_prev"].to_numpy().astype(np.float64)
    nf_n = frame["n_followers_new"].to_numpy().astype(np.float64)
    shared = frame["n_shared"].to_numpy().astype(np.float64)
    union = nf_p + nf_n - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where((nf_p > 0) & (nf_n > 0), shared / union, np.nan)
        # overlap coefficient: shared over the smaller list. A returning actor's
        # new list is small and mostly old followers, the old list may be capped:
        # Jaccard would call that a weak overlap.
        ovl = np.where((nf_p > 0) & (nf_n > 0), shared / np.minimum(nf_p, nf_n),
                       np.nan)
    f = _bin(ovl, [1e-12, 0.2, 0.4, 0.6])
    # no shared follower says more when both lists are long: a returning
    # account's list is mostly its old followers
    f = np.where(f > 0, f + 1, f)
    f = np.where((f == 0) & (np.minimum(nf_p, nf_n) < SMALL_LIST), 1, f).astype(np.int8)

    c_us = frame["created_new"].dt.epoch("us")
    f_us = frame["first_suspended"].dt.epoch("us")
    no_time = (c_us.is_null() | f_us.is_null()).to_numpy()
    c_us, f_us = c_us.fill_null(0).to_numpy(), f_us.fill_null(0).to_numpy()
    gap_days = (c_us - f_us).astype(np.float64) / _DAY_US
    gap_days[no_time] = np.nan
    la_us = (frame["last_active"].dt.epoch("us").cast(pl.Float64).fill_null(np.nan)
             .to_numpy() if "last_active" in frame.columns else None)
    g = time_gap_levels(c_us, f_us, la_us)
    g[no_time] = -1

    if "lang_prev" in frame.columns:
        names_alike = np.isin(n, (2, 3, 6, 7))  # sim >= 0.85 or equal
        lang_eq = (frame["lang_prev"] == frame["lang_new"]).fill_null(False)
        lang = np.where(frame["lang_prev"].is_null() | frame["lang_new"].is_null(), -1,
                        lang_eq.to_numpy().astype(np.int8) + 2 * names_alike)
        lang = lang.astype(np.int8)
    else:
        lang = np.full(frame.height, -1, dtype=np.int8)

    return pl.DataFrame({
        "previous": frame["previous"],
        "new": frame["new"],
        "keys": frame["keys"],
        "handle_sim": handle_sim,
        "handle_edits": lev,
        "suffix_increment": increment,
        "name_sim": name_sim,
        "bio_sim": bio_sim,
        "avatar_equal": pl.Series(av_eq, dtype=pl.Boolean),
        "jaccard": jac,
        "overlap": ovl,
        "n_shared": frame["n_shared"],
        "gap_days": gap_days,
        "bin_handle": h,
        "bin_display_name": n,
        "bin_bio": b,
        "bin_avatar": a,
        "bin_followers": f,
        "bin_time_gap": g,
        "bin_lang": lang,
    }).with_columns(
        pl.when(pl.col("bin_avatar") >= 0).then(pl.col("avatar_equal"))
        .otherwise(None).alias("avatar_equal"))
