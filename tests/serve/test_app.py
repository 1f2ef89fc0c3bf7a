"""The decision service over HTTP, driven in process: verdicts, errors, metrics, health, reloads, audit."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from starlette.routing import Route

from distillguard.config import Config
from distillguard.serve.app import create_app

from .support_app import (
    CAMPAIGN,
    CAMPAIGN_KEY,
    CHAT_ELICITING,
    HARVESTER,
    ORDINARY,
    client_key,
    plant_verdicts,
    write_policy,
)

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def planted(config: Config) -> Config:
    plant_verdicts(config)
    # A test machine shared with other jobs can stall this process for tens of milliseconds;
    # load shedding would then answer some requests by on_error. Only the shedding tests
    # turn it on, with their own limit.
    return config.with_overrides(serve_shed_lag_ms=60_000)


@pytest.fixture
def client(planted: Config) -> Iterator[TestClient]:
    with TestClient(create_app(planted), client=LOOPBACK) as test_client:
        yield test_client


def _decide(client: TestClient, account: str, **extra: Any) -> dict[str, Any]:
    answer = client.post("/v1/decide", json={"account_id": account, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _audit(config: Config) -> list[dict[str, Any]]:
    path = Path(config.db_path).with_name(Path(config.db_path).stem + ".audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


# ------------------------------------------------------------------ verdicts
def test_flagged_account_is_blocked_and_an_ordinary_one_allowed(client: TestClient) -> None:
    flagged = client.post("/v1/decide", json={"account_id": CAMPAIGN, "request": CHAT_ELICITING})
    body = flagged.json()
    assert body["action"] == "block" and body["decided_action"] == "block" and not body["shadow"]
    assert body["subject"] == {"kind": "account", "id": CAMPAIGN} and body["risk"] == pytest.approx(0.97)
    assert any("0.97" in reason for reason in body["reasons"])
    assert flagged.headers["X-Distillguard-Action"] == "block"
    assert flagged.headers["X-Distillguard-Decision-Id"] == body["decision_id"]
    assert body["headers"]["X-Distillguard-Risk"] == "0.970"

    ordinary = _decide(client, ORDINARY, request=CHAT_ELICITING)
    assert ordinary["action"] == "allow" and ordinary["reasons"] == ["no decision applies"]
    assert ordinary["rewrite"] == {"set": {}, "remove": []} and ordinary["retry_after_s"] is None


def test_a_fresh_account_on_a_flagged_key_is_caught_by_the_key(client: TestClient) -> None:
    # The key is hashed with the deployment secret exactly as the warehouse stored it.
    body = _decide(client, "acct-brand-new", api_key_id=CAMPAIGN_KEY, client_ip="203.0.113.50")
    assert body["action"] == "block" and body["subject"]["kind"] == "api_key"
    assert _decide(client, "acct-brand-new-2", api_key_id="another-key")["action"] == "allow"


def test_degrade_rewrites_the_request_and_the_tight_budget_throttles(client: TestClient) -> None:
    first = _decide(client, HARVESTER, request=CHAT_ELICITING)
    assert first["action"] == "degrade"
    assert "logprobs" in first["degrade"] and first["rewrite"]["set"]["max_tokens"] == 2048
    assert set(first["rewrite"]["remove"]) >= {"logprobs", "top_logprobs"}
    assert first["headers"]["X-Distillguard-Degrade"] == ",".join(first["degrade"])
    assert _decide(client, HARVESTER, request=CHAT_ELICITING)["action"] == "degrade"
    third = client.post("/v1/decide", json={"account_id": HARVESTER, "request": CHAT_ELICITING})
    body = third.json()
    assert body["action"] == "throttle" and body["retry_after_s"] == 60
    assert third.headers["Retry-After"] == "60"
    assert any("3 requests in the last minute" in reason for reason in body["reasons"])


def test_shadow_mode_decides_and_logs_but_enforces_allow(planted: Config, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "shadow.yaml", "mode: shadow\n")
    config = planted.with_overrides(serve_policy_path=str(policy))
    with TestClient(create_app(config), client=LOOPBACK) as client:
        answer = client.post("/v1/decide", json={"account_id": CAMPAIGN})
        assert answer.headers["X-Distillguard-Action"] == "allow"
        assert answer.headers["X-Distillguard-Shadow-Action"] == "block"
        body = answer.json()
        assert (body["action"], body["decided_action"], body["shadow"]) == ("allow", "block", True)
        auth = client.get("/v1/auth", headers=client_key(CAMPAIGN))
        assert auth.status_code == 204
    record = _audit(config)[0]
    assert (record["action"], record["enforced_action"], record["shadow"]) == ("block", "allow", True)


# -------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        (b"{not json", 400, None, "not JSON"),
        (b"[1, 2]", 422, None, "JSON object"),
        (b"{}", 422, "account_id", "account_id is required"),
        (b'{"account_id": 42}', 422, "account_id", "account_id must be"),
        (b'{"account_id": ""}', 422, "account_id", "account_id must be"),
        (b'{"account_id": "a", "api_key_id": 7}', 422, "api_key_id", "api_key_id must be"),
        (b'{"account_id": "a", "client_ip": "not-an-ip"}', 422, "client_ip", "client_ip is not"),
        (b'{"account_id": "a", "headers": ["x"]}', 422, "headers", "headers must be"),
        (b'{"account_id": "a", "headers": {"CF-IPCountry": 1}}', 422, "headers.CF-IPCountry", "must be"),
        (b'{"account_id": "a", "request": "hello"}', 422, "request", "request must be an object"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    client: TestClient, body: bytes, status: int, field: str | None, words: str
) -> None:
    answer = client.post("/v1/decide", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    error = answer.json()
    assert words in error["error"] and error["status"] == status
    assert error.get("field") == field


def test_a_body_over_the_limit_gets_413_before_it_is_read_whole(planted: Config) -> None:
    app = create_app(planted.with_overrides(serve_max_body_bytes=4096))
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read as it streams in
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b"x" * 1024

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dg") as http:
            declared = await http.post("/v1/decide", content=b"x" * 5000)
            streamed = await http.post("/v1/decide", content=chunks())
            small = json.dumps({"account_id": ORDINARY, "request": {"prompt": "hi"}}).encode()
            return declared, streamed, await http.post("/v1/decide", content=small)

    declared, streamed, small = asyncio.run(run())
    assert declared.status_code == 413 and "4096" in declared.json()["error"]
    assert streamed.status_code == 413
    assert sent <= 6, f"the service read {sent} KiB of a body it refuses at 4 KiB"
    assert small.status_code == 200


# ---------------------------------------------------- openapi, metrics, health
def test_openapi_describes_every_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    routes = [r for r in client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert len(routes) >= 6
    for route in routes:
        assert route.path in document["paths"], f"{route.path} is not in /openapi.json"
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in document["paths"][route.path], f"{method} {route.path} undocumented"
    decide = document["paths"]["/v1/decide"]["post"]
    assert {"200", "400", "413", "422"} <= set(decide["responses"])
    assert document["components"]["schemas"]["DecideRequest"]["required"] == ["account_id"]


def test_metrics_count_decisions_by_action_with_sub_millisecond_buckets(client: TestClient) -> None:
    for account in (CAMPAIGN, CAMPAIGN, ORDINARY):
        _decide(client, account)
    client.post("/v1/decide", content=b"{}")
    text = client.get("/metrics").text
    assert 'distillguard_decisions_total{action="block",enforced_action="block"} 2.0' in text
    assert 'distillguard_decisions_total{action="allow",enforced_action="allow"} 1.0' in text
    assert 'distillguard_decision_latency_seconds_count{endpoint="decide"} 3.0' in text
    assert 'distillguard_decision_latency_seconds_bucket{endpoint="decide",le="0.0005"}' in text
    assert 'distillguard_bad_requests_total{status="422"} 1.0' in text
    assert _metric(text, "distillguard_state_degraded") == 0.0
    assert _metric(text, "distillguard_subjects_loaded") == 3.0
    assert _metric(text, "distillguard_decision_errors_total") == 0.0


def test_healthz_reports_policy_state_reload_and_audit(client: TestClient, planted: Config) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["policy"]["source"] == "<default>" and len(health["policy"]["version"]) == 12
    assert health["state"] == {**health["state"], "backend": "memory", "ok": True, "subjects": 3}
    assert health["reload"]["error"] is None and health["reload"]["subjects"] == 3
    assert health["audit"]["path"].endswith("dg.audit.jsonl")


def test_a_missing_warehouse_starts_empty_and_healthy(config: Config) -> None:
    notes: list[str] = []
    with TestClient(create_app(config, on_event=notes.append), client=LOOPBACK) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["state"]["subjects"] == 0
        assert _decide(client, CAMPAIGN)["action"] == "allow"
    assert "no warehouse" in notes[0]


def test_with_redis_down_it_answers_from_its_own_snapshot_and_says_so(planted: Config) -> None:
    from support.servers import free_port

    gone = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    notes: list[str] = []
    app = create_app(planted.with_overrides(serve_state_url=gone), on_event=notes.append)
    with TestClient(app, client=LOOPBACK) as client:
        assert "not shared with other replicas" in notes[0]
        assert _decide(client, CAMPAIGN)["action"] == "block"
        assert _decide(client, ORDINARY)["action"] == "allow"
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        state = health.json()["state"]
        assert state["backend"] == "redis" and not state["ok"] and "snapshot" in state["degraded_reason"]
        assert _metric(client.get("/metrics").text, "distillguard_state_degraded") == 1.0


# ------------------------------------------------------------ policy reload
def test_a_policy_edit_applies_to_the_next_decision_without_restart(planted: Config, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy.yaml", "thresholds:\n  - {risk: 0.9, action: block}\n")
    config = planted.with_overrides(serve_policy_path=str(policy), serve_policy_check_interval_ms=0)
    with TestClient(create_app(config), client=LOOPBACK) as client:
        before = _decide(client, CAMPAIGN)
        assert before["action"] == "block"
        write_policy(policy, "thresholds:\n  - {risk: 0.9, action: challenge}\n")
        after = _decide(client, CAMPAIGN)
        assert after["action"] == "challenge" and after["policy_version"] != before["policy_version"]

        write_policy(policy, "thresholds:\n  - {risk: 0.9, action: explode}\n")  # a bad edit
        kept = _decide(client, CAMPAIGN)
        assert kept["action"] == "challenge" and kept["policy_version"] == after["policy_version"]
        health = client.get("/healthz").json()
        assert health["status"] == "degraded" and "policy.yaml:2" in health["policy"]["last_error"]
        assert _metric(client.get("/metrics").text, "distillguard_policy_reload_failing") == 1.0


# -------------------------------------------------------------------- audit
def test_one_audit_record_per_decision_durable_after_shutdown_and_a_restart_has_no_gap(
    planted: Config,
) -> None:
    ids = []
    with TestClient(create_app(planted), client=LOOPBACK) as client:
        for account in (CAMPAIGN, ORDINARY, HARVESTER):
            ids.append(
                _decide(client, account, request=CHAT_ELICITING, api_key_id="k1", client_ip="198.51.100.7")[
                    "decision_id"
                ]
            )
        ids.append(client.get("/v1/auth", headers=client_key(CAMPAIGN)).headers["X-Distillguard-Decision-Id"])
        client.post("/v1/decide", content=b"{}")  # refused: no decision, no record
    records = _audit(planted)
    assert [r["decision_id"] for r in records] == ids
    first = records[0]
    assert (first["account_id"], first["action"], first["enforced_action"]) == (CAMPAIGN, "block", "block")
    assert first["prompt_text"].startswith("Solve this and think step by step")
    assert first["cot_elicitation"] > 0 and first["message_count"] == 2 and first["max_tokens"] == 8000
    assert first["logprobs"] is True and first["model"] == "gpt-large" and len(first["prompt_hash"]) == 32
    assert first["api_key_hash"] and "k1" not in json.dumps(first) and "198.51.100.7" not in json.dumps(first)
    assert first["policy_version"] and first["latency_us"] >= 0 and first["error"] is None

    # A new app on the same warehouse and audit log answers the same at once and appends.
    with TestClient(create_app(planted), client=LOOPBACK) as client:
        assert _decide(client, CAMPAIGN)["action"] == "block"
    assert len(_audit(planted)) == len(ids) + 1


def test_fingerprints_only_keeps_no_prompt_text_in_the_audit_log(planted: Config) -> None:
    config = planted.with_overrides(text_storage="fingerprints-only")
    with TestClient(create_app(config), client=LOOPBACK) as client:
        _decide(client, ORDINARY, request=CHAT_ELICITING)
    record = _audit(config)[0]
    assert record["prompt_text"] is None and record["prompt_hash"] and record["skeleton_hash"]


# --------------------------------------------------------- overload, errors
@pytest.mark.parametrize(("on_error", "action"), [("fail_open", "allow"), ("fail_closed", "block")])
def test_overload_is_answered_at_once_by_on_error(
    planted: Config, tmp_path: Path, on_error: str, action: str
) -> None:
    policy = write_policy(tmp_path / "p.yaml", f"on_error: {on_error}\n")
    config = planted.with_overrides(serve_policy_path=str(policy), serve_max_inflight=0)
    with TestClient(create_app(config), client=LOOPBACK) as client:
        answer = client.post("/v1/decide", json={"account_id": ORDINARY})
        body = answer.json()
        assert answer.status_code == 200 and body["action"] == action and "overloaded" in body["error"]
        auth = client.get("/v1/auth", headers=client_key(ORDINARY))
        assert auth.status_code == (204 if action == "allow" else 403)
        shed = 'distillguard_shed_requests_total{cause="inflight"}'
        assert _metric(client.get("/metrics").text, shed) == 2.0


def test_requests_past_max_inflight_are_shed_while_one_is_still_sending(planted: Config) -> None:
    app = create_app(planted.with_overrides(serve_max_inflight=1))

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        release = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield b'{"account_id": "'
            await release.wait()
            yield CAMPAIGN.encode() + b'"}'

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dg") as http:
            slow = asyncio.create_task(http.post("/v1/decide", content=slow_body()))
            await asyncio.sleep(0.05)  # the slow request is in progress, reading its body
            shed = await asyncio.wait_for(http.post("/v1/decide", json={"account_id": CAMPAIGN}), 5)
            release.set()
            done = await asyncio.wait_for(slow, 5)
            return shed.json(), done.json()

    shed, done = asyncio.run(run())
    assert shed["action"] == "allow" and "overloaded" in shed["error"]
    assert done["action"] == "block" and done["error"] is None


def test_a_backlog_past_the_lag_limit_is_shed_instead_of_queued(planted: Config) -> None:
    """Past saturation requests wait in the event loop; once it runs serve_shed_lag_ms behind,
    new ones get the on_error answer at once, and service resumes when the backlog is gone."""
    app = create_app(planted.with_overrides(serve_shed_lag_ms=20))
    decider = app.state.service.decider
    real_decide = decider.decide

    def slow_decide(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.03)  # a CPU-bound decision the loop cannot interleave with anything
        return real_decide(*args, **kwargs)

    decider.decide = slow_decide

    async def burst() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            await asyncio.sleep(0.02)  # the lag monitor is running
            async with httpx.AsyncClient(transport=transport, base_url="http://dg") as http:
                answers = await asyncio.gather(
                    *(http.post("/v1/decide", json={"account_id": CAMPAIGN}) for _ in range(30))
                )
                decider.decide = real_decide
                for _ in range(40):  # the backlog is gone: once the loop is on time, decisions resume
                    await asyncio.sleep(0.05)
                    after = await http.post("/v1/decide", json={"account_id": CAMPAIGN})
                    if after.json()["error"] is None:
                        break
        return [a.json() for a in answers] + [after.json()]

    *answers, after = asyncio.run(burst())
    shed = [a for a in answers if a["error"] and "queued" in a["error"]]
    decided = [a for a in answers if a["error"] is None]
    assert shed and decided, "some requests are decided before the backlog builds, later ones shed"
    assert all(a["action"] == "allow" for a in shed)  # the default policy fails open
    assert all(a["action"] == "block" for a in decided)
    assert after["error"] is None and after["action"] == "block"


def test_an_internal_error_answers_by_on_error_with_the_error_recorded(
    planted: Config, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "p.yaml", "on_error: fail_closed\n")
    app = create_app(planted.with_overrides(serve_policy_path=str(policy)))
    state = app.state.service.decider.state

    def broken(*args: object, **kwargs: object) -> list[Any]:
        raise RuntimeError("state lookup failed")

    state.lookup = broken
    with TestClient(app, client=LOOPBACK) as client:
        body = _decide(client, ORDINARY)
        assert body["action"] == "block" and body["error"] == "RuntimeError: state lookup failed"
        assert body["source"] == "error.fail_closed"
        assert _metric(client.get("/metrics").text, "distillguard_decision_errors_total") == 1.0
    assert _audit(planted)[0]["error"] == "RuntimeError: state lookup failed"


# ---------------------------------------------------------------- nginx auth
def test_auth_answers_in_status_and_headers(client: TestClient) -> None:
    blocked = client.get("/v1/auth", headers={**client_key(CAMPAIGN), "X-Real-IP": "198.51.100.7"})
    assert blocked.status_code == 403 and blocked.headers["X-Distillguard-Action"] == "block"
    assert blocked.content == b""
    assert client.get("/v1/auth", headers=client_key(ORDINARY)).status_code == 204
    unseen_key = client.get("/v1/auth", headers={"X-Client-Authorization": "Bearer sk-never-seen"})
    assert unseen_key.status_code == 204
    missing = client.get("/v1/auth")
    assert missing.status_code == 401 and "X-Client-Authorization" in missing.json()["error"]


def test_auth_takes_identity_headers_only_when_told_the_gateway_sets_them(planted: Config) -> None:
    config = planted.with_overrides(serve_trust_identity_headers=True)
    with TestClient(create_app(config), client=LOOPBACK) as client:
        assert client.get("/v1/auth", headers={"X-Account-Id": CAMPAIGN}).status_code == 403
        assert client.get("/v1/auth", headers={"X-Account-Id": ORDINARY}).status_code == 204
        statuses = [client.get("/v1/auth", headers={"X-Account-Id": HARVESTER}).status_code for _ in range(3)]
        assert statuses == [204, 204, 429]
        by_key = client.get("/v1/auth", headers={"X-Api-Key-Id": CAMPAIGN_KEY})
        assert by_key.status_code == 403 and by_key.headers["X-Distillguard-Action"] == "block"
        missing = client.get("/v1/auth")
        assert missing.status_code == 401 and "X-Account-Id" in missing.json()["error"]


# ------------------------------------------------------------- admin reload
def test_admin_reload_publishes_new_verdicts_and_needs_the_token(planted: Config, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.yaml", "mode: enforce\n")
    config = planted.with_overrides(
        serve_admin_token="s3cret", serve_policy_path=str(policy), serve_policy_check_interval_ms=3_600_000
    )
    app = create_app(config)
    with TestClient(app, client=LOOPBACK) as client:
        assert _decide(client, ORDINARY)["action"] == "allow"
        assert client.post("/v1/admin/reload").status_code == 401
        assert client.post("/v1/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401

        import pyarrow as pa

        from distillguard.schema import ACCOUNT_SCORES
        from distillguard.warehouse import Warehouse

        with Warehouse.open(config.db_path) as warehouse:  # the next scan flags the ordinary account
            warehouse.replace_table(
                "account_scores",
                pa.Table.from_pylist(
                    [{"account_id": ORDINARY, "risk": 0.99, "verdict": "extraction", "reasons": ["late"]}],
                    schema=ACCOUNT_SCORES,
                ),
            )
        write_policy(policy, "mode: shadow\n")  # not due for a check for an hour: the reload reads it
        done = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert done.status_code == 200 and done.json()["subjects"] >= 1 and done.json()["generation"]
        decided = _decide(client, ORDINARY)
        assert decided["decided_action"] == "block" and decided["shadow"]
        assert done.json()["policy_version"] == decided["policy_version"]


def test_admin_reload_without_a_token_is_loopback_only(planted: Config) -> None:
    with TestClient(create_app(planted), client=("10.1.2.3", 4000)) as remote:
        refused = remote.post("/v1/admin/reload")
        assert refused.status_code == 403 and "loopback" in refused.json()["error"]
    with TestClient(create_app(planted), client=LOOPBACK) as local:
        assert local.post("/v1/admin/reload").status_code == 200


def test_docs_name_every_metric_and_setting_the_service_has(client: TestClient) -> None:
    import re

    from distillguard.config import SETTINGS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    text = client.get("/metrics").text
    exported = {
        n for n in re.findall(r"^# TYPE (distillguard_\w+) ", text, re.M) if not n.endswith("_created")
    }
    documented = set(re.findall(r"^\| `(distillguard_\w+)`", docs, re.M))
    assert exported == documented
    serve_settings = {s.name for s in SETTINGS if s.name.startswith("serve_")}
    missing = {name for name in serve_settings if f"`{name}`" not in docs}
    assert not missing, f"docs/serve.md does not describe {missing}"
