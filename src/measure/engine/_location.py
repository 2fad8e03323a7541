"""Where a dataset lives, and which family may run on which engine.

A dataset path is local (a directory DuckDB and Spark both read) or a URI that
only Spark reads (``s3a://``, ``abfss://``, ``hdfs://``, ``gs://``, ``file://``):
:func:`parse_location` tells them apart, :func:`list_tables` lists the tables
of a URI through Spark's Hadoop file system.

:func:`calling_family` names the measure family (and its function) on whose
behalf the dataset is queried; :data:`SPARK_FAMILIES` are the families whose
SQL runs on Spark.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from measure.engine._errors import UnsupportedOnSpark

#: URI schemes of datasets that Spark reads (through its Hadoop file systems).
REMOTE_SCHEMES = frozenset({"s3a", "s3", "s3n", "abfs", "abfss", "wasb", "wasbs",
                            "hdfs", "gs", "viewfs", "file"})
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")

#: Families whose analyses run on Spark (their SQL goes through the engine).
SPARK_FAMILIES = frozenset({"census", "churn"})
#: Every family package (``measure.<family>``) that queries datasets.
FAMILIES = frozenset({"capture", "census", "churn", "describe", "resurrection",
                      "report", "demo", "ingest", "simulate"})


@dataclass(frozen=True)
class Location:
    """A dataset's location.

    Attributes
    ----------
    uri
        The location as given (a URI keeps its scheme and authority).
    scheme
        ``"s3a"``, ``"hdfs"``, ... for a URI; ``""`` for a local path.
    """

    uri: str
    scheme: str = ""

    @property
    def remote(self) -> bool:
        """Whether only Spark can read it (a URI)."""
        return bool(self.scheme)

    @property
    def name(self) -> str:
        """Last path component (the dataset's default name)."""
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> str:
        """Return the URI of entry ``name`` inside the location."""
        return self.uri.rstrip("/") + "/" + name


def parse_location(path: Any) -> Location:
    """Tell a local dataset path from a URI that Spark reads.

    Parameters
    ----------
    path
        A local path (``str`` or path-like) or a URI such as
        ``s3a://bucket/world``, ``abfss://container@account.dfs.core.windows.net/w``
        or ``hdfs://namenode:8020/data/world``.

    Returns
    -------
    Location

    Raises
    ------
    ValueError
        For a URI with an unknown scheme or without a path.
    """
    text = str(path)
    m = _URI.match(text)
    if not m:
        return Location(text)
    scheme = m.group(1).lower()
    if scheme not in REMOTE_SCHEMES:
        raise ValueError(f"unknown dataset location scheme {scheme!r} in {text!r}; "
                         f"Spark reads {', '.join(sorted(REMOTE_SCHEMES))}")
    rest = m.group(2)
    if scheme != "file" and ("/" not in rest or not rest.split("/", 1)[1].strip("/")):
        raise ValueError(f"{text!r} names no directory inside "
                         f"{scheme}://{rest.split('/', 1)[0]}")
    return Location(text, scheme)


def list_tables(spark: Any, loc: Location) -> dict[str, str]:
    """Tables of a dataset at a URI: name -> URI of its file or directory.

    A table is ``<name>.parquet`` or a directory ``<name>/`` holding Parquet
    files; entries starting with ``.`` or ``_`` and the ``truth`` folder are not
    tables. Listing goes through Spark's Hadoop file system (the credentials of
    the session's configuration).

    Raises
    ------
    UnsupportedOnSpark
        When the session exposes no JVM (Spark Connect).
    """
    try:
        jvm = spark._jvm
        hconf = spark._jsc.hadoopConfiguration()
    except AttributeError as e:  # Spark Connect
        raise UnsupportedOnSpark("dataset", "a Spark Connect session", "listing a "
                                 "remote dataset needs a classic session") from e
    root = jvm.org.apache.hadoop.fs.Path(loc.uri)
    fs = root.getFileSystem(hconf)
    out: dict[str, str] = {}
    for st in fs.listStatus(root):
        entry = st.getPath().getName()
        if entry.startswith((".", "_")) or entry == "truth":
            continue
        uri = loc.child(entry)
        if st.isDirectory():
            files = fs.listFiles(st.getPath(), True)
            while files.hasNext():
                if files.next().getPath().getName().endswith(".parquet"):
                    out[entry] = uri
                    break
        elif entry.endswith(".parquet"):
            out[entry.removesuffix(".parquet")] = uri
    return dict(sorted(out.items()))


def path_exists(spark: Any, uri: str) -> bool:
    """Whether ``uri`` exists (through Spark's Hadoop file system)."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark._jsc.hadoopConfiguration()).exists(path))


def calling_family(skip: int = 1) -> tuple[str | None, str]:
    """Return the measure family and function the caller runs for.

    Walks the stack outwards from the caller of the caller and returns the first
    frame in a family package (``measure.<family>``, see :data:`FAMILIES`):
    ``(family, "module.function")``; ``(None, "")`` for code outside the
    families (a user's own query).
    """
    frame = inspect.currentframe()
    try:
        for _ in range(skip + 1):
            frame = frame.f_back if frame is not None else None
        while frame is not None:
            module = str(frame.f_globals.get("__name__", ""))
            parts = module.split(".")
            if len(parts) >= 2 and parts[0] == "measure" and parts[1] in FAMILIES:
                return parts[1], f"{module}.{frame.f_code.co_name}"
            frame = frame.f_back
        return None, ""
    finally:
        del frame


def check_family(what: str) -> None:
    """Raise :class:`UnsupportedOnSpark` unless the calling family runs on Spark.

    Parameters
    ----------
    what
        What the family asked for (``"Dataset.con"``, ``"Dataset.sql"``, ...).
    """
    family, step = calling_family(skip=2)
    if family is not None and family not in SPARK_FAMILIES:
        raise UnsupportedOnSpark(
            step, f"the {family} family ({what})",
            f"{family} runs on DuckDB only; open the dataset with "
            f"engine='duckdb' (families on Spark: "
            f"{', '.join(sorted(SPARK_FAMILIES))})")


def require_duckdb(ds: Any, family: str, step: str) -> None:
    """Raise :class:`UnsupportedOnSpark` when ``ds`` runs on Spark.

    For a family (or a step) that has no Spark form, called before any work.
    """
    engine = getattr(ds, "engine", None)
    if engine is not None and getattr(engine, "name", "duckdb") != "duckdb":
        raise UnsupportedOnSpark(f"{family}.{step}", f"the {family} family",
                                 f"{family} runs on DuckDB only; open the dataset "
                                 "with engine='duckdb'")


__all__ = ["FAMILIES", "REMOTE_SCHEMES", "SPARK_FAMILIES", "Location",
           "calling_family", "check_family", "list_tables", "parse_location",
           "path_exists", "require_duckdb"]
