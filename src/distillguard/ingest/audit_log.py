"""The decision service's audit log (``serve.audit``), read back as events.

One JSON line per decision (fields: ``serve.audit.AUDIT_FIELDS``). Each becomes an
event so the next scan sees live traffic: event id is the ``request_id`` when the
gateway sent one, else the ``decision_id``. The key and address fields are already
keyed hashes made with this deployment's secret and are stored as they are; the
decision itself (action, risk, reasons, policy version, prompt scores...) goes to
``attrs`` under the audit field names.
"""

from __future__ import annotations

from typing import Any

from distillguard.fingerprints import FINGERPRINT_VERSION
from distillguard.ingest.normalise import (
    RecordError,
    as_bool,
    as_int,
    as_text,
    attrs_of,
    first,
    parse_timestamp,
    required_text,
)

FORMAT = "distillguard-audit"

# Audit fields that become event columns; every other field is a decision field for attrs.
_COLUMNS = {
    "ts",
    "account_id",
    "api_key_hash",
    "end_user_id",
    "client_ip_hash",
    "ip_prefix_hash",
    "model",
    "user_agent",
    "max_tokens",
    "logprobs",
    "tool_count",
    "message_count",
    "prompt_text",
    "prompt_hash",
    "skeleton_hash",
}


def looks_like(obj: dict[str, Any]) -> bool:
    """Keys only the decision service writes together."""
    return "decision_id" in obj and "policy_version" in obj and "enforced_action" in obj


def to_events(obj: dict[str, Any], settings: Any) -> list[dict[str, Any] | RecordError]:
    if not isinstance(obj.get("decision_id"), str) or not obj["decision_id"].strip():
        raise RecordError("decision_id: missing (not a decision service audit record)")
    for name in ("api_key_hash", "client_ip_hash", "ip_prefix_hash", "prompt_hash", "skeleton_hash"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{name}: expected a hash string, got {type(value).__name__}")
    prompt = obj.get("prompt_text")
    if prompt is not None and not isinstance(prompt, str):
        raise RecordError(f"prompt_text: expected a string, got {type(prompt).__name__}")
    row: dict[str, Any] = {
        "event_id": required_text(first(obj.get("request_id"), obj.get("decision_id")), "decision_id"),
        "source_format": FORMAT,
        "ts_start": parse_timestamp(obj.get("ts"), "ts"),
        "account_id": required_text(obj.get("account_id"), "account_id"),
        "api_key_hash": as_text(obj.get("api_key_hash")),
        "end_user_id": as_text(obj.get("end_user_id")),
        "client_ip_hash": as_text(obj.get("client_ip_hash")),
        "ip_prefix_hash": as_text(obj.get("ip_prefix_hash")),
        "model_requested": as_text(obj.get("model")),
        "user_agent": as_text(obj.get("user_agent")),
        "max_tokens": as_int(obj.get("max_tokens"), "max_tokens"),
        "logprobs": as_bool(obj.get("logprobs")),
        "tool_count": as_int(obj.get("tool_count"), "tool_count"),
        "message_count": as_int(obj.get("message_count"), "message_count"),
        "prompt_text": prompt,
    }
    if prompt is None and obj.get("prompt_hash"):
        # Without the text, the service's hashes (same fingerprint code) are what there is.
        row["prompt_hash"] = obj["prompt_hash"]
        row["skeleton_hash"] = as_text(obj.get("skeleton_hash"))
        row["fingerprint_version"] = FINGERPRINT_VERSION
    row["attrs"] = attrs_of({k: v for k, v in obj.items() if k not in _COLUMNS})
    return [row]
