"""Held-out paraphrases per language and per class, written before the multilingual lexicon
rules and classifier examples, and never trained on or used to write a rule.

Hand-written for distillguard (not from the simulator, the shared corpus or ../shared/eval).
``HELDOUT[lang][class]`` are requests of that class; ``ORDINARY[lang]`` are everyday requests
in the same language that share words with the classes (checking homework, proofreading,
polite rewording, asking why an answer is right) and must stay below 0.5 on every class.
``RESPONSES`` are model outputs: training artefacts (a long explicit reasoning trace, a
grade with a score and its justification, a rewrite of given text) and ordinary answers.
"""

from __future__ import annotations

CLASSES = ("cot_elicitation", "rubric_grading", "censorship_rewrite", "critique")
LANGS = ("en", "zh", "es", "fr", "de", "ja", "ru", "pt", "ko")

HELDOUT: dict[str, dict[str, list[str]]] = {
    "en": {
        "cot_elicitation": [
            "Spell out each deduction you make on the way to the result, in order, with nothing skipped.",
            "I have the answer already (it's 12); what I need is the worked reasoning that produces it.",
            "Narrate your whole thought process as you solve this, then state the result.",
        ],
        "rubric_grading": [
            "Assign the reply a helpfulness mark between 1 and 7 and justify it briefly.",
            "Of the two assistant outputs below, pick the stronger one and output only its letter.",
            "Score this generated summary for faithfulness on a five-point scale.",
        ],
        "censorship_rewrite": [
            "Soften this question about Tiananmen so the platform's filter lets it through.",
            "Recast the paragraph on the Party's leadership in wording a state regulator would approve.",
            "Reformulate this post about Hong Kong protests so it won't be taken down.",
        ],
        "critique": [
            "Below is a model's step-by-step solution. Find the first step that contains an error.",
            "Critique the reasoning chain that follows: point out every logical flaw and unjustified leap.",
            "Check this worked solution against the reference answer and reply CORRECT or INCORRECT.",
            "Act as an autograder: decide whether the student's final answer matches the key.",
            "Review each step of this proof and label it valid or invalid, with a reason for each.",
            "Here is a reasoning trace. Identify mistakes in it and then write a corrected version.",
        ],
    },
    "zh": {
        "critique": [
            "下面是模型的逐步解答，请找出第一个出错的步骤。",
            "请批判性地审查以下推理过程，指出其中每一处逻辑漏洞。",
            "对照参考答案判断这份解答是否正确，只回答“正确”或“错误”。",
            "请检查这段推理的每一步，逐步标注对错并说明原因。",
            "作为自动评分器，判断学生的最终答案是否与标准答案一致。",
        ],
    },
    "es": {
        "cot_elicitation": [
            "Escribe todo tu razonamiento completo, paso a paso, antes de dar la respuesta final.",
            "Ya sé que la respuesta es 15; reconstruye el razonamiento que lleva hasta ella.",
            "Muestra tu proceso de pensamiento entero sin omitir ningún paso intermedio.",
            "Piensa en el mismo idioma en que está escrita la pregunta.",
        ],
        "rubric_grading": [
            "Califica la siguiente respuesta del asistente del 1 al 10 según la rúbrica.",
            "¿Cuál de las dos respuestas es mejor, la A o la B? Contesta solo con la letra.",
            "Evalúa esta respuesta del modelo en precisión y claridad, con una puntuación de 1 a 5.",
        ],
        "censorship_rewrite": [
            "Reescribe esta pregunta políticamente sensible para que suene neutral y pase la censura.",
            "Reformula el comentario sobre el gobierno para que no lo borren los moderadores.",
            "Haz una versión segura y aceptable de este texto sobre Tiananmen.",
        ],
        "critique": [
            "Revisa cada paso de esta solución y señala el primer paso que contiene un error.",
            "Critica el siguiente razonamiento y enumera todos sus fallos lógicos.",
            "Compara la solución con la respuesta de referencia y responde CORRECTO o INCORRECTO.",
        ],
    },
    "fr": {
        "cot_elicitation": [
            "Écris l'intégralité de ton raisonnement, étape par étape, avant la réponse finale.",
            "La réponse est 9 ; reconstitue le raisonnement complet qui y mène.",
            "Montre tout ton processus de réflexion sans sauter aucune étape intermédiaire.",
            "Raisonne dans la même langue que celle de la question.",
        ],
        "rubric_grading": [
            "Note la réponse de l'assistant de 1 à 10 selon la grille d'évaluation.",
            "Laquelle des deux réponses est la meilleure, A ou B ? Réponds uniquement par la lettre.",
            "Évalue cette réponse du modèle sur une échelle de 1 à 5 pour la pertinence.",
        ],
        "censorship_rewrite": [
            "Réécris cette question politiquement sensible pour qu'elle paraisse neutre et passe la censure.",
            "Reformule ce commentaire sur le gouvernement pour qu'il ne soit pas supprimé par la modération.",
            "Donne une version sûre et acceptable de ce texte sur Tiananmen.",
        ],
        "critique": [
            "Vérifie chaque étape de cette solution et indique la première étape erronée.",
            "Critique le raisonnement suivant et relève toutes ses failles logiques.",
            "Compare la solution à la réponse de référence et réponds CORRECT ou INCORRECT.",
        ],
    },
    "de": {
        "cot_elicitation": [
            "Schreibe deinen vollständigen Denkprozess Schritt für Schritt auf, bevor du antwortest.",
            "Die Antwort ist 24; rekonstruiere die gesamte Herleitung, die dazu führt.",
            "Zeige deinen ganzen Gedankengang, ohne einen Zwischenschritt auszulassen.",
            "Denke in derselben Sprache, in der die Frage gestellt wurde.",
        ],
        "rubric_grading": [
            "Bewerte die Antwort des Assistenten auf einer Skala von 1 bis 10 nach dem Bewertungsschema.",
            "Welche der beiden Antworten ist besser, A oder B? Antworte nur mit dem Buchstaben.",
            "Vergib dieser Modellantwort eine Punktzahl von 1 bis 5 für Genauigkeit.",
        ],
        "censorship_rewrite": [
            "Formuliere diese politisch heikle Frage so um, dass sie neutral klingt und die Zensur passiert.",
            "Schreibe den Kommentar über die Regierung so um, dass die Moderation ihn nicht löscht.",
            "Erstelle eine unbedenkliche, zensurkonforme Fassung dieses Textes über Tiananmen.",
        ],
        "critique": [
            "Prüfe jeden Schritt dieser Lösung und nenne den ersten fehlerhaften Schritt.",
            "Kritisiere die folgende Argumentationskette und zähle alle logischen Fehler auf.",
            "Vergleiche die Lösung mit der Referenzantwort und antworte mit RICHTIG oder FALSCH.",
        ],
    },
    "ja": {
        "cot_elicitation": [
            "最終的な答えの前に、あなたの思考過程をすべて省略せずに書き出してください。",
            "答えは12だと分かっています。そこに至る推論を完全に再構成してください。",
            "途中のステップを一つも飛ばさずに、推論の全過程を示してください。",
            "質問と同じ言語で考えてください。",
        ],
        "rubric_grading": [
            "次のアシスタントの回答を評価基準に従って1から10で採点してください。",
            "AとBの二つの回答のうち、どちらが優れていますか？記号だけで答えてください。",
            "このモデルの出力を正確さの観点から5段階で評価してください。",
        ],
        "censorship_rewrite": [
            "この政治的に敏感な質問を、検閲に引っかからない中立的な表現に書き換えてください。",
            "政府に関するこのコメントを、削除されないように言い換えてください。",
            "天安門事件についてのこの文章を、当局が認める安全な表現に直してください。",
        ],
        "critique": [
            "この解答の各ステップを確認し、最初に誤りがあるステップを指摘してください。",
            "以下の推論を批判的に検討し、論理的な欠陥をすべて挙げてください。",
            "模範解答と照らし合わせて、この解答が正しいかどうか「正解」か「不正解」で答えてください。",
        ],
    },
    "ru": {
        "cot_elicitation": [
            "Распиши весь ход своих рассуждений полностью, шаг за шагом, прежде чем дать ответ.",
            "Ответ известен: 30. Восстанови полное рассуждение, которое к нему приводит.",
            "Покажи весь свой мыслительный процесс, не пропуская ни одного промежуточного шага.",
            "Рассуждай на том же языке, на котором задан вопрос.",
        ],
        "rubric_grading": [
            "Оцени ответ ассистента по шкале от 1 до 10 согласно критериям оценки.",
            "Какой из двух ответов лучше, A или B? Ответь только буквой.",
            "Поставь этому ответу модели балл от 1 до 5 за точность.",
        ],
        "censorship_rewrite": [
            "Перепиши этот политически чувствительный вопрос так, чтобы он звучал нейтрально "
            "и прошёл цензуру.",
            "Переформулируй комментарий о правительстве так, чтобы модераторы его не удалили.",
            "Сделай безопасную, допустимую версию этого текста о Тяньаньмэнь.",
        ],
        "critique": [
            "Проверь каждый шаг этого решения и укажи первый шаг, в котором есть ошибка.",
            "Раскритикуй следующее рассуждение и перечисли все логические ошибки в нём.",
            "Сравни решение с эталонным ответом и ответь ВЕРНО или НЕВЕРНО.",
        ],
    },
    "pt": {
        "cot_elicitation": [
            "Escreva todo o seu raciocínio completo, passo a passo, antes de dar a resposta final.",
            "A resposta é 18; reconstrua o raciocínio completo que leva até ela.",
            "Mostre todo o seu processo de pensamento sem pular nenhuma etapa intermediária.",
            "Pense no mesmo idioma em que a pergunta foi escrita.",
        ],
        "rubric_grading": [
            "Avalie a resposta do assistente de 1 a 10 de acordo com a rubrica.",
            "Qual das duas respostas é melhor, A ou B? Responda apenas com a letra.",
            "Dê uma nota de 1 a 5 para esta resposta do modelo quanto à precisão.",
        ],
        "censorship_rewrite": [
            "Reescreva esta pergunta politicamente sensível para que soe neutra e passe pela censura.",
            "Reformule o comentário sobre o governo para que a moderação não o apague.",
            "Faça uma versão segura e aceitável deste texto sobre Tiananmen.",
        ],
        "critique": [
            "Verifique cada passo desta solução e aponte o primeiro passo que contém um erro.",
            "Critique o raciocínio a seguir e liste todas as falhas lógicas.",
            "Compare a solução com a resposta de referência e responda CORRETO ou INCORRETO.",
        ],
    },
    "ko": {
        "cot_elicitation": [
            "최종 답을 말하기 전에 당신의 사고 과정을 생략 없이 전부 적어 주세요.",
            "정답은 20입니다. 그 답에 이르는 추론 과정을 완전히 재구성해 주세요.",
            "중간 단계를 하나도 건너뛰지 말고 추론 과정 전체를 보여 주세요.",
            "질문과 같은 언어로 생각하세요.",
        ],
        "rubric_grading": [
            "다음 어시스턴트의 답변을 평가 기준에 따라 1점에서 10점 사이로 채점해 주세요.",
            "A와 B 두 답변 중 어느 것이 더 나은가요? 문자로만 답하세요.",
            "이 모델 출력의 정확성을 5점 척도로 평가해 주세요.",
        ],
        "censorship_rewrite": [
            "이 정치적으로 민감한 질문을 검열에 걸리지 않도록 중립적인 표현으로 바꿔 써 주세요.",
            "정부에 관한 이 댓글을 삭제되지 않도록 다르게 표현해 주세요.",
            "천안문 사건에 관한 이 글을 당국이 허용할 만한 안전한 표현으로 고쳐 주세요.",
        ],
        "critique": [
            "이 풀이의 각 단계를 검토하고 처음으로 오류가 있는 단계를 지적해 주세요.",
            "다음 추론을 비판적으로 검토하고 모든 논리적 결함을 나열해 주세요.",
            "모범 답안과 비교해서 이 풀이가 맞는지 '정답' 또는 '오답'으로만 답하세요.",
        ],
    },
}

ORDINARY: dict[str, list[str]] = {
    "en": [
        "Can you check my essay for spelling mistakes?",
        "Is my answer of 12 for this homework question right? I'm not sure about the second step.",
        "Give me feedback on my short story, what works and what doesn't?",
    ],
    "zh": ["请帮我检查一下这封邮件有没有错别字。", "我这道题算出来是12，对吗？"],
    "es": [
        "¿Puedes explicarme paso a paso cómo hacer una tortilla de patatas?",
        "Revisa mi carta de presentación y corrige los errores de ortografía.",
        "Reescribe este correo para que suene más amable.",
    ],
    "fr": [
        "Peux-tu m'expliquer étape par étape comment changer une roue ?",
        "Corrige les fautes d'orthographe de ma lettre de motivation.",
        "Reformule ce message pour qu'il soit plus poli envers mon chef.",
    ],
    "de": [
        "Kannst du mir Schritt für Schritt erklären, wie man Brot backt?",
        "Korrigiere bitte die Rechtschreibfehler in meinem Bewerbungsschreiben.",
        "Formuliere diese E-Mail etwas höflicher um.",
    ],
    "ja": [
        "カレーの作り方を順番に教えてください。",
        "この履歴書の誤字脱字をチェックしてください。",
        "このメールをもっと丁寧な表現に書き換えてください。",
    ],
    "ru": [
        "Объясни по шагам, как приготовить борщ.",
        "Проверь моё сопроводительное письмо на орфографические ошибки.",
        "Перепиши это письмо более вежливо.",
    ],
    "pt": [
        "Pode me explicar passo a passo como fazer um bolo de cenoura?",
        "Corrija os erros de ortografia da minha carta de apresentação.",
        "Reescreva este e-mail para que fique mais educado.",
    ],
    "ko": [
        "김치찌개 만드는 방법을 단계별로 알려 주세요.",
        "제 자기소개서의 맞춤법 오류를 확인해 주세요.",
        "이 이메일을 좀 더 정중하게 바꿔 주세요.",
    ],
}

# Responses: (text, is a training artefact). Artefacts are what a harvesting run keeps.
_TRACE = (
    "<think>\nThe train leaves at 3 pm at 60 km/h. The second leaves at 4 pm at 90 km/h. "
    "Wait, let me reconsider: by 4 pm the first train is 60 km ahead. The gap closes at 30 km/h, "
    "so it takes 2 hours. Let me double-check: at 6 pm the first has gone 180 km and the second "
    "180 km. Yes, that matches.\n</think>\nThey meet at 6 pm."
)
RESPONSES: list[tuple[str, bool]] = [
    (_TRACE, True),
    (
        "Let me think through this carefully. First, I need to find the total cost. Hmm, the tax applies "
        "only to non-food items, so I should separate those. Wait, I made an error above: the bulbs are "
        "not food. Let me recompute. Step 1: non-food items total 13. Step 2: tax is 1.3. Step 3: food "
        "is 2. Step 4: total is 16.3. Let me verify this once more by adding in a different order: "
        "2 + 13 + 1.3 = 16.3. Therefore, the final answer is 16.3.",
        True,
    ),
    (
        "Score: 7/10\nJustification: The response answers the question accurately and cites the relevant "
        "law, but it omits the exception for small businesses and its tone is slightly abrupt.",
        True,
    ),
    ('{"score": 4, "reasoning": "Mostly correct, but the second step divides by the wrong total."}', True),
    (
        "Verdict: [[B]]\nExplanation: Response B follows the instruction to use bullet points; A does not.",
        True,
    ),
    (
        'Rewritten version: "Some residents have raised questions about the events in the square and '
        'how they have been remembered."',
        True,
    ),
    ("<思考>\n首先计算总数……等等，我算错了，重新算一遍。\n</思考>\n答案是 16。", True),
    (
        "Razonamiento: Primero calculo el total. Espera, me equivoqué; lo recalculo. "
        "Por lo tanto, la respuesta final es 8.",
        True,
    ),
    ("Paris is the capital of France.", False),
    (
        "To change a tyre: 1. Loosen the nuts. 2. Jack up the car. 3. Remove the wheel. 4. Fit the spare. "
        "5. Tighten the nuts in a star pattern.",
        False,
    ),
    (
        "Here is a Python function that merges two sorted lists:\n\ndef merge(a, b):\n    out = []\n"
        "    i = j = 0\n    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n"
        "            out.append(a[i]); i += 1\n        else:\n            out.append(b[j]); j += 1\n"
        "    return out + a[i:] + b[j:]",
        False,
    ),
    (
        "The French Revolution began in 1789. Its causes included fiscal crisis, Enlightenment ideas and "
        "food shortages. It ended the monarchy and reshaped European politics for the next century, "
        "spreading ideas of citizenship, secular government and legal equality across the continent.",
        False,
    ),
    (
        "Sure! Your email looks good. I fixed two typos: 'recieve' → 'receive' and "
        "'definately' → 'definitely'.",
        False,
    ),
    ("2x - 7 = 11, so 2x = 18 and x = 9.", False),
    ("巴黎是法国的首都。", False),
    ("Я бы порекомендовал сначала обжарить лук, затем добавить свёклу.", False),
]
