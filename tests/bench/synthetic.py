"""A small planted data set for the benchmark's tests, independent of the simulator.

Benign accounts write varied prompts from a random vocabulary spread over ten
days; one hydra campaign of light accounts sends templated prompts after day 4;
one greedy attacker floods a single hour. Written either straight into a
warehouse or as a data set directory in the simulator's contract layout.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.schema import EVENTS

START = datetime(2026, 2, 1, tzinfo=UTC)
DAYS = 10
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "ben", "dor", "fal", "gri", "hum", "ip"]


@dataclass
class Planted:
    events: list[dict[str, Any]]
    truth_accounts: list[dict[str, str]]
    campaigns: list[dict[str, Any]]


def _vocabulary(rng: random.Random, size: int = 600) -> list[str]:
    words = {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _benign_text(rng: random.Random, vocabulary: list[str]) -> str:
    # Zipf-like word choice: a few common words, a long tail, as in natural text.
    length = rng.randint(8, 24)
    words = [vocabulary[min(int(rng.paretovariate(1.1)) - 1, len(vocabulary) - 1)] for _ in range(length)]
    words += [rng.choice(vocabulary) for _ in range(length // 2)]
    rng.shuffle(words)
    return " ".join(words) + "?"


def _template_text(rng: random.Random) -> str:
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    return (
        "Solve the following problem and write out the full reasoning step by step before the final "
        f"answer: what is {a} multiplied by {b}"
    )


def plant(seed: int = 3, benign_accounts: int = 40, hydra_accounts: int = 12) -> Planted:
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    events: list[dict[str, Any]] = []
    accounts: list[dict[str, str]] = []

    def add(account: str, ts: datetime, text: str) -> None:
        events.append(
            {
                "event_id": f"ev-{len(events):06d}",
                "ts_start": ts,
                "account_id": account,
                "prompt_text": text,
                "model_requested": "model-a",
            }
        )

    span_s = DAYS * 86400
    for i in range(benign_accounts):
        account = f"dev-{i:03d}"
        accounts.append(
            {"account_id": account, "population": "developer", "campaign_id": "", "role": "benign"}
        )
        for _ in range(rng.randint(30, 50)):
            add(account, START + timedelta(seconds=rng.uniform(0, span_s)), _benign_text(rng, vocabulary))
    # A quiet benign account, far from any limit: must never be flagged.
    accounts.append(
        {"account_id": "quiet-dev", "population": "developer", "campaign_id": "", "role": "benign"}
    )
    for k in range(45):
        add("quiet-dev", START + timedelta(hours=5 * k + 1), _benign_text(rng, vocabulary))
    onset = START + timedelta(days=4)
    for i in range(hydra_accounts):
        account = f"hydra-{i:03d}"
        accounts.append(
            {"account_id": account, "population": "attacker", "campaign_id": "c-hydra", "role": "attacker"}
        )
        for _ in range(40):
            add(account, onset + timedelta(seconds=rng.uniform(0, 4 * 86400)), _template_text(rng))
    greedy_onset = START + timedelta(days=5)
    accounts.append(
        {"account_id": "greedy", "population": "attacker", "campaign_id": "c-greedy", "role": "attacker"}
    )
    for k in range(600):
        add("greedy", greedy_onset + timedelta(seconds=6 * k), _template_text(rng))
    events.sort(key=lambda e: e["ts_start"])
    campaigns = [
        {
            "campaign_id": "c-hydra",
            "name": "hydra",
            "accounts": hydra_accounts,
            "events": hydra_accounts * 40,
            "onset": onset.isoformat(),
            "end": (onset + timedelta(days=4)).isoformat(),
            "goals": ["cot"],
            "pivot": None,
        },
        {
            "campaign_id": "c-greedy",
            "name": "greedy",
            "accounts": 1,
            "events": 600,
            "onset": greedy_onset.isoformat(),
            "end": None,
            "goals": ["cot"],
            "pivot": None,
        },
    ]
    return Planted(events, accounts, campaigns)


def events_table(planted: Planted) -> pa.Table:
    rows = [dict(e, source_format="canonical", ingest_line=i + 1) for i, e in enumerate(planted.events)]
    return pa.Table.from_pylist(rows, schema=EVENTS)


def write_dataset(planted: Planted, directory: Path) -> Path:
    """The data set in the simulator's contract layout, traffic in the canonical format."""
    (directory / "traffic").mkdir(parents=True)
    (directory / "truth").mkdir()
    with gzip.open(directory / "traffic" / "canonical-000.jsonl.gz", "wt", encoding="utf-8") as handle:
        for e in planted.events:
            handle.write(json.dumps(dict(e, ts_start=e["ts_start"].isoformat())) + "\n")
    with (directory / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "account_id",
                "created_at",
                "country",
                "email_domain",
                "payment_fingerprint",
                "verification",
                "plan",
            ]
        )
        for a in planted.truth_accounts:
            writer.writerow([a["account_id"], START.isoformat(), "US", "example.com", "", "email", "paygo"])
    with (directory / "truth" / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["account_id", "population", "campaign_id", "role"])
        writer.writeheader()
        writer.writerows(planted.truth_accounts)
    campaign_of = {a["account_id"]: a["campaign_id"] or None for a in planted.truth_accounts}
    population = {a["account_id"]: a["population"] for a in planted.truth_accounts}
    pq.write_table(
        pa.table(
            {
                "event_id": [e["event_id"] for e in planted.events],
                "account_id": [e["account_id"] for e in planted.events],
                "population": [population[e["account_id"]] for e in planted.events],
                "campaign_id": [campaign_of[e["account_id"]] for e in planted.events],
                "goal": [("cot" if campaign_of[e["account_id"]] else None) for e in planted.events],
                "ts_start": pa.array([e["ts_start"] for e in planted.events], pa.timestamp("us", tz="UTC")),
            }
        ),
        directory / "truth" / "events.parquet",
    )
    (directory / "truth" / "campaigns.json").write_text(json.dumps(planted.campaigns))
    manifest = {
        "preset": "planted-test",
        "seed": 3,
        "formats": ["canonical"],
        "start": START.isoformat(),
        "end": (START + timedelta(days=DAYS)).isoformat(),
        "events": len(planted.events),
        "accounts": len(planted.truth_accounts),
        "populations": {},
        "campaigns": planted.campaigns,
        "model_releases": [],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory
