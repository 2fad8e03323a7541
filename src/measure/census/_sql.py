"""Named DuckDB steps that build the census frame and its in-network metrics.

Each constant is one step of the chain (splink style); :mod:`measure.census._frame`
runs them in order on the dataset's connection. Every step creates a ``census_*``
temporary table or view, so each can be printed, run and inspected on its own::

    from measure.census import _sql
    print(_sql.CORE)

Definitions (Berger & Morgan 2015, §3.4, §3.6 and App. A):

* **network core** ``N`` = seeds plus every account with a collected list (``crawls``).
  "In-network" always means "in ``N``": a follow is only known when some collected
  list holds it, and an uncollected list is unknown, not empty.
* **level**: 0 for seeds; the (smallest) crawl level for crawled accounts; otherwise
  1 + the smallest level of a crawled account whose collected list holds the account.
* **tier**: 1 = the account has a collected list; 2 = seen only inside others' lists.
* ``in_followers``: distinct accounts of ``N`` that follow the account;
  ``in_friends``: distinct accounts of ``N`` the account follows;
  ``seeds_followed``: distinct seeds it follows; ``seed_followers``: seeds following it;
  ``reciprocal_in``: accounts of ``N`` it follows that follow it back;
  ``n_lists_seen``: collected lists (followers or friends) that contain it.
  Each count is exact only when the lists it rests on were collected completely;
  the ``*_lower_bound`` flags say when it is a lower bound.
"""

from __future__ import annotations

#: Follow edges, self-loops dropped (variant for an ``edges`` table with ``relation``).
FOLLOWS_WITH_RELATION = """
CREATE OR REPLACE TEMP VIEW census_follows AS
SELECT src, dst FROM edges
WHERE (relation IS NULL OR relation = 'follows') AND src <> dst
"""

#: Follow edges when ``edges`` has no ``relation`` column (every edge is a follow).
FOLLOWS_NO_RELATION = """
CREATE OR REPLACE TEMP VIEW census_follows AS
SELECT src, dst FROM edges WHERE src <> dst
"""

#: Crawls with a ``complete`` column (null means "not known to be incomplete").
CRAWLS_WITH_COMPLETE = """
CREATE OR REPLACE TEMP VIEW census_crawls AS
SELECT account_id, list, level, complete FROM crawls
"""

#: Crawls without a ``complete`` column: every list is taken as complete.
CRAWLS_NO_COMPLETE = """
CREATE OR REPLACE TEMP VIEW census_crawls AS
SELECT account_id, list, level, CAST(NULL AS BOOLEAN) AS complete FROM crawls
"""

#: The network core N: seeds and crawled accounts, with their lists and completeness.
CORE = """
CREATE OR REPLACE TEMP TABLE census_core AS
WITH c AS (
    SELECT account_id,
           min(level) AS crawl_level,
           bool_or(list = 'followers') AS followers_list,
           bool_or(list = 'friends') AS friends_list,
           coalesce(bool_and(coalesce(complete, TRUE))
                    FILTER (WHERE list = 'followers'), FALSE) AS followers_complete,
           coalesce(bool_and(coalesce(complete, TRUE))
                    FILTER (WHERE list = 'friends'), FALSE) AS friends_complete
    FROM census_crawls
    GROUP BY account_id
), s AS (
    SELECT DISTINCT account_id FROM seeds
)
SELECT coalesce(c.account_id, s.account_id) AS account_id,
       CASE WHEN s.account_id IS NOT NULL THEN 0 ELSE c.crawl_level END AS level,
       CAST(row_number() OVER (
           ORDER BY CASE WHEN s.account_id IS NOT NULL THEN 0 ELSE c.crawl_level END,
                    coalesce(c.account_id, s.account_id)) AS INTEGER) AS core_rank,
       s.account_id IS NOT NULL AS is_seed,
       coalesce(c.followers_list, FALSE) AS followers_list,
       coalesce(c.friends_list, FALSE) AS friends_list,
       coalesce(c.followers_list AND c.followers_complete, FALSE) AS followers_complete,
       coalesce(c.friends_list AND c.friends_complete, FALSE) AS friends_complete
FROM c FULL OUTER JOIN s ON c.account_id = s.account_id
"""

#: Distinct follow edges whose follower is in N (small: at most |N| x out-degree).
FROM_CORE = """
CREATE OR REPLACE TEMP TABLE census_from_core AS
SELECT DISTINCT e.src, e.dst
FROM census_follows e
SEMI JOIN census_core c ON e.src = c.account_id
"""

#: Per followed account: followers in N, seeds following it, friends lists holding
#: it, and the first friends list that reached it (``core_rank`` orders N by level,
#: then id, so the smallest rank is the lowest-level, then smallest-id list owner).
IN_AGG = """
CREATE OR REPLACE TEMP TABLE census_in AS
SELECT f.dst AS account_id,
       count(*) AS in_followers,
       count(*) FILTER (WHERE c.is_seed) AS seed_followers,
       count(*) FILTER (WHERE c.friends_list) AS friends_lists_seen,
       min(c.core_rank) FILTER (WHERE c.friends_list) AS friends_via_rank
FROM census_from_core f
JOIN census_core c ON f.src = c.account_id
GROUP BY f.dst
"""

#: Per following account (one pass over all edges, deduplicated): friends in N,
#: seeds followed, followers lists holding it and the first one that reached it.
OUT_AGG = """
CREATE OR REPLACE TEMP TABLE census_out AS
WITH e AS (SELECT DISTINCT src, dst FROM census_follows)
SELECT e.src AS account_id,
       count(c.account_id) AS in_friends,
       count(*) FILTER (WHERE c.is_seed) AS seeds_followed,
       count(*) FILTER (WHERE c.followers_list) AS followers_lists_seen,
       min(c.core_rank) FILTER (WHERE c.followers_list) AS followers_via_rank
FROM e
LEFT JOIN census_core c ON e.dst = c.account_id
GROUP BY e.src
"""

#: Reciprocal ties with N for accounts in N: both directions lie in census_from_core.
RECIP_CORE = """
CREATE OR REPLACE TEMP TABLE census_recip AS
SELECT a.dst AS account_id, count(*) AS reciprocal_in
FROM census_from_core a
SEMI JOIN census_from_core b ON b.src = a.dst AND b.dst = a.src
GROUP BY a.dst
"""

#: Does any collected friends list hold an account outside N? (Only then can an
#: account outside N have a reciprocal tie, and RECIP_OUTSIDE must run.)
HAS_OUTSIDE_FRIENDS = """
SELECT count(*) > 0 FROM census_from_core f
ANTI JOIN census_core c ON f.dst = c.account_id
"""

#: Reciprocal ties for accounts outside N (needs a probe of every edge).
RECIP_OUTSIDE = """
INSERT INTO census_recip
SELECT a.dst AS account_id, count(*) AS reciprocal_in
FROM (SELECT f.src, f.dst FROM census_from_core f
      ANTI JOIN census_core c ON f.dst = c.account_id) a
SEMI JOIN census_follows e ON e.src = a.dst AND e.dst = a.src
GROUP BY a.dst
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

#: The frame: one row per account in N or in a collected list, with every metric.
FRAME = """
CREATE OR REPLACE TEMP TABLE census_frame AS
WITH g AS (
    SELECT bool_and(followers_complete) AS all_followers_complete
    FROM census_core
), j AS (
    SELECT coalesce(o.account_id, c.account_id, i.account_id) AS account_id,
           c.account_id IS NOT NULL AS in_core,
           coalesce(c.is_seed, FALSE) AS is_seed,
           c.level AS core_level,
           coalesce(c.followers_list, FALSE) AS followers_list,
           coalesce(c.friends_list, FALSE) AS friends_list,
           coalesce(c.followers_complete, FALSE) AS followers_complete,
           coalesce(c.friends_complete, FALSE) AS friends_complete,
           least(o.followers_via_rank, i.friends_via_rank) AS via_rank,
           coalesce(o.in_friends, 0) AS in_friends,
           coalesce(o.seeds_followed, 0) AS seeds_followed,
           coalesce(i.in_followers, 0) AS in_followers,
           coalesce(i.seed_followers, 0) AS seed_followers,
           coalesce(o.followers_lists_seen, 0) + coalesce(i.friends_lists_seen, 0)
               AS n_lists_seen
    FROM census_out o
    FULL OUTER JOIN census_core c ON o.account_id = c.account_id
    FULL OUTER JOIN census_in i
        ON coalesce(o.account_id, c.account_id) = i.account_id
)
SELECT j.account_id,
       CAST(CASE WHEN j.in_core AND j.core_level IS NOT NULL THEN j.core_level
            ELSE 1 + v.level END AS INTEGER) AS level,
       CAST(CASE WHEN j.followers_list OR j.friends_list THEN 1 ELSE 2 END
            AS INTEGER) AS tier,
       j.is_seed,
       CASE WHEN j.is_seed THEN NULL ELSE v.account_id END AS reached_via,
       j.n_lists_seen,
       j.seeds_followed,
       j.seed_followers,
       j.in_friends,
       j.in_followers,
       coalesce(r.reciprocal_in, 0) AS reciprocal_in,
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
LEFT JOIN census_recip r ON j.account_id = r.account_id
LEFT JOIN census_latest l ON j.account_id = l.account_id
WHERE j.in_core OR j.via_rank IS NOT NULL
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
SELECT f.*, a.screen_name, a.display_name, a.description, a.lang
FROM census_frame f
LEFT JOIN accounts a ON f.account_id = a.account_id
"""

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

#: Ordered steps of the frame chain (name, SQL) after the two variant views.
FRAME_STEPS: tuple[tuple[str, str], ...] = (
    ("core", CORE),
    ("from_core", FROM_CORE),
    ("in_agg", IN_AGG),
    ("out_agg", OUT_AGG),
    ("recip_core", RECIP_CORE),
    ("recip_outside", RECIP_OUTSIDE),
    ("frame", FRAME),
)
