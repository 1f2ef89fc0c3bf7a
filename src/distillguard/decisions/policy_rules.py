"""The compiled pieces of a policy: plain frozen values, built once when the file loads.

Everything the per-request path needs is precomputed here (sorted thresholds,
frozensets, a CIDR index keyed by prefix length) so ``Policy.evaluate`` does
lookups, never parsing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from distillguard.decisions.facts import LiveCounters


class PolicyError(ValueError):
    """A policy that cannot be used; ``str(e)`` is ``"<file>:<line>: <what is wrong>"``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        super().__init__(f"{source}:{line}: {message}" if line is not None else f"{source}: {message}")


@dataclass(frozen=True, slots=True)
class Budget:
    """Requests allowed per minute and per hour (None: no limit on that window)."""

    per_minute: int | None = None
    per_hour: int | None = None

    def breach(self, counters: LiveCounters, *, cluster: bool = False) -> tuple[str, int, int] | None:
        """``(window, count, limit)`` of the first window over its limit, else None.

        Counts the account's own requests, or with ``cluster`` those of all the accounts
        of its cluster together."""
        minute, hour = (
            (counters.cluster_requests_1m, counters.cluster_requests_1h)
            if cluster
            else (counters.account_requests_1m, counters.account_requests_1h)
        )
        if self.per_minute is not None and minute > self.per_minute:
            return "minute", minute, self.per_minute
        if self.per_hour is not None and hour > self.per_hour:
            return "hour", hour, self.per_hour
        return None

    def describe(self) -> str:
        parts = []
        if self.per_minute is not None:
            parts.append(f"{self.per_minute} per minute")
        if self.per_hour is not None:
            parts.append(f"{self.per_hour} per hour")
        return " and ".join(parts) or "no limit"


@dataclass(frozen=True, slots=True)
class Band:
    """Risk at or above ``risk`` -> ``action`` (one row of a threshold table)."""

    risk: float
    action: str
    name: str = ""
    degrade: tuple[str, ...] = ()
    budget: Budget | None = None  # over it: throttle instead of ``action``

    @property
    def label(self) -> str:
        return f"{self.risk:.2f} ({self.name})" if self.name else f"{self.risk:.2f}"


@dataclass(frozen=True, slots=True)
class ThresholdTable:
    label: str  # "default thresholds" or the override's name, for reasons
    bands: tuple[Band, ...]  # highest risk first

    def band_for(self, risk: float) -> Band | None:
        for band in self.bands:
            if risk >= band.risk:
                return band
        return None


@dataclass(frozen=True, slots=True)
class Override:
    """Other thresholds for accounts on some plans and/or verification pathways."""

    name: str
    plans: frozenset[str] | None  # None: any plan
    verifications: frozenset[str] | None  # None: any verification
    table: ThresholdTable

    def matches(self, plan: str, verification: str) -> bool:
        return (self.plans is None or plan in self.plans) and (
            self.verifications is None or verification in self.verifications
        )


@dataclass(frozen=True, slots=True)
class Allowlist:
    name: str
    accounts: frozenset[str]
    cidrs: tuple[str, ...]
    reason: str = ""


@dataclass
class CidrIndex:
    """Address -> (allowlist, CIDR text) by longest prefix, one dict probe per prefix length."""

    # (ip version, prefix length) -> {network address >> host bits: (allowlist, cidr)}
    _by_length: dict[tuple[int, int], dict[int, tuple[Allowlist, str]]] = field(default_factory=dict)
    _order: list[tuple[int, int]] = field(default_factory=list)

    def add(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, entry: Allowlist) -> None:
        key = (network.version, network.prefixlen)
        shift = network.max_prefixlen - network.prefixlen
        self._by_length.setdefault(key, {}).setdefault(
            int(network.network_address) >> shift, (entry, str(network))
        )
        self._order = sorted(self._by_length, key=lambda k: -k[1])

    def __bool__(self) -> bool:
        return bool(self._by_length)

    def lookup(self, address: str | None) -> tuple[Allowlist, str] | None:
        if not address or not self._by_length:
            return None
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        value, version, bits = int(ip), ip.version, ip.max_prefixlen
        for key in self._order:
            if key[0] == version:
                hit = self._by_length[key].get(value >> (bits - key[1]))
                if hit is not None:
                    return hit
        return None


@dataclass(frozen=True, slots=True)
class RegionRule:
    name: str
    countries: frozenset[str]
    on_request: bool
    on_behalf_of: bool
    on_account: bool
    proxy_asns: frozenset[str]
    action: str
    proxy_action: str
    degrade: tuple[str, ...] = ()
    proxy_degrade: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RateBudgets:
    account: Budget | None
    plans: dict[str, Budget | None]  # plan -> its budget (None: unlimited)
    ip_prefix_per_minute: int | None
    ttl: timedelta

    def for_plan(self, plan: str) -> tuple[Budget | None, str]:
        if plan in self.plans:
            return self.plans[plan], f"the {plan} plan's budget"
        return self.account, "the account budget"


@dataclass(frozen=True, slots=True)
class ElicitationRule:
    enabled: bool
    min_share: float
    min_requests: int
    action: str
    degrade: tuple[str, ...]
    ttl: timedelta


@dataclass(frozen=True, slots=True)
class BurstRule:
    """Fresh accounts appearing together: on one IP prefix, or eliciting with one request
    fingerprint (one script driving many accounts through rotating addresses)."""

    enabled: bool
    min_new_accounts: int
    new_account_days: float
    action: str
    degrade: tuple[str, ...]
    ttl: timedelta


@dataclass(frozen=True)
class PolicyParts:
    """Everything parsed from a policy file, before it becomes a ``Policy``."""

    mode: str
    on_error: str
    description: str
    degrade: tuple[str, ...]
    thresholds: ThresholdTable
    overrides: tuple[Override, ...]
    allowlists: tuple[Allowlist, ...]
    allow_accounts: dict[str, Allowlist]
    allow_cidrs: CidrIndex
    regions: tuple[RegionRule, ...]
    rate_budgets: RateBudgets
    elicitation: ElicitationRule
    burst: BurstRule
    fingerprint_burst: BurstRule
    inherited: tuple[str, ...]  # top-level keys taken from the packaged default
