"""The LiteLLM hook's logic without LiteLLM: what it sends to the decision service and what it
does with the answer. The real proxy is exercised in test_litellm_proxy.py."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from distillguard.decisions.degrade import apply_patch, degrade_patch
from distillguard.serve import litellm_hook as hook

HOOK_FILE = Path(hook.__file__)


def key(**fields: Any) -> SimpleNamespace:
    """A stand-in for LiteLLM's UserAPIKeyAuth (the hook only reads attributes)."""
    base: dict[str, Any] = {"org_id": None, "team_id": None, "user_id": None, "token": None, "api_key": None}
    return SimpleNamespace(**{**base, **fields})


def proxied(
    body: dict[str, Any], headers: dict[str, str] | None = None, ip: str = "10.1.2.3"
) -> dict[str, Any]:
    """``data`` as LiteLLM hands it to a pre-call hook: the body plus LiteLLM's bookkeeping."""
    return {
        **body,
        "metadata": {"requester_ip_address": ip, "user_api_key_hash": "x"},
        "proxy_server_request": {
            "url": "http://proxy/v1/chat/completions",
            "headers": headers or {},
            "body": body,
        },
        "litellm_call_id": "call-1",
        "litellm_logging_obj": object(),  # not JSON: must never reach the payload
    }


CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}


def test_module_imports_only_stdlib_httpx_and_litellm() -> None:
    """It runs inside LiteLLM's environment, which has none of distillguard's dependencies."""
    tree = ast.parse(HOOK_FILE.read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    import sys

    outside = {name for name in imported if name not in sys.stdlib_module_names} - {
        "httpx",
        "litellm",
        "fastapi",
    }
    assert outside == set(), f"litellm_hook imports {outside}"


def test_account_comes_from_the_authenticated_key_never_from_client_fields() -> None:
    # Issue 13: a request body's ``user`` or an X-Account-Id header is written by the client;
    # taking either let a flagged client be checked under someone else's name.
    data = {"user": "acct-body", "messages": CHAT["messages"]}
    headers = {"x-account-id": "acct-header"}
    assert hook.account_id(key(org_id="org", team_id="t", user_id="u"), data) == "org"
    assert hook.account_id(key(team_id="t", user_id="u"), data) == "t"
    assert hook.account_id(key(user_id="u"), data) == "u"
    hashed = "a" * 64
    assert hook.account_id(key(token=hashed), data) == hashed
    assert hook.account_id(key(), data) == "anonymous"
    payload = hook.decide_payload(key(token=hashed), proxied(data, headers))
    assert payload["account_id"] == hashed


def test_master_key_placeholders_never_name_the_account() -> None:
    """With the master key LiteLLM fills user_id/token with the admin's stand-ins; the operator's
    own backend, which alone holds that key, names the account in the body's ``user``."""
    admin = key(
        user_id="default_user_id", token="litellm_proxy_master_key", api_key="litellm_proxy_master_key"
    )
    assert hook.account_id(admin, {"user": "acct-7"}) == "acct-7"
    assert hook.key_id(admin) is None


def test_key_id_is_never_the_raw_secret() -> None:
    assert hook.key_id(key(api_key="sk-live-secret")) == hashlib.sha256(b"sk-live-secret").hexdigest()
    hashed = "0f" * 32
    assert hook.key_id(key(token=hashed, api_key="sk-live-secret")) == hashed


def test_account_fields_are_configurable_among_the_keys_own_attributes() -> None:
    settings = hook.HookSettings.from_env({"DISTILLGUARD_ACCOUNT_FIELDS": "team_id, user_id"})
    assert settings.account_fields == ("team_id", "user_id")
    assert hook.account_id(key(user_id="u", team_id="t"), {}, settings.account_fields) == "t"
    for client_field in ("user", "x-tenant"):
        with pytest.raises(ValueError, match="written by the client"):
            hook.HookSettings.from_env({"DISTILLGUARD_ACCOUNT_FIELDS": client_field})


def test_a_lone_surrogate_in_the_prompt_still_reaches_the_service_with_the_gateway_token() -> None:
    # Issue 13, finding 1: json=payload encoded the prompt as UTF-8 and raised before any call,
    # so the hook fell to its fail mode (open by default) for a flagged account.
    gate = gate_with({"action": "block", "reasons": ["flagged"], "decision_id": "d1"})
    gate.settings.gateway_token = "litellm-gateway-token-0123"
    seen_headers: list[str] = []
    original = gate._http

    def spy() -> httpx.AsyncClient:
        client = original()
        client.event_hooks["request"] = [_remember_auth(seen_headers)]
        return client

    gate._http = spy  # type: ignore[method-assign]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi \udfff there"}]}
    with pytest.raises(Exception) as refused:
        run(gate, proxied(body))
    assert getattr(refused.value, "status_code", None) == 403
    assert gate.seen[0]["request"]["messages"][0]["content"] == "hi \udfff there"  # type: ignore[attr-defined]
    assert seen_headers == ["Bearer litellm-gateway-token-0123"]


def _remember_auth(into: list[str]) -> Any:
    async def hook_(request: httpx.Request) -> None:
        into.append(request.headers.get("authorization", ""))

    return hook_


def test_client_ip_trusts_only_the_configured_proxy_hops() -> None:
    data = proxied(CHAT, ip="10.9.9.9")
    spoofed = {"x-forwarded-for": "1.1.1.1, 203.0.113.7"}  # the client wrote 1.1.1.1, the LB appended
    assert hook.client_ip(data, spoofed, proxy_hops=1) == "203.0.113.7"
    assert hook.client_ip(data, spoofed, proxy_hops=2) == "1.1.1.1"
    assert hook.client_ip(data, spoofed, proxy_hops=0) == "10.9.9.9"
    assert hook.client_ip(data, {}, proxy_hops=1) == "10.9.9.9"
    assert hook.client_ip({}, {}, proxy_hops=1) is None


def test_payload_carries_the_request_but_no_credentials_or_litellm_internals() -> None:
    headers = {"Authorization": "Bearer sk-secret", "X-Api-Key": "k", "User-Agent": "openai-python/1.0"}
    data = proxied({**CHAT, "user": "end-user-1", "logprobs": True}, headers)
    payload = hook.decide_payload(key(team_id="team-a", token="b" * 64), data)
    assert payload["account_id"] == "team-a"
    assert payload["api_key_id"] == "b" * 64
    assert payload["end_user_id"] == "end-user-1"
    assert payload["client_ip"] == "10.1.2.3"
    assert payload["model"] == "gpt-x"
    assert payload["request_id"] == "call-1"
    assert payload["headers"] == {"user-agent": "openai-python/1.0"}
    assert payload["request"] == {**CHAT, "user": "end-user-1", "logprobs": True}
    json.dumps(payload)  # must be sendable as it is


def test_oversized_bodies_are_slimmed_to_what_a_decision_reads() -> None:
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 5000} for i in range(40)]
    last = {"role": "user", "content": "Show your full reasoning step by step."}
    body = {
        "model": "gpt-x",
        "messages": [*history, last],
        "logprobs": True,
        "max_tokens": 9000,
        "tools": [{"type": "function", "function": {"name": f"t{i}", "parameters": {}}} for i in range(3)],
    }
    settings = hook.HookSettings(max_body_bytes=10_000)
    payload = hook.decide_payload(key(), proxied(body), settings)
    request = payload["request"]
    assert len(json.dumps(request)) < 10_000
    assert request["messages"][-1] == last
    assert len(request["messages"]) == 41
    assert request["logprobs"] is True and request["max_tokens"] == 9000
    assert len(request["tools"]) == 3


@pytest.mark.parametrize(
    ("action", "status"),
    [("block", 403), ("challenge", 403), ("throttle", 429), ("allow", None), ("degrade", None)],
)
def test_action_to_status(action: str, status: int | None) -> None:
    assert hook.status_for(action) == status


def test_rewrite_matches_the_services_patch_semantics() -> None:
    """The hook cannot import distillguard, so it re-implements apply_patch: they must agree."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "logprobs": True,
        "top_logprobs": 5,
        "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 4000},
    }
    patch = degrade_patch(["logprobs", "max_tokens:1024", "reasoning"], body)
    ours = hook.apply_rewrite(json.loads(json.dumps(body)), patch)
    theirs = apply_patch(json.loads(json.dumps(body)), patch)
    assert ours == theirs
    assert "logprobs" not in ours and "top_logprobs" not in ours and "thinking" not in ours
    assert ours["max_tokens"] == 1024


def test_rejection_body_names_action_reasons_and_decision() -> None:
    decision = {
        "action": "throttle",
        "decision_id": "d-1",
        "risk": 0.8,
        "reasons": ["3 requests in the last minute, budget 2"],
        "headers": {"X-Distillguard-Action": "throttle"},
        "retry_after_s": 42,
    }
    status, body, headers = hook.rejection(decision)
    assert status == 429
    assert headers["Retry-After"] == "42"
    assert "3 requests in the last minute, budget 2" in body["error"]["message"]
    assert body["distillguard"]["decision_id"] == "d-1"
    assert body["distillguard"]["reasons"] == ["3 requests in the last minute, budget 2"]


def test_throttle_without_retry_after_still_gets_one() -> None:
    _, _, headers = hook.rejection({"action": "throttle", "reasons": []})
    assert headers["Retry-After"] == str(hook.DEFAULT_RETRY_AFTER_S)


def test_settings_reject_bad_values_by_name() -> None:
    with pytest.raises(ValueError, match="DISTILLGUARD_FAIL_MODE"):
        hook.HookSettings.from_env({"DISTILLGUARD_FAIL_MODE": "sometimes"})
    with pytest.raises(ValueError, match="DISTILLGUARD_TIMEOUT_MS"):
        hook.HookSettings.from_env({"DISTILLGUARD_TIMEOUT_MS": "fast"})
    settings = hook.HookSettings.from_env({"DISTILLGUARD_DECIDE_URL": "http://dg:9000/"})
    assert settings.decide_url == "http://dg:9000/v1/decide"
    assert settings.timeout_ms == 50 and settings.fail_mode == "open"


# ----------------------------------------------------------------------------- the gate end to end
def gate_with(
    answer: Any, *, fail_mode: str = "open", delay_s: float = 0.0, status: int = 200
) -> hook.DistillguardGate:
    seen: list[dict[str, Any]] = []

    async def respond(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if delay_s:
            await asyncio.sleep(delay_s)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(status, json=answer)

    settings = hook.HookSettings(decide_url="http://dg/v1/decide", timeout_ms=50, fail_mode=fail_mode)
    gate = hook.DistillguardGate(settings, transport=httpx.MockTransport(respond))
    gate.seen = seen  # type: ignore[attr-defined]
    return gate


def run(gate: hook.DistillguardGate, data: dict[str, Any]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        try:
            return await gate.check(key(user_id="acct-1"), data)
        finally:
            await gate.aclose()

    return asyncio.run(go())


def test_degrade_rewrites_the_request_in_place_and_reports_it() -> None:
    answer = {
        "action": "degrade",
        "reasons": ["elicitation share 0.8 over 25 requests"],
        "rewrite": {"set": {"max_tokens": 256}, "remove": ["logprobs"]},
        "headers": {"X-Distillguard-Action": "degrade", "X-Distillguard-Degrade": "logprobs,max_tokens:256"},
    }
    data = proxied({**CHAT, "logprobs": True, "max_tokens": 4000})
    out = run(gate_with(answer), data)
    assert out is data
    assert "logprobs" not in data and data["max_tokens"] == 256
    assert hook.remembered(data) == answer["headers"]


def test_block_raises_403_with_reasons() -> None:
    answer = {"action": "block", "reasons": ["account flagged: extraction"], "decision_id": "d-9"}
    with pytest.raises(Exception) as raised:
        run(gate_with(answer), proxied(CHAT))
    assert getattr(raised.value, "status_code", None) == 403
    assert "account flagged: extraction" in raised.value.detail["error"]["message"]  # type: ignore[attr-defined]


def test_allow_passes_the_request_unchanged() -> None:
    data = proxied({**CHAT, "logprobs": True})
    before = {k: v for k, v in data.items() if k != "metadata"}
    out = run(gate_with({"action": "allow", "reasons": [], "rewrite": {"set": {}, "remove": []}}), data)
    assert {k: v for k, v in out.items() if k != "metadata"} == before


@pytest.mark.parametrize(
    "failure",
    [
        {"delay_s": 0.5, "answer": {"action": "block"}},  # slower than the 50 ms budget
        {"answer": httpx.ConnectError("connection refused")},
        {"answer": {"detail": "boom"}, "status": 500},
        {"answer": {"action": "explode"}},
    ],
    ids=["slow", "unreachable", "http-500", "nonsense"],
)
def test_fail_open_lets_requests_through_and_logs(
    failure: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    data = proxied(CHAT)
    assert run(gate_with(**failure, fail_mode="open"), data) is data
    assert any("failing open" in r.getMessage() for r in caplog.records)


def test_fail_closed_refuses_with_503() -> None:
    with pytest.raises(Exception) as raised:
        run(gate_with(httpx.ConnectError("refused"), fail_mode="closed"), proxied(CHAT))
    assert getattr(raised.value, "status_code", None) == 503
    assert "unavailable" in raised.value.detail["error"]["message"]  # type: ignore[attr-defined]


def test_timeout_is_the_whole_round_trip() -> None:
    gate = gate_with({"action": "block"}, delay_s=1.0)
    loop_started = asyncio.run(_timed(gate))
    assert loop_started < 0.5


async def _timed(gate: hook.DistillguardGate) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await gate.check(key(user_id="a"), proxied(CHAT))
    await gate.aclose()
    return loop.time() - started
