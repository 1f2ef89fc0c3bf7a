"""Typed rows the scan passes between its stages (instead of ``dict[str, Any]``).

Each becomes a row of an output table (``schema``) with its reasons; ``as_row`` gives the
mapping the Arrow writer takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distillguard.detectors.account import Evidence


@dataclass
class SubjectScore:
    """One account or end user: its evidence, what its groups added, its risk and verdict."""

    subject_kind: str  # account | end_user
    subject_id: str
    account_id: str
    events: int
    own_logit: float
    evidence: list[Evidence]
    cluster_id: str | None = None
    cluster_logit: float = 0.0
    cluster_ties: str | None = None  # the kinds of pure value tying it to fellow members, in words
    cohort_id: str | None = None
    cohort_logit: float = 0.0
    cohort_silent_purity: float | None = None  # set when it joined its cohort's window by how it was used
    cohort_script_tied: bool = False  # a member, or a silent one, sharing its cohort members' script
    cohort_corroborated: bool = False  # a member tied to fellow members by two kinds of pure value
    cohort_tied_by: tuple[str, ...] = ()  # a silent account's kinds of pure value shared with the members
    worst_end_user: SubjectScore | None = None
    sightings: list[tuple[float, str]] = field(default_factory=list)
    risk: float = 0.0
    verdict: str = "ok"
    campaign_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return {
            "account_id": self.subject_id,
            "risk": round(min(1.0, self.risk), 4),
            "verdict": self.verdict,
            "cluster_id": self.cluster_id,
            "campaign_id": self.campaign_id,
            "events": self.events,
            "reasons": self.reasons,
            "own_logit": round(self.own_logit, 4),
            "cluster_logit": round(self.cluster_logit, 4),
            "cohort_logit": round(self.cohort_logit, 4),
        }


@dataclass
class GroupScore:
    """A cluster (from the graph) or a cohort (new light accounts harvesting together)."""

    group_id: str
    kind: str  # cluster | cohort
    accounts: int
    events: int
    strength: float
    parts: dict[str, float]
    features: dict[str, Any]
    members: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    risk: float = 0.0
    verdict: str = "ok"
    campaign_id: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "cluster_id": self.group_id,
            "accounts": self.accounts,
            "events": self.events,
            "risk": round(min(1.0, self.risk), 4),
            "verdict": self.verdict,
            "campaign_id": self.campaign_id,
            "top_indicators": self.indicators,
        }


@dataclass
class Campaign:
    campaign_id: str
    first_seen: datetime | None
    last_seen: datetime | None
    accounts: int
    events: int
    risk: float = 0.0
    capability_focus: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    pivots: list[dict[str, Any]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "accounts": self.accounts,
            "events": self.events,
            "risk": self.risk,
            "capability_focus": self.capability_focus,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Finding:
    finding_id: str
    level: str
    subject_id: str
    detector_id: str
    score: float
    value: float
    reason: str
    created_at: datetime

    def as_row(self) -> dict[str, Any]:
        return dict(self.__dict__)
