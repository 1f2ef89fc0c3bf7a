"""LiteLLM proxy hook: ask the distillguard decision service before a request reaches a model.

Install (docs/gateway-litellm.md): copy this one file next to the proxy's config.yaml (or put its
folder on ``PYTHONPATH``) and name the instance in the config::

    litellm_settings:
      callbacks: litellm_hook.proxy_handler_instance

For every call the proxy makes, ``async_pre_call_hook`` POSTs the request's facts to
``{DISTILLGUARD_DECIDE_URL}/v1/decide`` and enforces the answer:

- ``allow``: the request goes on unchanged;
- ``degrade``: the answer's ``rewrite`` (``{"set": {...}, "remove": [...]}``) is applied to the
  request body in place (no logprobs, capped ``max_tokens``, no full reasoning, ...);
- ``block`` and ``challenge``: HTTP 403, ``throttle``: HTTP 429 with ``Retry-After``; the error
  body carries the reasons and the decision id;
- the service unreachable, slower than ``DISTILLGUARD_TIMEOUT_MS`` or answering nonsense:
  ``DISTILLGUARD_FAIL_MODE=open`` (default) lets the request through, ``closed`` answers 503;
  either way a warning is logged.

Why a plain module that imports nothing from distillguard: it runs inside LiteLLM's own Python
environment, which has LiteLLM's pins and not ours. It needs only the standard library, httpx (a
LiteLLM dependency) and litellm itself, imported lazily so distillguard's own tests and mypy can
import this file without LiteLLM installed.

Whose request it is comes from the key LiteLLM authenticated (its org, team, user, or the key
itself), never from a field the client writes: a request body's ``user`` or an ``X-Account-Id``
header would let a flagged client name someone else (docs/security.md). The one exception is
LiteLLM's master key, held by the operator's own backend: its requests name their account in
the body's ``user``. The payload is sent as ASCII-escaped JSON, so no character in a prompt (a
lone surrogate, say) can stop it from being sent; the service normalises the text.

Environment (read when the instance is created, i.e. when the proxy loads its config):

``DISTILLGUARD_DECIDE_URL``      base URL of ``distillguard serve`` (default http://127.0.0.1:8787)
``DISTILLGUARD_TIMEOUT_MS``      whole round trip budget, default 50
``DISTILLGUARD_FAIL_MODE``       ``open`` (default) or ``closed``
``DISTILLGUARD_GATEWAY_TOKEN``   this proxy's bearer token, one of the service's serve_gateway_tokens
                                 (needed unless the service runs on loopback without tokens)
``DISTILLGUARD_ACCOUNT_FIELDS``  where the account id comes from, first non-empty wins, among the
                                 authenticated key's own attributes only (default
                                 ``org_id,team_id,user_id,api_key``)
``DISTILLGUARD_PROXY_HOPS``      proxies in front of LiteLLM that append to X-Forwarded-For
                                 (default 1; 0 ignores the header and uses the socket peer)
``DISTILLGUARD_MAX_BODY_BYTES``  request bodies larger than this are slimmed before sending
                                 (default 900000, under the service's 1 MB limit)
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

log = logging.getLogger("distillguard.litellm")

ACTIONS = ("allow", "challenge", "throttle", "degrade", "block")
STATUS_FOR_ACTION = {"block": 403, "challenge": 403, "throttle": 429}
FAIL_CLOSED_STATUS = 503
DEFAULT_RETRY_AFTER_S = 60
DEFAULT_ACCOUNT_FIELDS = ("org_id", "team_id", "user_id", "api_key")
# Attributes of LiteLLM's authenticated key (UserAPIKeyAuth) that may name the account.
KEY_ACCOUNT_FIELDS = frozenset({"org_id", "team_id", "user_id", "api_key", "end_user_id", "key_alias"})
# Headers that carry credentials never leave the proxy, even though LiteLLM already redacts most.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-goog-api-key"}
)
# Keys LiteLLM adds to ``data`` for its own bookkeeping: not part of the API request body.
INTERNAL_KEYS = frozenset(
    {"metadata", "litellm_metadata", "proxy_server_request", "secret_fields", "mock_response"}
)
# Where the decision's verdict headers wait for the response headers hook (metadata is never
# forwarded to the model provider, unlike unknown top-level keys).
METADATA_KEY = "distillguard"
# LiteLLM's stand-ins for the master key and the proxy admin: the operator, not a customer, so
# they never name the account (its own guardrails skip them the same way).
PLACEHOLDER_IDENTITIES = frozenset({"default_user_id", "litellm_proxy_master_key"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_PROMPT_CHARS = 100_000


class HookSettings:
    """The hook's settings. A plain class, not a dataclass: LiteLLM loads this file without
    registering it in ``sys.modules``, and dataclasses look their module up there."""

    def __init__(
        self,
        *,
        decide_url: str = "http://127.0.0.1:8787/v1/decide",
        timeout_ms: int = 50,
        fail_mode: str = "open",
        account_fields: tuple[str, ...] = DEFAULT_ACCOUNT_FIELDS,
        proxy_hops: int = 1,
        max_body_bytes: int = 900_000,
        gateway_token: str = "",
    ) -> None:
        unknown = [f for f in account_fields if f not in KEY_ACCOUNT_FIELDS]
        if unknown:
            raise ValueError(
                f"DISTILLGUARD_ACCOUNT_FIELDS: {', '.join(unknown)} would be written by the client; "
                f"use attributes of the authenticated key: {', '.join(sorted(KEY_ACCOUNT_FIELDS))}"
            )
        self.gateway_token = gateway_token
        self.decide_url = decide_url
        self.timeout_ms = timeout_ms
        self.fail_mode = fail_mode
        self.account_fields = account_fields
        self.proxy_hops = proxy_hops
        self.max_body_bytes = max_body_bytes

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HookSettings:
        env = os.environ if env is None else env
        base = env.get("DISTILLGUARD_DECIDE_URL", "").strip() or "http://127.0.0.1:8787"
        url = base if base.rstrip("/").endswith("/v1/decide") else base.rstrip("/") + "/v1/decide"
        fail_mode = env.get("DISTILLGUARD_FAIL_MODE", "open").strip().lower() or "open"
        if fail_mode not in ("open", "closed"):
            raise ValueError(f"DISTILLGUARD_FAIL_MODE must be 'open' or 'closed', not {fail_mode!r}")
        fields = tuple(
            f.strip().lower() for f in env.get("DISTILLGUARD_ACCOUNT_FIELDS", "").split(",") if f.strip()
        )
        return cls(
            decide_url=url,
            timeout_ms=_positive_int(env, "DISTILLGUARD_TIMEOUT_MS", 50),
            fail_mode=fail_mode,
            account_fields=fields or DEFAULT_ACCOUNT_FIELDS,
            proxy_hops=_positive_int(env, "DISTILLGUARD_PROXY_HOPS", 1, minimum=0),
            max_body_bytes=_positive_int(env, "DISTILLGUARD_MAX_BODY_BYTES", 900_000),
            gateway_token=env.get("DISTILLGUARD_GATEWAY_TOKEN", "").strip(),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


# ----------------------------------------------------------------------------- request facts
def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _identity(value: Any) -> str | None:
    text = _text(value)
    return None if text in PLACEHOLDER_IDENTITIES else text


def request_headers(data: Mapping[str, Any]) -> dict[str, str]:
    """The client's request headers as LiteLLM recorded them, lower-cased, without credentials."""
    recorded = data.get("proxy_server_request")
    headers = recorded.get("headers") if isinstance(recorded, Mapping) else None
    if not isinstance(headers, Mapping):
        return {}
    return {
        str(k).lower(): str(v)
        for k, v in headers.items()
        if str(k).lower() not in CREDENTIAL_HEADERS and v is not None
    }


def metadata_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """LiteLLM keeps request metadata under ``litellm_metadata`` on some routes, ``metadata`` on others."""
    for name in ("litellm_metadata", "metadata"):
        value = data.get(name)
        if isinstance(value, Mapping) and value:
            return value
    return {}


def key_id(user_api_key_dict: Any) -> str | None:
    """The API key as LiteLLM identifies it: its sha256 token hash, never the secret itself."""
    for attr in ("token", "api_key"):
        value = _identity(getattr(user_api_key_dict, attr, None))
        if value:
            # Without a database LiteLLM may hand over the raw key: hash it the way LiteLLM does.
            return value if _HEX64.match(value) else hashlib.sha256(value.encode()).hexdigest()
    return None


def account_id(
    user_api_key_dict: Any,
    data: Mapping[str, Any],
    fields: Sequence[str] = DEFAULT_ACCOUNT_FIELDS,
) -> str:
    """The account the decision is about: the first non-empty of ``fields`` on the authenticated key.

    ``org_id``/``team_id``/``user_id`` come from the key (the same order distillguard's LiteLLM
    log ingest uses, so scan verdicts name the same accounts), ``api_key`` is the key's hash.
    Nothing the client writes counts, except under LiteLLM's master key (the operator's own
    backend), whose requests name their account in the body's ``user``.
    """
    for name in fields:
        if name == "api_key":
            value = key_id(user_api_key_dict)
        else:
            value = _identity(getattr(user_api_key_dict, name, None))
        if value:
            return value
    if _is_master_key(user_api_key_dict):
        return _text(data.get("user")) or "anonymous"
    return "anonymous"


def _is_master_key(user_api_key_dict: Any) -> bool:
    return any(
        _text(getattr(user_api_key_dict, attr, None)) in PLACEHOLDER_IDENTITIES
        for attr in ("token", "api_key", "user_id")
    )


def client_ip(data: Mapping[str, Any], headers: Mapping[str, str], proxy_hops: int = 1) -> str | None:
    """The caller's address: the X-Forwarded-For entry added by the nearest trusted proxy.

    With ``proxy_hops`` proxies in front of LiteLLM, the client is the ``proxy_hops``-th entry from
    the right (entries further left are whatever the client claimed). Without the header, or with
    ``proxy_hops`` 0, it is the address LiteLLM recorded for the connection.
    """
    forwarded = headers.get("x-forwarded-for", "")
    entries = [e.strip() for e in forwarded.split(",") if e.strip()]
    if proxy_hops > 0 and entries:
        return entries[-min(proxy_hops, len(entries))]
    recorded = _text(metadata_of(data).get("requester_ip_address"))
    if recorded:
        return recorded.split(",")[0].strip() or None
    return None


def _json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot carry dropped (LiteLLM puts objects into ``data``)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            safe = _json_safe(v)
            if safe is not _DROP:
                out[str(k)] = safe
        return out
    if isinstance(value, list | tuple):
        return [s for s in (_json_safe(v) for v in value) if s is not _DROP]
    return _DROP


_DROP = object()


def request_body(data: Mapping[str, Any]) -> dict[str, Any]:
    """The API request body as it will go to the model (after earlier hooks), JSON-safe."""
    body = {
        k: v
        for k, v in data.items()
        if k not in INTERNAL_KEYS and not k.startswith("litellm_") and not k.startswith("user_api_key")
    }
    safe = _json_safe(body)
    return safe if isinstance(safe, dict) else {}


def slim_body(body: dict[str, Any]) -> dict[str, Any]:
    """A smaller body that keeps what a decision reads: roles and count of messages, the last user
    prompt (truncated), tools, and every scalar field a degrade rewrite looks at."""
    slim = {k: v for k, v in body.items() if k not in ("messages", "input", "prompt", "tools", "functions")}
    messages = body.get("messages")
    if isinstance(messages, list):
        last_user = max((i for i, m in enumerate(messages) if _role(m) == "user"), default=-1)
        slim["messages"] = [
            _truncate(m) if i == last_user else {"role": _role(m) or "user", "content": ""}
            for i, m in enumerate(messages)
        ]
    for name in ("input", "prompt"):
        given = body.get(name)
        if isinstance(given, str):
            slim[name] = given[-_MAX_PROMPT_CHARS:]
        elif isinstance(given, list) and given:
            slim[name] = [_truncate(given[-1])]
    for name in ("tools", "functions"):
        if isinstance(body.get(name), list):
            slim[name] = [{"type": "function"} for _ in body[name]]  # only the count matters
    return slim


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, Mapping) else None


def _truncate(message: Any) -> Any:
    if isinstance(message, str):
        return message[-_MAX_PROMPT_CHARS:]
    if isinstance(message, Mapping) and isinstance(message.get("content"), str):
        return {**message, "content": message["content"][-_MAX_PROMPT_CHARS:]}
    return message


def decide_payload(
    user_api_key_dict: Any, data: Mapping[str, Any], settings: HookSettings | None = None
) -> dict[str, Any]:
    """The ``POST /v1/decide`` body for one proxied request."""
    settings = settings or HookSettings()
    headers = request_headers(data)
    body = request_body(data)
    if len(json.dumps(body, ensure_ascii=True, separators=(",", ":"))) > settings.max_body_bytes:
        body = slim_body(body)
    end_user = _text(data.get("user")) or _text(getattr(user_api_key_dict, "end_user_id", None))
    payload: dict[str, Any] = {
        "account_id": account_id(user_api_key_dict, data, settings.account_fields),
        "api_key_id": key_id(user_api_key_dict),
        "end_user_id": end_user,
        "client_ip": client_ip(data, headers, settings.proxy_hops),
        "headers": headers,
        "model": _text(data.get("model")),
        "request": body,
        "request_id": _text(data.get("litellm_call_id")) or _text(headers.get("x-request-id")),
    }
    return {k: v for k, v in payload.items() if v is not None}


# ----------------------------------------------------------------------------- enforcement
def status_for(action: str) -> int | None:
    """HTTP status the proxy answers for ``action``; None when the request goes on."""
    return STATUS_FOR_ACTION.get(action)


def apply_rewrite(data: dict[str, Any], rewrite: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply a degrade rewrite ``{"set": {...}, "remove": [...]}`` to ``data`` in place.

    In place because LiteLLM hands the same dict on to the model call. Only top-level fields,
    the same semantics as distillguard.decisions.degrade.apply_patch.
    """
    if not rewrite:
        return data
    for name in rewrite.get("remove") or ():
        data.pop(str(name), None)
    for name, value in (rewrite.get("set") or {}).items():
        data[str(name)] = copy.deepcopy(value)
    return data


def verdict_headers(decision: Mapping[str, Any]) -> dict[str, str]:
    """The decision's gateway headers (X-Distillguard-*, Retry-After) as strings."""
    headers = decision.get("headers")
    out = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {}
    if decision.get("action") == "throttle" and not any(k.lower() == "retry-after" for k in out):
        out["Retry-After"] = str(retry_after(decision))
    return out


def retry_after(decision: Mapping[str, Any]) -> int:
    value = decision.get("retry_after_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return DEFAULT_RETRY_AFTER_S


def rejection(decision: Mapping[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, error body, headers) for a decision that stops the request."""
    action = str(decision.get("action"))
    status = status_for(action) or FAIL_CLOSED_STATUS
    reasons = [str(r) for r in decision.get("reasons") or []]
    verb = {
        "block": "blocked",
        "challenge": "needs stronger verification",
        "throttle": "throttled",
    }.get(action, "refused")
    message = f"Request {verb} by distillguard"
    if reasons:
        message += ": " + "; ".join(reasons)
    body = {
        "error": {"message": message, "type": f"distillguard_{action}", "code": status},
        "distillguard": {
            "action": action,
            "decision_id": decision.get("decision_id"),
            "risk": decision.get("risk"),
            "reasons": reasons,
            "retry_after_s": retry_after(decision) if action == "throttle" else None,
        },
    }
    return status, body, verdict_headers(decision)


def fail_decision(settings: HookSettings, problem: str) -> dict[str, Any]:
    """What the hook does when it got no usable decision: allow (open) or refuse (closed)."""
    if settings.fail_mode == "closed":
        return {
            "action": "unavailable",
            "reasons": [f"decision service unavailable, failing closed ({problem})"],
            "headers": {"X-Distillguard-Action": "unavailable", "Retry-After": "1"},
            "error": problem,
        }
    return {"action": "allow", "reasons": [], "headers": {"X-Distillguard-Action": "allow"}, "error": problem}


def valid_decision(answer: Any) -> dict[str, Any]:
    """The service's answer, checked enough to enforce it; ValueError names what is wrong."""
    if not isinstance(answer, dict):
        raise ValueError(f"decision is not a JSON object: {str(answer)[:200]}")
    if answer.get("action") not in ACTIONS:
        raise ValueError(f"decision has no known action: {answer.get('action')!r}")
    rewrite = answer.get("rewrite")
    if rewrite is not None and not isinstance(rewrite, Mapping):
        raise ValueError("decision's rewrite is not an object")
    return answer


class DecisionRejected(Exception):
    """Stands in for fastapi's HTTPException where fastapi is not installed (our own tests)."""

    def __init__(self, status_code: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers or {})


def http_error(status: int, detail: Any, headers: Mapping[str, str]) -> Exception:
    """The proxy's own HTTP error: LiteLLM turns a fastapi HTTPException into an OpenAI-style error
    response with this status, the detail's ``error.message`` and these headers."""
    try:
        from fastapi import HTTPException
    except ImportError:
        return DecisionRejected(status, detail, headers)
    return HTTPException(status_code=status, detail=detail, headers=dict(headers))


class DistillguardGate:
    """The hook's logic without LiteLLM's base class, so it can be tested anywhere."""

    def __init__(self, settings: HookSettings | None = None, *, transport: Any = None) -> None:
        self.settings = settings or HookSettings.from_env()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        # One pooled client per event loop: a client bound to a closed loop cannot be reused.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            timeout = self.settings.timeout_ms / 1000
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout),
                transport=self._transport,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
            self._loop = loop
        return self._client

    async def decide(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The service's decision, or the fail-mode decision (with ``error`` set) when none came."""
        started = time.perf_counter()
        try:
            # ASCII-escaped JSON: valid whatever the prompt holds (a lone surrogate cannot be UTF-8)
            content = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
            headers = {"Content-Type": "application/json"}
            if self.settings.gateway_token:
                headers["Authorization"] = f"Bearer {self.settings.gateway_token}"
            response = await asyncio.wait_for(
                self._http().post(self.settings.decide_url, content=content, headers=headers),
                timeout=self.settings.timeout_ms / 1000,
            )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}: {response.text[:300]}")
            return valid_decision(response.json())
        except Exception as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, asyncio.TimeoutError | httpx.TimeoutException):
                problem = f"no decision within {self.settings.timeout_ms} ms"
            log.warning(
                "distillguard decision failed after %.1f ms for account %s (%s); failing %s",
                elapsed_ms,
                payload.get("account_id"),
                problem,
                self.settings.fail_mode,
            )
            return fail_decision(self.settings, problem)

    async def check(self, user_api_key_dict: Any, data: dict[str, Any]) -> dict[str, Any]:
        """Decide on ``data`` and enforce: returns ``data`` (maybe rewritten) or raises the HTTP error."""
        decision = await self.decide(decide_payload(user_api_key_dict, data, self.settings))
        action = decision.get("action")
        if action not in ("allow", "degrade"):
            status, body, headers = rejection(decision)
            raise http_error(status, body, headers)
        if action == "degrade":
            apply_rewrite(data, decision.get("rewrite"))
        remember(data, verdict_headers(decision))
        return data

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def remember(data: dict[str, Any], headers: Mapping[str, str]) -> None:
    """Keep the verdict headers in the request's metadata for the response headers hook."""
    name = "litellm_metadata" if isinstance(data.get("litellm_metadata"), dict) else "metadata"
    metadata = data.get(name)
    if not isinstance(metadata, dict):
        metadata = data[name] = {}
    metadata[METADATA_KEY] = dict(headers)


def remembered(data: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not isinstance(data, Mapping):
        return None
    for name in ("litellm_metadata", "metadata"):
        metadata = data.get(name)
        if isinstance(metadata, Mapping) and isinstance(metadata.get(METADATA_KEY), Mapping):
            return {str(k): str(v) for k, v in metadata[METADATA_KEY].items()}
    return None


# ----------------------------------------------------------------------------- LiteLLM glue
try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:  # distillguard's own venv: the helpers above are still importable and tested
    CustomLogger = None

if CustomLogger is not None:

    class DistillguardHook(CustomLogger):
        """LiteLLM proxy callback: one distillguard decision per request, enforced before the call.

        LiteLLM only calls ``async_pre_call_hook`` when the class itself defines it, so the
        methods live here and delegate to ``DistillguardGate``.
        """

        def __init__(self, settings: HookSettings | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.gate = DistillguardGate(settings)

        async def async_pre_call_hook(
            self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
        ) -> dict[str, Any]:
            return await self.gate.check(user_api_key_dict, data)

        async def async_post_call_response_headers_hook(
            self,
            data: dict[str, Any],
            user_api_key_dict: Any,
            response: Any,
            request_headers: dict[str, str] | None = None,
            litellm_call_info: dict[str, Any] | None = None,
        ) -> dict[str, str] | None:
            # Tell the client what was decided (e.g. X-Distillguard-Action: degrade) on success.
            return remembered(data)

    proxy_handler_instance: Any = DistillguardHook()
else:
    proxy_handler_instance = None
