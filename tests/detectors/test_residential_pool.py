"""A hydra on a residential proxy pool big enough to cover its customers' neighbourhoods.

The disclosed hydras rent residential exits by the thousand. Every prefix of such a pool is
also home to ordinary customers of the provider, and the pool's accounts run the popular
SDK build and a popular framework's settings. A developer of a few weeks' standing at home on
one of the pool's prefixes, asking for step-by-step answers with those settings, shares a prefix
and a request shape with the hydra: each value pure on its own (nearly every holder harvesting),
so before the background rule (``cluster.risk.background_share``) the developer became one of
the hydra's members and inherited its risk.

What tells them apart is how much of the cluster's infrastructure each holds: a hydra
account rotates through a score of the pool's prefixes and runs its scaffolds, where the
developer holds one prefix, as many ordinary customers do. A newcomer of three requests at
home on a pool prefix is judged the same way on its exit (a residential exit is somebody's
home whatever the account's age), while its settings are still judged by their combination.
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

POOL = [f"81.{10 + j // 30}.{7 * j % 250}" for j in range(60)]  # residential /24 prefixes
POPULAR_SDK = "python/1.30.1"  # the SDK release most customers run this month
SCAFFOLDS = (
    "Work through this carefully and show every step of your reasoning before answering: {}",
    "Think it through out loud, then give the final answer on its own line: {}",
)
HYDRA_SIZE = 30
# Each developer writes in its own words: no scaffold in common with anyone.
ASKS = (
    "walk me through {} step by step",
    "explain {} slowly, one step at a time, I'm new to it",
    "can you reason out loud about how {} works",
    "break {} down for me and show each step",
    "I keep getting {} wrong, go through it carefully",
)
FIRST_TRIES = (
    "first time here: how would you work out {}? show me",
    "testing the API - reason through {} please",
    "my teacher mentioned {}, could you go through it with me",
    "hello! what's the thinking behind {}, in steps",
)
TOPICS = ("recursion", "SQL joins", "big-O", "closures", "async await", "pointers", "regexes", "git rebase")
BUGS = (
    "my docker build fails on the pip step",
    "pytest cannot find my fixtures",
    "the CSS grid collapses on mobile",
    "npm says peer dependency conflict",
    "my cron job never fires",
)


def _hydra(b: _Builder) -> list[str]:
    draws = random.Random(11)  # the proxy service hands out exits at random
    ids = []
    for i in range(HYDRA_SIZE):
        account = b.account(
            f"acct-r{i:02d}",
            created=START - timedelta(days=2 + i % 4, hours=i),
            plan="paygo",
            verification="email",
            payment=f"card-r{i}",  # a card of its own each
        )
        ids.append(account)
        for k in range(30):
            prefix = POOL[draws.randrange(len(POOL))]
            elicit = k % 5 < 3
            b.event(
                account,
                START + timedelta(hours=2 + 4 * k, minutes=(i * 17 + k * 7) % 60),
                SCAFFOLDS[k % 2].format(f"puzzle {i * 100 + k}")
                if elicit
                else f"Summarise the plot of book number {i * 100 + k} in two sentences",
                ip=f"{prefix}.{10 + (i + k) % 200}",
                scores=(0.85 if elicit else 0.0, 0.0, 0.0),
                capability="reasoning" if elicit else "general",
                template=f"tf-pool-{k % 2}" if elicit else None,
                model=NEW_MODEL,
                max_tokens=16384,
                output_tokens=2200,
                messages=1,
                sdk=POPULAR_SDK,
            )
    return ids


def _neighbours(b: _Builder) -> list[str]:
    """Ordinary customers of long standing, each at home on one of the pool's prefixes, on the
    popular SDK; three of them use the popular framework's settings the hydra's script uses."""
    ids = []
    for i, prefix in enumerate(POOL[:40]):
        account = b.account(
            f"acct-n{i:03d}",
            created=START - timedelta(days=200 + i),
            plan="paygo",
            verification="phone",
            payment=f"card-n{i}",
        )
        ids.append(account)
        for k in range(6):
            b.event(
                account,
                START + timedelta(hours=5 + 11 * k + i % 7),
                f"Can you suggest a weekend recipe with {('leeks', 'lentils', 'pears')[k % 3]}? #{i}",
                ip=f"{prefix}.{201 + i % 50}",
                scores=(0.0, 0.0, 0.0),
                capability="general",
                template=None,
                model=NEW_MODEL,
                max_tokens=16384 if i < 3 else 1024,
                output_tokens=300,
                messages=4,
                sdk=POPULAR_SDK,
            )
    return ids


def _own_words(developer: int, k: int) -> str:
    return ASKS[developer].format(TOPICS[(developer * 3 + k) % len(TOPICS)])


def _developers(b: _Builder) -> list[str]:
    """Developers with a few weeks' history, at home on the hydra's prefixes, asking for worked
    answers with the popular framework's settings: a prefix and a shape in common with the
    hydra, nothing more. (A young account of a few requests is judged on the combination of
    pure values it shares, as a swarm's accounts are: see ``test_young_hydra``.)"""
    ids = []
    for i, prefix in enumerate(POOL[40:45]):
        account = b.account(
            f"acct-d{i}",
            created=START - timedelta(days=20 + 3 * i, hours=7 * i),  # weeks ago, each on its own day
            plan="paygo",
            verification="phone",
            payment=f"card-d{i}",
        )
        ids.append(account)
        for k in range(16):
            elicit = k % 4 == 0
            b.event(
                account,
                START + timedelta(hours=3 + 5 * k + i),
                _own_words(i, k) if elicit else f"{BUGS[i]}, now in module {k}",
                ip=f"{prefix}.{240 + i}",
                scores=(0.7 if elicit else 0.0, 0.0, 0.0),
                capability="reasoning" if elicit else "coding",
                template=None,
                model=NEW_MODEL,
                max_tokens=16384,
                output_tokens=700,
                messages=1,
                sdk=POPULAR_SDK,
            )
    return ids


def _newcomers(b: _Builder) -> list[str]:
    """Accounts opened yesterday, each at home on one of the pool's prefixes, trying a few
    worked answers with the popular settings: a young, light account is judged on the
    combination of pure values it shares, and a background exit is not one of them."""
    ids = []
    for i, prefix in enumerate(POOL[45:49]):
        account = b.account(
            f"acct-y{i}",
            created=START - timedelta(hours=6 + 8 * i),  # since the hydra's sign-ups, apart
            plan="free",
            verification="email",
            payment=None,
        )
        ids.append(account)
        for k in range(3):
            b.event(
                account,
                START + timedelta(hours=4 + 9 * k + i),
                FIRST_TRIES[i].format(TOPICS[k]),
                ip=f"{prefix}.{230 + i}",
                scores=(0.7, 0.0, 0.0),
                capability="reasoning",
                template=None,
                model=NEW_MODEL,
                max_tokens=16384,
                output_tokens=700,
                messages=1,
                sdk=POPULAR_SDK,
            )
    return ids


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, list[str]]:
    return plant(
        warehouse,
        monkeypatch,
        _hydra,
        {"neighbours": _neighbours, "developers": _developers, "newcomers": _newcomers},
    )


def test_the_pool_hydra_is_one_cluster_at_extraction(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    _, hydra = planted
    pipeline.scan(warehouse, config)
    assert_one_cluster_at_extraction(account_scores(warehouse), hydra)


def test_developers_on_the_pool_prefixes_are_not_members(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    """They share one of the pool's prefixes, as forty ordinary customers do, and the popular
    settings: in the hydra's picture, not among its accounts, and the reason says why. (Their own
    step-by-step questions with big limits are judged on their own: on this small population that
    alone takes the developers to watch at most, and the three-request newcomers, all of whose
    requests ask for worked answers with the largest limits, further.)"""
    data, _ = planted
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    developers = [scores[a] for a in data.negatives.pop("developers")]
    newcomers = [scores[a] for a in data.negatives.pop("newcomers")]
    for row in developers + newcomers:
        assert row["cluster_id"] is not None, ("a prefix and a shape: in the picture", row)
        assert row["cluster_logit"] == 0.0, row
        assert any("ordinary customers share as much with the cluster" in r for r in row["reasons"]), row
    assert all(r["verdict"] != "extraction" for r in developers), developers
    assert_negatives_ok(data, scores)
