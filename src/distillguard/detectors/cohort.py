"""Cohorts: many new, light accounts asking for the same kind of training-shaped content in the
same window, with no item asked twice.

The 2026 campaigns moved to thousands of accounts at two to six requests each, every one
with its own card, client and residential address: nothing ties them pairwise, so the
graph never sees them, and each alone is too light to judge. Together they are a data
set being collected. A cohort groups the young, light accounts first seen in the same
window by the training-shaped class they mostly ask for, and is judged as a whole: how
many there are, how much of what they ask is training-shaped, and whether they cover
new items (a harvest) or repeat the same ones (a class, a hackathon, a benchmark).
A member gains from its cohort only in proportion to its own training-shaped share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import ramp_py
from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlStep
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "cohort.training_swarm",
    "Swarm of new, light accounts harvesting the same kind of content",
    "cohort",
    "Young accounts with few requests, first seen in the same window, whose training-shaped items no "
    "other young account asked, grouped by the class they mostly ask for. A cohort scores by its size, "
    "its training-shaped share and its coverage (distinct items); each member adds that score to its "
    "own log-odds in proportion to its own training-shaped share.",
    (
        "a course or hackathon week (hundreds of new accounts, but the same exercises: low coverage)",
        "a tutoring app's users (they are end users of one account, not accounts)",
    ),
    {
        "light_max_events": 30,
        "young_max_days": 14.0,
        "window_hours": 24,
        "size_low": 10,
        "size_high": 50,
        "training_low": 0.15,
        "training_high": 0.35,
        "distinct_low": 0.8,
        "distinct_high": 0.98,
        "member_training_low": 0.1,
        "member_training_high": 0.3,
        "member_novelty_min": 0.5,
        "weight": 6.0,
    },
    why={
        "light_max_events": "the disclosed swarms ran at two to six requests per account per day; "
        "thirty over the window is still light",
        "young_max_days": "accounts created within two weeks of their traffic (or with no sign-up record)",
        "window_hours": "a day: the disclosed spikes ran thousands of accounts within hours",
        "size_low": "ten new accounts asking for the same kind of trace in one day can be a study group",
        "size_high": "fifty fresh accounts in one day asking for traces on items none of them repeats "
        "is an operation, not a coincidence",
        "training_low": "the cohort's training-shaped share above the provider's typical established "
        "customer's (the median): new users ask for step-by-step answers now and then",
        "training_high": "a third more of everything asked being training-shaped than the typical "
        "customer is a collection, even when half the cohort's requests are ordinary cover",
        "distinct_low": "classes, hackathons and benchmarks repeat their items across accounts",
        "distinct_high": "practically no item asked twice across the whole cohort is a data set",
        "member_training_low": "a member whose few requests are nearly all ordinary gains nothing from its "
        "cohort (it may be a new customer who signed up that day)",
        "member_training_high": "a member's two to six requests are a small sample of its cohort's mix: "
        "one training-shaped request in three is what a member of a swarm that hides its harvest among "
        "ordinary prompts shows, so it gains it all",
        "member_novelty_min": "a member belongs to a harvesting cohort when at least half of its "
        "training-shaped items were asked by no other young account: a swarm splits its data set "
        "between accounts (drawing from public sets, it repeats an item now and then), a class or a "
        "hackathon sends everyone the same exercises",
        "weight": "a full-strength cohort (fifty or more fresh accounts in a day, a third more "
        "training-shaped than the typical customer, items not repeated) carries a member whose two "
        "requests alone say little: a swarm is a campaign",
    },
)


def cohort_steps(p: Mapping[str, Any] = SPEC.parameters) -> list[SqlStep]:
    """``cohort_members`` (account, cohort) and ``cohort_features`` (one row per cohort)."""
    t = ELICITATION_THRESHOLD
    window_s = int(p["window_hours"]) * 3600
    members = f"""
        WITH young AS (
            SELECT f.account_id, f.first_seen, f.training_share,
                   CASE WHEN f.cot_share >= greatest(f.grading_share, f.rewrite_share) THEN 'cot'
                        WHEN f.grading_share >= f.rewrite_share THEN 'grading' ELSE 'rewrite' END AS kind
            FROM account_features f
            WHERE f.events <= {int(p["light_max_events"])}
              AND coalesce(f.signup_age_days, 0.0) <= {float(p["young_max_days"])}
              AND f.training_share >= {float(p["member_training_low"])}
        ),
        asked AS (
            SELECT e.account_id, e.prompt_hash
            FROM scan_events e JOIN young y ON y.account_id = e.account_id
            WHERE e.training >= {t} AND e.prompt_hash IS NOT NULL
              AND coalesce(e.message_count, 1) <= 1  -- an agent loop's last turn repeats boilerplate
        ),
        -- how many young accounts asked each item: a class or a hackathon shares its exercises
        items AS (SELECT prompt_hash, count(DISTINCT account_id) AS askers FROM asked GROUP BY prompt_hash),
        novelty AS (
            SELECT a.account_id, avg(CASE WHEN i.askers = 1 THEN 1.0 ELSE 0.0 END) AS novelty
            FROM asked a JOIN items i ON i.prompt_hash = a.prompt_hash
            GROUP BY a.account_id
        )
        SELECT y.account_id, y.training_share, n.novelty,
               concat('co-', y.kind, '-',
                      CAST(CAST(floor(epoch(y.first_seen) / {window_s}) AS BIGINT) AS VARCHAR))
                   AS cohort_id
        FROM young y JOIN novelty n ON n.account_id = y.account_id
        WHERE n.novelty >= {float(p["member_novelty_min"])}
    """
    features = f"""
        SELECT m.cohort_id, count(DISTINCT m.account_id) AS accounts, count(*) AS events,
               avg(CASE WHEN e.training >= {t} THEN 1.0 ELSE 0.0 END) AS training_share,
               count(DISTINCT CASE WHEN e.training >= {t} THEN e.prompt_hash END)
                 / greatest(1.0, sum(CASE WHEN e.training >= {t} AND e.prompt_hash IS NOT NULL
                                          THEN 1 ELSE 0 END)) AS distinct_share,
               min(e.ts_start) AS first_seen, max(e.ts_start) AS last_seen,
               -- what the provider's established customers ask (median: robust to a few harvesters)
               max(b.baseline) AS baseline_training_share
        FROM cohort_members m JOIN scan_events e ON e.account_id = m.account_id
        CROSS JOIN (
            SELECT coalesce(median(training_share), 0.0) AS baseline FROM account_features
            WHERE signup_age_days > {float(p["young_max_days"])}  -- customers older than any swarm
        ) AS b
        GROUP BY m.cohort_id
    """
    return [SqlStep("cohort_members", members), SqlStep("cohort_features", features)]


def cohort_strength(row: Mapping[str, Any], p: Mapping[str, Any] = SPEC.parameters) -> float:
    """How strongly a cohort as a whole looks like a data set being collected, in [0, 1]."""
    return (
        ramp_py(float(row["accounts"] or 0), p["size_low"], p["size_high"])
        * ramp_py(
            float(row["training_share"] or 0.0) - float(row.get("baseline_training_share") or 0.0),
            p["training_low"],
            p["training_high"],
        )
        * ramp_py(float(row["distinct_share"] or 0.0), p["distinct_low"], p["distinct_high"])
    )


def member_fit(training_share: float, p: Mapping[str, Any] = SPEC.parameters) -> float:
    """How much of its cohort's strength a member takes, by its own training-shaped share."""
    return ramp_py(training_share, p["member_training_low"], p["member_training_high"])
