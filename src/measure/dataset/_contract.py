"""The data contract (v1) as code: tables, columns, types and allowed values.

See ``shared/docs/data-contract.md``. One table spec per contract table; the
validator in :mod:`measure.dataset._dataset` reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from measure.options import CRAWL_LISTS, LABELS, RELATIONS, STATUSES

SCHEMA_VERSION = 1

#: ``observations.status``: the statuses of :data:`measure.options.STATUSES` and
#: ``unknown``, a look-up whose answer does not say whether the account is alive,
#: suspended or gone (e.g. Telegram's ``ChannelPrivateError``: private, or the
#: collector was banned). Estimators treat an ``unknown`` look-up as missing.
OBSERVATION_STATUSES: tuple[str, ...] = tuple(dict.fromkeys((*STATUSES, "unknown")))
#: ``edges.relation``: the relations of :data:`measure.options.RELATIONS` and
#: ``forwards`` (src forwarded a message of dst: Telegram's retweet).
EDGE_RELATIONS: tuple[str, ...] = tuple(dict.fromkeys((*RELATIONS, "forwards")))

# Type classes. ``id`` is BIGINT or VARCHAR and must agree across tables.
ID, STR, INT, FLOAT, BOOL, TS = "id", "str", "int", "float", "bool", "timestamp"

INT_TYPES = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
             "UINTEGER", "USMALLINT", "UTINYINT"}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"} | {t for t in ()}
TS_TZ = "TIMESTAMP WITH TIME ZONE"
TS_NAIVE = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"}


@dataclass(frozen=True)
class Column:
    """One contract column."""

    name: str
    kind: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    not_null: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One contract table."""

    name: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()

    def column(self, name: str) -> Column | None:
        """Return the spec of column ``name`` or ``None``."""
        for c in self.columns:
            if c.name == name:
                return c
        return None


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "accounts",
            (
                Column("account_id", ID, True, not_null=True),
                Column("platform", STR),
                Column("screen_name", STR, True),
                Column("display_name", STR),
                Column("description", STR),
                Column("created_at", TS),
                Column("lang", STR),
                Column("location", STR),
                Column("profile_image_hash", STR),
                Column("first_seen", TS),
            ),
            unique=("account_id",),
        ),
        TableSpec(
            "observations",
            (
                Column("account_id", ID, True, not_null=True),
                Column("observed_at", TS, True, not_null=True),
                Column("status", STR, True, allowed=OBSERVATION_STATUSES,
                       not_null=True),
                Column("followers_count", INT),
                Column("friends_count", INT),
                Column("statuses_count", INT),
                Column("screen_name", STR),
            ),
        ),
        TableSpec(
            "edges",
            (
                Column("src", ID, True, not_null=True),
                Column("dst", ID, True, not_null=True),
                Column("relation", STR, allowed=EDGE_RELATIONS),
                Column("observed_at", TS),
            ),
        ),
        TableSpec(
            "crawls",
            (
                Column("account_id", ID, True, not_null=True),
                Column("list", STR, True, allowed=CRAWL_LISTS, not_null=True),
                Column("level", INT, True, not_null=True),
                Column("collected_at", TS),
                Column("complete", BOOL),
            ),
        ),
        TableSpec("seeds", (Column("account_id", ID, True, not_null=True),
                            Column("seed_list", STR))),
        TableSpec(
            "labels",
            (
                Column("account_id", ID, True, not_null=True),
                Column("label", STR, True, allowed=LABELS, not_null=True),
                Column("coder", STR),
                Column("coded_at", TS),
                Column("sample", STR),
                Column("inclusion_prob", FLOAT),
            ),
        ),
        TableSpec(
            "detections",
            (
                Column("account_id", ID, True, not_null=True),
                Column("source", STR, True, not_null=True),
                Column("detected_at", TS),
            ),
        ),
        TableSpec(
            "successors",
            (
                Column("account_id", ID, True, not_null=True),
                Column("successor_id", ID, True, not_null=True),
                Column("observed_at", TS),
                Column("source", STR),
            ),
        ),
        TableSpec(
            "tweets",
            (
                Column("tweet_id", ID, True, not_null=True),
                Column("account_id", ID, True, not_null=True),
                Column("created_at", TS, True, not_null=True),
                Column("text", STR),
            ),
        ),
    )
}

# Tables each analysis needs (checked by ``Dataset.require``).
REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    "any": ("accounts",),
    "census": ("accounts", "edges", "seeds", "crawls"),
    "census_estimate": ("accounts", "edges", "seeds", "crawls", "labels"),
    "capture": ("detections",),
    "churn": ("accounts", "observations"),
    "resurrection": ("accounts", "observations"),
    "describe": ("accounts",),
}

ID_COLUMNS = {("edges", "src"), ("edges", "dst")} | {
    (t.name, c.name) for t in TABLES.values() for c in t.columns if c.kind == ID
}


def type_class(duckdb_type: str) -> str:
    """Map a DuckDB type name onto a contract type class."""
    t = duckdb_type.upper()
    if t in INT_TYPES:
        return INT
    if t in FLOAT_TYPES or t.startswith("DECIMAL"):
        return FLOAT
    if t == "VARCHAR":
        return STR
    if t == "BOOLEAN":
        return BOOL
    if t == TS_TZ:
        return TS
    if t in TS_NAIVE:
        return "timestamp_naive"
    return t.lower()
