"""`distillguard watch`: passes when records arrive, none when nothing did, publication after each."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tests.ingest.follow_helpers import append, litellm_lines

from distillguard.config import Config
from distillguard.warehouse import Warehouse
from distillguard.watch import PassReport, Watcher


class _ReadingService(BaseHTTPRequestHandler):
    """A stand-in decision service that, like the real one, opens the warehouse read-only to reload."""

    db_path: ClassVar[str] = ""
    reloads: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with Warehouse.open(self.db_path, read_only=True) as warehouse:  # fails while the watcher holds it
            scored = warehouse.count("account_scores")
        type(self).reloads.append(scored)
        body = json.dumps({"subjects": scored, "generation": f"g-{len(self.reloads)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def service(config: Config) -> Iterator[tuple[str, type[_ReadingService]]]:
    handler = type("Handler", (_ReadingService,), {"db_path": str(config.db_path), "reloads": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


def _wait(condition: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), "timed out waiting"


def test_watch_scans_new_records_publishes_and_skips_idle_intervals(
    config: Config, tmp_path: Path, service: tuple[str, type[_ReadingService]]
) -> None:
    url, handler = service
    logs = tmp_path / "logs"
    logs.mkdir()
    passes: list[PassReport] = []
    watcher = Watcher(config, [logs], every_s=0.3, publish=url, on_pass=passes.append)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        append(logs / "gateway.jsonl", b"".join(litellm_lines(30)))
        _wait(lambda: len(passes) >= 1)
        idle_since = len(passes)
        time.sleep(1.5)  # five intervals with nothing new
        assert len(passes) == idle_since
        append(logs / "gateway.jsonl", b"".join(litellm_lines(20, start=30)))
        _wait(lambda: len(passes) > idle_since)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert sum(p.new_records for p in passes) == 50
    assert passes[-1].events == 50
    assert all(p.publish_error is None for p in passes), [p.publish_error for p in passes]
    # the service could open the warehouse at every pass, and saw that pass's scores
    assert len(handler.reloads) == len(passes) and all(n > 0 for n in handler.reloads)
    with Warehouse.open(config.db_path, read_only=True) as warehouse:
        assert warehouse.count("events") == 50


def test_passes_beside_follow_mode_see_every_record_once(config: Config, tmp_path: Path) -> None:
    """Without an HTTP target a pass runs on its own connection while follow mode keeps reading."""
    logs = tmp_path / "logs"
    logs.mkdir()
    passes: list[PassReport] = []
    watcher = Watcher(config, [logs], every_s=0.2, on_pass=passes.append)
    assert watcher.concurrent
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        for start in range(0, 120, 20):  # records keep arriving while passes run
            append(logs / "gateway.jsonl", b"".join(litellm_lines(20, start=start)))
            time.sleep(0.3)
        _wait(lambda: sum(p.new_records for p in passes) == 120)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert passes[-1].events == 120
    assert sum(p.new_records for p in passes) == 120
    with Warehouse.open(config.db_path, read_only=True) as warehouse:
        assert warehouse.count("events") == 120


def test_a_bad_publish_target_fails_before_anything_is_read(config: Config, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected redis://"):
        Watcher(config, [tmp_path], publish="ftp://nowhere")


def test_the_watch_command_logs_each_pass_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "gateway.jsonl", b"".join(litellm_lines(25)))
    passes_log = tmp_path / "passes.jsonl"
    command = [sys.executable, "-c", "from distillguard.cli import main; main()", "watch", str(logs)]
    command += [
        "--db",
        str(tmp_path / "w.duckdb"),
        "--every",
        "0.5",
        "--passes-log",
        str(passes_log),
        "--quiet",
    ]
    env = {**os.environ, "DISTILLGUARD_HMAC_SECRET": "watch-test"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: passes_log.exists() and passes_log.read_text().strip() != "")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()[-2000:]
    first = json.loads(passes_log.read_text().splitlines()[0])
    assert first["new_records"] == 25 and first["events"] == 25
    assert first["scan_s"] > 0 and first["publish_error"] is None
