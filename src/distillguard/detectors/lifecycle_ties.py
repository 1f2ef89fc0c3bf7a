"""Ties by how accounts live, not where they connect from: synchronised pivots, hand-offs, surges.

Attackers who give every account its own card, client and residential exit still run
them from one operation, and the operation's clock shows:

* ``pivot``: the accounts moved to a newly released model in the same few hours (one
  campaign moved half its traffic within a day of a release; its scripts were
  re-pointed together, not one by one);
* ``handoff``: one account went quiet as another started (short-lived accounts that
  replace each other every few days, so that no account lives long enough to be judged);
* ``surge``: the accounts' busiest day is the same day, several times their usual volume
  (volume that rises and falls together).

Each is an indicator row ``(account_id, kind, value, 0)`` like the infrastructure ones.
They are evidence about a cluster, weighted in its explanation like every shared value (pure
values only: release days and deadline surges bring ordinary customers too), but they do not
link accounts or count as a family of membership: as links they pulled one company's two
evaluation accounts, which pivot to a new release and surge on the same day by design, into a
cluster on the medium preset, and on the randomised scenarios they added nothing.
"""

from __future__ import annotations

from distillguard.detectors.account.model_pivot import SPEC as MODEL_PIVOT
from distillguard.detectors.spec import DetectorSpec

LIFECYCLE_TIES = DetectorSpec(
    "graph.lifecycle_ties",
    "Synchronised pivots, hand-offs and surges as shared values",
    "cluster",
    "Accounts share a 'pivot' value when they moved to the same newly released model within the same "
    "hours, a 'handoff' value when one stopped for good in the hours another started, and a 'surge' "
    "value when their busiest day is the same day and several times their usual volume. Weighed, "
    "like every shared value, only when nearly all their holders already behave like harvesting, "
    "they explain a cluster; they do not form one.",
    (
        "a release day: many customers try the new model (impure: ordinary customers hold the value)",
        "a deadline week: a class surges on the same day (impure, and a class repeats its exercises)",
        "ordinary churn: customers leave and others join every day (impure)",
    ),
    {
        "pivot_bucket_hours": 6,
        "handoff_bucket_hours": 12,
        "handoff_quiet_hours": 48,
        "handoff_min_lifetime_hours": 24,
        "surge_min_active_days": 3,
        "surge_factor": 3.0,
    },
    why={
        "pivot_bucket_hours": "scripts re-pointed by one operator move within hours of each other; "
        "customers adopting a release spread over days",
        "handoff_bucket_hours": "a replacement account starts within half a day of its predecessor's "
        "last request (two grids offset by half, so any two within six hours share a value)",
        "handoff_quiet_hours": "an account counts as having stopped, or started, only when the scanned "
        "traffic holds two quiet days after its last (or before its first) request; accounts active "
        "across the whole window hand nothing off",
        "handoff_min_lifetime_hours": "succession replaces accounts that each lived for days; an "
        "account used for one burst is a swarm's (the cohorts judge those), and new customers who try "
        "the API once would otherwise all share the moment they started",
        "surge_min_active_days": "a surge needs a usual volume to stand out from: three active days",
        "surge_factor": "the busiest day at three times the account's median active day is a surge, "
        "not day-to-day noise",
    },
)

PIVOT_MIN_SHARE = MODEL_PIVOT["share_low"]  # an account that moved at least this much of its traffic


def lifecycle_indicator_sql() -> str:
    """``UNION ALL`` branches of ``(account_id, kind, value, uses)`` rows over ``scan_events``."""
    p = LIFECYCLE_TIES.parameters
    pivot_width = int(p["pivot_bucket_hours"]) * 3600
    handoff_width = int(p["handoff_bucket_hours"]) * 3600
    quiet_s = int(p["handoff_quiet_hours"]) * 3600
    lifetime_s = int(p["handoff_min_lifetime_hours"]) * 3600
    return f"""
        UNION ALL
        SELECT e.account_id, 'pivot' AS kind,
               concat(r.model, '@', CAST(CAST(floor(epoch(min(e.ts_start)) / {pivot_width}) AS BIGINT)
                                         AS VARCHAR)) AS value,
               0 AS uses
        FROM scan_events e
        JOIN account_pivots v
          ON v.account_id = e.account_id AND v.pivot_share >= {PIVOT_MIN_SHARE}
        JOIN model_releases r ON r.model = v.pivot_model AND r.released_at = v.released_at
        WHERE e.model = r.model AND e.ts_start >= r.released_at
          AND e.ts_start < r.released_at + INTERVAL 24 HOUR
        GROUP BY e.account_id, r.model
        UNION ALL
        SELECT l.account_id, 'handoff' AS kind,
               concat(g.grid, '@', CAST(CAST(floor((l.at + g.shift) / {handoff_width}) AS BIGINT)
                                        AS VARCHAR)) AS value,
               0 AS uses
        FROM (
            -- the moment an account stopped for good, or started, inside the scanned traffic
            SELECT f.account_id, epoch(f.last_seen) AS at FROM account_features f, scan_span s
            WHERE epoch(f.last_seen) <= s.last_at - {quiet_s}
              AND epoch(f.last_seen) - epoch(f.first_seen) >= {lifetime_s}
            UNION ALL
            SELECT f.account_id, epoch(f.first_seen) AS at FROM account_features f, scan_span s
            WHERE epoch(f.first_seen) >= s.first_at + {quiet_s}
              AND epoch(f.last_seen) - epoch(f.first_seen) >= {lifetime_s}
        ) AS l
        CROSS JOIN (SELECT 'a' AS grid, 0 AS shift UNION ALL SELECT 'b', {handoff_width // 2}) AS g
        UNION ALL
        -- the busiest day; of equally busy days the first, so a rerun names the same day
        SELECT d.account_id, 'surge' AS kind, CAST(arg_min(d.day, (-d.n, d.day)) AS VARCHAR) AS value,
               0 AS uses
        FROM (
            SELECT account_id, CAST(date_trunc('day', ts_start) AS DATE) AS day, count(*) AS n
            FROM scan_events GROUP BY account_id, CAST(date_trunc('day', ts_start) AS DATE)
        ) AS d
        GROUP BY d.account_id
        HAVING count(*) >= {int(p["surge_min_active_days"])}
           AND max(d.n) >= {float(p["surge_factor"])} * median(d.n)"""


def scan_span_sql() -> str:
    """``scan_span``: the first and last request time of the scanned traffic, in epoch seconds."""
    return "SELECT epoch(min(ts_start)) AS first_at, epoch(max(ts_start)) AS last_at FROM scan_events"
