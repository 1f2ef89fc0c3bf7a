"""Reasoning-trace elicitation in its many wordings, English and Chinese, against the
ordinary requests that share its words (see cot_paraphrases.py for how the sets were written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from distillguard import fingerprints as fp
from distillguard.detectors import prompt_steps
from distillguard.detectors.prompt_matcher import match_prompt
from distillguard.engine import run_steps
from distillguard.schema import EVENTS
from distillguard.warehouse import Warehouse

# a plain module beside this one (pytest puts this directory on the path)
from cot_paraphrases import ORDINARY, PARAPHRASES, QUESTION_EN, QUESTION_ZH  # isort: skip
from classifier_heldout import UNSEEN_CENSORSHIP, UNSEEN_COT, UNSEEN_ORDINARY, UNSEEN_RUBRIC  # isort: skip

HOMEWORK = [
    "Can you explain step by step how to solve 3x + 5 = 20?",
    "Explain how you got this answer.",
    "这道题怎么做？请一步一步讲解。",
    "小明有5个苹果，吃了2个，还剩几个？请写出解题步骤。",
]


def _with_question(text: str) -> str:
    """The wrapper beside a question, as a harvesting script sends it."""
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    return f"{text}{QUESTION_ZH}" if chinese else f"{text} {QUESTION_EN}"


@pytest.mark.parametrize("text", PARAPHRASES)
def test_paraphrased_reasoning_requests_are_caught(text: str) -> None:
    found = match_prompt(_with_question(text))
    assert found.cot_elicitation >= 0.5, found.evidence
    assert any(item.startswith("last:cot_elicitation/") for item in found.evidence)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_requests_with_the_same_words_are_not(text: str) -> None:
    assert match_prompt(text).cot_elicitation < 0.5


@pytest.mark.parametrize("text", HOMEWORK)
def test_homework_step_by_step_stays_weak(text: str) -> None:
    # the catalogue's intent: a worked solution on its own is the students' false positive
    assert match_prompt(text).cot_elicitation < 0.3


def test_a_supplied_answer_alone_is_not_a_reconstruction_request() -> None:
    checking = match_prompt("老师给的答案是8，我算出来是6，哪里错了？").cot_elicitation
    reconstructing = match_prompt("老师给的答案是8，请把得到这个答案的每一步都写出来。").cot_elicitation
    assert checking < 0.5 <= reconstructing


def test_the_scan_scores_paraphrases_as_the_live_matcher_does(warehouse: Warehouse) -> None:
    # the held-out sets carry classifier evidence too: the scan calls the same classifier
    held_out = UNSEEN_COT + UNSEEN_RUBRIC + UNSEEN_CENSORSHIP + UNSEEN_ORDINARY
    texts = [_with_question(t) for t in PARAPHRASES] + ORDINARY + held_out + [QUESTION_EN * 40 + held_out[0]]
    start = datetime(2026, 2, 1, tzinfo=UTC)
    rows = []
    for i, text in enumerate(texts):
        prompt, skel, sig = fp.fingerprint(text)
        rows.append(
            {
                "event_id": f"e{i}",
                "source_format": "canonical",
                "ts_start": start + timedelta(minutes=i),
                "account_id": "a",
                "prompt_text": text,
                "tool_count": 0,
                "prompt_hash": prompt,
                "skeleton_hash": skel,
                "prompt_minhash": sig,
            }
        )
    warehouse.insert_events(pa.Table.from_pylist(rows, schema=EVENTS))
    run_steps(warehouse.engine, prompt_steps())
    scanned = warehouse.engine.to_arrow(
        "SELECT event_id, cot_elicitation, rubric_grading, censorship_rewrite, evidence FROM prompt_signals"
    )
    by_id = {row["event_id"]: row for row in scanned.to_pylist()}
    for i, text in enumerate(texts):
        live = match_prompt(text)
        for name in ("cot_elicitation", "rubric_grading", "censorship_rewrite"):
            assert by_id[f"e{i}"][name] == pytest.approx(getattr(live, name), abs=1e-6), text
        assert by_id[f"e{i}"]["evidence"] == live.evidence, text
