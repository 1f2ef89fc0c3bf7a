"""The last step of the SQL ingest path: a stage's valid rows into ``events``.

``fastpath.ingest_staged`` stages a file (``stage``, ``firsts``) and derives its fingerprints
and keyed hashes (``fp``, ``keys``, ``ips``, ``systems``) in a staging database; this joins
them into event rows and inserts those whose event id the warehouse does not hold yet, in one
streaming statement, or as Arrow batches inside a caller's open transaction (follow mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from distillguard import fingerprints
from distillguard.config import Config
from distillguard.engine import DuckDBEngine, sql_string
from distillguard.ingest import line_numbers
from distillguard.rules import request_shape_sql
from distillguard.schema import EVENTS, column_names
from distillguard.warehouse import Warehouse

if TYPE_CHECKING:
    from distillguard.ingest.fastpath import Origin
    from distillguard.ingest.run import FileReport

# What one staging step may hold in memory (DuckDB spills beyond it): bounded by settings,
# not by the size of the file.
STAGING_MEMORY = "1GB"


def insert_staged(
    warehouse: Warehouse,
    stage_db: Path,
    origin: Origin,
    config: Config,
    report: FileReport,
    lines: line_numbers.Numbering,
    *,
    in_transaction: bool = False,
) -> None:
    """One INSERT ... SELECT from the attached staging file: DuckDB does the join and dedup in
    bulk. Inside its caller's transaction the staging file cannot be attached (DuckDB refuses to
    detach a database the open transaction has read), so the joined rows stream to the
    warehouse as Arrow batches instead, and only the dedup against ``events`` runs there."""
    max_chars = int(config.max_prompt_chars)
    keep = config.text_storage == "store"

    def text(column: str) -> str:
        return f"left(s.{column}, {max_chars})" if keep else "CAST(NULL AS VARCHAR)"

    fresh = "fp.f_hash IS NOT NULL"
    file_literal = "'" + origin.file.replace("'", "''") + "'"
    computed = {
        "ingest_file": f"CAST({file_literal} AS VARCHAR)",
        "ingest_line": f"{origin.line_base} + " + ("f.line" if lines.mapped else lines.record("s")),
        "api_key_hash": "coalesce(s.api_key_hash, keys.k_hash)",
        "client_ip_hash": "coalesce(s.client_ip_hash, ips.i_hash)",
        "ip_prefix_hash": "coalesce(s.ip_prefix_hash, ips.i_prefix)",
        "ip_prefix_community_hash": "coalesce(s.ip_prefix_community_hash, ips.i_community)",
        "prompt_text": text("prompt_text"),
        "context_text": text("context_text"),
        "response_text": text("response_text"),
        "prompt_chars": "coalesce(s.prompt_chars, length(s.prompt_text))",
        "response_chars": "coalesce(s.response_chars, length(s.response_text))",
        "prompt_hash": f"CASE WHEN {fresh} THEN fp.f_hash ELSE s.prompt_hash END",
        "skeleton_hash": f"CASE WHEN {fresh} THEN fp.f_skel ELSE s.skeleton_hash END",
        "prompt_minhash": f"CASE WHEN {fresh} THEN fp.f_minhash ELSE s.prompt_minhash END",
        "fingerprint_version": f"CASE WHEN {fresh} THEN '{fingerprints.FINGERPRINT_VERSION}' "
        "ELSE s.fingerprint_version END",
        "sdk_fingerprint": "coalesce(s.sdk_fingerprint, CASE WHEN s.user_agent <> '' THEN 'ua=' || "
        "lower(split_part(split_part(trim(s.user_agent), '/', 1), ' ', 1)) END)",
        "attrs": "coalesce(s.attrs, MAP {})",
        "system_prompt_hash": "coalesce(s.system_prompt_hash, systems.s_hash)",
        "request_shape": request_shape_sql("s."),
    }
    names = column_names(EVENTS)
    select = ", ".join(f"{computed.get(name, 's.' + name)} AS {name}" for name in names)

    def joined(db: str) -> str:
        """The stage's valid rows, first of each event id, with what ``_derive`` computed."""
        return f"""
                FROM {db}stage s
                {"JOIN" if lines.mapped else "SEMI JOIN"} {db}firsts f ON f.first_row = s.rowid
                LEFT JOIN {db}fp fp ON fp.prompt_text = s.prompt_text
                LEFT JOIN {db}keys keys ON keys.api_key_id = s.api_key_id
                LEFT JOIN {db}ips ips ON ips.client_ip = s.client_ip
                LEFT JOIN {db}systems systems ON systems._system_text = s._system_text"""

    engine = warehouse.engine
    columns = ", ".join(names)
    before = warehouse.count("events")
    bar = engine.scalar("SELECT current_setting('enable_progress_bar')")
    engine.execute("SET enable_progress_bar = false")
    try:
        with engine.memory_limit(STAGING_MEMORY):  # bounded by settings, not by file size
            if in_transaction:
                valid = _stream_insert(
                    engine, stage_db, select, joined(""), columns, int(config.batch_size_rows)
                )
            else:
                alias = "_dg_stage"
                engine.execute(f"ATTACH {sql_string(stage_db)} AS {alias} (READ_ONLY)")
                try:
                    valid = engine.scalar(f"SELECT count(*) FROM {alias}.stage WHERE _reason IS NULL")
                    # One streaming statement: the stage is the probe side of every join, so no
                    # operator holds its wide rows (no ORDER BY: the scan's order is kept by the
                    # order-preserving insert); `firsts` (narrow) names the first line of each
                    # event id, and the anti join drops ids the warehouse already has.
                    engine.execute(
                        f"""
                        INSERT INTO events ({columns})
                        SELECT {select} {joined(alias + ".")}
                        ANTI JOIN (SELECT event_id FROM events) e ON e.event_id = s.event_id
                        """
                    )
                finally:
                    engine.execute(f"DETACH {alias}")
    finally:
        engine.execute(f"SET enable_progress_bar = {bool(bar)}")
    stored = warehouse.count("events") - before
    total = int(valid) if isinstance(valid, int) else 0
    report.read += total
    report.stored += stored
    report.duplicates += total - stored


def _stream_insert(
    engine: DuckDBEngine, stage_db: Path, select: str, joined: str, columns: str, batch_rows: int
) -> object:
    """The stage's rows as Arrow batches from a read-only connection to the staging file, into
    ``events`` less the event ids it already has; the count of valid stage rows."""
    staging = duckdb.connect(str(stage_db), read_only=True)
    stream = "_dg_staged_rows"
    try:
        staging.execute(f"SET memory_limit = '{STAGING_MEMORY}'")
        staging.execute("SET TimeZone = 'UTC'")
        staging.execute("SET preserve_insertion_order = true")
        valid = staging.execute("SELECT count(*) FROM stage WHERE _reason IS NULL").fetchone()
        reader = staging.execute(f"SELECT {select} {joined}").to_arrow_reader(max(1, batch_rows))
        engine.register(stream, reader)
        try:
            engine.execute(
                f"""INSERT INTO events ({columns}) SELECT {columns} FROM {stream} r
                    ANTI JOIN (SELECT event_id FROM events) e ON e.event_id = r.event_id"""
            )
        finally:
            engine.unregister(stream)
    finally:
        staging.close()
    return valid[0] if valid else 0
