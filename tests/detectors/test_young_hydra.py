"""A young hydra at a streaming checkpoint: many fresh accounts, one or two requests each.

Eight accounts signed up the day before start harvesting within a few hours: each sends
one or two single-turn requests with big limits (most ask for the full reasoning trace,
one asks an ordinary question), each from a prefix of a small proxy pool it shares with
at most one other account, all through the same client build and with the same
generation parameters, each used once. Nothing repeats within an account, so no
per-kind tie (two shared prefixes, a repeated scaffold or shape) can link them; what
links them is several independent pure coincidences at once (client build + request
shape, plus a prefix for some pairs). At a checkpoint four hours after onset (14
requests) they are one cluster at ``extraction`` (the member whose one request was
ordinary at least at ``watch``); the hard negatives stay ``ok``. A ninth account sits below the
membership gate (two multi-turn requests with big limits, nothing training-shaped) but
uses the same pool, client build and settings: it joins as a young satellite and its
cluster lifts it well above an ordinary account, though not to ``extraction`` (it shows
nothing training-shaped itself); a new developer on one of the pool's prefixes, with his own client and
ordinary settings, joins nothing.

A variant shares the client build only (every account its own wording, shape and
prefix): one coincidence is not a tie, and no cluster forms.
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
    build,
    extend,
    load,
    scan_planted,
    stand_in_prompt_level,
)

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

POOL = [f"198.51.{j}.23" for j in range(4)]
OPENERS = (
    "Please solve",
    "Help me crack",
    "Could you do",
    "Work out",
    "I'm stuck on",
    "Try",
    "Explain",
    "Solve",
)
TOPICS = ("river", "hat", "bridge", "clock", "coin", "ladder", "lantern", "mirror")
CHECKPOINT = START + timedelta(hours=5)


def _young(b: _Builder, *, coordinated: bool, size: int = 8) -> list[str]:
    ids = []
    for i in range(size):
        account = b.account(
            f"acct-y{i:02d}",
            created=START - timedelta(hours=20, minutes=i * 11),
            plan=("education", "free")[i % 2],
            verification="email",
            payment=None,
        )
        ids.append(account)
        for k in range(1 + (i % 3 == 0)):
            ordinary = i == 5
            b.event(
                account,
                START + timedelta(hours=1, minutes=25 * i + 40 * k),
                (
                    f"Walk through question {i}-{k} and write out your complete chain of thought first"
                    if coordinated
                    else f"{OPENERS[i]} the {TOPICS[i]} puzzle, showing all of the reasoning trace"
                )
                if not ordinary
                else "What is a good name for a bakery?",
                ip=POOL[i // 2] if coordinated else f"192.0.{i}.{k + 5}",
                scores=(0.0, 0.0, 0.0) if ordinary else (0.85, 0.0, 0.0),
                capability="general" if ordinary else "reasoning",
                template=None,
                max_tokens=16000 if coordinated else 12000 + 500 * i,
                temperature=0.6,
                output_tokens=1500,
                messages=1,
                asn="AS14061",
                sdk="python/1.61.0;linux;x86_64",
            )
    if coordinated:
        # Below the gate: two multi-turn requests with big limits, nothing training-shaped,
        # through the hydra's pool, client build and settings.
        quiet = b.account(
            "acct-yq", created=START - timedelta(hours=19), plan="free", verification="email", payment=None
        )
        ids.append(quiet)
        for k in range(2):
            b.event(
                quiet,
                START + timedelta(hours=2, minutes=50 * k),
                ("Continue the refactor and run the tests again", "Now wire the new cache into the CLI")[k],
                ip=POOL[k],
                scores=(0.0, 0.0, 0.0),
                capability="general",
                template=None,
                max_tokens=16000,
                temperature=0.6,
                output_tokens=1500,
                messages=8,
                asn="AS14061",
                sdk="python/1.61.0;linux;x86_64",
            )
        # A new developer on one of the pool's prefixes, ordinary in everything else.
        dev = b.account(
            "acct-ynew",
            created=START - timedelta(hours=30),
            plan="paygo",
            verification="phone",
            payment="dv-1",
        )
        for k in range(3):
            b.event(
                dev,
                START + timedelta(hours=1, minutes=70 * k),
                f"How do I paginate results in my Flask app, part {k}?",
                ip=POOL[1],
                scores=(0.0, 0.0, 0.0),
                capability="coding",
                template=None,
                max_tokens=2048,
                temperature=0.2,
                output_tokens=500,
                messages=4,
                session="s-ynew",
                asn="AS14061",
                sdk="python/1.40.2;darwin;arm64",
            )
        b.planted.negatives["young_developer"] = [dev]
    return ids


def _planted(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, *, coordinated: bool
) -> tuple[Planted, list[str]]:
    data = build()
    b = extend(data)
    young = _young(b, coordinated=coordinated)
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    return data, young


def test_young_hydra_is_one_cluster_at_extraction_at_an_early_checkpoint(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, young = _planted(warehouse, monkeypatch, coordinated=True)
    pipeline.scan(warehouse, config, until=CHECKPOINT)
    scores = account_scores(warehouse)
    rows = [scores[a] for a in young]
    assert sum(r["events"] for r in rows) <= 14
    harvesters = [r for r in rows if r["account_id"] not in ("acct-y05", "acct-yq")]
    assert {r["verdict"] for r in harvesters} == {"extraction"}, [(r["account_id"], r["risk"]) for r in rows]
    # Its one request was ordinary: in the cluster for its script, at least watch.
    assert scores["acct-y05"]["verdict"] != "ok", scores["acct-y05"]
    # Below the gate, but its hydra's pool, client build and settings make it a young satellite.
    behaviour = warehouse.engine.to_arrow(
        "SELECT behaviour, gate FROM account_behaviour WHERE account_id = 'acct-yq'"
    ).to_pylist()[0]
    assert not behaviour["gate"] and behaviour["behaviour"] >= 0.2, behaviour
    # Its cluster adds to it, but with nothing training-shaped of its own (a fresh sign-up with
    # big limits is all it shows) membership raises it without deciding it.
    assert scores["acct-yq"]["cluster_id"] is not None
    assert 0.3 <= scores["acct-yq"]["risk"] < 0.8, scores["acct-yq"]
    clusters = {r["cluster_id"] for r in rows}
    assert len(clusters) == 1 and None not in clusters
    assert scores["acct-ynew"]["cluster_id"] is None
    for ids in data.negatives.values():
        for account_id in ids:
            if account_id in scores:
                assert scores[account_id]["verdict"] == "ok", scores[account_id]


def test_one_shared_client_build_is_not_a_tie(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, young = _planted(warehouse, monkeypatch, coordinated=False)
    pipeline.scan(warehouse, config, until=CHECKPOINT)
    scores = account_scores(warehouse)
    assert all(scores[a]["cluster_id"] is None for a in young), [scores[a] for a in young]
    assert all(scores[a]["verdict"] != "extraction" for a in young)


def test_the_young_hydra_does_not_pull_in_the_negatives_over_the_full_window(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, young = _planted(warehouse, monkeypatch, coordinated=True)
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    assert {scores[a]["verdict"] for a in young if a not in ("acct-y05", "acct-yq")} == {"extraction"}
    assert {scores[a]["cluster_id"] for a in young}.isdisjoint({scores[a]["cluster_id"] for a in data.hydra})
    assert_negatives_ok(data, scores)


def _scaffold_user(b: _Builder, account: str, scaffold: str, *, created_days: float, plan: str) -> str:
    """An account with history running an agent scaffold ``scaffold`` on the hydra's settings:
    forty multi-turn agent requests over the window, a fifth of them asking to reason step by step
    (an IDE product's users do), each from its own network and client."""
    b.account(
        account,
        created=START - timedelta(days=created_days),
        plan=plan,
        verification="enterprise" if plan == "enterprise" else "phone",
        payment=f"pm-{account}",
    )
    for n in range(40):
        reasoning = n % 5 == 0
        b.event(
            account,
            START + timedelta(hours=n * 1.7),
            f"Agent step {n}: apply the change to module {n} of the workspace and report the diff",
            ip=f"203.0.{113 if plan == 'enterprise' else 114}.{n % 50 + 2}",
            scores=(0.85, 0.0, 0.0) if reasoning else (0.0, 0.0, 0.0),
            capability="reasoning" if reasoning else "tool_use",
            template=scaffold,
            max_tokens=16000,
            temperature=0.6,
            output_tokens=5000,
            messages=8,
            session=f"s-{account}-{n // 4}",
            asn="AS64510",
            sdk=f"{account}-client/3.{n % 4}",
        )
    return account


def _young_on_scaffold(b: _Builder, name: str, scaffold: str, count: int) -> list[str]:
    """``count`` more fresh accounts of the hydra (its pool, client build and settings) whose one
    reasoning request went through ``scaffold``."""
    ids = []
    for i in range(count):
        account = b.account(
            f"acct-{name}{i}",
            created=START - timedelta(hours=21),
            plan="free",
            verification="email",
            payment=None,
        )
        ids.append(account)
        b.event(
            account,
            START + timedelta(hours=2, minutes=13 * i),
            f"Run task {name}-{i} and write out your complete chain of thought first",
            ip=POOL[i % len(POOL)],
            scores=(0.85, 0.0, 0.0),
            capability="reasoning",
            template=scaffold,
            max_tokens=16000,
            temperature=0.6,
            output_tokens=1500,
            messages=1,
            asn="AS14061",
            sdk="python/1.61.0;linux;x86_64",
        )
    return ids


def test_an_established_product_sharing_a_scaffold_with_one_hydra_account_stays_out_of_its_cluster(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IDE product, an enterprise customer for two years, runs its agent scaffold on the same
    settings as a young hydra; one of the hydra's fresh accounts sent one request through that
    scaffold. One fresh account is one coincidence: the product is not tied to the hydra through
    it. A bought aged account running the hydra's own script, which several of its fresh accounts
    run too, is tied in."""
    data = build()
    b = extend(data)
    young = _young(b, coordinated=True)
    ide = _scaffold_user(b, "acct-ide", "tf-ide-scaffold", created_days=700, plan="enterprise")
    one = _young_on_scaffold(b, "ys", "tf-ide-scaffold", 1)
    aged = _scaffold_user(b, "acct-aged", "tf-hydra-script", created_days=500, plan="enterprise")
    several = _young_on_scaffold(b, "yh", "tf-hydra-script", 3)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    hydra = {scores[a]["cluster_id"] for a in young + one + several if a not in ("acct-y05", "acct-yq")}
    assert len(hydra) == 1 and None not in hydra, hydra
    assert scores[ide]["cluster_id"] not in hydra, scores[ide]
    assert scores[ide]["verdict"] != "extraction", scores[ide]
    assert scores[aged]["cluster_id"] in hydra, scores[aged]
