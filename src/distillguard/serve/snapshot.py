"""A published snapshot held in process (``SubjectTable``), and its wire form for Redis.

A snapshot of a million subjects must be cheap to hold and to reload:

- **In process** each subject is one small tuple ``(meta, risk, reasons)``; ``meta``
  (action, source, expiry, degrade items) is shared by every subject published
  together, and equal strings, reason lists and risks are shared objects. A
  ``Decision`` is built only for a lookup hit. Account records are
  ``(shared (plan, verification, country), created epoch)``.
- **On the wire** (Redis) a snapshot is a list of chunks per part, each a
  zlib-compressed JSON object of columns with its repeated values dictionary-coded,
  so decoding a chunk makes a few long lists instead of a list per row.

``TableBuilder`` turns Decision objects or decoded chunks into a table; both paths
share values the same way.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from distillguard.decisions.facts import AccountRecord
from distillguard.decisions.model import Decision

CHUNK_ROWS = 20_000

# meta = (action, source, expires_at, degrade items)
_Meta = tuple[str, str, datetime | None, tuple[str, ...]]
_Entry = tuple[_Meta, float, tuple[str, ...]]
_Profile = tuple[str | None, str | None, str | None]


class SubjectTable:
    """One published snapshot; lookups are dict reads, ``Decision`` objects only for hits."""

    def __init__(
        self,
        by_kind: dict[str, dict[str, Any]],
        rows: int,
        accounts: dict[str, tuple[_Profile, float | None]],
        clusters: dict[str, str],
        *,
        generation: str | None,
        loaded_at: datetime | None,
    ) -> None:
        # by_kind[kind][subject_id] is one entry, or a list of entries for a subject with
        # several rows (a scan verdict and a partner match).
        self._by_kind = by_kind
        self.rows = rows
        self._accounts = accounts
        self._clusters = clusters
        self.generation = generation
        self.loaded_at = loaded_at

    @classmethod
    def empty(cls) -> SubjectTable:
        return cls({}, 0, {}, {}, generation=None, loaded_at=None)

    @classmethod
    def from_decisions(
        cls,
        decisions: Iterable[Decision],
        accounts: Iterable[AccountRecord] = (),
        memberships: Mapping[str, str] | None = None,
        *,
        generation: str | None,
        loaded_at: datetime | None = None,
    ) -> SubjectTable:
        builder = TableBuilder()
        builder.add_decisions(decisions)
        builder.add_accounts(accounts)
        builder.add_memberships(memberships or {})
        return builder.build(generation=generation, loaded_at=loaded_at or datetime.now(UTC))

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
        when = datetime.fromtimestamp(created, UTC) if created is not None else None
        return AccountRecord(account_id, plan, verification, country, when)

    def subjects(self) -> int:
        return sum(len(t) for t in self._by_kind.values())


class TableBuilder:
    """Collects a snapshot's parts, sharing equal values, and builds the table once."""

    def __init__(self) -> None:
        self._shared: dict[Any, Any] = {}  # equal strings and reason tuples become one object
        self._share: Callable[[Any, Any], Any] = self._shared.setdefault
        self._risks: dict[float, float] = {}
        self._metas: dict[tuple[Any, ...], _Meta] = {}
        self._expiries: dict[float | None, datetime | None] = {None: None}
        self._ids: dict[str, str] = {}  # one string object per id across subjects, accounts, memberships
        self._by_kind: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, tuple[_Profile, float | None]] = {}
        self._clusters: dict[str, str] = {}
        self._rows = 0

    def _meta(self, action: str, source: str, expires: float | None, degrade: Sequence[str]) -> _Meta:
        key = (action, source, expires, *degrade)
        meta = self._metas.get(key)
        if meta is None:
            if expires not in self._expiries:
                self._expiries[expires] = datetime.fromtimestamp(expires, UTC)  # type: ignore[arg-type]
            share = self._share
            items = tuple(share(i, i) for i in degrade)
            meta = self._metas[key] = (
                share(action, action),
                share(source, source),
                self._expiries[expires],
                items,
            )
        return meta

    def _table(self, kind: str) -> dict[str, Any]:
        table = self._by_kind.get(kind)
        if table is None:
            table = self._by_kind[self._share(kind, kind)] = {}
        return table

    def _put(self, table: dict[str, Any], subject: str, entry: _Entry) -> None:
        held = table.get(subject)
        if held is None:
            table[subject] = entry
        elif isinstance(held, list):
            held.append(entry)
        else:
            table[subject] = [held, entry]

    # ------------------------------------------------------------ decisions
    def add_decisions(self, decisions: Iterable[Decision]) -> None:
        share, same_id, risks = self._share, self._ids.setdefault, self._risks.setdefault
        for d in decisions:
            expires = d.expires_at.timestamp() if d.expires_at is not None else None
            meta = self._meta(d.action, d.source, expires, d.degrade)
            why = tuple(map(share, d.reasons, d.reasons))
            risk = round(d.risk, 4)
            entry = (meta, risks(risk, risk), share(why, why))
            self._put(self._table(d.subject_kind), same_id(d.subject_id, d.subject_id), entry)
            self._rows += 1

    def add_decision_chunk(self, chunk: Mapping[str, Any]) -> None:
        """A decoded wire chunk (see ``decision_chunks``)."""
        share, same_id, risks = self._share, self._ids.setdefault, self._risks.setdefault
        metas = [
            (self._table(kind), self._meta(action, source, expires, degrade))
            for kind, action, source, expires, degrade in chunk["metas"]
        ]
        whys = []
        for reasons in chunk["why"]:
            why = tuple(map(share, reasons, reasons))
            whys.append(share(why, why))
        put = self._put
        for m, subject, risk, r in zip(chunk["m"], chunk["id"], chunk["risk"], chunk["r"], strict=True):
            table, meta = metas[m]
            put(table, same_id(subject, subject), (meta, risks(risk, risk), whys[r]))
        self._rows += len(chunk["id"])

    # ------------------------------------------------------------- accounts
    def add_accounts(self, accounts: Iterable[AccountRecord]) -> None:
        share, same_id = self._share, self._ids.setdefault
        for a in accounts:
            profile = (a.plan, a.verification, a.country)
            created = a.created_at.timestamp() if a.created_at is not None else None
            self._accounts[same_id(a.account_id, a.account_id)] = (share(profile, profile), created)

    def add_account_chunk(self, chunk: Mapping[str, Any]) -> None:
        share, same_id = self._share, self._ids.setdefault
        profiles = [share(tuple(p), tuple(p)) for p in chunk["profiles"]]
        for p, account_id, created in zip(chunk["p"], chunk["id"], chunk["created"], strict=True):
            self._accounts[same_id(account_id, account_id)] = (profiles[p], created)

    # ---------------------------------------------------------- memberships
    def add_memberships(self, memberships: Mapping[str, str]) -> None:
        share, same_id = self._share, self._ids.setdefault
        for account_id, cluster in memberships.items():
            self._clusters[same_id(account_id, account_id)] = share(cluster, cluster)

    def add_membership_chunk(self, chunk: Mapping[str, Any]) -> None:
        share, same_id = self._share, self._ids.setdefault
        clusters = [share(c, c) for c in chunk["clusters"]]
        for c, account_id in zip(chunk["c"], chunk["id"], strict=True):
            self._clusters[same_id(account_id, account_id)] = clusters[c]

    def build(self, *, generation: str | None, loaded_at: datetime | None) -> SubjectTable:
        return SubjectTable(
            self._by_kind,
            self._rows,
            self._accounts,
            self._clusters,
            generation=generation,
            loaded_at=loaded_at,
        )


# -------------------------------------------------------------------- wire form
def _coder() -> tuple[list[Any], Callable[[Any], int]]:
    """A value table and a function giving each distinct (hashable) value's index in it."""
    values: list[Any] = []
    index: dict[Any, int] = {}

    def code(value: Any) -> int:
        found = index.get(value)
        if found is None:
            found = index[value] = len(values)
            values.append(value)
        return found

    return values, code


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def decision_chunks(decisions: Iterable[Decision], size: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    for batch in _batches(decisions, size):
        metas, meta_code = _coder()
        whys, why_code = _coder()
        chunk: dict[str, Any] = {"m": [], "id": [], "risk": [], "r": []}
        for d in batch:
            expires = d.expires_at.timestamp() if d.expires_at is not None else None
            chunk["m"].append(meta_code((d.subject_kind, d.action, d.source, expires, tuple(d.degrade))))
            chunk["id"].append(d.subject_id)
            chunk["risk"].append(round(d.risk, 4))
            chunk["r"].append(why_code(tuple(d.reasons)))
        chunk["metas"] = [list(m) for m in metas]
        chunk["why"] = whys
        yield chunk


def account_chunks(accounts: Iterable[AccountRecord], size: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    for batch in _batches(accounts, size):
        profiles, profile_code = _coder()
        chunk: dict[str, Any] = {"p": [], "id": [], "created": []}
        for a in batch:
            chunk["p"].append(profile_code((a.plan, a.verification, a.country)))
            chunk["id"].append(a.account_id)
            chunk["created"].append(a.created_at.timestamp() if a.created_at is not None else None)
        chunk["profiles"] = profiles
        yield chunk


def membership_chunks(memberships: Mapping[str, str], size: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    for batch in _batches(memberships.items(), size):
        clusters, cluster_code = _coder()
        chunk: dict[str, Any] = {"c": [cluster_code(c) for _, c in batch], "id": [a for a, _ in batch]}
        chunk["clusters"] = clusters
        yield chunk


def pack(chunk: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps(chunk, separators=(",", ":")).encode(), 1)


def unpack(data: bytes) -> dict[str, Any]:
    chunk = json.loads(zlib.decompress(data))
    if not isinstance(chunk, dict):
        raise ValueError("a snapshot chunk is not a JSON object")
    return chunk


# ----------------------------------------------------------- single decisions
def decision_to_json(d: Decision) -> str:
    """One decision as JSON (live decisions shared between replicas)."""
    return json.dumps(
        {
            "kind": d.subject_kind,
            "id": d.subject_id,
            "action": d.action,
            "risk": d.risk,
            "reasons": list(d.reasons),
            "source": d.source,
            "expires": d.expires_at.timestamp() if d.expires_at is not None else None,
            "degrade": list(d.degrade),
        },
        separators=(",", ":"),
    )


def decision_from_json(text: str | bytes) -> Decision:
    obj = json.loads(text)
    expires = obj.get("expires")
    return Decision(
        subject_kind=str(obj["kind"]),
        subject_id=str(obj["id"]),
        action=str(obj["action"]),
        risk=float(obj.get("risk") or 0.0),
        reasons=tuple(str(r) for r in obj.get("reasons") or ()),
        source=str(obj.get("source") or ""),
        expires_at=datetime.fromtimestamp(float(expires), UTC) if expires is not None else None,
        degrade=tuple(str(i) for i in obj.get("degrade") or ()),
    )
