"""Community detection over the account graph, as iterative SQL.

The graph's nodes are behaviour-gated accounts and its edges the account pairs
whose weighted ties passed the threshold (``graph_links(src, dst, weight)``,
built in ``detectors.graph_edges``). Connected components are found by min-label propagation,
one SQL statement per round, so the same code scales out on Spark. Each
component becomes a cluster whose id is derived from its smallest member
account id: the same accounts give the same id in every run.
"""

from __future__ import annotations

from distillguard.engine.base import Engine, SqlStep, run_steps

MAX_ROUNDS = 40
# Labels and symmetric links live only during one detection run (scratch steps: DuckDB
# TEMP tables, never written to the database file); cluster_members is the result.


def label_init_step(links: str = "graph_links") -> SqlStep:
    """Every node starts with its own name as label (accounts and values alike)."""
    return SqlStep(
        "cc_labels",
        f"""
        SELECT node, node AS label FROM (
            SELECT src AS node FROM {links} UNION SELECT dst AS node FROM {links}
        ) AS n
        """,
        scratch=True,
    )


def label_round_step(links: str = "graph_links") -> SqlStep:
    """One round: each node takes the smallest label among itself and its neighbours."""
    return SqlStep(
        "cc_labels_next",
        f"""
        SELECT node, min(label) AS label FROM (
            SELECT node, label FROM cc_labels
            UNION ALL
            SELECT l.src AS node, c.label FROM {links} l JOIN cc_labels c ON c.node = l.dst
            UNION ALL
            SELECT l.dst AS node, c.label FROM {links} l JOIN cc_labels c ON c.node = l.src
        ) AS u GROUP BY node
        """,
        scratch=True,
    )


def members_step(named: str = "node") -> SqlStep:
    """Account -> cluster id, named after the smallest account id in the component.

    ``named`` is the ``cc_labels`` column holding the account id (label propagation keeps
    numbers in ``node`` and ``label`` and the account id beside them).
    """
    return SqlStep(
        "cluster_members",
        f"""
        WITH acct AS (SELECT {named} AS account_id, label FROM cc_labels),
        named AS (SELECT label, min(account_id) AS anchor, count(*) AS size FROM acct GROUP BY label)
        SELECT a.account_id, concat('cl-', substr(md5(n.anchor), 1, 12)) AS cluster_id, n.size
        FROM acct a JOIN named n ON n.label = a.label
        WHERE n.size >= 2
        """,
    )


def connected_components(engine: Engine, *, links: str = "graph_links", max_rounds: int = MAX_ROUNDS) -> int:
    """Materialise ``cluster_members`` from ``links``; returns the rounds it took."""
    run_steps(engine, [label_init_step(links)])
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        run_steps(engine, [label_round_step(links)])
        changed = (
            engine.to_arrow(
                "SELECT count(*) AS n FROM cc_labels_next x JOIN cc_labels c ON c.node = x.node "
                "WHERE x.label <> c.label"
            )
            .column("n")[0]
            .as_py()
        )
        engine.drop("cc_labels")
        engine.execute("ALTER TABLE cc_labels_next RENAME TO cc_labels")
        if not changed:
            break
    run_steps(engine, [members_step()])
    engine.drop("cc_labels")
    return rounds


# ----------------------------------------------------------------- label propagation
# Connected components chain: one accidental tie between two hydras (a shared
# proxy, a shared generic scaffold) merges them. Weighted label propagation keeps
# dense groups apart across a few weak bridges: each round every account takes
# the label carrying the most edge weight among its neighbours (its own label
# counts with SELF_WEIGHT, a tie-breaker), ties to the smaller label. About half of
# the accounts move in each round, drawn afresh every round by a hash of the account
# and the round: updating everyone at once makes two tied accounts swap labels for
# ever, and so does a fixed split whenever both ends of an isolated pair fall in the
# same half (a campaign's first two accounts then never formed a cluster).
# It stops when no account would change its label if it moved (a fixed point for any
# split), checked after each round in which nothing moved.
# Accounts are numbered in the order of their ids for the rounds (``lpa_nodes``): every round
# joins and groups the links by node and label, and numbers cost half what account ids do
# (medium preset). The numbering keeps the order, so the smallest label is the same account.
# Votes are summed in millionths of a weight, as integers: a sum of floating-point weights
# depends on the order the engine's threads add them in, so two labels of equal weight came
# out a rounding error apart and the same warehouse scanned twice could cluster differently
# (one swarm account of a randomised scenario moved between `ok` and `extraction`).
SELF_WEIGHT = 0.05
WEIGHT_UNITS = 1_000_000
LPA_ROUNDS = 16


def lpa_nodes_step(links: str = "graph_links") -> SqlStep:
    """Every node's number: its rank among the node names (the same order as the names)."""
    return SqlStep(
        "lpa_nodes",
        f"""
        SELECT node AS name, CAST(row_number() OVER (ORDER BY node) AS INTEGER) AS id FROM (
            SELECT src AS node FROM {links} UNION SELECT dst AS node FROM {links}
        ) AS n
        """,
        scratch=True,
    )


def lpa_labels_step() -> SqlStep:
    """Every node starts with its own number as label; its name rides along (movers, members)."""
    return SqlStep("cc_labels", "SELECT id AS node, id AS label, name FROM lpa_nodes", scratch=True)


def symmetric_links_step(links: str = "graph_links") -> SqlStep:
    """Each link both ways, between node numbers, its weight in ``WEIGHT_UNITS`` (an integer)."""
    return SqlStep(
        "lpa_links",
        f"""
        WITH numbered AS (
            SELECT a.id AS src, b.id AS dst, CAST(round(l.weight * {WEIGHT_UNITS}) AS BIGINT) AS weight
            FROM {links} l
            JOIN lpa_nodes a ON a.name = l.src JOIN lpa_nodes b ON b.name = l.dst
        )
        SELECT src, dst, weight FROM numbered
        UNION ALL
        SELECT dst AS src, src AS dst, weight FROM numbered
        """,
        scratch=True,
    )


def lpa_round_step(round_number: int = 0, *, everyone: bool = False) -> SqlStep:
    # Only this round's movers are counted, and the winning label is the heaviest one with
    # the smallest name taken as max, then min (a window over every vote cost four times
    # as much). The maximum is one of the sums it compares, so the equality is exact.
    # ``everyone`` moves every account: the convergence check, never applied.
    movers = "TRUE" if everyone else f"md5(concat(name, '/{int(round_number)}')) < '8'"
    return SqlStep(
        "cc_labels_next",
        f"""
        WITH movers AS (SELECT node, label FROM cc_labels WHERE {movers}),
        votes AS (
            SELECT l.src AS node, c.label, sum(l.weight) AS w
            FROM lpa_links l JOIN movers m ON m.node = l.src JOIN cc_labels c ON c.node = l.dst
            GROUP BY l.src, c.label
            UNION ALL
            SELECT node, label, CAST({round(SELF_WEIGHT * WEIGHT_UNITS)} AS BIGINT) AS w FROM movers
        ),
        totals AS (SELECT node, label, sum(w) AS w FROM votes GROUP BY node, label),
        best AS (SELECT node, max(w) AS w FROM totals GROUP BY node),
        winners AS (
            SELECT t.node, min(t.label) AS label
            FROM totals t JOIN best b ON b.node = t.node AND b.w = t.w
            GROUP BY t.node
        )
        SELECT c.node, coalesce(r.label, c.label) AS label, c.name
        FROM cc_labels c LEFT JOIN winners r ON r.node = c.node
        """,
        scratch=True,
    )


def label_propagation(engine: Engine, *, links: str = "graph_links", max_rounds: int = LPA_ROUNDS) -> int:
    """Materialise ``cluster_members`` by weighted label propagation; returns the rounds run."""
    run_steps(engine, [lpa_nodes_step(links), lpa_labels_step(), symmetric_links_step(links)])
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        run_steps(engine, [lpa_round_step(rounds)])
        changed = _changed_labels(engine)
        engine.drop("cc_labels")
        engine.execute("ALTER TABLE cc_labels_next RENAME TO cc_labels")
        if not changed:
            run_steps(engine, [lpa_round_step(everyone=True)])
            settled = not _changed_labels(engine)
            engine.drop("cc_labels_next")
            if settled:  # no account would move whichever half it fell in
                break
    run_steps(engine, [members_step(named="name")])
    engine.drop("cc_labels")
    engine.drop("lpa_links")
    engine.drop("lpa_nodes")
    return rounds


def _changed_labels(engine: Engine) -> int:
    table = engine.to_arrow(
        "SELECT count(*) AS n FROM cc_labels_next x JOIN cc_labels c ON c.node = x.node "
        "WHERE x.label <> c.label"
    )
    return int(table.column("n")[0].as_py() or 0)



def apply_merges(engine: Engine) -> None:
    """Move each merged cluster's members into the cluster it merges into
    (``cluster_merge_targets``). INSERT and DELETE, not UPDATE: the Spark engine replays both."""
    engine.execute(
        "INSERT INTO cluster_members SELECT m.account_id, t.into_id, NULL FROM cluster_members m "
        "JOIN cluster_merge_targets t ON t.cluster_id = m.cluster_id"
    )
    engine.execute(
        "DELETE FROM cluster_members WHERE cluster_id IN (SELECT cluster_id FROM cluster_merge_targets)"
    )
