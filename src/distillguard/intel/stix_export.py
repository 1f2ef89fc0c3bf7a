"""STIX 2.1 bundles from harvested intel, built as plain JSON.

The ``stix2`` library validates every property on construction, which costs
milliseconds per object; a 100k-indicator export would take minutes. Objects are
therefore built as dicts here and checked by the OASIS validator in tests (and by
``validate_bundle`` on demand). Ids are UUIDv5 of stable content, so exporting the
same findings twice yields the same objects and partners' imports stay idempotent;
``created``/``modified`` come from the data, not the clock, for the same reason.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from distillguard.intel.extension import (
    FINGERPRINT_SCO,
    extension_block,
    extension_definition,
    project_identity,
)
from distillguard.intel.indicators import TECHNIQUES, GroupIntel, Indicator, IntelHarvest
from distillguard.intel.privacy import COMMUNITY_MINHASH_VERSION, SharePolicy, community_hash, tlp_marking

NAMESPACE = uuid.UUID("5d1c9a3e-7f42-4b8d-a6e1-0c93f2b8d4a7")
ATLAS_EXTRACT_MODEL = {
    "source_name": "mitre-atlas",
    "external_id": "AML.T0024.002",
    "url": "https://atlas.mitre.org/techniques/AML.T0024.002",
    "description": "Extract ML Model (sub-technique of Exfiltration via ML Inference API)",
}
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def stix_time(value: datetime | None) -> str:
    moment = value or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stix_id(object_type: str, *key: str) -> str:
    """Deterministic, but UUIDv4-shaped: STIX 2.1 wants v4 for SDOs/SROs (v5 is for SCOs)."""
    digest = uuid.uuid5(NAMESPACE, "|".join((object_type, *key)))
    return f"{object_type}--{uuid.UUID(bytes=digest.bytes, version=4)}"


def pattern_for(indicator: Indicator) -> str:
    value = indicator.value.replace("\\", "\\\\").replace("'", "\\'")
    if indicator.value_form == "raw" and indicator.kind == "asn":
        return f"[autonomous-system:number = {int(value)}]"
    if indicator.value_form == "raw" and indicator.kind == "ip_prefix":
        family = "ipv6-addr" if ":" in value else "ipv4-addr"
        return f"[{family}:value ISSUBSET '{value}']"
    return f"[{FINGERPRINT_SCO}:kind = '{indicator.kind}' AND {FINGERPRINT_SCO}:value = '{value}']"


@dataclass
class ExportResult:
    bundle: dict[str, Any]
    counts: dict[str, int]  # objects by type
    notes: list[str]

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.bundle, indent=indent, ensure_ascii=False)


class _Builder:
    def __init__(self, policy: SharePolicy, identity_name: str, now: datetime) -> None:
        self.policy = policy
        self.marking_ids = [tlp_marking(policy.tlp)["id"]]
        self.now = stix_time(now)
        self.identity_id = stix_id("identity", identity_name)
        self.identity_name = identity_name
        self.objects: list[dict[str, Any]] = []

    def common(self, object_type: str, object_id: str, created: str, modified: str) -> dict[str, Any]:
        return {
            "type": object_type,
            "spec_version": "2.1",
            "id": object_id,
            "created_by_ref": self.identity_id,
            "created": created,
            "modified": max(created, modified),
            "object_marking_refs": self.marking_ids,
        }

    def sid(self, object_type: str, *key: str) -> str:
        """An id for an object we create, scoped by our identity: two providers that both see the
        same proxy network or the same community hash still publish different ids, so neither's
        object can collide with (and be refused as) the other's."""
        return stix_id(object_type, self.identity_id, *key)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects.append(obj)
        return obj

    def relationship(self, source: str, kind: str, target: str, created: str, modified: str) -> None:
        self.add(
            {
                **self.common(
                    "relationship", self.sid("relationship", source, kind, target), created, modified
                ),
                "relationship_type": kind,
                "source_ref": source,
                "target_ref": target,
            }
        )

    def preamble(self) -> str:
        """Identity, marking, extension and the ATLAS attack pattern; returns its id."""
        self.add(tlp_marking(self.policy.tlp))
        self.add({**project_identity(), "object_marking_refs": self.marking_ids})
        self.add(extension_definition(self.marking_ids))
        ident = self.common("identity", self.identity_id, stix_time(_EPOCH), stix_time(_EPOCH))
        del ident["created_by_ref"]
        self.add(
            {**ident, "name": self.identity_name, "identity_class": "organization", "sectors": ["technology"]}
        )
        extract = self.sid("attack-pattern", ATLAS_EXTRACT_MODEL["external_id"])
        self.add(
            {
                **self.common("attack-pattern", extract, stix_time(_EPOCH), stix_time(_EPOCH)),
                "name": "Extract ML Model",
                "description": "Harvesting a model's outputs at scale through its inference API to train "
                "a copy (model distillation).",
                "external_references": [ATLAS_EXTRACT_MODEL],
            }
        )
        return extract


def build_bundle(
    harvest: IntelHarvest,
    policy: SharePolicy,
    *,
    identity_name: str,
    attributions: dict[str, str] | None = None,
    now: datetime | None = None,
    revoked: list[dict[str, Any]] | None = None,
) -> ExportResult:
    """One STIX 2.1 bundle for every group in ``harvest``."""
    b = _Builder(policy, identity_name, now or datetime.now(UTC))
    extract_id = b.preamble()
    technique_ids: dict[str, str] = {}
    for group in harvest.groups:
        _add_group(b, group, extract_id, technique_ids, (attributions or {}).get(group.group_id))
    for obj in revoked or []:
        b.add(obj)
    counts: dict[str, int] = {}
    for obj in b.objects:
        counts[obj["type"]] = counts.get(obj["type"], 0) + 1
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": b.objects}
    return ExportResult(bundle, counts, list(harvest.notes))


def _technique(b: _Builder, name: str, technique_ids: dict[str, str]) -> str:
    if name not in technique_ids:
        object_id = b.sid("attack-pattern", "distillguard-technique", name)
        b.add(
            {
                **b.common("attack-pattern", object_id, stix_time(_EPOCH), stix_time(_EPOCH)),
                "name": TECHNIQUES[name],
                "description": "Prompting shaped to harvest training data for a student model.",
                "extensions": extension_block({"elicitation_technique": name}),
            }
        )
        technique_ids[name] = object_id
    return technique_ids[name]


def _add_group(
    b: _Builder, group: GroupIntel, extract_id: str, technique_ids: dict[str, str], actor: str | None
) -> None:
    # The local campaign id never leaves: the STIX id is derived from its community hash.
    token = community_hash(b.policy.key, "campaign", group.group_id)
    first, last = stix_time(group.first_seen), stix_time(group.last_seen)
    campaign_id = b.sid("campaign", token)
    focus = ", ".join(group.capability_focus) or "unknown"
    b.add(
        {
            **b.common("campaign", campaign_id, first, last),
            "name": f"Distillation {group.group_kind} {token[:8]}",
            "description": f"Model-distillation traffic from {group.accounts} coordinated accounts; "
            f"capability focus: {focus}.",
            "first_seen": first,
            "last_seen": last,
            "objective": "Harvest model outputs to train a competing model.",
            "confidence": max(1, min(100, round(100 * group.risk))),
            "extensions": extension_block(
                {
                    "capability_focus": group.capability_focus,
                    "elicitation_techniques": group.techniques,
                    "signup_pattern": group.signup_pattern,
                    "timeline": [list(item) for item in group.timeline],
                    "accounts": group.accounts,
                    "events": group.events,
                }
            ),
        }
    )
    b.relationship(campaign_id, "uses", extract_id, first, last)
    for technique in group.techniques:
        b.relationship(campaign_id, "uses", _technique(b, technique, technique_ids), first, last)
    if actor:
        actor_id = b.sid("intrusion-set", actor)
        b.add({**b.common("intrusion-set", actor_id, first, last), "name": actor})
        b.relationship(campaign_id, "attributed-to", actor_id, first, last)
    infra_id = None
    if any(i.kind in {"asn", "ip_prefix"} for i in group.indicators):
        infra_id = b.sid("infrastructure", token)
        b.add(
            {
                **b.common("infrastructure", infra_id, first, last),
                "name": f"Proxy network of distillation {group.group_kind} {token[:8]}",
                "infrastructure_types": ["anonymization"],
                "first_seen": first,
                "last_seen": last,
            }
        )
        b.relationship(campaign_id, "uses", infra_id, first, last)
    for indicator in group.indicators:
        _add_indicator(b, indicator, token, campaign_id, infra_id, first)
    b.add(
        {
            **b.common("sighting", b.sid("sighting", token), first, last),
            "sighting_of_ref": campaign_id,
            "where_sighted_refs": [b.identity_id],
            "first_seen": first,
            "last_seen": last,
            "count": min(group.events, 999_999_999),
        }
    )


def _add_indicator(
    b: _Builder, indicator: Indicator, token: str, campaign_id: str, infra_id: str | None, group_first: str
) -> None:
    first = stix_time(indicator.first_seen) if indicator.first_seen else group_first
    last = stix_time(indicator.last_seen) if indicator.last_seen else first
    # Valid for the policy's window after the last sighting, and always after valid_from.
    last_dt = indicator.last_seen or datetime.fromisoformat(first.replace("Z", "+00:00"))
    valid_until = stix_time(last_dt + timedelta(days=max(b.policy.validity_days, 0), seconds=1))
    object_id = b.sid("indicator", token, indicator.kind, indicator.value)
    ext: dict[str, Any] = {
        "fingerprint_kind": indicator.kind,
        "value_form": indicator.value_form,
        "match": "minhash-jaccard" if indicator.kind == "template" else "equality",
        "accounts_seen": indicator.accounts,
        "exclusivity": indicator.exclusivity,
    }
    if indicator.kind == "template":
        ext["fingerprint_version"] = COMMUNITY_MINHASH_VERSION
    b.add(
        {
            **b.common("indicator", object_id, first, last),
            "name": f"{indicator.kind} fingerprint of distillation campaign {token[:8]}",
            "description": f"Seen across {indicator.accounts} accounts of the campaign "
            f"({indicator.exclusivity:.0%} of all accounts using it).",
            "indicator_types": ["malicious-activity"],
            "pattern": pattern_for(indicator),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": first,
            "valid_until": valid_until,
            "confidence": indicator.confidence,
            "extensions": extension_block(ext),
        }
    )
    b.relationship(object_id, "indicates", campaign_id, first, last)
    if infra_id and indicator.kind in {"asn", "ip_prefix"}:
        b.relationship(object_id, "indicates", infra_id, first, last)


def revocations(previous: list[dict[str, Any]], current_ids: set[str], now: datetime) -> list[dict[str, Any]]:
    """Previously published indicators that this export no longer carries, revoked."""
    out = []
    stamp = stix_time(now)
    for body in previous:
        if body.get("id") in current_ids or body.get("revoked"):
            continue
        out.append({**body, "revoked": True, "modified": max(stamp, str(body.get("modified", stamp)))})
    return out


def validate_bundle(bundle_json: str) -> list[str]:
    """Errors the OASIS stix2-validator reports (empty: valid). Needs the dev extra."""
    from stix2validator import ValidationOptions, validate_string

    result = validate_string(bundle_json, ValidationOptions(strict=False))
    if not isinstance(result, list) and result.is_valid:
        return []
    # validate_string answers one ObjectValidationResults for a bundle (a list for several).
    results = result if isinstance(result, list) else [result]
    return [str(error) for res in results for error in getattr(res, "errors", [])]
