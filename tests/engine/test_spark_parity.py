"""The whole scan gives the same results on Spark as on DuckDB.

One tiny simulated warehouse is ingested and scanned on DuckDB as a user does. Its inputs
(events and accounts) are loaded into a local Spark session, and the very same
``pipeline.scan`` runs there with a ``SparkEngine`` behind the warehouse: the prompt level
(pattern matching, the classifier's scores handed in as a table, prompt signals), every SQL
step from the subject level on (features, evidence, indicators, graph links, label
propagation, satellites, clusters, cohorts, campaigns), scoring, calibration, campaign ids
and findings. Every table the scan leaves is then compared with DuckDB's as a set of rows,
floats to a tolerance (``parity.py``).

What this does not prove (docs/spark.md): that every regular expression of the prompt
rules means the same in Java's engine as in RE2 on texts the simulator does not write;
scale; Spark versions other than the pinned one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config, load_config
from distillguard.engine.duckdb_engine import DuckDBEngine
from distillguard.ingest.run import ingest_paths
from distillguard.scan import pipeline
from distillguard.scan.pipeline import KEPT_TABLES, ScanResult
from distillguard.simulate import preset
from distillguard.simulate.run import run_scenario
from distillguard.warehouse import Warehouse

from .parity import row_differences

pytestmark = pytest.mark.spark

# What the scan reads and does not make itself.
SCAN_INPUTS = ("events", "accounts", "partner_matches")
# Tables the scan writes from Python rows (scores, verdicts, ids, findings text).
SCORED_TABLES = ("account_scores", "subject_scores", "clusters", "campaigns", "findings", "scan_thresholds")
# Columns that hold the wall-clock moment of a run, not a result.
RUN_MOMENTS = ("created_at", "scanned_at", "first_registered")


@pytest.fixture(scope="module")
def duckdb_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, ScanResult]:
    out = tmp_path_factory.mktemp("spark-parity")
    run_scenario(preset("tiny"), out)
    config = load_config(db_path=str(out / "dg.duckdb"), hmac_secret="spark-parity")
    with Warehouse.open(config.db_path) as warehouse:
        ingest_paths(
            warehouse, [out / "traffic"], config=config, accounts=out / "accounts.csv", progress=False
        )
        result = pipeline.scan(warehouse, config)
    return config, Path(config.db_path), result


@pytest.fixture(scope="module")
def spark_scan(
    spark_session: Any, duckdb_scan: tuple[Config, Path, ScanResult]
) -> Iterator[tuple[Any, ScanResult]]:
    from distillguard.engine.spark_engine import SparkEngine

    config, db_path, _ = duckdb_scan
    engine = SparkEngine(spark_session)
    try:  # the engine's work directory goes even when the scan fails
        warehouse = Warehouse(engine)  # type: ignore[arg-type]  # the warehouse needs only the Engine methods
        duck = DuckDBEngine(db_path, read_only=True)
        try:
            for name in SCAN_INPUTS:
                if duck.exists(name):
                    engine.register(name, duck.to_arrow(f"SELECT * FROM {name}"))
        finally:
            duck.close()
        yield engine, pipeline.scan(warehouse, config)
    finally:
        engine.close()


def test_spark_scan_reaches_the_same_verdicts(
    duckdb_scan: tuple[Config, Path, ScanResult], spark_scan: tuple[Any, ScanResult]
) -> None:
    expected, actual = duckdb_scan[2], spark_scan[1]
    assert actual.accounts == expected.accounts > 0
    assert actual.verdicts == expected.verdicts
    assert (actual.clusters, actual.cohorts, actual.campaigns) == (
        expected.clusters,
        expected.cohorts,
        expected.campaigns,
    )
    assert actual.cluster_verdicts == expected.cluster_verdicts
    assert actual.graph_rounds == expected.graph_rounds
    assert actual.findings == expected.findings
    assert actual.thresholds == expected.thresholds
    assert actual.prompt_level == expected.prompt_level


@pytest.mark.parametrize("table", sorted({*KEPT_TABLES, *SCORED_TABLES}))
def test_spark_table_matches_duckdb(
    table: str, duckdb_scan: tuple[Config, Path, ScanResult], spark_scan: tuple[Any, ScanResult]
) -> None:
    engine = spark_scan[0]
    duck = DuckDBEngine(duckdb_scan[1], read_only=True)
    try:
        expected = duck.to_arrow(f"SELECT * FROM {table}")
    finally:
        duck.close()
    actual = engine.to_arrow(f"SELECT * FROM {table}")
    assert row_differences(expected, actual, ignore=RUN_MOMENTS) == []
