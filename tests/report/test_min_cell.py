"""Minimum cell size in report tables (``measure report --min-cell``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest

import measure
from measure.cli import main
from measure.dataset._export import export_pseudonymised
from measure.errors import ConfigError, EstimationError
from measure.report import build_report, write_report
from measure.report._html import COUNT_COLUMNS, table_html
from measure.report._sections import FAMILIES

KEY = b"measure-test-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every family says it cannot run: the report is its dataset section (fast)."""
    import importlib

    def analyze(ds, **kw):
        raise EstimationError("stubbed out for a fast test")

    for name in FAMILIES:
        monkeypatch.setattr(importlib.import_module(f"measure.{name}"), "analyze",
                            analyze)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Three accounts and seven edges: the dataset section lists 3 and 7 rows."""
    with measure.DatasetWriter(tmp_path / "tiny", name="tiny") as w:
        w.write_table("accounts", pl.DataFrame({
            "account_id": [1, 2, 3], "screen_name": ["abu_a", "umm_b", "abu_c"]}))
        w.write_table("edges", pl.DataFrame({"src": [1, 1, 2, 2, 3, 3, 1],
                                             "dst": [2, 3, 1, 3, 1, 2, 2]}))
    return tmp_path / "tiny"


def _rows_cells(html: str) -> dict[str, str]:
    """The dataset section's table rows: table name -> shown row count."""
    import re

    return dict(re.findall(r"<tr><td>(accounts|edges)</td><td class=\"num\">"
                           r"([^<]*)</td></tr>", html))


def test_count_cells_below_min_cell_are_shown_as_less_than() -> None:
    df = pl.DataFrame({"period": ["2015-01", "2015-02"], "suspensions": [3, 12],
                       "n": [0, 5], "rate": [0.5, 2.0], "incarnation": [1, 2]})
    html = table_html(df, min_cell=5)
    assert html.count("&lt;5") == 2  # suspensions 3 and n 0
    assert ">12<" in html and ">5<" in html  # at or above N: shown
    # not counts: never suppressed
    assert ">0.5<" in html and ">1<" in html
    assert "&lt;" not in table_html(df)  # no minimum: today's table
    assert {"suspensions", "n", "rows", "presumed_actors"} <= COUNT_COLUMNS


def test_report_min_cell_suppresses_small_counts(tiny: Path, tmp_path: Path,
                                                 stubbed: None) -> None:
    plain = write_report(tiny, tmp_path / "plain.html").read_text()
    assert _rows_cells(plain) == {"accounts": "3", "edges": "7"}
    shown = write_report(tiny, tmp_path / "five.html", min_cell=5).read_text()
    assert _rows_cells(shown) == {"accounts": "&lt;5", "edges": "7"}
    assert "Counts below 5 are shown as &lt;5" in shown
    with pytest.raises(ConfigError, match="min_cell"):
        build_report(tiny, min_cell=-1)


def test_report_on_an_export_suppresses_by_default(tiny: Path, tmp_path: Path,
                                                   stubbed: None) -> None:
    export_pseudonymised(tiny, tmp_path / "export", key=KEY)
    assert build_report(tmp_path / "export").min_cell == 5
    assert build_report(tiny).min_cell == 0
    html = write_report(tmp_path / "export", tmp_path / "r.html").read_text()
    assert _rows_cells(html) == {"accounts": "&lt;5", "edges": "7"}
    off = write_report(tmp_path / "export", tmp_path / "off.html", min_cell=0)
    assert _rows_cells(off.read_text()) == {"accounts": "3", "edges": "7"}


def test_cli_min_cell(tiny: Path, tmp_path: Path, stubbed: None) -> None:
    out = tmp_path / "cli.html"
    assert main(["report", str(tiny), "--out", str(out), "--min-cell", "4"]) == 0
    assert _rows_cells(out.read_text()) == {"accounts": "&lt;4", "edges": "7"}
