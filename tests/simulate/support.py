"""Reading a simulated data set back the way the data contract says an adapter must."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from distillguard.simulate import Scenario, run_scenario
from distillguard.simulate.run import RunStats


@dataclass
class Record:
    """What the contract promises every format carries: event id, account, client IP, model, prompt."""

    event_id: str
    account_id: str
    client_ip: str
    model: str
    fmt: str
    raw: dict[str, Any]


def _otel_attrs(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in attributes:
        value = a["value"]
        out[a["key"]] = next(iter(value.values()))
    return out


def records(path: Path) -> Iterator[Record]:
    fmt = path.name.split("-")[0]
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            if fmt == "litellm":
                meta = obj["metadata"]
                yield Record(
                    obj["id"],
                    meta["user_api_key_org_id"],
                    obj["requester_ip_address"],
                    obj["model"],
                    fmt,
                    obj,
                )
            elif fmt == "openai":
                yield Record(
                    obj["id"], obj["account_id"], obj["client_ip"], obj["request"]["model"], fmt, obj
                )
            elif fmt == "otel":
                span = obj["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
                attrs = _otel_attrs(span["attributes"])
                yield Record(
                    span["spanId"],
                    attrs["user.id"],
                    attrs["client.address"],
                    attrs["gen_ai.request.model"],
                    fmt,
                    obj,
                )
            else:
                yield Record(
                    obj["event_id"], obj["account_id"], obj["client_ip"], obj["model_requested"], fmt, obj
                )


@functools.cache  # data sets are written once and only read afterwards
def all_records(data: Path) -> list[Record]:
    return [r for path in sorted((data / "traffic").glob("*.jsonl.gz")) for r in records(path)]


@functools.cache
def truth_events(data: Path) -> list[dict[str, Any]]:
    return pq.read_table(data / "truth" / "events.parquet").to_pylist()


def manifest(data: Path) -> dict[str, Any]:
    return json.loads((data / "manifest.json").read_text(encoding="utf-8"))


def run(scenario: Scenario, out: Path) -> tuple[dict[str, Any], RunStats]:
    return run_scenario(scenario, out)


def status_code(record: Record) -> int:
    raw = record.raw
    if record.fmt in ("openai", "canonical"):
        return int(raw["status_code"])
    if record.fmt == "litellm":
        return 200 if raw["status"] == "success" else int(raw["error_information"]["error_code"])
    span = raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    return int(
        next(a["value"]["intValue"] for a in span["attributes"] if a["key"] == "http.response.status_code")
    )
