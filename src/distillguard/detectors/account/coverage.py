"""Non-repeating coverage: a harvest never asks the same item twice; an evaluation does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "account.coverage",
    "Non-repeating coverage",
    "account",
    "Among the subject's one-shot training-shaped exchanges, the share of distinct prompts: "
    "collecting a data set means covering new items, while evaluation jobs, CI and classes repeat "
    "the same ones.",
    ("research teams building their own benchmark", "question-answering products"),
    {"distinct_low": 0.8, "distinct_high": 0.98, "min_events_low": 10, "min_events_high": 50, "weight": 0.8},
    why={
        "distinct_low": "evaluation harnesses and classes re-send the same items run after run",
        "distinct_high": "practically never asking twice is a curriculum being covered",
        "min_events_low": "a handful of prompts are distinct by chance",
        "min_events_high": "fifty training-shaped exchanges are enough to see whether items repeat",
        "weight": "supports harvest evidence; it is what separates a nightly harvest from a nightly eval",
    },
)



def one_shot_training(table: str = "") -> str:
    """SQL condition: a harvested *item*, a one-shot training-shaped request (columns of ``table``
    when given). One-shot only: in a multi-turn agent loop the last user turn (what prompt_hash
    fingerprints) repeats boilerplate while every conversation is new. Clusters and cohorts judge
    their coverage on the same items."""
    t = f"{table}." if table else ""
    return f"{t}training >= {ELICITATION_THRESHOLD} AND coalesce({t}message_count, 1) <= 1"


_ONE_SHOT_TRAINING = one_shot_training()
AGGREGATES = (
    f"count(DISTINCT CASE WHEN {_ONE_SHOT_TRAINING} THEN prompt_hash END) "
    f"/ greatest(1.0, sum(CASE WHEN {_ONE_SHOT_TRAINING} AND prompt_hash IS NOT NULL "
    "THEN 1 ELSE 0 END)) AS training_distinct_share",
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"{ramp('training_distinct_share', p['distinct_low'], p['distinct_high'])} * "
        f"{ramp('training_events', p['min_events_low'], p['min_events_high'])}"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_coverage",
    score,
    "training_distinct_share",
    "{training_distinct_share:.0%} of its training-shaped prompts are asked once (no item repeated)",
    group="context",
    aggregates=AGGREGATES,
)
