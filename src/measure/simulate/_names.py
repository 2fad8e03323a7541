"""Profile text: handles, display names, bios, locations, languages, avatars.

Vectorised with polars (lookups into word lists by random index); only the
successor-handle edits (one per returning account) use a Python comprehension.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from measure.simulate._config import SimConfig
    from measure.simulate._world import Background

STEMS = ("abu_", "umm_", "bint_", "ibn_", "al_", "abu", "umm", "akh_", "")
STEM_P = (0.30, 0.14, 0.04, 0.06, 0.08, 0.12, 0.04, 0.06, 0.16)
WORDS = (
    "muhajir",
    "shami",
    "iraqi",
    "baghdadi",
    "khilafah",
    "tawhid",
    "ansari",
    "muwahhid",
    "ghareeb",
    "dawla",
    "baqiya",
    "hijrah",
    "sayf",
    "asad",
    "qaqa",
    "hamza",
    "omar",
    "khalid",
    "yusuf",
    "zubair",
    "talha",
    "maryam",
    "aisha",
    "khadija",
    "sumayyah",
    "fatima",
    "bara",
    "muthanna",
    "qurashi",
    "jazrawi",
    "tunisi",
    "libi",
    "masri",
    "faransi",
    "britani",
    "almani",
    "somali",
    "shishani",
    "muhammad",
    "abdullah",
    "ibrahim",
    "ismail",
    "harun",
    "usama",
    "mujahid",
    "anwar",
    "layth",
    "nusrah",
    "raqqa",
    "mosul",
    "halab",
    "idlib",
    "tariq",
    "bilal",
    "salah",
    "muadh",
    "ubaydah",
    "jarrah",
    "waqqas",
    "zayd",
)
GENERIC = (
    "john",
    "news",
    "sara",
    "ahmed",
    "mohamed",
    "ali",
    "daily",
    "world",
    "emma",
    "paul",
    "media",
    "press",
    "sports",
    "fan",
    "tech",
    "music",
    "life",
    "love",
    "official",
    "real",
    "the",
    "mike",
    "anna",
    "lucas",
    "nour",
    "karim",
    "yasmine",
    "samir",
    "leila",
    "hassan",
    "mariam",
    "peter",
    "jane",
    "report",
    "watch",
    "analyst",
    "policy",
    "journal",
    "info",
    "tv",
    "radio",
    "city",
    "club",
)
AR_NAMES = (
    "أبو",
    "أم",
    "الشامي",
    "المهاجر",
    "العراقي",
    "الأنصاري",
    "الغريب",
    "باقية",
    "دولة",
    "الخلافة",
    "التوحيد",
)
SUP_BIO_FRAGMENTS = (
    "باقية وتتمدد",
    "Dawlah is here to stay",
    "#Khilafah",
    "Muwahhid",
    "Follow my new account",
    "Stranger in this dunya",
    "الدولة الإسلامية باقية",
    "Back again. Spread the word",
    "Ansar",
    "Seeking shahadah",
    "Suspended again. Still here",
    "Islam, Tawhid, Jihad",
    "Ghuraba",
    "لا إله إلا الله",
    "#Baqiya",
    "Slave of Allah",
    "Muhajir to the land of honour",
    "Tawheed first",
    "Ya Allah grant us victory",
    "Akhi, follow and share",
    "حسبنا الله ونعم الوكيل",
    "#AmaqAgency",
    "Revert",
    "Student of knowledge",
    "Ummah first",
    "Remaining and expanding",
    "Life is a test",
    "From the land of Sham",
    "Sister in Islam",
    "No fear, no compromise",
    "#Dawlah_News",
    "Quran and Sunnah",
    "المهاجرون والأنصار",
    "Patience is victory",
    "Not accepting DMs",
    "Accounts keep falling, we keep rising",
)
# Free-text bios are composed of one or two slogans, an optional verse reference
# and an optional emoji: common slogans recur, but two different people rarely
# write the same whole bio (a 15-string pool made a chance match ~8% likely and
# drowned the signal of a reused bio; session 3).
SUP_BIO_EMOJI = ("", "", "", "☝", "🏴", "⚔", "🌙", "🦁", "🕋", "💚")
SUP_BIO_EMPTY_P = 0.12  # assumption (no source): share of supporters without a bio
SUP_BIO_TWO_P = 0.5  # assumption: bios with a second slogan
SUP_BIO_VERSE_P = 0.3  # assumption: bios citing a verse ("(3:139)")
#: Prefixes a returning user may put before a copied bio (``edit_bio``).
BIO_RETURN_PREFIXES = (
    "Back again | ",
    "New account | ",
    "Acc {k} | ",
    "Follow me again | ",
)
BG_BIOS = (
    "Journalist covering MENA",
    "Researcher, terrorism studies",
    "Love football",
    "Views my own",
    "Student",
    "Engineer",
    "Mother of two",
    "Football and coffee",
    "News junkie",
    "Photographer",
    "Proud Muslim",
    "Entrepreneur",
    "",
    "",
    "",
    "Follow for daily news",
    "Analyst. RT != endorsement",
    "صحفي",
    "طالب",
)
SUP_LOCATIONS = (
    "Dawlah",
    "Wilayat Raqqa",
    "Sham",
    "Iraq",
    "Bilad al-Sham",
    "Ard al-Khilafah",
    "Dar al-Islam",
    "UK",
    "France",
    "",
    "",
    "",
    "الدولة الإسلامية",
    "Ghurabaa",
    "Libya",
)
BG_LOCATIONS = (
    "London",
    "Paris",
    "Cairo",
    "Riyadh",
    "New York",
    "Beirut",
    "Amman",
    "Istanbul",
    "Brussels",
    "Tunis",
    "",
    "",
    "",
    "Dubai",
    "Washington, DC",
    "Berlin",
)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_HANDLE = 15


def _pick(
    rng: np.random.Generator,
    options: tuple[str, ...],
    n: int,
    p: tuple[float, ...] | None = None,
) -> pl.Series:
    idx = rng.choice(len(options), size=n, p=p)
    return pl.Series(options).gather(idx)


def _digits(rng: np.random.Generator, n: int, p_digits: float) -> pl.Series:
    has = rng.random(n) < p_digits
    num = rng.integers(1, 999, size=n)
    return pl.Series(np.where(has, num.astype(str), ""))


def supporter_profiles(
    rng: np.random.Generator, n: int, lang_p: tuple[float, float, float, float]
) -> pl.DataFrame:
    """Fresh supporter identities: handle, display name, bio, location, lang, avatar."""
    stem = _pick(rng, STEMS, n, STEM_P)
    w1 = _pick(rng, WORDS, n)
    w2 = _pick(rng, WORDS, n)
    two = pl.Series(rng.random(n) < 0.35)
    digits = _digits(rng, n, 0.35)
    lang = _pick(rng, ("ar", "en", "fr", "de"), n, lang_p)
    arabic_display = pl.Series(rng.random(n) < 0.5)
    a1, a2 = _pick(rng, AR_NAMES, n), _pick(rng, AR_NAMES, n)
    # Kunya-style names often carry a third part (a nisba such as "al-Shami"):
    # common names still collide, whole names less often.
    third = rng.random(n) < 0.5
    a3 = pl.Series(np.where(third, " " + _pick(rng, AR_NAMES, n).to_numpy(), ""))
    nisba_word = _pick(rng, WORDS, n).str.to_titlecase().to_numpy()
    nisba = pl.Series(np.where(third, "al-" + nisba_word, ""))
    df = pl.DataFrame(
        {
            "stem": stem,
            "w1": w1,
            "w2": w2,
            "two": two,
            "d": digits,
            "lang": lang,
            "ard": arabic_display,
            "a1": a1,
            "a2": a2,
            "a3": a3,
            "nisba": nisba,
        }
    )
    base = pl.concat_str(
        [
            pl.col("stem"),
            pl.col("w1"),
            pl.when(pl.col("two"))
            .then(pl.lit("_") + pl.col("w2"))
            .otherwise(pl.lit("")),
        ]
    )
    out = df.select(
        screen_name=base.str.slice(0, MAX_HANDLE - 3) + pl.col("d"),
        display_name=pl.when(pl.col("ard") & (pl.col("lang") == "ar"))
        .then(pl.col("a1") + pl.lit(" ") + pl.col("a2") + pl.col("a3"))
        .otherwise(
            pl.concat_str(
                [
                    pl.col("stem").str.strip_chars("_").str.to_titlecase(),
                    pl.col("w1").str.to_titlecase(),
                    pl.col("nisba"),
                ],
                separator=" ",
            ).str.strip_chars()
        ),
        lang=pl.col("lang"),
    )
    return out.with_columns(
        description=supporter_bios(rng, n),
        location=_pick(rng, SUP_LOCATIONS, n),
        profile_image_hash=avatar_hashes(rng, n),
    )


def supporter_bios(rng: np.random.Generator, n: int) -> pl.Series:
    """Free-text supporter bios: slogans, an optional verse and emoji, or empty.

    Parameters
    ----------
    rng
        Random stream (the world's text stream).
    n
        Number of bios.

    Returns
    -------
    polars.Series
        ``description``: one slogan of :data:`SUP_BIO_FRAGMENTS`, a second one with
        probability :data:`SUP_BIO_TWO_P`, a verse reference with probability
        :data:`SUP_BIO_VERSE_P` and an emoji (7 in 10), or "" with probability
        :data:`SUP_BIO_EMPTY_P`. The probabilities are assumptions, not
        measurements: real bios are free text of up to 160 characters in which
        common slogans recur, so whole bios of two different people rarely agree.
    """
    f1 = _pick(rng, SUP_BIO_FRAGMENTS, n)
    f2 = _pick(rng, SUP_BIO_FRAGMENTS, n)
    two = pl.Series(rng.random(n) < SUP_BIO_TWO_P)
    verse = pl.Series(rng.random(n) < SUP_BIO_VERSE_P)
    sura, aya = rng.integers(1, 115, n), rng.integers(1, 120, n)
    emoji = _pick(rng, SUP_BIO_EMOJI, n)
    empty = pl.Series(rng.random(n) < SUP_BIO_EMPTY_P)
    df = pl.DataFrame(
        {
            "f1": f1,
            "f2": f2,
            "two": two,
            "verse": verse,
            "ref": pl.Series(sura).cast(pl.Utf8) + ":" + pl.Series(aya).cast(pl.Utf8),
            "emoji": emoji,
            "empty": empty,
        }
    )
    text = pl.concat_str(
        [
            pl.col("f1"),
            pl.when(pl.col("two") & (pl.col("f2") != pl.col("f1")))
            .then(pl.lit(" | ") + pl.col("f2"))
            .otherwise(pl.lit("")),
            pl.when(pl.col("verse"))
            .then(pl.lit(" (") + pl.col("ref") + pl.lit(")"))
            .otherwise(pl.lit("")),
            pl.when(pl.col("emoji") != "")
            .then(pl.lit(" ") + pl.col("emoji"))
            .otherwise(pl.lit("")),
        ]
    )
    return df.select(
        pl.when(pl.col("empty")).then(pl.lit("")).otherwise(text).alias("d")
    ).to_series().alias("description")


def background_profiles(
    rng: np.random.Generator, n: int, stem_share: float, watcher: np.ndarray
) -> pl.DataFrame:
    """Background identities; ``stem_share`` of handles use the supporters' stems."""
    use_stem = pl.Series(rng.random(n) < stem_share)
    stem = _pick(rng, STEMS, n, STEM_P)
    w1s = _pick(rng, WORDS, n)
    g1, g2 = _pick(rng, GENERIC, n), _pick(rng, GENERIC, n)
    digits = _digits(rng, n, 0.5)
    lang = _pick(rng, ("en", "ar", "fr", "es", "tr"), n, (0.5, 0.28, 0.1, 0.07, 0.05))
    df = pl.DataFrame(
        {
            "u": use_stem,
            "stem": stem,
            "w1s": w1s,
            "g1": g1,
            "g2": g2,
            "d": digits,
            "lang": lang,
            "watcher": pl.Series(watcher, dtype=pl.Boolean),
        }
    )
    base = (
        pl.when(pl.col("u"))
        .then(pl.col("stem") + pl.col("w1s"))
        .otherwise(pl.col("g1") + pl.lit("_") + pl.col("g2"))
    )
    out = df.select(
        screen_name=base.str.slice(0, MAX_HANDLE - 3) + pl.col("d"),
        display_name=pl.when(pl.col("u"))
        .then(
            pl.col("stem").str.strip_chars("_").str.to_titlecase()
            + pl.lit(" ")
            + pl.col("w1s").str.to_titlecase()
        )
        .otherwise(
            pl.col("g1").str.to_titlecase()
            + pl.lit(" ")
            + pl.col("g2").str.to_titlecase()
        ),
        lang=pl.col("lang"),
        watcher=pl.col("watcher"),
    )
    bios = _pick(rng, BG_BIOS, n)
    out = out.with_columns(
        description=pl.when(pl.col("watcher") & (pl.Series(rng.random(n)) < 0.7))
        .then(
            pl.Series(
                [
                    "Journalist covering MENA",
                    "Researcher, terrorism studies",
                    "Analyst. RT != endorsement",
                ]
            ).gather(rng.integers(0, 3, n))
        )
        .otherwise(bios),
        location=_pick(rng, BG_LOCATIONS, n),
        profile_image_hash=avatar_hashes(rng, n),
    )
    return out.drop("watcher")


def avatar_hashes(rng: np.random.Generator, n: int) -> pl.Series:
    """Random 16-hex-digit avatar hashes (same image => same hash)."""
    hexd = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    codes = np.ascontiguousarray(hexd[rng.integers(0, 16, (n, 16))])
    return pl.Series(codes.view("S16").ravel().astype("U16"), dtype=pl.String)


def edit_bio(bio: str, op: int, k: int, ref: str, emoji: str) -> str:
    """One small edit of a copied bio by a returning user (incarnation ``k``).

    ``op`` 0: drop a trailing emoji, or add ``emoji`` when there is none; 1: put
    a return prefix (:data:`BIO_RETURN_PREFIXES`, cycled by ``k``) in front; 2:
    replace the verse reference by ``ref``, or add it. An empty bio stays empty.
    """
    if not bio:
        return bio
    if op == 0:
        tail = bio.rsplit(" ", 1)
        if len(tail) == 2 and tail[1] in SUP_BIO_EMOJI:
            return tail[0]
        return f"{bio} {emoji}"
    if op == 1:
        prefix = BIO_RETURN_PREFIXES[k % len(BIO_RETURN_PREFIXES)]
        return prefix.format(k=k) + bio
    lo, hi = bio.rfind("("), bio.rfind(")")
    if 0 <= lo < hi and ":" in bio[lo:hi]:
        return f"{bio[:lo]}({ref}){bio[hi + 1:]}"
    return f"{bio} ({ref})"


def suffix_increment(handle: str) -> str:
    """``abu_x`` -> ``abu_x2``; ``abu_x2`` -> ``abu_x3`` (numeric suffix + 1)."""
    i = len(handle)
    while i > 0 and handle[i - 1].isdigit():
        i -= 1
    base, digits = handle[:i], handle[i:]
    nxt = str(int(digits) + 1) if digits else "2"
    return base[: MAX_HANDLE - len(nxt)] + nxt


def small_edit(handle: str, op: int, pos: float, letter: int) -> str:
    """One small edit: insert ``_``, double a letter, replace a letter, append one."""
    if not handle:
        return LETTERS[letter]
    p = min(int(pos * len(handle)), len(handle) - 1)
    ch = LETTERS[letter]
    if op == 0:
        out = handle[:p] + "_" + handle[p:]
    elif op == 1:
        out = handle[: p + 1] + handle[p] + handle[p + 1 :]
    elif op == 2:
        if handle[p] == ch:
            ch = LETTERS[(letter + 1) % 26]
        out = handle[:p] + ch + handle[p + 1 :]
    else:
        out = handle + ch
    if out == handle:  # pragma: no cover - defensive
        out = handle + ch
    return (
        out[:MAX_HANDLE]
        if len(out) > MAX_HANDLE and out[:MAX_HANDLE] != handle
        else (out if len(out) <= MAX_HANDLE else handle[: MAX_HANDLE - 1] + ch)
    )


def background_text(
    cfg: SimConfig, rng: np.random.Generator, bg: Background, idx: np.ndarray
) -> pl.DataFrame:
    """Profiles of the background accounts ``idx`` (only those the collection saw)."""
    return background_profiles(
        rng, len(idx), cfg.resurrection.background_stem_share, bg.watcher[idx]
    )
