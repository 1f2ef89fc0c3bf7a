"""A large run streams to disk in bounded memory: checked through the buffer design, never by timing."""

from __future__ import annotations

import gzip
from pathlib import Path

from distillguard.simulate import preset

from .support import run


def test_scaled_down_large_run_never_buffers_more_than_one_chunk(tmp_path: Path) -> None:
    scenario = preset("large", 0.0004)  # ~11.5k events over the full 30 days
    scenario.chunk_events = 250
    scenario.events_per_file = 1_500
    m, stats = run(scenario, tmp_path)
    assert m["events"] > 5 * scenario.chunk_events
    assert 0 < stats.max_buffered <= scenario.chunk_events
    assert 0 < stats.max_truth_rows <= scenario.chunk_events
    files = sorted((tmp_path / "traffic").glob("*.gz"))
    assert len(files) > len(scenario.formats)  # files rotate instead of growing without bound
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            assert sum(1 for _ in handle) <= scenario.events_per_file
