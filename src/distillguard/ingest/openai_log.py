"""OpenAI-compatible gateway request log (JSON lines).

One line per call: ``{"id", "timestamp", "account_id", "api_key_id", "project_id",
"client_ip", "asn", "country", "headers", "endpoint", "request", "response",
"status_code", "latency_ms"}`` where request/response are Chat Completions or
Anthropic Messages bodies. Event id is the top-level ``id``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from distillguard.ingest.bodies import is_anthropic, merge, request_fields, response_fields
from distillguard.ingest.normalise import (
    RecordError,
    as_float,
    as_int,
    as_text,
    attrs_of,
    first,
    header_map,
    parse_timestamp,
    required_text,
    status_of,
)

FORMAT = "openai"
_KNOWN = {
    "id",
    "timestamp",
    "account_id",
    "api_key_id",
    "project_id",
    "client_ip",
    "asn",
    "country",
    "headers",
    "endpoint",
    "request",
    "response",
    "status_code",
    "latency_ms",
    "end_user_id",
    "session_id",
}


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    request = obj.get("request")
    response = obj.get("response")
    if request is not None and not isinstance(request, dict):
        raise RecordError("request: expected a JSON object")
    endpoint = as_text(obj.get("endpoint"))
    anthropic = is_anthropic(request, response, endpoint)
    headers = header_map(obj.get("headers"))
    ts = parse_timestamp(first(obj.get("timestamp"), obj.get("created_at")), "timestamp")
    latency = as_float(obj.get("latency_ms"), "latency_ms")
    code = as_int(obj.get("status_code"), "status_code")
    failed = isinstance(response, dict) and "error" in response and not response.get("choices")
    row: dict[str, Any] = {
        "event_id": required_text(obj.get("id"), "id"),
        "source_format": FORMAT,
        "ts_start": ts,
        "ts_end": ts + timedelta(milliseconds=latency) if latency is not None else None,
        "latency_ms": latency,
        "account_id": required_text(obj.get("account_id"), "account_id"),
        "project_id": as_text(obj.get("project_id")),
        "api_key_id": as_text(obj.get("api_key_id")),
        "end_user_id": as_text(obj.get("end_user_id")),
        "session_id": as_text(first(obj.get("session_id"), headers.get("x-session-id"))),
        "client_ip": as_text(obj.get("client_ip")),
        "asn": as_text(obj.get("asn")),
        "country": as_text(obj.get("country")),
        "user_agent": headers.get("user-agent"),
        "sdk_headers": headers,
        "endpoint": endpoint or ("/v1/messages" if anthropic else "/v1/chat/completions"),
        "status_code": code,
        "status": status_of(code, failed),
    }
    merge(row, request_fields(request, anthropic=anthropic))
    merge(row, response_fields(response, anthropic=anthropic))
    extra = attrs_of({k: v for k, v in obj.items() if k not in _KNOWN})
    if failed and isinstance(response, dict):
        error = response.get("error")
        extra["error"] = (
            (error.get("type") or error.get("code") or "") if isinstance(error, dict) else str(error)
        )
    if anthropic:
        extra["api"] = "anthropic-messages"
    row["attrs"] = extra
    return [row]
