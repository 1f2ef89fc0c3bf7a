"""Connected components in SQL: the right groups, ids named after the smallest member."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from distillguard.engine.base import run_steps
from distillguard.scan import graph
from distillguard.warehouse import Warehouse


def _links(warehouse: Warehouse, pairs: list[tuple[str, str]]) -> None:
    table = pa.table(
        {"src": [a for a, _ in pairs], "dst": [b for _, b in pairs], "weight": [1.0] * len(pairs)}
    )
    warehouse.replace_table("graph_links", table)


def _groups(warehouse: Warehouse) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in warehouse.engine.to_arrow("SELECT account_id, cluster_id FROM cluster_members").to_pylist():
        found.setdefault(row["cluster_id"], set()).add(row["account_id"])
    return found


def test_chains_merge_and_separate_components_stay_apart(warehouse: Warehouse) -> None:
    # A long chain needs several propagation rounds; d-e is a second component.
    chain = [(f"a{i:02d}", f"a{i + 1:02d}") for i in range(12)]
    _links(warehouse, [*reversed(chain), ("d", "e")])
    rounds = graph.connected_components(warehouse.engine)
    groups = _groups(warehouse)
    assert sorted(map(sorted, groups.values())) == [[f"a{i:02d}" for i in range(13)], ["d", "e"]]
    assert rounds > 1
    expected_id = "cl-" + hashlib.md5(b"a00").hexdigest()[:12]
    assert groups[expected_id] == {f"a{i:02d}" for i in range(13)}


def test_cluster_ids_do_not_depend_on_edge_order(warehouse: Warehouse) -> None:
    pairs = [("x3", "x1"), ("x2", "x3"), ("y1", "y2")]
    _links(warehouse, pairs)
    graph.connected_components(warehouse.engine)
    first = _groups(warehouse)
    _links(warehouse, list(reversed([(b, a) for a, b in pairs])))
    graph.connected_components(warehouse.engine)
    assert _groups(warehouse) == first


def test_label_propagation_keeps_two_hydras_apart_across_one_bridge(warehouse: Warehouse) -> None:
    # Two dense groups (every pair tied) and one accidental tie between them.
    left = [f"l{i}" for i in range(8)]
    right = [f"r{i}" for i in range(8)]
    pairs = [(a, b) for group in (left, right) for i, a in enumerate(group) for b in group[i + 1 :]]
    _links(warehouse, [*pairs, ("l0", "r0")])
    graph.label_propagation(warehouse.engine)
    assert sorted(map(sorted, _groups(warehouse).values())) == [sorted(left), sorted(right)]
    # Connected components, by contrast, chain them into one.
    graph.connected_components(warehouse.engine)
    assert len(_groups(warehouse)) == 1


def test_label_propagation_joins_every_isolated_pair_whatever_its_names(warehouse: Warehouse) -> None:
    """A campaign's first two accounts, tied only to each other, are one cluster. With a fixed
    split by name, a pair whose names hash into the same half swapped labels for ever."""
    same_half = [f"acct-{i}" for i in range(200) if hashlib.md5(f"acct-{i}".encode()).hexdigest() < "8"]
    pairs = [(same_half[k], same_half[k + 1]) for k in range(0, 40, 2)]
    _links(warehouse, pairs)
    graph.label_propagation(warehouse.engine)
    assert sorted(map(sorted, _groups(warehouse).values())) == sorted(sorted(p) for p in pairs)


def test_label_propagation_counts_equal_vote_weights_as_a_tie(warehouse: Warehouse) -> None:
    # "m" hears label a (one tie of 0.3) and label b (two ties, 0.1 and 0.2). In floating point
    # 0.1 + 0.2 is 0.30000000000000004, and which way such a tie fell followed the order the
    # engine's threads added the votes in: the same warehouse scanned twice clustered apart.
    # Equal weights are a tie, and a tie goes to the smaller label.
    tied = pa.table({"src": ["a", "b1", "b2"], "dst": ["m", "m", "m"], "weight": [0.3, 0.1, 0.2]})
    warehouse.replace_table("graph_links", tied)
    engine = warehouse.engine
    run_steps(engine, [graph.lpa_nodes_step(), graph.lpa_labels_step(), graph.symmetric_links_step()])
    # b1 and b2 already carry one label (b1's), as a community's members do
    engine.execute(
        "UPDATE cc_labels SET label = (SELECT id FROM lpa_nodes WHERE name = 'b1') WHERE name = 'b2'"
    )
    run_steps(engine, [graph.lpa_round_step(everyone=True)])
    moved = engine.to_arrow(
        "SELECT n.name FROM cc_labels_next c JOIN lpa_nodes n ON n.id = c.label "
        "WHERE c.name = 'm'"
    ).column("name")[0].as_py()
    assert moved == "a"
