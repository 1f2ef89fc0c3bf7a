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
ingest maps in SQL goes through its SQL path in chunks (``follow_chunks``), staged at once
(``ingest_parallel_files``, as batch ingest stages files) and written in order, and what that
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
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from distillguard.config import Config
from distillguard.ingest import fastpath, follow_chunks
from distillguard.ingest.follow_state import (
    FollowStats,
    Tracked,
    load_tracked,
    offset_row,
    write_offsets,
)
from distillguard.ingest.in_order import prepared_in_order
from distillguard.ingest.run import ADAPTERS, SQL_FORMATS, FileReport, _FileRun, parallel_files
from distillguard.ingest.sniff import RawRecord, iter_records, sniff_file
from distillguard.schema import FOLLOW_OFFSETS
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.follow")

_WHOLE_FILE_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PAR1")  # gzip, zstd, Parquet
_SKIP_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Chunk:
    """A chunk of a followed file's backlog for the SQL path: its lines from ``origin.line_base``."""

    tracked: Tracked
    fd: int
    plan: follow_chunks.ChunkPlan
    origin: fastpath.Origin


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
        self.chunks_at_once = parallel_files(config)
        self.tracked: dict[str, Tracked] = {}
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
        files = self._discover()
        backlogs = self._backlog_chunks(files)
        read = self._read_chunks(backlogs)
        for tracked in files:  # what is pending after the chunks (or where one failed): line by line
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
                rows.append(offset_row(tracked))
            write_offsets(self.warehouse, rows)
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

    def _discover(self) -> list[Tracked]:
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
                found = self.tracked[key] = load_tracked(self.warehouse, key, path)
                self.stats.files += 1
            found.path, found.seen = path, True
            change = (info.st_size, info.st_mtime)
            if change != found.last_change:
                found.last_change, found.changed_at = change, time.monotonic()
        return list(self.tracked.values())

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
    def _read(self, tracked: Tracked) -> int:
        try:
            if self._reads_whole(tracked):
                return self._read_whole(tracked)
            return self._read_lines(tracked)
        except FileNotFoundError:
            return 0  # gone between looks; a rotated file is still read through its open handle

    def _reads_whole(self, tracked: Tracked) -> bool:
        """Whether the file is read whole once settled (compressed, Parquet, a JSON array)."""
        return tracked.whole_file or (tracked.read_offset == 0 and self._is_whole_file(tracked))

    def _is_whole_file(self, tracked: Tracked) -> bool:
        with tracked.path.open("rb") as handle:
            magic = handle.read(4)
            rest = magic + handle.read(64)
        if any(magic.startswith(m) for m in _WHOLE_FILE_MAGIC) or rest.lstrip()[:1] == b"[":
            tracked.whole_file = True
        elif len(rest) < 4:
            return False  # too short to tell yet
        return tracked.whole_file

    def _head_changed(self, tracked: Tracked, fd: int) -> bool:
        """True when the file's first bytes are not those of the file read before (truncated, reused)."""
        head = os.pread(fd, self.head_bytes, 0)
        if len(head) < self.head_bytes:
            return False
        digest = hashlib.sha256(head).hexdigest()
        if tracked.head_hash is None:
            tracked.head_hash, tracked.dirty = digest, True
            return False
        return digest != tracked.head_hash

    def _restart_file(self, tracked: Tracked, why: str) -> None:
        """Read the file again from its start (its counts stay cumulative)."""
        if tracked.run is not None:
            self.commit()  # rows of the old content are stored with the offset they reached
        log.info("%s %s; reading it from the start", tracked.path, why)
        tracked.read_offset = tracked.read_lines = tracked.line_path_until = 0
        tracked.head_hash, tracked.source_format, tracked.dirty = None, None, True

    def _pending_bytes(self, tracked: Tracked) -> tuple[int, int] | None:
        """``(fd, size)`` of a line-by-line file with whole or partial lines pending and its format
        known, after checking it was not truncated or rewritten (then it is read from its start)."""
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
            return None
        if tracked.source_format is None and not self._sniff(tracked, fd, size):
            return None
        return fd, size

    def _read_lines(self, tracked: Tracked) -> int:
        pending = self._pending_bytes(tracked)
        if pending is None:
            return 0
        fd, size = pending
        position = tracked.read_offset
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

    def _backlog_for_sql(self, tracked: Tracked, size: int) -> bool:
        """Whether the bytes pending could hold ``follow_sql_lines`` lines for the SQL path."""
        return (
            self.sql_lines > 0
            and tracked.source_format in SQL_FORMATS
            and tracked.read_offset >= tracked.line_path_until
            and size - tracked.read_offset >= self.sql_lines * follow_chunks.MIN_LINE_BYTES
        )

    def _backlog_chunks(self, files: list[Tracked]) -> list[_Chunk]:
        """The chunks of every followed file with a backlog for the SQL path, in file order: one
        per file, or with fewer backlogs than stages at once, each cut into as many as keep them
        busy (``follow_chunks.plan_chunks``)."""
        backlogs: list[tuple[Tracked, int, int]] = []
        for tracked in files:
            if self.sql_lines == 0 or tracked.line_path_until > tracked.read_offset:
                continue
            try:
                if self._reads_whole(tracked):
                    continue
                pending = self._pending_bytes(tracked)
            except FileNotFoundError:
                continue  # gone between looks; the next look reads it through its open handle
            if pending is not None and self._backlog_for_sql(tracked, pending[1]):
                backlogs.append((tracked, *pending))
        chunks: list[_Chunk] = []
        pieces = max(1, self.chunks_at_once // max(1, len(backlogs)))
        for tracked, fd, size in backlogs:
            line_base = tracked.read_lines
            plans = follow_chunks.plan_chunks(
                fd, tracked.read_offset, size, min_lines=self.sql_lines, pieces=pieces
            )
            for plan in plans:
                origin = fastpath.Origin(str(tracked.path), line_base=line_base, byte_base=plan.start)
                chunks.append(_Chunk(tracked, fd, plan, origin))
                line_base += plan.lines
        return chunks

    def _read_chunks(self, chunks: list[_Chunk]) -> int:
        """Stage ``chunks`` up to ``ingest_parallel_files`` at once and write them in order, each
        committed with its offset. A chunk whose file an earlier chunk failed on is dropped: the
        line path reads from there. Records read."""
        read = 0
        failed: set[str] = set()
        with prepared_in_order(
            chunks,
            lambda chunk: follow_chunks.stage_chunk(
                self.config, chunk.fd, chunk.plan.start, chunk.plan.end, chunk.origin,
                str(chunk.tracked.source_format),
            ),
            at_once=self.chunks_at_once,
            discard=_close_staged,
            thread_name="dg-follow-stage",
        ) as ordered:
            for chunk, staging in ordered:
                if chunk.tracked.key in failed or chunk.plan.start != chunk.tracked.read_offset:
                    _close(staging)
                elif self._write_chunk(chunk, staging):
                    read += chunk.plan.lines
                else:
                    failed.add(chunk.tracked.key)
        return read

    def _write_chunk(self, chunk: _Chunk, staging: Future[fastpath.Staged | None]) -> bool:
        """A chunk's lines through batch ingest's SQL path, committed with their offset; False
        (nothing stored) where that path could not read them: the line path reads that range,
        and finds the exact bad lines."""
        try:
            return self._write_staged_chunk(chunk, staging)
        finally:
            _close(staging)  # whatever happened, no staging folder or spool is left

    def _write_staged_chunk(self, chunk: _Chunk, staging: Future[fastpath.Staged | None]) -> bool:
        tracked, fd, origin = chunk.tracked, chunk.fd, chunk.origin
        start, end, lines = chunk.plan.start, chunk.plan.end, chunk.plan.lines
        self.commit()  # what is pending commits first, so a failed chunk rolls back only itself
        self._begin()
        fmt = tracked.source_format
        report = FileReport(str(tracked.path), fmt)
        where = f"{tracked.path} lines {origin.line_base + 1}-{origin.line_base + lines}"
        try:
            staged = staging.result()
            routed = (
                None
                if staged is None
                else fastpath.write_staged(
                    self.warehouse, staged, config=self.config, report=report, in_transaction=True
                )
            )
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

    def _long_line(self, tracked: Tracked, fd: int, size: int) -> int:
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

    def _sniff(self, tracked: Tracked, fd: int, size: int) -> bool:
        """Decide the file's format once it holds a whole line; False while it does not."""
        if b"\n" not in os.pread(fd, min(size, self.max_record_bytes), 0):
            return False
        tracked.source_format = self.source_format or sniff_file(
            tracked.path, max_record_bytes=self.max_record_bytes
        )
        tracked.dirty = True
        return True

    def _read_whole(self, tracked: Tracked) -> int:
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

    def _consume(self, tracked: Tracked, record: RawRecord) -> None:
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

def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a service manager's stop ends with a clean commit."""
    import signal

    stop = threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _close_staged(staged: fastpath.Staged | None) -> None:
    if staged is not None:
        staged.close()


def _close(staging: Future[fastpath.Staged | None]) -> None:
    """A chunk staged but not written (or written: closing twice is harmless): its staging
    database and spool are removed."""
    try:
        staged = staging.result()
    except Exception:  # a failed stage removed what it made (follow_chunks.stage_chunk)
        return
    _close_staged(staged)
