"""The decision service over HTTP (Starlette): ``create_app(config)``.

Endpoints (docs/serve.md has examples; ``/openapi.json`` describes them):

* ``POST /v1/decide``: a JSON request in, the verdict as JSON and headers out;
* ``GET /v1/auth``: the same decision from headers only, for nginx ``auth_request``
  (204 allow/degrade/shadow, 403 block/challenge, 429 throttle); the account comes
  from the client's API key the gateway forwards, never from a client's header;
* both answer only an authenticated gateway (``serve.gateway_auth``): a bearer token
  from ``serve_gateway_tokens``, mutual TLS, or loopback when neither is configured;
* ``POST /v1/admin/reload``: re-read the warehouse's verdicts (read-only) and publish
  them into the state; bearer ``serve_admin_token``, loopback only without one;
* ``GET /healthz``, ``GET /metrics`` (Prometheus, per-app registry), ``GET /openapi.json``.

``decide()`` is CPU-bound and takes tens of microseconds, so the handlers call it
directly on the event loop: a thread-pool hop would cost more than the decision.
Bodies are read with the size limit enforced while reading; more than
``serve_max_inflight`` requests in progress, or an event loop running more than
``serve_shed_lag_ms`` behind, are answered at once by the policy's ``on_error``
choice (counted as shed), never queued without bound.

Why loop lag: ``decide()`` runs on the event loop, so past saturation requests wait
in the loop's ready queue, not "in progress"; the delay of a short timer measures
that wait directly. Shed answers skip the prompt matcher, so the queue drains and
latency stays bounded near the lag limit instead of growing with the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.config import Config
from distillguard.decisions.policy import PolicyWatcher
from distillguard.serve.audit import AuditLog, audit_path
from distillguard.serve.decider import Decider, DecideRequest, DecideResult, valid_ip
from distillguard.serve.gateway_auth import (
    CLIENT_CREDENTIAL_HEADER,
    GatewayAuth,
    GatewayRefused,
    client_api_key,
)
from distillguard.serve.metrics import Metrics
from distillguard.serve.openapi import openapi_document
from distillguard.serve.publish import key_owners, publish, verdict_snapshot
from distillguard.serve.state import StateError, StateStore, open_state
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.serve")

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
AUTH_STATUS = {"allow": 204, "degrade": 204, "challenge": 403, "block": 403, "throttle": 429}
_STRING_FIELDS = ("api_key_id", "end_user_id", "client_ip", "model", "request_id")


class LoopLag:
    """How far behind the event loop runs: the lateness of a short timer.

    ``behind()`` is how long the timer has been due without firing: the wait of whatever
    is queued in the loop right now. It is zero again as soon as the loop catches up, so
    one slow request does not get the next one shed (``lag_s``, the last sample, is for
    metrics only).
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.lag_s = 0.0
        self.due: float | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.lag_s = max(0.0, loop.time() - self.due)

    def behind(self) -> float:
        if self.due is None:
            return 0.0  # not running (no lifespan): nothing to say
        return max(0.0, asyncio.get_running_loop().time() - self.due)


class ServeError(Exception):
    """A request the service refuses: answered as ``{"error", "status"[, "field"]}``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ServeError(413, f"request body over the limit of {limit} bytes (serve_max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServeError(413, f"request body over the limit of {limit} bytes (serve_max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_decide(raw: bytes) -> DecideRequest:
    """A ``DecideRequest`` from a ``POST /v1/decide`` body; 400/422 name what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServeError(400, "request body is not JSON") from None
    if not isinstance(body, dict):
        raise ServeError(422, f"request body must be a JSON object, not {type(body).__name__}")
    account = body.get("account_id")
    if account is None:
        raise ServeError(422, "account_id is required", "account_id")
    if not isinstance(account, str) or not account:
        raise ServeError(422, "account_id must be a non-empty string", "account_id")
    for name in _STRING_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ServeError(422, f"{name} must be a string or null, not {type(body[name]).__name__}", name)
    if body.get("client_ip") and not valid_ip(body["client_ip"]):
        raise ServeError(422, f"client_ip is not an IP address: {body['client_ip'][:64]!r}", "client_ip")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict):
        raise ServeError(422, "headers must be an object of strings", "headers")
    for key, value in headers.items():
        if not isinstance(value, str):
            raise ServeError(422, f"headers.{key} must be a string", f"headers.{key}")
    payload = body.get("request")
    if payload is not None and not isinstance(payload, dict):
        raise ServeError(
            422, f"request must be an object (the API request body), not {type(payload).__name__}", "request"
        )
    return DecideRequest(
        account_id=account,
        api_key_id=body.get("api_key_id"),
        end_user_id=body.get("end_user_id"),
        client_ip=body.get("client_ip"),
        headers=headers,
        model=body.get("model"),
        request=payload,
        request_id=body.get("request_id"),
    )


@dataclass(frozen=True)
class LoadOutcome:
    subjects: int
    generation: str
    seconds: float
    # set when this replica took the verdicts but could not share them (Redis down)
    warning: str | None = None
    key_owners: dict[str, str] | None = None  # keyed API-key hash -> its one account


def load_verdicts(config: Config, state: StateStore) -> LoadOutcome:
    """Read the warehouse's verdicts read-only and publish them into ``state``."""
    started = time.perf_counter()
    path = Path(config.db_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no warehouse (run distillguard scan first)")
    with Warehouse.open(path, read_only=True) as warehouse:
        snapshot = verdict_snapshot(warehouse, config)
        owners = key_owners(warehouse)
    try:
        subjects, warning = publish(snapshot, state), None
    except StateError as exc:  # the local copy was replaced; only sharing it failed
        subjects, warning = len(snapshot.decisions), f"not shared with other replicas: {exc}"
    seconds = round(time.perf_counter() - started, 3)
    return LoadOutcome(subjects, snapshot.generation, seconds, warning, owners)


def build_decider(config: Config, *, state: StateStore | None = None) -> Decider:
    """The Decider a service runs: policy watcher, state store and audit log from the settings."""
    policy = PolicyWatcher(
        config.serve_policy_path or None, check_interval_ms=int(config.serve_policy_check_interval_ms)
    )
    if state is None:
        state = open_state(config.serve_state_url, timeout_ms=int(config.serve_redis_timeout_ms))
    audit = AuditLog(
        audit_path(config),
        fsync_interval_ms=int(config.serve_audit_fsync_interval_ms),
        spool_records=int(config.serve_audit_spool_records),
    )
    return Decider(config, policy=policy, state=state, audit=audit)


class Service:
    """What the handlers share: the decider, the metrics, the in-flight count and reload status."""

    def __init__(self, config: Config, decider: Decider) -> None:
        self.config = config
        self.decider = decider
        self.metrics = Metrics()
        self.max_body = int(config.serve_max_body_bytes)
        self.max_inflight = int(config.serve_max_inflight)
        self.inflight = 0
        self.shed_lag_s = int(config.serve_shed_lag_ms) / 1000
        self.lag = LoopLag()
        self.admin_token = str(config.serve_admin_token or "")
        self.gateway_auth = GatewayAuth.from_config(config)
        self.trust_identity_headers = bool(config.serve_trust_identity_headers)
        self.key_owners: dict[str, str] = {}
        self.reload_lock = threading.Lock()
        self.last_reload: dict[str, Any] = {"at": None, "error": None, "subjects": None, "generation": None}
        self.started_at = datetime.now(UTC)

    def authenticate(self, request: Request) -> None:
        """Refuse (401/403) a caller of a decision endpoint that is not an authenticated gateway."""
        try:
            self.gateway_auth.check(request)
        except GatewayRefused as refused:
            raise ServeError(refused.status, refused.message) from None

    # ------------------------------------------------------------------ reload
    def reload(self) -> LoadOutcome:
        with self.reload_lock:
            self.last_reload["at"] = datetime.now(UTC).isoformat()
            try:
                outcome = load_verdicts(self.config, self.decider.state)
            except Exception as exc:
                self.last_reload["error"] = f"{type(exc).__name__}: {exc}"
                self.metrics.reloads.labels("failed").inc()
                raise
            self.last_reload.update(
                error=outcome.warning, subjects=outcome.subjects, generation=outcome.generation
            )
            if outcome.key_owners is not None:
                self.key_owners = outcome.key_owners
            self.metrics.reloads.labels("ok").inc()
            return outcome

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        state = self.decider.state.health()
        watcher = self.decider.policy
        policy = self.decider.current_policy()
        audit = self.decider.audit
        spooled = int(getattr(audit, "pending", 0)) if audit else 0
        dropped = int(getattr(audit, "dropped", 0)) if audit else 0
        degraded = (
            (not state.ok)
            or bool(watcher.last_error)
            or bool(self.last_reload["error"])
            or spooled > 0  # the audit trail is incomplete on disk until the spool drains
            or dropped > 0
        )
        return {
            "status": "degraded" if degraded else "ok",
            "policy": {
                "version": policy.version,
                "source": policy.source,
                "mode": policy.mode,
                "on_error": policy.on_error,
                "last_error": watcher.last_error,
            },
            "state": {
                "backend": state.backend,
                "ok": state.ok,
                "degraded_reason": state.degraded_reason,
                "subjects": state.subjects,
                "generation": state.generation,
                "loaded_at": state.loaded_at.isoformat() if state.loaded_at else None,
            },
            "reload": {"db_path": str(self.config.db_path), **self.last_reload},
            "audit": {
                "path": str(getattr(audit, "path", "")) if audit else None,
                "write_failures": self.decider.audit_failures,
                "spooled": spooled,
                "dropped": dropped,
            },
            "inflight": self.inflight,
            "max_inflight": self.max_inflight,
            "event_loop_lag_ms": round(self.lag.lag_s * 1000, 3),
            "started_at": self.started_at.isoformat(),
        }

    def refresh_gauges(self) -> None:
        state = self.decider.state.health()
        m = self.metrics
        m.state_degraded.set(0 if state.ok else 1)
        m.subjects.set(state.subjects)
        m.inflight.set(self.inflight)
        m.loop_lag.set(self.lag.lag_s)
        m.policy_failing.set(1 if self.decider.policy.last_error else 0)
        m.audit_failures.set(self.decider.audit_failures)
        audit = self.decider.audit
        m.audit_spooled.set(int(getattr(audit, "pending", 0)) if audit else 0)
        m.audit_dropped.set(int(getattr(audit, "dropped", 0)) if audit else 0)

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Durable shutdown: the audit log is flushed and fsynced, then the state closed."""
        if self.decider.audit is not None:
            self.decider.audit.close()
        self.decider.state.close()


def _account_request(request: Request, service: Service) -> DecideRequest:
    """A DecideRequest from the headers an authenticated gateway sends to ``/v1/auth``.

    The subject is the client's own credential: its API key, forwarded by the gateway as
    ``X-Client-Authorization``, hashed with the deployment secret and mapped to the account
    the logs saw use it. ``X-Account-Id`` / ``X-Api-Key-Id`` count only when
    ``serve_trust_identity_headers`` says the gateway set them itself.
    """
    h = request.headers
    decider = service.decider
    key_id = client_api_key(h.get(CLIENT_CREDENTIAL_HEADER))
    if key_id is not None:
        key_hash = str(decider.hash_key(key_id))
        account = service.key_owners.get(key_hash) or "key:" + key_hash
    elif service.trust_identity_headers:
        account = (h.get("x-account-id") or "").strip()
        key_id = (h.get("x-api-key-id") or "").strip() or None
        if not account:
            if key_id is None:
                raise ServeError(401, "send X-Account-Id or X-Api-Key-Id", "X-Account-Id")
            # No account id: the key speaks for it, by its keyed hash (never the raw key id).
            account = "key:" + str(decider.hash_key(key_id))
    else:
        raise ServeError(
            401,
            "no client credential: the gateway must forward the client's Authorization header as "
            "X-Client-Authorization (docs/gateway-nginx.md)",
            "X-Client-Authorization",
        )
    # Only the address the gateway itself saw; X-Forwarded-For is whatever the client wrote.
    ip = (h.get("x-real-ip") or "").strip() or None
    if ip is not None and not valid_ip(ip):
        ip = None
    headers = {k: v for k, v in h.items() if k not in ("authorization", CLIENT_CREDENTIAL_HEADER)}
    return DecideRequest(
        account_id=account,
        api_key_id=key_id,
        end_user_id=h.get("x-end-user-id"),
        client_ip=ip,
        headers=headers,
        model=h.get("x-model"),
        request_id=h.get("x-request-id"),
    )


def _routes(service: Service) -> list[Route]:
    decider, metrics = service.decider, service.metrics

    def admit(request: Request, endpoint: str, started: float) -> DecideResult | None:
        """None when there is room; else the on_error answer for a shed request."""
        if service.inflight >= service.max_inflight:
            cause, why = "inflight", f"overloaded: {service.inflight} decisions in progress"
        elif (behind := service.lag.behind()) > service.shed_lag_s:
            cause, why = "lag", f"overloaded: requests queued {behind * 1000:.0f} ms"
        else:
            return None
        metrics.shed.labels(cause).inc()
        shed = DecideRequest(
            # not read: shedding must stay cheap, and a header is the client's claim anyway
            account_id="",
            request_id=request.headers.get("x-request-id"),
        )
        result = decider.fallback(shed, why)
        metrics.decisions.labels(result.decided_action, result.action).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return result

    async def decide(request: Request) -> Response:
        started = time.perf_counter()
        service.authenticate(request)
        shed = admit(request, "decide", started)
        if shed is not None:
            return _json(shed.to_json(), headers=shed.headers)
        service.inflight += 1
        try:
            parsed = parse_decide(await read_body(request, service.max_body))
            result = decider.decide(parsed)
        finally:
            service.inflight -= 1
        metrics.count(result, "decide", started)
        return _json(result.to_json(), headers=result.headers)

    async def auth(request: Request) -> Response:
        started = time.perf_counter()
        service.authenticate(request)
        result = admit(request, "auth", started)
        if result is None:
            result = decider.decide(_account_request(request, service))
            metrics.count(result, "auth", started)
        return Response(status_code=AUTH_STATUS[result.action], headers=result.headers)

    async def reload(request: Request) -> Response:
        _check_admin(service, request)
        decider.policy.reload()  # an edit is picked up now; a bad one keeps the last good policy
        try:
            outcome = await run_in_threadpool(service.reload)
        except FileNotFoundError as exc:
            raise ServeError(404, str(exc)) from None
        except Exception as exc:
            raise ServeError(500, f"reload failed: {type(exc).__name__}: {exc}") from None
        return _json(
            {
                "subjects": outcome.subjects,
                "generation": outcome.generation,
                "seconds": outcome.seconds,
                "warning": outcome.warning,
                "policy_version": decider.current_policy().version,
                "policy_error": decider.policy.last_error,
            }
        )

    async def healthz(request: Request) -> Response:
        return _json(service.health())

    async def metrics_endpoint(request: Request) -> Response:
        service.refresh_gauges()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return _json(document)

    return [
        Route("/v1/decide", decide, methods=["POST"]),
        Route("/v1/auth", auth, methods=["GET"]),
        Route("/v1/admin/reload", reload, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


def _check_admin(service: Service, request: Request) -> None:
    if service.admin_token:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), service.admin_token):
            raise ServeError(401, "admin endpoints need Authorization: Bearer <serve_admin_token>")
        return
    host = request.client.host if request.client else ""
    if host not in LOOPBACK:
        raise ServeError(403, "admin endpoints are loopback-only while serve_admin_token is empty")


def create_app(
    config: Config,
    *,
    decider: Decider | None = None,
    load_at_start: bool = True,
    close_on_shutdown: bool | None = None,
    on_event: Callable[[str], None] | None = None,
) -> Starlette:
    """The decision service. Without ``decider`` it builds one from ``config`` and owns it.

    ``load_at_start`` publishes the warehouse's verdicts into the state now (a missing
    warehouse starts empty; a failing one is reported in /healthz). ``on_event``
    receives one-line notes about that (the CLI prints them). The app closes what it
    owns at shutdown (``close_on_shutdown`` overrides): the audit log durably, then
    the state.
    """
    close_at_end = decider is None if close_on_shutdown is None else close_on_shutdown
    decider = decider or build_decider(config)
    service = Service(config, decider)
    note = on_event or (lambda message: log.info("%s", message))
    if load_at_start:
        try:
            outcome = service.reload()
            note(
                f"loaded {outcome.subjects:,} subjects from {config.db_path} in {outcome.seconds} s"
                + (f" ({outcome.warning})" if outcome.warning else "")
            )
        except FileNotFoundError:
            service.last_reload["error"] = None
            note(f"no warehouse at {config.db_path}: starting with no verdicts (scan, then --publish)")
        except Exception as exc:
            note(f"could not load verdicts from {config.db_path}: {exc} (serving without them)")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        monitor = asyncio.create_task(service.lag.run())
        yield
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        if close_at_end:
            service.close()

    async def serve_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServeError)
        service.metrics.bad_requests.labels(str(exc.status)).inc()
        body: dict[str, Any] = {"error": exc.message, "status": exc.status}
        if exc.field:
            body["field"] = exc.field
        headers = {"WWW-Authenticate": 'Bearer realm="distillguard"'} if exc.status == 401 else None
        return _json(body, status=exc.status, headers=headers)

    app = Starlette(routes=_routes(service), exception_handlers={ServeError: serve_error}, lifespan=lifespan)
    app.state.service = service
    return app
