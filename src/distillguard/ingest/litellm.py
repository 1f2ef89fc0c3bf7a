"""LiteLLM ``StandardLoggingPayload`` as JSON lines (custom logger / spend-log export).

Event id is the payload ``id``; the account is the first non-empty metadata field
named by the ``litellm_account_fields`` setting (org, team, user, key hash).
"""

from __future__ import annotations

from typing import Any

from distillguard.ingest.bodies import merge, request_fields, response_fields
from distillguard.ingest.normalise import (
    RecordError,
    as_bool,
    as_float,
    as_int,
    as_text,
    attrs_of,
    dig,
    first,
    header_map,
    mapping,
    optional_timestamp,
    parse_timestamp,
    required_text,
    status_of,
)

FORMAT = "litellm"
_ENDPOINTS = {
    "completion": "/v1/chat/completions",
    "acompletion": "/v1/chat/completions",
    "text_completion": "/v1/completions",
    "atext_completion": "/v1/completions",
    "anthropic_messages": "/v1/messages",
    "responses": "/v1/responses",
    "aresponses": "/v1/responses",
}
_ATTR_KEYS = ("call_type", "custom_llm_provider", "api_base", "model_id", "cache_hit", "request_tags")
_META_ATTRS = (
    "user_api_key_alias",
    "user_api_key_team_alias",
    "user_api_key_user_email",
    "spend_logs_metadata",
)


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    meta = mapping(obj.get("metadata"))
    fields = [f.strip() for f in str(settings.litellm_account_fields).split(",") if f.strip()]
    account = first(*(meta.get(name) for name in fields))
    if account is None:
        raise RecordError(f"missing required field account id (metadata.{' / '.join(fields)})")
    start = parse_timestamp(obj.get("startTime"), "startTime")
    end = optional_timestamp(obj.get("endTime"), "endTime")
    latency = (end - start).total_seconds() * 1000 if end else None
    if latency is None and obj.get("response_time") is not None:
        latency = (as_float(obj.get("response_time"), "response_time") or 0.0) * 1000
    error = mapping(obj.get("error_information"))
    code = (
        as_int(error.get("error_code"), "error_information.error_code") if error.get("error_code") else None
    )
    failed = str(obj.get("status") or "success").lower() not in ("success", "")
    params = mapping(obj.get("model_parameters"))
    headers = header_map(meta.get("requester_custom_headers"))
    response = mapping(obj.get("response"))
    row: dict[str, Any] = {
        "event_id": required_text(obj.get("id"), "id"),
        "source_format": FORMAT,
        "ts_start": start,
        "ts_end": end,
        "latency_ms": latency,
        "account_id": required_text(account, "account id"),
        "project_id": as_text(meta.get("user_api_key_team_id")),
        "api_key_id": as_text(first(meta.get("user_api_key_hash"), meta.get("user_api_key"))),
        "end_user_id": as_text(first(obj.get("end_user"), meta.get("user_api_key_end_user_id"))),
        "session_id": as_text(first(meta.get("session_id"), obj.get("trace_id"))),
        "client_ip": as_text(first(obj.get("requester_ip_address"), meta.get("requester_ip_address"))),
        "asn": as_text(dig(meta, "requester_metadata", "asn")),
        "country": as_text(dig(meta, "requester_metadata", "country")),
        "user_agent": as_text(first(meta.get("user_agent"), headers.get("user-agent"))),
        "sdk_headers": headers,
        "endpoint": _ENDPOINTS.get(str(obj.get("call_type")), as_text(obj.get("call_type"))),
        "model_requested": as_text(first(obj.get("model_group"), obj.get("model"))),
        "model_served": as_text(
            first(response.get("model"), dig(obj, "hidden_params", "litellm_model_name"), obj.get("model"))
        ),
        "stream": as_bool(obj.get("stream")),
        "input_tokens": as_int(obj.get("prompt_tokens"), "prompt_tokens"),
        "output_tokens": as_int(obj.get("completion_tokens"), "completion_tokens"),
        "cost_usd": as_float(obj.get("response_cost"), "response_cost"),
        "status": status_of(code, failed),
        "status_code": code if code is not None else (None if failed else 200),
    }
    messages = obj.get("messages")
    merge(row, request_fields({**params, "messages": messages}, anthropic=False))
    merge(row, response_fields(response, anthropic=False))
    extra = attrs_of({k: obj.get(k) for k in _ATTR_KEYS})
    extra.update(attrs_of({k: meta.get(k) for k in _META_ATTRS}))
    if failed and error:
        extra["error"] = str(first(error.get("error_class"), error.get("error_message")) or "")
    row["attrs"] = extra
    return [row]
