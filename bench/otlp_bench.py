"""Throughput of the OTLP receiver (`distillguard collect`) against file ingest of the same spans.

Simulates OTel GenAI traffic (``--preset``/``--scale``), then in the same run:

1. ``ingest``: ``distillguard ingest`` of the simulated OTLP/JSON files into a fresh warehouse;
2. ``collect``: a ``distillguard collect`` process on loopback, fed the same spans as
   protobuf + gzip exports of ``--spans-per-export`` spans (what a Collector's batch
   processor sends) by ``--senders`` concurrent senders; timed from the first export
   sent to the last one answered (answered = written: the receiver acknowledges after
   the commit), with each export's latency.

Both warehouses must end with the same number of events. Prints one JSON object with
the machine, the load average before and after, and the figures.

    .venv/bin/python bench/otlp_bench.py --preset tiny --scale 1 --senders 2
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

BIN = Path(sys.executable).parent
TOKEN = "bench-collect-token-0123456789"


def exports(files: list[Path], size: int) -> list[bytes]:
    """The files' single-span requests merged into gzipped protobuf exports of ``size`` spans."""
    resource_spans: list[dict[str, Any]] = []
    for path in files:
        with gzip.open(path, "rt") as handle:
            resource_spans += [rs for line in handle for rs in json.loads(line)["resourceSpans"]]
    bodies = []
    for start in range(0, len(resource_spans), size):
        request = {"resourceSpans": resource_spans[start : start + size]}
        for rs in request["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if span.get(key):
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        message = json_format.ParseDict(request, ExportTraceServiceRequest())
        bodies.append(gzip.compress(message.SerializeToString()))
    return bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def count_events(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def run_collect(bodies: list[bytes], db: Path, senders: int, env: dict[str, str]) -> dict[str, Any]:
    port = free_port()
    command = [str(BIN / "distillguard"), "collect", "--db", str(db), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        queue = list(enumerate(bodies))

        def sender() -> None:
            headers = {
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "gzip",
            }
            with httpx.Client(timeout=120) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        _, body = queue.pop(0)
                    while True:  # an exporter retries 503 after Retry-After; so does this sender
                        started = time.perf_counter()
                        answer = client.post(
                            f"http://127.0.0.1:{port}/v1/traces", content=body, headers=headers
                        )
                        with lock:
                            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                        if answer.status_code != 503:
                            break
                        time.sleep(float(answer.headers.get("retry-after", "1")))
                    with lock:
                        latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=60)
    latencies.sort()
    return {
        "seconds": round(seconds, 2),
        "statuses": statuses,
        "export_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--spans-per-export", type=int, default=512)
    parser.add_argument("--workers", type=int, default=0, help="collect_workers (0: one per core)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()

    from distillguard.simulate import preset, simulate

    work = args.keep or Path(tempfile.mkdtemp(prefix="otlp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    scenario = preset(args.preset, args.scale)
    scenario.formats = ["otel"]
    simulate(scenario, work / "sim")
    files = sorted((work / "sim" / "traffic").glob("otel-*.jsonl.gz"))
    bodies = exports(files, args.spans_per_export)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    env.update(DISTILLGUARD_COLLECT_TOKENS=TOKEN, DISTILLGUARD_HMAC_SECRET="bench-secret")
    env["DISTILLGUARD_COLLECT_WORKERS"] = str(args.workers)
    load_before = os.getloadavg()

    started = time.perf_counter()
    ingest_db = work / "ingest.duckdb"
    subprocess.run(
        [str(BIN / "distillguard"), "ingest", *map(str, files), "--db", str(ingest_db)],
        env=env,
        check=True,
        capture_output=True,
    )
    ingest_s = time.perf_counter() - started
    collect_db = work / "collect.duckdb"
    collected = run_collect(bodies, collect_db, args.senders, env)
    events = count_events(ingest_db)
    assert count_events(collect_db) == events, "the receiver and file ingest stored different counts"
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["bench/otlp_bench.py", *sys.argv[1:]]),
        "events": events,
        "exports": len(bodies),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "ingest_seconds": round(ingest_s, 2),
        "ingest_events_per_s": round(events / ingest_s),
        "collect": collected,
        "collect_spans_per_s": round(events / collected["seconds"]),
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
