"""Training-shaped prompts: the share of an account's exchanges that collect reasoning traces,
rubric grades or rewrites.

The graph's behaviour summary reads a wider share: agent and tool work counts too, at the
fraction harvest volume gives it. An agentic harvest (the disclosures name agentic coding
and tool use) asks for no reasoning traces, so without it such a campaign's content summary
could only come from capability focus and templates, and its accounts with their own card
and exit never became graph nodes. Risk still reads training-shaped exchanges alone: agent
work is most of what coding products send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.evidence import shrunk
from distillguard.detectors.account.harvest_volume import AGENTIC_FRACTION, TOOL_WORK
from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "account.training_shaped",
    "Training-shaped prompts",
    "account",
    "Share of the subject's exchanges that elicit chain-of-thought, ask for rubric grading, or "
    "request censorship-safe rewrites (any prompt class at or above the elicitation threshold). "
    "The graph's behaviour summary also counts agent and tool work, at harvest volume's "
    "agentic fraction of an exchange.",
    ("evaluation harnesses asking for step-by-step answers", "tutoring apps (see end-user breadth)"),
    {"share_low": 0.1, "share_high": 0.5, "weight": 2.0, "group_weight": 0.5},
    why={
        "share_low": "ordinary chat and coding traffic asks for reasoning traces, grades or rewrites in "
        "a few percent of requests at most; below a tenth it is not a habit",
        "share_high": "when half of what an account asks is training-shaped, collecting that output is "
        "its main use",
        "weight": "the most direct evidence of what is being harvested: alone (with no volume, "
        "shape or context) it moves an account from background odds to about even",
        "group_weight": "half of the content summary the graph uses to choose its nodes",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return ramp(shrunk("training_share"), p["share_low"], p["share_high"])


# Per exchange: 1 for a training-shaped one, the agentic fraction for agent or tool work (the
# same weighing harvest volume gives their output), averaged per subject.
AGGREGATES = (
    f"avg(CASE WHEN training >= {ELICITATION_THRESHOLD} THEN 1.0 WHEN {TOOL_WORK} "
    f"THEN {AGENTIC_FRACTION} ELSE 0.0 END) AS harvested_share",
)


def summary(p: Mapping[str, Any]) -> str:
    return ramp("harvested_share", p["share_low"], p["share_high"])


SIGNAL = AccountSignal(
    SPEC,
    "s_training",
    score,
    "training_share",
    "{training_share:.0%} of {events} prompts elicit reasoning traces, rubric grading or rewrites "
    "(cot {cot_share:.0%}, grading {grading_share:.0%}, rewrite {rewrite_share:.0%})",
    group="content",
    aggregates=AGGREGATES,
    summary=summary,
)

__all__ = ["ELICITATION_THRESHOLD", "SIGNAL", "SPEC"]
