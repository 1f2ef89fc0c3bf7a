"""ASGI middleware for apps that serve a model themselves: a decision before every request.

::

    app = DecisionMiddleware(app, decider=build_decider(config), account_of=who)      # in process
    app = DecisionMiddleware(app, service_url="http://127.0.0.1:8787", account_of=who,
                             service_token=token)                                 # over HTTP

For each HTTP request under ``paths`` it reads the body (refusing one over
``max_body_bytes`` with 413), asks for a decision, and then:

* block / challenge -> 403, throttle -> 429 (with ``Retry-After``): an
  OpenAI-style JSON error, the app is never called;
* degrade -> the JSON body is rewritten (reasoning, logprobs, output caps
  withheld as the policy says) before the app sees it;
* every response carries the verdict headers (``X-Distillguard-Action`` ...).

The account comes from ``account_of(headers)``: the app's own authentication (its API
key lookup, its session), never a header the client writes, which would let a flagged
client be checked under someone else's name (docs/security.md); ``None`` gets 401.
The API key id is the client's own ``Authorization`` credential (hashed by the decider).
Over HTTP the middleware presents ``service_token`` (one of the service's
``serve_gateway_tokens``) and sends ASCII-escaped JSON, so no character in a prompt
can stop the request from being sent.
The client address is the socket peer, or ``X-Forwarded-For``'s first entry when
``trust_forwarded`` (only behind a proxy that sets it). When the service URL
cannot be reached in ``timeout_s``, ``on_unavailable`` decides: "allow" (fail open,
the default) or "block" (fail closed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distillguard.decisions.degrade import apply_patch
from distillguard.serve.decider import HEADER_ACTION, Decider, DecideRequest, valid_ip
from distillguard.serve.gateway_auth import client_api_key

DENY_STATUS = {"block": 403, "challenge": 403, "throttle": 429}
DENY_MESSAGE = {
    "block": "This request was refused by the provider's usage policy.",
    "challenge": "Additional verification is required for this account before the request can be served.",
    "throttle": "Too many requests for this account; retry later.",
}


@dataclass(frozen=True)
class Verdict:
    """The parts of a decision the middleware acts on (from a Decider or the service's JSON)."""

    action: str
    decision_id: str
    headers: dict[str, str]
    rewrite: dict[str, Any] = field(default_factory=dict)
    retry_after_s: int | None = None


class BodyTooLarge(Exception):
    pass


class DecisionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        decider: Decider | None = None,
        service_url: str | None = None,
        paths: Sequence[str] = ("/",),
        max_body_bytes: int = 1_000_000,
        account_of: Callable[[Headers], str | None] | None = None,
        service_token: str | None = None,
        trust_forwarded: bool = False,
        timeout_s: float = 0.05,
        on_unavailable: str = "allow",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if (decider is None) == (service_url is None):
            raise ValueError("give exactly one of decider (in process) or service_url (over HTTP)")
        if on_unavailable not in ("allow", "block"):
            raise ValueError("on_unavailable must be 'allow' or 'block'")
        self.app = app
        self.decider = decider
        self.service_url = service_url.rstrip("/") + "/v1/decide" if service_url else None
        self.paths = tuple(paths)
        self.max_body_bytes = max_body_bytes
        if account_of is None:
            raise ValueError(
                "account_of is required: the account your app authenticated for this request "
                "(a header the client writes, such as X-Account-Id, would let it choose; docs/security.md)"
            )
        self.account_of = account_of
        self.service_token = service_token
        self.trust_forwarded = trust_forwarded
        self.timeout_s = timeout_s
        self.on_unavailable = on_unavailable
        self._client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.paths):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            raw = await self._read(receive)
        except BodyTooLarge:
            await _reply(
                send,
                413,
                {
                    "error": {
                        "message": f"request body over {self.max_body_bytes} bytes",
                        "type": "request_too_large",
                    }
                },
            )
            return
        account = (self.account_of(headers) or "").strip()
        if not account:
            await _reply(
                send,
                401,
                {"error": {"message": "no authenticated account", "type": "authentication_error"}},
            )
            return
        body = _json_object(raw, headers)
        verdict = await self._decide(self._request(scope, headers, account, body))

        if verdict.action in DENY_STATUS:
            out = {
                "error": {
                    "message": DENY_MESSAGE[verdict.action],
                    "type": f"distillguard_{verdict.action}",
                    "decision_id": verdict.decision_id,
                }
            }
            await _reply(send, DENY_STATUS[verdict.action], out, verdict.headers)
            return
        if verdict.action == "degrade" and body is not None and verdict.rewrite:
            raw = json.dumps(apply_patch(body, verdict.rewrite)).encode()
            scope = _with_length(scope, len(raw))
        await self.app(scope, _replay(raw, receive), _with_headers(send, verdict.headers))

    # ------------------------------------------------------------------- parts
    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _request(
        self, scope: Scope, headers: Headers, account: str, body: dict[str, Any] | None
    ) -> DecideRequest:
        ip: str | None = None
        if self.trust_forwarded:
            ip = (headers.get("x-forwarded-for") or "").split(",")[0].strip() or None
        if ip is None and scope.get("client"):
            ip = str(scope["client"][0])
        if ip is not None and not valid_ip(ip):
            ip = None
        return DecideRequest(
            account_id=account,
            api_key_id=client_api_key(headers.get("authorization")),
            end_user_id=headers.get("x-end-user-id"),
            client_ip=ip,
            headers=dict(headers.items()),
            model=str(body["model"]) if body and isinstance(body.get("model"), str) else None,
            request=body,
            request_id=headers.get("x-request-id"),
        )

    async def _decide(self, request: DecideRequest) -> Verdict:
        if self.decider is not None:
            r = self.decider.decide(request)
            return Verdict(r.action, r.decision_id, r.headers, r.rewrite, r.retry_after_s)
        assert self.service_url is not None
        payload = {
            "account_id": request.account_id,
            "api_key_id": request.api_key_id,
            "end_user_id": request.end_user_id,
            "client_ip": request.client_ip,
            "headers": dict(request.headers),
            "model": request.model,
            "request": request.request,
            "request_id": request.request_id,
        }
        try:
            client = self._client or httpx.AsyncClient()
            try:
                headers = {"Content-Type": "application/json"}
                if self.service_token:
                    headers["Authorization"] = f"Bearer {self.service_token}"
                content = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
                answer = await client.post(
                    self.service_url, content=content, headers=headers, timeout=self.timeout_s
                )
            finally:
                if self._client is None:
                    await client.aclose()
            answer.raise_for_status()
            data = answer.json()
            return Verdict(
                str(data["action"]),
                str(data["decision_id"]),
                {str(k): str(v) for k, v in (data.get("headers") or {}).items()},
                dict(data.get("rewrite") or {}),
                data.get("retry_after_s"),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            action = self.on_unavailable
            return Verdict(
                action,
                "",
                {
                    HEADER_ACTION: action,
                    "X-Distillguard-Error": f"decision service unavailable: {type(exc).__name__}",
                },
            )


def _json_object(raw: bytes, headers: Headers) -> dict[str, Any] | None:
    """The body as a JSON object when it is one (only those can be rewritten or scored)."""
    if not raw or "json" not in headers.get("content-type", "application/json"):
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _with_length(scope: Scope, length: int) -> Scope:
    kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    return {**scope, "headers": [*kept, (b"content-length", str(length).encode())]}


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the (possibly rewritten) body, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send, extra: Mapping[str, str]) -> Send:
    encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return sender


async def _reply(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    out += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": raw})
