"""Reading partners' STIX bundles without trusting them.

A bundle is checked as a whole (size, JSON, a ``bundle`` with a list of objects,
not STIX 2.0) and then object by object. Every string first goes through
``wire.clean_text`` (the trust-boundary normalisation ingest and the decision
service use). An object that is too big, of another spec version, of a type we do
not know, a second copy of an id and version, with a malformed or dangling
reference, a non-finite number, a confidence outside 0-100, ``created`` or
``modified`` in the future beyond ``MAX_CLOCK_SKEW``, an indicator whose
``valid_until`` is not after its ``valid_from`` or whose pattern does not parse
(always through the STIX pattern parser, and IP values through ``ipaddress``) is
*quarantined* with its reason in ``intel_quarantine``; the rest is stored. Writes
happen in one transaction, so a failure leaves what was stored before untouched.

Partners speak only for themselves. With ``writer_identity`` (the identity bound to
the writing partner's credential), every object must be created by it
(``created_by_ref``), be that identity itself, be an SCO (no creator), or be one of
the shared community objects (TLP markings, the distillguard project's identity and
extension definition). Whoever writes, an object id already stored with another
creator is refused: only its creator may publish new versions of it (or revoke it).
To comment on another partner's indicator, a partner writes its own sighting.

Imports are idempotent: objects are keyed by (id, modified); an indicator keeps
its newest version, and once revoked it stays revoked (STIX 2.1 section 3.6).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pyarrow as pa

from distillguard.intel.extension import FINGERPRINT_SCO, PROJECT_IDENTITY_ID, read_extension
from distillguard.intel.privacy import TLP2_MARKING_IDS
from distillguard.schema import INTEL_QUARANTINE, PARTNER_INDICATORS, PARTNER_OBJECTS, TABLES
from distillguard.warehouse import Warehouse
from distillguard.wire import clean_json

SDO_TYPES = {
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
}
SRO_TYPES = {"relationship", "sighting"}
META_TYPES = {"marking-definition", "extension-definition", "language-content"}
SCO_TYPES = {
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
}
KNOWN_TYPES = SDO_TYPES | SRO_TYPES | META_TYPES | SCO_TYPES
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = re.compile(rf"^([a-z0-9][a-z0-9-]*[a-z0-9])--{_UUID}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# The pattern forms our exporter writes, recognised without the (slow) ANTLR parser.
_OUR_PATTERN = re.compile(
    rf"^\[{FINGERPRINT_SCO}:kind = '([a-z_]+)' AND {FINGERPRINT_SCO}:value = '([^'\\]*)'\]$"
)
_ASN_PATTERN = re.compile(r"^\[autonomous-system:number = (\d+)\]$")
_IP_PATTERN = re.compile(r"^\[ipv([46])-addr:value (?:=|ISSUBSET) '([0-9a-fA-F:./]+)'\]$")
# How far ahead of our clock a partner's created/modified may be: clocks on NTP agree within
# seconds; a later timestamp would let an object win every future "newest version" merge.
MAX_CLOCK_SKEW = timedelta(minutes=5)
CONFIDENCE_RANGE = (0, 100)  # STIX 2.1 section 3.2: an integer from 0 to 100


class BundleRejected(ValueError):
    """The bundle as a whole is unusable; nothing of it is stored."""


@dataclass
class Quarantined:
    object_id: str | None
    object_type: str | None
    reason: str
    excerpt: str


@dataclass
class ImportReport:
    source: str
    objects: int = 0
    stored: int = 0  # new (id, version) pairs
    unchanged: int = 0
    indicators_active: int = 0
    revoked: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.source}: {self.objects} objects, {self.stored} new, {self.unchanged} already known, "
            f"{len(self.quarantined)} quarantined, {self.revoked} revoked"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def parse_ts(text: object) -> datetime | None:
    if not isinstance(text, str) or not _TS.match(text):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_bundle(raw: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    size = len(raw)
    if size > max_bytes:
        raise BundleRejected(f"bundle is {size} bytes, over the {max_bytes}-byte limit")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleRejected(f"not JSON: {exc}") from None
    except RecursionError:
        raise BundleRejected("JSON nested too deeply") from None
    if not isinstance(data, dict) or data.get("type") not in {"bundle", None} or "objects" not in data:
        raise BundleRejected("not a STIX bundle or TAXII envelope (no 'objects' list)")
    if data.get("spec_version") is not None:
        raise BundleRejected(f"bundle declares spec_version {data['spec_version']!r}: STIX 2.0, not 2.1")
    if not isinstance(data["objects"], list):
        raise BundleRejected("'objects' is not a list")
    return data


def _refs(obj: dict[str, Any]) -> list[str | object]:
    refs: list[str | object] = []
    for key, value in obj.items():
        if key.endswith("_ref"):
            refs.append(value)
        elif key.endswith("_refs"):
            refs.extend(value if isinstance(value, list) else [value])
    return refs


def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("modified") or obj.get("created") or "")


def check_objects(
    objects: list[Any],
    *,
    max_object_bytes: int,
    known_ids: set[str],
    writer_identity: str | None = None,
    owners: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], list[Quarantined]]:
    """Split a bundle's objects into accepted and quarantined (with reasons).

    ``writer_identity``: the identity bound to the writer's credential (see the module
    docstring); ``owners``: stored object id -> its creator's identity id.
    """
    now = now or _now()
    owners = owners or {}
    bad: list[Quarantined] = []
    first_pass: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for raw in objects:
        try:
            obj = clean_json(raw)
        except RecursionError:
            bad.append(_quarantine(None, "object nested too deeply"))
            continue
        reason = _object_problem(obj, max_object_bytes, now)
        if reason is None:
            assert isinstance(obj, dict)
            reason = _ownership_problem(obj, writer_identity, owners)
        if reason is None:
            assert isinstance(obj, dict)
            key = (obj["id"], _version(obj))
            if key in seen:
                reason = "duplicate id and version in one bundle"
            seen.add(key)
        if reason:
            bad.append(_quarantine(obj, reason))
        else:
            assert isinstance(obj, dict)
            first_pass.append(obj)
    # References resolve against what this bundle carries, what was stored before,
    # and the published TLP markings; relationships and sightings need both ends.
    available = known_ids | {o["id"] for o in first_pass} | set(TLP2_MARKING_IDS.values())
    accepted: list[dict[str, Any]] = []
    for obj in first_pass:
        dangling = [r for r in _refs(obj) if isinstance(r, str) and r not in available]
        if dangling and (
            obj["type"] in SRO_TYPES or any(r.startswith("marking-definition--") for r in dangling)
        ):
            bad.append(_quarantine(obj, f"dangling reference {dangling[0]}"))
        else:
            accepted.append(obj)
    return accepted, bad


def _is_community_object(obj: dict[str, Any]) -> bool:
    """Objects every partner's bundle carries alike: TLP markings, the project identity and extension."""
    return (
        obj["id"] in TLP2_MARKING_IDS.values()
        or obj["id"] == PROJECT_IDENTITY_ID
        or (obj["type"] == "extension-definition" and obj.get("created_by_ref") == PROJECT_IDENTITY_ID)
    )


def _ownership_problem(obj: dict[str, Any], writer: str | None, owners: Mapping[str, str]) -> str | None:
    if obj["type"] in SCO_TYPES or _is_community_object(obj):
        return None
    creator = obj["id"] if obj["type"] == "identity" and obj.get("created_by_ref") is None else None
    creator = creator or obj.get("created_by_ref")
    if writer is not None and creator != writer:
        return (
            f"created_by_ref {str(creator)[:80]!r} is not the writing partner's identity {writer}: "
            "a partner may only write its own objects (or its own sighting of another's)"
        )
    owner = owners.get(obj["id"])
    if owner is not None and owner != creator:
        return f"object {obj['id']} belongs to {owner}: only its creator may write new versions or revoke it"
    return None


def _object_problem(obj: object, max_object_bytes: int, now: datetime | None = None) -> str | None:
    if not isinstance(obj, dict):
        return "not a JSON object"
    try:
        size = len(json.dumps(obj, ensure_ascii=False, allow_nan=False))
    except RecursionError:
        return "object cannot be serialised (nested too deeply)"
    except ValueError:
        return "non-finite number (NaN or Infinity) in the object"
    if size > max_object_bytes:
        return f"object is {size} bytes, over the {max_object_bytes}-byte limit"
    object_type, object_id = obj.get("type"), obj.get("id")
    if not isinstance(object_type, str) or not isinstance(object_id, str):
        return "missing type or id"
    match = _ID.match(object_id)
    if not match or match.group(1) != object_type:
        return f"id {object_id[:80]!r} is not a {object_type}--<uuid> identifier"
    if object_type not in KNOWN_TYPES:
        return f"unknown object type {object_type[:60]!r}"
    if object_type not in SCO_TYPES and obj.get("spec_version") != "2.1":
        return f"spec_version {obj.get('spec_version')!r} is not '2.1'"
    for ref in _refs(obj):
        if not isinstance(ref, str) or not _ID.match(ref):
            return f"malformed reference {str(ref)[:80]!r}"
    if object_type not in SCO_TYPES and object_type != "marking-definition":
        latest = (now or _now()) + MAX_CLOCK_SKEW
        for key in ("created", "modified"):
            stamp = parse_ts(obj.get(key))
            if stamp is None:
                return f"{key} is not a STIX timestamp"
            if stamp > latest:
                return f"{key} {obj[key]} is in the future (more than {MAX_CLOCK_SKEW} ahead of our clock)"
    if "confidence" in obj:
        confidence = obj["confidence"]
        low, high = CONFIDENCE_RANGE
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not math.isfinite(confidence)
            or not low <= confidence <= high
        ):
            return f"confidence {str(confidence)[:20]} is not a number from {low} to {high}"
    if object_type == "indicator":
        return _indicator_problem(obj)
    return None


def _indicator_problem(obj: dict[str, Any]) -> str | None:
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        return "indicator without a pattern"
    valid_from = parse_ts(obj.get("valid_from"))
    if valid_from is None:
        return "indicator valid_from is not a STIX timestamp"
    if obj.get("valid_until") is not None:
        valid_until = parse_ts(obj.get("valid_until"))
        if valid_until is None:
            return "indicator valid_until is not a STIX timestamp"
        if valid_until <= valid_from:
            return "indicator valid_until is not after valid_from"
    if obj.get("pattern_type") != "stix":
        return None  # kept, but never matched: we only evaluate STIX patterns
    problem = pattern_problem(pattern)
    if problem:
        return problem
    ip = _IP_PATTERN.match(pattern)
    if ip:
        try:
            network = ipaddress.ip_network(ip.group(2), strict=False)
        except ValueError:
            return f"pattern value {ip.group(2)[:60]!r} is not an IP address or CIDR block"
        if network.version != int(ip.group(1)):
            return f"pattern value {ip.group(2)[:60]!r} is not an IPv{ip.group(1)} address"
    return None


@lru_cache(maxsize=65_536)
def pattern_problem(pattern: str) -> str | None:
    """The STIX pattern parser's first complaint, or None. Every pattern goes through it (no
    fast path: a pattern our matcher reads by regex must still be a valid pattern)."""
    from stix2patterns.validator import run_validator

    errors = run_validator(pattern, stix_version="2.1")
    return f"pattern does not parse: {errors[0]}"[:300] if errors else None


def _quarantine(obj: object, reason: str) -> Quarantined:
    object_id = obj.get("id") if isinstance(obj, dict) else None
    object_type = obj.get("type") if isinstance(obj, dict) else None
    return Quarantined(
        object_id if isinstance(object_id, str) else None,
        object_type if isinstance(object_type, str) else None,
        reason,
        json.dumps(obj, ensure_ascii=False, default=str)[:512],
    )


# ----------------------------------------------------------------------- storing
def indicator_value(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, value_form, value) an indicator asserts, or None if we cannot match it."""
    pattern = str(obj.get("pattern", ""))
    ours = _OUR_PATTERN.match(pattern)
    if ours:
        form = str(read_extension(obj).get("value_form") or "community-hmac")
        return ours.group(1), form, ours.group(2)
    asn = _ASN_PATTERN.match(pattern)
    if asn:
        return "asn", "raw", asn.group(1)
    ip = _IP_PATTERN.match(pattern)
    if ip:
        return "ip_prefix", "raw", ip.group(2)
    return None


def _ensure(warehouse: Warehouse) -> None:
    for name in ("partner_objects", "partner_indicators", "intel_quarantine"):
        warehouse.ensure_table(name, TABLES[name])


def known_object_ids(warehouse: Warehouse) -> set[str]:
    _ensure(warehouse)
    return {
        str(v)
        for v in warehouse.engine.to_arrow("SELECT object_id FROM partner_objects").column(0).to_pylist()
    }


def object_owners(warehouse: Warehouse) -> dict[str, str]:
    """Stored object id -> the identity that created it (its own id for an identity object)."""
    _ensure(warehouse)
    rows = warehouse.engine.to_arrow(
        """
        SELECT object_id,
               coalesce(any_value(json_extract_string(body, '$.created_by_ref')),
                        CASE WHEN any_value(object_type) = 'identity' THEN object_id END) AS owner
        FROM partner_objects GROUP BY object_id
        """
    ).to_pylist()
    return {str(r["object_id"]): str(r["owner"]) for r in rows if r["owner"] is not None}


def import_bundle(
    warehouse: Warehouse,
    raw: bytes | str,
    *,
    source: str,
    partner: str | None = None,
    partner_identity: str | None = None,
    max_bundle_bytes: int = 64_000_000,
    max_object_bytes: int = 262_144,
) -> ImportReport:
    """Check, quarantine and store one bundle; raises BundleRejected for unusable ones.

    ``partner_identity``: when given, every object must be created by that identity (see
    the module docstring); either way no stored object of another creator is overwritten.
    """
    report = ImportReport(source=source)
    try:
        data = load_bundle(raw, max_bytes=max_bundle_bytes)
    except BundleRejected as exc:
        _ensure(warehouse)
        _write_quarantine(warehouse, source, [Quarantined(None, "bundle", str(exc), str(raw[:512]))])
        raise
    report.objects = len(data["objects"])
    accepted, bad = check_objects(
        data["objects"],
        max_object_bytes=max_object_bytes,
        known_ids=known_object_ids(warehouse),
        writer_identity=partner_identity,
        owners=object_owners(warehouse),
    )
    report.quarantined = bad
    store_objects(warehouse, accepted, report, source=source, partner=partner)
    return report


def store_objects(
    warehouse: Warehouse,
    accepted: list[dict[str, Any]],
    report: ImportReport,
    *,
    source: str,
    partner: str | None,
) -> None:
    """Store checked objects, their indicators and ``report.quarantined`` in one transaction."""
    _ensure(warehouse)
    engine = warehouse.engine
    names = _identity_names(warehouse, accepted)
    now = _now()
    object_rows = [
        {
            "object_id": o["id"],
            "object_type": o["type"],
            "modified": _version(o),
            "partner": partner or names.get(str(o.get("created_by_ref"))) or source,
            "source": source,
            "body": json.dumps(o, ensure_ascii=False, sort_keys=True),
        }
        for o in accepted
    ]
    indicator_rows = []
    for o in accepted:
        if o["type"] != "indicator":
            continue
        value = indicator_value(o) or ("other", "pattern", str(o.get("pattern", "")))
        confidence = o.get("confidence")
        indicator_rows.append(
            {
                "indicator_id": o["id"],
                "partner": partner or names.get(str(o.get("created_by_ref"))) or source,
                "partner_campaign": None,  # filled from 'indicates' relationships below
                "indicator_kind": value[0],
                "value_form": value[1],
                "value": value[2],
                "pattern": str(o.get("pattern")),
                "confidence": float(confidence) / 100 if isinstance(confidence, int | float) else 0.5,
                "valid_from": parse_ts(o.get("valid_from")),
                "valid_until": parse_ts(o.get("valid_until")),
                "modified": parse_ts(_version(o)),
                "revoked": bool(o.get("revoked", False)),
                "source": source,
                "imported_at": now,
            }
        )
    engine.execute("BEGIN TRANSACTION")
    try:
        before = warehouse.count("partner_objects")
        _upsert_objects(warehouse, pa.Table.from_pylist(object_rows, schema=PARTNER_OBJECTS))
        report.stored = warehouse.count("partner_objects") - before
        report.unchanged = len(object_rows) - report.stored
        _upsert_indicators(warehouse, pa.Table.from_pylist(indicator_rows, schema=PARTNER_INDICATORS))
        _link_campaigns(warehouse)
        _write_quarantine(warehouse, source, report.quarantined)
        engine.execute("COMMIT")
    except Exception:
        engine.execute("ROLLBACK")
        raise
    report.revoked = sum(1 for r in indicator_rows if r["revoked"])
    report.indicators_active = len(indicator_rows) - report.revoked


def _upsert_objects(warehouse: Warehouse, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    warehouse.engine.register("_intel_objects", table)
    try:
        warehouse.engine.execute(
            """
            INSERT INTO partner_objects
            SELECT DISTINCT ON (object_id, modified) * FROM _intel_objects n
            WHERE NOT EXISTS (
                SELECT 1 FROM partner_objects p WHERE p.object_id = n.object_id AND p.modified = n.modified
            )
            """
        )
    finally:
        warehouse.engine.unregister("_intel_objects")


def _upsert_indicators(warehouse: Warehouse, table: pa.Table) -> None:
    """Newest ``modified`` wins; revoked is sticky across versions."""
    if table.num_rows == 0:
        return
    engine = warehouse.engine
    engine.register("_intel_incoming", table)
    try:
        engine.execute(
            """
            CREATE OR REPLACE TEMP TABLE _intel_merged AS
            SELECT * EXCLUDE (_rank, _any_revoked) REPLACE (_any_revoked AS revoked) FROM (
                SELECT *, row_number() OVER (PARTITION BY indicator_id ORDER BY modified DESC, _old) AS _rank,
                       bool_or(revoked) OVER (PARTITION BY indicator_id) AS _any_revoked
                FROM (
                    SELECT *, 0 AS _old FROM _intel_incoming
                    UNION ALL
                    SELECT *, 1 AS _old FROM partner_indicators
                    WHERE indicator_id IN (SELECT indicator_id FROM _intel_incoming)
                )
            ) WHERE _rank = 1
            """
        )
        engine.execute("ALTER TABLE _intel_merged DROP COLUMN _old")
        engine.execute(
            "DELETE FROM partner_indicators WHERE indicator_id IN (SELECT indicator_id FROM _intel_incoming)"
        )
        engine.execute("INSERT INTO partner_indicators SELECT * FROM _intel_merged")
        engine.execute("DROP TABLE _intel_merged")
    finally:
        engine.unregister("_intel_incoming")


def _write_quarantine(warehouse: Warehouse, source: str, items: list[Quarantined]) -> None:
    if not items:
        return
    now = _now()
    rows = [
        {
            "source": source,
            "object_id": q.object_id,
            "object_type": q.object_type,
            "reason": q.reason,
            "raw_excerpt": q.excerpt,
            "quarantined_at": now,
        }
        for q in items
    ]
    table = pa.Table.from_pylist(rows, schema=INTEL_QUARANTINE)
    warehouse.engine.register("_intel_q", table)
    try:
        warehouse.engine.execute("INSERT INTO intel_quarantine SELECT * FROM _intel_q")
    finally:
        warehouse.engine.unregister("_intel_q")


def _stored_bodies(warehouse: Warehouse, object_type: str) -> list[dict[str, Any]]:
    _ensure(warehouse)
    rows = (
        warehouse.engine.to_arrow("SELECT body FROM partner_objects WHERE object_type = ?", [object_type])
        .column(0)
        .to_pylist()
    )
    return [json.loads(r) for r in rows]


def _identity_names(warehouse: Warehouse, accepted: list[dict[str, Any]]) -> dict[str, str]:
    identities = [o for o in accepted if o["type"] == "identity"] + _stored_bodies(warehouse, "identity")
    return {str(o["id"]): str(o.get("name", o["id"])) for o in identities}


def _link_campaigns(warehouse: Warehouse) -> None:
    """Name each indicator's campaign from stored 'indicates' relationships (any bundle, any page)."""
    warehouse.engine.execute(
        """
        UPDATE partner_indicators SET partner_campaign = link.name
        FROM (
            SELECT json_extract_string(r.body, '$.source_ref') AS indicator_id,
                   any_value(json_extract_string(c.body, '$.name')) AS name
            FROM partner_objects r
            JOIN partner_objects c ON c.object_id = json_extract_string(r.body, '$.target_ref')
            WHERE r.object_type = 'relationship' AND c.object_type = 'campaign'
              AND json_extract_string(r.body, '$.relationship_type') = 'indicates'
            GROUP BY 1
        ) AS link
        WHERE partner_indicators.indicator_id = link.indicator_id
          AND partner_indicators.partner_campaign IS NULL
        """
    )
