"""Named DuckDB steps of successor linking (each a :class:`~measure._steps.Step`).

Every step is a value: ``print(step)`` shows its SQL, the pipeline tables it
reads (written ``{name}``), the table it makes and its bound parameters
(``$name``). The stages of :mod:`measure.resurrection._stages` run them with a
:class:`~measure._steps.StepRunner`, which gives each table a temporary name of
its own and drops it when the stage ends.

Suspension events (stage ``suspension_events``):

1. :data:`EVENTS` -> ``events``: per account seen suspended, the last ``active``
   look-up before the first ``suspended`` one (the suspension time lies in
   between: interval censoring), and the follower count at that look-up.
2. :data:`SUSPENDED`: the events of the cohort joined with the accounts'
   creation times (registered frame ``accounts``) and the search window
   ``(lower_t, upper_t]`` for successors, opened up to ``$backup_days`` before
   the first suspended look-up for successors created before the suspension.
   Every later step restricts candidates to this window (the key blocks, the
   one-edit handle block, the time-nearest block, the follower block and the
   random pairs), so a wider window reaches all of them.

Blocking (stage ``block``):

3. :data:`KEYS_TABLE` -> ``keys``: blocking keys per account, computed in
   Python (Unicode NFKC, case folding) and registered, as 64-bit hashes, as
   ``keys_df``, with ``bk``, the 30-day period of the account's creation;
   :data:`SUSP_TABLE` -> ``susp``: the suspended accounts' windows and keys.
4. ``BLOCK_*`` -> ``blocks``: candidate (previous, new) pairs sharing a key
   (handle stem, one-edit handle keys, display name, avatar, whole bio, bio
   letters, shared followers), each capped to the ``$per_key`` candidates
   nearest in time per suspended account (shared followers: the largest
   follower-set Jaccard; one-deletion handle keys: :data:`EDIT_JOIN`, capped in
   polars); a key value held by more than ``$max_key_freq`` accounts created in
   one period does not block in that period.
5. :data:`PAIRS` -> ``pairs``: one row per pair with the bit mask of keys.
6. ``FOLLOWS_*``, :data:`FOLLOWER_COUNTS`, :data:`SHARED_FOLLOWERS`: follower
   sets from ``edges`` (src follows dst) and the followers a pair shares.
7. :data:`PAIR_FRAME`: the numbers the comparison step needs, one row per pair,
   with row positions ``kx_prev, kx_new`` into the keys frame (strings are
   gathered there, in polars). The random pairs that estimate the non-match
   probabilities go through the same steps (``step.renamed(pairs=...)``).

Measures (stage ``measure_returns``): :data:`FOLLOWERS_AT_AGE`.

``tests/resurrection/test_blocking.py`` runs the steps on hand-built datasets.
"""

from __future__ import annotations

from measure._steps import Step

# Column projection of ``accounts`` (optional columns are filled with NULL by the
# caller from this fixed list, never from user input).
ACCOUNT_COLUMNS = ("account_id", "screen_name", "display_name", "description",
                   "profile_image_hash", "created_at", "first_seen", "lang")
_TIME_COLUMNS = ("created_at", "first_seen")


def accounts_select(present: set[str]) -> Step:
    """Step selecting :data:`ACCOUNT_COLUMNS` from ``accounts``, NULL where absent.

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
    return Step("accounts", "SELECT " + ", ".join(cols) + " FROM accounts")


DATA_END = Step("data_end", """
SELECT max(observed_at) AS data_end, min(observed_at) AS data_start
FROM observations
WHERE status <> 'unknown'  -- a look-up that learned nothing follows up no one
""")

EVENTS = Step("suspension_events", """
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
""", output="events")

# The cohort's events with the accounts' creation times (``accounts``: account_id,
# t_new = created else first seen, first_seen) and the search window
# ``(lower_t, upper_t]``. It closes $window days after the first suspended
# look-up. It opens at the last time the account was known alive (its last
# active look-up, else its creation, else a week before the first suspended
# look-up) or, when that is later, at the later of the account's creation and
# $backup_days before the first suspended look-up: a successor the actor
# created while the old account was still alive (a backup) is then a candidate.
# With $backup_days = 0 the window opens at the last time known alive.
SUSPENDED = Step("suspended", """
WITH w AS (
    SELECT e.*, k.t_new, coalesce(k.first_seen, k.t_new) AS seen,
           coalesce(e.last_active, k.t_new,
                    e.first_suspended - INTERVAL 7 DAY) AS alive_t,
           e.first_suspended - to_microseconds(
               CAST(round($backup_days * 86400000000.0) AS BIGINT)) AS backup_t
    FROM {events} e LEFT JOIN {accounts} k USING (account_id)
)
SELECT account_id, last_active, first_suspended, followers_at_suspension,
       t_new AS created, seen AS first_seen,
       CASE WHEN $backup_days > 0 AND t_new IS NOT NULL
            THEN least(alive_t, greatest(t_new, backup_t))
            ELSE alive_t END AS lower_t,
       first_suspended + to_days(CAST($window AS INTEGER)) AS upper_t
FROM w
WHERE NOT $use_cohort OR account_id IN (SELECT account_id FROM {cohort})
ORDER BY account_id
""", inputs=("events", "accounts", "cohort"),
    params=("window", "use_cohort", "backup_days"))

# Keys plus how many accounts hold each key value (term frequency): agreeing on a
# value that thousands share ("Proud Muslim", a default avatar) says little.
# (the counts stem_n, name_n, avatar_n, bio_n are computed in polars beforehand).
# ``bk``: the account's period of creation, $bucket seconds long (the unit in which
# blocking counts how common a key is, see ``_BLOCK``).
KEYS_TABLE = Step("keys", """
SELECT *, CAST(floor(epoch(t_new) / $bucket) AS BIGINT) AS bk FROM {keys_df}
""", inputs=("keys_df",), output="keys", params=("bucket",))

# The suspended accounts (registered ``suspended_df``, from ``SUSPENDED``) with
# their blocking keys.
SUSP_TABLE = Step("susp", """
SELECT s.account_id, s.last_active, s.first_suspended, s.lower_t, s.upper_t,
       k.stem, k.name_key, k.avatar, k.bio_fp, k.bio_lfp
FROM {suspended_df} s LEFT JOIN {keys} k USING (account_id)
""", inputs=("suspended_df", "keys"), output="susp")

# Candidate successors of one key kind. The key column name is fixed per step.
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
                    (SELECT min(bk) FROM {{keys}})),
           least(CAST(floor(epoch({table}upper_t) / $bucket) AS BIGINT),
                 (SELECT max(bk) FROM {{keys}})) + 1)) AS {alias}"""


_BLOCK = """
WITH common AS (
    SELECT @key@ AS k, bk FROM {keys}
    WHERE @key@ IS NOT NULL
    GROUP BY @key@, bk HAVING count(*) > $max_key_freq
), aw AS (
    SELECT account_id, lower_t, upper_t, first_suspended, @key@ AS k,
           """ + _window_periods("", "bk") + """
    FROM {susp}
    WHERE @key@ IS NOT NULL
), a AS (
    SELECT * FROM aw ANTI JOIN common USING (k, bk)
)
SELECT a.account_id AS previous, b.account_id AS new, @bit@ AS bit
FROM a JOIN {keys} b ON a.k = b.@key@ AND a.bk = b.bk
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t
  AND b.account_id <> a.account_id
""" + _NEAREST


def _block(kind: str, key: str, bit: int) -> Step:
    return Step(f"block_{kind}", _BLOCK.replace("@key@", key).replace("@bit@",
                                                                        str(bit)),
                inputs=("keys", "susp"), output="blocks", kind="append",
                params=("bucket", "max_key_freq", "per_key"))


# Empty table of candidate pairs (previous, new, bit); the blocks append to it.
BLOCKS_TABLE = Step("blocks", """
SELECT account_id AS previous, account_id AS new, 0 AS bit FROM {keys} WHERE false
""", inputs=("keys",), output="blocks")

BLOCK_STEM = _block("stem", "stem", 1)
BLOCK_NAME = _block("display_name", "name_key", 2)
BLOCK_AVATAR = _block("avatar", "avatar", 4)
BLOCK_BIO = _block("bio", "bio_fp", 8)
# the bio's letters only (bit 128): still blocks a copied bio whose emoji or verse
# number was changed
BLOCK_BIO_LETTERS = _block("bio_letters", "bio_lfp", 128)
#: exact-key blocks by key kind (a kind's cap is ``$per_key``)
KEY_BLOCKS = (("stem", BLOCK_STEM), ("display_name", BLOCK_NAME),
              ("avatar", BLOCK_AVATAR), ("bio", BLOCK_BIO),
              ("bio_letters", BLOCK_BIO_LETTERS))

# Handles one edit apart (one-deletion neighbourhood keys of the stem, from
# registered chunks ``dkeys_df(account_id, dkey, t_new, bk)``); bit 32.
DKEYS_TABLE = Step("dkeys", """
SELECT account_id, dkey, t_new, bk FROM {dkeys_df}
""", inputs=("dkeys_df",), output="dkeys")
DKEYS_INSERT = Step("dkeys_append", """
SELECT account_id, dkey, t_new, bk FROM {dkeys_df}
""", inputs=("dkeys_df",), output="dkeys", kind="append")

# (key, period) cells held by more than $max_key_freq accounts are not used, as in
# ``_BLOCK``; counted in Python on the sorted cell codes ``xor(dkey, bk + $offset)``
# (``_blocking.cell_codes``) and registered as ``bigd_df(code)``.
BIG_DKEYS = Step("big_dkeys", "SELECT code FROM {bigd_df}", inputs=("bigd_df",),
                 output="bigdkeys")

# One row per (suspended, window-eligible account, shared key) with the time
# from the suspension, for the suspended accounts of slice $slice of $n_slices
# (by hash of the id), sorted by suspended account and time; the per_key nearest
# distinct accounts are then kept in polars (``_blocking.nearest_distinct``:
# ``_NEAREST`` then DISTINCT pairs).
EDIT_JOIN = Step("edit_join", """
WITH aw AS (
    SELECT s.account_id, s.lower_t, s.upper_t, s.first_suspended, d.dkey,
           """ + _window_periods("s.", "wbk") + """
    FROM {susp} s JOIN {dkeys} d USING (account_id)
    WHERE hash(s.account_id) % $n_slices = $slice
), a AS (
    SELECT * FROM aw
    WHERE xor(dkey, CAST(wbk + $offset AS UBIGINT))
          NOT IN (SELECT code FROM {bigdkeys})
)
SELECT a.account_id AS previous, b.account_id AS new,
       abs(epoch(b.t_new) - epoch(a.first_suspended)) AS dist
FROM a JOIN {dkeys} b ON a.dkey = b.dkey AND a.wbk = b.bk
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t AND b.account_id <> a.account_id
ORDER BY previous, dist, new
""", inputs=("susp", "dkeys", "bigdkeys", "keys"),
    params=("bucket", "n_slices", "slice", "offset"))

# the one-deletion block's candidates, chosen in polars (registered ``edit_df``)
BLOCK_EDIT_INSERT = Step("block_handle_edit", """
SELECT previous, new, 32 AS bit FROM {edit_df}
""", inputs=("edit_df",), output="blocks", kind="append")

# The $per_key accounts created nearest in time to the suspension, whatever they
# share (bit 64): candidates without any agreeing key. Under the model they get
# little probability each, but together they carry the returns that left no
# profile or follower trace, so the expected number of returns is not
# understated (they matter for the rate, never pass a link threshold).
BLOCK_TIME = Step("block_time", """
SELECT a.account_id AS previous, b.account_id AS new, 64 AS bit
FROM {susp} a JOIN {keys} b
  ON b.t_new > a.lower_t AND b.t_new <= a.upper_t
WHERE b.account_id <> a.account_id
""" + _NEAREST, inputs=("susp", "keys"), output="blocks", kind="append",
    params=("per_key",))

# Follows (src follows dst) restricted to the relation 'follows' when the column
# exists; deduplicated. Only lists that a later step can read are kept: those of
# suspended accounts and of accounts created after the earliest search window
# opens (every candidate successor is one), not the whole background.
FOLLOWS_WITH_RELATION = Step("follows", """
SELECT DISTINCT src, dst FROM edges
WHERE (relation IS NULL OR relation = 'follows')
  AND (dst IN (SELECT account_id FROM {susp})
       OR dst IN (SELECT account_id FROM {keys}
                  WHERE t_new > (SELECT min(lower_t) FROM {susp})))
""", inputs=("susp", "keys"), output="follows")

FOLLOWS_NO_RELATION = Step("follows", """
SELECT DISTINCT src, dst FROM edges
WHERE dst IN (SELECT account_id FROM {susp})
   OR dst IN (SELECT account_id FROM {keys}
              WHERE t_new > (SELECT min(lower_t) FROM {susp}))
""", inputs=("susp", "keys"), output="follows")

FOLLOWS_EMPTY = Step("follows", """
SELECT account_id AS src, account_id AS dst FROM {keys} WHERE false
""", inputs=("keys",), output="follows")

# Large follower overlap: pairs (suspended a, window-eligible b) sharing at least
# $min_shared followers. Followers that follow more than $max_hub suspended or new
# accounts (hubs: journalists, researchers, bots) are skipped for blocking only.
# The $per_key candidates kept per suspended account are those with the largest
# Jaccard overlap of their non-hub follower sets (then the most shared
# followers): by raw counts, prominent supporters sharing a few in-network
# followers with everyone crowd out a small new account that holds mostly the
# old one's followers.
BLOCK_FOLLOWERS = Step("block_followers", """
WITH sw AS (
    -- each suspended account's window as 30-day time buckets ($bucket seconds), so
    -- that the join on a shared follower only pairs accounts close in time
    SELECT account_id AS previous,
           """ + _window_periods("", "bk") + """
    FROM {susp}
), fa AS (
    SELECT f.src, f.dst AS previous FROM {follows} f
    JOIN {susp} s ON f.dst = s.account_id
), fb AS (
    SELECT f.src, f.dst AS new, k.bk
    FROM {follows} f
    JOIN {keys} k ON f.dst = k.account_id
    WHERE k.t_new > (SELECT min(lower_t) FROM {susp})
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
JOIN {susp} a ON a.account_id = sh.previous
JOIN {keys} b ON b.account_id = sh.new
JOIN nfa na ON na.account_id = sh.previous
JOIN nfb nb ON nb.account_id = sh.new
WHERE b.t_new > a.lower_t AND b.t_new <= a.upper_t
QUALIFY row_number() OVER (
    PARTITION BY sh.previous
    ORDER BY sh.n_shared / (na.n + nb.n - sh.n_shared) DESC, sh.n_shared DESC,
             sh.new) <= $per_key
""", inputs=("susp", "follows", "keys"), output="blocks", kind="append",
    params=("bucket", "max_hub", "min_shared", "per_key"))

# candidate pairs per blocking key (bit)
BLOCK_COUNTS = Step("block_counts",
                    "SELECT bit, count(*) AS n FROM {blocks} GROUP BY bit",
                    inputs=("blocks",))

# random pairs (registered ``random_df``) go through the pair steps as ``pairs``
RANDOM_PAIRS = Step("random_pairs", "SELECT * FROM {random_df}",
                    inputs=("random_df",), output="pairs")

PAIRS = Step("pairs", """
SELECT previous, new, bit_or(bit) AS keys
FROM {blocks}
GROUP BY previous, new
""", inputs=("blocks",), output="pairs")

# Follower-set sizes of every account in a pair, and shared followers per pair.
FOLLOWER_COUNTS = Step("follower_counts", """
SELECT dst AS account_id, count(*) AS n_followers
FROM {follows}
WHERE dst IN (SELECT previous FROM {pairs}) OR dst IN (SELECT new FROM {pairs})
GROUP BY dst
""", inputs=("follows", "pairs"), output="nfol")

SHARED_FOLLOWERS = Step("shared_followers", """
WITH fa AS (
    SELECT f.src, f.dst FROM {follows} f
    WHERE f.dst IN (SELECT previous FROM {pairs})
), fb AS (
    SELECT f.src, f.dst FROM {follows} f
    WHERE f.dst IN (SELECT new FROM {pairs})
)
SELECT p.previous, p.new, count(*) AS n_shared
FROM {pairs} p
JOIN fa ON fa.dst = p.previous
JOIN fb ON fb.dst = p.new AND fb.src = fa.src
GROUP BY p.previous, p.new
""", inputs=("follows", "pairs"), output="shared")

# The same pairs with numbers only: the strings are gathered in polars from the
# keys frame by row position (``kx``, the row index of the keys frame) batch by
# batch, so DuckDB never joins, stores or converts the strings of all pairs.
PAIR_FRAME = Step("pair_frame", """
SELECT p.previous, p.new, p.keys,
       a.kx AS kx_prev, b.kx AS kx_new,
       s.last_active, s.first_suspended, b.t_new AS created_new,
       coalesce(na.n_followers, 0) AS n_followers_prev,
       coalesce(nb.n_followers, 0) AS n_followers_new,
       coalesce(sh.n_shared, 0) AS n_shared
FROM {pairs} p
JOIN {susp} s ON s.account_id = p.previous
LEFT JOIN {keys} a ON a.account_id = p.previous
JOIN {keys} b ON b.account_id = p.new
LEFT JOIN {nfol} na ON na.account_id = p.previous
LEFT JOIN {nfol} nb ON nb.account_id = p.new
LEFT JOIN {shared} sh ON sh.previous = p.previous AND sh.new = p.new
""", inputs=("pairs", "susp", "keys", "nfol", "shared"))

# Followers of each linked new account (registered ``age_ids``: account_id,
# t_new) about $age_days after its creation: the active look-up nearest to
# created + age within $tol_days (null when none is that close).
FOLLOWERS_AT_AGE = Step("followers_at_age", """
SELECT o.account_id,
       arg_min(o.followers_count,
               abs(epoch(o.observed_at) - epoch(k.t_new) - $age_days * 86400.0))
           AS followers_at_age
FROM observations o
JOIN {age_ids} k USING (account_id)
WHERE o.status = 'active' AND o.followers_count IS NOT NULL
  AND abs(epoch(o.observed_at) - epoch(k.t_new) - $age_days * 86400.0)
      <= $tol_days * 86400.0
GROUP BY o.account_id
""", inputs=("age_ids",), params=("age_days", "tol_days"))
# the pair frame's columns without rows (when there is no candidate pair)
PAIR_FRAME_EMPTY = Step("pair_frame_empty", PAIR_FRAME.sql + "LIMIT 0",
                        inputs=PAIR_FRAME.inputs)
