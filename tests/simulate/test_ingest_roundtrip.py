"""The simulator and the ingest adapters agree on the data contract (ids, accounts, enrichment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.config import Config
from distillguard.warehouse import Warehouse

from .support import manifest

ingest = pytest.importorskip("distillguard.ingest", reason="the ingest room has not landed in this tree")


def test_every_simulated_event_ingests_with_its_truth_id_and_account(
    tiny: Path, config: Config, warehouse: Warehouse
) -> None:
    files = sorted((tiny / "traffic").glob("*.jsonl.gz"))
    report = ingest.ingest_paths(
        warehouse, files, config=config, accounts=tiny / "accounts.csv", progress=False
    )
    m = manifest(tiny)
    assert (report.read, report.stored, report.quarantined) == (m["events"], m["events"], 0)
    truth = str(tiny / "truth" / "events.parquet")
    (row,) = warehouse.engine.to_arrow(
        "SELECT count(*) AS n, count(t.event_id) AS matched, "
        "count(*) FILTER (WHERE t.account_id = e.account_id) AS same_account, "
        "count(e.asn) AS with_asn, count(e.country) AS with_country, count(e.client_ip_hash) AS with_ip "
        f"FROM events e LEFT JOIN read_parquet('{truth}') t USING (event_id)"
    ).to_pylist()
    assert row == {
        "n": m["events"],
        "matched": m["events"],
        "same_account": m["events"],
        "with_asn": m["events"],
        "with_country": m["events"],
        "with_ip": m["events"],
    }
    formats = {
        r["source_format"]
        for r in warehouse.engine.to_arrow("SELECT DISTINCT source_format FROM events").to_pylist()
    }
    assert formats == {"litellm", "otel", "openai", "canonical"}
