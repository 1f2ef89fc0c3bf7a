"""The decision policy: a YAML file that turns what is known about a request into decision rows.

``Policy.evaluate(facts)`` is pure and runs on every request, so all parsing and
lookups are compiled when the file loads (``policy_parse``). What it emits, in
terms of ``Decision.source``:

- ``policy.threshold``: a scan verdict (``scan.*`` rows) re-priced by the risk
  thresholds, with per-plan / per-verification overrides;
- ``live.rate_budget``: a throttle for going over a rate budget, or over the
  tight budget a flagged subject is held to;
- ``live.elicitation_share`` and ``live.new_account_burst``: live patterns of a
  campaign that started after the last scan;
- ``policy.allowlist``: an allow for an allowlisted account or address (its
  detection-derived and live rows are set aside);
- ``policy.region``: a request from, or on behalf of, a restricted region.

Rows from other sources (partner intel, manual, earlier live rows) pass through
with their own action; ``model.resolve`` then picks the outcome. The file format
is described in docs/policy.md.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

from yaml.nodes import MappingNode

from distillguard.decisions.facts import ELICITATION_COUNTED, RequestFacts
from distillguard.decisions.model import Decision
from distillguard.decisions.policy_parse import compose, parse_parts
from distillguard.decisions.policy_rules import BurstRule, PolicyError, PolicyParts, RegionRule

__all__ = ["Policy", "PolicyError", "PolicyWatcher", "default_policy", "load_policy", "parse_policy"]

DEFAULT_SOURCE = "<default>"
# Rows an allowlist sets aside: what detection and live counting concluded. A
# manual row (a person's decision) still stands.
_SET_ASIDE_PREFIXES = ("scan.", "intel.", "live.")


@dataclass(frozen=True)
class Policy:
    mode: str  # "enforce" | "shadow" (shadow: decide and log, never enforce)
    on_error: str  # "fail_open" | "fail_closed" (internal error, overload, timeout)
    version: str  # short sha256 of the source text, written into every audit record
    source: str  # file path or "<default>"
    parts: PolicyParts = field(repr=False, compare=False)

    @property
    def shadow(self) -> bool:
        return self.mode == "shadow"

    @property
    def fail_closed(self) -> bool:
        return self.on_error == "fail_closed"

    @property
    def new_account_age(self) -> timedelta:
        """How young an account must be for the live counters to count it as new: the widest
        ``new_account_days`` of the enabled burst rules (a day when none is enabled)."""
        days = [r.new_account_days for r in (self.parts.burst, self.parts.fingerprint_burst) if r.enabled]
        return timedelta(days=max(days, default=1.0))

    def evaluate(self, facts: RequestFacts) -> list[Decision]:
        """Decision rows for one request (pure: same facts, same rows)."""
        parts = self.parts
        out: list[Decision] = []
        if parts.regions:
            _region_rows(parts.regions, facts, out)
        if parts.allow_accounts or parts.allow_cidrs:
            allow = _allow_row(parts, facts, out)
            if allow is not None:
                out.append(allow)
                return out

        account = facts.account
        plan = (account.plan or "").lower() if account is not None else ""
        verification = (account.verification or "").lower() if account is not None else ""
        table = parts.thresholds
        for override in parts.overrides:
            if override.matches(plan, verification):
                table = override.table
                break

        now, counters = facts.now, facts.counters
        over_budget: Decision | None = None
        for known in facts.known:
            if not known.source.startswith("scan."):
                out.append(known)
                continue
            if not known.live_at(now):
                continue
            band = table.band_for(known.risk)
            subject = f"{known.subject_kind} {known.subject_id}"
            verdict = f"{subject} scored risk {known.risk:.2f} in the last scan ({known.source})"
            if band is None:
                lowest = table.bands[-1].risk if table.bands else 1.0
                reason = f"{verdict}, below the lowest of the {table.label} ({lowest:.2f}): allow"
                out.append(_repriced(known, "allow", (), reason))
                continue
            reason = f"{verdict}; at or above {band.label} the {table.label} say {band.action}"
            if band.budget is not None:
                # A cluster's budget counts all its member accounts together: hydra
                # accounts are each light, the hydra is not.
                cluster = known.subject_kind == "cluster"
                breach = band.budget.breach(counters, cluster=cluster)
                who = f"cluster {known.subject_id}'s accounts together" if cluster else "account"
                if breach is None:
                    minute, hour = (
                        (counters.cluster_requests_1m, counters.cluster_requests_1h)
                        if cluster
                        else (counters.account_requests_1m, counters.account_requests_1h)
                    )
                    reason += (
                        f", within its flagged budget of {band.budget.describe()} "
                        f"({who}: {minute} in the last minute, {hour} in the last hour)"
                    )
                elif over_budget is None or known.risk > over_budget.risk:
                    window, count, limit = breach
                    over_budget = _live_row(
                        facts,
                        "throttle",
                        f"{who} made {count} requests in the last {window}, over the {limit} per {window} "
                        f"allowed while {subject} is flagged at risk {known.risk:.2f} "
                        f"({band.name + ' band' if band.name else 'band'} from {band.risk:.2f})",
                        "live.rate_budget",
                        parts.rate_budgets.ttl,
                        risk=known.risk,
                    )
            out.append(_repriced(known, band.action, band.degrade, reason))
        if over_budget is not None:
            out.append(over_budget)

        _rate_rows(parts, facts, plan, out)
        _pattern_rows(parts, facts, out)
        return out


def _repriced(known: Decision, action: str, degrade: tuple[str, ...], reason: str) -> Decision:
    return Decision(
        subject_kind=known.subject_kind,
        subject_id=known.subject_id,
        action=action,
        risk=known.risk,
        reasons=(*known.reasons, reason),
        source="policy.threshold",
        expires_at=known.expires_at,
        degrade=degrade,
    )


def _live_row(
    facts: RequestFacts,
    action: str,
    reason: str,
    source: str,
    ttl: timedelta,
    *,
    risk: float = 0.0,
    degrade: tuple[str, ...] = (),
) -> Decision:
    """A row about the request's account that lasts ``ttl`` from ``facts.now``."""
    return Decision("account", facts.account_id, action, risk, (reason,), source, facts.now + ttl, degrade)


def _allow_row(parts: PolicyParts, facts: RequestFacts, out: list[Decision]) -> Decision | None:
    entry = parts.allow_accounts.get(facts.account_id)
    if entry is not None:
        why = f"account {facts.account_id} is on the allowlist '{entry.name}'"
    else:
        hit = parts.allow_cidrs.lookup(facts.client_ip)
        if hit is None:
            return None
        entry, cidr = hit
        why = f"client address {facts.client_ip} is in {cidr}, on the allowlist '{entry.name}'"
    set_aside = 0
    for known in facts.known:
        if known.source.startswith(_SET_ASIDE_PREFIXES):
            set_aside += 1
        else:
            out.append(known)
    reasons = [why]
    if entry.reason:
        reasons.append(entry.reason)
    if set_aside:
        reasons.append(f"{set_aside} detection or live row(s) for this request were set aside")
    return Decision("account", facts.account_id, "allow", 0.0, tuple(reasons), "policy.allowlist")


def _asn_key(asn: str | None) -> str | None:
    if not asn:
        return None
    text = asn.strip().upper()
    if text.startswith("AS"):
        text = text[2:]
    digits = text.split()[0] if text.split() else ""
    return f"AS{int(digits)}" if digits.isdigit() else None


def _region_rows(rules: tuple[RegionRule, ...], facts: RequestFacts, out: list[Decision]) -> None:
    origin = facts.country.upper() if facts.country else None
    behalf = facts.on_behalf_of_country.upper() if facts.on_behalf_of_country else None
    home = facts.account.country.upper() if facts.account is not None and facts.account.country else None
    asn = _asn_key(facts.asn)
    for rule in rules:
        reason = ""
        action, degrade = rule.action, rule.degrade
        if rule.on_request and origin in rule.countries:
            reason = f"request comes from {origin}, a restricted region under '{rule.name}'"
        elif rule.on_behalf_of and behalf in rule.countries:
            reason = (
                f"request is made on behalf of a user in {behalf}, a restricted region under '{rule.name}'"
            )
        elif rule.on_account and home in rule.countries:
            reason = f"account is registered in {home}, a restricted region under '{rule.name}'"
        elif asn is not None and asn in rule.proxy_asns:
            reason = f"request arrived through {asn}, a proxy network listed under '{rule.name}'"
            action, degrade = rule.proxy_action, rule.proxy_degrade
        if not reason:
            continue
        if asn is not None and asn in rule.proxy_asns and not reason.startswith("request arrived"):
            reason += f" (through {asn}, a listed proxy network)"
        out.append(
            Decision("account", facts.account_id, action, 0.0, (reason,), "policy.region", None, degrade)
        )


def _rate_rows(parts: PolicyParts, facts: RequestFacts, plan: str, out: list[Decision]) -> None:
    budgets, counters = parts.rate_budgets, facts.counters
    budget, which = budgets.for_plan(plan)
    if budget is not None:
        breach = budget.breach(counters)
        if breach is not None:
            window, count, used = breach
            reason = (
                f"account made {count} requests in the last {window}, over {which} of {used} per {window}"
            )
            out.append(_live_row(facts, "throttle", reason, "live.rate_budget", budgets.ttl))
    limit = budgets.ip_prefix_per_minute
    if limit is not None and facts.ip_prefix_hash and counters.prefix_requests_1m > limit:
        out.append(
            Decision(
                subject_kind="ip_prefix",
                subject_id=facts.ip_prefix_hash,
                action="throttle",
                reasons=(
                    f"IP prefix made {counters.prefix_requests_1m} requests in the last minute, "
                    f"over the budget of {limit} per minute per prefix",
                ),
                source="live.rate_budget",
                expires_at=facts.now + budgets.ttl,
            )
        )


def _pattern_rows(parts: PolicyParts, facts: RequestFacts, out: list[Decision]) -> None:
    counters = facts.counters
    rule = parts.elicitation
    if rule.enabled and counters.account_requests_1h >= rule.min_requests:
        share = counters.account_elicitation_share_1h
        if share >= rule.min_share:
            reason = (
                f"{counters.account_elicitation_1h} of the account's {counters.account_requests_1h} "
                f"requests in the last hour ({share:.0%}) asked for full reasoning, grading or rewrites; "
                f"the live rule acts at {rule.min_share:.0%} over at least {rule.min_requests} requests"
            )
            out.append(
                _live_row(
                    facts,
                    rule.action,
                    reason,
                    "live.elicitation_share",
                    rule.ttl,
                    risk=share,
                    degrade=rule.degrade,
                )
            )
    burst = parts.burst
    if burst.enabled and counters.prefix_new_accounts_1h >= burst.min_new_accounts:
        age = _new_account_age(facts, burst)
        if age is not None:  # an established account on a busy prefix (campus, NAT) is not in a burst
            reason = (
                f"{counters.prefix_new_accounts_1h} new accounts appeared on this IP prefix in the last hour "
                f"(the live rule acts at {burst.min_new_accounts}); this account is {age}"
            )
            out.append(
                _live_row(
                    facts, burst.action, reason, "live.new_account_burst", burst.ttl, degrade=burst.degrade
                )
            )
    scripted = parts.fingerprint_burst
    if (
        scripted.enabled
        and counters.fingerprint_new_elicited_accounts_1h >= scripted.min_new_accounts
        and facts.elicitation >= ELICITATION_COUNTED
    ):
        age = _new_account_age(facts, scripted)
        if age is not None:
            reason = (
                f"{counters.fingerprint_new_elicited_accounts_1h} new accounts asked for reasoning traces, "
                "grading or rewrites with this request's exact model and generation parameters in the last "
                f"hour (the live rule acts at {scripted.min_new_accounts}): one script driving many fresh "
                f"accounts; this account is {age}"
            )
            out.append(
                _live_row(
                    facts,
                    scripted.action,
                    reason,
                    "live.fingerprint_burst",
                    scripted.ttl,
                    risk=facts.elicitation,
                    degrade=scripted.degrade,
                )
            )


def _new_account_age(facts: RequestFacts, rule: BurstRule) -> str | None:
    """How new the account is, in words; None for an established account."""
    account = facts.account
    if account is None:
        return "not in the last scan's account records"
    if account.created_at is not None and facts.now - account.created_at <= timedelta(
        days=rule.new_account_days
    ):
        days = (facts.now - account.created_at).total_seconds() / 86400
        return f"{days:.1f} days old"
    return None


@lru_cache(maxsize=1)
def _default_text() -> str:
    return resources.files("distillguard").joinpath("data/default_policy.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _default_root() -> MappingNode:
    return compose(_default_text(), DEFAULT_SOURCE)


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """A policy from YAML text; top-level keys it leaves out take the packaged default's value."""
    root = compose(text, source)
    parts = parse_parts(root, source, _default_root(), DEFAULT_SOURCE)
    digest = hashlib.sha256(text.encode("utf-8"))
    if parts.inherited:  # the packaged default is part of what decides
        digest.update(b"\0" + _default_text().encode("utf-8"))
    return Policy(
        mode=parts.mode, on_error=parts.on_error, version=digest.hexdigest()[:12], source=source, parts=parts
    )


def load_policy(path: str | Path) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(str(path), None, f"cannot read the policy file: {reason}") from None
    return parse_policy(text, source=str(path))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The packaged ``data/default_policy.yaml``."""
    return parse_policy(_default_text(), source=DEFAULT_SOURCE)


class PolicyWatcher:
    """The current policy of a file that may change while the service runs.

    ``current()`` costs a clock read; at most every ``check_interval_ms`` it also
    stats the file and, when its mtime or size changed, parses it again. A bad
    edit keeps the last good policy (``last_error`` says why); the service never
    runs without a policy. A file modified in the last ``settle_ms`` is left for
    the next check, so an editor's half-written save is not read.
    """

    def __init__(
        self, path: str | Path | None, *, check_interval_ms: int = 1000, settle_ms: int = 100
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.last_error: str | None = None
        self.reloads = 0
        self._interval = check_interval_ms / 1000
        self._settle_ns = settle_ms * 1_000_000
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        if self.path is None:
            self._policy = default_policy()
        else:
            self._stamp = self._stat()
            self._policy = load_policy(self.path)  # a service must not start on a broken policy
        self._next_check = time.monotonic() + self._interval

    def _stat(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> Policy:
        if self.path is not None and time.monotonic() >= self._next_check:
            self._check(force=False)
        return self._policy

    def reload(self) -> Policy:
        """Re-read the file now (an admin reload); on failure keeps the last good policy."""
        if self.path is not None:
            self._check(force=True)
        return self._policy

    def _check(self, *, force: bool) -> None:
        # One thread re-reads; the others keep answering with the policy they have.
        if not self._lock.acquire(blocking=force):
            return
        try:
            self._next_check = time.monotonic() + self._interval
            stamp = self._stat()
            if stamp is None:
                self.last_error = f"{self.path}: cannot read the policy file (kept the last good policy)"
                self._stamp = None
                return
            if not force and stamp == self._stamp:
                return
            if not force and time.time_ns() - stamp[0] < self._settle_ns:
                self._next_check = time.monotonic()  # look again on the next request
                return
            self._stamp = stamp
            assert self.path is not None
            try:
                policy = load_policy(self.path)
            except PolicyError as exc:
                self.last_error = str(exc)
                return
            self.last_error = None
            if policy.version != self._policy.version:
                self._policy = policy
                self.reloads += 1
        finally:
            self._lock.release()
