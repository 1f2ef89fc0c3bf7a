"""Replicas sharing state through a real redis-server on loopback, and what happens when it fails."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.servers import free_port, require_program, wait_for_port

from distillguard.decisions.facts import AccountRecord, LiveCounters
from distillguard.decisions.model import Decision
from distillguard.serve.redis_state import RedisState
from distillguard.serve.state import Hit, StateError

pytestmark = pytest.mark.integration

TIMEOUT_MS = 50
NOW = datetime.now(UTC)
LATER = NOW + timedelta(hours=72)


@dataclass
class RedisServer:
    program: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.program,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, timeout_s=20, process=self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:  # a Redis that accepts connections but never answers: "slow"
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    found = RedisServer(require_program("redis-server", "redis-server"))
    found.start()
    try:
        yield found
    finally:
        if found.process is not None and found.process.poll() is None:
            found.resume()
        found.kill()


@pytest.fixture
def replicas(server: RedisServer) -> Iterator[Callable[[], RedisState]]:
    opened: list[RedisState] = []

    def replica() -> RedisState:
        state = RedisState(server.url, timeout_ms=TIMEOUT_MS, poll_interval_s=0.1)
        opened.append(state)
        return state

    yield replica
    for state in opened:
        state.close()


def _until(check: Callable[[], bool], *, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _verdict(account: str, action: str = "block") -> Decision:
    return Decision(
        "account",
        account,
        action,
        0.95,
        (f"prompt.cot: 95% of 300 events elicit reasoning ({account})",),
        "scan.account",
        LATER,
    )


def _publish(state: RedisState, generation: str, accounts: list[str]) -> int:
    return state.replace_subjects(
        [_verdict(a) for a in accounts],
        accounts=[AccountRecord(a, "free", "email", "US", NOW - timedelta(days=1)) for a in accounts],
        memberships={a: "cl-1" for a in accounts},
        generation=generation,
    )


def _record(state: RedisState, account: str, *, at: datetime = NOW, new: bool = False) -> LiveCounters:
    hit = Hit(account_id=account, ip_prefix_hash="pfx-1", elicited=True, account_is_new=new, now=at)
    return state.record(hit)


def test_replicas_share_counters_and_a_published_snapshot(replicas: Callable[[], RedisState]) -> None:
    a, b = replicas(), replicas()
    for _ in range(3):
        _record(a, "acct-1")
    counts = _record(b, "acct-1")
    assert (counts.account_requests_1m, counts.account_requests_1h, counts.account_elicitation_1h) == (
        4,
        4,
        4,
    )
    assert counts.prefix_requests_1m == 4
    for i in range(6):
        _record(a if i % 2 else b, f"fresh-{i}", new=True)
    assert _record(b, "acct-1").prefix_new_accounts_1h == 6  # distinct new accounts seen by both replicas
    for i in range(3):  # one script's fingerprint, fresh accounts on both replicas
        (a if i % 2 else b).record(Hit(
            account_id=f"fresh-{i}", ip_prefix_hash=None, elicited=True, account_is_new=True, now=NOW,
            fingerprint="m|max_tokens=16000",
        ))  # fmt: skip
    shared = a.record(Hit(
        account_id="acct-1", ip_prefix_hash="pfx-1", elicited=True, account_is_new=False, now=NOW,
        fingerprint="m|max_tokens=16000",
    ))  # fmt: skip
    assert (shared.fingerprint_new_elicited_accounts_1h, shared.prefix_new_accounts_1h) == (3, 6)
    for i in range(4):  # a cluster's light accounts, counted together across replicas
        (a if i % 2 else b).record(Hit(
            account_id=f"member-{i}", ip_prefix_hash=None, elicited=False, account_is_new=False, now=NOW,
            cluster_id="c-7",
        ))  # fmt: skip
    together = a.record(Hit(
        account_id="member-9", ip_prefix_hash="pfx-9", elicited=False, account_is_new=False, now=NOW,
        cluster_id="c-7", fingerprint="m|max_tokens=16000",
    ))  # fmt: skip
    assert (together.cluster_requests_1m, together.cluster_requests_1h) == (5, 5)
    assert (together.prefix_requests_1m, together.fingerprint_new_elicited_accounts_1h) == (1, 3)

    assert _publish(a, "gen-1", ["acct-1", "acct-2"]) == 2
    assert _until(lambda: b.health().generation == "gen-1")
    assert b.lookup([("account", "acct-2"), ("account", "acct-9")], now=NOW) == [_verdict("acct-2")]
    assert b.account("acct-1") == AccountRecord("acct-1", "free", "email", "US", NOW - timedelta(days=1))
    assert b.cluster_of("acct-2") == "cl-1"

    # A replica that starts after the publish answers from the snapshot at once (no gap).
    c = replicas()
    assert c.health().generation == "gen-1"
    assert c.lookup([("account", "acct-1")], now=NOW) == [_verdict("acct-1")]

    # A new publish replaces the old snapshot everywhere.
    _publish(b, "gen-2", ["acct-3"])
    assert _until(lambda: a.health().generation == "gen-2" and c.health().generation == "gen-2")
    assert a.lookup([("account", "acct-1"), ("account", "acct-3")], now=NOW) == [_verdict("acct-3")]


def test_live_decisions_reach_the_other_replicas_until_they_expire(
    replicas: Callable[[], RedisState],
) -> None:
    a, b = replicas(), replicas()
    live = Decision(
        "account",
        "acct-7",
        "throttle",
        0.8,
        ("12 requests in the last minute, budget 10",),
        "live.rate_budget",
        datetime.now(UTC) + timedelta(seconds=30),
    )
    a.put_live(live)
    assert _until(lambda: b.lookup([("account", "acct-7")], now=datetime.now(UTC)) == [live])
    assert b.lookup([("account", "acct-7")], now=datetime.now(UTC) + timedelta(seconds=31)) == []


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_redis_killed_mid_run_keeps_answering_from_the_snapshot_then_recovers(
    server: RedisServer, replicas: Callable[[], RedisState]
) -> None:
    state = replicas()
    _publish(state, "gen-1", ["acct-1"])
    assert _record(state, "acct-1").account_requests_1m == 1
    server.kill()

    waits = [_timed(lambda: _record(state, "acct-1")) for _ in range(50)]
    assert max(waits) < 0.5, f"a request waited {max(waits):.3f}s on a dead Redis"
    assert statistics.median(waits) < 0.005  # after the first failure nobody calls Redis
    assert state.lookup([("account", "acct-1")], now=NOW) == [_verdict("acct-1")]
    health = state.health()
    assert not health.ok and health.degraded_reason is not None and "redis" in health.degraded_reason
    assert health.generation == "gen-1" and health.subjects == 1
    # Counting goes on locally: the request before the failure and the 50 during it.
    assert _record(state, "acct-1").account_requests_1m == 52

    server.start()  # same port, empty (no persistence)
    assert _until(lambda: state.health().ok, timeout_s=15)
    assert _record(state, "acct-1").account_requests_1m == 1  # counted in the new Redis again
    assert state.lookup([("account", "acct-1")], now=NOW) == [_verdict("acct-1")]  # snapshot kept
    _publish(state, "gen-2", ["acct-2"])
    assert state.health().generation == "gen-2"


def test_a_redis_that_stops_answering_costs_at_most_one_timeout(
    server: RedisServer, replicas: Callable[[], RedisState]
) -> None:
    state = replicas()
    _publish(state, "gen-1", ["acct-1"])
    server.pause()
    try:
        waits = [_timed(lambda: _record(state, "acct-1")) for _ in range(50)]
        assert max(waits) < TIMEOUT_MS / 1000 + 0.3, f"slowest request {max(waits):.3f}s"
        assert sorted(waits)[-2] < 0.02  # one request found out; the rest skip Redis
        assert state.lookup([("account", "acct-1")], now=NOW) == [_verdict("acct-1")]
        assert _until(lambda: not state.health().ok)
        assert "Timeout" in (state.health().degraded_reason or "")
    finally:
        server.resume()
    assert _until(lambda: state.health().ok, timeout_s=15)
    # The one before the pause and this one; the request that timed out had already sent
    # its increment, which Redis may apply when it wakes.
    assert _record(state, "acct-1").account_requests_1m in (2, 3)


def test_publishing_to_a_dead_redis_is_an_error_that_names_it_but_not_its_password(
    server: RedisServer,
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{server.port}/0"
    publisher = RedisState(url, timeout_ms=TIMEOUT_MS, sync=False, bulk_timeout_s=2)
    try:
        server.kill()
        with pytest.raises(StateError, match=f"127.0.0.1:{server.port}") as raised:
            _publish(publisher, "gen-x", ["acct-1"])
        assert "hunter2" not in str(raised.value) and "hunter2" not in str(publisher.health().degraded_reason)
        assert publisher.lookup([("account", "acct-1")], now=NOW) == [_verdict("acct-1")]  # held locally
    finally:
        publisher.close()
