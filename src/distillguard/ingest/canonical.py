"""Canonical events as JSONL or Parquet: what ``distillguard export`` writes, and what
other tools can produce directly with the column names of ``schema.EVENTS``.

Raw ``api_key_id`` / ``client_ip`` are accepted (and hashed at ingest); already
hashed columns from an export are kept as they are. Fingerprints of the current
``FINGERPRINT_VERSION`` are kept; others are recomputed from ``prompt_text``.
"""

from __future__ import annotations

import json
from typing import Any

from distillguard.ingest.normalise import (
    RecordError,
    as_bool,
    as_float,
    as_int,
    as_text,
    optional_timestamp,
    parse_timestamp,
    required_text,
    stringify,
)
from distillguard.schema import EVENTS

FORMAT = "canonical"
_INT = {f.name for f in EVENTS if str(f.type) in ("int64", "int32")}
_FLOAT = {f.name for f in EVENTS if str(f.type) == "double"}
_BOOL = {f.name for f in EVENTS if str(f.type) == "bool"}
_TS = {"ts_start", "ts_end"}
_SPECIAL = {
    "event_id",
    "account_id",
    "attrs",
    "prompt_minhash",
    "source_format",
    "ingest_file",
    "ingest_line",
}
_TEXT = {f.name for f in EVENTS} - _INT - _FLOAT - _BOOL - _TS - _SPECIAL
RAW_COLUMNS = ("api_key_id", "client_ip")


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    row: dict[str, Any] = {
        "event_id": required_text(obj.get("event_id"), "event_id"),
        "account_id": required_text(obj.get("account_id"), "account_id"),
        "source_format": as_text(obj.get("source_format")) or FORMAT,
        "ts_start": parse_timestamp(obj.get("ts_start"), "ts_start"),
        "ts_end": optional_timestamp(obj.get("ts_end"), "ts_end"),
    }
    for name in _INT:
        if name not in ("ingest_line",):
            row[name] = as_int(obj.get(name), name)
    for name in _FLOAT:
        row[name] = as_float(obj.get(name), name)
    for name in _BOOL:
        row[name] = as_bool(obj.get(name))
    for name in _TEXT:
        value = obj.get(name)
        if value is not None and not isinstance(value, str | int | float):
            raise RecordError(f"{name}: expected a string, got {type(value).__name__}")
        row[name] = as_text(value)
    for name in RAW_COLUMNS:
        row[name] = as_text(obj.get(name))
    row["prompt_minhash"] = _minhash(obj.get("prompt_minhash"))
    row["attrs"] = _attrs(obj.get("attrs"))
    return [row]


def _minhash(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, int) and 0 <= v < 2**32 for v in value):
        return value
    raise RecordError("prompt_minhash: expected a list of uint32")


def _attrs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RecordError("attrs: expected a JSON object") from None
    if isinstance(value, list):  # Arrow map columns read back as (key, value) pairs
        try:
            value = dict(value)
        except (TypeError, ValueError):
            raise RecordError("attrs: expected key/value pairs") from None
    if not isinstance(value, dict):
        raise RecordError(f"attrs: expected an object, got {type(value).__name__}")
    return {str(k): stringify(v) for k, v in value.items() if v is not None}
