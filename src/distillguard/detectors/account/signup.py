"""Fresh sign-up through a pathway the disclosures name as abused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

ABUSED_PLANS = ("education", "research", "startup", "free")

SPEC = DetectorSpec(
    "account.signup",
    "Fresh sign-up through an abused pathway",
    "account",
    "Account created shortly before its traffic, on an education, research, startup or free plan "
    "(the pathways the disclosures name); half as much on other plans.",
    ("new students at term start", "a hackathon week"),
    {
        "fresh_days": 30.0,
        "fully_fresh_days": 7.0,
        "other_plan_factor": 0.5,
        "weight": 0.8,
        "group_weight": 0.2,
    },
    why={
        "fresh_days": "a month of history is where most one-off abuse accounts are already gone",
        "fully_fresh_days": "traffic within a week of sign-up is the pattern of disposable accounts",
        "other_plan_factor": "paid plans are abused too, but need a card that can be traced",
        "weight": "every new customer is fresh once, so it supports other evidence",
        "group_weight": "part of the harvest summary",
    },
)


def score(p: Mapping[str, Any]) -> str:
    plans = ", ".join(f"'{plan}'" for plan in ABUSED_PLANS)
    fresh = ramp(f"{p['fresh_days']} - signup_age_days", 0.0, p["fresh_days"] - p["fully_fresh_days"])
    return f"CASE WHEN plan IN ({plans}) THEN 1.0 ELSE {p['other_plan_factor']} END * {fresh}"


SIGNAL = AccountSignal(
    SPEC,
    "s_signup",
    score,
    "signup_age_days",
    "created {signup_age_days:.1f} days before its first request, plan {plan}, verified by {verification}",
    group="harvest",
)
