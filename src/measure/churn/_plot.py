"""Figures of the churn family: survival with bands, cumulative incidence, rates."""

from __future__ import annotations

from typing import Any

import numpy as np


def _steps(ax: Any, curve: Any, label: str, color: str | None = None,
           band: bool = True) -> Any:
    t = np.concatenate([[0.0], curve.time])
    y = np.concatenate([[curve.start], curve.estimate])
    (line,) = ax.step(t, y, where="post", label=label, color=color)
    if band:
        lo = np.concatenate([[curve.start], curve.ci_low])
        hi = np.concatenate([[curve.start], curve.ci_high])
        ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color())
    return line


#: Candidate day ticks of the survival axis (the at-risk row sits under them).
_TICK_DAYS = (0, 7, 30, 60, 90, 180, 365, 730, 1095, 1460)


def _ticks(span: float) -> list[int]:
    """Day ticks up to ``span``, at least ``span / 8`` apart so labels never collide."""
    out: list[int] = []
    for d in _TICK_DAYS:
        if d <= span and (not out or d - out[-1] >= span / 8):
            out.append(d)
    return out


def plot(res: Any, ax: Any = None, kind: str = "survival") -> Any:
    """Draw one panel of ``res`` (a ``ChurnResult``) and return the Axes.

    ``kind``: ``"survival"`` (Kaplan--Meier per group with pointwise bands, the
    Turnbull NPMLE dashed, numbers at risk under the axis), ``"cif"`` (cumulative
    incidence of suspension and deletion) or ``"rates"`` (suspensions per 1,000
    account-days per period with exact Poisson intervals).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    if kind == "survival":
        groups = list(res.groups.values()) or [res.overall]
        for g in groups:
            imputed = g.curve is not None and g.curve is not g.km
            curve = g.curve if imputed else g.km
            kind_ = "KM, imputed times" if imputed else "KM, midpoint"
            line = _steps(ax, curve, f"{g.group} ({kind_})")
            if g.turnbull is not None and g.turnbull.mass.size:
                tb = g.turnbull
                t = np.concatenate([[0.0], np.repeat(tb.right[np.isfinite(tb.right)],
                                                     1)])
                s = np.concatenate([[1.0], 1 - np.cumsum(tb.mass)[
                    np.isfinite(tb.right)]])
                ax.step(t, s, where="post", ls="--", color=line.get_color(),
                        lw=1, label=f"{g.group} (Turnbull)")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("days since " + ("creation" if res.origin == "created"
                                       else "first sighting"))
        ax.set_ylabel("share not suspended")
        span = res.overall.km.time.max() if res.overall.km.time.size else 90.0
        ticks = _ticks(span)
        ax.set_xticks(ticks)
        n = res.overall.km.n_at_risk(np.asarray(ticks, dtype=float))
        ax.set_xticklabels([f"{d}\n{k}" for d, k in zip(ticks, n, strict=True)])
        ax.annotate("at risk", xy=(0, 0), xytext=(-40, -26),
                    textcoords="offset points", xycoords="axes fraction",
                    fontsize=8)
    elif kind == "cif":
        _steps(ax, res.overall.cif_suspended, "suspended")
        _steps(ax, res.overall.cif_deleted, "deleted (not_found)")
        ax.set_xlabel("days since " + ("creation" if res.origin == "created"
                                       else "first sighting"))
        ax.set_ylabel("cumulative incidence")
        ax.set_ylim(0, 1)
    elif kind == "rates":
        r = res.rates
        if r.height:
            x = np.arange(r.height)
            rate = 1000 * r["rate"].to_numpy()
            err = np.vstack([rate - 1000 * r["ci_low"].to_numpy(),
                             1000 * r["ci_high"].to_numpy() - rate])
            ax.errorbar(x, rate, yerr=err, fmt="o-", capsize=3)
            ax.set_xticks(x)
            ax.set_xticklabels(r["period"].to_list(), rotation=45, ha="right")
        ax.set_ylabel("suspensions per 1,000 account-days")
    else:
        raise ValueError(f"kind must be 'survival', 'cif' or 'rates', got {kind!r}")
    ax.legend(fontsize=8) if kind != "rates" else None
    ax.set_title({"survival": "Time to suspension", "cif": "Suspension vs deletion",
                  "rates": "Suspension rate by period"}[kind])
    return ax


def save_figure(res: Any, path: str) -> None:
    """Write the three panels side by side to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 5))
    for ax, kind in zip(axes, ("survival", "cif", "rates"), strict=True):
        plot(res, ax=ax, kind=kind)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
