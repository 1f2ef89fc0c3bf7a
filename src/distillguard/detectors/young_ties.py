"""Creation bursts as a corroborating kind for young-account ties.

Operators create their accounts in bursts and spread them over pathways (pay-as-you-go,
startup, free, education; e-mail or phone) so that no two look alike: the ``signup``
indicator (same plan and verification within a few hours) then never matches. The
``created`` indicator drops the pathway: accounts created within a few hours of each
other, whatever they signed up for. A burst alone is a weak coincidence (a class or a
team signs up together), so it is one corroborating kind among those of
``graph_edges.corroboration_steps``, counted, like them, only through values nearly
none of whose holders is clearly ordinary, and only beside a script-level coincidence.
"""

from __future__ import annotations

# Two grids of this many hours, the second offset by half of it, so any two accounts
# created within half of it (3 hours) share a bucket whatever the clock. Six hours is the
# window of the existing ``signup`` burst; the careful campaign on the tiny benchmark
# created the accounts it used first within 2 hours of each other.
CREATED_BURST_HOURS = 6
# A burst counts only beside a script-level coincidence (request shape, scaffold, card):
# people who sign up together also tend to share a network and the client build of the
# day (a class on the campus network, a team installing the current SDK), so a burst
# plus a prefix or a client build is one coincidence, not two.
CREATED_NEEDS_KINDS = ("shape", "template", "payment")


def created_indicator_sql() -> str:
    """Rows ``(account_id, 'created', value, 0)`` from ``accounts``, one per grid."""
    width = CREATED_BURST_HOURS * 3600
    return f"""
        SELECT account_id, 'created' AS kind,
               concat(g.grid, '@', CAST(CAST(floor((epoch(created_at) + g.shift) / {width}) AS BIGINT)
                                        AS VARCHAR)) AS value,
               0 AS uses
        FROM accounts
        CROSS JOIN (SELECT 'a' AS grid, 0 AS shift UNION ALL SELECT 'b', {width // 2}) AS g
        WHERE created_at IS NOT NULL
          AND account_id IN (SELECT account_id FROM account_features)"""


def corroborating_kinds(kind: str, *, one_row_per_kind: bool = False) -> str:
    """How many independent kinds a group of shared pure values (column ``kind``) counts: its
    distinct kinds, a creation burst among them only beside a script-level kind.

    ``one_row_per_kind``: the group holds each kind at most once, so rows are counted instead
    of distinct kinds (DuckDB's ``count(DISTINCT)`` in a large grouping took four times as long).
    """
    script = ", ".join(f"'{k}'" for k in CREATED_NEEDS_KINDS)
    others = (
        f"count(CASE WHEN {kind} <> 'created' THEN 1 END)"
        if one_row_per_kind
        else f"count(DISTINCT CASE WHEN {kind} <> 'created' THEN {kind} END)"
    )
    return (
        f"({others}"
        f" + CASE WHEN max(CASE WHEN {kind} = 'created' THEN 1 ELSE 0 END) = 1"
        f" AND max(CASE WHEN {kind} IN ({script}) THEN 1 ELSE 0 END) = 1 THEN 1 ELSE 0 END)"
    )


def corroboration_having(kind: str, min_kinds: int, *, one_row_per_kind: bool = False) -> str:
    """Condition over a group of shared pure values (column ``kind``): at least ``min_kinds``
    independent kinds (``corroborating_kinds``)."""
    return f"{corroborating_kinds(kind, one_row_per_kind=one_row_per_kind)} >= {min_kinds}"


def corroborating_combination(kind_a: str, kind_b: str) -> str:
    """Condition on two values of different kinds (columns ``kind_a``, ``kind_b``) one account
    holds: the pair form of ``corroboration_having``, a creation burst only beside a
    script-level kind. Two accounts meet that rule exactly when they share such a combination."""
    script = ", ".join(f"'{k}'" for k in CREATED_NEEDS_KINDS)
    return (
        f"({kind_a} <> 'created' OR {kind_b} IN ({script}))"
        f" AND ({kind_b} <> 'created' OR {kind_a} IN ({script}))"
    )
