"""Brookings-style census: frame, sorting metrics, coding samples and estimators.

Reproduces the procedure of Berger & Morgan (2015), *The ISIS Twitter Census*
(Brookings Analysis Paper 20) as a reusable estimator with honest uncertainty:

1. :func:`build_frame` / :func:`frame` - the snowball frame from ``seeds``, ``crawls``
   and ``edges`` with in-network metrics computed only from collected lists (§3.4,
   §3.6, App. A);
2. :func:`draw_sample` / :func:`record_design` / :func:`import_codes` - a stratified
   coding sample (level x metric band) and its design, recorded in the dataset;
3. :func:`analyze` - the supporter total corrected for coder error estimated from
   the coded data (:func:`sample_posterior`, :func:`fit_coder_model`), the
   uncorrected stratified estimate with FPC and a MOVER-Wilson interval,
   Brookings-style "at least"/"at most" bounds, a model-assisted (difference)
   estimate, a frame classifier (``population`` table), Cohen's kappa, a
   misclassification (Rogan-Gladen) sensitivity grid and the frame's coverage of
   the platform's supporters (:func:`frame_coverage`).

The estimator functions on stratum summaries live in :mod:`measure.census.estimators`.
"""

from pathlib import Path

from measure.census import _estimate as estimators
from measure.census._analyze import analyze, resolve_labels
from measure.census._coders import (
    CoderModel,
    CoderPosterior,
    Priors,
    fit_coder_model,
    sample_posterior,
)
from measure.census._coverage import FrameCoverage, frame_coverage
from measure.census._frame import (
    FrameInfo,
    build_frame,
    frame,
    frame_counts,
    frame_info,
    write_frame,
)
from measure.census._plan import CodingPlan, plan, plan_codes
from measure.census._result import CensusResult
from measure.census._sample import (
    SampleDraw,
    draw_sample,
    import_codes,
    record_design,
    stratify,
    write_sheet,
)
from measure.census._sql import METRICS
from measure.dataset import Dataset

__all__ = [
    "METRICS", "CensusResult", "CoderModel", "CoderPosterior", "CodingPlan",
    "FrameCoverage",
    "FrameInfo", "Priors", "SampleDraw", "analyze", "build_frame", "draw_sample",
    "estimators", "fit_coder_model", "frame", "frame_counts", "frame_coverage",
    "frame_info", "import_codes", "plan", "plan_codes", "record_design",
    "resolve_labels",
    "sample_posterior", "stratify", "write_frame", "write_population", "write_sheet",
]


def write_population(ds: Dataset, result: CensusResult) -> Path:
    """Write ``result.population`` into the dataset as ``population.parquet``.

    The table (``account_id, level, p_supporter, predicted, label``) lets churn and
    resurrection analyses restrict to predicted supporters. Written atomically,
    under the dataset's writer lock; the dataset's content changes, so a pinned
    dataset that matched its manifest is pinned again (a new id; cite that one).
    """
    from measure.census._sample import _write_table
    from measure.dataset._lock import updating
    from measure.errors import EstimationError

    if result.population is None:
        raise EstimationError(
            "the result has no population table (the model was disabled or could "
            "not be fitted; see result.model_assisted.reason)")
    with updating(ds.path, action="measure census --write-population"):
        return _write_table(ds.path, "population", result.population)
