"""DuckDB, the embedded default: one file, no server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
from duckdb.func import PythonUDFType

from distillguard.engine.base import SqlError, SqlFunction, sql_string

log = logging.getLogger("distillguard.sql")


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        self.connection = duckdb.connect(self.path, read_only=read_only)
        if memory_limit:
            self.connection.execute(f"SET memory_limit = {sql_string(memory_limit)}")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        # Spill to a temp directory beside the database instead of failing large scans.
        if self.path != ":memory:" and not read_only:
            spill = Path(self.path).with_suffix(".tmp")
            self.connection.execute(f"SET temp_directory = {sql_string(spill)}")
        self.connection.execute("SET TimeZone = 'UTC'")
        self._functions: set[str] = set()

    # The one choke point: every statement is logged and failures carry their SQL.
    def _run(self, sql: str, params: Sequence[object] | None) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        try:
            result = self.connection.execute(sql, params) if params else self.connection.execute(sql)
        except duckdb.Error as exc:
            raise SqlError(sql, exc) from exc
        log.debug("%.1f ms  %s", (time.perf_counter() - started) * 1e3, " ".join(sql.split())[:300])
        return result

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self.connection.register(name, table)

    def register_function(self, function: SqlFunction) -> None:
        if function.name in self._functions:
            return
        udf_type = PythonUDFType.NATIVE
        call = function.function
        if function.arrow_function is not None:  # a vector of rows per call, not one
            udf_type, call = PythonUDFType.ARROW, function.arrow_function
        self.connection.create_function(
            function.name,
            call,
            [duckdb.sqltype(t) for t in function.parameters],
            duckdb.sqltype(function.returns),
            type=udf_type,
            side_effects=False,
        )
        self._functions.add(function.name)

    def unregister(self, name: str) -> None:
        self.connection.unregister(name)

    def execute(self, sql: str, params: Sequence[object] | None = None) -> None:
        self._run(sql, params)

    def to_arrow(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return self._run(sql, params).to_arrow_table()

    def scalar(self, sql: str, params: Sequence[object] | None = None) -> object:
        row = self._run(sql, params).fetchone()
        return row[0] if row else None

    def exists(self, name: str) -> bool:
        found = self._run(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(found and found[0])

    def drop(self, name: str) -> None:
        kind = self._run(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        if kind:
            self._run(f"DROP {'VIEW' if kind[0] == 'VIEW' else 'TABLE'} {name}", None)

    @contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        """DuckDB's memory limit set to ``limit`` (a validated size) inside the block; '' leaves it."""
        if not limit:
            yield
            return
        previous = self.scalar("SELECT current_setting('memory_limit')")
        self.execute(f"SET memory_limit = {sql_string(limit)}")
        try:
            yield
        finally:
            self.execute(f"SET memory_limit = {sql_string(str(previous))}")

    def close(self) -> None:
        self.connection.close()
