"""Precision-by-metric figure (Berger & Morgan 2015, §3.7 style)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from measure.census._result import CensusResult


def plot_precision(result: CensusResult, ax: Any = None) -> Any:
    """Plot weighted precision of coded accounts by band of the sorting metric.

    Each point is a quantile band of ``result.metric`` among coded accounts, with its
    Wilson interval (Kish effective sample size); the dashed line is the
    frame-wide share implied by the stratified estimate.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    p = result.precision
    if p.height:
        xs = np.arange(p.height)
        ph = p["p_hat"].to_numpy()
        err = np.vstack([ph - p["ci_low"].to_numpy(), p["ci_high"].to_numpy() - ph])
        ax.errorbar(xs, ph, yerr=err, fmt="o", capsize=3, color="C0",
                    label="coded precision (Wilson CI)")
        ax.set_xticks(xs, [f"{b}\nn={k}" for b, k in zip(p["band"], p["n"],
                                                           strict=True)],
                      fontsize=7)
    if result.frame_size:
        share = result.estimate.estimate / result.frame_size
        ax.axhline(share, ls="--", color="C1", label="frame-wide estimate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"band of {result.metric}")
    ax.set_ylabel("share of coded accounts that are supporters")
    ax.set_title("Precision by sorting metric")
    ax.legend(fontsize=7, loc="best")
    return ax
