"""Finding input files, reading them as records, and recognising their format.

Records come out one at a time with their 1-based line number and the byte
offset of the line in the decompressed stream, so a quarantined record can be
found again. Memory stays bounded: a line longer than ``max_record_bytes`` is
skipped in chunks and reported, never held whole.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from distillguard.ingest import audit_log

FORMATS = ("litellm", "otel", "openai", "langfuse", "canonical", "distillguard-audit")

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARQUET_MAGIC = b"PAR1"
_SKIP_CHUNK = 1 << 20
_SNIFF_RECORDS = 50


@dataclass
class RawRecord:
    """One record as read: bytes of a text line, or an already-decoded dict (Parquet, JSON arrays)."""

    line: int | None
    offset: int | None
    data: bytes | dict[str, Any] | None
    problem: str | None = None  # set when the reader itself could not produce the record


class StreamBroken(Exception):
    """The compressed stream ended early or is corrupt (records before it are fine)."""


# ------------------------------------------------------------------------ paths
def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named directly, files under directories (recursively), and glob matches.

    A path that names nothing raises FileNotFoundError naming it.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        elif any(ch in str(raw) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True) if Path(m).is_file())
            if not matches:
                raise FileNotFoundError(f"{raw}: no files match this pattern")
            found.extend(matches)
        else:
            raise FileNotFoundError(f"{raw}: no such file or directory")
    unique: dict[Path, None] = dict.fromkeys(found)
    return list(unique)


# --------------------------------------------------------------------- streams
class _ZstdReader(io.RawIOBase):
    """zstd frames decoded incrementally; unlike zstandard's stream_reader it notices truncation."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._decoder = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._midframe = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._midframe:
                    raise StreamBroken("zstd stream ends in the middle of a frame (truncated file)")
                return 0
            while chunk:
                try:
                    self._pending += self._decoder.decompress(chunk)
                except zstandard.ZstdError as exc:
                    raise StreamBroken(f"corrupt zstd data: {exc}") from None
                self._midframe = not self._decoder.eof
                chunk = self._decoder.unused_data if self._decoder.eof else b""
                if self._decoder.eof:
                    self._decoder = zstandard.ZstdDecompressor().decompressobj()
                    self._midframe = bool(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def open_stream(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(decompressed stream, underlying file) chosen by magic bytes, not by file name."""
    raw = path.open("rb")
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    if magic == ZSTD_MAGIC:
        return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 16), raw
    return raw, raw


# Bytes of decompressed input read to estimate a file's record count (a few hundred records of
# any gateway format), fed from disk in small chunks so the bytes consumed on disk are known.
_ESTIMATE_SAMPLE_BYTES = 1 << 18
_ESTIMATE_CHUNK_BYTES = 1 << 12


def estimated_records(path: Path) -> int | None:
    """About how many records (lines) ``path`` holds, from its first 256 KiB of decompressed text:
    exact when the file holds no more than that, else its size on disk times the sample's lines
    per byte on disk (a gzip or zstd file is judged by its own compression ratio). None when the
    start of the file cannot be decompressed (the caller then decides as if it were large)."""
    try:
        sample, consumed, whole = _head_sample(path)
    except (zlib.error, zstandard.ZstdError, OSError):
        return None
    if sample.lstrip()[:1] == b"[":
        lines = _array_objects(sample)
    else:
        lines = sample.count(b"\n") + (1 if sample and not sample.endswith(b"\n") else 0)
    if whole:
        return lines
    return int(path.stat().st_size * lines / consumed) if consumed else None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_NESTING = re.compile(rb"[\[\]{}]")


def _array_objects(sample: bytes) -> int:
    """The objects of a JSON array document whose end is in ``sample`` (its start): an
    exporter writes the array on one line or spread over many, so its lines say nothing."""
    depth = objects = 0
    for mark in _JSON_NESTING.finditer(_JSON_STRING.sub(b'""', sample)):
        depth += 1 if mark.group() in (b"[", b"{") else -1
        objects += depth == 1 and mark.group() == b"}"
    return objects


def _head_sample(path: Path, limit: int = _ESTIMATE_SAMPLE_BYTES) -> tuple[bytes, int, bool]:
    """(decompressed head of ``path``, about ``limit`` bytes, the bytes of the file it came
    from, whether that is all of it)."""
    with path.open("rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            make: Callable[[], Any] = lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)  # noqa: E731
        elif magic == ZSTD_MAGIC:
            make = lambda: zstandard.ZstdDecompressor().decompressobj()  # noqa: E731
        else:
            head = raw.read(limit + 1)
            return head[:limit], len(head), len(head) <= limit
        decoder, size, consumed = make(), 0, 0
        pieces: list[bytes] = []
        while size < limit:
            chunk = raw.read(_ESTIMATE_CHUNK_BYTES)
            if not chunk:
                return b"".join(pieces), consumed, True
            consumed += len(chunk)
            while chunk:  # a gzip or zstd file may hold several members (rotated segments)
                piece = decoder.decompress(chunk)
                pieces.append(piece)
                size += len(piece)
                chunk = decoder.unused_data if decoder.eof else b""
                if decoder.eof:
                    decoder = make()
        return b"".join(pieces), consumed, raw.read(1) == b""


def first_byte(path: Path) -> bytes | None:
    """The first byte of ``path``'s decompressed text, as ``iter_records`` judges a file by it
    (None: empty, or a start that cannot be decompressed)."""
    try:
        sample, _, _ = _head_sample(path, 1 << 12)
    except (zlib.error, zstandard.ZstdError, OSError):
        return None
    return sample[:1] or None


def decompressed_at_most(path: Path, limit: int) -> bool:
    """Whether ``path`` holds no more than ``limit`` bytes once decompressed (read to find out,
    stopping past the limit)."""
    try:
        sample, _, whole = _head_sample(path, limit + 1)
    except (zlib.error, zstandard.ZstdError, OSError):
        return False
    return whole and len(sample) <= limit


def is_parquet(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == _PARQUET_MAGIC


# --------------------------------------------------------------------- records
def iter_records(
    path: Path, *, max_record_bytes: int, on_position: Callable[[int], None] | None = None
) -> Iterator[RawRecord]:
    """Every record of ``path``: Parquet rows, elements of a JSON array document, or lines.

    ``on_position`` is told the byte position in the (compressed) file now and then,
    for a progress bar.
    """
    if path.stat().st_size == 0:
        yield RawRecord(None, 0, None, "empty file")
        return
    if is_parquet(path):
        yield from _parquet_records(path)
        return
    stream, raw = open_stream(path)
    with raw, stream:
        try:
            head = stream.peek(1)[:1] if hasattr(stream, "peek") else b""
            first = head.lstrip()[:1] if head else b""
            if first == b"[" and path.stat().st_size <= max_record_bytes:
                yield from _json_document(stream, max_record_bytes)
                return
            yield from _lines(stream, max_record_bytes, raw.tell if on_position else None, on_position)
        except StreamBroken as exc:
            yield RawRecord(None, None, None, str(exc))
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            yield RawRecord(None, None, None, f"truncated or corrupt compressed stream: {exc}")


def _lines(
    stream: BinaryIO,
    max_record_bytes: int,
    position: Callable[[], int] | None = None,
    on_position: Callable[[int], None] | None = None,
) -> Iterator[RawRecord]:
    offset = 0
    number = 0
    saw_any = False
    while True:
        line = stream.readline(max_record_bytes + 1)
        if not line:
            break
        number += 1
        if on_position is not None and position is not None and number % 10_000 == 0:
            on_position(position())
        start = offset
        offset += len(line)
        if len(line) > max_record_bytes and not line.endswith(b"\n"):
            size = len(line)
            while True:  # skip the rest of the oversized record without holding it
                rest = stream.readline(_SKIP_CHUNK)
                size += len(rest)
                offset += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield RawRecord(number, start, line[:512], f"record of {size} bytes exceeds max_record_bytes")
            saw_any = True
            continue
        if not line.strip():
            continue  # blank lines are not records
        saw_any = True
        yield RawRecord(number, start, line)
    if not saw_any:
        yield RawRecord(None, 0, None, "empty file (no records)")


def _json_document(stream: BinaryIO, max_record_bytes: int) -> Iterator[RawRecord]:
    """A file holding one JSON array of records (some exporters write that instead of JSONL)."""
    body = stream.read(max_record_bytes + 1)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        yield from _lines(io.BytesIO(body), max_record_bytes)
        return
    items = document if isinstance(document, list) else [document]
    if not items:
        yield RawRecord(None, 0, None, "empty file (an empty JSON array)")
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield RawRecord(index, None, item)
        else:
            yield RawRecord(index, None, None, f"array element is a {type(item).__name__}, not an object")


def _parquet_records(path: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        index = 0
        for batch in parquet.iter_batches(batch_size=5000):
            for row in batch.to_pylist():
                index += 1
                yield RawRecord(index, None, row)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on bad files
        yield RawRecord(None, None, None, f"unreadable Parquet: {exc}")
    else:
        if index == 0:
            yield RawRecord(None, None, None, "empty file (Parquet without rows)")


def parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except (OSError, ValueError):
        return []


# ---------------------------------------------------------------------- formats
def detect_format(obj: dict[str, Any]) -> str | None:
    """The source format of one decoded record, from the keys each tool always writes."""
    if audit_log.looks_like(obj):
        return audit_log.FORMAT
    if "resourceSpans" in obj:
        return "otel"
    if "event_id" in obj and ("ts_start" in obj or "source_format" in obj):
        return "canonical"
    if "traceId" in obj and "type" in obj and ("startTime" in obj or "start_time" in obj):
        return "langfuse"
    if "request" in obj and ("timestamp" in obj or "account_id" in obj or "response" in obj):
        return "openai"
    if "call_type" in obj or "model_parameters" in obj or ("startTime" in obj and "metadata" in obj):
        return "litellm"
    return None


def sniff_file(path: Path, *, max_record_bytes: int) -> str | None:
    """The format of the first records of ``path`` that decode as JSON objects."""
    if path.stat().st_size == 0:
        return None
    if is_parquet(path):
        return detect_format(dict.fromkeys(parquet_columns(path)))
    looked = 0
    for record in iter_records(path, max_record_bytes=max_record_bytes):
        if record.problem or record.data is None:
            continue
        looked += 1
        obj: Any = record.data
        if isinstance(obj, bytes):
            try:
                obj = json.loads(obj)
            except (ValueError, RecursionError):
                obj = None
        if isinstance(obj, dict):
            found = detect_format(obj)
            if found:
                return found
        if looked >= _SNIFF_RECORDS:
            break
    return None
