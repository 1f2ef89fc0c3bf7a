"""Cluster features: one row per cluster with what its members do and what ties them.

Read by ``scoring.cluster_risk``: the members' behaviour averages, how many members each
kind of shared value ties, lockstep, and how concentrated the cluster's traffic is on
one network.
"""

from __future__ import annotations

from distillguard.engine.base import SqlStep


def cluster_features_step() -> SqlStep:
    """``cluster_features``: one row per cluster with behaviour averages and tie strengths."""
    return SqlStep(
        "cluster_features",
        """
        WITH base AS (
            SELECT m.cluster_id, count(*) AS accounts, sum(f.events) AS events,
                   avg(b.behaviour) AS mean_behaviour, avg(b.content) AS mean_content,
                   avg(b.harvest) AS mean_harvest, avg(b.s_training) AS mean_training,
                   avg(b.s_token_max) AS mean_token_max, avg(b.s_proxy) AS mean_proxy,
                   avg(b.s_signup) AS mean_signup, avg(b.s_templated) AS mean_templated,
                   avg(f.events) AS mean_events,
                   min(f.first_seen) AS first_seen, max(f.last_seen) AS last_seen
            FROM cluster_members m
            JOIN account_features f ON f.account_id = m.account_id
            JOIN account_behaviour b ON b.account_id = m.account_id
            GROUP BY m.cluster_id
        ),
        tie AS (
            SELECT m.cluster_id, i.kind, count(DISTINCT m.account_id) AS tied
            FROM cluster_members m
            JOIN account_indicators i ON i.account_id = m.account_id
            JOIN cluster_shared c ON c.cluster_id = m.cluster_id AND c.kind = i.kind AND c.value = i.value
            GROUP BY m.cluster_id, i.kind
        ),
        ties AS (
            SELECT cluster_id,
                   max(CASE WHEN kind = 'template' THEN tied ELSE 0 END) AS template_tied,
                   -- account records: a card, a same-pathway sign-up burst, a creation burst
                   max(CASE WHEN kind IN ('payment', 'signup', 'created') THEN tied ELSE 0 END)
                       AS record_tied,
                   max(CASE WHEN kind IN ('ip_prefix', 'client_ip') THEN tied ELSE 0 END) AS infra_tied
            FROM tie GROUP BY cluster_id
        ),
        -- how much of the cluster's traffic comes from its busiest network prefix: a team
        -- behind one office or campus network sends nearly all of it from one; a hydra's
        -- accounts reach us through many, however few requests each member has sent yet
        network AS (
            SELECT cluster_id, max(uses) AS top_prefix_events FROM (
                SELECT m.cluster_id, i.value, sum(i.uses) AS uses
                FROM cluster_members m
                JOIN account_indicators i ON i.account_id = m.account_id AND i.kind = 'ip_prefix'
                GROUP BY m.cluster_id, i.value
            ) AS per_prefix
            GROUP BY cluster_id
        )
        SELECT b.*, coalesce(t.template_tied, 0) / b.accounts AS template_tie,
               coalesce(t.record_tied, 0) / b.accounts AS record_tie,
               coalesce(t.infra_tied, 0) / b.accounts AS infra_tie,
               coalesce(l.lockstep_ratio, 0.0) AS lockstep_ratio, l.peak_active,
               coalesce(n.top_prefix_events, 0) / greatest(b.events, 1) AS top_prefix_share
        FROM base b
        LEFT JOIN ties t ON t.cluster_id = b.cluster_id
        LEFT JOIN cluster_lockstep l ON l.cluster_id = b.cluster_id
        LEFT JOIN network n ON n.cluster_id = b.cluster_id
        """,
    )
