"""A PDF companion of the report, drawn with matplotlib's PDF backend only.

No browser is involved: the first page lists the dataset and each section's headline
(or why it is missing) and the assumptions; then one page per figure.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from measure._io import atomic_path

#: A4 portrait, inches.
PAGE = (8.27, 11.69)
#: Characters per line of the text pages.
WRAP = 95
#: Lines per text page.
LINES_PER_PAGE = 58


def _text_lines(report: Any) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = [
        ("title", report.title),
        ("body", report.subtitle),
        ("body", ""),
    ]
    for w in getattr(report, "warnings", ()):
        lines += [("body", t) for t in textwrap.wrap(f"WARNING: {w}", WRAP)]
        lines.append(("body", ""))
    for sec in report.sections:
        lines.append(("head", sec.title))
        if sec.missing:
            lines += [
                ("body", t)
                for t in textwrap.wrap(f"Not available: {sec.missing}", WRAP)
            ]
        for text in sec.plain:
            lines += [("body", t) for t in textwrap.wrap(text, WRAP)]
        for kind, payload in sec.blocks:
            if kind in ("headline", "text", "note", "warning"):
                lines += [("body", t) for t in textwrap.wrap(str(payload), WRAP)]
        for a in sec.assumptions:
            lines += [("body", t) for t in textwrap.wrap(f"- assumes: {a}", WRAP)]
        for w in sec.warnings:
            lines += [("body", t) for t in textwrap.wrap(f"- warning: {w}", WRAP)]
        lines.append(("body", ""))
    return lines


def write_pdf(report: Any, out: str | os.PathLike[str]) -> Path:
    """Write the report's text and figures to a PDF file and return its path."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    out = Path(out)
    lines = _text_lines(report)
    with atomic_path(out) as tmp, PdfPages(
        tmp,
        metadata={"Title": report.title, "Creator": "measure", "CreationDate": None},
    ) as pdf:
        for start in range(0, len(lines), LINES_PER_PAGE):
            fig = Figure(figsize=PAGE)
            y = 0.96
            for kind, text in lines[start : start + LINES_PER_PAGE]:
                size, weight = {"title": (15, "bold"), "head": (11, "bold")}.get(
                    kind, (8.5, "normal")
                )
                fig.text(
                    0.06,
                    y,
                    text,
                    fontsize=size,
                    fontweight=weight,
                    va="top",
                    family="DejaVu Sans",
                )
                y -= 0.016 if kind == "body" else 0.024
            pdf.savefig(fig)
        for sec in report.sections:
            for caption, fig in sec.figures:
                fig.suptitle(f"{sec.title}: {caption}"[:110], fontsize=9)
                pdf.savefig(fig, bbox_inches="tight")
                plt.close(fig)
    return out
