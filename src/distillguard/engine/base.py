"""The engine interface every SQL step runs through.

Detectors and scoring never open connections: they return ``SqlStep`` lists and
an ``Engine`` runs them. Every statement passes ``Engine.execute``, the one
choke point that logs it and re-raises failures with the SQL attached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

log = logging.getLogger("distillguard.sql")


@dataclass(frozen=True)
class SqlFunction:
    """A Python scalar function a step's SQL calls by ``name`` (types in DuckDB's syntax).

    For a rule that only Python can compute (the prompt classifier): the step calls the
    very function the real-time path calls, so there is still one implementation.
    """

    name: str
    function: Callable[..., Any]
    parameters: tuple[str, ...]
    returns: str
    # the same computation over a whole Arrow vector, for engines that call it that way
    # (DuckDB): a row-at-a-time Python call costs more than the work for short texts
    arrow_function: Callable[..., Any] | None = None


@dataclass(frozen=True)
class SqlStep:
    """One named step: ``sql`` is a SELECT whose result becomes table ``name``.

    ``materialise=False`` makes it a view (cheap, recomputed on use). ``scratch=True``
    marks a work table that nothing reads once the run is over: DuckDB keeps it as a
    TEMP table or view (memory, spilling to the temp directory), never written to the
    database file, which on the medium benchmark cost more than computing some of them.
    """

    name: str
    sql: str
    materialise: bool = True
    scratch: bool = False
    functions: tuple[SqlFunction, ...] = ()  # registered on the engine before the step runs


def sql_string(value: str | Path) -> str:
    """``value`` as a SQL string literal, quotes doubled.

    For the few statements that take no parameters (``SET``, ``ATTACH``, ``COPY ... TO``,
    table functions' file arguments): a path or setting containing ``'`` must stay one
    string, never end it and start SQL of its own.
    """
    text = value.as_posix() if isinstance(value, Path) else str(value)
    if "\x00" in text:
        raise ValueError("a SQL string cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


class SqlError(RuntimeError):
    """A statement failed; the message carries the SQL that failed."""

    def __init__(self, sql: str, cause: Exception) -> None:
        super().__init__(f"{cause}\n--- while running SQL ---\n{sql}")
        self.sql = sql
        self.cause = cause


class Engine(Protocol):
    dialect: str

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        """Expose an Arrow table under ``name`` for the following statements."""

    def execute(self, sql: str, params: Sequence[object] | None = None) -> None:
        """Run a statement for its effect."""

    def to_arrow(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        """Run a query and return its result as Arrow."""

    def exists(self, name: str) -> bool:
        """Whether a table or view of that name exists."""

    def drop(self, name: str) -> None:
        """Drop a table or view if it exists."""

    def register_function(self, function: SqlFunction) -> None:
        """Make a Python scalar function callable from SQL (once per name and engine)."""


@dataclass(frozen=True)
class StepTiming:
    """What one step cost: wall seconds, and CPU seconds of the whole process (every engine
    thread), which stay comparable when other work shares the machine."""

    name: str
    wall_s: float
    cpu_s: float


_recording: ContextVar[list[StepTiming] | None] = ContextVar("step_timings", default=None)


@contextmanager
def recording_steps() -> Iterator[list[StepTiming]]:
    """Every step ``run_steps`` runs inside the block, in order, with its cost.

    A context variable rather than a parameter: steps are run from the pipeline, the graph
    loop and the campaign builder alike, and timing them needs no change to any of them.
    """
    timings: list[StepTiming] = []
    token = _recording.set(timings)
    try:
        yield timings
    finally:
        _recording.reset(token)


def run_steps(engine: Engine, steps: Sequence[SqlStep]) -> None:
    """Materialise each step in order; later steps may read earlier ones by name."""
    temporary = getattr(engine, "dialect", "") == "duckdb"
    timings = _recording.get()
    for step in steps:
        kind = "TABLE" if step.materialise else "VIEW"
        if step.scratch and temporary:
            kind = f"TEMP {kind}"
        for function in step.functions:
            engine.register_function(function)
        started, cpu = time.perf_counter(), time.process_time()
        engine.drop(step.name)
        engine.execute(f"CREATE {kind} {step.name} AS {step.sql}")
        if timings is not None:
            timings.append(StepTiming(step.name, time.perf_counter() - started, time.process_time() - cpu))
