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

#: Count columns of observations (whitelist for SCAN_OBSERVATIONS).
COUNT_COLUMNS = ("followers_count", "friends_count", "statuses_count")

# Look-ups for the one-pass scan of :mod:`measure.describe._scan`: the time in
# microseconds since the epoch, the day it falls on (``date_trunc`` in the session's
# time zone), a status code (0 active, 1 suspended, 2 any other) and the count
# columns ({cols} from COUNT_COLUMNS, each ``, o.<col>`` or ``, NULL::BIGINT``).
# ``unknown`` look-ups are left out, as if never made.
SCAN_OBSERVATIONS = """
SELECT o.account_id, epoch_us(o.observed_at) AS ts,
       epoch_us(date_trunc('day', o.observed_at)) AS day,
       CAST(CASE o.status WHEN 'active' THEN 0 WHEN 'suspended' THEN 1 ELSE 2 END
            AS TINYINT) AS code{cols}
FROM observations o
WHERE o.status <> 'unknown' AND o.observed_at IS NOT NULL
"""

# The same restricted to the registered cohort (cohorts much smaller than the
# accounts table).
SCAN_COHORT_OBSERVATIONS = SCAN_OBSERVATIONS.replace(
    "FROM observations o\n",
    "FROM observations o\n"
    "SEMI JOIN _describe_cohort c ON c.account_id = o.account_id\n")

# Every row of ``accounts`` with the profile columns ({cols} from ACCOUNT_COLUMNS);
# for cohorts close to the whole table, matched to the cohort in memory.
ACCOUNT_ROWS = "SELECT a.account_id{cols} FROM accounts a"

# Ids of the registered cohort.
COHORT_IDS = "SELECT account_id FROM _describe_cohort"

# Number of rows of ``accounts`` (read from the Parquet footers).
N_ACCOUNTS = "SELECT count(*) AS n FROM accounts"

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
