"""Template reuse: prompts built from the subject's recurring scaffolds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.evidence import shrunk
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.templated",
    "Template reuse",
    "account",
    "Share of prompts built from the subject's recurring scaffolds (template families used twice or "
    "more): a wrapper around a varying item is how a harvesting script asks.",
    ("CI bots", "apps with a fixed prompt template for every end user"),
    {"share_low": 0.3, "share_high": 0.9, "weight": 0.5, "group_weight": 0.2},
    why={
        "share_low": "people reuse their own phrasings now and then; under a third is ordinary",
        "share_high": "nine in ten prompts from one scaffold is a program, not a person",
        "weight": "programs are common among legitimate customers too, so it only supports other evidence",
        "group_weight": "a fifth of the content summary the graph uses to choose its nodes",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return ramp(shrunk("templated_share"), p["share_low"], p["share_high"])


SIGNAL = AccountSignal(
    SPEC,
    "s_templated",
    score,
    "templated_share",
    "{templated_share:.0%} of prompts reuse the account's template families ({template_families} families)",
)
