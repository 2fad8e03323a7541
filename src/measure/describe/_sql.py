"""Named SQL steps of ``measure.describe`` (DuckDB; parameters bound with ``?``).

The cohort is loaded into the dataset's connection as the temporary table
``_describe_cohort(account_id, weight)`` (and the in-network set as
``_describe_network``) before these run. ``{cols}`` placeholders
are filled only from fixed whitelists of contract column names in this package
(never from user input).
"""

# Accounts of the cohort with the profile columns the dataset has ({cols} from
# ACCOUNT_COLUMNS).
COHORT_ACCOUNTS = """
SELECT c.account_id, c.weight{cols}
FROM _describe_cohort c
LEFT JOIN accounts a ON a.account_id = c.account_id
"""

#: Optional account columns the profile reads (whitelist for COHORT_ACCOUNTS).
ACCOUNT_COLUMNS = ("screen_name", "display_name", "created_at", "lang", "location",
                   "first_seen")

# Latest active observation per cohort account ({cols} from COUNT_COLUMNS, each as
# ``arg_max_null(o.<col>, o.observed_at) AS <short>``: the values of that one row,
# nulls included). Aggregates rather than QUALIFY: DuckDB 1.5 fails with an internal
# error on QUALIFY row_number() after this join.
LATEST_ACTIVE = """
SELECT o.account_id, max(o.observed_at) AS last_active_at{cols}
FROM observations o
JOIN _describe_cohort c ON c.account_id = o.account_id
WHERE o.status = 'active'
GROUP BY o.account_id
"""

#: Count columns of observations (whitelist for LATEST_ACTIVE / BEFORE_SUSPENSION).
COUNT_COLUMNS = ("followers_count", "friends_count", "statuses_count")

# Latest active observation before the first 'suspended' one, per cohort account;
# ``suspended`` says whether a suspended look-up followed.
BEFORE_SUSPENSION = """
WITH first_susp AS (
  SELECT account_id, min(observed_at) AS suspended_at
  FROM observations WHERE status = 'suspended' GROUP BY account_id
)
SELECT o.account_id, max(o.observed_at) AS last_active_at,
       any_value(f.suspended_at) AS suspended_at,
       any_value(f.suspended_at) IS NOT NULL AS suspended{cols}
FROM observations o
JOIN _describe_cohort c ON c.account_id = o.account_id
LEFT JOIN first_susp f ON f.account_id = o.account_id
WHERE o.status = 'active' AND (f.suspended_at IS NULL OR o.observed_at < f.suspended_at)
GROUP BY o.account_id
"""

# Latest observation time in the dataset (reference date for "active in N days");
# ``unknown`` look-ups (no information about the account) are left out.
REFERENCE_TIME_OBS = ("SELECT max(observed_at) AS t FROM observations "
                      "WHERE status <> 'unknown'")
REFERENCE_TIME_TWEETS = "SELECT max(created_at) AS t FROM tweets"

# Per-account tweet counts, span and burst score (max tweets in a window of
# ``?`` hours starting at one of the account's tweets).
TWEET_ACTIVITY = """
WITH t AS (
  SELECT t.account_id, t.created_at
  FROM tweets t JOIN _describe_cohort c ON c.account_id = t.account_id
), w AS (
  SELECT account_id, created_at,
         count(*) OVER (PARTITION BY account_id ORDER BY created_at
                        RANGE BETWEEN CURRENT ROW
                              AND to_hours(CAST(? AS BIGINT)) FOLLOWING
                        ) AS in_window
  FROM t
)
SELECT account_id, count(*) AS n_tweets, min(created_at) AS first_tweet,
       max(created_at) AS last_tweet, max(in_window) AS burst
FROM w GROUP BY account_id
"""

# Status-count deltas between consecutive active look-ups (activity without tweets).
LOOKUP_ACTIVITY = """
WITH o AS (
  SELECT o.account_id, o.observed_at, epoch(o.observed_at) AS ts, o.statuses_count,
         lag(o.statuses_count) OVER w AS prev_count,
         lag(epoch(o.observed_at)) OVER w AS prev_ts
  FROM observations o JOIN _describe_cohort c ON c.account_id = o.account_id
  WHERE o.status = 'active' AND o.statuses_count IS NOT NULL
  WINDOW w AS (PARTITION BY o.account_id ORDER BY o.observed_at)
), d AS (
  SELECT account_id, observed_at, greatest(statuses_count - prev_count, 0) AS inc,
         (ts - prev_ts) / 86400.0 AS gap, prev_ts
  FROM o WHERE prev_count IS NOT NULL
)
SELECT account_id, sum(inc)::BIGINT AS n_tweets,
       to_timestamp(min(prev_ts)) AS first_tweet,
       max(observed_at) FILTER (WHERE inc > 0) AS last_tweet,
       max(inc / greatest(gap, 1.0)) AS burst,
       sum(gap)::DOUBLE AS span_days
FROM d GROUP BY account_id
"""

# Followers lists collected for cohort accounts and how many of the listed
# followers belong to the network (``_describe_network``, by default the cohort).
IN_NETWORK = """
WITH lists AS (
  SELECT cr.account_id, bool_and(coalesce(cr.complete, true)) AS complete
  FROM crawls cr JOIN _describe_cohort c ON c.account_id = cr.account_id
  WHERE cr.list = 'followers' GROUP BY cr.account_id
), e AS (
  SELECT DISTINCT src, dst FROM edges
  WHERE coalesce(relation, 'follows') = 'follows'
)
SELECT l.account_id, l.complete,
       count(e.src) AS listed_followers,
       count(c2.account_id) AS in_followers
FROM lists l
LEFT JOIN e ON e.dst = l.account_id
LEFT JOIN _describe_network c2 ON c2.account_id = e.src
GROUP BY l.account_id, l.complete
"""

# Same, for an edges table without the optional ``relation`` column.
IN_NETWORK_NO_RELATION = IN_NETWORK.replace(
    "WHERE coalesce(relation, 'follows') = 'follows'", "")

# Network-size series per look-up day for the cohort (E11); ``unknown`` look-ups
# are left out, as if never made.
SIZE_SERIES = """
WITH o AS (
  SELECT o.account_id, date_trunc('day', o.observed_at) AS day, o.status,
         o.followers_count
  FROM observations o JOIN _describe_cohort c ON c.account_id = o.account_id
  WHERE o.status <> 'unknown'
), first_seen AS (
  SELECT account_id, min(day) AS day0 FROM o GROUP BY account_id
), first_susp AS (
  SELECT account_id, min(day) AS sday FROM o WHERE status = 'suspended'
  GROUP BY account_id
), per_day AS (
  SELECT day, account_id,
         bool_or(status = 'active') AS active,
         max(CASE WHEN status = 'active' THEN followers_count END) AS followers
  FROM o GROUP BY day, account_id
)
SELECT p.day,
       count(*) AS looked_up,
       count(*) FILTER (WHERE p.active) AS alive,
       avg(p.followers) FILTER (WHERE p.active) AS mean_followers,
       stddev_samp(p.followers) FILTER (WHERE p.active) AS sd_followers,
       count(p.followers) FILTER (WHERE p.active) AS n_followers,
       count(*) FILTER (WHERE s.sday IS NULL OR s.sday >= p.day) AS at_risk,
       count(*) FILTER (WHERE s.sday = p.day) AS newly_suspended,
       count(*) FILTER (WHERE f.day0 = p.day) AS new_accounts
FROM per_day p
LEFT JOIN first_susp s ON s.account_id = p.account_id
LEFT JOIN first_seen f ON f.account_id = p.account_id
GROUP BY p.day ORDER BY p.day
"""

# Labelled accounts and their majority label, with the design weight.
LABELLED = """
SELECT account_id,
       mode(label) AS label,
       count(*) AS n_codes,
       avg((label = 'supporter')::INTEGER)::DOUBLE AS supporter_share
FROM labels GROUP BY account_id
"""
LABELLED_PROB = """
SELECT account_id,
       avg((label = 'supporter')::INTEGER)::DOUBLE AS supporter_share,
       min(inclusion_prob) AS inclusion_prob
FROM labels GROUP BY account_id
"""

ALL_ACCOUNTS = "SELECT account_id FROM accounts"
POPULATION = "SELECT * FROM population"

# Cohort accounts present in the accounts table.
KNOWN_IDS = """
SELECT c.account_id, c.weight FROM _describe_cohort c
SEMI JOIN accounts a ON a.account_id = c.account_id
"""

# Load a registered Arrow frame into a temporary table (joins on native tables are
# faster than on Arrow scans). The table names are fixed constants.
LOAD_COHORT = "CREATE OR REPLACE TEMP TABLE _describe_cohort AS SELECT * FROM _arrow"
LOAD_NETWORK = "CREATE OR REPLACE TEMP TABLE _describe_network AS SELECT * FROM _arrow"
