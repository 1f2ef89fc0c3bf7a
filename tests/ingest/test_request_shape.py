"""``events.request_shape`` is stored at ingest with the decision service's definition."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from distillguard.config import Config
from distillguard.ingest import ingest_paths, sources
from distillguard.rules import request_shape
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, write_lines


def _shapes_agree(warehouse: Warehouse) -> int:
    rows = events_by_id(warehouse).values()
    for row in rows:
        assert row["request_shape"] == request_shape(row), row["event_id"]
    return len(rows)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "line by line"])
def test_every_format_stores_the_live_request_shape(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr(sources, "kind", lambda *_: None)
    extra = write_lines(
        tmp_path / "params.jsonl",
        [
            json.dumps(
                {
                    "event_id": "p1",
                    "ts_start": "2026-02-01T00:00:00Z",
                    "account_id": "a",
                    "model_requested": "orion-3",
                    "max_tokens": 4096,
                    "temperature": 0.7,
                    "reasoning_effort": "HIGH",
                }
            )
        ],
    )
    with Warehouse.open(config.db_path) as warehouse:
        ingest_paths(warehouse, [FIXTURES, extra], config=config, progress=False)
        assert _shapes_agree(warehouse) > 5
        shape = events_by_id(warehouse)["p1"]["request_shape"]
    assert shape == "model=orion-3|max_tokens=4096|temperature=0.7|top_p=-|effort=high"


def test_a_warehouse_from_before_the_column_gains_it_filled(config: Config, tmp_path: Path) -> None:
    with Warehouse.open(config.db_path) as warehouse:
        ingest_paths(warehouse, [FIXTURES], config=config, progress=False)
    con = duckdb.connect(config.db_path)
    con.execute("ALTER TABLE events DROP COLUMN request_shape")
    con.close()
    with Warehouse.open(config.db_path) as warehouse:
        assert _shapes_agree(warehouse) > 5
