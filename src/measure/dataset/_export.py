"""Pseudonymised export: keyed hashing of identifiers, free text dropped.

:func:`export_pseudonymised` writes a copy of a dataset that can be shared: every
account id (in every table that holds one), every handle and every avatar hash is
replaced by a keyed pseudonym; free text (display names, bios, locations, tweet
text) is dropped unless asked for; the copy is written atomically and pinned, and
its manifest says that it is a pseudonymised export (with a fingerprint of the
key, never the key) without naming the original's files. ``docs/sharing.md`` is
the user's guide: what is hashed, what is dropped, what still identifies people,
key management and the threat model.

The role of each column comes from the data contract
(:data:`measure.dataset._contract.TABLES`): every column of kind ``id`` is an
account (or tweet) id, ``screen_name`` a handle, ``profile_image_hash`` an avatar
hash, and every other text column free text unless it holds categories from a
short list (:data:`KEPT_TEXT_COLUMNS`); counts, times and flags are kept. Tables
outside the contract follow the same rules by column name (``*_id`` columns are
ids). Simulation truth and files that are not tables are not exported.

Pseudonyms are HMAC-SHA256 values (Krawczyk, Bellare & Canetti 1997, "HMAC:
Keyed-Hashing for Message Authentication", RFC 2104): without the key nobody can
recompute the pseudonym of a known id, whereas an unkeyed hash of a Twitter id is
undone by hashing every possible id. Integer ids become the first 8 bytes of the
HMAC read as a signed 64-bit integer (BIGINT stays BIGINT), text ids its first 16
bytes in hex. A collision (two ids, one pseudonym) stops the export; for a
million ids its chance is about 3e-8.

``id_mode="ordered"`` (the default) assigns these HMAC values in the order of the
original ids: the smallest id gets the smallest pseudonym. The analyses walk the
accounts in id order when they draw random numbers (seeded resampling, multiple
imputation, link draws), so only then do they reproduce the original's numbers
exactly. It reveals the order of the ids (for Twitter ids the order of account
creation, which ``created_at`` states anyway), and a pseudonym depends on the
dataset's whole set of ids. ``id_mode="hmac"`` gives each id its own HMAC, the same in
every export made with the key (exports can be joined), at the price of
Monte-Carlo-sized differences in those numbers.

``handle_mode="substitute"`` replaces every letter of a handle (after NFKC and lower
casing, as successor linking compares handles) by a CJK ideograph through a keyed
one-to-one letter map and keeps digits and separators: equal handles stay equal,
and edit distances, letter stems and numeric suffixes are unchanged, so linking
(:mod:`measure.resurrection`) sees the same handle evidence. It is a substitution
cipher: with thousands of handles, letter frequencies give the map away to a
determined reader (Singh 1999, *The Code Book*, ch. 1), and digits are shown as
they are. The default ``"hash"`` keeps equality only: each distinct handle
becomes eight ideographs drawn from its HMAC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from measure.dataset._contract import ID, INT, STR, TABLES, type_class
from measure.errors import ConfigError, MeasureError
from measure.options import validate_option

HandleMode = Literal["hash", "substitute"]
IdMode = Literal["ordered", "hmac"]
Role = Literal["id", "handle", "avatar", "text", "label", "keep"]

#: Smallest key accepted, in bytes.
MIN_KEY_BYTES = 16
#: What the key fingerprint is the HMAC of: the fingerprint names a key and
#: cannot be turned back into it.
FINGERPRINT_MESSAGE = b"measure pseudonymised export: key fingerprint v1"
#: Rows per batch when a table is streamed through the export.
BATCH_ROWS = 1_000_000
#: Letters of pseudonymised handles: the CJK Unified Ideographs of Unicode 1.1
#: (U+4E00 to U+9FA5). They are letters (``\p{L}``), have no case, are unchanged
#: by NFKC and never compose with a following mark, so a handle made of them
#: passes the linking's normalisation unchanged, and no Latin or Arabic handle
#: can coincide with one.
TARGET_LETTERS = tuple(chr(c) for c in range(0x4E00, 0x9FA6))
#: Ideographs in a hashed handle (about 115 bits).
HASHED_HANDLE_LETTERS = 8
#: Hex digits of a text id's pseudonym (128 bits).
TEXT_ID_HEX = 32
#: Hex digits of an avatar hash's pseudonym (128 bits).
AVATAR_HEX = 32

_NAMED_ROLES: dict[str, Role] = {
    "screen_name": "handle",
    "profile_image_hash": "avatar",
    "display_name": "text",
    "description": "text",
    "location": "text",
    "text": "text",
}
#: Contract text columns that hold categories from a short list, not personal
#: text: kept. ``coder`` names the research team's coders (rename them before an
#: export if they are personal names; ``gold`` is reserved).
KEPT_TEXT_COLUMNS = frozenset({"platform", "lang", "status", "relation", "list",
                               "seed_list", "label", "coder", "sample", "source"})
#: Kept columns whose names of lists may name an account (a detection source
#: ``followers of @abu_x``, a seed list): a word equal to a handle of the dataset
#: is replaced by that handle's pseudonym.
LABEL_COLUMNS = frozenset({"source", "seed_list"})
#: Column names that hold account ids in a table outside the contract (as do
#: names ending in ``_account_id``): resurrection links (``previous``, ``new``),
#: lineages, simulation truth.
ACCOUNT_ID_NAMES = frozenset({"account_id", "src", "dst", "previous", "new",
                              "predecessor_id", "successor_id"})
#: Column names that are ids in a table outside the contract (as is any name
#: ending in ``_id``: an export hashes them all).
ID_NAMES = ACCOUNT_ID_NAMES | {"tweet_id"}
#: Columns that copy collected records or name raw files rather than hold text
#: people wrote: the ingest's quarantine keeps each unreadable record as read
#: (``raw``), its reason (which quotes the offending value: an id, a handle) and
#: the raw file's path; the ingest's field notes keep the same reason and path for
#: a field it nulled. They are dropped even with ``keep_text=True``.
NEVER_KEPT = frozenset({("quarantine", "raw"), ("quarantine", "reason"),
                        ("quarantine", "source_file"), ("field_notes", "reason"),
                        ("field_notes", "source_file")})


class ExportError(MeasureError):
    """A pseudonymised export cannot be written safely (says why and what to do)."""


def column_role(table: str, column: str, kind: str | None = None) -> Role:
    """Return the role of ``table.column`` in an export.

    Parameters
    ----------
    table, column
        The table and column names.
    kind
        The column's type class (:func:`measure.dataset._contract.type_class`),
        used for tables outside the contract, whose text columns are free text
        unless their name says otherwise.

    Returns
    -------
    str
        ``"id"`` (pseudonymised, joins kept), ``"handle"``, ``"avatar"``,
        ``"text"`` (dropped unless kept), ``"label"`` (kept, with words that
        are handles pseudonymised) or ``"keep"``.
    """
    spec = TABLES.get(table)
    col = spec.column(column) if spec is not None else None
    if col is not None and col.kind == ID:
        return "id"
    if column in _NAMED_ROLES:
        return _NAMED_ROLES[column]
    if column in LABEL_COLUMNS and (col is None or col.kind == STR):
        return "label"
    if col is not None:
        return "text" if col.kind == STR and column not in KEPT_TEXT_COLUMNS else "keep"
    if column in ID_NAMES or column.endswith("_id"):
        return "id"
    if kind == STR and column not in KEPT_TEXT_COLUMNS:
        return "text"
    return "keep"


def holds_account_ids(table: str, column: str) -> bool:
    """Whether ``table.column`` holds account ids (what a purge matches).

    Every id column of the contract but ``tweets.tweet_id``; outside the
    contract, the names of :data:`ACCOUNT_ID_NAMES` and names ending in
    ``_account_id`` (other ``*_id`` columns, such as a simulation's
    ``actor_id``, number something else).
    """
    spec = TABLES.get(table)
    col = spec.column(column) if spec is not None else None
    if col is not None:
        return col.kind == ID and column != "tweet_id"
    return column in ACCOUNT_ID_NAMES or column.endswith("_account_id")


def contract_roles() -> dict[tuple[str, str], Role]:
    """Return the role of every column of every contract table."""
    return {(t.name, c.name): column_role(t.name, c.name)
            for t in TABLES.values() for c in t.columns}


def is_export(manifest: dict[str, Any] | None) -> bool:
    """Whether a dataset manifest describes a pseudonymised export."""
    return bool(manifest) and "pseudonymised" in (manifest or {})


# -- keys and pseudonyms -------------------------------------------------------------
def read_key(path: str | os.PathLike[str]) -> bytes:
    """Read a key file: its bytes, trailing white space removed.

    Raises
    ------
    ConfigError
        The file is missing or holds fewer than :data:`MIN_KEY_BYTES` bytes.
    """
    p = Path(path)
    make = ("python -c \"import secrets; print(secrets.token_hex(32))\" > "
            f"{p.name}")
    if not p.is_file():
        raise ConfigError(f"key file '{p}' does not exist; create one outside the "
                          f"dataset with `{make}` and keep it private")
    key = p.read_bytes().rstrip()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"key file '{p}' holds {len(key)} bytes; a key needs at "
                          f"least {MIN_KEY_BYTES} random bytes (`{make}` writes 64)")
    return key


def key_fingerprint(key: bytes) -> str:
    """Name a key: the HMAC of a fixed message under it, 16 hex digits.

    Two exports with the same fingerprint were made with the same key; the
    fingerprint does not reveal the key.
    """
    return hmac.new(key, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def _mac(key: bytes, domain: bytes, value: str) -> bytes:
    return hmac.digest(key, domain + b"\x00" + value.encode("utf-8"), "sha256")


def pseudonymise_ids(values: Iterable[Any], key: bytes, *, as_int: bool) -> list[Any]:
    """Return the keyed pseudonym of each id, in the order given.

    An id is hashed as its text (``123`` and ``"123"`` give the same HMAC).
    ``as_int`` gives the first 8 bytes as a signed 64-bit integer, else the first
    16 bytes in hex.
    """
    out: list[Any] = []
    for v in values:
        d = _mac(key, b"id", str(v))
        out.append(int.from_bytes(d[:8], "big", signed=True) if as_int
                   else d.hex()[:TEXT_ID_HEX])
    return out


def pseudonymise_avatar(value: str, key: bytes) -> str:
    """Return the keyed pseudonym of an avatar hash (32 hex digits)."""
    return _mac(key, b"avatar", value.strip()).hex()[:AVATAR_HEX]


def normalise_handles(expr: pl.Expr) -> pl.Expr:
    """Handle as successor linking compares it: NFKC, lower case, stripped.

    Empty handles become null.
    """
    e = expr.str.normalize("NFKC").str.to_lowercase().str.strip_chars()
    return pl.when(e.str.len_chars() > 0).then(e).otherwise(None)


@dataclass(frozen=True)
class LetterMap:
    """A keyed one-to-one map from letters to CJK ideographs.

    ``letters[i]`` is replaced by ``targets[i]``.
    """

    letters: tuple[str, ...]
    targets: tuple[str, ...]

    def table(self) -> dict[int, str]:
        """Return the map as a ``str.translate`` table."""
        return {ord(a): b for a, b in zip(self.letters, self.targets, strict=True)}


def letter_map(letters: Iterable[str], key: bytes) -> LetterMap:
    """Draw the keyed letter map of a set of letters.

    Each letter gets the ideograph at position ``HMAC(key, letter) mod n`` of
    :data:`TARGET_LETTERS`, or the next free one when that is taken (letters
    taken in the order of their HMAC), so one key maps a letter the same way in
    every export whose handles hold it, unless it collided there.
    """
    src = sorted(set(letters), key=lambda c: _mac(key, b"letter-order", c))
    n = len(TARGET_LETTERS)
    if len(src) > n:
        raise ExportError(f"the handles use {len(src):,} distinct letters, more "
                          f"than the {n:,} ideographs of the substitution; export "
                          "with handle_mode='hash'")
    taken: set[int] = set()
    targets = []
    for c in src:
        i = int.from_bytes(_mac(key, b"letter", c)[:8], "big") % n
        while i in taken:
            i = (i + 1) % n
        taken.add(i)
        targets.append(TARGET_LETTERS[i])
    return LetterMap(tuple(src), tuple(targets))


def hashed_handle(handle: str, key: bytes) -> str:
    """Return the keyed hash of a normalised handle as eight ideographs."""
    x = int.from_bytes(_mac(key, b"handle", handle), "big")
    out = []
    for _ in range(HASHED_HANDLE_LETTERS):
        x, r = divmod(x, len(TARGET_LETTERS))
        out.append(TARGET_LETTERS[r])
    return "".join(out)


@dataclass(frozen=True)
class HandleMap:
    """Distinct normalised handles and their pseudonyms.

    ``n_without_letters`` counts handles with no letter, which the substitution
    cannot disguise and which are hashed instead.
    """

    original: pl.Series
    pseudonym: pl.Series
    n_without_letters: int = 0


def handle_map(handles: pl.Series, key: bytes, mode: HandleMode) -> HandleMap:
    r"""Pseudonymise distinct normalised handles.

    With ``"substitute"``, the letters are what the linking's ``\p{L}`` regex
    finds (polars, the engine that compares handles, is asked). The result is
    checked: every pseudonym must pass the linking's normalisation unchanged and
    distinct handles must get distinct pseudonyms.

    Raises
    ------
    ExportError
        The check failed (a Unicode edge case): export with
        ``handle_mode="hash"``.
    """
    hs = handles.drop_nulls().unique().sort()
    out, n_plain = [], 0
    if mode == "hash":
        out = [hashed_handle(h, key) for h in hs.to_list()]
    else:
        chars = pl.Series(sorted(set("".join(hs.to_list()))), dtype=pl.Utf8)
        letters = chars.filter(chars.str.contains(r"^\p{L}$")).to_list()
        table = letter_map(letters, key).table()
        letter_set = set(letters)
        for h in hs.to_list():
            if letter_set.isdisjoint(h):
                n_plain += 1
                out.append(hashed_handle(h, key))
            else:
                out.append(h.translate(table))
    ps = pl.Series(out, dtype=pl.Utf8)
    stable = pl.DataFrame({"p": ps}).select(
        (normalise_handles(pl.col("p")) == pl.col("p")).all()).item()
    if ps.len() and (not stable or ps.n_unique() != ps.len()):
        raise ExportError("the handle pseudonyms are not stable and distinct (a "
                          "Unicode edge case of the substitution, or a hash "
                          "collision); export with handle_mode='hash' or another "
                          "key")
    return HandleMap(hs, ps, n_plain)


_WORDS = re.compile(r"[\w.]+")


def scrub_labels(values: pl.Series, hmap: HandleMap) -> pl.Series:
    r"""Replace the words of list names that are handles by their pseudonyms.

    A word is a run of letters, digits, ``_`` and ``.`` (trailing dots aside),
    compared with the handles after NFKC and lower casing, whole or by its
    ``\w`` parts; ``hashtag:#abu_x`` becomes ``hashtag:#<pseudonym of abu_x>``.
    """
    table = dict(zip(hmap.original.to_list(), hmap.pseudonym.to_list(),
                     strict=True))

    def norm(w: str) -> str:
        return unicodedata.normalize("NFKC", w).lower().strip()

    def word(m: re.Match[str]) -> str:
        w = m.group(0).rstrip(".")
        tail = m.group(0)[len(w):]
        if norm(w) in table:
            return table[norm(w)] + tail
        return re.sub(r"\w+", lambda x: table.get(norm(x.group(0)), x.group(0)),
                      m.group(0))

    return pl.Series(values.name, [None if v is None else _WORDS.sub(word, v)
                                   for v in values.to_list()], dtype=pl.Utf8)


# -- the export ----------------------------------------------------------------------
@dataclass(frozen=True)
class ExportReport:
    """What a pseudonymised export wrote.

    Attributes
    ----------
    path
        The exported dataset.
    id
        ``name@sha256:<digest>`` of the export.
    key_fingerprint
        :func:`key_fingerprint` of the key used.
    id_mode, handle_mode
        The options used.
    rows
        Rows written per table.
    hashed
        ``table.column`` of every pseudonymised column.
    dropped, kept_text
        ``table.column`` of every free-text column left out, and kept.
    files_not_exported
        Files of the original that are not in the export (simulation truth and
        other files that are not tables).
    n_ids, n_handles, n_avatars
        Distinct values pseudonymised.
    n_handles_without_letters
        Handles without a letter, hashed instead of substituted.
    manifest
        The export's manifest.
    """

    path: Path
    id: str
    key_fingerprint: str
    id_mode: str
    handle_mode: str
    rows: dict[str, int]
    hashed: tuple[str, ...]
    dropped: tuple[str, ...]
    kept_text: tuple[str, ...]
    files_not_exported: tuple[str, ...]
    n_ids: int
    n_handles: int
    n_avatars: int
    n_handles_without_letters: int = 0
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON view (``--json``)."""
        return {"path": str(self.path), "id": self.id,
                "key_fingerprint": self.key_fingerprint, "id_mode": self.id_mode,
                "handle_mode": self.handle_mode, "rows": self.rows,
                "hashed": list(self.hashed), "dropped": list(self.dropped),
                "kept_text": list(self.kept_text),
                "files_not_exported": list(self.files_not_exported),
                "n_ids": self.n_ids, "n_handles": self.n_handles,
                "n_avatars": self.n_avatars,
                "n_handles_without_letters": self.n_handles_without_letters}

    def summary(self) -> str:
        """Return a plain-text account of the export."""
        lines = [f"pseudonymised export {self.id}", f"  at {self.path}",
                 f"  key fingerprint {self.key_fingerprint}",
                 f"  ids: {self.id_mode} ({self.n_ids:,} distinct); handles: "
                 f"{self.handle_mode} ({self.n_handles:,}); avatar hashes: "
                 f"{self.n_avatars:,}",
                 "  pseudonymised: " + (", ".join(self.hashed) or "none"),
                 "  free text dropped: " + (", ".join(self.dropped) or "none")]
        if self.kept_text:
            lines.append("  free text KEPT as written: " + ", ".join(self.kept_text))
        if self.n_handles_without_letters:
            lines.append(f"  {self.n_handles_without_letters:,} handle(s) without "
                         "letters were hashed instead of substituted")
        if self.files_not_exported:
            lines.append("  not exported: " + ", ".join(self.files_not_exported))
        lines += [f"  {t:<14}{n:>14,} rows" for t, n in self.rows.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ExportReport {self.id}: {sum(self.rows.values()):,} rows>"


def _inside(p: Path, root: Path) -> bool:
    return p.resolve().is_relative_to(root.resolve())


@dataclass(frozen=True)
class _Plan:
    """Role and type class of every column of every table; free text kept."""

    roles: dict[str, dict[str, Role]]
    kinds: dict[str, dict[str, str]]
    keep_text: frozenset[tuple[str, str]]


def _plan(ds: Any, keep_text: bool | Sequence[str]) -> _Plan:
    roles: dict[str, dict[str, Role]] = {}
    kinds: dict[str, dict[str, str]] = {}
    for t in ds.tables:
        rel = ds.table(t)
        kinds[t] = {c: type_class(str(k)) for c, k in zip(rel.columns, rel.types,
                                                           strict=True)}
        roles[t] = {c: column_role(t, c, k) for c, k in kinds[t].items()}
    text = {(t, c) for t, r in roles.items() for c, role in r.items()
            if role == "text" and (t, c) not in NEVER_KEPT}
    if isinstance(keep_text, str):
        keep_text = [c.strip() for c in keep_text.split(",") if c.strip()]
    if keep_text is True:
        kept = text
    elif keep_text is False:
        kept = set()
    else:
        names = set(keep_text)
        valid = sorted({c for _, c in text})
        bad = sorted(names - set(valid))
        if bad:
            raise ConfigError(f"--keep-text names {', '.join(bad)}, which is not a "
                              "free-text column of this dataset; valid: "
                              f"{', '.join(valid) or 'none'}")
        kept = {(t, c) for t, c in text if c in names}
    return _Plan(roles, kinds, frozenset(kept))


def _cols(plan: _Plan, role: Role) -> list[tuple[str, str]]:
    return [(t, c) for t, r in plan.roles.items() for c, x in r.items() if x == role]


def _id_map(ds: Any, cols: list[tuple[str, str]], key: bytes, as_int: bool,
            mode: IdMode) -> tuple[pl.Series, pl.Series]:
    """Return the original ids and their pseudonyms (same length, same order).

    Integer ids come back as Int64, text ids as text, sorted; in ``"ordered"``
    mode the pseudonyms are sorted too, so that the map keeps the order.
    """
    dtype = pl.Int64 if as_int else pl.Utf8
    if not cols:
        return pl.Series([], dtype=dtype), pl.Series([], dtype=dtype)
    cast = "BIGINT" if as_int else "VARCHAR"
    orig = ds.sql(" UNION ".join(
        f'SELECT DISTINCT CAST("{c}" AS {cast}) AS v FROM "{t}" WHERE "{c}" IS NOT '
        "NULL" for t, c in cols) + " ORDER BY v")["v"].cast(dtype)
    ps = pl.Series(pseudonymise_ids(orig.to_list(), key, as_int=as_int), dtype=dtype)
    if ps.n_unique() != ps.len():
        raise ExportError(
            f"two of the {orig.len():,} ids get the same pseudonym under this key "
            f"(a {'64' if as_int else '128'}-bit collision); export with another key")
    return orig, (ps.sort() if mode == "ordered" else ps)


def export_pseudonymised(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    key: bytes,
    id_mode: IdMode = "ordered",
    handle_mode: HandleMode = "hash",
    keep_text: bool | Sequence[str] = False,
    name: str | None = None,
    overwrite: bool = False,
    key_path: str | os.PathLike[str] | None = None,
) -> ExportReport:
    """Write a pseudonymised, pinned copy of a dataset.

    Parameters
    ----------
    dataset
        The dataset to export (validated against the contract first, every row:
        ``validate="full"``).
    out
        The export's directory, outside ``dataset`` (written atomically).
    key
        The secret key (:func:`read_key`); keep it outside both datasets.
    id_mode
        ``"ordered"``: the ids' HMAC values assigned in the order of the ids, so
        that every analysis reproduces the original's numbers (reveals that
        order). ``"hmac"``: each id's own HMAC, the same in every export made
        with the key.
    handle_mode
        ``"hash"``: a keyed hash (equality only). ``"substitute"``: a keyed letter
        substitution that keeps edit distances, stems and numeric suffixes (a
        substitution cipher; see the module notes).
    keep_text
        Keep free text as written: ``True`` for every free-text column, or the
        column names to keep (``["display_name", "description"]`` or
        ``"display_name,description"``: what successor linking and the census's
        bio features read). The columns of :data:`NEVER_KEPT` (the quarantine's
        raw records, reasons and file paths) are dropped in any case.
    name
        The export's name (default: the original's, with ``-pseudonymised``).
    overwrite
        Replace an existing export at ``out``.
    key_path
        Where the key was read from; refused inside ``dataset`` or ``out``.

    Returns
    -------
    ExportReport

    Raises
    ------
    ExportError
        ``out`` or the key file lies inside the dataset, a table is partitioned
        by an identifying column, or two ids collide under the key.
    ConfigError
        The key is shorter than :data:`MIN_KEY_BYTES`, or an option is invalid.
    measure.errors.DataContractError
        The dataset breaks the contract.
    measure.errors.PinMismatchError
        The dataset is pinned and its files differ from its manifest.
    measure.errors.DatasetLockedError
        Another process is writing the export's directory.
    """
    from measure.dataset._lock import writer_lock

    with writer_lock(out, action="measure export"):
        return _export(dataset, out, key=key, id_mode=id_mode,
                       handle_mode=handle_mode, keep_text=keep_text, name=name,
                       overwrite=overwrite, key_path=key_path)


def _export(  # noqa: C901
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    key: bytes,
    id_mode: IdMode,
    handle_mode: HandleMode,
    keep_text: bool | Sequence[str],
    name: str | None,
    overwrite: bool,
    key_path: str | os.PathLike[str] | None,
) -> ExportReport:
    """Body of :func:`export_pseudonymised`, run under the export's writer lock."""
    from measure.dataset._dataset import open_dataset
    from measure.dataset._pin import dataset_files
    from measure.dataset._writer import DatasetWriter

    validate_option("id_mode", id_mode, IdMode)
    validate_option("handle_mode", handle_mode, HandleMode)
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the key holds {len(key)} bytes; use at least "
                          f"{MIN_KEY_BYTES} random bytes (see read_key)")
    src, dest = Path(dataset), Path(out)
    if _inside(dest, src) or _inside(src, dest):
        raise ExportError(f"the export '{dest}' and the dataset '{src}' must not "
                          "contain each other; write the export elsewhere")
    for root in (src, dest):
        if key_path is not None and _inside(Path(key_path), root):
            raise ExportError(f"the key file '{key_path}' lies inside '{root}'; keep "
                              "the key outside the dataset and the export (move it "
                              "and retry)")
    fp = key_fingerprint(key)
    with open_dataset(src, validate="full") as ds:
        plan = _plan(ds, keep_text)
        for t, files in ds.files.items():
            for f in files:
                for part in f.relative_to(src).parts[1:-1]:
                    k = part.split("=", 1)[0]
                    if "=" in part and plan.roles[t].get(k, "keep") != "keep":
                        raise ExportError(
                            f"table '{t}' is partitioned by '{k}' (an identifier or "
                            "free text, written in its folder names); rewrite the "
                            "table without that partitioning first")
        as_int = ds.id_type != STR
        own = INT if as_int else STR
        id_cols = [(t, c) for t, c in _cols(plan, "id") if plan.kinds[t][c] == own]
        other_ids = [(t, c) for t, c in _cols(plan, "id") if (t, c) not in id_cols]
        id_old, id_new = _id_map(ds, id_cols, key, as_int, id_mode)
        maps: dict[tuple[str, str], tuple[pl.Series, pl.Series]] = {
            tc: (id_old, id_new) for tc in id_cols}
        # id columns of another type (tables outside the contract): their text's
        # HMAC in hex
        for tc in other_ids:
            o, p = _id_map(ds, [tc], key, False, "hmac")
            maps[tc] = (o, p)
        handle_cols, avatar_cols = _cols(plan, "handle"), _cols(plan, "avatar")
        raw = (ds.sql(" UNION ".join(f'SELECT DISTINCT CAST("{c}" AS VARCHAR) AS v '
                                     f'FROM "{t}"' for t, c in handle_cols))["v"]
               if handle_cols else pl.Series("v", [], dtype=pl.Utf8))
        hmap = handle_map(pl.DataFrame({"v": raw}).select(
            normalise_handles(pl.col("v")))["v"], key, handle_mode)
        for tc in handle_cols:
            maps[tc] = (hmap.original, hmap.pseudonym)
        for t, c in _cols(plan, "label"):
            old = ds.sql(f'SELECT DISTINCT CAST("{c}" AS VARCHAR) AS v FROM "{t}" '
                         f'WHERE "{c}" IS NOT NULL ORDER BY v')["v"]
            maps[(t, c)] = (old, scrub_labels(old, hmap))
        av = (ds.sql(" UNION ".join(f'SELECT DISTINCT trim(CAST("{c}" AS VARCHAR)) '
                                    f'AS v FROM "{t}"' for t, c in avatar_cols)
                     + " ORDER BY v")["v"].drop_nulls()
              if avatar_cols else pl.Series("v", [], dtype=pl.Utf8))
        av = av.filter(av.str.len_chars() > 0)
        av_new = pl.Series([pseudonymise_avatar(a, key) for a in av.to_list()],
                           dtype=pl.Utf8)
        for tc in avatar_cols:
            maps[tc] = (av, av_new)
        kept_files = {f.resolve() for fs in ds.files.values() for f in fs}
        skipped = [r for r in dataset_files(src) if (src / r).resolve()
                   not in kept_files]
        hashed = [f"{t}.{c}" for t, c in id_cols + other_ids + handle_cols
                  + avatar_cols]
        text_cols = _cols(plan, "text")
        dropped = [f"{t}.{c}" for t, c in text_cols if (t, c) not in plan.keep_text]
        kept = [f"{t}.{c}" for t, c in text_cols if (t, c) in plan.keep_text]
        info: dict[str, Any] = {
            "method": "HMAC-SHA256", "key_fingerprint": fp,
            "from": f"{ds.name}@sha256:{ds.digest}" if ds.digest else None,
            "date": dt.datetime.now(dt.UTC).date().isoformat(),
            "id_mode": id_mode, "id_type": "int64" if as_int else "hex",
            "handle_mode": handle_mode, "hashed": hashed, "dropped": dropped,
            "kept_text": kept, "not_exported": skipped,
        }
        extra: dict[str, Any] = {"pseudonymised": info}
        if ds.manifest and ds.manifest.get("timestamps"):
            extra["timestamps"] = ds.manifest["timestamps"]
        opts = ([f"--id-mode {id_mode}"] if id_mode != "ordered" else []) + (
            [f"--handles {handle_mode}"] if handle_mode != "hash" else [])
        if kept:
            opts.append("--keep-text " + ",".join(sorted({k.split(".")[1]
                                                          for k in kept})))
        with DatasetWriter(dest, name=name or f"{ds.name}-pseudonymised",
                           command=" ".join(["measure export --pseudonymise", *opts]),
                           inputs=[], extra=extra, overwrite=overwrite) as w:
            for t in ds.tables:
                cols = [c for c, r in plan.roles[t].items()
                        if r != "text" or (t, c) in plan.keep_text]
                folder = len(ds.files[t]) > 1 or ds.files[t][0].parent != src
                _export_table(ds, t, cols, plan.roles[t],
                              {c: maps[(t, c)] for c in cols if (t, c) in maps},
                              w, folder=folder)
        m = w.manifest or {}
    return ExportReport(
        path=dest, id=f"{m.get('name')}@sha256:{m.get('digest')}",
        key_fingerprint=fp, id_mode=id_mode, handle_mode=handle_mode,
        rows=dict(w.rows),
        hashed=tuple(hashed), dropped=tuple(dropped), kept_text=tuple(kept),
        files_not_exported=tuple(skipped), n_ids=id_old.len(),
        n_handles=hmap.original.len(), n_avatars=av.len(),
        n_handles_without_letters=hmap.n_without_letters, manifest=m)


def _export_table(ds: Any, t: str, cols: list[str], roles: dict[str, Role],
                  maps: dict[str, tuple[pl.Series, pl.Series]], w: Any, *,
                  folder: bool) -> None:
    """Stream one table through the pseudonymisation into the writer's folder.

    A table held in one file is written as ``<t>.parquet``, one held in a folder
    as ``<t>/part-NNNNN.parquet`` (the original file names are not kept: they may
    name accounts). Rows keep their order.
    """
    sel = ", ".join(f'"{c}"' for c in cols)
    reader = ds.con.sql(f'SELECT {sel} FROM "{t}"').to_arrow_reader(BATCH_ROWS)

    def transform(df: pl.DataFrame) -> pa.Table:
        out = []
        for c in cols:
            s = df[c]
            if c in maps:
                old, new = maps[c]
                if roles[c] == "handle":
                    s = df.select(normalise_handles(pl.col(c).cast(pl.Utf8)))[c]
                elif roles[c] == "avatar":
                    s = s.cast(pl.Utf8).str.strip_chars()
                elif roles[c] == "label":
                    s = s.cast(pl.Utf8)
                else:
                    s = s.cast(old.dtype)
                s = s.replace_strict(old, new, default=None,
                                     return_dtype=new.dtype).alias(c)
            out.append(s)
        return pl.DataFrame(out).to_arrow()

    part, n = 0, 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in reader:
            df = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(df, pl.DataFrame)
            table = transform(df)
            n += table.num_rows
            if folder:
                dest = w.tmp / t / f"part-{part:05d}.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, dest, compression=w.compression)
                part += 1
                continue
            if writer is None:
                writer = pq.ParquetWriter(w.tmp / f"{t}.parquet", table.schema,
                                          compression=w.compression)
            writer.write_table(table)
        if n == 0:  # an empty table keeps its columns and types
            empty = pl.from_arrow(reader.schema.empty_table())
            assert isinstance(empty, pl.DataFrame)
            dest = (w.tmp / t / "part-00000.parquet" if folder
                    else w.tmp / f"{t}.parquet")
            dest.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(transform(empty), dest, compression=w.compression)
    finally:
        if writer is not None:
            writer.close()
    w.rows[t] = n
