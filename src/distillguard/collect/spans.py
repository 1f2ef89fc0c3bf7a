"""One OTLP export -> the rows it adds: events, quarantine rows, and its accounting.

Each GenAI span goes through the OTel adapter (``ingest.otel.to_events``) on its own, so
a span that fails a check costs that span only and its quarantine row can name it: the
*file* of a quarantine or event row is the request (``otlp:<sender>/v1/traces#<digest>``,
the digest of the decoded body, so a retried export names the same request and its
quarantine rows are not added twice) and the *line* is the span's position in it.

Spans without any ``gen_ai.*`` attribute or event (HTTP server spans, database spans: a
Collector forwarding a whole service's traces sends them all) are not exchanges with a
model. The file adapter would store them as events of the resource's ``service.name``;
here they are accepted and skipped, counted apart, so they neither pollute the events
nor count as rejected.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from distillguard.collect.protocol import decode_request, decoded_body
from distillguard.config import Config
from distillguard.ingest import otel
from distillguard.ingest.batches import EventBatcher, quarantine_row
from distillguard.ingest.limits import clean_strings, number_problem
from distillguard.ingest.normalise import RecordError
from distillguard.schema import EVENTS

GENAI_PREFIX = "gen_ai."
ADAPTER_BUGS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


@dataclass
class ExportBatch:
    """What one export adds, before it is written: the writer fills ``stored``/``duplicates``."""

    request: str
    events: pa.Table
    quarantine: list[dict[str, Any]]
    read: int  # GenAI spans: stored + duplicates + quarantined once written
    skipped: int  # spans that are not GenAI (accepted, not stored)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return len(self.quarantine)

    @property
    def pending_bytes(self) -> int:
        return int(self.events.nbytes) + sum(len(str(q.get("raw_excerpt") or "")) for q in self.quarantine)

    def rejection_message(self) -> str:
        """The partial-success message: each reason with its count, most frequent first."""
        ranked = sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))
        listed = "; ".join(f"{count} x {reason}" for reason, count in ranked)
        return f"{self.rejected} of {self.read} GenAI spans quarantined: {listed}"[:1000]


def request_name(sender: str, body: bytes) -> str:
    return f"otlp:{sender}/v1/traces#{hashlib.sha256(body).hexdigest()[:16]}"


def is_genai(span: dict[str, Any]) -> bool:
    """A span describes a model call when any attribute or event is in the gen_ai namespace."""
    for item in span.get("attributes") or []:
        if isinstance(item, dict) and str(item.get("key", "")).startswith(GENAI_PREFIX):
            return True
    return any(
        isinstance(e, dict) and str(e.get("name", "")).startswith(GENAI_PREFIX)
        for e in span.get("events") or []
    )


class SpanConverter:
    """Turns decoded exports into ExportBatches; one EventBatcher per thread (handlers run in a pool)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.max_text_chars = int(config.max_text_chars)
        self._local = threading.local()

    def _batcher(self) -> EventBatcher:
        batcher = getattr(self._local, "batcher", None)
        if batcher is None:
            batcher = self._local.batcher = EventBatcher(self.config)
        return batcher

    def convert(self, request: dict[str, Any], *, name: str) -> ExportBatch:
        rows: list[dict[str, Any]] = []
        quarantine: list[dict[str, Any]] = []
        reasons: dict[str, int] = {}
        read = skipped = 0
        for position, (span, resource, scope) in enumerate(_spans(request), start=1):
            if isinstance(span, dict) and not is_genai(span):
                skipped += 1
                continue
            read += 1
            try:
                row = self._event(span, resource, scope)
            except RecordError as exc:
                reason = str(exc)
                reasons[reason[:200]] = reasons.get(reason[:200], 0) + 1
                quarantine.append(_quarantine(name, position, span, reason))
                continue
            row["ingest_file"], row["ingest_line"] = name, position
            rows.append(row)
        batcher = self._batcher()
        for row in rows:
            batcher.add(row)
        events = batcher.take() if rows else EVENTS.empty_table()
        return ExportBatch(name, events, quarantine, read, skipped, reasons)

    def _event(self, span: Any, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
        one = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": [span]}]}]}
        try:
            results = otel.to_events(one, self.config)
        except RecordError:
            raise
        except ADAPTER_BUGS as exc:  # an adapter bug on odd input costs one span, never the export
            raise RecordError(f"unreadable span ({type(exc).__name__}: {exc})") from None
        result = results[0]
        if isinstance(result, RecordError):
            raise result
        problem = number_problem(result)
        if problem is not None:
            raise RecordError(problem)
        clean_strings(result, max_chars=self.max_text_chars)
        return result


def _spans(request: dict[str, Any]) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """Every span with its resource and scope objects, in request order (odd shapes are kept as spans)."""
    found: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
    for resource_spans in request.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            found.append((resource_spans, {}, {}))  # quarantined as "span is not an object"
            continue
        resource = resource_spans.get("resource")
        resource = resource if isinstance(resource, dict) else {}
        groups = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
        for scope_spans in groups if isinstance(groups, list) else [groups]:
            if not isinstance(scope_spans, dict):
                found.append((scope_spans, resource, {}))
                continue
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            spans = scope_spans.get("spans") or []
            for span in spans if isinstance(spans, list) else [spans]:
                found.append((span, resource, scope if isinstance(scope, dict) else {}))
    return found


def _quarantine(name: str, position: int, span: Any, reason: str) -> dict[str, Any]:
    span_id = span.get("spanId") if isinstance(span, dict) else None
    where = f" (span {str(span_id)[:64]})" if span_id else ""
    try:
        excerpt = json.dumps(span, ensure_ascii=True, default=str)
    except (ValueError, RecursionError):
        excerpt = repr(span)[:2048]
    return quarantine_row(name, position, None, otel.FORMAT, reason + where, excerpt)


# ------------------------------------------------------------- decoding workers
# Decoding and converting an export is pure Python under one GIL; worker processes let it use
# every core (setting collect_workers). Each worker builds its converter once.
_WORKER_CONVERTER: SpanConverter | None = None


def start_worker(settings: dict[str, Any]) -> None:
    """Pool initializer; takes the settings' values (Config's __getattr__ does not survive pickling)."""
    global _WORKER_CONVERTER
    _WORKER_CONVERTER = SpanConverter(Config(dict(settings)))


def decode_export(
    raw: bytes,
    content_encoding: str | None,
    kind: str,
    *,
    sender: str,
    limit: int,
    converter: SpanConverter | None = None,
) -> ExportBatch:
    """Raw body -> ExportBatch: inflate (bounded), decode, convert. Raises ProtocolError."""
    body = decoded_body(raw, content_encoding, limit=limit)
    request = decode_request(body, kind)
    chosen = converter or _WORKER_CONVERTER
    if chosen is None:
        raise RuntimeError("decode_export needs a converter outside a started worker")
    return chosen.convert(request, name=request_name(sender, body))
