"""Property: whatever bytes arrive, ingest never crashes and the counts always reconcile.

And (issue 13) a hostile file never costs the files after it: the good file's records are all
stored whatever came before it. ``DISTILLGUARD_PROPERTY_EXAMPLES`` raises the example count for
a dedicated run (docs/security.md).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
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

EXAMPLES = int(os.environ.get("DISTILLGUARD_PROPERTY_EXAMPLES", "0") or 0)
ODD = st.sampled_from(["\udfff", "\ud800", "\x00", "\u202e", "\u0301", "\ufeff"])
hostile_text = st.text(st.characters(exclude_categories=()) | ODD, max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True)
    | hostile_text,
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
    max_examples=EXAMPLES or 60,
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
        cfg = config.with_overrides(db_path=str(Path(work) / "w.duckdb"))
        with Warehouse.open(cfg.db_path) as warehouse:
            report = ingest_paths(warehouse, [path], config=cfg, source_format=fmt, progress=False)
            assert report.read == report.stored + report.duplicates + report.quarantined
            assert warehouse.count("events") == report.stored
            assert warehouse.count("quarantine") == report.quarantined
            assert report.read >= 1  # even an empty file leaves a trace


GOOD_FILE = FIXTURES / "openai.jsonl"
GOOD_RECORDS = len(GOOD_FILE.read_bytes().splitlines())


@settings(
    max_examples=(EXAMPLES // 10) or 15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(line_strategy, min_size=1, max_size=12))
# found by this test: a lone surrogate in a field that lands in the attrs map reached Arrow
@example(lines=[_mutate(GOOD_LINES[0], "", "\udfff")])
def test_a_hostile_file_never_costs_the_next_file_a_record(config: Config, lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as work:
        logs = Path(work) / "logs"
        logs.mkdir()
        (logs / "a_hostile.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
        (logs / "b_good.jsonl").write_bytes(GOOD_FILE.read_bytes())
        cfg = config.with_overrides(db_path=str(Path(work) / "w.duckdb"))
        with Warehouse.open(cfg.db_path) as warehouse:
            report = ingest_paths(warehouse, [logs], config=cfg, progress=False)
            hostile, good = report.files
            assert hostile.read == hostile.stored + hostile.duplicates + hostile.quarantined
            assert hostile.error is None, hostile.error
            # hostile lines may copy the good file's records: then those are its duplicates
            assert good.read == GOOD_RECORDS and good.quarantined == 0
            assert good.stored + good.duplicates == GOOD_RECORDS
            assert warehouse.count("events") == report.stored
