"""OpenAI-compatible gateway request log (JSON lines).

One line per call: ``{"id", "timestamp", "account_id", "api_key_id", "project_id",
"client_ip", "asn", "country", "headers", "endpoint", "request", "response",
"status_code", "latency_ms"}`` where request/response are Chat Completions or
Anthropic Messages bodies. Event id is the top-level ``id``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from distillguard.fingerprints import strip_sql
from distillguard.ingest.bodies import _STOP_REASONS, is_anthropic, merge, request_fields, response_fields
from distillguard.ingest.declarative import MESSAGES_SHAPE, Mapping, add_typed_fields
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


# ------------------------------------------------------------------ as SQL (declarative)
_SQL_KEYS = tuple(sorted(_KNOWN | {"created_at"}))
# The bodies are parsed with the record (``Mapping.shapes``); what is not an object reads as
# all NULL, as ``mapping`` and ``dig`` read it, and ``_types`` (one more parse) tells the
# types and key presence the adapter looks at.
_REQUEST_SHAPE = (
    '{"model": "JSON", "temperature": "JSON", "top_p": "JSON", "max_completion_tokens": "JSON",'
    ' "max_tokens": "JSON", "n": "JSON", "seed": "JSON", "stream": "JSON", "logprobs": "JSON",'
    ' "top_logprobs": "JSON", "tools": ["JSON"], "reasoning_effort": "JSON", "reasoning": {"effort": "JSON"},'
    f' "messages": {MESSAGES_SHAPE}, "system": "JSON", "user": "JSON", "metadata": {{"user_id": "JSON"}},'
    ' "thinking": {"type": "JSON", "budget_tokens": "JSON"}}'
)
_TYPED_PATHS = ("$.request", "$.request.messages", "$.request.system", "$.request.thinking")
_RESPONSE_SHAPE = (
    '{"model": "JSON", "type": "JSON", "stop_reason": "JSON", "content": "JSON",'
    ' "choices": [{"finish_reason": "JSON", "message": {"content": "JSON"}}],'
    ' "usage": {"prompt_tokens": "JSON", "input_tokens": "JSON", "completion_tokens": "JSON",'
    ' "output_tokens": "JSON", "cache_read_input_tokens": "JSON",'
    ' "prompt_tokens_details": {"cached_tokens": "JSON"},'
    ' "completion_tokens_details": {"reasoning_tokens": "JSON"}}}'
)
# RFC 3339 as DuckDB and datetime.fromisoformat read it alike (offset given, at most 6 digits of
# fraction); any other text timestamp is read by the Python adapter
_ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def sql_mapping(settings: Any) -> Mapping:
    """``to_events`` as SQL (see ``declarative``): the same columns for every record whose fields
    have the JSON types a gateway writes (Chat Completions and Messages bodies alike); error
    bodies, keys outside the known set (kept as attrs by the adapter) and odd types are routed
    to ``to_events``."""
    stops = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _STOP_REASONS.items())
    known = ", ".join(f"'{k}'" for k in sorted(_KNOWN))
    lets = {
        "_types": "json_type(_record, [" + ", ".join(f"'{p}'" for p in _TYPED_PATHS) + "])",
        "_request_type": "coalesce(_types[1], 'NULL')",
        "_request": "request",
        "_response": "response",
        "_usage": "_response.usage",
        "_choice": "_response.choices[1]",
        "_headers": "dj_headers(headers)",
        "_endpoint": "dj_text(endpoint)",
        "_anthropic": "coalesce(regexp_matches(_endpoint, '/messages/*$'), false)"
        " OR (dj_type(_response.type) = 'VARCHAR' AND (_response.type ->> '$') = 'message')"
        " OR ((_types[3] IS NOT NULL OR _types[4] IS NOT NULL) AND _types[2] IS NOT NULL)",
        "_messages": "coalesce(_request.messages, [])",
        "_user_texts": "ds_user_texts(_messages)",
        "_system": "CASE WHEN _anthropic AND dj_type(_request.system) <> 'NULL'"
        " THEN dj_content_text(_request.system) ELSE ds_system_text(_messages) END",
        "_ts_json": "dj_first2(timestamp, created_at)",
        "_ts_text": "CASE WHEN dj_type(_ts_json) = 'VARCHAR' THEN _ts_json ->> '$' END",
        "_ts_any": "CASE WHEN dj_type(_ts_json) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN dj_ts(_ts_json)"
        f" WHEN regexp_full_match(_ts_text, '{_ISO_TIMESTAMP}') THEN TRY_CAST(_ts_text AS TIMESTAMPTZ) END",
        "_ts": "CASE WHEN _ts_any >= TIMESTAMPTZ '1990-01-01' AND _ts_any < TIMESTAMPTZ '2200-01-01'"
        " THEN _ts_any END",
        "_latency": "dj_float(latency_ms)",
        "_code": "dj_int(status_code)",
        "_session_header": "nullif(dj_header_value(dj_header(_headers, 'x-session-id')), '')",
        "_thinking_on": "_anthropic AND dj_type(_request.thinking.type) = 'VARCHAR'"
        " AND (_request.thinking.type ->> '$') = 'enabled'",
        "_budget": "coalesce(dj_int(_request.thinking.budget_tokens), 0)",
        "_stop": "dj_text(_response.stop_reason)",
    }
    texts = {  # column -> JSON value read by as_text
        "event_id": "id",
        "account_id": "account_id",
        "project_id": "project_id",
        "api_key_id": "api_key_id",
        "client_ip": "client_ip",
        "asn": "asn",
        "country": "country",
        "_top_end_user": "end_user_id",
        "_session": "session_id",
        "_endpoint_raw": "endpoint",
        "model_requested": "_request.model",
        "_effort": "dj_first2(_request.reasoning_effort, _request.reasoning.effort)",
        "_body_end_user": 'dj_first2(_request."user", _request.metadata.user_id)',
        "model_served": "_response.model",
        "_finish": "_choice.finish_reason",
        "_stop_raw": "_response.stop_reason",
    }
    ints = {
        "max_tokens": "dj_first2(_request.max_completion_tokens, _request.max_tokens)",
        "n": "_request.n",
        "seed": "_request.seed",
        "_openai_input": "dj_first2(_usage.prompt_tokens, _usage.input_tokens)",
        "_openai_output": "dj_first2(_usage.completion_tokens, _usage.output_tokens)",
        "_openai_cached": "_usage.prompt_tokens_details.cached_tokens",
        "_openai_reasoning": "_usage.completion_tokens_details.reasoning_tokens",
        "_anthropic_input": "_usage.input_tokens",
        "_anthropic_output": "_usage.output_tokens",
        "_anthropic_cached": "_usage.cache_read_input_tokens",
        "_budget_raw": "_request.thinking.budget_tokens",
        "_status_code_raw": "status_code",
    }
    floats = {
        "temperature": "_request.temperature",
        "top_p": "_request.top_p",
        "_latency_raw": "latency_ms",
    }
    bools = {
        "stream": "_request.stream",
        "logprobs": "dj_first2(_request.logprobs, _request.top_logprobs)",
    }
    route = [
        "left(CAST(_record AS VARCHAR), 1) <> '{'",  # not an object: the adapter's reason
        # (IN, not list_contains of a list literal: inside a lambda that rebuilds the list per key)
        f"len(list_filter(json_keys(_record), lambda k: k NOT IN ({known}))) > 0",
        *(
            f"dj_type({v}) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
            f" OR coalesce({strip_sql(f'dj_text({v})')}, '') = ''"  # required_text: absent or blank
            for v in ("id", "account_id")
        ),
        "_request_type NOT IN ('NULL', 'OBJECT')",
        # an error body (an "error" key anywhere in the minified record): Python reads it, unless
        # every such key holds null and the response has choices (``failed`` is then false and
        # nothing else reads the key): a Parquet export holds "error": null in every record that
        # a struct column shares with an error response
        "CASE WHEN contains(CAST(_record AS VARCHAR), '\"error\":') THEN"
        " regexp_matches(CAST(_record AS VARCHAR), '\"error\":[^n]')"
        " OR NOT coalesce(len(_response.choices) > 0, false) ELSE false END",
        "_ts IS NULL",
        # timedelta(milliseconds=...) rounds to the microsecond; a finer latency, or one past
        # datetime's range, is read by Python
        "_latency IS NOT NULL AND (abs(_latency) > 1e12"
        " OR abs(_latency * 1000 - round(_latency * 1000)) > 1e-6)",
        "coalesce(_types[2], 'NULL') NOT IN ('NULL', 'ARRAY')",
        "ds_messages_odd(_messages)",
        "ds_messages_ambiguous(_record, json_extract(_record, '$.request.messages'))",
        "_anthropic AND dj_content_odd(_request.system)",
        "dj_content_odd(_choice.message.content) OR dj_content_odd(_response.content)",
        "len(list_filter(_headers, lambda e: dj_header_odd(e.value))) > 0",
        "len(_headers) <> len(list_distinct(list_transform(_headers, lambda e: lower(e.key))))",
    ]
    columns: dict[str, str] = {}
    add_typed_fields(texts, {"int": ints, "float": floats, "bool": bools}, lets, columns, route)
    columns.update(
        {
            "source_format": f"'{FORMAT}'",
            "ts_start": "_ts",
            "ts_end": "CASE WHEN _latency IS NOT NULL"
            " THEN _ts + to_microseconds(CAST(round_even(_latency * 1000, 0) AS BIGINT)) END",
            "latency_ms": "_latency",
            "status_code": "_code",
            "status": "CASE WHEN _code >= 400 THEN 'error' ELSE 'success' END",
            "end_user_id": "coalesce(dj_text(_j_top_end_user), dj_text(_j_body_end_user))",
            "session_id": "CASE WHEN dj_present(_j_session) THEN dj_text(_j_session)"
            " ELSE _session_header END",
            "user_agent": "dj_header_value(dj_header(_headers, 'user-agent'))",
            "endpoint": "coalesce(_endpoint,"
            " CASE WHEN _anthropic THEN '/v1/messages' ELSE '/v1/chat/completions' END)",
            "reasoning_effort": "CASE WHEN _thinking_on THEN CASE WHEN _budget <= 1024 THEN 'low'"
            " WHEN _budget <= 4096 THEN 'medium' ELSE 'high' END ELSE dj_text(_j_effort) END",
            # request_fields of no request body is empty: no counts at all
            "tool_count": "CASE WHEN _request_type = 'OBJECT' THEN coalesce(len(_request.tools), 0) END",
            "message_count": "CASE WHEN _request_type = 'OBJECT' THEN len(_messages)"
            " + CASE WHEN _anthropic AND coalesce(_system, '') <> '' THEN 1 ELSE 0 END END",
            "prompt_text": "_user_texts[-1]",
            "context_text": "dj_context(_system, _user_texts)",
            "_system_text": "_system",
            "finish_reason": f"CASE WHEN _anthropic THEN CASE _stop {stops} ELSE _stop END"
            " ELSE dj_text(_j_finish) END",
            "response_text": "CASE WHEN _anthropic THEN dj_content_text(_response.content)"
            " ELSE dj_content_text(_choice.message.content) END",
            "input_tokens": "CASE WHEN _anthropic THEN _anthropic_input ELSE _openai_input END",
            "output_tokens": "CASE WHEN _anthropic THEN _anthropic_output ELSE _openai_output END",
            "cached_tokens": "CASE WHEN _anthropic THEN _anthropic_cached ELSE _openai_cached END",
            "reasoning_tokens": "CASE WHEN _anthropic THEN NULL ELSE _openai_reasoning END",
            "attrs": "map_from_entries(list_filter([{'key': 'api', 'value': CASE WHEN _anthropic"
            " THEN 'anthropic-messages' END}], lambda e: e.value IS NOT NULL))",
            "_headers": "_headers",
        }
    )
    shapes = {"request": _REQUEST_SHAPE, "response": _RESPONSE_SHAPE}
    return Mapping(FORMAT, _SQL_KEYS, columns, lets, route, whole_record=True, shapes=shapes)
