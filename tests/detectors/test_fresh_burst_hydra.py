"""A careful hydra at its first hours: three fresh accounts that look like three different clients.

The operator created the accounts within an hour of each other, each on another pathway
(pay-as-you-go, startup, free) and verification, and spreads its traffic so that no two
accounts share a proxy prefix, a client build or a wording. What its script cannot help
is what it asks for (the full reasoning trace) and the generation parameters it sets on
every call. At a checkpoint four hours after onset, with four requests in all, the
creation burst plus the shared request settings tie the accounts (each coincidence alone
is too weak), and a small tied group of fresh accounts asking for training data reaches
``extraction`` without waiting for more accounts.

Look-alikes that stay below ``extraction``: a class that signs up together on the education pathway,
shares the campus prefix, a client build and the assignment's settings and asks homework
questions (not gated: nothing is harvested); a startup's team created the same hour that
shares its office prefix, client and big-limit settings for ordinary coding conversations
(nothing training-shaped); and the careful hydra's own accounts when only
one of the two coincidences holds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    Planted,
    _Builder,
    account_scores,
    plant,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

CHECKPOINT = START + timedelta(hours=4)
PATHWAYS = (("paygo", "email"), ("startup", "phone"), ("free", "email"))
ASKS = (
    "Solve the river crossing puzzle and show every step of your reasoning, nothing skipped",
    "For this scheduling question, write your complete chain of thought before the answer",
    "Work through the coin weighing problem; I need the full reasoning trace, not a summary",
    "Give the whole derivation of the ladder problem, every intermediate thought included",
)


def _careful(b: _Builder, *, burst: bool, same_settings: bool) -> list[str]:
    ids = []
    for i, (plan, verification) in enumerate(PATHWAYS):
        created = START - timedelta(hours=20, minutes=25 * i) if burst else START - timedelta(days=3 * i + 1)
        account = b.account(f"acct-c{i}", created=created, plan=plan, verification=verification, payment=None)
        ids.append(account)
        for k in range(1 + (i == 0)):
            b.event(
                account,
                START + timedelta(hours=1, minutes=50 * i + 35 * k),
                ASKS[3 * k + i],
                ip=f"100.{70 + i}.{k}.{9 + i}",
                scores=(0.85, 0.0, 0.0),
                capability="reasoning",
                template=None,
                max_tokens=15000 if same_settings else 9000 + 2000 * i,
                temperature=1.0 if same_settings else 0.3 + 0.2 * i,
                output_tokens=1600,
                messages=1,
                asn=f"AS{7922 + i}",
                sdk=("python/1.58.0;linux", "node/4.20.1;darwin", "curl/8.5.0")[i],
            )
    return ids


def _class(b: _Builder) -> list[str]:
    ids = []
    for i in range(8):
        account = b.account(
            f"acct-k{i}",
            created=START - timedelta(hours=20, minutes=6 * i),
            plan="education",
            verification="email",
            payment=None,
        )
        ids.append(account)
        for k in range(3):
            b.event(
                account,
                START + timedelta(hours=1, minutes=20 * i + 30 * k),
                f"Homework {k + 1}, question {i}: can you explain step by step how to factor x^2 + {i + 3}x?",
                ip=f"10.20.30.{40 + i}",
                scores=(0.2, 0.0, 0.0),
                capability="math",
                template=None,
                max_tokens=1024,
                temperature=0.7,
                output_tokens=350,
                messages=2 + k,
                session=f"s-k{i}",
                asn="AS1234",
                sdk="python/1.58.0;darwin",
            )
    return ids


def _startup(b: _Builder) -> list[str]:
    ids = []
    for i in range(4):
        account = b.account(
            f"acct-t{i}",
            created=START - timedelta(hours=20, minutes=10 * i),
            plan="startup",
            verification="phone",
            payment=None,
        )
        ids.append(account)
        for k in range(2):
            b.event(
                account,
                START + timedelta(hours=1, minutes=30 * i + 40 * k),
                (
                    f"Our {('orders', 'users', 'billing', 'search')[i]} service times out under load, "
                    "here is the handler, what should we change?",
                    "That helped; now the retries pile up. Should we add a circuit breaker?",
                )[k],
                ip=f"192.0.2.{60 + i}",
                scores=(0.0, 0.0, 0.0),
                capability="coding",
                template=None,
                max_tokens=16000,
                temperature=0.2,
                output_tokens=1800,
                messages=4 + 2 * k,
                session=f"s-t{i}",
                asn="AS64511",
                sdk="python/1.60.2;linux",
            )
    return ids


def _planted(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, *, burst: bool = True, same_settings: bool = True
) -> tuple[Planted, list[str]]:
    return plant(
        warehouse,
        monkeypatch,
        lambda b: _careful(b, burst=burst, same_settings=same_settings),
        {"class_signing_up_together": _class, "startup_team": _startup},
    )


def test_a_fresh_burst_with_shared_settings_is_flagged_within_hours(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, careful = _planted(warehouse, monkeypatch)
    pipeline.scan(warehouse, config, until=CHECKPOINT)
    scores = account_scores(warehouse)
    rows = [scores[a] for a in careful]
    assert sum(r["events"] for r in rows) == 4
    assert {r["verdict"] for r in rows} == {"extraction"}, [(r["account_id"], r["risk"]) for r in rows]
    assert len({r["cluster_id"] for r in rows}) == 1 and rows[0]["cluster_id"] is not None
    for population, ids in data.negatives.items():
        for account_id in ids:
            if account_id in scores:
                allowed = {"ok", "watch"} if population == "startup_team" else {"ok"}
                assert scores[account_id]["verdict"] in allowed, scores[account_id]


@pytest.mark.parametrize(("burst", "same_settings"), [(False, True), (True, False)])
def test_a_burst_or_shared_settings_alone_ties_nobody(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch, burst: bool, same_settings: bool
) -> None:
    _, careful = _planted(warehouse, monkeypatch, burst=burst, same_settings=same_settings)
    pipeline.scan(warehouse, config, until=CHECKPOINT)
    scores = account_scores(warehouse)
    assert all(scores[a]["cluster_id"] is None for a in careful), [scores[a] for a in careful]
    assert all(scores[a]["verdict"] != "extraction" for a in careful)


def test_a_class_and_a_startup_team_signing_up_together_stay_ok_over_the_full_window(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = _planted(warehouse, monkeypatch)
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    for account_id in data.negatives["class_signing_up_together"]:
        assert scores[account_id]["verdict"] == "ok", scores[account_id]
    # The team's big limits on fresh startup accounts through one office prefix already put it
    # at `watch` before the creation burst counted (a person looks); it must not reach extraction.
    for account_id in data.negatives["startup_team"]:
        assert scores[account_id]["verdict"] != "extraction", scores[account_id]
