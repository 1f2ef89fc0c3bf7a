"""The shapes the disclosures describe, and the benign look-alikes, are really in the traffic."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from distillguard.simulate import preset

from .support import all_records, manifest, run, status_code, truth_events


@pytest.fixture(scope="module")
def pivot_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pivot")
    scenario = preset("coding-pivot", 0.002)
    scenario.formats = ["canonical"]
    run(scenario, out)
    return out


def _models_by_time(data: Path, campaign: bool) -> list[tuple[datetime, str]]:
    truth = {row["event_id"]: row for row in truth_events(data)}
    out = []
    for record in all_records(data):
        row = truth[record.event_id]
        if (row["campaign_id"] is not None) == campaign:
            out.append((row["ts_start"], record.model))
    return out


def test_coding_pivot_moves_about_half_its_traffic_to_the_new_model_within_a_day(pivot_data: Path) -> None:
    m = manifest(pivot_data)
    (campaign,) = m["campaigns"]
    (release,) = m["model_releases"]
    released = datetime.fromisoformat(release["at"])
    pivot_at = datetime.fromisoformat(campaign["pivot"]["at"])
    assert campaign["pivot"]["model"] == release["model"]
    assert timedelta(0) < pivot_at - released <= timedelta(hours=24)
    events = _models_by_time(pivot_data, campaign=True)
    before = [model for ts, model in events if ts < released]
    after = [model for ts, model in events if ts >= pivot_at]
    assert before and release["model"] not in before
    share = sum(model == release["model"] for model in after) / len(after)
    assert 0.4 < share < 0.6


def test_eval_harnesses_also_switch_to_the_new_model_the_day_it_ships(pivot_data: Path) -> None:
    """The benign look-alike of a pivot: a detector may not flag the switch alone."""
    release = manifest(pivot_data)["model_releases"][0]
    released = datetime.fromisoformat(release["at"])
    truth = {row["event_id"]: row for row in truth_events(pivot_data)}
    day_after = [
        r.model
        for r in all_records(pivot_data)
        if truth[r.event_id]["population"] == "eval_harness"
        and released + timedelta(hours=12) <= truth[r.event_id]["ts_start"] < released + timedelta(hours=48)
    ]
    assert day_after and sum(m == release["model"] for m in day_after) / len(day_after) > 0.3


def test_ci_bots_fire_at_exact_intervals(tiny: Path) -> None:
    times: dict[str, list[datetime]] = defaultdict(list)
    for row in truth_events(tiny):
        if row["population"] == "ci_bots":
            times[row["account_id"]].append(row["ts_start"])
    assert times
    for stamps in times.values():
        stamps.sort()
        gaps = {round((b - a).total_seconds()) for a, b in itertools.pairwise(stamps)}
        assert max(gaps) - min(gaps) <= 1, gaps


def test_campaign_accounts_stay_under_their_hourly_limit_and_university_signs_up_in_one_week(
    tiny: Path,
) -> None:
    scenario = preset("tiny")
    caps = {c.name: c.max_events_per_account_hour for c in scenario.campaigns}
    names = {c["campaign_id"]: c["name"] for c in manifest(tiny)["campaigns"]}
    per_hour: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for row in truth_events(tiny):
        if row["campaign_id"]:
            hour = row["ts_start"].replace(minute=0, second=0, microsecond=0)
            per_hour[(row["campaign_id"], row["account_id"], hour)] += 1
    for (campaign_id, _account, _hour), count in per_hour.items():
        assert count <= caps[names[campaign_id]]
    with (tiny / "truth" / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        university = {r["account_id"] for r in csv.DictReader(handle) if r["population"] == "university"}
    with (tiny / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        created = [
            datetime.fromisoformat(r["created_at"])
            for r in csv.DictReader(handle)
            if r["account_id"] in university
        ]
    assert len(created) > 20 and max(created) - min(created) <= timedelta(days=7)


def test_hydra_accounts_share_payment_fingerprints_and_proxy_prefixes(tiny: Path) -> None:
    with (tiny / "truth" / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        campaign_of = {r["account_id"]: r["campaign_id"] for r in csv.DictReader(handle)}
    with (tiny / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        cards = [
            (campaign_of[r["account_id"]], r["payment_fingerprint"])
            for r in csv.DictReader(handle)
            if campaign_of[r["account_id"]] and r["payment_fingerprint"]
        ]
    per_campaign: dict[str, list[str]] = defaultdict(list)
    for campaign, card in cards:
        per_campaign[campaign].append(card)
    cards_of = {c.name: c.payment_fingerprints for c in preset("tiny").campaigns}
    names = {c["campaign_id"]: c["name"] for c in manifest(tiny)["campaigns"]}
    for campaign, used in per_campaign.items():
        if cards_of[names[campaign]] * 2 <= len(used):  # a careful campaign buys a card per account
            assert len(set(used)) <= cards_of[names[campaign]] < len(used)
    prefixes: dict[str, set[str]] = defaultdict(set)
    accounts: dict[str, set[str]] = defaultdict(set)
    for record in all_records(tiny):
        campaign = campaign_of[record.account_id]
        key = campaign or "benign"
        prefixes[key].add(record.client_ip.rsplit(".", 1)[0])
        accounts[key].add(record.account_id)
    shared = prefixes["benign"] & set().union(*(v for k, v in prefixes.items() if k != "benign"))
    assert shared, "some ordinary customers must leave through the same proxy ranges as a campaign"


def test_no_event_precedes_its_account_and_only_banned_campaign_accounts_get_403(tiny: Path) -> None:
    with (tiny / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        created = {r["account_id"]: datetime.fromisoformat(r["created_at"]) for r in csv.DictReader(handle)}
    truth = {row["event_id"]: row for row in truth_events(tiny)}
    denied: dict[bool, int] = defaultdict(int)
    for record in all_records(tiny):
        row = truth[record.event_id]
        assert row["ts_start"] >= created[record.account_id]
        if status_code(record) == 403:
            denied[row["campaign_id"] is not None] += 1
    assert denied[True] > 0 and denied[False] == 0
