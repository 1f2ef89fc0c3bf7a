"""Remembered prompt-level matches: a scan matches only what it has not seen, gives what a
fresh scan gives, and never reads a match made under other rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.config import Config
from distillguard.detectors import prompt_level
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

from test_prompt_level import ELICITATION, GRADING, QUESTION, TRACE, _events  # isort: skip

TEXTS = [t.format(q=QUESTION) for t in ELICITATION[:4] + GRADING[:2]] + ["What is the capital of Peru?"] * 3
EXCHANGES = [(None, TRACE if i % 3 == 0 else f"Lima, answer {i}.") for i in range(len(TEXTS))]
LATER = ["Which of Response A and Response B is better? Answer [[A]] or [[B]].", TEXTS[0]]


def _prompt_level(warehouse: Warehouse, config: Config) -> list[dict[str, object]]:
    pipeline._prompt_level(warehouse, config, None, pipeline._Scratch())
    return warehouse.engine.to_arrow("SELECT * FROM prompt_signals ORDER BY event_id").to_pylist()


def _remembered(warehouse: Warehouse) -> dict[str, int]:
    query = "SELECT part, count(*) AS n FROM prompt_matches GROUP BY part"
    rows = warehouse.engine.to_arrow(query).to_pylist()
    return {str(r["part"]): int(r["n"]) for r in rows}


def _load(warehouse: Warehouse, texts: list[str], exchanges: list[tuple[str | None, str | None]]) -> None:
    warehouse.insert_events(_events([("a", text, i % 2) for i, text in enumerate(texts)], exchanges))


def test_a_second_scan_matches_only_new_texts_and_gives_what_a_fresh_scan_gives(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    everything = TEXTS + LATER
    exchanges = [*EXCHANGES, (None, TRACE), (None, "Paris.")]
    _load(warehouse, TEXTS, EXCHANGES)
    _prompt_level(warehouse, config)
    first = _remembered(warehouse)
    assert first == {"request": len(set(TEXTS)) + 1, "response": len(TEXTS)}  # +1: one text with tools too
    _prompt_level(warehouse, config)
    assert _remembered(warehouse) == first  # nothing new: nothing matched

    warehouse.insert_events(_events([("a", text, i % 2) for i, text in enumerate(everything)], exchanges))
    again = _prompt_level(warehouse, config)
    # one new text (the second repeats an earlier one with the same tools), two new responses
    assert _remembered(warehouse) == {"request": first["request"] + 1, "response": len(everything)}
    with Warehouse.open(tmp_path / "fresh.duckdb") as fresh:
        fresh.insert_events(_events([("a", text, i % 2) for i, text in enumerate(everything)], exchanges))
        assert again == _prompt_level(fresh, config)
    assert any(row["evidence"] for row in again)


def test_remembered_matches_are_what_the_scan_reads(warehouse: Warehouse, config: Config) -> None:
    _load(warehouse, TEXTS, EXCHANGES)
    before = _prompt_level(warehouse, config)
    assert before[0]["cot_elicitation"] > 0.5
    warehouse.engine.execute("UPDATE prompt_matches SET cot_elicitation = 0.123 WHERE part = 'request'")
    after = _prompt_level(warehouse, config)
    assert {row["cot_elicitation"] for row in after} == {0.123}


def test_a_rule_change_forgets_every_match_made_under_the_old_rules(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(warehouse, TEXTS, EXCHANGES)
    before = _prompt_level(warehouse, config)
    warehouse.engine.execute("UPDATE prompt_matches SET cot_elicitation = 0.123")
    monkeypatch.setattr(pipeline, "ruleset_version", lambda: "another-rule-set")
    assert _prompt_level(warehouse, config) == before
    versions = warehouse.engine.to_arrow("SELECT DISTINCT ruleset_version FROM prompt_matches").to_pylist()
    assert versions == [{"ruleset_version": "another-rule-set"}]


def test_the_version_follows_the_rules_and_the_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    version = prompt_level.ruleset_version()
    assert version == prompt_level.ruleset_version()
    prompt_level.ruleset_version.cache_clear()
    monkeypatch.setattr(prompt_level, "classifier_fingerprint", lambda: "retrained")
    assert prompt_level.ruleset_version() != version
    monkeypatch.undo()
    prompt_level.ruleset_version.cache_clear()
    monkeypatch.setattr("distillguard.detectors.patterns.HEAD_CHARS", 1000)
    assert prompt_level.ruleset_version() != version
    monkeypatch.undo()
    prompt_level.ruleset_version.cache_clear()
    assert prompt_level.ruleset_version() == version
