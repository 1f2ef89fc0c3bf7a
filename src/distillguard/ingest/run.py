"""The ingest run: files -> records -> adapter rows -> Arrow batches -> warehouse.

Every record read ends in exactly one of three places: stored, duplicate (its
event id is already in the warehouse or earlier in the run), or quarantine (with
file, line, byte offset and reason). Memory is bounded by ``batch_size_rows``.

No record and no file can stop the run: numbers the warehouse cannot hold are
quarantined with the field named (``limits.number_problem``) before they reach a
batch, and should a file still fail (a bug, an I/O error), its rows not yet stored
are quarantined with the cause, its report says ``error``, and the next file is read.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from distillguard.config import Config, memory_limit
from distillguard.engine import SqlError
from distillguard.ingest import (
    audit_log,
    canonical,
    fastpath,
    langfuse,
    litellm,
    mapped,
    openai_log,
    otel,
    sources,
)
from distillguard.ingest.batches import EventBatcher, quarantine_row, quarantine_table
from distillguard.ingest.in_order import prepared_in_order
from distillguard.ingest.limits import clean_strings, number_problem
from distillguard.ingest.normalise import RecordError
from distillguard.ingest.sniff import (
    FORMATS,
    RawRecord,
    estimated_records,
    expand_paths,
    iter_records,
    sniff_file,
)
from distillguard.schema import INGEST_RUNS
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.ingest")

ADAPTERS: dict[str, ModuleType] = {
    "litellm": litellm,
    "otel": otel,
    "openai": openai_log,
    "langfuse": langfuse,
    "canonical": canonical,
    "distillguard-audit": audit_log,
}
assert tuple(ADAPTERS) == FORMATS
# Formats with an SQL mapping (``sql_mapping`` of their adapter, run by ``mapped.stage_sql``)
# proven to store rows identical to their Python adapter (tests/ingest/test_declarative.py).
MAPPED_FORMATS: tuple[str, ...] = ("litellm", "openai", "otel", "langfuse")
# Formats DuckDB reads and maps in SQL (canonical by its column names, the others by their
# adapter's ``sql_mapping``); the Python adapters read what SQL cannot (a file DuckDB refuses,
# a record of a shape the mapping leaves to Python). Issue 14 asks for the Python path as the
# fallback only, so a mapping is on by default once it costs about what its adapter does on
# 100k simulated records, measured back to back (bench/ingest_bench.py --paths,
# docs/BENCHMARKS.md): OpenAI log 17.1-18.0 s CPU against 19.4-20.9 s in three runs, Langfuse
# 24.9-26.7 s against 28.1-32.7 s in three (112,905 observations), OTel since branch otelfast
# 2-3% above its adapter per file (17.1 s against 16.8 s on 62,881 spans, 10.4 s against 10.1 s
# on 37,479; both files in one run 27.3 s against 28.0 s), where it was 1.2-1.45x before.
SQL_FORMATS: tuple[str, ...] = ("canonical", "litellm", "openai", "langfuse", "otel")
# Of those, the formats whose Parquet files SQL reads (``sources``) by default: where it cost no
# more CPU than the adapter on the small preset as Parquet (bench/ingest_bench.py --as parquet
# --paths, docs/BENCHMARKS.md): canonical 6.4 s against 12.3 s, LiteLLM 16.6 against 22.4,
# Langfuse 25.4 against 26.8. The adapter reads Parquet faster than JSON lines (no json.loads)
# while a mapping reads each column as JSON text: OpenAI log costs 15.2 s against 13.9. OTel:
# pyarrow writes an OTLP AnyValue (one key of several) as a struct holding every key, the others
# null, and the OTel mapping leaves such a line whole to Python (``otel_sql._NULL_ODD``): every
# span was routed, SQL cost its stage and the adapter (56.4 s against 34.7).
SQL_PARQUET_FORMATS: tuple[str, ...] = ("canonical", "litellm", "langfuse")
# Files of fewer records than this (``sniff.estimated_records``: the first 256 KiB decompressed,
# scaled by the file's size on disk) are read by the Python adapter even in SQL_FORMATS. A mapped
# stage has a fixed cost per file (planning its large expression, a staging database, its
# derived tables and the attached insert): 1,000 records take about 2.2 s of CPU by SQL against
# 0.7 s by the adapter (interpreter start included in both), and the SQL path saves a little per
# record after that; a gateway that rotates into many small files would pay the fixed cost over
# and over. The figures are the first N records of the simulated files through both paths, CPU
# seconds, back to back (bench/ingest_bench.py --break-even, docs/BENCHMARKS.md); near the
# threshold both paths cost about the same, so an estimate within 15% is enough.
SQL_MIN_RECORDS: dict[str, int] = {
    # the canonical fast path plans a small statement: about 0.5 s of fixed cost
    "canonical": 10_000,  # 5k: 1.5 s by SQL against 1.1 s; 20k: 2.7 s against 3.6 s
    "litellm": 20_000,  # 20k: 5.0 s by SQL against 4.9 s; 50k: 9.5 s against 11.7 s
    "langfuse": 40_000,  # 20k: 6.1 s against 5.0 s; 50k: 12.8 s against 13.6 s
    # 50k: 9.5 s against 8.9 s; 100k: 17.1-18.0 s against 19.4-20.9 s
    "openai": 60_000,
    # the same cost per record as the adapter (0.243 against 0.247 ms) after a fixed ~1.5 s:
    # 20k: 7.1 s against 5.6 s; 50k: 14.1 s against 12.8 s; 62,881 spans: 17.1 s against 16.8 s
    # (one span a line there; a batched export holds many spans a line, and a file of fewer lines
    # then goes to the adapter, which costs the same per span)
    "otel": 50_000,
}


@dataclass
class FileReport:
    file: str
    source_format: str | None
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # set when the file failed part-way (the rest of the run went on)


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    accounts_read: int = 0
    accounts_stored: int = 0
    accounts_quarantined: int = 0

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files) + self.accounts_quarantined

    @property
    def reconciles(self) -> bool:
        events_ok = all(f.read == f.stored + f.duplicates + f.quarantined for f in self.files)
        return events_ok and self.accounts_read == self.accounts_stored + self.accounts_quarantined

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "accounts": {
                "read": self.accounts_read,
                "stored": self.accounts_stored,
                "quarantined": self.accounts_quarantined,
            },
            "files": [f.__dict__ for f in self.files],
        }


Progress = Callable[[int], None]


def ingest_paths(
    warehouse: Warehouse,
    paths: Sequence[str | Path],
    *,
    config: Config,
    source_format: str | None = None,
    accounts: str | Path | None = None,
    strict: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Ingest every file under ``paths`` (files, directories, globs) into ``warehouse``.

    ``strict`` does not stop the run (nothing is ever lost); callers check
    ``report.quarantined`` and fail. A path that names nothing raises
    FileNotFoundError before anything is written.

    Files are staged in parallel (``ingest_parallel_files`` at once, each in its own staging
    database under its own memory limit) and written to the warehouse one at a time, in the
    order given: what is stored, and which copy of a repeated event id wins, is the same as
    reading them one after another.
    """
    if source_format is not None and source_format not in ADAPTERS:
        raise ValueError(f"unknown format {source_format!r}; choose one of {', '.join(ADAPTERS)}")
    files = expand_paths(paths)
    if accounts is not None and not Path(accounts).is_file():
        raise FileNotFoundError(f"{accounts}: no such accounts file")
    report = IngestReport()
    limit = memory_limit(config, "ingest_memory_limit")
    with (
        warehouse.engine.memory_limit(limit),
        _progress_bar(files, enabled=progress) as advance,
        prepared_in_order(
            files,
            lambda path: _prepare(path, config, source_format),
            at_once=parallel_files(config),
            discard=_Prepared.close,  # a run stopped part-way removes what it staged ahead
            thread_name="dg-stage",
        ) as ordered,
    ):
        for path, prepared in ordered:
            done = [0]

            def moved(position: int, done: list[int] = done) -> None:
                advance(position - done[0])
                done[0] = position

            try:
                result = _write_prepared(warehouse, path, prepared.result(), config, moved)
            except Exception as exc:  # nothing in one file may cost the others
                log.exception("ingesting %s failed; going on with the next file", path)
                result = _unreadable_file(warehouse, path, source_format, exc)
            report.files.append(result)
            moved(path.stat().st_size)
    if accounts is not None:
        from distillguard.ingest.accounts import load_accounts

        with warehouse.engine.memory_limit(limit):
            loaded = load_accounts(warehouse, accounts, config=config)
        report.accounts_read, report.accounts_stored = loaded.read, loaded.stored
        report.accounts_quarantined = loaded.quarantined
    return report


def parallel_files(config: Config) -> int:
    """How many files batch ingest stages at once (setting ``ingest_parallel_files``)."""
    wanted = int(config.ingest_parallel_files)
    return max(1, wanted if wanted > 0 else min(os.cpu_count() or 1, 4))


@dataclass
class _Prepared:
    """What is done with a file before it is written: its format and, where it takes its
    format's SQL path and DuckDB could read it, its stage."""

    fmt: str | None
    staged: fastpath.Staged | None = None

    def close(self) -> None:
        if self.staged is not None:
            self.staged.close()


def _prepare(path: Path, config: Config, source_format: str | None) -> _Prepared:
    """Recognise ``path`` and, where it takes the SQL path, stage it; nothing is written to the
    warehouse, so files are prepared in parallel."""
    max_bytes = int(config.max_record_bytes)
    fmt = source_format or sniff_file(path, max_record_bytes=max_bytes)
    kind = sources.kind(path, max_bytes) if fmt in SQL_FORMATS else None
    if kind == "parquet" and fmt not in SQL_PARQUET_FORMATS:
        kind = None
    if fmt is None or kind is None or not _large_enough_for_sql(path, fmt, kind):
        return _Prepared(fmt)
    threads = None
    if fmt == "canonical":
        stage = fastpath._stage_sql(path, max_bytes, int(config.max_text_chars), kind)
    else:
        mapping = ADAPTERS[fmt].sql_mapping(config)
        stage, threads = mapped.stage_sql(mapping, path, config, kind), mapped.STAGE_THREADS
    staged = fastpath.stage_file(path, stage, config=config, stage_threads=threads, kind=kind)
    return _Prepared(fmt, staged)


def ingest_file(
    warehouse: Warehouse,
    path: Path,
    *,
    config: Config,
    source_format: str | None = None,
    on_position: Callable[[int], None] | None = None,
) -> FileReport:
    return _write_prepared(warehouse, path, _prepare(path, config, source_format), config, on_position)


def _write_prepared(
    warehouse: Warehouse,
    path: Path,
    prepared: _Prepared,
    config: Config,
    on_position: Callable[[int], None] | None = None,
) -> FileReport:
    fmt = prepared.fmt
    report = FileReport(str(path), fmt)
    partial = 0
    adapter = ADAPTERS.get(fmt) if fmt else None
    if prepared.staged is not None:
        before = warehouse.count("events")
        try:
            routed = fastpath.write_staged(warehouse, prepared.staged, config=config, report=report)
        except SqlError as exc:
            # Rare (e.g. the disk filled up mid-insert): redo the file line by line. Rows the fast
            # path already stored come back as duplicates there, so they are counted as stored.
            log.warning("fast path failed on %s, reading it line by line: %s", path, exc.cause)
            routed, partial = None, warehouse.count("events") - before
            report = FileReport(str(path), fmt)
        if routed is not None:
            if routed:  # the records the SQL mapping leaves to the Python adapter
                _read_records(warehouse, config, report, path, adapter, set(routed))
            _record_run(warehouse, report)
            return report
    run = _FileRun(warehouse, config, report)
    max_bytes = int(config.max_record_bytes)
    try:
        for record in iter_records(path, max_record_bytes=max_bytes, on_position=on_position):
            run.consume(record, adapter)
        run.flush()
    except Exception as exc:
        log.exception("ingesting %s failed part-way; its unstored rows are quarantined", path)
        run.abandon(exc)
    moved = min(partial, report.duplicates)
    report.stored, report.duplicates = report.stored + moved, report.duplicates - moved
    _record_run(warehouse, report)
    return report


def _large_enough_for_sql(path: Path, fmt: str, kind: sources.Kind) -> bool:
    """Whether ``path`` holds enough records for its SQL mapping to pay its fixed cost
    (``SQL_MIN_RECORDS``; a Parquet file's count is in its footer); a file whose start cannot be
    read is left to the SQL path, which falls back to the adapter where it must."""
    least = SQL_MIN_RECORDS.get(fmt, 0)
    if least <= 0:
        return True
    estimate = sources.parquet_rows(path) if kind == "parquet" else estimated_records(path)
    return estimate is None or estimate >= least


def _read_records(
    warehouse: Warehouse,
    config: Config,
    report: FileReport,
    path: Path,
    adapter: ModuleType | None,
    lines: set[int],
) -> None:
    """The records at ``lines`` of ``path`` (as ``iter_records`` numbers them: the line, the
    array element, the Parquet row) through the Python adapter, into the same report. One the
    reader cannot give back is quarantined, never dropped: DuckDB reads a gzip stream whose
    end is missing where Python's reader stops at the break (which it reports, as the line
    path does)."""
    run = _FileRun(warehouse, config, report)
    last = max(lines, default=0)
    unread = set(lines)
    try:
        for record in iter_records(path, max_record_bytes=int(config.max_record_bytes)):
            if record.line in unread:
                unread.discard(record.line)
                run.consume(record, adapter)
            elif record.line is None and record.problem:  # the stream broke
                run.consume(record, adapter)
            if record.line is not None and record.line >= last:  # SQL read the rest
                break
        for line in sorted(unread):
            reason = "record the SQL path left to the adapter could not be read again"
            run.reject(RawRecord(line, None, None), reason)
        run.flush()
    except Exception as exc:
        log.exception("ingesting %s failed part-way; its unstored rows are quarantined", path)
        run.abandon(exc)


class _FileRun:
    def __init__(self, warehouse: Warehouse, config: Config, report: FileReport) -> None:
        self.warehouse = warehouse
        self.config = config
        self.report = report
        self.batcher = EventBatcher(config)
        self.max_text_chars = int(config.max_text_chars)
        self.in_flight: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []

    def consume(self, record: RawRecord, adapter: ModuleType | None) -> None:
        if record.problem:
            self.reject(record, record.problem)
            return
        obj = record.data
        if isinstance(obj, bytes):
            try:
                text = obj.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.reject(record, f"not valid UTF-8 (byte {exc.start} of the record)")
                return
            try:
                obj = json.loads(text)
            except ValueError as exc:
                self.reject(record, f"malformed JSON: {exc}")
                return
            except RecursionError:
                self.reject(record, "malformed JSON: nested too deeply")
                return
        if not isinstance(obj, dict):
            self.reject(record, f"record is a JSON {type(obj).__name__}, not an object")
            return
        if adapter is None:
            self.reject(
                record,
                "unknown format: not LiteLLM, OTLP/JSON, OpenAI log, Langfuse, canonical "
                "or a decision audit log",
            )
            return
        try:
            results = adapter.to_events(obj, self.config)
        except RecordError as exc:
            self.reject(record, str(exc))
            return
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            IndexError,
            OverflowError,
            RecursionError,
        ) as exc:
            # An adapter bug on odd input must cost one record, never the run.
            self.reject(record, f"unreadable record ({type(exc).__name__}: {exc})")
            return
        for result in results:
            if isinstance(result, RecordError):
                self.reject(record, str(result))
                continue
            problem = number_problem(result)
            if problem is not None:
                self.reject(record, problem)
                continue
            clean_strings(result, max_chars=self.max_text_chars)
            result["ingest_file"] = self.report.file
            result["ingest_line"] = record.line
            self.report.read += 1
            self.batcher.add(result)
        if self.batcher.full:
            self.flush()

    def reject(self, record: RawRecord, reason: str) -> None:
        self.report.read += 1
        self.report.quarantined += 1
        key = reason.split(":")[0][:80]
        self.report.reasons[key] = self.report.reasons.get(key, 0) + 1
        raw = record.data if record.data is not None else None
        self.quarantine.append(
            quarantine_row(
                self.report.file, record.line, record.offset, self.report.source_format, reason, raw
            )
        )
        if len(self.quarantine) >= self.batcher.batch_size:
            self._flush_quarantine()

    def flush(self) -> None:
        if self.batcher.rows:
            self.in_flight = self.batcher.rows  # until stored: abandon() must still see them
            table = self.batcher.take()
            result = self.warehouse.insert_events(table)
            self.in_flight = []
            self.report.stored += result.stored
            self.report.duplicates += result.duplicates
        self._flush_quarantine()

    def abandon(self, exc: Exception) -> None:
        """The file failed: every row read but not stored is quarantined with the cause."""
        cause = f"{type(exc).__name__}: {exc}"[:300]
        self.report.error = cause
        pending = [*self.in_flight, *self.batcher.rows]
        self.in_flight, self.batcher.rows = [], []
        for row in pending:
            reason = f"file failed before this record was stored ({cause})"
            self.report.quarantined += 1
            self.quarantine.append(
                quarantine_row(
                    self.report.file, row.get("ingest_line"), None, self.report.source_format, reason, None
                )
            )
        self._flush_quarantine()

    def _flush_quarantine(self) -> None:
        if self.quarantine:
            add_quarantine_once(self.warehouse, quarantine_table(self.quarantine))
            self.quarantine = []


def _unreadable_file(
    warehouse: Warehouse, path: Path, source_format: str | None, exc: Exception
) -> FileReport:
    """The trace of a file that failed before any record was counted: one quarantined entry."""
    cause = f"{type(exc).__name__}: {exc}"[:300]
    report = FileReport(str(path), source_format, read=1, quarantined=1, error=cause)
    report.reasons["file failed"] = 1
    row = quarantine_row(str(path), None, None, source_format, f"file failed: {cause}", None)
    try:
        add_quarantine_once(warehouse, quarantine_table([row]))
        _record_run(warehouse, report)
    except Exception:
        log.exception("could not record the failure of %s", path)
    return report


def add_quarantine_once(warehouse: Warehouse, table: pa.Table) -> None:
    """Quarantine rows not already there (same file, line, offset, reason): re-runs add nothing."""
    stage = "_incoming_quarantine"
    warehouse.engine.register(stage, table)
    try:
        fresh = warehouse.engine.to_arrow(
            f"""
            SELECT * FROM {stage} s WHERE NOT EXISTS (
                SELECT 1 FROM quarantine q
                WHERE q.file = s.file AND q.reason = s.reason
                  AND q.line IS NOT DISTINCT FROM s.line AND q.byte_offset IS NOT DISTINCT FROM s.byte_offset)
            """
        )
    finally:
        warehouse.engine.unregister(stage)
    warehouse.add_quarantine(fresh)


def _record_run(warehouse: Warehouse, report: FileReport) -> None:
    row = {
        "run_id": uuid.uuid4().hex,
        "file": report.file,
        "source_format": report.source_format,
        "records_read": report.read,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "finished_at": datetime.now(UTC),
    }
    warehouse.record_run(pa.Table.from_pylist([row], schema=INGEST_RUNS))


class _progress_bar:
    """A rich progress bar over input bytes when enabled and stderr is a terminal."""

    def __init__(self, files: list[Path], *, enabled: bool) -> None:
        self.total = sum(p.stat().st_size for p in files)
        self.enabled = enabled and self.total > 50_000_000
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "ingest",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task("ingest", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
