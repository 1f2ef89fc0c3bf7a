"""One small writer per source format, and the sinks that route exchanges to files.

Every line is what the real tool writes: LiteLLM's ``StandardLoggingPayload``,
an OTLP/JSON ``ExportTraceServiceRequest`` holding one GenAI span (newer attribute
names, or the older ones for a share of API keys), an OpenAI-compatible request log
with Chat Completions (or Anthropic Messages) bodies, and canonical JSONL.
Gzip headers carry no timestamp or name, so the same seed gives identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from distillguard.simulate.exchange import Exchange

API_BASE = "https://api.provider.example/v1"
IMAGE_HOST = "https://uploads.provider.example/img/"


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _frac(text: str, salt: str) -> float:
    return int.from_bytes(hashlib.blake2b(f"{salt}/{text}".encode(), digest_size=8).digest(), "big") / 2**64


def _uuid(seed: str) -> str:
    """A UUID-shaped id derived from ``seed`` (LiteLLM's per-request trace ids look like this)."""
    h = hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def system_prompt_hash(text: str | None) -> str | None:
    """blake2b-128 of the whitespace-normalised system prompt (documented in docs/simulator.md)."""
    if not text:
        return None
    return hashlib.blake2b(" ".join(text.split()).encode(), digest_size=16).hexdigest()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _context_text(ex: Exchange) -> str | None:
    """``events.context_text`` as ingest builds it from the other formats: the system prompt,
    then every user turn before the last, joined by a blank line."""
    turns = [
        m["content"] for m in ex["messages"] if m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    parts = [part for part in (ex["system"], *turns[:-1]) if part]
    return "\n\n".join(parts) or None


def _chat_messages(ex: Exchange) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": ex["system"]}] if ex["system"] else []
    msgs.extend(ex["messages"])
    if ex["image"] and msgs:
        last = dict(msgs[-1])
        last["content"] = [
            {"type": "text", "text": last["content"]},
            {"type": "image_url", "image_url": {"url": f"{IMAGE_HOST}{ex['event_id']}.png"}},
        ]
        msgs[-1] = last
    return msgs


def _usage(ex: Exchange) -> dict[str, Any]:
    return {
        "prompt_tokens": ex["input_tokens"],
        "completion_tokens": ex["output_tokens"],
        "total_tokens": ex["input_tokens"] + ex["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": ex["cached_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": ex["reasoning_tokens"]},
    }


def chat_response(ex: Exchange) -> dict[str, Any] | None:
    if ex["status"] != "success":
        return None
    message: dict[str, Any] = {"role": "assistant", "content": ex["response_text"], "refusal": None}
    if ex["tool_calls"]:
        message["tool_calls"] = ex["tool_calls"]
    return {
        "id": f"chatcmpl-{ex['event_id'][-16:]}",
        "object": "chat.completion",
        "created": ex["ts_us"] // 1_000_000,
        "model": ex["model_served"],
        "system_fingerprint": "fp_" + ex["model_served"].replace("-", "")[:10],
        "choices": [{"index": 0, "message": message, "finish_reason": ex["finish_reason"], "logprobs": None}],
        "usage": _usage(ex),
    }


def chat_request(ex: Exchange) -> dict[str, Any]:
    body: dict[str, Any] = {"model": ex["model_requested"], "messages": _chat_messages(ex)}
    optional = {
        "max_completion_tokens" if ex["reasoning_effort"] else "max_tokens": ex["max_tokens"],
        "temperature": ex["temperature"],
        "top_p": ex["top_p"],
        "seed": ex["seed"],
        "tools": ex["tools"],
        "reasoning_effort": ex["reasoning_effort"],
        "user": ex["end_user_id"],
        "logprobs": True if ex["logprobs"] else None,
        "top_logprobs": 5 if ex["logprobs"] else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if ex["stream"]:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


_ERRORS = {
    403: ("This account has been deactivated for violating the usage policies", "account_deactivated"),
    429: ("Rate limit reached for requests", "rate_limit_exceeded"),
    500: ("Internal error", "server_error"),
    503: ("The server is overloaded", "overloaded"),
}


# --------------------------------------------------------------------------- formats
def canonical_line(ex: Exchange) -> dict[str, Any]:
    sdk = ex["sdk"]
    prompt, response = ex["prompt_text"], ex["response_text"]
    return {
        "event_id": ex["event_id"],
        "source_format": "canonical",
        "ts_start": _iso(ex["ts_us"]),
        "ts_end": _iso(ex["ts_us"] + int(ex["latency_ms"] * 1000)),
        "latency_ms": ex["latency_ms"],
        "account_id": ex["account_id"],
        "project_id": ex["project_id"],
        "api_key_id": ex["api_key_id"],
        "end_user_id": ex["end_user_id"],
        "session_id": ex["session_id"],
        "client_ip": ex["client_ip"],
        "asn": ex["asn"],
        "country": ex["country"],
        "user_agent": sdk.user_agent,
        "sdk_fingerprint": sdk.fingerprint,
        "endpoint": "/v1/chat/completions",
        "model_requested": ex["model_requested"],
        "model_served": ex["model_served"],
        "temperature": ex["temperature"],
        "top_p": ex["top_p"],
        "max_tokens": ex["max_tokens"],
        "n": ex["n"],
        "seed": ex["seed"],
        "stream": ex["stream"],
        "logprobs": ex["logprobs"],
        "tool_count": len(ex["tools"] or []),
        "reasoning_effort": ex["reasoning_effort"],
        "message_count": len(ex["messages"]) + (1 if ex["system"] else 0),
        "system_prompt_hash": system_prompt_hash(ex["system"]),
        "input_tokens": ex["input_tokens"],
        "output_tokens": ex["output_tokens"],
        "reasoning_tokens": ex["reasoning_tokens"],
        "cached_tokens": ex["cached_tokens"],
        "cost_usd": ex["cost_usd"],
        "status": ex["status"],
        "status_code": ex["status_code"],
        "finish_reason": ex["finish_reason"],
        "prompt_text": prompt,
        "context_text": _context_text(ex),
        "response_text": response,
        "prompt_chars": len(prompt) if prompt is not None else None,
        "response_chars": len(response) if response is not None else None,
        "attrs": {"image": "true"} if ex["image"] else {},
    }


def openai_log_line(ex: Exchange, anthropic: bool) -> dict[str, Any]:
    sdk = ex["sdk"]
    headers = {"user-agent": sdk.user_agent, **sdk.headers}
    if anthropic:
        headers["anthropic-version"] = "2023-06-01"
        endpoint, request, response = "/v1/messages", _anthropic_request(ex), _anthropic_response(ex)
    else:
        endpoint, request, response = "/v1/chat/completions", chat_request(ex), chat_response(ex)
    if ex["status"] != "success":
        message, code = _ERRORS.get(ex["status_code"], _ERRORS[500])
        response = (
            {"type": "error", "error": {"type": code, "message": message}}
            if anthropic
            else {"error": {"message": message, "type": code, "code": code}}
        )
    return {
        "id": ex["event_id"],
        "timestamp": _iso(ex["ts_us"]),
        "account_id": ex["account_id"],
        "api_key_id": ex["api_key_id"],
        "project_id": ex["project_id"],
        "client_ip": ex["client_ip"],
        "asn": ex["asn"],
        "country": ex["country"],
        "headers": headers,
        "endpoint": endpoint,
        "request": request,
        "response": response,
        "status_code": ex["status_code"],
        "latency_ms": ex["latency_ms"],
    }


def _anthropic_request(ex: Exchange) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for m in ex["messages"]:
        if m["role"] == "tool":
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
                    ],
                }
            )
        elif m.get("tool_calls"):
            messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": c["id"],
                            "name": c["function"]["name"],
                            "input": json.loads(c["function"]["arguments"]),
                        }
                        for c in m["tool_calls"]
                    ],
                }
            )
        else:
            messages.append({"role": m["role"], "content": [{"type": "text", "text": m["content"] or ""}]})
    if ex["image"] and messages:
        messages[-1]["content"].append(
            {"type": "image", "source": {"type": "url", "url": f"{IMAGE_HOST}{ex['event_id']}.png"}}
        )
    body: dict[str, Any] = {
        "model": ex["model_requested"],
        "max_tokens": ex["max_tokens"] or 4096,
        "messages": messages,
    }
    if ex["system"]:
        body["system"] = ex["system"]
    if ex["tools"]:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"]["description"],
                "input_schema": t["function"]["parameters"],
            }
            for t in ex["tools"]
        ]
    if ex["temperature"] is not None:
        body["temperature"] = ex["temperature"]
    if ex["reasoning_effort"]:
        budget = {"low": 1024, "medium": 4096, "high": 16000}[ex["reasoning_effort"]]
        body["thinking"] = {"type": "enabled", "budget_tokens": min(budget, body["max_tokens"] - 1)}
    if ex["stream"]:
        body["stream"] = True
    if ex["end_user_id"]:
        body["metadata"] = {"user_id": ex["end_user_id"]}
    return body


def _anthropic_response(ex: Exchange) -> dict[str, Any] | None:
    if ex["status"] != "success":
        return None
    content: list[dict[str, Any]] = []
    if ex["tool_calls"]:
        content = [
            {
                "type": "tool_use",
                "id": "toolu_" + c["id"][5:],
                "name": c["function"]["name"],
                "input": json.loads(c["function"]["arguments"]),
            }
            for c in ex["tool_calls"]
        ]
    else:
        content = [{"type": "text", "text": ex["response_text"] or ""}]
    stop = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}.get(
        ex["finish_reason"] or "", "end_turn"
    )
    return {
        "id": f"msg_{ex['event_id'][-16:]}",
        "type": "message",
        "role": "assistant",
        "model": ex["model_served"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": ex["input_tokens"],
            "output_tokens": ex["output_tokens"],
            "cache_read_input_tokens": ex["cached_tokens"],
        },
    }


def litellm_line(ex: Exchange) -> dict[str, Any]:
    sdk = ex["sdk"]
    start = ex["ts_us"] / 1e6
    end = start + ex["latency_ms"] / 1000
    ok = ex["status"] == "success"
    params = {
        k: v
        for k, v in {
            "temperature": ex["temperature"],
            "max_tokens": ex["max_tokens"],
            "top_p": ex["top_p"],
            "stream": ex["stream"],
            "seed": ex["seed"],
            "tools": ex["tools"],
            "reasoning_effort": ex["reasoning_effort"],
            "user": ex["end_user_id"],
            "logprobs": True if ex["logprobs"] else None,
            "top_logprobs": 5 if ex["logprobs"] else None,
        }.items()
        if v is not None
    }
    error = None
    if not ok:
        message, _code = _ERRORS.get(ex["status_code"], _ERRORS[500])
        error = {
            "error_code": str(ex["status_code"]),
            "error_class": {429: "RateLimitError", 403: "PermissionDeniedError"}.get(
                ex["status_code"], "InternalServerError"
            ),
            "llm_provider": "openai",
            "error_message": message,
        }
    return {
        "id": ex["event_id"],
        "trace_id": ex["session_id"] or _uuid(ex["event_id"]),
        "call_type": "acompletion",
        "stream": ex["stream"],
        "response_cost": ex["cost_usd"] if ok else 0.0,
        "response_cost_failure_debug_info": None,
        "status": "success" if ok else "failure",
        "custom_llm_provider": "openai",
        "total_tokens": ex["input_tokens"] + ex["output_tokens"],
        "prompt_tokens": ex["input_tokens"],
        "completion_tokens": ex["output_tokens"],
        "startTime": start,
        "endTime": end,
        "completionStartTime": start + min(0.9, ex["latency_ms"] / 4000),
        "response_time": ex["latency_ms"] / 1000,
        "model_map_information": {"model_map_key": ex["model_requested"], "model_map_value": None},
        "model": ex["model_requested"],
        "model_id": hashlib.sha256(ex["model_served"].encode()).hexdigest()[:32],
        "model_group": ex["model_requested"],
        "api_base": API_BASE,
        "metadata": {
            "user_api_key_hash": hashlib.sha256(ex["api_key_id"].encode()).hexdigest(),
            "user_api_key_alias": None,
            "user_api_key_org_id": ex["account_id"],
            "user_api_key_team_id": ex["project_id"],
            "user_api_key_user_id": None,
            "user_api_key_team_alias": None,
            "user_api_key_end_user_id": ex["end_user_id"],
            "spend_logs_metadata": None,
            "requester_ip_address": ex["client_ip"],
            "requester_metadata": {"asn": ex["asn"], "country": ex["country"]},
            "requester_custom_headers": dict(sdk.headers),
            "user_agent": sdk.user_agent,
        },
        "cache_hit": False,
        "cache_key": None,
        "saved_cache_cost": 0.0,
        "request_tags": [],
        "end_user": ex["end_user_id"] or "",
        "requester_ip_address": ex["client_ip"],
        "messages": _chat_messages(ex),
        "response": chat_response(ex) or {},
        "error_str": error["error_message"] if error else None,
        "error_information": error,
        "model_parameters": params,
        "hidden_params": {
            "model_id": None,
            "cache_key": None,
            "api_base": API_BASE,
            "response_cost": str(ex["cost_usd"]),
            "additional_headers": None,
            "litellm_model_name": ex["model_served"],
        },
    }


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": str(v)} for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _parts(m: dict[str, Any]) -> list[dict[str, Any]]:
    if m.get("tool_calls"):
        return [
            {
                "type": "tool_call",
                "id": c["id"],
                "name": c["function"]["name"],
                "arguments": json.loads(c["function"]["arguments"]),
            }
            for c in m["tool_calls"]
        ]
    if m["role"] == "tool":
        return [{"type": "tool_call_response", "id": m["tool_call_id"], "response": m["content"]}]
    return [{"type": "text", "content": m["content"] or ""}]


def otel_line(ex: Exchange, legacy: bool) -> dict[str, Any]:
    sdk = ex["sdk"]
    ok = ex["status"] == "success"
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": ex["model_requested"],
        "gen_ai.response.model": ex["model_served"],
        "gen_ai.response.id": f"chatcmpl-{ex['event_id']}",
    }
    attrs["gen_ai.system" if legacy else "gen_ai.provider.name"] = "openai"
    for key, name in (
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("seed", "seed"),
    ):
        if ex[key] is not None:
            attrs[f"gen_ai.request.{name}"] = ex[key]
    if ok:
        attrs["gen_ai.response.finish_reasons"] = [ex["finish_reason"]]
    if legacy:
        attrs["gen_ai.usage.prompt_tokens"] = ex["input_tokens"]
        attrs["gen_ai.usage.completion_tokens"] = ex["output_tokens"]
    else:
        attrs["gen_ai.usage.input_tokens"] = ex["input_tokens"]
        attrs["gen_ai.usage.output_tokens"] = ex["output_tokens"]
        messages = [{"role": m["role"], "parts": _parts(m)} for m in ex["messages"]]
        if ex["image"] and messages:
            messages[-1]["parts"].append(
                {"type": "uri", "modality": "image", "uri": f"{IMAGE_HOST}{ex['event_id']}.png"}
            )
        attrs["gen_ai.input.messages"] = _dumps(messages)
        if ok:
            out = (
                [
                    {"type": "tool_call", "id": c["id"], "name": c["function"]["name"], "arguments": {}}
                    for c in ex["tool_calls"]
                ]
                if ex["tool_calls"]
                else [{"type": "text", "content": ex["response_text"] or ""}]
            )
            attrs["gen_ai.output.messages"] = _dumps(
                [{"role": "assistant", "parts": out, "finish_reason": ex["finish_reason"]}]
            )
        if ex["system"]:
            attrs["gen_ai.system_instructions"] = _dumps([{"type": "text", "content": ex["system"]}])
        if ex["tools"]:
            attrs["gen_ai.tool.definitions"] = _dumps(ex["tools"])
        if ex["session_id"]:
            attrs["gen_ai.conversation.id"] = ex["session_id"]
    attrs.update(
        {
            "user.id": ex["account_id"],
            "api_key.id": ex["api_key_id"],
            "client.address": ex["client_ip"],
            "client.asn": ex["asn"],
            "client.geo.country_iso_code": ex["country"],
            "user_agent.original": sdk.user_agent,
            "server.address": "api.provider.example",
            "url.path": "/v1/chat/completions",
            "http.response.status_code": ex["status_code"],
        }
    )
    for header, value in sdk.headers.items():
        attrs[f"http.request.header.{header}"] = [value]
    if ex["end_user_id"]:
        attrs["enduser.pseudo.id"] = ex["end_user_id"]
    if ex["stream"]:
        attrs["gen_ai.request.stream"] = True
    if not ok:
        attrs["error.type"] = str(ex["status_code"])
    start_ns = ex["ts_us"] * 1000
    span: dict[str, Any] = {
        "traceId": hashlib.blake2b(ex["event_id"].encode(), digest_size=16).hexdigest(),
        "spanId": ex["event_id"],
        "name": f"chat {ex['model_requested']}",
        "kind": 3,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(ex["latency_ms"] * 1e6)),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
        "status": {"code": 1} if ok else {"code": 2, "message": f"HTTP {ex['status_code']}"},
    }
    if legacy:
        span["events"] = [
            {
                "name": "gen_ai.content.prompt",
                "timeUnixNano": str(start_ns),
                "attributes": [_attr("gen_ai.prompt", _dumps(_chat_messages(ex)))],
            }
        ]
        if ok:
            span["events"].append(
                {
                    "name": "gen_ai.content.completion",
                    "timeUnixNano": span["endTimeUnixNano"],
                    "attributes": [
                        _attr(
                            "gen_ai.completion",
                            _dumps([{"role": "assistant", "content": ex["response_text"] or ""}]),
                        )
                    ],
                }
            )
    scope = (
        {"name": "opentelemetry.instrumentation.openai", "version": "0.48b0"}
        if legacy
        else {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"}
    )
    resource = [
        _attr("service.name", "llm-gateway"),
        _attr("service.version", "2026.2.1"),
        _attr("telemetry.sdk.name", "opentelemetry"),
        _attr("telemetry.sdk.language", "python"),
    ]
    return {
        "resourceSpans": [
            {"resource": {"attributes": resource}, "scopeSpans": [{"scope": scope, "spans": [span]}]}
        ]
    }
