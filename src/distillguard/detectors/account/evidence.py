"""Subject evidence: every registered signal's score, the subject's own log-odds, and the
behaviour summary the graph uses to choose its nodes.

``own_logit`` is ``bias + sum(weight * score)`` over the scored signals: a subject's
own evidence on a log-odds scale, before any cluster or cohort it belongs to adds to it.
Its shares are shrunk for small samples (``shrunk``); the behaviour summary reads them
raw, because the graph's job is to tie young accounts whose few requests say little
alone.
``behaviour`` (the mean of the content and harvest summaries) and ``gate`` decide who
may become a node of the coordination graph: only accounts whose own behaviour already
looks like harvesting, so an office worker who merely shares a network with a hydra is
never pulled in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from distillguard.detectors.account import AccountSignal
from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlStep

OWN_RISK = DetectorSpec(
    "account.own_risk",
    "A subject's own risk",
    "account",
    "The log-odds that the subject (an account, or an end user inside one) is a distillation "
    "operation from its own evidence alone: a background bias plus each signal's weight times its "
    "score. Business-context signals have negative weights. Cluster and cohort evidence add to it.",
    (),
    {"bias": -5.0, "prior_events": 5},
    why={
        "bias": "background odds of about 1 in 150: with no evidence at all an account is ordinary, and "
        "it takes two or three strong, independent pieces of evidence to pass even odds",
        "prior_events": "a share measured over a few requests is mostly noise: it is read as if this "
        "many requests showing nothing had been added, so two requests out of two asking for reasoning "
        "is not yet a habit, while forty out of fifty still is",
    },
)

MEMBERSHIP = DetectorSpec(
    "graph.membership_gate",
    "Who may become a node of the coordination graph",
    "cluster",
    "Only subjects whose own behaviour summary (the mean of what they ask and how they collect) "
    "reaches the gate, with some training-shaped content or unmistakable harvesting, become graph "
    "nodes: infrastructure alone never creates an edge.",
    ("a fresh developer with big output limits behind a residential proxy",),
    {"gate": 0.3, "min_content": 0.15, "min_harvest": 0.6},
    why={
        "gate": "about a third of the behaviour scale: ordinary accounts stay well below it",
        "min_content": "plumbing alone (proxies, big limits) is not enough; some content must show",
        "min_harvest": "evasive campaigns dilute their content with ordinary prompts, but maximised "
        "outputs through rotating proxies from a fresh account are unmistakable",
    },
)


# Shares that signals read shrunk toward zero (``sh_<name>``): over a handful of requests a
# share is mostly noise. (Toward zero rather than the population's median: a warehouse
# holding a large campaign has a contaminated median, and zero can only under-state.)
SHRUNK_SHARES = (
    "training_share",
    "templated_share",
    "single_turn_share",
    "top_capability_share",
    "valuable_share",
    "high_effort_share",
)


def shrunk(column: str) -> str:
    """The name of ``column`` shrunk toward the population median (for signals' SQL)."""
    if column not in SHRUNK_SHARES:
        raise KeyError(f"{column} is not a shrunk share; add it to SHRUNK_SHARES")
    return f"sh_{column}"


def group_sql(signals: Sequence[AccountSignal], group: str, *, prefix: str = "g_") -> str:
    members = [s for s in signals if s.group == group and s.share_weight > 0]
    total = sum(s.share_weight for s in members)
    if not members:
        return "0.0"
    return "(" + " + ".join(f"{s.share_weight / total:.4f} * {prefix}{s.column[2:]}" for s in members) + ")"


def _unshrunk(sql: str) -> str:
    """A signal's SQL over the raw shares (the graph's gate reads what the requests show as is)."""
    return re.sub(r"\bsh_(\w+)", r"\1", sql)


def evidence_step(
    signals: Sequence[AccountSignal], *, source: str = "account_features", name: str = "account_behaviour"
) -> SqlStep:
    """Every signal's score per subject, the own log-odds, and the graph's behaviour gate."""
    inner = ",\n               ".join(f"{s.sql()} AS {s.column}" for s in signals)
    grouped = [s for s in signals if s.group in ("content", "harvest")]
    inner += "".join(f",\n               {_unshrunk(s.summary_sql())} AS g_{s.column[2:]}" for s in grouped)
    outer = ", ".join(s.column for s in signals)
    content, harvest = group_sql(signals, "content"), group_sql(signals, "harvest")
    behaviour = f"0.5 * {content} + 0.5 * {harvest}"
    logit = " + ".join(
        [repr(float(OWN_RISK["bias"]))] + [f"{s.weight!r} * {s.column}" for s in signals if s.weight != 0.0]
    )
    k = float(OWN_RISK["prior_events"])
    shrunk_columns = ", ".join(
        f"coalesce(f.{c}, 0.0) * f.events / (f.events + {k}) AS sh_{c}" for c in SHRUNK_SHARES
    )
    return SqlStep(
        name,
        f"""
        SELECT account_id, {outer},
               {content} AS content, {harvest} AS harvest,
               {behaviour} AS behaviour,
               {logit} AS own_logit,
               ({behaviour}) >= {MEMBERSHIP["gate"]}
                 AND ({content} >= {MEMBERSHIP["min_content"]}
                      OR {harvest} >= {MEMBERSHIP["min_harvest"]}) AS gate
        FROM (
            SELECT account_id, {inner}
            FROM (
                SELECT f.*, {shrunk_columns}
                FROM {source} AS f
            ) AS shrunk
        ) AS s
        """,
    )
