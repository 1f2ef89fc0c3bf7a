"""accounts.csv, clusters.csv and campaigns.json hold what the scan tables say."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from planted_scan import Planted

from distillguard.outputs import MissingScanError, model_switch, write_outputs
from distillguard.warehouse import Warehouse


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_accounts_csv_lists_every_account_seen_with_its_verdict(
    warehouse: Warehouse, planted: Planted, tmp_path: Path
) -> None:
    paths = write_outputs(warehouse, tmp_path / "out", watch=0.5, extraction=0.8)
    rows = _read_csv(paths.accounts_csv)
    assert list(rows[0]) == ["account_id", "risk", "verdict", "cluster_id", "campaign_id", "reasons"]
    by_id = {row["account_id"]: row for row in rows}
    assert set(by_id) == set(planted.attackers) | set(planted.benign)
    attacker = by_id[planted.attackers[0]]
    assert attacker["verdict"] == "extraction"
    assert attacker["cluster_id"] == planted.clusters[0]
    assert attacker["campaign_id"] == planted.campaign_id
    # Several reasons share one cell, in the order the scorer gave them.
    assert attacker["reasons"].split("; ")[0] == "cot_elicitation share 100% of events"
    assert by_id[planted.bystander]["verdict"] == "ok"
    assert by_id[planted.bystander]["cluster_id"] == ""
    risks = [float(row["risk"]) for row in rows]
    assert risks == sorted(risks, reverse=True)


def test_an_account_with_traffic_but_no_score_is_still_written(
    warehouse: Warehouse, planted: Planted, tmp_path: Path
) -> None:
    warehouse.engine.execute("DELETE FROM account_scores WHERE account_id = ?", [planted.benign[-1]])
    rows = _read_csv(write_outputs(warehouse, tmp_path, watch=0.5, extraction=0.8).accounts_csv)
    unscored = [row for row in rows if row["account_id"] == planted.benign[-1]]
    assert unscored == [
        {
            "account_id": planted.benign[-1],
            "risk": "0.0",
            "verdict": "ok",
            "cluster_id": "",
            "campaign_id": "",
            "reasons": "",
        }
    ]


def test_clusters_csv_has_indicators_and_campaign(
    warehouse: Warehouse, planted: Planted, tmp_path: Path
) -> None:
    rows = _read_csv(write_outputs(warehouse, tmp_path, watch=0.5, extraction=0.8).clusters_csv)
    assert [row["cluster_id"] for row in rows] == list(planted.clusters)
    first = rows[0]
    assert first["accounts"] == "6" and first["verdict"] == "extraction"
    assert first["campaign_id"] == planted.campaign_id
    assert first["top_indicators"].split("; ")[:2] == ["ip_prefix pfx-hydra-0", "payment pay-0"]


def test_campaigns_json_has_timeline_capabilities_accounts_and_model_switch(
    warehouse: Warehouse, planted: Planted, tmp_path: Path
) -> None:
    document = json.loads(
        write_outputs(warehouse, tmp_path, watch=0.5, extraction=0.8).campaigns_json.read_text()
    )
    (campaign,) = document["campaigns"]
    assert campaign["campaign_id"] == planted.campaign_id
    assert campaign["verdict"] == "extraction"
    assert sorted(campaign["account_ids"]) == sorted(planted.attackers)
    assert sorted(campaign["clusters"]) == sorted(planted.clusters)
    assert campaign["capability_focus"] == ["math", "reasoning"]
    assert campaign["capability_mix"] == {"math": 216, "reasoning": 216}
    assert campaign["signal_shares"]["cot_elicitation"] == 1.0
    # The timeline accounts for every event of the campaign's accounts, hour by hour.
    assert campaign["bucket"] == "hour"
    assert sum(point["events"] for point in campaign["timeline"]) == 12 * 36
    assert campaign["pivot"]["model"] == planted.pivot_model
    assert campaign["pivot"]["at"].startswith("2026-02-11T08:")
    assert any("model-new" in line for line in campaign["findings"])
    assert "pivot to model-new within 24 h" in campaign["evidence"]


def test_model_switch_ignores_models_used_from_the_start() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    steady = [(t0 + timedelta(hours=h), m, 10) for h in range(72) for m in ("a", "b")]
    assert model_switch(steady) is None
    trickle = [*steady, (t0 + timedelta(hours=40), "c", 1)]
    assert model_switch(trickle) is None  # a new model with a tiny share is not a switch


def test_outputs_refuse_a_warehouse_that_was_never_scanned(warehouse: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(MissingScanError, match="run `distillguard scan` first"):
        write_outputs(warehouse, tmp_path, watch=0.5, extraction=0.8)


@pytest.mark.parametrize(
    "hostile", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
)
def test_formula_leading_account_ids_are_written_as_text(
    warehouse: Warehouse, planted: Planted, tmp_path: Path, hostile: str
) -> None:
    """Issue 13, finding 6: account ids come from traffic; a spreadsheet ran them as formulas."""
    for table in ("account_scores", "events"):
        warehouse.engine.execute(
            f"UPDATE {table} SET account_id = ? WHERE account_id = ?", [hostile, planted.attackers[0]]
        )
    rows = _read_csv(write_outputs(warehouse, tmp_path, watch=0.5, extraction=0.8).accounts_csv)
    ids = {row["account_id"] for row in rows}
    assert "'" + hostile in ids and hostile not in ids
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
