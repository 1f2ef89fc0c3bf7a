"""Follow mode's backlog through batch ingest's SQL path stores what the line path stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.ingest.follow_helpers import append

from distillguard.config import Config
from distillguard.ingest import fastpath, follow_chunks
from distillguard.ingest.follow import Follower
from distillguard.ingest.follow_state import follow_totals
from distillguard.ingest.run import FileReport
from distillguard.warehouse import Warehouse

from .helpers import events_by_id, quarantine_rows
from .test_columnar import FORMATS, _damaged, _sample, simulated  # noqa: F401 (a fixture)

HEAD = 12  # records the line path reads before the backlog arrives
THRESHOLD = 50


def _drain(follower: Follower) -> None:
    for _ in range(100):
        if follower.poll() == 0:
            break
    follower.commit()


def _stored(db: Path) -> tuple[Any, ...]:
    with Warehouse.open(db) as warehouse:
        quarantine = [(q["file"], q["line"], q["reason"]) for q in quarantine_rows(warehouse)]
        offsets = warehouse.engine.to_arrow("SELECT path, byte_offset, lines FROM follow_offsets").to_pylist()
        return events_by_id(warehouse), quarantine, follow_totals(warehouse), offsets


@pytest.mark.parametrize("at_once", [1, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backlog_read_by_sql_stores_the_rows_the_line_path_stores(
    fmt: str,
    at_once: int,
    simulated: Path,  # noqa: F811 (test_columnar's fixture, imported above)
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _sample(fmt, simulated, 300)
    damaged_at = HEAD + 40  # a record every path quarantines, inside the first SQL chunk
    records[damaged_at] = _damaged(fmt, records[damaged_at])
    late_damage = HEAD + 200  # one after the blank line inside the backlog
    records[late_damage] = _damaged(fmt, records[late_damage])
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    lines.append(lines[HEAD + 5])  # a record again: a duplicate (a Langfuse update) by both paths
    # blank lines are lines, not records: one before the backlog, one inside it (inside the
    # chunk: the records after it name their own lines)
    head = [*lines[:HEAD], b"\n"]
    backlog = lines[HEAD:]
    backlog.insert(150, b"  \n")
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / f"{fmt}.jsonl"

    chunks: list[tuple[int, bool]] = []
    stage_chunk = follow_chunks.stage_chunk

    def spy(*args: Any) -> fastpath.Staged | None:
        origin: fastpath.Origin = args[4]
        staged = stage_chunk(*args)
        chunks.append((origin.line_base, staged is not None))
        return staged

    monkeypatch.setattr(follow_chunks, "stage_chunk", spy)
    by_sql = config.with_overrides(
        db_path=str(tmp_path / "sql.duckdb"),
        follow_sql_lines=THRESHOLD,
        follow_read_bytes=1 << 16,
        ingest_parallel_files=at_once,
    )
    append(log, b"".join(head))
    with Warehouse.open(by_sql.db_path) as warehouse:
        follower = Follower(warehouse, [logs], config=by_sql)
        _drain(follower)  # the head, line by line
        append(log, b"".join(backlog))
        _drain(follower)
        follower.close()
    by_lines = config.with_overrides(db_path=str(tmp_path / "lines.duckdb"), follow_sql_lines=0)
    with Warehouse.open(by_lines.db_path) as warehouse:
        follower = Follower(warehouse, [logs], config=by_lines)
        _drain(follower)
        follower.close()

    # the backlog went to SQL from the line after the head, whole or cut at line boundaries
    # into one chunk per stage at once (each of at least the threshold's lines)
    bases = sorted(base for base, _ in chunks)
    assert len(bases) == at_once and bases[0] == HEAD + 1 and len(set(bases)) == at_once
    assert all(read for _, read in chunks)
    sql_rows, sql_quarantine, sql_totals, sql_offsets = _stored(Path(by_sql.db_path))
    line_rows, line_quarantine, line_totals, line_offsets = _stored(Path(by_lines.db_path))
    assert sql_rows.keys() == line_rows.keys()
    for event_id, row in line_rows.items():
        different = {k: (sql_rows[event_id][k], v) for k, v in row.items() if sql_rows[event_id][k] != v}
        assert not different, (event_id, different)
    assert {row["ingest_file"] for row in sql_rows.values()} == {str(log)}  # never the spool file
    total = len(head) + len(backlog)
    assert max(row["ingest_line"] for row in sql_rows.values()) == total - 1  # the last is the duplicate
    assert sql_quarantine == line_quarantine
    # the damaged records' own lines in the followed file: after the head and its blank line, and
    # after the blank line inside the chunk
    lines = {(file, line) for file, line, _ in sql_quarantine}
    assert {(str(log), damaged_at + 2), (str(log), late_damage + 3)} <= lines
    assert sql_totals == line_totals
    assert sql_totals.read == sql_totals.stored + sql_totals.duplicates + sql_totals.quarantined
    assert sql_offsets == line_offsets
    assert sql_offsets == [{"path": str(log), "byte_offset": log.stat().st_size, "lines": total}]


def test_a_chunk_duckdb_cannot_read_is_read_line_by_line(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.ingest.follow_helpers import litellm_lines

    lines = litellm_lines(120)
    lines[70] = b'{"id": "broken", \n'  # DuckDB refuses the whole chunk; the line path finds this line
    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "gateway.jsonl", b"".join(lines))
    tried: list[fastpath.Staged | None] = []
    stage_chunk = follow_chunks.stage_chunk

    def spy(*args: Any) -> fastpath.Staged | None:
        tried.append(stage_chunk(*args))
        return tried[-1]

    monkeypatch.setattr(follow_chunks, "stage_chunk", spy)
    cfg = config.with_overrides(
        follow_sql_lines=THRESHOLD, follow_read_bytes=1 << 16, ingest_parallel_files=1
    )
    with Warehouse.open(cfg.db_path) as warehouse:
        follower = Follower(warehouse, [logs], config=cfg)
        _drain(follower)
        quarantine = quarantine_rows(warehouse)
        totals = follow_totals(warehouse)
        stored = warehouse.count("events")
    assert tried == [None]  # tried once; the range it failed on is not tried again
    assert stored == 119
    assert [(q["line"], q["reason"].split(":")[0]) for q in quarantine] == [(71, "malformed JSON")]
    assert (totals.read, totals.stored, totals.quarantined) == (120, 119, 1)


def test_the_spool_file_is_never_in_the_followed_directory(config: Config, tmp_path: Path) -> None:
    from tests.ingest.follow_helpers import litellm_lines

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "gateway.jsonl"
    append(log, b"".join(litellm_lines(60)))
    seen: list[Path] = []
    stage = fastpath.stage_file

    def spy(path: Path, *args: Any, **kwargs: Any) -> fastpath.Staged | None:
        seen.append(path)
        assert path.is_file()
        return stage(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastpath, "stage_file", spy)
        with Warehouse.open(config.db_path) as warehouse:
            report = FileReport(str(log), "litellm")
            with log.open("rb") as handle:
                fd = handle.fileno()
                end, lines = follow_chunks.whole_lines(fd, 0, log.stat().st_size)
                staged = follow_chunks.stage_chunk(config, fd, 0, end, fastpath.Origin(str(log)), "litellm")
                assert staged is not None
                warehouse.engine.execute("BEGIN TRANSACTION")
                routed = fastpath.write_staged(
                    warehouse, staged, config=config, report=report, in_transaction=True
                )
                warehouse.engine.execute("COMMIT")
    assert (lines, routed, report.stored) == (60, [], 60)
    assert len(seen) == 1 and logs not in seen[0].parents
    assert not seen[0].exists()  # removed with its temporary directory
    assert sorted(p.name for p in logs.iterdir()) == ["gateway.jsonl"]


def test_what_a_killed_follower_left_is_removed_at_start(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its process id names folders no live process owns
    stale_spool = temporary / f"{follow_chunks.SPOOL_PREFIX}{gone.pid}-k1ll3d"
    live_spool = temporary / f"{follow_chunks.SPOOL_PREFIX}{os.getpid()}-a1ive"
    stale_stage = Path(config.db_path).parent / f"{fastpath.STAGE_PREFIX}{gone.pid}-k1ll3d"
    for folder in (stale_spool, live_spool, stale_stage):
        folder.mkdir()
        (folder / "chunk.jsonl").write_bytes(b"{}\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    with Warehouse.open(config.db_path) as warehouse:
        Follower(warehouse, [logs], config=config.with_overrides(follow_sql_lines=THRESHOLD))
    assert not stale_spool.exists() and not stale_stage.exists()
    assert (live_spool / "chunk.jsonl").is_file()  # another follower's, still working


@pytest.mark.parametrize("files", [1, 2])
def test_backlogs_are_staged_at_the_same_time(
    files: int, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files' backlogs, or one backlog cut in two at a line boundary, are staged at once: the
    first two stages wait for each other, so this passes only if both run together. Every
    record is stored once, each naming its own line."""
    from tests.ingest.follow_helpers import litellm_lines

    logs = tmp_path / "logs"
    logs.mkdir()
    per_file = 240 // files
    for n in range(files):
        append(logs / f"gateway-{n}.jsonl", b"".join(litellm_lines(per_file, start=n * per_file)))
    both_staging = threading.Barrier(2, timeout=30)
    stage_chunk = follow_chunks.stage_chunk
    staged: list[tuple[str, int]] = []

    def spy(*args: Any) -> fastpath.Staged | None:
        origin: fastpath.Origin = args[4]
        staged.append((Path(origin.file).name, origin.line_base))
        if len(staged) <= 2:
            both_staging.wait()
        return stage_chunk(*args)

    monkeypatch.setattr(follow_chunks, "stage_chunk", spy)
    cfg = config.with_overrides(follow_sql_lines=THRESHOLD, ingest_parallel_files=2)
    with Warehouse.open(cfg.db_path) as warehouse:
        follower = Follower(warehouse, [logs], config=cfg)
        _drain(follower)
        follower.close()
        lines = warehouse.engine.to_arrow("SELECT ingest_file, ingest_line FROM events").to_pylist()
        totals = follow_totals(warehouse)
    assert not both_staging.broken
    if files == 1:  # cut near its middle byte, each part at least the threshold's lines
        (first, at), (second, cut) = sorted(staged)
        assert first == second == "gateway-0.jsonl" and at == 0 and THRESHOLD <= cut <= 240 - THRESHOLD
    else:
        assert sorted(staged) == [("gateway-0.jsonl", 0), ("gateway-1.jsonl", 0)]
    assert (totals.read, totals.stored) == (240, 240)
    assert sorted((Path(r["ingest_file"]).name, r["ingest_line"]) for r in lines) == sorted(
        (f"gateway-{n}.jsonl", line) for n in range(files) for line in range(1, per_file + 1)
    )
