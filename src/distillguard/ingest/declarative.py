"""Adapters as SQL: DuckDB reads a gateway log and maps each record to event columns.

The Python adapters (``litellm.py`` ...) define what a record means; this module states
the same mapping as SQL over DuckDB's JSON values, so a file is read by DuckDB's parallel
reader and mapped without a Python call per record. Each helper below mirrors one helper
of ``normalise.py`` for the JSON shapes where the two provably agree (a string where a
string is expected, an integer where an integer is, ...). A record holding anything
else (a number spelled as a string, a float where Python would print its repr, an error
the Python adapter words itself) sets ``route``: that record alone goes through the
Python adapter, so quarantine reasons and odd conversions stay exactly Python's.
tests/ingest/test_declarative.py holds both paths to identical stored rows.

Conventions: ``j`` arguments are DuckDB ``JSON`` values (SQL NULL when the key is absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from distillguard.fingerprints import strip_sql

# Route marker in the stage's ``_reason`` column: not a quarantine, a record for Python.
ROUTE_TO_PYTHON = "(read by the Python adapter)"

MACROS = r"""
CREATE OR REPLACE MACRO dj_type(j) AS coalesce(json_type(j), 'NULL');
-- present: not null, not "", [] or {} (compared as minified text, no parse)
CREATE OR REPLACE MACRO dj_present(j) AS CASE dj_type(j)
    WHEN 'NULL' THEN false
    WHEN 'VARCHAR' THEN CAST(j AS VARCHAR) <> '""'
    WHEN 'ARRAY' THEN CAST(j AS VARCHAR) <> '[]'
    WHEN 'OBJECT' THEN CAST(j AS VARCHAR) <> '{}'
    ELSE true END;
CREATE OR REPLACE MACRO dj_first2(a, b) AS CASE WHEN dj_present(a) THEN a WHEN dj_present(b) THEN b END;
CREATE OR REPLACE MACRO dj_first3(a, b, c) AS CASE WHEN dj_present(a) THEN a WHEN dj_present(b) THEN b
    WHEN dj_present(c) THEN c END;
CREATE OR REPLACE MACRO dj_text(j) AS CASE dj_type(j)
    WHEN 'VARCHAR' THEN nullif(j ->> '$', '') WHEN 'BIGINT' THEN j ->> '$' WHEN 'UBIGINT' THEN j ->> '$' END;
CREATE OR REPLACE MACRO dj_text_odd(j) AS dj_type(j) IN ('BOOLEAN', 'DOUBLE');
CREATE OR REPLACE MACRO dj_int(j) AS CASE WHEN dj_type(j) IN ('BIGINT', 'UBIGINT')
    THEN TRY_CAST(j ->> '$' AS BIGINT) END;
CREATE OR REPLACE MACRO dj_int_odd(j) AS NOT (dj_type(j) = 'NULL'
    OR (dj_type(j) IN ('BIGINT', 'UBIGINT') AND TRY_CAST(j ->> '$' AS BIGINT) IS NOT NULL)
    OR (dj_type(j) = 'VARCHAR' AND (j ->> '$') = ''));
CREATE OR REPLACE MACRO dj_float(j) AS CASE WHEN dj_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
    THEN CAST(j ->> '$' AS DOUBLE) END;
CREATE OR REPLACE MACRO dj_float_odd(j) AS NOT (dj_type(j) IN ('NULL', 'BIGINT', 'UBIGINT', 'DOUBLE')
    OR (dj_type(j) = 'VARCHAR' AND (j ->> '$') = ''));
CREATE OR REPLACE MACRO dj_bool(j) AS CASE dj_type(j)
    WHEN 'BOOLEAN' THEN CAST(j ->> '$' AS BOOLEAN)
    WHEN 'BIGINT' THEN CAST(j ->> '$' AS DOUBLE) <> 0 WHEN 'UBIGINT' THEN (j ->> '$') <> '0'
    WHEN 'DOUBLE' THEN CAST(j ->> '$' AS DOUBLE) <> 0
    WHEN 'ARRAY' THEN json_array_length(j) > 0 WHEN 'OBJECT' THEN len(json_keys(j)) > 0 END;
CREATE OR REPLACE MACRO dj_bool_odd(j) AS dj_type(j) = 'VARCHAR' AND (j ->> '$') <> '';
-- normalise.parse_timestamp of a JSON number: epoch s/ms/µs/ns by magnitude; a float as
-- datetime.fromtimestamp rounds it (whole seconds, then the fraction half-even to µs)
CREATE OR REPLACE MACRO dj_from_seconds(t) AS make_timestamp(
    CAST(trunc(t) AS BIGINT) * 1000000 + CAST(round_even((t - trunc(t)) * 1e6, 0) AS BIGINT));
CREATE OR REPLACE MACRO dj_epoch_float(n) AS CASE WHEN n > 0 THEN dj_from_seconds(n / CASE
    WHEN n < 5e9 THEN 1.0 WHEN n < 5e12 THEN 1e3 WHEN n < 5e15 THEN 1e6 ELSE 1e9 END) END;
CREATE OR REPLACE MACRO dj_ts_raw(j) AS CASE dj_type(j)
    WHEN 'BIGINT' THEN dg_epoch_int(CAST(j ->> '$' AS BIGINT))
    WHEN 'UBIGINT' THEN dg_epoch_int(TRY_CAST(j ->> '$' AS BIGINT))
    WHEN 'DOUBLE' THEN dj_epoch_float(CAST(j ->> '$' AS DOUBLE)) END;
CREATE OR REPLACE MACRO dj_ts(j) AS CASE
    WHEN dj_ts_raw(j) >= TIMESTAMP '1990-01-01' AND dj_ts_raw(j) < TIMESTAMP '2200-01-01'
    THEN CAST(dj_ts_raw(j) AS TIMESTAMPTZ) END;
CREATE OR REPLACE MACRO dj_object(j) AS CASE WHEN dj_type(j) = 'OBJECT' THEN j ELSE '{}'::JSON END;
-- dig / mapping(...).get(key): NULL unless j is an object holding key
CREATE OR REPLACE MACRO dj_get(j, key) AS json_extract(j, '$."' || key || '"');
-- non-strict (a value that is not a list reads as empty): a strict CAST inside a CASE branch
-- can be evaluated for rows the branch does not take, and then refuses the file
CREATE OR REPLACE MACRO dj_list(j) AS coalesce(json_transform(j, '["JSON"]'), CAST([] AS JSON[]));
-- normalise.content_text, for content that is NULL, a string, a part list or one part object
CREATE OR REPLACE MACRO dj_part_text(p) AS CASE dj_type(p)
    WHEN 'VARCHAR' THEN p ->> '$'
    WHEN 'OBJECT' THEN CASE
        WHEN NOT json_exists(p, '$.type')
             OR (json_type(p, '$.type') = 'VARCHAR'
                 AND (p ->> '$.type') IN ('text', 'input_text', 'output_text'))
        THEN CASE WHEN json_exists(p, '$.text')
                  THEN CASE WHEN json_type(p, '$.text') = 'VARCHAR' THEN p ->> '$.text' END
                  WHEN json_type(p, '$.content') = 'VARCHAR' THEN p ->> '$.content' END
        END
    END;
CREATE OR REPLACE MACRO dj_joined(texts, sep) AS
    CASE WHEN len(texts) > 0 THEN array_to_string(texts, sep) END;
CREATE OR REPLACE MACRO dj_content_text(c) AS CASE dj_type(c)
    WHEN 'VARCHAR' THEN c ->> '$'
    WHEN 'ARRAY' THEN dj_joined(list_filter(
        list_transform(json_transform(c, '["JSON"]'), lambda p: dj_part_text(p)),
        lambda t: t IS NOT NULL), chr(10))
    WHEN 'OBJECT' THEN dj_part_text(c) END;
CREATE OR REPLACE MACRO dj_content_odd(c) AS dj_type(c) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN');
-- message.get("content", message.get("parts"))
CREATE OR REPLACE MACRO dj_message_content(m) AS CASE WHEN json_exists(m, '$.content')
    THEN json_extract(m, '$.content') ELSE json_extract(m, '$.parts') END;
CREATE OR REPLACE MACRO dj_role_is(m, roles) AS dj_type(m) = 'OBJECT' AND json_type(m, '$.role') = 'VARCHAR'
    AND list_contains(roles, m ->> '$.role');
-- every user turn's text, oldest first (normalise.user_turn_texts)
CREATE OR REPLACE MACRO dj_user_texts(msgs) AS list_filter(list_transform(msgs,
    lambda m: CASE WHEN dj_role_is(m, ['user']) THEN dj_content_text(dj_message_content(m)) END),
    lambda t: t IS NOT NULL);
-- normalise.system_text
CREATE OR REPLACE MACRO dj_system_text(msgs) AS dj_joined(list_filter(list_transform(msgs,
    lambda m: CASE WHEN dj_role_is(m, ['system', 'developer'])
                   THEN dj_content_text(dj_message_content(m)) END),
    lambda t: t IS NOT NULL AND t <> ''), chr(10));
-- The same over messages parsed once into structs (``MESSAGES_SHAPE``): role as text (only a
-- JSON string can read 'user'), content and parts as JSON. Absent and null content read alike
-- here (NULL, then parts are read): a message holding a null content beside parts is routed
-- (``ds_messages_ambiguous``, over the raw list; the text test first keeps it off the hot path).
CREATE OR REPLACE MACRO ds_content(m) AS coalesce(m.content, m.parts);
CREATE OR REPLACE MACRO ds_user_texts(msgs) AS list_filter(list_transform(msgs,
    lambda m: CASE WHEN m.role = 'user' THEN dj_content_text(ds_content(m)) END),
    lambda t: t IS NOT NULL);
CREATE OR REPLACE MACRO ds_system_text(msgs) AS dj_joined(list_filter(list_transform(msgs,
    lambda m: CASE WHEN m.role IN ('system', 'developer') THEN dj_content_text(ds_content(m)) END),
    lambda t: t IS NOT NULL AND t <> ''), chr(10));
CREATE OR REPLACE MACRO ds_messages_odd(msgs) AS len(list_filter(msgs, lambda m:
    m.role IN ('user', 'system', 'developer') AND dj_content_odd(ds_content(m)))) > 0;
CREATE OR REPLACE MACRO ds_messages_ambiguous(whole, raw) AS CASE
    WHEN contains(CAST(whole AS VARCHAR), '"content":null') THEN len(list_filter(dj_list(raw),
        lambda m: json_type(m, '$.content') = 'NULL'
                  AND coalesce(json_type(m, '$.parts'), 'NULL') <> 'NULL')) > 0
    ELSE false END;
CREATE OR REPLACE MACRO dj_messages_odd(msgs) AS len(list_filter(msgs, lambda m:
    dj_role_is(m, ['user', 'system', 'developer']) AND dj_content_odd(dj_message_content(m)))) > 0;
-- normalise.join_context(system, earlier user turns)
CREATE OR REPLACE MACRO dj_context(system, texts) AS dj_joined(list_filter(
    list_concat([system], CASE WHEN len(texts) > 1 THEN list_slice(texts, 1, len(texts) - 1) ELSE [] END),
    lambda t: t IS NOT NULL AND t <> ''), chr(10) || chr(10));
-- normalise.stringify for the JSON shapes whose Python text is known
CREATE OR REPLACE MACRO dj_stringify(j) AS CASE dj_type(j)
    WHEN 'VARCHAR' THEN left(j ->> '$', 2000)
    WHEN 'BOOLEAN' THEN j ->> '$' WHEN 'BIGINT' THEN j ->> '$' WHEN 'UBIGINT' THEN j ->> '$'
    WHEN 'ARRAY' THEN CASE WHEN json_array_length(j) = 0 THEN '[]' END
    WHEN 'OBJECT' THEN CASE WHEN len(json_keys(j)) = 0 THEN '{}' END END;
CREATE OR REPLACE MACRO dj_stringify_odd(j) AS dj_type(j) <> 'NULL' AND dj_stringify(j) IS NULL;
CREATE OR REPLACE MACRO dj_text_or_empty(v) AS CASE dj_type(v)
    WHEN 'VARCHAR' THEN v ->> '$' WHEN 'BIGINT' THEN v ->> '$' WHEN 'UBIGINT' THEN v ->> '$' END;
-- normalise._header of a header map's value under a lower-cased name (the last such key wins)
CREATE OR REPLACE MACRO dj_header_value(v) AS CASE dj_type(v)
    WHEN 'ARRAY' THEN dj_text_or_empty(json_extract(v, '$[0]'))
    ELSE dj_text_or_empty(v) END;
CREATE OR REPLACE MACRO dj_header_odd(v) AS
    dj_type(v) NOT IN ('NULL', 'VARCHAR', 'BIGINT', 'UBIGINT', 'ARRAY')
    OR (dj_type(v) = 'ARRAY'
        AND dj_type(json_extract(v, '$[0]')) NOT IN ('NULL', 'VARCHAR', 'BIGINT', 'UBIGINT'));
CREATE OR REPLACE MACRO dj_headers(h) AS CASE WHEN dj_type(h) = 'OBJECT'
    THEN map_entries(CAST(h AS MAP(VARCHAR, JSON))) ELSE [] END;
CREATE OR REPLACE MACRO dj_header(entries, name) AS
    list_filter(entries, lambda e: lower(e.key) = name)[-1].value;
"""


# json_transform shape of a chat message list: each message parsed once; what is not an object
# reads as all NULL (skipped, as the Python adapters skip it).
MESSAGES_SHAPE = '[{"role": "VARCHAR", "content": "JSON", "parts": "JSON"}]'


@dataclass
class Mapping:
    """One format's SQL mapping: top-level JSON keys read, per-column expressions, routing."""

    source_format: str
    keys: tuple[str, ...]
    # stage-layout column -> SQL expression over ``x`` (the intermediate relation); columns not
    # named are NULL
    columns: dict[str, str]
    # intermediate named expressions over the raw record, computed once (``x`` relation)
    lets: dict[str, str] = field(default_factory=dict)
    # SQL conditions under which the Python adapter must read the record
    route: list[str] = field(default_factory=list)
    # read_json type of a top-level key when not JSON (``hoist_lookups`` types pure objects)
    types: dict[str, str] = field(default_factory=dict)
    # the whole record is also at hand as ``_record`` (JSON): for a format whose adapter keeps
    # the keys it does not know (read by ``json_keys``); the top-level keys are then extracted
    # from it by one non-strict ``json_transform`` (objects stay JSON, never typed structs)
    whole_record: bool = False
    # with ``whole_record``: the json_transform shape of a top-level key read as a struct (parsed
    # with the record, non-strict: a value of another shape reads as NULLs), instead of JSON
    shapes: dict[str, str] = field(default_factory=dict)
    # the raw relation as SQL (``{records}`` replaced by the file's records, each whole as
    # column ``json``: ``sources.whole``), for a format whose
    # records are not one event per line (OTLP: a line holds a tree of spans): it yields one row
    # per event with ``_line`` (the record's number); ``keys`` are then unused. The mapping's
    # ``_reason`` column, when given, quarantines a row with that reason (checked in SQL).
    read: str | None = None
    # the format's own SQL macros, created after ``MACROS``
    macros: str = ""


def add_typed_fields(
    texts: dict[str, str],
    typed: dict[str, dict[str, str]],
    lets: dict[str, str],
    columns: dict[str, str],
    route: list[str],
    helpers: str = "dj",
) -> None:
    """Columns read from JSON values as text, int, float or bool, each with its ``*_odd`` route.

    ``texts`` maps a column to the JSON value read as text; ``typed`` maps ``int``, ``float``
    and ``bool`` to column -> JSON value. A name starting with ``_`` is an input to a column
    computed later (a ``let``), not a stored column. A value of an odd type sends its record to
    the Python adapter (``route``), which decides it exactly as before. ``helpers`` names the
    macro family that reads the values (``dj``: JSON values; a format may bring its own, with
    the same suffixes, for values it holds in another form).
    """
    for name, expression in texts.items():
        lets[f"_j{name}"] = expression
        route.append(f"{helpers}_text_odd(_j{name})")
        if not name.startswith("_"):
            columns[name] = f"{helpers}_text(_j{name})"
    for kind, table in typed.items():
        for name, expression in table.items():
            route.append(f"{helpers}_{kind}_odd({expression})")
            (lets if name.startswith("_") else columns)[name] = f"{helpers}_{kind}({expression})"


def strip(expression: str) -> str:
    return strip_sql(expression)


_GET = re.compile(r"dj_get\(([A-Za-z_][A-Za-z0-9_]*|\"[A-Za-z_][A-Za-z0-9_]*\"), '([^'\"]+)'\)")


def hoist_lookups(mapping: Mapping, *, typed_structs: bool = True) -> Mapping:
    """The same mapping with every ``dj_get(object, 'key')`` computed once per record.

    DuckDB inlines macro arguments and select-list aliases wherever they are used, so a
    lookup inside ``dj_int_odd(dj_get(params, 'n'))`` would parse ``params`` several times
    per record. Here every lookup becomes a named value, and the keys read from one object
    are extracted together (``json_extract(object, [paths])``: one parse of the object).
    ``typed_structs``: whether a top-level object may be declared a STRUCT to its reader (a
    ``read_json`` of lines or an array), else every object stays JSON (a Parquet file's columns).
    """
    texts: dict[str, Any] = {
        "lets": dict(mapping.lets),
        "columns": dict(mapping.columns),
        "route": list(mapping.route),
    }
    groups: dict[str, list[str]] = {}  # object -> keys, in first-seen order
    while True:
        found = [m for part in _all_texts(texts) for m in _GET.finditer(part)]
        if not found:
            break
        names: dict[str, str] = {}
        for match in found:
            obj, key = match.group(1), match.group(2)
            keys = groups.setdefault(obj, [])
            if key not in keys:
                keys.append(key)
            names[match.group(0)] = _leaf_name(obj, key)
        _replace_all(texts, names)
    # An object read only through lookups is declared a STRUCT of its keys to read_json, so the
    # reader parses it once, typed (a record where it is not an object makes DuckDB refuse the
    # file: the Python adapter then reads it). Other objects are extracted with one json_extract.
    used = " ".join(_all_texts(texts))

    def pure(obj: str) -> bool:
        return re.search(rf"(?<![A-Za-z0-9_]){re.escape(obj)}(?![A-Za-z0-9_])", used) is None

    def struct_type(obj: str) -> str:
        fields = []
        for key in groups[obj]:
            leaf = _leaf_name(obj, key)
            inner = struct_type(leaf) if leaf in groups and pure(leaf) else "JSON"
            fields.append(f'"{key}" {inner}')
        return "STRUCT(" + ", ".join(fields) + ")"

    types: dict[str, str] = {}
    structs: set[str] = set()
    for obj in groups:
        if typed_structs and obj.strip('"') in mapping.keys and pure(obj) and not mapping.whole_record:
            types[obj.strip('"')] = struct_type(obj)
            structs.add(obj)
    changed = True
    while changed:  # leaves of structs that are themselves read only through lookups
        changed = False
        for obj in groups:
            parent = next((o for o in structs for k in groups[o] if _leaf_name(o, k) == obj), None)
            if obj not in structs and parent is not None and pure(obj):
                structs.add(obj)
                changed = True
    hoisted: dict[str, list[tuple[str, str]]] = {}  # object -> [(name, expression)]
    for obj, keys in groups.items():
        if obj in structs:
            entries = [(_leaf_name(obj, key), f'{obj}."{key}"') for key in keys]
        else:
            group = _group_name(obj)
            paths = ", ".join("'$.\"" + key + "\"'" for key in keys)
            entries = [(group, f"json_extract({obj}, [{paths}])")]
            entries += [(_leaf_name(obj, key), f"{group}[{i}]") for i, key in enumerate(keys, start=1)]
        hoisted[obj.strip('"')] = entries
    lets: dict[str, str] = {}

    def emit(after: str) -> None:
        for name, expression in hoisted.pop(after, []):
            lets[name] = expression
            emit(name)

    for raw in list(hoisted):
        if raw not in texts["lets"] and not raw.startswith("_g"):
            emit(raw)  # a top-level key of the record: available from the start
    for name, expression in texts["lets"].items():
        lets[name] = expression
        emit(name)
    columns, route = texts["columns"], texts["route"]
    return Mapping(
        mapping.source_format,
        mapping.keys,
        columns,
        lets,
        route,
        types,
        mapping.whole_record,
        mapping.shapes,
        mapping.read,
        mapping.macros,
    )


def _leaf_name(obj: str, key: str) -> str:
    return "_g" + re.sub(r"[^A-Za-z0-9]", "_", obj.strip('"')) + "__" + re.sub(r"[^A-Za-z0-9]", "_", key)


def _group_name(obj: str) -> str:
    return "_G" + re.sub(r"[^A-Za-z0-9]", "_", obj.strip('"'))


def _all_texts(texts: dict[str, Any]) -> list[str]:
    return [*texts["lets"].values(), *texts["columns"].values(), *texts["route"]]


def _replace_all(texts: dict[str, Any], names: dict[str, str]) -> None:
    def swap(text: str) -> str:
        for old, new in names.items():
            text = text.replace(old, new)
        return text

    texts["lets"] = {k: swap(v) for k, v in texts["lets"].items()}
    texts["columns"] = {k: swap(v) for k, v in texts["columns"].items()}
    texts["route"] = [swap(v) for v in texts["route"]]
