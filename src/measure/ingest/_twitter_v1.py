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
from collections.abc import Callable
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
    no_time_reason,
    opt_str,
    parse_twitter_time,
    raw_json,
    resolve_by_name,
    soft,
    twitter_tables,
    wrapper_time,
)
from measure.ingest._fastjson import scan

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


def parse(files: list[RawFile], *, observed_at: dt.datetime | None = None,
          bulk: bool | None = None) -> Parsed:
    """Parse v1.1 JSON lines into ``accounts`` and ``observations``.

    The common lines (one well-formed user object, wrapped or bare) of large
    blocks are read in bulk by DuckDB (:func:`bulk_reader`) and every other line
    one by one; ``bulk=True`` reads every block so, ``bulk=False`` none. All
    three give the same tables, quarantine and field notes.
    """
    st = LineState(TWITTER_SCHEMA)
    pending: list[tuple[dict[str, Any], str, int, str]] = []  # errors by screen_name

    def handle(f: RawFile, line: int, obj: Any, text: str) -> None:
        _line(st, f, line, obj, text, observed_at, pending)

    scan(files, st, handle, bulk_reader(observed_at), force=bulk)
    q = st.q
    acc, obs, collapsed = twitter_tables(resolve_by_name(st.records.frame(), pending,
                                                         q))
    return Parsed(tables={"accounts": acc, "observations": obs},
                  record_tables=("observations",), rows_read=st.read[0],
                  collapsed={"observations": collapsed}, quarantine=q)


def _line(st: LineState, f: RawFile, line: int, obj: Any, text: str,  # noqa: C901
          observed_at: dt.datetime | None,
          pending: list[tuple[dict[str, Any], str, int, str]]) -> None:
    """Read one parsed line: a user, an error, a look-up response or an array."""
    q = st.q
    # Expand the line into (record, observation time) items.
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
        st.bad(f, line, e, text)
        return
    one = len(items) == 1
    for item in items:
        st.read[0] += 1
        order = st.next()
        if not isinstance(item, dict):
            raw = text if one else raw_json(item)
            q.add(f.label, line, "bad_shape",
                  f"expected a user object, got {raw[:40]!r}", raw)
            continue
        if t is None:
            q.add(f.label, line, "no_observed_at", no_time_reason(),
                  text if one else raw_json(item))
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
                    pending.append((rec, f.label, line,
                                    text if one else raw_json(item)))
                    continue
            else:
                with q.fields(f.label, line):
                    rec = user_record(item, t)
                rec["_order"] = order
        except BadValue as e:
            q.add(f.label, line, e.kind, f"{e.column}: {e}",
                  text if one else raw_json(item), e.column)
            continue
        st.records.append(rec)


# -- bulk reading --------------------------------------------------------------------
#: The user fields :func:`user_record` reads.
_FIELDS = ("id_str", "id", "protected", "followers_count", "friends_count",
           "statuses_count", "screen_name", "name", "description", "created_at",
           "lang", "location", "profile_image_url_https", "profile_image_url")
#: The keys :func:`wrapper_time` looks for, in its order.
_TIME_KEYS = ("collected_at", "observed_at", "retrieved_at", "__twarc.retrieved_at")
_TWITTER_DATE = ("(Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                 "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                 r"([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) \+0000 ([0-9]{4})")
_URL = r"^(?i:https?://)?([^/]+)(/.*)?$"
_SIZE = r"_(normal|bigger|mini|reasonably_small|[0-9]+x[0-9]+)((\.[A-Za-z0-9]+)?)$"
#: A look-up error list as DuckDB writes it back, read in bulk: one error whose
#: ``code`` says suspended or not found (and perhaps a plain ``message``).
_ERRORS = r'\[\{"code":(63|50|17)(,"message":"[^"\\]*")?\}\]'


def _null(c: str) -> str:
    """Return SQL: JSON text ``c`` is absent or ``null`` (Python's ``None``)."""
    return f"({c} IS NULL OR {c} = 'null')"


def _is_str(c: str) -> str:
    return f"starts_with({c}, '\"')"


def _text(c: str) -> str:
    """Return SQL: the string JSON text ``c`` holds, else NULL."""
    return f"(CASE WHEN {_is_str(c)} THEN json_extract_string({c}, '$') END)"


def _str_ok(c: str) -> str:
    """Return SQL: :func:`opt_str` reads ``c`` without error (null or a string)."""
    return f"({_null(c)} OR {_is_str(c)})"


def _id(c: str) -> str:
    """Return SQL: the id :func:`as_twitter_id` reads from JSON text ``c``."""
    s = f"json_extract_string({c}, '$')"
    return (f"(CASE WHEN {_is_str(c)} THEN CASE WHEN regexp_full_match({s}, "
            f"'[0-9]{{1,19}}') THEN TRY_CAST({s} AS BIGINT) END "
            f"WHEN regexp_full_match({c}, '-?[0-9]+') THEN TRY_CAST({c} AS BIGINT) "
            "END)")


def _count(c: str) -> str:
    """Return SQL: the count :func:`as_count` reads from JSON text ``c``."""
    s = f"json_extract_string({c}, '$')"
    return (f"(CASE WHEN regexp_full_match({c}, '[0-9]+') THEN TRY_CAST({c} AS BIGINT) "
            f"WHEN {_is_str(c)} AND regexp_full_match({s}, '[0-9]{{1,19}}') "
            f"THEN TRY_CAST({s} AS BIGINT) END)")


def _sql(bounds: tuple[int, int] | None) -> str:
    """Return the bulk query over ``lines(i, use, t, many)`` (:func:`bulk_reader`).

    One row per record: the line ``i``, the record's position ``pos`` in it (from
    1), the line's number of records ``n`` and the record's values. ``bounds`` are
    the earliest and latest plausible times in epoch microseconds. The connection
    runs it with filter pushdown off: a check moved below the parse would be
    expanded into a parse of its own.
    """
    import json

    from measure.ingest._fastjson import strict_sql

    leaf = {k: "JSON" for k in (*_FIELDS, "errors")}
    times = {"collected_at": "JSON", "observed_at": "JSON", "retrieved_at": "JSON",
             "__twarc": {"retrieved_at": "JSON"}}
    main = json.dumps({**times, **leaf, "user": leaf})
    # The common lines are read with a strict transform, which fails on a
    # duplicated key (Python keeps the last of duplicated keys, a plain transform
    # the first) and on a missing one: lines whose keys (json_keys) include all the
    # fields read. The other lines compare their keys with their distinct set.
    quick_leaf = {k: "JSON" for k in _FIELDS}
    quick = json.dumps({"collected_at": "JSON", "user": quick_leaf})
    many = json.dumps({"collected_at": "JSON", "users": [quick_leaf]})
    fields = "[" + ", ".join(f"'{k}'" for k in _FIELDS) + "]"
    one = ",\n    ".join(
        f"(CASE WHEN quick THEN y.user.{k} WHEN nested THEN x.user.{k} "
        f"ELSE x.{k} END)::VARCHAR AS f_{k}" for k in _FIELDS)
    each = ",\n    ".join(f"u.{k}::VARCHAR AS f_{k}" for k in _FIELDS)
    counts = ("followers_count", "friends_count", "statuses_count")
    texts = ("name", "description", "lang", "location")
    in_bounds = ("" if bounds is None else
                 f" AND created_us BETWEEN {bounds[0]} AND {bounds[1]}")
    user_ok = " AND ".join([
        "(f_protected IS NULL OR f_protected IN ('null', 'true', 'false'))",
        *(f"({_null('f_' + c)} OR {c} IS NOT NULL)" for c in counts),
        *(_str_ok("f_" + c) for c in (*texts, "created_at", "profile_image_url_https",
                                      "profile_image_url"))])
    strict = strict_sql("t")

    def distinct(keys: str) -> str:
        return f"len(list_distinct({keys})) = len({keys})"

    return f"""
WITH p AS (
  SELECT i, t, TRY(json_keys(t, ['$', '$.user', '$.__twarc'])) AS k
  FROM lines WHERE use AND {strict}
), q AS (
  SELECT i, t, k,
    list_has_all(k[1], ['collected_at', 'user']) AND list_has_all(k[2], {fields})
      AND NOT list_contains(k[2], 'errors') AS quick0
  FROM p WHERE k IS NOT NULL
), r AS (
  SELECT i, t, k,
    CASE WHEN quick0 THEN TRY(json_transform_strict(t, '{quick}')) END AS y
  FROM q
), g AS (
  SELECT i, k, y, coalesce(y.collected_at IS NOT NULL, false) AS quick,
    CASE WHEN NOT coalesce(y.collected_at IS NOT NULL, false)
         THEN TRY(from_json(t, '{main}')) END AS x
  FROM r
), s AS (
  SELECT *, NOT quick AND list_contains(k[1], 'user') AND len(k[2]) > 0 AS nested
  FROM g
  WHERE quick OR (x IS NOT NULL AND {distinct("k[1]")}
                  AND (k[3] IS NULL OR {distinct("k[3]")}))
), one AS (
  SELECT i, 1 AS pos, 1 AS n,
    CASE WHEN NOT quick AND NOT nested AND list_contains(k[1], 'errors')
         THEN 'error' ELSE 'user' END AS kind,
    (CASE WHEN quick THEN y.collected_at ELSE x.collected_at END)::VARCHAR AS t0,
    x.observed_at::VARCHAR AS t1, x.retrieved_at::VARCHAR AS t2,
    struct_extract(x, '__twarc').retrieved_at::VARCHAR AS t3,
    (CASE WHEN NOT quick AND NOT nested THEN x.errors END)::VARCHAR AS f_errors,
    {one}
  FROM s
  WHERE quick OR CASE
    WHEN nested THEN NOT list_contains(k[2], 'errors') AND {distinct("k[2]")}
    ELSE NOT (list_contains(k[1], 'user') OR list_contains(k[1], 'users')) END
), pm AS (
  SELECT i, TRY(json_keys(t)) AS k,
    CASE WHEN NOT contains(t, '"errors"')
         THEN TRY(json_transform_strict(t, '{many}')) END AS x
  FROM (SELECT * FROM lines WHERE use AND many) WHERE {strict}
), sm AS (
  SELECT i, x, len(x.users) AS n, unnest(x.users) AS u,
    generate_subscripts(x.users, 1) AS pos
  FROM pm
  WHERE k IS NOT NULL AND x IS NOT NULL AND x.collected_at IS NOT NULL
    AND NOT list_contains(k, 'user') AND {distinct("k")} AND len(x.users) > 0
), many AS (
  SELECT i, pos, n, 'user' AS kind, x.collected_at::VARCHAR AS t0,
    NULL::VARCHAR AS t1, NULL::VARCHAR AS t2, NULL::VARCHAR AS t3,
    NULL::VARCHAR AS f_errors,
    {each}
  FROM sm
), v AS (
  SELECT * FROM one UNION ALL SELECT * FROM many
), w1 AS (
  SELECT *,
    CASE WHEN NOT {_null("t0")} THEN 0 WHEN NOT {_null("t1")} THEN 1
         WHEN NOT {_null("t2")} THEN 2 WHEN NOT {_null("t3")} THEN 3 END AS tk,
    CASE WHEN {_null("f_id_str")} THEN {_id("f_id")} ELSE {_id("f_id_str")} END
      AS account_id,
    {", ".join(f"{_count('f_' + c)} AS {c}" for c in counts)},
    {_text("f_screen_name")} AS screen_name,
    {", ".join(f"{_text('f_' + c)} AS {c}" for c in texts)},
    {_text("f_created_at")} AS cstr,
    {_text("f_profile_image_url_https")} AS https,
    {_text("f_profile_image_url")} AS http,
    {_str_ok("f_screen_name")} AS name_ok
  FROM v
), w2 AS (
  SELECT * EXCLUDE (https, http),
    CASE WHEN https <> '' THEN https ELSE http END AS url,
    CASE WHEN regexp_full_match(cstr, '{_TWITTER_DATE}')
              AND NOT ends_with(cstr, ' 0000')
         THEN epoch_us(try_strptime(cstr, '%a %b %d %H:%M:%S +0000 %Y')) END
      AS created_us,
    CASE kind WHEN 'user' THEN {user_ok}
      WHEN 'error' THEN regexp_full_match(f_errors, '{_ERRORS}') END AS fields_ok
  FROM w1 WHERE name_ok AND account_id > 0
), w3 AS (
  SELECT *, split_part(split_part(url, '#', 1), '?', 1) AS u0,
    CASE WHEN kind = 'error' THEN CASE
      WHEN regexp_extract(f_errors, '{_ERRORS}', 1) = '63' THEN 'suspended'
      ELSE 'not_found' END
      WHEN f_protected = 'true' THEN 'protected' ELSE 'active' END AS status
  FROM w2
  WHERE fields_ok AND (kind = 'error' OR (
    (url IS NULL OR regexp_full_match(url, '[!-~]*'))
    AND ({_null("f_created_at")} OR (created_us IS NOT NULL{in_bounds}))))
), w4 AS (
  SELECT *, regexp_extract(u0, '{_URL}', ['host', 'path']) AS um
  FROM w3
), w5 AS (
  SELECT *,
    lower(struct_extract(um, 'host')) AS host,
    struct_extract(um, 'path') AS upath,
    regexp_extract(struct_extract(um, 'path'), '^(.*)/([^/]*)$', ['head', 'name'])
      AS un
  FROM w4
)
SELECT i, pos, n, tk,
  CASE tk WHEN 0 THEN t0 WHEN 1 THEN t1 WHEN 2 THEN t2 WHEN 3 THEN t3 END AS tv,
  kind = 'user' AS _profile, account_id, status, screen_name,
  {", ".join(f"CASE WHEN kind = 'user' THEN {c} END AS {c}" for c in counts)},
  {", ".join(f"CASE WHEN kind = 'user' THEN {c} END AS {a}" for c, a in (
      ("name", "display_name"), ("description", "description"),
      ("created_us", "created_us"), ("lang", "lang"), ("location", "location")))},
  CASE WHEN kind = 'error' OR url IS NULL OR url = '' THEN NULL
       WHEN host = '' THEN sha256(u0)
       WHEN upath = '' THEN sha256('https://' || host)
       ELSE sha256('https://' || host || struct_extract(un, 'head') || '/'
                   || regexp_replace(struct_extract(un, 'name'), '{_SIZE}', '\\2'))
  END AS profile_image_hash
FROM w5
"""


def bulk_reader(observed_at: dt.datetime | None) -> Callable[..., Any]:
    """Return a bulk reader for :func:`measure.ingest._fastjson.scan` (DuckDB).

    It takes a line when :func:`parse` would read every record of it with
    nothing quarantined and no field nulled, and the line is one of: an object
    with a ``user`` object; a bare user object (no ``user``, ``users`` or
    ``errors`` key); a look-up error by id whose one error has code 63, 50 or 17;
    a ``users`` array of user objects that all carry every field read. Its
    fields have their documented types, no key read is duplicated, it has an id
    and a collection time that :func:`wrapper_time` reads (or ``observed_at``),
    ``created_at`` is in Twitter's ``+0000`` form within the platform's bounds
    and the profile image URL is printable ASCII. The values are computed as
    :func:`user_record` and :func:`error_status` compute them (the image hash as
    :func:`image_url_hash`).
    """
    import threading

    import polars as pl

    from measure.ingest._common import TWITTER_SCHEMA, active_bounds

    bounds = active_bounds()
    span = None if bounds is None else (_epoch_us(bounds[0]), _epoch_us(bounds[1]))
    sql = _sql(span)
    local = threading.local()  # one connection per thread, opened on first use
    times: dict[tuple[int | None, str | None], int | None] = {}
    default = None if observed_at is None else _epoch_us(observed_at)
    ts = pl.Datetime("us", "UTC")
    columns = [c for c in TWITTER_SCHEMA if c != "_order"]

    def read(f: RawFile, b: Any, lines: Any) -> pl.DataFrame:
        con = getattr(local, "con", None)
        if con is None:
            import duckdb

            con = local.con = duckdb.connect()
            # Checks must not move below the parse (which would parse the line
            # once per check); blocks are read in parallel, one thread each.
            con.execute("SET disabled_optimizers = 'filter_pushdown'")
            con.execute("SET threads = 1")
        # Lines that may hold a "users" array (the only ones the second part of
        # the query parses).
        many = pl.from_arrow(lines["t"]).str.contains('"users"', literal=True)
        lines = lines.append_column("many", many.to_arrow())
        con.register("lines", lines)
        try:
            got = pl.from_arrow(con.execute(sql).to_arrow_table())
        finally:
            con.unregister("lines")
        assert isinstance(got, pl.DataFrame)
        keys = got.select("tk", "tv").unique()
        for tk, tv in keys.iter_rows():
            if (tk, tv) not in times:
                times[(tk, tv)] = default if tk is None else _time(tk, tv)
        when = keys.with_columns(pl.Series("observed_at", [
            times[k] for k in keys.iter_rows()], dtype=pl.Int64))
        got = got.join(when, on=["tk", "tv"], how="left", nulls_equal=True).filter(
            pl.col("observed_at").is_not_null())
        if (got["n"] > 1).any():  # a line is read in bulk only if all its records are
            got = got.filter(pl.len().over("i") == pl.col("n"))
        return got.with_columns(
            pl.col("observed_at").cast(ts), pl.col("created_us").cast(ts).alias(
                "created_at")).select("i", "pos", *columns).cast(
            {c: TWITTER_SCHEMA[c] for c in columns})  # type: ignore[arg-type]

    return read


def _epoch_us(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        microseconds=1)


def _time(tk: int, tv: str) -> int | None:
    """Return the time :func:`wrapper_time` reads from key ``tk`` (µs), or None."""
    import json

    from measure.ingest._common import parse_iso

    try:
        return _epoch_us(parse_iso(json.loads(tv), _TIME_KEYS[tk]))
    except (BadValue, ValueError):
        return None
