"""Bad input never loses data and never raises: every record is stored, a duplicate, or quarantined."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard

from distillguard.config import Config
from distillguard.ingest import ingest_paths
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, quarantine_rows, write_lines


def _event(event_id: str, ts: object = "2026-02-01T00:00:00Z", **extra: object) -> str:
    return json.dumps({"id": event_id, "timestamp": ts, "account_id": "acct", "request": {}, **extra})


def _run(warehouse: Warehouse, config: Config, *paths: Path, fmt: str | None = None):
    report = ingest_paths(warehouse, list(paths), config=config, source_format=fmt, progress=False)
    assert report.read == report.stored + report.duplicates + report.quarantined
    assert warehouse.count("events") >= report.stored
    return report


def test_each_bad_line_is_quarantined_with_file_line_and_reason(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            _event("ok-1"),
            '{"id": "broken", "timestamp": ',  # malformed JSON
            _event("", ts="2026-02-01T00:00:00Z"),  # missing id
            json.dumps({"id": "no-account", "timestamp": "2026-02-01T00:00:00Z", "request": {}}),
            _event("bad-ts", ts="last tuesday"),
            _event("no-ts", ts=None),
            _event("typed", status_code="two hundred"),  # mistyped field
            b'{"id": "latin1", "timestamp": "2026-02-01T00:00:00Z", "account_id": "caf\xe9"}',
            "[1, 2, 3]",
            _event("ok-2", ts=1770000000),
        ],
    )
    report = _run(warehouse, config, path, fmt="openai")
    assert (report.read, report.stored, report.quarantined) == (10, 2, 8)
    rows = quarantine_rows(warehouse)
    by_line = {row["line"]: row for row in rows}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 8, 9}
    assert all(row["file"] == str(path) for row in rows)
    assert "malformed JSON" in by_line[2]["reason"]
    assert "id" in by_line[3]["reason"] and "account_id" in by_line[4]["reason"]
    assert "RFC 3339" in by_line[5]["reason"] and "missing timestamp" in by_line[6]["reason"]
    assert "status_code" in by_line[7]["reason"] and "UTF-8" in by_line[8]["reason"]
    assert by_line[2]["byte_offset"] == len(_event("ok-1")) + 1
    assert by_line[2]["raw_excerpt"].startswith('{"id": "broken"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1770000000, "2026-02-02T02:40:00+00:00"),  # seconds
        (1770000000123, "2026-02-02T02:40:00.123000+00:00"),  # milliseconds
        (1770000000123456, "2026-02-02T02:40:00.123456+00:00"),  # microseconds
        ("1770000000123456789", "2026-02-02T02:40:00.123456+00:00"),  # nanoseconds as text
        ("2026-02-02T02:40:00Z", "2026-02-02T02:40:00+00:00"),
        ("2026-02-02T03:40:00+01:00", "2026-02-02T02:40:00+00:00"),
    ],
)
def test_timestamp_units(
    warehouse: Warehouse, config: Config, tmp_path: Path, value: object, expected: str
) -> None:
    _run(warehouse, config, write_lines(tmp_path / "t.jsonl", [_event("e", ts=value)]), fmt="openai")
    assert events_by_id(warehouse)["e"]["ts_start"].isoformat() == expected


def test_empty_file_and_unknown_format(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n  \n")
    unknown = write_lines(tmp_path / "other.jsonl", ['{"hello": "world"}', '{"foo": 1}'])
    report = _run(warehouse, config, empty, blank, unknown)
    assert report.stored == 0 and report.quarantined == 4
    reasons = [row["reason"] for row in quarantine_rows(warehouse)]
    assert sum("empty file" in r for r in reasons) == 2
    assert sum("unknown format" in r for r in reasons) == 2


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_truncated_compressed_file_keeps_records_before_the_break(
    warehouse: Warehouse, config: Config, tmp_path: Path, codec: str
) -> None:
    lines = "".join(_event(f"e{i}", prompt=f"prompt {i} " * 20) + "\n" for i in range(3000)).encode()
    packed = gzip.compress(lines) if codec == "gzip" else zstandard.ZstdCompressor().compress(lines)
    path = tmp_path / f"cut.jsonl.{codec}"
    path.write_bytes(packed[: len(packed) // 2])
    report = _run(warehouse, config, path, fmt="openai")
    assert 0 < report.stored < 3000
    assert report.quarantined == 1  # the break itself is one row
    assert (
        "truncated" in quarantine_rows(warehouse)[0]["reason"]
        or "corrupt" in quarantine_rows(warehouse)[0]["reason"]
    )
    assert set(events_by_id(warehouse)) == {f"e{i}" for i in range(report.stored)}


def test_a_record_sql_leaves_to_the_adapter_in_a_gzip_without_its_end_is_quarantined(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    """DuckDB reads a gzip stream whose trailer is cut off; Python's reader stops there. A
    record the SQL mapping routes to the adapter (here an array element that is no object)
    cannot be read back, and is quarantined by its number instead of lost (found by
    test_property)."""
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(b"[false]\n")[:-8])  # no CRC and length
    report = ingest_paths(warehouse, [path], config=config, source_format="otel", progress=False)
    assert report.reconciles and report.stored == 0
    reasons = {(q["line"], q["reason"].split(":")[0]) for q in quarantine_rows(warehouse)}
    assert (1, "record the SQL path left to the adapter could not be read again") in reasons
    assert (None, "truncated or corrupt compressed stream") in reasons


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_files_are_read_by_content_not_name(
    warehouse: Warehouse, config: Config, tmp_path: Path, codec: str
) -> None:
    raw = (FIXTURES / "openai.jsonl").read_bytes()
    packed = gzip.compress(raw) if codec == "gzip" else zstandard.ZstdCompressor().compress(raw)
    path = tmp_path / "log.data"
    path.write_bytes(packed)
    assert _run(warehouse, config, path).stored == 3


def test_huge_record_is_quarantined_without_holding_it(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    config = config.with_overrides(max_record_bytes=10_000)
    huge = _event("huge", prompt="x" * 50_000)
    path = write_lines(tmp_path / "huge.jsonl", [_event("a"), huge, _event("b")])
    report = _run(warehouse, config, path, fmt="openai")
    assert (report.stored, report.quarantined) == (2, 1)
    row = quarantine_rows(warehouse)[0]
    assert row["line"] == 2 and "exceeds max_record_bytes" in row["reason"]
    assert len(row["raw_excerpt"]) <= 512


def test_large_prompt_is_stored_truncated(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    prompt = "lorem ipsum " * 200_000  # 2.4 MB in one record, below max_record_bytes
    line = json.dumps(
        {
            "id": "big",
            "timestamp": "2026-02-01T00:00:00Z",
            "account_id": "a",
            "request": {"messages": [{"role": "user", "content": prompt}]},
        }
    )
    report = _run(warehouse, config, write_lines(tmp_path / "big.jsonl", [line]))
    assert report.stored == 1
    row = events_by_id(warehouse)["big"]
    assert row["prompt_chars"] == len(prompt) and len(row["prompt_text"]) == config.max_prompt_chars


def test_duplicates_inside_a_file_and_across_files(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    a = write_lines(tmp_path / "a.jsonl", [_event("x"), _event("x"), _event("y")])
    b = write_lines(tmp_path / "b.jsonl", [_event("y"), _event("z")])
    report = _run(warehouse, config, a, b)
    assert (report.stored, report.duplicates) == (3, 2)


def test_missing_path_names_it(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        ingest_paths(warehouse, [tmp_path / "nope.jsonl"], config=config, progress=False)
    with pytest.raises(FileNotFoundError, match=r"\*.zzz"):
        ingest_paths(warehouse, [str(tmp_path / "*.zzz")], config=config, progress=False)


def test_directories_and_globs(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    (tmp_path / "logs" / "day1").mkdir(parents=True)
    write_lines(tmp_path / "logs" / "day1" / "a.jsonl", [_event("d1")])
    write_lines(tmp_path / "logs" / "b.jsonl", [_event("d2")])
    write_lines(tmp_path / "c.jsonl", [_event("g1")])
    report = _run(warehouse, config, tmp_path / "logs")
    assert report.stored == 2
    report = ingest_paths(warehouse, [str(tmp_path / "*.jsonl")], config=config, progress=False)
    assert report.stored == 1


def test_deeply_nested_json_is_quarantined(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    first = write_lines(tmp_path / "deep-first.jsonl", [deep, _event("a")])
    later = write_lines(tmp_path / "deep-later.jsonl", [_event("b"), '{"x":' * 100_000 + "1" + "}" * 100_000])
    report = _run(warehouse, config, first, later)
    assert (report.stored, report.quarantined) == (2, 2)
