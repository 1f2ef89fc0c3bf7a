"""The ASGI middleware in front of a tiny model-serving Starlette app, in process and over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from distillguard.config import Config
from distillguard.decisions.policy import PolicyWatcher
from distillguard.serve.app import create_app
from distillguard.serve.audit import AuditLog
from distillguard.serve.decider import Decider
from distillguard.serve.middleware import DecisionMiddleware
from distillguard.serve.publish import publish, verdict_snapshot
from distillguard.serve.state import MemoryState
from distillguard.warehouse import Warehouse

from .support_app import CAMPAIGN, CHAT_ELICITING, HARVESTER, ORDINARY, plant_verdicts


def logged_in(headers: Any) -> str | None:
    """The test app's own authentication: its test client names the logged-in account."""
    value = headers.get("x-test-login")
    return str(value) if value else None


def model_app(seen: list[dict[str, Any]]) -> Starlette:
    """A stand-in for a model server: records the body it was given and answers 200."""

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append({"body": body, "length": request.headers.get("content-length")})
        return JSONResponse({"choices": [{"message": {"role": "assistant", "content": "ok"}}]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)])


@pytest.fixture
def decider(config: Config) -> Iterator[Decider]:
    plant_verdicts(config)
    state = MemoryState()
    with Warehouse.open(config.db_path, read_only=True) as warehouse:
        publish(verdict_snapshot(warehouse, config), state)
    audit = AuditLog(Path(config.db_path).with_suffix(".audit.jsonl"))
    yield Decider(config, policy=PolicyWatcher(None), state=state, audit=audit)
    audit.close()


def _send(app: Any, account: str | None, body: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as http:
            headers = {"X-Test-Login": account} if account else {}
            if isinstance(body, bytes):  # sent as is (JSON escapes a client may write)
                return await http.post(
                    path, content=body, headers={**headers, "Content-Type": "application/json"}
                )
            return await http.post(path, json=body, headers=headers)

    return asyncio.run(run())


def test_block_and_throttle_never_reach_the_model(decider: Decider) -> None:
    seen: list[dict[str, Any]] = []
    app = DecisionMiddleware(model_app(seen), account_of=logged_in, decider=decider, paths=("/v1/",))
    blocked = _send(app, CAMPAIGN, CHAT_ELICITING)
    assert blocked.status_code == 403 and blocked.headers["X-Distillguard-Action"] == "block"
    error = blocked.json()["error"]
    assert (
        error["type"] == "distillguard_block"
        and error["decision_id"] == blocked.headers["X-Distillguard-Decision-Id"]
    )
    statuses = [_send(app, HARVESTER, CHAT_ELICITING).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    throttled = _send(app, HARVESTER, CHAT_ELICITING)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "60"
    assert len(seen) == 2  # only the two degraded requests got through


def test_degrade_rewrites_the_body_the_model_sees(decider: Decider) -> None:
    seen: list[dict[str, Any]] = []
    app = DecisionMiddleware(model_app(seen), account_of=logged_in, decider=decider)
    answer = _send(app, HARVESTER, CHAT_ELICITING)
    assert answer.status_code == 200 and answer.headers["X-Distillguard-Action"] == "degrade"
    assert "logprobs" in answer.headers["X-Distillguard-Degrade"]
    body = seen[0]["body"]
    assert "logprobs" not in body and "top_logprobs" not in body and body["max_tokens"] == 2048
    assert body["messages"] == CHAT_ELICITING["messages"]
    assert int(seen[0]["length"]) == len(json.dumps(body).encode())


def test_allowed_requests_pass_unchanged_with_the_verdict_headers(decider: Decider) -> None:
    seen: list[dict[str, Any]] = []
    app = DecisionMiddleware(model_app(seen), account_of=logged_in, decider=decider, paths=("/v1/",))
    answer = _send(app, ORDINARY, CHAT_ELICITING)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "ok"
    assert answer.headers["X-Distillguard-Action"] == "allow"
    assert seen[0]["body"] == CHAT_ELICITING
    assert _send(app, None, CHAT_ELICITING).status_code == 401  # no account, no model
    assert "X-Distillguard-Action" not in _send(app, None, {}, path="/health").headers  # outside paths


def test_a_body_over_the_limit_is_refused(decider: Decider) -> None:
    app = DecisionMiddleware(model_app([]), account_of=logged_in, decider=decider, max_body_bytes=256)
    answer = _send(app, ORDINARY, {**CHAT_ELICITING, "padding": "x" * 1000})
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "request_too_large"


def test_over_http_to_the_service_and_fail_open_when_it_is_gone(config: Config) -> None:
    plant_verdicts(config)
    service = create_app(config)
    service_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://dg")
    seen: list[dict[str, Any]] = []
    app = DecisionMiddleware(
        model_app(seen), account_of=logged_in, service_url="http://dg", client=service_client, timeout_s=5
    )
    assert _send(app, CAMPAIGN, CHAT_ELICITING).status_code == 403
    degraded = _send(app, HARVESTER, CHAT_ELICITING)
    assert degraded.status_code == 200 and seen[-1]["body"]["max_tokens"] == 2048

    gone = "http://127.0.0.1:9"  # discard port: nothing listens
    open_app = DecisionMiddleware(model_app(seen), account_of=logged_in, service_url=gone, timeout_s=0.5)
    passed = _send(open_app, CAMPAIGN, CHAT_ELICITING)
    assert passed.status_code == 200 and passed.headers["X-Distillguard-Action"] == "allow"
    assert "unavailable" in passed.headers["X-Distillguard-Error"]
    closed_app = DecisionMiddleware(
        model_app(seen), account_of=logged_in, service_url=gone, timeout_s=0.5, on_unavailable="block"
    )
    assert _send(closed_app, ORDINARY, CHAT_ELICITING).status_code == 403


def test_the_account_must_come_from_the_apps_own_authentication(decider: Decider) -> None:
    # Issue 13: the default used to be the client's X-Account-Id header.
    with pytest.raises(ValueError, match="account_of is required"):
        DecisionMiddleware(model_app([]), decider=decider)


def test_over_http_it_presents_its_token_and_any_prompt_text_reaches_the_service(config: Config) -> None:
    plant_verdicts(config)
    token = "middleware-token-0123456789"
    service = create_app(config.with_overrides(serve_gateway_tokens=token))
    service_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://dg")
    lone_surrogate = b'{"model": "m", "messages": [{"role": "user", "content": "hi \\udfff"}]}'
    with_token = DecisionMiddleware(
        model_app([]),
        account_of=logged_in,
        service_url="http://dg",
        client=service_client,
        service_token=token,
    )
    assert _send(with_token, CAMPAIGN, lone_surrogate).status_code == 403
    without = DecisionMiddleware(
        model_app([]), account_of=logged_in, service_url="http://dg", client=service_client
    )
    refused = _send(without, CAMPAIGN, CHAT_ELICITING)
    # refused by the service (401), so the middleware's own outage rule applies
    assert refused.headers["X-Distillguard-Error"] == "decision service unavailable: HTTPStatusError"
