"""Records for the follow-mode tests: the LiteLLM and canonical fixtures, a distinct id and prompt each."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ingest.helpers import FIXTURES


def litellm_lines(count: int, *, start: int = 0) -> list[bytes]:
    """``count`` LiteLLM records, ids req-<n>, each a whole line ending in a newline."""
    template = json.loads((FIXTURES / "litellm.jsonl").read_text().splitlines()[0])
    lines = []
    for n in range(start, start + count):
        record = dict(template)
        record["id"] = f"req-{n:07d}"
        record["startTime"] = 1770000000.0 + n
        record["endTime"] = 1770000001.0 + n
        record["messages"] = [{"role": "user", "content": f"Question number {n}: explain step {n % 97}."}]
        lines.append(json.dumps(record).encode() + b"\n")
    return lines


def canonical_lines(count: int) -> list[bytes]:
    """``count`` canonical records, event ids req-<n>, each a whole line ending in a newline."""
    template = json.loads((FIXTURES / "canonical.jsonl").read_text().splitlines()[0])
    lines = []
    for n in range(count):
        record = dict(template)
        record["event_id"] = f"req-{n:07d}"
        record["ts_start"] = 1770000000.0 + n
        record["ts_end"] = 1770000001.0 + n
        record["prompt_text"] = f"Question number {n}: explain step {n % 97}."
        lines.append(json.dumps(record).encode() + b"\n")
    return lines


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
