"""A warehouse as a finished scan leaves it, for the decision service's tests.

Accounts (the scan's verdicts):

- ``acct-campaign``: extraction at risk 0.97 (the default policy blocks it);
- ``acct-harvester``: extraction at risk 0.85 (the default policy degrades it and
  holds it to 2 requests a minute, then throttles);
- ``acct-ordinary``: scored low, not published.

``acct-campaign`` used the API key ``key-campaign``, which nobody else used, so the
scan flags the key too; a fresh account presenting that key is caught by it. The
logs tie each of those two keys to its one account (``KEYS``), so ``/v1/auth`` finds
the account from the key a client presents.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from distillguard.config import Config, deployment_secret
from distillguard.fingerprints import hash_api_key, hash_ip
from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS, EVENTS
from distillguard.warehouse import Warehouse

CAMPAIGN, HARVESTER, ORDINARY = "acct-campaign", "acct-harvester", "acct-ordinary"
CAMPAIGN_KEY = "key-campaign"
KEYS = {CAMPAIGN: CAMPAIGN_KEY, ORDINARY: "key-ordinary"}


def client_key(account: str) -> dict[str, str]:
    """The header a gateway forwards to /v1/auth for a client of ``account`` (its API key)."""
    return {"X-Client-Authorization": f"Bearer {KEYS[account]}"}


START = datetime(2026, 3, 2, tzinfo=UTC)

CHAT_ELICITING = {
    "model": "gpt-large",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": "Solve this and think step by step, writing out every intermediate step of your "
            "full reasoning before the final answer: a train leaves at 9 and travels 120 km at 80 km/h.",
        },
    ],
    "logprobs": True,
    "top_logprobs": 5,
    "max_tokens": 8000,
}


def plant_verdicts(config: Config) -> None:
    """Write account_scores, accounts and a few events into ``config.db_path`` and close it."""
    secret = deployment_secret(config)
    with Warehouse.open(config.db_path) as warehouse:
        scores = [
            (CAMPAIGN, 0.97, "extraction", ["mass chain-of-thought elicitation over 4,000 prompts"]),
            (HARVESTER, 0.85, "extraction", ["rubric grading at 92% of prompts"]),
            (ORDINARY, 0.05, "ok", []),
        ]
        warehouse.replace_table(
            "account_scores",
            pa.Table.from_pylist(
                [
                    {"account_id": a, "risk": r, "verdict": v, "events": 10, "reasons": why}
                    for a, r, v, why in scores
                ],
                schema=ACCOUNT_SCORES,
            ),
        )
        warehouse.upsert_accounts(
            pa.Table.from_pylist(
                [
                    {
                        "account_id": a,
                        "plan": "pro",
                        "verification": "card",
                        "created_at": START - timedelta(days=90),
                    }
                    for a, _, _, _ in scores
                ],
                schema=ACCOUNTS,
            )
        )
        events = []
        for i, (account, key, ip) in enumerate(
            [
                (CAMPAIGN, CAMPAIGN_KEY, "198.51.100.7"),
                (ORDINARY, KEYS[ORDINARY], "203.0.113.9"),
            ]
        ):
            events.append(
                {
                    "event_id": f"e{i}",
                    "source_format": "openai-chat",
                    "ts_start": START,
                    "account_id": account,
                    "api_key_hash": hash_api_key(secret, key),
                    "ip_prefix_hash": hash_ip(secret, ip)[1],
                }
            )
        warehouse.insert_events(pa.Table.from_pylist(events, schema=EVENTS))


def write_policy(path: Path, text: str) -> Path:
    """Write a policy file whose mtime is safely in the past (the watcher skips files still being saved)."""
    path.write_text(text, encoding="utf-8")
    past_ns = time.time_ns() - 5_000_000_000 + len(text)  # distinct per content, 5 s old
    os.utime(path, ns=(past_ns, past_ns))
    return path
