"""Benchmark: ``measure ingest`` of large raw collections, against DuckDB ``read_json``.

Generates synthetic raw files (reused when present) from the public record shapes
the readers accept, with simulated values (invented ids, handles and texts; no real
people):

* ``twitter-v1``: Twitter API v1.1 ``users/lookup`` output, one user object per
  line (1,000,000 by default), mostly wrapped with their collection time
  (``{"collected_at", "user"}``), some bare with a twarc ``__twarc`` block, some
  in ``users`` arrays; full v1.1 user objects (``entities``, the latest
  ``status`` of most users, the profile colour and banner fields), look-up errors
  (codes 63 and 50), accounts looked up on two dates, and a small share of records
  that are quarantined (truncated JSON, no id, a naive collection time, an
  unknown error code) or keep their record with a nulled field (an unreadable
  ``created_at``, a negative count);
* ``twitter-v2``: twarc2 ``users`` response pages of 100 users with errors;
* ``bluesky``: AppView ``getProfiles`` responses and Jetstream profile and
  account events;
* ``mastodon``: wrapped Account look-ups and 404/410 errors;
* ``telegram``: wrapped Telethon ``User`` and ``Channel`` look-ups;
* ``table``: a CSV of account checks with a TOML mapping.

For each format it runs, each in a fresh subprocess (peak memory = its max RSS;
CPU = user + system seconds of the process and its threads):

* ``measure ingest FILE --format F --out DIR`` (the command line, writing and
  validating the dataset);
* **baseline**: DuckDB ``read_json`` of the same file (column types detected,
  ``format='newline_delimited'``, ``ignore_errors=true`` to skip the truncated
  lines) into an in-memory table; ``read_csv`` for the CSV.

Writes ``bench/results/ingest.md``, the section of BENCHMARKS.md for this workload.
Usage::

    python bench/bench_ingest.py                        # every format
    python bench/bench_ingest.py --only twitter-v1      # one format (repeatable)
    python bench/bench_ingest.py --n 1000000 --n-other 200000
    python bench/bench_ingest.py --generate-only      # write the files, time nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "data" / "bench"
TARGET_RATE = 50_000
TARGET_RATIO = 2.0

NAMES = ["Sim Amber", "Sim Birch", "Abu Sim", "Umm Sim", "سيم", "أم سيم", "News Sim 24",
         "Sim Cedar 🌿", "Sim Dune", "Sim Elm", "Sim Fern", "Sim ✿ Gale"]
BIOS = ["simulated account for benchmarks", "", "posts about the sim world 🌍",
        "حساب محاكاة للاختبار", "news, views and simulated takes | RT ≠ endorsement",
        "Sim City · since 2012", "knitting & tea", "https://t.co/simsimsim links"]
PLACES = [None, "", "Sim City", "Nowhere", "الرقة", "Sim Town, SC", "earth 🌐"]
LANGS = ["en", "ar", "fr", "de", "tr", None]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
          "Dec"]
COLLECTED = ["2024-05-01T12:00:00Z", "2024-05-08T12:00:00Z"]


def _twitter_date(rng: random.Random) -> str:
    t = dt.datetime(2009, 1, 1) + dt.timedelta(seconds=rng.randrange(15 * 365 * 86400))
    return (f"{DAYS[t.weekday()]} {MONTHS[t.month - 1]} {t.day:02d} "
            f"{t:%H:%M:%S} +0000 {t.year}")


def _v1_status(rng: random.Random, uid: int) -> dict[str, Any]:
    sid = 1_500_000_000_000_000_000 + uid * 7 + rng.randrange(7)
    tags = [{"text": f"sim{rng.randrange(50)}", "indices": [0, 6]}
            for _ in range(rng.randrange(3))]
    mentions = [{"screen_name": f"sim_u{rng.randrange(10**6)}", "name": "Sim",
                 "id": 1_100_000_000_000_000_000 + rng.randrange(10**6),
                 "id_str": str(1_100_000_000_000_000_000 + rng.randrange(10**6)),
                 "indices": [10, 22]} for _ in range(rng.randrange(2))]
    return {
        "created_at": _twitter_date(rng), "id": sid, "id_str": str(sid),
        "text": f"simulated status {rng.randrange(10**6)} #sim https://t.co/sim",
        "truncated": False,
        "entities": {"hashtags": tags, "symbols": [], "user_mentions": mentions,
                     "urls": [{"url": "https://t.co/sim", "expanded_url":
                               "https://sim.example/post", "display_url":
                               "sim.example/post", "indices": [30, 46]}]},
        "source": "<a href=\"https://sim.example\" rel=\"nofollow\">Sim Client</a>",
        "in_reply_to_status_id": None, "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None, "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None, "geo": None, "coordinates": None,
        "place": None, "contributors": None, "is_quote_status": False,
        "retweet_count": rng.randrange(100), "favorite_count": rng.randrange(300),
        "favorited": False, "retweeted": False, "possibly_sensitive": False,
        "lang": rng.choice(["en", "ar", "und"]),
    }


def v1_user(rng: random.Random, uid: int, *, protected: bool = False
            ) -> dict[str, Any]:
    """A Twitter API v1.1 user object (``GET users/lookup``) with simulated values."""
    aid = 1_100_000_000_000_000_000 + uid
    img = f"https://pbs.twimg.com/profile_images/{uid % 997}/sim{uid % 5003}_normal.jpg"
    u: dict[str, Any] = {
        "id": aid, "id_str": str(aid), "name": rng.choice(NAMES),
        "screen_name": f"sim_u{uid}", "location": rng.choice(PLACES),
        "description": rng.choice(BIOS), "url": rng.choice([None, "https://t.co/sim"]),
        "entities": {"url": {"urls": [{"url": "https://t.co/sim", "expanded_url":
                                       "https://sim.example", "display_url":
                                       "sim.example", "indices": [0, 16]}]},
                     "description": {"urls": []}},
        "protected": protected, "followers_count": int(rng.paretovariate(1.2) * 10),
        "friends_count": rng.randrange(5000), "listed_count": rng.randrange(50),
        "created_at": _twitter_date(rng), "favourites_count": rng.randrange(10**4),
        "utc_offset": None, "time_zone": None, "geo_enabled": rng.random() < 0.2,
        "verified": False, "statuses_count": rng.randrange(10**5),
        "lang": rng.choice(LANGS), "contributors_enabled": False,
        "is_translator": False, "is_translation_enabled": False,
        "profile_background_color": "C0DEED",
        "profile_background_image_url": "http://abs.twimg.com/images/themes/theme1/"
                                        "bg.png",
        "profile_background_image_url_https": "https://abs.twimg.com/images/themes/"
                                              "theme1/bg.png",
        "profile_background_tile": False, "profile_image_url": img.replace(
            "https", "http", 1), "profile_image_url_https": img,
        "profile_banner_url": f"https://pbs.twimg.com/profile_banners/{aid}/1600000000",
        "profile_link_color": "1DA1F2", "profile_sidebar_border_color": "C0DEED",
        "profile_sidebar_fill_color": "DDEEF6", "profile_text_color": "333333",
        "profile_use_background_image": True, "has_extended_profile": False,
        "default_profile": True, "default_profile_image": False, "following": None,
        "follow_request_sent": None, "notifications": None, "translator_type": "none",
        "withheld_in_countries": [],
    }
    if not protected and rng.random() < 0.7:
        u["status"] = _v1_status(rng, uid)
    return u


def twitter_v1_lines(n: int, seed: int = 1) -> Iterator[str]:
    """Lines of a v1.1 ``users/lookup`` collection holding ``n`` records.

    Each line wraps its records with the collection time, as ``json.dumps`` writes
    them (non-ASCII text as ``\\u`` escapes): about 90% single users, 5% users in
    ``users`` arrays of 10, 3% look-up errors, 1% protected users and 1.1%
    records that are quarantined or keep a nulled field; a fifth of the look-ups
    are of accounts seen before, on the second collection date.
    """
    rng = random.Random(seed)
    made = 0
    fresh = 0  # the last new account's number
    while made < n:
        r = rng.random()
        again = fresh > 100 and rng.random() < 0.2
        t = COLLECTED[1] if again else COLLECTED[0]
        if r < 0.005 and made + 10 <= n:
            first = rng.randrange(1, fresh - 10) if again else fresh + 1
            users = [v1_user(rng, first + k) for k in range(10)]
            fresh = fresh if again else fresh + 10
            made += 10
            yield json.dumps({"collected_at": t, "users": users})
            continue
        made += 1
        if again:
            uid = rng.randrange(1, fresh)
        else:
            fresh += 1
            uid = fresh
        if r < 0.035:
            aid = 1_100_000_000_000_000_000 + uid
            code, msg = rng.choice([(63, "User has been suspended."),
                                    (50, "User not found.")])
            yield json.dumps({"collected_at": t, "id": aid,
                              "errors": [{"code": code, "message": msg}]})
        elif r < 0.045:
            yield json.dumps({"collected_at": t,
                              "user": v1_user(rng, uid, protected=True)})
        elif r < 0.056:
            yield _v1_bad(rng, uid, t)
        else:
            yield json.dumps({"collected_at": t, "user": v1_user(rng, uid)})


def _v1_bad(rng: random.Random, uid: int, t: str) -> str:
    """A record that is quarantined or keeps its record with a nulled field."""
    u = v1_user(rng, uid)
    kind = rng.randrange(6)
    if kind == 0:  # truncated line: bad_json
        return json.dumps({"collected_at": t, "user": u})[:180]
    if kind == 1:  # no id: missing_id
        del u["id"], u["id_str"]
    elif kind == 2:  # a naive time: naive_timestamp
        t = t.rstrip("Z")
    elif kind == 3:  # unknown error code: unknown_error
        return json.dumps({"collected_at": t, "id": u["id"],
                           "errors": [{"code": 88, "message": "Rate limit exceeded"}]})
    elif kind == 4:  # unreadable created_at: a field note, record kept
        u["created_at"] = "yesterday"
    else:  # negative count: a field note, record kept
        u["followers_count"] = -1
    return json.dumps({"collected_at": t, "user": u})


def _b32(n: int, width: int) -> str:
    """``n`` in base32 lower case (the alphabet of DIDs and CIDs), ``width`` long."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    out = []
    for _ in range(width):
        n, r = divmod(n, 32)
        out.append(alphabet[r])
    return "".join(reversed(out))


def _iso(rng: random.Random, start: int = 2012, years: int = 12) -> str:
    t = dt.datetime(start, 1, 1) + dt.timedelta(seconds=rng.randrange(years * 365
                                                                      * 86400))
    return f"{t:%Y-%m-%dT%H:%M:%S}.000Z"


def _truncated(line: str) -> str:
    return line[: max(20, len(line) // 3)]


def twitter_v2_lines(n: int, seed: int = 1) -> Iterator[str]:
    """twarc2 ``users`` response pages: 98 users and 2 errors per page of 100."""
    rng = random.Random(seed)
    made = 0
    while made < n:
        page = min(100, n - made)
        users = []
        for k in range(page - min(2, page)):
            uid = 1_200_000_000_000_000_000 + made + k
            users.append({
                "id": str(uid), "username": f"sim_v2_{made + k}",
                "name": rng.choice(NAMES), "created_at": _iso(rng, 2008, 15),
                "description": rng.choice(BIOS), "location": rng.choice(PLACES),
                "profile_image_url": f"https://pbs.twimg.com/profile_images/"
                                     f"{uid % 997}/v2_{uid % 5003}_normal.jpg",
                "protected": rng.random() < 0.02, "verified": False,
                "url": "", "pinned_tweet_id": str(uid * 3 % 10**18),
                "entities": {"description": {"hashtags": [
                    {"start": 0, "end": 4, "tag": "sim"}]}},
                "public_metrics": {"followers_count": int(rng.paretovariate(1.2) * 10),
                                   "following_count": rng.randrange(5000),
                                   "tweet_count": rng.randrange(10**5),
                                   "listed_count": rng.randrange(50)},
            })
        errors = []
        for k in range(min(2, page)):
            uid = 1_200_000_000_000_000_000 + made + page - 1 - k
            sus = rng.random() < 0.5
            errors.append({
                "value": str(uid), "resource_id": str(uid), "parameter": "ids",
                "resource_type": "user",
                "title": "Forbidden" if sus else "Not Found Error",
                "detail": (f"User has been suspended: [{uid}]." if sus else
                           f"Could not find user with ids: [{uid}]."),
                "type": "https://api.twitter.com/2/problems/resource-not-found"})
        made += page
        line = json.dumps({"data": users, "errors": errors, "__twarc": {
            "url": "https://api.twitter.com/2/users?ids=...", "version": "2.14.0",
            "retrieved_at": "2024-06-01T08:00:00+00:00"}})
        yield _truncated(line) if rng.random() < 0.01 else line


def bluesky_lines(n: int, seed: int = 1) -> Iterator[str]:
    """Wrapped AppView ``getProfiles`` responses (25 profiles) and takedown errors."""
    rng = random.Random(seed)
    made = 0
    while made < n:
        if rng.random() < 0.02:
            made += 1
            yield json.dumps({"collected_at": "2024-04-15T12:00:00Z",
                              "actor": f"did:plc:{_b32(rng.randrange(made + 1), 24)}",
                              "error": "AccountTakedown",
                              "message": "Account has been suspended"})
            continue
        page = min(25, n - made)
        profiles = []
        for k in range(page):
            did = f"did:plc:{_b32(made + k, 24)}"
            cid = "bafkrei" + _b32(rng.getrandbits(120), 52)
            profiles.append({
                "did": did, "handle": f"sim{made + k}.example",
                "displayName": rng.choice(NAMES), "description": rng.choice(BIOS),
                "indexedAt": "2024-03-01T00:00:00.000Z",
                "createdAt": _iso(rng, 2023, 1), "labels": [],
                "viewer": {"muted": False, "blockedBy": False},
                "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/{cid}@jpeg",
                "followersCount": int(rng.paretovariate(1.2) * 10),
                "followsCount": rng.randrange(2000), "postsCount": rng.randrange(5000),
                "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0}})
        made += page
        line = json.dumps({"collected_at": "2024-03-15T12:00:05Z",
                           "response": {"profiles": profiles}})
        yield _truncated(line) if rng.random() < 0.01 else line


def mastodon_lines(n: int, seed: int = 1) -> Iterator[str]:
    """Wrapped Account look-ups (``GET /api/v1/accounts/:id``) and 404/410 errors."""
    rng = random.Random(seed)
    for k in range(n):
        instance = ("social.example", "mastodon.example")[k % 2]
        r = rng.random()
        if r < 0.02:
            yield json.dumps({"collected_at": "2024-03-15T12:00:00Z",
                              "instance": instance, "acct": f"sim{k}",
                              "status_code": rng.choice([404, 410]),
                              "error": "Record not found"})
            continue
        acc = {
            "id": str(100_000 + k), "username": f"sim{k}", "acct": f"sim{k}",
            "display_name": rng.choice(NAMES), "locked": rng.random() < 0.05,
            "bot": False, "discoverable": True, "group": False,
            "created_at": f"{_iso(rng, 2017, 7)[:10]}T00:00:00.000Z",
            "note": f"<p>{rng.choice(BIOS)}<br />simulated</p>",
            "url": f"https://{instance}/@sim{k}",
            "avatar": f"https://files.{instance}/accounts/avatars/{k:09d}/original/"
                      f"{rng.getrandbits(64):016x}.png",
            "avatar_static": f"https://files.{instance}/accounts/avatars/{k:09d}.png",
            "header": f"https://{instance}/headers/original/missing.png",
            "header_static": f"https://{instance}/headers/original/missing.png",
            "followers_count": int(rng.paretovariate(1.2) * 10),
            "following_count": rng.randrange(2000),
            "statuses_count": rng.randrange(5000), "last_status_at": "2024-03-01",
            "emojis": [], "fields": []}
        line = json.dumps({"collected_at": "2024-03-01T12:00:00Z",
                           "instance": instance, "account": acc})
        yield _truncated(line) if r > 0.99 else line


def telegram_lines(n: int, seed: int = 1) -> Iterator[str]:
    """Wrapped Telethon ``User`` and ``Channel`` look-ups and a few lookup errors."""
    rng = random.Random(seed)
    for k in range(n):
        r = rng.random()
        if r < 0.02 and k:
            yield json.dumps({"collected_at": "2024-03-15T12:02:00+00:00",
                              "query": f"@sim_t{rng.randrange(k)}",
                              "error": "UsernameNotOccupiedError",
                              "message": "The username is not in use by anyone else "
                                         "yet (caused by ResolveUsernameRequest)"})
            continue
        if r < 0.2:
            ent: dict[str, Any] = {
                "_": "Channel", "id": 1_000_000_000 + k, "title": rng.choice(NAMES),
                "photo": {"_": "ChatPhoto", "photo_id": 7_000_000_000 + k, "dc_id": 2,
                          "has_video": False, "stripped_thumb": None},
                "date": "2023-05-01T10:00:00+00:00", "creator": False, "left": True,
                "broadcast": True, "verified": False, "megagroup": False,
                "restricted": False, "signatures": False, "min": False,
                "scam": False, "has_link": False, "access_hash": 13_000_000_000 + k,
                "username": f"sim_t{k}", "restriction_reason": [],
                "participants_count": int(rng.paretovariate(1.2) * 100),
                "usernames": []}
        else:
            ent = {
                "_": "User", "id": 1_000_000 + k, "is_self": False, "contact": False,
                "mutual_contact": False, "deleted": rng.random() < 0.01, "bot": False,
                "verified": False, "restricted": False, "min": False, "scam": False,
                "fake": False, "premium": False, "access_hash": 17_000_000 + k,
                "first_name": rng.choice(NAMES), "last_name": "Sim",
                "username": f"sim_t{k}", "phone": None,
                "photo": {"_": "UserProfilePhoto", "photo_id": 11_000_000 + k,
                          "dc_id": 4, "has_video": False, "personal": False,
                          "stripped_thumb": None},
                "status": {"_": "UserStatusRecently", "by_me": False},
                "restriction_reason": [], "lang_code": None, "usernames": []}
        line = json.dumps({"collected_at": "2024-03-01T12:00:00+00:00",
                           "entity": ent})
        yield _truncated(line) if r > 0.99 else line


#: The mapping of the ``table`` CSV (as ``tests/ingest/fixtures/table_checks.toml``).
TABLE_MAPPING = """\
table = "observations"
id_type = "int"

[columns]
account_id = "user_id"
observed_at = "checked"
status = "state"
followers_count = "followers"
screen_name = "handle"

[timestamps]
format = "%Y-%m-%d %H:%M"
zone = "Europe/Berlin"

[values.status]
ok = "active"
gone = "suspended"
404 = "not_found"
"""


def table_lines(n: int, seed: int = 1) -> Iterator[str]:
    """A CSV of account checks (header first), about 1% of rows unreadable."""
    rng = random.Random(seed)
    yield "user_id,checked,state,followers,handle,note"
    for k in range(n):
        day = dt.datetime(2024, 3, 1) + dt.timedelta(minutes=7 * k)
        state = rng.choices(["ok", "gone", "404"], [0.9, 0.07, 0.03])[0]
        followers = "" if state != "ok" else str(int(rng.paretovariate(1.2) * 10))
        r = rng.random()
        when = f"{day:%Y-%m-%d %H:%M}" if r > 0.005 else "not a date"
        state = state if r < 0.995 else "maybe"
        yield (f"{1_380_000_000_000_000_000 + k},{when},{state},{followers},"
               f"sim_tab_{k},\"check {k}, simulated\"")


GENERATORS: dict[str, tuple[str, Callable[[int, int], Iterator[str]]]] = {
    "twitter-v1": ("jsonl", twitter_v1_lines),
    "twitter-v2": ("jsonl", twitter_v2_lines),
    "bluesky": ("jsonl", bluesky_lines),
    "mastodon": ("jsonl", mastodon_lines),
    "telegram": ("jsonl", telegram_lines),
    "table": ("csv", table_lines),
}


def generate(fmt: str, n: int, folder: Path = DATA) -> Path:
    """Write (or reuse) the raw file of ``n`` records of ``fmt``; return its path."""
    ext, lines = GENERATORS[fmt]
    path = folder / f"ingest_{fmt}_{n}.{ext}"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        buf = []
        for line in lines(n, 1):
            buf.append(line)
            if len(buf) >= 10_000:
                fh.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            fh.write("\n".join(buf) + "\n")
    tmp.replace(path)
    return path


def run_timed(argv: list[str], env: dict[str, str] | None = None
              ) -> tuple[dict[str, float], str]:
    """Run ``argv`` in a fresh process: wall, CPU seconds, peak RSS (MiB) and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode:
        raise RuntimeError(f"{argv[:4]} failed ({p.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
            "rss_mib": ru.ru_maxrss / 1024}, stdout


#: The baseline: DuckDB reads the same file into an in-memory table (column types
#: detected; JSON lines that do not parse are skipped).
DUCKDB_CHILD = """
import sys, duckdb
path, kind = sys.argv[1], sys.argv[2]
con = duckdb.connect()
reader = ("read_csv('{p}')" if kind == "csv" else
          "read_json('{p}', format='newline_delimited', ignore_errors=true)")
reader = reader.format(p=path.replace("'", "''"))
con.execute("CREATE TABLE t AS SELECT * FROM " + reader)
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""


def measure_command() -> list[str]:
    """The ``measure`` console script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).parent / "measure"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "measure"]


def run_format(fmt: str, path: Path, mapping: Path | None) -> dict[str, Any]:
    """Ingest ``path`` with ``measure ingest`` and read it with DuckDB, each timed."""
    ext = GENERATORS[fmt][0]
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        argv = [*measure_command(), "ingest", str(path), "--format", fmt, "--out",
                str(Path(tmp) / "out"), "--json"]
        if fmt in ("bluesky", "mastodon"):
            argv += ["--level", "0"]
        if mapping is not None:
            argv += ["--mapping", str(mapping)]
        ours, out = run_timed(argv)
    report = json.loads(out)
    base, out = run_timed([sys.executable, "-c", DUCKDB_CHILD, str(path), ext])
    return {"measure": ours, "duckdb": base, "duckdb_rows": int(out.split()[-1]),
            "read": report["rows_read"], "written": report["rows_written"],
            "quarantined": report["rows_quarantined"],
            "collapsed": report["rows_collapsed"], "balanced": report["balanced"]}


def section(args: argparse.Namespace, res: dict[str, dict[str, Any]],
            sizes: dict[str, tuple[int, int, int]], started: dt.datetime,
            load_start: float) -> str:
    """The results section of BENCHMARKS.md."""
    from run import run_line

    lines = [
        "## Ingest: raw collections to a dataset (`bench/bench_ingest.py`)",
        "",
        "`measure ingest FILE --format F --out DIR` (the command line: read, "
        "quarantine, collapse duplicates, write the Parquet dataset with its "
        "manifest, validate it) on synthetic raw files generated from the public "
        "record shapes the readers accept, with simulated values (reused from "
        "`data/bench/` when present). twitter-v1: Twitter API v1.1 `users/lookup` "
        "user objects (entities, the latest status of 70% of users, profile "
        "fields), each line wrapped with its collection time as `json.dumps` "
        "writes it; 5% of the users in `users` arrays of 10, 3% look-up errors, "
        "1% protected users, 1.1% records that are quarantined or keep a nulled "
        "field, a fifth of the look-ups repeating an account on a second date. "
        "twitter-v2: twarc2 pages of 98 users and 2 errors. bluesky: AppView "
        "`getProfiles` responses of 25 profiles and takedown errors. mastodon: "
        "Account look-ups and 404/410 errors. telegram: Telethon `User` and "
        "`Channel` look-ups and username errors. table: a CSV of account checks "
        "with a TOML mapping. About 1% of the lines of every JSON format are cut "
        "short (quarantined as `bad_json`). **Baseline:** DuckDB reading the same "
        "file alone into an in-memory table in the same run (`read_json(FILE, "
        "format='newline_delimited', ignore_errors=true)` with detected column "
        "types; `read_csv(FILE)` for the CSV), each run in a fresh subprocess; "
        "the ratio is measure's wall time / DuckDB's.",
        "",
        run_line(started, load_start),
        "",
        "| format | objects | file (MiB) | measure wall (s) | CPU (s) | peak RSS "
        "(MiB) | objects/s | rows read / written / quarantined | DuckDB wall (s) "
        "| CPU (s) | peak RSS (MiB) | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for fmt, r in res.items():
        n, size, _ = sizes[fmt]
        m, d = r["measure"], r["duckdb"]
        main = "observations"
        lines.append(
            f"| {fmt} | {n:,} | {size / 2**20:,.0f} | {m['wall']:.1f} | "
            f"{m['cpu']:.1f} | {m['rss_mib']:,.0f} | {n / m['wall']:,.0f} | "
            f"{r['read']:,} / {r['written'].get(main, 0):,} / {r['quarantined']:,} "
            f"| {d['wall']:.1f} | {d['cpu']:.1f} | {d['rss_mib']:,.0f} | "
            f"{m['wall'] / d['wall']:.2f} |")
    lines += [
        "",
        "Objects are the records in the file (user objects, profiles, accounts, "
        "entities, rows and look-up errors); rows read counts a cut-short line as "
        "one record. "
        + ("Every run balanced rows read = written + quarantined + collapsed. "
           if all(r["balanced"] for r in res.values()) else
           "**A run did not balance rows read = written + quarantined + "
           "collapsed.** ")
        + "twitter-v1 reads the lines that hold well-formed records in "
        "bulk with DuckDB and every other line record by record, with the same "
        "result (`tests/ingest/test_bulk_twitter_v1.py`).",
    ]
    if "twitter-v1" in res:
        r = res["twitter-v1"]
        n = sizes["twitter-v1"][0]
        rate = n / r["measure"]["wall"]
        ratio = r["measure"]["wall"] / r["duckdb"]["wall"]
        lines += [
            "",
            f"Target (twitter-v1, {n:,} user objects, on 2 cores: at least "
            f"{TARGET_RATE:,} objects/s and at most {TARGET_RATIO:g}x DuckDB's "
            f"`read_json` of the file): {rate:,.0f} objects/s, "
            f"{'met' if rate >= TARGET_RATE else 'not met'}; {ratio:.2f}x DuckDB, "
            f"{'met' if ratio <= TARGET_RATIO else 'not met'}.",
        ]
    return "\n".join(lines) + "\n"


FORMAT_ORDER = ("twitter-v1", "twitter-v2", "bluesky", "mastodon", "telegram", "table")


def main() -> int:
    """Generate (or reuse) the files, time each ingest and its baseline, write."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000,
                    help="twitter-v1 user objects (default 1,000,000)")
    ap.add_argument("--n-other", type=int, default=200_000,
                    help="records of each other format (default 200,000)")
    ap.add_argument("--only", action="append", choices=FORMAT_ORDER,
                    help="format to run (repeatable; default all)")
    ap.add_argument("--data", type=Path, default=DATA,
                    help="folder of the generated files (default data/bench)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ingest.md",
                    help="results file (default bench/results/ingest.md)")
    ap.add_argument("--generate-only", action="store_true",
                    help="only write the raw files (untimed), e.g. before taking "
                    "the lock for a timed run")
    args = ap.parse_args()
    started, load_start = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    res: dict[str, dict[str, Any]] = {}
    sizes: dict[str, tuple[int, int, int]] = {}
    for fmt in args.only or FORMAT_ORDER:
        n = args.n if fmt == "twitter-v1" else args.n_other
        t = time.perf_counter()
        path = generate(fmt, n, args.data)
        print(f"{fmt}: {path} ({time.perf_counter() - t:.0f} s)", flush=True)
        mapping = None
        if fmt == "table":
            mapping = path.with_suffix(".toml")
            mapping.write_text(TABLE_MAPPING)
        with open(path, "rb") as fh:
            n_lines = sum(chunk.count(b"\n") for chunk in iter(
                lambda: fh.read(1 << 24), b""))
        sizes[fmt] = (n, path.stat().st_size, n_lines)
        if args.generate_only:
            continue
        res[fmt] = run_format(fmt, path, mapping)
        r = res[fmt]
        print(f"  measure {r['measure']['wall']:.1f} s, DuckDB "
              f"{r['duckdb']['wall']:.1f} s, {n / r['measure']['wall']:,.0f} "
              "objects/s", flush=True)
    if args.generate_only:
        return 0
    text = section(args, res, sizes, started, load_start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
