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
