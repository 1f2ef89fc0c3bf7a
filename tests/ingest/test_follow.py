"""Follow mode in process: growth, partial lines, rotation, truncation, gzip segments, resume."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.ingest.follow_helpers import append, litellm_lines

from distillguard.config import Config
from distillguard.ingest.follow import Follower
from distillguard.ingest.follow_state import follow_totals
from distillguard.warehouse import Warehouse


def _settled(config: Config) -> Config:
    # gzip segments are read once unchanged for follow_settle_seconds; 0 reads them at once
    return config.with_overrides(follow_settle_seconds=0.0)


def _drain(follower: Follower) -> None:
    """Poll until a look finds nothing new, then commit."""
    for _ in range(50):
        if follower.poll() == 0:
            break
    follower.commit()


def _ids(warehouse: Warehouse) -> list[str]:
    rows = warehouse.engine.to_arrow("SELECT event_id FROM events ORDER BY event_id").to_pylist()
    return [r["event_id"] for r in rows]


def test_a_partial_last_line_waits_for_its_newline(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    first, second = litellm_lines(2)
    log = logs / "gateway.jsonl"
    append(log, first + second[:40])
    follower = Follower(warehouse, [logs], config=config)
    _drain(follower)
    assert warehouse.count("events") == 1
    assert warehouse.count("quarantine") == 0  # the half-written line is not "malformed"
    append(log, second[40:])
    _drain(follower)
    assert warehouse.count("events") == 2
    assert warehouse.count("quarantine") == 0


def test_new_files_rotation_and_truncation_lose_nothing(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = litellm_lines(45)
    live = logs / "gateway.jsonl"
    append(live, b"".join(lines[:10]))
    follower = Follower(warehouse, [live], config=config)  # a file path, not its directory
    _drain(follower)
    # rotation: lines written just before the rename are only in the renamed file,
    # which is outside the followed path: they are read through the open handle
    append(live, b"".join(lines[10:15]))
    live.rename(tmp_path / "gateway.jsonl.1")
    append(live, b"".join(lines[15:25]))
    _drain(follower)
    # its writer goes on appending to the renamed file until it reopens the log
    append(tmp_path / "gateway.jsonl.1", b"".join(lines[40:45]))
    _drain(follower)
    # copytruncate: the file is emptied in place and written again from its start
    live.write_bytes(b"")
    _drain(follower)
    append(live, b"".join(lines[25:40]))
    _drain(follower)
    assert _ids(warehouse) == sorted(f"req-{n:07d}" for n in range(45))
    totals = follow_totals(warehouse)
    assert totals.read == 45 and totals.stored == 45 and totals.duplicates == 0


def test_truncated_then_rewritten_past_the_offset_is_read_again(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    lines = litellm_lines(30)
    live = tmp_path / "gateway.jsonl"
    append(live, b"".join(lines[:10]))
    follower = Follower(warehouse, [live], config=config)
    _drain(follower)
    # truncated and refilled with more bytes than were read before, between two looks:
    # only the changed first bytes show the file is new
    live.write_bytes(b"".join(lines[10:30]))
    _drain(follower)
    assert len(_ids(warehouse)) == 30


def test_gzip_segments_are_read_and_their_copies_counted_as_duplicates(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = litellm_lines(20)
    (logs / "gateway.jsonl.1.gz").write_bytes(gzip.compress(b"".join(lines[:12])))
    append(logs / "gateway.jsonl", b"".join(lines[8:20]))  # 8..11 are in both
    follower = Follower(warehouse, [logs], config=_settled(config))
    _drain(follower)
    assert len(_ids(warehouse)) == 20
    totals = follow_totals(warehouse)
    assert (totals.read, totals.stored, totals.duplicates, totals.quarantined) == (24, 20, 4, 0)


def test_a_restart_resumes_at_the_committed_offset(config: Config, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = litellm_lines(30)
    append(logs / "a.jsonl", b"".join(lines[:10]) + b"{not json\n")
    with Warehouse.open(config.db_path) as warehouse:
        _drain(Follower(warehouse, [logs], config=config))
    append(logs / "a.jsonl", b"".join(lines[10:30]))
    with Warehouse.open(config.db_path) as warehouse:
        _drain(Follower(warehouse, [logs], config=config))
        assert len(_ids(warehouse)) == 30
        assert warehouse.count("quarantine") == 1
        totals = follow_totals(warehouse)
    assert (totals.read, totals.stored, totals.duplicates, totals.quarantined) == (31, 30, 0, 1)


def test_uncommitted_rows_roll_back_with_their_offsets(config: Config, tmp_path: Path) -> None:
    """A crash between reading and committing: neither rows nor offsets survive, so a restart re-reads."""
    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "a.jsonl", b"".join(litellm_lines(10)))
    slow = config.with_overrides(follow_batch_rows=1_000, follow_batch_seconds=3600.0)
    with Warehouse.open(config.db_path) as warehouse:
        follower = Follower(warehouse, [logs], config=slow)
        follower.poll()
        for tracked in follower.tracked.values():
            assert tracked.run is not None
            tracked.run.flush()  # rows reach the table inside the open transaction
        follower.close()  # no commit: what a SIGKILL leaves
    with Warehouse.open(config.db_path) as warehouse:
        assert warehouse.count("events") == 0
        _drain(Follower(warehouse, [logs], config=config))
        assert len(_ids(warehouse)) == 10
        assert follow_totals(warehouse).read == 10


def test_a_rotated_file_is_let_go_once_quiet(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    live = tmp_path / "gateway.jsonl"
    append(live, b"".join(litellm_lines(3)))
    follower = Follower(warehouse, [live], config=config.with_overrides(follow_rotated_grace_seconds=0.0))
    _drain(follower)
    live.rename(tmp_path / "gateway.jsonl.1")
    _drain(follower)
    _drain(follower)
    assert follower.tracked == {}  # no handle is held on a file nobody writes any more


def test_the_warehouse_files_are_never_followed(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    """Following the directory that holds the warehouse must not read its WAL or audit log."""
    append(tmp_path / "gateway.jsonl", b"".join(litellm_lines(3)))
    follower = Follower(warehouse, [tmp_path], config=config)
    _drain(follower)
    assert warehouse.count("events") == 3
    assert warehouse.count("quarantine") == 0
