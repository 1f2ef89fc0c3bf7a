"""What may leave the building, and in which form.

Three rules hold for everything intel/ shares:

* identifiers a partner must match (payment fingerprints, e-mail domains, SDK and
  user-agent strings, ASNs and IP prefixes unless raw sharing is allowed) leave
  only as an HMAC under the *community* key, which every member of the sharing
  community holds and which is distinct from the deployment's local ``hmac_secret``
  (a partner can match our hashes against its own data; an outsider who sees the
  bundle cannot dictionary-attack them, and nobody can link them to our warehouse);
* prompt-template fingerprints are MinHash signatures of skeletons whose every
  slot is passed through a keyed BLAKE2b under the community key: slot equality,
  and so the Jaccard estimate, survives; guessing a template offline does not.
  A template is only shared once seen across ``intel_min_accounts_for_template``
  accounts (k-anonymity: a single customer's prompt shape never leaves);
* every exported object carries a TLP 2.0 marking (the OASIS marking-definition
  objects, by their published ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.config import Config
from distillguard.fingerprints import FINGERPRINT_VERSION, keyed_hash, parse_minhash, serialise_minhash

# ------------------------------------------------------------------ TLP 2.0
# Published by the OASIS CTI TC in cti-stix-common-objects
# (extension-definition-specifications/tlp-2.0): ids and "created" are fixed by that
# publication, consumers recognise the markings by id. STIX 2.1's own predefined
# TLP markings are TLP 1.0 and mean something else, so they are never used here.
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_MARKING_IDS: dict[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def tlp_marking(level: str) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object for ``level``."""
    if level not in TLP2_MARKING_IDS:
        raise ValueError(f"unknown TLP 2.0 level {level!r}; use one of {', '.join(TLP2_MARKING_IDS)}")
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_MARKING_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


# -------------------------------------------------------------- community hashing
COMMUNITY_MINHASH_VERSION = f"{FINGERPRINT_VERSION}/community-b2b1"


class MissingCommunityKey(ValueError):
    """Hashed sharing was asked for without a community key."""


def community_key(config: Config) -> bytes:
    key = str(config.intel_community_key or "")
    if not key:
        raise MissingCommunityKey(
            "intel_community_key is not set: set DISTILLGUARD_INTEL_COMMUNITY_KEY (or the setting in "
            "distillguard.toml) to the key your sharing community agreed on"
        )
    local = str(config.hmac_secret or "")
    if local and local == key:
        raise MissingCommunityKey("intel_community_key must differ from the local hmac_secret")
    return key.encode()


def community_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 under the community key; ``kind`` separates domains (payment vs sdk)."""
    return keyed_hash(key, normalise_value(kind, value), purpose=f"dg-intel-{kind}")


def normalise_value(kind: str, value: str) -> str:
    """The canonical spelling both sides hash, so 'AS13335' and '13335' agree."""
    text = value.strip()
    if kind == "asn":
        return text.upper().removeprefix("AS")
    if kind in {"email_domain", "sdk", "user_agent"}:
        return text.lower()
    return text


def community_minhash(key: bytes, signature: Sequence[int]) -> list[int]:
    """Each MinHash slot through keyed BLAKE2b (32-bit): equality per slot is kept."""
    out: list[int] = []
    for slot, value in enumerate(signature):
        digest = hashlib.blake2b(
            slot.to_bytes(2, "big") + int(value).to_bytes(4, "big"), key=key[:64], digest_size=4
        ).digest()
        out.append(int.from_bytes(digest, "big"))
    return out


def serialise_community_minhash(key: bytes, signature: Sequence[int]) -> str:
    return serialise_minhash(community_minhash(key, signature), version=COMMUNITY_MINHASH_VERSION)


def parse_community_minhash(text: str) -> list[int]:
    return parse_minhash(text, expected_version=COMMUNITY_MINHASH_VERSION)


# ---------------------------------------------------------------- share policy
@dataclass(frozen=True)
class SharePolicy:
    """What the export may contain, derived from settings (shown by ``--dry-run``)."""

    tlp: str
    share_raw_infrastructure: bool
    min_accounts_for_template: int
    validity_days: int
    key: bytes

    @classmethod
    def from_config(cls, config: Config) -> SharePolicy:
        return cls(
            tlp=str(config.intel_tlp),
            share_raw_infrastructure=bool(config.intel_share_raw_infrastructure),
            min_accounts_for_template=max(1, int(config.intel_min_accounts_for_template)),
            validity_days=int(config.intel_indicator_validity_days),
            key=community_key(config),
        )

    def describe(self) -> list[str]:
        infra = "raw" if self.share_raw_infrastructure else "community-HMAC"
        return [
            f"marking: TLP:{self.tlp.upper()} on every object",
            f"infrastructure (ASN, IP prefix): {infra}",
            "payment, e-mail domain, SDK and user-agent fingerprints: community-HMAC",
            f"prompt templates: community-keyed MinHash, only when seen across >= "
            f"{self.min_accounts_for_template} accounts; never prompt text",
            "never shared: account ids, API keys, full IP addresses, e-mails, prompt or response text",
        ]
