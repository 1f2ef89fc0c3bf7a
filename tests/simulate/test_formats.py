"""Every traffic file is what the real tool writes, per line."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from datetime import datetime
from pathlib import Path

from distillguard.schema import EVENTS

from .support import records

HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
# Canonical input: the events columns minus what ingest computes (fingerprints, keyed hashes,
# provenance), plus the raw client IP and API key id that ingest hashes.
COMPUTED_BY_INGEST = {
    "prompt_hash",
    "skeleton_hash",
    "prompt_minhash",
    "fingerprint_version",
    "client_ip_hash",
    "ip_prefix_hash",
    "ip_prefix_community_hash",
    "api_key_hash",
    "ingest_file",
    "ingest_line",
    "request_shape",
}
CANONICAL_KEYS = ({f.name for f in EVENTS} - COMPUTED_BY_INGEST) | {"client_ip", "api_key_id"}


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _files(data: Path, fmt: str) -> list[Path]:
    found = sorted((data / "traffic").glob(f"{fmt}-*.jsonl.gz"))
    assert found, f"no {fmt} files"
    return found


def test_file_names_follow_the_contract(tiny: Path) -> None:
    for path in (tiny / "traffic").iterdir():
        assert re.fullmatch(r"(litellm|otel|openai|canonical)-\d{3}\.jsonl\.gz", path.name), path.name


def test_otel_lines_are_otlp_json_export_requests_with_genai_spans(tiny: Path) -> None:
    naming = set()
    for path in _files(tiny, "otel"):
        for obj in _lines(path):
            (resource_spans,) = obj["resourceSpans"]
            assert isinstance(resource_spans["resource"]["attributes"], list)
            (scope_spans,) = resource_spans["scopeSpans"]
            (span,) = scope_spans["spans"]
            assert HEX16.match(span["spanId"]) and HEX32.match(span["traceId"])
            assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 1.7e18
            keys = {a["key"] for a in span["attributes"]}
            for a in span["attributes"]:
                (kind,) = a["value"]
                assert kind in {"stringValue", "intValue", "doubleValue", "boolValue", "arrayValue"}
                if kind == "intValue":
                    assert isinstance(a["value"][kind], str)  # OTLP/JSON encodes int64 as a string
            assert {"gen_ai.operation.name", "gen_ai.request.model", "user.id", "client.address"} <= keys
            if "gen_ai.provider.name" in keys:
                naming.add("new")
                assert "gen_ai.usage.input_tokens" in keys and "gen_ai.input.messages" in keys
                json.loads(
                    next(a for a in span["attributes"] if a["key"] == "gen_ai.input.messages")["value"][
                        "stringValue"
                    ]
                )
            else:
                naming.add("legacy")
                assert "gen_ai.system" in keys and "gen_ai.usage.prompt_tokens" in keys
                assert span["events"][0]["name"] == "gen_ai.content.prompt"
    assert naming == {"new", "legacy"}


def test_litellm_lines_are_standard_logging_payloads(tiny: Path) -> None:
    required = {
        "id",
        "trace_id",
        "call_type",
        "status",
        "startTime",
        "endTime",
        "model",
        "metadata",
        "messages",
        "response",
        "prompt_tokens",
        "completion_tokens",
        "response_cost",
        "model_parameters",
    }
    statuses = set()
    for path in _files(tiny, "litellm"):
        for obj in _lines(path):
            assert required <= obj.keys()
            assert isinstance(obj["startTime"], float) and obj["endTime"] >= obj["startTime"]
            assert {"user_api_key_hash", "user_api_key_org_id", "requester_ip_address"} <= obj[
                "metadata"
            ].keys()
            assert obj["messages"][-1]["role"] in {"user", "tool"}
            statuses.add(obj["status"])
    assert statuses == {"success", "failure"}


def test_openai_log_lines_carry_chat_completions_and_anthropic_bodies(tiny: Path) -> None:
    endpoints = set()
    for path in _files(tiny, "openai"):
        for obj in _lines(path):
            datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00"))
            assert {
                "id",
                "account_id",
                "api_key_id",
                "client_ip",
                "headers",
                "request",
                "response",
                "status_code",
                "latency_ms",
            } <= obj.keys()
            endpoints.add(obj["endpoint"])
            request = obj["request"]
            assert request["model"] and request["messages"]
            if obj["endpoint"] == "/v1/messages":
                assert isinstance(request["max_tokens"], int)
                assert all(m["role"] in {"user", "assistant"} for m in request["messages"])
                if obj["status_code"] == 200:
                    assert obj["response"]["type"] == "message"
            elif obj["status_code"] == 200:
                assert obj["response"]["object"] == "chat.completion"
                assert obj["response"]["usage"]["prompt_tokens"] > 0
    assert endpoints == {"/v1/chat/completions", "/v1/messages"}


def test_canonical_lines_use_the_events_column_names(tiny: Path) -> None:
    for path in _files(tiny, "canonical"):
        for obj in _lines(path):
            assert set(obj) == CANONICAL_KEYS
            datetime.fromisoformat(obj["ts_start"].replace("Z", "+00:00"))
            assert obj["prompt_chars"] == len(obj["prompt_text"])


def test_enrichment_keys_sit_where_the_contract_says(tiny: Path) -> None:
    for path in sorted((tiny / "traffic").glob("*.gz"))[:4]:
        for record in itertools.islice(records(path), 50):
            raw = record.raw
            if record.fmt == "openai":
                assert raw["asn"].startswith("AS") and len(raw["country"]) == 2
            elif record.fmt == "litellm":
                assert raw["metadata"]["requester_metadata"]["asn"].startswith("AS")
            elif record.fmt == "otel":
                attrs = {a["key"] for a in raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]}
                assert {"client.asn", "client.geo.country_iso_code"} <= attrs
