"""JSON array documents and Parquet files take the SQL path (``ingest/sources.py``) and store what
the Python path stores from them, and what the same records store as JSON lines: same rows, same
quarantine (reason and record number), counts that reconcile."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config
from distillguard.ingest import fastpath, ingest_paths, run, sources
from distillguard.ingest.run import MAPPED_FORMATS
from distillguard.ingest.sniff import estimated_records
from distillguard.warehouse import Warehouse

from .helpers import write_lines
from .langfuse_export import observations
from .test_declarative import _assert_same, _both_paths, _records

FORMATS = ("canonical", *MAPPED_FORMATS)
KINDS = ("lines", "array", "parquet")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    formats = "canonical,litellm,openai,otel"
    result = CliRunner().invoke(
        app,
        ["simulate", "--preset", "tiny", "--seed", "3", "--formats", formats, "--out", str(out), "--quiet"],
    )
    assert result.exit_code == 0, result.output[-2000:]
    return out / "traffic"


def _typeable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records pyarrow can write in one table with the first (a value of another JSON type
    in the same place, a content list beside a content string, has no Parquet column)."""
    kept = []
    for record in records:
        try:
            pa.Table.from_pylist([records[0], record])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        kept.append(record)
    return kept


def _sample(fmt: str, simulated: Path, count: int = 400) -> list[dict[str, Any]]:
    source = "litellm" if fmt == "langfuse" else fmt
    records = [r for f in sorted(simulated.glob(f"{source}-*")) for r in _records(f)][:count]
    if fmt == "langfuse":
        records = list(observations(records))
    return _typeable(records)


def _damaged(fmt: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record every path quarantines: no event id, or an OTLP request without spans."""
    bad = copy.deepcopy(record)
    if fmt == "otel":
        bad["resourceSpans"] = []
    else:
        bad["event_id" if fmt == "canonical" else "id"] = None
    return bad


def _write(kind: str, path: Path, records: list[dict[str, Any]]) -> Path:
    if kind == "lines":
        return write_lines(path.with_suffix(".jsonl"), [json.dumps(r) for r in records])
    if kind == "array":
        target = path.with_suffix(".json")
        target.write_text(json.dumps(records, indent=1))  # as exporters write it: over many lines
        return target
    target = path.with_suffix(".parquet")
    table = pa.Table.from_pylist(records)
    # Parquet has no empty struct: a column of nothing but {} is left out, as a data lake does
    empty = [f.name for f in table.schema if pa.types.is_struct(f.type) and f.type.num_fields == 0]
    pq.write_table(table.drop_columns(empty), target, row_group_size=150)
    return target


def _stored(result: Any) -> dict[str, dict[str, Any]]:
    _, rows, _ = result
    return {k: {c: v for c, v in row.items() if c != "ingest_file"} for k, row in rows.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_arrays_and_parquet_store_by_sql_what_python_and_json_lines_store(
    fmt: str, simulated: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _sample(fmt, simulated)
    assert len(records) > 300
    records[3] = _damaged(fmt, records[3])
    records[250] = _damaged(fmt, records[250])
    # all of them, those off by default too (run.SQL_PARQUET_FORMATS): each mapping reads Parquet alike
    monkeypatch.setattr(run, "SQL_PARQUET_FORMATS", FORMATS)
    results = {}
    paths = {kind: _write(kind, tmp_path / f"{fmt}-{kind}", records) for kind in KINDS}
    # Parquet holds a struct's every key in every row (null where a record lacked it, as an OTLP
    # AnyValue's other kinds): the records it holds are its rows as pyarrow gives them, so the SQL
    # path's rows are held to those records written as lines too
    rows = pq.read_table(paths["parquet"]).to_pylist()
    paths["parquet rows"] = _write("lines", tmp_path / f"{fmt}-parquet-rows", rows)
    for kind, path in paths.items():
        read_as = "lines" if kind == "parquet rows" else kind
        assert sources.kind(path, int(config.max_record_bytes)) == read_as
        work = tmp_path / kind.replace(" ", "-")
        work.mkdir()
        sql, python = _both_paths(config, work, path, monkeypatch)  # SQL read the file itself
        _assert_same(sql, python)
        assert sql[0].stored > 250
        # quarantined by record number: the line, the array element, the Parquet row (from 1)
        assert {4, 251} <= {q["line"] for q in sql[2]}
        assert all(q["file"] == str(path) for q in sql[2])
        results[kind] = sql
    for kind, same in (("array", "lines"), ("parquet", "parquet rows")):
        assert _stored(results[kind]) == _stored(results[same]), kind
        reasons = [(q["line"], q["reason"]) for q in results[kind][2]]
        assert reasons == [(q["line"], q["reason"]) for q in results[same][2]]
    # records of one shape: Parquet adds no nulls; OTLP AnyValues gain every other kind as null,
    # which both paths read past
    if fmt in ("canonical", "litellm", "openai", "otel"):
        assert _stored(results["parquet"]) == _stored(results["lines"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_array_element_that_is_not_an_object_is_quarantined_as_python_words_it(
    fmt: str, simulated: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records: list[Any] = _sample(fmt, simulated, 60)
    records[7] = 42
    path = tmp_path / f"{fmt}.json"
    path.write_text(json.dumps(records))
    # a format read by typed columns refuses the file (the Python path reads it); one read whole
    # per record routes that element alone to Python
    whole = fmt in ("openai", "langfuse", "otel")
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, duckdb_reads=whole)
    _assert_same(sql, python)
    assert (8, None, "array element is a int, not an object") in [
        (q["line"], q["file"] != str(path) or None, q["reason"]) for q in sql[2]
    ]


def test_files_sql_cannot_read_as_python_does_are_left_to_python(tmp_path: Path) -> None:
    limit = 1 << 20
    stamped = tmp_path / "stamped.parquet"  # pyarrow hands Python a datetime, SQL has no twin
    pq.write_table(pa.table({"id": ["a"], "ts": pa.array([0], pa.timestamp("ms"))}), stamped)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(stamped.read_bytes()[:-30])
    large = tmp_path / "large.json.gz"  # within the limit on disk, beyond it decompressed
    large.write_bytes(gzip.compress(json.dumps([{"id": "x" * 1000}] * 2000).encode()))
    assert [sources.kind(p, limit) for p in (stamped, broken, large)] == [None, None, None]
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "n": [1, None]}), plain)
    assert sources.kind(plain, limit) == "parquet" and sources.parquet_rows(plain) == 2
    assert sources.kind(large, 1 << 22) == "array"


def test_the_size_of_an_array_or_parquet_file_is_its_record_count(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [{"id": f"r-{i}", "text": "word " * (i % 7)} for i in range(3000)]
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps(records))  # one line: counting lines would say 1
    spread = tmp_path / "spread.json"
    spread.write_text(json.dumps(records, indent=2))  # 12,000 lines
    for path in (one_line, spread):
        estimate = estimated_records(path)
        assert estimate is not None and abs(estimate - 3000) < 0.15 * 3000, (path, estimate)
    table = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(records), table)
    monkeypatch.setattr(run, "SQL_MIN_RECORDS", {"litellm": 3001})
    assert not run._large_enough_for_sql(table, "litellm", "parquet")
    monkeypatch.setattr(run, "SQL_MIN_RECORDS", {"litellm": 3000})
    assert run._large_enough_for_sql(table, "litellm", "parquet")


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in run.SQL_PARQUET_FORMATS])
def test_parquet_of_formats_sql_reads_slower_goes_to_the_adapter_by_default(
    fmt: str, simulated: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write("parquet", tmp_path / fmt, _sample(fmt, simulated, 50))
    staged: list[Any] = []
    monkeypatch.setattr(fastpath, "stage_file", lambda *a, **k: staged.append(a))
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [path], config=config, progress=False)
    assert report.stored > 0 and report.reconciles and not staged


def test_an_array_after_white_space_is_read_as_lines(simulated: Path, config: Config, tmp_path: Path) -> None:
    """``iter_records`` takes a file for an array document by its first byte only: so does SQL."""
    path = tmp_path / "late.json"
    path.write_text("\n" + json.dumps(_sample("litellm", simulated, 20)))
    assert sources.kind(path, int(config.max_record_bytes)) == "lines"
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [path], config=config, source_format="litellm", progress=False)
    assert (report.stored, report.quarantined) == (0, 1) and report.reconciles  # one line: a list
