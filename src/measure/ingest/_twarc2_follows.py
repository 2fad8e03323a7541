"""twarc2 ``followers`` / ``following`` pages (JSON lines) -> edges, crawls, look-ups.

``twarc2 followers USER out.jsonl`` and ``twarc2 following USER out.jsonl`` write one
Twitter API v2 response page per line (GET /2/users/:id/followers and
/2/users/:id/following)::

    {"data": [user, ...], "meta": {"result_count": 2, "next_token": "..."},
     "__twarc": {"url": "https://api.twitter.com/2/users/12/followers?...",
                 "version": "2.14.0", "retrieved_at": "2024-05-02T10:00:00+00:00"}}

``__twarc.url`` names the crawled account (``/2/users/<id>/followers`` or
``/following``) and ``__twarc.retrieved_at`` the time. A page may hold ``errors``
instead of (or beside) ``data``, e.g. when the crawled account is suspended.

What each page gives:

* **observations** (the record table): each element of ``data`` and of ``errors`` is
  one record. A listed user is an ``active`` look-up of that user at the page's
  ``retrieved_at`` (``protected`` when ``"protected": true``), with its
  ``public_metrics`` counts, read as in the ``twitter-v2`` format. An error gives the
  status of the account it names: "suspended" in ``detail`` -> ``suspended``;
  ``Not Found Error`` -> ``not_found``; ``Authorization Error`` (the API hides a
  protected account's lists) -> ``protected``; any other error is quarantined, as
  is an error about something else than an account (``resource_type`` ``tweet``,
  e.g. a missing pinned tweet when ``pinned_tweet_id`` is expanded), which does not
  make the crawl incomplete.
* **edges** (derived): one ``follows`` edge per listed user and crawl: follower ->
  crawled account for ``followers``, crawled account -> followed for ``following``;
  ``observed_at`` is the crawl's ``collected_at``, as the census pairs them.
* **crawls** (derived): pages of one account and list in file order form one crawl.
  A page continues the open crawl of its account and list when that crawl's last
  page carried a ``meta.next_token`` (and, when the URL holds a
  ``pagination_token``, when the two agree); otherwise it starts a new crawl.
  ``collected_at`` is the ``retrieved_at`` of the crawl's first page, ``level`` the
  ``level=`` of the ingest (``--level``), and ``complete`` is true when the crawl
  began at the list's first page (no ``pagination_token`` in its URL), its last page
  has no ``meta.next_token`` and no page held errors. The extra column ``pages``
  counts its pages.
* **accounts** (derived): one row per listed or erroring user (profile from its
  latest user object, as in ``twitter-v2``) and per crawled account (only the id
  and ``first_seen`` when it was never listed).

References: twarc 2.14 documentation (``docs/twarc2_en_us.md``, "Followers",
"Following"; ``Twarc2.followers``/``following`` docstrings); Twitter API v2
reference, GET /2/users/:id/followers and /2/users/:id/following (pagination with
``meta.next_token`` / ``pagination_token``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl

from measure.ingest import _twitter_v2
from measure.ingest._common import (
    ACCOUNTS_SCHEMA,
    TS,
    TWITTER_SCHEMA,
    BadValue,
    LineState,
    Parsed,
    RawFile,
    iter_json,
    page_records,
    resolve_by_name,
    twitter_tables,
    wrapper_time,
)

SUFFIXES = _twitter_v2.SUFFIXES

#: twarc2 command / API path -> the contract's ``crawls.list``.
LISTS = {"followers": "followers", "following": "friends"}

_URL_PATH = re.compile(r"/2/users/([0-9]{1,30})/(followers|following)/?$")

ASSUMPTIONS = (
    "a user listed in a followers/following page is an 'active' look-up of that user "
    "('protected' when \"protected\": true) at the page's __twarc.retrieved_at",
    "pages of one account and list in file order form one crawl; collected_at is the "
    "retrieved_at of its first page; complete when it began at the list's first page, "
    "its last page has no meta.next_token and no page held errors",
    "an 'Authorization Error' in a follow-list page means the crawled account is "
    "protected",
)


@dataclass
class Page:
    """Where one response page sits in the crawl of a list.

    Attributes
    ----------
    owner
        The account whose list the page is part of.
    list
        ``followers`` or ``friends``.
    at
        When the page was retrieved.
    first
        True when the request was the list's first page, False when it continued
        from a token, None when the request does not say.
    token
        The request's pagination token, if known.
    next_token
        The page's token for the next page (None on the last page).
    failed
        Whether the page held errors.
    """

    owner: Any
    list: str
    at: dt.datetime
    first: bool | None
    token: str | None
    next_token: str | None
    failed: bool = False


@dataclass
class _Crawl:
    owner: Any
    list: str
    collected_at: dt.datetime
    from_first: bool
    pages: int = 0
    failed: bool = False
    expect: str | None = None


@dataclass
class CrawlChains:
    """Group response pages into crawls, in the order the pages are read.

    A page continues the open crawl of its ``(owner, list)`` when the crawl's last
    page carried a next-page token and the page does not contradict it (a first
    page, or a request token that differs); otherwise it starts a new crawl. A
    crawl is complete when it began at a first page (or at a page whose request is
    unknown), its last page has no next-page token and none of its pages failed.
    """

    crawls: list[_Crawl] = field(default_factory=list)
    _open: dict[tuple[Any, str], int] = field(default_factory=dict)

    def add(self, page: Page) -> int:
        """Place ``page`` and return the index of its crawl."""
        key = (page.owner, page.list)
        i = self._open.get(key)
        cont = i is not None and self.crawls[i].expect is not None and (
            page.first is None
            or (page.first is False and page.token == self.crawls[i].expect))
        if not cont:
            self.crawls.append(_Crawl(page.owner, page.list, page.at,
                                      from_first=page.first is not False))
            i = len(self.crawls) - 1
        assert i is not None
        c = self.crawls[i]
        c.pages += 1
        c.failed = c.failed or page.failed
        c.expect = page.next_token
        self._open[key] = i
        return i

    def frame(self, level: int, id_dtype: Any) -> pl.DataFrame:
        """Return the ``crawls`` table (one row per crawl, in the order they began)."""
        rows = [{"account_id": c.owner, "list": c.list, "level": level,
                 "collected_at": c.collected_at,
                 "complete": c.from_first and c.expect is None and not c.failed,
                 "pages": c.pages} for c in self.crawls]
        return pl.DataFrame(rows, schema={
            "account_id": id_dtype, "list": pl.Utf8, "level": pl.Int32,
            "collected_at": TS, "complete": pl.Boolean, "pages": pl.Int32})


def edges_frame(members: list[tuple[int, Any]], chains: CrawlChains,
                id_dtype: Any) -> tuple[pl.DataFrame, int]:
    """``edges`` from ``(crawl index, listed account)`` pairs; duplicates dropped.

    Returns the edges (in crawl order) and how many listed accounts appeared twice
    in one crawl (a list that changed while its pages were read).
    """
    rows = []
    seen: set[tuple[int, Any]] = set()
    dup = 0
    for ci, member in members:
        if (ci, member) in seen:
            dup += 1
            continue
        seen.add((ci, member))
        c = chains.crawls[ci]
        src, dst = (member, c.owner) if c.list == "followers" else (c.owner, member)
        rows.append({"src": src, "dst": dst, "relation": "follows",
                     "observed_at": c.collected_at})
    df = pl.DataFrame(rows, schema={"src": id_dtype, "dst": id_dtype,
                                    "relation": pl.Utf8, "observed_at": TS})
    return df, dup


def page_position(url: Any) -> tuple[int, str, bool | None, str | None]:
    """Read the crawled account, list, first-page flag and token from a request URL.

    Raises ``BadValue`` when ``url`` is not a followers/following URL of API v2.
    """
    if not isinstance(url, str):
        raise BadValue("__twarc.url", "not_a_follow_list",
                       f"page has no __twarc.url naming the crawled account, got "
                       f"{url!r}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise BadValue("__twarc.url", "not_a_follow_list",
                       f"__twarc.url {url[:80]!r} is not a readable URL") from None
    m = _URL_PATH.search(parts.path)
    if not m:
        raise BadValue("__twarc.url", "not_a_follow_list",
                       f"__twarc.url {url!r} is not a /2/users/<id>/followers or "
                       "/following request; use --format twitter-v2 for user "
                       "look-ups")
    owner = int(m.group(1))
    if not 0 < owner < 2**63:
        raise BadValue("__twarc.url", "bad_type", f"account id {owner} out of range")
    if not parts.query:
        return owner, LISTS[m.group(2)], None, None
    token = parse_qs(parts.query).get("pagination_token", [None])[0]
    return owner, LISTS[m.group(2)], token is None, token


def _next_token(obj: dict[str, Any]) -> str | None:
    meta = obj.get("meta")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise BadValue("meta", "bad_shape", f"expected an object, got {meta!r}")
    tok = meta.get("next_token")
    if tok is not None and not isinstance(tok, str):
        raise BadValue("meta.next_token", "bad_type", f"expected a string, got {tok!r}")
    return tok or None


def _error_record(e: dict[str, Any], t: dt.datetime) -> dict[str, Any]:
    """Read an error element of a follow-list page as an observation record."""
    try:
        return _twitter_v2.error_record(e, t)
    except BadValue as err:
        if err.kind != "unknown_error" or e.get("title") != "Authorization Error":
            raise
    # the account is named as in any look-up error (id, or username to resolve)
    rec = _twitter_v2.error_record({**e, "title": "Not Found Error"}, t)
    rec["status"] = "protected"
    return rec


def _about_user(e: Any) -> bool:
    """Whether an error element is about an account (not, e.g., a pinned tweet)."""
    return not isinstance(e, dict) or e.get("resource_type") in (None, "user")


def _not_about_a_user(e: dict[str, Any], is_error: bool
                      ) -> tuple[str, str, str] | None:
    """Quarantine entry for an error element about something else than a user."""
    if not is_error or _about_user(e):
        return None
    return ("not_about_a_user",
            f"error about a {e.get('resource_type')} ({e.get('parameter')}), not an "
            "account: it says nothing about an account or the list", "resource_type")


def _record(item: dict[str, Any], is_error: bool, t: dt.datetime) -> dict[str, Any]:
    """Read a listed user or an error at time ``t`` (``make`` of page_records)."""
    return _error_record(item, t) if is_error else _twitter_v2.user_record(item, t)


def _items(obj: dict[str, Any]) -> list[tuple[Any, bool]]:
    data, errors = obj.get("data"), obj.get("errors")
    if data is not None and not isinstance(data, list):
        raise BadValue("data", "bad_shape",
                       "'data' of a follow-list page is not a list")
    if errors is not None and not isinstance(errors, list):
        raise BadValue("errors", "bad_shape", "'errors' is not a list")
    return [(u, False) for u in data or []] + [(e, True) for e in errors or []]


def _n_records(obj: dict[str, Any]) -> int:
    """Count the records of a page that cannot be read as a whole (at least 1)."""
    n = sum(len(v) for v in (obj.get("data"), obj.get("errors"))
            if isinstance(v, list))
    return max(1, n)


def parse(files: list[RawFile], *, level: int) -> Parsed:
    """Parse twarc2 followers/following pages into a dataset's tables.

    Parameters
    ----------
    files
        The raw JSON-lines files, in reading order.
    level
        Snowball level written to every ``crawls`` row (0 for the seeds' lists).
    """
    st = LineState(TWITTER_SCHEMA)
    q, read = st.q, st.read
    pending: list[tuple[dict[str, Any], str, int, str]] = []
    chains = CrawlChains()
    members: list[tuple[int, int]] = []
    for f, line, obj, text in iter_json(files, q, read):
        if not isinstance(obj, dict):
            read[0] += 1
            q.add(f.label, line, "bad_shape",
                  f"expected a JSON object (a twarc2 page), got {text[:40]!r}", text)
            continue
        if not any(k in obj for k in ("data", "errors", "meta")):
            read[0] += 1
            if "id" in obj and "__twarc" in obj:
                q.add(f.label, line, "flattened_user",
                      "a flattened user (twarc2 flatten) has lost its page's "
                      "meta.next_token, so the crawl's completeness is unknown; "
                      "ingest the pages twarc2 wrote", text)
            else:
                q.add(f.label, line, "bad_shape",
                      "line is not a twarc2 page: it has none of 'data', 'errors', "
                      "'meta'", text)
            continue
        try:
            t, _ = wrapper_time(obj, None)
            tw = obj.get("__twarc")
            owner, lst, first, token = page_position(
                tw.get("url") if isinstance(tw, dict) else None)
            nxt = _next_token(obj)
            items = _items(obj)
        except BadValue as e:
            st.bad(f, line, e, text, _n_records(obj))
            continue
        if t is None:
            n = _n_records(obj)
            read[0] += n
            for _ in range(n):
                q.add(f.label, line, "no_observed_at",
                      "page has no __twarc.retrieved_at (nor collected_at), so the "
                      "time of the crawl is unknown", text, "__twarc.retrieved_at")
            continue
        ci = chains.add(Page(owner, lst, t, first, token, nxt,
                             failed=any(is_err and _about_user(item)
                                        for item, is_err in items)))
        for rec, is_error in page_records(st, f, line, text, items, t, _record,
                                          pending, refuse=_not_about_a_user):
            if not is_error:
                members.append((ci, rec["account_id"]))
    acc, obs, collapsed = twitter_tables(
        resolve_by_name(st.records.frame(), pending, q))
    crawls = chains.frame(level, pl.Int64)
    edges, dup = edges_frame(members, chains, pl.Int64)
    acc = with_owners(acc, crawls, "twitter")
    notes = []
    if dup:
        notes.append(f"{dup} listed user(s) appeared twice in one crawl (the list "
                     "changed while its pages were read) and give one edge each")
    return Parsed(tables={"accounts": acc, "observations": obs, "edges": edges,
                          "crawls": crawls},
                  record_tables=("observations",), rows_read=read[0],
                  collapsed={"observations": collapsed}, quarantine=q,
                  assumptions=(*ASSUMPTIONS,
                               f"every crawl of this ingest is at snowball level "
                               f"{level} (level={level})"),
                  notes=tuple(notes))


def with_owners(acc: pl.DataFrame, crawls: pl.DataFrame,
                platform: str) -> pl.DataFrame:
    """Add the crawled accounts to ``accounts`` and count their crawls as seen.

    A crawled account never listed or looked up gets a row with its id,
    ``platform`` and ``first_seen`` (its first crawl) only; a known one keeps its row
    with ``first_seen`` moved to its first crawl when that is earlier.
    """
    if crawls.height == 0:
        return acc
    first = crawls.group_by("account_id").agg(
        pl.col("collected_at").min().alias("_crawled"))
    known = (acc.join(first, on="account_id", how="left")
             .with_columns(pl.min_horizontal("first_seen", "_crawled")
                           .alias("first_seen"))
             .drop("_crawled"))
    new = (first.join(acc.select("account_id"), on="account_id", how="anti")
           .select("account_id", pl.lit(platform).alias("platform"),
                   pl.col("_crawled").alias("first_seen")))
    schema = {**ACCOUNTS_SCHEMA, "account_id": acc.schema["account_id"]}
    return (pl.concat([known, new], how="diagonal_relaxed")
            .select(list(schema)).cast(schema)  # type: ignore[arg-type]
            .sort("account_id"))
