"""Routing exchanges to files: one format per API key, rotating gzip JSONL files.

Lines are buffered per chunk and written in one call; gzip headers carry no
timestamp or file name, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO, ClassVar

from distillguard.simulate.exchange import Exchange
from distillguard.simulate.writers import (
    _dumps,
    _frac,
    canonical_line,
    litellm_line,
    openai_log_line,
    otel_line,
)


class _File:
    """A rotating gzip JSONL writer; lines are buffered per chunk and written in one call."""

    def __init__(self, directory: Path, fmt: str, counter: list[int], per_file: int, level: int) -> None:
        self.directory, self.fmt, self.counter, self.per_file, self.level = (
            directory,
            fmt,
            counter,
            per_file,
            level,
        )
        self.handle: gzip.GzipFile | None = None
        self.raw: BinaryIO | None = None
        self.lines_in_file = 0
        self.buffer: list[str] = []
        self.paths: list[Path] = []

    def add(self, line: str) -> None:
        self.buffer.append(line)

    def flush(self) -> None:
        pending = self.buffer
        self.buffer = []
        while pending:
            if self.handle is None or self.lines_in_file >= self.per_file:
                self._open()
            assert self.handle is not None
            room = self.per_file - self.lines_in_file
            part, pending = pending[:room], pending[room:]
            self.handle.write(("\n".join(part) + "\n").encode("utf-8"))
            self.lines_in_file += len(part)

    def _open(self) -> None:
        self.close()
        path = self.directory / f"{self.fmt}-{self.counter[0]:03d}.jsonl.gz"
        self.counter[0] += 1
        self.raw = path.open("wb")
        self.handle = gzip.GzipFile(
            filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=self.level
        )
        self.lines_in_file = 0
        self.paths.append(path)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.raw is not None:
            self.raw.close()
        self.handle = self.raw = None


class Sinks:
    """Routes each exchange to a format by its API key and keeps per-chunk buffers."""

    PREFIX: ClassVar[dict[str, str]] = {
        "litellm": "chatcmpl-",
        "openai": "req_",
        "canonical": "evt_",
        "otel": "",
    }

    def __init__(
        self,
        directory: Path,
        formats: list[str],
        *,
        seed: int,
        per_file: int,
        otel_legacy_share: float,
        anthropic_share: float,
        level: int = 4,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.formats = formats
        self.salt = str(seed)
        self.legacy_share = otel_legacy_share
        self.anthropic_share = anthropic_share
        counters = {f: [0] for f in formats}
        self.files = {
            (f, variant): _File(directory, f, counters[f], per_file, level)
            for f in formats
            for variant in ((False, True) if f == "otel" else (False,))
        }
        self.max_buffered = 0

    def route(self, api_key: str) -> str:
        if len(self.formats) == 1:
            return self.formats[0]
        return self.formats[int(_frac(api_key, self.salt) * len(self.formats))]

    def write(self, ex: Exchange) -> str:
        """Serialise one exchange; returns the event id as its format spells it."""
        fmt = self.route(ex["api_key_id"])
        ex["event_id"] = self.PREFIX[fmt] + ex["event_id"]
        variant = False
        if fmt == "otel":
            variant = _frac(ex["api_key_id"], "otel-legacy") < self.legacy_share
            line = otel_line(ex, variant)
        elif fmt == "litellm":
            line = litellm_line(ex)
        elif fmt == "openai":
            anthropic = ex["sdk"].anthropic or _frac(ex["api_key_id"], "anthropic") < self.anthropic_share
            line = openai_log_line(ex, anthropic)
        else:
            line = canonical_line(ex)
        self.files[(fmt, variant)].add(_dumps(line))
        return ex["event_id"]

    def flush(self) -> None:
        self.max_buffered = max(self.max_buffered, sum(len(f.buffer) for f in self.files.values()))
        for f in self.files.values():
            f.flush()

    def close(self) -> list[Path]:
        for f in self.files.values():
            f.close()
        return sorted(p for f in self.files.values() for p in f.paths)
