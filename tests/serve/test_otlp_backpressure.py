"""When the warehouse is busy the receiver pushes back with 503 and loses nothing.

Another process holding the DuckDB file (a scan, say) keeps the writer out. Exports are
then answered 503 with Retry-After (OTLP's retryable answer), the queued spans are written
as soon as the file is free, and the exporter's retry of the same export counts duplicates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.serve.otlp_support import TOKEN, counts, receiver_config, running_receiver, table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"
GOOD = (FIXTURES / "otel_new.jsonl").read_bytes()  # two GenAI spans
OTHER = (FIXTURES / "otel_legacy.jsonl").read_bytes()  # one more
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"


def healthy(url: str) -> bool:
    health = httpx.get(url + "/healthz", timeout=10).json()
    return bool(health["status"] == "ok" and health["pending_bytes"] == 0)


def test_a_locked_warehouse_gets_503_and_the_queued_spans_are_written_once_it_is_free(tmp_path: Path) -> None:
    # The first export must wait the whole ack timeout out against the lock; each retry after
    # the lock is gone must be written inside it. One flush (open, write, commit, close) takes
    # 0.2-0.7 s on an idle 2-core machine, so 3 s leaves room for a loaded CI runner.
    config = receiver_config(tmp_path, collect_ack_timeout_ms=3000, collect_max_pending_bytes=1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(config.db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with running_receiver(config) as receiver:
            waited = httpx.post(receiver.traces, content=GOOD, headers=HEADERS, timeout=30)
            assert waited.status_code == 503 and waited.headers["retry-after"].isdigit()
            assert "collect_ack_timeout_ms" in waited.json()["message"]
            # The queue is over collect_max_pending_bytes: the next export is refused at once, not queued.
            refused = httpx.post(receiver.traces, content=OTHER, headers=HEADERS, timeout=30)
            assert refused.status_code == 503 and "behind" in refused.json()["message"]
            health = httpx.get(receiver.url + "/healthz", timeout=10).json()
            assert health["status"] == "degraded" and health["last_write_error"]

            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=30)
            deadline = time.monotonic() + 60
            while counts(receiver.config)["events"] < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert counts(receiver.config) == {"events": 2, "quarantine": 0, "runs": 1}
            # The exporter retries after Retry-After; by then the writer has let go of the flush.
            while not healthy(receiver.url) and time.monotonic() < deadline:
                time.sleep(0.2)

            for body in (GOOD, OTHER):  # the exporters retry both
                retried = httpx.post(receiver.traces, content=body, headers=HEADERS, timeout=30)
                assert retried.status_code == 200
            assert healthy(receiver.url)
        runs = table(config, "SELECT stored, duplicates FROM ingest_runs ORDER BY finished_at").to_pylist()
        assert [(r["stored"], r["duplicates"]) for r in runs] == [(2, 0), (0, 2), (1, 0)]
    finally:
        holder.kill()
        holder.wait(timeout=10)
