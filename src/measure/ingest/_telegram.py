"""Telegram: Telethon entities, errors and messages (JSON lines) -> a dataset.

Account ids are Telethon's *marked* ids as text (``utils.get_peer_id``): a user's id
as it is (``"1000001"``), a channel's (broadcast channel or supergroup) id ``c`` as
``-(10**12 + c)`` (``"-1001000000001"``), so users and channels never collide and
the ids join with what Telethon and the Bot API print. The username is the screen
name. Each line is one JSON object carrying its collection time (``collected_at``,
ISO 8601 with a zone); Telethon's ``to_dict()`` (or ``to_json()``) of an object is
``{"_": "<TL type>", ...}`` with dates as ISO strings.

* **Entity** ``{"collected_at", "entity": {"_": "User" | "Channel" | ...}}`` (the
  result of ``client.get_entity``): a look-up. ``User``: ``deleted: true`` ->
  ``not_found``; ``restricted: true`` with a ``RestrictionReason`` whose ``reason``
  is ``terms`` (Telegram's terms-of-service ban) -> ``suspended``; otherwise
  ``active`` (a restriction for other reasons, e.g. on one platform only, leaves
  the account visible). ``UserEmpty`` (a non-existent user) -> ``not_found``.
  ``Channel``: the same restriction rule, otherwise ``active`` with
  ``participants_count`` as ``followers_count``. ``ChannelForbidden`` (a channel
  the collecting account may not see: private, or the collector was banned) ->
  ``unknown``. Other types (basic groups ``Chat``, ...) are quarantined
  (``unknown_kind``).
* **Error** ``{"collected_at", "query", "error", "message"}``: the look-up of
  ``query`` (a marked id, a ``Peer*`` object, or a username, ``@name`` or
  ``t.me/name``) raised the Telethon error ``error`` (its class name, e.g.
  ``ChannelPrivateError``, or the RPC name, ``CHANNEL_PRIVATE``):
  ``UsernameNotOccupiedError`` -> ``not_found``; ``ChannelPrivateError``,
  ``ChannelInvalidError``, ``ChannelPublicGroupNaError`` and
  ``UsernameInvalidError``, whose documented causes include both a gone channel and
  a problem of the collector or the request, -> ``unknown``; other errors
  (``FloodWaitError``, ...) are quarantined (``unknown_error``). A username takes
  the id of the entity that had it last in the same ingest (``unresolved_handle``
  otherwise).
* **Message** ``{"collected_at", "message": {"_": "Message", ...}}``: its author
  (``from_id``, else the chat ``peer_id``: a channel's own post) was ``active`` at
  the message's ``date``; the message is a ``tweets`` row (``tweet_id`` =
  ``<chat id>/<message id>``, extra column ``chat_id``). A forward
  (``fwd_from.from_id``) gives an edge author -> original sender with relation
  ``forwards``; a mention (``MessageEntityMentionName``: its ``user_id``;
  ``MessageEntityMention``: the ``@username`` at ``offset``/``length``, counted in
  UTF-16 code units as Telegram does, resolved like an error's username) an edge
  author -> mentioned with relation ``mentions``; both dated by the message.

Display names are ``first_name last_name`` (users) or ``title`` (channels); the
avatar hash is the photo's ``photo_id`` (the same stored photo gives the same id);
a channel's ``date`` is its creation date only when the collecting account is not a
member (``left: true``), otherwise the day it joined, so ``created_at`` is taken from
non-members' views only.

Schemas followed: Telethon's TL schema ``telethon_generator/data/api.tl`` (layer
190: ``user``, ``userEmpty``, ``channel``, ``channelForbidden``, ``message``,
``messageFwdHeader``, ``restrictionReason``, ``messageEntityMention``,
``messageEntityMentionName``, ``peerUser``/``peerChannel``/``peerChat``,
``username``, ``userProfilePhoto``, ``chatPhoto``), its error list
``telethon_generator/data/errors.csv``, and the documentation on marked ids
(``readthedocs/concepts/chats-vs-channels.rst``) and on ``to_dict``'s ``"_"`` key
(``readthedocs/misc/changelog.rst``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl

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
    opt_str,
    parse_iso,
    soft,
    wrapper_time,
)

SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PLATFORM = "telegram"
#: Offset of a channel's marked id (``-(CHANNEL_MARK + channel_id)``).
CHANNEL_MARK = 10**12

#: Telethon errors of an entity look-up -> contract statuses (class and RPC names).
ERROR_STATUS = {
    "UsernameNotOccupiedError": "not_found", "USERNAME_NOT_OCCUPIED": "not_found",
    "ChannelPrivateError": "unknown", "CHANNEL_PRIVATE": "unknown",
    "ChannelInvalidError": "unknown", "CHANNEL_INVALID": "unknown",
    "ChannelPublicGroupNaError": "unknown", "CHANNEL_PUBLIC_GROUP_NA": "unknown",
    "UsernameInvalidError": "unknown", "USERNAME_INVALID": "unknown",
}
#: Entity types read as look-ups.
ENTITY_TYPES = ("User", "UserEmpty", "Channel", "ChannelForbidden")

ID = pl.Utf8
T_ACCOUNTS = {**ACCOUNTS_SCHEMA, "account_id": ID}
T_OBSERVATIONS = {**OBSERVATIONS_SCHEMA, "account_id": ID}
PROFILE_COLS = ("display_name", "created_at", "lang", "profile_image_hash")
RECORD_SCHEMA: dict[str, Any] = {
    **T_OBSERVATIONS, **{c: ACCOUNTS_SCHEMA[c] for c in PROFILE_COLS},
    "_order": pl.Int64, "_profile": pl.Boolean}
TWEETS_SCHEMA: dict[str, Any] = {
    "tweet_id": ID, "account_id": ID, "created_at": TS, "text": pl.Utf8,
    "chat_id": ID, "_order": pl.Int64}
EDGES_SCHEMA: dict[str, Any] = {
    "src": ID, "dst": ID, "relation": pl.Utf8, "observed_at": TS, "tweet_id": ID,
    "_order": pl.Int64}

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_MARKED = re.compile(r"^-?[0-9]{1,30}$")
_LINK = re.compile(r"^(?:https?://)?(?:t|telegram)\.me/", re.IGNORECASE)
NO_TIME = ("a line needs its collection time: write it as {\"collected_at\": "
           "\"2024-05-01T12:00:00Z\", \"entity\": ...}")

ASSUMPTIONS = (
    "account ids are Telethon's marked ids as text (users: id; channels: "
    "-(10**12 + id)); the username is the screen name",
    "an entity is a look-up at collected_at: a User deleted or a UserEmpty -> "
    "not_found; restricted for reason 'terms' -> suspended; ChannelForbidden -> "
    "unknown; otherwise active",
    "errors: UsernameNotOccupiedError -> not_found; ChannelPrivateError, "
    "ChannelInvalidError, ChannelPublicGroupNaError, UsernameInvalidError -> unknown "
    "(treated as missing by the estimators); other errors are quarantined",
    "a message is an 'active' look-up of its author (from_id, else the chat) at its "
    "date, a tweets row, and forwards/mentions edges dated by the message",
    "@username mentions and error look-ups by username take the id of the entity "
    "that had the username last in the same ingest",
)


# -- values --------------------------------------------------------------------------
def _int(value: Any, column: str, kind: str = "bad_type") -> int:
    if value is None:
        raise BadValue(column, "missing_id", f"record has no '{column}'")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadValue(column, kind, f"expected an integer, got {value!r}")
    if isinstance(value, str):
        if not _MARKED.match(value.strip()):
            raise BadValue(column, kind, f"expected an integer, got {value!r}")
        value = int(value.strip())
    return int(value)


def _positive_id(value: Any, column: str) -> int:
    v = _int(value, column)
    if not 0 < v < 2**63:
        raise BadValue(column, "bad_type", f"expected a positive id, got {value!r}")
    return v


def marked_id(kind: str, raw_id: int) -> str:
    """Return Telethon's marked id (as text) of a user, channel or basic group."""
    if kind in ("User", "UserEmpty", "PeerUser"):
        return str(raw_id)
    if kind in ("Channel", "ChannelForbidden", "PeerChannel"):
        return str(-(CHANNEL_MARK + raw_id))
    return str(-raw_id)  # basic groups (Chat, PeerChat)


_PEER_KEYS = {"PeerUser": "user_id", "PeerChannel": "channel_id", "PeerChat": "chat_id"}


def peer_id(peer: Any, column: str) -> str:
    """Return the marked id of a ``Peer*`` object (``{"_": "PeerChannel", ...}``)."""
    if peer is None:
        raise BadValue(column, "missing_id", f"record has no '{column}'")
    if (not isinstance(peer, dict) or not isinstance(peer.get("_"), str)
            or peer["_"] not in _PEER_KEYS):
        raise BadValue(column, "bad_type", f"expected a PeerUser, PeerChannel or "
                       f"PeerChat object, got {str(peer)[:60]!r}")
    key = _PEER_KEYS[peer["_"]]
    return marked_id(peer["_"], _positive_id(peer.get(key), f"{column}.{key}"))


def query_target(q: Any) -> tuple[str | None, str | None]:
    """Read an error's ``query``: ``(marked id, None)`` or ``(None, username)``."""
    if q is None:
        raise BadValue("query", "missing_id", "error record names no query (the id, "
                       "peer or username looked up)")
    if isinstance(q, dict):
        return peer_id(q, "query"), None
    if isinstance(q, int) and not isinstance(q, bool) and q != 0:
        return str(q), None
    if isinstance(q, str):
        s = q.strip()
        if _MARKED.match(s) and int(s) != 0:
            return str(int(s)), None
        name = _LINK.sub("", s).removeprefix("@").rstrip("/")
        if _USERNAME.match(name):
            return None, name
    raise BadValue("query", "bad_type", f"expected a marked id, a Peer object or a "
                   f"username, got {q!r}")


def _username(ent: dict[str, Any], column: str) -> str | None:
    name = opt_str(ent, "username")
    if name:
        return name
    names = ent.get("usernames")
    if names is None:
        return None
    if not isinstance(names, list):
        raise BadValue(f"{column}.usernames", "bad_type",
                       f"expected a list of Username objects, got {names!r}")
    active = [u.get("username") for u in names
              if isinstance(u, dict) and u.get("active") and u.get("username")]
    return str(active[0]) if active else None


def terms_ban(ent: dict[str, Any], column: str) -> bool:
    """Whether an entity is restricted for Telegram's terms of service."""
    if not ent.get("restricted"):
        return False
    reasons = ent.get("restriction_reason") or []
    if not isinstance(reasons, list):
        raise BadValue(f"{column}.restriction_reason", "bad_type",
                       f"expected a list of RestrictionReason, got {reasons!r}")
    return any(isinstance(r, dict) and r.get("reason") == "terms" for r in reasons)


def _photo_id(photo: Any, column: str) -> str | None:
    if photo is None or (isinstance(photo, dict)
                         and str(photo.get("_", "")).endswith("PhotoEmpty")):
        return None
    if not isinstance(photo, dict) or "photo_id" not in photo:
        raise BadValue(column, "bad_type", f"expected a profile photo object, got "
                       f"{str(photo)[:60]!r}")
    return str(_int(photo["photo_id"], f"{column}.photo_id"))


def _flag(ent: dict[str, Any], key: str, column: str) -> bool:
    v = ent.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise BadValue(f"{column}.{key}", "bad_type", f"expected true/false, got {v!r}")
    return v


def entity_record(ent: Any, t: dt.datetime, column: str = "entity"
                  ) -> tuple[dict[str, Any], bool]:
    """Read a ``to_dict()`` entity as a look-up at ``t``.

    Returns the record and whether the entity is restricted for a reason other
    than the terms of service. Raises ``BadValue``.
    """
    if not isinstance(ent, dict):
        raise BadValue(column, "bad_shape", f"expected an entity object, got "
                       f"{str(ent)[:40]!r}")
    kind = ent.get("_")
    if kind not in ENTITY_TYPES:
        raise BadValue(f"{column}._", "unknown_kind",
                       f"entity type {kind!r} is none of {', '.join(ENTITY_TYPES)} "
                       "(basic groups, 'Chat', are not read)")
    aid = marked_id(kind, _positive_id(ent.get("id"), f"{column}.id"))
    rec: dict[str, Any] = {"account_id": aid, "observed_at": t,
                           **dict.fromkeys(PROFILE_COLS), "_profile": False}
    if kind == "UserEmpty":
        return {**rec, "status": "not_found"}, False
    if kind == "ChannelForbidden":
        return {**rec, "status": "unknown"}, False
    banned = terms_ban(ent, column)
    other = _flag(ent, "restricted", column) and not banned
    rec["screen_name"] = _username(ent, column)
    if kind == "User":
        if _flag(ent, "deleted", column):
            return {**rec, "status": "not_found"}, False
        names = [soft(opt_str, ent, k) for k in ("first_name", "last_name")]
        rec.update(display_name=" ".join(n for n in names if n) or None,
                   lang=soft(opt_str, ent, "lang_code"))
    else:
        rec["display_name"] = soft(opt_str, ent, "title") or None
        if _flag(ent, "left", column) and ent.get("date") is not None:
            rec["created_at"] = soft(parse_iso, ent["date"], f"{column}.date")
        if not banned:
            rec["followers_count"] = soft(as_count, ent.get("participants_count"),
                                          "participants_count")
    rec["profile_image_hash"] = soft(_photo_id, ent.get("photo"), f"{column}.photo")
    rec["_profile"] = True
    return {**rec, "status": "suspended" if banned else "active"}, other


def utf16_slice(text: str, offset: int, length: int) -> str:
    """Return the part of ``text`` at ``offset``/``length`` in UTF-16 code units."""
    b = text.encode("utf-16-le")
    return b[2 * offset:2 * (offset + length)].decode("utf-16-le", errors="replace")


def message_parts(msg: Any, column: str = "message"
                  ) -> tuple[dict[str, Any], list[tuple[str, str]], bool]:
    """Read a ``Message``: its tweet row, edge targets and whether a forward is hidden.

    The edge targets are ``(relation, target)`` pairs; a target is a marked id, or
    ``@username`` for a mention still to resolve. Raises ``BadValue``.
    """
    if not isinstance(msg, dict):
        raise BadValue(column, "bad_shape", f"expected a Message object, got "
                       f"{str(msg)[:40]!r}")
    if msg.get("_") != "Message":
        raise BadValue(f"{column}._", "unknown_kind",
                       f"message type {msg.get('_')!r} is not 'Message' (service and "
                       "empty messages carry no post)")
    mid = _positive_id(msg.get("id"), f"{column}.id")
    chat = peer_id(msg.get("peer_id"), f"{column}.peer_id")
    author = (chat if msg.get("from_id") is None
              else peer_id(msg["from_id"], f"{column}.from_id"))
    if msg.get("date") is None:
        raise BadValue(f"{column}.date", "bad_timestamp", "message has no date")
    date = parse_iso(msg["date"], f"{column}.date")
    text = soft(opt_str, msg, "message") or ""
    targets: list[tuple[str, str]] = []
    hidden = False
    fwd = msg.get("fwd_from")
    if fwd is not None:
        if not isinstance(fwd, dict):
            raise BadValue(f"{column}.fwd_from", "bad_type",
                           f"expected a MessageFwdHeader, got {str(fwd)[:60]!r}")
        if fwd.get("from_id") is not None:
            targets.append(("forwards", peer_id(fwd["from_id"],
                                                f"{column}.fwd_from.from_id")))
        else:
            hidden = True
    ents = msg.get("entities") or []
    if not isinstance(ents, list):
        raise BadValue(f"{column}.entities", "bad_type",
                       f"expected a list of MessageEntity, got {str(ents)[:60]!r}")
    for e in ents:
        kind = e.get("_") if isinstance(e, dict) else None
        if kind == "MessageEntityMentionName":
            uid = _positive_id(e.get("user_id"), f"{column}.entities[].user_id")
            targets.append(("mentions", marked_id("User", uid)))
        elif kind == "MessageEntityMention":
            off = _int(e.get("offset"), f"{column}.entities[].offset")
            n = _int(e.get("length"), f"{column}.entities[].length")
            name = utf16_slice(text, off, n)
            if not name.startswith("@") or not _USERNAME.match(name[1:]):
                raise BadValue(f"{column}.entities[].offset", "bad_value",
                               f"the mention at offset {off}, length {n} (UTF-16) "
                               f"reads {name!r}, not an @username")
            targets.append(("mentions", name))
    tweet = {"tweet_id": f"{chat}/{mid}", "account_id": author, "created_at": date,
             "text": text or None, "chat_id": chat}
    return tweet, targets, hidden


# -- the parser ----------------------------------------------------------------------
class _State(LineState):
    """What the lines of one ingest add up to."""

    def __init__(self) -> None:
        super().__init__(RECORD_SCHEMA)
        self.pending: list[tuple[dict[str, Any], str, int, str]] = []
        self.tweets: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.restricted_other = 0
        self.hidden_forwards = 0

    def observe(self, rec: dict[str, Any]) -> int:
        self.read[0] += 1
        return self.stamp(rec)


def _line(st: _State, f: RawFile, line: int, obj: dict[str, Any], text: str
          ) -> None:
    try:
        with st.q.fields(f.label, line):
            _record(st, f, line, obj, text)
    except BadValue as e:
        st.bad(f, line, e, text)


def _record(st: _State, f: RawFile, line: int, obj: dict[str, Any], text: str
            ) -> None:
    """Read one line's record (raises ``BadValue`` before it counts anything)."""
    t, _ = wrapper_time(obj, None)
    if "error" in obj:
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        name = obj.get("error")
        if not isinstance(name, str) or name not in ERROR_STATUS:
            raise BadValue("error", "unknown_error",
                           f"error {name!r} ({obj.get('message')!r}) says neither "
                           "that the account is gone nor that its state is "
                           "unknown to the collector; it is about the request")
        aid, username = query_target(obj.get("query"))
        rec = {"account_id": aid, "observed_at": t, "status": ERROR_STATUS[name],
               "screen_name": username, "_profile": False}
        if aid is None:
            st.read[0] += 1
            rec["_order"] = st.next()
            st.pending.append((rec, f.label, line, text))
        else:
            st.observe(rec)
    elif "entity" in obj:
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        rec, other = entity_record(obj["entity"], t)
        st.restricted_other += other
        st.observe(rec)
    elif "message" in obj:
        if t is None:
            raise BadValue("collected_at", "no_observed_at", NO_TIME)
        tweet, targets, hidden = message_parts(obj["message"])
        order = st.observe({"account_id": tweet["account_id"],
                            "observed_at": tweet["created_at"],
                            "status": "active", "_profile": False})
        st.tweets.append({**tweet, "_order": order})
        st.hidden_forwards += hidden
        st.edges.extend({"src": tweet["account_id"], "dst": dst, "relation": rel,
                         "observed_at": tweet["created_at"],
                         "tweet_id": tweet["tweet_id"], "_order": order}
                        for rel, dst in targets)
    else:
        raise BadValue("(line)", "bad_shape",
                       "line is none of an entity look-up ('entity'), an error "
                       "('error') and a message ('message')")


def parse(files: list[RawFile]) -> Parsed:
    """Parse Telethon entities, errors and messages into a dataset's tables.

    Parameters
    ----------
    files
        The raw JSON-lines files, in reading order.
    """
    st = _State()
    for f, line, obj, text in st.objects(files):
        _line(st, f, line, obj, text)
    records = st.records.frame()
    names = _username_map(records)
    for rec, label, line, raw in st.pending:
        aid = names.get(str(rec["screen_name"]).lower())
        if aid is None:
            st.q.add(label, line, "unresolved_handle",
                     f"error record names username {rec['screen_name']!r}, and no "
                     "entity in this ingest has that username, so its id is "
                     "unknown", raw, "query")
            continue
        st.records.append({**rec, "account_id": aid})
    records, n_collapsed = collapse(st.records.frame(), ["account_id", "observed_at"],
                                    "_order")
    records = records.sort(["account_id", "observed_at", "_order"])
    obs = records.select(list(T_OBSERVATIONS)).cast(
        T_OBSERVATIONS)  # type: ignore[arg-type]
    tables: dict[str, pl.DataFrame] = {"accounts": _accounts(records),
                                       "observations": obs}
    keys: dict[str, tuple[str, ...] | None] = {}
    notes: list[str] = []
    if st.tweets:
        tw = pl.DataFrame(st.tweets, schema=TWEETS_SCHEMA)
        tweets, n_dup = collapse(tw, ["tweet_id"], "_order")
        tables["tweets"] = tweets.sort("_order").drop("_order")
        if n_dup:
            notes.append(f"{n_dup} message(s) read twice (same chat and id) give one "
                         "tweets row each")
    if st.edges:
        edges, n_unresolved = _edges(st.edges, names)
        tables["edges"] = edges
        keys["edges"] = ("tweet_id", "dst", "relation")
        if n_unresolved:
            notes.append(f"{n_unresolved} @username mention(s) name no entity of this "
                         "ingest and give no edge (ingest the mentioned accounts' "
                         "entities with the messages to resolve them)")
    if st.hidden_forwards:
        notes.append(f"{st.hidden_forwards} forward(s) hide the original sender "
                     "(fwd_from has from_name only) and give no edge")
    if st.restricted_other:
        notes.append(f"{st.restricted_other} look-up(s) of entities restricted for "
                     "reasons other than 'terms' (visible elsewhere) read as active")
    return Parsed(tables=tables, record_tables=("observations",),
                  rows_read=st.read[0], collapsed={"observations": n_collapsed},
                  quarantine=st.q, assumptions=ASSUMPTIONS, notes=tuple(notes),
                  keys=keys)


def _username_map(records: pl.DataFrame) -> dict[str, str]:
    """Lower-case username -> the id of the entity that had it last."""
    named = (records.filter(pl.col("_profile") & pl.col("screen_name").is_not_null())
             .sort(["observed_at", "_order"]))
    return dict(named.group_by(pl.col("screen_name").str.to_lowercase().alias("u"),
                               maintain_order=True)
                .agg(pl.col("account_id").last()).iter_rows())


def _edges(rows: list[dict[str, Any]], names: dict[str, str]
           ) -> tuple[pl.DataFrame, int]:
    """``edges`` with @username mentions resolved (the unresolved ones counted)."""
    out = []
    unresolved = 0
    for r in rows:
        if r["dst"].startswith("@"):
            dst = names.get(r["dst"][1:].lower())
            if dst is None:
                unresolved += 1
                continue
            r = {**r, "dst": dst}
        out.append(r)
    df = pl.DataFrame(out, schema=EDGES_SCHEMA)
    df = df.unique(subset=["tweet_id", "dst", "relation"], keep="last",
                   maintain_order=True).sort("_order").drop("_order")
    return df, unresolved


def _accounts(records: pl.DataFrame) -> pl.DataFrame:
    """One row per account looked up: latest username and profile, first seen."""
    base = records.group_by("account_id", maintain_order=True).agg(
        pl.col("screen_name").drop_nulls().last(),
        pl.col("observed_at").min().alias("first_seen"))
    prof = (records.filter(pl.col("_profile"))
            .group_by("account_id", maintain_order=True)
            .agg(*[pl.col(c).last() for c in PROFILE_COLS if c != "created_at"],
                 pl.col("created_at").min()))
    return (base.join(prof, on="account_id", how="left")
            .with_columns(pl.lit(PLATFORM).alias("platform"),
                          pl.lit(None, pl.Utf8).alias("description"),
                          pl.lit(None, pl.Utf8).alias("location"))
            .select(list(T_ACCOUNTS))
            .cast(T_ACCOUNTS)  # type: ignore[arg-type]
            .sort("account_id"))
