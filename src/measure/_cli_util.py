"""Helpers shared by every family's command-line module (``<family>/_cli.py``)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
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


def with_warnings(payload: dict[str, Any], warnings: Sequence[str]) -> dict[str, Any]:
    """Return ``payload`` with ``warnings`` first in its top-level ``"warnings"`` list.

    A result's own ``"warnings"`` list (``to_dict()``) keeps its entries after
    them; a payload without one gets one.
    """
    if not warnings:
        return payload
    out = dict(payload)
    own = out.get("warnings")
    rest = list(own) if isinstance(own, list | tuple) else []
    out["warnings"] = list(warnings) + [w for w in rest if w not in warnings]
    return out


def emit(args: Any, payload: dict[str, Any], text: str, *,
         warnings: Sequence[str] = ()) -> None:
    """Print ``payload`` as one JSON object with ``--json``, else ``text``.

    ``warnings`` (such as the warning of a modified dataset opened with
    ``--allow-modified``) go first into the JSON's top-level ``"warnings"`` list,
    and before and after the text.
    """
    if getattr(args, "json", False):
        payload = with_warnings(payload, warnings)
        print(json.dumps(_clean(payload), indent=2, ensure_ascii=False))
    else:
        if warnings:
            lines = "\n".join(f"warning: {w}" for w in warnings)
            text = f"{lines}\n\n{text}\n\n{lines}"
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


def add_allow_modified_flag(parser: Any) -> None:
    """Add ``--allow-modified`` to a subcommand parser that analyses a dataset."""
    parser.add_argument("--allow-modified", action="store_true",
                        help="Analyse a pinned dataset even if its files differ "
                        "from its manifest, with a warning on every output; "
                        "without it such a dataset is refused, naming each file "
                        "that differs")


#: The values of ``--validate``: those of ``measure.dataset.Dataset``'s
#: ``validate`` (listed here so that building the parser imports no data library).
VALIDATE_LEVELS = ("schema", "full", "none")


def add_validate_flag(parser: Any) -> None:
    """Add ``--validate {schema,full,none}`` to a subcommand that opens a dataset."""
    parser.add_argument("--validate", choices=VALIDATE_LEVELS,
                        default=VALIDATE_LEVELS[0],
                        help="How much of the data contract to check when the "
                        "dataset is opened: schema, columns and types and what the "
                        "Parquet footers' statistics show (fast, reads no rows); "
                        "full, every row as well (nulls, allowed values, unique "
                        "ids, finite timestamps); none, no check (default schema)")


def add_engine_flags(parser: Any) -> None:
    """Add ``--engine``, ``--spark-conf`` and ``--checkpoint-dir`` to a parser."""
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="Where the SQL runs: DuckDB in this process (duckdb) "
                        "or Spark (spark; needs `pip install measure[spark]` and "
                        "Java 17, see docs/spark.md) (default duckdb)")
    parser.add_argument("--spark-conf", action="append", metavar="KEY=VALUE",
                        help="A Spark setting, e.g. spark.master=local[4]"
                        " (repeatable; with --engine spark)")
    parser.add_argument("--checkpoint-dir", metavar="DIR",
                        help="Directory (or URI every executor reaches) for Spark's "
                        "intermediate tables, with --engine spark (default a "
                        "local temporary directory)")


def engine_options(args: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`measure.open` for the engine flags of ``args``.

    Raises
    ------
    ConfigError
        For ``--spark-conf``/``--checkpoint-dir`` without ``--engine spark``, or a
        ``--spark-conf`` that is not ``KEY=VALUE``.
    """
    from measure.errors import ConfigError

    engine = getattr(args, "engine", None) or "duckdb"
    confs = list(getattr(args, "spark_conf", None) or [])
    checkpoint = getattr(args, "checkpoint_dir", None)
    if engine != "spark":
        if confs or checkpoint:
            raise ConfigError("--spark-conf and --checkpoint-dir need --engine spark")
        return {}
    conf: dict[str, str] = {}
    for item in confs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--spark-conf {item!r}: write KEY=VALUE, e.g. "
                              "spark.sql.shuffle.partitions=64")
        conf[key.strip()] = value
    return {"engine": "spark", "spark_conf": conf, "checkpoint_dir": checkpoint}


def open_dataset_arg(args: Any, path: Any = None, **kwargs: Any) -> Any:
    """Open the command's dataset (``args.dataset``), honouring ``--allow-modified``.

    Keyword arguments go to :func:`measure.open`, with the engine flags
    (:func:`add_engine_flags`) and ``--validate`` (:func:`add_validate_flag`)
    when the command has them. A dataset at a URI (``s3a://``, Spark only) is
    checked against the contract from its schema, with a warning saying so. The
    warning of a modified dataset is kept in the dataset's ``warnings`` (pass
    them to :func:`emit`) rather than printed by Python's warning machinery.
    """
    import warnings

    from measure.dataset import open_dataset
    from measure.engine._location import parse_location
    from measure.errors import ModifiedDatasetWarning

    target = args.dataset if path is None else path
    kwargs = {**engine_options(args), **kwargs}
    kwargs.setdefault("validate", getattr(args, "validate", None) or VALIDATE_LEVELS[0])
    remote = parse_location(target).remote
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModifiedDatasetWarning)
        ds = open_dataset(target, allow_modified=bool(getattr(args, "allow_modified",
                                                              False)), **kwargs)
    if remote and kwargs["validate"] != "none":
        ds.warnings.append("the remote dataset was checked against the contract "
                           "from its schema only (columns and types)")
    return ds
