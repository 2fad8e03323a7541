"""Bluesky: Jetstream events and wrapped AppView responses (JSON lines) -> a dataset.

Account ids are DIDs (``did:plc:...``, ``did:web:...``; VARCHAR ids) and the handle
is the screen name. One file may mix the two kinds of line below.

**Jetstream events** (the v1 ``/subscribe`` JSON wire): ``{"did", "time_us", "kind",
...}``, one event per line.

* ``kind: account`` (``account``: ``active``, ``status``, ``time``): a status look-up
  at ``account.time`` (the host's time of the change; ``time_us`` is when Jetstream
  delivered it). ``active: true`` -> ``active``; ``status`` ``takendown`` or
  ``suspended`` -> ``suspended``; ``deleted`` -> ``not_found``; ``deactivated`` ->
  ``deactivated``. Statuses with no contract meaning (``throttled``,
  ``desynchronized``, unknown values, or ``active: false`` without a status) are
  quarantined with the reason (kind ``unmapped_status``).
* ``kind: commit``: the account wrote to its repository, so it was ``active`` at
  ``time_us`` (the relay passes commits of active accounts only). Commits to
  ``app.bsky.actor.profile`` also carry the profile (``displayName``,
  ``description``, ``createdAt``; the avatar blob's CID is the avatar hash; a
  ``delete`` clears it). An account's profile is its latest one, from a record or
  an AppView response; its ``created_at`` is the earliest ``createdAt`` seen.
  Commits to ``app.bsky.graph.follow`` are follow *events*
  (create/delete of one follow record, ``subject`` = the followed DID); they go to
  the extra table ``follow_events``, not to ``edges``: ``edges`` are snapshots of
  collected lists, which a stream of changes is not. A ``delete`` carries no
  record; its ``dst`` is the ``subject`` of the create with the same ``rkey`` read
  in the same ingest, else null. Commits to other collections give the look-up only.
* ``kind: identity`` (``identity``: ``handle``, ``time``): a handle change, not a
  look-up: it goes to the extra table ``identity_events`` and sets the account's
  ``screen_name``; it is counted apart from the records read (``handle.invalid``
  is read as no handle).
* any other ``kind`` is quarantined (``unknown_kind``).

**Wrapped AppView responses**: ``{"collected_at": ISO, "response": ...}`` with the
JSON of ``app.bsky.actor.getProfile`` (a ``profileViewDetailed``: an ``active``
look-up with ``followersCount``, ``followsCount``, ``postsCount``),
``getProfiles`` (``profiles``: one record each), ``app.bsky.graph.getFollowers`` or
``getFollows`` (``subject`` + ``followers``/``follows`` + ``cursor``: the subject
and every listed account are ``active`` look-ups; each listed account gives a
``follows`` edge; pages of one subject and list in file order form one crawl,
complete when its last page has no ``cursor``); and errors ``{"collected_at": ISO,
"actor": DID or handle, "error": NAME, "message": ...}``: ``AccountTakedown`` ->
``suspended``, ``AccountDeactivated`` -> ``deactivated``, ``InvalidRequest`` with a
"not found" message -> ``not_found``; other errors are quarantined. An ``actor``
given as a handle takes the DID that handle had last in the same ingest
(``unresolved_handle`` otherwise). The avatar hash of an AppView profile is the CID
in its avatar URL (``.../img/avatar/plain/<did>/<cid>@jpeg``), so it equals the
blob CID of the profile record.

Schemas followed: atproto lexicons ``com.atproto.sync.subscribeRepos`` (``#account``,
``#identity``), ``app.bsky.actor.profile``, ``app.bsky.graph.follow``,
``app.bsky.actor.defs`` (``profileView``, ``profileViewDetailed``),
``app.bsky.actor.getProfile(s)``, ``app.bsky.graph.getFollowers``/``getFollows``
(bluesky-social/atproto); Jetstream documentation, "Legacy v1 JSON Payload" and
"Identity, Account, and Sync Events" (bluesky-social/jetstream, docs/README.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

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
    check_time,
    collapse,
    opt_str,
    parse_iso,
    raw_json,
    short_repr,
    soft,
    wrapper_time,
)
from measure.ingest._twarc2_follows import CrawlChains, Page, edges_frame, with_owners

SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PLATFORM = "bluesky"
PROFILE = "app.bsky.actor.profile"
FOLLOW = "app.bsky.graph.follow"

#: ``#account`` statuses -> contract statuses.
ACCOUNT_STATUS = {"takendown": "suspended", "suspended": "suspended",
                  "deleted": "not_found", "deactivated": "deactivated"}
#: Why the other known statuses are not mapped.
UNMAPPED_STATUS = {
    "throttled": "the host is rate-limiting the account, which is neither a "
                 "suspension nor a removal",
    "desynchronized": "the host's copy of the repository is out of sync, which "
                      "says nothing about the account",
}
#: AppView error names -> contract statuses.
ERROR_STATUS = {"AccountTakedown": "suspended", "AccountDeactivated": "deactivated"}

ID = pl.Utf8
BSKY_ACCOUNTS = {**ACCOUNTS_SCHEMA, "account_id": ID}
BSKY_OBSERVATIONS = {**OBSERVATIONS_SCHEMA, "account_id": ID}
PROFILE_COLS = ("display_name", "description", "created_at", "profile_image_hash")
RECORD_SCHEMA: dict[str, Any] = {
    **BSKY_OBSERVATIONS, "display_name": pl.Utf8, "description": pl.Utf8,
    "created_at": TS, "profile_image_hash": pl.Utf8, "_order": pl.Int64,
    "_profile": pl.Boolean}
PROFILE_SCHEMA: dict[str, Any] = {
    "account_id": ID, "at": TS, **{c: RECORD_SCHEMA[c] for c in PROFILE_COLS},
    "_order": pl.Int64}
IDENTITY_SCHEMA: dict[str, Any] = {
    "account_id": ID, "screen_name": pl.Utf8, "changed_at": TS, "observed_at": TS,
    "_order": pl.Int64}
FOLLOW_SCHEMA: dict[str, Any] = {
    "src": ID, "dst": ID, "action": pl.Utf8, "rkey": pl.Utf8, "observed_at": TS,
    "created_at": TS, "_order": pl.Int64}

_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$")
_CID = re.compile(r"/(baf[a-z2-7]{20,})(?:@[A-Za-z0-9]+)?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
NO_TIME = ("a wrapped response needs its collection time: write it as "
           "{\"collected_at\": \"2024-05-01T12:00:00Z\", \"response\": ...}")

ASSUMPTIONS = (
    "account ids are DIDs and screen names are handles ('handle.invalid' is read as "
    "no handle)",
    "a Jetstream #account event is a look-up at account.time: active -> active; "
    "takendown/suspended -> suspended; deleted -> not_found; deactivated -> "
    "deactivated; other statuses are quarantined",
    "a Jetstream commit is an 'active' look-up of its author at time_us",
    "follow creates/deletes from Jetstream are events (table follow_events), not "
    "edges: edges hold collected lists only",
    "AppView profiles and accounts listed by getFollowers/getFollows are 'active' "
    "look-ups at the wrapper's collected_at; pages of one subject and list in file "
    "order form one crawl, complete when its last page has no cursor",
    "the avatar hash is the avatar blob's CID (from the profile record, or from the "
    "AppView avatar URL)",
)


# -- values --------------------------------------------------------------------------
def _did(value: Any, column: str) -> str:
    if value is None:
        raise BadValue(column, "missing_id", "record has no DID")
    if not isinstance(value, str) or not _DID.match(value):
        raise BadValue(column, "bad_type", f"expected a DID like 'did:plc:...', got "
                       f"{value!r}")
    return value


def _handle(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue(column, "bad_type", f"expected a handle, got {value!r}")
    h = value.strip().lower()
    return None if not h or h == "handle.invalid" else h


def _time_us(obj: dict[str, Any]) -> dt.datetime:
    v = obj.get("time_us")
    if v is None:
        raise BadValue("time_us", "bad_timestamp", "Jetstream event has no time_us")
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise BadValue("time_us", "bad_timestamp",
                       f"expected microseconds since 1970 (an integer), got "
                       f"{short_repr(v)}")
    try:
        t = _EPOCH + dt.timedelta(microseconds=v)
    except OverflowError:
        raise BadValue("time_us", "bad_timestamp",
                       f"time_us {short_repr(v)} is not a representable time"
                       ) from None
    return check_time(t, "time_us")


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    v = obj.get(key)
    if not isinstance(v, dict):
        raise BadValue(key, "bad_shape", f"event of kind {obj.get('kind')!r} has no "
                       f"'{key}' object")
    return v


def _opt_time(obj: dict[str, Any], key: str, column: str) -> dt.datetime | None:
    v = obj.get(key)
    return None if v is None else parse_iso(v, column)


def blob_cid(blob: Any, column: str) -> str | None:
    """Return the CID of a blob (``{"ref": {"$link": cid}}`` or legacy ``cid``)."""
    if blob is None:
        return None
    if not isinstance(blob, dict):
        raise BadValue(column, "bad_type", f"expected a blob object, got {blob!r}")
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")
    if not isinstance(cid, str) or not cid:
        raise BadValue(column, "bad_type", f"blob has no CID: {blob!r}")
    return cid


def avatar_cid(url: Any, column: str = "avatar") -> str | None:
    """Return the blob CID in an AppView avatar URL (``.../<did>/<cid>@jpeg``)."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise BadValue(column, "bad_type", f"expected an avatar URL, got {url!r}")
    m = _CID.search(url.split("?", 1)[0])
    return m.group(1) if m else None


# -- records -------------------------------------------------------------------------
def profile_view(p: Any, t: dt.datetime, column: str = "response",
                 counts: bool = False) -> dict[str, Any]:
    """Read a ``profileView``/``profileViewDetailed`` as an ``active`` look-up."""
    if not isinstance(p, dict):
        raise BadValue(column, "bad_shape", f"expected a profile object, got {p!r}")
    return {
        "account_id": _did(p.get("did"), f"{column}.did"),
        "observed_at": t, "status": "active",
        "followers_count": soft(as_count, p.get("followersCount"),
                                "followersCount") if counts else None,
        "friends_count": soft(as_count, p.get("followsCount"), "followsCount")
        if counts else None,
        "statuses_count": soft(as_count, p.get("postsCount"), "postsCount")
        if counts else None,
        "screen_name": _handle(p.get("handle"), f"{column}.handle"),
        "display_name": soft(opt_str, p, "displayName"),
        "description": soft(opt_str, p, "description"),
        "created_at": soft(_opt_time, p, "createdAt", f"{column}.createdAt"),
        "profile_image_hash": soft(avatar_cid, p.get("avatar"), f"{column}.avatar"),
        "_profile": True,
    }


def account_status(acc: dict[str, Any]) -> str:
    """Map a ``#account`` event onto a contract status (raises ``BadValue``)."""
    active = acc.get("active")
    if not isinstance(active, bool):
        raise BadValue("account.active", "bad_type",
                       f"expected true/false, got {active!r}")
    if active:
        return "active"
    status = acc.get("status")
    if status is None:
        raise BadValue("account.status", "unmapped_status",
                       "account is inactive (active=false) without a status, so no "
                       "contract status says why")
    if not isinstance(status, str):
        raise BadValue("account.status", "bad_type",
                       f"expected a status name, got {short_repr(status)}")
    if status in ACCOUNT_STATUS:
        return ACCOUNT_STATUS[status]
    why = UNMAPPED_STATUS.get(status, "it is not a status of the "
                              "com.atproto.sync.subscribeRepos#account lexicon "
                              "that the contract can express")
    raise BadValue("account.status", "unmapped_status",
                   f"status {status!r} has no contract meaning: {why}")


def error_status(obj: dict[str, Any]) -> str:
    """Map a wrapped AppView error onto a contract status (raises ``BadValue``)."""
    name, msg = obj.get("error"), obj.get("message")
    if isinstance(name, str) and name in ERROR_STATUS:
        return ERROR_STATUS[name]
    if name == "InvalidRequest" and isinstance(msg, str) and "not found" in msg.lower():
        return "not_found"
    raise BadValue("error", "unknown_error",
                   f"error {name!r} ({msg!r}) says neither suspended, deactivated nor "
                   "not found")


# -- the parser ----------------------------------------------------------------------
class _State(LineState):
    """What the lines of one ingest add up to."""

    def __init__(self) -> None:
        super().__init__(RECORD_SCHEMA)
        self.profiles: list[dict[str, Any]] = []
        self.identities: list[dict[str, Any]] = []
        self.follows: list[dict[str, Any]] = []
        self.pending: list[tuple[dict[str, Any], str, str, int, str]] = []
        self.chains = CrawlChains()
        self.members: list[tuple[int, str]] = []
        self.other_commits: Counter[str] = Counter()

    def observe(self, rec: dict[str, Any]) -> None:
        rec.setdefault("_profile", False)
        self.stamp(rec)


def _jetstream(st: _State, f: RawFile, line: int, obj: dict[str, Any],
               text: str) -> None:
    try:
        with st.q.fields(f.label, line):
            _event(st, obj)
    except BadValue as e:
        st.bad(f, line, e, text)


def _event(st: _State, obj: dict[str, Any]) -> None:
    """Read one Jetstream event (raises ``BadValue`` before it counts anything)."""
    kind = obj.get("kind")
    did = _did(obj.get("did"), "did")
    t = _time_us(obj)
    if kind == "account":
        acc = _sub(obj, "account")
        rec = {"account_id": did, "status": account_status(acc),
               "observed_at": parse_iso(acc.get("time"), "account.time")}
        st.read[0] += 1
        st.observe(rec)
    elif kind == "identity":
        ident = _sub(obj, "identity")
        row = {"account_id": did,
               "screen_name": _handle(ident.get("handle"), "identity.handle"),
               "changed_at": parse_iso(ident.get("time"), "identity.time"),
               "observed_at": t}
        row["_order"] = st.next()
        st.identities.append(row)
    elif kind == "commit":
        side = _commit(did, t, _sub(obj, "commit"))
        st.read[0] += 1
        st.observe({"account_id": did, "observed_at": t, "status": "active"})
        if side is not None:
            table, row = side
            row["_order"] = st.order
            (st.profiles if table == "profile" else st.follows).append(row)
        else:
            st.other_commits[str(obj["commit"].get("collection"))] += 1
    else:
        raise BadValue("kind", "unknown_kind",
                       f"Jetstream event kind {short_repr(kind)} is none of "
                       "account, identity, commit")


def _commit(did: str, t: dt.datetime, c: dict[str, Any]
            ) -> tuple[str, dict[str, Any]] | None:
    """Return the profile or follow event a commit carries (None for others)."""
    op, coll = c.get("operation"), c.get("collection")
    if op not in ("create", "update", "delete"):
        raise BadValue("commit.operation", "bad_value",
                       f"expected create, update or delete, got {op!r}")
    if not isinstance(coll, str) or not coll:
        raise BadValue("commit.collection", "bad_type",
                       f"expected a collection NSID, got {coll!r}")
    if coll not in (PROFILE, FOLLOW):
        return None
    rkey = c.get("rkey")
    if not isinstance(rkey, str) or not rkey:
        raise BadValue("commit.rkey", "bad_type",
                       f"expected a record key, got {rkey!r}")
    rec = c.get("record")
    if op != "delete" and not isinstance(rec, dict):
        raise BadValue("commit.record", "bad_shape",
                       f"a {op} of {coll} has no record object")
    if coll == PROFILE:
        row: dict[str, Any] = {"account_id": did, "at": t,
                               **dict.fromkeys(PROFILE_COLS)}
        if op != "delete":
            assert isinstance(rec, dict)
            row.update(
                display_name=soft(opt_str, rec, "displayName"),
                description=soft(opt_str, rec, "description"),
                created_at=soft(_opt_time, rec, "createdAt",
                                "commit.record.createdAt"),
                profile_image_hash=soft(blob_cid, rec.get("avatar"),
                                        "commit.record.avatar"))
        return "profile", row
    dst = None
    created = None
    if op != "delete":
        assert isinstance(rec, dict)
        dst = _did(rec.get("subject"), "commit.record.subject")
        created = soft(_opt_time, rec, "createdAt", "commit.record.createdAt")
    return "follow", {"src": did, "dst": dst, "action": op, "rkey": rkey,
                      "observed_at": t, "created_at": created}


def _wrapped(st: _State, f: RawFile, line: int, obj: dict[str, Any], text: str,
             level: int | None) -> None:
    if "error" in obj:
        try:
            t, _ = wrapper_time(obj, None)
            if t is None:
                raise BadValue("collected_at", "no_observed_at", NO_TIME)
            status = error_status(obj)
            actor = obj.get("actor")
            if not isinstance(actor, str) or not actor.strip():
                raise BadValue("actor", "missing_id",
                               "error record names no actor (DID or handle)")
            did = _did(actor, "actor") if actor.startswith("did:") else None
        except BadValue as e:
            st.bad(f, line, e, text)
            return
        rec: dict[str, Any] = {"observed_at": t, "status": status}
        st.read[0] += 1
        if did is not None:
            rec["account_id"] = did
            st.observe(rec)
        else:
            rec["screen_name"] = actor.strip().lower()
            rec["_order"] = st.next()
            st.pending.append((rec, actor, f.label, line, text))
        return
    resp = obj.get("response")
    try:
        t, _ = wrapper_time(obj, None)
        if not isinstance(resp, dict):
            raise BadValue("response", "bad_shape",
                           f"expected the response object, got {str(resp)[:40]!r}")
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
    except BadValue as e:
        st.bad(f, line, e, text, _n_records(resp))
        return
    if "followers" in resp or "follows" in resp:
        _page(st, f, line, resp, t, text, level)
    elif "profiles" in resp:
        profiles = resp["profiles"]
        if not isinstance(profiles, list):
            st.bad(f, line, BadValue("response.profiles", "bad_shape",
                                     "'profiles' is not a list"), text)
            return
        for p in profiles:
            _one_profile(st, f, line, p, t, None, "profiles[]", counts=True)
    elif "did" in resp:
        _one_profile(st, f, line, resp, t, text, "response", counts=True)
    else:
        st.bad(f, line, BadValue("response", "bad_shape",
                                 "response is none of getProfile, getProfiles, "
                                 "getFollowers, getFollows"), text)


def _n_records(resp: Any) -> int:
    if not isinstance(resp, dict):
        return 1
    for k in ("followers", "follows"):
        if isinstance(resp.get(k), list):
            return 1 + len(resp[k])
    if isinstance(resp.get("profiles"), list):
        return max(1, len(resp["profiles"]))
    return 1


def _one_profile(st: _State, f: RawFile, line: int, p: Any, t: dt.datetime,
                 raw: str | None, column: str, counts: bool) -> str | None:
    """Read one profile; ``raw`` is the line's text, or None for the profile's JSON."""
    try:
        with st.q.fields(f.label, line):
            rec = profile_view(p, t, column, counts=counts)
    except BadValue as e:
        st.bad(f, line, e, raw if raw is not None else raw_json(p))
        return None
    st.read[0] += 1
    st.observe(rec)
    return str(rec["account_id"])


def _page(st: _State, f: RawFile, line: int, resp: dict[str, Any], t: dt.datetime,
          text: str, level: int | None) -> None:
    key = "followers" if "followers" in resp else "follows"
    listed, cursor = resp.get(key), resp.get("cursor")
    try:
        if not isinstance(listed, list):
            raise BadValue(f"response.{key}", "bad_shape", f"'{key}' is not a list")
        if cursor is not None and not isinstance(cursor, str):
            raise BadValue("response.cursor", "bad_type",
                           f"expected a string, got {cursor!r}")
        with st.q.fields(f.label, line):
            subject = profile_view(resp.get("subject"), t, "response.subject")
    except BadValue as e:
        st.bad(f, line, e, text, _n_records(resp))
        return
    if level is None:
        raise IngestError(
            f"file '{f.label}', line {line} holds a getFollowers/getFollows page, "
            "which gives a crawls row; pass level= (--level N: 0 for the seeds' "
            "lists, 1 for lists of accounts found in them, ...)")
    st.read[0] += 1
    st.observe(subject)
    owner = str(subject["account_id"])
    ci = st.chains.add(Page(owner, "followers" if key == "followers" else "friends",
                            t, None, None, cursor or None))
    for p in listed:
        did = _one_profile(st, f, line, p, t, None, f"{key}[]", counts=False)
        if did is not None:
            st.members.append((ci, did))


def parse(files: list[RawFile], *, level: int | None = None) -> Parsed:
    """Parse Bluesky JSON lines (Jetstream events, wrapped AppView responses).

    Parameters
    ----------
    files
        The raw JSON-lines files, in reading order.
    level
        Snowball level of the crawls that getFollowers/getFollows pages give;
        required when the files hold such pages.

    Raises
    ------
    IngestError
        A follow-list page is read and ``level`` is None.
    """
    st = _State()
    for f, line, obj, text in st.objects(files):
        if "kind" in obj:
            _jetstream(st, f, line, obj, text)
        elif "response" in obj or "error" in obj:
            _wrapped(st, f, line, obj, text, level)
        else:
            st.bad(f, line, BadValue("(line)", "bad_shape",
                                     "line is neither a Jetstream event ('kind') nor "
                                     "a wrapped response ('response' or 'error')"),
                   text)
    return _tables(st, level)


def _tables(st: _State, level: int | None) -> Parsed:
    identities = pl.DataFrame(st.identities, schema=IDENTITY_SCHEMA)
    records = st.records.frame()
    _resolve(st, records, identities)
    records = st.records.frame()
    records, n_collapsed = collapse(records, ["account_id", "observed_at"], "_order")
    records = records.sort(["account_id", "observed_at", "_order"])
    obs = records.select(list(BSKY_OBSERVATIONS)).cast(
        BSKY_OBSERVATIONS)  # type: ignore[arg-type]
    profiles = pl.concat([
        records.filter(pl.col("_profile")).select(
            "account_id", pl.col("observed_at").alias("at"), *PROFILE_COLS, "_order"),
        pl.DataFrame(st.profiles, schema=PROFILE_SCHEMA)])
    follows, n_follow_dup, n_unresolved = _follow_events(st.follows)
    acc = _accounts(records, profiles, identities, follows)
    tables = {"accounts": acc, "observations": obs}
    notes = []
    keys: dict[str, tuple[str, ...] | None] = {}
    assumptions = list(ASSUMPTIONS)
    if st.chains.crawls:
        assert level is not None
        crawls = st.chains.frame(level, ID)
        edges, dup = edges_frame(st.members, st.chains, ID)
        tables.update(edges=edges, crawls=crawls)
        tables["accounts"] = with_owners(acc, crawls, PLATFORM)
        assumptions.append(f"every crawl of this ingest is at snowball level {level} "
                           f"(level={level})")
        if dup:
            notes.append(f"{dup} listed account(s) appeared twice in one crawl and "
                         "give one edge each")
    if identities.height:
        ident = identities.sort(["account_id", "changed_at", "_order"])
        tables["identity_events"] = ident.drop("_order")
        keys["identity_events"] = ("account_id", "changed_at", "screen_name")
        notes.append(f"{identities.height} identity event(s) (handle changes) went to "
                     "table 'identity_events' and accounts.screen_name; they are not "
                     "look-ups and are not counted in rows read")
    if follows.height:
        tables["follow_events"] = follows
        keys["follow_events"] = ("src", "rkey", "action", "observed_at")
        notes.append(f"{follows.height} follow create/delete event(s) went to table "
                     "'follow_events' (not 'edges': they are changes, not collected "
                     "lists)")
    if n_follow_dup:
        notes.append(f"{n_follow_dup} repeated follow event(s) (same author, record "
                     "key, action and time) were kept once")
    if n_unresolved:
        notes.append(f"{n_unresolved} follow delete(s) name a record created before "
                     "the events read; their dst is null (join on src and rkey with "
                     "earlier follow_events to find it)")
    if st.other_commits:
        notes.append("commits to other collections, read as 'active' look-ups only: "
                     + ", ".join(f"{c} {n}" for c, n in sorted(
                         st.other_commits.items())))
    return Parsed(tables=tables, record_tables=("observations",),
                  rows_read=st.read[0], collapsed={"observations": n_collapsed},
                  quarantine=st.q, assumptions=tuple(assumptions), notes=tuple(notes),
                  keys=keys)


def _resolve(st: _State, records: pl.DataFrame, identities: pl.DataFrame) -> None:
    """Give error records named by handle the DID that handle had last."""
    if not st.pending:
        return
    seen = pl.concat([
        records.filter(pl.col("_profile") & pl.col("screen_name").is_not_null())
        .select("account_id", "screen_name", pl.col("observed_at").alias("at"),
                "_order"),
        identities.filter(pl.col("screen_name").is_not_null())
        .select("account_id", "screen_name", pl.col("changed_at").alias("at"),
                "_order")])
    latest = dict(seen.sort(["at", "_order"]).group_by("screen_name",
                                                        maintain_order=True)
                  .agg(pl.col("account_id").last()).iter_rows())
    for rec, actor, label, line, raw in st.pending:
        did = latest.get(rec["screen_name"])
        if did is None:
            st.q.add(label, line, "unresolved_handle",
                     f"error record names handle {actor!r}, and no profile or identity "
                     "event in this ingest has that handle, so its DID is unknown",
                     raw, "actor")
            continue
        st.records.append({**rec, "account_id": did, "_profile": False})


def _follow_events(rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, int, int]:
    """``follow_events`` with deletes resolved; repeats dropped (and counted)."""
    df = pl.DataFrame(rows, schema=FOLLOW_SCHEMA)
    n = df.height
    df = df.unique(subset=["src", "rkey", "action", "observed_at"], keep="last",
                   maintain_order=True)
    subjects = (df.filter(pl.col("dst").is_not_null())
                .sort("_order").group_by(["src", "rkey"], maintain_order=True)
                .agg(pl.col("dst").last().alias("_subject")))
    df = (df.join(subjects, on=["src", "rkey"], how="left")
          .with_columns(pl.coalesce("dst", "_subject").alias("dst"))
          .drop("_subject").sort(["observed_at", "_order"]))
    unresolved = df.filter(pl.col("dst").is_null()).height
    return df.drop("_order"), n - df.height, unresolved


def _accounts(records: pl.DataFrame, profiles: pl.DataFrame,
              identities: pl.DataFrame, follows: pl.DataFrame) -> pl.DataFrame:
    """One row per DID seen: latest handle and profile, first seen."""
    seen = pl.concat([
        records.select("account_id", pl.col("observed_at").alias("t")),
        identities.select("account_id", pl.col("changed_at").alias("t")),
        profiles.select("account_id", pl.col("at").alias("t")),
        follows.select(pl.col("src").alias("account_id"),
                       pl.col("observed_at").alias("t"))])
    base = seen.group_by("account_id").agg(pl.col("t").min().alias("first_seen"))
    handles = pl.concat([
        records.filter(pl.col("screen_name").is_not_null()).select(
            "account_id", "screen_name", pl.col("observed_at").alias("t"), "_order"),
        identities.filter(pl.col("screen_name").is_not_null()).select(
            "account_id", "screen_name", pl.col("changed_at").alias("t"), "_order")])
    handle = (handles.sort(["t", "_order"]).group_by("account_id", maintain_order=True)
              .agg(pl.col("screen_name").last()))
    ordered = profiles.sort(["at", "_order"])
    prof = ordered.group_by("account_id", maintain_order=True).agg(
        *[pl.col(c).last() for c in PROFILE_COLS if c != "created_at"],
        pl.col("created_at").min())
    return (base.join(handle, on="account_id", how="left")
            .join(prof, on="account_id", how="left")
            .with_columns(pl.lit(PLATFORM).alias("platform"))
            .select([c for c in BSKY_ACCOUNTS if c not in ("lang", "location")])
            .with_columns(pl.lit(None, pl.Utf8).alias("lang"),
                          pl.lit(None, pl.Utf8).alias("location"))
            .select(list(BSKY_ACCOUNTS))
            .cast(BSKY_ACCOUNTS)  # type: ignore[arg-type]
            .sort("account_id"))
