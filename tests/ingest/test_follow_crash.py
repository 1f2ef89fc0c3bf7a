"""`distillguard ingest --follow` killed with SIGKILL at random moments loses and doubles nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.ingest.follow_helpers import append, canonical_lines, litellm_lines

from distillguard.config import load_config
from distillguard.ingest.follow import Follower
from distillguard.ingest.follow_state import follow_totals
from distillguard.warehouse import Warehouse

RECORDS = 2_400
MALFORMED = (b'{"id": "broken", \n', b"not json at all\n", b"[1, 2, 3]\n")


def _follow_process(logs: Path, db: Path, sql_lines: int = 0) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DISTILLGUARD_HMAC_SECRET": "crash-test",
        # small batches and quick looks: many commits, so kills land before, inside and after them
        "DISTILLGUARD_FOLLOW_BATCH_ROWS": "150",
        "DISTILLGUARD_FOLLOW_BATCH_SECONDS": "0.2",
        "DISTILLGUARD_FOLLOW_POLL_MS": "20",
        # the line path only, unless a test asks for backlogs to go through SQL
        "DISTILLGUARD_FOLLOW_SQL_LINES": str(sql_lines),
    }
    command = [sys.executable, "-c", "from distillguard.cli import main; main()"]
    command += ["ingest", "--follow", str(logs), "--db", str(db), "--quiet"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _write_traffic(logs: Path, rng: random.Random, done: threading.Event) -> list[bytes]:
    """Appends records in uneven pieces (lines split across writes), rotating once half-way."""
    lines = litellm_lines(RECORDS)
    for n, bad in enumerate(MALFORMED):
        lines.insert(rng.randrange(len(lines)) + n, bad)
    live = logs / "gateway.jsonl"
    position = 0
    rotated = False
    while position < len(lines):
        size = rng.randint(5, 60)
        data = b"".join(lines[position : position + size])
        cut = rng.randrange(len(data))
        append(live, data[:cut])  # the follower may look between these two writes
        time.sleep(rng.uniform(0, 0.01))
        append(live, data[cut:])
        position += size
        if not rotated and position > len(lines) // 2:
            live.rename(logs / "gateway.jsonl.1")  # rename + new file, as logrotate does
            rotated = True
        time.sleep(rng.uniform(0.05, 0.15))  # about eight seconds of traffic: most kills land in it
    done.set()
    return lines


def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(14)
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "w.duckdb"
    done = threading.Event()
    written: list[bytes] = []
    writer = threading.Thread(target=lambda: written.extend(_write_traffic(logs, rng, done)))
    writer.start()
    kills = 0
    try:
        while not done.is_set() or kills < 4:
            process = _follow_process(logs, db)
            time.sleep(rng.uniform(0.8, 2.5))  # during start-up some of the time, inside a commit some
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
    finally:
        writer.join()
    # a last run ended the way a service manager ends it
    process = _follow_process(logs, db)
    time.sleep(4.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    config = load_config(db_path=str(db), hmac_secret="crash-test", follow_batch_rows=150)
    with Warehouse.open(db) as warehouse:
        by_the_command = follow_totals(warehouse).read
        follower = Follower(warehouse, [logs], config=config)  # catch up whatever the last run left
        while follower.poll():
            pass
        follower.commit()
        stored = warehouse.engine.to_arrow("SELECT event_id FROM events").column("event_id").to_pylist()
        quarantined = warehouse.count("quarantine")
        totals = follow_totals(warehouse)

    assert kills >= 4
    assert by_the_command > RECORDS // 2, "the command itself should have read most of the traffic"
    assert len(written) == RECORDS + len(MALFORMED)
    assert sorted(stored) == [f"req-{n:07d}" for n in range(RECORDS)]  # nothing lost, nothing twice
    assert quarantined == len(MALFORMED)
    # every line was counted exactly once across all the runs, and the counts reconcile
    assert totals.read == RECORDS + len(MALFORMED)
    assert totals.read == totals.stored + totals.duplicates + totals.quarantined
    assert (totals.stored, totals.duplicates, totals.quarantined) == (RECORDS, 0, len(MALFORMED))


@pytest.mark.parametrize("fmt", ["canonical", "litellm"])
def test_sigkill_while_backlogs_go_through_sql_loses_and_doubles_nothing(fmt: str, tmp_path: Path) -> None:
    """Backlogs of 100 lines or more are read by the SQL path (``follow_sql_lines``): a kill
    inside a chunk, its commit or between chunks still loses and doubles nothing."""
    rng = random.Random(15)
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "w.duckdb"
    lines = canonical_lines(RECORDS) if fmt == "canonical" else litellm_lines(RECORDS)
    nameless = json.loads(lines[700])
    # valid JSON that every path quarantines, inside the first backlog
    nameless["event_id" if fmt == "canonical" else "id"] = None
    lines[700] = json.dumps(nameless).encode() + b"\n"
    live = logs / "gateway.jsonl"
    append(live, b"".join(lines[:1200]))  # a backlog before the first start
    done = threading.Event()

    def write_bursts() -> None:
        position = 1200
        while position < len(lines):
            size = rng.randint(100, 300)  # bursts: each look finds a backlog for SQL
            append(live, b"".join(lines[position : position + size]))
            position += size
            time.sleep(rng.uniform(0.5, 1.0))
        done.set()

    writer = threading.Thread(target=write_bursts)
    writer.start()
    kills = 0
    try:
        while not done.is_set() or kills < 4:
            process = _follow_process(logs, db, sql_lines=100)
            time.sleep(rng.uniform(1.5, 4.0))  # start-up, inside a chunk, inside its commit
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
    finally:
        writer.join()
    process = _follow_process(logs, db, sql_lines=100)
    time.sleep(5.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    config = load_config(db_path=str(db), hmac_secret="crash-test")
    with Warehouse.open(db) as warehouse:
        by_the_command = follow_totals(warehouse).read
        follower = Follower(warehouse, [logs], config=config)
        while follower.poll():
            pass
        follower.commit()
        stored = warehouse.engine.to_arrow("SELECT event_id FROM events").column("event_id").to_pylist()
        quarantine = warehouse.engine.to_arrow("SELECT line, byte_offset FROM quarantine").to_pylist()
        totals = follow_totals(warehouse)

    assert kills >= 4
    assert by_the_command > RECORDS // 2, "the command itself should have read most of the traffic"
    expected = [f"req-{n:07d}" for n in range(RECORDS) if n != 700]
    assert sorted(stored) == expected  # nothing lost, nothing twice
    # once, at its line and byte, whichever path (a chunk's SQL, or the line path) read it
    assert quarantine == [{"line": 701, "byte_offset": sum(len(line) for line in lines[:700])}]
    assert (totals.read, totals.stored, totals.duplicates, totals.quarantined) == (RECORDS, RECORDS - 1, 0, 1)
