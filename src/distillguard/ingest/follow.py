"""Follow mode: ingest growing log files as they are written (`distillguard ingest --follow`).

Files are polled, not watched by inotify: polling works the same on every file system
(NFS, overlay, bind mounts) and costs one ``stat`` per file per look. What it handles:

- **growth**: only whole lines are consumed; a partial last line waits for its newline;
- **new files** under a followed directory or glob, read from their start;
- **rotation** (rename + new file): a file is known by device and inode, so the renamed
  file keeps its offset and is drained to its end through the handle already open, and
  the new file at the old path starts at zero;
- **truncation** (copytruncate): a file shorter than its offset, or whose first bytes
  changed, is read again from its start;
- **compressed segments** (gzip, zstd) and other whole-file formats (Parquet, a JSON
  array) are read once they have stopped changing for ``follow_settle_seconds``.

Records go through the same path as batch ingest (``run._FileRun``: adapters, limits,
batcher, quarantine); a backlog of many whole lines (``follow_sql_lines``) of a format batch
ingest maps in SQL goes through its SQL path in one chunk (``follow_chunks``), and what that
path cannot read (a chunk DuckDB refuses, a failure) is read line by line. Offsets live in
the ``follow_offsets`` table and are written in the same transaction as the rows they cover,
so after a crash (SIGKILL included) a restart resumes exactly where the last commit ended:
nothing lost, nothing doubled.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from distillguard.config import Config
from distillguard.ingest import fastpath, follow_chunks
from distillguard.ingest.run import ADAPTERS, SQL_FORMATS, FileReport, _FileRun
from distillguard.ingest.sniff import RawRecord, iter_records, sniff_file
from distillguard.schema import FOLLOW_OFFSETS, column_names
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.follow")

_WHOLE_FILE_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PAR1")  # gzip, zstd, Parquet
_SKIP_CHUNK = 1 << 20


@dataclass
class Counts:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def add(self, report: FileReport) -> None:
        self.read += report.read
        self.stored += report.stored
        self.duplicates += report.duplicates
        self.quarantined += report.quarantined


@dataclass
class _Tracked:
    """One followed file (an inode): what is committed, and what is read but not yet committed."""

    key: str
    path: Path
    head_hash: str | None = None
    source_format: str | None = None
    whole_file: bool = False
    byte_offset: int = 0  # committed
    lines: int = 0  # committed
    counts: Counts = field(default_factory=Counts)  # committed, cumulative
    read_offset: int = 0  # read (pending commit)
    read_lines: int = 0
    handle: BinaryIO | None = None
    run: _FileRun | None = None
    dirty: bool = False  # offsets to write at the next commit
    seen: bool = True  # found in the latest listing
    last_change: tuple[int, float] | None = None  # (size, mtime) as last seen
    changed_at: float = 0.0
    read_change: tuple[int, float] | None = None  # (size, mtime) a whole file was last read at
    line_path_until: int = 0  # a chunk SQL failed on ends here: it is read line by line


@dataclass
class FollowStats:
    committed_records: int = 0  # records committed since the follower started
    commits: int = 0
    files: int = 0


class Follower:
    """Tails ``paths`` into a warehouse; call ``poll`` in a loop, or ``run`` until stopped."""

    def __init__(
        self,
        warehouse: Warehouse,
        paths: Sequence[str | Path],
        *,
        config: Config,
        source_format: str | None = None,
    ) -> None:
        if source_format is not None and source_format not in ADAPTERS:
            raise ValueError(f"unknown format {source_format!r}; choose one of {', '.join(ADAPTERS)}")
        self.warehouse = warehouse
        self.paths = [str(p) for p in paths]
        self.config = config
        self.source_format = source_format
        self.batch_rows = max(1, int(config.follow_batch_rows))
        self.batch_seconds = float(config.follow_batch_seconds)
        self.poll_seconds = max(0.01, int(config.follow_poll_ms) / 1000)
        self.max_record_bytes = int(config.max_record_bytes)
        self.read_bytes = max(1 << 16, min(int(config.follow_read_bytes), self.max_record_bytes))
        self.settle_seconds = float(config.follow_settle_seconds)
        self.head_bytes = max(16, int(config.follow_head_bytes))
        self.rotated_grace = float(config.follow_rotated_grace_seconds)
        self.sql_lines = max(0, int(config.follow_sql_lines))
        self.tracked: dict[str, _Tracked] = {}
        self.stats = FollowStats()
        self._pending = 0
        self._batch_started: float | None = None
        self._in_transaction = False
        warehouse.ensure_table("follow_offsets", FOLLOW_OFFSETS)
        if self.sql_lines > 0:
            for stale in follow_chunks.remove_stale_spools(Path(str(config.db_path)).resolve().parent):
                log.info("removed %s, left by a follower that was killed", stale)

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then commit what was read and release the files."""
        try:
            while not stop.is_set():
                if self.poll() == 0:
                    stop.wait(self.poll_seconds)
        finally:
            self.commit()
            self.close()

    def poll(self) -> int:
        """One look at every followed file; commits when a batch is full or old. Records read."""
        read = 0
        for tracked in self._discover():
            read += self._read(tracked)
            if self._pending >= self.batch_rows:
                self.commit()
        if self._batch_started is not None and time.monotonic() - self._batch_started >= self.batch_seconds:
            self.commit()
        self._forget_gone()
        return read

    def commit(self) -> int:
        """Store every pending record with the offsets it came from, in one transaction."""
        if not self._in_transaction and not any(t.dirty for t in self.tracked.values()):
            return 0
        self._begin()
        committed = 0
        try:
            rows = []
            for tracked in self.tracked.values():
                if tracked.run is not None:
                    tracked.run.flush()
                if not tracked.dirty:
                    continue
                rows.append(self._offset_row(tracked))
            self._write_offsets(rows)
            self.warehouse.engine.execute("COMMIT")
        except Exception:
            self._rollback()
            raise
        self._in_transaction = False
        for tracked in self.tracked.values():
            if tracked.run is not None:
                tracked.counts.add(tracked.run.report)
                committed += tracked.run.report.read
                tracked.run = None
            tracked.byte_offset, tracked.lines = tracked.read_offset, tracked.read_lines
            tracked.dirty = False
        self.stats.committed_records += committed
        self.stats.commits += 1
        self._pending, self._batch_started = 0, None
        return committed

    def close(self) -> None:
        if self._in_transaction:
            self._rollback()
        for tracked in self.tracked.values():
            if tracked.handle is not None:
                tracked.handle.close()
                tracked.handle = None

    # ------------------------------------------------------------- discovery
    def _listing(self) -> list[Path]:
        """Files under the followed paths now; a path that names nothing yet may appear later."""
        found: list[Path] = []
        for raw in self.paths:
            path = Path(raw)
            if path.is_dir():
                found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
            elif path.is_file():
                found.append(path)
            elif any(ch in raw for ch in "*?["):
                found.extend(sorted(Path(m) for m in glob.glob(raw, recursive=True) if Path(m).is_file()))
        return [p for p in dict.fromkeys(found) if not self._own_file(p)]

    def _own_file(self, path: Path) -> bool:
        """The warehouse and the files beside it (WAL, spill, secret, audit log) are never input."""
        db = Path(str(self.config.db_path)).resolve()
        resolved = path.resolve()
        return (resolved.parent == db.parent and resolved.name.startswith(db.stem + ".")) or (
            db.with_suffix(".tmp") in resolved.parents
        )

    def _discover(self) -> list[_Tracked]:
        for known in self.tracked.values():
            known.seen = False
        for path in self._listing():
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # rotated away between the listing and now
            key = f"{info.st_dev}:{info.st_ino}"
            found = self.tracked.get(key)
            if found is None:
                found = self.tracked[key] = self._load(key, path)
                self.stats.files += 1
            found.path, found.seen = path, True
            change = (info.st_size, info.st_mtime)
            if change != found.last_change:
                found.last_change, found.changed_at = change, time.monotonic()
        return list(self.tracked.values())

    def _load(self, key: str, path: Path) -> _Tracked:
        """A file's committed state from the warehouse, or a fresh start."""
        rows = self.warehouse.engine.to_arrow(
            "SELECT * FROM follow_offsets WHERE file_key = ?", [key]
        ).to_pylist()
        tracked = _Tracked(key, path)
        if rows:
            row = rows[0]
            tracked.head_hash = row["head_hash"]
            tracked.source_format = row["source_format"]
            tracked.whole_file = bool(row["compressed"])
            tracked.byte_offset = tracked.read_offset = int(row["byte_offset"] or 0)
            tracked.lines = tracked.read_lines = int(row["lines"] or 0)
            tracked.counts = Counts(
                int(row["records_read"] or 0),
                int(row["stored"] or 0),
                int(row["duplicates"] or 0),
                int(row["quarantined"] or 0),
            )
            if tracked.whole_file:
                tracked.read_change = (tracked.byte_offset, -1.0)  # size known, mtime not: re-read if grown
        return tracked

    def _forget_gone(self) -> None:
        """Files no longer listed are dropped once drained and quiet (their rows stay in follow_offsets).

        A writer goes on appending to a renamed log until it reopens its file (logrotate's
        postrotate signal), so a rotated file is read through its open handle until it has not
        grown for ``follow_rotated_grace_seconds``.
        """
        now = time.monotonic()
        quiet = [
            key
            for key, t in self.tracked.items()
            if not t.seen and not t.dirty and t.run is None and now - t.changed_at >= self.rotated_grace
        ]
        for key in quiet:
            tracked = self.tracked.pop(key)
            if tracked.handle is not None:
                tracked.handle.close()

    # --------------------------------------------------------------- reading
    def _read(self, tracked: _Tracked) -> int:
        try:
            if tracked.whole_file or (tracked.read_offset == 0 and self._is_whole_file(tracked)):
                return self._read_whole(tracked)
            return self._read_lines(tracked)
        except FileNotFoundError:
            return 0  # gone between looks; a rotated file is still read through its open handle

    def _is_whole_file(self, tracked: _Tracked) -> bool:
        with tracked.path.open("rb") as handle:
            magic = handle.read(4)
            rest = magic + handle.read(64)
        if any(magic.startswith(m) for m in _WHOLE_FILE_MAGIC) or rest.lstrip()[:1] == b"[":
            tracked.whole_file = True
        elif len(rest) < 4:
            return False  # too short to tell yet
        return tracked.whole_file

    def _head_changed(self, tracked: _Tracked, fd: int) -> bool:
        """True when the file's first bytes are not those of the file read before (truncated, reused)."""
        head = os.pread(fd, self.head_bytes, 0)
        if len(head) < self.head_bytes:
            return False
        digest = hashlib.sha256(head).hexdigest()
        if tracked.head_hash is None:
            tracked.head_hash, tracked.dirty = digest, True
            return False
        return digest != tracked.head_hash

    def _restart_file(self, tracked: _Tracked, why: str) -> None:
        """Read the file again from its start (its counts stay cumulative)."""
        if tracked.run is not None:
            self.commit()  # rows of the old content are stored with the offset they reached
        log.info("%s %s; reading it from the start", tracked.path, why)
        tracked.read_offset = tracked.read_lines = tracked.line_path_until = 0
        tracked.head_hash, tracked.source_format, tracked.dirty = None, None, True

    def _read_lines(self, tracked: _Tracked) -> int:
        # Unbuffered reads at explicit offsets: a buffered reader would serve bytes from
        # before a truncation out of its buffer.
        if tracked.handle is None:
            tracked.handle = tracked.path.open("rb", buffering=0)
        fd = tracked.handle.fileno()
        size = os.fstat(fd).st_size
        if size < tracked.read_offset:
            self._restart_file(tracked, "was truncated")
        elif self._head_changed(tracked, fd) and tracked.read_offset > 0:
            self._restart_file(tracked, "has new content at its start")
        if size <= tracked.read_offset:
            return 0
        if tracked.source_format is None and not self._sniff(tracked, fd, size):
            return 0
        position = tracked.read_offset
        if self._backlog_for_sql(tracked, size):
            end, lines = follow_chunks.whole_lines(fd, position, size)
            if lines >= self.sql_lines and self._read_chunk(tracked, fd, end, lines):
                return lines
        chunk = os.pread(fd, min(self.read_bytes, size - position), position)
        last = chunk.rfind(b"\n")
        if last < 0:
            return self._long_line(tracked, fd, size)
        consumed, begin = 0, 0
        while begin <= last:
            end = chunk.index(b"\n", begin) + 1
            tracked.read_lines += 1
            line = chunk[begin:end]
            if line.strip():  # blank lines are not records (as in batch ingest)
                self._consume(tracked, RawRecord(tracked.read_lines, position + begin, line))
                consumed += 1
            begin = end
        tracked.read_offset = position + last + 1
        tracked.changed_at = time.monotonic()  # a rotated file, unlisted, is only seen growing here
        return consumed

    def _backlog_for_sql(self, tracked: _Tracked, size: int) -> bool:
        """Whether the bytes pending could hold ``follow_sql_lines`` lines for the SQL path."""
        return (
            self.sql_lines > 0
            and tracked.source_format in SQL_FORMATS
            and tracked.read_offset >= tracked.line_path_until
            and size - tracked.read_offset >= self.sql_lines * follow_chunks.MIN_LINE_BYTES
        )

    def _read_chunk(self, tracked: _Tracked, fd: int, end: int, lines: int) -> bool:
        """Lines ``read_offset..end`` through batch ingest's SQL path, committed with their
        offset; False (nothing stored) where that path could not read them: the line path
        reads that range, and finds the exact bad lines."""
        self.commit()  # what is pending commits first, so a failed chunk rolls back only itself
        self._begin()
        start, fmt = tracked.read_offset, tracked.source_format
        report = FileReport(str(tracked.path), fmt)
        origin = fastpath.Origin(str(tracked.path), line_base=tracked.read_lines, byte_base=start)
        where = f"{tracked.path} lines {origin.line_base + 1}-{origin.line_base + lines}"
        try:
            routed = follow_chunks.ingest_chunk(self.warehouse, self.config, fd, start, end, origin, report)
            if routed is None:  # a malformed line, as a rule
                log.info("%s: DuckDB cannot read them; reading them line by line", where)
            else:  # commit() counts its report (a failure below rolls it back with the rows)
                tracked.run = run = _FileRun(self.warehouse, self.config, report)
                wanted, adapter = set(routed), ADAPTERS.get(str(fmt))
                if wanted:  # records of shapes the SQL mapping leaves to the adapter
                    for number, (offset, line) in enumerate(follow_chunks.lines_in(fd, start, end), 1):
                        if number in wanted:
                            run.consume(RawRecord(origin.line_base + number, offset, line), adapter)
                    run.flush()
        except Exception as exc:  # nothing in one chunk may stop follow mode
            log.warning("%s: SQL path failed (%s); reading them line by line", where, exc)
            routed = None
        if routed is None:
            self._rollback()
            tracked.line_path_until = end
            return False
        tracked.read_offset, tracked.read_lines = end, tracked.read_lines + lines
        tracked.dirty = True
        tracked.changed_at = time.monotonic()
        self._pending += report.read
        self.commit()
        return True

    def _long_line(self, tracked: _Tracked, fd: int, size: int) -> int:
        """A line longer than one read: consumed once complete; over max_record_bytes, quarantined unheld."""
        start = scan = tracked.read_offset
        while True:
            if scan >= size:
                return 0  # not complete yet: it waits for its newline
            piece = os.pread(fd, _SKIP_CHUNK, scan)
            found = piece.find(b"\n")
            if found >= 0:
                end = scan + found + 1
                break
            scan += len(piece)
        length = end - start
        tracked.read_lines += 1
        if length > self.max_record_bytes:
            problem = f"record of {length} bytes exceeds max_record_bytes"
            record = RawRecord(tracked.read_lines, start, os.pread(fd, 512, start), problem)
        else:
            record = RawRecord(tracked.read_lines, start, os.pread(fd, length, start))
        self._consume(tracked, record)
        tracked.read_offset = end
        return 1

    def _sniff(self, tracked: _Tracked, fd: int, size: int) -> bool:
        """Decide the file's format once it holds a whole line; False while it does not."""
        if b"\n" not in os.pread(fd, min(size, self.max_record_bytes), 0):
            return False
        tracked.source_format = self.source_format or sniff_file(
            tracked.path, max_record_bytes=self.max_record_bytes
        )
        tracked.dirty = True
        return True

    def _read_whole(self, tracked: _Tracked) -> int:
        """A compressed or whole-document file, once settled; records already read are skipped."""
        if tracked.last_change is None or tracked.last_change == tracked.read_change:
            return 0
        if time.monotonic() - tracked.changed_at < self.settle_seconds:
            return 0  # still being written
        if tracked.run is not None and tracked.run.report.read:
            return 0  # its last read is not committed yet
        if tracked.source_format is None:
            tracked.source_format = self.source_format or sniff_file(
                tracked.path, max_record_bytes=self.max_record_bytes
            )
        consumed = 0
        skip = tracked.read_lines
        for record in iter_records(tracked.path, max_record_bytes=self.max_record_bytes):
            if record.line is not None and record.line <= skip:
                continue
            self._consume(tracked, record)
            consumed += 1
            if record.line is not None:
                tracked.read_lines = max(tracked.read_lines, record.line)
        tracked.read_change = tracked.last_change
        tracked.read_offset = tracked.last_change[0]
        tracked.dirty = True
        return consumed

    def _consume(self, tracked: _Tracked, record: RawRecord) -> None:
        self._begin()  # rows a full batcher flushes mid-read belong to this transaction too
        if tracked.run is None:
            report = FileReport(str(tracked.path), tracked.source_format)
            tracked.run = _FileRun(self.warehouse, self.config, report)
        before = tracked.run.report.read
        tracked.run.consume(record, ADAPTERS.get(tracked.source_format) if tracked.source_format else None)
        self._pending += tracked.run.report.read - before
        tracked.dirty = True
        if self._batch_started is None:
            self._batch_started = time.monotonic()

    # ----------------------------------------------------------- transactions
    def _begin(self) -> None:
        if not self._in_transaction:
            self.warehouse.engine.execute("BEGIN TRANSACTION")
            self._in_transaction = True

    def _rollback(self) -> None:
        """Undo the open batch: the rows and offsets are read again at the next look."""
        try:
            self.warehouse.engine.execute("ROLLBACK")
        finally:
            self._in_transaction = False
            for tracked in self.tracked.values():
                tracked.run = None
                tracked.read_offset, tracked.read_lines = tracked.byte_offset, tracked.lines
                tracked.read_change = None if tracked.whole_file else tracked.read_change
            self._pending, self._batch_started = 0, None

    def _offset_row(self, tracked: _Tracked) -> dict[str, object]:
        counts = Counts(**tracked.counts.__dict__)
        if tracked.run is not None:
            counts.add(tracked.run.report)
        return {
            "file_key": tracked.key,
            "head_hash": tracked.head_hash,
            "path": str(tracked.path),
            "source_format": tracked.source_format,
            "compressed": tracked.whole_file,
            "byte_offset": tracked.read_offset,
            "lines": tracked.read_lines,
            "records_read": counts.read,
            "stored": counts.stored,
            "duplicates": counts.duplicates,
            "quarantined": counts.quarantined,
            "updated_at": datetime.now(UTC),
        }

    def _write_offsets(self, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        engine = self.warehouse.engine
        stage = "_incoming_offsets"
        engine.register(stage, pa.Table.from_pylist(rows, schema=FOLLOW_OFFSETS))
        try:
            engine.execute(f"DELETE FROM follow_offsets WHERE file_key IN (SELECT file_key FROM {stage})")
            columns = ", ".join(column_names(FOLLOW_OFFSETS))
            engine.execute(f"INSERT INTO follow_offsets ({columns}) SELECT {columns} FROM {stage}")
        finally:
            engine.unregister(stage)


def follow_totals(warehouse: Warehouse) -> Counts:
    """Cumulative counts over every followed file (read = stored + duplicates + quarantined)."""
    warehouse.ensure_table("follow_offsets", FOLLOW_OFFSETS)
    row = warehouse.engine.to_arrow(
        "SELECT coalesce(sum(records_read), 0) AS r, coalesce(sum(stored), 0) AS s, "
        "coalesce(sum(duplicates), 0) AS d, coalesce(sum(quarantined), 0) AS q FROM follow_offsets"
    ).to_pylist()[0]
    return Counts(int(row["r"]), int(row["s"]), int(row["d"]), int(row["q"]))


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a service manager's stop ends with a clean commit."""
    import signal

    stop = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
