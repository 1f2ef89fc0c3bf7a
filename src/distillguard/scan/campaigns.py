"""Campaigns: flagged clusters and cohorts under ids that stay stable across scans.

``campaign_registry`` remembers which account first belonged to which campaign, so a
re-scan (or a streaming checkpoint) reuses the ids analysts already know.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from distillguard.detectors.campaigns import assign_campaign_ids, campaign_steps
from distillguard.engine.base import SqlStep, run_steps
from distillguard.scan.rows import Campaign, GroupScore, SubjectScore
from distillguard.schema import CAMPAIGN_REGISTRY
from distillguard.warehouse import Warehouse

# A capability is named in a campaign's focus when it carries this share of its traffic.
FOCUS_MIN_SHARE = 0.1


def build_campaigns(
    warehouse: Warehouse,
    groups: Mapping[str, GroupScore],
    accounts: Mapping[str, SubjectScore],
    *,
    scratch: Any,
) -> dict[str, Campaign]:
    """Campaigns from every flagged cluster and cohort (an account joins the first that holds it)."""
    engine = warehouse.engine
    warehouse.ensure_table("campaign_registry", CAMPAIGN_REGISTRY)
    taken: set[str] = set()
    flagged: dict[str, list[str]] = {}
    for group in sorted(groups.values(), key=lambda g: (g.kind != "cluster", -g.risk, g.group_id)):
        if group.verdict == "ok":
            continue
        # only flagged members: a member that inherited nothing is in the picture, not the campaign
        fresh = [a for a in group.members if a not in taken and accounts[a].verdict != "ok"]
        if fresh:
            flagged[group.group_id] = fresh
            taken.update(fresh)
    registry = [
        (r["campaign_id"], r["account_id"])
        for r in engine.to_arrow(
            "SELECT campaign_id, account_id FROM campaign_registry ORDER BY first_registered"
        ).to_pylist()
    ]
    assigned = assign_campaign_ids(flagged, registry)
    known = {a for _, a in registry}
    now = datetime.now(UTC)
    new_rows = [
        {"campaign_id": assigned[gid], "account_id": a, "first_registered": now}
        for gid, members in flagged.items()
        for a in members
        if a not in known
    ]
    if new_rows:
        engine.register("_registry_new", pa.Table.from_pylist(new_rows, schema=CAMPAIGN_REGISTRY))
        engine.execute("INSERT INTO campaign_registry SELECT * FROM _registry_new")
        engine.unregister("_registry_new")
    for gid, campaign_id in assigned.items():
        groups[gid].campaign_id = campaign_id
        for account_id in flagged[gid]:
            accounts[account_id].campaign_id = campaign_id
    pairs = [{"account_id": a, "campaign_id": assigned[g]} for g, members in flagged.items() for a in members]
    engine.register(
        "_campaign_pairs",
        pa.Table.from_pylist(
            pairs, schema=pa.schema([("account_id", pa.string()), ("campaign_id", pa.string())])
        ),
    )
    run_steps(engine, scratch([SqlStep("campaign_accounts", "SELECT * FROM _campaign_pairs")]))
    engine.unregister("_campaign_pairs")
    run_steps(engine, scratch(campaign_steps()))
    return _campaign_rows(engine, groups, assigned)


def _campaign_rows(
    engine: Any, groups: Mapping[str, GroupScore], assigned: Mapping[str, str]
) -> dict[str, Campaign]:
    campaigns: dict[str, Campaign] = {}
    for row in engine.to_arrow("SELECT * FROM campaign_summary").to_pylist():
        campaigns[row["campaign_id"]] = Campaign(
            row["campaign_id"], row["first_seen"], row["last_seen"], int(row["accounts"]), int(row["events"])
        )
    for gid, campaign_id in sorted(assigned.items()):
        campaign = campaigns.get(campaign_id)
        if campaign is not None:
            campaign.risk = max(campaign.risk, groups[gid].risk)
            campaign.groups.append(gid)
    for row in engine.to_arrow(
        f"SELECT * FROM campaign_capabilities WHERE share >= {FOCUS_MIN_SHARE} "
        "ORDER BY campaign_id, share DESC"
    ).to_pylist():
        if row["campaign_id"] in campaigns:
            campaigns[row["campaign_id"]].capability_focus.append(row["capability"])
    daily: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in engine.to_arrow("SELECT * FROM campaign_daily ORDER BY campaign_id, day").to_pylist():
        daily[row["campaign_id"]].append(row)
    for campaign_id, campaign in campaigns.items():
        days = daily.get(campaign_id, [])
        peak = max(days, key=lambda d: d["events"]) if days else None
        onset = f"{campaign.first_seen:%Y-%m-%d %H:%M}" if campaign.first_seen else "?"
        campaign.evidence.append(
            f"campaign.growth: onset {onset} UTC; "
            f"{campaign.accounts} accounts, {campaign.events} requests over {len(days)} days"
            + (
                f"; peak {peak['events']} requests from {peak['active_accounts']} accounts"
                f" on {peak['day']:%Y-%m-%d}"
                if peak
                else ""
            )
        )
        campaign.evidence.append(
            f"campaign.capability_focus: {', '.join(campaign.capability_focus) or 'none dominant'}"
        )
        kinds = ", ".join(campaign.groups)
        campaign.evidence.append(f"campaign.clusters: {kinds}")
    for row in engine.to_arrow("SELECT * FROM campaign_pivots ORDER BY campaign_id, released_at").to_pylist():
        found = campaigns.get(row["campaign_id"])
        if found is None:
            continue
        found.pivots.append(row)
        found.evidence.append(
            f"campaign.pivot: {row['share_after']:.0%} of traffic moved to newly released {row['model']} "
            f"within 24 h of its first appearance ({row['released_at']:%Y-%m-%d %H:%M} UTC)"
        )
    return campaigns
