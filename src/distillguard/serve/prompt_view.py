"""What a decision reads from an API request body: the prompt and the fields degrade can withhold.

Chat ``messages``, responses ``input`` and completions ``prompt`` bodies (OpenAI-compatible,
Anthropic-style ``messages``). The prompt passes ``wire.clean_text`` with the same cut ingest
uses (setting ``max_text_chars``), so the live path scores and hashes what the scan stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.ingest.normalise import content_text, last_user_text
from distillguard.wire import DEFAULT_MAX_CHARS, clean_text


@dataclass(frozen=True)
class PromptView:
    """What the decision needs from an API request body."""

    text: str | None = None
    message_count: int = 0
    tool_count: int = 0
    max_tokens: int | None = None
    logprobs: bool = False
    reasoning_requested: bool = False
    # model and explicit generation parameters: what a harvesting script sets once and
    # reuses on every account it drives; None when the request sets none of them
    fingerprint: str | None = None


# Parameters a client chooses per call; their combination is the request's fingerprint.
FINGERPRINT_PARAMETERS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning_effort",
)


def request_fingerprint(body: Mapping[str, Any]) -> str | None:
    """``model|name=value|...`` over the explicit generation parameters, or None without any.

    Requests that leave every parameter at the SDK's default share one fingerprint with
    most ordinary traffic, so they get none: the live rule must not lump them together.
    """
    explicit = [
        f"{name}={body[name]}"
        for name in FINGERPRINT_PARAMETERS
        if isinstance(body.get(name), (int, float, str)) and not isinstance(body.get(name), bool)
    ]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        explicit.append(f"reasoning.effort={reasoning['effort']}")
    if not explicit:
        return None
    return "|".join([str(body.get("model") or ""), *explicit])


def _last_text(items: Sequence[Any]) -> str | None:
    text = last_user_text(items)
    if text is not None:
        return text
    for item in reversed(items):  # bare strings in a list (completions batches, responses input)
        if isinstance(item, str):
            return item
    return None


def read_prompt(body: Mapping[str, Any] | None, *, max_chars: int = DEFAULT_MAX_CHARS) -> PromptView:
    """The prompt and the fields degrade can withhold, from chat, responses or completions bodies.

    The prompt passes ``wire.clean_text`` with ``max_chars`` (setting ``max_text_chars``), as
    ingest's text does, so the live score and hashes equal the scan's."""
    if not body:
        return PromptView()
    text: str | None = None
    count = 0
    messages = body.get("messages")
    given = body.get("input", body.get("prompt"))
    if isinstance(messages, list):
        text, count = last_user_text(messages), len(messages)
    elif isinstance(given, str):
        text, count = given, 1
    elif isinstance(given, list):
        text, count = _last_text(given), len(given)
    elif isinstance(given, dict):
        text, count = content_text(given.get("content")), 1
    if text is not None:
        text = clean_text(text, max_chars=max_chars) if isinstance(text, str) else None
    tools = body.get("tools", body.get("functions"))
    max_tokens = next(
        (
            body[name]
            for name in ("max_tokens", "max_completion_tokens", "max_output_tokens")
            if isinstance(body.get(name), int) and not isinstance(body.get(name), bool)
        ),
        None,
    )
    include = body.get("include")
    logprobs = bool(body.get("logprobs")) or bool(body.get("top_logprobs"))
    if isinstance(include, list):
        logprobs = logprobs or any(isinstance(i, str) and "logprobs" in i for i in include)
    thinking = body.get("thinking")
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    reasoning_requested = (
        (isinstance(thinking, Mapping) and thinking.get("type") != "disabled")
        or (isinstance(effort, str) and effort not in ("none", "minimal"))
        or (isinstance(reasoning, Mapping) and reasoning.get("effort") not in ("none",))
        or bool(body.get("include_reasoning"))
    )
    return PromptView(
        text=text,
        message_count=count,
        tool_count=len(tools) if isinstance(tools, list) else 0,
        max_tokens=max_tokens,
        logprobs=logprobs,
        reasoning_requested=reasoning_requested,
        fingerprint=request_fingerprint(body),
    )


def read_prompt_safely(body: Mapping[str, Any] | None) -> PromptView:
    """``read_prompt`` for the audit of a failed decision: never raises."""
    try:
        return read_prompt(body)
    except Exception:
        return PromptView()
