"""OTel GenAI spans (``otel.to_events``) as SQL: DuckDB unnests the OTLP tree and maps each span.

One OTLP/JSON line holds ``resourceSpans -> scopeSpans -> spans``; DuckDB parses the line
once into structs (``_SHAPE``: attribute values as small JSON leaves), flattens it to one row
per span (carrying its resource attributes and scope name) and reads every attribute by key
from two parallel lists (``list_position``: no lambda per lookup). ``do_value`` is
``otel.any_value``, read once per attribute into its JSON kind and text; the columns use the
``ov_*`` helpers over that pair, which mean what the ``dj_*`` helpers of the LiteLLM mapping
mean over a JSON value.

What this mapping does not know goes to the Python adapter, by line (a line is one
``to_events`` call): a shape other than the OTLP tree (``_SHAPE_ODD``, read from the line's
text as DuckDB writes it), a JSON null where Python tells null from absent, value
kinds it leaves out (kvlist, bytes, nested arrays), OpenLLMetry's indexed
``gen_ai.prompt.N.*`` attributes, JSON text that Python's ``json.loads`` may read
differently from DuckDB's, content held other than as a string, and any field of a type the
``ov_*`` helpers route. The
quarantines Python words simply (no spans, missing span id, timestamp or account) are
written by SQL with the same reason. tests/ingest/test_declarative.py (simulated spans,
damaged files) and test_declarative_otel.py (odd shapes) hold both paths to identical rows.
"""

from __future__ import annotations

from typing import Any

from distillguard.ingest.declarative import Mapping, add_typed_fields
from distillguard.ingest.otel import _CONTENT_KEYS, _HEADER, _MAPPED, ANY_VALUE_KINDS, FORMAT

# a string value read as text by the parse itself (_SHAPE_ODD routes a stringValue of another kind,
# and _NULL_ODD a null one); the other kinds as small JSON leaves, whose kind is looked up
_TEXT_KINDS = ("stringValue", "intValue")
_LEAF = (
    "{" + ", ".join(f'"{k}": "{"VARCHAR" if k in _TEXT_KINDS else "JSON"}"' for k in ANY_VALUE_KINDS) + "}"
)
_VALUE = _LEAF.replace('"arrayValue": "JSON"', '"arrayValue": {"values": [' + _LEAF + "]}")
_ATTRS = '[{"key": "VARCHAR", "value": ' + _VALUE + "}]"
_SPAN = (
    '{"traceId": "JSON", "spanId": "JSON", "name": "JSON", "startTimeUnixNano": "JSON",'
    f' "endTimeUnixNano": "JSON", "attributes": {_ATTRS},'
    f' "events": [{{"name": "JSON", "attributes": {_ATTRS}}}], "status": {{"code": "JSON"}}}}'
)
_SHAPE = (
    f'{{"resourceSpans": [{{"resource": {{"attributes": {_ATTRS}}},'
    f' "scopeSpans": [{{"scope": {{"name": "JSON"}}, "spans": [{_SPAN}]}}]}}]}}'
)

# Read from the line's text, which is DuckDB's own writing of the parsed line (minified, escapes
# decoded: a key is spelled "key": and a quote inside a string is \"), so a key is found by its
# name: a value of another kind than the OTLP tree's, where json_transform would read NULL or an
# empty struct and Python would read something else (lists of objects, objects, strings); value
# kinds and layouts this mapping leaves to Python (kvlist and bytes values, the pre-1.0
# instrumentationLibrary names, OpenLLMetry's indexed prompt/completion and function
# attributes). Every branch opens with a quote, which RE2 skips to. A line flagged here, by
# _LIST_ODD or by _NULL_ODD goes whole to the adapter.
_SHAPE_ODD = (
    '"(scopeSpans|spans|attributes|events|values)":([^[]|\\[[^{\\]])'
    '|"(resource|scope|value|arrayValue|status)":[^{]'
    '|"(key|name|stringValue)":[^"]'
    '|"(kvlistValue|bytesValue)"|"instrumentationLibrary'
    '|"gen_ai\\.(prompt|completion)\\.[0-9]|"gen_ai\\.request\\.functions\\.'
)
# an element after an object in a list of objects that is no object: a string not followed by ':'
# as a key is, or no string (a backslash or a space after '},' is inside a string: the line has
# no space outside its strings)
_LIST_ODD = '\\},("([^"\\\\]|\\\\.)*"[,\\]]|[^"{\\\\\\s])'
# null where Python tells a null key from an absent one, or a null list element from an object;
# searched only in a line holding a null (_NULLS)
_NULL_ODD = '"(' + "|".join((*ANY_VALUE_KINDS, "key", "values")) + ')":null|[\\[,]null[,\\]]'
# JSON text inside a string attribute that Python's json.loads may read otherwise than DuckDB
# (DuckDB accepts trailing commas; NaN and Infinity)
_INNER_ODD = ",\\s*[\\]}]|NaN|Infinity"

MACROS = r"""
-- an intValue is read as text: a JSON string as it is, a number as DuckDB writes it (512, 512.5,
-- 1e+20); Python's int() reads the same integer from those this accepts, the rest are Python's
CREATE OR REPLACE MACRO do_int_text(t) AS regexp_full_match(t, '-?[0-9]{1,18}');
-- otel.any_value of one AnyValue struct (kinds first to last, as Python checks them)
CREATE OR REPLACE MACRO do_scalar(v) AS CASE
    WHEN v.stringValue IS NOT NULL THEN to_json(v.stringValue)
    WHEN v.intValue IS NOT NULL THEN CASE
        WHEN do_int_text(v.intValue) THEN CAST(TRY_CAST(v.intValue AS BIGINT) AS JSON) END
    WHEN v.doubleValue IS NOT NULL THEN v.doubleValue
    WHEN v.boolValue IS NOT NULL THEN v.boolValue END;
CREATE OR REPLACE MACRO do_scalar_odd(v) AS v.stringValue IS NULL AND (
    (v.intValue IS NOT NULL AND NOT do_int_text(v.intValue))
    OR (v.intValue IS NULL AND v.doubleValue IS NULL AND v.boolValue IS NULL
        AND v.arrayValue IS NOT NULL));
CREATE OR REPLACE MACRO do_any(v) AS CASE
    WHEN v.stringValue IS NULL AND v.intValue IS NULL AND v.doubleValue IS NULL AND v.boolValue IS NULL
         AND v.arrayValue IS NOT NULL
    THEN to_json(list_transform(coalesce(v.arrayValue."values", []), lambda e: do_scalar(e)))
    ELSE do_scalar(v) END;
CREATE OR REPLACE MACRO do_any_odd(v) AS CASE
    WHEN v.stringValue IS NULL AND v.intValue IS NULL AND v.doubleValue IS NULL AND v.boolValue IS NULL
         AND v.arrayValue IS NOT NULL
    THEN len(list_filter(coalesce(v.arrayValue."values", []), lambda e: do_scalar_odd(e)
        OR (e.stringValue IS NULL AND e.intValue IS NULL AND e.doubleValue IS NULL
            AND e.boolValue IS NULL))) > 0
    ELSE do_scalar_odd(v) END;
-- do_any read once into {t: its JSON kind, s: its text (``->> '$'``)}: every later use reads
-- the two fields (``ov_*``) instead of parsing the JSON value again
CREATE OR REPLACE MACRO do_value(v) AS CASE
    WHEN v.stringValue IS NOT NULL THEN {'t': 'VARCHAR', 's': v.stringValue}
    WHEN v.intValue IS NOT NULL THEN CASE
        WHEN do_int_text(v.intValue)
        THEN {'t': 'BIGINT', 's': CAST(TRY_CAST(v.intValue AS BIGINT) AS VARCHAR)} END
    WHEN v.doubleValue IS NOT NULL THEN {'t': dj_type(v.doubleValue), 's': v.doubleValue ->> '$'}
    WHEN v.boolValue IS NOT NULL THEN {'t': dj_type(v.boolValue), 's': v.boolValue ->> '$'}
    WHEN v.arrayValue IS NOT NULL THEN {'t': 'ARRAY', 's': CAST(to_json(list_transform(
        coalesce(v.arrayValue."values", []), lambda e: do_scalar(e))) AS VARCHAR)}
    END;
-- otel.attributes: kept entries (a key), values read once (do_value), odd kinds flagged
CREATE OR REPLACE MACRO do_attributes(items) AS list_transform(
    list_filter(coalesce(items, []), lambda a: a.key IS NOT NULL),
    lambda a: {'k': a.key, 'v': do_value(a.value), 'odd': do_any_odd(a.value)});
CREATE OR REPLACE MACRO do_get(attrs, keys, key) AS attrs[list_position(keys, key)].v;
-- the dj_* helpers of declarative over a do_value pair (NULL: absent), same meaning; casts are
-- TRY_: DuckDB may hoist a repeated cast out of its CASE branch and run it on every row
CREATE OR REPLACE MACRO ov_t(x) AS coalesce(x.t, 'NULL');
CREATE OR REPLACE MACRO ov_of_json(j) AS {'t': dj_type(j), 's': j ->> '$'};
CREATE OR REPLACE MACRO ov_present(x) AS CASE ov_t(x)
    WHEN 'NULL' THEN false WHEN 'VARCHAR' THEN x.s <> '' WHEN 'ARRAY' THEN x.s <> '[]'
    WHEN 'OBJECT' THEN x.s <> '{}' ELSE true END;
CREATE OR REPLACE MACRO ov_first2(a, b) AS CASE WHEN ov_present(a) THEN a WHEN ov_present(b) THEN b END;
CREATE OR REPLACE MACRO ov_first3(a, b, c) AS CASE WHEN ov_present(a) THEN a WHEN ov_present(b) THEN b
    WHEN ov_present(c) THEN c END;
CREATE OR REPLACE MACRO ov_text(x) AS CASE ov_t(x)
    WHEN 'VARCHAR' THEN nullif(x.s, '') WHEN 'BIGINT' THEN x.s WHEN 'UBIGINT' THEN x.s END;
CREATE OR REPLACE MACRO ov_text_odd(x) AS ov_t(x) IN ('BOOLEAN', 'DOUBLE');
CREATE OR REPLACE MACRO ov_int(x) AS CASE WHEN ov_t(x) IN ('BIGINT', 'UBIGINT')
    THEN TRY_CAST(x.s AS BIGINT) END;
CREATE OR REPLACE MACRO ov_int_odd(x) AS NOT (ov_t(x) = 'NULL'
    OR (ov_t(x) IN ('BIGINT', 'UBIGINT') AND TRY_CAST(x.s AS BIGINT) IS NOT NULL)
    OR (ov_t(x) = 'VARCHAR' AND x.s = ''));
CREATE OR REPLACE MACRO ov_float(x) AS CASE WHEN ov_t(x) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
    THEN TRY_CAST(x.s AS DOUBLE) END;
CREATE OR REPLACE MACRO ov_float_odd(x) AS NOT (ov_t(x) IN ('NULL', 'BIGINT', 'UBIGINT', 'DOUBLE')
    OR (ov_t(x) = 'VARCHAR' AND x.s = ''));
CREATE OR REPLACE MACRO ov_bool(x) AS CASE ov_t(x)
    WHEN 'BOOLEAN' THEN TRY_CAST(x.s AS BOOLEAN)
    WHEN 'BIGINT' THEN TRY_CAST(x.s AS DOUBLE) <> 0 WHEN 'UBIGINT' THEN x.s <> '0'
    WHEN 'DOUBLE' THEN TRY_CAST(x.s AS DOUBLE) <> 0
    WHEN 'ARRAY' THEN x.s <> '[]' WHEN 'OBJECT' THEN x.s <> '{}' END;
CREATE OR REPLACE MACRO ov_bool_odd(x) AS ov_t(x) = 'VARCHAR' AND x.s <> '';
CREATE OR REPLACE MACRO ov_stringify(x) AS CASE ov_t(x)
    WHEN 'VARCHAR' THEN left(x.s, 2000)
    WHEN 'BOOLEAN' THEN x.s WHEN 'BIGINT' THEN x.s WHEN 'UBIGINT' THEN x.s
    WHEN 'ARRAY' THEN CASE WHEN x.s = '[]' THEN '[]' END
    WHEN 'OBJECT' THEN CASE WHEN x.s = '{}' THEN '{}' END END;
CREATE OR REPLACE MACRO ov_stringify_odd(x) AS ov_t(x) <> 'NULL' AND ov_stringify(x) IS NULL;
-- otel._json of a value: the JSON a string holds (NULL when it holds none, or is no string);
-- a content value other than a string is the adapter's (``_content_odd`` routes it)
CREATE OR REPLACE MACRO ov_json(x) AS CASE WHEN ov_t(x) = 'VARCHAR' THEN TRY_CAST(x.s AS JSON) END;
CREATE OR REPLACE MACRO do_content_raw_odd(x) AS ov_t(x) NOT IN ('NULL', 'VARCHAR');
-- ... and JSON text Python's json.loads may read otherwise than DuckDB
CREATE OR REPLACE MACRO do_json_odd(x, parsed) AS parsed IS NOT NULL AND regexp_matches(x.s, '__INNER_ODD__');
-- normalise.message_list of a string value (``raw``; ``parsed``: the JSON it holds) as
-- {role, content, parts} structs, content resolved as the adapter reads it: ``mode`` 0
-- content else parts, 1 parts else content (otel._parts_messages), 2 content only (outputs)
CREATE OR REPLACE MACRO do_content(m, mode) AS CASE mode
    WHEN 0 THEN coalesce(m.content, m.parts) WHEN 1 THEN coalesce(m.parts, m.content) ELSE m.content END;
CREATE OR REPLACE MACRO do_messages(parsed, kind, raw, mode) AS CASE
    WHEN ov_t(raw) = 'VARCHAR' AND parsed IS NULL
        THEN [{'role': 'user', 'content': to_json(raw.s), 'parts': NULL::JSON}]
    WHEN kind = 'ARRAY' THEN list_transform(
        json_transform(parsed, '[{"role": "VARCHAR", "content": "JSON", "parts": "JSON"}]'),
        lambda m: {'role': m.role, 'content': do_content(m, mode), 'parts': NULL::JSON})
    WHEN kind = 'VARCHAR' AND mode = 1
        THEN [{'role': 'user', 'content': parsed, 'parts': NULL::JSON}]
    END;
-- a message whose null content (mode 0) or parts (mode 1) Python tells from an absent one, with
-- the other key present (struct fields read both as NULL); the text test keeps it off the hot path
CREATE OR REPLACE MACRO do_messages_ambiguous(parsed, kind, mode) AS CASE
    WHEN mode IN (0, 1) AND kind = 'ARRAY'
         AND regexp_matches(CAST(parsed AS VARCHAR), '"(content|parts)"\s*:\s*null')
    THEN len(list_filter(dj_list(parsed), lambda m:
        json_type(m, CASE WHEN mode = 0 THEN '$.content' ELSE '$.parts' END) = 'NULL'
        AND coalesce(json_type(m, CASE WHEN mode = 0 THEN '$.parts' ELSE '$.content' END), 'NULL')
            <> 'NULL')) > 0
    ELSE false END;
-- a JSON object (``{"messages": ...}``), or JSON text inside JSON text
CREATE OR REPLACE MACRO do_messages_odd(parsed, kind, mode) AS kind = 'OBJECT'
    OR (mode = 1 AND kind = 'VARCHAR' AND TRY_CAST(parsed ->> '$' AS JSON) IS NOT NULL);
-- normalise.content_text of a message's content (JSON) with fewer parses: in a line holding no
-- null (``nulls`` false), an absent key and a JSON null cannot be told apart, so a part list whose
-- merged structure is a list of objects, with type, text and content strings where present, is
-- read as typed structs in one pass; anything else is read by dj_content_text, part by part
-- (each of its JSON calls parses the part again)
CREATE OR REPLACE MACRO do_parts_plain(structure) AS starts_with(structure, '[{')
    AND NOT regexp_matches(structure,
        '"(type|text|content)":("(BIGINT|UBIGINT|DOUBLE|BOOLEAN|JSON|NULL)"|\[|\{)');
CREATE OR REPLACE MACRO do_parts_text(c) AS dj_joined(list_filter(list_transform(
    json_transform(c, '[{"type": "VARCHAR", "text": "VARCHAR", "content": "VARCHAR"}]'),
    lambda p: CASE WHEN coalesce(p.type, 'text') IN ('text', 'input_text', 'output_text')
                   THEN coalesce(p.text, p.content) END),
    lambda t: t IS NOT NULL), chr(10));
CREATE OR REPLACE MACRO do_content_text(c, nulls) AS CASE
    WHEN NOT nulls AND dj_type(c) = 'VARCHAR' THEN c ->> '$'
    WHEN NOT nulls AND dj_type(c) = 'ARRAY' AND do_parts_plain(json_structure(c)) THEN do_parts_text(c)
    ELSE dj_content_text(c) END;
-- ds_user_texts and ds_system_text of declarative through do_content_text
CREATE OR REPLACE MACRO do_user_texts(msgs, nulls) AS list_filter(list_transform(msgs,
    lambda m: CASE WHEN m.role = 'user' THEN do_content_text(m.content, nulls) END),
    lambda t: t IS NOT NULL);
CREATE OR REPLACE MACRO do_system_text(msgs, nulls) AS dj_joined(list_filter(list_transform(msgs,
    lambda m: CASE WHEN m.role IN ('system', 'developer') THEN do_content_text(m.content, nulls) END),
    lambda t: t IS NOT NULL AND t <> ''), chr(10));
CREATE OR REPLACE MACRO do_contents_odd(msgs) AS
    len(list_filter(coalesce(msgs, []), lambda m: dj_content_odd(m.content))) > 0;
-- span status: otel's (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR")
CREATE OR REPLACE MACRO do_status_error(code) AS CASE dj_type(code)
    WHEN 'VARCHAR' THEN (code ->> '$') = 'STATUS_CODE_ERROR'
    WHEN 'BIGINT' THEN (code ->> '$') = '2' WHEN 'UBIGINT' THEN (code ->> '$') = '2'
    WHEN 'DOUBLE' THEN CAST(code ->> '$' AS DOUBLE) = 2 ELSE false END;
-- normalise.parse_timestamp of OTLP's epoch nanoseconds (a digit string or a number)
CREATE OR REPLACE MACRO do_ts(j) AS CASE
    WHEN dj_type(j) = 'VARCHAR' AND regexp_full_match(j ->> '$', '[0-9]{1,19}') THEN CASE
        WHEN dg_epoch_int(TRY_CAST(j ->> '$' AS BIGINT)) >= TIMESTAMP '1990-01-01'
             AND dg_epoch_int(TRY_CAST(j ->> '$' AS BIGINT)) < TIMESTAMP '2200-01-01'
        THEN CAST(dg_epoch_int(TRY_CAST(j ->> '$' AS BIGINT)) AS TIMESTAMPTZ) END
    WHEN dj_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN dj_ts(j) END;
CREATE OR REPLACE MACRO do_ts_absent(j) AS dj_type(j) = 'NULL'
    OR (dj_type(j) = 'VARCHAR' AND (j ->> '$') = '');
-- normalise.required_text: readable as text and surely not blank (a printable ASCII
-- character; anything else Python strips and judges)
CREATE OR REPLACE MACRO do_required_ok(x) AS ov_t(x) IN ('BIGINT', 'UBIGINT')
    OR (ov_t(x) = 'VARCHAR' AND regexp_matches(x.s, '[!-~]'));
""".replace("__INNER_ODD__", _INNER_ODD)


def _read() -> str:
    """One row per span (``_item``), or one row for a line that yields none (``_line_reason``); the
    line's first 512 characters (``_head``) are carried for a quarantine's excerpt, not the line.

    The tree is unnested a level at a time (``unnest`` hands each element on as it is): a list of
    one struct per span built with lambdas copied every span, its events and its resource's
    attributes."""
    spans = (
        "coalesce(list_sum(list_transform(_r.resourceSpans, lambda rs: coalesce(list_sum(list_transform("
        "coalesce(rs.scopeSpans, []), lambda ss: len(coalesce(ss.spans, [])))), 0))), 0)"
    )

    def each(items: str) -> str:
        return f"unnest(CASE WHEN _line_reason IS NULL THEN {items} ELSE [NULL] END)"

    carried = "_line, _odd_line, _nulls, _clean, _head, _line_reason"
    return f"""
    SELECT {carried}, {{'span': _sp, 'resource': _res, 'scope': _scope}} AS _item
    FROM (SELECT {carried}, _res, _ss.scope.name AS _scope, {each("coalesce(_ss.spans, [])")} AS _sp
    FROM (SELECT {carried}, _rs.resource.attributes AS _res, {each("coalesce(_rs.scopeSpans, [])")} AS _ss
    FROM (SELECT {carried}, {each("_r.resourceSpans")} AS _rs
    FROM (
        SELECT _line, _r, left(_text, 512) AS _head, {_NULLS} AS _nulls, {_CLEAN} AS _clean,
               CASE WHEN _r.resourceSpans IS NULL THEN 'resourceSpans: expected a list'
                    WHEN {spans} = 0 THEN 'no spans in this OTLP request' END AS _line_reason,
               NOT starts_with(_text, '{{') OR regexp_matches(_text, '{_SHAPE_ODD}')
               OR regexp_matches(_text, '{_LIST_ODD}')
               OR CASE WHEN {_NULLS} THEN regexp_matches(_text, '{_NULL_ODD}') ELSE false END AS _odd_line
        FROM (
            SELECT _line, CAST(json AS VARCHAR) AS _text, json_transform(json, '{_SHAPE}') AS _r
            FROM (SELECT row_number() OVER () AS _line, json
                  FROM {{records}})
        )
    ))))"""


# A JSON null anywhere in the line, its message lists included, spells 'null' in its text: the text
# is DuckDB's own writing of the parsed line (minified, escapes decoded), so no escaped letter
# (n\u0075ll) hides one
_NULLS = "contains(_text, 'null')"

# No string of the line holds a character wire.clean_text drops, so no text mapped from it does:
# DuckDB writes a C0 control character in a string as \b, \f or \u00XX (\n, \r and \t are kept by
# the cleaning), DEL and C1 either so or as they are; JSON text held in a string writes its own
# escapes with one more backslash, which the same searches find. A line that may hold one has
# its texts cleaned one by one (mapped.stage_sql).
_CLEAN = (
    "NOT (contains(_text, '\\u00') OR contains(_text, '\\b') OR contains(_text, '\\f')"
    " OR contains(_text, chr(127))"
    # C1 only where a character is not ASCII (about a tenth of simulated lines): a CASE, as OR in a
    # projection evaluates both sides on every row
    " OR CASE WHEN strlen(_text) = length(_text) THEN false"
    " ELSE regexp_matches(_text, '[\\x{80}-\\x{9f}]') END)"
)

_EVENT_NAMES = {"prompt": "gen_ai.content.prompt", "completion": "gen_ai.content.completion"}


def mapping(settings: Any) -> Mapping:
    """``otel.to_events`` as SQL (see module doc)."""

    def get(key: str) -> str:
        return f"do_get(_attrs, _keys, '{key}')"

    def has(key: str) -> str:
        return f"list_contains(_keys, '{key}')"

    mapped = ", ".join(f"'{k}'" for k in sorted(_MAPPED | set(_CONTENT_KEYS)))
    lets: dict[str, str] = {
        "_span": "_item.span",
        "_attrs": "do_attributes(_item.span.attributes)",
        "_resource": "do_attributes(_item.resource)",
        "_events": "coalesce(_item.span.events, [])",
        "_keys": "list_transform(_attrs, lambda a: a.k)",
        "_resource_keys": "list_transform(_resource, lambda a: a.k)",
        "_ts_start": "do_ts(_span.startTimeUnixNano)",
        "_ts_end": "do_ts(_span.endTimeUnixNano)",
        "_span_text": "CASE WHEN dj_type(_span.spanId) = 'VARCHAR' THEN _span.spanId ->> '$' END",
        "_account": f"ov_first3({get('user.id')}, {get('account.id')}, {get('enduser.id')})",
        "_service": "do_get(_resource, _resource_keys, 'service.name')",
        "_failed": f"do_status_error(_span.status.code) OR {has('error.type')}",
        "_system_raw": get("gen_ai.system_instructions"),
        "_system_json": "ov_json(_system_raw)",
        "_tools_raw": get("gen_ai.tool.definitions"),
        "_tools": "ov_json(_tools_raw)",
        "_finish_raw": get("gen_ai.response.finish_reasons"),
        "_finish": "CASE WHEN ov_t(_finish_raw) = 'ARRAY'"
        " THEN ov_of_json(json_extract(_finish_raw.s, '$[0]')) ELSE _finish_raw END",
        # header values as JSON (the shared SDK fingerprint reads them so); few spans carry any
        "_headers": "list_transform(list_filter(_item.span.attributes, lambda a: starts_with(a.key, '"
        + _HEADER
        + "')),"
        f" lambda a: {{'key': a.key[{len(_HEADER) + 1}:], 'value': do_any(a.value)}})",
    }
    # inputs and outputs: the newer attribute, else the older one, else the older span event
    for side, new in (("prompt", "gen_ai.input.messages"), ("completion", "gen_ai.output.messages")):
        event = f"list_filter(_events, lambda e: (e.name ->> '$') = '{_EVENT_NAMES[side]}')[-1].attributes"
        lets[f"_{side}_event"] = f"do_attributes({event})"
        lets[f"_{side}_event_keys"] = f"list_transform(_{side}_event, lambda a: a.k)"
        old = f"gen_ai.{side}"
        lets[f"_{side}_raw"] = (
            f"CASE WHEN {has(new)} THEN {get(new)} WHEN {has(old)} THEN {get(old)}"
            f" ELSE do_get(_{side}_event, _{side}_event_keys, '{old}') END"
        )
        # otel._parts_messages for the newer attribute; older outputs are read by content only
        lets[f"_{side}_mode"] = f"CASE WHEN {has(new)} THEN 1 ELSE {0 if side == 'prompt' else 2} END"
        lets[f"_{side}_parsed"] = f"ov_json(_{side}_raw)"
        # its kind read once: each json_type of a JSON value parses all of it again
        lets[f"_{side}_kind"] = f"dj_type(_{side}_parsed)"
        lets[f"_{side}_messages"] = (
            f"coalesce(do_messages(_{side}_parsed, _{side}_kind, _{side}_raw, _{side}_mode), [])"
        )
    lets["_user_texts"] = "do_user_texts(_prompt_messages, _nulls)"
    lets["_message_system"] = "do_system_text(_prompt_messages, _nulls)"
    lets["_instructions"] = (
        f"CASE WHEN {has('gen_ai.system_instructions')} THEN CASE WHEN _system_json IS NULL"
        " THEN _system_raw.s ELSE dj_content_text(_system_json) END END"
    )
    lets["_system"] = "coalesce(nullif(_instructions, ''), _message_system)"
    texts = {
        "project_id": f"ov_first2({get('project.id')}, {get('gen_ai.openai.request.project')})",
        "api_key_id": get("api_key.id"),
        "end_user_id": f"ov_first2({get('enduser.pseudo.id')}, {get('enduser.id')})",
        "session_id": f"ov_first2({get('gen_ai.conversation.id')}, {get('session.id')})",
        "client_ip": get("client.address"),
        "asn": get("client.asn"),
        "country": get("client.geo.country_iso_code"),
        "user_agent": get("user_agent.original"),
        "endpoint": f"ov_first2({get('url.path')}, {get('http.route')})",
        "model_requested": get("gen_ai.request.model"),
        "model_served": f"ov_first2({get('gen_ai.response.model')}, {get('gen_ai.request.model')})",
        "reasoning_effort": f"ov_first2({get('gen_ai.request.reasoning_effort')},"
        f" {get('gen_ai.openai.request.reasoning_effort')})",
        "finish_reason": "_finish",
    }

    def usage(*names: str) -> str:
        values = [get(n) for n in names]
        return values[0] if len(values) == 1 else (f"ov_first{len(values)}(" + ", ".join(values) + ")")

    ints = {
        "max_tokens": get("gen_ai.request.max_tokens"),
        "n": get("gen_ai.request.choice.count"),
        "seed": get("gen_ai.request.seed"),
        "_code": get("http.response.status_code"),
        "input_tokens": usage("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        "output_tokens": usage("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        "reasoning_tokens": usage(
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.output_tokens.reasoning",
            "gen_ai.usage.reasoning_tokens",
        ),
        "cached_tokens": usage(
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "gen_ai.usage.input_tokens.cached",
        ),
    }
    floats = {
        "temperature": get("gen_ai.request.temperature"),
        "top_p": get("gen_ai.request.top_p"),
        "cost_usd": f"ov_first2({get('gen_ai.usage.cost')}, {get('llm.usage.cost')})",
    }
    bools = {"stream": get("gen_ai.request.stream")}
    columns: dict[str, str] = {}
    # (IN, not list_contains of a list literal: inside a lambda that rebuilds the list per element)
    # attrs: what the span carries beyond the columns, then its resource, scope and names
    kept = (
        f"a.k NOT IN ({mapped}) AND NOT starts_with(a.k, '{_HEADER}')"
        " AND NOT starts_with(a.k, 'gen_ai.usage.') AND NOT starts_with(a.k, 'gen_ai.prompt.')"
        " AND NOT starts_with(a.k, 'gen_ai.completion.') AND a.v IS NOT NULL"
    )
    lets["_extra"] = f"list_filter(_attrs, lambda a: {kept})"
    lets["_resource_extra"] = "list_filter(_resource, lambda a: a.v IS NOT NULL)"
    scope = "_item.scope"
    entries = (
        "list_concat(list_transform(_extra, lambda a: {'key': a.k, 'value': ov_stringify(a.v)}),"
        " list_transform(_resource_extra, lambda a: {'key': 'resource.' || a.k, 'value': ov_stringify(a.v)}),"
        f" CASE WHEN dj_type({scope}) = 'VARCHAR' AND ({scope} ->> '$') <> ''"
        f" THEN [{{'key': 'scope.name', 'value': {scope} ->> '$'}}] ELSE [] END,"
        " CASE WHEN dj_type(_span.name) <> 'NULL'"
        " THEN [{'key': 'span.name', 'value': dj_stringify(_span.name)}]"
        " ELSE [] END,"
        " CASE WHEN dj_type(_span.traceId) = 'VARCHAR' AND (_span.traceId ->> '$') <> ''"
        " THEN [{'key': 'trace_id', 'value': _span.traceId ->> '$'}] ELSE [] END)"
    )
    lets["_entries"] = entries
    route = [
        "_odd_line",
        "len(list_filter(_attrs, lambda a: a.odd)) > 0",
        "len(list_filter(_resource, lambda a: a.odd)) > 0",
        "len(list_filter(_prompt_event, lambda a: a.odd)) > 0",
        "len(list_filter(_completion_event, lambda a: a.odd)) > 0",
        # a key twice (Python keeps the last), or an attrs key the resource, scope or names overwrite
        "len(list_distinct(_keys)) <> len(_keys)",
        "len(list_distinct(_resource_keys)) <> len(_resource_keys)",
        "len(list_filter(_keys, lambda k: starts_with(k, 'resource.')"
        " OR k IN ('scope.name', 'span.name', 'trace_id'))) > 0",
        "len(list_filter(_extra, lambda a: ov_stringify_odd(a.v))) > 0",
        "len(list_filter(_resource_extra, lambda a: ov_stringify_odd(a.v))) > 0",
        f"dj_type({scope}) NOT IN ('NULL', 'VARCHAR')",
        "dj_type(_span.traceId) NOT IN ('NULL', 'VARCHAR')",
        "dj_stringify_odd(_span.name)",
        # span id: missing or blank is quarantined below; a number, odd characters or base64 is
        # Python's
        "dj_type(_span.spanId) NOT IN ('NULL', 'VARCHAR')",
        "_span_text <> '' AND NOT regexp_full_match(_span_text, '[!-~]+')",
        "regexp_full_match(_span_text, '[A-Za-z0-9+/]{11}=')",
        # timestamps: a readable start or none at all (quarantined below); an end readable or absent
        "NOT do_ts_absent(_span.startTimeUnixNano) AND _ts_start IS NULL",
        "NOT do_ts_absent(_span.endTimeUnixNano) AND _ts_end IS NULL",
        # account: text surely not blank, or none at all (quarantined below)
        "ov_present(coalesce(_account, _service)) AND NOT do_required_ok(coalesce(_account, _service))",
        "dj_type(_span.status.code) NOT IN ('NULL', 'VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')",
        # content held other than as a string (a number, an array value ...) is Python's
        "do_content_raw_odd(_system_raw) OR do_content_raw_odd(_tools_raw)",
        "do_content_raw_odd(_prompt_raw) OR do_content_raw_odd(_completion_raw)",
        "do_json_odd(_system_raw, _system_json) OR do_json_odd(_tools_raw, _tools)",
        "do_json_odd(_prompt_raw, _prompt_parsed) OR do_json_odd(_completion_raw, _completion_parsed)",
        "dj_content_odd(_system_json)",
        "do_messages_odd(_prompt_parsed, _prompt_kind, _prompt_mode)",
        "do_messages_odd(_completion_parsed, _completion_kind, _completion_mode)",
        # (a null in a message list is a null in its line: most lines hold none, so skip the search;
        # a CASE, as AND in a projection evaluates both sides on every row)
        *(
            f"CASE WHEN _nulls THEN do_messages_ambiguous(_{side}_parsed, _{side}_kind, _{side}_mode) END"
            for side in ("prompt", "completion")
        ),
        "do_contents_odd(_prompt_messages)",
        "do_contents_odd(_completion_messages)",
        "len(list_filter(_headers, lambda e: dj_header_odd(e.value))) > 0",
    ]
    typed = {"int": ints, "float": floats, "bool": bools}
    for table in typed.values():  # each looked up once (the column and its route read it)
        for name, expression in table.items():
            lets[f"_v{name}"] = expression
            table[name] = f"_v{name}"
    add_typed_fields(texts, typed, lets, columns, route, helpers="ov")
    columns.update(
        {
            "_line": "_line",
            "_clean": "_clean",
            "source_format": f"'{FORMAT}'",
            "event_id": "lower(_span_text)",  # hex, any case (base64 and non-ASCII are routed)
            "account_id": "ov_text(coalesce(_account, _service))",
            "ts_start": "_ts_start",
            "ts_end": "_ts_end",
            "latency_ms": "CASE WHEN _ts_end IS NOT NULL"
            " THEN CAST(epoch_us(_ts_end) - epoch_us(_ts_start) AS DOUBLE) / 1e6 * 1000 END",
            "status": "CASE WHEN _failed OR _code >= 400 THEN 'error' ELSE 'success' END",
            "status_code": "_code",
            "tool_count": "CASE dj_type(_tools) WHEN 'ARRAY' THEN json_array_length(_tools) ELSE 0 END",
            "message_count": "len(_prompt_messages) + CASE WHEN coalesce(_system, '') <> ''"
            " AND _message_system IS NULL THEN 1 ELSE 0 END",
            "prompt_text": "_user_texts[-1]",
            "context_text": "dj_context(_system, _user_texts)",
            "response_text": "dj_joined(list_filter(list_transform(_completion_messages,"
            " lambda m: do_content_text(m.content, _nulls)), lambda t: t IS NOT NULL AND t <> ''), chr(10))",
            "_system_text": "_system",
            # a key twice is routed above; map_from_entries would refuse the whole file
            "attrs": "CASE WHEN len(list_distinct(list_transform(_entries, lambda e: e.key))) = len(_entries)"
            " THEN map_from_entries(_entries) END",
            "_headers": "_headers",
            "_reason": "coalesce(_line_reason, CASE"
            " WHEN do_ts_absent(_span.startTimeUnixNano) THEN 'missing timestamp startTimeUnixNano'"
            " WHEN coalesce(_span_text, '') = '' THEN 'missing required field spanId'"
            " WHEN NOT ov_present(coalesce(_account, _service)) THEN 'missing required field user.id' END)",
            "_excerpt": "CASE WHEN _line_reason IS NOT NULL OR do_ts_absent(_span.startTimeUnixNano)"
            " OR coalesce(_span_text, '') = '' OR NOT ov_present(coalesce(_account, _service))"
            " THEN _head END",
        }
    )
    return Mapping(FORMAT, (), columns, lets, route, read=_read(), macros=MACROS)
