"""Named DuckDB steps that build the census frame and its in-network metrics.

Each constant is one step of the chain (splink style); :mod:`measure.census._frame`
runs them in order on the dataset's connection. Every step creates a ``census_*``
temporary table or view, so each can be printed, run and inspected on its own::

    from measure.census import _sql
    print(_sql.OUT_AGG)

Definitions (Berger & Morgan 2015, §3.4, §3.6 and App. A):

* a **collection** is one crawl of one list (``crawls`` row); for every
  ``(account, list)`` one collection is used: a snowball one (``level`` below
  :data:`OUTSIDE_LEVEL`) before a later re-crawl outside the snowball, then a
  complete one before an incomplete one, then the latest. An edge belongs to a
  collection when it is in the list's account (``dst`` of a followers list, ``src``
  of a friends list) and, if that list was collected more than once, its
  ``observed_at`` equals the collection's ``collected_at``. Edges of other
  collections (superseded re-crawls, lists outside the snowball) are left out and
  counted.
* **network core** ``N`` = the seeds plus the crawled accounts *reachable from the
  seeds through collected lists* (an account is reached when it is in a collected
  list of a reached account). Crawls of unreachable accounts (typically post-census
  re-crawls, ``level`` = :data:`OUTSIDE_LEVEL`) are excluded and counted.
  "In-network" always means "in ``N``": a follow is only known when a used
  collection holds it, and an uncollected list is unknown, not empty.
* **level**: 0 for seeds; the smallest snowball crawl level for crawled accounts
  (1 + the level of the reaching account for accounts crawled only outside the
  snowball); otherwise 1 + the smallest level of a core account whose collected
  list holds the account.
* **tier**: 1 = the account has a collected list; 2 = seen only inside others' lists.
* ``in_followers``: distinct accounts of ``N`` that follow the account;
  ``in_friends``: distinct accounts of ``N`` the account follows;
  ``seeds_followed``: distinct seeds it follows; ``seed_followers``: seeds following it;
  ``reciprocal_in``: accounts of ``N`` it follows that follow it back;
  ``n_lists_seen``: collected lists (followers or friends) that contain it.
  Each count is exact only when the lists it rests on were collected completely;
  the ``*_lower_bound`` flags say when it is a lower bound.

Execution plan (``collections`` mode): one pass over all edges groups by follower
(:data:`OUT_AGG`, joined to the small table of the used followers lists,
:data:`FOLLOWERS_LISTS`), one pass keeps the edges whose follower is in ``N``
(without friends lists: as one packed key of two core ranks,
:data:`CORE_KEYS_FOLLOWERS`, which also counts ``seeds_followed``; with them:
:data:`CORE_EDGES`); everything else (per-followed-account counts, reciprocity,
reachability) runs on those small tables. The two passes read
``edges`` through :data:`EDGES_ALL` (self-loops kept: a per-row ``src <> dst`` test
over every edge costs more than removing the few self-loops of ``N`` afterwards).
No ``DISTINCT`` over all edges: within one collection an edge appears once (a list
is a set); an edge held both by a friends list and a followers list (both ends in
``N``) is collapsed in :data:`CORE_DEDUP`. Without ``edges.observed_at`` (or
``crawls.collected_at``), re-crawls cannot be told apart and the ``exact`` mode
deduplicates every edge first (:data:`DISTINCT_EDGES`), as the published procedure
would.
"""

from __future__ import annotations

#: Crawl level that marks a crawl outside the snowball (post-census re-crawls of
#: discovered accounts). Levels at or above it never define an account's level.
OUTSIDE_LEVEL = 99

#: Follow edges (column fragments filled by ``_frame`` from fixed variants only).
FOLLOWS = """
CREATE OR REPLACE TEMP VIEW census_follows AS
SELECT src, dst, {observed_at} AS observed_at FROM {source}
WHERE {relation} src <> dst
"""
#: The same rows with self-loops kept (for the two passes over every edge, which
#: skip the per-row ``src <> dst`` test: a self-loop a->a can only be counted when
#: ``a`` owns a used list, i.e. is in N, and pass 2 then holds it as ``sr = dr``;
#: ``_frame`` removes such rows there and recomputes the rows of N from pass 2).
EDGES_ALL = """
CREATE OR REPLACE TEMP VIEW census_edges AS
SELECT src, dst, {observed_at} AS observed_at FROM {source}
{relation}
"""
#: ``FOLLOWS`` fragments.
OBSERVED_AT = "observed_at"
NO_OBSERVED_AT = "CAST(NULL AS TIMESTAMPTZ)"
RELATION_FILTER = "(relation IS NULL OR relation = 'follows') AND"
#: ``EDGES_ALL`` relation fragment.
RELATION_WHERE = "WHERE relation IS NULL OR relation = 'follows'"

#: Does ``edges`` hold any relation other than ``follows``? (Parquet row-group
#: statistics usually answer this without reading the column.)
HAS_OTHER_RELATIONS = """
SELECT EXISTS (SELECT 1 FROM edges WHERE relation <> 'follows')
"""

#: ``exact`` mode: every distinct follow edge once, with how often it occurs.
DISTINCT_EDGES = """
CREATE OR REPLACE TEMP TABLE census_distinct AS
SELECT src, dst, count(*) AS n_rows
FROM (SELECT src, dst FROM edges WHERE {relation} src <> dst)
GROUP BY src, dst
"""

#: Crawls, normalised (variant fragments for the optional columns).
CRAWLS = """
CREATE OR REPLACE TEMP VIEW census_crawls AS
SELECT account_id, list, level, {complete} AS complete,
       {collected_at} AS collected_at
FROM crawls
"""
#: ``CRAWLS`` fragments.
COMPLETE = "complete"
NO_COMPLETE = "CAST(NULL AS BOOLEAN)"
COLLECTED_AT = "CAST(collected_at AS TIMESTAMPTZ)"
NO_COLLECTED_AT = "CAST(NULL AS TIMESTAMPTZ)"

#: The collection used for every (account, list) and how many there were.
COLLECTIONS = """
CREATE OR REPLACE TEMP TABLE census_coll AS
WITH r AS (
    SELECT account_id, list, level, complete, collected_at,
           count(*) OVER (PARTITION BY account_id, list) AS n_collections,
           row_number() OVER (
               PARTITION BY account_id, list
               ORDER BY level >= ?, coalesce(complete, TRUE) DESC,
                        collected_at DESC NULLS LAST) AS pick
    FROM census_crawls
    WHERE list IN ('followers', 'friends')
)
SELECT account_id, list, level, complete, collected_at,
       CAST(n_collections AS INTEGER) AS n_collections
FROM r WHERE pick = 1
"""

#: First candidate core: seeds and accounts with a snowball crawl.
CORE_IDS_INITIAL = """
CREATE OR REPLACE TEMP TABLE census_core_ids AS
SELECT account_id, CAST(min(level) AS INTEGER) AS level
FROM (SELECT account_id, level FROM census_crawls WHERE level < ?
      UNION ALL SELECT account_id, 0 FROM seeds)
GROUP BY account_id
"""

#: The core table: one row per account of N with its collections. ``core_rank``
#: orders N by (not a seed, level, id): seeds hold ranks 1..n_seeds, and the smallest
#: rank among the owners of lists holding an account is its lowest-level reacher.
#: ``f_any``/``r_any``: every edge of the list belongs to the used collection (one
#: collection only, or ``exact`` mode); otherwise ``f_ts``/``r_ts`` must match.
CORE = """
CREATE OR REPLACE TEMP TABLE census_core AS
WITH s AS (SELECT DISTINCT account_id FROM seeds),
     f AS (SELECT * FROM census_coll WHERE list = 'followers'),
     r AS (SELECT * FROM census_coll WHERE list = 'friends')
SELECT i.account_id,
       CAST(CASE WHEN s.account_id IS NOT NULL THEN 0 ELSE i.level END
            AS INTEGER) AS level,
       CAST(row_number() OVER (
           ORDER BY s.account_id IS NULL,
                    CASE WHEN s.account_id IS NOT NULL THEN 0 ELSE i.level END,
                    i.account_id) AS INTEGER) AS core_rank,
       s.account_id IS NOT NULL AS is_seed,
       f.account_id IS NOT NULL AS followers_list,
       r.account_id IS NOT NULL AS friends_list,
       f.account_id IS NOT NULL AND coalesce(f.complete, TRUE) AS followers_complete,
       r.account_id IS NOT NULL AND coalesce(r.complete, TRUE) AS friends_complete,
       f.account_id IS NOT NULL AND (? OR f.n_collections = 1) AS f_any,
       f.collected_at AS f_ts,
       r.account_id IS NOT NULL AND (? OR r.n_collections = 1) AS r_any,
       r.collected_at AS r_ts
FROM census_core_ids i
LEFT JOIN s ON i.account_id = s.account_id
LEFT JOIN f ON i.account_id = f.account_id
LEFT JOIN r ON i.account_id = r.account_id
"""

#: Lists collected more than once whose used collection has no ``collected_at``:
#: their edges cannot be attributed (``_frame`` then switches to ``exact`` mode).
UNATTRIBUTABLE = """
SELECT count(*) FROM census_core
WHERE (followers_list AND NOT f_any AND f_ts IS NULL)
   OR (friends_list AND NOT r_any AND r_ts IS NULL)
"""

#: The used followers lists of N (the build side of both passes): owner, rank and
#: how to attribute its edges.
FOLLOWERS_LISTS = """
CREATE OR REPLACE TEMP TABLE census_fl AS
SELECT account_id, core_rank, f_any, f_ts FROM census_core WHERE followers_list
"""

#: Pass 1 over all edges, grouped by follower: the follows held by collected
#: followers lists of N (``f``), each once. For an account outside N these are all
#: its known follows; rows of accounts in N are recomputed from pass 2 when they
#: hold a self-loop or when friends lists are used. ``{attribution}`` is
#: :data:`ATTRIBUTION` when a list of N was collected more than once, else empty.
OUT_AGG = """
CREATE OR REPLACE TEMP TABLE census_out1 AS
SELECT e.src AS account_id,
       count(*) AS in_friends,
       min(d.core_rank) AS followers_via_rank
FROM census_edges e
JOIN census_fl d ON e.dst = d.account_id
{attribution}
GROUP BY e.src
"""
#: ``OUT_AGG``/``CORE_KEYS_FOLLOWERS`` fragment: the edge belongs to the used
#: collection of the followers list.
ATTRIBUTION = "WHERE d.f_any OR e.observed_at = d.f_ts"
#: The same for :data:`SEEDS_OUT` (which has a ``WHERE`` clause already).
ATTRIBUTION_AND = "AND (d.f_any OR e.observed_at = d.f_ts)"

#: ``census_out`` when friends lists are used: pass 1 plus ``seeds_followed``, the
#: seeds' followers lists holding the account, counted over the seeds' lists only
#: (a third aggregate state per account in pass 1 costs more than this extra read
#: of the edges). Without friends lists pass 2 counts them instead
#: (:data:`PASS2_SOURCES`, :data:`SEEDS_FROM_KEYS`).
SEEDS_OUT = """
CREATE OR REPLACE TEMP TABLE census_out AS
WITH s AS (
    SELECT e.src AS account_id, count(*) AS seeds_followed
    FROM census_edges e
    JOIN census_fl d ON e.dst = d.account_id
    WHERE d.core_rank <= ? {attribution}
    GROUP BY e.src
)
SELECT o.account_id, o.in_friends,
       coalesce(s.seeds_followed, 0) AS seeds_followed,
       o.followers_via_rank
FROM census_out1 o
LEFT JOIN s ON o.account_id = s.account_id
"""

#: Pass 2 over all edges: edges whose follower is in N, as core ranks (``dst`` kept
#: only when the followed account is outside N), with the collection(s) holding
#: them: ``f`` = the followed account's followers list, ``r`` = the follower's
#: friends list.
CORE_EDGES = """
CREATE OR REPLACE TEMP TABLE census_cc AS
SELECT s.core_rank AS sr, d.core_rank AS dr,
       CASE WHEN d.core_rank IS NULL THEN e.dst END AS dst,
       coalesce(d.followers_list AND (d.f_any OR e.observed_at = d.f_ts), FALSE)
           AS f,
       s.friends_list AND (s.r_any OR e.observed_at = s.r_ts) AS r
FROM census_follows e
JOIN census_core s ON e.src = s.account_id
LEFT JOIN census_core d ON e.dst = d.account_id
"""

#: The followers in pass 2 when no friends list is used: N (rank = core rank) and
#: the accounts outside N in a seed's followers list (pass 1's first list is a
#: seed's; ranks after N's), whose ``seeds_followed`` pass 2 then counts.
PASS2_SOURCES = """
CREATE OR REPLACE TEMP TABLE census_src AS
SELECT account_id, core_rank FROM census_core
UNION ALL
SELECT o.account_id, CAST(? + row_number() OVER () AS INTEGER) AS core_rank
FROM census_out1 o
ANTI JOIN census_core c ON o.account_id = c.account_id
WHERE o.followers_via_rank <= ?
"""

#: Pass 2 when no friends list is used: only edges from N into followers lists of
#: N can be known, and each is held by one collection. Each edge is kept as one
#: packed key ``sr << {bits} | dr`` (``{key_type}``: ``INTEGER`` with 15 bits
#: when the ranks are below 2**15, else ``BIGINT`` with 32): one narrow column is
#: cheaper to write, and :data:`RECIP_KEYS` joins on it directly. ``{where}``:
#: empty, :data:`ATTRIBUTION`, :data:`OUTSIDE_ROWS` or both. The join passes on
#: one small chunk per chunk of edges read; the materialized CTE collects them
#: before the table is written (appending a chunk to a table costs about as much
#: as a full one). Self-loops (``sr = dr``) are deleted afterwards by
#: :data:`DROP_SELF_LOOPS` when there are any.
CORE_KEYS_FOLLOWERS = """
CREATE OR REPLACE TEMP TABLE census_cc AS
WITH c AS MATERIALIZED (
    SELECT (CAST(s.core_rank AS {key_type}) << {bits}) | d.core_rank AS k
    FROM census_edges e
    JOIN census_src s ON e.src = s.account_id
    JOIN census_fl d ON e.dst = d.account_id
    {where}
)
SELECT k FROM c
"""
#: ``CORE_KEYS_FOLLOWERS`` fragment when followers outside N are in
#: ``census_src``: their rows (rank above N's, first ``?``) are kept only in
#: seeds' lists (second ``?``); :data:`SEEDS_FROM_KEYS` counts them, then
#: :data:`DROP_OUTSIDE_KEYS` deletes them.
OUTSIDE_ROWS = "WHERE (s.core_rank <= ? OR d.core_rank <= ?)"

#: ``census_out`` without friends lists: pass 1 plus ``seeds_followed`` counted
#: over the pass-2 keys (rows of followers in N, and of followers outside N in
#: seeds' lists).
SEEDS_FROM_KEYS = """
CREATE OR REPLACE TEMP TABLE census_out AS
WITH s AS (
    SELECT CAST(k >> {bits} AS INTEGER) AS src_rank, count(*) AS seeds_followed
    FROM census_cc
    WHERE (k & {mask}) <= ?
    GROUP BY 1
)
SELECT o.account_id, o.in_friends,
       coalesce(s.seeds_followed, 0) AS seeds_followed,
       o.followers_via_rank
FROM census_out1 o
LEFT JOIN census_src r ON o.account_id = r.account_id
LEFT JOIN s ON r.core_rank = s.src_rank
"""

#: Drop the pass-2 rows of followers outside N (the key bound is ``n + 1 << bits``).
DROP_OUTSIDE_KEYS = "DELETE FROM census_cc WHERE k >= ?"

#: Key widths of :data:`CORE_KEYS_FOLLOWERS`: (largest rank, key type, bits).
PACKED_KEYS: tuple[tuple[int, str, int], ...] = (
    (2**15 - 1, "INTEGER", 15),
    (2**31 - 1, "BIGINT", 32),
)

#: Self-loops kept by the passes over every edge (counted, then deleted).
COUNT_SELF_LOOPS = "SELECT count(*) FROM census_d WHERE sr = dr"
DROP_SELF_LOOPS = """
DELETE FROM census_cc WHERE (k >> {bits}) = (k & {mask})
"""

#: ``census_d`` over CORE_KEYS_FOLLOWERS (every row used, held by ``f`` only).
CORE_USED_FOLLOWERS = """
CREATE OR REPLACE TEMP VIEW census_d AS
SELECT CAST(k >> {bits} AS INTEGER) AS sr, CAST(k & {mask} AS INTEGER) AS dr,
       CAST(NULL AS {id_type}) AS dst, TRUE AS f, FALSE AS r
FROM census_cc
"""

#: Per follower in N when no friends list is used: pass 1 already holds it.
CORE_OUT_FROM_OUT = """
CREATE OR REPLACE TEMP TABLE census_core_out AS
SELECT c.core_rank, o.in_friends, o.seeds_followed,
       o.in_friends AS followers_lists_seen, o.followers_via_rank
FROM census_out o JOIN census_core c ON o.account_id = c.account_id
"""

#: Does any list of N need ``observed_at`` to attribute its edges (collected more
#: than once)? If not, the edges' ``observed_at`` column is not read at all.
NEEDS_OBSERVED_AT = """
SELECT count(*) > 0 FROM census_core
WHERE (followers_list AND NOT f_any) OR (friends_list AND NOT r_any)
"""

#: Used edges from N when no friends list is used (then no edge can be held by two
#: used collections): every row is one distinct edge.
CORE_USED = """
CREATE OR REPLACE TEMP VIEW census_d AS
SELECT sr, dr, dst, f, r FROM census_cc WHERE f OR r
"""

#: Used edges from N when friends lists are used: an edge in both a friends list
#: and a followers list is collapsed to one row (``n_rows`` counts the copies).
CORE_DEDUP = """
CREATE OR REPLACE TEMP TABLE census_d AS
SELECT sr, dr, dst, bool_or(f) AS f, bool_or(r) AS r, count(*) AS n_rows
FROM census_cc WHERE f OR r
GROUP BY sr, dr, dst
"""

#: Per follower in N: friends in N, seeds followed, followers lists holding it and
#: the first (lowest-rank) one.
CORE_OUT = """
CREATE OR REPLACE TEMP TABLE census_core_out AS
SELECT sr AS core_rank,
       count(dr) AS in_friends,
       count(*) FILTER (WHERE dr <= ?) AS seeds_followed,
       count(*) FILTER (WHERE f) AS followers_lists_seen,
       min(dr) FILTER (WHERE f) AS followers_via_rank
FROM census_d
GROUP BY sr
"""

#: Per followed account (rank for accounts in N, id for accounts outside it, which
#: only friends lists reach): followers in N, seeds following it, friends lists
#: holding it and the first one.
IN_AGG = """
CREATE OR REPLACE TEMP TABLE census_in AS
SELECT dr AS core_rank, dst AS account_id,
       count(*) AS in_followers,
       count(*) FILTER (WHERE sr <= ?) AS seed_followers,
       count(*) FILTER (WHERE r) AS friends_lists_seen,
       min(sr) FILTER (WHERE r) AS friends_via_rank
FROM census_d
GROUP BY dr, dst
"""

#: IN_AGG on the packed keys of :data:`CORE_KEYS_FOLLOWERS` (no friends lists:
#: no account outside N is followed, no friends list holds anyone). A follower is
#: a seed (rank at most the seed count) when ``k < (n_seeds + 1) << bits`` (``?``).
IN_AGG_KEYS = """
CREATE OR REPLACE TEMP TABLE census_in AS
SELECT CAST(k & {mask} AS INTEGER) AS core_rank,
       CAST(NULL AS {id_type}) AS account_id,
       count(*) AS in_followers,
       count(*) FILTER (WHERE k < ?) AS seed_followers,
       CAST(0 AS BIGINT) AS friends_lists_seen,
       CAST(NULL AS INTEGER) AS friends_via_rank
FROM census_cc
GROUP BY k & {mask}
"""

#: Reciprocal ties inside N: the edges a->b with a < b (ranks) are hashed once, the
#: edges b->a with b > a probe them; each hit is one reciprocal pair counted for
#: both ends. Ranks are packed into one BIGINT key (``hi << 32 | lo``).
RECIP_CORE = """
CREATE OR REPLACE TEMP TABLE census_recip AS
WITH up AS (
    SELECT (CAST(sr AS BIGINT) << 32) | CAST(dr AS BIGINT) AS k
    FROM census_d WHERE dr IS NOT NULL AND sr < dr
), down AS (
    SELECT (CAST(dr AS BIGINT) << 32) | CAST(sr AS BIGINT) AS k
    FROM census_d WHERE dr IS NOT NULL AND sr > dr
), hit AS MATERIALIZED (
    SELECT k FROM down SEMI JOIN up USING (k)
)
SELECT core_rank, count(*) AS reciprocal_in
FROM (SELECT CAST(k >> 32 AS INTEGER) AS core_rank FROM hit
      UNION ALL
      SELECT CAST(k & 4294967295 AS INTEGER) FROM hit)
GROUP BY core_rank
"""

#: RECIP_CORE on the packed keys of :data:`CORE_KEYS_FOLLOWERS` (no unpacking and
#: repacking; with 15-bit keys the hash table holds 4-byte keys).
RECIP_KEYS = """
CREATE OR REPLACE TEMP TABLE census_recip AS
WITH up AS (
    SELECT k FROM census_cc WHERE (k >> {bits}) < (k & {mask})
), down AS (
    SELECT ((k & {mask}) << {bits}) | (k >> {bits}) AS k
    FROM census_cc WHERE (k >> {bits}) > (k & {mask})
), hit AS MATERIALIZED (
    SELECT k FROM down SEMI JOIN up USING (k)
)
SELECT core_rank, count(*) AS reciprocal_in
FROM (SELECT CAST(k >> {bits} AS INTEGER) AS core_rank FROM hit
      UNION ALL
      SELECT CAST(k & {mask} AS INTEGER) FROM hit)
GROUP BY core_rank
"""

#: Does a used friends list hold an account outside N? (Only then can an account
#: outside N have a reciprocal tie, and RECIP_OUTSIDE must run.)
HAS_OUTSIDE_FRIENDS = """
SELECT count(*) > 0 FROM census_d WHERE dr IS NULL
"""

#: Reciprocal ties of accounts outside N (x): N-member s lists x as a friend and x
#: is in s's used followers list (probes every edge; only with friends lists).
RECIP_OUTSIDE = """
CREATE OR REPLACE TEMP TABLE census_recip_out AS
WITH a AS (
    SELECT d.dst AS x, c.account_id AS s
    FROM census_d d JOIN census_core c ON d.sr = c.core_rank
    WHERE d.dr IS NULL
), back AS (
    SELECT e.src, e.dst FROM census_follows e
    JOIN census_core c ON e.dst = c.account_id
    WHERE c.followers_list AND (c.f_any OR e.observed_at = c.f_ts)
)
SELECT a.x AS account_id, count(*) AS reciprocal_in
FROM a SEMI JOIN back b ON b.src = a.x AND b.dst = a.s
GROUP BY a.x
"""

#: Empty RECIP_OUTSIDE result (no friends list reaches outside N).
RECIP_OUTSIDE_EMPTY = """
CREATE OR REPLACE TEMP TABLE census_recip_out AS
SELECT account_id, CAST(0 AS BIGINT) AS reciprocal_in FROM census_core WHERE FALSE
"""

#: Each core account's first reacher (lowest-rank owner of a used list holding it).
CORE_VIA = """
CREATE OR REPLACE TEMP TABLE census_core_via AS
SELECT c.core_rank, c.is_seed, least(o.followers_via_rank, i.friends_via_rank) AS via
FROM census_core c
LEFT JOIN census_core_out o ON c.core_rank = o.core_rank
LEFT JOIN census_in i ON c.core_rank = i.core_rank
"""

#: The two searches of reachability from the seeds run as a loop of joins (one
#: search step per statement, ``_frame`` repeats it until a step adds nobody):
#: ``census_reach(core_rank, step)`` holds the accounts reached so far and the
#: step that reached them. A loop rather than a recursive CTE, so that every
#: engine runs the same statements (Spark's recursive CTEs take ``UNION ALL``
#: only, which does not stop on a cyclic graph).
#:
#: Search 1 follows the first-reacher pointers (cheap; exact whenever the
#: pointers' chains end at seeds, as with consistent levels): the seeds ...
REACH_VIA_SEEDS = """
CREATE OR REPLACE TEMP TABLE census_reach AS
SELECT core_rank, 0 AS step FROM census_core_via WHERE is_seed
"""
#: ... then, per step, the accounts whose first reacher was reached by the last
#: step (the step number ``?`` is bound twice: new step, last step).
REACH_VIA_STEP = """
INSERT INTO census_reach
SELECT DISTINCT v.core_rank, CAST(? AS INTEGER) AS step
FROM census_core_via v
JOIN census_reach f ON v.via = f.core_rank
ANTI JOIN census_reach r ON v.core_rank = r.core_rank
WHERE f.step = ?
"""
#: Accounts that the last search step added (``?``: that step).
REACH_ADDED = "SELECT count(*) FROM census_reach WHERE step = ?"
#: Accounts reached by the search.
REACH_COUNT = "SELECT count(*) FROM census_reach"

#: Search 2, through any used list (the used edges inside N; run only when search
#: 1 leaves some unconfirmed): the links owner -> member of the used lists ...
REACH_LINKS = """
CREATE OR REPLACE TEMP TABLE census_links AS
SELECT dr AS owner, sr AS member FROM census_d WHERE f
UNION ALL
SELECT sr, dr FROM census_d WHERE r AND dr IS NOT NULL
"""
#: ... the seeds ...
REACH_SEEDS = """
CREATE OR REPLACE TEMP TABLE census_reach AS
SELECT core_rank, 0 AS step FROM census_core WHERE is_seed
"""
#: ... one step over the links (as :data:`REACH_VIA_STEP`) ...
REACH_LINKS_STEP = """
INSERT INTO census_reach
SELECT DISTINCT l.member AS core_rank, CAST(? AS INTEGER) AS step
FROM census_links l
JOIN census_reach f ON l.owner = f.core_rank
ANTI JOIN census_reach r ON l.member = r.core_rank
WHERE f.step = ?
"""
#: ... and the core accounts reached.
REACHED_FULL = """
CREATE OR REPLACE TEMP TABLE census_reached AS
SELECT c.account_id, c.level FROM census_core c SEMI JOIN census_reach USING (core_rank)
"""

#: Crawled accounts outside the current core that a core list holds: reachable, so
#: they join N (level = 1 + level of the first reacher).
REACHABLE_OUTSIDE = """
WITH crawled AS (
    SELECT DISTINCT account_id FROM census_coll
    ANTI JOIN census_core USING (account_id)
), via AS (
    SELECT o.account_id, o.followers_via_rank AS via
    FROM census_out o SEMI JOIN crawled USING (account_id)
    WHERE o.followers_via_rank IS NOT NULL
    UNION ALL
    SELECT i.account_id, i.friends_via_rank
    FROM census_in i SEMI JOIN crawled USING (account_id)
    WHERE i.friends_via_rank IS NOT NULL
)
SELECT v.account_id, CAST(1 + min(c.level) AS INTEGER) AS level
FROM via v JOIN census_core c ON v.via = c.core_rank
GROUP BY v.account_id
"""

#: Latest ``active`` look-up per account (counts are null unless active).
LATEST_ACTIVE = """
CREATE OR REPLACE TEMP TABLE census_latest AS
SELECT account_id,
       arg_max(followers_count, observed_at) AS followers_count,
       arg_max(friends_count, observed_at) AS friends_count,
       arg_max(statuses_count, observed_at) AS statuses_count
FROM observations
WHERE status = 'active'
GROUP BY account_id
"""

#: No ``observations`` table: empty latest counts.
LATEST_EMPTY = """
CREATE OR REPLACE TEMP TABLE census_latest AS
SELECT CAST(NULL AS {id_type}) AS account_id,
       CAST(NULL AS BIGINT) AS followers_count,
       CAST(NULL AS BIGINT) AS friends_count,
       CAST(NULL AS BIGINT) AS statuses_count
WHERE FALSE
"""

#: The frame: one row per account in N or in a used list of N, with every metric.
FRAME = """
CREATE OR REPLACE TEMP TABLE census_frame AS
WITH g AS (
    SELECT bool_and(followers_complete) AS all_followers_complete
    FROM census_core
), core_rows AS (
    SELECT c.account_id, TRUE AS in_core, c.is_seed, c.level AS core_level,
           c.followers_list, c.friends_list, c.followers_complete,
           c.friends_complete,
           least(o.followers_via_rank, i.friends_via_rank) AS via_rank,
           coalesce(o.in_friends, 0) AS in_friends,
           coalesce(o.seeds_followed, 0) AS seeds_followed,
           coalesce(i.in_followers, 0) AS in_followers,
           coalesce(i.seed_followers, 0) AS seed_followers,
           coalesce(o.followers_lists_seen, 0) + coalesce(i.friends_lists_seen, 0)
               AS n_lists_seen,
           coalesce(r.reciprocal_in, 0) AS reciprocal_in
    FROM census_core c
    LEFT JOIN census_core_out o ON c.core_rank = o.core_rank
    LEFT JOIN census_in i ON c.core_rank = i.core_rank
    LEFT JOIN census_recip r ON c.core_rank = r.core_rank
), outer_out AS (
    SELECT * FROM census_out o
    ANTI JOIN census_core c ON o.account_id = c.account_id
    WHERE o.followers_via_rank IS NOT NULL
), outer_in AS (
    SELECT * FROM census_in WHERE account_id IS NOT NULL
), outer_rows AS (
    SELECT coalesce(o.account_id, i.account_id) AS account_id, FALSE AS in_core,
           FALSE AS is_seed, CAST(NULL AS INTEGER) AS core_level,
           FALSE AS followers_list, FALSE AS friends_list,
           FALSE AS followers_complete, FALSE AS friends_complete,
           least(o.followers_via_rank, i.friends_via_rank) AS via_rank,
           coalesce(o.in_friends, 0) AS in_friends,
           coalesce(o.seeds_followed, 0) AS seeds_followed,
           coalesce(i.in_followers, 0) AS in_followers,
           coalesce(i.seed_followers, 0) AS seed_followers,
           coalesce(o.in_friends, 0) + coalesce(i.friends_lists_seen, 0)
               AS n_lists_seen,
           coalesce(x.reciprocal_in, 0) AS reciprocal_in
    FROM outer_out o
    FULL OUTER JOIN outer_in i ON o.account_id = i.account_id
    LEFT JOIN census_recip_out x
        ON coalesce(o.account_id, i.account_id) = x.account_id
), j AS (
    SELECT * FROM core_rows UNION ALL SELECT * FROM outer_rows
)
SELECT j.account_id,
       CAST(CASE WHEN j.in_core THEN j.core_level ELSE 1 + v.level END
            AS INTEGER) AS level,
       CAST(CASE WHEN j.followers_list OR j.friends_list THEN 1 ELSE 2 END
            AS INTEGER) AS tier,
       j.is_seed,
       CASE WHEN j.is_seed THEN NULL ELSE v.account_id END AS reached_via,
       j.n_lists_seen,
       j.seeds_followed,
       j.seed_followers,
       j.in_friends,
       j.in_followers,
       j.reciprocal_in,
       l.followers_count,
       l.friends_count,
       l.statuses_count,
       CAST(j.in_followers AS DOUBLE) / nullif(l.followers_count, 0)
           AS in_follower_share,
       CAST(j.in_friends AS DOUBLE) / nullif(l.friends_count, 0) AS in_friend_share,
       j.followers_list,
       j.friends_list,
       NOT (j.followers_list AND j.followers_complete) AS in_followers_lower_bound,
       NOT (j.friends_list AND j.friends_complete)
           AND NOT coalesce(g.all_followers_complete, FALSE)
           AS in_friends_lower_bound
FROM j
CROSS JOIN g
LEFT JOIN census_core v ON j.via_rank = v.core_rank
LEFT JOIN census_latest l ON j.account_id = l.account_id
"""

#: Edges used: pass-1 rows of accounts outside N plus distinct used edges from N.
EDGES_USED = """
SELECT (SELECT coalesce(sum(o.in_friends), 0) FROM census_out o
        ANTI JOIN census_core c ON o.account_id = c.account_id)
     + (SELECT count(*) FROM census_d)
"""

#: Crawled accounts and crawl rows left out of N, and superseded collections of
#: accounts in N.
CRAWL_COUNTS = """
WITH acc AS (
    SELECT account_id, count(*) AS n_rows, bool_and(level >= ?) AS outside_only
    FROM census_crawls GROUP BY account_id
)
SELECT
    count(*) FILTER (WHERE c.account_id IS NULL) AS excluded_accounts,
    coalesce(sum(n_rows) FILTER (WHERE c.account_id IS NULL), 0) AS excluded_crawls,
    count(*) FILTER (WHERE c.account_id IS NULL AND NOT outside_only)
        AS excluded_snowball_accounts,
    count(*) FILTER (WHERE c.account_id IS NOT NULL AND outside_only)
        AS included_outside_accounts,
    (SELECT count(*) FROM census_crawls k SEMI JOIN census_core c
         ON k.account_id = c.account_id
     WHERE list IN ('followers', 'friends'))
    - (SELECT count(*) FROM census_coll k SEMI JOIN census_core c
           ON k.account_id = c.account_id) AS superseded_collections
FROM acc LEFT JOIN census_core c ON acc.account_id = c.account_id
"""

#: Ranks (1 = highest; ties share the rank, as SQL ``rank()``) and percentiles (share
#: of the frame at or below the value, as ``cume_dist()``) of the count metrics,
#: computed from each metric's value histogram instead of sorting the frame.
RANKS = """
CREATE OR REPLACE TEMP TABLE census_ranked AS
WITH h_in_friends AS (
    SELECT in_friends AS v,
           1 + coalesce(sum(count(*)) OVER (ORDER BY in_friends DESC ROWS BETWEEN
               UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rnk,
           sum(count(*)) OVER (ORDER BY in_friends)
               / (SELECT count(*) FROM census_frame) AS pct
    FROM census_frame GROUP BY in_friends
),
h_in_followers AS (
    SELECT in_followers AS v,
           1 + coalesce(sum(count(*)) OVER (ORDER BY in_followers DESC ROWS BETWEEN
               UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rnk,
           sum(count(*)) OVER (ORDER BY in_followers)
               / (SELECT count(*) FROM census_frame) AS pct
    FROM census_frame GROUP BY in_followers
),
h_seeds_followed AS (
    SELECT seeds_followed AS v,
           1 + coalesce(sum(count(*)) OVER (ORDER BY seeds_followed DESC ROWS BETWEEN
               UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rnk,
           sum(count(*)) OVER (ORDER BY seeds_followed)
               / (SELECT count(*) FROM census_frame) AS pct
    FROM census_frame GROUP BY seeds_followed
),
h_reciprocal_in AS (
    SELECT reciprocal_in AS v,
           1 + coalesce(sum(count(*)) OVER (ORDER BY reciprocal_in DESC ROWS BETWEEN
               UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS rnk,
           sum(count(*)) OVER (ORDER BY reciprocal_in)
               / (SELECT count(*) FROM census_frame) AS pct
    FROM census_frame GROUP BY reciprocal_in
)
SELECT f.*,
       CAST(h_in_friends.rnk AS BIGINT) AS rank_in_friends,
       CAST(h_in_friends.pct AS DOUBLE) AS pct_in_friends,
       CAST(h_in_followers.rnk AS BIGINT) AS rank_in_followers,
       CAST(h_in_followers.pct AS DOUBLE) AS pct_in_followers,
       CAST(h_seeds_followed.rnk AS BIGINT) AS rank_seeds_followed,
       CAST(h_seeds_followed.pct AS DOUBLE) AS pct_seeds_followed,
       CAST(h_reciprocal_in.rnk AS BIGINT) AS rank_reciprocal_in,
       CAST(h_reciprocal_in.pct AS DOUBLE) AS pct_reciprocal_in
FROM census_frame f
LEFT JOIN h_in_friends ON f.in_friends = h_in_friends.v
LEFT JOIN h_in_followers ON f.in_followers = h_in_followers.v
LEFT JOIN h_seeds_followed ON f.seeds_followed = h_seeds_followed.v
LEFT JOIN h_reciprocal_in ON f.reciprocal_in = h_reciprocal_in.v
"""

#: Frame joined with profile fields, for coding sheets and model features.
FRAME_PROFILE = """
SELECT f.*, {profile}
FROM census_frame f
LEFT JOIN accounts a ON f.account_id = a.account_id
"""
#: ``accounts`` columns the profile adds (optional in the contract: a missing one
#: is a column of nulls).
PROFILE_COLUMNS = ("screen_name", "display_name", "description", "lang")

#: Frame size by level and tier.
FRAME_COUNTS = """
SELECT level, tier, count(*) AS n FROM census_frame GROUP BY ALL ORDER BY ALL
"""

#: Copy the ranked frame to a Parquet file (path bound as a parameter is not
#: supported by COPY, so the path is checked and quoted by the caller).
COPY_RANKED = "COPY census_ranked TO {path} (FORMAT parquet, COMPRESSION zstd)"

#: The metrics a frame row carries, in the order shown to users.
METRICS: tuple[str, ...] = (
    "in_friends",
    "in_followers",
    "seeds_followed",
    "seed_followers",
    "reciprocal_in",
    "n_lists_seen",
    "in_follower_share",
    "in_friend_share",
)

#: Steps that depend on the core, in order (re-run when reachability changes N).
CORE_STEPS: tuple[str, ...] = (
    "core", "out_agg", "core_edges", "seeds_out", "core_used", "core_out", "in_agg",
    "recip_core", "recip_outside", "core_via",
)
