"""Campaign level: flagged clusters linked over time, with ids stable across runs.

A campaign id is derived from persistent evidence, never from row order: the
first time a flagged cluster is seen it gets ``camp-`` + a hash of its smallest
member account id; the membership is recorded in ``campaign_registry`` and a
later scan that finds a flagged cluster overlapping a registered campaign reuses
that campaign's id (the cluster with most shared accounts wins). Campaign
evidence is SQL over the scan: onset, growth, capability focus, and pivots to a
newly released model (a large share of the campaign's traffic on a model within
24 hours of its first appearance).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping

from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlStep

# Share of a campaign's traffic on a new model in its first 24 h that counts as a pivot.
PIVOT_SHARE = 0.3

CAMPAIGN_DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec(
        "campaign.pivot",
        "Pivot to a newly released model",
        "campaign",
        "A large share of the campaign's traffic moves to a model within 24 hours of its first "
        "appearance in the data.",
        ("evaluation harnesses benchmarking a release (single accounts, not campaigns)",),
        {"pivot_share": PIVOT_SHARE},
    ),
    DetectorSpec(
        "campaign.growth",
        "Onset and growth",
        "campaign",
        "When the campaign started, how many accounts it added per day and its peak daily volume.",
    ),
    DetectorSpec(
        "campaign.capability_focus",
        "Capability focus",
        "campaign",
        "The capabilities the campaign's traffic concentrates on.",
    ),
)


def new_campaign_id(anchor_account: str) -> str:
    return "camp-" + hashlib.md5(anchor_account.encode()).hexdigest()[:10]


def assign_campaign_ids(
    clusters: Mapping[str, Iterable[str]], registry: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """cluster_id -> campaign_id, reusing registered ids by member overlap."""
    owner: dict[str, str] = {}
    for campaign_id, account_id in registry:
        owner.setdefault(account_id, campaign_id)
    assigned: dict[str, str] = {}
    for cluster_id, members in sorted(clusters.items()):
        accounts = sorted(members)
        overlap = Counter(owner[a] for a in accounts if a in owner)
        if overlap:
            # Most shared accounts wins; ties go to the smaller id so the choice is stable.
            best = min(overlap.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            assigned[cluster_id] = best
        else:
            assigned[cluster_id] = new_campaign_id(accounts[0])
    return assigned


def campaign_steps() -> list[SqlStep]:
    """``campaign_daily``, ``campaign_pivots``, ``campaign_capabilities`` over ``campaign_accounts``.

    ``campaign_accounts(account_id, campaign_id)`` is registered by the pipeline.
    """
    return [
        SqlStep(
            "campaign_events",
            """
            SELECT c.campaign_id, e.account_id, e.ts_start, e.model, e.capability
            FROM scan_events e JOIN campaign_accounts c ON c.account_id = e.account_id
            """,
            materialise=False,
        ),
        SqlStep(
            "campaign_daily",
            """
            SELECT campaign_id, date_trunc('day', ts_start) AS day, count(*) AS events,
                   count(DISTINCT account_id) AS active_accounts
            FROM campaign_events GROUP BY campaign_id, date_trunc('day', ts_start)
            """,
        ),
        SqlStep(
            "campaign_pivots",
            f"""
            WITH first_seen AS (
                SELECT campaign_id, min(ts_start) AS onset FROM campaign_events GROUP BY campaign_id
            )
            SELECT e.campaign_id, r.model, r.released_at,
                   avg(CASE WHEN e.model = r.model THEN 1.0 ELSE 0.0 END) AS share_after,
                   count(*) AS events_after
            FROM campaign_events e
            JOIN model_releases r
              ON e.ts_start >= r.released_at AND e.ts_start < r.released_at + INTERVAL 24 HOUR
            JOIN first_seen f ON f.campaign_id = e.campaign_id AND f.onset < r.released_at
            GROUP BY e.campaign_id, r.model, r.released_at
            HAVING avg(CASE WHEN e.model = r.model THEN 1.0 ELSE 0.0 END) >= {PIVOT_SHARE}
            """,
        ),
        SqlStep(
            "campaign_capabilities",
            """
            SELECT campaign_id, capability, count(*) AS events,
                   count(*) / sum(count(*)) OVER (PARTITION BY campaign_id) AS share
            FROM campaign_events GROUP BY campaign_id, capability
            """,
        ),
        SqlStep(
            "campaign_summary",
            """
            SELECT campaign_id, min(ts_start) AS first_seen, max(ts_start) AS last_seen,
                   count(DISTINCT account_id) AS accounts, count(*) AS events
            FROM campaign_events GROUP BY campaign_id
            """,
        ),
    ]
