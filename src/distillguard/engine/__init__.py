"""The SQL engine behind a handful of methods: DuckDB by default, Spark optional."""

from distillguard.engine.base import (
    Engine,
    SqlError,
    SqlFunction,
    SqlStep,
    StepTiming,
    recording_steps,
    run_steps,
    sql_string,
)
from distillguard.engine.duckdb_engine import DuckDBEngine

__all__ = [
    "DuckDBEngine",
    "Engine",
    "SqlError",
    "SqlFunction",
    "SqlStep",
    "StepTiming",
    "recording_steps",
    "run_steps",
    "sql_string",
]
