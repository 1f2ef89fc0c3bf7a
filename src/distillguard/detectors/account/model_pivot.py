"""Pivot to a newly released model within a day."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.model_pivot",
    "Pivot to a newly released model",
    "account",
    "A large share of the subject's traffic moves to a model first seen in the data within 24 hours "
    "of its release (one disclosed campaign moved half its traffic within a day).",
    ("evaluation harnesses benchmarking a release", "early adopters"),
    {"share_low": 0.2, "share_high": 0.5, "weight": 0.6},
    why={
        "share_low": "early adopters try a new model with part of their traffic",
        "share_high": "moving half of everything within a day is a pipeline re-pointed",
        "weight": "eval harnesses do the same on release day, so it only supports other evidence",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return ramp("pivot_share", p["share_low"], p["share_high"])


SIGNAL = AccountSignal(
    SPEC,
    "s_pivot",
    score,
    "pivot_share",
    "{pivot_share:.0%} of its traffic moved to newly released {pivot_model} within 24 h",
    group="context",
)
