"""Importing partner bundles: hostile input is quarantined with reasons, imports are idempotent."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config
from distillguard.intel.exchange import export_bundle
from distillguard.intel.stix_import import BundleRejected, import_bundle
from distillguard.warehouse import Warehouse

from .conftest import Planted, just_now


@pytest.fixture
def bundle(warehouse: Warehouse, intel_config: Config, planted: Planted) -> dict:
    return export_bundle(warehouse, intel_config, record=False).bundle


@pytest.fixture
def partner_wh(tmp_path: Path) -> Warehouse:
    wh = Warehouse.open(tmp_path / "partner.duckdb")
    yield wh
    wh.close()


def _indicator(bundle: dict) -> dict:
    return next(o for o in bundle["objects"] if o["type"] == "indicator")


def _reasons(wh: Warehouse) -> list[str]:
    return [str(r) for r in wh.engine.to_arrow("SELECT reason FROM intel_quarantine").column(0).to_pylist()]


def test_import_is_idempotent_and_names_partner_and_campaign(partner_wh: Warehouse, bundle: dict) -> None:
    raw = json.dumps(bundle)
    first = import_bundle(partner_wh, raw, source="a.json")
    again = import_bundle(partner_wh, raw, source="a.json")
    assert first.stored == len(bundle["objects"]) and not first.quarantined
    assert again.stored == 0 and again.unchanged == len(bundle["objects"])
    rows = partner_wh.engine.to_arrow("SELECT partner, partner_campaign FROM partner_indicators").to_pylist()
    assert len(rows) == sum(1 for o in bundle["objects"] if o["type"] == "indicator")
    assert {r["partner"] for r in rows} == {"distillguard provider"}
    assert all(str(r["partner_campaign"]).startswith("Distillation campaign") for r in rows)


def test_revocation_sticks_even_when_an_older_version_arrives_later(
    partner_wh: Warehouse, bundle: dict
) -> None:
    original = _indicator(bundle)
    revoked = {**original, "revoked": True, "modified": just_now()}
    import_bundle(partner_wh, json.dumps({**bundle, "objects": [*bundle["objects"], revoked]}), source="r")
    import_bundle(partner_wh, json.dumps(bundle), source="old-again")
    state = partner_wh.engine.to_arrow(
        "SELECT revoked FROM partner_indicators WHERE indicator_id = ?", [original["id"]]
    ).to_pylist()
    assert state == [{"revoked": True}]


def _hostile_cases(bundle: dict) -> dict[str, tuple[list[dict], str]]:
    ind = _indicator(bundle)
    rel = next(o for o in bundle["objects"] if o["type"] == "relationship")
    return {
        "wrong spec_version": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "spec_version": "2.0"}],
            "spec_version",
        ),
        "huge object": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "description": "x" * 400_000}],
            "byte limit",
        ),
        "unparsable pattern": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "pattern": "[ipv4-addr:value = "}],
            "pattern does not parse",
        ),
        "unknown type": (
            [{"type": "x-evil", "id": f"x-evil--{uuid.uuid4()}", "spec_version": "2.1"}],
            "unknown",
        ),
        "duplicate id": ([copy.deepcopy(ind), copy.deepcopy(ind)], "duplicate"),
        "dangling reference": (
            [{**rel, "id": f"relationship--{uuid.uuid4()}", "target_ref": f"campaign--{uuid.uuid4()}"}],
            "dangling reference",
        ),
        "malformed reference": (
            [{**rel, "id": f"relationship--{uuid.uuid4()}", "source_ref": "nope"}],
            "malformed",
        ),
        "id of another type": ([{**ind, "id": f"campaign--{uuid.uuid4()}"}], "identifier"),
        # issue 13, finding 4: each of these was accepted before
        "confidence 1000": ([{**ind, "id": f"indicator--{uuid.uuid4()}", "confidence": 1000}], "confidence"),
        "confidence -50": ([{**ind, "id": f"indicator--{uuid.uuid4()}", "confidence": -50}], "confidence"),
        "confidence NaN": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "confidence": float("nan")}],
            "non-finite",
        ),
        "valid_until before valid_from": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "valid_until": "2001-01-01T00:00:00Z"}],
            "valid_until is not after valid_from",
        ),
        "CIDR out of range": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "pattern": "[ipv4-addr:value = '999.1.1.1/99']"}],
            "999.1.1.1/99",
        ),
        "modified in the future": (
            [{**ind, "id": f"indicator--{uuid.uuid4()}", "modified": "2099-01-01T00:00:00.000Z"}],
            "in the future",
        ),
        "another creator's object": (
            [
                {
                    **ind,
                    "created_by_ref": f"identity--{uuid.uuid4()}",
                    "modified": just_now(),
                    "revoked": True,
                }
            ],
            "only its creator may write new versions or revoke it",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong spec_version",
        "huge object",
        "unparsable pattern",
        "unknown type",
        "duplicate id",
        "dangling reference",
        "malformed reference",
        "id of another type",
        "confidence 1000",
        "confidence -50",
        "confidence NaN",
        "valid_until before valid_from",
        "CIDR out of range",
        "modified in the future",
        "another creator's object",
    ],
)
def test_hostile_objects_are_quarantined_with_a_reason_and_nothing_stored_is_lost(
    partner_wh: Warehouse, bundle: dict, case: str
) -> None:
    import_bundle(partner_wh, json.dumps(bundle), source="good")
    before = partner_wh.engine.to_arrow("SELECT * FROM partner_indicators ORDER BY indicator_id").to_pylist()
    objects, reason = _hostile_cases(bundle)[case]
    report = import_bundle(
        partner_wh, json.dumps({"type": "bundle", "id": "bundle--x", "objects": objects}), source="hostile"
    )
    assert report.quarantined, f"{case} was not quarantined"
    assert any(reason in q.reason for q in report.quarantined), [q.reason for q in report.quarantined]
    assert any(reason in r for r in _reasons(partner_wh))
    after = partner_wh.engine.to_arrow("SELECT * FROM partner_indicators ORDER BY indicator_id").to_pylist()
    if case == "duplicate id":  # the first copy is the known indicator: unchanged
        assert [r["indicator_id"] for r in after] == [r["indicator_id"] for r in before]
    else:
        assert after == before


def test_a_bound_partner_identity_must_have_created_every_object(partner_wh: Warehouse, bundle: dict) -> None:
    someone_else = f"identity--{uuid.uuid4()}"
    report = import_bundle(partner_wh, json.dumps(bundle), source="b.json", partner_identity=someone_else)
    mine = [o for o in bundle["objects"] if o.get("created_by_ref") == _indicator(bundle)["created_by_ref"]]
    assert len(report.quarantined) == len(mine) + 1  # and the creator's own identity object
    assert all("is not the writing partner's identity" in q.reason for q in report.quarantined)
    assert partner_wh.count("partner_indicators") == 0


def test_strings_are_normalised_before_they_are_stored(partner_wh: Warehouse, bundle: dict) -> None:
    ind = _indicator(bundle)
    odd = {**ind, "id": f"indicator--{uuid.uuid4()}", "description": "lone \udfff half\u0000 and NUL"}
    raw = json.dumps({"type": "bundle", "id": "bundle--y", "objects": [*bundle["objects"], odd]})
    report = import_bundle(partner_wh, raw, source="odd")
    assert not report.quarantined
    body = partner_wh.engine.to_arrow("SELECT body FROM partner_objects WHERE object_id = ?", [odd["id"]])
    assert json.loads(body.column(0)[0].as_py())["description"] == "lone \ufffd half and NUL"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (json.dumps({"type": "bundle", "spec_version": "2.0", "objects": []}).encode(), "STIX 2.0"),
        (json.dumps({"type": "report"}).encode(), "not a STIX bundle"),
        (json.dumps({"type": "bundle", "objects": "nope"}).encode(), "not a list"),
        (b'{"type": "bundle", "objects": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_unusable_bundles_are_rejected_whole(partner_wh: Warehouse, raw: bytes, reason: str) -> None:
    with pytest.raises(BundleRejected, match=reason):
        import_bundle(partner_wh, raw, source="bad.json")
    assert any(reason in r for r in _reasons(partner_wh))


def test_oversized_bundle_is_rejected_before_parsing(partner_wh: Warehouse, bundle: dict) -> None:
    with pytest.raises(BundleRejected, match="byte limit"):
        import_bundle(partner_wh, json.dumps(bundle), source="big.json", max_bundle_bytes=1000)


def test_cli_import_reports_and_errors_on_one_line(
    partner_wh: Warehouse, bundle: dict, tmp_path: Path
) -> None:
    db = partner_wh.engine.path
    partner_wh.close()
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    bad.write_text("{broken")
    done = CliRunner().invoke(app, ["intel", "import", "--db", db, str(good)])
    assert done.exit_code == 0 and "0 quarantined" in done.output, done.output
    failed = CliRunner().invoke(app, ["intel", "import", "--db", db, str(bad)])
    assert failed.exit_code == 1 and "bad.json: rejected: not JSON" in failed.output
    assert "Traceback" not in failed.output
