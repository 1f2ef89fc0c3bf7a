"""Nothing private crosses: the shared bundle is scanned for what must never leave."""

from __future__ import annotations

import re

from distillguard.config import Config
from distillguard.intel.exchange import export_bundle
from distillguard.intel.privacy import community_hash, community_minhash, parse_community_minhash
from distillguard.warehouse import Warehouse

from .conftest import Planted

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _word_windows(text: str, width: int = 5) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return {" ".join(words[i : i + width]) for i in range(len(words) - width + 1)}


def test_shared_bundle_holds_no_raw_ip_email_prompt_text_or_account_id(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    shared = export_bundle(warehouse, intel_config, attributions={"camp-a": "Hydra Operator"}).to_json()
    words = " ".join(re.findall(r"[a-z]+", shared.lower()))
    assert not IPV4.findall(shared), "an IPv4 address left in the bundle"
    assert not EMAIL.findall(shared), "an e-mail address left in the bundle"
    for account in planted.campaign_accounts + planted.benign_accounts:
        assert account not in shared
    assert "camp-a" not in shared, "the local campaign id left in the bundle"
    for value in set(planted.payment_fingerprints + planted.user_agents + planted.local_hashes):
        assert value not in shared, f"raw or locally keyed value {value!r} left in the bundle"
    for domain in {e.split("@")[1] for e in planted.emails}:
        assert domain not in shared
    leaked = [w for prompt in planted.prompts for w in _word_windows(prompt) if w in words]
    assert not leaked, f"prompt text left in the bundle: {leaked[:3]}"


def test_community_hashes_differ_from_local_ones_and_need_the_key(intel_config: Config) -> None:
    a = community_hash(b"community-one", "payment", "pf-1")
    assert a == community_hash(b"community-one", "payment", "pf-1")
    assert a != community_hash(b"community-two", "payment", "pf-1")
    assert a != community_hash(b"community-one", "sdk", "pf-1")  # domains are separated


def test_keyed_minhash_keeps_slot_equality_but_not_values() -> None:
    signature = list(range(1000, 1064))
    near = signature[:48] + list(range(5000, 5016))
    keyed, keyed_near = community_minhash(b"k", signature), community_minhash(b"k", near)
    assert sum(x == y for x, y in zip(keyed, keyed_near, strict=True)) == 48
    assert not set(keyed) & set(signature)
    from distillguard.intel.privacy import serialise_community_minhash

    assert parse_community_minhash(serialise_community_minhash(b"k", signature)) == keyed
