"""Batch ingest stages several files at once (``ingest_parallel_files``) and writes them in
order: the warehouse ends the same as reading them one after another."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config
from distillguard.ingest import fastpath, ingest_paths
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, quarantine_rows


def _inputs(folder: Path) -> list[Path]:
    """Every fixture format, a canonical event repeated with other text in a later file (the
    first file's copy must win), and a bad line in the middle of a file."""
    folder.mkdir()
    canonical = (FIXTURES / "canonical.jsonl").read_text().splitlines()
    first = json.loads(canonical[0])
    again = dict(first, prompt_text="a later copy of the same event id")
    bad = [*canonical[:2], '{"event_id": "broken", "ts_start": ', *canonical[2:]]
    files = {
        "a-canonical.jsonl": "\n".join(bad) + "\n",
        "b-litellm.jsonl": (FIXTURES / "litellm.jsonl").read_text(),
        "c-openai.jsonl": (FIXTURES / "openai.jsonl").read_text(),
        "d-otel.jsonl": (FIXTURES / "otel_new.jsonl").read_text(),
        "e-langfuse.jsonl": (FIXTURES / "langfuse.jsonl").read_text(),
        "f-again.jsonl": json.dumps(again) + "\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return [folder / name for name in files]


def _ingest(config: Config, tmp_path: Path, files: list[Path], at_once: int) -> tuple[Any, ...]:
    db = tmp_path / f"at-once-{at_once}.duckdb"
    cfg = config.with_overrides(db_path=str(db), ingest_parallel_files=at_once)
    with Warehouse.open(cfg.db_path) as warehouse:
        report = ingest_paths(warehouse, files, config=cfg, progress=False)
        columns = ("file", "line", "byte_offset", "reason")
        quarantine = [tuple(q[c] for c in columns) for q in quarantine_rows(warehouse)]
        written = warehouse.engine.to_arrow("SELECT file FROM ingest_runs ORDER BY finished_at")
        order = written.column(0).to_pylist()
        return report, events_by_id(warehouse), quarantine, order


def test_files_staged_at_once_store_what_one_at_a_time_stores(config: Config, tmp_path: Path) -> None:
    files = _inputs(tmp_path / "logs")
    one, one_rows, one_quarantine, one_order = _ingest(config, tmp_path, files, 1)
    four, four_rows, four_quarantine, four_order = _ingest(config, tmp_path, files, 4)
    counts = ("read", "stored", "duplicates", "quarantined")
    assert [getattr(four, c) for c in counts] == [getattr(one, c) for c in counts]
    assert four.reconciles and four.duplicates == 1 and four.quarantined >= 1
    assert [f.file for f in four.files] == [f.file for f in one.files] == [str(p) for p in files]
    assert four_order == one_order == [str(p) for p in files]  # written in the order given
    assert four_quarantine == one_quarantine
    assert four_rows.keys() == one_rows.keys()
    for event_id, row in one_rows.items():
        assert four_rows[event_id] == row, event_id
    first_id = json.loads((FIXTURES / "canonical.jsonl").read_text().splitlines()[0])["event_id"]
    assert four_rows[first_id]["prompt_text"] != "a later copy of the same event id"


def test_files_are_staged_at_the_same_time(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first two stages wait for each other: they pass only if both run at once."""
    files = _inputs(tmp_path / "logs")
    both_staging = threading.Barrier(2, timeout=30)
    real = fastpath.stage_file
    calls: list[Path] = []

    def stage_file(path: Path, *args: Any, **kwargs: Any) -> fastpath.Staged | None:
        calls.append(path)
        if len(calls) <= 2:
            both_staging.wait()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fastpath, "stage_file", stage_file)
    report, rows, _, _ = _ingest(config, tmp_path, files, 2)
    assert not both_staging.broken
    assert report.reconciles and report.stored == len(rows) and len(calls) == len(files)


def test_a_run_that_fails_part_way_leaves_no_staging_behind(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be written is quarantined whole and the run goes on; the files staged
    ahead are written or removed, and no staging folder is left beside the warehouse."""
    files = _inputs(tmp_path / "logs")
    real = fastpath.write_staged

    def write_staged(warehouse: Any, staged: fastpath.Staged, **kwargs: Any) -> list[int] | None:
        if staged.path.name.startswith("b-"):
            staged.close()
            raise RuntimeError("the disk went away")
        return real(warehouse, staged, **kwargs)

    monkeypatch.setattr(fastpath, "write_staged", write_staged)
    report, rows, _, _ = _ingest(config, tmp_path, files, 3)
    failed = [f for f in report.files if f.error]
    assert [Path(f.file).name for f in failed] == ["b-litellm.jsonl"]
    assert report.reconciles and rows
    assert not list(tmp_path.glob(f"{fastpath.STAGE_PREFIX}*"))
