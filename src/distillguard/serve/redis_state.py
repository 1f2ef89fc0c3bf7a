"""State shared by several service replicas through a real Redis.

What lives where:

- ``{prefix}generation`` names the published snapshot; the snapshot itself is
  three lists of compressed chunks under ``{prefix}snap:{generation}:*``
  (decisions, accounts, memberships). A publisher writes the chunks first and
  flips the generation key last, so a replica never loads half a snapshot; the
  previous snapshot's keys expire a few minutes later. The chunks are columns with
  their repeated values dictionary-coded (``snapshot``), so a reload is quick.
- Every replica answers lookups from its own in-process copy (``SubjectTable``).
  A background thread checks the generation at most once per ``poll_interval_s``
  and reloads the copy when it changed, off the request path.
- Live counters are keys per time bucket with TTLs (``INCR``/``MGET``, and a
  HyperLogLog per prefix for new accounts), updated and read in one pipelined
  round trip under ``timeout_ms``.
- Live decisions go to a stream (``{prefix}live``) that every replica tails.

When Redis is down or slower than ``timeout_ms`` the replica keeps answering from
its last snapshot, counts in process, and reports ``ok=False`` with the reason in
``health()``. It stops calling Redis from the request path at once; the
background thread probes it again after a short back-off (1 s, doubling to 8 s),
so requests never queue behind a dead Redis.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from distillguard.decisions.facts import AccountRecord, LiveCounters
from distillguard.decisions.model import Decision
from distillguard.serve.snapshot import (
    SubjectTable,
    TableBuilder,
    account_chunks,
    decision_chunks,
    decision_from_json,
    decision_to_json,
    membership_chunks,
    pack,
    unpack,
)
from distillguard.serve.state import HOUR, MINUTE, Hit, MemoryState, StateError, StateHealth

log = logging.getLogger("distillguard.serve.state")

LIVE_STREAM_MAXLEN = 100_000
LIVE_BATCH = 1000
LIVE_CATCH_UP_BATCHES = 20
OLD_SNAPSHOT_GRACE_S = 600  # a replica still reading the previous snapshot has this long
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 8.0
_SNAPSHOT_PARTS = ("decisions", "accounts", "memberships")


class RedisState:
    """Snapshot in Redis and in process; counters in Redis with a local fallback."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        timeout_ms: int = 25,
        poll_interval_s: float = 1.0,
        bulk_timeout_s: float = 60.0,
        key_prefix: str = "distillguard:",
        sync: bool = True,
    ) -> None:
        """``sync=False`` skips loading the current snapshot and the background thread
        (a scan that only publishes)."""
        self.url = url
        self.where = safe_url(url)  # for messages: never the password
        self.timeout_s = max(1, int(timeout_ms)) / 1000.0
        self.poll_interval_s = poll_interval_s
        self._p = key_prefix
        # Request-path calls give up after timeout_ms and never retry: a retry would
        # double the time a request waits on a Redis that is not answering.
        common: dict[str, Any] = {"retry": Retry(NoBackoff(), 0), "driver_info": None}
        self._fast = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s, **common
        )
        self._bulk = redis.Redis.from_url(
            url, socket_timeout=bulk_timeout_s, socket_connect_timeout=min(5.0, bulk_timeout_s), **common
        )
        self._memory = MemoryState()
        self._lock = threading.Lock()
        self._failed_since: datetime | None = None
        self._reason: str | None = None
        self._retry_at = 0.0
        self._backoff = BACKOFF_START_S
        self._errors = 0
        self._stream_id = "0-0"
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if sync:
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="distillguard-redis-state", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------- health
    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            if self._failed_since is None:
                self._failed_since = datetime.now(UTC)
                log.warning("redis %s failed (%s); serving from the local snapshot", what, exc)
            else:
                self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)
            self._retry_at = time.monotonic() + self._backoff
            since = self._failed_since.strftime("%H:%M:%SZ")
            self._reason = (
                f"redis {what} failed since {since} ({type(exc).__name__}: {str(exc)[:120]}); "
                "answering from the last snapshot with local counters"
            )

    def _recovered(self) -> None:
        if self._failed_since is None:
            return
        with self._lock:
            if self._failed_since is not None:
                log.warning("redis is back after failing since %s", self._failed_since.isoformat())
            self._failed_since, self._reason = None, None
            self._backoff = BACKOFF_START_S

    def _usable(self) -> bool:
        """Whether the request path may call Redis now."""
        if self._failed_since is None:
            return True
        # With a poller, only the poller probes a failed Redis (requests never pay for it).
        return self._thread is None and time.monotonic() >= self._retry_at

    def health(self) -> StateHealth:
        table = self._memory.table
        return StateHealth(
            backend=self.backend,
            ok=self._reason is None,
            degraded_reason=self._reason,
            subjects=table.rows,
            generation=table.generation,
            loaded_at=table.loaded_at,
            errors=self._errors,
        )

    # ----------------------------------------------------------- snapshot
    def _key(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    def replace_subjects(
        self,
        decisions: Iterable[Decision],
        *,
        accounts: Iterable[AccountRecord],
        memberships: Mapping[str, str],
        generation: str,
    ) -> int:
        """Publish a snapshot to Redis and to this replica; raises StateError if Redis refused it."""
        # Encode once; the local table is built from the same chunks the replicas will load.
        builder = TableBuilder()
        parts: dict[str, list[bytes]] = {part: [] for part in _SNAPSHOT_PARTS}
        for chunk in decision_chunks(decisions):
            builder.add_decision_chunk(chunk)
            parts["decisions"].append(pack(chunk))
        for chunk in account_chunks(accounts):
            builder.add_account_chunk(chunk)
            parts["accounts"].append(pack(chunk))
        for chunk in membership_chunks(memberships):
            builder.add_membership_chunk(chunk)
            parts["memberships"].append(pack(chunk))
        table = builder.build(generation=generation, loaded_at=datetime.now(UTC))
        self._memory.install(table)
        try:
            self._write_snapshot(generation, parts, table.rows)
        except redis.RedisError as exc:
            self._failed("publish", exc)
            raise StateError(f"could not publish the snapshot to {self.where}: {exc}") from None
        return table.rows

    def _write_snapshot(self, generation: str, parts: Mapping[str, list[bytes]], rows: int) -> None:
        previous = self._bulk.get(self._key("generation"))
        pipe = self._bulk.pipeline(transaction=False)
        for part in _SNAPSHOT_PARTS:
            key = self._key("snap", generation, part)
            pipe.delete(key)
            for chunk in parts[part]:
                pipe.rpush(key, chunk)
        meta = self._key("snap", generation, "meta")
        pipe.delete(meta)
        pipe.hset(meta, mapping={"decision_rows": rows, "published_at": datetime.now(UTC).isoformat()})
        pipe.execute()
        flip = self._bulk.pipeline(transaction=True)
        flip.set(self._key("generation"), generation)
        old = previous.decode() if isinstance(previous, bytes) else None
        if old and old != generation:
            for part in (*_SNAPSHOT_PARTS, "meta"):
                flip.expire(self._key("snap", old, part), OLD_SNAPSHOT_GRACE_S)
        flip.execute()

    def refresh(self) -> bool:
        """Check the published generation and the live stream now; True when a new snapshot loaded."""
        if not self._refreshing.acquire(blocking=False):
            return False  # another thread is refreshing right now
        try:
            return self._refresh()
        finally:
            self._refreshing.release()

    def _refresh(self) -> bool:
        try:
            pipe = self._fast.pipeline(transaction=False)
            pipe.get(self._key("generation"))
            pipe.xread({self._key("live"): self._stream_id}, count=LIVE_BATCH)
            generation, stream = pipe.execute()
            for _ in range(
                LIVE_CATCH_UP_BATCHES
            ):  # a burst of live decisions: read on while batches are full
                if self._apply_live(stream) < LIVE_BATCH:
                    break
                stream = self._fast.xread({self._key("live"): self._stream_id}, count=LIVE_BATCH)
        except redis.RedisError as exc:
            self._failed("poll", exc)
            return False
        self._recovered()
        wanted = generation.decode() if generation else None
        if wanted is None or wanted == self._memory.table.generation:
            return False  # an empty Redis (restarted without persistence) keeps the snapshot held here
        try:
            table = self._load(wanted)
        except (redis.RedisError, ValueError, KeyError, TypeError, zlib.error) as exc:
            self._failed("snapshot load", exc)
            return False
        self._memory.install(table)
        log.info("loaded snapshot %s (%d decision rows)", wanted, table.rows)
        return True

    def _load(self, generation: str) -> SubjectTable:
        pipe = self._bulk.pipeline(transaction=False)
        pipe.hgetall(self._key("snap", generation, "meta"))
        for part in _SNAPSHOT_PARTS:
            pipe.lrange(self._key("snap", generation, part), 0, -1)
        meta, decisions, accounts, memberships = pipe.execute()
        if not meta:
            raise ValueError(f"snapshot {generation} is named by the generation key but is not in redis")
        builder = TableBuilder()
        for data in decisions:
            builder.add_decision_chunk(unpack(data))
        for data in accounts:
            builder.add_account_chunk(unpack(data))
        for data in memberships:
            builder.add_membership_chunk(unpack(data))
        return builder.build(generation=generation, loaded_at=datetime.now(UTC))

    def _apply_live(self, stream: Any) -> int:
        """Hold the stream's live decisions; the number of entries read."""
        read = 0
        for _name, entries in stream or ():
            for entry_id, fields in entries:
                read += 1
                self._stream_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                raw = fields.get(b"d")
                if raw is None:
                    continue
                try:
                    decision = decision_from_json(raw)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("ignored a malformed live decision %s: %s", self._stream_id, exc)
                    continue
                self._memory.put_live_changed(decision)
        return read

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            if self._failed_since is not None and time.monotonic() < self._retry_at:
                continue
            try:
                self.refresh()
            except Exception:  # the poller must outlive any surprise; the next poll retries
                log.exception("state poll failed")

    # ------------------------------------------------------------ lookups
    def lookup(self, subjects: Sequence[tuple[str, str]], *, now: datetime) -> list[Decision]:
        return self._memory.lookup(subjects, now=now)

    def cluster_of(self, account_id: str) -> str | None:
        return self._memory.cluster_of(account_id)

    def account(self, account_id: str) -> AccountRecord | None:
        return self._memory.account(account_id)

    # ----------------------------------------------------------- counters
    def record(self, hit: Hit) -> LiveCounters:
        # Local windows always count too, so a fallback starts from this replica's recent history.
        local = self._memory.record(hit)
        if not self._usable():
            return local
        try:
            return self._record_redis(hit)
        except redis.RedisError as exc:
            self._failed("counter update", exc)
            return local

    def _record_redis(self, hit: Hit) -> LiveCounters:
        account_id, prefix = hit.account_id, hit.ip_prefix_hash
        fingerprint, cluster_id = hit.fingerprint, hit.cluster_id
        ts = hit.now.timestamp()
        minute, hour = MINUTE.bucket(ts), HOUR.bucket(ts)
        minute_ttl, hour_ttl = MINUTE.seconds + MINUTE.width, HOUR.seconds + HOUR.width
        pipe = self._fast.pipeline(transaction=False)

        def bump(kind: str, subject: str, bucket: int, ttl: int) -> None:
            key = self._key("c", kind, subject, str(bucket))
            pipe.incr(key)
            pipe.expire(key, ttl)

        def window(kind: str, subject: str, buckets: range) -> None:
            pipe.mget([self._key("c", kind, subject, str(b)) for b in buckets])

        bump("am", account_id, minute, minute_ttl)
        bump("ah", account_id, hour, hour_ttl)
        if hit.elicited:
            bump("eh", account_id, hour, hour_ttl)
        window("am", account_id, MINUTE.span(minute))
        window("ah", account_id, HOUR.span(hour))
        window("eh", account_id, HOUR.span(hour))
        if prefix:
            bump("pm", prefix, minute, minute_ttl)
            window("pm", prefix, MINUTE.span(minute))
            if hit.account_is_new:
                key = self._key("c", "pn", prefix, str(hour))
                pipe.pfadd(key, account_id)
                pipe.expire(key, hour_ttl)
            prefix_at = len(pipe.command_stack)
            pipe.pfcount(*(self._key("c", "pn", prefix, str(b)) for b in HOUR.span(hour)))
        if cluster_id:
            bump("cm", cluster_id, minute, minute_ttl)
            bump("ch", cluster_id, hour, hour_ttl)
            cluster_at = len(pipe.command_stack)
            window("cm", cluster_id, MINUTE.span(minute))
            window("ch", cluster_id, HOUR.span(hour))
        if fingerprint:
            if hit.account_is_new and hit.elicited:
                key = self._key("c", "fn", fingerprint, str(hour))
                pipe.pfadd(key, account_id)
                pipe.expire(key, hour_ttl)
            fingerprint_at = len(pipe.command_stack)
            pipe.pfcount(*(self._key("c", "fn", fingerprint, str(b)) for b in HOUR.span(hour)))
        replies = pipe.execute()
        sums = [_total(r) for r in replies if isinstance(r, list)]
        return LiveCounters(
            account_requests_1m=sums[0],
            account_requests_1h=sums[1],
            account_elicitation_1h=sums[2],
            prefix_requests_1m=sums[3] if prefix else 0,
            prefix_new_accounts_1h=int(replies[prefix_at]) if prefix else 0,
            fingerprint_new_elicited_accounts_1h=int(replies[fingerprint_at]) if fingerprint else 0,
            cluster_requests_1m=_total(replies[cluster_at]) if cluster_id else 0,
            cluster_requests_1h=_total(replies[cluster_at + 1]) if cluster_id else 0,
        )

    # ----------------------------------------------------- live decisions
    def put_live(self, decision: Decision) -> None:
        if not self._memory.put_live_changed(decision) or not self._usable():
            return
        held = self._memory.lookup([(decision.subject_kind, decision.subject_id)], now=datetime.now(UTC))
        shared = next(
            (d for d in held if d.action == decision.action and d.source == decision.source), decision
        )
        try:
            self._fast.xadd(
                self._key("live"),
                {"d": decision_to_json(shared)},
                maxlen=LIVE_STREAM_MAXLEN,
                approximate=True,
            )
        except redis.RedisError as exc:
            self._failed("live decision write", exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for client in (self._fast, self._bulk):
            with contextlib.suppress(redis.RedisError):
                client.close()


def _total(values: list[Any]) -> int:
    return sum(int(v) for v in values if v is not None)


def safe_url(url: str) -> str:
    """``url`` without its password (redis://user:secret@host -> redis://user:***@host)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
