"""OTLP/HTTP on the wire: media types, gzip, decoding requests, encoding answers.

The OTLP specification (protocol/otlp.md, "OTLP/HTTP") fixes what a receiver must do:

- ``application/x-protobuf`` bodies are ``ExportTraceServiceRequest`` messages and
  ``application/json`` bodies their proto3 JSON form (hex trace and span ids); the answer
  uses the request's media type; any other type gets 415.
- ``Content-Encoding: gzip`` must be accepted. Any other coding gets 415 too (RFC 9110
  15.5.16: 415 covers an unsupported content coding).
- Success is 200 with an ``ExportTraceServiceResponse``, whose ``partial_success`` names
  how many spans were rejected and why; a request that cannot be decoded is 400 (not
  retryable), a busy receiver 503 with ``Retry-After`` (retryable); error bodies are a
  ``google.rpc.Status``.

Everything here is pure: bytes in, Python values out, so the HTTP layer stays thin. The
protobuf path decodes with ``opentelemetry-proto`` and hands the adapter the same
OTLP/JSON shape a file holds, so ``ingest.otel`` reads both alike.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)

# google.rpc.Code values for the Status body of an error answer.
GRPC_CODE_BY_STATUS = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}


class ProtocolError(Exception):
    """A request the receiver answers with ``status`` (and ``message`` in a Status body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def __reduce__(self) -> tuple[type[ProtocolError], tuple[int, str]]:
        return ProtocolError, (self.status, self.message)  # crosses from decoding worker processes


def media_type(content_type: str | None) -> str:
    """The request's media type if OTLP/HTTP defines it; 415 otherwise (parameters ignored)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in MEDIA_TYPES:
        raise ProtocolError(415, f"unsupported Content-Type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}")
    return kind


def decoded_body(body: bytes, content_encoding: str | None, *, limit: int) -> bytes:
    """The body after its content coding; a gzip body is inflated only up to ``limit`` bytes."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding != "gzip":
        raise ProtocolError(415, f"unsupported Content-Encoding {coding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # Never inflate more than the limit (+1 byte to notice the excess): a small bomb stays small.
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise ProtocolError(
                413, f"request body over the limit of {limit} bytes once gunzipped (collect_max_body_bytes)"
            )
        if not inflater.eof:
            raise ProtocolError(400, "gzip body is truncated")
    except zlib.error as exc:
        raise ProtocolError(400, f"gzip body does not inflate: {exc}") from None
    return out


def decode_request(body: bytes, kind: str) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as the OTLP/JSON object ``ingest.otel`` reads."""
    if kind == PROTOBUF:
        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise ProtocolError(400, f"body is not an OTLP ExportTraceServiceRequest: {exc}") from None
        return {"resourceSpans": [_resource_spans(rs) for rs in message.resource_spans]}
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        raise ProtocolError(400, "body is not JSON") from None
    if not isinstance(request, dict):
        raise ProtocolError(400, f"body is a JSON {type(request).__name__}, not an ExportTraceServiceRequest")
    spans = request.get("resourceSpans", [])
    if not isinstance(spans, list):
        raise ProtocolError(400, "resourceSpans: expected a list")
    return request


# Protobuf -> OTLP/JSON by hand: json_format.MessageToDict is generic and about 4x slower.
# Proto3 JSON leaves out fields at their default (an unset start time, an empty span id),
# so these do too: the adapter then quarantines such a span exactly as it would from a file.
def _resource_spans(rs: Any) -> dict[str, Any]:
    return {
        "resource": {"attributes": _key_values(rs.resource.attributes)},
        "scopeSpans": [
            {
                "scope": {"name": ss.scope.name, "version": ss.scope.version},
                "spans": [_span(span) for span in ss.spans],
            }
            for ss in rs.scope_spans
        ],
    }


def _span(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": span.name, "kind": span.kind}
    for key, value in (
        ("traceId", span.trace_id),
        ("spanId", span.span_id),
        ("parentSpanId", span.parent_span_id),
    ):
        if value:
            out[key] = value.hex()
    if span.start_time_unix_nano:
        out["startTimeUnixNano"] = str(span.start_time_unix_nano)
    if span.end_time_unix_nano:
        out["endTimeUnixNano"] = str(span.end_time_unix_nano)
    out["attributes"] = _key_values(span.attributes)
    out["events"] = [
        {"name": e.name, "timeUnixNano": str(e.time_unix_nano), "attributes": _key_values(e.attributes)}
        for e in span.events
    ]
    out["status"] = {"code": span.status.code, "message": span.status.message} if span.status.code else {}
    return out


def _key_values(items: Any) -> list[dict[str, Any]]:
    return [{"key": kv.key, "value": _any_value(kv.value)} for kv in items]


def _any_value(value: Any) -> dict[str, Any]:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return {"stringValue": value.string_value}
    if kind == "int_value":
        return {"intValue": str(value.int_value)}
    if kind == "double_value":
        return {"doubleValue": value.double_value}
    if kind == "bool_value":
        return {"boolValue": value.bool_value}
    if kind == "array_value":
        return {"arrayValue": {"values": [_any_value(v) for v in value.array_value.values]}}
    if kind == "kvlist_value":
        return {"kvlistValue": {"values": _key_values(value.kvlist_value.values)}}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(value.bytes_value).decode()}
    return {}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    media_type: str


def success(kind: str, *, rejected_spans: int, error_message: str = "") -> Answer:
    """200 with an ExportTraceServiceResponse; ``partial_success`` only when something was rejected."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    if kind == PROTOBUF:
        return Answer(200, response.SerializeToString(), PROTOBUF)
    return Answer(200, json_format.MessageToJson(response, indent=None).encode(), JSON)


def failure(status: int, message: str, kind: str | None) -> Answer:
    """An error answer: a google.rpc.Status in the request's media type (JSON when it had none of ours)."""
    code = GRPC_CODE_BY_STATUS.get(status, 2)
    if kind == PROTOBUF:
        return Answer(status, _status_protobuf(code, message), PROTOBUF)
    return Answer(status, json.dumps({"code": code, "message": message}).encode(), JSON)


def _status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status {int32 code = 1; string message = 2;} encoded by hand (two scalar fields)."""
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
