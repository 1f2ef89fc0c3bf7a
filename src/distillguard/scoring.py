"""Evidence -> risk in [0, 1], verdict, and the reasons behind both.

Behaviour scores per account are SQL (``behaviour_step``) because the graph
needs them to decide who may be a cluster member. Cluster and account risk are
combined in Python over the small aggregates (one row per account or cluster).

Design: an account on its own reaches ``extraction`` only when nearly every
behavioural signal fires at once; a *cluster* of coordinated accounts whose
members harvest together is scored as a whole, so many individually light
accounts are caught together. An evaluation harness (one research account
running benchmarks) or a university course (many accounts, ordinary homework)
lacks the combination: training-shaped harvesting *and* coordination *and*
evasion (fresh sign-ups, rotating proxies, maximised outputs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from distillguard.engine.base import SqlStep


def _ramp(expr: str, low: float, high: float) -> str:
    """SQL: 0 below ``low``, 1 above ``high``, linear between (NULL counts as 0)."""
    return f"least(1.0, greatest(0.0, (coalesce({expr}, {low}) - {low}) / {high - low}))"


# Prefixes over which proxy rotation's first term ramps up: an account needs at least the
# upper end in requests before it can score in full.
PROXY_PREFIX_RAMP = (2, 8)


@dataclass(frozen=True)
class Signal:
    """One account-level behavioural signal: its SQL score, weight and explanation."""

    detector_id: str
    column: str
    sql: str
    weight: float  # within its group
    value_column: str
    explain: str  # format string over the feature row
    group: str = "content"  # content (what is asked) | harvest (how it is collected)


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "account.training_shaped",
        "s_training",
        _ramp("training_share", 0.1, 0.5),
        0.5,
        "training_share",
        "{training_share:.0%} of {events} prompts elicit reasoning traces, rubric grading or rewrites "
        "(cot {cot_share:.0%}, grading {grading_share:.0%}, rewrite {rewrite_share:.0%})",
    ),
    Signal(
        "account.templated",
        "s_templated",
        _ramp("templated_share", 0.3, 0.9),
        0.2,
        "templated_share",
        "{templated_share:.0%} of prompts reuse the account's template families "
        "({template_families} families)",
    ),
    Signal(
        "account.capability_focus",
        "s_focus",
        # Concentrated on one valuable capability, or a sweep: nearly all traffic on
        # valuable capabilities spread systematically over several of them.
        "greatest(CASE WHEN top_capability = 'general' THEN 0.0 ELSE "
        + _ramp("top_capability_share", 0.5, 0.9)
        + " END, "
        + _ramp("valuable_share", 0.7, 0.95)
        + " * "
        + _ramp("capabilities_used", 2, 4)
        + ")",
        0.3,
        "top_capability_share",
        "{top_capability_share:.0%} of traffic on {top_capability}, {valuable_share:.0%} on valuable "
        "capabilities ({capabilities_used} used)",
    ),
    Signal(
        "account.token_max",
        "s_token_max",
        "greatest("
        + _ramp("avg_max_tokens", 4096, 16384)
        + ", "
        + _ramp("avg_output_tokens", 800, 2000)
        + ", "
        + _ramp("high_effort_share", 0.2, 0.6)
        + ")",
        0.35,
        "avg_max_tokens",
        "asks for up to {avg_max_tokens:.0f} output tokens on average, gets {avg_output_tokens:.0f}; "
        "{high_effort_share:.0%} at high reasoning effort",
        group="harvest",
    ),
    Signal(
        "account.single_turn",
        "s_single_turn",
        _ramp("single_turn_share", 0.5, 0.95),
        0.15,
        "single_turn_share",
        "{single_turn_share:.0%} of requests are single-turn",
        group="harvest",
    ),
    Signal(
        "account.proxy_rotation",
        "s_proxy",
        # Many prefixes per request, or (a heavy account drawing from a finite pool has a
        # low ratio) a new prefix on most consecutive requests across dozens of prefixes:
        # a router or a cloud service rotates too, but through a handful of egress ranges.
        "greatest("
        + _ramp("ip_prefixes / events", 0.15, 0.5)
        + " * "
        + _ramp("ip_prefixes", *PROXY_PREFIX_RAMP)
        + ", "
        + _ramp("prefix_switch_rate", 0.6, 0.9)
        + " * "
        + _ramp("ip_prefixes", 8, 32)
        + ")",
        0.3,
        "ip_prefixes",
        "{ip_prefixes} network prefixes and {asns} ASNs for {events} requests, "
        "{prefix_switch_rate:.0%} of consecutive requests on another prefix",
        group="harvest",
    ),
    Signal(
        "account.signup",
        "s_signup",
        "CASE WHEN plan IN ('education', 'research', 'startup', 'free') THEN 1.0 ELSE 0.5 END * "
        + _ramp("30.0 - signup_age_days", 0.0, 23.0),
        0.2,
        "signup_age_days",
        "created {signup_age_days:.1f} days before its first request, plan {plan}, "
        "verified by {verification}",
        group="harvest",
    ),
)

# Shown as evidence when strong, but not part of the behaviour score: each has a
# well-known benign twin (CI bots; launches; eval harnesses on release day).
AUX_SIGNALS: tuple[Signal, ...] = (
    Signal(
        "account.timing",
        "s_timing",
        f"CASE WHEN events >= 20 THEN {_ramp('0.6 - interarrival_cv', 0.0, 0.5)} ELSE 0.0 END",
        0.0,
        "interarrival_cv",
        "inter-arrival coefficient of variation {interarrival_cv:.2f} (machine-regular)",
    ),
    Signal(
        "account.volume_jump",
        "s_volume",
        _ramp("volume_jump", 3.0, 10.0),
        0.0,
        "volume_jump",
        "peak day {peak_day_events} requests, {volume_jump:.1f}x its own earlier daily average",
    ),
    Signal(
        "account.model_pivot",
        "s_pivot",
        _ramp("pivot_share", 0.2, 0.5),
        0.0,
        "pivot_share",
        "{pivot_share:.0%} of its traffic moved to newly released {pivot_model} within 24 h",
    ),
)

# Behaviour at or above which an account may become a cluster member.
MEMBERSHIP_GATE = 0.3
# ... and some training-shaped content: plumbing alone (proxies, big limits) is not enough.
MEMBERSHIP_MIN_CONTENT = 0.15
# ... or unmistakable harvesting (maximised outputs through rotating proxies from a
# fresh account): evasive campaigns dilute their content with ordinary prompts.
MEMBERSHIP_MIN_HARVEST = 0.6
# Share of a cluster's traffic on its busiest prefix over which it counts as co-located,
# and the member count at which a co-located group counts as many accounts.
COLOCATED_PREFIX_SHARE = (0.6, 0.9)
COLOCATED_MANY = 30
# Component score at which a signal is reported as a reason.
REASON_MIN = 0.5

# The proxy signal's weight in the harvest group: with PROXY_PREFIX_RAMP, what a member
# with few requests structurally cannot show.
PROXY_SHARE_OF_HARVEST = next(s.weight for s in SIGNALS if s.column == "s_proxy") / sum(
    s.weight for s in SIGNALS if s.group == "harvest"
)


def behaviour_step() -> SqlStep:
    """``account_behaviour``: every signal's score, content and harvest scores, behaviour, gate.

    ``content`` says what the account asks for (training-shaped, templated,
    focused); ``harvest`` how it collects (maximised outputs, rotating proxies,
    one-shot requests, fresh sign-ups through abused pathways). Behaviour is
    their mean, so ordinary homework (content without harvest) and a proxy-heavy
    app (harvest-like plumbing without content) both stay low.
    """
    every = (*SIGNALS, *AUX_SIGNALS)
    inner = ",\n               ".join(f"{s.sql} AS {s.column}" for s in every)
    outer = ", ".join(s.column for s in every)
    groups = {}
    for group in ("content", "harvest"):
        members = [s for s in SIGNALS if s.group == group]
        total = sum(s.weight for s in members)
        groups[group] = "(" + " + ".join(f"{s.weight / total:.4f} * {s.column}" for s in members) + ")"
    behaviour = f"0.5 * {groups['content']} + 0.5 * {groups['harvest']}"
    return SqlStep(
        "account_behaviour",
        f"""
        SELECT account_id, {outer},
               {groups["content"]} AS content, {groups["harvest"]} AS harvest,
               {behaviour} AS behaviour,
               ({behaviour}) >= {MEMBERSHIP_GATE}
                 AND ({groups["content"]} >= {MEMBERSHIP_MIN_CONTENT}
                      OR {groups["harvest"]} >= {MEMBERSHIP_MIN_HARVEST}) AS gate
        FROM (
            SELECT account_id, {inner}
            FROM account_features
        ) AS s
        """,
    )


def verdict(risk: float, *, watch: float, extraction: float) -> str:
    if risk >= extraction:
        return "extraction"
    if risk >= watch:
        return "watch"
    return "ok"


def account_reasons(row: Mapping[str, Any]) -> list[tuple[str, float, float, str]]:
    """(detector_id, score, value, text) for each signal that fired on this account."""
    fired = []
    for signal in (*SIGNALS, *AUX_SIGNALS):
        score = float(row.get(signal.column) or 0.0)
        if score < REASON_MIN:
            continue
        values = {k: (v if v is not None else 0) for k, v in row.items()}
        try:
            text = signal.explain.format(**values)
        except (KeyError, ValueError, TypeError):
            text = signal.detector_id
        fired.append((signal.detector_id, score, float(row.get(signal.value_column) or 0.0), text))
    return fired


def _ramp_py(x: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (x - low) / (high - low)))


@dataclass(frozen=True)
class ClusterRisk:
    risk: float
    parts: dict[str, float]


def cluster_risk(row: Mapping[str, Any]) -> ClusterRisk:
    """Risk of a cluster as a whole.

    Harvesting behaviour averaged over members, amplified by how many accounts
    move together and by coordination evidence (shared records, templates,
    lockstep); a cluster of ordinary accounts stays low whatever its size.
    """
    members = int(row["accounts"] or 0)
    behaviour = float(row["mean_behaviour"] or 0.0)
    harvest = float(row.get("mean_harvest") or 0.0)
    # How many accounts count as "many" depends on how they reach us. Accounts spread over
    # many networks (their own or rotating proxies) are many at six. Accounts whose traffic
    # nearly all comes through one network prefix are a team behind an office or campus
    # NAT: four new accounts at a startup running a coding tool with big limits are an
    # ordinary team, so a co-located group counts as many only at office scale (thirty).
    colocated = _ramp_py(float(row.get("top_prefix_share") or 0.0), *COLOCATED_PREFIX_SHARE)
    size = _ramp_py(members, 1, 6 + (COLOCATED_MANY - 6) * colocated)
    # Many light accounts that move together are caught by their number; a hydra that is
    # still ramping up has only two or three so far. What it has instead is what its
    # accounts are: freshly created on a self-serve pathway (mean sign-up signal) and
    # asking for training data (mean training-shaped share). A small tied group of such
    # accounts counts as if it were this large; each half alone has a benign twin (a
    # class of new students; an old eval harness), so it takes both. The ramp on
    # training-shaped content starts at 0.25, above a homework class's reasoning cues, and
    # is full at 0.5 (docs/detectors.md, Hydra clusters, the cluster score).
    fresh_training = float(row.get("mean_signup") or 0.0) * _ramp_py(
        float(row.get("mean_training") or 0.0), 0.25, 0.5
    )
    size = max(size, fresh_training)
    coordination = max(
        float(row.get("template_tie") or 0.0),
        float(row.get("record_tie") or 0.0),
        _ramp_py(float(row.get("lockstep_ratio") or 0.0), 2.0, 6.0),
    )
    # Both what is asked and how it is collected: a course's shared homework or a
    # team's shared tool has the first without the second.
    harvesting = _ramp_py(behaviour, 0.25, 0.45) * _ramp_py(harvest, 0.2, 0.45)
    risk = harvesting * (0.55 + 0.3 * size + 0.15 * coordination)
    return ClusterRisk(
        min(1.0, risk),
        {
            "harvesting": harvesting,
            "harvest": harvest,
            "size": size,
            "coordination": coordination,
            "colocated": colocated,
        },
    )


def member_consistency(
    behaviour: float,
    content: float,
    cluster_mean_behaviour: float,
    cluster_mean_content: float,
    *,
    harvest: float = 0.0,
    cluster_mean_harvest: float = 0.0,
    events: int | None = None,
    cluster_mean_proxy: float = 0.0,
) -> float:
    """How much of its cluster's risk a member inherits: all of it when it behaves like the
    cluster, less when it is a milder account tied in by shared infrastructure (a phone on
    the same residential range asks for nothing training-shaped at all).

    A member matches its cluster either in what it asks (content at least half the
    cluster's mean) or in how it collects (harvest at least 0.8 of the cluster's mean:
    maximised outputs through rotating proxies from a fresh account). Evasive campaigns
    mix ordinary prompts into half their traffic, so some members show almost no
    training-shaped content while harvesting exactly like the rest (tiny benchmark:
    harvest 0.79 against the cluster's 0.78, content 0.01); a phone on a shared range
    harvests nothing and still inherits little.

    With ``events`` the comparison is on what the member's sample can show: proxy rotation
    scores at most ``ramp(requests, 2, 8)`` (an account cannot use more prefixes than it
    sent requests), so a two-request member of a rotating hydra shows none of it however
    its two requests left. The part of the cluster's mean proxy score above that ceiling is
    taken out of the cluster's means before comparing; from eight requests on nothing changes.
    """
    if events is not None and cluster_mean_proxy > 0:
        unreachable = max(0.0, cluster_mean_proxy - proxy_ceiling(events)) * PROXY_SHARE_OF_HARVEST
        cluster_mean_harvest = max(0.0, cluster_mean_harvest - unreachable)
        cluster_mean_behaviour = max(0.0, cluster_mean_behaviour - 0.5 * unreachable)
    if cluster_mean_behaviour <= 0:
        return 0.0
    by_behaviour = min(1.0, behaviour / (0.6 * cluster_mean_behaviour))
    by_content = min(1.0, content / (0.5 * cluster_mean_content)) if cluster_mean_content > 0.02 else 1.0
    by_harvest = min(1.0, harvest / (0.8 * cluster_mean_harvest)) if cluster_mean_harvest > 0.02 else 0.0
    return min(by_behaviour, max(by_content, by_harvest))


def proxy_ceiling(events: int) -> float:
    """The highest proxy-rotation score an account with this many requests can reach."""
    return _ramp_py(float(events), *PROXY_PREFIX_RAMP)


def account_own_risk(behaviour: float) -> float:
    """An account alone: squared, so only near-total behaviour reaches extraction."""
    return max(0.0, min(1.0, behaviour)) ** 2


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_LONG_NUMBER = re.compile(r"\d{6,}")


def redact_sample(text: str | None, prompt_hash: str | None, *, text_storage: str, limit: int = 160) -> str:
    """A prompt excerpt safe to show: no text when only fingerprints are kept; emails masked."""
    if text_storage != "store" or not text:
        return f"prompt {prompt_hash[:16]}" if prompt_hash else "prompt (text not stored)"
    cleaned = _LONG_NUMBER.sub("<number>", _EMAIL.sub("<email>", " ".join(text.split())))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def combine_partner(risk: float, confidences: Sequence[float]) -> float:
    """A partner sighting raises risk like independent evidence (noisy-or at half weight)."""
    for confidence in confidences:
        risk = 1.0 - (1.0 - risk) * (1.0 - 0.5 * max(0.0, min(1.0, confidence)))
    return risk
