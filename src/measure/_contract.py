"""The result contract every method family's result satisfies.

Whatever the family (``census``, ``capture``, ``churn``, ``resurrection``,
``describe``), ``analyze`` returns a frozen object that satisfies :class:`Result`:

* ``estimate``: the headline :class:`~measure.Estimate`; ``estimates()``: every
  quantity held, as a list of :class:`~measure.Estimate`;
* ``conf_int(level=None)``: the stored interval of the headline, or the interval
  recomputed at another ``level`` without refitting (an
  :class:`~measure.errors.EstimationError` naming the family says so when the
  result cannot);
* ``summary()`` (its first line is the quotable headline sentence),
  ``_repr_html_()``, ``to_polars()`` (columns ``term, estimate, std_error,
  ci_low, ci_high, level``), ``to_dict()`` (exactly the ``--json`` output, with a
  ``headline`` object ``{estimate, ci, level, unit, sentence}``) and
  ``plot(ax=None)``;
* ``method``, ``assumptions``, ``warnings``; ``dataset`` (the dataset's id,
  ``name@sha256:<digest>`` once pinned, see :func:`dataset_id`), ``options``
  (what was asked) and ``timings`` (seconds per stage, where measured).

:class:`ResultMixin` holds the shared implementations (``headline_dict``,
``conf_int``, ``by_term``); the number formats of the headline sentences
(:func:`fmt_num`, :func:`fmt_pct`, :func:`fmt_ci`) are the report's.

Which families recompute an interval at another level:

* ``capture``: the model-averaged headline by the model-averaged tail-area
  interval (Turek & Fletcher 2012) over the same two-piece log-normal summary of
  each model's interval; a single-model headline by Chao's (1987) log-normal
  interval from its standard error, or by refitting its profile-likelihood
  interval (Cormack 1992);
* ``resurrection``: the return rate on the complementary log-log scale with
  Rubin's (1987) total variance and degrees of freedom, as pooled over the link
  draws;
* ``census``: the equal-tailed interval of the kept posterior draws of the
  headline total (widened to the misclassification grid at that level when the
  coder error rates are not identified), or with known error rates the
  Wilson–MOVER interval through the Rogan–Gladen correction;
* ``churn``: the median by inverting the pointwise band of the curve behind it
  (Brookmeyer & Crowley 1982), formed again at that level from what the result
  keeps: Rubin's rules over the per-time pooled cumulative hazard, within- and
  between-imputation variances and degrees of freedom; the log-log band from
  the variances of the midpoint Kaplan--Meier curve or of the cumulative
  incidence; with ``estimator="turnbull"`` the percentile interval of the kept
  bootstrap medians;
* ``describe``: the median's distribution-free order-statistic interval (Hahn &
  Meeker 1991) from the distinct follower counts and their numbers of accounts;
  for a weighted cohort the percentile interval of the kept bootstrap medians,
  or Woodruff's interval from the distinct counts and their weight shares.

For churn and describe the interval at ``level`` is exactly the one
``analyze(..., level=level)`` with the same seed gives. A result that does not
keep what its family needs (one built by hand) raises an
:class:`~measure.errors.EstimationError` naming the family.

The warnings of the dataset a result was drawn from (such as that of a modified
dataset opened with ``allow_modified=True``) come first in its ``warnings``:
:func:`dataset_id` carries them and :meth:`ResultMixin.__post_init__` puts them
there.

References
----------
* Brookmeyer, R. & Crowley, J. (1982). A confidence interval for the median
  survival time. *Biometrics* 38, 29-41.
* Chao, A. (1987). Estimating the population size for capture-recapture data
  with unequal catchability. *Biometrics* 43, 783-791.
* Cormack, R. M. (1992). Interval estimation for mark-recapture studies of
  closed populations. *Biometrics* 48, 567-576.
* Hahn, G. J. & Meeker, W. Q. (1991). *Statistical Intervals*. Wiley, sec. 5.2.
* Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
* Turek, D. & Fletcher, D. (2012). Model-averaged Wald confidence intervals.
  *Computational Statistics & Data Analysis* 56, 2809-2815.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import polars as pl

from measure._results import Estimate
from measure.errors import ConfigError, EstimationError

#: Keys of the ``headline`` object in every ``to_dict()`` (``--json``).
HEADLINE_KEYS = ("estimate", "ci", "level", "unit", "sentence")


# -- number formats of the headline sentences (shared with the report) ------------
def fmt_num(x: float | None, digits: int = 3) -> str:
    """Format a number for prose: thousands separators, ``digits`` significant."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if float(x).is_integer():
        return f"{int(x)}"
    return f"{x:.{digits}g}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """Format a proportion as a percentage."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{100 * x:.{digits}f}%"


def fmt_ci(e: Any, pct: bool = False) -> str:
    """``"12,000 (95% CI 10,000 to 14,000)"`` for an :class:`measure.Estimate`."""
    f = fmt_pct if pct else fmt_num
    if not getattr(e, "valid", True):
        return f"not available ({e.reason})"
    lo, hi = e.ci
    if isinstance(e.estimate, float) and math.isnan(e.estimate):
        # no point estimate: the data give a range (or a one-sided limit)
        if math.isinf(hi):
            return f"more than {f(lo)} ({e.level:.0%} lower limit)"
        return f"between {f(lo)} and {f(hi)} ({e.level:.0%} range, no point estimate)"
    return f"{f(e.estimate)} ({e.level:.0%} CI {f(lo)} to {f(hi)})"


def _clean(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


class DatasetId(str):
    """The id of a dataset (a ``str``), carrying the dataset's warnings.

    :func:`dataset_id` returns one; a result built with it puts those warnings
    first in its own ``warnings`` (:meth:`ResultMixin.__post_init__`), so that
    the warning of a modified dataset opened with ``allow_modified=True`` is on
    every result drawn from it.

    Attributes
    ----------
    warnings
        ``Dataset.warnings`` when the id was taken.
    """

    warnings: tuple[str, ...]

    def __new__(cls, value: str, warnings: Sequence[str] = ()) -> DatasetId:
        """Build the id ``value`` carrying ``warnings``."""
        self = super().__new__(cls, value)
        self.warnings = tuple(warnings)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (DatasetId, (str(self), self.warnings))


def dataset_id(ds: Any) -> DatasetId:
    """Return the id of a dataset as ``measure pin`` prints it.

    Parameters
    ----------
    ds
        A :class:`measure.Dataset`.

    Returns
    -------
    DatasetId
        ``name@sha256:<digest>`` for a pinned dataset, else its name (a
        ``str``), carrying the dataset's ``warnings``.
    """
    digest = getattr(ds, "digest", None)
    value = f"{ds.name}@sha256:{digest}" if digest else str(ds.name)
    return DatasetId(value, getattr(ds, "warnings", None) or ())


def dataset_warnings(dataset: Any, warnings: Sequence[str]) -> tuple[str, ...]:
    """``warnings`` with those carried by a dataset id first, each once.

    Parameters
    ----------
    dataset
        A result's ``dataset``: a :class:`DatasetId`, a plain id or ``None``.
    warnings
        The result's own warnings.

    Returns
    -------
    tuple of str
        The dataset's warnings (none unless ``dataset`` is a :class:`DatasetId`),
        then the result's own ones not among them.
    """
    first = tuple(getattr(dataset, "warnings", ()) or ())
    return (*first, *(w for w in warnings if w not in first))


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (one release)."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; "
                  f"use {new}", DeprecationWarning, stacklevel=stacklevel)


@runtime_checkable
class Result(Protocol):
    """What every family's ``analyze`` returns (see the module docstring)."""

    @property
    def estimate(self) -> Estimate:
        """The headline estimate."""
        ...

    def estimates(self) -> list[Estimate]:
        """Every quantity held, headline first."""
        ...

    def conf_int(self, level: float | None = None) -> tuple[float, float]:
        """Interval of the headline at ``level`` (stored one by default)."""
        ...

    def summary(self) -> str:
        """Text summary starting with the headline sentence."""
        ...

    def _repr_html_(self) -> str: ...

    def to_polars(self) -> pl.DataFrame:
        """Tidy table with the fixed result columns."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the ``--json`` output, with a ``headline`` object."""
        ...

    def plot(self, ax: Any = None) -> Any:
        """Draw the main figure and return its Axes."""
        ...

    @property
    def method(self) -> str:
        """Method of the headline."""
        ...

    @property
    def assumptions(self) -> tuple[str, ...]:
        """What the headline rests on."""
        ...

    @property
    def warnings(self) -> tuple[str, ...]:
        """Diagnostics."""
        ...

    @property
    def dataset(self) -> str | None:
        """Dataset id (``name@sha256:<digest>`` once pinned), if known."""
        ...

    @property
    def options(self) -> dict[str, Any]:
        """The options asked for."""
        ...

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage, where measured."""
        ...


class ResultMixin:
    """Shared implementations of the contract for the families' result classes.

    A subclass sets :attr:`family` and :attr:`unit`, defines
    :meth:`headline_sentence`, and overrides :meth:`_recompute_ci` when its method
    can give the headline interval at another level. A subclass that defines its
    own ``__post_init__`` calls ``super().__post_init__()``.
    """

    #: Name of the method family (used in messages).
    family: ClassVar[str] = ""
    #: Unit of the headline estimate.
    unit: ClassVar[str] = ""

    def __post_init__(self) -> None:
        """Put the dataset's warnings first in ``warnings`` (see :class:`DatasetId`)."""
        own = getattr(self, "warnings", ())
        merged = dataset_warnings(getattr(self, "dataset", None), own)
        if merged != tuple(own):
            object.__setattr__(self, "warnings", merged)

    def headline_sentence(self) -> str:
        """One quotable sentence with the headline and its interval."""
        raise NotImplementedError

    def headline_dict(self) -> dict[str, Any]:
        """Return the ``headline`` object of ``to_dict()``.

        Returns
        -------
        dict
            ``estimate`` (``None`` when there is no point estimate), ``ci``
            (``[low, high]``, ``None`` for an open or missing limit), ``level``,
            ``unit`` and ``sentence``.
        """
        e: Estimate = self.estimate  # type: ignore[attr-defined]
        return {
            "estimate": _clean(e.estimate),
            "ci": [_clean(e.ci[0]), _clean(e.ci[1])],
            "level": float(e.level),
            "unit": self.unit,
            "sentence": self.headline_sentence(),
        }

    def conf_int(self, level: float | None = None) -> tuple[float, float]:
        """Interval of the headline estimate.

        Parameters
        ----------
        level
            Confidence level; ``None`` (or the level analysed at) gives the stored
            interval.

        Returns
        -------
        tuple of float
            ``(low, high)``.

        Raises
        ------
        EstimationError
            The family's method cannot give the interval at ``level`` without
            re-running the analysis, or the headline does not apply.
        ConfigError
            ``level`` is not strictly between 0 and 1.
        """
        e: Estimate = self.estimate  # type: ignore[attr-defined]
        if level is None or math.isclose(level, e.level, rel_tol=0, abs_tol=1e-12):
            return e.ci
        if not 0 < level < 1:
            raise ConfigError(f"level must be strictly between 0 and 1, got {level}")
        if not e.valid:
            raise EstimationError(
                f"{self.family}: the headline {e.term} does not apply ({e.reason}); "
                "there is no interval to recompute")
        return self._recompute_ci(level)

    def _recompute_ci(self, level: float) -> tuple[float, float]:
        """Headline interval at ``level`` (the default: not possible)."""
        raise self._cannot_recompute(level)

    def _cannot_recompute(self, level: float, reason: str | None = None
                          ) -> EstimationError:
        """Return the error saying that ``level`` needs a new run, and why."""
        e: Estimate = self.estimate  # type: ignore[attr-defined]
        why = reason if reason is not None else self._no_recompute_reason()
        return EstimationError(
            f"{self.family}: the interval of {e.term} cannot be recomputed at level "
            f"{level:g} from the result ({why}); run "
            f"measure.{self.family}.analyze(..., level={level:g})")

    def _no_recompute_reason(self) -> str:
        return "the method does not allow it"

    def by_term(self, term: str) -> Estimate:
        """Return the estimate named ``term`` among :meth:`estimates`.

        Raises
        ------
        KeyError
            No estimate has that term (the message lists the terms).
        """
        ests: list[Estimate] = self.estimates()  # type: ignore[attr-defined]
        for e in ests:
            if e.term == term:
                return e
        raise KeyError(f"no estimate {term!r}; terms: "
                       + ", ".join(e.term for e in ests))


__all__ = ["HEADLINE_KEYS", "DatasetId", "Result", "ResultMixin", "dataset_id",
           "dataset_warnings", "deprecated", "fmt_ci", "fmt_num", "fmt_pct"]
