"""Token maximisation: requests ask for the most output a model will give."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.evidence import shrunk
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.token_max",
    "Token maximisation",
    "account",
    "Requests ask for the most output: a high max_tokens, long outputs received, or high reasoning "
    "effort. Harvesters buy the longest trace each call can return.",
    ("long-form writing apps", "SDKs and agent frameworks that send a model's maximum by default"),
    {
        "max_tokens_low": 4096,
        "max_tokens_high": 16384,
        "output_tokens_low": 800,
        "output_tokens_high": 2000,
        "high_effort_low": 0.2,
        "high_effort_high": 0.6,
        "weight": 0.8,
        "group_weight": 0.35,
    },
    why={
        "max_tokens_low": "SDK and chat defaults sit at or below 4k output tokens",
        "max_tokens_high": "16k is at or near the output limit of current frontier models",
        "output_tokens_low": "a typical chat or coding answer is a few hundred tokens",
        "output_tokens_high": "two thousand tokens on average is a full reasoning trace on every call",
        "high_effort_low": "a fifth of requests at high reasoning effort is a choice, not a default",
        "high_effort_high": "most requests at high effort buys the longest traces",
        "weight": "agent frameworks send large limits by default, so it supports other evidence",
        "group_weight": "the largest part of the harvest summary the graph uses",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"greatest({ramp('avg_max_tokens', p['max_tokens_low'], p['max_tokens_high'])}, "
        f"{ramp('avg_output_tokens', p['output_tokens_low'], p['output_tokens_high'])}, "
        f"{ramp(shrunk('high_effort_share'), p['high_effort_low'], p['high_effort_high'])})"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_token_max",
    score,
    "avg_max_tokens",
    "asks for up to {avg_max_tokens:.0f} output tokens on average, gets {avg_output_tokens:.0f}; "
    "{high_effort_share:.0%} at high reasoning effort",
    group="harvest",
)
