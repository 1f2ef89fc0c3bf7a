"""The receiver over HTTP: the same rows as file ingest, partial success, and refusals.

Requests are built the way exporters build them (OTLP/JSON, and protobuf through the
opentelemetry-proto classes) and sent over loopback; what is stored is read back.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tests.serve.otlp_support import TOKEN, Running, counts, receiver_config, running_receiver, table

from distillguard.ingest.run import ingest_paths
from distillguard.simulate import preset, simulate
from distillguard.warehouse import Warehouse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ingest"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROTOBUF, JSON = "application/x-protobuf", "application/json"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    with running_receiver(receiver_config(tmp_path)) as running:
        yield running


def to_protobuf(request: dict[str, Any]) -> bytes:
    """OTLP/JSON (hex ids) as the protobuf an SDK sends (proto3 JSON wants bytes in base64)."""
    request = copy.deepcopy(request)
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(request, ExportTraceServiceRequest()).SerializeToString()


def post(
    url: str, body: bytes, content_type: str, *, zipped: bool = False, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = {"Content-Type": content_type, **AUTH, **(headers or {})}
    if zipped:
        body, sent["Content-Encoding"] = gzip.compress(body), "gzip"
    return httpx.post(url, content=body, headers=sent, timeout=30)


def export(url: str, request: dict[str, Any], kind: str, *, zipped: bool = False) -> httpx.Response:
    body = to_protobuf(request) if kind == PROTOBUF else json.dumps(request).encode()
    return post(url, body, kind, zipped=zipped)


def partial_success(response: httpx.Response) -> tuple[int, str]:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith(PROTOBUF):
        message = ExportTraceServiceResponse.FromString(response.content)
        return message.partial_success.rejected_spans, message.partial_success.error_message
    body = response.json().get("partialSuccess", {})
    return int(body.get("rejectedSpans", 0)), body.get("errorMessage", "")


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        return handle.readlines()


def grouped(lines: list[str], size: int) -> list[dict[str, Any]]:
    """Single-span OTLP lines merged into exports of ``size`` spans, as a batching exporter sends them."""
    requests = []
    for start in range(0, len(lines), size):
        resource_spans = [
            rs for line in lines[start : start + size] for rs in json.loads(line)["resourceSpans"]
        ]
        requests.append({"resourceSpans": resource_spans})
    return requests


def events_without_provenance(db: str) -> list[dict[str, Any]]:
    """Every stored event minus where it came from (a file line there, a request and span here)."""
    with Warehouse.open(db, read_only=True) as warehouse:
        return warehouse.engine.to_arrow(
            "SELECT * EXCLUDE (ingest_file, ingest_line) FROM events ORDER BY event_id"
        ).to_pylist()


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "worker-processes"])
def test_exports_in_json_and_protobuf_store_exactly_the_rows_file_ingest_stores(
    tmp_path: Path, workers: int
) -> None:
    with running_receiver(receiver_config(tmp_path, collect_workers=workers)) as receiver:
        _exports_store_what_file_ingest_stores(receiver, tmp_path)


def _exports_store_what_file_ingest_stores(receiver: Running, tmp_path: Path) -> None:
    scenario = preset("tiny", 0.05)
    scenario.formats = ["otel"]
    simulate(scenario, tmp_path / "sim")
    files = sorted((tmp_path / "sim" / "traffic").glob("otel-*.jsonl.gz")) + sorted(
        FIXTURES.glob("otel_*.jsonl")
    )
    lines = [line for f in files for line in read_lines(f)]
    assert len(lines) > 300

    for number, request in enumerate(grouped(lines, 64)):
        kind = PROTOBUF if number % 2 else JSON
        response = export(receiver.traces, request, kind, zipped=number % 3 == 0)
        assert partial_success(response) == (0, "")
        assert response.headers["content-type"].startswith(kind)

    reference = tmp_path / "file-ingest.duckdb"
    with Warehouse.open(reference) as warehouse:
        report = ingest_paths(
            warehouse, files, config=receiver.config.with_overrides(db_path=str(reference)), progress=False
        )
    assert report.quarantined == 0
    received = events_without_provenance(str(receiver.config.db_path))
    assert len(received) == report.stored
    assert received == events_without_provenance(str(reference))


def test_bad_spans_are_quarantined_by_request_and_span_and_answered_as_partial_success(
    receiver: Running,
) -> None:
    request = json.loads((FIXTURES / "otel_new.jsonl").read_text())
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    good = spans[0]
    too_big = copy.deepcopy(good)
    too_big["spanId"] = "00000000000000aa"
    # fits OTLP's int64, not the int32 column
    too_big["attributes"].append({"key": "gen_ai.request.choice.count", "value": {"intValue": str(2**40)}})
    no_start = copy.deepcopy(good)
    no_start["spanId"] = "00000000000000bb"
    del no_start["startTimeUnixNano"]
    request["resourceSpans"][0]["scopeSpans"][0]["spans"] = [good, too_big, no_start]
    name_of = {}

    for kind in (JSON, PROTOBUF):
        response = export(receiver.traces, request, kind)
        rejected, message = partial_success(response)
        assert rejected == 2
        assert message.startswith("2 of 3 GenAI spans quarantined")
        assert f"1 x n: {2**40} is out of range" in message and "startTimeUnixNano" in message
        latest = table(receiver.config, "SELECT file FROM ingest_runs ORDER BY finished_at DESC LIMIT 1")
        name_of[kind] = latest.to_pylist()[0]["file"]

    quarantine = table(receiver.config, "SELECT * FROM quarantine ORDER BY file, line").to_pylist()
    assert len(quarantine) == 4  # two bad spans in each of the two (differently encoded) requests
    for row in quarantine:
        assert row["file"] in name_of.values() and row["file"].startswith("otlp:127.0.0.1/v1/traces#")
        span = {2: "00000000000000aa", 3: "00000000000000bb"}[row["line"]]
        assert row["reason"].endswith(f"(span {span})")
        assert span in row["raw_excerpt"]
    runs = table(receiver.config, "SELECT * FROM ingest_runs ORDER BY finished_at").to_pylist()
    assert [(r["records_read"], r["stored"], r["duplicates"], r["quarantined"]) for r in runs] == [
        (3, 1, 0, 2),
        (3, 0, 1, 2),
    ]

    # The exporter retries the same request: nothing is stored or quarantined twice.
    assert partial_success(export(receiver.traces, request, JSON))[0] == 2
    assert counts(receiver.config) == {"events": 1, "quarantine": 4, "runs": 3}


def test_an_export_without_genai_spans_is_accepted_and_stores_nothing(receiver: Running) -> None:
    request = json.loads((FIXTURES / "otel_new.jsonl").read_text())
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                span["attributes"] = [a for a in span["attributes"] if not a["key"].startswith("gen_ai.")]
                span["events"] = []
    assert partial_success(export(receiver.traces, request, PROTOBUF)) == (0, "")
    assert counts(receiver.config) == {"events": 0, "quarantine": 0, "runs": 0}


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * 3_000_000)  # ~3 KB on the wire, 3 MB inflated


GOOD = (FIXTURES / "otel_new.jsonl").read_bytes()
REFUSALS = {
    "garbage protobuf": (b"\xff\xff\xff\xff not a protobuf", {"Content-Type": PROTOBUF}, 400),
    "garbage json": (b"{not json", {"Content-Type": JSON}, 400),
    "json that is a list": (b"[1, 2]", {"Content-Type": JSON}, 400),
    "resourceSpans not a list": (b'{"resourceSpans": 7}', {"Content-Type": JSON}, 400),
    "other media type": (GOOD, {"Content-Type": "text/plain"}, 415),
    "no media type": (GOOD, {}, 415),
    "other content coding": (GOOD, {"Content-Type": JSON, "Content-Encoding": "br"}, 415),
    "broken gzip": (b"\x1f\x8b\x08\x00broken", {"Content-Type": JSON, "Content-Encoding": "gzip"}, 400),
    "truncated gzip": (gzip.compress(GOOD)[:-20], {"Content-Type": JSON, "Content-Encoding": "gzip"}, 400),
    "too large": (b" " * 1_100_000 + GOOD, {"Content-Type": JSON}, 413),
    "too large once inflated": (gzip_bomb(), {"Content-Type": JSON, "Content-Encoding": "gzip"}, 413),
    "no token": (GOOD, {"Content-Type": JSON, "Authorization": ""}, 401),
    "wrong token": (GOOD, {"Content-Type": JSON, "Authorization": "Bearer wrong-token-wrong-token"}, 401),
    "token without Bearer": (GOOD, {"Content-Type": JSON, "Authorization": TOKEN}, 401),
}


@pytest.fixture(scope="module")
def small_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    config = receiver_config(tmp_path_factory.mktemp("refusals"), collect_max_body_bytes=1_000_000)
    with running_receiver(config) as running:
        yield running


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_requests_get_their_status_and_store_nothing(small_receiver: Running, case: str) -> None:
    body, headers, status = REFUSALS[case]
    sent = {**AUTH, **headers}
    sent = {k: v for k, v in sent.items() if v}
    response = httpx.post(small_receiver.traces, content=body, headers=sent, timeout=30)
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith(PROTOBUF):
        message = status_pb2.Status.FromString(response.content).message
    else:
        message = response.json()["message"]
    assert message  # a google.rpc.Status that says why
    assert counts(small_receiver.config) == {"events": 0, "quarantine": 0, "runs": 0}


def test_after_the_refusals_a_good_export_is_still_stored(small_receiver: Running) -> None:
    assert partial_success(post(small_receiver.traces, GOOD, JSON)) == (0, "")
    assert counts(small_receiver.config)["events"] == 2


def test_refusals_decided_in_worker_processes_keep_their_status(tmp_path: Path) -> None:
    config = receiver_config(tmp_path, collect_workers=2, collect_max_body_bytes=1_000_000)
    with running_receiver(config) as receiver:
        for case in ("too large once inflated", "garbage protobuf", "truncated gzip"):
            body, headers, status = REFUSALS[case]
            answer = httpx.post(receiver.traces, content=body, headers={**AUTH, **headers}, timeout=60)
            assert answer.status_code == status, (case, answer.text)
        assert partial_success(post(receiver.traces, GOOD, JSON)) == (0, "")
    assert counts(config)["events"] == 2
