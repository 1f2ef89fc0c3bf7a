"""A gateway log's ``stage`` through its adapter's SQL mapping (``declarative``).

The stage has the layout of the canonical fast path's (``fastpath._stage_sql``), so the
same derive / quarantine / insert steps finish the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from distillguard import fingerprints
from distillguard.config import Config
from distillguard.ingest import declarative, sources
from distillguard.ingest.declarative import ROUTE_TO_PYTHON, Mapping
from distillguard.ingest.fastpath import (
    _BOOLS,
    _FLOATS,
    _INTS,
    _MACROS,
    _TEXTS,
    _clean_macros,
)
from distillguard.ingest.limits import LENGTH_COLUMNS
from distillguard.schema import EVENTS

# Threads of a mapping's stage. Its memory does not grow with the file (the stage table spills
# to the staging file), but each thread holds the parse arenas of every JSON call site over a
# 2,048-row vector, about 450-500 MiB for the LiteLLM and OpenAI-log mappings (measured with
# duckdb_memory() on simulated traffic: 30k and 100k records gave the same figure). Two
# threads exceed the 1 GB staging limit (stage_insert.STAGING_MEMORY) on 100k OpenAI-log records.
STAGE_THREADS = 1


def stage_sql(mapping: Mapping, path: Path, config: Config, kind: sources.Kind = "lines") -> str:
    """``stage`` from a gateway log through an adapter's SQL mapping (``declarative``), in the
    layout of ``_stage_sql``: mapped columns cleaned as ``limits.clean_strings`` cleans an
    adapter row, the SDK fingerprint from the cleaned headers (``normalise.sdk_fingerprint``),
    and every record the mapping routes marked for the Python adapter. ``kind`` says how the
    file's records are read (``sources``)."""
    max_chars = int(config.max_text_chars)
    max_bytes = int(config.max_record_bytes)
    # A Parquet column reaches the mapping as JSON text (``sources.typed``), so no key is read
    # as a typed struct: its lookups stay JSON lookups, the semantics the structs stand in for.
    mapping = declarative.hoist_lookups(mapping, typed_structs=kind != "parquet")
    if mapping.whole_record:  # a record that is not an object (an array's element) is Python's
        mapping.route.append("json_type(_record) <> 'OBJECT'")
    columns = {key: mapping.types.get(key, "JSON") for key in mapping.keys}
    # Named values in layers, each layer one projection over the one before: DuckDB inlines a
    # select-list alias wherever it is used (and a macro its arguments), so one flat SELECT would
    # re-parse the same JSON dozens of times per record, while a projection per value holds one
    # chunk of every column per level (memory). A value sits one layer above what it reads.
    layer: dict[str, int] = {}
    for name, expression in mapping.lets.items():
        reads = [
            other for other in layer if re.search(rf"(?<![A-Za-z0-9_]){other}(?![A-Za-z0-9_])", expression)
        ]
        layer[name] = 1 + max((layer[other] for other in reads), default=0)
    lets = "raw"
    for level in range(1, max(layer.values(), default=0) + 1):
        values = ", ".join(f"{mapping.lets[n]} AS {n}" for n in mapping.lets if layer[n] == level)
        lets = f"(SELECT *, {values} FROM {lets})"
    mapped = ", ".join(f"{expression} AS {name}" for name, expression in mapping.columns.items())
    route = " OR ".join(f"coalesce(({condition}), false)" for condition in mapping.route)

    def given(name: str) -> str:
        return name if name in mapping.columns else "NULL"

    cut_length = {
        chars: f"CASE WHEN length({text}) > {max_chars} THEN length({text}) END"
        for text, chars in LENGTH_COLUMNS.items()
    }
    ints = [f"coalesce({given(n)}, {cut_length.get(n, 'NULL')}) AS {n}" for n in _INTS]
    int32 = [f.name for f in EVENTS if pa.types.is_int32(f.type)]
    ranges = " OR ".join(f"NOT coalesce({n} BETWEEN -2147483648 AND 2147483647, true)" for n in int32)
    floats = [f"{given(n)} AS {n}" for n in _FLOATS]
    infinite = " OR ".join(f"coalesce(isinf({n}), false)" for n in _FLOATS if n in mapping.columns) or "false"
    bools = [f"{given(n)} AS {n}" for n in _BOOLS]

    def clean(text: str) -> str:
        # a mapping that knows a record holds no control character (``_clean``) only cuts its texts
        if "_clean" in mapping.columns:
            return f"CASE WHEN _clean THEN dg_cut({text}) ELSE dg_clean({text}) END"
        return f"dg_clean({text})"

    texts = [
        f"{clean(given(n))} AS {n}" for n in [*_TEXTS, "api_key_id", "client_ip"] if n != "sdk_fingerprint"
    ]

    def header(name: str) -> str:
        return clean(f"dj_header_value(dj_header(_headers, '{name}'))")

    names = ("lang", "package-version", "os", "arch", "runtime", "runtime-version")
    lang, pkg, os_, arch, runtime, version = (f"coalesce({header('x-stainless-' + n)}, '')" for n in names)
    own = f"nullif({clean('user_agent')}, '')"  # the record's own agent
    agent = f"coalesce({own}, {header('user-agent')})"

    def by_agent(agent: str) -> str:
        """The fingerprint of a client known by its user agent only: its product name."""
        product = f"split_part(split_part({fingerprints.strip_sql(agent)}, '/', 1), ' ', 1)"
        return f"CASE WHEN coalesce({agent}, '') <> '' THEN 'ua=' || lower({product}) END"

    # a record without headers (about half of simulated OTel spans) skips the seven lookups
    sdk = (
        f"""CASE WHEN len(_headers) = 0 THEN {by_agent(own)}
            WHEN {lang} <> '' OR {pkg} <> ''
            THEN 'lang=' || {lang} || ';pkg=' || {pkg} || ';os=' || {os_} || ';arch=' || {arch}
                 || ';runtime=' || {runtime} || '/' || {version}
            ELSE {by_agent(agent)} END"""
        if "_headers" in mapping.columns
        else "CAST(NULL AS VARCHAR)"
    )
    # a format with several events per record numbers its rows by record (``Mapping.read``)
    line = ", _line" if "_line" in mapping.columns else ""
    if mapping.read is not None:
        read = mapping.read.replace("{records}", f"({sources.whole(path, kind, max_bytes)})")
    elif mapping.whole_record:
        leaf = '"JSON"'
        shape = "{" + ", ".join(f'"{key}": {mapping.shapes.get(key, leaf)}' for key in mapping.keys) + "}"
        read = f"""SELECT json AS _record, unnest(json_transform(json, '{shape}'))
                   FROM ({sources.whole(path, kind, max_bytes)})"""
    else:
        read = sources.typed(path, kind, columns, max_bytes)
    return (
        _MACROS
        + _clean_macros(max_chars)
        + declarative.MACROS
        + mapping.macros
        + f"""
    CREATE TABLE stage AS
    WITH raw AS ({read}), x AS (SELECT * FROM {lets}),
    y AS (SELECT {mapped}, ({route}) AS _route FROM x)
    SELECT {clean("event_id")} AS event_id, {clean("account_id")} AS account_id, source_format,
           ts_start, ts_end, {", ".join(ints)}, {", ".join(floats)}, {", ".join(bools)}, {", ".join(texts)},
           {sdk} AS sdk_fingerprint,
           CAST(NULL AS UINTEGER[]) AS prompt_minhash, dg_clean_map(attrs) AS attrs,
           CASE WHEN _route OR {ranges} OR {infinite} THEN '{ROUTE_TO_PYTHON}'
               ELSE CAST({given("_reason")} AS VARCHAR) END
               AS _reason,
           CAST({given("_excerpt")} AS VARCHAR) AS _excerpt,
           nullif({clean(given("_system_text"))}, '') AS _system_text{line}
    FROM y;
    """
    )
