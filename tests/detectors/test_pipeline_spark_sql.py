"""Every SQL step the scan emits transpiles to Spark SQL that Spark's grammar accepts.

A fast check on every machine, pyspark or not: a step that stops transpiling fails here
first. That the translated steps give DuckDB's *results* on a real Spark is proved by
``tests/engine/test_spark_parity.py`` (from the subject level on; docs/spark.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlglot

from distillguard.detectors import prompt_steps
from distillguard.detectors.campaigns import campaign_steps
from distillguard.engine.base import SqlStep
from distillguard.engine.dialect import to_spark
from distillguard.scan import graph, pipeline


def _every_step() -> list[SqlStep]:
    until = pipeline.until_literal(datetime(2026, 2, 3, tzinfo=UTC))
    return [
        *prompt_steps(until_literal=until),
        *pipeline.sql_steps(until_literal=until, has_accounts=True),
        *pipeline.sql_steps(until_literal=None, has_accounts=False),
        graph.label_init_step(),
        graph.label_round_step(),
        graph.members_step(),
        graph.lpa_nodes_step(),
        graph.lpa_labels_step(),
        graph.symmetric_links_step(),
        graph.members_step(named="name"),
        graph.lpa_round_step(1),
        graph.lpa_round_step(everyone=True),
        *campaign_steps(),
    ]


@pytest.mark.parametrize("step", _every_step(), ids=lambda s: s.name)
def test_step_transpiles_to_spark(step: SqlStep) -> None:
    spark = to_spark(step.sql)
    assert spark.strip().upper().startswith(("SELECT", "WITH"))
    assert isinstance(sqlglot.parse_one(spark, read="spark"), sqlglot.exp.Query), step.name
