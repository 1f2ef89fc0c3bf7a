"""The warehouse: idempotent event inserts, account upserts, schema from one place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from distillguard.config import Config
from distillguard.engine import SqlError, SqlStep, recording_steps, run_steps
from distillguard.engine.dialect import to_spark
from distillguard.schema import ACCOUNTS, EVENTS, column_names
from distillguard.warehouse import Warehouse


def _events(ids: list[str]) -> pa.Table:
    rows = [
        {
            "event_id": event_id,
            "source_format": "canonical",
            "ts_start": datetime(2026, 2, 1, 12, i % 60, tzinfo=UTC),
            "account_id": f"acct-{i % 3}",
            "ingest_line": i + 1,
        }
        for i, event_id in enumerate(ids)
    ]
    return pa.Table.from_pylist(rows, schema=EVENTS)


def test_tables_have_exactly_the_schema_columns(warehouse: Warehouse) -> None:
    described = warehouse.engine.to_arrow("DESCRIBE events").column("column_name").to_pylist()
    assert described == column_names(EVENTS)


def test_reinserting_the_same_events_adds_nothing(warehouse: Warehouse) -> None:
    first = warehouse.insert_events(_events(["a", "b", "c"]))
    again = warehouse.insert_events(_events(["a", "b", "c", "d"]))
    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.stored, again.duplicates) == (1, 3)
    assert warehouse.count("events") == 4


def test_duplicates_inside_one_batch_keep_the_first(warehouse: Warehouse) -> None:
    result = warehouse.insert_events(_events(["x", "x", "y"]))
    assert (result.stored, result.duplicates) == (2, 1)


def test_accounts_upsert_last_row_wins(warehouse: Warehouse) -> None:
    def accounts(plan: str) -> pa.Table:
        return pa.Table.from_pylist(
            [{"account_id": "acct-1", "plan": plan}, {"account_id": "acct-2", "plan": "free"}],
            schema=ACCOUNTS,
        )

    warehouse.upsert_accounts(accounts("free"))
    warehouse.upsert_accounts(accounts("education"))
    plans = warehouse.engine.to_arrow("SELECT account_id, plan FROM accounts ORDER BY 1").to_pylist()
    assert plans == [{"account_id": "acct-1", "plan": "education"}, {"account_id": "acct-2", "plan": "free"}]


def test_failing_sql_carries_the_statement(warehouse: Warehouse) -> None:
    with pytest.raises(SqlError, match="no_such_table"):
        warehouse.engine.execute("SELECT * FROM no_such_table")


def test_steps_chain_by_name_and_transpile_to_spark(warehouse: Warehouse) -> None:
    warehouse.insert_events(_events(["a", "b", "c", "d"]))
    steps = [
        SqlStep("per_account", "SELECT account_id, count(*) AS n FROM events GROUP BY account_id"),
        SqlStep("busiest", "SELECT account_id FROM per_account ORDER BY n DESC, account_id LIMIT 1"),
    ]
    run_steps(warehouse.engine, steps)
    assert warehouse.engine.scalar("SELECT account_id FROM busiest") == "acct-0"
    for step in steps:
        assert sqlglot.parse_one(to_spark(step.sql), read="spark") is not None


def test_steps_run_while_recording_are_timed_in_the_order_they_ran(warehouse: Warehouse) -> None:
    warehouse.insert_events(_events(["a", "b"]))
    steps = [
        SqlStep("per_account", "SELECT account_id, count(*) AS n FROM events GROUP BY account_id"),
        SqlStep("busiest", "SELECT account_id FROM per_account ORDER BY n DESC LIMIT 1", materialise=False),
    ]
    with recording_steps() as timings:
        run_steps(warehouse.engine, steps)
    run_steps(warehouse.engine, steps)  # outside the block: not recorded
    assert [t.name for t in timings] == ["per_account", "busiest"]
    assert all(t.wall_s >= 0 and t.cpu_s >= 0 for t in timings)


def test_reopening_the_file_keeps_the_data(config: Config) -> None:
    with Warehouse.open(config.db_path) as wh:
        wh.insert_events(_events(["a"]))
    with Warehouse.open(config.db_path) as wh:
        assert wh.count("events") == 1


def test_a_warehouse_path_with_a_quote_opens_and_spills_beside_it(tmp_path: Path) -> None:
    """Issue 13, finding 6: the path was pasted into ``SET temp_directory = '...'``."""
    from distillguard.engine import sql_string

    folder = tmp_path / "it's here; DROP TABLE events; --"
    with Warehouse.open(folder / "w.duckdb") as warehouse:
        spill = warehouse.engine.scalar("SELECT current_setting('temp_directory')")
        assert str(spill).endswith("it's here; DROP TABLE events; --/w.tmp")
        assert warehouse.count("events") == 0
    assert sql_string("a'b") == "'a''b'"
