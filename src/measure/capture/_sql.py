"""Named SQL steps of ``measure.capture`` (DuckDB; parameters bound, never formatted).

Each step can be printed and run on its own against a dataset's connection
(``ds.sql(STEP, params)``).
"""

# Sources present, with the number of distinct accounts each detected.
SOURCE_SIZES = """
SELECT source, count(DISTINCT account_id) AS n
FROM detections
GROUP BY source
ORDER BY source
"""

# Capture-pattern counts: for each account, the bit mask of the sources (bit j set
# when the account is on source $sources[j+1]); then the number of accounts per mask.
# $sources is the ordered list of source names to use (others are ignored).
PATTERN_COUNTS = """
WITH caught AS (
  SELECT account_id,
         bit_or(CAST(1 AS BIGINT) << (list_position($sources, source) - 1)) AS mask
  FROM detections
  WHERE list_contains($sources, source)
  GROUP BY account_id
)
SELECT mask, count(*) AS n
FROM caught
GROUP BY mask
ORDER BY mask
"""

# Accounts detected by more than one row of the same source (duplicates are
# harmless for the pattern counts, but reported).
DUPLICATE_DETECTIONS = """
SELECT count(*) AS n
FROM (SELECT account_id, source FROM detections
      GROUP BY account_id, source HAVING count(*) > 1)
"""

# Detections kept for an analysis: every row, or only those detected between
# $start and $end (inclusive; rows without detected_at are then left out).
# $sources is the ordered list of source names to use.
KEPT_DETECTIONS = """
SELECT account_id, source, detected_at
FROM detections
WHERE list_contains($sources, source)
  AND ($start IS NULL OR (detected_at IS NOT NULL AND detected_at >= $start))
  AND ($end IS NULL OR (detected_at IS NOT NULL AND detected_at <= $end))
"""

# When each source detected its accounts (kept detections only), and how many
# rows have no detection time.
DETECTION_SPAN = """
WITH kept AS (""" + KEPT_DETECTIONS + """)
SELECT source, min(detected_at) AS first, max(detected_at) AS last,
       count(DISTINCT account_id) AS n,
       count(*) FILTER (WHERE detected_at IS NULL) AS undated
FROM kept
GROUP BY source
ORDER BY source
"""

# Turnover among the detected accounts during [$span_start, $span_end]: accounts
# created after the span began, and accounts first seen suspended (or not found)
# before it ended; from ``accounts.created_at`` and ``observations``.
TURNOVER = """
WITH kept AS (SELECT DISTINCT account_id FROM (""" + KEPT_DETECTIONS + """)),
born AS (
  SELECT k.account_id, a.created_at
  FROM kept k LEFT JOIN accounts a USING (account_id)
),
gone AS (
  SELECT account_id, min(observed_at) AS gone_at
  FROM observations
  WHERE status IN ('suspended', 'not_found', 'deactivated')
    AND account_id IN (SELECT account_id FROM kept)
  GROUP BY account_id
)
SELECT count(*) AS n,
       count(*) FILTER (WHERE b.created_at > $span_start) AS created_during,
       count(*) FILTER (WHERE g.gone_at < $span_end) AS gone_during,
       count(*) FILTER (WHERE b.created_at > $span_start
                         OR g.gone_at < $span_end) AS turned_over
FROM born b LEFT JOIN gone g USING (account_id)
"""

# Capture pattern (bit mask) of each detected account (kept detections).
ACCOUNT_MASKS = """
WITH kept AS (""" + KEPT_DETECTIONS + """)
SELECT account_id,
       bit_or(CAST(1 AS BIGINT) << (list_position($sources, source) - 1)) AS mask
FROM kept
GROUP BY account_id
ORDER BY account_id
"""

# Capture-pattern counts of the kept detections (see PATTERN_COUNTS).
WINDOW_PATTERN_COUNTS = """
SELECT mask, count(*) AS n
FROM (""" + ACCOUNT_MASKS + """)
GROUP BY mask
ORDER BY mask
"""

# What each detected account (kept detections) tells about when it was alive: its
# capture pattern, its creation time, the last time it was known alive (its last
# detection or active look-up) and the first look-up finding it gone after that.
# $sources as in PATTERN_COUNTS.
ACCOUNT_EVIDENCE = """
WITH kept AS (""" + KEPT_DETECTIONS + """),
det AS (
  SELECT account_id,
         bit_or(CAST(1 AS BIGINT) << (list_position($sources, source) - 1)) AS mask,
         max(detected_at) AS last_detected
  FROM kept
  GROUP BY account_id
),
active AS (
  SELECT account_id, max(observed_at) AS last_active
  FROM observations
  WHERE status = 'active' AND account_id IN (SELECT account_id FROM det)
  GROUP BY account_id
),
alive AS (
  SELECT d.account_id, d.mask,
         CASE WHEN a.last_active IS NULL OR a.last_active < d.last_detected
              THEN d.last_detected ELSE a.last_active END AS last_alive
  FROM det d LEFT JOIN active a USING (account_id)
),
gone AS (
  SELECT o.account_id, min(o.observed_at) AS first_gone
  FROM observations o JOIN alive v USING (account_id)
  WHERE o.status IN ('suspended', 'not_found', 'deactivated')
    AND (v.last_alive IS NULL OR o.observed_at > v.last_alive)
  GROUP BY o.account_id
)
SELECT v.account_id, v.mask, c.created_at, v.last_alive, g.first_gone
FROM alive v
LEFT JOIN accounts c USING (account_id)
LEFT JOIN gone g USING (account_id)
ORDER BY v.account_id
"""

# The same without look-ups (no ``observations`` table).
ACCOUNT_EVIDENCE_NO_LOOKUPS = """
WITH kept AS (""" + KEPT_DETECTIONS + """)
SELECT k.account_id,
       bit_or(CAST(1 AS BIGINT) << (list_position($sources, k.source) - 1)) AS mask,
       any_value(c.created_at) AS created_at,
       max(k.detected_at) AS last_alive,
       CAST(NULL AS TIMESTAMPTZ) AS first_gone
FROM kept k LEFT JOIN accounts c USING (account_id)
GROUP BY k.account_id
ORDER BY k.account_id
"""
