"""Shared indicators behind the report's cluster graph and per-account evidence.

Both read one table of (kind, value, account) pairs, built once per report:
each account's payment fingerprint and its few most frequent IP prefixes,
prompt templates and SDK fingerprints. Limiting each account to its top values
bounds the work on very large scans and keeps the picture about what an
account mostly does, not about one stray request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from distillguard.report.graph_svg import (
    EDGE_KINDS,
    EDGE_LABELS,
    AccountGraph,
    GraphEdge,
    GraphNode,
    ring_edges,
)
from distillguard.warehouse import Warehouse

PAIRS = "_report_indicator_pairs"
_STAGE = "_report_selected_accounts"
MAX_GRAPH_EDGES = 4000
# An indicator carried by more accounts than this, most of them ok, is too common to explain a link.
COMMON_INDICATOR_ACCOUNTS = 20


def _top_values(column: str, keep: int) -> str:
    """Each account's ``keep`` most frequent values of an events column."""
    return f"""
        SELECT account_id, value FROM (
            SELECT account_id, {column} AS value,
                   row_number() OVER (PARTITION BY account_id ORDER BY count(*) DESC, {column}) AS rn
            FROM events WHERE {column} IS NOT NULL GROUP BY account_id, {column}
        ) AS ranked WHERE rn <= {keep}"""


INDICATOR_SQL = {
    "payment": "SELECT DISTINCT account_id, payment_fingerprint AS value FROM accounts "
    "WHERE payment_fingerprint IS NOT NULL",
    "ip_prefix": _top_values("ip_prefix_hash", 3),
    "template": _top_values("skeleton_hash", 3),
    "sdk": _top_values("sdk_fingerprint", 1),
}


@contextmanager
def indicator_pairs(warehouse: Warehouse) -> Iterator[str]:
    """Materialise the (kind, value, account_id) pairs as a temporary table; yields its name."""
    union = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, i.value, i.account_id FROM ({sql}) AS i"
        for kind, sql in INDICATOR_SQL.items()
    )
    engine = warehouse.engine
    engine.drop(PAIRS)
    engine.execute(f"CREATE TEMP TABLE {PAIRS} AS {union}")
    try:
        yield PAIRS
    finally:
        engine.drop(PAIRS)


def _rows(warehouse: Warehouse, sql: str) -> list[dict[str, Any]]:
    return list(warehouse.engine.to_arrow(sql).to_pylist())


def _carriers(warehouse: Warehouse, accounts: list[str]) -> list[dict[str, Any]]:
    """Every carrier of every indicator value the given accounts hold, with how common it is."""
    engine = warehouse.engine
    engine.register(_STAGE, pa.table({"account_id": pa.array(accounts, pa.string())}))
    try:
        return _rows(
            warehouse,
            f"""
            WITH mine AS (
                SELECT DISTINCT p.kind, p.value FROM {PAIRS} p JOIN {_STAGE} g ON g.account_id = p.account_id
            )
            SELECT p.kind, p.value, p.account_id, coalesce(s.verdict, 'ok') AS verdict,
                   coalesce(s.risk, 0.0) AS risk, s.cluster_id, coalesce(s.events, 0) AS events,
                   count(*) OVER (PARTITION BY p.kind, p.value) AS n,
                   sum(CASE WHEN coalesce(s.verdict, 'ok') = 'ok' THEN 1 ELSE 0 END)
                       OVER (PARTITION BY p.kind, p.value) AS n_ok
            FROM {PAIRS} p JOIN mine m ON m.kind = p.kind AND m.value = p.value
            LEFT JOIN account_scores s ON s.account_id = p.account_id
            ORDER BY p.kind, p.value, p.account_id
            """,
        )
    finally:
        engine.unregister(_STAGE)


def _explains_a_link(row: dict[str, Any]) -> bool:
    n, n_ok = int(row["n"]), int(row["n_ok"])
    return n >= 2 and (n <= COMMON_INDICATOR_ACCOUNTS or n_ok * 2 < n)


def shared_indicators(
    warehouse: Warehouse, accounts: dict[str, str | None], *, per_account: int = 6
) -> dict[str, list[str]]:
    """For each account (id -> cluster id), the indicators it shares with others, most shared first.

    Call inside ``indicator_pairs``. Values are hashes (IP prefixes are keyed
    at ingest); they are shortened for reading.
    """
    if not accounts:
        return {}
    by_value: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in _carriers(warehouse, list(accounts)):
        by_value[(row["kind"], row["value"])].append(row)
    found: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for (kind, value), carriers in by_value.items():
        if not _explains_a_link(carriers[0]):
            continue
        shown = str(value) if len(str(value)) <= 14 else str(value)[:12] + "…"
        for row in carriers:
            account = row["account_id"]
            if account not in accounts:
                continue
            cluster = accounts[account]
            others = len(carriers) - 1
            label = EDGE_LABELS.get(kind, kind).replace("shared ", "")
            text = f"{label} {shown} shared with {others} account{'s' if others != 1 else ''}"
            if cluster is not None:
                same = sum(1 for c in carriers if c["account_id"] != account and c["cluster_id"] == cluster)
                text += f" ({same} in its cluster)"
            found[account].append((EDGE_KINDS.index(kind), -others, text))
    # strongest kind of evidence first (payment, IP prefix, template, SDK), then the most shared
    return {a: [text for *_, text in sorted(items)[:per_account]] for a, items in found.items()}


def account_graph(warehouse: Warehouse, max_nodes: int, *, max_clusters: int = 8) -> AccountGraph:
    """Accounts of the riskiest clusters plus outsiders that share their indicators.

    Call inside ``indicator_pairs``. An indicator value is drawn only when it is
    rare (at most COMMON_INDICATOR_ACCOUNTS accounts) or mostly held by flagged
    accounts: a big cloud range or the most common SDK version links everyone
    and explains nothing. Outsiders sharing an IP prefix or payment fingerprint
    with a drawn account are included so a reader sees who was *not* pulled
    into a hydra despite sharing, say, a campus address.
    """
    if max_nodes <= 0:
        return AccountGraph([], [])
    clusters = _rows(
        warehouse,
        f"SELECT cluster_id FROM clusters WHERE verdict <> 'ok' "
        f"ORDER BY risk DESC, events DESC, cluster_id LIMIT {int(max_clusters)}",
    )
    total = int(_rows(warehouse, "SELECT count(*) AS n FROM clusters WHERE verdict <> 'ok'")[0]["n"])
    if not clusters:
        return AccountGraph([], [], 0, total)
    ids = [row["cluster_id"] for row in clusters]
    per_cluster = max(2, int(max_nodes * 0.85) // len(ids))
    id_list = ", ".join("'" + cid.replace("'", "''") + "'" for cid in ids)
    members = _rows(
        warehouse,
        f"""
        SELECT account_id, risk, verdict, cluster_id, coalesce(events, 0) AS events FROM (
            SELECT *, row_number() OVER (
                PARTITION BY cluster_id ORDER BY events DESC NULLS LAST, account_id
            ) AS rn
            FROM account_scores WHERE cluster_id IN ({id_list})
        ) AS m WHERE rn <= {per_cluster}
        ORDER BY rn, cluster_id LIMIT {int(max_nodes)}
        """,
    )
    nodes = {
        row["account_id"]: GraphNode(
            row["account_id"], row["verdict"], float(row["risk"]), row["cluster_id"], int(row["events"])
        )
        for row in members
    }
    outsiders_left = max(0, max_nodes - len(nodes))
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in _carriers(warehouse, list(nodes)):
        if not _explains_a_link(row):
            continue
        account = row["account_id"]
        if account not in nodes:
            if outsiders_left <= 0 or row["kind"] not in ("ip_prefix", "payment"):
                continue
            nodes[account] = GraphNode(
                account, row["verdict"], float(row["risk"]), row["cluster_id"], int(row["events"])
            )
            outsiders_left -= 1
        groups[(row["kind"], row["value"])].append(account)
    edges: dict[tuple[str, str], GraphEdge] = {}
    for (kind, value), accounts in sorted(groups.items()):
        for a, b in ring_edges(accounts, salt=f"{kind}:{value}"):
            edge = edges.setdefault((a, b), GraphEdge(a, b))
            if kind not in edge.kinds:
                edge.kinds.append(kind)
    drawn = sorted(edges.values(), key=lambda e: EDGE_KINDS.index(e.kind))[:MAX_GRAPH_EDGES]
    return AccountGraph(list(nodes.values()), drawn, len(ids), total)
