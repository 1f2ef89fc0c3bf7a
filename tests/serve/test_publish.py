"""What a scan publishes to the decision service, and `distillguard scan --publish`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config
from distillguard.decisions.model import Decision
from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS, CLUSTERS, EVENTS, PARTNER_MATCHES
from distillguard.serve.publish import VerdictSnapshot, publish, verdict_snapshot
from distillguard.serve.state import MemoryState
from distillguard.warehouse import Warehouse

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
runner = CliRunner()

HYDRA = [f"hydra-{i}" for i in range(5)]  # extraction, alone on their prefix
SPARED = "customer-in-hydra"  # an ordinary customer the graph put in the hydra's cluster
CAMPUS_FLAGGED = [f"student-bad-{i}" for i in range(4)]  # extraction, on a campus NAT
CAMPUS = [f"student-{i}" for i in range(40)]  # ordinary students on the same NAT
PAIR = ["pair-0", "pair-1"]  # extraction, the only two on their prefix (too few to act on a prefix)
WATCHED = "watched-1"
TEAM = ["team-bad", "team-0", "team-1"]  # one flagged member on a shared team key


def _plant(warehouse: Warehouse) -> None:
    events: list[dict[str, Any]] = []

    def event(account: str, prefix: str, key: str) -> None:
        events.append(
            {
                "event_id": f"ev-{len(events)}",
                "source_format": "canonical",
                "ts_start": NOW - timedelta(hours=len(events) % 48),
                "account_id": account,
                "api_key_hash": key,
                "ip_prefix_hash": prefix,
            }
        )

    for account in HYDRA:
        for _ in range(3):
            event(account, "pfx-hydra", f"key-{account}")
    for account in CAMPUS_FLAGGED + CAMPUS:
        event(account, "pfx-campus", f"key-{account}")
    for account in PAIR:
        event(account, "pfx-pair", f"key-{account}")
    event(WATCHED, "pfx-home", f"key-{WATCHED}")
    event(SPARED, "pfx-office", f"key-{SPARED}")
    for account in TEAM:
        event(account, f"pfx-{account}", "key-team")
    warehouse.insert_events(pa.Table.from_pylist(events, schema=EVENTS))

    def score(account: str, risk: float, verdict: str, cluster: str | None = None) -> dict[str, Any]:
        reasons = (
            [f"prompt.cot_elicitation: {int(risk * 100)}% of events ask for full reasoning"]
            if verdict != "ok"
            else []
        )
        return {
            "account_id": account,
            "risk": risk,
            "verdict": verdict,
            "cluster_id": cluster,
            "events": 3,
            "reasons": reasons,
        }

    scores = [score(a, 0.95, "extraction", "cl-hydra") for a in HYDRA]
    scores += [score(a, 0.9, "extraction") for a in CAMPUS_FLAGGED + PAIR]
    scores += [score(a, 0.05, "ok", "cl-campus") for a in CAMPUS]
    scores += [score(WATCHED, 0.6, "watch"), score("team-bad", 0.85, "extraction")]
    scores += [score(a, 0.1, "ok") for a in TEAM[1:]]
    scores.append(score(SPARED, 0.2, "ok", "cl-hydra"))
    warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    clusters = [
        {
            "cluster_id": "cl-hydra",
            "accounts": 5,
            "events": 15,
            "risk": 0.93,
            "verdict": "extraction",
            "top_indicators": ["payment:pay-1 shared by 5 members (5 accounts overall)"],
        },
        {"cluster_id": "cl-campus", "accounts": 40, "events": 40, "risk": 0.1, "verdict": "ok"},
    ]
    warehouse.replace_table("clusters", pa.Table.from_pylist(clusters, schema=CLUSTERS))
    records = [
        {"account_id": a, "plan": "free", "verification": "email", "country": "US", "created_at": NOW}
        for a in HYDRA + CAMPUS
    ]
    warehouse.upsert_accounts(pa.Table.from_pylist(records, schema=ACCOUNTS))
    match = {
        "account_id": "student-7",
        "indicator_id": "indicator--1",
        "partner": "acme",
        "partner_campaign": "c-9",
        "indicator_kind": "payment",
        "confidence": 0.8,
        "reason": "payment fingerprint seen at acme in campaign c-9",
        "valid_until": NOW + timedelta(days=400),
    }
    warehouse.replace_table("partner_matches", pa.Table.from_pylist([match], schema=PARTNER_MATCHES))


@pytest.fixture
def snapshot(warehouse: Warehouse, config: Config) -> VerdictSnapshot:
    _plant(warehouse)
    return verdict_snapshot(warehouse, config, now=NOW)


def _by_subject(snapshot: VerdictSnapshot) -> dict[tuple[str, str], list[Decision]]:
    found: dict[tuple[str, str], list[Decision]] = {}
    for d in snapshot.decisions:
        found.setdefault((d.subject_kind, d.subject_id), []).append(d)
    return found


def test_flagged_accounts_and_clusters_are_published_with_the_scans_reasons(
    snapshot: VerdictSnapshot,
) -> None:
    rows = _by_subject(snapshot)
    expires = NOW + timedelta(hours=72)
    (hydra,) = rows[("account", "hydra-0")]
    assert (hydra.action, hydra.risk, hydra.source, hydra.expires_at) == (
        "block",
        0.95,
        "scan.account",
        expires,
    )
    assert hydra.reasons == ("prompt.cot_elicitation: 95% of events ask for full reasoning",)
    (watched,) = rows[("account", WATCHED)]
    assert (watched.action, watched.source) == ("challenge", "scan.account")
    # ordinary accounts are not published (student-7 only for its partner match)
    assert {a for a in CAMPUS if ("account", a) in rows} == {"student-7"}
    assert rows[("account", "student-7")][0].source == "intel.partner_match"

    (cluster,) = rows[("cluster", "cl-hydra")]
    assert cluster.source == "scan.cluster" and cluster.action == "block"
    assert "5 accounts" in cluster.reasons[0] and "payment:pay-1" in cluster.reasons[1]
    assert ("cluster", "cl-campus") not in rows
    assert snapshot.memberships == {a: "cl-hydra" for a in HYDRA}


def test_a_cluster_member_the_scan_cleared_is_not_acted_on_through_its_cluster(
    snapshot: VerdictSnapshot,
) -> None:
    """The scan judged the customer ok on its own evidence although the graph put it in the
    hydra's cluster: the service must not block it through the cluster's row, nor count its
    requests towards the cluster's budget."""
    state = MemoryState()
    publish(snapshot, state)
    assert state.cluster_of(SPARED) is None
    assert state.cluster_of("hydra-0") == "cl-hydra"
    assert not state.lookup([("account", SPARED)], now=NOW)


def test_prefixes_are_published_only_when_their_accounts_are_overwhelmingly_flagged(
    snapshot: VerdictSnapshot,
) -> None:
    prefixes = {d.subject_id: d for d in snapshot.decisions if d.subject_kind == "ip_prefix"}
    # the campus NAT carries 4 flagged and 40 ordinary accounts; the pair is too few to judge a prefix
    assert set(prefixes) == {"pfx-hydra"}
    hydra = prefixes["pfx-hydra"]
    assert hydra.source == "scan.ip_prefix" and hydra.action == "block"
    assert hydra.reasons == (
        "IP prefix used by 5 accounts, 5 of them (100%) flagged by the scan "
        "(5 at extraction, mean risk 0.95)",
    )


def test_keys_of_flagged_accounts_are_published_but_not_a_key_shared_with_ordinary_accounts(
    snapshot: VerdictSnapshot,
) -> None:
    keys = {d.subject_id for d in snapshot.decisions if d.subject_kind == "api_key"}
    flagged = HYDRA + CAMPUS_FLAGGED + PAIR + [WATCHED]
    assert keys == {f"key-{a}" for a in flagged}
    assert all(d.source == "scan.api_key" for d in snapshot.decisions if d.subject_kind == "api_key")


def test_partner_matches_and_account_records_are_in_the_snapshot(snapshot: VerdictSnapshot) -> None:
    (partner,) = _by_subject(snapshot)[("account", "student-7")]
    assert (partner.source, partner.action) == ("intel.partner_match", "challenge")
    assert partner.reasons == ("payment fingerprint seen at acme in campaign c-9",)
    assert partner.expires_at == NOW + timedelta(hours=72)  # capped at the verdict TTL
    assert {a.account_id for a in snapshot.accounts} == set(HYDRA + CAMPUS)
    assert snapshot.generation.startswith("20260302T120000Z-")


def test_a_published_snapshot_answers_lookups(snapshot: VerdictSnapshot, warehouse: Warehouse) -> None:
    state = MemoryState()
    assert publish(snapshot, state) == len(snapshot.decisions)
    found = state.lookup(
        [("account", "hydra-1"), ("ip_prefix", "pfx-campus"), ("cluster", "cl-hydra")], now=NOW
    )
    assert {(d.subject_kind, d.source) for d in found} == {
        ("account", "scan.account"),
        ("cluster", "scan.cluster"),
    }
    assert state.cluster_of("hydra-1") == "cl-hydra"
    assert state.account("hydra-1") is not None and state.account("hydra-1").plan == "free"  # type: ignore[union-attr]
    assert state.health().generation == snapshot.generation


def test_an_empty_warehouse_publishes_an_empty_snapshot(warehouse: Warehouse, config: Config) -> None:
    empty = verdict_snapshot(warehouse, config, now=NOW)
    assert (empty.decisions, empty.accounts, empty.memberships) == ([], [], {})


# --------------------------------------------------------------------------- CLI
class _Reload(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"subjects": 12, "generation": "g-1"} if self.status == 200 else {"error": "no"})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def service() -> Iterator[tuple[str, type[_Reload]]]:
    handler = type("Handler", (_Reload,), {"seen": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


def _scan(tmp_path: Path, target: str, **env: str) -> Any:
    return runner.invoke(
        app,
        [
            "scan",
            str(FIXTURES / "openai.jsonl"),
            "--db",
            str(tmp_path / "dg.duckdb"),
            "--out",
            str(tmp_path / "out"),
            "--publish",
            target,
        ],
        env={"DISTILLGUARD_HMAC_SECRET": "publish-test", **env},
    )


def test_scan_publish_asks_a_running_service_to_reload(
    tmp_path: Path, service: tuple[str, type[_Reload]]
) -> None:
    url, handler = service
    result = _scan(tmp_path, url + "/", DISTILLGUARD_SERVE_ADMIN_TOKEN="s3cret")
    assert result.exit_code == 0, result.output
    assert handler.seen == [("/v1/admin/reload", "Bearer s3cret")]
    assert "reloaded 12 decision rows (generation g-1)" in result.output


def test_a_failed_publish_is_one_line_and_a_nonzero_exit_after_the_outputs(
    tmp_path: Path, service: tuple[str, type[_Reload]]
) -> None:
    url, handler = service
    handler.status = 401
    result = _scan(tmp_path, url)
    assert result.exit_code == 1
    assert (tmp_path / "out" / "accounts.csv").is_file() and (tmp_path / "out" / "report.html").is_file()
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and "/v1/admin/reload" in errors[0]
    assert "Traceback" not in result.output


def test_an_unknown_publish_target_fails_before_scanning(tmp_path: Path) -> None:
    result = _scan(tmp_path, "ftp://somewhere")
    assert result.exit_code != 0
    assert "expected redis://" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_scan_publish_to_redis_reaches_every_replica(tmp_path: Path) -> None:
    from tests.support.servers import free_port, require_program, running

    from distillguard.serve.redis_state import RedisState

    program = require_program("redis-server", "redis-server")
    port = free_port()
    args = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with running(args, port):
        url = f"redis://127.0.0.1:{port}/0"
        replica = RedisState(url, poll_interval_s=0.1)
        try:
            result = _scan(tmp_path, url)
            assert result.exit_code == 0, result.output
            assert f"to {url} (generation " in result.output
            generation = re.search(r"\(generation (\S+)\)", result.output).group(1)  # type: ignore[union-attr]
            deadline = datetime.now(UTC) + timedelta(seconds=10)
            while replica.health().generation != generation and datetime.now(UTC) < deadline:
                threading.Event().wait(0.05)
            assert replica.health().generation == generation
        finally:
            replica.close()
