"""The live-detection bench counts a campaign's damage from what the gateway answered."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import live_tally as live  # noqa: E402

from distillguard.serve.decider import DecideRequest  # noqa: E402

START = datetime(2026, 3, 1, tzinfo=UTC)


def _record(account: str, hour: float) -> live.Replayed:
    return live.Replayed(
        START + timedelta(hours=hour), "gateway.jsonl", b"{}\n", DecideRequest(account_id=account)
    )


def test_a_campaign_is_flagged_by_the_first_pass_naming_any_of_its_accounts() -> None:
    """Onset, first flag and first stop in replayed hours; served counts every answer that was
    neither a throttle nor a block, and benign traffic's stopped share stands beside it."""
    records = [_record("a1", 0), _record("c1", 1), _record("a2", 2), _record("a1", 3), _record("a2", 4)]
    records += [_record("c2", 5), _record("c2", 6)]
    actions = ["allow", "allow", "degrade", "block", "throttle", "allow", "throttle"]
    truth = {"a1": "campaign x", "a2": "campaign x", "c1": "customer", "c2": "customer"}
    later = (START + timedelta(hours=2.5)).timestamp()
    flags = [((START + timedelta(hours=1.5)).timestamp(), {"c9"}), (later, {"a2"}), (later + 3600, {"a1"})]

    result = live.tally(records, actions, truth, flags)

    campaign = result["campaigns"]["campaign x"]
    assert campaign["exchanges"] == 4 and campaign["accounts"] == 2
    assert campaign["hours_to_first_flag"] == 2.5  # a2's pass, not a1's later one
    assert campaign["hours_to_first_stop"] == 3.0
    assert campaign["served_share"] == 0.5  # allow and degrade served; block and throttle not
    assert campaign["served_in_full_share"] == 0.25
    benign = result["benign"]
    assert benign["exchanges"] == 3 and benign["stopped_share"] == round(1 / 3, 5)
    # the customer refused is named by population, with when it was first refused
    assert benign["stopped_by_population"] == {
        "customer": {
            "exchanges": 3,
            "stopped": 1,
            "accounts_stopped": 1,
            "first_stop": (START + timedelta(hours=6)).isoformat(),
        }
    }


def test_a_campaign_no_pass_named_has_no_flag_time() -> None:
    records = [_record("a1", 0), _record("a1", 5)]
    result = live.tally(records, ["allow", "allow"], {"a1": "campaign y"}, [(START.timestamp(), set())])
    campaign = result["campaigns"]["campaign y"]
    assert campaign["hours_to_first_flag"] is None and campaign["hours_to_first_stop"] is None
    assert campaign["served_share"] == 1.0
