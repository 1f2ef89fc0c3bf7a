"""Decision rows and the fixed precedence that resolves several of them into one.

A decision is a row (the ``DECISIONS`` schema): a subject, an action, a risk, the
reasons and the rule or detector that produced it, and when it expires. Many rows
can bear on one request (the account's scan verdict, its cluster's, a live rate
budget, a region rule); ``resolve`` picks one outcome by a precedence that never
depends on the order the rows arrived in:

1. the most severe action wins: block > throttle > challenge > degrade > allow;
2. among rows with that action, the most specific subject speaks for it:
   account > api_key > ip_prefix > cluster > global; then the highest risk;
3. ``degrade`` items of every live ``degrade`` row are merged when the winner is
   ``degrade`` (what to withhold is the union of what each rule asked to withhold).

Expired rows take no part. Allowlists are not a precedence rule: the policy drops
the detection-derived rows of an allowlisted subject before resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distillguard.schema import DECISION_ACTIONS, DECISION_SUBJECT_KINDS

# Index = severity / specificity: larger wins.
ACTION_SEVERITY: dict[str, int] = {"allow": 0, "degrade": 1, "challenge": 2, "throttle": 3, "block": 4}
SUBJECT_SPECIFICITY: dict[str, int] = {"global": 0, "cluster": 1, "ip_prefix": 2, "api_key": 3, "account": 4}

assert set(ACTION_SEVERITY) == set(DECISION_ACTIONS)
assert set(SUBJECT_SPECIFICITY) == set(DECISION_SUBJECT_KINDS)


class DecisionError(ValueError):
    """A decision row with an unknown action or subject kind."""


@dataclass(frozen=True)
class Decision:
    """One row of the DECISIONS table: what to do about one subject, and why."""

    subject_kind: str
    subject_id: str
    action: str
    risk: float = 0.0
    reasons: tuple[str, ...] = ()
    source: str = ""
    expires_at: datetime | None = None
    # What ``degrade`` withholds (policy items such as "reasoning", "logprobs",
    # "max_tokens:1024"); empty for other actions. Not a DECISIONS column: the
    # reasons carry it for the audit trail.
    degrade: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ACTION_SEVERITY:
            raise DecisionError(f"unknown action {self.action!r} (one of {', '.join(DECISION_ACTIONS)})")
        if self.subject_kind not in SUBJECT_SPECIFICITY:
            raise DecisionError(
                f"unknown subject kind {self.subject_kind!r} (one of {', '.join(DECISION_SUBJECT_KINDS)})"
            )

    def live_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def to_row(self) -> dict[str, Any]:
        """A dict in the DECISIONS schema's column order."""
        reasons = list(self.reasons)
        if self.degrade:
            reasons.append("degrade: " + ", ".join(self.degrade))
        return {
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
            "action": self.action,
            "risk": float(self.risk),
            "reasons": reasons,
            "source": self.source,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Decision:
        reasons = [str(r) for r in (row.get("reasons") or [])]
        degrade: tuple[str, ...] = ()
        kept = []
        for reason in reasons:
            if reason.startswith("degrade: "):
                items = reason[len("degrade: ") :].split(",")
                degrade = tuple(item.strip() for item in items if item.strip())
            else:
                kept.append(reason)
        return cls(
            subject_kind=str(row["subject_kind"]),
            subject_id=str(row["subject_id"]),
            action=str(row["action"]),
            risk=float(row.get("risk") or 0.0),
            reasons=tuple(kept),
            source=str(row.get("source") or ""),
            expires_at=row.get("expires_at"),
            degrade=degrade,
        )


def _rank(decision: Decision) -> tuple[int, int, float]:
    return (
        ACTION_SEVERITY[decision.action],
        SUBJECT_SPECIFICITY[decision.subject_kind],
        decision.risk,
    )


@dataclass(frozen=True)
class Resolution:
    """The one outcome for a request, with every row that bore on it."""

    action: str
    risk: float
    reasons: tuple[str, ...]
    source: str
    subject_kind: str
    subject_id: str
    degrade: tuple[str, ...] = ()
    considered: tuple[Decision, ...] = field(default=())


ALLOW_BY_DEFAULT = Resolution(
    action="allow",
    risk=0.0,
    reasons=("no decision applies",),
    source="default",
    subject_kind="global",
    subject_id="*",
)


def resolve(decisions: Iterable[Decision], *, now: datetime) -> Resolution:
    """One outcome from many rows, by the precedence in the module docstring."""
    live = sorted((d for d in decisions if d.live_at(now)), key=_rank, reverse=True)
    if not live:
        return ALLOW_BY_DEFAULT
    winner = live[0]
    same_action = [d for d in live if d.action == winner.action]
    reasons: list[str] = []
    for decision in same_action:
        for reason in decision.reasons:
            if reason not in reasons:
                reasons.append(reason)
    degrade: tuple[str, ...] = ()
    if winner.action == "degrade":
        merged: list[str] = []
        for decision in same_action:
            merged += [item for item in decision.degrade if item not in merged]
        degrade = tuple(merged)
    return Resolution(
        action=winner.action,
        risk=max(d.risk for d in live),
        reasons=tuple(reasons),
        source=winner.source,
        subject_kind=winner.subject_kind,
        subject_id=winner.subject_id,
        degrade=degrade,
        considered=tuple(live),
    )
