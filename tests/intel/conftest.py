"""A planted campaign in a warehouse, as the detection pipeline would leave it.

The pipeline's output tables (account_scores, campaigns, prompt_signals) are
written directly, so intel/ is tested on known structure: a hydra of light
accounts behind one proxy ASN, one SDK build, a few shared payment instruments
and a handful of prompt templates, next to ordinary customers spread over many
networks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from distillguard.config import Config, deployment_secret
from distillguard.fingerprints import FINGERPRINT_VERSION, fingerprint, hash_ip
from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS, CAMPAIGNS, EVENTS, PROMPT_SIGNALS
from distillguard.warehouse import Warehouse

COMMUNITY_KEY = "community-key-for-tests"
START = datetime(2026, 3, 2, tzinfo=UTC)

TEMPLATES = (
    "Solve the following problem and think step by step, writing out every intermediate step of your "
    "reasoning before the final answer. Problem: a train leaves at {a} and travels {b} km at {c} km/h.",
    "You are grading an answer against a rubric. Score it from 1 to 10 on correctness, clarity and "
    'completeness and explain each score. Question: "{q}" Answer: "{r}"',
    "Rewrite the passage below so that it avoids any politically sensitive framing while keeping all of "
    'the facts, then list what you changed and why. Passage: "{q}"',
)
BENIGN = (
    "can you help me write a birthday message for my sister who loves {q} and hiking",
    "what is the difference between a list and a tuple in python, with an example using {a}",
    "summarise this meeting note for my team: we agreed to move the launch to week {a}",
    "give me a recipe for dinner tonight with {q} and rice, nothing too spicy",
    "translate 'the museum opens at {a} tomorrow' into French and Spanish",
)
WORDS = ("lemons", "jazz", "otters", "glaciers", "teapots", "comets", "sailing", "chess", "orchids")


@dataclass
class Planted:
    campaign_accounts: list[str]
    benign_accounts: list[str]
    prompts: list[str]
    raw_ips: list[str]
    emails: list[str]
    payment_fingerprints: list[str]
    user_agents: list[str]
    local_hashes: list[str] = field(default_factory=list)


def _slots(rng: random.Random) -> dict[str, str]:
    return {
        "a": str(rng.randint(1, 999)),
        "b": str(rng.randint(10, 900)),
        "c": str(rng.randint(40, 300)),
        "q": f"{rng.choice(WORDS)} and {rng.choice(WORDS)} near the {rng.choice(WORDS)}",
        "r": f"it is {rng.randint(2, 99)} because of {rng.choice(WORDS)}",
    }


def plant(
    warehouse: Warehouse,
    config: Config,
    *,
    seed: int = 7,
    prefix: str = "a",
    campaign_accounts: int = 12,
    benign_accounts: int = 20,
    events_per_account: int = 8,
    start: datetime = START,
    detected: bool = True,
) -> Planted:
    """Write events, accounts and (when ``detected``) the detection tables."""
    rng = random.Random(seed)
    secret = deployment_secret(config)
    hydra = [f"{prefix}-acct-{i:04d}" for i in range(campaign_accounts)]
    normal = [f"{prefix}-cust-{i:04d}" for i in range(benign_accounts)]
    events, accounts, signals = [], [], []
    planted = Planted(hydra, normal, [], [], [], [], [])
    payment_pool = [f"pf-hydra-{i}" for i in range(3)]  # the operator reuses its cards
    for index, account in enumerate(hydra + normal):
        attacker = account in hydra
        domain = f"mailbox-{index % 2}.example" if attacker else f"corp{index}.example"
        email = f"{account}@{domain}"
        payment = payment_pool[index % 3] if attacker else f"pf-{prefix}-{index}"
        accounts.append(
            {
                "account_id": account,
                "created_at": start - timedelta(hours=2 if attacker else 400 + index),
                "country": "US",
                "email_domain": email.split("@")[1],
                "payment_fingerprint": payment,
                "verification": "email" if attacker else "phone",
                "plan": "paygo",
                "attrs": [("email", email)],
            }
        )
        planted.emails.append(email)
        planted.payment_fingerprints.append(payment)
        for n in range(events_per_account):
            ip = f"203.0.113.{rng.randint(1, 254)}" if attacker else f"198.51.{index}.{rng.randint(1, 254)}"
            ua = "hydra-sdk/2.1 (python 3.11)" if attacker else f"Mozilla/5.0 app-{index}"
            text = (TEMPLATES[n % 3] if attacker else BENIGN[(index + n) % 5]).format(**_slots(rng))
            prompt_hash, skeleton_hash, signature = fingerprint(text)
            ip_hash, prefix_hash = hash_ip(secret, ip)
            event_id = f"{account}-e{n}"
            ts = start + timedelta(minutes=7 * n + index)
            events.append(
                {
                    "event_id": event_id,
                    "source_format": "canonical",
                    "ts_start": ts,
                    "account_id": account,
                    "client_ip_hash": ip_hash,
                    "ip_prefix_hash": prefix_hash,
                    "asn": "AS64500" if attacker else f"AS{64600 + index}",
                    "user_agent": ua,
                    "sdk_fingerprint": "py-hydra-2.1" if attacker else f"web-{index}",
                    "prompt_text": text,
                    "prompt_hash": prompt_hash,
                    "skeleton_hash": skeleton_hash,
                    "prompt_minhash": signature,
                    "fingerprint_version": FINGERPRINT_VERSION,
                }
            )
            signals.append(
                {
                    "event_id": event_id,
                    "account_id": account,
                    "ts_start": ts,
                    "cot_elicitation": 0.9 if attacker and n % 3 == 0 else 0.0,
                    "rubric_grading": 0.9 if attacker and n % 3 == 1 else 0.0,
                    "censorship_rewrite": 0.0,
                    "capability": "reasoning" if attacker else "general",
                    "evidence": [],
                }
            )
            planted.prompts.append(text)
            planted.raw_ips.append(ip)
            planted.user_agents.append(ua)
            planted.local_hashes += [ip_hash or "", prefix_hash or ""]
    warehouse.insert_events(pa.Table.from_pylist(events, schema=EVENTS))
    warehouse.upsert_accounts(pa.Table.from_pylist(accounts, schema=ACCOUNTS))
    if detected:
        mark_detected(warehouse, hydra, normal, campaign_id=f"camp-{prefix}", start=start)
        warehouse.replace_table("prompt_signals", pa.Table.from_pylist(signals, schema=PROMPT_SIGNALS))
    return planted


def mark_detected(
    warehouse: Warehouse, hydra: list[str], normal: list[str], *, campaign_id: str, start: datetime
) -> None:
    scores = [
        {
            "account_id": a,
            "risk": 0.92,
            "verdict": "extraction",
            "cluster_id": "k1",
            "campaign_id": campaign_id,
            "events": 8,
            "reasons": ["planted"],
        }
        for a in hydra
    ] + [
        {
            "account_id": a,
            "risk": 0.05,
            "verdict": "ok",
            "cluster_id": None,
            "campaign_id": None,
            "events": 8,
            "reasons": [],
        }
        for a in normal
    ]
    warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    campaign = {
        "campaign_id": campaign_id,
        "first_seen": start,
        "last_seen": start + timedelta(hours=1),
        "accounts": len(hydra),
        "events": 8 * len(hydra),
        "risk": 0.92,
        "capability_focus": ["reasoning"],
        "evidence": ["planted"],
    }
    warehouse.replace_table("campaigns", pa.Table.from_pylist([campaign], schema=CAMPAIGNS))


@pytest.fixture
def intel_config(config: Config) -> Config:
    return config.with_overrides(intel_community_key=COMMUNITY_KEY, intel_min_accounts_for_template=5)


@pytest.fixture
def planted(warehouse: Warehouse, intel_config: Config) -> Planted:
    return plant(warehouse, intel_config)


def just_now() -> str:
    """A STIX timestamp for "now": a newer version than any planted one, never in the future
    (the importer refuses timestamps ahead of its clock)."""
    from distillguard.intel.stix_export import stix_time

    return stix_time(datetime.now(UTC))
