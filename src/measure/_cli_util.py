"""Helpers shared by every family's command-line module (``<family>/_cli.py``)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return _clean(o.item())
    return o


def emit(args: Any, payload: dict[str, Any], text: str) -> None:
    """Print ``payload`` as one JSON object with ``--json``, else ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(_clean(payload), indent=2, ensure_ascii=False))
    else:
        print(text)


def progress(it: Iterable[T], *, total: int | None = None, desc: str = "",
             unit: str = "it") -> Iterator[T]:
    """Progress bar on stderr (shown only when stderr is a terminal)."""
    from tqdm import tqdm

    yield from tqdm(it, total=total, desc=desc, unit=unit,
                    disable=not sys.stderr.isatty(), leave=False)


def add_json_flag(parser: Any) -> None:
    """Add the standard ``--json`` flag to a subcommand parser."""
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object instead of text")
