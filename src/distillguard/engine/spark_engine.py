"""Spark, for scale: the same SQL steps, transpiled by SQLGlot.

pyspark is imported lazily and is not a dependency: install it where Spark runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from distillguard.engine.base import SqlError, SqlFunction
from distillguard.engine.dialect import to_spark


class SparkEngine:
    dialect = "spark"

    def __init__(self, session: Any | None = None) -> None:
        if session is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError("the Spark engine needs pyspark installed") from exc
            session = SparkSession.builder.appName("distillguard").getOrCreate()
        self.session = session

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        self.session.createDataFrame(table.to_pandas()).createOrReplaceTempView(name)

    def register_function(self, function: SqlFunction) -> None:
        # a row-at-a-time Python UDF, typed in Spark's syntax (not exercised here: no pyspark)
        returns = exp.DataType.build(function.returns, dialect="duckdb").sql("spark")
        self.session.udf.register(function.name, function.function, returns)

    def execute(self, sql: str, params: Sequence[object] | None = None) -> None:
        self._run(sql)

    def to_arrow(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return pa.Table.from_pandas(self._run(sql).toPandas())

    def _run(self, sql: str) -> Any:
        spark_sql = to_spark(sql)
        try:
            return self.session.sql(spark_sql)
        except Exception as exc:  # Spark raises many unrelated types
            raise SqlError(spark_sql, exc) from exc

    def exists(self, name: str) -> bool:
        return bool(self.session.catalog.tableExists(name))

    def drop(self, name: str) -> None:
        self.session.sql(f"DROP VIEW IF EXISTS {name}")
        self.session.sql(f"DROP TABLE IF EXISTS {name}")
