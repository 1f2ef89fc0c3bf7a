"""Dialect quirks in one place: our SQL is written for DuckDB and transpiled."""

from __future__ import annotations

import sqlglot


def to_spark(sql: str) -> str:
    """DuckDB SQL as Spark SQL; raises sqlglot.ParseError when it cannot."""
    return ";\n".join(
        sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    )
