"""Each DuckDB construct the steps use means the same on Spark once the dialect bridge translates it.

Small queries over one small table, run on DuckDB and on Spark (``SparkEngine``), results
compared as sets of rows. Each case is a place where the two engines' functions share a
name, or SQLGlot's plain translation, but not a meaning; the bridge is ``engine/dialect.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from distillguard.engine.duckdb_engine import DuckDBEngine

from .parity import row_differences

pytestmark = pytest.mark.spark

ROWS = pa.table(
    {
        "k": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "x": pa.array([0.5, 2.0, 10.0, 3.25, 7.0], pa.float64()),
        "n": pa.array([3, 7, 7, 2, 5], pa.int64()),
        "s": pa.array(["b", None, "a", "ü数", "a"], pa.string()),
        "t0": pa.array(
            [
                datetime(2026, 1, 1, 0, 59, 59, 900_000),
                datetime(2026, 1, 1, 23, 0),
                datetime(2026, 1, 2, 0, 0),
                datetime(2026, 1, 3, 12, 30, 0, 250_000),
                datetime(2026, 1, 4, 5, 0),
            ],
            pa.timestamp("us"),
        ),
        "t1": pa.array(
            [
                datetime(2026, 1, 1, 1, 0, 0, 100_000),
                datetime(2026, 1, 2, 0, 30),
                datetime(2026, 1, 2, 0, 0),
                datetime(2026, 1, 5, 11, 0),
                datetime(2026, 1, 4, 5, 0, 0, 1),
            ],
            pa.timestamp("us"),
        ),
    }
)

CASES = {
    # epoch keeps microseconds on DuckDB (Spark's unix_timestamp drops them)
    "epoch_fraction": "SELECT k, epoch(t1) - epoch(t0) AS gap FROM rows",
    # date_diff counts unit boundaries crossed on DuckDB (Spark's counts whole units)
    "date_diff_boundaries": (
        "SELECT k, date_diff('hour', t0, t1) AS h, date_diff('day', t0, t1) AS d,"
        " date_diff('minute', t0, t1) AS m FROM rows"
    ),
    # a decimal literal in an average or a ratio is a DOUBLE's worth of precision on DuckDB
    "decimal_literals": (
        "SELECT avg(CASE WHEN n > 4 THEN 1.0 ELSE 0.0 END) AS share,"
        " sum(CASE WHEN n > 2 THEN 1.0 ELSE 0.0 END) / count(*) AS ratio,"
        " date_diff('hour', min(t0), max(t1)) / 24.0 AS days FROM rows"
    ),
    # log(x) is base 10 on DuckDB, natural on Spark
    "log_base": "SELECT k, log(x) AS l, ln(x) AS e, log10(x) AS d FROM rows",
    # greatest of one argument is valid on DuckDB only
    "greatest_of_one": "SELECT k, greatest(x) AS g, least(n) AS l FROM rows",
    # NULLs sort last by default on DuckDB, first on Spark (ascending)
    "null_ordering": "SELECT k, row_number() OVER (ORDER BY s, k) AS r FROM rows",
    # concat skips NULLs on DuckDB; Spark's concat would be NULL
    "concat_nulls": "SELECT k, concat('v-', s) AS c FROM rows",
    # arg_min with a struct key: the smallest (-n, s) wins, ties broken by s
    "arg_min_struct_tie_break": "SELECT arg_min(k, (-n, s)) AS top FROM rows",
    # lists are 1-based on DuckDB, 0-based on Spark
    "list_index_base": "SELECT k, [n, n + 1, n + 2][2] AS second FROM rows",
    # md5 as the same hex string; substr 1-based; length in characters
    "md5_substr_length": "SELECT k, substr(md5(coalesce(s, '')), 1, 12) AS h, length(s) AS len FROM rows",
    # day truncation and the hour of day read in UTC
    "date_trunc_hour": "SELECT k, date_trunc('day', t0) AS day, hour(t1) AS hr FROM rows",
    # integer division and division of integers
    "integer_division": "SELECT k, n // 2 AS q, n / 2 AS r FROM rows",
    # the aggregates the features use
    "aggregates": (
        "SELECT median(x) AS med, stddev_pop(x) AS sd, count(DISTINCT s) AS kinds, sum(n) AS total,"
        " any_value(CASE WHEN k > 0 THEN 'same' END) AS same FROM rows"
    ),
    # floor then an integer cast (the steps never cast a fraction straight to an integer)
    "floor_cast": "SELECT k, CAST(floor(epoch(t0) / 21600) AS BIGINT) AS slot FROM rows",
    # list aggregation and filtering, compared order-free through their sizes
    "list_filter": (
        "WITH l AS (SELECT list(n) AS ns FROM rows)"
        " SELECT len(list_filter(ns, v -> v > 4)) AS big, array_length(ns) AS total FROM l"
    ),
}


@pytest.fixture(scope="module")
def engines(spark_session: Any) -> Iterator[tuple[DuckDBEngine, Any]]:
    from distillguard.engine.spark_engine import SparkEngine

    duck, spark = DuckDBEngine(), SparkEngine(spark_session)
    for engine in (duck, spark):
        engine.register("rows", ROWS)
    yield duck, spark
    duck.close()
    spark.close()


@pytest.mark.parametrize("sql", CASES.values(), ids=CASES.keys())
def test_construct_means_the_same_on_spark(sql: str, engines: tuple[DuckDBEngine, Any]) -> None:
    duck, spark = engines
    expected = duck.to_arrow(sql)
    assert expected.num_rows > 0
    assert row_differences(expected, spark.to_arrow(sql)) == []


def test_steps_materialise_insert_delete_and_rename_on_spark(engines: tuple[DuckDBEngine, Any]) -> None:
    """The statements the scan runs besides SELECT leave the same table on both engines."""
    statements = [
        "CREATE TABLE made AS SELECT k, n FROM rows WHERE n > 2",
        "INSERT INTO made SELECT k + 10, NULL FROM rows WHERE k < 3",
        "INSERT INTO made (n, k) SELECT 9, k + 20 FROM rows WHERE k = 1",
        "INSERT INTO made (k) SELECT k + 30 FROM rows WHERE k = 2",
        "DELETE FROM made WHERE n = 7",
        "ALTER TABLE made RENAME TO kept",
        "CREATE VIEW seen AS SELECT k FROM kept WHERE n IS NULL",
    ]
    for engine in engines:
        for statement in statements:
            engine.execute(statement)
    duck, spark = engines
    for table in ("kept", "seen"):
        query = f"SELECT * FROM {table}"
        assert row_differences(duck.to_arrow(query), spark.to_arrow(query)) == []
    assert not spark.exists("made")
    # every replaced or renamed result's files are gone: one table's worth is left, not four
    assert len(os.listdir(spark.workdir)) == 1
