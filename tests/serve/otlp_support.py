"""A real OTLP receiver on loopback for tests: uvicorn in a thread, a fresh warehouse each time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import uvicorn
from tests.support.servers import free_port, wait_for_port

from distillguard.collect import create_collect_app
from distillguard.config import Config, load_config

TOKEN = "test-collect-token-0123456789"


def receiver_config(tmp_path: Path, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "db_path": str(tmp_path / "collect.duckdb"),
        "hmac_secret": "collect-test-secret",
        "collect_tokens": TOKEN,
        "collect_flush_interval_ms": 50,  # tests wait for each export's answer: keep it short
        "collect_workers": 1,  # decode in threads: no worker processes to start for every test
    }
    settings.update(overrides)
    return load_config(None, **settings)


@dataclass
class Running:
    url: str
    config: Config

    @property
    def traces(self) -> str:
        return self.url + "/v1/traces"


@contextmanager
def running_receiver(config: Config) -> Iterator[Running]:
    """The receiver listening on a free loopback port; stopped (queue written) afterwards."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_collect_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port, timeout_s=30)
        yield Running(f"http://127.0.0.1:{port}", config)
    finally:
        server.should_exit = True
        thread.join(30)


def table(config: Config, sql: str) -> pa.Table:
    """Read the receiver's warehouse read-only (the writer holds it only while flushing: retry)."""
    for attempt in range(100):
        try:
            with duckdb.connect(str(config.db_path), read_only=True) as connection:
                return connection.execute(sql).to_arrow_table()
        except duckdb.Error:
            if attempt == 99:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def counts(config: Config) -> dict[str, int]:
    """Rows in events, quarantine and ingest_runs (0 for a table the writer has not created yet)."""
    if not Path(config.db_path).exists():
        return {"events": 0, "quarantine": 0, "runs": 0}
    present = set(table(config, "SELECT table_name FROM information_schema.tables").column(0).to_pylist())
    found = {}
    for name, key in (("events", "events"), ("quarantine", "quarantine"), ("ingest_runs", "runs")):
        found[key] = (
            int(table(config, f"SELECT count(*) FROM {name}").column(0)[0].as_py()) if name in present else 0
        )
    return found
