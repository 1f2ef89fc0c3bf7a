"""TAXII server rules checked in process (no subprocess): closed discovery, status ownership, versions."""

from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what we pin
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from distillguard.config import Config
from distillguard.intel.exchange import export_bundle
from distillguard.intel.stix_export import stix_id
from distillguard.intel.taxii_server import Collection, Partner, ServerSettings, create_app, hash_key
from distillguard.warehouse import Warehouse

from .conftest import Planted, just_now

MEDIA = "application/taxii+json;version=2.1"
SHARED = str(uuid.uuid4())
# lab-a pushes what the planted warehouse exports under the default identity name
IDENTITY_A = stix_id("identity", "distillguard provider")
IDENTITY_B = stix_id("identity", "lab b")


def _client(tmp_path: Path, *, closed_discovery: bool) -> TestClient:
    settings = ServerSettings(
        collections=[Collection(SHARED, "shared")],
        partners=[
            Partner("lab-a", hash_key("key-a"), frozenset({SHARED}), frozenset({SHARED}), IDENTITY_A),
            Partner("lab-b", hash_key("key-b"), frozenset({SHARED}), frozenset({SHARED}), IDENTITY_B),
        ],
        discovery_requires_auth=closed_discovery,
    )
    return TestClient(create_app(settings, Warehouse.open(tmp_path / "taxii.duckdb")))


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": MEDIA, "Content-Type": MEDIA}


def test_discovery_can_require_a_key(tmp_path: Path) -> None:
    client = _client(tmp_path, closed_discovery=True)
    assert client.get("/taxii2/", headers={"Accept": MEDIA}).status_code == 401
    found = client.get("/taxii2/", headers=_headers("key-a"))
    assert found.status_code == 200 and found.json()["api_roots"][0].endswith("/intel/")


def test_status_belongs_to_its_writer_and_versions_are_listed(
    tmp_path: Path, warehouse: Warehouse, intel_config: Config, planted: Planted
) -> None:
    objects = export_bundle(warehouse, intel_config, record=False).bundle["objects"]
    client = _client(tmp_path, closed_discovery=False)
    url = f"/intel/collections/{SHARED}/objects/"
    status = client.post(url, headers=_headers("key-a"), content=json.dumps({"objects": objects}))
    assert status.status_code == 202 and status.headers["content-type"] == MEDIA
    status_url = f"/intel/status/{status.json()['id']}/"
    assert client.get(status_url, headers=_headers("key-a")).json()["success_count"] == len(objects)
    assert client.get(status_url, headers=_headers("key-b")).status_code == 404
    indicator = next(o for o in objects if o["type"] == "indicator")
    newer = {**indicator, "modified": just_now(), "revoked": True}
    client.post(url, headers=_headers("key-a"), content=json.dumps({"objects": [newer]}))
    versions = client.get(f"{url}{indicator['id']}/versions/", headers=_headers("key-b")).json()["versions"]
    assert versions == sorted([indicator["modified"], newer["modified"]])
    latest = client.get(f"{url}{indicator['id']}/", headers=_headers("key-b")).json()["objects"]
    assert latest == [newer]
    assert client.get(f"{url}?match[type]=campaign", headers=_headers("key-b")).json()["objects"][0][
        "type"
    ] == ("campaign")
