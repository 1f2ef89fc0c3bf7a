"""Cohorts: many new, light accounts collecting the same kind of content in the same
window, with no item asked twice.

The 2026 campaigns moved to thousands of accounts at two to six requests each, every one
with its own card, client and residential address: nothing ties them pairwise, so the
graph never sees them, and each alone is too light to judge. Together they are a data
set being collected. A cohort groups the young, light accounts first seen in the same
window by what they mostly collect (reasoning traces, grades, rewrites, or agent and
tool-use transcripts, which the disclosures name as harvested capabilities), and is
judged as a whole: how many there are, how much more of what they ask is of that kind
than the provider's established customers ask, and whether they cover new items (a
harvest) or repeat the same ones (a class, a hackathon, a benchmark). A member gains
from its cohort only in proportion to its own share of the cohort's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import ramp_py
from distillguard.detectors.account.coverage import one_shot_training
from distillguard.detectors.account.harvest_volume import TOOL_WORK
from distillguard.detectors.graph_edges import CORROBORATION_KINDS, CORROBORATION_MIN_KINDS, SCRIPT_KINDS
from distillguard.detectors.spec import DetectorSpec
from distillguard.detectors.young_ties import corroborating_kinds
from distillguard.engine.base import SqlStep
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "cohort.training_swarm",
    "Swarm of new, light accounts harvesting the same kind of content (traces, grades, rewrites, agent work)",
    "cohort",
    "Young accounts with few requests, first seen in the same window, whose harvested items no "
    "other young account asked, grouped by what they mostly collect: a training-shaped class, or agent "
    "and tool-use work. A cohort scores by its size, its share of that kind above the provider's "
    "established customers' median, and its coverage (distinct items); each member adds that score to "
    "its own log-odds in proportion to its own share of the kind.",
    (
        "a course or hackathon week (hundreds of new accounts, but the same exercises: low coverage)",
        "a tutoring app's users (they are end users of one account, not accounts)",
        "a coding-agent launch day: many new accounts each running a few agent sessions on their own "
        "code (judged by how far above the established customers' agent share the cohort sits)",
    ),
    {
        "light_max_events": 30,
        "young_max_days": 14.0,
        "window_hours": 24,
        "size_low": 10,
        "size_high": 50,
        "training_low": 0.15,
        "training_high": 0.35,
        "tool_low": 0.3,
        "tool_high": 0.5,
        "distinct_low": 0.8,
        "distinct_high": 0.98,
        "corroborated_distinct_low": 0.5,
        "corroborated_distinct_high": 0.9,
        "member_training_low": 0.1,
        "member_training_high": 0.3,
        "member_tool_low": 0.3,
        "member_tool_high": 0.6,
        "member_novelty_min": 0.5,
        "member_script_kinds": 1,
        "member_script_tie_kinds": ("template", "payment"),
        "member_burst_floor_hours": 6.0,
        "member_burst_factor": 3.0,
        "weight": 6.0,
        "silent_min_events": 2,
        "silent_purity_low": 0.5,
        "silent_purity_high": 0.8,
        "silent_weight": 4.5,
        "silent_tie_kinds": 2,
        "silent_window_tie_kinds": 1,
        "silent_tie_value_kinds": ("template", "shape", "payment", "sdk", "ip_prefix"),
    },
    why={
        "light_max_events": "the disclosed swarms ran at two to six requests per account per day; "
        "thirty over the window is still light",
        "young_max_days": "accounts created within two weeks of their traffic (or with no sign-up record)",
        "window_hours": "a day: the disclosed spikes ran thousands of accounts within hours",
        "size_low": "ten new accounts collecting the same kind of item in one day can be a study group",
        "size_high": "fifty fresh accounts in one day collecting items none of them repeats, far more of "
        "that kind than the provider's established customers ask, is an operation, not a coincidence "
        "(an absolute count: a provider with thousands of sign-ups a day may raise it; a baseline from "
        "the provider's own quiet days needs more history than one scan holds)",
        "training_low": "the cohort's share of its kind above the provider's typical established "
        "customer's (the median): new users ask for step-by-step answers, and run agents, now and then",
        "training_high": "a third more of everything asked being training-shaped than the typical "
        "customer is a collection, even when half the cohort's requests are ordinary cover",
        "tool_low": "for a cohort of agent and tool-use work, the share above the established customers' "
        "median that starts to count: new developers run agents as everyday use (a coding course or "
        "a hackathon at a quarter to a third of its requests), far more than trace requests",
        "tool_high": "a cohort whose requests are mostly agent work beyond what the provider's customers "
        "send is collecting agent transcripts",
        "distinct_low": "classes, hackathons and benchmarks repeat their items across accounts",
        "distinct_high": "practically no item asked twice across the whole cohort is a data set",
        "corroborated_distinct_low": "for a member tied to fellow members the way a young cluster "
        "member is (pure values of two independent kinds: graph.links.corroboration_min_kinds), the "
        "cohort's coverage starts to count at half its items asked once: such a member is one of the "
        "accounts of one operation, and a swarm drawing its items from public sets repeats some of "
        "them, where a class or a hackathon repeats most of its exercises. A member tied to no one "
        "keeps the strict ramp: a developer who signed up in a swarm's window and tried agents shares "
        "the window, not the script",
        "corroborated_distinct_high": "nine in ten items asked once across a cohort whose tied "
        "accounts run one script is a data set being collected",
        "member_training_low": "a member whose few requests are nearly all ordinary (neither "
        "training-shaped nor agent work) gains nothing from its cohort (it may be a new customer who "
        "signed up that day)",
        "member_training_high": "a member's two to six requests are a small sample of its cohort's mix: "
        "one training-shaped request in three is what a member of a swarm that hides its harvest among "
        "ordinary prompts shows, so it gains it all",
        "member_tool_low": "a member of an agent-work cohort whose requests are a third or less agent "
        "work is a developer trying tools, not one of the cohort's collecting accounts",
        "member_tool_high": "a member most of whose few requests are agent work takes its cohort's "
        "strength in full",
        "member_novelty_min": "a member belongs to a harvesting cohort when at least half of its "
        "training-shaped items were asked by no other young account: a swarm splits its data set "
        "between accounts (drawing from public sets, it repeats an item now and then), a class or a "
        "hackathon sends everyone the same exercises",
        "member_script_kinds": "a member sharing a pure script-level value (a template family or a card "
        "nearly every holder of which is already harvesting) with another member of its cohort is one of "
        "the cohort's accounts, whatever its own share of the cohort's kind: it takes the cohort's "
        "strength in full. One kind is enough here, where a silent account needs two "
        "(silent_tie_kinds), because a member already sends the cohort's kind of item; the ordinary "
        "new customers of a hackathon or a course share no such value with a swarm",
        "member_script_tie_kinds": "the kinds that count for member_script_kinds: a template family or a "
        "card, not a request shape alone. Unrelated scripts and new developers pick a popular "
        "framework's default settings too (graph.links.shape_weight), and a campaign that dominates a "
        "popular shape's holders makes it pure without it being anyone's script: a new developer trying "
        "an agent with those defaults in a swarm's window would take the swarm's cohort in full",
        "member_burst_floor_hours": "a member whose requests all fall within six hours (a working "
        "session) is used the way a swarm uses its accounts, whatever its cohort's pace",
        "member_burst_factor": "a member active over three times as long as its cohort's typical account "
        "(and longer than the floor) is a returning customer, not one of the cohort's single-use "
        "accounts; it gains nothing from the cohort. A swarm that keeps each account for days has a "
        "typical account that long, so its members still fit",
        "silent_min_events": "a silent member (nothing it sent is of the cohort's kind) is judged only "
        "once it has used its account at least twice: one request says nothing about how it is used",
        "silent_purity_low": "below half, the window's new accounts used in a burst are mostly not "
        "harvesting, and a silent one is more likely an ordinary new customer",
        "silent_purity_high": "when four in five of the window's new, light accounts used in a burst "
        "are members of the harvesting cohort, a silent one used the same way is more likely than "
        "not one of them: a swarm hides a third of its accounts' requests among ordinary prompts",
        "silent_weight": "lands a silent member of a full-strength, pure window with nothing of its own "
        "at watch, not extraction: nothing it sent is evidence, so the company it keeps asks it to "
        "verify; its own signals (a fresh sign-up, big token limits) or its cluster's can take it "
        "further",
        "silent_tie_kinds": "a silent account sharing pure values of two kinds (silent_tie_value_kinds; "
        "nearly every holder already harvesting) with the cohort's own members is one of the cohort's "
        "accounts, the standard a young, light cluster member meets (graph.links.corroboration_min_kinds): "
        "it takes the cohort's full member weight. One kind is a coincidence a new customer on a popular "
        "framework can share",
        "silent_window_tie_kinds": "a silent account sharing pure values of one kind with the "
        "members is judged against its window's purity counting, beside the members, the window's "
        "silent accounts that share such values too: each of those is one of the swarm's silent "
        "accounts or a coincidence as rare as its own, and only the untied ones stand for the "
        "ordinary newcomers of that day. A swarm whose accounts send two requests each, a third "
        "of them training-shaped, leaves nearly half its accounts with nothing of its kind, and "
        "counted against the members they made the swarm's own window look impure. A window "
        "whose untied newcomers are many (a hackathon's hundreds) stays impure for everyone, and "
        "an account that sent as much of the cohort's kind as a member and still is none repeated "
        "what other new accounts asked: a class whose exercises share the swarm's wrapper by "
        "coincidence counts as the window's newcomers, not as the swarm's silent accounts",
        "silent_tie_value_kinds": "what a silent account can share with the script that runs a swarm "
        "after two requests: its wrapper (template family), its settings (request shape), its card, "
        "its client build and its exits (proxy prefix), the young-account corroboration kinds "
        "(graph.links.corroboration_kinds) less the creation burst: a silent account has sent nothing "
        "of its own, and anyone who signed up the same afternoon shares the burst, so with a popular "
        "framework's defaults (a request shape the swarm dominates) it would make two",
        "weight": "a full-strength cohort (fifty or more fresh accounts in a day, a third more "
        "training-shaped than the typical customer, items not repeated) carries a member whose two "
        "requests alone say little: a swarm is a campaign",
    },
)


# What each cohort kind counts as a harvested item, over ``scan_events``.
def _harvest_item(kind_column: str) -> str:
    return (
        f"CASE WHEN {kind_column} = 'tool' THEN {TOOL_WORK} "
        f"ELSE training >= {ELICITATION_THRESHOLD} END"
    )


def _tool_shares(accounts: str) -> str:
    """Rows ``(account_id, tool_share)``: the share of agent and tool work in the requests of each
    account of ``accounts`` (a CTE or table with ``account_id``)."""
    return f"""
            SELECT e.account_id, avg(CASE WHEN {TOOL_WORK} THEN 1.0 ELSE 0.0 END) AS tool_share
            FROM scan_events e JOIN {accounts} a ON a.account_id = e.account_id
            GROUP BY e.account_id"""


def _pure_values(source: str, group: str, kinds: tuple[str, ...] = SCRIPT_KINDS) -> str:
    """Rows ``(<group>, account_id, kind, value)``: the pure values of ``kinds`` (by default the
    script-level ones: template family, request shape, card; nearly every holder gated:
    ``indicator_purity``) that the accounts of ``source`` (a table or subquery with
    ``account_id`` and ``group``) hold."""
    listed = ", ".join(f"'{k}'" for k in kinds)
    return f"""
            SELECT s.{group}, s.account_id, i.kind, i.value
            FROM {source} AS s
            JOIN account_indicators i ON i.account_id = s.account_id
            JOIN indicator_purity u ON u.kind = i.kind AND u.value = i.value
            WHERE i.kind IN ({listed})"""


def cohort_steps(p: Mapping[str, Any] = SPEC.parameters) -> list[SqlStep]:
    """``cohort_members`` (account, cohort, kind) and ``cohort_features`` (one row per cohort)."""
    window_s = int(p["window_hours"]) * 3600
    young_days = float(p["young_max_days"])
    tie_kinds = ", ".join(f"'{k}'" for k in p["member_script_tie_kinds"])
    members = f"""
        WITH light AS (
            SELECT f.account_id, f.first_seen, f.training_share,
                   f.cot_share, f.grading_share, f.rewrite_share,
                   (epoch(f.last_seen) - epoch(f.first_seen)) / 3600.0 AS active_hours
            FROM account_features f
            WHERE f.events <= {int(p["light_max_events"])}
              AND coalesce(f.signup_age_days, 0.0) <= {young_days}
        ),
        tools AS ({_tool_shares("light")}),
        -- the kind an account mostly collects: agent and tool work, or a training-shaped class
        young AS (
            SELECT l.account_id, l.first_seen, l.active_hours,
                   greatest(l.training_share, t.tool_share) AS harvest_share,
                   CASE WHEN t.tool_share > l.training_share THEN 'tool'
                        WHEN l.cot_share >= greatest(l.grading_share, l.rewrite_share) THEN 'cot'
                        WHEN l.grading_share >= l.rewrite_share THEN 'grading' ELSE 'rewrite' END AS kind
            FROM light l JOIN tools t ON t.account_id = l.account_id
            WHERE greatest(l.training_share, t.tool_share) >= {float(p["member_training_low"])}
        ),
        asked AS (
            SELECT e.account_id, y.kind, e.prompt_hash
            FROM scan_events e JOIN young y ON y.account_id = e.account_id
            WHERE e.prompt_hash IS NOT NULL
              AND CASE WHEN y.kind = 'tool' THEN {TOOL_WORK}
                       -- an agent loop's last turn repeats boilerplate; a harvested item is a first turn
                       ELSE {one_shot_training("e")} END
        ),
        -- how many young accounts asked each item: a class or a hackathon shares its exercises
        items AS (SELECT prompt_hash, count(DISTINCT account_id) AS askers FROM asked GROUP BY prompt_hash),
        novelty AS (
            SELECT a.account_id, avg(CASE WHEN i.askers = 1 THEN 1.0 ELSE 0.0 END) AS novelty
            FROM asked a JOIN items i ON i.prompt_hash = a.prompt_hash
            GROUP BY a.account_id
        ),
        joined AS (
            SELECT y.account_id, y.harvest_share, n.novelty, y.kind, y.active_hours,
                   concat('co-', y.kind, '-',
                          CAST(CAST(floor(epoch(y.first_seen) / {window_s}) AS BIGINT) AS VARCHAR))
                       AS cohort_id
            FROM young y JOIN novelty n ON n.account_id = y.account_id
            WHERE n.novelty >= {float(p["member_novelty_min"])}
        ),
        -- pure values (nearly every holder gated: indicator_purity) each member shares with
        -- another member of its cohort: how many kinds of member_script_tie_kinds, and whether
        -- they corroborate it as a young cluster member's ties would (two independent kinds)
        held AS ({_pure_values("joined", "cohort_id", CORROBORATION_KINDS)}),
        shared AS (
            SELECT DISTINCT a.account_id, a.kind
            FROM held a
            JOIN held b ON b.cohort_id = a.cohort_id AND b.kind = a.kind AND b.value = a.value
                       AND b.account_id <> a.account_id
        ),
        ties AS (
            SELECT account_id,
                   count(DISTINCT CASE WHEN kind IN ({tie_kinds}) THEN kind END) AS script_kinds,
                   {corroborating_kinds("kind")} AS corroborating_kinds
            FROM shared GROUP BY account_id
        )
        SELECT j.*, coalesce(t.script_kinds, 0) AS script_kinds,
               coalesce(t.corroborating_kinds, 0) >= {int(CORROBORATION_MIN_KINDS)} AS corroborated
        FROM joined j LEFT JOIN ties t ON t.account_id = j.account_id
    """
    features = f"""
        WITH established AS (
            -- what the provider's established customers ask (median: robust to a few harvesters)
            SELECT f.account_id, f.training_share,
                   avg(CASE WHEN {TOOL_WORK} THEN 1.0 ELSE 0.0 END) AS tool_share
            FROM account_features f JOIN scan_events e ON e.account_id = f.account_id
            WHERE f.signup_age_days > {young_days}  -- customers older than any swarm
            GROUP BY f.account_id, f.training_share
        ),
        baseline AS (
            SELECT coalesce(median(training_share), 0.0) AS training_baseline,
                   coalesce(median(tool_share), 0.0) AS tool_baseline
            FROM established
        )
        SELECT m.cohort_id, any_value(m.kind) AS kind,
               count(DISTINCT m.account_id) AS accounts, count(*) AS events,
               avg(CASE WHEN {_harvest_item("m.kind")} THEN 1.0 ELSE 0.0 END) AS harvest_share,
               count(DISTINCT CASE WHEN {_harvest_item("m.kind")} THEN e.prompt_hash END)
                 / greatest(1.0, sum(CASE WHEN {_harvest_item("m.kind")} AND e.prompt_hash IS NOT NULL
                                          THEN 1 ELSE 0 END)) AS distinct_share,
               min(e.ts_start) AS first_seen, max(e.ts_start) AS last_seen,
               -- the window the cohort was first seen in (its members' first requests)
               CAST(floor(epoch(min(e.ts_start)) / {window_s}) AS BIGINT) AS window_no,
               -- how long the cohort typically uses an account (over accounts, not requests)
               max(u.median_active_hours) AS median_active_hours,
               max(CASE WHEN m.kind = 'tool' THEN b.tool_baseline ELSE b.training_baseline END)
                   AS baseline_share
        FROM cohort_members m JOIN scan_events e ON e.account_id = m.account_id
        CROSS JOIN baseline AS b
        JOIN (
            SELECT cohort_id, median(active_hours) AS median_active_hours
            FROM cohort_members GROUP BY cohort_id
        ) AS u ON u.cohort_id = m.cohort_id
        GROUP BY m.cohort_id
    """
    # New, light accounts first seen in a cohort's window that sent nothing of its kind (or too
    # little to join), with the number of the window's members (scoring takes the purity) and
    # the kinds of the members' pure values each shares (silent_tie_value_kinds).
    silent = f"""
        WITH window_of AS (
            SELECT account_id, CAST(floor(epoch(first_seen) / {window_s}) AS BIGINT) AS window_no,
                   events, training_share,
                   (epoch(last_seen) - epoch(first_seen)) / 3600.0 AS active_hours
            FROM account_features
            WHERE events <= {int(p["light_max_events"])}
              AND coalesce(signup_age_days, 0.0) <= {young_days}
        ),
        member_windows AS (
            SELECT w.window_no, count(*) AS members
            FROM cohort_members m JOIN window_of w ON w.account_id = m.account_id
            GROUP BY w.window_no
        ),
        candidates AS (
            SELECT w.* FROM window_of w
            JOIN member_windows mw ON mw.window_no = w.window_no
            WHERE w.events >= {int(p["silent_min_events"])}
              AND w.account_id NOT IN (SELECT account_id FROM cohort_members)
        ),
        -- pure values (nearly every holder gated: indicator_purity) held by the cohort members
        -- first seen in the same window
        member_values AS (
            SELECT DISTINCT window_no, kind, value FROM ({_pure_values(
                "(SELECT m.account_id, w.window_no FROM cohort_members m"
                " JOIN window_of w ON w.account_id = m.account_id)",
                "window_no",
                tuple(p["silent_tie_value_kinds"]),
            )}) AS v
        ),
        ties AS (
            SELECT c.account_id, count(DISTINCT i.kind) AS tie_kinds,
                   list_sort(list(DISTINCT i.kind)) AS tied_by
            FROM candidates c
            JOIN account_indicators i ON i.account_id = c.account_id
            JOIN member_values s ON s.window_no = c.window_no AND s.kind = i.kind AND s.value = i.value
            GROUP BY c.account_id
        ),
        -- whether it sent the cohort's kind of item as a member would (too much to be silent),
        -- yet was not one: it repeated what other new accounts asked, as a class does
        tools AS ({_tool_shares("candidates")})
        SELECT c.account_id, c.window_no, c.events, c.active_hours, mw.members,
               coalesce(t.tie_kinds, 0) AS tie_kinds, coalesce(t.tied_by, []) AS tied_by,
               greatest(coalesce(c.training_share, 0.0), coalesce(u.tool_share, 0.0))
                   >= {float(p["member_training_low"])} AS asked_its_kind
        FROM candidates c JOIN member_windows mw ON mw.window_no = c.window_no
        LEFT JOIN ties t ON t.account_id = c.account_id
        LEFT JOIN tools u ON u.account_id = c.account_id
    """
    return [
        SqlStep("cohort_members", members),
        SqlStep("cohort_features", features),
        SqlStep("cohort_silent_members", silent),
    ]


def tied_to_members(tie_kinds: int, p: Mapping[str, Any] = SPEC.parameters) -> bool:
    """Whether a silent account shares with its window's members pure values of
    ``silent_tie_kinds`` kinds: it is one of the cohort's accounts, whatever the window's purity."""
    return tie_kinds >= int(p["silent_tie_kinds"])


def shares_window_values(
    tie_kinds: int, *, asked_its_kind: bool = False, p: Mapping[str, Any] = SPEC.parameters
) -> bool:
    """Whether a silent account shares with its window's members pure values of
    ``silent_window_tie_kinds`` kinds: the window's accounts that do count with the members in
    the purity it is judged by (``silent_window_purity``). Not one that ``asked_its_kind`` (as
    much of the cohort's kind as a member sends) and still is no member: it repeated what other
    new accounts asked, the way a class does, and a class sharing the swarm's template by
    coincidence is the window's ordinary newcomers, not the swarm's silent accounts."""
    return tie_kinds >= int(p["silent_window_tie_kinds"]) and not asked_its_kind


def silent_window_purity(members: float, candidates: int, tied: int, *, shares_values: bool) -> float:
    """The share of a window's new, light accounts used in a burst that are its cohort's: the
    members, and for an account sharing the members' pure values (``shares_window_values``) the
    ``tied`` candidates that share them too; the rest stand for the window's ordinary newcomers."""
    if members + candidates <= 0:
        return 0.0
    return (members + (tied if shares_values else 0)) / (members + candidates)


def silent_fit(purity: float, p: Mapping[str, Any] = SPEC.parameters) -> float:
    """How much of its window's strongest cohort a silent account takes, by the window's purity."""
    return ramp_py(purity, p["silent_purity_low"], p["silent_purity_high"])


def cohort_strength(
    row: Mapping[str, Any], p: Mapping[str, Any] = SPEC.parameters, *, corroborated: bool = False
) -> float:
    """How strongly a cohort as a whole looks like a data set being collected, in [0, 1]; for a
    ``corroborated`` member (tied to fellow members by two kinds of pure value) its coverage on
    the ``corroborated_distinct_*`` ramp."""
    distinct = ("corroborated_distinct_low", "corroborated_distinct_high") if corroborated else (
        "distinct_low", "distinct_high")
    return (
        ramp_py(float(row["accounts"] or 0), p["size_low"], p["size_high"])
        * ramp_py(
            float(row["harvest_share"] or 0.0) - float(row.get("baseline_share") or 0.0),
            p["tool_low"] if row.get("kind") == "tool" else p["training_low"],
            p["tool_high"] if row.get("kind") == "tool" else p["training_high"],
        )
        * ramp_py(float(row["distinct_share"] or 0.0), p[distinct[0]], p[distinct[1]])
    )


def used_like_cohort(
    active_hours: float, cohort_median_hours: float, p: Mapping[str, Any] = SPEC.parameters
) -> bool:
    """Whether an account was used for a burst the way its cohort uses its accounts."""
    longest = max(float(p["member_burst_floor_hours"]), float(p["member_burst_factor"]) * cohort_median_hours)
    return active_hours <= longest


def member_script_tied(script_kinds: int, p: Mapping[str, Any] = SPEC.parameters) -> bool:
    """Whether a member shares its cohort members' script (``member_script_kinds`` kinds of pure
    value, counted over ``member_script_tie_kinds``): it then takes the cohort's strength in full."""
    return script_kinds >= int(p["member_script_kinds"])


def member_fit(
    harvest_share: float,
    active_hours: float = 0.0,
    cohort_median_hours: float = 0.0,
    p: Mapping[str, Any] = SPEC.parameters,
    *,
    kind: object = None,
    script_kinds: int = 0,
) -> float:
    """How much of its cohort's strength a member takes: in full when it shares the members'
    script (``member_script_kinds``), else by its own share of the cohort's kind; nothing when it
    has been active far longer than the cohort uses its accounts."""
    if not used_like_cohort(active_hours, cohort_median_hours, p):
        return 0.0
    if member_script_tied(script_kinds, p):
        return 1.0
    if kind == "tool":
        return ramp_py(harvest_share, p["member_tool_low"], p["member_tool_high"])
    return ramp_py(harvest_share, p["member_training_low"], p["member_training_high"])


_KIND_LABELS = {
    "cot": "reasoning traces",
    "grading": "grades",
    "rewrite": "rewrites",
    "tool": "agent and tool-use transcripts",
}


def cohort_kind_label(kind: object) -> str:
    """What a cohort of this kind collects, in words for reasons and findings."""
    return _KIND_LABELS.get(str(kind), "training-shaped content")
