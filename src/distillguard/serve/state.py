"""Where the decision service keeps what it knows: published verdicts and live counters.

Two kinds of state, with different needs:

- **The snapshot** (scan verdicts, partner intel, account records, cluster
  membership) is read on every request and changes only when a scan publishes.
  Every replica holds it in process (``SubjectTable``), so a lookup is a few dict
  reads whatever the backend. With Redis the published snapshot lives in Redis
  under a generation key and each replica reloads its copy when the generation
  changes (``redis_state.RedisState``).
- **Live counters** (requests per account and prefix over the last minute and
  hour, elicitation, new accounts on a prefix) change on every request. In
  memory they are bucketed windows; with Redis they are keys with TTLs, updated in
  one pipelined round trip, and local windows take over while Redis is down.

Windows are bucketed: "the last minute" is the current 10-second bucket and the
five before it (50 to 60 seconds of history), "the last hour" the current
5-minute bucket and the eleven before it.

A snapshot of a million subjects is held as small shared tuples, not dataclass
instances (``snapshot.SubjectTable``): repeated actions, sources, expiries, reasons
and risks are shared, and ``Decision`` objects are built only for lookup hits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from distillguard.decisions.facts import AccountRecord, LiveCounters
from distillguard.decisions.model import Decision
from distillguard.serve.snapshot import SubjectTable

# A live decision without an expiry would outlive every replica's memory of why it
# was made; it is kept this long instead.
LIVE_DEFAULT_TTL = timedelta(hours=1)


class StateError(RuntimeError):
    """The shared state store could not take a write (the local copy was still updated)."""


@dataclass(frozen=True)
class StateHealth:
    backend: str  # "memory" | "redis"
    ok: bool
    degraded_reason: str | None
    subjects: int  # decision rows in the loaded snapshot
    generation: str | None
    loaded_at: datetime | None
    errors: int = 0  # failed shared-store operations since start (for metrics)


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as the live counters see it (this request is counted too)."""

    account_id: str
    now: datetime
    ip_prefix_hash: str | None = None
    elicited: bool = False  # its prompt scored as elicitation, grading or rewrite
    account_is_new: bool = False  # unknown to the last scan, or created recently (policy's age)
    fingerprint: str | None = None  # model + explicit generation parameters, when any
    cluster_id: str | None = None  # the account's flagged cluster, when it has one


class StateStore(Protocol):
    backend: str

    def replace_subjects(
        self,
        decisions: Iterable[Decision],
        *,
        accounts: Iterable[AccountRecord],
        memberships: Mapping[str, str],
        generation: str,
    ) -> int: ...

    def lookup(self, subjects: Sequence[tuple[str, str]], *, now: datetime) -> list[Decision]: ...

    def cluster_of(self, account_id: str) -> str | None: ...

    def account(self, account_id: str) -> AccountRecord | None: ...

    def record(self, hit: Hit) -> LiveCounters: ...

    def put_live(self, decision: Decision) -> None: ...

    def health(self) -> StateHealth: ...

    def close(self) -> None: ...


# ----------------------------------------------------------------- live decisions
class LiveDecisions:
    """Decisions made while serving (a live throttle), until they expire."""

    # A decision re-issued on every request only moves its expiry; writing it again
    # (to Redis) is worth it only when the expiry moved by more than this.
    REFRESH = timedelta(seconds=1)

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], list[Decision]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def put(self, decision: Decision, *, now: datetime | None = None) -> bool:
        """Hold ``decision``; False when an equivalent one was already held (nothing to share)."""
        if decision.expires_at is None:
            decision = _with_expiry(decision, (now or datetime.now(UTC)) + LIVE_DEFAULT_TTL)
        key = (decision.subject_kind, decision.subject_id)
        with self._lock:
            held = self._held.setdefault(key, [])
            for index, old in enumerate(held):
                if old.action == decision.action and old.source == decision.source:
                    assert old.expires_at is not None and decision.expires_at is not None
                    if decision.expires_at <= old.expires_at + self.REFRESH:
                        return False
                    held[index] = decision
                    return True
            held.append(decision)
            return True

    def find(self, kind: str, subject_id: str, now: datetime) -> list[Decision]:
        key = (kind, subject_id)
        held = self._held.get(key)
        if not held:
            return []
        live = [d for d in held if d.live_at(now)]
        if len(live) != len(held):
            with self._lock:
                current = self._held.get(key, [])
                kept = [d for d in current if d.live_at(now)]
                if kept:
                    self._held[key] = kept
                else:
                    self._held.pop(key, None)
        return live


def _with_expiry(decision: Decision, expires_at: datetime) -> Decision:
    return Decision(
        decision.subject_kind,
        decision.subject_id,
        decision.action,
        decision.risk,
        decision.reasons,
        decision.source,
        expires_at,
        decision.degrade,
    )


# ------------------------------------------------------------------ live counters
@dataclass(frozen=True)
class Window:
    seconds: int
    buckets: int

    @property
    def width(self) -> int:
        return self.seconds // self.buckets

    def bucket(self, ts: float) -> int:
        return int(ts // self.width)

    def span(self, current: int) -> range:
        """The buckets counted at ``current``: it and the ``buckets - 1`` before it."""
        return range(current - self.buckets + 1, current + 1)


MINUTE = Window(60, 6)
HOUR = Window(3600, 12)


# Every window fits in one epoch: a key untouched for a whole epoch has nothing left
# inside any window, so it is dropped with its epoch (no sweep over all keys).
EPOCH_SECONDS = HOUR.seconds + HOUR.width


# Member sets of request fingerprints share the prefix sets' table under their own namespace
# (prefix hashes are hex digits, so no fingerprint key can collide with one).
FINGERPRINT_MEMBERS = "fingerprint:"


class LocalCounters:
    """Bucketed windows in this process; thread-safe; forgets idle keys a whole epoch at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch: int | None = None
        # key -> {bucket: count}; this epoch's keys, and the last epoch's until touched again
        self._counts: dict[tuple[str, str], dict[int, int]] = {}
        self._older_counts: dict[tuple[str, str], dict[int, int]] = {}
        # prefix -> {new account: hour bucket it was last seen in}, oldest first
        self._members: dict[str, dict[str, int]] = {}
        self._older_members: dict[str, dict[str, int]] = {}

    def __len__(self) -> int:
        return len(self._counts) + len(self._older_counts) + len(self._members) + len(self._older_members)

    def record(self, hit: Hit) -> LiveCounters:
        account_id, ip_prefix_hash = hit.account_id, hit.ip_prefix_hash
        fingerprint, cluster_id = hit.fingerprint, hit.cluster_id
        ts = hit.now.timestamp()
        minute, hour = MINUTE.bucket(ts), HOUR.bucket(ts)
        with self._lock:
            self._roll(int(ts // EPOCH_SECONDS))
            account_1m = self._add(("am", account_id), MINUTE, minute, 1)
            account_1h = self._add(("ah", account_id), HOUR, hour, 1)
            elicited_1h = self._add(("eh", account_id), HOUR, hour, 1 if hit.elicited else 0)
            prefix_1m = prefix_new = 0
            if ip_prefix_hash:
                prefix_1m = self._add(("pm", ip_prefix_hash), MINUTE, minute, 1)
                newcomer = account_id if hit.account_is_new else None
                prefix_new = self._add_member(ip_prefix_hash, hour, newcomer)
            cluster_1m = cluster_1h = 0
            if cluster_id:
                cluster_1m = self._add(("cm", cluster_id), MINUTE, minute, 1)
                cluster_1h = self._add(("ch", cluster_id), HOUR, hour, 1)
            fingerprint_new = 0
            if fingerprint:
                member = account_id if hit.account_is_new and hit.elicited else None
                fingerprint_new = self._add_member(FINGERPRINT_MEMBERS + fingerprint, hour, member)
        return LiveCounters(
            account_requests_1m=account_1m,
            account_requests_1h=account_1h,
            account_elicitation_1h=elicited_1h,
            prefix_requests_1m=prefix_1m,
            prefix_new_accounts_1h=prefix_new,
            fingerprint_new_elicited_accounts_1h=fingerprint_new,
            cluster_requests_1m=cluster_1m,
            cluster_requests_1h=cluster_1h,
        )

    def _roll(self, epoch: int) -> None:
        if self._epoch is not None and epoch <= self._epoch:
            return  # same epoch, or a request stamped a little earlier than the last one
        if self._epoch is not None and epoch == self._epoch + 1:
            self._older_counts, self._older_members = self._counts, self._members
        else:  # the first request, or a jump of more than an epoch: nothing held is still inside a window
            self._older_counts, self._older_members = {}, {}
        self._counts, self._members = {}, {}
        self._epoch = epoch

    def _add(self, key: tuple[str, str], window: Window, current: int, amount: int) -> int:
        buckets = self._counts.get(key)
        if buckets is None:
            buckets = self._older_counts.pop(key, None)
            if buckets is None:
                if not amount:
                    return 0
                buckets = {}
            self._counts[key] = buckets
        oldest = current - window.buckets + 1
        for stale in [b for b in buckets if b < oldest]:
            del buckets[stale]
        if amount:
            buckets[current] = buckets.get(current, 0) + amount
        return sum(n for b, n in buckets.items() if b <= current)

    def _add_member(self, prefix: str, current: int, account_id: str | None) -> int:
        members = self._members.get(prefix)
        if members is None:
            members = self._older_members.pop(prefix, None)
            if members is None:
                if account_id is None:
                    return 0
                members = {}
            self._members[prefix] = members
        if account_id is not None:
            members.pop(account_id, None)  # re-inserted at the end: the dict stays oldest-first
            members[account_id] = current
        oldest = current - HOUR.buckets + 1
        stale = []
        for member, bucket in members.items():
            if bucket >= oldest:
                break
            stale.append(member)
        for member in stale:
            del members[member]
        return len(members)


# -------------------------------------------------------------------- in memory
class MemoryState:
    """Everything in this process: the embedded default (one replica)."""

    backend = "memory"

    def __init__(self) -> None:
        self._table = SubjectTable.empty()
        self._live = LiveDecisions()
        self._counters = LocalCounters()

    def replace_subjects(
        self,
        decisions: Iterable[Decision],
        *,
        accounts: Iterable[AccountRecord],
        memberships: Mapping[str, str],
        generation: str,
    ) -> int:
        table = SubjectTable.from_decisions(decisions, accounts, memberships, generation=generation)
        self._table = table  # one reference swap: readers see the old or the new table, never a mix
        return table.rows

    def install(self, table: SubjectTable) -> None:
        """Swap in a table built elsewhere (a replica's reload from Redis)."""
        self._table = table

    @property
    def table(self) -> SubjectTable:
        return self._table

    def lookup(self, subjects: Sequence[tuple[str, str]], *, now: datetime) -> list[Decision]:
        table = self._table
        found: list[Decision] = []
        live = self._live if len(self._live) else None
        for kind, subject_id in subjects:
            found.extend(table.find(kind, subject_id, now))
            if live is not None:
                found.extend(live.find(kind, subject_id, now))
        return found

    def cluster_of(self, account_id: str) -> str | None:
        return self._table.cluster_of(account_id)

    def account(self, account_id: str) -> AccountRecord | None:
        return self._table.account(account_id)

    def record(self, hit: Hit) -> LiveCounters:
        return self._counters.record(hit)

    def put_live(self, decision: Decision) -> None:
        self._live.put(decision)

    def put_live_changed(self, decision: Decision) -> bool:
        """``put_live`` that says whether anything new was held (Redis shares only news)."""
        return self._live.put(decision)

    def health(self) -> StateHealth:
        table = self._table
        return StateHealth(
            backend=self.backend,
            ok=True,
            degraded_reason=None,
            subjects=table.rows,
            generation=table.generation,
            loaded_at=table.loaded_at,
        )

    def close(self) -> None:
        return None


def open_state(url: str, *, timeout_ms: int = 25) -> StateStore:
    """The state store a URL names: "" or "memory://" in process, "redis://..." shared."""
    text = (url or "").strip()
    if text in ("", "memory", "memory://"):
        return MemoryState()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("redis", "rediss", "unix"):
        from distillguard.serve.redis_state import RedisState

        return RedisState(text, timeout_ms=timeout_ms)
    raise ValueError(f"state URL {url!r}: expected empty, memory:// or redis://host:port/db")
