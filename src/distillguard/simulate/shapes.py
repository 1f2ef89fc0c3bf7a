"""Requests of the newer campaign shapes: self-critique conversations and resold end users.

Kept apart from ``exchange`` so the original request builders (and the presets' bytes)
stay as they were; ``ExchangeBuilder`` calls in here only when a scenario asks for a
shape. The wordings are the simulator's own (slot grammars like ``phrases``): the
``house`` choice of a campaign, or with probability ``paraphrase`` a fresh one.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from distillguard.simulate import prompts as T
from distillguard.simulate.scenario import CampaignConfig

if TYPE_CHECKING:  # the builder imports this module; the type is only for annotations
    from distillguard.simulate.exchange import ExchangeBuilder, Request

# A scripted conversation: the model answers, then the script asks it to look back at its own
# reasoning, find the weak steps and grade them (self-critique traces train reward and critic models).
CRITIQUE_EN = [
    ["", "Now ", "Next, ", "OK. ", "Good. Now "],
    [
        "go back over your reasoning above",
        "review each step you just wrote",
        "re-read your previous answer step by step",
        "look critically at the derivation you gave",
    ],
    [
        " and point out every weak or unjustified step",
        ", list the mistakes or gaps you can find",
        " and say which steps a careful grader would question",
        ", criticising it as a strict reviewer would",
    ],
    [
        ". Then grade it from 1 to 10 with a one-line justification.",
        ". Finally give it a score out of 10 and explain the score.",
        ". End with a grade (A-F) for the reasoning and for the final answer.",
        ". Rate its correctness and its clarity from 1 to 5 each.",
    ],
]
CRITIQUE_REVISE_EN = [
    "Now rewrite the solution fixing the problems you found, showing every step.",
    "Produce an improved version of the reasoning, then grade the new version the same way.",
    "Given your critique, write the corrected full reasoning and the final answer.",
]
CRITIQUE_ZH = [
    ["", "现在", "接下来，"],
    ["请回顾你上面的推理过程", "请逐步检查你刚才的回答", "请批判性地审视你的推导"],
    ["，指出每一个薄弱或不严谨的步骤", "，列出你发现的错误或漏洞"],
    ["，然后按1到10分打分并说明理由。", "，最后给推理和最终答案分别评分。"],
]
# When the operator puts the elicitation in the system prompt, the user turns look ordinary.
CRITIQUE_SYSTEM_EN = [
    "You are a meticulous tutor. Always show your complete reasoning, and whenever the user asks "
    "for a review, critique every step of your own earlier reasoning and grade it on a 1-10 scale.",
    "Think step by step and write out all intermediate reasoning. When asked to review, act as a "
    "strict grader of your previous answer: list each flaw, then give a numeric score.",
    "You produce training-quality solutions: full chain of reasoning, then, on request, a self-"
    "assessment with a grade and the corrected reasoning.",
]
CRITIQUE_SYSTEM_ZH = [
    "你是一位严谨的导师。请始终写出完整的推理过程；当用户要求复查时，逐步批评你之前的推理并按1到10分打分。"
]
PLAIN_FOLLOWUPS_EN = ["Can you check that again?", "Are you sure?", "Review it please.", "Grade that."]
PLAIN_FOLLOWUPS_ZH = ["再检查一遍？", "你确定吗？", "请复查。"]


def self_critique(
    b: ExchangeBuilder, r: random.Random, lang: str, cfg: CampaignConfig, h: list[int]
) -> Request:
    """Question, the model's reasoned answer, then one or two turns asking it to critique and grade it."""
    from distillguard.simulate.exchange import REASONING_CATEGORIES, Request

    p = cfg.paraphrase
    base = b.factory.base(r, r.choice(REASONING_CATEGORIES), lang)
    zh = lang == "zh"
    in_system = r.random() < cfg.system_elicitation_share
    system: str | None = None
    if in_system:
        pool = CRITIQUE_SYSTEM_ZH if zh else CRITIQUE_SYSTEM_EN
        system = pool[r.randrange(len(pool))] if r.random() < p else pool[h[1] % len(pool)]
    opening = base.text if in_system else base.text + b.step_suffix(r, lang, p, h)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": opening},
        {"role": "assistant", "content": T.response_text(r, "cot", lang, 600, base.answer)},
    ]
    if in_system:
        follow_pool = PLAIN_FOLLOWUPS_ZH if zh else PLAIN_FOLLOWUPS_EN
        critique = follow_pool[r.randrange(len(follow_pool))]
    else:
        critique = T.grammar(r, CRITIQUE_ZH if zh else CRITIQUE_EN, h[2:], p)
    messages.append({"role": "user", "content": critique})
    if not zh and r.random() < 0.4:  # some scripts go one round further: revise, then re-grade
        messages.append({"role": "assistant", "content": T.response_text(r, "rubric", lang, 400, None)})
        messages.append({"role": "user", "content": r.choice(CRITIQUE_REVISE_EN)})
    return Request(system, messages, response_kind="rubric", answer=base.answer, lang=lang)


def resold_end_user(account_id: str, slot: int, *, extraction: bool) -> str:
    """A reseller's end-user id: stable per (account, slot); extraction users have their own slots."""
    from distillguard.simulate.exchange import digest

    return "eu_" + digest(account_id, "x" if extraction else "u", slot)
