"""`intel export`: a valid STIX 2.1 bundle with every object a partner needs, TLP-marked."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config
from distillguard.intel.exchange import export_bundle
from distillguard.intel.extension import EXTENSION_ID
from distillguard.intel.privacy import TLP2_MARKING_IDS
from distillguard.intel.stix_export import validate_bundle
from distillguard.schema import ACCOUNT_SCORES
from distillguard.warehouse import Warehouse

from .conftest import COMMUNITY_KEY, Planted


def _types(bundle: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for obj in bundle["objects"]:
        out.setdefault(obj["type"], []).append(obj)
    return out


def test_bundle_validates_and_carries_every_object_kind(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    result = export_bundle(warehouse, intel_config, attributions={"camp-a": "Hydra Operator"})
    assert validate_bundle(result.to_json()) == []
    by_type = _types(result.bundle)
    for kind in (
        "identity",
        "campaign",
        "intrusion-set",
        "infrastructure",
        "indicator",
        "attack-pattern",
        "relationship",
        "sighting",
        "extension-definition",
        "marking-definition",
    ):
        assert kind in by_type, f"no {kind} in the bundle"
    atlas = [ref for ap in by_type["attack-pattern"] for ref in ap.get("external_references", [])]
    assert {"source_name": "mitre-atlas", "external_id": "AML.T0024.002"}.items() <= atlas[0].items()
    kinds = {next(iter(i["extensions"].values()))["fingerprint_kind"] for i in by_type["indicator"]}
    assert {"asn", "sdk", "payment", "template"} <= kinds
    relationship_types = {r["relationship_type"] for r in by_type["relationship"]}
    assert {"indicates", "uses", "attributed-to"} <= relationship_types
    techniques = {
        next(iter(ap["extensions"].values()))["elicitation_technique"]
        for ap in by_type["attack-pattern"]
        if EXTENSION_ID in ap.get("extensions", {})
    }
    assert techniques == {"cot_elicitation", "rubric_grading"}


def test_every_object_is_marked_with_the_official_tlp2_marking(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    bundle = export_bundle(warehouse, intel_config).bundle
    amber = TLP2_MARKING_IDS["amber"]
    for obj in bundle["objects"]:
        if obj["type"] == "marking-definition":
            assert obj["id"] == amber and obj["name"] == "TLP:AMBER"
        else:
            assert obj["object_marking_refs"] == [amber], obj["id"]


def test_exports_are_idempotent_by_id(warehouse: Warehouse, intel_config: Config, planted: Planted) -> None:
    first = {o["id"]: o for o in export_bundle(warehouse, intel_config).bundle["objects"]}
    second = {o["id"]: o for o in export_bundle(warehouse, intel_config).bundle["objects"]}
    assert first == second


def test_templates_seen_by_fewer_than_k_accounts_are_withheld(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    strict = intel_config.with_overrides(intel_min_accounts_for_template=50)
    result = export_bundle(warehouse, strict, record=False)
    kinds = [
        next(iter(i["extensions"].values()))["fingerprint_kind"] for i in _types(result.bundle)["indicator"]
    ]
    assert "template" not in kinds
    assert any("withheld" in note for note in result.notes)


def test_raw_infrastructure_only_when_policy_allows(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    hashed = export_bundle(warehouse, intel_config, record=False).to_json()
    assert "autonomous-system:number" not in hashed
    raw = export_bundle(
        warehouse, intel_config.with_overrides(intel_share_raw_infrastructure=True), record=False
    )
    assert "[autonomous-system:number = 64500]" in raw.to_json()
    assert validate_bundle(raw.to_json()) == []


def test_indicators_that_disappear_are_revoked_in_the_next_export(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    first = export_bundle(warehouse, intel_config)
    shared = {o["id"] for o in first.bundle["objects"] if o["type"] == "indicator"}
    nothing = pa.Table.from_pylist([], schema=ACCOUNT_SCORES)
    warehouse.replace_table("account_scores", nothing)
    second = export_bundle(warehouse, intel_config)
    revoked = {o["id"] for o in second.bundle["objects"] if o.get("revoked")}
    assert revoked == shared
    assert validate_bundle(second.to_json()) == []


def test_cli_dry_run_shows_the_policy_and_writes_nothing(
    warehouse: Warehouse,
    intel_config: Config,
    planted: Planted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse.close()
    monkeypatch.setenv("DISTILLGUARD_INTEL_COMMUNITY_KEY", COMMUNITY_KEY)
    monkeypatch.setenv("DISTILLGUARD_HMAC_SECRET", "test-secret")
    out = tmp_path / "bundle.json"
    dry = CliRunner().invoke(app, ["intel", "export", "--db", intel_config.db_path, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "TLP:AMBER" in dry.output and "template" in dry.output and not out.exists()
    done = CliRunner().invoke(app, ["intel", "export", "--db", intel_config.db_path, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert validate_bundle(out.read_text()) == []
    assert json.loads(out.read_text())["type"] == "bundle"


def test_cli_without_community_key_is_a_one_line_error(
    warehouse: Warehouse, config: Config, planted: Planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.close()
    monkeypatch.delenv("DISTILLGUARD_INTEL_COMMUNITY_KEY", raising=False)
    done = CliRunner().invoke(
        app, ["intel", "export", "--db", config.db_path, "--out", str(tmp_path / "b.json")]
    )
    assert done.exit_code == 2
    assert "intel_community_key is not set" in done.output
    assert "Traceback" not in done.output


def test_templates_with_the_same_signature_become_one_indicator(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    from datetime import timedelta

    from distillguard.fingerprints import fingerprint
    from distillguard.schema import EVENTS

    from .conftest import START

    rows = []
    # Different skeletons, same set of word 3-shingles: the same MinHash signature.
    for n, text in enumerate(
        ["alpha beta gamma alpha beta gamma", "alpha beta gamma alpha beta gamma alpha beta gamma"]
    ):
        for account in planted.campaign_accounts[:6]:
            ph, sh, mh = fingerprint(text)
            rows.append(
                {
                    "event_id": f"{account}-dup{n}",
                    "source_format": "canonical",
                    "account_id": account,
                    "ts_start": START + timedelta(minutes=n),
                    "prompt_hash": ph,
                    "skeleton_hash": sh,
                    "prompt_minhash": mh,
                }
            )
    warehouse.insert_events(pa.Table.from_pylist(rows, schema=EVENTS))
    ids = [o["id"] for o in export_bundle(warehouse, intel_config).bundle["objects"]]
    assert len(ids) == len(set(ids))


def test_validate_bundle_reports_what_is_wrong(
    warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    bundle = export_bundle(warehouse, intel_config, record=False).bundle
    broken = [
        {k: v for k, v in o.items() if k != "pattern"} if o["type"] == "indicator" else o
        for o in bundle["objects"]
    ]
    errors = validate_bundle(json.dumps({**bundle, "objects": broken}))
    assert errors and any("pattern" in e for e in errors)
