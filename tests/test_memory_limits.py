"""Ingest and scan hold DuckDB to their memory-limit settings while they run, then restore it.

Without a limit DuckDB caches warehouse pages up to 80% of RAM, so a long ingest's
memory grew with the database file (past 6.9 GB on the large preset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.ingest.helpers import FIXTURES

from distillguard.config import Config, ConfigError
from distillguard.ingest import ingest_paths
from distillguard.ingest import run as ingest_run
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse


def _limit_bytes(warehouse: Warehouse) -> int:
    value = warehouse.engine.scalar("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'")
    number, unit = str(value).split()
    return int(float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit])


@pytest.mark.parametrize("fixture", ["litellm.jsonl", "otel_new.jsonl", "canonical.jsonl"])
def test_every_file_is_ingested_under_the_setting_and_the_limit_is_restored(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch, fixture: str
) -> None:
    cfg = config.with_overrides(db_path=str(tmp_path / "w.duckdb"), ingest_memory_limit="300MB")
    seen: list[int] = []
    real_write = ingest_run._write_prepared  # each file's writes to the warehouse

    def watched(warehouse: Warehouse, *args: Any, **kwargs: Any) -> ingest_run.FileReport:
        seen.append(_limit_bytes(warehouse))
        return real_write(warehouse, *args, **kwargs)

    monkeypatch.setattr(ingest_run, "_write_prepared", watched)
    with Warehouse.open(cfg.db_path) as warehouse:
        before = _limit_bytes(warehouse)
        report = ingest_paths(warehouse, [FIXTURES / fixture], config=cfg, progress=False)
        after = _limit_bytes(warehouse)
    assert report.stored > 0
    # DuckDB reports the limit rounded to one decimal of its unit, hence approx.
    assert seen == [pytest.approx(300 * 10**6, rel=0.01)]
    assert after == pytest.approx(before, rel=0.01)
    assert before > 2 * seen[0]


def test_a_malformed_limit_stops_ingest_before_anything_is_written(tmp_path: Path, config: Config) -> None:
    cfg = config.with_overrides(db_path=str(tmp_path / "w.duckdb"), ingest_memory_limit="plenty")
    with Warehouse.open(cfg.db_path) as warehouse:
        with pytest.raises(ConfigError, match="ingest_memory_limit"):
            ingest_paths(warehouse, [FIXTURES / "litellm.jsonl"], config=cfg, progress=False)
        assert warehouse.count("events") == 0


def test_the_scan_runs_under_scan_memory_limit_and_restores_the_limit(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config.with_overrides(db_path=str(tmp_path / "w.duckdb"), scan_memory_limit="400MB")
    seen: list[int] = []
    real_scan = pipeline._scan

    def watched(warehouse: Warehouse, *args: object) -> pipeline.ScanResult:
        seen.append(_limit_bytes(warehouse))
        return real_scan(warehouse, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_scan", watched)
    with Warehouse.open(cfg.db_path) as warehouse:
        ingest_paths(warehouse, [FIXTURES / "litellm.jsonl"], config=cfg, progress=False)
        before = _limit_bytes(warehouse)
        result = pipeline.scan(warehouse, cfg)
        after = _limit_bytes(warehouse)
    assert result.accounts > 0
    assert seen == [pytest.approx(400 * 10**6, rel=0.01)]
    assert after == pytest.approx(before, rel=0.01)
