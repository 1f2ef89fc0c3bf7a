"""The embedded warehouse: canonical tables in one DuckDB file.

Tables are created from the Arrow schemas in ``schema`` so the column names have
one definition. Event inserts are idempotent (dedup on ``event_id``) and account
inserts upsert, so re-ingesting a file changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from distillguard.engine import DuckDBEngine
from distillguard.rules import request_shape_sql
from distillguard.schema import ACCOUNTS, EVENTS, INGEST_RUNS, QUARANTINE, TABLES, column_names

_STAGE = "_incoming_batch"
# Events columns computed from other columns of the same row on every insert (whatever the
# caller sent for them), and filled in when an older warehouse gains them on open.
DERIVED_EVENT_COLUMNS: dict[str, str] = {"request_shape": request_shape_sql()}


@dataclass(frozen=True)
class InsertResult:
    stored: int
    duplicates: int


class Warehouse:
    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        for name in ("events", "accounts", "quarantine", "ingest_runs"):
            self.ensure_table(name, TABLES[name])

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Warehouse:
        return cls(DuckDBEngine(path, read_only=read_only))

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- tables
    def ensure_table(self, name: str, schema: pa.Schema) -> None:
        """Create ``name`` with exactly ``schema``'s columns and types if missing.

        A table a previous version created gains the columns added since (NULL for the rows it
        already holds), so a warehouse from before an upgrade keeps working; writers insert by
        column name, so the order of columns does not matter.
        """
        if self.engine.exists(name):
            self._add_missing_columns(name, schema)
            return
        self.engine.register(_STAGE, schema.empty_table())
        try:
            self.engine.execute(f"CREATE TABLE {name} AS SELECT * FROM {_STAGE} LIMIT 0")
        finally:
            self.engine.unregister(_STAGE)

    def _add_missing_columns(self, name: str, schema: pa.Schema) -> None:
        if getattr(self.engine, "read_only", False):
            return
        have = {
            r["column_name"]
            for r in self.engine.to_arrow(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]
            ).to_pylist()
        }
        for field in (f for f in schema if f.name not in have):
            # the engine's own type for the Arrow type, read off an empty staged column
            self.engine.register(_STAGE, pa.table({field.name: pa.array([], field.type)}))
            try:
                described = self.engine.to_arrow(f"DESCRIBE SELECT {field.name} FROM {_STAGE}").to_pylist()
            finally:
                self.engine.unregister(_STAGE)
            self.engine.execute(f"ALTER TABLE {name} ADD COLUMN {field.name} {described[0]['column_type']}")
            if name == "events" and field.name in DERIVED_EVENT_COLUMNS:
                # a warehouse from before the column: fill it with the same SQL ingest uses
                self.engine.execute(f"UPDATE events SET {field.name} = {DERIVED_EVENT_COLUMNS[field.name]}")

    def replace_table(self, name: str, table: pa.Table) -> None:
        """Replace a derived table (detector output) with ``table``."""
        self.engine.register(_STAGE, table)
        try:
            self.engine.drop(name)
            self.engine.execute(f"CREATE TABLE {name} AS SELECT * FROM {_STAGE}")
        finally:
            self.engine.unregister(_STAGE)

    # ----------------------------------------------------------------- writes
    def insert_events(self, batch: pa.Table) -> InsertResult:
        """Append events whose ``event_id`` is new; count the rest as duplicates.

        Duplicates inside the batch keep their first occurrence.
        """
        if batch.num_rows == 0:
            return InsertResult(0, 0)
        batch = batch.select(column_names(EVENTS)).cast(EVENTS)
        before = self._count("events")
        columns = ", ".join(column_names(EVENTS))
        derived = ", ".join(
            f"{DERIVED_EVENT_COLUMNS[c]} AS {c}" if c in DERIVED_EVENT_COLUMNS else c
            for c in column_names(EVENTS)
        )
        self.engine.register(_STAGE, batch)
        try:
            self.engine.execute(
                f"""
                INSERT INTO events ({columns})
                SELECT {derived} FROM (
                    SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingest_line) AS _dup
                    FROM {_STAGE}
                ) AS b
                WHERE _dup = 1
                  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = b.event_id)
                """
            )
        finally:
            self.engine.unregister(_STAGE)
        stored = self._count("events") - before
        return InsertResult(stored, batch.num_rows - stored)

    def upsert_accounts(self, table: pa.Table) -> int:
        """Insert or replace account records by ``account_id`` (last row wins)."""
        if table.num_rows == 0:
            return 0
        table = table.select(column_names(ACCOUNTS)).cast(ACCOUNTS)
        columns = ", ".join(column_names(ACCOUNTS))
        self.engine.register(_STAGE, table)
        try:
            self.engine.execute(f"DELETE FROM accounts WHERE account_id IN (SELECT account_id FROM {_STAGE})")
            self.engine.execute(
                f"""
                INSERT INTO accounts
                SELECT {columns} FROM (
                    SELECT *, row_number() OVER (PARTITION BY account_id) AS _n,
                           count(*) OVER (PARTITION BY account_id) AS _c
                    FROM {_STAGE}
                ) WHERE _n = _c
                """
            )
        finally:
            self.engine.unregister(_STAGE)
        return table.num_rows

    def add_quarantine(self, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        self._append("quarantine", table.select(column_names(QUARANTINE)).cast(QUARANTINE))
        return table.num_rows

    def record_run(self, table: pa.Table) -> None:
        self._append("ingest_runs", table.select(column_names(INGEST_RUNS)).cast(INGEST_RUNS))

    def _append(self, name: str, table: pa.Table) -> None:
        self.engine.register(_STAGE, table)
        try:
            self.engine.execute(f"INSERT INTO {name} SELECT * FROM {_STAGE}")
        finally:
            self.engine.unregister(_STAGE)

    # ------------------------------------------------------------------ reads
    def _count(self, name: str) -> int:
        value = self.engine.scalar(f"SELECT count(*) FROM {name}")
        return int(value) if isinstance(value, int) else 0

    def count(self, name: str) -> int:
        return self._count(name)
