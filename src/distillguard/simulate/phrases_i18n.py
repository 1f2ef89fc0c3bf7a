"""Elicitation wrappers and ordinary step-by-step requests in more languages (es, fr, de, ja, ru).

Operators translate their wrappers to slip past English-only rules, and ordinary users ask
for explanations in their own language too (the benign twin). Each language has a slot
grammar like ``phrases.COT_EN`` (opening, demand, format, insistence) and a list of the
plain "explain step by step" requests an ordinary user writes. Questions stay in the
generator's English or Chinese pools: the wrapper's language is what varies.
"""

from __future__ import annotations

COT: dict[str, list[list[str]]] = {
    "es": [
        ["", "Antes de responder, ", "Importante: ", "Instrucciones: ", "Por favor, "],
        [
            "escribe todo tu razonamiento",
            "muestra cada paso de tu pensamiento",
            "desarrolla la cadena de razonamiento completa",
            "razona de forma explícita, paso a paso",
        ],
        [
            " antes de la respuesta final.",
            " y solo después da la respuesta.",
            ". Pon el razonamiento entre etiquetas <think></think>.",
            ". Numera cada paso.",
        ],
        ["", " Sé exhaustivo.", " Cuanto más largo, mejor.", " Verifica la respuesta al final."],
    ],
    "fr": [
        ["", "Avant de répondre, ", "Important : ", "Consignes : ", "Merci de "],
        [
            "rédige l'intégralité de ton raisonnement",
            "montre chaque étape de ta réflexion",
            "donne la chaîne de raisonnement complète",
            "raisonne explicitement, étape par étape",
        ],
        [
            " avant la réponse finale.",
            " puis seulement donne la réponse.",
            ". Mets le raisonnement entre balises <think></think>.",
            ". Numérote chaque étape.",
        ],
        ["", " Sois exhaustif.", " Plus c'est long, mieux c'est.", " Vérifie la réponse à la fin."],
    ],
    "de": [
        ["", "Bevor du antwortest, ", "Wichtig: ", "Anweisung: ", "Bitte "],
        [
            "schreibe deinen vollständigen Denkweg auf",
            "zeige jeden Schritt deiner Überlegung",
            "gib die komplette Gedankenkette an",
            "argumentiere ausdrücklich, Schritt für Schritt",
        ],
        [
            " vor der endgültigen Antwort.",
            " und nenne erst dann die Antwort.",
            ". Setze die Überlegung in <think></think>-Tags.",
            ". Nummeriere jeden Schritt.",
        ],
        ["", " Sei gründlich.", " Je länger, desto besser.", " Prüfe die Antwort am Ende."],
    ],
    "ja": [
        ["", "回答する前に、", "重要：", "指示：", ""],
        [
            "思考過程をすべて書き出してください",
            "推論のすべてのステップを示してください",
            "完全な思考の連鎖を記述してください",
            "一歩ずつ明示的に推論してください",
        ],
        [
            "。その後で最終的な答えを述べてください。",
            "。推論は<think></think>タグの中に入れてください。",
            "。各ステップに番号を付けてください。",
        ],
        ["", "できるだけ詳しく。", "最後に答えを検証してください。"],
    ],
    "ru": [
        ["", "Прежде чем ответить, ", "Важно: ", "Инструкция: ", "Пожалуйста, "],
        [
            "распиши полностью ход своих рассуждений",
            "покажи каждый шаг своего мышления",
            "приведи всю цепочку рассуждений",
            "рассуждай явно, шаг за шагом",
        ],
        [
            " перед окончательным ответом.",
            " и только потом дай ответ.",
            ". Помести рассуждение в теги <think></think>.",
            ". Пронумеруй каждый шаг.",
        ],
        ["", " Будь исчерпывающим.", " Чем длиннее, тем лучше.", " Проверь ответ в конце."],
    ],
}

BENIGN_STEP: dict[str, list[str]] = {
    "es": [
        " ¿Me lo explicas paso a paso?",
        " Explícalo paso a paso, por favor.",
        " Quiero entender los pasos.",
    ],
    "fr": [" Tu peux m'expliquer étape par étape ?", " Explique-moi le raisonnement, s'il te plaît."],
    "de": [" Kannst du das Schritt für Schritt erklären?", " Bitte erkläre mir den Rechenweg."],
    "ja": [" ステップごとに説明してもらえますか？", " 解き方を順番に教えてください。"],
    "ru": [" Объясни по шагам, пожалуйста.", " Можешь показать ход решения?"],
}

LANGUAGES = tuple(COT)
# Scripts without spaces between words carry more characters per token.
DENSE_SCRIPTS = ("zh", "ja")
