"""Ground truth is consistent with the traffic and the manifest: what the benchmark relies on."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from distillguard.simulate import preset
from distillguard.simulate.scenario import BENIGN_KINDS, GOALS

from .support import all_records, manifest, run, truth_events


def _truth_accounts(data: Path) -> dict[str, dict[str, str]]:
    with (data / "truth" / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        return {row["account_id"]: row for row in csv.DictReader(handle)}


def test_every_traffic_event_has_exactly_one_truth_row_with_the_same_account(tiny: Path) -> None:
    truth = {row["event_id"]: row for row in truth_events(tiny)}
    seen = Counter()
    for record in all_records(tiny):
        seen[record.event_id] += 1
        assert truth[record.event_id]["account_id"] == record.account_id, record.fmt
    assert set(seen) == set(truth)
    assert max(seen.values()) == 1, "event ids must be unique across all formats"


def test_every_attacker_event_belongs_to_a_labelled_campaign_account(tiny: Path) -> None:
    accounts = _truth_accounts(tiny)
    campaign_ids = {c["campaign_id"] for c in manifest(tiny)["campaigns"]}
    for row in truth_events(tiny):
        label = accounts[row["account_id"]]
        if row["campaign_id"] is not None:
            assert label["role"] == "attacker"
            assert label["campaign_id"] == row["campaign_id"] in campaign_ids
            assert row["goal"] is None or row["goal"] in GOALS
        else:
            assert label["role"] == "benign" and label["campaign_id"] == ""
            assert row["goal"] is None


def test_counts_match_the_manifest(tiny: Path) -> None:
    m = manifest(tiny)
    events = truth_events(tiny)
    assert m["events"] == len(events) == len(all_records(tiny))
    by_population = Counter(row["population"] for row in events)
    assert {p: v["events"] for p, v in m["populations"].items() if v["events"]} == dict(by_population)
    by_campaign = Counter(row["campaign_id"] for row in events if row["campaign_id"])
    assert {c["campaign_id"]: c["events"] for c in m["campaigns"]} == dict(by_campaign)
    with (tiny / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        public = list(csv.DictReader(handle))
    assert m["accounts"] == len(public) == len(_truth_accounts(tiny))
    assert sum(v["accounts"] for v in m["populations"].values()) == len(public)
    labels = _truth_accounts(tiny)
    for c in m["campaigns"]:
        members = [a for a in labels.values() if a["campaign_id"] == c["campaign_id"]]
        assert c["accounts"] == len(members)
        times = [row["ts_start"] for row in events if row["campaign_id"] == c["campaign_id"]]
        assert c["onset"] == min(times).isoformat() and c["end"] == max(times).isoformat()
    assert json.loads((tiny / "truth" / "campaigns.json").read_text()) == m["campaigns"]


def test_accounts_file_has_the_contract_columns_and_no_labels(tiny: Path) -> None:
    with (tiny / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "account_id",
            "created_at",
            "country",
            "email_domain",
            "payment_fingerprint",
            "verification",
            "plan",
        ]
        rows = list(reader)
    assert {r["verification"] for r in rows} <= {"none", "email", "phone", "id", "enterprise"}
    assert {r["plan"] for r in rows} <= {"free", "paygo", "startup", "education", "research", "enterprise"}


def test_tiny_holds_every_benign_population_and_every_campaign_goal(tiny: Path) -> None:
    events = truth_events(tiny)
    # The kinds and goals added for the randomiser (hackathon, reseller, self_critique) are left
    # out of the presets so their bytes stay as they were; test_shapes covers them.
    newer = {"hackathon", "reseller", "self_critique"}
    assert {row["population"] for row in events} == {*BENIGN_KINDS, "attacker"} - newer
    assert {row["goal"] for row in events if row["goal"]} == set(GOALS) - newer
    names = {c["name"] for c in manifest(tiny)["campaigns"]}
    assert names == {"reasoning-grading-censorship", "agentic-mixed", "coding-pivot", "evasion"}
    assert 5_000 <= len(events) <= 20_000


def test_benign_only_scenario_has_no_campaign_labels(tmp_path: Path) -> None:
    scenario = preset("tiny", 0.3)
    scenario.campaigns = []
    m, _ = run(scenario, tmp_path)
    assert m["campaigns"] == [] and "attacker" not in m["populations"]
    assert all(row["campaign_id"] is None and row["goal"] is None for row in truth_events(tmp_path))
    assert {a["role"] for a in _truth_accounts(tmp_path).values()} == {"benign"}
    assert m["events"] > 0
