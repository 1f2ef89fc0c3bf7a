"""What a ``degrade`` decision withholds, as a patch on the request body.

A policy names degrade *items*; the gateway applies them by rewriting the API
request before it reaches the model. Items are deliberately few and
vendor-neutral:

========================  ==========================================================
item                      effect on an OpenAI-compatible (or Anthropic-style) body
========================  ==========================================================
``reasoning``             full reasoning is withheld; at most a summary comes back:
                          ``include`` loses its ``reasoning.*`` entries (encrypted
                          reasoning), a responses-API ``reasoning.summary`` of
                          ``detailed`` becomes ``auto``, ``reasoning.exclude`` (where
                          the request has it) becomes true, ``include_reasoning``
                          becomes false, an Anthropic-style ``thinking`` is removed
``logprobs``              ``logprobs`` and ``top_logprobs`` are removed, as is the
                          ``message.output_text.logprobs`` include entry
``max_tokens:N``          every output-length field the request has (``max_tokens``,
                          ``max_completion_tokens``, ``max_output_tokens``) is capped
                          at N; a request without one gets one (the model's default
                          may be far higher); a ``thinking`` budget is kept below it
``n:K`` (``n`` = ``n:1``)  ``n`` and ``best_of`` are capped at K
``reasoning_effort:L``    ``reasoning_effort`` / ``reasoning.effort`` are capped at L
                          (none < minimal < low < medium < high)
========================  ==========================================================

Only fields the request has are touched, except the output cap that ``max_tokens``
requires. Several rows' items merge: the tightest cap wins.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

DEGRADE_ITEM_NAMES: tuple[str, ...] = ("reasoning", "logprobs", "max_tokens", "n", "reasoning_effort")
EFFORT_LEVELS: tuple[str, ...] = ("none", "minimal", "low", "medium", "high")
_EFFORT_RANK = {level: i for i, level in enumerate(EFFORT_LEVELS)}
_OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
# Anthropic refuses a thinking budget under 1024 tokens or not below max_tokens.
_MIN_THINKING_BUDGET = 1024


def parse_item(item: str) -> tuple[str, int | str | None]:
    """``"max_tokens:1024"`` -> ``("max_tokens", 1024)``; raises ValueError naming what is wrong."""
    if not isinstance(item, str) or not item.strip():
        raise ValueError(f"degrade item must be a non-empty string, not {item!r}")
    name, sep, raw = item.strip().partition(":")
    name, raw = name.strip(), raw.strip()
    if name not in DEGRADE_ITEM_NAMES:
        close = difflib.get_close_matches(name, DEGRADE_ITEM_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown degrade item {name!r}{hint} (one of {', '.join(DEGRADE_ITEM_NAMES)})")
    if name in ("reasoning", "logprobs"):
        if sep:
            raise ValueError(f"degrade item {name!r} takes no value (got {item!r})")
        return name, None
    if name == "reasoning_effort":
        if raw not in _EFFORT_RANK:
            raise ValueError(
                f"degrade item 'reasoning_effort' needs a level ({', '.join(EFFORT_LEVELS)}), got {raw!r}"
            )
        return name, raw
    if name == "n" and not sep:
        return name, 1
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"degrade item {name!r} needs a whole number, as in '{name}:1024'; got {item!r}"
        ) from None
    if value < 1:
        raise ValueError(f"degrade item {name!r} needs a number of at least 1, got {value}")
    return name, value


def _wanted(items: Sequence[str]) -> dict[str, int | str | None]:
    """Merged items: presence flags, and the tightest of each cap."""
    wanted: dict[str, int | str | None] = {}
    for item in items:
        name, value = parse_item(item)
        if name not in wanted:
            wanted[name] = value
        elif name == "reasoning_effort":
            current = wanted[name]
            assert isinstance(value, str) and isinstance(current, str)
            wanted[name] = min(current, value, key=_EFFORT_RANK.__getitem__)
        elif isinstance(value, int):
            current = wanted[name]
            assert isinstance(current, int)
            wanted[name] = min(current, value)
    return wanted


def _is_responses_api(request: Mapping[str, Any]) -> bool:
    return "input" in request and "messages" not in request and "prompt" not in request


def degrade_patch(items: Sequence[str], request: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"set": {...}, "remove": [...]}`` that withholds ``items`` from ``request``.

    With no request body (a header-only gateway check) the patch is what a chat
    completions body would need. Unknown items raise ValueError (policies are
    validated when loaded, so this means a caller passed its own list).
    """
    wanted = _wanted(items)
    body: Mapping[str, Any] = request or {}
    updates: dict[str, Any] = {}
    removals: list[str] = []

    def remove(field: str) -> None:
        updates.pop(field, None)
        if field in body and field not in removals:
            removals.append(field)

    def current(field: str) -> Any:
        return updates[field] if field in updates else body.get(field)

    if "logprobs" in wanted:
        remove("logprobs")
        remove("top_logprobs")
    include = body.get("include")
    if isinstance(include, list) and ("logprobs" in wanted or "reasoning" in wanted):
        kept = [
            entry
            for entry in include
            if not (
                isinstance(entry, str)
                and (
                    ("reasoning" in wanted and entry.startswith("reasoning."))
                    or ("logprobs" in wanted and entry.endswith(".logprobs"))
                )
            )
        ]
        if len(kept) != len(include):
            if kept:
                updates["include"] = kept
            else:
                remove("include")

    reasoning = body.get("reasoning")
    new_reasoning: dict[str, Any] | None = (
        dict(copy.deepcopy(reasoning)) if isinstance(reasoning, Mapping) else None
    )
    if "reasoning" in wanted:
        if new_reasoning is not None:
            if new_reasoning.get("summary") == "detailed":
                new_reasoning["summary"] = "auto"
            if "exclude" in new_reasoning:
                new_reasoning["exclude"] = True
        if "include_reasoning" in body:
            updates["include_reasoning"] = False
        if "thinking" in body:
            remove("thinking")

    effort_cap = wanted.get("reasoning_effort")
    if isinstance(effort_cap, str):
        effort = body.get("reasoning_effort")
        if (
            isinstance(effort, str)
            and _EFFORT_RANK.get(effort, len(EFFORT_LEVELS)) > _EFFORT_RANK[effort_cap]
        ):
            updates["reasoning_effort"] = effort_cap
        nested = new_reasoning.get("effort") if new_reasoning is not None else None
        if (
            new_reasoning is not None
            and isinstance(nested, str)
            and _EFFORT_RANK.get(nested, len(EFFORT_LEVELS)) > _EFFORT_RANK[effort_cap]
        ):
            new_reasoning["effort"] = effort_cap
    if new_reasoning is not None and new_reasoning != reasoning:
        updates["reasoning"] = new_reasoning

    cap = wanted.get("max_tokens")
    if isinstance(cap, int):
        present = [field for field in _OUTPUT_CAPS if field in body]
        for field in present:
            value = body.get(field)
            if not isinstance(value, int) or isinstance(value, bool) or value > cap:
                updates[field] = cap
        if not present:
            updates["max_output_tokens" if _is_responses_api(body) else "max_tokens"] = cap
        thinking = current("thinking") if "thinking" not in removals else None
        thinking_budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
        if isinstance(thinking, Mapping) and isinstance(thinking_budget, int) and thinking_budget >= cap:
            budget = max(_MIN_THINKING_BUDGET, cap // 2)
            if budget < cap:
                updates["thinking"] = {**thinking, "budget_tokens": budget}
            else:
                remove("thinking")

    n_cap = wanted.get("n")
    if isinstance(n_cap, int):
        for field in ("n", "best_of"):
            value = body.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value > n_cap:
                updates[field] = n_cap

    return {"set": updates, "remove": removals}


def apply_patch(request: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a ``degrade_patch`` result to ``request`` in place and return it.

    In place because gateway hooks (LiteLLM's ``data``) must hand on the same
    object they were given.
    """
    for field in patch.get("remove") or ():
        request.pop(field, None)
    for field, value in (patch.get("set") or {}).items():
        request[field] = copy.deepcopy(value)
    return request
