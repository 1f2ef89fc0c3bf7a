"""Capability concentration and sweeps over valuable capabilities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.evidence import shrunk
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.capability_focus",
    "Capability concentration and sweeps",
    "account",
    "Traffic concentrated on one valuable capability (coding, math, tool use ...), or a sweep: "
    "nearly all traffic on valuable capabilities spread systematically over several of them.",
    ("single-purpose apps",),
    {
        "top_share_low": 0.5,
        "top_share_high": 0.9,
        "valuable_low": 0.7,
        "valuable_high": 0.95,
        "sweep_low": 2,
        "sweep_high": 4,
        "weight": 0.4,
        "group_weight": 0.3,
    },
    why={
        "top_share_low": "a person's traffic mixes topics; half on one capability is already a focus",
        "top_share_high": "nine tenths on one capability is a collection targeted at that skill",
        "valuable_low": "people ask general questions too; under 70% valuable capabilities is ordinary",
        "valuable_high": "almost nothing but valuable capabilities is a curriculum",
        "sweep_low": "two capabilities can be one job",
        "sweep_high": "four or more valuable capabilities with nothing general is a sweep",
        "weight": "single-purpose products focus too, so it only supports other evidence",
        "group_weight": "the rest of the content summary",
    },
)


def score(p: Mapping[str, Any]) -> str:
    focus = ramp(shrunk("top_capability_share"), p["top_share_low"], p["top_share_high"])
    sweep = (
        f"{ramp(shrunk('valuable_share'), p['valuable_low'], p['valuable_high'])} * "
        f"{ramp('capabilities_used', p['sweep_low'], p['sweep_high'])}"
    )
    return f"greatest(CASE WHEN top_capability = 'general' THEN 0.0 ELSE {focus} END, {sweep})"


SIGNAL = AccountSignal(
    SPEC,
    "s_focus",
    score,
    "top_capability_share",
    "{top_capability_share:.0%} of traffic on {top_capability}, {valuable_share:.0%} on valuable "
    "capabilities ({capabilities_used} used)",
)
