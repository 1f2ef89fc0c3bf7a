"""Communities label propagation split off one hydra go back into it; hydras that only rent the
same proxies stay apart.

The rule reads two tables the scan builds before it: ``cluster_members`` (label propagation's
communities) and ``corroboration_values`` (the pure values each gated account holds). They are
planted here directly, so the test pins the merge rule alone.
"""

from __future__ import annotations

import pyarrow as pa

from distillguard.detectors.satellites import community_merge_steps
from distillguard.engine.base import run_steps
from distillguard.scan.graph import apply_merges
from distillguard.warehouse import Warehouse

EXITS = [("ip_prefix", f"exit-{k}") for k in range(4)]


def _plant(warehouse: Warehouse, clusters: dict[str, dict[str, list[tuple[str, str]]]]) -> None:
    """``clusters``: cluster id -> account id -> the pure (kind, value) pairs it holds."""
    members, values = [], []
    for cluster_id, accounts in clusters.items():
        for account_id, held in accounts.items():
            members.append({"account_id": account_id, "cluster_id": cluster_id, "size": len(accounts)})
            values += [{"account_id": account_id, "kind": k, "value": v} for k, v in held]
    warehouse.replace_table("cluster_members", pa.Table.from_pylist(members))
    warehouse.replace_table("corroboration_values", pa.Table.from_pylist(values))


def _clusters(warehouse: Warehouse) -> dict[str, str]:
    rows = warehouse.engine.to_arrow("SELECT account_id, cluster_id FROM cluster_members").to_pylist()
    return {r["account_id"]: r["cluster_id"] for r in rows}


def _merge(warehouse: Warehouse) -> dict[str, str]:
    run_steps(warehouse.engine, community_merge_steps())
    apply_merges(warehouse.engine)
    return _clusters(warehouse)


def test_a_community_living_inside_a_larger_ones_exits_and_scaffolds_joins_it(warehouse: Warehouse) -> None:
    scaffolds = [("template", f"scaffold-{k}") for k in range(3)]
    hydra = {f"h{i}": EXITS + scaffolds for i in range(6)}
    split = {"s0": EXITS + scaffolds[:2], "s1": EXITS[:3] + scaffolds[1:]}
    _plant(warehouse, {"cl-hydra": hydra, "cl-split": split})
    clusters = _merge(warehouse)
    assert {clusters[a] for a in [*hydra, *split]} == {"cl-hydra"}
    assert len(clusters) == len(hydra) + len(split)  # moved, not copied


def test_hydras_renting_the_same_proxies_stay_apart(warehouse: Warehouse) -> None:
    # the same four exits, but each its own scaffolds and card: one kind shared, not two
    first = {f"a{i}": [*EXITS, ("template", "scaffold-a"), ("payment", "card-a")] for i in range(6)}
    second = {f"b{i}": [*EXITS, ("template", "scaffold-b"), ("payment", "card-b")] for i in range(3)}
    _plant(warehouse, {"cl-first": first, "cl-second": second})
    clusters = _merge(warehouse)
    assert {clusters[a] for a in second} == {"cl-second"}
    assert {clusters[a] for a in first} == {"cl-first"}


def test_a_community_sharing_only_part_of_its_values_stays(warehouse: Warehouse) -> None:
    hydra = {f"h{i}": [*EXITS, ("template", "scaffold-0"), ("shape", "settings-0")] for i in range(6)}
    # the hydra's exits and settings, but most of what it holds is its own
    other = {
        f"o{i}": [*EXITS[:2], ("shape", "settings-0"), *[("template", f"own-{k}") for k in range(5)]]
        for i in range(3)
    }
    _plant(warehouse, {"cl-hydra": hydra, "cl-other": other})
    clusters = _merge(warehouse)
    assert {clusters[a] for a in other} == {"cl-other"}
