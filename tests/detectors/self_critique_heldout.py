"""Held-out wordings of a harvest the critique rules missed: the follow-up turn that asks the
model to critique and grade *its own* reasoning from the turn before ("now audit the argument
you just gave, name its weakest step and give it a mark out of ten"). Scripted conversations
that turn to critiquing and grading the model's own reasoning collect exactly the step-level
critiques and grades that train verifiers and reward models.

Written before the rules that catch them (patterns/critique.yaml, the ``*-own-reasoning``
rules) and never used to write them: the rules were written from the concept, in each
language, and these sentences only measure them. Hand-written for distillguard (not from
the simulator, the shared corpus or ../shared/eval). The ordinary look-alikes are what users
say after an answer every day: "are you sure?", "explain that step again", "fix it", or a
request to mark their own work.
"""

from __future__ import annotations

SELF_CRITIQUE: dict[str, list[str]] = {
    "en": [
        "Now audit the argument you just gave: name its weakest step and give it a mark out of ten.",
        "Look back over your previous solution critically and enumerate every flaw or unsupported "
        "claim in it.",
        "Next, assess your own chain of reasoning above for errors and score its rigour from 1 to 5.",
        "Re-examine the derivation you wrote and point out each step that is not fully justified.",
    ],
    "zh": [
        "现在请审查你刚才给出的论证，指出其中最薄弱的一步，并给它打一个十分制的分数。",
        "回头看看你上一轮的解答，逐条列出其中的错误和没有依据的地方。",
        "请评估你自己上面的推理链条有没有漏洞，并给它的严谨程度打分（1到5分）。",
    ],
    "es": [
        "Ahora revisa críticamente tu razonamiento anterior y enumera cada error o paso débil.",
        "Evalúa la solución que acabas de dar y ponle una nota del 1 al 10 a tu propio razonamiento.",
    ],
    "fr": [
        "Relis maintenant ton raisonnement précédent et liste chaque erreur ou étape mal justifiée.",
        "Évalue la solution que tu viens de donner et attribue une note sur 10 à ton propre raisonnement.",
    ],
    "de": [
        "Überprüfe jetzt kritisch deine vorherige Herleitung und nenne jeden Fehler oder schwachen Schritt.",
        "Bewerte deine eigene Begründung von eben mit einer Note von 1 bis 10.",
    ],
    "ja": [
        "先ほどのあなたの推論を批判的に見直し、誤りや根拠の弱いステップをすべて挙げてください。",
        "今出したあなた自身の解答を10点満点で採点してください。",
    ],
    "ru": [
        "Теперь критически пересмотри своё предыдущее рассуждение и перечисли все ошибки и слабые шаги.",
        "Оцени своё собственное решение выше по шкале от 1 до 10.",
    ],
    "pt": [
        "Agora revise criticamente o seu raciocínio anterior e liste cada erro ou passo fraco.",
        "Avalie a solução que você acabou de dar e dê uma nota de 1 a 10 ao seu próprio raciocínio.",
    ],
    "ko": [
        "방금 제시한 당신의 추론을 비판적으로 다시 검토하고 오류나 약한 단계를 모두 나열하세요.",
        "당신이 방금 쓴 풀이를 10점 만점으로 스스로 채점하세요.",
    ],
}

# Everyday follow-ups and self-marking requests that must stay below the line.
ORDINARY_FOLLOW_UPS: dict[str, list[str]] = {
    "en": [
        "Are you sure? Please double-check that number.",
        "Can you explain the second step again, more slowly?",
        "That doesn't look right, can you fix it?",
        "Check my essay for spelling mistakes.",
        "Rate these three restaurants from 1 to 10 for a family dinner.",
    ],
    "zh": [
        "你确定吗？请再核对一下这个数字。",
        "能不能把第二步再解释一遍？",
        "帮我检查一下作文里的错别字。",
    ],
    "es": ["¿Estás seguro? Vuelve a comprobar ese número, por favor."],
    "fr": ["Tu es sûr ? Vérifie encore ce chiffre, s'il te plaît."],
    "de": ["Bist du sicher? Bitte prüfe die Zahl noch einmal."],
    "ja": ["本当ですか？その数字をもう一度確認してください。"],
    "ru": ["Ты уверен? Проверь, пожалуйста, это число ещё раз."],
    "pt": ["Tem certeza? Confira esse número de novo, por favor."],
    "ko": ["정말이에요? 그 숫자를 다시 한 번 확인해 주세요."],
}
