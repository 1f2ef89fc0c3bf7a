"""Indicators worth sharing, computed from the detection output in the warehouse.

A *group* is a campaign, or a flagged cluster that belongs to no campaign. For
each group we collect what a partner could use to recognise the same operation
on its own platform, already in its shareable form (see ``privacy``):

* infrastructure: ASNs, and IP prefixes when the events carry a community-keyed
  prefix hash (the warehouse stores only *locally* keyed prefixes, which no
  partner can match; see docs/intel.md);
* payment fingerprints, e-mail domains, SDK and user-agent fingerprints;
* prompt-template fingerprints (community-keyed MinHash of skeletons seen across
  at least k accounts);
* elicitation techniques, capability focus, sign-up pattern and timeline, which
  are aggregate statistics and travel in the campaign's extension properties.

An identifier is only shared when it is *specific* to the group: most of the
accounts that use it belong to the group (``MIN_EXCLUSIVITY``) and at least two
of the group's accounts use it. A shared ASN of a big cloud would otherwise make
a partner flag its ordinary customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from distillguard.engine import DuckDBEngine
from distillguard.fingerprints import skeleton, tokens
from distillguard.intel.privacy import SharePolicy, community_hash, serialise_community_minhash

MIN_EXCLUSIVITY = 0.5
# Templates collide with ordinary traffic more easily than identifiers (campaigns pad
# their traffic with ordinary-looking follow-ups), so they must be both long enough
# to be a real template and used almost only by the group.
MIN_TEMPLATE_EXCLUSIVITY = 0.8
MIN_TEMPLATE_TOKENS = 12
MIN_TEMPLATE_CHARS = 80  # when prompt text is not stored (text_storage = fingerprints-only)
MIN_ACCOUNTS_FOR_IDENTIFIER = 2
TECHNIQUE_SCORE = 0.5  # a prompt signal at or above this counts as the technique being used
TECHNIQUES = {
    "cot_elicitation": "Chain-of-thought elicitation",
    "rubric_grading": "Rubric grading / reward-model prompts",
    "censorship_rewrite": "Censorship-safe rewrites",
}
_MEMBERS = "_intel_members"


@dataclass
class Indicator:
    kind: str  # asn | ip_prefix | payment | email_domain | sdk | user_agent | template
    value_form: str  # raw | community-hmac | minhash-community
    value: str
    accounts: int
    events: int
    first_seen: datetime | None
    last_seen: datetime | None
    exclusivity: float
    confidence: int  # STIX 0-100


@dataclass
class GroupIntel:
    group_id: str  # local campaign or cluster id (never exported as is)
    group_kind: str  # campaign | cluster
    accounts: int
    events: int
    risk: float
    first_seen: datetime | None
    last_seen: datetime | None
    capability_focus: list[str] = field(default_factory=list)
    techniques: dict[str, float] = field(default_factory=dict)  # technique -> share of events
    signup_pattern: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[str, int]] = field(default_factory=list)  # (day, events)
    indicators: list[Indicator] = field(default_factory=list)


@dataclass
class IntelHarvest:
    groups: list[GroupIntel]
    notes: list[str]  # what could not be shared and why (shown by --dry-run)
    withheld_templates: int = 0


def _columns(engine: DuckDBEngine, table: str) -> set[str]:
    rows = engine.to_arrow(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).column(0)
    return {str(v) for v in rows.to_pylist()}


def _rows(engine: DuckDBEngine, sql: str, params: list[object] | None = None) -> list[dict[str, Any]]:
    return engine.to_arrow(sql, params).to_pylist()


def collect(engine: DuckDBEngine, policy: SharePolicy) -> IntelHarvest:
    """Every shareable group with its indicators (empty when nothing was detected)."""
    notes: list[str] = []
    if not engine.exists("account_scores"):
        return IntelHarvest([], ["no account_scores table: run `distillguard scan` first"])
    _build_members(engine)
    groups = _groups(engine)
    by_id = {g.group_id: g for g in groups}
    if not groups:
        return IntelHarvest([], ["no campaign or flagged cluster to share"])
    events_cols = _columns(engine, "events")
    _identifier_indicators(engine, policy, by_id, events_cols, notes)
    withheld = _template_indicators(engine, policy, by_id)
    if withheld:
        notes.append(
            f"{withheld} prompt template(s) withheld: seen across fewer than "
            f"{policy.min_accounts_for_template} accounts"
        )
    _techniques(engine, by_id)
    _signup_patterns(engine, by_id)
    _timelines(engine, by_id)
    for group in groups:
        group.indicators = _merge_duplicates(group.indicators)
    engine.drop(_MEMBERS)
    return IntelHarvest(groups, notes, withheld)


def _build_members(engine: DuckDBEngine) -> None:
    """account -> group: its campaign, else its flagged cluster."""
    engine.drop(_MEMBERS)
    engine.execute(
        f"""
        CREATE TEMP TABLE {_MEMBERS} AS
        SELECT account_id,
               CASE WHEN campaign_id IS NOT NULL THEN campaign_id ELSE cluster_id END AS group_id,
               CASE WHEN campaign_id IS NOT NULL THEN 'campaign' ELSE 'cluster' END AS group_kind
        FROM account_scores
        WHERE campaign_id IS NOT NULL OR (cluster_id IS NOT NULL AND verdict <> 'ok')
        """
    )


def _groups(engine: DuckDBEngine) -> list[GroupIntel]:
    rows = _rows(
        engine,
        f"""
        SELECT m.group_id, any_value(m.group_kind) AS group_kind,
               count(DISTINCT m.account_id) AS accounts,
               count(e.event_id) AS events,
               min(e.ts_start) AS first_seen, max(e.ts_start) AS last_seen,
               max(s.risk) AS risk
        FROM {_MEMBERS} m
        JOIN account_scores s USING (account_id)
        LEFT JOIN events e USING (account_id)
        GROUP BY m.group_id ORDER BY m.group_id
        """,
    )
    focus: dict[str, list[str]] = {}
    if engine.exists("campaigns"):
        for row in _rows(engine, "SELECT campaign_id, capability_focus, risk FROM campaigns"):
            focus[str(row["campaign_id"])] = list(row["capability_focus"] or [])
    return [
        GroupIntel(
            group_id=str(r["group_id"]),
            group_kind=str(r["group_kind"]),
            accounts=int(r["accounts"]),
            events=int(r["events"] or 0),
            risk=float(r["risk"] or 0.0),
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            capability_focus=focus.get(str(r["group_id"]), []),
        )
        for r in rows
    ]


def _confidence(risk: float, exclusivity: float, accounts: int, group_accounts: int) -> int:
    coverage = min(1.0, 2.0 * accounts / max(group_accounts, 1))
    return max(1, min(100, round(100 * risk * exclusivity * (0.5 + 0.5 * coverage))))


# (kind, source table, column) pairs; the e-mail domain and payment come from accounts.
_IDENTIFIERS = (
    ("asn", "events", "asn"),
    ("sdk", "events", "sdk_fingerprint"),
    ("user_agent", "events", "user_agent"),
    ("payment", "accounts", "payment_fingerprint"),
    ("email_domain", "accounts", "email_domain"),
)


def _identifier_indicators(
    engine: DuckDBEngine,
    policy: SharePolicy,
    by_id: dict[str, GroupIntel],
    events_cols: set[str],
    notes: list[str],
) -> None:
    specs = list(_IDENTIFIERS)
    if "ip_prefix_community_hash" in events_cols:
        specs.append(("ip_prefix", "events", "ip_prefix_community_hash"))
    else:
        notes.append(
            "IP prefixes not shared: the warehouse holds only locally keyed prefix hashes, which no "
            "partner can match (needs events.ip_prefix_community_hash computed at ingest)"
        )
    for kind, table, column in specs:
        if table == "events":
            usage = f"SELECT account_id, {column} AS value, ts_start FROM events WHERE {column} IS NOT NULL"
        else:
            usage = (
                f"SELECT a.account_id, a.{column} AS value, e.ts_start FROM accounts a "
                f"LEFT JOIN events e USING (account_id) WHERE a.{column} IS NOT NULL"
            )
        rows = _rows(
            engine,
            f"""
            WITH usage AS ({usage}),
            totals AS (SELECT value, count(DISTINCT account_id) AS all_accounts FROM usage GROUP BY value)
            SELECT m.group_id, u.value, count(DISTINCT u.account_id) AS accounts, count(u.ts_start) AS events,
                   min(u.ts_start) AS first_seen, max(u.ts_start) AS last_seen,
                   any_value(t.all_accounts) AS all_accounts
            FROM usage u JOIN {_MEMBERS} m USING (account_id) JOIN totals t USING (value)
            GROUP BY m.group_id, u.value
            HAVING count(DISTINCT u.account_id) >= {MIN_ACCOUNTS_FOR_IDENTIFIER}
            ORDER BY m.group_id, u.value
            """,
        )
        for r in rows:
            group = by_id[str(r["group_id"])]
            exclusivity = int(r["accounts"]) / max(int(r["all_accounts"]), 1)
            if exclusivity < MIN_EXCLUSIVITY:
                continue
            raw_allowed = policy.share_raw_infrastructure and kind == "asn"
            if kind == "ip_prefix":
                form, value = "community-hmac", str(r["value"])  # hashed at ingest already
            elif raw_allowed:
                form, value = "raw", str(r["value"]).upper().removeprefix("AS")
            else:
                form, value = "community-hmac", community_hash(policy.key, kind, str(r["value"]))
            group.indicators.append(
                Indicator(
                    kind=kind,
                    value_form=form,
                    value=value,
                    accounts=int(r["accounts"]),
                    events=int(r["events"]),
                    first_seen=r["first_seen"],
                    last_seen=r["last_seen"],
                    exclusivity=round(exclusivity, 3),
                    confidence=_confidence(group.risk, exclusivity, int(r["accounts"]), group.accounts),
                )
            )


def _template_indicators(engine: DuckDBEngine, policy: SharePolicy, by_id: dict[str, GroupIntel]) -> int:
    """Template fingerprints seen across >= k accounts; returns how many were withheld."""
    rows = _rows(
        engine,
        f"""
        WITH totals AS (
            SELECT skeleton_hash, count(DISTINCT account_id) AS all_accounts
            FROM events WHERE skeleton_hash IS NOT NULL GROUP BY skeleton_hash
        )
        SELECT m.group_id, e.skeleton_hash, any_value(e.prompt_minhash) AS signature,
               any_value(e.fingerprint_version) AS version,
               any_value(e.prompt_text) AS sample, avg(e.prompt_chars) AS chars,
               count(DISTINCT e.account_id) AS accounts, count(*) AS events,
               min(e.ts_start) AS first_seen, max(e.ts_start) AS last_seen,
               any_value(t.all_accounts) AS all_accounts
        FROM events e JOIN {_MEMBERS} m USING (account_id) JOIN totals t USING (skeleton_hash)
        WHERE e.prompt_minhash IS NOT NULL
        GROUP BY m.group_id, e.skeleton_hash
        ORDER BY m.group_id, events DESC
        """,
    )
    from distillguard.fingerprints import FINGERPRINT_VERSION

    withheld = 0
    for r in rows:
        accounts = int(r["accounts"])
        if accounts < policy.min_accounts_for_template:
            withheld += 1
            continue
        if r["version"] not in (None, FINGERPRINT_VERSION):
            continue  # incompatible fingerprints are refused, never compared
        if not _substantive(r["sample"], r["chars"]):
            continue  # a short follow-up ("Can you make it shorter?") is everyone's template
        group = by_id[str(r["group_id"])]
        exclusivity = accounts / max(int(r["all_accounts"]), 1)
        if exclusivity < MIN_TEMPLATE_EXCLUSIVITY:
            continue
        group.indicators.append(
            Indicator(
                kind="template",
                value_form="minhash-community",
                value=serialise_community_minhash(policy.key, r["signature"]),
                accounts=accounts,
                events=int(r["events"]),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
                exclusivity=round(exclusivity, 3),
                confidence=_confidence(group.risk, exclusivity, accounts, group.accounts),
            )
        )
    return withheld


def _substantive(sample: str | None, chars: float | None) -> bool:
    """Whether a skeleton is long enough to identify a template (the text stays local)."""
    if sample:
        return len(tokens(skeleton(sample))) >= MIN_TEMPLATE_TOKENS
    return (chars or 0) >= MIN_TEMPLATE_CHARS


def _techniques(engine: DuckDBEngine, by_id: dict[str, GroupIntel]) -> None:
    if not engine.exists("prompt_signals"):
        return
    shares = ", ".join(
        f"avg(CASE WHEN p.{name} >= {TECHNIQUE_SCORE} THEN 1.0 ELSE 0.0 END) AS {name}" for name in TECHNIQUES
    )
    for r in _rows(
        engine,
        f"""
        SELECT m.group_id, {shares}
        FROM prompt_signals p JOIN {_MEMBERS} m USING (account_id) GROUP BY m.group_id
        """,
    ):
        group = by_id[str(r["group_id"])]
        group.techniques = {name: round(float(r[name] or 0), 3) for name in TECHNIQUES if (r[name] or 0) > 0}
    for r in _rows(
        engine,
        f"""
        SELECT group_id, list(capability ORDER BY n DESC) AS focus FROM (
            SELECT m.group_id, p.capability, count(*) AS n
            FROM prompt_signals p JOIN {_MEMBERS} m USING (account_id)
            WHERE p.capability IS NOT NULL GROUP BY ALL
        ) GROUP BY group_id
        """,
    ):
        group = by_id[str(r["group_id"])]
        if not group.capability_focus:
            group.capability_focus = list(r["focus"])[:3]


def _signup_patterns(engine: DuckDBEngine, by_id: dict[str, GroupIntel]) -> None:
    """Aggregates only: distributions and rates, never an account or a domain."""
    for r in _rows(
        engine,
        f"""
        WITH first_calls AS (
            SELECT e.account_id, min(e.ts_start) AS first_event
            FROM events e JOIN {_MEMBERS} m USING (account_id) GROUP BY 1
        ),
        acc AS (
            SELECT m.group_id, a.account_id, a.created_at, a.verification, a.plan, f.first_event
            FROM accounts a JOIN {_MEMBERS} m USING (account_id) LEFT JOIN first_calls f USING (account_id)
        )
        SELECT group_id,
               histogram(verification) AS verification, histogram(plan) AS plan,
               median(date_diff('hour', created_at, first_event)) AS hours_to_first_call,
               max(per_hour) AS max_signups_per_hour
        FROM acc
        JOIN (SELECT group_id, max(n) AS per_hour FROM (
                SELECT group_id, date_trunc('hour', created_at) AS h, count(*) AS n FROM acc GROUP BY ALL
             ) GROUP BY group_id) USING (group_id)
        GROUP BY group_id
        """,
    ):
        group = by_id[str(r["group_id"])]
        group.signup_pattern = {
            "verification": {str(k): int(v) for k, v in (r["verification"] or [])},
            "plan": {str(k): int(v) for k, v in (r["plan"] or [])},
            "median_hours_to_first_call": r["hours_to_first_call"],
            "max_signups_per_hour": r["max_signups_per_hour"],
        }


def _timelines(engine: DuckDBEngine, by_id: dict[str, GroupIntel]) -> None:
    for r in _rows(
        engine,
        f"""
        SELECT m.group_id, strftime(date_trunc('day', e.ts_start), '%Y-%m-%d') AS day, count(*) AS n
        FROM events e JOIN {_MEMBERS} m USING (account_id) GROUP BY ALL ORDER BY 1, 2
        """,
    ):
        by_id[str(r["group_id"])].timeline.append((str(r["day"]), int(r["n"])))


def _merge_duplicates(indicators: list[Indicator]) -> list[Indicator]:
    """One indicator per (kind, value): distinct skeletons can share a MinHash signature."""
    merged: dict[tuple[str, str], Indicator] = {}
    for ind in indicators:
        key = (ind.kind, ind.value)
        old = merged.get(key)
        if old is None:
            merged[key] = ind
            continue
        firsts = [t for t in (old.first_seen, ind.first_seen) if t is not None]
        lasts = [t for t in (old.last_seen, ind.last_seen) if t is not None]
        merged[key] = Indicator(
            kind=ind.kind,
            value_form=ind.value_form,
            value=ind.value,
            accounts=max(old.accounts, ind.accounts),
            events=old.events + ind.events,
            first_seen=min(firsts) if firsts else None,
            last_seen=max(lasts) if lasts else None,
            exclusivity=max(old.exclusivity, ind.exclusivity),
            confidence=max(old.confidence, ind.confidence),
        )
    return list(merged.values())
