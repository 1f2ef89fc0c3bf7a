"""Follow mode's backlog through batch ingest's SQL path (``fastpath.ingest_staged``).

When many whole lines of a JSON-lines log are pending (``follow_sql_lines``), follow mode
copies that byte range to a spool file in a temporary directory (never beside the followed
logs, where it would be followed too) and stages it as batch ingest stages a large file: the
canonical fast path or the format's SQL mapping. The rows name the followed file and their
line in it (``fastpath.Origin``), and are written in the follower's open transaction, so they
commit with the offsets they cover. A chunk may hold blank lines: the stage numbers its rows by
line in the spool file (``line_numbers``), so ``line_base`` + that is the line in the log.

A large backlog is cut into up to ``ingest_parallel_files`` chunks at line boundaries
(``plan_chunks``), and chunks (of one file or of several) are staged at once, as batch ingest
stages files, then written in order: staging touches nothing but its own database.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from distillguard.config import Config
from distillguard.ingest import fastpath, mapped
from distillguard.ingest.run import ADAPTERS

# The most bytes one chunk spools and stages: bounds the temporary disk it takes and what a
# crash makes the next run read again, while a 100k-record backlog of simulated gateway records
# (about 1-5 KB each) is still one or a few chunks, so the stage's fixed cost is paid rarely.
CHUNK_MAX_BYTES = 256 << 20
# No gateway record is a shorter line than this: a range of fewer bytes than ``follow_sql_lines``
# times it cannot hold that many records, and is not scanned for them.
MIN_LINE_BYTES = 64
_PIECE = 4 << 20
SPOOL_PREFIX = "dg-follow-"  # + the follower's process id + "-", in the system's temporary folder


def remove_stale_spools(warehouse_folder: Path) -> list[Path]:
    """What followers killed inside a chunk left: spool folders (up to ``CHUNK_MAX_BYTES``) and
    staging folders beside the warehouse. Those of live processes are kept."""
    spools = fastpath.remove_stale_work(Path(tempfile.gettempdir()), SPOOL_PREFIX)
    return spools + fastpath.remove_stale_work(warehouse_folder, fastpath.STAGE_PREFIX)


def whole_lines(fd: int, start: int, size: int, max_bytes: int = CHUNK_MAX_BYTES) -> tuple[int, int]:
    """``(end, lines)``: the complete lines of ``fd`` from ``start`` (a line's start) up to the
    last newline within ``max_bytes`` and before ``size``."""
    end, lines = start, 0
    limit = min(size, start + max_bytes)
    scan = start
    while scan < limit:
        piece = os.pread(fd, min(_PIECE, limit - scan), scan)
        if not piece:
            break
        lines += piece.count(b"\n")
        cut = piece.rfind(b"\n")
        if cut >= 0:
            end = scan + cut + 1
        scan += len(piece)
    return end, lines


@dataclass(frozen=True)
class ChunkPlan:
    """Whole lines ``[start, end)`` of a followed file, ``lines`` of them."""

    start: int
    end: int
    lines: int


def plan_chunks(fd: int, start: int, size: int, *, min_lines: int, pieces: int) -> list[ChunkPlan]:
    """The chunks that read the whole lines of ``fd`` from ``start`` (up to ``CHUNK_MAX_BYTES``):
    none when they are fewer than ``min_lines``, else up to ``pieces`` of about equal bytes, each
    of at least ``min_lines`` lines as a rule (so each repays its stage's fixed cost)."""
    end, lines = whole_lines(fd, start, size)
    if lines < max(1, min_lines):
        return []
    parts = max(1, min(pieces, lines // max(1, min_lines)))
    cuts = [start]
    for part in range(1, parts):
        cut = _next_line_start(fd, start + part * (end - start) // parts, end)
        if cuts[-1] < cut < end:
            cuts.append(cut)
    plans: list[ChunkPlan] = []
    for a, b in itertools.pairwise([*cuts, end]):
        # the last piece's lines are what the others leave: its bytes are not read again
        counted = whole_lines(fd, a, b)[1] if b < end else lines - sum(p.lines for p in plans)
        plans.append(ChunkPlan(a, b, counted))
    return plans


def _next_line_start(fd: int, position: int, end: int) -> int:
    """The start of the first line at or after ``position`` (a line's start when the byte
    before it is a newline), at most ``end``."""
    scan = max(0, position - 1)
    while scan < end:
        piece = os.pread(fd, min(_PIECE, end - scan), scan)
        if not piece:
            break
        found = piece.find(b"\n")
        if found >= 0:
            return scan + found + 1
        scan += len(piece)
    return end


def lines_in(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` of each line of ``fd`` in ``[start, end)`` (which ends with a newline)."""
    carry, carry_at = b"", start
    scan = start
    while scan < end:
        piece = os.pread(fd, min(_PIECE, end - scan), scan)
        if not piece:
            return
        scan += len(piece)
        text, begin = carry + piece, 0
        while (stop := text.find(b"\n", begin)) >= 0:
            yield carry_at + begin, text[begin : stop + 1]
            begin = stop + 1
        carry, carry_at = text[begin:], carry_at + begin


def stage_chunk(
    config: Config, fd: int, start: int, end: int, origin: fastpath.Origin, fmt: str
) -> fastpath.Staged | None:
    """Stage ``[start, end)`` of ``fd`` (whole lines of format ``fmt``) in a staging database of
    its own, touching nothing else (``fastpath.stage_file``); None when DuckDB cannot read it.
    ``fastpath.write_staged`` writes it into the warehouse's open transaction, and its close
    removes the spool file with the staging folder."""
    spool_dir = tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
    try:
        spool = Path(spool_dir.name) / "chunk.jsonl"
        with spool.open("wb") as out:
            _copy_range(fd, out.fileno(), start, end)
        threads = None
        if fmt == "canonical":
            stage = fastpath._stage_sql(spool, int(config.max_record_bytes), int(config.max_text_chars))
        else:
            stage = mapped.stage_sql(ADAPTERS[fmt].sql_mapping(config), spool, config)
            threads = mapped.STAGE_THREADS
        staged = fastpath.stage_file(spool, stage, config=config, stage_threads=threads, origin=origin)
    except BaseException:
        spool_dir.cleanup()
        raise
    if staged is None:
        spool_dir.cleanup()
        return None
    staged.work.callback(spool_dir.cleanup)
    return staged


def _copy_range(source: int, target: int, start: int, end: int) -> None:
    """Bytes ``[start, end)`` of ``source`` to ``target``, in the kernel where it can."""
    position = start
    while position < end:
        try:
            copied = os.copy_file_range(source, target, end - position, position)
        except OSError:  # a file system that cannot (some network and overlay ones)
            copied = os.write(target, os.pread(source, min(_PIECE, end - position), position))
        if copied <= 0:
            raise OSError(f"could not copy bytes {position}..{end} of a followed file")
        position += copied
