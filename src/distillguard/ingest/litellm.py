"""LiteLLM ``StandardLoggingPayload`` as JSON lines (custom logger / spend-log export).

Event id is the payload ``id``; the account is the first non-empty metadata field
named by the ``litellm_account_fields`` setting (org, team, user, key hash).
"""

from __future__ import annotations

from typing import Any

from distillguard.fingerprints import strip_sql
from distillguard.ingest.bodies import merge, request_fields, response_fields
from distillguard.ingest.declarative import MESSAGES_SHAPE, Mapping, add_typed_fields
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


# ------------------------------------------------------------------ as SQL (declarative)
_SQL_KEYS = (
    "id", "trace_id", "call_type", "stream", "response_cost", "status", "prompt_tokens",
    "completion_tokens", "startTime", "endTime", "response_time", "model", "model_group",
    "metadata", "end_user", "requester_ip_address", "messages", "response", "error_information",
    "model_parameters", "hidden_params", *(k for k in _ATTR_KEYS if k not in ("call_type",)),
)  # fmt: skip


_USAGE_SHAPE = (
    '{"prompt_tokens": "JSON", "input_tokens": "JSON", "completion_tokens": "JSON", "output_tokens": "JSON",'
    ' "prompt_tokens_details": {"cached_tokens": "JSON"},'
    ' "completion_tokens_details": {"reasoning_tokens": "JSON"}}'
)
_RESPONSE_SHAPE = (
    '{"model": "JSON", "type": "JSON",'
    ' "choices": [{"finish_reason": "JSON", "message": {"content": "JSON"}}],'
    f' "usage": {_USAGE_SHAPE}}}'
)


def sql_mapping(settings: Any) -> Mapping:
    """``to_events`` as SQL (see ``declarative``): the same columns for every record whose
    fields have the JSON types the gateway writes; any other record is routed to ``to_events``."""
    fields = [f.strip() for f in str(settings.litellm_account_fields).split(",") if f.strip()]
    account = "NULL::JSON"
    for name in reversed(fields):
        value = f"dj_get(metadata, '{name}')"
        account = f"CASE WHEN dj_present({value}) THEN {value} ELSE {account} END"
    endpoints = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _ENDPOINTS.items())
    attrs = [f"{{'key': '{k}', 'value': dj_stringify({k})}}" for k in _ATTR_KEYS]
    attrs += [f"{{'key': '{k}', 'value': dj_stringify(dj_get(metadata, '{k}'))}}" for k in _META_ATTRS]
    lets = {
        "_account": account,
        # the response body parsed once; a value that is not an object reads as all NULL, as
        # ``mapping`` and ``dig`` read it
        "_response": f"json_transform(response, '{_RESPONSE_SHAPE}')",
        "_usage": "_response.usage",
        "_choice": "_response.choices[1]",
        "_error": "dj_object(error_information)",
        "_code_raw": "dj_get(_error, 'error_code')",
        "_code": "CASE WHEN dj_type(_code_raw) = 'VARCHAR'"
        " AND regexp_full_match(_code_raw ->> '$', '[0-9]{1,9}') THEN CAST(_code_raw ->> '$' AS BIGINT)"
        " WHEN dj_type(_code_raw) IN ('BIGINT', 'UBIGINT') AND dj_int(_code_raw) <> 0"
        " THEN dj_int(_code_raw) END",
        "_failed": "dj_type(status) = 'VARCHAR' AND lower(status ->> '$') NOT IN ('success', '')",
        "_messages": f"coalesce(json_transform(messages, '{MESSAGES_SHAPE}'), [])",
        "_user_texts": "ds_user_texts(_messages)",
        "_system": "ds_system_text(_messages)",
        "_headers": "dj_headers(dj_get(metadata, 'requester_custom_headers'))",
        "_ts_start": 'dj_ts("startTime")',
        "_ts_end": 'dj_ts("endTime")',
        "_meta_ua": "dj_get(metadata, 'user_agent')",
        "_header_ua": "nullif(dj_header_value(dj_header(_headers, 'user-agent')), '')",
        "_max_tokens": "dj_first2(dj_get(model_parameters, 'max_completion_tokens'),"
        " dj_get(model_parameters, 'max_tokens'))",
        "_logprobs": "dj_first2(dj_get(model_parameters, 'logprobs'),"
        " dj_get(model_parameters, 'top_logprobs'))",
        "_effort": "dj_first2(dj_get(model_parameters, 'reasoning_effort'),"
        " dj_get(dj_get(model_parameters, 'reasoning'), 'effort'))",
        "_error_label": "dj_first2(dj_get(_error, 'error_class'), dj_get(_error, 'error_message'))",
    }
    first_texts = {
        "api_key_id": "dj_first2(dj_get(metadata, 'user_api_key_hash'), dj_get(metadata, 'user_api_key'))",
        "session_id": "dj_first2(dj_get(metadata, 'session_id'), trace_id)",
        "client_ip": "dj_first2(requester_ip_address, dj_get(metadata, 'requester_ip_address'))",
        "asn": "dj_get(dj_get(metadata, 'requester_metadata'), 'asn')",
        "country": "dj_get(dj_get(metadata, 'requester_metadata'), 'country')",
        "project_id": "dj_get(metadata, 'user_api_key_team_id')",
        "model_served": "dj_first3(_response.model, dj_get(hidden_params, 'litellm_model_name'), model)",
        "_end_user": "dj_first2(end_user, dj_get(metadata, 'user_api_key_end_user_id'))",
        "_param_end_user": "dj_first2(dj_get(model_parameters, 'user'),"
        " dj_get(dj_get(model_parameters, 'metadata'), 'user_id'))",
        "_model_requested": "dj_first2(model_group, model)",
        "_param_model": "dj_get(model_parameters, 'model')",
        "reasoning_effort": "_effort",
        "finish_reason": "_choice.finish_reason",
        "event_id": "id",
        "account_id": "_account",
    }
    ints = {
        "_input_tokens": "prompt_tokens",
        "_output_tokens": "completion_tokens",
        "_usage_input": "dj_first2(_usage.prompt_tokens, _usage.input_tokens)",
        "_usage_output": "dj_first2(_usage.completion_tokens, _usage.output_tokens)",
        "cached_tokens": "_usage.prompt_tokens_details.cached_tokens",
        "reasoning_tokens": "_usage.completion_tokens_details.reasoning_tokens",
        "max_tokens": "_max_tokens",
        "n": "dj_get(model_parameters, 'n')",
        "seed": "dj_get(model_parameters, 'seed')",
    }
    floats = {
        "cost_usd": "response_cost",
        "temperature": "dj_get(model_parameters, 'temperature')",
        "top_p": "dj_get(model_parameters, 'top_p')",
        "_response_time": "response_time",
    }
    bools = {
        "_stream": "stream",
        "_param_stream": "dj_get(model_parameters, 'stream')",
        "logprobs": "_logprobs",
    }
    columns: dict[str, str] = {}
    route = [
        *(
            f"dj_type({v}) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
            f" OR coalesce({strip_sql(f'dj_text({v})')}, '') = ''"  # required_text: absent or blank
            for v in ("id", "_account")
        ),
        "_ts_start IS NULL",
        "dj_type(\"endTime\") NOT IN ('NULL')"
        " AND NOT (dj_type(\"endTime\") = 'VARCHAR' AND (\"endTime\" ->> '$') = '')"
        " AND _ts_end IS NULL",
        "dj_type(status) NOT IN ('NULL', 'VARCHAR')"
        " OR regexp_matches(coalesce(status ->> '$', ''), '[^\\x{0}-\\x{7f}]')",
        "dj_type(_code_raw) NOT IN ('NULL') AND _code IS NULL AND NOT (dj_type(_code_raw) = 'VARCHAR' AND"
        " (_code_raw ->> '$') = '')"
        " AND NOT (dj_type(_code_raw) IN ('BIGINT', 'UBIGINT') AND dj_int(_code_raw) = 0)",
        "_failed AND dj_present(_error) AND dj_type(_error_label) NOT IN ('NULL', 'VARCHAR')",
        "dj_type(messages) NOT IN ('NULL', 'ARRAY')",
        "ds_messages_odd(_messages)",
        "ds_messages_ambiguous(messages, messages)",
        # an error body (an "error" key anywhere in the minified body, even null), or an
        # Anthropic one: Python reads it
        "contains(CAST(response AS VARCHAR), '\"error\":')"
        " OR (dj_type(_response.type) = 'VARCHAR' AND (_response.type ->> '$') = 'message')",
        "dj_content_odd(_choice.message.content)",
        "len(list_filter(_headers, lambda e: dj_header_odd(e.value))) > 0",
        "len(_headers) <> len(list_distinct(list_transform(_headers, lambda e: lower(e.key))))",
        "dj_present(_meta_ua) AND dj_text_odd(_meta_ua)",
        "len(list_filter(["
        + ", ".join(a.replace("'value': dj_stringify", "'value': dj_stringify_odd") for a in attrs)
        + "], lambda e: e.value)) > 0",
        "dj_text_odd(call_type)",
    ]
    add_typed_fields(first_texts, {"int": ints, "float": floats, "bool": bools}, lets, columns, route)
    columns.update(
        {
            "source_format": f"'{FORMAT}'",
            "ts_start": "_ts_start",
            "ts_end": "_ts_end",
            "latency_ms": "CASE WHEN _ts_end IS NOT NULL"
            " THEN CAST(epoch_us(_ts_end) - epoch_us(_ts_start) AS DOUBLE) / 1e6 * 1000"
            " WHEN dj_type(response_time) <> 'NULL' THEN coalesce(dj_float(response_time), 0.0) * 1000 END",
            "end_user_id": "coalesce(dj_text(_j_end_user), dj_text(_j_param_end_user))",
            "user_agent": "CASE WHEN dj_present(_meta_ua) THEN dj_text(_meta_ua) ELSE _header_ua END",
            "endpoint": "CASE CASE WHEN dj_type(call_type) = 'VARCHAR' THEN call_type ->> '$' END"
            f" {endpoints}"
            " ELSE dj_text(call_type) END",
            "model_requested": "coalesce(dj_text(_j_model_requested), dj_text(_j_param_model))",
            "stream": "coalesce(_stream, _param_stream)",
            "input_tokens": "coalesce(_input_tokens, _usage_input)",
            "output_tokens": "coalesce(_output_tokens, _usage_output)",
            "status": "CASE WHEN _failed OR _code >= 400 THEN 'error' ELSE 'success' END",
            "status_code": "coalesce(_code, CASE WHEN _failed THEN NULL ELSE 200 END)",
            "tool_count": "CASE WHEN dj_type(dj_get(model_parameters, 'tools')) = 'ARRAY'"
            " THEN json_array_length(dj_get(model_parameters, 'tools')) ELSE 0 END",
            "message_count": "len(_messages)",
            "prompt_text": "_user_texts[-1]",
            "context_text": "dj_context(_system, _user_texts)",
            "response_text": "dj_content_text(_choice.message.content)",
            "_system_text": "_system",
            "attrs": "map_from_entries(list_filter(["
            + ", ".join(attrs)
            + ", {'key': 'error', 'value': CASE WHEN _failed AND dj_present(_error)"
            " THEN coalesce(dj_text_or_empty(_error_label), '') END}], lambda e: e.value IS NOT NULL))",
            "_headers": "_headers",
        }
    )
    return Mapping(FORMAT, _SQL_KEYS, columns, lets, route)
