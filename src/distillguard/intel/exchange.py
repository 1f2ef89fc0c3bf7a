"""The export workflow: harvest, build the bundle, revoke what disappeared, record it.

``intel export`` calls ``export_bundle``; ``--dry-run`` calls it with
``record=False`` and prints ``describe_export``: the policy in force and every
object that would leave, so an analyst sees exactly what a partner would get.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from distillguard.config import Config
from distillguard.intel.indicators import collect
from distillguard.intel.privacy import SharePolicy
from distillguard.intel.stix_export import ExportResult, build_bundle, revocations
from distillguard.schema import INTEL_EXPORTED, TABLES
from distillguard.warehouse import Warehouse


def _previous_indicators(warehouse: Warehouse) -> list[dict[str, object]]:
    warehouse.ensure_table("intel_exported", TABLES["intel_exported"])
    bodies = (
        warehouse.engine.to_arrow(
            "SELECT body FROM intel_exported WHERE object_type = 'indicator' AND NOT coalesce(revoked, false)"
        )
        .column(0)
        .to_pylist()
    )
    return [json.loads(b) for b in bodies if b]


def export_bundle(
    warehouse: Warehouse,
    config: Config,
    *,
    attributions: dict[str, str] | None = None,
    record: bool = True,
    now: datetime | None = None,
) -> ExportResult:
    """The bundle for everything currently detected (plus revocations of what is gone)."""
    policy = SharePolicy.from_config(config)
    moment = now or datetime.now(UTC)
    harvest = collect(warehouse.engine, policy)
    result = build_bundle(
        harvest, policy, identity_name=str(config.intel_identity_name), attributions=attributions, now=moment
    )
    current = {o["id"] for o in result.bundle["objects"]}
    revoked = revocations(_previous_indicators(warehouse), current, moment)
    if revoked:
        result.bundle["objects"].extend(revoked)
        result.counts["indicator (revoked)"] = len(revoked)
        result.notes.append(f"{len(revoked)} previously shared indicator(s) revoked: no longer detected")
    if record:
        _record(warehouse, result, moment)
    return result


def _record(warehouse: Warehouse, result: ExportResult, moment: datetime) -> None:
    rows = [
        {
            "object_id": o["id"],
            "object_type": o["type"],
            "first_exported": moment,
            "last_exported": moment,
            "revoked": bool(o.get("revoked", False)),
            "body": json.dumps(o) if o["type"] == "indicator" else None,
        }
        for o in result.bundle["objects"]
        if o["type"] in {"indicator", "campaign"}
    ]
    if not rows:
        return
    engine = warehouse.engine
    engine.register("_intel_exp", pa.Table.from_pylist(rows, schema=INTEL_EXPORTED))
    try:
        engine.execute(
            """
            CREATE OR REPLACE TEMP TABLE _intel_exp_merged AS
            SELECT DISTINCT ON (n.object_id) n.object_id, n.object_type,
                   coalesce(o.first_exported, n.first_exported) AS first_exported,
                   n.last_exported, n.revoked, n.body
            FROM _intel_exp n LEFT JOIN intel_exported o USING (object_id)
            ORDER BY n.object_id, n.revoked DESC
            """
        )
        engine.execute("DELETE FROM intel_exported WHERE object_id IN (SELECT object_id FROM _intel_exp)")
        engine.execute("INSERT INTO intel_exported SELECT * FROM _intel_exp_merged")
        engine.execute("DROP TABLE _intel_exp_merged")
    finally:
        engine.unregister("_intel_exp")


def describe_export(result: ExportResult, policy: SharePolicy) -> list[str]:
    """Human-readable account of what would be shared (``--dry-run``)."""
    lines = ["policy:"] + [f"  {line}" for line in policy.describe()]
    lines.append("objects:")
    lines += [f"  {kind}: {n}" for kind, n in sorted(result.counts.items())]
    if result.notes:
        lines.append("withheld or unavailable:")
        lines += [f"  {note}" for note in result.notes]
    lines.append("campaigns (aggregates only):")
    for obj in result.bundle["objects"]:
        if obj["type"] == "campaign":
            ext: dict[str, object] = next(iter(obj.get("extensions", {}).values()), {})
            stats = {k: v for k, v in ext.items() if k != "extension_type"}
            lines.append(f"  {obj['name']} {obj['first_seen']}..{obj['last_seen']} {json.dumps(stats)}")
    lines.append("indicators (kind, form, confidence, valid until, pattern):")
    for obj in result.bundle["objects"]:
        if obj["type"] != "indicator":
            continue
        props: dict[str, object] = next(iter(obj.get("extensions", {}).values()), {})
        lines.append(
            f"  {props.get('fingerprint_kind', '?')}, {props.get('value_form', '?')}, "
            f"{obj.get('confidence')}, {obj.get('valid_until')}"
            f"{', REVOKED' if obj.get('revoked') else ''}, {obj['pattern']}"
        )
    return lines
