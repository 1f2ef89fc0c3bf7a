"""Scan outputs an analyst or a downstream system reads: CSV and JSON files.

Everything here reads the tables ``scan.scan`` writes (``account_scores``,
``clusters``, ``campaigns``, ``prompt_signals``, ``findings``) plus ``events``
for timelines, through the engine interface only, so it works on any engine.

- ``accounts.csv``: one row per account seen in traffic or scored.
- ``clusters.csv``: one row per hydra cluster, riskiest first.

Text cells that a spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``,
tab or carriage return) are written with a leading ``'``, OWASP's rule for CSV injection:
account ids and reasons come from traffic, so a hostile client chooses them.
- ``campaigns.json``: each campaign with its timeline, capability focus,
  accounts, clusters, model switches and evidence.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from distillguard.config import Config
from distillguard.engine.base import Engine
from distillguard.rules import verdict
from distillguard.warehouse import Warehouse

ACCOUNTS_CSV_COLUMNS = ("account_id", "risk", "verdict", "cluster_id", "campaign_id", "reasons")
CLUSTERS_CSV_COLUMNS = (
    "cluster_id",
    "accounts",
    "events",
    "risk",
    "verdict",
    "campaign_id",
    "top_indicators",
)
# Several reasons or indicators share one CSV cell, separated by this.
LIST_SEPARATOR = "; "
# A model counts as a switch target when it carries at least this share of the
# campaign's traffic in the 24 hours after it first appears (the disclosures
# describe about half of a campaign's traffic moving within a day).
PIVOT_MIN_SHARE = 0.3
# Timelines spanning more than this are drawn per day instead of per hour.
HOURLY_MAX_SPAN = timedelta(days=15)
SCAN_TABLES = ("account_scores", "clusters", "campaigns")


class MissingScanError(ValueError):
    """The warehouse has no scan results to write out."""


@dataclass
class ModelSwitch:
    model: str
    at: str  # ISO timestamp of the first event on the new model
    share_24h: float  # share of the campaign's traffic on it in the following 24 h


@dataclass
class CampaignDetail:
    campaign_id: str
    first_seen: str | None
    last_seen: str | None
    accounts: int
    events: int
    risk: float
    verdict: str
    capability_focus: list[str]
    capability_mix: dict[str, int]
    signal_shares: dict[str, float]
    bucket: str  # "hour" | "day"
    timeline: list[dict[str, Any]]  # {"t": iso, "events": n, "by_model": {model: n}}
    models: list[dict[str, Any]]  # {"model", "events", "first_seen"}
    pivot: ModelSwitch | None
    clusters: list[str]
    account_ids: list[str]
    evidence: list[str]
    findings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutputPaths:
    accounts_csv: Path
    clusters_csv: Path
    campaigns_json: Path


# ------------------------------------------------------------------ helpers
def iso(value: Any) -> str | None:
    """ISO-8601 UTC text of a timestamp (None stays None)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _rows(engine: Engine, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
    return list(engine.to_arrow(sql, params).to_pylist())


def require_scan(warehouse: Warehouse) -> None:
    missing = [name for name in SCAN_TABLES if not warehouse.engine.exists(name)]
    if missing:
        raise MissingScanError(
            f"the warehouse has no scan results (missing {', '.join(missing)}); run `distillguard scan` first"
        )


def expected_rate(warehouse: Warehouse) -> float | None:
    """The benign flag rate the last scan's calibration expects at its extraction threshold."""
    if not warehouse.engine.exists("scan_thresholds"):
        return None
    rows = warehouse.engine.to_arrow("SELECT expected_benign_flag_rate AS r FROM scan_thresholds").to_pylist()
    return float(rows[0]["r"]) if rows and rows[0]["r"] is not None else None


def scan_thresholds(warehouse: Warehouse, config: Config) -> tuple[float, float]:
    """(watch, extraction) as the last scan calibrated them; the settings' floors before any scan."""
    if warehouse.engine.exists("scan_thresholds"):
        rows = warehouse.engine.to_arrow("SELECT watch, extraction FROM scan_thresholds").to_pylist()
        if rows:
            return float(rows[0]["watch"]), float(rows[0]["extraction"])
    return float(config.risk_watch_threshold), float(config.risk_extraction_threshold)


# ------------------------------------------------------------- accounts.csv
def account_rows(warehouse: Warehouse, *, batch_rows: int = 50_000) -> Iterator[dict[str, Any]]:
    """Every account seen in events or scored, riskiest first.

    An account with traffic but no score row (it should not happen, but a
    partial scan must not hide accounts) is written with risk 0 and verdict ok.
    """
    reader = warehouse.engine.to_arrow(
        """
        WITH seen AS (SELECT DISTINCT account_id FROM events)
        SELECT coalesce(s.account_id, seen.account_id) AS account_id,
               coalesce(s.risk, 0.0) AS risk,
               coalesce(s.verdict, 'ok') AS verdict,
               s.cluster_id, s.campaign_id, s.reasons
        FROM seen FULL OUTER JOIN account_scores s ON s.account_id = seen.account_id
        ORDER BY risk DESC, account_id
        """
    )
    for batch in reader.to_batches(max_chunksize=batch_rows):
        for row in batch.to_pylist():
            row["risk"] = round(float(row["risk"]), 4)
            row["reasons"] = LIST_SEPARATOR.join(row["reasons"] or [])
            yield row


def cluster_rows(warehouse: Warehouse) -> Iterator[dict[str, Any]]:
    table = warehouse.engine.to_arrow(
        """
        SELECT cluster_id, accounts, events, coalesce(risk, 0.0) AS risk,
               coalesce(verdict, 'ok') AS verdict, campaign_id, top_indicators
        FROM clusters ORDER BY risk DESC, events DESC, cluster_id
        """
    )
    for row in table.to_pylist():
        row["risk"] = round(float(row["risk"]), 4)
        row["top_indicators"] = LIST_SEPARATOR.join(row["top_indicators"] or [])
        yield row


# OWASP "CSV injection": a spreadsheet runs a cell that starts with one of these as a formula.
# Account ids and reasons come from traffic, so an attacker chooses them.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: formula-leading text gets a leading ``'``
    (OWASP's rule). Numbers are left alone (a negative number is no formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> int:
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: csv_cell(value) for name, value in row.items()})
            written += 1
    return written


# ---------------------------------------------------------- campaigns.json
def _hourly_model_counts(engine: Engine) -> dict[str, list[tuple[datetime, str, int]]]:
    """(hour, model, events) per campaign, from the events of its accounts."""
    rows = _rows(
        engine,
        """
        SELECT s.campaign_id, date_trunc('hour', e.ts_start) AS hour,
               coalesce(e.model_served, e.model_requested, 'unknown') AS model, count(*) AS n
        FROM events e JOIN account_scores s ON s.account_id = e.account_id
        WHERE s.campaign_id IS NOT NULL
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
    )
    counts: dict[str, list[tuple[datetime, str, int]]] = defaultdict(list)
    for row in rows:
        counts[row["campaign_id"]].append((row["hour"], row["model"], int(row["n"])))
    return counts


def bucket_for(first: datetime | None, last: datetime | None) -> str:
    if first is None or last is None:
        return "hour"
    return "hour" if last - first <= HOURLY_MAX_SPAN else "day"


def timeline_from_hours(hours: list[tuple[datetime, str, int]], bucket: str) -> list[dict[str, Any]]:
    """Per-bucket totals and per-model split, with empty buckets filled so gaps show."""
    if not hours:
        return []
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)

    def floor(t: datetime) -> datetime:
        return t if bucket == "hour" else t.replace(hour=0, minute=0, second=0, microsecond=0)

    by_bucket: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hour, model, n in hours:
        by_bucket[floor(hour)][model] += n
    start, end = min(by_bucket), max(by_bucket)
    timeline = []
    t = start
    while t <= end:
        models = dict(by_bucket.get(t, {}))
        timeline.append({"t": iso(t), "events": sum(models.values()), "by_model": models})
        t += step
    return timeline


def model_switch(hours: list[tuple[datetime, str, int]]) -> ModelSwitch | None:
    """The model the campaign moved to, if one took a large share within a day of appearing.

    This describes the traffic for the reader (the detectors decide whether it
    counts as evidence): models already used in the campaign's first day are
    its starting models; a later one counts once it carries PIVOT_MIN_SHARE of
    the next 24 hours.
    """
    if not hours:
        return None
    onset = min(h for h, _, _ in hours)
    first_seen: dict[str, datetime] = {}
    for hour, model, _ in hours:
        first_seen[model] = min(first_seen.get(model, hour), hour)
    best: ModelSwitch | None = None
    for model, appeared in first_seen.items():
        if appeared < onset + timedelta(hours=24):
            continue
        window_end = appeared + timedelta(hours=24)
        in_window = [(m, n) for h, m, n in hours if appeared <= h < window_end]
        total = sum(n for _, n in in_window)
        share = sum(n for m, n in in_window if m == model) / total if total else 0.0
        if share >= PIVOT_MIN_SHARE and (best is None or share > best.share_24h):
            best = ModelSwitch(model=model, at=iso(appeared) or "", share_24h=round(share, 3))
    return best


def _capability_mix(engine: Engine) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    if not engine.exists("prompt_signals"):
        return {}, {}
    mix: dict[str, dict[str, int]] = defaultdict(dict)
    for row in _rows(
        engine,
        """
        SELECT s.campaign_id, coalesce(p.capability, 'unknown') AS capability, count(*) AS n
        FROM prompt_signals p JOIN account_scores s ON s.account_id = p.account_id
        WHERE s.campaign_id IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 3 DESC
        """,
    ):
        mix[row["campaign_id"]][row["capability"]] = int(row["n"])
    shares: dict[str, dict[str, float]] = {}
    for row in _rows(
        engine,
        """
        SELECT s.campaign_id,
               avg(CASE WHEN p.cot_elicitation >= 0.5 THEN 1.0 ELSE 0.0 END) AS cot_elicitation,
               avg(CASE WHEN p.rubric_grading >= 0.5 THEN 1.0 ELSE 0.0 END) AS rubric_grading,
               avg(CASE WHEN p.censorship_rewrite >= 0.5 THEN 1.0 ELSE 0.0 END) AS censorship_rewrite
        FROM prompt_signals p JOIN account_scores s ON s.account_id = p.account_id
        WHERE s.campaign_id IS NOT NULL
        GROUP BY 1
        """,
    ):
        campaign = row.pop("campaign_id")
        shares[campaign] = {name: round(float(v or 0.0), 4) for name, v in row.items()}
    return mix, shares


def _campaign_members(engine: Engine) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    accounts: dict[str, list[str]] = defaultdict(list)
    for row in _rows(
        engine,
        "SELECT campaign_id, account_id FROM account_scores WHERE campaign_id IS NOT NULL "
        "ORDER BY campaign_id, risk DESC, account_id",
    ):
        accounts[row["campaign_id"]].append(row["account_id"])
    clusters: dict[str, list[str]] = defaultdict(list)
    for row in _rows(
        engine,
        "SELECT campaign_id, cluster_id FROM clusters WHERE campaign_id IS NOT NULL "
        "ORDER BY campaign_id, risk DESC, cluster_id",
    ):
        clusters[row["campaign_id"]].append(row["cluster_id"])
    return accounts, clusters


def _campaign_findings(engine: Engine, *, per_campaign: int = 20) -> dict[str, list[str]]:
    if not engine.exists("findings"):
        return {}
    found: dict[str, list[str]] = defaultdict(list)
    for row in _rows(
        engine,
        "SELECT subject_id, detector_id, reason FROM findings WHERE level = 'campaign' "
        "ORDER BY subject_id, score DESC NULLS LAST, detector_id",
    ):
        if len(found[row["subject_id"]]) < per_campaign:
            found[row["subject_id"]].append(f"{row['detector_id']}: {row['reason']}")
    return found


def campaign_details(warehouse: Warehouse, *, watch: float, extraction: float) -> list[CampaignDetail]:
    """Every campaign, riskiest first, with what an analyst needs to judge it."""
    engine = warehouse.engine
    campaigns = _rows(
        engine,
        "SELECT * FROM campaigns ORDER BY risk DESC NULLS LAST, events DESC NULLS LAST, campaign_id",
    )
    hours = _hourly_model_counts(engine)
    mix, shares = _capability_mix(engine)
    accounts, clusters = _campaign_members(engine)
    findings = _campaign_findings(engine)
    details = []
    for row in campaigns:
        cid = row["campaign_id"]
        campaign_hours = hours.get(cid, [])
        first = row["first_seen"] or (min(h for h, _, _ in campaign_hours) if campaign_hours else None)
        last = row["last_seen"] or (max(h for h, _, _ in campaign_hours) if campaign_hours else None)
        bucket = bucket_for(first, last)
        model_totals: dict[str, int] = defaultdict(int)
        model_first: dict[str, datetime] = {}
        for hour, model, n in campaign_hours:
            model_totals[model] += n
            model_first[model] = min(model_first.get(model, hour), hour)
        risk = float(row["risk"] or 0.0)
        details.append(
            CampaignDetail(
                campaign_id=cid,
                first_seen=iso(first),
                last_seen=iso(last),
                accounts=int(row["accounts"] or len(accounts.get(cid, []))),
                events=int(row["events"] or sum(model_totals.values())),
                risk=round(risk, 4),
                verdict=verdict(risk, watch=watch, extraction=extraction),
                capability_focus=list(row["capability_focus"] or []),
                capability_mix=mix.get(cid, {}),
                signal_shares=shares.get(cid, {}),
                bucket=bucket,
                timeline=timeline_from_hours(campaign_hours, bucket),
                models=[
                    {"model": m, "events": n, "first_seen": iso(model_first[m])}
                    for m, n in sorted(model_totals.items(), key=lambda kv: -kv[1])
                ],
                pivot=model_switch(campaign_hours),
                clusters=clusters.get(cid, []),
                account_ids=accounts.get(cid, []),
                evidence=list(row["evidence"] or []),
                # the pipeline often writes the same line as evidence and as a finding
                findings=[f for f in findings.get(cid, []) if f not in (row["evidence"] or [])],
            )
        )
    return details


# ------------------------------------------------------------------ writing
def write_outputs(
    warehouse: Warehouse,
    out_dir: Path,
    *,
    watch: float,
    extraction: float,
    campaigns: list[CampaignDetail] | None = None,
) -> OutputPaths:
    """Write accounts.csv, clusters.csv and campaigns.json into ``out_dir``."""
    require_scan(warehouse)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = OutputPaths(out_dir / "accounts.csv", out_dir / "clusters.csv", out_dir / "campaigns.json")
    _write_csv(paths.accounts_csv, ACCOUNTS_CSV_COLUMNS, account_rows(warehouse))
    _write_csv(paths.clusters_csv, CLUSTERS_CSV_COLUMNS, cluster_rows(warehouse))
    if campaigns is None:
        campaigns = campaign_details(warehouse, watch=watch, extraction=extraction)
    document = {
        "generated_at": iso(datetime.now(UTC)),
        "campaigns": [c.to_json() for c in campaigns],
    }
    with paths.campaigns_json.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    return paths
