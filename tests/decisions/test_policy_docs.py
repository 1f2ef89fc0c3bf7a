"""docs/policy.md and examples/policy.yaml stay true to the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.decisions.degrade import DEGRADE_ITEM_NAMES
from distillguard.decisions.facts import LiveCounters
from distillguard.decisions.model import resolve
from distillguard.decisions.policy import PolicyError, default_policy, load_policy, parse_policy
from distillguard.decisions.policy_parse import TOP_LEVEL_KEYS

from .support import NOW, facts, verdict

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
SOURCES = (
    "policy.threshold",
    "live.rate_budget",
    "live.elicitation_share",
    "live.new_account_burst",
    "live.fingerprint_burst",
    "policy.allowlist",
    "policy.region",
)


def test_example_policy_loads_and_spells_out_every_section() -> None:
    policy = load_policy(ROOT / "examples" / "policy.yaml")
    assert policy.parts.inherited == ()
    assert policy.mode == "shadow"  # an example should be safe to try
    assert policy.parts.allowlists and policy.parts.regions and policy.parts.overrides


def test_the_slow_down_example_throttles_a_flagged_cluster_instead_of_blocking_it() -> None:
    policy = load_policy(ROOT / "examples" / "policy-slow-down.yaml")
    near_certain = (verdict("cluster", "c-1", 0.99),)
    quiet = LiveCounters(cluster_requests_1m=1, cluster_requests_1h=1)
    busy = LiveCounters(cluster_requests_1m=2, cluster_requests_1h=40)
    assert resolve(policy.evaluate(facts(known=near_certain, counters=quiet)), now=NOW).action == "degrade"
    assert resolve(policy.evaluate(facts(known=near_certain, counters=busy)), now=NOW).action == "throttle"


def test_packaged_default_spells_out_every_section() -> None:
    assert default_policy().parts.inherited == ()
    text = (ROOT / "src" / "distillguard" / "data" / "default_policy.yaml").read_text(encoding="utf-8")
    for key in TOP_LEVEL_KEYS:
        assert f"\n{key}:" in text, key


@pytest.mark.parametrize("word", [*TOP_LEVEL_KEYS, *DEGRADE_ITEM_NAMES, *SOURCES])
def test_reference_mentions(word: str) -> None:
    assert f"`{word}" in DOC, f"docs/policy.md does not document {word!r}"


@pytest.mark.parametrize(
    "text",
    [
        "thresholds:\n  - risk: 0.8\n    action: blok\n",
        "thresholds:\n  - risk: 1.5\n    action: block\n",
        "allowlists:\n  - name: lab\n    cidrs: [10.1.2.3/8]\n",
        "thresholds: [\n  {risk: 0.8, action: block}\n",
    ],
)
def test_error_examples_in_the_reference_are_real(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    assert str(caught.value) in DOC
