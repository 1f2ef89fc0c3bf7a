"""``POST /v1/traces`` over HTTP (Starlette): ``create_collect_app(config)``.

Endpoints: ``POST /v1/traces`` (OTLP/HTTP, protobuf or JSON, gzip or not), ``GET /healthz``
and ``GET /metrics`` (Prometheus; counts only, no account data).

Who may send: a bearer token from ``collect_tokens`` (one per Collector or SDK). With none
configured every export is refused (401): spans become the events detection judges, so an
open receiver would let anyone plant traffic under any account. The account of each event
comes from the span's attributes as the sender's instrumentation set them, the same trust
as a log file handed to ``distillguard ingest`` (docs/security.md).

Each export is decoded and converted off the event loop (``collect_max_concurrent_requests``
at a time; more wait unread), queued for the writer, and answered once written, or with 503
and Retry-After when the queue is full or the write does not finish within
``collect_ack_timeout_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from distillguard.collect.protocol import Answer, ProtocolError, failure, media_type, success
from distillguard.collect.spans import ExportBatch, SpanConverter, decode_export, start_worker
from distillguard.collect.writer import Backlogged, WarehouseWriter, Written
from distillguard.config import Config, ConfigError, deployment_secret, memory_limit

log = logging.getLogger("distillguard.collect")

TOKEN_MIN_CHARS = 16  # a guessable token is no credential
# Suggested wait before a retry when the writer is behind: a scan holding the warehouse takes
# seconds to minutes, and exporters back off exponentially from whatever they are told.
RETRY_AFTER_S = 5


def collect_tokens(config: Config) -> tuple[str, ...]:
    """The configured sender tokens (comma-separated), each checked for length."""
    tokens = tuple(t.strip() for t in str(config.collect_tokens or "").split(",") if t.strip())
    if any(len(t) < TOKEN_MIN_CHARS for t in tokens):
        raise ConfigError(
            f"collect_tokens: every token needs at least {TOKEN_MIN_CHARS} characters "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return tokens


def collect_workers(config: Config) -> int:
    """Decoding processes: the setting, or one per core (at most 8) when it is 0."""
    workers = int(config.collect_workers)
    return workers if workers > 0 else min(8, os.cpu_count() or 1)


def check_collect_config(config: Config) -> None:
    """Refuse to start a receiver nobody could send to, or anybody could."""
    if not collect_tokens(config):
        raise ConfigError(
            "refusing to start: collect_tokens is empty, so no sender could be authenticated. Set "
            "DISTILLGUARD_COLLECT_TOKENS=<token>[,<token>...] and give each Collector or SDK its token "
            "(Authorization: Bearer <token>); see docs/collect.md."
        )


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "distillguard_collect_requests", "OTLP exports answered, by HTTP status.", ["status"], registry=r
        )
        self.spans = Counter(
            "distillguard_collect_spans",
            "Spans received, by outcome (stored, duplicate, quarantined, skipped: not GenAI).",
            ["outcome"],
            registry=r,
        )
        self.pending_bytes = Gauge(
            "distillguard_collect_pending_bytes", "Converted spans waiting to be written.", registry=r
        )
        self.writer_failing = Gauge(
            "distillguard_collect_writer_failing", "1 while the last warehouse write failed.", registry=r
        )


class Receiver:
    """What the handlers share: credentials, limits, the converter and the writer."""

    def __init__(self, config: Config, writer: WarehouseWriter | None = None) -> None:
        self.tokens = collect_tokens(config)
        self.max_body = int(config.collect_max_body_bytes)
        self.ack_timeout_s = int(config.collect_ack_timeout_ms) / 1000
        self.decoding = asyncio.Semaphore(max(1, int(config.collect_max_concurrent_requests)))
        deployment_secret(config)  # created once here, never by several workers at the same time
        self.config = config
        self.converter = SpanConverter(config)
        self.workers = collect_workers(config)
        self.pool = self._start_pool()
        self.writer = writer or WarehouseWriter(
            config.db_path,
            flush_rows=int(config.batch_size_rows),
            flush_interval_s=int(config.collect_flush_interval_ms) / 1000,
            max_pending_bytes=int(config.collect_max_pending_bytes),
            memory_limit=memory_limit(config, "ingest_memory_limit"),
        )
        self.metrics = Metrics()

    def authenticate(self, request: Request) -> None:
        if not self.tokens:
            raise ProtocolError(401, "no collect_tokens configured: this receiver accepts no sender")
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        matched = False
        for candidate in self.tokens:  # every token compared: the time taken says nothing
            matched |= hmac.compare_digest(presented.strip().encode(), candidate.encode())
        if scheme.lower() != "bearer" or not matched:
            raise ProtocolError(401, "POST /v1/traces needs Authorization: Bearer <collect token>")

    async def export(self, request: Request) -> Answer:
        self.authenticate(request)
        kind = media_type(request.headers.get("content-type"))
        if self.writer.held_bytes >= self.writer.max_pending_bytes:
            raise ProtocolError(503, "the warehouse writer is behind; retry later")
        sender = request.client.host if request.client else "unknown"
        async with self.decoding:
            raw = await _read_body(request, self.max_body)
            batch = await self._decode(raw, request.headers.get("content-encoding"), kind, sender)
        self.metrics.spans.labels("skipped").inc(batch.skipped)
        if batch.read == 0:
            return success(kind, rejected_spans=0)
        try:
            future = self.writer.submit(batch)
        except Backlogged as exc:
            raise ProtocolError(503, f"not accepted: {exc}; retry later") from None
        waiting = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiting}, timeout=self.ack_timeout_s)
        if not done:
            # Not cancelled: the spans stay queued and are written; a retry counts them as duplicates.
            raise ProtocolError(503, "the warehouse did not take the spans in time (collect_ack_timeout_ms)")
        try:
            written: Written = waiting.result()
        except Exception as exc:
            raise ProtocolError(503, f"writing the spans failed: {type(exc).__name__}") from None
        self._count(written)
        message = batch.rejection_message() if batch.rejected else ""
        if written.quarantined > batch.rejected:  # the write itself failed (see writer._write_alone)
            unwritten = written.quarantined - batch.rejected
            message = "; ".join(m for m in (message, f"{unwritten} spans could not be written") if m)
        return success(kind, rejected_spans=written.quarantined, error_message=message)

    def _start_pool(self) -> ProcessPoolExecutor | None:
        if self.workers <= 1:
            return None
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # never fork a process running threads
            initializer=start_worker,
            initargs=(dict(self.config.values),),
        )

    async def _decode(self, raw: bytes, encoding: str | None, kind: str, sender: str) -> ExportBatch:
        if self.pool is None:
            return await run_in_threadpool(
                decode_export,
                raw,
                encoding,
                kind,
                sender=sender,
                limit=self.max_body,
                converter=self.converter,
            )
        pool = self.pool
        try:
            return await asyncio.wrap_future(
                pool.submit(decode_export, raw, encoding, kind, sender=sender, limit=self.max_body)
            )
        except BrokenProcessPool:  # a worker died (killed, out of memory): start fresh ones
            if self.pool is pool:  # once, however many exports were in flight on the broken pool
                log.error("collect: a decoding worker died; restarting the pool")
                self.pool = self._start_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise ProtocolError(503, "the decoding worker failed; retry") from None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.writer.close()

    def _count(self, written: Written) -> None:
        self.metrics.spans.labels("stored").inc(written.stored)
        self.metrics.spans.labels("duplicate").inc(written.duplicates)
        self.metrics.spans.labels("quarantined").inc(written.quarantined)

    def health(self) -> dict[str, Any]:
        writer = self.writer
        return {
            "status": "degraded" if writer.last_error else "ok",
            "db_path": str(writer.db_path),
            "pending_bytes": writer.held_bytes,
            "max_pending_bytes": writer.max_pending_bytes,
            "flushes": writer.flushes,
            "last_write_error": writer.last_error,
            "written": dict(writer.totals),
        }


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` (never read whole first)."""
    too_large = ProtocolError(413, f"request body over the limit of {limit} bytes (collect_max_body_bytes)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_collect_app(config: Config, *, writer: WarehouseWriter | None = None) -> Starlette:
    """The receiver as an ASGI app; its writer is closed (queue written) at shutdown."""
    receiver = Receiver(config, writer)

    async def traces(request: Request) -> Response:
        kind = None
        with contextlib.suppress(ProtocolError):  # answered below, after authentication
            kind = media_type(request.headers.get("content-type"))
        try:
            answer = await receiver.export(request)
        except ProtocolError as exc:
            answer = failure(exc.status, exc.message, kind)
        receiver.metrics.requests.labels(str(answer.status)).inc()
        headers = {"Retry-After": str(RETRY_AFTER_S)} if answer.status == 503 else None
        if answer.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type, headers=headers)

    async def healthz(_: Request) -> Response:
        return JSONResponse(receiver.health())

    async def metrics(_: Request) -> Response:
        m = receiver.metrics
        m.pending_bytes.set(receiver.writer.held_bytes)
        m.writer_failing.set(1 if receiver.writer.last_error else 0)
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(receiver.close)

    app = Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    return app
