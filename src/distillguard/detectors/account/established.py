"""Business context: a long history and a verified business relationship."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.established",
    "Established, verified customer (business context)",
    "account",
    "The account existed long before this traffic, or is on an enterprise plan or verified as an "
    "enterprise. Counts against risk but never excuses it: an aged, verified account can be bought.",
    ("a bought or compromised aged account (its behaviour still scores)",),
    {"age_low_days": 60.0, "age_high_days": 365.0, "enterprise_score": 1.0, "weight": -1.0},
    why={
        "age_low_days": "two months is about the shortest life the disclosures report for a campaign's "
        "accounts before replacement",
        "age_high_days": "a year of history is an established customer",
        "enterprise_score": "a signed enterprise relationship is as telling as a year of history",
        "weight": "offsets about one supporting piece of evidence; harvest volume and content still show",
    },
)


def score(p: Mapping[str, Any]) -> str:
    age = ramp("signup_age_days", p["age_low_days"], p["age_high_days"])
    enterprise = (
        f"CASE WHEN plan = 'enterprise' OR verification = 'enterprise' THEN {p['enterprise_score']} "
        "ELSE 0.0 END"
    )
    return f"greatest({age}, {enterprise})"


SIGNAL = AccountSignal(
    SPEC,
    "s_established",
    score,
    "signup_age_days",
    "an established customer: created {signup_age_days:.0f} days before this traffic, plan {plan}, "
    "verified by {verification}",
    group="context",
)
