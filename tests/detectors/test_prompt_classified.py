"""The classifier run beside the engine (the scan's way) gives exactly what the SQL function gives."""

from __future__ import annotations

from distillguard.config import Config
from distillguard.detectors import prompt_steps
from distillguard.engine import run_steps
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

from test_prompt_level import ELICITATION, GRADING, QUESTION, TRACE, _events  # isort: skip

TEXTS = [t.format(q=QUESTION) for t in ELICITATION + GRADING] + ["What is the capital of Peru?", ""]


def _signals(warehouse: Warehouse) -> list[dict[str, object]]:
    return warehouse.engine.to_arrow("SELECT * FROM prompt_signals ORDER BY event_id").to_pylist()


def test_the_scan_classifies_beside_the_engine_with_the_sql_functions_numbers(
    warehouse: Warehouse, config: Config
) -> None:
    # a last turn sent with and without tools, and a context that is also a last turn
    rows = [("a", text, i % 2) for i, text in enumerate(TEXTS)] + [("b", TEXTS[0], 1), ("b", TEXTS[0], 0)]
    exchanges = [(TEXTS[-3] if i % 3 == 0 else None, TRACE if i % 2 else None) for i in range(len(rows))]
    warehouse.insert_events(_events(rows, exchanges))

    run_steps(warehouse.engine, prompt_steps())  # the classifier called from SQL
    in_sql = _signals(warehouse)
    pipeline._prompt_level(warehouse, config, None, pipeline._Scratch())  # beside the engine
    beside = _signals(warehouse)

    assert beside == in_sql
    assert any("/classifier=" in item for row in beside for item in row["evidence"])  # it did score
    assert not warehouse.engine.exists("_request_classified")
