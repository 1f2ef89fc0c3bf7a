"""Property: whatever bytes arrive, ingest never crashes and the counts always reconcile."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillguard.config import Config
from distillguard.ingest import ingest_paths
from distillguard.ingest.sniff import FORMATS
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES

GOOD_LINES = [
    line
    for name in (
        "litellm.jsonl",
        "otel_new.jsonl",
        "otel_legacy.jsonl",
        "openai.jsonl",
        "langfuse.jsonl",
        "canonical.jsonl",
    )
    for line in (FIXTURES / name).read_bytes().splitlines()
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _mutate(line: bytes, key: str, value: Any) -> bytes:
    """A real record with one top-level field replaced by an arbitrary JSON value."""
    obj = json.loads(line)
    keys = sorted(obj)
    target = keys[len(key) % len(keys)] if keys else key
    obj[target] = value
    return json.dumps(obj).encode()


line_strategy = st.one_of(
    st.sampled_from(GOOD_LINES),
    st.builds(_mutate, st.sampled_from(GOOD_LINES), st.text(max_size=5), json_values),
    st.builds(lambda line, cut: line[:cut], st.sampled_from(GOOD_LINES), st.integers(0, 400)),
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lines=st.lists(line_strategy, max_size=12),
    fmt=st.sampled_from([None, *FORMATS]),
    compress=st.sampled_from(["plain", "gzip", "gzip-truncated"]),
)
def test_ingest_never_crashes_and_counts_reconcile(
    config: Config, lines: list[bytes], fmt: str | None, compress: str
) -> None:
    data = b"".join(line + b"\n" for line in lines)
    if compress != "plain":
        data = gzip.compress(data)
        if compress == "gzip-truncated":
            data = data[: max(2, len(data) * 2 // 3)]
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "input.jsonl"
        path.write_bytes(data)
        cfg = config.with_overrides(db_path=str(Path(work) / "w.duckdb"), ingest_workers=1)
        with Warehouse.open(cfg.db_path) as warehouse:
            report = ingest_paths(warehouse, [path], config=cfg, source_format=fmt, progress=False)
            assert report.read == report.stored + report.duplicates + report.quarantined
            assert warehouse.count("events") == report.stored
            assert warehouse.count("quarantine") == report.quarantined
            assert report.read >= 1  # even an empty file leaves a trace
