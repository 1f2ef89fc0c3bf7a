"""The scan: every registered detector over the warehouse, in order, with timings.

prompt level -> subjects (accounts, end users) -> coordination graph -> clusters ->
cohorts -> risk (scoring) -> thresholds (calibration) -> campaigns -> findings.

The pipeline only chains stages: detectors return SQL (``detectors/``), scoring turns
evidence into risk (``scoring``), findings text lives in ``findings``. Work tables are
derived from the steps themselves: every table a step creates is scratch (a DuckDB
TEMP table, dropped at the end) unless it is in ``KEPT_TABLES``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from distillguard.config import Config, memory_limit
from distillguard.detectors import prompt_steps
from distillguard.detectors.account.evidence import evidence_step
from distillguard.detectors.account_level import account_feature_steps, end_user_events_step, scan_events_step
from distillguard.detectors.cluster_features import (
    cluster_features_step,
    member_tie_families_step,
    shared_items_step,
)
from distillguard.detectors.cohort import cohort_steps
from distillguard.detectors.graph_edges import (
    cluster_evidence_steps,
    indicator_steps,
    link_steps,
    member_script_ties_step,
)
from distillguard.detectors.patterns import PART_RESPONSE
from distillguard.detectors.prompt_level import (
    CLASSIFIED_TABLE,
    CLASSIFIER_INPUT,
    REMEMBERED_TABLE,
    classifier_texts_sql,
    classify_texts,
    forget_sql,
    remember_sql,
    ruleset_version,
)
from distillguard.detectors.satellites import community_merge_steps, satellite_steps
from distillguard.engine.base import SqlStep, StepTiming, recording_steps, run_steps
from distillguard.scan import graph, scoring
from distillguard.scan.calibration import Thresholds, calibrate
from distillguard.scan.campaigns import build_campaigns
from distillguard.scan.findings import findings, sample_prompts
from distillguard.scan.registry import ACCOUNT_SIGNALS, signal_aggregates
from distillguard.scan.rows import GroupScore, SubjectScore
from distillguard.scan.subjects import END_USERS
from distillguard.schema import (
    ACCOUNT_SCORES,
    CAMPAIGNS,
    CLUSTERS,
    FINDINGS,
    PROMPT_MATCHES,
    PROMPT_SIGNALS,
    SCAN_THRESHOLDS,
    SUBJECT_SCORES,
)
from distillguard.warehouse import Warehouse

# Tables the scan leaves for analysts, the report and tests; every other step output is scratch.
KEPT_TABLES = frozenset(
    (
        "prompt_signals",
        "account_features",
        "account_behaviour",
        "end_user_features",
        "end_user_behaviour",
        "account_indicators",
        "indicator_stats",
        "cluster_members",
        "cluster_shared",
        "cluster_lockstep",
        "cluster_features",
        "member_tie_families",
        "cohort_members",
        "cohort_features",
        "model_releases",
        "campaign_summary",
        "campaign_daily",
        "campaign_pivots",
        "campaign_capabilities",
    )
)
# Indicators listed per cluster in its reasons and findings.
CLUSTER_INDICATORS_SHOWN = 6


@dataclass
class ScanResult:
    events: int = 0
    accounts: int = 0
    end_users: int = 0
    clusters: int = 0
    cohorts: int = 0
    campaigns: int = 0
    findings: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    cluster_verdicts: dict[str, int] = field(default_factory=dict)
    thresholds: Thresholds | None = None
    graph_rounds: int = 0
    prompt_level: str = ""  # which prompt-level implementation ran
    timings_s: dict[str, float] = field(default_factory=dict)  # wall seconds per phase
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per phase (every thread)
    # every SQL step in the order it ran, by phase: where a scan's time goes
    step_timings: list[tuple[str, StepTiming]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.timings_s.values())


class _Scratch:
    """Marks every step whose table is not kept as scratch, and remembers it to drop later."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, steps: Sequence[SqlStep]) -> list[SqlStep]:
        marked = []
        for step in steps:
            if step.name in KEPT_TABLES:
                marked.append(step)
            else:
                self.names.append(step.name)
                marked.append(replace(step, scratch=True))
        return marked


def until_literal(until: datetime | None) -> str | None:
    if until is None:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return f"CAST('{until.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}' AS TIMESTAMP)"


def prompt_level_steps(
    config: Config, until_literal: str | None = None, *, remembered: bool = True
) -> tuple[list[SqlStep], str]:
    """The prompt detectors' steps over events up to the scan's cut-off, and their name.

    They read the matches earlier scans remembered under the current rules and match only
    what is new (``_prompt_level`` keeps the table and adds this run's matches to it).
    With nothing remembered (``remembered=False``: a first scan, or the rules changed) they
    match every text straight from the events: the same matches, without first writing out
    every response's text to leave out none of it (a seventh of the prompt level, medium).
    """
    version = ruleset_version() if remembered else None
    steps = prompt_steps(config, until_literal=until_literal, remembered=version, classified=True)
    return steps, "distillguard.detectors.prompt_steps"


def _prompt_level(warehouse: Warehouse, config: Config, cut: str | None, scratch: _Scratch) -> str:
    """Run the prompt level; remember what it matched for the next scan (a watch pass)."""
    engine = warehouse.engine
    version = ruleset_version()
    warehouse.ensure_table(REMEMBERED_TABLE, PROMPT_MATCHES)
    engine.execute(forget_sql(version))
    remembered = bool(engine.to_arrow(f"SELECT 1 FROM {REMEMBERED_TABLE} LIMIT 1").num_rows)
    steps, name = prompt_level_steps(config, cut, remembered=remembered)
    _run_classifying(engine, scratch(steps))
    if all(engine.exists(f"_{part}_scores") for part in ("request", PART_RESPONSE)):  # not a stand-in
        for sql in remember_sql(version):
            engine.execute(sql)
    if cut:  # hold any prompt level (stand-ins in tests too) to the cut-off
        engine.execute(f"DELETE FROM prompt_signals WHERE ts_start > {cut}")
    return name


def _run_classifying(engine: Any, steps: list[SqlStep]) -> None:
    """Run the prompt level's steps, the n-gram classifier in a thread beside the engine.

    It starts once its texts exist (``CLASSIFIER_INPUT``) and is waited for only by the first
    step that reads its result (``CLASSIFIED_TABLE``): meanwhile the engine matches the
    responses and the requests' rules. The engine does not hold Python's lock while it runs
    a statement, so the two use separate cores. Steps that never read the classifier's table
    (a stand-in prompt level) simply run in order.
    """
    reader = next((i for i, step in enumerate(steps) if CLASSIFIED_TABLE in step.sql), None)
    inputs = next((i for i, step in enumerate(steps) if step.name == CLASSIFIER_INPUT), None)
    if reader is None or inputs is None or inputs > reader:
        run_steps(engine, steps)
        return
    run_steps(engine, steps[: inputs + 1])
    texts = engine.to_arrow(classifier_texts_sql()).column("t")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prompt-classifier") as pool:
        classified = pool.submit(classify_texts, texts)
        run_steps(engine, steps[inputs + 1 : reader])
        engine.register("_classifier_result", classified.result())
    try:
        run_steps(engine, [SqlStep(CLASSIFIED_TABLE, "SELECT * FROM _classifier_result", scratch=True)])
    finally:  # DuckDB lets go of a registered Arrow table with unregister, Spark drops its view
        getattr(engine, "unregister", engine.drop)("_classifier_result")
    run_steps(engine, steps[reader:])
    engine.drop(CLASSIFIED_TABLE)


def subject_steps(*, until_literal: str | None, has_accounts: bool) -> list[SqlStep]:
    """Events in the window, then features and evidence for accounts and for end users."""
    aggregates = signal_aggregates()
    return [
        scan_events_step(until_literal=until_literal, has_prompt_signals=True),
        *account_feature_steps(has_accounts=has_accounts, aggregates=aggregates),
        evidence_step(ACCOUNT_SIGNALS),
        end_user_events_step(min_end_users=int(END_USERS["min_end_users"])),
        *account_feature_steps(
            has_accounts=has_accounts,
            aggregates=aggregates,
            source="end_user_events",
            prefix="end_user_",
            parent_column="parent_account_id",
        ),
        evidence_step(ACCOUNT_SIGNALS, source="end_user_features", name="end_user_behaviour"),
    ]


def graph_steps(*, has_accounts: bool) -> list[SqlStep]:
    """Shared values and the account pairs they tie (before community detection)."""
    return [*indicator_steps(has_accounts=has_accounts), *link_steps()]


def post_graph_steps() -> list[SqlStep]:
    return [
        *cluster_evidence_steps(),
        shared_items_step(),
        cluster_features_step(),
        member_script_ties_step(),
        member_tie_families_step(),
        *cohort_steps(),
    ]


def sql_steps(*, until_literal: str | None, has_accounts: bool) -> list[SqlStep]:
    """Every pure SQL step of the scan after the prompt level (the Spark transpile test reads it)."""
    return [
        *subject_steps(until_literal=until_literal, has_accounts=has_accounts),
        *graph_steps(has_accounts=has_accounts),
        *community_merge_steps(),
        *satellite_steps(),
        *post_graph_steps(),
    ]


def scan(warehouse: Warehouse, config: Config, *, until: datetime | None = None) -> ScanResult:
    """Run every detector on events with ``ts_start <= until`` and replace the output tables.

    DuckDB is held to ``scan_memory_limit`` while it runs (it spills beyond it).
    """
    with warehouse.engine.memory_limit(memory_limit(config, "scan_memory_limit")):
        return _scan(warehouse, config, until)


def _scan(warehouse: Warehouse, config: Config, until: datetime | None) -> ScanResult:
    engine = warehouse.engine
    result = ScanResult()
    timer = _Timer(result)
    scratch = _Scratch()
    cut = until_literal(until)
    has_accounts = warehouse.count("accounts") > 0

    with timer("prompt_level"):
        result.prompt_level = _prompt_level(warehouse, config, cut, scratch)
    with timer("subjects"):
        run_steps(engine, scratch(subject_steps(until_literal=cut, has_accounts=has_accounts)))
    with timer("graph"):
        run_steps(engine, scratch(graph_steps(has_accounts=has_accounts)))
        result.graph_rounds = graph.label_propagation(engine)
        run_steps(engine, scratch(community_merge_steps()))
        graph.apply_merges(engine)
        for step in scratch(satellite_steps()):
            run_steps(engine, [step])
            engine.execute(
                f"INSERT INTO cluster_members SELECT account_id, cluster_id, NULL FROM {step.name}"
            )
        run_steps(engine, scratch(post_graph_steps()))
    with timer("scoring"):
        accounts, end_users, groups = _score(engine, cut)
        thresholds = calibrate(
            target_benign_flag_rate=float(config.target_benign_flag_rate),
            target_benign_watch_rate=float(config.target_benign_watch_rate),
            extraction_floor=float(config.risk_extraction_threshold),
            watch_floor=float(config.risk_watch_threshold),
        )
        scoring.settle_verdicts(accounts, end_users, groups.values(), thresholds)
    with timer("campaigns"):
        campaigns = build_campaigns(warehouse, groups, accounts, scratch=scratch)
    with timer("findings"):
        flagged = [a for a, s in accounts.items() if s.verdict != "ok"]
        samples = sample_prompts(engine, str(config.text_storage), flagged)
        rows = findings(accounts, end_users, groups.values(), campaigns, samples)
        _write(warehouse, accounts, end_users, groups, campaigns, rows)
        warehouse.replace_table(
            "scan_thresholds",
            pa.Table.from_pylist(
                [
                    {
                        "watch": thresholds.watch,
                        "extraction": thresholds.extraction,
                        "expected_benign_flag_rate": thresholds.expected_benign_flag_rate,
                        "expected_benign_watch_rate": thresholds.expected_benign_watch_rate,
                        "scanned_at": datetime.now(UTC),
                    }
                ],
                schema=SCAN_THRESHOLDS,
            ),
        )
    for name in dict.fromkeys(scratch.names):  # TEMP tables would hold memory until the connection closes
        engine.drop(name)

    result.events = sum(s.events for s in accounts.values())
    result.accounts = len(accounts)
    result.end_users = len(end_users)
    result.clusters = sum(1 for g in groups.values() if g.kind == "cluster")
    result.cohorts = sum(1 for g in groups.values() if g.kind == "cohort")
    result.campaigns = len(campaigns)
    result.findings = len(rows)
    result.thresholds = thresholds
    result.verdicts = _tally(s.verdict for s in accounts.values())
    result.cluster_verdicts = _tally(g.verdict for g in groups.values() if g.kind == "cluster")
    return result


def _score(
    engine: Any, cut: str | None
) -> tuple[dict[str, SubjectScore], dict[str, SubjectScore], dict[str, GroupScore]]:
    """Every subject's and group's evidence, combined into risk (verdicts come after calibration)."""
    query = "SELECT * FROM {p}features f JOIN {p}behaviour b USING (account_id)"
    account_rows = engine.to_arrow(query.format(p="account_")).to_pylist()
    accounts = scoring.subjects_from_rows(account_rows, ACCOUNT_SIGNALS, kind="account")
    end_users = scoring.subjects_from_rows(
        engine.to_arrow(query.format(p="end_user_")).to_pylist(), ACCOUNT_SIGNALS, kind="end_user"
    )
    clusters = scoring.clusters_from_rows(engine.to_arrow("SELECT * FROM cluster_features").to_pylist())
    _cluster_indicators(engine, clusters)
    members = {
        str(r["account_id"]): str(r["cluster_id"])
        for r in engine.to_arrow("SELECT account_id, cluster_id FROM cluster_members").to_pylist()
    }
    ties = {str(r["account_id"]): r for r in engine.to_arrow("SELECT * FROM member_tie_families").to_pylist()}
    script_tied = {
        str(r["account_id"])
        for r in engine.to_arrow("SELECT account_id FROM cluster_script_ties").to_pylist()
    }
    behaviour = {str(r["account_id"]): r for r in account_rows}
    scoring.add_cluster_evidence(accounts, clusters, members, behaviour, ties, script_tied)
    cohorts = scoring.cohorts_from_rows(engine.to_arrow("SELECT * FROM cohort_features").to_pylist())
    scoring.add_cohort_evidence(
        accounts, cohorts, engine.to_arrow("SELECT * FROM cohort_members").to_pylist()
    )
    scoring.add_silent_cohort_evidence(
        accounts, cohorts, engine.to_arrow("SELECT * FROM cohort_silent_members").to_pylist()
    )
    scoring.settle_risk(accounts, end_users, _partner_evidence(engine, cut))
    for group in clusters.values():
        # a cluster is as risky as its members together: its strength, or its riskiest member
        group.risk = max(
            group.strength, max((accounts[a].risk for a in group.members if a in accounts), default=0)
        )
    for group in cohorts.values():
        group.risk = max(
            (accounts[a].risk for a in group.members if a in accounts and accounts[a].cohort_logit > 0),
            default=0.0,
        )
    return accounts, end_users, {**clusters, **cohorts}


def _cluster_indicators(engine: Any, clusters: dict[str, GroupScore]) -> None:
    shared = engine.to_arrow(
        f"""
        SELECT cluster_id, kind, value, members_sharing, holders, weight FROM (
            SELECT *, row_number() OVER (
                       PARTITION BY cluster_id ORDER BY per_kind, weight DESC, kind, value) AS r
            FROM (
                SELECT *, row_number() OVER (PARTITION BY cluster_id, kind ORDER BY weight DESC, value)
                    AS per_kind
                FROM cluster_shared
            ) AS k
        ) AS s WHERE r <= {CLUSTER_INDICATORS_SHOWN} ORDER BY cluster_id, r
        """
    ).to_pylist()
    for row in shared:
        cluster = clusters.get(row["cluster_id"])
        if cluster is not None:
            cluster.indicators.append(
                f"{row['kind']}:{str(row['value'])[:24]} shared by {row['members_sharing']} members "
                f"({row['holders']} accounts overall)"
            )


def _partner_evidence(engine: Any, cut: str | None) -> dict[str, list[tuple[float, str]]]:
    """Partner matches still valid at the scan's cut-off (a replay of the past uses its own time)."""
    if not engine.exists("partner_matches"):
        return {}
    found: dict[str, list[tuple[float, str]]] = {}
    for row in engine.to_arrow(
        "SELECT account_id, partner, partner_campaign, indicator_kind, confidence, reason "
        f"FROM partner_matches WHERE valid_until IS NULL OR valid_until >= {cut or 'now()'}"
    ).to_pylist():
        text = (
            f"seen at partner {row['partner'] or '?'} as part of campaign {row['partner_campaign'] or '?'} "
            f"({row['indicator_kind'] or 'indicator'}, confidence {float(row['confidence'] or 0):.2f})"
        )
        found.setdefault(row["account_id"], []).append((float(row["confidence"] or 0.0), text))
    return found


def _write(
    warehouse: Warehouse,
    accounts: dict[str, SubjectScore],
    end_users: dict[str, SubjectScore],
    groups: dict[str, GroupScore],
    campaigns: dict[str, Any],
    rows: Sequence[Any],
) -> None:
    def table(records: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in records], schema=schema)

    warehouse.replace_table("account_scores", table([s.as_row() for s in accounts.values()], ACCOUNT_SCORES))
    subject_rows = [
        {**s.as_row(), "subject_kind": s.subject_kind, "subject_id": s.subject_id, "account_id": s.account_id}
        for s in (*accounts.values(), *end_users.values())
    ]
    warehouse.replace_table("subject_scores", table(subject_rows, SUBJECT_SCORES))
    warehouse.replace_table("clusters", table([g.as_row() for g in groups.values()], CLUSTERS))
    warehouse.replace_table("campaigns", table([c.as_row() for c in campaigns.values()], CAMPAIGNS))
    warehouse.replace_table("findings", table([f.as_row() for f in rows], FINDINGS))
    if not warehouse.engine.exists("prompt_signals"):
        warehouse.replace_table("prompt_signals", PROMPT_SIGNALS.empty_table())


def _tally(values: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


class _Timer:
    """Wall and CPU seconds of each phase, and of each step run inside it."""

    def __init__(self, into: ScanResult) -> None:
        self.into = into

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        with recording_steps() as steps:
            try:
                yield
            finally:
                self.into.timings_s[name] = round(time.perf_counter() - started, 3)
                self.into.cpu_s[name] = round(time.process_time() - cpu, 3)
                self.into.step_timings.extend((name, step) for step in steps)


__all__ = ["KEPT_TABLES", "ScanResult", "scan", "sql_steps", "until_literal"]
