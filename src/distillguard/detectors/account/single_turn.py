"""Single-turn harvesting: fresh one-shot requests instead of conversations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.evidence import shrunk
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.single_turn",
    "Single-turn harvesting",
    "account",
    "Prompts sent as fresh one-shot requests rather than continuing conversations.",
    ("batch jobs", "evaluation harnesses", "classification pipelines"),
    {"share_low": 0.5, "share_high": 0.95, "weight": 0.4, "group_weight": 0.15},
    why={
        "share_low": "people and chat products continue conversations; half one-shot is still usual",
        "share_high": "nearly everything one-shot is a pipeline",
        "weight": "every batch pipeline is single-turn, so it only supports other evidence",
        "group_weight": "a small part of the harvest summary",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return ramp(shrunk("single_turn_share"), p["share_low"], p["share_high"])


SIGNAL = AccountSignal(
    SPEC,
    "s_single_turn",
    score,
    "single_turn_share",
    "{single_turn_share:.0%} of requests are single-turn",
    group="harvest",
)
