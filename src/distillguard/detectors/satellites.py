"""Accounts the pair graph left alone that belong to a cluster all the same (satellites),
and communities label propagation split off one cluster (merges).

Label propagation clusters the accounts the pair ties reach. Three kinds of account are
left out that an analyst would put in: a gated account whose ties each fell short but
whose pure values come mostly from one cluster's pool; a young account below the gate
that shares several independent pure coincidences with one cluster; and an account below
the gate that sends only through one cluster's proxy exits, with its settings. Each step
names a table of ``(account_id, cluster_id)`` rows that the pipeline adds to
``cluster_members`` in order, so a later rule sees the members an earlier one added.
Joining decides nothing by itself: scoring still scales what a member inherits by how
much it behaves like its cluster.
"""

from __future__ import annotations

from distillguard.detectors.graph_edges import (
    CORROBORATION_MAX_EVENTS,
    CORROBORATION_MIN_KINDS,
    EXIT_SATELLITE_SHARE,
    MERGE_SHARE,
    ORDINARY_BELOW,
    SATELLITE_SHARE,
    SCRIPT_KINDS,
)
from distillguard.detectors.young_ties import corroborating_kinds
from distillguard.engine.base import SqlStep

# Each cluster's pure values: those its gated members hold (``corroboration_values``).
_CLUSTER_POOL = """
            SELECT DISTINCT m.cluster_id, v.kind, v.value
            FROM cluster_members m JOIN corroboration_values v ON v.account_id = m.account_id"""


def community_merge_steps() -> list[SqlStep]:
    """``cluster_merges``: a cluster label propagation split off one operation, and where it goes.

    Label propagation finds communities, and over a sparse sample of ties (blocking compares
    each holder with a few others) it can split one hydra into several: three communities of
    one eighteen-account hydra whose members all send through the same four exclusive prefixes
    with the same scaffolds. A cluster at least ``MERGE_SHARE`` of whose pure values (of the
    young-account corroboration kinds, held by its gated members) a larger cluster's members
    hold too, of at least ``CORROBORATION_MIN_KINDS`` independent kinds, is part of that
    cluster. Two hydras renting the same proxies share their exits, not their scaffolds,
    cards and settings. ``cluster_merge_targets`` follows a merge into a cluster that merges
    too one step on (merges go to larger clusters only); a longer chain is left unmerged.
    """
    merges = SqlStep(
        "cluster_merges",
        f"""
        WITH pool AS ({_CLUSTER_POOL}),
        sizes AS (SELECT cluster_id, count(*) AS accounts FROM cluster_members GROUP BY cluster_id),
        own AS (SELECT cluster_id, count(*) AS n FROM pool GROUP BY cluster_id),
        shared AS (
            SELECT a.cluster_id, b.cluster_id AS into_id, count(*) AS n,
                   {corroborating_kinds("a.kind")} AS kinds
            FROM pool a
            JOIN pool b ON b.kind = a.kind AND b.value = a.value AND b.cluster_id <> a.cluster_id
            GROUP BY a.cluster_id, b.cluster_id
        ),
        ranked AS (
            SELECT s.cluster_id, s.into_id,
                   row_number() OVER (PARTITION BY s.cluster_id
                                      ORDER BY s.n DESC, zb.accounts DESC, s.into_id) AS r
            FROM shared s
            JOIN own o ON o.cluster_id = s.cluster_id
            JOIN sizes za ON za.cluster_id = s.cluster_id
            JOIN sizes zb ON zb.cluster_id = s.into_id
            WHERE s.n >= {MERGE_SHARE} * o.n AND s.kinds >= {CORROBORATION_MIN_KINDS}
              -- into the larger one (an order, so merges chain and never cycle)
              AND (zb.accounts > za.accounts OR (zb.accounts = za.accounts AND s.into_id < s.cluster_id))
        )
        SELECT cluster_id, into_id FROM ranked WHERE r = 1
        """,
    )
    targets = SqlStep(
        "cluster_merge_targets",
        """
        SELECT a.cluster_id, coalesce(b.into_id, a.into_id) AS into_id
        FROM cluster_merges a LEFT JOIN cluster_merges b ON b.cluster_id = a.into_id
        WHERE coalesce(b.into_id, a.into_id) NOT IN (SELECT cluster_id FROM cluster_merges)
        """,
    )
    return [merges, targets]


def satellite_steps() -> list[SqlStep]:
    """The satellite rules in the order the pipeline applies them."""
    return [_gated_satellites(), _young_satellites(), _exit_satellites()]


def _gated_satellites() -> SqlStep:
    """Attach gated accounts the pair graph left alone to the cluster they share most with.

    An account whose pairwise ties each fell short (a residential proxy shared with
    one member, a sign-up burst with another) can still draw most of its pure values
    from one cluster's pool: it joins that cluster when at least ``SATELLITE_SHARE`` of
    its linking values (and at least two) are held by that cluster's members.
    """
    return SqlStep(
        "cluster_satellites",
        f"""
        WITH alone AS (
            SELECT v.account_id, v.kind, v.value FROM link_values v
            WHERE v.account_id NOT IN (SELECT account_id FROM cluster_members)
              AND v.kind <> 'shape'
        ),
        sizes AS (SELECT account_id, count(*) AS n FROM alone GROUP BY account_id),
        pool AS (
            SELECT DISTINCT m.cluster_id, v.kind, v.value
            FROM cluster_members m JOIN link_values v ON v.account_id = m.account_id
            WHERE v.kind <> 'shape'
        ),
        shared AS (
            SELECT a.account_id, p.cluster_id, count(*) AS n
            FROM alone a JOIN pool p ON p.kind = a.kind AND p.value = a.value
            GROUP BY a.account_id, p.cluster_id
        ),
        ranked AS (
            SELECT s.account_id, s.cluster_id, s.n, z.n AS values_held,
                   row_number() OVER (PARTITION BY s.account_id ORDER BY s.n DESC, s.cluster_id) AS r
            FROM shared s JOIN sizes z ON z.account_id = s.account_id
        )
        SELECT account_id, cluster_id FROM ranked
        WHERE r = 1 AND n >= 2 AND n >= {SATELLITE_SHARE} * values_held
        """,
    )


def _young_satellites() -> SqlStep:
    """``young_satellites``: a young account below the gate joins the cluster it corroborates with.

    One to five requests are too few to show a behaviour (an agentic trajectory or two,
    an ordinary question between harvesting calls): such an account can fall just below
    the membership gate while sending through its hydra's proxies, client build and
    request settings. An account that is not clearly ordinary (behaviour >= ``ORDINARY_BELOW``),
    has at most ``CORROBORATION_MAX_EVENTS`` requests and shares pure values of at least
    ``CORROBORATION_MIN_KINDS`` distinct kinds with one cluster's members joins that
    cluster (most kinds, then most values shared). Joining decides nothing by itself:
    scoring still scales what it inherits by how much it behaves like the cluster.
    """
    return SqlStep(
        "young_satellites",
        f"""
        WITH young AS (
            SELECT f.account_id FROM account_features f
            JOIN account_behaviour b ON b.account_id = f.account_id
            WHERE NOT b.gate AND b.behaviour >= {ORDINARY_BELOW}
              AND f.events <= {CORROBORATION_MAX_EVENTS}
              AND f.account_id NOT IN (SELECT account_id FROM cluster_members)
        ),
        pool AS ({_CLUSTER_POOL}),
        shared AS (
            SELECT y.account_id, p.cluster_id, count(DISTINCT p.kind) AS kinds, count(*) AS n
            FROM young y
            JOIN account_indicators i ON i.account_id = y.account_id
            JOIN pool p ON p.kind = i.kind AND p.value = i.value
            -- a creation burst ties gated pairs only: an account below the gate needs two
            -- coincidences other than its sign-up hour (medium: a new developer created in
            -- the hour a hydra created 400 accounts, on a common coding scaffold)
            WHERE p.kind <> 'created'
            GROUP BY y.account_id, p.cluster_id
        ),
        ranked AS (
            SELECT account_id, cluster_id, kinds,
                   row_number() OVER (PARTITION BY account_id
                                      ORDER BY kinds DESC, n DESC, cluster_id) AS r
            FROM shared
        )
        SELECT account_id, cluster_id FROM ranked
        WHERE r = 1 AND kinds >= {CORROBORATION_MIN_KINDS}
        """,
    )


def _exit_satellites() -> SqlStep:
    """``exit_satellites``: an account below the gate that sends only through one cluster's exits.

    A hydra member whose prompts the content rules read poorly (another language, heavy
    paraphrase) can stay below the gate through any number of requests, while every request
    leaves through the hydra's proxies with the hydra's settings. An account that is not
    clearly ordinary, at least ``EXIT_SATELLITE_SHARE`` of whose proxy prefixes (and at least
    two) are pure values of one cluster's gated members, and that shares one of that
    cluster's pure script-level values (request shape, scaffold, card), joins it. A
    developer whose rotating proxy crosses a hydra's pool uses many other prefixes too, and
    a home connection that is also a proxy exit is one prefix.
    """
    script = ", ".join(f"'{k}'" for k in SCRIPT_KINDS)
    return SqlStep(
        "exit_satellites",
        f"""
        WITH below AS (
            SELECT b.account_id FROM account_behaviour b
            WHERE NOT b.gate AND b.behaviour >= {ORDINARY_BELOW}
              AND b.account_id NOT IN (SELECT account_id FROM cluster_members)
        ),
        exits AS (
            SELECT i.account_id, count(*) AS prefixes
            FROM account_indicators i JOIN below USING (account_id)
            WHERE i.kind = 'ip_prefix'
            GROUP BY i.account_id
        ),
        pool AS ({_CLUSTER_POOL}),
        shared AS (
            SELECT i.account_id, p.cluster_id,
                   count(*) FILTER (WHERE p.kind = 'ip_prefix') AS pool_prefixes,
                   count(*) FILTER (WHERE p.kind <> 'ip_prefix') AS script_values
            FROM below
            JOIN account_indicators i ON i.account_id = below.account_id
            JOIN pool p ON p.kind = i.kind AND p.value = i.value
            WHERE p.kind = 'ip_prefix' OR p.kind IN ({script})
            GROUP BY i.account_id, p.cluster_id
        ),
        ranked AS (
            SELECT s.account_id, s.cluster_id,
                   row_number() OVER (PARTITION BY s.account_id
                                      ORDER BY s.pool_prefixes DESC, s.script_values DESC,
                                               s.cluster_id) AS r
            FROM shared s JOIN exits e ON e.account_id = s.account_id
            WHERE s.pool_prefixes >= 2 AND s.pool_prefixes >= {EXIT_SATELLITE_SHARE} * e.prefixes
              AND s.script_values >= 1
        )
        SELECT account_id, cluster_id FROM ranked WHERE r = 1
        """,
    )
