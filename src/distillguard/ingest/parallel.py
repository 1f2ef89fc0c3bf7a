"""Prompt fingerprints on several cores.

Fingerprinting (regex skeleton + MinHash) is the one per-event cost of ingest
that SQL cannot take over, and it is pure CPU: chunks of texts go to worker
processes (spawned, so DuckDB's threads are never forked) with a bounded number
of chunks in flight, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from distillguard import fingerprints

Fingerprints = tuple[list[str | None], list[str | None], list[list[int] | None]]


def worker_count(setting: int) -> int:
    """``ingest_workers``: 0 means one per CPU core (at most 8), 1 means in this process."""
    if setting > 0:
        return setting
    return max(1, min(8, os.cpu_count() or 1))


def fingerprint_chunks(
    chunks: Iterable[list[str | None]], *, workers: int
) -> Iterator[tuple[list[str | None], Fingerprints]]:
    """(texts, fingerprints) per chunk, in order."""
    iterator = iter(chunks)
    head = list(itertools.islice(iterator, 2))
    if workers <= 1 or len(head) < 2:  # one chunk is not worth starting processes for
        for texts in itertools.chain(head, iterator):
            yield texts, fingerprints.fingerprint_batch(texts)
        return
    chunks = itertools.chain(head, iterator)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[list[str | None], Future[Fingerprints]]] = deque()
        for texts in chunks:
            pending.append((texts, pool.submit(fingerprints.fingerprint_batch, texts)))
            if len(pending) >= 2 * workers:
                done_texts, future = pending.popleft()
                yield done_texts, future.result()
        while pending:
            done_texts, future = pending.popleft()
            yield done_texts, future.result()
