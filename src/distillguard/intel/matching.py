"""Partner indicators against our own accounts: batch (warehouse) and live.

Only *active* indicators match: not revoked, inside [valid_from, valid_until).
Values arrive in three forms and each is brought to something we hold:

* ``community-hmac``: we hash our own distinct values (ASNs, SDK and user-agent
  strings, payment fingerprints, e-mail domains) under the community key and
  join; IP prefixes only when ingest stored ``ip_prefix_community_hash``;
* ``raw`` (ASNs, IP prefixes a partner chose to share raw): ASNs join directly,
  prefixes are hashed under our *local* key to meet ``events.ip_prefix_hash``;
* ``minhash-community``: template signatures, compared with ours (also keyed
  under the community key) by LSH banding, then the Jaccard estimate.

The result replaces table ``partner_matches`` (schema.PARTNER_MATCHES), which the
scoring pipeline reads as evidence, and ``PartnerIndex`` answers the same question
for one live request in the decision service.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from distillguard.config import Config, deployment_secret
from distillguard.fingerprints import IncompatibleFingerprint, ip_prefix, jaccard_estimate, keyed_hash
from distillguard.intel.privacy import (
    community_hash,
    community_key,
    community_minhash,
    parse_community_minhash,
)
from distillguard.schema import DECISIONS, PARTNER_MATCHES, TABLES
from distillguard.warehouse import Warehouse

LSH_BANDS = 16  # 16 bands x 4 rows: pairs at Jaccard 0.6 become candidates with p ~ 0.9
_IDENT_SOURCES = {
    "asn": ("events", "asn"),
    "sdk": ("events", "sdk_fingerprint"),
    "user_agent": ("events", "user_agent"),
    "payment": ("accounts", "payment_fingerprint"),
    "email_domain": ("accounts", "email_domain"),
}
_LABELS = {
    "asn": "proxy ASN",
    "ip_prefix": "proxy IP prefix",
    "sdk": "SDK fingerprint",
    "user_agent": "user-agent fingerprint",
    "payment": "payment fingerprint",
    "email_domain": "sign-up e-mail domain",
    "template": "prompt-template family",
}


@dataclass(frozen=True)
class ActiveIndicator:
    indicator_id: str
    partner: str
    partner_campaign: str
    kind: str
    value_form: str
    value: str
    confidence: float
    valid_until: datetime | None

    def reason(self) -> str:
        return (
            f"{_LABELS.get(self.kind, self.kind)} seen at partner {self.partner} "
            f"as part of campaign {self.partner_campaign}"
        )


@dataclass
class MatchReport:
    indicators: int
    matches: int
    accounts: int
    by_kind: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def active_indicators(warehouse: Warehouse, *, now: datetime | None = None) -> list[ActiveIndicator]:
    warehouse.ensure_table("partner_indicators", TABLES["partner_indicators"])
    moment = now or datetime.now(UTC)
    rows = warehouse.engine.to_arrow(
        """
        SELECT indicator_id, partner, partner_campaign, indicator_kind, value_form, value, confidence,
               valid_until
        FROM partner_indicators
        WHERE NOT coalesce(revoked, false)
          AND (valid_from IS NULL OR valid_from <= ?)
          AND (valid_until IS NULL OR valid_until > ?)
        """,
        [moment, moment],
    ).to_pylist()
    return [
        ActiveIndicator(
            str(r["indicator_id"]),
            str(r["partner"] or "unknown"),
            str(r["partner_campaign"] or "unnamed"),
            str(r["indicator_kind"]),
            str(r["value_form"]),
            str(r["value"]),
            float(r["confidence"] if r["confidence"] is not None else 0.5),
            r["valid_until"],
        )
        for r in rows
    ]


def _prefixes_of(network_text: str, limit: int = 256) -> list[str]:
    """The /24 (v4) or /48 (v6) prefixes a partner's network covers (our hashing unit)."""
    try:
        net = ipaddress.ip_network(network_text, strict=False)
    except ValueError:
        return []
    unit = 24 if net.version == 4 else 48
    if net.prefixlen >= unit:
        single = ip_prefix(str(net.network_address))
        return [single] if single else []
    if 2 ** (unit - net.prefixlen) > limit:
        return []
    return [str(sub) for sub in net.subnets(new_prefix=unit)]


def match_warehouse(warehouse: Warehouse, config: Config, *, now: datetime | None = None) -> MatchReport:
    """Match active partner indicators; replaces table ``partner_matches``."""
    indicators = active_indicators(warehouse, now=now)
    report = MatchReport(indicators=len(indicators), matches=0, accounts=0)
    hits: dict[tuple[str, str], ActiveIndicator] = {}
    if indicators:
        key = community_key(config)
        local_secret = deployment_secret(config)
        for account_id, ind in _identifier_hits(warehouse, indicators, key, local_secret, report.notes):
            hits.setdefault((account_id, ind.indicator_id), ind)
        for account_id, ind in _template_hits(warehouse, config, indicators, key, report.notes):
            hits.setdefault((account_id, ind.indicator_id), ind)
    rows = [
        {
            "account_id": account_id,
            "indicator_id": ind.indicator_id,
            "partner": ind.partner,
            "partner_campaign": ind.partner_campaign,
            "indicator_kind": ind.kind,
            "confidence": ind.confidence,
            "reason": ind.reason(),
            "valid_until": ind.valid_until,
        }
        for (account_id, _), ind in sorted(hits.items())
    ]
    warehouse.replace_table("partner_matches", pa.Table.from_pylist(rows, schema=PARTNER_MATCHES))
    report.matches = len(rows)
    report.accounts = len({r["account_id"] for r in rows})
    for r in rows:
        report.by_kind[str(r["indicator_kind"])] = report.by_kind.get(str(r["indicator_kind"]), 0) + 1
    return report


def _distinct(warehouse: Warehouse, table: str, column: str) -> list[str]:
    if not warehouse.engine.exists(table):
        return []
    sql = f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"
    return [str(v) for v in warehouse.engine.to_arrow(sql).column(0).to_pylist()]


def _identifier_hits(
    warehouse: Warehouse,
    indicators: Sequence[ActiveIndicator],
    key: bytes,
    local_secret: bytes,
    notes: list[str],
) -> list[tuple[str, ActiveIndicator]]:
    """(account, indicator) for every exact identifier match, joined in SQL."""
    # (source table, column, local value) per indicator id, built in Python, joined in SQL.
    wanted: dict[tuple[str, str], list[ActiveIndicator]] = defaultdict(list)
    for ind in indicators:
        if ind.kind in _IDENT_SOURCES and ind.value_form == "community-hmac":
            wanted[(ind.kind, ind.value)].append(ind)
        elif ind.kind == "asn" and ind.value_form == "raw":
            wanted[("asn", community_hash(key, "asn", ind.value))].append(ind)
        elif ind.kind == "ip_prefix" and ind.value_form == "raw":
            for prefix in _prefixes_of(ind.value):
                wanted[("ip_prefix_local", keyed_hash(local_secret, prefix, purpose="ip-prefix"))].append(ind)
        elif ind.kind == "ip_prefix" and ind.value_form == "community-hmac":
            wanted[("ip_prefix_community", ind.value)].append(ind)
    if not wanted:
        return []
    lookup: list[dict[str, str]] = []
    for kind, (table, column) in _IDENT_SOURCES.items():
        if not any(k == kind for k, _ in wanted):
            continue
        for local in _distinct(warehouse, table, column):
            hashed = community_hash(key, kind, local)
            if (kind, hashed) in wanted:
                lookup.append({"source": f"{table}.{column}", "local": local, "kind": kind, "value": hashed})
    for (kind, value), _inds in wanted.items():
        if kind == "ip_prefix_local":
            lookup.append({"source": "events.ip_prefix_hash", "local": value, "kind": kind, "value": value})
        elif kind == "ip_prefix_community":
            lookup.append(
                {"source": "events.ip_prefix_community_hash", "local": value, "kind": kind, "value": value}
            )
    if any(k == "ip_prefix_community" for k, _ in wanted) and not _has_column(
        warehouse, "events", "ip_prefix_community_hash"
    ):
        notes.append("partner IP-prefix hashes not matchable: events lack ip_prefix_community_hash")
    out: list[tuple[str, ActiveIndicator]] = []
    for source in sorted({row["source"] for row in lookup}):
        table, column = source.split(".")
        if not _has_column(warehouse, table, column):
            continue
        values = [row for row in lookup if row["source"] == source]
        warehouse.engine.register("_intel_lookup", pa.Table.from_pylist(values))
        try:
            pairs = warehouse.engine.to_arrow(
                f"""
                SELECT DISTINCT t.account_id, l.kind, l.value
                FROM {table} t JOIN _intel_lookup l ON t.{column} = l.local
                """
            ).to_pylist()
        finally:
            warehouse.engine.unregister("_intel_lookup")
        for pair in pairs:
            for ind in wanted[(str(pair["kind"]), str(pair["value"]))]:
                out.append((str(pair["account_id"]), ind))
    return out


def _has_column(warehouse: Warehouse, table: str, column: str) -> bool:
    found = warehouse.engine.scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column],
    )
    return bool(found)


class TemplateIndex:
    """LSH over community-keyed MinHash signatures: candidates by band, then Jaccard."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.buckets: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
        self.signatures: list[list[int]] = []
        self.payloads: list[ActiveIndicator] = []

    def add(self, signature: list[int], payload: ActiveIndicator) -> None:
        idx = len(self.signatures)
        self.signatures.append(signature)
        self.payloads.append(payload)
        for band in self._bands(signature):
            self.buckets[band].append(idx)

    @staticmethod
    def _bands(signature: Sequence[int]) -> list[tuple[int, tuple[int, ...]]]:
        rows = max(1, len(signature) // LSH_BANDS)
        return [(b, tuple(signature[b * rows : (b + 1) * rows])) for b in range(LSH_BANDS)]

    def query(self, signature: Sequence[int]) -> list[ActiveIndicator]:
        candidates = {i for band in self._bands(signature) for i in self.buckets.get(band, [])}
        return [
            self.payloads[i]
            for i in sorted(candidates)
            if jaccard_estimate(self.signatures[i], signature) >= self.threshold
        ]

    def __len__(self) -> int:
        return len(self.signatures)


def _template_index(
    indicators: Sequence[ActiveIndicator], threshold: float, notes: list[str]
) -> TemplateIndex:
    index = TemplateIndex(threshold)
    refused = 0
    for ind in indicators:
        if ind.kind != "template":
            continue
        try:
            index.add(parse_community_minhash(ind.value), ind)
        except IncompatibleFingerprint:
            refused += 1
    if refused:
        notes.append(f"{refused} partner template fingerprint(s) of another fingerprint version refused")
    return index


def _template_hits(
    warehouse: Warehouse,
    config: Config,
    indicators: Sequence[ActiveIndicator],
    key: bytes,
    notes: list[str],
) -> list[tuple[str, ActiveIndicator]]:
    index = _template_index(indicators, float(config.intel_template_match_jaccard), notes)
    if not len(index) or not warehouse.engine.exists("events"):
        return []
    from distillguard.fingerprints import FINGERPRINT_VERSION

    rows = warehouse.engine.to_arrow(
        """
        SELECT skeleton_hash, any_value(prompt_minhash) AS signature, list(DISTINCT account_id) AS accounts
        FROM events
        WHERE prompt_minhash IS NOT NULL AND coalesce(fingerprint_version, ?) = ?
        GROUP BY skeleton_hash
        """,
        [FINGERPRINT_VERSION, FINGERPRINT_VERSION],
    ).to_pylist()
    out: list[tuple[str, ActiveIndicator]] = []
    for row in rows:
        for ind in index.query(community_minhash(key, row["signature"])):
            out.extend((str(account), ind) for account in row["accounts"])
    return out


# ------------------------------------------------------------------ live state
# One weak identifier (an ASN, an SDK build, an e-mail domain) is also used by some
# ordinary customers; alone it is evidence for scoring, not grounds to act. A payment
# instrument or a prompt-template family is specific enough, and so are two kinds.
DECISIVE_KINDS = frozenset({"payment", "template"})


def decisive(kinds: set[str]) -> bool:
    """Whether partner matches of these kinds justify acting on an account by themselves."""
    return bool(kinds & DECISIVE_KINDS) or len(kinds) >= 2


def load_partner_matches(warehouse: Warehouse) -> pa.Table:
    """The current ``partner_matches`` (empty table with the schema when none)."""
    if not warehouse.engine.exists("partner_matches"):
        return PARTNER_MATCHES.empty_table()
    return warehouse.engine.to_arrow("SELECT * FROM partner_matches")


def partner_decisions(warehouse: Warehouse, *, action: str = "challenge") -> pa.Table:
    """DECISIONS rows for decisively matched accounts (``challenge``: partner intel is not proof)."""
    matches = load_partner_matches(warehouse).to_pylist()
    grouped: dict[str, list[dict[str, object]]] = defaultdict(list)
    for m in matches:
        grouped[str(m["account_id"])].append(m)
    rows = []
    for account_id, items in sorted(grouped.items()):
        if not decisive({str(i["indicator_kind"]) for i in items}):
            continue  # stays evidence in partner_matches for scoring
        until = [i["valid_until"] for i in items if i["valid_until"] is not None]
        rows.append(
            {
                "subject_kind": "account",
                "subject_id": account_id,
                "action": action,
                "risk": max(float(str(i["confidence"] or 0)) for i in items),
                "reasons": sorted({str(i["reason"]) for i in items}),
                "source": "intel.partner_match",
                "expires_at": max(until) if until else None,  # type: ignore[type-var]
            }
        )
    return pa.Table.from_pylist(rows, schema=DECISIONS)


class PartnerIndex:
    """Partner indicators in memory, for checking one live request in microseconds."""

    def __init__(self, indicators: Sequence[ActiveIndicator], config: Config) -> None:
        self.key = community_key(config)
        self.local_secret = deployment_secret(config)
        self.notes: list[str] = []
        self.exact: dict[tuple[str, str], list[ActiveIndicator]] = defaultdict(list)
        for ind in indicators:
            if ind.kind == "ip_prefix" and ind.value_form == "raw":
                for prefix in _prefixes_of(ind.value):
                    local = keyed_hash(self.local_secret, prefix, purpose="ip-prefix")
                    self.exact[("ip_prefix_hash", local)].append(ind)
            elif ind.kind == "asn" and ind.value_form == "raw":
                self.exact[("asn", community_hash(self.key, "asn", ind.value))].append(ind)
            elif ind.kind != "template":
                self.exact[(ind.kind, ind.value)].append(ind)
        self.templates = _template_index(indicators, float(config.intel_template_match_jaccard), self.notes)

    @classmethod
    def from_warehouse(
        cls, warehouse: Warehouse, config: Config, *, now: datetime | None = None
    ) -> PartnerIndex:
        return cls(active_indicators(warehouse, now=now), config)

    def check(
        self,
        *,
        ip_prefix_hash: str | None = None,
        asn: str | None = None,
        sdk: str | None = None,
        user_agent: str | None = None,
        payment: str | None = None,
        email_domain: str | None = None,
        prompt_minhash: Sequence[int] | None = None,
    ) -> list[ActiveIndicator]:
        """Partner indicators this request's attributes match (raw local values in)."""
        found: list[ActiveIndicator] = []
        if ip_prefix_hash:
            found += self.exact.get(("ip_prefix_hash", ip_prefix_hash), [])
        for kind, value in (
            ("asn", asn),
            ("sdk", sdk),
            ("user_agent", user_agent),
            ("payment", payment),
            ("email_domain", email_domain),
        ):
            if value:
                found += self.exact.get((kind, community_hash(self.key, kind, value)), [])
        if prompt_minhash is not None and len(self.templates):
            found += self.templates.query(community_minhash(self.key, prompt_minhash))
        return found
