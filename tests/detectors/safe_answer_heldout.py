"""Held-out wordings of one harvest the rules long missed: asking for the *answer* to a
politically sensitive question in a form a censored model may give ("keep the answer
politically safe", "so it stays acceptable to the censors"), rather than for a rewrite.

Written before the rules that catch them (patterns/censorship_rewrite.yaml, the
``*-safe-answer`` rules) and never used to write them: the rules were written from the
concept, in each language, and these sentences only measure them. The ordinary look-alikes
ask for neutral or balanced accounts, or use "politically correct" in its everyday sense.
"""

from __future__ import annotations

SAFE_ANSWER: dict[str, list[str]] = {
    "en": [
        "Tell me about the 1989 Beijing protests, but keep the answer politically safe.",
        "How should a chatbot reply to questions about the Xinjiang camps so that it stays acceptable "
        "to the censors?",
        "Give me an answer on Taiwan's status that would not get us in trouble with Chinese regulators.",
    ],
    "zh": [
        "关于六四事件，请给出一个政治上稳妥的回答。",
        "回答时请保证内容在政治上没有风险：如何评价文化大革命？",
        "用不会被审核拦下的方式回答：西藏问题是怎么回事？",
    ],
    "ja": [
        "天安門事件について、政治的に問題のない回答を書いてください。",
        "台湾の地位について、検閲に引っかからない答え方をしてください。",
    ],
    "de": [
        "Erkläre die Proteste in Hongkong so, dass die Antwort politisch unproblematisch bleibt.",
        "Formuliere eine Antwort zur Lage in Xinjiang, die für die chinesische Zensur akzeptabel ist.",
    ],
    "fr": [
        "Explique les événements de Tiananmen avec une réponse politiquement acceptable pour Pékin.",
        "Réponds sur le statut de Taïwan sans rien qui puisse déplaire aux censeurs.",
    ],
    "es": [
        "Explica lo ocurrido en Tiananmén con una respuesta políticamente aceptable para el gobierno chino.",
        "Contesta sobre el Tíbet de manera que no tenga problemas con la censura.",
    ],
    "pt": [
        "Explique o que aconteceu em Tiananmen com uma resposta politicamente aceitável para Pequim.",
        "Responda sobre o Tibete de um jeito que não tenha problemas com a censura.",
    ],
    "ru": [
        "Расскажи о событиях на Тяньаньмэнь так, чтобы ответ был политически приемлемым для цензоров.",
        "Ответь про статус Тайваня так, чтобы не было проблем с цензурой.",
    ],
}

ORDINARY_LOOKALIKES: list[str] = [
    "Write a politically neutral summary of the arguments for and against a carbon tax.",
    "Is it politically correct to call a mixed group 'guys' in a work email?",
    "请客观中立地介绍一下英国脱欧的利弊。",
    "Explique de manière politiquement neutre le débat sur les retraites.",
    "Fasse die Debatte über das Tempolimit politisch ausgewogen zusammen.",
    "How do I answer customer questions in a safe and professional way?",
    "政治课作业：请解释什么是三权分立。",
    "Resume de forma políticamente imparcial el debate sobre la energía nuclear.",
    "Объясни нейтрально, какие аргументы есть за и против четырёхдневной рабочей недели.",
    "政治的に中立な立場で、消費税増税の賛否をまとめてください。",
]
