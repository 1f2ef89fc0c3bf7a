"""Prompt-level detectors: what they catch, what they leave alone, and that the
batch SQL and the real-time Python matcher agree because both come from one source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from distillguard import fingerprints as fp
from distillguard.detectors import prompt_steps
from distillguard.detectors.catalogue import prompt_level_specs
from distillguard.detectors.prompt_matcher import match_prompt
from distillguard.engine import run_steps
from distillguard.engine.dialect import to_spark
from distillguard.rules import TRAINING_SIGNAL_COLUMNS
from distillguard.scan.docs import render
from distillguard.schema import EVENTS, PROMPT_SIGNALS, column_names
from distillguard.warehouse import Warehouse

ELICITATION = [
    "Before answering, write out your complete reasoning, then give the final answer. Q: {q}",
    "Please lay out the full, unabridged thought process you used. {q}",
    "Here is a question and its final answer. Reconstruct the reasoning that leads to that answer. {q}",
    "Work backwards from the given answer and recover the derivation step that produced it. {q}",
    "Think in the same language as the question and show every intermediate step; do not skip steps. {q}",
    "请写出完整的推理过程，不要省略任何步骤，然后给出答案。问题：{q}",
    "已知最终答案，请还原得到该答案的推理过程。{q}",
    "思考过程必须使用问题的语言。{q}",
    "Don't just give me the answer; I want every thought you had along the way, written out in full. {q}",
    "Respond in the user's language, including your reasoning. {q}",
]
GRADING = [
    "Grade the response below from 1 to 10 according to the rubric, and output the score as JSON only.",
    "Which of the two responses is better, Response A or Response B? Answer [[A]] or [[B]].",
    "请根据评分标准给下面的回答打分（1到10分）。",
    "Compare Response 1 and Response 2 and say which one is preferred.",
]
REWRITES = [
    "Rewrite this politically sensitive question so it becomes neutral and safe to ask: {q}",
    "Rephrase the following so it avoids triggering the censorship filters: {q}",
    "请把这个政治敏感的问题改写成中性、合规的说法：{q}",
    "Make this question less sensitive so it passes moderation: {q}",
]
BENIGN = [
    "What is the capital of Australia?",
    "Write a short poem about the sea at night.",
    "Can you summarise this article about the history of the printing press for my class?",
    "My code throws a KeyError when I read the config file, any idea why?",
    "Translate 'good morning' into French, German and Spanish.",
    "今天天气怎么样？适合去公园散步吗？",
]
QUESTION = "A farmer has 17 sheep and buys 5 more each week; how many after 6 weeks?"


@pytest.mark.parametrize("template", ELICITATION)
def test_elicitation_wrappers_are_caught_with_evidence(template: str) -> None:
    found = match_prompt(template.format(q=QUESTION))
    assert found.cot_elicitation >= 0.5
    assert any(item.startswith("last:cot_elicitation/") for item in found.evidence)


@pytest.mark.parametrize("text", GRADING)
def test_grading_prompts_are_caught(text: str) -> None:
    assert match_prompt(text).rubric_grading >= 0.5


@pytest.mark.parametrize("template", REWRITES)
def test_censorship_rewrites_are_caught(template: str) -> None:
    assert match_prompt(template.format(q="what happened in 1989?")).censorship_rewrite >= 0.5


@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_prompts_score_nothing(text: str) -> None:
    found = match_prompt(text)
    assert max(found.cot_elicitation, found.rubric_grading, found.censorship_rewrite) < 0.3


def test_a_lone_step_by_step_is_weak_evidence_next_to_a_harvesting_wrapper() -> None:
    homework = match_prompt("Can you explain step by step how to solve 3x + 5 = 20?").cot_elicitation
    wrapper = match_prompt(ELICITATION[0].format(q=QUESTION)).cot_elicitation
    assert homework < 0.3 < 0.5 <= wrapper


@pytest.mark.parametrize(
    ("text", "tools", "capability"),
    [
        ("Write a Python function that merges two sorted lists.", 0, "coding"),
        ("Solve the equation 3x + 5 = 20 and calculate x.", 0, "math"),
        ("What is the weather in Paris?", 2, "tool_use"),
        ("Take a screenshot and click on the Save button in LibreOffice.", 0, "computer_use"),
        ("Write a SQL query over the orders table to aggregate revenue per column.", 0, "data_analysis"),
        # analysis asked without the word "data": a window function, a statistic, in other languages
        ("Write a window-function query that ranks each store by monthly sales.", 0, "data_analysis"),
        ("Find the outliers in daily sign-ups, and the 95th percentile.", 0, "data_analysis"),
        ("用线性回归分析广告投入和销量的相关性。", 0, "data_analysis"),
        ("Wie finde ich Ausreißer in einer Zeitreihe von Messwerten?", 0, "data_analysis"),
        ("Écris une requête SQL qui compte les commandes par client.", 0, "data_analysis"),
        # a software regression test is coding, not statistics
        ("Write a Python unit test that catches this regression in the parser function.", 0, "coding"),
        ("Describe the image: what is in the picture?", 0, "vision"),
        ("Tell me a fun fact.", 0, "general"),
    ],
)
def test_capability_categories(text: str, tools: int, capability: str) -> None:
    assert match_prompt(text, tool_count=tools).capability == capability


def _events(
    texts: list[tuple[str, str, int]], exchanges: list[tuple[str | None, str | None]] | None = None
) -> pa.Table:
    """Events with these (account, last turn, tool count), and optionally (context, response)."""
    start = datetime(2026, 2, 1, tzinfo=UTC)
    rows = []
    for i, (account, text, tools) in enumerate(texts):
        context, response = exchanges[i] if exchanges else (None, None)
        prompt, skel, sig = fp.fingerprint(text)
        rows.append(
            {
                "event_id": f"e{i}",
                "source_format": "canonical",
                "ts_start": start + timedelta(minutes=i),
                "account_id": account,
                "prompt_text": text,
                "context_text": context,
                "response_text": response,
                "tool_count": tools,
                "prompt_hash": prompt,
                "skeleton_hash": skel,
                "prompt_minhash": sig,
            }
        )
    return pa.Table.from_pylist(rows, schema=EVENTS)


def _scan(
    warehouse: Warehouse,
    texts: list[tuple[str, str, int]],
    exchanges: list[tuple[str | None, str | None]] | None = None,
) -> list[dict[str, object]]:
    warehouse.insert_events(_events(texts, exchanges))
    run_steps(warehouse.engine, prompt_steps())
    return warehouse.engine.to_arrow("SELECT * FROM prompt_signals ORDER BY ts_start").to_pylist()


def test_sql_and_python_agree_on_every_prompt(warehouse: Warehouse) -> None:
    texts = [t.format(q=QUESTION) for t in ELICITATION + GRADING + REWRITES] + BENIGN
    texts.append("x" * 3000 + " now write out your full reasoning trace")  # tail of a long prompt
    rows = _scan(warehouse, [("a", text, i % 2) for i, text in enumerate(texts)])
    by_id = {row["event_id"]: row for row in rows}
    for i, text in enumerate(texts):
        python = match_prompt(text, tool_count=i % 2)
        sql = by_id[f"e{i}"]
        assert sql["cot_elicitation"] == pytest.approx(python.cot_elicitation, abs=1e-6), text
        assert sql["rubric_grading"] == pytest.approx(python.rubric_grading, abs=1e-6), text
        assert sql["censorship_rewrite"] == pytest.approx(python.censorship_rewrite, abs=1e-6), text
        assert sql["capability"] == python.capability, text
        assert sql["evidence"] == python.evidence, text


SYSTEM_WRAPPER = "You are a data generator. For every question, write out your complete reasoning first."
CRITIQUE = "Below is a model's solution. Find the first step that contains an error."
TRACE = (
    "<think>\nFirst I add the numbers. Wait, let me double-check the second term: it is 7, "
    "not 5. Recompute: 3 + 7 = 10.\n</think>\nThe final answer: 10."
)
GRADE = "Score: 8/10\nJustification: accurate and complete, slightly verbose."


def test_sql_and_python_agree_on_whole_exchanges(warehouse: Warehouse) -> None:
    """Context and response too: same scores and evidence, from any part, in both back ends."""
    exchanges: list[tuple[str, str | None, str | None]] = [
        (QUESTION, SYSTEM_WRAPPER, None),
        (QUESTION, f"You are a helpful tutor.\n\n{CRITIQUE}", TRACE),
        ("请给下面的回答打分。", None, GRADE),
        (QUESTION, "Responde siempre en español.", "La respuesta es 47."),
        (BENIGN[0], None, "Canberra."),
        ("Califica la respuesta del asistente del 1 al 10.", "x" * 3000 + " " + SYSTEM_WRAPPER, TRACE * 40),
        ("", SYSTEM_WRAPPER, ""),
    ]
    rows = _scan(
        warehouse,
        [("a", text, i % 2) for i, (text, _, _) in enumerate(exchanges)],
        [(context, response) for _, context, response in exchanges],
    )
    by_id = {row["event_id"]: row for row in rows}
    for i, (text, context, response) in enumerate(exchanges):
        python = match_prompt(text, tool_count=i % 2, context=context, response=response)
        sql = by_id[f"e{i}"]
        for name in TRAINING_SIGNAL_COLUMNS:
            assert sql[name] == pytest.approx(getattr(python, name), abs=1e-6), (i, name)
        assert sql["capability"] == python.capability, i
        assert sql["evidence"] == python.evidence, i


def test_an_instruction_in_the_system_prompt_counts_and_says_where_it_was() -> None:
    alone = match_prompt(QUESTION)
    whole = match_prompt(QUESTION, context=SYSTEM_WRAPPER)
    assert alone.cot_elicitation < 0.5 <= whole.cot_elicitation
    assert any(item.startswith("context:cot_elicitation/") for item in whole.evidence)
    assert not any(item.startswith("last:cot_elicitation/") for item in whole.evidence)


def test_critique_and_response_artefacts_score_on_their_own_part() -> None:
    found = match_prompt(CRITIQUE, response=TRACE)
    assert found.critique >= 0.5 and found.response_trace >= 0.5
    assert found.cot_elicitation < 0.5  # a request to judge a trace is not a request to write one
    assert any(item.startswith("response:response_trace/") for item in found.evidence)
    assert match_prompt("Rate my essay", response=GRADE).response_trace >= 0.5
    assert match_prompt(QUESTION, response="There are 47 sheep after six weeks.").response_trace == 0.0


def test_prompt_signals_has_the_schema_columns(warehouse: Warehouse) -> None:
    rows = _scan(warehouse, [("a", "hello there", 0)])
    assert list(rows[0]) == column_names(PROMPT_SIGNALS)


def test_template_families_group_a_scaffold_and_not_a_shared_topic(warehouse: Warehouse) -> None:
    questions = [
        "How many legs do 7 spiders and 3 ants have together in total?",
        "Why is the sky blue during the day but red at sunset?",
        "What causes the seasons on Earth to change over a year?",
        "How does a refrigerator keep food cold inside its box?",
        "Why do onions make people cry when they are chopped?",
        "What makes bread rise when it is baked in the oven?",
    ]
    wrapper = "Answer the question and include your complete reasoning trace in the answer field. Question: "
    scaffolded = [(f"acct{i}", wrapper + q, 0) for i, q in enumerate(questions)]
    plain = [("other", q, 0) for q in questions]
    rows = _scan(warehouse, scaffolded + plain)
    families = [row["template_family"] for row in rows]
    assert len(set(families[: len(questions)])) == 1
    assert len(set(families[len(questions) :])) == len(questions)
    assert families[0] not in families[len(questions) :]


def test_template_family_ids_are_stable_across_runs(tmp_path: Path) -> None:
    essay = "Rate the essay below from 1 to 10 for clarity and structure, then explain. Essay number "
    texts = [("a", essay + str(i) + " is about topic " + "xyz"[i % 3] * i, 0) for i in range(8)]
    ids = []
    for name in ("one", "two"):
        with Warehouse.open(tmp_path / f"{name}.duckdb") as wh:
            ids.append([row["template_family"] for row in _scan(wh, texts)])
    assert ids[0] == ids[1]


def test_every_step_transpiles_to_spark() -> None:
    for step in prompt_steps():
        assert sqlglot.parse_one(to_spark(step.sql), read="spark") is not None, step.name


def test_the_catalogue_documents_every_prompt_detector() -> None:
    text = render([("Prompt level", prompt_level_specs())])
    detectors = (*TRAINING_SIGNAL_COLUMNS, "capability", "template_family")
    for detector in detectors:
        assert f"`{detector}`" in text


def test_scaffold_keys_cut_then_lower_case_as_if_the_whole_prompt_were_lowered(warehouse: Warehouse) -> None:
    """The scan cuts a prompt's head and tail before lower-casing them: the same as cutting
    the lower-cased prompt only when lower() keeps one code point per code point."""
    text = "İẞΣǅﬓÅKΩ ΟΔΟΣ " + "".join(chr(i) for i in range(0x80, 0x2FFF) if chr(i).isprintable())
    same = warehouse.engine.scalar(
        "SELECT left(lower(?), 40) = lower(left(?, 40)) AND right(lower(?), 40) = lower(right(?, 40))"
        " AND length(lower(?)) = length(?)",
        [text] * 6,
    )
    assert same is True
