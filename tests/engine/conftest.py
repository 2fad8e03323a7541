"""A local Spark session for the parity tests (``local[2]``), or a clear skip.

Without Java 17+ or pyspark the tests that use :func:`spark` skip, naming what
to install; with the environment variable ``CI=true`` they fail instead (the CI
machine has Java 17, so a missing one there is a broken setup, not a skip).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

INSTALL = "install Java 17 and `pip install measure[spark]`"
#: Settings of the test SparkSession: two local cores, no web UI, two shuffle
#: partitions (the default 200 costs seconds per join on tiny tables), a small
#: driver heap.
BASE_CONF = {"spark.master": "local[2]", "spark.ui.enabled": "false",
             "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g",
             "spark.ui.showConsoleProgress": "false"}
#: ... and for a short-lived JVM on tables this small: no whole-stage code
#: generation (compiling each new query's generated code is most of the time)
#: and the JVM's quick compiler only (its optimising compiler spends more CPU
#: than a test run gains from it). Each halves the CPU time of the census frame
#: of the small world. The command-line parity tests run with Spark's defaults.
TEST_CONF = {**BASE_CONF, "spark.sql.codegen.wholeStage": "false",
             "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


def java_major(version_text: str) -> int | None:
    """Major version in the output of ``java -version`` (``None`` if unreadable)."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def spark_missing() -> str | None:
    """Why a local Spark session cannot start here, or ``None`` when it can."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    java = shutil.which("java")
    home = os.environ.get("JAVA_HOME")
    if java is None and home:
        java = os.path.join(home, "bin", "java")
    if java is None or not os.path.exists(java):
        return "no Java found (java on the PATH or JAVA_HOME)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True,
                         check=False)
    major = java_major(out.stderr + out.stdout)
    if major is None or major < 17:
        return f"Java 17+ is needed, found {major or 'an unknown version'}"
    return None


def unavailable(reason: str, env: dict[str, str]) -> tuple[str, str]:
    """What to do without Spark: ``("fail" | "skip", message)``."""
    msg = f"Spark parity tests need a local Spark: {reason}; {INSTALL}"
    if env.get("CI", "").lower() == "true":
        return "fail", msg + " (CI=true: required)"
    return "skip", msg


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A ``local[2]`` SparkSession shared by the tests of the session."""
    reason = spark_missing()
    if reason is not None:
        action, msg = unavailable(reason, dict(os.environ))
        if action == "fail":
            pytest.fail(msg)
        pytest.skip(msg)
    from measure.engine._engine import spark_session

    session = spark_session(TEST_CONF, app_name="measure-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
