"""Request facts for policy tests: an ordinary request unless a test says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from distillguard.decisions.facts import AccountRecord, LiveCounters, RequestFacts
from distillguard.decisions.model import Decision

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
NO_RECORD = AccountRecord("<none>")  # marker: the state store has no record of the account


def account(
    account_id: str = "acct-1",
    *,
    plan: str = "paygo",
    verification: str = "phone",
    country: str = "US",
    age_days: float = 200,
) -> AccountRecord:
    return AccountRecord(account_id, plan, verification, country, NOW - timedelta(days=age_days))


def facts(
    account_id: str = "acct-1",
    *,
    record: AccountRecord | None = None,
    counters: LiveCounters | None = None,
    known: tuple[Decision, ...] = (),
    **more: Any,
) -> RequestFacts:
    fields: dict[str, Any] = {
        "now": NOW,
        "account_id": account_id,
        "account": None if record is NO_RECORD else (record or account(account_id)),
        "ip_prefix_hash": "prefix-1",
        "client_ip": "198.51.100.23",
        "counters": counters
        or LiveCounters(account_requests_1m=1, account_requests_1h=12, prefix_requests_1m=3),
        "known": known,
    }
    fields.update(more)
    return RequestFacts(**fields)


def verdict(
    kind: str,
    subject_id: str,
    risk: float,
    *,
    source: str | None = None,
    reasons: tuple[str, ...] = ("shares a prompt template with 41 other accounts",),
) -> Decision:
    """A scan verdict as the state store holds it (the scan publishes its own action)."""
    action = "block" if risk >= 0.8 else "challenge"
    return Decision(
        kind, subject_id, action, risk, reasons, source or f"scan.{kind}", NOW + timedelta(hours=24)
    )
