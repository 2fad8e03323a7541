"""Named DuckDB steps of successor linking (each a constant; parameters are bound).

The steps run on the dataset's connection (``ds.con``) and keep their intermediate
results in temporary tables prefixed ``_rs_``:

1. ``SUSPENSION_EVENTS`` -> ``_rs_events``: per account seen suspended, the last
   ``active`` look-up before the first ``suspended`` one (the suspension time lies in
   between: interval censoring), and the follower count at that last active look-up.
2. ``KEYS_TABLE`` -> ``_rs_keys``: blocking keys per account, computed in Python
   (Unicode NFKC, case folding) and loaded, as 64-bit hashes, from a registered
   frame ``_rs_keys_df``, with ``bk``, the 30-day period of the account's creation.
3. ``SUSPENDED`` -> ``_rs_susp``: events joined with keys and the search window
   ``(lower_t, upper_t]`` for successors, restricted to the cohort when one is given.
4. ``BLOCK_*`` -> ``_rs_blocks``: candidate (previous, new) pairs sharing a key
   (handle stem, one-edit handle keys, display name, avatar, whole bio, bio letters,
   shared followers), each capped to the ``$per_key`` candidates nearest in time
   per suspended account (shared followers: the largest follower-set Jaccard;
   one-deletion handle keys: ``EDIT_JOIN``, capped in polars); a key value
   held by more than ``$max_key_freq`` accounts created in one period does not
   block in that period.
5. ``PAIRS`` -> ``_rs_pairs``: one row per pair with the bit mask of keys that matched.
6. ``FOLLOWS_*``, ``SHARED_FOLLOWERS``: follower sets from ``edges`` (src follows dst)
   and the number of followers a candidate pair shares.
7. ``PAIR_FRAME``: the numbers the comparison step needs, one row per pair, with
   row positions ``kx_prev, kx_new`` into the keys frame (strings are gathered
   there, in polars).

Print any constant to see the exact SQL; ``tests/resurrection/test_blocking.py``
runs the steps on a hand-built dataset.
"""

from __future__ import annotations

# Column projection of ``accounts`` (optional columns are filled with NULL by the
# caller from this fixed list, never from user input).
ACCOUNT_COLUMNS = ("account_id", "screen_name", "display_name", "description",
                   "profile_image_hash", "created_at", "first_seen", "lang")
_TIME_COLUMNS = ("created_at", "first_seen")


def accounts_select(present: set[str]) -> str:
    """``SELECT`` of :data:`ACCOUNT_COLUMNS` from ``accounts``, NULL where absent.

    ``present`` is the set of columns the table has; only names from the fixed
    :data:`ACCOUNT_COLUMNS` list enter the query (never user input).
    """
    cols = []
    for c in ACCOUNT_COLUMNS:
        if c in present:
            cols.append(f'"{c}"')
        elif c in _TIME_COLUMNS:
            cols.append(f"CAST(NULL AS TIMESTAMPTZ) AS {c}")
        else:
            cols.append(f"CAST(NULL AS VARCHAR) AS {c}")
    return "SELECT " + ", ".join(cols) + " FROM accounts"

DATA_END = """
SELECT max(observed_at) AS data_end, min(observed_at) AS data_start
FROM observations
"""

SUSPENSION_EVENTS = """
CREATE OR REPLACE TEMP TABLE _rs_events AS
WITH fs AS (
    SELECT account_id, min(observed_at) AS first_suspended
    FROM observations
    WHERE status = 'suspended'
    GROUP BY account_id
), la AS (
    SELECT o.account_id,
           max(o.observed_at) AS last_active,
           arg_max(o.followers_count, o.observed_at)
               FILTER (WHERE o.followers_count IS NOT NULL) AS followers_at_suspension
    FROM observations o JOIN fs USING (account_id)
    WHERE o.status = 'active' AND o.observed_at < fs.first_suspended
    GROUP BY o.account_id
)
SELECT fs.account_id, la.last_active, fs.first_suspended, la.followers_at_suspension
FROM fs LEFT JOIN la USING (account_id)
"""

# Keys plus how many accounts hold each key value (term frequency): agreeing on a
# value that thousands share ("Proud Muslim", a default avatar) says little.
# (the counts stem_n, name_n, avatar_n, bio_n are computed in polars beforehand).
# ``bk``: the account's period of creation, $bucket seconds long (the unit in which
# blocking counts how common a key is, see ``_BLOCK``).
KEYS_TABLE = """
CREATE OR REPLACE TEMP TABLE _rs_keys AS
SELECT *, CAST(floor(epoch(t_new) / $bucket) AS BIGINT) AS bk FROM _rs_keys_df
"""

COHORT_TABLE = """
CREATE OR REPLACE TEMP TABLE _rs_cohort AS
SELECT DISTINCT account_id FROM _rs_cohort_df
"""

SUSPENDED = """
CREATE OR REPLACE TEMP TABLE _rs_susp AS
SELECT e.account_id, e.last_active, e.first_suspended, e.followers_at_suspension,
       coalesce(e.last_active, k.t_new, e.first_suspended - INTERVAL 7 DAY) AS lower_t,
       e.first_suspended + to_days(CAST($window AS INTEGER)) AS upper_t,
       k.stem, k.name_key, k.avatar, k.bio_fp, k.bio_lfp
FROM _rs_events e LEFT JOIN _rs_keys k USING (account_id)
WHERE NOT $use_cohort OR e.account_id IN (SELECT account_id FROM _rs_cohort)
"""

# Candidate successors of one key kind. The key column name is fixed per constant.
# A key value held by more than $max_key_freq accounts created in one period
# (``bk``, $bucket seconds: default avatars, empty bios, very common names in that
# period) is not used to block in that period: it says nothing and the join on it
# is what costs. Counted per period, not over the whole dataset, so that a name
# common over years of data still blocks the few accounts that carry it in one
# search window. The suspended account's window is cut into the periods it
# touches and joined on (key, period): every account is in one period, so no
# pair is produced twice, and each (key, period) joins at most $max_key_freq
# accounts. The $per_key candidates created nearest in time to the first
# suspended look-up are kept.
_NEAREST = """
QUALIFY row_number() OVER (
    PARTITION BY a.account_id
    ORDER BY abs(epoch(b.t_new) - epoch(a.first_suspended)), b.account_id
) <= $per_key
"""


def _window_periods(table: str, alias: str) -> str:
    """Unnest the periods of each suspended account's window ``(lower_t, upper_t]``.

    Clamped to the periods in which some account was created: a window that
    opens at an old creation time (no active look-up before the suspension)
    or at a placeholder date spans no empty periods.
    """
    return f"""unnest(range(
           greatest(CAST(floor(epoch({table}lower_t) / $bucket) AS BIGINT),
                    (SELECT min(bk) FROM _rs_keys)),
           least(CAST(floor(epoch({table}upper_t) / $bucket) AS BIGINT),
                 (SELECT max(bk) FROM _rs_keys)) + 1)) AS {alias}"""


_BLOCK = """
WITH common AS (
    SELECT {key} AS k, bk FROM _rs_keys
    WHERE {key} IS NOT NULL
    GROUP BY {key}, bk HAVING count(*) > $max_key_freq
), aw AS (
    SELECT account_id, lower_t, upper_t, first_suspended, {key} AS k,
           """ + _window_periods("", "bk") + """
    FROM _rs_susp
    WHERE {key} IS NOT NULL
), a AS (
    SELECT * FROM aw ANTI JOIN common USING (k, bk)
)
SELECT a.account_id AS previous, b.account_id AS new, {bit} AS bit
FROM a JOIN _rs_keys b ON a.k = b.{key} AND a.bk = b.bk
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t
  AND b.account_id <> a.account_id
""" + _NEAREST

BLOCK_STEM = _BLOCK.format(bit=1, key="stem")

# Handles one edit apart (one-deletion neighbourhood keys of the stem, from
# ``_rs_dkeys(account_id, dkey)``); bit 32.
DKEYS_TABLE = """
CREATE OR REPLACE TEMP TABLE _rs_dkeys AS
SELECT account_id, dkey, t_new, bk FROM _rs_dkeys_df
"""

DKEYS_INSERT = """
INSERT INTO _rs_dkeys SELECT account_id, dkey, t_new, bk FROM _rs_dkeys_df
"""

# (key, period) cells held by more than $max_key_freq accounts are not used, as in
# ``_BLOCK``; counted in Python on the sorted cell codes ``xor(dkey, bk + $offset)``
# (``_analyze._cell_codes``) and registered as ``_rs_bigd_df(code)``.
BIG_DKEYS = """
CREATE OR REPLACE TEMP TABLE _rs_bigdkeys AS SELECT code FROM _rs_bigd_df
"""

# One row per (suspended, window-eligible account, shared key) with the time
# from the suspension, for the suspended accounts of slice $slice of $n_slices
# (by hash of the id); the per_key nearest distinct accounts are then kept in
# polars (``_analyze._nearest_distinct``: ``_NEAREST`` then DISTINCT pairs).
EDIT_JOIN = """
WITH aw AS (
    SELECT s.account_id, s.lower_t, s.upper_t, s.first_suspended, d.dkey,
           """ + _window_periods("s.", "wbk") + """
    FROM _rs_susp s JOIN _rs_dkeys d USING (account_id)
    WHERE hash(s.account_id) % $n_slices = $slice
), a AS (
    SELECT * FROM aw
    WHERE xor(dkey, CAST(wbk + $offset AS UBIGINT))
          NOT IN (SELECT code FROM _rs_bigdkeys)
)
SELECT a.account_id AS previous, b.account_id AS new,
       abs(epoch(b.t_new) - epoch(a.first_suspended)) AS dist
FROM a JOIN _rs_dkeys b ON a.dkey = b.dkey AND a.wbk = b.bk
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t AND b.account_id <> a.account_id
"""

# The $per_key accounts created nearest in time to the suspension, whatever they
# share (bit 64): candidates without any agreeing key. Under the model they get
# little probability each, but together they carry the returns that left no
# profile or follower trace, so the expected number of returns is not
# understated (they matter for the rate, never pass a link threshold).
BLOCK_TIME = """
SELECT a.account_id AS previous, b.account_id AS new, 64 AS bit
FROM _rs_susp a JOIN _rs_keys b
  ON b.t_new > a.lower_t AND b.t_new <= a.upper_t
WHERE b.account_id <> a.account_id
""" + _NEAREST
BLOCK_NAME = _BLOCK.format(bit=2, key="name_key")
BLOCK_AVATAR = _BLOCK.format(bit=4, key="avatar")
BLOCK_BIO = _BLOCK.format(bit=8, key="bio_fp")
# the bio's letters only (bit 128): still blocks a copied bio whose emoji or verse
# number was changed
BLOCK_BIO_LETTERS = _BLOCK.format(bit=128, key="bio_lfp")

# Follows (src follows dst) restricted to the relation 'follows' when the column
# exists; deduplicated. Only lists that a later step can read are kept: those of
# suspended accounts and of accounts created after the earliest search window
# opens (every candidate successor is one), not the whole background.
FOLLOWS_WITH_RELATION = """
CREATE OR REPLACE TEMP TABLE _rs_follows AS
SELECT DISTINCT src, dst FROM edges
WHERE (relation IS NULL OR relation = 'follows')
  AND (dst IN (SELECT account_id FROM _rs_susp)
       OR dst IN (SELECT account_id FROM _rs_keys
                  WHERE t_new > (SELECT min(lower_t) FROM _rs_susp)))
"""

FOLLOWS_NO_RELATION = """
CREATE OR REPLACE TEMP TABLE _rs_follows AS
SELECT DISTINCT src, dst FROM edges
WHERE dst IN (SELECT account_id FROM _rs_susp)
   OR dst IN (SELECT account_id FROM _rs_keys
              WHERE t_new > (SELECT min(lower_t) FROM _rs_susp))
"""

FOLLOWS_EMPTY = """
CREATE OR REPLACE TEMP TABLE _rs_follows AS
SELECT account_id AS src, account_id AS dst FROM _rs_keys WHERE false
"""

# Large follower overlap: pairs (suspended a, window-eligible b) sharing at least
# $min_shared followers. Followers that follow more than $max_hub suspended or new
# accounts (hubs: journalists, researchers, bots) are skipped for blocking only.
# The $per_key candidates kept per suspended account are those with the largest
# Jaccard overlap of their non-hub follower sets (then the most shared
# followers): by raw counts, prominent supporters sharing a few in-network
# followers with everyone crowd out a small new account that holds mostly the
# old one's followers.
BLOCK_FOLLOWERS = """
WITH sw AS (
    -- each suspended account's window as 30-day time buckets ($bucket seconds), so
    -- that the join on a shared follower only pairs accounts close in time
    SELECT account_id AS previous,
           """ + _window_periods("", "bk") + """
    FROM _rs_susp
), fa AS (
    SELECT f.src, f.dst AS previous FROM _rs_follows f
    JOIN _rs_susp s ON f.dst = s.account_id
), fb AS (
    SELECT f.src, f.dst AS new, k.bk
    FROM _rs_follows f
    JOIN _rs_keys k ON f.dst = k.account_id
    WHERE k.t_new > (SELECT min(lower_t) FROM _rs_susp)
), hubs AS (
    SELECT src FROM fa GROUP BY src HAVING count(*) > $max_hub
    UNION
    SELECT src FROM fb GROUP BY src HAVING count(*) > $max_hub
), fa2 AS (
    SELECT fa.src, fa.previous, sw.bk FROM fa JOIN sw USING (previous)
    WHERE fa.src NOT IN (SELECT src FROM hubs)
), shared AS (
    SELECT fa2.previous, fb.new, count(*) AS n_shared
    FROM fa2 JOIN fb ON fa2.src = fb.src AND fa2.bk = fb.bk
    WHERE fa2.previous <> fb.new
    GROUP BY fa2.previous, fb.new
    HAVING count(*) >= $min_shared
), nfa AS (
    -- follower-set sizes without the hubs, as the shared counts: the Jaccard
    -- ranking compares like with like
    SELECT previous AS account_id, count(*) AS n FROM fa
    WHERE src NOT IN (SELECT src FROM hubs)
      AND previous IN (SELECT previous FROM shared)
    GROUP BY previous
), nfb AS (
    SELECT new AS account_id, count(*) AS n FROM fb
    WHERE src NOT IN (SELECT src FROM hubs)
      AND new IN (SELECT new FROM shared)
    GROUP BY new
)
SELECT sh.previous, sh.new, 16 AS bit
FROM shared sh
JOIN _rs_susp a ON a.account_id = sh.previous
JOIN _rs_keys b ON b.account_id = sh.new
JOIN nfa na ON na.account_id = sh.previous
JOIN nfb nb ON nb.account_id = sh.new
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t
QUALIFY row_number() OVER (
    PARTITION BY sh.previous
    ORDER BY sh.n_shared / (na.n + nb.n - sh.n_shared) DESC, sh.n_shared DESC,
             sh.new) <= $per_key
"""

BLOCKS_TABLE = """
CREATE OR REPLACE TEMP TABLE _rs_blocks AS
SELECT account_id AS previous, account_id AS new, 0 AS bit FROM _rs_keys WHERE false
"""

# the one-deletion block's candidates, chosen in polars (registered ``_rs_edit_df``)
BLOCK_EDIT_INSERT = (
    "INSERT INTO _rs_blocks SELECT previous, new, 32 AS bit FROM _rs_edit_df"
)
# candidate pairs per blocking key (bit)
BLOCK_COUNTS = "SELECT bit, count(*) AS n FROM _rs_blocks GROUP BY bit"
# suspended accounts, and the earliest start of their successor windows
SUSPENDED_IDS = "SELECT account_id FROM _rs_susp"
SUSPENDED_MIN_LOWER = "SELECT min(lower_t) FROM _rs_susp"
# random pairs (registered ``_rs_rand_df``) in place of the candidate pairs
RANDOM_PAIRS_TABLE = (
    "CREATE OR REPLACE TEMP TABLE _rs_pairs AS SELECT * FROM _rs_rand_df"
)

PAIRS = """
CREATE OR REPLACE TEMP TABLE _rs_pairs AS
SELECT previous, new, bit_or(bit) AS keys
FROM _rs_blocks
GROUP BY previous, new
"""

# Follower-set sizes of every account in a pair, and shared followers per pair.
FOLLOWER_COUNTS = """
CREATE OR REPLACE TEMP TABLE _rs_nfol AS
SELECT dst AS account_id, count(*) AS n_followers
FROM _rs_follows
WHERE dst IN (SELECT previous FROM _rs_pairs) OR dst IN (SELECT new FROM _rs_pairs)
GROUP BY dst
"""

SHARED_FOLLOWERS = """
CREATE OR REPLACE TEMP TABLE _rs_shared AS
WITH fa AS (
    SELECT f.src, f.dst FROM _rs_follows f
    WHERE f.dst IN (SELECT previous FROM _rs_pairs)
), fb AS (
    SELECT f.src, f.dst FROM _rs_follows f
    WHERE f.dst IN (SELECT new FROM _rs_pairs)
)
SELECT p.previous, p.new, count(*) AS n_shared
FROM _rs_pairs p
JOIN fa ON fa.dst = p.previous
JOIN fb ON fb.dst = p.new AND fb.src = fa.src
GROUP BY p.previous, p.new
"""

# The same pairs with numbers only: the strings are gathered in polars from the
# keys frame by row position (``kx``, the row index of ``_rs_keys_df``) batch by
# batch, so DuckDB never joins, stores or converts the strings of all pairs.
PAIR_FRAME = """
SELECT p.previous, p.new, p.keys,
       a.kx AS kx_prev, b.kx AS kx_new,
       s.last_active, s.first_suspended, b.t_new AS created_new,
       coalesce(na.n_followers, 0) AS n_followers_prev,
       coalesce(nb.n_followers, 0) AS n_followers_new,
       coalesce(sh.n_shared, 0) AS n_shared
FROM _rs_pairs p
JOIN _rs_susp s ON s.account_id = p.previous
LEFT JOIN _rs_keys a ON a.account_id = p.previous
JOIN _rs_keys b ON b.account_id = p.new
LEFT JOIN _rs_nfol na ON na.account_id = p.previous
LEFT JOIN _rs_nfol nb ON nb.account_id = p.new
LEFT JOIN _rs_shared sh ON sh.previous = p.previous AND sh.new = p.new
"""

SUSPENDED_WINDOWS = """
SELECT account_id, lower_t, upper_t FROM _rs_susp
WHERE lower_t IS NOT NULL AND upper_t IS NOT NULL
ORDER BY account_id
"""

SUSPENDED_FRAME = """
SELECT s.account_id, s.last_active, s.first_suspended, s.followers_at_suspension,
       k.t_new AS created, coalesce(k.first_seen, k.t_new) AS first_seen
FROM _rs_susp s LEFT JOIN _rs_keys k USING (account_id)
ORDER BY s.account_id
"""

# Followers of each account about $age_days after its creation: the active look-up
# nearest to created + age within $tol_days (null when none is that close).
FOLLOWERS_AT_AGE = """
SELECT o.account_id,
       arg_min(o.followers_count,
               abs(epoch(o.observed_at) - epoch(k.t_new) - $age_days * 86400.0))
           AS followers_at_age
FROM observations o
JOIN _rs_keys k USING (account_id)
WHERE o.status = 'active' AND o.followers_count IS NOT NULL
  AND abs(epoch(o.observed_at) - epoch(k.t_new) - $age_days * 86400.0)
      <= $tol_days * 86400.0
  AND o.account_id IN (SELECT account_id FROM _rs_age_ids)
GROUP BY o.account_id
"""

AGE_IDS = """
CREATE OR REPLACE TEMP TABLE _rs_age_ids AS
SELECT DISTINCT account_id FROM _rs_age_ids_df
"""

CLEANUP = (
    "_rs_events", "_rs_keys", "_rs_cohort", "_rs_susp", "_rs_follows",
    "_rs_blocks", "_rs_pairs", "_rs_nfol", "_rs_shared", "_rs_age_ids", "_rs_dkeys",
    "_rs_bigdkeys",
)
# table names come from the fixed names of this module, never from user input
DROP_TABLE = "DROP TABLE IF EXISTS {}"
