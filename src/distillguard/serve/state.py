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
instances: repeated actions, sources, expiries, reasons and risks are interned,
and ``Decision`` objects are built only for lookup hits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from distillguard.decisions.facts import AccountRecord, LiveCounters
from distillguard.decisions.model import Decision

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

    def record(
        self,
        *,
        account_id: str,
        ip_prefix_hash: str | None,
        elicited: bool,
        account_is_new: bool,
        now: datetime,
    ) -> LiveCounters: ...

    def put_live(self, decision: Decision) -> None: ...

    def health(self) -> StateHealth: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ snapshot rows
# The portable form of a snapshot (what Redis stores, JSON-friendly):
#   decision row: [kind, id, action, risk, [reasons], source, expires_epoch | None, [degrade]]
#   account row:  [account_id, plan, verification, country, created_epoch | None]
DecisionRow = list[Any]
AccountRow = list[Any]


def decision_row(d: Decision) -> DecisionRow:
    expires = d.expires_at.timestamp() if d.expires_at is not None else None
    reasons, degrade = list(d.reasons), list(d.degrade)
    return [d.subject_kind, d.subject_id, d.action, d.risk, reasons, d.source, expires, degrade]


def account_row(a: AccountRecord) -> AccountRow:
    created = a.created_at.timestamp() if a.created_at is not None else None
    return [a.account_id, a.plan, a.verification, a.country, created]


def decision_from_row(row: Sequence[Any]) -> Decision:
    kind, subject, action, risk, reasons, source, expires, degrade = row
    return Decision(
        subject_kind=str(kind),
        subject_id=str(subject),
        action=str(action),
        risk=float(risk or 0.0),
        reasons=tuple(str(r) for r in reasons or ()),
        source=str(source or ""),
        expires_at=datetime.fromtimestamp(expires, UTC) if expires is not None else None,
        degrade=tuple(str(i) for i in degrade or ()),
    )


# An entry is (meta, risk, reasons) with meta = (action, source, expires_at, degrade)
# shared by every subject published together. A subject with several rows (a scan
# verdict and a partner match) holds a list of entries.
_Meta = tuple[str, str, datetime | None, tuple[str, ...]]
_Entry = tuple[_Meta, float, tuple[str, ...]]


class SubjectTable:
    """One published snapshot, held compactly; ``Decision`` objects only for hits."""

    def __init__(
        self,
        decisions: Iterable[DecisionRow],
        accounts: Iterable[AccountRow] = (),
        memberships: Mapping[str, str] | Iterable[Sequence[str]] = (),
        *,
        generation: str | None = None,
        loaded_at: datetime | None = None,
    ) -> None:
        # Rows are trusted to be typed (they come from ``decision_row`` or its JSON): this
        # loop runs a million times on a reload, so it avoids conversions and generators.
        shared: dict[Any, Any] = {}  # equal strings and reason tuples become one object
        share: Callable[[Any, Any], Any] = shared.setdefault
        risks: dict[float, float] = {}
        metas: dict[tuple[Any, ...], _Meta] = {}
        expiries: dict[float | None, datetime | None] = {None: None}
        ids: dict[str, str] = {}  # one string object per id across subjects, accounts, memberships
        same_id = ids.setdefault
        by_kind: dict[str, dict[str, Any]] = {}
        rows = 0
        for kind, subject, action, risk, reasons, source, expires, degrade in decisions:
            table = by_kind.get(kind)
            if table is None:
                table = by_kind[share(kind, kind)] = {}
            subject = same_id(subject, subject)
            key = (action, source, expires, *degrade) if degrade else (action, source, expires)
            meta = metas.get(key)
            if meta is None:
                if expires not in expiries:
                    expiries[expires] = datetime.fromtimestamp(expires, UTC)
                items = tuple(map(share, degrade, degrade)) if degrade else ()
                meta = metas[key] = (share(action, action), share(source, source), expiries[expires], items)
            why = tuple(map(share, reasons, reasons)) if reasons else ()
            risk = round(risk, 4) if risk else 0.0
            entry = (meta, risks.setdefault(risk, risk), share(why, why))
            held = table.get(subject)
            if held is None:
                table[subject] = entry
            elif isinstance(held, list):
                held.append(entry)
            else:
                table[subject] = [held, entry]
            rows += 1
        self._by_kind = by_kind
        self.rows = rows
        self._accounts: dict[str, tuple[tuple[str | None, str | None, str | None], float | None]] = {}
        for account_id, plan, verification, country, created in accounts:
            profile = (plan, verification, country)
            self._accounts[same_id(account_id, account_id)] = (share(profile, profile), created)
        pairs = memberships.items() if isinstance(memberships, Mapping) else memberships
        self._clusters: dict[str, str] = {same_id(a, a): share(c, c) for a, c in pairs}
        self.generation = generation
        self.loaded_at = loaded_at

    @classmethod
    def empty(cls) -> SubjectTable:
        return cls(())

    @classmethod
    def from_decisions(
        cls,
        decisions: Iterable[Decision],
        accounts: Iterable[AccountRecord],
        memberships: Mapping[str, str],
        *,
        generation: str,
        loaded_at: datetime | None = None,
    ) -> SubjectTable:
        return cls(
            (decision_row(d) for d in decisions),
            (account_row(a) for a in accounts),
            memberships,
            generation=generation,
            loaded_at=loaded_at or datetime.now(UTC),
        )

    def find(self, kind: str, subject_id: str, now: datetime) -> Iterator[Decision]:
        table = self._by_kind.get(kind)
        if table is None:
            return
        held = table.get(subject_id)
        if held is None:
            return
        for (action, source, expires, degrade), risk, reasons in held if isinstance(held, list) else (held,):
            if expires is None or expires > now:
                yield Decision(kind, subject_id, action, risk, reasons, source, expires, degrade)

    def cluster_of(self, account_id: str) -> str | None:
        return self._clusters.get(account_id)

    def account(self, account_id: str) -> AccountRecord | None:
        held = self._accounts.get(account_id)
        if held is None:
            return None
        (plan, verification, country), created = held
        return AccountRecord(
            account_id,
            plan,
            verification,
            country,
            datetime.fromtimestamp(created, UTC) if created is not None else None,
        )

    def subjects(self) -> int:
        return sum(len(t) for t in self._by_kind.values())


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


class LocalCounters:
    """Bucketed windows in this process; thread-safe; forgets idle keys."""

    SWEEP_SECONDS = 300

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], dict[int, int]] = {}
        self._members: dict[str, dict[int, set[str]]] = {}  # prefix -> hour bucket -> new accounts
        self._last_sweep = 0.0

    def __len__(self) -> int:
        return len(self._counts) + len(self._members)

    def record(
        self,
        *,
        account_id: str,
        ip_prefix_hash: str | None,
        elicited: bool,
        account_is_new: bool,
        now: datetime,
    ) -> LiveCounters:
        ts = now.timestamp()
        minute, hour = MINUTE.bucket(ts), HOUR.bucket(ts)
        with self._lock:
            if abs(ts - self._last_sweep) >= self.SWEEP_SECONDS:
                self._sweep(ts)
            account_1m = self._add(("am", account_id), MINUTE, minute, 1)
            account_1h = self._add(("ah", account_id), HOUR, hour, 1)
            elicited_1h = self._add(("eh", account_id), HOUR, hour, 1 if elicited else 0)
            prefix_1m = prefix_new = 0
            if ip_prefix_hash:
                prefix_1m = self._add(("pm", ip_prefix_hash), MINUTE, minute, 1)
                prefix_new = self._add_member(ip_prefix_hash, hour, account_id if account_is_new else None)
        return LiveCounters(
            account_requests_1m=account_1m,
            account_requests_1h=account_1h,
            account_elicitation_1h=elicited_1h,
            prefix_requests_1m=prefix_1m,
            prefix_new_accounts_1h=prefix_new,
        )

    def _add(self, key: tuple[str, str], window: Window, current: int, amount: int) -> int:
        buckets = self._counts.get(key)
        if buckets is None:
            if not amount:
                return 0
            buckets = self._counts[key] = {}
        oldest = current - window.buckets + 1
        for stale in [b for b in buckets if b < oldest]:
            del buckets[stale]
        if amount:
            buckets[current] = buckets.get(current, 0) + amount
        return sum(n for b, n in buckets.items() if b <= current)

    def _add_member(self, prefix: str, current: int, account_id: str | None) -> int:
        buckets = self._members.get(prefix)
        if buckets is None:
            if account_id is None:
                return 0
            buckets = self._members[prefix] = {}
        oldest = current - HOUR.buckets + 1
        for stale in [b for b in buckets if b < oldest]:
            del buckets[stale]
        if account_id is not None:
            buckets.setdefault(current, set()).add(account_id)
        seen: set[str] = set()
        for b, members in buckets.items():
            if b <= current:
                seen |= members
        return len(seen)

    def _sweep(self, ts: float) -> None:
        """Drop keys with nothing inside their window (so idle accounts cost nothing)."""
        self._last_sweep = ts
        minute, hour = MINUTE.bucket(ts), HOUR.bucket(ts)
        for key in [k for k, b in self._counts.items() if not b or max(b) < self._oldest(k[0], minute, hour)]:
            del self._counts[key]
        oldest_hour = hour - HOUR.buckets + 1
        for prefix in [p for p, b in self._members.items() if not b or max(b) < oldest_hour]:
            del self._members[prefix]

    @staticmethod
    def _oldest(kind: str, minute: int, hour: int) -> int:
        return minute - MINUTE.buckets + 1 if kind in ("am", "pm") else hour - HOUR.buckets + 1


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

    def record(
        self,
        *,
        account_id: str,
        ip_prefix_hash: str | None,
        elicited: bool,
        account_is_new: bool,
        now: datetime,
    ) -> LiveCounters:
        return self._counters.record(
            account_id=account_id,
            ip_prefix_hash=ip_prefix_hash,
            elicited=elicited,
            account_is_new=account_is_new,
            now=now,
        )

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
