"""Build the sections of the census report from a dataset.

Each section runs one method family's ``analyze(ds)`` and turns its result into
headline text, tables and figures. A section whose inputs are missing (the table is
absent, the family is not installed, the estimator raises
:class:`measure.errors.MeasureError`) says so instead of failing the report.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from measure._contract import fmt_ci as fmt_ci  # re-exported for the renderers
from measure._contract import fmt_num as fmt_num
from measure._contract import fmt_pct as fmt_pct
from measure.errors import MeasureError
from measure.report._html import esc, figure_to_png_base64, meta_table

#: Order of the analysis sections in the report.
FAMILIES = ("census", "capture", "churn", "resurrection", "describe")

TITLES = {
    "census": "Population estimate (census)",
    "capture": "Capture–recapture",
    "churn": "Suspension survival",
    "resurrection": "Returns after suspension",
    "describe": "Profile of the accounts",
}

#: Reports that ``measure demo`` (or a user) writes into a dataset's directory: not
#: data, so verification does not count them as unexpected files.
REPORT_FILES = ("report.html", "report.pdf")

#: Caveats that hold for every report, whatever the data.
GENERAL_CAVEATS = (
    "Every interval is a sampling interval: it does not cover errors in how accounts "
    "were found (the frame), how they were coded, or how the platform reported their "
    "status.",
    "Platform-wide totals published by companies (e.g. suspension counts in "
    "transparency reports) count different things over different periods and are not "
    "comparable with frame-based counts.",
)


@dataclass
class Section:
    """One part of the report: blocks of text, tables and figures.

    ``blocks`` holds ``(kind, payload)`` pairs rendered by
    :func:`measure.report._html.section_html`; ``missing`` is set when the section's
    inputs are absent; ``fallback`` when the detailed rendering failed and only the
    generic one (summary, table, default figure) is shown.
    """

    key: str
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    missing: str | None = None
    fallback: str | None = None
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)  # text-only lines (for the PDF)
    keep: bool = False  # keep the figures (for the PDF)
    figures: list[tuple[str, Any]] = field(default_factory=list)

    def text(self, s: str) -> None:
        """Add a paragraph."""
        self.blocks.append(("text", s))

    def headline(self, s: str) -> None:
        """Add the section's key sentence."""
        self.blocks.append(("headline", s))

    def note(self, s: str) -> None:
        """Add a grey 'not available' note inside the section."""
        self.blocks.append(("note", s))

    def warn(self, s: str) -> None:
        """Add a highlighted warning."""
        self.blocks.append(("warning", s))

    def h3(self, s: str) -> None:
        """Add a sub-heading."""
        self.blocks.append(("h3", s))

    def pre(self, s: str) -> None:
        """Add preformatted text (a result's ``summary()``)."""
        self.blocks.append(("pre", s))

    def table(self, df: pl.DataFrame, caption: str | None = None) -> None:
        """Add a table."""
        self.blocks.append(("table", (caption, df)))

    def html(self, s: str) -> None:
        """Add raw (already escaped) HTML."""
        self.blocks.append(("html", s))

    def figure(self, fig: Any, caption: str) -> None:
        """Embed a matplotlib Figure (rendered to PNG now, closed unless kept)."""
        if self.keep:
            self.figures.append((caption, fig))
        self.blocks.append(
            ("figure", (caption, figure_to_png_base64(fig, close=not self.keep)))
        )

    @property
    def n_figures(self) -> int:
        """How many figures the section embeds."""
        return sum(1 for k, _ in self.blocks if k == "figure")


@dataclass
class Report:
    """Everything the HTML (and PDF) renderers need."""

    title: str
    subtitle: str
    version: str
    dataset_arg: str
    sections: list[Section]
    results: dict[str, Any] = field(default_factory=dict)
    #: count cells below this are shown as ``<N`` (0: no suppression)
    min_cell: int = 0
    #: shown in a banner at the top (e.g. data that differ from their pinned version)
    warnings: list[str] = field(default_factory=list)


# -- helpers -------------------------------------------------------------------------
# number formats of the headline sentences, shared with the results' ``to_dict()``


def collect_notes(
    obj: Any, *, _depth: int = 0, _seen: set[int] | None = None
) -> tuple[list[str], list[str]]:
    """Collect ``assumptions`` and ``warnings`` from a result, recursively.

    Walks dataclass fields, lists, tuples and dicts (not DataFrames), so nested
    :class:`measure.Estimate` objects contribute theirs. Order is kept, duplicates
    dropped.
    """
    seen = _seen if _seen is not None else set()
    assumptions: list[str] = []
    warnings: list[str] = []
    if _depth > 6 or id(obj) in seen or obj is None:
        return assumptions, warnings
    if isinstance(obj, str | bytes | int | float | bool | pl.DataFrame | pl.Series):
        return assumptions, warnings
    seen.add(id(obj))
    for attr, bucket in (("assumptions", assumptions), ("warnings", warnings)):
        val = getattr(obj, attr, None) if not isinstance(obj, dict) else None
        if isinstance(val, list | tuple):
            bucket.extend(str(v) for v in val if isinstance(v, str) and v)
    children: list[Any] = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        children = [
            getattr(obj, f.name, None)
            for f in dataclasses.fields(obj)
            if f.name not in ("assumptions", "warnings")
        ]
    elif isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, tuple):
        children = list(tuple.__iter__(obj))  # plain iteration, also of subclasses
    elif isinstance(obj, list):
        children = list(obj)
    for child in children:
        a, w = collect_notes(child, _depth=_depth + 1, _seen=seen)
        assumptions.extend(a)
        warnings.extend(w)
    return list(dict.fromkeys(assumptions)), list(dict.fromkeys(warnings))


def new_figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
    """Make a figure in measure's style (without touching pyplot's state)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from measure.report._style import FIGSIZE, RC

    with mpl.rc_context(RC):
        w, h = kw.pop(
            "figsize",
            (FIGSIZE[0] * (1 if ncols == 1 else 0.8 * ncols), FIGSIZE[1] * nrows),
        )
        fig = Figure(figsize=(w, h), layout="constrained")
        axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes


def styled(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` with measure's style active (for families' ``.plot()``)."""
    import matplotlib as mpl

    from measure.report._style import RC

    with mpl.rc_context(RC):
        return fn()


# -- running the analyses ------------------------------------------------------------
def run_family(
    name: str, ds: Any, options: dict[str, Any] | None = None, *, strict: bool = False
) -> tuple[Any | None, str | None]:
    """Run ``measure.<name>.analyze(ds)``; return ``(result, None)`` or ``(None, why)``.

    A family that is not installed, or whose estimator raises
    :class:`~measure.errors.MeasureError` (a missing table, data that do not
    support the estimate), gives the reason instead of a result. Any other
    exception is a bug: re-raised when ``strict``, else reported as such in the
    section (with a ``RuntimeWarning``) so that one failing analysis does not cost
    the analyst the whole report.
    """
    try:
        mod = importlib.import_module(f"measure.{name}")
    except ModuleNotFoundError as e:
        if e.name and (e.name == f"measure.{name}" or e.name.startswith("measure.")):
            return None, (
                f"the '{name}' analysis is not available in this version of measure"
            )
        raise
    analyze = getattr(mod, "analyze", None)
    if analyze is None:
        return (
            None,
            f"the '{name}' analysis is not available in this version of measure",
        )
    try:
        return analyze(ds, **(options or {})), None
    except MeasureError as e:
        return None, f"{type(e).__name__}: {e}"
    except Exception as e:
        if strict:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        why = (
            f"the '{name}' analysis failed with an internal error "
            f"({type(e).__name__}: {first}); this is a bug in measure, please "
            "report it with the dataset's manifest"
        )
        warnings.warn(why, RuntimeWarning, stacklevel=2)
        return None, why


# -- the dataset section -------------------------------------------------------------
def dataset_section(ds: Any) -> Section:
    """Dataset name, digest (or 'not pinned'), provenance, integrity and table sizes.

    The integrity row reports the check :func:`measure.open` made before opening
    the dataset (``ds.integrity``).
    """
    from measure import __version__

    sec = Section("dataset", "Dataset")
    m = ds.manifest or {}
    digest = m.get("digest")
    rows = [
        ("Name", esc(ds.name)),
        (
            "Digest",
            f"<code>sha256:{esc(digest)}</code>"
            if digest
            else "<strong>not pinned</strong> (no manifest.json; run "
            "<code>measure pin DATASET</code> to make it citable)",
        ),
        ("Location", f"<code>{esc(ds.path)}</code>"),
        (
            "measure version",
            esc(__version__)
            + (
                f" (dataset written by {esc(m['measure_version'])})"
                if m.get("measure_version") and m["measure_version"] != __version__
                else ""
            ),
        ),
    ]
    if m.get("created_at"):
        rows.append(("Pinned at", esc(m["created_at"])))
    if m.get("command"):
        rows.append(("Produced by", f"<code>{esc(m['command'])}</code>"))
    rep = getattr(ds, "integrity", None)
    if digest and rep is not None and rep.pinned:
        how = ("every file re-hashed" if rep.method == "full" else
               f"sizes and modification times compared, {rep.hashed} of "
               f"{rep.files} files re-hashed; run without --no-verify to re-hash "
               "every file")
        if rep.differences:
            rows.append(
                (
                    "Verification",
                    "<strong>FAILED</strong>: "
                    + esc(
                        "; ".join(
                            f"{d['kind']} {d.get('path', '')}"
                            for d in rep.differences[:5]
                        )
                        + f" ({how})"
                    ),
                )
            )
            sec.warn(
                "The files differ from the pinned manifest: the numbers below "
                "do not describe the pinned dataset. Run `measure verify` for "
                "details."
            )
        else:
            ok = ("every file re-hashed and matches the manifest"
                  if rep.method == "full" else
                  f"every file matches the manifest ({how})")
            rows.append(("Verification", esc(ok)))
    if (ds.path / "truth.json").is_file():
        try:
            truth = json.loads((ds.path / "truth.json").read_text())
            rows.append(
                (
                    "Origin",
                    esc(
                        f"simulated world (preset '{truth.get('preset')}', seed "
                        f"{truth.get('seed')}); the true values are in truth.json, "
                        "which no estimator reads"
                    ),
                )
            )
        except (OSError, json.JSONDecodeError):
            pass
    sec.html(meta_table(rows))
    sec.plain = [
        f"Name: {ds.name}",
        f"Digest: sha256:{digest}" if digest else "Digest: not pinned",
        f"measure version: {__version__}",
    ] + [f"{k}: {_strip_tags(v)}" for k, v in rows[4:]]
    counts = []
    for t in ds.tables:
        n = ds.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        counts.append({"table": t, "rows": int(n)})
    if counts:
        sec.table(pl.DataFrame(counts), "Tables")
    return sec


# -- generic rendering ---------------------------------------------------------------
def generic(sec: Section, result: Any, *, plot: bool = True) -> None:
    """Summary text, the tidy estimates table and the default figure of a result."""
    summary = getattr(result, "summary", None)
    if callable(summary):
        sec.pre(summary())
    to_polars = getattr(result, "to_polars", None)
    if callable(to_polars):
        df = to_polars()
        if isinstance(df, pl.DataFrame) and df.height:
            sec.table(df, "Estimates")
    if plot and callable(getattr(result, "plot", None)):
        fig, ax = new_figure()
        styled(lambda: result.plot(ax=ax))
        sec.figure(fig, f"{TITLES.get(sec.key, sec.key)}: default figure.")


def analysis_section(
    name: str,
    ds: Any,
    render: Callable[[Section, Any], None],
    *,
    result: Any = None,
    options: dict[str, Any] | None = None,
    keep_figures: bool = False,
    strict: bool = False,
) -> tuple[Section, Any]:
    """Run (or reuse) one family's analysis and render it into a section.

    With ``strict``, an error while drawing the detailed view is re-raised instead
    of falling back to the plain summary.
    """
    sec = Section(name, TITLES.get(name, name), keep=keep_figures)
    if result is None:
        result, why = run_family(name, ds, options, strict=strict)
        if result is None:
            sec.missing = why
            return sec, None
    sec.assumptions, sec.warnings = collect_notes(result)
    try:
        render(sec, result)
    except MeasureError as e:
        sec.blocks.clear()
        sec.fallback = f"{type(e).__name__}: {e}"
        sec.note(f"Detailed figures are not available: {e}")
        generic(sec, result, plot=False)
    except Exception as e:  # noqa: BLE001 - the report must not die on one section
        if strict:
            raise
        sec.blocks.clear()
        sec.fallback = "".join(traceback.format_exception_only(e)).strip()
        sec.note(
            "The detailed view of this result could not be drawn "
            f"({sec.fallback}); the plain summary follows."
        )
        generic(sec, result, plot=False)
    return sec, result


def caveats_section(sections: list[Section]) -> Section:
    """Plain-language list of assumptions and warnings, grouped by analysis."""
    sec = Section("caveats", "Assumptions and caveats")
    sec.text(
        "Each estimate above is only as good as the assumptions it rests on. "
        "They are listed here in the words of the estimators that made them; "
        "warnings are diagnostics raised on this dataset."
    )
    parts = []
    for s in sections:
        if s.missing:
            parts.append(
                f"<li><strong>{esc(s.title)}</strong>: not computed "
                f"({esc(s.missing)}).</li>"
            )
            continue
        if not (s.assumptions or s.warnings):
            continue
        items = "".join(f"<li>{esc(a)}</li>" for a in s.assumptions)
        items += "".join(
            f"<li><strong>Warning:</strong> {esc(w)}</li>" for w in s.warnings
        )
        parts.append(f"<li><strong>{esc(s.title)}</strong><ul>{items}</ul></li>")
    parts.append(
        "<li><strong>In general</strong><ul>"
        + "".join(f"<li>{esc(c)}</li>" for c in GENERAL_CAVEATS)
        + "</ul></li>"
    )
    sec.html(f"<ul class='caveats'>{''.join(parts)}</ul>")
    sec.plain = [f"- {c}" for c in GENERAL_CAVEATS]
    return sec


def _strip_tags(html_text: str) -> str:
    """Plain text of a small HTML fragment (for the PDF's text pages)."""
    import html as _html
    import re

    return _html.unescape(re.sub(r"<[^>]+>", "", html_text))


def dataset_label(path: Path) -> str:
    """How the dataset argument is shown in the footer."""
    return str(path)
