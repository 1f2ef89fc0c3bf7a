"""Blank lines are lines, not records: a quarantined record and a stored event name the same
line of the file whichever path read it. DuckDB's ``read_json`` numbers records and skips
lines of white space; the Python path numbers physical lines (``sniff._lines``)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
import zstandard

from distillguard.config import Config
from distillguard.engine import SqlError
from distillguard.ingest import fastpath, ingest_paths, line_numbers
from distillguard.ingest.sniff import iter_records
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, quarantine_rows
from .test_columnar import FORMATS, _damaged, _sample, simulated  # noqa: F401 (a fixture)
from .test_declarative import ODD_LITELLM, _assert_same, _both_paths, _records, _set

# Every kind of line ``bytes.strip`` empties, and DuckDB skips: before the first record, alone,
# in runs, just before a damaged record, and at the end.
BLANKS = {0: [b"\n"], 3: [b"   \n", b"\r\n"], 40: [b"\t\n"], 120: [b"\x0b \x0c\n"] * 3}
DAMAGED = (3, 41, 250)  # record indexes: the first two follow blank lines


def _lines_with_blanks(records: list[dict[str, Any]], newline: bytes) -> bytes:
    out = []
    for index, record in enumerate(records):
        out += BLANKS.get(index, [])
        out.append(json.dumps(record).encode() + newline)
    out.append(b"  \n")
    return b"".join(out)


def _write(path: Path, data: bytes, compression: str) -> Path:
    if compression == "gzip":
        path = path.with_suffix(".jsonl.gz")
        path.write_bytes(gzip.compress(data))
    elif compression == "zstd":
        path = path.with_suffix(".jsonl.zst")
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        path = path.with_suffix(".jsonl")
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("compression, newline", [("plain", b"\n"), ("gzip", b"\n"), ("zstd", b"\r\n")])
@pytest.mark.parametrize("fmt", FORMATS)
def test_sql_and_python_name_the_same_lines_in_a_file_with_blank_lines(
    fmt: str,
    compression: str,
    newline: bytes,
    simulated: Path,  # noqa: F811 (test_columnar's fixture, imported above)
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _sample(fmt, simulated, 300)
    for index in DAMAGED:
        records[index] = _damaged(fmt, records[index])
    data = _lines_with_blanks(records, newline)
    path = _write(tmp_path / fmt, data, compression)
    sql, python = _both_paths(config, tmp_path, path, monkeypatch)
    _assert_same(sql, python)  # ingest_line of every event, line of every quarantined record
    physical = data.split(b"\n")
    lines = [q["line"] for q in sql[2]]
    assert len(lines) >= len(DAMAGED)
    for line in lines:  # each names a line holding the record, not a blank one
        assert physical[line - 1].strip(), line
    for index in DAMAGED:  # the line the damaged record is on
        text = json.dumps(records[index]).encode()
        assert 1 + next(n for n, line in enumerate(physical) if line.strip() == text) in lines


def test_records_sql_leaves_to_python_are_found_by_their_line(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Odd LiteLLM records (some of which the mapping leaves to the adapter), each after a blank
    line: the adapter reads the records SQL named, no other."""
    base = next(_records(FIXTURES / "litellm.jsonl"))
    lines = [json.dumps(base).encode()]
    for i, (dotted, value) in enumerate(ODD_LITELLM.values()):
        record = _set(base, dotted, value)
        if dotted != "id":
            record["id"] = f"odd-{i}"
        lines += [b"", json.dumps(record).encode()]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    assert len(routed) > 3
    assert all(lines[line - 1] for line in routed)  # lines of records, never a blank one
    _assert_same(sql, python)


@pytest.mark.parametrize("compression", ["plain", "gzip", "zstd"])
def test_the_blank_lines_found_are_the_lines_the_python_path_skips(
    compression: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pieces that split lines, blank ones too
    monkeypatch.setattr(line_numbers, "_PIECE_BYTES", 5)
    kinds = [b"\n", b"  \n", b"\r\n", b"\t\x0b\x0c \n"]
    rng = random.Random(5)
    for trial in range(40):
        lines = [
            rng.choice(kinds) if rng.random() < 0.3 else b'{"n": %d}\n' % i for i in range(rng.randint(1, 40))
        ]
        data = b"".join(lines) + rng.choice([b"", b"  ", b'{"n": 0}'])
        if compression == "gzip":  # two members, as a rotated log joined
            path = tmp_path / f"{trial}.jsonl.gz"
            path.write_bytes(gzip.compress(data[: len(data) // 2]) + gzip.compress(data[len(data) // 2 :]))
        else:
            path = _write(tmp_path / str(trial), data, compression)
        records = {record.line for record in iter_records(path, max_record_bytes=1 << 20)}
        skipped = [n for n in range(1, data.count(b"\n") + 1) if n not in records]
        assert line_numbers.blank_lines(path) == skipped, data


def test_a_fallback_after_the_sql_path_quarantined_records_quarantines_each_once(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL path quarantines, then fails to insert (the disk filled up, say): the line path
    reads the file again, and each bad record is in quarantine once, as the report counts it."""
    good = [
        {"event_id": f"e-{i}", "account_id": "acct", "ts_start": "2026-02-01T10:00:00Z"} for i in range(40)
    ]
    good[5]["event_id"] = None
    good[30]["ts_start"] = "not a time"
    path = tmp_path / "canonical.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good))

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise SqlError("INSERT INTO events ...", OSError("No space left on device"))

    tried: list[bool] = []
    stage = fastpath.stage_file

    def staged(*args: Any, **kwargs: Any) -> Any:
        tried.append(True)
        return stage(*args, **kwargs)

    monkeypatch.setattr(fastpath, "insert_staged", fail)
    monkeypatch.setattr(fastpath, "stage_file", staged)
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [path], config=config, progress=False)
        quarantine = [(q["line"], q["reason"]) for q in quarantine_rows(warehouse)]
    assert tried == [True]
    assert report.reconciles and report.quarantined == 2
    assert [line for line, _ in quarantine] == [6, 31], quarantine


@pytest.mark.parametrize("piece_bytes", [3, 7, 64, 1 << 20])
def test_line_starts_are_the_offsets_the_python_path_gives(
    piece_bytes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked in ascending order over several calls (as the quarantine's batches ask), with
    pieces that split lines, repeated lines and lines past the end left out."""
    monkeypatch.setattr(line_numbers, "_PIECE_BYTES", piece_bytes)
    rng = random.Random(piece_bytes)
    lines = [b"x" * rng.randint(1, 20) + b"\n" for _ in range(200)] + [b"last, no newline"]
    path = _write(tmp_path / "text", b"".join(lines), "gzip")
    expected = {number: offset for number, offset, _ in _python_lines(path)}
    asked = [*sorted(rng.sample(range(1, len(lines) + 1), 60)), len(lines) + 5]
    found: dict[int, int] = {}
    with line_numbers.LineStarts(path) as starts:
        for begin in range(0, len(asked), 7):
            batch = asked[max(begin - 1, 0) : begin + 7]  # each batch repeats the last one asked
            found.update(starts.find(batch))
    assert found == {n: expected[n] for n in asked if n in expected}
    assert len(found) == 60


def _python_lines(path: Path) -> list[tuple[int, int, Any]]:
    """(line, offset, text) of each non-blank line, as the line-by-line path reads them."""
    records = iter_records(path, max_record_bytes=1 << 20)
    return [(r.line, r.offset, r.data) for r in records if r.line is not None and r.offset is not None]
