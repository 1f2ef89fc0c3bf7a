"""The receiver's writer: group commit with per-export accounting, and one poison export costs only itself."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.serve.otlp_support import receiver_config, table

from distillguard.collect import WarehouseWriter, Written
from distillguard.collect.spans import ExportBatch, SpanConverter
from distillguard.warehouse import InsertResult, Warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"


def export_with_span_ids(converter: SpanConverter, name: str, *span_ids: str) -> ExportBatch:
    template = json.loads((FIXTURES / "otel_new.jsonl").read_text())
    span = template["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    spans = []
    for span_id in span_ids:
        copied = copy.deepcopy(span)
        copied["spanId"] = span_id
        spans.append(copied)
    template["resourceSpans"] = template["resourceSpans"][:1]
    template["resourceSpans"][0]["scopeSpans"] = [{"scope": {"name": "t"}, "spans": spans}]
    return converter.convert(template, name=name)


def flush_together(config: Any, batches: list[ExportBatch]) -> list[Written]:
    """Submit every batch before the first flush is due, so one flush carries them all."""
    writer = WarehouseWriter(config.db_path, flush_rows=10_000, flush_interval_s=0.3, max_pending_bytes=10**9)
    try:
        futures = [writer.submit(b) for b in batches]
        return [f.result(timeout=60) for f in futures]
    finally:
        writer.close()


def test_a_span_id_sent_twice_in_one_flush_is_stored_once_and_counted_to_the_later_export(
    tmp_path: Path,
) -> None:
    config = receiver_config(tmp_path)
    converter = SpanConverter(config)
    first = export_with_span_ids(converter, "first", "00000000000000a1", "00000000000000a2")
    second = export_with_span_ids(converter, "second", "00000000000000a2", "00000000000000a3")
    assert flush_together(config, [first, second]) == [Written(2, 2, 0, 0), Written(2, 1, 1, 0)]
    assert table(config, "SELECT count(*) AS n FROM events").to_pylist() == [{"n": 3}]
    runs = table(config, "SELECT file, stored, duplicates FROM ingest_runs ORDER BY file").to_pylist()
    assert runs == [
        {"file": "first", "stored": 2, "duplicates": 0},
        {"file": "second", "stored": 1, "duplicates": 1},
    ]


def test_an_export_that_cannot_be_written_is_quarantined_and_the_others_are_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = receiver_config(tmp_path)
    converter = SpanConverter(config)
    good = export_with_span_ids(converter, "good", "00000000000000b1", "00000000000000b2")
    poison = export_with_span_ids(converter, "poison", "00000000000000ff", "00000000000000b3")
    insert = Warehouse.insert_events

    def refuse_the_poison(self: Warehouse, batch: pa.Table) -> InsertResult:
        if "00000000000000ff" in batch.column("event_id").to_pylist():
            raise ValueError("a row this warehouse cannot hold")
        return insert(self, batch)

    monkeypatch.setattr(Warehouse, "insert_events", refuse_the_poison)
    assert flush_together(config, [good, poison]) == [Written(2, 2, 0, 0), Written(2, 0, 0, 2)]

    stored = table(config, "SELECT event_id FROM events ORDER BY 1").column(0).to_pylist()
    assert stored == ["00000000000000b1", "00000000000000b2"]
    quarantine = table(config, "SELECT file, line, reason FROM quarantine ORDER BY line").to_pylist()
    assert [(q["file"], q["line"]) for q in quarantine] == [("poison", 1), ("poison", 2)]
    assert all("export could not be written (ValueError" in q["reason"] for q in quarantine)
    runs = table(config, "SELECT * FROM ingest_runs").to_pylist()
    assert all(r["records_read"] == r["stored"] + r["duplicates"] + r["quarantined"] for r in runs)
