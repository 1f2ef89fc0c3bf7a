"""The audit log: durable appends from many threads, and read back by `distillguard ingest`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config
from distillguard.ingest import ingest_paths
from distillguard.serve import audit as audit_module
from distillguard.serve.audit import AUDIT_FIELDS, AuditLog, audit_path
from distillguard.warehouse import Warehouse

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _record(i: int, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "latency_us": 180 + i,  # given out of order: the log writes the documented order
        "decision_id": f"dec-{i:05d}",
        "request_id": f"req-{i:05d}",
        "ts": (T0 + timedelta(seconds=i)).isoformat(),
        "account_id": f"acct-{i % 3}",
        "api_key_hash": f"kh-{i % 3}",
        "client_ip_hash": f"ih-{i}",
        "ip_prefix_hash": "ph-1",
        "model": "gpt-x",
        "action": "throttle" if i % 2 else "allow",
        "enforced_action": "allow",
        "shadow": True,
        "risk": 0.82,
        "reasons": ["12 requests in the last minute, budget 10 (plan free)"],
        "source": "live.rate_budget",
        "subject_kind": "account",
        "subject_id": f"acct-{i % 3}",
        "degrade": [],
        "policy_version": "3f2a9c1b",
        "cot_elicitation": 0.9,
        "rubric_grading": 0.0,
        "censorship_rewrite": 0.0,
        "capability": "math",
        "prompt_text": f"Solve problem {i} and show your full reasoning, step by step.",
        "max_tokens": 4096,
        "logprobs": False,
        "tool_count": 0,
        "message_count": 1,
        "user_agent": "OpenAI/Python 1.40.0",
        "error": None,
    }
    record.update(extra)
    return record


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_records_survive_close_and_reopen_and_keep_the_documented_order(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(3):
            log.write(_record(i))
    log.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        log.write(_record(9))
    with AuditLog(path) as again:
        again.write(_record(3, note="an extra field"))
    rows = [json.loads(line) for line in _lines(path)]
    assert [r["decision_id"] for r in rows] == ["dec-00000", "dec-00001", "dec-00002", "dec-00003"]
    documented = [k for k in rows[3] if k in AUDIT_FIELDS]
    assert documented == [k for k in AUDIT_FIELDS if k in rows[3]]
    assert list(rows[3])[-1] == "note"


def test_concurrent_writers_never_interleave_or_lose_a_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync_interval_ms=5)
    long_text = "why " * 3000  # records larger than a pipe buffer still land whole

    def writer(t: int) -> None:
        for i in range(300):
            log.write({"decision_id": f"{t}-{i}", "prompt_text": long_text if i % 50 == 0 else "short"})

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    ids = [json.loads(line)["decision_id"] for line in _lines(path)]
    assert sorted(ids) == sorted(f"{t}-{i}" for t in range(8) for i in range(300))


_CRASHER = """
import sys
from distillguard.serve.audit import AuditLog
log = AuditLog(sys.argv[1], fsync_interval_ms=60_000)  # no fsync in time: only write() stands between
for i in range(500):
    log.write({"decision_id": f"dec-{i}", "account_id": "acct-1"})
print("written", flush=True)
import time
time.sleep(60)
"""


def test_a_killed_service_loses_nothing_write_returned_for(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    crasher = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert crasher.stdout is not None
        assert crasher.stdout.readline().strip() == b"written"
    finally:
        crasher.send_signal(signal.SIGKILL)
        crasher.wait(timeout=10)
    assert [json.loads(line)["decision_id"] for line in _lines(path)] == [f"dec-{i}" for i in range(500)]


def test_fsync_follows_writes_within_the_interval_and_close_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[float] = []
    real = os.fsync
    monkeypatch.setattr(audit_module.os, "fsync", lambda fd: (synced.append(time.monotonic()), real(fd))[1])
    log = AuditLog(tmp_path / "a.jsonl", fsync_interval_ms=20)
    time.sleep(0.1)
    assert synced == []  # nothing written, nothing to sync
    written = time.monotonic()
    log.write(_record(1))
    deadline = time.monotonic() + 2
    while not synced and time.monotonic() < deadline:
        time.sleep(0.005)
    assert synced and synced[0] - written < 0.5
    before_close = len(synced)
    log.close()
    assert len(synced) == before_close + 1

    synced.clear()
    every = AuditLog(tmp_path / "b.jsonl", fsync_interval_ms=0)
    for i in range(3):
        every.write(_record(i))
    assert len(synced) == 3
    every.close()


def test_audit_path_defaults_beside_the_warehouse(config: Config) -> None:
    assert audit_path(config) == Path(config.db_path).with_name("dg.audit.jsonl")
    assert audit_path(config.with_overrides(serve_audit_path="/var/log/dg.jsonl")) == Path(
        "/var/log/dg.jsonl"
    )


def test_ingest_reads_the_audit_log_back_with_every_record_accounted_for(
    tmp_path: Path, config: Config, warehouse: Warehouse
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.write(_record(0))
        log.write(_record(1, request_id=None, prompt_text=None, prompt_hash="ph-abc", skeleton_hash="sk-abc"))
        log.write(_record(2, account_id=None))  # no account: quarantined
    with path.open("ab") as handle:
        handle.write(
            b'{"decision_id": "dec-torn", "policy_version": "3f2a9c1b", "enforced_act'
        )  # torn by a crash
    with AuditLog(path) as log:  # reopening closes the torn line off
        log.write(_record(3))

    report = ingest_paths(warehouse, [path], config=config, progress=False)
    (file,) = report.files
    assert file.source_format == "distillguard-audit"
    assert (file.read, file.stored, file.duplicates, file.quarantined) == (5, 3, 0, 2)
    assert report.reconciles

    rows = warehouse.engine.to_arrow(
        "SELECT event_id, source_format, account_id, api_key_hash, client_ip_hash, ip_prefix_hash, "
        "model_requested, prompt_text, prompt_hash, skeleton_hash, max_tokens, attrs "
        "FROM events ORDER BY event_id"
    ).to_pylist()
    assert [r["event_id"] for r in rows] == ["dec-00001", "req-00000", "req-00003"]
    first = rows[1]
    assert (first["source_format"], first["account_id"], first["model_requested"]) == (
        "distillguard-audit",
        "acct-0",
        "gpt-x",
    )
    # already keyed hashes: stored as they are, never hashed again
    assert (first["api_key_hash"], first["client_ip_hash"], first["ip_prefix_hash"]) == (
        "kh-0",
        "ih-0",
        "ph-1",
    )
    assert (
        first["prompt_text"].startswith("Solve problem 0")
        and first["prompt_hash"]
        and first["max_tokens"] == 4096
    )
    attrs = dict(first["attrs"])
    assert (attrs["action"], attrs["enforced_action"], attrs["policy_version"]) == (
        "allow",
        "allow",
        "3f2a9c1b",
    )
    assert json.loads(attrs["reasons"]) == ["12 requests in the last minute, budget 10 (plan free)"]
    assert attrs["decision_id"] == "dec-00000" and attrs["shadow"] == "true"
    no_text = rows[0]
    assert (no_text["prompt_text"], no_text["prompt_hash"], no_text["skeleton_hash"]) == (
        None,
        "ph-abc",
        "sk-abc",
    )

    quarantined = warehouse.engine.to_arrow(
        "SELECT file, line, reason FROM quarantine ORDER BY line"
    ).to_pylist()
    assert [(q["file"], q["line"]) for q in quarantined] == [(str(path), 3), (str(path), 4)]
    assert "account_id" in quarantined[0]["reason"] and "malformed JSON" in quarantined[1]["reason"]

    again = ingest_paths(warehouse, [path], config=config, progress=False)
    assert (again.read, again.stored, again.duplicates, again.quarantined) == (5, 0, 3, 2)
