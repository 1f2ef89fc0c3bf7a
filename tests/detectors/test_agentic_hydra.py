"""An agentic hydra: accounts harvesting agent and tool-use transcripts, each with its own
card, half of them from a home address of their own.

Eight accounts created the day before run a data-analysis agent through one script
(the same six wrappers, model and limits; most prompts paraphrased, so each account's
own template reuse is low), forty requests each, with no request for a reasoning trace,
a grade or a rewrite: what they collect is the agent's tool-use trajectories. Half the
fleet rotates through a residential proxy pool; the other half has its own card and exit,
so only the script ties it. Before agent work counted in the behaviour summary those
accounts never became graph nodes and stayed outside the cluster that names the rest.

The look-alikes beside them must stay ``ok``: an established IDE coding-agent product
sending nothing but tool work for its many end users, a new developer building a data
agent alone with big limits, and the planted hard negatives (campus, eval harness,
router, CI bot ...).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    Planted,
    _Builder,
    account_scores,
    assert_negatives_ok,
    assert_one_cluster_at_extraction,
    plant,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

# The script's two scaffolds: one drives the tool loop, one asks for the analysis itself.
AGENT_SCAFFOLDS = (
    "You are a data analyst with a python tool. Load table {}, profile every column, fit the "
    "model the task asks for, and report each tool call you make. Task {}: {}",
    "Using the results of table {} from your last tool calls, write the analysis for task {}: {}. "
    "Show the code you ran and explain every result.",
)
RESIDENTIAL_POOL = [f"100.{70 + j // 100}.{j % 100}.{9 + j % 5}" for j in range(24)]
# Worded tasks, each asked once per account.
TASKS = tuple(
    f"{verb} {subject}"
    for verb in ("forecast", "explain", "segment", "flag anomalies in", "find the drivers of")
    for subject in ("weekly revenue", "customer churn", "sensor drift", "claim costs")
)


def _agentic_hydra(b: _Builder, size: int = 8) -> list[str]:
    ids = []
    for i in range(size):
        account = b.account(
            f"acct-ag{i:02d}",
            created=START - timedelta(hours=20 + i * 3),
            plan=("free", "paygo", "education")[i % 3],
            verification="email",
            payment=f"card-own-{i}",  # every account its own card
        )
        ids.append(account)
        # Half the fleet rotates through a residential proxy pool, half exits from a home
        # address of its own.
        home = f"73.{40 + i}.{i * 3}.{20 + i}"
        for k in range(40):
            b.event(
                account,
                START + timedelta(hours=2 + k // 2, minutes=(i * 7 + k * 13) % 60),
                AGENT_SCAFFOLDS[k % 2].format(i * 1000 + k, k, TASKS[(k // 2 + i) % len(TASKS)]),
                ip=RESIDENTIAL_POOL[(i * 5 + k) % len(RESIDENTIAL_POOL)] if i % 2 else home,
                scores=(0.0, 0.0, 0.0),
                capability=("tool_use", "data_analysis")[k % 2],
                # Six wrappers the whole script shares, each used twice by every account; the
                # rest of its prompts are paraphrased into families of their own.
                template=f"tf-agent-scaffold-{k % 6}" if k < 12 else f"tf-{account}-{k}",
                max_tokens=16000,
                temperature=0.7,
                output_tokens=2400,
                messages=(1, 4)[k % 2],
                effort="high",
                asn=("AS7922", "AS701", "AS3320")[i % 3],
                sdk="python/1.52",
            )
    return ids


def _ide_agent_product(b: _Builder) -> list[str]:
    """An established coding-agent product: nothing but tool work, for many end users."""
    account = b.account(
        "acct-ide",
        created=START - timedelta(days=500),
        plan="enterprise",
        verification="id",
        payment="inv-ide",
    )
    for k in range(240):
        b.event(
            account,
            START + timedelta(minutes=11 * k),
            f"Apply the edit the user asked for in src/module_{k % 40}.py using the editor tool",
            ip=f"52.14.{k % 4}.7",
            scores=(0.0, 0.0, 0.0),
            capability=("tool_use", "coding")[k % 2],
            template="tf-ide-agent",
            max_tokens=16000,
            output_tokens=1500,
            messages=8,
            session=f"s-ide-{k // 6}",
            end_user=f"dev-{k % 80}",
            asn="AS16509",
            sdk="node/5.1",
        )
    return [account]


def _lone_agent_developer(b: _Builder) -> list[str]:
    """New, building a data agent alone: tool work with big limits, no one to share a script with."""
    account = b.account(
        "acct-dataapp",
        created=START - timedelta(hours=30),
        plan="paygo",
        verification="email",
        payment="dev-9",
    )
    for k in range(40):
        b.event(
            account,
            START + timedelta(hours=3 + k // 3, minutes=k * 7 % 60),
            f"Call the query tool on my warehouse and chart weekly signups, attempt {k}",
            ip="73.99.1.5",
            scores=(0.0, 0.0, 0.0),
            capability=("tool_use", "data_analysis")[k % 2],
            template=None,
            max_tokens=16000,
            output_tokens=2000,
            messages=3,
            session=f"s-dataapp-{k // 5}",
            effort="high",
            asn="AS7922",
            sdk="python/1.52",
        )
    return [account]


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, list[str]]:
    negatives = {"ide_agent_product": _ide_agent_product, "lone_agent_developer": _lone_agent_developer}
    return plant(warehouse, monkeypatch, _agentic_hydra, negatives)


def test_an_agentic_hydra_with_its_own_cards_and_exits_is_one_cluster_at_extraction(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    _, hydra = planted
    pipeline.scan(warehouse, config)
    assert_one_cluster_at_extraction(account_scores(warehouse), hydra)


def test_agent_work_opens_the_graph_but_moves_no_account_s_own_risk(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    """The behaviour summary counts agent work; the training-shaped signal, which moves risk,
    does not (coding products send little else)."""
    _, hydra = planted
    pipeline.scan(warehouse, config)
    rows = warehouse.engine.to_arrow(
        "SELECT account_id, gate, s_training FROM account_behaviour "
        "WHERE account_id LIKE 'acct-ag%' OR account_id = 'acct-ide'"
    ).to_pylist()
    by_id = {r["account_id"]: r for r in rows}
    assert all(by_id[a]["gate"] for a in hydra), rows
    assert all(r["s_training"] == 0.0 for r in rows), rows


def test_the_coding_agent_product_the_lone_developer_and_the_hard_negatives_stay_ok(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    data, _ = planted
    pipeline.scan(warehouse, config)
    assert_negatives_ok(data, account_scores(warehouse))
