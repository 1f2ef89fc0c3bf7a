"""The scan core's shared rules, catalogue and calibration, as a provider relies on them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from distillguard.rules import (
    TRAINING_SIGNAL_COLUMNS,
    request_shape,
    request_shape_sql,
    training_score,
    training_score_sql,
)
from distillguard.scan import docs
from distillguard.scan.calibration import CalibrationPoint, calibrate, threshold_for
from distillguard.scan.registry import ACCOUNT_SIGNALS

ROOT = Path(__file__).resolve().parents[2]


def test_docs_detectors_md_is_the_generated_catalogue() -> None:
    written = (ROOT / "docs" / "detectors.md").read_text(encoding="utf-8")
    assert written == docs.render(), "run: python -m distillguard.scan.docs --write"


def test_every_registered_signal_and_its_parameters_are_in_the_catalogue() -> None:
    text = docs.render()
    for signal in ACCOUNT_SIGNALS:
        assert f"`{signal.id}`" in text
        for name in signal.spec.parameters:
            assert f"`{name}`" in text, (signal.id, name)


@pytest.mark.parametrize(
    "row",
    [
        {
            "model_requested": "m-1",
            "max_tokens": 32000,
            "temperature": 0.7,
            "top_p": 1.0,
            "reasoning_effort": "HIGH",
        },
        {
            "model_requested": None,
            "max_tokens": None,
            "temperature": None,
            "top_p": None,
            "reasoning_effort": None,
        },
        {
            "model_requested": "m|2",
            "max_tokens": 1,
            "temperature": 0.1,
            "top_p": 0.95,
            "reasoning_effort": "low",
        },
    ],
)
def test_the_live_request_shape_is_the_scans(row: dict[str, object]) -> None:
    found = (
        duckdb.connect()
        .execute(
            f"SELECT {request_shape_sql()} FROM (SELECT ?::VARCHAR AS model_requested, "
            "?::BIGINT AS max_tokens, ?::DOUBLE AS temperature, ?::DOUBLE AS top_p, "
            "?::VARCHAR AS reasoning_effort)",
            [
                row["model_requested"],
                row["max_tokens"],
                row["temperature"],
                row["top_p"],
                row["reasoning_effort"],
            ],
        )
        .fetchone()
    )
    assert found is not None and found[0] == request_shape(row)


def test_a_strong_response_artefact_counts_but_a_graded_answer_alone_does_not() -> None:
    connection = duckdb.connect()
    for scores in (
        {"cot_elicitation": 0.9},
        {"response_trace": 0.9},
        {"response_trace": 0.55},
        {"critique": 0.6, "response_trace": 0.2},
    ):
        values = {c: scores.get(c, 0.0) for c in TRAINING_SIGNAL_COLUMNS}
        select = ", ".join(f"CAST({v!r} AS DOUBLE) AS {k}" for k, v in values.items())
        (sql_score,) = connection.execute(f"SELECT {training_score_sql()} FROM (SELECT {select})").fetchone()
        assert sql_score == pytest.approx(training_score(values))
    assert training_score({"response_trace": 0.55}) < 0.5 <= training_score({"response_trace": 0.9})


POINTS = (
    CalibrationPoint(0.5, 0.02, 0.004),
    CalibrationPoint(0.8, 0.004, 0.0005),
    CalibrationPoint(0.9, 0.0009, 0.0),
    CalibrationPoint(0.95, 0.0005, 0.0),
    CalibrationPoint(0.99, 0.0, 0.0),
)


def test_the_threshold_is_the_lowest_whose_worst_measured_rate_meets_the_target() -> None:
    assert threshold_for(POINTS, target_rate=0.001, floor=0.8) == (0.9, 0.0009)
    assert threshold_for(POINTS, target_rate=0.01, floor=0.5) == (0.8, 0.004)
    # the floor wins when the measurements would allow a lower threshold
    assert threshold_for(POINTS, target_rate=0.05, floor=0.7)[0] == 0.7
    # a target no measured threshold meets: stricter than all of them
    assert threshold_for(POINTS[:3], target_rate=0.0001, floor=0.5)[0] == 0.9


def test_without_measurements_the_floors_stand() -> None:
    found = calibrate(
        target_benign_flag_rate=0.001,
        target_benign_watch_rate=0.01,
        extraction_floor=0.8,
        watch_floor=0.5,
        points=(),
    )
    assert (found.watch, found.extraction, found.expected_benign_flag_rate) == (0.5, 0.8, None)
