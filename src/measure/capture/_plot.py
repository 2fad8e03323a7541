"""Figure for capture–recapture results: every model's estimate and interval."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from measure.capture._result import CaptureResult


def plot_models(res: CaptureResult, ax: Any = None) -> Any:
    """Forest plot of the headline, the other estimators and every model.

    Rows: the model average, the latent-class and graphical estimates, then one
    row per model; the headline in bold.

    A dashed line marks the number of units observed (no estimate can be below it).
    Models whose estimate does not exist are listed with "NA".

    Parameters
    ----------
    res
        A capture–recapture result.
    ax
        Matplotlib axes to draw on (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * (len(res.models) + 4) + 1))
    rows = []
    if res.averaged is not None:
        rows.append(("averaged", res.averaged.estimate, False))
    for name, e in (("latent class", res.latent_class),
                    ("graphical models", res.graphical)):
        if e is not None:
            rows.append((name, e, False))
    rows += [(m.name, m.estimate, m.lower_bound) for m in res.models]
    rows += [(k, e, False) for k, e in res.two_source.items()]
    rows += [(k, e, True) for k, e in res.lower_bounds.items()]
    labels = []
    for i, (name, e, lb) in enumerate(rows):
        y = len(rows) - i
        chosen = name == res.model
        labels.append(name + (" *" if chosen else ""))
        if not e.valid:
            ax.text(res.n_observed, y, "  NA", va="center", fontsize=8, color="0.5")
            continue
        lo, hi = e.ci
        hi_draw = hi if math.isfinite(hi) else e.estimate * 3
        color = "C3" if chosen else ("0.5" if lb else "C0")
        ax.plot([lo, hi_draw], [y, y], color=color, lw=2.5 if chosen else 1.5)
        ax.plot([e.estimate], [y], "o", color=color, ms=6 if chosen else 4)
    ax.axvline(res.n_observed, ls="--", color="0.4", lw=1)
    ax.set_yticks(range(len(rows), 0, -1), labels, fontsize=8)
    ax.set_xlabel(f"population size ({res.level:.0%} interval); dashed: observed")
    ax.set_title(
        f"Capture-recapture, {len(res.sources)} lists (* headline: {res.model})",
        fontsize=9,
    )
    return ax
