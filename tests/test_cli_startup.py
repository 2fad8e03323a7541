"""Start-up of the ``measure`` command line and the style of its help texts.

The parser must be built without importing the numerical libraries (they take
seconds to import); each command imports its family when it runs. Every help
text is in sentence case, has no trailing period and states its default as
``(default X)``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import polars as pl

from measure.cli import FAMILIES, HelpFormatter, build_parser

HEAVY = ("numpy", "polars", "duckdb", "pyarrow", "scipy", "matplotlib", "pandas")
COMMANDS = ("pin", "verify", "info", "export", "purge", "ingest", "simulate",
            "census", "capture", "churn", "resurrection", "describe", "report",
            "demo")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=120, check=False)


HELP_PROBE = """
import contextlib, io, json, sys
from measure.cli import main

def run(argv):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main(argv)
        code = None
    except SystemExit as e:
        code = e.code
    return code, out.getvalue()

top = run(["--help"])
heavy_after_top = [m for m in {heavy!r} if m in sys.modules]
subs = {{c: run([c, "--help"]) for c in {commands!r}}}
forms = {{f: run(["census", f, "--help"])
         for f in ("sample", "import-codes", "frame", "plan")}}
print(json.dumps({{
    "top": top, "heavy_after_top": heavy_after_top, "subs": subs, "forms": forms,
    "heavy_after_all": [m for m in {heavy!r} if m in sys.modules],
}}))
"""


def test_help_of_every_command_imports_no_numerical_library() -> None:
    res = _python(HELP_PROBE.format(heavy=HEAVY, commands=COMMANDS))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    code, text = out["top"]
    assert code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\b", text, re.M), command
    assert out["heavy_after_top"] == []
    for command, (code, text) in out["subs"].items():
        assert code == 0, command
        assert text.startswith(f"usage: measure {command}"), command
    for form, (code, text) in out["forms"].items():
        assert code == 0, form
        assert text.startswith(f"usage: measure census {form}"), form
    assert out["heavy_after_all"] == []


def test_measure_script_help_exits_zero_and_lists_commands() -> None:
    script = Path(sys.executable).parent / "measure"
    argv = [str(script)] if script.is_file() else [sys.executable, "-m", "measure"]
    res = subprocess.run([*argv, "--help"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: measure")
    assert all(re.search(rf"^\s+{c}\b", res.stdout, re.M) for c in COMMANDS)


def test_version_option_prints_the_installed_version_on_stdout() -> None:
    res = subprocess.run([sys.executable, "-m", "measure", "--version"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0
    assert res.stdout.strip() == f"measure {version('measure')}"


IMPORT_PROBE = """
import json, sys
import measure
light = [m for m in {heavy!r} if m in sys.modules]
names = {{n: repr(getattr(measure, n)) for n in measure.__all__}}
from measure.dataset import open_dataset
print(json.dumps({{
    "light": light, "names": sorted(names),
    "open_is_open_dataset": measure.open is open_dataset,
    "families": [type(getattr(measure, f)).__name__ for f in
                 ("census", "capture", "churn", "resurrection", "describe",
                  "simulate", "dataset")],
    "in_dir": all(n in dir(measure) for n in measure.__all__),
}}))
"""


def test_import_measure_defers_heavy_modules_and_keeps_public_names() -> None:
    res = _python(IMPORT_PROBE.format(heavy=HEAVY))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["light"] == []
    assert out["names"] == sorted({
        "ConfigError", "DataContractError", "Dataset", "DatasetLockedError",
        "DatasetWriter", "Estimate", "EstimationError", "IngestError",
        "MeasureError", "ModifiedDatasetWarning", "PinMismatchError",
        "StatisticalWarning", "UnsafePathError", "__version__",
        "estimates_to_polars", "lock_dataset", "open", "pin", "verify",
        "verify_dataset", "write_manifest"})
    assert out["open_is_open_dataset"] is True
    assert out["families"] == ["module"] * 7
    assert out["in_dir"] is True


def test_unknown_attribute_of_measure_raises_attribute_error() -> None:
    import measure

    try:
        measure.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:  # pragma: no cover
        raise AssertionError("measure.no_such_name did not raise")


CLI_MODULE_PROBE = """
import sys
from measure.cli import build_parser
build_parser()
loaded = sys.modules["measure.churn._cli"]
family_imported = "measure.churn" in sys.modules
from measure.churn._cli import run_churn
import measure.churn._cli as again
print(family_imported, run_churn is loaded.run_churn, again is loaded)
"""


def test_family_cli_module_is_loaded_once_without_its_package() -> None:
    res = _python(CLI_MODULE_PROBE)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True", "True"]


def test_command_imports_its_family_when_it_runs(tmp_path: Path) -> None:
    from measure import DatasetWriter

    with DatasetWriter(tmp_path / "ds", name="tiny", command="test") as w:
        w.write_table("accounts", pl.DataFrame({"account_id": [1, 2],
                                                "screen_name": ["sim_a", "sim_b"]}))
        w.append("edges", pl.DataFrame({"src": [1], "dst": [2]}))
    res = subprocess.run([sys.executable, "-m", "measure", "info",
                          str(tmp_path / "ds"), "--json"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["name"] == "tiny"
    assert out["tables"]["accounts"] == 2
    assert out["tables"]["edges"] == 1


def test_values_listed_in_cli_modules_match_the_library() -> None:
    # by name from sys.modules: a command module loaded for the parser before its
    # family was imported is not an attribute of the family's package
    import importlib

    mod = importlib.import_module
    assert mod("measure.census._cli").METRICS == mod("measure.census").METRICS
    assert mod("measure.ingest._cli").FORMATS == mod("measure.ingest").FORMATS
    assert mod("measure.demo._cli").DEMO_PATH == str(mod("measure.demo").DEMO_PATH)
    assert mod("measure.demo._cli").DEMO_SEED == mod("measure.demo").DEMO_SEED


# --------------------------------------------------------------------------- style


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the command line: top level, commands, census forms."""
    from measure.census._cli import form_parsers

    top = build_parser()
    out = [("measure", top)]
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            out += [(f"measure {n}", p) for n, p in action.choices.items()]
    out += [(f"measure census {n}", p) for n, p in form_parsers().items()]
    return out


def _default_forms(value: object) -> set[str]:
    forms = {str(value)}
    if isinstance(value, float):
        forms.add(f"{value:g}")
    return forms


def _style_problems(where: str, text: str | None,
                    action: argparse.Action | None) -> list[str]:
    if text is None:
        return [f"{where}: no help text"]
    problems = []
    if not text or text[0].islower():
        problems.append(f"{where}: not in sentence case: {text!r}")
    if text.rstrip().endswith("."):
        problems.append(f"{where}: trailing period: {text!r}")
    if re.search(r"(?<!\()\bdefault\b", text, re.I) or "(default:" in text:
        problems.append(f"{where}: default not stated as '(default X)': {text!r}")
    if (action is not None and action.option_strings and action.nargs != 0
            and action.default not in (None, argparse.SUPPRESS)):
        if not any(f"(default {d}" in text for d in _default_forms(action.default)):
            problems.append(f"{where}: default {action.default!r} not stated: "
                            f"{text!r}")
    return problems


def test_every_help_text_follows_the_house_style() -> None:
    problems: list[str] = []
    n_checked = 0
    parsers = _parsers()
    names = {name for name, _ in parsers}
    assert {f"measure {c}" for c in COMMANDS} <= names
    for name, parser in parsers:
        assert isinstance(parser._get_formatter(), HelpFormatter), name
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    problems += _style_problems(f"{name} {choice.dest}",
                                                formatter._expand_help(choice), None)
                    n_checked += 1
                continue
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            text = None if action.help is None else formatter._expand_help(action)
            problems += _style_problems(where, text, action)
            n_checked += 1
    assert n_checked > 150
    assert problems == []


def test_style_check_flags_each_kind_of_departure() -> None:
    parser = argparse.ArgumentParser()
    level = parser.add_argument("--level", type=float, default=0.95)
    assert _style_problems("x", "Confidence level (default 0.95)", level) == []
    assert len(_style_problems("x", "confidence level (default 0.95)", level)) == 1
    assert len(_style_problems("x", "Confidence level (default 0.95).", level)) == 1
    assert len(_style_problems("x", "Confidence level (default: 0.95)", level)) == 2
    assert len(_style_problems("x", "Confidence level", level)) == 1
    assert len(_style_problems("x", "Level; default 0.95", level)) == 2
    assert len(_style_problems("x", None, level)) == 1


def test_formatter_keeps_laid_out_descriptions_and_wraps_the_others() -> None:
    formatter = HelpFormatter("prog", width=40)
    laid_out = "Forms:\n  a   one\n  b   two\n"
    assert formatter._fill_text(laid_out, 40, "") == laid_out
    wrapped = formatter._fill_text("word " * 20, 40, "")
    assert all(len(line) <= 40 for line in wrapped.splitlines())
    assert len(wrapped.splitlines()) > 1


def test_every_family_registers_a_command() -> None:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert len(FAMILIES) == 10
    assert set(sub.choices) == set(COMMANDS)
