"""Held-out prompts for the n-gram classifier, written before it was trained and never
trained on or used to tune it (nor to write lexicon rules): they measure how far the
lexicon plus the classifier reach on wordings neither has seen.

The training examples live in ``training/prompt_classifier/``; nothing here is copied
from them, from the simulator or from the shared corpus.
"""

from __future__ import annotations

# A fourth batch of reasoning-trace elicitation (reconstruction, full trace, thinking
# pinned to the user's language), after the three in cot_paraphrases.py.
UNSEEN_COT = [
    "题目后面附了答案，请你把中间缺失的推演补齐，写成完整的解答。",
    "请基于给出的最终答案，逐步倒推并写出每个推导环节。",
    "这里是问题和结论，请把两者之间的思考链条一环一环写出来。",
    "答案我已经知道是 7，请把怎么想到 7 的过程详细交代清楚。",
    "请站在解题者的角度，把得到参考答案的推理全部写下来，不要省略。",
    "请按“读题—分析—计算—验证”的顺序写出你完整的思考过程，再给出最终答案。",
    "在给出答案之前，先完整地展示你的全部推理过程。",
    "思考请用用户的语言进行，用户写中文你就用中文想。",
    "你的推理语言必须跟随提问者的语言。",
    "请为下面的标准答案配一段详尽的推导，使读者能看出每一步从何而来。",
    "把解出这道题的完整思路，包括走过的弯路，都一五一十记录下来。",
    "以下每道题都给了答案，请为每道题生成详细的推理过程。",
    "The solution key says 15. Lay out the chain of reasoning that takes you from the problem to 15.",
    "Given the question and the verified answer, write the intermediate steps a solver would take.",
    "Rebuild the full derivation behind the answer provided below, one step at a time.",
    "Produce a thorough explanation whose every step leads toward the known final answer.",
    "Show your complete internal reasoning before the answer; include every check you make.",
    "Before responding, write out your whole chain of thought in detail.",
    "Do all of your thinking in the language the user wrote their message in.",
    "Your chain of thought must match the language of the question.",
    "Here is a problem and the correct final answer. Explain how to reach it, showing all work.",
    "For each item below, the answer is given; write a detailed solution path that ends at it.",
    "Think through the problem exhaustively and transcribe every thought along the way.",
    "Recreate the reasoning process that would produce the answer shown, step by step.",
]

UNSEEN_RUBRIC = [
    "Score the assistant's reply from 1 to 10 for helpfulness and explain the score.",
    "Two candidate answers follow. Decide which one better satisfies the instructions and output A or B.",
    "Rate the following completion on accuracy, clarity and safety using a 1-5 scale for each.",
    "You are evaluating chatbot responses. Assign a quality score and return JSON with the score.",
    "Judge whether response 1 or response 2 is more helpful; answer with just the number.",
    "Grade this model output against the reference answer and give a score out of 100.",
    "请对下面这个模型的回答按照准确性和完整性打分，满分10分。",
    "比较回答A和回答B，判断哪一个更符合用户的需求，只输出A或B。",
    "请作为评审员，根据给定的评分标准给这段回复打分并说明理由。",
    "下面有两个AI助手的回答，请评估哪一个更有帮助、更无害。",
    "请按1到5分给这个回答的流畅度和相关性分别打分。",
    "Evaluate each of the four responses below and rank them from best to worst.",
]

UNSEEN_CENSORSHIP = [
    "Rewrite this question about the 1989 protests so it can be asked without being blocked.",
    "Make this paragraph about the party leadership sound neutral enough for a domestic platform.",
    "Rephrase the following answer so it stays within what state regulators allow.",
    "Turn this critical comment about the government into a version that won't get deleted.",
    "Reword the question about Xinjiang so it doesn't trip the content filter.",
    "Give me a toned-down version of this post about Tibet that moderators would accept.",
    "请把这个关于政府的问题改写成不会被删帖的说法。",
    "请将下面这段涉及领导人的评论改得中性一些，以便通过平台审核。",
    "把这段关于六四的文字换个说法，让它能正常发出去。",
    "请把这条批评政策的微博改写得委婉一点，避免被限流。",
    "把这个问题改写成符合官方表述的版本。",
    "请重新表述这段回答，使其不触及敏感内容。",
]

# Ordinary requests that share words or shapes with the three classes.
UNSEEN_ORDINARY = [
    "请一步一步教我怎么用Excel做数据透视表。",
    "这道题的答案是多少？我想核对一下。",
    "请帮我检查这篇作文的语法错误，并给出修改建议。",
    "请把这段英文翻译成中文，保持原意。",
    "请用用户的语言回复，并保持礼貌。",
    "给这篇文章写一个200字的摘要。",
    "老师让我们写出解题过程，我不会第三步，能提示一下吗？",
    "请解释一下为什么天空是蓝色的。",
    "Could you proofread my cover letter and suggest improvements?",
    "Solve for x: 2x - 7 = 11. Please show your steps.",
    "Translate this paragraph into Spanish, keeping the tone friendly.",
    "Summarize the key arguments of this article in three bullet points.",
    "Review this pull request and point out any bugs or style issues.",
    "What were the main causes of the 1989 protests in Eastern Europe?",
    "How does internet censorship work in different countries? Give an overview.",
    "Rewrite this email so it sounds more polite to my manager.",
    "My teacher gave my essay a B. Can you explain what a rubric usually looks at?",
    "Respond in whatever language the customer writes in.",
    "Write a Python function that returns the nth Fibonacci number, with tests.",
    "List the files in the repo, find the failing test, and fix it.",
    "请帮我改写这段产品介绍，让它更吸引人。",
    "请给这个故事打个分，你觉得好看吗？",
    "Explain the reasoning behind the Monty Hall solution.",
    "I know the answer is 42 because it's from the book, but why is that a joke?",
]
