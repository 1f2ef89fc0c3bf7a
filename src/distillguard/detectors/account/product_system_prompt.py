"""Business context: one fixed product system prompt on nearly every request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.product_system_prompt",
    "Fixed product system prompt (business context)",
    "account",
    "Nearly every request carries the same system prompt: an application's persona. Counts against "
    "risk. A system prompt that itself asks for reasoning traces or grades is content, scored by the "
    "prompt level, and outweighs this.",
    ("a harvesting script with a fixed instruction preamble (its content still scores)",),
    {"share_low": 0.6, "share_high": 0.95, "min_events": 20, "weight": -0.8},
    why={
        "share_low": "people change or omit system prompts often",
        "share_high": "the same system prompt on nearly every call is an application",
        "min_events": "a few requests with one system prompt say nothing about a product",
        "weight": "a script can carry a fixed preamble too, so it offsets little",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"CASE WHEN events >= {p['min_events']} THEN "
        f"{ramp('top_system_prompt_share', p['share_low'], p['share_high'])} ELSE 0.0 END"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_product_prompt",
    score,
    "top_system_prompt_share",
    "{top_system_prompt_share:.0%} of requests carry one fixed system prompt (an application)",
    group="context",
)
