"""The newer shapes and look-alikes: their ground truth and the properties a provider would observe.

One small scenario holds every shape (swarm, company-looking, self-critique, succession, a
hydra with part of its fleet on home addresses)
and the look-alikes whose observable property is structural (consumer app, hackathon,
synthetic-data vendor, reseller); each test reads the written logs and truth back.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from distillguard.simulate import simulate
from distillguard.simulate.presets import default_models
from distillguard.simulate.randomize import draw_scenario
from distillguard.simulate.scenario import CampaignConfig, PopulationConfig, Scenario

DAYS = 3.0


def _scenario() -> Scenario:
    base = draw_scenario(0, "tiny")  # a drawn background, with the shapes below planted on top
    s = Scenario("shapes", seed=21, days=DAYS, formats=["canonical"], models=default_models(2.0))
    s.populations = [p for p in base.populations if not p.name][:3]
    s.populations += [
        PopulationConfig(
            "startups",
            1,
            1500,
            name="consumer_app",
            end_users_per_account=2000,
            end_user_spread="uniform",
            system_prompt_fixed=True,
            agent_tool_share=0.0,
            step_by_step_share=0.6,
            categories={"math": 1.0},
            active_day_share=1.0,
        ),
        PopulationConfig(
            "hackathon",
            120,
            500,
            name="hackathon_week",
            signup_days=2.0,
            plan={"free": 1.0},
            categories={"coding": 1.0},
            volume_sigma=0.3,
            active_day_share=1.0,
        ),
        PopulationConfig(
            "startups",
            4,
            400,
            name="synthetic_vendor",
            shared_payment=True,
            plan={"paygo": 1.0},
            account_age_days=(90.0, 400.0),
            categories={"math": 1.0},
            active_day_share=1.0,
        ),
        PopulationConfig(
            "reseller",
            1,
            1200,
            name="reseller",
            end_users_per_account=300,
            extraction_end_users=3,
            extraction_share=0.1,
            categories={"general": 1.0},
            active_day_share=1.0,
        ),
    ]
    s.campaigns = [
        CampaignConfig(
            "swarm-1",
            events=0,
            accounts=300,
            requests_per_account=(2, 6),
            burst_hours=1.0,
            own_address=True,
            own_card=True,
            sdk_diversity=1.0,
            proxy="residential",
            pathways={"paygo": 1.0},
            ban_after_days=None,
            onset_day=0.5,
            end_day=2.0,
        ),
        CampaignConfig(
            "company-2",
            events=600,
            accounts=2,
            account_age_days=(120.0, 500.0),
            diurnal="nightly",
            pathways={"enterprise": 1.0},
            verification={"enterprise": 1.0},
            ban_after_days=None,
            timezone=0.0,
            goals={"rubric_grading": 0.5, "cot_elicitation": 0.5},
            max_events_per_account_hour=600,
        ),
        CampaignConfig(
            "critique-3",
            events=300,
            accounts=5,
            goals={"self_critique": 1.0},
            system_elicitation_share=0.5,
        ),
        CampaignConfig("succession-4", events=400, accounts=3, succession_days=1.0, ban_after_days=None),
        CampaignConfig("hydra-5", events=200, accounts=4, languages={"de": 0.5, "ja": 0.5}),
        CampaignConfig(
            "hydra-6", events=600, accounts=12, own_address_share=0.5, proxy="datacenter", proxy_prefixes=6
        ),
    ]
    return s


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    simulate(_scenario(), out)
    return out


def _events(data: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((data / "traffic").glob("canonical-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


def _labels(data: Path) -> dict[str, dict[str, str]]:
    names = {c["campaign_id"]: c["name"] for c in json.loads((data / "truth" / "campaigns.json").read_text())}
    with (data / "truth" / "accounts.csv").open(newline="") as handle:
        rows = {r["account_id"]: r for r in csv.DictReader(handle)}
    for r in rows.values():
        r["group"] = names.get(r["campaign_id"], r["population"])
    return rows


def _records(data: Path) -> dict[str, dict[str, str]]:
    with (data / "accounts.csv").open(newline="") as handle:
        return {r["account_id"]: r for r in csv.DictReader(handle)}


def _by_group(data: Path) -> dict[str, list[dict[str, Any]]]:
    labels = _labels(data)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in _events(data):
        out[labels[e["account_id"]]["group"]].append(e)
    return out


def test_every_account_is_labelled_and_attackers_carry_their_campaign(data: Path) -> None:
    labels = _labels(data)
    assert set(labels) == set(_records(data))
    groups = Counter(r["group"] for r in labels.values())
    assert {"swarm-1", "company-2", "critique-3", "succession-4", "reseller", "consumer_app"} <= set(groups)
    assert all(r["role"] == ("attacker" if r["campaign_id"] else "benign") for r in labels.values())


def test_swarm_accounts_send_two_to_six_requests_each_from_their_own_address_and_card(data: Path) -> None:
    events = _by_group(data)["swarm-1"]
    per_account = Counter(e["account_id"] for e in events)
    assert len(per_account) >= 250  # nearly every one of the 300 accounts shows up
    assert min(per_account.values()) >= 2 and max(per_account.values()) <= 6
    addresses = defaultdict(set)
    for e in events:
        addresses[e["account_id"]].add(e["client_ip"])
    assert all(len(ips) == 1 for ips in addresses.values())
    assert len({next(iter(ips)) for ips in addresses.values()}) == len(addresses)  # nobody shares one
    cards = [_records(data)[a]["payment_fingerprint"] for a in per_account]
    assert len(set(cards)) == len(cards)
    assert len({e["sdk_fingerprint"] for e in events}) > 20  # varied clients, not one harness


def test_part_of_a_fleet_exits_from_home_addresses_of_its_own_and_the_rest_through_the_proxy_pool(
    data: Path,
) -> None:
    addresses: dict[str, set[str]] = defaultdict(set)
    for e in _by_group(data)["hydra-6"]:
        addresses[e["account_id"]].add(e["client_ip"])
    prefix = {a: {ip.rsplit(".", 1)[0] for ip in ips} for a, ips in addresses.items()}
    at_home = [a for a, ips in addresses.items() if len(ips) == 1]
    pooled = [a for a in addresses if a not in at_home]
    assert at_home and pooled
    home_prefixes = [next(iter(prefix[a])) for a in at_home]
    assert len(set(home_prefixes)) == len(home_prefixes)  # each its own
    pool = set().union(*(prefix[a] for a in pooled))
    assert not pool & set(home_prefixes) and len(pool) > 1


def test_swarm_accounts_burst_within_hours(data: Path) -> None:
    times = defaultdict(list)
    for e in _by_group(data)["swarm-1"]:
        times[e["account_id"]].append(datetime.fromisoformat(e["ts_start"]))
    assert all(max(t) - min(t) <= timedelta(hours=1, seconds=1) for t in times.values())


def test_company_accounts_look_established_and_harvest_at_night(data: Path) -> None:
    events = _by_group(data)["company-2"]
    records = _records(data)
    start = datetime(2026, 2, 2).astimezone()
    for account in {e["account_id"] for e in events}:
        r = records[account]
        assert r["plan"] == "enterprise" and r["verification"] == "enterprise"
        assert datetime.fromisoformat(r["created_at"]) < start - timedelta(days=100)
    hours = Counter(datetime.fromisoformat(e["ts_start"]).hour for e in events)  # timezone 0: UTC is local
    night = sum(n for hour, n in hours.items() if hour >= 23 or hour < 6)
    assert night / len(events) > 0.95


def test_self_critique_conversations_turn_to_grading_the_models_own_reasoning(data: Path) -> None:
    events = [e for e in _by_group(data)["critique-3"] if e["status"] == "success"]
    assert events and all(e["message_count"] >= 3 for e in events)
    words = (
        "grade",
        "score",
        "rate",
        "review",
        "critique",
        "check",
        "improved",
        "rewrite",
        "corrected",
        "sure",
        "打分",
        "评分",
        "检查",
        "复查",
        "确定",
    )
    asks = [e["prompt_text"].lower() for e in events]
    assert sum(any(w in a for w in words) for a in asks) / len(asks) > 0.95
    with_system = sum(1 for e in events if e["system_prompt_hash"])
    assert 0 < with_system < len(events)  # some carry the elicitation in the system prompt


def test_succession_accounts_replace_each_other_without_bans(data: Path) -> None:
    events = _by_group(data)["succession-4"]
    accounts = {e["account_id"] for e in events}
    assert len(accounts) > 3  # more accounts than live slots: they took over from each other
    assert not any(e["status_code"] == 403 for e in events)
    spans = {}
    for a in accounts:
        ts = [datetime.fromisoformat(e["ts_start"]) for e in events if e["account_id"] == a]
        spans[a] = max(ts) - min(ts)
    assert max(spans.values()) < timedelta(days=DAYS * 0.9)  # nobody lives through the whole window


def test_consumer_app_is_one_account_with_many_end_users_each_asking_a_few(data: Path) -> None:
    events = _by_group(data)["consumer_app"]
    assert len({e["account_id"] for e in events}) == 1
    users = Counter(e["end_user_id"] for e in events)
    assert len(users) > 400
    assert max(users.values()) / len(events) < 0.02  # no single heavy user
    assert len({e["system_prompt_hash"] for e in events}) == 1  # one fixed product prompt


def test_hackathon_accounts_are_new_free_and_send_a_handful(data: Path) -> None:
    events = _by_group(data)["hackathon_week"]
    records = _records(data)
    per_account = Counter(e["account_id"] for e in events)
    start = datetime(2026, 2, 2).astimezone()
    for a in per_account:
        assert records[a]["plan"] == "free"
        assert start - timedelta(days=2.01) <= datetime.fromisoformat(records[a]["created_at"]) <= start
    assert sorted(per_account.values())[len(per_account) // 2] <= 8


def test_synthetic_vendor_accounts_share_one_card(data: Path) -> None:
    records = _records(data)
    labels = _labels(data)
    cards = {records[a]["payment_fingerprint"] for a, r in labels.items() if r["group"] == "synthetic_vendor"}
    assert len(cards) == 1 and "" not in cards


def test_reseller_end_users_are_labelled_and_only_a_few_harvest(data: Path) -> None:
    with (data / "truth" / "end_users.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["population"] == "reseller"]
    attackers = [r for r in rows if r["role"] == "attacker"]
    assert 1 <= len(attackers) <= 3 and len(rows) > 100
    assert all(r["campaign_id"] == "resold-reseller" for r in attackers)
    harvested = sum(int(r["requests"]) for r in attackers) / sum(int(r["requests"]) for r in rows)
    assert 0.05 < harvested < 0.15  # extraction_share 0.1
    account = {r["account_id"] for r in rows}
    assert all(_labels(data)[a]["role"] == "benign" for a in account)  # the account itself is a customer
    events = {e["end_user_id"]: e for e in _by_group(data)["reseller"]}
    assert all(events[r["end_user_id"]]["end_user_id"] == r["end_user_id"] for r in attackers)


def test_translated_wrappers_carry_the_campaigns_languages(data: Path) -> None:
    prompts = [e["prompt_text"] for e in _by_group(data)["hydra-5"] if e["prompt_text"]]
    german = sum(any(w in p for w in ("Schritt", "Antwort", "Denkweg", "Gedankenkette")) for p in prompts)
    japanese = sum(any(w in p for w in ("推論", "ステップ", "思考")) for p in prompts)
    assert german > 0.3 * len(prompts) and japanese > 0.3 * len(prompts)
