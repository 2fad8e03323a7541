"""SQL steps of the churn family (DuckDB), one named constant per step.

Every step reads the dataset's views (``observations``, ``accounts``) and, where a
cohort restricts the analysis, the registered relation ``_churn_cohort(account_id)``.
Values are bound with ``?``; the only identifiers that enter a statement are column
names checked against the ``accounts`` table's own columns (see
:func:`account_filter`), quoted with :func:`quote_ident`.

Statuses: ``active`` and ``protected`` mean the account exists (at risk);
``suspended`` is the event of interest; ``not_found`` and ``deactivated`` mean the
owner removed (or renamed away) the account -- the competing event. ``unknown``
look-ups say nothing about the account and are left out, as if never made.
"""

from __future__ import annotations

ALIVE = ("active", "protected")
GONE = ("not_found", "deactivated")

#: Step 1: one row per looked-up account: first look-up, first and last look-up
#: alive (any time), first suspended and first gone look-up (one scan, one hash
#: aggregate; the panel's largest cost). ``{cohort}`` is either empty or a
#: semi-join on the registered cohort relation (a fixed string, never user text).
LOOKUP_SUMMARY = """
SELECT
    o.account_id,
    min(o.observed_at) AS first_look,
    min(o.observed_at) FILTER (WHERE o.status IN ('active', 'protected'))
        AS first_alive,
    max(o.observed_at) FILTER (WHERE o.status IN ('active', 'protected'))
        AS last_alive_any,
    min(o.observed_at) FILTER (WHERE o.status = 'suspended') AS first_suspended,
    min(o.observed_at) FILTER (WHERE o.status IN ('not_found', 'deactivated'))
        AS first_gone
FROM observations AS o
{cohort}
WHERE o.status <> 'unknown'
GROUP BY o.account_id
"""

COHORT_JOIN = "SEMI JOIN _churn_cohort AS c ON o.account_id = c.account_id"

#: Step 1b (only when counts exist): counts at the first active look-up.
#: ``{columns}`` is built from the fixed names in ``ENTRY_COUNT_COLUMNS``.
ENTRY_COUNT_COLUMNS = {"followers_at_entry": "followers_count",
                       "statuses_at_entry": "statuses_count",
                       "friends_at_entry": "friends_count"}
ENTRY_COUNT_ITEM = "arg_min(o.{src}, o.observed_at) AS {name}"
ENTRY_COUNTS = """
SELECT
    o.account_id,
    {columns}
FROM observations AS o
{cohort}
WHERE o.status = 'active'
GROUP BY o.account_id
"""

#: Step 2: for the (rare) accounts seen alive again after their first terminal
#: look-up (reinstated, or a handle that came back), the last alive look-up *before*
#: the first terminal one. Reads the temporary table ``_churn_fix(account_id,
#: first_terminal)``.
LAST_ALIVE_BEFORE = """
SELECT o.account_id, max(o.observed_at) AS last_alive
FROM observations AS o
JOIN _churn_fix AS f ON o.account_id = f.account_id
WHERE o.status IN ('active', 'protected') AND o.observed_at < f.first_terminal
GROUP BY o.account_id
"""

#: Step 2b: accounts seen active again after a suspended look-up (reinstated), with
#: the first such look-up: the "returned" flow of the stock-and-flow table.
RETURNED = """
SELECT o.account_id, min(o.observed_at) AS returned_at
FROM observations AS o
JOIN _churn_fix AS f ON o.account_id = f.account_id
WHERE o.status IN ('active', 'protected') AND o.observed_at > f.first_terminal
GROUP BY o.account_id
"""

#: Step 2c (``complete_followup`` only): the panel's first and last look-up.
PANEL_SPAN = """
SELECT min(o.observed_at) AS first_look, max(o.observed_at) AS last_look
FROM observations AS o
WHERE o.status <> 'unknown'
"""

#: Step 3: account attributes for the accounts in the summary.
#: ``{columns}`` is a list of checked, quoted ``accounts`` columns (may be empty),
#: ``{where}`` a conjunction of checked predicates with ``?`` placeholders.
ACCOUNT_ATTRIBUTES = """
SELECT a.account_id{columns}
FROM accounts AS a
WHERE {where}
"""


def quote_ident(name: str) -> str:
    """Quote a (checked) identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'
