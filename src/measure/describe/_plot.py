"""Figures of a population profile (matplotlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from measure.errors import ConfigError

if TYPE_CHECKING:
    from measure.describe._result import DescribeResult

PANELS = ("followers", "friends", "statuses", "tweets_per_day", "creation_months",
          "languages", "series")


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def plot_result(res: DescribeResult, ax: Any = None, kind: str = "followers") -> Any:
    """Draw panel ``kind`` of ``res`` (see :meth:`DescribeResult.plot`)."""
    ax = _axes(ax)
    if kind == "creation_months":
        t = res.tables.get("creation_months")
        if t is None:
            raise ConfigError("no creation months (accounts.created_at is missing)")
        ax.bar(range(t.height), t["count"].to_list(), color="#4c72b0")
        step = max(1, t.height // 8)
        ax.set_xticks(range(0, t.height, step))
        ax.set_xticklabels([m[:7] for m in t["month"].to_list()[::step]],
                           rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("accounts created")
        ax.set_title("Creation month")
        return ax
    if kind == "languages":
        t = res.tables.get("languages")
        if t is None:
            raise ConfigError("no languages (accounts.lang is missing)")
        t = t.head(10)
        y = list(range(t.height))[::-1]
        share = t["share"].to_numpy()
        err = [share - t["ci_low"].to_numpy(), t["ci_high"].to_numpy() - share]
        ax.barh(y, share, xerr=err, color="#55a868")
        ax.set_yticks(y)
        ax.set_yticklabels(t["lang"].to_list())
        ax.set_xlabel("share of accounts (Wilson 95% CI)")
        ax.set_title("Interface language")
        return ax
    if kind == "series":
        s = res.series
        if s is None or s.height == 0:
            raise ConfigError("no size series (needs observations)")
        days = s["day"].to_list()
        ax.plot(days, s["alive"].to_list(), label="alive", color="#4c72b0")
        ax.set_ylabel("accounts alive")
        ax2 = ax.twinx()
        ax2.plot(days, s["mean_followers"].to_list(), color="#c44e52",
                 label="mean followers")
        ax2.set_ylabel("mean followers", color="#c44e52")
        ax.set_title("Network size by look-up day")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        return ax
    h = res.tables.get("histograms")
    if h is None or h.filter(pl.col("variable") == kind).height == 0:
        raise ConfigError(f"no histogram for {kind!r}; available: "
                          + ", ".join(PANELS))
    t = h.filter(pl.col("variable") == kind)
    lo, hi = t["bin_low"].to_numpy(), t["bin_high"].to_numpy()
    # the first bin starts at 0: draw it from half its upper edge on a log axis
    left = lo.copy()
    left[left == 0] = hi[left == 0] / 2
    ax.bar(left, t["share"].to_numpy(), width=hi - left, align="edge",
           color="#4c72b0", edgecolor="white")
    ax.set_xscale("log")
    ax.set_xlabel(kind.replace("_", " ") + " (log scale; first bar includes 0)")
    ax.set_ylabel("share of accounts")
    med = {e.term: e for e in res.estimates}.get(f"{kind}_median")
    if med is not None and med.valid and med.estimate > 0:
        ax.axvline(med.estimate, color="k", ls="--", lw=1, label="median")
        ax.legend(fontsize=7)
    ax.set_title(kind.replace("_", " ").capitalize())
    return ax


def plot_all(res: DescribeResult) -> Any:
    """Grid of every available panel; returns the Figure."""
    import matplotlib.pyplot as plt

    panels = []
    for k in PANELS:
        try:
            fig_t, ax_t = plt.subplots()
            plot_result(res, ax=ax_t, kind=k)
            panels.append(k)
        except ConfigError:
            pass
        finally:
            plt.close(fig_t)
    cols = 2
    rows = max(1, (len(panels) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax, k in zip(axes.flat, panels, strict=False):
        plot_result(res, ax=ax, kind=k)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
