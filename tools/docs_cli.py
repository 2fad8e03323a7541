"""Write the command-line reference page from the ``measure`` argument parsers.

``docs/reference/cli.md`` holds the ``--help`` text of ``measure`` and of every
command and sub-command, rendered from the parsers that ``measure.cli`` builds,
so the page says exactly what the installed command line accepts. Run from the
repository root::

    .venv/bin/python tools/docs_cli.py            # rewrite the page
    .venv/bin/python tools/docs_cli.py --check    # exit 1 if the page is stale

``make docs`` rewrites the page before building the site, and
``tests/test_docs_site.py`` fails when the committed page differs from what this
script renders. Help is wrapped at a fixed width (:data:`WIDTH` columns), whatever
the terminal, so the page does not depend on where it is rendered.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "cli.md"

#: Columns the help text is wrapped to (argparse subtracts two).
WIDTH = 90

HEADER = """\
# Command line

Every command of `measure`, with the options it accepts, exactly as
`measure COMMAND --help` prints them. Every command also takes `--json` where it
prints results (one JSON object on standard output), and `--debug` before the
command name shows full tracebacks. Errors exit non-zero with a one-paragraph
message.

This page is generated from the command-line parsers by `tools/docs_cli.py`
(`make docs` runs it); the test suite checks that it is current.
"""


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("measure",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Yield ``(command path, parser)`` for a parser and all its sub-commands.

    Parameters
    ----------
    parser
        The parser to start from.
    path
        Command words that lead to ``parser`` (``("measure",)`` at the top).

    Yields
    ------
    tuple of (tuple of str, argparse.ArgumentParser)
        Each command path with its parser, depth first, in the order the
        sub-commands (or a command's forms) were added; an alias of a command is
        not repeated.
    """
    yield path, parser
    # A command that dispatches on its first word to parsers of its own (as
    # ``measure census sample``) exposes them through its module's
    # ``form_parsers()``; each form's ``prog`` is its command path.
    func = parser.get_default("func")
    module = sys.modules.get(getattr(func, "__module__", ""), None)
    forms = getattr(module, "form_parsers", None)
    if callable(forms):
        for form in forms().values():
            yield tuple(form.prog.split()), form
    seen: set[int] = set()
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            yield from walk(sub, (*path, name))


def help_text(parser: argparse.ArgumentParser) -> str:
    """Return a parser's ``--help`` text wrapped at :data:`WIDTH` columns.

    Parameters
    ----------
    parser
        The parser whose help is formatted.

    Returns
    -------
    str
        The help text, without trailing blank space.
    """
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        text = parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def render() -> str:
    """Render the command-line reference page.

    Returns
    -------
    str
        The Markdown of ``docs/reference/cli.md``: one section per command (a
        sub-command gets a sub-section) holding its help text.
    """
    from measure.cli import build_parser

    parts = [HEADER]
    for path, parser in walk(build_parser()):
        level = "#" * max(2, min(len(path), 4))  # measure and its commands: ##
        body = help_text(parser)
        parts.append(f"{level} `{' '.join(path)}`\n\n```text\n{body}\n```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` report whether it is current.

    Parameters
    ----------
    argv
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the page was written or is current, 1 when ``--check`` finds it
        stale.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the page differs from the parsers",
    )
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = PAGE.read_text() if PAGE.is_file() else ""
        if current != text:
            print(
                f"{PAGE.relative_to(ROOT)} is stale: run "
                "`.venv/bin/python tools/docs_cli.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
