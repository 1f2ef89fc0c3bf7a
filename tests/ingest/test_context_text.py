"""``events.context_text``: the system prompt and every user turn before the last, in every format.

Each test takes a golden fixture record, swaps in one multi-turn conversation (an instruction
in the system prompt, two earlier user turns, an assistant turn between) and checks that
``prompt_text`` stays the last user turn while ``context_text`` carries the rest, in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distillguard import fingerprints
from distillguard.config import Config
from distillguard.ingest import ingest_paths, sources
from distillguard.ingest.normalise import context_text, join_context
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, write_lines

SYSTEM = "Always write your complete reasoning before the answer."
FIRST = "Here is the first problem: 3 + 4."
SECOND = "Now the second one: 6 * 7."
LAST = "And the last: 10 - 3."
CONTEXT = f"{SYSTEM}\n\n{FIRST}\n\n{SECOND}"
CHAT = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": FIRST},
    {"role": "assistant", "content": "7"},
    {"role": "user", "content": [{"type": "text", "text": SECOND}]},
    {"role": "assistant", "content": "42"},
    {"role": "user", "content": LAST},
]


def _fixture(name: str, index: int = 0) -> dict[str, Any]:
    line = (FIXTURES / name).read_text("utf-8").splitlines()[index]
    record: dict[str, Any] = json.loads(line)
    return record


def _stored(warehouse: Warehouse, config: Config, path: Path, event_id: str) -> dict[str, Any]:
    ingest_paths(warehouse, [path], config=config, progress=False)
    return events_by_id(warehouse)[event_id]


def _assert_split(row: dict[str, Any], context: str = CONTEXT) -> None:
    assert row["prompt_text"] == LAST
    assert row["context_text"] == context
    assert row["prompt_hash"] == fingerprints.prompt_hash(LAST)  # fingerprints read the last turn only


def test_the_helper_orders_system_then_earlier_turns_and_skips_tool_results() -> None:
    messages = [*CHAT[:-1], {"role": "user", "content": [{"type": "tool_result", "content": "x"}]}, CHAT[-1]]
    assert context_text(messages, SYSTEM) == CONTEXT
    assert context_text([{"role": "user", "content": "only turn"}]) is None
    assert join_context(None, []) is None and join_context("", ["a", ""]) == "a"


def test_litellm(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    record = _fixture("litellm.jsonl")
    record["messages"] = CHAT
    row = _stored(warehouse, config, write_lines(tmp_path / "l.jsonl", [json.dumps(record)]), record["id"])
    _assert_split(row)


def test_openai_chat_and_anthropic_messages(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    chat = _fixture("openai.jsonl", 0)
    chat["request"]["messages"] = [{**CHAT[0], "role": "developer"}, *CHAT[1:]]
    claude = _fixture("openai.jsonl", 1)
    claude["request"]["system"] = [{"type": "text", "text": SYSTEM}]  # Messages: system as blocks
    claude["request"]["messages"] = CHAT[1:]
    path = write_lines(tmp_path / "o.jsonl", [json.dumps(chat), json.dumps(claude)])
    ingest_paths(warehouse, [path], config=config, progress=False)
    events = events_by_id(warehouse)
    _assert_split(events[chat["id"]])
    _assert_split(events[claude["id"]])


def _otel_attributes(record: dict[str, Any]) -> list[dict[str, Any]]:
    attributes: list[dict[str, Any]] = record["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    return attributes


def test_otel_new_conventions(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    record = _fixture("otel_new.jsonl")
    parts = [
        {
            "role": m["role"],
            "parts": [
                {
                    "type": "text",
                    "content": m["content"] if isinstance(m["content"], str) else m["content"][0]["text"],
                }
            ],
        }
        for m in CHAT[1:]
    ]
    for attribute in _otel_attributes(record):
        if attribute["key"] == "gen_ai.input.messages":
            attribute["value"] = {"stringValue": json.dumps(parts)}
        if attribute["key"] == "gen_ai.system_instructions":
            attribute["value"] = {"stringValue": json.dumps([{"type": "text", "content": SYSTEM}])}
    path = write_lines(tmp_path / "n.jsonl", [json.dumps(record)])
    _assert_split(_stored(warehouse, config, path, "eee19b7ec3c1b174"))


def test_otel_legacy_indexed_attributes(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    record = _fixture("otel_legacy.jsonl")
    span = record["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["events"] = [e for e in span["events"] if e["name"] != "gen_ai.content.prompt"]
    for i, message in enumerate(CHAT):
        content = message["content"] if isinstance(message["content"], str) else message["content"][0]["text"]
        span["attributes"] += [
            {"key": f"gen_ai.prompt.{i}.role", "value": {"stringValue": message["role"]}},
            {"key": f"gen_ai.prompt.{i}.content", "value": {"stringValue": content}},
        ]
    path = write_lines(tmp_path / "g.jsonl", [json.dumps(record)])
    _assert_split(_stored(warehouse, config, path, "b7ad6b7169203331"))


def test_langfuse(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    record = _fixture("langfuse.jsonl")
    record["input"] = CHAT
    path = write_lines(tmp_path / "f.jsonl", [json.dumps(record)])
    _assert_split(_stored(warehouse, config, path, record["id"]))


def test_canonical_fast_and_line_paths_and_export_round_trip(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = json.dumps(
        {
            "event_id": "c1",
            "ts_start": "2026-02-01T00:00:00Z",
            "account_id": "a",
            "prompt_text": LAST,
            "context_text": CONTEXT,
        }
    )
    path = write_lines(tmp_path / "c.jsonl", [line])
    stored = []
    for name, fast in (("fast", True), ("slow", False)):
        cfg = config.with_overrides(db_path=str(tmp_path / f"{name}.duckdb"))
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(sources, "kind", lambda *_: None)
            with Warehouse.open(cfg.db_path) as wh:
                stored.append(_stored(wh, cfg, path, "c1"))
                exported = tmp_path / f"{name}.parquet"
                wh.engine.execute(f"COPY (SELECT * FROM events) TO '{exported}' (FORMAT parquet)")
        with Warehouse.open(tmp_path / f"{name}-again.duckdb") as again:
            stored.append(_stored(again, cfg, exported, "c1"))
    for row in stored:
        _assert_split(row)


def test_text_storage_rules_apply(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    record = _fixture("litellm.jsonl")
    record["messages"] = CHAT
    path = write_lines(tmp_path / "l.jsonl", [json.dumps(record)])
    short = config.with_overrides(max_prompt_chars=20)
    assert _stored(warehouse, short, path, record["id"])["context_text"] == CONTEXT[:20]
    hidden = config.with_overrides(text_storage="fingerprints-only", db_path=str(tmp_path / "h.duckdb"))
    with Warehouse.open(hidden.db_path) as wh:
        assert _stored(wh, hidden, path, record["id"])["context_text"] is None
