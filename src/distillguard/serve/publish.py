"""What a scan hands the decision service: decision rows for flagged subjects.

``verdict_snapshot`` reads the scan's output tables and turns them into DECISIONS
rows, each with the scan's own reasons and an expiry (``serve_verdict_ttl_hours``):

- ``scan.account``: accounts at ``watch`` or ``extraction``;
- ``scan.cluster``: clusters at ``watch`` or ``extraction``. Their *flagged* members are the
  snapshot's memberships, so those members' new requests find the cluster's row and count
  towards its budget. A member the scan judged ``ok`` on its own evidence (scoring gives a
  member with a history of its own nothing from a cluster it only brushes) is not a
  membership: acting on it through the cluster would ban a customer the scan cleared;
- ``scan.api_key``: keys whose users are (nearly) all flagged accounts;
- ``scan.ip_prefix``: prefixes whose distinct accounts are overwhelmingly flagged
  (at least ``PREFIX_MIN_FLAGGED`` of them and ``PREFIX_MIN_SHARE`` of all). A
  campus or carrier NAT range carries a few flagged accounts among many ordinary
  ones and is never published: acting on it would hit all of them;
- ``intel.partner_match``: accounts decisively matched to partner intel.

The actions here follow the verdict (extraction -> block, watch -> challenge); the
service's policy re-prices every ``scan.*`` row by its own risk thresholds.

``push_verdicts`` is ``distillguard scan --publish TARGET``: ``redis://`` writes
the snapshot where every replica loads it; ``http(s)://`` asks a running service
to reload from the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from distillguard.config import Config
from distillguard.decisions.facts import AccountRecord
from distillguard.decisions.model import Decision
from distillguard.serve.state import StateError, StateStore
from distillguard.warehouse import Warehouse

FLAGGED = ("watch", "extraction")
ACTION_FOR_VERDICT = {"extraction": "block", "watch": "challenge"}
MAX_REASONS = 4  # the scan's strongest reasons; the report has the rest
PREFIX_MIN_FLAGGED = 3
PREFIX_MIN_SHARE = 0.9
KEY_MIN_SHARE = 0.9
REDIS_SCHEMES = ("redis", "rediss", "unix")
HTTP_SCHEMES = ("http", "https")


class PublishError(RuntimeError):
    """Publishing failed; the message is one line naming the target and the cause."""


@dataclass(frozen=True)
class VerdictSnapshot:
    decisions: list[Decision]
    accounts: list[AccountRecord]
    memberships: dict[str, str]
    generation: str


def verdict_snapshot(warehouse: Warehouse, config: Config, *, now: datetime | None = None) -> VerdictSnapshot:
    """Decision rows, account records and cluster memberships from the last scan's tables."""
    now = now or datetime.now(UTC)
    expires = now + timedelta(hours=float(config.serve_verdict_ttl_hours))
    engine = warehouse.engine
    decisions: list[Decision] = []
    memberships: dict[str, str] = {}
    if engine.exists("account_scores"):
        decisions += _accounts(warehouse, expires)
        if engine.exists("clusters"):
            clustered, memberships = _clusters(warehouse, expires)
            decisions += clustered
        if engine.exists("events"):
            decisions += _api_keys(warehouse, expires)
            decisions += _ip_prefixes(warehouse, expires)
    decisions += _partner(warehouse, expires)
    accounts = _account_records(warehouse)
    return VerdictSnapshot(decisions, accounts, memberships, _generation(now, decisions, memberships))


def publish(snapshot: VerdictSnapshot, state: StateStore) -> int:
    """Replace the state's subjects with the snapshot; the number of decision rows stored."""
    return state.replace_subjects(
        snapshot.decisions,
        accounts=snapshot.accounts,
        memberships=snapshot.memberships,
        generation=snapshot.generation,
    )


# ------------------------------------------------------------------------ sources
def _rows(warehouse: Warehouse, sql: str) -> list[dict[str, Any]]:
    return list(warehouse.engine.to_arrow(sql).to_pylist())


def _reasons(scan_reasons: Iterable[str] | None, fallback: str) -> tuple[str, ...]:
    kept = tuple(str(r) for r in (scan_reasons or ()) if r)[:MAX_REASONS]
    return kept or (fallback,)


def _accounts(warehouse: Warehouse, expires: datetime) -> list[Decision]:
    rows = _rows(
        warehouse,
        "SELECT account_id, risk, verdict, events, reasons FROM account_scores "
        "WHERE verdict IN ('watch', 'extraction') ORDER BY account_id",
    )
    return [
        Decision(
            "account",
            r["account_id"],
            ACTION_FOR_VERDICT[r["verdict"]],
            round(float(r["risk"]), 4),
            _reasons(
                r["reasons"],
                f"scan verdict {r['verdict']} at risk {r['risk']:.2f} over {r['events'] or 0} events",
            ),
            "scan.account",
            expires,
        )
        for r in rows
    ]


def _clusters(warehouse: Warehouse, expires: datetime) -> tuple[list[Decision], dict[str, str]]:
    rows = _rows(
        warehouse,
        "SELECT cluster_id, accounts, events, risk, verdict, top_indicators FROM clusters "
        "WHERE verdict IN ('watch', 'extraction') ORDER BY cluster_id",
    )
    decisions = [
        Decision(
            "cluster",
            r["cluster_id"],
            ACTION_FOR_VERDICT[r["verdict"]],
            round(float(r["risk"] or 0.0), 4),
            (
                f"cluster of {r['accounts'] or 0} accounts and {r['events'] or 0} events "
                f"at verdict {r['verdict']} (risk {float(r['risk'] or 0):.2f})",
                *(f"cluster.shared: {text}" for text in (r["top_indicators"] or [])[: MAX_REASONS - 1]),
            ),
            "scan.cluster",
            expires,
        )
        for r in rows
    ]
    members = _rows(
        warehouse,
        "SELECT s.account_id, s.cluster_id FROM account_scores s "
        "JOIN clusters c USING (cluster_id) "
        "WHERE c.verdict IN ('watch', 'extraction') AND s.verdict IN ('watch', 'extraction')",
    )
    return decisions, {m["account_id"]: m["cluster_id"] for m in members}


# Per key or prefix: distinct accounts, how many of them the scan flagged, and how strongly.
_SHARED_SQL = """
WITH flagged AS (
    SELECT account_id, risk, verdict FROM account_scores WHERE verdict IN ('watch', 'extraction')
),
touched AS (  -- only subjects a flagged account used: the rest cannot qualify
    SELECT DISTINCT e.{column} AS subject
    FROM events e JOIN flagged f USING (account_id)
    WHERE e.{column} IS NOT NULL
),
users AS (
    SELECT DISTINCT e.{column} AS subject, e.account_id
    FROM events e JOIN touched t ON e.{column} = t.subject
)
SELECT u.subject,
       count(*) AS accounts,
       count(f.account_id) AS flagged,
       count(*) FILTER (WHERE f.verdict = 'extraction') AS extraction,
       avg(f.risk) AS mean_risk
FROM users u LEFT JOIN flagged f USING (account_id)
GROUP BY u.subject
HAVING count(f.account_id) >= {min_flagged} AND count(f.account_id) >= {min_share} * count(*)
ORDER BY u.subject
"""


def _shared(warehouse: Warehouse, column: str, *, min_flagged: int, min_share: float) -> list[dict[str, Any]]:
    return _rows(warehouse, _SHARED_SQL.format(column=column, min_flagged=min_flagged, min_share=min_share))


def _action(row: dict[str, Any]) -> str:
    return "block" if row["extraction"] >= max(1, row["flagged"] // 2) else "challenge"


def _api_keys(warehouse: Warehouse, expires: datetime) -> list[Decision]:
    # One account per key is normal, so one flagged user is enough; a key shared with
    # unflagged accounts (a team's key) is left to the account rows.
    rows = _shared(warehouse, "api_key_hash", min_flagged=1, min_share=KEY_MIN_SHARE)
    return [
        Decision(
            "api_key",
            r["subject"],
            _action(r),
            round(float(r["mean_risk"]), 4),
            (
                f"API key used by {r['accounts']} account(s), {r['flagged']} flagged by the scan "
                f"({r['extraction']} at extraction, mean risk {r['mean_risk']:.2f})",
            ),
            "scan.api_key",
            expires,
        )
        for r in rows
    ]


_KEY_OWNERS_SQL = """
SELECT api_key_hash AS key_hash, min(account_id) AS account_id
FROM events
WHERE api_key_hash IS NOT NULL AND account_id IS NOT NULL
GROUP BY api_key_hash
HAVING count(DISTINCT account_id) = 1
"""


def key_owners(warehouse: Warehouse) -> dict[str, str]:
    """Keyed API-key hash -> the one account the logs saw use it.

    ``/v1/auth`` derives the account from the client's own key through this map; a key that
    several accounts share (a team key) or that the logs never saw is its own subject
    (``key:<hash>``) instead, so no client can choose whose name it is checked under.
    """
    if not warehouse.engine.exists("events"):
        return {}
    return {r["key_hash"]: r["account_id"] for r in _rows(warehouse, _KEY_OWNERS_SQL)}


def _ip_prefixes(warehouse: Warehouse, expires: datetime) -> list[Decision]:
    rows = _shared(warehouse, "ip_prefix_hash", min_flagged=PREFIX_MIN_FLAGGED, min_share=PREFIX_MIN_SHARE)
    return [
        Decision(
            "ip_prefix",
            r["subject"],
            _action(r),
            round(float(r["mean_risk"]) * r["flagged"] / r["accounts"], 4),
            (
                f"IP prefix used by {r['accounts']} accounts, {r['flagged']} of them "
                f"({r['flagged'] / r['accounts']:.0%}) flagged by the scan "
                f"({r['extraction']} at extraction, mean risk {r['mean_risk']:.2f})",
            ),
            "scan.ip_prefix",
            expires,
        )
        for r in rows
    ]


def _partner(warehouse: Warehouse, expires: datetime) -> list[Decision]:
    from distillguard.intel.matching import partner_decisions

    found = []
    for row in partner_decisions(warehouse).to_pylist():
        decision = Decision.from_row(row)
        if decision.expires_at is None or decision.expires_at > expires:
            decision = Decision.from_row({**row, "expires_at": expires})
        found.append(decision)
    return found


def _account_records(warehouse: Warehouse) -> list[AccountRecord]:
    rows = _rows(warehouse, "SELECT account_id, plan, verification, country, created_at FROM accounts")
    return [
        AccountRecord(r["account_id"], r["plan"], r["verification"], r["country"], r["created_at"])
        for r in rows
    ]


def _generation(now: datetime, decisions: list[Decision], memberships: dict[str, str]) -> str:
    """When, plus a digest of what: equal content published twice has the same digest."""
    digest = hashlib.sha256()
    for d in decisions:
        digest.update(f"{d.subject_kind}\0{d.subject_id}\0{d.action}\0{d.risk}\0{d.source}\n".encode())
    digest.update(json.dumps(sorted(memberships.items())).encode())
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:10]}"


# ------------------------------------------------------------------- --publish
def target_scheme(target: str) -> str:
    """The target's scheme, checked before a scan starts (a typo should not cost a scan)."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme not in (*REDIS_SCHEMES, *HTTP_SCHEMES):
        raise ValueError(
            f"--publish {target!r}: expected redis://host:port/db (shared state) "
            "or http(s)://host:port (a running distillguard serve)"
        )
    return scheme


def push_verdicts(
    target: str, config: Config, snapshot: VerdictSnapshot | None = None, *, timeout_s: float = 300.0
) -> str:
    """Publish to ``target``; returns a one-line summary or raises PublishError.

    A Redis target needs the ``snapshot``; an HTTP target needs none (the service
    re-reads the warehouse, so call this after the scan has closed it).
    """
    scheme = target_scheme(target)
    if scheme in REDIS_SCHEMES:
        if snapshot is None:
            raise PublishError("no snapshot to publish to Redis")
        return _push_redis(target, config, snapshot)
    return _push_http(target, config, timeout_s)


def _push_redis(target: str, config: Config, snapshot: VerdictSnapshot) -> str:
    from distillguard.serve.redis_state import RedisState, safe_url

    state = RedisState(target, timeout_ms=int(config.serve_redis_timeout_ms), sync=False)
    try:
        stored = publish(snapshot, state)
    except StateError as exc:
        raise PublishError(str(exc)) from None
    finally:
        state.close()
    return f"published {stored:,} decision rows to {safe_url(target)} (generation {snapshot.generation})"


def _push_http(target: str, config: Config, timeout_s: float) -> str:
    url = target.rstrip("/") + "/v1/admin/reload"
    headers = {"Content-Type": "application/json"}
    if config.serve_admin_token:
        headers["Authorization"] = f"Bearer {config.serve_admin_token}"
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read().decode("utf-8", "replace").split())[:200]
        raise PublishError(
            f"{url}: HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PublishError(f"{url}: {reason}") from None
    try:
        answer = json.loads(body)
        return (
            f"{target} reloaded {int(answer['subjects']):,} decision rows (generation {answer['generation']})"
        )
    except (ValueError, KeyError, TypeError):
        return f"{target} reloaded the verdicts"
