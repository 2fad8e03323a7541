"""Resurrection: link accounts that return after suspension and measure returns.

``analyze(ds, ...)`` runs the whole procedure on a dataset with ``accounts`` and
``observations`` (and ``edges`` for follower overlap):

1. suspension events from look-ups (interval between last active and first
   suspended);
2. candidate successors by blocking in DuckDB (handle stem after NFKC and case
   folding, display name, avatar hash, bio fingerprint, shared followers), created
   within ``window`` days of the suspension;
3. comparison features on characters (rapidfuzz) and a Fellegi-Sunter model fitted
   by EM (or a supervised logit when labelled pairs are given);
4. one-to-one links in time order above a threshold, forming lineages
   ``a1 -> a2 -> a3``;
5. return rate as a Kaplan-Meier time-to-return curve censored at the end of
   observation, pooled over link draws by Rubin's rules; median delay; follower
   recovery by incarnation; accounts per presumed actor.

The result's ``links`` table has ``new, previous, probability, delay_days`` and
``lineages`` has ``actor_id, accounts`` (ordered).
"""

from __future__ import annotations

from measure.resurrection._analyze import analyze
from measure.resurrection._result import ResurrectionResult

__all__ = ["ResurrectionResult", "analyze"]
