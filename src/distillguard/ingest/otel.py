"""OpenTelemetry GenAI spans in OTLP/JSON (``resourceSpans`` -> ``scopeSpans`` -> ``spans``).

Both generations of the GenAI semantic conventions are read: the older
``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` and ``gen_ai.prompt`` /
``gen_ai.completion`` (span events or indexed attributes), and the newer
``gen_ai.provider.name``, ``gen_ai.usage.input_tokens``, ``gen_ai.input.messages`` /
``gen_ai.output.messages`` (role + parts), ``gen_ai.system_instructions`` and
``gen_ai.conversation.id``. Event id is the span's ``spanId`` in lower-case hex;
the account is ``user.id`` (then ``account.id``, ``enduser.id``, resource ``service.name``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from distillguard.ingest.normalise import (
    RecordError,
    as_bool,
    as_float,
    as_int,
    as_text,
    attrs_of,
    content_text,
    context_text,
    first,
    last_user_text,
    message_list,
    optional_timestamp,
    parse_timestamp,
    required_text,
    status_of,
    system_text,
)

FORMAT = "otel"
_HEX_SPAN = re.compile(r"^[0-9a-fA-F]{16}$")
_HEADER = "http.request.header."
_CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.prompt",
    "gen_ai.completion",
)
_MAPPED = {
    "user.id",
    "account.id",
    "enduser.id",
    "enduser.pseudo.id",
    "api_key.id",
    "client.address",
    "client.asn",
    "client.geo.country_iso_code",
    "user_agent.original",
    "url.path",
    "http.route",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.request.max_tokens",
    "gen_ai.request.seed",
    "gen_ai.request.choice.count",
    "gen_ai.request.stream",
    "gen_ai.conversation.id",
    "session.id",
    "gen_ai.response.finish_reasons",
    "http.response.status_code",
    "gen_ai.request.reasoning_effort",
    "gen_ai.openai.request.reasoning_effort",
}


# The kinds an OTLP AnyValue holds one of, in the order the Python path looks for them.
ANY_VALUE_KINDS = (
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)


def any_value(value: Any) -> Any:
    """Python value of an OTLP/JSON AnyValue ({"stringValue": ...}, {"intValue": "12"}, ...).

    The kind is the first key holding a value: a columnar copy of OTLP (Parquet written by
    pyarrow, a data lake's table) holds every kind in every value, the others null.
    """
    if not isinstance(value, dict):
        return value
    kind = next((k for k in ANY_VALUE_KINDS if value.get(k) is not None), None)
    if kind == "intValue":
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if kind == "arrayValue":
        return [any_value(v) for v in value["arrayValue"].get("values") or []]
    if kind == "kvlistValue":
        return {kv.get("key"): any_value(kv.get("value")) for kv in value["kvlistValue"].get("values") or []}
    return value[kind] if kind is not None else None


def attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {kv["key"]: any_value(kv.get("value")) for kv in items if isinstance(kv, dict) and "key" in kv}


def span_id(value: Any) -> str:
    """spanId as lower-case hex; OTLP/JSON writes hex, protobuf-JSON mappers write base64."""
    text = required_text(value, "spanId")
    if _HEX_SPAN.match(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.lower()
    return raw.hex() if len(raw) == 8 else text.lower()


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    resource_spans = obj.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise RecordError("resourceSpans: expected a list")
    out: list[dict[str, Any] | RecordError] = []
    for rs in resource_spans:
        if not isinstance(rs, dict):
            out.append(RecordError("resourceSpans element is not an object"))
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            scope = (
                (ss.get("scope") or ss.get("instrumentationLibrary") or {}) if isinstance(ss, dict) else {}
            )
            for span in (ss.get("spans") or []) if isinstance(ss, dict) else []:
                try:
                    out.append(_span_event(span, resource, scope))
                except RecordError as exc:
                    out.append(exc)
    if not out:
        raise RecordError("no spans in this OTLP request")
    return out


def _span_event(span: Any, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise RecordError("span is not an object")
    attrs = attributes(span.get("attributes"))
    events = {
        e.get("name"): attributes(e.get("attributes"))
        for e in span.get("events") or []
        if isinstance(e, dict)
    }
    start = parse_timestamp(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end = optional_timestamp(span.get("endTimeUnixNano"), "endTimeUnixNano")
    account = first(
        attrs.get("user.id"), attrs.get("account.id"), attrs.get("enduser.id"), resource.get("service.name")
    )
    code = as_int(attrs.get("http.response.status_code"), "http.response.status_code")
    failed = (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR") or "error.type" in attrs
    headers = {k[len(_HEADER) :]: v for k, v in attrs.items() if k.startswith(_HEADER)}
    inputs, system = _input_messages(attrs, events)
    finish = attrs.get("gen_ai.response.finish_reasons")
    row: dict[str, Any] = {
        "event_id": span_id(span.get("spanId")),
        "source_format": FORMAT,
        "ts_start": start,
        "ts_end": end,
        "latency_ms": (end - start).total_seconds() * 1000 if end else None,
        "account_id": required_text(account, "user.id"),
        "project_id": as_text(first(attrs.get("project.id"), attrs.get("gen_ai.openai.request.project"))),
        "api_key_id": as_text(attrs.get("api_key.id")),
        "end_user_id": as_text(first(attrs.get("enduser.pseudo.id"), attrs.get("enduser.id"))),
        "session_id": as_text(first(attrs.get("gen_ai.conversation.id"), attrs.get("session.id"))),
        "client_ip": as_text(attrs.get("client.address")),
        "asn": as_text(attrs.get("client.asn")),
        "country": as_text(attrs.get("client.geo.country_iso_code")),
        "user_agent": as_text(attrs.get("user_agent.original")),
        "sdk_headers": headers,
        "endpoint": as_text(first(attrs.get("url.path"), attrs.get("http.route"))),
        "model_requested": as_text(attrs.get("gen_ai.request.model")),
        "model_served": as_text(first(attrs.get("gen_ai.response.model"), attrs.get("gen_ai.request.model"))),
        "temperature": as_float(attrs.get("gen_ai.request.temperature"), "gen_ai.request.temperature"),
        "top_p": as_float(attrs.get("gen_ai.request.top_p"), "gen_ai.request.top_p"),
        "max_tokens": as_int(attrs.get("gen_ai.request.max_tokens"), "gen_ai.request.max_tokens"),
        "n": as_int(attrs.get("gen_ai.request.choice.count"), "gen_ai.request.choice.count"),
        "seed": as_int(attrs.get("gen_ai.request.seed"), "gen_ai.request.seed"),
        "stream": as_bool(attrs.get("gen_ai.request.stream")),
        "reasoning_effort": as_text(
            first(
                attrs.get("gen_ai.request.reasoning_effort"),
                attrs.get("gen_ai.openai.request.reasoning_effort"),
            )
        ),
        "tool_count": _tool_count(attrs),
        "message_count": len(inputs) + (1 if system and not system_text(inputs) else 0),
        "prompt_text": last_user_text(inputs),
        "system_text": system,
        "context_text": context_text(inputs, system),
        "response_text": _output_text(attrs, events),
        "input_tokens": _usage(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        "output_tokens": _usage(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        "reasoning_tokens": _usage(
            attrs,
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.output_tokens.reasoning",
            "gen_ai.usage.reasoning_tokens",
        ),
        "cached_tokens": _usage(
            attrs,
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "gen_ai.usage.input_tokens.cached",
        ),
        "cost_usd": as_float(
            first(attrs.get("gen_ai.usage.cost"), attrs.get("llm.usage.cost")), "gen_ai.usage.cost"
        ),
        "status": status_of(code, failed),
        "status_code": code,
        "finish_reason": as_text(finish[0] if isinstance(finish, list) and finish else finish),
    }
    extra = {
        k: v
        for k, v in attrs.items()
        if k not in _MAPPED
        and not k.startswith(_HEADER)
        and not k.startswith(("gen_ai.usage.", "gen_ai.prompt.", "gen_ai.completion."))
        and k not in _CONTENT_KEYS
    }
    extra.update({f"resource.{k}": v for k, v in resource.items()})
    if scope.get("name"):
        extra["scope.name"] = scope["name"]
    extra["span.name"] = span.get("name")
    if span.get("traceId"):
        extra["trace_id"] = span["traceId"]
    row["attrs"] = attrs_of(extra)
    return row


def sql_mapping(settings: Any) -> Any:
    """``to_events`` as SQL (``otel_sql.mapping``: DuckDB unnests the span tree)."""
    from distillguard.ingest.otel_sql import mapping  # otel_sql reads this module's key sets

    return mapping(settings)


def _usage(attrs: dict[str, Any], *names: str) -> int | None:
    value = first(*(attrs.get(n) for n in names))
    return as_int(value, names[0])


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parts_messages(value: Any) -> list[Any]:
    """Newer conventions: [{"role", "parts": [{"type": "text", "content": ...}]}]."""
    messages = _json(value)
    if not isinstance(messages, list):
        return message_list(messages)
    return [
        {"role": m.get("role"), "content": m.get("parts", m.get("content"))} if isinstance(m, dict) else m
        for m in messages
    ]


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenLLMetry-style ``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` attributes."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, field = key[len(prefix) :].partition(".")
            if index.isdigit() and field in ("role", "content"):
                found.setdefault(int(index), {})[field] = value
    return [found[i] for i in sorted(found)]


def _input_messages(attrs: dict[str, Any], events: dict[Any, dict[str, Any]]) -> tuple[list[Any], str | None]:
    system = None
    if "gen_ai.system_instructions" in attrs:
        system = content_text(_json(attrs["gen_ai.system_instructions"]))
    if "gen_ai.input.messages" in attrs:
        messages = _parts_messages(attrs["gen_ai.input.messages"])
    elif "gen_ai.prompt" in attrs:
        messages = message_list(attrs["gen_ai.prompt"])
    elif "gen_ai.prompt" in events.get("gen_ai.content.prompt", {}):
        messages = message_list(events["gen_ai.content.prompt"]["gen_ai.prompt"])
    else:
        messages = _indexed(attrs, "gen_ai.prompt.")
    return messages, system or system_text(messages)


def _output_text(attrs: dict[str, Any], events: dict[Any, dict[str, Any]]) -> str | None:
    if "gen_ai.output.messages" in attrs:
        messages = _parts_messages(attrs["gen_ai.output.messages"])
    elif "gen_ai.completion" in attrs:
        messages = message_list(attrs["gen_ai.completion"])
    elif "gen_ai.completion" in events.get("gen_ai.content.completion", {}):
        messages = message_list(events["gen_ai.content.completion"]["gen_ai.completion"])
    else:
        messages = _indexed(attrs, "gen_ai.completion.")
    texts = [content_text(m.get("content")) for m in messages if isinstance(m, dict)]
    joined = "\n".join(t for t in texts if t)
    return joined or None


def _tool_count(attrs: dict[str, Any]) -> int:
    tools = _json(attrs.get("gen_ai.tool.definitions"))
    if isinstance(tools, list):
        return len(tools)
    functions = {
        k.split(".")[3] for k in attrs if k.startswith("gen_ai.request.functions.") and k.count(".") >= 4
    }
    return len(functions)
