"""The real OpenTelemetry SDK and its OTLP/HTTP exporter push GenAI spans into the receiver.

opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http are the packages from PyPI
(pinned in the dev extras); nothing here imitates them. The exporter speaks protobuf, with
and without gzip, to a receiver on loopback; the rows are read back from the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from tests.serve.otlp_support import TOKEN, Running, counts, receiver_config, running_receiver, table

from distillguard import fingerprints

RESOURCE = Resource.create({"service.name": "llm-gateway", "deployment.environment": "test"})


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    with running_receiver(receiver_config(tmp_path)) as running:
        yield running


def exporter(receiver: Running, *, token: str = TOKEN, gzip: bool = True) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=receiver.traces,
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        timeout=20,
    )


def record_spans(provider: TracerProvider) -> None:
    """Three spans as instrumented gateways write them: two model calls and one that is not."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 512,
                "gen_ai.usage.input_tokens": 42,
                "gen_ai.usage.output_tokens": 128,
                "gen_ai.response.finish_reasons": ["stop"],
                "user.id": "acct-new-conventions",
                "client.address": "203.0.113.7",
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are terse."}]),
                "gen_ai.input.messages": json.dumps(
                    [
                        {
                            "role": "user",
                            "parts": [{"type": "text", "content": "Explain step by step why 7 is prime."}],
                        }
                    ]
                ),
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": "It has no divisors but 1 and 7."}],
                        }
                    ]
                ),
            }
        )
    with tracer.start_as_current_span("chat claude", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-sonnet",
                "gen_ai.usage.prompt_tokens": 17,
                "gen_ai.usage.completion_tokens": 9,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "Grade this answer against the rubric.",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Score: 4/5",
                "user.id": "acct-legacy-conventions",
            }
        )
        span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    with tracer.start_as_current_span("GET /healthz", kind=SpanKind.SERVER) as span:
        span.set_attributes({"http.request.method": "GET", "url.path": "/healthz", "user.id": "acct-probe"})


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_the_sdk_exporter_stores_genai_spans_as_events(receiver: Running, gzip: bool) -> None:
    provider = TracerProvider(resource=RESOURCE)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(exporter(receiver, gzip=gzip)))
    record_spans(provider)
    assert provider.force_flush(30_000)
    provider.shutdown()
    ids = {s.name: format(s.context.span_id, "016x") for s in memory.get_finished_spans()}

    events = {r["account_id"]: r for r in table(receiver.config, "SELECT * FROM events").to_pylist()}
    assert set(events) == {
        "acct-new-conventions",
        "acct-legacy-conventions",
    }  # the health probe is no exchange
    new, legacy = events["acct-new-conventions"], events["acct-legacy-conventions"]
    assert new["event_id"] == ids["chat gpt-4o"] and legacy["event_id"] == ids["chat claude"]
    assert new["prompt_text"] == "Explain step by step why 7 is prime."
    assert new["response_text"] == "It has no divisors but 1 and 7."
    assert new["system_prompt_hash"] == fingerprints.prompt_hash("You are terse.")
    assert (new["model_requested"], new["model_served"]) == ("gpt-4o", "gpt-4o-2024-08-06")
    assert (new["input_tokens"], new["output_tokens"], new["max_tokens"]) == (42, 128, 512)
    assert new["temperature"] == pytest.approx(0.2)
    assert new["finish_reason"] == "stop"
    assert new["client_ip_hash"] and "203.0.113.7" not in json.dumps(new, default=str)
    assert new["prompt_hash"] == fingerprints.prompt_hash("Explain step by step why 7 is prime.")
    assert dict(new["attrs"])["resource.service.name"] == "llm-gateway"
    assert legacy["prompt_text"] == "Grade this answer against the rubric."
    assert legacy["response_text"] == "Score: 4/5"
    assert (legacy["input_tokens"], legacy["output_tokens"]) == (17, 9)
    assert legacy["status"] == "error"
    assert new["ingest_file"].startswith("otlp:127.0.0.1/v1/traces#")

    runs = table(receiver.config, "SELECT * FROM ingest_runs").to_pylist()
    assert sum(r["records_read"] for r in runs) == 2
    assert sum(r["stored"] for r in runs) == 2
    assert all(r["records_read"] == r["stored"] + r["duplicates"] + r["quarantined"] for r in runs)
    assert counts(receiver.config)["quarantine"] == 0


def finished_spans() -> tuple[ReadableSpan, ...]:
    provider = TracerProvider(resource=RESOURCE)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_spans(provider)
    return memory.get_finished_spans()


def test_a_retried_export_is_answered_success_and_counted_as_duplicates(receiver: Running) -> None:
    spans = finished_spans()
    sender = exporter(receiver)
    assert sender.export(spans) is SpanExportResult.SUCCESS
    assert sender.export(spans) is SpanExportResult.SUCCESS
    sender.shutdown()

    assert counts(receiver.config)["events"] == 2
    runs = table(receiver.config, "SELECT * FROM ingest_runs ORDER BY finished_at").to_pylist()
    assert [(r["stored"], r["duplicates"]) for r in runs] == [(2, 0), (0, 2)]
    assert runs[0]["file"] == runs[1]["file"]  # the same request, named by its content


def test_a_sender_without_the_token_is_refused_and_nothing_is_stored(receiver: Running) -> None:
    sender = exporter(receiver, token="not-the-token-at-all-000")
    assert sender.export(finished_spans()) is SpanExportResult.FAILURE
    sender.shutdown()
    assert counts(receiver.config) == {"events": 0, "quarantine": 0, "runs": 0}
