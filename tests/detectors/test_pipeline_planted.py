"""Hand-built gateway traffic with one planted hydra and the hard negatives around it.

The hydra: twenty light accounts signed up the day before through education and
startup plans on two payment fingerprints, sending chain-of-thought elicitation
prompts from three scaffolds, single-turn, asking for the longest outputs, through
a rotating proxy pool, in lockstep, and moving most of their traffic to a model
released mid-scan. Around it, the traffic that must stay ``ok``: a university
course on one campus prefix (same homework scaffold, step-by-step wording,
deadline burst, and one of the hydra's proxies sits on the campus network), an
enterprise behind one NAT, an evaluation harness on a cloud range running a
step-by-step benchmark sweep that switches to the new model on release day, an
LLM router, a CI bot, and a developer who shares a client IP with the hydra.

Prompt-level scores are planted directly (``signals``) so these tests pin the
account, graph and campaign levels independently of the prompt detectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from distillguard.fingerprints import fingerprint, hash_ip
from distillguard.schema import ACCOUNTS, EVENTS, PROMPT_SIGNALS
from distillguard.warehouse import Warehouse

START = datetime(2026, 2, 2, tzinfo=UTC)
RELEASE = START + timedelta(days=2, hours=12)
OLD_MODEL = "model-a-2"
NEW_MODEL = "model-b-1"
SECRET = b"planted"
PROXY_POOL = [f"203.0.{j}.7" for j in range(11)] + ["10.20.30.250"]  # last one is on campus


@dataclass
class Planted:
    hydra: list[str] = field(default_factory=list)
    negatives: dict[str, list[str]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def negative_ids(self) -> list[str]:
        return [a for ids in self.negatives.values() for a in ids]


class _Builder:
    def __init__(self) -> None:
        self.planted = Planted()
        self.n = 0

    def account(
        self, account_id: str, *, created: datetime, plan: str, verification: str, payment: str | None
    ) -> str:
        self.planted.accounts.append(
            {
                "account_id": account_id,
                "created_at": created,
                "plan": plan,
                "verification": verification,
                "payment_fingerprint": payment,
                "country": "US",
            }
        )
        return account_id

    def event(
        self,
        account_id: str,
        ts: datetime,
        text: str,
        *,
        ip: str,
        scores: tuple[float, float, float],
        capability: str,
        template: str | None,
        model: str = OLD_MODEL,
        max_tokens: int = 1024,
        output_tokens: int = 400,
        messages: int = 3,
        session: str | None = None,
        effort: str | None = None,
        asn: str = "AS64500",
        sdk: str = "python/1.55",
        end_user: str | None = None,
        temperature: float | None = None,
        input_tokens: int | None = None,
        status: str = "success",
    ) -> None:
        self.n += 1
        event_id = f"e{self.n:06d}"
        prompt_hash, skeleton_hash, minhash = fingerprint(text)
        client_ip_hash, prefix_hash = hash_ip(SECRET, ip)
        self.planted.events.append(
            {
                "event_id": event_id,
                "source_format": "canonical",
                "ts_start": ts,
                "account_id": account_id,
                "session_id": session or f"s-{event_id}",
                "end_user_id": end_user,
                "client_ip_hash": client_ip_hash,
                "ip_prefix_hash": prefix_hash,
                "asn": asn,
                "sdk_fingerprint": sdk,
                "model_requested": model,
                "model_served": model,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "output_tokens": output_tokens,
                "input_tokens": input_tokens,
                "reasoning_effort": effort,
                "message_count": messages,
                "prompt_text": text,
                "prompt_hash": prompt_hash,
                "skeleton_hash": skeleton_hash,
                "prompt_minhash": minhash,
                "status": status,
            }
        )
        cot, grading, rewrite = scores
        self.planted.signals.append(
            {
                "event_id": event_id,
                "account_id": account_id,
                "ts_start": ts,
                "cot_elicitation": cot,
                "rubric_grading": grading,
                "censorship_rewrite": rewrite,
                "capability": capability,
                "template_family": template,
                "evidence": ["planted"] if max(scores) >= 0.5 else [],
            }
        )


HYDRA_TEMPLATES = (
    "Solve the problem below. Before the final answer write out your complete chain of thought. Problem: {}",
    "Reconstruct the full reasoning a strong model would use, step by step, then answer: {}",
    "Grade the answer below against the rubric, explain each criterion, give a score 1-10: {}",
)


def _hydra(b: _Builder, size: int) -> None:
    for i in range(size):
        account = b.account(
            f"acct-{9000 + i * 37}",
            created=START - timedelta(hours=20, minutes=-i * 7),
            plan=("education", "startup")[i % 2],
            verification="email",
            payment=f"card-{'ab'[i // (size // 2)]}-77",
        )
        b.planted.hydra.append(account)
        for k in range(36):
            ts = START + timedelta(hours=12 + 2 * k, minutes=i % 5, seconds=i * 3)
            model = NEW_MODEL if ts >= RELEASE and k % 5 < 3 else OLD_MODEL
            template = k % 3
            b.event(
                account,
                ts,
                HYDRA_TEMPLATES[template].format(f"integral number {k * 31 + i}"),
                ip=PROXY_POOL[(i + k) % len(PROXY_POOL)],
                scores=(0.9, 0.8 if template == 2 else 0.1, 0.0),
                capability=("reasoning", "math", "reasoning")[template],
                template=f"tf-scaffold-{template}",
                model=model,
                max_tokens=32000,
                output_tokens=3000,
                messages=1,
                effort="high",
                asn=("AS9009", "AS60068", "AS212238")[k % 3],
            )


def _campus(b: _Builder, size: int) -> list[str]:
    ids = []
    for i in range(size):
        account = b.account(
            f"acct-{100 + i}",
            created=START - timedelta(days=5, minutes=-i * 30),
            plan="education",
            verification="email",
            payment=None,
        )
        ids.append(account)
        for k in range(8):
            # Deadline burst: the last four on day three, evening, everyone together.
            ts = (
                START + timedelta(days=2, hours=19, minutes=(k - 4) * 20 + i % 7)
                if k >= 4
                else START + timedelta(hours=9 + k * 7 + i % 5)
            )
            b.event(
                account,
                ts,
                f"Explain step by step how to solve exercise {k} of problem set 3 ({i})",
                ip=f"10.20.30.{i + 1}",
                scores=(0.6, 0.0, 0.0),
                capability="math",
                template="tf-homework",
                messages=3 + k % 4,
                session=f"s-{account}-{k // 3}",
                asn="AS1103",
                output_tokens=350,
            )
    return ids


def _enterprise(b: _Builder) -> list[str]:
    ids = []
    for i in range(5):
        account = b.account(
            f"acct-{500 + i}",
            created=START - timedelta(days=400),
            plan="enterprise",
            verification="enterprise",
            payment=f"inv-{i}",
        )
        ids.append(account)
        for k in range(40):
            ts = START + timedelta(hours=8 + (k % 10), days=k // 10, minutes=i * 11)
            b.event(
                account,
                ts,
                f"Draft a reply to customer ticket {k * 7 + i} about invoice delays",
                ip="198.51.100.20",
                scores=(0.05, 0.0, 0.0),
                capability="general",
                template=None,
                messages=4,
                session=f"s-{account}-{k // 4}",
                max_tokens=2048,
            )
    return ids


def _eval_harness(b: _Builder) -> list[str]:
    ids = []
    for i in range(2):
        account = b.account(
            f"acct-{700 + i}",
            created=START - timedelta(days=300),
            plan="research",
            verification="id",
            payment=f"lab-{i}",
        )
        ids.append(account)
        for k in range(200):
            ts = START + timedelta(minutes=15 * k + i)
            model = NEW_MODEL if ts >= RELEASE else OLD_MODEL
            b.event(
                account,
                ts,
                f"Answer the benchmark question step by step, then give the letter. Q{k}",
                ip=f"35.1.{i}.{k % 4}",
                scores=(0.8, 0.0, 0.0),
                capability=("math", "coding", "reasoning")[k % 3],
                template="tf-bench",
                model=model,
                max_tokens=4096,
                output_tokens=700,
                messages=1,
                asn="AS16509",
                sdk="python/1.58",
            )
    return ids


def _router(b: _Builder) -> list[str]:
    account = b.account(
        "acct-800",
        created=START - timedelta(days=200),
        plan="paygo",
        verification="phone",
        payment="corp-router",
    )
    for k in range(300):
        ts = START + timedelta(minutes=13 * k)
        b.event(
            account,
            ts,
            f"User {k % 60} asks: help me plan a trip with {k % 9} stops",
            ip=f"52.0.{k % 3}.9",
            scores=(0.1 if k % 7 else 0.6, 0.0, 0.0),
            capability="general",
            template=None,
            messages=5,
            session=f"s-router-{k // 5}",
            end_user=f"u{k % 60}",
            asn="AS16509",
            max_tokens=2048,
        )
    return [account]


def _ci_bot(b: _Builder) -> list[str]:
    account = b.account(
        "acct-900", created=START - timedelta(days=100), plan="paygo", verification="email", payment="ci-card"
    )
    for k in range(288):
        b.event(
            account,
            START + timedelta(minutes=5 * k),
            "Summarise this diff for the changelog: <diff>",
            ip="34.2.2.2",
            scores=(0.0, 0.0, 0.0),
            capability="coding",
            template="tf-ci",
            messages=1,
            max_tokens=512,
            output_tokens=120,
            asn="AS396982",
        )
    return [account]


def _bystander(b: _Builder) -> list[str]:
    account = b.account(
        "acct-950",
        created=START - timedelta(days=700),
        plan="paygo",
        verification="phone",
        payment="dev-card",
    )
    for k in range(20):
        b.event(
            account,
            START + timedelta(hours=3 * k + 1),
            f"Why does my pandas merge drop rows? case {k}",
            ip=PROXY_POOL[3],
            scores=(0.0, 0.0, 0.0),
            capability="data_analysis",
            template=None,
            messages=6,
            session=f"s-dev-{k // 4}",
        )
    return [account]


def build(*, hydra_size: int = 20, campus_size: int = 30) -> Planted:
    b = _Builder()
    _hydra(b, hydra_size)
    b.planted.negatives = {
        "university": _campus(b, campus_size),
        "enterprise": _enterprise(b),
        "eval_harness": _eval_harness(b),
        "router": _router(b),
        "ci_bot": _ci_bot(b),
        "bystander": _bystander(b),
    }
    return b.planted


def load(warehouse: Warehouse, planted: Planted) -> None:
    warehouse.insert_events(pa.Table.from_pylist(planted.events, schema=EVENTS))
    warehouse.upsert_accounts(pa.Table.from_pylist(planted.accounts, schema=ACCOUNTS))
    warehouse.replace_table("_planted_signals", pa.Table.from_pylist(planted.signals, schema=PROMPT_SIGNALS))


# ----------------------------------------------------------------------------- tests
import pytest  # noqa: E402

from distillguard.config import Config  # noqa: E402
from distillguard.engine.base import SqlStep  # noqa: E402
from distillguard.rules import verdict  # noqa: E402
from distillguard.scan import pipeline  # noqa: E402


def extend(data: Planted) -> _Builder:
    """A builder that adds accounts and events to an already planted data set."""
    b = _Builder()
    b.planted = data
    b.n = len(data.events)
    return b


def stand_in_prompt_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prompt level is stood in by the planted scores (its own tests pin it)."""
    monkeypatch.setattr(
        pipeline,
        "prompt_level_steps",
        lambda config, until=None, **_: (
            [SqlStep("prompt_signals", "SELECT * FROM _planted_signals")],
            "planted",
        ),
    )


def account_scores(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    rows = warehouse.engine.to_arrow("SELECT * FROM account_scores").to_pylist()
    return {r["account_id"]: r for r in rows}


def plant(
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
    campaign: Callable[[_Builder], list[str]],
    negatives: Mapping[str, Callable[[_Builder], list[str]]],
) -> tuple[Planted, list[str]]:
    """The base planted set plus ``campaign`` and the look-alikes ``negatives`` (planted in that
    order), loaded with the prompt level stood in; returns the data and the campaign's accounts."""
    data = build()
    b = extend(data)
    accounts = campaign(b)
    for population, make in negatives.items():
        data.negatives[population] = make(b)
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    return data, accounts


def assert_negatives_ok(data: Planted, scores: dict[str, dict[str, Any]]) -> None:
    """Every planted look-alike is ``ok`` (the message names its population and its row)."""
    for population, ids in data.negatives.items():
        for account_id in ids:
            assert scores[account_id]["verdict"] == "ok", (population, scores[account_id])


def assert_one_cluster_at_extraction(scores: dict[str, dict[str, Any]], accounts: list[str]) -> str:
    """All of ``accounts`` are at ``extraction`` in one cluster; returns that cluster's id."""
    rows = [scores[a] for a in accounts]
    assert {r["verdict"] for r in rows} == {"extraction"}, [(r["account_id"], r["risk"]) for r in rows]
    clusters = {r["cluster_id"] for r in rows}
    assert len(clusters) == 1 and None not in clusters, clusters
    return str(rows[0]["cluster_id"])


def scan_planted(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch, data: Planted
) -> dict[str, dict[str, Any]]:
    """Load the planted traffic, scan it (prompt scores as planted) and return each account's
    score row."""
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    pipeline.scan(warehouse, config)
    return account_scores(warehouse)


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Planted:
    data = build()
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    return data


def test_planted_hydra_is_extraction_with_its_reasons_and_one_cluster(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    result = pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    hydra = [scores[a] for a in planted.hydra]
    assert {r["verdict"] for r in hydra} == {"extraction"}
    assert len({r["cluster_id"] for r in hydra}) == 1 and hydra[0]["cluster_id"] is not None
    assert len({r["campaign_id"] for r in hydra}) == 1 and hydra[0]["campaign_id"] is not None
    reasons = " ".join(hydra[0]["reasons"])
    for detector in ("account.training_shaped", "account.token_max", "cluster.member", "cluster.shared"):
        assert detector in reasons
    assert result.verdicts.get("extraction", 0) >= len(planted.hydra)
    cluster = warehouse.engine.to_arrow(
        "SELECT * FROM clusters WHERE cluster_id = ?", [hydra[0]["cluster_id"]]
    ).to_pylist()[0]
    assert cluster["accounts"] == len(planted.hydra) and cluster["verdict"] == "extraction"
    assert any("payment" in i or "ip_prefix" in i or "template" in i for i in cluster["top_indicators"])


def test_hard_negatives_stay_ok_and_outside_the_hydra(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    hydra_cluster = scores[planted.hydra[0]]["cluster_id"]
    for population, ids in planted.negatives.items():
        for account_id in ids:
            row = scores[account_id]
            assert row["verdict"] == "ok", (population, row)
            assert row["cluster_id"] != hydra_cluster, (population, row)


def test_findings_carry_reasons_and_redacted_sample_prompts(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    pipeline.scan(warehouse, config.with_overrides(text_storage="fingerprints-only"))
    rows = warehouse.engine.to_arrow(
        "SELECT * FROM findings WHERE subject_id = ?", [planted.hydra[0]]
    ).to_pylist()
    detectors = {r["detector_id"] for r in rows}
    assert {"account.risk", "account.training_shaped", "account.sample_prompt"} <= detectors
    samples = [r["reason"] for r in rows if r["detector_id"] == "account.sample_prompt"]
    assert samples and all("chain of thought" not in s and "reasoning" not in s for s in samples)
    assert all(r["reason"] for r in rows)


def test_campaign_ids_are_stable_across_scans_and_windows(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    pipeline.scan(warehouse, config, until=START + timedelta(days=2))
    early = account_scores(warehouse)[planted.hydra[0]]["campaign_id"]
    pipeline.scan(warehouse, config)
    first = account_scores(warehouse)[planted.hydra[0]]["campaign_id"]
    pipeline.scan(warehouse, config)
    second = account_scores(warehouse)[planted.hydra[0]]["campaign_id"]
    assert early is not None and early == first == second
    campaigns = warehouse.engine.to_arrow("SELECT campaign_id FROM campaigns").column(0).to_pylist()
    assert campaigns == [first]


def test_until_limits_the_scan_to_earlier_events(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    until = START + timedelta(days=1)
    result = pipeline.scan(warehouse, config, until=until)
    expected = sum(1 for e in planted.events if e["ts_start"] <= until)
    assert result.events == expected
    latest = warehouse.engine.to_arrow("SELECT max(ts_start) AS t FROM prompt_signals").column(0)[0].as_py()
    assert latest <= until


def test_pivot_to_the_new_model_is_campaign_evidence(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    pipeline.scan(warehouse, config)
    campaign = warehouse.engine.to_arrow("SELECT * FROM campaigns").to_pylist()[0]
    pivots = [e for e in campaign["evidence"] if e.startswith("campaign.pivot")]
    assert pivots and NEW_MODEL in pivots[0]
    assert set(campaign["capability_focus"]) & {"reasoning", "math"}
    found = warehouse.engine.to_arrow(
        "SELECT value FROM findings WHERE level = 'campaign' AND detector_id = 'campaign.pivot'"
    ).to_pylist()
    assert found and found[0]["value"] >= 0.3


def test_verdicts_follow_the_calibrated_thresholds_and_never_go_below_the_floors(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    strict = config.with_overrides(risk_watch_threshold=0.05, risk_extraction_threshold=0.99)
    for settings in (config, strict):
        pipeline.scan(warehouse, settings)
        (used,) = warehouse.engine.to_arrow("SELECT watch, extraction FROM scan_thresholds").to_pylist()
        assert used["extraction"] >= settings.risk_extraction_threshold
        assert used["watch"] >= settings.risk_watch_threshold
        for row in account_scores(warehouse).values():
            assert row["verdict"] == verdict(row["risk"], watch=used["watch"], extraction=used["extraction"])
    assert all(r["risk"] >= 0.99 for r in account_scores(warehouse).values() if r["verdict"] == "extraction")


def test_partner_matches_are_evidence(warehouse: Warehouse, config: Config, planted: Planted) -> None:
    from distillguard.schema import PARTNER_MATCHES

    warehouse.replace_table(
        "partner_matches",
        pa.Table.from_pylist(
            [
                {
                    "account_id": planted.hydra[1],
                    "indicator_id": "indicator--1",
                    "partner": "partner-x",
                    "partner_campaign": "campaign-y",
                    "indicator_kind": "payment",
                    "confidence": 0.9,
                    "reason": "payment fingerprint",
                    "valid_until": None,
                }
            ],
            schema=PARTNER_MATCHES,
        ),
    )
    pipeline.scan(warehouse, config)
    reasons = " ".join(account_scores(warehouse)[planted.hydra[1]]["reasons"])
    assert "partner-x" in reasons and "campaign-y" in reasons


def test_benign_only_traffic_has_no_extraction(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = build(hydra_size=0)
    load(warehouse, data)
    monkeypatch.setattr(
        pipeline,
        "prompt_level_steps",
        lambda config, until=None, **_: (
            [SqlStep("prompt_signals", "SELECT * FROM _planted_signals")],
            "planted",
        ),
    )
    result = pipeline.scan(warehouse, config)
    assert result.verdicts.get("extraction", 0) == 0
    assert warehouse.count("campaigns") == 0


def test_an_empty_warehouse_scans_to_empty_tables(warehouse: Warehouse, config: Config) -> None:
    result = pipeline.scan(warehouse, config)
    assert (result.events, result.accounts, result.clusters, result.campaigns) == (0, 0, 0, 0)
    for table in ("prompt_signals", "account_scores", "clusters", "campaigns", "findings"):
        assert warehouse.engine.exists(table) and warehouse.count(table) == 0
