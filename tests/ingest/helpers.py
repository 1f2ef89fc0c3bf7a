"""Shared helpers for the ingest tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillguard.warehouse import Warehouse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


def events_by_id(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    rows = warehouse.engine.to_arrow("SELECT * FROM events").to_pylist()
    for row in rows:
        row["attrs"] = dict(row["attrs"] or [])
    return {row["event_id"]: row for row in rows}


def quarantine_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    return warehouse.engine.to_arrow("SELECT * FROM quarantine ORDER BY file, line").to_pylist()


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(data)
    return path
