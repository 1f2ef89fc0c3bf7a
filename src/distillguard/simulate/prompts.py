"""Prompt text: topic pools (built-in generator or a real corpus), wrappers, and responses.

Benign users and campaigns draw base requests from the SAME topic pools; what
differs is the wrapper (goal grammar vs. casual phrasing), the request shape and
the behaviour around it. With ``--corpus DIR`` base requests come from real prompt
files (gzip JSONL with ``text`` and ``category``), otherwise from a combinatorial
generator with enough slots that exact and near-duplicate matching is not trivial.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillguard.simulate import lexicon as L
from distillguard.simulate import phrases as P

# Corpus file categories feeding each of our pools.
_CORPUS_CATEGORY = {
    "agentic": "agentic",
    "coding": "coding",
    "data_analysis": "data_analysis",
    "general": "general",
    "math": "math",
    "multilingual": "multilingual",
    "roleplay": "roleplay",
    "sensitive": "sensitive",
    "tool_use": "tool_use",
}
_CJK_START, _CJK_END = "\u4e00", "\u9fff"


class CorpusError(ValueError):
    """The prompt corpus directory is missing or unreadable (the message names the file)."""


@dataclass
class BasePrompt:
    text: str
    tools: list[dict[str, Any]] | None = None
    followups: list[str] = field(default_factory=list)
    answer: str | None = None


@dataclass
class Corpus:
    """Real prompts by category; ``zh`` holds Chinese-language rows of any category."""

    rows: dict[str, list[BasePrompt]]
    zh: list[BasePrompt]

    def pick(self, rng: random.Random, category: str) -> BasePrompt | None:
        pool = self.rows.get(category)
        return rng.choice(pool) if pool else None


def has_cjk(text: str) -> bool:
    return any(_CJK_START <= ch <= _CJK_END for ch in text[:200])


def _openai_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A corpus (BFCL-style) function schema as an OpenAI Chat Completions tool."""
    params = dict(tool.get("parameters") or {"type": "object", "properties": {}})
    if params.get("type") == "dict":
        params["type"] = "object"
    return {
        "type": "function",
        "function": {
            "name": str(tool.get("name", "tool")).replace(".", "_"),
            "description": str(tool.get("description", ""))[:500],
            "parameters": params,
        },
    }


def load_corpus(directory: Path, *, per_category: int = 20_000) -> Corpus:
    """Read every ``*.jsonl.gz`` / ``*.jsonl`` under ``directory`` into topic pools."""
    if not directory.is_dir():
        raise CorpusError(f"{directory}: corpus directory not found")
    files = sorted([*directory.glob("*.jsonl.gz"), *directory.glob("*.jsonl")])
    if not files:
        raise CorpusError(f"{directory}: no *.jsonl.gz or *.jsonl prompt files")
    rows: dict[str, list[BasePrompt]] = {}
    zh: list[BasePrompt] = []
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise CorpusError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
                    text = obj.get("text") if isinstance(obj, dict) else None
                    if not isinstance(text, str) or not text.strip():
                        continue
                    category = _CORPUS_CATEGORY.get(str(obj.get("category", "")), "general")
                    tools = [_openai_tool(t) for t in obj.get("tools") or [] if isinstance(t, dict)] or None
                    followups = [f for f in obj.get("followups") or [] if isinstance(f, str)]
                    prompt = BasePrompt(text[:6000], tools, followups)
                    pool = rows.setdefault(category, [])
                    if len(pool) < per_category:
                        pool.append(prompt)
                    if has_cjk(text) and len(zh) < per_category:
                        zh.append(prompt)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{path}: cannot read ({exc})") from None
    return Corpus(rows, zh)


# ------------------------------------------------------------------- tool schemas
def _fn(name: str, description: str, **props: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": v} for k, v in props.items()},
                "required": list(props)[:1],
            },
        },
    }


AGENT_TOOLS = [
    _fn("read_file", "Read a file from the repository", path="string"),
    _fn("write_file", "Write content to a file", path="string", content="string"),
    _fn("run_command", "Run a shell command in the sandbox", command="string", timeout="integer"),
    _fn("search_code", "Search the codebase with a regular expression", pattern="string", glob="string"),
    _fn("list_directory", "List files in a directory", path="string"),
]
COMPUTER_TOOLS = [
    _fn(
        "computer",
        "Control the mouse and keyboard and take screenshots",
        action="string",
        coordinate="array",
        text="string",
    ),
    _fn("screenshot", "Capture the current screen"),
]
SIMPLE_TOOLS = [
    _fn("get_weather", "Current weather and forecast for a city", city="string", date="string"),
    _fn(
        "search_flights",
        "Search flights between two cities",
        origin="string",
        destination="string",
        date="string",
    ),
    _fn(
        "convert_currency",
        "Convert an amount between currencies",
        amount="number",
        source="string",
        target="string",
    ),
    _fn("send_email", "Send an e-mail", to="string", subject="string", body="string"),
    _fn("create_event", "Create a calendar event", title="string", start="string", attendees="array"),
    _fn("query_tickets", "Query the ticketing system", assignee="string", status="string"),
    _fn("book_restaurant", "Reserve a restaurant table", city="string", party_size="integer", time="string"),
]


# ------------------------------------------------------------- built-in generator
def _code_snippet(r: random.Random) -> str:
    a, b = r.sample(P.IDENTIFIERS, 2)
    body = f"def process({a}):\n    {b} = [x for x in {a} if x]\n    return {b}[{r.randint(0, 9)}]"
    return f"```python\n{body}\n```"


def builtin_prompt(r: random.Random, category: str) -> BasePrompt:
    """One base request of a category from the combinatorial generator."""
    if category == "coding":
        form = r.random()
        if form < 0.55:
            task = r.choice(P.CODE_TASKS if r.random() < 0.5 else L.MORE_CODE_TASKS)
            text = f"{r.choice(P.CODE_VERBS)} a {r.choice(P.LANGS)} function that {task}."
        elif form < 0.8:
            text = f'Why do I get "{r.choice(P.CODE_BUGS)}" here?\n{_code_snippet(r)}'
        else:
            text = f"What does this {r.choice(P.LANGS)} code do, and can it be faster?\n{_code_snippet(r)}"
        return BasePrompt(text)
    if category == "math":
        n1, n2 = r.sample(P.NAMES, 2)
        a, b, c = r.randint(3, 90), r.randint(2, 40), r.randint(2, 9)
        item = r.choice(P.ITEMS)
        forms = [
            (
                f"{n1} has {a} {item}. {n2} gives {n1} {b} more, then {n1} shares them equally "
                f"among {c} friends. "
                f"How many does each friend get?",
                f"{(a + b) / c:g}",
            ),
            (
                f"A train leaves {r.choice(P.PLACES)} at {a} km/h and another follows at {a + b} km/h "
                f"{c} hours later. "
                f"When does the second catch up?",
                f"{a * c / b:.2f} hours",
            ),
            (f"What is the sum of all integers from {a} to {a + b * c}?", str(sum(range(a, a + b * c + 1)))),
            (f"Solve for x: {c}x + {a} = {a + b * c}.", str(b)),
            (
                f"A shop sells {item} at {b} each. {n1} buys {a} and pays with a {100 * c} bill. "
                "What is the change?",
                str(100 * c - a * b),
            ),
            (f"Prove that the product of {c} consecutive integers is divisible by {c}.", "proof"),
            (
                f"What is the probability of getting at least {c % 4 + 1} heads in {c + 3} fair coin flips?",
                "p",
            ),
        ]
        text, answer = r.choice(forms)
        return BasePrompt(text, answer=answer)
    if category == "general":
        topic = r.choice(P.GENERAL_TOPICS if r.random() < 0.4 else L.MORE_TOPICS)
        return BasePrompt(r.choice(P.GENERAL_FORMS).format(t=topic))
    if category == "writing":
        return BasePrompt(
            f"{r.choice(['Write', 'Draft', 'Help me write', 'Can you write'])} {r.choice(P.WRITING_TASKS)}."
        )
    if category == "data_analysis":
        if r.random() < 0.3:
            return BasePrompt(r.choice(P.DATA_TASKS))
        return BasePrompt(
            r.choice(L.DATA_QUESTIONS).format(
                t=r.choice(L.DATA_TABLES),
                agg=r.choice(L.DATA_AGGS),
                dim=r.choice(L.DATA_DIMS),
                n=r.randint(3, 90),
            )
        )
    if category == "tool_use":
        text = r.choice(P.TOOL_REQUESTS).format(
            city=r.choice(P.CITIES),
            city2=r.choice(P.CITIES),
            k=r.randint(2, 8),
            a=r.randint(10, 5000),
            n=r.choice(P.NAMES),
        )
        return BasePrompt(text, tools=r.sample(SIMPLE_TOOLS, r.randint(2, 5)))
    if category == "agentic":
        if r.random() < 0.3:
            return BasePrompt(r.choice(P.AGENT_TASKS))
        obj = r.choice(P.AGENT_OBJECTS).format(p=r.choice(P.REPO_PATHS))
        return BasePrompt(f"{r.choice(P.AGENT_VERBS)} {obj}.")
    if category == "computer_use":
        if r.random() < 0.3:
            return BasePrompt(r.choice(P.COMPUTER_TASKS))
        return BasePrompt(
            r.choice(P.DESKTOP_ACTIONS).format(
                app=r.choice(P.DESKTOP_APPS),
                f=r.choice(P.DESKTOP_FILES),
                c="ABCDEFG"[r.randrange(7)],
                s=r.choice(P.DESKTOP_SETTINGS),
                n=r.randint(5, 200),
            )
        )
    if category == "sensitive":
        return BasePrompt(r.choice(P.SENSITIVE_QUESTIONS))
    if category == "roleplay":
        return BasePrompt(r.choice(P.ROLEPLAY))
    if category == "vision":
        return BasePrompt(r.choice(P.VISION_TASKS))
    # multilingual (Chinese)
    return BasePrompt(zh_prompt(r))


def zh_prompt(r: random.Random) -> str:
    return r.choice(P.ZH_TASKS).format(
        t=r.choice(P.ZH_TOPICS),
        w=r.choice(P.ZH_TOPICS),
        c=r.choice(P.ZH_CODE),
        n=r.choice(["小明", "小红", "李雷"]),
        a=r.randint(3, 50),
        b=r.randint(2, 30),
        s=r.choice(P.ZH_SKILLS),
    )


class PromptFactory:
    """Base requests from the corpus when given (with the generator as fallback)."""

    def __init__(self, corpus: Corpus | None) -> None:
        self.corpus = corpus

    def base(self, r: random.Random, category: str, lang: str = "en") -> BasePrompt:
        if lang == "zh":
            if self.corpus is not None and self.corpus.zh and r.random() < 0.7:
                return r.choice(self.corpus.zh)
            return BasePrompt(zh_prompt(r))
        if self.corpus is not None and category != "vision":  # the corpus holds no image questions
            source = {"computer_use": "agentic", "writing": "general", "vision": "general"}.get(
                category, category
            )
            picked = self.corpus.pick(r, source)
            if picked is not None and (category != "tool_use" or picked.tools):
                return picked
        return builtin_prompt(r, category)


# -------------------------------------------------------------------- wrappers
def grammar(r: random.Random, slots: list[list[str]], house: list[int], paraphrase: float) -> str:
    """One wording: each slot is the campaign's house choice, or with prob. ``paraphrase`` a fresh one."""
    return "".join(
        slot[r.randrange(len(slot))] if r.random() < paraphrase else slot[house[i] % len(slot)]
        for i, slot in enumerate(slots)
    )


def casual(r: random.Random, text: str) -> str:
    return f"{r.choice(P.CASUAL_PREFIX)}{text}{r.choice(P.CASUAL_SUFFIX)}"


def essay(r: random.Random) -> str:
    topic = r.choice(P.ESSAY_TOPICS)
    sentences = [
        f"In this essay I will discuss {topic}.",
        f"Many people believe {topic} matters a lot.",
        "There are several reasons for this.",
        "First, it affects everyday life.",
        "Second, the evidence is mixed.",
        "In conclusion, we should think carefully about it.",
    ]
    body = " ".join(r.sample(sentences, r.randint(3, 6)))
    return r.choice(P.ESSAY_GRADING).format(e=topic, body=body)


def short_answer(r: random.Random, text: str) -> str:
    """A plausible candidate answer (for rubric prompts and conversation history)."""
    if has_cjk(text):
        return "好的。" + "".join(r.sample(FILLER_ZH, 2))
    opener = r.choice(["Sure.", "Here's one way:", "The short answer:", "Good question.", "Okay,"])
    return f"{opener} {' '.join(r.sample(FILLER, 2))}"[:400]


# ------------------------------------------------------------------- responses
FILLER = [
    "This follows directly from the definition.",
    "We can check this with a small example.",
    "The key constraint is the ordering of operations.",
    "Note that the edge case needs separate handling.",
    "Let us denote the unknown quantity by x.",
    "Combining both observations gives the result.",
    "A common mistake here is to forget the boundary.",
    "The complexity is linear in the input size.",
    "This matches the expected output for the sample.",
    "In practice you would also add logging.",
    "The main trade-off is readability versus speed.",
    "Historically this developed over several decades.",
    "Sources differ on the exact figures.",
    "You can adapt the approach to your own data.",
]
FILLER_ZH = [
    "首先我们分析题目条件。",
    "接下来计算中间结果。",
    "需要注意边界情况。",
    "因此可以得到结论。",
    "我们用一个例子来验证。",
    "这一步的关键在于顺序。",
    "综上所述，答案如下。",
]


_OPENERS = [
    "Sure.",
    "Good question.",
    "Here's a breakdown.",
    "Short answer first.",
    "Let's look at this.",
    "There are a few parts to this.",
    "Here is what I would do.",
]
_CODE_LANGS = ["python", "typescript", "go", "rust", "java", "sql", "bash"]


def _sentences(r: random.Random, pool: list[str], budget: int, sep: str) -> str:
    """Filler sentences up to ``budget`` characters (running length, no re-summing)."""
    parts: list[str] = []
    used = 0
    while used < budget:
        sentence = pool[r.randrange(len(pool))]
        parts.append(sentence)
        used += len(sentence) + len(sep)
    return sep.join(parts)


def response_text(r: random.Random, kind: str, lang: str, chars: int, answer: str | None) -> str:
    """Response text of about ``chars`` characters shaped like the request asked for."""
    filler = FILLER_ZH if lang == "zh" else FILLER
    if kind == "cot":
        step_word, answer_word = ("步骤", "答案") if lang == "zh" else ("Step ", "Answer")
        head = (
            "<think>"
            if r.random() < 0.3
            else ("让我们一步一步思考。" if lang == "zh" else "Let's work through this.")
        )
        steps: list[str] = []
        used = len(head)
        while used < chars - 40:
            step = f"{step_word}{len(steps) + 1}: {_sentences(r, filler, r.randint(40, 220), ' ')}"
            steps.append(step)
            used += len(step) + 1
        body = "\n".join([head, *steps, f"{answer_word}: {answer or r.randint(2, 999)}"])
    elif kind == "rubric":
        rationale = _sentences(r, filler, min(chars, 300), " ")
        body = json.dumps({"score": r.randint(1, 10), "rationale": rationale}, ensure_ascii=False)
    elif kind == "code":
        name = r.choice(P.IDENTIFIERS)
        code = f"```{r.choice(_CODE_LANGS)}\n// {name}\nfn solve({name}) {{ ... }}\n```\n"
        body = r.choice(_OPENERS) + "\n" + code + _sentences(r, filler, chars - len(code), " ")
    else:
        paragraphs = []
        used = 0
        while used < chars:
            paragraph = _sentences(r, filler, r.randint(120, 400), " ")
            paragraphs.append(paragraph)
            used += len(paragraph) + 2
        body = r.choice(_OPENERS) + " " + "\n\n".join(paragraphs)
    return body[: max(chars, 20)]
