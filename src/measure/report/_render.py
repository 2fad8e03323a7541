"""Family-specific views of each analysis result for the report.

Each renderer receives a :class:`~measure.report._sections.Section` and the result of
``measure.<family>.analyze(ds)`` and adds headline text, tables and figures to it.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from measure.report._sections import (
    Section,
    fmt_ci,
    fmt_num,
    fmt_pct,
    generic,
    new_figure,
    styled,
)
from measure.report._style import PALETTE, finish

#: Panels of the profile figure, in order (those the data allow are drawn).
PROFILE_PANELS = ("followers", "friends", "statuses", "tweets_per_day",
                  "creation_months", "languages")
#: Statistics of the profile table.
PROFILE_STATS = ("mean", "median", "p90")


def render_census(sec: Section, res: Any) -> None:
    """Show the population estimate with bounds and method; precision by metric."""
    generic(sec, res)


def render_capture(sec: Section, res: Any) -> None:
    """Show the capture-recapture estimates table."""
    generic(sec, res)


def render_churn(sec: Section, res: Any) -> None:
    """Draw survival curves (CI bands, numbers at risk) and monthly rates."""
    generic(sec, res)


def render_resurrection(sec: Section, res: Any) -> None:
    """Show return rate, delay distribution, follower recovery by incarnation."""
    rate = res.rate
    sec.headline(
        f"Of {res.n_suspended:,} suspended accounts, an estimated "
        f"{fmt_ci(rate, pct=True)} came back under a new account within "
        f"{res.rate_days:g} days; median delay {fmt_ci(res.median_delay)} days.")
    sec.text(f"Successor accounts were linked to suspended ones by {res.method}: "
             f"{res.n_linked:,} links accepted at match probability "
             f"≥ {res.threshold:.3g} (expected precision "
             f"{fmt_pct(res.expected_precision)}) among {res.n_pairs:,} candidate "
             "pairs. Link uncertainty is carried into the intervals by drawing "
             "the links repeatedly.")
    rows = [{"within_days": float(d), "return_rate": e.estimate,
             "ci_low": e.ci[0], "ci_high": e.ci[1], "n": e.n}
            for d, e in sorted(res.rates.items())]
    if rows:
        sec.table(pl.DataFrame(rows), "Return rate by horizon")
    fig, ax = new_figure()
    styled(lambda: res.plot(ax=ax))
    sec.figure(fig, f"Share of suspended accounts that returned, by days since "
                    f"suspension, with its {res.level:.0%} band.")
    delays = (res.links["delay_days"].drop_nulls().to_numpy()
              if res.links.height and "delay_days" in res.links.columns else None)
    if delays is not None and len(delays):
        fig, ax = new_figure()

        def draw() -> None:
            ax.hist(delays, bins=min(40, max(5, len(delays) // 3)),
                    color=PALETTE[0], edgecolor="white")
            med = res.median_delay
            if med.valid:
                ax.axvline(med.estimate, color="black", ls="--", lw=1.2,
                           label=f"median {fmt_num(med.estimate)} days")
            finish(ax, xlabel="days from suspension to the successor's creation",
                   ylabel="linked returns", title="Delay before return",
                   legend=med.valid)

        styled(draw)
        sec.figure(fig, "Distribution of the delay between a suspension and the "
                        "creation of the linked successor account (accepted links).")
    else:
        sec.note("No successor was linked, so there is no delay distribution.")
    rec = {k: e for k, e in sorted(res.follower_recovery.items())}
    valid = {k: e for k, e in rec.items() if e.valid}
    if valid:
        fig, ax = new_figure()

        def draw_rec() -> None:
            ks = list(valid)
            est = [valid[k].estimate for k in ks]
            lo = [valid[k].estimate - valid[k].ci[0] for k in ks]
            hi = [valid[k].ci[1] - valid[k].estimate for k in ks]
            ax.errorbar(ks, est, yerr=[lo, hi], fmt="o-", capsize=4,
                        color=PALETTE[1], label=f"ratio, {res.level:.0%} CI")
            ax.axhline(1.0, color="grey", lw=1, ls=":", label="full recovery")
            ax.set_xticks(ks)
            finish(ax, xlabel="incarnation of the returning account",
                   ylabel="followers ÷ predecessor's followers",
                   title="Follower recovery by incarnation", legend=True)

        styled(draw_rec)
        sec.figure(fig, "Followers of a returning account (at about two weeks of "
                        "age) as a share of its predecessor's followers at "
                        "suspension, by incarnation number.")
    if rec:
        sec.table(pl.DataFrame([
            {"incarnation": int(k), "follower_ratio": e.estimate,
             "ci_low": e.ci[0], "ci_high": e.ci[1], "n": e.n,
             "note": e.reason or ""} for k, e in rec.items()]),
            "Follower recovery by incarnation")
    else:
        sec.note("No returning account had follower counts on both sides of a "
                 "link, so follower recovery is not available.")
    if res.incarnations:
        sec.table(pl.DataFrame({
            "accounts_in_lineage": [int(k) for k in sorted(res.incarnations)],
            "presumed_actors": [int(res.incarnations[k])
                                for k in sorted(res.incarnations)]}),
            "Accounts per presumed actor")


def render_describe(sec: Section, res: Any) -> None:
    """Show the profile of the accounts."""
    by = {e.term: e for e in res.estimates}
    head = [f"Cohort: {res.cohort} ({res.n_accounts:,} accounts; activity measured "
            f"from {res.activity_source})."]
    med = by.get("followers_median")
    if med is not None and med.valid:
        head.append(f"Median followers {fmt_ci(med)}.")
    sec.headline(" ".join(head))
    panels = []
    for kind in PROFILE_PANELS:
        try:
            fig_t, ax_t = new_figure()
            styled(lambda k=kind, a=ax_t: res.plot(ax=a, kind=k))
            panels.append(kind)
        except Exception:  # noqa: BLE001,S112 - a panel the data do not allow
            continue
    if panels:
        ncols = 1 if len(panels) == 1 else 2
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = new_figure(nrows, ncols, squeeze=False,
                               figsize=(5 * ncols, 3.1 * nrows))
        flat = list(axes.flat)
        for ax, kind in zip(flat, panels, strict=False):
            styled(lambda k=kind, a=ax: res.plot(ax=a, kind=k))
        for ax in flat[len(panels):]:
            ax.set_visible(False)
        sec.figure(fig, "Profile of the cohort: distributions of counts (log "
                        "scale), creation months and interface languages.")
    rows = []
    for var in ("followers", "friends", "statuses", "age_days", "tweets_per_day",
                "in_follower_share"):
        for stat in PROFILE_STATS:
            e = by.get(f"{var}_{stat}")
            if e is not None and e.valid:
                rows.append({"variable": var, "statistic": stat,
                             "estimate": e.estimate, "ci_low": e.ci[0],
                             "ci_high": e.ci[1], "n": e.n})
    if rows:
        sec.table(pl.DataFrame(rows), "Counts (latest active look-up)")
    shares = [e for e in res.estimates if e.valid and "share" in e.term
              and not e.term.startswith("in_follower")]
    if shares:
        sec.table(pl.DataFrame([{"term": e.term, "share": e.estimate,
                                 "ci_low": e.ci[0], "ci_high": e.ci[1], "n": e.n}
                                for e in shares]), "Shares")
    langs = res.tables.get("languages")
    if isinstance(langs, pl.DataFrame) and langs.height:
        sec.table(langs.head(10), "Languages")
    for sub, title in ((res.hyperactive, "Hyperactive accounts"),
                       (res.comparison, "Against the control group"),
                       (res.before_suspension, "Activity before suspension")):
        if sub is not None:
            sec.h3(title)
            sec.pre(sub.summary())


RENDERERS = {
    "census": render_census,
    "capture": render_capture,
    "churn": render_churn,
    "resurrection": render_resurrection,
    "describe": render_describe,
}
