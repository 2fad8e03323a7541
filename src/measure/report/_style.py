"""One matplotlib style for every figure measure draws.

Every family's ``.plot()`` may call :func:`apply_style` (or use :func:`style`) so that
figures in notebooks, the HTML report and papers look alike: readable in black and
white print (distinct line styles as well as colours), labelled axes with units,
shaded confidence bands, no chart junk.

The palette is Okabe & Ito's colour-blind-safe set (Okabe, M. & Ito, K., 2008,
*Color Universal Design*).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib as mpl

#: Okabe-Ito colour-blind-safe palette (black last: used for totals and references).
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
#: Line styles to pair with the colours (``color(i)``, ``LINESTYLES[i]``) where
#: several curves share an Axes, so they stay apart in grey-scale print. Not in the
#: property cycle: error bars and markers would inherit dashes.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), "-", "--")
#: Opacity of confidence bands.
BAND_ALPHA = 0.22
#: Axes-fraction position of the numbers-at-risk table (below the x label) and the
#: spacing of its rows.
AT_RISK_TOP = -0.24
AT_RISK_STEP = 0.07
#: Default figure size in inches (fits one column of a report page).
FIGSIZE = (6.4, 3.8)

RC: dict[str, Any] = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "grid.linestyle": "-",
    "axes.axisbelow": True,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "image.cmap": "viridis",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}


def apply_style() -> None:
    """Set measure's figure style globally (``matplotlib.rcParams``).

    Call it once in a notebook, or at the top of a ``.plot()`` implementation. To
    keep the caller's settings untouched, use :func:`style` as a context manager.
    """
    mpl.rcParams.update(RC)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context manager applying measure's style only inside the ``with`` block."""
    with mpl.rc_context(RC):
        yield


def color(i: int) -> str:
    """Return the ``i``-th palette colour (cycling)."""
    return PALETTE[i % len(PALETTE)]


def ci_band(
    ax: Any,
    x: Sequence[Any],
    low: Sequence[float],
    high: Sequence[float],
    *,
    color: str | None = None,
    step: str | None = None,
    label: str | None = None,
) -> Any:
    """Shade a confidence band between ``low`` and ``high``.

    Parameters
    ----------
    ax
        Matplotlib Axes.
    x, low, high
        Abscissae and band limits.
    color
        Band colour (default: the Axes' last line colour, else the first palette
        colour).
    step
        ``"post"`` for step functions such as Kaplan-Meier curves.
    label
        Legend label of the band.
    """
    if color is None:
        color = ax.lines[-1].get_color() if ax.lines else PALETTE[0]
    return ax.fill_between(
        x, low, high, color=color, alpha=BAND_ALPHA, lw=0, step=step, label=label
    )


def at_risk_table(
    ax: Any,
    times: Sequence[float],
    rows: dict[str, Sequence[int]],
    *,
    title: str = "At risk",
) -> None:
    """Write numbers at risk under a survival plot, one row per group.

    Parameters
    ----------
    ax
        The survival curve's Axes; the table is written below its x axis.
    times
        Times (in the Axes' x units) at which the counts are given.
    rows
        ``{group label: counts at each time}``.
    title
        Heading of the table.
    """
    trans = mpl.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    n = len(rows)
    top = AT_RISK_TOP
    ax.text(
        -0.04,
        top,
        title,
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=8,
        fontweight="bold",
    )
    for i, (label, counts) in enumerate(rows.items()):
        y = top - AT_RISK_STEP * (i + 1) if n > 1 else top
        if n > 1:
            ax.text(
                -0.04,
                y,
                str(label),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                color=color(i),
            )
        for t, c in zip(times, counts, strict=True):
            ax.text(
                t,
                y,
                f"{int(c):,}",
                transform=trans,
                ha="center",
                va="top",
                fontsize=8,
                color=color(i) if n > 1 else "black",
            )


def finish(
    ax: Any,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    legend: bool | None = None,
) -> Any:
    """Label an Axes consistently (units belong in the labels) and return it."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    if legend or (legend is None and len(handles) > 1):
        ax.legend()
    return ax
