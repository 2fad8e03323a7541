"""Statistics shared by the method families, written once.

Every family (``census``, ``capture``, ``churn``, ``describe``, ``resurrection``)
takes its general-purpose statistics from here instead of keeping a copy or
importing another family's private module:

* intervals (:mod:`measure._stats._intervals`): :func:`normal_quantile`,
  :func:`wilson_interval` (Wilson 1927, with finite-population correction),
  :func:`mover_sum` and :func:`mover_product` (MOVER, Zou & Donner 2008);
* stratified sampling (:mod:`measure._stats._stratified`): :func:`check_strata`,
  :func:`stratified_total`, :func:`stratified_variance`, :func:`allocate`
  (Cochran 1977, ch. 5);
* survival (:mod:`measure._stats._survival`): :func:`kaplan_meier` with optional
  delayed entry and Greenwood's variance (Kaplan & Meier 1958; Greenwood 1926),
  :func:`risk_table`, :func:`loglog_interval`;
* multiple imputation (:mod:`measure._stats._pooling`): :func:`rubin_pool`,
  :func:`rubin_df`, :func:`t_quantile` (Rubin 1987).

This package imports no method family, so any family may import it without an
import cycle.

References
----------
* Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed. Wiley.
* Greenwood, M. (1926). *The Natural Duration of Cancer*. HMSO.
* Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete
  observations. *JASA* 53, 457-481.
* Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
* Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
* Zou, G. Y. & Donner, A. (2008). Construction of confidence limits about effect
  measures: a general approach. *Statistics in Medicine* 27, 1693-1702.
"""

from __future__ import annotations

from measure._stats._intervals import (
    mover_product,
    mover_sum,
    normal_quantile,
    wilson_interval,
)
from measure._stats._pooling import RubinPooled, rubin_df, rubin_pool, t_quantile
from measure._stats._stratified import (
    TotalEstimate,
    allocate,
    check_strata,
    stratified_total,
    stratified_variance,
)
from measure._stats._survival import (
    KaplanMeier,
    kaplan_meier,
    loglog_interval,
    risk_table,
)

__all__ = [
    "KaplanMeier",
    "RubinPooled",
    "TotalEstimate",
    "allocate",
    "check_strata",
    "kaplan_meier",
    "loglog_interval",
    "mover_product",
    "mover_sum",
    "normal_quantile",
    "risk_table",
    "rubin_df",
    "rubin_pool",
    "stratified_total",
    "stratified_variance",
    "t_quantile",
    "wilson_interval",
]
