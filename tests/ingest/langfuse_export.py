"""Langfuse observations from simulated LiteLLM traffic (the simulator writes no Langfuse export).

A LiteLLM gateway with Langfuse logging turned on writes one GENERATION observation per call;
an export of the project's observations also holds the trace's other observations (spans,
events). This converter renders each simulated ``StandardLoggingPayload`` the way LiteLLM's
Langfuse logger and an observations export lay it out: ISO timestamps in milliseconds, the
request messages as ``input``, the assistant message as ``output``, ``usageDetails`` and
``costDetails``, model parameters as strings, LiteLLM's metadata (key hash, org, team, client
address, headers) under ``metadata``, and a SPAN beside every eighth generation. Used by
tests/ingest/test_declarative.py and bench/ingest_bench.py, at run time only.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPAN_EVERY = 8  # one trace in eight also exports a non-generation observation


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    moment = datetime.fromtimestamp(float(epoch), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parameters(params: Any) -> dict[str, Any]:
    """Langfuse keeps model parameters as a map of strings (numbers and flags spelled out)."""
    if not isinstance(params, dict):
        return {}
    spelled: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            spelled[key] = "true" if value else "false"
        elif isinstance(value, int | float):
            spelled[key] = str(value)
        else:
            spelled[key] = value
    return spelled


def observation(record: dict[str, Any]) -> dict[str, Any]:
    """One GENERATION observation of a LiteLLM payload."""
    meta = dict(record.get("metadata") or {})
    meta["hidden_params"] = record.get("hidden_params")
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    choices = response.get("choices") or [{}]
    failed = str(record.get("status") or "success") != "success"
    error = record.get("error_information") or {}
    start, end = _iso(record.get("startTime")), _iso(record.get("endTime"))
    return {
        "id": record.get("id"),
        "traceId": record.get("trace_id"),
        "type": "GENERATION",
        "name": f"litellm-{record.get('call_type')}",
        "startTime": start,
        "endTime": end,
        "completionStartTime": _iso(record.get("completionStartTime")),
        "model": record.get("model"),
        "modelParameters": _parameters(record.get("model_parameters")),
        "input": record.get("messages"),
        "output": None if failed else (choices[0] or {}).get("message"),
        "usageDetails": {
            "input": record.get("prompt_tokens"),
            "output": record.get("completion_tokens"),
            "total": record.get("total_tokens"),
        },
        "costDetails": {"total": record.get("response_cost")},
        "level": "ERROR" if failed else "DEFAULT",
        "statusMessage": (error.get("error_message") or error.get("error_class")) if failed else None,
        "parentObservationId": None,
        "promptId": None,
        "version": None,
        "environment": "default",
        "projectId": "lf-project-1",
        "metadata": meta,
        "userId": None,
        "sessionId": None,
        "latency": record.get("response_time"),
        "createdAt": end,
    }


def observations(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each payload's generation, and a SPAN of the same trace beside every ``SPAN_EVERY``-th."""
    for index, record in enumerate(records):
        generation = observation(record)
        yield generation
        if index % SPAN_EVERY == SPAN_EVERY - 1:
            yield {
                "id": f"{generation['id']}-span",
                "traceId": generation["traceId"],
                "type": "SPAN",
                "name": "litellm-request",
                "startTime": generation["startTime"],
                "endTime": generation["endTime"],
                "metadata": {},
                "userId": None,
            }


def litellm_records(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def convert(sources: Iterable[Path], out: Path) -> int:
    """Write the observations of every LiteLLM file in ``sources`` to ``out`` (gzip when it ends
    in .gz); the number of observations written."""
    written = 0
    with gzip.open(out, "wt") if out.suffix == ".gz" else out.open("w") as handle:
        for source in sources:
            for item in observations(litellm_records(source)):
                handle.write(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n")
                written += 1
    return written
