"""Ingest tests read tiny files: each takes the path its format takes for a large one, so both
paths are compared wherever a test compares them. ``run.SQL_MIN_RECORDS`` itself is tested in
test_small_files.py, which keeps the real thresholds."""

from __future__ import annotations

import pytest

from distillguard.ingest import run


@pytest.fixture(autouse=True)
def sql_whatever_the_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not request.node.module.__name__.endswith("test_small_files"):
        monkeypatch.setattr(run, "SQL_MIN_RECORDS", {})
