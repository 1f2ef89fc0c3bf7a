"""Issue 13, findings 1 and 3, driven through the HTTP service in process.

1. A lone surrogate in a prompt made RE2 and the audit writer raise, the decision fell into
   ``on_error: fail_open`` (a flagged account got ``allow``), nothing was audited, and /healthz
   still said ``ok``.
3. Anyone who could reach ``/v1/decide`` or ``/v1/auth`` could read any account's risk and push
   an innocent account into the live counters.
"""

from __future__ import annotations

import errno
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from distillguard.config import Config, ConfigError
from distillguard.serve import audit as audit_module
from distillguard.serve.app import create_app
from distillguard.serve.gateway_auth import check_bind

from .support_app import CAMPAIGN, CHAT_ELICITING, HARVESTER, ORDINARY, plant_verdicts, write_policy

LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("10.1.2.3", 40000)
TOKEN = "gateway-token-0123456789abcdef"
SURROGATE_BODY = (
    '{"account_id": "%s", "request": {"messages": [{"role": "user", "content": "hi \\udfff'
    ' there \\u0000 and \\ud83d alone"}]}, "headers": {"User-Agent": "x\\udfffy"}}'
)


@pytest.fixture
def planted(config: Config, tmp_path: Path) -> Config:
    plant_verdicts(config)
    policy = write_policy(tmp_path / "open.yaml", "on_error: fail_open\n")
    return config.with_overrides(serve_shed_lag_ms=60_000, serve_policy_path=str(policy))


@pytest.fixture
def client(planted: Config) -> Iterator[TestClient]:
    with TestClient(create_app(planted), client=LOOPBACK) as test_client:
        yield test_client


def _audit(config: Config) -> list[dict[str, Any]]:
    path = Path(config.db_path).with_name(Path(config.db_path).stem + ".audit.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _post_raw(client: TestClient, raw: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/v1/decide", content=raw.encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


# ------------------------------------------------------------------ finding 1
def test_a_lone_surrogate_keeps_a_block_a_block_audited_and_healthy(
    client: TestClient, planted: Config
) -> None:
    answer = _post_raw(client, SURROGATE_BODY % CAMPAIGN)
    body = answer.json()
    assert answer.status_code == 200
    assert body["action"] == "block" and body["source"] != "error.fail_open" and body["error"] is None
    records = _audit(planted)
    assert len(records) == 1 and records[0]["decision_id"] == body["decision_id"]
    assert records[0]["enforced_action"] == "block"
    # what was stored is the normalised text: the lone halves replaced, NUL gone
    assert records[0]["prompt_text"] == "hi \ufffd there  and \ufffd alone"
    assert client.get("/healthz").json()["status"] == "ok"


def test_the_same_prompt_scores_the_same_with_and_without_junk_characters(client: TestClient) -> None:
    clean = {"account_id": ORDINARY, "request": CHAT_ELICITING}
    dirty_messages = [
        {**m, "content": m["content"] + "\udfff\x00"} if m["role"] == "user" else m
        for m in CHAT_ELICITING["messages"]
    ]
    raw = json.dumps({"account_id": ORDINARY, "request": {**CHAT_ELICITING, "messages": dirty_messages}})
    plain = client.post("/v1/decide", json=clean).json()
    junk = _post_raw(client, raw).json()
    assert plain["error"] is None and junk["error"] is None
    assert junk["risk"] == plain["risk"] and junk["action"] == plain["action"]


def test_an_error_the_body_causes_decides_as_if_it_held_no_prompt(
    planted: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distillguard.serve import decider as decider_module

    def choke(text: str | None, *, tool_count: int = 0, context: str | None = None) -> Any:
        raise ValueError("the matcher choked on this prompt")

    app = create_app(planted)
    monkeypatch.setattr(decider_module, "match_prompt", choke)
    with TestClient(app, client=LOOPBACK) as client:
        body = client.post("/v1/decide", json={"account_id": CAMPAIGN, "request": CHAT_ELICITING}).json()
    # fail_open is the policy, yet the flagged account stays blocked: input never chooses the fail mode
    assert body["action"] == "block" and body["subject"] == {"kind": "account", "id": CAMPAIGN}
    assert body["error"].startswith("request not readable: ValueError")
    assert any("decided without its body" in r for r in body["reasons"])
    assert [r["decision_id"] for r in _audit(planted)] == [body["decision_id"]]


def test_a_refused_audit_write_turns_health_degraded_and_is_retried_from_the_spool(
    planted: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = audit_module._write_all
    disk_full = True

    def write(fd: int, data: bytes, progress: Any = None) -> None:
        if disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data, progress)

    monkeypatch.setattr(audit_module, "_write_all", write)
    with TestClient(create_app(planted), client=LOOPBACK) as client:
        first = client.post("/v1/decide", json={"account_id": CAMPAIGN}).json()
        assert first["action"] == "block"  # the verdict still goes out
        health = client.get("/healthz").json()
        assert health["status"] == "degraded" and health["audit"]["spooled"] == 1
        metrics = client.get("/metrics").text
        assert "distillguard_audit_write_failures 1.0" in metrics
        assert "distillguard_audit_spooled_records 1.0" in metrics

        disk_full = False  # the disk recovers: the next record drains the spool first, in order
        second = client.post("/v1/decide", json={"account_id": ORDINARY}).json()
        assert client.get("/healthz").json()["status"] == "ok"
    assert [r["decision_id"] for r in _audit(planted)] == [first["decision_id"], second["decision_id"]]


# ------------------------------------------------------------------ finding 3
def test_without_tokens_only_loopback_may_ask(planted: Config) -> None:
    with TestClient(create_app(planted), client=REMOTE) as remote:
        assert remote.post("/v1/decide", json={"account_id": CAMPAIGN}).status_code == 403
        assert remote.get("/v1/auth", headers={"X-Client-Authorization": "Bearer k"}).status_code == 403
        assert remote.get("/healthz").status_code == 200  # health and metrics stay open to monitoring
    assert not Path(planted.db_path).with_name("dg.audit.jsonl").exists() or _audit(planted) == []


def test_with_tokens_every_caller_needs_one_and_unauthenticated_calls_count_nothing(planted: Config) -> None:
    config = planted.with_overrides(serve_gateway_tokens=f"other-gateway-token-000000,{TOKEN}")
    gateway = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(config), client=REMOTE) as client:
        # someone without the token tries to read a risk and to push the harvester into a throttle
        for _ in range(5):
            probe = client.post("/v1/decide", json={"account_id": HARVESTER, "request": CHAT_ELICITING})
            assert probe.status_code == 401 and "risk" not in probe.json()
        wrong = client.post(
            "/v1/decide", json={"account_id": HARVESTER}, headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401
        # the gateway's own first request for the harvester is its first in the live counters
        real = client.post(
            "/v1/decide", json={"account_id": HARVESTER, "request": CHAT_ELICITING}, headers=gateway
        )
        assert real.status_code == 200 and real.json()["action"] == "degrade"
    with TestClient(create_app(config), client=LOOPBACK) as local:  # loopback is no credential then
        assert local.post("/v1/decide", json={"account_id": ORDINARY}).status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::"])
def test_a_public_bind_without_a_credential_refuses_to_start(planted: Config, host: str) -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on .*serve_gateway_tokens"):
        check_bind(planted.with_overrides(serve_host=host))
    check_bind(planted.with_overrides(serve_host=host, serve_gateway_tokens=TOKEN))
    check_bind(planted.with_overrides(serve_host=host, serve_tls_client_ca_path="/etc/dg/gateways-ca.pem"))
    check_bind(planted)  # loopback needs neither
    with pytest.raises(ConfigError, match="at least 16 characters"):
        check_bind(planted.with_overrides(serve_host=host, serve_gateway_tokens="short"))
