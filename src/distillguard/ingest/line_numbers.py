"""A stage row's line in its file, as the Python path numbers it: blank lines count.

DuckDB's newline-delimited ``read_json`` numbers records: it skips lines of nothing but white
space (space, tab, CR, VT, FF; ``bytes.strip`` empties the same lines, so the Python path skips
them as records too) while ``sniff._lines`` numbers physical lines. After a blank line a stage's
record number (``rowid + 1``, or ``_line`` where a record yields several rows) is not the line
a user must look at. A JSON-lines file's blank lines are found once (``blank_lines``: a regex
over the file, or over its decompressed stream), and where any precedes a record the stage
gets table ``line_map`` (record number -> line) that every statement naming a line joins
(``Numbering``; the insert reads the line from ``firsts``, the join it makes anyway, which
``fastpath._derive`` then makes with each row's line). A file without them, nearly all, pays
the scan and nothing else.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from distillguard.ingest.sniff import StreamBroken, open_stream

# ``bytes.strip``'s white space less the newline: what a blank line may hold.
_SPACE = rb"[ \t\r\x0b\x0c]*"
# The newline before a blank line (a lookahead, so a run of blank lines is found line by line).
_NEWLINE_BEFORE_BLANK = re.compile(rb"\n(?=" + _SPACE + rb"\n)")
# Text read at a time, decompressed or not (a decompressed read returns at most this much,
# however well the file compresses).
_PIECE_BYTES = 8 << 20


class Unreadable(Exception):
    """The file's text could not be read to the end to find its blank lines."""


@dataclass(frozen=True)
class Numbering:
    """How statements over ``stage`` name a row's line: its record number (``rowid + 1``, or the
    ``_line`` column where a record yields several rows), shifted past blank lines through
    ``line_map`` where the file has any before a record."""

    record_column: str  # "rowid" or "_line"
    mapped: bool = False

    def record(self, alias: str) -> str:
        return f"{alias}.rowid + 1" if self.record_column == "rowid" else f"{alias}._line"

    def line(self, alias: str) -> str:
        """The line of a row of ``stage`` named ``alias`` (within a statement with ``join``)."""
        if not self.mapped:
            return self.record(alias)
        return f"coalesce(_lm._physical, {self.record(alias)})"

    def join(self, alias: str) -> str:
        """The join ``line`` reads (nothing where no blank line precedes a record)."""
        if not self.mapped:
            return ""
        return f" LEFT JOIN line_map _lm ON _lm._record = {self.record(alias)}"


def numbering(staging: duckdb.DuckDBPyConnection, found: Future[list[int]] | None) -> Numbering:
    """The stage's numbering; for a JSON-lines file (``found``: its ``blank_lines``, being read)
    with blank lines before its last record, table ``line_map`` is made in ``staging`` (records
    before the first blank line have no row there: their line is their number). Raises
    ``Unreadable``."""
    names = [row[0] for row in staging.execute("DESCRIBE stage").fetchall()]
    column = "_line" if "_line" in names else "rowid"
    if found is None:
        return Numbering(column)
    try:
        blanks = found.result()
    except (OSError, EOFError, zlib.error, StreamBroken) as exc:
        raise Unreadable(str(exc)) from exc
    if not blanks:
        return Numbering(column)
    counted = "count(*)" if column == "rowid" else "max(_line)"
    records = int(staging.execute(f"SELECT {counted} FROM stage").fetchone()[0] or 0)  # type: ignore[index]
    table = shifts(blanks, records)
    if not table:  # blank lines only after the last record: no record moves
        return Numbering(column)
    staging.register(
        "_dg_line_shifts",
        pa.table({"_first": [first for first, _ in table], "_shift": [shift for _, shift in table]}),
    )
    try:
        staging.execute(
            f"""CREATE TABLE line_map AS
                SELECT r._record, r._record + s._shift AS _physical
                FROM (SELECT range AS _record FROM range({table[0][0]}, {records + 1})) r
                ASOF JOIN _dg_line_shifts s ON r._record >= s._first"""
        )
    finally:
        staging.unregister("_dg_line_shifts")
    return Numbering(column, mapped=True)


def shifts(blanks: list[int], records: int) -> list[tuple[int, int]]:
    """``(first record, blank lines before it)`` from the sorted line numbers ``blanks``: a pair per
    record that follows blank lines, up to record ``records``. The k-th blank line, line b, has
    b - k records before it, so from record b - k + 1 on every line is k further down."""
    table: list[tuple[int, int]] = []
    for count, line in enumerate(blanks, start=1):
        first = line - count + 1
        if first > records:
            break
        if table and table[-1][0] == first:  # a run of blank lines moves the same record
            table[-1] = (first, count)
        else:
            table.append((first, count))
    return table


def blank_lines(path: Path) -> list[int]:
    """The numbers (from 1) of the lines of ``path``'s text, decompressed where it is gzip or
    zstd (by magic bytes, as ``sniff.open_stream``), that hold nothing but white space and end
    with a newline (a blank last line without one precedes no record)."""
    stream, raw = open_stream(path)
    with stream, raw:
        # read, not mapped: a mapped file's pages count in the process's resident memory
        pieces = iter(lambda: stream.read(_PIECE_BYTES), b"")
        return _blanks(pieces, raw.fileno() if stream is raw else None)


def _blanks(pieces: Iterator[bytes], fd: int | None) -> list[int]:
    """The blank lines of the text in ``pieces``. Newlines are counted only up to a blank line
    found, so a text without one costs the regex's scan alone; a plain file (``fd``) has what
    came before read again then, a decompressed stream is counted as it goes. A piece is never
    joined to the one before (a fresh copy of each costs as much again as the scan): only the
    line they share is."""
    found: list[int] = []
    lines = counted = 0  # the newlines of the text before offset ``counted``
    base, carry = 0, b""  # the offset of ``piece`` in the text; the line the last one ended in
    for piece in pieces:
        first = piece.find(b"\n") + 1
        if first == 0:
            carry, base = carry + piece, base + len(piece)
            continue
        end = piece.rfind(b"\n") + 1
        starts = [0] if not (carry + piece[:first]).strip() else []  # the line they share
        starts += [match.end() for match in _NEWLINE_BEFORE_BLANK.finditer(piece, first - 1, end)]
        for at in starts:  # in ``piece``; 0 also stands for the shared line, as it holds no newline
            if counted < base:  # a stream's pieces before were counted up to their last newline
                if fd is not None:
                    lines += _newlines(fd, counted, base)
                counted = base
            lines += piece.count(b"\n", counted - base, at)
            counted = base + at
            found.append(lines + 1)
        if fd is None:  # what is decompressed cannot be read again
            lines += piece.count(b"\n", max(counted - base, 0))
            counted = base + len(piece)
        carry, base = piece[end:], base + len(piece)
    return found


class LineStarts:
    """Where lines start in a file's text, decompressed as ``blank_lines`` reads it: the byte
    offset the line-by-line path gives a record it quarantines. Lines are asked for in
    ascending order, in as many calls as the caller likes, for one read of the file in all;
    lines past the end of the text are left out."""

    def __init__(self, path: Path) -> None:
        self._stream, self._raw = open_stream(path)
        self._piece = b""
        self._base = 0  # the offset of ``_piece`` in the text
        self._newlines = 0  # in the text before ``_piece``
        self._line_start = 0  # where line ``_newlines + 1``, the one ``_piece`` begins in, starts
        self._seen = self._cursor = 0  # the newlines of ``_piece`` before ``_cursor``
        self._count = 0  # the newlines of ``_piece``
        self._last = (0, 0)  # the last line found and its start: a record's rows may span calls

    def __enter__(self) -> LineStarts:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()
        self._raw.close()

    def find(self, lines: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for target in sorted(set(lines)):
            if target == self._last[0]:
                found[target] = self._last[1]
                continue
            while target - 1 > self._newlines + self._count:  # the target starts further on
                if not self._next_piece():
                    return found
            need = target - 1 - self._newlines  # newlines of ``_piece`` before the target starts
            if need < 0:  # it started in a piece already passed (and was not the last found)
                continue
            if need == 0:  # the line ``_piece`` begins in
                found[target] = self._line_start
                self._last = (target, self._line_start)
                continue
            if need < self._seen:  # asked out of order: count again from the piece's start
                self._seen = self._cursor = 0
            while self._seen < need:
                self._cursor = self._piece.index(b"\n", self._cursor) + 1
                self._seen += 1
            found[target] = self._base + self._cursor
            self._last = (target, found[target])
        return found

    def _next_piece(self) -> bool:
        if self._count:
            self._line_start = self._base + self._piece.rindex(b"\n") + 1
        self._newlines += self._count
        self._base += len(self._piece)
        self._piece = self._stream.read(_PIECE_BYTES)
        self._count = self._piece.count(b"\n")
        self._seen = self._cursor = 0
        return bool(self._piece)


def _newlines(fd: int, begin: int, end: int) -> int:
    count = 0
    while begin < end:
        piece = os.pread(fd, min(_PIECE_BYTES, end - begin), begin)
        if not piece:
            break
        count += piece.count(b"\n")
        begin += len(piece)
    return count
