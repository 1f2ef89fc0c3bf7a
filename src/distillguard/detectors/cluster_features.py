"""Cluster features: one row per cluster with what its members do and what ties them.

Read by ``scoring.cluster_risk``: the members' behaviour averages, how many members each
kind of shared value ties, lockstep, and how concentrated the cluster's traffic is on
one network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distillguard.detectors.account import ramp_py
from distillguard.detectors.account.coverage import one_shot_training
from distillguard.detectors.graph_edges import MIN_PURITY, ORDINARY_BELOW
from distillguard.detectors.spec import DetectorSpec
from distillguard.detectors.young_ties import corroborating_kinds
from distillguard.engine.base import SqlStep

CLUSTER_RISK = DetectorSpec(
    "cluster.risk",
    "Coordinated cluster",
    "cluster",
    "A cluster of accounts tied by what they share (cards, scaffolds, request shapes, proxy pools, "
    "sign-up bursts) is scored as a whole: how much its members harvest, how many move together, and "
    "how strongly they are tied. A member adds the cluster's strength to its own log-odds in proportion "
    "to how much it behaves like the cluster, and only when its own ties to fellow members span two "
    "independent families (network, client and script, account records): one common tie (a popular "
    "agent framework's scaffold and default settings) never makes a member.",
    (
        "a team behind one office network (co-located: counts as many only at office scale)",
        "several verified accounts of one vendor on one card (records only: one family)",
    ),
    {
        "behaviour_low": 0.25,
        "behaviour_high": 0.45,
        "harvest_low": 0.2,
        "harvest_high": 0.45,
        "own_risk_low": 0.1,
        "own_risk_high": 0.5,
        "many_accounts": 6,
        "colocated_many": 30,
        "colocated_share_low": 0.6,
        "colocated_share_high": 0.9,
        "fresh_training_low": 0.25,
        "fresh_training_high": 0.5,
        "lockstep_low": 2.0,
        "lockstep_high": 6.0,
        "coverage_low": 0.1,
        "coverage_high": 0.4,
        "collected_low": 0.25,
        "collected_high": 1.0,
        "class_min_accounts": 10,
        "class_min_items": 2,
        "size_weight": 5.0,
        "coordination_weight": 2.0,
        "weight": 1.0,
        "min_tie_families": 2,
        "single_family_own_risk": 0.5,
        "single_family_max_established": 0.5,
        "established_member_events": 6,
        "young_member_days": 14.0,
        "min_young_tie_kinds": 2,
        "member_own_low": -4.5,
        "member_own_high": -3.0,
        "light_member_events": 30,
        "fit_behaviour": 0.6,
        "fit_content": 0.5,
        "fit_harvest": 0.8,
        "background_share": 0.01,
        "background_min_holders": 3,
    },
    why={
        "behaviour_low": "ordinary accounts' behaviour summary sits below a quarter",
        "behaviour_high": "members averaging this much are harvesting as a group",
        "harvest_low": "the harvest summary of an ordinary team is near zero",
        "harvest_high": "maximised outputs, one-shot requests, proxies, fresh sign-ups across members",
        "own_risk_low": "members whose own evidence averages a tenth are an ordinary group",
        "own_risk_high": "members averaging even odds on their own evidence harvest as a group",
        "many_accounts": "six accounts reaching us through many networks are more than a team's tests",
        "colocated_many": "behind one office or campus NAT a team of thirty is still an office",
        "colocated_share_low": "a cluster with most traffic on one prefix starts to look co-located",
        "colocated_share_high": "nearly all traffic through one prefix is one site",
        "fresh_training_low": "a class of new students asks for reasoning now and then",
        "fresh_training_high": "fresh accounts asking for training data half the time are a hydra "
        "still ramping up, whatever its size",
        "lockstep_low": "independent accounts share busy ten-minute buckets by chance",
        "lockstep_high": "six times chance is one scheduler",
        "coverage_low": "when nine in ten of a cluster's one-shot training-shaped requests re-ask items its "
        "members already asked, it is a class sharing a handful of exercises or a test suite, not a harvest",
        "coverage_high": "a harvest may sample two or three answers per item (a known distillation "
        "technique), so from four new items in ten it counts in full",
        "collected_low": "substantive answers (account.nothing_collected) per member: a cluster whose "
        "accounts received fewer than one in four between them, however they rotate and however "
        "coordinated, only checked that the service answers (CI jobs on shared cloud runners) and "
        "harvested nothing",
        "collected_high": "a harvest's accounts each receive answers worth training on, its quietest "
        "members ordinary ones, so from one per member on average the cluster counts in full",
        "class_min_accounts": "an item (the exact text of a one-shot training-shaped request) asked by "
        "ten separate accounts is a shared exercise or benchmark question, not a harvested item. A harvest "
        "samples a few answers per item at most and may spread them over its accounts, and harvesters "
        "drawing from the same public question sets collide now and then: a handful of accounts per "
        "item is not yet a class",
        "class_min_items": "a member is judged on its own items only from two one-shot training-shaped "
        "requests: one item that others also ask is a coincidence (a hydra account that sent one), a "
        "team working through a shared exercise list asks several",
        "size_weight": "log-odds a member gains when many harvesting accounts move together: the hydra "
        "pattern, strong enough to carry a thin member (two requests) that shows little on its own",
        "coordination_weight": "log-odds for shared cards, scaffolds and lockstep on top: they confirm "
        "one operator but small teams share them too",
        "weight": "scale of the whole cluster term (1: the size and coordination weights are log-odds)",
        "min_tie_families": "two independent coincidences: one family alone (the same framework, the same "
        "card, the same ISP) has common benign twins",
        "single_family_own_risk": "a member with history whose ties to fellow members are of one family "
        "(a scaffold and a request shape: client and script) still joins when its own evidence alone "
        "puts it at even odds, the watch line: the two-family rule keeps an account at background odds "
        "from inheriting a cluster's risk through one framework's defaults, and such an account is far "
        "below this. One already harvesting visibly on its own, whose scaffold and settings only "
        "harvesting accounts hold, is one of the operation's accounts given its own card and exit (an "
        "agentic sweep's or a grader cluster's). It still needs two kinds of pure value "
        "(min_young_tie_kinds), as a young member does",
        "single_family_max_established": "that exception holds only for an account the provider has known "
        "for less than about half a year (account.established under half): an operation opens its "
        "accounts for itself, while a customer of long standing shares its own tooling across its own "
        "accounts by nature (one company's evaluation harness, four accounts on one scaffold and one "
        "request shape, each near the watch line on its grading volume alone, forms such a cluster)",
        "established_member_events": "members with fewer requests than this cannot show their ties "
        "yet; they join through corroboration (several pure values at once) instead",
        "young_member_days": "an account created within two weeks before its traffic and still light "
        "(under thirty requests) is judged by its cluster: a swarm of fresh accounts, each with its own "
        "card and address, shares only its script, and that is the tie to see. A fresh account with more "
        "requests is held to the same ties (min_young_tie_kinds), and must show evidence of its own "
        "(member_own_*): an operation's account given its own card and exit shows only its script "
        "however much it sends, and requiring two families of it made a fresh account with thirty "
        "requests harder to tie than one with twenty-nine",
        "light_member_events": "thirty requests over the window is still a light account: below it, a "
        "young account is judged by its cluster without evidence of its own",
        "member_own_low": "membership needs its own evidence: a member with history whose own log-odds sit "
        "near the background (no training-shaped content, no harvesting plumbing, one weak signal) gains "
        "nothing from its cluster, however strong the cluster (young, light members are judged by it)",
        "member_own_high": "a member showing a couple of pieces of its own evidence (a fresh sign-up asking "
        "for a reasoning trace with big limits) gains the cluster's full weight",
        "min_young_tie_kinds": "a young member (light or not) still needs two kinds of pure shared value (a "
        "scaffold and a request shape, a prefix and a client build): one popular default setting is a "
        "coincidence. For a fresh account past light_member_events, kinds are counted as independent "
        "coincidences, as for young accounts' links: a client IP inside a shared prefix, or a "
        "same-pathway sign-up window inside a creation burst, is one, and a creation burst counts only "
        "beside a script-level value. A young, light account's kinds are counted one by one: counting "
        "them that way too took more attackers than look-alikes off extraction",
        "fit_behaviour": "a member behaving at least this fraction as strongly as the cluster's mean is "
        "one of them",
        "fit_content": "evasive campaigns mix ordinary prompts into half their traffic: half the "
        "cluster's content is enough",
        "fit_harvest": "or it collects the way the others do (maximised outputs, proxies, fresh sign-up) "
        "at four fifths of the cluster's mean",
        "background_share": "a member's ties of one kind are its cluster's background, not its "
        "script, when at least one in a hundred of the provider's clearly ordinary customers (behaviour "
        "below graph.links.ordinary_below) outside the cluster hold as many of the cluster's values of "
        "that kind as the member does: one prefix of a residential proxy pool large enough to cover "
        "the neighbourhoods the provider's customers live in, a popular framework's scaffold or default "
        "settings, the SDK release of the month. Each value is pure on its own (nearly every holder "
        "harvesting), but over hundreds of ordinary customers several land on one of a thousand such "
        "values by chance, so a member sharing as little proves nothing; the kind does not count among "
        "its ties (it still explains the cluster). For a young, light account (under thirty requests, "
        "created within young_member_days) only its exits are judged so: it can hold one value of a "
        "kind at most, like any customer, and its script's settings, scaffold, client build and sign-up "
        "hour are judged by their combination (two kinds of pure value, min_young_tie_kinds), as the "
        "swarms' accounts of two to six requests must be; judging those by the background too lost "
        "swarm members by the hundred. An exit is different: a residential proxy's exit is somebody's "
        "home connection, so a pool that covers the customers' neighbourhoods is shared with ordinary "
        "households by construction, whatever the account's age. A hydra account rotating through "
        "dozens of the pool's prefixes, or running a dozen of its scaffolds, is held by no ordinary "
        "customer that far, and neither is a rented datacenter range, a card or a sign-up burst: those "
        "keep counting",
        "background_min_holders": "at least three ordinary customers must hold that many of the "
        "cluster's values of a kind: on a small population one or two are the noise of a share, not "
        "a rate",
    },
)

# Families of shared values that are independent of each other.
TIE_FAMILIES: dict[str, tuple[str, ...]] = {
    "network": ("ip_prefix", "client_ip", "asn"),
    "client and script": ("sdk", "template", "shape"),
    "account records": ("payment", "signup", "created"),
}

# Kinds that are one coincidence with another when counting a member's kinds of tie: a
# shared client IP lies in a shared prefix (and ASN), and a same-pathway sign-up window is a
# creation burst. Counted as the kind they imply, so a home address that is also one of a
# pool's exits is one kind, not two.
SAME_COINCIDENCE: dict[str, str] = {"client_ip": "ip_prefix", "asn": "ip_prefix", "signup": "created"}


@dataclass(frozen=True)
class ClusterStrength:
    strength: float
    parts: dict[str, float]


def cluster_strength(
    row: Mapping[str, Any], p: Mapping[str, Any] = CLUSTER_RISK.parameters
) -> ClusterStrength:
    """How strongly a cluster as a whole looks like one harvesting operation, in [0, 1]."""
    members = int(row["accounts"] or 0)
    colocated = ramp_py(
        float(row.get("top_prefix_share") or 0.0), p["colocated_share_low"], p["colocated_share_high"]
    )
    many = p["many_accounts"] + (p["colocated_many"] - p["many_accounts"]) * colocated
    size = ramp_py(members, 1, many)
    fresh_training = float(row.get("mean_signup") or 0.0) * ramp_py(
        float(row.get("mean_training") or 0.0), p["fresh_training_low"], p["fresh_training_high"]
    )
    size = max(size, fresh_training)
    # A team behind one office shares its tool, its sign-up week and its hours by nature:
    # coordination only counts as far as the members reach us from different places.
    coordination = (1.0 - colocated) * max(
        float(row.get("template_tie") or 0.0),
        float(row.get("record_tie") or 0.0),
        ramp_py(float(row.get("lockstep_ratio") or 0.0), p["lockstep_low"], p["lockstep_high"]),
    )
    # Both what is asked and how it is collected (a course's shared homework or a team's
    # shared tool has the first without the second), or members whose own evidence
    # already makes them likely harvesters.
    behaviour = ramp_py(float(row["mean_behaviour"] or 0.0), p["behaviour_low"], p["behaviour_high"])
    harvest = ramp_py(float(row.get("mean_harvest") or 0.0), p["harvest_low"], p["harvest_high"])
    own = ramp_py(float(row.get("mean_own_risk") or 0.0), p["own_risk_low"], p["own_risk_high"])
    # the members' traffic pooled: mostly training-shaped, collected the harvesting way
    pooled = ramp_py(
        float(row.get("mean_training") or 0.0), p["fresh_training_low"], p["fresh_training_high"]
    )
    harvesting = max(behaviour * harvest, own, pooled * harvest)
    # ... of new items: members re-asking each other's items are a class or a test suite
    # ... or re-asking what other accounts ask: a course's teams each pool the same exercises
    coverage = min(
        float(row.get("pooled_distinct", 1.0) or 0.0), float(row.get("pooled_unshared", 1.0) or 0.0)
    )
    harvesting *= ramp_py(coverage, p["coverage_low"], p["coverage_high"])
    # ... and of answers worth training on: CI jobs rotating through cloud runners harvest none
    collected = float(row.get("collected_per_member", p["collected_high"]) or 0.0)
    harvesting *= ramp_py(collected, p["collected_low"], p["collected_high"])
    # In log-odds, what the cluster adds to a member is its coordination (how many move
    # together, how tightly tied), as far as its members harvest: a member's own harvesting
    # is already in its own evidence and is not counted twice.
    logit = harvesting * (p["size_weight"] * size + p["coordination_weight"] * coordination)
    top = p["size_weight"] + p["coordination_weight"]
    return ClusterStrength(
        min(1.0, logit / top),
        {"harvesting": harvesting, "size": size, "coordination": coordination, "colocated": colocated,
         "logit": logit},
    )


# The requests coverage is judged on, over ``scan_events e``: one-shot and training-shaped.
ONE_SHOT_TRAINING = one_shot_training("e")


def shared_items_step() -> SqlStep:
    """``shared_items``: one-shot training-shaped items (exact texts) asked by many accounts.

    A harvest collects items nobody else asks (at most a few answers each, which a hydra
    may spread over its accounts); a class, a hackathon or a public benchmark has many
    accounts ask the same ones (``class_min_accounts``). Clusters and their members are judged on how
    much of what they ask is in here.
    """
    return SqlStep(
        "shared_items",
        f"""
        SELECT e.prompt_hash FROM scan_events e
        WHERE {ONE_SHOT_TRAINING} AND e.prompt_hash IS NOT NULL
        GROUP BY e.prompt_hash HAVING count(DISTINCT e.account_id) >= {CLUSTER_RISK["class_min_accounts"]}
        """,
    )


def member_tie_families_step(p: Mapping[str, Any] = CLUSTER_RISK.parameters) -> SqlStep:
    """``member_tie_families``: per member, the families of pure values it shares with fellow members.

    Only values nearly all of whose holders are behaviour-gated count (as for links): a
    residential /24 that a proxy pool exits through is also home to ordinary users, and
    sharing it with a hydra is no tie at all. A member holding no more of its cluster's values
    of a kind than many ordinary customers outside it hold (``background_share``: one prefix of
    a pool of thousands of residential prefixes, a popular scaffold) shares that kind's
    background, not the cluster's script: the kind is listed (``background_kinds``) and left out
    of ``families`` and ``independent_kinds``, which judge a member with history (a young, light
    member is judged on ``tie_kinds`` less its background exits, in scoring).
    """
    family = " ".join(
        f"WHEN h.kind IN ({', '.join(repr(k) for k in kinds)}) THEN '{name}'"
        for name, kinds in TIE_FAMILIES.items()
    )
    independent = (
        "CASE "
        + " ".join(f"WHEN h.kind = '{k}' THEN '{v}'" for k, v in SAME_COINCIDENCE.items())
        + " ELSE h.kind END"
    )
    return SqlStep(
        "member_tie_families",
        f"""
        WITH pure AS (
            SELECT kind, value FROM indicator_stats
            WHERE suspicious_holders >= 2 AND suspicious_holders >= {MIN_PURITY} * holders
            UNION
            SELECT kind, value FROM indicator_purity
        ),
        held AS (
            SELECT m.account_id, m.cluster_id, i.kind, i.value
            FROM cluster_members m
            JOIN account_indicators i ON i.account_id = m.account_id
            JOIN pure p ON p.kind = i.kind AND p.value = i.value
        ),
        -- values two or more members of one cluster hold (a young member's single use counts)
        shared AS (
            SELECT cluster_id, kind, value FROM held
            GROUP BY cluster_id, kind, value HAVING count(DISTINCT account_id) >= 2
        ),
        ordinary AS (SELECT account_id FROM account_behaviour WHERE behaviour < {ORDINARY_BELOW}),
        -- how many of a cluster's shared values of each kind each ordinary customer outside it
        -- holds (one residential prefix of a pool; a popular scaffold)
        ordinary_held AS (
            SELECT s.cluster_id, s.kind, i.account_id, count(DISTINCT s.value) AS n
            FROM shared s
            JOIN account_indicators i ON i.kind = s.kind AND i.value = s.value
            JOIN ordinary o ON o.account_id = i.account_id
            LEFT JOIN cluster_members m ON m.account_id = i.account_id AND m.cluster_id = s.cluster_id
            WHERE m.account_id IS NULL
            GROUP BY s.cluster_id, s.kind, i.account_id
        ),
        -- per cluster and kind, the most values that as many ordinary customers as the
        -- background bound all hold: a member holding no more than that is like them
        background AS (
            SELECT cluster_id, kind, n AS background_n FROM (
                SELECT cluster_id, kind, n,
                       row_number() OVER (PARTITION BY cluster_id, kind ORDER BY n DESC) AS rn
                FROM ordinary_held
            ) AS r
            WHERE rn = CAST(ceil(greatest({int(p["background_min_holders"])},
                                          {float(p["background_share"])} * (SELECT count(*) FROM ordinary)))
                            AS BIGINT)
        ),
        member_held AS (
            SELECT h.account_id, h.cluster_id, h.kind, count(DISTINCT h.value) AS n
            FROM held h
            JOIN shared s ON s.cluster_id = h.cluster_id AND s.kind = h.kind AND s.value = h.value
            GROUP BY h.account_id, h.cluster_id, h.kind
        ),
        tied AS (
            SELECT h.account_id, h.cluster_id, h.kind, coalesce(h.n <= b.background_n, false) AS background
            FROM member_held h
            LEFT JOIN background b ON b.cluster_id = h.cluster_id AND b.kind = h.kind
        ),
        ties AS (
            SELECT h.account_id, h.cluster_id,
                   -- every kind shared (scoring.cluster_membership counts a young, light member's
                   -- from these and ``background_kinds``)
                   list_sort(list(DISTINCT h.kind)) AS tie_kinds,
                   -- a member with history: only what is not the cluster's background counts,
                   -- by independent kinds (SAME_COINCIDENCE) as for young accounts' links, a
                   -- creation burst only beside a script-level kind
                   count(DISTINCT CASE WHEN NOT h.background THEN CASE {family} END END) AS families,
                   {corroborating_kinds(f"CASE WHEN NOT h.background THEN {independent} END")}
                       AS independent_kinds,
                   -- NULL, not an empty list, when there are none (the engines differ on an
                   -- aggregate over no rows)
                   CASE WHEN bool_or(h.background)
                        THEN list_sort(list(DISTINCT h.kind) FILTER (WHERE h.background)) END
                       AS background_kinds
            FROM tied h
            GROUP BY h.account_id, h.cluster_id
        ),
        -- the member's own coverage: the share of its one-shot training-shaped requests asking
        -- an item no other account asked (NULL when it sent none)
        own_items AS (
            SELECT e.account_id, avg(CASE WHEN si.prompt_hash IS NULL THEN 1.0 ELSE 0.0 END) AS unshared,
                   count(*) AS items
            FROM scan_events e
            LEFT JOIN shared_items si ON si.prompt_hash = e.prompt_hash
            WHERE e.account_id IN (SELECT account_id FROM ties) AND {ONE_SHOT_TRAINING}
            GROUP BY e.account_id
        )
        SELECT t.*, o.unshared, o.items FROM ties t LEFT JOIN own_items o ON o.account_id = t.account_id
        """,
    )


def cluster_features_step() -> SqlStep:
    """``cluster_features``: one row per cluster with behaviour averages and tie strengths."""
    return SqlStep(
        "cluster_features",
        f"""
        WITH judged AS (
            -- what the cluster does is judged on its gated members (every member of the pair
            -- graph is, and most satellites): an account that joined below the gate (a young
            -- one, one sending through the cluster's exits) inherits the cluster's character,
            -- it does not dilute it
            SELECT m.cluster_id, m.account_id, f.events, f.training_share, f.first_seen, f.last_seen,
                   f.substantive_exchanges,
                   b.behaviour, b.content, b.harvest, b.s_token_max, b.s_proxy, b.s_signup,
                   b.s_templated, b.own_logit,
                   b.gate OR NOT bool_or(b.gate) OVER (PARTITION BY m.cluster_id) AS judged
            FROM cluster_members m
            JOIN account_features f ON f.account_id = m.account_id
            JOIN account_behaviour b ON b.account_id = m.account_id
        ),
        base AS (
            SELECT cluster_id, count(*) AS accounts, sum(events) AS events,
                   avg(behaviour) FILTER (WHERE judged) AS mean_behaviour,
                   avg(content) FILTER (WHERE judged) AS mean_content,
                   avg(harvest) FILTER (WHERE judged) AS mean_harvest,
                   sum(training_share * events) FILTER (WHERE judged)
                       / sum(events) FILTER (WHERE judged) AS mean_training,  -- pooled over requests
                   avg(s_token_max) FILTER (WHERE judged) AS mean_token_max,
                   avg(s_proxy) FILTER (WHERE judged) AS mean_proxy,
                   avg(s_signup) FILTER (WHERE judged) AS mean_signup,
                   avg(s_templated) FILTER (WHERE judged) AS mean_templated,
                   avg(events) AS mean_events,
                   -- over every member: what the cluster as a whole received
                   avg(coalesce(substantive_exchanges, 0)) AS collected_per_member,
                   avg(1.0 / (1.0 + exp(-own_logit))) FILTER (WHERE judged) AS mean_own_risk,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM judged
            GROUP BY cluster_id
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
        -- pooled coverage: of the members' one-shot training-shaped requests, the share asking an
        -- item no other request of the cluster asked (a class shares its exercises; a harvest does
        -- not). Multi-turn requests are left out: an agent loop's last turn repeats boilerplate.
        -- ``pooled_unshared`` asks the same of the whole population: the share asking an item no
        -- other account asked at all (a hackathon's teams re-ask the exercises of every other team).
        coverage AS (
            SELECT m.cluster_id,
                   count(DISTINCT e.prompt_hash) / greatest(1.0, count(e.prompt_hash)) AS pooled_distinct,
                   avg(CASE WHEN si.prompt_hash IS NULL THEN 1.0 ELSE 0.0 END) AS pooled_unshared
            FROM cluster_members m JOIN scan_events e ON e.account_id = m.account_id
            LEFT JOIN shared_items si ON si.prompt_hash = e.prompt_hash
            WHERE {ONE_SHOT_TRAINING}
            GROUP BY m.cluster_id
        ),
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
               coalesce(n.top_prefix_events, 0) / greatest(b.events, 1) AS top_prefix_share,
               coalesce(cv.pooled_distinct, 1.0) AS pooled_distinct,
               coalesce(cv.pooled_unshared, 1.0) AS pooled_unshared
        FROM base b
        LEFT JOIN ties t ON t.cluster_id = b.cluster_id
        LEFT JOIN cluster_lockstep l ON l.cluster_id = b.cluster_id
        LEFT JOIN network n ON n.cluster_id = b.cluster_id
        LEFT JOIN coverage cv ON cv.cluster_id = b.cluster_id
        """,
    )
