"""`distillguard scan` and `distillguard demo` end to end on tiny simulated traffic.

Simulator, ingest and pipeline are the real ones; what is asserted is what a
user of the command gets: every account seen has a row, planted attackers are
flagged, each campaign comes with a timeline and evidence, and the report names
them. Detection quality targets live in the benchmark, not here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import app

pytest.importorskip("distillguard.scan", reason="the detection pipeline has not landed in this tree")
pytest.importorskip("distillguard.ingest", reason="ingest has not landed in this tree")

runner = CliRunner()


def _needs_prompt_detectors() -> None:
    """Planted campaigns are only found once the prompt-level detectors are installed."""
    import distillguard.detectors as detectors

    if not hasattr(detectors, "prompt_steps"):
        pytest.skip(
            "prompt-level detectors (distillguard.detectors.prompt_steps) have not landed in this tree"
        )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("tiny") / "data"
    result = runner.invoke(app, ["simulate", "--preset", "tiny", "--seed", "3", "--out", str(data)])
    if result.exit_code != 0:
        pytest.fail(f"simulate failed: {result.output[-2000:]}")
    return data


@pytest.fixture(scope="module")
def scanned(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    work = tmp_path_factory.mktemp("scan")
    out = work / "out"
    result = runner.invoke(
        app,
        [
            "scan",
            str(tiny / "traffic"),
            "--accounts",
            str(tiny / "accounts.csv"),
            "--db",
            str(work / "dg.duckdb"),
            "--out",
            str(out),
            "--json",
        ],
        env={"DISTILLGUARD_HMAC_SECRET": "scan-cli-test"},
    )
    assert result.exit_code == 0, result.output[-3000:]
    return out, json.loads(result.stdout)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_account_seen_gets_a_row_and_attackers_are_flagged(
    tiny: Path, scanned: tuple[Path, dict[str, object]]
) -> None:
    out, summary = scanned
    rows = {row["account_id"]: row for row in _csv(out / "accounts.csv")}
    truth = pq.read_table(tiny / "truth" / "events.parquet", columns=["account_id"])
    assert set(truth.column("account_id").to_pylist()) <= set(rows)
    assert {row["verdict"] for row in rows.values()} <= {"ok", "watch", "extraction"}
    assert all(0.0 <= float(row["risk"]) <= 1.0 for row in rows.values())
    roles = {row["account_id"]: row["role"] for row in _csv(tiny / "truth" / "accounts.csv")}
    _needs_prompt_detectors()
    flagged_attackers = [
        a for a, row in rows.items() if row["verdict"] == "extraction" and roles.get(a) == "attacker"
    ]
    assert flagged_attackers, "no planted attacker reached extraction"
    assert all(rows[a]["reasons"] for a in flagged_attackers)
    assert summary["flagged"] == sum(1 for row in rows.values() if row["verdict"] == "extraction")


def test_clusters_and_campaigns_files_agree_with_accounts(scanned: tuple[Path, dict[str, object]]) -> None:
    out, _ = scanned
    accounts = _csv(out / "accounts.csv")
    clusters = {row["cluster_id"]: row for row in _csv(out / "clusters.csv")}
    assert {row["cluster_id"] for row in accounts if row["cluster_id"]} <= set(clusters)
    campaigns = json.loads((out / "campaigns.json").read_text())["campaigns"]
    _needs_prompt_detectors()
    assert campaigns, "planted campaigns produced no campaign"
    for campaign in campaigns:
        members = {row["account_id"] for row in accounts if row["campaign_id"] == campaign["campaign_id"]}
        assert set(campaign["account_ids"]) == members
        assert campaign["timeline"] and campaign["evidence"]
        assert sum(point["events"] for point in campaign["timeline"]) > 0


def test_report_names_every_campaign(scanned: tuple[Path, dict[str, object]]) -> None:
    out, _ = scanned
    html = (out / "report.html").read_text()
    for campaign in json.loads((out / "campaigns.json").read_text())["campaigns"]:
        assert f'id="campaign-{campaign["campaign_id"]}"' in html


def test_rescan_without_paths_uses_the_warehouse(
    tmp_path: Path, scanned: tuple[Path, dict[str, object]]
) -> None:
    out, summary = scanned
    db = out.parent / "dg.duckdb"
    result = runner.invoke(
        app,
        ["scan", "--db", str(db), "--out", str(tmp_path / "again"), "--json"],
        env={"DISTILLGUARD_HMAC_SECRET": "scan-cli-test"},
    )
    assert result.exit_code == 0, result.output[-3000:]
    again = json.loads(result.stdout)
    assert (again["events"], again["flagged"]) == (summary["events"], summary["flagged"])


def test_demo_prints_the_path_of_its_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--preset", "tiny", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output[-3000:]
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report.name == "report.html" and report.is_file()
    assert "campaign" in report.read_text()
