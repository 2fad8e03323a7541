"""Profile text: handles, display names, bios, locations, languages, avatars.

Vectorised with polars (lookups into word lists by random index); only handle
edits (one per returning or renamed account) use Python comprehensions.

The identity stress mechanisms (:class:`Identities`, :func:`make_identities`) live
here too: default handles, renames and sparse profiles; returning spam accounts are
in :mod:`measure.simulate._spam`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from measure.simulate._config import SimConfig
    from measure.simulate._world import Background, Calendar, Supporters

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
# write the same whole bio (with a pool of 15 whole bios a chance match would be
# ~8% likely and would drown the signal of a reused bio).
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
    return (
        df.select(pl.when(pl.col("empty")).then(pl.lit("")).otherwise(text).alias("d"))
        .to_series()
        .alias("description")
    )


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
        return f"{bio[:lo]}({ref}){bio[hi + 1 :]}"
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
    cfg: SimConfig,
    rng: np.random.Generator,
    bg: Background,
    idx: np.ndarray,
    ident: Identities | None = None,
) -> pl.DataFrame:
    """Profiles of the background accounts ``idx`` (only those the collection saw).

    ``rng`` (the text stream of the accounts) draws the plain profiles only. With
    identity stress mechanisms on (``ident``), default handles, renames, spam-chain
    text and sparse profiles are applied from their precomputed draws
    (:meth:`Identities.background`), so the plain text of every account is the
    same with them on or off.
    """
    df = background_profiles(
        rng, len(idx), cfg.resurrection.background_stem_share, bg.watcher[idx]
    )
    return df if ident is None else ident.background(df, idx)


# -- identity stress mechanisms ---------------------------------------------------

#: Common first names across languages for platform-default handles
#: (``default_handle_share``): a first name plus 4-8 digits, as a platform suggests
#: to a user who does not choose a handle. At most 7 letters, so that 8 digits fit
#: in a 15-character handle.
DEFAULT_FIRST_NAMES = (
    "john",
    "james",
    "michael",
    "david",
    "robert",
    "william",
    "mary",
    "sarah",
    "emma",
    "olivia",
    "sophia",
    "anna",
    "maria",
    "laura",
    "jose",
    "juan",
    "carlos",
    "luis",
    "pedro",
    "lucia",
    "pierre",
    "jean",
    "marie",
    "louis",
    "paul",
    "thomas",
    "lucas",
    "hans",
    "peter",
    "ahmed",
    "mohamed",
    "ali",
    "omar",
    "fatima",
    "aisha",
    "yusuf",
    "hassan",
    "mehmet",
    "ayse",
    "ivan",
    "olga",
    "dmitri",
    "chen",
    "wei",
    "raj",
    "priya",
    "kenji",
    "yuki",
    "adam",
    "sara",
)
#: Probability that a rename takes a fresh handle (else one small edit of the old).
RENAME_FRESH_P = 0.5


def default_handles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Platform-default handles: a common first name plus 4-8 digits.

    Parameters
    ----------
    rng
        Random stream.
    n
        Number of handles.

    Returns
    -------
    numpy.ndarray
        Object array of handles such as ``john48213377`` (first digit 1-9).
    """
    if n == 0:
        return np.empty(0, dtype=object)
    name = pl.Series(DEFAULT_FIRST_NAMES).gather(
        rng.integers(0, len(DEFAULT_FIRST_NAMES), n)
    )
    nd = rng.integers(4, 9, n)
    lead = rng.integers(1, 10, n)
    tail = rng.integers(0, 10**7, n) % (10 ** (nd - 1))
    digits = pl.Series(lead * 10 ** (nd - 1) + tail).cast(pl.String)
    return (name + digits).to_numpy().astype(object)


@dataclass
class RenameDraws:
    """Random draws of renames, one row per account, made before the old handle.

    Attributes
    ----------
    fresh
        Fresh handle of the account's kind (object array), taken when
        ``use_fresh``.
    use_fresh
        Whether the rename takes the fresh handle (probability
        :data:`RENAME_FRESH_P`), else one small edit of the old handle.
    op, pos, letter
        The small edit (:func:`small_edit`): operation 0-3, relative position in
        ``[0, 1)`` and letter 0-25.
    """

    fresh: np.ndarray
    use_fresh: np.ndarray
    op: np.ndarray
    pos: np.ndarray
    letter: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, fresh: np.ndarray) -> RenameDraws:
        """Draw the renames of ``len(fresh)`` accounts whose fresh handles are given."""
        n = len(fresh)
        use_fresh = rng.random(n) < RENAME_FRESH_P
        op, pos, letter = rng.integers(0, 4, n), rng.random(n), rng.integers(0, 26, n)
        return cls(np.asarray(fresh, dtype=object), use_fresh, op, pos, letter)

    @classmethod
    def empty(cls, n: int) -> RenameDraws:
        """Return ``n`` rows without a rename (no fresh handle, no edit)."""
        z = np.zeros(n, dtype=np.int64)
        return cls(
            np.full(n, None, dtype=object), np.zeros(n, bool), z, np.zeros(n), z.copy()
        )

    def take(self, rows: np.ndarray) -> RenameDraws:
        """Return the draws of ``rows``."""
        return RenameDraws(
            self.fresh[rows],
            self.use_fresh[rows],
            self.op[rows],
            self.pos[rows],
            self.letter[rows],
        )

    def put(self, rows: np.ndarray, other: RenameDraws) -> None:
        """Set the draws of ``rows`` to those of ``other`` (in place)."""
        self.fresh[rows] = other.fresh
        self.use_fresh[rows] = other.use_fresh
        self.op[rows] = other.op
        self.pos[rows] = other.pos
        self.letter[rows] = other.letter

    def apply(self, old: np.ndarray) -> np.ndarray:
        """Return the handles after the renames of accounts whose handles were ``old``.

        Parameters
        ----------
        old
            Handles before the rename (object array, one per row).

        Returns
        -------
        numpy.ndarray
            Object array of new handles, each different from the old one.
        """
        out = np.array(
            [
                str(f) if u else small_edit(str(o), int(op), float(p), int(lt))
                for o, f, u, op, p, lt in zip(
                    old,
                    self.fresh,
                    self.use_fresh,
                    self.op,
                    self.pos,
                    self.letter,
                    strict=True,
                )
            ],
            dtype=object,
        )
        same = np.flatnonzero(out == old)
        out[same] = [small_edit(str(old[i]), 3, 0.0, int(self.letter[i])) for i in same]
        return out


def _fresh_supporter_handles(rng: np.random.Generator, n: int) -> np.ndarray:
    if n == 0:
        return np.empty(0, dtype=object)
    return (
        supporter_profiles(rng, n, (1.0, 0.0, 0.0, 0.0))["screen_name"]
        .to_numpy()
        .astype(object)
    )


def _fresh_background_handles(
    rng: np.random.Generator, n: int, stem_share: float
) -> np.ndarray:
    if n == 0:
        return np.empty(0, dtype=object)
    prof = background_profiles(rng, n, stem_share, np.zeros(n, dtype=bool))
    return prof["screen_name"].to_numpy().astype(object)


def derive_handle(mode: str, old: str, op: int, pos: float, letter: int) -> str:
    """Derive a successor's handle from its predecessor's (suffix or small edit)."""
    if mode == "suffix":
        return suffix_increment(old)
    return small_edit(old, op, pos, letter)


TEXT_COLUMNS = (
    "screen_name",
    "display_name",
    "lang",
    "description",
    "location",
    "profile_image_hash",
)
SPARSE_NULL = ("display_name", "description", "location")


@dataclass
class Identities:
    """Identity traits of the stress mechanisms, over the global account index.

    Supporters come first (``n_s`` of them), then background accounts. An array is
    ``None`` when its mechanism is off.

    Attributes
    ----------
    n_s
        Number of supporter accounts.
    stem_share
        ``background_stem_share`` (style of fresh background handles).
    sparse
        Accounts with a sparse profile (``sparse_profile_share``).
    default
        Fresh identities whose handle is a platform default
        (``default_handle_share``).
    bg_default
        Default handle of each background account (local index) that has one;
        ``None`` elsewhere. Drawn once for every background account, so an
        account's handle does not depend on which accounts are in the data.
    renamed_at
        Time (days) of the account's one rename, ``inf`` when it never renames
        (``p_rename``).
    bg_rename
        Draws of the rename of each background account (local index; rows of
        accounts that never rename are empty), made once for every background
        account; applied to the account's handle when its text is made.
    after
        Handle after the rename (object array; ``None`` when the account does not
        rename, or for a background account whose text was never made; members
        of spam chains always have theirs).
    chain_pos
        Row of a background account in ``chain`` (``-1`` = not in a spam chain).
    chain
        Text of every background account in a spam chain (``TEXT_COLUMNS`` and
        ``_after``), made once so that a successor's handle derives from its
        predecessor's whether or not the predecessor is in the data.
    """

    n_s: int
    stem_share: float
    sparse: np.ndarray | None = None
    default: np.ndarray | None = None
    bg_default: np.ndarray | None = None
    renamed_at: np.ndarray | None = None
    bg_rename: RenameDraws | None = None
    after: np.ndarray | None = None
    chain_pos: np.ndarray | None = None
    chain: pl.DataFrame | None = None

    def background(self, df: pl.DataFrame, idx: np.ndarray) -> pl.DataFrame:
        """Apply the identity mechanisms to fresh background profiles ``df``.

        ``idx`` are the local background indices of the rows. Default handles and
        renames come from the draws made once per account (:attr:`bg_default`,
        :attr:`bg_rename`); members of a spam chain take their precomputed text.
        Handles after a rename are recorded in :attr:`after`. Nothing is drawn.
        """
        idx = np.asarray(idx, dtype=np.int64)
        g = idx + self.n_s
        if self.default is not None or self.renamed_at is not None:
            h0 = df["screen_name"].to_numpy().astype(object)
            if self.default is not None and self.bg_default is not None:
                m = np.flatnonzero(self.default[g])
                h0[m] = self.bg_default[idx[m]]
            df = df.with_columns(screen_name=pl.Series(h0.tolist(), dtype=pl.String))
            if (
                self.renamed_at is not None
                and self.bg_rename is not None
                and self.after is not None
            ):
                r = np.flatnonzero(np.isfinite(self.renamed_at[g]))
                self.after[g[r]] = self.bg_rename.take(idx[r]).apply(h0[r])
        if self.chain_pos is not None and self.chain is not None:
            pos = self.chain_pos[idx]
            rows = np.flatnonzero(pos >= 0)
            if len(rows):
                ch = self.chain[pos[rows]]
                at = pl.Series(rows, dtype=pl.Int64)
                df = df.with_columns(
                    df[c].clone().scatter(at, ch[c])
                    for c in TEXT_COLUMNS
                    if c in df.columns
                )
                if self.after is not None:
                    ren = ch["_after"].to_numpy()
                    ok = np.flatnonzero(ren != None)  # noqa: E711
                    self.after[g[rows[ok]]] = ren[ok]
        if self.sparse is not None:
            df = null_sparse(df, self.sparse[g])
        return df


def null_sparse(df: pl.DataFrame, sparse: np.ndarray) -> pl.DataFrame:
    """Null display name, bio and location of the rows flagged ``sparse``."""
    m = pl.Series(np.asarray(sparse, dtype=bool))
    return df.with_columns(
        pl.when(m).then(None).otherwise(pl.col(c)).alias(c)
        for c in SPARSE_NULL
        if c in df.columns
    )


#: Child streams of ``stress_names``, one per identity mechanism, so that switching
#: one mechanism on does not change the draws of another.
NAME_STREAMS = ("default", "sparse", "rename", "derive", "spam")


def identities_on(cfg: SimConfig) -> bool:
    """Whether any identity stress mechanism of ``cfg`` is on."""
    r = cfg.resurrection
    return (
        r.p_rename != 0.0
        or r.sparse_profile_share != 0.0
        or r.default_handle_share != 0.0
        or r.background_return_share != 0.0
    )


def chain_roots(pred: np.ndarray) -> np.ndarray:
    """First account of each account's chain (itself when it has no predecessor)."""
    root = np.arange(len(pred))
    p = pred[root]
    while (p >= 0).any():
        m = p >= 0
        root[m] = p[m]
        p = pred[root]
    return root


def make_identities(
    cfg: SimConfig,
    cal: Calendar,
    sup: Supporters,
    bg: Background,
    rngs: dict[str, np.random.Generator],
) -> Identities:
    """Draw the identity traits; rewrite supporter handles and sparse profiles.

    Parameters
    ----------
    cfg, cal
        Configuration and calendar.
    sup
        Supporter accounts; ``sup.profiles`` is replaced: default handles for
        fresh identities, successors' handles derived again from their
        predecessor's handle at their creation (after a rename or a default
        handle), and sparse profiles without display name, bio or location.
    bg
        Background accounts (with spam successors when they return).
    rngs
        Child streams of ``stress_names`` (:data:`NAME_STREAMS`).

    Returns
    -------
    Identities
        The traits over the global account index.
    """
    res = cfg.resurrection
    ns, n = sup.n, sup.n + bg.n
    ident = Identities(ns, res.background_stem_share)
    bpred = bg.pred if bg.pred is not None else np.full(bg.n, -1, dtype=np.int64)
    if res.sparse_profile_share != 0.0:
        r = rngs["sparse"]
        # a trait of the person (actor) or spam owner: every account of the chain
        actor = r.random(sup.n_actors) < res.sparse_profile_share
        own = r.random(bg.n) < res.sparse_profile_share
        ident.sparse = np.concatenate([actor[sup.actor], own[chain_roots(bpred)]])
    # every draw below is made once per account (over all accounts, supporters
    # first, then background accounts with spam successors last) from a stream of
    # its own, so no mechanism shifts another's draws and no account's handle
    # depends on which accounts are in the data or how they are written in parts
    sup_default: np.ndarray | None = None
    sup_renames: RenameDraws | None = None
    if res.default_handle_share != 0.0:
        r = rngs["default"]
        r_sup, r_bg = r.spawn(2)
        fresh_s = (sup.inc == 1) | (sup.handle_change == "new")
        d_s = fresh_s & (r.random(ns) < res.default_handle_share)
        d_b = (bpred < 0) & (r.random(bg.n) < res.default_handle_share)
        ident.default = np.concatenate([d_s, d_b])
        sup_default = _handles_of(d_s, default_handles(r_sup, int(d_s.sum())))
        ident.bg_default = _handles_of(d_b, default_handles(r_bg, int(d_b.sum())))
    if res.p_rename != 0.0:
        r = rngs["rename"]
        r_sup, r_bg = r.spawn(2)
        # one row (u, v) per account: appending spam successors keeps the others'
        uv = r.random((n, 2))
        created = np.concatenate([sup.created, bg.created])
        stop = np.minimum(np.concatenate([sup.end, bg.end]), cal.end)
        ren = (uv[:, 0] < res.p_rename) & (stop > created)
        ident.renamed_at = np.where(ren, created + uv[:, 1] * (stop - created), np.inf)
        ident.after = np.full(n, None, dtype=object)
        sup_rows = np.flatnonzero(ren[:ns])
        sup_renames = RenameDraws.empty(ns)
        sup_renames.put(
            sup_rows,
            RenameDraws.draw(r_sup, _fresh_supporter_handles(r_sup, len(sup_rows))),
        )
        ident.bg_rename = _background_renames(
            r_bg, ren[ns:], bpred < 0, res.background_stem_share
        )
    if ident.default is not None or ident.renamed_at is not None:
        _supporter_handles(sup, ident, sup_default, sup_renames, rngs["derive"])
    if ident.sparse is not None:
        sup.profiles = null_sparse(sup.profiles, ident.sparse[:ns])
    return ident


def _handles_of(mask: np.ndarray, handles: np.ndarray) -> np.ndarray:
    """Object array over ``mask`` holding ``handles`` where it is set, else None."""
    out = np.full(len(mask), None, dtype=object)
    out[np.flatnonzero(mask)] = handles
    return out


def _background_renames(
    rng: np.random.Generator,
    renamed: np.ndarray,
    original: np.ndarray,
    stem_share: float,
) -> RenameDraws:
    """Draw the renames of every renamed background account, once per account.

    Parameters
    ----------
    rng
        Stream of the background renames.
    renamed
        Background accounts (local index) that rename.
    original
        Accounts that are not spam successors (successors come last); they draw
        from a child stream of their own, so adding successors leaves their
        draws unchanged.
    stem_share
        ``background_stem_share`` (style of the fresh handles).

    Returns
    -------
    RenameDraws
        One row per background account (empty rows where it does not rename).
    """
    out = RenameDraws.empty(len(renamed))
    for block, r in zip((original, ~original), rng.spawn(2), strict=True):
        rows = np.flatnonzero(renamed & block)
        fresh = _fresh_background_handles(r, len(rows), stem_share)
        out.put(rows, RenameDraws.draw(r, fresh))
    return out


def _supporter_handles(
    sup: Supporters,
    ident: Identities,
    default_h: np.ndarray | None,
    renames: RenameDraws | None,
    rd: np.random.Generator,
) -> None:
    """Default handles and renames of supporters; successors follow the new handles.

    ``default_h`` holds the default handle of each supporter that has one and
    ``renames`` the rename draws of each supporter (``None`` while the mechanism is
    off); ``rd`` draws the small edits of derived handles. A successor whose
    handle was a suffix increment or a small edit of its predecessor's is derived
    again from the predecessor's handle at the successor's creation (the handle
    after a rename when the rename came first).
    """
    ns = sup.n
    h_orig = sup.profiles["screen_name"].to_numpy().astype(object)
    h0 = h_orig.copy()
    if ident.default is not None and default_h is not None:
        m = np.flatnonzero(ident.default[:ns])
        h0[m] = default_h[m]
    if ident.renamed_at is not None:
        ren_t = ident.renamed_at[:ns]
    else:
        ren_t = np.full(ns, np.inf)
    renamed = np.isfinite(ren_t)
    ren_idx = np.flatnonzero(renamed)
    ops, pos, let = rd.integers(0, 4, ns), rd.random(ns), rd.integers(0, 26, ns)
    mode = sup.handle_change
    h1 = h0.copy()
    for k in range(1, int(sup.inc.max(initial=0)) + 1):
        idx = np.flatnonzero(sup.inc == k)
        if not len(idx):
            break
        if k >= 2:
            rel = idx[(mode[idx] == "suffix") | (mode[idx] == "edit")]
            p = sup.pred[rel]
            hp = np.where(ren_t[p] <= sup.created[rel], h1[p], h0[p])
            ch = np.flatnonzero(hp != h_orig[p])
            h0[rel[ch]] = [
                derive_handle(str(m_), str(h), int(o), float(ps), int(lt))
                for m_, h, o, ps, lt in zip(
                    mode[rel[ch]],
                    hp[ch],
                    ops[rel[ch]],
                    pos[rel[ch]],
                    let[rel[ch]],
                    strict=True,
                )
            ]
            h1[idx] = h0[idx]
        ri = idx[renamed[idx]]
        if renames is not None and len(ri):
            h1[ri] = renames.take(ri).apply(h0[ri])
    sup.profiles = sup.profiles.with_columns(
        screen_name=pl.Series(h0.tolist(), dtype=pl.String)
    )
    if ident.after is not None:
        ident.after[ren_idx] = h1[ren_idx]
