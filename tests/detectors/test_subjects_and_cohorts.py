"""What the 2026 campaigns changed, planted beside their benign twins.

- One account harvesting thousands of reasoning traces is extraction with no siblings;
  an edtech app sending the same kind of requests for its many students is not.
- A swarm of fresh accounts, two to six requests each, every one from its own address,
  asking for reasoning traces with no item asked twice, is a campaign (a cohort); a
  hackathon week of fresh accounts sending the same exercises is not.
- A reseller carrying one harvesting end user among hundreds of ordinary ones (a seventh
  of its traffic): the end user is named and flagged, the account is watched, not banned.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    Planted,
    _Builder,
    account_scores,
    build,
    extend,
    load,
    stand_in_prompt_level,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

COT = (0.9, 0.0, 0.0)
PLAIN = (0.0, 0.0, 0.0)


def _single_harvester(b: _Builder) -> str:
    account = b.account(
        "acct-solo",
        created=START - timedelta(days=40),
        plan="paygo",
        verification="phone",
        payment="card-solo",
    )
    for k in range(600):
        b.event(
            account,
            START + timedelta(hours=1, minutes=11 * k),
            f"Solve step by step and show your complete reasoning: problem {k * 7919}",
            ip="203.0.113.40",
            scores=COT,
            capability="math",
            template="tf-solo",
            max_tokens=24000,
            output_tokens=1500,
            messages=1,
        )
    return account


def _edtech(b: _Builder) -> str:
    account = b.account(
        "acct-edtech",
        created=START - timedelta(days=500),
        plan="enterprise",
        verification="enterprise",
        payment="card-edu",
    )
    for k in range(600):
        b.event(
            account,
            START + timedelta(hours=1, minutes=11 * k),
            f"Explain step by step how to solve exercise {k * 7919}",
            ip="198.51.100.7",
            scores=COT,
            capability="math",
            template="tf-edtech",
            max_tokens=2000,
            output_tokens=700,
            messages=1 + k % 3,
            end_user=f"student-{k % 240}",
        )
    return account


def _swarm(b: _Builder, *, distinct: bool, prefix: str, size: int = 60) -> list[str]:
    ids = []
    own = 0 if prefix == "sw" else 1000  # the two groups share nothing but the window
    for i in range(size):
        account = b.account(
            f"acct-{prefix}{i:03d}",
            # the swarm's sign-ups spread over ten days; the hackathon's on its first morning
            created=START - timedelta(days=10, hours=-4 * i)
            if not own
            else START - timedelta(hours=20, minutes=-i),
            plan=("free", "paygo")[i % 2],
            verification="email",
            payment=f"card-{prefix}-{i}",
        )
        ids.append(account)
        for k in range(2 + i % 4):
            item = i * 10 + k if distinct else k
            b.event(
                account,
                START + timedelta(hours=2, minutes=(i * 7 + k * 13) % 600),
                f"Think it through and write out every step of your reasoning for item {item}",
                ip=f"{100 if prefix == 'sw' else 101}.{64 + i % 60}.{i}.{k + 10}",  # each its own address
                scores=COT if distinct else (0.6, 0.0, 0.0),
                capability="reasoning",
                template=None,
                max_tokens=8000 + 97 * i + own,  # every account its own settings: no shared shape
                temperature=round(0.3 + 0.01 * i + own / 10_000, 3),
                output_tokens=1200,
                messages=1,
                sdk=f"{prefix}-client/{i % 17}.{k}",
                asn=f"AS{65000 + i + own}",
            )
    return ids


def _reseller(b: _Builder) -> str:
    account = b.account(
        "acct-reseller",
        created=START - timedelta(days=300),
        plan="paygo",
        verification="id",
        payment="card-res",
    )
    for k in range(3000):
        b.event(
            account,
            START + timedelta(hours=1, minutes=2 * k),
            f"Help me write an email about order {k}",
            ip="192.0.2.99",
            scores=PLAIN,
            capability="general",
            template=None,
            end_user=f"customer-{k % 300}",
        )
    for k in range(500):
        b.event(
            account,
            START + timedelta(hours=1, minutes=13 * k),
            f"Write out your complete chain of thought before answering: theorem {k * 104729}",
            ip="192.0.2.99",
            scores=COT,
            capability="math",
            template="tf-harvest",
            max_tokens=32000,
            output_tokens=2500,
            messages=1,
            end_user="customer-x",
        )
    return account


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, dict[str, list[str]]]:
    data = build()
    b = extend(data)
    groups = {
        "solo": [_single_harvester(b)],
        "edtech": [_edtech(b)],
        "swarm": _swarm(b, distinct=True, prefix="sw"),
        "hackathon": _swarm(b, distinct=False, prefix="hk"),
        "reseller": [_reseller(b)],
    }
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    return data, groups


def test_one_account_harvesting_thousands_of_traces_is_extraction_alone_and_an_edtech_app_is_not(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, dict[str, list[str]]]
) -> None:
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    solo = scores["acct-solo"]
    assert solo["verdict"] == "extraction" and solo["cluster_id"] is None, solo
    assert any(r.startswith("account.harvest_volume") for r in solo["reasons"])
    edtech = scores["acct-edtech"]
    assert edtech["verdict"] == "ok", edtech
    assert any(r.startswith("account.end_user_breadth") for r in edtech["reasons"]) or edtech["risk"] < 0.2


def test_a_swarm_of_fresh_light_accounts_is_a_campaign_and_a_hackathon_is_not(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, dict[str, list[str]]]
) -> None:
    _, groups = planted
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    swarm = [scores[a] for a in groups["swarm"]]
    flagged = [r for r in swarm if r["verdict"] == "extraction"]
    assert len(flagged) >= 0.9 * len(swarm), sorted(r["risk"] for r in swarm)[:10]
    # the swarm's wrapper ties some of it as clusters; the cohort sees all of it
    assert sum(any(x.startswith("cohort.member") for x in r["reasons"]) for r in swarm) >= 0.9 * len(swarm)
    assert len({r["campaign_id"] for r in flagged}) >= 1 and None not in {r["campaign_id"] for r in flagged}
    hackathon = [scores[a] for a in groups["hackathon"]]
    assert all(r["verdict"] != "extraction" for r in hackathon), sorted(r["risk"] for r in hackathon)[-5:]


def test_a_resellers_harvesting_end_user_is_named_and_the_account_is_watched_not_banned(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, dict[str, list[str]]]
) -> None:
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    reseller = scores["acct-reseller"]
    assert reseller["verdict"] == "watch", reseller
    assert any("end user customer-x" in r for r in reseller["reasons"]), reseller["reasons"]
    subjects = {
        r["subject_id"]: r
        for r in warehouse.engine.to_arrow(
            "SELECT * FROM subject_scores WHERE account_id = 'acct-reseller'"
        ).to_pylist()
    }
    assert subjects["acct-reseller/customer-x"]["verdict"] == "extraction"
    ordinary = [
        r
        for s, r in subjects.items()
        if s.startswith("acct-reseller/customer-") and s != "acct-reseller/customer-x"
    ]
    assert ordinary and all(r["verdict"] == "ok" for r in ordinary)
