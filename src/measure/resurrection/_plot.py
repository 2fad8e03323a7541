"""Figure of the time-to-return curve."""

from __future__ import annotations

from typing import Any


def plot_curve(result: Any, ax: Any = None) -> Any:
    """Plot ``F(d)``, the share of suspended accounts returned within ``d`` days.

    Parameters
    ----------
    result
        A :class:`~measure.resurrection.ResurrectionResult`.
    ax
        Matplotlib Axes to draw on (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    c = result.curve
    ax.step(c["day"].to_numpy(), c["rate"].to_numpy(), where="post",
            label="return rate (KM, pooled over link draws)")
    ax.fill_between(c["day"].to_numpy(), c["ci_low"].to_numpy(),
                    c["ci_high"].to_numpy(), step="post", alpha=0.25,
                    label=f"{result.level:.0%} CI (Rubin)")
    r = result.rate
    ax.axvline(result.rate_days, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("days since suspension")
    ax.set_ylabel("share returned")
    ax.set_title(f"Resurrection: {r.term} = {r.estimate:.2f} "
                 f"[{r.ci[0]:.2f}, {r.ci[1]:.2f}]")
    ax.set_ylim(0, max(0.05, float(c["ci_high"].max() or 0) * 1.1))
    ax.legend(loc="lower right", fontsize="small")
    return ax
