"""One decision for one live request: facts in, policy, precedence, verdict out.

``Decider.decide`` is the whole real-time path, shared by the HTTP service, the
ASGI middleware and the LiteLLM hook:

1. hash the API key and client address with the deployment secret (the same keyed
   hashes the warehouse stores, so scan verdicts on keys and prefixes match);
2. look up every subject of the request (account, key, IP prefix, cluster,
   global) in the state store in one call, and the account's record;
3. read the prompt out of the API request body (chat ``messages``, responses
   ``input``, completions ``prompt``) and score it with the scan's prompt matcher;
4. count the request in the live counters (rate, elicitation share, new accounts
   per prefix), build ``RequestFacts`` and let the policy turn them into rows;
5. resolve the rows by the fixed precedence, work out the enforced action (shadow
   mode and fail-open/closed), the degrade rewrite and the gateway headers;
6. write one audit record and, when a live rule produced a live row, share it
   with the other replicas through the state store.

It never raises. Every string of the request (identity fields, headers, the prompt)
passes ``wire.clean_text`` first, as ingest's do, so the live score equals the scan's.
Fail-open is a policy for outages, never for input: an error the request itself
causes is answered by deciding again as if the body held no prompt (the subject's
published and live rows still apply, so a blocked account stays blocked); only a
state-store fault, or a failure that survives that retry, takes the policy's
``on_error`` answer. Either way ``error`` is set and exactly one audit record is
written (or spooled, and /healthz says degraded).

Request headers read (case-insensitive, first present wins; see docs/serve.md):
country from ``CF-IPCountry``, ``X-Country`` or ``X-Client-Country``; the end
user's country from ``X-On-Behalf-Of-Country`` or ``X-End-User-Country``; the
network's ASN from ``X-Client-ASN`` or ``X-ASN``; ``User-Agent``; ``X-Request-Id``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from distillguard.config import Config, deployment_secret
from distillguard.decisions.degrade import degrade_patch
from distillguard.decisions.facts import ELICITATION_COUNTED, AccountRecord, RequestFacts
from distillguard.decisions.model import Decision, Resolution, resolve
from distillguard.decisions.policy import Policy, PolicyWatcher, default_policy
from distillguard.detectors.prompt_matcher import PromptMatch, compile_prompt_rules, match_prompt
from distillguard.fingerprints import hash_api_key, hash_ip, prompt_hash, skeleton_hash
from distillguard.ingest.bodies import request_context_text
from distillguard.serve.audit import AuditLog
from distillguard.serve.prompt_view import (  # re-exported: the request-reading half of a decision
    FINGERPRINT_PARAMETERS,
    PromptView,
    read_prompt,
    read_prompt_safely,
    request_fingerprint,
)
from distillguard.serve.state import Hit, StateError, StateStore
from distillguard.wire import clean_identifier, clean_text

log = logging.getLogger("distillguard.serve")
__all__ = [
    "FINGERPRINT_PARAMETERS",
    "DecideRequest",
    "DecideResult",
    "Decider",
    "PromptView",
    "read_prompt",
    "read_prompt_safely",
    "request_fingerprint",
]

COUNTRY_HEADERS = ("cf-ipcountry", "x-country", "x-client-country")
ON_BEHALF_OF_HEADERS = ("x-on-behalf-of-country", "x-end-user-country")
ASN_HEADERS = ("x-client-asn", "x-asn")
UNKNOWN_COUNTRIES = frozenset({"", "XX"})  # Cloudflare's "unknown"

# An account is "new" for the live burst counters when no scan has seen it or it was
# created within the policy's ``new_account_age`` (the same age its burst rules act on).
DEFAULT_RETRY_AFTER_S = 60
HASH_CACHE_SIZE = 65_536
GLOBAL_SUBJECT = ("global", "*")

HEADER_ACTION = "X-Distillguard-Action"
HEADER_RISK = "X-Distillguard-Risk"
HEADER_DECISION_ID = "X-Distillguard-Decision-Id"
HEADER_DEGRADE = "X-Distillguard-Degrade"
HEADER_SHADOW_ACTION = "X-Distillguard-Shadow-Action"
VERDICT_HEADERS = (HEADER_ACTION, HEADER_RISK, HEADER_DECISION_ID, HEADER_DEGRADE, "Retry-After")


@dataclass(frozen=True)
class DecideRequest:
    """What a gateway knows about one API request before it reaches the model."""

    account_id: str
    api_key_id: str | None = None
    end_user_id: str | None = None
    client_ip: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    request: Mapping[str, Any] | None = None  # the API request body (OpenAI-compatible)
    request_id: str | None = None


@dataclass(frozen=True)
class DecideResult:
    decision_id: str
    action: str  # what the gateway must enforce
    decided_action: str  # what the policy decided (differs in shadow mode and on errors)
    shadow: bool
    risk: float
    reasons: list[str]
    source: str
    subject_kind: str
    subject_id: str
    degrade: list[str]  # what to withhold, when the enforced action is degrade
    rewrite: dict[str, Any]  # {"set": {...}, "remove": [...]} for the request body
    headers: dict[str, str]
    retry_after_s: int | None
    policy_version: str
    error: str | None = None
    latency_us: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``POST /v1/decide`` response body."""
        return {
            "decision_id": self.decision_id,
            "action": self.action,
            "decided_action": self.decided_action,
            "shadow": self.shadow,
            "risk": self.risk,
            "reasons": self.reasons,
            "source": self.source,
            "subject": {"kind": self.subject_kind, "id": self.subject_id},
            "degrade": self.degrade,
            "rewrite": self.rewrite,
            "headers": self.headers,
            "retry_after_s": self.retry_after_s,
            "policy_version": self.policy_version,
            "error": self.error,
        }


def _first(headers: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value.strip()
    return None


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    return None if code in UNKNOWN_COUNTRIES else code


def verdict_headers(
    decision_id: str, action: str, risk: float, degrade: Sequence[str], retry_after_s: int | None
) -> dict[str, str]:
    headers = {HEADER_ACTION: action, HEADER_RISK: f"{risk:.3f}", HEADER_DECISION_ID: decision_id}
    if degrade:
        headers[HEADER_DEGRADE] = ",".join(degrade)
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return headers


def _retry_after(resolution: Resolution, now: datetime) -> int:
    """Seconds until the winning throttle row expires (a rate window), else a minute."""
    winner = next(
        (
            d
            for d in resolution.considered
            if d.action == "throttle"
            and d.subject_kind == resolution.subject_kind
            and d.subject_id == resolution.subject_id
        ),
        None,
    )
    if winner is None or winner.expires_at is None:
        return DEFAULT_RETRY_AFTER_S
    return max(1, math.ceil((winner.expires_at - now).total_seconds()))


def valid_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return False
    return True


class Decider:
    """Decides, audits and shares live rows; thread-safe as long as the state store is."""

    def __init__(
        self,
        config: Config,
        *,
        policy: PolicyWatcher,
        state: StateStore,
        audit: AuditLog | None,
        country_headers: Sequence[str] = COUNTRY_HEADERS,
        on_behalf_of_headers: Sequence[str] = ON_BEHALF_OF_HEADERS,
        asn_headers: Sequence[str] = ASN_HEADERS,
    ) -> None:
        self.config = config
        self.policy = policy
        self.state = state
        self.audit = audit
        self.secret = secret = deployment_secret(config)
        # Keys and addresses repeat from request to request; parsing an address and two HMACs
        # cost more than the rest of a lookup, so recent ones are remembered (bounded).
        self.hash_key: Callable[[str | None], str | None] = lru_cache(maxsize=HASH_CACHE_SIZE)(
            partial(hash_api_key, secret)
        )
        self.hash_ip: Callable[[str | None], tuple[str | None, str | None]] = lru_cache(
            maxsize=HASH_CACHE_SIZE
        )(partial(hash_ip, secret))
        self.store_text = config.text_storage == "store"
        self.max_text_chars = int(config.max_text_chars)
        self.country_headers = tuple(h.lower() for h in country_headers)
        self.on_behalf_of_headers = tuple(h.lower() for h in on_behalf_of_headers)
        self.asn_headers = tuple(h.lower() for h in asn_headers)
        self._last_policy: Policy | None = None
        self.audit_failures = 0
        compile_prompt_rules()  # compiled once, not on a live request

    # ------------------------------------------------------------------ policy
    def current_policy(self) -> Policy:
        """The policy in force; the last good one (or the default) if reading it fails."""
        try:
            policy = self.policy.current()
        except Exception:
            log.exception("reading the policy failed; the last good policy stays in force")
            policy = self._last_policy or default_policy()
        self._last_policy = policy
        return policy

    # ---------------------------------------------------------------- decisions
    def decide(self, request: DecideRequest, *, now: datetime | None = None) -> DecideResult:
        started = time.perf_counter_ns()
        now = now or datetime.now(UTC)
        policy = self.current_policy()
        decision_id = str(uuid.uuid4())
        audit: dict[str, Any] = {}
        try:
            request = clean_request(request)
            result = self._decide(request, policy, decision_id, now, audit, started)
        except StateError as exc:  # an outage: the policy's on_error choice
            log.exception("decision %s failed; answering by on_error=%s", decision_id, policy.on_error)
            result = self._on_error(policy, decision_id, f"{type(exc).__name__}: {exc}", started)
        except Exception as exc:
            result = self._without_body(request, policy, decision_id, now, audit, started, exc)
        self._audit(request, result, now, audit)
        return result

    def _without_body(
        self,
        request: DecideRequest,
        policy: Policy,
        decision_id: str,
        now: datetime,
        audit: dict[str, Any],
        started: int,
        cause: Exception,
    ) -> DecideResult:
        """The decision for the same subjects as if the body held no prompt (see the module docstring)."""
        problem = f"{type(cause).__name__}: {cause}"
        log.warning(
            "decision %s: the request could not be read (%s); deciding without its body", decision_id, problem
        )
        first = dict(audit)  # what the first try read (the prompt, if it got that far) stays audited
        audit.clear()
        try:
            bare = clean_request(replace(request, request=None, headers={}))
            result = self._decide(bare, policy, decision_id, now, audit, started)
        except Exception as exc:
            log.exception("decision %s failed; answering by on_error=%s", decision_id, policy.on_error)
            audit.clear()
            audit.update(first)
            return self._on_error(policy, decision_id, f"{type(exc).__name__}: {exc}", started)
        audit.update({k: v for k, v in first.items() if k in ("prompt", "match")})
        reasons = [*result.reasons, f"request not readable, decided without its body ({problem})"]
        return replace(result, reasons=reasons, error=f"request not readable: {problem}")

    def fallback(self, request: DecideRequest, reason: str, *, now: datetime | None = None) -> DecideResult:
        """The on_error answer without deciding (overload, timeouts); audited like any decision."""
        started = time.perf_counter_ns()
        result = self._on_error(self.current_policy(), str(uuid.uuid4()), reason, started)
        self._audit(request, result, now or datetime.now(UTC), {})
        return result

    def _on_error(self, policy: Policy, decision_id: str, error: str, started: int) -> DecideResult:
        action = "block" if policy.on_error == "fail_closed" else "allow"
        reason = f"internal error or overload: {policy.on_error} ({error})"
        return DecideResult(
            decision_id=decision_id,
            action=action,
            decided_action=action,
            shadow=policy.mode == "shadow",
            risk=0.0,
            reasons=[reason],
            source=f"error.{policy.on_error}",
            subject_kind="global",
            subject_id="*",
            degrade=[],
            rewrite={"set": {}, "remove": []},
            headers=verdict_headers(decision_id, action, 0.0, (), None),
            retry_after_s=None,
            policy_version=policy.version,
            error=error,
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )

    def _decide(
        self,
        request: DecideRequest,
        policy: Policy,
        decision_id: str,
        now: datetime,
        audit: dict[str, Any],
        started: int,
    ) -> DecideResult:
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        key_hash = self.hash_key(request.api_key_id)
        ip_hash, prefix_hash = self.hash_ip(request.client_ip)
        prompt = read_prompt(request.request, max_chars=self.max_text_chars)
        # the whole request as ingest stores it: the system prompt and earlier turns too, so an
        # instruction carried there scores the same here as in the next scan
        context = request_context_text(request.request)
        context = clean_text(context, max_chars=self.max_text_chars) if context else None
        match = (
            match_prompt(prompt.text or "", tool_count=prompt.tool_count, context=context)
            if prompt.text or context
            else PromptMatch()  # nothing to read (and a body-less re-decision never touches the matcher)
        )
        audit.update(api_key_hash=key_hash, client_ip_hash=ip_hash, ip_prefix_hash=prefix_hash)
        audit.update(prompt=prompt, match=match)

        state = self.state
        cluster_id = state.cluster_of(request.account_id)
        subjects: list[tuple[str, str]] = [("account", request.account_id)]
        if key_hash:
            subjects.append(("api_key", key_hash))
        if prefix_hash:
            subjects.append(("ip_prefix", prefix_hash))
        if cluster_id:
            subjects.append(("cluster", cluster_id))
        subjects.append(GLOBAL_SUBJECT)
        known = state.lookup(subjects, now=now)
        account = state.account(request.account_id)
        elicitation = max(match.cot_elicitation, match.rubric_grading, match.censorship_rewrite)
        counters = state.record(
            Hit(
                account_id=request.account_id,
                now=now,
                ip_prefix_hash=prefix_hash,
                elicited=elicitation >= ELICITATION_COUNTED,
                account_is_new=_is_new(account, now, policy.new_account_age),
                fingerprint=prompt.fingerprint,
                cluster_id=cluster_id,
            )
        )
        facts = RequestFacts(
            now=now,
            account_id=request.account_id,
            api_key_hash=key_hash,
            ip_prefix_hash=prefix_hash,
            client_ip=request.client_ip,
            end_user_id=request.end_user_id,
            model=_model(request),
            country=_country(_first(headers, self.country_headers)),
            on_behalf_of_country=_country(_first(headers, self.on_behalf_of_headers)),
            asn=_first(headers, self.asn_headers),
            user_agent=headers.get("user-agent"),
            account=account,
            known=tuple(known),
            cluster_id=cluster_id,
            counters=counters,
            cot_elicitation=match.cot_elicitation,
            rubric_grading=match.rubric_grading,
            censorship_rewrite=match.censorship_rewrite,
            capability=match.capability,
            prompt_evidence=tuple(match.evidence),
            max_tokens=prompt.max_tokens,
            logprobs=prompt.logprobs,
            reasoning_requested=prompt.reasoning_requested,
        )
        rows = policy.evaluate(facts)
        resolution = resolve(rows, now=now)
        self._share_live(rows)
        audit["decided_degrade"] = list(resolution.degrade)

        shadow = policy.mode == "shadow"
        action = "allow" if shadow else resolution.action
        degrade = list(resolution.degrade) if action == "degrade" else []
        rewrite = degrade_patch(degrade, request.request) if degrade else {"set": {}, "remove": []}
        retry_after = _retry_after(resolution, now) if action == "throttle" else None
        out_headers = verdict_headers(decision_id, action, resolution.risk, degrade, retry_after)
        if shadow:
            out_headers[HEADER_SHADOW_ACTION] = resolution.action
        return DecideResult(
            decision_id=decision_id,
            action=action,
            decided_action=resolution.action,
            shadow=shadow,
            risk=round(float(resolution.risk), 6),
            reasons=list(resolution.reasons),
            source=resolution.source,
            subject_kind=resolution.subject_kind,
            subject_id=resolution.subject_id,
            degrade=degrade,
            rewrite=rewrite,
            headers=out_headers,
            retry_after_s=retry_after,
            policy_version=policy.version,
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )

    def _share_live(self, rows: Sequence[Decision]) -> None:
        """Live rows go to the state store, so every replica enforces them until they expire.

        The store keeps one row per subject, action and source and shares only news
        (a new row, or an expiry that moved), so re-issuing a row on every request
        while a budget stays breached costs no extra round trips.
        """
        for row in rows:
            if row.source.startswith("live."):
                self.state.put_live(row)

    # -------------------------------------------------------------------- audit
    def _audit(
        self, request: DecideRequest, result: DecideResult, now: datetime, seen: Mapping[str, Any]
    ) -> None:
        """Exactly one record per decision: the full one, or a minimal one should building it fail.

        A record the disk refuses waits in the audit log's spool (``AuditLog.write``), counted
        here and in /healthz and /metrics until it is written.
        """
        if self.audit is None:
            return
        try:
            record = self._audit_record(request, result, now, seen)
        except Exception as exc:
            log.exception("building the audit record of decision %s failed", result.decision_id)
            record = self._minimal_audit_record(request, result, now, exc)
        try:
            written = self.audit.write(record)
        except Exception:
            written = False
            log.exception("writing the audit record of decision %s failed", result.decision_id)
        if not written:
            self.audit_failures += 1

    @staticmethod
    def _minimal_audit_record(
        request: DecideRequest, result: DecideResult, now: datetime, exc: Exception
    ) -> dict[str, Any]:
        return {
            "decision_id": result.decision_id,
            "ts": now.astimezone(UTC).isoformat(),
            "account_id": clean_identifier(request.account_id),
            "action": result.decided_action,
            "enforced_action": result.action,
            "shadow": result.shadow,
            "risk": result.risk,
            "reasons": [clean_text(r) for r in result.reasons],
            "source": result.source,
            "subject_kind": result.subject_kind,
            "subject_id": clean_identifier(result.subject_id),
            "policy_version": result.policy_version,
            "error": clean_text(f"audit record incomplete: {type(exc).__name__}: {exc}"),
            "latency_us": result.latency_us,
        }

    def _audit_record(
        self, request: DecideRequest, result: DecideResult, now: datetime, seen: Mapping[str, Any]
    ) -> dict[str, Any]:
        prompt: PromptView = seen.get("prompt") or read_prompt_safely(request.request)
        match: PromptMatch = seen.get("match") or PromptMatch()
        text = prompt.text
        if "api_key_hash" in seen:
            key_hash, ip_hash, prefix_hash = (
                seen["api_key_hash"],
                seen["client_ip_hash"],
                seen["ip_prefix_hash"],
            )
        else:
            key_hash = self.hash_key(request.api_key_id)
            ip_hash, prefix_hash = self.hash_ip(request.client_ip)
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        return {
            "decision_id": result.decision_id,
            "request_id": request.request_id or headers.get("x-request-id"),
            "ts": now.astimezone(UTC).isoformat(),
            "account_id": request.account_id,
            "api_key_hash": key_hash,
            "end_user_id": request.end_user_id,
            "client_ip_hash": ip_hash,
            "ip_prefix_hash": prefix_hash,
            "model": _model(request),
            "action": result.decided_action,
            "enforced_action": result.action,
            "shadow": result.shadow,
            "risk": result.risk,
            "reasons": result.reasons,
            "source": result.source,
            "subject_kind": result.subject_kind,
            "subject_id": result.subject_id,
            "degrade": seen.get("decided_degrade", result.degrade),
            "policy_version": result.policy_version,
            "cot_elicitation": match.cot_elicitation,
            "rubric_grading": match.rubric_grading,
            "censorship_rewrite": match.censorship_rewrite,
            "capability": match.capability,
            "prompt_hash": prompt_hash(text) if text is not None else None,
            # The skeleton costs a dozen regex passes over the whole prompt; with the text kept,
            # ingest computes it from the text (the same code), so only fingerprints-only pays here.
            "skeleton_hash": skeleton_hash(text) if text is not None and not self.store_text else None,
            "prompt_text": text if self.store_text else None,
            "max_tokens": prompt.max_tokens,
            "logprobs": prompt.logprobs,
            "tool_count": prompt.tool_count,
            "message_count": prompt.message_count,
            "user_agent": headers.get("user-agent"),
            "error": result.error,
            "latency_us": result.latency_us,
        }


def clean_request(request: DecideRequest) -> DecideRequest:
    """``request`` with every identity field and header through ``wire.clean_text``.

    The body is left as sent: ``read_prompt`` cleans the prompt it takes from it, and the
    degrade rewrite only names fields.
    """
    account = clean_identifier(request.account_id) or "anonymous"
    headers = {}
    for name, value in request.headers.items():
        key = clean_identifier(name)
        if key is not None:
            headers[key] = clean_identifier(value) or ""
    return replace(
        request,
        account_id=account,
        api_key_id=clean_identifier(request.api_key_id),
        end_user_id=clean_identifier(request.end_user_id),
        client_ip=clean_identifier(request.client_ip),
        headers=headers,
        model=clean_identifier(request.model),
        request_id=clean_identifier(request.request_id),
    )


def _model(request: DecideRequest) -> str | None:
    """The model asked for: the gateway's field, else the request body's."""
    if request.model:
        return request.model
    body = request.request
    model = body.get("model") if body else None
    return clean_identifier(model) if isinstance(model, str) else None


def _is_new(account: AccountRecord | None, now: datetime, age: timedelta) -> bool:
    if account is None:
        return True  # no scan has seen it: new to us
    created = account.created_at
    if created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return now - created < age
