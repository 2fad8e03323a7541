"""Build the census frame and its in-network sorting metrics with DuckDB or Spark.

The frame follows Berger & Morgan (2015), *The ISIS Twitter Census*, §3.4 (snowball
levels), §3.6 and App. A (in-network metrics computed from partial lists). All work
runs inside the dataset's engine (steps in :mod:`measure.census._sql`, DuckDB SQL
that :class:`~measure.engine.SparkEngine` translates): on DuckDB, edge lists far
larger than memory are handled by its out-of-core operators (the build sets a DuckDB
``memory_limit`` so that it spills instead of exhausting RAM); on Spark, by the
cluster.

Assumptions: the frame is the snowball, i.e. the seeds and the crawled accounts
reachable from them through collected lists (crawls of unreachable accounts, such as
post-census re-crawls of discovered accounts, are left out and counted in
:func:`frame_info`); for every ``(account, list)`` one collection is used (see
:mod:`measure.census._sql`); in ``collections`` mode an edge appears at most once in
one collection (a list is a set), which is not re-checked row by row.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from measure._io import atomic_path
from measure.census import _sql
from measure.dataset import Dataset
from measure.errors import DataContractError, StatisticalWarning

FRAME_TABLE = "census_frame"
RANKED_TABLE = "census_ranked"
INFO_TABLE = "census_frame_info"
#: Share of physical memory DuckDB may use while building the frame (it spills to
#: its temporary directory beyond that); peak RSS stays below RAM with headroom for
#: Python and allocations outside DuckDB's buffer manager.
MEMORY_FRACTION = 0.5
#: Reachability rarely needs more than one extra pass (it shrinks N to the reachable
#: accounts once, then grows it by one level per pass); this bounds pathological data.
MAX_PASSES = 50
#: Largest DuckDB ``perfect_ht_threshold`` (bits of the grouping key range) set
#: for pass 1 (:data:`_sql.OUT_AGG`). With dense integer ids DuckDB then groups by
#: array position instead of hashing: pass 1 (``GROUP BY src``) costs about half
#: the CPU. A table of ``2**bits`` slots is allocated per thread (plus one to
#: combine them), so the bits are also capped by :data:`PERFECT_HT_MEMORY_SHARE` of
#: the build's memory limit.
PERFECT_HT_MAX_BITS = 24
#: Share of the build's memory limit that the perfect hash tables of pass 1 (every
#: thread's plus the combined one) may take together.
PERFECT_HT_MEMORY_SHARE = 0.5
#: Bytes per perfect hash table slot assumed for that cap (pass 1 keeps two counts
#: and a minimum, about 24 bytes, and one flag per slot: 64 leaves headroom).
_PERFECT_HT_SLOT_BYTES = 64
_TEMP = ("census_edges", "census_fl", "census_out1", "census_out", "census_src",
         "census_cc", "census_d", "census_core_out", "census_in", "census_recip",
         "census_recip_out", "census_core_via", "census_reached", "census_core_ids",
         "census_distinct", "census_reach", "census_links")


@dataclass(frozen=True)
class FrameInfo:
    """What the frame used and what it left out (never silently).

    Attributes
    ----------
    mode
        ``"collections"``: edges attributed to the used collection of their list
        (needs ``edges.observed_at`` and ``crawls.collected_at`` when a list was
        collected more than once); ``"exact"``: every distinct edge used once.
    edges_read
        Rows of ``edges`` (every relation).
    edges_used
        Distinct follow edges held by a used collection of an account in ``N``.
    duplicate_rows
        Rows collapsed as duplicates: ``exact`` mode, repeated follow edges;
        ``collections`` mode, edges held by both a friends and a followers list
        inside ``N``.
    edges_left_out
        ``edges_read - edges_used - duplicate_rows``: edges of superseded
        collections and of lists of accounts outside ``N``, edges no used list
        holds, self-loops and other relations.
    core_size, frame_size
        Accounts in ``N`` and in the frame.
    excluded_accounts, excluded_crawls
        Crawled accounts not reachable from the seeds, and their crawl rows.
    excluded_snowball_accounts
        Of ``excluded_accounts``, those with a snowball-level crawl (below
        ``_sql.OUTSIDE_LEVEL``): a data inconsistency worth checking.
    included_outside_accounts
        Accounts crawled only outside the snowball but reachable, hence in ``N``.
    superseded_collections
        Crawl rows of accounts in ``N`` not used because another collection of the
        same list was.
    passes
        Passes over the edges (2 per core; more when reachability changed ``N``).
    """

    mode: str
    edges_read: int
    edges_used: int
    edges_left_out: int
    duplicate_rows: int
    core_size: int
    frame_size: int
    excluded_accounts: int
    excluded_crawls: int
    excluded_snowball_accounts: int
    included_outside_accounts: int
    superseded_collections: int
    passes: int

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the fields (JSON-ready)."""
        return asdict(self)

    def summary(self) -> str:
        """Return a few lines for people."""
        return (
            f"frame: {self.frame_size:,} accounts, core N: {self.core_size:,} "
            f"({self.mode} mode, {self.passes} pass(es) over the edges)\n"
            f"edges: {self.edges_read:,} read, {self.edges_used:,} used, "
            f"{self.edges_left_out:,} left out, {self.duplicate_rows:,} duplicate "
            f"rows collapsed\n"
            f"crawls: {self.excluded_accounts:,} crawled account(s) unreachable from "
            f"the seeds left out ({self.excluded_crawls:,} crawl rows; "
            f"{self.excluded_snowball_accounts:,} with a snowball level); "
            f"{self.included_outside_accounts:,} reachable account(s) crawled only "
            f"outside the snowball included; {self.superseded_collections:,} "
            f"superseded collection(s)")


def _exists(ds: Dataset, name: str) -> bool:
    return bool(ds.engine.exists(name))


def _one(ds: Dataset, sql: str, params: list[Any] | None = None) -> Any:
    return ds.engine.scalar(sql, params)


def _run(ds: Dataset, sql: str, params: list[Any] | None = None) -> None:
    """Run one step on the dataset's engine."""
    ds.engine.execute(sql, params)


def _duckdb(ds: Dataset) -> bool:
    return bool(ds.engine.name == "duckdb")


#: What the last build of the frame on a dataset used and left out, so that
#: :func:`frame_info` needs no rebuild after :func:`frame` dropped its tables.
_INFO: weakref.WeakKeyDictionary[Dataset, FrameInfo] = weakref.WeakKeyDictionary()


def _census_objects(ds: Dataset) -> set[tuple[str, str]]:
    """Temporary ``census_*`` tables and views of ``ds``'s engine."""
    return set(ds.engine.temporary("census_").items())


@contextmanager
def transient_frame(ds: Dataset) -> Iterator[None]:
    """Drop the census tables and views made inside the block, also on failure.

    Tables that existed before the block (a frame built with :func:`build_frame`)
    are kept and reused; the ones the block builds for itself are dropped, so
    the connection is left as it was found.
    """
    before = _census_objects(ds)
    try:
        yield
    finally:
        made = _census_objects(ds) - before
        # views first: they may read the tables
        for name, _kind in sorted(made, key=lambda x: x[1] != "VIEW"):
            ds.engine.drop(name)


def _relation_filter(ds: Dataset) -> str:
    if ds.has_column("edges", "relation") and _one(ds, _sql.HAS_OTHER_RELATIONS):
        return _sql.RELATION_FILTER
    return ""


def _collections_mode(ds: Dataset) -> bool:
    return (ds.has_column("edges", "observed_at")
            and ds.has_column("crawls", "collected_at"))


def frame_steps(ds: Dataset, *, exact: bool | None = None) -> list[tuple[str, str]]:
    """Return the ordered ``(name, sql)`` steps of the first pass for ``ds``.

    Shown for a core without friends lists and with 32-bit packed pass-2 keys
    (with friends lists, ``core_edges``, ``core_used``, ``core_out``, ``in_agg``
    and ``recip_core`` are ``_sql.CORE_EDGES``, ``CORE_DEDUP``, ``CORE_OUT``,
    ``IN_AGG`` and ``RECIP_CORE``, and ``seeds_out`` is ``SEEDS_OUT`` before
    ``core_edges``; a core of fewer than 2**15 accounts packs 15-bit keys).

    The first steps pick the variant matching the optional columns present
    (``edges.relation``/``observed_at``, ``crawls.complete``/``collected_at``) and
    whether ``observations`` exists. Steps with ``?`` take the parameters that
    :func:`build_frame` binds (``_sql.OUTSIDE_LEVEL``, the mode, the seed count).
    """
    if exact is None:
        exact = not _collections_mode(ds)
    relation = (_sql.RELATION_FILTER if ds.has_column("edges", "relation") else "")
    steps: list[tuple[str, str]] = []
    if exact:
        steps.append(("distinct", _sql.DISTINCT_EDGES.format(relation=relation)))
        follows = _sql.FOLLOWS.format(observed_at=_sql.NO_OBSERVED_AT,
                                      source="census_distinct", relation="")
    else:
        follows = _sql.FOLLOWS.format(
            observed_at=(_sql.OBSERVED_AT if ds.has_column("edges", "observed_at")
                         else _sql.NO_OBSERVED_AT),
            source="edges", relation=relation)
    steps.append(("follows", follows))
    steps.append(("crawls", _sql.CRAWLS.format(
        complete=(_sql.COMPLETE if ds.has_column("crawls", "complete")
                  else _sql.NO_COMPLETE),
        collected_at=(_sql.COLLECTED_AT if ds.has_column("crawls", "collected_at")
                      else _sql.NO_COLLECTED_AT))))
    if ds.has("observations"):
        steps.append(("latest_active", _sql.LATEST_ACTIVE))
    else:
        steps.append(("latest_active",
                      _sql.LATEST_EMPTY.format(id_type=_id_type(ds))))
    edges = _sql.EDGES_ALL.format(
        observed_at=(_sql.NO_OBSERVED_AT if exact or not ds.has_column(
            "edges", "observed_at") else _sql.OBSERVED_AT),
        source="census_distinct" if exact else "edges",
        relation=_sql.RELATION_WHERE if relation and not exact else "")
    attribution = "" if exact else _sql.ATTRIBUTION
    key = _packed_key(2**31 - 1)
    steps += [("collections", _sql.COLLECTIONS),
              ("core_ids", _sql.CORE_IDS_INITIAL),
              ("core", _sql.CORE), ("edges", edges),
              ("followers_lists", _sql.FOLLOWERS_LISTS),
              ("out_agg", _sql.OUT_AGG.format(attribution=attribution)),
              ("pass2_sources", _sql.PASS2_SOURCES),
              ("core_edges", _sql.CORE_KEYS_FOLLOWERS.format(
                  where=attribution, **key)),
              ("seeds_out", _sql.SEEDS_FROM_KEYS.format(**key)),
              ("core_used", _sql.CORE_USED_FOLLOWERS.format(id_type=_id_type(ds),
                                                            **key)),
              ("core_out", _sql.CORE_OUT_FROM_OUT),
              ("in_agg", _sql.IN_AGG_KEYS.format(id_type=_id_type(ds), **key)),
              ("recip_core", _sql.RECIP_KEYS.format(**key)),
              ("recip_outside", _sql.RECIP_OUTSIDE),
              ("core_via", _sql.CORE_VIA), ("frame", _sql.FRAME)]
    return steps


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _run_core(ds: Dataset, exact: bool, relation: str) -> tuple[int, bool]:
    """Run the steps that depend on the core; return (duplicates, core changed)."""
    _run(ds, _sql.CORE, [exact, exact])
    n_seeds = _one(ds, "SELECT count(*) FROM census_core WHERE is_seed")
    ts = False
    if exact:
        _run(ds, _sql.EDGES_ALL.format(observed_at=_sql.NO_OBSERVED_AT,
                                       source="census_distinct", relation=""))
    else:
        # read edges.observed_at only when a list of N was collected more than once
        ts = bool(_one(ds, _sql.NEEDS_OBSERVED_AT))
        observed_at = _sql.OBSERVED_AT if ts else _sql.NO_OBSERVED_AT
        _run(ds, _sql.FOLLOWS.format(observed_at=observed_at, source="edges",
                                     relation=relation))
        _run(ds, _sql.EDGES_ALL.format(
            observed_at=observed_at, source="edges",
            relation=_sql.RELATION_WHERE if relation else ""))
    attribution = _sql.ATTRIBUTION if ts else ""
    _run(ds, _sql.FOLLOWERS_LISTS)
    # pass 1 groups by account id: a perfect hash table pays off here (only here:
    # on small inputs with a wide id range, allocating and scanning 2**bits slots
    # costs more than hashing)
    with _setting(ds, "perfect_ht_threshold",
                  lambda keep: max(int(keep), _perfect_ht_bits(ds))):
        _run(ds, _sql.OUT_AGG.format(attribution=attribution))
    friends = _one(ds, "SELECT coalesce(bool_or(friends_list), FALSE) "
                       "FROM census_core")
    dup = 0
    _drop(ds, "census_d")
    if friends:
        _run(ds, _sql.SEEDS_OUT.format(
            attribution=_sql.ATTRIBUTION_AND if ts else ""), [n_seeds])
        _run(ds, _sql.CORE_EDGES)
        if exact:
            _run(ds, _sql.CORE_USED)
        else:
            _run(ds, _sql.CORE_DEDUP)
            dup = _one(ds, "SELECT coalesce(sum(n_rows) - count(*), 0) "
                           "FROM census_d")
        _run(ds, _sql.CORE_OUT, [n_seeds])
    else:
        n_core = _one(ds, "SELECT count(*) FROM census_core")
        _run(ds, _sql.PASS2_SOURCES, [n_core, n_seeds])
        n_src = _one(ds, "SELECT count(*) FROM census_src")
        key = _packed_key(n_src)
        where = [_sql.OUTSIDE_ROWS] if n_src > n_core else []
        if ts:
            where.append(_sql.ATTRIBUTION_AND if where else _sql.ATTRIBUTION)
        # pass 2 without statistics propagation: from the core's id range DuckDB
        # would add a range filter on src and dst to the scan of every edge, which
        # prunes nothing (the core spans the id range) and costs about a fifth of
        # the pass
        with _setting(ds, "disabled_optimizers", lambda off: ",".join(
                x for x in (off, "statistics_propagation") if x)):
            _run(ds, _sql.CORE_KEYS_FOLLOWERS.format(where=" ".join(where), **key),
                     [n_core, n_seeds] if n_src > n_core else None)
        _run(ds, _sql.SEEDS_FROM_KEYS.format(**key), [n_seeds])
        if n_src > n_core:
            _run(ds, _sql.DROP_OUTSIDE_KEYS, [(n_core + 1) << key["bits"]])
        _run(ds, _sql.CORE_USED_FOLLOWERS.format(id_type=_id_type(ds), **key))
        if _one(ds, _sql.COUNT_SELF_LOOPS):
            # pass 1 counted them for their (core) accounts: recompute those rows
            _run(ds, _sql.DROP_SELF_LOOPS.format(**key))
            _run(ds, _sql.CORE_OUT, [n_seeds])
        else:
            _run(ds, _sql.CORE_OUT_FROM_OUT)
    if friends:
        _run(ds, _sql.IN_AGG, [n_seeds])
        _run(ds, _sql.RECIP_CORE)
    else:
        _run(ds, _sql.IN_AGG_KEYS.format(id_type=_id_type(ds), **key),
                 [(n_seeds + 1) << key["bits"]])
        _run(ds, _sql.RECIP_KEYS.format(**key))
    if friends and _one(ds, _sql.HAS_OUTSIDE_FRIENDS):
        _run(ds, _sql.RECIP_OUTSIDE)
    else:
        _run(ds, _sql.RECIP_OUTSIDE_EMPTY)
    _run(ds, _sql.CORE_VIA)
    # reachability: shrink N to the accounts reached from the seeds ...
    n_core = _one(ds, "SELECT count(*) FROM census_core")
    if _reach(ds, _sql.REACH_VIA_SEEDS, _sql.REACH_VIA_STEP) < n_core:
        _run(ds, _sql.REACH_LINKS)
        _reach(ds, _sql.REACH_SEEDS, _sql.REACH_LINKS_STEP)
        _run(ds, _sql.REACHED_FULL)
        if _one(ds, "SELECT count(*) FROM census_reached") < n_core:
            _run(ds, "CREATE OR REPLACE TEMP TABLE census_core_ids AS "
                     "SELECT account_id, level FROM census_reached")
            return dup, True
    # ... then grow it by crawled accounts that lists of N hold
    add = ds.engine.sql(_sql.REACHABLE_OUTSIDE)
    if add.height:
        ds.engine.register("census_add_df", add.to_arrow())
        try:
            _run(ds, "INSERT INTO census_core_ids SELECT account_id, level "
                     "FROM census_add_df")
        finally:
            ds.engine.drop("census_add_df")
        return dup, True
    return dup, False


def _reach(ds: Dataset, seeds: str, step: str) -> int:
    """Run a reachability search (seeds, then steps until none adds an account).

    Returns the number of accounts reached (rows of ``census_reach``).
    """
    _run(ds, seeds)
    k = 0
    while True:  # ends: every step but the last adds accounts, and N is finite
        k += 1
        _run(ds, step, [k, k - 1])
        if not _one(ds, _sql.REACH_ADDED, [k]):
            return int(_one(ds, _sql.REACH_COUNT))


def _packed_key(n_core: int) -> dict[str, Any]:
    """Format fields of the packed pass-2 key for a core of ``n_core`` accounts."""
    for largest, key_type, bits in _sql.PACKED_KEYS:
        if n_core <= largest:
            return {"key_type": key_type, "bits": bits, "mask": 2**bits - 1}
    raise DataContractError(f"a core of {n_core:,} accounts is too large to rank",
                            table="crawls")


@contextmanager
def _setting(ds: Dataset, name: str, value: Callable[[Any], object]
             ) -> Iterator[None]:
    """Run the block with the DuckDB setting ``name`` (a fixed name) at ``value(old)``.

    The previous value is restored afterwards, also when the block fails. On
    another engine the block runs unchanged (DuckDB tuning only).
    """
    if not _duckdb(ds):
        yield
        return
    keep = ds.engine.setting(name)
    ds.engine.set(name, value(keep))
    try:
        yield
    finally:
        ds.engine.set(name, keep)


def _id_type(ds: Dataset) -> str:
    """DuckDB type of account ids in ``ds``."""
    return "VARCHAR" if ds.id_type == "str" else "BIGINT"


def _build(ds: Dataset, exact: bool) -> FrameInfo:
    relation = _relation_filter(ds)
    dup = 0
    if exact:
        _run(ds, _sql.DISTINCT_EDGES.format(relation=relation))
        dup = _one(ds, "SELECT coalesce(sum(n_rows - 1), 0) FROM census_distinct")
        _run(ds, _sql.FOLLOWS.format(observed_at=_sql.NO_OBSERVED_AT,
                                     source="census_distinct", relation=""))
    else:
        _run(ds, _sql.FOLLOWS.format(observed_at=_sql.OBSERVED_AT, source="edges",
                                     relation=relation))
    _run(ds, _sql.CRAWLS.format(
        complete=(_sql.COMPLETE if ds.has_column("crawls", "complete")
                  else _sql.NO_COMPLETE),
        collected_at=(_sql.COLLECTED_AT if ds.has_column("crawls", "collected_at")
                      else _sql.NO_COLLECTED_AT)))
    _run(ds, _sql.COLLECTIONS, [_sql.OUTSIDE_LEVEL])
    _run(ds, _sql.CORE_IDS_INITIAL, [_sql.OUTSIDE_LEVEL])
    if not exact:
        _run(ds, _sql.CORE, [exact, exact])
        if _one(ds, _sql.UNATTRIBUTABLE):
            # a re-crawled list without collection times: edges cannot be
            # attributed to one collection, so deduplicate every edge instead
            return _build(ds, True)
    passes = 0
    changed = True
    while changed:
        if passes >= 2 * MAX_PASSES:
            raise DataContractError(
                f"reachability from the seeds did not settle after {MAX_PASSES} "
                "rebuilds of the core; check crawls.level against the edges",
                table="crawls")
        core_dup, changed = _run_core(ds, exact, relation)
        passes += 2
    dup += core_dup
    if ds.has("observations"):
        _run(ds, _sql.LATEST_ACTIVE)
    else:
        _run(ds, _sql.LATEST_EMPTY.format(id_type=_id_type(ds)))
    _run(ds, _sql.FRAME)
    read = int(_one(ds, "SELECT count(*) FROM edges"))  # Parquet metadata
    used = int(_one(ds, _sql.EDGES_USED))
    crawl = ds.engine.row(_sql.CRAWL_COUNTS, [_sql.OUTSIDE_LEVEL])
    info = FrameInfo(
        mode="exact" if exact else "collections",
        edges_read=read, edges_used=used,
        edges_left_out=read - used - int(dup), duplicate_rows=int(dup),
        core_size=int(_one(ds, "SELECT count(*) FROM census_core")),
        frame_size=int(_one(ds, f"SELECT count(*) FROM {FRAME_TABLE}")),
        excluded_accounts=int(crawl[0]), excluded_crawls=int(crawl[1]),
        excluded_snowball_accounts=int(crawl[2]),
        included_outside_accounts=int(crawl[3]),
        superseded_collections=int(crawl[4]), passes=passes)
    ds.engine.register("census_info_df", pl.DataFrame([info.to_dict()]).to_arrow())
    try:
        _run(ds, f"CREATE OR REPLACE TEMP TABLE {INFO_TABLE} AS "
                 "SELECT * FROM census_info_df")
    finally:
        ds.engine.drop("census_info_df")
    return info


def build_frame(ds: Dataset, *, ranks: bool = True, rebuild: bool = False,
                exact: bool | None = None, memory_limit: str | None = None) -> str:
    """Create the frame as a temporary table of ``ds.engine`` and return its name.

    Parameters
    ----------
    ds
        A dataset with ``seeds``, ``crawls`` and ``edges`` (``observations``
        optional: without it the share metrics are null).
    ranks
        Also build ``census_ranked`` with ``rank_<metric>`` (1 = highest) and
        ``pct_<metric>`` (cumulative share of the frame at or below the value).
    rebuild
        Rebuild even when the tables already exist on this connection.
    exact
        ``True`` deduplicates every edge (``SELECT DISTINCT``; slow on large edge
        sets); ``False`` attributes edges to collections; ``None`` (default)
        attributes when ``edges.observed_at`` and ``crawls.collected_at`` exist
        (and falls back to ``True`` otherwise, or when a list collected twice has
        no collection time).
    memory_limit
        DuckDB ``memory_limit`` during the build (e.g. ``"8GB"``); by default the
        smaller of the connection's limit and ``MEMORY_FRACTION`` of RAM. DuckDB
        spills to disk beyond it.

    Returns
    -------
    str
        ``"census_ranked"`` when ``ranks`` else ``"census_frame"``.

    Warns
    -----
    StatisticalWarning
        When crawled accounts with a snowball level are not reachable from the
        seeds (left out of the frame; counts in :func:`frame_info`).

    Notes
    -----
    In-network counts use only collected lists; an uncollected list is unknown, not
    empty, so counts are lower bounds where the flags ``in_followers_lower_bound`` /
    ``in_friends_lower_bound`` say so (Berger & Morgan 2015, App. A). The frame is
    the snowball: seeds and the crawled accounts reachable from them through
    collected lists, and every account those lists hold.
    """
    ds.require("census")
    with _build_settings(ds, memory_limit):
        if rebuild or not _exists(ds, FRAME_TABLE):
            _drop(ds, RANKED_TABLE)
            info = _build(ds, exact if exact is not None
                          else not _collections_mode(ds))
            _INFO[ds] = info
            for tmp in _TEMP:
                _drop(ds, tmp)
            if info.excluded_snowball_accounts:
                warnings.warn(StatisticalWarning(
                    f"{info.excluded_snowball_accounts:,} crawled account(s) with a "
                    "snowball level are not reachable from the seeds through "
                    "collected lists; they and their lists are left out of the "
                    "frame (see measure.census.frame_info). Check crawls.level "
                    "and the edges."), stacklevel=2)
        if ranks:
            if rebuild or not _exists(ds, RANKED_TABLE):
                _run(ds, _sql.RANKS)
            return RANKED_TABLE
        return FRAME_TABLE


@contextmanager
def _build_settings(ds: Dataset, memory_limit: str | None) -> Iterator[None]:
    """DuckDB settings of the build, restored afterwards (none on other engines)."""
    if not _duckdb(ds):
        yield
        return
    eng = ds.engine
    # Row order of the temporary tables is irrelevant (readers sort), and not
    # preserving it lets DuckDB stream large aggregations with less memory.
    keep_order = eng.setting("preserve_insertion_order")
    keep_mem = eng.setting("memory_limit")
    eng.execute("SET preserve_insertion_order = false")
    try:
        if memory_limit is not None:
            eng.execute("SET memory_limit = ?", [memory_limit])
        else:
            ram = _memory_bytes()
            if ram:
                cur = keep_mem
                cap = int(ram * MEMORY_FRACTION)
                if _parse_bytes(cur) is None or _parse_bytes(cur) > cap:
                    eng.execute("SET memory_limit = ?", [f"{cap // 2**20}MiB"])
        yield
    finally:
        eng.execute(f"SET preserve_insertion_order = "
                    f"{'true' if keep_order else 'false'}")
        eng.execute("SET memory_limit = ?", [keep_mem])


def _perfect_ht_bits(ds: Dataset) -> int:
    """Bits of key range for DuckDB's perfect hash aggregate that fit the budget."""
    limit = _parse_bytes(ds.engine.setting("memory_limit"))
    threads = int(ds.engine.setting("threads"))
    if not limit:
        return 0
    slots = PERFECT_HT_MEMORY_SHARE * limit / ((threads + 1) * _PERFECT_HT_SLOT_BYTES)
    return min(PERFECT_HT_MAX_BITS, max(0, int(slots).bit_length() - 1))


def _drop(ds: Dataset, name: str) -> None:
    """Drop the temporary table or view ``name`` if it exists."""
    ds.engine.drop(name)


_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20,
          "gb": 10**9, "gib": 2**30, "tb": 10**12, "tib": 2**40}


def _parse_bytes(text: Any) -> int | None:
    """Parse DuckDB's ``max_memory`` text ("18.6 GiB") into bytes."""
    try:
        num, unit = str(text).strip().split()
        return int(float(num) * _UNITS[unit.lower()])
    except (ValueError, KeyError):
        return None


def frame_info(ds: Dataset) -> FrameInfo:
    """Return what the frame used and left out (builds the frame if needed).

    A frame built on this connection by :func:`build_frame` is read; otherwise
    the record of the last build on ``ds`` is returned, or the frame is built
    and its tables dropped again.
    """
    if _exists(ds, INFO_TABLE):
        row = ds.engine.sql(f"SELECT * FROM {INFO_TABLE}").row(0, named=True)
        return FrameInfo(**row)
    if ds in _INFO:
        return _INFO[ds]
    with transient_frame(ds):
        build_frame(ds, ranks=False)
        row = ds.engine.sql(f"SELECT * FROM {INFO_TABLE}").row(0, named=True)
    return FrameInfo(**row)


def frame(ds: Dataset, *, ranks: bool = True, profile: bool = False) -> pl.DataFrame:
    """Return the frame (one row per account) as a polars DataFrame.

    Parameters
    ----------
    ds
        The dataset.
    ranks
        Include ``rank_*``/``pct_*`` columns.
    profile
        Add ``screen_name``, ``display_name``, ``description``, ``lang`` from
        ``accounts``.

    Notes
    -----
    The tables built for the frame are dropped before returning; a frame built
    beforehand with :func:`build_frame` is read and kept (build it once to reuse
    it across calls).
    """
    with transient_frame(ds):
        table = build_frame(ds, ranks=ranks)
        if profile:
            cols = ", ".join(f"a.{c}" if ds.has_column("accounts", c)
                             else f"NULL::VARCHAR AS {c}" for c in
                             _sql.PROFILE_COLUMNS)
            q = _sql.FRAME_PROFILE.format(profile=cols).replace("census_frame",
                                                                table)
            return ds.engine.sql(q).sort("account_id")
        return ds.engine.sql(f"SELECT * FROM {table} ORDER BY account_id")


def frame_counts(ds: Dataset) -> pl.DataFrame:
    """Frame size by ``level`` and ``tier`` (tables made for it are dropped)."""
    with transient_frame(ds):
        build_frame(ds, ranks=False)
        return ds.engine.sql(_sql.FRAME_COUNTS)


def write_frame(ds: Dataset, out: str | os.PathLike[str]) -> Path:
    """Write the ranked frame to ``out`` (Parquet), atomically.

    DuckDB streams the table to a temporary sibling file, which is then renamed into
    place, so a crash never leaves a half-written file.
    """
    out = Path(out)
    if out.suffix != ".parquet":
        raise DataContractError(
            f"the frame is written as Parquet; give a path ending in .parquet "
            f"(got '{out}')")
    with transient_frame(ds):
        build_frame(ds, ranks=True)
        with atomic_path(out) as tmp:
            if _duckdb(ds):
                quoted = "'" + str(tmp).replace("'", "''") + "'"
                _run(ds, _sql.COPY_RANKED.format(path=quoted))
            else:  # one local file: the rows come to the driver
                ds.engine.sql(f"SELECT * FROM {RANKED_TABLE}").write_parquet(
                    tmp, compression="zstd")
    return out
