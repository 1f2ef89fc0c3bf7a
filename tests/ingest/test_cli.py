"""The ingest, stats and export commands as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config

from .helpers import FIXTURES, write_lines

runner = CliRunner()
FORMATS = ["litellm.jsonl", "otel_new.jsonl", "otel_legacy.jsonl", "openai.jsonl", "langfuse.jsonl"]


def _ingest(db: Path, *args: str) -> dict:
    result = runner.invoke(app, ["ingest", *args, "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_json_counts_and_stats(config: Config, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    paths = [str(FIXTURES / name) for name in FORMATS]
    counts = _ingest(db, *paths, "--accounts", str(FIXTURES / "accounts.csv"))
    assert counts["read"] == counts["stored"] + counts["duplicates"] + counts["quarantined"] - 2
    assert counts["stored"] == 9 and counts["accounts"]["stored"] == 3
    stats = runner.invoke(app, ["stats", "--db", str(db), "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.stdout)
    assert data["events"] == 9 and data["account_records"] == 3
    assert {row["source_format"] for row in data["events_by_source_format"]} == {
        "litellm",
        "otel",
        "openai",
        "langfuse",
    }
    assert data["quarantined"] == 3 and data["top_quarantine_reasons"]
    table = runner.invoke(app, ["stats", "--db", str(db)])
    assert table.exit_code == 0 and "events by model" in table.output


def test_summary_line_and_strict_exit(config: Config, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["ingest", str(FIXTURES / "langfuse.jsonl"), "--db", str(db)])
    assert result.exit_code == 0
    assert "read 2 · stored 1 · duplicates 0 · quarantined 1" in result.output
    strict = runner.invoke(app, ["ingest", str(FIXTURES / "langfuse.jsonl"), "--db", str(db), "--strict"])
    assert strict.exit_code == 1 and "--strict" in strict.output
    clean = runner.invoke(
        app, ["ingest", str(FIXTURES / "openai.jsonl"), "--db", str(db), "--strict", "--quiet"]
    )
    assert clean.exit_code == 0 and clean.output.strip() == ""


def test_missing_path_is_one_line(config: Config, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(tmp_path / "missing.jsonl"), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 2
    assert "missing.jsonl" in result.output and "Traceback" not in result.output
    # One message (rich wraps it at the test terminal's width).
    assert result.output.count("error:") == 1 and "no such file or directory" in " ".join(
        result.output.split()
    )
    bad_format = runner.invoke(app, ["ingest", str(FIXTURES / "openai.jsonl"), "--format", "xml"])
    assert bad_format.exit_code == 2 and "unknown format" in bad_format.output


def test_export_then_ingest_round_trips(config: Config, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _ingest(db, *(str(FIXTURES / name) for name in FORMATS))
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"events.{fmt}"
        exported = runner.invoke(app, ["export", "--format", fmt, "--out", str(out), "--db", str(db)])
        assert exported.exit_code == 0, exported.output
        copy = tmp_path / f"copy-{fmt}.duckdb"
        counts = _ingest(copy, str(out))
        assert (counts["stored"], counts["quarantined"]) == (9, 0)
        from distillguard.warehouse import Warehouse

        columns = "* EXCLUDE (ingest_file, ingest_line)"
        with Warehouse.open(db, read_only=True) as a:
            original = a.engine.to_arrow(f"SELECT {columns} FROM events ORDER BY event_id").to_pylist()
        with Warehouse.open(copy, read_only=True) as b:
            again = b.engine.to_arrow(f"SELECT {columns} FROM events ORDER BY event_id").to_pylist()
        assert again == original, fmt


def test_help_reads_well() -> None:
    for command in ("ingest", "stats", "export"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
    assert "quarantined" in runner.invoke(app, ["ingest", "--help"]).output


def test_bad_line_does_not_stop_cli(config: Config, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "x.jsonl", ["not json", (FIXTURES / "openai.jsonl").read_text().splitlines()[0]]
    )
    counts = _ingest(tmp_path / "w.duckdb", str(path))
    assert (counts["stored"], counts["quarantined"]) == (1, 1)
