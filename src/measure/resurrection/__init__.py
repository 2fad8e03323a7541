"""Resurrection: link accounts that return after suspension and measure returns.

``analyze(ds, ...)`` runs the whole procedure on a dataset with ``accounts`` and
``observations`` (and ``edges`` for follower overlap):

1. suspension events from look-ups (interval between last active and first
   suspended);
2. candidate successors by blocking in DuckDB (handle stem after NFKC and case
   folding, display name, avatar hash, bio fingerprint, shared followers), created
   within ``window`` days after the suspension or up to ``backup_days`` before it
   (backups: accounts opened while the old one was still alive);
3. comparison features on characters (rapidfuzz) and a Fellegi-Sunter model fitted
   by EM (or a supervised logit when labelled pairs are given);
4. one-to-one links in time order above a threshold, forming lineages
   ``a1 -> a2 -> a3``;
5. return rate as a Kaplan-Meier time-to-return curve censored at the end of
   observation, pooled over link draws by Rubin's rules; median delay; follower
   recovery by incarnation; accounts per presumed actor.

Each step is also a public stage with a frozen output, so that it can be run,
inspected and tested on its own::

    settings = LinkageSettings()
    events = suspension_events(ds, window=60, settings=settings)
    candidates = block(ds, events, settings)
    scores = score(candidates)
    links = assign(scores, events)
    returns = measure_returns(ds, events, scores, links)

The blocking and model knobs live in :class:`LinkageSettings` (frozen, JSON
round-trip); ``analyze(ds, settings=...)`` takes one.

The result's ``links`` table has ``new, previous, probability, delay_days,
created_new, backup`` (a backup was created before the suspension; its delay is
0) and ``lineages`` has ``actor_id, accounts`` (ordered).

A hand audit checks the links: ``result.draw_audit(n)`` (CLI ``--audit-out``)
draws a stratified sample of candidate pairs to code, ``result.audit(sheet)``
(CLI ``--audit``) estimates link precision and recall among candidate pairs from
the coded sheet (:mod:`measure.resurrection._audit`).
"""

from __future__ import annotations

from measure.resurrection._analyze import analyze
from measure.resurrection._audit import LinkAudit, audit_links, draw_audit
from measure.resurrection._result import ResurrectionResult
from measure.resurrection._settings import LinkageSettings
from measure.resurrection._stages import (
    Candidates,
    Links,
    ReturnMeasures,
    Scores,
    SuspensionEvents,
    assign,
    block,
    measure_returns,
    score,
    suspension_events,
)

__all__ = ["Candidates", "LinkAudit", "LinkageSettings", "Links", "ResurrectionResult",
           "ReturnMeasures", "Scores", "SuspensionEvents", "analyze", "assign",
           "audit_links", "block", "draw_audit", "measure_returns", "score",
           "suspension_events"]
