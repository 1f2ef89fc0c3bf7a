"""Shared fixtures: a fresh warehouse per test, and the path to the shared prompt corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from distillguard.config import Config, load_config
from distillguard.warehouse import Warehouse

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.chdir(tmp_path)
    return load_config(db_path=str(tmp_path / "dg.duckdb"), hmac_secret="test-secret")


@pytest.fixture
def warehouse(config: Config) -> Iterator[Warehouse]:
    with Warehouse.open(config.db_path) as wh:
        yield wh


@pytest.fixture
def shared_corpus() -> Path:
    """The real prompt corpus beside the repo (never copied into it)."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"shared prompt corpus not found at {SHARED_CORPUS}")
    return SHARED_CORPUS
