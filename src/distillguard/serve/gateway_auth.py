"""Who may ask the decision service, and whose identity a question is about.

The service trusts its gateways, never their clients (docs/security.md):

- ``/v1/decide`` and ``/v1/auth`` answer only a gateway: one presenting a bearer token
  from ``serve_gateway_tokens``, or a client certificate signed by
  ``serve_tls_client_ca_path`` (mutual TLS, enforced by the TLS handshake itself). With
  neither configured they answer loopback callers only, and ``check_bind`` refuses to
  start the service on any other address: a reachable, unauthenticated decision
  endpoint leaks every account's risk and lets anyone push an innocent account into
  the live counters.
- ``/v1/auth`` takes the account from the credential the client presented to the
  gateway (its API key, forwarded by the gateway as ``X-Client-Authorization``),
  hashed with the deployment secret and mapped to the account the warehouse saw use
  it. Client-supplied ``X-Account-Id`` / ``X-Api-Key-Id`` are ignored unless
  ``serve_trust_identity_headers`` says the gateway itself authenticated the client
  and sets them (and strips the client's own copies).
"""

from __future__ import annotations

import hmac
import ssl
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from distillguard.config import Config, ConfigError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
GATEWAY_TOKEN_MIN_CHARS = 16  # a guessable token is no credential
CLIENT_CREDENTIAL_HEADER = "x-client-authorization"


class GatewayRefused(Exception):
    """A caller that is not an authenticated gateway; ``status`` is 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def gateway_tokens(config: Config) -> tuple[str, ...]:
    """The configured gateway bearer tokens (comma-separated), each checked for length."""
    tokens = tuple(t.strip() for t in str(config.serve_gateway_tokens or "").split(",") if t.strip())
    short = [t for t in tokens if len(t) < GATEWAY_TOKEN_MIN_CHARS]
    if short:
        raise ConfigError(
            f"serve_gateway_tokens: every token needs at least {GATEWAY_TOKEN_MIN_CHARS} characters "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return tokens


def uses_mutual_tls(config: Config) -> bool:
    return bool(str(config.serve_tls_client_ca_path or "").strip())


def check_bind(config: Config) -> None:
    """Refuse a non-loopback listen address when no gateway credential is configured."""
    host = str(config.serve_host).strip().strip("[]")
    if host in LOOPBACK_HOSTS or gateway_tokens(config) or uses_mutual_tls(config):
        return
    raise ConfigError(
        f"refusing to listen on {host}: the decision endpoints would answer anyone who can reach "
        "them. Set serve_gateway_tokens (DISTILLGUARD_SERVE_GATEWAY_TOKENS=<token>[,<token>...]) "
        "and give each gateway its token, or require client certificates with "
        "serve_tls_client_ca_path; see docs/security.md. Loopback (127.0.0.1) needs neither."
    )


def tls_options(config: Config, service: str = "serve") -> dict[str, Any]:
    """uvicorn's TLS keywords from a service's ``<service>_tls_*`` settings ({} for plain HTTP).

    ``serve`` may also require client certificates (``serve_tls_client_ca_path``); a service
    without that setting serves TLS to any client.
    """
    cert = str(getattr(config, f"{service}_tls_cert_path", None) or "").strip()
    key = str(getattr(config, f"{service}_tls_key_path", None) or "").strip()
    client_ca = str(getattr(config, f"{service}_tls_client_ca_path", None) or "").strip()
    if not cert:
        if client_ca or key:
            raise ConfigError(
                f"{service}_tls_key_path and {service}_tls_client_ca_path need {service}_tls_cert_path"
            )
        return {}
    options: dict[str, Any] = {"ssl_certfile": cert, "ssl_keyfile": key or None}
    if client_ca:
        options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


@dataclass(frozen=True)
class GatewayAuth:
    """Checks that a request to a decision endpoint comes from an authenticated gateway."""

    tokens: tuple[str, ...]
    mutual_tls: bool

    @classmethod
    def from_config(cls, config: Config) -> GatewayAuth:
        return cls(gateway_tokens(config), uses_mutual_tls(config))

    def check(self, request: Request) -> None:
        if self.tokens:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            token = presented.strip()
            # compare against every token (no early exit): the time taken says nothing
            matched = False
            for candidate in self.tokens:
                matched |= hmac.compare_digest(token.encode(), candidate.encode())
            if scheme.lower() != "bearer" or not matched:
                raise GatewayRefused(401, "decision endpoints need Authorization: Bearer <gateway token>")
            return
        if self.mutual_tls:
            return  # the TLS handshake already required a certificate from the configured CA
        host = request.client.host if request.client else ""
        if host not in LOOPBACK_HOSTS:
            raise GatewayRefused(
                403, "decision endpoints are loopback-only while serve_gateway_tokens is empty"
            )


def client_api_key(value: str | None) -> str | None:
    """The API key out of a forwarded ``Authorization`` value (``Bearer sk-...`` or the bare key)."""
    if not value:
        return None
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() in ("bearer", "basic", "token"):
        text = rest.strip()
    return text or None
