"""The documentation site builds with warnings as errors, and its examples run.

The site (``mkdocs.yml``: mkdocs-material, mkdocstrings with numpy-style docstrings)
is built with ``mkdocs build --strict``, so a broken link, a missing anchor or a
docstring mkdocstrings cannot read fails the suite. The tutorial, the how-to guides,
the home page and ``README.md`` mark each code block ``<!-- runnable -->`` (run
here, in order, in one namespace per page, from a scratch directory) or
``<!-- not-run: reason -->``; a ``<!-- output -->`` block after a runnable one is
what that block prints, and must match. The command-line reference is generated
from the argument parsers by ``tools/docs_cli.py`` and must be current. The
manuals say what the toolkit does, not how it came to be: no issue numbers,
commit hashes or session talk.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Pages whose code blocks are examples to run, and how long their run takes:
#: the tutorial, the coding-sample guide and the README analyse whole worlds
#: (about 15 to 40 s each on 2 cores), the others take a few seconds each.
EXAMPLE_PAGES = {
    "docs/index.md": False,
    "docs/how-to/own-data.md": False,
    "docs/how-to/pin-for-a-paper.md": False,
    "docs/how-to/coding-sample.md": True,
    "docs/tutorial.md": True,
    "docs/resurrection.md": True,
    "docs/census.md": True,
    "docs/capture.md": True,
    "docs/simulation.md": True,
    "docs/ingest.md": True,
    "README.md": True,
}

FAMILIES = ("census", "capture", "churn", "resurrection", "describe")
RESULT_CLASSES = (
    "CensusResult",
    "CaptureResult",
    "ChurnResult",
    "ResurrectionResult",
    "DescribeResult",
)

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (it comes with the lock's `docs` extra: "
    "`make test` installs it)",
)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int  # line of the opening fence, 1-based
    lang: str
    # "runnable", "output", "not-run", "worked-example" (run by the ingest tests,
    # which find the block by its marker) or "" (no marker)
    marker: str
    code: str


FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(
    r"<!--\s*(runnable|output|not-run|worked-example)\b[^>]*-->\s*\n\s*$"
)


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()]
        mk = MARKER.search(before[-200:])
        out.append(
            Block(
                page,
                before.count("\n") + 1,
                m.group(1),
                mk.group(1) if mk else "",
                m.group(2),
            )
        )
    return out


# ------------------------------------------------------------------------ the build
def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        # not -q: a quiet build drops the warnings that strict mode counts
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(config),
            "-d",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=config.parent,
        check=False,
    )


@needs_mkdocs
def test_site_builds_strictly_with_every_section_and_the_api_reference(tmp_path):
    res = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert res.returncode == 0, res.stderr
    site = tmp_path / "site"
    for page in (
        "index.html",
        "tutorial/index.html",
        "how-to/own-data/index.html",
        "how-to/coding-sample/index.html",
        "how-to/pin-for-a-paper/index.html",
        "census/index.html",
        "capture/index.html",
        "churn/index.html",
        "resurrection/index.html",
        "reference/cli/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "reference" / "api" / "index.html").read_text()
    for family, result in zip(FAMILIES, RESULT_CLASSES, strict=True):
        # mkdocstrings gives every documented object an anchor named after it
        assert f'id="measure.{family}.analyze"' in api, family
        assert f'id="measure.{family}.{result}"' in api, result
    # numpydoc sections are parsed into tables, not shown as raw underlined text
    assert api.count('class="doc-section-title"') >= 40
    assert "----------" not in api


@needs_mkdocs
def test_strict_build_fails_on_a_link_to_a_missing_page(tmp_path):
    # the same configuration on a copy of the pages with one broken link added
    (tmp_path / "src").symlink_to(ROOT / "src")
    docs = tmp_path / "docs"
    (docs / "how-to").mkdir(parents=True)
    (docs / "reference").mkdir()
    for page in DOCS.rglob("*.md"):
        dest = docs / page.relative_to(DOCS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(page.read_text())
    (docs / "reference" / "api.md").write_text("# Python API\n")  # fast build
    (docs / "how-to" / "own-data.md").write_text(
        "# Bring your own data\n\nSee [the contract](no-such-page.md).\n"
    )
    config = tmp_path / "mkdocs.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text())
    res = _mkdocs(config, tmp_path / "site")
    assert res.returncode != 0
    assert "no-such-page.md" in res.stderr


# --------------------------------------------------------------------- the examples
RUNNER = r"""
import contextlib, io, json, os, subprocess, sys, traceback

blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
outputs = []
for b in blocks:
    where = f"{b['page']}:{b['line']}"
    buf = io.StringIO()
    try:
        if b["lang"] == "python":
            code = compile(b["code"], where, "exec")
            with contextlib.redirect_stdout(buf):
                exec(code, namespace)
        else:
            res = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]],
                                 capture_output=True, text=True)
            buf.write(res.stdout)
            if res.returncode != 0:
                raise RuntimeError(f"exit {res.returncode}\n{res.stdout}\n"
                                   f"{res.stderr}")
    except BaseException:
        print(f"the example at {where} failed:\n{traceback.format_exc()}",
              file=sys.stderr)
        sys.exit(1)
    outputs.append(buf.getvalue())
json.dump(outputs, open(sys.argv[2], "w"))
"""


def run_examples(page: str, cwd: Path) -> list[tuple[Block, str]]:
    """Run a page's runnable blocks in order; return each with what it printed."""
    runnable = [b for b in blocks(page) if b.marker == "runnable"]
    spec, result = cwd / ".blocks.json", cwd / ".outputs.json"
    spec.write_text(json.dumps([b.__dict__ for b in runnable]))
    # paths in the examples are relative to the repository root: its example
    # inputs are linked in, and everything the examples write stays here
    for name in ("tests", "docs", "notebooks"):
        if not (cwd / name).exists():
            (cwd / name).symlink_to(ROOT / name)
    # `.venv/bin/measure` in the README is the running interpreter's environment
    if not (cwd / ".venv").exists():
        (cwd / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("MEASURE_DATASET", None)
    res = subprocess.run(
        [sys.executable, "-c", RUNNER, str(spec), str(result)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    return list(zip(runnable, json.loads(result.read_text()), strict=True))


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=[pytest.mark.slow] if slow else [], id=p)
        for p, slow in EXAMPLE_PAGES.items()
    ],
)
def test_examples_run_and_print_what_the_page_shows(page, tmp_path):
    if page == "README.md":
        # the README's example reads the demo world that `make demo` writes
        from measure.demo import DEMO_SEED
        from measure.simulate import simulate

        simulate("demo", seed=DEMO_SEED, out=tmp_path / "data/processed/demo")
    ran = run_examples(page, tmp_path)
    assert ran, f"{page} has no runnable example"
    printed = {b.line: out for b, out in ran}
    every = blocks(page)
    checked = 0
    for i, b in enumerate(every):
        if b.marker != "output":
            continue
        source = every[i - 1]
        assert source.marker == "runnable", (
            f"{page}:{b.line}: an output block must follow a runnable block"
        )
        assert _norm(printed[source.line]) == _norm(b.code), (
            f"{page}:{b.line}: the example at line {source.line} printed\n"
            f"{printed[source.line]}"
        )
        checked += 1
    if page in ("README.md", "docs/tutorial.md"):
        assert checked >= 1, f"{page} shows no sample output"


@pytest.mark.parametrize("page", list(EXAMPLE_PAGES))
def test_every_code_block_of_an_example_page_is_run_or_says_why_not(page):
    for b in blocks(page):
        if b.lang in ("python", "bash", "console", "sh"):
            assert b.marker in ("runnable", "not-run", "worked-example"), (
                f"{page}:{b.line}: mark the block <!-- runnable --> or "
                "<!-- not-run: reason -->"
            )
        if b.marker == "runnable":
            assert b.lang in ("python", "bash"), f"{page}:{b.line}: {b.lang}"


# ------------------------------------------------------------ the CLI reference
def _docs_cli():
    spec = importlib.util.spec_from_file_location(
        "docs_cli", ROOT / "tools" / "docs_cli.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_page_is_current_with_the_parsers():
    docs_cli = _docs_cli()
    page = (DOCS / "reference" / "cli.md").read_text()
    assert page == docs_cli.render(), (
        "docs/reference/cli.md is stale: run `.venv/bin/python tools/docs_cli.py`"
    )


def test_cli_reference_has_a_section_for_every_command_and_census_form():
    from measure.cli import build_parser

    docs_cli = _docs_cli()
    paths = [" ".join(p) for p, _ in docs_cli.walk(build_parser())]
    commands = (
        "pin",
        "verify",
        "info",
        "export",
        "purge",
        "ingest",
        "simulate",
        "census",
        "capture",
        "churn",
        "resurrection",
        "describe",
        "report",
        "demo",
    )
    for c in commands:
        assert f"measure {c}" in paths, c
    for form in ("DATASET", "sample", "import-codes", "frame", "plan"):
        assert f"measure census {form}" in paths, form
    page = (DOCS / "reference" / "cli.md").read_text()
    for p in paths:
        assert re.search(rf"^#+ `{re.escape(p)}`$", page, re.M), p
    # each section shows the command's own usage line
    assert "usage: measure census sample" in page
    assert "--complete-followup" in page  # an option of `measure churn`


# ------------------------------------------------------------ no development history
#: Patterns of development history. A hash is flagged unless it cites another
#: project's source (``github.com/owner/repo commit abc1234``);
#: "session" is allowed as pytest's fixture scope and as a user's session at the
#: shell ("Typical session:" in ``measure --help``).
HISTORY = [
    (re.compile(r"\bissues?\s*#?\d+\b", re.I), "issue number"),
    (re.compile(r"\b(?:pull request|PR)\s*#?\d+\b", re.I), "pull request number"),
    (re.compile(r"(?<![\w&/#])#\d+\b"), "issue reference"),
    (
        re.compile(
            r"(?<!github\.com/)(?<![\w/:.-])"
            r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b(?![\w-])"
        ),
        "commit hash",
    ),
    (
        re.compile(
            r"(?<!typical )(?<!interactive )(?<!Jupyter )\bsessions?\b"
            r"(?!\s*(?:-scoped|fixtures?|scope))",
            re.I,
        ),
        "session",
    ),
    (re.compile(r"\buntil (?:then|now)\b", re.I), "until then/now"),
]


def history_hits(text: str) -> list[str]:
    hits = []
    for n, line in enumerate(text.splitlines(), 1):
        if "sha256" in line.lower():
            continue  # digests of data files, not commits
        for pattern, what in HISTORY:
            for m in pattern.finditer(line):
                # another project's commit cited with its repository
                if what == "commit hash" and re.search(
                    r"github\.com/[\w.-]+/[\w.-]+ commit $", line[: m.start()]
                ):
                    continue
                hits.append(f"{n}: {what}: {m.group(0)!r}")
    return hits


def test_history_patterns_catch_history_and_spare_manual_text():
    for text in (
        "see issue 12",
        "fixed in #12",
        "Issue #7 asked for it",
        "code from commit 3f9a2b1c",
        "code at commit `49172e12e08e`",
        "(PR 41)",
        "this session added it",
        "until then the rate was wrong",
        "until now",
    ):
        assert history_hits(text), text
    for text in (
        "use the session fixtures of tests/conftest.py",
        "Typical session:",
        "world@sha256:3f1c9ab2e4d5",
        "OEIS A058862: 8, 61, 822",
        "github.com/cran/Rcapture commit 09223d1",
        "seeds 1050000-1050099",
        "[a link](#how-rows-are-added)",
        "channel `-1001000000004`",
    ):
        assert not history_hits(text), text


def test_manuals_and_readme_carry_no_development_history():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    found = {
        str(p.relative_to(ROOT)): h for p in pages if (h := history_hits(p.read_text()))
    }
    assert not found, found
