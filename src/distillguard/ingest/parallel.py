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
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

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
    pending: deque[tuple[list[str | None], Future[Fingerprints] | None]] = deque()
    broken = False
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for texts in chunks:
            future = None
            if not broken:
                try:
                    with _main_module_hidden():
                        future = pool.submit(fingerprints.fingerprint_batch, texts)
                except BrokenProcessPool:
                    broken = True
            pending.append((texts, future))
            if len(pending) >= 2 * workers:
                yield _result(*pending.popleft())
        while pending:
            yield _result(*pending.popleft())


def _result(
    texts: list[str | None], future: Future[Fingerprints] | None
) -> tuple[list[str | None], Fingerprints]:
    """A worker's answer, or the same computed here when the pool could not run it."""
    if future is not None:
        try:
            return texts, future.result()
        except BrokenProcessPool:
            pass
    return texts, fingerprints.fingerprint_batch(texts)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawned workers must not re-run the caller's script.

    multiprocessing re-imports ``__main__`` in every spawned child; a script that calls
    ``ingest_paths`` without an ``if __name__ == "__main__"`` guard would run again in
    each worker. The workers only need ``distillguard.fingerprints``, so the main
    module's file and spec are hidden while a worker starts.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, object] = {n: main.__dict__[n] for n in ("__file__", "__spec__") if n in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
