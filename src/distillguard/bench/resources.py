"""Peak resident memory of a phase, by sampling /proc (no tracemalloc: it slows the code it measures).

``ru_maxrss`` only ever grows over the process's life, so it cannot say which
phase peaked; a background thread sampling the resident set every 50 ms can.
DuckDB's memory lives in this process too, so it is counted.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        # Not Linux: fall back to the lifetime peak (kilobytes on Linux, bytes on macOS).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lifetime_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@dataclass
class Phase:
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


@contextmanager
def measured(interval_s: float = 0.05) -> Iterator[Phase]:
    """Wall time and peak RSS of the block."""
    phase = Phase(peak_rss_mb=current_rss_mb())
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            phase.peak_rss_mb = max(phase.peak_rss_mb, current_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        yield phase
    finally:
        phase.seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        phase.peak_rss_mb = max(phase.peak_rss_mb, current_rss_mb())
