"""An evasive hydra: no scaffolds, mostly ordinary prompts, a residential proxy pool.

Twelve fresh accounts send paraphrased, mostly ordinary prompts (one in five asks for
the reasoning trace), single-turn, with the largest outputs, each request from another
prefix of a 40-prefix residential pool (drawn at random), so any two accounts share
only about a third of their prefixes: no pairwise network tie reaches the edge threshold, no template is
shared. What they do share is the harvesting script's request shape (model, max_tokens,
temperature), which no ordinary account uses. Shape plus a common pure prefix ties
them into one hydra; the planted hard negatives (campus, NAT, eval harness, router,
CI bot, a developer on a hydra proxy) stay ``ok``, and so does a new mobile developer
who exits through the same residential pool with big limits but asks for nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    Planted,
    _Builder,
    account_scores,
    assert_negatives_ok,
    assert_one_cluster_at_extraction,
    plant,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

POOL = [f"100.{64 + j // 200}.{j % 200}.{10 + j % 7}" for j in range(40)]
# Paraphrase material: every prompt gets its own wording (no shared scaffold).
OPENERS = ("Quick question:", "Could you tell me", "I was wondering", "Help me understand", "Explain briefly")
TOPICS = (
    "basil indoors",
    "a heist film plot",
    "sourdough bakery names",
    "miles and kilometres",
    "tidal locking",
    "compound interest",
    "cat litter training",
    "bicycle gear ratios",
    "jet lag",
    "ceramic glazes",
    "chess openings",
    "moss on roofs",
    "solar panel angles",
    "sleep schedules",
)
CLOSERS = (
    "thanks",
    "in plain words",
    "keep it short",
    "for a beginner",
    "with an example",
    "no jargon please",
)


def _paraphrase(i: int, k: int, *, elicit: bool) -> str:
    topic = TOPICS[(i * 5 + k) % len(TOPICS)]
    if elicit:
        return f"{OPENERS[k % 5]} {topic}: lay out every thought you have along the way, skip nothing"
    return f"{OPENERS[(i + k) % 5]} about {topic}, {CLOSERS[(i * 3 + k) % 6]}"


def _evasive(b: _Builder, size: int = 12) -> list[str]:
    draws = random.Random(7)  # the proxy service hands out exits at random
    ids = []
    for i in range(size):
        account = b.account(
            f"acct-e{i:02d}",
            created=START - timedelta(hours=30 + i * 9),  # different sign-up windows
            plan="free",
            verification="email",
            payment=None,
        )
        ids.append(account)
        for k in range(14):
            elicit = k % 5 == 0
            b.event(
                account,
                START + timedelta(hours=1 + 3 * k, minutes=(i * 13 + k * 29) % 60),
                _paraphrase(i, k, elicit=elicit),
                ip=POOL[draws.randrange(len(POOL))],
                scores=(0.7 if elicit else 0.0, 0.0, 0.0),
                capability="reasoning" if elicit else "general",
                template=None,
                max_tokens=24000,
                temperature=0.85,
                output_tokens=1800,
                messages=1,
                asn=("AS7922", "AS701", "AS3320")[k % 3],
                sdk=("python/1.40", "node/4.2", "go-http")[i % 3],
            )
    return ids


def _mobile_developer(b: _Builder) -> list[str]:
    """New, on residential ranges the proxy pool also exits through, big limits, ordinary questions."""
    account = b.account(
        "acct-mobile", created=START - timedelta(hours=5), plan="paygo", verification="email", payment="dev-2"
    )
    for k in range(10):
        b.event(
            account,
            START + timedelta(hours=2 + 5 * k),
            f"{OPENERS[k % 5]} why {TOPICS[k]} matters for my app, {CLOSERS[k % 6]}",
            ip=POOL[(k * 11) % len(POOL)],
            scores=(0.0, 0.0, 0.0),
            capability="general",
            template=None,
            max_tokens=(8192, 64000)[k % 2],
            temperature=(0.2, 1.0)[k % 2],
            output_tokens=900,
            messages=1,
            asn="AS7922",
        )
    return [account]


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, list[str]]:
    return plant(warehouse, monkeypatch, _evasive, {"mobile_developer": _mobile_developer})


def test_evasive_hydra_is_one_cluster_at_extraction(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    data, evasive = planted
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    cluster_id = assert_one_cluster_at_extraction(scores, evasive)
    cluster = warehouse.engine.to_arrow(
        "SELECT * FROM clusters WHERE cluster_id = ?", [cluster_id]
    ).to_pylist()[0]
    assert any(i.startswith("shape:") for i in cluster["top_indicators"]), cluster["top_indicators"]
    # The classic hydra is still its own cluster, not merged with this one.
    assert scores[data.hydra[0]]["cluster_id"] != cluster_id


def test_each_evasive_account_alone_is_not_extraction(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    """Only the shared shape makes them a hydra: alone, each stays below extraction."""
    _, evasive = planted
    pipeline.scan(warehouse, config)
    rows = warehouse.engine.to_arrow(
        "SELECT account_id, behaviour, gate FROM account_behaviour WHERE account_id LIKE 'acct-e%'"
    ).to_pylist()
    assert len(rows) == len(evasive)
    assert all(r["gate"] and r["behaviour"] ** 2 < 0.5 for r in rows), rows


def test_hard_negatives_and_the_mobile_developer_stay_ok(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    data, _ = planted
    pipeline.scan(warehouse, config)
    assert_negatives_ok(data, account_scores(warehouse))
