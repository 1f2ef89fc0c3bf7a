"""Subject features: what one account (or one end user of an account) does over the window.

A single distillation prompt looks harmless; an account that sends hundreds of them in
the same shape, single-turn, with the longest outputs it can buy, right after signing up,
does not. These builders turn ``scan_events`` (events joined to ``prompt_signals``) into
one row of features per subject (``account_features``; ``end_user_features`` over
``end_user_events``). They return SQL only; the signals in ``detectors/account/`` score
the features and ``scan/scoring.py`` turns the scores into risk with reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

from distillguard.engine.base import SqlStep
from distillguard.rules import elicited_share_sql, training_score_sql

# Events columns the detectors read, carried into ``scan_events`` (and ``end_user_events``).
SCAN_EVENT_COLUMNS = (
    "event_id", "account_id", "ts_start", "model", "message_count", "session_id", "end_user_id",
    "system_prompt_hash", "max_tokens", "output_tokens", "response_chars", "reasoning_tokens",
    "reasoning_effort", "model_requested", "temperature", "top_p", "tool_count", "prompt_hash",
    "ip_prefix_hash", "client_ip_hash", "asn", "sdk_fingerprint", "user_agent",
    "request_shape", "status", "input_tokens", "prompt_chars",
    "cot", "grading", "rewrite", "training", "capability", "template_family",
)
# The prompt-signal classes under their short scan_events names.
_CLASS_ALIASES = {"cot_elicitation": "cot", "rubric_grading": "grading", "censorship_rewrite": "rewrite"}


def scan_events_step(*, until_literal: str | None, has_prompt_signals: bool) -> SqlStep:
    """Events in the window joined to their prompt signals, narrowed to what later steps read."""
    where = f"WHERE e.ts_start <= {until_literal}" if until_literal else ""
    if has_prompt_signals:
        classes = {alias: f"coalesce(p.{column}, 0.0)" for column, alias in _CLASS_ALIASES.items()}
        training = training_score_sql("p.")
        signals = (
            ", ".join(f"{expr} AS {alias}" for alias, expr in classes.items())
            + f", {training} AS training, coalesce(p.capability, 'general') AS capability,"
            " coalesce(p.template_family, e.skeleton_hash) AS template_family"
        )
        join = "LEFT JOIN prompt_signals p ON p.event_id = e.event_id"
    else:
        signals = (
            "0.0 AS cot, 0.0 AS grading, 0.0 AS rewrite, 0.0 AS training, 'general' AS capability, "
            "e.skeleton_hash AS template_family"
        )
        join = ""
    sql = f"""
        SELECT e.event_id, e.account_id, e.ts_start,
               coalesce(e.model_served, e.model_requested) AS model,
               e.message_count, e.session_id, e.end_user_id, e.system_prompt_hash,
               e.max_tokens, e.output_tokens, e.response_chars, e.reasoning_tokens, e.reasoning_effort,
               e.model_requested, e.temperature, e.top_p, e.tool_count, e.prompt_hash,
               e.ip_prefix_hash, e.client_ip_hash, e.asn, e.sdk_fingerprint, e.user_agent,
               e.request_shape, e.status, e.input_tokens, e.prompt_chars, {signals}
        FROM events e {join}
        {where}
    """
    return SqlStep("scan_events", sql)


def end_user_events_step(*, min_end_users: int) -> SqlStep:
    """``end_user_events``: the events of accounts that pass many end users, keyed by end user.

    Each end user of such an account is a subject of its own (``account_id`` holds
    ``<account>/<end user>``, ``parent_account_id`` the account), so a reseller's
    extraction end users stand out from its ordinary ones instead of being diluted below
    every share threshold.
    """
    columns = ", ".join(
        "e.account_id || '/' || e.end_user_id AS account_id" if c == "account_id" else f"e.{c}"
        for c in SCAN_EVENT_COLUMNS
    )
    return SqlStep(
        "end_user_events",
        f"""
        SELECT {columns}, e.account_id AS parent_account_id
        FROM scan_events e
        JOIN (
            SELECT account_id FROM scan_events WHERE end_user_id IS NOT NULL
            GROUP BY account_id HAVING count(DISTINCT end_user_id) >= {min_end_users}
        ) AS many ON many.account_id = e.account_id
        WHERE e.end_user_id IS NOT NULL
        """,
    )


def account_feature_steps(
    *,
    has_accounts: bool,
    aggregates: Sequence[str] = (),
    source: str = "scan_events",
    prefix: str = "account_",
    parent_column: str | None = None,
) -> list[SqlStep]:
    """Per-subject features over the window, plus per-day volume and release pivots.

    ``source`` is ``scan_events`` for accounts (tables ``account_*``) or
    ``end_user_events`` for end users (``prefix='end_user_'``, account records read
    through ``parent_column``). ``aggregates`` are the signals' own SQL aggregates.
    """
    n = prefix
    steps = [
        SqlStep(
            f"{n}gaps",
            f"""
            SELECT account_id,
                   epoch(ts_start) - epoch(lag(ts_start) OVER (PARTITION BY account_id ORDER BY ts_start))
                       AS gap_s,
                   hour(ts_start) AS hour_of_day,
                   -- 1 when this request leaves through another network prefix than the previous one
                   CASE WHEN ip_prefix_hash IS NULL OR previous_prefix IS NULL THEN NULL
                        WHEN previous_prefix <> ip_prefix_hash THEN 1.0 ELSE 0.0 END AS prefix_switch
            FROM (
                SELECT account_id, ts_start, ip_prefix_hash,
                       lag(ip_prefix_hash) OVER (PARTITION BY account_id ORDER BY ts_start) AS previous_prefix
                FROM {source}
            ) AS g
            """,
            # a row per event read once, by the timing aggregate: computed there, never stored
            materialise=False,
        ),
        SqlStep(
            f"{n}timing",
            f"""
            SELECT account_id,
                   CASE WHEN count(gap_s) >= 3 AND avg(gap_s) > 0
                        THEN stddev_pop(gap_s) / avg(gap_s) END AS interarrival_cv,
                   count(DISTINCT hour_of_day) AS active_hours,
                   avg(prefix_switch) AS prefix_switch_rate
            FROM {n}gaps GROUP BY account_id
            """,
        ),
        SqlStep(
            f"{n}daily",
            f"""
            SELECT account_id, date_trunc('day', ts_start) AS day, count(*) AS events,
                   {elicited_share_sql("training")} AS training_share
            FROM {source} GROUP BY account_id, date_trunc('day', ts_start)
            """,
        ),
        SqlStep(
            f"{n}volume",
            f"""
            SELECT account_id, count(*) AS active_days, max(events) AS peak_day_events,
                   max(events / (prior_avg + 1.0)) AS volume_jump
            FROM (
                SELECT account_id, events,
                       coalesce(avg(events) OVER (PARTITION BY account_id ORDER BY day
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0.0) AS prior_avg
                FROM {n}daily
            ) AS d GROUP BY account_id
            """,
        ),
        SqlStep(
            f"{n}capabilities",
            f"""
            SELECT account_id, count(*) AS capabilities_used,
                   max(share) AS top_capability_share,
                   -sum(share * ln(share)) AS capability_entropy,
                   max(CASE WHEN place = 1 THEN capability END) AS top_capability,
                   sum(CASE WHEN capability <> 'general' THEN share ELSE 0.0 END) AS valuable_share
            FROM (
                -- ties for the top share go to the first name, so reasons read the same every run
                SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY share DESC, capability) AS place
                FROM (
                    SELECT account_id, capability,
                           count(*) / sum(count(*)) OVER (PARTITION BY account_id) AS share
                    FROM {source} GROUP BY account_id, capability
                ) AS shares
            ) AS c GROUP BY account_id
            """,
        ),
        SqlStep(
            f"{n}templates",
            f"""
            SELECT account_id,
                   sum(CASE WHEN uses >= 2 THEN uses ELSE 0 END) / sum(uses) AS templated_share,
                   max(uses) / sum(uses) AS top_template_share,
                   count(*) AS template_families
            FROM (
                SELECT account_id, template_family, count(*) AS uses
                FROM {source} WHERE template_family IS NOT NULL
                GROUP BY account_id, template_family
            ) AS t GROUP BY account_id
            """,
        ),
        # How concentrated traffic is on one end user and on one system prompt (business context).
        SqlStep(
            f"{n}concentration",
            f"""
            SELECT account_id,
                   max(CASE WHEN kind = 'u' THEN top END) AS top_end_user_share,
                   max(CASE WHEN kind = 's' THEN top END) AS top_system_prompt_share
            FROM (
                SELECT account_id, kind,
                       -- end users: of the traffic that names one; system prompts: of all traffic
                       max(uses) / CASE WHEN kind = 'u' THEN sum(uses) ELSE max(total) END AS top
                FROM (
                    SELECT account_id, 'u' AS kind, end_user_id AS value, count(*) AS uses, 0 AS total
                    FROM {source} WHERE end_user_id IS NOT NULL GROUP BY account_id, end_user_id
                    UNION ALL
                    SELECT e.account_id, 's', e.system_prompt_hash, count(*), max(t.total)
                    FROM {source} e
                    JOIN (SELECT account_id, count(*) AS total FROM {source} GROUP BY account_id) AS t
                      ON t.account_id = e.account_id
                    WHERE e.system_prompt_hash IS NOT NULL GROUP BY e.account_id, e.system_prompt_hash
                ) AS v GROUP BY account_id, kind
            ) AS c GROUP BY account_id
            """,
        ),
        SqlStep(
            f"{n}pivots",
            f"""
            SELECT e.account_id, r.model AS pivot_model, r.released_at,
                   avg(CASE WHEN e.model = r.model THEN 1.0 ELSE 0.0 END) AS pivot_share,
                   count(*) AS events_after_release
            FROM {source} e
            JOIN model_releases r
              ON e.ts_start >= r.released_at AND e.ts_start < r.released_at + INTERVAL 24 HOUR
            JOIN (SELECT account_id, min(ts_start) AS first_seen FROM {source} GROUP BY account_id) AS s
              ON s.account_id = e.account_id AND s.first_seen < r.released_at
            GROUP BY e.account_id, r.model, r.released_at
            """,
        ),
    ]
    if prefix == "account_":
        # A model is "released" in the data when it is first seen well after the data starts.
        steps.insert(
            -1,
            SqlStep(
                "model_releases",
                """
                SELECT model, min(ts_start) AS released_at
                FROM scan_events WHERE model IS NOT NULL GROUP BY model
                HAVING min(ts_start) > (SELECT min(ts_start) FROM scan_events) + INTERVAL 24 HOUR
                """,
            ),
        )
    record_key = "f.account_id"
    # An end user has no sign-up record of its own: the account's age, plan and card say
    # nothing about who is behind one of its end-user ids.
    account_cols = (
        "a.created_at, a.plan, a.verification, a.payment_fingerprint, "
        "date_diff('hour', a.created_at, f.first_seen) / 24.0 AS signup_age_days"
        if has_accounts and not parent_column
        else "CAST(NULL AS TIMESTAMPTZ) AS created_at, CAST(NULL AS VARCHAR) AS plan, "
        "CAST(NULL AS VARCHAR) AS verification, CAST(NULL AS VARCHAR) AS payment_fingerprint, "
        "CAST(NULL AS DOUBLE) AS signup_age_days"
    )
    account_join = (
        f"LEFT JOIN accounts a ON a.account_id = {record_key}" if has_accounts and not parent_column else ""
    )
    parent = f"any_value({parent_column}) AS {parent_column}," if parent_column else ""
    extra = "".join(f"\n                       {a}," for a in aggregates)
    steps.append(
        SqlStep(
            f"{n}features",
            f"""
            WITH f AS (
                SELECT account_id, {parent} count(*) AS events,
                       min(ts_start) AS first_seen, max(ts_start) AS last_seen,{extra}
                       {elicited_share_sql("training")} AS training_share,
                       {elicited_share_sql("cot")} AS cot_share,
                       {elicited_share_sql("grading")} AS grading_share,
                       {elicited_share_sql("rewrite")} AS rewrite_share,
                       avg(CASE WHEN coalesce(message_count, 1) <= 1 THEN 1.0 ELSE 0.0 END)
                           AS single_turn_share,
                       avg(coalesce(message_count, 1)) AS avg_messages,
                       count(DISTINCT session_id) / count(*) AS sessions_per_event,
                       avg(max_tokens) AS avg_max_tokens,
                       avg(output_tokens) AS avg_output_tokens,
                       avg(CASE WHEN lower(reasoning_effort) = 'high' THEN 1.0 ELSE 0.0 END)
                           AS high_effort_share,
                       count(DISTINCT ip_prefix_hash) AS ip_prefixes,
                       count(DISTINCT client_ip_hash) AS client_ips,
                       count(DISTINCT asn) AS asns,
                       count(DISTINCT sdk_fingerprint) AS sdks,
                       count(DISTINCT end_user_id) AS end_users,
                       count(DISTINCT system_prompt_hash) AS system_prompts,
                       count(DISTINCT model) AS models
                FROM {source} GROUP BY account_id
            )
            SELECT f.*, v.active_days, v.peak_day_events, v.volume_jump,
                   c.capabilities_used, c.top_capability_share, c.capability_entropy, c.top_capability,
                   c.valuable_share,
                   coalesce(t.templated_share, 0.0) AS templated_share,
                   coalesce(t.top_template_share, 0.0) AS top_template_share,
                   coalesce(t.template_families, 0) AS template_families,
                   tm.interarrival_cv, tm.active_hours, tm.prefix_switch_rate,
                   k.top_end_user_share, k.top_system_prompt_share,
                   p.pivot_model, coalesce(p.pivot_share, 0.0) AS pivot_share,
                   {account_cols}
            FROM f
            LEFT JOIN {n}volume v ON v.account_id = f.account_id
            LEFT JOIN {n}capabilities c ON c.account_id = f.account_id
            LEFT JOIN {n}templates t ON t.account_id = f.account_id
            LEFT JOIN {n}timing tm ON tm.account_id = f.account_id
            LEFT JOIN {n}concentration k ON k.account_id = f.account_id
            LEFT JOIN (
                -- of models tied for the largest share, the first by name: the same on every run
                SELECT account_id, arg_min(pivot_model, (-pivot_share, pivot_model)) AS pivot_model,
                       max(pivot_share) AS pivot_share
                FROM {n}pivots GROUP BY account_id
            ) AS p ON p.account_id = f.account_id
            {account_join}
            """,
        )
    )
    return steps
