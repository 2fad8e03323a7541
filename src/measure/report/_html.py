"""Render a report as one self-contained HTML file.

Figures are embedded as base64 PNG (``data:`` URIs), the CSS is inline, and there is
no script and no external resource, so the file can be mailed, archived and opened
offline.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from measure.report._sections import Report, Section

#: Magnitudes below this are floating-point noise around zero and shown as 0.
ROUND_TO_ZERO = 1e-12
#: Largest number of rows shown for one table (the rest is summarised).
MAX_TABLE_ROWS = 40
#: Columns of the report's tables that count accounts, rows or events: with a
#: minimum cell size (``measure report --min-cell N``) a value below N in one of
#: them is shown as ``<N``. Other columns (estimates, rates, levels, days,
#: incarnation numbers) are never suppressed.
COUNT_COLUMNS = frozenset({
    "rows", "N", "n", "supporters", "unclear", "accounts", "count",
    "alive_start", "new", "suspensions", "deleted", "censored", "alive_end",
    "presumed_actors",
})

CSS = """
:root { --ink: #1a1a1a; --muted: #5f6368; --rule: #d9d9d9; --accent: #0072B2;
        --warn: #8a4b00; --warnbg: #fff4e5; --miss: #f3f3f3; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); max-width: 62rem; margin: 2rem auto; padding: 0 1.5rem;
       line-height: 1.45; font-size: 15px; background: #fff; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid var(--accent);
     padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
.subtitle { color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.86rem; }
.tbl { overflow-x: auto; max-width: 100%; }
th, td { white-space: nowrap; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.25rem 0.6rem;
         text-align: left; vertical-align: top; }
th { background: #f7f7f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; }
table.meta th { width: 12rem; background: none; font-weight: 600; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
              font-size: 0.85em; word-break: break-all; }
figure { margin: 1rem 0 1.4rem; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 0.86rem; margin-top: 0.3rem; }
.headline { font-size: 1.15rem; background: #eef5fb; border-left: 4px solid
            var(--accent); padding: 0.6rem 0.9rem; margin: 0.8rem 0; }
.missing { background: var(--miss); border-left: 4px solid #9e9e9e;
           padding: 0.5rem 0.9rem; color: #333; }
.warning { background: var(--warnbg); border-left: 4px solid var(--warn);
           padding: 0.5rem 0.9rem; }
.banner { font-size: 1.05rem; border: 2px solid var(--warn); }
pre.summary { background: #fafafa; border: 1px solid var(--rule); padding: 0.6rem;
              font-size: 0.8rem; overflow-x: auto; white-space: pre-wrap; }
nav ol { columns: 2; font-size: 0.9rem; }
ul.caveats li { margin-bottom: 0.35rem; }
.src { color: var(--muted); font-size: 0.8rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: 0.8rem;
         border-top: 1px solid var(--rule); padding-top: 0.6rem; }
@media print { body { max-width: none; margin: 0; font-size: 11pt; }
               h2 { page-break-after: avoid; } nav { display: none; } }
"""


def esc(text: object) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text), quote=True)


def figure_to_png_base64(fig: Any, *, dpi: int = 110, close: bool = True) -> str:
    """Render a matplotlib Figure to base64-encoded PNG text.

    The PNG carries no timestamp, so the same figure gives the same bytes.
    """
    buf = io.BytesIO()
    try:
        fig.savefig(
            buf,
            format="png",
            dpi=dpi,
            bbox_inches="tight",
            facecolor="white",
            metadata={"Software": None},
        )
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fmt_value(v: object) -> str:
    """Format one table cell: thousands separators, 4 significant digits, NA."""
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "NA"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) < ROUND_TO_ZERO:
            return "0"
        if v == int(v) and abs(v) < 1e6:
            return f"{int(v)}"
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def small_cell(v: object, min_cell: int) -> str | None:
    """Return ``"<N"`` when count ``v`` is below ``min_cell``, else ``None``.

    Statistical disclosure control of tables: a count of fewer than N accounts
    could single people out (the threshold rule for frequency tables; Hundepool
    et al. 2012, *Statistical Disclosure Control*, Wiley).
    """
    if min_cell <= 0 or v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float) and not math.isnan(v) and v < min_cell:
        return f"<{min_cell}"
    return None


def table_html(
    df: pl.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = MAX_TABLE_ROWS,
    min_cell: int = 0,
) -> str:
    """Render a polars DataFrame as an HTML table (numbers right-aligned).

    With ``min_cell`` N > 0, a value below N in a count column
    (:data:`COUNT_COLUMNS`) is shown as ``<N``.
    """
    shown = df.head(max_rows)
    numeric = {c for c, t in zip(df.columns, df.dtypes, strict=True) if t.is_numeric()}
    counts = numeric & COUNT_COLUMNS if min_cell > 0 else set()
    out = ["<div class='tbl'><table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f"<th>{esc(c)}</th>" for c in df.columns)
        + "</tr></thead><tbody>"
    )
    for row in shown.iter_rows():
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            cls = ' class="num"' if c in numeric else ""
            text = (small_cell(v, min_cell) if c in counts else None) or fmt_value(v)
            cells.append(f"<td{cls}>{esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    if df.height > max_rows:
        out.append(f"<p class='src'>{df.height - max_rows:,} more rows not shown.</p>")
    return "".join(out)


def meta_table(rows: list[tuple[str, str]]) -> str:
    """Two-column key/value table (values are escaped)."""
    body = "".join(
        f"<tr><th>{esc(k)}</th><td class='wrap'>{v}</td></tr>" for k, v in rows
    )
    return f"<table class='meta'><tbody>{body}</tbody></table>"


def section_html(section: Section, *, min_cell: int = 0) -> str:
    """Render one report section (count cells below ``min_cell`` as ``<N``)."""
    out = [f"<section id='{esc(section.key)}'><h2>{esc(section.title)}</h2>"]
    if section.missing:
        out.append(
            f"<p class='missing'><strong>Not available.</strong> "
            f"{esc(section.missing)}</p>"
        )
    for block in section.blocks:
        kind, payload = block
        if kind == "html":
            out.append(payload)
        elif kind == "text":
            out.append(f"<p>{esc(payload)}</p>")
        elif kind == "headline":
            out.append(f"<p class='headline'>{esc(payload)}</p>")
        elif kind == "h3":
            out.append(f"<h3>{esc(payload)}</h3>")
        elif kind == "note":
            out.append(f"<p class='missing'>{esc(payload)}</p>")
        elif kind == "warning":
            out.append(f"<p class='warning'>{esc(payload)}</p>")
        elif kind == "pre":
            out.append(f"<pre class='summary'>{esc(payload)}</pre>")
        elif kind == "table":
            caption, df = payload
            if caption:
                out.append(f"<h3>{esc(caption)}</h3>")
            out.append(table_html(df, min_cell=min_cell))
        elif kind == "figure":
            caption, b64 = payload
            out.append(
                f"<figure><img alt='{esc(caption)}' "
                f"src='data:image/png;base64,{b64}'>"
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown block kind {kind!r}")
    out.append("</section>")
    return "".join(out)


def render(report: Report) -> str:
    """Render a whole :class:`~measure.report._sections.Report` as HTML text."""
    nav = "".join(
        f"<li><a href='#{esc(s.key)}'>{esc(s.title)}</a></li>" for s in report.sections
    )
    body = "".join(section_html(s, min_cell=report.min_cell)
                   for s in report.sections)
    suppressed = (
        f"<p class='src'>Counts below {report.min_cell} are shown as "
        f"&lt;{report.min_cell} in the tables.</p>" if report.min_cell > 0 else "")
    banner = "".join(
        f"<p class='warning banner' role='alert'><strong>Warning:</strong> "
        f"{esc(w)}</p>" for w in getattr(report, "warnings", ()))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='generator' content='measure {esc(report.version)}'>"
        f"<title>{esc(report.title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(report.title)}</h1>"
        f"<p class='subtitle'>{esc(report.subtitle)}</p>{suppressed}{banner}"
        "</header>"
        f"<nav><h3>Contents</h3><ol>{nav}</ol></nav>{body}"
        f"<footer>Written by measure {esc(report.version)}. Every figure and number "
        "above was computed from the dataset named at the top; re-run "
        f"<code>measure report {esc(report.dataset_arg)}</code> to reproduce it."
        "</footer></body></html>\n"
    )
