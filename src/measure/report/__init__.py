"""The census report: one self-contained HTML file an analyst can send.

:func:`write_report` runs every available analysis on a dataset and writes an HTML
file with the dataset's name and digest, the measure version, the population
estimate with its bounds, precision by metric, survival curves, suspension rates,
returns after suspension, the accounts' profile, the capture-recapture table and a
plain-language list of assumptions and caveats. Figures are embedded PNGs; there is no
script and no network access. Sections whose inputs are missing say so.

:func:`apply_style` gives every family's figures the same look;
:func:`notebook_dataset` is the dataset the example notebooks analyse.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from measure.report._notebook import notebook_dataset, notebook_truth, repo_root
from measure.report._style import apply_style, at_risk_table, ci_band, style

#: Smallest count shown in the tables of a report on a pseudonymised export.
EXPORT_MIN_CELL = 5


def build_report(
    dataset_path: str | os.PathLike[str],
    *,
    results: dict[str, Any] | None = None,
    verify: bool = True,
    ignore: tuple[str, ...] = (),
    keep_figures: bool = False,
    strict: bool = False,
    min_cell: int | None = None,
    allow_modified: bool = False,
) -> Any:
    """Run the analyses on a dataset and assemble the report (not yet rendered).

    Parameters
    ----------
    dataset_path
        A dataset directory on the data contract.
    results
        Results already computed, by family name (``{"churn": ChurnResult, ...}``);
        the other families' ``analyze(ds)`` is run here.
    verify
        Re-hash every file of a pinned dataset against its manifest (otherwise
        the fast check of sizes and modification times decides which files to
        re-hash) and say whether they match.
    ignore
        Relative paths inside the dataset that verification should not count as
        unexpected (the report file itself when written into the dataset).
    keep_figures
        Keep the matplotlib figures (needed for the PDF).
    strict
        Re-raise an analysis's or a figure's unexpected error (a bug) instead of
        reporting it in its section; tests use this.
    min_cell
        Show count cells of the tables below this as ``<N``. Default: 5 for a
        pseudonymised export (``measure export``), no suppression otherwise.
    allow_modified
        Report on a pinned dataset whose files differ from its manifest; the
        report then opens with a warning. Without it such a dataset is refused.

    Returns
    -------
    measure.report._sections.Report

    Raises
    ------
    measure.errors.PinMismatchError
        The dataset is pinned, its files differ from its manifest and
        ``allow_modified`` is false.
    """
    from measure import __version__
    from measure.dataset import open_dataset
    from measure.dataset._export import is_export
    from measure.errors import ConfigError, ModifiedDatasetWarning
    from measure.report import _render
    from measure.report._sections import (
        FAMILIES,
        Report,
        analysis_section,
        caveats_section,
        dataset_section,
    )

    if min_cell is not None and min_cell < 0:
        raise ConfigError(
            f"min_cell must be 0 (no suppression) or a positive count, not {min_cell}"
        )
    path = Path(dataset_path)
    results = dict(results or {})
    with warnings.catch_warnings():
        # the report carries the warning itself, at its top
        warnings.simplefilter("ignore", ModifiedDatasetWarning)
        ds = open_dataset(path, verify=verify, ignore=ignore,
                          allow_modified=allow_modified)
    with ds:
        if min_cell is None:
            min_cell = EXPORT_MIN_CELL if is_export(ds.manifest) else 0
        sections = [dataset_section(ds)]
        computed: dict[str, Any] = {}
        for name in FAMILIES:
            sec, res = analysis_section(
                name,
                ds,
                _render.RENDERERS[name],
                result=results.get(name),
                keep_figures=keep_figures,
                strict=strict,
            )
            sections.append(sec)
            if res is not None:
                computed[name] = res
        sections.append(caveats_section(sections[1:]))
        digest = (ds.manifest or {}).get("digest")
        subtitle = (
            f"Dataset {ds.name}"
            + (f"@sha256:{digest[:12]}…" if digest else " (not pinned)")
            + f" · measure {__version__}"
        )
        return Report(
            title=f"Census report: {ds.name}",
            subtitle=subtitle,
            version=__version__,
            dataset_arg=str(path),
            sections=sections,
            results=computed,
            min_cell=min_cell,
            warnings=list(ds.warnings),
        )


def write_report(
    dataset_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    pdf: bool = False,
    results: dict[str, Any] | None = None,
    verify: bool = True,
    strict: bool = False,
    min_cell: int | None = None,
    allow_modified: bool = False,
) -> Path:
    """Write the census report of a dataset as one self-contained HTML file.

    Parameters
    ----------
    dataset_path
        A dataset directory on the data contract.
    out
        The HTML file to write (written atomically; parent folders are created).
    pdf
        Also write the figures and headline numbers to ``out`` with suffix ``.pdf``
        (matplotlib's PDF backend; no browser needed).
    results
        Results already computed, by family name; others are computed here.
    verify
        Re-hash every file of a pinned dataset against its manifest (otherwise
        only the files whose size or modification time differ) and report the
        outcome.
    strict
        Re-raise unexpected errors (bugs) of an analysis instead of reporting them
        in its section.
    min_cell
        Show count cells of the tables below this as ``<N`` (default: 5 for a
        pseudonymised export, no suppression otherwise).
    allow_modified
        Report on a pinned dataset whose files differ from its manifest, with a
        warning at the top of the report (and of the PDF); refused otherwise.

    Returns
    -------
    Path
        The HTML file written.

    Raises
    ------
    measure.errors.PinMismatchError
        The dataset is pinned, its files differ from its manifest and
        ``allow_modified`` is false.
    measure.errors.DataContractError
        The dataset breaks the data contract. Missing optional tables, families or
        estimates that do not apply never raise: their sections say why.
    """
    return _write_report(dataset_path, out, pdf=pdf, results=results, verify=verify,
                         strict=strict, min_cell=min_cell,
                         allow_modified=allow_modified)[0]


def _write_report(
    dataset_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    pdf: bool,
    results: dict[str, Any] | None,
    verify: bool,
    strict: bool,
    min_cell: int | None,
    allow_modified: bool,
) -> tuple[Path, Any]:
    """Write the report (see :func:`write_report`); return its path and the Report."""
    from measure._io import atomic_write_text
    from measure.report._html import render

    out = Path(out)
    root = Path(dataset_path).resolve()
    ignore: list[str] = []
    for target in (out, out.with_suffix(".pdf")):
        t = target.resolve()
        if t.is_relative_to(root):
            ignore.append(t.relative_to(root).as_posix())
    report = build_report(
        dataset_path,
        results=results,
        verify=verify,
        ignore=tuple(ignore),
        keep_figures=pdf,
        strict=strict,
        min_cell=min_cell,
        allow_modified=allow_modified,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(report))
    if pdf:
        from measure.report._pdf import write_pdf

        write_pdf(report, out.with_suffix(".pdf"))
    return out, report


__all__ = [
    "apply_style",
    "at_risk_table",
    "build_report",
    "ci_band",
    "notebook_dataset",
    "notebook_truth",
    "repo_root",
    "style",
    "write_report",
]
