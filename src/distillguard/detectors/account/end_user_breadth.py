"""Business context: a product serving many distinct end users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.end_user_breadth",
    "Many distinct end users (business context)",
    "account",
    "The subject passes many distinct end-user ids, each with a modest share of its traffic: a product "
    "serving customers, whose volume that explains. Counts against risk; each end user is also scored "
    "on its own (end-user subjects), so extraction hidden among them still shows.",
    ("a reseller that invents end-user ids (its end users are scored one by one)",),
    {"end_users_low": 20, "end_users_high": 500, "max_top_share": 0.2, "weight": -1.5},
    why={
        "end_users_low": "a handful of ids is a team or a test, not a customer base",
        "end_users_high": "hundreds of distinct users is a product in production",
        "max_top_share": "when one end user carries more than a fifth of the traffic, the breadth is "
        "not what explains the volume",
        "weight": "explains volume without excusing it: a bought, aged account can fake breadth, so it "
        "offsets about one strong piece of evidence, not all of them",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"{ramp('end_users', p['end_users_low'], p['end_users_high'])} * "
        f"CASE WHEN coalesce(top_end_user_share, 1.0) <= {p['max_top_share']} THEN 1.0 ELSE 0.0 END"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_end_users",
    score,
    "end_users",
    "serves {end_users} distinct end users (the busiest {top_end_user_share:.0%} of traffic)",
    group="context",
)
