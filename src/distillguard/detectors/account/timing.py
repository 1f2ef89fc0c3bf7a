"""Machine timing: regular inter-arrival times (shown as evidence, not scored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.timing",
    "Machine timing",
    "account",
    "Inter-arrival regularity (low coefficient of variation). Shown when strong, never scored: "
    "CI bots and cron jobs are regular by design, and harvesters add jitter.",
    ("CI bots", "cron jobs"),
    {"min_events": 20, "cv_regular": 0.1, "cv_irregular": 0.6},
    why={
        "min_events": "fewer gaps than this say nothing about regularity",
        "cv_regular": "a coefficient of variation near 0.1 is a timer",
        "cv_irregular": "human and Poisson-like traffic sits at or above 0.6 and up",
    },
)


def score(p: Mapping[str, Any]) -> str:
    regular = ramp(f"{p['cv_irregular']} - interarrival_cv", 0.0, p["cv_irregular"] - p["cv_regular"])
    return f"CASE WHEN events >= {p['min_events']} THEN {regular} ELSE 0.0 END"


SIGNAL = AccountSignal(
    SPEC,
    "s_timing",
    score,
    "interarrival_cv",
    "inter-arrival coefficient of variation {interarrival_cv:.2f} (machine-regular)",
    group="context",
    shown_only=True,
)
