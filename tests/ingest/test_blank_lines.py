"""Blank lines are lines, not records: a quarantined record and a stored event name the same
line of the file whichever path read it. DuckDB's ``read_json`` numbers records and skips
lines of white space; the Python path numbers physical lines (``sniff._lines``)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from distillguard.config import Config
from distillguard.engine import SqlError
from distillguard.ingest import fastpath, ingest_paths, run
from distillguard.warehouse import Warehouse

from .helpers import quarantine_rows
from .test_columnar import FORMATS, _damaged, _sample, simulated  # noqa: F401 (a fixture)
from .test_declarative import _assert_same, _both_paths

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
    for index in DAMAGED:
        line = 1 + next(n for n, text in enumerate(physical) if text.strip() == json.dumps(records[index]).encode())
        assert line in lines


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
    stage = fastpath.ingest_staged

    def staged(*args: Any, **kwargs: Any) -> Any:
        tried.append(True)
        return stage(*args, **kwargs)

    monkeypatch.setattr(fastpath, "_insert", fail)
    monkeypatch.setattr(fastpath, "ingest_staged", staged)
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [path], config=config, progress=False)
        quarantine = [(q["line"], q["reason"]) for q in quarantine_rows(warehouse)]
    assert tried == [True]
    assert report.reconciles and report.quarantined == 2
    assert [line for line, _ in quarantine] == [6, 31]
