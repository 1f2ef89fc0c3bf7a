"""A hydra member the content rules cannot read, beside accounts that only touch the hydra's exits.

- A member whose prompts the content rules read as nothing (everyday data questions in
  Chinese and French, planted scores all zero), sending thirty requests over two days, every
  one through the hydra's proxy exits, some in the hydra's scaffold: below the membership
  gate, it joins the hydra's cluster all the same (``exit_satellites``).
- A developer on a rotating proxy whose exits cross the hydra's pool (four of them among
  twenty-six of its own) and a home user whose one address is also one of the hydra's exits,
  both sometimes in the same scaffold: neither joins.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.detectors.test_pipeline_planted import (
    PROXY_POOL,
    START,
    Planted,
    _Builder,
    build,
    extend,
    scan_planted,
)

from distillguard.config import Config
from distillguard.warehouse import Warehouse

HYDRA_EXITS = PROXY_POOL[:11]  # the last address of the pool is on a campus network


# Everyday questions, each its own wording: nothing the content rules or the templating count.
ASKED = (
    "请分析这组季度销售数据并说明主要趋势",
    "Analyse ce tableau de ventes et dis-moi ce qui change",
    "What does the dip in week seven of this chart mean",
    "比较这两个地区的增长率有什么不同",
    "Résume les écarts entre les deux colonnes",
    "Which of these three suppliers is cheapest overall",
    "这些客户流失的原因可能是什么",
    "Quelle est la tendance des retours produits",
)
CAPABILITIES = ("data_analysis", "general", "reasoning", "math")
SUBJECTS = (
    "apples",
    "bicycles",
    "candles",
    "drills",
    "engines",
    "fabrics",
    "glasses",
    "helmets",
    "inks",
    "jackets",
    "kettles",
    "lamps",
    "mirrors",
    "needles",
    "ovens",
    "pianos",
    "quilts",
    "radios",
    "saddles",
    "tents",
    "umbrellas",
    "violins",
    "wallets",
    "yachts",
    "zippers",
    "anchors",
    "boots",
    "cables",
    "drums",
    "easels",
)


def _requests(
    b: _Builder,
    account: str,
    ips: list[str],
    *,
    scaffold_every: int = 0,
    max_tokens: int = 4096,
    messages: int = 3,
) -> None:
    """Varied multi-turn questions over two days; every ``scaffold_every``-th request wrapped
    in the hydra's first scaffold (its template family)."""
    for k, ip in enumerate(ips):
        b.event(
            account,
            START + timedelta(hours=12 + k * 48 // len(ips), minutes=k % 7),
            f"{ASKED[k % len(ASKED)]}: {SUBJECTS[k % len(SUBJECTS)]}",
            ip=ip,
            scores=(0.0, 0.0, 0.0),
            capability=CAPABILITIES[k % len(CAPABILITIES)],
            template="tf-scaffold-0" if scaffold_every and k % scaffold_every == 0 else None,
            max_tokens=max_tokens,
            output_tokens=900,
            messages=messages,
            session=f"s-{account}-{k // 3}" if messages > 1 else None,
            asn="AS9009",
        )


def _plant(data: Planted) -> dict[str, str]:
    b = extend(data)
    quiet = b.account(
        "acct-quiet", created=START - timedelta(days=30), plan="startup", verification="email", payment=None
    )
    _requests(b, quiet, [HYDRA_EXITS[k % 11] for k in range(30)], scaffold_every=3, messages=1)
    crossing = b.account(
        "acct-crossing",
        created=START - timedelta(days=300),
        plan="paygo",
        verification="phone",
        payment="card-dev-crossing",
    )
    _requests(
        b, crossing, [f"198.51.{k}.20" for k in range(26)] + HYDRA_EXITS[:4], scaffold_every=3, messages=1
    )
    home = b.account(
        "acct-home",
        created=START - timedelta(days=90),
        plan="paygo",
        verification="phone",
        payment="card-home",
    )
    # big limits: not clearly ordinary, so only its single exit keeps it out
    _requests(b, home, [HYDRA_EXITS[3]] * 30, scaffold_every=3, max_tokens=32000)
    return {"quiet": quiet, "crossing": crossing, "home": home}


@pytest.fixture
def scanned(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> tuple[Planted, dict[str, str], dict[str, dict[str, Any]]]:
    data = build()
    planted = _plant(data)
    return data, planted, scan_planted(warehouse, config, monkeypatch, data)


def test_a_member_sending_only_through_the_hydras_exits_joins_it_those_crossing_them_do_not(
    scanned: tuple[Planted, dict[str, str], dict[str, dict[str, Any]]],
    warehouse: Warehouse,
) -> None:
    data, planted, scores = scanned
    behaviour = {
        r["account_id"]: r
        for r in warehouse.engine.to_arrow(
            "SELECT account_id, gate, behaviour FROM account_behaviour"
        ).to_pylist()
    }
    # all three are below the membership gate and not clearly ordinary: only the exits rule decides
    for name, account in planted.items():
        assert not behaviour[account]["gate"] and behaviour[account]["behaviour"] >= 0.2, (
            name,
            behaviour[account],
        )
    hydra_clusters = {scores[a]["cluster_id"] for a in data.hydra}
    quiet = scores[planted["quiet"]]
    assert quiet["cluster_id"] in hydra_clusters, quiet["reasons"]
    # joining decides nothing by itself: it inherits in proportion to how much it behaves like
    # the hydra, which a member whose content reads as nothing does only in part
    assert quiet["cluster_logit"] > 0 and any(x.startswith("cluster.member") for x in quiet["reasons"])
    for name in ("crossing", "home"):
        row = scores[planted[name]]
        assert row["cluster_id"] is None and row["cluster_logit"] == 0.0, (name, row["reasons"])
