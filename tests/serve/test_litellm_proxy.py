"""A real LiteLLM proxy with distillguard's hook, in front of a fake OpenAI-compatible upstream.

Everything runs on loopback as real processes: the fake upstream (records what reaches it),
``distillguard serve`` on a warehouse whose last scan flagged two accounts (packaged default
policy), and ``litellm --config`` with ``litellm_hook.proxy_handler_instance`` as its callback.
Requests are plain OpenAI-style HTTP calls to the proxy, as a client would send them. The
processes are shared by the module's tests; the last one stops the decision service.

LiteLLM is installed into its own virtualenv (its dependency pins clash with ours), cached under
``~/.cache/distillguard-tests/litellm-<version>``; the first run installs it (about a minute).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS
from distillguard.warehouse import Warehouse
from support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

# 1.108.7 is the newest release whose ``[proxy]`` extra resolves from the package index: later
# ones pin litellm-proxy / litellm-proxy-extras / litellm-enterprise builds not published there.
LITELLM_VERSION = "1.108.7"
HOOK = Path(__file__).resolve().parents[2] / "src" / "distillguard" / "serve" / "litellm_hook.py"
CACHE_ROOT = Path(os.environ.get("DISTILLGUARD_TEST_CACHE", Path.home() / ".cache" / "distillguard-tests"))
MODEL = "fake-gpt"
MASTER_KEY = "sk-distillguard-test-" + "0123456789abcdef" * 2


# ----------------------------------------------------------------------------- LiteLLM install
def litellm_env() -> Path:
    """The cached virtualenv with the pinned LiteLLM proxy; installs it on first use, else skips."""
    venv = CACHE_ROOT / f"litellm-{LITELLM_VERSION}"
    marker = venv / ".installed"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"litellm-{LITELLM_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs must not install into one folder at once
        if marker.exists():
            return venv
        # A folder without the marker is an interrupted install: start again (venv scripts hold
        # absolute paths, so it cannot be built elsewhere and moved into place).
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            problem = "\n".join(line for line in done.stderr.splitlines() if "WARNING" not in line)
            pytest.skip(f"cannot install litellm[proxy]=={LITELLM_VERSION} with pip: {problem[-500:]}")
        marker.write_text(LITELLM_VERSION)
    return venv


# ----------------------------------------------------------------------------- fake upstream
class Upstream:
    """An OpenAI-compatible chat completions endpoint that records the bodies it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                upstream.received.append(body)
                answer = {
                    "id": f"chatcmpl-{len(upstream.received)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", MODEL),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "fake upstream answer"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                }
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])

    def __enter__(self) -> Upstream:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------- processes
@contextmanager
def process(
    args: list[str], port: int, log: Path, *, env: dict[str, str], cwd: Path, timeout_s: float
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server with its output in ``log``; wait for its port; always stop it (and its workers)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        try:
            try:
                wait_for_port(port, timeout_s=timeout_s, process=proc)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(f"{Path(args[0]).name} did not start: {exc}\n{tail(log)}") from None
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the session the server was started in (uvicorn may fork workers)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by a main process that exited


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_ready(url: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered 200\n{tail(log)}")


def litellm_config(folder: Path, upstream_port: int) -> Path:
    shutil.copy(HOOK, folder / "litellm_hook.py")  # LiteLLM imports callbacks beside its config
    config = folder / "config.yaml"
    config.write_text(
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: sk-upstream-test
litellm_settings:
  callbacks: litellm_hook.proxy_handler_instance
  num_retries: 0
"""
    )
    return config


@contextmanager
def litellm_proxy(folder: Path, venv: Path, upstream_port: int, decide_url: str) -> Iterator[str]:
    config = litellm_config(folder, upstream_port)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "PYTHONPATH") and not k.startswith("DISTILLGUARD_")
    }
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no fetch of the price list from the internet
        LITELLM_LOG="ERROR",
        # LiteLLM refuses to start without a master key; without a database it is the only key.
        LITELLM_MASTER_KEY=MASTER_KEY,
        DISTILLGUARD_DECIDE_URL=decide_url,
        # Generous: this machine is shared by several jobs, and a timeout here would fail closed.
        DISTILLGUARD_TIMEOUT_MS="3000",
        DISTILLGUARD_FAIL_MODE="closed",  # a broken hook must not pass for an allow
        DISTILLGUARD_PROXY_HOPS="1",  # the test client plays the load balancer's X-Forwarded-For
    )
    args = [
        str(venv / "bin" / "litellm"),
        *("--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
        *("--num_workers", "1", "--telemetry", "False"),
    ]
    log = folder / "litellm.log"
    with process(args, port, log, env=env, cwd=folder, timeout_s=120):
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/health/liveliness", log)
        yield base


# ----------------------------------------------------------------------------- decision service
FLAGGED = "acct-flagged"  # scan verdict extraction, risk 0.97: the default policy blocks it
WATCHED = "acct-watched"  # extraction, risk 0.85: degraded, and throttled above 2 requests/minute
ORDINARY = "acct-ordinary"  # scanned, nothing found


def plant_verdicts(db: Path) -> None:
    """A warehouse as a scan leaves it: account records and their scores."""
    created = datetime.now(UTC) - timedelta(days=400)
    with Warehouse.open(db) as warehouse:
        warehouse.upsert_accounts(
            pa.Table.from_pylist(
                [
                    {"account_id": a, "created_at": created, "plan": "paygo", "verification": "card"}
                    for a in (FLAGGED, WATCHED, ORDINARY)
                ],
                schema=ACCOUNTS,
            )
        )
        scores = [
            (FLAGGED, 0.97, "extraction", ["chain-of-thought elicitation in 96% of 4,210 requests"]),
            (WATCHED, 0.85, "extraction", ["rubric-grading prompts in 71% of 1,180 requests"]),
            (ORDINARY, 0.04, "ok", []),
        ]
        warehouse.replace_table(
            "account_scores",
            pa.Table.from_pylist(
                [
                    {"account_id": a, "risk": r, "verdict": v, "events": 100, "reasons": why}
                    for a, r, v, why in scores
                ],
                schema=ACCOUNT_SCORES,
            ),
        )


@contextmanager
def decision_service(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``distillguard serve`` on the planted warehouse, with the packaged default policy."""
    db = folder / "dg.duckdb"
    plant_verdicts(db)
    port = free_port()
    program = Path(sys.executable).parent / "distillguard"
    args = [str(program), "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLGUARD_")}
    env["DISTILLGUARD_HMAC_SECRET"] = "test-secret"
    log = folder / "serve.log"
    with process(args, port, log, env=env, cwd=folder, timeout_s=60) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", log)
        yield url, proc, folder / "dg.audit.jsonl"


# ----------------------------------------------------------------------------- the stack
@dataclass
class Stack:
    proxy: str
    upstream: Upstream
    serve: subprocess.Popen[bytes]
    audit: Path
    folder: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    venv = litellm_env()  # skips before anything starts when LiteLLM cannot be installed
    folder = tmp_path_factory.mktemp("litellm-proxy")
    with (
        Upstream() as upstream,
        decision_service(folder) as (decide_url, serve, audit),
        litellm_proxy(folder, venv, upstream.port, decide_url) as proxy,
    ):
        yield Stack(proxy, upstream, serve, audit, folder)


def chat(
    stack: Stack,
    *,
    user: str | None = None,
    ip: str = "198.51.100.10",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """One OpenAI-style chat completion request to the proxy, as a client sends it."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is the capital of Portugal?"}],
        **fields,
    }
    if user:
        body["user"] = user
    sent = {"Authorization": f"Bearer {MASTER_KEY}", "X-Forwarded-For": ip, **(headers or {})}
    return httpx.post(f"{stack.proxy}/v1/chat/completions", json=body, headers=sent, timeout=60)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert isinstance(error, dict), response.text
    return error


def audit_records(stack: Stack) -> list[dict[str, Any]]:
    lines = stack.audit.read_text().splitlines() if stack.audit.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


# ----------------------------------------------------------------------------- tests
def test_ordinary_account_gets_the_upstream_completion_unchanged(stack: Stack) -> None:
    before = len(stack.upstream.received)
    response = chat(stack, user=ORDINARY, logprobs=True, top_logprobs=2, max_tokens=4000)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fake upstream answer"
    assert response.headers.get("x-distillguard-action") == "allow"
    sent = stack.upstream.received[before:]
    assert len(sent) == 1
    assert sent[0]["logprobs"] is True and sent[0]["top_logprobs"] == 2 and sent[0]["max_tokens"] == 4000


def test_flagged_account_is_refused_with_403_and_the_reasons(stack: Stack) -> None:
    before = len(stack.upstream.received)
    by_user = chat(stack, user=FLAGGED, ip="203.0.113.7")  # the master key's backend names the account
    streamed = chat(stack, user=FLAGGED, ip="203.0.113.9", stream=True)  # decided before streaming
    for response in (by_user, streamed):
        assert response.status_code == 403, response.text
        error = error_of(response)
        assert error["message"].startswith("Request blocked by distillguard")
        verdict = error["provider_specific_fields"]["distillguard"]
        assert verdict["action"] == "block" and verdict["decision_id"]
        assert verdict["reasons"] and all(reason in error["message"] for reason in verdict["reasons"])
        assert "0.97" in error["message"]  # the scan's risk is named in the reasons
        assert response.headers.get("x-distillguard-action") == "block"
    assert len(stack.upstream.received) == before, "a blocked request reached the model"
    blocked = [r for r in audit_records(stack) if r.get("account_id") == FLAGGED]
    assert len(blocked) == 2 and {r["enforced_action"] for r in blocked} == {"block"}
    assert {r["decision_id"] for r in blocked} == {
        error_of(r)["provider_specific_fields"]["distillguard"]["decision_id"] for r in (by_user, streamed)
    }


def test_a_client_header_cannot_name_the_account(stack: Stack) -> None:
    """Issue 13: X-Account-Id is written by the client, so it names nobody (it used to be trusted)."""
    before = len(audit_records(stack))
    response = chat(stack, headers={"X-Account-Id": FLAGGED}, ip="203.0.113.8")
    assert response.status_code == 200, response.text
    assert [r["account_id"] for r in audit_records(stack)[before:]] == ["anonymous"]


def test_watched_account_is_degraded_then_throttled(stack: Stack) -> None:
    """Degrade withholds logprobs and caps max_tokens at the upstream; past its budget: 429."""
    before = len(stack.upstream.received)
    first = chat(stack, user=WATCHED, ip="192.0.2.44", logprobs=True, top_logprobs=5, max_tokens=8000)
    assert first.status_code == 200, first.text
    assert first.headers.get("x-distillguard-action") == "degrade"
    reached = stack.upstream.received[before:]
    assert len(reached) == 1
    assert "logprobs" not in reached[0] and "top_logprobs" not in reached[0]
    assert reached[0]["max_tokens"] <= 2048  # the default policy's max_tokens:2048
    assert reached[0]["messages"][0]["content"] == "What is the capital of Portugal?"

    statuses = [first.status_code]
    for _ in range(4):  # the default policy allows 2 requests a minute for this risk band
        response = chat(stack, user=WATCHED, ip="192.0.2.44", max_tokens=8000)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, f"never throttled: {statuses}"
    assert set(statuses[:-1]) == {200}
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and int(retry_after) > 0
    error = error_of(response)
    assert error["message"].startswith("Request throttled by distillguard")
    assert error["provider_specific_fields"]["distillguard"]["retry_after_s"] == int(retry_after)
    assert all(body.get("max_tokens", 0) <= 2048 for body in stack.upstream.received[before:])


def test_service_down_fails_closed_without_reaching_the_model(stack: Stack) -> None:
    """Runs last: it stops the decision service. DISTILLGUARD_FAIL_MODE=closed answers 503."""
    stop(stack.serve)
    before = len(stack.upstream.received)
    response = chat(stack, user=ORDINARY)
    assert response.status_code == 503, response.text
    assert "decision service unavailable" in error_of(response)["message"]
    assert len(stack.upstream.received) == before
    assert "distillguard decision failed" in tail(stack.folder / "litellm.log", 20_000)
