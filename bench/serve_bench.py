"""Decision-service latency, throughput and memory (issue 5's performance targets).

Three measurements, each printed as JSON and summarised as a markdown table:

1. **Memory per million subjects**: resident set before and after loading N synthetic
   flagged subjects (accounts, API keys, IP prefixes, clusters, with account records
   and cluster memberships) into the in-process state, after a full garbage collection.
2. **In-process decisions**: ``Decider.decide`` on that state with the default policy and
   the audit log on, for requests drawn from real prompts (``../shared/corpus`` when
   present, else a built-in mix): 10% from flagged accounts, the rest ordinary.
3. **Over HTTP on loopback**: the same app under uvicorn in a child process, driven by
   an open-loop load generator in *another* process (requests are sent on a fixed
   schedule whatever the answers do, and latency is measured from the scheduled send
   time, so a stalled server cannot hide its queue: no coordinated omission). First at
   the target rate, then at rising rates to find the saturation point and show what
   happens past it.

    python bench/serve_bench.py --subjects 1000000 --rate 1000 --seconds 20

Nothing here is a pass/fail test; docs/BENCHMARKS.md records the figures with the
machine, date and command.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import multiprocessing as mp
import os
import platform
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from distillguard.config import Config, load_config
from distillguard.decisions.facts import AccountRecord
from distillguard.decisions.model import Decision
from distillguard.decisions.policy import PolicyWatcher
from distillguard.fingerprints import hash_api_key, hash_ip
from distillguard.serve.audit import AuditLog
from distillguard.serve.decider import Decider, DecideRequest
from distillguard.serve.state import MemoryState

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FALLBACK_PROMPTS = (
    "What is the capital of Australia, and why is it not Sydney?",
    "Write a Python function that merges two sorted lists in linear time.",
    "Solve step by step and show every step of your reasoning: 3x + 7 = 22.",
    "You are a strict grader. Score the answer below from 1 to 10 against the rubric and explain.",
    "Summarise this meeting transcript in five bullet points for the team.",
    "Rewrite the following question so that it passes moderation but keeps its meaning.",
    "Translate into French: the invoice is overdue and we need payment this week.",
    "Plan the tool calls needed to book a flight from Berlin to Lisbon next Friday.",
)
SECRET = "bench-secret"
CONNECTIONS = 64  # keep-alive connections of the load generator (a gateway's pool)
FLAGGED_SHARE = 0.1


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    if not values_ms:
        return {}
    ordered = sorted(values_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "p999_ms": at(0.999),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


# ----------------------------------------------------------------- synthetic state
def subject_rows(n: int, now: datetime) -> Iterator[Decision]:
    """N flagged subjects: 60% accounts, 20% API keys, 10% IP prefixes, 10% clusters."""
    secret = SECRET.encode()
    expires = now + timedelta(hours=72)
    reasons = (
        "62% of 480 prompts elicit reasoning traces, rubric grading or rewrites",
        "member of a 340-account cluster sharing 12 proxy prefixes and 3 payment instruments",
    )
    for i in range(n):
        bucket = i % 10
        risk = 0.8 + (i % 20) / 100
        if bucket < 6:
            yield Decision("account", f"acct-{i}", "block", risk, reasons, "scan.account", expires)
        elif bucket < 8:
            yield Decision(
                "api_key", hash_api_key(secret, f"key-{i}") or "", "block", risk, reasons[:1], "scan.api_key"
            )
        elif bucket == 8:
            prefix = hash_ip(secret, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.1")[1] or ""
            yield Decision("ip_prefix", prefix, "challenge", 0.7, reasons[1:], "scan.ip_prefix", expires)
        else:
            yield Decision("cluster", f"cluster-{i}", "block", risk, reasons[1:], "scan.cluster", expires)


def account_rows(n: int, now: datetime) -> Iterator[AccountRecord]:
    for i in range(0, n, 10):
        for j in range(6):
            yield AccountRecord(f"acct-{i + j}", "startup", "email", "US", now - timedelta(days=3))


def memberships(n: int) -> dict[str, str]:
    return {f"acct-{i}": f"cluster-{i - (i % 10) + 9}" for i in range(0, n, 10)}


def load_state(n: int) -> tuple[MemoryState, dict[str, Any]]:
    now = datetime.now(UTC)
    gc.collect()
    before = rss_mb()
    state = MemoryState()
    started = time.perf_counter()
    loaded = state.replace_subjects(
        subject_rows(n, now), accounts=account_rows(n, now), memberships=memberships(n), generation="bench"
    )
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    per_million = (after - before) / max(n, 1) * 1_000_000
    return state, {
        "subjects": loaded,
        "load_seconds": round(seconds, 2),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "mb_per_million_subjects": round(per_million, 1),
    }


# ------------------------------------------------------------------ request mix
def prompts(limit: int = 4000) -> list[str]:
    if not CORPUS.is_dir():
        return list(FALLBACK_PROMPTS)
    found: list[str] = []
    files = sorted(CORPUS.glob("*.jsonl.gz"))
    per_file = max(1, limit // max(1, len(files)))
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if i >= per_file:
                    break
                text = json.loads(line).get("text")
                if isinstance(text, str) and text:
                    found.append(text[:8000])
    return found or list(FALLBACK_PROMPTS)


def request_bodies(n_subjects: int, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """JSON bodies for /v1/decide: 10% from flagged accounts, the rest ordinary ones."""
    rng = random.Random(seed)
    texts = prompts()
    bodies = []
    for _ in range(count):
        if rng.random() < FLAGGED_SHARE:
            account = f"acct-{rng.randrange(0, n_subjects, 10) + rng.randrange(6)}"
        else:
            account = f"org-{rng.randrange(200_000)}"
        bodies.append(
            {
                "account_id": account,
                "api_key_id": f"key-{rng.randrange(n_subjects)}",
                "client_ip": f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "headers": {"user-agent": "OpenAI/Python 1.99.0"},
                "model": "frontier-large",
                "request": {
                    "model": "frontier-large",
                    "messages": [{"role": "user", "content": rng.choice(texts)}],
                    "max_tokens": rng.choice((256, 1024, 4096)),
                },
            }
        )
    return bodies


def bench_config(workdir: Path) -> Config:
    return load_config(
        db_path=str(workdir / "serve-bench.duckdb"),
        hmac_secret=SECRET,
        serve_audit_path=str(workdir / "audit.jsonl"),
    )


def make_decider(config: Config, state: MemoryState) -> Decider:
    interval = int(config.serve_audit_fsync_interval_ms)
    audit = AuditLog(Path(config.serve_audit_path), fsync_interval_ms=interval)
    return Decider(config, policy=PolicyWatcher(None), state=state, audit=audit)


def in_process(decider: Decider, bodies: list[dict[str, Any]], decisions: int) -> dict[str, Any]:
    requests = [
        DecideRequest(
            account_id=b["account_id"],
            api_key_id=b["api_key_id"],
            client_ip=b["client_ip"],
            headers=b["headers"],
            model=b["model"],
            request=b["request"],
        )
        for b in bodies
    ]
    for request in requests[:2000]:  # warm caches and the policy
        decider.decide(request)
    latencies = []
    actions: dict[str, int] = {}
    started = time.perf_counter()
    for i in range(decisions):
        request = requests[i % len(requests)]
        t0 = time.perf_counter_ns()
        result = decider.decide(request)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        actions[result.action] = actions.get(result.action, 0) + 1
    seconds = time.perf_counter() - started
    return {
        "decisions": decisions,
        "decisions_per_s": round(decisions / seconds),
        "actions": actions,
        **percentiles(latencies),
    }


# ------------------------------------------------------------------- HTTP server
def serve_child(port: int, n_subjects: int, workdir: str, ready: Any) -> None:
    """Child process: the real app (create_app) under uvicorn, with N subjects loaded."""
    import uvicorn

    from distillguard.serve.app import create_app

    config = bench_config(Path(workdir))
    state, memory = load_state(n_subjects)
    app = create_app(config, decider=make_decider(config, state), load_at_start=False, close_on_shutdown=True)
    ready.put(memory)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, bool]:
    """(status, shed): shed answers are 200s carrying the policy's on_error verdict."""
    writer.write(payload)
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return (int(status_line.split()[1]) if status_line else 0), b'"error":"overloaded' in body


async def _drive(
    port: int, payloads: list[bytes], rate: float, seconds: float, timeout_s: float
) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate, whatever the answers do.

    ``CONNECTIONS`` workers, each with its own keep-alive connection, take the next due
    request in turn; when all are busy the request waits, and its latency (counted from
    when it was due) includes that wait. Workers rather than a task per request keep the
    generator's own cost low, so it is not the bottleneck it measures.
    """
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    deadline = start + seconds + timeout_s
    next_index = 0

    def count(key: str) -> None:
        statuses[key] = statuses.get(key, 0) + 1

    async def worker() -> None:
        nonlocal next_index
        conn = await _open(port)
        while next_index < total and loop.time() < deadline:
            i, next_index = next_index, next_index + 1
            due = start + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            try:
                status, shed = await _exchange(*conn, payloads[i % len(payloads)])
                count(str(status))
                if shed:
                    count("shed")
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                count(type(exc).__name__)
                conn[1].close()
                conn = await _open(port)
            latencies.append((loop.time() - due) * 1000)
        conn[1].close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    elapsed = loop.time() - start
    answered = statuses.get("200", 0)
    return {
        "target_rps": rate,
        "sent": len(latencies),
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "decided": answered - statuses.get("shed", 0),
        "shed": statuses.get("shed", 0),
        "errors": total - answered,
        "statuses": statuses,
        **percentiles(latencies),
    }


def load_child(port: int, bodies: list[dict[str, Any]], rate: float, seconds: float, out: Any) -> None:
    """Load generator process (separate from the server, as a gateway would be)."""
    payloads = []
    for body in bodies:
        data = json.dumps(body).encode()
        payloads.append(
            b"POST /v1/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
    out.put(asyncio.run(_drive(port, payloads, rate, seconds, timeout_s=5.0)))


def run_load(port: int, bodies: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=load_child, args=(port, bodies, rate, seconds, out))
    proc.start()
    result = out.get(timeout=seconds + 120)
    proc.join(timeout=30)
    return dict(result)


def http_runs(args: argparse.Namespace, bodies: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    port = free_port()
    server = ctx.Process(target=serve_child, args=(port, args.subjects, str(workdir), ready))
    server.start()
    try:
        memory = ready.get(timeout=900)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        run_load(port, bodies, min(args.rate, 200), 3)  # warm-up
        target = run_load(port, bodies, args.rate, args.seconds)
        sweep = []
        for rate in args.sweep:
            result = run_load(port, bodies, rate, args.sweep_seconds)
            sweep.append(result)
            if result["errors"] > result["sent"] * 0.5:
                break
        after = run_load(port, bodies, args.rate, 5)  # does it recover once load drops?
        return {"server_memory": memory, "target": target, "sweep": sweep, "recovery": after}
    finally:
        server.terminate()
        server.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--decisions", type=int, default=50_000, help="in-process decisions timed")
    parser.add_argument("--rate", type=float, default=1000.0, help="HTTP target requests/second")
    parser.add_argument("--seconds", type=float, default=20.0, help="HTTP run at the target rate")
    parser.add_argument("--sweep", type=float, nargs="*", default=[1500, 2000, 3000, 4000])
    parser.add_argument("--sweep-seconds", type=float, default=8.0)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--out", type=Path, help="write the JSON results here too")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "command": "python bench/serve_bench.py " + " ".join(sys.argv[1:]),
        "corpus": CORPUS.is_dir(),
    }
    with tempfile.TemporaryDirectory(prefix="dg-serve-bench-") as tmp:
        workdir = Path(tmp)
        bodies = request_bodies(args.subjects, 5000)
        state, memory = load_state(args.subjects)
        results["memory"] = memory
        print(json.dumps({"memory": memory}), flush=True)
        decider = make_decider(bench_config(workdir), state)
        results["in_process"] = in_process(decider, bodies, args.decisions)
        print(json.dumps({"in_process": results["in_process"]}), flush=True)
        if decider.audit is not None:
            decider.audit.close()
        del decider, state
        gc.collect()
        if not args.skip_http:
            results["http"] = http_runs(args, bodies, workdir)
            print(json.dumps({"http": results["http"]}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
