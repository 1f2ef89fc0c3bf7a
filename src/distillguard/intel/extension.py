"""The STIX 2.1 extension-definition for what STIX has no object for.

STIX describes infrastructure and attack patterns well, but nothing in the core
specification carries a prompt-template fingerprint or says which elicitation
technique a distillation campaign used. We add them as a *property-extension*
(section 7.3 of STIX 2.1) on ``indicator``, ``campaign`` and ``attack-pattern``,
so every consumer that does not know the extension still sees well-formed core
objects. The normative description is docs/stix-extension.md; the ids below are
fixed forever: a new incompatible version gets a new id.
"""

from __future__ import annotations

from typing import Any

EXTENSION_ID = "extension-definition--8f2d3c1e-5b7a-4e69-9a41-6d0c2b7e9f13"
EXTENSION_VERSION = "1.0.0"
EXTENSION_CREATED = "2026-11-24T00:00:00.000Z"
# The author of the extension-definition (the distillguard project), not the provider.
PROJECT_IDENTITY_ID = "identity--2c5e8a47-91d3-4f0b-8e6a-3b9d7c1f4a20"

# The cyber-observable type our STIX patterns use for keyed fingerprints.
FINGERPRINT_SCO = "x-distillguard-fingerprint"

# Properties the extension defines, by the object type carrying them.
EXTENSION_PROPERTIES: dict[str, dict[str, str]] = {
    "indicator": {
        "fingerprint_kind": "asn | ip_prefix | payment | email_domain | sdk | user_agent | template",
        "value_form": "raw | community-hmac | minhash-community",
        "match": "equality | minhash-jaccard",
        "min_jaccard": "for template fingerprints: the Jaccard estimate at which a prompt matches",
        "fingerprint_version": "for template fingerprints: the MinHash layout (refuse other versions)",
        "accounts_seen": "how many of the provider's accounts used the value (integer)",
        "exclusivity": "share of all accounts using the value that belong to the campaign (0-1)",
    },
    "campaign": {
        "capability_focus": "capabilities the traffic concentrated on, most first",
        "elicitation_techniques": "technique -> share of the campaign's prompts using it",
        "signup_pattern": "aggregate sign-up statistics: verification and plan histograms, "
        "median hours from sign-up to first call, peak sign-ups per hour",
        "timeline": "list of [day, events]",
        "accounts": "number of accounts attributed to the campaign",
        "events": "number of API calls attributed to the campaign",
    },
    "attack-pattern": {
        "elicitation_technique": "cot_elicitation | rubric_grading | censorship_rewrite",
    },
}


def project_identity() -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": PROJECT_IDENTITY_ID,
        "created": EXTENSION_CREATED,
        "modified": EXTENSION_CREATED,
        "name": "distillguard project",
        "identity_class": "organization",
    }


def extension_definition(marking_ids: list[str]) -> dict[str, Any]:
    lines = [
        "distillguard model-distillation intelligence, property-extension v" + EXTENSION_VERSION + ".",
        "Normative text: docs/stix-extension.md of distillguard. Properties by object type:",
    ]
    for object_type, props in EXTENSION_PROPERTIES.items():
        lines.append(f"{object_type}: " + "; ".join(f"{k} ({v})" for k, v in props.items()))
    lines.append(
        f"Pattern observable {FINGERPRINT_SCO} has properties kind and value; community-hmac values are "
        "HMAC-SHA256 (128-bit hex) under the sharing community's key."
    )
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": EXTENSION_CREATED,
        "modified": EXTENSION_CREATED,
        "name": "distillguard-distillation-intel",
        "description": "Prompt-template fingerprints, elicitation techniques and campaign statistics "
        "for model-distillation campaigns.",
        "schema": "\n".join(lines),
        "version": EXTENSION_VERSION,
        "extension_types": ["property-extension"],
        "object_marking_refs": marking_ids,
    }


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _prune(value: Any) -> Any:
    """STIX forbids empty lists and nulls: drop them, at any depth."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if _present(v)}
    if isinstance(value, list):
        return [_prune(v) for v in value if _present(v)]
    return value


def extension_block(properties: dict[str, Any]) -> dict[str, Any]:
    """The ``extensions`` value carrying our properties on one object."""
    return {EXTENSION_ID: {"extension_type": "property-extension", **_prune(properties)}}


def read_extension(obj: dict[str, Any]) -> dict[str, Any]:
    ext = obj.get("extensions")
    if not isinstance(ext, dict):
        return {}
    block = ext.get(EXTENSION_ID)
    return block if isinstance(block, dict) else {}
