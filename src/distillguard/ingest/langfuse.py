"""Langfuse enriched observations export (JSONL or Parquet).

Each GENERATION observation is one event (``id`` is the event id); other
observation types (SPAN, EVENT, TOOL, ...) are not model calls and are
quarantined with that reason so counts still add up. The account is the trace's
``userId`` (then ``metadata.account_id`` and LiteLLM's ``user_api_key_*`` fields,
which LiteLLM's Langfuse logger copies into metadata).
"""

from __future__ import annotations

import json
from typing import Any

from distillguard.ingest.bodies import merge, request_fields, response_fields
from distillguard.ingest.normalise import (
    RecordError,
    as_float,
    as_int,
    as_text,
    attrs_of,
    content_text,
    dig,
    first,
    header_map,
    message_list,
    optional_timestamp,
    parse_timestamp,
    required_text,
    status_of,
)

FORMAT = "langfuse"
_GENERATIONS = {"GENERATION", "generation"}
_KNOWN = {
    "id",
    "traceId",
    "type",
    "startTime",
    "endTime",
    "completionStartTime",
    "model",
    "modelParameters",
    "input",
    "output",
    "usage",
    "usageDetails",
    "costDetails",
    "calculatedTotalCost",
    "totalCost",
    "level",
    "statusMessage",
    "metadata",
    "userId",
    "sessionId",
    "latency",
    "timeToFirstToken",
    "promptTokens",
    "completionTokens",
    "totalTokens",
    "inputCost",
    "outputCost",
}


def _obj(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if isinstance(value, list) and all(isinstance(kv, list | tuple) and len(kv) == 2 for kv in value):
        value = dict(value)  # Parquet map columns come back as key/value pairs
    return value if isinstance(value, dict) else {}


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    kind = as_text(obj.get("type"))
    if kind not in _GENERATIONS:
        raise RecordError(f"observation type {kind or '(none)'} is not a model call (only GENERATION is)")
    meta = _obj(obj.get("metadata"))
    start = parse_timestamp(first(obj.get("startTime"), obj.get("start_time")), "startTime")
    end = optional_timestamp(first(obj.get("endTime"), obj.get("end_time")), "endTime")
    account = first(
        obj.get("userId"),
        meta.get("account_id"),
        meta.get("user_api_key_org_id"),
        meta.get("user_api_key_team_id"),
        meta.get("user_api_key_user_id"),
        meta.get("user_api_key_hash"),
    )
    usage = _obj(first(obj.get("usageDetails"), obj.get("usage")))
    cost = _obj(obj.get("costDetails"))
    params = _obj(obj.get("modelParameters"))
    level = as_text(obj.get("level"))
    raw_input = _json(obj.get("input"))
    raw_output = _json(obj.get("output"))
    messages = message_list(raw_input)
    row: dict[str, Any] = {
        "event_id": required_text(obj.get("id"), "id"),
        "source_format": FORMAT,
        "ts_start": start,
        "ts_end": end,
        "latency_ms": (end - start).total_seconds() * 1000 if end else None,
        "account_id": required_text(account, "userId"),
        "project_id": as_text(first(obj.get("projectId"), meta.get("user_api_key_team_id"))),
        "api_key_id": as_text(first(meta.get("api_key_id"), meta.get("user_api_key_hash"))),
        "end_user_id": as_text(meta.get("end_user_id")),
        "session_id": as_text(first(obj.get("sessionId"), obj.get("traceId"))),
        "client_ip": as_text(first(meta.get("client_ip"), meta.get("requester_ip_address"))),
        "asn": as_text(first(meta.get("asn"), dig(meta, "requester_metadata", "asn"))),
        "country": as_text(first(meta.get("country"), dig(meta, "requester_metadata", "country"))),
        "user_agent": as_text(meta.get("user_agent")),
        "sdk_headers": header_map(first(meta.get("headers"), meta.get("requester_custom_headers"))),
        "model_requested": as_text(obj.get("model")),
        "model_served": as_text(obj.get("model")),
        "input_tokens": as_int(
            first(usage.get("input"), usage.get("promptTokens"), obj.get("promptTokens")), "usage.input"
        ),
        "output_tokens": as_int(
            first(usage.get("output"), usage.get("completionTokens"), obj.get("completionTokens")),
            "usage.output",
        ),
        "reasoning_tokens": as_int(
            first(usage.get("output_reasoning_tokens"), usage.get("reasoning_tokens")), "usage.reasoning"
        ),
        "cached_tokens": as_int(
            first(usage.get("input_cached_tokens"), usage.get("cache_read_input_tokens")), "usage.cached"
        ),
        "cost_usd": as_float(
            first(cost.get("total"), obj.get("calculatedTotalCost"), obj.get("totalCost")),
            "costDetails.total",
        ),
        "status": status_of(None, level == "ERROR"),
        "response_text": _output_text(raw_output),
    }
    merge(row, request_fields({**params, "messages": messages}, anthropic=False))
    if isinstance(raw_output, dict) and "choices" in raw_output:
        merge(row, response_fields(raw_output, anthropic=False))
    extra = attrs_of({k: v for k, v in obj.items() if k not in _KNOWN and k not in ("input", "output")})
    extra.update(attrs_of({f"metadata.{k}": v for k, v in meta.items()}))
    if obj.get("statusMessage"):
        extra["statusMessage"] = str(obj["statusMessage"])[:2000]
    row["attrs"] = extra
    return [row]


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _output_text(output: Any) -> str | None:
    if output is None or isinstance(output, str):
        return output
    if isinstance(output, dict):
        if "choices" in output:
            return content_text(dig(output, "choices", 0, "message", "content"))
        return content_text(output.get("content", output.get("text")))
    if isinstance(output, list):
        texts = [content_text(m.get("content")) if isinstance(m, dict) else str(m) for m in output]
        return "\n".join(t for t in texts if t) or None
    return str(output)


def sql_mapping(settings: Any) -> Any:
    """``to_events`` as SQL (``langfuse_sql.mapping``)."""
    from distillguard.ingest.langfuse_sql import mapping  # langfuse_sql reads this module's key sets

    return mapping(settings)
