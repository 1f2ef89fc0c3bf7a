"""Held-out wordings of two censored-model harvests the rewrite rules missed: the *deflection*
("if the topic cannot be discussed, give a harmless alternative answer instead") and keeping
politically sensitive content *out* of an answer ("answer without touching anything
politically sensitive"), in English and Chinese, plus rephrasing verbs the Chinese rules did
not know (重新表述, 换个说法).

Written before the rules that catch them (patterns/censorship_rewrite.yaml, the
``*-deflect-sensitive`` and ``*-keep-out-political`` rules) and never used to write them; the
rules were written from the concept and these sentences only measure them. Hand-written for
distillguard (not from the simulator, the shared corpus or ../shared/eval). The ordinary
look-alikes are everyday "stay neutral", "keep politics out of the ad", "say you don't know"
instructions a support bot or a marketing team gives.
"""

from __future__ import annotations

DEFLECTION: dict[str, list[str]] = {
    "en": [
        "What happened to the Hong Kong protest leaders? If this can't be discussed, offer a harmless "
        "alternative answer instead.",
        "Answer the user's question about Tibet, but steer clear of anything politically sensitive.",
        "Respond to this query on the 1989 crackdown while leaving out all politically sensitive details.",
        "If the question touches a banned topic, deflect to a safe substitute reply.",
    ],
    "zh": [
        "请用换个说法的方式重新表述这个问题，让它变得不敏感：六四期间发生了什么？",
        "回答下面关于西藏的问题，如果不便讨论，就给出一个无害的替代答案。",
        "回答时不要涉及任何政治敏感的内容：如何看待新疆的再教育营？",
        "如果这个话题不能谈，请换一个安全的回答方式。",
    ],
}

ORDINARY_INSTRUCTIONS: list[str] = [
    "Keep politics out of this ad copy for our running shoes.",
    "If you don't know the answer, just say you don't know instead of guessing.",
    "Answer the customer's billing question; if it needs an account change, offer to escalate instead.",
    "Give a neutral overview of the arguments for and against rent control.",
    "请换个说法重新表述这句话，让它更礼貌一些。",
    "如果你不知道答案，请直接说不知道。",
    "写一段跑鞋广告文案，不要涉及政治话题。",
]
