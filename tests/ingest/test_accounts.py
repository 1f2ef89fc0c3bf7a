"""Account records: CSV, JSONL and Parquet, extra columns kept, bad rows quarantined, upserts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.config import Config
from distillguard.ingest.accounts import load_accounts
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, quarantine_rows


def _accounts(warehouse: Warehouse) -> dict[str, dict]:
    rows = warehouse.engine.to_arrow("SELECT * FROM accounts").to_pylist()
    return {row["account_id"]: {**row, "attrs": dict(row["attrs"] or [])} for row in rows}


def test_csv_accounts(warehouse: Warehouse, config: Config) -> None:
    result = load_accounts(warehouse, FIXTURES / "accounts.csv", config=config)
    assert (result.read, result.stored, result.quarantined) == (5, 3, 2)
    accounts = _accounts(warehouse)
    assert accounts["org-acme"]["verification"] == "enterprise"
    assert accounts["org-acme"]["attrs"] == {"sales_region": "emea"}  # extra column kept
    assert accounts["acct-openai"]["plan"] == "free"  # case normalised
    weird = accounts["acct-weird"]
    assert weird["plan"] is None and weird["attrs"]["plan_raw"] == "team"  # unknown value kept, not lost
    assert weird["attrs"]["verification_raw"] == "carrier-pigeon"
    reasons = sorted(row["reason"] for row in quarantine_rows(warehouse))
    assert any("account_id" in r for r in reasons) and any("created_at" in r for r in reasons)
    assert sorted(row["line"] for row in quarantine_rows(warehouse)) == [5, 6]


def test_upsert_last_record_wins(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    load_accounts(warehouse, FIXTURES / "accounts.csv", config=config)
    update = tmp_path / "update.jsonl"
    update.write_text(json.dumps({"account_id": "org-acme", "plan": "paygo", "verification": "phone"}) + "\n")
    load_accounts(warehouse, update, config=config)
    accounts = _accounts(warehouse)
    assert len(accounts) == 3 and accounts["org-acme"]["plan"] == "paygo"


def test_parquet_accounts(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "accounts.parquet"
    pq.write_table(
        pa.table(
            {
                "account_id": ["p1", None],
                "country": ["JP", "US"],
                "plan": ["research", "free"],
                "tier": [1, 2],
            }
        ),
        path,
    )
    result = load_accounts(warehouse, path, config=config)
    assert (result.stored, result.quarantined) == (1, 1)
    assert _accounts(warehouse)["p1"]["attrs"] == {"tier": "1"}


def test_non_utf8_csv_row_is_quarantined(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"account_id,country\nok,FR\ncaf\xe9,FR\n")
    result = load_accounts(warehouse, path, config=config)
    assert (result.stored, result.quarantined) == (1, 1)
    assert "UTF-8" in quarantine_rows(warehouse)[0]["reason"]
