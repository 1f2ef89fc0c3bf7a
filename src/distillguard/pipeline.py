"""The scan: every detector level over the warehouse, in order, with timings.

prompt signals -> account features -> behaviour -> shared indicators -> graph
(connected components) -> cluster evidence -> risk and verdicts -> campaigns ->
findings. SQL does the heavy lifting over events; Python only touches one row
per account or cluster. Output tables (``prompt_signals``, ``account_scores``,
``clusters``, ``campaigns``, ``findings``) are replaced on every run;
``campaign_registry`` persists so campaign ids stay stable across scans.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from distillguard import graph
from distillguard.config import Config, memory_limit
from distillguard.detectors import prompt_steps
from distillguard.detectors.account_level import account_feature_steps, scan_events_step
from distillguard.detectors.campaigns import assign_campaign_ids, campaign_steps
from distillguard.detectors.cluster_features import cluster_features_step
from distillguard.detectors.graph_edges import (
    cluster_evidence_steps,
    indicator_steps,
    link_steps,
    member_script_ties_step,
    satellite_steps,
    young_satellite_steps,
)
from distillguard.detectors.prompt_level import PROMPT_WORK_TABLES
from distillguard.engine.base import SqlStep, run_steps
from distillguard.schema import (
    ACCOUNT_SCORES,
    CAMPAIGN_REGISTRY,
    CAMPAIGNS,
    CLUSTERS,
    FINDINGS,
    PROMPT_SIGNALS,
)
from distillguard.scoring import (
    account_own_risk,
    account_reasons,
    behaviour_step,
    cluster_risk,
    combine_partner,
    member_consistency,
    redact_sample,
    verdict,
)
from distillguard.warehouse import Warehouse

# Intermediate tables dropped after the scan (large, or meaningless outside it).
_SCRATCH = (
    "scan_events",
    "account_gaps",
    "account_daily",
    "account_volume",
    "account_capabilities",
    "account_templates",
    "account_timing",
    "account_pivots",
    "graph_links",
    "direct_links",
    "corroboration_values",
    "corroboration_pairs",
    "corroborated_links",
    "indicator_purity",
    "link_values",
    "link_candidates",
    "link_ranked",
    "cluster_satellites",
    "young_satellites",
    "cluster_script_ties",
    "campaign_events",
    "campaign_accounts",
    "_flagged",
    "_samples",
)
# Work tables nothing reads after the scan: kept out of the database file (SqlStep.scratch).
_TEMPORARY = frozenset((*_SCRATCH, *PROMPT_WORK_TABLES))
SAMPLE_PROMPTS_PER_ACCOUNT = 2


@dataclass
class ScanResult:
    events: int = 0
    accounts: int = 0
    clusters: int = 0
    campaigns: int = 0
    findings: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    cluster_verdicts: dict[str, int] = field(default_factory=dict)
    graph_rounds: int = 0
    prompt_level: str = ""  # which prompt-level implementation ran
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings_s.values())


def prompt_level_steps(config: Config, until_literal: str | None = None) -> tuple[list[SqlStep], str]:
    """The prompt detectors' steps over events up to the scan's cut-off."""
    return _scratch(prompt_steps(config, until_literal=until_literal)), "distillguard.detectors.prompt_steps"


def _scratch(steps: Sequence[SqlStep]) -> list[SqlStep]:
    """The steps, with the scan's work tables marked as scratch."""
    return [replace(s, scratch=True) if s.name in _TEMPORARY else s for s in steps]


def _until_literal(until: datetime | None) -> str | None:
    if until is None:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return f"CAST('{until.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}' AS TIMESTAMP)"


def detector_steps(*, until_literal: str | None, has_accounts: bool) -> list[SqlStep]:
    """Every pure SQL step of the account/graph levels before community detection."""
    return _scratch(
        [
            scan_events_step(until_literal=until_literal, has_prompt_signals=True),
            *account_feature_steps(has_accounts=has_accounts),
            behaviour_step(),
            *indicator_steps(has_accounts=has_accounts),
            *link_steps(),
        ]
    )


def post_graph_steps() -> list[SqlStep]:
    return _scratch([*cluster_evidence_steps(), cluster_features_step(), member_script_ties_step()])


def scan(warehouse: Warehouse, config: Config, *, until: datetime | None = None) -> ScanResult:
    """Run every detector on events with ``ts_start <= until`` and replace the output tables.

    DuckDB is held to ``scan_memory_limit`` while it runs (it spills beyond it).
    """
    with warehouse.engine.memory_limit(memory_limit(config, "scan_memory_limit")):
        return _scan(warehouse, config, until)


def _scan(warehouse: Warehouse, config: Config, until: datetime | None) -> ScanResult:
    engine = warehouse.engine
    result = ScanResult()
    timer = _Timer(result.timings_s)
    until_sql = _until_literal(until)
    has_accounts = warehouse.count("accounts") > 0

    with timer("prompt_level"):
        steps, result.prompt_level = prompt_level_steps(config, until_sql)
        run_steps(engine, steps)
        if until_sql:  # hold any prompt level (stand-ins in tests too) to the cut-off
            engine.execute(f"DELETE FROM prompt_signals WHERE ts_start > {until_sql}")
    with timer("account_level"):
        run_steps(engine, detector_steps(until_literal=until_sql, has_accounts=has_accounts))
    with timer("graph"):
        result.graph_rounds = graph.label_propagation(engine)
        run_steps(engine, _scratch(satellite_steps()))
        engine.execute(
            "INSERT INTO cluster_members SELECT account_id, cluster_id, NULL FROM cluster_satellites"
        )
        run_steps(engine, _scratch(young_satellite_steps()))
        engine.execute(
            "INSERT INTO cluster_members SELECT account_id, cluster_id, NULL FROM young_satellites"
        )
        run_steps(engine, post_graph_steps())
    with timer("scoring"):
        clusters, members = _score_clusters(engine, config)
        accounts = _score_accounts(engine, config, clusters, members, as_of_sql=until_sql)
    with timer("campaigns"):
        campaigns = _build_campaigns(warehouse, clusters, members, accounts)
    with timer("findings"):
        findings = _findings(engine, config, accounts, clusters, campaigns)
        _write_outputs(warehouse, accounts, clusters, campaigns, findings)
    for name in (*_SCRATCH, *PROMPT_WORK_TABLES):  # TEMP tables would hold memory until the connection closes
        engine.drop(name)

    result.events = sum(int(a["events"] or 0) for a in accounts.values())
    result.accounts = len(accounts)
    result.clusters = len(clusters)
    result.campaigns = len(campaigns)
    result.findings = len(findings)
    result.verdicts = _tally(a["verdict"] for a in accounts.values())
    result.cluster_verdicts = _tally(c["verdict"] for c in clusters.values())
    return result


# --------------------------------------------------------------------------- scoring
def _thresholds(config: Config) -> tuple[float, float]:
    return float(config.risk_watch_threshold), float(config.risk_extraction_threshold)


def _score_clusters(engine: Any, config: Config) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    watch, extraction = _thresholds(config)
    clusters: dict[str, dict[str, Any]] = {}
    for row in engine.to_arrow("SELECT * FROM cluster_features").to_pylist():
        scored = cluster_risk(row)
        row["risk"] = round(scored.risk, 4)
        row["parts"] = scored.parts
        row["verdict"] = verdict(scored.risk, watch=watch, extraction=extraction)
        row["indicators"] = []
        clusters[row["cluster_id"]] = row
    shared = engine.to_arrow(
        """
        SELECT cluster_id, kind, value, members_sharing, holders, weight FROM (
            SELECT *, row_number() OVER (
                       PARTITION BY cluster_id ORDER BY per_kind, weight DESC, kind, value) AS r
            FROM (
                SELECT *, row_number() OVER (PARTITION BY cluster_id, kind ORDER BY weight DESC, value)
                    AS per_kind
                FROM cluster_shared
            ) AS k
        ) AS s WHERE r <= 6 ORDER BY cluster_id, r
        """
    ).to_pylist()
    for row in shared:
        cluster = clusters.get(row["cluster_id"])
        if cluster is not None:
            cluster["indicators"].append(
                f"{row['kind']}:{str(row['value'])[:24]} shared by {row['members_sharing']} members "
                f"({row['holders']} accounts overall)"
            )
    members: dict[str, list[str]] = defaultdict(list)
    for row in engine.to_arrow("SELECT account_id, cluster_id FROM cluster_members").to_pylist():
        members[row["cluster_id"]].append(row["account_id"])
    return clusters, members


def _score_accounts(
    engine: Any,
    config: Config,
    clusters: dict[str, dict[str, Any]],
    members: dict[str, list[str]],
    *,
    as_of_sql: str | None = None,
) -> dict[str, dict[str, Any]]:
    watch, extraction = _thresholds(config)
    cluster_of = {a: c for c, accts in members.items() for a in accts}
    # Members that share a script-level value (request shape, scaffold, card) with a
    # fellow member may inherit on harvesting alone; members tied in by network values
    # only must match the cluster's content too.
    ties = engine.to_arrow("SELECT account_id FROM cluster_script_ties").to_pylist()
    script_tied = {str(r["account_id"]) for r in ties}
    partner = _partner_evidence(engine, as_of_sql)
    accounts: dict[str, dict[str, Any]] = {}
    rows = engine.to_arrow(
        "SELECT * FROM account_features f JOIN account_behaviour b USING (account_id)"
    ).to_pylist()
    for row in rows:
        account_id = row["account_id"]
        own = account_own_risk(float(row["behaviour"] or 0.0))
        cluster_id = cluster_of.get(account_id)
        cluster = clusters.get(cluster_id) if cluster_id else None
        inherited = 0.0
        if cluster:
            mean = float(cluster["mean_behaviour"] or 0.0)
            inherited = float(cluster["risk"]) * member_consistency(
                float(row["behaviour"] or 0.0),
                float(row["content"] or 0.0),
                mean,
                float(cluster["mean_content"] or 0.0),
                harvest=float(row["harvest"] or 0.0) if account_id in script_tied else 0.0,
                cluster_mean_harvest=float(cluster.get("mean_harvest") or 0.0),
                events=int(row["events"] or 0),
                cluster_mean_proxy=float(cluster.get("mean_proxy") or 0.0),
            )
        risk = max(own, inherited)
        sightings = partner.get(account_id, [])
        risk = combine_partner(risk, [s[0] for s in sightings])
        fired = account_reasons(row)
        reasons = [f"{d}: {text}" for d, _, _, text in fired]
        if cluster is not None and cluster["verdict"] != "ok":
            reasons.append(
                f"cluster.member: one of {cluster['accounts']} coordinated accounts in {cluster_id} "
                f"(cluster risk {cluster['risk']:.2f})"
            )
            reasons.extend(f"cluster.shared: {text}" for text in cluster["indicators"][:3])
        reasons.extend(f"partner.match: {s[1]}" for s in sightings)
        accounts[account_id] = {
            "account_id": account_id,
            "risk": round(min(1.0, risk), 4),
            "verdict": verdict(risk, watch=watch, extraction=extraction),
            "cluster_id": cluster_id,
            "campaign_id": None,
            "events": row["events"],
            "reasons": reasons,
            "fired": fired,
            "sightings": sightings,
        }
    return accounts


def _partner_evidence(engine: Any, as_of_sql: str | None = None) -> dict[str, list[tuple[float, str]]]:
    """Partner matches still valid at the scan's cut-off (a replay of the past uses its own time)."""
    if not engine.exists("partner_matches"):
        return {}
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for row in engine.to_arrow(
        "SELECT account_id, partner, partner_campaign, indicator_kind, confidence, reason "
        "FROM partner_matches "
        f"WHERE valid_until IS NULL OR valid_until >= {as_of_sql or 'now()'}"
    ).to_pylist():
        text = (
            f"seen at partner {row['partner'] or '?'} as part of campaign {row['partner_campaign'] or '?'} "
            f"({row['indicator_kind'] or 'indicator'}, confidence {float(row['confidence'] or 0):.2f})"
        )
        found[row["account_id"]].append((float(row["confidence"] or 0.0), text))
    return found


# ------------------------------------------------------------------------- campaigns
def _build_campaigns(
    warehouse: Warehouse,
    clusters: dict[str, dict[str, Any]],
    members: dict[str, list[str]],
    accounts: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    engine = warehouse.engine
    warehouse.ensure_table("campaign_registry", CAMPAIGN_REGISTRY)
    flagged = {cid: members[cid] for cid, c in clusters.items() if c["verdict"] != "ok"}
    registry = [
        (r["campaign_id"], r["account_id"])
        for r in engine.to_arrow(
            "SELECT campaign_id, account_id FROM campaign_registry ORDER BY first_registered"
        ).to_pylist()
    ]
    assigned = assign_campaign_ids(flagged, registry)
    known = {a for _, a in registry}
    now = datetime.now(UTC)
    new_rows = [
        {"campaign_id": assigned[cid], "account_id": a, "first_registered": now}
        for cid, accts in flagged.items()
        for a in accts
        if a not in known
    ]
    if new_rows:
        warehouse.engine.register("_registry_new", pa.Table.from_pylist(new_rows, schema=CAMPAIGN_REGISTRY))
        engine.execute("INSERT INTO campaign_registry SELECT * FROM _registry_new")
        engine.unregister("_registry_new")
    for cid, campaign_id in assigned.items():
        clusters[cid]["campaign_id"] = campaign_id
        for account_id in members[cid]:
            accounts[account_id]["campaign_id"] = campaign_id
    pairs = [{"account_id": a, "campaign_id": assigned[c]} for c, accts in flagged.items() for a in accts]
    engine.register(
        "_campaign_pairs",
        pa.Table.from_pylist(
            pairs, schema=pa.schema([("account_id", pa.string()), ("campaign_id", pa.string())])
        ),
    )
    run_steps(engine, _scratch([SqlStep("campaign_accounts", "SELECT * FROM _campaign_pairs")]))
    engine.unregister("_campaign_pairs")
    run_steps(engine, _scratch(campaign_steps()))
    return _campaign_rows(engine, clusters, assigned)


def _campaign_rows(
    engine: Any, clusters: dict[str, dict[str, Any]], assigned: dict[str, str]
) -> dict[str, dict[str, Any]]:
    campaigns: dict[str, dict[str, Any]] = {}
    for row in engine.to_arrow("SELECT * FROM campaign_summary").to_pylist():
        row.update(risk=0.0, capability_focus=[], evidence=[], pivots=[], clusters=[])
        campaigns[row["campaign_id"]] = row
    for cid, campaign_id in sorted(assigned.items()):
        if campaign_id in campaigns:
            campaign = campaigns[campaign_id]
            campaign["risk"] = max(campaign["risk"], clusters[cid]["risk"])
            campaign["clusters"].append(cid)
    for row in engine.to_arrow(
        "SELECT * FROM campaign_capabilities WHERE share >= 0.1 ORDER BY campaign_id, share DESC"
    ).to_pylist():
        if row["campaign_id"] in campaigns:
            campaigns[row["campaign_id"]]["capability_focus"].append(row["capability"])
    daily: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in engine.to_arrow("SELECT * FROM campaign_daily ORDER BY campaign_id, day").to_pylist():
        daily[row["campaign_id"]].append(row)
    for campaign_id, campaign in campaigns.items():
        days = daily.get(campaign_id, [])
        peak = max(days, key=lambda d: d["events"]) if days else None
        campaign["evidence"].append(
            f"campaign.growth: onset {campaign['first_seen']:%Y-%m-%d %H:%M} UTC; "
            f"{campaign['accounts']} accounts, {campaign['events']} requests over {len(days)} days"
            + (
                f"; peak {peak['events']} requests from {peak['active_accounts']} accounts"
                f" on {peak['day']:%Y-%m-%d}"
                if peak
                else ""
            )
        )
        campaign["evidence"].append(
            f"campaign.capability_focus: {', '.join(campaign['capability_focus']) or 'none dominant'}"
        )
        campaign["evidence"].append(f"campaign.clusters: {', '.join(campaign['clusters'])}")
    for row in engine.to_arrow("SELECT * FROM campaign_pivots ORDER BY campaign_id, released_at").to_pylist():
        found = campaigns.get(row["campaign_id"])
        if found is None:
            continue
        campaign = found
        campaign["pivots"].append(row)
        campaign["evidence"].append(
            f"campaign.pivot: {row['share_after']:.0%} of traffic moved to newly released {row['model']} "
            f"within 24 h of its first appearance ({row['released_at']:%Y-%m-%d %H:%M} UTC)"
        )
    return campaigns


# -------------------------------------------------------------------------- findings
def _finding_id(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()[:20]


def _findings(
    engine: Any,
    config: Config,
    accounts: dict[str, dict[str, Any]],
    clusters: dict[str, dict[str, Any]],
    campaigns: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []

    def add(level: str, subject: str, detector: str, score: float, value: float, reason: str) -> None:
        rows.append(
            {
                "finding_id": _finding_id(level, subject, detector, reason),
                "level": level,
                "subject_id": subject,
                "detector_id": detector,
                "score": float(score),
                "value": float(value),
                "reason": reason,
                "created_at": now,
            }
        )

    flagged = {a: acc for a, acc in accounts.items() if acc["verdict"] != "ok"}
    samples = _sample_prompts(engine, config, list(flagged))
    for account_id, acc in flagged.items():
        add("account", account_id, "account.risk", acc["risk"], acc["risk"], f"verdict {acc['verdict']}")
        for detector, score, value, text in acc["fired"]:
            add("account", account_id, detector, score, value, text)
        for confidence, text in acc["sightings"]:
            add("account", account_id, "partner.match", confidence, confidence, text)
        for text in samples.get(account_id, []):
            add("account", account_id, "account.sample_prompt", acc["risk"], 0.0, text)
            acc["reasons"].append(f"sample: {text}")
    for cluster_id, cluster in clusters.items():
        if cluster["verdict"] == "ok":
            continue
        parts = cluster["parts"]
        add(
            "cluster",
            cluster_id,
            "cluster.risk",
            cluster["risk"],
            float(cluster["accounts"]),
            f"{cluster['accounts']} accounts, {cluster['events']} requests; mean behaviour "
            f"{cluster['mean_behaviour']:.2f}; harvesting {parts['harvesting']:.2f}, "
            f"coordination {parts['coordination']:.2f}",
        )
        for kind, column in (
            ("shared_templates", "template_tie"),
            ("shared_payment", "record_tie"),
            ("shared_infrastructure", "infra_tie"),
        ):
            tie = float(cluster.get(column) or 0.0)
            if tie > 0:
                add(
                    "cluster",
                    cluster_id,
                    f"cluster.{kind}",
                    tie,
                    tie,
                    f"{tie:.0%} of members share {kind.replace('shared_', '')} indicators with each other",
                )
        if float(cluster.get("lockstep_ratio") or 0.0) >= 2.0:
            add(
                "cluster",
                cluster_id,
                "cluster.lockstep",
                cluster["lockstep_ratio"],
                cluster["lockstep_ratio"],
                f"members active together {cluster['lockstep_ratio']:.1f}x more than"
                f" independent accounts would be "
                f"(peak {cluster['peak_active']} accounts in one 10-minute bucket)",
            )
        for text in cluster["indicators"]:
            add("cluster", cluster_id, "cluster.indicator", cluster["risk"], 0.0, text)
    for campaign_id, campaign in campaigns.items():
        for text in campaign["evidence"]:
            detector, _, reason = text.partition(": ")
            value = (
                next((p["share_after"] for p in campaign["pivots"]), 0.0)
                if detector == "campaign.pivot"
                else 0.0
            )
            add("campaign", campaign_id, detector, campaign["risk"], value, reason)
    return rows


def _sample_prompts(engine: Any, config: Config, account_ids: Sequence[str]) -> dict[str, list[str]]:
    if not account_ids:
        return {}
    engine.register("_flagged", pa.table({"account_id": pa.array(list(account_ids), pa.string())}))
    try:
        rows = engine.to_arrow(
            f"""
            SELECT account_id, prompt_text, prompt_hash FROM (
                SELECT e.account_id, e.prompt_text, e.prompt_hash,
                       row_number() OVER (PARTITION BY e.account_id
                           ORDER BY greatest(s.cot, s.grading, s.rewrite) DESC, e.ts_start, e.event_id) AS r
                FROM scan_events s
                JOIN _flagged f ON f.account_id = s.account_id
                JOIN events e ON e.event_id = s.event_id
            ) AS x WHERE r <= {SAMPLE_PROMPTS_PER_ACCOUNT}
            """
        ).to_pylist()
    finally:
        engine.unregister("_flagged")
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        found[row["account_id"]].append(
            redact_sample(row["prompt_text"], row["prompt_hash"], text_storage=str(config.text_storage))
        )
    return found


def _write_outputs(
    warehouse: Warehouse,
    accounts: dict[str, dict[str, Any]],
    clusters: dict[str, dict[str, Any]],
    campaigns: dict[str, dict[str, Any]],
    findings: list[dict[str, Any]],
) -> None:
    def table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        names = schema.names
        return pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)

    warehouse.replace_table("account_scores", table(list(accounts.values()), ACCOUNT_SCORES))
    cluster_rows = [{**c, "top_indicators": c["indicators"]} for c in clusters.values()]
    warehouse.replace_table("clusters", table(cluster_rows, CLUSTERS))
    warehouse.replace_table("campaigns", table(list(campaigns.values()), CAMPAIGNS))
    warehouse.replace_table("findings", table(findings, FINDINGS))
    # prompt_signals was written by its own steps; make sure its columns match the schema.
    if not warehouse.engine.exists("prompt_signals"):
        warehouse.replace_table("prompt_signals", PROMPT_SIGNALS.empty_table())


# ----------------------------------------------------------------------------- util
def _tally(values: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(counts)


class _Timer:
    def __init__(self, into: dict[str, float]) -> None:
        self.into = into

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.into[name] = round(time.perf_counter() - started, 3)


__all__ = ["ScanResult", "detector_steps", "post_graph_steps", "prompt_level_steps", "scan"]
