"""Degrade items rewrite real request bodies: what a distiller wants is withheld, the rest is untouched."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from distillguard.decisions.degrade import apply_patch, degrade_patch, parse_item
from distillguard.decisions.model import resolve
from distillguard.decisions.policy import default_policy

from .support import NOW, facts, verdict

MESSAGES = [{"role": "user", "content": "Explain every step of your reasoning."}]


def degraded(items: list[str], body: dict[str, Any]) -> dict[str, Any]:
    original = copy.deepcopy(body)
    patch = degrade_patch(items, body)
    assert body == original, "degrade_patch must not modify the request it reads"
    return apply_patch(copy.deepcopy(body), patch)


def test_chat_completion_loses_logprobs_extra_choices_and_long_outputs() -> None:
    body = {
        "model": "m",
        "messages": MESSAGES,
        "logprobs": True,
        "top_logprobs": 20,
        "max_tokens": 16000,
        "n": 8,
        "temperature": 0.2,
    }
    out = degraded(["logprobs", "max_tokens:1024", "n:1"], body)
    assert out == {"model": "m", "messages": MESSAGES, "max_tokens": 1024, "n": 1, "temperature": 0.2}


def test_fields_the_request_does_not_have_are_left_alone() -> None:
    body = {"model": "m", "messages": MESSAGES, "max_completion_tokens": 300}
    patch = degrade_patch(["reasoning", "logprobs", "max_tokens:1024", "n", "reasoning_effort:low"], body)
    assert patch == {"set": {}, "remove": []}


def test_an_uncapped_request_gets_the_cap_in_its_own_api_field() -> None:
    assert degrade_patch(["max_tokens:2048"], {"messages": MESSAGES}) == {
        "set": {"max_tokens": 2048},
        "remove": [],
    }
    responses = {"model": "m", "input": "Show all of your work."}
    assert degrade_patch(["max_tokens:2048"], responses)["set"] == {"max_output_tokens": 2048}
    # a chat request using the newer field keeps using it
    newer = {"messages": MESSAGES, "max_completion_tokens": 9000}
    assert degrade_patch(["max_tokens:2048"], newer)["set"] == {"max_completion_tokens": 2048}


def test_responses_api_keeps_a_summary_but_not_the_full_reasoning() -> None:
    body = {
        "model": "m",
        "input": "Think step by step.",
        "reasoning": {"effort": "high", "summary": "detailed"},
        "include": [
            "reasoning.encrypted_content",
            "message.output_text.logprobs",
            "file_search_call.results",
        ],
        "top_logprobs": 5,
        "max_output_tokens": 50000,
    }
    out = degraded(["reasoning", "logprobs", "max_tokens:2048", "reasoning_effort:low"], body)
    assert out["reasoning"] == {"effort": "low", "summary": "auto"}
    assert out["include"] == ["file_search_call.results"]
    assert "top_logprobs" not in out
    assert out["max_output_tokens"] == 2048
    assert out["input"] == "Think step by step."


def test_include_disappears_when_nothing_is_left_in_it() -> None:
    body = {"input": "x", "include": ["reasoning.encrypted_content"]}
    assert degrade_patch(["reasoning"], body) == {"set": {}, "remove": ["include"]}


def test_anthropic_style_thinking_is_dropped_for_reasoning_and_shrunk_under_a_cap() -> None:
    body = {
        "messages": MESSAGES,
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 16000},
    }
    assert "thinking" not in degraded(["reasoning"], body)
    capped = degraded(["max_tokens:4096"], body)
    assert capped["max_tokens"] == 4096
    assert capped["thinking"] == {"type": "enabled", "budget_tokens": 2048}  # must stay below max_tokens
    # a cap too small for the minimum thinking budget (1024) turns thinking off instead of breaking the call
    assert "thinking" not in degraded(["max_tokens:1000"], body)


def test_open_model_servers_reasoning_switches_are_turned_off() -> None:
    body = {
        "messages": MESSAGES,
        "include_reasoning": True,
        "reasoning": {"exclude": False, "effort": "high"},
    }
    out = degraded(["reasoning"], body)
    assert out["include_reasoning"] is False
    assert out["reasoning"] == {"exclude": True, "effort": "high"}


def test_legacy_completions_logprobs_and_best_of() -> None:
    body = {"model": "m", "prompt": "Q:", "logprobs": 5, "best_of": 5, "n": 3, "max_tokens": 100}
    assert degraded(["logprobs", "n:1", "max_tokens:1024"], body) == {
        "model": "m",
        "prompt": "Q:",
        "best_of": 1,
        "n": 1,
        "max_tokens": 100,
    }


def test_several_rows_merge_to_the_tightest_caps() -> None:
    body = {"messages": MESSAGES, "max_tokens": 9000, "reasoning_effort": "high", "n": 5}
    patch = degrade_patch(["max_tokens:4096", "n:2", "max_tokens:1024", "reasoning_effort:medium", "n"], body)
    patch_again = degrade_patch(["reasoning_effort:minimal", "reasoning_effort:medium"], body)
    assert patch["set"] == {"max_tokens": 1024, "reasoning_effort": "medium", "n": 1}
    assert patch_again["set"] == {"reasoning_effort": "minimal"}
    assert degrade_patch(["reasoning_effort:low"], {"reasoning_effort": "minimal"})["set"] == {}


def test_without_a_body_the_patch_is_for_a_chat_request() -> None:
    assert degrade_patch(["reasoning", "logprobs", "max_tokens:512"], None) == {
        "set": {"max_tokens": 512},
        "remove": [],
    }
    assert degrade_patch([], {"messages": MESSAGES, "logprobs": True}) == {"set": {}, "remove": []}


def test_apply_patch_edits_the_gateway_s_own_dict() -> None:
    data = {"messages": MESSAGES, "logprobs": True, "max_tokens": 8000}
    patch = degrade_patch(["logprobs", "max_tokens:256"], data)
    same = apply_patch(data, patch)
    assert same is data and data == {"messages": MESSAGES, "max_tokens": 256}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("logprob", "did you mean 'logprobs'?"),
        ("max_tokens", "needs a whole number"),
        ("max_tokens:0", "at least 1"),
        ("reasoning_effort:extreme", "needs a level"),
        ("reasoning:summary", "takes no value"),
        ("", "non-empty"),
    ],
)
def test_bad_items_are_refused(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_item(item)


def test_default_policy_degrade_reaches_the_request() -> None:
    """End to end: a watch verdict -> degrade row -> rewrite of a real chat request."""
    outcome = resolve(default_policy().evaluate(facts(known=(verdict("account", "acct-1", 0.6),))), now=NOW)
    assert outcome.action == "degrade"
    body = {"messages": MESSAGES, "logprobs": True, "top_logprobs": 5, "max_tokens": 32000, "n": 4}
    assert degraded(list(outcome.degrade), body) == {"messages": MESSAGES, "max_tokens": 2048, "n": 1}
