"""Mastodon: wrapped REST API responses (JSON lines) -> a dataset with text ids.

An account's id is ``username@domain`` in lower case (``VARCHAR`` ids): the numeric
``id`` of the Account entity is local to the server that answered (the same remote
account has another id on every server), so it is not used. The ``acct`` of a local
account is its bare username; it gets the domain from the line's ``instance`` field,
the server the API call went to. The username, as the server spells it, is the
screen name. One file may mix the three kinds of line below; each carries its
collection time (``collected_at``, ISO 8601 with a zone).

* **Account** ``{"collected_at", "instance", "account": Account}`` (``GET
  /api/v1/accounts/:id``, ``/accounts/lookup``): a look-up. ``suspended: true`` ->
  ``suspended`` (the server blanks the profile of a suspended account, so that
  look-up does not update the profile); ``moved`` (an Account) -> ``deactivated``
  plus a ``successors`` row (``source`` ``moved``) naming the new account, which is
  added to ``accounts`` with the profile the ``moved`` entity shows; otherwise
  ``active`` with ``followers_count``, ``following_count`` (``friends_count``) and
  ``statuses_count``. ``locked`` (follow requests approved by hand), ``limited``
  (silenced), ``memorial`` and ``bot`` accounts exist and are ``active``.
* **Error** ``{"collected_at", "instance", "acct", "status_code"}``: ``404``
  ("Record not found") -> ``not_found``; ``410`` (Gone, servers 2.4 to 3.2 answer a
  suspended account so) -> ``suspended``; other codes (401, 429, 5xx) say nothing
  about the account and are quarantined (``unknown_error``).
* **Follow-list page** ``{"collected_at", "instance", "of", "relation", "accounts",
  "url", "next"}`` (``GET /api/v1/accounts/:id/followers`` or ``/following``):
  ``of`` is the listed account's ``acct``, ``relation`` ``followers`` or
  ``following``, ``accounts`` the response's Account entities (each one a look-up
  as above and a ``follows`` edge), ``url`` the request and ``next`` the ``Link``
  header's ``rel="next"`` URL (null on the last page). Pages of one account and
  list in file order form one crawl: a page continues it when the previous page had
  a ``next`` URL whose ``max_id`` the page's ``url`` repeats (or the page has no
  ``url``). The crawl is complete when it began at the list's first page (a ``url``
  without ``max_id``, or none) and its last page has a null ``next`` (a listed
  account that cannot be read is quarantined and the crawl stays complete);
  ``complete`` is null (unknown) when a page does not record ``next`` at all, or
  when the list is empty and the account hides its network (``hide_collections``):
  the server then answers an empty list.

The bio (``note``) is HTML; it is reduced to text (paragraphs become blank lines,
``<br>`` line breaks, tags dropped, entities decoded). The avatar hash is the
SHA-256 of the avatar URL (as for Twitter: the same stored file gives the same
hash); the default avatar (``.../avatars/original/missing.png``) is no avatar.
``created_at`` is a day since Mastodon 3.4 (midnight UTC).

Schemas followed: Mastodon documentation (mastodon/documentation),
``content/en/entities/Account.md`` (``acct``, ``note``, ``moved``, ``suspended``,
``limited``, ``memorial``, ``hide_collections``, ``created_at``) and
``content/en/methods/accounts.md`` ("Get account": 404 "Record not found", 410 for
suspended accounts before 3.3.0, ``suspended: true`` since; "Get account's
followers"/"following": arrays of Account, pagination by the ``Link`` header with
``max_id``).
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl

from measure.errors import IngestError
from measure.ingest._common import (
    ACCOUNTS_SCHEMA,
    OBSERVATIONS_SCHEMA,
    TS,
    BadValue,
    LineState,
    Parsed,
    RawFile,
    as_count,
    collapse,
    image_url_hash,
    opt_str,
    parse_iso,
    raw_json,
    short_repr,
    soft,
    wrapper_time,
)
from measure.ingest._twarc2_follows import CrawlChains, Page, edges_frame, with_owners

SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PLATFORM = "mastodon"
#: ``relation`` of a follow-list page -> the contract's ``crawls.list``.
LISTS = {"followers": "followers", "following": "friends"}
#: HTTP status codes of a failed account look-up -> contract statuses.
STATUS_CODES = {404: "not_found", 410: "suspended"}
#: ``successors.source`` of a link read from the ``moved`` attribute.
MOVED = "moved"

ID = pl.Utf8
M_ACCOUNTS = {**ACCOUNTS_SCHEMA, "account_id": ID}
M_OBSERVATIONS = {**OBSERVATIONS_SCHEMA, "account_id": ID}
PROFILE_COLS = ("display_name", "description", "created_at", "profile_image_hash")
RECORD_SCHEMA: dict[str, Any] = {
    **M_OBSERVATIONS, **{c: ACCOUNTS_SCHEMA[c] for c in PROFILE_COLS},
    "successor_id": ID, "_order": pl.Int64, "_profile": pl.Boolean}
EMBEDDED_SCHEMA: dict[str, Any] = {
    "account_id": ID, "observed_at": TS, "screen_name": pl.Utf8,
    **{c: ACCOUNTS_SCHEMA[c] for c in PROFILE_COLS}, "_order": pl.Int64}
SUCCESSORS_SCHEMA: dict[str, Any] = {
    "account_id": ID, "successor_id": ID, "observed_at": TS, "source": pl.Utf8}

_PART = re.compile(r"^[^\s@/:?#]+$")
_MISSING_AVATAR = "/avatars/original/missing.png"
NO_TIME = ("a line needs its collection time: write it as {\"collected_at\": "
           "\"2024-05-01T12:00:00Z\", ...}")

ASSUMPTIONS = (
    "account ids are username@domain in lower case; a local acct takes the domain of "
    "the line's 'instance' (the server asked); the username is the screen name",
    "an Account is a look-up at collected_at: suspended: true -> suspended; moved -> "
    "deactivated (and a successors row); otherwise active (locked, limited, memorial "
    "and bot accounts included)",
    "HTTP 404 -> not_found; 410 -> suspended (servers 2.4 to 3.2); other codes are "
    "quarantined",
    "pages of one account and list in file order form one crawl; complete when it "
    "began at the first page and its last page's 'next' is null; unknown when a page "
    "does not record 'next', or the list is empty and the account hides its network",
    "the bio (note) is HTML reduced to text; the avatar hash is the SHA-256 of the "
    "avatar URL, and the default avatar (missing.png) is no avatar",
)


# -- values --------------------------------------------------------------------------
class _Text(HTMLParser):
    """Collect the text of a Mastodon HTML fragment (``note``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and "".join(self.parts).strip():
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(value: Any, column: str = "note") -> str | None:
    """Reduce an HTML bio to plain text (``None`` when it holds no text).

    Paragraphs (``<p>``) are separated by a blank line and ``<br>`` becomes a line
    break; other tags are dropped with their text kept (a link's hidden
    ``https://`` part included, so links read in full); entities are decoded.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue(column, "bad_type", f"expected an HTML string, got {value!r}")
    p = _Text()
    p.feed(value)
    p.close()
    lines = [ln.rstrip() for ln in "".join(p.parts).split("\n")]
    text = "\n".join(lines).strip()
    return text or None


def avatar_hash(url: Any, column: str = "avatar") -> str | None:
    """SHA-256 of the avatar URL; ``None`` for the default avatar or none."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise BadValue(column, "bad_type", f"expected an avatar URL, got {url!r}")
    try:
        path = urlsplit(url).path
    except ValueError:
        raise BadValue(column, "bad_value",
                       f"not a readable URL: {short_repr(url)}") from None
    if path.endswith(_MISSING_AVATAR) or not url.strip():
        return None
    return image_url_hash(url)


def _instance(obj: dict[str, Any]) -> str | None:
    v = obj.get("instance")
    if v is None:
        return None
    if not isinstance(v, str) or not _PART.match(v.strip()):
        raise BadValue("instance", "bad_type",
                       f"expected the server's domain (e.g. 'social.example'), got "
                       f"{v!r}")
    return v.strip().lower()


def account_id(acct: Any, instance: str | None, column: str = "acct"
               ) -> tuple[str, str]:
    """Return ``(account id, username)`` for an ``acct`` as a server gives it.

    ``acct`` is ``username`` (local to ``instance``) or ``username@domain``; a
    leading ``@`` is ignored. The id is ``username@domain`` in lower case.
    """
    if acct is None:
        raise BadValue(column, "missing_id", "record names no account (acct)")
    if not isinstance(acct, str) or not acct.strip():
        raise BadValue(column, "bad_type", f"expected an acct like "
                       f"'user@social.example', got {acct!r}")
    user, _, domain = acct.strip().removeprefix("@").partition("@")
    if not domain:
        if instance is None:
            raise BadValue(column, "missing_id",
                           f"acct {acct!r} is local (no domain) and the line has no "
                           "'instance' naming the server asked; add \"instance\": "
                           "\"social.example\" to the wrapper")
        domain = instance
    if not _PART.match(user) or not _PART.match(domain):
        raise BadValue(column, "bad_type", f"expected an acct like "
                       f"'user@social.example', got {acct!r}")
    return f"{user.lower()}@{domain.lower()}", user


def _flag(acc: dict[str, Any], key: str, column: str) -> bool:
    v = acc.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise BadValue(f"{column}.{key}", "bad_type",
                       f"expected true/false, got {v!r}")
    return v


def _profile(acc: dict[str, Any], column: str) -> dict[str, Any]:
    created = acc.get("created_at")
    return {
        "display_name": soft(opt_str, acc, "display_name") or None,
        "description": soft(html_text, acc.get("note"), f"{column}.note"),
        "created_at": None if created is None else soft(
            parse_iso, created, f"{column}.created_at"),
        "profile_image_hash": soft(avatar_hash, acc.get("avatar"),
                                   f"{column}.avatar"),
    }


def account_record(acc: Any, t: dt.datetime, instance: str | None,
                   column: str = "account"
                   ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Read an Account entity as a look-up at ``t``.

    Returns the observation record and, for a moved account, the new account as an
    embedded profile (``None`` otherwise). Raises ``BadValue``.
    """
    if not isinstance(acc, dict):
        raise BadValue(column, "bad_shape", f"expected an Account object, got "
                       f"{str(acc)[:40]!r}")
    aid, user = account_id(acc.get("acct"), instance, f"{column}.acct")
    suspended = _flag(acc, "suspended", column)
    _flag(acc, "hide_collections", column)
    moved = acc.get("moved")
    if moved is not None and not isinstance(moved, dict):
        raise BadValue(f"{column}.moved", "bad_type",
                       f"expected the new Account or null, got {str(moved)[:40]!r}")
    new = None
    status = "active"
    if suspended:
        status = "suspended"
    elif moved is not None:
        status = "deactivated"
        nid, nuser = account_id(moved.get("acct"), instance, f"{column}.moved.acct")
        new = {"account_id": nid, "observed_at": t, "screen_name": nuser,
               **_profile(moved, f"{column}.moved")}
    active = status == "active"

    def count(key: str) -> int | None:
        return (soft(as_count, acc.get(key), f"{column}.{key}") if active
                else None)

    rec: dict[str, Any] = {
        "account_id": aid, "observed_at": t, "status": status,
        "followers_count": count("followers_count"),
        "friends_count": count("following_count"),
        "statuses_count": count("statuses_count"),
        "screen_name": user,
        # the server blanks a suspended account's profile: keep the one seen before
        "_profile": not suspended,
        "successor_id": None if new is None else new["account_id"],
    }
    rec.update(_profile(acc, column) if not suspended else dict.fromkeys(PROFILE_COLS))
    return rec, new


def error_status(obj: dict[str, Any]) -> str:
    """Map a failed look-up's HTTP status code onto a contract status."""
    code = obj.get("status_code")
    if isinstance(code, bool) or not isinstance(code, int):
        raise BadValue("status_code", "bad_type",
                       f"expected an HTTP status code (an integer), got {code!r}")
    if code in STATUS_CODES:
        return STATUS_CODES[code]
    raise BadValue("status_code", "unknown_error",
                   f"HTTP {code} ({obj.get('error')!r}) says neither suspended (410) "
                   "nor not found (404): it is about the request or the server, not "
                   "the account")


def page_position(url: Any, nxt: Any) -> tuple[bool | None, str | None, str | None]:
    """Read ``(first page?, request max_id, next page's max_id)`` of a page."""
    if url is not None and not isinstance(url, str):
        raise BadValue("url", "bad_type", f"expected the request URL, got {url!r}")
    if nxt is not None and not isinstance(nxt, str):
        raise BadValue("next", "bad_type",
                       f"expected the Link header's next URL or null, got {nxt!r}")
    first, token = None, None
    try:
        if url is not None:
            token = parse_qs(urlsplit(url).query).get("max_id", [None])[0]
            first = token is None
        nt = None
        if nxt:
            nt = parse_qs(urlsplit(nxt).query).get("max_id", [nxt])[0]
    except ValueError:
        raise BadValue("url", "bad_value", f"not a readable URL: {short_repr(url)} "
                       f"or {short_repr(nxt)}") from None
    return first, token, nt


# -- the parser ----------------------------------------------------------------------
class _State(LineState):
    """What the lines of one ingest add up to."""

    def __init__(self) -> None:
        super().__init__(RECORD_SCHEMA)
        self.embedded: list[dict[str, Any]] = []
        self.chains = CrawlChains()
        self.members: list[tuple[int, str]] = []
        self.unpaged: set[int] = set()
        self.hides: set[str] = set()

    def observe(self, rec: dict[str, Any], new: dict[str, Any] | None,
                acc: dict[str, Any]) -> None:
        self.read[0] += 1
        order = self.stamp(rec)
        if new is not None:
            self.embedded.append({**new, "_order": order})
        if acc.get("hide_collections") is True:
            self.hides.add(rec["account_id"])


def _account_line(st: _State, f: RawFile, line: int, obj: dict[str, Any],
                  text: str) -> None:
    try:
        t, _ = wrapper_time(obj, None)
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        with st.q.fields(f.label, line):
            rec, new = account_record(obj["account"], t, _instance(obj))
    except BadValue as e:
        st.bad(f, line, e, text)
        return
    st.observe(rec, new, obj["account"])


def _error_line(st: _State, f: RawFile, line: int, obj: dict[str, Any],
                text: str) -> None:
    try:
        t, _ = wrapper_time(obj, None)
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        status = error_status(obj)
        aid, user = account_id(obj.get("acct"), _instance(obj))
    except BadValue as e:
        st.bad(f, line, e, text)
        return
    rec = {"account_id": aid, "observed_at": t, "status": status,
           "screen_name": user, "_profile": False}
    st.observe(rec, None, {})


def _page_line(st: _State, f: RawFile, line: int, obj: dict[str, Any], text: str,
               level: int | None) -> None:
    listed = obj.get("accounts")
    n = max(1, len(listed)) if isinstance(listed, list) else 1
    try:
        t, _ = wrapper_time(obj, None)
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        instance = _instance(obj)
        if not isinstance(listed, list):
            raise BadValue("accounts", "bad_shape",
                           "'accounts' of a follow-list page is not a list")
        rel = obj.get("relation")
        if not isinstance(rel, str) or rel not in LISTS:
            raise BadValue("relation", "bad_value",
                           f"expected 'followers' or 'following', got {rel!r}")
        owner, _ = account_id(obj.get("of"), instance, "of")
        first, token, nxt = page_position(obj.get("url"), obj.get("next"))
    except BadValue as e:
        st.bad(f, line, e, text, n)
        return
    if level is None:
        raise IngestError(
            f"file '{f.label}', line {line} holds a followers/following page, which "
            "gives a crawls row; pass level= (--level N: 0 for the seeds' lists, 1 "
            "for lists of accounts found in them, ...)")
    ci = st.chains.add(Page(owner, LISTS[rel], t, first, token, nxt))
    if "next" not in obj:
        st.unpaged.add(ci)
    for acc in listed:
        try:
            with st.q.fields(f.label, line):
                rec, new = account_record(acc, t, instance, "accounts[]")
        except BadValue as e:
            st.bad(f, line, e, raw_json(acc))
            continue
        st.observe(rec, new, acc)
        st.members.append((ci, rec["account_id"]))


def parse(files: list[RawFile], *, level: int | None = None) -> Parsed:
    """Parse wrapped Mastodon API responses into a dataset's tables.

    Parameters
    ----------
    files
        The raw JSON-lines files, in reading order.
    level
        Snowball level of the crawls that follow-list pages give; required when the
        files hold such pages.

    Raises
    ------
    IngestError
        A follow-list page is read and ``level`` is None.
    """
    st = _State()
    for f, line, obj, text in st.objects(files):
        if "account" in obj:
            _account_line(st, f, line, obj, text)
        elif "status_code" in obj:
            _error_line(st, f, line, obj, text)
        elif "accounts" in obj:
            _page_line(st, f, line, obj, text, level)
        else:
            st.bad(f, line, BadValue("(line)", "bad_shape",
                                     "line is none of an account look-up "
                                     "('account'), an error ('status_code') and a "
                                     "follow-list page ('accounts')"), text)
    return _tables(st, level)


def _tables(st: _State, level: int | None) -> Parsed:
    records, n_collapsed = collapse(st.records.frame(), ["account_id", "observed_at"],
                                    "_order")
    records = records.sort(["account_id", "observed_at", "_order"])
    obs = records.select(list(M_OBSERVATIONS)).cast(
        M_OBSERVATIONS)  # type: ignore[arg-type]
    embedded = pl.DataFrame(st.embedded, schema=EMBEDDED_SCHEMA)
    tables: dict[str, pl.DataFrame] = {"accounts": _accounts(records, embedded),
                                       "observations": obs}
    keys: dict[str, tuple[str, ...] | None] = {}
    notes: list[str] = []
    assumptions = list(ASSUMPTIONS)
    succ = (records.filter(pl.col("successor_id").is_not_null())
            .select("account_id", "successor_id", "observed_at",
                    pl.lit(MOVED).alias("source"))
            .cast(SUCCESSORS_SCHEMA)  # type: ignore[arg-type]
            .sort(["account_id", "observed_at"]))
    if succ.height:
        tables["successors"] = succ
        keys["successors"] = ("account_id", "successor_id", "observed_at")
        notes.append(f"{succ.height} look-up(s) of moved accounts gave "
                     f"{succ.select('account_id', 'successor_id').n_unique()} "
                     "successor link(s) (table 'successors'); the new accounts are in "
                     "'accounts' with the profile the old one showed for them")
    if st.chains.crawls:
        assert level is not None
        crawls = st.chains.frame(level, ID)
        edges, dup = edges_frame(st.members, st.chains, ID)
        n_edges = [0] * len(st.chains.crawls)
        for ci, _ in st.members:
            n_edges[ci] += 1
        hidden = [i for i, c in enumerate(st.chains.crawls)
                  if c.owner in st.hides and n_edges[i] == 0]
        unknown = sorted(st.unpaged | set(hidden))
        if unknown:
            crawls = crawls.with_columns(
                pl.when(pl.int_range(pl.len()).is_in(unknown))
                .then(pl.lit(None, pl.Boolean)).otherwise(pl.col("complete"))
                .alias("complete"))
        if hidden:
            notes.append(f"{len(hidden)} empty list(s) of accounts that hide their "
                         "network (hide_collections): complete is null, the list is "
                         "unknown, not empty")
        if st.unpaged:
            notes.append(f"{len(st.unpaged)} crawl(s) with a page that does not "
                         "record 'next' (the Link header): complete is null")
        tables.update(edges=edges, crawls=crawls)
        tables["accounts"] = with_owners(tables["accounts"], crawls, PLATFORM)
        assumptions.append(f"every crawl of this ingest is at snowball level {level} "
                           f"(level={level})")
        if dup:
            notes.append(f"{dup} listed account(s) appeared twice in one crawl and "
                         "give one edge each")
    return Parsed(tables=tables, record_tables=("observations",),
                  rows_read=st.read[0], collapsed={"observations": n_collapsed},
                  quarantine=st.q, assumptions=tuple(assumptions), notes=tuple(notes),
                  keys=keys)


def _accounts(records: pl.DataFrame, embedded: pl.DataFrame) -> pl.DataFrame:
    """One row per account looked up or named as a successor.

    The profile is the latest one a look-up showed (a suspended account's blanked
    profile is not one), else the latest one a ``moved`` attribute showed;
    ``screen_name`` is the latest username seen; ``first_seen`` the earliest time
    the account was seen; ``created_at`` the earliest reported.
    """
    own = records.filter(pl.col("_profile")).select(
        "account_id", "observed_at", *PROFILE_COLS, "_order", pl.lit(1).alias("_p"))
    emb = embedded.select("account_id", "observed_at", *PROFILE_COLS, "_order",
                          pl.lit(0).alias("_p"))
    profiles = pl.concat([own, emb]).sort(["_p", "observed_at", "_order"])
    prof = profiles.group_by("account_id", maintain_order=True).agg(
        *[pl.col(c).last() for c in PROFILE_COLS if c != "created_at"],
        pl.col("created_at").min())
    seen = pl.concat([
        records.select("account_id", "observed_at", "screen_name", "_order",
                       pl.lit(1).alias("_p")),
        embedded.select("account_id", "observed_at", "screen_name", "_order",
                        pl.lit(0).alias("_p"))])
    base = (seen.sort(["_p", "observed_at", "_order"])
            .group_by("account_id", maintain_order=True)
            .agg(pl.col("screen_name").drop_nulls().last(),
                 pl.col("observed_at").min().alias("first_seen")))
    return (base.join(prof, on="account_id", how="left")
            .with_columns(pl.lit(PLATFORM).alias("platform"),
                          pl.lit(None, pl.Utf8).alias("lang"),
                          pl.lit(None, pl.Utf8).alias("location"))
            .select(list(M_ACCOUNTS))
            .cast(M_ACCOUNTS)  # type: ignore[arg-type]
            .sort("account_id"))
