"""Account level: what one account does over the scanned window.

A single distillation prompt looks harmless; an account that sends hundreds of
them in the same shape, single-turn, with the longest outputs it can buy, at
machine-regular intervals, right after signing up through an education or
startup pathway, does not. These builders turn ``scan_events`` (events joined
to ``prompt_signals``) into one row of features per account (``account_features``)
and per account and day (``account_daily``). They return SQL only; the pipeline
runs it and scoring turns the numbers into risk with reasons.
"""

from __future__ import annotations

from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlStep

# Score at or above which a prompt counts as elicitation / grading / rewrite.
PROMPT_SIGNAL_THRESHOLD = 0.5
# Plans and pathways the disclosures name as abused for bulk sign-ups.
ABUSED_PLANS = ("education", "research", "startup", "free")

ACCOUNT_DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec(
        "account.training_shaped",
        "Training-shaped prompts",
        "account",
        "Share of the account's prompts that elicit chain-of-thought, ask for rubric grading, or "
        "request censorship-safe rewrites.",
        ("evaluation harnesses asking for step-by-step answers", "tutoring apps"),
        {"prompt_signal_threshold": PROMPT_SIGNAL_THRESHOLD},
    ),
    DetectorSpec(
        "account.templated",
        "Template reuse",
        "account",
        "Share of prompts built from the account's recurring scaffolds (template families).",
        ("CI bots", "apps with a fixed system prompt"),
    ),
    DetectorSpec(
        "account.single_turn",
        "Single-turn harvesting",
        "account",
        "Prompts sent as fresh one-shot requests rather than continuing conversations.",
        ("batch jobs", "evaluation harnesses"),
    ),
    DetectorSpec(
        "account.token_max",
        "Token maximisation",
        "account",
        "Requests ask for the most output (high max_tokens, long outputs, high reasoning effort).",
        ("long-form writing apps",),
        {"max_tokens_high": 8192, "output_tokens_high": 1500},
    ),
    DetectorSpec(
        "account.capability_focus",
        "Capability concentration and sweeps",
        "account",
        "Traffic concentrated on valuable capabilities, or a systematic sweep across them.",
        ("single-purpose apps",),
    ),
    DetectorSpec(
        "account.proxy_rotation",
        "Rotating network origin",
        "account",
        "Many network prefixes and ASNs per request: commercial proxy pools.",
        ("mobile users", "LLM routers"),
    ),
    DetectorSpec(
        "account.timing",
        "Machine timing",
        "account",
        "Inter-arrival regularity (low coefficient of variation) and flat diurnal shape.",
        ("CI bots", "cron jobs"),
    ),
    DetectorSpec(
        "account.volume_jump",
        "Volume against own baseline",
        "account",
        "Daily volume far above the account's own earlier days.",
        ("product launches",),
    ),
    DetectorSpec(
        "account.signup",
        "Fresh sign-up through an abused pathway",
        "account",
        "Account created shortly before its traffic, on an education/research/startup/free plan.",
        ("new students at term start",),
    ),
    DetectorSpec(
        "account.model_pivot",
        "Pivot to a newly released model",
        "account",
        "A large share of traffic moves to a model first seen in the data within a day of its release.",
        ("evaluation harnesses benchmarking a release",),
    ),
)


def scan_events_step(*, until_literal: str | None, has_prompt_signals: bool) -> SqlStep:
    """Events in the window joined to their prompt signals, narrowed to what later steps read."""
    where = f"WHERE e.ts_start <= {until_literal}" if until_literal else ""
    if has_prompt_signals:
        signals = """
            coalesce(p.cot_elicitation, 0.0) AS cot, coalesce(p.rubric_grading, 0.0) AS grading,
            coalesce(p.censorship_rewrite, 0.0) AS rewrite, coalesce(p.capability, 'general') AS capability,
            coalesce(p.template_family, e.skeleton_hash) AS template_family"""
        join = "LEFT JOIN prompt_signals p ON p.event_id = e.event_id"
    else:
        signals = """
            0.0 AS cot, 0.0 AS grading, 0.0 AS rewrite, 'general' AS capability,
            e.skeleton_hash AS template_family"""
        join = ""
    sql = f"""
        SELECT e.event_id, e.account_id, e.ts_start,
               coalesce(e.model_served, e.model_requested) AS model,
               e.message_count, e.session_id, e.end_user_id, e.system_prompt_hash,
               e.max_tokens, e.output_tokens, e.reasoning_tokens, e.reasoning_effort,
               e.model_requested, e.temperature, e.top_p,
               e.ip_prefix_hash, e.client_ip_hash, e.asn, e.sdk_fingerprint, e.user_agent,
               {signals}
        FROM events e {join}
        {where}
    """
    return SqlStep("scan_events", sql)


def account_feature_steps(*, has_accounts: bool) -> list[SqlStep]:
    """Per-account features over the window, plus per-day volume and release pivots."""
    t = PROMPT_SIGNAL_THRESHOLD
    steps = [
        SqlStep(
            "account_gaps",
            """
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
                FROM scan_events
            ) AS g
            """,
        ),
        SqlStep(
            "account_timing",
            """
            SELECT account_id,
                   CASE WHEN count(gap_s) >= 3 AND avg(gap_s) > 0
                        THEN stddev_pop(gap_s) / avg(gap_s) END AS interarrival_cv,
                   count(DISTINCT hour_of_day) AS active_hours,
                   avg(prefix_switch) AS prefix_switch_rate
            FROM account_gaps GROUP BY account_id
            """,
        ),
        SqlStep(
            "account_daily",
            """
            SELECT account_id, date_trunc('day', ts_start) AS day, count(*) AS events,
                   avg(CASE WHEN greatest(cot, grading, rewrite) >= 0.5 THEN 1.0 ELSE 0.0 END)
                       AS training_share
            FROM scan_events GROUP BY account_id, date_trunc('day', ts_start)
            """,
        ),
        SqlStep(
            "account_volume",
            """
            SELECT account_id, count(*) AS active_days, max(events) AS peak_day_events,
                   max(events / (prior_avg + 1.0)) AS volume_jump
            FROM (
                SELECT account_id, events,
                       coalesce(avg(events) OVER (PARTITION BY account_id ORDER BY day
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0.0) AS prior_avg
                FROM account_daily
            ) AS d GROUP BY account_id
            """,
        ),
        SqlStep(
            "account_capabilities",
            """
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
                    FROM scan_events GROUP BY account_id, capability
                ) AS shares
            ) AS c GROUP BY account_id
            """,
        ),
        SqlStep(
            "account_templates",
            """
            SELECT account_id,
                   sum(CASE WHEN uses >= 2 THEN uses ELSE 0 END) / sum(uses) AS templated_share,
                   max(uses) / sum(uses) AS top_template_share,
                   count(*) AS template_families
            FROM (
                SELECT account_id, template_family, count(*) AS uses
                FROM scan_events WHERE template_family IS NOT NULL
                GROUP BY account_id, template_family
            ) AS t GROUP BY account_id
            """,
        ),
        # A model is "released" in the data when it is first seen well after the data starts.
        SqlStep(
            "model_releases",
            """
            SELECT model, min(ts_start) AS released_at
            FROM scan_events WHERE model IS NOT NULL GROUP BY model
            HAVING min(ts_start) > (SELECT min(ts_start) FROM scan_events) + INTERVAL 24 HOUR
            """,
        ),
        SqlStep(
            "account_pivots",
            """
            SELECT e.account_id, r.model AS pivot_model, r.released_at,
                   avg(CASE WHEN e.model = r.model THEN 1.0 ELSE 0.0 END) AS pivot_share,
                   count(*) AS events_after_release
            FROM scan_events e
            JOIN model_releases r
              ON e.ts_start >= r.released_at AND e.ts_start < r.released_at + INTERVAL 24 HOUR
            JOIN (SELECT account_id, min(ts_start) AS first_seen FROM scan_events GROUP BY account_id) AS s
              ON s.account_id = e.account_id AND s.first_seen < r.released_at
            GROUP BY e.account_id, r.model, r.released_at
            """,
        ),
    ]
    account_cols = (
        "a.created_at, a.plan, a.verification, a.payment_fingerprint, "
        "date_diff('hour', a.created_at, f.first_seen) / 24.0 AS signup_age_days"
        if has_accounts
        else "CAST(NULL AS TIMESTAMPTZ) AS created_at, CAST(NULL AS VARCHAR) AS plan, "
        "CAST(NULL AS VARCHAR) AS verification, CAST(NULL AS VARCHAR) AS payment_fingerprint, "
        "CAST(NULL AS DOUBLE) AS signup_age_days"
    )
    account_join = "LEFT JOIN accounts a ON a.account_id = f.account_id" if has_accounts else ""
    steps.append(
        SqlStep(
            "account_features",
            f"""
            WITH f AS (
                SELECT account_id, count(*) AS events,
                       min(ts_start) AS first_seen, max(ts_start) AS last_seen,
                       avg(CASE WHEN greatest(cot, grading, rewrite) >= {t} THEN 1.0 ELSE 0.0 END)
                           AS training_share,
                       avg(CASE WHEN cot >= {t} THEN 1.0 ELSE 0.0 END) AS cot_share,
                       avg(CASE WHEN grading >= {t} THEN 1.0 ELSE 0.0 END) AS grading_share,
                       avg(CASE WHEN rewrite >= {t} THEN 1.0 ELSE 0.0 END) AS rewrite_share,
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
                FROM scan_events GROUP BY account_id
            )
            SELECT f.*, v.active_days, v.peak_day_events, v.volume_jump,
                   c.capabilities_used, c.top_capability_share, c.capability_entropy, c.top_capability,
                   c.valuable_share,
                   coalesce(t.templated_share, 0.0) AS templated_share,
                   coalesce(t.top_template_share, 0.0) AS top_template_share,
                   coalesce(t.template_families, 0) AS template_families,
                   tm.interarrival_cv, tm.active_hours, tm.prefix_switch_rate,
                   p.pivot_model, coalesce(p.pivot_share, 0.0) AS pivot_share,
                   {account_cols}
            FROM f
            LEFT JOIN account_volume v ON v.account_id = f.account_id
            LEFT JOIN account_capabilities c ON c.account_id = f.account_id
            LEFT JOIN account_templates t ON t.account_id = f.account_id
            LEFT JOIN account_timing tm ON tm.account_id = f.account_id
            LEFT JOIN (
                SELECT account_id, arg_max(pivot_model, pivot_share) AS pivot_model,
                       max(pivot_share) AS pivot_share
                FROM account_pivots GROUP BY account_id
            ) AS p ON p.account_id = f.account_id
            {account_join}
            """,
        )
    )
    return steps
