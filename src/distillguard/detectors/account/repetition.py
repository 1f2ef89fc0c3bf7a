"""Business context: the same prompts asked again and again (test suites, evaluations, classes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.repetition",
    "Repeated prompts (business context)",
    "account",
    "Share of the subject's one-shot requests that repeat a prompt it already sent (multi-turn requests "
    "are left out: an agent loop's last turn is often boilerplate). A collection never needs the "
    "same answer twice; CI bots, evaluation harnesses re-running a benchmark and classes sending the same "
    "exercise always do. Counts against risk.",
    ("a harvester re-sending prompts to sample several answers (its other evidence still scores)",),
    {"repeat_low": 0.3, "repeat_high": 0.8, "min_events": 20, "weight": -1.0},
    why={
        "repeat_low": "people re-ask a question now and then, and retries repeat prompts",
        "repeat_high": "most requests repeating earlier ones is a test suite or a benchmark, not a harvest",
        "min_events": "with a handful of one-shot requests repetition says nothing",
        "weight": "offsets about one supporting piece of evidence: sampling several answers to one "
        "prompt is also a distillation technique, so it never excuses harvest volume",
    },
)

# Over one-shot requests only: in a multi-turn agent loop the last user turn is often the
# same boilerplate ("continue", a tool result header) while the conversation is new.
_ONE_SHOT = "coalesce(message_count, 1) <= 1"
AGGREGATES = (
    f"1.0 - count(DISTINCT CASE WHEN {_ONE_SHOT} THEN prompt_hash END) "
    f"/ greatest(1.0, count(CASE WHEN {_ONE_SHOT} THEN prompt_hash END)) AS repeated_share",
    f"count(CASE WHEN {_ONE_SHOT} THEN prompt_hash END) AS one_shot_prompts",
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"CASE WHEN one_shot_prompts >= {p['min_events']} THEN "
        f"{ramp('repeated_share', p['repeat_low'], p['repeat_high'])} ELSE 0.0 END"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_repetition",
    score,
    "repeated_share",
    "{repeated_share:.0%} of its one-shot requests repeat a prompt it already sent (a test suite, "
    "a benchmark)",
    group="context",
    aggregates=AGGREGATES,
)
