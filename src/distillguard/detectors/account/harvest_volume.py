"""Harvest volume: how much training-shaped output a subject has collected, weighted by size.

One account that collects thousands of reasoning traces is a distillation operation
whether or not it has siblings; this is the evidence that lets a single account (or a
single end user) reach ``extraction`` without any cluster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "account.harvest_volume",
    "Harvested training-shaped output",
    "account",
    "Output tokens the subject received on training-shaped exchanges (reasoning traces, grades, "
    "rewrites), plus agentic and tool-use transcripts at a fraction of their size; counted on a log "
    "scale between a week of homework and a training set's worth.",
    (
        "edtech platforms and tutoring apps (their many end users count against it)",
        "evaluation companies running benchmark sweeps (repeated items count against it)",
        "coding-agent products (many end users, a fixed product system prompt)",
    ),
    {
        "tokens_low": 20_000,
        "tokens_high": 1_000_000,
        "agentic_fraction": 0.5,
        "tokens_per_exchange_unknown": 256,
        "weight": 2.5,
    },
    why={
        "tokens_low": "about twenty long reasoning traces: what a student or a developer collects in a "
        "busy week without any intent to train",
        "tokens_high": "about seven hundred full reasoning traces or a few thousand grades: the size of "
        "a fine-tuning set for one skill",
        "agentic_fraction": "agentic and tool-use transcripts are harvested (the disclosures name "
        "agentic coding and tool use) but are also most of what coding products send, so they count "
        "at half their size",
        "tokens_per_exchange_unknown": "a log without token counts or response text still says an "
        "exchange happened; a short answer's worth is the conservative size",
        "weight": "collected volume is the point of a distillation campaign, and the strongest single "
        "piece of evidence once its business context is weighed",
    },
)

# An exchange that is agent or tool work: the request carried tool schemas, or its text asks for
# agentic or tool-use work. Shared with the swarm cohorts, which judge agentic harvests too.
TOOL_WORK = "(coalesce(tool_count, 0) > 0 OR capability IN ('agentic', 'tool_use', 'computer_use'))"
# What one agent or tool exchange is worth against a training-shaped one; the behaviour
# summary's training-shaped share weighs them the same way.
AGENTIC_FRACTION = float(SPEC["agentic_fraction"])


def output_size(unknown: float) -> str:
    """SQL: an exchange's answer in tokens: the log's count, else its text's length / 4, else
    ``unknown`` (a log may keep neither)."""
    return f"coalesce(CAST(output_tokens AS DOUBLE), response_chars / 4.0, {float(unknown)})"


_HARVESTED = output_size(SPEC["tokens_per_exchange_unknown"])
AGGREGATES = (
    f"sum(CASE WHEN training >= {ELICITATION_THRESHOLD} THEN {_HARVESTED} "
    f"WHEN {TOOL_WORK} THEN {AGENTIC_FRACTION} * {_HARVESTED} "
    "ELSE 0.0 END) AS harvest_tokens",
    f"sum(CASE WHEN training >= {ELICITATION_THRESHOLD} THEN 1 ELSE 0 END) AS training_events",
)


def score(p: Mapping[str, Any]) -> str:
    low, high = math.log10(float(p["tokens_low"])), math.log10(float(p["tokens_high"]))
    return ramp("log10(1.0 + coalesce(harvest_tokens, 0.0))", low, high)


SIGNAL = AccountSignal(
    SPEC,
    "s_harvest",
    score,
    "harvest_tokens",
    "collected about {harvest_tokens:,.0f} output tokens of training-shaped or agentic exchanges "
    "({training_events} training-shaped exchanges)",
    group="context",
    aggregates=AGGREGATES,
)
