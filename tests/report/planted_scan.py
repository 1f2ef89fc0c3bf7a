"""A warehouse with scan results written by hand, per schema.py.

Built directly (not through the pipeline) so report and output tests pin the
exact rows they expect: one campaign of two hydra clusters that moves to a new
model on day two, a benign population, a benign account sharing the hydra's IP
prefix, and prompts carrying hostile HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from distillguard.schema import (
    ACCOUNT_SCORES,
    ACCOUNTS,
    CAMPAIGNS,
    CLUSTERS,
    EVENTS,
    FINDINGS,
    PROMPT_SIGNALS,
)
from distillguard.warehouse import Warehouse

START = datetime(2026, 2, 10, tzinfo=UTC)
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)> explain step by step"


@dataclass(frozen=True)
class Planted:
    campaign_id: str
    clusters: tuple[str, ...]
    attackers: tuple[str, ...]
    benign: tuple[str, ...]
    bystander: str  # benign, shares an IP prefix with the hydra
    pivot_model: str
    hostile_account: str


def plant_scan(warehouse: Warehouse, *, attackers_per_cluster: int = 6, benign: int = 12) -> Planted:
    clusters = ("cl-hydra-a", "cl-hydra-b")
    attackers = [f"acct-h{c}-{i:02d}" for c in range(len(clusters)) for i in range(attackers_per_cluster)]
    benign_ids = [f"acct-benign-{i:02d}" for i in range(benign)]
    bystander = benign_ids[0]
    events: list[dict[str, object]] = []
    signals: list[dict[str, object]] = []
    n = 0
    for a_index, account in enumerate(attackers):
        cluster = a_index // attackers_per_cluster
        for hour in range(0, 72, 2):
            ts = START + timedelta(hours=hour, minutes=a_index)
            # Day one on the old model; from hour 30 most traffic moves to the new one.
            model = "model-new" if hour >= 30 and hour % 6 else "model-old"
            text = (
                HOSTILE
                if account == attackers[0] and hour == 0
                else (
                    f"Solve problem {hour} and show your full reasoning before the answer. Reply to a@b.com"
                )
            )
            n += 1
            events.append(
                {
                    "event_id": f"ev-{n}",
                    "source_format": "canonical",
                    "ts_start": ts,
                    "account_id": account,
                    "ip_prefix_hash": f"pfx-hydra-{cluster}",
                    "sdk_fingerprint": "sdk-python-1.0",
                    "model_requested": model,
                    "model_served": model,
                    "prompt_text": text,
                    "skeleton_hash": f"sk-template-{cluster}",
                }
            )
            signals.append(
                {
                    "event_id": f"ev-{n}",
                    "account_id": account,
                    "ts_start": ts,
                    "cot_elicitation": 0.9,
                    "rubric_grading": 0.1,
                    "censorship_rewrite": 0.0,
                    "capability": "math" if hour % 4 else "reasoning",
                    "template_family": f"tf-{cluster}",
                    "evidence": ["cot:0-40:show your full reasoning"],
                }
            )
    for b_index, account in enumerate(benign_ids):
        for hour in range(0, 72, 9):
            n += 1
            ts = START + timedelta(hours=hour, minutes=b_index)
            events.append(
                {
                    "event_id": f"ev-{n}",
                    "source_format": "canonical",
                    "ts_start": ts,
                    "account_id": account,
                    "ip_prefix_hash": "pfx-hydra-0" if account == bystander else f"pfx-home-{b_index}",
                    "sdk_fingerprint": "sdk-python-1.0",
                    "model_requested": "model-old",
                    "model_served": "model-old",
                    "prompt_text": f"help me write an email to my landlord #{hour}",
                    "skeleton_hash": f"sk-benign-{b_index}-{hour}",
                }
            )
            signals.append(
                {
                    "event_id": f"ev-{n}",
                    "account_id": account,
                    "ts_start": ts,
                    "cot_elicitation": 0.0,
                    "rubric_grading": 0.0,
                    "censorship_rewrite": 0.0,
                    "capability": "general",
                    "template_family": None,
                    "evidence": [],
                }
            )
    warehouse.insert_events(pa.Table.from_pylist(events, schema=EVENTS))
    warehouse.upsert_accounts(
        pa.Table.from_pylist(
            [
                {
                    "account_id": a,
                    "created_at": START - timedelta(days=1 if a in attackers else 400),
                    "plan": "education" if a in attackers else "paygo",
                    "verification": "email",
                    "payment_fingerprint": f"pay-{attackers.index(a) // attackers_per_cluster}"
                    if a in attackers
                    else f"pay-b{a}",
                }
                for a in [*attackers, *benign_ids]
            ],
            schema=ACCOUNTS,
        )
    )
    campaign = "camp-0001"
    per_account_events = 36
    scores = [
        {
            "account_id": a,
            "risk": 0.95 - 0.01 * (i % attackers_per_cluster),
            "verdict": "extraction",
            "cluster_id": clusters[i // attackers_per_cluster],
            "campaign_id": campaign,
            "events": per_account_events,
            "reasons": [
                "cot_elicitation share 100% of events",
                f"shares IP prefix and payment with {attackers_per_cluster - 1} accounts",
            ],
        }
        for i, a in enumerate(attackers)
    ]
    scores += [
        {
            "account_id": a,
            "risk": 0.6 if i == 1 else 0.05,
            "verdict": "watch" if i == 1 else "ok",
            "cluster_id": None,
            "campaign_id": None,
            "events": 8,
            "reasons": ["volume 3x own baseline"] if i == 1 else [],
        }
        for i, a in enumerate(benign_ids)
    ]
    warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    warehouse.replace_table(
        "clusters",
        pa.Table.from_pylist(
            [
                {
                    "cluster_id": cid,
                    "accounts": attackers_per_cluster,
                    "events": attackers_per_cluster * per_account_events,
                    "risk": 0.93 - 0.02 * i,
                    "verdict": "extraction",
                    "campaign_id": campaign,
                    "top_indicators": [f"ip_prefix pfx-hydra-{i}", f"payment pay-{i}", "<b>bold</b>"],
                }
                for i, cid in enumerate(clusters)
            ],
            schema=CLUSTERS,
        ),
    )
    warehouse.replace_table(
        "campaigns",
        pa.Table.from_pylist(
            [
                {
                    "campaign_id": campaign,
                    "first_seen": START,
                    "last_seen": START + timedelta(hours=71),
                    "accounts": len(attackers),
                    "events": len(attackers) * per_account_events,
                    "risk": 0.94,
                    "capability_focus": ["math", "reasoning"],
                    "evidence": ["92% of events elicit chain-of-thought", "pivot to model-new within 24 h"],
                }
            ],
            schema=CAMPAIGNS,
        ),
    )
    warehouse.replace_table("prompt_signals", pa.Table.from_pylist(signals, schema=PROMPT_SIGNALS))
    warehouse.replace_table(
        "findings",
        pa.Table.from_pylist(
            [
                {
                    "finding_id": "f-1",
                    "level": "campaign",
                    "subject_id": campaign,
                    "detector_id": "model_pivot",
                    "score": 0.9,
                    "value": 0.8,
                    "reason": "80% of traffic moved to model-new within 24 h of its release",
                    "created_at": START,
                }
            ],
            schema=FINDINGS,
        ),
    )
    return Planted(
        campaign_id=campaign,
        clusters=clusters,
        attackers=tuple(attackers),
        benign=tuple(benign_ids),
        bystander=bystander,
        pivot_model="model-new",
        hostile_account=attackers[0],
    )
