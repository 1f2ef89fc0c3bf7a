"""One tiny data set per test session: most tests only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.simulate import preset

from .support import run


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    run(preset("tiny"), out)
    return out
