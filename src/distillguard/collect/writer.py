"""The one writer: exports queue here and are written to the warehouse in batches.

Why a writer thread that opens the warehouse for each flush and closes it after:

- DuckDB lets one process write a database file and then no other process may open it,
  not even read-only. The decision service reloads verdicts from the warehouse and
  ``scan`` writes it; a receiver holding the file would lock both out. Opening per flush
  (every ``collect_flush_interval_ms``, or sooner when ``batch_size_rows`` are waiting)
  leaves the file free in between. When a scan holds the file, the flush waits and tries
  again; exports keep queueing up to ``collect_max_pending_bytes`` and past that are
  answered 503 with Retry-After, which OTLP exporters retry with back-off.
- Group commit: each export waits for the flush that writes it, then is answered. A
  sender is told "accepted" only once its spans are on disk, and many exports share one
  transaction (events, quarantine and the ingest_runs row of each export commit together).

Accounting matches file ingest: every GenAI span of an export is stored, a duplicate
(its span id is already stored, or earlier in the same flush) or quarantined, and each
export leaves one ``ingest_runs`` row whose file is the request name.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from distillguard.collect.spans import ExportBatch
from distillguard.ingest.batches import quarantine_row, quarantine_table
from distillguard.ingest.run import add_quarantine_once
from distillguard.schema import INGEST_RUNS
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.collect")

# A locked warehouse is retried after this long, doubling up to the cap: a scan takes
# seconds to minutes, and each try costs a file open.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class Written:
    """How one export ended: every GenAI span read is in exactly one of the three counts."""

    read: int
    stored: int
    duplicates: int
    quarantined: int


class Backlogged(Exception):
    """The queue already holds ``collect_max_pending_bytes``: the export is refused (503)."""


@dataclass
class _Queued:
    batch: ExportBatch
    done: Future[Written]


class WarehouseWriter:
    """Queue of converted exports, written by one thread in group-committed flushes."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        flush_rows: int,
        flush_interval_s: float,
        max_pending_bytes: int,
        memory_limit: str = "",
        open_warehouse: Callable[[Path], Warehouse] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.flush_rows = max(1, flush_rows)
        self.flush_interval_s = flush_interval_s
        self.max_pending_bytes = max_pending_bytes
        self.memory_limit = memory_limit
        self._open = open_warehouse or (lambda path: Warehouse.open(path))
        self._queue: list[_Queued] = []
        self._pending_rows = 0
        self.pending_bytes = 0  # queued, not yet taken by a flush
        self.writing_bytes = 0  # taken by the flush in progress
        self._oldest: float | None = None
        self._wake = threading.Condition()
        self._closing = False
        self.last_error: str | None = None
        self.flushes = 0
        self.totals = {"stored": 0, "duplicates": 0, "quarantined": 0}
        self._thread = threading.Thread(target=self._run, name="distillguard-collect-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ submit
    def submit(self, batch: ExportBatch) -> Future[Written]:
        """Queue ``batch``; the future resolves once it is written (raises Backlogged when full)."""
        done: Future[Written] = Future()
        size = batch.pending_bytes
        with self._wake:
            if self._closing:
                raise Backlogged("the receiver is shutting down")
            if self._queue and self.held_bytes + size > self.max_pending_bytes:
                raise Backlogged(
                    f"{self.held_bytes} bytes already wait to be written (collect_max_pending_bytes)"
                )
            self._queue.append(_Queued(batch, done))
            self.pending_bytes += size
            self._pending_rows += batch.events.num_rows + batch.rejected
            if self._oldest is None:  # the thread sleeps without a deadline until the first export
                self._oldest = time.monotonic()
                self._wake.notify()
            elif self._pending_rows >= self.flush_rows:
                self._wake.notify()
        return done

    @property
    def held_bytes(self) -> int:
        """Everything not yet committed: the queue and the flush in progress (the memory bound)."""
        return self.pending_bytes + self.writing_bytes

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued (trying for up to ``timeout_s``), then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            unwritten = len(self._queue)
            log.error(
                "collect writer did not finish within %.0f s; %d exports unwritten", timeout_s, unwritten
            )

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        retry_s = RETRY_FIRST_S
        while True:
            with self._wake:
                while not self._due():
                    self._wake.wait(self._wait_s())
                closing = self._closing
                taken, self._queue = self._queue, []
                taken_bytes, self.pending_bytes = self.pending_bytes, 0
                self.writing_bytes = taken_bytes
                self._pending_rows, self._oldest = 0, None
            if not taken:
                if closing:
                    return
                continue
            try:
                outcomes = self._write(taken)
            except Exception as exc:  # the warehouse is locked or failed: keep the exports, try again
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning(
                    "collect: writing %d exports failed (%s); retrying in %.1f s",
                    len(taken),
                    self.last_error,
                    retry_s,
                )
                with self._wake:
                    self._queue = taken + self._queue
                    self.pending_bytes += taken_bytes
                    self.writing_bytes = 0
                    self._pending_rows += sum(q.batch.events.num_rows + q.batch.rejected for q in taken)
                    self._oldest = self._oldest or time.monotonic()
                    if closing and retry_s >= RETRY_MAX_S:
                        self._fail_all(exc)
                        return
                time.sleep(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            retry_s = RETRY_FIRST_S
            self.writing_bytes = 0
            self.last_error = None
            self.flushes += 1
            for queued, written in zip(taken, outcomes, strict=True):
                self.totals["stored"] += written.stored
                self.totals["duplicates"] += written.duplicates
                self.totals["quarantined"] += written.quarantined
                if queued.done.set_running_or_notify_cancel():  # False: its sender gave up (it may retry)
                    queued.done.set_result(written)

    def _due(self) -> bool:
        if self._closing or self._pending_rows >= self.flush_rows:
            return True
        return self._oldest is not None and time.monotonic() - self._oldest >= self.flush_interval_s

    def _wait_s(self) -> float | None:
        if self._oldest is None:
            return None
        return max(0.0, self.flush_interval_s - (time.monotonic() - self._oldest))

    def _fail_all(self, exc: Exception) -> None:
        for queued in self._queue:
            if queued.done.set_running_or_notify_cancel():
                queued.done.set_exception(exc)
        self._queue = []

    # ------------------------------------------------------------------- write
    def _write(self, taken: list[_Queued]) -> list[Written]:
        """Write every queued export; an open that fails (locked) raises and all are retried."""
        batches = [q.batch for q in taken]
        warehouse = self._open(self.db_path)
        try:
            with warehouse.engine.memory_limit(self.memory_limit):
                try:
                    return _write_batches(warehouse, batches)
                except Exception:
                    # The file opened, so the fault is likely in one export's rows: write each alone,
                    # so one poison export costs only itself, never the queue behind it.
                    log.exception(
                        "collect: a flush of %d exports failed; writing them one by one", len(batches)
                    )
                    return [_write_alone(warehouse, batch) for batch in batches]
        finally:
            warehouse.close()


def _write_batches(warehouse: Warehouse, batches: list[ExportBatch]) -> list[Written]:
    """One transaction: the new events, the quarantine rows and one ingest_runs row per export."""
    tables = [b.events for b in batches if b.events.num_rows]
    combined = pa.concat_tables(tables) if tables else None
    already = _stored_ids(warehouse, combined) if combined is not None else set()
    seen = set(already)
    keep: list[bool] = []
    outcomes: list[Written] = []
    for batch in batches:
        stored = 0
        for event_id in batch.events.column("event_id").to_pylist():
            new = event_id not in seen
            seen.add(event_id)
            keep.append(new)
            stored += new
        rows = batch.events.num_rows
        outcomes.append(Written(batch.read, stored, rows - stored, batch.rejected))
    engine = warehouse.engine
    engine.execute("BEGIN TRANSACTION")
    try:
        if combined is not None:
            fresh = combined.filter(pa.array(keep, pa.bool_()))
            inserted = warehouse.insert_events(fresh)
            if inserted.stored != fresh.num_rows:  # only another writer in between could do this
                raise RuntimeError(f"expected {fresh.num_rows} new events, stored {inserted.stored}")
        quarantine = [row for b in batches for row in b.quarantine]
        if quarantine:
            add_quarantine_once(warehouse, quarantine_table(quarantine))
        warehouse.record_run(_runs(batches, outcomes))
        engine.execute("COMMIT")
    except BaseException:
        engine.execute("ROLLBACK")
        raise
    return outcomes


def _write_alone(warehouse: Warehouse, batch: ExportBatch) -> Written:
    """One export in its own transaction; if it still fails, its spans are quarantined with the cause.

    The same outcome as a file that fails part-way in ``distillguard ingest``: nothing read
    is lost, the counts still add up. Should even the quarantine fail (the disk is full), the
    error propagates and the whole queue is retried later.
    """
    try:
        return _write_batches(warehouse, [batch])[0]
    except Exception as exc:
        cause = f"{type(exc).__name__}: {exc}"[:300]
        log.error(
            "collect: export %s could not be written (%s); its spans are quarantined", batch.request, cause
        )
    lines = batch.events.column("ingest_line").to_pylist()
    span_ids = batch.events.column("event_id").to_pylist()
    failed = [
        quarantine_row(
            batch.request,
            line,
            None,
            "otel",
            f"export could not be written ({cause}) (span {span})",
            json.dumps({"spanId": span}),
        )
        for line, span in zip(lines, span_ids, strict=True)
    ]
    written = Written(batch.read, 0, 0, batch.read)
    engine = warehouse.engine
    engine.execute("BEGIN TRANSACTION")
    try:
        add_quarantine_once(warehouse, quarantine_table([*batch.quarantine, *failed]))
        warehouse.record_run(_runs([batch], [written]))
        engine.execute("COMMIT")
    except BaseException:
        engine.execute("ROLLBACK")
        raise
    return written


def _stored_ids(warehouse: Warehouse, events: pa.Table) -> set[str]:
    stage = "_collect_ids"
    ids = pc.unique(events.column("event_id"))
    warehouse.engine.register(stage, pa.table({"event_id": ids}))
    try:
        found = warehouse.engine.to_arrow(
            f"SELECT s.event_id FROM {stage} s "
            "WHERE EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id)"
        )
    finally:
        warehouse.engine.unregister(stage)
    return set(found.column("event_id").to_pylist())


def _runs(batches: list[ExportBatch], outcomes: list[Written]) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": uuid.uuid4().hex,
            "file": batch.request,
            "source_format": "otel",
            "records_read": written.read,
            "stored": written.stored,
            "duplicates": written.duplicates,
            "quarantined": written.quarantined,
            "finished_at": now,
        }
        for batch, written in zip(batches, outcomes, strict=True)
    ]
    return pa.Table.from_pylist(rows, schema=INGEST_RUNS)
