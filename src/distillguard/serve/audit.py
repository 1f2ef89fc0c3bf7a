"""The decision service's append-only audit log: one JSON line per decision.

Durability: each record is handed to the operating system with one ``write`` on
an ``O_APPEND`` descriptor before ``write`` returns, so a crash of the service
loses nothing it wrote; a background thread fsyncs at least every
``fsync_interval_ms`` (0: after every record), so a power loss costs at most that
window; ``close`` fsyncs. Reopening appends.

A write that the disk refuses (full, read-only, I/O error) is not dropped: the line
waits in a bounded in-memory spool (``spool_records``) and is retried, in order, before
the next record and by the fsync thread; ``pending`` says how many wait, and the
service reports itself degraded while any do. Only past the spool's bound are
records dropped, and then counted in ``dropped``. A line torn by a power loss is ended
with a newline on reopen, so it costs only itself (ingest quarantines it with its
file and line) and never the record after it.

``distillguard ingest`` recognises these files (format ``distillguard-audit``) and
stores each record as an event, so the next scan sees the live traffic.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from distillguard.config import Config

log = logging.getLogger("distillguard.serve.audit")

# The documented record fields, in the order they are written (other keys follow).
AUDIT_FIELDS: tuple[str, ...] = (
    "decision_id",
    "request_id",
    "ts",  # ISO 8601, UTC
    "account_id",
    "api_key_hash",  # keyed hashes with the deployment secret, as in the warehouse
    "end_user_id",
    "client_ip_hash",
    "ip_prefix_hash",
    "model",
    "action",  # what the policy decided
    "enforced_action",  # what the gateway was told ("allow" in shadow mode or on fail_open)
    "shadow",
    "risk",
    "reasons",
    "source",
    "subject_kind",
    "subject_id",
    "degrade",
    "policy_version",
    "cot_elicitation",
    "rubric_grading",
    "censorship_rewrite",
    "capability",
    "prompt_hash",
    "skeleton_hash",
    "prompt_text",  # only when text_storage == "store"
    "max_tokens",
    "logprobs",
    "tool_count",
    "message_count",
    "user_agent",
    "error",
    "latency_us",
)
_ORDER = {name: index for index, name in enumerate(AUDIT_FIELDS)}


def audit_path(config: Config) -> Path:
    """``serve_audit_path``, else ``<db_path stem>.audit.jsonl`` beside the warehouse."""
    if config.serve_audit_path:
        return Path(config.serve_audit_path)
    db = Path(config.db_path)
    return db.with_name(f"{db.stem}.audit.jsonl")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def encode(record: Mapping[str, Any]) -> bytes:
    """One line: the documented fields first, in order, then any others.

    Text reaching here has been through ``wire.clean_text``; should a string that was not
    slip in (a lone surrogate cannot be written as UTF-8), the line is written with JSON
    escapes instead, so no character can cost the record.
    """
    ordered = {name: record[name] for name in AUDIT_FIELDS if name in record}
    ordered.update((name, value) for name, value in record.items() if name not in _ORDER)
    text = json.dumps(ordered, ensure_ascii=False, separators=(",", ":"), default=_plain)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        escaped = json.dumps(ordered, ensure_ascii=True, separators=(",", ":"), default=_plain)
        return (escaped + "\n").encode("ascii")


class AuditLog:
    """Thread-safe append-only JSONL, durable as the module docstring says."""

    def __init__(
        self, path: str | Path, *, fsync_interval_ms: int = 100, spool_records: int = 100_000
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync_interval_s = max(0, int(fsync_interval_ms)) / 1000.0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()  # one writer at a time; never held across an fsync
        self._sync_lock = threading.Lock()
        self._dirty = False
        self._closed = False
        self.records = 0  # written by this instance
        self.fsync_failures = 0
        self.write_failures = 0  # writes the disk refused (the record went to the spool)
        self.dropped = 0  # records lost because the spool was full
        self._spool: deque[bytes] = deque()
        self._torn = False
        self.spool_records = max(1, int(spool_records))
        self._end_torn_line()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.fsync_interval_s > 0:
            self._thread = threading.Thread(
                target=self._sync_loop, name="distillguard-audit-fsync", daemon=True
            )
            self._thread.start()

    def _end_torn_line(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with self.path.open("rb") as handle:
            handle.seek(size - 1)
            last = handle.read(1)
        if last != b"\n":
            log.warning("%s ended in a partial line (an earlier crash); it is closed off", self.path)
            _write_all(self._fd, b"\n")

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append one record; True when it reached the file (it then survives a crash of this
        process), False when the disk refused it and it waits in the spool."""
        line = encode(record)
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: the audit log is closed")
            self._spool.append(line)
            if len(self._spool) > self.spool_records:
                self._spool.popleft()
                self.dropped += 1
            written = self._drain_locked()
            if written and self.fsync_interval_s == 0:
                os.fsync(self._fd)
            return written

    @property
    def pending(self) -> int:
        """Records waiting in the spool for the disk to take them."""
        return len(self._spool)

    def _drain_locked(self) -> bool:
        """Write the spool in order; False (the rest kept) at the first write the disk refuses."""
        while self._spool:
            line = self._spool[0]
            if self._torn:  # an earlier attempt left part of a line: end it first
                line = b"\n" + line
            progress = _Progress()
            try:
                _write_all(self._fd, line, progress)
                self._torn = False
            except OSError as exc:
                self._torn = self._torn or progress.written > 0
                self.write_failures += 1
                log.error("writing to %s failed (%s); %d records spooled", self.path, exc, len(self._spool))
                return False
            self._spool.popleft()
            self.records += 1
            self._dirty = True
        return True

    def flush(self) -> None:
        """Fsync now (what the background thread does every interval)."""
        # fsync runs outside the write lock (a slow disk must not stall requests) but
        # inside the sync lock, which close() takes too: the descriptor stays open meanwhile.
        with self._sync_lock:
            with self._lock:
                if self._closed:
                    return
                if self._spool:
                    self._drain_locked()
                if not self._dirty:
                    return
                self._dirty = False
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self.fsync_failures += 1
                self._dirty = True
                log.error("fsync of %s failed: %s", self.path, exc)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            self.flush()

    def close(self) -> None:
        """Flush and fsync; idempotent. Later writes raise ValueError."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        with self._sync_lock, self._lock:
            if self._closed:
                return
            self._drain_locked()
            if self._spool:
                self.dropped += len(self._spool)
                log.error(
                    "%s: %d spooled audit records could not be written at close", self.path, len(self._spool)
                )
            self._closed = True
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Progress:
    """How many bytes of one line reached the file before a write failed."""

    written = 0


def _write_all(fd: int, data: bytes, progress: _Progress | None = None) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
        if progress is not None:
            progress.written += written
