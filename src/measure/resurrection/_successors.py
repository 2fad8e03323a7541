"""Agreement of the successor links with the platform's own ``successors`` table.

Some platforms say themselves which account continues an old one: a Mastodon
account that moved carries ``moved`` (the ingest writes it to the optional table
``successors``: ``account_id, successor_id, observed_at, source``). Such a row is a
labelled pair, an audit the platform supplies. :func:`successor_agreement` scores
the linker against it:

* **scope** -- the linker studies suspensions, so a labelled pair counts only when
  its predecessor is one of the suspension events (:class:`SuspensionEvents`). A
  moved account is ``deactivated`` at its old id, not ``suspended``: a voluntary
  move is a different event from a suspension and does not enter the events (the
  return rate stays a rate of returns after suspension). Labelled predecessors
  outside the events are counted by reason (``not_suspended:<last status>``,
  ``not_in_cohort``, ``not_observed``), never dropped silently;
* **precision** -- among the linker's accepted links from labelled predecessors in
  scope, the share that point at the labelled successor;
* **recall** -- among the labelled pairs in scope, the share the linker accepted
  at its threshold; ``recall_among_candidates`` restricts the denominator to the
  labelled pairs blocking proposed, which separates misses of blocking (and of the
  search window) from misses of the model and threshold.

The intervals are Wilson score intervals (Wilson 1927) that treat the labelled
pairs in scope as a random sample of the linker's true pairs. Platform-labelled
pairs are a selected set (actors who announced their new account), so the
intervals speak for the sampling variation of that set only.

:func:`successor_sheet` turns the labelled predecessors in scope into a coded
audit sheet of :mod:`measure.resurrection._audit`: every candidate pair of a
labelled predecessor is coded (1 for its labelled successor, 0 for the others),
stratified as :func:`~measure.resurrection._audit.strata_of` stratifies a hand
audit, with ``N_h`` the stratum's candidate pairs and ``n_h`` the coded ones.
``analyze(..., successors="audit")`` recalibrates the link probabilities on it.
That is valid only under the audit's assumption that coded pairs are missing at
random within their stratum: whether a predecessor carries a platform label must
be unrelated to whether its candidate pairs match, beyond what the model's
probability says. An announced move usually leaves a stronger trace (same name,
"moved from" in the bio) than a covert return after a suspension, so on most data
the labelled pairs are easier than the rest and a recalibration on them alone
overstates the probabilities of the others.

References: Wilson, E. B. (1927). Probable inference, the law of succession, and
statistical inference. *JASA* 22(158), 209-212; Christen, P. (2012). *Data
Matching*, ch. 7 (precision and recall of record linkage against true matches).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from measure._results import Estimate
from measure._stats import wilson_interval
from measure.errors import ConfigError, EstimationError

#: Values of ``analyze(successors=...)``.
SUCCESSOR_MODES = ("report", "audit", "ignore")

METHOD = "platform-labelled pairs (successors table), Wilson score interval"
ASSUMPTIONS = (
    "the platform's links are correct: each labelled successor continues its "
    "predecessor",
    "the interval treats the labelled pairs in scope as a random sample of the "
    "linker's true pairs; pairs a platform labels (announced moves) are a selected "
    "set, so the interval covers their sampling variation only",
)


def check_mode(successors: Any, audit: Any) -> str:
    """Validate ``analyze``'s ``successors`` option against its ``audit`` option."""
    mode = "ignore" if successors is None else successors
    if mode not in SUCCESSOR_MODES:
        raise ConfigError(f"option 'successors' must be one of "
                          f"{', '.join(SUCCESSOR_MODES)} (or None), got {successors!r}")
    if mode == "audit" and audit is not None:
        raise ConfigError("give either a hand audit (audit=) or successors='audit', "
                          "not both: each is a recalibration sample of its own design")
    return mode


def read_successors(ds: Any, id_dtype: pl.DataType | None = None
                    ) -> pl.DataFrame | None:
    """Read the distinct labelled pairs of the dataset's ``successors`` table.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset`.
    id_dtype
        Cast both ids to this type (the ``accounts`` ids).

    Returns
    -------
    polars.DataFrame or None
        ``previous, new, first_observed, source`` (one row per pair, its earliest
        ``observed_at`` and the sources that showed it, joined by ``,``), sorted;
        ``None`` when the dataset has no ``successors`` table. Rows that name the
        account itself as its successor are left out.
    """
    if not ds.has("successors"):
        return None
    obs = ("min(observed_at)" if ds.has_column("successors", "observed_at")
           else "CAST(NULL AS TIMESTAMPTZ)")
    src = ("string_agg(DISTINCT source, ',' ORDER BY source)"
           if ds.has_column("successors", "source") else "CAST(NULL AS VARCHAR)")
    df = ds.sql(f"""
        SELECT account_id AS previous, successor_id AS new,
               {obs} AS first_observed, {src} AS source
        FROM successors
        WHERE account_id IS NOT NULL AND successor_id IS NOT NULL
          AND account_id <> successor_id
        GROUP BY account_id, successor_id
        ORDER BY account_id, successor_id""")
    if id_dtype is not None:
        df = df.with_columns(pl.col("previous", "new").cast(id_dtype))
    return df


def _proportion(term: str, x: int, n: int, level: float, what: str) -> Estimate:
    if n == 0:
        return Estimate.invalid(term, f"no {what}", method=METHOD, level=level, n=0)
    lo, hi = wilson_interval(x, n, level=level)
    p = x / n
    return Estimate(term=term, estimate=float(p),
                    ci=(float(np.asarray(lo).item()), float(np.asarray(hi).item())),
                    level=level, std_error=float(math.sqrt(p * (1 - p) / n)),
                    method=METHOD, n=int(n), assumptions=ASSUMPTIONS)


@dataclass(frozen=True)
class SuccessorAgreement:
    """How the linker's links agree with the platform's labelled pairs.

    Attributes
    ----------
    n_pairs, n_predecessors
        Distinct labelled pairs in ``successors`` and their predecessors.
    n_in_scope
        Labelled pairs whose predecessor is a suspension event the linker studies.
    out_of_scope
        Labelled pairs outside the linker's scope by reason:
        ``not_suspended:<last status>`` (never seen suspended, e.g. a moved
        account, ``deactivated``), ``not_in_cohort`` (suspended but outside the
        cohort), ``not_observed`` (never looked up).
    n_in_window
        Pairs in scope whose successor was created inside the predecessor's
        search window (where the linker looks).
    n_candidates
        Pairs in scope that blocking proposed (scored candidate pairs).
    n_links, n_agree
        The linker's accepted links from labelled predecessors in scope, and those
        of them that point at a labelled successor.
    n_linked_pairs
        Labelled pairs in scope the linker accepted.
    precision, recall, recall_among_candidates
        ``n_agree / n_links``, ``n_linked_pairs / n_in_scope`` and
        ``n_linked_pairs / n_candidates`` (Wilson intervals).
    expected_precision
        Mean model probability of the ``n_links`` links: what the model expects
        the precision to be.
    threshold
        The linker's probability threshold.
    pairs
        One row per labelled pair: ``previous, new, first_observed, source,
        scope`` (``in_scope`` or the reason), ``in_window``, ``candidate``,
        ``probability`` (one-to-one probability of the pair, null when not a
        candidate), ``linked_to`` (the linker's successor of ``previous``) and
        ``agree`` (the link is this pair; both null outside the scope).
    recalibrated
        Whether the link draws behind the rates were recalibrated on these pairs
        (``successors="audit"``).
    """

    n_pairs: int
    n_predecessors: int
    n_in_scope: int
    out_of_scope: dict[str, int]
    n_in_window: int
    n_candidates: int
    n_links: int
    n_agree: int
    n_linked_pairs: int
    precision: Estimate
    recall: Estimate
    recall_among_candidates: Estimate
    expected_precision: float
    threshold: float
    pairs: pl.DataFrame = field(repr=False)
    recalibrated: bool = False
    level: float = 0.95

    def estimates(self) -> list[Estimate]:
        """Return precision, recall and recall among candidates."""
        return [self.precision, self.recall, self.recall_among_candidates]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (the ``successors`` block of ``--json``)."""

        def num(e: Estimate) -> float | None:
            return None if math.isnan(e.estimate) else e.estimate

        def ci(e: Estimate) -> list[float | None]:
            return [None if math.isnan(c) else c for c in e.ci]

        return {
            "n_pairs": self.n_pairs,
            "n_predecessors": self.n_predecessors,
            "n_in_scope": self.n_in_scope,
            "out_of_scope": dict(self.out_of_scope),
            "n_in_window": self.n_in_window,
            "n_candidates": self.n_candidates,
            "n_links": self.n_links,
            "n_agree": self.n_agree,
            "n_linked_pairs": self.n_linked_pairs,
            "precision": num(self.precision),
            "precision_ci": ci(self.precision),
            "recall": num(self.recall),
            "recall_ci": ci(self.recall),
            "recall_among_candidates": num(self.recall_among_candidates),
            "recall_among_candidates_ci": ci(self.recall_among_candidates),
            "expected_precision": (None if math.isnan(self.expected_precision)
                                   else self.expected_precision),
            "threshold": self.threshold,
            "level": self.level,
            "recalibrated": self.recalibrated,
            "detail": {e.term: e.to_dict() for e in self.estimates()},
        }

    def scope_note(self) -> str:
        """One sentence on the labelled pairs outside the linker's scope."""
        if not self.out_of_scope:
            return "every labelled predecessor is a suspension event"
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(self.out_of_scope.items()))
        return (f"{self.n_pairs - self.n_in_scope} labelled pair(s) outside the "
                f"suspension events ({parts}); not scored")

    def summary_lines(self) -> list[str]:
        """Two lines for :meth:`ResurrectionResult.summary`."""

        def pct(e: Estimate) -> str:
            if not e.valid:
                return "NA"
            return f"{e.estimate:.3f} [{e.ci[0]:.3f}, {e.ci[1]:.3f}]"

        return [f"agreement with the platform's successors table: precision "
                f"{pct(self.precision)} ({self.n_agree} of {self.n_links} links), "
                f"recall {pct(self.recall)} ({self.n_linked_pairs} of "
                f"{self.n_in_scope} labelled pairs in scope)",
                f"  {self.scope_note()}"
                + ("; the link probabilities behind the rates are recalibrated on "
                   "them" if self.recalibrated else "")]

    def summary(self) -> str:
        """Text summary."""
        lines = ["Agreement with the platform's successors table (labelled pairs)",
                 f"  labelled pairs: {self.n_pairs} ({self.n_predecessors} "
                 f"predecessors); in scope: {self.n_in_scope}; in the search "
                 f"window: {self.n_in_window}; proposed by blocking: "
                 f"{self.n_candidates}",
                 f"  {self.scope_note()}"]
        for e in self.estimates():
            lines.extend("  " + x for x in e.summary().splitlines()
                         if not x.strip().startswith("assumes"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


def successor_agreement(ds: Any, events: Any, scores: Any, links: Any, *,
                        level: float = 0.95, recalibrated: bool = False
                        ) -> SuccessorAgreement | None:
    """Score the accepted links against the platform's ``successors`` table.

    Parameters
    ----------
    ds
        The dataset (``successors`` and ``observations`` are read).
    events, scores, links
        Outputs of :func:`~measure.resurrection.suspension_events`,
        :func:`~measure.resurrection.score` and
        :func:`~measure.resurrection.assign`.
    level
        Confidence level of the Wilson intervals.
    recalibrated
        Recorded in the result: the rates were recalibrated on these pairs.

    Returns
    -------
    SuccessorAgreement or None
        ``None`` when the dataset has no ``successors`` table.

    Notes
    -----
    See the module docstring for scope, definitions and assumptions. A
    predecessor with several labelled successors (it moved twice) gives one pair
    each; a link agrees when it points at any of them.
    """
    id_dtype = events.accounts.schema["account_id"]
    lab = read_successors(ds, id_dtype)
    if lab is None:
        return None
    susp = events.suspended
    seen = ds.sql("""
        SELECT o.account_id AS previous,
               bool_or(o.status = 'suspended') AS ever_suspended,
               arg_max(o.status, o.observed_at) AS last_status
        FROM observations o
        WHERE o.account_id IN (SELECT account_id FROM successors)
        GROUP BY o.account_id""").with_columns(pl.col("previous").cast(id_dtype))
    in_scope = susp.select(pl.col("account_id").alias("previous"), "lower_t",
                           "upper_t", pl.lit(True).alias("_scope"))
    created = events.accounts.select(pl.col("account_id").alias("new"),
                                     pl.col("t_new").alias("_created"))
    cand = scores.pairs.select("previous", "new", "probability")
    linked = links.links.select("previous", pl.col("new").alias("linked_to"),
                                pl.col("probability").alias("_link_p"))
    df = (lab.join(in_scope, on="previous", how="left")
          .join(seen, on="previous", how="left")
          .join(created, on="new", how="left")
          .join(cand, on=["previous", "new"], how="left")
          .join(linked, on="previous", how="left"))
    scope = (pl.when(pl.col("_scope").fill_null(False)).then(pl.lit("in_scope"))
             .when(pl.col("ever_suspended").fill_null(False))
             .then(pl.lit("not_in_cohort"))
             .when(pl.col("last_status").is_not_null())
             .then(pl.lit("not_suspended:") + pl.col("last_status"))
             .otherwise(pl.lit("not_observed")))
    df = df.with_columns(scope.alias("scope")).with_columns(
        pl.when(pl.col("scope") == "in_scope").then(
            (pl.col("_created") > pl.col("lower_t"))
            & (pl.col("_created") <= pl.col("upper_t"))).alias("in_window"),
        pl.col("probability").is_not_null().alias("candidate"),
        (pl.col("linked_to") == pl.col("new")).fill_null(False).alias("agree"))
    inn = df.filter(pl.col("scope") == "in_scope")
    # one link per predecessor: it agrees when it points at any labelled successor
    per_pred = inn.filter(pl.col("linked_to").is_not_null()).group_by("previous").agg(
        pl.col("agree").any(), pl.col("_link_p").first())
    n_links, n_agree = per_pred.height, int(per_pred["agree"].sum())
    n_in, n_cand = inn.height, int(inn["candidate"].sum())
    n_linked_pairs = int(inn["agree"].sum())
    out = (df.filter(pl.col("scope") != "in_scope").group_by("scope").len()
           .sort("scope"))
    pairs = df.select("previous", "new", "first_observed", "source", "scope",
                      "in_window", "candidate", "probability",
                      *(pl.when(pl.col("scope") == "in_scope").then(pl.col(c))
                        .alias(c) for c in ("linked_to", "agree")))
    return SuccessorAgreement(
        n_pairs=lab.height, n_predecessors=lab["previous"].n_unique(),
        n_in_scope=n_in,
        out_of_scope={str(k): int(v) for k, v in out.iter_rows()},
        n_in_window=int(inn["in_window"].fill_null(False).sum()),
        n_candidates=n_cand, n_links=n_links, n_agree=n_agree,
        n_linked_pairs=n_linked_pairs,
        precision=_proportion("successor_precision", n_agree, n_links, level,
                              "link from a labelled predecessor in scope"),
        recall=_proportion("successor_recall", n_linked_pairs, n_in, level,
                           "labelled pair in scope"),
        recall_among_candidates=_proportion(
            "successor_recall_among_candidates", n_linked_pairs, n_cand, level,
            "labelled pair in scope among the candidate pairs"),
        expected_precision=(float(per_pred["_link_p"].mean()) if n_links
                            else float("nan")),
        threshold=float(links.threshold), pairs=pairs, recalibrated=recalibrated,
        level=level)


def successor_sheet(agreement: SuccessorAgreement, scores: Any, links: Any
                    ) -> pl.DataFrame:
    """Make a coded audit sheet from the labelled predecessors in scope.

    Parameters
    ----------
    agreement
        Output of :func:`successor_agreement`.
    scores, links
        The scored candidate pairs and accepted links the agreement was made
        from.

    Returns
    -------
    polars.DataFrame
        ``previous, new, stratum, N_h, n_h, match`` (as a coded sheet of
        :func:`~measure.resurrection._audit.draw_audit`): every candidate pair of
        a labelled predecessor in scope, ``match`` 1 for a labelled successor and
        0 for the others; strata as in
        :func:`~measure.resurrection._audit.strata_of` with ``N_h`` the
        stratum's candidate pairs (all predecessors) and ``n_h`` its coded ones.

    Raises
    ------
    EstimationError
        When no labelled predecessor in scope has a candidate pair.
    """
    from measure.resurrection._audit import strata_of

    lab = agreement.pairs.filter(pl.col("scope") == "in_scope").select(
        "previous", "new", pl.lit(1.0).alias("match"))
    st = strata_of(scores.pairs, links.links)
    coded = (st.join(lab.select("previous").unique(), on="previous", how="semi")
             .join(lab, on=["previous", "new"], how="left")
             .with_columns(pl.col("match").fill_null(0.0)))
    if coded.height == 0:
        raise EstimationError(
            f"successors='audit': none of the {agreement.n_in_scope} labelled "
            f"pair(s) in scope has a candidate pair ({agreement.scope_note()}); "
            "nothing to recalibrate on")
    sizes = st.group_by("stratum").len().rename({"len": "N_h"})
    n_h = coded.group_by("stratum").len().rename({"len": "n_h"})
    return (coded.join(sizes, on="stratum").join(n_h, on="stratum")
            .select(pl.col("previous").cast(pl.String), pl.col("new").cast(pl.String),
                    "stratum", "N_h", "n_h", "match")
            .sort("previous", "new"))


__all__ = ["SUCCESSOR_MODES", "SuccessorAgreement", "check_mode", "read_successors",
           "successor_agreement", "successor_sheet"]
