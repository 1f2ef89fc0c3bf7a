"""Ground truth of a simulated data set, read only by the benchmark (never by detectors).

Layout (the simulator's contract): ``truth/accounts.csv`` (account_id, population,
campaign_id, role), ``truth/events.parquet`` (event_id, account_id, population,
campaign_id, goal, ts_start) and ``truth/campaigns.json``. Event-level truth is
aggregated in DuckDB so a 28.8M-event data set is never held in Python.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np


class TruthError(ValueError):
    """The data set's truth files are missing or malformed (message names the file)."""


@dataclass
class CampaignTruth:
    campaign_id: str
    name: str
    onset: datetime
    end: datetime | None
    accounts: list[str]
    events: int
    pivot: dict[str, Any] | None = None


@dataclass
class Truth:
    """Per-account labels and per-campaign facts of one data set."""

    population: dict[str, str]
    campaign_of: dict[str, str | None]
    campaign_events: dict[str, int]  # attacker account -> events labelled with a campaign
    events_per_account: dict[str, int]
    campaigns: dict[str, CampaignTruth]
    events_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def accounts(self) -> list[str]:
        """Accounts that sent at least one event (those a detector can possibly see), sorted."""
        return sorted(self.events_per_account)

    def label(self, account: str) -> int:
        return 1 if self.campaign_of.get(account) else 0

    def campaign_event_times(self, connection: duckdb.DuckDBPyConnection, campaign_id: str) -> np.ndarray:
        """Timestamps (UTC, numpy datetime64[us]) of one campaign's events."""
        rows = connection.execute(
            "SELECT epoch_us(ts_start) FROM read_parquet(?) WHERE campaign_id = ?",
            [str(self.events_path), campaign_id],
        ).fetchnumpy()
        values = next(iter(rows.values()))
        return np.asarray(values, dtype="int64").astype("datetime64[us]")


def _parse_time(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TruthError(f"{where}: {value!r} is not an ISO timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TruthError(f"{path}: missing (not a data set written by `distillguard simulate`?)") from None
    except json.JSONDecodeError as exc:
        raise TruthError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def load_truth(data_dir: Path) -> Truth:
    truth_dir = data_dir / "truth"
    accounts_csv = truth_dir / "accounts.csv"
    events_path = truth_dir / "events.parquet"
    if not accounts_csv.is_file():
        raise TruthError(f"{accounts_csv}: missing (is this a data set written by `distillguard simulate`?)")
    if not events_path.is_file():
        raise TruthError(f"{events_path}: missing")
    population: dict[str, str] = {}
    campaign_of: dict[str, str | None] = {}
    with accounts_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"account_id", "population", "campaign_id"} - set(reader.fieldnames or [])
        if missing:
            raise TruthError(f"{accounts_csv}:1: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            account = row["account_id"]
            population[account] = row["population"] or "unknown"
            campaign_of[account] = row["campaign_id"] or None

    connection = duckdb.connect()
    try:
        per_account = connection.execute(
            """
            SELECT account_id, count(*) AS n, count(campaign_id) AS campaign_n
            FROM read_parquet(?) GROUP BY account_id
            """,
            [str(events_path)],
        ).fetchall()
        onsets = dict(
            connection.execute(
                "SELECT campaign_id, min(ts_start) FROM read_parquet(?) "
                "WHERE campaign_id IS NOT NULL GROUP BY 1",
                [str(events_path)],
            ).fetchall()
        )
    except duckdb.Error as exc:
        raise TruthError(f"{events_path}: {str(exc).splitlines()[0]}") from None
    finally:
        connection.close()

    events_per_account = {str(a): int(n) for a, n, _ in per_account}
    campaign_events = {str(a): int(c) for a, _, c in per_account if c}
    for account in events_per_account:
        population.setdefault(account, "unknown")
        campaign_of.setdefault(account, None)

    manifest_path = data_dir / "manifest.json"
    manifest = _read_json(manifest_path) if manifest_path.is_file() else {}
    campaigns_path = truth_dir / "campaigns.json"
    described = _read_json(campaigns_path) if campaigns_path.is_file() else manifest.get("campaigns", [])
    members: dict[str, list[str]] = {}
    for account, campaign in campaign_of.items():
        if campaign:
            members.setdefault(campaign, []).append(account)
    campaigns: dict[str, CampaignTruth] = {}
    by_id = {str(c.get("campaign_id")): c for c in described if isinstance(c, dict)}
    for campaign_id in sorted(set(members) | set(onsets)):
        info = by_id.get(campaign_id, {})
        first_event = onsets.get(campaign_id)
        onset_value = info.get("onset") or first_event
        if onset_value is None:
            continue
        onset = _parse_time(onset_value, str(campaigns_path))
        # The first exchange, when earlier than the declared onset, is when harvesting began.
        if first_event is not None:
            onset = min(onset, _parse_time(first_event, str(events_path)))
        campaigns[campaign_id] = CampaignTruth(
            campaign_id=campaign_id,
            name=str(info.get("name") or campaign_id),
            onset=onset,
            end=_parse_time(info["end"], str(campaigns_path)) if info.get("end") else None,
            accounts=sorted(members.get(campaign_id, [])),
            events=sum(campaign_events.get(a, 0) for a in members.get(campaign_id, [])),
            pivot=info.get("pivot"),
        )
    return Truth(
        population=population,
        campaign_of=campaign_of,
        campaign_events=campaign_events,
        events_per_account=events_per_account,
        campaigns=campaigns,
        events_path=events_path,
        manifest=manifest if isinstance(manifest, dict) else {},
    )
