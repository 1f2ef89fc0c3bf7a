"""What the report shows, gathered from the warehouse with bounded queries.

Every list is capped (settings ``report_*``) and the caps are shown in the
report, so a scan over tens of millions of events still writes a page of a
few megabytes at most. All reads go through the engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from distillguard.config import Config
from distillguard.outputs import (
    CampaignDetail,
    bucket_for,
    campaign_details,
    expected_rate,
    iso,
    require_scan,
    scan_thresholds,
    timeline_from_hours,
)
from distillguard.report.graph_svg import AccountGraph
from distillguard.report.indicators import account_graph, indicator_pairs, shared_indicators
from distillguard.rules import redact_text
from distillguard.warehouse import Warehouse

HISTOGRAM_BINS = 20


@dataclass
class Summary:
    events: int
    accounts: int
    flagged: int
    watch: int
    campaigns: int
    clusters: int
    flagged_clusters: int
    quarantined: int
    window_start: str | None
    window_end: str | None


@dataclass
class Sample:
    ts: str | None
    model: str | None
    text: str | None  # redacted excerpt, or None when text is not stored
    note: str  # why the text is missing or how it was cut
    capability: str | None
    signals: list[str]
    template_family: str | None


@dataclass
class AccountEvidence:
    account_id: str
    risk: float
    verdict: str
    cluster_id: str | None
    campaign_id: str | None
    events: int
    reasons: list[str]
    indicators: list[str]  # the cluster's top shared indicators
    profile: dict[str, str]
    samples: list[Sample] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # this account's own indicators shared with others


@dataclass
class ReportData:
    generated_at: str
    source: str
    summary: Summary
    watch_threshold: float
    extraction_threshold: float
    expected_benign_flag_rate: float | None
    text_storage: str
    campaigns: list[CampaignDetail]
    clusters: list[dict[str, Any]]
    accounts: list[AccountEvidence]
    risk_bins: list[dict[str, int]]
    traffic_bucket: str
    traffic: list[dict[str, Any]]
    graph: AccountGraph
    caps: dict[str, int]


def _rows(warehouse: Warehouse, sql: str) -> list[dict[str, Any]]:
    return list(warehouse.engine.to_arrow(sql).to_pylist())


def _scalar(warehouse: Warehouse, sql: str) -> Any:
    rows = _rows(warehouse, sql)
    return next(iter(rows[0].values())) if rows else None


def _count(warehouse: Warehouse, table: str, where: str = "") -> int:
    if not warehouse.engine.exists(table):
        return 0
    return int(_scalar(warehouse, f"SELECT count(*) AS n FROM {table} {where}") or 0)


def redact_prompt(text: str | None, *, text_storage: str, max_chars: int) -> tuple[str | None, str]:
    """An excerpt safe to show a reviewer: emails and long numbers masked, length capped."""
    if text_storage != "store":
        return None, f"text not shown (text_storage = {text_storage})"
    if text is None:
        return None, "text not stored for this event"
    masked = redact_text(text, email="[email]", number="[number]")
    if len(masked) <= max_chars:
        return masked, ""
    return masked[:max_chars].rstrip() + "…", f"first {max_chars} of {len(text)} characters"


def summary(warehouse: Warehouse) -> Summary:
    window = _rows(warehouse, "SELECT min(ts_start) AS s, max(ts_start) AS e FROM events")[0]
    return Summary(
        events=_count(warehouse, "events"),
        accounts=int(_scalar(warehouse, "SELECT count(DISTINCT account_id) AS n FROM events") or 0),
        flagged=_count(warehouse, "account_scores", "WHERE verdict = 'extraction'"),
        watch=_count(warehouse, "account_scores", "WHERE verdict = 'watch'"),
        campaigns=_count(warehouse, "campaigns"),
        clusters=_count(warehouse, "clusters"),
        flagged_clusters=_count(warehouse, "clusters", "WHERE verdict = 'extraction'"),
        quarantined=_count(warehouse, "quarantine"),
        window_start=iso(window["s"]),
        window_end=iso(window["e"]),
    )


def risk_bins(warehouse: Warehouse) -> list[dict[str, int]]:
    bins: list[dict[str, int]] = [{} for _ in range(HISTOGRAM_BINS)]
    for row in _rows(
        warehouse,
        f"""
        SELECT least(CAST(floor(risk * {HISTOGRAM_BINS}) AS INTEGER), {HISTOGRAM_BINS - 1}) AS bin,
               verdict, count(*) AS n
        FROM account_scores GROUP BY 1, 2
        """,
    ):
        bins[max(int(row["bin"]), 0)][row["verdict"]] = int(row["n"])
    return bins


def traffic_by_verdict(
    warehouse: Warehouse, first: datetime | None, last: datetime | None
) -> tuple[str, list]:
    hours = [
        (row["hour"], row["verdict"], int(row["n"]))
        for row in _rows(
            warehouse,
            """
            SELECT date_trunc('hour', e.ts_start) AS hour, coalesce(s.verdict, 'ok') AS verdict, count(*) AS n
            FROM events e LEFT JOIN account_scores s ON s.account_id = e.account_id
            GROUP BY 1, 2 ORDER BY 1
            """,
        )
    ]
    bucket = bucket_for(first, last)
    timeline = timeline_from_hours(hours, bucket)
    for point in timeline:
        point["by_verdict"] = point.pop("by_model")
    return bucket, timeline


def top_clusters(warehouse: Warehouse, limit: int) -> list[dict[str, Any]]:
    return _rows(
        warehouse,
        f"""
        SELECT cluster_id, accounts, events, coalesce(risk, 0.0) AS risk, coalesce(verdict, 'ok') AS verdict,
               campaign_id, top_indicators
        FROM clusters ORDER BY risk DESC, events DESC, cluster_id LIMIT {int(limit)}
        """,
    )


def _flagged_accounts_sql(limit: int) -> str:
    return (
        "SELECT account_id FROM account_scores WHERE verdict <> 'ok' "
        f"ORDER BY risk DESC, events DESC NULLS LAST, account_id LIMIT {int(limit)}"
    )


def top_accounts(warehouse: Warehouse, config: Config) -> list[AccountEvidence]:
    limit = int(config.report_max_accounts_rows)
    rows = _rows(
        warehouse,
        f"""
        SELECT s.account_id, s.risk, s.verdict, s.cluster_id, s.campaign_id, s.events, s.reasons,
               c.top_indicators AS indicators, a.plan, a.verification, a.created_at, a.country, a.email_domain
        FROM account_scores s
        LEFT JOIN accounts a ON a.account_id = s.account_id
        LEFT JOIN clusters c ON c.cluster_id = s.cluster_id
        WHERE s.account_id IN ({_flagged_accounts_sql(limit)})
        ORDER BY s.risk DESC, s.events DESC NULLS LAST, s.account_id
        """,
    )
    accounts = [
        AccountEvidence(
            account_id=row["account_id"],
            risk=float(row["risk"]),
            verdict=row["verdict"],
            cluster_id=row["cluster_id"],
            campaign_id=row["campaign_id"],
            events=int(row["events"] or 0),
            reasons=list(row["reasons"] or []),
            indicators=list(row["indicators"] or []),
            profile={
                key: str(iso(row[key]))
                for key in ("plan", "verification", "created_at", "country", "email_domain")
                if row[key] is not None
            },
        )
        for row in rows
    ]
    samples = sample_prompts(warehouse, config, limit)
    for account in accounts:
        account.samples = samples.get(account.account_id, [])
    return accounts


def sample_prompts(warehouse: Warehouse, config: Config, limit: int) -> dict[str, list[Sample]]:
    """The most telling prompts of each flagged account (strongest prompt signals first)."""
    per_account = int(config.report_sample_prompts)
    if per_account <= 0:
        return {}
    has_signals = warehouse.engine.exists("prompt_signals")
    signal_cols = (
        "p.capability, p.template_family, p.evidence, p.cot_elicitation, p.rubric_grading, "
        "p.censorship_rewrite, greatest(coalesce(p.cot_elicitation, 0), coalesce(p.rubric_grading, 0), "
        "coalesce(p.censorship_rewrite, 0)) AS strength"
        if has_signals
        else "NULL AS capability, e.skeleton_hash AS template_family, NULL AS evidence, "
        "NULL AS cot_elicitation, NULL AS rubric_grading, NULL AS censorship_rewrite, 0.0 AS strength"
    )
    join = "LEFT JOIN prompt_signals p ON p.event_id = e.event_id" if has_signals else ""
    rows = _rows(
        warehouse,
        f"""
        SELECT * FROM (
            SELECT e.account_id, e.ts_start, coalesce(e.model_served, e.model_requested) AS model,
                   e.prompt_text, {signal_cols},
                   row_number() OVER (PARTITION BY e.account_id ORDER BY strength DESC, e.ts_start) AS rn
            FROM events e {join}
            WHERE e.account_id IN ({_flagged_accounts_sql(limit)})
        ) AS ranked WHERE rn <= {per_account}
        ORDER BY account_id, rn
        """,
    )
    samples: dict[str, list[Sample]] = defaultdict(list)
    for row in rows:
        text, note = redact_prompt(
            row["prompt_text"],
            text_storage=str(config.text_storage),
            max_chars=int(config.report_prompt_excerpt_chars),
        )
        signals = [
            f"{name.replace('_', ' ')} {row[name]:.2f}"
            for name in ("cot_elicitation", "rubric_grading", "censorship_rewrite")
            if row[name] is not None and row[name] >= 0.5
        ]
        signals.extend(str(span) for span in (row["evidence"] or [])[:3])
        samples[row["account_id"]].append(
            Sample(
                ts=iso(row["ts_start"]),
                model=row["model"],
                text=text,
                note=note,
                capability=row["capability"],
                signals=signals,
                template_family=row["template_family"],
            )
        )
    return samples


def collect(warehouse: Warehouse, config: Config, *, source: str = "") -> ReportData:
    require_scan(warehouse)
    watch, extraction = scan_thresholds(warehouse, config)
    head = summary(warehouse)
    window = _rows(warehouse, "SELECT min(ts_start) AS s, max(ts_start) AS e FROM events")[0]
    bucket, traffic = traffic_by_verdict(warehouse, window["s"], window["e"])
    accounts = top_accounts(warehouse, config)
    with indicator_pairs(warehouse):
        graph = account_graph(warehouse, int(config.report_graph_max_nodes))
        shared = shared_indicators(warehouse, {a.account_id: a.cluster_id for a in accounts})
    for account in accounts:
        account.shared = shared.get(account.account_id, [])
    return ReportData(
        generated_at=iso(datetime.now(UTC)) or "",
        source=source,
        summary=head,
        watch_threshold=watch,
        extraction_threshold=extraction,
        expected_benign_flag_rate=expected_rate(warehouse),
        text_storage=str(config.text_storage),
        campaigns=campaign_details(warehouse, watch=watch, extraction=extraction),
        clusters=top_clusters(warehouse, int(config.report_max_clusters_rows)),
        accounts=accounts,
        risk_bins=risk_bins(warehouse),
        traffic_bucket=bucket,
        traffic=traffic,
        graph=graph,
        caps={
            "accounts": int(config.report_max_accounts_rows),
            "clusters": int(config.report_max_clusters_rows),
            "samples": int(config.report_sample_prompts),
        },
    )
