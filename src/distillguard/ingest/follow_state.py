"""What follow mode has read of each file, and how it is kept: the ``follow_offsets`` rows,
written in the same transaction as the records they cover (``follow.Follower.commit``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from distillguard.ingest.run import FileReport, _FileRun
from distillguard.schema import FOLLOW_OFFSETS, column_names
from distillguard.warehouse import Warehouse


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
class Tracked:
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



def load_tracked(warehouse: Warehouse, key: str, path: Path) -> Tracked:
    """A file's committed state from the warehouse, or a fresh start."""
    rows = warehouse.engine.to_arrow(
        "SELECT * FROM follow_offsets WHERE file_key = ?", [key]
    ).to_pylist()
    tracked = Tracked(key, path)
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


def offset_row(tracked: Tracked) -> dict[str, object]:
    """A file's ``follow_offsets`` row: what it has read, with what its open run holds."""
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

def write_offsets(warehouse: Warehouse, rows: list[dict[str, object]]) -> None:
    """Replace the files' rows in ``follow_offsets`` (in the caller's transaction)."""
    if not rows:
        return
    engine = warehouse.engine
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
