"""TAXII 2.1 interop: the OASIS taxii2-client against our server, our client against medallion.

Our server runs as `distillguard intel serve` in a subprocess on loopback, so the
CLI wiring, uvicorn and TLS are exercised as a user would run them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from distillguard.config import Config
from distillguard.intel.exchange import export_bundle
from distillguard.intel.stix_export import stix_id
from distillguard.intel.taxii_client import TaxiiClient, pull_into
from distillguard.warehouse import Warehouse
from support.servers import free_port, running

from .conftest import COMMUNITY_KEY, just_now, plant

BIN = Path(sys.executable).parent
SHARED = str(uuid.UUID("9f1c2b3a-4d5e-4f60-8a7b-1c2d3e4f5a60"))
PRIVATE_B = str(uuid.UUID("2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"))
KEYS = {"lab-a": "key-a-0123456789", "lab-b": "key-b-0123456789", "lab-c": "key-c-0123456789"}
NAMES = {"lab-a": "lab a provider", "lab-b": "lab b provider"}
IDENTITIES = {lab: stix_id("identity", name) for lab, name in NAMES.items()}  # what each exports as


class Bearer(requests.auth.AuthBase):
    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


@dataclass
class Taxii:
    base: str
    api_root: str
    bundle: dict  # lab-a's
    bundle_b: dict
    verify: bool | str = True


def _partners_file(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "api_root": "intel",
                "collections": [
                    {"id": SHARED, "title": "distillation intel"},
                    {"id": PRIVATE_B, "title": "lab-b private", "private_to": "lab-b"},
                ],
                "partners": [
                    {
                        "name": "lab-a",
                        "api_key": KEYS["lab-a"],
                        "identity": IDENTITIES["lab-a"],
                        "read": ["*"],
                        "write": [SHARED],
                    },
                    {
                        "name": "lab-b",
                        "api_key": KEYS["lab-b"],
                        "identity": IDENTITIES["lab-b"],
                        "read": [SHARED, PRIVATE_B],
                        "write": [SHARED, PRIVATE_B],
                    },
                    {"name": "lab-c", "api_key": KEYS["lab-c"], "read": [SHARED], "write": []},
                ],
            }
        )
    )
    return path


def _bundle(tmp: Path, lab: str = "lab-a") -> dict:
    from distillguard.config import load_config

    config = load_config(
        db_path=str(tmp / f"{lab}.duckdb"),
        hmac_secret=f"{lab}-secret",
        intel_community_key=COMMUNITY_KEY,
        intel_identity_name=NAMES[lab],
    )
    with Warehouse.open(config.db_path) as wh:
        plant(wh, config)
        return export_bundle(wh, config, record=False).bundle


def _serve(tmp: Path, port: int, *extra: str) -> list[str]:
    return [
        str(BIN / "distillguard"),
        "intel",
        "serve",
        "--partners",
        str(_partners_file(tmp / "partners.json")),
        "--db",
        str(tmp / "server.duckdb"),
        "--port",
        str(port),
        *extra,
    ]


@pytest.fixture(scope="module")
def taxii(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Taxii]:
    tmp = tmp_path_factory.mktemp("taxii")
    port = free_port()
    env = dict(
        os.environ,
        DISTILLGUARD_HMAC_SECRET="server-secret",
        DISTILLGUARD_TAXII_MAX_REQUEST_BYTES="2000000",
        DISTILLGUARD_TAXII_PAGE_SIZE="50",
    )
    with running(_serve(tmp, port), port, env=env):
        base = f"http://127.0.0.1:{port}"
        yield Taxii(base, f"{base}/intel/", _bundle(tmp), _bundle(tmp, "lab-b"))


def test_taxii2_client_reads_and_writes_our_server(taxii: Taxii) -> None:
    server = Server(f"{taxii.base}/taxii2/", auth=Bearer(KEYS["lab-a"]))
    assert server.title == "distillguard TAXII"
    root: ApiRoot = server.api_roots[0]
    titles = {c.title for c in root.collections}
    assert titles == {"distillation intel"}, "lab-a must not see lab-b's private collection"
    shared: Collection = next(c for c in root.collections if c.id == SHARED)
    status = shared.add_objects(json.dumps({"objects": taxii.bundle["objects"]}))
    assert status.status == "complete" and status.failure_count == 0
    assert status.success_count == len(taxii.bundle["objects"])
    reader = Collection(f"{taxii.api_root}collections/{SHARED}/", auth=Bearer(KEYS["lab-c"]))
    pages = list(as_pages(reader.get_objects, per_request=7))
    fetched = [o for page in pages for o in page.get("objects", [])]
    assert len(pages) > 2
    assert sorted(o["id"] for o in fetched) == sorted(o["id"] for o in taxii.bundle["objects"])
    manifest = reader.get_manifest()
    assert len(manifest["objects"]) == len(taxii.bundle["objects"])
    one = reader.get_object(taxii.bundle["objects"][-1]["id"])
    assert one["objects"][0] == taxii.bundle["objects"][-1]


def test_added_after_and_headers(taxii: Taxii) -> None:
    url = f"{taxii.api_root}collections/{SHARED}/objects/"
    headers = {"Authorization": f"Bearer {KEYS['lab-c']}", "Accept": "application/taxii+json;version=2.1"}
    first = httpx.get(url, headers=headers, params={"limit": "3"})
    assert first.headers["content-type"] == "application/taxii+json;version=2.1"
    last = first.headers["X-TAXII-Date-Added-Last"]
    assert first.headers["X-TAXII-Date-Added-First"] <= last
    later = httpx.get(url, headers=headers, params={"added_after": "2099-01-01T00:00:00.000Z"})
    assert later.status_code == 200 and "objects" not in later.json()


def test_access_control_and_limits(taxii: Taxii) -> None:
    def call(method: str, path: str, key: str | None = None, **kw: object) -> httpx.Response:
        headers = {
            "Accept": "application/taxii+json;version=2.1",
            "Content-Type": "application/taxii+json;version=2.1",
        }
        if key:
            headers["Authorization"] = f"Bearer {key}"
        headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
        return httpx.request(method, f"{taxii.base}{path}", headers=headers, **kw)  # type: ignore[arg-type]

    assert call("GET", "/taxii2/").status_code == 200  # discovery is open by default
    assert call("GET", "/intel/").status_code == 401
    assert call("GET", "/intel/collections/", "wrong-key").status_code == 401
    assert call("GET", f"/intel/collections/{PRIVATE_B}/objects/", KEYS["lab-a"]).status_code == 404
    assert call("GET", f"/intel/collections/{PRIVATE_B}/objects/", KEYS["lab-b"]).status_code == 200
    body = json.dumps({"objects": []})
    assert (
        call("POST", f"/intel/collections/{SHARED}/objects/", KEYS["lab-c"], content=body).status_code == 403
    )
    huge = json.dumps({"objects": [{"type": "note", "content": "x" * 3_000_000}]})
    assert (
        call("POST", f"/intel/collections/{SHARED}/objects/", KEYS["lab-a"], content=huge).status_code == 413
    )
    wrong = call("GET", "/intel/collections/", KEYS["lab-a"], headers={"Accept": "text/html"})
    assert wrong.status_code == 406


def test_hostile_push_is_refused_in_the_status_not_stored(taxii: Taxii) -> None:
    with TaxiiClient(taxii.api_root, api_key=KEYS["lab-b"]) as client:
        bad = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[broken",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
        }
        result = client.push(PRIVATE_B, [bad])
        assert result.failed == 1 and "pattern" in result.statuses[0]["failures"][0]["message"]
        pages = list(client.pages(PRIVATE_B))
        assert all(bad["id"] not in json.dumps(env) for env, _ in pages)


def test_partner_b_cannot_revoke_partner_as_indicator_but_may_sight_it(taxii: Taxii) -> None:
    """Issue 13, finding 4: B pushed A's indicator id with a later ``modified`` and ``revoked`` and
    it was accepted; A then read its own indicator as revoked."""
    with TaxiiClient(taxii.api_root, api_key=KEYS["lab-a"]) as lab_a:
        assert lab_a.push(SHARED, taxii.bundle["objects"]).failed == 0
    indicator = next(o for o in taxii.bundle["objects"] if o["type"] == "indicator")
    as_a = {**indicator, "modified": just_now(), "revoked": True}
    as_b = {**as_a, "created_by_ref": IDENTITIES["lab-b"]}
    identity_b = next(o for o in taxii.bundle_b["objects"] if o["id"] == IDENTITIES["lab-b"])
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created_by_ref": IDENTITIES["lab-b"],
        "created": just_now(),
        "modified": just_now(),
        "sighting_of_ref": indicator["id"],
        "where_sighted_refs": [IDENTITIES["lab-b"]],
        "count": 3,
    }
    with TaxiiClient(taxii.api_root, api_key=KEYS["lab-b"]) as lab_b:
        result = lab_b.push(SHARED, [as_a, as_b, identity_b, sighting])
    failures = {f["message"] for status in result.statuses for f in status["failures"]}
    assert result.failed == 2
    assert any("is not the writing partner's identity" in m for m in failures)
    assert any("only its creator may write new versions or revoke it" in m for m in failures)
    url = f"{taxii.api_root}collections/{SHARED}/objects/{indicator['id']}/"
    headers = {"Authorization": f"Bearer {KEYS['lab-a']}", "Accept": "application/taxii+json;version=2.1"}
    latest = httpx.get(url, headers=headers).json()["objects"]
    assert latest == [indicator] and not latest[0].get("revoked")
    sightings = httpx.get(f"{taxii.api_root}collections/{SHARED}/objects/{sighting['id']}/", headers=headers)
    assert sightings.json()["objects"][0]["created_by_ref"] == IDENTITIES["lab-b"]


def test_cli_push_then_incremental_pull(taxii: Taxii, tmp_path: Path, intel_config: Config) -> None:
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(taxii.bundle_b))
    env = dict(os.environ, DISTILLGUARD_HMAC_SECRET="b-secret", DISTILLGUARD_TAXII_API_KEY=KEYS["lab-b"])
    push = subprocess.run(
        [
            str(BIN / "distillguard"),
            "intel",
            "push",
            taxii.api_root,
            "--collection",
            PRIVATE_B,
            "--bundle",
            str(bundle_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert push.returncode == 0, push.stderr
    db = str(tmp_path / "b.duckdb")
    pull_cmd = [
        str(BIN / "distillguard"),
        "intel",
        "pull",
        taxii.api_root,
        "--collection",
        PRIVATE_B,
        "--db",
        db,
    ]
    first = subprocess.run(pull_cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    with Warehouse.open(db) as wh:
        indicators = wh.count("partner_indicators")
    assert indicators == sum(1 for o in taxii.bundle_b["objects"] if o["type"] == "indicator")
    again = subprocess.run(pull_cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "0 new objects" in again.stderr.replace("\n", " "), again.stderr


def test_https_when_given_a_certificate(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl not installed: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    env = dict(os.environ, DISTILLGUARD_HMAC_SECRET="server-secret")
    with running(_serve(tmp_path, port, "--certfile", str(cert), "--keyfile", str(key)), port, env=env):
        with TaxiiClient(
            f"https://127.0.0.1:{port}/intel/", api_key=KEYS["lab-b"], verify=str(cert)
        ) as client:
            assert {c["id"] for c in client.collections()} == {SHARED, PRIVATE_B}
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"https://127.0.0.1:{port}/taxii2/")  # not trusted without the CA


# ------------------------------------------------------------------ medallion
MEDALLION = "medallion==3.0.0"
MEDALLION_VENV = Path.home() / ".cache" / "distillguard-test" / "medallion-3.0.0"


def _medallion_python() -> Path:
    python = MEDALLION_VENV / "bin" / "python"
    if python.exists():
        return python
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(MEDALLION_VENV)], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", MEDALLION],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(MEDALLION_VENV, ignore_errors=True)
        pytest.skip(f"could not install {MEDALLION} into {MEDALLION_VENV}: {exc}")
    return python


def test_our_client_against_medallion(tmp_path: Path, taxii: Taxii, intel_config: Config) -> None:
    python = _medallion_python()
    port = free_port()
    collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    data = {
        "/discovery": {
            "title": "medallion test double",
            "default": f"http://127.0.0.1:{port}/trustgroup1/",
            "api_roots": [f"http://127.0.0.1:{port}/trustgroup1/"],
        },
        "trustgroup1": {
            "information": {
                "title": "trust group",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9_765_625,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "shared",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module_class": "MemoryBackend",
            "module": "medallion.backends.memory_backend",
            "filename": str(tmp_path / "data.json"),
        },
        "users": {"lab": "secret"},
        "taxii": {"max_page_size": 10},
    }
    (tmp_path / "medallion.json").write_text(json.dumps(config))
    args = [str(python), "-m", "medallion.scripts.run", "--port", str(port), str(tmp_path / "medallion.json")]
    # medallion 3.0.0 reads an extension-definition's own "version" property ("1.0.0") as the
    # object's version and fails every later GET with a 500, so that one object stays home.
    objects = [o for o in taxii.bundle["objects"] if o["type"] != "extension-definition"]
    with running(args, port):
        api_root = f"http://127.0.0.1:{port}/trustgroup1/"
        with TaxiiClient(api_root, user="lab", password="secret") as client:
            assert client.collections()[0]["id"] == collection
            pushed = client.push(collection, objects, chunk_objects=20)
            assert pushed.failed == 0 and pushed.succeeded == len(objects)
            with Warehouse.open(tmp_path / "b.duckdb") as wh:
                reports = pull_into(wh, client, collection, partner="medallion-peer")
                assert len(reports) > 1, "expected several pages (max_page_size 10)"
                indicators = wh.count("partner_indicators")
    assert indicators == sum(1 for o in taxii.bundle_b["objects"] if o["type"] == "indicator")
