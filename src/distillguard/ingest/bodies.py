"""Request and response bodies of the two wire APIs gateways log: OpenAI Chat Completions
and Anthropic Messages. The OpenAI request log, LiteLLM and Langfuse adapters share them.
"""

from __future__ import annotations

from typing import Any

from distillguard.ingest.normalise import (
    as_bool,
    as_float,
    as_int,
    as_text,
    content_text,
    context_text,
    dig,
    first,
    last_user_text,
    mapping,
    message_list,
    system_text,
)

# Anthropic stop reasons mapped to the OpenAI names, so finish_reason means one thing.
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def is_anthropic(request: Any, response: Any, endpoint: str | None = None) -> bool:
    if endpoint and endpoint.rstrip("/").endswith("/messages"):
        return True
    if isinstance(response, dict) and response.get("type") == "message":
        return True
    return (
        isinstance(request, dict)
        and ("system" in request or "thinking" in request)
        and ("messages" in request)
    )


def request_fields(body: Any, *, anthropic: bool) -> dict[str, Any]:
    """Canonical request columns from a Chat Completions or Messages request body."""
    if not isinstance(body, dict):
        return {}
    messages = message_list(body.get("messages"))
    system = system_text(messages)
    if anthropic and body.get("system") is not None:
        system = content_text(body["system"]) if not isinstance(body["system"], str) else body["system"]
    tools = body.get("tools")
    fields: dict[str, Any] = {
        "model_requested": as_text(body.get("model")),
        "temperature": as_float(body.get("temperature"), "request.temperature"),
        "top_p": as_float(body.get("top_p"), "request.top_p"),
        "max_tokens": as_int(first(body.get("max_completion_tokens"), body.get("max_tokens")), "max_tokens"),
        "n": as_int(body.get("n"), "request.n"),
        "seed": as_int(body.get("seed"), "request.seed"),
        "stream": as_bool(body.get("stream")),
        "logprobs": as_bool(first(body.get("logprobs"), body.get("top_logprobs"))),
        "tool_count": len(tools) if isinstance(tools, list) else 0,
        "reasoning_effort": as_text(first(body.get("reasoning_effort"), dig(body, "reasoning", "effort"))),
        "message_count": len(messages) + (1 if anthropic and system else 0),
        "prompt_text": last_user_text(messages),
        "system_text": system,
        "context_text": context_text(messages, system),
        "end_user_id": as_text(first(body.get("user"), dig(body, "metadata", "user_id"))),
    }
    thinking = body.get("thinking")
    if anthropic and isinstance(thinking, dict) and thinking.get("type") == "enabled":
        # Messages has a token budget instead of an effort level; bucket it the way
        # providers document effort levels (low <= 1k, medium <= 4k, high above).
        budget = as_int(thinking.get("budget_tokens"), "thinking.budget_tokens") or 0
        fields["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 4096 else "high"
    return fields


def response_fields(body: Any, *, anthropic: bool) -> dict[str, Any]:
    """Canonical response columns from a chat.completion or a Messages response body."""
    if not isinstance(body, dict):
        return {}
    if "error" in body and not body.get("choices") and not body.get("content"):
        return {}
    usage = mapping(body.get("usage"))
    if anthropic or body.get("type") == "message":
        stop = as_text(body.get("stop_reason"))
        return {
            "model_served": as_text(body.get("model")),
            "finish_reason": _STOP_REASONS.get(stop or "", stop),
            "response_text": content_text(body.get("content")),
            "input_tokens": as_int(usage.get("input_tokens"), "usage.input_tokens"),
            "output_tokens": as_int(usage.get("output_tokens"), "usage.output_tokens"),
            "cached_tokens": as_int(usage.get("cache_read_input_tokens"), "usage.cache_read_input_tokens"),
            "reasoning_tokens": None,
        }
    choice = mapping(dig(body, "choices", 0))
    return {
        "model_served": as_text(body.get("model")),
        "finish_reason": as_text(choice.get("finish_reason")) if isinstance(choice, dict) else None,
        "response_text": content_text(dig(choice, "message", "content")),
        "input_tokens": as_int(first(usage.get("prompt_tokens"), usage.get("input_tokens")), "prompt_tokens"),
        "output_tokens": as_int(
            first(usage.get("completion_tokens"), usage.get("output_tokens")), "completion_tokens"
        ),
        "cached_tokens": as_int(dig(usage, "prompt_tokens_details", "cached_tokens"), "cached_tokens"),
        "reasoning_tokens": as_int(
            dig(usage, "completion_tokens_details", "reasoning_tokens"), "reasoning_tokens"
        ),
    }


def merge(row: dict[str, Any], fields: dict[str, Any]) -> None:
    """Fill ``row`` with ``fields`` where the row has nothing yet."""
    for key, value in fields.items():
        if row.get(key) is None and value is not None:
            row[key] = value


def request_context_text(body: Any) -> str | None:
    """``events.context_text`` of a request body as a gateway sees it, for the live matcher.

    Chat Completions and Messages (``system`` / ``developer`` turns or Anthropic's top-level
    ``system``), and the Responses API (``instructions`` plus an ``input`` message list): the
    system prompt, then every user turn before the last. Ingest stores exactly this, so a
    request scores the same at the gateway as in the next scan.
    """
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list):
        given = body.get("input")
        messages = given if isinstance(given, list) else []
    system = system_text(messages)
    top_level = first(body.get("system"), body.get("instructions"))
    if top_level is not None:
        system = top_level if isinstance(top_level, str) else content_text(top_level)
    return context_text(messages, system)
