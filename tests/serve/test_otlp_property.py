"""Property: whatever an authenticated sender posts, the receiver answers 200/400/413/415 and loses nothing.

Bodies are random bytes, real exports (JSON and protobuf) with span attributes replaced by
hostile values (lone surrogates, NUL, huge integers, NaN, nesting), real protobuf with bytes
flipped, and gzip of any of them, cut or whole. Every export either is refused with an
OTLP status, or yields rows whose counts reconcile once written: read = stored +
duplicates + quarantined. ``DISTILLGUARD_PROPERTY_EXAMPLES`` raises the example count.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import math
import os
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from distillguard.collect.protocol import JSON, PROTOBUF, ProtocolError
from distillguard.collect.spans import SpanConverter, decode_export
from distillguard.collect.writer import _write_batches
from distillguard.config import Config
from distillguard.warehouse import Warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"
REQUESTS = [
    json.loads(line) for name in ("otel_new.jsonl", "otel_legacy.jsonl") for line in (FIXTURES / name).open()
]
EXAMPLES = int(os.environ.get("DISTILLGUARD_PROPERTY_EXAMPLES", "0") or 0)
LIMIT = 200_000

ODD = st.sampled_from(["\udfff", "\ud800", "\x00", "\u202e", "\ufeff"])
hostile_text = st.text(st.characters(exclude_categories=()) | ODD, max_size=20)
any_values = st.recursive(
    st.builds(lambda v: {"stringValue": v}, hostile_text)
    | st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1))
    | st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=True))
    | st.builds(lambda v: {"boolValue": v}, st.booleans()),
    lambda inner: st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
    max_leaves=6,
)
GENAI_KEYS = [
    "gen_ai.request.max_tokens",
    "gen_ai.request.choice.count",
    "gen_ai.request.temperature",
    "gen_ai.usage.input_tokens",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt",
    "gen_ai.prompt.0.content",
    "user.id",
    "client.address",
    "http.response.status_code",
]


def hostile_request(index: int, keys: list[str], values: list[dict[str, Any]]) -> dict[str, Any]:
    request = copy.deepcopy(REQUESTS[index % len(REQUESTS)])
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key, value in zip(keys, values, strict=False):
        span["attributes"] = [a for a in span["attributes"] if a["key"] != key] + [
            {"key": key, "value": value}
        ]
    return request


def as_json(value: Any) -> Any:
    """Proto3 JSON spells non-finite doubles as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def protobuf_of(request: dict[str, Any]) -> bytes:
    request = as_json(copy.deepcopy(request))
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    try:
        return json_format.ParseDict(request, ExportTraceServiceRequest()).SerializeToString()
    except (json_format.ParseError, ValueError, UnicodeEncodeError):
        return b"\x0a\x03not"  # a value protobuf itself cannot carry: send a broken message instead


def flip(body: bytes, position: int, byte: int) -> bytes:
    if not body:
        return bytes([byte])
    position %= len(body)
    return body[:position] + bytes([byte]) + body[position + 1 :]


requests = st.builds(
    hostile_request,
    st.integers(0, 9),
    st.lists(st.sampled_from(GENAI_KEYS), max_size=4),
    st.lists(any_values, max_size=4),
)
bodies = st.one_of(
    st.tuples(requests.map(lambda r: json.dumps(r).encode()), st.just(JSON)),  # NaN as Python writes it
    st.tuples(requests.map(protobuf_of), st.just(PROTOBUF)),
    st.tuples(
        st.builds(flip, requests.map(protobuf_of), st.integers(0, 10_000), st.integers(0, 255)),
        st.just(PROTOBUF),
    ),
    st.tuples(st.binary(max_size=300), st.sampled_from([JSON, PROTOBUF])),
)


@settings(
    max_examples=EXAMPLES or 80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body_kind=bodies, coding=st.sampled_from(["", "gzip", "gzip-cut"]))
def test_any_export_is_refused_with_an_otlp_status_or_stored_with_counts_that_reconcile(
    config: Config, warehouse: Warehouse, body_kind: tuple[bytes, str], coding: str
) -> None:
    body, kind = body_kind
    if coding:
        body = gzip.compress(body)
        if coding == "gzip-cut":
            body = body[: max(1, len(body) // 2)]
    converter = SpanConverter(config)
    try:
        batch = decode_export(
            body, coding and "gzip", kind, sender="127.0.0.1", limit=LIMIT, converter=converter
        )
    except ProtocolError as refused:
        assert refused.status in (400, 413, 415)
        event(f"refused {refused.status}")
        return
    event("quarantined some" if batch.rejected else "stored all")
    assert batch.read == batch.events.num_rows + batch.rejected
    before = warehouse.count("events"), warehouse.count("quarantine")
    [written] = _write_batches(warehouse, [batch])
    assert written.read == written.stored + written.duplicates + written.quarantined
    assert warehouse.count("events") == before[0] + written.stored
    assert warehouse.count("quarantine") <= before[1] + written.quarantined  # a repeat adds no row twice
