"""Findings: one row per piece of evidence behind every flagged subject, cluster, cohort and
campaign, with its detector, score, the number behind it and the reason in words."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from distillguard.detectors.cohort import cohort_kind_label
from distillguard.rules import redact_sample
from distillguard.scan.rows import Campaign, Finding, GroupScore, SubjectScore

SAMPLE_PROMPTS_PER_ACCOUNT = 2
# Lockstep ratio from which a cluster's synchronised activity is worth a finding.
LOCKSTEP_FINDING_RATIO = 2.0


def _finding_id(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()[:20]


class FindingsWriter:
    def __init__(self) -> None:
        self.rows: list[Finding] = []
        self.now = datetime.now(UTC)

    def add(self, level: str, subject: str, detector: str, score: float, value: float, reason: str) -> None:
        self.rows.append(
            Finding(
                _finding_id(level, subject, detector, reason),
                level,
                subject,
                detector,
                float(score),
                float(value),
                reason,
                self.now,
            )
        )


def findings(
    accounts: Mapping[str, SubjectScore],
    end_users: Mapping[str, SubjectScore],
    groups: Iterable[GroupScore],
    campaigns: Mapping[str, Campaign],
    samples: Mapping[str, list[str]],
) -> list[Finding]:
    out = FindingsWriter()
    for subject in (*accounts.values(), *end_users.values()):
        if subject.verdict == "ok":
            continue
        level = subject.subject_kind
        sid = subject.subject_id
        out.add(level, sid, f"{level}.risk", subject.risk, subject.risk, f"verdict {subject.verdict}")
        for e in subject.evidence:
            out.add(level, sid, e.detector_id, e.score, e.value, e.text)
        if subject.cluster_logit > 0:
            out.add(
                level,
                sid,
                "cluster.member",
                subject.cluster_logit,
                subject.cluster_logit,
                ", ".join(filter(None, (f"member of {subject.cluster_id}", subject.cluster_ties))),
            )
        if subject.cohort_logit > 0:
            out.add(
                level,
                sid,
                "cohort.member",
                subject.cohort_logit,
                subject.cohort_logit,
                f"member of {subject.cohort_id}",
            )
        if subject.worst_end_user is not None:
            eu = subject.worst_end_user
            out.add(
                level,
                sid,
                "end_user.rollup",
                eu.risk,
                eu.risk,
                f"end user {eu.subject_id} scores {eu.risk:.2f}",
            )
        for confidence, text in subject.sightings:
            out.add(level, sid, "partner.match", confidence, confidence, text)
        for text in samples.get(sid, []):
            out.add(level, sid, f"{level}.sample_prompt", subject.risk, 0.0, text)
            subject.reasons.append(f"sample: {text}")
    for group in groups:
        if group.verdict == "ok":
            continue
        _group_findings(out, group)
    for campaign_id, campaign in campaigns.items():
        for text in campaign.evidence:
            detector, _, reason = text.partition(": ")
            value = (
                next((p["share_after"] for p in campaign.pivots), 0.0)
                if detector == "campaign.pivot"
                else 0.0
            )
            out.add("campaign", campaign_id, detector, campaign.risk, value, reason)
    return out.rows


def _group_findings(out: FindingsWriter, group: GroupScore) -> None:
    gid, f = group.group_id, group.features
    if group.kind == "cohort":
        out.add(
            "cohort",
            gid,
            "cohort.training_swarm",
            group.risk,
            float(group.accounts),
            f"{group.accounts} new, light accounts first seen together, {group.events} requests; "
            f"{group.parts['harvest_share']:.0%} {cohort_kind_label(f.get('kind'))}, "
            f"{group.parts['distinct_share']:.0%} "
            "of items asked once",
        )
        return
    parts = group.parts
    out.add(
        "cluster",
        gid,
        "cluster.risk",
        group.risk,
        float(group.accounts),
        f"{group.accounts} accounts, {group.events} requests; mean behaviour "
        f"{float(f.get('mean_behaviour') or 0):.2f}; harvesting {parts['harvesting']:.2f}, "
        f"coordination {parts['coordination']:.2f}",
    )
    for kind, column in (
        ("shared_templates", "template_tie"),
        ("shared_payment", "record_tie"),
        ("shared_infrastructure", "infra_tie"),
    ):
        tie = float(f.get(column) or 0.0)
        if tie > 0:
            out.add(
                "cluster",
                gid,
                f"cluster.{kind}",
                tie,
                tie,
                f"{tie:.0%} of members share {kind.replace('shared_', '')} indicators with each other",
            )
    lockstep = float(f.get("lockstep_ratio") or 0.0)
    if lockstep >= LOCKSTEP_FINDING_RATIO:
        out.add(
            "cluster",
            gid,
            "cluster.lockstep",
            lockstep,
            lockstep,
            f"members active together {lockstep:.1f}x more than independent accounts would be "
            f"(peak {f.get('peak_active')} accounts in one 10-minute bucket)",
        )
    for text in group.indicators:
        out.add("cluster", gid, "cluster.indicator", group.risk, 0.0, text)


def sample_prompts(engine: Any, text_storage: str, subject_ids: Sequence[str]) -> dict[str, list[str]]:
    """The most training-shaped prompts of each flagged account, redacted (rules.redact_sample)."""
    if not subject_ids:
        return {}
    engine.register("_flagged", pa.table({"account_id": pa.array(list(subject_ids), pa.string())}))
    try:
        rows = engine.to_arrow(
            f"""
            SELECT account_id, prompt_text, prompt_hash FROM (
                SELECT e.account_id, e.prompt_text, e.prompt_hash,
                       row_number() OVER (PARTITION BY e.account_id
                           ORDER BY s.training DESC, e.ts_start, e.event_id) AS r
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
            redact_sample(row["prompt_text"], row["prompt_hash"], text_storage=text_storage)
        )
    return found
