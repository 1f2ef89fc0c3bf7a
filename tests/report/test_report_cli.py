"""`distillguard scan` on an existing warehouse writes every output and a summary.

Detection is replaced by the hand-written scan tables (the pipeline has its own
tests); what is checked here is the command: files written, summary printed,
errors as one line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from planted_scan import Planted, plant_scan
from typer.testing import CliRunner

from distillguard.cli import app, scan_cmd
from distillguard.config import Config
from distillguard.warehouse import Warehouse

runner = CliRunner()


@pytest.fixture
def scanned_db(config: Config, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Planted]:
    with Warehouse.open(config.db_path) as warehouse:
        planted = plant_scan(warehouse)
    monkeypatch.setattr(scan_cmd, "_detect", lambda warehouse, config: None)
    monkeypatch.setenv("DISTILLGUARD_HMAC_SECRET", "test-secret")
    return Path(config.db_path), planted


def test_scan_of_existing_warehouse_writes_all_outputs(
    scanned_db: tuple[Path, Planted], tmp_path: Path
) -> None:
    db, planted = scanned_db
    out = tmp_path / "out"
    result = runner.invoke(app, ["scan", "--db", str(db), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["flagged"] == len(planted.attackers)
    assert summary["campaigns"] == 1
    assert summary["campaign_list"][0]["model_switch"] == planted.pivot_model
    for name in ("accounts.csv", "clusters.csv", "campaigns.json", "report.html"):
        assert (out / name).stat().st_size > 0
    with (out / "accounts.csv").open(newline="") as handle:
        verdicts = {row["account_id"]: row["verdict"] for row in csv.DictReader(handle)}
    assert {a for a, v in verdicts.items() if v == "extraction"} == set(planted.attackers)
    assert planted.campaign_id in (out / "report.html").read_text()


def test_scan_prints_a_readable_summary(scanned_db: tuple[Path, Planted], tmp_path: Path) -> None:
    db, planted = scanned_db
    result = runner.invoke(app, ["scan", "--db", str(db), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert planted.campaign_id in result.output
    assert "12 at extraction" in result.output
    assert "report.html" in result.output


def test_scan_of_an_empty_warehouse_says_what_to_do(config: Config, tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "--db", config.db_path, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "holds no events" in result.output
    assert "Traceback" not in result.output


def test_scan_of_a_missing_file_names_it(config: Config, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(app, ["scan", str(missing), "--db", config.db_path, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output and "Traceback" not in result.output


def test_publish_without_the_serve_module_is_a_clear_error(
    scanned_db: tuple[Path, Planted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distillguard.serve.publish", None)  # import fails
    db, _ = scanned_db
    result = runner.invoke(
        app, ["scan", "--db", str(db), "--out", str(tmp_path / "o"), "--publish", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert "--publish needs distillguard.serve.publish" in result.output


def test_a_database_failure_is_one_line_not_a_traceback(
    scanned_db: tuple[Path, Planted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distillguard.engine.base import SqlError

    def broken(warehouse: Warehouse, config: Config) -> None:
        raise SqlError(
            "SELECT 1", RuntimeError("Out of Memory Error: failed to allocate 16 MiB\nmore detail")
        )

    monkeypatch.setattr(scan_cmd, "_detect", broken)
    db, _ = scanned_db
    result = runner.invoke(app, ["scan", "--db", str(db), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps long lines at the terminal width
    assert "database error: Out of Memory Error: failed to allocate 16 MiB" in message
    assert "Traceback" not in result.output and "more detail" not in result.output
