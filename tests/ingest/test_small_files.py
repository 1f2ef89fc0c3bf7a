"""Small files go to the Python adapter (``run.SQL_MIN_RECORDS``), judged by an estimate of their
record count that reads only their start (``sniff.estimated_records``)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard

from distillguard.config import Config
from distillguard.ingest import fastpath, ingest_paths, run
from distillguard.ingest.sniff import estimated_records
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id


def _lines(count: int, seed: int = 3) -> bytes:
    """Log-like lines of varied length and content (compressible as gateway logs are)."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "reasoning", "step", "answer", "grade", "rubric", "json"]
    rows = []
    for i in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 120)))
        rows.append(json.dumps({"id": f"e-{i}", "n": rng.randint(0, 10**9), "text": text}).encode() + b"\n")
    return b"".join(rows)


@pytest.mark.parametrize("packing", ["plain", "gzip", "gzip segments", "zstd"])
def test_record_estimate_is_exact_for_small_files_and_close_for_large_ones(
    tmp_path: Path, packing: str
) -> None:
    for count, tolerance in ((40, 0.0), (20_000, 0.15)):
        data = _lines(count)
        if packing == "gzip":
            packed = gzip.compress(data)
        elif packing == "gzip segments":  # rotated and appended: one member per segment
            half = data.index(b"\n", len(data) // 2) + 1
            packed = gzip.compress(data[:half]) + gzip.compress(data[half:])
        elif packing == "zstd":
            packed = zstandard.ZstdCompressor().compress(data)
        else:
            packed = data
        path = tmp_path / f"{packing}-{count}.jsonl"
        path.write_bytes(packed)
        estimate = estimated_records(path)
        assert estimate is not None
        assert abs(estimate - count) <= tolerance * count, (count, estimate)


def test_unreadable_start_gives_no_estimate(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 64)  # gzip magic, then nonsense
    assert estimated_records(path) is None


def _ingest(config: Config, tmp_path: Path, path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    staged: list[Path] = []
    real = fastpath.stage_file

    def spy(file: Path, *args: Any, **kwargs: Any) -> Any:
        staged.append(file)
        return real(file, *args, **kwargs)

    cfg = config.with_overrides(db_path=str(tmp_path / f"{name}.duckdb"))
    with monkeypatch.context() as patch:
        patch.setattr(fastpath, "stage_file", spy)
        with Warehouse.open(cfg.db_path) as warehouse:
            report = ingest_paths(warehouse, [path], config=cfg, progress=False)
            return staged, report, events_by_id(warehouse)


def test_files_below_the_break_even_are_read_by_the_adapter(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = json.loads((FIXTURES / "litellm.jsonl").read_text().splitlines()[0])
    lines = [json.dumps({**base, "id": f"call-{i}"}) for i in range(60)]
    path = tmp_path / "litellm.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert "litellm" in run.SQL_FORMATS

    monkeypatch.setattr(run, "SQL_MIN_RECORDS", {"litellm": 61})  # one more than the file holds
    staged, small, small_rows = _ingest(config, tmp_path, path, "small", monkeypatch)
    assert staged == [] and small.stored == 60  # the adapter read it all

    monkeypatch.setattr(run, "SQL_MIN_RECORDS", {"litellm": 60})
    staged, large, large_rows = _ingest(config, tmp_path, path, "large", monkeypatch)
    assert staged == [path] and large.stored == 60  # the SQL mapping read it

    monkeypatch.setattr(run, "SQL_MIN_RECORDS", {"openai": 10**9})  # another format's threshold
    staged, _, _ = _ingest(config, tmp_path, path, "other", monkeypatch)
    assert staged == [path]
    assert small_rows == large_rows  # either way, the same rows


def test_every_break_even_names_a_format_that_takes_the_sql_path() -> None:
    assert set(run.SQL_MIN_RECORDS) <= set(run.SQL_FORMATS)
    assert all(records > 0 for records in run.SQL_MIN_RECORDS.values())
