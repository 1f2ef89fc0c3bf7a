"""One local Spark session for every Spark test, or a skip that says why there is none."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[dev]' installs it)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (Spark needs Java 17 or 21 on PATH or in JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    missing = _spark_missing()
    if missing:
        if os.environ.get("CI"):  # CI installs the dev extra: a missing Spark is a broken setup
            pytest.fail(f"the Spark tests cannot run in CI: {missing}")
        pytest.skip(f"Spark parity not checked on this machine: {missing}")
    from distillguard.engine.spark_engine import local_session

    session = local_session(threads=2, shuffle_partitions=2)
    yield session
    session.stop()
