"""Real nginx (Debian package) running examples/nginx.conf in front of a tiny upstream, asking a real
`distillguard serve` process through auth_request: the flagged account is refused, the ordinary one
reaches the upstream, a harvester is throttled with 429, and the verdict headers reach both sides.
Identity comes from the client's API key, never from a header the client wrote (issue 13, finding 2),
and the service answers nginx only with its gateway token (finding 3).
No Redis: the service keeps its state in process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from distillguard.config import Config, deployment_secret
from distillguard.fingerprints import hash_api_key
from distillguard.schema import EVENTS
from distillguard.warehouse import Warehouse
from support.servers import free_port, require_program, running

from .support_app import CAMPAIGN, CAMPAIGN_KEY, HARVESTER, KEYS, ORDINARY, START, plant_verdicts

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GATEWAY_TOKEN = "nginx-gateway-token-for-the-test"
HARVESTER_KEY = "key-harvester"


def key(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class Upstream(BaseHTTPRequestHandler):
    """The model API stand-in: answers 200 with the path and the headers nginx sent it."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw = json.dumps(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "bytes": len(body),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def nginx_conf(tmp: Path, *, listen: int, service: int, upstream: int) -> Path:
    """examples/nginx.conf with this test's ports, and pid, logs and temp files under ``tmp``."""
    text = (ROOT / "examples" / "nginx.conf").read_text()
    replacements = {
        "127.0.0.1:8080": f"127.0.0.1:{listen}",
        "127.0.0.1:8787": f"127.0.0.1:{service}",
        "127.0.0.1:8000": f"127.0.0.1:{upstream}",
        "REPLACE-WITH-YOUR-GATEWAY-TOKEN": GATEWAY_TOKEN,
        "worker_processes auto;": f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;",
        "http {": "http {\n"
        + "".join(
            f"    {name}_temp_path {tmp}/{name}_temp;\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    access_log {tmp}/access.log;\n",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"examples/nginx.conf no longer has exactly one {old!r}"
        text = text.replace(old, new)
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


def fetch(url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def plant_harvester_key(config: Config) -> None:
    """The harvester's own API key in the logs, so /v1/auth finds the harvester from it."""
    with Warehouse.open(config.db_path) as warehouse:
        row = {
            "event_id": "e-harvester",
            "source_format": "openai-chat",
            "ts_start": START,
            "account_id": HARVESTER,
            "api_key_hash": hash_api_key(deployment_secret(config), HARVESTER_KEY),
        }
        warehouse.insert_events(pa.Table.from_pylist([row], schema=EVENTS))


def test_nginx_auth_request_enforces_the_verdicts(config: Config, tmp_path: Path, upstream: int) -> None:
    nginx = require_program("nginx", "nginx")
    plant_verdicts(config)
    plant_harvester_key(config)
    service, listen = free_port(), free_port()
    conf = nginx_conf(tmp_path, listen=listen, service=service, upstream=upstream)
    where = ["-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    check = subprocess.run([nginx, "-t", *where], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    serve = [str(BIN / "distillguard"), "serve", "--db", config.db_path, "--port", str(service)]
    env = dict(
        os.environ,
        DISTILLGUARD_HMAC_SECRET="test-secret",  # the warehouse's hashing secret
        DISTILLGUARD_SERVE_GATEWAY_TOKENS=GATEWAY_TOKEN,
    )
    # One foreground process as the current user: no worker user to switch to, so the tmp paths work as root.
    nginx_args = [nginx, *where, "-g", "daemon off; master_process off;"]
    url = f"http://127.0.0.1:{listen}/v1/chat/completions"
    chat = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]}).encode()
    json_type = {"Content-Type": "application/json"}
    with running(serve, service, env=env, cwd=tmp_path) as service_process, running(nginx_args, listen):
        status, headers, body = fetch(url, {**key(CAMPAIGN_KEY), **json_type}, chat)
        assert status == 403, body
        assert headers["X-Distillguard-Action"] == "block" and headers["X-Distillguard-Risk"] == "0.970"
        decision_id = headers["X-Distillguard-Decision-Id"]
        assert json.loads(body)["error"]["decision_id"] == decision_id

        # Finding 2: naming someone else in X-Account-Id neither escapes a block nor frames anyone.
        escape = {**key(CAMPAIGN_KEY), "X-Account-Id": "innocent-nobody", "X-Api-Key-Id": "nobody"}
        assert fetch(url, escape, chat)[0] == 403
        framed = {**key(KEYS[ORDINARY]), "X-Account-Id": CAMPAIGN, **json_type}
        status, headers, body = fetch(url, framed, chat)
        assert status == 200, body
        seen = json.loads(body)
        assert seen["path"] == "/v1/chat/completions" and seen["bytes"] == len(chat)
        assert (
            seen["headers"]["x-distillguard-action"] == "allow"
            and headers["X-Distillguard-Action"] == "allow"
        )

        answers = [fetch(url, key(HARVESTER_KEY), chat) for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 429]
        degraded = json.loads(answers[0][2])["headers"]
        assert (
            degraded["x-distillguard-action"] == "degrade"
            and "logprobs" in degraded["x-distillguard-degrade"]
        )
        _, throttled, text = answers[2]
        assert throttled["Retry-After"] == "60" and throttled["X-Distillguard-Action"] == "throttle"
        assert json.loads(text)["error"]["type"] == "distillguard_throttle"

        # no credential: distillguard's 401 passes through, whatever identity header is claimed
        assert fetch(url, {"X-Account-Id": ORDINARY}, chat)[0] == 401

        # Finding 3: the service itself answers only the gateway holding the token.
        direct = f"http://127.0.0.1:{service}/v1/auth"
        assert fetch(direct, {"X-Client-Authorization": f"Bearer {CAMPAIGN_KEY}"})[0] == 401
        ask = json.dumps({"account_id": ORDINARY}).encode()
        decide = f"http://127.0.0.1:{service}/v1/decide"
        assert fetch(decide, json_type, ask)[0] == 401
        status, _, body = fetch(decide, {**json_type, **key(GATEWAY_TOKEN)}, ask)
        assert status == 200 and json.loads(body)["action"] == "allow"

        service_process.terminate()  # the decision service goes away: the example fails closed
        service_process.wait(timeout=15)
        status, headers, body = fetch(url, key(KEYS[ORDINARY]), chat)
        assert status == 503 and json.loads(body)["error"]["type"] == "distillguard_unavailable"

    audit = [json.loads(line) for line in (tmp_path / "dg.audit.jsonl").read_text().splitlines()]
    assert [r["account_id"] for r in audit] == [
        CAMPAIGN,
        CAMPAIGN,
        ORDINARY,
        HARVESTER,
        HARVESTER,
        HARVESTER,
        ORDINARY,
    ]
    assert audit[0]["decision_id"] == decision_id
    assert all(r["client_ip_hash"] for r in audit[:-1]), "X-Real-IP did not reach the service"


def test_serve_refuses_a_public_address_without_a_gateway_credential(config: Config, tmp_path: Path) -> None:
    serve = [str(BIN / "distillguard"), "serve", "--db", config.db_path, "--host", "0.0.0.0", "--port", "9"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    refused = subprocess.run(serve, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert refused.returncode != 0
    message = " ".join((refused.stdout + refused.stderr).split())
    assert "refusing to listen on 0.0.0.0" in message and "serve_gateway_tokens" in message
