"""`distillguard collect` as an operator runs it: it refuses to start open, and stores what it is sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from tests.serve.otlp_support import TOKEN
from tests.serve.test_otlp_sdk import finished_spans
from tests.support.servers import free_port, running

from distillguard.warehouse import Warehouse

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    return {**env, **extra}


def test_collect_refuses_to_start_without_sender_tokens(tmp_path: Path) -> None:
    command = [str(BIN / "distillguard"), "collect", "--db", str(tmp_path / "w.duckdb"), "--port", "9"]
    refused = subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=60
    )
    assert refused.returncode != 0
    message = " ".join((refused.stdout + refused.stderr).split())
    assert "refusing to start" in message and "collect_tokens" in message
    assert not (tmp_path / "w.duckdb").exists()


def test_collect_stores_what_the_sdk_exports(tmp_path: Path) -> None:
    db, port = tmp_path / "w.duckdb", free_port()
    command = [str(BIN / "distillguard"), "collect", "--db", str(db), "--port", str(port)]
    env = clean_env(DISTILLGUARD_COLLECT_TOKENS=TOKEN, DISTILLGUARD_HMAC_SECRET="cli-test-secret")
    with running(command, port, env=env, cwd=tmp_path):
        sender = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{port}/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert sender.export(finished_spans()) is SpanExportResult.SUCCESS
        sender.shutdown()
        with Warehouse.open(db, read_only=True) as warehouse:  # answered only once written
            stored = warehouse.engine.to_arrow("SELECT account_id FROM events ORDER BY 1")
    accounts = stored.column(0).to_pylist()
    assert accounts == ["acct-legacy-conventions", "acct-new-conventions"]


def test_sigterm_writes_the_queued_spans_before_collect_exits(tmp_path: Path) -> None:
    db, port = tmp_path / "w.duckdb", free_port()
    command = [str(BIN / "distillguard"), "collect", "--db", str(db), "--port", str(port)]
    env = clean_env(
        DISTILLGUARD_COLLECT_TOKENS=TOKEN,
        DISTILLGUARD_HMAC_SECRET="cli-test-secret",
        DISTILLGUARD_COLLECT_FLUSH_INTERVAL_MS="600000",  # nothing would be written for ten minutes
        DISTILLGUARD_COLLECT_ACK_TIMEOUT_MS="300",
    )
    with running(command, port, env=env, cwd=tmp_path) as process:
        queued = httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=(FIXTURES / "otel_new.jsonl").read_bytes(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=30,
        )
        assert queued.status_code == 503  # not written in time; still queued
        assert not db.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    with Warehouse.open(db, read_only=True) as warehouse:
        assert warehouse.count("events") == 2
