"""The ``measure`` command line: a thin layer that parses, calls the library, prints.

Each method family adds its subcommands in ``measure/<family>/_cli.py`` through a
``register(subparsers)`` function; each subcommand sets ``func=run`` where
``run(args) -> int``.

Start-up is kept short (``measure --help`` well under half a second): a family's
``_cli.py`` is loaded *without* running its package's ``__init__.py``, which
imports the estimators (numpy, polars, DuckDB, SciPy). A ``_cli.py`` module
therefore imports only the standard library, :mod:`measure.errors`,
:mod:`measure.options`, :mod:`measure._cli_util` and this module at module level
and in ``register``; its ``run`` imports the family when the command runs. A
``_cli`` module loaded this way is not set as an attribute of its package when
the package is imported later: import it by name (``from measure.churn._cli
import ...``).

Help texts share one style, which ``tests/test_cli_startup.py`` checks on every
parser: sentence case, no trailing period, defaults stated as ``(default X)``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from measure.errors import MeasureError

FAMILIES = ("dataset", "ingest", "simulate", "census", "capture", "churn",
            "resurrection", "describe", "report", "demo")

DESCRIPTION = """\
measure: count hidden online supporter networks, with honest uncertainty.

Typical session:
  measure simulate data/processed/world --seed 1 --preset small
  measure census data/processed/world          # population size with bounds
  measure churn data/processed/world --json    # suspension survival
  measure pin data/processed/world             # write manifest.json
  measure verify measure.lock                  # re-hash pinned datasets

Run `measure COMMAND --help` for each command's options.
"""


class HelpFormatter(argparse.HelpFormatter):
    """Help in the house style: sentence-case help texts, hand-laid descriptions.

    The first letter of every help text is shown capitalised, so argparse's own
    texts (``-h``, ``--version``) match ours. A description or epilog that
    contains a line break is printed as written (like
    :class:`argparse.RawDescriptionHelpFormatter`); one without is wrapped.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _expand_help(self, action: argparse.Action) -> str:
        text = super()._expand_help(action)
        return text[:1].upper() + text[1:]


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that formats help with `HelpFormatter`.

    Subcommand parsers made by ``add_subparsers().add_parser`` are of the same
    class, so every command's help has the same style.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class _VersionAction(argparse.Action):
    """``--version``: print ``measure <version>`` and exit.

    The version is read when the option is given, not when the parser is built
    (reading package metadata costs a tenth of a second).
    """

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: object,
                 values: object, option_string: str | None = None) -> None:
        import measure

        print(f"measure {measure.__version__}")
        parser.exit()


def load_family_cli(family: str) -> ModuleType | None:
    """Import ``measure.<family>._cli`` without importing the family's estimators.

    Parameters
    ----------
    family
        Name of the method family (a subpackage of ``measure``).

    Returns
    -------
    ModuleType or None
        The family's command-line module; ``None`` when the family is not
        installed.

    Notes
    -----
    When the family package is not imported yet, its ``_cli.py`` is executed from
    its file under its own module name, so ``measure/<family>/__init__.py`` (and
    the numerical libraries it imports) is skipped; the module is registered in
    :data:`sys.modules`, so a later ``from measure.<family>._cli import ...``
    gets the same module. Otherwise the regular import system is used.
    """
    name = f"measure.{family}._cli"
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), family,
                        "_cli.py")
    if f"measure.{family}" in sys.modules or not os.path.isfile(path):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name in (name, f"measure.{family}"):
                return None
            raise
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a plain file
        return importlib.import_module(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def build_parser() -> Parser:
    """Build the argument parser with every available family's subcommands.

    Returns
    -------
    Parser
        The ``measure`` parser; building it imports no numerical library.
    """
    parser = Parser(prog="measure", description=DESCRIPTION)
    parser.add_argument("--version", action=_VersionAction,
                        help="show the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for family in FAMILIES:
        module = load_family_cli(family)
        if module is not None:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``measure`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader closed the pipe (``measure ... | head``): not an error; send
        # whatever is still buffered nowhere so that exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except MeasureError as e:
        if args.debug:
            traceback.print_exc()
        print(f"measure {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        if args.debug:
            traceback.print_exc()
        print(f"measure {args.command}: error: {e} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
