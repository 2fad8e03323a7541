"""Family-specific views of each analysis result for the report.

Each renderer receives a :class:`~measure.report._sections.Section` and the result of
``measure.<family>.analyze(ds)`` and adds headline text, tables and figures to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from measure.report._sections import (
    Section,
    fmt_ci,
    fmt_num,
    fmt_pct,
    new_figure,
    styled,
)
from measure.report._style import PALETTE, at_risk_table, ci_band, finish

#: Panels of the profile figure, in order (those the data allow are drawn).
PROFILE_PANELS = (
    "followers",
    "friends",
    "statuses",
    "tweets_per_day",
    "creation_months",
    "languages",
)
#: Statistics of the profile table.
PROFILE_STATS = ("mean", "median", "p90")


def _forest(ax: Any, rows: list[tuple[str, Any]], *, xlabel: str) -> None:
    """Draw estimates with intervals, one row each (invalid ones marked NA)."""
    n = len(rows)
    for i, (_label, e) in enumerate(rows):
        y = n - i
        if e is None or not e.valid or e.estimate is None or math.isnan(e.estimate):
            ax.text(
                0.01,
                y,
                "NA",
                va="center",
                transform=ax.get_yaxis_transform(),
                color="0.4",
                fontsize=8,
            )
            continue
        lo, hi = e.ci
        ok = not (math.isnan(lo) or math.isnan(hi))
        ax.errorbar(
            [e.estimate],
            [y],
            xerr=[[e.estimate - lo], [hi - e.estimate]] if ok else None,
            fmt="o",
            color=PALETTE[i % len(PALETTE)],
            capsize=4,
            ls="none",
        )
    ax.set_yticks(range(n, 0, -1), [r[0] for r in rows])
    ax.set_ylim(0.4, n + 0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)


def render_census(sec: Section, res: Any) -> None:
    """Show the population estimate with bounds and method; precision by metric."""
    e = res.estimate
    sec.headline(res.headline_sentence())
    sec.text(
        f"Method: {e.method}. {res.n_coded:,} hand-coded accounts; design: "
        f"{res.design}; sorting metric: {res.metric}. The bounds are reported "
        "beside the confidence interval, not instead of it: the interval "
        "measures sampling error, the bounds how much the answer depends on "
        "what counts as a supporter."
    )
    prec = res.precision
    if isinstance(prec, pl.DataFrame) and prec.height:
        if "metric" in prec.columns and prec["metric"].n_unique() > 1:
            metrics = prec["metric"].unique(maintain_order=True).to_list()
            ncols = 2
            nrows = math.ceil(len(metrics) / ncols)
            fig, axes = new_figure(
                nrows, ncols, squeeze=False, sharey=True, figsize=(10, 2.8 * nrows)
            )
            flat = list(axes.flat)

            def draw_all() -> None:
                for ax, m in zip(flat, metrics, strict=False):
                    p = prec.filter(pl.col("metric") == m)
                    xs = list(range(p.height))
                    ph = p["p_hat"].to_numpy()
                    ax.errorbar(
                        xs,
                        ph,
                        yerr=[
                            ph - p["ci_low"].to_numpy(),
                            p["ci_high"].to_numpy() - ph,
                        ],
                        fmt="o-",
                        capsize=3,
                        color=PALETTE[0],
                    )
                    ax.set_xticks(xs, [str(b) for b in p["band"]], fontsize=7)
                    ax.set_ylim(-0.02, 1.02)
                    finish(
                        ax,
                        title=str(m),
                        xlabel="band of the metric",
                        ylabel="precision",
                    )
                for ax in flat[len(metrics) :]:
                    ax.set_visible(False)

            styled(draw_all)
        else:
            fig, ax = new_figure()
            styled(lambda: res.plot(ax=ax))
        sec.figure(
            fig,
            "Precision by sorting metric: share of hand-coded accounts "
            "that are supporters, by band of the metric (weighted by "
            "the design, Wilson intervals). A useful metric rises "
            "steeply from left to right.",
        )
    else:
        sec.note(
            "No coded account has a value of the sorting metric, so precision "
            "by metric cannot be drawn."
        )
    _coder_error_text(sec, res)
    rows: list[tuple[str, Any]] = [("corrected for coder error (headline)", e)]
    for label, est in (
        ("labels taken as right (uncorrected)", getattr(res, "uncorrected", None)),
        ("model-assisted (GREG)", res.model_assisted),
        ("classifier, Rogan-Gladen", res.classifier_corrected),
    ):
        if est is not None:
            rows.append((label, est))
    fig, ax = new_figure(figsize=(6.4, 0.55 * len(rows) + 1.4))

    def draw_estimates() -> None:
        _forest(ax, rows, xlabel="supporter accounts in the frame")
        for val, ls, lab in (
            (res.lower_bound.estimate, ":", "at least"),
            (res.upper_bound.estimate, "--", "at most"),
        ):
            if val is not None and not math.isnan(val):
                ax.axvline(val, color="black", ls=ls, lw=1, label=f"{lab} bound")
        fig.legend(loc="outside lower center", ncol=2)
        finish(ax, title="Population estimate and bounds", legend=False)

    styled(draw_estimates)
    sec.figure(
        fig,
        f"Estimates of the number of supporter accounts with their "
        f"{e.level:.0%} intervals; vertical lines mark the 'at least' "
        "and 'at most' bounds.",
    )
    if isinstance(res.strata, pl.DataFrame) and res.strata.height:
        cols = [
            c
            for c in (
                "name",
                "level",
                "N",
                "n",
                "supporters",
                "unclear",
                "p_hat",
                "ci_low",
                "ci_high",
                "high",
            )
            if c in res.strata.columns
        ]
        sec.table(
            res.strata.select(cols),
            "Strata of the coding sample (high = counted in the 'at least' bound)",
        )
    _grid_figure(sec, res)
    _frame_coverage_text(sec, res)
    sec.table(res.to_polars(), "All estimates")


def _coder_error_text(sec: Section, res: Any) -> None:
    """Say what the coded data tell about coder error."""
    ce = getattr(res, "coder_error", None)
    if not ce:
        return
    parts = []
    for c in ce["coders"]:
        se, sp = c["sensitivity"], c["specificity"]
        parts.append(
            f"{c['coder']}: sensitivity {se['estimate']:.2f} "
            f"({se['ci'][0]:.2f} to {se['ci'][1]:.2f}), specificity "
            f"{sp['estimate']:.2f} ({sp['ci'][0]:.2f} to {sp['ci'][1]:.2f})"
        )
    state = (
        "identify"
        if ce["identified"]
        else "do not identify (" + "; ".join(ce["reasons"]) + ")"
    )
    sec.text(
        "Coder error, estimated from the coded data: "
        + "; ".join(parts)
        + f". {ce['n_multiply_coded']:,} accounts were read twice or more and "
        f"{ce['n_adjudicated']:,} adjudicated; these data {state} the error rates. "
        "The headline corrects the primary coder's labels with these rates; in "
        "large strata where supporters are rare, a few per cent of false "
        "positives are most of what the uncorrected total counts."
    )


def _grid_figure(sec: Section, res: Any) -> None:
    """Draw the misclassification grid with the estimated coder rates marked."""
    g = res.sensitivity_grid
    if not isinstance(g, pl.DataFrame) or g.height == 0:
        return
    sens = sorted(set(g["sensitivity"].to_list()))
    specs = sorted(set(g["specificity"].to_list()))
    val = {
        (r["sensitivity"], r["specificity"]): r["estimate"]
        for r in g.iter_rows(named=True)
    }
    z = np.array([[val.get((a, b), np.nan) for b in specs] for a in sens])
    fig, ax = new_figure(figsize=(6.4, 3.6))

    def draw() -> None:
        im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(specs)), [f"{b:.2f}" for b in specs])
        ax.set_yticks(range(len(sens)), [f"{a:.2f}" for a in sens])
        for i in range(len(sens)):
            for j in range(len(specs)):
                if np.isfinite(z[i, j]):
                    ax.text(j, i, fmt_num(z[i, j]), ha="center", va="center",
                            fontsize=7, color="white")
        fig.colorbar(im, ax=ax, label="corrected total")
        ce = getattr(res, "coder_error", None)
        if ce and ce.get("coders"):
            c = next((c for c in ce["coders"]
                      if c["coder"] == ce.get("primary_coder")), ce["coders"][0])
            x = np.interp(c["specificity"]["estimate"], specs, range(len(specs)))
            y = np.interp(c["sensitivity"]["estimate"], sens, range(len(sens)))
            ax.plot([x], [y], marker="x", color="red", ms=10, mew=2,
                    label="estimated rates of " + c["coder"])
            ax.legend(loc="lower left", fontsize=7)
        finish(ax, title="Misclassification grid", xlabel="coder specificity",
               ylabel="coder sensitivity", legend=False)

    styled(draw)
    sec.figure(
        fig,
        "Corrected total if the coders had this sensitivity (rows) and "
        "specificity (columns), Rogan-Gladen; the cross marks the rates the "
        "coded data estimate (clipped to the grid). Each row and column shows how "
        "far the answer moves if coders miss or over-call supporters.",
    )


def _frame_coverage_text(sec: Section, res: Any) -> None:
    """Report supporters on the platform and why census and capture differ."""
    fc = getattr(res, "frame_coverage", None)
    if fc is None:
        return
    on, miss, cov = fc.on_platform, fc.missed, fc.coverage
    if not on.valid:
        sec.note(f"Supporters on the platform: not estimable ({on.reason}).")
        return
    sec.text(
        f"Supporters in the frame and on the platform. Of {fc.n_detected:,} "
        f"accounts on the detection lists, {fc.n_detected_in_frame:,} are in the "
        f"frame: the frame holds an estimated {fmt_ci(cov)} of the platform's "
        f"supporters. A dual-system estimate (Wolter 1986) puts the supporters on "
        f"the platform at {fmt_ci(on)}, of whom {fmt_ci(miss)} are missed by the "
        "frame. This is why the census total (supporters in the frame) is smaller "
        "than a capture-recapture total (supporters on the platform alive at the "
        "census): the snowball reaches only the part of the network connected to "
        "the seeds through collected lists. The dual-system estimate assumes that "
        "being in the frame and being detected are independent among supporters; "
        "prominent accounts are more likely to be both, which makes it too low."
    )


def render_capture(sec: Section, res: Any) -> None:
    """Show the capture-recapture estimates table."""
    e = res.estimate
    sec.headline(res.headline_sentence())
    sec.text(f"Method: {e.method}.")
    sec.table(
        pl.DataFrame(
            {
                "source": list(res.sources),
                "accounts": [int(n) for n in res.source_sizes],
            }
        ),
        "Lists (sources)",
    )
    mt = res.model_table()
    keep = [
        c
        for c in (
            "model",
            "estimate",
            "std_error",
            "ci_low",
            "ci_high",
            "aic",
            "bic",
            "lower_bound",
            "reason",
        )
        if c in mt.columns
    ]
    sec.table(
        mt.select(keep), f"Capture-recapture models (the chosen one is {res.model})"
    )
    fig, ax = new_figure(figsize=(6.4, 0.3 * (len(mt) + 4) + 1))
    styled(lambda: res.plot(ax=ax))
    sec.figure(
        fig,
        "Population size under each model with its interval; the "
        "dashed line is the number of accounts observed.",
    )
    if res.lower_bounds:
        lbs = "; ".join(f"{k}: {fmt_ci(v)}" for k, v in res.lower_bounds.items())
        sec.text(
            f"Chao's lower bounds (valid under heterogeneous catchability): {lbs}."
        )


def _survival_ticks(tmax: float) -> list[float]:
    for step in (7, 14, 30, 60, 90, 180, 365, 730):
        if tmax / step <= 8:
            return [float(x) for x in range(0, int(tmax) + 1, step)]
    return [float(x) for x in range(0, int(tmax) + 1, 1460)]


def render_churn(sec: Section, res: Any) -> None:
    """Draw survival curves (CI bands, numbers at risk) and monthly rates."""
    o = res.overall
    sec.headline(res.headline_sentence())
    sec.text(f"Method: {res.method}.")
    groups = [o] if not res.groups else list(res.groups.values())
    tmax = max((float(g.km.time.max()) for g in groups if g.km.time.size), default=0.0)
    if tmax > 0:
        ticks = _survival_ticks(tmax)
        fig, ax = new_figure(figsize=(6.4, 4.6 + 0.25 * len(groups)))

        def draw() -> None:
            for i, g in enumerate(groups):
                k = g.km
                t = np.concatenate([[0.0], k.time])
                s = np.concatenate([[k.start], k.estimate])
                lo = np.concatenate([[k.start], k.ci_low])
                hi = np.concatenate([[k.start], k.ci_high])
                label = "all accounts" if g is o else f"{res.by} = {g.group}"
                ax.step(t, s, where="post", color=PALETTE[i], label=label)
                ci_band(ax, t, lo, hi, color=PALETTE[i], step="post")
            ax.set_ylim(0, 1.02)
            ax.set_xlim(0, ticks[-1] if ticks[-1] > 0 else tmax)
            ax.set_xticks(ticks)
            finish(
                ax,
                xlabel=f"days since {_origin_text(res.origin)}",
                ylabel="share not yet suspended",
                title="Time to suspension (Kaplan-Meier)",
                legend=len(groups) > 1,
            )
            rows = {
                ("all" if g is o else str(g.group)): [
                    int(n) for n in g.km.n_at_risk(np.array(ticks))
                ]
                for g in groups
            }
            at_risk_table(ax, ticks, rows, title="At risk")

        styled(draw)
        sec.figure(
            fig,
            f"Kaplan-Meier curve of time to suspension with its "
            f"{res.level:.0%} pointwise band (log-log Greenwood); "
            "numbers at risk below the axis. Accounts enter when "
            "first seen alive (delayed entry).",
        )
    rows = []
    for g in groups:
        for r in g.survival_rows():
            rows.append({"group": "all" if g is o else str(g.group), **r})
    if rows:
        sec.table(pl.DataFrame(rows), "Survival at fixed ages (days)")
    rates = res.rates
    if isinstance(rates, pl.DataFrame) and rates.height:
        fig, ax = new_figure()

        def draw_rates() -> None:
            r = rates.filter(pl.col("rate").is_not_null() & pl.col("rate").is_not_nan())
            x = np.arange(r.height)
            per = 1000 * r["rate"].to_numpy()
            lo = per - 1000 * r["ci_low"].to_numpy()
            hi = 1000 * r["ci_high"].to_numpy() - per
            ax.bar(x, per, color=PALETTE[0], alpha=0.75, width=0.6)
            ax.errorbar(
                x, per, yerr=[lo, hi], fmt="none", ecolor="black", capsize=4, lw=1.2
            )
            ax.set_xticks(x, r["period"].to_list(), rotation=45 if r.height > 8 else 0)
            finish(
                ax,
                xlabel="calendar month",
                ylabel="suspensions per 1,000 account-days",
                title="Monthly suspension rate",
            )

        styled(draw_rates)
        sec.figure(
            fig,
            f"Suspensions per 1,000 account-days at risk by calendar "
            f"month, with exact Poisson {res.level:.0%} intervals.",
        )
        cols = [
            c
            for c in (
                "period",
                "alive_start",
                "new",
                "suspensions",
                "deleted",
                "censored",
                "alive_end",
                "account_days",
            )
            if c in rates.columns
        ]
        tbl = rates.select(cols).with_columns(
            (1000 * rates["rate"]).alias("rate_per_1000d"),
            (1000 * rates["ci_low"]).alias("ci_low"),
            (1000 * rates["ci_high"]).alias("ci_high"),
        )
        sec.table(tbl, "Monthly suspensions, exposure and stock and flow")
    else:
        sec.note("No period had accounts at risk, so there are no monthly rates.")
    if res.logrank is not None:
        lr = res.logrank
        sec.text(
            f"Log-rank test between groups: chi-square {fmt_num(lr.estimate)}, "
            f"p = {fmt_num(lr.extra.get('p_value'))}."
        )
    if res.cox is not None:
        sec.h3("Cox proportional hazards model")
        sec.pre(res.cox.summary())


def _origin_text(origin: str) -> str:
    return {"created": "account creation", "first_seen": "first sighting"}.get(
        origin, origin
    )


def render_resurrection(sec: Section, res: Any) -> None:
    """Show return rate, delay distribution, follower recovery by incarnation."""
    sec.headline(res.headline_sentence())
    sec.text(
        f"Successor accounts were linked to suspended ones by {res.method}: "
        f"{res.n_linked:,} links accepted at match probability "
        f"≥ {res.threshold:.3g} (expected precision "
        f"{fmt_pct(res.expected_precision)}) among {res.n_pairs:,} candidate "
        "pairs. Link uncertainty is carried into the intervals by drawing "
        "the links repeatedly."
    )
    rows = [
        {
            "within_days": float(d),
            "return_rate": e.estimate,
            "ci_low": e.ci[0],
            "ci_high": e.ci[1],
            "n": e.n,
        }
        for d, e in sorted(res.rates.items())
    ]
    if rows:
        sec.table(pl.DataFrame(rows), "Return rate by horizon")
    fig, ax = new_figure()
    styled(lambda: res.plot(ax=ax))
    sec.figure(
        fig,
        f"Share of suspended accounts that returned, by days since "
        f"suspension, with its {res.level:.0%} band.",
    )
    delays = (
        res.links["delay_days"].drop_nulls().to_numpy()
        if res.links.height and "delay_days" in res.links.columns
        else None
    )
    if delays is not None and len(delays):
        fig, ax = new_figure()

        def draw() -> None:
            ax.hist(
                delays,
                bins=min(40, max(5, len(delays) // 3)),
                color=PALETTE[0],
                edgecolor="white",
            )
            med = res.median_delay
            if med.valid:
                ax.axvline(
                    med.estimate,
                    color="black",
                    ls="--",
                    lw=1.2,
                    label=f"median {fmt_num(med.estimate)} days",
                )
            finish(
                ax,
                xlabel="days from suspension to the successor's creation",
                ylabel="linked returns",
                title="Delay before return",
                legend=med.valid,
            )

        styled(draw)
        sec.figure(
            fig,
            "Distribution of the delay between a suspension and the "
            "creation of the linked successor account (accepted links).",
        )
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
            ax.errorbar(
                ks,
                est,
                yerr=[lo, hi],
                fmt="o-",
                capsize=4,
                color=PALETTE[1],
                label=f"ratio, {res.level:.0%} CI",
            )
            ax.axhline(1.0, color="grey", lw=1, ls=":", label="full recovery")
            ax.set_xticks(ks)
            ax.set_xlim(min(ks) - 0.5, max(ks) + 0.5)
            ax.set_ylim(
                0,
                max(
                    1.05,
                    max(e.ci[1] for e in valid.values() if not math.isnan(e.ci[1]))
                    * 1.05
                    if any(not math.isnan(e.ci[1]) for e in valid.values())
                    else 1.05,
                ),
            )
            finish(
                ax,
                xlabel="incarnation of the returning account",
                ylabel="followers ÷ predecessor's followers",
                title="Follower recovery by incarnation",
                legend=True,
            )

        styled(draw_rec)
        sec.figure(
            fig,
            "Followers of a returning account (at about two weeks of "
            "age) as a share of its predecessor's followers at "
            "suspension, by incarnation number.",
        )
    if rec:
        sec.table(
            pl.DataFrame(
                [
                    {
                        "incarnation": int(k),
                        "follower_ratio": e.estimate,
                        "ci_low": e.ci[0],
                        "ci_high": e.ci[1],
                        "n": e.n,
                        "note": e.reason or "",
                    }
                    for k, e in rec.items()
                ]
            ),
            "Follower recovery by incarnation",
        )
    else:
        sec.note(
            "No returning account had follower counts on both sides of a "
            "link, so follower recovery is not available."
        )
    if res.incarnations:
        sec.table(
            pl.DataFrame(
                {
                    "accounts_in_lineage": [int(k) for k in sorted(res.incarnations)],
                    "presumed_actors": [
                        int(res.incarnations[k]) for k in sorted(res.incarnations)
                    ],
                }
            ),
            "Accounts per presumed actor",
        )


def render_describe(sec: Section, res: Any) -> None:
    """Show the profile of the accounts."""
    by = {e.term: e for e in res.estimates()}
    sec.headline(res.headline_sentence())
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
        fig, axes = new_figure(
            nrows, ncols, squeeze=False, figsize=(5 * ncols, 3.1 * nrows)
        )
        flat = list(axes.flat)
        for ax, kind in zip(flat, panels, strict=False):
            styled(lambda k=kind, a=ax: res.plot(ax=a, kind=k))
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
        sec.figure(
            fig,
            "Profile of the cohort: distributions of counts (log "
            "scale), creation months and interface languages.",
        )
    rows = []
    for var in (
        "followers",
        "friends",
        "statuses",
        "age_days",
        "tweets_per_day",
        "in_follower_share",
    ):
        for stat in PROFILE_STATS:
            e = by.get(f"{var}_{stat}")
            if e is not None and e.valid:
                rows.append(
                    {
                        "variable": var,
                        "statistic": stat,
                        "estimate": e.estimate,
                        "ci_low": e.ci[0],
                        "ci_high": e.ci[1],
                        "n": e.n,
                    }
                )
    if rows:
        sec.table(pl.DataFrame(rows), "Counts (latest active look-up)")
    shares = [
        e
        for e in res.estimates()
        if e.valid and "share" in e.term and not e.term.startswith("in_follower")
    ]
    if shares:
        sec.table(
            pl.DataFrame(
                [
                    {
                        "term": e.term,
                        "share": e.estimate,
                        "ci_low": e.ci[0],
                        "ci_high": e.ci[1],
                        "n": e.n,
                    }
                    for e in shares
                ]
            ),
            "Shares",
        )
    langs = res.tables.get("languages")
    if isinstance(langs, pl.DataFrame) and langs.height:
        sec.table(langs.head(10), "Languages")
    for sub, title in (
        (res.hyperactive, "Hyperactive accounts"),
        (res.comparison, "Against the control group"),
        (res.before_suspension, "Activity before suspension"),
    ):
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
