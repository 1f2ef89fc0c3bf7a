"""Langfuse observations (``langfuse.to_events``) as SQL: DuckDB reads the export, SQL maps it.

One JSON line is one observation. A GENERATION becomes an event; any other observation type
is quarantined by SQL with the adapter's reason, as is a generation with no account at all.
The columns use the ``dj_*`` helpers of ``declarative`` plus a few of this format's own
(``MACROS``): Langfuse keeps model parameters as strings ("0.3", "300", "true"), which the
adapter reads as numbers and flags, and keeps whatever it does not know as attrs, JSON
objects spelled as Python's ``json.dumps`` spells them (``lf_pyjson``).

An ``input`` or ``output`` held as text that opens like JSON is read as the JSON it holds, as
the adapter reads it. What this mapping is not sure of goes to the Python adapter, record by
record: such text that Python's ``json.loads`` may read otherwise (trailing commas, NaN), JSON
held as text in ``metadata``, ``modelParameters`` or usage, an output in the Chat Completions shape
(``choices``), a float inside a nested attrs value (Python's repr), control characters that
``json.dumps`` escapes in its own case, timestamps other than epoch numbers, RFC 3339 or
ClickHouse's ``2026-02-03 08:00:00.000``, and every field of a type the ``dj_*`` helpers
route. A key written twice in a record makes DuckDB refuse the file, which the adapter then
reads whole. Parquet exports and JSON array documents are read by the same mapping
(``sources``); tests/ingest/test_declarative.py and test_columnar.py hold both paths to
identical rows.
"""

from __future__ import annotations

from typing import Any

from distillguard.fingerprints import strip_sql
from distillguard.ingest.declarative import MESSAGES_SHAPE, Mapping, add_typed_fields
from distillguard.ingest.langfuse import _GENERATIONS, _KNOWN, FORMAT

_SQL_KEYS = tuple(sorted(_KNOWN | {"start_time", "end_time", "projectId"}))
# ISO 8601 as DuckDB and datetime.fromisoformat read it alike: RFC 3339 (the API's spelling), or
# with a space and no offset (ClickHouse's, which Langfuse v3 stores; read as UTC, as the stage
# and the adapter both read a naive time), at most 6 digits of fraction; any other text
# timestamp is read by the Python adapter
_ISO_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
# A number spelled as a plain decimal, perhaps padded with spaces: float() and DuckDB's cast read
# it to the same double, and int(float(...)) of one with at most 15 digits before the point is
# exact. Other spellings (exponents, underscores, other padding, "nan") are the adapter's.
_DECIMAL = r" *-?[0-9]{1,15}(\.[0-9]{1,17})? *"

MACROS = rf"""
-- normalise.as_int / as_float / as_bool of a model parameter, which Langfuse may keep as text
CREATE OR REPLACE MACRO lf_decimal(j) AS CASE WHEN dj_type(j) = 'VARCHAR'
    AND regexp_full_match(j ->> '$', '{_DECIMAL}') THEN CAST(trim(j ->> '$') AS DOUBLE) END;
CREATE OR REPLACE MACRO lf_int(j) AS coalesce(dj_int(j), CAST(trunc(lf_decimal(j)) AS BIGINT));
CREATE OR REPLACE MACRO lf_int_odd(j) AS dj_int_odd(j) AND lf_decimal(j) IS NULL;
CREATE OR REPLACE MACRO lf_float(j) AS coalesce(dj_float(j), lf_decimal(j));
CREATE OR REPLACE MACRO lf_float_odd(j) AS dj_float_odd(j) AND lf_decimal(j) IS NULL;
-- a flag as text: "1", "true" or "yes" (any case, padded with spaces) is true, other text false;
-- text outside printable ASCII is the adapter's (str.strip and str.lower know more spaces and cases)
CREATE OR REPLACE MACRO lf_bool(j) AS CASE WHEN dj_type(j) = 'VARCHAR'
    THEN CASE WHEN (j ->> '$') = '' THEN NULL ELSE lower(trim(j ->> '$')) IN ('1', 'true', 'yes') END
    ELSE dj_bool(j) END;
CREATE OR REPLACE MACRO lf_bool_odd(j) AS dj_type(j) = 'VARCHAR'
    AND NOT regexp_full_match(j ->> '$', '[ -~]*');
-- normalise.stringify (json.dumps, ensure_ascii=False) of an object or list: DuckDB keeps JSON
-- minified, Python puts a space after each separator outside strings
CREATE OR REPLACE MACRO lf_pyjson(text) AS array_to_string(list_transform(
    regexp_extract_all(text, '"(?:[^"\\]|\\.)*"|[^",:]+|[,:]'),
    lambda t: CASE t WHEN ',' THEN ', ' WHEN ':' THEN ': ' ELSE t END), '');
CREATE OR REPLACE MACRO lf_stringify(j) AS CASE WHEN dj_type(j) IN ('ARRAY', 'OBJECT')
    THEN left(lf_pyjson(CAST(j AS VARCHAR)), 2000) ELSE dj_stringify(j) END;
-- a float anywhere in it (Python prints its repr), or a control character DuckDB escapes in
-- upper case (\u001F where Python writes \u001f)
CREATE OR REPLACE MACRO lf_stringify_odd(j) AS CASE WHEN dj_type(j) IN ('ARRAY', 'OBJECT')
    THEN regexp_matches(regexp_replace(CAST(j AS VARCHAR), '"(?:[^"\\]|\\.)*"', '""', 'g'), '[0-9][.eE]')
         OR contains(CAST(j AS VARCHAR), '\u00')
    ELSE dj_type(j) = 'DOUBLE' END;
-- langfuse._obj: an object as it is; text (JSON to parse) and key/value pair lists are the
-- adapter's; anything else reads as an empty object
CREATE OR REPLACE MACRO lf_obj_odd(j) AS dj_type(j) = 'VARCHAR'
    OR (dj_type(j) = 'ARRAY' AND CAST(j AS VARCHAR) <> '[]');
-- langfuse._json: text that opens with {{ or [ and parses is that JSON (minified); other text stays
CREATE OR REPLACE MACRO lf_json_text(j) AS CASE
    WHEN dj_type(j) = 'VARCHAR' AND left(j ->> '$', 1) IN ('{{', '[')
    THEN coalesce(json(TRY_CAST(j ->> '$' AS JSON)), j) ELSE j END;
-- ... where json.loads may read it otherwise than DuckDB: DuckDB accepts trailing commas, NaN and
-- Infinity are floats to Python, an escaped lone surrogate is Python's alone
CREATE OR REPLACE MACRO lf_json_text_odd(j) AS dj_type(j) = 'VARCHAR'
    AND left(j ->> '$', 1) IN ('{{', '[')
    AND regexp_matches(j ->> '$', ',\s*[\]}}]|NaN|Infinity|\\u[dD][89a-fA-F]');
-- normalise.parse_timestamp of an epoch number, or of RFC 3339 text with an offset, in 1990..2200
CREATE OR REPLACE MACRO lf_in_range(t) AS CASE
    WHEN t >= TIMESTAMPTZ '1990-01-01' AND t < TIMESTAMPTZ '2200-01-01' THEN t END;
CREATE OR REPLACE MACRO lf_ts(j) AS CASE WHEN dj_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN dj_ts(j)
    WHEN dj_type(j) = 'VARCHAR' AND regexp_full_match(j ->> '$', '{_ISO_TIMESTAMP}')
    THEN lf_in_range(TRY_CAST(j ->> '$' AS TIMESTAMPTZ)) END;
-- a text input that json.loads might read as a JSON value (normalise.message_list)
CREATE OR REPLACE MACRO lf_text_json(j) AS dj_type(j) = 'VARCHAR'
    AND regexp_matches(j ->> '$', '^[ \t\n\r]*([\[{{"0-9-]|true|false|null|NaN|Infinity)');
"""


def mapping(settings: Any) -> Mapping:
    """``langfuse.to_events`` as SQL (see ``declarative``) for JSON-lines exports."""
    generations = ", ".join(f"'{kind}'" for kind in sorted(_GENERATIONS))
    known = ", ".join(f"'{k}'" for k in sorted(_KNOWN | {"input", "output"}))

    def meta(key: str) -> str:
        return f"dj_get(metadata, '{key}')"

    def param(key: str) -> str:
        return f"dj_get(modelParameters, '{key}')"

    account = "NULL::JSON"
    for value in reversed(
        [
            '"userId"',
            meta("account_id"),
            meta("user_api_key_org_id"),
            meta("user_api_key_team_id"),
            meta("user_api_key_user_id"),
            meta("user_api_key_hash"),
        ]
    ):
        account = f"CASE WHEN dj_present({value}) THEN {value} ELSE {account} END"
    lets = {
        "_kind": 'dj_text("type")',
        "_generation": f"coalesce(_kind IN ({generations}), false)",
        "_account": account,
        "_usage": 'dj_object(dj_first2("usageDetails", "usage"))',
        "_cost": 'dj_object("costDetails")',
        "_ts_start_json": 'dj_first2("startTime", start_time)',
        "_ts_end_json": 'dj_first2("endTime", end_time)',
        "_ts_start": "lf_ts(_ts_start_json)",
        "_ts_end": "lf_ts(_ts_end_json)",
        "_headers": f"dj_headers(dj_first2({meta('headers')}, {meta('requester_custom_headers')}))",
        # langfuse._json: an input or output held as text is read as the JSON it holds when it
        # opens like JSON and parses; json() minifies it as read_json keeps JSON
        "_in": "lf_json_text(input)",
        "_out": "lf_json_text(output)",
        # normalise.message_list of the input: a list, a {"messages": [...]} wrapper, one message,
        # or text (one user turn)
        "_input_keys": "CASE WHEN dj_type(_in) = 'OBJECT'"
        " THEN json_extract(_in, ['$.messages', '$.role']) END",
        "_messages_json": "CASE dj_type(_in) WHEN 'ARRAY' THEN _in"
        " WHEN 'OBJECT' THEN CASE WHEN _input_keys[1] IS NOT NULL"
        " THEN CASE WHEN dj_type(_input_keys[1]) = 'ARRAY' THEN _input_keys[1] ELSE '[]'::JSON END"
        " WHEN _input_keys[2] IS NOT NULL THEN json_array(_in) ELSE '[]'::JSON END"
        " ELSE '[]'::JSON END",
        "_messages": "CASE WHEN dj_type(_in) = 'VARCHAR'"
        " THEN [{'role': 'user', 'content': _in, 'parts': NULL::JSON}]"
        f" ELSE coalesce(json_transform(_messages_json, '{MESSAGES_SHAPE}'), []) END",
        "_user_texts": "ds_user_texts(_messages)",
        "_system": "ds_system_text(_messages)",
        # langfuse._output_text
        "_output_keys": "CASE WHEN dj_type(_out) = 'OBJECT'"
        " THEN json_extract(_out, ['$.content', '$.text', '$.choices']) END",
        "_output_content": "CASE WHEN _output_keys[1] IS NOT NULL THEN _output_keys[1]"
        " ELSE _output_keys[2] END",
        "_output_items": "CASE WHEN dj_type(_out) = 'ARRAY' THEN json_transform(_out, '[\"JSON\"]') END",
        # the record's and the metadata's entries (NULL where the record is no object: routed).
        # A key twice in either (Python keeps the last value) makes DuckDB refuse the whole
        # file, which the adapter then reads: rare enough not to pay a json_keys per record
        "_meta_map": "CASE WHEN dj_type(metadata) = 'OBJECT'"
        " THEN TRY_CAST(metadata AS MAP(VARCHAR, JSON)) END",
        "_top_map": "TRY_CAST(_record AS MAP(VARCHAR, JSON))",
        "_meta_entries": "coalesce(map_entries(_meta_map), [])",
        "_top_entries": "list_filter(coalesce(map_entries(_top_map), []),"
        f" lambda e: e.key NOT IN ({known}))",  # IN: a list literal in a lambda is rebuilt per element
        "_level": "CASE WHEN dj_type(level) = 'VARCHAR' THEN level ->> '$' END",
        "_status_message": "CASE WHEN dj_type(\"statusMessage\") = 'VARCHAR'"
        " AND (\"statusMessage\" ->> '$') <> '' THEN left(\"statusMessage\" ->> '$', 2000) END",
    }
    texts = {  # column -> JSON value read by as_text
        "event_id": "id",
        "account_id": "_account",
        "project_id": f'dj_first2("projectId", {meta("user_api_key_team_id")})',
        "api_key_id": f"dj_first2({meta('api_key_id')}, {meta('user_api_key_hash')})",
        "_meta_end_user": meta("end_user_id"),
        "_param_end_user": f"dj_first2({param('user')}, dj_get({param('metadata')}, 'user_id'))",
        "session_id": 'dj_first2("sessionId", "traceId")',
        "client_ip": f"dj_first2({meta('client_ip')}, {meta('requester_ip_address')})",
        "asn": f"dj_first2({meta('asn')}, dj_get({meta('requester_metadata')}, 'asn'))",
        "country": f"dj_first2({meta('country')}, dj_get({meta('requester_metadata')}, 'country'))",
        "user_agent": meta("user_agent"),
        "model_served": "model",
        "_param_model": param("model"),
        "reasoning_effort": f"dj_first2({param('reasoning_effort')}, dj_get({param('reasoning')}, 'effort'))",
    }
    ints = {
        "input_tokens": 'dj_first3(_usage_input, _usage_prompt, "promptTokens")',
        "output_tokens": 'dj_first3(_usage_output, _usage_completion, "completionTokens")',
        "reasoning_tokens": "dj_first2(dj_get(_usage, 'output_reasoning_tokens'),"
        " dj_get(_usage, 'reasoning_tokens'))",
        "cached_tokens": "dj_first2(dj_get(_usage, 'input_cached_tokens'),"
        " dj_get(_usage, 'cache_read_input_tokens'))",
    }
    lets.update(
        {
            "_usage_input": "dj_get(_usage, 'input')",
            "_usage_prompt": "dj_get(_usage, 'promptTokens')",
            "_usage_output": "dj_get(_usage, 'output')",
            "_usage_completion": "dj_get(_usage, 'completionTokens')",
        }
    )
    floats = {"cost_usd": 'dj_first3(dj_get(_cost, \'total\'), "calculatedTotalCost", "totalCost")'}
    # request_fields of the model parameters: Langfuse's strings read as numbers and flags
    params_int = {
        "max_tokens": f"dj_first2({param('max_completion_tokens')}, {param('max_tokens')})",
        "n": param("n"),
        "seed": param("seed"),
    }
    params_float = {"temperature": param("temperature"), "top_p": param("top_p")}
    params_bool = {
        "stream": param("stream"),
        "logprobs": f"dj_first2({param('logprobs')}, {param('top_logprobs')})",
    }
    route: list[str] = []
    columns: dict[str, str] = {}
    add_typed_fields(texts, {"int": ints, "float": floats}, lets, columns, route)
    for name, value in params_int.items():
        columns[name] = f"lf_int({value})"
        route.append(f"lf_int_odd({value})")
    for name, value in params_float.items():
        columns[name] = f"lf_float({value})"
        route.append(f"lf_float_odd({value})")
    for name, value in params_bool.items():
        columns[name] = f"lf_bool({value})"
        route.append(f"lf_bool_odd({value})")
    # attrs: the keys the adapter does not know, then every metadata entry, each not null
    lets["_top_extra"] = "list_filter(_top_entries, lambda e: dj_type(e.value) <> 'NULL')"
    lets["_meta_extra"] = "list_filter(_meta_entries, lambda e: dj_type(e.value) <> 'NULL')"
    lets["_entries"] = (
        "list_concat("
        "list_transform(_top_extra, lambda e: {'key': e.key, 'value': lf_stringify(e.value)}),"
        " list_transform(_meta_extra,"
        " lambda e: {'key': 'metadata.' || e.key, 'value': lf_stringify(e.value)}),"
        " CASE WHEN _status_message IS NOT NULL"
        " THEN [{'key': 'statusMessage', 'value': _status_message}] ELSE [] END)"
    )
    route += [
        # required_text: a present value must be surely not blank text (absent is quarantined)
        "dj_type(id) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
        f" OR coalesce({strip_sql('dj_text(id)')}, '') = ''",
        "_account IS NOT NULL AND (dj_type(_account) NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
        f" OR coalesce({strip_sql('dj_text(_account)')}, '') = '')",
        "_ts_start IS NULL",
        "_ts_end_json IS NOT NULL AND _ts_end IS NULL",
        'lf_obj_odd(metadata) OR lf_obj_odd(dj_first2("usageDetails", "usage"))'
        ' OR lf_obj_odd("costDetails") OR lf_obj_odd("modelParameters")',
        "lf_json_text_odd(input) OR lf_json_text_odd(output)",
        "lf_text_json(_in)",
        "ds_messages_odd(_messages)",
        "ds_messages_ambiguous(_messages_json, _messages_json)",
        # output: JSON in text, a Chat Completions body, or parts Python prints with str()
        "dj_type(_out) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN')",
        "dj_type(_out) = 'VARCHAR' AND left(_out ->> '$', 1) IN ('{', '[')",  # JSON-like, unparsed
        "_output_keys[3] IS NOT NULL OR dj_content_odd(_output_content)",
        "len(list_filter(_output_items, lambda m: dj_type(m) NOT IN ('OBJECT', 'VARCHAR')"
        " OR dj_content_odd(json_extract(m, '$.content')))) > 0",
        "dj_type(\"statusMessage\") NOT IN ('NULL', 'VARCHAR')",
        "len(list_filter(_top_extra, lambda e: lf_stringify_odd(e.value))) > 0",
        "len(list_filter(_meta_extra, lambda e: lf_stringify_odd(e.value))) > 0",
        "_top_map IS NULL OR (dj_type(metadata) = 'OBJECT' AND _meta_map IS NULL)",
        "len(list_filter(_headers, lambda e: dj_header_odd(e.value))) > 0",
        "len(_headers) <> len(list_distinct(list_transform(_headers, lambda e: lower(e.key))))",
    ]
    # a generation only: any other observation type is quarantined before a field is read
    route = [
        "left(CAST(_record AS VARCHAR), 1) <> '{'",  # not an object: the adapter's reason
        'dj_text_odd("type") OR length(_kind) > 900',  # str() of a float; a reason past its cut
        *(f"_generation AND coalesce(({condition}), false)" for condition in route),
    ]
    type_reason = (
        "'observation type ' || coalesce(_kind, '(none)') || ' is not a model call (only GENERATION is)'"
    )
    reason = (
        f"CASE WHEN NOT _generation THEN {type_reason}"
        " WHEN _account IS NULL THEN 'missing required field userId' END"
    )
    columns.update(
        {
            "source_format": f"'{FORMAT}'",
            "ts_start": "_ts_start",
            "ts_end": "_ts_end",
            "latency_ms": "CASE WHEN _ts_end IS NOT NULL"
            " THEN CAST(epoch_us(_ts_end) - epoch_us(_ts_start) AS DOUBLE) / 1e6 * 1000 END",
            "model_requested": "coalesce(dj_text(_jmodel_served), dj_text(_j_param_model))",
            "end_user_id": "coalesce(dj_text(_j_meta_end_user), dj_text(_j_param_end_user))",
            "status": "CASE WHEN _level = 'ERROR' THEN 'error' ELSE 'success' END",
            "tool_count": f"CASE WHEN dj_type({param('tools')}) = 'ARRAY'"
            f" THEN json_array_length({param('tools')}) ELSE 0 END",
            "message_count": "len(_messages)",
            "prompt_text": "_user_texts[-1]",
            "context_text": "dj_context(_system, _user_texts)",
            "_system_text": "_system",
            "response_text": "CASE dj_type(_out) WHEN 'VARCHAR' THEN _out ->> '$'"
            " WHEN 'OBJECT' THEN dj_content_text(_output_content)"
            " WHEN 'ARRAY' THEN nullif(array_to_string(list_filter(list_transform(_output_items,"
            " lambda m: CASE dj_type(m) WHEN 'OBJECT' THEN dj_content_text(json_extract(m, '$.content'))"
            " WHEN 'VARCHAR' THEN m ->> '$' END), lambda t: t IS NOT NULL AND t <> ''), chr(10)), '') END",
            # a key twice (a top-level key spelled "metadata.x") makes map_from_entries refuse
            # the file; the adapter then reads it
            "attrs": "map_from_entries(_entries)",
            "_headers": "_headers",
            "_reason": reason,
            "_excerpt": f"CASE WHEN ({reason}) IS NOT NULL THEN left(CAST(_record AS VARCHAR), 512) END",
        }
    )
    return Mapping(FORMAT, _SQL_KEYS, columns, lets, route, whole_record=True, macros=MACROS)
