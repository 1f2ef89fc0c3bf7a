"""A new startup team behind one office network is a team, not a hydra.

Four accounts created the same hour on the startup pathway run the team's coding tool:
the same scaffold, a coding tool's big output limits, all coding. Tied by the office
prefix, the sign-up burst and the template, they form a cluster, and before the cluster
was judged by how it reaches us four such accounts scored 0.88 (`extraction`). Nearly all
of a team's traffic comes through one prefix; a hydra's members reach us through many.
The same four accounts sending the same requests through rotating networks stay
`extraction`, so the change is about where the accounts sit, not about what they ask.
Since scoring counts a cluster's coordination only as far as its members reach us from
different places, the office team is `ok` or at most `watch` (a team sharing its tool,
sign-up week and hours is what a team is).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    _Builder,
    account_scores,
    build,
    extend,
    load,
    stand_in_prompt_level,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

SERVICES = ("orders", "users", "billing", "search")


def _team(b: _Builder, *, rotating: bool) -> list[str]:
    ids = []
    for i, service in enumerate(SERVICES):
        account = b.account(
            f"acct-team{i}",
            created=START - timedelta(hours=20, minutes=10 * i),
            plan="startup",
            verification="phone",
            payment=None,
        )
        ids.append(account)
        for k in range(40):
            # irregular, as requests from people at work are
            b.event(
                account,
                START + timedelta(hours=1, minutes=7 * k + 3 * i + (37 * k + 11 * i) % 13),
                f"Write unit tests for this function from our {service} service: def handler_{k}(req): ...",
                # one office prefix, or a proxy pool of forty prefixes the four rotate through
                ip=f"203.0.{(k + 5 * i) % 40}.{9 + i}" if rotating else f"192.0.2.{60 + i}",
                scores=(0.0, 0.0, 0.0),
                capability="coding",
                template="team-unit-tests",
                max_tokens=16000,
                temperature=0.2,
                output_tokens=1800,
                messages=1,
                asn="AS64511",
                sdk="python/1.60.2;linux",
            )
    return ids


@pytest.mark.parametrize(("rotating", "allowed"), [(False, {"ok", "watch"}), (True, {"extraction"})])
def test_an_office_team_stays_below_extraction_but_the_same_traffic_through_many_networks_does_not(
    warehouse: Warehouse,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    rotating: bool,
    allowed: set[str],
) -> None:
    data = build()
    team = _team(extend(data), rotating=rotating)
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    rows = [scores[a] for a in team]
    # tied together either way: the cluster is found, only its judgement differs
    assert len({r["cluster_id"] for r in rows}) == 1 and rows[0]["cluster_id"] is not None
    assert {r["verdict"] for r in rows} <= allowed, [(r["account_id"], r["risk"]) for r in rows]
    for hydra_account in data.hydra:  # the planted hydra beside them is still caught
        assert scores[hydra_account]["verdict"] == "extraction"
