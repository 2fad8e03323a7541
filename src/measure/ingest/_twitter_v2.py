"""Twitter API v2 user look-ups written by twarc2 (JSON lines) -> a dataset.

Accepted line shapes (one JSON value per line; blank lines are skipped):

1. a twarc2 response page: ``{"data": [user, ...], "errors": [error, ...],
   "__twarc": {"retrieved_at": "2024-05-01T12:00:00+00:00", ...}}``; every element of
   ``data`` and of ``errors`` is one record (``includes`` and ``meta`` are ignored);
2. a flattened user (``twarc2 flatten``): one user object per line carrying its own
   ``__twarc`` block (or a top-level ``collected_at``/``observed_at``/``retrieved_at``).

A user object: ``id`` (string), ``username``, ``name``, ``created_at`` (ISO 8601),
``description``, ``location``, ``profile_image_url``, ``protected`` and
``public_metrics`` (``followers_count``, ``following_count``, ``tweet_count``).
An error: ``{"value": "123", "resource_id": "123", "parameter": "ids", "title":
"Forbidden", "detail": "User has been suspended: [123]."}``: a ``detail`` mentioning
"suspended" -> ``suspended``; title "Not Found Error" -> ``not_found``. Errors from a
``usernames`` look-up are matched to an id through the user objects of the same ingest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from measure.ingest._common import (
    TWITTER_SCHEMA,
    BadValue,
    LineState,
    Parsed,
    RawFile,
    as_count,
    as_twitter_id,
    image_url_hash,
    iter_json,
    opt_str,
    page_records,
    parse_iso,
    resolve_by_name,
    soft,
    twitter_tables,
    wrapper_time,
)

SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")


def user_record(u: dict[str, Any], observed_at: dt.datetime) -> dict[str, Any]:
    """One observation record from a v2 user object (raises ``BadValue``)."""
    account_id = as_twitter_id(u, "id", "id")
    pm = u.get("public_metrics") or {}
    if not isinstance(pm, dict):
        soft(_bad_metrics, pm)
        pm = {}
    protected = u.get("protected")
    if protected is not None and not isinstance(protected, bool):
        raise BadValue("protected", "bad_type",
                       f"expected true/false, got {protected!r}")
    created = u.get("created_at")
    return {
        "account_id": account_id,
        "observed_at": observed_at,
        "status": "protected" if protected else "active",
        "followers_count": soft(as_count, pm.get("followers_count"),
                                "public_metrics.followers_count"),
        "friends_count": soft(as_count, pm.get("following_count"),
                              "public_metrics.following_count"),
        "statuses_count": soft(as_count, pm.get("tweet_count"),
                               "public_metrics.tweet_count"),
        "screen_name": opt_str(u, "username"),
        "display_name": soft(opt_str, u, "name"),
        "description": soft(opt_str, u, "description"),
        "created_at": None if created is None else soft(parse_iso, created,
                                                        "created_at"),
        "lang": None,
        "location": soft(opt_str, u, "location"),
        "profile_image_hash": image_url_hash(soft(opt_str, u, "profile_image_url")),
        "_profile": True,
    }


def _bad_metrics(pm: Any) -> None:
    raise BadValue("public_metrics", "bad_type",
                   f"expected an object, got {str(pm)[:80]!r}")


def error_record(e: dict[str, Any], observed_at: dt.datetime) -> dict[str, Any]:
    """One observation record from a v2 look-up error (raises ``BadValue``)."""
    detail = str(e.get("detail") or "")
    title = str(e.get("title") or "")
    if "suspended" in detail.lower():
        status = "suspended"
    elif title == "Not Found Error" or "could not find" in detail.lower():
        status = "not_found"
    else:
        raise BadValue("title", "unknown_error",
                       f"error {title!r} ({detail!r}) says neither suspended nor not "
                       "found")
    param = e.get("parameter")
    value = e.get("resource_id", e.get("value"))
    rec: dict[str, Any] = {"observed_at": observed_at, "status": status,
                           "_profile": False, "account_id": None, "screen_name": None}
    if param in ("username", "usernames"):
        if not isinstance(value, str) or not value:
            raise BadValue("value", "missing_id", "username error without a value")
        rec["screen_name"] = value
    else:
        rec["account_id"] = as_twitter_id({"resource_id": value}, "resource_id",
                                          "resource_id")
    return rec


def _page_size(obj: dict[str, Any]) -> int:
    """Count the records of a page (at least 1: an unreadable page is one record)."""
    data, errors = obj.get("data") or [], obj.get("errors") or []
    n = (len(data) if isinstance(data, list) else 1) + (
        len(errors) if isinstance(errors, list) else 0)
    return max(1, n)


def parse(files: list[RawFile], *, observed_at: dt.datetime | None = None) -> Parsed:
    """Parse twarc2 JSON lines into ``accounts`` and ``observations``."""
    st = LineState(TWITTER_SCHEMA)
    q, read = st.q, st.read
    pending: list[tuple[dict[str, Any], str, int, str]] = []
    for f, line, obj, text in iter_json(files, q, read):
        if not isinstance(obj, dict):
            read[0] += 1
            q.add(f.label, line, "bad_shape",
                  f"expected a JSON object (a twarc2 page), got {text[:40]!r}", text)
            continue
        try:
            t, _ = wrapper_time(obj, observed_at)
        except BadValue as e:
            st.bad(f, line, e, text, _page_size(obj))
            continue
        if "data" in obj or "errors" in obj:
            data, errors = obj.get("data") or [], obj.get("errors") or []
            if not isinstance(data, list):
                data = [data]  # single-user endpoints return an object
            if not isinstance(errors, list):
                read[0] += 1
                q.add(f.label, line, "bad_shape", "'errors' is not a list", text,
                      "errors")
                errors = []
            items = [(u, False) for u in data] + [(e, True) for e in errors]
            if not items:
                read[0] += 1
                q.add(f.label, line, "empty_page", "page holds no users and no errors",
                      text)
                continue
        else:
            items = [(obj, False)]
        page_records(st, f, line, text, items, t, _record, pending)
    acc, obs, collapsed = twitter_tables(resolve_by_name(st.records.frame(), pending,
                                                         q))
    return Parsed(tables={"accounts": acc, "observations": obs},
                  record_tables=("observations",), rows_read=read[0],
                  collapsed={"observations": collapsed}, quarantine=q)


def _record(item: dict[str, Any], is_error: bool, t: dt.datetime) -> dict[str, Any]:
    """Read a user or an error at time ``t`` (``make`` of :func:`page_records`)."""
    return error_record(item, t) if is_error else user_record(item, t)
