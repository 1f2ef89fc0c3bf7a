"""Ground truth: per-event labels streamed to Parquet, account labels, campaign facts.

Detectors never read these files; the benchmark does. The event table is written
one row group per chunk, so it never holds more than a chunk in memory.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.schema import ACCOUNT_FILE_COLUMNS
from distillguard.simulate.actors import Group

TRUTH_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("population", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string()),
        pa.field("goal", pa.string()),
        pa.field("ts_start", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


class TruthWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(str(path), TRUTH_EVENTS, compression="zstd")
        self.max_rows_per_group = 0

    def write(
        self,
        event_ids: list[str],
        account_ids: list[str],
        populations: list[str],
        campaign_ids: list[str | None],
        goals: list[str | None],
        ts_us: np.ndarray,
    ) -> None:
        if not event_ids:
            return
        table = pa.table(
            [
                pa.array(event_ids, pa.string()),
                pa.array(account_ids, pa.string()),
                pa.array(populations, pa.string()),
                pa.array(campaign_ids, pa.string()),
                pa.array(goals, pa.string()),
                pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            ],
            schema=TRUTH_EVENTS,
        )
        self.max_rows_per_group = max(self.max_rows_per_group, len(event_ids))
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


def write_accounts(out: Path, groups: list[Group]) -> int:
    """``accounts.csv`` (what a provider has) and ``truth/accounts.csv`` (the labels)."""
    rows = 0
    with (
        (out / "accounts.csv").open("w", newline="", encoding="utf-8") as public,
        (out / "truth" / "accounts.csv").open("w", newline="", encoding="utf-8") as labels,
    ):
        records = csv.DictWriter(public, fieldnames=ACCOUNT_FILE_COLUMNS, lineterminator="\n")
        truth = csv.DictWriter(
            labels, fieldnames=["account_id", "population", "campaign_id", "role"], lineterminator="\n"
        )
        records.writeheader()
        truth.writeheader()
        for g in groups:
            for record in g.records:
                records.writerow(record)
                truth.writerow(
                    {
                        "account_id": record["account_id"],
                        "population": g.population,
                        "campaign_id": g.campaign_id or "",
                        "role": "attacker" if g.campaign_id else "benign",
                    }
                )
                rows += 1
    return rows


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class EndUserTruth:
    """Labels of the end users inside accounts (``end_user_id``), for end-user-level scoring.

    A reseller account is benign as a whole; a few of its end users harvest. The account
    label cannot say that, so each (account, end user) pair gets its own row here.
    """

    COLUMNS = ("account_id", "end_user_id", "population", "role", "campaign_id", "requests")

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Any]] = {}

    def add(self, group: Group, exchange: dict[str, Any]) -> None:
        key = (exchange["account_id"], exchange["end_user_id"])
        row = self.rows.get(key)
        if row is None:
            campaign = exchange.get("truth_campaign_id") or ""
            role = "attacker" if campaign else "benign"
            row = self.rows[key] = [key[0], key[1], group.population, role, campaign, 0]
        row[5] += 1

    def write(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle, lineterminator="\n")
            out.writerow(self.COLUMNS)
            out.writerows(self.rows[key] for key in sorted(self.rows))
