"""Partner indicators matched against a second provider's accounts, batch and live."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from distillguard.config import Config
from distillguard.fingerprints import minhash
from distillguard.intel.exchange import export_bundle
from distillguard.intel.matching import PartnerIndex, match_warehouse, partner_decisions
from distillguard.intel.stix_import import import_bundle
from distillguard.warehouse import Warehouse

from .conftest import START, TEMPLATES, Planted, just_now, plant


@pytest.fixture
def provider_b(tmp_path: Path, intel_config: Config, warehouse: Warehouse, planted: Planted):
    """Provider B sees the same operator with other accounts and other prompt slots; A shared."""
    bundle = export_bundle(warehouse, intel_config, record=False).to_json()
    config_b = intel_config.with_overrides(db_path=str(tmp_path / "b.duckdb"), hmac_secret="b-local-secret")
    wh = Warehouse.open(config_b.db_path)
    seen = plant(wh, config_b, seed=99, prefix="b", start=START + timedelta(days=3), detected=False)
    import_bundle(wh, bundle, source="provider-a.json")
    yield wh, config_b, seen, json.loads(bundle)
    wh.close()


def _matches(wh: Warehouse) -> list[dict]:
    return wh.engine.to_arrow("SELECT * FROM partner_matches ORDER BY account_id, indicator_kind").to_pylist()


def test_partner_indicators_flag_the_same_operation_and_no_ordinary_customer(provider_b) -> None:
    wh, config_b, seen, _ = provider_b
    report = match_warehouse(wh, config_b, now=START + timedelta(days=3))
    rows = _matches(wh)
    matched = {r["account_id"] for r in rows}
    assert matched == set(seen.campaign_accounts)
    assert {"asn", "sdk", "payment", "template"} <= set(report.by_kind)
    assert all(
        "seen at partner distillguard provider as part of campaign Distillation" in r["reason"] for r in rows
    )
    assert all(0 < r["confidence"] <= 1 and r["valid_until"] is not None for r in rows)


def test_expired_and_revoked_indicators_do_not_match(provider_b) -> None:
    wh, config_b, _, bundle = provider_b
    assert match_warehouse(wh, config_b, now=datetime(2031, 1, 1, tzinfo=UTC)).matches == 0
    revoked = [
        {**o, "revoked": True, "modified": just_now()} for o in bundle["objects"] if o["type"] == "indicator"
    ]
    import_bundle(
        wh, json.dumps({"type": "bundle", "id": "bundle--r", "objects": revoked}), source="revocation"
    )
    assert match_warehouse(wh, config_b, now=START + timedelta(days=3)).matches == 0
    assert _matches(wh) == []


def test_live_index_and_decisions_use_the_same_indicators(provider_b) -> None:
    wh, config_b, seen, _ = provider_b
    index = PartnerIndex.from_warehouse(wh, config_b, now=START + timedelta(days=3))
    assert index.check(asn="AS64500")
    assert index.check(sdk="py-hydra-2.1")
    fresh_prompt = TEMPLATES[0].format(a="1:15", b="412", c="88")
    assert any(hit.kind == "template" for hit in index.check(prompt_minhash=minhash(fresh_prompt)))
    assert index.check(asn="AS64999", sdk="web-3", prompt_minhash=minhash("what should I cook tonight")) == []
    match_warehouse(wh, config_b, now=START + timedelta(days=3))
    decisions = partner_decisions(wh).to_pylist()
    assert {d["subject_id"] for d in decisions} == set(seen.campaign_accounts)
    assert all(d["action"] == "challenge" and d["reasons"] for d in decisions)


def test_raw_prefixes_from_a_partner_match_our_locally_hashed_prefixes(
    provider_b, intel_config: Config
) -> None:
    wh, config_b, seen, bundle = provider_b
    indicator = {
        **next(o for o in bundle["objects"] if o["type"] == "indicator"),
        "id": "indicator--0b7e1f3a-3d4c-4f6e-9a8b-1c2d3e4f5a6b",
        "pattern": "[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
        "extensions": {},
    }
    import_bundle(wh, json.dumps({"type": "bundle", "id": "bundle--p", "objects": [indicator]}), source="raw")
    report = match_warehouse(wh, config_b, now=START + timedelta(days=3))
    assert report.by_kind.get("ip_prefix") == len(seen.campaign_accounts)


def test_cli_match_writes_partner_matches(provider_b, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import app
    from distillguard.intel.matching import load_partner_matches

    from .conftest import COMMUNITY_KEY

    wh, config_b, seen, _ = provider_b
    db = config_b.db_path
    wh.close()
    monkeypatch.setenv("DISTILLGUARD_INTEL_COMMUNITY_KEY", COMMUNITY_KEY)
    monkeypatch.setenv("DISTILLGUARD_HMAC_SECRET", "b-local-secret")
    done = CliRunner().invoke(
        app, ["intel", "match", "--db", db, "--at", (START + timedelta(days=3)).isoformat()]
    )
    assert done.exit_code == 0, done.output
    assert f"on {len(seen.campaign_accounts)} accounts" in done.output
    with Warehouse.open(db) as reopened:
        assert {r["account_id"] for r in load_partner_matches(reopened).to_pylist()} == set(
            seen.campaign_accounts
        )
