"""CI jobs on shared cloud runners, beside a hydra that pads its harvest with health checks.

A company's CI pipelines ask "reply with PONG" many times a day from whichever cloud runner
picks the job up: a new network prefix on nearly every request, from a pool its other
pipelines share, with one script and one request shape, switched to a new model the hour it
ships. That is how a hydra collects, and the pipelines tie to one another by two families
(the runners' prefixes, the script), so before ``account.nothing_collected`` they formed a
cluster that took its members to ``extraction``. They received a few tokens per answer:
nothing a model could be trained on.

The hydra here does everything the CI jobs do and harvests reasoning traces too; it pads its
traffic with health checks, and three of its accounts were blocked after two answers and kept
retrying. Neither may talk it down: the signal counts substantive answers, never their share,
and a refused request is no answer at all.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    NEW_MODEL,
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

RUNNERS = [f"20.{40 + j // 50}.{j % 50 * 5}" for j in range(300)]  # a cloud CI provider's ranges
EXITS = [f"92.{30 + j // 40}.{j % 40 * 6}" for j in range(120)]  # a residential proxy pool
HEALTH_CHECK = "Health check {}: reply with the single word PONG."
HYDRA_SIZE = 16
BLOCKED = 3  # hydra accounts blocked after two answers, still retrying


def _ci_fleet(b: _Builder) -> list[str]:
    """Six pipelines of one company, a month or two old, each a health check every couple of hours."""
    draws = random.Random(5)  # the CI provider assigns runners at random
    ids = []
    for i in range(6):
        account = b.account(
            f"acct-ci{i}",
            created=START - timedelta(days=30 + 9 * i),
            plan="paygo",
            verification="phone",
            payment=f"card-ci{i}",  # each team bills its own card
        )
        ids.append(account)
        for k in range(60):
            b.event(
                account,
                START + timedelta(hours=2 * k + 0.5 * i, minutes=i),
                HEALTH_CHECK.format(f"run-{i}{k:04d}"),
                ip=f"{RUNNERS[draws.randrange(len(RUNNERS))]}.{draws.randrange(2, 250)}",
                scores=(0.0, 0.0, 0.0),
                capability="general",
                template="tf-health-check",
                model=NEW_MODEL if k % 2 else "frontier-1",  # the canary runs on the new model
                max_tokens=16,
                output_tokens=2,
                input_tokens=24,
                messages=1,
                sdk="python/1.54.3",
            )
    return ids


def _padded_hydra(b: _Builder) -> list[str]:
    """Reasoning traces through a residential pool, each account padding with health checks on
    the CI fleet's script; the last few blocked after two answers and retrying."""
    draws = random.Random(13)
    ids = []
    for i in range(HYDRA_SIZE):
        account = b.account(
            f"acct-p{i:02d}",
            created=START - timedelta(days=3, hours=i),
            plan="paygo",
            verification="email",
            payment=f"card-p{i}",
        )
        ids.append(account)
        blocked = i >= HYDRA_SIZE - BLOCKED
        for k in range(2 if blocked else 12):
            b.event(
                account,
                START + timedelta(hours=3 + 7 * k, minutes=(i * 13) % 60),
                f"Solve step by step and show all of your reasoning before the answer: puzzle {i * 50 + k}",
                ip=f"{EXITS[draws.randrange(len(EXITS))]}.{draws.randrange(2, 250)}",
                scores=(0.9, 0.0, 0.0),
                capability="reasoning",
                template="tf-padded-hydra",
                model=NEW_MODEL,
                max_tokens=16384,
                output_tokens=2400,
                messages=1,
                sdk="python/1.54.3",
            )
        for k in range(30):
            b.event(
                account,
                START + timedelta(hours=4 + 3 * k, minutes=(i * 7) % 60),
                HEALTH_CHECK.format(f"run-p{i}{k:04d}"),
                ip=f"{EXITS[draws.randrange(len(EXITS))]}.{draws.randrange(2, 250)}",
                scores=(0.0, 0.0, 0.0),
                capability="general",
                template="tf-health-check",
                model=NEW_MODEL,
                max_tokens=16,
                output_tokens=0 if blocked else 2,
                input_tokens=24,
                messages=1,
                sdk="python/1.54.3",
                status="error" if blocked else "success",  # refused at the gateway: 403
            )
    return ids


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, list[str]]:
    return plant(warehouse, monkeypatch, _padded_hydra, {"ci": _ci_fleet})


def test_ci_pipelines_on_shared_runners_are_ok_and_say_they_collected_nothing(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    data, _ = planted
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    for account_id in data.negatives["ci"]:
        row = scores[account_id]
        assert row["cluster_logit"] == 0.0, row
        assert any(r.startswith("account.nothing_collected") for r in row["reasons"]), row
    assert_negatives_ok(data, scores)


def test_padding_with_health_checks_or_being_refused_does_not_talk_a_hydra_down(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    _, hydra = planted
    pipeline.scan(warehouse, config)
    assert_one_cluster_at_extraction(account_scores(warehouse), hydra)
    empty = warehouse.engine.to_arrow(
        "SELECT account_id FROM account_behaviour WHERE s_nothing_collected > 0"
    ).column("account_id").to_pylist()
    assert not set(empty) & set(hydra), empty
