"""Twitter API v1.1 ``users/lookup`` output (JSON lines) -> accounts + observations.

Accepted line shapes (one JSON value per line; blank lines are skipped):

1. a wrapped user object: ``{"collected_at": "2024-05-01T12:00:00Z", "user": {...}}``
   (the time key may also be ``observed_at`` or ``retrieved_at``);
2. a wrapped look-up response: ``{"collected_at": ..., "users": [{...}, ...]}`` or a
   bare JSON array of user objects (each element is one record);
3. a bare user object, with the time as a top-level ``collected_at``/``observed_at``/
   ``retrieved_at`` key, a twarc ``"__twarc": {"retrieved_at": ...}`` block, or none
   (then ``observed_at=`` / ``--observed-at`` supplies it);
4. a look-up error record: ``{"collected_at": ..., "id": 123, "errors": [{"code": 63,
   "message": "User has been suspended."}]}`` (``id_str`` or ``screen_name`` may stand
   in for ``id``). Codes: 63 -> ``suspended``; 50 and 17 -> ``not_found``.

A user object with ``"protected": true`` gives status ``protected`` (counts null, as
the contract keeps counts only for ``active``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from measure.ingest._common import (
    TWITTER_SCHEMA,
    BadValue,
    Parsed,
    Quarantine,
    RawFile,
    RecordBuffer,
    as_count,
    as_twitter_id,
    image_url_hash,
    iter_json,
    no_time_reason,
    opt_str,
    parse_twitter_time,
    raw_json,
    resolve_by_name,
    soft,
    twitter_tables,
    wrapper_time,
)

SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")

ERROR_STATUS = {63: "suspended", 50: "not_found", 17: "not_found"}


def user_record(u: dict[str, Any], observed_at: dt.datetime) -> dict[str, Any]:
    """One observation record from a v1.1 user object (raises ``BadValue``)."""
    account_id = as_twitter_id(u)
    protected = u.get("protected")
    if protected is not None and not isinstance(protected, bool):
        raise BadValue("protected", "bad_type",
                       f"expected true/false, got {protected!r}")
    url = (soft(opt_str, u, "profile_image_url_https")
           or soft(opt_str, u, "profile_image_url"))
    created = u.get("created_at")
    return {
        "account_id": account_id,
        "observed_at": observed_at,
        "status": "protected" if protected else "active",
        "followers_count": soft(as_count, u.get("followers_count"),
                                "followers_count"),
        "friends_count": soft(as_count, u.get("friends_count"), "friends_count"),
        "statuses_count": soft(as_count, u.get("statuses_count"), "statuses_count"),
        "screen_name": opt_str(u, "screen_name"),
        "display_name": soft(opt_str, u, "name"),
        "description": soft(opt_str, u, "description"),
        "created_at": None if created is None else soft(parse_twitter_time, created,
                                                        "created_at"),
        "lang": soft(opt_str, u, "lang"),
        "location": soft(opt_str, u, "location"),
        "profile_image_hash": image_url_hash(url),
        "_profile": True,
    }


def error_status(errors: Any) -> str:
    """Map a v1.1 ``errors`` list onto an observation status (raises ``BadValue``)."""
    if not isinstance(errors, list) or not errors:
        raise BadValue("errors", "bad_type",
                       f"expected a list of errors, got {errors!r}")
    codes = [e.get("code") if isinstance(e, dict) else None for e in errors]
    for c in codes:
        if isinstance(c, int) and not isinstance(c, bool) and c in ERROR_STATUS:
            return ERROR_STATUS[c]
    raise BadValue("errors", "unknown_error",
                   f"error code(s) {codes} do not say suspended (63) or not found "
                   "(50, 17)")


def parse(files: list[RawFile], *, observed_at: dt.datetime | None = None) -> Parsed:  # noqa: C901
    """Parse v1.1 JSON lines into ``accounts`` and ``observations``."""
    q = Quarantine()
    read = [0]
    records = RecordBuffer(TWITTER_SCHEMA)
    pending: list[tuple[dict[str, Any], str, int, str]] = []  # errors by screen_name
    order = 0

    def bad(f: RawFile, line: int, e: BadValue, raw: str) -> None:
        q.add(f.label, line, e.kind, f"{e.column}: {e}", raw, e.column)

    for f, line, obj, text in iter_json(files, q, read):
        # Expand one line into (record, raw text, observation time) items.
        try:
            if isinstance(obj, list):
                items, t = obj, observed_at
            elif isinstance(obj, dict):
                t, _ = wrapper_time(obj, observed_at)
                if isinstance(obj.get("user"), dict):
                    items = [obj["user"]]
                elif isinstance(obj.get("users"), list):
                    items = obj["users"]
                else:
                    items = [obj]
            else:
                raise BadValue("(line)", "bad_shape",
                               f"expected a JSON object or array, got {text[:40]!r}")
        except BadValue as e:
            read[0] += 1
            bad(f, line, e, text)
            continue
        for item in items:
            read[0] += 1
            order += 1
            raw = text if len(items) == 1 else raw_json(item)
            if not isinstance(item, dict):
                q.add(f.label, line, "bad_shape",
                      f"expected a user object, got {raw[:40]!r}", raw)
                continue
            if t is None:
                q.add(f.label, line, "no_observed_at", no_time_reason(), raw)
                continue
            try:
                if "errors" in item:
                    status = error_status(item["errors"])
                    try:
                        aid: int | None = as_twitter_id(item)
                    except BadValue as e:
                        if e.kind != "missing_id" or not item.get("screen_name"):
                            raise
                        aid = None
                    rec = {"account_id": aid, "observed_at": t, "status": status,
                           "screen_name": opt_str(item, "screen_name"),
                           "_profile": False, "_order": order}
                    if aid is None:
                        pending.append((rec, f.label, line, raw))
                        continue
                else:
                    with q.fields(f.label, line):
                        rec = user_record(item, t)
                    rec["_order"] = order
            except BadValue as e:
                bad(f, line, e, raw)
                continue
            records.append(rec)
    acc, obs, collapsed = twitter_tables(resolve_by_name(records.frame(), pending, q))
    return Parsed(tables={"accounts": acc, "observations": obs},
                  record_tables=("observations",), rows_read=read[0],
                  collapsed={"observations": collapsed}, quarantine=q)

