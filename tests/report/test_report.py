"""Tests of the HTML report on hand-built datasets (fast; no simulator needed)."""

from __future__ import annotations

import base64
import json
import re
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest

import measure
from measure.errors import DataContractError, EstimationError, PinMismatchError
from measure.report import build_report, write_report
from measure.report._html import fmt_value, table_html
from measure.report._sections import FAMILIES, collect_notes

T0 = datetime(2014, 9, 1, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_tiny(path: Path, *, pin: bool = True) -> Path:
    acc = pl.DataFrame(
        {"account_id": [1, 2, 3, 4], "screen_name": ["abu_a", "umm_b", "c", "d"]}
    )
    obs = pl.DataFrame(
        {
            "account_id": [1, 1, 2, 2, 3, 3, 4, 4],
            "observed_at": [T0, T0 + timedelta(days=7)] * 4,
            "status": [
                "active",
                "suspended",
                "active",
                "active",
                "active",
                "not_found",
                "active",
                "active",
            ],
            "followers_count": [10, None, 20, 25, 3, None, 7, 9],
        }
    ).with_columns(pl.col("observed_at").cast(pl.Datetime("us", "UTC")))
    with measure.DatasetWriter(path, name="tiny") as w:
        w.write_table("accounts", acc)
        w.write_table("observations", obs)
    if not pin:
        (path / "manifest.json").unlink()
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return _write_tiny(tmp_path / "tiny")


def _fake_family(name: str, analyze) -> types.SimpleNamespace:
    """A stand-in family: only its ``analyze`` matters to the report."""
    return types.SimpleNamespace(analyze=analyze)


def _swap_family(monkeypatch, name: str, fake: types.SimpleNamespace | None) -> None:
    """Make ``measure.<name>`` behave like ``fake`` for one test.

    ``fake=None`` hides the module (as if absent). Otherwise the real module stays
    imported (its CLI must still register) and only its ``analyze`` is replaced, so
    nothing leaks into later tests.
    """
    import importlib

    if fake is None:
        monkeypatch.setitem(sys.modules, f"measure.{name}", None)
        return
    real = importlib.import_module(f"measure.{name}")
    monkeypatch.setattr(real, "analyze", fake.analyze)


@pytest.fixture
def stubbed(monkeypatch) -> None:
    """Replace every family by one whose estimator says it cannot run (fast)."""

    def analyze(ds, **kw):
        raise EstimationError("stubbed out for a fast test")

    for name in FAMILIES:
        _swap_family(monkeypatch, name, _fake_family(name, analyze))


def _images(html: str) -> list[bytes]:
    return [
        base64.b64decode(m)
        for m in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    ]


def test_report_is_self_contained(tiny: Path, tmp_path: Path, stubbed) -> None:
    out = write_report(tiny, tmp_path / "out" / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # no script, no stylesheet link, no remote resource of any kind
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", html)
    assert "url(" not in html
    for img in _images(html):
        assert img.startswith(PNG_MAGIC)


def test_dataset_name_digest_and_version(tiny: Path, tmp_path: Path, stubbed) -> None:
    html = write_report(tiny, tmp_path / "r.html").read_text()
    digest = json.loads((tiny / "manifest.json").read_text())["digest"]
    assert f"sha256:{digest}" in html
    assert "tiny" in html
    assert f"measure {measure.__version__}" in html
    assert "matches the manifest" in html


def test_not_pinned_is_said(tmp_path: Path, stubbed) -> None:
    ds = _write_tiny(tmp_path / "loose", pin=False)
    html = write_report(ds, tmp_path / "r.html").read_text()
    assert "not pinned" in html


def test_changed_file_stops_the_report_unless_allowed(tiny: Path, tmp_path: Path,
                                                       stubbed) -> None:
    acc = tiny / "accounts.parquet"
    pl.read_parquet(acc).with_columns(screen_name=pl.lit("changed")).write_parquet(acc)
    with pytest.raises(PinMismatchError, match="accounts.parquet"):
        build_report(tiny)
    rep = build_report(tiny, allow_modified=True)
    ds_sec = rep.sections[0]
    text = " ".join(str(p) for _, p in ds_sec.blocks)
    assert "FAILED" in text and "changed accounts.parquet" in text


def test_report_inside_dataset_is_not_unexpected(tiny: Path, stubbed) -> None:
    write_report(tiny, tiny / "report.html")
    # written a second time, the first report must not count as an unexpected file
    html = write_report(tiny, tiny / "report.html").read_text()
    assert "matches the manifest" in html


def test_missing_tables_say_so(tiny: Path, tmp_path: Path) -> None:
    """The tiny dataset has no edges, seeds, labels or detections (real families)."""
    rep = build_report(tiny)
    by = {s.key: s for s in rep.sections}
    assert set(FAMILIES) <= set(by)
    for name in ("census", "capture"):
        assert by[name].missing, f"{name} should say why it is missing"
    html = write_report(tiny, tmp_path / "r.html").read_text()
    assert html.count("Not available.") >= 2


def test_estimator_raising_measure_error_is_reported(
    tiny: Path, monkeypatch, stubbed
) -> None:
    def analyze(ds, **kw):
        raise EstimationError("no recaptures between the sources; add a source")

    _swap_family(monkeypatch, "capture", _fake_family("capture", analyze))
    rep = build_report(tiny)
    sec = next(s for s in rep.sections if s.key == "capture")
    assert "no recaptures between the sources" in sec.missing
    caveats = rep.sections[-1]
    assert "not computed" in " ".join(str(p) for _, p in caveats.blocks)


def test_absent_module_is_reported(tiny: Path, monkeypatch, stubbed) -> None:
    _swap_family(monkeypatch, "churn", None)
    rep = build_report(tiny)
    sec = next(s for s in rep.sections if s.key == "churn")
    assert "not available in this version" in sec.missing


def test_other_errors_are_flagged_as_bugs(tiny: Path, monkeypatch, stubbed) -> None:
    """A bug in an estimator is named as one (and raised with ``strict``)."""

    def analyze(ds, **kw):
        raise ZeroDivisionError("division by zero in the estimator")

    _swap_family(monkeypatch, "capture", _fake_family("capture", analyze))
    with pytest.warns(RuntimeWarning, match="internal error"):
        rep = build_report(tiny)
    sec = next(s for s in rep.sections if s.key == "capture")
    assert "ZeroDivisionError" in sec.missing and "bug in measure" in sec.missing
    with pytest.raises(ZeroDivisionError):
        build_report(tiny, strict=True)


def test_renderer_failure_falls_back_to_summary(
    tiny: Path, monkeypatch, stubbed
) -> None:
    est = measure.Estimate(
        "n_hat",
        120.0,
        (100.0, 150.0),
        method="Chapman",
        assumptions=("closed population",),
        warnings=("few recaptures",),
    )

    class Odd:
        """A result missing the attributes the detailed view expects."""

        def summary(self) -> str:
            return "odd result summary"

        def to_polars(self) -> pl.DataFrame:
            return est.to_polars()

        assumptions = est.assumptions
        warnings = est.warnings

    def detailed(sec, res):
        return res.population_size  # what a detailed view would read

    from measure.report import _render

    monkeypatch.setitem(_render.RENDERERS, "capture", detailed)
    fake = _fake_family("capture", lambda ds, **kw: Odd())
    _swap_family(monkeypatch, "capture", fake)
    rep = build_report(tiny)
    sec = next(s for s in rep.sections if s.key == "capture")
    assert sec.fallback
    kinds = [k for k, _ in sec.blocks]
    assert "pre" in kinds and "table" in kinds
    assert sec.assumptions == ["closed population"]
    assert sec.warnings == ["few recaptures"]


def test_invalid_dataset_raises(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataContractError):
        write_report(tmp_path / "nope", tmp_path / "r.html")


def test_collect_notes_walks_nested_results() -> None:
    a = measure.Estimate(
        "a", 1.0, (0.0, 2.0), assumptions=("A1", "A2"), warnings=("W1",)
    )
    b = measure.Estimate("b", 1.0, (0.0, 2.0), assumptions=("A2", "A3"))

    @__import__("dataclasses").dataclass(frozen=True)
    class R:
        rates: dict
        parts: tuple
        table: pl.DataFrame
        warnings: tuple = ("top",)

    r = R(rates={7: a}, parts=(b,), table=pl.DataFrame({"x": [1]}))
    assumptions, warnings = collect_notes(r)
    assert assumptions == ["A1", "A2", "A3"]
    assert warnings == ["top", "W1"]


def test_pdf_written(tiny: Path, tmp_path: Path, stubbed) -> None:
    from measure.report._pdf import _text_lines

    out = write_report(tiny, tmp_path / "r.html", pdf=True)
    pdf = out.with_suffix(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    digest = json.loads((tiny / "manifest.json").read_text())["digest"]
    text = " ".join(t for _, t in _text_lines(build_report(tiny)))
    assert f"sha256:{digest}" in text and "stubbed out" in text


def test_cli(tiny: Path, tmp_path: Path, capsys, stubbed) -> None:
    from measure.cli import main

    out = tmp_path / "cli.html"
    assert main(["report", str(tiny), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"] == str(out) and out.is_file()
    assert main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 1


def test_table_cells() -> None:
    assert fmt_value(float("nan")) == "NA"
    assert fmt_value(12345.6) == "12,346"
    assert fmt_value(5.5e-17) == "0"
    assert fmt_value(0.123456) == "0.1235"
    html = table_html(pl.DataFrame({"term": ["<x>"], "v": [1.5]}))
    assert "&lt;x&gt;" in html and 'class="num"' in html


# -- on a simulated world (every family) ---------------------------------------------
#: Figures the report draws on a full small world: census precision and estimates,
#: capture forest, churn survival and monthly rates, resurrection curve, delays and
#: follower recovery, describe profile.
MIN_FIGURES_SMALL_WORLD = 9


def test_small_world_report_has_every_section(small_world: Path) -> None:
    from measure.report._html import render

    rep = build_report(small_world, strict=True)
    html = render(rep)
    by = {s.key: s for s in rep.sections}
    for name in FAMILIES:
        assert by[name].missing is None, f"{name}: {by[name].missing}"
        assert by[name].fallback is None, f"{name}: {by[name].fallback}"
    assert by["census"].n_figures >= 2
    assert by["churn"].n_figures >= 2
    assert by["resurrection"].n_figures >= 2
    images = _images(html)
    assert len(images) >= MIN_FIGURES_SMALL_WORLD
    assert all(img.startswith(PNG_MAGIC) for img in images)
    for phrase in (
        "supporter accounts in a frame of",
        "Suspensions per 1,000",
        "numbers at risk below the axis",
        "Follower recovery by incarnation",
        "Capture-recapture models",
        "Assumptions and caveats",
        "every file re-hashed and matches the manifest",
    ):
        assert phrase in html, phrase
    assert "closed population" in html  # capture's assumption, in the caveats


@pytest.mark.slow
def test_report_is_byte_for_byte_reproducible(
    small_world: Path, tmp_path: Path
) -> None:
    """Same dataset, same version: the same HTML bytes (figures carry no dates)."""
    a = write_report(small_world, tmp_path / "a.html", strict=True).read_bytes()
    b = write_report(small_world, tmp_path / "b.html", strict=True).read_bytes()
    assert a == b
