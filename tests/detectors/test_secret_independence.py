"""The account graph's ties do not depend on the warehouse's HMAC secret.

Client addresses and their prefixes are stored as keyed hashes, so two providers, or one
provider after rotating its secret, hold different values for the same traffic. Which
accounts the graph ties must not move with them: the link steps only ever compare values
for equality. Tested on the link steps alone, over hand-made indicator rows whose network
values are renamed, with pools larger than the blocking window (``pair_window``), where
an order that followed the values would compare different pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import combinations

import pyarrow as pa

from distillguard.detectors.graph_edges import CORROBORATION_WEIGHT, PAIR_WINDOW, link_steps
from distillguard.engine.base import run_steps
from distillguard.warehouse import Warehouse

Row = tuple[str, str, str, int]  # account_id, kind, value, uses


def _young_pool() -> tuple[list[Row], dict[str, int]]:
    """Sixty young accounts exit through one proxy prefix and sixty use one client build; five
    do both. Only those five share two kinds, so only their pairs are corroborated."""
    rows: list[Row] = []
    events: dict[str, int] = {}
    for i in range(115):
        account = f"young-{i:03d}"
        events[account] = 2
        if i < 60:
            rows.append((account, "ip_prefix", "pool-prefix", 1))
        else:
            rows.append((account, "ip_prefix", f"own-prefix-{i}", 1))
        if i >= 55:
            rows.append((account, "sdk", "client/1.0", 1))
    return rows, events


def _established_pool() -> tuple[list[Row], dict[str, int]]:
    """Forty established accounts rotating through three prefixes of one pool, two each."""
    rows: list[Row] = []
    events: dict[str, int] = {}
    for i in range(40):
        account = f"pool-{i:03d}"
        events[account] = 40
        for j in range(3):
            if j != i % 3:
                rows.append((account, "ip_prefix", f"rotating-{j}", 12))
    return rows, events


def _links(warehouse: Warehouse, rename: Callable[[str, str], str]) -> set[tuple[str, str, float]]:
    young, young_events = _young_pool()
    established, established_events = _established_pool()
    rows = [(a, k, rename(k, v), u) for a, k, v, u in young + established]
    events = young_events | established_events
    holders: dict[tuple[str, str], int] = {}
    for _, kind, value, _ in rows:
        holders[(kind, value)] = holders.get((kind, value), 0) + 1
    warehouse.replace_table(
        "account_indicators",
        pa.table(
            {
                "account_id": [r[0] for r in rows],
                "kind": [r[1] for r in rows],
                "value": [r[2] for r in rows],
                "uses": [r[3] for r in rows],
            }
        ),
    )
    warehouse.replace_table(
        "account_behaviour",
        pa.table(
            {
                "account_id": list(events),
                "gate": [True] * len(events),
                "behaviour": [0.6] * len(events),
                "s_established": [0.0] * len(events),  # none an established customer
            }
        ),
    )
    warehouse.replace_table(
        "account_features", pa.table({"account_id": list(events), "events": list(events.values())})
    )
    warehouse.replace_table(
        "indicator_stats",
        pa.table(
            {
                "kind": [k for k, _ in holders],
                "value": [v for _, v in holders],
                "holders": list(holders.values()),
                "suspicious_holders": list(holders.values()),
            }
        ),
    )
    run_steps(warehouse.engine, link_steps())
    table = warehouse.engine.to_arrow("SELECT src, dst, weight FROM graph_links").to_pylist()
    return {(r["src"], r["dst"], round(float(r["weight"]), 6)) for r in table}


def _keyed(secret: str) -> Callable[[str, str], str]:
    """Network values as another secret would hash them; other kinds are not keyed."""

    def rename(kind: str, value: str) -> str:
        if kind != "ip_prefix":
            return value
        return hashlib.sha256(f"{secret}:{value}".encode()).hexdigest()[:24]

    return rename


def test_ties_are_the_same_under_two_secrets(warehouse: Warehouse) -> None:
    first = _links(warehouse, _keyed("one"))
    second = _links(warehouse, _keyed("two"))
    assert first == second


def test_every_young_pair_sharing_two_kinds_is_tied(warehouse: Warehouse) -> None:
    # The five accounts on both the pool prefix and the client build sit among sixty holders of
    # each value, far apart in any order: every pair of them is tied all the same, and no one else.
    assert PAIR_WINDOW < 60
    links = _links(warehouse, _keyed("one"))
    young = {(a, b, w) for a, b, w in links if a.startswith("young")}
    both = [f"young-{i:03d}" for i in range(55, 60)]
    assert young == {(a, b, round(2 * CORROBORATION_WEIGHT, 6)) for a, b in combinations(both, 2)}
